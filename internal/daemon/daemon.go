// Package daemon is the agent behind `advisor run`. It samples
// pg_stat_statements of every target on one schedule and analyzes what
// ran on another, each target on its own (a target that is down backs off
// without holding up the others; analysis cycles share a bound on
// parallel work). Windows and recommendation history live in the state
// store, so a restart resumes where the agent stopped. It notices when a
// recommended index gets built and measures what it gained, exports
// Prometheus metrics, serves the HTTP API, reloads its configuration on
// request and stops within a deadline with its state flushed.
//
// Each analysis cycle looks at the sample intervals since the previous
// cycle's span ended, so every interval is analyzed once; the first cycle
// after a start looks at the last hour the window holds. Until the window
// has two samples in that span the cycle is skipped, with a log line.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// Defaults and fixed spans.
const (
	DefaultShutdownTimeout = 20 * time.Second
	// firstSpan is what the first cycle after a start analyzes.
	firstSpan = time.Hour
	// rankSpan is the recent span that ranks statements for the
	// per-statement metrics, ranked again at most every rankEvery (sample
	// time): summing a span is the costliest step of a sample, and fast
	// schedules need no faster ranking. The series' values follow every
	// sample.
	rankSpan  = 15 * time.Minute
	rankEvery = time.Minute
	// readyIntervals: /readyz wants a successful sample within this many
	// sample intervals.
	readyIntervals = 3
	// minRetention: windows keep at least this much history, and twice the
	// analysis interval.
	minRetention = time.Hour
	// saveEvery is how often (in sample time) a window is saved; Close
	// saves it too. A crash loses no workload: the next sample's delta from
	// the restored baseline spans the gap, in one coarser interval.
	saveEvery = 5 * time.Minute
)

// Options are what the agent needs beyond its configuration.
type Options struct {
	Version string
	// WebConfigFile is an exporter-toolkit web configuration (TLS, basic
	// auth); "" serves plain HTTP.
	WebConfigFile string
	// ShutdownTimeout bounds how long running steps may finish after a
	// stop before they are canceled (default 20s).
	ShutdownTimeout time.Duration
	// EngineOptions and Target translate the configuration into the
	// engine's terms.
	EngineOptions func(*config.Config) advisor.Options
	Target        func(config.Target) advisor.Target
	// Load reads the configuration again, for Reload; nil disables reloading.
	Load func() (*config.Config, error)
	// Hangup, when set, asks Run to Reload (SIGHUP).
	Hangup <-chan os.Signal
}

// Daemon is the running agent. Build it with New, then Run it.
type Daemon struct {
	log     *zap.Logger
	opts    Options
	store   *state.Store
	metrics *exporter.Metrics
	server  *exporter.Server

	// work is the context of every step; canceled when the shutdown
	// deadline passes.
	work       context.Context
	cancelWork context.CancelFunc
	// shuttingDown is canceled when shutdown starts: it cuts the
	// notifiers' sends in flight after a grace, which a reload does not.
	shuttingDown  context.Context
	startShutdown context.CancelFunc
	kickoff       sync.WaitGroup // the first samples, started outside the scheduler
	phase         *phase         // of "@every" schedules: New's time, moved by steps of the wall clock
	// notifyWake is shared by the notifiers a reload replaces, so what the
	// previous one queues wakes the running one.
	notifyWake chan struct{}
	idle       idleRelease // after samples and analysis cycles
	detached   sync.Once   // logs that the state file is gone, once

	mu           sync.Mutex // guards what follows
	cfg          *config.Config
	engine       *advisor.Engine
	targets      []*target // in configuration order
	sem          chan struct{}
	sched        *scheduler
	draining     []context.Context // schedulers replaced by Reload, until their runs return
	notifier     *exporter.Notifier
	stopNotifier func()
	stopping     bool

	closeOnce sync.Once
	closeErr  error
}

