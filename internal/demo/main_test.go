package demo

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// testScale keeps the shared test database small: about 8,000 tasks.
const testScale = 0.02

// The package's shared sandbox and the database loaded at testScale; nil
// when PostgreSQL could not start.
var (
	sandbox *pgsandbox.Cluster
	loadErr error
	loadDur time.Duration
)

func TestMain(m *testing.M) {
	opts := pgsandbox.Options{Extensions: []string{"pg_stat_statements"}, Settings: SandboxSettings()}
	os.Exit(pgsandbox.Main(m, opts, func(c *pgsandbox.Cluster) int {
		sandbox = c
		if c != nil {
			start := time.Now()
			loadErr = loadTestDB(c, "taskboard")
			loadDur = time.Since(start)
		}
		return m.Run()
	}))
}

func loadTestDB(c *pgsandbox.Cluster, db string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, db); err != nil {
		return err
	}
	if err := Load(ctx, c.DSN(db), Options{Scale: testScale, Seed: 1}); err != nil {
		return fmt.Errorf("load at scale %v: %w", testScale, err)
	}
	return nil
}

// freshDB creates an empty database on the shared sandbox for one test
// and drops it when the test ends.
func freshDB(t *testing.T, name string) string {
	t.Helper()
	loadedDSN(t)
	ctx := context.Background()
	drop := "DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"
	if err := sandbox.Exec(ctx, "postgres", drop); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := sandbox.Exec(context.Background(), "postgres", drop); err != nil {
			t.Error(err)
		}
	})
	return sandbox.DSN(name)
}

// loadedDSN is the DSN of the shared loaded database; it skips (or fails)
// the test when there is none.
func loadedDSN(t *testing.T) string {
	t.Helper()
	c := pgsandbox.Require(t, sandbox)
	if loadErr != nil {
		t.Fatalf("loading the shared test database: %v", loadErr)
	}
	return c.DSN("taskboard")
}
