package advisor

import (
	"context"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap/zaptest"

	"github.com/pgadvisor/pgadvisor/collector"
)

// jobsCatalog: a queue table with an index on state, whose updates are
// mostly HOT.
func jobsCatalog() *collector.Catalog {
	return &collector.Catalog{
		Database: "db",
		Settings: collector.PlanSettings{RandomPageCost: 4, SearchPath: `"$user", public`},
		Tables: []collector.Table{{Schema: "public", Name: "jobs", Kind: "r", NTupUpd: 1000, NTupHotUpd: 900,
			Columns: []collector.Column{{Name: "id"}, {Name: "state"}, {Name: "queue"}, {Name: "run_at"}, {Name: "note"}}}},
		Indexes: []collector.Index{
			{Schema: "public", Name: "jobs_pkey", Table: "public.jobs", Method: "btree", Keys: []collector.IndexKey{{Column: "id"}}, Primary: true},
			{Schema: "public", Name: "jobs_state_idx", Table: "public.jobs", Method: "btree", Keys: []collector.IndexKey{{Column: "state"}}},
		},
	}
}

func windowStatement(id, query string, calls, rows int64) collector.Statement {
	command, _, _ := strings.Cut(query, " ")
	return collector.Statement{QueryID: id, Database: "db", Text: collector.Text{Query: query, Command: command},
		Counters: collector.Counters{Calls: calls, Rows: rows}}
}

func TestWorkloadWrites(t *testing.T) {
	cat := jobsCatalog()
	got := WorkloadWrites([]collector.Statement{
		windowStatement("ins", "INSERT INTO jobs (id, queue) VALUES ($1, $2)", 100, 100),
		windowStatement("ups", "INSERT INTO public.jobs (id, queue) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET queue = excluded.queue", 10, 10),
		windowStatement("upd", "UPDATE jobs SET state = $1, run_at = now() WHERE id = $2", 50, 50),
		windowStatement("del", "DELETE FROM jobs WHERE run_at < $1", 2, 400),
		windowStatement("cte", "WITH done AS (SELECT id FROM jobs WHERE state = $1) UPDATE jobs SET note = $2 FROM done WHERE jobs.id = done.id", 1, 30),
		windowStatement("merge", "MERGE INTO jobs j USING (VALUES ($1::int)) v(id) ON j.id = v.id WHEN MATCHED AND j.state = 'x' THEN DELETE WHEN MATCHED THEN UPDATE SET note = $2 WHEN NOT MATCHED THEN INSERT (id, queue) VALUES (v.id, $3)", 20, 20),
		windowStatement("merge_upd", "MERGE INTO jobs j USING (VALUES ($1::int)) v(id) ON j.id = v.id WHEN MATCHED THEN UPDATE SET run_at = now() WHEN NOT MATCHED THEN DO NOTHING", 20, 20),
		windowStatement("sel", "SELECT * FROM jobs WHERE id = $1", 1000, 1000),
		windowStatement("other", "INSERT INTO elsewhere VALUES ($1)", 5, 5),
		windowStatement("bad", "UPDATE jobs SET", 5, 5),
	}, cat)
	want := []Write{
		{QueryID: "ins", Table: "public.jobs", Kind: "INSERT", Calls: 100, Rows: 100},
		{QueryID: "ups", Table: "public.jobs", Kind: "INSERT", Columns: []string{"queue"}, Calls: 10, Rows: 10},
		{QueryID: "upd", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"state", "run_at"}, Calls: 50, Rows: 50},
		{QueryID: "del", Table: "public.jobs", Kind: "DELETE", Calls: 2, Rows: 400},
		{QueryID: "cte", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"note"}, Calls: 1, Rows: 30},
		{QueryID: "merge", Table: "public.jobs", Kind: "MERGE", Actions: []string{"DELETE", "UPDATE", "INSERT"}, Columns: []string{"note"}, Calls: 20, Rows: 20},
		{QueryID: "merge_upd", Table: "public.jobs", Kind: "MERGE", Actions: []string{"UPDATE"}, Columns: []string{"run_at"}, Calls: 20, Rows: 20},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n got %+v\nwant %+v", got, want)
	}
}

