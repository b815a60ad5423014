package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// TestRunHelperProcess is `advisor run` in a process of its own, so the
// test can send it real signals. It runs main itself.
func TestRunHelperProcess(t *testing.T) {
	if os.Getenv("PGADVISOR_RUN_HELPER") != "1" {
		t.Skip("helper process of TestRunSignals")
	}
	os.Args = append([]string{"advisor"}, strings.Fields(os.Getenv("PGADVISOR_RUN_ARGS"))...)
	main()
}

// lines collects a process's output and lets a test wait for a line.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) read(r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		l.mu.Lock()
		l.all = append(l.all, sc.Text())
		l.mu.Unlock()
	}
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

func (l *lines) waitFor(t *testing.T, substr string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		for _, s := range l.all {
			if strings.Contains(s, substr) {
				l.mu.Unlock()
				return s
			}
		}
		l.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no line with %q in the output:\n%s", substr, l.text())
	return ""
}

const runConfig = `
listen: 127.0.0.1:0
state_dir: %s
targets:
  - name: main
    dsn: %s
schedule: {sample: "@every 1s", analyze: "@every 1h"}
metrics: {top_statements: %d}
`

// TestRunSignals runs the agent as a process: it becomes ready, keeps its
// configuration when SIGHUP brings an invalid one, reloads a valid one,
// and on SIGTERM stops with its state flushed and exit status 0.
func TestRunSignals(t *testing.T) {
	c := pgsandbox.Start(t, pgsandbox.Options{Extensions: []string{"pg_stat_statements"}})
	dir := t.TempDir()
	const password = "run-pass-8c1d"
	dsn := strings.Replace(c.DSN("postgres"), "postgres@", "postgres:"+password+"@", 1)
	cfgPath := filepath.Join(dir, "advisor.yaml")
	write := func(content string) {
		if err := os.WriteFile(cfgPath, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(fmt.Sprintf(runConfig, dir, dsn, 20))

	cmd := exec.Command(os.Args[0], "-test.run=^TestRunHelperProcess$")
	cmd.Env = append(os.Environ(), "PGADVISOR_RUN_HELPER=1",
		"PGADVISOR_RUN_ARGS=run --config "+cfgPath+" --log-format json --shutdown-timeout 5s")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill() }() // already gone when the test passes
	out := &lines{}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		out.read(stderr)
	}()

	var started struct{ Listen string }
	if err := json.Unmarshal([]byte(out.waitFor(t, `"agent started"`)), &started); err != nil || started.Listen == "" {
		t.Fatalf("start line without the address: %v", err)
	}
	base := "http://" + started.Listen
	waitReady(t, base)

	write("targets: [{name: main}]\nschedule: {sample: 'every minute'}\n")
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, "configuration not reloaded; the running one stays")
	if code := status(t, base+"/healthz"); code != 200 {
		t.Fatalf("/healthz after a refused reload: %d", code)
	}

	write(fmt.Sprintf(runConfig, dir, dsn, 5))
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	out.waitFor(t, `"configuration reloaded"`)

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() {
		<-readDone
		exited <- cmd.Wait()
	}()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("advisor run after SIGTERM: %v\n%s", err, out.text())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("advisor run did not stop within 30s of SIGTERM:\n%s", out.text())
	}
	out.waitFor(t, `"stopped; state flushed"`)
	if strings.Contains(out.text(), password) {
		t.Errorf("the DSN password is in the log:\n%s", out.text())
	}

	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, ok, err := store.GetWindow("main", "postgres"); !ok || err != nil {
		t.Errorf("the window was not saved: %v", err)
	}
}

func waitReady(t *testing.T, base string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for status(t, base+"/readyz") != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became ready")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func TestRunRefusesToStart(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "advisor.yaml")
	if err := os.WriteFile(cfgPath, []byte("listen: 127.0.0.1:0\nstate_dir: "+file+"/state\ntargets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/a'}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCLI(t, "run", "--config", cfgPath, "--log-format", "json")
	if code != exitFailure || !strings.Contains(errOut, "advisor run: state store "+file+"/state") {
		t.Errorf("state_dir under a file: exit %d\n%s", code, errOut)
	}

	if err := os.WriteFile(cfgPath, []byte("targets: [{name: a}]\nanalysis: {max_parallel_targets: 0}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errOut = runCLI(t, "run", "--config", cfgPath)
	if code != exitUsage || !strings.Contains(errOut, "analysis.max_parallel_targets") {
		t.Errorf("invalid config: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "run", "--config", cfgPath, "--shutdown-timeout", "0s")
	if code != exitUsage || strings.TrimSpace(errOut) != "advisor run: --shutdown-timeout 0s: want a positive duration" {
		t.Errorf("--shutdown-timeout 0s: exit %d\n%s", code, errOut)
	}
	code, _, errOut = runCLI(t, "run", "--help")
	if code != exitOK || !strings.Contains(errOut, "-web.config.file") || !strings.Contains(errOut, "-shutdown-timeout") {
		t.Errorf("--help: exit %d\n%s", code, errOut)
	}
}
