package exporter

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

func TestRetryAfterHonoured(t *testing.T) {
	for name, header := range map[string]func() string{
		"seconds": func() string { return "1" },
		// Whole seconds: 2s ahead is more than 1s away.
		"HTTP date": func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if n == 1 {
					w.Header().Set("Retry-After", header())
					w.WriteHeader(http.StatusTooManyRequests)
				}
			})
			h := newHarness(t, t.TempDir(), config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
			h.notify(t, notifyReport(1, notifyRec("a", 80)))
			h.run(t)
			waitFor(t, "the retry", func() bool { return len(h.outcomes.list()) == 2 })
			reqs := rc.requests()
			if gap := reqs[1].at.Sub(reqs[0].at); gap < 900*time.Millisecond {
				t.Errorf("retried %v after a 429 with a Retry-After of 1s or more; the backoff alone is milliseconds", gap)
			}
			if got := h.outcomes.list(); !slices.Equal(got, []string{"webhook[0] retried", "webhook[0] delivered"}) {
				t.Errorf("outcomes = %v", got)
			}
		})
	}
}

func TestRetryAfterParsing(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"":                               0,
		"120":                            2 * time.Minute,
		" 7 ":                            7 * time.Second,
		"-5":                             0,
		"soon":                           0,
		"99999999999":                    maxRetryAfter,
		"Sat, 01 Mar 2025 12:00:30 GMT":  30 * time.Second,
		"Sat, 01 Mar 2025 11:00:00 GMT":  0,
		"Sunday, 02-Mar-25 12:00:00 GMT": maxRetryAfter, // RFC 850 form, a day away: capped
	} {
		if got := retryAfter(in, now); got != want {
			t.Errorf("retryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestStatusOutcomes(t *testing.T) {
	for status, want := range map[int]string{
		http.StatusBadRequest:          OutcomeRejected,
		http.StatusUnauthorized:        OutcomeRejected,
		http.StatusNotFound:            OutcomeRejected,
		http.StatusMovedPermanently:    OutcomeRejected, // redirects are not followed
		http.StatusRequestTimeout:      OutcomeRetried,
		http.StatusTooManyRequests:     OutcomeRetried,
		http.StatusInternalServerError: OutcomeRetried,
		http.StatusBadGateway:          OutcomeRetried,
		http.StatusNoContent:           OutcomeDelivered,
	} {
		t.Run(fmt.Sprint(status), func(t *testing.T) {
			rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
				if status/100 == 3 {
					w.Header().Set("Location", "http://elsewhere.example/")
				}
				w.WriteHeader(status)
			})
			h := newHarness(t, t.TempDir(), config.Notify{MaxAttempts: 2, Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
			h.notify(t, notifyReport(1, notifyRec("a", 80)))
			h.run(t)
			waitFor(t, "the message to leave the outbox", func() bool {
				got := h.outcomes.list()
				return len(got) > 0 && !strings.HasSuffix(got[len(got)-1], OutcomeRetried)
			})
			got := h.outcomes.list()
			if got[0] != "webhook[0] "+want {
				t.Errorf("first outcome = %v, want %s", got, want)
			}
			if want == OutcomeRejected && len(rc.requests()) != 1 {
				t.Errorf("a rejected message was sent %d times", len(rc.requests()))
			}
		})
	}
}

func TestDroppedAfterMaxAttempts(t *testing.T) {
	rc := newReceiver(t, statuses(500, 500, 500, 500, 500))
	h := newHarness(t, t.TempDir(), config.Notify{MaxAttempts: 3, Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	h.run(t)
	waitFor(t, "the message to be dropped", func() bool { return len(h.outcomes.list()) == 3 })
	if want := []string{"webhook[0] retried", "webhook[0] retried", "webhook[0] dropped"}; !slices.Equal(h.outcomes.list(), want) {
		t.Errorf("outcomes = %v, want %v", h.outcomes.list(), want)
	}
	if n := len(rc.requests()); n != 3 {
		t.Errorf("receiver got %d attempts, want 3", n)
	}
	if !strings.Contains(h.logs.String(), `"msg":"notification dropped after the last attempt"`) {
		t.Errorf("no log line says the message was dropped:\n%s", h.logs)
	}
	// Dropped is dropped: a later cycle does not announce it again.
	if ch := h.notify(t, notifyReport(2, notifyRec("a", 80))); ch.Announceable() {
		t.Errorf("a dropped announcement was queued again: %+v", ch)
	}
}

func TestBackoffFullJitter(t *testing.T) {
	base, max := 100*time.Millisecond, 5*time.Second
	for attempt, ceiling := range map[int]time.Duration{
		1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		6: 3200 * time.Millisecond, 7: max, 200: max,
	} {
		var lo, hi time.Duration = ceiling, 0
		for range 2000 {
			d := backoff(base, max, attempt)
			lo, hi = min(lo, d), maxDuration(hi, d)
		}
		// Full jitter spreads over [0, ceiling]: near both ends, never past the top.
		if hi > ceiling || hi < ceiling*9/10 || lo > ceiling/10 {
			t.Errorf("attempt %d: backoff in [%v, %v], want spread over [0, %v]", attempt, lo, hi, ceiling)
		}
	}
}

func maxDuration(a, b time.Duration) time.Duration { return max(a, b) }

// Secrets in URLs and webhook secrets appear nowhere in the logs, whatever
// goes wrong: refused connections, error pages quoting the request, rejections.
func TestSecretsNeverLogged(t *testing.T) {
	const secret = "whsec-Zq81LL"
	echo := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
		fmt.Fprintf(w, "upstream failed for POST %s signed %s", r.URL.RequestURI(), r.Header.Get(HeaderSignature))
	})
	reject := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusForbidden)
		fmt.Fprintf(w, "invalid_token for %s", "http://"+r.Host+r.URL.RequestURI())
	})
	// A port nothing listens on: the transport error quotes the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + secretPath + "?token=qT0k3nQ"
	_ = l.Close()

	cfg := config.Notify{
		MaxAttempts: 2,
		Slack:       config.Slack{WebhookURL: echo.hookURL()},
		Webhooks: []config.Webhook{
			{URL: echo.hookURL() + "?sig=abc123def", Secret: secret},
			{URL: reject.hookURL(), Secret: secret},
			{URL: closed, Secret: secret},
		},
	}
	h := newHarness(t, t.TempDir(), cfg, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	h.run(t)
	waitFor(t, "every message to leave the outbox", func() bool {
		return h.n.Pending("slack")+h.n.Pending("webhook[0]")+h.n.Pending("webhook[1]")+h.n.Pending("webhook[2]") == 0 &&
			len(h.outcomes.list()) == 7 // slack and webhook[0], webhook[2]: 2 attempts; webhook[1]: rejected at once
	})

	logs := h.logs.String()
	for _, leak := range []string{secret, "s3cr3tT0kenXYZ", "B0002", "qT0k3nQ", "abc123def"} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain %q:\n%s", leak, logs)
		}
	}
	// What the logs do say: the channel and the host.
	for _, want := range []string{`"channel":"slack"`, `"channel":"webhook[2]"`, `"host":"` + strings.TrimPrefix(echo.URL, "http://") + `"`, "connection refused", "invalid_token", `"status":403`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}

