package main

import (
	"context"
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
// alike.
func measurePaired(ctx context.Context, e *env, db string, stmts []stmt, sets [][][]string, drops indexDrops, rounds int) (before, after []latency, err error) {
	conn, err := e.connect(ctx, db, false)
	if err != nil {
		return nil, nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	type runs struct {
		d      []time.Duration
		errors int
	}
	b := make([]runs, len(stmts))
	a := make([]runs, len(stmts))
	for r := range max(1, rounds) {
		for i, s := range stmts {
			dropped := drops(s.SQL)
			// An untimed run on each side first, every round: the other
			// side's drop or rollback leaves the table's cached catalog
			// entries to rebuild, which the next run would pay.
			warm := len(sets[i]) > 1
			measureAfter := func() error {
				d, errs, err := timeRuns(ctx, e, conn, s, sets[i], nil, warm)
				a[i].d, a[i].errors = append(a[i].d, d...), a[i].errors+errs
				return err
			}
			measureBefore := func() error {
				d, errs, err := timeRuns(ctx, e, conn, s, sets[i], dropped, warm)
				b[i].d, b[i].errors = append(b[i].d, d...), b[i].errors+errs
				return err
			}
			first, second := measureAfter, measureBefore
			if r%2 == 1 {
				first, second = second, first
			}
			if err := first(); err != nil {
				return nil, nil, err
			}
			if err := second(); err != nil {
				return nil, nil, err
			}
		}
	}
	before, after = make([]latency, len(stmts)), make([]latency, len(stmts))
	for i := range stmts {
		before[i], after[i] = latencyOf(b[i].d, b[i].errors), latencyOf(a[i].d, a[i].errors)
	}
	return before, after, nil
}

// timeRuns runs s once with each parameter set and times each run, inside
// a transaction that drops the indexes named first and is rolled back
// afterwards (both sides run so, writes included: neither commits). Each
// run gets a savepoint, so that a failed run, counted as an error, does
// not abort the rest. The error return is for a cancelled context or a
// failed drop.
func timeRuns(ctx context.Context, e *env, conn *pgx.Conn, s stmt, sets [][]string, drops []string, warm bool) (d []time.Duration, errors int, err error) {
	err = withoutIndexes(ctx, conn, drops, func() error {
		if warm {
			if err := savepointed(ctx, conn, func() error { return execText(ctx, conn, s.SQL, sets[0]) }); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
		for _, p := range sets {
			var took time.Duration
			err := savepointed(ctx, conn, func() error {
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

// savepointed runs f under a savepoint, rolled back to when f fails.
func savepointed(ctx context.Context, conn *pgx.Conn, f func() error) error {
	if _, err := conn.Exec(ctx, "SAVEPOINT run"); err != nil {
		return err
	}
	if err := f(); err != nil {
		_, _ = conn.Exec(ctx, "ROLLBACK TO SAVEPOINT run")
		return err
	}
	_, err := conn.Exec(ctx, "RELEASE SAVEPOINT run")
	return err
}
