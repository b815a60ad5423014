package exporter

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/state"
)

// maxRetryAfter bounds a receiver's Retry-After, so a bogus value cannot
// park a message for days.
const maxRetryAfter = time.Hour

// stopGrace is how long an attempt in flight may go on once Run's cut is
// done: long enough for a receiver's answer, short of a stop timeout.
const stopGrace = 5 * time.Second

// storeRetry is how long Run waits after the store failed to answer.
const storeRetry = 10 * time.Second

// Run delivers the outbox until ctx is done: each due message is sent, and
// on failure retried with exponential backoff and full jitter (or after the
// receiver's Retry-After) until MaxAttempts; what a previous process left
// in the outbox is sent too. Channels are served in parallel, each in queue
// order. Once ctx is done no attempt starts, and Run returns when the
// attempts in flight have finished and their outcomes are recorded. They
// run to the receiver's answer (within the client's timeout), so that a
// message it took is not sent again by the Notifier that replaces this one
// on a reload (Slack cannot drop duplicates); once cut is done too, as on
// a shutdown, which must end within the service manager's stop timeout,
// they get stopGrace more.
func (n *Notifier) Run(ctx, cut context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		next, err := n.sendDue(ctx, cut)
		if err != nil {
			n.log.Error("notification outbox unavailable", zap.Error(err))
			next = time.Now().Add(storeRetry)
		}
		if next.IsZero() {
			timer.Stop() // nothing queued: wait for Notify
		} else {
			timer.Reset(time.Until(next))
		}
		select {
		case <-ctx.Done():
			return
		case <-n.wake:
		case <-timer.C:
		}
	}
}

// sendDue attempts the due deliveries of each channel in queue order,
// stopping at one to be retried (or not yet due) so that a receiver never
// gets a later message before an earlier one, and returns when the
// earliest of the others is due (zero: the outbox is empty).
func (n *Notifier) sendDue(ctx, cut context.Context) (time.Time, error) {
	ds, err := n.queued()
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	queues := map[string][]state.Delivery{}
	for _, d := range ds {
		queues[d.Ref] = append(queues[d.Ref], d)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		next    time.Time
		lastErr error
	)
	later := func(at time.Time) {
		if next.IsZero() || at.Before(next) {
			next = at
		}
	}
	for _, queue := range queues {
		wg.Go(func() {
			for _, d := range queue {
				if ctx.Err() != nil {
					return
				}
				if d.NextAttempt.After(now) {
					mu.Lock()
					later(d.NextAttempt)
					mu.Unlock()
					return
				}
				retryAt, err := n.deliver(cut, d)
				mu.Lock()
				if err != nil {
					lastErr = err
				} else if !retryAt.IsZero() {
					later(retryAt)
				}
				mu.Unlock()
				if err != nil || !retryAt.IsZero() {
					return
				}
			}
		})
	}
	wg.Wait()
	return next, lastErr
}

// queued is the outbox, in queue order. It logs the entries the store
// could not read and set aside.
func (n *Notifier) queued() ([]state.Delivery, error) {
	ds, setAside, err := n.store.Deliveries()
	if setAside > 0 {
		n.log.Error("unreadable notification outbox entries moved to the state store's outbox_unreadable bucket; they are not sent",
			zap.Int("entries", setAside), zap.String("store", n.store.Path()))
	}
	return ds, err
}

// deliver makes one attempt at d and records the outcome in the store. It
// returns when d is due again, zero when it left the outbox.
func (n *Notifier) deliver(cut context.Context, d state.Delivery) (time.Time, error) {
	c, ok := n.byRef(d.Ref)
	if !ok {
		n.log.Warn("notification dropped: its channel is no longer configured",
			zap.String("channel", d.Channel), zap.String("target", d.Target), zap.String("delivery", d.ID))
		return time.Time{}, n.finish(d, d.Channel, OutcomeUnconfigured)
	}
	log := n.log.With(zap.String("channel", c.name), zap.String("host", c.host),
		zap.String("target", d.Target), zap.String("delivery", d.ID), zap.Int("attempt", d.Attempts+1))
	res := n.send(cut, c, d)
	switch {
	case res.err == nil && res.status/100 == 2:
		log.Info("notification delivered", zap.Int("status", res.status))
		return time.Time{}, n.finish(d, c.name, OutcomeDelivered)
	case res.err == nil && permanent(res.status):
		log.Error("notification rejected by the receiver; not retrying",
			zap.Int("status", res.status), zap.String("response", res.body))
		return time.Time{}, n.finish(d, c.name, OutcomeRejected)
	}
	d.Attempts++
	fields := []zap.Field{zap.Int("status", res.status), zap.String("response", res.body)}
	if res.err != nil {
		fields = []zap.Field{zap.String("error", res.err.Error())}
	}
	if d.Attempts >= n.maxAttempts {
		log.Error("notification dropped after the last attempt", append(fields, zap.Int("max_attempts", n.maxAttempts))...)
		return time.Time{}, n.finish(d, c.name, OutcomeDropped)
	}
	wait := backoff(n.base, n.max, d.Attempts)
	if res.retryAfter > wait {
		wait = res.retryAfter
	}
	d.NextAttempt = time.Now().Add(wait)
	log.Warn("notification attempt failed; retrying", append(fields, zap.Duration("retry_in", wait))...)
	if err := n.store.Reschedule(d); err != nil {
		return time.Time{}, err
	}
	n.report(c.name, OutcomeRetried)
	return d.NextAttempt, nil
}

