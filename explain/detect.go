package explain

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Kinds of plan findings.
const (
	KindSeqScan            = "seq_scan"
	KindSortSpill          = "sort_spill"
	KindHashSpill          = "hash_spill"
	KindHashAggSpill       = "hashagg_spill"
	KindMisestimate        = "misestimate"
	KindInefficientIndex   = "inefficient_index"
	KindLossyBitmap        = "lossy_bitmap"
	KindHeapFetches        = "heap_fetches"
	KindLargeOffset        = "large_offset"
	KindWorkersNotLaunched = "workers_not_launched"
	KindFKTriggerTime      = "fk_trigger_time"
	KindLowCacheHit        = "low_cache_hit" // of the workload, not of a plan
	KindAtypicalRun        = "atypical_run"  // of a plan against its statement's calls
)

// Thresholds tune the detectors. A zero field takes its DefaultThresholds value.
type Thresholds struct {
	SeqScanMinRows               float64 // rows a Seq Scan reads (returned + filtered out) before it counts
	SeqScanRemovedRatio          float64 // share of those rows its Filter discards
	MisestimateFactor            float64 // actual vs planned rows off by at least this factor
	LargeOffsetRows              float64 // rows a Limit skips (OFFSET) before it counts
	InefficientIndexRemovedRatio float64 // share of index-fetched rows discarded by Filter or recheck
	InefficientIndexMinRows      float64 // rows discarded before an index scan counts
	HeapFetchesRatio             float64 // share of an Index Only Scan's rows fetched from the heap
	HeapFetchesMinRows           float64 // heap fetches before an Index Only Scan counts
	FKTriggerShare               float64 // share of execution time spent in foreign-key triggers
	WarningShare                 float64 // share of execution time that makes a finding a warning
	CriticalShare                float64 // share of execution time that makes a finding critical
}

// DefaultThresholds are the thresholds Detect uses for zero fields.
func DefaultThresholds() Thresholds {
	return Thresholds{
		SeqScanMinRows:               10000,
		SeqScanRemovedRatio:          0.9,
		MisestimateFactor:            10,
		LargeOffsetRows:              1000,
		InefficientIndexRemovedRatio: 0.9,
		InefficientIndexMinRows:      1000,
		HeapFetchesRatio:             0.3,
		HeapFetchesMinRows:           1000,
		FKTriggerShare:               0.1,
		WarningShare:                 0.1,
		CriticalShare:                0.5,
	}
}

func (t Thresholds) withDefaults() Thresholds {
	d := DefaultThresholds()
	for _, f := range []struct {
		v   *float64
		def float64
	}{
		{&t.SeqScanMinRows, d.SeqScanMinRows},
		{&t.SeqScanRemovedRatio, d.SeqScanRemovedRatio},
		{&t.MisestimateFactor, d.MisestimateFactor},
		{&t.LargeOffsetRows, d.LargeOffsetRows},
		{&t.InefficientIndexRemovedRatio, d.InefficientIndexRemovedRatio},
		{&t.InefficientIndexMinRows, d.InefficientIndexMinRows},
		{&t.HeapFetchesRatio, d.HeapFetchesRatio},
		{&t.HeapFetchesMinRows, d.HeapFetchesMinRows},
		{&t.FKTriggerShare, d.FKTriggerShare},
		{&t.WarningShare, d.WarningShare},
		{&t.CriticalShare, d.CriticalShare},
	} {
		if *f.v <= 0 || math.IsNaN(*f.v) {
			*f.v = f.def
		}
	}
	return t
}

// DetectOptions configure Detect.
type DetectOptions struct {
	Thresholds   Thresholds
	WorkMemBytes int64  // work_mem the plan ran with; 0: take it from the plan's Settings, if there
	QueryID      string // copied into every finding
}

// Detect reports the problems an analyzed plan shows, most severe first,
// then by share of execution time. Plans without ANALYZE yield none: every
// detector needs actual rows.
func Detect(p *Plan, opts DetectOptions) []Finding {
	if p == nil || p.Root == nil || !p.Analyzed() {
		return nil
	}
	d := newDetector(p, opts)
	p.Walk(func(_ string, n *Node) bool {
		if n.Executed() {
			d.seqScan(n)
			d.sortSpill(n)
			d.hashSpill(n)
			d.hashAggSpill(n)
			d.inefficientIndex(n)
			d.lossyBitmap(n)
			d.heapFetches(n)
			d.largeOffset(n)
			d.workersNotLaunched(n)
		}
		return true
	})
	d.misestimates()
	d.fkTriggers()

	slices.SortStableFunc(d.found, func(a, b scoredFinding) int {
		return cmp.Or(
			cmp.Compare(b.Severity.Rank(), a.Severity.Rank()),
			cmp.Compare(b.impact, a.impact),
			cmp.Compare(a.order, b.order),
			cmp.Compare(a.Kind, b.Kind),
		)
	})
	out := make([]Finding, len(d.found))
	for i, s := range d.found {
		s.QueryID = opts.QueryID
		out[i] = s.Finding
	}
	return out
}

type scoredFinding struct {
	Finding
	impact float64 // share of execution time at stake
	order  int     // pre-order position of the node; triggers come last
}

type detector struct {
	plan      *Plan
	th        Thresholds
	workMem   int64   // bytes; 0 when unknown
	total     float64 // ms
	truncated map[*Node]int8
	cteScans  map[string][]*Node
	found     []scoredFinding
}

func newDetector(p *Plan, opts DetectOptions) *detector {
	d := &detector{
		plan:      p,
		th:        opts.Thresholds.withDefaults(),
		workMem:   opts.WorkMemBytes,
		total:     p.TotalTime(),
		truncated: map[*Node]int8{},
		cteScans:  map[string][]*Node{},
	}
	if d.workMem <= 0 {
		d.workMem, _ = parseMemSetting(p.Settings["work_mem"])
	}
	p.Walk(func(_ string, n *Node) bool {
		if n.NodeType == "CTE Scan" {
			d.cteScans[n.CTEName] = append(d.cteScans[n.CTEName], n)
		}
		return true
	})
	return d
}

func (d *detector) add(n *Node, f Finding, impact float64) {
	order := math.MaxInt
	if n != nil {
		order = n.order
		f.Node = n.Label()
	}
	if f.Severity == "" {
		f.Severity = d.severity(impact)
	}
	f.Evidence = roundEvidence(f.Evidence)
	d.found = append(d.found, scoredFinding{Finding: f, impact: impact, order: order})
}

// share is ms as a fraction of the statement's execution time.
func (d *detector) share(ms float64) float64 {
	if d.total <= 0 {
		return 0
	}
	return min(max(ms/d.total, 0), 1)
}

func (d *detector) severity(share float64) Severity {
	switch {
	case share >= d.th.CriticalShare:
		return Critical
	case share >= d.th.WarningShare:
		return Warning
	default:
		return Info
	}
}

// Rank orders severities: info 0, warning 1, critical 2.
func (s Severity) Rank() int {
	switch s {
	case Critical:
		return 2
	case Warning:
		return 1
	default:
		return 0
	}
}

