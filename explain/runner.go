package explain

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Mode says which plan a Result holds.
type Mode string

const (
	ModeAnalyze Mode = "analyze" // EXPLAIN ANALYZE with synthesized parameters
	ModeGeneric Mode = "generic" // the generic plan, never executed
	ModeNone    Mode = "none"    // no plan
)

// Outcome says how explaining one statement went. Failures are outcomes,
// never a failed cycle.
type Outcome string

const (
	OutcomeOK       Outcome = "ok"       // a plan was made (Mode says which)
	OutcomeTimeout  Outcome = "timeout"  // EXPLAIN ANALYZE hit statement_timeout or lock_timeout; Plan is the generic plan when that worked
	OutcomeConflict Outcome = "conflict" // EXPLAIN ANALYZE was canceled by a recovery conflict; Plan as for timeout
	OutcomeError    Outcome = "error"    // no plan could be made; Err says why
	OutcomeRefused  Outcome = "refused"  // the text cannot be explained at all (not one plannable statement)
	OutcomeDenied   Outcome = "denied"   // the advisor's role may not plan it: a write needs a privilege beyond SELECT
	OutcomeSkipped  Outcome = "skipped"  // not attempted: the context ended or the connection was lost
)

// Query is one statement to explain.
type Query struct {
	ID   string // pg_stat_statements queryid
	Text string // normalized text, with $n for constants
	// RowsPerCall is the rows a call returned on average, by
	// pg_stat_statements; 0 when unknown. See synthOptions.
	RowsPerCall float64
	// BuffersPerCall is the shared buffers a call read or hit on average,
	// by pg_stat_statements; 0 when unknown. See rerunLikeCalls.
	BuffersPerCall float64
}

// Result is what the runner made of one statement.
type Result struct {
	QueryID string  `json:"queryid"`
	Mode    Mode    `json:"mode"`
	Reason  string  `json:"reason,omitempty"` // why not analyzed, e.g. "refused: calls volatile function public.f()"; or why analyzed with partial indexes' values
	Params  []Param `json:"params,omitempty"` // the values EXPLAIN ANALYZE ran with
	// Values says how Params were chosen when not the usual way (see
	// rerunLikeCalls); "" otherwise.
	Values   Values          `json:"values,omitempty"`
	PlanJSON json.RawMessage `json:"plan_json,omitempty"`
	Plan     *Plan           `json:"-"`
	Outcome  Outcome         `json:"outcome"`
	Err      string          `json:"error,omitempty"`
	Duration time.Duration   `json:"duration_ns"`
}

// RunnerOptions tune a Runner; the zero value is the safe default.
type RunnerOptions struct {
	// StatementTimeout bounds each statement; 0 means 5s.
	StatementTimeout time.Duration
	// LockTimeout bounds waiting for a lock; 0 means 1s.
	LockTimeout time.Duration
	// AllowAnalyzeOnPrimary lets EXPLAIN ANALYZE run where
	// pg_is_in_recovery() is false. Off, a primary only gets generic plans.
	AllowAnalyzeOnPrimary bool
}

// Runner explains statements on one EXPLAIN target: EXPLAIN ANALYZE for
// what the gate proves side-effect free, on a replica, with synthesized
// parameters; the generic plan for everything else. Every statement runs in
// its own BEGIN READ ONLY transaction with SET LOCAL timeouts and is rolled
// back. A Runner may be shared; a connection may not.
type Runner struct {
	opts RunnerOptions
	log  *zap.Logger
	seq  atomic.Uint64 // names prepared statements

	// parsed caches gateParse for PlanOnly: what-if costing plans the same
	// statements thousands of times, and parsing one takes about a
	// millisecond. Bounded by clearing it when it is full.
	mu     sync.Mutex
	parsed map[string]parseResult
	// planGates caches PlanOnly's catalog check, by server, database and
	// text, for gateTTL: it takes a few catalog queries, and what-if
	// costing plans a statement hundreds of times within seconds.
	planGates expiring[planGateKey, Decision]
	// dbHazards caches databaseHazard by server and database for
	// gateTTL: it scans whole catalogs (several milliseconds), and every
	// statement to be executed needs it.
	dbHazards expiring[string, dbHazards]
}

type planGateKey struct{ server, query string }

// gateTTL bounds how long a function redefined after a cached check can go
// unnoticed (a check and the plan after it are separate transactions in
// any case).
const gateTTL = time.Minute

