package daemon

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/config"
)

// scheduler runs the jobs of one configuration generation on cron specs.
// A job whose previous run is still going is skipped, not stacked, and a
// panic in a job is logged instead of ending the process.
//
// robfig/cron sleeps on the monotonic clock but decides what is due by the
// wall clock: after the wall clock steps back by S (NTP correcting a VM
// that booted fast), nothing would run for S. The scheduler watches for
// such steps, moves the phase by the step and has cron plan again.
type scheduler struct {
	cron   *cron.Cron
	log    *zap.Logger
	onSkip func(target, job string)
	phase  *phase

	mu      sync.Mutex
	stopped bool
	done    chan struct{} // closed by stop: ends watchClock
}

// phase is the anchor of "@every" runs, anchor + k * interval, shared by
// the schedulers that reloads build, so that a new one does not push every
// run a whole interval away; a step of the wall clock moves it.
type phase struct {
	mu     sync.Mutex
	anchor time.Time
}

func newPhase(anchor time.Time) *phase { return &phase{anchor: anchor.Round(0)} }

func (p *phase) get() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.anchor
}

func (p *phase) shift(d time.Duration) {
	p.mu.Lock()
	p.anchor = p.anchor.Add(d)
	p.mu.Unlock()
}

func newScheduler(log *zap.Logger, onSkip func(target, job string), p *phase) *scheduler {
	return &scheduler{
		cron:   cron.New(cron.WithLogger(cronLogger{log: log})),
		log:    log,
		onSkip: onSkip,
		phase:  p,
		done:   make(chan struct{}),
	}
}

// add schedules run as job of target on spec (five fields or a descriptor
// such as "@every 1m") and returns the wrapped job, whose Run shares the
// skip-if-still-running state of the scheduled runs.
func (s *scheduler) add(spec, target, job string, run func()) (cron.Job, error) {
	l := cronLogger{log: s.log.With(zap.String("target", target), zap.String("job", job)),
		onSkip: func() { s.onSkip(target, job) }}
	j := cron.NewChain(cron.Recover(l), cron.SkipIfStillRunning(l)).Then(cron.FuncJob(run))
	sched, err := config.ParseSchedule(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %s of target %s: %q: %w", job, target, spec, err)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		sched = anchoredEvery{every: every.Delay, phase: s.phase}
	}
	s.cron.Schedule(sched, j)
	return j, nil
}

// anchoredEvery runs every interval at anchor + k * every.
type anchoredEvery struct {
	every time.Duration
	phase *phase
}

// Next implements cron.Schedule.
func (a anchoredEvery) Next(t time.Time) time.Time {
	anchor := a.phase.get()
	if t.Before(anchor) {
		return anchor
	}
	return anchor.Add((t.Sub(anchor)/a.every + 1) * a.every)
}

func (s *scheduler) start() {
	s.cron.Start()
	go s.watchClock(systemClock, clockCheckEvery)
}

// stop stops scheduling runs; the context is done when the runs already
// started have returned.
func (s *scheduler) stop() context.Context {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.stopped {
		s.stopped = true
		close(s.done)
	}
	return s.cron.Stop()
}

const (
	// clockCheckEvery is how often the scheduler compares the wall clock
	// with the monotonic one; minClockStep is the smallest step it follows
	// (a slewing NTP never comes near it).
	clockCheckEvery = 10 * time.Second
	minClockStep    = 5 * time.Second
)

// clock reads the wall clock and the monotonic one (as time since some
// fixed point).
type clock func() (wall time.Time, mono time.Duration)

var monoOrigin = time.Now()

func systemClock() (time.Time, time.Duration) {
	now := time.Now()
	return now.Round(0), now.Sub(monoOrigin) // Round(0) drops the monotonic reading
}

// watchClock follows steps of the wall clock until stop: every check
// interval it compares how far the wall clock moved with how far the
// monotonic one did.
func (s *scheduler) watchClock(read clock, every time.Duration) {
	tick := time.NewTicker(every)
	defer tick.Stop()
	lastWall, lastMono := read()
	for {
		select {
		case <-s.done:
			return
		case <-tick.C:
		}
		wall, mono := read()
		if step := wall.Sub(lastWall) - (mono - lastMono); step.Abs() >= minClockStep {
			s.followStep(step)
		}
		lastWall, lastMono = wall, mono
	}
}

// followStep moves the phase by a step of the wall clock and has cron plan
// every entry's next run again from the wall clock's new reading.
func (s *scheduler) followStep(step time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return
	}
	s.log.Warn("the wall clock stepped; scheduling again from its new reading", zap.Duration("step", step))
	s.phase.shift(step)
	s.cron.Stop() // the runs going on go on; Start plans from now
	s.cron.Start()
}

// cronLogger passes robfig/cron's log lines to zap: its routine lines at
// debug, skipped runs at info (and to onSkip), errors (panics) at error.
type cronLogger struct {
	log    *zap.Logger
	onSkip func()
}

func (l cronLogger) Info(msg string, keysAndValues ...any) {
	if msg == "skip" && l.onSkip != nil { // SkipIfStillRunning's line
		l.onSkip()
		l.log.Info("run skipped: the previous run is still going")
		return
	}
	l.log.Debug("cron: "+msg, zap.Any("details", keysAndValues))
}

func (l cronLogger) Error(err error, msg string, keysAndValues ...any) {
	l.log.Error("cron: "+msg, zap.Error(err), zap.Any("details", keysAndValues))
}

// longestInterval is the longest time between two runs of spec in the
// week after now: a weekday schedule's Monday run follows Friday's by
// three days, whatever the next gap.
func longestInterval(spec string, now time.Time) (time.Duration, error) {
	s, err := config.ParseSchedule(spec)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", spec, err)
	}
	if every, ok := s.(cron.ConstantDelaySchedule); ok {
		return every.Delay, nil
	}
	var longest time.Duration
	end := now.Add(8 * 24 * time.Hour)
	for prev := s.Next(now); !prev.IsZero(); {
		next := s.Next(prev) // zero when there is no run in the next five years
		if next.IsZero() || longest > 0 && next.After(end) {
			break
		}
		longest, prev = max(longest, next.Sub(prev)), next
	}
	return longest, nil
}

// interval is the time between two runs of spec after now: exact for
// "@every" specs, the next gap for others.
func interval(spec string, now time.Time) (time.Duration, error) {
	s, err := config.ParseSchedule(spec)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", spec, err)
	}
	next := s.Next(now)
	return s.Next(next).Sub(next), nil
}
