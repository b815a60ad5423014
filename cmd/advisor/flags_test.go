package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/config"
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
		{[]string{"version", "extra"},
			`advisor version: unexpected argument "extra" (flags go before arguments)`},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != exitUsage || strings.TrimSpace(errOut) != tt.want || out != "" {
			t.Errorf("advisor %v: exit %d, stdout %q, stderr %q; want exit %d, stderr %q",
				tt.args, code, out, errOut, exitUsage, tt.want)
		}
	}
}

// --dsn and --replica-dsn change one target's fields and keep the rest of
// it; a config of several needs --target to say which.
func TestDSNFlagsOverrideOneTarget(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	one := write("one.yaml", "targets:\n  - name: main\n    dsn: postgres://a@primary/app\n    databases: {include: [app]}\n")
	two := write("two.yaml", "targets:\n  - {name: main, dsn: postgres://a@primary/app}\n  - {name: other, dsn: postgres://a@other/app}\n")
	none := write("none.yaml", "analysis: {top: 5}\n")

	c := &commonFlags{configPath: one, replicaDSN: "postgres://a@replica/app"}
	cfg, err := c.load()
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Targets; len(got) != 1 || got[0].Name != "main" || got[0].DSN != "postgres://a@primary/app" ||
		got[0].ReplicaDSN != "postgres://a@replica/app" || len(got[0].Databases.Include) != 1 {
		t.Errorf("targets %+v: want main with the file's dsn and filter and the flag's replica", got)
	}

	c = &commonFlags{configPath: two, dsn: "postgres://a@elsewhere/app", target: "other"}
	if cfg, err = c.load(); err != nil {
		t.Fatal(err)
	}
	if cfg.Targets[0].DSN != "postgres://a@primary/app" || cfg.Targets[1].DSN != "postgres://a@elsewhere/app" {
		t.Errorf("targets %+v: want only other changed", cfg.Targets)
	}

	c = &commonFlags{configPath: none, dsn: "postgres://a@primary/app"}
	if cfg, err = c.load(); err != nil || len(cfg.Targets) != 1 || cfg.Targets[0].Name != "default" {
		t.Errorf("a file without targets and --dsn: %+v, %v; want the default target", cfg, err)
	}

	for _, tt := range []struct {
		c    commonFlags
		want string
	}{
		{commonFlags{configPath: two, dsn: "postgres://a@x/app", hasTarget: true}, "--dsn and --replica-dsn change one target, and " + two + " has 2: choose it with --target"},
		{commonFlags{configPath: two, dsn: "postgres://a@x/app"}, "--dsn and --replica-dsn change one target, and " + two + " has 2: edit the file (only advisor report takes --target)"},
		// An emptied file is refused, not read as "the libpq environment".
		{commonFlags{configPath: none}, none + ": targets: at least one target is required"},
		{commonFlags{configPath: two, dsn: "postgres://a@x/app", target: "nope"}, `--target "nope": no such target in ` + two},
		{commonFlags{configPath: one, dsn: "postgres://u@h:99999/db"}, "--dsn: invalid URL"},
		{commonFlags{replicaDSN: "db-replica"}, "--replica-dsn: invalid connection string"},
	} {
		if _, err := tt.c.load(); err == nil || !strings.HasPrefix(err.Error(), tt.want) {
			t.Errorf("%+v: error %v, want it to start with %q", tt.c, err, tt.want)
		}
	}
}

// The engine is given the configuration's cycle limit: the agent's cycles
// and advisor report stop at it.
func TestEngineOptionsCarryTheCycleTimeout(t *testing.T) {
	cfg := config.Default()
	cfg.Analysis.CycleTimeout = config.Duration(3 * time.Minute)
	if got := engineOptions(cfg).Timeout; got != 3*time.Minute {
		t.Errorf("engine timeout %v, want analysis.cycle_timeout's 3m", got)
	}
}