// Writes through automatically updatable views, a view over a view
// among them, reach the table under them, by its column names.
func TestWorkloadWritesThroughViews(t *testing.T) {
	cat := jobsCatalog()
	cat.Views = []collector.View{ // as pg_get_viewdef prints them
		{Schema: "public", Name: "open_jobs", Definition: " SELECT jobs.id,\n    jobs.state AS status,\n    jobs.note,\n    lower(jobs.queue) AS q\n   FROM jobs\n  WHERE (jobs.state <> 'done'::text);"},
		{Schema: "public", Name: "my_jobs", Definition: " SELECT open_jobs.id,\n    open_jobs.status AS st\n   FROM open_jobs;"},
		{Schema: "public", Name: "queues", Definition: " SELECT jobs.queue,\n    count(*) AS n\n   FROM jobs\n  GROUP BY jobs.queue;"},
		{Schema: "public", Name: "loop", Definition: " SELECT loop.id\n   FROM loop;"},
		// Its writes are an INSTEAD OF trigger's, which may write anywhere.
		{Schema: "public", Name: "logged_jobs", Definition: " SELECT jobs.id,\n    jobs.note\n   FROM jobs;", Redirected: true},
	}
	got := WorkloadWrites([]collector.Statement{
		windowStatement("upd", "UPDATE open_jobs SET status = $1, note = $2 WHERE id = $3", 50, 50),
		windowStatement("nested", "UPDATE my_jobs SET st = $1 WHERE id = $2", 5, 5),
		windowStatement("ins", "INSERT INTO public.open_jobs (id, note) VALUES ($1, $2)", 10, 10),
		windowStatement("grouped", "UPDATE queues SET queue = $1", 1, 1),
		windowStatement("loop", "DELETE FROM loop", 1, 1),
		windowStatement("logged", "UPDATE logged_jobs SET note = $1", 1, 1),
	}, cat)
	want := []Write{
		{QueryID: "upd", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"state", "note"}, Calls: 50, Rows: 50},
		{QueryID: "nested", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"state"}, Calls: 5, Rows: 5},
		{QueryID: "ins", Table: "public.jobs", Kind: "INSERT", Calls: 10, Rows: 10},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writes:\n got %+v\nwant %+v", got, want)
	}

	// A view first on the search path hides public.jobs from unqualified names.
	hidden := jobsCatalog()
	hidden.Settings.SearchPath = "app, public"
	hidden.Views = []collector.View{{Schema: "app", Name: "jobs", Definition: " SELECT jobs_base.id AS jid,\n    jobs_base.state AS st\n   FROM app.jobs_base;"}}
	hidden.Tables = append(hidden.Tables, collector.Table{Schema: "app", Name: "jobs_base", Kind: "r", Columns: []collector.Column{{Name: "id"}, {Name: "state"}}})
	got = WorkloadWrites([]collector.Statement{
		windowStatement("hiding", "UPDATE jobs SET st = $1 WHERE jid = $2", 3, 3),
		windowStatement("qualified", "UPDATE public.jobs SET note = $1", 2, 2),
	}, hidden)
	want = []Write{
		{QueryID: "hiding", Table: "app.jobs_base", Kind: "UPDATE", Columns: []string{"state"}, Calls: 3, Rows: 3},
		{QueryID: "qualified", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"note"}, Calls: 2, Rows: 2},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("writes with a view first on the search path:\n got %+v\nwant %+v", got, want)
	}
}

