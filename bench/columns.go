package main

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
)

// tableColumns are the columns one statement references in one table:
// Filter in WHERE, JOIN ... ON, GROUP BY, HAVING and ORDER BY; Other only
// in select lists. Both keep the order of first appearance.
type tableColumns struct {
	Table  *collector.Table
	Filter []string
	Other  []string
}

// referencedColumns reads the statement's parse tree and resolves each
// column reference against the catalog: a qualified one through its alias
// or table name, an unqualified one to every table of the statement that
// has a column of that name. Views and unknown tables are skipped.
func referencedColumns(sql string, cat *collector.Catalog) ([]*tableColumns, error) {
	tree, err := pg_query.ParseToJSON(sql)
	if err != nil {
		return nil, fmt.Errorf("parse statement: %w", err)
	}
	var root any
	if err := json.Unmarshal([]byte(tree), &root); err != nil {
		return nil, fmt.Errorf("parse statement: %w", err)
	}
	w := &columnWalker{cat: cat, aliases: map[string]*tableColumns{}}
	w.walk(root, "", false)
	for _, ref := range w.refs {
		w.resolve(ref)
	}
	return w.tables, nil
}

type columnRef struct {
	qualifier, column string
	filter            bool
}

type columnWalker struct {
	cat     *collector.Catalog
	aliases map[string]*tableColumns // alias or bare table name
	tables  []*tableColumns
	refs    []columnRef
}

// filterClauses are the parse-tree fields whose column references restrict,
// join, group or order rows.
var filterClauses = map[string]bool{
	"whereClause": true, "quals": true, "groupClause": true, "havingClause": true,
	"sortClause": true, "distinctClause": true, "usingClause": true,
}

func (w *columnWalker) walk(node any, key string, filter bool) {
	switch n := node.(type) {
	case []any:
		for _, x := range n {
			w.walk(x, key, filter)
		}
	case map[string]any:
		if rv, ok := n["RangeVar"].(map[string]any); ok {
			w.rangeVar(rv)
		}
		if cr, ok := n["ColumnRef"].(map[string]any); ok {
			w.columnRef(cr, filter)
			return
		}
		for _, k := range slices.Sorted(maps.Keys(n)) {
			v := n[k]
			switch {
			case filterClauses[k]:
				w.walk(v, k, true)
			case k == "targetList":
				w.walk(v, k, false)
			default:
				w.walk(v, k, filter)
			}
		}
	}
}

func (w *columnWalker) rangeVar(rv map[string]any) {
	name, _ := rv["relname"].(string)
	schema, _ := rv["schemaname"].(string)
	t := w.table(schema, name)
	if t == nil {
		return
	}
	var tc *tableColumns
	for _, x := range w.tables {
		if x.Table == t {
			tc = x
		}
	}
	if tc == nil {
		tc = &tableColumns{Table: t}
		w.tables = append(w.tables, tc)
	}
	w.aliases[name] = tc
	if a, ok := rv["alias"].(map[string]any); ok {
		if alias, ok := a["aliasname"].(string); ok {
			w.aliases[alias] = tc
		}
	}
}

func (w *columnWalker) table(schema, name string) *collector.Table {
	if schema == "" {
		schema = "public"
	}
	for i := range w.cat.Tables {
		t := &w.cat.Tables[i]
		if t.Schema == schema && t.Name == name {
			return t
		}
	}
	return nil
}

func (w *columnWalker) columnRef(cr map[string]any, filter bool) {
	fields, _ := cr["fields"].([]any)
	var parts []string
	for _, f := range fields {
		s, ok := f.(map[string]any)["String"].(map[string]any)
		if !ok {
			return // c.* or a column of a composite
		}
		v, _ := s["sval"].(string)
		parts = append(parts, v)
	}
	switch len(parts) {
	case 1:
		w.refs = append(w.refs, columnRef{column: parts[0], filter: filter})
	case 2:
		w.refs = append(w.refs, columnRef{qualifier: parts[0], column: parts[1], filter: filter})
	}
}

func (w *columnWalker) resolve(ref columnRef) {
	var targets []*tableColumns
	if ref.qualifier != "" {
		if tc := w.aliases[ref.qualifier]; tc != nil {
			targets = append(targets, tc)
		}
	} else {
		targets = w.tables
	}
	for _, tc := range targets {
		if !hasColumn(tc.Table, ref.column) {
			continue
		}
		if ref.filter {
			if !slices.Contains(tc.Filter, ref.column) {
				tc.Filter = append(tc.Filter, ref.column)
			}
			tc.Other = slices.DeleteFunc(tc.Other, func(c string) bool { return c == ref.column })
		} else if !slices.Contains(tc.Filter, ref.column) && !slices.Contains(tc.Other, ref.column) {
			tc.Other = append(tc.Other, ref.column)
		}
	}
}

func hasColumn(t *collector.Table, name string) bool {
	return slices.ContainsFunc(t.Columns, func(c collector.Column) bool { return c.Name == name })
}
