package explain

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

var shopSchema = []string{
	`CREATE TABLE customers (id int PRIMARY KEY, name text, region text)`,
	`CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers, status text,
		created_at timestamptz, meta jsonb)`,
	`INSERT INTO customers SELECT g, 'c' || g, (ARRAY['eu', 'us', 'apac'])[1 + g % 3] FROM generate_series(1, 200) g`,
	`INSERT INTO orders SELECT g, 1 + g % 200, (ARRAY['shipped', 'shipped', 'shipped', 'pending', 'cancelled'])[1 + g % 5],
		'2024-01-01'::timestamptz + g * interval '10 minutes',
		jsonb_build_object('tier', (ARRAY['gold', 'silver'])[1 + g % 2], 'n', g % 7)
		FROM generate_series(1, 20000) g`,
	`CREATE INDEX ON orders (customer_id)`,
	`CREATE INDEX ON orders (created_at)`,
	`CREATE FUNCTION bump() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'`,
	`ANALYZE`,
}

// connect opens an advisor connection to the sandbox database db.
func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(ctx) })
	return conn
}

// preparedStatements counts what a session has left prepared, protocol-level ones included.
func preparedStatements(t *testing.T, conn *pgx.Conn) int {
	t.Helper()
	return queryRow[int](t, conn, "SELECT count(*)::int FROM pg_prepared_statements")
}

func TestRunnerReplica(t *testing.T) {
	db := gateDatabase(t, "runner", shopSchema...)
	ctx := context.Background()
	conn := connect(t, sandbox.ReplicaDSN(db))
	cat := testCatalog(t, conn)
	r := NewRunner(nil, RunnerOptions{StatementTimeout: 2 * time.Second})

	cases := []struct {
		q       Query
		mode    Mode
		outcome Outcome
		reason  string   // substring
		params  []string // values wanted, "*" for any
		node    string   // a node type the plan must contain
	}{
		{q: Query{ID: "1", Text: "SELECT * FROM orders WHERE status = $1 AND created_at > $2 ORDER BY created_at LIMIT $3"},
			mode: ModeAnalyze, outcome: OutcomeOK, params: []string{"shipped", "*", "10"}, node: "Limit"},
		{q: Query{ID: "2", Text: "SELECT o.id FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.region = $1 AND o.meta->>'tier' = $2"},
			mode: ModeAnalyze, outcome: OutcomeOK, node: "Hash Join"},
		{q: Query{ID: "3", Text: "SELECT count(*) FROM orders WHERE customer_id IN ($1, $2) AND meta @> $3"},
			mode: ModeAnalyze, outcome: OutcomeOK, node: "Aggregate"},
		{q: Query{ID: "4", Text: "SELECT count(*) FROM customers"}, mode: ModeAnalyze, outcome: OutcomeOK, node: "Aggregate"},
		{q: Query{ID: "5", Text: "SELECT bump(), * FROM orders WHERE id = $1"}, mode: ModeGeneric, outcome: OutcomeOK,
			reason: "refused: calls volatile function public.bump()", node: "Index Scan"},
		{q: Query{ID: "6", Text: "UPDATE orders SET status = $1 WHERE id = $2"}, mode: ModeGeneric, outcome: OutcomeOK,
			reason: "refused: UPDATE is not a SELECT", node: "ModifyTable"},
		{q: Query{ID: "7", Text: "SELECT pg_sleep($1)"}, mode: ModeGeneric, outcome: OutcomeOK, reason: "denied function pg_sleep()"},
		{q: Query{ID: "8", Text: "SELECT * FROM orders WHERE id = $1 * 2"}, mode: ModeGeneric, outcome: OutcomeOK,
			reason: "not analyzed: no value for $1"},
		{q: Query{ID: "9", Text: "SELECT * FROM customers WHERE name::int = $1"}, mode: ModeGeneric, outcome: OutcomeOK,
			reason: "not analyzed: EXPLAIN ANALYZE failed: ERROR: invalid input syntax for type integer"},
		{q: Query{ID: "10", Text: "SELECT count(*) FROM generate_series(1, 1000000000)"}, mode: ModeGeneric, outcome: OutcomeTimeout,
			reason: "canceled (timeout)", node: "Aggregate"},
		{q: Query{ID: "11", Text: "SELECT * FROM no_such_table"}, mode: ModeNone, outcome: OutcomeError},
		{q: Query{ID: "12", Text: "SELECT 1/0"}, mode: ModeNone, outcome: OutcomeError},
		{q: Query{ID: "13", Text: "COPY orders TO STDOUT"}, mode: ModeNone, outcome: OutcomeRefused, reason: "COPY statement cannot be explained"},
		{q: Query{ID: "14", Text: "SELECT 1; SELECT pg_terminate_backend(pg_backend_pid())"}, mode: ModeNone, outcome: OutcomeRefused,
			reason: "2 statements"},
	}
	queries := make([]Query, len(cases))
	for i, tc := range cases {
		queries[i] = tc.q
	}
	results := r.RunAll(ctx, conn, cat, queries)
	for i, tc := range cases {
		res := results[i]
		if res.QueryID != tc.q.ID || res.Mode != tc.mode || res.Outcome != tc.outcome || !strings.Contains(res.Reason, tc.reason) {
			t.Errorf("%s: got mode %s outcome %s reason %q err %q; want mode %s outcome %s reason containing %q",
				tc.q.Text, res.Mode, res.Outcome, res.Reason, res.Err, tc.mode, tc.outcome, tc.reason)
			continue
		}
		if (res.Mode == ModeNone) != (res.Plan == nil) || (res.Plan == nil) != (len(res.PlanJSON) == 0) {
			t.Errorf("%s: mode %s with plan %v and %d bytes of JSON", tc.q.Text, res.Mode, res.Plan != nil, len(res.PlanJSON))
		}
		if res.Plan != nil && res.Plan.Analyzed() != (res.Mode == ModeAnalyze) {
			t.Errorf("%s: mode %s but Analyzed() = %v", tc.q.Text, res.Mode, res.Plan.Analyzed())
		}
		if tc.node != "" && res.Plan != nil && !planHasNode(res.Plan, tc.node) {
			t.Errorf("%s: no %s node in %s", tc.q.Text, tc.node, res.PlanJSON)
		}
		if (res.Outcome == OutcomeError || res.Outcome == OutcomeTimeout) && res.Err == "" {
			t.Errorf("%s: outcome %s without an error", tc.q.Text, res.Outcome)
		}
		if res.Mode == ModeAnalyze {
			if len(res.Params) != strings.Count(tc.q.Text, "$") {
				t.Errorf("%s: params %+v", tc.q.Text, res.Params)
			}
			if res.Plan.Settings == nil && res.Plan.PlanningTime == 0 {
				t.Errorf("%s: an analyzed plan without planning time", tc.q.Text)
			}
		} else if res.Params != nil {
			t.Errorf("%s: mode %s with params %+v", tc.q.Text, res.Mode, res.Params)
		}
		for i, want := range tc.params {
			if i >= len(res.Params) || (want != "*" && res.Params[i].Value != want) {
				t.Errorf("%s: params %+v, want values %q", tc.q.Text, res.Params, tc.params)
				break
			}
		}
		if res.Duration <= 0 {
			t.Errorf("%s: duration %v", tc.q.Text, res.Duration)
		}
	}
	if n := preparedStatements(t, conn); n != 0 {
		t.Errorf("%d prepared statements left on the runner's connection", n)
	}
	if app := queryRow[string](t, conn, "SELECT current_setting('application_name')"); app != "pgadvisor" {
		t.Errorf("application_name = %q", app)
	}
	// Every setting was LOCAL: the session is as it was.
	if st := queryRow[string](t, conn, "SELECT current_setting('statement_timeout')"); st != "0" {
		t.Errorf("statement_timeout = %s after the run", st)
	}
}

