package daemon

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// The Daemon is what the HTTP API serves.
var _ exporter.API = (*Daemon)(nil)

// Targets names the configured targets, in configuration order.
func (d *Daemon) Targets() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	names := make([]string, len(d.targets))
	for i, t := range d.targets {
		names[i] = t.name
	}
	return names
}

// Report is the latest report of target name; nil before its first cycle.
func (d *Daemon) Report(name string) *advisor.Report {
	t, err := d.lookup(name)
	if err != nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.report
}

// OpenRecommendations lists what the latest cycle of each target
// recommends, largest estimated improvement first.
func (d *Daemon) OpenRecommendations() ([]exporter.OpenRecommendation, error) {
	var out []exporter.OpenRecommendation
	for _, name := range d.Targets() {
		records, err := d.store.Recommendations(name)
		if err != nil {
			return nil, err
		}
		for _, rd := range records {
			if rd.Status == state.StatusOpen {
				out = append(out, exporter.OpenRecommendation{Target: name, Recommendation: rd.Recommendation,
					FirstSeen: rd.FirstSeen, LastSeen: rd.LastSeen})
			}
		}
	}
	slices.SortStableFunc(out, func(a, b exporter.OpenRecommendation) int {
		return cmp.Or(cmp.Compare(b.ImprovementPct, a.ImprovementPct), cmp.Compare(a.Target, b.Target), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// Ready is nil when some target was sampled within the last three sample
// intervals.
func (d *Daemon) Ready() error {
	d.mu.Lock()
	spec, targets := d.cfg.Schedule.Sample, slices.Clone(d.targets)
	d.mu.Unlock()
	now := time.Now()
	iv, err := interval(spec, now)
	if err != nil {
		return err
	}
	within := readyIntervals * iv
	var newest time.Time
	for _, t := range targets {
		t.mu.Lock()
		if t.lastOK.After(newest) {
			newest = t.lastOK
		}
		t.mu.Unlock()
	}
	switch {
	case newest.IsZero():
		return errors.New("no target sampled successfully yet")
	case now.Sub(newest) > within:
		return fmt.Errorf("no target sampled successfully in the last %s (the last success was %s ago)",
			within, now.Sub(newest).Round(time.Second))
	}
	return nil
}
