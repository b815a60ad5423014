package exporter

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pgadvisor/pgadvisor/collector"
)

// statementLeaveAfter is how many consecutive updates an exported statement
// may rank below the top K (but within the top 2K) before its series go.
const statementLeaveAfter = 10

// Statements updates target's per-statement series and
// pgadvisor_statements_tracked. snap is the newest sample: a series starts
// at its cumulative counters, summed over users and nesting levels, and
// then adds what each of those entries ran since the last sample, so that
// it never goes down while it lives, though one of its entries is evicted
// or reset (Prometheus would read that as a reset of the whole counter,
// and the rest of its history as new). ranking,
// when not nil, is a recent span of the window that ranks statements by
// execution time and gives their mean time; nil keeps the last ranking. A
// statement enters the exported set when it ranks in the top K, and leaves
// (its series are deleted) when it falls out of the top 2K, stays below
// the top K for statementLeaveAfter rankings, or is no longer in
// pg_stat_statements: labels do not churn at every scrape, and a target
// never has more than 2K statements exported.
func (m *Metrics) Statements(target string, snap *collector.Snapshot, ranking *collector.Delta) {
	m.statementsTracked.WithLabelValues(target).Set(float64(len(snap.Entries)))
	m.statements.update(target, snap, ranking)
}

// SetTopStatements changes K (metrics.top_statements); the exported sets
// follow at their next update.
func (m *Metrics) SetTopStatements(k int) {
	m.statements.mu.Lock()
	m.statements.k = max(k, 0)
	m.statements.mu.Unlock()
}

// statementKey names a statement as its labels do, with the queryid kept
// as a number so matching a snapshot's entries allocates nothing.
type statementKey struct {
	datname string
	queryid int64
}

// newStatementKey keys a statement of database datname. A database name
// need not be valid UTF-8 (SQL_ASCII clusters keep bytes as given), and
// one label that is not fails the whole scrape: the key holds it with
// U+FFFD for the invalid bytes, so names that then read the same share one
// label set instead of colliding at the scrape.
func newStatementKey(datname string, queryid int64) statementKey {
	return statementKey{strings.ToValidUTF8(datname, "\uFFFD"), queryid}
}

type statementSeries struct {
	queryid        string  // the label
	seconds, calls float64 // counters that only grow; see Statements
	mean           float64 // seconds per call over the ranking span
	belowK         int     // consecutive rankings below the top K
	// entries are its pg_stat_statements entries' cumulative counters at
	// the last sample, what the next one's are compared with.
	entries map[collector.Key]entryTotals
}

type entryTotals struct{ seconds, calls float64 }

type statementCollector struct {
	seconds, calls, mean *prometheus.Desc

	mu      sync.Mutex
	k       int
	targets map[string]map[statementKey]*statementSeries
}

func newStatementCollector(m *Metrics, k int) *statementCollector {
	labels := []string{"target", "datname", "queryid"}
	return &statementCollector{
		seconds: m.desc("pgadvisor_statement_seconds_total",
			"Execution time of a top statement, summed over users: pg_stat_statements' total when the statement entered the exported set, plus what it ran since.", labels...),
		calls: m.desc("pgadvisor_statement_calls_total",
			"Calls of a top statement, summed over users: pg_stat_statements' total when the statement entered the exported set, plus those since.", labels...),
		mean: m.desc("pgadvisor_statement_mean_seconds",
			"Mean execution time of a top statement over the recent span that ranks statements.", labels...),
		k:       max(k, 0),
		targets: map[string]map[statementKey]*statementSeries{},
	}
}

type rankedStatement struct {
	key          statementKey
	total, calls float64 // ms, calls over the span
}

