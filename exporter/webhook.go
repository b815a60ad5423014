package exporter

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// WebhookSchemaVersion of the webhook payload; bump it when a field changes
// meaning or goes away.
const WebhookSchemaVersion = 1

// Webhook request headers.
const (
	HeaderSignature = "X-PgAdvisor-Signature" // sha256=<hex HMAC-SHA256 of the body>, when the webhook has a secret
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
			recs = append(recs, WebhookRecommendation{Recommendation: r.Recommendation})
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

// Sign returns the X-PgAdvisor-Signature value of body under secret.
// Receivers recompute it over the raw body and compare with hmac.Equal.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
