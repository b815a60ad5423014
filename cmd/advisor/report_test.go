package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bad flag value is blamed on the flag, not on the config file's line
// that set the key before the flag overrode it.
func TestReportBadFlagValueNamesTheFlag(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.yaml")
	const cfg = "analysis:\n  top: 10\n  rank_by: calls\ntargets:\n  - {name: prod, dsn: \"postgres://localhost/app\"}\n"
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		flags []string
		want  string
	}{
		{[]string{"--top", "0"}, "advisor report: --top: must be at least 1, got 0"},
		{[]string{"--rank-by", "foo"}, `advisor report: --rank-by: must be one of total_time, mean_time, calls, shared_blks_read, temp_blks_written, got "foo"`},
		{[]string{"--min-calls", "-1"}, "advisor report: --min-calls: must be at least 0, got -1"},
		{[]string{"--budget", "0"}, "advisor report: --budget: must be greater than 0, got 0B"},
		{[]string{"--interval", "-1s"}, "advisor report: --interval -1s: must not be negative (0 ranks the counters since the last reset)"},
	}
	for _, tt := range tests {
		args := append([]string{"report", "--config", path}, tt.flags...)
		code, _, errOut := runCLI(t, args...)
		if code != exitUsage || strings.TrimSpace(errOut) != tt.want {
			t.Errorf("advisor report %v: exit %d, stderr %q; want exit %d, stderr %q", tt.flags, code, errOut, exitUsage, tt.want)
		}
	}
}
