package collector

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Statement is one pg_stat_statements entry over a span of a Window.
type Statement struct {
	QueryID  string // decimal, as pg_stat_statements shows it
	Key      Key
	Database string
	User     string
	Text     Text // Problem is TextMissing when the text is unknown
	Counters      // differences over the span
	// MeanExecTime is TotalExecTime / Calls over the span, in ms.
	MeanExecTime float64
	// MaxExecTime is the entry's current maximum, in ms: pg_stat_statements
	// keeps it only since the entry was created (or its min/max reset),
	// never per span.
	MaxExecTime float64
	// Share is the statement's part (0..1) of the workload's execution
	// time in the span (Delta.TotalExecTime, top-level statements); 0 for
	// the advisor's own statements.
	Share float64
}

// RankBy names what "costliest" means.
type RankBy string

// Rankings.
const (
	ByTotalTime       RankBy = "total_time"
	ByMeanTime        RankBy = "mean_time"
	ByCalls           RankBy = "calls"
	BySharedBlksRead  RankBy = "shared_blks_read"
	ByTempBlksWritten RankBy = "temp_blks_written"
)

var rankMetrics = map[RankBy]func(*Statement) float64{
	ByTotalTime:       func(s *Statement) float64 { return s.TotalExecTime },
	ByMeanTime:        func(s *Statement) float64 { return s.MeanExecTime },
	ByCalls:           func(s *Statement) float64 { return float64(s.Calls) },
	BySharedBlksRead:  func(s *Statement) float64 { return float64(s.SharedBlksRead) },
	ByTempBlksWritten: func(s *Statement) float64 { return float64(s.TempBlksWritten) },
}

// ParseRankBy checks a ranking name from configuration; "" means total_time.
func ParseRankBy(s string) (RankBy, error) {
	if s == "" {
		return ByTotalTime, nil
	}
	if _, ok := rankMetrics[RankBy(s)]; !ok {
		return "", fmt.Errorf("unknown ranking %q: use total_time, mean_time, calls, shared_blks_read or temp_blks_written", s)
	}
	return RankBy(s), nil
}

// RankOptions choose the top statements.
type RankOptions struct {
	By       RankBy // default total_time
	MinCalls int64  // statements called fewer times in the span are left out
	Top      int    // at most this many; 0 means all
}

// Top ranks the statements of d, costliest first, leaving out the
// advisor's own statements, utility statements and those called fewer than
// MinCalls times (and never fewer than once). A statement that several
// roles run is ranked once, its entries summed: run by one role per
// tenant, its parts would each fall below MinCalls or below cheaper
// statements. User then lists the roles. Ties go by key: queryid,
// database, top level first.
func (d *Delta) Top(opts RankOptions) ([]Statement, error) {
	by, err := ParseRankBy(string(opts.By))
	if err != nil {
		return nil, err
	}
	metric := rankMetrics[by]
	type ranked struct {
		s *Statement
		v float64
	}
	var cand []ranked
	for _, s := range d.byStatement() {
		if s.Calls >= max(opts.MinCalls, 1) {
			cand = append(cand, ranked{s, metric(s)})
		}
	}
	slices.SortFunc(cand, func(a, b ranked) int {
		if c := cmp.Compare(b.v, a.v); c != 0 {
			return c
		}
		ka, kb := a.s.Key, b.s.Key
		return cmp.Or(cmp.Compare(ka.QueryID, kb.QueryID), cmp.Compare(ka.DBID, kb.DBID),
			cmp.Compare(boolInt(kb.TopLevel), boolInt(ka.TopLevel)))
	})
	if opts.Top > 0 && len(cand) > opts.Top {
		cand = cand[:opts.Top]
	}
	out := make([]Statement, len(cand))
	for i, c := range cand {
		out[i] = *c.s
	}
	return out, nil
}

// byStatement sums d's workload entries by database and queryid, whatever
// role ran them and whether at top level or inside a function (one
// statement, which one plan and one index serve): copies, in d's order.
// The advisor's own
// entries (its EXPLAIN shares the statement's queryid), utility and
// internal ones are left out. The Key's UserID is the first entry's; User
// lists every role, sorted.
func (d *Delta) byStatement() []*Statement {
	type key struct {
		dbid    uint32
		queryID int64
	}
	pos := map[key]int{}
	var out []*Statement
	for _, s := range d.Statements {
		if s.Text.Own || s.Text.Utility || s.Text.Internal {
			continue
		}
		k := key{s.Key.DBID, s.Key.QueryID}
		i, ok := pos[k]
		if !ok {
			pos[k] = len(out)
			c := s
			out = append(out, &c)
			continue
		}
		m := out[i]
		m.Counters = combine(m.Counters, s.Counters, 1)
		m.MaxExecTime = max(m.MaxExecTime, s.MaxExecTime)
		m.Share += s.Share
		// A statement run inside a PL/pgSQL function has its text there,
		// with variables where the caller's has $n: it cannot be explained.
		if m.Text.Problem == TextMissing || !m.Key.TopLevel && s.Key.TopLevel && s.Text.Problem == TextOK {
			m.Text, m.Key.TopLevel = s.Text, s.Key.TopLevel
		}
		if users := strings.Split(m.User, ", "); !slices.Contains(users, s.User) {
			users = append(users, s.User)
			slices.Sort(users)
			m.User = strings.Join(users, ", ")
		}
	}
	for _, s := range out {
		if s.Calls > 0 {
			s.MeanExecTime = s.TotalExecTime / float64(s.Calls)
		}
	}
	return out
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
