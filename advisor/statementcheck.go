package advisor

import (
	"fmt"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

// Thresholds of the workload-level OFFSET check: a page that reads this
// many buffers per call, and this many per row it returns, is mostly rows
// produced only to be thrown away (a keyset page reads a handful).
const (
	offsetMinBuffersPerCall = 500
	offsetMinBuffersPerRow  = 10
)

// offsetFinding reports deep OFFSET pagination from what a statement did
// across all its calls. Its plan cannot show it: the runner explains it
// with OFFSET 0, which is what a safe synthesized value must be.
func offsetFinding(s collector.Statement) (explain.Finding, bool) {
	if s.Calls <= 0 || !hasOffset(s.Text.Query) {
		return explain.Finding{}, false
	}
	calls := float64(s.Calls)
	buffers := float64(s.SharedBlksHit+s.SharedBlksRead) / calls
	rows := max(float64(s.Rows)/calls, 1)
	if buffers < offsetMinBuffersPerCall || buffers/rows < offsetMinBuffersPerRow {
		return explain.Finding{}, false
	}
	severity := explain.Warning
	if s.Share >= 0.1 {
		severity = explain.Critical
	}
	return explain.Finding{
		Kind:     explain.KindLargeOffset,
		Severity: severity,
		QueryID:  s.QueryID,
		Detail: fmt.Sprintf("Each call returns %.0f rows but reads %.0f buffers (mean %.1f ms over %d calls): "+
			"OFFSET pagination produces every skipped row only to discard it, so deeper pages cost more.",
			rows, buffers, s.MeanExecTime, s.Calls),
		Evidence: map[string]any{
			"calls": s.Calls, "rows_per_call": rows, "buffers_per_call": buffers,
			"mean_exec_time_ms": s.MeanExecTime, "workload_share": s.Share,
		},
		Fix: "Use keyset pagination: remember the last row's sort key and ask for WHERE (sort key) > (last value) " +
			"ORDER BY sort key LIMIT n, served by an index on the sort key; every page then costs the same.",
	}, true
}

// hasOffset reports whether the statement's outermost SELECT has OFFSET.
func hasOffset(query string) bool {
	tree, err := pg.Parse(explain.Reparseable(query))
	if err != nil || len(tree.Stmts) != 1 {
		return false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	return sel != nil && sel.LimitOffset != nil
}
