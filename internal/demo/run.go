package demo

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Defaults of RunOptions.
const (
	DefaultDuration   = 60 * time.Second
	DefaultIterations = 10
)

// RunOptions say what Run does.
type RunOptions struct {
	// Scale of the data (Options.Scale); 0 means 1.
	Scale float64
	// Duration of the workload; 0 means DefaultDuration.
	Duration time.Duration
	// Workers are the workload's concurrent sessions; 0 means 4.
	Workers int
	// Seed makes the data, the workload and the measured runs reproducible.
	Seed int64
	// Apply builds the recommended indexes and measures every statement
	// before and after.
	Apply bool
	// Iterations is how many times each statement runs in each measured
	// run (RunFixed); 0 means DefaultIterations.
	Iterations int
	// Keep leaves the sandbox running after the report, its connection
	// URLs printed, until ctx is done.
	Keep bool
	// Format of the report, one of exporter.Formats(); "" means text.
	Format string
	// Engine are the analysis options; Run sets their Progress.
	Engine advisor.Options
	// Log receives the engine's log; nil discards it.
	Log *zap.Logger
	// Progress receives what the demo is doing (stderr, say): a status
	// line redrawn in place when Terminal is set, plain lines otherwise.
	Progress io.Writer
	Terminal bool
}

// dbName is the demo application's database.
const dbName = "taskboard"

// Run is the whole demo: it starts a sandbox primary and streaming replica
// (with HypoPG when it is installed), loads the taskboard data, plays the
// application's workload, analyzes it and writes the report to out, with
// a legend naming the demo's statements. With Apply it then builds the
// recommended indexes and writes each statement's measured latency before
// and after. The sandbox is stopped and removed before Run returns, also
// when ctx is cancelled.
func Run(ctx context.Context, opts RunOptions, out io.Writer) (err error) {
	opts.Duration = cmp.Or(opts.Duration, DefaultDuration)
	opts.Iterations = cmp.Or(opts.Iterations, DefaultIterations)
	opts.Format = cmp.Or(opts.Format, "text")
	switch {
	case !slices.Contains(exporter.Formats(), opts.Format):
		return fmt.Errorf("demo: report format %q is not one of %s", opts.Format, strings.Join(exporter.Formats(), ", "))
	case opts.Duration < 0:
		return fmt.Errorf("demo: workload duration %v: want a positive duration", opts.Duration)
	case opts.Iterations < 0:
		return fmt.Errorf("demo: %d iterations: want a positive number", opts.Iterations)
	}
	if _, err := newPlan(cmp.Or(opts.Scale, 1)); err != nil {
		return err
	}
	// The legend and the measurements are text: beside a JSON or HTML
	// report they go where the progress goes.
	notes := out
	if opts.Format == "json" || opts.Format == "html" {
		notes = io.Discard
		if opts.Progress != nil {
			notes = opts.Progress
		}
	}
	p := newProgress(opts.Progress, opts.Terminal)
	start := time.Now()

	starting := func() string {
		return "starting a PostgreSQL primary and a streaming replica  " + clock(time.Since(start))
	}
	p.update(starting(), true)
	stop := p.redrawEvery(time.Second, starting)
	c, err := pgsandbox.New(ctx, pgsandbox.Options{
		Replica: true, Extensions: []string{"pg_stat_statements"}, Settings: SandboxSettings(),
	})
	stop()
	p.clear()
	if err != nil {
		return fmt.Errorf("demo: start the sandbox: %w", err)
	}
	defer func() {
		if err != nil && ctx.Err() != nil {
			// Whatever step was cut short, the reason is the interruption.
			err = fmt.Errorf("demo interrupted: %w", context.Cause(ctx))
		}
		p.update("stopping the sandbox", true)
		cerr := c.Close()
		p.clear()
		if cerr != nil {
			err = errors.Join(err, fmt.Errorf("demo: stop the sandbox: %w", cerr))
			return
		}
		p.printf("sandbox stopped and %s removed", c.Dir())
	}()
	p.printf("sandbox in %s:\n  primary %s\n  replica %s", c.Dir(), c.DSN(dbName), c.ReplicaDSN(dbName))

	hypo, err := checkHypoPG(ctx, c.DSN("postgres"))
	if err != nil {
		return err
	}
	var exts []string
	if hypo.available {
		exts = append(exts, "hypopg")
	} else {
		p.printf("%s", hypo.missing())
	}
	if err := c.CreateDatabase(ctx, dbName, exts...); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	dsn := c.DSN(dbName)
	if err := loadData(ctx, p, dsn, opts); err != nil {
		return err
	}
	if err := runWorkload(ctx, p, dsn, opts); err != nil {
		return err
	}
	var before []QueryStats
	if opts.Apply {
		// Measured right after the workload, on the data it left, so that
		// the run after the indexes does the same work on the same data.
		if before, err = measure(ctx, p, dsn, opts, "before"); err != nil {
			return err
		}
	}

	r, err := analyze(ctx, p, c, opts)
	if err != nil {
		return err
	}
	ids, err := QueryIDs(ctx, dsn)
	if err != nil {
		p.printf("the report's statements cannot be named: %v", err)
	}
	writeLegend(notes, r, ids)
	if err := exporter.Render(out, r, opts.Format); err != nil {
		return fmt.Errorf("demo: %w", err)
	}

	if opts.Apply {
		if err := applyRecommendations(ctx, p, c, r.Recommendations); err != nil {
			return err
		}
		after, err := measure(ctx, p, dsn, opts, "after")
		if err != nil {
			return err
		}
		writeComparison(notes, before, after, r, ids, opts.Iterations)
	}
	if !hypo.available {
		p.printf("%s", hypo.missing())
	}
	p.printf("demo finished in %s", clock(time.Since(start)))

	if opts.Keep {
		p.printf("the sandbox keeps running until you press Ctrl-C:\n  primary %s\n  replica %s",
			c.DSN(dbName), c.ReplicaDSN(dbName))
		<-ctx.Done()
	}
	return nil
}

