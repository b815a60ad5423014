package advisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Planner plans one statement (never executes it) on conn. Hypothetical
// indexes appear in plans as "<oid>btree_table_col".
type Planner interface {
	PlanCost(ctx context.Context, conn *pgx.Conn, stmt WorkloadStatement) (PlanSummary, error)
}

// PlanSummary is what what-if costing reads from a plan.
type PlanSummary struct {
	Cost    float64  // Total Cost of the top plan node
	Indexes []string // every index the plan scans
	// IndexOnly are the indexes it reads in an Index Only Scan.
	IndexOnly []string
	// Probed are the indexes it scans on the inner side of a nested loop,
	// once per outer row.
	Probed []string
	// Walked are the indexes it reads in index order for a LIMIT while a
	// filter on the scan, or a join above it, drops rows: the planner
	// expects the LIMIT to fill once it has read the share of the index
	// that holds that many surviving rows, which holds only when they are
	// spread evenly along it.
	Walked []string
	// WalkBound is Cost were each LIMIT above a walked index to read all
	// of its input, as often as the LIMIT runs: what the plan costs when
	// the rows it keeps lie at the far end of the index. It equals Cost
	// when nothing is walked.
	WalkBound float64
	// Filters are the filters of its scans, by the relation they scan, as
	// EXPLAIN prints them: the statement's values folded into constants.
	Filters []ScanFilter
	// ReadShareCosted says Cost counts what the statement's measured run
	// read under a LIMIT, more than the planner expects (LimitScanShares).
	ReadShareCosted bool
}

// ScanFilter is the Filter of one scan node.
type ScanFilter struct{ Relation, Filter string }

// ExplainPlanner is the default Planner: explain.Runner.PlanOnly, a plain
// EXPLAIN (never executed) in a read-only transaction that is rolled back,
// with stmt.Params bound for a custom plan, or the generic plan without.
// It shares the runner's parsing and protocol safeguards, so a query text
// can never bring a second statement along.
type ExplainPlanner struct {
	// Runner plans; nil means one with default timeouts.
	Runner *explain.Runner
}

// PlanCost implements Planner.
func (p ExplainPlanner) PlanCost(ctx context.Context, conn *pgx.Conn, stmt WorkloadStatement) (PlanSummary, error) {
	r := p.Runner
	if r == nil {
		r = explain.NewRunner(nil, explain.RunnerOptions{}) // no parse cache: pass a Runner when planning often
	}
	plan, err := r.PlanOnly(ctx, conn, stmt.Query, stmt.Params)
	if err != nil {
		return PlanSummary{}, fmt.Errorf("plan statement %s: %w", stmt.QueryID, err)
	}
	return summarize(plan, stmt.LimitScanShares), nil
}

// summarize reads plan; readShares are the statement's
// WorkloadStatement.LimitScanShares, which correct the cost of a LIMIT
// that its measured run showed reading further than the plan expects.
func summarize(plan *explain.Plan, readShares map[string]float64) PlanSummary {
	s := PlanSummary{Cost: plan.Root.TotalCost, WalkBound: plan.Root.TotalCost}
	// visit reports whether an index below n is walked for a LIMIT that
	// is not yet accounted for in WalkBound; n runs loops times a query.
	var visit func(n *explain.Node, probed bool, w limitWalk, loops float64) bool
	visit = func(n *explain.Node, probed bool, w limitWalk, loops float64) bool {
		walks := false
		if n.RelationName != "" && n.Filter != "" {
			s.Filters = append(s.Filters, ScanFilter{Relation: n.RelationName, Filter: n.Filter})
		}
		if n.IndexName != "" {
			s.Indexes = appendNew(s.Indexes, n.IndexName)
			if n.NodeType == "Index Only Scan" {
				s.IndexOnly = appendNew(s.IndexOnly, n.IndexName)
			}
			if probed {
				s.Probed = appendNew(s.Probed, n.IndexName)
			}
			if w.limited && (w.filtered || n.Filter != "") && (n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan") {
				s.Walked = appendNew(s.Walked, n.IndexName)
				walks = true
			}
		}
		for _, c := range n.Plans {
			// A Materialize node runs its input once, however often it is rescanned.
			probedBelow := (probed || n.NodeType == "Nested Loop" && c.ParentRelationship == "Inner") && n.NodeType != "Materialize"
			if visit(c, probedBelow, w.into(n, c), loops*runsPerLoop(n, c)) {
				walks = true
			}
		}
		in := input(n)
		if n.NodeType == "Limit" && in != nil {
			if scan := limitedSeqScan(in); scan != nil {
				if extra := readShares[scan.Alias]*in.TotalCost - n.TotalCost; extra > 0 {
					s.Cost += loops * extra
					s.WalkBound += loops * extra
					s.ReadShareCosted = true
				}
			}
		}
		if walks && n.NodeType == "Limit" && in != nil {
			s.WalkBound += loops * max(in.TotalCost-n.TotalCost, 0)
			return false
		}
		return walks
	}
	visit(plan.Root, false, limitWalk{}, 1)
	return s
}