// seqScan: a large Seq Scan whose filter throws most rows away.
func (d *detector) seqScan(n *Node) {
	if n.NodeType != "Seq Scan" || n.Filter == "" {
		return
	}
	removed := n.TotalRowsRemovedByFilter()
	returned := n.TotalActualRows()
	read := removed + returned
	if read < d.th.SeqScanMinRows || removed < d.th.SeqScanRemovedRatio*read {
		return
	}
	share := d.share(n.InclusiveTime())
	cols := exprColumns(n.Filter, n)
	d.add(n, Finding{
		Kind:  KindSeqScan,
		Table: n.Table(),
		Detail: fmt.Sprintf("%s read %s rows and its filter discarded %s of them (%s) to return %s, taking %s (%s of the statement).",
			n.Name(), humanize.Count(read), humanize.Count(removed), fmtPct(removed/read), humanize.Count(returned),
			humanize.Millis(n.InclusiveTime()), fmtPct(share)),
		Evidence: map[string]any{
			"rows_read": read, "rows_removed": removed, "rows_returned": returned,
			"removed_ratio": removed / read, "loops": n.ActualLoops, "filter": n.Filter,
			"time_ms": n.InclusiveTime(), "time_share": share, "columns": colNames(cols),
		},
		Fix: indexFix(n, cols),
	}, share)
}

// sortSpill: a Sort that ran out of work_mem and sorted on disk.
func (d *detector) sortSpill(n *Node) {
	if n.NodeType != "Sort" {
		return
	}
	var maxKB, totalKB int64 // disk used by the leader and the workers
	countDisk := func(method, space string, kb int64) {
		if space == "Disk" || strings.HasPrefix(method, "external") {
			maxKB = max(maxKB, kb)
			totalKB += kb
		}
	}
	countDisk(n.SortMethod, n.SortSpaceType, n.SortSpaceUsed)
	for _, w := range n.Workers {
		countDisk(w.SortMethod, w.SortSpaceType, w.SortSpaceUsed)
	}
	tempKB := ownTempWritten(n) * blockKB
	if totalKB == 0 && tempKB == 0 {
		return
	}
	method := n.SortMethod
	if method == "" && len(n.Workers) > 0 {
		method = n.Workers[0].SortMethod
	}
	share := d.share(n.ExclusiveTime())
	// work_mem bounds each process's sort. Without per-process sizes
	// (parallel sorts without VERBOSE), the temp files are the measure.
	perProcess := cmp.Or(maxKB, tempKB)
	suggest := d.suggestWorkMem(2 * float64(perProcess))
	fix := fmt.Sprintf("Raise work_mem for this query to about %s (an in-memory sort needs roughly 2-3x the %s its largest sort process wrote to disk): SET LOCAL work_mem = '%s'.",
		suggest, fmtKB(float64(perProcess)), suggest)
	if len(n.Workers) > 0 || underGather(n) {
		fix += " More work_mem can also turn the parallel sort into a serial one, which may be slower: time the statement with both settings."
	}
	table := ""
	if scan := singleScanChild(n); scan != nil {
		table = scan.Table()
		if cols, ok := sortKeyColumns(n.SortKey, scan); ok {
			// Columns the scan filters by equality go first: the index
			// then serves the filter and returns each match in order.
			var keys []string
			for _, c := range exprColumns(scan.Filter, scan) {
				if c.class == colEquality {
					keys = appendNew(keys, collector.QuoteIdent(c.name))
				}
			}
			for _, c := range cols {
				keys = appendNew(keys, c)
			}
			fix += fmt.Sprintf(" Or let an index return the rows in order: CREATE INDEX CONCURRENTLY ON %s (%s);", cmp.Or(scan.Table(), "the table"), strings.Join(keys, ", "))
		}
	}
	ev := map[string]any{
		"sort_method": method, "disk_kb": totalKB, "max_disk_kb_per_process": maxKB,
		"rows": n.TotalActualRows(), "sort_key": strings.Join(n.SortKey, ", "),
		"temp_written_kb": tempKB, "time_ms": n.ExclusiveTime(), "time_share": share,
		"suggested_work_mem": suggest,
	}
	d.addWorkMem(ev)
	d.add(n, Finding{
		Kind:  KindSortSpill,
		Table: table,
		Detail: fmt.Sprintf("Sort of %s rows spilled %s to disk (%s)%s.",
			humanize.Count(n.TotalActualRows()), fmtKB(float64(max(totalKB, tempKB))), method, d.workMemClause()),
		Evidence: ev,
		Fix:      fix,
	}, share)
}

// hashSpill: a Hash that needed more than one batch.
func (d *detector) hashSpill(n *Node) {
	if n.NodeType != "Hash" || n.HashBatches <= 1 {
		return
	}
	join := n.parent
	time := n.ExclusiveTime()
	temp := ownTempWritten(n)
	if join != nil {
		time += join.ExclusiveTime()
		temp += ownTempWritten(join)
	}
	share := d.share(time)
	needKB := float64(n.PeakMemoryUsage) * float64(n.HashBatches)
	suggest := d.suggestWorkMem(needKB)
	detail := fmt.Sprintf("Hash of %s rows was split into %d batches on disk", humanize.Count(n.TotalActualRows()), n.HashBatches)
	if n.OriginalHashBatches > 0 && n.HashBatches > n.OriginalHashBatches {
		detail += fmt.Sprintf(" (planned %d: the planner expected %s rows)", n.OriginalHashBatches, humanize.Count(n.PlanRows))
	}
	detail += fmt.Sprintf(", peak memory %s per batch%s.", fmtKB(float64(n.PeakMemoryUsage)), d.workMemClause())
	table := ""
	if len(n.Plans) == 1 {
		table = n.Plans[0].Table()
	}
	ev := map[string]any{
		"hash_batches": n.HashBatches, "original_hash_batches": n.OriginalHashBatches,
		"peak_memory_kb": n.PeakMemoryUsage, "rows": n.TotalActualRows(), "plan_rows": n.PlanRows,
		"temp_written_kb": temp * blockKB, "time_ms": time, "time_share": share, "suggested_work_mem": suggest,
	}
	fix := fmt.Sprintf("Let the hash table fit in memory: it needs about %s, and hash tables get work_mem × hash_mem_multiplier, so SET LOCAL work_mem = '%s' (or less with a larger hash_mem_multiplier) for this query.",
		suggest, suggest)
	if n.OriginalHashBatches > 0 && n.HashBatches > n.OriginalHashBatches {
		fix += " The extra batches also show the inner side was underestimated: ANALYZE its tables."
	}
	d.addWorkMem(ev)
	d.add(n, Finding{Kind: KindHashSpill, Table: table, Detail: detail, Evidence: ev, Fix: fix}, share)
}