// expiring is a cache whose entries count for gateTTL, cleared when it
// holds maxParsed of them. Callers hold Runner.mu.
type expiring[K comparable, V any] map[K]expiringEntry[V]

type expiringEntry[V any] struct {
	v  V
	at time.Time
}

func (m expiring[K, V]) get(k K) (V, bool) {
	e, ok := m[k]
	if !ok || time.Since(e.at) >= gateTTL {
		var zero V
		return zero, false
	}
	return e.v, true
}

func (m *expiring[K, V]) put(k K, v V) {
	if *m == nil || len(*m) >= maxParsed {
		*m = make(expiring[K, V])
	}
	(*m)[k] = expiringEntry[V]{v: v, at: time.Now()}
}

// serverKey names the session behind conn, for the caches: the address it
// really reached (with a multi-host URL, not always the first host), the
// database, and the role and run-time parameters, which decide the
// search_path that resolves a statement's names (ALTER ROLE ... SET, or
// options in the URL).
func serverKey(conn *pgx.Conn) string {
	cfg := conn.Config()
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s/%s as %s", conn.PgConn().Conn().RemoteAddr().Network(), conn.PgConn().Conn().RemoteAddr(), cfg.Database, cfg.User)
	for _, k := range slices.Sorted(maps.Keys(cfg.RuntimeParams)) {
		fmt.Fprintf(&b, " %s=%q", k, cfg.RuntimeParams[k])
	}
	return b.String()
}

type parseResult struct {
	pq *parsedQuery
	d  Decision
}

const maxParsed = 4096

// parse is gateParse through the cache. Parse trees are only read, so
// callers may share them.
func (r *Runner) parse(query string) (*parsedQuery, Decision) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if res, ok := r.parsed[query]; ok {
		return res.pq, res.d
	}
	if r.parsed == nil || len(r.parsed) >= maxParsed {
		r.parsed = make(map[string]parseResult)
	}
	pq, d := gateParse(query)
	r.parsed[query] = parseResult{pq, d}
	return pq, d
}

// NewRunner returns a Runner; log may be nil.
func NewRunner(log *zap.Logger, opts RunnerOptions) *Runner {
	if log == nil {
		log = zap.NewNop()
	}
	return &Runner{opts: opts.withDefaults(), log: log}
}

// withDefaults fills in the zero fields.
func (o RunnerOptions) withDefaults() RunnerOptions {
	if o.StatementTimeout <= 0 {
		o.StatementTimeout = 5 * time.Second
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = time.Second
	}
	return o
}

// RunAll explains queries in order on conn, which should come from
// dbconn.Connect (application_name pgadvisor) and be idle. After the
// context ends or the connection is lost, the rest are skipped.
func (r *Runner) RunAll(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, queries []Query) []Result {
	if conn != nil && !conn.IsClosed() && conn.PgConn().ParameterStatus("application_name") != dbconn.ApplicationName {
		r.log.Warn("the EXPLAIN connection does not identify as the advisor; open it with dbconn.Connect",
			zap.String("application_name", conn.PgConn().ParameterStatus("application_name")))
	}
	results := make([]Result, 0, len(queries))
	for _, q := range queries {
		results = append(results, r.Run(ctx, conn, cat, q))
	}
	return results
}

// Run explains one statement on conn; cat gives the tables and statistics
// parameters are chosen from (with nil, only LIMIT and OFFSET parameters
// get values, so most statements with parameters get generic plans).
func (r *Runner) Run(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, q Query) Result {
	start := time.Now()
	res := r.run(ctx, conn, cat, q)
	res.QueryID = q.ID
	res.Duration = time.Since(start)
	r.log.Debug("explained statement", zap.String("queryid", q.ID), zap.String("mode", string(res.Mode)),
		zap.String("outcome", string(res.Outcome)), zap.String("reason", res.Reason), zap.String("error", res.Err),
		zap.Duration("duration", res.Duration))
	return res
}

