package exporter

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"html"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/render")

// hostileQuery tries to break out of the HTML report's markup.
const hostileQuery = `SELECT '</script><script>alert(1)</script>' AS x, '<img src=x onerror=alert(2)>' FROM t WHERE a = $1`

func readPlan(t testing.TB, name string) *explain.Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "render", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := explain.ParsePlan(data)
	if err != nil {
		t.Fatalf("parse %s: %v", name, err)
	}
	return p
}

// fixtureReport is a report as one analysis cycle of a multi-tenant
// database could produce it: four statements explained three different
// ways, plan and schema findings of every severity, three recommendations
// (one not validated) and two warnings.
func fixtureReport(t testing.TB) *advisor.Report {
	t.Helper()
	from := time.Date(2025, 1, 15, 9, 0, 0, 0, time.UTC)
	return &advisor.Report{
		SchemaVersion: advisor.SchemaVersion,
		GeneratedAt:   from.Add(time.Hour + 12*time.Second),
		Target:        "prod-orders",
		Window:        advisor.ReportWindow{From: from, To: from.Add(time.Hour)},
		Statements: []advisor.Statement{
			{
				QueryID:  "-2814613284823340915",
				Database: "exams",
				User:     "app",
				Query: "SELECT rel_users_exams.user_username, rel_users_exams.exam_id, answer_1.id, answer_1.text,\n" +
					"       question_1.id, question_1.title, exam_1.title\n" +
					"FROM rel_users_exams\n" +
					"LEFT JOIN exam AS exam_1 ON exam_1.id = rel_users_exams.exam_id\n" +
					"LEFT JOIN question AS question_1 ON exam_1.id = question_1.exam_id\n" +
					"LEFT JOIN answer AS answer_1 ON question_1.id = answer_1.question_id\n" +
					"WHERE rel_users_exams.user_username = $1 AND rel_users_exams.exam_id = $2\n" +
					"ORDER BY question_1.id",
				Calls:           18240,
				TotalExecTimeMS: 113961.6,
				MeanExecTimeMS:  6.248,
				Rows:            6183360,
				SharedBlksRead:  1204,
				WorkloadShare:   0.3821,
				Explain: advisor.ExplainInfo{
					Mode: "analyze", Reason: "read-only SELECT on a replica", Params: []string{"'nicolas1'", "1"}, Outcome: "ok",
				},
				Plan: readPlan(t, "pev2-02-three-joins-missing-index.json"),
			},
			{
				QueryID:         "5021884411723319021",
				Database:        "shop",
				User:            "api",
				Query:           "SELECT o.id, o.total, o.created_at FROM orders o WHERE o.tenant_id = $1 AND o.status = $2 ORDER BY o.created_at DESC LIMIT 50",
				Calls:           96310,
				TotalExecTimeMS: 80561.2,
				MeanExecTimeMS:  0.8365,
				Rows:            4815500,
				SharedBlksRead:  88120,
				WorkloadShare:   0.2701,
				Explain: advisor.ExplainInfo{
					Mode: "generic", Reason: "no value could be synthesized for $2: orders.status has no statistics (run ANALYZE orders)", Outcome: "ok",
				},
				Plan: readPlan(t, "orders-by-tenant-generic.json"),
			},
			{
				QueryID:         "88412093377104",
				Database:        "shop",
				User:            "api",
				Query:           "SELECT u.id, u.first_name || ' ' || u.last_name AS name FROM users u WHERE lower(u.email) = $1",
				Calls:           40112,
				TotalExecTimeMS: 35698.4,
				MeanExecTimeMS:  0.89,
				Rows:            40112,
				WorkloadShare:   0.1197,
				Explain: advisor.ExplainInfo{
					Mode: "none", Reason: "EXPLAIN ANALYZE exceeded statement_timeout (5s)", Outcome: "timeout",
					Error: "canceling statement due to statement timeout",
				},
			},
			{
				QueryID:  "-771923004512",
				Database: "dell",
				User:     "reporting",
				Query: "SELECT c.state, cat.categoryname, sum(o.netamount), sum(o.totalamount)\n" +
					"FROM customers c JOIN cust_hist ch ON c.customerid = ch.customerid\n" +
					"JOIN orders o ON ch.orderid = o.orderid JOIN orderlines ol ON ol.orderid = o.orderid\n" +
					"JOIN products p ON ol.prod_id = p.prod_id JOIN categories cat ON p.category = cat.category\n" +
					"GROUP BY c.state, cat.categoryname ORDER BY c.state, sum(o.totalamount) DESC LIMIT $1 OFFSET $2",
				Calls:           24,
				TotalExecTimeMS: 17443.2,
				MeanExecTimeMS:  726.8,
				Rows:            240,
				SharedBlksRead:  33408,
				WorkloadShare:   0.0585,
				Explain: advisor.ExplainInfo{Mode: "analyze", Params: []string{"10", "1"}, Outcome: "ok", Values: "typical",
					Reason: "analyzed with typical values: the calls read 1392 buffers each on average, a run with the most common values 20, this one 1250"},
				Plan: readPlan(t, "pev2-05-aggregate-four-joins.json"),
			},
		},
		Findings: []explain.Finding{
			{
				Kind: "fk_without_index", Severity: explain.Critical, Table: "public.question",
				Detail: "Foreign key question_exam_id_fkey (exam_id) references public.exam but no index starts with exam_id: every join or cascade scans 2,700 rows of question.",
				Fix:    "CREATE INDEX CONCURRENTLY ON public.question (exam_id);",
			},
			{
				Kind: "seq_scan", Severity: explain.Warning, QueryID: "-2814613284823340915",
				Node: "0.0.1.1.0 Seq Scan on public.question question_1", Table: "public.question",
				Detail:   "Seq Scan on public.question question_1 read 2,700 rows and its filter discarded 2,637 of them (97.7%) to return 63, taking 0.98 ms (15.7% of the statement).",
				Evidence: map[string]any{"rows_read": 2700, "rows_removed": 2637, "removed_ratio": 0.9767},
				Fix:      "CREATE INDEX ON public.question (exam_id);",
			},
			{
				Kind: "misestimate", Severity: explain.Info, QueryID: "-771923004512",
				Node:   "0.0.0.0 Hash Join",
				Detail: "Hash Join estimated 325,176 rows and produced 383,270 (1.2x more), feeding a HashAggregate that took 370 ms (50.9% of the statement).",
				Fix:    "ANALYZE public.cust_hist, public.orderlines;",
			},
			{
				Kind: "low_cache_hit", Severity: explain.Info,
				Detail: "The window's statements found 97.1% of the blocks they needed in shared_buffers (128 MB).",
				Fix:    "If the server has memory to spare, raise shared_buffers.",
			},
			{
				Kind: "unused_index", Severity: explain.Info, Table: "public.orders",
				Detail: "Index orders_status_idx (16 MB) had no scans in 30 days and slows every write to orders.",
				Fix:    "DROP INDEX CONCURRENTLY public.orders_status_idx;",
			},
			{
				Kind: "seq_scan", Severity: explain.Warning, QueryID: "5021884411723319021",
				Node:   "0.0.0 Seq Scan on public.orders o",
				Detail: "The generic plan reads all of public.orders (estimated 2,200 matching rows) for a query that runs 96,310 times in the window.",
				Fix:    "See recommendation 2: an index on (tenant_id, status, created_at DESC) serves both the filter and the ORDER BY.",
			},
		},
		Recommendations: []advisor.Recommendation{
			{
				ID: "5c3f1e0a9b7d2c41", Database: "exams", Table: "public.question", Method: "btree",
				Columns:            []string{"exam_id"},
				DDL:                "CREATE INDEX CONCURRENTLY question_exam_id_idx ON public.question USING btree (exam_id);",
				EstimatedSizeBytes: 229376,
				CostBefore:         11416051.2, CostAfter: 1718208,
				ImprovementPct: 84.95, TimeSavedMS: 30326.2,
				QueryIDs:   []string{"-2814613284823340915"},
				Statements: []advisor.StatementGain{{QueryID: "-2814613284823340915", Calls: 18240, CostBefore: 625.88, CostAfter: 94.2}},
				Reason:     "equality on exam_id (join to exam and filter exam_id = $2)",
				Validated:  true,
				VerifySQL:  "SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'public.question_exam_id_idx'::regclass;",
			},
			{
				ID: "a17be0c42d9f6e13", Database: "shop", Table: "public.orders", Method: "btree",
				Columns:            []string{"tenant_id", "status", "created_at DESC"},
				Include:            []string{"total"},
				DDL:                "CREATE INDEX CONCURRENTLY orders_tenant_id_status_created_at_idx\n    ON public.orders USING btree (tenant_id, status, created_at DESC) INCLUDE (total);",
				EstimatedSizeBytes: 91750400,
				CostBefore:         4643209961, CostAfter: 17623804,
				ImprovementPct: 99.62, TimeSavedMS: 113528.6,
				QueryIDs:      []string{"5021884411723319021"},
				Statements:    []advisor.StatementGain{{QueryID: "5021884411723319021", Calls: 96310, CostBefore: 48211.5, CostAfter: 182.99}},
				Reason:        "equality on tenant_id and status, order by created_at desc, covering total",
				Validated:     true,
				WriteOverhead: "breaks HOT updates on status (updated 1,204 times in the window)",
				VerifySQL:     "SELECT indisvalid, indisready FROM pg_index WHERE indexrelid = 'public.orders_tenant_id_status_created_at_idx'::regclass;\nEXPLAIN SELECT o.id FROM orders o WHERE o.tenant_id = 1 AND o.status = 'open' ORDER BY o.created_at DESC LIMIT 50;",
			},
			{
				ID: "0d4c88e1f5a2b937", Database: "shop", Table: "public.users", Method: "btree",
				Columns:            []string{"lower(email)"},
				DDL:                "CREATE INDEX CONCURRENTLY users_lower_email_idx ON public.users USING btree (lower(email));",
				EstimatedSizeBytes: 3355443,
				// Not costed: "after" repeats "before", as Select leaves it.
				CostBefore: 74006640, CostAfter: 74006640,
				QueryIDs: []string{"88412093377104", "4400"},
				Statements: []advisor.StatementGain{
					{QueryID: "88412093377104", Calls: 40112, CostBefore: 1845, CostAfter: 1845},
					{QueryID: "4400", Calls: 12, CostBefore: 0, CostAfter: 0},
				},
				Reason:         "Equality on lower(email), for 2 statements (40,124 calls in the window); the gain was not costed.",
				Validated:      false,
				ValidationNote: "no EXPLAIN target connection: the candidates were not costed",
				VerifySQL:      "SELECT indisvalid FROM pg_index WHERE indexrelid = 'public.users_lower_email_idx'::regclass;",
			},
		},
		Warnings: []string{
			"pg_stat_statements.max (5000) was reached: 312 statements were evicted during the window, so rarely run statements may be missing; raise pg_stat_statements.max.",
			"track_io_timing is off: plans carry no I/O times; set track_io_timing = on.",
		},
	}
}