func TestRunnerPrimaryWithoutAllowIsGeneric(t *testing.T) {
	db := gateDatabase(t, "runner_primary", shopSchema...)
	conn := connect(t, sandbox.DSN(db))
	cat := testCatalog(t, conn)
	res := NewRunner(nil, RunnerOptions{}).Run(context.Background(), conn, cat,
		Query{ID: "p", Text: "SELECT * FROM orders WHERE status = $1"})
	if res.Mode != ModeGeneric || res.Outcome != OutcomeOK || !strings.Contains(res.Reason, "is a primary") ||
		res.Plan == nil || res.Plan.Analyzed() || res.Params != nil {
		t.Errorf("on the primary without AllowAnalyzeOnPrimary: %+v", res)
	}
	res = NewRunner(nil, RunnerOptions{AllowAnalyzeOnPrimary: true}).Run(context.Background(), conn, cat,
		Query{ID: "p", Text: "SELECT * FROM orders WHERE status = $1"})
	if res.Mode != ModeAnalyze || res.Plan == nil || !res.Plan.Analyzed() || len(res.Params) != 1 {
		t.Errorf("on the primary with AllowAnalyzeOnPrimary: %+v", res)
	}
}

// A run that read far more than the calls did on average is made again
// with the constant of a partial index's predicate for the equality on its
// column, and taken when its reads could be the calls'; calls that read as
// much as the first run keep it. The typical values for costing follow the
// run taken.
func TestRunnerTakesAPartialIndexValueForCallsThatReadLittle(t *testing.T) {
	db := gateDatabase(t, "runner_predicate",
		`CREATE TABLE orders (id serial, status text, created_at timestamptz, pad text)`,
		`INSERT INTO orders (status, created_at, pad) SELECT CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, now() - g * interval '1 minute', repeat('x', 100) FROM generate_series(1, 20000) g`,
		`CREATE INDEX orders_pending ON orders (created_at) WHERE status = 'pending'`,
		// It also tests pad, which the statement does not: no use to it.
		`CREATE INDEX orders_a_pad ON orders (created_at) WHERE status = 'held' AND pad = 'y'`,
		`ANALYZE orders`)
	ctx := context.Background()
	conn, cat := replicaCatalog(t, db)
	const query = "SELECT id FROM orders WHERE status = $1 AND created_at < $2 ORDER BY created_at LIMIT 100"
	r := NewRunner(nil, RunnerOptions{})

	usual := r.Run(ctx, conn, cat, Query{ID: "q", Text: query})
	ran, ok := sharedBuffers(usual.Plan)
	if usual.Mode != ModeAnalyze || len(usual.Params) != 2 || usual.Params[0].Value != "delivered" || usual.Values != "" || !ok {
		t.Fatalf("calls' reads unknown: %+v, %q; want the run with the most common status", usual.Params, usual.Reason)
	}
	light := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, BuffersPerCall: 3})
	lightRan, _ := sharedBuffers(light.Plan)
	if light.Mode != ModeAnalyze || len(light.Params) != 2 || light.Params[0].Value != "pending" || light.Values != ValuesPredicate ||
		!strings.Contains(light.Reason, "analyzed with $1 from predicate of partial index orders_pending on public.orders") {
		t.Errorf("calls of 3 buffers, a run of %.0f: %+v, %q; want the run with 'pending' taken", ran, light.Params, light.Reason)
	}
	// One call in twenty-five asks for 'delivered': those do most of the reads.
	mixed := 0.96*lightRan + 0.04*ran
	if mix := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, BuffersPerCall: mixed}); mix.Values != "" || mix.Params[0].Value != "delivered" {
		t.Errorf("calls of %.0f buffers, 4%% of them like the run of %.0f: %+v, %q; want that run kept", mixed, ran, mix.Params, mix.Reason)
	}
	heavy := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, BuffersPerCall: ran})
	if heavy.Params[0].Value != "delivered" || heavy.Values != "" || heavy.Reason != "" {
		t.Errorf("calls that read what the run read: %+v, %q; want the run with 'delivered' kept", heavy.Params, heavy.Reason)
	}
	t.Logf("buffers: the usual run %.0f, with 'pending' %.0f", ran, lightRan)

	for run, want := range map[*Result]bool{&light: true, &usual: false} {
		ps, err := SynthesizeTypicalParamsLike(ctx, conn, cat, query, 100, *run)
		if err != nil || len(ps) != 2 || (ps[0].Value == "pending") != want {
			t.Errorf("typical values after a run with values %q: %+v (%v)", run.Values, ps, err)
		}
	}
	for predicate, want := range map[string]struct {
		constants map[string]string
		others    []string
	}{
		"(status = 'pending'::text)":                     {map[string]string{"status": "pending"}, nil},
		"((status)::text = 'pending'::text)":             {map[string]string{"status": "pending"}, nil}, // a varchar column
		"((kind = 3) AND ('us'::text = region))":         {map[string]string{"kind": "3", "region": "us"}, nil},
		"((kind = 3) AND (deleted_at IS NULL))":          {map[string]string{"kind": "3"}, []string{"deleted_at IS NULL"}},
		"(status <> 'cancelled'::text)":                  {map[string]string{}, []string{"status <> 'cancelled'::text"}},
		"((status = 'a'::text) OR (status = 'b'::text))": {map[string]string{}, []string{"status = 'a'::text OR status = 'b'::text"}},
	} {
		constants, others, ok := predicateConditions(predicate)
		if !ok || !maps.Equal(constants, want.constants) || !slices.Equal(others, want.others) {
			t.Errorf("predicateConditions(%q) = %v, %q, %v; want %v, %q", predicate, constants, others, ok, want.constants, want.others)
		}
	}
}

