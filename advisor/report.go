package advisor

import (
	"slices"
	"time"

	"github.com/pgadvisor/pgadvisor/explain"
)

// SchemaVersion of the JSON report; bump it when a field changes meaning or goes away.
const SchemaVersion = 1

// Report is the outcome of one analysis cycle for one target.
type Report struct {
	SchemaVersion   int               `json:"schema_version"`
	GeneratedAt     time.Time         `json:"generated_at"`
	Target          string            `json:"target"`
	Window          ReportWindow      `json:"window"`
	Statements      []Statement       `json:"statements"`
	Findings        []explain.Finding `json:"findings"`
	Recommendations []Recommendation  `json:"recommendations"`
	// Applied are recommended indexes found built recently (by the agent,
	// which keeps the history), with the gain they realized.
	Applied  []AppliedIndex `json:"applied,omitempty"`
	Warnings []string       `json:"warnings,omitempty"` // what limited the analysis, with fixes
	// Unanalyzed are the databases whose statements could not be analyzed
	// (the catalog or the EXPLAIN target unreachable): that the report
	// recommends nothing there says nothing about them.
	Unanalyzed []string `json:"unanalyzed_databases,omitempty"`
}

// NothingAnalyzed reports whether the report ranks statements but none
// of their databases could be analyzed.
func (r *Report) NothingAnalyzed() bool {
	return len(r.Unanalyzed) > 0 && !slices.ContainsFunc(r.Statements, func(s Statement) bool { return !slices.Contains(r.Unanalyzed, s.Database) })
}

// ReportWindow is the span of workload the report ranks.
type ReportWindow struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Cumulative is true when the counters since the last pg_stat_statements reset were used.
	Cumulative bool `json:"cumulative"`
}

// Statement is one ranked statement and how it was explained.
type Statement struct {
	QueryID         string        `json:"queryid"`
	Database        string        `json:"database"`
	User            string        `json:"user"`
	Query           string        `json:"query"`
	Calls           int64         `json:"calls"`
	TotalExecTimeMS float64       `json:"total_exec_time_ms"`
	MeanExecTimeMS  float64       `json:"mean_exec_time_ms"`
	Rows            int64         `json:"rows"`
	SharedBlksRead  int64         `json:"shared_blks_read"`
	TempBlksWritten int64         `json:"temp_blks_written"`
	WorkloadShare   float64       `json:"workload_share"` // fraction of the window's total execution time
	Explain         ExplainInfo   `json:"explain"`
	Plan            *explain.Plan `json:"plan,omitempty"`
}

// AppliedIndex is a recommended index found built, and what the statements
// it serves gained: their mean execution time in the last window before it
// and in the first window after.
type AppliedIndex struct {
	RecommendationID string    `json:"recommendation_id"`
	Index            string    `json:"index"`
	Table            string    `json:"table"`
	AppliedAt        time.Time `json:"applied_at"`
	Measured         bool      `json:"measured"` // false until a whole window after it has passed
	MeanBeforeMS     float64   `json:"mean_exec_time_ms_before"`
	MeanAfterMS      float64   `json:"mean_exec_time_ms_after,omitempty"`
	ImprovementPct   float64   `json:"improvement_pct"` // negative for a regression
	QueryIDs         []string  `json:"queryids"`
}

// ExplainInfo says how a statement was explained and why.
type ExplainInfo struct {
	Mode    string   `json:"mode"` // "analyze", "generic" or "none"
	Reason  string   `json:"reason"`
	Params  []string `json:"params,omitempty"`
	Outcome string   `json:"outcome,omitempty"` // ok, timeout, error, ...
	Error   string   `json:"error,omitempty"`
	// Values says how Params were chosen when not the usual way, as
	// Reason tells (explain.Result.Values).
	Values string `json:"values,omitempty"`
}