// New opens the state store under cfg.StateDir, restores each target's
// window and prepares metrics, notifications and the HTTP server. It fails
// when the state directory is not writable or the store is corrupt, naming
// the path and the reason. Run starts the work; a Daemon that is not Run
// must be Closed.
func New(cfg *config.Config, log *zap.Logger, opts Options) (*Daemon, error) {
	if opts.EngineOptions == nil || opts.Target == nil {
		return nil, errors.New("daemon: Options.EngineOptions and Options.Target are required")
	}
	if log == nil {
		log = zap.NewNop()
	}
	if opts.ShutdownTimeout <= 0 {
		opts.ShutdownTimeout = DefaultShutdownTimeout
	}
	store, err := state.Open(cfg.StateDir)
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		log: log, opts: opts, store: store, cfg: cfg, phase: newPhase(time.Now()),
		metrics:    exporter.NewMetrics(opts.Version, cfg.Metrics.TopStatements),
		engine:     advisor.NewEngine(log, opts.EngineOptions(cfg)),
		sem:        make(chan struct{}, cfg.Analysis.MaxParallelTargets),
		notifyWake: make(chan struct{}, 1),
	}
	d.work, d.cancelWork = context.WithCancel(context.Background())
	d.shuttingDown, d.startShutdown = context.WithCancel(context.Background())
	if d.notifier, err = d.newNotifier(cfg); err != nil {
		_ = store.Close()
		return nil, err
	}
	d.metrics.SetNotifier(d.notifier)
	for _, tc := range cfg.Targets {
		d.targets = append(d.targets, d.newTarget(cfg, tc))
	}
	if err := d.forgetUnconfigured(d.targets); err != nil {
		log.Warn("state of targets no longer configured not cleaned up", zap.Error(err))
	}
	d.server = exporter.NewServer(exporter.ServerOptions{
		Listen: cfg.Listen, WebConfigFile: opts.WebConfigFile, Version: opts.Version,
		Metrics: d.metrics, API: d, Log: log,
	})
	return d, nil
}

func (d *Daemon) newNotifier(cfg *config.Config) (*exporter.Notifier, error) {
	return exporter.NewNotifier(d.store, cfg.Notify, d.log.Named("notify"), exporter.NotifierOptions{
		ExternalURL: cfg.ExternalURL, Version: d.opts.Version, OnResult: d.metrics.NotificationResult,
		Wake: d.notifyWake,
	})
}

// windowRetention is how long a target's window keeps its samples: two
// analysis intervals, and at least minRetention.
func windowRetention(cfg *config.Config) time.Duration {
	retention := minRetention
	if iv, err := longestInterval(cfg.Schedule.Analyze, time.Now()); err == nil {
		retention = max(retention, 2*iv)
	}
	return retention
}

// newTarget prepares a target and restores its window from the store. A
// window that cannot be read is logged and replaced by an empty one.
func (d *Daemon) newTarget(cfg *config.Config, tc config.Target) *target {
	retention := windowRetention(cfg)
	t := &target{
		name:   tc.Name,
		key:    windowKey(tc.DSN),
		window: collector.NewWindow(collector.WindowOptions{Retention: retention}),
		log:    d.log.With(zap.String("target", tc.Name)),
		cfg:    d.opts.Target(tc),
	}
	data, ok, err := d.store.GetWindow(t.name, t.key)
	switch {
	case err != nil:
		t.log.Warn("saved window unreadable; starting with an empty one", zap.Error(err))
	case ok:
		if err := t.window.UnmarshalBinary(data); err != nil {
			t.log.Warn("saved window unreadable; starting with an empty one", zap.Error(err))
			t.window = collector.NewWindow(collector.WindowOptions{Retention: retention})
		} else {
			t.log.Info("window restored", zap.Time("newest_sample", t.window.LastSample().To))
		}
	}
	if records, err := d.store.Recommendations(t.name); err == nil {
		d.metrics.Restored(t.name, records)
	}
	return t
}

// Run serves HTTP, delivers notifications and runs the schedule until ctx
// is done, then stops: no new runs start, running steps get
// ShutdownTimeout to finish before they are canceled, windows are saved
// and the store is closed. It returns an error when the server cannot
// listen or the state cannot be flushed.
func (d *Daemon) Run(ctx context.Context) error {
	if err := d.server.Start(); err != nil {
		return errors.Join(err, d.Close())
	}
	d.mu.Lock()
	d.stopNotifier = d.startNotifier(d.notifier, nil)
	sched, kick, err := d.newSchedule(d.cfg, d.targets)
	if err != nil {
		d.mu.Unlock()
		return errors.Join(err, d.shutdown())
	}
	d.sched = sched
	sched.start()
	// A first sample right away: the window gets its baseline, and
	// readiness its evidence, without waiting a whole interval.
	d.kickoff.Add(len(kick))
	for _, j := range kick {
		go func() {
			defer d.kickoff.Done()
			j()
		}()
	}
	d.log.Info("agent started", zap.String("version", d.opts.Version), zap.String("listen", d.server.Addr()),
		zap.String("state", d.store.Path()), zap.Int("targets", len(d.targets)),
		zap.String("sample", d.cfg.Schedule.Sample), zap.String("analyze", d.cfg.Schedule.Analyze))
	d.mu.Unlock()

	for {
		select {
		case <-ctx.Done():
			return d.shutdown()
		case <-d.opts.Hangup:
			_ = d.Reload() // logged; the running configuration stays on error
		}
	}
}