// limitedSeqScan is the sequential scan with a filter that a LIMIT reads
// from, directly or through a Gather; nil when in is not one. The planner
// costs such a LIMIT at the share of the table it expects to hold enough
// matching rows, read from the start: a guess that fails for a value
// rarer than it thinks (lower(email) = $1, whose expression has no
// statistics, it takes to match 0.5% of the rows), or whose rows lie at
// the table's end.
func limitedSeqScan(in *explain.Node) *explain.Node {
	if in.NodeType == "Gather" && len(in.Plans) == 1 {
		in = in.Plans[0]
	}
	if in.NodeType == "Seq Scan" && in.Filter != "" {
		return in
	}
	return nil
}

// LimitScanShares measures, from a statement's EXPLAIN ANALYZE, the share
// of its table each filtered sequential scan under a LIMIT read per run of
// the LIMIT, by the scan's alias; nil when there is none, or plan did not
// run. What-if plans of the statement with the same LIMIT over the same
// scan cost what reading that share costs, when that is more than the
// planner thinks: a hypothetical index on a filter that the planner
// believes finds its row in the first pages shows no gain, where the
// statement's calls read the whole table.
func LimitScanShares(plan *explain.Plan, cat *collector.Catalog) map[string]float64 {
	if plan == nil || plan.Root == nil || plan.Root.ActualLoops == 0 {
		return nil
	}
	var shares map[string]float64
	plan.Walk(func(_ string, n *explain.Node) bool {
		in := input(n)
		if n.NodeType != "Limit" || in == nil || n.ActualLoops == 0 {
			return true
		}
		scan := limitedSeqScan(in)
		if scan == nil {
			return true
		}
		t := findTable(cat, collector.QuoteIdent(scan.Schema)+"."+collector.QuoteIdent(scan.RelationName))
		if t == nil || t.RelTuples <= 0 {
			return true
		}
		read := (scan.ActualRows + scan.RowsRemovedByFilter) * scan.ActualLoops / n.ActualLoops
		if shares == nil {
			shares = map[string]float64{}
		}
		shares[scan.Alias] = min(read/t.RelTuples, 1)
		return true
	})
	return shares
}

// input is the child n reads its rows from (its outer child), not an
// InitPlan or SubPlan that EXPLAIN lists beside it; nil for a scan.
func input(n *explain.Node) *explain.Node {
	for _, c := range n.Plans {
		if c.ParentRelationship == "Outer" {
			return c
		}
	}
	return nil
}

// runsPerLoop is how many times child runs each time parent does: a
// nested loop's inner side once per outer row, a SubPlan once per row of
// the node it belongs to (at least; the rows it filters out count too).
func runsPerLoop(parent, child *explain.Node) float64 {
	switch {
	case child.ParentRelationship == "SubPlan":
		return max(parent.PlanRows, 1)
	case child.ParentRelationship == "Inner" && parent.NodeType == "Nested Loop":
		if outer := input(parent); outer != nil {
			return max(outer.PlanRows, 1)
		}
	}
	return 1
}

// limitWalk follows a Limit down through the nodes that hand rows on as
// they get them, so that the Limit stops the scan beneath early; filtered
// records whether one of them drops rows.
type limitWalk struct{ limited, filtered bool }

// streaming are the nodes, besides joins, that pass rows on one by one.
var streaming = map[string]bool{"Gather": true, "Gather Merge": true, "Result": true, "Subquery Scan": true,
	"Append": true, "Merge Append": true, "Unique": true, "Incremental Sort": true}