// A partial index whose predicate also has a condition the statement has
// too (deleted_at IS NULL, however qualified) gives its constant; one the
// statement lacks keeps the index out of it.
func TestRunnerTakesAPartialIndexValueWithTheStatementsOtherCondition(t *testing.T) {
	db := gateDatabase(t, "runner_predicate_null",
		`CREATE TABLE orders (id serial, status text, deleted_at timestamptz, created_at timestamptz, pad text)`,
		`INSERT INTO orders (status, created_at, pad) SELECT CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, now() - g * interval '1 minute', repeat('x', 100) FROM generate_series(1, 20000) g`,
		`CREATE INDEX orders_live_pending ON orders (created_at) WHERE status = 'pending' AND deleted_at IS NULL`,
		`ANALYZE orders`)
	ctx := context.Background()
	conn, cat := replicaCatalog(t, db)
	r := NewRunner(nil, RunnerOptions{})
	live := r.Run(ctx, conn, cat, Query{ID: "q", Text: "SELECT o.id FROM orders o WHERE o.status = $1 AND o.deleted_at IS NULL ORDER BY o.created_at LIMIT 20", BuffersPerCall: 20})
	if len(live.Params) != 1 || live.Params[0].Value != "pending" || live.Values != ValuesPredicate {
		t.Errorf("with deleted_at IS NULL: %+v, %q; want the run with 'pending' taken", live.Params, live.Reason)
	}
	all := r.Run(ctx, conn, cat, Query{ID: "q", Text: "SELECT o.id FROM orders o WHERE o.status = $1 ORDER BY o.created_at LIMIT 20", BuffersPerCall: 20})
	if len(all.Params) != 1 || all.Params[0].Value == "pending" || all.Values != "" {
		t.Errorf("without deleted_at IS NULL: %+v, %q; want the first run kept", all.Params, all.Reason)
	}
}