// The outbox survives a kill -9 in the middle of a delivery: the next process
// delivers the message, once.
func TestOutboxSurvivesKill(t *testing.T) {
	if os.Getenv(helperDirEnv) != "" {
		t.Skip("running as the helper process")
	}
	var (
		mu        sync.Mutex
		delivered = map[string]int{} // answered 200, by delivery id
		blocked   string             // delivery id of the attempt the helper was killed in
	)
	arrived := make(chan struct{})
	rc := newReceiver(t, func(n int, w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderDelivery)
		if n == 1 {
			mu.Lock()
			blocked = id
			mu.Unlock()
			close(arrived)
			<-r.Context().Done() // hold the request until the helper dies
			return
		}
		mu.Lock()
		delivered[id]++
		mu.Unlock()
	})
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), helperDirEnv+"="+dir, helperURLEnv+"="+rc.hookURL())
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case <-arrived:
	case err := <-exited:
		t.Fatalf("helper exited before delivering (%v):\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("helper did not deliver within a minute:\n%s", out.String())
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no deferred function, no Close
		t.Fatal(err)
	}
	<-exited

	h := newHarness(t, dir, helperConfig(rc.hookURL()), fastOptions)
	if got := h.n.Pending("webhook[0]"); got != 1 {
		t.Fatalf("after the kill, Pending = %d, want the interrupted message", got)
	}
	h.run(t)
	waitFor(t, "the resumed delivery", func() bool { return h.n.Pending("webhook[0]") == 0 })
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 1 || delivered[blocked] != 1 {
		t.Errorf("deliveries by id = %v; want exactly one, of %s, the id of the interrupted attempt", delivered, blocked)
	}
	if ch := h.notify(t, helperReport()); ch.Announceable() {
		t.Errorf("the helper's announcement was not durable: the next cycle announces %+v", ch)
	}
}

const (
	helperDirEnv = "PGADVISOR_TEST_OUTBOX_DIR"
	helperURLEnv = "PGADVISOR_TEST_OUTBOX_URL"
)

func helperConfig(url string) config.Notify {
	return config.Notify{Webhooks: []config.Webhook{{URL: url, Secret: "k"}}}
}

func helperReport() *advisor.Report { return notifyReport(1, notifyRec("a", 80)) }

// TestHelperProcess is the advisor process TestOutboxSurvivesKill kills: it
// queues a message and delivers it to a receiver that never answers.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv(helperDirEnv)
	if dir == "" {
		t.Skip("helper process of TestOutboxSurvivesKill")
	}
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNotifier(s, helperConfig(os.Getenv(helperURLEnv)), zap.NewNop(), NotifierOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Notify(helperReport()); err != nil {
		t.Fatal(err)
	}
	n.Run(context.Background(), context.Background()) // until killed
}