// into is the walk's state at child, below parent.
func (w limitWalk) into(parent, child *explain.Node) limitWalk {
	switch {
	case child.ParentRelationship == "InitPlan" || child.ParentRelationship == "SubPlan":
		return limitWalk{} // a plan of its own: the Limit does not stop it
	case parent.NodeType == "Limit":
		return limitWalk{limited: true}
	case !w.limited:
		return w
	case parent.NodeType == "Nested Loop" || parent.NodeType == "Merge Join":
		// The outer side streams. An inner, semi or anti join is taken to
		// drop outer rows when the planner expects fewer than half of them
		// to come out (a join along a foreign key keeps them all); a left
		// or full join keeps them all.
		if child.ParentRelationship != "Outer" {
			return limitWalk{}
		}
		w.filtered = w.filtered || parent.JoinType != "Left" && parent.JoinType != "Full" && parent.PlanRows < child.PlanRows/2
		return w
	case streaming[parent.NodeType]:
		w.filtered = w.filtered || parent.Filter != ""
		return w
	}
	return limitWalk{} // a Sort, Hash or Aggregate reads all its input
}

func appendNew(names []string, name string) []string {
	if slices.Contains(names, name) {
		return names
	}
	return append(names, name)
}

// WhatIf costs candidate indexes as hypothetical HypoPG indexes on one
// connection to the EXPLAIN target (the replica: HypoPG writes nothing, so
// it works on a hot standby). Hypothetical indexes live in the backend, so
// everything happens on that one connection; a WhatIf is not safe for
// concurrent use.
type WhatIf struct {
	conn      *pgx.Conn
	planner   Planner
	log       *zap.Logger
	batchSize int
	available bool
	hypo      hypoSQL                  // set when HypoPG is installed
	note      string                   // why hypothetical costing is unavailable
	baseline  map[string]StatementCost // by QueryID, without hypothetical indexes
	reordered map[[2]string]string     // by QueryID and table: the text with the table first, "" when it cannot be (TableFirst)
	cache     cacheSetting             // zero unless NewWhatIf lowered effective_cache_size
}

// cacheSetting is effective_cache_size as the server has it and as
// NewWhatIf capped it, in pages (what set_config takes back) and for
// people to read.
type cacheSetting struct{ configured, capped, configuredShown, cappedShown string }

// ConfiguredCache is the server's effective_cache_size (as "4096 MB") when
// NewWhatIf lowered it for the session, else "".
func (w *WhatIf) ConfiguredCache() string { return w.cache.configuredShown }

// CappedCache is the effective_cache_size what-if plans use (as "128 MB")
// when NewWhatIf lowered it, else "".
func (w *WhatIf) CappedCache() string { return w.cache.cappedShown }

// CostAsConfigured is CostWith planned with effective_cache_size as the
// server has it: the plans the server itself will choose once config is
// built. Statements that touch none of config's tables keep their capped
// baseline (they use none of config either way). Without a cap it is
// CostWith.
func (w *WhatIf) CostAsConfigured(ctx context.Context, config []Candidate, stmts []WorkloadStatement) ([]StatementCost, error) {
	if w.cache.configured == "" {
		return w.CostWith(ctx, config, stmts)
	}
	// Baselines are cached for the WhatIf's life: plan any missing one
	// under the cap first.
	if _, err := w.Baseline(ctx, stmts); err != nil {
		return nil, err
	}
	if _, err := execText(ctx, w.conn, setCache, w.cache.configured); err != nil {
		return nil, fmt.Errorf("what-if: restore effective_cache_size: %w", err)
	}
	out, err := w.CostWith(ctx, config, stmts)
	// Cap again even when ctx is done, so the session never stays uncapped.
	if _, capErr := execText(context.WithoutCancel(ctx), w.conn, setCache, w.cache.capped); capErr != nil {
		return nil, errors.Join(err, fmt.Errorf("what-if: cap effective_cache_size: %w", capErr))
	}
	return out, err
}

// WhatIfOptions tune a WhatIf; the zero value is ready to use.
type WhatIfOptions struct {
	// Planner plans statements; nil means an ExplainPlanner with its own Runner.
	Planner Planner
	// BatchSize is how many candidates are costed between two hypopg_reset
	// calls; 0 means 100.
	BatchSize int
	// UncappedCache leaves effective_cache_size as the session has it
	// (NewWhatIf caps it otherwise): for judging indexes by the planner
	// exactly as configured, as the benchmark's oracle does.
	UncappedCache bool
}

