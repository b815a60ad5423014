package advisor

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

// Thresholds of the workload-level OFFSET check: a page that reads this
// many buffers per call, and this many per row it returns, is mostly rows
// produced only to be thrown away (a keyset page reads a handful).
const (
	offsetMinBuffersPerCall = 500
	offsetMinBuffersPerRow  = 10
)

// offsetFinding reports deep OFFSET pagination from what a statement did
// across all its calls. Its plan cannot show it: the runner explains it
// with OFFSET 0, which is what a safe synthesized value must be. That plan
// (firstPage, nil when the statement was not run) shows what a call reads
// before skipping any row: only what calls read beyond it is the offsets',
// so a sort of the whole table for a first page is not taken for one.
func offsetFinding(s collector.Statement, firstPage *explain.Plan) (explain.Finding, bool) {
	if s.Calls <= 0 || !hasOffset(s.Text.Query) {
		return explain.Finding{}, false
	}
	calls := float64(s.Calls)
	buffers := float64(s.SharedBlksHit+s.SharedBlksRead) / calls
	rows := max(float64(s.Rows)/calls, 1)
	skipped := buffers // read for rows the offsets skip
	if firstPage != nil && firstPage.Analyzed() && firstPage.Root != nil {
		skipped -= float64(firstPage.Root.SharedHitBlocks + firstPage.Root.SharedReadBlocks)
	}
	if skipped < offsetMinBuffersPerCall || skipped/rows < offsetMinBuffersPerRow {
		return explain.Finding{}, false
	}
	severity := explain.Warning
	if s.Share >= 0.1 {
		severity = explain.Critical
	}
	return explain.Finding{
		Kind:     explain.KindLargeOffset,
		Severity: severity,
		QueryID:  s.QueryID,
		Detail: fmt.Sprintf("Each call returns %.0f rows but reads %.0f buffers (mean %.1f ms over %d calls): "+
			"OFFSET pagination produces every skipped row only to discard it, so deeper pages cost more.",
			rows, buffers, s.MeanExecTime, s.Calls),
		Evidence: map[string]any{
			"calls": s.Calls, "rows_per_call": rows, "buffers_per_call": buffers,
			"mean_exec_time_ms": s.MeanExecTime, "workload_share": s.Share,
		},
		Fix: "Use keyset pagination: remember the last row's sort key and ask for WHERE (sort key) > (last value) " +
			"ORDER BY sort key LIMIT n, served by an index on the sort key; every page then costs the same.",
	}, true
}

// Thresholds of the atypical-run check: calls that read this many times
// the buffers of the analyzed run and took this many times as long, by at
// least this many ms (below it, the gap is the noise of a fast lookup).
const (
	atypicalFactor = 5
	atypicalMinMS  = 1
)

// shownValueLen cuts a parameter value quoted in a finding.
const shownValueLen = 40

// paramList shows the values of $1, $2, ... as a finding quotes them,
// "$1 = '1', $2 = 'x'", as SQL literals cut at shownValueLen characters.
func paramList(values []string) string {
	shown := make([]string, len(values))
	for i, v := range values {
		if r := []rune(v); len(r) > shownValueLen {
			v = string(r[:shownValueLen]) + "…"
		}
		shown[i] = fmt.Sprintf("$%d = '%s'", i+1, strings.ReplaceAll(v, "'", "''"))
	}
	return strings.Join(shown, ", ")
}

// atypicalRunFinding reports a statement whose calls did far more work
// than its EXPLAIN ANALYZE with the values the advisor chose, when the
// runner found no values whose run reads like the calls (rerunLikeCalls):
// the time goes to other values, a rare tenant whose rows never fill a
// LIMIT walking an index in the sort order, say. Its plan, and so its
// findings and costed indexes, do not show that case. Buffers make
// the case, not time alone: a cold cache or a lock wait slows calls
// without making them read more. A statement with OFFSET is left to
// offsetFinding: its run skips no rows, its calls do.
func atypicalRunFinding(s collector.Statement, res explain.Result) (explain.Finding, bool) {
	p := res.Plan
	if s.Calls <= 0 || res.Mode != explain.ModeAnalyze || p == nil || p.Root == nil || !p.Analyzed() || hasOffset(s.Text.Query) {
		return explain.Finding{}, false
	}
	callBuffers := buffersPerCall(s)
	runBuffers := float64(p.Root.SharedHitBlocks + p.Root.SharedReadBlocks)
	runMS := p.ExecutionTime
	if s.MeanExecTime < atypicalFactor*runMS || s.MeanExecTime-runMS < atypicalMinMS || callBuffers < atypicalFactor*max(runBuffers, 1) {
		return explain.Finding{}, false
	}
	with := "no parameters"
	if len(res.Params) > 0 {
		with = paramList(explain.ParamValues(res.Params))
	}
	severity := explain.Info
	if s.Share >= 0.1 {
		severity = explain.Warning
	}
	return explain.Finding{
		Kind:     explain.KindAtypicalRun,
		Severity: severity,
		QueryID:  s.QueryID,
		Detail: fmt.Sprintf("Its %d calls took %s and read %s buffers each on average, %.0fx the %s and %s buffers of its analyzed run with %s: "+
			"the time goes to other values, whose plans this report does not show, and its findings and indexes are judged without them.",
			s.Calls, humanize.Millis(s.MeanExecTime), humanize.Count(callBuffers), s.MeanExecTime/max(runMS, 0.001), humanize.Millis(runMS), humanize.Count(runBuffers), with),
		Evidence: map[string]any{
			"calls": s.Calls, "mean_exec_time_ms": s.MeanExecTime, "buffers_per_call": callBuffers,
			"run_exec_time_ms": runMS, "run_buffers": runBuffers, "workload_share": s.Share,
		},
		Fix: "Find the slow values and explain the statement with them: pg_stat_statements keeps no parameters, but with " +
			"log_min_duration_statement set a few times above the mean (ALTER ROLE ... SET, for the application's role) " +
			"the log shows each slow call with its parameters; then run EXPLAIN (ANALYZE, BUFFERS) with them. " +
			"A common cause is a plan that walks an index in the ORDER BY's order until the LIMIT is filled: quick for " +
			"common values, a walk of most of the index for rare ones.",
	}, true
}

