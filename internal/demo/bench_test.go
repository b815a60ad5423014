package demo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// BenchmarkLoad loads a fresh database at $BENCH_SCALE (default 1, the
// demo's size) on a primary with a streaming replica, as the demo runs,
// and logs the load's steps, the time until the replica has it all, and
// every table's rows and size:
//
//	BENCH_SCALE=1 go test -run '^$' -bench Load -benchtime 1x ./internal/demo
func BenchmarkLoad(b *testing.B) {
	scale := 1.0
	if s := os.Getenv("BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatalf("BENCH_SCALE=%q: %v", s, err)
		}
		scale = v
	}
	c := pgsandbox.Start(b, pgsandbox.Options{Replica: true, Extensions: []string{"pg_stat_statements"}, Settings: SandboxSettings()})
	ctx := context.Background()
	for i := 0; b.Loop(); i++ {
		db := fmt.Sprintf("bench_load_%d", i)
		if err := c.CreateDatabase(ctx, db); err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		err := Load(ctx, c.DSN(db), Options{Scale: scale, Seed: 1, Progress: func(stage string, done, total int64) {
			b.Logf("%5.1fs %2d/%d %s", time.Since(start).Seconds(), done, total, stage)
		}})
		if err != nil {
			b.Fatal(err)
		}
		loaded := time.Since(start)
		if err := c.WaitReplay(ctx); err != nil {
			b.Fatal(err)
		}
		b.Logf("scale %v loaded in %v, on the replica after %v", scale, loaded.Round(time.Millisecond), time.Since(start).Round(time.Millisecond))
		b.StopTimer()
		logSizes(b, c.DSN(db))
		if err := c.Exec(ctx, "postgres", "DROP DATABASE "+db); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func logSizes(b *testing.B, dsn string) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `
		SELECT c.relname, c.reltuples::bigint, pg_size_pretty(pg_table_size(c.oid)), pg_size_pretty(pg_indexes_size(c.oid))
		  FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r'
		 ORDER BY pg_total_relation_size(c.oid) DESC`)
	if err != nil {
		b.Fatal(err)
	}
	defer rows.Close()
	for rows.Next() {
		var name, table, indexes string
		var n int64
		if err := rows.Scan(&name, &n, &table, &indexes); err != nil {
			b.Fatal(err)
		}
		b.Logf("%-12s %9d rows  table %8s  indexes %8s", name, n, table, indexes)
	}
	if err := rows.Err(); err != nil {
		b.Fatal(err)
	}
}
