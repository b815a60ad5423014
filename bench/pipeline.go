package main

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

// workloadResult is everything measured on one workload.
type workloadResult struct {
	Name        string   `json:"name"`
	Description string   `json:"description"`
	Skipped     string   `json:"skipped,omitempty"`
	Error       string   `json:"error,omitempty"`
	Seconds     float64  `json:"seconds"`
	Load        loadInfo `json:"load"`
	Statements  int      `json:"statements"`

	Advisor         *advisorRun `json:"advisor,omitempty"`
	Recommendations []built     `json:"recommendations"`
	Warnings        []string    `json:"warnings,omitempty"`

	// Planner costs: sum of calls x cost per call.
	CostBefore     float64 `json:"cost_before"`
	CostAfterHypo  float64 `json:"cost_after_hypopg"` // the advisor's indexes as HypoPG ones
	CostAfterBuilt float64 `json:"cost_after_built"`  // the advisor's indexes really built
	// CostBeforeBuilt is planned after the build with the new indexes
	// dropped: the same statistics as CostAfterBuilt (the DDL's ANALYZE of
	// an expression index's table samples them anew).
	CostBeforeBuilt float64  `json:"cost_before_built"`
	BuildSeconds    float64  `json:"build_seconds"`
	BuiltBytes      int64    `json:"built_bytes"`
	EstimatedBytes  int64    `json:"estimated_bytes"`
	HypoPGBytes     int64    `json:"hypopg_bytes"`
	HypoSkipped     []string `json:"hypopg_skipped,omitempty"`

	Oracle        *oracleResult `json:"oracle,omitempty"`
	OracleShare   float64       `json:"oracle_share"` // advisor's hypothetical reduction / oracle's
	OracleError   string        `json:"oracle_error,omitempty"`
	TotalMSBefore float64       `json:"total_ms_before"` // sum of calls x mean latency
	TotalMSAfter  float64       `json:"total_ms_after"`

	PerStatement    []statementResult `json:"per_statement"`
	Regressions     []string          `json:"regressions"`
	CostRegressions []string          `json:"cost_regressions"`
	// MSPerCost converts planner cost to measured time on this workload
	// (see msPerCost); BelowWriteCost are the recommendations whose
	// measured benefit is below their estimated write cost.
	MSPerCost      float64     `json:"ms_per_cost"`
	BelowWriteCost []string    `json:"below_write_cost"`
	Budgets        []budgetRun `json:"budgets,omitempty"`
}

// statementResult is one statement before and after.
type statementResult struct {
	Name       string  `json:"name"`
	SQL        string  `json:"sql"`
	Calls      float64 `json:"calls"`
	CostBefore float64 `json:"cost_before"`
	CostAfter  float64 `json:"cost_after"`
	CostHypo   float64 `json:"cost_after_hypopg"`
	CostError  string  `json:"cost_error,omitempty"`
	Before     latency `json:"before"`
	After      latency `json:"after"`
	// Advice is what the advisor's report offers the statement: the
	// recommended indexes that serve it and the kinds of its findings.
	Advice string `json:"advice,omitempty"`
}

// budgetRun is the advisor at one budget: what it chose, what that really
// built, and the workload's relative planner cost.
type budgetRun struct {
	Label          string   `json:"label"`
	BudgetBytes    int64    `json:"budget_bytes"`
	Indexes        int      `json:"indexes"`
	EstimatedBytes int64    `json:"estimated_bytes"`
	HypoPGBytes    int64    `json:"hypopg_bytes"`
	BuiltBytes     int64    `json:"built_bytes"`
	RelativeCost   float64  `json:"relative_cost"`
	AdvisorSeconds float64  `json:"advisor_seconds"`
	BuildSeconds   float64  `json:"build_seconds"`
	DDL            []string `json:"ddl"`
}

// options of one benchmark run.
type runOptions struct {
	analysis analysisOptions
	budgets  []budget // extra budgets (TPC-H), each one advisor run
	oracle   bool
	// rounds of fixed-parameter runs; each statement keeps its best round.
	rounds int
}

type budget struct {
	label string
	bytes int64
}

