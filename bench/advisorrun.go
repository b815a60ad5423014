package main

import (
	"context"
	"fmt"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// analysisOptions are the knobs `advisor report` has, as the benchmark
// passes them to the engine.
type analysisOptions struct {
	BudgetBytes int64 `json:"budget_bytes"` // 0: no bound
	MaxPerTable int   `json:"max_indexes_per_table"`
	MinCalls    int64 `json:"min_calls"`
	Top         int   `json:"top"` // 0: every statement
}

func (o analysisOptions) engine(progress func(string)) advisor.Options {
	return advisor.Options{
		Rank:     collector.RankOptions{By: collector.ByTotalTime, MinCalls: o.MinCalls, Top: o.Top},
		Select:   advisor.SelectOptions{MaxPerTable: o.MaxPerTable, BudgetBytes: o.BudgetBytes},
		Progress: progress,
	}
}

// advisorRun is one run of the engine as `advisor report` makes it, timed.
type advisorRun struct {
	Options analysisOptions `json:"options"`
	// Wall time of the phases, in seconds. WhatIfSelect is HypoPG costing
	// and selection together (the engine reports no boundary between
	// them); WhatIfDB is the part of it spent inside the EXPLAIN target.
	WallSeconds     float64 `json:"wall_seconds"`
	SampleSeconds   float64 `json:"sample_seconds"`
	CatalogSeconds  float64 `json:"catalog_seconds"`
	ExplainSeconds  float64 `json:"explain_seconds"`
	WhatIfSelectSec float64 `json:"whatif_select_seconds"`
	WhatIfDBSeconds float64 `json:"whatif_db_seconds"`
	// Analyzed is how many statements the engine ranked and explained;
	// OneExecutionSec is one execution of each of them (their mean
	// execution time in the recorded mix), the floor EXPLAIN ANALYZE costs.
	Analyzed        int     `json:"analyzed"`
	OneExecutionSec float64 `json:"one_execution_seconds"`
	// PeakHeapMB is the largest Go heap (runtime/metrics, sampled every
	// 20 ms) during the run: the engine's memory, the benchmark's own
	// steady heap included.
	PeakHeapMB  float64 `json:"peak_heap_mb"`
	HypoPGCalls int64   `json:"hypopg_calls"` // hypothetical indexes created
	PlanCalls   int64   `json:"plan_calls"`   // EXPLAINs during what-if costing
	// AdvisorDBms is the advisor's own database time (statements with the
	// marker, on the primary and the replica); WorkloadDBms the recorded
	// mix's.
	AdvisorDBms  float64 `json:"advisor_db_ms"`
	WorkloadDBms float64 `json:"workload_db_ms"`

	// Explained is how the engine explained each statement it analyzed.
	Explained []explained `json:"explained"`

	Report *advisor.Report `json:"-"`
}

// explained is one analyzed statement as the engine saw it.
type explained struct {
	Query   string  `json:"query"` // the normalized text pg_stat_statements recorded
	Calls   int64   `json:"calls"`
	MeanMS  float64 `json:"mean_ms"`
	Mode    string  `json:"mode"`
	Reason  string  `json:"reason,omitempty"`
	Outcome string  `json:"outcome,omitempty"`
	Error   string  `json:"error,omitempty"`
}

// watchHeap samples the Go heap until the returned function is called,
// which reports the largest size seen, in bytes.
func watchHeap() func() uint64 {
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	var peak atomic.Uint64
	read := func() {
		metrics.Read(sample)
		if v := sample[0].Value.Uint64(); v > peak.Load() {
			peak.Store(v)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			read()
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		read()
		return peak.Load()
	}
}

// pgssTotals are sums over pg_stat_statements' top-level entries.
type pgssTotals struct {
	OwnMS, OtherMS  float64
	HypoPG, Explain int64
}

const pgssTotalsSQL = `SELECT
	coalesce(sum(total_exec_time) FILTER (WHERE query LIKE '` + dbconn.Marker + `%'), 0),
	coalesce(sum(total_exec_time) FILTER (WHERE query NOT LIKE '` + dbconn.Marker + `%'), 0),
	coalesce(sum(calls) FILTER (WHERE query LIKE '%hypopg_create_index%'), 0)::bigint,
	coalesce(sum(calls) FILTER (WHERE query LIKE '` + dbconn.Marker + `EXPLAIN%'), 0)::bigint
  FROM pg_stat_statements WHERE toplevel`

func readTotals(ctx context.Context, conn *pgx.Conn) (pgssTotals, error) {
	var t pgssTotals
	err := conn.QueryRow(ctx, pgssTotalsSQL).Scan(&t.OwnMS, &t.OtherMS, &t.HypoPG, &t.Explain)
	if err != nil {
		return t, fmt.Errorf("read pg_stat_statements totals: %w", err)
	}
	return t, nil
}

// runAdvisor samples pg_stat_statements and analyzes the cumulative window
// with the engine, as `advisor report` does without --interval, and times
// each phase from the engine's progress reports. The advisor's database
// time is read as the difference of pg_stat_statements totals around the
// run, on both servers.
func runAdvisor(ctx context.Context, e *env, db string, o analysisOptions, log *zap.Logger) (*advisorRun, error) {
	primary, err := e.connect(ctx, "postgres", false)
	if err != nil {
		return nil, err
	}
	defer primary.Close(context.WithoutCancel(ctx))
	replica, err := e.connect(ctx, "postgres", true)
	if err != nil {
		return nil, err
	}
	defer replica.Close(context.WithoutCancel(ctx))
	p0, err := readTotals(ctx, primary)
	if err != nil {
		return nil, err
	}
	r0, err := readTotals(ctx, replica)
	if err != nil {
		return nil, err
	}

	var catalogAt, explainAt, whatIfAt time.Time
	var rWhatIf pgssTotals
	var progressErr error
	progress := func(stage string) {
		now := time.Now()
		switch {
		case strings.HasSuffix(stage, ": catalog") && catalogAt.IsZero():
			catalogAt = now
		case strings.Contains(stage, ": explain ") && explainAt.IsZero():
			explainAt = now
		case strings.HasSuffix(stage, ": what-if costing") && whatIfAt.IsZero():
			whatIfAt = now
			rWhatIf, progressErr = readTotals(ctx, replica)
			// Reading the totals is the benchmark's time, not the advisor's.
			whatIfAt = time.Now()
		}
	}
	engine := advisor.NewEngine(log, o.engine(progress))
	target := advisor.Target{
		Name: db, DSN: e.cluster.DSN(db), ReplicaDSN: e.cluster.ReplicaDSN(db),
		Databases: collector.NameFilter{Include: []string{db}},
	}
	peak := watchHeap()
	start := time.Now()
	snap, err := engine.Sample(ctx, target)
	if err != nil {
		return nil, err
	}
	sampled := time.Now()
	if !snap.Sampled {
		return nil, fmt.Errorf("pg_stat_statements of %s could not be read", db)
	}
	window, err := advisor.CumulativeWindow(snap)
	if err != nil {
		return nil, err
	}
	rep, err := engine.Analyze(ctx, target, window.SinceStart(), true)
	if err != nil {
		return nil, err
	}
	end := time.Now()
	peakHeap := peak()
	if progressErr != nil {
		return nil, progressErr
	}
	p1, err := readTotals(ctx, primary)
	if err != nil {
		return nil, err
	}
	r1, err := readTotals(ctx, replica)
	if err != nil {
		return nil, err
	}
	run := &advisorRun{Options: o, Report: rep, Analyzed: len(rep.Statements), PeakHeapMB: float64(peakHeap) / (1 << 20)}
	run.WallSeconds = end.Sub(start).Seconds()
	run.SampleSeconds = sampled.Sub(start).Seconds()
	if !catalogAt.IsZero() && !explainAt.IsZero() && !whatIfAt.IsZero() {
		run.CatalogSeconds = explainAt.Sub(catalogAt).Seconds()
		run.ExplainSeconds = whatIfAt.Sub(explainAt).Seconds()
		run.WhatIfSelectSec = end.Sub(whatIfAt).Seconds()
		run.WhatIfDBSeconds = (r1.OwnMS - rWhatIf.OwnMS) / 1000
		run.PlanCalls = r1.Explain - rWhatIf.Explain
	}
	run.HypoPGCalls = r1.HypoPG - r0.HypoPG
	run.AdvisorDBms = (p1.OwnMS - p0.OwnMS) + (r1.OwnMS - r0.OwnMS)
	run.WorkloadDBms = p0.OtherMS
	for _, s := range rep.Statements {
		run.OneExecutionSec += s.MeanExecTimeMS / 1000
		run.Explained = append(run.Explained, explained{Query: s.Query, Calls: s.Calls, MeanMS: s.MeanExecTimeMS,
			Mode: s.Explain.Mode, Reason: s.Explain.Reason, Outcome: s.Explain.Outcome, Error: s.Explain.Error})
	}
	return run, nil
}
