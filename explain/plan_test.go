package explain

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func loadPlan(t *testing.T, name string) *Plan {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "plans", name))
	if err != nil {
		t.Fatal(err)
	}
	p, err := ParsePlan(data)
	if err != nil {
		t.Fatalf("ParsePlan(%s): %v", name, err)
	}
	return p
}

func mustParse(t *testing.T, js string) *Plan {
	t.Helper()
	p, err := ParsePlan([]byte(js))
	if err != nil {
		t.Fatalf("ParsePlan: %v\n%s", err, js)
	}
	return p
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-6*math.Max(1, math.Abs(b)) }

func TestParsePublicPlans(t *testing.T) {
	tests := []struct {
		file      string
		nodes     int
		execution float64
		label     map[string]string // path -> Label
	}{
		{"pev2-02-three-joins-missing-index.json", 9, 6.248, map[string]string{
			"0":         "0 Sort",
			"0.0.1.1.0": "0.0.1.1.0 Seq Scan on public.question question_1",
		}},
		{"pev2-05-aggregate-four-joins.json", 19, 726.8, map[string]string{"0.0": "0.0 Sort"}},
		{"pev2-many-ctes.json", 49, 14.391, map[string]string{
			"0.1.0.0.0.1": "0.1.0.0.0.1 Index Scan using index_spree_option_values_variants_on_variant_id on public.spree_option_values_variants sov_sv",
			"0.4.0":       "0.4.0 CTE Scan on variants_min_prices",
		}},
		{"pev2-parallel-verbose.json", 4, 486.495, map[string]string{
			"0.0.0":   "0.0.0 Partial Aggregate",
			"0.0.0.0": "0.0.0.0 Parallel Seq Scan on public.lineitem",
		}},
		{"pg_flame-docs-cte.json", 45, 756.376, map[string]string{"0.3.1": "0.3.1 Index Scan using users_pkey on users u_1"}},
		{"pg_flame-docs-plan.json", 6, 48.942, map[string]string{"0.0": "0.0 HashAggregate"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := loadPlan(t, tt.file)
			if !p.Analyzed() {
				t.Error("Analyzed() = false")
			}
			if p.ExecutionTime != tt.execution || p.TotalTime() != tt.execution {
				t.Errorf("ExecutionTime = %v, TotalTime = %v, want %v", p.ExecutionTime, p.TotalTime(), tt.execution)
			}
			count, prev := 0, -1
			p.Walk(func(path string, n *Node) bool {
				count++
				if n.Path() != path || p.Node(path) != n {
					t.Errorf("path %q: Node(path) does not find the node", path)
				}
				if n.order <= prev {
					t.Errorf("path %q visited out of pre-order", path)
				}
				prev = n.order
				for i, c := range n.Plans {
					if c.Parent() != n || c.Path() != path+"."+strconv.Itoa(i) {
						t.Errorf("child %d of %s: parent or path wrong (%q)", i, path, c.Path())
					}
				}
				return true
			})
			if count != tt.nodes {
				t.Errorf("Walk visited %d nodes, want %d", count, tt.nodes)
			}
			for path, want := range tt.label {
				if n := p.Node(path); n == nil || n.Label() != want {
					t.Errorf("Node(%q).Label() = %v, want %q", path, n, want)
				}
			}
		})
	}
}

