package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
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

// A path -o cannot write fails before any sampling, naming the path given.
func TestReportOutputCheckedFirst(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ out, want string }{
		{filepath.Join(dir, "missing", "r.txt"), "advisor report: -o " + filepath.Join(dir, "missing", "r.txt") +
			": cannot create the report in " + filepath.Join(dir, "missing") + " (it is written beside its name, then renamed): no such file or directory"},
		{dir, "advisor report: -o " + dir + ": is a directory"},
	} {
		// The DSN names a port nothing listens on: reaching it would fail otherwise.
		code, _, errOut := runCLI(t, "report", "--dsn", "postgres://x@127.0.0.1:1/a", "-o", tt.out)
		if code != exitFailure || strings.TrimSpace(errOut) != tt.want {
			t.Errorf("-o %s: exit %d, stderr %q; want exit %d, %q", tt.out, code, errOut, exitFailure, tt.want)
		}
	}
}

// A pipe or a device is written in place, not renamed over.
func TestReportFileInPlace(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "report.pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	reader, err := os.OpenFile(fifo, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer reader.Close()
	f, err := createReportFile(fifo)
	if err != nil {
		t.Fatal(err)
	}
	defer f.discard()
	if err := f.commit(&advisor.Report{}, "json"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(fifo); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Fatalf("-o %s: no longer a pipe (%v, %v)", fifo, fi.Mode(), err)
	}
	if data, err := io.ReadAll(reader); err != nil || !strings.Contains(string(data), "schema_version") {
		t.Errorf("read from the pipe: %q (%v)", data, err)
	}
}

// /dev/stdout links to /proc/self/fd/1, whose link reads "pipe:[N]" when
// it is a pipe: written in place.
func TestReportFileToStdoutPipe(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	f, err := createReportFile(fmt.Sprintf("/proc/self/fd/%d", w.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.discard()
	if err := f.commit(&advisor.Report{}, "json"); err != nil {
		t.Fatal(err)
	}
	w.Close()
	if data, err := io.ReadAll(r); err != nil || !strings.Contains(string(data), "schema_version") {
		t.Errorf("read from the pipe: %q (%v)", data, err)
	}
}

// A dangling link is written through: the file it names is created.
func TestReportFileThroughDanglingLink(t *testing.T) {
	dir := t.TempDir()
	link := filepath.Join(dir, "latest.json")
	if err := os.Symlink("reports/today.json", link); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "reports"), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := createReportFile(link)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.commit(&advisor.Report{}, "json"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("-o %s: no longer a symbolic link (%v)", link, err)
	}
	if data, err := os.ReadFile(filepath.Join(dir, "reports", "today.json")); err != nil || !strings.Contains(string(data), "schema_version") {
		t.Errorf("report not written where the link points: %q (%v)", data, err)
	}

	// Through a directory that is a link, ".." is the real directory's parent.
	if err := os.MkdirAll(filepath.Join(dir, "real", "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "real", "other"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("real", "sub"), filepath.Join(dir, "dirlink")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join("..", "other", "out.json"), filepath.Join(dir, "real", "sub", "out.json")); err != nil {
		t.Fatal(err)
	}
	f, err = createReportFile(filepath.Join(dir, "dirlink", "out.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.commit(&advisor.Report{}, "json"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "real", "other", "out.json")); err != nil {
		t.Errorf("report not written through the linked directory: %v", err)
	}
}

// -o through a symbolic link replaces the file it points to, which keeps
// its mode; until commit, the old report stays as it was.
func TestReportFileKeepsLinkAndMode(t *testing.T) {
	dir := t.TempDir()
	target, link := filepath.Join(dir, "report.json"), filepath.Join(dir, "latest.json")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	f, err := createReportFile(link)
	if err != nil {
		t.Fatal(err)
	}
	defer f.discard()
	if data, _ := os.ReadFile(target); string(data) != "old" {
		t.Fatalf("before commit the report reads %q, want the old one", data)
	}
	if err := f.commit(&advisor.Report{}, "json"); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("-o %s: no longer a symbolic link (%v)", link, err)
	}
	fi, err := os.Stat(target)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("report mode %v (%v), want 0600 kept", fi.Mode(), err)
	}
	if data, _ := os.ReadFile(target); !strings.Contains(string(data), "schema_version") {
		t.Errorf("report not written through the link: %q", data)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// A report that could analyze no database (the replica is down) fails,
// and leaves the report at -o as it was.
func TestReportFailsWhenNothingAnalyzed(t *testing.T) {
	c := pgsandbox.Start(t, pgsandbox.Options{Extensions: []string{"pg_stat_statements"}})
	for range 5 {
		if err := c.Exec(context.Background(), "postgres", "SELECT count(*) FROM pg_class WHERE relname = 'x'"); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(t.TempDir(), "report.txt")
	if err := os.WriteFile(out, []byte("the last good report\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "report", "--dsn", c.DSN("postgres"), "--replica-dsn", "postgres://x@127.0.0.1:1/postgres", "-o", out)
	if code != exitFailure || !strings.Contains(errOut, "no database could be analyzed") || !strings.Contains(errOut, "database postgres not analyzed") {
		t.Errorf("exit %d, stderr %q: want 1 and the reason", code, errOut)
	}
	if b, err := os.ReadFile(out); err != nil || string(b) != "the last good report\n" {
		t.Errorf("-o holds %q (%v), want the last good report", b, err)
	}
}
