package main

import (
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

func testCatalog() *collector.Catalog {
	cols := func(names ...string) []collector.Column {
		var out []collector.Column
		for _, n := range names {
			out = append(out, collector.Column{Name: n, Type: "bigint"})
		}
		return out
	}
	return &collector.Catalog{Database: "t", Tables: []collector.Table{
		{Schema: "public", Name: "orders", Kind: "r", Columns: cols("id", "tenant_id", "customer_id", "status", "created_at", "total")},
		{Schema: "public", Name: "customers", Kind: "r", Columns: cols("id", "tenant_id", "name", "email")},
	}}
}

func TestReferencedColumns(t *testing.T) {
	cat := testCatalog()
	got, err := referencedColumns(`SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id
		WHERE o.tenant_id = $1 AND status = $2 AND c.email = $3 ORDER BY o.created_at DESC LIMIT 10`, cat)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2][]string{
		"orders":    {{"created_at", "customer_id", "status", "tenant_id"}, {"id", "total"}},
		"customers": {{"email", "id"}, {"name"}},
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tables, want %d", len(got), len(want))
	}
	for _, tc := range got {
		w, ok := want[tc.Table.Name]
		if !ok {
			t.Fatalf("unexpected table %s", tc.Table.Name)
		}
		filter, other := slices.Sorted(slices.Values(tc.Filter)), slices.Sorted(slices.Values(tc.Other))
		if !slices.Equal(filter, w[0]) || !slices.Equal(other, w[1]) {
			t.Errorf("%s: filter %v other %v, want %v and %v", tc.Table.Name, filter, other, w[0], w[1])
		}
	}
	if _, err := referencedColumns("SELEC nonsense", cat); err == nil {
		t.Error("a statement that does not parse gave no error")
	}
}

func TestOrderings(t *testing.T) {
	got := orderings([]string{"a", "b", "c", "d"}, 3)
	if len(got) != 4+12+24 {
		t.Fatalf("got %d orderings of 4 columns, want 40", len(got))
	}
	seen := map[string]bool{}
	for _, o := range got {
		k := strings.Join(o, ",")
		if seen[k] {
			t.Errorf("ordering %s twice", k)
		}
		seen[k] = true
	}
	if !seen["c,a,d"] || seen["a,a"] {
		t.Error("orderings miss (c, a, d) or repeat a column")
	}
}

func TestOracleCandidates(t *testing.T) {
	cat := testCatalog()
	own := []advisor.Candidate{{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Where: "status = 'open'"}}
	cands, err := oracleCandidates(`SELECT id, total FROM orders WHERE tenant_id = $1 ORDER BY created_at`, cat, own)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, c := range cands {
		seen[describeCandidate(c)] = true
	}
	for _, want := range []string{
		"public.orders (created_at, tenant_id)",
		"public.orders (tenant_id, created_at) INCLUDE (id, total)",
		"public.orders (tenant_id) WHERE status = 'open'",
		"public.orders (created_at) INCLUDE (tenant_id, id, total) WHERE status = 'open'",
	} {
		if !seen[want] {
			t.Errorf("no candidate %s among %d", want, len(cands))
		}
	}
	// 2 orderings of 1 column + 2 of 2, each plain and covering, each also
	// partial; the advisor's own one is among them.
	if len(cands) != 4*2*2 {
		t.Errorf("got %d candidates, want 16", len(cands))
	}
}

func TestHypoForm(t *testing.T) {
	ddl, name, err := hypoForm("SET lock_timeout = '5s';\nCREATE INDEX CONCURRENTLY IF NOT EXISTS orders_tenant_id_idx ON public.orders USING btree (tenant_id, created_at DESC) WHERE (deleted_at IS NULL);")
	if err != nil {
		t.Fatal(err)
	}
	if ddl != "CREATE INDEX ON public.orders USING btree (tenant_id, created_at DESC) WHERE (deleted_at IS NULL)" || name != "orders_tenant_id_idx" {
		t.Errorf("got %q named %q", ddl, name)
	}
	if table, ok := partialIndexTable(ddl); !ok || table != "public.orders" {
		t.Errorf("partialIndexTable(%q) = %q, %v; want public.orders", ddl, table, ok)
	}
	if _, ok := partialIndexTable("CREATE INDEX ON public.orders USING btree (tenant_id)"); ok {
		t.Error("an index without WHERE is not partial")
	}
	if _, _, err := hypoForm("CREATE INDEX IF NOT EXISTS p_idx ON ONLY public.p (a);"); err == nil {
		t.Error("a partitioned index gave no error")
	}
	if _, _, err := hypoForm("SET lock_timeout = '5s';"); err == nil {
		t.Error("a script without CREATE INDEX gave no error")
	}
}

func TestScaledBudgets(t *testing.T) {
	got, err := scaledBudgets("500MB, 1GB,none", 0.1)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].bytes != 50e6 || got[1].bytes != 100e6 || got[2].bytes != 0 || got[0].label != "500MB x 0.1" {
		t.Errorf("got %+v", got)
	}
	if _, err := scaledBudgets("lots", 1); err == nil {
		t.Error("a bad size gave no error")
	}
}