func TestPerLoopAndParallelSemantics(t *testing.T) {
	par := loadPlan(t, "pev2-parallel-verbose.json")
	gather, partial, scan := par.Node("0.0"), par.Node("0.0.0"), par.Node("0.0.0.0")
	if gather.Participants() != 1 || partial.Participants() != 3 || scan.Participants() != 3 {
		t.Errorf("participants gather/partial/scan = %v/%v/%v, want 1/3/3 (leader + 2 launched workers)",
			gather.Participants(), partial.Participants(), scan.Participants())
	}
	// Rows are per-loop averages over the leader and the workers.
	if got := scan.TotalActualRows(); got != 1962085*3 {
		t.Errorf("scan TotalActualRows = %v, want %v", got, 1962085*3)
	}
	if got := scan.TotalRowsRemovedByFilter(); got != 38320*3 {
		t.Errorf("scan TotalRowsRemovedByFilter = %v, want %v", got, 38320*3)
	}
	// Participants run concurrently: their time is not added up.
	if got := scan.InclusiveTime(); !near(got, 344.447) {
		t.Errorf("scan InclusiveTime = %v, want 344.447", got)
	}
	if got := gather.ExclusiveTime(); !near(got, 486.428-482.39) {
		t.Errorf("gather ExclusiveTime = %v, want %v", got, 486.428-482.39)
	}
	if len(partial.Workers) != 2 || partial.Workers[1].WorkerNumber != 1 || partial.Workers[1].ActualTotalTime != 481.56 {
		t.Errorf("Workers = %+v", partial.Workers)
	}
	if scan.SharedHitBlocks != 0 || par.Root.ReadTime() != 0 {
		t.Error("a plan without BUFFERS has zero buffers")
	}

	ctes := loadPlan(t, "pev2-many-ctes.json")
	inner := ctes.Node("0.1.0.0.0.1") // Index Scan, inner side of a nested loop: 3 rows x 352 loops
	if inner.TotalActualRows() != 1056 || !near(inner.InclusiveTime(), 0.003*352) {
		t.Errorf("inner index scan: rows %v time %v, want 1056 and %v", inner.TotalActualRows(), inner.InclusiveTime(), 0.003*352)
	}
	if inner.Participants() != 1 {
		t.Errorf("Participants outside a Gather = %v, want 1", inner.Participants())
	}

	cte := loadPlan(t, "pg_flame-docs-cte.json")
	// The CTEs hang under the top node as init plans, but their time is
	// inside the CTE Scans of 0.9: only 0.9 is subtracted.
	if got := cte.Root.ExclusiveTime(); !near(got, 755.383-755.38) {
		t.Errorf("top ExclusiveTime = %v, want %v", got, 755.383-755.38)
	}
	never := cte.Node("0.3.1")
	if never.Executed() || never.TotalActualRows() != 0 || never.InclusiveTime() != 0 {
		t.Errorf("never-executed node: Executed %v rows %v time %v", never.Executed(), never.TotalActualRows(), never.InclusiveTime())
	}
	if cte.cte("testing_comments") != cte.Node("0.4") {
		t.Error("CTE testing_comments not linked to its plan 0.4")
	}

	cold := loadPlan(t, "pev2-05-aggregate-four-joins.json")
	if b := cold.Root.Buffers; b.SharedReadBlocks != 1392 || b.SharedHitBlocks != 23 {
		t.Errorf("top buffers = %+v, want 1392 blocks read and 23 hit", b)
	}
}

func TestParseUnanalyzedPlan(t *testing.T) {
	p := mustParse(t, `[{"Plan": {"Node Type": "Hash Join", "Join Type": "Left", "Startup Cost": 1.5, "Total Cost": 20.75,
		"Plan Rows": 100, "Plan Width": 8, "Hash Cond": "(a.id = b.a_id)",
		"Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "a", "Alias": "a", "Plan Rows": 100},
		          {"Node Type": "Hash", "Parent Relationship": "Inner", "Plan Rows": 10,
		           "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "b", "Alias": "b", "Plan Rows": 10}]}]},
		"Planning Time": 0.2}]`)
	if p.Analyzed() {
		t.Error("Analyzed() = true for a plan without actuals")
	}
	if p.Root.Name() != "Hash Left Join" || p.Node("0.1.0").Table() != "b" {
		t.Errorf("names: %q, %q", p.Root.Name(), p.Node("0.1.0").Table())
	}
	if p.TotalTime() != 0 || p.Root.InclusiveTime() != 0 || p.Root.Executed() {
		t.Error("an unanalyzed plan has no times and no executed nodes")
	}
	if f := Detect(p, DetectOptions{}); f != nil {
		t.Errorf("Detect on an unanalyzed plan = %v, want nothing", f)
	}
}

