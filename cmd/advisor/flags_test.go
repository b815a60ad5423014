package main

import (
	"strings"
	"testing"
)

// The flag package stops at the first argument: commands that take none
// refuse one, rather than ignore it and the flags after it.
func TestUnexpectedArgumentRefused(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"report", "extra"},
			`advisor report: unexpected argument "extra" (flags go before arguments; did you mean --config?)`},
		{[]string{"report", "c.yaml", "--top", "5"},
			`advisor report: unexpected argument "c.yaml" (flags go before arguments; did you mean --config?)`},
		{[]string{"run", "--config", "c.yaml", "extra", "--shutdown-timeout", "1s"},
			`advisor run: unexpected argument "extra" (flags go before arguments)`},
		{[]string{"check", "--format", "json", "extra"},
			`advisor check: unexpected argument "extra" (flags go before arguments; did you mean --config?)`},
		{[]string{"demo", "extra"},
			`advisor demo: unexpected argument "extra" (flags go before arguments)`},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != exitUsage || strings.TrimSpace(errOut) != tt.want || out != "" {
			t.Errorf("advisor %v: exit %d, stdout %q, stderr %q; want exit %d, stderr %q",
				tt.args, code, out, errOut, exitUsage, tt.want)
		}
	}
}
