package explain

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// safetySchema is a database full of things a careless EXPLAIN ANALYZE
// would change.
var safetySchema = []string{
	`CREATE TABLE t (id int PRIMARY KEY, a int, b text)`,
	`INSERT INTO t SELECT g, g % 10, 'row ' || g FROM generate_series(1, 500) g`,
	`CREATE TABLE counters (n int)`,
	`INSERT INTO counters VALUES (0)`,
	`CREATE SEQUENCE s`,
	`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
	`CREATE FUNCTION lying_stable() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT nextval(''s'')'`,
	`CREATE FUNCTION sneaky() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM bump_counter(); RETURN 1; END$$`,
	`CREATE FUNCTION with_default(a bigint DEFAULT nextval('s')) RETURNS bigint LANGUAGE sql STABLE AS 'SELECT a'`,
	`CREATE FUNCTION vol_eq(int, int) RETURNS bool LANGUAGE sql VOLATILE AS 'SELECT bump_counter() > 0 AND $1 = $2'`,
	`CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = vol_eq)`,
	`CREATE VIEW v_volatile AS SELECT id, bump_counter() AS n FROM t`,
	`CREATE TABLE seqs (name regclass)`,
	`INSERT INTO seqs VALUES ('s')`,
	`CREATE PROCEDURE bump_proc() LANGUAGE sql AS 'UPDATE counters SET n = n + 1'`,
	`ANALYZE`,
}

// hostileWorkload is what an application might have run. Each one is
// executed once on the primary inside a transaction that is rolled back
// (sequences and session locks survive it; the snapshot is taken after),
// so pg_stat_statements holds their normalized texts.
var hostileWorkload = []string{
	`WITH d AS (DELETE FROM t WHERE id = 1 RETURNING *) SELECT * FROM d`,
	`WITH u AS (UPDATE counters SET n = n + 1 RETURNING n) SELECT n FROM u`,
	`SELECT setval('s', 1000)`,
	`SELECT nextval('s') WHERE true`,
	`SELECT pg_terminate_backend(0)`,
	`SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'nobody'`,
	`SELECT bump_counter()`,
	// Texts whose parameters are easy to fill (or that have none), so
	// only the gate stands between them and execution.
	`SELECT pg_advisory_lock(id) FROM t WHERE id = 9`,
	`SELECT nextval(name) FROM seqs`,
	`SELECT pg_terminate_backend(a.pid) FROM pg_stat_activity a, pg_stat_activity me
		WHERE me.pid = pg_backend_pid() AND a.application_name = me.application_name AND a.pid <> me.pid`,
	`SELECT bump_counter() FROM t WHERE id = 9`,
	`SELECT * FROM t WHERE a = (SELECT bump_counter())`,
	`SELECT * FROM t, LATERAL (SELECT bump_counter()) x WHERE t.id = 2`,
	`SELECT lying_stable()`,
	`SELECT sneaky()`,
	`SELECT with_default()`,
	`SELECT * FROM t WHERE a === 1`,
	`SELECT * FROM v_volatile WHERE id = 3`,
	`SELECT pg_advisory_lock(42)`,
	`SELECT pg_try_advisory_lock(43)`,
	`SELECT pg_advisory_xact_lock(44)`,
	`SELECT set_config('work_mem', '1MB', false)`,
	`SELECT txid_current()`,
	`SELECT pg_notify('safety', 'ran')`,
	`SELECT pg_sleep(0.01)`,
	`SELECT lo_create(0)`,
	`SELECT * FROM t WHERE id = 4 FOR UPDATE`,
	`SELECT * FROM t FOR SHARE OF t`,
	`UPDATE t SET a = a + 1 WHERE id = 5`,
	`DELETE FROM t WHERE id = 6`,
	`INSERT INTO t VALUES (1000, 1, 'new')`,
	`MERGE INTO t USING (SELECT 7 AS id) src ON t.id = src.id WHEN MATCHED THEN UPDATE SET a = t.a + 1`,
	`TRUNCATE counters`,
	`DO $$BEGIN UPDATE counters SET n = n + 100; END$$`,
	`CALL bump_proc()`,
	`CREATE TABLE created_by_workload (x int)`,
	`SELECT count(*) FROM t /* ; DELETE FROM t */`,
	`SELECT * FROM t WHERE b = 'x''; DROP TABLE t; --'`,
	// Harmless ones, which the runner does execute.
	`SELECT * FROM t WHERE id = 8`,
	`SELECT count(*) FROM t WHERE a = 3 AND b LIKE 'row 1%'`,
	`SELECT a, count(*) FROM t WHERE id BETWEEN 10 AND 20 GROUP BY a ORDER BY a LIMIT 5`,
}

