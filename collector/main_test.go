package collector

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// sandbox is the package's shared primary; nil when PostgreSQL could not
// start (tests then call pgsandbox.Require, which skips). Its
// pg_stat_statements.max leaves room for BenchmarkSample10k's statements.
var sandbox *pgsandbox.Cluster

func TestMain(m *testing.M) {
	opts := pgsandbox.Options{
		Extensions: []string{"pg_stat_statements"},
		Settings:   map[string]string{"pg_stat_statements.max": "12000"},
	}
	os.Exit(pgsandbox.Main(m, opts, func(c *pgsandbox.Cluster) int {
		sandbox = c
		return m.Run()
	}))
}

// connect opens a connection that is closed when the test ends: marked as
// the advisor's when advisor is true, a plain client otherwise.
func connect(t testing.TB, dsn string, advisor bool) *pgx.Conn {
	t.Helper()
	ctx := context.Background()
	var conn *pgx.Conn
	var err error
	if advisor {
		conn, err = dbconn.Connect(ctx, dsn)
	} else {
		conn, err = pgx.Connect(ctx, dsn)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func exec(t testing.TB, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("exec %q: %v", sql, err)
	}
}

// newDatabase creates database name on c with pg_stat_statements at
// version ("" for the default).
func newDatabase(t testing.TB, c *pgsandbox.Cluster, name, version string) {
	t.Helper()
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+QuoteIdent(name)+" WITH (FORCE)", "CREATE DATABASE "+QuoteIdent(name)); err != nil {
		t.Fatal(err)
	}
	create := "CREATE EXTENSION pg_stat_statements"
	if version != "" {
		create += " VERSION '" + version + "'"
	}
	if err := c.Exec(ctx, name, create); err != nil {
		t.Fatal(err)
	}
}

func testLogger(t testing.TB) *zap.Logger { return zaptest.NewLogger(t) }
