package explain

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// testedExpression is an expression a scan's filter tests.
type testedExpression struct {
	SQL   string   // as EXPLAIN prints it, without table qualifiers
	Words []string // its functions and columns, to name a statistics object
}

// testedExpressions are the expressions, other than plain columns, that
// the filter of scan n tests: lower(email) in lower(email) = 'x', the
// tsvector in (to_tsvector(language, title) || ...) @@ q. ANALYZE keeps
// statistics on an expression only for an index on it or a statistics
// object that names it; without them the planner guesses the condition's
// selectivity (0.5% for equality), however many rows match. Only the
// filter counts: an expression an index condition tests has the index's
// statistics. Kept out: expressions of another table's columns (a join
// clause on a nested loop's inner side), and those a statistics object
// refuses because they are not immutable (now(), a timestamptz's
// date_trunc, one-argument to_tsvector), as far as the text tells. A
// filter pg_query cannot parse yields nothing.
func testedExpressions(n *Node) []testedExpression {
	if n.RelationName == "" || n.Filter == "" {
		return nil
	}
	tree, err := pg_query.Parse("SELECT " + n.Filter)
	if err != nil || len(tree.Stmts) != 1 {
		return nil
	}
	var out []testedExpression
	sqltree.WalkNodes(tree.Stmts[0].Stmt, func(x *pg_query.Node) bool {
		op := x.GetAExpr()
		if op == nil {
			return true
		}
		found := false
		for _, side := range []*pg_query.Node{op.Lexpr, op.Rexpr} {
			words, ok := statisticsExpression(side, n)
			if !ok {
				continue
			}
			found = true
			sqltree.Unqualify(side)
			if s := sqltree.Deparse(side); s != "" && !slices.ContainsFunc(out, func(e testedExpression) bool { return e.SQL == s }) {
				out = append(out, testedExpression{SQL: s, Words: words})
			}
		}
		return !found // the parts of a tested expression are not tested themselves
	})
	return out
}

// notImmutable are functions that a statistics expression cannot call:
// volatile or stable, or stable for some argument types (timestamptz, the
// default text search configuration) that EXPLAIN's text does not show.
var notImmutable = []string{
	"now", "random", "clock_timestamp", "statement_timestamp", "transaction_timestamp", "timeofday",
	"current_setting", "nextval", "currval", "age", "date_trunc", "date_part", "extract", "to_char",
	"to_timestamp", "timezone",
}

// oneArgumentStable are text search functions that are stable with one
// argument (they read default_text_search_config), immutable with two.
var oneArgumentStable = []string{"to_tsvector", "to_tsquery", "plainto_tsquery", "phraseto_tsquery", "websearch_to_tsquery"}

// statisticsExpression reports whether side computes a value from the
// columns of scan n that a statistics object can hold, and the words
// (functions, columns) that name it. Not one: a column (a cast of one
// keeps the column's statistics when it only relabels, and EXPLAIN's text
// cannot tell), a constant, anything with a parameter, subplan, another
// table's column or a function that is not immutable.
func statisticsExpression(side *pg_query.Node, n *Node) ([]string, bool) {
	side = sqltree.Uncast(side)
	if side == nil || side.GetColumnRef() != nil {
		return nil, false
	}
	var words []string
	columns, refused := false, false
	sqltree.WalkNodes(side, func(x *pg_query.Node) bool {
		switch {
		case x.GetColumnRef() != nil:
			fields := x.GetColumnRef().Fields
			if len(fields) > 1 {
				q := fields[len(fields)-2].GetString_().GetSval()
				refused = refused || q != n.RelationName && q != n.Alias
			}
			if name := fields[len(fields)-1].GetString_().GetSval(); name != "" {
				columns = true
				words = append(words, name)
			}
		case x.GetFuncCall() != nil:
			f := x.GetFuncCall()
			name := f.Funcname[len(f.Funcname)-1].GetString_().GetSval()
			refused = refused || slices.Contains(notImmutable, name) || len(f.Args) == 1 && slices.Contains(oneArgumentStable, name)
			words = append(words, name)
		case x.GetParamRef() != nil, x.GetSubLink() != nil, x.GetSqlvalueFunction() != nil:
			refused = true
		}
		return !refused
	})
	return words, columns && !refused
}

// expressionStatistics is the statistics object that gives the planner
// statistics on exprs of n's relation (PostgreSQL 14+).
func expressionStatistics(n *Node, exprs []testedExpression) string {
	sqls := make([]string, len(exprs))
	var words []string
	for i, e := range exprs {
		sqls[i] = "(" + e.SQL + ")"
		for _, w := range e.Words {
			words = appendNew(words, w)
		}
	}
	return "CREATE STATISTICS " + statisticsName(n, words) + " ON " + strings.Join(sqls, ", ") + " FROM " + n.Table() + ";"
}

// expressionSQL lists the expressions' texts.
func expressionSQL(exprs []testedExpression) []string {
	out := make([]string, len(exprs))
	for i, e := range exprs {
		out[i] = e.SQL
	}
	return out
}