func render(t *testing.T, r *advisor.Report, format string) string {
	t.Helper()
	var buf bytes.Buffer
	if err := Render(&buf, r, format); err != nil {
		t.Fatalf("Render(%s): %v", format, err)
	}
	return buf.String()
}

func TestRenderGolden(t *testing.T) {
	for _, tc := range []struct{ format, file string }{
		{"text", "report.txt"},
		{"markdown", "report.md"},
	} {
		t.Run(tc.format, func(t *testing.T) {
			got := render(t, fixtureReport(t), tc.format)
			path := filepath.Join("testdata", "render", tc.file)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("%s report differs from %s (run go test -update and review the diff):\n%s", tc.format, path, firstDiff(string(want), got))
			}
			if again := render(t, fixtureReport(t), tc.format); again != got {
				t.Errorf("%s report is not deterministic", tc.format)
			}
		})
	}
}

func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := range max(len(wl), len(gl)) {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\n want: " + w + "\n  got: " + g
		}
	}
	return "(no line differs)"
}

func TestTextFitsTheTerminal(t *testing.T) {
	r := fixtureReport(t)
	// SQL is printed as is, for copying; everything else fits.
	sql := map[string]bool{}
	for _, rec := range r.Recommendations {
		for _, l := range strings.Split(rec.DDL+"\n"+rec.VerifySQL, "\n") {
			sql[strings.TrimSpace(l)] = true
		}
	}
	for i, line := range strings.Split(render(t, r, "text"), "\n") {
		if n := len([]rune(line)); n > textWidth && !sql[strings.TrimSpace(line)] {
			t.Errorf("line %d is %d columns wide: %q", i+1, n, line)
		}
	}
}

