package explain

// Severity ranks how much a finding matters.
type Severity string

const (
	Info     Severity = "info"
	Warning  Severity = "warning"
	Critical Severity = "critical"
)

// Finding is one problem found in a plan or in the schema. Plan detectors
// (Detect) and the advisor's schema checks both produce findings.
type Finding struct {
	Kind     string         `json:"kind"`               // stable snake_case, e.g. "sort_spill"
	Severity Severity       `json:"severity"`           // info, warning, critical
	Node     string         `json:"node,omitempty"`     // path in the plan, e.g. "0.1.0 Sort"; "" for schema findings
	Table    string         `json:"table,omitempty"`    // qualified table when one is concerned
	QueryID  string         `json:"queryid,omitempty"`  // statement the plan came from, when known
	Database string         `json:"database,omitempty"` // where the statement runs or the table is
	Detail   string         `json:"detail"`             // one sentence with the numbers
	Evidence map[string]any `json:"evidence,omitempty"` // the numbers that prove it
	Fix      string         `json:"fix,omitempty"`      // the specific next step (may be DDL)
}
