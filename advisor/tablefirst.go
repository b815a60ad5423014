package advisor

import (
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
)

// HypoPG (1.3) hands the planner a hypothetical partial index's predicate,
// and an expression index's expressions, with their columns bound to
// range-table entry 1. The planner proves the predicate, and matches the
// expressions, only when the indexed table is that entry, the first table
// of the FROM clause, so such a candidate on any other table of a join
// would never be used. TableFirst rewrites a SELECT so that
// table is first: the same query to the planner, whose join search does not
// depend on the order tables are listed in (up to join_collapse_limit).

// TableFirst returns query with table (a qualified name, as
// collector.Table.QualifiedName gives it) as the first entry of the
// top-level FROM clause, and true; query as it was when table is already
// first. It returns false when table cannot be put first: it is not in the
// top-level FROM, is listed there twice, or sits where moving it could
// change the query (next to a LATERAL item or a function, which may refer
// to the items before it without saying LATERAL; under a join kind it does
// not know; or in a SELECT * whose ORDER BY, GROUP BY or DISTINCT ON names
// an output column by its position). WhatIf uses it; it is exported for
// callers that plan with HypoPG partial indexes of their own (the benchmark).
func TableFirst(query, table string) (string, bool) {
	tree, err := pg.Parse(query)
	if err != nil || len(tree.Stmts) != 1 {
		return query, false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.FromClause) == 0 || starWithPositions(sel) {
		return query, false
	}
	at, found := -1, 0
	for i, item := range sel.FromClause {
		n := occurrences(item, table)
		if n < 0 {
			return query, false
		}
		if n > 0 {
			at, found = i, found+n
		}
	}
	if found != 1 {
		return query, false
	}
	if at == 0 && leftmost(sel.FromClause[0], table) {
		return query, true
	}
	item := sel.FromClause[at]
	if !rotate(item, table) {
		return query, false
	}
	sel.FromClause = append([]*pg.Node{item}, append(sel.FromClause[:at:at], sel.FromClause[at+1:]...)...)
	out, err := pg.Deparse(tree)
	if err != nil {
		return query, false
	}
	return out, true
}

// occurrences counts the references to table in a FROM item, or returns
// -1 when the item is one whose position must not change.
func occurrences(n *pg.Node, table string) int {
	switch {
	case n.GetRangeVar() != nil:
		if refersTo(n.GetRangeVar(), table) {
			return 1
		}
		return 0
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		l, r := occurrences(j.Larg, table), occurrences(j.Rarg, table)
		if l < 0 || r < 0 {
			return -1
		}
		return l + r
	case n.GetRangeSubselect() != nil && n.GetRangeSubselect().Lateral, n.GetRangeFunction() != nil:
		return -1
	}
	return 0
}

// starWithPositions reports whether sel selects * (or t.*) and sorts,
// groups or picks DISTINCT ON by a column's position: moving a table moves
// the columns * stands for, and the position would name another one.
func starWithPositions(sel *pg.SelectStmt) bool {
	star := false
	for _, t := range sel.TargetList {
		if cr := t.GetResTarget().GetVal().GetColumnRef(); cr != nil && len(cr.Fields) > 0 && cr.Fields[len(cr.Fields)-1].GetAStar() != nil {
			star = true
		}
	}
	if !star {
		return false
	}
	isPosition := func(n *pg.Node) bool { return n.GetAConst().GetIval() != nil }
	for _, s := range sel.SortClause {
		if isPosition(s.GetSortBy().GetNode()) {
			return true
		}
	}
	return slices.ContainsFunc(sel.GroupClause, isPosition) || slices.ContainsFunc(sel.DistinctClause, isPosition)
}

// refersTo reports whether rv names table; an unqualified name matches
// table in any schema (search_path is not resolved here).
func refersTo(rv *pg.RangeVar, table string) bool {
	rel := collector.QuoteIdent(rv.Relname)
	if rv.Schemaname != "" {
		return collector.QuoteIdent(rv.Schemaname)+"."+rel == table
	}
	return strings.HasSuffix(table, "."+rel)
}

func leftmost(n *pg.Node, table string) bool {
	for n.GetJoinExpr() != nil {
		n = n.GetJoinExpr().Larg
	}
	return n.GetRangeVar() != nil && refersTo(n.GetRangeVar(), table)
}

// rotate swaps the arms of the joins above table in n so that table ends
// up leftmost: a LEFT JOIN b is b RIGHT JOIN a.
func rotate(n *pg.Node, table string) bool {
	j := n.GetJoinExpr()
	if j == nil {
		return true
	}
	if occurrences(j.Larg, table) > 0 {
		return rotate(j.Larg, table)
	}
	switch j.Jointype {
	case pg.JoinType_JOIN_INNER, pg.JoinType_JOIN_FULL:
	case pg.JoinType_JOIN_LEFT:
		j.Jointype = pg.JoinType_JOIN_RIGHT
	case pg.JoinType_JOIN_RIGHT:
		j.Jointype = pg.JoinType_JOIN_LEFT
	default:
		return false
	}
	j.Larg, j.Rarg = j.Rarg, j.Larg
	return rotate(j.Larg, table)
}
