package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/bench/oltp"
	"github.com/pgadvisor/pgadvisor/collector"
)

// oltpWorkload is the synthetic OLTP workload of package oltp.
type oltpWorkload struct {
	w          *oltp.Workload
	scale      float64
	seed       int64
	iterations int // fixed parameter sets per statement
}

func newOLTP(scale float64, seed int64, iterations int) (*oltpWorkload, error) {
	w, err := oltp.Generate(oltp.Options{Seed: seed, Scale: scale})
	if err != nil {
		return nil, err
	}
	return &oltpWorkload{w: w, scale: scale, seed: seed, iterations: iterations}, nil
}

func (o *oltpWorkload) name() string { return "oltp" }

func (o *oltpWorkload) describe() string {
	calls := 0
	for _, s := range o.w.Statements {
		calls += s.Calls
	}
	return fmt.Sprintf("synthetic OLTP (seed %d, scale %g): %d tables, %d rows, %d distinct statements, "+
		"%d calls in a Zipf-skewed mix on 2 sessions", o.seed, o.scale, len(o.w.Tables), o.w.TotalRows(), len(o.w.Statements), calls)
}

func (o *oltpWorkload) analysis(a analysisOptions) analysisOptions { return a }

func (o *oltpWorkload) load(ctx context.Context, e *env, db string) (loadInfo, error) {
	err := oltp.Load(ctx, e.cluster.DSN(db), o.w, 2, func(table string, done, total int) {
		if done%10 == 0 || done == total {
			e.log("oltp: loaded %d/%d tables", done, total)
		}
	})
	return loadInfo{}, err
}

// paramSeed separates the fixed parameter sets from the mix's.
const paramSeed = 1

func (o *oltpWorkload) statements(_ context.Context, _ *env, _ string, _ *collector.Catalog) ([]stmt, error) {
	out := make([]stmt, len(o.w.Statements))
	for i, s := range o.w.Statements {
		out[i] = stmt{Name: s.Name, SQL: s.SQL, Params: o.w.ParamSets(i, 1, paramSeed)[0], Calls: float64(s.Calls), Write: s.Write}
	}
	return out, nil
}

// drive runs every statement its share of the mix, with parameters of a
// stream of their own, in a shuffled order on two sessions.
func (o *oltpWorkload) drive(ctx context.Context, e *env, db string, _ []stmt) error {
	type call struct {
		i      int
		params []string
	}
	var calls []call
	for i, s := range o.w.Statements {
		for _, p := range o.w.ParamSets(i, s.Calls, paramSeed+1) {
			calls = append(calls, call{i, p})
		}
	}
	r := rand.New(rand.NewPCG(uint64(o.seed), 2))
	r.Shuffle(len(calls), func(a, b int) { calls[a], calls[b] = calls[b], calls[a] })

	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	for range 2 {
		wg.Go(func() {
			conn, err := pgx.Connect(ctx, e.cluster.DSN(db))
			if err != nil {
				errs <- err
				return
			}
			defer conn.Close(context.WithoutCancel(ctx))
			for {
				k := int(next.Add(1)) - 1
				if k >= len(calls) || ctx.Err() != nil {
					return
				}
				c := calls[k]
				if err := execText(ctx, conn, o.w.Statements[c.i].SQL, c.params); err != nil {
					if failed.Add(1) <= 5 {
						e.log("oltp: %s failed: %v", o.w.Statements[c.i].Name, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("oltp drive: %w", err)
	}
	if n := failed.Load(); n > int64(len(calls))/100 {
		return fmt.Errorf("oltp drive: %d of %d calls failed", n, len(calls))
	}
	return ctx.Err()
}

func (o *oltpWorkload) fixedSets(stmts []stmt) [][][]string {
	sets := make([][][]string, len(stmts))
	for i := range stmts {
		sets[i] = o.w.ParamSets(i, o.iterations, paramSeed)
	}
	return sets
}
