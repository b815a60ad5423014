package daemon

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

func TestSchedulerSkipsOverlappingRuns(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	var skipped, started atomic.Int32
	s := newScheduler(zap.New(core), func(target, job string) {
		if target == "a" && job == "analyze" {
			skipped.Add(1)
		}
	}, newPhase(time.Now()))
	release := make(chan struct{})
	if _, err := s.add("@every 1s", "a", "analyze", func() {
		started.Add(1)
		<-release
	}); err != nil {
		t.Fatal(err)
	}
	s.start()
	waitFor(t, "two skipped runs", func() bool { return skipped.Load() >= 2 })
	close(release)
	<-s.stop().Done()
	if n := started.Load(); n != 1 {
		t.Errorf("%d runs started while the first was still going, want 1", n)
	}
	if n := logs.FilterMessage("run skipped: the previous run is still going").Len(); n < 2 {
		t.Errorf("%d skip lines logged, want one per skipped run", n)
	}
	if _, err := s.add("@every 0 lunes", "a", "sample", func() {}); err == nil || !strings.Contains(err.Error(), "sample of target a") {
		t.Errorf("bad spec: %v", err)
	}
}

func TestSchedulerRecoversPanics(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	s := newScheduler(zap.New(core), func(string, string) {}, newPhase(time.Now()))
	j, err := s.add("@every 1h", "a", "sample", func() { panic("boom") })
	if err != nil {
		t.Fatal(err)
	}
	j.Run() // must not end the test binary
	if logs.FilterMessage("cron: panic").Len() != 1 {
		t.Errorf("panic not logged: %v", logs.All())
	}
}

