package demo

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// applicationName identifies the demo application's connections.
const applicationName = "taskboard"

// WorkloadOptions say how long and how hard RunWorkload works.
type WorkloadOptions struct {
	Duration time.Duration
	// Workers is the number of concurrent sessions; 0 means 4.
	Workers int
	// Seed makes the sequence of statements and parameters each worker
	// sends reproducible.
	Seed int64
	// Progress, when set, is called about once a second with the time
	// elapsed, from a goroutine of its own.
	Progress func(elapsed time.Duration)
}

// QueryStats are the latencies the application measured for one statement.
type QueryStats struct {
	Name   string
	Query  string
	Calls  int64
	Total  time.Duration
	Mean   time.Duration
	Median time.Duration
	P95    time.Duration
}

// RunWorkload plays the application against the loaded database dsn for
// opts.Duration: each worker picks statements by their weight in the mix
// and draws their parameters from the data (big tenants and projects are
// busier). It returns the statements' latencies in Statements() order.
// When ctx is cancelled it stops at once and returns what it measured with
// ctx's error.
func RunWorkload(ctx context.Context, dsn string, opts WorkloadOptions) ([]QueryStats, error) {
	if opts.Duration <= 0 {
		return nil, fmt.Errorf("demo workload: duration %v: want a positive duration", opts.Duration)
	}
	workers := opts.Workers
	if workers == 0 {
		workers = 4
	}
	if workers < 0 {
		return nil, fmt.Errorf("demo workload: %d workers: want a positive number", workers)
	}
	d, err := discover(ctx, dsn)
	if err != nil {
		return nil, err
	}
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("demo workload: parse connection string: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = applicationName
	cfg.MaxConns = int32(workers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("demo workload: connect: %w", err)
	}
	defer pool.Close()
	if err := connectAll(ctx, pool, workers); err != nil {
		return nil, fmt.Errorf("demo workload: connect: %w", err)
	}

	stmts := statements()
	cum := make([]int, len(stmts))
	total := 0
	for i, s := range stmts {
		total += s.weight
		cum[i] = total
	}
	runCtx, cancel := context.WithTimeout(ctx, opts.Duration)
	defer cancel()
	stopProgress := reportProgress(opts.Progress)
	recs := make([]*recorder, workers)
	fns := make([]func(context.Context) error, workers)
	for w := range workers {
		recs[w] = newRecorder(len(stmts))
		fns[w] = func(ctx context.Context) error {
			r := rand.New(rand.NewPCG(uint64(opts.Seed), uint64(w)))
			for ctx.Err() == nil {
				i := sort.SearchInts(cum, 1+r.IntN(total))
				err := recs[w].exec(ctx, pool, i, &stmts[i], stmts[i].args(r, d))
				if err != nil && ctx.Err() == nil {
					return err
				}
			}
			return nil
		}
	}
	err = parallel(runCtx, fns...)
	stopProgress()
	stats := merge(stmts, recs)
	if err != nil {
		return stats, fmt.Errorf("demo workload: %w", err)
	}
	return stats, ctx.Err()
}

// connectAll opens the pool's n sessions before the clock starts, so that
// no statement's latency includes a connection's set-up.
func connectAll(ctx context.Context, pool *pgxpool.Pool, n int) error {
	conns := make([]*pgxpool.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Release()
		}
	}()
	for range n {
		c, err := pool.Acquire(ctx)
		if err != nil {
			return err
		}
		conns = append(conns, c)
	}
	return nil
}

// RunFixed runs every statement iterations times, one after another on
// one connection, with parameter sets drawn from seed alone: two runs on
// the same data (before and after an index, say) do the same work. It
// returns the latencies in Statements() order. The writes it makes
// (status updates, a comment and an activity row per iteration) barely
// change the data.
func RunFixed(ctx context.Context, dsn string, iterations int, seed int64) ([]QueryStats, error) {
	if iterations <= 0 {
		return nil, fmt.Errorf("demo fixed run: %d iterations: want a positive number", iterations)
	}
	d, err := discover(ctx, dsn)
	if err != nil {
		return nil, err
	}
	conn, err := connectApp(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("demo fixed run: %w", err)
	}
	defer conn.Close(context.Background())

	stmts := statements()
	params := fixedParams(stmts, d, iterations, seed)
	rec := newRecorder(len(stmts))
	for it := range iterations {
		for i := range stmts {
			if err := rec.exec(ctx, conn, i, &stmts[i], params[i][it]); err != nil {
				return merge(stmts, []*recorder{rec}), fmt.Errorf("demo fixed run: %w", err)
			}
		}
	}
	return merge(stmts, []*recorder{rec}), nil
}

