package advisor

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Target is one monitored cluster as the engine sees it.
type Target struct {
	Name       string
	DSN        string // primary: pg_stat_statements and catalogs
	ReplicaDSN string // EXPLAIN and what-if target; "" means DSN
	Databases  collector.NameFilter
	Users      collector.NameFilter
}

func (t Target) explainDSN() string { return cmp.Or(t.ReplicaDSN, t.DSN) }

// Options tune an analysis cycle.
type Options struct {
	Rank       collector.RankOptions
	Runner     explain.RunnerOptions
	Thresholds explain.Thresholds
	Select     SelectOptions
	// Progress, when set, is told what the cycle is doing ("explain 3/25").
	Progress func(stage string)
	// Timeout bounds one Sample and one Analyze call (see Bound); 0 is
	// none. A server that hangs mid-query, never enforcing
	// statement_timeout, fails the cycle instead of holding it, and the
	// agent's later cycles with it.
	Timeout time.Duration
}

// Engine runs analysis cycles: rank, catalog, explain, detect, recommend.
type Engine struct {
	opts   Options
	log    *zap.Logger
	runner *explain.Runner
}

// NewEngine returns an engine; log may be nil.
func NewEngine(log *zap.Logger, opts Options) *Engine {
	if log == nil {
		log = zap.NewNop()
	}
	if opts.Thresholds == (explain.Thresholds{}) {
		opts.Thresholds = explain.DefaultThresholds()
	}
	return &Engine{opts: opts, log: log, runner: explain.NewRunner(log, opts.Runner)}
}

// Bound returns ctx bounded by Options.Timeout, its cause an error that
// names what stopped (what) and the setting; ctx itself when there is no
// timeout. Sample and Analyze bound themselves; a caller bounds with it
// what else its cycle does on the server.
func (e *Engine) Bound(ctx context.Context, what string) (context.Context, context.CancelFunc) {
	if e.opts.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, e.opts.Timeout,
		fmt.Errorf("%s stopped after %v, its time limit (analysis.cycle_timeout)", what, e.opts.Timeout))
}

// Sample takes one pg_stat_statements snapshot of target.
func (e *Engine) Sample(ctx context.Context, t Target) (*collector.Snapshot, error) {
	ctx, cancel := e.Bound(ctx, "sample of "+t.Name)
	defer cancel()
	snap, err := e.sample(ctx, t)
	if err != nil && ctx.Err() != nil {
		return nil, context.Cause(ctx)
	}
	return snap, err
}

func (e *Engine) sample(ctx context.Context, t Target) (*collector.Snapshot, error) {
	conn, err := dbconn.Connect(ctx, t.DSN)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", t.Name, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	s, err := collector.NewSampler(conn, collector.SamplerOptions{Databases: t.Databases, Users: t.Users}, e.log)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", t.Name, err)
	}
	snap, err := s.Sample(ctx)
	if err != nil {
		return nil, fmt.Errorf("sample %s: %w", t.Name, err)
	}
	return snap, nil
}

// CumulativeWindow is a window whose only interval holds snap's counters
// since they were last reset: what a one-off report ranks when it does not
// wait between two samples.
func CumulativeWindow(snap *collector.Snapshot) (*collector.Window, error) {
	w := collector.NewWindow(collector.WindowOptions{})
	since := snap.Time.Add(-time.Nanosecond)
	if snap.Info != nil && snap.Info.StatsReset.Before(since) {
		since = snap.Info.StatsReset
	}
	zero := &collector.Snapshot{Time: since, Sampled: true, Info: snap.Info, Database: snap.Database}
	if err := w.Add(zero); err != nil {
		return nil, err
	}
	if err := w.Add(snap); err != nil {
		return nil, err
	}
	return w, nil
}