func TestParsePlanVersionFields(t *testing.T) {
	// PostgreSQL 17: split I/O times, JIT generation as an object, a
	// negative query identifier; SETTINGS and planning buffers.
	p17 := mustParse(t, `{"Plan": {"Node Type": "Seq Scan", "Relation Name": "t", "Actual Rows": 1, "Actual Loops": 1,
		"Shared Read Blocks": 3, "Shared I/O Read Time": 1.5, "Local I/O Read Time": 0.25, "Temp I/O Read Time": 0.25,
		"Shared I/O Write Time": 2},
		"Query Identifier": -4211561519734387046,
		"Settings": {"work_mem": "64kB", "enable_seqscan": "off"},
		"Planning": {"Shared Hit Blocks": 12},
		"JIT": {"Functions": 3, "Options": {"Inlining": false, "Optimization": false, "Expressions": true, "Deforming": true},
		        "Timing": {"Generation": {"Deform": 0.1, "Total": 0.5}, "Inlining": 0, "Optimization": 0.3, "Emission": 2, "Total": 2.8}},
		"Triggers": [{"Trigger Name": "RI_ConstraintTrigger_a_16401", "Constraint Name": "orders_customer_id_fkey", "Relation": "customers", "Time": 12.5, "Calls": 10}],
		"Execution Time": 20}`)
	if p17.Root.ReadTime() != 2 || p17.Root.WriteTime() != 2 {
		t.Errorf("ReadTime/WriteTime = %v/%v, want 2/2", p17.Root.ReadTime(), p17.Root.WriteTime())
	}
	if p17.QueryID.String() != "-4211561519734387046" || p17.Settings["work_mem"] != "64kB" || p17.Planning.SharedHitBlocks != 12 {
		t.Errorf("QueryID %q, Settings %v, Planning %+v", p17.QueryID, p17.Settings, p17.Planning)
	}
	if j := p17.JIT; j.Functions != 3 || !j.Options["Deforming"] || j.Timing.Generation.Total != 0.5 || j.Timing.Generation.Deform != 0.1 {
		t.Errorf("JIT = %+v %+v", j, j.Timing)
	}
	if tr := p17.Triggers; len(tr) != 1 || tr[0].Constraint != "orders_customer_id_fkey" || tr[0].Time != 12.5 || tr[0].Calls != 10 {
		t.Errorf("Triggers = %+v", tr)
	}

	// PostgreSQL 13-16: one I/O time for shared and local, JIT generation as a number.
	p13 := mustParse(t, `[{"Plan": {"Node Type": "Seq Scan", "Actual Rows": 1, "Actual Loops": 1, "I/O Read Time": 4, "I/O Write Time": 1},
		"JIT": {"Functions": 1, "Timing": {"Generation": 0.75, "Total": 1}}}]`)
	if p13.Root.ReadTime() != 4 || p13.Root.WriteTime() != 1 || p13.JIT.Timing.Generation.Total != 0.75 {
		t.Errorf("13-16 fields: read %v write %v generation %+v", p13.Root.ReadTime(), p13.Root.WriteTime(), p13.JIT.Timing.Generation)
	}
}

func TestNodeName(t *testing.T) {
	tests := []struct {
		node Node
		want string
	}{
		{Node{NodeType: "Aggregate", Strategy: "Hashed"}, "HashAggregate"},
		{Node{NodeType: "Aggregate", Strategy: "Plain", PartialMode: "Finalize"}, "Finalize Aggregate"},
		{Node{NodeType: "Aggregate", Strategy: "Sorted", PartialMode: "Simple"}, "GroupAggregate"},
		{Node{NodeType: "Hash Join", JoinType: "Inner"}, "Hash Join"},
		{Node{NodeType: "Merge Join", JoinType: "Right Anti"}, "Merge Right Anti Join"},
		{Node{NodeType: "Nested Loop", JoinType: "Semi"}, "Nested Loop Semi Join"},
		{Node{NodeType: "Seq Scan", ParallelAware: true, RelationName: "orders", Schema: "sales", Alias: "o"}, "Parallel Seq Scan on sales.orders o"},
		{Node{NodeType: "Index Only Scan", IndexName: "t_pkey", RelationName: "User", Alias: "User"}, `Index Only Scan using t_pkey on "User"`},
		{Node{NodeType: "ModifyTable", Operation: "Insert", RelationName: "t"}, "Insert on t"},
		{Node{NodeType: "Function Scan", FunctionName: "generate_series", Alias: "g"}, "Function Scan on generate_series"},
	}
	for _, tt := range tests {
		if got := tt.node.Name(); got != tt.want {
			t.Errorf("Name() = %q, want %q", got, tt.want)
		}
	}
}