// hasOffset reports whether the statement's outermost SELECT has OFFSET.
func hasOffset(query string) bool {
	tree, err := pg.Parse(explain.Reparseable(query))
	if err != nil || len(tree.Stmts) != 1 {
		return false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	return sel != nil && sel.LimitOffset != nil
}

// Thresholds of the cache check: pghero's 99% hit ratio, judged only over
// a window that read enough blocks from outside shared_buffers to matter
// (10,000 blocks is 78 MB at 8 kB).
const (
	cacheMinHitRatio   = 0.99
	cacheWarnHitRatio  = 0.95
	cacheMinReadBlocks = 10_000
	cacheTopReaders    = 3
)

// cacheFinding reports a window whose statements found too few of the
// blocks they needed in shared_buffers: the rest came from the OS cache or
// the disk, and each such read costs far more than a hit. Only top-level
// entries count (a nested statement's blocks are also its caller's), and
// the advisor's own are left out. The statements that read the most are
// named, since cutting their reads helps as much as a bigger cache.
func cacheFinding(window []collector.Statement, cat *collector.Catalog) (explain.Finding, bool) {
	var hit, read int64
	var readers []collector.Statement
	for _, s := range window {
		if s.Text.Own || !s.Key.TopLevel {
			continue
		}
		hit += s.SharedBlksHit
		read += s.SharedBlksRead
		if s.SharedBlksRead > 0 {
			readers = append(readers, s)
		}
	}
	ratio := float64(hit) / float64(max(hit+read, 1))
	if read < cacheMinReadBlocks || ratio >= cacheMinHitRatio {
		return explain.Finding{}, false
	}
	slices.SortStableFunc(readers, func(a, b collector.Statement) int { return cmp.Compare(b.SharedBlksRead, a.SharedBlksRead) })
	readers = readers[:min(len(readers), cacheTopReaders)]
	top := make([]map[string]any, len(readers))
	names := make([]string, len(readers))
	for i, s := range readers {
		share := float64(s.SharedBlksRead) / float64(read)
		top[i] = map[string]any{"queryid": s.QueryID, "shared_blks_read": s.SharedBlksRead, "share_of_reads": share}
		names[i] = fmt.Sprintf("queryid %s (%.0f%%)", s.QueryID, 100*share)
	}
	var dbBytes int64
	for _, t := range cat.Tables {
		dbBytes += t.SizeBytes
	}
	buffers := cat.Settings.SharedBuffersBytes
	severity := explain.Info
	if ratio < cacheWarnHitRatio {
		severity = explain.Warning
	}
	return explain.Finding{
		Kind:     explain.KindLowCacheHit,
		Severity: severity,
		Detail: fmt.Sprintf("The window's statements found %.1f%% of the blocks they needed in shared_buffers (%s); "+
			"%s blocks (%s) came from the OS cache or the disk; those that read the most: %s. "+
			"The tables of %s and their indexes take %s.",
			100*ratio, humanize.Bytes(buffers), humanize.Count(float64(read)), humanize.Bytes(read*blockSize),
			strings.Join(names, ", "), cat.Database, humanize.Bytes(dbBytes)),
		Evidence: map[string]any{
			"hit_ratio": ratio, "shared_blks_hit": hit, "shared_blks_read": read,
			"shared_buffers_bytes": buffers, "database_bytes": dbBytes, "top_readers": top,
		},
		Fix: "If the server has memory to spare, raise shared_buffers (about 25% of RAM is the usual start; it takes a restart). " +
			"Either way, cut what the statements named read: see the findings and recommended indexes for them. " +
			"New indexes can shift the cache too: a bitmap or index scan keeps the pages it reads in shared_buffers, " +
			"where the sequential scan it replaces read a large table through a small ring.",
	}, true
}

// blockSize is PostgreSQL's default page size, which pg_stat_statements'
// block counts are in.
const blockSize = 8192