// Addr is the HTTP server's address once Run has started it.
func (d *Daemon) Addr() string { return d.server.Addr() }

// newSchedule builds the scheduler of a configuration: a sample and an
// analyze job per target. It also returns the sample jobs, to run once
// at start.
func (d *Daemon) newSchedule(cfg *config.Config, targets []*target) (*scheduler, []func(), error) {
	s := newScheduler(d.log.Named("schedule"), d.metrics.JobSkipped, d.phase)
	var kick []func()
	for _, t := range targets {
		sample, err := s.add(cfg.Schedule.Sample, t.name, "sample", func() { _ = d.sample(d.work, t) })
		if err != nil {
			return nil, nil, err
		}
		if _, err := s.add(cfg.Schedule.Analyze, t.name, "analyze", func() { _ = d.analyze(d.work, t) }); err != nil {
			return nil, nil, err
		}
		kick = append(kick, sample.Run)
	}
	return s, kick, nil
}

// startNotifier runs n's delivery loop once previous (what stops the loop
// n replaces; nil at start) has returned, and returns what stops it. Two
// loops never send at once, and a reload does not wait, holding d.mu, for
// the previous loop to finish its send in flight, which runs to its answer
// unless the daemon is shutting down.
func (d *Daemon) startNotifier(n *exporter.Notifier, previous func()) func() {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if previous != nil {
			previous()
		}
		n.Run(ctx, d.shuttingDown)
	}()
	return func() {
		cancel()
		<-done
	}
}

// shutdown stops the work, flushes the state and closes everything.
func (d *Daemon) shutdown() error {
	d.mu.Lock()
	d.stopping = true
	waits := slices.Clone(d.draining)
	if d.sched != nil {
		waits = append(waits, d.sched.stop())
	}
	d.mu.Unlock()
	d.log.Info("stopping: no new runs; waiting for running steps", zap.Duration("timeout", d.opts.ShutdownTimeout))

	// The notifier stops alongside the steps, not after them, so that its
	// send in flight does not add to the time they take: what a finishing
	// step queues stays in the outbox for the next process.
	d.startShutdown()
	d.mu.Lock()
	stopNotifier := d.stopNotifier
	d.stopNotifier = nil
	d.mu.Unlock()
	notifierStopped := make(chan struct{})
	go func() {
		defer close(notifierStopped)
		if stopNotifier != nil {
			stopNotifier()
		}
	}()

	idle := make(chan struct{})
	go func() {
		d.kickoff.Wait()
		for _, w := range waits {
			<-w.Done()
		}
		close(idle)
	}()
	select {
	case <-idle:
	case <-time.After(d.opts.ShutdownTimeout):
		d.log.Warn("running steps did not finish in time: canceling them")
		d.cancelWork()
		select {
		case <-idle:
		case <-time.After(5 * time.Second):
			d.log.Error("running steps ignore cancellation; stopping without them")
		}
	}
	d.cancelWork()
	<-notifierStopped
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := d.server.Shutdown(ctx)
	err = errors.Join(err, d.Close())
	if err != nil {
		d.log.Error("stopped with errors", zap.Error(err))
		return err
	}
	d.log.Info("stopped; state flushed")
	return nil
}

// Close saves every target's window, closes the connections and the state
// store. Run calls it when it stops; calling it again does nothing.
func (d *Daemon) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		targets := slices.Clone(d.targets)
		d.mu.Unlock()
		var errs []error
		detached := d.store.Detached() != nil // store.Close says so, once
		for _, t := range targets {
			if !detached {
				errs = append(errs, d.saveWindow(t))
			}
			t.close(context.Background())
		}
		errs = append(errs, d.forgetUnconfigured(targets), d.store.Close())
		d.idle.stop()
		d.closeErr = errors.Join(errs...)
	})
	return d.closeErr
}