func TestIndexWritesFollowHOT(t *testing.T) {
	// 45% of all updates were HOT; half of the updated rows change state,
	// which is indexed, so 90% of those that could be HOT were.
	cat := jobsCatalog()
	cat.Tables[0].NTupHotUpd = 450
	writes := []Write{
		{QueryID: "ins", Table: "public.jobs", Kind: "INSERT", Calls: 100, Rows: 200},
		{QueryID: "state", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"state"}, Calls: 50, Rows: 50},
		{QueryID: "note", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"note"}, Calls: 50, Rows: 50},
		{QueryID: "del", Table: "public.jobs", Kind: "DELETE", Calls: 2, Rows: 400},
		{QueryID: "other", Table: "public.other", Kind: "INSERT", Calls: 9, Rows: 9},
	}
	// An index on run_at: the UPDATE of state is not HOT already (state is
	// indexed) and adds one entry per row; the UPDATE of note stays HOT as
	// often as the updates that could be (90%), so a tenth of its rows add one.
	got := indexWrites(btree("public.jobs", "run_at"), &cat.Tables[0], writes, cat, 1)
	want := []IndexWrite{
		{QueryID: "ins", Kind: "INSERT", Calls: 100, EntriesPerCall: 2, Cost: 100 * 2 * 4},
		{QueryID: "state", Kind: "UPDATE", Calls: 50, EntriesPerCall: 1, Cost: 50 * 4},
		{QueryID: "note", Kind: "UPDATE", Calls: 50, EntriesPerCall: 0.1, Cost: 50 * 0.1 * 4},
	}
	for i := range got {
		got[i].EntriesPerCall, got[i].Cost = round3(got[i].EntriesPerCall), round3(got[i].Cost)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("index on run_at:\n got %+v\nwant %+v", got, want)
	}
	// An index including note makes the UPDATE of note lose HOT: each of
	// its rows then adds an entry to the new index, and the 90% that were
	// HOT one to both old ones as well.
	covering := Candidate{Table: "public.jobs", Method: "btree", Keys: []collector.IndexKey{{Column: "queue"}}, Include: []string{"note"}}
	e := &entry{c: covering}
	e.setWrites(indexWrites(covering, &cat.Tables[0], writes, cat, 1))
	if len(e.writes) != 3 || e.writes[2].QueryID != "note" || !reflect.DeepEqual(e.writes[2].BreaksHOT, []string{"note"}) || round3(e.writes[2].EntriesPerCall) != 2.8 {
		t.Errorf("index including note: got %+v, want the note UPDATE breaking HOT at 2.8 entries per call", e.writes)
	}
	if got := round3(e.writeCost); got != 800+200+560 {
		t.Errorf("total write cost %v, want 1560", got)
	}
	// So does an index on a stored generated column computed from note.
	generated := *cat
	generated.Tables = []collector.Table{cat.Tables[0]}
	generated.Tables[0].Columns = append(slices.Clone(cat.Tables[0].Columns), collector.Column{Name: "note_length", GeneratedFrom: []string{"note"}})
	ws := indexWrites(btree("public.jobs", "note_length"), &generated.Tables[0], writes, &generated, 1)
	if len(ws) != 3 || !reflect.DeepEqual(ws[2].BreaksHOT, []string{"note"}) || round3(ws[2].EntriesPerCall) != 2.8 {
		t.Errorf("index on a column generated from note: got %+v, want the note UPDATE breaking HOT", ws)
	}
	// A partial index holding a tenth of the rows gets a tenth of the entries.
	e.setWrites(indexWrites(covering, &cat.Tables[0], writes, cat, 0.1))
	if got := round3(e.writeCost); got != 156 {
		t.Errorf("partial index with a tenth of the rows: write cost %v, want 156", got)
	}
	// Without updates to judge by, an UPDATE of an unindexed column is HOT.
	noStats := *cat
	noStats.Tables = []collector.Table{cat.Tables[0]}
	noStats.Tables[0].NTupUpd, noStats.Tables[0].NTupHotUpd = 0, 0
	for _, iw := range indexWrites(btree("public.jobs", "run_at"), &noStats.Tables[0], writes, &noStats, 1) {
		if iw.QueryID == "note" {
			t.Errorf("without update statistics the UPDATE of note adds entries: %+v", iw)
		}
	}
}

// Rows written to a partition reach an index on its partitioned parent,
// which is on every partition; not one on another table.
func TestIndexWritesThroughPartitions(t *testing.T) {
	cat := &collector.Catalog{Tables: []collector.Table{
		{Schema: "public", Name: "m", Kind: "p", Partitions: []string{"public.m_2026"}, Columns: []collector.Column{{Name: "device_id", Type: "integer"}}},
		{Schema: "public", Name: "m_2026", Kind: "p", Parent: "public.m", Partitions: []string{"public.m_2026_b"}, Columns: []collector.Column{{Name: "device_id", Type: "integer"}}},
		{Schema: "public", Name: "m_2026_b", Kind: "r", Parent: "public.m_2026", Columns: []collector.Column{{Name: "device_id", Type: "integer"}}},
		{Schema: "public", Name: "other", Kind: "r", Columns: []collector.Column{{Name: "device_id", Type: "integer"}}},
	}}
	writes := []Write{
		{QueryID: "leaf", Table: "public.m_2026_b", Kind: "INSERT", Calls: 10, Rows: 10},
		{QueryID: "other", Table: "public.other", Kind: "INSERT", Calls: 10, Rows: 10},
	}
	c := btree("public.m", "device_id")
	got := indexWrites(c, &cat.Tables[0], writes, cat, 1)
	if len(got) != 1 || got[0].QueryID != "leaf" {
		t.Errorf("writes maintaining an index on the parent: %+v, want the insert into its partition only", got)
	}
}

