package advisor

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap/zaptest"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// itemsSetup is a 50k-row table: tenant_id is selective (100 rows per
// value), status is not (3 values).
var itemsSetup = []string{
	`CREATE TABLE items (id bigint PRIMARY KEY, tenant_id int NOT NULL, status text NOT NULL,
		payload jsonb, created_at timestamptz NOT NULL)`,
	`INSERT INTO items SELECT g, g % 500, (ARRAY['open','closed','void'])[g % 3 + 1],
		jsonb_build_object('k', g % 10), now() - g * interval '1 minute' FROM generate_series(1, 50000) g`,
	`ANALYZE items`,
}

// testDB creates database name on the sandbox's primary with the
// sandbox's extensions, runs setup there, waits for the replica and
// returns a connection to the replica, as the advisor opens it.
func testDB(t *testing.T, name string, setup ...string) *pgx.Conn {
	t.Helper()
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	dropAtCleanup(t, name)
	return replicaOf(t, name, setup...)
}

// dropAtCleanup drops database name when the test ends, after its
// connections (cleanups run last-registered first) are closed.
func dropAtCleanup(t *testing.T, name string) {
	t.Cleanup(func() {
		if err := sandbox.Exec(context.Background(), "postgres", "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
}

// replicaOf runs setup on the primary's database name, waits for the
// replica and connects to it.
func replicaOf(t *testing.T, name string, setup ...string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The sandbox commits asynchronously, and WaitReplay waits for the WAL
	// written so far: a synchronous commit at the end flushes everything.
	setup = append([]string{"SET synchronous_commit = on"}, setup...)
	if err := sandbox.Exec(ctx, name, setup...); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(name))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func newWhatIf(t *testing.T, conn *pgx.Conn, opts WhatIfOptions) *WhatIf {
	t.Helper()
	w, err := NewWhatIf(context.Background(), conn, zaptest.NewLogger(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	if ok, note := w.Available(); !ok {
		t.Fatalf("hypopg unavailable: %s", note)
	}
	return w
}

func btree(table string, cols ...string) Candidate {
	c := Candidate{Table: table, Method: "btree"}
	for _, col := range cols {
		c.Keys = append(c.Keys, collector.IndexKey{Column: col})
	}
	return c
}

// sessionState is what the advisor may leave behind on its connection:
// hypothetical indexes, prepared statements, an open transaction.
func sessionState(t *testing.T, conn *pgx.Conn) (hypothetical, prepared int, txStatus byte) {
	t.Helper()
	ctx := context.Background()
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM hypopg_list_indexes").Scan(&hypothetical); err != nil {
		t.Fatal(err)
	}
	// QueryRow may prepare its own statements: count only the advisor's.
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'pgadvisor%'").Scan(&prepared); err != nil {
		t.Fatal(err)
	}
	return hypothetical, prepared, conn.PgConn().TxStatus()
}

func costedEffect(t *testing.T, c Costing, queryID string) Effect {
	t.Helper()
	for _, e := range c.Statements {
		if e.QueryID == queryID {
			return e
		}
	}
	t.Fatalf("candidate on %s: no effect recorded for statement %s (have %+v)", c.Candidate.Table, queryID, c.Statements)
	return Effect{}
}

func TestWhatIfCostsCandidatesOnReplica(t *testing.T) {
	conn := testDB(t, "whatif_costs", itemsSetup...)
	var inRecovery bool
	if err := conn.QueryRow(context.Background(), "SELECT pg_is_in_recovery()").Scan(&inRecovery); err != nil || !inRecovery {
		t.Fatalf("want a connection to the replica: in recovery %v, %v", inRecovery, err)
	}
	w := newWhatIf(t, conn, WhatIfOptions{})
	const byTenant = "SELECT id, status FROM items WHERE tenant_id = $1"
	stmts := []WorkloadStatement{
		{QueryID: "custom", Query: byTenant, Params: []string{"42"}, Calls: 10, Tables: []string{"public.items"}},
		{QueryID: "generic", Query: byTenant, Calls: 10, Tables: []string{"public.items"}},
		{QueryID: "broken", Query: "SELECT nope FROM items WHERE tenant_id = $1", Calls: 1, Tables: []string{"public.items"}},
		{QueryID: "stacked", Query: "SELECT id FROM items WHERE tenant_id = $1; SELECT pg_sleep(60)", Calls: 1, Tables: []string{"public.items"}},
		{QueryID: "other", Query: "SELECT 1", Calls: 1, Tables: nil},
	}
	gin := Candidate{Table: "public.items", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}}
	cands := []Candidate{btree("public.items", "tenant_id"), btree("public.items", "status"), gin}
	costed, err := w.Evaluate(context.Background(), nil, cands, stmts)
	if err != nil {
		t.Fatal(err)
	}
	if len(costed) != 3 {
		t.Fatalf("got %d costings, want 3", len(costed))
	}

	tenant := costed[0]
	if tenant.Err != nil || tenant.HypoSizeBytes <= 0 {
		t.Fatalf("tenant_id candidate: err %v, size %d", tenant.Err, tenant.HypoSizeBytes)
	}
	if len(tenant.Statements) != 4 {
		t.Errorf("tenant_id candidate: %d statements costed, want the 4 that touch items", len(tenant.Statements))
	}
	if e := costedEffect(t, tenant, "stacked"); e.Err == nil || !strings.Contains(e.Err.Error(), "2 statements in one query text") {
		t.Errorf("two statements in one: err %v, want a refusal to prepare them", e.Err)
	}
	for _, id := range []string{"custom", "generic"} {
		e := costedEffect(t, tenant, id)
		if e.Err != nil || !e.UsesIndex || e.After > e.Before/3 {
			t.Errorf("%s plan with index on tenant_id: %+v, want it used and the cost cut at least 3x", id, e)
		}
		if e.Generic != (id == "generic") {
			t.Errorf("%s: Generic = %v", id, e.Generic)
		}
	}
	if e := costedEffect(t, tenant, "broken"); e.Err == nil || !strings.Contains(e.Err.Error(), "nope") {
		t.Errorf("broken statement: err %v, want the planner's error naming the column", e.Err)
	}

	if e := costedEffect(t, costed[1], "custom"); e.UsesIndex || e.After < e.Before*0.9 {
		t.Errorf("index on status (3 values) should not help: %+v", e)
	}
	if costed[2].Err == nil || !strings.Contains(costed[2].Err.Error(), "gin") {
		t.Errorf("gin candidate: err %v, want HypoPG's refusal of gin", costed[2].Err)
	}

	if h, p, tx := sessionState(t, conn); h != 0 || p != 0 || tx != 'I' {
		t.Errorf("after Evaluate: %d hypothetical indexes, %d prepared statements, transaction status %q; want 0, 0, 'I'", h, p, tx)
	}
}

// A MERGE (PostgreSQL 15) is planned on the replica like an UPDATE: its
// ON condition can use an index on the target, and the query analysis
// finds the table and the column for the column check.
func TestWhatIfCostsMerge(t *testing.T) {
	conn := testDB(t, "whatif_merge", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	const merge = `MERGE INTO items i USING (VALUES ($1::int)) v(tenant_id) ON i.tenant_id = v.tenant_id
		WHEN MATCHED THEN UPDATE SET status = 'void' WHEN NOT MATCHED THEN DO NOTHING`
	refs, err := References(merge, replicaCatalog(t, conn))
	if err != nil || !slices.Equal(refs.Tables, []string{"public.items"}) || !slices.Equal(refs.Columns["public.items"], []string{"tenant_id"}) {
		t.Fatalf("References: %+v, %v; want items, reading tenant_id", refs, err)
	}
	stmts := []WorkloadStatement{
		{QueryID: "custom", Query: merge, Params: []string{"42"}, Calls: 10, Tables: refs.Tables, Columns: refs.Columns},
		{QueryID: "generic", Query: merge, Calls: 10, Tables: refs.Tables, Columns: refs.Columns},
	}
	costed, err := w.Evaluate(context.Background(), nil, []Candidate{btree("public.items", "tenant_id")}, stmts)
	if err != nil || len(costed) != 1 {
		t.Fatalf("evaluate: %+v, %v", costed, err)
	}
	for _, id := range []string{"custom", "generic"} {
		if e := costedEffect(t, costed[0], id); e.Err != nil || !e.UsesIndex || e.After > e.Before/3 {
			t.Errorf("%s MERGE with an index on tenant_id: %+v, want it used and the cost cut at least 3x", id, e)
		}
	}
}

// countingPlanner records how many hypothetical indexes exist whenever a
// statement is planned.
type countingPlanner struct {
	inner Planner
	t     *testing.T
	most  int
	plans int
}

func (p *countingPlanner) PlanCost(ctx context.Context, conn *pgx.Conn, stmt WorkloadStatement) (PlanSummary, error) {
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM hypopg_list_indexes").Scan(&n); err != nil {
		p.t.Fatal(err)
	}
	p.most = max(p.most, n)
	p.plans++
	return p.inner.PlanCost(ctx, conn, stmt)
}

func TestWhatIfBatchesKeepFewHypotheticalIndexes(t *testing.T) {
	conn := testDB(t, "whatif_batches", itemsSetup...)
	counter := &countingPlanner{inner: ExplainPlanner{}, t: t}
	w := newWhatIf(t, conn, WhatIfOptions{Planner: counter, BatchSize: 2})
	stmts := []WorkloadStatement{{QueryID: "q", Query: "SELECT * FROM items WHERE tenant_id = $1 AND status = $2",
		Params: []string{"7", "open"}, Calls: 1, Tables: []string{"public.items"}}}
	base := []Candidate{btree("public.items", "created_at")}
	cands := []Candidate{
		btree("public.items", "tenant_id"), btree("public.items", "status"), btree("public.items", "tenant_id", "status"),
		btree("public.items", "status", "tenant_id"), btree("public.items", "id", "tenant_id"),
	}
	costed, err := w.Evaluate(context.Background(), base, cands, stmts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range costed {
		if c.Err != nil || len(c.Statements) != 1 || c.Statements[0].Err != nil {
			t.Fatalf("candidate %v: %+v", c.Candidate.Keys, c)
		}
	}
	if counter.most > len(base)+1 {
		t.Errorf("up to %d hypothetical indexes existed while planning, want at most base + 1 = %d", counter.most, len(base)+1)
	}
	if want := 1 + 1 + len(cands); counter.plans != want {
		t.Errorf("planned %d times, want the baseline, the base configuration and each candidate once: %d", counter.plans, want)
	}
	if h, p, tx := sessionState(t, conn); h != 0 || p != 0 || tx != 'I' {
		t.Errorf("after Evaluate: %d hypothetical indexes, %d prepared statements, transaction status %q; want 0, 0, 'I'", h, p, tx)
	}
	// Baselines are planned once per statement for the life of the WhatIf.
	counter.plans = 0
	if _, err := w.Baseline(context.Background(), stmts); err != nil || counter.plans != 0 {
		t.Errorf("Baseline again: %d plans, err %v; want the cached baseline", counter.plans, err)
	}
}

// Costing calls HypoPG's functions, not a decoy another role put beside
// them in public that takes text where HypoPG's takes an oid.
func TestWhatIfRunsOnlyHypoPGFunctions(t *testing.T) {
	setup := append(slices.Clone(itemsSetup),
		`CREATE FUNCTION public.hypopg_drop_index(text) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`)
	conn := testDB(t, "whatif_decoy", setup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	stmts := []WorkloadStatement{{QueryID: "q", Query: "SELECT * FROM items WHERE tenant_id = $1 AND status = $2",
		Params: []string{"7", "open"}, Calls: 1, Tables: []string{"public.items"}}}
	cands := []Candidate{btree("public.items", "tenant_id"), btree("public.items", "status"), btree("public.items", "tenant_id", "status")}
	costed, err := w.Evaluate(context.Background(), nil, cands, stmts)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range costed {
		if c.Err != nil || len(c.Statements) != 1 || c.Statements[0].Err != nil || !c.Statements[0].UsesIndex {
			t.Errorf("candidate %v: %+v; want it costed and used", c.Candidate.Keys, c)
		}
	}
}

// A candidate is not planned for a statement that reads none of the
// columns it stores or tests: that statement could not use it.
func TestWhatIfSkipsStatementsThatCannotUseACandidate(t *testing.T) {
	conn := testDB(t, "whatif_skips", itemsSetup...)
	counter := &countingPlanner{inner: ExplainPlanner{}, t: t}
	w := newWhatIf(t, conn, WhatIfOptions{Planner: counter})
	s := WorkloadStatement{QueryID: "q", Query: "SELECT id FROM items WHERE tenant_id = $1", Params: []string{"7"}, Calls: 1,
		Tables: []string{"public.items"}, Columns: map[string][]string{"public.items": {"id", "tenant_id"}}}
	costed, err := w.Evaluate(context.Background(), nil, []Candidate{btree("public.items", "created_at"), btree("public.items", "tenant_id")}, []WorkloadStatement{s})
	if err != nil {
		t.Fatal(err)
	}
	if len(costed) != 2 || len(costed[0].Statements) != 0 || len(costed[1].Statements) != 1 || !costed[1].Statements[0].UsesIndex {
		t.Fatalf("effects %+v; want none for (created_at), one using (tenant_id)", costed)
	}
	if counter.plans != 2 {
		t.Errorf("planned %d times, want the baseline (which stands for the empty base configuration) and (tenant_id): 2", counter.plans)
	}
	// With no candidate it may use, it is not even planned for the cost before.
	counter.plans = 0
	s.QueryID = "q2" // no cached baseline
	if costed, err := w.Evaluate(context.Background(), nil, []Candidate{btree("public.items", "created_at")}, []WorkloadStatement{s}); err != nil ||
		len(costed) != 1 || len(costed[0].Statements) != 0 || counter.plans != 0 {
		t.Errorf("Evaluate with (created_at) alone: %+v, %v, %d plans; want no effect and no plan", costed, err, counter.plans)
	}
}

func TestWhatIfCostWithConfiguration(t *testing.T) {
	conn := testDB(t, "whatif_config", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	stmts := []WorkloadStatement{
		{QueryID: "tenant", Query: "SELECT * FROM items WHERE tenant_id = $1", Params: []string{"3"}, Calls: 5, Tables: []string{"public.items"}},
		{QueryID: "recent", Query: "SELECT * FROM items ORDER BY created_at DESC LIMIT 10", Calls: 5, Tables: []string{"public.items"}},
	}
	base, err := w.Baseline(context.Background(), stmts)
	if err != nil {
		t.Fatal(err)
	}
	config := []Candidate{btree("public.items", "created_at"), btree("public.items", "tenant_id")}
	with, err := w.CostWith(context.Background(), config, stmts)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{1, 0} {
		if with[i].Err != nil || with[i].Cost >= base[i].Cost/3 {
			t.Errorf("%s: cost %.1f with the configuration, %.1f without (err %v): want at least 3x lower", stmts[i].QueryID, with[i].Cost, base[i].Cost, with[i].Err)
		}
		if len(with[i].Uses) != 1 || with[i].Uses[0] != want {
			t.Errorf("%s: plan uses configuration indexes %v, want [%d]", stmts[i].QueryID, with[i].Uses, want)
		}
	}
	if h, _, _ := sessionState(t, conn); h != 0 {
		t.Errorf("%d hypothetical indexes left after CostWith", h)
	}
}

func TestWhatIfWithoutHypoPG(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	// CreateDatabase would install the sandbox's extensions, hypopg included.
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE whatif_nohypopg"); err != nil {
		t.Fatal(err)
	}
	dropAtCleanup(t, "whatif_nohypopg")
	conn := replicaOf(t, "whatif_nohypopg", itemsSetup...)
	w, err := NewWhatIf(ctx, conn, zaptest.NewLogger(t), WhatIfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ok, note := w.Available()
	if ok || note != "hypopg is not installed on the EXPLAIN target: CREATE EXTENSION hypopg" {
		t.Fatalf("Available() = %v, %q", ok, note)
	}
	stmts := []WorkloadStatement{{QueryID: "q", Query: "SELECT * FROM items WHERE tenant_id = $1", Params: []string{"1"}, Calls: 1, Tables: []string{"public.items"}}}
	base, err := w.Baseline(ctx, stmts)
	if err != nil || base[0].Err != nil || base[0].Cost <= 0 {
		t.Fatalf("baseline without hypopg: %+v, %v", base, err)
	}
	if _, err := w.Evaluate(ctx, nil, []Candidate{btree("public.items", "tenant_id")}, stmts); err == nil || !strings.Contains(err.Error(), "CREATE EXTENSION hypopg") {
		t.Errorf("Evaluate without hypopg: err %v, want the note", err)
	}
}

// HypoPG binds a partial index's predicate, and an expression index's
// expressions, to the query's first table: the what-if plans put the
// candidate's table first, so such an index on the second table of a join
// is costed, not ignored.
func TestWhatIfPartialIndexOnAJoinedTable(t *testing.T) {
	conn := testDB(t, "whatif_partial_join", append(slices.Clone(itemsSetup),
		`CREATE TABLE tenants (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO tenants SELECT g, 'tenant ' || g FROM generate_series(0, 499) g`,
		`ANALYZE tenants`)...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	ctx := context.Background()
	stmts := []WorkloadStatement{{QueryID: "join", Calls: 1, Params: []string{"tenant 7"}, Tables: []string{"public.tenants", "public.items"},
		Query: "SELECT i.id FROM tenants t JOIN items i ON i.tenant_id = t.id WHERE t.name = $1 AND i.status = 'void'"}}
	partial := btree("public.items", "tenant_id")
	partial.Where = "status = 'void'"

	costed, err := w.Evaluate(ctx, nil, []Candidate{partial}, stmts)
	if err != nil {
		t.Fatal(err)
	}
	if e := costedEffect(t, costed[0], "join"); e.Err != nil || !e.UsesIndex || e.After > e.Before/3 {
		t.Errorf("partial index on the joined table: cost %.1f -> %.1f, uses it %v (err %v); want it used and 3x cheaper", e.Before, e.After, e.UsesIndex, e.Err)
	}
	with, err := w.CostWith(ctx, []Candidate{partial}, stmts)
	if err != nil {
		t.Fatal(err)
	}
	if len(with[0].Uses) != 1 {
		t.Errorf("CostWith: the plan uses configuration indexes %v, want the partial index", with[0].Uses)
	}

	stmts[0].QueryID, stmts[0].Query = "join_expr", "SELECT i.id FROM tenants t JOIN items i ON i.tenant_id = t.id WHERE t.name = $1 AND lower(i.status || i.id::text) = 'void42'"
	expr := Candidate{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Expression: "lower(status || id::text)"}}}
	if costed, err = w.Evaluate(ctx, nil, []Candidate{expr}, stmts); err != nil {
		t.Fatal(err)
	}
	if e := costedEffect(t, costed[0], "join_expr"); e.Err != nil || !e.UsesIndex || e.After > e.Before/3 {
		t.Errorf("expression index on the joined table: cost %.1f -> %.1f, uses it %v (err %v); want it used and 3x cheaper", e.Before, e.After, e.UsesIndex, e.Err)
	}
}

// What-if costs assume no more cache than shared_buffers (the sandbox's
// 128MB against the default 4GB effective_cache_size); the oracle's option
// keeps the planner as configured.
func TestWhatIfCapsEffectiveCacheSize(t *testing.T) {
	conn := testDB(t, "whatif_cache", itemsSetup...)
	setting := func() (cache, buffers string) {
		t.Helper()
		if err := conn.QueryRow(context.Background(), "SELECT current_setting('effective_cache_size'), current_setting('shared_buffers')").Scan(&cache, &buffers); err != nil {
			t.Fatal(err)
		}
		return cache, buffers
	}
	configured, buffers := setting()
	if configured == buffers {
		t.Fatalf("effective_cache_size is already shared_buffers (%s): the test needs a larger one", buffers)
	}
	var shown string
	if err := conn.QueryRow(context.Background(), "SELECT pg_size_pretty(pg_size_bytes(current_setting('effective_cache_size')))").Scan(&shown); err != nil {
		t.Fatal(err)
	}
	newWhatIf(t, conn, WhatIfOptions{UncappedCache: true})
	if cache, _ := setting(); cache != configured {
		t.Errorf("UncappedCache: effective_cache_size %s, want %s as configured", cache, configured)
	}
	w := newWhatIf(t, conn, WhatIfOptions{})
	if cache, _ := setting(); cache != buffers {
		t.Errorf("effective_cache_size %s after NewWhatIf, want shared_buffers (%s)", cache, buffers)
	}
	if got := w.ConfiguredCache(); got != shown {
		t.Errorf("ConfiguredCache() = %q, want %q", got, shown)
	}
	// What the recommendation's note tells people to SET is a valid setting.
	if _, err := conn.Exec(context.Background(), "BEGIN; SET LOCAL effective_cache_size = '"+w.CappedCache()+"'; ROLLBACK"); err != nil || w.CappedCache() == "" {
		t.Errorf("SET LOCAL effective_cache_size = %q: %v", w.CappedCache(), err)
	}
	stmts := []WorkloadStatement{{QueryID: "q", Query: "SELECT * FROM items WHERE tenant_id = $1", Params: []string{"1"}, Calls: 1, Tables: []string{"public.items"}}}
	costs, err := w.CostAsConfigured(context.Background(), []Candidate{btree("public.items", "tenant_id")}, stmts)
	if err != nil || costs[0].Err != nil || len(costs[0].Uses) != 1 {
		t.Fatalf("CostAsConfigured: %+v, %v", costs, err)
	}
	if cache, _ := setting(); cache != buffers {
		t.Errorf("effective_cache_size %s after CostAsConfigured, want the cap (%s) back", cache, buffers)
	}
	// A setting below shared_buffers is left alone.
	if _, err := conn.Exec(context.Background(), "SET effective_cache_size = '64MB'"); err != nil {
		t.Fatal(err)
	}
	if w := newWhatIf(t, conn, WhatIfOptions{}); w.ConfiguredCache() != "" {
		t.Errorf("ConfiguredCache() = %q with effective_cache_size below shared_buffers, want \"\"", w.ConfiguredCache())
	}
	if cache, _ := setting(); cache != "64MB" {
		t.Errorf("effective_cache_size %s, want the session's 64MB kept", cache)
	}
}

// parentsAndChildren: children.parent_id is a foreign key in all but
// name, indexed; parents.x has 1000 values.
var parentsAndChildren = []string{
	`CREATE TABLE parents (id int PRIMARY KEY, x int NOT NULL)`,
	`INSERT INTO parents SELECT g, g % 1000 FROM generate_series(1, 100000) g`,
	`CREATE TABLE children (id int, parent_id int NOT NULL)`,
	`INSERT INTO children SELECT g, g % 100000 + 1 FROM generate_series(1, 200000) g`,
	`CREATE INDEX children_parent_id_idx ON children (parent_id)`,
	`ANALYZE`,
}

// An index scanned on the inner side of a nested loop is probed once per
// outer row; one scanned on its own is not.
func TestExplainPlannerFindsProbedIndexes(t *testing.T) {
	conn := testDB(t, "whatif_probes", parentsAndChildren...)
	join := planSummary(t, conn, "SELECT * FROM parents p JOIN children c ON c.parent_id = p.id WHERE p.x = $1", "7")
	if !slices.Equal(join.Probed, []string{"children_parent_id_idx"}) || !slices.Contains(join.Indexes, "children_parent_id_idx") {
		t.Errorf("join: indexes %v, probed %v; want children_parent_id_idx probed", join.Indexes, join.Probed)
	}
	lookup := planSummary(t, conn, "SELECT * FROM children WHERE parent_id = $1", "7")
	if !slices.Equal(lookup.Indexes, []string{"children_parent_id_idx"}) || len(lookup.Probed) != 0 {
		t.Errorf("lookup: indexes %v, probed %v; want the index scanned, not probed", lookup.Indexes, lookup.Probed)
	}
	// Materialized, the inner side's index is scanned once.
	cross := planSummary(t, conn, "SELECT p.id, c.id FROM parents p CROSS JOIN children c WHERE p.x = $1 AND c.parent_id <= 2", "7")
	if !slices.Equal(cross.Indexes, []string{"children_parent_id_idx"}) || len(cross.Probed) != 0 {
		t.Errorf("materialized: indexes %v, probed %v; want the index scanned once, not probed", cross.Indexes, cross.Probed)
	}
}

// An index read in order for a LIMIT is walked when rows are dropped on
// the way (a filter on the scan, a join that keeps few outer rows), not
// when every row it yields counts, nor when a sort reads it all first.
func TestExplainPlannerFindsLimitWalks(t *testing.T) {
	conn := testDB(t, "whatif_walks", parentsAndChildren...)
	for _, c := range []struct {
		query  string
		params []string
		walked []string
	}{
		{"SELECT id FROM children WHERE id % 1000 = $1 ORDER BY parent_id LIMIT 5", []string{"7"}, []string{"children_parent_id_idx"}},
		{"SELECT p.id FROM parents p JOIN children c ON c.parent_id = p.id WHERE c.id > $1 ORDER BY p.id LIMIT 5", []string{"180000"}, []string{"parents_pkey"}},
		{"SELECT c.id, p.x FROM children c JOIN parents p ON p.id = c.parent_id ORDER BY c.parent_id LIMIT 5", nil, nil},
		{"SELECT id FROM children WHERE parent_id > $1 ORDER BY parent_id LIMIT 5", []string{"7"}, nil},
		{"SELECT id FROM children WHERE parent_id < $1 AND id % 1000 = 7 ORDER BY id LIMIT 5", []string{"30"}, nil},
		// The Limit's InitPlan comes first among its children; its input is still walked.
		{"SELECT id FROM children WHERE id % 1000 = (SELECT max(x) FROM parents WHERE id = $1) ORDER BY parent_id LIMIT 5", []string{"7"}, []string{"children_parent_id_idx"}},
		// An InitPlan is not stopped by the Limit above it: its filtered index scan is no walk.
		{"SELECT id FROM parents WHERE x = (SELECT id FROM children WHERE parent_id = $1 AND id % 7 = 0) LIMIT 5", []string{"7"}, nil},
	} {
		sum := planSummary(t, conn, c.query, c.params...)
		if len(sum.Indexes) == 0 {
			t.Errorf("%s: the plan reads no index: the case tests nothing", c.query)
		}
		if !slices.Equal(sum.Walked, c.walked) {
			t.Errorf("%s: walked %v (indexes %v), want %v", c.query, sum.Walked, sum.Indexes, c.walked)
		}
		// A walk's bound is its LIMIT's input read in full.
		if walks := len(c.walked) > 0; walks != (sum.WalkBound > sum.Cost) || sum.WalkBound < sum.Cost {
			t.Errorf("%s: cost %.1f, walk bound %.1f; want a higher bound exactly when an index is walked", c.query, sum.Cost, sum.WalkBound)
		}
	}
}

func planSummary(t *testing.T, conn *pgx.Conn, query string, params ...string) PlanSummary {
	t.Helper()
	sum, err := ExplainPlanner{}.PlanCost(context.Background(), conn, WorkloadStatement{QueryID: "q", Query: query, Params: params})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}
