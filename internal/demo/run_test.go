package demo

import (
	"bytes"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
)

func TestWriteLegendAndComparison(t *testing.T) {
	ids := map[string]int64{"project_dashboard": 42, "task_by_key": -7, "tenant_report": 9}
	r := &advisor.Report{
		Statements:      []advisor.Statement{{QueryID: "9"}, {QueryID: "1234"}, {QueryID: "42"}},
		Recommendations: []advisor.Recommendation{{QueryIDs: []string{"5"}}, {QueryIDs: []string{"42", "9"}}, {QueryIDs: []string{"42"}}},
	}
	var legend bytes.Buffer
	writeLegend(&legend, r, ids)
	wantLegend := "The demo's statements, by their number in the report below:\n" +
		"  #1   tenant_report\n" +
		"  #3   project_dashboard\n\n"
	if legend.String() != wantLegend {
		t.Errorf("legend:\n%s\nwant:\n%s", legend.String(), wantLegend)
	}

	ms := time.Millisecond
	before := []QueryStats{
		{Name: "project_dashboard", Mean: 20 * ms, Total: 200 * ms},
		{Name: "task_by_key", Mean: 1 * ms, Total: 10 * ms},
		{Name: "tenant_report", Mean: 1500 * ms, Total: 15 * time.Second},
	}
	after := []QueryStats{
		{Name: "project_dashboard", Mean: 100 * time.Microsecond, Total: 1 * ms},
		{Name: "task_by_key", Mean: 1 * ms, Total: 10 * ms},
		{Name: "tenant_report", Mean: 2 * time.Second, Total: 20 * time.Second},
	}
	var table bytes.Buffer
	writeComparison(&table, before, after, r, ids, 10)
	want := `
Measured on the primary, each statement 10 times with the same parameters before and after the indexes:

statement                    index    mean before   mean after  speed-up
project_dashboard            #2,#3        20.0 ms     0.100 ms      200x
task_by_key                  -            1.00 ms      1.00 ms      1.0x
tenant_report                #2          1,500 ms     2,000 ms      0.8x
all (total time)                        15,210 ms    20,011 ms      0.8x
`
	if table.String() != want {
		t.Errorf("comparison:\n%s\nwant:\n%s", table.String(), want)
	}
}
