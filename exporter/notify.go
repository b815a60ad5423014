package exporter

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// Webhook events: what the recommendations of one message are.
const (
	EventNew      = "recommendations.new"
	EventChanged  = "recommendations.changed"
	EventRealized = "recommendations.realized"
)

// Outcomes of a delivery attempt, as OnResult reports them.
const (
	OutcomeDelivered    = "delivered"    // the receiver answered 2xx
	OutcomeRetried      = "retried"      // failed, will be tried again
	OutcomeDropped      = "dropped"      // failed MaxAttempts times, given up
	OutcomeRejected     = "rejected"     // the receiver refused it for good (4xx other than 408, 429)
	OutcomeUnconfigured = "unconfigured" // its channel left the configuration
)

// Defaults of NotifierOptions. With full jitter the mean wait is half the
// backoff's ceiling, so 100 attempts span about 4 hours (at most about 8):
// a receiver's outage of an afternoon loses nothing. (At 10 they spanned
// about 4 minutes, and a dropped message is not queued again.)
const (
	DefaultMaxAttempts = 100
	DefaultBaseBackoff = time.Second
	DefaultMaxBackoff  = 5 * time.Minute
	defaultHTTPTimeout = 30 * time.Second
)

// NotifierOptions tune a Notifier; the zero value is the production setting.
type NotifierOptions struct {
	// ExternalURL is the advisor's base URL; when set, messages link to the report.
	ExternalURL string
	// Version goes into the User-Agent header, pgadvisor/<version>.
	Version string
	// BaseBackoff and MaxBackoff bound the wait between attempts (1s, 5m).
	BaseBackoff, MaxBackoff time.Duration
	// Client sends the requests; nil means one with a 30s timeout that does
	// not follow redirects. Its Timeout (30s when it has none) bounds each
	// attempt; once Run's cut is done, an attempt in flight gets stopGrace more.
	Client *http.Client
	// OnResult, when set, is called after every attempt with the channel name
	// and one of the Outcome constants; the metrics count them. Channels are
	// served in parallel, so it must be safe for concurrent use.
	OnResult func(channel, outcome string)
	// Wake, when set, is the buffered channel Notify signals and Run waits
	// on; nil means one of the Notifier's own. Notifiers that replace one
	// another on a configuration reload share one, so a message the previous
	// Notifier queues after its Run stopped wakes the Run of the next.
	Wake chan struct{}
}

// Notifier announces new, materially changed and realized recommendations
// on Slack and signed webhooks, through an outbox in the state store:
// Notify queues one message per target, cycle and channel (per event for
// webhooks) and marks the recommendations announced in the same transaction;
// Run (one per Notifier) delivers the queue with retries, including what a
// previous process left.
type Notifier struct {
	store       *state.Store
	log         *zap.Logger
	channels    []destination
	maxAttempts int
	externalURL *url.URL // nil without one: messages then carry no report link
	userAgent   string
	base, max   time.Duration
	client      *http.Client
	sendTimeout time.Duration // bounds an attempt
	onResult    func(channel, outcome string)

	mu   sync.Mutex    // one Notify at a time: the store's announce state is read, then written
	wake chan struct{} // Notify tells Run that the outbox grew
}

// destination is one channel. Its URL and secret never leave memory: the
// outbox names it by name and ref, and logs by name and host.
type destination struct {
	name   string // "slack", "webhook[0]"
	slack  bool
	url    string
	secret string
	host   string
	ref    string // fingerprint of kind and URL, to find it again after a restart
}