// finish takes d out of the outbox and reports the outcome.
func (n *Notifier) finish(d state.Delivery, channel, outcome string) error {
	if err := n.store.Remove(d); err != nil {
		return err
	}
	n.report(channel, outcome)
	return nil
}

func (n *Notifier) report(channel, outcome string) {
	if n.onResult != nil {
		n.onResult(channel, outcome)
	}
}

func (n *Notifier) byRef(ref string) (destination, bool) {
	for _, c := range n.channels {
		if c.ref == ref {
			return c, true
		}
	}
	return destination{}, false
}

// Pending is the number of messages for channel waiting in the outbox.
func (n *Notifier) Pending(channel string) int {
	ds, err := n.queued()
	if err != nil {
		n.log.Error("notification outbox unavailable", zap.Error(err))
		return 0
	}
	count := 0
	for _, d := range ds {
		name := d.Channel
		if c, ok := n.byRef(d.Ref); ok {
			name = c.name
		}
		if name == channel {
			count++
		}
	}
	return count
}

// sendResult is what one attempt learned. Its texts are scrubbed of the
// channel's URL and secret.
type sendResult struct {
	status     int
	body       string // start of the response, for the log
	retryAfter time.Duration
	err        error // the request did not complete
}

// send makes one attempt. It is not aborted but by its timeout, or
// stopGrace after cut is done: the receiver may have acted on it already,
// and an answer thrown away would have the next Run send the message again.
func (n *Notifier) send(cut context.Context, c destination, d state.Delivery) sendResult {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(cut), n.sendTimeout)
	defer cancel()
	defer context.AfterFunc(cut, func() { time.AfterFunc(stopGrace, cancel) })()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.url, bytes.NewReader(d.Body))
	if err != nil {
		return sendResult{err: errors.New("cannot build the request")} // its error quotes the URL
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", n.userAgent)
	if !c.slack {
		req.Header.Set(HeaderDelivery, d.ID)
		req.Header.Set(HeaderEvent, d.Event)
		if c.secret != "" {
			req.Header.Set(HeaderSignature, Sign(c.secret, d.ID, d.Body, time.Now()))
		}
	}
	resp, err := n.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error quotes the URL
		}
		return sendResult{err: errors.New(c.scrub(err.Error()))}
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	res := sendResult{status: resp.StatusCode, body: c.scrub(strings.TrimSpace(string(head)))}
	if resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable {
		res.retryAfter = retryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return res
}

// scrub masks the channel's URL, its path and query, and its secret in s,
// for texts that came from elsewhere (errors, response bodies).
func (c destination) scrub(s string) string {
	secrets := []string{c.url, c.secret}
	if u, err := url.Parse(c.url); err == nil {
		secrets = append(secrets, u.RequestURI(), u.EscapedPath(), u.RawQuery)
	}
	for _, v := range secrets {
		if len(v) > 1 { // "/" alone says nothing
			s = strings.ReplaceAll(s, v, "xxxxx")
		}
	}
	return s
}

// permanent reports whether a status means the message will never be
// accepted: a client error other than timeout and rate limiting, or a
// redirect, which the client does not follow.
func permanent(status int) bool {
	switch {
	case status == http.StatusRequestTimeout, status == http.StatusTooManyRequests:
		return false
	case status/100 == 4, status/100 == 3:
		return true
	}
	return false
}

// backoff is the wait after the attempt-th failure: full jitter, uniform in
// [0, min(max, base·2^(attempt-1))].
func backoff(base, max time.Duration, attempt int) time.Duration {
	ceiling := base
	for i := 1; i < attempt && ceiling < max; i++ {
		ceiling = min(2*ceiling, max) // no overflow: ceiling < max
	}
	return rand.N(ceiling + 1)
}

// retryAfter parses a Retry-After header, in seconds or as an HTTP date;
// zero when absent or unreadable.
func retryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	var d time.Duration
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		d = time.Duration(min(max(secs, 0), int64(maxRetryAfter/time.Second))) * time.Second
	} else if t, err := http.ParseTime(v); err == nil {
		d = t.Sub(now)
	}
	return min(max(d, 0), maxRetryAfter)
}
