package advisor

import (
	"slices"

	"github.com/pgadvisor/pgadvisor/collector"
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