// forgetUnconfigured deletes the saved windows of targets no longer
// configured (removed or renamed), and those saved under a database a
// target no longer samples; and the recommendation records of targets no
// longer configured that no cycle made for the retention of gone ones.
func (d *Daemon) forgetUnconfigured(targets []*target) error {
	keep := map[string]string{}
	names := map[string]bool{}
	for _, t := range targets {
		t.mu.Lock()
		keep[t.name] = t.key
		t.mu.Unlock()
		names[t.name] = true
	}
	deleted, err := d.store.KeepWindows(keep)
	if len(deleted) > 0 {
		d.log.Info("saved windows of targets or databases no longer configured deleted", zap.Strings("windows", deleted))
	}
	forgotten, recErr := d.store.ForgetUnconfigured(names, time.Now())
	if forgotten > 0 {
		d.log.Info("recommendation records of targets no longer configured, unseen for 30 days, deleted", zap.Int("records", forgotten))
	}
	return errors.Join(err, recErr)
}

func (d *Daemon) saveWindow(t *target) error {
	data, err := t.window.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save window of target %s: %w", t.name, err)
	}
	t.mu.Lock()
	key := t.key
	t.mu.Unlock()
	return d.store.PutWindow(t.name, key, data)
}

// Reload reads the configuration again (Options.Load) and applies it. An
// invalid configuration is logged and returned, and the running one stays.
// Targets keep their windows by name; listen and state_dir take a restart.
func (d *Daemon) Reload() error {
	if d.opts.Load == nil {
		return errors.New("reload configuration: no configuration file")
	}
	cfg, err := d.opts.Load()
	if err == nil {
		err = d.apply(cfg)
	}
	if err != nil {
		d.log.Error("configuration not reloaded; the running one stays", zap.Error(err))
		return fmt.Errorf("reload configuration: %w", err)
	}
	return nil
}

// apply switches to cfg: everything that can fail is built first, then
// swapped in at once.
func (d *Daemon) apply(cfg *config.Config) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return errors.New("the agent is stopping")
	}
	old := d.cfg
	if cfg.Listen != old.Listen || cfg.StateDir != old.StateDir {
		d.log.Warn("listen and state_dir change at the next restart; keeping the running ones",
			zap.String("listen", old.Listen), zap.String("state_dir", old.StateDir))
		cfg.Listen, cfg.StateDir = old.Listen, old.StateDir
	}

	notifier := d.notifier
	notifyChanged := !reflect.DeepEqual(old.Notify, cfg.Notify) || old.ExternalURL != cfg.ExternalURL
	if notifyChanged {
		n, err := d.newNotifier(cfg)
		if err != nil {
			return err
		}
		notifier = n
	}
	kept := map[string]*target{}
	for _, t := range d.targets {
		kept[t.name] = t
	}
	var next []*target
	reconfigure := map[*target]config.Target{}
	for _, tc := range cfg.Targets {
		if t := kept[tc.Name]; t != nil {
			next = append(next, t)
			reconfigure[t] = tc
			delete(kept, tc.Name)
		} else {
			next = append(next, d.newTarget(cfg, tc))
		}
	}
	var sched *scheduler
	if d.sched != nil { // running
		var err error
		if sched, _, err = d.newSchedule(cfg, next); err != nil {
			return err
		}
	}

	// Nothing fails from here on.
	for t, tc := range reconfigure {
		t.configure(d.opts.Target(tc))
		t.window.SetRetention(windowRetention(cfg))
	}
	if notifyChanged {
		if d.stopNotifier != nil {
			d.stopNotifier = d.startNotifier(notifier, d.stopNotifier)
		}
		d.notifier = notifier
		d.metrics.SetNotifier(notifier)
	}
	if cfg.Analysis.MaxParallelTargets != old.Analysis.MaxParallelTargets {
		d.sem = make(chan struct{}, cfg.Analysis.MaxParallelTargets)
	}
	d.engine = advisor.NewEngine(d.log, d.opts.EngineOptions(cfg))
	d.metrics.SetTopStatements(cfg.Metrics.TopStatements)
	if sched != nil {
		stopped := d.sched.stop()
		d.draining = append(slices.DeleteFunc(d.draining, func(c context.Context) bool { return c.Err() != nil }), stopped)
		d.sched = sched
		sched.start()
		for _, t := range kept { // removed: forgotten once their runs are over
			go func() {
				<-stopped.Done()
				t.close(context.Background())
				d.metrics.ForgetTarget(t.name)
			}()
		}
	} else {
		for _, t := range kept {
			t.close(context.Background())
			d.metrics.ForgetTarget(t.name)
		}
	}
	d.targets, d.cfg = next, cfg
	d.log.Info("configuration reloaded", zap.Int("targets", len(next)), zap.Int("removed", len(kept)),
		zap.String("sample", cfg.Schedule.Sample), zap.String("analyze", cfg.Schedule.Analyze))
	return nil
}

