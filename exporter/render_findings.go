package exporter

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	"github.com/pgadvisor/pgadvisor/explain"
)

// PlanAnalysis is what `advisor plan` reports about one saved plan.
type PlanAnalysis struct {
	SchemaVersion   int               `json:"schema_version"`
	Source          string            `json:"source"`
	Analyzed        bool              `json:"analyzed"`
	ExecutionTimeMS float64           `json:"execution_time_ms,omitempty"`
	Findings        []explain.Finding `json:"findings"`
}

// RenderPlanAnalysis writes a as text (for people) or json.
func RenderPlanAnalysis(w io.Writer, a PlanAnalysis, format string) error {
	var buf bytes.Buffer
	switch format {
	case "json":
		if a.Findings == nil {
			a.Findings = []explain.Finding{}
		}
		a.SchemaVersion = 1
		enc := json.NewEncoder(&buf)
		enc.SetIndent("", "  ")
		if err := enc.Encode(a); err != nil {
			return fmt.Errorf("encode findings: %w", err)
		}
	case "text":
		t := textWriter{&buf}
		summary := fmt.Sprintf("%s: %d finding(s)", clean(a.Source), len(a.Findings))
		if a.Analyzed {
			summary += fmt.Sprintf(", execution time %s ms", fmtNum(a.ExecutionTimeMS))
		} else {
			summary += " (plan without ANALYZE: the detectors need actual rows; save it with EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON))"
		}
		t.wrap("", "", summary)
		for _, f := range a.Findings {
			t.line("")
			t.wrap("", "    ", fmt.Sprintf("%s  %s at %s", f.Severity, f.Kind, clean(f.Node)))
			t.wrap("    ", "    ", clean(f.Detail))
			t.fix("    fix: ", f.Fix)
		}
	default:
		return fmt.Errorf("unknown format %q: use text or json", format)
	}
	_, err := w.Write(buf.Bytes())
	return err
}
