// Package preflight checks that a target is ready to be advised: the
// server version, pg_stat_statements, privileges, the replica and HypoPG.
// Every check that is not OK says exactly how to fix it.
package preflight

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Status of one check.
type Status string

const (
	OK   Status = "OK"
	Warn Status = "WARN"
	Fail Status = "FAIL"
)

// Check is one prerequisite and how it stands.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Report is the list of checks for one target.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Status == Fail {
			return true
		}
	}
	return false
}

func (r *Report) add(name string, s Status, fix, format string, args ...any) {
	r.Checks = append(r.Checks, Check{Name: name, Status: s, Detail: fmt.Sprintf(format, args...), Fix: fix})
}

// Thresholds past which a check warns.
const (
	maxReplayLag     = 5 * time.Minute
	pgssFullFraction = 0.9
)

// Run checks the primary (pg_stat_statements and the catalog) and the
// EXPLAIN target. replicaDSN "" means EXPLAIN goes to the primary.
func Run(ctx context.Context, primaryDSN, replicaDSN string) Report {
	var r Report
	primary, err := dbconn.Connect(ctx, primaryDSN)
	if err != nil {
		r.add("primary connection", Fail, "check --dsn / targets[].dsn and that the server accepts the advisor's role", "%v", err)
		return r
	}
	defer primary.Close(ctx)
	r.add("primary connection", OK, "", "connected as %s", primary.Config().User)

	checkVersion(ctx, &r, primary)
	checkStatements(ctx, &r, primary)
	checkTrackIOTiming(ctx, &r, primary)

	if replicaDSN == "" {
		r.add("replica", Warn, "set --replica-dsn / targets[].replica_dsn to a streaming replica",
			"no replica configured: statements get generic plans on the primary, without ANALYZE")
		checkExplainTarget(ctx, &r, primary)
		return r
	}
	replica, err := dbconn.Connect(ctx, replicaDSN)
	if err != nil {
		r.add("replica connection", Fail, "check --replica-dsn / targets[].replica_dsn", "%v", err)
		return r
	}
	defer replica.Close(ctx)
	checkReplica(ctx, &r, replica)
	checkExplainTarget(ctx, &r, replica)
	return r
}

func checkVersion(ctx context.Context, r *Report, conn *pgx.Conn) {
	var num int
	var version string
	err := conn.QueryRow(ctx, dbconn.Marker+"SELECT current_setting('server_version_num')::int, current_setting('server_version')").Scan(&num, &version)
	switch {
	case err != nil:
		r.add("server version", Fail, "", "read server_version: %v", err)
	case num < 140000:
		r.add("server version", Fail, "upgrade to PostgreSQL 14 or later (16+ recommended)", "PostgreSQL %s is not supported", version)
	case num < 160000:
		r.add("server version", OK, "", "PostgreSQL %s is supported; 16+ is recommended (EXPLAIN GENERIC_PLAN)", version)
	default:
		r.add("server version", OK, "", "PostgreSQL %s", version)
	}
}

func checkStatements(ctx context.Context, r *Report, conn *pgx.Conn) {
	var preload string
	grantMonitor := fmt.Sprintf("GRANT pg_monitor TO %s;", pgx.Identifier{conn.Config().User}.Sanitize())
	err := conn.QueryRow(ctx, dbconn.Marker+"SELECT current_setting('shared_preload_libraries')").Scan(&preload)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "42501": // insufficient_privilege
		// The other checks still tell: pg_stat_statements(false) fails
		// below when the library is not loaded.
		r.add("pg_stat_statements preloaded", Warn, grantMonitor,
			"cannot tell: role %s may not read shared_preload_libraries (pg_read_all_settings, part of pg_monitor)", conn.Config().User)
		preload = "pg_stat_statements"
	case err != nil:
		r.add("pg_stat_statements preloaded", Fail, "", "read shared_preload_libraries: %v", err)
		return
	case !listContains(preload, "pg_stat_statements"):
		want := "pg_stat_statements"
		if strings.TrimSpace(preload) != "" {
			want = preload + ", pg_stat_statements"
		}
		r.add("pg_stat_statements preloaded", Fail,
			fmt.Sprintf("ALTER SYSTEM SET shared_preload_libraries = '%s'; then restart PostgreSQL", want),
			"shared_preload_libraries is %q", preload)
	default:
		r.add("pg_stat_statements preloaded", OK, "", "in shared_preload_libraries")
	}

	var extVersion *string
	err = conn.QueryRow(ctx, dbconn.Marker+"SELECT (SELECT extversion FROM pg_extension WHERE extname = 'pg_stat_statements')").Scan(&extVersion)
	if err != nil || extVersion == nil {
		r.add("pg_stat_statements extension", Fail,
			fmt.Sprintf("CREATE EXTENSION pg_stat_statements; (in database %s)", conn.Config().Database),
			"not created in database %s", conn.Config().Database)
		return
	}
	r.add("pg_stat_statements extension", OK, "", "version %s", *extVersion)

	var canReadAll bool
	err = conn.QueryRow(ctx, dbconn.Marker+`SELECT rolsuper OR pg_catalog.pg_has_role(current_user, 'pg_read_all_stats', 'MEMBER')
		FROM pg_roles WHERE rolname = current_user`).Scan(&canReadAll)
	switch {
	case err != nil:
		r.add("read all statements", Fail, "", "check role membership: %v", err)
	case !canReadAll:
		r.add("read all statements", Fail, grantMonitor, "role %s sees only its own statements' texts", conn.Config().User)
	default:
		r.add("read all statements", OK, "", "role can read every statement")
	}

	if listContains(preload, "pg_stat_statements") {
		checkStatementsCapacity(ctx, r, conn)
	}
}