func TestRenderSummary(t *testing.T) {
	// 0.3821*(1-94.2/625.88) + 0.2701*(1-182.99/48211.5) = 0.5940; the third index is not costed
	want := "4 statements, 6 findings, 3 recommendations, estimated workload cost reduction 59.4%"
	if out := render(t, fixtureReport(t), "text"); !strings.Contains(out, "\n"+want+"\n") {
		t.Errorf("text report lacks the summary line %q:\n%s", want, out)
	}
}

func TestWorkloadReduction(t *testing.T) {
	r := &advisor.Report{
		Statements: []advisor.Statement{
			{QueryID: "a", WorkloadShare: 0.5},
			{QueryID: "b", WorkloadShare: 0.3},
			{QueryID: "c", WorkloadShare: 0.2},
		},
		Recommendations: []advisor.Recommendation{
			{Validated: true, Statements: []advisor.StatementGain{{QueryID: "a", CostBefore: 100, CostAfter: 50}}},
			// The better index for a counts, not both.
			{Validated: true, Statements: []advisor.StatementGain{{QueryID: "a", CostBefore: 100, CostAfter: 10}, {QueryID: "b", CostBefore: 10, CostAfter: 5}}},
			// Unknown statements and unusable costs are ignored.
			{Validated: true, Statements: []advisor.StatementGain{{QueryID: "zz", CostBefore: 100, CostAfter: 1}, {QueryID: "c", CostBefore: 0, CostAfter: 5}}},
		},
	}
	uncosted := advisor.Recommendation{Statements: []advisor.StatementGain{{QueryID: "c", CostBefore: 100, CostAfter: 100}}}
	got, ok := workloadReduction(r)
	if want := 0.5*0.9 + 0.3*0.5; !ok || abs(got-want) > 1e-9 {
		t.Errorf("workloadReduction = %v, %v; want %v, true", got, ok, want)
	}
	if _, ok := workloadReduction(&advisor.Report{Statements: r.Statements}); ok {
		t.Error("workloadReduction without recommendations reports a reduction")
	}
	// An index that was not costed has no reduction to report, not 0%.
	if _, ok := workloadReduction(&advisor.Report{Statements: r.Statements, Recommendations: []advisor.Recommendation{uncosted}}); ok {
		t.Error("workloadReduction with only an uncosted recommendation reports a reduction")
	}
	// One costed with stand-ins counts.
	standIn := advisor.Recommendation{StandIn: true, Statements: []advisor.StatementGain{{QueryID: "c", CostBefore: 100, CostAfter: 20}}}
	if got, ok := workloadReduction(&advisor.Report{Statements: r.Statements, Recommendations: []advisor.Recommendation{standIn}}); !ok || abs(got-0.2*0.8) > 1e-9 {
		t.Errorf("workloadReduction with a stand-in costed index = %v, %v; want %v, true", got, ok, 0.2*0.8)
	}
}

