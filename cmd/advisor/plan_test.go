package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPlanCommand(t *testing.T) {
	code, out, errOut := runCLI(t, "plan", "--format", "json", "../../explain/testdata/plans/pev2-parallel-verbose.json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var got struct {
		Findings []struct {
			Kind, Severity, Node, Detail string
			Evidence                     map[string]any
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if len(got.Findings) == 0 || got.Findings[0].Kind != "workers_not_launched" || got.Findings[0].Evidence["workers_planned"] != 4.0 {
		t.Fatalf("findings = %+v, want workers_not_launched with 4 planned", got.Findings)
	}

	code, out, _ = runCLI(t, "plan", "../../explain/testdata/plans/pev2-parallel-verbose.json")
	if code != exitOK || !strings.Contains(out, "workers_not_launched at 0.0 Gather") {
		t.Fatalf("text output (exit %d):\n%s", code, out)
	}
}

func TestPlanCommandBadInput(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct{ path, want string }{
		{write("notplan.json", `{"rows": []}`), `notplan.json: not an EXPLAIN plan: no "Plan" key`},
		{write("broken.json", `[{"Plan": {`), "broken.json: invalid"},
		{write("text.txt", "Seq Scan on t  (cost=0.00..1.00 rows=1 width=4)"), "text.txt:"},
		{filepath.Join(dir, "missing.json"), "missing.json: no such file"},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, "plan", tt.path)
		lines := strings.Split(strings.TrimSpace(errOut), "\n")
		if code != exitFailure || out != "" || len(lines) != 1 || !strings.Contains(errOut, tt.want) {
			t.Errorf("plan %s: exit %d, stdout %q, stderr %q; want exit 1 and one line containing %q", tt.path, code, out, errOut, tt.want)
		}
	}
}
