package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// requirePostgres skips the test (fails it in CI) when there are no
// PostgreSQL server binaries for the demo's sandbox.
func requirePostgres(t *testing.T) {
	t.Helper()
	if _, err := pgsandbox.FindBinDir(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PostgreSQL is required in CI: %v", err)
		}
		t.Skip(err)
	}
}

// The README's quick demo: `make demo ARGS="--scale 0.02 --duration 3s --apply"`.
func TestDemoSmallScaleApply(t *testing.T) {
	requirePostgres(t)
	start := time.Now()
	code, out, errOut := runCLI(t, "demo", "--scale", "0.02", "--duration", "3s", "--apply")
	t.Logf("advisor demo took %v; its progress:\n%s", time.Since(start).Round(time.Second), errOut)
	if code != exitOK {
		t.Fatalf("exit %d, want 0\n%s", code, out)
	}
	checkSandboxGone(t, errOut)

	// The legend names the statements the report numbers.
	for _, name := range []string{"project_dashboard", "task_comments", "activity_by_payload", "tenant_trash", "tenant_report"} {
		if !regexp.MustCompile(`(?m)^  #\d+ +` + name + `$`).MatchString(out) {
			t.Errorf("the legend does not name %s", name)
		}
	}
	// What the advisor finds reliably at this scale.
	for _, want := range []struct{ what, pattern string }{
		{"the foreign-key index on comments", `(?m)^\d+\. public\.comments \(task_id\)`},
		// At this scale the planner finds a backward walk of (deleted_at)
		// about as cheap as the partial (tenant_id, deleted_at) the demo
		// gets at scale 1: either serves the trash.
		{"an index for the trash", `(?m)^\d+\. public\.tasks \((tenant_id, )?deleted_at.*\)`},
		{"a GIN index for the jsonb filter", `(?m)^\d+\. public\.activity_log \(payload.*\).*gin`},
		{"the unindexed foreign key finding", `unindexed_fk: public\.comments`},
		{"the sort spill finding", `sort_spill: #\d+`},
		{"the built-index verification", `i\.indisvalid AS valid FROM unnest\(ARRAY\['public\.`},
	} {
		if !regexp.MustCompile(want.pattern).MatchString(out) {
			t.Errorf("the report lacks %s (%s)", want.what, want.pattern)
		}
	}
	if t.Failed() {
		t.Fatalf("report:\n%s", out)
	}

	// --apply built every recommended index and measured the statements.
	if n := strings.Count(errOut, "built index "); n == 0 || !strings.Contains(errOut, "measured after the indexes") {
		t.Fatalf("built %d indexes; progress:\n%s", n, errOut)
	}
	rows := measuredRows(t, out)
	for _, name := range []string{"task_comments", "tenant_trash", "all (total time)"} {
		if _, ok := rows[name]; !ok {
			t.Errorf("the measurements have no row for %s:\n%s", name, out)
		}
	}
	// Over 20,000 comments read one by one before, a few index entries
	// after: even on a busy machine that is several times faster.
	if r := rows["task_comments"]; r.before < 2*r.after {
		t.Errorf("task_comments: mean %.3f ms before and %.3f ms after its index, want at least 2x faster", r.before, r.after)
	}
}

func TestDemoCancelled(t *testing.T) {
	requirePostgres(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	progress := &watchWriter{word: "workload  ", hit: cancel}
	var out bytes.Buffer
	code := dispatch(ctx, stdio{strings.NewReader(""), &out, progress}, []string{"demo", "--scale", "0.02", "--duration", "1m"})
	errOut := progress.String()
	if code != exitFailure || !strings.Contains(errOut, "advisor demo: demo interrupted: context canceled") {
		t.Fatalf("exit %d, want 1 and a cancelled context:\n%s", code, errOut)
	}
	checkSandboxGone(t, errOut)
}

// checkSandboxGone finds the sandbox directory the demo announced and
// checks that it and every process started in it are gone.
func checkSandboxGone(t *testing.T, progress string) {
	t.Helper()
	m := regexp.MustCompile(`sandbox in (\S*pgsandbox-\d+):`).FindStringSubmatch(progress)
	if m == nil {
		t.Fatalf("the demo did not say where its sandbox is:\n%s", progress)
	}
	dir := m[1]
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("the sandbox directory %s is still there (stat: %v)", dir, err)
	}
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range cmdlines {
		b, err := os.ReadFile(f)
		if err == nil && bytes.Contains(b, []byte(dir)) {
			t.Errorf("process %s is still running from the sandbox: %s", filepath.Base(filepath.Dir(f)), bytes.ReplaceAll(b, []byte{0}, []byte{' '}))
		}
	}
}

type measured struct{ before, after float64 } // mean milliseconds

// measuredRows parses the before/after table the demo prints after --apply.
func measuredRows(t *testing.T, out string) map[string]measured {
	t.Helper()
	_, table, ok := strings.Cut(out, "\nMeasured on the primary")
	if !ok {
		t.Fatalf("no measurements in the output:\n%s", out)
	}
	row := regexp.MustCompile(`(?m)^(\S.*?)\s+(?:#[\d,#]+|-)?\s+([\d,.]+) ms\s+([\d,.]+) ms\s+\S+$`)
	rows := map[string]measured{}
	for _, m := range row.FindAllStringSubmatch(table, -1) {
		before, err1 := strconv.ParseFloat(strings.ReplaceAll(m[2], ",", ""), 64)
		after, err2 := strconv.ParseFloat(strings.ReplaceAll(m[3], ",", ""), 64)
		if err1 != nil || err2 != nil {
			t.Fatalf("row %q: %v %v", m[0], err1, err2)
		}
		rows[strings.TrimSpace(m[1])] = measured{before, after}
	}
	return rows
}

// watchWriter collects what is written and calls hit once word appears.
type watchWriter struct {
	word string
	hit  func()

	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.done && strings.Contains(w.buf.String(), w.word) {
		w.done = true
		w.hit()
	}
	return len(p), nil
}

func (w *watchWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String()
}

// A scale the demo cannot load is a usage error named by its flag, before
// any sandbox starts.
func TestDemoRefusesBadScale(t *testing.T) {
	for _, scale := range []string{"0", "NaN", "1000"} {
		code, _, errOut := runCLI(t, "demo", "--scale", scale)
		want := "advisor demo: --scale " + scale + ": want a number above 0 and at most 100"
		if code != exitUsage || strings.TrimSpace(errOut) != want {
			t.Errorf("demo --scale %s: exit %d, stderr %q; want exit %d, %q", scale, code, errOut, exitUsage, want)
		}
	}
}
