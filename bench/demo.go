package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/demo"
)

// demoWorkload is the demo's multi-tenant SaaS application
// (internal/demo): its schema, data, call mix and fixed-parameter runs.
type demoWorkload struct {
	scale      float64
	seed       int64
	driveFor   time.Duration
	iterations int
}

func (d *demoWorkload) name() string { return "demo" }

func (d *demoWorkload) describe() string {
	return fmt.Sprintf("the demo's multi-tenant SaaS workload (internal/demo) at scale %g: %d statements, "+
		"its mix played for %s on 2 sessions", d.scale, len(demo.Statements()), d.driveFor)
}

func (d *demoWorkload) analysis(o analysisOptions) analysisOptions { return o }

func (d *demoWorkload) load(ctx context.Context, e *env, db string) (loadInfo, error) {
	// The demo's settings that a database can carry (work_mem, jit) go on
	// its database, so the other workloads keep the server's defaults.
	for k, v := range demo.SandboxSettings() {
		if err := e.cluster.Exec(ctx, "postgres", fmt.Sprintf("ALTER DATABASE %s SET %s = '%s'", db, k, v)); err != nil {
			return loadInfo{}, fmt.Errorf("demo setting %s: %w", k, err)
		}
	}
	err := demo.Load(ctx, e.cluster.DSN(db), demo.Options{Scale: d.scale, Seed: d.seed, Progress: func(stage string, done, total int64) {
		e.log("demo: load %d/%d %s", done, total, stage)
	}})
	return loadInfo{}, err
}

// statements are the demo's statements; their planning parameters come
// from planParams.
func (d *demoWorkload) statements(_ context.Context, _ *env, _ string, _ *collector.Catalog) ([]stmt, error) {
	var out []stmt
	for _, s := range demo.Statements() {
		out = append(out, stmt{Name: s.Name, SQL: s.SQL, Write: !s.ReadOnly})
	}
	return out, nil
}

// planParams gives the statements the parameters
// explain.SynthesizeTypicalParams picks from the statistics and the rows
// per call the mix recorded (the demo keeps the values it draws to
// itself), so they are the same values the advisor's what-if costing sees.
// The measured latencies use the demo's own parameter sets (demo.RunFixed).
func (d *demoWorkload) planParams(ctx context.Context, e *env, db string, cat *collector.Catalog, stmts []stmt) error {
	conn, err := e.connect(ctx, db, false)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for i, s := range stmts {
		params, err := explain.SynthesizeTypicalParams(ctx, conn, cat, s.SQL, s.RowsPerCall)
		if err != nil {
			e.log("demo: %s: no parameters synthesized (%v): costed by its generic plan", s.Name, err)
			continue
		}
		stmts[i].Params = explain.ParamValues(params)
	}
	return nil
}

func (d *demoWorkload) drive(ctx context.Context, e *env, db string, _ []stmt) error {
	_, err := demo.RunWorkload(ctx, e.cluster.DSN(db), demo.WorkloadOptions{Duration: d.driveFor, Workers: 2, Seed: d.seed})
	return err
}

// fixedSets: the demo measures itself (demo.RunFixed).
func (d *demoWorkload) fixedSets([]stmt) [][][]string { return nil }

func (d *demoWorkload) measure(ctx context.Context, e *env, db string, stmts []stmt) ([]latency, error) {
	// The fixed runs stay out of pg_stat_statements, like the benchmark's
	// own statements.
	dsn := e.cluster.DSN(db) + "&options=" + strings.ReplaceAll(url.PathEscape("-c pg_stat_statements.track=none"), "=", "%3D")
	stats, err := demo.RunFixed(ctx, dsn, d.iterations, d.seed)
	if err != nil {
		return nil, err
	}
	out := make([]latency, len(stmts))
	for i, s := range stmts {
		for _, q := range stats {
			if q.Name == s.Name {
				out[i] = latency{Runs: int(q.Calls), MeanMS: ms(q.Mean), MedianMS: ms(q.Median), P95MS: ms(q.P95)}
			}
		}
	}
	return out, nil
}