func TestInterval(t *testing.T) {
	now := time.Date(2025, 1, 1, 10, 7, 30, 0, time.UTC)
	for spec, want := range map[string]time.Duration{"@every 1m": time.Minute, "*/15 * * * *": 15 * time.Minute, "@hourly": time.Hour} {
		if got, err := interval(spec, now); err != nil || got != want {
			t.Errorf("interval(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
	if _, err := interval("nonsense", now); err == nil {
		t.Error("interval of a bad spec: no error")
	}
	// On a Wednesday, a weekday schedule's next gap is a day; its
	// longest, from Friday to Monday, three.
	for spec, want := range map[string]time.Duration{"0 9 * * 1-5": 72 * time.Hour, "@every 10m": 10 * time.Minute, "*/5 * * * *": 5 * time.Minute, "0 0 1 1 *": 365 * 24 * time.Hour} {
		if got, err := longestInterval(spec, now); err != nil || got != want {
			t.Errorf("longestInterval(%q) = %v, %v; want %v", spec, got, err, want)
		}
	}
}

// A warning of a successful sample (texts hidden from the role) is logged
// when it starts, once, and again when it comes back after going.
func TestSampleWarningsLoggedWhenTheyStart(t *testing.T) {
	core, logs := observer.New(zap.WarnLevel)
	tg := &target{name: "a", log: zap.New(core)}
	hidden := collector.Warning{Code: collector.WarnTextsHidden, Message: "170 statements hidden", Fix: "GRANT pg_read_all_stats TO advisor;"}
	for _, warnings := range [][]collector.Warning{{hidden}, {hidden}, {hidden, {Code: collector.WarnEvictions, Message: "evicted"}}, nil, {hidden}} {
		tg.sampled(&collector.Snapshot{Warnings: warnings})
	}
	got := logs.FilterMessage("sample incomplete").All()
	if len(got) != 2 || got[0].ContextMap()["code"] != collector.WarnTextsHidden || !strings.Contains(got[0].ContextMap()["warning"].(string), "GRANT pg_read_all_stats") {
		t.Errorf("logged %+v; want the hidden texts warned of twice, as they start and start again", got)
	}
}

func TestBackoffAndRecovery(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	tg := &target{name: "a", log: zap.New(core)}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	var waits []time.Duration
	for range 9 {
		tg.failed(now, errors.New("connection refused"))
		waits = append(waits, tg.backoffLeft(now))
	}
	want := []time.Duration{5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second,
		160 * time.Second, 5 * time.Minute, 5 * time.Minute, 5 * time.Minute}
	if !slices.Equal(waits, want) {
		t.Errorf("backoff %v, want %v", waits, want)
	}
	if !tg.down() {
		t.Error("a target whose last sample failed is not down")
	}
	tg.sampled(&collector.Snapshot{Time: now.Add(10 * time.Minute), Warnings: []collector.Warning{{Message: "m", Fix: "f"}}})
	if tg.down() || tg.backoffLeft(now) > 0 {
		t.Error("a sampled target still backs off")
	}
	rec := logs.FilterMessage("target recovered").All()
	if len(rec) != 1 || rec[0].ContextMap()["failed_samples"] != int64(9) || rec[0].ContextMap()["down_for"] != 10*time.Minute {
		t.Errorf("recovery line: %v", rec)
	}
	if n := logs.FilterMessage("target sample failed").Len(); n != 9 {
		t.Errorf("%d failure lines, want 9", n)
	}
}

// hangingServer accepts connections and never answers, like a server
// stuck behind a dead network path.
func hangingServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestScheduleKeepsSamplingBesideStuckTargets runs the real schedule every
// second with a sandbox target, one whose server hangs and one on a closed
// port: the sandbox is sampled every second, the hanging target's runs are
// skipped, not stacked, and stopping cancels its stuck sample after the
// deadline and still exits cleanly.
func TestScheduleKeepsSamplingBesideStuckTargets(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	dir := t.TempDir()
	cfg := loadConfig(t, writeConfig(t, dir, `
listen: 127.0.0.1:0
state_dir: %s
targets:
  - {name: up, dsn: '%s'}
  - {name: hang, dsn: 'postgres://x@%s/app?connect_timeout=0'}
  - {name: closed, dsn: 'postgres://x@127.0.0.1:1/app'}
schedule: {sample: "@every 1s", analyze: "@every 1h"}
`, dir, c.DSN("postgres"), hangingServer(t)))
	logs := &logBuffer{}
	opts := testOptions()
	opts.ShutdownTimeout = time.Second
	d, err := New(cfg, logs.logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	began := time.Now()
	go func() { stopped <- d.Run(ctx) }()

	samples := func(target string) float64 { return gathered(t, d, "pgadvisor_sample_duration_seconds", target) }
	waitFor(t, "four samples of the up target", func() bool { return samples("up") >= 4 })

	if n := gathered(t, d, "pgadvisor_jobs_skipped_total", "sample", "hang"); n < 2 {
		t.Errorf("hanging target: %v skipped runs, want its runs skipped while the first hangs", n)
	}
	if n := samples("hang"); n > 0 {
		t.Errorf("hanging target finished %v samples", n)
	}
	// The closed port gets the attempts its backoff allows in the time taken,
	// which a loaded machine stretches; without a backoff, one a tick.
	closed, allowed := samples("closed"), 1
	for wait, at := backoffBase, backoffBase; at < time.Since(began); wait, at = 2*wait, at+2*wait {
		allowed++
	}
	if n := closed; n < 1 || n > float64(allowed) {
		t.Errorf("closed port: %v attempts beside %v samples of the up target, want 1 to %d: it does not back off", n, samples("up"), allowed)
	}
	start := time.Now()
	stop()
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("stopping took %s with a 1s deadline", took)
	}
	if !strings.Contains(logs.String(), "running steps did not finish in time: canceling them") {
		t.Error("no log line says the stuck sample was canceled")
	}
}

// TestReload: SIGHUP (through Options.Hangup) with an invalid file keeps
// the running configuration; a valid one swaps targets and schedule.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	const valid = `
listen: 127.0.0.1:0
state_dir: %s
targets:
  - {name: %s, dsn: 'postgres://x@127.0.0.1:1/app'}
schedule: {sample: "@every 1s", analyze: "@every 1h"}
`
	path := writeConfig(t, dir, valid, dir, "first")
	logs := &logBuffer{}
	opts := testOptions()
	hup := make(chan os.Signal, 1)
	opts.Hangup = hup
	opts.Load = func() (*config.Config, error) { return config.Load(path) }
	d, err := New(loadConfig(t, path), logs.logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	waitFor(t, "the first sample", func() bool { return strings.Contains(logs.String(), `"target":"first"`) })

	writeConfig(t, dir, "targets: [{name: first, dsn: 'postgres://x@127.0.0.1:1/app'}]\nanalysis: {top: -1}\n")
	if err := d.Reload(); err == nil || !strings.Contains(err.Error(), "analysis.top") {
		t.Fatalf("reload of an invalid file: %v", err)
	}
	hup <- syscall.SIGHUP
	waitFor(t, "the SIGHUP reload to be refused", func() bool {
		return strings.Count(logs.String(), "configuration not reloaded; the running one stays") == 2
	})
	if got := d.Targets(); !slices.Equal(got, []string{"first"}) || d.Config().Analysis.Top != 25 {
		t.Fatalf("after a bad reload: targets %v, top %d; want the running configuration", got, d.Config().Analysis.Top)
	}

	writeConfig(t, dir, valid, dir+"/elsewhere", "second")
	hup <- syscall.SIGHUP
	waitFor(t, "the reload", func() bool { return slices.Equal(d.Targets(), []string{"second"}) })
	waitFor(t, "a sample of the new target", func() bool { return strings.Contains(logs.String(), `"target":"second"`) })
	if d.Config().StateDir != dir {
		t.Errorf("state_dir changed to %s without a restart", d.Config().StateDir)
	}
	if !strings.Contains(logs.String(), "listen and state_dir change at the next restart") {
		t.Error("no warning that state_dir needs a restart")
	}
	waitFor(t, "the removed target's series to go", func() bool {
		n, _ := testutil.GatherAndCount(d.metrics.Registry(), "pgadvisor_target_up")
		return n == 1 && gathered(t, d, "pgadvisor_target_up", "second") == 0
	})
	stop()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := d.Reload(); err == nil {
		t.Error("reload after stopping succeeded")
	}
}

// gathered is the value of the series of name whose label values are
// labels (in the order of the sorted label names): a gauge's or counter's value, a
// histogram's count; -1 when there is no such series.
func gathered(t *testing.T, d *Daemon, name string, labels ...string) float64 {
	t.Helper()
	fams, err := d.metrics.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var values []string
			for _, l := range m.GetLabel() {
				values = append(values, l.GetValue())
			}
			if !slices.Equal(values, labels) {
				continue
			}
			switch {
			case m.GetHistogram() != nil:
				return float64(m.GetHistogram().GetSampleCount())
			case m.GetCounter() != nil:
				return m.GetCounter().GetValue()
			default:
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

// TestReloadedDSNEndsBackoff: a corrected DSN is tried at once; a reload
// that leaves the DSN alone keeps the backoff. The window follows the DSN's
// database.
func TestReloadedDSNEndsBackoff(t *testing.T) {
	tg := &target{name: "a", log: zap.NewNop(), cfg: advisor.Target{DSN: "postgres://db/wrong"}}
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for range 6 {
		tg.failed(now, errors.New("database \"wrong\" does not exist"))
	}
	tg.configure(advisor.Target{DSN: "postgres://db/wrong"})
	if tg.backoffLeft(now) <= 0 {
		t.Error("a reload with the same DSN ended the backoff")
	}
	tg.savedAt = now
	tg.configure(advisor.Target{DSN: "postgres://db/app"})
	if left := tg.backoffLeft(now); left > 0 {
		t.Errorf("after a corrected DSN the target still waits %s", left)
	}
	// The window is saved under the new database, where a restart looks.
	if tg.key != "app" || !tg.savedAt.IsZero() {
		t.Errorf("after the DSN moved to database app: key %q, saved at %s; want app, a save at the next sample", tg.key, tg.savedAt)
	}
}

// TestEveryKeepsPhase: "@every" runs fall on the anchor's phase, whatever
// the time the scheduler is built (a reload), and never in the past.
func TestEveryKeepsPhase(t *testing.T) {
	anchor := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	a := anchoredEvery{every: 15 * time.Minute, phase: newPhase(anchor)}
	for _, tc := range []struct{ now, want time.Time }{
		{anchor.Add(-time.Minute), anchor},
		{anchor, anchor.Add(15 * time.Minute)},
		{anchor.Add(14 * time.Minute), anchor.Add(15 * time.Minute)},
		{anchor.Add(15 * time.Minute), anchor.Add(30 * time.Minute)},
		{anchor.Add(7*time.Hour + 31*time.Minute), anchor.Add(7*time.Hour + 45*time.Minute)},
	} {
		if got := a.Next(tc.now); !got.Equal(tc.want) {
			t.Errorf("Next(%s) = %s, want %s", tc.now.Format("15:04"), got.Format("15:04"), tc.want.Format("15:04"))
		}
	}
}

// After the wall clock steps back an hour, the next run is still due
// within an interval, not an hour later: the watcher sees the step and
// cron plans again from the clock's new reading.
func TestSchedulerFollowsClockSteps(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	// The agent started at 13:00 by a clock an hour fast, since set right:
	// the phase is an hour ahead of the clock.
	p := newPhase(time.Now().Add(time.Hour))
	s := newScheduler(zap.New(core), func(string, string) {}, p)
	if _, err := s.add("@every 1m", "a", "sample", func() {}); err != nil {
		t.Fatal(err)
	}
	s.cron.Start()
	defer s.stop()
	next := func() time.Duration { return time.Until(s.cron.Entries()[0].Next) }
	waitFor(t, "cron to plan", func() bool { return !s.cron.Entries()[0].Next.IsZero() })
	if d := next(); d < 59*time.Minute {
		t.Fatalf("next run in %s: the test's premise, an hour's stall, does not hold", d)
	}

	// The watcher's readings: the wall clock set an hour back, while the
	// monotonic one moved on.
	var mu sync.Mutex
	wall, mono := time.Now(), time.Duration(0)
	baseline := make(chan struct{})
	taken := sync.OnceFunc(func() { close(baseline) })
	read := func() (time.Time, time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		taken()
		return wall, mono
	}
	go s.watchClock(read, time.Millisecond)
	<-baseline // the watcher's first reading, which the step below follows
	mu.Lock()
	wall, mono = wall.Add(-time.Hour+time.Second), mono+time.Second
	mu.Unlock()
	waitFor(t, "the step followed", func() bool {
		return logs.FilterMessage("the wall clock stepped; scheduling again from its new reading").Len() > 0
	})
	waitFor(t, "the next run within a minute", func() bool { d := next(); return d > 0 && d <= time.Minute })
	if got := p.get(); time.Until(got) > time.Second || time.Until(got) < -time.Second {
		t.Errorf("phase %s, want moved an hour back to about now", got)
	}
}

func TestDue(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		last time.Time
		want bool
	}{
		{time.Time{}, true},                // never done
		{now.Add(-10 * time.Minute), true}, // every apart
		{now.Add(-9 * time.Minute), false}, // not yet
		{now.Add(30 * time.Minute), true},  // the clock went back past it
	} {
		if got := due(now, tc.last, 10*time.Minute); got != tc.want {
			t.Errorf("due at %s, last %s: %v, want %v", now.Format("15:04"), tc.last.Format("15:04"), got, tc.want)
		}
	}
}
