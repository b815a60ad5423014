package demo

import (
	"context"
	"errors"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestRunWorkload(t *testing.T) {
	dsn := loadedDSN(t)
	conn := connect(t, dsn)
	ctx := context.Background()
	if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}

	var ticks atomic.Int32
	start := time.Now()
	stats, err := RunWorkload(ctx, dsn, WorkloadOptions{
		Duration: 3 * time.Second, Workers: 4, Seed: 7,
		Progress: func(time.Duration) { ticks.Add(1) },
	})
	if err != nil {
		t.Fatal(err)
	}
	// Generous: connecting and cancelling the statements still running at
	// the end take their time on a loaded machine too.
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("a 3s workload took %v", took)
	}
	if ticks.Load() < 2 {
		t.Errorf("progress called %d times in 3s, want about once a second", ticks.Load())
	}
	stmts := Statements()
	if len(stats) != len(stmts) {
		t.Fatalf("%d stats for %d statements", len(stats), len(stmts))
	}
	for i, s := range stats {
		t.Logf("%-22s %6d calls  mean %8v  p95 %8v", s.Name, s.Calls, s.Mean.Round(time.Microsecond), s.P95.Round(time.Microsecond))
		if s.Name != stmts[i].Name || s.Query != stmts[i].SQL {
			t.Errorf("stats[%d] is %s, want %s", i, s.Name, stmts[i].Name)
		}
		if s.Calls == 0 || s.Mean <= 0 || s.Median <= 0 || s.P95 < s.Median || s.P95 < s.Mean/10 || s.Total < s.Mean {
			t.Errorf("%s: calls %d mean %v median %v p95 %v total %v, want it run and timed", s.Name, s.Calls, s.Mean, s.Median, s.P95, s.Total)
		}
	}

	// Each statement is its own pg_stat_statements entry; the workload's
	// look at the data is not there.
	ids, err := QueryIDs(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	distinct := map[int64]string{}
	for _, s := range stats {
		id := ids[s.Name]
		if other, ok := distinct[id]; ok {
			t.Errorf("%s and %s share query id %d", s.Name, other, id)
		}
		distinct[id] = s.Name
		var calls int64
		var text string
		err := conn.QueryRow(ctx, `SELECT sum(calls)::bigint, min(query) FROM pg_stat_statements
			WHERE queryid = $1 AND toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`, id).Scan(&calls, &text)
		if err != nil {
			t.Fatalf("%s (query id %d) is not in pg_stat_statements: %v", s.Name, id, err)
		}
		if calls < s.Calls {
			t.Errorf("%s: pg_stat_statements counted %d calls, the workload made %d", s.Name, calls, s.Calls)
		}
		if !strings.HasPrefix(text, s.Query[:strings.IndexAny(s.Query, "$0123456789'")]) {
			t.Errorf("%s: pg_stat_statements has the text %q", s.Name, text)
		}
	}
	var setup int
	err = conn.QueryRow(ctx, "SELECT count(*) FROM pg_stat_statements WHERE query = $1", projectsDomainSQL).Scan(&setup)
	if err != nil {
		t.Fatal(err)
	}
	if setup != 0 {
		t.Errorf("the workload's setup query is in pg_stat_statements")
	}
}

func TestRunWorkloadStopsOnCancel(t *testing.T) {
	dsn := loadedDSN(t)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	stats, err := RunWorkload(ctx, dsn, WorkloadOptions{Duration: time.Minute, Workers: 2})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 3*time.Second {
		t.Errorf("stopped %v after the start, want about 1s", took)
	}
	var calls int64
	for _, s := range stats {
		calls += s.Calls
	}
	if calls == 0 {
		t.Error("no statements measured before the cancel")
	}
}

func TestLoadStopsOnCancel(t *testing.T) {
	dsn := freshDB(t, "cancelled_load")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	time.AfterFunc(time.Second, cancel)
	start := time.Now()
	err := Load(ctx, dsn, Options{Scale: 0.5})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got error %v, want context.Canceled", err)
	}
	if took := time.Since(start); took > 4*time.Second {
		t.Errorf("stopped %v after the start, want about 1s", took)
	}
}

