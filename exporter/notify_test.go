package exporter

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// Fixtures of the notification tests.

var notifyT0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func notifyRec(id string, pct float64) advisor.Recommendation {
	return advisor.Recommendation{
		ID: id, Database: "app", Table: "public.orders", Method: "btree",
		Columns:        []string{"tenant_id", "created_at DESC"},
		DDL:            "CREATE INDEX CONCURRENTLY ON public.orders (tenant_id, created_at DESC) WHERE amount > 0",
		ImprovementPct: pct, CostBefore: 1000, CostAfter: 1000 * (1 - pct/100),
		QueryIDs: []string{"-4217983247", "81723"}, Reason: "equality on tenant_id, order by created_at desc",
		Validated: true, VerifySQL: "SELECT indisvalid FROM pg_index WHERE indexrelid = 'x'::regclass",
		Statements: []advisor.StatementGain{{QueryID: "-4217983247", Calls: 10, CostBefore: 100, CostAfter: 5}},
	}
}

// notifyReport is the report of the cycle at notifyT0 + h hours, whose window is the hour before.
func notifyReport(h int, recs ...advisor.Recommendation) *advisor.Report {
	at := notifyT0.Add(time.Duration(h) * time.Hour)
	return &advisor.Report{
		SchemaVersion: advisor.SchemaVersion, Target: "prod", GeneratedAt: at,
		Window:          advisor.ReportWindow{From: at.Add(-time.Hour), To: at},
		Recommendations: recs,
	}
}

// receiver is a webhook endpoint recording what it is sent.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	reqs    []received
	respond func(n int, w http.ResponseWriter, r *http.Request) // n counts requests from 1
}

type received struct {
	header http.Header
	body   []byte
	at     time.Time
}

// secretPath is the part of a webhook URL that carries its token, as Slack's do.
const secretPath = "/services/T0001/B0002/s3cr3tT0kenXYZ"

func newReceiver(t *testing.T, respond func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{respond: respond}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, received{header: r.Header.Clone(), body: body, at: time.Now()})
		n := len(rc.reqs)
		rc.mu.Unlock()
		if r.URL.Path != secretPath {
			http.NotFound(w, r)
			return
		}
		if rc.respond != nil {
			rc.respond(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) hookURL() string { return rc.URL + secretPath }

func (rc *receiver) requests() []received {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return slices.Clone(rc.reqs)
}

// statuses answers the n-th request with codes[n-1], and 200 after the last.
func statuses(codes ...int) func(int, http.ResponseWriter, *http.Request) {
	return func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= len(codes) {
			w.WriteHeader(codes[n-1])
		}
	}
}

// logBuffer collects the JSON log lines, as the daemon would write them.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func newLogger(w io.Writer) *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(w), zap.DebugLevel))
}

// outcomes records OnResult calls.
type outcomes struct {
	mu  sync.Mutex
	got []string // "channel outcome"
}

func (o *outcomes) record(channel, outcome string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.got = append(o.got, channel+" "+outcome)
}

func (o *outcomes) list() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.got)
}

type harness struct {
	store    *state.Store
	n        *Notifier
	outcomes *outcomes
	logs     *logBuffer
	cancel   context.CancelFunc // of the last run: stops it without waiting
}

// fastOptions retry within milliseconds.
var fastOptions = NotifierOptions{Version: "1.2.3", BaseBackoff: time.Millisecond, MaxBackoff: 5 * time.Millisecond}

func newHarness(t *testing.T, dir string, cfg config.Notify, opts NotifierOptions) *harness {
	t.Helper()
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	h := &harness{store: s, outcomes: &outcomes{}, logs: &logBuffer{}}
	opts.OnResult = h.outcomes.record
	if h.n, err = NewNotifier(s, cfg, newLogger(h.logs), opts); err != nil {
		t.Fatal(err)
	}
	return h
}

// run starts the sender until stop is called or the test ends.
func (h *harness) run(t *testing.T) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.n.Run(ctx, ctx)
	}()
	stop = sync.OnceFunc(func() {
		cancel()
		<-done
	})
	t.Cleanup(stop)
	return stop
}

func (h *harness) notify(t *testing.T, r *advisor.Report) state.Changes {
	t.Helper()
	ch, err := h.n.Notify(r)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func decodePayload(t *testing.T, body []byte) WebhookPayload {
	t.Helper()
	var p WebhookPayload
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("webhook body is not a payload: %v\n%s", err, body)
	}
	return p
}

