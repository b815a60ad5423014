package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// measurePaired measures every statement before and after the advisor's
// indexes side by side, once they are built: "after" runs as the database
// now is; "before" runs after dropping the new indexes on the statement's
// tables inside a transaction that is rolled back (a dropped index is
// neither planned with nor maintained by writes there, and rolling back
// keeps its files). The two alternate statement by statement and swap order every
// round, so that load from other processes on the machine falls on both
// alike. A statement that comes out slower (a regression) is measured for
// confirmRounds x rounds more and judged on all its runs: on this shared
// machine a sub-millisecond read with an unchanged plan is often 10% slower
// over three rounds, and rarely over nine.
func measurePaired(ctx context.Context, e *env, db string, stmts []stmt, sets [][][]string, drops indexDrops, rounds int) (before, after []latency, err error) {
	conn, err := e.connect(ctx, db, false)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	p := pairedRuns{before: make([]runs, len(stmts)), after: make([]runs, len(stmts))}
	all := make([]int, len(stmts))
	for i := range all {
		all[i] = i
	}
	if err := p.measure(ctx, e, conn, stmts, sets, drops, all, max(1, rounds)); err != nil {
		return nil, nil, err
	}
	before, after = p.latencies()
	var slow []int
	for i := range stmts {
		if slower(before[i], after[i]) {
			slow = append(slow, i)
		}
	}
	if len(slow) > 0 {
		e.log("%s: %d statements slower after; measuring them %d rounds more", db, len(slow), confirmRounds*max(1, rounds))
		if err := p.measure(ctx, e, conn, stmts, sets, drops, slow, confirmRounds*max(1, rounds)); err != nil {
			return nil, nil, err
		}
		before, after = p.latencies()
	}
	return before, after, nil
}

// confirmRounds: a statement found slower is measured this many times
// the rounds again.
const confirmRounds = 2

// runs are one side's timings of one statement.
type runs struct {
	d      []time.Duration
	errors int
}

// pairedRuns are every statement's timings before and after.
type pairedRuns struct{ before, after []runs }

// measure times the statements at positions only, rounds times, both sides
// alternating.
func (p *pairedRuns) measure(ctx context.Context, e *env, conn *pgx.Conn, stmts []stmt, sets [][][]string, drops indexDrops, only []int, rounds int) error {
	for r := range rounds {
		for _, i := range only {
			s := stmts[i]
			dropped := drops(s.SQL)
			side := func(rs *runs, drop []string) func() error {
				return func() error {
					d, errs, err := timeRuns(ctx, e, conn, s, sets[i], drop)
					rs.d, rs.errors = append(rs.d, d...), rs.errors+errs
					return err
				}
			}
			first, second := side(&p.after[i], nil), side(&p.before[i], dropped)
			if r%2 == 1 {
				first, second = second, first
			}
			if err := first(); err != nil {
				return err
			}
			if err := second(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (p *pairedRuns) latencies() (before, after []latency) {
	before, after = make([]latency, len(p.before)), make([]latency, len(p.after))
	for i := range p.before {
		before[i], after[i] = latencyOf(p.before[i].d, p.before[i].errors), latencyOf(p.after[i].d, p.after[i].errors)
	}
	return before, after
}

// timeRuns runs s once with each parameter set and times each run, inside
// a transaction that drops the indexes named first and is rolled back
// afterwards (both sides run so, writes included: neither commits). Each
// run is undone (rolled back to a savepoint), so that every run finds the
// same data and a failed run, counted as an error, does not abort the
// rest. The error return is for a cancelled context or a failed drop.
//
// An untimed pass over the parameter sets comes first. The other side's
// drop or rollback leaves the table's cached catalog entries to rebuild,
// and the side that runs first after another statement would otherwise
// read into the cache what that statement pushed out, for the second side
// to find there. Sides alternate every round, but an odd number of rounds
// leaves one side first more often, and TPC-H at SF 1 (one round, one
// literal query) always timed "after" first, cold. Warm, each side is
// timed as a statement that runs often runs.
func timeRuns(ctx context.Context, e *env, conn *pgx.Conn, s stmt, sets [][]string, drops []string) (d []time.Duration, errors int, err error) {
	err = withoutIndexes(ctx, conn, drops, func() error {
		for _, p := range sets {
			if err := undone(ctx, conn, func() error { return execText(ctx, conn, s.SQL, p) }); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		for _, p := range sets {
			var took time.Duration
			err := undone(ctx, conn, func() error {
				start := time.Now()
				err := execText(ctx, conn, s.SQL, p)
				took = time.Since(start)
				return err
			})
			d = append(d, took)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err != nil {
				errors++
				e.log("%s failed: %v", s.Name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("measure without the new indexes: %w", err)
	}
	return d, errors, nil
}

// withoutIndexes runs f in a transaction that first drops the indexes
// named, and is rolled back afterwards.
func withoutIndexes(ctx context.Context, conn *pgx.Conn, drops []string, f func() error) error {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	defer conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	for _, name := range drops {
		if _, err := conn.Exec(ctx, "DROP INDEX "+name); err != nil {
			return fmt.Errorf("drop %s: %w", name, err)
		}
	}
	return f()
}

// undone runs f under a savepoint that is always rolled back to, so that
// every run of a write finds the table as the run before it did. Released
// instead, each run's row versions would stay, live to this still open
// transaction: the pages of a small table would fill up, its updates would
// stop being HOT, and from then on a write would add an entry to every
// index, the new ones included, where a committed workload's pruning and
// VACUUM keep room for HOT updates. A rolled-back version is dead at once,
// and pruned as such.
func undone(ctx context.Context, conn *pgx.Conn, f func() error) error {
	if _, err := conn.Exec(ctx, "SAVEPOINT run"); err != nil {
		return err
	}
	ferr := f()
	if _, err := conn.Exec(ctx, "ROLLBACK TO SAVEPOINT run"); err != nil {
		return errors.Join(ferr, err)
	}
	return ferr
}
