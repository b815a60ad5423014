package explain

import (
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
)

// plannerTrapSchema holds user-defined code that takes an advisory lock
// when it runs, hidden where the planner or the gate may reach it: each
// lock's number says which trap sprang.
var plannerTrapSchema = []string{
	`CREATE TABLE t (id int PRIMARY KEY, a int, b text)`,
	`INSERT INTO t SELECT g, g % 10, 'row ' || g FROM generate_series(1, 2000) g`,
	// The planner estimates selectivity with STABLE functions and folds IMMUTABLE ones.
	`CREATE FUNCTION tenant() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4242); RETURN 1; END$$`,
	`CREATE FUNCTION imm_tenant() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4343); RETURN 1; END$$`,
	// An INSERT plans the defaults of the columns it leaves out.
	`CREATE TABLE tenant_rows (id int, tenant int DEFAULT imm_tenant())`,
	`CREATE TABLE serials (id serial PRIMARY KEY, b text)`,
	`ANALYZE`,
}

// advisoryLocks lists the advisory locks the backend pid holds.
func advisoryLocks(t *testing.T, conn *pgx.Conn, pid int) []int {
	t.Helper()
	rows, err := conn.Query(context.Background(),
		"SELECT objid::int FROM pg_locks WHERE locktype = 'advisory' AND pid = $1 ORDER BY 1", pgx.QueryExecModeExec, pid)
	if err != nil {
		t.Fatal(err)
	}
	locks, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	return locks
}

// assertNoAdvisoryLocks fails when the session behind conn holds an
// advisory lock, which only a trap's body takes.
func assertNoAdvisoryLocks(t *testing.T, dsn string, conn *pgx.Conn, what string) {
	t.Helper()
	pid := int(conn.PgConn().PID())
	if locks := advisoryLocks(t, connect(t, dsn), pid); len(locks) > 0 {
		t.Errorf("%s: the advisor's session holds advisory locks %v: user code ran", what, locks)
	}
}

// TestPlanningRunsNoRefusedUserCode: the planner runs user-defined
// functions (constant folding, selectivity estimation), so a statement
// reaching one whose body fails the gate gets no plan at all, neither from
// Run (on the replica) nor from PlanOnly (on the primary).
func TestPlanningRunsNoRefusedUserCode(t *testing.T) {
	db := gateDatabase(t, "planning_traps", plannerTrapSchema...)
	ctx := context.Background()
	r := NewRunner(nil, RunnerOptions{})
	for _, q := range []string{
		"SELECT * FROM t WHERE a = tenant()",
		"SELECT * FROM t WHERE a = imm_tenant() AND pg_sleep(0) IS NOT NULL", // a denied built-in first must not end the check
		"DELETE FROM t WHERE a = imm_tenant()",
		"UPDATE t SET b = 'x' WHERE a = tenant()",
		"INSERT INTO t (id, a) SELECT 99999, imm_tenant()",
		"INSERT INTO tenant_rows (id) VALUES ($1)",
	} {
		replica := connect(t, sandbox.ReplicaDSN(db))
		res := r.Run(ctx, replica, nil, Query{ID: "trap", Text: q})
		if res.Mode != ModeNone || res.Outcome != OutcomeRefused || !strings.Contains(res.Reason, "pg_advisory_lock") ||
			!strings.Contains(res.Reason, "not planned") {
			t.Errorf("Run(%q) = mode %s, outcome %s, reason %q; want refused, not planned", q, res.Mode, res.Outcome, res.Reason)
		}
		assertNoAdvisoryLocks(t, sandbox.ReplicaDSN(db), replica, "Run "+q)

		primary := connect(t, sandbox.DSN(db))
		if _, err := r.PlanOnly(ctx, primary, q, nil); err == nil || !strings.Contains(err.Error(), "not planned") {
			t.Errorf("PlanOnly(%q) = %v, want a refusal", q, err)
		}
		assertNoAdvisoryLocks(t, sandbox.DSN(db), primary, "PlanOnly "+q)
	}
}

// TestPlanningUnsafeToExecuteOnly: a statement refused only because
// executing it is unsafe still gets its generic plan.
func TestPlanningUnsafeToExecuteOnly(t *testing.T) {
	db := gateDatabase(t, "planning_builtin", plannerTrapSchema...)
	ctx := context.Background()
	r := NewRunner(nil, RunnerOptions{})
	for _, q := range []string{
		"SELECT * FROM t WHERE a = $1 AND pg_try_advisory_lock(a) AND random() < 0.5",
		"UPDATE t SET b = $1 WHERE a = $2",
		"DELETE FROM t WHERE id = $1",
		"INSERT INTO serials (b) VALUES ($1)", // nextval() in a default is never folded
	} {
		replica := connect(t, sandbox.ReplicaDSN(db))
		res := r.Run(ctx, replica, nil, Query{ID: "builtin", Text: q})
		if res.Mode != ModeGeneric || res.Outcome != OutcomeOK || res.Plan == nil {
			t.Errorf("Run(%q) = mode %s, outcome %s, reason %q, err %q; want its generic plan", q, res.Mode, res.Outcome, res.Reason, res.Err)
		}
		assertNoAdvisoryLocks(t, sandbox.ReplicaDSN(db), replica, "Run "+q)
	}
}