// A run with the most common value that read far less than the calls did
// is made again with typical values, and taken when its reads could be the
// calls': the busiest tenant fills the LIMIT at once walking created_at,
// the others do not.
func TestRunnerTakesTypicalValuesForCallsThatReadMore(t *testing.T) {
	db := gateDatabase(t, "runner_typical",
		`CREATE TABLE orders (id serial, tenant_id int, created_at timestamptz, pad text)`,
		`INSERT INTO orders (tenant_id, created_at, pad) SELECT CASE WHEN g % 2 = 0 THEN 1 ELSE 2 + g % 499 END, now() - g * interval '1 minute', repeat('x', 100) FROM generate_series(1, 100000) g`,
		`CREATE INDEX orders_created_at ON orders (created_at)`,
		`ANALYZE orders`)
	ctx := context.Background()
	conn, cat := replicaCatalog(t, db)
	const query = "SELECT id FROM orders WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2"
	r := NewRunner(nil, RunnerOptions{})
	hottest := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, RowsPerCall: 10})
	ran, ok := sharedBuffers(hottest.Plan)
	if hottest.Mode != ModeAnalyze || len(hottest.Params) != 2 || hottest.Params[0].Value != "1" || hottest.Values != "" || !ok {
		t.Fatalf("calls' reads unknown: %+v, %q; want the run with the busiest tenant", hottest.Params, hottest.Reason)
	}
	typical, err := SynthesizeTypicalParams(ctx, conn, cat, query, 10)
	if err != nil {
		t.Fatal(err)
	}
	slow := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, RowsPerCall: 10, BuffersPerCall: 20 * ran})
	slowRan, _ := sharedBuffers(slow.Plan)
	if slow.Mode != ModeAnalyze || len(slow.Params) != 2 || slow.Params[0].Value != typical[0].Value || slow.Values != ValuesTypical ||
		!strings.HasPrefix(slow.Reason, "analyzed with typical values: the calls read") {
		t.Errorf("calls of %.0f buffers, a run of %.0f: %+v, %q; want the run with tenant %s taken", 20*ran, ran, slow.Params, slow.Reason, typical[0].Value)
	}
	t.Logf("buffers: the busiest tenant %.0f, tenant %s %.0f", ran, typical[0].Value, slowRan)
	if same := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, RowsPerCall: 10, BuffersPerCall: ran}); same.Values != "" || same.Params[0].Value != "1" {
		t.Errorf("calls that read what the run read: %+v, %q; want the busiest tenant kept", same.Params, same.Reason)
	}
	// Calls that read far more than either run: the second is no nearer.
	if far := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, RowsPerCall: 10, BuffersPerCall: 100 * slowRan}); far.Values != "" || far.Params[0].Value != "1" {
		t.Errorf("calls of %.0f buffers: %+v, %q; want the busiest tenant kept", 100*slowRan, far.Params, far.Reason)
	}
	// With OFFSET the run reads the first page, whatever the calls read.
	paged := "SELECT id FROM orders WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT $2 OFFSET $3"
	if deep := r.Run(ctx, conn, cat, Query{ID: "p", Text: paged, RowsPerCall: 10, BuffersPerCall: 20 * ran}); deep.Mode != ModeAnalyze || deep.Values != "" || deep.Params[0].Value != "1" {
		t.Errorf("paged calls of %.0f buffers: %+v, %q; want the busiest tenant's first page kept", 20*ran, deep.Params, deep.Reason)
	}
}