// hashAggSpill: a HashAggregate that wrote partitions to disk (13+).
func (d *detector) hashAggSpill(n *Node) {
	if n.NodeType != "Aggregate" {
		return
	}
	batches, diskKB, peakKB := n.HashAggBatches, n.DiskUsage, n.PeakMemoryUsage
	for _, w := range n.Workers {
		batches = max(batches, w.HashAggBatches)
		diskKB += w.DiskUsage
		peakKB = max(peakKB, w.PeakMemoryUsage)
	}
	if batches <= 1 && diskKB <= 0 {
		return
	}
	share := d.share(n.ExclusiveTime())
	suggest := d.suggestWorkMem(float64(peakKB) + 2*float64(diskKB))
	ev := map[string]any{
		"hashagg_batches": batches, "disk_usage_kb": diskKB, "peak_memory_kb": peakKB,
		"planned_partitions": n.PlannedPartitions, "rows": n.TotalActualRows(), "plan_rows": n.PlanRows,
		"time_ms": n.ExclusiveTime(), "time_share": share, "suggested_work_mem": suggest,
	}
	d.addWorkMem(ev)
	d.add(n, Finding{
		Kind: KindHashAggSpill,
		Detail: fmt.Sprintf("%s spilled to disk: %d batches, %s written, peak memory %s%s.",
			n.Name(), batches, fmtKB(float64(diskKB)), fmtKB(float64(peakKB)), d.workMemClause()),
		Evidence: ev,
		Fix: fmt.Sprintf("Give the aggregate about %s of hash memory: SET LOCAL work_mem = '%s' for this query (hash aggregates get work_mem × hash_mem_multiplier); if the group count (%s) is far from the estimate (%s), ANALYZE the grouped tables.",
			suggest, suggest, humanize.Count(n.TotalActualRows()), humanize.Count(n.PlanRows)),
	}, share)
}

// inefficientIndex: an index scan whose filter or recheck discards most of
// the rows the index condition fetched.
func (d *detector) inefficientIndex(n *Node) {
	switch n.NodeType {
	case "Index Scan", "Index Only Scan", "Bitmap Heap Scan":
	default:
		return
	}
	byFilter := n.TotalRowsRemovedByFilter()
	byRecheck := n.TotalRowsRemovedByIndexRecheck()
	if n.LossyHeapBlocks > 0 {
		byRecheck = 0 // a lossy bitmap's recheck is lossy_bitmap's finding
	}
	removed := byFilter + byRecheck
	fetched := removed + n.TotalActualRows()
	if removed < d.th.InefficientIndexMinRows || removed < d.th.InefficientIndexRemovedRatio*fetched {
		return
	}
	share := d.share(n.InclusiveTime())
	cond := cmp.Or(n.IndexCond, n.RecheckCond)
	var fix string
	if byFilter >= byRecheck {
		cols := append(exprColumns(cond, n), exprColumns(n.Filter, n)...)
		fix = "The index finds rows by " + cmp.Or(cond, "its condition") + " but the filter " + n.Filter +
			" discards most of them: " + indexFix(n, cols)
	} else {
		fix = "The index condition " + cond + " is lossy for this operator, so most fetched rows fail the recheck: use a more selective condition or an index type that answers it exactly."
	}
	d.add(n, Finding{
		Kind:  KindInefficientIndex,
		Table: n.Table(),
		Detail: fmt.Sprintf("%s fetched %s rows and discarded %s of them (%s) after the index lookup, taking %s (%s of the statement).",
			n.Name(), humanize.Count(fetched), humanize.Count(removed), fmtPct(removed/fetched), humanize.Millis(n.InclusiveTime()), fmtPct(share)),
		Evidence: map[string]any{
			"rows_fetched": fetched, "removed_by_filter": byFilter, "removed_by_recheck": byRecheck,
			"removed_ratio": removed / fetched, "rows_returned": n.TotalActualRows(), "loops": n.ActualLoops,
			"index_cond": cond, "filter": n.Filter, "time_ms": n.InclusiveTime(), "time_share": share,
		},
		Fix: fix,
	}, share)
}

// bitmapEntryBytes is what a TID bitmap spends per heap page to stay exact
// (a PagetableEntry plus hash overhead on 64-bit builds).
const bitmapEntryBytes = 64

// lossyBitmap: a bitmap that outgrew work_mem and degraded to whole pages.
func (d *detector) lossyBitmap(n *Node) {
	exact, lossy := n.ExactHeapBlocks, n.LossyHeapBlocks
	for _, w := range n.Workers {
		exact += w.ExactHeapBlocks
		lossy += w.LossyHeapBlocks
	}
	if n.NodeType != "Bitmap Heap Scan" || lossy <= 0 {
		return
	}
	share := d.share(n.InclusiveTime())
	// Twice the exact size: the page table is a hash table that grows by doubling.
	suggest := d.suggestWorkMem(2 * float64(exact+lossy) * bitmapEntryBytes / 1024)
	rechecked := n.TotalRowsRemovedByIndexRecheck()
	ev := map[string]any{
		"exact_heap_blocks": exact, "lossy_heap_blocks": lossy, "rows_removed_by_recheck": rechecked,
		"rows_returned": n.TotalActualRows(), "time_ms": n.InclusiveTime(), "time_share": share,
		"suggested_work_mem": suggest,
	}
	d.addWorkMem(ev)
	d.add(n, Finding{
		Kind:  KindLossyBitmap,
		Table: n.Table(),
		Detail: fmt.Sprintf("%s kept only page-level (lossy) bits for %s of %s heap blocks, so every row on them was rechecked and %s rows were discarded%s.",
			n.Name(), humanize.Count(float64(lossy)), humanize.Count(float64(exact+lossy)), humanize.Count(rechecked), d.workMemClause()),
		Evidence: ev,
		Fix: fmt.Sprintf("Raise work_mem so the bitmap stays exact (about %d bytes per heap block): SET LOCAL work_mem = '%s' for this query.",
			bitmapEntryBytes, suggest),
	}, share)
}

// heapFetches: an Index Only Scan that visits the heap for many rows
// because the visibility map is stale.
func (d *detector) heapFetches(n *Node) {
	if n.NodeType != "Index Only Scan" {
		return
	}
	rows := n.TotalActualRows() + n.TotalRowsRemovedByFilter()
	if n.HeapFetches < d.th.HeapFetchesMinRows || n.HeapFetches < d.th.HeapFetchesRatio*rows {
		return
	}
	ratio := n.HeapFetches / max(rows, 1)
	share := d.share(n.InclusiveTime()) * min(ratio, 1)
	table := cmp.Or(n.Table(), "the table")
	d.add(n, Finding{
		Kind:  KindHeapFetches,
		Table: n.Table(),
		Detail: fmt.Sprintf("%s fetched %s of its %s rows from the heap (%s): the visibility map is out of date.",
			n.Name(), humanize.Count(n.HeapFetches), humanize.Count(rows), fmtPct(ratio)),
		Evidence: map[string]any{
			"heap_fetches": n.HeapFetches, "rows": rows, "heap_fetch_ratio": ratio,
			"time_ms": n.InclusiveTime(), "time_share": d.share(n.InclusiveTime()),
		},
		Fix: fmt.Sprintf("VACUUM (ANALYZE) %s; then let autovacuum visit it sooner, e.g. ALTER TABLE %s SET (autovacuum_vacuum_scale_factor = 0.02, autovacuum_vacuum_insert_scale_factor = 0.02);",
			table, table),
	}, share)
}

