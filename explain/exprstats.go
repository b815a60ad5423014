package explain

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// testedExpressions are the expressions, other than plain columns, that
// the conditions in cond (a scan's conditions as EXPLAIN prints them)
// test: lower(email) in lower(email) = 'x', the tsvector in
// (to_tsvector(title) || to_tsvector(body)) @@ q. ANALYZE keeps statistics
// on an expression only for an index on it or a statistics object that
// names it; without them the planner guesses the condition's selectivity
// (0.5% for equality), however many rows match. Table qualifiers are
// dropped; a condition pg_query cannot parse yields nothing.
func testedExpressions(cond string) []string {
	tree, err := pg_query.Parse("SELECT " + cond)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	var out []string
	sqltree.WalkNodes(tree.Stmts[0].Stmt, func(n *pg_query.Node) bool {
		x := n.GetAExpr()
		if x == nil {
			return true
		}
		found := false
		for _, side := range []*pg_query.Node{x.Lexpr, x.Rexpr} {
			if computed(side) {
				found = true
				sqltree.Unqualify(side)
				if s := sqltree.Deparse(side); s != "" && !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
		return !found // the parts of a tested expression are not tested themselves
	})
	return out
}

// computed reports whether n computes a value from columns: not a column
// (a cast of one keeps the column's statistics when it only relabels, and
// EXPLAIN's text cannot tell), not a constant, nothing that refers to a
// parameter or subplan.
func computed(n *pg_query.Node) bool {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().Arg
	}
	if n == nil || n.GetColumnRef() != nil {
		return false
	}
	columns, other := false, false
	sqltree.WalkNodes(n, func(x *pg_query.Node) bool {
		switch {
		case x.GetColumnRef() != nil:
			columns = true
		case x.GetParamRef() != nil, x.GetSubLink() != nil:
			other = true
		}
		return true
	})
	return columns && !other
}

// expressionStatistics is the statistics object that gives the planner
// statistics on exprs of n's relation (PostgreSQL 14+).
func expressionStatistics(n *Node, exprs []string) string {
	parens := make([]string, len(exprs))
	for i, e := range exprs {
		parens[i] = "(" + e + ")"
	}
	name := "expr"
	if f, _, ok := strings.Cut(exprs[0], "("); ok && f != "" && !strings.ContainsAny(f, " ()") {
		name = f
	}
	return "CREATE STATISTICS " + statisticsName(n, []string{name}) + " ON " + strings.Join(parens, ", ") + " FROM " + n.Table() + ";"
}
