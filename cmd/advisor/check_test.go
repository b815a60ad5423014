package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = dispatch(context.Background(), stdio{strings.NewReader(""), &out, &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestCheckEverythingInPlace(t *testing.T) {
	c := pgsandbox.Start(t, pgsandbox.Options{Replica: true, Extensions: []string{"pg_stat_statements", "hypopg"}})
	code, out, errOut := runCLI(t, "check", "--dsn", c.DSN("postgres"), "--replica-dsn", c.ReplicaDSN("postgres"))
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s%s", code, out, errOut)
	}
	for _, want := range []string{"OK    pg_stat_statements preloaded", "OK    replica in recovery", "OK    hypopg", "WARN  explain role"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}

	code, out, _ = runCLI(t, "check", "--format", "json", "--dsn", c.DSN("postgres"), "--replica-dsn", c.ReplicaDSN("postgres"))
	var parsed struct {
		Targets []struct {
			Checks []struct{ Name, Status string }
		}
	}
	if err := json.Unmarshal([]byte(out), &parsed); err != nil || code != exitOK {
		t.Fatalf("json output (exit %d) does not parse: %v\n%s", code, err, out)
	}
	if len(parsed.Targets) != 1 || len(parsed.Targets[0].Checks) < 8 {
		t.Fatalf("json output has %+v, want one target with every check", parsed)
	}

	// A role with more than the advisor needs is named, with the REVOKE.
	if err := c.Exec(context.Background(), "postgres", "CREATE ROLE risky LOGIN", "GRANT pg_monitor, pg_signal_backend TO risky"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplay(context.Background()); err != nil { // the replica must know the role too
		t.Fatal(err)
	}
	risky := strings.Replace(c.ReplicaDSN("postgres"), "postgres@", "risky@", 1)
	_, out, _ = runCLI(t, "check", "--dsn", strings.Replace(c.DSN("postgres"), "postgres@", "risky@", 1), "--replica-dsn", risky)
	if !strings.Contains(out, "WARN  explain role") || !strings.Contains(out, `REVOKE pg_signal_backend FROM "risky"`) {
		t.Errorf("a role with pg_signal_backend: output lacks the warning and its REVOKE:\n%s", out)
	}

	// A role without pg_monitor cannot read shared_preload_libraries: that
	// is said as such, and the checks after it still run.
	if err := c.Exec(context.Background(), "postgres", "CREATE ROLE weak LOGIN"); err != nil {
		t.Fatal(err)
	}
	_, out, _ = runCLI(t, "check", "--dsn", strings.Replace(c.DSN("postgres"), "postgres@", "weak@", 1))
	for _, want := range []string{"WARN  pg_stat_statements preloaded", "cannot tell: role weak may not read shared_preload_libraries",
		"OK    pg_stat_statements extension", "FAIL  read all statements", `GRANT pg_monitor TO "weak";`} {
		if !strings.Contains(out, want) {
			t.Errorf("a role without pg_monitor: output lacks %q:\n%s", want, out)
		}
	}
}

func TestCheckWithoutPreload(t *testing.T) {
	c := pgsandbox.Start(t, pgsandbox.Options{NoPreload: true})
	code, out, _ := runCLI(t, "check", "--dsn", c.DSN("postgres"))
	if code != exitFailure {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	if !strings.Contains(out, "FAIL  pg_stat_statements preloaded") ||
		!strings.Contains(out, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'") {
		t.Fatalf("output does not name the fix:\n%s", out)
	}
}

func TestCheckUnreachable(t *testing.T) {
	code, out, _ := runCLI(t, "check", "--dsn", "postgres://nobody:s3cret@127.0.0.1:1/x?connect_timeout=2")
	if code != exitFailure || !strings.Contains(out, "FAIL  primary connection") {
		t.Fatalf("exit %d, output:\n%s", code, out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("password leaked into output:\n%s", out)
	}
}

func TestDispatch(t *testing.T) {
	tests := []struct {
		args []string
		code int
		want string
	}{
		{nil, exitUsage, "usage: advisor <command>"},
		{[]string{"bogus"}, exitUsage, `unknown command "bogus"`},
		{[]string{"check", "--help"}, exitOK, "-replica-dsn"},
		{[]string{"check", "--nope"}, exitUsage, "flag provided but not defined: -nope"},
		{[]string{"check", "--format", "xml"}, exitUsage, `--format "xml" is not text or json`},
		{[]string{"check", "--dsn", "postgres://h/db", "--log-level", "bogus"}, exitUsage, "advisor check: "},
		{[]string{"check", "--dsn", "postgres://h/db", "--log-format", "xml"}, exitUsage, "advisor check: "},
		{[]string{"version"}, exitOK, "advisor "},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, tt.args...)
		if code != tt.code || !strings.Contains(out+errOut, tt.want) {
			t.Errorf("advisor %v: exit %d, output %q; want exit %d containing %q", tt.args, code, out+errOut, tt.code, tt.want)
		}
	}
}
