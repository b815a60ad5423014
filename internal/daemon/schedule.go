package daemon

import (
	"context"
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
	"go.uber.org/zap"
)

// scheduler runs the jobs of one configuration generation on cron specs.
// A job whose previous run is still going is skipped, not stacked, and a
// panic in a job is logged instead of ending the process.
type scheduler struct {
	cron   *cron.Cron
	log    *zap.Logger
	onSkip func(target, job string)
	anchor time.Time // "@every" runs fall on anchor + k * interval
}

// newScheduler returns a scheduler whose "@every" jobs keep the phase of
// anchor (the agent's start), so that the scheduler a reload builds does
// not push every run a whole interval away.
func newScheduler(log *zap.Logger, onSkip func(target, job string), anchor time.Time) *scheduler {
	return &scheduler{
		cron:   cron.New(cron.WithLogger(cronLogger{log: log})),
		log:    log,
		onSkip: onSkip,
		anchor: anchor,
	}
}

// add schedules run as job of target on spec (five fields or a descriptor
// such as "@every 1m") and returns the wrapped job, whose Run shares the
// skip-if-still-running state of the scheduled runs.
func (s *scheduler) add(spec, target, job string, run func()) (cron.Job, error) {
	l := cronLogger{log: s.log.With(zap.String("target", target), zap.String("job", job)),
		onSkip: func() { s.onSkip(target, job) }}
	j := cron.NewChain(cron.Recover(l), cron.SkipIfStillRunning(l)).Then(cron.FuncJob(run))
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %s of target %s: %q: %w", job, target, spec, err)
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok {
		sched = anchoredEvery{every: every.Delay, anchor: s.anchor}
	}
	s.cron.Schedule(sched, j)
	return j, nil
}

// anchoredEvery runs every interval at anchor + k * every.
type anchoredEvery struct {
	every  time.Duration
	anchor time.Time
}

// Next implements cron.Schedule.
func (a anchoredEvery) Next(t time.Time) time.Time {
	if t.Before(a.anchor) {
		return a.anchor
	}
	return a.anchor.Add((t.Sub(a.anchor)/a.every + 1) * a.every)
}

func (s *scheduler) start() { s.cron.Start() }

// stop stops scheduling runs; the context is done when the runs already
// started have returned.
func (s *scheduler) stop() context.Context { return s.cron.Stop() }

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

// interval is the time between two runs of spec after now: exact for
// "@every" specs, the next gap for others.
func interval(spec string, now time.Time) (time.Duration, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return 0, fmt.Errorf("schedule %q: %w", spec, err)
	}
	next := s.Next(now)
	return s.Next(next).Sub(next), nil
}