// TestChannelOrderKeptOnRetry: a message to be retried holds back the
// channel's later ones, so the receiver gets them in the order queued.
func TestChannelOrderKeptOnRetry(t *testing.T) {
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	h := newHarness(t, t.TempDir(), config.Notify{Webhooks: []config.Webhook{{URL: rc.hookURL()}}}, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("first", 80)))
	h.notify(t, notifyReport(2, notifyRec("first", 80), notifyRec("second", 70)))
	h.run(t)
	waitFor(t, "both messages delivered", func() bool { return len(h.outcomes.list()) == 3 })
	var order []string
	for _, r := range rc.requests() {
		if strings.Contains(string(r.body), `"second"`) {
			order = append(order, "second")
		} else {
			order = append(order, "first")
		}
	}
	if !slices.Equal(order, []string{"first", "first", "second"}) {
		t.Errorf("receiver got %v, want the first message (retried) before the second", order)
	}
}

// A stop lets the attempt in flight finish and records its outcome, so the
// next process does not send the message again, and starts no other.
func TestStopFinishesTheSendInFlight(t *testing.T) {
	arrived, answer := make(chan struct{}, 2), make(chan struct{})
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) {
		arrived <- struct{}{}
		<-answer // the receiver has posted it, and answers once the stop has begun
	})
	dir := t.TempDir()
	cfg := config.Notify{Slack: config.Slack{WebhookURL: rc.hookURL()}}
	h := newHarness(t, dir, cfg, fastOptions)
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	h.notify(t, notifyReport(2, notifyRec("a", 80), notifyRec("b", 60)))
	stop := h.run(t)
	<-arrived
	h.cancel()
	close(answer)
	stop()
	if got := h.outcomes.list(); !slices.Equal(got, []string{"slack delivered"}) {
		t.Errorf("outcomes after the stop = %v, want the attempt in flight delivered", got)
	}
	if got := len(rc.requests()); got != 1 {
		t.Errorf("%d requests after the stop; want only the one in flight", got)
	}
	if err := h.store.Close(); err != nil {
		t.Fatal(err)
	}

	h = newHarness(t, dir, cfg, fastOptions) // the next process
	h.run(t)
	waitFor(t, "the second message", func() bool { return h.n.Pending("slack") == 0 })
	if got := len(rc.requests()); got != 2 {
		t.Errorf("the receiver got %d requests for 2 messages", got)
	}
}

// A Notifier replaced on a reload (its ctx done, but not cut) lets its
// attempt in flight run past stopGrace to the receiver's answer: cut, the
// message would stay queued and the next Notifier would post it again,
// which Slack shows twice.
func TestReplacedNotifierFinishesItsSendPastTheGrace(t *testing.T) {
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, func(int, http.ResponseWriter, *http.Request) {
		arrived <- struct{}{}
		time.Sleep(stopGrace + time.Second)
	})
	h := newHarness(t, t.TempDir(), config.Notify{Slack: config.Slack{WebhookURL: rc.hookURL()}}, fastOptions)
	h.n.sendTimeout = time.Minute
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	ctx, replaced := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.n.Run(ctx, context.Background())
	}()
	<-arrived
	replaced()
	<-done
	if got := h.outcomes.list(); !slices.Equal(got, []string{"slack delivered"}) {
		t.Errorf("outcomes = %v, want the attempt in flight delivered", got)
	}
	if got := h.n.Pending("slack"); got != 0 {
		t.Errorf("%d messages pending, want none for the next Notifier to send again", got)
	}
}

// A receiver that hangs holds a stop up for stopGrace at most, not for the
// client's timeout: a shutdown must fit in the service manager's.
func TestStopGivesAHangingSendAGraceOnly(t *testing.T) {
	arrived := make(chan struct{}, 1)
	rc := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-time.After(time.Minute):
		}
	})
	h := newHarness(t, t.TempDir(), config.Notify{Slack: config.Slack{WebhookURL: rc.hookURL()}}, fastOptions)
	h.n.sendTimeout = time.Minute
	h.notify(t, notifyReport(1, notifyRec("a", 80)))
	stop := h.run(t)
	<-arrived
	start := time.Now()
	stop()
	if waited := time.Since(start); waited > stopGrace+10*time.Second {
		t.Errorf("the stop waited %s for a hanging receiver, want about %s", waited.Round(time.Second), stopGrace)
	}
	if got := h.outcomes.list(); !slices.Equal(got, []string{"slack retried"}) {
		t.Errorf("outcomes = %v, want the cut attempt counted for a retry", got)
	}
	if got := h.n.Pending("slack"); got != 1 {
		t.Errorf("%d messages pending after the stop, want the one the next process sends", got)
	}
}
