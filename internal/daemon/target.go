package daemon

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Sampling limits and the backoff of a failing target.
const (
	sampleTimeout = 30 * time.Second
	backoffBase   = 5 * time.Second
	backoffMax    = 5 * time.Minute
)

// target is one monitored cluster: its window, its sampling connection,
// its health and its latest report.
type target struct {
	name   string
	window *collector.Window
	log    *zap.Logger

	sampleMu sync.Mutex // one sample at a time; guards conn and sampler
	conn     *pgx.Conn
	sampler  *collector.Sampler

	analyzeMu sync.Mutex // one analysis cycle at a time, across reloads

	mu        sync.Mutex // guards what follows
	cfg       advisor.Target
	key       string // the window's key in the state store: the sampler's database
	reconnect bool   // cfg changed: open a new connection at the next sample
	failures  int    // consecutive failed samples
	retryAt   time.Time
	downSince time.Time
	lastErr   string
	lastOK    time.Time       // time of the last snapshot added
	savedAt   time.Time       // time of the newest snapshot in the saved window
	rankedAt  time.Time       // time of the snapshot that last ranked the statement metrics
	warnings  []string        // of the last snapshot
	warnCodes map[string]bool // of the last snapshot's warnings, to log each when it starts
	analyzed  collector.Mark  // end of the span the last cycle analyzed
	report    *advisor.Report
}

// windowKey is the database the sampler connects to, which names the
// window in the state store.
func windowKey(dsn string) string {
	if cfg, err := dbconn.Config(dsn); err == nil && cfg.Database != "" {
		return cfg.Database
	}
	return "postgres"
}

// configure applies a reloaded configuration of the target; a changed
// connection or filter takes effect at the next sample. A changed
// connection ends the backoff: the fix for a failing target is often a
// corrected DSN, and it should not wait minutes to be tried.
func (t *target) configure(cfg advisor.Target) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cfg.DSN != t.cfg.DSN {
		t.retryAt = time.Time{}
	}
	if cfg.DSN != t.cfg.DSN || !sameFilter(cfg.Databases, t.cfg.Databases) || !sameFilter(cfg.Users, t.cfg.Users) {
		t.reconnect = true
	}
	if key := windowKey(cfg.DSN); key != t.key {
		// Saved under the new database from the next sample on, where a
		// restart looks for it.
		t.log.Info("the window is now saved under database "+key, zap.String("was", t.key))
		t.key, t.savedAt = key, time.Time{}
	}
	t.cfg = cfg
}

func sameFilter(a, b collector.NameFilter) bool {
	return slices.Equal(a.Include, b.Include) && slices.Equal(a.Exclude, b.Exclude)
}

// backoffLeft is how long the target still waits after failures.
func (t *target) backoffLeft(now time.Time) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.retryAt.Sub(now)
}

// read takes one snapshot, connecting first when needed. The caller holds
// sampleMu.
func (t *target) read(ctx context.Context) (*collector.Snapshot, error) {
	t.mu.Lock()
	cfg, reconnect := t.cfg, t.reconnect
	t.reconnect = false
	t.mu.Unlock()
	if reconnect {
		t.closeConn(ctx)
	}
	if t.conn == nil {
		conn, err := dbconn.Connect(ctx, cfg.DSN)
		if err != nil {
			return nil, err
		}
		s, err := collector.NewSampler(conn, collector.SamplerOptions{Databases: cfg.Databases, Users: cfg.Users}, t.log)
		if err != nil {
			_ = conn.Close(ctx)
			return nil, err
		}
		t.conn, t.sampler = conn, s
	}
	snap, err := t.sampler.Sample(ctx)
	if err != nil {
		return nil, err
	}
	if !snap.Sampled {
		var msgs []string
		for _, w := range snap.Warnings {
			msgs = append(msgs, w.String())
		}
		return nil, fmt.Errorf("pg_stat_statements cannot be read: %s", cmp.Or(strings.Join(msgs, "; "), "no reason given"))
	}
	return snap, nil
}

// closeConn drops the sampling connection (and the sampler's text cache
// with it). The caller holds sampleMu.
func (t *target) closeConn(ctx context.Context) {
	if t.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	_ = t.conn.Close(ctx)
	t.conn, t.sampler = nil, nil
}

// close drops the connection once no sample is running.
func (t *target) close(ctx context.Context) {
	t.sampleMu.Lock()
	defer t.sampleMu.Unlock()
	t.closeConn(ctx)
}

// failed records a failed sample and schedules the next attempt with
// exponential backoff.
func (t *target) failed(now time.Time, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.failures++
	if t.failures == 1 {
		t.downSince = now
	}
	wait := backoffMax
	if shift := t.failures - 1; shift < 16 {
		wait = min(backoffBase<<shift, backoffMax)
	}
	t.retryAt, t.lastErr = now.Add(wait), err.Error()
	t.log.Warn("target sample failed", zap.Int("consecutive_failures", t.failures),
		zap.Duration("next_attempt_in", wait), zap.Error(err))
}

// sampled records a successful sample, and says so when it ends a failure.
func (t *target) sampled(snap *collector.Snapshot) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.failures > 0 {
		t.log.Info("target recovered", zap.Duration("down_for", snap.Time.Sub(t.downSince).Round(time.Second)),
			zap.Int("failed_samples", t.failures), zap.String("last_error", t.lastErr))
	}
	t.failures, t.retryAt, t.downSince, t.lastErr = 0, time.Time{}, time.Time{}, ""
	t.lastOK = snap.Time
	t.warnings = snap.ReportWarnings()
	// A sample can succeed and still miss statements (texts hidden from
	// the role, a database without the extension): logged when such a
	// warning starts, not at every sample. Evictions Window.Add warns of.
	codes := map[string]bool{}
	for _, w := range snap.Warnings {
		if w.Code != collector.WarnEvictions && !t.warnCodes[w.Code] && !codes[w.Code] {
			t.log.Warn("sample incomplete", zap.String("code", w.Code), zap.String("warning", w.String()))
		}
		codes[w.Code] = true
	}
	t.warnCodes = codes
}

// down reports whether the last sample failed.
func (t *target) down() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failures > 0
}

var errUnknownTarget = errors.New("no such target")
