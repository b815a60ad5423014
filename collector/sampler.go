// Package collector reads what the advisor analyses: pg_stat_statements,
// sampled into Snapshots whose Window gives per-statement deltas and
// rankings, and a database's catalog (LoadCatalog). It never executes
// workload statements; its own statements carry the pgadvisor marker.
package collector

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// SamplerOptions configure a Sampler. Zero values mean the defaults.
type SamplerOptions struct {
	Databases NameFilter // by database name
	Users     NameFilter // by role name
	// MaxTexts bounds the text cache (default 20000). When
	// pg_stat_statements.max is larger the bound grows to it plus 10%, so
	// texts are not fetched again and again.
	MaxTexts int
	// MaxTextLength is how many characters of a text are kept (default
	// 65536); longer texts are truncated and flagged.
	MaxTextLength int
}

// Defaults of SamplerOptions.
const (
	DefaultMaxTexts      = 20000
	DefaultMaxTextLength = 65536
)

// filter is Snapshot.Filter.
func (o SamplerOptions) filter() string {
	return fmt.Sprintf("databases %q except %q; users %q except %q", o.Databases.Include, o.Databases.Exclude, o.Users.Include, o.Users.Exclude)
}

// NameFilter selects names by shell patterns (path.Match: "app_*"). An
// empty Include admits every name; Exclude wins over Include.
type NameFilter struct {
	Include []string
	Exclude []string
}

func (f NameFilter) allows(name string) bool {
	return (len(f.Include) == 0 || matchAny(f.Include, name)) && !matchAny(f.Exclude, name)
}

func matchAny(patterns []string, name string) bool {
	for _, p := range patterns {
		if ok, _ := path.Match(p, name); ok { // patterns are checked by NewSampler
			return true
		}
	}
	return false
}

func (f NameFilter) validate(what string) error {
	for _, p := range slices.Concat(f.Include, f.Exclude) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("%s filter: pattern %q: %w", what, p, err)
		}
	}
	return nil
}

// Sampler reads pg_stat_statements. It is not safe for concurrent use:
// one goroutine samples, on a schedule.
type Sampler struct {
	q     Querier
	opts  SamplerOptions
	log   *zap.Logger
	texts *textCache
	prev  *Info // of the previous sample, to notice resets
	rows  int   // rows of the previous sample, to size the next

	warnedAppName bool
	warnedSameKey bool
}

// NewSampler returns a sampler that queries through q. q should be
// connected (with internal/dbconn) to a database where the extension is
// installed; pg_stat_statements covers every database of the server.
func NewSampler(q Querier, opts SamplerOptions, log *zap.Logger) (*Sampler, error) {
	if err := opts.Databases.validate("database"); err != nil {
		return nil, err
	}
	if err := opts.Users.validate("user"); err != nil {
		return nil, err
	}
	if opts.MaxTexts <= 0 {
		opts.MaxTexts = DefaultMaxTexts
	}
	if opts.MaxTextLength <= 0 {
		opts.MaxTextLength = DefaultMaxTextLength
	}
	return &Sampler{q: q, opts: opts, log: log, texts: newTextCache(opts.MaxTexts)}, nil
}

// extVersion is a pg_stat_statements extension version, major.minor.
type extVersion struct{ major, minor int }

func (v extVersion) atLeast(w extVersion) bool {
	return v.major > w.major || v.major == w.major && v.minor >= w.minor
}

func (v extVersion) String() string { return fmt.Sprintf("%d.%d", v.major, v.minor) }