func abs(x float64) float64 { return max(x, -x) }

// Two indexes that serve one statement together: each one's evidence
// names the other, by its number in the report, and so does its headline,
// whose drop is both indexes'.
func TestRenderNamesSharedEvidence(t *testing.T) {
	gain := func(with string) []advisor.StatementGain {
		return []advisor.StatementGain{{QueryID: "77", Calls: 154, CostBefore: 7393.9, CostAfter: 977, With: []string{with}, CostWithout: 1540.2}}
	}
	r := &advisor.Report{
		Statements: []advisor.Statement{{QueryID: "77", Query: "SELECT t.id FROM task_labels tl JOIN tasks t ON t.id = tl.task_id WHERE tl.label_id = $1"}},
		Recommendations: []advisor.Recommendation{
			{ID: "aaaa", Table: "public.task_labels", Method: "btree", Columns: []string{"label_id"}, Validated: true, QueryIDs: []string{"77"}, Statements: gain("bbbb"),
				DDL: "CREATE INDEX CONCURRENTLY task_labels_label_id_idx ON public.task_labels USING btree (label_id);"},
			{ID: "bbbb", Table: "public.tasks", Method: "btree", Columns: []string{"id"}, Include: []string{"title"}, Validated: true, QueryIDs: []string{"77"}, Statements: gain("aaaa"),
				DDL: "CREATE INDEX CONCURRENTLY tasks_id_idx ON public.tasks USING btree (id) INCLUDE (title);"},
		},
	}
	for format, want := range map[string][]string{
		"text": {"(-86.8%, with index 2; 1,540.2 without this one)", "(-86.8%, with index 1; 1,540.2 without this one)",
			"for the statements it serves, together with index 2 "},
		"markdown": {"| -86.8% with index 2; 1,540.2 without this one |", "| -86.8% with index 1; 1,540.2 without this one |",
			"less planner cost, together with index 1\n"},
		"html": {`with index <a href="#rec-2">2</a>; 1,540.2 without this one`, `with index <a href="#rec-1">1</a>; 1,540.2 without this one`},
	} {
		out := render(t, r, format)
		for _, w := range want {
			if !strings.Contains(out, w) && !strings.Contains(strings.Join(strings.Fields(out), " "), w) { // text wraps lines
				t.Errorf("%s: no %q in:\n%s", format, w, out)
			}
		}
	}
	if out := render(t, r, "json"); !strings.Contains(out, `"with": [`) || !strings.Contains(out, `"cost_without_it": 1540.2`) {
		t.Errorf("json: no with list in:\n%s", out)
	}
}

