package explain

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// gateSchema holds the traps the gate must see through: volatile and
// writing functions, and stable-looking ones that reach volatile code
// through their bodies, defaults, operators, views, aggregates, domains,
// policies and attribute notation.
var gateSchema = []string{
	`CREATE TABLE t (id int PRIMARY KEY, a int, b text, doc jsonb)`,
	`CREATE TABLE counters (n int)`,
	`CREATE TABLE acct (id int, system_user text)`, // PostgreSQL 16's SYSTEM_USER is a column name in 15
	`INSERT INTO counters VALUES (0)`,
	`CREATE SEQUENCE s`,
	`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
	`CREATE VIEW system_user AS SELECT bump_counter() AS n`, // in FROM, PostgreSQL 16's SYSTEM_USER is a relation in 15
	`CREATE FUNCTION safe_double(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'`,
	`CREATE FUNCTION lying_stable() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT nextval(''s'')'`,
	`CREATE FUNCTION atomic_stable() RETURNS int LANGUAGE sql STABLE BEGIN ATOMIC SELECT bump_counter(); END`,
	`CREATE FUNCTION with_default(a bigint DEFAULT nextval('s')) RETURNS bigint LANGUAGE sql STABLE AS 'SELECT a'`,
	`CREATE FUNCTION plpgsql_sleeper() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM pg_sleep(0); RETURN 1; END$$`,
	`CREATE FUNCTION sneaky() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE x int; BEGIN x := 1 + bump_counter(); RETURN x; END$$`,
	`CREATE FUNCTION locking_target() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE arr int[]; BEGIN arr[(pg_try_advisory_lock(4444))::int] := 1; RETURN 1; END$$`,
	`CREATE FUNCTION performer() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM bump_counter(); RETURN 1; END$$`,
	`CREATE FUNCTION hidden_do() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN DO $d$BEGIN PERFORM pg_advisory_lock(5151); END$d$; RETURN 1; END$$`,
	`CREATE FUNCTION dynamic_sql() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE r int; BEGIN EXECUTE 'SELECT 1' INTO r; RETURN r; END$$`,
	`CREATE FUNCTION fine_plpgsql(k int) RETURNS bigint LANGUAGE plpgsql STABLE AS $$DECLARE n bigint; BEGIN SELECT count(*) INTO n FROM t WHERE a > k; IF n > 0 THEN RETURN n; END IF; RETURN lower('X')::bigint; END$$`,
	`CREATE LANGUAGE plfake HANDLER plpgsql_call_handler`,
	`CREATE FUNCTION fake_lang() RETURNS int LANGUAGE plfake STABLE AS 'BEGIN RETURN 1; END'`,
	`CREATE FUNCTION vol_eq(int, int) RETURNS bool LANGUAGE sql VOLATILE AS 'SELECT bump_counter() > 0 AND $1 = $2'`,
	`CREATE OPERATOR === (LEFTARG = int, RIGHTARG = int, FUNCTION = vol_eq)`,
	`CREATE VIEW v_volatile AS SELECT id, bump_counter() AS n FROM t`,
	`CREATE VIEW v_nested AS SELECT * FROM v_volatile`,
	`CREATE VIEW v_safe AS SELECT id, a FROM t WHERE a > 0`,
	`CREATE FUNCTION t_bump(t) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
	`CREATE FUNCTION bump_add(int, int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1 + $2 + bump_counter()'`,
	`CREATE AGGREGATE bump_sum(int) (SFUNC = bump_add, STYPE = int)`,
	`CREATE DOMAIN posint AS int CHECK (VALUE > 0 AND bump_counter() > 0)`,
	`CREATE FUNCTION abs(text) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
	`CREATE TABLE secret (id int)`,
	`ALTER TABLE secret ENABLE ROW LEVEL SECURITY`,
	`CREATE POLICY p ON secret USING (bump_counter() > 0)`,
	`CREATE EXTENSION file_fdw`,
	`CREATE SERVER files FOREIGN DATA WRAPPER file_fdw`,
	`CREATE FOREIGN TABLE ft (a int) SERVER files OPTIONS (program 'echo 1')`,
	`CREATE SCHEMA other`,
	`CREATE FUNCTION other.hidden() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
	`CREATE FUNCTION harmless_volatile() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1'`,
	// Names in a body resolve under the function's own search_path.
	`CREATE SCHEMA app`,
	`CREATE VIEW app.v_locking AS SELECT pg_try_advisory_lock(4646) AS x`,
	`CREATE FUNCTION own_path() RETURNS bool LANGUAGE sql STABLE SET search_path = app AS 'SELECT x FROM v_locking'`,
	`CREATE FUNCTION ghost_operator(k int) RETURNS boolean LANGUAGE plpgsql STABLE AS $$BEGIN RETURN k <=> 1; END$$`,
	`CREATE FUNCTION lost_path() RETURNS bigint LANGUAGE plpgsql STABLE SET search_path = nowhere AS $$BEGIN RETURN (SELECT count(*) FROM t); END$$`,
	`CREATE FUNCTION with_cte() RETURNS bigint LANGUAGE sql STABLE AS 'WITH w AS (SELECT 1) SELECT count(*) FROM w'`,
	// tablefunc's crosstab and connectby are STABLE C functions that run
	// SQL text, which may come from a column.
	`CREATE EXTENSION tablefunc`,
	`CREATE TABLE q (id int PRIMARY KEY, sql text)`,
	// A domain's CHECK runs wherever a value becomes one: a function's
	// result or argument, a PL/pgSQL variable, a type the body finds on
	// its own search path.
	`CREATE FUNCTION dom_result() RETURNS posint LANGUAGE sql STABLE AS 'SELECT 1'`,
	`CREATE FUNCTION dom_argument(posint) RETURNS int LANGUAGE sql STABLE AS 'SELECT 1'`,
	`CREATE FUNCTION dom_variable() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE x posint; BEGIN x := 1; RETURN x; END$$`,
	`CREATE FUNCTION typed_variables() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE x t.a%TYPE; r t%ROWTYPE; n numeric(10,2); BEGIN x := 1; RETURN x; END$$`,
	`CREATE TABLE dt (p posint)`,
	`CREATE FUNCTION dom_column_type() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE x dt.p%TYPE; BEGIN x := 1; RETURN x; END$$`,
	`CREATE DOMAIN app.bumpy AS int CHECK (public.bump_counter() > 0)`,
	`CREATE FUNCTION dom_on_path() RETURNS int LANGUAGE sql STABLE SET search_path = app AS 'SELECT 1::bumpy'`,
	// Planning folds the constant parts of the expressions stored with a
	// table and the tables below it (indexes, CHECKs, statistics) and of
	// the negator the planner puts in place of NOT (a ==== b).
	`CREATE FUNCTION lying_immutable(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 + bump_counter()'`,
	`CREATE TABLE ix_trap (id int, a int)`,
	`CREATE INDEX ON ix_trap ((a + lying_immutable(1)))`,
	`CREATE TABLE ck_parent (id int, a int)`,
	`CREATE TABLE ck_child (CHECK (a > lying_immutable(0))) INHERITS (ck_parent)`,
	`CREATE TABLE st_trap (id int, a int)`,
	`CREATE STATISTICS st_trap_stats ON (a + lying_immutable(2)) FROM st_trap`,
	`CREATE TABLE ix_safe (id int, email text, deleted_at timestamptz)`,
	`CREATE INDEX ON ix_safe (lower(email)) WHERE deleted_at IS NULL`,
	`CREATE FUNCTION safe_eq(int, int) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT $1 = $2'`,
	`CREATE FUNCTION vol_ne(int, int) RETURNS bool LANGUAGE sql VOLATILE AS 'SELECT bump_counter() > 0 AND $1 <> $2'`,
	`CREATE OPERATOR !== (LEFTARG = int, RIGHTARG = int, FUNCTION = vol_ne)`,
	`CREATE OPERATOR ==== (LEFTARG = int, RIGHTARG = int, FUNCTION = safe_eq, NEGATOR = !==)`,
	`UPDATE counters SET n = 0`, // creating those folded their constants: the trap sprang there
	// The planner estimates && on a range column with its subtype_diff.
	`CREATE FUNCTION bump_diff(int, int) RETURNS float8 LANGUAGE sql IMMUTABLE AS 'SELECT ($1 - $2 + bump_counter() * 0)::float8'`,
	`CREATE TYPE bumprange AS RANGE (SUBTYPE = int, SUBTYPE_DIFF = bump_diff)`,
	`CREATE TABLE tr (id int, r bumprange)`,

	// to_json and the like call a type's cast to json, whatever its
	// context, and json_populate_record makes values of a table's column
	// types, domains included, with no type named in the statement.
	`CREATE TYPE mood AS ENUM ('ok')`,
	`CREATE TABLE m (id int, v mood)`,
	`CREATE FUNCTION mood_json(mood) RETURNS json LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM bump_counter(); RETURN '"x"'; END$$`,
	`CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood)`,
	`CREATE TABLE m_holder (id int, inner_m m)`,
	`CREATE TABLE dt_plain (id int, p posint)`,
	`CREATE FUNCTION a_mood() RETURNS mood LANGUAGE plpgsql STABLE AS $$BEGIN RETURN NULL; END$$`,
	// ... and into a range's element type, and a function's OUT parameters.
	`CREATE TYPE moodrange AS RANGE (SUBTYPE = mood)`,
	`CREATE TABLE tr_m (id int, r moodrange)`,
	`CREATE TYPE posrange AS RANGE (SUBTYPE = posint)`,
	`CREATE FUNCTION out_dom(OUT p posint, OUT n int) LANGUAGE sql STABLE AS 'SELECT 1, 2'`,
	// A body names types on the search path it runs under: its own, or,
	// without one, its caller's.
	`CREATE TYPE amood AS ENUM ('ok')`, // harmless, where the session's path finds it
	`CREATE TYPE app.amood AS ENUM ('ok')`,
	`CREATE FUNCTION app.amood_json(app.amood) RETURNS json LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM public.bump_counter(); RETURN '"x"'; END$$`,
	`CREATE CAST (app.amood AS json) WITH FUNCTION app.amood_json(app.amood)`,
	`CREATE FUNCTION app_json() RETURNS int LANGUAGE sql STABLE SET search_path = app AS $$SELECT length(to_json('ok'::amood)::text)$$`,
	// ... and so do the functions that convert the values it reads.
	`CREATE VIEW v_locking AS SELECT true AS x`, // harmless, where the session's path finds it
	`CREATE TYPE app.jmood AS ENUM ('ok')`,
	`CREATE FUNCTION app.jmood_jsonb(app.jmood) RETURNS jsonb LANGUAGE sql STABLE AS 'SELECT to_jsonb(x) FROM v_locking'`,
	`CREATE CAST (app.jmood AS jsonb) WITH FUNCTION app.jmood_jsonb(app.jmood)`,
	`CREATE TABLE app.tj (v app.jmood)`,
	`CREATE FUNCTION app_tj() RETURNS int LANGUAGE sql STABLE SET search_path = app AS 'SELECT count(to_jsonb(v))::int FROM tj'`,
	`CREATE DOMAIN "bumpy " AS int`, // harmless, where the session's path finds it
	`CREATE DOMAIN app."bumpy " AS int CHECK (public.bump_counter() > 0)`,
	`CREATE FUNCTION spaced() RETURNS int LANGUAGE plpgsql STABLE SET search_path = app, public AS $$DECLARE x "bumpy "; BEGIN x := 1; RETURN x; END$$`,
	`SET check_function_bodies = off`,
	`CREATE FUNCTION inner_type() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1::bumpy'`,
	`CREATE FUNCTION inner_ghost() RETURNS int LANGUAGE sql STABLE AS 'SELECT 1::ghost_type'`,
	`RESET check_function_bodies`,
	`CREATE FUNCTION outer_type() RETURNS int LANGUAGE sql STABLE SET search_path = app, public AS 'SELECT public.inner_type()'`,
	// A function's own SET standard_conforming_strings = off makes its body
	// read '\' || as an escaped quote: the gate, parsing with it on, would
	// see two literals where the server sees a call.
	`CREATE FUNCTION scs_off() RETURNS text LANGUAGE sql IMMUTABLE SET standard_conforming_strings = off AS $b$SELECT 'a\' || ' || bump_counter()::text || ' --'$b$`,
	`CREATE FUNCTION roomy() RETURNS int LANGUAGE sql STABLE SET work_mem = '64MB' SET enable_seqscan = off AS 'SELECT 1'`,

	// Writing a value casts it to its column's type, and a column with no
	// default of its own takes its domain's: planning folds both. The
	// built-in types a table's columns have get casts and CHECKs too.
	`CREATE FUNCTION mood_money(mood) RETURNS money LANGUAGE sql IMMUTABLE AS 'SELECT bump_counter()::money'`,
	`CREATE CAST (mood AS money) WITH FUNCTION mood_money(mood) AS ASSIGNMENT`,
	`CREATE TABLE tb (a money)`,
	`CREATE DOMAIN stamped AS int DEFAULT lying_immutable(7)`,
	`CREATE TABLE dd (id int, s stamped)`,
	`ALTER DOMAIN information_schema.cardinal_number ADD CONSTRAINT bumped CHECK (public.bump_counter() > 0) NOT VALID`,
	`CREATE TABLE card (id int, n information_schema.cardinal_number)`,
	// A domain over a range estimates with the range's subtype_diff.
	`CREATE DOMAIN bumpdom AS bumprange`,
	`CREATE TABLE trd (id int, r bumpdom)`,

	// An aggregate's final function may be a denied built-in, not volatile.
	`CREATE AGGREGATE origin_of(text) (SFUNC = textcat, STYPE = text, FINALFUNC = pg_replication_origin_oid)`,

	// A search_path setting reads as the server reads it: a comma inside
	// quotes, a name longer than 63 bytes cut.
	`CREATE SCHEMA ca`,
	`CREATE VIEW ca.v_comma AS SELECT true AS x`,
	`CREATE SCHEMA "ca,cb"`,
	`CREATE VIEW "ca,cb".v_comma AS SELECT pg_try_advisory_lock(4848) AS x`,
	`CREATE FUNCTION comma_path() RETURNS bool LANGUAGE sql STABLE SET search_path = "ca,cb" AS 'SELECT x FROM v_comma'`,
	`CREATE SCHEMA good`,
	`CREATE VIEW good.v_long AS SELECT true AS x`,
	`CREATE SCHEMA ` + longSchema,
	`CREATE VIEW ` + longSchema + `.v_long AS SELECT pg_try_advisory_lock(4949) AS x`,
	`CREATE FUNCTION long_path() RETURNS bool LANGUAGE sql STABLE SET search_path = '` + longSchema + `xyz', good AS 'SELECT x FROM v_long'`,

	// A SECURITY DEFINER function runs as its owner: "$user" is the owner's.
	`CREATE ROLE gate_definer`,
	`CREATE SCHEMA gate_definer AUTHORIZATION gate_definer`,
	`CREATE VIEW v_definer AS SELECT true AS x`,
	`CREATE VIEW gate_definer.v_definer AS SELECT pg_try_advisory_lock(4747) AS x`,
	`GRANT SELECT ON v_definer, gate_definer.v_definer TO gate_definer`,
	`CREATE FUNCTION definer() RETURNS bool LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT x FROM v_definer'`,
	`ALTER FUNCTION definer() OWNER TO gate_definer`,
	`CREATE FUNCTION definer_mine() RETURNS bool LANGUAGE sql STABLE SECURITY DEFINER AS 'SELECT x FROM v_definer'`, // the gate's role's

	// A rule adds its actions to a write, which planning folds.
	`CREATE TABLE ruled (a int)`,
	`CREATE RULE ruled_log AS ON INSERT TO ruled DO ALSO SELECT 1`,
}

// longSchema is a schema name of 63 bytes, the most a name holds.
var longSchema = strings.Repeat("e", 63)

type gateCase struct {
	query     string
	analyze   bool
	plannable bool
	reason    string // substring of Decision.Reason
	needsDB   bool   // GateStatic lets it through; only the catalog check refuses it
	// unplannable, when set, is part of the reason the catalog check
	// refuses even to plan a statement GateStatic finds plannable.
	unplannable string
}

var gateCases = []gateCase{
	// Not one statement, or not a statement at all.
	{query: "", reason: "empty query text"},
	{query: "  \n\t ", reason: "empty query text"},
	{query: "/* just a comment */", reason: "no statement"},
	{query: "SELECT 1; DROP TABLE x", reason: "2 statements"},
	{query: "SELECT 1; SELECT 2", reason: "2 statements"},
	{query: "SELECT 1;;;", analyze: true, plannable: true},
	{query: "SELEC 1", reason: "cannot parse"},
	{query: "SELECT * FROM t WHERE (", reason: "cannot parse"},
	{query: "SELECT 'unterminated", reason: "cannot parse"},
	// Statements EXPLAIN cannot take.
	{query: "COPY t TO STDOUT", reason: "COPY statement cannot be explained"},
	{query: "COPY t FROM PROGRAM 'rm -rf /'", reason: "COPY statement cannot be explained"},
	{query: "DO $$BEGIN DELETE FROM t; END$$", reason: "DO statement cannot be explained"},
	{query: "CALL p()", reason: "CALL statement cannot be explained"},
	{query: "EXPLAIN ANALYZE DELETE FROM t", reason: "EXPLAIN statement cannot be explained"},
	{query: "DROP TABLE t", reason: "DROP statement cannot be explained"},
	{query: "SET statement_timeout = 0", reason: "SET statement cannot be explained"},
	{query: "/* c */ begin", reason: "BEGIN statement cannot be explained"},
	{query: "SAVEPOINT s", reason: "SAVEPOINT statement cannot be explained"},
	// Writes: a generic plan only.
	{query: "DELETE FROM t WHERE id = $1", plannable: true, reason: "DELETE is not a SELECT"},
	{query: "UPDATE t SET a = $1 WHERE id = $2", plannable: true, reason: "UPDATE is not a SELECT"},
	{query: "INSERT INTO t (id) VALUES ($1)", plannable: true, reason: "INSERT is not a SELECT"},
	{query: "WITH d AS (DELETE FROM t RETURNING *) SELECT * FROM d", plannable: true, reason: "data-modifying CTE d (DELETE)"},
	{query: "SELECT * FROM (WITH x AS (UPDATE t SET a = 1 RETURNING id) SELECT * FROM x) s", plannable: true, reason: "data-modifying CTE x (UPDATE)"},
	{query: "WITH a AS (SELECT 1), b AS (INSERT INTO t (id) VALUES (1) RETURNING id) SELECT * FROM a", plannable: true, reason: "data-modifying CTE b (INSERT)"},
	{query: "SELECT * INTO newt FROM t", reason: "SELECT INTO"},
	// Row locks at any depth.
	{query: "SELECT * FROM t FOR UPDATE", plannable: true, reason: "FOR UPDATE"},
	{query: "SELECT * FROM t FOR SHARE OF t", plannable: true, reason: "FOR SHARE"},
	{query: "SELECT * FROM t WHERE id IN (SELECT id FROM t FOR NO KEY UPDATE)", plannable: true, reason: "FOR NO KEY UPDATE"},
	{query: "SELECT * FROM t FOR KEY SHARE SKIP LOCKED", plannable: true, reason: "FOR KEY SHARE"},
	// Denied functions wherever they hide.
	{query: "SELECT setval('s', 1)", plannable: true, reason: "denied function setval()"},
	{query: "SELECT nextval('s') WHERE $1", plannable: true, reason: "denied function nextval()"},
	{query: "SELECT pg_terminate_backend($1)", plannable: true, reason: "denied function pg_terminate_backend()"},
	{query: "SELECT pg_catalog.pg_sleep(1)", plannable: true, reason: "denied function pg_catalog.pg_sleep()"},
	{query: `SELECT "pg_sleep"(1)`, plannable: true, reason: "denied function pg_sleep()"},
	{query: `SELECT PG_SLEEP_FOR('1s')`, plannable: true, reason: "denied function pg_sleep_for()"},
	{query: "SELECT * FROM t WHERE a = (SELECT pg_sleep(1)::int)", plannable: true, reason: "pg_sleep"},
	{query: "SELECT * FROM t, LATERAL (SELECT pg_advisory_lock(t.id)) l", plannable: true, reason: "pg_advisory_lock"},
	{query: "WITH x AS (SELECT pg_cancel_backend(1)) SELECT * FROM x", plannable: true, reason: "pg_cancel_backend"},
	{query: "SELECT * FROM t ORDER BY pg_try_advisory_lock(id)", plannable: true, reason: "pg_try_advisory_lock"},
	{query: "SELECT CASE WHEN a > 0 THEN set_config('x.y', 'z', false) END FROM t", plannable: true, reason: "set_config"},
	{query: "SELECT * FROM pg_read_file('/etc/passwd')", plannable: true, reason: "pg_read_file"},
	{query: "SELECT lo_import('/etc/passwd')", plannable: true, reason: "lo_import"},
	{query: "SELECT dblink_exec('x', 'DELETE FROM t')", plannable: true, reason: "dblink_exec", unplannable: "cannot resolve function dblink_exec()"},
	{query: "SELECT query_to_xml('DELETE FROM t RETURNING *', true, true, '')", plannable: true, reason: "query_to_xml"},
	{query: "SELECT txid_current()", plannable: true, reason: "txid_current", unplannable: "calls denied function pg_catalog.txid_current()"},
	{query: "SELECT pg_current_xact_id()", plannable: true, reason: "pg_current_xact_id", unplannable: "calls denied function pg_catalog.pg_current_xact_id()"},
	{query: "SELECT pg_notify('c', 'x')", plannable: true, reason: "pg_notify"},
	{query: "SELECT coalesce(a, pg_logical_emit_message(true, 'p', 'x')::text::int) FROM t", plannable: true, reason: "pg_logical_emit_message"},
	{query: "VALUES (1), ((SELECT 1 FROM pg_sleep(1)))", plannable: true, reason: "pg_sleep"},
	{query: "SELECT * FROM t GROUP BY id HAVING count(*) > pg_reload_conf()::int", plannable: true, reason: "pg_reload_conf"},
	{query: "SELECT fmgr_sql_validator('t_bump'::regproc)", plannable: true, reason: "denied function fmgr_sql_validator()", unplannable: "calls denied function pg_catalog.fmgr_sql_validator("},
	{query: "SELECT domain_in('5', 'posint'::regtype, -1)", plannable: true, reason: "denied function domain_in()", unplannable: "calls denied function pg_catalog.domain_in("},
	{query: "SELECT * FROM t WHERE a = (record_in('(5)', 'dt'::regtype, -1)).p", plannable: true, reason: "denied function record_in()", unplannable: "calls denied function pg_catalog.record_in("},
	{query: "SELECT array_in('{5}', 'posint'::regtype, -1)", plannable: true, reason: "denied function array_in()", unplannable: "calls denied function pg_catalog.array_in("},
	// Harmless: executed under EXPLAIN ANALYZE.
	{query: "SELECT 1 /* ; DELETE FROM t */", analyze: true, plannable: true},
	{query: "SELECT 1 -- ; DELETE FROM t", analyze: true, plannable: true},
	{query: "SELECT * FROM t WHERE b = 'x''; DROP TABLE t; --'", analyze: true, plannable: true},
	{query: "TABLE t", analyze: true, plannable: true},
	{query: "SELECT id FROM acct WHERE system_user = $1", analyze: true, plannable: true},
	{query: "SELECT * FROM system_user", needsDB: true, reason: "bump_counter"},
	{query: "VALUES (1, 'a'), (2, 'b')", analyze: true, plannable: true},
	{query: "SELECT id, a FROM t WHERE id = $1", analyze: true, plannable: true},
	{query: "SELECT count(*), upper(b) FROM t WHERE doc @> $1 GROUP BY 2 ORDER BY 1 DESC LIMIT $2", analyze: true, plannable: true},
	{query: "SELECT now(), random(), clock_timestamp(), gen_random_uuid(), timeofday()", analyze: true, plannable: true},
	{query: "SELECT * FROM t WHERE b LIKE $1 AND a BETWEEN $2 AND $3 AND id = ANY($4) AND b SIMILAR TO 'x%'", analyze: true, plannable: true},
	{query: "SELECT * FROM t t1 JOIN t t2 USING (id) WHERE t1.a = $1 ORDER BY t2.b USING <", analyze: true, plannable: true},
	{query: "SELECT * FROM t TABLESAMPLE SYSTEM (10)", analyze: true, plannable: true},
	{query: "SELECT g FROM generate_series(1, $1) g WHERE g::numeric > 1.5 AND extract(year FROM now()) > 2000", analyze: true, plannable: true},
	{query: "SELECT safe_double(a), x.a FROM t x WHERE EXISTS (SELECT 1 FROM v_safe v WHERE v.id = x.id)", analyze: true, plannable: true},
	{query: "SELECT * FROM t WHERE doc->>'k' = $1 AND a IS DISTINCT FROM $2 AND a > ALL (SELECT a FROM t)", analyze: true, plannable: true},
	// Only the catalog can tell. Planning may run user-defined functions,
	// so one whose body fails the check leaves no plan either.
	{query: "SELECT harmless_volatile()", plannable: true, needsDB: true, reason: "calls volatile function public.harmless_volatile()"},
	{query: "SELECT bump_counter()", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT public.bump_counter()", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: `SELECT "bump_counter"()`, needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT * FROM t WHERE id = (SELECT bump_counter())", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT * FROM t, LATERAL (SELECT bump_counter()) b", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT * FROM t ORDER BY bump_counter()", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT CASE WHEN a > 0 THEN bump_counter() ELSE 0 END FROM t", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "WITH c AS MATERIALIZED (SELECT bump_counter()) SELECT * FROM c", needsDB: true, reason: "modifies data (via body of public.bump_counter())"},
	{query: "SELECT lying_stable()", needsDB: true, reason: "denied function nextval() (via body of public.lying_stable())"},
	{query: "SELECT atomic_stable()", needsDB: true, reason: "volatile function public.bump_counter() (via body of public.atomic_stable())"},
	{query: "SELECT with_default()", needsDB: true, reason: "denied function nextval() (via default arguments of public.with_default(a bigint))"},
	{query: "SELECT plpgsql_sleeper()", needsDB: true, reason: "denied function pg_sleep() (via body of public.plpgsql_sleeper())"},
	{query: "SELECT sneaky()", needsDB: true, reason: "volatile function public.bump_counter() (via body of public.sneaky())"},
	{query: "SELECT locking_target()", needsDB: true, reason: "denied function pg_try_advisory_lock() (via body of public.locking_target())"},
	{query: "SELECT hidden_do()", needsDB: true, reason: "runs a DO statement (via body of public.hidden_do())"},
	{query: "SELECT performer()", needsDB: true, reason: "volatile function public.bump_counter() (via body of public.performer())"},
	{query: "SELECT dynamic_sql()", needsDB: true, reason: "runs dynamic SQL (EXECUTE) in body of public.dynamic_sql()"},
	{query: "SELECT fake_lang()", needsDB: true, reason: "body in language plfake cannot be inspected"},
	{query: "SELECT fine_plpgsql($1)", analyze: true, plannable: true},
	{query: "SELECT * FROM t WHERE a === 1", needsDB: true, reason: "volatile function public.bump_counter() (via body of public.vol_eq(integer, integer))"},
	{query: "SELECT * FROM t WHERE a OPERATOR(public.===) 1", needsDB: true, reason: "body of public.vol_eq(integer, integer)"},
	{query: "SELECT * FROM v_volatile", needsDB: true, reason: "(via body of public.bump_counter(), view public.v_volatile)"},
	{query: "SELECT * FROM public.v_nested WHERE id = $1", needsDB: true, reason: "view public.v_volatile, view public.v_nested)"},
	{query: "SELECT x.t_bump FROM t x", needsDB: true, reason: "body of public.t_bump(t)"},
	{query: "SELECT bump_sum(a) FROM t", needsDB: true, reason: "body of public.bump_add(integer, integer), aggregate public.bump_sum(integer))"},
	{query: "SELECT 1::posint", needsDB: true, reason: "a CHECK of domain posint)"},
	{query: "SELECT abs(a) FROM t", needsDB: true, reason: "body of public.abs(text)"},
	{query: "SELECT * FROM secret", needsDB: true, reason: "a row security policy of public.secret)"},
	{query: "SELECT * FROM ft", needsDB: true, reason: "foreign table public.ft"},
	{query: "SELECT no_such_function(1)", needsDB: true, reason: "cannot resolve function no_such_function()"},
	{query: "SELECT own_path()", needsDB: true, reason: "denied function pg_try_advisory_lock() (via view app.v_locking, body of public.own_path())"},
	{query: "SELECT * FROM t WHERE a <=> 1", needsDB: true, reason: "cannot resolve operator <=>"},
	{query: "SELECT ghost_operator(1)", needsDB: true, reason: "cannot resolve operator <=> (via body of public.ghost_operator(k integer))"},
	{query: "SELECT lost_path()", needsDB: true, reason: `cannot resolve relation "t" (via body of public.lost_path())`},
	{query: "SELECT with_cte()", analyze: true, plannable: true},
	{query: "SELECT other.hidden()", needsDB: true, reason: "body of other.hidden()"},
	{query: "SELECT * FROM q, crosstab(q.sql) AS ct(r text, a text) WHERE q.id = $1", plannable: true, reason: "denied function crosstab()", unplannable: "calls denied function public.crosstab(text)"},
	{query: "SELECT * FROM connectby('q', 'id', 'id', '1', 0) AS c(id int, parent int, level int)", plannable: true, reason: "denied function connectby()", unplannable: "calls denied function public.connectby("},
	{query: "SELECT dom_result()", needsDB: true, reason: "a CHECK of domain posint, the signature of public.dom_result())"},
	{query: "SELECT dom_argument(1)", needsDB: true, reason: "a CHECK of domain posint, the signature of public.dom_argument(posint))"},
	{query: "SELECT dom_variable()", needsDB: true, reason: "a CHECK of domain posint, body of public.dom_variable())"},
	{query: "SELECT typed_variables()", analyze: true, plannable: true},
	{query: "SELECT dom_column_type()", needsDB: true, reason: "a CHECK of domain posint, body of public.dom_column_type())"},
	{query: "SELECT (NULL::dt).p", needsDB: true, reason: "a CHECK of domain posint)"},
	{query: "SELECT dom_on_path()", needsDB: true, reason: "a CHECK of domain app.bumpy, body of public.dom_on_path())"},
	{query: "SELECT * FROM ix_trap WHERE id = $1", needsDB: true, reason: "body of public.lying_immutable(integer), an index, CHECK, partition key or statistics expression of public.ix_trap)"},
	{query: "SELECT * FROM ck_parent WHERE id = $1", needsDB: true, reason: "statistics expression of public.ck_parent)"},
	{query: "SELECT * FROM st_trap WHERE id = $1", needsDB: true, reason: "statistics expression of public.st_trap)"},
	{query: "SELECT * FROM ix_safe WHERE lower(email) = $1 AND deleted_at IS NULL", analyze: true, plannable: true},
	{query: "SELECT * FROM tr WHERE r && $1", needsDB: true, reason: "body of public.bump_diff(integer, integer), an implicit comparison or conversion)"},
	{query: "SELECT * FROM trd WHERE r && $1", needsDB: true, reason: "body of public.bump_diff(integer, integer), an implicit comparison or conversion)"},
	{query: "SELECT * FROM t WHERE NOT (a ==== id)", needsDB: true, reason: "body of public.vol_ne(integer, integer)"},
	{query: "SELECT to_json(v) FROM m WHERE id = $1", needsDB: true, reason: "public.mood_json(mood)"},
	{query: "SELECT json_agg(h) FROM m_holder h", needsDB: true, reason: "public.mood_json(mood)"},
	{query: `SELECT json_populate_record(d, '{"p": 5}') FROM dt_plain d`, needsDB: true, reason: "a CHECK of domain posint, the column types of a relation it reads)"},
	{query: "SELECT to_jsonb(a_mood())", needsDB: true, reason: "public.mood_json(mood)"},
	{query: "SELECT to_json(lower(r)) FROM tr_m", needsDB: true, reason: "public.mood_json(mood)"},
	{query: "SELECT '[1,5)'::posrange", needsDB: true, reason: "a CHECK of domain posint)"},
	{query: "SELECT out_dom()", needsDB: true, reason: "a CHECK of domain posint, the signature of public.out_dom(OUT p posint, OUT n integer))"},
	{query: "SELECT array_to_json(most_common_vals) FROM pg_stats WHERE tablename = 'm'", plannable: true, needsDB: true, reason: "reads pg_catalog.pg_stats, whose pseudo-type (anyarray) columns hold values of types the gate cannot know"},
	{query: "SELECT app_json()", needsDB: true, reason: "app.amood_json(app.amood)"},
	{query: "SELECT outer_type()", needsDB: true, reason: "a CHECK of domain app.bumpy, body of public.inner_type(), body of public.outer_type())"},
	{query: "SELECT inner_ghost()", needsDB: true, reason: `cannot resolve type "ghost_type" (via body of public.inner_ghost())`},
	{query: "SELECT scs_off()", needsDB: true, reason: "calls public.scs_off(), whose own SET standard_conforming_strings may change what its body does from what the gate reads"},
	{query: "SELECT roomy()", analyze: true, plannable: true},
	{query: "SELECT app_tj()", needsDB: true, reason: "(via view app.v_locking, body of app.jmood_jsonb(app.jmood), an implicit comparison or conversion)"},
	{query: "SELECT spaced()", needsDB: true, reason: `a CHECK of domain app."bumpy ", body of public.spaced())`},
	{query: "INSERT INTO tb (a) VALUES ('ok'::mood)", plannable: true, reason: "INSERT is not a SELECT", unplannable: "body of public.mood_money(mood)"},
	{query: "INSERT INTO dd (id) VALUES ($1)", plannable: true, reason: "INSERT is not a SELECT", unplannable: "body of public.lying_immutable(integer), the default of domain stamped"},
	{query: `SELECT json_populate_record(c, '{"n": 5}') FROM card c`, needsDB: true, reason: "a CHECK of domain information_schema.cardinal_number"},
	{query: "SELECT origin_of(b) FROM t", needsDB: true, reason: "calls denied function pg_catalog.pg_replication_origin_oid(text) (via aggregate public.origin_of(text))"},
	{query: "SELECT comma_path()", needsDB: true, reason: `(via view "ca,cb".v_comma, body of public.comma_path())`},
	{query: "SELECT long_path()", needsDB: true, reason: "(via view " + longSchema + ".v_long, body of public.long_path())"},
	{query: "SELECT definer()", needsDB: true, reason: "calls public.definer(), a SECURITY DEFINER function of role gate_definer, whose code resolves names as that role"},
	{query: "SELECT definer_mine()", analyze: true, plannable: true},
	{query: "INSERT INTO ruled VALUES ($1)", plannable: true, reason: "INSERT is not a SELECT", unplannable: "writes to public.ruled, whose rewrite rules (ruled_log) would add their actions"},
}

func TestGateStatic(t *testing.T) {
	if len(gateCases) < 40 {
		t.Fatalf("only %d gate cases", len(gateCases))
	}
	for _, tc := range gateCases {
		got := GateStatic(tc.query)
		if tc.needsDB {
			if !got.Analyze || !got.Plannable || got.Reason != "" {
				t.Errorf("GateStatic(%q) = %+v, want it to pass to the catalog check", tc.query, got)
			}
			continue
		}
		checkDecision(t, "GateStatic", tc, got)
	}
}

func TestGateCatalog(t *testing.T) {
	db := gateDatabase(t, "gate", gateSchema...)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tc := range gateCases {
		if tc.unplannable != "" {
			tc.plannable, tc.reason = false, tc.unplannable
		}
		checkDecision(t, "Gate", tc, Gate(ctx, conn, tc.query))
	}
	if n := queryRow[int](t, conn, "SELECT n FROM counters"); n != 0 {
		t.Errorf("counters.n = %d after the gate ran: want 0", n)
	}
}

// TestGateDatabaseHazard: a volatile implicit cast can run on any
// comparison, and a volatile cast to json on any to_json, so its database
// gets no EXPLAIN ANALYZE at all.
func TestGateDatabaseHazard(t *testing.T) {
	db := gateDatabase(t, "gate_hazard",
		`CREATE TYPE money2 AS (cents int)`,
		`CREATE FUNCTION money2_text(money2) RETURNS text LANGUAGE sql VOLATILE AS 'SELECT ($1).cents::text'`,
		`CREATE CAST (money2 AS text) WITH FUNCTION money2_text(money2) AS IMPLICIT`)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	d := Gate(ctx, conn, "SELECT 1")
	if d.Analyze || !d.Plannable || !strings.Contains(d.Reason, "cast from money2 to text that PostgreSQL applies unasked uses volatile function money2_text(money2)") {
		t.Errorf("Gate = %+v, want a refusal naming the implicit cast", d)
	}

	// An explicit cast to json runs unasked too: to_json calls it.
	db = gateDatabase(t, "gate_hazard_json",
		`CREATE TYPE mood AS ENUM ('ok')`,
		`CREATE FUNCTION mood_json(mood) RETURNS json LANGUAGE sql VOLATILE AS 'SELECT to_json(1)'`,
		`CREATE CAST (mood AS json) WITH FUNCTION mood_json(mood)`)
	jconn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer jconn.Close(ctx)
	d = Gate(ctx, jconn, "SELECT 1")
	if d.Analyze || !d.Plannable || !strings.Contains(d.Reason, "cast from mood to json that PostgreSQL applies unasked uses volatile function mood_json(mood)") {
		t.Errorf("Gate = %+v, want a refusal naming the cast to json", d)
	}

	// A typmod input function runs wherever text becomes a regtype, even
	// in parsing: no statement is planned.
	db = gateDatabase(t, "gate_hazard_typmod",
		`CREATE TABLE counters (n int)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
		`CREATE TYPE tmt`,
		`CREATE FUNCTION tmt_in(cstring) RETURNS tmt LANGUAGE internal IMMUTABLE STRICT AS 'int4in'`,
		`CREATE FUNCTION tmt_out(tmt) RETURNS cstring LANGUAGE internal IMMUTABLE STRICT AS 'int4out'`,
		`CREATE FUNCTION tmt_typmod(cstring[]) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump_counter(); RETURN 1; END$$`,
		`CREATE TYPE tmt (INPUT = tmt_in, OUTPUT = tmt_out, TYPMOD_IN = tmt_typmod, LIKE = int4)`)
	tconn := connect(t, sandbox.ReplicaDSN(db))
	for _, q := range []string{"SELECT 1", "SELECT 'tmt(3)'::regtype"} {
		d = Gate(ctx, tconn, q)
		if d.Analyze || d.Plannable || !strings.Contains(d.Reason, "the database has a type tmt whose typmod input function tmt_typmod(cstring[])") {
			t.Errorf("Gate(%q) = %+v, want a refusal to plan naming the typmod input function", q, d)
		}
	}
}

// TestGateCastsToText: the built-in SQL functions behind text ||
// anyelement and quote_literal call a type's cast to text. A cast to text
// that fails the check is a hazard wherever a value becomes text, so it
// has a database of its own.
func TestGateCastsToText(t *testing.T) {
	db := gateDatabase(t, "gate_text",
		`CREATE TABLE counters (n int)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
		`CREATE TYPE shade AS ENUM ('dark')`,
		`CREATE TABLE shaded (id int, v shade)`,
		`CREATE FUNCTION shade_text(shade) RETURNS text LANGUAGE plpgsql STABLE AS $$BEGIN PERFORM bump_counter(); RETURN 'x'; END$$`,
		`CREATE CAST (shade AS text) WITH FUNCTION shade_text(shade)`)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"SELECT quote_literal(v) FROM shaded", "SELECT 'x' || v FROM shaded WHERE id = $1"} {
		checkDecision(t, "Gate", gateCase{query: q, reason: "body of public.shade_text(shade)"}, Gate(ctx, conn, q))
	}
}

// TestGateWholeRowComparisons: ORDER BY, DISTINCT and GROUP BY of a
// whole row (x of FROM r AS x) compare with the default operator class of
// the relation's row type, whose support function is user code.
func TestGateWholeRowComparisons(t *testing.T) {
	setup := []string{
		`CREATE TABLE counters (n int)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
		`CREATE TABLE r (k int)`,
		`CREATE FUNCTION r_cmp(r, r) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump_counter(); RETURN ($1).k - ($2).k; END$$`,
	}
	for op, name := range map[string]string{"<": "lt", "<=": "le", "=": "eq", ">=": "ge", ">": "gt"} {
		setup = append(setup,
			fmt.Sprintf(`CREATE FUNCTION r_%s(r, r) RETURNS bool LANGUAGE sql IMMUTABLE AS 'SELECT ($1).k %s ($2).k'`, name, op),
			fmt.Sprintf(`CREATE OPERATOR public.%s (LEFTARG = r, RIGHTARG = r, FUNCTION = r_%s)`, op, name))
	}
	setup = append(setup, `CREATE OPERATOR CLASS r_ops DEFAULT FOR TYPE r USING btree AS OPERATOR 1 public.<, OPERATOR 2 public.<=,
		OPERATOR 3 public.=, OPERATOR 4 public.>=, OPERATOR 5 public.>, FUNCTION 1 r_cmp(r, r)`)
	db := gateDatabase(t, "gate_whole_row", setup...)
	ctx := context.Background()
	conn := replicaConn(t, db)
	for _, q := range []string{"SELECT x FROM r AS x ORDER BY x", "SELECT DISTINCT x FROM r AS x"} {
		checkDecision(t, "Gate", gateCase{query: q, reason: "body of public.r_cmp(r, r)"}, Gate(ctx, conn, q))
	}
}

func checkDecision(t *testing.T, fn string, tc gateCase, got Decision) {
	t.Helper()
	if got.Analyze != tc.analyze || got.Plannable != tc.plannable || !strings.Contains(got.Reason, tc.reason) {
		t.Errorf("%s(%q) = %+v, want Analyze=%v Plannable=%v reason containing %q",
			fn, tc.query, got, tc.analyze, tc.plannable, tc.reason)
	}
	if got.Analyze && got.Reason != "" {
		t.Errorf("%s(%q): reason %q on an Analyze decision", fn, tc.query, got.Reason)
	}
	if !got.Analyze && !strings.HasPrefix(got.Reason, "refused: ") {
		t.Errorf("%s(%q): reason %q does not start with \"refused: \"", fn, tc.query, got.Reason)
	}
}

// gateDatabase creates database name on the shared sandbox, runs the
// statements in it and waits until the replica has them.
func gateDatabase(t testing.TB, name string, statements ...string) string {
	t.Helper()
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, name); err != nil {
		t.Fatal(err)
	}
	// The sandbox commits asynchronously, and WaitReplay waits for the WAL
	// written so far: commit synchronously so the commits are in it.
	if err := c.Exec(ctx, name, append([]string{"SET synchronous_commit = on"}, statements...)...); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	return name
}

// queryRow is a test shortcut for one value. It leaves no prepared
// statement on conn, so tests can count the runner's.
func queryRow[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, append([]any{pgx.QueryExecModeExec}, args...)...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// TestGateImplicitEquality: PostgreSQL looks up the = of CASE x WHEN,
// IN (subquery), JOIN USING and NATURAL JOIN by name, and deparsed text
// (a view) leaves it, NULLIF's and IS DISTINCT FROM's unqualified.
func TestGateImplicitEquality(t *testing.T) {
	counter := []string{
		`CREATE TABLE counters (n int)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
	}
	db := gateDatabase(t, "gate_equality", append(counter,
		`CREATE FUNCTION eq_int_num(int, numeric) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump_counter(); RETURN $1::numeric OPERATOR(pg_catalog.=) $2; END$$`,
		`CREATE OPERATOR = (LEFTARG = int, RIGHTARG = numeric, FUNCTION = eq_int_num)`)...)
	conn := connect(t, sandbox.ReplicaDSN(db))
	for _, q := range []string{
		"SELECT CASE 1 WHEN 2.5 THEN 'x' END",
		"SELECT 1 IN (SELECT 2.5)",
		"SELECT * FROM (SELECT 1 AS k) a JOIN (SELECT 2.5 AS k) b USING (k)",
		"SELECT * FROM (SELECT 1 AS k) a NATURAL JOIN (SELECT 2.5 AS k) b",
	} {
		if d := Gate(context.Background(), conn, q); d.Plannable || !strings.Contains(d.Reason, "body of public.eq_int_num(integer, numeric)") {
			t.Errorf("Gate(%q) = %+v, want a refusal naming public.eq_int_num", q, d)
		}
	}

	db = gateDatabase(t, "gate_equality_views", append(counter,
		`CREATE SCHEMA other`,
		`CREATE FUNCTION other.eq_int_float(int, float8) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM public.bump_counter(); RETURN $1::float8 OPERATOR(pg_catalog.=) $2; END$$`,
		`CREATE OPERATOR other.= (LEFTARG = int, RIGHTARG = float8, FUNCTION = other.eq_int_float)`,
		`SET search_path = public, other`,
		`CREATE VIEW v_case AS SELECT CASE 1 WHEN pi() THEN 'x' END AS c`,
		`CREATE VIEW v_nullif AS SELECT NULLIF(1, pi()) IS NULL AS c`,
		`CREATE VIEW v_distinct AS SELECT 1 IS DISTINCT FROM pi() AS c`,
		`RESET search_path`)...)
	conn = connect(t, sandbox.ReplicaDSN(db))
	for _, v := range []string{"v_case", "v_nullif", "v_distinct"} {
		if d := Gate(context.Background(), conn, "SELECT * FROM "+v); d.Plannable || !strings.Contains(d.Reason, "body of other.eq_int_float(integer, double precision)") {
			t.Errorf("Gate(%s) = %+v, want a refusal naming other.eq_int_float", v, d)
		}
	}
}

// TestGateHiddenCalls: calls the text shows otherwise than the server
// reads it. pg_query parses with PostgreSQL 16's grammar, where
// json_array(...) and the like are constructors, while PostgreSQL 15
// resolves them on the search path; NOT BETWEEN compares with < and >;
// and a one-argument call with no function of exactly its argument type
// is a cast to the type of that name, a domain's CHECK included, and so
// is x.name, which PostgreSQL reads as name(x).
func TestGateHiddenCalls(t *testing.T) {
	db := gateDatabase(t, "gate_hidden_calls",
		`CREATE TABLE counters (n int)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
		`CREATE FUNCTION bump_add(int, int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT $1 + $2 + bump_counter()'`,
		`CREATE FUNCTION json_array(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
		`CREATE FUNCTION json_object(int) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
		`CREATE AGGREGATE json_arrayagg(int) (SFUNC = bump_add, STYPE = int, INITCOND = '0')`,
		`CREATE VIEW v_json AS SELECT json_array(1) AS x`,
		`CREATE FUNCTION lt_int_num(int, numeric) RETURNS bool LANGUAGE plpgsql IMMUTABLE AS $$BEGIN PERFORM bump_counter(); RETURN $1::numeric OPERATOR(pg_catalog.<) $2; END$$`,
		`CREATE OPERATOR < (LEFTARG = int, RIGHTARG = numeric, FUNCTION = lt_int_num)`,
		`CREATE DOMAIN posint AS int CHECK (VALUE > 0 AND bump_counter() > 0)`,
		`CREATE FUNCTION posint(text) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT 1'`, // a decoy of the type's name
		`CREATE FUNCTION coerce_body() RETURNS int LANGUAGE sql STABLE AS 'SELECT posint(5)'`)
	conn := connect(t, sandbox.ReplicaDSN(db))
	for q, want := range map[string]string{
		"SELECT json_array(1)":                              "body of public.json_array(integer)",
		"SELECT json_object(1)":                             "body of public.json_object(integer)",
		"SELECT json_arrayagg(x) FROM (VALUES (1)) AS v(x)": "body of public.bump_add(integer, integer), aggregate public.json_arrayagg(integer)",
		"SELECT * FROM v_json":                              "body of public.json_array(integer)",
		"SELECT 1 NOT BETWEEN 2.5 AND 3.5":                  "body of public.lt_int_num(integer, numeric)",
		"SELECT posint(5)":                                  "a CHECK of domain posint",
		"SELECT coerce_body()":                              "a CHECK of domain posint",
		"SELECT (5).posint":                                 "a CHECK of domain posint",
		"SELECT s.posint FROM generate_series(5, 5) AS s":   "a CHECK of domain posint",
	} {
		if d := Gate(context.Background(), conn, q); d.Analyze || !strings.Contains(d.Reason, want) {
			t.Errorf("Gate(%q) = %+v, want a refusal containing %q", q, d, want)
		}
	}
}

// TestGateSchemaPrivileges: a schema in a body's search path that the
// role lacks USAGE on is skipped, as the server skips it.
func TestGateSchemaPrivileges(t *testing.T) {
	db := gateDatabase(t, "gate_usage",
		`CREATE ROLE gate_reader LOGIN`,
		`CREATE SCHEMA hidden`,
		`CREATE VIEW hidden.v_u AS SELECT true AS x`,
		`CREATE VIEW public.v_u AS SELECT pg_try_advisory_lock(5050) AS x`,
		`GRANT SELECT ON public.v_u TO gate_reader`,
		`CREATE FUNCTION through_hidden() RETURNS bool LANGUAGE sql STABLE SET search_path = hidden, public AS 'SELECT x FROM v_u'`)
	dsn, err := url.Parse(sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	dsn.User = url.User("gate_reader")
	d := Gate(context.Background(), connect(t, dsn.String()), "SELECT through_hidden()")
	if want := "(via view public.v_u, body of public.through_hidden())"; d.Analyze || d.Plannable || !strings.Contains(d.Reason, want) {
		t.Errorf("Gate = %+v, want a refusal containing %q", d, want)
	}
}

// TestParseSearchPath: a function's SET search_path reads as the server
// reads it.
func TestParseSearchPath(t *testing.T) {
	for setting, want := range map[string]string{
		"app":                       "pg_catalog app",
		`App, "My Schema", "$user"`: `pg_catalog app My Schema $user`,
		"public, pg_catalog":        "public pg_catalog",
		`"a""b"`:                    `pg_catalog a"b`,
		"":                          "pg_catalog",
		`"a,b", c`:                  "pg_catalog a,b c",
		` "x y" ,Z,"é"`:             "pg_catalog x y z é",
		longSchema + "XYZ, good":    "pg_catalog " + longSchema + "xyz good", // cut by the server, as ::name
	} {
		if got := strings.Join(parseSearchPath(setting), " "); got != want {
			t.Errorf("parseSearchPath(%q) = %q, want %q", setting, got, want)
		}
	}
}

// TestGateSignatureCasts: a user-defined cast to a built-in type runs
// where a function's result or argument becomes that type, and only the
// signature's built-in type leads the gate to it.
func TestGateSignatureCasts(t *testing.T) {
	db := gateDatabase(t, "gate_sigcasts",
		`CREATE TABLE counters (n int)`,
		`INSERT INTO counters VALUES (0)`,
		`CREATE FUNCTION bump_counter() RETURNS int LANGUAGE sql VOLATILE AS 'UPDATE counters SET n = n + 1 RETURNING n'`,
		`CREATE FUNCTION safe_double(int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT $1 * 2'`,
		// An assignment cast, applied to a SQL function's result and to a
		// PL/pgSQL RETURN value.
		`CREATE TYPE mood AS ENUM ('ok')`,
		`CREATE FUNCTION mood_int(mood) RETURNS int LANGUAGE sql VOLATILE AS 'SELECT bump_counter()'`,
		`CREATE CAST (mood AS int) WITH FUNCTION mood_int(mood) AS ASSIGNMENT`,
		`CREATE FUNCTION cast_result() RETURNS int LANGUAGE sql STABLE AS $$SELECT 'ok'::mood$$`,
		`CREATE FUNCTION cast_return() RETURNS int LANGUAGE plpgsql STABLE AS $$BEGIN RETURN 'ok'::mood; END$$`,
		// An implicit cast labelled IMMUTABLE (databaseHazardSQL looks for
		// VOLATILE ones), applied to an argument of a function called in a
		// PL/pgSQL body.
		`CREATE TYPE tint AS ENUM ('one')`,
		`CREATE FUNCTION tint_int(tint) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT CASE WHEN bump_counter() > 0 THEN 1 END'`,
		`CREATE CAST (tint AS int) WITH FUNCTION tint_int(tint) AS IMPLICIT`,
		`CREATE FUNCTION cast_argument() RETURNS int LANGUAGE plpgsql STABLE AS $$DECLARE x tint := 'one'; BEGIN RETURN safe_double(x); END$$`,
	)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, tc := range []gateCase{
		{query: "SELECT cast_result()", reason: "volatile function public.bump_counter()"},
		{query: "SELECT cast_return()", reason: "volatile function public.bump_counter()"},
		{query: "SELECT cast_argument()", reason: "volatile function public.bump_counter()"},
	} {
		checkDecision(t, "Gate", tc, Gate(ctx, conn, tc.query))
	}
	// The casts do run: each statement bumps the counter on the primary.
	primary, err := dbconn.Connect(ctx, sandbox.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer primary.Close(ctx)
	for _, q := range []string{"SELECT cast_result()", "SELECT cast_return()", "SELECT cast_argument()"} {
		queryRow[int](t, primary, q)
	}
	if n := queryRow[int](t, primary, "SELECT n FROM counters"); n != 3 {
		t.Errorf("counters.n = %d after running the three statements: want 3", n)
	}
}

// The gate's own catalog queries run no function or operator of another
// schema on the search_path whose argument types match exactly where
// pg_catalog's needs a cast: a public.unnest(text[]) (pg_catalog's takes
// anyarray) and a public.>=(oid, integer) ran while the gate decided on
// any statement. The operator decoy is a volatile comparison, so the
// gate refuses to execute, but it plans, and runs none of them deciding.
func TestGateCatalogQueriesRunNoDecoy(t *testing.T) {
	db := gateDatabase(t, "gate_decoy", `CREATE TABLE t (id int)`,
		`CREATE FUNCTION public.unnest(text[]) RETURNS SETOF text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`,
		`CREATE FUNCTION public.quote_ident(name) RETURNS text LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`,
		`CREATE FUNCTION public.decoy_ge(oid, integer) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`,
		`CREATE OPERATOR public.>= (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.decoy_ge)`,
		`CREATE FUNCTION public.decoy_ne(oid, integer) RETURNS boolean LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`,
		`CREATE OPERATOR public.<> (LEFTARG = oid, RIGHTARG = integer, FUNCTION = public.decoy_ne)`)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, q := range []string{"SELECT lower('x'), id FROM t", "SELECT id::text FROM t WHERE id = $1"} {
		if d := Gate(ctx, conn, q); !d.Plannable || strings.Contains(d.Reason, "decoy ran") {
			t.Errorf("Gate(%q) = %+v, want it planned, no decoy run", q, d)
		}
	}
}