// TestTPCHQueries reads the shared TPC-H queries when they are beside the
// repository, as in CI.
func TestTPCHQueries(t *testing.T) {
	dir := filepath.Join("..", "..", "shared", "bench", "tpch")
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("no TPC-H files at %s", dir)
	}
	w, err := newTPCH(dir, 0.1)
	if err != nil {
		t.Fatal(err)
	}
	names := make([]string, len(w.queries))
	for i, q := range w.queries {
		names[i] = q.name
		if strings.Contains(strings.ToLower(q.sql), "create view") || strings.Contains(q.sql, ";") {
			t.Errorf("%s is not one query: %s", q.name, q.sql)
		}
	}
	for _, out := range []string{"Q2", "Q17", "Q20"} {
		if slices.Contains(names, out) {
			t.Errorf("%s should be left out", out)
		}
	}
	if len(w.setup) != 1 || !strings.Contains(w.setup[0], "revenue0") {
		t.Errorf("setup %q, want Q15's view", w.setup)
	}
	if _, err := newTPCH(t.TempDir(), 0.1); err == nil || !strings.Contains(err.Error(), "--tpch-dir") {
		t.Errorf("a folder without the files gave %v, want an error naming --tpch-dir", err)
	}
}

func TestTimeAfter(t *testing.T) {
	rep := &advisor.Report{
		Recommendations: []advisor.Recommendation{{Table: "public.comments", Columns: []string{"task_id"}, QueryIDs: []string{"2"}}},
		Findings: []explain.Finding{
			{Kind: explain.KindLargeOffset, QueryID: "1"},
			{Kind: explain.KindSeqScan, QueryID: "2"},
			{Kind: explain.KindLargeOffset, QueryID: "1"},
		},
	}
	w := &workloadResult{TotalMSAfter: 100, PerStatement: []statementResult{
		{Name: "served", SQL: "SELECT 2", Calls: 10, Before: latency{MeanMS: 50}, After: latency{MeanMS: 1}, Advice: adviceFor(rep, "2")},
		{Name: "paging", SQL: "SELECT 1", Calls: 3, Before: latency{MeanMS: 30}, After: latency{MeanMS: 30}, Advice: adviceFor(rep, "1")},
		{Name: "fine", SQL: "SELECT 3", Calls: 1, Before: latency{MeanMS: 1}, After: latency{MeanMS: 0}},
	}}
	var b strings.Builder
	timeAfter(&b, w)
	got := b.String()
	for _, want := range []string{
		"the 3 statements that take the most, 100% of it",
		"| paging: `SELECT 1` | 3 | 90 ms | 90 ms | 90% | findings large_offset |",
		"| served: `SELECT 2` | 10 | 500 ms | 10 ms | 10% | index public.comments (task_id); findings seq_scan |",
		"| fine: `SELECT 3` | 1 | 1 ms | 0 ms | 0% | nothing |",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("timeAfter lacks %q:\n%s", want, got)
		}
	}
	if a := abbreviate("SELECT a || b FROM t WHERE name = 'héhé'", 40); a != "SELECT a \\|\\| b FROM t WHERE name = 'h..." {
		t.Errorf("abbreviate: %q (pipes escaped, cut at a character boundary)", a)
	}
	if strings.Index(got, "paging") > strings.Index(got, "served") {
		t.Errorf("statements not ordered by time after:\n%s", got)
	}
}

// The TPC-H targets include no regression in measured runtime.
func TestTargetsTPCHRegressions(t *testing.T) {
	r := &results{Scale: 10, TPCHBudget: "350MB", Workloads: []*workloadResult{{Name: "tpch", Regressions: []string{"Q7: mean 634 ms -> 790 ms"}}}}
	var b strings.Builder
	targets(&b, r)
	if want := "| tpch: no regression in measured runtime (> 10% slower) | 1 | **not met** |"; !strings.Contains(b.String(), want) {
		t.Errorf("targets lack %q:\n%s", want, b.String())
	}
}

func TestEstimatedWriteMS(t *testing.T) {
	// Two new indexes on the table the UPDATE writes: the estimates of
	// its 100 window calls add up, and are scaled to the 50 calls measured.
	recs := []advisor.Recommendation{
		{Writes: []advisor.IndexWrite{{QueryID: "7", Calls: 100, Cost: 400}, {QueryID: "8", Calls: 10, Cost: 1000}}},
		{Writes: []advisor.IndexWrite{{QueryID: "7", Calls: 100, Cost: 200}}},
		{},
	}
	w := stmt{QueryID: "7", Calls: 50, Write: true}
	if got, want := estimatedWriteMS(recs, []built{{}, {}, {}}, w, 0.01), 50*6*0.01; math.Abs(got-want) > 1e-9 {
		t.Errorf("estimatedWriteMS = %v, want %v", got, want)
	}
	// The second index failed to build: it maintains nothing.
	if got, want := estimatedWriteMS(recs, []built{{}, {Error: "deadlock"}, {}}, w, 0.01), 50*4*0.01; math.Abs(got-want) > 1e-9 {
		t.Errorf("estimatedWriteMS with a failed build = %v, want %v", got, want)
	}
}