func parseExtVersion(s string) (extVersion, bool) {
	maj, min, ok := strings.Cut(s, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	return extVersion{a, b}, ok && err1 == nil && err2 == nil
}

var (
	v1_4  = extVersion{1, 4}  // oldest supported: PostgreSQL 9.6
	v1_8  = extVersion{1, 8}  // PG 13: planning counters, *_exec_time, WAL
	v1_9  = extVersion{1, 9}  // PG 14: toplevel, pg_stat_statements_info
	v1_10 = extVersion{1, 10} // PG 15: temp block times, JIT
	v1_11 = extVersion{1, 11} // PG 17: shared_/local_blk_*_time, jit_deform_*, stats_since
)

// row is where one row of pg_stat_statements(false) is scanned.
type row struct {
	Entry
	queryid pgtype.Int8
}

// column is one column of pg_stat_statements(false), present from
// extension version from until (excluding) until; zero until: still there.
type column struct {
	expr        string
	from, until extVersion
	dest        func(*row) any
}

var statementColumns = []column{
	{"userid", v1_4, extVersion{}, func(r *row) any { return &r.UserID }},
	{"dbid", v1_4, extVersion{}, func(r *row) any { return &r.DBID }},
	{"toplevel", v1_9, extVersion{}, func(r *row) any { return &r.TopLevel }},
	{"queryid", v1_4, extVersion{}, func(r *row) any { return &r.queryid }},
	{"calls", v1_4, extVersion{}, func(r *row) any { return &r.Calls }},
	{"plans", v1_8, extVersion{}, func(r *row) any { return &r.Plans }},
	{"total_time", v1_4, v1_8, func(r *row) any { return &r.TotalExecTime }},
	{"total_exec_time", v1_8, extVersion{}, func(r *row) any { return &r.TotalExecTime }},
	{"total_plan_time", v1_8, extVersion{}, func(r *row) any { return &r.TotalPlanTime }},
	{"max_time", v1_4, v1_8, func(r *row) any { return &r.MaxExecTime }},
	{"max_exec_time", v1_8, extVersion{}, func(r *row) any { return &r.MaxExecTime }},
	{"rows", v1_4, extVersion{}, func(r *row) any { return &r.Rows }},
	{"shared_blks_hit", v1_4, extVersion{}, func(r *row) any { return &r.SharedBlksHit }},
	{"shared_blks_read", v1_4, extVersion{}, func(r *row) any { return &r.SharedBlksRead }},
	{"shared_blks_dirtied", v1_4, extVersion{}, func(r *row) any { return &r.SharedBlksDirtied }},
	{"shared_blks_written", v1_4, extVersion{}, func(r *row) any { return &r.SharedBlksWritten }},
	{"local_blks_hit", v1_4, extVersion{}, func(r *row) any { return &r.LocalBlksHit }},
	{"local_blks_read", v1_4, extVersion{}, func(r *row) any { return &r.LocalBlksRead }},
	{"local_blks_dirtied", v1_4, extVersion{}, func(r *row) any { return &r.LocalBlksDirtied }},
	{"local_blks_written", v1_4, extVersion{}, func(r *row) any { return &r.LocalBlksWritten }},
	{"temp_blks_read", v1_4, extVersion{}, func(r *row) any { return &r.TempBlksRead }},
	{"temp_blks_written", v1_4, extVersion{}, func(r *row) any { return &r.TempBlksWritten }},
	{"blk_read_time", v1_4, v1_11, func(r *row) any { return &r.SharedBlkReadTime }},
	{"blk_write_time", v1_4, v1_11, func(r *row) any { return &r.SharedBlkWriteTime }},
	{"shared_blk_read_time", v1_11, extVersion{}, func(r *row) any { return &r.SharedBlkReadTime }},
	{"shared_blk_write_time", v1_11, extVersion{}, func(r *row) any { return &r.SharedBlkWriteTime }},
	{"local_blk_read_time", v1_11, extVersion{}, func(r *row) any { return &r.LocalBlkReadTime }},
	{"local_blk_write_time", v1_11, extVersion{}, func(r *row) any { return &r.LocalBlkWriteTime }},
	{"temp_blk_read_time", v1_10, extVersion{}, func(r *row) any { return &r.TempBlkReadTime }},
	{"temp_blk_write_time", v1_10, extVersion{}, func(r *row) any { return &r.TempBlkWriteTime }},
	{"wal_records", v1_8, extVersion{}, func(r *row) any { return &r.WALRecords }},
	{"wal_fpi", v1_8, extVersion{}, func(r *row) any { return &r.WALFPI }},
	{"wal_bytes::int8", v1_8, extVersion{}, func(r *row) any { return &r.WALBytes }},
	{"jit_functions", v1_10, extVersion{}, func(r *row) any { return &r.JITFunctions }},
	{"jit_generation_time", v1_10, extVersion{}, func(r *row) any { return &r.JITGenerationTime }},
	{"jit_inlining_count", v1_10, extVersion{}, func(r *row) any { return &r.JITInliningCount }},
	{"jit_inlining_time", v1_10, extVersion{}, func(r *row) any { return &r.JITInliningTime }},
	{"jit_optimization_count", v1_10, extVersion{}, func(r *row) any { return &r.JITOptimizationCount }},
	{"jit_optimization_time", v1_10, extVersion{}, func(r *row) any { return &r.JITOptimizationTime }},
	{"jit_emission_count", v1_10, extVersion{}, func(r *row) any { return &r.JITEmissionCount }},
	{"jit_emission_time", v1_10, extVersion{}, func(r *row) any { return &r.JITEmissionTime }},
	{"jit_deform_count", v1_11, extVersion{}, func(r *row) any { return &r.JITDeformCount }},
	{"jit_deform_time", v1_11, extVersion{}, func(r *row) any { return &r.JITDeformTime }},
	{"stats_since", v1_11, extVersion{}, func(r *row) any { return &r.StatsSince }},
}

// statementsQuery is the counters query for extension version v installed
// in schema, and the columns it selects, in order.
func statementsQuery(schema string, v extVersion) (string, []column) {
	var cols []column
	var exprs []string
	for _, c := range statementColumns {
		if v.atLeast(c.from) && (c.until == extVersion{} || !v.atLeast(c.until)) {
			cols = append(cols, c)
			exprs = append(exprs, c.expr)
		}
	}
	return dbconn.Marker + "SELECT " + strings.Join(exprs, ", ") +
		" FROM " + QuoteIdent(schema) + ".pg_stat_statements(false)", cols
}

// textsQuery fetches the texts of every entry of some queryids, cut at $1
// characters, with the key of each. Its functions and operators are named
// in pg_catalog and its parameters typed: a role that can create in public
// could otherwise add a left(text, float8), which PostgreSQL prefers for
// an untyped $1, and have the advisor run it.
func textsQuery(schema string, v extVersion) string {
	toplevel := "true" // not a column before 1.9
	if v.atLeast(v1_9) {
		toplevel = "toplevel"
	}
	return dbconn.Marker + "SELECT queryid, userid, dbid, " + toplevel + ", pg_catalog.left(query, $1::pg_catalog.int4)," +
		" pg_catalog.length(query) OPERATOR(pg_catalog.>) $1::pg_catalog.int4" +
		" FROM " + QuoteIdent(schema) + ".pg_stat_statements(true) WHERE queryid OPERATOR(pg_catalog.=) ANY($2::pg_catalog.int8[])"
}

func infoQuery(schema string) string {
	return dbconn.Marker + "SELECT dealloc, stats_reset FROM " + QuoteIdent(schema) + ".pg_stat_statements_info"
}

const setupQuery = dbconn.Marker + `SELECT current_database(), current_user, current_setting('application_name'),
	coalesce(current_setting('pg_stat_statements.max', true), ''), e.extversion, n.nspname, statement_timestamp(),
	pg_postmaster_start_time()
FROM (SELECT) AS one
LEFT JOIN pg_extension e ON e.extname = 'pg_stat_statements'
LEFT JOIN pg_namespace n ON n.oid = e.extnamespace`

const namesQuery = dbconn.Marker + `SELECT false, oid, datname FROM pg_database
UNION ALL SELECT true, oid, rolname FROM pg_roles`

type setup struct {
	database, user, appName, max string
	version, schema              pgtype.Text
}

// Sample reads pg_stat_statements once. Problems that leave the rest of
// the sample usable (hidden texts, a missing extension) come back as
// Snapshot.Warnings; an error means the server could not be queried. A
// snapshot with Sampled false has no entries. Evictions are warned of by
// Window.Add, which knows the sample they are counted from.
func (s *Sampler) Sample(ctx context.Context) (*Snapshot, error) {
	// Wall-clock time only: the window compares and persists it, and a
	// monotonic reading would order samples differently from the saved times.
	taken := time.Now()
	start := taken.Round(0)
	snap := &Snapshot{Time: start, taken: taken}
	var st setup
	err := s.q.QueryRow(ctx, setupQuery).Scan(&st.database, &st.user, &st.appName, &st.max, &st.version, &st.schema, &snap.ServerTime,
		&snap.ServerStart)
	if err != nil {
		return nil, fmt.Errorf("sample pg_stat_statements: read extension: %w", err)
	}
	snap.Database, snap.Version, snap.Filter = st.database, st.version.String, s.opts.filter()
	snap.Max, _ = strconv.Atoi(st.max)
	s.texts.max = max(s.opts.MaxTexts, snap.Max+snap.Max/10)
	if st.appName != dbconn.ApplicationName && !s.warnedAppName {
		s.warnedAppName = true
		s.log.Warn("sampler connection is not marked as the advisor's; open it with internal/dbconn",
			zap.String("application_name", st.appName))
	}
	if !st.version.Valid {
		snap.Warnings = append(snap.Warnings, Warning{Code: WarnExtensionMissing,
			Message: fmt.Sprintf("pg_stat_statements is not installed in database %q", st.database),
			Fix:     fmt.Sprintf("run CREATE EXTENSION pg_stat_statements; in database %q as a superuser", st.database)})
		return snap, nil
	}
	v, ok := parseExtVersion(st.version.String)
	if !ok || !v.atLeast(v1_4) {
		snap.Warnings = append(snap.Warnings, Warning{Code: WarnVersionUnsupported,
			Message: fmt.Sprintf("pg_stat_statements version %q in database %q is not supported (1.4 or later is)", st.version.String, st.database),
			Fix:     fmt.Sprintf("run ALTER EXTENSION pg_stat_statements UPDATE; in database %q", st.database)})
		return snap, nil
	}
	if err := s.readNames(ctx, snap); err != nil {
		return nil, err
	}
	s.texts.nextSample()
	if err := s.readCounters(ctx, st.schema.String, v, snap); err != nil {
		w, ok := countersWarning(err)
		if !ok {
			return nil, fmt.Errorf("sample pg_stat_statements: %w", err)
		}
		snap.Entries, snap.Hidden, snap.Info = nil, 0, nil
		snap.Warnings = append(snap.Warnings, w)
		return snap, nil
	}
	if snap.Hidden > 0 {
		snap.Warnings = append(snap.Warnings, Warning{Code: WarnTextsHidden,
			Message: fmt.Sprintf("pg_stat_statements shows role %q <insufficient privilege> instead of %d statements of other roles; they are left out", st.user, snap.Hidden),
			Fix:     fmt.Sprintf("GRANT pg_read_all_stats TO %s;", QuoteIdent(st.user))})
	}
	if info := snap.Info; info != nil {
		if s.prev != nil && !info.StatsReset.Equal(s.prev.StatsReset) {
			// After a reset, entries come back with the texts of their
			// first calls since (LIMIT 20 where it was LIMIT $2).
			s.texts = newTextCache(s.texts.max)
		}
		s.prev = info
	}
	if err := s.readTexts(ctx, st.schema.String, v, snap); err != nil {
		return nil, err
	}
	snap.Sampled = true
	s.log.Debug("sampled pg_stat_statements", zap.Int("entries", len(snap.Entries)),
		zap.Int("hidden", snap.Hidden), zap.Duration("took", time.Since(start)))
	return snap, nil
}

var errResetWhileReading = errors.New("pg_stat_statements was reset while it was read, twice")

// readCounters fills snap.Entries and, from 1.9, snap.Info. The info is
// read before and after the counters because a reset in between would
// pair the old series' counters with the new stats_reset, and the window
// would take their whole history for a delta. After a reset it reads the
// counters once more; a second reset gives errResetWhileReading.
func (s *Sampler) readCounters(ctx context.Context, schema string, v extVersion, snap *Snapshot) error {
	if !v.atLeast(v1_9) {
		return s.readStatements(ctx, schema, v, snap)
	}
	before, err := s.readInfo(ctx, schema)
	if err != nil {
		return err
	}
	for range 2 {
		if err := s.readStatements(ctx, schema, v, snap); err != nil {
			return err
		}
		after, err := s.readInfo(ctx, schema)
		if err != nil {
			return err
		}
		if after.StatsReset.Equal(before.StatsReset) {
			snap.Info = after
			return nil
		}
		before = after
	}
	return errResetWhileReading
}

// countersWarning is the warning for an error of readCounters that leaves
// the sample empty but the sampler fine; ok is false for other errors.
func countersWarning(err error) (w Warning, ok bool) {
	var pgErr *pgconn.PgError
	switch {
	case errors.Is(err, errResetWhileReading):
		return Warning{Code: WarnResetWhileSampling,
			Message: "pg_stat_statements was reset twice while the sampler read it; this sample is skipped",
			Fix:     "if this recurs, find what calls pg_stat_statements_reset() so often and space its calls out"}, true
	case errors.As(err, &pgErr) && pgErr.Code == "55000": // object_not_in_prerequisite_state
		return Warning{Code: WarnNotPreloaded,
			Message: "pg_stat_statements is installed but its library is not loaded: " + pgErr.Message,
			Fix:     "add pg_stat_statements to shared_preload_libraries in postgresql.conf and restart PostgreSQL"}, true
	}
	return Warning{}, false
}

func (s *Sampler) readInfo(ctx context.Context, schema string) (*Info, error) {
	info := &Info{}
	if err := s.q.QueryRow(ctx, infoQuery(schema)).Scan(&info.Dealloc, &info.StatsReset); err != nil {
		return nil, fmt.Errorf("read pg_stat_statements_info: %w", err)
	}
	return info, nil
}

func (s *Sampler) readNames(ctx context.Context, snap *Snapshot) error {
	rows, err := s.q.Query(ctx, namesQuery)
	if err != nil {
		return fmt.Errorf("sample pg_stat_statements: read database and role names: %w", err)
	}
	defer rows.Close()
	snap.Databases, snap.Users = map[uint32]string{}, map[uint32]string{}
	var role bool
	var oid uint32
	var name string
	for rows.Next() {
		if err := rows.Scan(&role, &oid, &name); err != nil {
			return fmt.Errorf("sample pg_stat_statements: read database and role names: %w", err)
		}
		if role {
			snap.Users[oid] = name
		} else {
			snap.Databases[oid] = name
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sample pg_stat_statements: read database and role names: %w", err)
	}
	return nil
}

// readStatements fills snap.Entries with the rows that pass the filters.
func (s *Sampler) readStatements(ctx context.Context, schema string, v extVersion, snap *Snapshot) error {
	query, cols := statementsQuery(schema, v)
	var r row
	dests := make([]any, len(cols))
	for i, c := range cols {
		dests[i] = c.dest(&r)
	}
	allowDB := allowed(snap.Databases, s.opts.Databases)
	allowUser := allowed(snap.Users, s.opts.Users)
	rows, err := s.q.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	snap.Entries, snap.Hidden = make([]Entry, 0, s.rows+s.rows/8), 0
	for rows.Next() {
		r = row{Entry: Entry{Key: Key{TopLevel: true}}} // toplevel is not a column before 1.9
		if err := rows.Scan(dests...); err != nil {
			return err
		}
		if !allowDB[r.DBID] || !allowUser[r.UserID] {
			continue
		}
		if !r.queryid.Valid {
			snap.Hidden++
			continue
		}
		r.QueryID = r.queryid.Int64
		snap.Entries = append(snap.Entries, r.Entry)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	s.rows = len(snap.Entries) + snap.Hidden
	if !v.atLeast(v1_9) {
		s.mergeSameKey(snap)
	}
	return nil
}

// mergeSameKey adds up entries that share a key. PostgreSQL 14+ keeps
// top-level and nested entries of a statement apart, but an extension SQL
// API older than 1.9 has no toplevel column to tell them apart by, and a
// window given two entries with one key mixes their counters.
func (s *Sampler) mergeSameKey(snap *Snapshot) {
	var merged int
	snap.Entries, merged = addUpSameKey(snap.Entries)
	if merged > 0 && !s.warnedSameKey {
		s.warnedSameKey = true
		s.log.Warn("pg_stat_statements' SQL API predates toplevel: the top-level and nested entries of a statement are added up; "+
			"run ALTER EXTENSION pg_stat_statements UPDATE; to count them apart",
			zap.String("database", snap.Database), zap.String("version", snap.Version), zap.Int("merged", merged))
	}
}

// addUpSameKey folds each entry into the first with its key, in place,
// and reports how many it folded.
func addUpSameKey(entries []Entry) ([]Entry, int) {
	first := make(map[Key]int, len(entries))
	kept := entries[:0]
	for _, e := range entries {
		i, seen := first[e.Key]
		if !seen {
			first[e.Key] = len(kept)
			kept = append(kept, e)
			continue
		}
		kept[i].Counters = combine(kept[i].Counters, e.Counters, 1)
		kept[i].MaxExecTime = max(kept[i].MaxExecTime, e.MaxExecTime)
	}
	return kept, len(entries) - len(kept)
}

func allowed(names map[uint32]string, f NameFilter) map[uint32]bool {
	ok := make(map[uint32]bool, len(names))
	for oid, name := range names {
		ok[oid] = f.allows(name)
	}
	return ok
}

// readTexts fills snap.Texts from the cache, fetching the texts of
// entries it has not seen, and warns about new texts with problems.
func (s *Sampler) readTexts(ctx context.Context, schema string, v extVersion, snap *Snapshot) error {
	snap.Texts = make(map[Key]*Text, len(snap.Entries))
	var unseen []int64
	missing, asked := map[Key]bool{}, map[int64]bool{}
	for _, e := range snap.Entries {
		if t, ok := s.texts.get(e.Key); ok {
			snap.Texts[e.Key] = t
			continue
		}
		missing[e.Key] = true
		if !asked[e.QueryID] {
			asked[e.QueryID] = true
			unseen = append(unseen, e.QueryID)
		}
	}
	if len(unseen) == 0 {
		return nil
	}
	rows, err := s.q.Query(ctx, textsQuery(schema, v), s.opts.MaxTextLength, unseen)
	if err != nil {
		return fmt.Errorf("sample pg_stat_statements: fetch the texts of %d queryids: %w", len(unseen), err)
	}
	defer rows.Close()
	problems := map[TextProblem][]int64{}
	// Entries of one statement run by several roles or in several
	// databases have the same text: they share one Text.
	type textKey struct {
		query            string
		valid, truncated bool
	}
	interned := map[textKey]*Text{}
	var (
		k         Key
		query     pgtype.Text
		truncated pgtype.Bool
	)
	for rows.Next() {
		if err := rows.Scan(&k.QueryID, &k.UserID, &k.DBID, &k.TopLevel, &query, &truncated); err != nil {
			return fmt.Errorf("sample pg_stat_statements: fetch texts: %w", err)
		}
		if !missing[k] {
			continue // cached, or left out of the snapshot by a filter
		}
		tk := textKey{query.String, query.Valid, truncated.Bool}
		t, seen := interned[tk]
		if !seen {
			t = &Text{Problem: TextMissing}
			if query.Valid {
				t = classify(query.String, truncated.Bool)
			}
			interned[tk] = t
		}
		// Before 1.9 a top-level entry and a nested one of the same
		// statement share a key: the application's text wins over the
		// advisor's PREPARE of it.
		if prev := snap.Texts[k]; prev != nil && !(prev.Own && !t.Own) {
			continue
		}
		if t.Problem != TextMissing { // no text this time (an unreadable file): ask again next sample
			s.texts.put(k, t)
		}
		snap.Texts[k] = t
		if t.Problem != TextOK && !seen {
			problems[t.Problem] = append(problems[t.Problem], k.QueryID)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("sample pg_stat_statements: fetch texts: %w", err)
	}
	// An entry evicted between the two queries has no text: it is asked
	// for again next sample.
	snap.Warnings = append(snap.Warnings, textWarnings(problems, s.opts.MaxTextLength)...)
	return nil
}

func textWarnings(problems map[TextProblem][]int64, maxLen int) []Warning {
	var ws []Warning
	for _, p := range []TextProblem{TextTruncated, TextUnparseable, TextMissing, TextHidden} {
		ids := problems[p]
		if len(ids) == 0 {
			continue
		}
		which := fmt.Sprintf("%d statement texts (queryids %s)", len(ids), listIDs(ids, 5))
		switch p {
		case TextTruncated:
			ws = append(ws, Warning{Code: WarnTextTruncated,
				Message: fmt.Sprintf("%s are longer than %d characters and were truncated; they cannot be analysed", which, maxLen),
				Fix:     "EXPLAIN these statements by hand with their full text from pg_stat_statements"})
		case TextUnparseable:
			ws = append(ws, Warning{Code: WarnTextUnparseable,
				Message: which + " cannot be parsed (no keyword, an unterminated quote or comment, or unbalanced parentheses); they are ranked but not analysed",
				Fix:     "EXPLAIN these statements by hand with their full text"})
		case TextMissing:
			ws = append(ws, Warning{Code: WarnTextMissing,
				Message: "pg_stat_statements has no text for " + which + ": its query-text file was lost",
				Fix:     "call pg_stat_statements_reset() so texts are recorded again"})
		case TextHidden:
			ws = append(ws, Warning{Code: WarnTextsHidden,
				Message: which + " are shown as <insufficient privilege>",
				Fix:     "GRANT pg_read_all_stats to the advisor's role"})
		}
	}
	return ws
}

func listIDs(ids []int64, max int) string {
	var parts []string
	for i, id := range ids {
		if i == max {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, strconv.FormatInt(id, 10))
	}
	return strings.Join(parts, ", ")
}
