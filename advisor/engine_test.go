package advisor

import (
	"context"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// engineSchema is a small shop whose right indexes are known.
const engineSchema = `
CREATE TABLE customers (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, name text NOT NULL, region text NOT NULL);
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  tenant_id int NOT NULL,
  customer_id bigint NOT NULL REFERENCES customers ON DELETE CASCADE,
  status text NOT NULL,
  total numeric(12,2) NOT NULL,
  created_at timestamptz NOT NULL,
  deleted_at timestamptz);
CREATE TABLE line_items (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, order_ref int NOT NULL, sku text NOT NULL, qty int NOT NULL, note text);
CREATE TABLE events (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, payload jsonb NOT NULL);
CREATE TABLE measurements (device_id int NOT NULL, taken_at timestamptz NOT NULL, value float8) PARTITION BY RANGE (taken_at);
CREATE TABLE measurements_2026a PARTITION OF measurements FOR VALUES FROM ('2026-01-01') TO ('2026-07-01');
CREATE TABLE measurements_2026b PARTITION OF measurements FOR VALUES FROM ('2026-07-01') TO ('2027-01-01');
INSERT INTO customers (name, region) SELECT 'c' || i, 'r' || (i % 20) FROM generate_series(1, 20000) i;
INSERT INTO orders (tenant_id, customer_id, status, total, created_at, deleted_at)
  SELECT 1 + (i % 50), 1 + (i * 7919) % 20000, (ARRAY['open','paid','shipped','cancelled'])[1 + i % 4],
         (i % 1000) / 10.0, '2026-01-01'::timestamptz + (i || ' minutes')::interval,
         CASE WHEN i % 50 = 0 THEN now() END
  FROM generate_series(1, 200000) i;
INSERT INTO line_items (order_ref, sku, qty, note) SELECT (i::bigint * 104729) % 1000, 'sku-' || (i % 997), 1 + i % 9, repeat('x', 80) FROM generate_series(1, 300000) i;
INSERT INTO events (payload) SELECT jsonb_build_object('kind', 'k' || (i % 200), 'n', i) FROM generate_series(1, 100000) i;
INSERT INTO measurements SELECT 1 + i % 1000, '2026-01-01'::timestamptz + (i || ' minutes')::interval, i FROM generate_series(1, 200000) i;`

// engineWorkload: each statement with the values it runs with, and how
// often. Names say what the advisor must make of it.
var engineWorkload = []struct {
	name  string
	query string
	args  func(i int) []any
	calls int
}{
	{"dashboard", "SELECT id, status, total FROM orders WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2",
		func(i int) []any { return []any{1 + i%50, 20} }, 30},
	{"tenant status", "SELECT count(*) FROM orders WHERE tenant_id = $1 AND created_at > $2",
		func(i int) []any { return []any{1 + i%50, "2026-05-01"} }, 20},
	{"customer orders (fk join)", "SELECT c.name, o.total FROM customers c JOIN orders o ON o.customer_id = c.id WHERE c.id = $1",
		func(i int) []any { return []any{int64(1 + i%20000)} }, 30},
	{"live orders (soft delete)", "SELECT id, total FROM orders WHERE deleted_at IS NOT NULL AND status = $1",
		func(i int) []any { return []any{"open"} }, 10},
	{"event search (jsonb)", "SELECT id FROM events WHERE payload @> $1",
		func(i int) []any { return []any{fmt.Sprintf(`{"kind": "k%d"}`, i%200)} }, 10},
	{"order lines (narrow select)", "SELECT sku, qty FROM line_items WHERE order_ref = $1",
		func(i int) []any { return []any{i % 1000} }, 30},
	{"deep pagination", "SELECT id, total FROM orders ORDER BY id LIMIT $1 OFFSET $2",
		func(i int) []any { return []any{20, 100000 + 20*i} }, 10},
	{"point lookup (indexed)", "SELECT * FROM orders WHERE id = $1",
		func(i int) []any { return []any{int64(1 + i)} }, 50},
	{"name equals region (minor)", "SELECT count(*) FROM customers WHERE name = region",
		func(i int) []any { return nil }, 5},
	{"device readings (partitioned)", "SELECT taken_at, value FROM measurements WHERE device_id = $1 ORDER BY taken_at DESC LIMIT $2",
		func(i int) []any { return []any{1 + i%1000, 10} }, 20},
}

func TestEngineEndToEnd(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	const db = "engine_e2e"
	if err := c.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, db, engineSchema, "VACUUM ANALYZE"); err != nil {
		t.Fatal(err)
	}
	runWorkload(t, c.DSN(db))
	engine, target, since, r := analyzeSandbox(t, c, db)
	for _, rec := range r.Recommendations {
		t.Logf("recommend %s (%s) validated=%v improvement=%.0f%% serves %d: %s", rec.Table, strings.Join(rec.Columns, ", "), rec.Validated, rec.ImprovementPct, len(rec.QueryIDs), rec.Reason)
	}
	for _, w := range r.Warnings {
		t.Logf("warning: %s", w)
	}

	byName := statementsByName(t, r)
	for name, s := range byName {
		if s.Explain.Mode != "analyze" {
			t.Errorf("%s: explained as %s (%s), want analyze on the replica", name, s.Explain.Mode, s.Explain.Reason)
		}
	}
	recFor := func(name string) *Recommendation {
		id := byName[name].QueryID
		for i := range r.Recommendations {
			if slices.Contains(r.Recommendations[i].QueryIDs, id) {
				return &r.Recommendations[i]
			}
		}
		return nil
	}

	if rec := recFor("dashboard"); rec == nil || len(rec.Columns) < 2 || rec.Columns[0] != "tenant_id" || !strings.HasPrefix(rec.Columns[1], "created_at") {
		t.Errorf("dashboard: want a composite (tenant_id, created_at ...), got %+v", rec)
	} else if other := recFor("tenant status"); other == nil || other.ID != rec.ID {
		t.Errorf("tenant status: want the dashboard's composite to serve it too, got %+v", other)
	}
	if rec := recFor("customer orders (fk join)"); rec == nil || rec.Columns[0] != "customer_id" {
		t.Errorf("fk join: want an index leading with customer_id, got %+v", rec)
	}
	if !slices.ContainsFunc(r.Findings, func(f explain.Finding) bool {
		return f.Kind == "unindexed_fk" && strings.Contains(f.Table, "orders") && strings.Contains(f.Fix, "customer_id")
	}) {
		t.Errorf("want an unindexed_fk finding on orders.customer_id, got %v", kinds(r.Findings))
	}
	if rec := recFor("live orders (soft delete)"); rec == nil || !strings.Contains(rec.Where, "deleted_at IS NOT NULL") {
		t.Errorf("soft delete: want a partial index WHERE deleted_at IS NOT NULL, got %+v", rec)
	}
	if rec := recFor("event search (jsonb)"); rec == nil || rec.Method != "gin" {
		t.Errorf("jsonb containment: want a GIN index, got %+v", rec)
	}
	if rec := recFor("order lines (narrow select)"); rec == nil || rec.Columns[0] != "order_ref" || !slices.Equal(rec.Include, []string{"sku", "qty"}) {
		t.Errorf("narrow select: want a covering index (order_ref) INCLUDE (sku, qty), got %+v", rec)
	}
	if !slices.ContainsFunc(r.Findings, func(f explain.Finding) bool {
		return f.Kind == "large_offset" && f.QueryID == byName["deep pagination"].QueryID
	}) {
		t.Errorf("deep pagination: want a large_offset finding, got %v", kinds(r.Findings))
	}
	// A plan finding on a statement a recommendation serves points at it,
	// not at the index the plan alone suggests.
	pointed := 0
	for _, f := range r.Findings {
		if f.Kind != explain.KindSeqScan && f.Kind != explain.KindInefficientIndex {
			continue
		}
		for _, rec := range r.Recommendations {
			if slices.Contains(rec.QueryIDs, f.QueryID) && sameTable(rec.Table, f.Table) {
				pointed++
				if !strings.Contains(f.Fix, rec.Target()) {
					t.Errorf("%s finding on %s: fix %q does not point at the recommended %s", f.Kind, f.Table, f.Fix, rec.Target())
				}
			}
		}
	}
	if pointed == 0 {
		t.Errorf("no seq_scan or inefficient_index finding on a statement a recommendation serves: %v", kinds(r.Findings))
	}
	if rec := recFor("point lookup (indexed)"); rec != nil {
		t.Errorf("point lookup by primary key: want no recommendation, got %+v", rec)
	}
	// A statement under 1% of the window's time raises no alarm: the
	// minor one's seq scan is only informational.
	share := map[string]float64{}
	for _, s := range r.Statements {
		share[s.QueryID] = s.WorkloadShare
	}
	minor := byName["name equals region (minor)"]
	if minor.WorkloadShare >= minorShare || !slices.ContainsFunc(r.Findings, func(f explain.Finding) bool {
		return f.QueryID == minor.QueryID && f.Kind == explain.KindSeqScan
	}) {
		t.Errorf("name equals region: want a seq_scan finding on a statement under 1%% of the time, got share %.4f and %v", minor.WorkloadShare, kinds(r.Findings))
	}
	for _, f := range r.Findings {
		if f.Node != "" && share[f.QueryID] < minorShare && f.Severity != explain.Info {
			t.Errorf("%s finding on a statement with %.2f%% of the window's time is %s, want info", f.Kind, 100*share[f.QueryID], f.Severity)
		}
	}
	part := recFor("device readings (partitioned)")
	if part == nil || !strings.Contains(part.DDL, "ON ONLY") {
		t.Fatalf("partitioned: want DDL with ON ONLY the parent, got %+v", part)
	}

	// A statement whose text the sampler cut short is listed, not explained.
	since.Statements = slices.DeleteFunc(since.Statements, func(s collector.Statement) bool { return s.Text.Query != byName["dashboard"].Query })
	since.Statements[0].Text.Problem = collector.TextTruncated
	cut, err := engine.Analyze(ctx, target, since, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(cut.Statements) != 1 || cut.Statements[0].Explain.Mode != "none" || !strings.Contains(cut.Statements[0].Explain.Reason, "cut at the sampler's limit") ||
		len(cut.Recommendations) != 0 {
		t.Errorf("a truncated text: want it listed with the reason and nothing recommended, got %+v and %d recommendations", cut.Statements, len(cut.Recommendations))
	}

	predicted := map[string]StatementGain{}
	for _, rec := range r.Recommendations {
		for _, g := range rec.Statements {
			if rec.Validated {
				predicted[g.QueryID] = g
			}
		}
		applyScript(t, c.DSN(db), rec.DDL)
	}
	if err := c.Exec(ctx, db, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	checkCostsAfterApply(t, c.DSN(db), r, predicted)
}

func runWorkload(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	for _, s := range engineWorkload {
		for i := 0; i < s.calls; i++ {
			rows, err := conn.Query(ctx, s.query, s.args(i)...)
			if err == nil {
				rows.Close()
				err = rows.Err()
			}
			if err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
	}
}

// Calls that ask for the value a partial index was built for read a few
// of its pages, which pg_stat_statements records; the advisor explains and
// costs their statement with that value, and recommends nothing for it.
// A statement whose calls ask for the common value keeps it.
func TestEngineTakesThePartialIndexValueTheCallsUse(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	const db = "engine_partial"
	if err := c.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	dropAtCleanup(t, db)
	if err := c.Exec(ctx, db,
		`CREATE TABLE orders (id serial, status text, created_at timestamptz, pad text)`,
		`INSERT INTO orders (status, created_at, pad) SELECT CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, now() - g * interval '1 minute', repeat('x', 100) FROM generate_series(1, 100000) g`,
		`CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending'`,
		`VACUUM ANALYZE orders`); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	const pending = "SELECT id FROM orders WHERE status = $1 AND created_at < $2 ORDER BY created_at LIMIT $3"
	const delivered = "SELECT id FROM orders WHERE status = $1 AND created_at <= $2 ORDER BY created_at LIMIT $3"
	if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		for query, status := range map[string]string{pending: "pending", delivered: "delivered"} {
			if _, err := conn.Exec(ctx, query, status, "2026-12-01", 20); err != nil {
				t.Fatal(err)
			}
		}
	}
	_, _, _, r := analyzeSandbox(t, c, db)
	for query, want := range map[string]string{pending: "pending", delivered: "delivered"} {
		i := slices.IndexFunc(r.Statements, func(s Statement) bool { return s.Query == query })
		if i < 0 {
			t.Fatalf("%s: not in the report", query)
		}
		s := r.Statements[i]
		if s.Explain.Mode != "analyze" || len(s.Explain.Params) != 3 || s.Explain.Params[0] != want || (s.Explain.Values == "partial_index_constants") != (want == "pending") {
			t.Errorf("calls asking for %s: explained %+v; want analyzed with %q", want, s.Explain, want)
		}
		served := slices.ContainsFunc(r.Recommendations, func(rec Recommendation) bool { return slices.Contains(rec.QueryIDs, s.QueryID) })
		if want == "pending" && served {
			t.Errorf("an index recommended for the calls orders_pending serves:\n%s", describeRecs(r.Recommendations))
		}
	}
}

// analyzeSandbox waits for the replica to replay what ran on database db
// of c, then samples it and analyzes everything since the last
// pg_stat_statements reset, as advisor report does.
func analyzeSandbox(t *testing.T, c *pgsandbox.Cluster, db string) (*Engine, Target, *collector.Delta, *Report) {
	t.Helper()
	ctx := context.Background()
	if err := c.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	target := Target{Name: db, DSN: c.DSN(db), ReplicaDSN: c.ReplicaDSN(db), Databases: collector.NameFilter{Include: []string{db}}}
	engine := NewEngine(zaptest.NewLogger(t), Options{Rank: collector.RankOptions{Top: 20, MinCalls: 5}})
	snap, err := engine.Sample(ctx, target)
	if err != nil {
		t.Fatal(err)
	}
	w, err := CumulativeWindow(snap)
	if err != nil {
		t.Fatal(err)
	}
	since := w.SinceStart()
	r, err := engine.Analyze(ctx, target, since, true)
	if err != nil {
		t.Fatal(err)
	}
	return engine, target, since, r
}

// statementsByName maps the workload's names to the report's statements.
func statementsByName(t *testing.T, r *Report) map[string]Statement {
	t.Helper()
	out := map[string]Statement{}
	for _, s := range engineWorkload {
		for _, rs := range r.Statements {
			if rs.Query == s.query {
				out[s.name] = rs
			}
		}
		if _, ok := out[s.name]; !ok {
			t.Fatalf("statement %q is not in the report", s.name)
		}
	}
	return out
}

// applyScript runs a recommendation's DDL one statement at a time, as psql
// would (CREATE INDEX CONCURRENTLY cannot run in a transaction block).
func applyScript(t *testing.T, dsn, script string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	stmts, err := sqltree.Statements(script)
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range stmts {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("apply %q: %v", stmt, err)
		}
	}
}

// checkCostsAfterApply re-plans each validated statement with its real
// indexes in place: its cost must drop as the what-if predicted, within
// 10%. (The cost after alone can differ more where btree deduplication
// makes the real index smaller than HypoPG's estimate.)
func checkCostsAfterApply(t *testing.T, dsn string, r *Report, predicted map[string]StatementGain) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	runner := explain.NewRunner(nil, explain.RunnerOptions{})
	for _, s := range r.Statements {
		want, ok := predicted[s.QueryID]
		if !ok {
			continue
		}
		plan, err := runner.PlanOnly(ctx, conn, s.Query, s.Explain.Params)
		if err != nil {
			t.Fatalf("plan %q: %v", s.Query, err)
		}
		wantDrop, gotDrop := want.CostBefore-want.CostAfter, want.CostBefore-plan.Root.TotalCost
		if math.Abs(gotDrop-wantDrop) > 0.10*wantDrop {
			t.Errorf("%q: planner cost drops %.1f -> %.1f after building, the what-if predicted %.1f (drops more than 10%% apart)",
				s.Query, want.CostBefore, plan.Root.TotalCost, want.CostAfter)
		}
	}
}

