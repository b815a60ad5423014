package advisor

import (
	"fmt"
	"maps"
	"slices"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

// leafPartitions are the tables that hold partitioned table t's rows: its
// partitions, and theirs when sub-partitioned (foreign ones, which the
// catalog does not load, left out). It is nil when t is not partitioned,
// or when table, the catalog's lookup by qualified name, misses one.
func leafPartitions(t *collector.Table, table func(string) *collector.Table) []*collector.Table {
	var leaves []*collector.Table
	var walk func(p *collector.Table, depth int) bool
	walk = func(p *collector.Table, depth int) bool {
		if depth > maxPartitionDepth {
			return false
		}
		for _, name := range p.Partitions {
			c := table(name)
			switch {
			case c == nil:
				return false
			case c.Kind == "p":
				if !walk(c, depth+1) {
					return false
				}
			default:
				leaves = append(leaves, c)
			}
		}
		return true
	}
	if t.Kind != "p" || !walk(t, 0) {
		return nil
	}
	return leaves
}

// onEveryLeaf reports whether t is partitioned and each of its leaf
// partitions has an index of indexes (by table) that ok accepts: indexes
// built on each partition by hand serve its queries as one on t would.
func onEveryLeaf(t *collector.Table, table func(string) *collector.Table, indexes func(table string) []*collector.Index, ok func(*collector.Index) bool) bool {
	leaves := leafPartitions(t, table)
	for _, leaf := range leaves {
		if !slices.ContainsFunc(indexes(leaf.QualifiedName()), ok) {
			return false
		}
	}
	return len(leaves) > 0
}

// within reports whether table is target or a partition under it: rows
// written to it land in target's indexes, and its scans are target's.
func within(cat *collector.Catalog, table, target string) bool {
	for depth := 0; table != "" && depth <= maxPartitionDepth; depth++ {
		if table == target {
			return true
		}
		t := findTable(cat, table)
		if t == nil {
			return false
		}
		table = t.Parent
	}
	return false
}

// rootTable is the partitioned table table (qualified) is a partition of,
// at the top of the tree the catalog holds; table itself when it is none.
func rootTable(cat *collector.Catalog, table string) string {
	for depth := 0; depth <= maxPartitionDepth; depth++ {
		t := findTable(cat, table)
		if t == nil || t.Parent == "" || findTable(cat, t.Parent) == nil {
			return table
		}
		table = t.Parent
	}
	return table
}

// foldPartitionScans replaces a statement's seq_scan findings on several
// partitions of one partitioned table with one finding on that table: its
// plan scans each partition with the same filter, and one index on the
// table is the fix for them all.
func foldPartitionScans(fs []explain.Finding, cat *collector.Catalog) []explain.Finding {
	groups := map[string][]int{} // root table -> positions of its partitions' seq_scan findings
	for i, f := range fs {
		if f.Kind == explain.KindSeqScan {
			if root := rootTable(cat, f.Table); root != f.Table {
				groups[root] = append(groups[root], i)
			}
		}
	}
	folded := map[int]bool{}
	for root, at := range groups {
		if len(at) < 2 {
			continue
		}
		merged := fs[at[0]]
		merged.Table, merged.Evidence = root, maps.Clone(merged.Evidence)
		var partitions []string
		sum := map[string]float64{}
		for _, i := range at {
			f := fs[i]
			partitions = append(partitions, f.Table)
			for _, k := range []string{"rows_read", "rows_removed", "rows_returned", "time_ms", "time_share"} {
				v, _ := f.Evidence[k].(float64)
				sum[k] += v
			}
			if f.Severity.Rank() > merged.Severity.Rank() {
				merged.Severity = f.Severity
			}
			if i != at[0] {
				folded[i] = true
			}
		}
		for k, v := range sum {
			merged.Evidence[k] = v
		}
		ratio := 0.0
		if sum["rows_read"] > 0 {
			ratio = sum["rows_removed"] / sum["rows_read"]
		}
		merged.Evidence["removed_ratio"], merged.Evidence["partitions"] = ratio, partitions
		merged.Detail = fmt.Sprintf("Seq Scans of %d partitions of %s read %s rows and their filters discarded %s of them (%.1f%%) to return %s, taking %.2f ms (%.1f%% of the statement).",
			len(at), root, humanize.Count(sum["rows_read"]), humanize.Count(sum["rows_removed"]), 100*ratio,
			humanize.Count(sum["rows_returned"]), sum["time_ms"], 100*sum["time_share"])
		fs[at[0]] = merged
	}
	out := fs[:0]
	for i, f := range fs {
		if !folded[i] {
			out = append(out, f)
		}
	}
	return out
}