// largeOffset: a Limit that read and discarded many rows (OFFSET).
func (d *detector) largeOffset(n *Node) {
	in := d.rowInputs(n) // its init plans come first, and feed values, not rows
	if n.NodeType != "Limit" || len(in) == 0 {
		return
	}
	child := in[0]
	returned, produced := n.TotalActualRows(), child.TotalActualRows()
	skipped := produced - returned
	if skipped < d.th.LargeOffsetRows {
		return
	}
	share := d.share(n.InclusiveTime()) * skipped / produced
	fix := "Paginate by key instead of OFFSET: remember the last row's sort key and ask for the rows after it (WHERE key > last_value ORDER BY key LIMIT n), with an index on that key."
	if keys := orderKeys(child); len(keys) > 0 {
		fix = fmt.Sprintf("Paginate by key instead of OFFSET: remember the last row's %s and ask for WHERE (%s) > (last values) ORDER BY %s LIMIT %s, with an index on those columns.",
			strings.Join(keys, ", "), strings.Join(keys, ", "), strings.Join(keys, ", "), humanize.Count(returned))
	}
	d.add(n, Finding{
		Kind: KindLargeOffset,
		Detail: fmt.Sprintf("Limit returned %s rows after reading %s: %s rows were produced only to be skipped by OFFSET.",
			humanize.Count(returned), humanize.Count(produced), humanize.Count(skipped)),
		Evidence: map[string]any{
			"rows_returned": returned, "rows_read": produced, "rows_skipped": skipped,
			"time_ms": n.InclusiveTime(), "time_share": d.share(n.InclusiveTime()),
		},
		Fix: fix,
	}, share)
}

// workersNotLaunched: a Gather that got fewer workers than planned.
func (d *detector) workersNotLaunched(n *Node) {
	if !n.isGather() || n.WorkersLaunched >= n.WorkersPlanned {
		return
	}
	planned, launched := float64(n.WorkersPlanned)+1, float64(n.WorkersLaunched)+1
	// Time lost assuming the work scales with the processes (leader included).
	share := d.share(n.InclusiveTime()) * (1 - launched/planned)
	d.add(n, Finding{
		Kind: KindWorkersNotLaunched,
		Detail: fmt.Sprintf("%s planned %d parallel workers but launched %d, so %s of the planned %s processes did the work in %s.",
			n.Name(), n.WorkersPlanned, n.WorkersLaunched, humanize.Count(launched), humanize.Count(planned), humanize.Millis(n.InclusiveTime())),
		Evidence: map[string]any{
			"workers_planned": n.WorkersPlanned, "workers_launched": n.WorkersLaunched,
			"time_ms": n.InclusiveTime(), "time_share": d.share(n.InclusiveTime()),
		},
		Fix: "The parallel worker pool was exhausted when this ran: raise max_parallel_workers (and max_worker_processes, which needs a restart) or run fewer parallel queries at once.",
	}, share)
}

// fkTriggers: foreign-key triggers taking a large share of the statement.
func (d *detector) fkTriggers() {
	for _, t := range d.plan.Triggers {
		if !strings.HasPrefix(t.Name, "RI_ConstraintTrigger") {
			continue
		}
		share := d.share(t.Time)
		if share < d.th.FKTriggerShare {
			continue
		}
		constraint := cmp.Or(t.Constraint, t.Name)
		rel := collector.QuoteIdent(t.Relation)
		fix := fmt.Sprintf("Index the referencing columns of foreign key %s (on the table that references %s): each row changed in %s looks them up.",
			constraint, rel, rel)
		if strings.HasPrefix(t.Name, "RI_ConstraintTrigger_c_") {
			fix = fmt.Sprintf("This trigger checks that each row written to %s has its referenced row (foreign key %s); it costs one index lookup per row: write in fewer, larger statements or check that the referenced key's index is healthy.",
				rel, constraint)
		}
		d.add(nil, Finding{
			Kind:  KindFKTriggerTime,
			Table: rel,
			Detail: fmt.Sprintf("Foreign-key trigger for %s on %s took %s over %s calls, %s of the statement.",
				constraint, rel, humanize.Millis(t.Time), humanize.Count(t.Calls), fmtPct(share)),
			Evidence: map[string]any{
				"trigger": t.Name, "constraint": t.Constraint, "relation": t.Relation,
				"time_ms": t.Time, "calls": t.Calls, "time_share": share,
			},
			Fix: fix,
		}, share)
	}
}

// blockKB is the size of a block in kB (BLCKSZ 8192, PostgreSQL's default).
const blockKB = 8

// ownTempWritten is the temp blocks a node wrote itself: buffer counts
// include the children's.
func ownTempWritten(n *Node) int64 {
	t := n.TempWrittenBlocks
	for _, c := range n.Plans {
		if !c.isCTEPlan() {
			t -= c.TempWrittenBlocks
		}
	}
	return max(t, 0)
}

// suggestWorkMem rounds needKB up to a power-of-two number of MB that is
// above the current work_mem, e.g. "64MB".
func (d *detector) suggestWorkMem(needKB float64) string {
	const maxMB = 1 << 20
	mb := int64(1)
	for mb < maxMB && (float64(mb)*1024 < needKB || (d.workMem > 0 && mb<<20 <= d.workMem)) {
		mb *= 2
	}
	if mb >= 1024 && mb%1024 == 0 {
		return strconv.FormatInt(mb/1024, 10) + "GB"
	}
	return strconv.FormatInt(mb, 10) + "MB"
}

func (d *detector) workMemClause() string {
	if d.workMem <= 0 {
		return ""
	}
	return "; work_mem is " + fmtKB(float64(d.workMem)/1024)
}

func (d *detector) addWorkMem(ev map[string]any) {
	if d.workMem > 0 {
		ev["work_mem_bytes"] = d.workMem
	}
}

// parseMemSetting reads a memory GUC as SHOW prints it ("64kB", "4MB"; a
// bare number is kB) into bytes.
func parseMemSetting(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return r < '0' || r > '9' })
	if i < 0 {
		i = len(s)
	}
	n, err := strconv.ParseInt(s[:i], 10, 64)
	if err != nil || n < 0 {
		return 0, false
	}
	unit := map[string]int64{"": 1 << 10, "B": 1, "kB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}
	mul, ok := unit[strings.TrimSpace(s[i:])]
	if !ok || n > math.MaxInt64/mul {
		return 0, false
	}
	return n * mul, true
}

// singleScanChild is the relation scan under n when n reads one scan,
// directly or through a Gather.
func singleScanChild(n *Node) *Node {
	for len(n.Plans) == 1 {
		n = n.Plans[0]
		if n.RelationName != "" {
			return n
		}
		if !n.isGather() {
			break
		}
	}
	return nil
}