// rankStatements sums the span's statements by label set and orders them
// by execution time, costliest first (ties by key, for stable labels).
func rankStatements(d *collector.Delta) []rankedStatement {
	top, _ := d.Top(collector.RankOptions{By: collector.ByTotalTime}) // a valid RankBy cannot fail
	pos := map[statementKey]int{}
	var out []rankedStatement
	for _, s := range top {
		k := newStatementKey(s.Database, s.Key.QueryID)
		i, ok := pos[k]
		if !ok {
			i = len(out)
			pos[k] = i
			out = append(out, rankedStatement{key: k})
		}
		out[i].total += s.TotalExecTime
		out[i].calls += float64(s.Calls)
	}
	slices.SortFunc(out, func(a, b rankedStatement) int {
		return cmp.Or(cmp.Compare(b.total, a.total), cmp.Compare(a.key.datname, b.key.datname), cmp.Compare(a.key.queryid, b.key.queryid))
	})
	return out
}

func (c *statementCollector) update(target string, snap *collector.Snapshot, ranking *collector.Delta) {
	c.mu.Lock()
	defer c.mu.Unlock()
	set := c.targets[target]
	if set == nil {
		set = map[statementKey]*statementSeries{}
		c.targets[target] = set
	}
	if ranking != nil {
		c.rerank(set, rankStatements(ranking))
	}

	// What each entry ran since the last sample: all of it for an entry
	// new to the series, or one whose counters went down (reset, or
	// evicted and back). A statement the snapshot no longer holds was
	// evicted or reset away: its series go.
	seen := map[*statementSeries]map[collector.Key]entryTotals{}
	for _, e := range snap.Entries {
		if t := snap.Texts[e.Key]; t != nil && t.Own {
			continue // the advisor's PREPARE of the statement shares its queryid
		}
		s := set[newStatementKey(snap.Databases[e.DBID], e.QueryID)]
		if s == nil {
			continue
		}
		now := entryTotals{e.TotalExecTime / 1000, float64(e.Calls)}
		added := now
		if last, ok := s.entries[e.Key]; ok && now.calls >= last.calls && now.seconds >= last.seconds {
			added = entryTotals{now.seconds - last.seconds, now.calls - last.calls}
		}
		s.seconds, s.calls = s.seconds+added.seconds, s.calls+added.calls
		if seen[s] == nil {
			seen[s] = map[collector.Key]entryTotals{}
		}
		seen[s][e.Key] = now
	}
	for key, s := range set {
		if seen[s] == nil {
			delete(set, key)
		}
		s.entries = seen[s]
	}
	if len(set) == 0 {
		delete(c.targets, target)
	}
}

// rerank applies a new ranking to the exported set of a target.
func (c *statementCollector) rerank(set map[statementKey]*statementSeries, ranked []rankedStatement) {
	rank := make(map[statementKey]int, len(ranked))
	for i, r := range ranked {
		rank[r.key] = i
	}
	for key, s := range set {
		r, ok := rank[key]
		switch {
		case !ok || r >= 2*c.k:
			delete(set, key)
		case r >= c.k:
			if s.belowK++; s.belowK >= statementLeaveAfter {
				delete(set, key)
			}
		default:
			s.belowK = 0
		}
	}
	for _, r := range ranked[:min(c.k, len(ranked))] {
		if set[r.key] == nil {
			set[r.key] = &statementSeries{queryid: strconv.FormatInt(r.key.queryid, 10)}
		}
	}
	for _, r := range ranked {
		if s := set[r.key]; s != nil && r.calls > 0 {
			s.mean = r.total / r.calls / 1000
		}
	}
}

func (c *statementCollector) forget(target string) {
	c.mu.Lock()
	delete(c.targets, target)
	c.mu.Unlock()
}

func (c *statementCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.seconds
	ch <- c.calls
	ch <- c.mean
}

func (c *statementCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for target, set := range c.targets {
		for key, s := range set {
			ch <- prometheus.MustNewConstMetric(c.seconds, prometheus.CounterValue, s.seconds, target, key.datname, s.queryid)
			ch <- prometheus.MustNewConstMetric(c.calls, prometheus.CounterValue, s.calls, target, key.datname, s.queryid)
			ch <- prometheus.MustNewConstMetric(c.mean, prometheus.GaugeValue, s.mean, target, key.datname, s.queryid)
		}
	}
}