func checkStatementsCapacity(ctx context.Context, r *Report, conn *pgx.Conn) {
	var max, used int
	err := conn.QueryRow(ctx, dbconn.Marker+`SELECT current_setting('pg_stat_statements.max')::int,
		(SELECT count(*) FROM pg_stat_statements(false))`).Scan(&max, &used)
	if err != nil {
		r.add("pg_stat_statements.max", Warn, "", "could not count entries: %v", err)
		return
	}
	if float64(used) >= pgssFullFraction*float64(max) {
		r.add("pg_stat_statements.max", Warn,
			fmt.Sprintf("ALTER SYSTEM SET pg_stat_statements.max = %d; then restart PostgreSQL", max*2),
			"%d of %d entries used: statements are being evicted and their history lost", used, max)
		return
	}
	r.add("pg_stat_statements.max", OK, "", "%d of %d entries used", used, max)
}

func checkTrackIOTiming(ctx context.Context, r *Report, conn *pgx.Conn) {
	var on string
	if err := conn.QueryRow(ctx, dbconn.Marker+"SELECT current_setting('track_io_timing')").Scan(&on); err != nil {
		r.add("track_io_timing", Warn, "", "read track_io_timing: %v", err)
		return
	}
	if on != "on" {
		r.add("track_io_timing", Warn, "ALTER SYSTEM SET track_io_timing = on; SELECT pg_reload_conf();",
			"off: plans and statements carry no I/O times")
		return
	}
	r.add("track_io_timing", OK, "", "on")
}

func checkReplica(ctx context.Context, r *Report, conn *pgx.Conn) {
	var inRecovery bool
	var lag *float64
	err := conn.QueryRow(ctx, dbconn.Marker+`SELECT pg_is_in_recovery(),
		CASE WHEN pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() THEN 0
		     ELSE extract(epoch FROM now() - pg_last_xact_replay_timestamp()) END`).Scan(&inRecovery, &lag)
	if err != nil {
		r.add("replica in recovery", Fail, "", "check recovery state: %v", err)
		return
	}
	if !inRecovery {
		r.add("replica in recovery", Fail, "point --replica-dsn at a streaming replica (pg_is_in_recovery() is false here)",
			"the EXPLAIN target is not a replica: statements will not run under ANALYZE")
		return
	}
	r.add("replica in recovery", OK, "", "pg_is_in_recovery() is true")
	switch {
	case lag == nil:
		r.add("replica replay lag", Warn, "check the replica's connection to the primary (pg_stat_wal_receiver)", "nothing replayed yet")
	case time.Duration(*lag*float64(time.Second)) > maxReplayLag:
		r.add("replica replay lag", Warn, "check the replica's connection to the primary (pg_stat_wal_receiver)",
			"replay is %.0fs behind: plans may not match the primary's data", *lag)
	default:
		r.add("replica replay lag", OK, "", "%.1fs", *lag)
	}
}

// checkExplainTarget checks HypoPG and the role on the server that runs EXPLAIN.
func checkExplainTarget(ctx context.Context, r *Report, conn *pgx.Conn) {
	var hypopg *string
	err := conn.QueryRow(ctx, dbconn.Marker+"SELECT (SELECT extversion FROM pg_extension WHERE extname = 'hypopg')").Scan(&hypopg)
	switch {
	case err != nil:
		r.add("hypopg", Warn, "", "check extension: %v", err)
	case hypopg == nil:
		r.add("hypopg", Warn,
			"install postgresql-15-hypopg (or your version's package) on the EXPLAIN target and run CREATE EXTENSION hypopg; on the primary",
			"not installed: recommendations will be unvalidated (no what-if plans)")
	default:
		r.add("hypopg", OK, "", "version %s", *hypopg)
	}

	// Code planted in the schema may run while a statement is planned
	// (README: what the gate does not check), with the role's privileges.
	var super bool
	var risky []string
	if err := conn.QueryRow(ctx, dbconn.Marker+`SELECT rolsuper, ARRAY(SELECT g FROM pg_catalog.unnest(ARRAY['pg_read_server_files', 'pg_write_server_files',
		'pg_execute_server_program', 'pg_signal_backend']) AS g WHERE pg_catalog.pg_has_role(current_user, g, 'MEMBER'))
		FROM pg_roles WHERE rolname = current_user`).Scan(&super, &risky); err != nil {
		r.add("explain role", Warn, "", "check role: %v", err)
		return
	}
	switch {
	case super:
		r.add("explain role", Warn, "create a dedicated role: CREATE ROLE pgadvisor LOGIN; GRANT pg_monitor TO pgadvisor; and grant it SELECT on the application's tables",
			"role %s is a superuser: the advisor needs far less", conn.Config().User)
	case len(risky) > 0:
		r.add("explain role", Warn, fmt.Sprintf("REVOKE %s FROM %s", strings.Join(risky, ", "), pgx.Identifier{conn.Config().User}.Sanitize()),
			"role %s is a member of %s, which the advisor does not need", conn.Config().User, strings.Join(risky, ", "))
	default:
		r.add("explain role", OK, "", "role %s is not a superuser and holds no server file, program or signal privileges", conn.Config().User)
	}
}

// listContains reports whether a comma-separated setting holds item.
func listContains(list, item string) bool {
	for _, v := range strings.Split(list, ",") {
		if strings.Trim(strings.TrimSpace(v), `"`) == item {
			return true
		}
	}
	return false
}