// hypoPG says whether the server can create the hypopg extension.
type hypoPG struct {
	available bool
	major     int // the server's major version, which names the package
}

const hypoPGSQL = `SELECT current_setting('server_version_num')::int / 10000,
       EXISTS (SELECT FROM pg_available_extensions WHERE name = 'hypopg')`

func checkHypoPG(ctx context.Context, dsn string) (hypoPG, error) {
	var h hypoPG
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return h, fmt.Errorf("demo: look for hypopg: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := conn.QueryRow(ctx, hypoPGSQL).Scan(&h.major, &h.available); err != nil {
		return h, fmt.Errorf("demo: look for hypopg: %w", err)
	}
	return h, nil
}

// missing says what the demo does without HypoPG and how to add it.
func (h hypoPG) missing() string {
	return fmt.Sprintf("HypoPG is missing: PostgreSQL %d lists no hypopg in pg_available_extensions, so the "+
		"recommendations are costed without hypothetical indexes and marked unvalidated. To add it, run "+
		"`apt-get install -y postgresql-%d-hypopg` as root (make demo does this when it runs as root), "+
		"then run the demo again.", h.major, h.major)
}

func loadData(ctx context.Context, p *progress, dsn string, opts RunOptions) error {
	start := time.Now()
	var (
		mu          sync.Mutex
		done, total int64
		stage       = "starting"
	)
	render := func() string {
		mu.Lock()
		defer mu.Unlock()
		if total == 0 {
			return "loading   the schema  " + clock(time.Since(start))
		}
		return fmt.Sprintf("loading   %s %2d/%d steps (%s)  %s",
			bar(float64(done), float64(total)), done, total, stage, clock(time.Since(start)))
	}
	p.update(render(), true)
	stop := p.redrawEvery(time.Second, render)
	err := Load(ctx, dsn, Options{Scale: opts.Scale, Seed: opts.Seed, Progress: func(s string, d, t int64) {
		mu.Lock()
		done, total, stage = d, t, s+" done"
		mu.Unlock()
		p.update(render(), true)
	}})
	stop()
	p.clear()
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	largest, rows, err := settle(ctx, dsn)
	if err != nil {
		return err
	}
	p.printf("loaded %s rows in %s (the largest table, %s, has %s)", humanize.Count(float64(rows.total)), clock(time.Since(start)),
		largest, humanize.Count(float64(rows.largest)))
	return nil
}