func TestRunFixed(t *testing.T) {
	dsn := loadedDSN(t)
	stats, err := RunFixed(context.Background(), dsn, 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range stats {
		if s.Calls != 2 {
			t.Errorf("%s ran %d times, want 2", s.Name, s.Calls)
		}
	}

	// The parameter sets depend on the seed alone.
	d := testDomain(t, dsn)
	a, b := fixedParams(statements(), d, 3, 11), fixedParams(statements(), d, 3, 11)
	if !reflect.DeepEqual(a, b) {
		t.Error("two draws with the same seed differ")
	}
	if reflect.DeepEqual(a, fixedParams(statements(), d, 3, 12)) {
		t.Error("draws with different seeds are the same")
	}
}

// TestExplainShapes checks the workload is what the advisor is meant to
// find: the statements that should get an index are not well served by
// the loaded schema and are by the index the statement names; the ones
// that need nothing already use an index.
func TestExplainShapes(t *testing.T) {
	dsn := loadedDSN(t)
	conn := connect(t, dsn)
	d := testDomain(t, dsn)
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range statements() {
		if !s.ReadOnly {
			continue
		}
		args := s.args(r, d)
		plan := explain(t, conn, false, s.SQL, args)
		switch s.Expect {
		case ExpectNothing:
			if !strings.Contains(plan, "Index") || strings.Contains(plan, "Seq Scan") {
				t.Errorf("%s should be well indexed already, plan:\n%s", s.Name, plan)
			}
		case ExpectIndex:
			name := indexName(t, s.WantIndex)
			if strings.Contains(plan, name) {
				t.Fatalf("%s: %s exists already", s.Name, name)
			}
			if s.Name == "project_dashboard" && !strings.Contains(plan, "Seq Scan") && !strings.Contains(plan, "Sort") {
				t.Errorf("%s should need a Seq Scan or a Sort without its index, plan:\n%s", s.Name, plan)
			}
			with := explainWithIndex(t, conn, s.WantIndex, s.SQL, args)
			if !strings.Contains(with, name) {
				t.Errorf("%s: the planner does not use %s, plan:\n%s", s.Name, name, with)
			}
		case ExpectFinding:
			if s.Name == "tenant_report" {
				biggest := []any{d.tenants[0].id}
				if a := explain(t, conn, true, s.SQL, biggest); !strings.Contains(a, "external merge") {
					t.Errorf("%s should spill its sort for the biggest tenant, plan:\n%s", s.Name, a)
				}
			}
		}
	}
}

func testDomain(t *testing.T, dsn string) *domain {
	t.Helper()
	d, err := discover(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// explain returns the text plan of sql, run when analyze is set.
func explain(t *testing.T, conn *pgx.Conn, analyze bool, sql string, args []any) string {
	t.Helper()
	prefix := "EXPLAIN "
	if analyze {
		prefix = "EXPLAIN (ANALYZE) "
	}
	rows, err := conn.Query(context.Background(), prefix+sql, args...)
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	lines, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("explain %s: %v", sql, err)
	}
	return strings.Join(lines, "\n")
}

// explainWithIndex plans sql with the index built, in a transaction that
// is rolled back.
func explainWithIndex(t *testing.T, conn *pgx.Conn, index, sql string, args []any) string {
	t.Helper()
	ctx := context.Background()
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, index); err != nil {
		t.Fatalf("%s: %v", index, err)
	}
	return explain(t, tx.Conn(), false, sql, args)
}

func indexName(t *testing.T, ddl string) string {
	t.Helper()
	f := strings.Fields(ddl)
	if len(f) < 5 || f[0] != "CREATE" || f[1] != "INDEX" || f[3] != "ON" {
		t.Fatalf("WantIndex %q: want CREATE INDEX name ON ...", ddl)
	}
	return f[2]
}
