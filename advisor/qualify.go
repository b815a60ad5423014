package advisor

import (
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

// qualifyScans gives each scan of plan the schema EXPLAIN prints only with
// VERBOSE, so that findings name the table their fixes must go on: of the
// tables the statement reads (tables, qualified), or their partitions, the
// one of that name; else the catalog's only table of that name. A name
// that stays ambiguous stays unqualified.
func qualifyScans(plan *explain.Plan, cat *collector.Catalog, tables []string) {
	read := make([]*collector.Table, 0, len(tables))
	for _, name := range tables {
		if t := findTable(cat, name); t != nil {
			read = append(read, t)
			read = append(read, leafPartitions(t, func(n string) *collector.Table { return findTable(cat, n) })...)
		}
	}
	all := catalogTables(cat)
	plan.Walk(func(_ string, n *explain.Node) bool {
		if n.RelationName == "" || n.Schema != "" {
			return true
		}
		if t := onlyNamed(read, n.RelationName); t != nil {
			n.Schema = t.Schema
		} else if t := onlyNamed(all, n.RelationName); t != nil {
			n.Schema = t.Schema
		}
		return true
	})
}

// onlyNamed is the one table of ts named name, nil when none or several.
func onlyNamed(ts []*collector.Table, name string) *collector.Table {
	var found *collector.Table
	for _, t := range ts {
		if t.Name != name || t == found {
			continue
		}
		if found != nil {
			return nil
		}
		found = t
	}
	return found
}

func catalogTables(cat *collector.Catalog) []*collector.Table {
	ts := make([]*collector.Table, len(cat.Tables))
	for i := range cat.Tables {
		ts[i] = &cat.Tables[i]
	}
	return ts
}