func TestWebhookSignedDeliveredAfterTwoFailures(t *testing.T) {
	rc := newReceiver(t, statuses(500, 500))
	const secret = "whsec-7f3a9"
	h := newHarness(t, t.TempDir(), config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL(), Secret: secret}}}, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 87.5), notifyRec("b", 40)))
	if got := h.n.Pending("webhook[0]"); got != 1 {
		t.Fatalf("Pending before Run = %d, want 1", got)
	}
	h.run(t)
	waitFor(t, "the third attempt to succeed", func() bool { return len(h.outcomes.list()) == 3 })

	if want := []string{"webhook[0] retried", "webhook[0] retried", "webhook[0] delivered"}; !slices.Equal(h.outcomes.list(), want) {
		t.Errorf("outcomes = %v, want %v", h.outcomes.list(), want)
	}
	if got := h.n.Pending("webhook[0]"); got != 0 {
		t.Errorf("Pending after delivery = %d", got)
	}
	reqs := rc.requests()
	if len(reqs) != 3 {
		t.Fatalf("receiver got %d requests, want 3", len(reqs))
	}
	id := reqs[0].header.Get(HeaderDelivery)
	if id == "" {
		t.Fatal("no delivery id header")
	}
	for i, r := range reqs {
		if r.header.Get(HeaderDelivery) != id || !bytes.Equal(r.body, reqs[0].body) {
			t.Errorf("attempt %d: delivery id %q and body differ from the first attempt", i+1, r.header.Get(HeaderDelivery))
		}
		if err := VerifyWebhook(secret, r.header, r.body, time.Minute, time.Now()); err != nil {
			t.Errorf("attempt %d: signature %q does not verify: %v", i+1, r.header.Get(HeaderSignature), err)
		}
		for k, want := range map[string]string{"Content-Type": "application/json", "User-Agent": "pgadvisor/1.2.3", HeaderEvent: EventNew} {
			if got := r.header.Get(k); got != want {
				t.Errorf("attempt %d: %s = %q, want %q", i+1, k, got, want)
			}
		}
	}
	assertReplaysRejected(t, secret, reqs[0].header, reqs[0].body)

	p := decodePayload(t, reqs[0].body)
	if p.SchemaVersion != 1 || p.Event != EventNew || p.Target != "prod" || p.SentAt.IsZero() || len(p.Recommendations) != 2 {
		t.Fatalf("payload = %+v", p)
	}
	if p.Recommendations[0].ID != "a" || p.Recommendations[0].DDL != notifyRec("a", 87.5).DDL || p.Recommendations[1].ImprovementPct != 40 {
		t.Errorf("recommendations = %+v", p.Recommendations)
	}
	// The recommendations carry exactly the fields of the JSON report.
	var raw struct{ Recommendations []map[string]any }
	if err := json.Unmarshal(reqs[0].body, &raw); err != nil {
		t.Fatal(err)
	}
	reportJSON, _ := json.Marshal(notifyRec("a", 87.5))
	var reportRec map[string]any
	_ = json.Unmarshal(reportJSON, &reportRec)
	if got, want := slices.Sorted(maps.Keys(raw.Recommendations[0])), slices.Sorted(maps.Keys(reportRec)); !slices.Equal(got, want) {
		t.Errorf("webhook recommendation fields = %v, JSON report has %v", got, want)
	}
}