// orderKeys are the plain column names a node orders by (a Sort's keys).
func orderKeys(n *Node) []string {
	if n.NodeType != "Sort" && n.NodeType != "Incremental Sort" {
		return nil
	}
	scan := singleScanChild(n)
	if scan == nil {
		return nil
	}
	cols, ok := sortKeyColumns(n.SortKey, scan)
	if !ok {
		return nil
	}
	for i, c := range cols {
		cols[i], _ = strings.CutSuffix(c, " DESC")
	}
	return cols
}

// sortKeyColumns maps Sort Key items to "col" or "col DESC" when every item
// is a plain column of scan's relation.
func sortKeyColumns(keys []string, scan *Node) ([]string, bool) {
	if len(keys) == 0 {
		return nil, false
	}
	var cols []string
	for _, k := range keys {
		k = strings.TrimSpace(k)
		k = strings.TrimSuffix(strings.TrimSuffix(k, " NULLS FIRST"), " NULLS LAST")
		k, desc := strings.CutSuffix(k, " DESC")
		k = strings.TrimSuffix(k, " ASC")
		toks := tokenize(k)
		var col string
		switch {
		case len(toks) == 1 && toks[0].kind == tokIdent:
			col = toks[0].text
		case len(toks) == 3 && toks[0].kind == tokIdent && toks[1].text == "." && toks[2].kind == tokIdent && ownsQualifier(scan, toks[0].text):
			col = toks[2].text
		default:
			return nil, false
		}
		col = collector.QuoteIdent(col)
		if desc {
			col += " DESC"
		}
		cols = append(cols, col)
	}
	return cols, true
}

// indexFix proposes an index on the columns a scan filters by: equality
// columns first, then ranges; a trigram index for pattern matches.
func indexFix(n *Node, cols []exprCol) string {
	table := cmp.Or(n.Table(), "the table")
	var eq, rng, pat []string
	for _, c := range cols {
		name := collector.QuoteIdent(c.name)
		switch c.class {
		case colEquality:
			eq = appendNew(eq, name)
		case colRange:
			rng = appendNew(rng, name)
		case colPattern:
			pat = appendNew(pat, name)
		}
	}
	keys := append(eq, rng...)
	switch {
	case len(keys) > 0 && hasKeyword(n.Filter, "OR"):
		stmts := make([]string, len(keys))
		for i, k := range keys {
			stmts[i] = fmt.Sprintf("CREATE INDEX CONCURRENTLY ON %s (%s);", table, k)
		}
		return "The filter ORs its conditions: index each column so a BitmapOr can combine them: " + strings.Join(stmts, " ")
	case len(keys) > 0:
		return fmt.Sprintf("Index the filtered columns: CREATE INDEX CONCURRENTLY ON %s (%s);", table, strings.Join(keys, ", "))
	case len(pat) > 0:
		return fmt.Sprintf("The filter matches patterns: CREATE EXTENSION IF NOT EXISTS pg_trgm; CREATE INDEX CONCURRENTLY ON %s USING gin (%s gin_trgm_ops); "+
			"(a B-tree with text_pattern_ops serves only a case-sensitive LIKE 'prefix%%')",
			table, strings.Join(pat, " gin_trgm_ops, "))
	default:
		if exprs := comparedExpressions(n.Filter); len(exprs) > 0 && n.Table() != "" {
			return fmt.Sprintf("Index the expression the filter compares: CREATE INDEX CONCURRENTLY ON %s ((%s)); then ANALYZE %s, "+
				"for the planner to have statistics on it (without them it guesses that 0.5%% of the rows match).",
				table, strings.Join(exprs, "), ("), table)
		}
		return fmt.Sprintf("Index what the filter %s tests on %s (an expression index when it tests an expression).", n.Filter, table)
	}
}

// comparedExpressions are the calls of immutableFunctions on one scan's
// columns that filter compares with a value (lower((email)::text) =
// 'x'::text), as SQL with the columns unqualified, for an expression index.
func comparedExpressions(filter string) []string {
	tree, err := pg_query.Parse("SELECT " + filter)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	var exprs []string
	sqltree.Walk(tree.Stmts[0].Stmt, func(m proto.Message) bool {
		e, ok := m.(*pg_query.A_Expr)
		if !ok || e.Kind != pg_query.A_Expr_Kind_AEXPR_OP {
			return true
		}
		for _, pair := range [][2]*pg_query.Node{{e.Lexpr, e.Rexpr}, {e.Rexpr, e.Lexpr}} {
			call, value := sqltree.Uncast(pair[0]), pair[1]
			if f := call.GetFuncCall(); f != nil && immutableFunctions[funcRef(f.Funcname).name] && hasColumn(call) && !hasColumn(value) {
				sqltree.Unqualify(call)
				if sql := sqltree.Deparse(call); sql != "" && !slices.Contains(exprs, sql) {
					exprs = append(exprs, sql)
				}
			}
		}
		return true
	})
	return exprs
}

// immutableFunctions are functions whose built-in versions are immutable,
// which an index expression must be: others (date_trunc of a timestamptz
// is stable) would make the proposed CREATE INDEX fail.
var immutableFunctions = map[string]bool{
	"lower": true, "upper": true, "btrim": true, "ltrim": true, "rtrim": true, "md5": true,
	"length": true, "char_length": true, "left": true, "right": true, "substr": true, "abs": true,
}

