package advisor

import (
	"context"
	"errors"
	"maps"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// replicaCatalog reads, from conn, what selection needs of the public
// schema: tables with row counts, partitions, columns with pg_stats, and
// indexes.
// TODO: use collector.LoadCatalog once it lands.
func replicaCatalog(t *testing.T, conn *pgx.Conn) *collector.Catalog {
	t.Helper()
	ctx := context.Background()
	cat := &collector.Catalog{Database: conn.Config().Database}
	rows, err := conn.Query(ctx, `SELECT c.oid, c.relname, c.relkind::text, c.reltuples::float8, c.relpages::int8, pg_total_relation_size(c.oid),
			coalesce((SELECT array_agg(p.relname ORDER BY p.relname) FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhrelid WHERE i.inhparent = c.oid), '{}')
		FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p') ORDER BY c.relname`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		tb := collector.Table{Schema: "public"}
		var parts []string
		if err := rows.Scan(&tb.OID, &tb.Name, &tb.Kind, &tb.RelTuples, &tb.RelPages, &tb.SizeBytes, &parts); err != nil {
			t.Fatal(err)
		}
		for _, p := range parts {
			tb.Partitions = append(tb.Partitions, "public."+collector.QuoteIdent(p))
		}
		cat.Tables = append(cat.Tables, tb)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for i := range cat.Tables {
		tb := &cat.Tables[i]
		rows, err := conn.Query(ctx, `SELECT a.attname, format_type(a.atttypid, a.atttypmod), s.n_distinct::float8, s.avg_width, s.null_frac::float8, coalesce(s.correlation, 0)::float8
			FROM pg_attribute a LEFT JOIN pg_stats s ON s.schemaname = 'public' AND s.tablename = $2 AND s.attname = a.attname AND s.inherited = ($3 = 'p')
			WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`, tb.OID, tb.Name, tb.Kind)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var col collector.Column
			var nd, nullFrac, correlation *float64
			var width *int32
			if err := rows.Scan(&col.Name, &col.Type, &nd, &width, &nullFrac, &correlation); err != nil {
				t.Fatal(err)
			}
			if nd != nil {
				col.Stats = &collector.ColumnStats{NDistinct: *nd, AvgWidth: *width, NullFrac: *nullFrac, Correlation: *correlation}
			}
			tb.Columns = append(tb.Columns, col)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	rows, err = conn.Query(ctx, `SELECT ic.relname, tc.relname, am.amname FROM pg_index i
		JOIN pg_class ic ON ic.oid = i.indexrelid JOIN pg_class tc ON tc.oid = i.indrelid JOIN pg_am am ON am.oid = ic.relam
		WHERE tc.relnamespace = 'public'::regnamespace ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		ix := collector.Index{Schema: "public"}
		var table string
		if err := rows.Scan(&ix.Name, &table, &ix.Method); err != nil {
			t.Fatal(err)
		}
		ix.Table = "public." + collector.QuoteIdent(table)
		cat.Indexes = append(cat.Indexes, ix)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cat
}

// pairsSetup: a = $1 finds 100 rows, a = $1 AND b = $2 one; padding makes
// the heap wide enough that a sequential scan is clearly worse.
var pairsSetup = []string{
	`CREATE TABLE pairs (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL, pad text NOT NULL)`,
	`INSERT INTO pairs SELECT g, g % 500, g / 500, repeat('x', 60) FROM generate_series(1, 50000) g`,
	`ANALYZE pairs`,
}

func stmt(id, query string, calls float64, table string, params ...string) WorkloadStatement {
	return WorkloadStatement{QueryID: id, Query: query, Calls: calls, Params: params, Tables: []string{table}}
}

func selectRecs(t *testing.T, w *WhatIf, cat *collector.Catalog, cands []Candidate, stmts []WorkloadStatement, opts SelectOptions) []Recommendation {
	t.Helper()
	recs, err := Select(context.Background(), w, cat, cands, stmts, nil, opts, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestSelectOneCompositeForTwoStatements(t *testing.T) {
	conn := testDB(t, "select_composite", pairsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 100, "public.pairs", "42"),
		stmt("by_a_b", "SELECT * FROM pairs WHERE a = $1 AND b = $2", 100, "public.pairs", "42", "7"),
	}
	cands := []Candidate{btree("public.pairs", "a"), btree("public.pairs", "a", "b"), btree("public.pairs", "b")}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 {
		t.Fatalf("got %d recommendations, want one composite:\n%s", len(recs), describeRecs(recs))
	}
	r := recs[0]
	if !slices.Equal(r.Columns, []string{"a", "b"}) || !slices.Equal(slices.Sorted(slices.Values(r.QueryIDs)), []string{"by_a", "by_a_b"}) {
		t.Errorf("want (a, b) serving both statements, got %s", describeRecs(recs))
	}
	if !r.Validated || r.ValidationNote != "" || r.ImprovementPct < 30 || r.CostAfter >= r.CostBefore {
		t.Errorf("evidence: %+v", r)
	}
	for _, g := range r.Statements {
		if g.CostAfter > g.CostBefore*0.7 || g.Calls != 100 {
			t.Errorf("statement %s: %+v, want a drop of 30%% or more", g.QueryID, g)
		}
	}
	if r.ID != recommendationID(cat.Database, cands[1]) || len(r.ID) != 16 {
		t.Errorf("ID %q, want the definition hash", r.ID)
	}
	if !strings.Contains(r.DDL, "CREATE INDEX CONCURRENTLY IF NOT EXISTS pairs_a_b_idx ON public.pairs USING btree (a, b);") ||
		!strings.Contains(r.VerifySQL, "unnest(ARRAY['public.pairs_a_b_idx'])") {
		t.Errorf("DDL %q, verify %q", r.DDL, r.VerifySQL)
	}
	if !strings.HasPrefix(r.Reason, "Btree index on a, b: the planner's cost of the 2 statements it serves drops ") {
		t.Errorf("reason %q", r.Reason)
	}
	// On a table at its limit the composite still replaces the prefix picked first.
	if one := selectRecs(t, w, cat, cands, stmts, SelectOptions{MaxPerTable: 1}); len(one) != 1 || !slices.Equal(one[0].Columns, []string{"a", "b"}) {
		t.Errorf("MaxPerTable 1: want the composite alone, got:\n%s", describeRecs(one))
	}
	// The same input gives the same output.
	if again := selectRecs(t, w, cat, cands, stmts, SelectOptions{}); !reflect.DeepEqual(again, recs) {
		t.Errorf("second run differs:\n%s\nvs\n%s", describeRecs(again), describeRecs(recs))
	}
}

// TestSelectFoldsTwoIndexesIntoOne: an ordered read and an index-only count
// each pick an index of their own on tenant_id; one index, the ordered one
// carrying the count's INCLUDE column, serves both.
func TestSelectFoldsTwoIndexesIntoOne(t *testing.T) {
	conn := testDB(t, "select_fold",
		`CREATE TABLE folds (id bigint PRIMARY KEY, tenant_id int NOT NULL, created_at timestamptz NOT NULL, status text NOT NULL, pad text NOT NULL)`,
		`INSERT INTO folds SELECT g, g % 100, '2026-01-01'::timestamptz - g * interval '1 minute', (ARRAY['new','paid','sent'])[1 + g % 3], repeat('x', 200) FROM generate_series(1, 100000) g`,
		`VACUUM ANALYZE folds`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("recent", "SELECT id, created_at FROM folds WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 10", 100, "public.folds", "42"),
		stmt("counts", "SELECT status, count(*) FROM folds WHERE tenant_id = $1 GROUP BY status", 100, "public.folds", "42"),
	}
	counting := Candidate{Table: "public.folds", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Include: []string{"status"},
		QueryIDs: []string{"counts"}, Why: "equality on tenant_id; INCLUDE status"}
	recent := btree("public.folds", "tenant_id", "created_at")
	recent.QueryIDs, recent.Why = []string{"recent"}, "equality on tenant_id; order by created_at with LIMIT"
	recs := selectRecs(t, w, cat, []Candidate{recent, counting}, stmts, SelectOptions{})
	if len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"tenant_id", "created_at"}) || !slices.Equal(recs[0].Include, []string{"status"}) ||
		!slices.Equal(slices.Sorted(slices.Values(recs[0].QueryIDs)), []string{"counts", "recent"}) {
		t.Fatalf("want one (tenant_id, created_at) INCLUDE (status) serving both statements, got:\n%s", describeRecs(recs))
	}
	if r := recs[0]; !r.Validated || r.ImprovementPct < 30 || !strings.Contains(r.DDL, "(tenant_id, created_at) INCLUDE (status)") {
		t.Errorf("evidence: %+v", r)
	}
	// Its reason gives each statement's, and says it was folded.
	for _, want := range []string{"order by created_at with LIMIT", "INCLUDE status", "folded from two indexes"} {
		if !strings.Contains(recs[0].Reason, want) {
			t.Errorf("reason %q does not say %q", recs[0].Reason, want)
		}
	}
}

// Folding gives one index whichever of the two comes first: INCLUDE
// columns in the table's order.
func TestFoldedCandidateIncludeOrder(t *testing.T) {
	table := &collector.Table{Schema: "public", Name: "folds", Columns: []collector.Column{
		{Name: "id", Type: "bigint"}, {Name: "tenant_id", Type: "integer"}, {Name: "created_at", Type: "timestamptz"}, {Name: "status", Type: "text"}}}
	keys := []collector.IndexKey{{Column: "tenant_id"}, {Column: "created_at"}}
	byStatus := Candidate{Table: "public.folds", Method: "btree", Keys: keys, Include: []string{"status"}}
	byID := Candidate{Table: "public.folds", Method: "btree", Keys: keys, Include: []string{"id"}}
	for _, pair := range [][2]Candidate{{byStatus, byID}, {byID, byStatus}} {
		m, ok := foldedCandidate(pair[0], pair[1], table)
		if !ok || !slices.Equal(m.Include, []string{"id", "status"}) {
			t.Errorf("fold of %v and %v: %v INCLUDE %v (ok %t), want INCLUDE (id, status)", pair[0].Include, pair[1].Include, m.Keys, m.Include, ok)
		}
	}
}

// An index the plan reads in order until the LIMIT fills, filtering as it
// goes, is recommended with the warning that a rare value reads more, when
// reading its whole range would still cost less than the plan without it.
// When it would cost more, the gain is a gamble on where the rows it keeps
// lie in the index, and the index is not recommended.
func TestSelectWarnsOfLimitWalks(t *testing.T) {
	conn := testDB(t, "select_walks",
		`CREATE TABLE walks (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL, pad text NOT NULL)`,
		`INSERT INTO walks SELECT g, g / 100, g % 100, repeat('x', 60) FROM generate_series(1, 50000) g`,
		`ANALYZE walks`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	byA := []Candidate{btree("public.walks", "a")}
	bounded := stmt("late_b", "SELECT * FROM walks WHERE a >= $1 AND b = $2 ORDER BY a LIMIT 5", 100, "public.walks", "450", "7")
	recs := selectRecs(t, w, cat, byA, []WorkloadStatement{bounded}, SelectOptions{})
	if len(recs) != 1 || !slices.Equal(recs[0].LimitWalks, []string{"late_b"}) || !slices.Equal(recs[0].QueryIDs, []string{"late_b"}) ||
		!strings.Contains(recs[0].ValidationNote, "for 1 statement (late_b) the plan reads it in index order until the LIMIT is filled") {
		t.Errorf("want (a) with the walk disclosed, got:\n%s", describeRecs(recs))
	}
	gamble := stmt("first_of_b", "SELECT * FROM walks WHERE b = $1 ORDER BY a LIMIT 5", 100, "public.walks", "7")
	costed, err := w.Evaluate(context.Background(), nil, byA, []WorkloadStatement{gamble})
	if err != nil {
		t.Fatal(err)
	}
	if ef := costed[0].Statements; len(ef) != 1 || !ef[0].UsesIndex || !ef[0].Gamble || ef[0].After >= ef[0].Before {
		t.Fatalf("first_of_b with (a): %+v; want a cheaper plan walking it, marked a gamble", ef)
	}
	if recs := selectRecs(t, w, cat, byA, []WorkloadStatement{gamble}, SelectOptions{}); len(recs) != 0 {
		t.Errorf("want no index for a gamble, got:\n%s", describeRecs(recs))
	}
}

// The evidence credits a chosen index with a statement its plan walks for
// a LIMIT only when reading the walk to its end would still beat the plan
// without that one index, the other chosen ones present: first_of_b walks
// (a) with (b) built too, and the whole walk (an index-only scan of the
// table) is cheaper than a sequential scan but far dearer than (b).
func TestSelectEvidenceJudgesWalksAgainstTheOtherChosenIndexes(t *testing.T) {
	conn := testDB(t, "select_evidence_walks",
		`CREATE TABLE walks (id bigint PRIMARY KEY, a int NOT NULL, b int NOT NULL, pad text NOT NULL)`,
		`INSERT INTO walks SELECT g, g / 100, g % 100, repeat('x', 600) FROM generate_series(1, 50000) g`,
		`VACUUM ANALYZE walks`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	byA := Candidate{Table: "public.walks", Method: "btree", Keys: []collector.IndexKey{{Column: "a"}}, Include: []string{"b", "id"}}
	byB := Candidate{Table: "public.walks", Method: "btree", Keys: []collector.IndexKey{{Column: "b"}}, Include: []string{"a", "id"}}
	stmts := []WorkloadStatement{
		stmt("first_of_b", "SELECT id FROM walks WHERE b = $1 ORDER BY a LIMIT 5", 100, "public.walks", "7"),
		stmt("by_b", "SELECT id, a FROM walks WHERE b = $1", 100, "public.walks", "7"),
		stmt("by_a", "SELECT id, b FROM walks WHERE a = $1", 10, "public.walks", "7"),
	}
	recs := selectRecs(t, w, replicaCatalog(t, conn), []Candidate{byA, byB}, stmts, SelectOptions{})
	served := map[string][]string{}
	for _, r := range recs {
		served[r.Columns[0]] = r.QueryIDs
		if r.Columns[0] == "a" && !slices.Equal(r.LimitWalks, []string{"first_of_b"}) {
			t.Errorf("(a) should disclose first_of_b's walk, got %v", r.LimitWalks)
		}
	}
	if want := map[string][]string{"a": {"by_a"}, "b": {"by_b"}}; !maps.EqualFunc(served, want, slices.Equal) {
		t.Errorf("served %v, want %v:\n%s", served, want, describeRecs(recs))
	}
}

// A statement whose plan uses a chosen index for a gain too small to count
// is disclosed: such close calls are where the cost model errs.
func TestSelectDisclosesIncidentalUses(t *testing.T) {
	conn := testDB(t, "select_incidental", pairsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	stmts := []WorkloadStatement{
		stmt("pair", "SELECT * FROM pairs WHERE a = $1 AND b = $2", 100, "public.pairs", "42", "7"),
		stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 100, "public.pairs", "42"),
	}
	// With 90% to count, the pair's single row (a 99% drop) counts; a's
	// hundred rows, one a heap page each, do not.
	recs := selectRecs(t, w, replicaCatalog(t, conn), []Candidate{btree("public.pairs", "a", "b")}, stmts, SelectOptions{MinImprovementPct: 90})
	if len(recs) != 1 || !slices.Equal(recs[0].QueryIDs, []string{"pair"}) || !slices.Equal(recs[0].Incidental, []string{"by_a"}) ||
		!strings.Contains(recs[0].ValidationNote, "the plans of 1 other statement (by_a) switch to it too, for an estimated gain too small to count (under 90% or 20 per call)") {
		t.Errorf("want (a, b) serving pair, with by_a disclosed as incidental, got:\n%s\nincidental %v", describeRecs(recs), recs)
	}
}

func TestSelectLeavesWellIndexedStatementsAlone(t *testing.T) {
	conn := testDB(t, "select_indexed", append(slices.Clone(pairsSetup), "CREATE INDEX pairs_a_idx ON pairs (a)")...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 1000, "public.pairs", "42")}
	cands := []Candidate{btree("public.pairs", "a", "id"), {Table: "public.pairs", Method: "btree", Keys: []collector.IndexKey{{Column: "a"}}, Include: []string{"b"}}}
	if recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{}); len(recs) != 0 {
		base, _ := w.Baseline(context.Background(), stmts)
		t.Errorf("the statement already uses pairs_a_idx; got:\n%s\nbaseline %+v\n%+v", describeRecs(recs), base, recs[0])
	}
}

// An index on a table of a few pages saves the planner less than
// minGainPerCall per call, however often the statement runs: it serves
// nothing and is not recommended.
func TestSelectIgnoresTinyGains(t *testing.T) {
	conn := testDB(t, "select_tiny", `CREATE TABLE codes (id int, code text)`,
		`INSERT INTO codes SELECT g, 'c' || g FROM generate_series(1, 1000) g`, `ANALYZE codes`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("by_code", "SELECT * FROM codes WHERE code = $1", 1e6, "public.codes", "c42")}
	cands := []Candidate{btree("public.codes", "code")}
	costed, err := w.Evaluate(context.Background(), nil, cands, stmts)
	if err != nil || len(costed) != 1 || len(costed[0].Statements) != 1 {
		t.Fatalf("evaluate: %+v, %v", costed, err)
	}
	ef := costed[0].Statements[0]
	if !ef.UsesIndex || ef.After > ef.Before*0.7 || ef.Before-ef.After >= minGainPerCall {
		t.Fatalf("want a plan using the index that drops by more than 30%% but less than %d per call: %+v", minGainPerCall, ef)
	}
	if recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{}); len(recs) != 0 {
		t.Errorf("a %.1f -> %.1f drop per call is recommended:\n%s", ef.Before, ef.After, describeRecs(recs))
	}
}

// TestSelectCoversAJoinProbe: a label's items join items by primary key,
// once per row of the label. The index on the label finds those rows, and
// a covering index on the probe saves a heap fetch on each: a cut far
// above a LIMIT's few fetches, though a small share of the statement's
// cost before the label had its index.
func TestSelectCoversAJoinProbe(t *testing.T) {
	conn := testDB(t, "select_probe",
		`CREATE TABLE items (id bigint PRIMARY KEY, title text NOT NULL, status text NOT NULL, updated_at timestamptz NOT NULL, deleted_at timestamptz, body text NOT NULL)`,
		`INSERT INTO items SELECT g, 'item ' || g, (ARRAY['open', 'done'])[1 + g % 2], now() - g * interval '1 minute',
		        CASE WHEN g % 25 = 0 THEN now() END, repeat('b', 150) FROM generate_series(1, 100000) g`,
		`CREATE TABLE item_labels (item_id bigint NOT NULL, label_id bigint NOT NULL, PRIMARY KEY (item_id, label_id))`,
		`INSERT INTO item_labels SELECT 1 + (g::bigint * 7919) % 100000, g / 200 FROM generate_series(1, 1000000) g`,
		`VACUUM ANALYZE items, item_labels`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{{QueryID: "by_label", Calls: 100, Params: []string{"42"}, Tables: []string{"public.item_labels", "public.items"},
		Query: `SELECT i.id, i.title, i.status, i.updated_at FROM item_labels l JOIN items i ON i.id = l.item_id
		         WHERE l.label_id = $1 AND i.deleted_at IS NULL ORDER BY i.updated_at DESC LIMIT 50`}}
	label := btree("public.item_labels", "label_id")
	probe := Candidate{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "id"}},
		Include: []string{"title", "status", "updated_at"}, Where: "deleted_at IS NULL"}
	ctx := context.Background()
	base, err := w.Baseline(ctx, stmts)
	if err != nil || len(base) != 1 {
		t.Fatalf("baseline: %+v, %v", base, err)
	}
	costed, err := w.Evaluate(ctx, []Candidate{label}, []Candidate{probe}, stmts)
	if err != nil || len(costed) != 1 || len(costed[0].Statements) != 1 {
		t.Fatalf("evaluate: %+v, %v", costed, err)
	}
	ef := costed[0].Statements[0]
	if cut := ef.Before - ef.After; !ef.UsesIndex || !ef.Probed || cut < minProbeGainPerCall || cut >= minBaselineShare*base[0].Cost {
		t.Fatalf("want a nested loop probe that cuts at least %d per call but under %.0f%% of %.1f: %+v", minProbeGainPerCall, minBaselineShare*100, base[0].Cost, ef)
	}
	recs := selectRecs(t, w, cat, []Candidate{label, probe}, stmts, SelectOptions{})
	if len(recs) != 2 || !slices.ContainsFunc(recs, func(r Recommendation) bool { return r.Table == "public.items" && len(r.Include) == 3 }) {
		t.Fatalf("want the label index and the covering probe, got:\n%s", describeRecs(recs))
	}
	// Both serve the statement: each one's evidence names the other, and
	// what the statement costs with the other alone.
	for i, r := range recs {
		if g := r.Statements[0]; g.CostWithout <= g.CostAfter || g.CostWithout >= g.CostBefore {
			t.Errorf("%s: without it the statement costs %.1f per call; want between %.1f with both and %.1f with neither",
				describeRecs(recs[i:i+1]), g.CostWithout, g.CostAfter, g.CostBefore)
		}
	}
	// Each names the other once also where a second user runs the same
	// statement (the same queryid).
	twice := append(slices.Clone(stmts), stmts[0])
	twice[1].Calls = 50
	recs = selectRecs(t, w, cat, []Candidate{label, probe}, twice, SelectOptions{})
	if len(recs) != 2 {
		t.Fatalf("the statement run by two users: got\n%s", describeRecs(recs))
	}
	for i, r := range recs {
		for _, g := range r.Statements {
			if other := recs[1-i].ID; !slices.Equal(g.With, []string{other}) {
				t.Errorf("%s: the statement's cost after is with %v, want [%s]", describeRecs(recs[i:i+1]), g.With, other)
			}
		}
	}
}

// limitsSetup: three tables, each with two selective columns.
var limitsSetup = []string{
	`CREATE TABLE t1 (id bigint, x int, y int, z int, pad text)`,
	`INSERT INTO t1 SELECT g, g % 1000, g % 997, g % 991, repeat('p', 50) FROM generate_series(1, 50000) g`,
	`CREATE TABLE t2 (id bigint, x int, pad text)`,
	`INSERT INTO t2 SELECT g, g % 1000, repeat('p', 50) FROM generate_series(1, 50000) g`,
	`CREATE TABLE t3 (id bigint, x int, pad text)`,
	`INSERT INTO t3 SELECT g, g % 1000, repeat('p', 50) FROM generate_series(1, 20000) g`,
	`ANALYZE`,
}

func limitsWorkload() ([]Candidate, []WorkloadStatement) {
	stmts := []WorkloadStatement{
		stmt("t1x", "SELECT * FROM t1 WHERE x = $1", 10, "public.t1", "5"),
		stmt("t1y", "SELECT * FROM t1 WHERE y = $1", 20, "public.t1", "5"),
		stmt("t1z", "SELECT * FROM t1 WHERE z = $1", 30, "public.t1", "5"),
		stmt("t2x", "SELECT * FROM t2 WHERE x = $1", 10, "public.t2", "5"),
		stmt("t3x", "SELECT * FROM t3 WHERE x = $1", 10, "public.t3", "5"),
	}
	cands := []Candidate{btree("public.t1", "x"), btree("public.t1", "y"), btree("public.t1", "z"), btree("public.t2", "x"), btree("public.t3", "x")}
	return cands, stmts
}

func TestSelectLimits(t *testing.T) {
	conn := testDB(t, "select_limits", limitsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	cands, stmts := limitsWorkload()

	all := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(all) != 5 {
		t.Fatalf("no limits: got %d recommendations, want 5:\n%s", len(all), describeRecs(all))
	}
	for i := 1; i < len(all); i++ {
		if all[i-1].CostBefore-all[i-1].CostAfter < all[i].CostBefore-all[i].CostAfter {
			t.Errorf("not ordered by benefit:\n%s", describeRecs(all))
		}
	}

	perTable := selectRecs(t, w, cat, cands, stmts, SelectOptions{MaxPerTable: 2})
	var onT1 []string
	for _, r := range perTable {
		if r.Table == "public.t1" {
			onT1 = append(onT1, r.QueryIDs...)
		}
	}
	slices.Sort(onT1)
	if len(perTable) != 4 || !slices.Equal(onT1, []string{"t1y", "t1z"}) {
		t.Errorf("MaxPerTable 2: want t1's two most called statements served and t2, t3; got:\n%s", describeRecs(perTable))
	}

	size := map[string]int64{}
	for _, r := range all {
		size[r.Table+" "+strings.Join(r.Columns, ",")] = r.EstimatedSizeBytes
		if r.HypoPGSizeBytes <= r.EstimatedSizeBytes {
			t.Errorf("%s: HypoPG's estimate %d should exceed the deduplication-corrected %d", r.Table, r.HypoPGSizeBytes, r.EstimatedSizeBytes)
		}
	}
	budget := size["public.t1 z"] + size["public.t3 x"]
	within := selectRecs(t, w, cat, cands, stmts, SelectOptions{BudgetBytes: budget})
	var used int64
	for _, r := range within {
		used += r.EstimatedSizeBytes
	}
	if used > budget || len(within) < 2 || len(within) >= len(all) {
		t.Errorf("budget %d: %d recommendations using %d bytes:\n%s", budget, len(within), used, describeRecs(within))
	}
}

// On a table at its limit, an index a wide key makes large but that gains
// far more takes the place of a small one the greedy pass picked first for
// its gain per byte.
func TestSelectSwapsForTheLargerGainAtTheLimit(t *testing.T) {
	conn := testDB(t, "select_swap", `CREATE TABLE accounts (id bigint, k int, email text, pad text)`,
		`INSERT INTO accounts SELECT g, g % 1000, md5(g::text) || md5((g + 1)::text) || '@example.com', repeat('p', 50) FROM generate_series(1, 50000) g`,
		`ANALYZE accounts`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("by_k", "SELECT * FROM accounts WHERE k = $1", 10, "public.accounts", "5"),
		stmt("by_email", "SELECT * FROM accounts WHERE email = $1", 30, "public.accounts", "x@example.com"),
	}
	cands := []Candidate{btree("public.accounts", "k"), btree("public.accounts", "email")}

	both := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(both) != 2 || !slices.Equal(both[0].Columns, []string{"email"}) {
		t.Fatalf("no limit: want both, email first by gain; got:\n%s", describeRecs(both))
	}
	gainPerByte := func(r Recommendation) float64 { return (r.CostBefore - r.CostAfter) / float64(r.EstimatedSizeBytes) }
	if gainPerByte(both[0]) >= gainPerByte(both[1]) {
		t.Fatalf("the test needs (k) to gain more per byte than (email):\n%s", describeRecs(both))
	}
	if one := selectRecs(t, w, cat, cands, stmts, SelectOptions{MaxPerTable: 1}); len(one) != 1 || !slices.Equal(one[0].Columns, []string{"email"}) {
		t.Errorf("MaxPerTable 1: want (email), which gains the most; got:\n%s", describeRecs(one))
	}
}

// At a table's limit the place goes to the index that saves the most
// measured time: by planner cost (k) gains more, but the lookups by email
// take fifty times as long a call as its cost says beside those by k.
func TestSelectSwapsForTheLargerTimeSavedAtTheLimit(t *testing.T) {
	conn := testDB(t, "select_swap_time", `CREATE TABLE accounts (id bigint, k int, email text, pad text)`,
		`INSERT INTO accounts SELECT g, g % 1000, md5(g::text) || md5((g + 1)::text) || '@example.com', repeat('p', 50) FROM generate_series(1, 50000) g`,
		`ANALYZE accounts`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	byK := stmt("by_k", "SELECT * FROM accounts WHERE k = $1", 30, "public.accounts", "5")
	byEmail := stmt("by_email", "SELECT * FROM accounts WHERE email = $1", 10, "public.accounts", "x@example.com")
	cands := []Candidate{btree("public.accounts", "k"), btree("public.accounts", "email")}
	one := SelectOptions{MaxPerTable: 1}

	if recs := selectRecs(t, w, cat, cands, []WorkloadStatement{byK, byEmail}, one); len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"k"}) {
		t.Fatalf("without times: want (k), which gains the most planner cost; got:\n%s", describeRecs(recs))
	}
	byK.TimeMS, byEmail.TimeMS = 30, 500
	if recs := selectRecs(t, w, cat, cands, []WorkloadStatement{byK, byEmail}, one); len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"email"}) {
		t.Errorf("with times: want (email), which saves the most time; got:\n%s", describeRecs(recs))
	}

	// An index whose gain in planner cost does not pay for its writes
	// takes no place, however slow its statement: dropUnneeded, which
	// judges in planner cost, would take it out again and leave none.
	byEmail.Calls, byEmail.TimeMS = 1, 1000
	writes := []Write{{QueryID: "ins", Table: "public.accounts", Kind: "INSERT", Calls: 500, Rows: 500}}
	recs, err := Select(context.Background(), w, cat, cands, []WorkloadStatement{byK, byEmail}, writes, one, zaptest.NewLogger(t))
	if err != nil || len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"k"}) {
		t.Errorf("(email) gaining less than its write cost: want (k) kept; got (%v):\n%s", err, describeRecs(recs))
	}
}

func TestTimeWeights(t *testing.T) {
	stmts := []WorkloadStatement{
		{QueryID: "slow", Calls: 10, TimeMS: 300},   // 0.3 ms a unit
		{QueryID: "fast", Calls: 10, TimeMS: 100},   // 0.1 ms a unit
		{QueryID: "untimed", Calls: 10},             // left out
		{QueryID: "failed", Calls: 10, TimeMS: 100}, // no cost: left out
		{QueryID: "outlier", Calls: 1, TimeMS: 4000},
	}
	base := []StatementCost{{Cost: 100}, {Cost: 100}, {Cost: 100}, {Err: errors.New("no plan")}, {Cost: 1}}
	got := timeWeights(stmts, base)
	// 4400 ms over 2001 units: 2.2 ms a unit on average.
	avg := 4400.0 / 2001
	want := map[string]float64{"slow": 0.3 / avg, "fast": 1.0 / maxTimeWeight, "outlier": maxTimeWeight}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for id, w := range want {
		if math.Abs(got[id]-w) > 1e-9 {
			t.Errorf("%s: weight %g, want %g", id, got[id], w)
		}
	}
}

// TestSelectPredictionsHoldAfterBuilding builds the recommended indexes on
// the primary with their DDL and checks, on the replica, that the planner's
// costs are what the what-if predicted, and the sizes near the estimate.
func TestSelectPredictionsHoldAfterBuilding(t *testing.T) {
	setup := append(slices.Clone(pairsSetup), limitsSetup...)
	conn := testDB(t, "select_built", setup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	cands, stmts := limitsWorkload()
	cands = append(cands, btree("public.pairs", "a"), btree("public.pairs", "a", "b"))
	stmts = append(stmts,
		stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 100, "public.pairs", "42"),
		stmt("by_a_b", "SELECT * FROM pairs WHERE a = $1 AND b = $2", 100, "public.pairs", "42", "7"),
		stmt("by_b_generic", "SELECT * FROM pairs WHERE a = $1 AND b = $2", 50, "public.pairs"),
	)
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 6 {
		t.Fatalf("got %d recommendations, want 6:\n%s", len(recs), describeRecs(recs))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	primary, err := pgx.Connect(ctx, sandbox.DSN("select_built"))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(ctx)
	// So that WaitReplay, which waits for the WAL written so far, sees the builds.
	if _, err := primary.Exec(ctx, "SET synchronous_commit = on"); err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		for _, line := range strings.Split(r.DDL, "\n") {
			if _, err := primary.PgConn().Exec(ctx, line).ReadAll(); err != nil {
				t.Fatalf("%s: %v", line, err)
			}
		}
	}
	if err := sandbox.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	byID := map[string]WorkloadStatement{}
	for _, s := range stmts {
		byID[s.QueryID] = s
	}
	for _, r := range recs {
		for _, g := range r.Statements {
			sum, err := ExplainPlanner{}.PlanCost(ctx, conn, byID[g.QueryID])
			if err != nil {
				t.Fatal(err)
			}
			cost, used := sum.Cost, sum.Indexes
			t.Logf("%s: cost %.2f before, %.2f predicted, %.2f built", g.QueryID, g.CostBefore, g.CostAfter, cost)
			if math.Abs(cost-g.CostAfter) > 0.1*g.CostAfter {
				t.Errorf("%s: planner cost %.2f with the built index, what-if predicted %.2f (plan uses %v)", g.QueryID, cost, g.CostAfter, used)
			}
		}
		var real int64
		_, names, _ := strings.Cut(r.VerifySQL, "ARRAY[")
		name, _, _ := strings.Cut(names, "]") // one: the tables are not partitioned
		if err := primary.QueryRow(ctx, "SELECT pg_relation_size("+name+"::regclass)").Scan(&real); err != nil {
			t.Fatal(err)
		}
		t.Logf("%s (%s): size estimated %d, HypoPG %d, built %d", r.Table, strings.Join(r.Columns, ", "), r.EstimatedSizeBytes, r.HypoPGSizeBytes, real)
		if ratio := float64(r.EstimatedSizeBytes) / float64(real); ratio < 0.75 || ratio > 1.33 {
			t.Errorf("%s (%s): estimated %d bytes, built %d (HypoPG said %d)", r.Table, strings.Join(r.Columns, ", "), r.EstimatedSizeBytes, real, r.HypoPGSizeBytes)
		}
	}
	generic := slices.IndexFunc(recs, func(r Recommendation) bool { return slices.Contains(r.QueryIDs, "by_b_generic") })
	if generic < 0 || !strings.Contains(recs[generic].ValidationNote, "1 of the 3 statements it serves were costed with their generic plan") {
		t.Errorf("the generic plan is not disclosed: %+v", recs[generic])
	}
}

func TestSelectWithoutHypoPGFallsBackToHeuristics(t *testing.T) {
	ctx := context.Background()
	c := pgsandbox.Require(t, sandbox)
	if err := c.Exec(ctx, "postgres", "CREATE DATABASE select_nohypopg"); err != nil {
		t.Fatal(err)
	}
	dropAtCleanup(t, "select_nohypopg")
	conn := replicaOf(t, "select_nohypopg", append(slices.Clone(limitsSetup), "CREATE INDEX t2_x_idx ON t2 (x)")...)
	w, err := NewWhatIf(ctx, conn, zaptest.NewLogger(t), WhatIfOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cat := replicaCatalog(t, conn)
	cands, stmts := limitsWorkload()
	for i := range cands {
		cands[i].QueryIDs = []string{stmts[i].QueryID}
	}
	// A second candidate for t1z: without costs, one index per statement.
	zx := btree("public.t1", "z", "x")
	zx.QueryIDs = []string{"t1z"}
	cands = append(cands, zx)
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{MaxPerTable: 2})
	var got []string
	for _, r := range recs {
		got = append(got, r.QueryIDs...)
		if r.Validated || r.ValidationNote != "hypopg is not installed on the EXPLAIN target: CREATE EXTENSION hypopg" ||
			!strings.HasSuffix(r.Reason, "the gain was not costed.") || r.EstimatedSizeBytes <= 0 || r.DDL == "" {
			t.Errorf("unvalidated recommendation: %+v", r)
		}
	}
	// t2x already uses t2_x_idx; t1 keeps its two most expensive statements,
	// one index each.
	if want := []string{"t1z", "t1y", "t3x"}; !slices.Equal(got, want) {
		t.Errorf("served %v, want %v:\n%s", got, want, describeRecs(recs))
	}
	noConn := selectRecs(t, nil, cat, cands[:5], stmts, SelectOptions{})
	if len(noConn) != 5 || noConn[0].Validated || !strings.Contains(noConn[0].ValidationNote, "no EXPLAIN target") {
		t.Errorf("without any connection: %s", describeRecs(noConn))
	}
}

// A GIN index HypoPG cannot simulate, for a statement planned without
// values (so no stand-in either), is recommended uncosted.
func TestSelectGinFallsBackWhenHypoPGCannotSimulate(t *testing.T) {
	conn := testDB(t, "select_gin", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("tenant", "SELECT * FROM items WHERE tenant_id = $1", 10, "public.items", "3"),
		stmt("doc", "SELECT * FROM items WHERE payload @> $1", 10, "public.items"),
	}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"tenant"}},
		{Table: "public.items", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"doc"}, Why: "jsonb containment (@>) on payload"},
	}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 2 || !recs[0].Validated || recs[1].Costed() || recs[1].Method != "gin" ||
		!strings.Contains(recs[1].ValidationNote, `HypoPG could not simulate this index`) ||
		recs[1].Reason != "Jsonb containment (@>) on payload, for 1 statement (10 calls in the window); the gain was not costed." {
		t.Errorf("want the validated btree, then the gin index unvalidated:\n%s", describeRecs(recs))
	}
}

// An uncosted GIN index is not recommended for statements whose plans
// already scan an index that serves them: GIN indexes built on each
// partition by hand, or a GiST trigram index.
func TestSelectGinLeftWhereIndexesServe(t *testing.T) {
	conn := testDB(t, "select_gin_served",
		`CREATE EXTENSION pg_trgm`,
		`CREATE TABLE pev (id bigint, payload jsonb) PARTITION BY RANGE (id)`,
		`CREATE TABLE pev_a PARTITION OF pev FOR VALUES FROM (0) TO (50000)`,
		`CREATE TABLE pev_b PARTITION OF pev FOR VALUES FROM (50000) TO (100000)`,
		`INSERT INTO pev SELECT g, jsonb_build_object('k', g % 1000) FROM generate_series(0, 99999) g`,
		`CREATE INDEX pev_a_payload ON pev_a USING gin (payload jsonb_path_ops)`,
		`CREATE INDEX pev_b_payload ON pev_b USING gin (payload jsonb_path_ops)`,
		`CREATE TABLE docs (id bigint, title text)`,
		`INSERT INTO docs SELECT g, md5(g::text) FROM generate_series(1, 100000) g`,
		`CREATE INDEX docs_title_gist ON docs USING gist (title gist_trgm_ops)`,
		`ANALYZE pev, docs`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("pev", "SELECT id FROM pev WHERE payload @> $1", 10, "public.pev"),
		stmt("docs", "SELECT id FROM docs WHERE title LIKE $1", 10, "public.docs"),
	}
	cands := []Candidate{
		{Table: "public.pev", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"pev"}},
		{Table: "public.docs", Method: "gin", Keys: []collector.IndexKey{{Column: "title", OpClass: "gin_trgm_ops"}}, QueryIDs: []string{"docs"}},
	}
	if recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{}); len(recs) != 0 {
		base, _ := w.Baseline(context.Background(), stmts)
		t.Errorf("the plans already scan indexes that serve them; got:\n%s\nbaseline %+v", describeRecs(recs), base)
	}
}

// docsSetup has a jsonb document whose values each fit a thousandth of
// the rows. ANALYZE reads every row (a statistics target of 1000 samples
// 300,000), so the statistics, and the plans, are the same on every run: a
// sample left payload's MCV list to chance, and with it the selectivity of
// @>.
var docsSetup = []string{
	`CREATE TABLE docs (id bigint PRIMARY KEY, tenant_id int NOT NULL, payload jsonb NOT NULL, pad text NOT NULL)`,
	`INSERT INTO docs SELECT g, g % 10, jsonb_build_object('k', g % 1000), repeat('x', 100) FROM generate_series(1, 50000) g`,
	`ALTER TABLE docs ALTER COLUMN payload SET STATISTICS 1000`,
	`VACUUM ANALYZE docs`,
}

// A GIN index HypoPG cannot simulate is costed with a stand-in when its
// statement has values: a partial btree index on the rows its jsonb
// condition keeps.
func TestSelectGINCostedWithStandIn(t *testing.T) {
	conn := testDB(t, "select_gin_standin", docsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("doc", "SELECT d.id, d.pad FROM docs d WHERE d.payload @> $1", 10, "public.docs", `{"k": 3}`)}
	cands := []Candidate{{Table: "public.docs", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}},
		QueryIDs: []string{"doc"}, Why: "jsonb containment (@>) on payload"}}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || recs[0].Validated || !recs[0].StandIn || recs[0].ImprovementPct < 50 {
		t.Fatalf("want the gin index costed with a stand-in, over 50%% less cost:\n%s", describeRecs(recs))
	}
	r := recs[0]
	if g := r.Statements[0]; g.CostAfter >= g.CostBefore || r.CostAfter != 10*g.CostAfter ||
		!strings.Contains(r.ValidationNote, standInNote) || strings.Contains(r.ValidationNote, "not costed") ||
		!strings.Contains(r.Reason, "as estimated with a stand-in") {
		t.Errorf("evidence: %+v", r)
	}
}

// A GIN index costed with its stand-in competes in the selection: its
// selective jsonb condition beats the btree on the statement's tenant, which
// then adds nothing and is not recommended beside it.
func TestSelectGINStandInCompetes(t *testing.T) {
	conn := testDB(t, "select_gin_competes", docsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("doc", "SELECT id FROM docs WHERE tenant_id = $1 AND payload @> $2", 100, "public.docs", "3", `{"k": 7}`)}
	cands := []Candidate{
		{Table: "public.docs", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"doc"}},
		{Table: "public.docs", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"doc"}},
	}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || recs[0].Method != "gin" || !recs[0].StandIn || recs[0].ImprovementPct < 90 || recs[0].EstimatedSizeBytes <= 0 {
		t.Errorf("want the gin index alone, costed with its stand-in:\n%s", describeRecs(recs))
	}
}

// Recommendations are ranked by the measured time they save, not by the
// planner cost: a lookup called ten times as often has ten times the cost
// drop, yet the rare statement that takes the time comes first.
func TestRecommendationsRankedByTimeSaved(t *testing.T) {
	conn := testDB(t, "select_rank_time", append(slices.Clone(docsSetup),
		`ALTER TABLE docs ADD COLUMN code int, ADD COLUMN ref int`, `UPDATE docs SET code = id % 5000, ref = id`, `VACUUM ANALYZE docs`)...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	frequent, slow := stmt("frequent", "SELECT id FROM docs WHERE code = $1", 100, "public.docs", "42"),
		stmt("slow", "SELECT pad FROM docs WHERE ref = $1", 10, "public.docs", "42")
	frequent.TimeMS, slow.TimeMS = 50, 5000
	recs := selectRecs(t, w, cat, []Candidate{btree("public.docs", "code"), btree("public.docs", "ref")}, []WorkloadStatement{frequent, slow}, SelectOptions{})
	if len(recs) != 2 || recs[0].Columns[0] != "ref" || recs[0].CostBefore-recs[0].CostAfter >= recs[1].CostBefore-recs[1].CostAfter ||
		recs[0].TimeSavedMS < 4500 || recs[1].TimeSavedMS > 50 {
		t.Errorf("want (ref), saving most of the slow statement's 5,000 ms, before (code), with the larger cost drop:\n%s", describeRecs(recs))
	}
}

// A statement two recommendations serve together has its time saved split
// between them, not counted in full by each: their credits add up to no
// more than its time, and a lookup whose index saves more than either's
// share ranks above it.
func TestTimeSavedSplitBetweenSharers(t *testing.T) {
	conn := testDB(t, "select_time_shared",
		`CREATE TABLE a (id int PRIMARY KEY, x int NOT NULL, pad text NOT NULL)`,
		`CREATE TABLE b (id int PRIMARY KEY, a_id int NOT NULL, pad text NOT NULL)`,
		`CREATE TABLE c (id int PRIMARY KEY, y int NOT NULL, pad text NOT NULL)`,
		`INSERT INTO a SELECT g, g % 5000, repeat('a', 80) FROM generate_series(1, 50000) g`,
		`INSERT INTO b SELECT g, 1 + g % 50000, repeat('b', 80) FROM generate_series(1, 200000) g`,
		`INSERT INTO c SELECT g, g, repeat('c', 80) FROM generate_series(1, 50000) g`,
		`VACUUM ANALYZE a, b, c`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	join := stmt("join", "SELECT b.pad FROM a JOIN b ON b.a_id = a.id WHERE a.x = $1", 10, "public.a", "42")
	join.Tables, join.TimeMS = []string{"public.a", "public.b"}, 10000
	lookup := stmt("lookup", "SELECT pad FROM c WHERE y = $1", 10, "public.c", "42")
	lookup.TimeMS = 8000
	recs := selectRecs(t, w, cat, []Candidate{btree("public.a", "x"), btree("public.b", "a_id"), btree("public.c", "y")},
		[]WorkloadStatement{join, lookup}, SelectOptions{})
	saved := map[string]float64{}
	rank := map[string]int{}
	for i, r := range recs {
		saved[r.Table], rank[r.Table] = r.TimeSavedMS, i
	}
	if len(recs) != 3 || saved["public.a"]+saved["public.b"] > 10000 || saved["public.a"] <= 0 || saved["public.b"] <= 0 ||
		saved["public.c"] < 7000 || rank["public.c"] > rank["public.a"] {
		t.Errorf("want the join's time split between a and b, and c above a; saved %v:\n%s", saved, describeRecs(recs))
	}
}

// A GIN index costed with its stand-in can take a chosen btree's place at
// the table's limit: the swap plans the stand-in, which HypoPG can simulate.
func TestSelectSwapsInAStandIn(t *testing.T) {
	conn := testDB(t, "select_swap_standin", append(slices.Clone(docsSetup),
		// A unique value in each document makes the gin index larger than
		// (code): one entry per row.
		`ALTER TABLE docs ADD COLUMN code int`, `UPDATE docs SET code = id % 5000, payload = payload || jsonb_build_object('n', id)`, `VACUUM ANALYZE docs`)...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("by_code", "SELECT id, pad FROM docs WHERE code = $1", 10, "public.docs", "42"),
		stmt("doc", "SELECT id, pad FROM docs WHERE payload @> $1", 14, "public.docs", `{"k": 3}`),
	}
	cands := []Candidate{btree("public.docs", "code"),
		{Table: "public.docs", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"doc"}}}

	both := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	gainPerByte := func(r Recommendation) float64 { return (r.CostBefore - r.CostAfter) / float64(r.EstimatedSizeBytes) }
	if len(both) != 2 || both[0].Method != "gin" || !both[0].StandIn || gainPerByte(both[0]) >= gainPerByte(both[1]) {
		t.Fatalf("the test needs the gin index, by its stand-in, to gain more than (code), and less per byte:\n%s", describeRecs(both))
	}
	if one := selectRecs(t, w, cat, cands, stmts, SelectOptions{MaxPerTable: 1}); len(one) != 1 || one[0].Method != "gin" {
		t.Errorf("MaxPerTable 1: want the gin index; got:\n%s", describeRecs(one))
	}
}

func TestStandInConditions(t *testing.T) {
	table := &collector.Table{Name: "tasks", Columns: []collector.Column{{Name: "id", Type: "bigint"}, {Name: "payload", Type: "jsonb"}, {Name: "title", Type: "text"}, {Name: "tags", Type: "text[]"}}}
	gin := func(k collector.IndexKey) *entry {
		return &entry{c: Candidate{Table: "public.tasks", Method: "gin", Keys: []collector.IndexKey{k}}, table: table}
	}
	fts := collector.IndexKey{Expression: "to_tsvector(language, title) || to_tsvector(language, body)"}
	for _, tc := range []struct {
		e       *entry
		filters []ScanFilter
		want    []string
	}{
		{ // qualified in a join; a LIKE beside it is not the key's
			gin(collector.IndexKey{Column: "payload", OpClass: "jsonb_path_ops"}),
			[]ScanFilter{{"tasks", `((t.title ~~* '%a%'::text) AND (t.payload @> '{"a": 1}'::jsonb))`}, {"other", `(payload @> '{"b": 2}'::jsonb)`}},
			[]string{`payload @> '{"a": 1}'::jsonb`},
		},
		{ // folded full-text query on an expression
			gin(fts),
			[]ScanFilter{{"tasks", `((deleted_at IS NULL) AND ((to_tsvector(language, title) || to_tsvector(language, body)) @@ '''deadlin'''::tsquery))`}},
			[]string{`(to_tsvector(language, title) || to_tsvector(language, body)) @@ '''deadlin'''::tsquery`},
		},
		{ // not constants: a parameter, a column, a function left unfolded
			gin(fts),
			[]ScanFilter{{"tasks", `((to_tsvector(language, title) || to_tsvector(language, body)) @@ plainto_tsquery($3, $2))`}},
			nil,
		},
		{ // an array constant
			gin(collector.IndexKey{Column: "tags"}),
			[]ScanFilter{{"tasks", `(tags && '{a,b}'::text[])`}},
			[]string{`tags && '{a,b}'::text[]`},
		},
		{ // ? is not a jsonb_path_ops operator
			gin(collector.IndexKey{Column: "payload", OpClass: "jsonb_path_ops"}),
			[]ScanFilter{{"tasks", `(payload ? 'a'::text)`}},
			nil,
		},
	} {
		if got := standInConditions(tc.filters, tc.e); !slices.Equal(got, tc.want) {
			t.Errorf("%v: got %q, want %q", tc.filters, got, tc.want)
		}
	}
}

// An index PostgreSQL refuses to build (here a mutable expression:
// timestamptz to text depends on TimeZone) is dropped, not recommended
// uncosted like an index HypoPG cannot simulate.
func TestSelectDropsIndexesPostgresRefuses(t *testing.T) {
	conn := testDB(t, "select_refused", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("tenant", "SELECT * FROM items WHERE tenant_id = $1", 10, "public.items", "3"),
		stmt("day", "SELECT * FROM items WHERE created_at::text = $1", 10, "public.items", "2026-01-01"),
	}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"tenant"}},
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Expression: "(created_at)::text"}}, QueryIDs: []string{"day"}},
	}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || recs[0].Columns[0] != "tenant_id" {
		t.Errorf("want only the tenant_id index:\n%s", describeRecs(recs))
	}
}

// TestSelectGINReplacesGenericOnlyBtree: a btree costed only by the
// generic plan of a jsonb filter's statement gives way to the GIN index
// for the filter, even on a table with room for both.
func TestSelectGINReplacesGenericOnlyBtree(t *testing.T) {
	conn := testDB(t, "select_gin_generic", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("doc", "SELECT * FROM items WHERE tenant_id = $1 AND payload @> $2 ORDER BY created_at DESC LIMIT 10", 10, "public.items"),
	}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}, {Column: "created_at"}}, QueryIDs: []string{"doc"}},
		{Table: "public.items", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"doc"}},
	}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || recs[0].Method != "gin" {
		t.Errorf("want the gin index alone:\n%s", describeRecs(recs))
	}
}

// TestSelectUncostedKeepsEachMethod: without costs, a btree for a
// statement's equality and a GIN index for its jsonb filter serve
// different parts of it; both are recommended.
func TestSelectUncostedKeepsEachMethod(t *testing.T) {
	conn := testDB(t, "select_uncosted_methods", itemsSetup...)
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("doc", "SELECT * FROM items WHERE tenant_id = $1 AND payload @> $2", 10, "public.items")}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"doc"}},
		{Table: "public.items", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"doc"}},
	}
	if recs := selectRecs(t, nil, cat, cands, stmts, SelectOptions{}); len(recs) != 2 {
		t.Errorf("want the btree and the gin index:\n%s", describeRecs(recs))
	}
}

// TestSelectUncostedCompositeReplacesItsPrefix: without costs, (tenant_id)
// for one statement and (tenant_id, created_at) for another would be two
// indexes where the composite alone serves both.
func TestSelectUncostedCompositeReplacesItsPrefix(t *testing.T) {
	conn := testDB(t, "select_uncosted_prefix", itemsSetup...)
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("tenant", "SELECT * FROM items WHERE tenant_id = $1", 1000, "public.items"),
		stmt("recent", "SELECT * FROM items WHERE tenant_id = $1 AND created_at > $2", 10, "public.items"),
	}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"tenant"}},
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}, {Column: "created_at"}}, QueryIDs: []string{"recent"}},
	}
	recs := selectRecs(t, nil, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || len(recs[0].Columns) != 2 || !slices.Equal(slices.Sorted(slices.Values(recs[0].QueryIDs)), []string{"recent", "tenant"}) {
		t.Errorf("want (tenant_id, created_at) alone, for both statements:\n%s", describeRecs(recs))
	}
}

func TestSelectRejectsBadOptions(t *testing.T) {
	for _, o := range []SelectOptions{{MaxPerTable: -1}, {BudgetBytes: -5}, {MinImprovementPct: 100}, {MinImprovementPct: -1}} {
		if _, err := Select(context.Background(), nil, &collector.Catalog{}, nil, nil, nil, o, nil); err == nil || !strings.Contains(err.Error(), "invalid options") {
			t.Errorf("%+v: %v", o, err)
		}
	}
	if _, err := Select(context.Background(), nil, nil, nil, nil, nil, SelectOptions{}, nil); err == nil {
		t.Error("nil catalog: no error")
	}
}

func describeRecs(recs []Recommendation) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString("  " + r.Table + " (" + strings.Join(r.Columns, ", ") + ") serves " + strings.Join(r.QueryIDs, ",") +
			": " + r.Reason + " [" + r.ValidationNote + "]\n")
	}
	return b.String()
}

// A btree chosen only for statements costed by their generic plans gives
// way to the GIN index that serves their full-text filter; one that also
// serves a statement with real parameter values stays.
func TestGINDisplacesGenericOnlyBtree(t *testing.T) {
	gin := &entry{c: Candidate{Table: "public.tasks", Method: "gin", QueryIDs: []string{"search"},
		Keys: []collector.IndexKey{{Expression: "to_tsvector(language, title)"}}}}
	generic := &entry{id: "generic", c: btree("public.tasks", "tenant_id", "updated_at")}
	custom := &entry{id: "custom", c: btree("public.tasks", "project_id")}
	s := &selection{
		chosen: []*entry{custom, generic},
		stmts: []WorkloadStatement{
			{QueryID: "search"},                            // no values: generic plan
			{QueryID: "dashboard", Params: []string{"42"}}, // custom plan
		},
	}
	validated := []Recommendation{
		{ID: "generic", QueryIDs: []string{"search"}},
		{ID: "custom", QueryIDs: []string{"dashboard", "search"}},
	}
	if x := s.displaceable(gin, validated); x != generic {
		t.Fatalf("displaceable = %+v, want the btree chosen only for the generically costed search", x)
	}
	s.chosen = []*entry{custom}
	if x := s.displaceable(gin, validated); x != nil {
		t.Fatalf("displaceable = %+v, want none: the other btree also serves a statement with real values", x)
	}
}

// A recommendation a GIN index displaces leaves the others' evidence too.
func TestWithoutRecommendations(t *testing.T) {
	recs := []Recommendation{
		{ID: "a", Statements: []StatementGain{{QueryID: "q", With: []string{"b", "c"}, CostWithout: 50}, {QueryID: "r", With: []string{"c"}, CostWithout: 60}}},
		{ID: "b", Statements: []StatementGain{{QueryID: "q", With: []string{"a", "c"}, CostWithout: 50}}},
		{ID: "c", Statements: []StatementGain{{QueryID: "q", With: []string{"a", "b"}, CostWithout: 50}}},
	}
	got := withoutRecommendations(recs, map[string]bool{"b": true})
	if len(got) != 2 || got[0].ID != "a" || got[1].ID != "c" ||
		!slices.Equal(got[0].Statements[0].With, []string{"c"}) || !slices.Equal(got[1].Statements[0].With, []string{"a"}) ||
		got[0].Statements[0].CostWithout != 0 || got[1].Statements[0].CostWithout != 0 || got[0].Statements[1].CostWithout != 60 {
		t.Errorf("without b: %+v", got)
	}
}

// At the per-table limit, an uncosted GIN index takes the place of the
// validated btree with the least gain when that gain is under half the
// cost of the statements the GIN index serves, and only then.
func TestGINOutweighsSmallBtreeGain(t *testing.T) {
	gin := &entry{c: Candidate{Table: "public.docs", Method: "gin", QueryIDs: []string{"search"},
		Keys: []collector.IndexKey{{Expression: "to_tsvector('english'::regconfig, body)"}}}}
	small := &entry{id: "small", c: btree("public.docs", "score"), pickGain: 900}
	large := &entry{id: "large", c: btree("public.docs", "tenant_id"), pickGain: 50000}
	other := &entry{id: "other", c: btree("public.users", "email"), pickGain: 10}
	s := &selection{chosen: []*entry{large, small, other}}
	validated := []Recommendation{{ID: "small"}, {ID: "large"}, {ID: "other"}}
	if x := s.outweighed(gin, 2000, validated); x != small {
		t.Fatalf("outweighed = %+v, want the btree on the same table with the least gain", x)
	}
	if x := s.outweighed(gin, 1500, validated); x != nil {
		t.Fatalf("outweighed = %+v, want none: 900 is not under half of 1500", x)
	}
	if x := s.outweighed(&entry{c: btree("public.docs", "body")}, 1e9, validated); x != nil {
		t.Fatalf("outweighed = %+v, want none for a btree candidate", x)
	}
}

// A candidate proposed for several statements says why for the ones it
// serves, not for the first that proposed it.
func TestWhatForNamesTheServedStatements(t *testing.T) {
	s := &selection{cat: &collector.Catalog{Database: "db", Tables: []collector.Table{{Schema: "public", Name: "orders", Kind: "r"}}}, log: zap.NewNop()}
	walk := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "note"}}, QueryIDs: []string{"walk"}, Why: "order by note with LIMIT"}
	eq := walk
	eq.QueryIDs, eq.Why = []string{"eq"}, "equality on note"
	entries := s.entries([]Candidate{walk, eq})
	if len(entries) != 1 {
		t.Fatalf("%d entries, want the two candidates merged", len(entries))
	}
	e := entries[0]
	for _, tc := range []struct {
		served []string
		want   string
	}{
		{[]string{"eq"}, "equality on note"},
		{[]string{"walk", "eq"}, "order by note with LIMIT; also equality on note"},
		{[]string{"other"}, "order by note with LIMIT"},
	} {
		var gains []StatementGain
		for _, q := range tc.served {
			gains = append(gains, StatementGain{QueryID: q})
		}
		if got := whatFor(e, gains); got != tc.want {
			t.Errorf("serving %v: %q, want %q", tc.served, got, tc.want)
		}
	}
	// Folded with a longer index, it keeps each statement's reason.
	long := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "note"}, {Column: "id"}}, QueryIDs: []string{"two"}, Why: "equality on note and id"}
	m, ok := foldedCandidate(e.c, long, e.table)
	if !ok {
		t.Fatal("no fold")
	}
	folded := &entry{c: m, whys: map[string]string{"eq": "equality on note", "two": "equality on note and id"}, folded: true}
	if got, want := whatFor(folded, []StatementGain{{QueryID: "two"}, {QueryID: "eq"}}), "equality on note and id; also equality on note; folded from two indexes, so that one serves both"; got != want {
		t.Errorf("folded: %q, want %q", got, want)
	}
}

// A jsonb_path_ops index for @> and a jsonb_ops one for ? on the same
// column are folded into the jsonb_ops one: it serves @> too.
func TestSelectFoldsJSONBPathOps(t *testing.T) {
	conn := testDB(t, "select_gin_fold",
		`CREATE TABLE docs (id bigint PRIMARY KEY, payload jsonb NOT NULL, pad text NOT NULL)`,
		`INSERT INTO docs SELECT g, jsonb_build_object('k', g % 1000) || CASE WHEN g % 500 = 0 THEN '{"rare": 1}'::jsonb ELSE '{}' END, repeat('x', 100)
			FROM generate_series(1, 50000) g`,
		`ALTER TABLE docs ALTER COLUMN payload SET STATISTICS 1000`,
		`VACUUM ANALYZE docs`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("doc", "SELECT id, pad FROM docs WHERE payload @> $1", 10, "public.docs", `{"k": 3}`),
		stmt("has", "SELECT id, pad FROM docs WHERE payload ? $1", 10, "public.docs", `rare`),
	}
	recs := selectRecs(t, w, cat, WorkloadCandidates(stmts, cat, nil), stmts, SelectOptions{})
	if len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"payload"}) || !slices.Equal(recs[0].QueryIDs, []string{"doc", "has"}) ||
		!recs[0].StandIn || recs[0].ImprovementPct < 50 {
		t.Errorf("want one jsonb_ops index serving both, costed with a stand-in:\n%s", describeRecs(recs))
	}
}

// A covering index on the keys of an existing one serves a statement only
// by an index-only scan: a nested loop that probes it and reads the heap
// anyway gains nothing but HypoPG pricing a hypothetical descent cheaper
// than the real primary key's (helper-67 saw orders (id) INCLUDE
// (created_at) credited 4,192 -> 2,772 per call that way, never used once
// built).
func TestSelectIncludeOnlyByIndexOnlyScan(t *testing.T) {
	cat := &collector.Catalog{Indexes: []collector.Index{{Schema: "public", Name: "orders_pkey", Table: "public.orders", Method: "btree",
		Valid: true, Primary: true, Unique: true, Keys: []collector.IndexKey{{Column: "id"}}}}}
	onPkey := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "id"}}, Include: []string{"created_at"}}
	elsewhere := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "customer_id"}}, Include: []string{"created_at"}}
	partial := onPkey
	partial.Where = "deleted_at IS NULL"
	if !keysIndexed(cat, onPkey) || keysIndexed(cat, elsewhere) || keysIndexed(cat, partial) ||
		keysIndexed(cat, Candidate{Table: "public.items", Method: "btree", Keys: onPkey.Keys}) {
		t.Fatal("keysIndexed: want only (id) INCLUDE (created_at) on orders found on the primary key's keys")
	}
	s := &selection{opts: SelectOptions{MinImprovementPct: 30}}
	probed := Effect{QueryID: "join", Calls: 100, Before: 4192, After: 2772, UsesIndex: true, Probed: true}
	for _, tc := range []struct {
		onlyIncludes, indexOnly, want bool
	}{{true, false, false}, {true, true, true}, {false, false, true}} {
		ef := probed
		ef.IndexOnly = tc.indexOnly
		if got := s.serves(&entry{c: onPkey, onlyIncludes: tc.onlyIncludes}, ef); got != tc.want {
			t.Errorf("on an existing index's keys %v, read index-only %v: serves %v, want %v", tc.onlyIncludes, tc.indexOnly, got, tc.want)
		}
	}
}

// An uncosted GIN index is not credited with a statement the costed
// btree already cuts to a fifth: the GIN bitmap of a tenth of the rows,
// ANDed with the btree's few, can only slow it down.
func TestSelectUncostedLeavesOutServedStatements(t *testing.T) {
	conn := testDB(t, "select_gin_served", itemsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("both", "SELECT * FROM items WHERE tenant_id = $1 AND payload @> $2", 10, "public.items", "3", `{"k": 3}`),
		stmt("doc", "SELECT * FROM items WHERE payload @> $1", 10, "public.items"),
	}
	cands := []Candidate{
		{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, QueryIDs: []string{"both"}},
		{Table: "public.items", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}, QueryIDs: []string{"both", "doc"}},
	}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 2 || !recs[0].Validated || recs[1].Costed() || !slices.Equal(recs[1].QueryIDs, []string{"doc"}) {
		t.Errorf("want the costed btree for both, and the gin index for doc alone:\n%s", describeRecs(recs))
	}
}

// A recommendation whose keys lead with an existing index's makes that
// one redundant; a unique one, a partial one and one of a partition stay.
func TestReplacedIndexes(t *testing.T) {
	cat := &collector.Catalog{
		Tables: []collector.Table{{Schema: "public", Name: "items", Kind: "r"}, {Schema: "public", Name: "items_2026", Kind: "r", Parent: "public.items_p"}},
		Indexes: []collector.Index{
			{Schema: "public", Name: "items_status", Table: "public.items", Method: "btree", Valid: true, Keys: []collector.IndexKey{{Column: "status"}}},
			{Schema: "public", Name: "items_status_id", Table: "public.items", Method: "btree", Valid: true, Unique: true, Keys: []collector.IndexKey{{Column: "status"}, {Column: "id"}}},
			{Schema: "public", Name: "items_open", Table: "public.items", Method: "btree", Valid: true, Keys: []collector.IndexKey{{Column: "status"}}, Predicate: "deleted_at IS NULL"},
			{Schema: "public", Name: "items_status_note", Table: "public.items", Method: "btree", Valid: true, Keys: []collector.IndexKey{{Column: "status"}}, Include: []string{"note"}},
			{Schema: "public", Name: "p_status", Table: "public.items_2026", Method: "btree", Valid: true, Keys: []collector.IndexKey{{Column: "status"}}},
		},
	}
	c := Candidate{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "status"}, {Column: "created_at", Desc: true}}}
	if got := replacedIndexes(cat, c); !slices.Equal(got, []string{"public.items_status"}) {
		t.Errorf("replaced %q, want public.items_status alone", got)
	}
	c.Table = "public.items_2026"
	if got := replacedIndexes(cat, c); got != nil {
		t.Errorf("on a partition: replaced %q, want none", got)
	}
}

// The recommendation says which existing index it makes redundant, and
// how to drop it once built.
func TestSelectNamesTheIndexItReplaces(t *testing.T) {
	conn := testDB(t, "select_replaces", append(slices.Clone(itemsSetup), `CREATE INDEX items_status ON items (status)`)...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat, err := collector.LoadCatalog(context.Background(), conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []WorkloadStatement{stmt("page", "SELECT * FROM items WHERE status = $1 ORDER BY created_at LIMIT 10", 100, "public.items", "open")}
	cands := []Candidate{{Table: "public.items", Method: "btree", Keys: []collector.IndexKey{{Column: "status"}, {Column: "created_at"}}, QueryIDs: []string{"page"}}}
	recs := selectRecs(t, w, cat, cands, stmts, SelectOptions{})
	if len(recs) != 1 || !slices.Equal(recs[0].Replaces, []string{"public.items_status"}) ||
		!strings.HasSuffix(recs[0].Reason, "It makes public.items_status redundant: once it is built and valid, DROP INDEX CONCURRENTLY public.items_status;") {
		t.Errorf("want (status, created_at) replacing items_status:\n%s", describeRecs(recs))
	}
}

// A LIMIT over a filtered sequential scan is costed as the share of the
// table the statement's measured run read: the planner, without
// statistics on lower(email), expects 0.5% of the rows to match and the
// LIMIT to fill at once, so an index on it looks worth nothing, while each
// call reads the whole table.
func TestSelectCostsTheLimitScanItsRunMeasured(t *testing.T) {
	conn := testDB(t, "select_limit_scan",
		`CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, pad text NOT NULL)`,
		`INSERT INTO accounts SELECT g, 'User' || g || '@Example.com', repeat('x', 60) FROM generate_series(1, 60000) g`,
		`ANALYZE accounts`)
	ctx := context.Background()
	cat := replicaCatalog(t, conn)
	const query = "SELECT id FROM accounts WHERE lower(email) = lower($1) LIMIT 1"
	var out []byte
	if err := conn.QueryRow(ctx, "EXPLAIN (ANALYZE, FORMAT JSON) "+query, pgx.QueryExecModeExec, "user59990@example.com").Scan(&out); err != nil {
		t.Fatal(err)
	}
	measured, err := explain.ParsePlan(out)
	if err != nil {
		t.Fatal(err)
	}
	qualifyScans(measured, cat, []string{"public.accounts"})
	shares := LimitScanShares(measured, cat)
	if got := shares["accounts"]; got < 0.95 {
		t.Fatalf("LimitScanShares = %v, want the whole of accounts read", shares)
	}

	byEmail := Candidate{Table: "public.accounts", Method: "btree", Keys: []collector.IndexKey{{Expression: "lower(email)"}}}
	lookup := stmt("login", query, 1000, "public.accounts", "user30000@example.com")
	lookup.LimitScanShares = shares
	recs := selectRecs(t, newWhatIf(t, conn, WhatIfOptions{}), cat, []Candidate{byEmail}, []WorkloadStatement{lookup}, SelectOptions{})
	if len(recs) != 1 || recs[0].ImprovementPct < 90 || recs[0].Statements[0].CostBefore < 500 {
		t.Fatalf("with the whole table read by each call: %s; want (lower(email)) with the full scan's cost before", describeRecs(recs))
	}
	if !strings.Contains(recs[0].ValidationNote, "the cost before of 1 statement (login) counts the share of the table that its measured run") {
		t.Errorf("validation note %q does not say where the cost before comes from", recs[0].ValidationNote)
	}
}

// A chosen index that the rest of the chosen set leaves serving nothing
// goes, though it costs the writes nothing: (b) was picked for a = $1 AND
// b = $2 before (a, b) took the statement over.
func TestSelectDropsAnIndexTheOthersMadeUnneeded(t *testing.T) {
	conn := testDB(t, "select_unneeded", pairsSetup...)
	ctx := context.Background()
	w := newWhatIf(t, conn, WhatIfOptions{})
	s := &selection{w: w, cat: replicaCatalog(t, conn), log: zaptest.NewLogger(t), perTable: map[string]int{},
		opts: SelectOptions{MaxPerTable: defaultMaxPerTable, MinImprovementPct: defaultMinImprovementPct}}
	s.stmts = []WorkloadStatement{stmt("both", "SELECT * FROM pairs WHERE a = $1 AND b = $2", 100, "public.pairs", "7", "42")}
	var err error
	if s.base, err = w.Baseline(ctx, s.stmts); err != nil {
		t.Fatal(err)
	}
	// Each is picked as the greedy pass would: costed on top of those
	// chosen before it.
	pick := func(c Candidate) {
		t.Helper()
		e := s.entries([]Candidate{c})[0]
		costed, err := w.Evaluate(ctx, candidatesOf(s.chosen), []Candidate{c}, s.stmts)
		if err != nil {
			t.Fatal(err)
		}
		s.setEffects(e, costed[0].Statements)
		s.add(e)
	}
	byB, byAB := btree("public.pairs", "b"), btree("public.pairs", "a", "b")
	pick(byB)
	if err := s.dropUnneeded(ctx); err != nil || len(s.chosen) != 1 {
		t.Fatalf("(b) alone: %d chosen (%v), want it kept", len(s.chosen), err)
	}
	pick(byAB)
	if err := s.dropUnneeded(ctx); err != nil {
		t.Fatal(err)
	}
	if len(s.chosen) != 1 || !slices.Equal(s.chosen[0].c.Keys, byAB.Keys) {
		t.Errorf("with (a, b) chosen too: %+v, want (a, b) alone", candidatesOf(s.chosen))
	}
}

// email = $1 OR name = $2 needs an index on each column, ORed in a
// BitmapOr: with one of them alone the plan is still a sequential scan,
// and the greedy pass, adding one index at a time, would find neither.
// The pair is picked together, and each names the other in its evidence.
func TestSelectPicksTheIndexesOfAnORTogether(t *testing.T) {
	conn := testDB(t, "select_or",
		`CREATE TABLE people (id bigint PRIMARY KEY, email text NOT NULL, name text NOT NULL, pad text NOT NULL)`,
		`INSERT INTO people SELECT g, 'p' || g || '@example.com', 'name ' || (g % 40000), repeat('x', 80) FROM generate_series(1, 80000) g`,
		`ANALYZE people`)
	cat := replicaCatalog(t, conn)
	st := stmt("login", "SELECT id FROM people WHERE email = $1 OR name = $2", 500, "public.people", "p77@example.com", "name 12")
	cands, err := Candidates(st, cat, nil)
	if err != nil {
		t.Fatal(err)
	}
	recs := selectRecs(t, newWhatIf(t, conn, WhatIfOptions{}), cat, cands, []WorkloadStatement{st}, SelectOptions{})
	if got := describeRecs(recs); len(recs) != 2 || !strings.Contains(got, "(email)") || !strings.Contains(got, "(name)") {
		t.Fatalf("want (email) and (name), got:\n%s", got)
	}
	for i, r := range recs {
		if g := r.Statements; len(g) != 1 || g[0].QueryID != "login" || !slices.Equal(g[0].With, []string{recs[1-i].ID}) || g[0].CostAfter > g[0].CostBefore/10 {
			t.Errorf("%s: evidence %+v; want login, shared with the other, at a tenth of its cost or less", describeRecs(recs[i:i+1]), g)
		}
	}
}

// A shared statement's saving is split evenly when what one of its
// recommendations adds is unknown, and a recommendation left alone on it
// once another is displaced gets all of it.
func TestCreditTimeSavedSplits(t *testing.T) {
	s := &selection{stmts: []WorkloadStatement{{QueryID: "q", TimeMS: 1000}}}
	rec := func(id string, without float64, with ...string) Recommendation {
		return Recommendation{ID: id, Validated: true, Statements: []StatementGain{{QueryID: "q", Calls: 1, CostBefore: 100, CostAfter: 10, CostWithout: without, With: with}}}
	}
	recs := []Recommendation{rec("a", 50, "b"), rec("b", 0, "a")}
	s.creditTimeSaved(recs)
	if recs[0].TimeSavedMS != 450 || recs[1].TimeSavedMS != 450 {
		t.Errorf("one share unknown: saved %v and %v, want 450 each", recs[0].TimeSavedMS, recs[1].TimeSavedMS)
	}
	recs = withoutRecommendations([]Recommendation{rec("a", 50, "b"), rec("b", 50, "a")}, map[string]bool{"b": true})
	s.creditTimeSaved(recs)
	if len(recs) != 1 || recs[0].TimeSavedMS != 900 {
		t.Errorf("alone once b is displaced: %+v, want a saving 900", recs)
	}
}

// Recommendations of several databases are ranked together: costed ones
// by time saved, uncosted ones last, each database's order kept on ties.
func TestRankAcrossDatabases(t *testing.T) {
	recs := []Recommendation{
		{ID: "app1", Validated: true, TimeSavedMS: 100}, {ID: "app2", Validated: true, TimeSavedMS: 0}, {ID: "app3"},
		{ID: "crm1", Validated: true, TimeSavedMS: 500}, {ID: "crm2", StandIn: true, TimeSavedMS: 0}, {ID: "crm3"},
	}
	rankAcrossDatabases(recs)
	var got []string
	for _, r := range recs {
		got = append(got, r.ID)
	}
	if want := []string{"crm1", "app1", "app2", "crm2", "app3", "crm3"}; !slices.Equal(got, want) {
		t.Errorf("ranked %v, want %v", got, want)
	}
}