func TestSameRecommendationNotAnnouncedTwice(t *testing.T) {
	rc := newReceiver(t, nil)
	dir := t.TempDir()
	cfg := config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}
	h := newHarness(t, dir, cfg, fastOptions)
	stop := h.run(t)

	if ch := h.notify(t, notifyReport(1, notifyRec("a", 80))); len(ch.New) != 1 {
		t.Fatalf("first cycle: %+v", ch)
	}
	waitFor(t, "the first message", func() bool { return len(h.outcomes.list()) == 1 })
	if ch := h.notify(t, notifyReport(2, notifyRec("a", 70))); ch.Announceable() {
		t.Fatalf("second cycle announces again: %+v", ch)
	}

	// A restart remembers what was announced.
	h2 := func() *harness {
		stop()
		if err := h.store.Close(); err != nil {
			t.Fatal(err)
		}
		return newHarness(t, dir, cfg, fastOptions)
	}()
	h2.run(t)
	if ch := h2.notify(t, notifyReport(3, notifyRec("a", 75))); ch.Announceable() {
		t.Fatalf("cycle after restart announces again: %+v", ch)
	}

	// A benefit that moved by more than half is announced as changed, once.
	h2.notify(t, notifyReport(4, notifyRec("a", 30)))
	h2.notify(t, notifyReport(5, notifyRec("a", 30)))
	waitFor(t, "the changed message", func() bool { return len(h2.outcomes.list()) == 1 })
	reqs := rc.requests()
	if len(reqs) != 2 {
		t.Fatalf("receiver got %d messages, want 2 (new, changed)", len(reqs))
	}
	p := decodePayload(t, reqs[1].body)
	if p.Event != EventChanged || reqs[1].header.Get(HeaderEvent) != EventChanged || len(p.Recommendations) != 1 {
		t.Fatalf("second message = %+v", p)
	}
	if r := p.Recommendations[0]; r.ImprovementPct != 30 || r.PreviousImprovementPct == nil || *r.PreviousImprovementPct != 80 {
		t.Errorf("changed recommendation = %v%%, previous %v", r.ImprovementPct, r.PreviousImprovementPct)
	}
	if reqs[0].header.Get(HeaderSignature) != "" {
		t.Error("a webhook without a secret got a signature header")
	}
}