const (
	hypopgSchema = dbconn.Marker + `SELECT n.nspname FROM pg_catalog.pg_extension e
		JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace
		WHERE e.extname OPERATOR(pg_catalog.=) 'hypopg'`
	noHypoPGNote     = "hypopg is not installed on the EXPLAIN target: CREATE EXTENSION hypopg"
	defaultBatch     = 100
	hypopgBrokenNote = "hypopg is installed on the EXPLAIN target but does not work (%v): check that the hypopg library is installed on that server"
	// capCache lowers the session's effective_cache_size to shared_buffers
	// when it is larger (pg_settings has both in pages), and returns both
	// and whether it did; see NewWhatIf. The pg_settings rows are read
	// before set_config runs.
	capCache = dbconn.Marker + `SELECT e.setting, b.setting,
		pg_catalog.pg_size_pretty(e.setting::bigint * current_setting('block_size')::bigint), pg_catalog.pg_size_pretty(b.setting::bigint * current_setting('block_size')::bigint),
		CASE WHEN e.setting::bigint > b.setting::bigint THEN set_config('effective_cache_size', b.setting, false) END IS NOT NULL
		FROM pg_settings e, pg_settings b WHERE e.name = 'effective_cache_size' AND b.name = 'shared_buffers'`
	setCache = dbconn.Marker + `SELECT set_config('effective_cache_size', $1, false)`
)

// NewWhatIf prepares what-if costing on conn. When HypoPG is missing or
// broken it still returns a WhatIf, whose Available reports false and why:
// plans without hypothetical indexes (baselines) still work.
//
// Unless opts.UncappedCache, it caps the session's effective_cache_size at
// shared_buffers for the rest of conn's life, so that every cost it
// reports, before and after, assumes only shared_buffers as cache. With a
// larger setting the planner
// counts repeated index probes into a table bigger than shared_buffers as
// cached, and credits indexes with nested loops that run slower than the
// hash joins they replace: on TPC-H at scale factor 1 (a 900 MB lineitem,
// 128 MB of shared_buffers) Q3, Q7 and Q9 ran 1.4-1.9x slower with such
// indexes; planned under the cap, Q3 and Q7 keep their hash joins and gain
// nothing from them. A gain that holds under the cap does not rest on the
// OS cache. (The server's planner still sees its own setting once the
// indexes exist: see CostAsConfigured.)
func NewWhatIf(ctx context.Context, conn *pgx.Conn, log *zap.Logger, opts WhatIfOptions) (*WhatIf, error) {
	if conn == nil {
		return nil, errors.New("what-if: no connection")
	}
	if log == nil {
		log = zap.NewNop()
	}
	w := &WhatIf{conn: conn, planner: opts.Planner, log: log, batchSize: opts.BatchSize, baseline: map[string]StatementCost{}, reordered: map[[2]string]string{}}
	if w.planner == nil {
		w.planner = ExplainPlanner{Runner: explain.NewRunner(log, explain.RunnerOptions{})}
	}
	if w.batchSize <= 0 {
		w.batchSize = defaultBatch
	}
	if !opts.UncappedCache {
		rows, err := execText(ctx, conn, capCache)
		if err != nil {
			return nil, fmt.Errorf("what-if: cap effective_cache_size: %w", err)
		}
		if len(rows) == 1 && len(rows[0]) == 5 && string(rows[0][4]) == "t" {
			r := rows[0]
			w.cache = cacheSetting{configured: string(r[0]), capped: string(r[1]), configuredShown: string(r[2]), cappedShown: string(r[3])}
		}
	}
	rows, err := execText(ctx, conn, hypopgSchema)
	if err != nil {
		return nil, fmt.Errorf("what-if: look for hypopg: %w", err)
	}
	switch {
	case len(rows) == 0 || len(rows[0]) != 1:
		w.note = noHypoPGNote
	default:
		w.hypo = newHypoSQL(string(rows[0][0]))
		if err := w.reset(ctx); err != nil {
			if ctx.Err() != nil || conn.IsClosed() {
				return nil, fmt.Errorf("what-if: %w", err)
			}
			w.note = fmt.Sprintf(hypopgBrokenNote, err)
		} else {
			w.available = true
		}
	}
	if !w.available {
		log.Warn("index recommendations will not be validated", zap.String("reason", w.note))
	}
	return w, nil
}

// Available reports whether candidates can be costed with HypoPG, and when
// not, why (a sentence with the fix).
func (w *WhatIf) Available() (bool, string) { return w.available, w.note }

// StatementCost is one statement's plan under one configuration of
// hypothetical indexes.
type StatementCost struct {
	QueryID     string
	Calls       float64
	Cost        float64  // Total Cost of the top plan node, per call
	Generic     bool     // planned without parameter values
	IndexesUsed []string // every index the plan scans, hypothetical ones included
	Uses        []int    // positions, in the configuration, of the hypothetical indexes the plan scans
	Probes      []int    // those of Uses it scans on the inner side of a nested loop
	IndexOnly   []int    // those of Uses it reads in an Index Only Scan
	Walks       []int    // those of Uses it walks for a LIMIT, dropping rows (PlanSummary.Walked)
	WalkBound   float64  // PlanSummary.WalkBound
	// ReadShareCosted: PlanSummary.ReadShareCosted.
	ReadShareCosted bool
	Err             error // planning failed: Cost means nothing
}