// A finding that names statements by queryid (low_cache_hit's top
// readers) also names them as the report numbers them: the text and
// Markdown reports show no queryids.
func TestRenderNamesStatementsOfADetail(t *testing.T) {
	r := &advisor.Report{
		Statements: []advisor.Statement{{QueryID: "77", Query: "SELECT 1"}},
		Findings: []explain.Finding{{Kind: "low_cache_hit", Severity: explain.Warning,
			Detail: "those that read the most: queryid 77 (54%), queryid -5 (46%)."}},
	}
	for format, want := range map[string]string{
		"text":     "those that read the most: #1 (queryid 77) (54%), queryid -5 (46%).",
		"markdown": "those that read the most: statement 1 (queryid 77) (54%), queryid -5 (46%).",
	} {
		if out := render(t, r, format); !strings.Contains(out, want) {
			t.Errorf("%s: no %q in:\n%s", format, want, out)
		}
	}
}

func TestRenderUnknownFormat(t *testing.T) {
	var buf bytes.Buffer
	err := Render(&buf, fixtureReport(t), "pdf")
	if err == nil || !strings.Contains(err.Error(), `"pdf"`) || !strings.Contains(err.Error(), "text, markdown, json, html") {
		t.Errorf("Render(pdf) error = %v, want one naming the format and the choices", err)
	}
	if buf.Len() != 0 {
		t.Errorf("Render(pdf) wrote %d bytes", buf.Len())
	}
	if err := Render(&buf, nil, "text"); err == nil {
		t.Error("Render(nil report) succeeded")
	}
	if got := Formats(); !reflect.DeepEqual(got, []string{"text", "markdown", "json", "html"}) {
		t.Errorf("Formats() = %v", got)
	}
}

func TestRenderEmptyReport(t *testing.T) {
	r := &advisor.Report{Target: "empty"}
	for _, f := range Formats() {
		out := render(t, r, f)
		if f != "json" && (!strings.Contains(out, "No index to recommend") || !strings.Contains(out, "No statements ran in the window.")) {
			t.Errorf("%s report of an empty report does not say there is nothing to recommend:\n%s", f, out)
		}
	}
	// With every text hidden from the role, statements did run.
	r.Warnings = []string{`pg_stat_statements shows role "weak" <insufficient privilege> instead of 170 statements of other roles; they are left out`}
	for _, f := range Formats() {
		if out := render(t, r, f); f != "json" && !strings.Contains(out, "No statement the advisor could read ran in the window: see the warnings.") {
			t.Errorf("%s report with statements hidden says none ran:\n%s", f, out)
		}
	}
}

func TestRenderJSONRoundTrip(t *testing.T) {
	r := fixtureReport(t)
	r.SchemaVersion = 0 // the renderer fills it in
	out := render(t, r, "json")
	if !strings.Contains(out, "\n  \"schema_version\": 1,\n") {
		t.Errorf("JSON report is not indented or lacks schema_version:\n%.300s", out)
	}
	var back advisor.Report
	if err := json.Unmarshal([]byte(out), &back); err != nil {
		t.Fatalf("JSON report does not decode: %v", err)
	}
	if back.SchemaVersion != advisor.SchemaVersion {
		t.Errorf("schema_version = %d, want %d", back.SchemaVersion, advisor.SchemaVersion)
	}
	want := fixtureReport(t)
	// Plans carry unexported links that JSON cannot; compare them apart.
	for i := range back.Statements {
		wp, gp := want.Statements[i].Plan, back.Statements[i].Plan
		want.Statements[i].Plan, back.Statements[i].Plan = nil, nil
		if (wp == nil) != (gp == nil) {
			t.Fatalf("statement %d: plan present %v, want %v", i, gp != nil, wp != nil)
		}
		if wp != nil && (gp.Root.Name() != wp.Root.Name() || gp.ExecutionTime != wp.ExecutionTime ||
			len(gp.Root.Plans) != len(wp.Root.Plans) || gp.Root.TotalCost != wp.Root.TotalCost) {
			t.Errorf("statement %d: plan changed in the round trip", i)
		}
	}
	// Evidence numbers come back as float64.
	for i := range want.Findings {
		want.Findings[i].Evidence, back.Findings[i].Evidence = nil, nil
	}
	if !reflect.DeepEqual(&back, want) {
		t.Errorf("report changed in the JSON round trip:\n got %+v\nwant %+v", back, *want)
	}
	// Encoding what was decoded gives the same document.
	var again advisor.Report
	if err := json.Unmarshal([]byte(out), &again); err != nil {
		t.Fatal(err)
	}
	if out2 := render(t, &again, "json"); out2 != out {
		t.Errorf("re-encoding the decoded report changes it:\n%s", firstDiff(out, out2))
	}
}

