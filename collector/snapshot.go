package collector

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Querier runs queries; *pgx.Conn, *pgxpool.Pool and pgx.Tx satisfy it.
// Open connections with internal/dbconn so they carry application_name
// pgadvisor.
type Querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Key identifies one pg_stat_statements entry.
type Key struct {
	DBID     uint32
	UserID   uint32
	QueryID  int64
	TopLevel bool // always true before extension version 1.9
}

// Counters are the additive numbers of one entry: cumulative in a Snapshot,
// differences in a Delta. Times are in milliseconds. Counters the installed
// extension version does not have stay zero.
type Counters struct {
	Calls         int64
	Plans         int64
	TotalExecTime float64
	TotalPlanTime float64
	Rows          int64

	SharedBlksHit     int64
	SharedBlksRead    int64
	SharedBlksDirtied int64
	SharedBlksWritten int64
	LocalBlksHit      int64
	LocalBlksRead     int64
	LocalBlksDirtied  int64
	LocalBlksWritten  int64
	TempBlksRead      int64
	TempBlksWritten   int64

	SharedBlkReadTime  float64 // blk_read_time before 1.11
	SharedBlkWriteTime float64
	LocalBlkReadTime   float64
	LocalBlkWriteTime  float64
	TempBlkReadTime    float64
	TempBlkWriteTime   float64

	WALRecords int64
	WALFPI     int64
	WALBytes   int64

	JITFunctions         int64
	JITGenerationTime    float64
	JITInliningCount     int64
	JITInliningTime      float64
	JITOptimizationCount int64
	JITOptimizationTime  float64
	JITEmissionCount     int64
	JITEmissionTime      float64
	JITDeformCount       int64
	JITDeformTime        float64
}

// intFields and floatFields list every counter once, for arithmetic and
// encoding.
func (c *Counters) intFields() [21]*int64 {
	return [...]*int64{&c.Calls, &c.Plans, &c.Rows,
		&c.SharedBlksHit, &c.SharedBlksRead, &c.SharedBlksDirtied, &c.SharedBlksWritten,
		&c.LocalBlksHit, &c.LocalBlksRead, &c.LocalBlksDirtied, &c.LocalBlksWritten,
		&c.TempBlksRead, &c.TempBlksWritten, &c.WALRecords, &c.WALFPI, &c.WALBytes,
		&c.JITFunctions, &c.JITInliningCount, &c.JITOptimizationCount, &c.JITEmissionCount, &c.JITDeformCount}
}

func (c *Counters) floatFields() [13]*float64 {
	return [...]*float64{&c.TotalExecTime, &c.TotalPlanTime,
		&c.SharedBlkReadTime, &c.SharedBlkWriteTime, &c.LocalBlkReadTime, &c.LocalBlkWriteTime,
		&c.TempBlkReadTime, &c.TempBlkWriteTime, &c.JITGenerationTime, &c.JITInliningTime,
		&c.JITOptimizationTime, &c.JITEmissionTime, &c.JITDeformTime}
}

// combine returns a + sign*b, field by field.
func combine(a, b Counters, sign int64) Counters {
	ai, bi := a.intFields(), b.intFields()
	for i := range ai {
		*ai[i] += sign * *bi[i]
	}
	af, bf := a.floatFields(), b.floatFields()
	for i := range af {
		*af[i] += float64(sign) * *bf[i]
	}
	return a
}

// wentDown reports whether cur cannot follow prev in one series: some
// counter decreased, so the entry was reset or evicted and re-added. Every
// counter is compared: a re-added entry can have more calls than before
// and fewer of another counter, whose delta would come out negative.
func wentDown(prev, cur Counters) bool {
	pi, ci := prev.intFields(), cur.intFields()
	for i := range pi {
		if *ci[i] < *pi[i] {
			return true
		}
	}
	pf, cf := prev.floatFields(), cur.floatFields()
	for i := range pf {
		if *cf[i] < *pf[i] {
			return true
		}
	}
	return false
}

// Entry is one row of pg_stat_statements with cumulative counters.
type Entry struct {
	Key
	Counters
	MaxExecTime float64   // ms; only cumulative (since stats_since or minmax reset)
	StatsSince  time.Time // when the entry was created (1.11+), zero before
}

// Info is pg_stat_statements_info (extension version 1.9+).
type Info struct {
	Dealloc    int64     // times entries were evicted since StatsReset
	StatsReset time.Time // last reset of all entries
}

// Snapshot is one reading of pg_stat_statements.
type Snapshot struct {
	Time time.Time
	// ServerTime is the server's clock when the sample began: stats_reset
	// and stats_since are read from that clock, and the agent's may be
	// off by seconds or minutes. Zero when unknown.
	ServerTime time.Time
	// ServerStart is pg_postmaster_start_time(): another one behind the
	// same address is another server (a failover) or a restart, which
	// before extension 1.9 (no pg_stat_statements_info) nothing else shows.
	ServerStart time.Time
	Database    string // the database the sampler is connected to
	Version     string // installed extension version, e.g. "1.10"; "" when not installed
	// Filter describes the sampler's database and user filters ("" on a
	// snapshot not from a Sampler): when it changes, an entry first seen
	// may be one they had kept out, with all its history.
	Filter    string
	Sampled   bool // false when pg_stat_statements could not be read; see Warnings
	Entries   []Entry
	Texts     map[Key]*Text // for every entry whose text is known
	Databases map[uint32]string
	Users     map[uint32]string
	Info      *Info // nil before 1.9
	Max       int   // pg_stat_statements.max, 0 when unknown
	// Hidden counts rows left out because their queryid is NULL: statements
	// of other roles, invisible without pg_read_all_stats.
	Hidden   int
	Warnings []Warning
	// taken is when the Sampler read the clock, with the monotonic reading
	// that Time, persisted and compared across restarts, leaves out; zero
	// on a snapshot not from a Sampler.
	taken time.Time
}

// Warning is a problem that did not stop sampling, with what fixes it.
type Warning struct {
	Code    string // one of the Warn* constants
	Message string
	Fix     string
}

func (w Warning) String() string { return w.Message + " (fix: " + w.Fix + ")" }

// ReportWarnings are the warnings of s, as text, that a report on a window
// ending with s carries: all but the evictions, which the report counts
// over its whole span (Delta.Evictions).
func (s *Snapshot) ReportWarnings() []string {
	var out []string
	for _, w := range s.Warnings {
		if w.Code != WarnEvictions {
			out = append(out, w.String())
		}
	}
	return out
}

// Warning codes, stable for metrics and reports.
const (
	WarnExtensionMissing   = "extension_missing"
	WarnNotPreloaded       = "extension_not_preloaded"
	WarnVersionUnsupported = "extension_version_unsupported"
	WarnTextsHidden        = "texts_hidden"
	WarnTextTruncated      = "text_truncated"
	WarnTextUnparseable    = "text_unparseable"
	WarnTextMissing        = "text_missing"
	WarnEvictions          = "evictions"
	WarnResetWhileSampling = "reset_while_sampling"
	WarnClockStepped       = "clock_stepped_back"
)