func TestRealizedGainAnnounced(t *testing.T) {
	rc := newReceiver(t, nil)
	h := newHarness(t, t.TempDir(), config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
	stmt := func(meanMS float64) []advisor.Statement {
		return []advisor.Statement{{QueryID: "-4217983247", Database: "app", Calls: 100, MeanExecTimeMS: meanMS}}
	}
	r := notifyReport(1, notifyRec("a", 90))
	r.Statements = stmt(40)
	h.notify(t, r)
	applied := notifyT0.Add(90 * time.Minute)
	if err := h.store.MarkApplied("prod", "a", applied); err != nil {
		t.Fatal(err)
	}
	r = notifyReport(3)
	r.Statements = stmt(2)
	if ch := h.notify(t, r); len(ch.Realized) != 1 {
		t.Fatalf("cycle after the build: %+v", ch)
	}
	if ch := h.notify(t, r); ch.Announceable() {
		t.Fatalf("realized gain announced twice: %+v", ch)
	}
	h.run(t)
	waitFor(t, "two messages", func() bool { return len(h.outcomes.list()) == 2 })
	p := decodePayload(t, rc.requests()[1].body)
	if p.Event != EventRealized || len(p.Recommendations) != 1 || p.Recommendations[0].Realized == nil {
		t.Fatalf("realized message = %+v", p)
	}
	if g := *p.Recommendations[0].Realized; g.MeanBeforeMS != 40 || g.MeanAfterMS != 2 || g.ImprovementPct != 95 || !g.AppliedAt.Equal(applied) {
		t.Errorf("realized = %+v", g)
	}
}

// One cycle with new, changed and realized recommendations is one Slack
// message, and one webhook message per event.
func TestOneMessagePerCycle(t *testing.T) {
	slack, hook := newReceiver(t, nil), newReceiver(t, nil)
	h := newHarness(t, t.TempDir(), config.Notify{
		Slack:    config.Slack{WebhookURL: slack.hookURL()},
		Webhooks: []config.Webhook{{URL: hook.hookURL()}},
	}, fastOptions)
	r := notifyReport(1, notifyRec("a", 90), notifyRec("b", 20))
	r.Statements = []advisor.Statement{{QueryID: "-4217983247", Database: "app", Calls: 10, MeanExecTimeMS: 50}}
	h.notify(t, r)
	if err := h.store.MarkApplied("prod", "a", notifyT0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r = notifyReport(3, notifyRec("b", 60), notifyRec("c", 70))
	r.Statements = []advisor.Statement{{QueryID: "-4217983247", Database: "app", Calls: 10, MeanExecTimeMS: 5}}
	ch := h.notify(t, r)
	if len(ch.New) != 1 || len(ch.Changed) != 1 || len(ch.Realized) != 1 {
		t.Fatalf("second cycle: %+v", ch)
	}
	h.run(t)
	waitFor(t, "all messages", func() bool { return len(h.outcomes.list()) == 6 })
	if n := len(slack.requests()); n != 2 {
		t.Errorf("slack got %d messages for 2 cycles", n)
	}
	var events []string
	for _, r := range hook.requests() {
		events = append(events, r.header.Get(HeaderEvent))
	}
	if want := []string{EventNew, EventNew, EventChanged, EventRealized}; !slices.Equal(events, want) {
		t.Errorf("webhook events = %v, want %v", events, want)
	}
	var msg slackPayload
	if err := json.Unmarshal(slack.requests()[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	if want := "pgadvisor · prod: 1 new and 1 changed index recommendations; 1 index gain realized"; msg.Text != want {
		t.Errorf("slack text = %q, want %q", msg.Text, want)
	}
}

func TestNotifyWithoutChannelsKeepsAnnouncementsForLater(t *testing.T) {
	dir := t.TempDir()
	h := newHarness(t, dir, config.Notify{}, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	rc := newReceiver(t, nil)
	h = newHarness(t, dir, config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
	if ch := h.notify(t, notifyReport(2, notifyRec("a", 80))); len(ch.New) != 1 {
		t.Fatalf("a recommendation seen while no channel was configured is not announced once one is: %+v", ch)
	}
}

func TestNotifyBadInput(t *testing.T) {
	h := newHarness(t, t.TempDir(), config.Notify{}, fastOptions)
	if _, err := h.n.Notify(nil); err == nil || !strings.Contains(err.Error(), "nil") {
		t.Errorf("Notify(nil) = %v", err)
	}
	if _, err := h.n.Notify(&advisor.Report{}); err == nil || !strings.Contains(err.Error(), "no target") {
		t.Errorf("Notify without target = %v", err)
	}
	if _, err := NewNotifier(nil, config.Notify{}, zap.NewNop(), NotifierOptions{}); err == nil {
		t.Error("NewNotifier without a store succeeded")
	}
	if _, err := NewNotifier(h.store, config.Notify{}, zap.NewNop(), NotifierOptions{Wake: make(chan struct{})}); err == nil {
		t.Error("NewNotifier with an unbuffered Wake succeeded")
	}
}

// A reload replaces the Notifier while an analysis cycle still holds the
// previous one: what that one queues must wake the Run of its successor.
func TestNotifyWakesTheRunOfTheNotifierThatReplacedIt(t *testing.T) {
	rc := newReceiver(t, nil)
	wake := make(chan struct{}, 1)
	opts := fastOptions
	opts.Wake = wake
	cfg := config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}
	next := newHarness(t, t.TempDir(), cfg, opts)
	cfg.MaxAttempts = 3 // what the reload changed
	previous, err := NewNotifier(next.store, cfg, zap.NewNop(), opts)
	if err != nil {
		t.Fatal(err)
	}
	next.run(t)
	next.notify(t, notifyReport(1, notifyRec("a", 80)))
	waitFor(t, "the first message", func() bool { return len(next.outcomes.list()) == 1 })
	waitFor(t, "Run to wait for the next message", func() bool { return len(wake) == 0 })

	if _, err := previous.Notify(notifyReport(2, notifyRec("b", 60))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the message the previous Notifier queued", func() bool { return len(rc.requests()) == 2 })
}

func TestNewNotifierRefusesBadURLWithoutQuotingIt(t *testing.T) {
	s, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const bad = "ftp://user:hunter2@hooks.example/s3cr3tT0ken"
	_, err = NewNotifier(s, config.Notify{Webhooks: []config.Webhook{{URL: "https://ok.example/x"}, {URL: bad}}}, zap.NewNop(), NotifierOptions{})
	if err == nil || !strings.Contains(err.Error(), "notify.webhooks[1].url") {
		t.Fatalf("NewNotifier = %v; want an error naming notify.webhooks[1].url", err)
	}
	for _, secret := range []string{"hunter2", "s3cr3tT0ken", "hooks.example"} {
		if strings.Contains(err.Error(), secret) {
			t.Errorf("error %q quotes %q", err, secret)
		}
	}
}

func TestChannelRemovedFromConfig(t *testing.T) {
	dir := t.TempDir()
	rc := newReceiver(t, nil)
	h := newHarness(t, dir, config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}
	other := newReceiver(t, nil)
	h = newHarness(t, dir, config.Notify{Webhooks: []config.Webhook{{URL: other.hookURL()}}}, fastOptions)
	if got := h.n.Pending("webhook[0]"); got != 1 {
		t.Errorf("Pending = %d; the left-over message is still queued under its old name", got)
	}
	h.run(t)
	waitFor(t, "the message to be dropped", func() bool { return len(h.outcomes.list()) == 1 })
	if got := h.outcomes.list(); got[0] != "webhook[0] unconfigured" {
		t.Errorf("outcome = %v", got)
	}
	if len(rc.requests())+len(other.requests()) != 0 {
		t.Error("a message queued for one URL went to another")
	}
}

// assertReplaysRejected checks that what a receiver verifies refuses a
// delivered request altered the ways a replay would alter it.
func assertReplaysRejected(t *testing.T, secret string, header http.Header, body []byte) {
	t.Helper()
	other := header.Clone()
	other.Set(HeaderDelivery, "another-id")
	tampered := append(bytes.Clone(body[:len(body)-1]), ' ', '}')
	for _, c := range []struct {
		what   string
		secret string
		header http.Header
		body   []byte
		now    time.Time
	}{
		{"the wrong secret", "other", header, body, time.Now()},
		{"another delivery id", secret, other, body, time.Now()},
		{"a changed body", secret, header, tampered, time.Now()},
		{"ten minutes later", secret, header, body, time.Now().Add(10 * time.Minute)},
		{"no signature", secret, http.Header{}, body, time.Now()},
	} {
		if err := VerifyWebhook(c.secret, c.header, c.body, 5*time.Minute, c.now); err == nil {
			t.Errorf("VerifyWebhook accepts the request with %s", c.what)
		}
	}
}

// The signed text joins the delivery id and the body with a dot: moving
// the boundary into the id must not keep the signature valid.
func TestVerifyWebhookRejectsDottedID(t *testing.T) {
	now := time.Now()
	h := http.Header{}
	h.Set(HeaderSignature, Sign("secret", "A", []byte("B.C"), now))
	h.Set(HeaderDelivery, "A")
	if err := VerifyWebhook("secret", h, []byte("B.C"), time.Minute, now); err != nil {
		t.Fatalf("the request as signed: %v", err)
	}
	h.Set(HeaderDelivery, "A.B")
	if err := VerifyWebhook("secret", h, []byte("C"), time.Minute, now); err == nil || !strings.Contains(err.Error(), "dot") {
		t.Errorf("id A.B with body C under the signature of id A and body B.C: err = %v, want a refusal naming the dot", err)
	}
}

// A new recommendation that takes the place of an announced one (gone, not
// built, on its table, serving its statements) says so: in Slack in words,
// in the webhook as the earlier one's id, for receivers to close it.
func TestNewRecommendationNamesTheOneItReplaces(t *testing.T) {
	slack, hook := newReceiver(t, nil), newReceiver(t, nil)
	h := newHarness(t, t.TempDir(), config.Notify{
		Slack:    config.Slack{WebhookURL: slack.hookURL()},
		Webhooks: []config.Webhook{{URL: hook.hookURL()}},
	}, fastOptions)
	narrow := notifyRec("a", 60)
	narrow.Columns, narrow.DDL = []string{"tenant_id"}, "CREATE INDEX CONCURRENTLY ON public.orders (tenant_id)"
	h.notify(t, notifyReport(1, narrow))
	if ch := h.notify(t, notifyReport(3, notifyRec("b", 90))); len(ch.New) != 1 || len(ch.Gone) != 1 {
		t.Fatalf("second cycle: %+v; want b new and a gone", ch)
	}
	h.run(t)
	waitFor(t, "four messages", func() bool { return len(h.outcomes.list()) == 4 })

	p := decodePayload(t, hook.requests()[1].body)
	if len(p.Recommendations) != 1 || p.Recommendations[0].ID != "b" {
		t.Fatalf("second webhook message = %+v", p)
	}
	want := []SupersededRecommendation{{ID: "a", DDL: narrow.DDL, FirstSeen: notifyT0.Add(time.Hour)}}
	if got := p.Recommendations[0].Supersedes; !slices.Equal(got, want) {
		t.Errorf("supersedes = %+v, want %+v", got, want)
	}
	if first := decodePayload(t, hook.requests()[0].body); first.Recommendations[0].Supersedes != nil {
		t.Errorf("the first recommendation supersedes %+v", first.Recommendations[0].Supersedes)
	}
	var msg slackPayload
	if err := json.Unmarshal(slack.requests()[1].body, &msg); err != nil {
		t.Fatal(err)
	}
	const line = "In place of `public.orders (tenant_id)`, recommended since 2025-03-01 and not built: build this one instead."
	if !strings.Contains(msg.Blocks[1].Text.Text, line) {
		t.Errorf("slack evidence %q lacks %q", msg.Blocks[1].Text.Text, line)
	}
}