// Analyze runs one cycle over the statements of d: it ranks them, and for
// each database they run in reads the catalog from the primary, explains
// the top statements on the EXPLAIN target, detects problems, and costs
// and selects indexes. A database that cannot be analyzed becomes a
// warning in the report, not a failed cycle.
func (e *Engine) Analyze(ctx context.Context, t Target, d *collector.Delta, cumulative bool) (*Report, error) {
	ctx, cancel := e.Bound(ctx, "analysis of "+t.Name)
	defer cancel()
	top, err := d.Top(e.opts.Rank)
	if err != nil {
		return nil, fmt.Errorf("analyze %s: %w", t.Name, err)
	}
	r := &Report{
		SchemaVersion: SchemaVersion, GeneratedAt: time.Now().UTC(), Target: t.Name,
		Window:     ReportWindow{From: d.From, To: d.To, Cumulative: cumulative},
		Statements: []Statement{}, Findings: []explain.Finding{}, Recommendations: []Recommendation{},
	}
	if d.Evictions > 0 {
		times := fmt.Sprint(d.Evictions)
		if !d.EvictionsKnown {
			times = "at least " + times // some intervals could not be counted
		}
		r.Warnings = append(r.Warnings, fmt.Sprintf("pg_stat_statements evicted entries %s times in the window (each time its least-used 5%%, at least 10): "+
			"rankings miss their history (raise pg_stat_statements.max)", times))
	}
	if d.StatsResets > 0 {
		r.Warnings = append(r.Warnings, fmt.Sprintf("pg_stat_statements was reset %d time(s) in the window: what ran between the sample before a reset "+
			"and the reset is not counted, so the window holds less than its span (find what calls pg_stat_statements_reset())", d.StatsResets))
	}
	for _, db := range databasesOf(top) {
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		stmts := inDatabase(top, db)
		if err := e.analyzeDatabase(ctx, t, db, stmts, inDatabase(d.Statements, db), r); err != nil {
			if ctx.Err() != nil {
				return nil, context.Cause(ctx)
			}
			e.log.Warn("database not analyzed", zap.String("target", t.Name), zap.String("database", db), zap.Error(err))
			r.Warnings = append(r.Warnings, fmt.Sprintf("database %s not analyzed: %v", db, err))
			r.Unanalyzed = append(r.Unanalyzed, db)
			for _, s := range stmts {
				r.Statements = append(r.Statements, reportStatement(s, explain.Result{Mode: explain.ModeNone, Reason: "database not analyzed"}))
			}
		}
	}
	if ctx.Err() != nil {
		// Cut short in the last database, whose statements came out
		// skipped or refused for it: the report is not the workload's.
		return nil, context.Cause(ctx)
	}
	rankAcrossDatabases(r.Recommendations)
	slices.SortStableFunc(r.Statements, func(a, b Statement) int { return rankOf(top, a) - rankOf(top, b) })
	return r, nil
}