// QueryIDs maps each statement's name to the query identifier that
// pg_stat_statements files it under (its text there has constants such as
// LIMIT 20 replaced by $n). It plans, and does not run, every statement;
// the server must compute query ids (compute_query_id, on by default when
// pg_stat_statements is loaded).
func QueryIDs(ctx context.Context, dsn string) (map[string]int64, error) {
	conn, err := connectUntracked(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("demo query ids: %w", err)
	}
	defer conn.Close(context.Background())
	d, err := readDomain(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("demo query ids: read the loaded data: %w", err)
	}
	ids := map[string]int64{}
	r := rand.New(rand.NewPCG(0, 0))
	for _, s := range statements() {
		var plan []struct {
			QueryID int64 `json:"Query Identifier"`
		}
		if err := conn.QueryRow(ctx, "EXPLAIN (VERBOSE, FORMAT JSON) "+s.SQL, s.args(r, d)...).Scan(&plan); err != nil {
			return nil, fmt.Errorf("demo query ids: explain %s: %w", s.Name, err)
		}
		if len(plan) != 1 || plan[0].QueryID == 0 {
			return nil, fmt.Errorf("demo query ids: the server computed no query id for %s (is compute_query_id off?)", s.Name)
		}
		ids[s.Name] = plan[0].QueryID
	}
	return ids, nil
}

// fixedParams draws each statement's parameter sets from its own stream,
// so that they depend on the seed and the data alone.
func fixedParams(stmts []statement, d *domain, iterations int, seed int64) [][][]any {
	params := make([][][]any, len(stmts))
	for i, s := range stmts {
		r := rand.New(rand.NewPCG(uint64(seed), uint64(i)))
		for range iterations {
			params[i] = append(params[i], s.args(r, d))
		}
	}
	return params
}

// recorder keeps one session's latencies per statement.
type recorder struct{ lat [][]time.Duration }

func newRecorder(n int) *recorder { return &recorder{lat: make([][]time.Duration, n)} }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// exec runs statement i, reading and discarding its rows, and records its
// latency when it succeeds.
func (rec *recorder) exec(ctx context.Context, db execer, i int, s *statement, args []any) error {
	start := time.Now()
	if _, err := db.Exec(ctx, s.SQL, args...); err != nil {
		return fmt.Errorf("statement %s: %w", s.Name, err)
	}
	rec.lat[i] = append(rec.lat[i], time.Since(start))
	return nil
}

func merge(stmts []statement, recs []*recorder) []QueryStats {
	out := make([]QueryStats, len(stmts))
	for i, s := range stmts {
		var lat []time.Duration
		for _, r := range recs {
			lat = append(lat, r.lat[i]...)
		}
		q := QueryStats{Name: s.Name, Query: s.SQL, Calls: int64(len(lat))}
		if len(lat) > 0 {
			slices.Sort(lat)
			for _, l := range lat {
				q.Total += l
			}
			q.Mean = q.Total / time.Duration(len(lat))
			q.Median = (lat[(len(lat)-1)/2] + lat[len(lat)/2]) / 2
			q.P95 = lat[int(math.Ceil(0.95*float64(len(lat))))-1]
		}
		out[i] = q
	}
	return out
}