// hasColumn reports whether n refers to a column.
func hasColumn(n *pg_query.Node) bool {
	found := false
	sqltree.WalkNodes(n, func(x *pg_query.Node) bool {
		found = found || x.GetColumnRef() != nil
		return !found
	})
	return found
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func colNames(cols []exprCol) []string {
	var out []string
	for _, c := range cols {
		out = appendNew(out, c.name)
	}
	return out
}

// roundEvidence keeps float evidence readable: 4 significant decimals.
func roundEvidence(ev map[string]any) map[string]any {
	for k, v := range ev {
		if f, ok := v.(float64); ok {
			ev[k] = roundTo(f, 4)
		}
	}
	return ev
}

func roundTo(f float64, decimals int) float64 {
	if math.Abs(f) >= 1e15 {
		return f
	}
	p := math.Pow(10, float64(decimals))
	return math.Round(f*p) / p
}

func fmtPct(r float64) string { return strconv.FormatFloat(100*r, 'f', 1, 64) + "%" }

func fmtKB(kb float64) string {
	switch {
	case kb >= 1<<20:
		return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GB"
	case kb >= 1<<10:
		return strconv.FormatFloat(kb/(1<<10), 'f', 1, 64) + " MB"
	default:
		return strconv.FormatFloat(kb, 'f', 0, 64) + " kB"
	}
}

// estimate compares a node's per-loop actual rows with its per-loop
// estimate, counting 0 rows as 1 so that nothing divides by zero.
type estimate struct {
	ratio float64 // >= 1, how far off either way
	under bool    // more rows than planned
	off   bool    // ratio >= MisestimateFactor, and not explained by an early stop
}

func (d *detector) estimate(n *Node) estimate {
	// BitmapAnd and BitmapOr always report 0 rows.
	if !n.Executed() || n.NodeType == "BitmapAnd" || n.NodeType == "BitmapOr" {
		return estimate{ratio: 1}
	}
	actual, planned := max(n.ActualRows, 1), max(n.PlanRows, 1)
	e := estimate{ratio: actual / planned, under: actual > planned}
	if !e.under {
		e.ratio = planned / actual
	}
	// A node whose consumer stopped reading returns fewer rows than it
	// would have: that is no overestimate; nor is a WindowAgg's that its
	// run condition (rn <= 10) stopped, which its estimate leaves out.
	e.off = e.ratio >= d.th.MisestimateFactor && (e.under || n.RunCondition == "" && !d.stoppedEarly(n))
	return e
}

// misestimates reports each node where a row estimate goes wrong, not the
// nodes above it that merely inherit the error, and only when the error
// reaches a node whose plan choice depends on row counts or takes time.
func (d *detector) misestimates() {
	d.plan.Walk(func(_ string, n *Node) bool {
		e := d.estimate(n)
		if !e.off || !d.isOrigin(n, e) {
			return true
		}
		chain := []*Node{n}
		seen := map[*Node]bool{n: true}
		for i := 0; i < len(chain); i++ {
			for _, c := range d.consumers(chain[i]) {
				ce := d.estimate(c)
				if !seen[c] && ce.off && ce.under == e.under && !d.isOrigin(c, ce) {
					seen[c] = true
					chain = append(chain, c)
				}
			}
		}
		// At stake: the time of the nodes carrying the error and of the
		// consumers that chose their strategy by it.
		matters, impact := false, 0.0
		for _, x := range chain {
			impact = max(impact, d.share(x.InclusiveTime()))
			for _, c := range d.consumers(x) {
				if rowSensitive(c) {
					matters = true
					impact = max(impact, d.share(c.InclusiveTime()))
				}
			}
		}
		if !matters && (impact < d.th.WarningShare || !e.under && pointLookup(n)) {
			return true
		}
		sev := d.severity(impact)
		if !e.under && sev == Critical {
			sev = Warning // too many rows expected wastes memory; too few is what derails plans
		}
		d.add(n, d.misestimateFinding(n, e, chain[1:], sev, impact), impact)
		return true
	})
}

func (d *detector) misestimateFinding(n *Node, e estimate, inherited []*Node, sev Severity, impact float64) Finding {
	dir := "overestimate"
	if e.under {
		dir = "underestimate"
	}
	perLoop := ""
	if n.ActualLoops > 1 {
		perLoop = fmt.Sprintf(" per loop over %s loops", humanize.Count(n.ActualLoops))
	}
	detail := fmt.Sprintf("%s was estimated at %s rows but returned %s%s (%sx %s)",
		n.Name(), humanize.Count(n.PlanRows), humanize.Count(n.ActualRows), perLoop, strconv.FormatFloat(e.ratio, 'f', 1, 64), dir)
	labels := make([]string, len(inherited))
	for i, x := range inherited {
		labels[i] = x.Label()
	}
	switch len(inherited) {
	case 0:
	case 1:
		detail += "; the node above inherits the error"
	default:
		detail += fmt.Sprintf("; %d nodes above inherit the error", len(inherited))
	}
	exprs := testedExpressions(n)
	ev := map[string]any{
		"plan_rows": n.PlanRows, "actual_rows": n.ActualRows, "loops": n.ActualLoops,
		"ratio": e.ratio, "direction": dir, "inherited_by": labels, "time_share": impact,
	}
	if len(exprs) > 0 {
		ev["expressions"] = expressionSQL(exprs)
	}
	return Finding{
		Kind:     KindMisestimate,
		Severity: sev,
		Table:    n.Table(),
		Detail:   detail + ".",
		Evidence: ev,
		Fix:      misestimateFix(n, exprs),
	}
}

// isOrigin reports whether n's error is its own: no row input is off in the
// same direction, or n is off by the factor again on top of its inputs.
// pointLookup reports whether n found at most a row per loop through an
// index: expecting more there changes no plan that nothing above it uses
// (equality on every column of a unique key, which the planner's row
// estimate does not take into account, reads no better any other way).
func pointLookup(n *Node) bool {
	return (n.NodeType == "Index Scan" || n.NodeType == "Index Only Scan") && n.IndexCond != "" && n.ActualRows <= 1
}

func (d *detector) isOrigin(n *Node, e estimate) bool {
	inherited := 1.0
	for _, in := range d.rowInputs(n) {
		if ie := d.estimate(in); ie.off && ie.under == e.under {
			inherited = max(inherited, ie.ratio)
		}
	}
	return e.ratio/inherited >= d.th.MisestimateFactor
}

// rowInputs are the nodes whose rows n consumes: its children apart from
// init plans and subplans, and for a CTE Scan the CTE's plan.
func (d *detector) rowInputs(n *Node) []*Node {
	var in []*Node
	for _, c := range n.Plans {
		if c.ParentRelationship != "InitPlan" && c.ParentRelationship != "SubPlan" {
			in = append(in, c)
		}
	}
	if n.NodeType == "CTE Scan" {
		if c := d.plan.cte(n.CTEName); c != nil {
			in = append(in, c)
		}
	}
	return in
}

// consumers are the nodes that read n's rows: its parent, or for a CTE's
// plan the CTE Scans on it. Init plans and subplans feed values, not rows.
func (d *detector) consumers(n *Node) []*Node {
	switch {
	case n.isCTEPlan():
		return d.cteScans[strings.TrimPrefix(n.SubplanName, "CTE ")]
	case n.ParentRelationship == "InitPlan" || n.ParentRelationship == "SubPlan" || n.parent == nil:
		return nil
	default:
		return []*Node{n.parent}
	}
}

// underGather reports whether n runs in parallel workers: below a Gather
// or Gather Merge.
func underGather(n *Node) bool {
	for p := n.parent; p != nil; p = p.parent {
		if p.NodeType == "Gather" || p.NodeType == "Gather Merge" {
			return true
		}
	}
	return false
}

// rowSensitive nodes choose their strategy or memory by the row estimate.
func rowSensitive(n *Node) bool {
	switch n.NodeType {
	case "Hash Join", "Merge Join", "Nested Loop", "Hash", "Sort", "Incremental Sort", "Aggregate",
		"SetOp", "Materialize", "Memoize", "WindowAgg", "Unique", "Gather", "Gather Merge":
		return true
	}
	return false
}

// Memo states for detector.truncated.
const (
	truncUnknown int8 = iota
	truncVisiting
	truncNo
	truncYes
)

// stoppedEarly reports whether n's consumer may have stopped reading before
// n ran out of rows (a Limit, a semi join, a hash join with an empty hash,
// a CTE read only partly), so fewer rows than estimated prove nothing.
func (d *detector) stoppedEarly(n *Node) bool {
	switch d.truncated[n] {
	case truncVisiting, truncNo: // a cycle only comes from malformed CTE references
		return false
	case truncYes:
		return true
	}
	d.truncated[n] = truncVisiting
	v := d.consumerStopsEarly(n)
	d.truncated[n] = truncNo
	if v {
		d.truncated[n] = truncYes
	}
	return v
}

func (d *detector) consumerStopsEarly(n *Node) bool {
	if n.isCTEPlan() {
		scans := d.consumers(n)
		for _, s := range scans {
			if s.Executed() && !d.stoppedEarly(s) {
				return false
			}
		}
		return len(scans) > 0
	}
	if n.ParentRelationship == "InitPlan" || n.ParentRelationship == "SubPlan" {
		return true // EXISTS, ANY and scalar subqueries read only what they need
	}
	p := n.parent
	if p == nil {
		return false
	}
	switch p.NodeType {
	case "Limit":
		return true
	case "WindowAgg":
		if p.RunCondition != "" {
			return true // stops reading once the condition fails, as a Limit does
		}
	case "Sort", "Hash", "Bitmap Heap Scan", "BitmapAnd", "BitmapOr", "ModifyTable":
		return false // they read all their input before returning anything
	case "Aggregate":
		if p.Strategy != "Sorted" {
			return false
		}
	case "SetOp":
		if p.Strategy == "Hashed" {
			return false
		}
	case "Hash Join":
		if n.ParentRelationship == "Inner" {
			return false
		}
		// With an empty hash table only outer-preserving joins read on.
		for _, c := range p.Plans {
			if c.ParentRelationship == "Inner" && c.Executed() && c.ActualRows == 0 &&
				p.JoinType != "Left" && p.JoinType != "Full" && p.JoinType != "Anti" {
				return true
			}
		}
	case "Merge Join":
		// A merge join ends when either side runs out, unless it must
		// emit the rest of that side.
		if n.ParentRelationship == "Outer" && p.JoinType != "Left" && p.JoinType != "Full" && p.JoinType != "Anti" {
			return true
		}
		if n.ParentRelationship == "Inner" && p.JoinType != "Full" && !strings.HasPrefix(p.JoinType, "Right") {
			return true
		}
	case "Nested Loop":
		if n.ParentRelationship == "Inner" && (p.InnerUnique || p.JoinType == "Semi" || p.JoinType == "Anti") {
			return true // the inner scan stops at the first match
		}
	}
	return d.stoppedEarly(p)
}

// misestimateFix names the statistics that would correct the estimate;
// exprs are the expressions n's filter tests (testedExpressions).
func misestimateFix(n *Node, exprs []testedExpression) string {
	isJoin := n.NodeType == "Hash Join" || n.NodeType == "Merge Join" || n.NodeType == "Nested Loop"
	switch {
	case n.RelationName != "":
		t := n.Table()
		if len(exprs) > 0 {
			return fmt.Sprintf("ANALYZE %s; if the estimate stays off, the planner is guessing the selectivity of %s, on which it keeps no statistics: %s ANALYZE %s; (an index on the expression gathers them too).",
				t, strings.Join(expressionSQL(exprs), ", "), expressionStatistics(n, exprs), t)
		}
		var cols []string
		for _, c := range exprColumns(n.IndexCond+" "+n.RecheckCond+" "+n.Filter, n) {
			if c.class != colOther {
				cols = appendNew(cols, collector.QuoteIdent(c.name))
			}
		}
		switch len(cols) {
		case 0:
			return fmt.Sprintf("ANALYZE %s; if the estimate stays off, raise the statistics target of the columns this scan tests.", t)
		case 1:
			return fmt.Sprintf("ANALYZE %s; if the estimate stays off, give the column a finer histogram: ALTER TABLE %s ALTER COLUMN %s SET STATISTICS 1000; ANALYZE %s;",
				t, t, cols[0], t)
		default:
			return fmt.Sprintf("ANALYZE %s; if the estimate stays off, the columns %s are probably correlated: CREATE STATISTICS %s ON %s FROM %s; ANALYZE %s;",
				t, strings.Join(cols, ", "), statisticsName(n, cols), strings.Join(cols, ", "), t, t)
		}
	case n.NodeType == "Aggregate" && n.Filter != "":
		return "The planner guesses the selectivity of the HAVING condition " + n.Filter + " and statistics cannot improve it; if the nodes above chose badly, stage the aggregate in a temporary table and ANALYZE it."
	case len(n.GroupKey) > 0:
		return "The number of groups (" + strings.Join(n.GroupKey, ", ") + ") was misestimated: ANALYZE the grouped tables; for several columns of one table, CREATE STATISTICS (ndistinct) on them lets the planner count their combinations."
	case isJoin:
		cond := cmp.Or(n.HashCond, n.MergeCond, n.JoinFilter, "its join condition")
		return "The join's result size was misestimated (join on " + cond + "): ANALYZE the joined tables; when the join columns are correlated with the filters below, extended statistics (CREATE STATISTICS) on them help."
	default:
		return "ANALYZE the tables under this node; estimates that stay off after ANALYZE usually need extended statistics (CREATE STATISTICS) on correlated columns."
	}
}

// statisticsName names extended statistics on cols of n's relation, in
// the relation's schema when known (the name is required before 16).
func statisticsName(n *Node, cols []string) string {
	name := n.RelationName
	for _, c := range cols {
		name += "_" + strings.Trim(c, `"`)
	}
	name = strings.ToValidUTF8(truncateBytes(name, 63-len("_stats")), "") + "_stats"
	if n.Schema != "" {
		return collector.QuoteIdent(n.Schema) + "." + collector.QuoteIdent(name)
	}
	return collector.QuoteIdent(name)
}

func truncateBytes(s string, n int) string {
	if len(s) > n {
		return s[:n]
	}
	return s
}

// Expression text as EXPLAIN prints it ("((o.status)::text = 'x'::text)")
// is tokenized just enough to find the columns a condition tests.

type tokKind int8

const (
	tokIdent tokKind = iota
	tokNumber
	tokString
	tokParam
	tokCast // "::type", the type name in text
	tokOp
	tokPunct
)

type token struct {
	kind   tokKind
	text   string
	quoted bool // a "quoted" identifier: never a keyword
}

// typeWords continue a multi-word type name after a cast.
var typeWords = map[string]bool{"without": true, "with": true, "time": true, "zone": true, "varying": true, "precision": true}

func tokenize(s string) []token {
	var toks []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case c == '\'':
			text, next := readQuoted(s, i, '\'')
			toks = append(toks, token{kind: tokString, text: text})
			i = next
		case c == '"':
			text, next := readQuoted(s, i, '"')
			toks = append(toks, token{kind: tokIdent, text: text, quoted: true})
			i = next
		case c == '$':
			j := i + 1
			for j < len(s) && isDigit(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokParam, text: s[i:j]})
			i = j
		case isIdentByte(c) && !isDigit(c):
			j := i
			for j < len(s) && isIdentByte(s[j]) {
				j++
			}
			toks = append(toks, token{kind: tokIdent, text: s[i:j]})
			i = j
		case isDigit(c):
			j := i
			for j < len(s) && (isDigit(s[j]) || (s[j] == '.' && j+1 < len(s) && isDigit(s[j+1]))) {
				j++
			}
			toks = append(toks, token{kind: tokNumber, text: s[i:j]})
			i = j
		case c == ':' && i+1 < len(s) && s[i+1] == ':':
			text, next := readTypeName(s, i+2)
			toks = append(toks, token{kind: tokCast, text: text})
			i = next
		case strings.IndexByte("()[],.;", c) >= 0:
			toks = append(toks, token{kind: tokPunct, text: s[i : i+1]})
			i++
		default:
			j := i
			for j < len(s) && strings.IndexByte("+-*/<>=~!@#%^&|`?:", s[j]) >= 0 {
				j++
			}
			if j == i {
				j++ // a byte that starts nothing known
			}
			toks = append(toks, token{kind: tokOp, text: s[i:j]})
			i = j
		}
	}
	return toks
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentByte(c byte) bool {
	return c == '_' || c == '$' || c >= 0x80 || isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z')
}