// A second run that fails (here the partial index's value divides by
// zero, though no call asks for it) leaves the first one standing.
func TestRunnerKeepsTheFirstRunWhenTheSecondFails(t *testing.T) {
	db := gateDatabase(t, "runner_rerun_fails",
		`CREATE TABLE orders (id serial, status text, qty int)`,
		`INSERT INTO orders (status, qty) SELECT CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, CASE WHEN g % 500 = 0 THEN 0 ELSE 1 END FROM generate_series(1, 20000) g`,
		`CREATE INDEX orders_pending ON orders (id) WHERE status = 'pending'`,
		`ANALYZE orders`)
	ctx := context.Background()
	conn, cat := replicaCatalog(t, db)
	res := NewRunner(nil, RunnerOptions{}).Run(ctx, conn, cat, Query{ID: "q", Text: "SELECT 100 / qty FROM orders WHERE status = $1", BuffersPerCall: 1})
	if res.Mode != ModeAnalyze || res.Outcome != OutcomeOK || len(res.Params) != 1 || res.Params[0].Value != "delivered" || res.Values != "" {
		t.Errorf("%s %s %+v %q %q; want the first run, with 'delivered'", res.Mode, res.Outcome, res.Params, res.Reason, res.Err)
	}
}

// A run with the most common value that goes past statement_timeout reads
// far more than calls that finish: the partial index's value is tried in
// a transaction of its own, and taken when it reads like the calls.
func TestRunnerTriesAPartialIndexValueAfterATimeout(t *testing.T) {
	db := gateDatabase(t, "runner_rerun_timeout",
		`CREATE TABLE orders (id serial, status text, qty int)`,
		`INSERT INTO orders (status, qty) SELECT CASE WHEN g % 500 = 0 THEN 'pending' ELSE 'delivered' END, 1000 FROM generate_series(1, 20000) g`,
		`CREATE INDEX orders_pending ON orders (id) WHERE status = 'pending'`,
		`ANALYZE orders`)
	ctx := context.Background()
	conn, cat := replicaCatalog(t, db)
	const query = "SELECT count(*) FROM orders o CROSS JOIN LATERAL generate_series(1, o.qty) g WHERE o.status = $1"
	r := NewRunner(nil, RunnerOptions{StatementTimeout: 300 * time.Millisecond})
	if res := r.Run(ctx, conn, cat, Query{ID: "q", Text: query}); res.Outcome != OutcomeTimeout {
		t.Fatalf("the test needs the run with 'delivered' (20M rows) to time out: %s %s %q", res.Mode, res.Outcome, res.Reason)
	}
	res := r.Run(ctx, conn, cat, Query{ID: "q", Text: query, BuffersPerCall: 30})
	if res.Mode != ModeAnalyze || res.Outcome != OutcomeOK || len(res.Params) != 1 || res.Params[0].Value != "pending" || res.Values != ValuesPredicate ||
		!strings.Contains(res.Reason, "a run with the most common values ran past statement_timeout") {
		t.Errorf("%s %s %+v %q; want the run with 'pending' taken", res.Mode, res.Outcome, res.Params, res.Reason)
	}
}

