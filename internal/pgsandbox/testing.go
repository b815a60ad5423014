package pgsandbox

import (
	"context"
	"flag"
	"fmt"
	"os"
	"testing"
	"time"
)

// Start starts a cluster for one test and closes it in t.Cleanup. When
// PostgreSQL cannot start the test is skipped, or fails when $CI is set.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := New(ctx, opts)
	if err != nil {
		unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("pgsandbox: close: %v", err)
		}
	})
	return c
}

// Main runs a package's tests around one shared cluster: call it from
// TestMain as os.Exit(pgsandbox.Main(m, opts, func(c *Cluster) int { ...; return m.Run() })).
// When PostgreSQL cannot start, run gets a nil cluster outside CI (tests
// then call Require, which skips) and Main fails at once in CI. When
// fuzzing, run gets a nil cluster at once: fuzz targets need no server,
// and every fuzz worker process runs TestMain.
func Main(m *testing.M, opts Options, run func(c *Cluster) int) int {
	flag.Parse()
	if fuzz := flag.Lookup("test.fuzz"); fuzz != nil && fuzz.Value.String() != "" {
		return run(nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	c, err := New(ctx, opts)
	cancel()
	if err != nil {
		if os.Getenv("CI") != "" {
			fmt.Fprintf(os.Stderr, "pgsandbox: PostgreSQL is required in CI: %v\n", err)
			return 1
		}
		fmt.Fprintf(os.Stderr, "pgsandbox: PostgreSQL unavailable, database tests will skip: %v\n", err)
		return run(nil)
	}
	defer func() {
		if err := c.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "pgsandbox: close: %v\n", err)
		}
	}()
	return run(c)
}

// Require skips (or, in CI, fails) a test when the shared cluster from
// Main could not start.
func Require(t testing.TB, c *Cluster) *Cluster {
	t.Helper()
	if c == nil {
		unavailable(t, fmt.Errorf("the shared cluster did not start"))
	}
	return c
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("pgsandbox: PostgreSQL is required in CI: %v", err)
	}
	t.Skipf("pgsandbox: PostgreSQL unavailable: %v", err)
}