// gamble reports whether c walks the index at position pos for a LIMIT
// while reading the walk to its end would cost at least before: whatever
// it gains rests on the rows it keeps coming early in the index.
func gamble(c StatementCost, pos int, before float64) bool {
	return slices.Contains(c.Walks, pos) && c.WalkBound >= before
}

// Costing is one candidate costed on top of a base configuration.
type Costing struct {
	Candidate     Candidate
	HypoSizeBytes int64 // hypopg_relation_size: ignores btree deduplication
	Statements    []Effect
	Err           error // HypoPG could not create the hypothetical index
}

// Effect is how one statement's plan changes with a candidate added.
type Effect struct {
	QueryID   string
	Calls     float64
	Before    float64 // per call, with the base configuration
	After     float64 // per call, with the base configuration and the candidate
	UsesIndex bool    // the plan with the candidate scans it
	Gamble    bool    // the plan with the candidate walks it as a gamble (see gamble)
	Probed    bool    // the plan with the candidate scans it on the inner side of a nested loop
	IndexOnly bool    // the plan with the candidate reads it in an Index Only Scan
	Generic   bool
	Err       error // either plan failed
}

// Baseline plans each statement without hypothetical indexes, once per
// QueryID for the life of the WhatIf. Planning errors are recorded in the
// result; the error return is for a lost connection or cancelled context.
func (w *WhatIf) Baseline(ctx context.Context, stmts []WorkloadStatement) ([]StatementCost, error) {
	out := make([]StatementCost, len(stmts))
	var missing []int
	for i, s := range stmts {
		if c, ok := w.baseline[s.QueryID]; ok {
			c.Calls = s.Calls
			out[i] = c
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	if w.available {
		if err := w.reset(ctx); err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
	}
	for _, i := range missing {
		c, err := w.plan(ctx, stmts[i], nil, nil)
		if err != nil {
			return nil, fmt.Errorf("baseline: %w", err)
		}
		w.baseline[stmts[i].QueryID] = c
		out[i] = c
	}
	return out, nil
}

// CostWith plans the statements with every candidate of config present as
// a hypothetical index at once. Statements that touch none of config's
// tables keep their baseline.
func (w *WhatIf) CostWith(ctx context.Context, config []Candidate, stmts []WorkloadStatement) ([]StatementCost, error) {
	base, err := w.Baseline(ctx, stmts)
	if err != nil {
		return nil, err
	}
	if len(config) == 0 {
		return base, nil
	}
	if !w.available {
		return nil, errors.New("cost with hypothetical indexes: " + w.note)
	}
	names, err := w.createAll(ctx, config)
	if err != nil {
		return nil, errors.Join(err, w.reset(ctx))
	}
	out := make([]StatementCost, len(stmts))
	for i, s := range stmts {
		if !touchesAny(s, config) {
			out[i] = base[i]
			continue
		}
		if out[i], err = w.plan(ctx, s, config, names); err != nil {
			return nil, errors.Join(fmt.Errorf("cost with hypothetical indexes: %w", err), w.reset(ctx))
		}
	}
	if err := w.reset(ctx); err != nil {
		return nil, fmt.Errorf("cost with hypothetical indexes: %w", err)
	}
	return out, nil
}

// effectOf is how s's plan changes from before to after, where the index
// at position pos of after's configuration was added; after is not read
// when before failed.
func effectOf(s WorkloadStatement, before, after StatementCost, pos int) Effect {
	e := Effect{QueryID: s.QueryID, Calls: s.Calls, Before: before.Cost, Generic: len(s.Params) == 0, Err: before.Err}
	if e.Err == nil {
		e.After, e.UsesIndex, e.Err = after.Cost, slices.Contains(after.Uses, pos), after.Err
		e.Gamble, e.Probed, e.IndexOnly = gamble(after, pos, e.Before), slices.Contains(after.Probes, pos), slices.Contains(after.IndexOnly, pos)
	}
	return e
}

// Evaluate costs each candidate alone on top of base: every statement that
// touches the candidate's table is planned with base, and with base plus
// the candidate. Candidates go in batches, with hypopg_reset after each,
// and each is dropped as soon as it is costed, so the backend never holds
// more than base and one candidate. A candidate HypoPG cannot simulate, or
// a statement that fails to plan, is recorded in the result and the rest
// go on; the error return is for a lost connection or cancelled context.
func (w *WhatIf) Evaluate(ctx context.Context, base, cands []Candidate, stmts []WorkloadStatement) ([]Costing, error) {
	if !w.available {
		return nil, errors.New("evaluate candidates: " + w.note)
	}
	// Only the statements a candidate may serve are costed, and only the
	// base indexes on tables those statements read can change their plans:
	// after each pick of a selection over hundreds of tables this is a
	// handful of plans instead of the whole workload.
	stored := make([][]string, len(cands)) // storedNames, parsed once
	for i, c := range cands {
		stored[i] = storedNames(c)
	}
	stmts = slices.DeleteFunc(slices.Clone(stmts), func(s WorkloadStatement) bool {
		for i, c := range cands {
			if touches(s, c.Table) && mayUse(s, c.Table, stored[i]) {
				return false
			}
		}
		return true
	})
	base = slices.DeleteFunc(slices.Clone(base), func(c Candidate) bool {
		return !slices.ContainsFunc(stmts, func(s WorkloadStatement) bool { return touches(s, c.Table) })
	})
	before, err := w.CostWith(ctx, base, stmts)
	if err != nil {
		return nil, fmt.Errorf("evaluate candidates: %w", err)
	}
	out := make([]Costing, 0, len(cands))
	for start := 0; start < len(cands); start += w.batchSize {
		end := min(start+w.batchSize, len(cands))
		costed, err := w.evaluateBatch(ctx, base, cands[start:end], stored[start:end], stmts, before)
		if resetErr := w.reset(ctx); err == nil {
			err = resetErr
		}
		if err != nil {
			return nil, fmt.Errorf("evaluate candidates: %w", err)
		}
		out = append(out, costed...)
	}
	return out, nil
}

func (w *WhatIf) evaluateBatch(ctx context.Context, base, batch []Candidate, stored [][]string, stmts []WorkloadStatement, before []StatementCost) ([]Costing, error) {
	if _, err := w.createAll(ctx, base); err != nil {
		return nil, err
	}
	out := make([]Costing, len(batch))
	prev := "" // the previous candidate, dropped in the same round trip as the next one's creation
	for i, c := range batch {
		out[i].Candidate = c
		h, err := w.swap(ctx, prev, c)
		prev = ""
		if err != nil {
			if fatal(ctx, w.conn, err) || errors.Is(err, errDrop) {
				return nil, err
			}
			out[i].Err = err
			w.log.Debug("hypothetical index not created", zap.String("table", c.Table), zap.Error(err))
			continue
		}
		out[i].HypoSizeBytes = h.size
		names := []string{h.name}
		present := append([]Candidate{c}, base...)
		for j, s := range stmts {
			if !touches(s, c.Table) || !mayUse(s, c.Table, stored[i]) {
				continue
			}
			var after StatementCost
			if before[j].Err == nil {
				if after, err = w.plan(ctx, s, present, names); err != nil {
					return nil, err
				}
			}
			out[i].Statements = append(out[i].Statements, effectOf(s, before[j], after, 0))
		}
		prev = h.oid
	}
	return out, nil
}

// HypoSize is HypoPG's size estimate for c, created and dropped at once.
func (w *WhatIf) HypoSize(ctx context.Context, c Candidate) (int64, error) {
	if !w.available {
		return 0, errors.New("hypothetical index size: " + w.note)
	}
	h, err := w.create(ctx, c)
	if err != nil {
		return 0, fmt.Errorf("hypothetical index size: %w", err)
	}
	if err := w.drop(ctx, h.oid); err != nil {
		return 0, fmt.Errorf("hypothetical index size: %w", err)
	}
	return h.size, nil
}

// plan plans s with the hypothetical indexes present; names are those
// whose positions StatementCost.Uses reports. Only a lost connection or a
// cancelled context is returned as an error.
func (w *WhatIf) plan(ctx context.Context, s WorkloadStatement, present []Candidate, names []string) (StatementCost, error) {
	c := StatementCost{QueryID: s.QueryID, Calls: s.Calls, Generic: len(s.Params) == 0}
	sum, err := w.planner.PlanCost(ctx, w.conn, w.boundFirst(s, present))
	if err != nil {
		if fatal(ctx, w.conn, err) {
			return c, err
		}
		c.Err = err
		return c, nil
	}
	c.Cost, c.WalkBound, c.IndexesUsed, c.ReadShareCosted = sum.Cost, sum.WalkBound, sum.Indexes, sum.ReadShareCosted
	for i, n := range names {
		if slices.Contains(sum.Indexes, n) {
			c.Uses = append(c.Uses, i)
		}
		if slices.Contains(sum.Probed, n) {
			c.Probes = append(c.Probes, i)
		}
		if slices.Contains(sum.IndexOnly, n) {
			c.IndexOnly = append(c.IndexOnly, i)
		}
		if slices.Contains(sum.Walked, n) {
			c.Walks = append(c.Walks, i)
		}
	}
	return c, nil
}

// boundFirst is s with the table of the first partial or expression
// index in present that can be put first in its FROM clause moved there,
// where HypoPG's predicates and expressions are bound (TableFirst).
func (w *WhatIf) boundFirst(s WorkloadStatement, present []Candidate) WorkloadStatement {
	for _, c := range present {
		if !boundToFirstTable(c) || !touches(s, c.Table) {
			continue
		}
		key := [2]string{s.QueryID, c.Table}
		q, cached := w.reordered[key]
		if !cached {
			var ok bool
			if q, ok = TableFirst(s.Query, c.Table); !ok {
				q = ""
			}
			w.reordered[key] = q
		}
		if q != "" {
			s.Query = q
			return s
		}
	}
	return s
}

// boundToFirstTable reports whether HypoPG binds c's predicate or key
// expressions to the query's first table.
func boundToFirstTable(c Candidate) bool {
	return c.Where != "" || slices.ContainsFunc(c.Keys, func(k collector.IndexKey) bool { return k.Expression != "" })
}

type hypoIndex struct {
	oid  string
	name string
	size int64
}

func (w *WhatIf) create(ctx context.Context, c Candidate) (hypoIndex, error) {
	return w.swap(ctx, "", c)
}

// errDrop: a hypothetical index could not be dropped, so costings that
// follow would be wrong.
var errDrop = errors.New("hypopg_drop_index")

// swap drops the hypothetical index dropOID (none when "") and creates c,
// in one round trip: evaluating candidates one at a time is thousands of
// these pairs.
func (w *WhatIf) swap(ctx context.Context, dropOID string, c Candidate) (hypoIndex, error) {
	ddl, err := createIndexSQL(c)
	if err != nil {
		return hypoIndex{}, errors.Join(fmt.Errorf("hypothetical index on %s: %w", c.Table, err), w.drop(ctx, dropOID))
	}
	b := &pgconn.Batch{}
	if dropOID != "" {
		b.ExecParams(w.hypo.drop, [][]byte{[]byte(dropOID)}, nil, nil, nil)
	}
	b.ExecParams(w.hypo.create, [][]byte{[]byte(ddl)}, nil, nil, nil)
	results, err := w.conn.PgConn().ExecBatch(ctx, b).ReadAll()
	if dropOID != "" && (len(results) == 0 || results[0].Err != nil) {
		return hypoIndex{}, fmt.Errorf("%w(%s): %w", errDrop, dropOID, cmp.Or(err, errors.New("no result")))
	}
	var rows [][][]byte
	if len(results) > 0 {
		rows = results[len(results)-1].Rows
	}
	if err != nil {
		return hypoIndex{}, fmt.Errorf("hypopg_create_index(%q): %w", ddl, err)
	}
	return createdIndex(ddl, rows)
}

// createdIndex reads the row of hypoSQL.create for ddl.
func createdIndex(ddl string, rows [][][]byte) (hypoIndex, error) {
	if len(rows) != 1 || len(rows[0]) != 3 {
		return hypoIndex{}, fmt.Errorf("hypopg_create_index(%q): want one row, got %d", ddl, len(rows))
	}
	size, err := strconv.ParseInt(string(rows[0][2]), 10, 64)
	if err != nil {
		return hypoIndex{}, fmt.Errorf("hypopg_relation_size for %q: %w", ddl, err)
	}
	return hypoIndex{oid: string(rows[0][0]), name: string(rows[0][1]), size: size}, nil
}

// createAll creates every candidate of config and returns their names in
// order; any failure is an error, since the configuration would be wrong.
func (w *WhatIf) createAll(ctx context.Context, config []Candidate) ([]string, error) {
	if len(config) == 0 {
		return nil, nil
	}
	// One round trip for all: a base configuration is created again for
	// every batch of candidates, tens of thousands of indexes in a cycle.
	b := &pgconn.Batch{}
	ddls := make([]string, len(config))
	for i, c := range config {
		ddl, err := createIndexSQL(c)
		if err != nil {
			return nil, fmt.Errorf("hypothetical index on %s: %w", c.Table, err)
		}
		ddls[i] = ddl
		b.ExecParams(w.hypo.create, [][]byte{[]byte(ddl)}, nil, nil, nil)
	}
	results, err := w.conn.PgConn().ExecBatch(ctx, b).ReadAll()
	if err != nil {
		for i, r := range results {
			if r.Err != nil {
				return nil, fmt.Errorf("hypopg_create_index(%q): %w", ddls[i], err)
			}
		}
		return nil, fmt.Errorf("create %d hypothetical indexes: %w", len(ddls), err)
	}
	names := make([]string, len(config))
	for i, ddl := range ddls {
		var rows [][][]byte
		if i < len(results) {
			rows = results[i].Rows
		}
		h, err := createdIndex(ddl, rows)
		if err != nil {
			return nil, err
		}
		names[i] = h.name
	}
	return names, nil
}

func (w *WhatIf) drop(ctx context.Context, oid string) error {
	if oid == "" {
		return nil
	}
	if _, err := execText(ctx, w.conn, w.hypo.drop, oid); err != nil {
		return fmt.Errorf("%w(%s): %w", errDrop, oid, err)
	}
	return nil
}

func (w *WhatIf) reset(ctx context.Context) error {
	if _, err := execText(ctx, w.conn, w.hypo.reset); err != nil {
		return fmt.Errorf("hypopg_reset: %w", err)
	}
	return nil
}

// hypoSQL is the SQL that calls HypoPG, its functions named in the schema
// the extension is in and their parameters typed: unqualified, a function
// of the same name that another role created in public, taking text where
// HypoPG's takes an oid, would be chosen for the untyped parameter and run
// with the advisor's privileges.
type hypoSQL struct{ reset, create, drop string }

func newHypoSQL(schema string) hypoSQL {
	s := collector.QuoteIdent(schema) + "."
	return hypoSQL{
		reset: dbconn.Marker + "SELECT " + s + "hypopg_reset()",
		create: dbconn.Marker + "SELECT indexrelid, indexname, " + s + "hypopg_relation_size(indexrelid) FROM " +
			s + "hypopg_create_index($1::pg_catalog.text)",
		drop: dbconn.Marker + "SELECT " + s + "hypopg_drop_index($1::pg_catalog.oid)",
	}
}

// fatal reports whether err leaves the connection or the run unusable, as
// opposed to one statement or candidate failing.
func fatal(ctx context.Context, conn *pgx.Conn, err error) bool {
	return ctx.Err() != nil || conn.IsClosed() || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// execText runs sql with text parameters of types the server infers, through
// an unnamed statement, and returns the rows as text.
func execText(ctx context.Context, conn *pgx.Conn, sql string, args ...string) ([][][]byte, error) {
	params := make([][]byte, len(args))
	for i, a := range args {
		params[i] = []byte(a)
	}
	r := conn.PgConn().ExecParams(ctx, sql, params, nil, nil, nil).Read()
	return r.Rows, r.Err
}

func touches(s WorkloadStatement, table string) bool { return slices.Contains(s.Tables, table) }

// mayUse reports whether s can use an index on table that stores or
// tests names (storedNames). An index serves a statement only through
// columns it reads: in a condition, a join, an ordering or grouping, or an
// index-only scan of all of them. So a statement that reads columns of the
// table, but none of names, cannot, and planning it with the index would
// be a wasted EXPLAIN. It reads none (count(*)), or which it reads is
// unknown: it may.
func mayUse(s WorkloadStatement, table string, names []string) bool {
	cols, known := s.Columns[table]
	if !known || len(cols) == 0 {
		return true
	}
	return slices.ContainsFunc(names, func(n string) bool { return slices.Contains(cols, n) })
}

// storedNames are the columns c stores or tests: its key and INCLUDE
// columns, then the names in its expressions and predicate, which may
// also name functions and keywords.
func storedNames(c Candidate) []string {
	var names, exprs []string
	for _, k := range c.Keys {
		if k.Column != "" {
			names = append(names, k.Column)
		} else {
			exprs = append(exprs, k.Expression)
		}
	}
	names = append(names, c.Include...)
	if c.Where != "" {
		exprs = append(exprs, c.Where)
	}
	for _, x := range exprs {
		names = append(names, identifiers(x)...)
	}
	return names
}

func touchesAny(s WorkloadStatement, config []Candidate) bool {
	for _, c := range config {
		if touches(s, c.Table) {
			return true
		}
	}
	return false
}