// NewNotifier returns a Notifier for the channels of cfg. It does not send
// anything until Run.
func NewNotifier(store *state.Store, cfg config.Notify, log *zap.Logger, opts NotifierOptions) (*Notifier, error) {
	if store == nil {
		return nil, errors.New("new notifier: the state store is nil")
	}
	n := &Notifier{
		store: store, log: log,
		maxAttempts: cfg.MaxAttempts,
		userAgent:   "pgadvisor/" + opts.Version,
		base:        opts.BaseBackoff, max: opts.MaxBackoff,
		client:   opts.Client,
		onResult: opts.OnResult,
		wake:     opts.Wake,
	}
	if n.log == nil {
		n.log = zap.NewNop()
	}
	if n.wake == nil {
		n.wake = make(chan struct{}, 1)
	}
	if cap(n.wake) == 0 { // Notify never blocks: an unbuffered wake would be lost
		return nil, errors.New("new notifier: NotifierOptions.Wake must be buffered")
	}
	if n.maxAttempts <= 0 {
		n.maxAttempts = DefaultMaxAttempts
	}
	if opts.Version == "" {
		n.userAgent = "pgadvisor/dev"
	}
	if n.base <= 0 {
		n.base = DefaultBaseBackoff
	}
	if n.max <= 0 {
		n.max = DefaultMaxBackoff
	}
	if n.max < n.base {
		n.max = n.base
	}
	if n.client == nil {
		n.client = &http.Client{
			Timeout: defaultHTTPTimeout,
			// A redirect would resend the body elsewhere (or drop it, on 301/302): refuse.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	n.sendTimeout = n.client.Timeout
	if n.sendTimeout <= 0 {
		n.sendTimeout = defaultHTTPTimeout
	}
	if opts.ExternalURL != "" {
		u, err := url.Parse(opts.ExternalURL)
		if err != nil {
			return nil, fmt.Errorf("new notifier: external_url: %w", err)
		}
		n.externalURL = u
	}
	if cfg.Slack.WebhookURL != "" {
		ch, err := newDestination("slack", true, cfg.Slack.WebhookURL, "")
		if err != nil {
			return nil, fmt.Errorf("new notifier: notify.slack.webhook_url: %w", err)
		}
		n.channels = append(n.channels, ch)
	}
	for i, w := range cfg.Webhooks {
		ch, err := newDestination("webhook["+strconv.Itoa(i)+"]", false, w.URL, w.Secret)
		if err != nil {
			return nil, fmt.Errorf("new notifier: notify.webhooks[%d].url: %w", i, err)
		}
		n.channels = append(n.channels, ch)
	}
	return n, nil
}

func newDestination(name string, slack bool, rawURL, secret string) (destination, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		// Never echo the URL or url.Parse's error, which quotes it.
		return destination{}, errors.New("not an http(s) URL")
	}
	kind := "webhook"
	if slack {
		kind = "slack"
	}
	sum := sha256.Sum256([]byte(kind + "\x00" + rawURL))
	return destination{name: name, slack: slack, url: rawURL, secret: secret, host: u.Host, ref: hex.EncodeToString(sum[:8])}, nil
}

// Channels names the configured channels, as OnResult and Pending name them.
func (n *Notifier) Channels() []string {
	names := make([]string, len(n.channels))
	for i, c := range n.channels {
		names[i] = c.name
	}
	return names
}

// Notify records the recommendations of one analysis cycle and queues the
// messages announcing what is new, materially changed or realized. It
// returns the changes, including those that are gone. Nothing is sent here:
// Run delivers the queue.
func (n *Notifier) Notify(r *advisor.Report) (state.Changes, error) {
	if r == nil {
		return state.Changes{}, errors.New("notify: the report is nil")
	}
	if r.Target == "" {
		return state.Changes{}, errors.New("notify: the report names no target")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	ch, err := n.store.UpsertRecommendations(r)
	if err != nil {
		return state.Changes{}, fmt.Errorf("notify: %w", err)
	}
	if len(ch.SetAside) > 0 {
		n.log.Warn("recommendation records that could not be read were set aside in the state file's recommendations_unreadable bucket",
			zap.String("target", r.Target), zap.Strings("ids", ch.SetAside))
	}
	if !ch.Announceable() || len(n.channels) == 0 {
		return ch, nil // with no channel, announcements wait for one to be configured
	}
	deliveries, err := n.deliveries(r.Target, ch, time.Now())
	if err != nil {
		return ch, fmt.Errorf("notify target %s: %w", r.Target, err)
	}
	if err := n.store.Announce(r.Target, ch, deliveries); err != nil {
		return ch, fmt.Errorf("notify: %w", err)
	}
	n.log.Info("notifications queued", zap.String("target", r.Target),
		zap.Int("new", len(ch.New)), zap.Int("changed", len(ch.Changed)), zap.Int("realized", len(ch.Realized)),
		zap.Int("messages", len(deliveries)))
	select {
	case n.wake <- struct{}{}:
	default: // Run is already due to look
	}
	return ch, nil
}

// reportURL links to target's HTML report under the external URL, "" when
// there is none. It names the target: with several, the server needs it.
func (n *Notifier) reportURL(target string) string {
	if n.externalURL == nil {
		return ""
	}
	u := n.externalURL.JoinPath("api/v1/report")
	u.RawQuery = url.Values{"format": {"html"}, "target": {target}}.Encode()
	return u.String()
}

// deliveries builds the messages announcing ch: one Slack message, and one
// webhook message per event that has recommendations.
func (n *Notifier) deliveries(target string, ch state.Changes, now time.Time) ([]state.Delivery, error) {
	var slackBody []byte
	webhookBodies := map[string][]byte{}
	var out []state.Delivery
	for _, c := range n.channels {
		if c.slack {
			if slackBody == nil {
				var err error
				if slackBody, err = slackMessage(target, ch, n.reportURL(target)); err != nil {
					return nil, err
				}
			}
			out = append(out, newDelivery(c, target, "", slackBody, now))
			continue
		}
		for _, ev := range []string{EventNew, EventChanged, EventRealized} {
			body, ok := webhookBodies[ev]
			if !ok {
				var err error
				if body, err = webhookPayload(target, ev, ch, n.reportURL(target), now); err != nil {
					return nil, err
				}
				webhookBodies[ev] = body
			}
			if body == nil {
				continue // no recommendation for this event
			}
			out = append(out, newDelivery(c, target, ev, body, now))
		}
	}
	return out, nil
}

func newDelivery(c destination, target, event string, body []byte, now time.Time) state.Delivery {
	return state.Delivery{
		ID: rand.Text(), Channel: c.name, Ref: c.ref,
		Target: target, Event: event, Body: body, NextAttempt: now, Created: now,
	}
}
