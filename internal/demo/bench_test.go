package demo

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// BenchmarkLoad loads a fresh database at $BENCH_SCALE (default 1, the
// demo's size) and logs the time and every table's rows and size:
//
//	BENCH_SCALE=1 go test -run '^$' -bench Load -benchtime 1x ./internal/demo
func BenchmarkLoad(b *testing.B) {
	c := pgsandbox.Require(b, sandbox)
	scale := 1.0
	if s := os.Getenv("BENCH_SCALE"); s != "" {
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			b.Fatalf("BENCH_SCALE=%q: %v", s, err)
		}
		scale = v
	}
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
		b.Logf("scale %v loaded in %v", scale, time.Since(start).Round(time.Millisecond))
		b.StopTimer()
		logSizes(b, c.DSN(db))
		if err := c.Exec(ctx, "postgres", "DROP DATABASE "+db); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

func logSizes(b *testing.B, dsn string) {
	conn := connect(b, dsn)
	rows, err := conn.Query(context.Background(), `
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