func TestRenderJSONError(t *testing.T) {
	r := fixtureReport(t)
	r.Recommendations[0].ImprovementPct = math.NaN()
	var buf bytes.Buffer
	err := Render(&buf, r, "json")
	if err == nil || !strings.Contains(err.Error(), "render json report") {
		t.Errorf("Render(json) with NaN error = %v, want a wrapped encoding error", err)
	}
	if buf.Len() != 0 {
		t.Errorf("a failed render wrote %d bytes", buf.Len())
	}
}

// A report read back from JSON has plans without paths; the HTML report
// still highlights the nodes its findings name.
func TestRenderHTMLFromDecodedJSON(t *testing.T) {
	var back advisor.Report
	if err := json.Unmarshal([]byte(render(t, fixtureReport(t), "json")), &back); err != nil {
		t.Fatal(err)
	}
	out := render(t, &back, "html")
	if !strings.Contains(out, `class="node flagged warning" id="node-1-0.0.1.1.0"`) {
		t.Errorf("HTML of a decoded report does not flag the seq scan of statement 1")
	}
}

func TestRenderHTMLEscapesHostileText(t *testing.T) {
	r := fixtureReport(t)
	r.Target = `<b>prod</b>`
	r.Statements[0].Query = hostileQuery
	r.Statements[0].Database = `"><script>alert(3)</script>`
	r.Findings[1].Detail = `</li><script>alert(4)</script>`
	r.Findings[1].Node = `0.0.1.1.0 "><svg onload=alert(5)>`
	r.Recommendations[0].DDL = `CREATE INDEX "</code></pre><script>alert(6)</script>" ON t (a);`
	r.Recommendations[0].ValidationNote = `<iframe src=javascript:alert(7)>`
	r.Warnings = append(r.Warnings, `<style>body{display:none}</style>`)
	r.Findings[0].Severity = `critical" onmouseover="alert(8)`
	out := render(t, r, "html")

	for _, bad := range []string{"alert(1)</script>", "<script>alert", "<svg", "<img", "<iframe", "<b>prod", "<style>body", `onmouseover="alert`} {
		if strings.Contains(out, bad) {
			t.Errorf("HTML report contains %q unescaped", bad)
		}
	}
	if n := strings.Count(out, "<script"); n != 1 {
		t.Errorf("HTML report has %d <script elements, want only its own", n)
	}
	if n := strings.Count(out, "<style"); n != 1 {
		t.Errorf("HTML report has %d <style elements, want only its own", n)
	}
	if !strings.Contains(out, "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Error("HTML report does not show the hostile query as text")
	}
}

