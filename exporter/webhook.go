package exporter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// WebhookSchemaVersion of the webhook payload; bump it when a field changes
// meaning or goes away.
const WebhookSchemaVersion = 1

// Webhook request headers.
const (
	HeaderSignature = "X-PgAdvisor-Signature" // t=<unix seconds>,v1=<hex HMAC-SHA256>, when the webhook has a secret (Sign)
	HeaderDelivery  = "X-PgAdvisor-Delivery"  // unique per message, the same on every retry
	HeaderEvent     = "X-PgAdvisor-Event"
)

// WebhookPayload is the JSON body of a webhook message.
type WebhookPayload struct {
	SchemaVersion   int                     `json:"schema_version"`
	Event           string                  `json:"event"`
	Target          string                  `json:"target"`
	SentAt          time.Time               `json:"sent_at"` // when the message was queued; retries resend it as is
	ReportURL       string                  `json:"report_url,omitempty"`
	Recommendations []WebhookRecommendation `json:"recommendations"`
}

// WebhookRecommendation is a recommendation as the JSON report has it, with
// what the event adds.
type WebhookRecommendation struct {
	advisor.Recommendation
	// PreviousImprovementPct is the estimate announced before (changed events).
	PreviousImprovementPct *float64 `json:"previous_improvement_pct,omitempty"`
	// Realized is the measured gain of the built index (realized events).
	Realized *RealizedGain `json:"realized,omitempty"`
	// Supersedes are the earlier announced recommendations, not built, that
	// this one takes the place of (new events): close them.
	Supersedes []SupersededRecommendation `json:"supersedes,omitempty"`
}

// SupersededRecommendation names an announced recommendation that a new
// one replaces.
type SupersededRecommendation struct {
	ID        string    `json:"id"`
	DDL       string    `json:"ddl"`
	FirstSeen time.Time `json:"first_seen"` // when it was first recommended
}

// RealizedGain compares the mean execution time of the statements an index
// serves before it was built and after.
type RealizedGain struct {
	AppliedAt      time.Time `json:"applied_at"`
	MeanBeforeMS   float64   `json:"mean_exec_time_ms_before"`
	MeanAfterMS    float64   `json:"mean_exec_time_ms_after"`
	ImprovementPct float64   `json:"improvement_pct"`
}

// webhookPayload encodes the message of one event; nil when the changes
// hold no recommendation for it.
func webhookPayload(target, event string, ch state.Changes, reportURL string, now time.Time) ([]byte, error) {
	var recs []WebhookRecommendation
	switch event {
	case EventNew:
		for _, r := range ch.New {
			var olds []SupersededRecommendation
			for _, o := range ch.Supersedes[r.Recommendation.ID] {
				olds = append(olds, SupersededRecommendation{ID: o.Recommendation.ID, DDL: o.Recommendation.DDL, FirstSeen: o.FirstSeen.UTC()})
			}
			recs = append(recs, WebhookRecommendation{Recommendation: r.Recommendation, Supersedes: olds})
		}
	case EventChanged:
		for _, r := range ch.Changed {
			prev := r.AnnouncedBenefit
			recs = append(recs, WebhookRecommendation{Recommendation: r.Recommendation, PreviousImprovementPct: &prev})
		}
	case EventRealized:
		for _, r := range ch.Realized {
			recs = append(recs, WebhookRecommendation{Recommendation: r.Recommendation, Realized: &RealizedGain{
				AppliedAt: r.AppliedAt, MeanBeforeMS: r.MeanBeforeMS, MeanAfterMS: r.MeanAfterMS, ImprovementPct: r.RealizedPct(),
			}})
		}
	default:
		return nil, fmt.Errorf("webhook payload: unknown event %q", event)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	body, err := json.Marshal(WebhookPayload{
		SchemaVersion: WebhookSchemaVersion, Event: event, Target: target,
		SentAt: now.UTC(), ReportURL: reportURL, Recommendations: recs,
	})
	if err != nil {
		return nil, fmt.Errorf("encode %s webhook payload: %w", event, err)
	}
	return body, nil
}

// Sign returns the X-PgAdvisor-Signature value of one attempt to deliver
// body as delivery at time at: "t=<unix seconds>,v1=<hex>", the hex being
// the HMAC-SHA256 under secret of "<t>.<delivery>.<body>". Signing the
// time and the delivery id with the body lets a receiver reject a captured
// request replayed later, or replayed under another id to get past its
// deduplication (VerifyWebhook).
func Sign(secret, delivery string, body []byte, at time.Time) string {
	t := strconv.FormatInt(at.Unix(), 10)
	return "t=" + t + ",v1=" + signature(secret, t, delivery, body)
}

func signature(secret, t, delivery string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(t + "." + delivery + "."))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// VerifyWebhook checks a received webhook request as a receiver should:
// the signature must match the raw body and the delivery id under secret
// (compared in constant time), and must have been made within tolerance of
// now (each retry is signed anew, so a tolerance of minutes suffices).
// Deduplicate on the delivery id as well: within the tolerance a captured
// request can still be sent twice.
func VerifyWebhook(secret string, header http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	v := header.Get(HeaderSignature)
	if v == "" {
		return fmt.Errorf("no %s header", HeaderSignature)
	}
	var t, sig string
	for _, part := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "t":
			t = val
		case "v1":
			sig = val
		}
	}
	unix, err := strconv.ParseInt(t, 10, 64)
	if err != nil || sig == "" {
		return fmt.Errorf("%s %q: want t=<unix seconds>,v1=<hex>", HeaderSignature, v)
	}
	if age := now.Sub(time.Unix(unix, 0)); age > tolerance || age < -tolerance {
		return fmt.Errorf("%s was made %s from now, beyond the tolerance of %s: a replayed request, or a clock off", HeaderSignature, age.Round(time.Second), tolerance)
	}
	// The signed text joins the id and the body with a dot, so an id with a
	// dot (never one Sign was given) could move the boundary: the signature
	// of id "A" and body "B.C" is that of id "A.B" and body "C".
	delivery := header.Get(HeaderDelivery)
	if strings.Contains(delivery, ".") {
		return fmt.Errorf("%s %q has a dot: not a delivery id the sender makes", HeaderDelivery, delivery)
	}
	want := signature(secret, t, delivery, body)
	if !hmac.Equal([]byte(sig), []byte(want)) {
		return errors.New("the signature does not match the body, the delivery id and the secret")
	}
	return nil
}