// readQuoted reads a q-quoted literal starting at s[i] (doubled quotes
// escape), returning its text and the index after it.
func readQuoted(s string, i int, q byte) (string, int) {
	var b strings.Builder
	j := i + 1
	for j < len(s) {
		if s[j] == q {
			if j+1 < len(s) && s[j+1] == q {
				b.WriteByte(q)
				j += 2
				continue
			}
			return b.String(), j + 1
		}
		b.WriteByte(s[j])
		j++
	}
	return b.String(), j
}

// readTypeName reads the type after "::": words of a multi-word type,
// array brackets and a type modifier.
func readTypeName(s string, i int) (string, int) {
	start := i
	word := func(j int) int {
		for j < len(s) && s[j] == ' ' {
			j++
		}
		if j < len(s) && s[j] == '"' {
			_, next := readQuoted(s, j, '"')
			return next
		}
		k := j
		for k < len(s) && isIdentByte(s[k]) {
			k++
		}
		return k
	}
	i = word(i)
	for {
		next := word(i)
		if w := strings.TrimSpace(s[i:next]); next > i && typeWords[w] {
			i = next
			continue
		}
		break
	}
	if strings.HasPrefix(s[i:], "(") {
		if end := strings.IndexByte(s[i:], ')'); end > 0 && strings.Trim(s[i+1:i+end], "0123456789, ") == "" {
			i += end + 1
		}
	}
	for strings.HasPrefix(s[i:], "[]") {
		i += 2
	}
	return strings.TrimSpace(s[start:i]), i
}