type rowCounts struct{ total, largest int64 }

// tableRowsSQL counts the loaded rows from the statistics VACUUM ANALYZE
// left, largest table first.
const tableRowsSQL = `SELECT relname, reltuples::bigint FROM pg_class
 WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY reltuples DESC`

// settle counts the loaded rows and clears pg_stat_statements, so that the
// analysis sees the workload alone.
func settle(ctx context.Context, dsn string) (largest string, rows rowCounts, err error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return "", rows, fmt.Errorf("demo: after the load: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res, err := conn.Query(ctx, tableRowsSQL)
	if err != nil {
		return "", rows, fmt.Errorf("demo: count the loaded rows: %w", err)
	}
	var name string
	var n int64
	if _, err := pgx.ForEachRow(res, []any{&name, &n}, func() error {
		if largest == "" {
			largest, rows.largest = name, n
		}
		rows.total += n
		return nil
	}); err != nil {
		return "", rows, fmt.Errorf("demo: count the loaded rows: %w", err)
	}
	if _, err := conn.Exec(ctx, "SELECT pg_stat_statements_reset()"); err != nil {
		return "", rows, fmt.Errorf("demo: reset pg_stat_statements: %w", err)
	}
	return largest, rows, nil
}

func runWorkload(ctx context.Context, p *progress, dsn string, opts RunOptions) error {
	workers := cmp.Or(opts.Workers, 4)
	render := func(elapsed time.Duration) string {
		return fmt.Sprintf("workload  %s %s of %s, %d sessions", bar(float64(elapsed), float64(opts.Duration)),
			clock(elapsed), clock(opts.Duration), workers)
	}
	p.update(render(0), true)
	stats, err := RunWorkload(ctx, dsn, WorkloadOptions{
		Duration: opts.Duration, Workers: workers, Seed: opts.Seed,
		Progress: func(elapsed time.Duration) { p.update(render(elapsed), false) },
	})
	p.clear()
	if err != nil {
		return err
	}
	var calls int64
	for _, s := range stats {
		calls += s.Calls
	}
	p.printf("workload: %s statements in %s on %d sessions (%.0f a second)", humanize.Count(float64(calls)), clock(opts.Duration),
		workers, float64(calls)/opts.Duration.Seconds())
	return nil
}

// measure runs every statement opts.Iterations times with fixed
// parameters, untracked by pg_stat_statements so that the analysis sees
// the workload alone.
func measure(ctx context.Context, p *progress, dsn string, opts RunOptions, when string) ([]QueryStats, error) {
	start := time.Now()
	render := func() string {
		return fmt.Sprintf("measuring %s the indexes: each statement %d times  %s", when, opts.Iterations, clock(time.Since(start)))
	}
	p.update(render(), true)
	stop := p.redrawEvery(time.Second, render)
	stats, err := RunFixed(ctx, untrackedDSN(dsn), opts.Iterations, opts.Seed)
	stop()
	p.clear()
	if err != nil {
		return nil, fmt.Errorf("demo: measure %s: %w", when, err)
	}
	p.printf("measured %s the indexes in %s", when, clock(time.Since(start)))
	return stats, nil
}

// untrackedDSN is dsn (a URL with a query) for sessions that
// pg_stat_statements does not record. QueryEscape writes a space as "+",
// which the server would take literally in options.
func untrackedDSN(dsn string) string {
	return dsn + "&options=" + strings.ReplaceAll(url.QueryEscape("-c pg_stat_statements.track=none"), "+", "%20")
}

func analyze(ctx context.Context, p *progress, c *pgsandbox.Cluster, opts RunOptions) (*advisor.Report, error) {
	start := time.Now()
	p.update("analyzing: waiting for the replica to replay the workload", true)
	if err := c.WaitReplay(ctx); err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	target := advisor.Target{
		Name: "taskboard demo", DSN: c.DSN(dbName), ReplicaDSN: c.ReplicaDSN(dbName),
		Databases: collector.NameFilter{Include: []string{dbName}},
	}
	eo := opts.Engine
	eo.Progress = func(stage string) { p.update("analyzing "+stage, false) }
	engine := advisor.NewEngine(opts.Log, eo)
	snap, err := engine.Sample(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	if !snap.Sampled {
		var ws []string
		for _, w := range snap.Warnings {
			ws = append(ws, w.String())
		}
		return nil, fmt.Errorf("demo: pg_stat_statements could not be read: %s", strings.Join(ws, "; "))
	}
	w, err := advisor.CumulativeWindow(snap)
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	r, err := engine.Analyze(ctx, target, w.SinceStart(), true)
	p.clear()
	if err != nil {
		return nil, fmt.Errorf("demo: %w", err)
	}
	r.Warnings = append(r.Warnings, snap.ReportWarnings()...)
	p.printf("analyzed %d statements in %s: %d findings, %d recommended indexes", len(r.Statements),
		clock(time.Since(start)), len(r.Findings), len(r.Recommendations))
	return r, nil
}

// writeLegend names the report's statements by the demo's names.
func writeLegend(w io.Writer, r *advisor.Report, ids map[string]int64) {
	names := statementNames(ids)
	var lines []string
	for i, s := range r.Statements {
		if name, ok := names[s.QueryID]; ok {
			lines = append(lines, fmt.Sprintf("  #%-3d %s", i+1, name))
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintln(w, "The demo's statements, by their number in the report below:")
	fmt.Fprintln(w, strings.Join(lines, "\n"))
	fmt.Fprintln(w)
}

// statementNames maps a query id, as the report writes it, to the demo's
// name of its statement.
func statementNames(ids map[string]int64) map[string]string {
	names := map[string]string{}
	for name, id := range ids {
		names[strconv.FormatInt(id, 10)] = name
	}
	return names
}

// applyRecommendations runs each recommendation's script on the primary
// statement by statement, as psql runs a script file (CREATE INDEX
// CONCURRENTLY refuses a transaction block), checks the indexes are
// valid, analyzes the tables (expression indexes get statistics of their
// own) and waits until the replica has it all.
func applyRecommendations(ctx context.Context, p *progress, c *pgsandbox.Cluster, recs []advisor.Recommendation) error {
	if len(recs) == 0 {
		p.printf("no index to build")
		return nil
	}
	conn, err := connectDBA(ctx, c.DSN(dbName))
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var tables []string
	for i, rec := range recs {
		start := time.Now()
		label := fmt.Sprintf("index %d/%d on %s (%s)", i+1, len(recs), rec.Table, strings.Join(rec.Columns, ", "))
		render := func() string { return "building " + label + "  " + clock(time.Since(start)) }
		p.update(render(), true)
		stop := p.redrawEvery(time.Second, render)
		built, err := buildIndex(ctx, conn, rec)
		stop()
		p.clear()
		if err != nil {
			return fmt.Errorf("demo: build recommended %s: %w", label, err)
		}
		p.printf("built %s: %s in %.1fs", label, built, time.Since(start).Seconds())
		if !slices.Contains(tables, rec.Table) {
			tables = append(tables, rec.Table)
		}
	}
	p.update("analyzing the indexed tables and waiting for the replica", true)
	for _, t := range tables {
		if _, err := conn.Exec(ctx, "ANALYZE "+t); err != nil {
			return fmt.Errorf("demo: analyze %s: %w", t, err)
		}
	}
	if err := c.WaitReplay(ctx); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	p.clear()
	return nil
}

// connectDBA connects as the person applying the recommendations.
func connectDBA(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("demo: parse connection string: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "taskboard-dba"
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("demo: connect to apply the recommendations: %w", err)
	}
	return conn, nil
}

// buildIndex runs rec's DDL and its verification query, and says what it
// built: each index's name and size.
func buildIndex(ctx context.Context, conn *pgx.Conn, rec advisor.Recommendation) (string, error) {
	ddl, err := sqltree.Statements(rec.DDL)
	if err != nil {
		return "", err
	}
	for _, s := range ddl {
		if _, err := conn.Exec(ctx, s); err != nil {
			return "", fmt.Errorf("%s: %w", firstLine(s), err)
		}
	}
	verify, err := sqltree.Statements(rec.VerifySQL)
	if err != nil {
		return "", err
	}
	var built []string
	for _, s := range verify {
		rows, err := conn.Query(ctx, s)
		if err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
		var name string
		var valid *bool
		_, err = pgx.ForEachRow(rows, []any{&name, &valid}, func() error {
			if valid == nil {
				return fmt.Errorf("index %s was not built", name)
			}
			if !*valid {
				return fmt.Errorf("index %s is not valid", name)
			}
			built = append(built, name)
			return nil
		})
		if err != nil {
			return "", fmt.Errorf("verify: %w", err)
		}
	}
	if len(built) == 0 {
		return "", errors.New("verify: the verification query found no index")
	}
	for i, name := range built {
		var size string
		if err := conn.QueryRow(ctx, "SELECT pg_size_pretty(pg_relation_size($1::regclass))", name).Scan(&size); err != nil {
			return "", fmt.Errorf("size of %s: %w", name, err)
		}
		built[i] = name + " (" + size + ")"
	}
	return strings.Join(built, ", "), nil
}

// writeComparison writes each statement's mean latency before and after
// the indexes, and the total time of all of them.
func writeComparison(w io.Writer, before, after []QueryStats, r *advisor.Report, ids map[string]int64, iterations int) {
	servedBy := map[string][]string{} // query id -> numbers of the recommendations serving it
	for i, rec := range r.Recommendations {
		for _, id := range rec.QueryIDs {
			servedBy[id] = append(servedBy[id], strconv.Itoa(i+1))
		}
	}
	fmt.Fprintf(w, "\nMeasured on the primary, each statement %d times with the same parameters before and after the indexes:\n\n", iterations)
	const row = "%-28s %-7s %12s %12s %9s\n"
	fmt.Fprintf(w, row, "statement", "index", "mean before", "mean after", "speed-up")
	var totalBefore, totalAfter time.Duration
	for i, b := range before {
		if i >= len(after) || after[i].Name != b.Name {
			continue
		}
		a := after[i]
		totalBefore += b.Total
		totalAfter += a.Total
		recs := "-"
		if id, ok := ids[b.Name]; ok && len(servedBy[strconv.FormatInt(id, 10)]) > 0 {
			recs = "#" + strings.Join(servedBy[strconv.FormatInt(id, 10)], ",#")
		}
		fmt.Fprintf(w, row, b.Name, recs, millis(b.Mean), millis(a.Mean), speedUp(b.Mean, a.Mean))
	}
	fmt.Fprintf(w, row, "all (total time)", "", millis(totalBefore), millis(totalAfter), speedUp(totalBefore, totalAfter))
}

// millis formats a latency in milliseconds with three significant digits
// or more.
func millis(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 100:
		return humanize.Count(float64(int64(ms+0.5))) + " ms"
	case ms >= 10:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	case ms >= 1:
		return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(ms, 'f', 3, 64) + " ms"
}

func speedUp(before, after time.Duration) string {
	if before <= 0 || after <= 0 {
		return "-"
	}
	x := float64(before) / float64(after)
	if x >= 10 {
		return humanize.Count(float64(int64(x+0.5))) + "x"
	}
	return strconv.FormatFloat(x, 'f', 1, 64) + "x"
}