func (r *Runner) run(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, q Query) Result {
	switch {
	case ctx.Err() != nil:
		return Result{Mode: ModeNone, Outcome: OutcomeSkipped, Err: ctx.Err().Error()}
	case conn == nil || conn.IsClosed():
		return Result{Mode: ModeNone, Outcome: OutcomeSkipped, Err: "the connection to the EXPLAIN target is closed"}
	}
	// A client-side bound too, for a server or network that stops answering.
	ctx, cancel := context.WithTimeout(ctx, 4*r.opts.StatementTimeout+10*time.Second)
	defer cancel()

	pq, d := gateParse(q.Text)
	if d.Plannable {
		var err error
		if d, err = r.gate(ctx, conn, pq, d); err == nil {
			// What-if costing plans this statement next: spare it the check.
			r.rememberPlanGate(planGateKey{server: serverKey(conn), query: pq.text}, d)
		}
	}
	if !d.Plannable {
		return Result{Mode: ModeNone, Outcome: OutcomeRefused, Reason: d.Reason}
	}
	res := Result{Mode: ModeNone, Outcome: OutcomeOK, Reason: d.Reason}
	if d.Analyze {
		var done bool
		if res, done = r.analyze(ctx, conn, cat, pq, q); done {
			return res
		}
	}
	var err error
	switch {
	case ctx.Err() != nil:
		err = ctx.Err()
	case conn.IsClosed():
		err = errors.New("the connection to the EXPLAIN target was lost")
	default:
		if res.PlanJSON, err = r.generic(ctx, conn, pq); err == nil {
			res.Mode = ModeGeneric
			res.Plan, err = ParsePlan(res.PlanJSON)
		}
	}
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
	case errors.As(err, &pgErr) && pgErr.Code == "42501" && res.Outcome == OutcomeOK: // insufficient_privilege
		// Even a plain EXPLAIN of an INSERT, UPDATE or DELETE checks the
		// privilege to write: the role README recommends has SELECT only.
		res.Mode, res.PlanJSON, res.Plan, res.Outcome = ModeNone, nil, nil, OutcomeDenied
		res.Reason = joinErr(res.Reason, "not planned: the advisor's role may not ("+pgErr.Message+"), as planning a write needs the privilege to write, which it is not meant to have")
	default:
		res.Mode, res.PlanJSON, res.Plan = ModeNone, nil, nil
		res.Err = joinErr(res.Err, "generic plan: "+err.Error())
		if res.Outcome == OutcomeOK {
			res.Outcome = OutcomeError // a timeout or conflict stays what it was
		}
	}
	return res
}

func joinErr(first, second string) string {
	if first == "" {
		return second
	}
	return first + "; " + second
}

// gate runs the gate's catalog check of a statement gateParse found
// plannable (parsed is its decision) in a read-only transaction with the
// runner's timeouts. err, when the check failed (a timeout, a lost
// connection), says the refusal in d is no verdict to cache.
func (r *Runner) gate(ctx context.Context, conn *pgx.Conn, pq *parsedQuery, parsed Decision) (d Decision, err error) {
	var checkErr error
	err = r.readOnly(ctx, conn, func(serverInfo) error {
		d, checkErr = gateCatalog(ctx, conn, pq, parsed, r.databaseHazard)
		return nil
	})
	if err != nil {
		return Decision{Reason: cannotCheck(err)}, err
	}
	return d, checkErr
}

// planGate is gate for PlanOnly, through the planGates cache.
func (r *Runner) planGate(ctx context.Context, conn *pgx.Conn, pq *parsedQuery) Decision {
	key := planGateKey{server: serverKey(conn), query: pq.text}
	r.mu.Lock()
	d, ok := r.planGates.get(key)
	r.mu.Unlock()
	if ok {
		return d
	}
	d, err := r.gate(ctx, conn, pq, Decision{Plannable: true})
	if err == nil {
		r.rememberPlanGate(key, d)
	}
	return d
}

