package advisor

import (
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

func TestPointFixesAtRecommendations(t *testing.T) {
	guess := "Index the filtered columns: CREATE INDEX ON tasks (tenant_id, deleted_at);"
	findings := []explain.Finding{
		{Kind: explain.KindInefficientIndex, Table: "tasks", QueryID: "1", Fix: "The index finds rows by (tenant_id = 1) but the filter (deleted_at IS NOT NULL) discards most of them: " + guess},
		{Kind: explain.KindSeqScan, Table: "tasks", QueryID: "2", Fix: guess},                          // served only on another table
		{Kind: explain.KindSeqScan, Table: "events", QueryID: "3", Fix: guess},                         // served, not costed
		{Kind: explain.KindSortSpill, Table: "tasks", QueryID: "1", Fix: "SET LOCAL work_mem = '8MB'"}, // not a guessed index
		{Kind: explain.KindSeqScan, Table: "tasks", QueryID: "4", Fix: guess},                          // served by nothing
		{Kind: explain.KindSeqScan, Table: "public.m_2026", QueryID: "5", Fix: guess},                  // a partition of the recommended table
		{Kind: explain.KindSeqScan, Table: "people", QueryID: "6", Fix: guess},                         // an OR: two indexes together
	}
	recs := []Recommendation{
		{Table: "public.tasks", Method: "btree", Columns: []string{"tenant_id", "deleted_at"}, Where: "deleted_at IS NOT NULL", Validated: true,
			Statements: []StatementGain{{QueryID: "1", CostBefore: 840.75, CostAfter: 43.72}}},
		{Table: "public.comments", Method: "btree", Columns: []string{"task_id"}, Validated: true,
			Statements: []StatementGain{{QueryID: "2", CostBefore: 100, CostAfter: 1}}},
		{Table: "public.events", Method: "gin", Columns: []string{"payload jsonb_path_ops"},
			Statements: []StatementGain{{QueryID: "3", CostBefore: 100, CostAfter: 100}}},
		{Table: "public.m", Method: "btree", Columns: []string{"device_id"},
			Statements: []StatementGain{{QueryID: "5", CostBefore: 100, CostAfter: 100}}},
		{Table: "public.people", Method: "btree", Columns: []string{"email"}, Validated: true,
			Statements: []StatementGain{{QueryID: "6", CostBefore: 2000, CostAfter: 8.5}}},
		{Table: "public.people", Method: "btree", Columns: []string{"name"}, Validated: true,
			Statements: []StatementGain{{QueryID: "6", CostBefore: 2000, CostAfter: 8.5}}},
	}
	cat := &collector.Catalog{Tables: []collector.Table{
		{Schema: "public", Name: "m", Kind: "p", Partitions: []string{"public.m_2026"}},
		{Schema: "public", Name: "m_2026", Kind: "r", Parent: "public.m"},
	}}
	// The costs name the values the statement was planned with.
	workload := []WorkloadStatement{{QueryID: "1", Params: []string{"158"}}}
	pointFixesAtRecommendations(findings, recs, workload, cat)
	want := []string{
		"Build the recommended btree index on public.tasks (tenant_id, deleted_at) WHERE deleted_at IS NOT NULL (its DDL and evidence are with the recommendations): with the recommended indexes, what-if plans put this statement's planner cost at 43.7 per call instead of 840.8 (planned with $1 = '158').",
		guess,
		"Build the recommended gin index on public.events (payload jsonb_path_ops) (its DDL and evidence are with the recommendations).",
		"SET LOCAL work_mem = '8MB'",
		guess,
		"Build the recommended btree index on public.m (device_id) (its DDL and evidence are with the recommendations).",
		"Build the recommended btree index on public.people (email) and the btree index on public.people (name), which serve it together (their DDL and evidence are with the recommendations): with the recommended indexes, what-if plans put this statement's planner cost at 8.5 per call instead of 2000.0.",
	}
	for i, f := range findings {
		if f.Fix != want[i] {
			t.Errorf("finding %d (%s on %s, query %s):\n got %q\nwant %q", i, f.Kind, f.Table, f.QueryID, f.Fix, want[i])
		}
	}
	if !sameTable("public.tasks", `tasks`) || sameTable("public.tasks", "") || sameTable("public.subtasks", "tasks") {
		t.Error("sameTable matches the wrong tables")
	}
}

// An unindexed foreign key points at the recommended btree index that
// leads with its columns, in any order, rather than adding their prefix.
func TestPointForeignKeyAtRecommendation(t *testing.T) {
	const own = "CREATE INDEX CONCURRENTLY ..."
	fk := func(table string, cols ...string) explain.Finding {
		return explain.Finding{Kind: "unindexed_fk", Table: table, Fix: own, Evidence: map[string]any{"columns": cols}}
	}
	findings := []explain.Finding{
		fk("public.orders", "customer_id"),
		fk("public.items", "order_id", "line"),
		fk("public.items", "product_id"),    // only a later key of a recommendation
		fk("public.parts", "Kit Id"),        // served by a partial index
		fk("public.orders", "warehouse_id"), // served by nothing
	}
	recs := []Recommendation{
		{Table: "public.orders", Method: "btree", Columns: []string{"customer_id", "priority", "created_at DESC"}},
		{Table: "public.items", Method: "btree", Columns: []string{"line", "order_id DESC", "product_id"}},
		{Table: "public.parts", Method: "btree", Columns: []string{`"Kit Id"`}, Where: "deleted_at IS NULL"},
	}
	pointFixesAtRecommendations(findings, recs, nil, &collector.Catalog{})
	want := []string{
		"Build the recommended btree index on public.orders (customer_id, priority, created_at DESC) (its DDL and evidence are with the recommendations): it leads with the foreign key's columns, so it serves the key's checks too.",
		"Build the recommended btree index on public.items (line, order_id DESC, product_id) (its DDL and evidence are with the recommendations): it leads with the foreign key's columns, so it serves the key's checks too.",
		own, own, own,
	}
	for i, f := range findings {
		if f.Fix != want[i] {
			t.Errorf("foreign key %v on %s:\n got %q\nwant %q", f.Evidence["columns"], f.Table, f.Fix, want[i])
		}
	}
}

func TestPointMisestimateAtExpressionIndex(t *testing.T) {
	const statistics = "ANALYZE tasks; ... CREATE STATISTICS tasks_to_tsvector_stats ON (...) FROM tasks; ANALYZE tasks;"
	tsv := "to_tsvector(language, title) || to_tsvector(language, body)"
	findings := []explain.Finding{
		{Kind: explain.KindMisestimate, Table: "tasks", QueryID: "1", Fix: statistics, Evidence: map[string]any{"expressions": []string{"(" + tsv + ")"}}},
		{Kind: explain.KindMisestimate, Table: "tasks", QueryID: "1", Fix: statistics, Evidence: map[string]any{"expressions": []any{"lower(title)"}}}, // another expression
		{Kind: explain.KindMisestimate, Table: "tasks", QueryID: "2", Fix: statistics, Evidence: map[string]any{"expressions": []any{tsv}}},
		{Kind: explain.KindMisestimate, Table: "tasks", QueryID: "3", Fix: statistics, Evidence: map[string]any{"expressions": []any{"lower(title)"}}}, // served by a partial index            // not served
	}
	recs := []Recommendation{
		{Table: "public.tasks", Method: "gin", Columns: []string{tsv}, QueryIDs: []string{"1"}, StandIn: true},
		{Table: "public.tasks", Method: "btree", Columns: []string{"lower(title)"}, Where: "deleted_at IS NULL", QueryIDs: []string{"3"}, Validated: true},
	}
	pointFixesAtRecommendations(findings, recs, nil, &collector.Catalog{})
	want := statistics + " The recommended gin index on public.tasks (" + tsv + ") is on " + tsv + ": building it, with the ANALYZE its DDL ends with, gathers statistics on it."
	if findings[0].Fix != want {
		t.Errorf("misestimate on the indexed expression:\n got %q\nwant %q", findings[0].Fix, want)
	}
	for _, f := range findings[1:] {
		if f.Fix != statistics {
			t.Errorf("misestimate on %v of query %s: fix changed to %q", f.Evidence["expressions"], f.QueryID, f.Fix)
		}
	}
}

// Target quotes the INCLUDE columns as Columns are.
func TestTargetQuotesInclude(t *testing.T) {
	r := Recommendation{Table: `public."Weird Table"`, Columns: []string{`"it's"`}, Include: []string{"Id", "User Name", "plain"}}
	if got, want := r.Target(), `public."Weird Table" ("it's") INCLUDE ("Id", "User Name", plain)`; got != want {
		t.Errorf("Target() = %s, want %s", got, want)
	}
}

// A scan EXPLAIN names without its schema gets the schema of the table of
// that name the statement reads, or of the catalog's only one.
func TestQualifyScans(t *testing.T) {
	cat := &collector.Catalog{Tables: []collector.Table{
		{Schema: "public", Name: "ord", Kind: "r"},
		{Schema: "sales", Name: "ord", Kind: "r"},
		{Schema: "public", Name: "m", Kind: "p", Partitions: []string{"parts.m_2026"}},
		{Schema: "parts", Name: "m_2026", Kind: "r", Parent: "public.m"},
		{Schema: "app", Name: "lone", Kind: "r"},
	}}
	plan, err := explain.ParsePlan([]byte(`[{"Plan": {"Node Type": "Append", "Plans": [
		{"Node Type": "Seq Scan", "Relation Name": "ord", "Parent Relationship": "Member"},
		{"Node Type": "Seq Scan", "Relation Name": "m_2026", "Parent Relationship": "Member"},
		{"Node Type": "Seq Scan", "Relation Name": "lone", "Parent Relationship": "Member"}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	tables := func() (out []string) {
		for _, n := range plan.Root.Plans {
			out = append(out, n.Table())
		}
		return out
	}
	qualifyScans(plan, cat, []string{"sales.ord", "public.m"})
	if got, want := tables(), []string{"sales.ord", "parts.m_2026", "app.lone"}; !slices.Equal(got, want) {
		t.Errorf("scans on %v, want %v", got, want)
	}
	plan.Root.Plans[0].Schema = ""
	qualifyScans(plan, cat, nil)
	if got := plan.Root.Plans[0].Table(); got != "ord" {
		t.Errorf("ord, read from neither schema by the statement's text: %s, want it left unqualified", got)
	}
}

// A finding on a JSON key the advisor chose for a hidden parameter is
// informational, and a misestimate's fix is not statistics on that key.
func TestOnChosenKeys(t *testing.T) {
	fs := []explain.Finding{
		{Kind: explain.KindMisestimate, Severity: explain.Critical, Detail: "Seq Scan on orders: 428,000 rows, estimated 6,240",
			Fix: "ANALYZE orders; ... CREATE STATISTICS orders_meta_stats ON ((meta ->> 'channel'::text)) FROM orders; ANALYZE orders;"},
		// Names 'channel', but not as a key.
		{Kind: explain.KindSeqScan, Severity: explain.Warning, Detail: "Seq Scan on orders read 1,000,000 rows, filter (source = 'channel'::text)", Fix: "Index the filtered columns: CREATE INDEX ON orders (source);"},
	}
	params := []explain.Param{{Index: 1, Value: "channel", JSONKey: true}, {Index: 2, Value: "web"}}
	got := onChosenKeys(slices.Clone(fs), params)
	if got[0].Severity != explain.Info || strings.Contains(got[0].Fix, "'channel'") || !strings.Contains(got[0].Detail, "the advisor chose") {
		t.Errorf("finding on the chosen key: %+v", got[0])
	}
	if got[1].Severity != fs[1].Severity || got[1].Detail != fs[1].Detail || got[1].Fix != fs[1].Fix {
		t.Errorf("a finding that does not name the key changed: %+v", got[1])
	}
	if got := onChosenKeys(slices.Clone(fs), params[1:]); got[0].Severity != explain.Critical {
		t.Errorf("no chosen key, yet the finding changed: %+v", got[0])
	}
}

// A statement's seq scans of the partitions of one table make one finding
// on the table, their numbers summed.
func TestFoldPartitionScans(t *testing.T) {
	cat := &collector.Catalog{Tables: []collector.Table{
		{Schema: "public", Name: "events", Kind: "p", Partitions: []string{"public.events_a", "public.events_b"}},
		{Schema: "public", Name: "events_a", Kind: "r", Parent: "public.events"},
		{Schema: "public", Name: "events_b", Kind: "p", Parent: "public.events", Partitions: []string{"public.events_b1"}},
		{Schema: "public", Name: "events_b1", Kind: "r", Parent: "public.events_b"},
		{Schema: "public", Name: "users", Kind: "r"},
	}}
	scan := func(table string, severity explain.Severity, read, removed, ms float64) explain.Finding {
		return explain.Finding{Kind: explain.KindSeqScan, Severity: severity, Table: table, QueryID: "1", Node: "0.0 Seq Scan", Fix: "index",
			Evidence: map[string]any{"rows_read": read, "rows_removed": removed, "rows_returned": read - removed, "time_ms": ms, "time_share": ms / 100, "filter": "(kind = 'x'::text)"}}
	}
	fs := foldPartitionScans([]explain.Finding{
		scan("public.events_a", explain.Info, 1000, 900, 10),
		scan("public.users", explain.Warning, 5000, 4000, 20),
		scan("public.events_b1", explain.Warning, 3000, 2900, 30),
		{Kind: explain.KindSortSpill, Table: "public.events_a", QueryID: "1"},
	}, cat)
	if len(fs) != 3 || fs[0].Table != "public.events" || fs[1].Table != "public.users" || fs[2].Kind != explain.KindSortSpill {
		t.Fatalf("findings %v: want events' two scans folded into one on it, the others kept", findingLines(fs))
	}
	f := fs[0]
	if f.Severity != explain.Warning || f.Evidence["rows_read"] != 4000.0 || f.Evidence["rows_removed"] != 3800.0 || f.Evidence["time_ms"] != 40.0 ||
		!slices.Equal(f.Evidence["partitions"].([]string), []string{"public.events_a", "public.events_b1"}) ||
		f.Detail != "Seq Scans of 2 partitions of public.events read 4,000 rows and their filters discarded 3,800 of them (95.0%) to return 200, taking 40.00 ms (40.0% of the statement)." {
		t.Errorf("folded finding: %+v", f)
	}
}