func TestRenderHTMLStructure(t *testing.T) {
	out := render(t, fixtureReport(t), "html")
	for _, want := range []string{
		`<section id="recommendations">`,
		`<section id="statements">`,
		`<table class="data sortable" id="statements-table">`,
		// The seq scan finding of statement 1 flags its node in the plan tree.
		`<div class="node flagged warning" id="node-1-0.0.1.1.0">`,
		`<a class="node-ref" href="#node-1-0.0.1.1.0">`,
		`<div class="node flagged info" id="node-4-0.0.0.0">`,
		`<div class="node flagged warning" id="node-2-0.0.0">`,
		`<button type="button" class="copy" data-copy="ddl-2">Copy</button>`,
		"CREATE INDEX CONCURRENTLY question_exam_id_idx ON public.question USING btree (exam_id);",
		"navigator.clipboard",
		"59.4%",
		// The third index was not costed: no 0% gain, no "after" figures.
		`title="Change of planner cost over the statements it serves">not costed</span>`,
		`74,006,640 → not costed`,
		"<dt>Time saved</dt><dd>about 113.5 s of execution time over the window",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML report lacks %q", want)
		}
	}
	// Self-contained: nothing is loaded from elsewhere.
	for _, ext := range []string{"<link", "src=", "@import", "url(", "http://", "https://"} {
		if strings.Contains(out, ext) {
			t.Errorf("HTML report refers to an external resource (%q)", ext)
		}
	}
	// Only the nodes that findings name are flagged.
	if n := strings.Count(out, `class="node flagged`); n != 3 {
		t.Errorf("%d flagged plan nodes, want 3", n)
	}
	// The page's policy lets its one script run, by the hash of the script
	// as the page holds it, and no other.
	scripts := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindAllStringSubmatch(out, -1)
	sum := sha256.Sum256([]byte(scripts[0][1]))
	policy := "script-src 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "';"
	if len(scripts) != 1 || !strings.Contains(htmlPolicy(), policy) || strings.Contains(htmlPolicy(), "unsafe-inline'; base") {
		t.Errorf("%d scripts; policy %q, want %q in it and no inline script else", len(scripts), htmlPolicy(), policy)
	}
	if meta := `<meta http-equiv="Content-Security-Policy" content="` + html.EscapeString(htmlPolicy()) + `">`; !strings.Contains(out, meta) {
		t.Errorf("HTML report lacks %s", meta)
	}
}

func TestCleanNeutralizesTerminalControls(t *testing.T) {
	r := fixtureReport(t)
	r.Statements[0].Query = "SELECT 1 \x1b[2J\x1b]0;owned\x07 \u202eevil"
	r.Warnings = []string{"bad \xff byte"}
	for _, f := range []string{"text", "markdown", "html"} {
		out := render(t, r, f)
		if strings.ContainsAny(out, "\x1b\x07\u202e") || strings.Contains(out, "\xff") {
			t.Errorf("%s report passes terminal control characters through", f)
		}
		if !strings.Contains(out, `\x1b[2J`) {
			t.Errorf("%s report does not show the escape sequence as text", f)
		}
	}
}