// rememberPlanGate caches a decision on planning; d may be a whole
// gate's, which decides planning on the way.
func (r *Runner) rememberPlanGate(key planGateKey, d Decision) {
	if d.Plannable {
		d = Decision{Plannable: true}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.planGates.put(key, d)
}

// databaseHazard is the package's databaseHazard through the dbHazards
// cache.
func (r *Runner) databaseHazard(ctx context.Context, conn *pgx.Conn) (dbHazards, error) {
	key := serverKey(conn)
	r.mu.Lock()
	h, ok := r.dbHazards.get(key)
	r.mu.Unlock()
	if ok {
		return h, nil
	}
	h, err := databaseHazard(ctx, conn)
	if err != nil {
		return dbHazards{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dbHazards.put(key, h)
	return h, nil
}

// analyze tries EXPLAIN ANALYZE, which the gate allowed, in one read-only
// transaction: the role of the server, parameters, then the statement.
// done is false when the statement should get its generic plan instead;
// res.Reason then says why, and res.Outcome and res.Err record a failed
// EXPLAIN ANALYZE.
func (r *Runner) analyze(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, pq *parsedQuery, q Query) (res Result, done bool) {
	res = Result{Mode: ModeNone, Outcome: OutcomeOK}
	var ran bool
	err := r.readOnly(ctx, conn, func(info serverInfo) error {
		if !info.inRecovery && !r.opts.AllowAnalyzeOnPrimary {
			res.Reason = "not analyzed: the EXPLAIN target is a primary (pg_is_in_recovery() is false) and allow_analyze_on_primary (--allow-analyze-on-primary) is off"
			return nil
		}
		params, err := synthesizeUnfiltered(ctx, conn, cat, pq, synthOptions{rowsPerCall: q.RowsPerCall})
		if err != nil {
			res.Reason = "not analyzed: " + err.Error()
			return nil
		}
		ran = true
		res.Params = params
		out, err := execValue(ctx, conn, analyzePrefix(info.version)+pq.text, ParamValues(params))
		if err != nil {
			return err
		}
		res.PlanJSON = out
		if res.Plan, err = ParsePlan(out); err != nil {
			res.Plan = nil // reported below
			return nil
		}
		read, ok := sharedBuffers(res.Plan)
		if !ok {
			return nil
		}
		rerun, err := r.rerunLikeCalls(ctx, conn, cat, pq, info, q, params, read)
		if err == nil && rerun.PlanJSON != nil {
			res = rerun
		}
		return err
	})
	switch {
	case err == nil && ran:
		if res.Plan == nil {
			_, perr := ParsePlan(res.PlanJSON)
			return Result{Mode: ModeNone, Outcome: OutcomeError, Params: res.Params, Err: "parse EXPLAIN ANALYZE output: " + perr.Error()}, true
		}
		res.Mode = ModeAnalyze
		return res, true
	case err == nil:
		return res, false
	}
	first := res.Params
	res.Params, res.PlanJSON = nil, nil
	res.Outcome = classify(err)
	if res.Outcome == OutcomeTimeout && ran {
		if second, ok := r.afterTimeout(ctx, conn, cat, pq, q, first); ok {
			return second, true
		}
	}
	if res.Outcome == OutcomeError {
		// The statement itself may be fine (the parameters may be what the
		// server rejected): its generic plan decides.
		res.Outcome = OutcomeOK
		res.Reason = "not analyzed: " + err.Error()
		if ran {
			res.Reason = "not analyzed: EXPLAIN ANALYZE failed: " + err.Error()
		}
		return res, false
	}
	res.Err = "EXPLAIN ANALYZE: " + err.Error()
	res.Reason = fmt.Sprintf("not analyzed: EXPLAIN ANALYZE was canceled (%s)", res.Outcome)
	return res, false
}

// unlikeCallsFactor: a run that read this many times the buffers a call
// read on average, or a call this many times what the run read, is not
// what the calls ran.
const unlikeCallsFactor = 5

// Values names how a run's parameter values were chosen when not the
// usual way, the most common value of each column.
type Values string

const (
	// ValuesPredicate: the constants of partial indexes' predicates for
	// equalities on their columns (synthOptions.predicateValues).
	ValuesPredicate Values = "partial_index_constants"
	// ValuesTypical: typical values for equalities (synthOptions.typical).
	ValuesTypical Values = "typical"
)

// rerunLikeCalls runs pq again, with values chosen otherwise, when its run
// (first) read unlikeCallsFactor times more or fewer buffers than its
// calls did on average, and returns that run when it reads within that
// factor of the calls and calls like it did most of their reads
// (likeShare); a Result without a plan otherwise, or when the second run
// fails short of the connection.
//
// A run that read far more: pg_stat_statements stores status = 'pending'
// as status = $1 like any other value; planned with the most common
// status, 'delivered', a statement whose calls read a few pages of orders
// (created_at) WHERE status = 'pending' scans the table, and gets a
// finding and an index it does not need. The second run takes the
// constants of existing partial indexes' predicates (ValuesPredicate).
//
// A run that read far less: the calls' time goes to values rarer than the
// most common ones, a tenant whose rows never fill a LIMIT walking an
// index in the ORDER BY's order, say, and findings from the quick run
// miss it. The second run takes typical values (ValuesTypical), as
// what-if costing does.
//
// Only the calls' reads make the switch: calls that read what the first
// run read keep it, and so do calls that mostly ask for a partial index's
// value but spend most of their reads on the common one, or whose reads
// the second run is no nearer to (within unlikeCallsFactor). A statement
// with OFFSET keeps its first run: the run reads the first page, and the
// calls' deeper pages read more whatever the values (offsetFinding's).
//
// first are the first run's values, and ran what it read: +Inf for a run
// that went past statement_timeout (see afterTimeout).
func (r *Runner) rerunLikeCalls(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, pq *parsedQuery, info serverInfo, q Query, first []Param, ran float64) (Result, error) {
	calls := q.BuffersPerCall
	if calls <= 0 || slices.ContainsFunc(first, func(p Param) bool { return p.Source == offsetSource }) {
		return Result{}, nil
	}
	// apart reports whether a run of b buffers is not what the calls ran.
	apart := func(b float64) bool { return b >= unlikeCallsFactor*calls || calls >= unlikeCallsFactor*max(b, 1) }
	opts := synthOptions{rowsPerCall: q.RowsPerCall}
	var values Values
	switch {
	case !apart(ran):
		return Result{}, nil
	case ran > calls:
		opts.predicateValues, values = true, ValuesPredicate
	default:
		opts.typical, values = true, ValuesTypical
	}
	params, err := synthesizeUnfiltered(ctx, conn, cat, pq, opts)
	if err != nil || slices.Equal(ParamValues(params), ParamValues(first)) {
		return Result{}, nil // no other values to try: the first run stands
	}
	out, err := execValue(ctx, conn, analyzePrefix(info.version)+pq.text, ParamValues(params))
	if err != nil {
		if ctx.Err() != nil || conn.IsClosed() {
			return Result{}, err
		}
		// A timeout with rare values, say: the first run stands, and the
		// transaction, which always rolls back, has nothing more to run.
		r.log.Debug("second run with other values failed", zap.String("values", string(values)), zap.Error(err))
		return Result{}, nil
	}
	plan, err := ParsePlan(out)
	if err != nil {
		return Result{}, nil
	}
	again, ok := sharedBuffers(plan)
	timedOut := math.IsInf(ran, 1)
	if !ok || apart(again) || !timedOut && likeShare(calls, ran, again) < 0.5 {
		return Result{}, nil
	}
	how := "typical values"
	if values == ValuesPredicate {
		var taken []string
		for _, p := range params {
			if strings.HasPrefix(p.Source, predicateSource) {
				taken = append(taken, fmt.Sprintf("$%d from %s", p.Index, strings.TrimPrefix(p.Source, "the ")))
			}
		}
		how = strings.Join(taken, ", ")
	}
	firstRead := fmt.Sprintf("%.0f", ran)
	if timedOut {
		firstRead = "ran past statement_timeout"
	}
	return Result{Outcome: OutcomeOK, Params: params, PlanJSON: out, Plan: plan, Values: values,
		Reason: fmt.Sprintf("analyzed with %s: the calls read %.0f buffers each on average, a run with the most common values %s, this one %.0f",
			how, calls, firstRead, again)}, nil
}

// afterTimeout gives the run rerunLikeCalls takes in place of a first run
// that went past statement_timeout, in a transaction of its own (the first
// one ended with it): calls that finish read far less than that run, and
// may ask for a partial index's value. ok is false when it takes none.
func (r *Runner) afterTimeout(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, pq *parsedQuery, q Query, first []Param) (Result, bool) {
	if q.BuffersPerCall <= 0 || ctx.Err() != nil || conn.IsClosed() {
		return Result{}, false
	}
	var second Result
	err := r.readOnly(ctx, conn, func(info serverInfo) error {
		var err error
		second, err = r.rerunLikeCalls(ctx, conn, cat, pq, info, q, first, math.Inf(1))
		return err
	})
	if err != nil || second.Plan == nil {
		return Result{}, false
	}
	second.Mode = ModeAnalyze
	return second, true
}

// likeShare estimates the share of the calls' reads done by calls like a
// second run that read again buffers, the rest being like the first, which
// read ran: the share p of such calls solves mean = (1-p)·ran + p·again,
// and theirs is p·again of the mean. Calls that mostly read a few pages of
// a partial index, while one in twenty-five scans the table for the
// common value, spend most of their reads on the scan. A mean beyond the
// second run's reads (p ≥ 1) is all like it, as the nearer of the two; one
// beyond the first's, none, as is every call when the runs read alike.
func likeShare(mean, ran, again float64) float64 {
	if ran == again {
		return 0
	}
	switch p := (mean - ran) / (again - ran); {
	case p >= 1:
		return 1
	case p <= 0:
		return 0
	default:
		return p * again / mean
	}
}

// sharedBuffers is the shared buffers an EXPLAIN (ANALYZE, BUFFERS) read
// or hit; ok is false for a plan without a root.
func sharedBuffers(p *Plan) (float64, bool) {
	if p == nil || p.Root == nil {
		return 0, false
	}
	return float64(p.Root.SharedHitBlocks + p.Root.SharedReadBlocks), true
}

// classify tells a timeout and a recovery conflict from other errors.
func classify(err error) Outcome {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return OutcomeError
	}
	switch {
	case pgErr.Code == "57014" && strings.Contains(pgErr.Message, "statement timeout"), // query_canceled
		pgErr.Code == "55P03": // lock_not_available: lock_timeout
		return OutcomeTimeout
	case (pgErr.Code == "40001" || pgErr.Code == "40P01") && strings.Contains(pgErr.Message, "conflict with recovery"):
		return OutcomeConflict
	}
	return OutcomeError
}

func analyzePrefix(version int) string {
	if version >= 120000 {
		return "EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) "
	}
	return "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
}

// generic makes the generic plan on every server version with PREPARE,
// plan_cache_mode = force_generic_plan and EXPLAIN EXECUTE with NULLs,
// which the generic plan does not look at. EXPLAIN (GENERIC_PLAN) (16+) is
// not used: over the extended protocol the $n become parameters of the
// EXPLAIN statement itself, which Bind must fill (and the planner would
// then fold them), and the simple protocol runs every statement of a text,
// so a lexer difference between pg_query and the server must never get a
// chance to run a second one. The prepared statement is always
// deallocated: it outlives the rollback.
//
// The NULLs do reach the executor's startup, whose partition pruning then
// removes every partition a parameter selects (prunedAtStart),
// leaving an Append with no scans under it. Such a plan is made again
// without pruning, which also keeps the partitions a constant would have
// pruned at plan time.
func (r *Runner) generic(ctx context.Context, conn *pgx.Conn, pq *parsedQuery) (json.RawMessage, error) {
	plan, err := r.genericPlan(ctx, conn, pq)
	if err == nil && prunedAtStart(plan) {
		return r.genericPlan(ctx, conn, pq, step{what: "turn partition pruning off", sql: "SET LOCAL enable_partition_pruning = off"})
	}
	return plan, err
}

// prunedAtStart reports whether the executor's startup pruned partitions
// from the plan (JSON prints "Subplans Removed": 0 on every Append).
func prunedAtStart(raw json.RawMessage) bool {
	p, err := ParsePlan(raw)
	if err != nil {
		return false
	}
	pruned := false
	p.Walk(func(_ string, n *Node) bool {
		pruned = pruned || n.SubplansRemoved > 0
		return !pruned
	})
	return pruned
}

// genericPlan explains pq's generic plan, after the settings given.
func (r *Runner) genericPlan(ctx context.Context, conn *pgx.Conn, pq *parsedQuery, settings ...step) (json.RawMessage, error) {
	name := fmt.Sprintf("pgadvisor_%d", r.seq.Add(1))
	args := ""
	if pq.numParams > 0 {
		args = "(" + strings.Repeat("NULL, ", pq.numParams-1) + "NULL)"
	}
	steps := append([]step{
		{what: "prepare", sql: "PREPARE " + name + " AS " + pq.text},
		{what: "force the generic plan", sql: "SET LOCAL plan_cache_mode = force_generic_plan"},
	}, settings...)
	steps = append(steps, step{what: "explain", sql: "EXPLAIN (FORMAT JSON) EXECUTE " + name + args})
	results, err := r.readOnlyBatch(ctx, conn, steps...)
	if len(results) > 0 && results[0].Err == nil {
		// Prepared: the statement outlives the rollback.
		cleanup, cancel := cleanupContext(ctx)
		defer cancel()
		if _, dErr := execOne(cleanup, conn, "DEALLOCATE "+name, nil); dErr != nil && err == nil {
			err = fmt.Errorf("deallocate: %w", dErr)
		}
	}
	if err != nil {
		return nil, err
	}
	return firstValue(results[len(steps)-1])
}

// PlanOnly returns the planner's plan for query on conn without executing
// it: with params (text values for $1, $2, ...) the custom plan for them,
// without the generic plan. It runs in a read-only transaction that is
// rolled back, on a primary or a replica, so the session's HypoPG
// hypothetical indexes are visible to it. query must be one statement
// EXPLAIN can take (SELECT, INSERT, UPDATE, DELETE, MERGE) whose
// user-defined code passes the gate, since planning may run it; conn must
// be idle.
func (r *Runner) PlanOnly(ctx context.Context, conn *pgx.Conn, query string, params []string) (*Plan, error) {
	pq, d := r.parse(query)
	if d.Plannable {
		// Planning may run user-defined code: the catalog check decides.
		d = r.planGate(ctx, conn, pq)
	}
	if !d.Plannable {
		return nil, fmt.Errorf("plan statement: %s", d.Reason)
	}
	var out []byte
	var err error
	if params == nil {
		out, err = r.generic(ctx, conn, pq)
	} else {
		if len(params) != pq.numParams {
			return nil, fmt.Errorf("plan statement: %d parameter values for %d parameters", len(params), pq.numParams)
		}
		var results []*pgconn.Result
		if results, err = r.readOnlyBatch(ctx, conn, step{what: "explain", sql: "EXPLAIN (FORMAT JSON) " + pq.text, params: params}); err == nil {
			out, err = firstValue(results[0])
		}
	}
	if err != nil {
		return nil, fmt.Errorf("plan statement: %w", err)
	}
	plan, err := ParsePlan(out)
	if err != nil {
		return nil, fmt.Errorf("plan statement: %w", err)
	}
	return plan, nil
}

// step is one statement of a batch, named for its errors.
type step struct {
	what   string
	sql    string
	params []string
}

// readOnlyBatch runs steps inside BEGIN READ ONLY, with the runner's
// timeouts set LOCAL, and ROLLBACK, all in one round trip: what-if costing
// plans thousands of statements, and one round trip per statement was most
// of its time. Each step still goes alone through the extended protocol.
// The server skips everything after a failed step up to the batch's end,
// ROLLBACK included, so an open transaction is rolled back here. It
// returns the results of the steps that ran, the failed one last.
func (r *Runner) readOnlyBatch(ctx context.Context, conn *pgx.Conn, steps ...step) ([]*pgconn.Result, error) {
	all := append([]step{{what: "begin", sql: "BEGIN READ ONLY"}, {what: "set timeouts", sql: readOnlySetup, params: r.timeouts()}},
		steps...)
	all = append(all, step{what: "rollback", sql: "ROLLBACK"}, step{what: "release advisory locks", sql: releaseAdvisoryLocks})
	b := &pgconn.Batch{}
	for _, st := range all {
		b.ExecParams(dbconn.Marker+st.sql, textValues(st.params), nil, nil, nil)
	}
	results, err := conn.PgConn().ExecBatch(ctx, b).ReadAll()
	if i := slices.IndexFunc(results, func(res *pgconn.Result) bool { return res.Err != nil }); i >= 0 {
		results, err = results[:i+1], fmt.Errorf("%s: %w", all[i].what, results[i].Err)
	} else if err != nil && len(results) < len(all) {
		err = fmt.Errorf("%s: %w", all[len(results)].what, err)
	}
	if conn.PgConn().TxStatus() != 'I' && !conn.IsClosed() {
		if endErr := rollbackAndRelease(ctx, conn); err == nil {
			err = endErr
		}
	}
	if len(results) <= 2 {
		return nil, cmp.Or(err, errors.New("begin: no result"))
	}
	return results[2:min(len(results), 2+len(steps))], err
}

func (r *Runner) timeouts() []string { return r.opts.timeouts() }

// timeouts are readOnlySetup's parameters.
func (o RunnerOptions) timeouts() []string {
	// Whole milliseconds, rounded up: 0 would turn the timeout off; and
	// no more than PostgreSQL takes.
	ms := func(d time.Duration) string {
		return strconv.FormatInt(min(max(1, (d+time.Millisecond-1).Milliseconds()), math.MaxInt32), 10)
	}
	return []string{ms(o.StatementTimeout), ms(o.LockTimeout), ms(o.StatementTimeout + 5*time.Second)}
}

// serverInfo is what readOnly learns about the server.
type serverInfo struct {
	inRecovery bool
	version    int // server_version_num
}

// readOnlySetup sets the transaction's limits and learns the server's role
// and version in one round trip. standard_conforming_strings is forced on
// because that is how pg_query reads string literals: with it off, the
// server would read a backslash in a literal differently from the gate,
// and could see a function call the gate saw as text.
const readOnlySetup = `SELECT pg_is_in_recovery(), current_setting('server_version_num'),
	set_config('statement_timeout', $1, true), set_config('lock_timeout', $2, true),
	set_config('idle_in_transaction_session_timeout', $3, true),
	set_config('standard_conforming_strings', 'on', true)`

// readOnly runs fn inside BEGIN READ ONLY with the runner's timeouts set
// LOCAL, and always rolls back, also when fn fails or ctx ends.
func (r *Runner) readOnly(ctx context.Context, conn *pgx.Conn, fn func(serverInfo) error) error {
	return readOnly(ctx, conn, r.opts, fn)
}

// readOnly runs fn inside BEGIN READ ONLY with the timeouts of opts set
// LOCAL, and always rolls back, also when fn fails or ctx ends. conn must
// be idle: a ROLLBACK would end a transaction it was in.
func readOnly(ctx context.Context, conn *pgx.Conn, opts RunnerOptions, fn func(serverInfo) error) error {
	if status := conn.PgConn().TxStatus(); status != 'I' {
		return fmt.Errorf("begin: the connection is not idle (transaction status %q)", status)
	}
	if _, err := execOne(ctx, conn, "BEGIN READ ONLY", nil); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	err := func() error {
		res, err := execOne(ctx, conn, readOnlySetup, opts.timeouts())
		if err != nil {
			return fmt.Errorf("set timeouts: %w", err)
		}
		if len(res.Rows) != 1 || len(res.Rows[0]) < 2 {
			return errors.New("set timeouts: no row")
		}
		version, err := strconv.Atoi(string(res.Rows[0][1]))
		if err != nil {
			return fmt.Errorf("server_version_num %q: %w", res.Rows[0][1], err)
		}
		return fn(serverInfo{inRecovery: string(res.Rows[0][0]) == "t", version: version})
	}()
	if endErr := rollbackAndRelease(ctx, conn); err == nil {
		err = endErr
	}
	return err
}

// rollbackAndRelease ends the runner's transaction on conn, also after
// ctx has ended, and releases the session's advisory locks.
func rollbackAndRelease(ctx context.Context, conn *pgx.Conn) error {
	cleanup, cancel := cleanupContext(ctx)
	defer cancel()
	if _, err := execOne(cleanup, conn, "ROLLBACK", nil); err != nil {
		return fmt.Errorf("rollback: %w", err)
	}
	if _, err := execOne(cleanup, conn, releaseAdvisoryLocks, nil); err != nil {
		return fmt.Errorf("release advisory locks: %w", err)
	}
	return nil
}

// releaseAdvisoryLocks follows every transaction of the runner: a session
// advisory lock outlives the rollback, and the gate, which refuses code
// that takes one, is the only other thing between a hostile function and
// a lock held for the connection's life. Defence in depth, one statement.
const releaseAdvisoryLocks = "SELECT pg_advisory_unlock_all()"

// cleanupContext outlives ctx's cancellation, briefly, so a rollback or
// deallocate still runs after a timeout.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
}

// execOne sends one statement, marked, over the extended protocol: the
// server refuses a text holding more than one statement there, and no
// prepared statement is left behind. params are text of unspecified type,
// so the server gives them the types the statement implies.
func execOne(ctx context.Context, conn *pgx.Conn, sql string, params []string) (*pgconn.Result, error) {
	res := conn.PgConn().ExecParams(ctx, dbconn.Marker+sql, textValues(params), nil, nil, nil).Read()
	return res, res.Err
}

func textValues(params []string) [][]byte {
	values := make([][]byte, len(params))
	for i, p := range params {
		values[i] = []byte(p)
	}
	return values
}

// execValue is execOne for a statement returning one value (EXPLAIN).
func execValue(ctx context.Context, conn *pgx.Conn, sql string, params []string) ([]byte, error) {
	res, err := execOne(ctx, conn, sql, params)
	if err != nil {
		return nil, err
	}
	return firstValue(res)
}

// firstValue is the first column of a result's first row.
func firstValue(res *pgconn.Result) ([]byte, error) {
	if len(res.Rows) == 0 || len(res.Rows[0]) == 0 {
		return nil, errors.New("no result row")
	}
	return res.Rows[0][0], nil
}