// TestGateImplicitComparisons: JOIN USING, NATURAL JOIN, CASE x WHEN,
// IN (subquery) and DISTINCT compare values with an = or an operator
// class's support function that no operator node names; user-defined
// ones are checked whatever their label, and neither executed nor
// planned when their bodies fail. (Operators are resolved by name, so in
// this database every statement with = is refused.)
func TestGateImplicitComparisons(t *testing.T) {
	db := gateDatabase(t, "gate_comparisons",
		`CREATE TYPE mood AS ENUM ('a', 'b')`,
		`CREATE TABLE tm (m mood)`,
		`INSERT INTO tm VALUES ('a'), ('b')`,
		`CREATE FUNCTION mood_eq(mood, mood) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM pg_advisory_lock(4545); RETURN $1::text = $2::text; END$$`,
		`CREATE OPERATOR = (LEFTARG = mood, RIGHTARG = mood, FUNCTION = mood_eq)`,
		`CREATE TYPE shade AS ENUM ('light', 'dark')`,
		`CREATE TABLE ts (s shade)`,
		`CREATE FUNCTION shade_hash(shade) RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4747); RETURN hashtext($1::text); END$$`,
		`CREATE OPERATOR CLASS shade_ops DEFAULT FOR TYPE shade USING hash AS OPERATOR 1 pg_catalog.= (anyenum, anyenum), FUNCTION 1 shade_hash(shade)`,
		`ANALYZE`)
	ctx := context.Background()
	r := NewRunner(nil, RunnerOptions{})
	for q, reason := range map[string]string{
		"SELECT * FROM tm x JOIN tm y USING (m)":                           "denied function pg_advisory_lock() (via body of public.mood_eq(mood, mood)",
		"SELECT * FROM tm x NATURAL JOIN tm y":                             "denied function pg_advisory_lock() (via body of public.mood_eq(mood, mood)",
		"SELECT CASE m WHEN (SELECT m FROM tm LIMIT 1) THEN 1 END FROM tm": "denied function pg_advisory_lock() (via body of public.mood_eq(mood, mood)",
		"SELECT * FROM tm WHERE m IN (SELECT m FROM tm)":                   "denied function pg_advisory_lock() (via body of public.mood_eq(mood, mood)",
		"SELECT CASE 'a'::mood WHEN 'b' THEN 1 END":                        "denied function pg_advisory_lock() (via body of public.mood_eq(mood, mood)",
		"SELECT DISTINCT s FROM ts":                                        "denied function pg_advisory_lock() (via body of public.shade_hash(shade), an implicit comparison or conversion)",
	} {
		replica := connect(t, sandbox.ReplicaDSN(db))
		checkDecision(t, "Gate", gateCase{query: q, reason: reason}, Gate(ctx, replica, q))
		res := r.Run(ctx, replica, nil, Query{ID: "cmp", Text: q})
		if res.Outcome != OutcomeRefused || res.Plan != nil {
			t.Errorf("Run(%q) = mode %s, outcome %s; want refused", q, res.Mode, res.Outcome)
		}
		assertNoAdvisoryLocks(t, sandbox.ReplicaDSN(db), replica, "Run "+q)
	}
}

// Should user code the gate missed take a session advisory lock, which
// outlives the rollback, the runner's session gives it up all the same.
func TestRunnerReleasesAdvisoryLocks(t *testing.T) {
	db := gateDatabase(t, "release_locks", plannerTrapSchema...)
	ctx := context.Background()
	conn := connect(t, sandbox.ReplicaDSN(db))
	err := readOnly(ctx, conn, RunnerOptions{}.withDefaults(), func(serverInfo) error {
		_, err := conn.Exec(ctx, "SELECT pg_advisory_lock(6161)")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	assertNoAdvisoryLocks(t, sandbox.ReplicaDSN(db), conn, "after a transaction that took one")
}

// TestPlanGateCacheIsPerSearchPath: the cached catalog check of a
// statement is not reused by a session whose search_path resolves the
// same text to other functions.
func TestPlanGateCacheIsPerSearchPath(t *testing.T) {
	db := gateDatabase(t, "planning_search_path",
		`CREATE TABLE t (id int PRIMARY KEY, a int)`,
		`CREATE SCHEMA plain`,
		`CREATE FUNCTION plain.tenant() RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'`,
		`CREATE SCHEMA trap`,
		`CREATE FUNCTION trap.tenant() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_advisory_lock(4444); RETURN 1; END$$`,
	)
	ctx := context.Background()
	r := NewRunner(nil, RunnerOptions{})
	const q = "SELECT * FROM t WHERE a = tenant()"
	withPath := func(path string) string {
		return sandbox.DSN(db) + "&search_path=" + url.QueryEscape(path) // a run-time parameter
	}
	if _, err := r.PlanOnly(ctx, connect(t, withPath("plain,public")), q, nil); err != nil {
		t.Fatalf("PlanOnly with plain.tenant(): %v", err)
	}
	trapped := connect(t, withPath("trap,public"))
	if _, err := r.PlanOnly(ctx, trapped, q, nil); err == nil || !strings.Contains(err.Error(), "pg_advisory_lock") {
		t.Errorf("PlanOnly with trap.tenant() = %v, want a refusal naming pg_advisory_lock", err)
	}
	assertNoAdvisoryLocks(t, sandbox.DSN(db), trapped, "PlanOnly with trap.tenant()")
}
