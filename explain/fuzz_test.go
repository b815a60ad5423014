package explain

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzParsePlan: any input either parses into a plan that every method and
// every detector handles, with findings that marshal, or fails with a
// one-line error. Nothing panics.
func FuzzParsePlan(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "plans", "*.json"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed plans: %v", err)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `null`, `[]`, `[{}]`, `{"Plan": null}`, `{"Plan": {"Node Type": "Result"}}`,
		`{"Plan": {"Node Type": "CTE Scan", "CTE Name": "x", "Actual Loops": 1, "Plans": [{"Node Type": "Result", "Parent Relationship": "InitPlan", "Subplan Name": "CTE x", "Plan Rows": 100, "Actual Loops": 1}]}}`,
		`{"Plan": {"Node Type": "Gather", "Workers Planned": 2, "Actual Loops": 2, "Plans": [{"Node Type": "Sort", "Actual Loops": 1, "Sort Space Type": "Disk", "Sort Key": ["a"]}]}}`,
		`{"Plan": {"Node Type": "Limit", "Actual Loops": 1, "Plans": [{"Node Type": "Seq Scan", "Actual Rows": 1e99, "Actual Loops": 1e99, "Filter": "((a = 1) OR b)"}]}, "Execution Time": 1e-300}`,
		`{"Plan": {"Node Type": "ModifyTable", "Actual Loops": 1}, "Triggers": [{"Trigger Name": "RI_ConstraintTrigger_a_1", "Time": 5}], "Execution Time": 1, "JIT": {"Timing": {"Generation": {"Total": 1}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePlan(data)
		if err != nil {
			if p != nil {
				t.Fatal("ParsePlan returned a plan and an error")
			}
			if msg := err.Error(); msg == "" || strings.Contains(msg, "\n") {
				t.Fatalf("error is not one line: %q", msg)
			}
			return
		}
		p.Analyzed()
		p.TotalTime()
		p.Walk(func(path string, n *Node) bool {
			if p.Node(path) != n {
				t.Fatalf("Node(%q) does not find the walked node", path)
			}
			_ = n.Label() + n.Table()
			n.Executed()
			n.TotalActualRows()
			n.TotalRowsRemovedByFilter()
			n.TotalRowsRemovedByJoinFilter()
			n.TotalRowsRemovedByIndexRecheck()
			if x := n.InclusiveTime() + n.ExclusiveTime() + n.ReadTime() + n.WriteTime(); x != x {
				t.Fatalf("node %s: NaN time", path)
			}
			return true
		})
		for _, th := range []Thresholds{{}, {SeqScanMinRows: 1, LargeOffsetRows: 1, InefficientIndexMinRows: 1, HeapFetchesMinRows: 1, MisestimateFactor: 1.5}} {
			fs := Detect(p, DetectOptions{Thresholds: th, WorkMemBytes: 64 << 10})
			if _, err := json.Marshal(fs); err != nil {
				t.Fatalf("findings do not marshal: %v", err)
			}
		}
	})
}