// Config is the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

func (d *Daemon) lookup(name string) (*target, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.targets {
		if t.name == name {
			return t, nil
		}
	}
	return nil, fmt.Errorf("target %q: %w", name, errUnknownTarget)
}

// Sample takes one sample of target name, as the schedule does: unless the
// target is backing off after failures, it reads pg_stat_statements and
// Ingests the snapshot. A failure marks the target down and backs off.
func (d *Daemon) Sample(ctx context.Context, name string) error {
	t, err := d.lookup(name)
	if err != nil {
		return err
	}
	return d.sample(ctx, t)
}

func (d *Daemon) sample(ctx context.Context, t *target) error {
	t.sampleMu.Lock()
	defer t.sampleMu.Unlock()
	start := time.Now()
	if wait := t.backoffLeft(start); wait > 0 {
		t.log.Debug("sample skipped: backing off after failures", zap.Duration("next_attempt_in", wait))
		return nil
	}
	sctx, cancel := context.WithTimeout(ctx, sampleTimeout)
	defer cancel()
	snap, err := t.read(sctx)
	if err == nil {
		err = d.ingest(t, snap)
	}
	took := time.Since(start)
	if err != nil {
		if ctx.Err() != nil { // stopping: not the target's fault
			return ctx.Err()
		}
		t.closeConn(ctx)
		d.metrics.SampleDone(t.name, took, false)
		t.failed(time.Now(), err)
		return fmt.Errorf("sample target %s: %w", t.name, err)
	}
	d.metrics.SampleDone(t.name, took, true)
	t.sampled(snap)
	return nil
}

// Ingest adds a snapshot of target name to its window, saves the window
// when the last save is saveEvery old, and updates the statement metrics:
// what a successful sample does after reading pg_stat_statements.
func (d *Daemon) Ingest(name string, snap *collector.Snapshot) error {
	t, err := d.lookup(name)
	if err != nil {
		return err
	}
	if err := d.ingest(t, snap); err != nil {
		return err
	}
	t.sampled(snap)
	return nil
}

func (d *Daemon) ingest(t *target, snap *collector.Snapshot) error {
	defer d.idle.busy()
	if err := t.window.Add(snap); errors.Is(err, collector.ErrNotAfter) {
		// The clock went back, with no monotonic reading to follow it by
		// (a window restored from disk), not the target: skip the sample,
		// keep the window.
		t.log.Warn("sample dropped", zap.Error(err))
		return nil
	} else if err != nil {
		return err
	}
	t.mu.Lock()
	save, rank := due(snap.Time, t.savedAt, saveEvery), due(snap.Time, t.rankedAt, rankEvery)
	t.mu.Unlock()
	if save {
		// A failed save is the state directory's problem, not the
		// target's: the window stays in memory, and the next sample
		// tries again.
		if err := d.saveWindow(t); err != nil {
			save = false
			if d.store.Detached() != nil { // no retry mends it
				d.detached.Do(func() { d.log.Error("state file gone: nothing is saved until the advisor restarts", zap.Error(err)) })
			} else {
				t.log.Error("window not saved; retrying at the next sample", zap.Error(err))
			}
		}
	}
	var ranking *collector.Delta
	if rank {
		ranking = t.window.Delta(snap.Time.Add(-rankSpan))
	}
	d.metrics.Statements(t.name, snap, ranking)
	t.mu.Lock()
	if save {
		t.savedAt = snap.Time
	}
	if rank && ranking.Samples > 0 { // a window of one sample ranks nothing yet
		t.rankedAt = snap.Time
	}
	t.mu.Unlock()
	return nil
}

// currentNotifier is the notifier in force. A cycle looks it up when it
// has its report, not before the analysis: a reload meanwhile replaces the
// notifier, and the messages go to the channels configured now.
func (d *Daemon) currentNotifier() *exporter.Notifier {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.notifier
}

// Analyze runs one analysis cycle of target name, as the schedule does.
func (d *Daemon) Analyze(ctx context.Context, name string) error {
	t, err := d.lookup(name)
	if err != nil {
		return err
	}
	return d.analyze(ctx, t)
}