// reportProgress calls progress about once a second until the returned
// stop function is called.
func reportProgress(progress func(time.Duration)) (stop func()) {
	if progress == nil {
		return func() {}
	}
	start := time.Now()
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				progress(time.Since(start))
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// domain is what the workload knows of the loaded data: the keys it draws
// parameters from, with tenants and projects weighted by their tasks.
type domain struct {
	tenants    []tenantInfo
	tenantCum  []float64
	projects   []projectInfo
	projectCum []float64
	maxTask    int64
	maxComment int64
}

type tenantInfo struct {
	id       int64
	language string  // text search configuration
	members  []int64 // ascending: the tenant's busiest users come first
	labels   []int64 // ascending: the most used labels come first
}

type projectInfo struct {
	id, tenant, tasks int64
}

func (d *domain) tenant(r *rand.Rand) *tenantInfo {
	return &d.tenants[pick(r, d.tenantCum)]
}

func (d *domain) project(r *rand.Rand) *projectInfo {
	return &d.projects[pick(r, d.projectCum)]
}

// member is a user of a tenant, skewed like the generated assignments.
func (d *domain) member(r *rand.Rand) int64 {
	m := d.tenant(r).members
	return m[int(float64(len(m))*math.Pow(r.Float64(), 2))]
}

// label is a tenant's label, skewed like the generated task labels.
func (d *domain) label(r *rand.Rand) int64 {
	l := d.tenant(r).labels
	return l[int(float64(len(l))*math.Pow(r.Float64(), 1.7))]
}

func (d *domain) task(r *rand.Rand) int64 { return 1 + r.Int64N(d.maxTask) }

// pick draws an index with probability proportional to its weight, given
// the cumulative weights.
func pick(r *rand.Rand, cum []float64) int {
	return min(len(cum)-1, sort.SearchFloat64s(cum, r.Float64()*cum[len(cum)-1]))
}

// The workload's look at the data, on an untracked connection.
const (
	projectsDomainSQL = `SELECT p.id, p.tenant_id, max(t.number)::bigint
  FROM projects p JOIN tasks t ON t.project_id = p.id GROUP BY p.id ORDER BY p.id`
	membersDomainSQL = `SELECT tenant_id, array_agg(user_id ORDER BY user_id) FROM memberships GROUP BY tenant_id`
	labelsDomainSQL  = `SELECT tenant_id, array_agg(id ORDER BY id) FROM labels GROUP BY tenant_id`
	tenantsDomainSQL = `SELECT id, language::text FROM tenants`
	maxIDsSQL        = `SELECT coalesce((SELECT max(id) FROM tasks), 0), coalesce((SELECT max(id) FROM comments), 0)`
)

func discover(ctx context.Context, dsn string) (*domain, error) {
	conn, err := connectUntracked(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("demo workload: %w", err)
	}
	defer conn.Close(context.Background())
	d, err := readDomain(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("demo workload: read the loaded data: %w", err)
	}
	return d, nil
}

// connectApp opens one connection as the application.
func connectApp(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cfg.RuntimeParams["application_name"] = applicationName
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	return conn, nil
}

// connectUntracked opens a connection whose statements pg_stat_statements
// does not record, when it can (as a superuser): the application's own
// look at the data must not show up in the analysis.
func connectUntracked(ctx context.Context, dsn string) (*pgx.Conn, error) {
	conn, err := connectApp(ctx, dsn)
	if err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, untrackedSQL); err != nil {
		conn.Close(context.Background())
		return nil, fmt.Errorf("stop tracking: %w", err)
	}
	return conn, nil
}

func readDomain(ctx context.Context, conn *pgx.Conn) (*domain, error) {
	d := &domain{}
	if err := conn.QueryRow(ctx, maxIDsSQL).Scan(&d.maxTask, &d.maxComment); err != nil {
		return nil, err
	}
	if d.maxTask == 0 {
		return nil, errors.New("there are no tasks: load the demo data first")
	}
	members, err := idLists(ctx, conn, membersDomainSQL)
	if err != nil {
		return nil, err
	}
	labels, err := idLists(ctx, conn, labelsDomainSQL)
	if err != nil {
		return nil, err
	}
	rows, err := conn.Query(ctx, tenantsDomainSQL)
	if err != nil {
		return nil, err
	}
	languages := map[int64]string{}
	var id int64
	var language string
	if _, err := pgx.ForEachRow(rows, []any{&id, &language}, func() error {
		languages[id] = language
		return nil
	}); err != nil {
		return nil, err
	}
	rows, err = conn.Query(ctx, projectsDomainSQL)
	if err != nil {
		return nil, err
	}
	tenantTasks := map[int64]int64{}
	d.projects, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (projectInfo, error) {
		var p projectInfo
		err := row.Scan(&p.id, &p.tenant, &p.tasks)
		tenantTasks[p.tenant] += p.tasks
		return p, err
	})
	if err != nil {
		return nil, err
	}
	var sum float64
	for _, p := range d.projects {
		sum += float64(p.tasks)
		d.projectCum = append(d.projectCum, sum)
	}
	sum = 0
	for _, id := range slices.Sorted(maps.Keys(tenantTasks)) {
		if len(members[id]) == 0 || len(labels[id]) == 0 {
			return nil, fmt.Errorf("tenant %d has tasks but no members or no labels", id)
		}
		d.tenants = append(d.tenants, tenantInfo{id: id, language: languages[id], members: members[id], labels: labels[id]})
		sum += float64(tenantTasks[id])
		d.tenantCum = append(d.tenantCum, sum)
	}
	return d, nil
}

func idLists(ctx context.Context, conn *pgx.Conn, sql string) (map[int64][]int64, error) {
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		return nil, err
	}
	out := map[int64][]int64{}
	var key int64
	var ids []int64
	_, err = pgx.ForEachRow(rows, []any{&key, &ids}, func() error {
		out[key] = ids
		ids = nil
		return nil
	})
	return out, err
}