func TestWriteOverhead(t *testing.T) {
	cat := jobsCatalog()
	writes := []Write{{QueryID: "u1", Table: "public.jobs", Kind: "UPDATE", Columns: []string{"queue", "run_at"}, Calls: 5, Rows: 5}}
	c := Candidate{Table: "public.jobs", Method: "btree", Keys: []collector.IndexKey{{Column: "queue"}}, Where: "note IS NULL"}
	e := &entry{c: c, table: &cat.Tables[0]}
	e.setWrites(indexWrites(c, &cat.Tables[0], writes, cat, 1))
	want := "maintained by 1 write statement of the window (planner cost 56); breaks HOT updates on queue (statement u1); 90% of the 1000 updates on public.jobs are HOT now"
	if got := writeOverhead(e); got != want {
		t.Errorf("write overhead:\n got %q\nwant %q", got, want)
	}
	e.setWrites(nil)
	want = "90% of the 1000 updates on public.jobs are HOT now; they stay HOT only if they do not change queue, note"
	if got := writeOverhead(e); got != want {
		t.Errorf("without UPDATE statements:\n got %q\nwant %q", got, want)
	}
}

// TestSelectWeighsWriteCost: an index whose upkeep costs the window's
// writes more than it saves the reads is not recommended; one that saves
// more carries its write cost as evidence.
func TestSelectWeighsWriteCost(t *testing.T) {
	conn := testDB(t, "select_write_cost", limitsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{stmt("t2x", "SELECT * FROM t2 WHERE x = $1", 10, "public.t2", "5")}
	cands := []Candidate{btree("public.t2", "x")}
	few := []Write{{QueryID: "ins", Table: "public.t2", Kind: "INSERT", Calls: 10, Rows: 10}}
	recs, err := Select(context.Background(), w, cat, cands, stmts, few, SelectOptions{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || recs[0].WriteCost != 10*entryCost(cat) || len(recs[0].Writes) != 1 || recs[0].Writes[0].QueryID != "ins" {
		t.Fatalf("a few inserts: want the index with their cost as evidence, got:\n%s", describeRecs(recs))
	}
	gain := recs[0].CostBefore - recs[0].CostAfter
	many := []Write{{QueryID: "ins", Table: "public.t2", Kind: "INSERT", Calls: 1000, Rows: 2 * gain / entryCost(cat)}}
	recs, err = Select(context.Background(), w, cat, cands, stmts, many, SelectOptions{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 0 {
		t.Errorf("inserts costing twice the gain: want no index, got:\n%s", describeRecs(recs))
	}
}

// An index picked first, whose statements a later pick takes over, is
// dropped once what it still gains no longer pays for its writes: (x) is
// picked before (y) for its gain per byte, then (y) serves x = $1 AND
// y = $2 too, and x = $1 alone saves less than the updates of x cost.
func TestSelectDropsIndexesThatStopPaying(t *testing.T) {
	conn := testDB(t, "select_unpaid",
		`CREATE TABLE wt (x int, y text, pad text)`,
		`INSERT INTO wt SELECT g % 500, md5(g::text) || md5((g + 1)::text), repeat('p', 100) FROM generate_series(1, 50000) g`,
		`ANALYZE wt`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("q_xy", "SELECT * FROM wt WHERE x = $1 AND y = $2", 1000, "public.wt", "7", "abc"),
		stmt("q_x", "SELECT * FROM wt WHERE x = $1", 200, "public.wt", "7"),
		stmt("q_y", "SELECT * FROM wt WHERE y = $1", 500, "public.wt", "abc"),
	}
	cands := []Candidate{btree("public.wt", "x"), btree("public.wt", "y")}
	writes := []Write{{QueryID: "upd", Table: "public.wt", Kind: "UPDATE", Columns: []string{"x"}, Calls: 200000, Rows: 200000}}
	recs, err := Select(context.Background(), w, cat, cands, stmts, writes, SelectOptions{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 1 || !slices.Equal(recs[0].Columns, []string{"y"}) {
		t.Errorf("want (y) alone, got:\n%s", describeRecs(recs))
	}
}

func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// TestGINWriteCostCountsKeys: a row costs a GIN index its keys, as many as
// the opclass extracts from the columns' average width, besides the append.
func TestGINWriteCostCountsKeys(t *testing.T) {
	cat := &collector.Catalog{
		Database: "db",
		Settings: collector.PlanSettings{RandomPageCost: 4},
		Tables: []collector.Table{{Schema: "public", Name: "docs", Kind: "r", Columns: []collector.Column{
			{Name: "id", Type: "bigint"},
			{Name: "title", Type: "text", Stats: &collector.ColumnStats{AvgWidth: 40}},
			{Name: "body", Type: "text", Stats: &collector.ColumnStats{AvgWidth: 160}},
			{Name: "payload", Type: "jsonb", Stats: &collector.ColumnStats{AvgWidth: 66}},
			{Name: "tags", Type: "text[]"},
			{Name: "content", Type: "text", Stats: &collector.ColumnStats{AvgWidth: 80}}, // a keyword
		}}},
		Indexes: []collector.Index{{Schema: "public", Name: "docs_pkey", Table: "public.docs", Method: "btree", Keys: []collector.IndexKey{{Column: "id"}}, Primary: true}},
	}
	table := &cat.Tables[0]
	gin := func(k collector.IndexKey) Candidate {
		return Candidate{Table: "public.docs", Method: "gin", Keys: []collector.IndexKey{k}}
	}
	inserts := []Write{{QueryID: "ins", Table: "public.docs", Kind: "INSERT", Calls: 10, Rows: 20}}
	for _, tc := range []struct {
		name string
		c    Candidate
		keys float64
	}{
		{"btree", btree("public.docs", "title"), 0},
		{"full text over title and body", gin(collector.IndexKey{Expression: "to_tsvector('english'::regconfig, title || ' '::text || body)"}), 200.0 / 8},
		{"jsonb_path_ops", gin(collector.IndexKey{Column: "payload", OpClass: "jsonb_path_ops"}), 3},
		{"jsonb_ops", gin(collector.IndexKey{Column: "payload"}), 6},
		{"trigrams", gin(collector.IndexKey{Column: "title", OpClass: "gin_trgm_ops"}), 40},
		{"array without statistics", gin(collector.IndexKey{Column: "tags"}), 4},
		{"full text over a column named by a keyword", gin(collector.IndexKey{Expression: "to_tsvector('english'::regconfig, content)"}), 10},
	} {
		got := indexWrites(tc.c, table, inserts, cat, 1)
		want := 20 * 4 * (1 + ginKeyCost*tc.keys)
		if len(got) != 1 || got[0].EntriesPerCall != 2 || round3(got[0].Cost) != round3(want) {
			t.Errorf("%s: got %+v, want 2 entries a call costing %.1f", tc.name, got, want)
		}
	}
}

// A MERGE adds entries as its actions do: one that can insert as an
// INSERT, one that only updates as an UPDATE, one that only deletes none.
func TestIndexWritesOfMerge(t *testing.T) {
	cat := jobsCatalog()
	writes := []Write{
		{QueryID: "upsert", Table: "public.jobs", Kind: "MERGE", Actions: []string{"UPDATE", "INSERT"}, Columns: []string{"note"}, Calls: 10, Rows: 20},
		{QueryID: "delete", Table: "public.jobs", Kind: "MERGE", Actions: []string{"DELETE"}, Calls: 10, Rows: 20},
		{QueryID: "update", Table: "public.jobs", Kind: "MERGE", Actions: []string{"UPDATE"}, Columns: []string{"state"}, Calls: 10, Rows: 10},
	}
	got := indexWrites(btree("public.jobs", "run_at"), &cat.Tables[0], writes, cat, 1)
	want := []IndexWrite{
		{QueryID: "upsert", Kind: "MERGE", Calls: 10, EntriesPerCall: 2, Cost: 10 * 2 * 4},
		{QueryID: "update", Kind: "MERGE", Calls: 10, EntriesPerCall: 1, Cost: 10 * 4},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("index on run_at:\n got %+v\nwant %+v", got, want)
	}
}