// analyzeDatabase adds the statements, findings and recommendations of one
// database to r: stmts are its top statements, window all of its
// statements in the window (whose writes every new index slows down).
func (e *Engine) analyzeDatabase(ctx context.Context, t Target, db string, stmts, window []collector.Statement, r *Report) error {
	cat, err := e.catalog(ctx, t.DSN, db)
	if err != nil {
		return err
	}
	explainDSN, err := collector.WithDatabase(t.explainDSN(), db)
	if err != nil {
		return fmt.Errorf("explain target: %w", err)
	}
	conn, err := dbconn.Connect(ctx, explainDSN)
	if err != nil {
		return fmt.Errorf("explain target: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	var workload []WorkloadStatement
	plans := map[string]*explain.Plan{}
	firstFinding := len(r.Findings) // this database's findings follow
	timed := slices.ContainsFunc(stmts, func(s collector.Statement) bool { return s.Share > 0 })
	for i, s := range stmts {
		e.progress("%s: explain %d/%d", db, i+1, len(stmts))
		if reason := untrustedText(s.Text.Problem); reason != "" {
			r.Statements = append(r.Statements, reportStatement(s, explain.Result{Mode: explain.ModeNone, Outcome: explain.OutcomeRefused, Reason: reason}))
			continue
		}
		res := e.runner.Run(ctx, conn, cat, explain.Query{ID: s.QueryID, Text: explain.Reparseable(s.Text.Query), RowsPerCall: rowsPerCall(s), BuffersPerCall: buffersPerCall(s)})
		rs := reportStatement(s, res)
		rs.Plan = res.Plan
		r.Statements = append(r.Statements, rs)
		w := e.workloadStatement(ctx, conn, cat, s, res)
		if res.Plan != nil {
			qualifyScans(res.Plan, cat, w.Tables)
			w.LimitScanShares = LimitScanShares(res.Plan, cat)
			plans[s.QueryID] = res.Plan
			found := foldPartitionScans(explain.Detect(res.Plan, explain.DetectOptions{
				Thresholds: e.opts.Thresholds, WorkMemBytes: cat.Settings.WorkMemBytes, QueryID: s.QueryID,
			}), cat)
			if timed && s.Share < minorShare {
				found = asMinor(found)
			}
			found = onChosenKeys(found, res.Params)
			r.Findings = append(r.Findings, found...)
		}
		if f, ok := offsetFinding(s, res.Plan); ok && !hasFinding(r.Findings, s.QueryID, explain.KindLargeOffset) {
			r.Findings = append(r.Findings, f)
		}
		if f, ok := atypicalRunFinding(s, res); ok {
			r.Findings = append(r.Findings, f)
		}
		workload = append(workload, w)
	}
	r.Findings = append(r.Findings, e.schemaFindings(cat, workload, plans)...)
	if w := inheritanceWarning(cat, workload); w != "" {
		r.Warnings = append(r.Warnings, w)
	}
	if f, ok := cacheFinding(window, cat); ok {
		r.Findings = append(r.Findings, f)
	}

	e.progress("%s: what-if costing", db)
	recs, note, err := e.recommend(ctx, conn, cat, workload, WorkloadWrites(window, cat), plans)
	if err != nil {
		return err
	}
	if note != "" {
		r.Warnings = append(r.Warnings, note)
	}
	r.Recommendations = append(r.Recommendations, recs...)
	pointFixesAtRecommendations(r.Findings[firstFinding:], recs, workload, cat)
	for i := firstFinding; i < len(r.Findings); i++ {
		r.Findings[i].Database = db
	}
	return nil
}

func (e *Engine) catalog(ctx context.Context, primaryDSN, db string) (*collector.Catalog, error) {
	e.progress("%s: catalog", db)
	cat, err := collector.ReadCatalog(ctx, primaryDSN, db, e.log)
	if err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return cat, nil
}

// workloadStatement is s as what-if costing weighs and plans it: with
// typical parameter values (planning alone never executes the statement;
// EXPLAIN ANALYZE ran with the hottest ones, which suit detection, not
// costing) and, where its run took partial indexes' constants because its
// calls read like them, those; else with the values it ran with, else its
// generic plan.
func (e *Engine) workloadStatement(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, s collector.Statement, res explain.Result) WorkloadStatement {
	query := explain.Reparseable(s.Text.Query)
	params, err := explain.SynthesizeTypicalParamsLike(ctx, conn, cat, query, rowsPerCall(s), res)
	if err != nil || len(params) == 0 {
		params = res.Params
	}
	w := WorkloadStatement{QueryID: s.QueryID, Database: s.Database, Query: query, Calls: float64(s.Calls), TimeMS: s.TotalExecTime,
		Params: explain.ParamValues(params)}
	if refs, err := References(query, cat); err == nil {
		w.Tables, w.Columns = refs.Tables, refs.Columns
	}
	return w
}

// untrustedText is why a statement with a text of this problem is not
// analyzed; "" for a text without problems.
func untrustedText(p collector.TextProblem) string {
	switch p {
	case collector.TextOK:
		return ""
	case collector.TextTruncated:
		return "not analyzed: its text was cut at the sampler's limit (" + strconv.Itoa(collector.DefaultMaxTextLength) +
			" characters): EXPLAIN it by hand with its full text from pg_stat_statements"
	case collector.TextHidden:
		return "not analyzed: pg_stat_statements hides its text from the advisor's role (grant it pg_read_all_stats)"
	case collector.TextMissing:
		return "not analyzed: pg_stat_statements has no text for it"
	default:
		return "not analyzed: its text cannot be parsed (an unterminated quote or comment, or unbalanced parentheses)"
	}
}

// buffersPerCall is the shared buffers a call of s read or hit on
// average; 0 without calls.
func buffersPerCall(s collector.Statement) float64 {
	if s.Calls <= 0 {
		return 0
	}
	return float64(s.SharedBlksHit+s.SharedBlksRead) / float64(s.Calls)
}

// rowsPerCall is the rows a call of s returned on average; 0 without calls.
func rowsPerCall(s collector.Statement) float64 {
	if s.Calls <= 0 {
		return 0
	}
	return float64(s.Rows) / float64(s.Calls)
}

// schemaFindings are the catalog's problems on the tables the workload
// touches, plus invalid indexes anywhere (a failed build is always news);
// plans are the workload's, by QueryID.
func (e *Engine) schemaFindings(cat *collector.Catalog, workload []WorkloadStatement, plans map[string]*explain.Plan) []explain.Finding {
	touched := map[string]bool{}
	for _, w := range workload {
		for _, t := range w.Tables {
			touched[t] = true
		}
	}
	var out []explain.Finding
	for _, f := range SchemaChecks(cat, slices.Collect(maps.Values(plans))...) {
		if touched[f.Table] || f.Kind == "invalid_index" {
			out = append(out, f)
		}
	}
	return out
}

func (e *Engine) recommend(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, workload []WorkloadStatement, writes []Write, plans map[string]*explain.Plan) ([]Recommendation, string, error) {
	cands := WorkloadCandidates(workload, cat, plans)
	if len(cands) == 0 {
		return nil, "", nil
	}
	w, err := NewWhatIf(ctx, conn, e.log, WhatIfOptions{Planner: ExplainPlanner{Runner: e.runner}})
	if err != nil {
		return nil, "", err
	}
	_, note := w.Available()
	recs, err := Select(ctx, w, cat, cands, workload, writes, e.opts.Select, e.log)
	if err != nil {
		return nil, "", err
	}
	return recs, note, nil
}

func (e *Engine) progress(format string, args ...any) {
	if e.opts.Progress != nil {
		e.opts.Progress(fmt.Sprintf(format, args...))
	}
}

func reportStatement(s collector.Statement, res explain.Result) Statement {
	return Statement{
		QueryID: s.QueryID, Database: s.Database, User: s.User, Query: s.Text.Query,
		Calls: s.Calls, TotalExecTimeMS: s.TotalExecTime, MeanExecTimeMS: s.MeanExecTime,
		Rows: s.Rows, SharedBlksRead: s.SharedBlksRead, TempBlksWritten: s.TempBlksWritten, WorkloadShare: s.Share,
		Explain: ExplainInfo{Mode: string(res.Mode), Reason: res.Reason, Params: explain.ParamValues(res.Params), Outcome: string(res.Outcome), Error: res.Err,
			Values: string(res.Values)},
	}
}

// minorShare is the part of the window's execution time under which a
// statement's plan findings are only informational. Detect weighs a
// problem against its own statement's time; a 70x misestimate in a 0.1 ms
// lookup is real, but a warning there would draw the eye from what costs
// the workload.
const minorShare = 0.01

// asMinor makes the findings of a minor statement informational.
func asMinor(fs []explain.Finding) []explain.Finding {
	for i := range fs {
		if fs[i].Severity != explain.Info {
			fs[i].Severity = explain.Info
			fs[i].Detail += fmt.Sprintf(" Informational: the statement takes under %.0f%% of the window's execution time.", 100*minorShare)
		}
	}
	return fs
}

// onChosenKeys makes informational the findings that name a JSON key the
// advisor chose for a parameter (meta ->> $1): pg_stat_statements hides
// the application's own, so they describe a plan of the advisor's making.
// A misestimate's statistics on the chosen key would fix nothing.
func onChosenKeys(fs []explain.Finding, params []explain.Param) []explain.Finding {
	var keys []string // as EXPLAIN prints them after a JSON operator
	for _, p := range params {
		if p.JSONKey {
			for _, op := range []string{"->> ", "-> ", "? "} {
				keys = append(keys, op+quoteLiteral(p.Value))
			}
		}
	}
	for i := range fs {
		f := &fs[i]
		if !slices.ContainsFunc(keys, func(k string) bool { return strings.Contains(f.Detail, k) || strings.Contains(f.Fix, k) }) {
			continue
		}
		f.Severity = explain.Info
		f.Detail += " Its JSON key is one the advisor chose: pg_stat_statements hides the statement's own, a parameter, so the application's plans may differ."
		if f.Kind == explain.KindMisestimate {
			f.Fix = "Statistics on the keys the application filters by (CREATE STATISTICS ... ON ((column ->> 'key')) FROM table; ANALYZE), or an expression index on them, would correct such estimates; pg_stat_statements does not show which keys those are."
		}
	}
	return fs
}

func hasFinding(fs []explain.Finding, queryID, kind string) bool {
	return slices.ContainsFunc(fs, func(f explain.Finding) bool { return f.QueryID == queryID && f.Kind == kind })
}

// inDatabase are the statements of stmts that run in database db.
func inDatabase(stmts []collector.Statement, db string) []collector.Statement {
	var out []collector.Statement
	for _, s := range stmts {
		if s.Database == db {
			out = append(out, s)
		}
	}
	return out
}

// databasesOf lists the databases of ranked statements, costliest first.
func databasesOf(top []collector.Statement) []string {
	var dbs []string
	for _, s := range top {
		if !slices.Contains(dbs, s.Database) {
			dbs = append(dbs, s.Database)
		}
	}
	return dbs
}

func rankOf(top []collector.Statement, s Statement) int {
	return slices.IndexFunc(top, func(t collector.Statement) bool {
		return t.QueryID == s.QueryID && t.Database == s.Database && t.User == s.User
	})
}

// inheritanceWarning names the tables of the workload that others inherit
// from (old-style INHERITS): a statement reading one also scans those
// children, whose indexes the advisor neither costs nor recommends (a
// hypothetical index on the parent does not reach them); "" when none.
func inheritanceWarning(cat *collector.Catalog, workload []WorkloadStatement) string {
	var parents []string
	for _, w := range workload {
		for _, name := range w.Tables {
			if t := findTable(cat, name); t != nil && t.InheritedBy > 0 && !slices.Contains(parents, t.QualifiedName()) {
				parents = append(parents, t.QualifiedName())
			}
		}
	}
	if len(parents) == 0 {
		return ""
	}
	slices.Sort(parents)
	return fmt.Sprintf("%s: tables inherit from them (old-style inheritance, not partitions), and the advisor recommends no index "+
		"on those children, whose rows the statements reading the parents scan too: index the children their plans scan by hand "+
		"(CREATE INDEX CONCURRENTLY on each; the seq_scan findings name them)", strings.Join(parents, ", "))
}

// rankAcrossDatabases orders the recommendations of several databases,
// each database's in Select's order, as Select ranks one's: costed ones
// by the time they save, uncosted ones after them.
func rankAcrossDatabases(recs []Recommendation) {
	slices.SortStableFunc(recs, func(a, b Recommendation) int {
		if a.Costed() != b.Costed() {
			if a.Costed() {
				return -1
			}
			return 1
		}
		return cmp.Compare(b.TimeSavedMS, a.TimeSavedMS)
	})
}