// TestRunnerChangesNothing runs the runner on the PRIMARY with ANALYZE
// allowed over every text pg_stat_statements holds for the database, and
// proves no row, sequence, session, lock, setting or large object changed
// and nothing was notified.
func TestRunnerChangesNothing(t *testing.T) {
	db := gateDatabase(t, "safety", safetySchema...)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	observer := connect(t, sandbox.DSN(db))
	if _, err := observer.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	runWorkload(t, ctx, sandbox.DSN(db), observer)

	// A bystander session the workload texts would like to terminate: it
	// shares the runner's application_name.
	bystander := connect(t, sandbox.DSN(db))
	bystanderPID := queryRow[int](t, bystander, "SELECT pg_backend_pid()")
	if _, err := observer.Exec(ctx, "LISTEN safety"); err != nil {
		t.Fatal(err)
	}

	texts := statementTexts(t, observer)
	for _, want := range []string{"SELECT setval($1, $2)", "SELECT pg_terminate_backend($1)", "SELECT * FROM t WHERE id = $1"} {
		if !slices.Contains(texts, want) {
			t.Fatalf("pg_stat_statements has no %q among %q", want, texts)
		}
	}

	runner := connect(t, sandbox.DSN(db))
	runnerPID := queryRow[int](t, runner, "SELECT pg_backend_pid()")
	cat := testCatalog(t, runner)
	sessionBefore := sessionState(t, runner)
	// The setup's connections, closed, may still be exiting: wait for the
	// database's sessions to be the test's three.
	for deadline := time.Now().Add(30 * time.Second); queryRow[int](t, observer, `SELECT count(*)::int FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND datname = current_database()`) != 3; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("sessions other than the test's stay in the database")
		}
	}
	before := databaseState(t, observer)

	queries := make([]Query, len(texts))
	for i, text := range texts {
		queries[i] = Query{ID: fmt.Sprint(i), Text: text}
	}
	r := NewRunner(nil, RunnerOptions{AllowAnalyzeOnPrimary: true, StatementTimeout: 2 * time.Second})
	results := r.RunAll(ctx, runner, cat, queries)

	after := databaseState(t, observer)
	if !reflect.DeepEqual(before, after) {
		t.Errorf("the database changed:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := sessionState(t, runner); !reflect.DeepEqual(got, sessionBefore) {
		t.Errorf("the runner's session changed:\nbefore %+v\nafter  %+v", sessionBefore, got)
	}
	if pid := queryRow[int](t, runner, "SELECT pg_backend_pid()"); pid != runnerPID {
		t.Errorf("the runner's backend changed from %d to %d", runnerPID, pid)
	}
	if err := bystander.Ping(ctx); err != nil {
		t.Errorf("bystander session %d: %v", bystanderPID, err)
	}
	waitCtx, waitCancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer waitCancel()
	if n, err := observer.WaitForNotification(waitCtx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a notification arrived: %+v, %v", n, err)
	}

	// The hostile texts were never analyzed; the harmless ones were.
	analyzed := map[string]bool{}
	for i, res := range results {
		t.Logf("%-7s %-7s %q %s %s", res.Mode, res.Outcome, texts[i], res.Reason, res.Err)
		if res.Mode == ModeAnalyze {
			analyzed[texts[i]] = true
		}
		if res.Outcome == OutcomeSkipped {
			t.Errorf("%q was skipped: %s", texts[i], res.Err)
		}
	}
	for _, hostile := range []string{"setval", "nextval", "pg_terminate_backend", "pg_cancel_backend", "bump_counter",
		"lying_stable", "sneaky", "with_default", "===", "v_volatile", "advisory", "set_config", "txid_current",
		"pg_notify", "pg_sleep", "lo_create", "FOR UPDATE", "FOR SHARE", "UPDATE t", "DELETE FROM t WHERE", "INSERT", "MERGE",
		"TRUNCATE", "DO ", "CALL", "CREATE"} {
		for text := range analyzed {
			if strings.Contains(text, hostile) {
				t.Errorf("analyzed a statement with %s: %q", hostile, text)
			}
		}
	}
	for _, harmless := range []string{"SELECT * FROM t WHERE id = $1", "SELECT count(*) FROM t /* ; DELETE FROM t */",
		"SELECT a, count(*) FROM t WHERE id BETWEEN $1 AND $2 GROUP BY a ORDER BY a LIMIT $3"} {
		if !analyzed[harmless] {
			t.Errorf("%q was not analyzed", harmless)
		}
	}
}

