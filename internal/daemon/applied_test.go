package daemon

import (
	"testing"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// TestServedStatementsLeaveOutTheAdvisors: the advisor's EXPLAINs of a
// statement share its queryid; the realized gain is the application's.
func TestServedStatementsLeaveOutTheAdvisors(t *testing.T) {
	records := []state.Record{{Status: state.StatusApplied,
		Recommendation: advisor.Recommendation{Database: "app", QueryIDs: []string{"42"}}}}
	d := &collector.Delta{Statements: []collector.Statement{
		{QueryID: "42", Database: "app", Text: collector.Text{Query: "SELECT 1"},
			Counters: collector.Counters{Calls: 100, TotalExecTime: 50}, MeanExecTime: 0.5},
		{QueryID: "42", Database: "app", Text: collector.Text{Query: "/* pgadvisor */ PREPARE pgadvisor_1 AS SELECT 1", Own: true},
			Counters: collector.Counters{Calls: 30, TotalExecTime: 0.3}, MeanExecTime: 0.01},
	}}
	got := withServedStatements(&advisor.Report{}, d, records).Statements
	if len(got) != 1 || got[0].Calls != 100 || got[0].MeanExecTimeMS != 0.5 {
		t.Errorf("served statements %+v, want only the application's (100 calls, 0.5 ms)", got)
	}
}