func TestMarkdownEscaping(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"tenant_id = 1", "tenant_id = 1"},
		{"_x_ *y* a|b <b>", `\_x\_ \*y\* a\|b \<b\>`},
		{"[link](http://x)", "\\[link\\](http:\u2060//x)"},
		// GitHub's mentions, issue references and bare links, from a table
		// name in an error message: broken by an invisible word joiner.
		{`relation "@octocat see https://evil.example www.evil.com #12" does not exist`,
			"relation \"@\u2060octocat see https:\u2060//evil.example www\u2060.evil.com #\u206012\" does not exist"},
		{"a@ b# c: d", "a@ b# c: d"},
	} {
		if got := mdText(tc.in); got != tc.want {
			t.Errorf("mdText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"a || b", "`a \\|\\| b`"},
		{"x `y` z", "``x `y` z``"},
		{"`q`", "`` `q` ``"},
	} {
		if got := tableCode(tc.in); got != tc.want {
			t.Errorf("tableCode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestFormatting(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{humanize.Count(1234567), "1,234,567"},
		{humanize.Count(-1234), "-1,234"},
		{fmtNum(0.0421), "0.042"},
		{fmtNum(6.248), "6.25"},
		{fmtNum(625.88), "625.9"},
		{fmtNum(113961.6), "113,962"},
		{fmtDuration(time.Hour), "1h"},
		{fmtDuration(26*time.Hour + 30*time.Minute), "1d2h30m"},
		{fmtDuration(42 * time.Second), "42s"},
		{fmtChange(-0.849), "-84.9%"},
		{fmtChange(0.1), "+10.0%"},
		{abbreviate("abcdef", 4), "abc…"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestWrapLines(t *testing.T) {
	got := wrapLines("  * ", "    ", "aaa bbb ccc "+strings.Repeat("x", 25), 12)
	want := []string{"  * aaa bbb", "    ccc", "    xxxxxxxx", "    xxxxxxxx", "    xxxxxxxx", "    x"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("wrapLines = %q, want %q", got, want)
	}
}

// A partial index's predicate can compare with a literal that spans lines
// (from the statement's WHERE): the DDL every report shows must be the
// statement itself, or a copied script builds an index whose predicate
// the planner does not match. Indentation inside the literal changes it.
func TestRenderedDDLIsCopiedExactly(t *testing.T) {
	cat := &collector.Catalog{Database: "shop", Tables: []collector.Table{
		{Schema: "public", Name: "notes", Kind: "r"},
		// Foreign partitions: the predicate ends up inside a DO block.
		{Schema: "public", Name: "feeds", Kind: "p", Partitions: []string{"public.feeds_2025"}, ForeignPartitions: true},
		{Schema: "public", Name: "feeds_2025", Kind: "r", Parent: "public.feeds"},
	}}
	for _, table := range []string{"public.notes", "public.feeds"} {
		t.Run(table, func(t *testing.T) {
			c := advisor.Candidate{Table: table, Method: "btree", Keys: []collector.IndexKey{{Column: "id"}},
				Where: "note = 'first line \n   second line'"} // the space ends a line inside the literal
			s, err := advisor.IndexDDL(cat, c)
			if err != nil {
				t.Fatal(err)
			}
			r := fixtureReport(t)
			r.Recommendations = r.Recommendations[:1]
			r.Recommendations[0].Where, r.Recommendations[0].DDL, r.Recommendations[0].VerifySQL = c.Where, s.SQL(), s.Verify
			ddl := strings.TrimSpace(s.SQL())
			if out := render(t, r, "text"); !strings.Contains(out, "\n"+ddl+"\n") {
				t.Errorf("text report does not show the DDL as it is:\n%s", out)
			}
			if out := render(t, r, "markdown"); !strings.Contains(out, "```sql\n"+ddl+"\n```") {
				t.Errorf("markdown report does not show the DDL as it is:\n%s", out)
			}
			m := regexp.MustCompile(`(?s)<code class="sql" id="ddl-1">(.*?)</code>`).FindStringSubmatch(render(t, r, "html"))
			if m == nil || html.UnescapeString(m[1]) != s.SQL() {
				t.Errorf("HTML report's DDL (copied as its text) is not the statement: %q", m)
			}
		})
	}
}

// A fix of several lines keeps its line breaks, where a -- comment ends:
// joined, the comment would swallow the statements after it.
func TestRenderMultiLineFix(t *testing.T) {
	r := fixtureReport(t)
	r.Findings = []explain.Finding{{Kind: "timestamp_without_tz", Severity: explain.Info, Table: "sales.ord", Detail: "created_at is a timestamp without time zone",
		Fix: "SET TimeZone = 'UTC'; -- the zone the stored values are in; with UTC, PostgreSQL 12+ does not rewrite the table\nALTER TABLE sales.ord ALTER COLUMN created_at TYPE timestamptz;"}}
	if out := render(t, r, "text"); !strings.Contains(out, "\n      ALTER TABLE sales.ord ALTER COLUMN created_at TYPE timestamptz;\n") ||
		!strings.Contains(out, "does not rewrite the table\n") {
		t.Errorf("text report joins the fix's lines:\n%s", out)
	}
	if out := render(t, r, "markdown"); !strings.Contains(out, "does not rewrite the table`<br>`ALTER TABLE sales.ord") {
		t.Errorf("markdown report joins the fix's lines:\n%s", out)
	}
}

// Databases cloned from one template share queryids: a recommendation and
// a finding refer to the statement of their own database, and the report
// names each one's database.
func TestReportViewSharedQueryID(t *testing.T) {
	r := &advisor.Report{
		Statements: []advisor.Statement{{QueryID: "7", Database: "app3"}, {QueryID: "7", Database: "app"}},
		Findings:   []explain.Finding{{Kind: "seq_scan", QueryID: "7", Database: "app", Node: "0 Seq Scan"}},
		Recommendations: []advisor.Recommendation{{Database: "app", Table: "public.orders", Columns: []string{"qty"},
			Statements: []advisor.StatementGain{{QueryID: "7"}}}},
	}
	v := newReportView(r)
	if got := v.Recs[0].Served[0].Rank; got != 2 {
		t.Errorf("the recommendation in app serves statement #%d, want #2 (app's)", got)
	}
	if f := v.Findings[0]; f.Rank != 2 || len(v.Statements[1].Findings) != 1 || len(v.Statements[0].Findings) != 0 {
		t.Errorf("the finding in app: rank %d, want 2, and listed under app's statement only", f.Rank)
	}
	if got := v.Recs[0].target(); got != "public.orders (qty) in database app" {
		t.Errorf("target %q: want the database named", got)
	}
	if got := v.Findings[0].where(); !strings.HasPrefix(got, "database app #2") {
		t.Errorf("where %q: want the database named", got)
	}
}