// runWorkload executes hostileWorkload in a transaction that is rolled
// back, each statement behind a savepoint, then drops session locks and
// waits, on observer, for its backend to exit.
func runWorkload(t *testing.T, ctx context.Context, dsn string, observer *pgx.Conn) {
	t.Helper()
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.RuntimeParams["application_name"] = "workload"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	tx, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range hostileWorkload {
		if _, err := tx.Exec(ctx, "SAVEPOINT w"); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, sql); err != nil {
			t.Fatalf("workload %q: %v", sql, err)
		}
	}
	if err := tx.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_unlock_all()"); err != nil {
		t.Fatal(err)
	}
	pid := queryRow[int](t, conn, "SELECT pg_backend_pid()")
	conn.Close(ctx)
	// Wait for the backend to be gone, so the session list is stable.
	for queryRow[bool](t, observer, "SELECT EXISTS (SELECT FROM pg_stat_activity WHERE pid = $1)", pid) {
		time.Sleep(20 * time.Millisecond)
	}
}

// statementTexts are the texts pg_stat_statements holds for conn's
// database, the test's own included: the runner gets them all.
func statementTexts(t *testing.T, conn *pgx.Conn) []string {
	t.Helper()
	rows, err := conn.Query(context.Background(), `SELECT query FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) ORDER BY query`,
		pgx.QueryExecModeExec)
	if err != nil {
		t.Fatal(err)
	}
	texts, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return texts
}

type dbState struct {
	Tables        map[string]string // "count checksum"
	Sequence      string
	Sessions      string // client backends' pids
	AdvisoryLocks int
	LargeObjects  int
	RelationCount int
	Prepared      int // prepared transactions
}

// databaseState fingerprints everything the workload could change.
func databaseState(t *testing.T, conn *pgx.Conn) dbState {
	t.Helper()
	s := dbState{Tables: map[string]string{}}
	for _, table := range []string{"t", "counters"} {
		s.Tables[table] = queryRow[string](t, conn, fmt.Sprintf(
			"SELECT count(*) || ' ' || coalesce(sum(hashtext(x::text)), 0) FROM %s x", table))
	}
	s.Sequence = queryRow[string](t, conn, "SELECT last_value || ' ' || is_called FROM s")
	s.Sessions = queryRow[string](t, conn, `SELECT string_agg(pid::text, ',' ORDER BY pid) FROM pg_stat_activity
		WHERE backend_type = 'client backend' AND datname = current_database()`)
	s.AdvisoryLocks = queryRow[int](t, conn, "SELECT count(*)::int FROM pg_locks WHERE locktype = 'advisory'")
	s.LargeObjects = queryRow[int](t, conn, "SELECT count(*)::int FROM pg_largeobject_metadata")
	s.RelationCount = queryRow[int](t, conn, "SELECT count(*)::int FROM pg_class")
	s.Prepared = queryRow[int](t, conn, "SELECT count(*)::int FROM pg_prepared_xacts")
	return s
}

type sessionSnapshot struct {
	Settings  string // settings changed in the session
	Prepared  int
	ReadWrite string // transaction_read_only outside a transaction
	Locks     int
}

func sessionState(t *testing.T, conn *pgx.Conn) sessionSnapshot {
	t.Helper()
	return sessionSnapshot{
		Settings: queryRow[string](t, conn, `SELECT coalesce(string_agg(name || '=' || setting, ',' ORDER BY name), '')
			FROM pg_settings WHERE source = 'session'`),
		Prepared:  preparedStatements(t, conn),
		ReadWrite: queryRow[string](t, conn, "SELECT current_setting('transaction_read_only')"),
		Locks: queryRow[int](t, conn, `SELECT count(*)::int FROM pg_locks
			WHERE pid = pg_backend_pid() AND NOT (locktype = 'virtualxid' OR relation = 'pg_locks'::regclass)`),
	}
}