// sqlWords are words in EXPLAIN expressions that are not column names.
var sqlWords = func() map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(`and or not is null true false unknown any all some in like ilike similar
		to between symmetric distinct from case when then else end array row exists collate at time zone
		overlapping overlaps escape subplan initplan hashed returns cte current_date current_time
		current_timestamp localtime localtimestamp current_user session_user current_role`) {
		m[w] = true
	}
	return m
}()

func isWord(t token, w string) bool {
	return t.kind == tokIdent && !t.quoted && strings.EqualFold(t.text, w)
}

func hasKeyword(expr, w string) bool {
	return slices.ContainsFunc(tokenize(expr), func(t token) bool { return isWord(t, w) })
}

type colClass int8

const (
	colEquality colClass = iota // =, IN, IS NULL, a boolean column
	colRange                    // <, <=, >, >=, BETWEEN
	colPattern                  // LIKE, ILIKE, ~ and friends
	colOther                    // anything a B-tree cannot use
)

type exprCol struct {
	name  string
	class colClass
}

// exprColumns finds the columns of n's relation that expr compares, in
// order, with how each is compared. Columns inside function calls are
// skipped: only an expression index would serve them.
func exprColumns(expr string, n *Node) []exprCol {
	toks := tokenize(expr)
	var cols []exprCol
	for i, t := range toks {
		if t.kind != tokIdent || (!t.quoted && sqlWords[strings.ToLower(t.text)]) {
			continue
		}
		if i+1 < len(toks) && toks[i+1].kind == tokPunct && (toks[i+1].text == "(" || toks[i+1].text == ".") {
			continue // a function name or a qualifier
		}
		first := i // the column's first token, with its qualifier
		if i >= 1 && toks[i-1].text == "." {
			if i < 2 || toks[i-2].kind != tokIdent || !ownsQualifier(n, toks[i-2].text) {
				continue
			}
			first = i - 2
		}
		if first >= 1 && isWord(toks[first-1], "COLLATE") {
			continue
		}
		class, ok := comparison(toks, first, i)
		if ok {
			cols = append(cols, exprCol{name: t.text, class: class})
		}
	}
	return cols
}

// ownsQualifier reports whether q names n's relation in expressions.
func ownsQualifier(n *Node, q string) bool {
	return q == n.Alias || (n.Alias == "" && q == n.RelationName)
}

// comparison classifies how the column at toks[first..last] is compared,
// from the operator after it (past casts and closing parentheses) or else
// the one before it; ok is false inside a function call.
func comparison(toks []token, first, last int) (colClass, bool) {
	k := first - 1
	for k >= 0 && toks[k].text == "(" {
		if k >= 1 && toks[k-1].kind == tokIdent && !sqlWords[strings.ToLower(toks[k-1].text)] {
			return colOther, false // an argument of a function call
		}
		k--
	}
	j := last + 1
	for ; j < len(toks) && (toks[j].kind == tokCast || toks[j].text == ")"); j++ {
		if toks[j].kind == tokCast && !relabelCast(toks[j].text) {
			// ts::date: converted, the column's index and statistics
			// do not serve the comparison.
			return colOther, true
		}
	}
	if j < len(toks) {
		t := toks[j]
		switch {
		case t.kind == tokOp && opClass(t.text) == colPattern && !textOperand(toks[j+1:]):
			return colOther, true // citext ~~ citext: gin_trgm_ops serves text only
		case t.kind == tokOp:
			return opClass(t.text), true
		case t.text == ",":
			return colOther, false
		case isWord(t, "IS"), isWord(t, "IN"):
			return colEquality, true
		case isWord(t, "BETWEEN"):
			return colRange, true
		case isWord(t, "LIKE"), isWord(t, "ILIKE"), isWord(t, "SIMILAR"):
			return colPattern, true
		case isWord(t, "NOT"):
			return colOther, true
		}
	}
	if k >= 0 {
		switch t := toks[k]; {
		case t.kind == tokOp:
			return opClass(t.text), true
		case isWord(t, "NOT"):
			return colOther, true
		}
	}
	return colEquality, true // a boolean column tested on its own
}

// textOperand reports whether the operand toks begin with is not a
// constant of another type than text: EXPLAIN prints a constant with its
// type ('abc%'::citext).
func textOperand(toks []token) bool {
	return len(toks) < 2 || toks[0].kind != tokString || toks[1].kind != tokCast || relabelCast(toks[1].text)
}

// relabelCast reports whether a cast to type, as EXPLAIN prints it on a
// column, only relabels a string (varchar compared as text), so that the
// column's index serves the comparison.
func relabelCast(typ string) bool {
	switch typ {
	case "text", "character varying", "bpchar", "name":
		return true
	}
	return false
}

func opClass(op string) colClass {
	switch op {
	case "=":
		return colEquality
	case "<", "<=", ">", ">=":
		return colRange
	case "~~", "~~*", "~", "~*":
		return colPattern
	default:
		return colOther
	}
}
