package main

import (
	"context"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// workload is one benchmark workload: it loads its data, names its
// statements, plays its call mix so that pg_stat_statements records it,
// and measures its statements' latency with fixed parameter sets.
type workload interface {
	name() string
	describe() string
	// load fills the empty database db.
	load(ctx context.Context, env *env, db string) (loadInfo, error)
	// statements are the statements whose costs and latencies are compared,
	// each with the parameter set planner costs are taken with. cat is the
	// loaded database's catalog.
	statements(ctx context.Context, env *env, db string, cat *collector.Catalog) ([]stmt, error)
	// drive runs the call mix on the primary.
	drive(ctx context.Context, env *env, db string, stmts []stmt) error
	// fixedSets are the parameter sets each statement's latency is
	// measured with, in stmts order; nil when the workload measures itself
	// (selfMeasured).
	fixedSets(stmts []stmt) [][][]string
	// analysis adjusts the engine's options for the workload (TPC-H runs
	// each query once, so it needs min-calls 1).
	analysis(o analysisOptions) analysisOptions
}

// selfMeasured is a workload that runs its statements with fixed
// parameter sets itself and returns their latencies in stmts order.
type selfMeasured interface {
	measure(ctx context.Context, env *env, db string, stmts []stmt) ([]latency, error)
}

// synthesized is a workload whose planning parameters are synthesized as
// the advisor's what-if costing does, which takes the rows per call the
// mix recorded: planParams sets stmts' Params once the mix has played.
type synthesized interface {
	planParams(ctx context.Context, env *env, db string, cat *collector.Catalog, stmts []stmt) error
}

type loadInfo struct {
	Seconds float64 `json:"seconds"`
	Tables  int     `json:"tables"`
	Rows    int64   `json:"rows"`
	Bytes   int64   `json:"bytes"`
	Note    string  `json:"note,omitempty"`
}

// stmt is one statement of a workload as the benchmark compares it.
type stmt struct {
	Name string
	SQL  string
	// Params is the parameter set planner costs use; nil for a statement
	// without parameters (the TPC-H queries have literal constants).
	Params []string
	// Calls is the statement's weight: its calls in the recorded mix.
	Calls float64
	// QueryID is its pg_stat_statements query id in the recorded mix.
	QueryID string
	// RowsPerCall is the rows a call returned in the recorded mix.
	RowsPerCall float64
	Write       bool
}

// latency is what one statement's fixed-parameter runs measured.
type latency struct {
	Runs     int     `json:"runs"`
	MeanMS   float64 `json:"mean_ms"`
	MedianMS float64 `json:"median_ms"`
	P95MS    float64 `json:"p95_ms"`
	Errors   int     `json:"errors,omitempty"`
}

func latencyOf(d []time.Duration, errors int) latency {
	l := latency{Runs: len(d), Errors: errors}
	if len(d) == 0 {
		return l
	}
	slices.Sort(d)
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	l.MeanMS = ms(sum) / float64(len(d))
	l.MedianMS = ms(d[(len(d)-1)/2]+d[len(d)/2]) / 2
	l.P95MS = ms(d[int(math.Ceil(0.95*float64(len(d))))-1])
	return l
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// env is what every workload shares: the cluster and the run's settings.
type env struct {
	cluster *pgsandbox.Cluster
	scale   float64
	seed    int64
	// timeout bounds one execution of a workload statement, played or
	// measured: a run past it counts as failed, at the timeout's length.
	timeout time.Duration
	log     func(format string, args ...any)
}

const (
	// untracked keeps the benchmark's own statements (costing, measuring,
	// the oracle) out of pg_stat_statements: only the workload's mix and
	// the advisor are recorded there.
	untracked = "SET pg_stat_statements.track = 'none'"
)

// setTimeout is the SET that applies e.timeout to a session.
func (e *env) setTimeout() string {
	return fmt.Sprintf("SET statement_timeout = %d", e.timeout.Milliseconds())
}

// connect opens a connection to db on the primary (or the replica) that
// pg_stat_statements does not record.
func (e *env) connect(ctx context.Context, db string, replica bool) (*pgx.Conn, error) {
	dsn := e.cluster.DSN(db)
	if replica {
		dsn = e.cluster.ReplicaDSN(db)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", db, err)
	}
	for _, s := range []string{untracked, e.setTimeout()} {
		if _, err := conn.Exec(ctx, s); err != nil {
			conn.Close(ctx)
			return nil, fmt.Errorf("connect to %s: %s: %w", db, s, err)
		}
	}
	return conn, nil
}

// execText runs sql with text parameters whose types the server infers,
// as the advisor binds them, and reads and discards the rows.
func execText(ctx context.Context, conn *pgx.Conn, sql string, params []string) error {
	return conn.PgConn().ExecParams(ctx, sql, textArgs(params), nil, nil, nil).Read().Err
}

func textArgs(params []string) [][]byte {
	args := make([][]byte, len(params))
	for i, p := range params {
		args[i] = []byte(p)
	}
	return args
}

// dbSize is the database's size and its tables' rows, for the load line.
// Temporary tables are left out: a loader's session that has just closed
// may not have dropped its own yet (the demo's counted 17 tables, not 10).
func dbSize(ctx context.Context, conn *pgx.Conn) (tables int, rows, bytes int64, err error) {
	err = conn.QueryRow(ctx, `SELECT count(*), coalesce(sum(n_live_tup), 0)::bigint, pg_database_size(current_database())
		FROM pg_stat_user_tables WHERE schemaname NOT LIKE 'pg\_temp\_%'`).Scan(&tables, &rows, &bytes)
	return tables, rows, bytes, err
}
