package oltp

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5"
)

// Load creates w's tables in the empty database dsn names, fills them,
// adds keys and indexes, and vacuums and analyzes them (so index-only
// scans work from the start). workers sessions load tables side by side;
// progress, when set, is told each table that is done.
func Load(ctx context.Context, dsn string, w *Workload, workers int, progress func(table string, done, total int)) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("oltp load: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for _, s := range w.SchemaSQL() {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("oltp load: create tables: %w", err)
		}
	}
	jobs := make(chan *Table)
	errs := make(chan error, max(1, workers))
	var mu sync.Mutex
	done := 0
	var wg sync.WaitGroup
	for range max(1, workers) {
		wg.Go(func() {
			c, err := pgx.Connect(ctx, dsn)
			if err != nil {
				errs <- fmt.Errorf("oltp load: connect: %w", err)
				for range jobs {
				}
				return
			}
			defer c.Close(context.WithoutCancel(ctx))
			for t := range jobs {
				if err := loadTable(ctx, c, w, t); err != nil {
					errs <- err
					for range jobs {
					}
					return
				}
				mu.Lock()
				done++
				if progress != nil {
					progress(t.Name, done, len(w.Tables))
				}
				mu.Unlock()
			}
		})
	}
	go func() {
		defer close(jobs)
		for _, t := range w.Tables {
			select {
			case jobs <- t:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	// Foreign keys need the parents' primary keys: after every table.
	for _, t := range w.Tables {
		for _, s := range w.KeysSQL(t)[1:] {
			if _, err := conn.Exec(ctx, s); err != nil {
				return fmt.Errorf("oltp load: %s: %w", s, err)
			}
		}
	}
	if _, err := conn.Exec(ctx, "VACUUM (ANALYZE)"); err != nil {
		return fmt.Errorf("oltp load: vacuum analyze: %w", err)
	}
	return nil
}

func loadTable(ctx context.Context, c *pgx.Conn, w *Workload, t *Table) error {
	// The session's statistics are flushed at once, not when its backend
	// exits: a flush after the VACUUM below would count the rows twice in
	// n_live_tup.
	for _, s := range []string{"SET synchronous_commit = off", w.SeedSQL(t), w.LoadSQL(t), w.KeysSQL(t)[0], "SELECT pg_stat_force_next_flush()"} {
		if _, err := c.Exec(ctx, s); err != nil {
			return fmt.Errorf("oltp load: table %s: %w", t.Name, err)
		}
	}
	return nil
}