// regressionRatio: a statement regressed when it got slower than this.
const regressionRatio = 1.10

// regressionFloorMS: latency differences below this are timer and
// scheduling noise on a shared 2-core machine, not regressions.
const regressionFloorMS = 0.05

func planRunner(log *zap.Logger) *explain.Runner {
	return explain.NewRunner(log, explain.RunnerOptions{StatementTimeout: time.Minute})
}

// benchmark runs one workload end to end in a database of its own.
func benchmark(ctx context.Context, e *env, wl workload, o runOptions, log *zap.Logger) (res *workloadResult, err error) {
	start := time.Now()
	res = &workloadResult{Name: wl.name(), Description: wl.describe()}
	defer func() { res.Seconds = time.Since(start).Seconds() }()
	db := wl.name()
	if err := e.cluster.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err != nil {
		return res, err
	}
	if err := e.cluster.CreateDatabase(ctx, db, "pg_trgm"); err != nil {
		return res, err
	}
	defer func() {
		if dropErr := e.cluster.Exec(context.WithoutCancel(ctx), "postgres", "DROP DATABASE IF EXISTS "+db+" WITH (FORCE)"); err == nil {
			err = dropErr
		}
	}()

	e.log("%s: loading", db)
	t := time.Now()
	if res.Load, err = wl.load(ctx, e, db); err != nil {
		return res, fmt.Errorf("load: %w", err)
	}
	res.Load.Seconds = time.Since(t).Seconds()
	conn, err := e.connect(ctx, db, false)
	if err != nil {
		return res, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if res.Load.Tables, res.Load.Rows, res.Load.Bytes, err = dbSize(ctx, conn); err != nil {
		return res, fmt.Errorf("database size: %w", err)
	}
	e.log("%s: loaded %d rows in %d tables (%s) in %.0fs", db, res.Load.Rows, res.Load.Tables, mb(res.Load.Bytes), res.Load.Seconds)
	if err := e.cluster.WaitReplay(ctx); err != nil {
		return res, err
	}
	cat, err := collector.LoadCatalog(ctx, conn, log)
	if err != nil {
		return res, fmt.Errorf("catalog: %w", err)
	}
	stmts, err := wl.statements(ctx, e, db, cat)
	if err != nil {
		return res, fmt.Errorf("statements: %w", err)
	}
	res.Statements = len(stmts)
	runner := planRunner(log)

	e.log("%s: playing the mix", db)
	if err := resetStatements(ctx, e); err != nil {
		return res, err
	}
	t = time.Now()
	if err := wl.drive(ctx, e, db, stmts); err != nil {
		return res, fmt.Errorf("drive: %w", err)
	}
	e.log("%s: mix played in %.0fs", db, time.Since(t).Seconds())
	if err := recordedCalls(ctx, conn, stmts); err != nil {
		return res, err
	}
	if s, ok := wl.(synthesized); ok {
		if err := s.planParams(ctx, e, db, cat, stmts); err != nil {
			return res, err
		}
	}
	if err := e.cluster.WaitReplay(ctx); err != nil {
		return res, err
	}
	// The drive's writes may have changed plans a little: costs are taken
	// now, on the data the advisor sees.
	costBefore, costErrs, err := planCosts(ctx, runner, conn, stmts)
	if err != nil {
		return res, err
	}
	res.CostBefore = workloadCost(stmts, costBefore)

	// Extra budgets first: each run re-reads the same recorded mix.
	for _, b := range o.budgets {
		br, err := budgetPoint(ctx, e, db, conn, runner, cat, stmts, wl.analysis(withBudget(o.analysis, b.bytes)), log)
		if err != nil {
			return res, fmt.Errorf("budget %s: %w", b.label, err)
		}
		br.Label = b.label
		res.Budgets = append(res.Budgets, *br)
		e.log("%s: budget %s: %d indexes, %s built, relative cost %.3f", db, b.label, br.Indexes, mb(br.BuiltBytes), br.RelativeCost)
	}

	e.log("%s: running the advisor", db)
	run, err := runAdvisor(ctx, e, db, wl.analysis(o.analysis), log)
	if err != nil {
		return res, fmt.Errorf("advisor: %w", err)
	}
	res.Advisor = run
	res.Warnings = run.Report.Warnings
	recs := run.Report.Recommendations
	e.log("%s: advisor took %.1fs for %d statements: %d recommendations", db, run.WallSeconds, run.Analyzed, len(recs))

	var ddl []string
	for _, r := range recs {
		h, _, err := hypoForm(r.DDL)
		if err != nil {
			res.HypoSkipped = append(res.HypoSkipped, err.Error())
			continue
		}
		ddl = append(ddl, h)
	}
	costHypo, _, skipped, err := hypoCosts(ctx, runner, conn, stmts, ddl)
	if err != nil {
		return res, fmt.Errorf("advisor's indexes as hypothetical ones: %w", err)
	}
	res.HypoSkipped = append(res.HypoSkipped, skipped...)
	res.CostAfterHypo = workloadCost(stmts, costHypo)

	if o.oracle {
		e.log("%s: oracle", db)
		or, err := runOracle(ctx, conn, cat, stmts, log)
		if err != nil {
			res.OracleError = err.Error()
			e.log("%s: oracle failed: %v", db, err)
		} else {
			res.Oracle = or
			var got float64
			for i, s := range stmts {
				if costErrs[i] == nil {
					got += s.Calls * (costBefore[i] - costHypo[i])
				}
			}
			if or.Reduction > 0 {
				res.OracleShare = got / or.Reduction
			}
			e.log("%s: oracle costed %d candidates in %.0fs: %d indexes; advisor reaches %.0f%% of its reduction", db, or.Candidates, or.Seconds, or.Indexes, 100*res.OracleShare)
		}
	}

	e.log("%s: building %d indexes", db, len(recs))
	bs, err := apply(ctx, conn, recs)
	if err != nil {
		return res, fmt.Errorf("apply: %w", err)
	}
	res.Recommendations = bs
	for _, b := range bs {
		res.BuildSeconds += b.BuildSeconds
		res.BuiltBytes += b.BuiltB
		res.EstimatedBytes += b.EstimatedB
		res.HypoPGBytes += b.HypoPGB
	}
	costAfter, _, err := planCosts(ctx, runner, conn, stmts)
	if err != nil {
		return res, err
	}
	res.CostAfterBuilt = workloadCost(stmts, costAfter)
	drops := newIndexDrops(cat, bs)
	costWithout, err := planCostsWithout(ctx, conn, stmts, drops)
	if err != nil {
		return res, err
	}
	res.CostBeforeBuilt = workloadCost(stmts, costWithout)

	e.log("%s: measuring after", db)
	var before, after []latency
	if self, ok := wl.(selfMeasured); ok {
		before, after, err = measureAlternating(ctx, e, self, conn, db, stmts, recs, bs, o.rounds)
	} else if err = settle(ctx, e, conn); err == nil {
		before, after, err = measurePaired(ctx, e, db, stmts, wl.fixedSets(stmts), drops, o.rounds)
	}
	if err != nil {
		return res, fmt.Errorf("measure: %w", err)
	}
	res.MSPerCost = msPerCost(stmts, costWithout, costErrs, before)
	for i, s := range stmts {
		sr := statementResult{Name: s.Name, SQL: s.SQL, Calls: s.Calls, CostBefore: costBefore[i], CostAfter: costAfter[i], CostHypo: costHypo[i],
			Before: before[i], After: after[i], Advice: adviceFor(run.Report, s.QueryID)}
		if costErrs[i] != nil {
			sr.CostError = costErrs[i].Error()
		}
		res.PerStatement = append(res.PerStatement, sr)
		res.TotalMSBefore += s.Calls * before[i].MeanMS
		res.TotalMSAfter += s.Calls * after[i].MeanMS
		if slower(before[i], after[i]) {
			note := ""
			switch {
			case costErrs[i] != nil || math.Abs(costAfter[i]-costWithout[i]) > 0.005*costWithout[i]:
			case s.Write:
				note = fmt.Sprintf(" (the same plan: a write also maintains the new indexes; %.0f ms more over its %.0f calls, against the advisor's estimate of %.0f ms)",
					s.Calls*(after[i].MeanMS-before[i].MeanMS), s.Calls, estimatedWriteMS(recs, bs, s, res.MSPerCost))
			default:
				// Noise, or the cache: with the new indexes the other
				// statements' index scans keep their pages in
				// shared_buffers, where the sequential scans they replace
				// read through a small ring, so a statement bound by
				// shared_buffers, like the demo's OFFSET paging, finds
				// less of its table there. Seen by hand on the demo
				// (pg_buffercache, 128 MB): its five payload filters
				// through the new GIN left 9,314 activity_log pages
				// where the sequential scans left 513, and comments
				// went from 7,396 pages to 5,199.
				note = " (planner cost unchanged: the same plan; noise, or less of its table in shared_buffers beside the new indexes' pages)"
			}
			if flagged := flaggedBy(recs, s.QueryID, func(r advisor.Recommendation) []string { return r.CacheDependent }); flagged != "" {
				note += " (flagged by the advisor: the server's planner uses " + flagged + " for it where the costing capped at shared_buffers does not)"
			}
			if flagged := flaggedBy(recs, s.QueryID, func(r advisor.Recommendation) []string { return r.LimitWalks }); flagged != "" {
				note += " (flagged by the advisor: its plan reads " + flagged + " in index order until the LIMIT fills)"
			}
			if flagged := flaggedBy(recs, s.QueryID, func(r advisor.Recommendation) []string { return r.Incidental }); flagged != "" {
				note += " (flagged by the advisor: its plan uses " + flagged + " for an estimated gain too small to count)"
			}
			res.Regressions = append(res.Regressions, fmt.Sprintf("%s: mean %.3f ms -> %.3f ms, median %.3f -> %.3f, p95 %.3f -> %.3f%s",
				s.Name, before[i].MeanMS, after[i].MeanMS, before[i].MedianMS, after[i].MedianMS, before[i].P95MS, after[i].P95MS, note))
		}
		if costErrs[i] == nil && costAfter[i] > regressionRatio*costWithout[i] {
			res.CostRegressions = append(res.CostRegressions, fmt.Sprintf("%s: planner cost %.1f -> %.1f", s.Name, costWithout[i], costAfter[i]))
		}
	}
	var below []built
	for i := range res.Recommendations {
		b := &res.Recommendations[i]
		for j, s := range stmts {
			if s.QueryID != "" && slices.Contains(b.QueryIDs, s.QueryID) {
				b.BenefitMS += s.Calls * (before[j].MeanMS - after[j].MeanMS)
			}
		}
		b.WriteCostMS = b.WriteCost * res.MSPerCost
		if b.BenefitMS < b.WriteCostMS {
			below = append(below, *b)
		}
	}
	// The largest shortfall first.
	slices.SortStableFunc(below, func(x, y built) int { return cmp.Compare(x.BenefitMS-x.WriteCostMS, y.BenefitMS-y.WriteCostMS) })
	for _, b := range below {
		flagged := ""
		if n := len(b.LimitWalks); n > 0 {
			flagged = fmt.Sprintf(" (flagged by the advisor: %d of the %d statements it serves read it in index order until the LIMIT fills)", n, len(b.QueryIDs))
		}
		res.BelowWriteCost = append(res.BelowWriteCost, fmt.Sprintf("%s: measured benefit %.1f ms, estimated write cost %.1f ms%s", b.spec(), b.BenefitMS, b.WriteCostMS, flagged))
	}
	return res, nil
}

// msPerCost is what one unit of planner cost took on this workload: the
// reads' measured time without the new indexes over their planner cost,
// both weighted by calls. It puts the advisor's write cost, an estimate in
// planner units, beside the measured benefit of an index.
func msPerCost(stmts []stmt, cost []float64, costErrs []error, before []latency) float64 {
	var ms, units float64
	for i, s := range stmts {
		if s.Write || costErrs[i] != nil || cost[i] <= 0 || before[i].Runs == 0 {
			continue
		}
		ms += s.Calls * before[i].MeanMS
		units += s.Calls * cost[i]
	}
	return ratio(ms, units)
}

// estimatedWriteMS is what the advisor estimated the new indexes cost
// write statement s to maintain, scaled from the calls of its window to
// the calls s is measured with, in milliseconds (see msPerCost). bs are
// recs as apply built them: an index whose build failed costs nothing.
func estimatedWriteMS(recs []advisor.Recommendation, bs []built, s stmt, msPerCost float64) float64 {
	var ms float64
	for i, r := range recs {
		if i < len(bs) && bs[i].Error != "" {
			continue
		}
		for _, w := range r.Writes {
			if w.QueryID == s.QueryID && w.Calls > 0 {
				ms += s.Calls * w.Cost / w.Calls * msPerCost
			}
		}
	}
	return ms
}

// measureAlternating measures a workload that runs its statements itself
// with and without the built indexes, alternating: each round drops them
// or builds them again between its two sides, and which side goes first
// alternates too, so that load from other processes, and whatever the
// side before left in the caches, fall on both alike. Each side starts
// settled (see settle): a side that follows a build would otherwise pay
// for writing it out. Each statement keeps its best round on each side;
// the indexes are built when it returns.
func measureAlternating(ctx context.Context, e *env, wl selfMeasured, conn *pgx.Conn, db string, stmts []stmt, recs []advisor.Recommendation, bs []built, rounds int) (before, after []latency, err error) {
	keep := func(best, ls []latency) []latency {
		if best == nil {
			return ls
		}
		for i, l := range ls {
			if l.Errors <= best[i].Errors && l.MeanMS < best[i].MeanMS {
				best[i] = l
			}
		}
		return best
	}
	built := true
	side := func(with bool) ([]latency, error) {
		var err error
		switch {
		case with && !built:
			bs, err = apply(ctx, conn, recs)
		case !with && built:
			err = dropBuilt(ctx, conn, bs)
		}
		if err != nil {
			return nil, err
		}
		built = with
		if err := settle(ctx, e, conn); err != nil {
			return nil, err
		}
		return wl.measure(ctx, e, db, stmts)
	}
	for r := range max(1, rounds) {
		for _, with := range []bool{r%2 == 0, r%2 == 1} {
			ls, err := side(with)
			if err != nil {
				return nil, nil, err
			}
			if with {
				after = keep(after, ls)
			} else {
				before = keep(before, ls)
			}
		}
		e.log("%s: round %d of %d measured", db, r+1, max(1, rounds))
	}
	if !built {
		if _, err := apply(ctx, conn, recs); err != nil {
			return nil, nil, err
		}
	}
	return before, after, nil
}

// settle writes out the dirty pages and waits for the replica to replay
// the WAL that building or dropping indexes left, so that the measurement
// that follows does not pay for them.
func settle(ctx context.Context, e *env, conn *pgx.Conn) error {
	if _, err := conn.Exec(ctx, "CHECKPOINT"); err != nil {
		return fmt.Errorf("settle: %w", err)
	}
	if err := e.cluster.WaitReplay(ctx); err != nil {
		return fmt.Errorf("settle: wait for the replica: %w", err)
	}
	return nil
}

// slower reports a regression: the mean and the median both grew by more
// than 10%, and by more than the noise floor (one stalled run moves the
// mean of a handful of runs, not the median).
func slower(before, after latency) bool {
	return after.MeanMS > regressionRatio*before.MeanMS && after.MedianMS > regressionRatio*before.MedianMS &&
		after.MedianMS-before.MedianMS > regressionFloorMS
}

func withBudget(a analysisOptions, bytes int64) analysisOptions {
	a.BudgetBytes = bytes
	return a
}

// budgetPoint runs the advisor at one budget, builds what it recommends,
// measures the relative planner cost and the built size, and drops the
// indexes again.
func budgetPoint(ctx context.Context, e *env, db string, conn *pgx.Conn, runner *explain.Runner, cat *collector.Catalog, stmts []stmt, a analysisOptions, log *zap.Logger) (*budgetRun, error) {
	run, err := runAdvisor(ctx, e, db, a, log)
	if err != nil {
		return nil, err
	}
	bs, err := apply(ctx, conn, run.Report.Recommendations)
	if err != nil {
		return nil, err
	}
	br := &budgetRun{BudgetBytes: a.BudgetBytes, Indexes: len(bs), AdvisorSeconds: run.WallSeconds}
	for _, b := range bs {
		br.EstimatedBytes += b.EstimatedB
		br.HypoPGBytes += b.HypoPGB
		br.BuiltBytes += b.BuiltB
		br.BuildSeconds += b.BuildSeconds
		br.DDL = append(br.DDL, b.DDL)
	}
	costs, _, err := planCosts(ctx, runner, conn, stmts)
	if err != nil {
		return nil, err
	}
	costsWithout, err := planCostsWithout(ctx, conn, stmts, newIndexDrops(cat, bs))
	if err != nil {
		return nil, err
	}
	br.RelativeCost = ratio(workloadCost(stmts, costs), workloadCost(stmts, costsWithout))
	if err := dropBuilt(ctx, conn, bs); err != nil {
		return nil, err
	}
	return br, e.cluster.WaitReplay(ctx)
}

// resetStatements empties pg_stat_statements on both servers, so the
// advisor sees the mix alone.
func resetStatements(ctx context.Context, e *env) error {
	for _, replica := range []bool{false, true} {
		c, err := e.connect(ctx, "postgres", replica)
		if err != nil {
			return err
		}
		_, err = c.Exec(ctx, "SELECT pg_stat_statements_reset()")
		c.Close(ctx)
		if err != nil {
			return fmt.Errorf("reset pg_stat_statements: %w", err)
		}
	}
	return nil
}

// recordedCalls sets each statement's weight to its calls in
// pg_stat_statements, its query id (which the advisor's evidence names)
// and its rows per call, matched by text; statements recorded under a
// normalized text (literal constants) keep theirs.
func recordedCalls(ctx context.Context, conn *pgx.Conn, stmts []stmt) error {
	rows, err := conn.Query(ctx, `SELECT query, min(queryid)::text, sum(calls)::float8, sum(rows)::float8 FROM pg_stat_statements WHERE toplevel GROUP BY query`)
	if err != nil {
		return fmt.Errorf("read recorded calls: %w", err)
	}
	type recorded struct {
		queryID     string
		calls, rows float64
	}
	byText := map[string]recorded{}
	var q string
	var r recorded
	if _, err := pgx.ForEachRow(rows, []any{&q, &r.queryID, &r.calls, &r.rows}, func() error { byText[q] = r; return nil }); err != nil {
		return fmt.Errorf("read recorded calls: %w", err)
	}
	for i := range stmts {
		r, ok := byText[stmts[i].SQL]
		if !ok {
			// Constants in the text are recorded as $n.
			if norm, err := pg_query.Normalize(stmts[i].SQL); err == nil {
				r, ok = byText[norm]
			}
		}
		if ok && r.calls > 0 {
			stmts[i].Calls, stmts[i].QueryID, stmts[i].RowsPerCall = r.calls, r.queryID, r.rows/r.calls
		}
	}
	return nil
}

// adviceFor summarizes what rep offers the statement with queryID.
func adviceFor(rep *advisor.Report, queryID string) string {
	var parts []string
	if idx := flaggedBy(rep.Recommendations, queryID, func(r advisor.Recommendation) []string { return r.QueryIDs }); idx != "" {
		parts = append(parts, "index "+idx)
	}
	var kinds []string
	for _, f := range rep.Findings {
		if queryID != "" && f.QueryID == queryID && !slices.Contains(kinds, f.Kind) {
			kinds = append(kinds, f.Kind)
		}
	}
	if len(kinds) > 0 {
		parts = append(parts, "findings "+strings.Join(kinds, ", "))
	}
	return strings.Join(parts, "; ")
}

// flaggedBy names the recommended indexes whose list of flagged
// statements (the advisor's warnings: CacheDependent, LimitWalks) holds
// queryID.
func flaggedBy(recs []advisor.Recommendation, queryID string, flagged func(advisor.Recommendation) []string) string {
	if queryID == "" {
		return ""
	}
	var names []string
	for _, r := range recs {
		if slices.Contains(flagged(r), queryID) {
			names = append(names, r.Target())
		}
	}
	return strings.Join(names, ", ")
}