func TestParsePlanErrors(t *testing.T) {
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "not an EXPLAIN plan: empty input"},
		{"blank", " \n\t", "not an EXPLAIN plan: empty input"},
		{"null", "null", "not an EXPLAIN plan: top-level JSON is null, want an object or an array"},
		{"string", `"Plan"`, "not an EXPLAIN plan: top-level JSON is a string"},
		{"empty array", "[]", "want an array of one plan, got 0 elements"},
		{"two plans", `[{"Plan":{"Node Type":"Result"}},{"Plan":{"Node Type":"Result"}}]`, "want an array of one plan, got 2 elements"},
		{"array of numbers", "[1]", "not an EXPLAIN plan: the array holds a number, want an object"},
		{"no Plan key", `{"Query": 1}`, `not an EXPLAIN plan: no "Plan" key`},
		{"no Plan key in array", `[{"QUERY PLAN": []}]`, `not an EXPLAIN plan: no "Plan" key`},
		{"Plan null", `{"Plan": null}`, `not an EXPLAIN plan: "Plan" is null, want an object`},
		{"Plan array", `{"Plan": []}`, `not an EXPLAIN plan: "Plan" is an array, want an object`},
		{"truncated", `[{"Plan": {"Node Type": "Seq`, "invalid JSON at offset 28 (line 1, column 29)"},
		{"syntax error line", "[{\"Plan\":\n {\"Node Type\" \"Seq Scan\"}}]", "invalid JSON at offset 24 (line 2, column 15): invalid character '\"' after object key"},
		{"text format", "Seq Scan on t  (cost=0.00..35.50 rows=2550 width=4)", "looks like text-format EXPLAIN output"},
		{"no node type", `{"Plan": {"Plan Rows": 1}}`, `node 0 has no "Node Type"`},
		{"child without node type", `{"Plan": {"Node Type": "Limit", "Plans": [{"Plan Rows": 1}]}}`, `node 0.0 has no "Node Type"`},
		{"null child", `{"Plan": {"Node Type": "Limit", "Plans": [null]}}`, "node 0.0 is null"},
		{"wrong type", `{"Plan": {"Node Type": "Seq Scan", "Plans": [{"Node Type": "X", "Actual Rows": "many"}]}}`,
			`field "Plan.Plans.Actual Rows" is a JSON string, want float64`},
		{"fractional block count", `{"Plan": {"Node Type": "Seq Scan", "Shared Hit Blocks": 1.5}}`, `field "Plan.Shared Hit Blocks" is a JSON number 1.5, want int64`},
		{"negative loops", `{"Plan": {"Node Type": "Limit", "Plans": [{"Node Type": "X", "Actual Loops": -1}]}}`,
			`node 0.0: "Actual Loops" is -1, want a number from 0 to 1e+100`},
		{"huge rows", `{"Plan": {"Node Type": "Seq Scan", "Plan Rows": 1e300}}`, `node 0: "Plan Rows" is 1e+300`},
		{"negative worker sort", `{"Plan": {"Node Type": "Sort", "Workers": [{"Sort Space Used": -5}]}}`, `node 0 Workers[0]: "Sort Space Used" is -5`},
		{"negative trigger time", `{"Plan": {"Node Type": "Result"}, "Triggers": [{"Trigger Name": "x", "Time": -1}]}`, `plan Triggers[0]: "Time" is -1`},
		{"bad JIT generation", `{"Plan": {"Node Type": "Result"}, "JIT": {"Timing": {"Generation": "fast"}}}`, "invalid EXPLAIN plan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePlan([]byte(tt.input))
			if err == nil {
				t.Fatalf("ParsePlan succeeded (%+v), want error containing %q", p, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error spans several lines: %q", err)
			}
		})
	}
}

func TestParsePlanAcceptsBOMAndObjectForm(t *testing.T) {
	p := mustParse(t, "\xef\xbb\xbf  {\"Plan\": {\"Node Type\": \"Result\", \"Actual Rows\": 1, \"Actual Loops\": 1}, \"Execution Time\": 0.01}\n")
	if p.Root.NodeType != "Result" || !p.Analyzed() || p.Node("0.0") != nil || p.Node("1") != nil || p.Node("0.x") != nil {
		t.Errorf("unexpected parse: %+v", p.Root)
	}
}

// A plan goes into a JSON report as PostgreSQL printed it, and comes back
// out of one linked, as ParsePlan gives it.
func TestPlanJSONRoundTrip(t *testing.T) {
	printed := `[{"Plan": {"Node Type": "Hash Join", "Join Type": "Inner", "Total Cost": 20.75, "Plan Rows": 100,
		"Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "a", "Plan Rows": 100},
		          {"Node Type": "Hash", "Parent Relationship": "Inner", "Plan Rows": 10,
		           "Plans": [{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "b", "Plan Rows": 0}]}]},
		"Planning Time": 0.2}]`
	p := mustParse(t, printed)
	out, err := json.Marshal(struct{ Plan *Plan }{p})
	if err != nil {
		t.Fatal(err)
	}
	var elems [1]json.RawMessage
	if err := json.Unmarshal([]byte(printed), &elems); err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := json.Compact(&want, elems[0]); err != nil {
		t.Fatal(err)
	}
	if got := string(out); got != `{"Plan":`+want.String()+`}` {
		t.Errorf("marshalled plan = %s\nwant the printed object: %s", got, want.String())
	}
	for _, never := range []string{"Actual Rows", "Hash Buckets", "Startup Cost"} {
		if strings.Contains(string(out), never) {
			t.Errorf("marshalled plan has %q, which PostgreSQL did not print", never)
		}
	}

	var back struct{ Plan *Plan }
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatal(err)
	}
	if n := back.Plan.Node("0.1.0"); n == nil || n.Table() != "b" || n.Path() != "0.1.0" {
		t.Errorf("decoded plan is not linked: node 0.1.0 = %+v", n)
	}
	if err := json.Unmarshal([]byte(`{"Plan": {"Plan": {"Total Cost": 1}}}`), &back); err == nil || !strings.Contains(err.Error(), "Node Type") {
		t.Errorf("decoding a plan without a node type: err = %v, want one naming \"Node Type\"", err)
	}
}
