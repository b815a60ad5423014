package pgsandbox

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestPrimaryAndReplica(t *testing.T) {
	ctx := context.Background()
	start := time.Now()
	c, err := New(ctx, Options{Replica: true, Extensions: []string{"pg_stat_statements", "hypopg"}})
	if err != nil {
		unavailable(t, err)
	}
	t.Logf("primary + replica up in %v", time.Since(start))
	defer c.Close()

	if err := c.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "app", "CREATE TABLE t (id int)", "INSERT INTO t VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	r, err := pgx.Connect(ctx, c.ReplicaDSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	var id int
	var inRecovery bool
	err = r.QueryRow(ctx, "SELECT id, pg_is_in_recovery() FROM t").Scan(&id, &inRecovery)
	r.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if id != 42 || !inRecovery {
		t.Fatalf("replica read id=%d in_recovery=%v, want 42 true", id, inRecovery)
	}

	p, err := pgx.Connect(ctx, c.DSN("app"))
	if err != nil {
		t.Fatal(err)
	}
	var preload string
	var exts int
	err = p.QueryRow(ctx, `SELECT current_setting('shared_preload_libraries'),
		(SELECT count(*) FROM pg_extension WHERE extname IN ('pg_stat_statements','hypopg'))`).Scan(&preload, &exts)
	p.Close(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if preload != "pg_stat_statements" || exts != 2 {
		t.Fatalf("preload=%q extensions=%d, want pg_stat_statements and 2", preload, exts)
	}

	pids := []int{c.primary.cmd.Process.Pid, c.replica.cmd.Process.Pid}
	dir := c.Dir()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("directory %s still exists after Close (stat: %v)", dir, err)
	}
	for _, pid := range pids {
		if err := syscall.Kill(pid, 0); err == nil {
			t.Errorf("postmaster pid %d still running after Close", pid)
		}
	}
}

func TestNoPreload(t *testing.T) {
	c := Start(t, Options{NoPreload: true})
	conn, err := pgx.Connect(context.Background(), c.DSN("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var preload string
	if err := conn.QueryRow(context.Background(), "SHOW shared_preload_libraries").Scan(&preload); err != nil {
		t.Fatal(err)
	}
	if preload != "" {
		t.Fatalf("shared_preload_libraries = %q, want empty", preload)
	}
}

// A server that finds its port answered by another cluster's postmaster
// does not take that one for itself, and one that could not bind the
// port says so, for launch to try another.
func TestWaitReadyKnowsItsOwnServer(t *testing.T) {
	c := Start(t, Options{})
	log := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(log, []byte(`LOG:  could not bind IPv4 address "127.0.0.1": Address already in use`), 0o600); err != nil {
		t.Fatal(err)
	}
	late := &server{name: "late", port: c.primary.port, logPath: log, exited: make(chan struct{})}
	close(late.exited)
	if err := c.waitReady(context.Background(), late); !errors.Is(err, errPortTaken) {
		t.Errorf("a server whose port another answers: %v, want errPortTaken", err)
	}
}