// analyze ranks and analyzes the span since the previous cycle, records
// built indexes and the recommendations, queues notifications and keeps
// the report for the API.
func (d *Daemon) analyze(ctx context.Context, t *target) error {
	defer d.idle.busy()
	t.analyzeMu.Lock()
	defer t.analyzeMu.Unlock()
	if t.down() {
		t.log.Info("analysis skipped: the target is down")
		return nil
	}
	d.mu.Lock()
	engine, sem := d.engine, d.sem
	d.mu.Unlock()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	case <-ctx.Done():
		return ctx.Err()
	}

	t.mu.Lock()
	analyzed, at, warnings := t.analyzed, t.cfg, slices.Clone(t.warnings)
	t.mu.Unlock()
	if analyzed.IsZero() {
		analyzed = t.window.MarkAt(t.window.LastSample().To.Add(-firstSpan))
	}
	delta := t.window.DeltaSince(analyzed)
	if delta.Samples == 0 {
		t.log.Info("analysis skipped: the window has no sample interval since the last cycle yet (it needs two samples)")
		return nil
	}

	start := time.Now()
	// The limit covers what the cycle reads besides the analysis: the
	// catalogs trackApplied looks for built indexes in.
	cycle, cancel := engine.Bound(ctx, "analysis cycle of "+t.name)
	defer cancel()
	// cycleFailed logs and counts a cycle that failed, not one the
	// agent's stop cut short.
	cycleFailed := func(err error) {
		t.log.Error("analysis cycle failed", zap.Error(err))
		d.metrics.CycleFailed(t.name)
	}
	r, err := engine.Analyze(cycle, at, delta, false)
	if err != nil {
		if ctx.Err() == nil {
			cycleFailed(err)
		}
		return fmt.Errorf("analyze target %s: %w", t.name, err)
	}
	if r.NothingAnalyzed() {
		// An empty report would close every open recommendation and zero
		// the findings' gauges: the span is analyzed again next cycle.
		err := fmt.Errorf("analyze target %s: no database could be analyzed: %s", t.name, strings.Join(r.Warnings, "; "))
		cycleFailed(err)
		return err
	}
	r.Warnings = append(r.Warnings, warnings...)

	records, err := d.store.Recommendations(t.name)
	if err != nil {
		t.log.Error("recommendation history unreadable", zap.Error(err))
	}
	r.Warnings = append(r.Warnings, d.trackApplied(cycle, t, at, records)...)
	if cycle.Err() != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err := fmt.Errorf("analyze target %s: %w", t.name, context.Cause(cycle))
		cycleFailed(err)
		return err
	}
	ch, err := d.currentNotifier().Notify(withServedStatements(r, delta, records))
	if err != nil {
		t.log.Error("recommendations not recorded or notified", zap.Error(err))
	}
	if records, err = d.store.Recommendations(t.name); err != nil {
		t.log.Error("recommendation history unreadable", zap.Error(err))
	}
	appliedIndexes, notes := applied(records, time.Now())
	r.Applied, r.Warnings = appliedIndexes, append(r.Warnings, notes...)

	took := time.Since(start)
	d.metrics.Applied(t.name, records)
	t.mu.Lock()
	last := t.report
	t.mu.Unlock()
	d.metrics.CycleDone(withLastFindings(r, last), took)
	t.mu.Lock()
	t.report, t.analyzed = r, delta.End()
	t.mu.Unlock()
	t.log.Info("analysis cycle done", zap.Time("from", delta.From), zap.Time("to", delta.To),
		zap.Int("statements", len(r.Statements)), zap.Int("findings", len(r.Findings)),
		zap.Int("recommendations", len(r.Recommendations)), zap.Int("new", len(ch.New)),
		zap.Int("realized", len(ch.Realized)), zap.Duration("took", took))
	return nil
}

// withLastFindings is r with the last report's findings in the databases
// r could not analyze: the findings gauges count them as they were, not
// as gone (an alert on their rise would fire when the database is back).
func withLastFindings(r, last *advisor.Report) *advisor.Report {
	if last == nil || len(r.Unanalyzed) == 0 {
		return r
	}
	out := *r
	out.Findings = slices.Clone(r.Findings)
	for _, f := range last.Findings {
		if slices.Contains(r.Unanalyzed, f.Database) {
			out.Findings = append(out.Findings, f)
		}
	}
	return &out
}

// due reports whether work last done at last is due again at now, every
// apart; a clock that went back past last makes it due at once, as the
// window's times followed the clock back (collector.Window.Add).
func due(now, last time.Time, every time.Duration) bool {
	d := now.Sub(last)
	return d >= every || d < 0
}