// replicaCatalog connects to db on the replica and loads its catalog, with
// the indexes and statistics the runner's value choices read.
func replicaCatalog(t *testing.T, db string) (*pgx.Conn, *collector.Catalog) {
	t.Helper()
	conn := connect(t, sandbox.ReplicaDSN(db))
	cat, err := collector.LoadCatalog(context.Background(), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	return conn, cat
}

func TestLikeShare(t *testing.T) {
	for _, tc := range []struct{ mean, ran, again, want float64 }{
		{5, 388, 5, 1},          // every call like the second run
		{3, 388, 5, 1},          // calls read less than either: the lighter
		{388, 388, 5, 0},        // every call like the first
		{20.5, 388, 5, 0.23},    // 4% like the first, which read 77% of it
		{60, 3, 220, 0.96},      // a quarter like the second, which read 96%
		{150821, 899, 35181, 1}, // more than either: the heavier
		{7, 7, 7, 0},            // runs that read alike: the first stands
	} {
		if got := likeShare(tc.mean, tc.ran, tc.again); math.Abs(got-tc.want) > 0.01 {
			t.Errorf("likeShare(%v, %v, %v) = %.3f, want %.2f", tc.mean, tc.ran, tc.again, got, tc.want)
		}
	}
}

// TestRunnerGenericPlanBefore16: PREPARE + force_generic_plan + EXPLAIN
// EXECUTE with NULLs gives the plan with $n left in, and the prepared
// statement is gone afterwards, also when planning failed.
func TestRunnerGenericPlanBefore16(t *testing.T) {
	db := gateDatabase(t, "runner_generic", shopSchema...)
	conn := connect(t, sandbox.ReplicaDSN(db))
	r := NewRunner(nil, RunnerOptions{})
	ctx := context.Background()
	plan, err := r.PlanOnly(ctx, conn, "SELECT * FROM orders WHERE id = $1 AND status = $2", nil)
	if err != nil {
		t.Fatal(err)
	}
	if plan.Analyzed() || plan.Root.NodeType != "Index Scan" || !strings.Contains(plan.Root.IndexCond, "$1") ||
		!strings.Contains(plan.Root.Filter, "$2") {
		t.Errorf("generic plan: %+v", plan.Root)
	}
	// Planning folds 1/0 and fails after PREPARE succeeded.
	if _, err := r.PlanOnly(ctx, conn, "SELECT 1/0 WHERE $1", nil); err == nil || !strings.Contains(err.Error(), "division by zero") {
		t.Errorf("PlanOnly(1/0) error = %v", err)
	}
	if n := preparedStatements(t, conn); n != 0 {
		t.Errorf("%d prepared statements left", n)
	}
	if mode := queryRow[string](t, conn, "SELECT current_setting('plan_cache_mode')"); mode != "auto" {
		t.Errorf("plan_cache_mode = %s after the run", mode)
	}
}

// TestPlanOnly: the advisor's what-if costing sees its session's HypoPG
// indexes, gets custom plans for given values, and nothing is executed,
// not even an UPDATE on the primary.
func TestPlanOnly(t *testing.T) {
	db := gateDatabase(t, "planonly", append(slices.Clone(shopSchema),
		`CREATE TABLE events (kind text, at date) PARTITION BY LIST (kind)`,
		`CREATE TABLE events_a PARTITION OF events FOR VALUES IN ('a')`,
		`CREATE TABLE events_b PARTITION OF events FOR VALUES IN ('b')`,
		`CREATE TABLE events_c PARTITION OF events FOR VALUES IN ('c')`)...)
	ctx := context.Background()
	r := NewRunner(nil, RunnerOptions{})

	replica := connect(t, sandbox.ReplicaDSN(db))
	if _, err := replica.Exec(ctx, "SELECT * FROM hypopg_create_index('CREATE INDEX ON orders (status)')"); err != nil {
		t.Fatal(err)
	}
	custom, err := r.PlanOnly(ctx, replica, "SELECT * FROM orders WHERE status = $1", []string{"no-such-status"})
	if err != nil {
		t.Fatal(err)
	}
	if !planUsesIndex(custom, "btree_orders_status") || custom.Analyzed() {
		t.Errorf("custom plan does not use the hypothetical index: %+v", custom.Root)
	}
	generic, err := r.PlanOnly(ctx, replica, "SELECT * FROM orders WHERE status = $1", nil)
	if err != nil {
		t.Fatal(err)
	}
	if generic.Root == nil || generic.Analyzed() {
		t.Errorf("generic plan: %+v", generic.Root)
	}
	// The NULLs a generic plan is explained with would prune every
	// partition at executor startup; a constant still prunes at planning.
	for query, want := range map[string]int{"SELECT * FROM events WHERE kind = $1": 3, "SELECT * FROM events WHERE kind = 'a' AND at = $1": 1,
		"SELECT * FROM events WHERE kind IN ('a', 'b') AND at = $1": 2} {
		plan, err := r.PlanOnly(ctx, replica, query, nil)
		if err != nil {
			t.Fatal(err)
		}
		scans := 0
		plan.Walk(func(_ string, n *Node) bool {
			if n.NodeType == "Seq Scan" {
				scans++
			}
			return true
		})
		if scans != want {
			t.Errorf("generic plan of %s scans %d partitions, want %d", query, scans, want)
		}
	}
	if _, err := r.PlanOnly(ctx, replica, "SELECT 1; SELECT 2", nil); err == nil || !strings.Contains(err.Error(), "2 statements") {
		t.Errorf("two statements: %v", err)
	}
	if _, err := r.PlanOnly(ctx, replica, "SELECT * FROM orders WHERE id = $1", []string{"1", "2"}); err == nil {
		t.Error("PlanOnly accepted 2 values for 1 parameter")
	}
	// A failure in the middle of the batch (prepare, or explain with a bad
	// value) leaves the session idle, with nothing prepared.
	if _, err := r.PlanOnly(ctx, replica, "SELECT * FROM orders WHERE status = $1 || no_such_column", nil); err == nil || !strings.Contains(err.Error(), "prepare:") {
		t.Errorf("generic plan of a bad statement: %v", err)
	}
	if _, err := r.PlanOnly(ctx, replica, "SELECT * FROM orders WHERE id = $1", []string{"not a number"}); err == nil || !strings.Contains(err.Error(), "explain:") {
		t.Errorf("custom plan with a bad value: %v", err)
	}
	if status, n := replica.PgConn().TxStatus(), preparedStatements(t, replica); status != 'I' || n != 0 {
		t.Errorf("after failed plans: transaction status %q, %d prepared statements; want idle, none", status, n)
	}
	if n := queryRow[int](t, replica, "SELECT count(*)::int FROM hypopg_list_indexes"); n != 1 {
		t.Errorf("%d hypothetical indexes after PlanOnly, want the 1 created", n)
	}

	primary := connect(t, sandbox.DSN(db))
	before := queryRow[string](t, primary, "SELECT status FROM orders WHERE id = 7")
	plan, err := r.PlanOnly(ctx, primary, "UPDATE orders SET status = $1 WHERE id = $2", []string{"changed", "7"})
	if err != nil {
		t.Fatal(err)
	}
	if plan.Root.NodeType != "ModifyTable" {
		t.Errorf("UPDATE plan root = %s", plan.Root.NodeType)
	}
	if after := queryRow[string](t, primary, "SELECT status FROM orders WHERE id = 7"); after != before {
		t.Errorf("PlanOnly changed the row: %q -> %q", before, after)
	}
	if n := preparedStatements(t, primary) + preparedStatements(t, replica); n != 0 {
		t.Errorf("%d prepared statements left", n)
	}
}

func planHasNode(p *Plan, nodeType string) bool {
	found := false
	p.Walk(func(_ string, n *Node) bool {
		found = found || n.NodeType == nodeType
		return true
	})
	return found
}

func planUsesIndex(p *Plan, suffix string) bool {
	found := false
	p.Walk(func(_ string, n *Node) bool {
		found = found || strings.HasSuffix(n.IndexName, suffix)
		return true
	})
	return found
}

// TestRunnerLockTimeout: a lock held by the workload makes EXPLAIN ANALYZE
// wait only lock_timeout, and the outcome says so.
func TestRunnerLockTimeout(t *testing.T) {
	db := gateDatabase(t, "runner_lock", shopSchema...)
	ctx := context.Background()
	holder := connect(t, sandbox.DSN(db))
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, sandbox.DSN(db))
	r := NewRunner(nil, RunnerOptions{AllowAnalyzeOnPrimary: true, LockTimeout: 200 * time.Millisecond})
	start := time.Now()
	res := r.Run(ctx, conn, nil, Query{ID: "l", Text: "SELECT count(*) FROM customers"})
	if res.Outcome != OutcomeTimeout || res.Mode != ModeNone || !strings.Contains(res.Err, "lock timeout") {
		t.Errorf("under a lock: %+v", res)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("waited %v for the lock", elapsed)
	}
	if n := preparedStatements(t, conn); n != 0 {
		t.Errorf("%d prepared statements left", n)
	}
}