func kinds(fs []explain.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Kind+" "+f.Table)
	}
	return out
}

// A window across a pg_stat_statements_reset() says it holds less than its
// span.
func TestAnalyzeWarnsOfReset(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	w := collector.NewWindow(collector.WindowOptions{})
	for i, reset := range []time.Time{t0.Add(-time.Hour), t0.Add(time.Minute)} {
		snap := &collector.Snapshot{Time: t0.Add(time.Duration(i) * 5 * time.Minute), Sampled: true, Info: &collector.Info{StatsReset: reset}}
		if err := w.Add(snap); err != nil {
			t.Fatal(err)
		}
	}
	r, err := NewEngine(zaptest.NewLogger(t), Options{}).Analyze(context.Background(), Target{Name: "t"}, w.SinceStart(), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(r.Warnings, func(s string) bool { return strings.Contains(s, "reset 1 time(s) in the window") }) {
		t.Errorf("warnings %q: want the reset told", r.Warnings)
	}
}

func TestInheritanceWarning(t *testing.T) {
	cat := &collector.Catalog{Tables: []collector.Table{
		{Schema: "public", Name: "moves", Kind: "r", InheritedBy: 2},
		{Schema: "public", Name: "orders", Kind: "r"},
	}}
	got := inheritanceWarning(cat, []WorkloadStatement{{Tables: []string{"public.orders"}}, {Tables: []string{"public.moves", "public.orders"}}})
	if !strings.HasPrefix(got, "public.moves: tables inherit from them") {
		t.Errorf("warning %q: want public.moves named", got)
	}
	if got := inheritanceWarning(cat, []WorkloadStatement{{Tables: []string{"public.orders"}}}); got != "" {
		t.Errorf("warning %q without inheritance", got)
	}
}

// A statement whose first page already reads what its calls read (a sort
// of the whole table) is not blamed on its OFFSET.
func TestOffsetFindingBeyondTheFirstPage(t *testing.T) {
	s := collector.Statement{QueryID: "q", Text: collector.Text{Query: "SELECT id FROM c WHERE status = $1 ORDER BY created_at LIMIT $2 OFFSET $3"},
		Counters: collector.Counters{Calls: 10, Rows: 200, SharedBlksHit: 19000}}
	firstPage := func(buffers int) *explain.Plan {
		p, err := explain.ParsePlan([]byte(fmt.Sprintf(`[{"Plan": {"Node Type": "Limit", "Actual Loops": 1, "Actual Rows": 20, "Shared Hit Blocks": %d}, "Execution Time": 3.5}]`, buffers)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if _, ok := offsetFinding(s, firstPage(1890)); ok {
		t.Error("a first page of 1890 buffers, calls of 1900: blamed on the OFFSET")
	}
	if f, ok := offsetFinding(s, firstPage(12)); !ok || f.Kind != explain.KindLargeOffset {
		t.Errorf("a first page of 12 buffers, calls of 1900: %+v, want large_offset", f)
	}
	if _, ok := offsetFinding(s, nil); !ok {
		t.Error("no plan to compare with: want large_offset from the calls alone")
	}
}

// Calls that read and take far more than the analyzed run ran with other
// values than the advisor chose; a slower run that reads no more (a cold
// cache), a small gap, or a plan never run, is no sign of it.
func TestAtypicalRunFinding(t *testing.T) {
	run := func(ms float64, buffers int) *explain.Plan {
		p, err := explain.ParsePlan([]byte(fmt.Sprintf(`[{"Plan": {"Node Type": "Limit", "Actual Loops": 1, "Actual Rows": 17, "Shared Hit Blocks": %d}, "Execution Time": %g}]`, buffers, ms)))
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	calls := func(meanMS float64, buffersPerCall int64) collector.Statement {
		return collector.Statement{QueryID: "q", MeanExecTime: meanMS, Share: 0.2,
			Counters: collector.Counters{Calls: 6, SharedBlksHit: 6 * buffersPerCall}}
	}
	paged := calls(91, 150_000)
	paged.Text.Query = "SELECT id FROM posts ORDER BY id LIMIT $1 OFFSET $2"
	long := strings.Repeat("x", 50)
	params := []explain.Param{{Index: 1, Value: "1"}, {Index: 2, Value: "it's"}, {Index: 3, Value: long}}
	analyzed := func(p *explain.Plan) explain.Result {
		return explain.Result{Mode: explain.ModeAnalyze, Plan: p, Params: params}
	}

	f, ok := atypicalRunFinding(calls(91, 150_000), analyzed(run(7.4, 899)))
	if !ok || f.Kind != explain.KindAtypicalRun || f.Severity != explain.Warning {
		t.Fatalf("calls of 91 ms and 150,000 buffers against a run of 7.4 ms and 899: %+v, want an atypical_run warning", f)
	}
	for _, want := range []string{"91.00 ms", "150,000 buffers", "12x", "7.40 ms and 899 buffers", `$1 = '1', $2 = 'it''s', $3 = '` + long[:shownValueLen] + `…'`} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, f.Detail)
		}
	}
	for name, c := range map[string]struct {
		s   collector.Statement
		res explain.Result
	}{
		"slower, no more reads": {calls(91, 1_000), analyzed(run(7.4, 899))},
		"3x slower":             {calls(22, 150_000), analyzed(run(7.4, 899))},
		"under a ms apart":      {calls(0.5, 150_000), analyzed(run(0.05, 899))},
		"generic plan":          {calls(91, 150_000), explain.Result{Mode: explain.ModeGeneric, Plan: run(7.4, 899)}},
		// The run takes OFFSET 0; what the calls skip is offsetFinding's.
		"OFFSET": {paged, analyzed(run(7.4, 899))},
	} {
		if f, ok := atypicalRunFinding(c.s, c.res); ok {
			t.Errorf("%s: %s", name, f.Detail)
		}
	}
}

// A cycle cut by its time limit in its last database fails, though that
// database has no index to cost: its statement, stopped mid-EXPLAIN
// ANALYZE, would otherwise come out skipped in a report served as the
// workload's.
func TestAnalyzeStoppedByTimeoutFails(t *testing.T) {
	testDB(t, "engine_timeout", `CREATE TABLE spin (id int)`, `INSERT INTO spin SELECT generate_series(1, 20000)`, `ANALYZE spin`)
	key := collector.Key{DBID: 1, UserID: 1, QueryID: 7, TopLevel: true}
	w := collector.NewWindow(collector.WindowOptions{})
	start := time.Now().Add(-time.Hour)
	for i, calls := range []int64{0, 10} {
		snap := &collector.Snapshot{Time: start.Add(time.Duration(i) * time.Minute), Version: "1.10", Sampled: true,
			Databases: map[uint32]string{1: "engine_timeout"}, Users: map[uint32]string{1: "app"},
			Entries: []collector.Entry{{Key: key, Counters: collector.Counters{Calls: calls, TotalExecTime: float64(calls) * 9000}}},
			Texts:   map[collector.Key]*collector.Text{key: {Query: "SELECT count(*) FROM spin a, spin b", Command: "SELECT"}}}
		if err := w.Add(snap); err != nil {
			t.Fatal(err)
		}
	}
	target := Target{Name: "t", DSN: sandbox.DSN("engine_timeout"), ReplicaDSN: sandbox.ReplicaDSN("engine_timeout")}
	opts := Options{Rank: collector.RankOptions{Top: 10}, Runner: explain.RunnerOptions{StatementTimeout: time.Minute}, Timeout: time.Second}
	r, err := NewEngine(zaptest.NewLogger(t), opts).Analyze(context.Background(), target, w.SinceStart(), false)
	if err == nil || !strings.Contains(err.Error(), "analysis of t stopped after 1s, its time limit (analysis.cycle_timeout)") {
		t.Fatalf("report %+v, error %v: want the cycle stopped at its limit", r, err)
	}
}

// advisor report samples before it analyzes: a server that accepts the
// connection and never answers stops the sample at the same limit.
func TestSampleStoppedByTimeout(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // accepted, never answered
		}
	}()
	target := Target{Name: "t", DSN: "postgres://x@" + ln.Addr().String() + "/app?connect_timeout=600"}
	_, err = NewEngine(zaptest.NewLogger(t), Options{Timeout: time.Second}).Sample(context.Background(), target)
	if err == nil || !strings.Contains(err.Error(), "sample of t stopped after 1s, its time limit (analysis.cycle_timeout)") {
		t.Fatalf("sample of a server that never answers: %v, want it stopped at its limit", err)
	}
}