func TestRunnerSkips(t *testing.T) {
	db := gateDatabase(t, "runner_skip", shopSchema...)
	r := NewRunner(nil, RunnerOptions{})
	queries := []Query{{ID: "a", Text: "SELECT 1"}, {ID: "b", Text: "SELECT 2"}}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, res := range r.RunAll(ctx, connect(t, sandbox.ReplicaDSN(db)), nil, queries) {
		if res.Outcome != OutcomeSkipped || res.Mode != ModeNone || res.Err == "" {
			t.Errorf("canceled context: %+v", res)
		}
	}
	closed := connect(t, sandbox.ReplicaDSN(db))
	closed.Close(context.Background())
	for _, res := range r.RunAll(context.Background(), closed, nil, queries) {
		if res.Outcome != OutcomeSkipped || !strings.Contains(res.Err, "closed") {
			t.Errorf("closed connection: %+v", res)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want Outcome
	}{
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to statement timeout"}, OutcomeTimeout},
		{&pgconn.PgError{Code: "57014", Message: "canceling statement due to user request"}, OutcomeError},
		{&pgconn.PgError{Code: "55P03", Message: "canceling statement due to lock timeout"}, OutcomeTimeout},
		{&pgconn.PgError{Code: "40001", Message: "canceling statement due to conflict with recovery"}, OutcomeConflict},
		{&pgconn.PgError{Code: "40001", Message: "could not serialize access"}, OutcomeError},
		{fmt.Errorf("explain: %w", &pgconn.PgError{Code: "55P03"}), OutcomeTimeout},
		{errors.New("broken pipe"), OutcomeError},
	} {
		if got := classify(tc.err); got != tc.want {
			t.Errorf("classify(%v) = %s, want %s", tc.err, got, tc.want)
		}
	}
}

// TestRunnerWarnsAboutForeignConnections: a connection not opened by
// dbconn.Connect lacks application_name pgadvisor, which the runner says.
func TestRunnerWarnsAboutForeignConnections(t *testing.T) {
	db := gateDatabase(t, "runner_app", shopSchema...)
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	core, logs := observer.New(zap.WarnLevel)
	res := NewRunner(zap.New(core), RunnerOptions{}).RunAll(ctx, conn, nil, []Query{{ID: "1", Text: "SELECT 1"}})
	if res[0].Mode != ModeAnalyze {
		t.Errorf("result %+v", res[0])
	}
	if logs.FilterMessageSnippet("dbconn.Connect").Len() != 1 {
		t.Errorf("logs: %+v", logs.All())
	}
}

// PostgreSQL's timeouts are whole milliseconds and 0 turns them off, so a
// sub-millisecond timeout rounds up.
func TestTimeoutsRoundUp(t *testing.T) {
	got := RunnerOptions{StatementTimeout: 900 * time.Microsecond, LockTimeout: 1500 * time.Microsecond}.timeouts()
	want := []string{"1", "2", "5001"}
	if !slices.Equal(got, want) {
		t.Errorf("timeouts = %v, want %v", got, want)
	}
}

// Sampling for parameter values reads a partition directly, where its own
// row security policies apply, which the gate (checking what the statement
// reads: the parent) never vetted. The runner samples with row security
// off, so a policy's function never runs: here it would write to the
// primary through dblink.
func TestRunnerSamplesWithoutRowSecurity(t *testing.T) {
	remote := fmt.Sprintf("host=127.0.0.1 port=%d dbname=rls_sample user=postgres", sandbox.Port())
	db := gateDatabase(t, "rls_sample",
		`CREATE EXTENSION dblink`,
		`CREATE TABLE hits (n int)`,
		fmt.Sprintf(`CREATE FUNCTION note_read() RETURNS bool LANGUAGE sql VOLATILE SECURITY DEFINER
			AS $$SELECT dblink_exec('%s', 'INSERT INTO hits VALUES (1)') IS NOT NULL$$`, remote),
		`CREATE TABLE pt (id int, k int) PARTITION BY RANGE (id)`,
		`CREATE TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (1000)`,
		`INSERT INTO pt1 SELECT g, g % 7 FROM generate_series(1, 100) g`,
		`ALTER TABLE pt1 ENABLE ROW LEVEL SECURITY`,
		`CREATE POLICY reads ON pt1 USING (note_read())`,
		`DROP ROLE IF EXISTS rls_advisor`,
		`CREATE ROLE rls_advisor LOGIN`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO rls_advisor`)
	ctx := context.Background()
	advisor := connect(t, strings.Replace(sandbox.ReplicaDSN(db), "postgres@", "rls_advisor@", 1))
	cat, err := collector.LoadCatalog(ctx, advisor, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	res := NewRunner(nil, RunnerOptions{}).Run(ctx, advisor, cat, Query{ID: "1", Text: "SELECT * FROM pt WHERE k = $1"})
	primary := connect(t, sandbox.DSN(db))
	if n := queryRow[int](t, primary, "SELECT count(*)::int FROM hits"); n != 0 {
		t.Errorf("the partition's policy ran %d times (mode %s, reason %q)", n, res.Mode, res.Reason)
	}
}

// A role with SELECT only (as README advises) may not plan a write: the
// outcome says so, not as an error an alert on explain errors would fire on.
func TestRunnerDeniedWrite(t *testing.T) {
	db := gateDatabase(t, "runner_denied",
		`CREATE TABLE t (id int PRIMARY KEY, n int)`,
		`DROP ROLE IF EXISTS select_only`,
		`CREATE ROLE select_only LOGIN`,
		`GRANT SELECT ON ALL TABLES IN SCHEMA public TO select_only`)
	conn := connect(t, strings.Replace(sandbox.ReplicaDSN(db), "postgres@", "select_only@", 1))
	cat, err := collector.LoadCatalog(context.Background(), conn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	res := NewRunner(nil, RunnerOptions{}).Run(context.Background(), conn, cat, Query{ID: "w", Text: "UPDATE t SET n = $1 WHERE id = $2"})
	if res.Outcome != OutcomeDenied || res.Mode != ModeNone || res.Err != "" || !strings.Contains(res.Reason, "permission denied for table t") {
		t.Errorf("a write planned by a SELECT-only role: %+v, want outcome denied with the reason", res)
	}
}
