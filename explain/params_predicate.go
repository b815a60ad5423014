package explain

import (
	"slices"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// predicateSource begins the Param.Source of a partial index's constant.
const predicateSource = "the predicate of partial index "

// predicateValue is the value an existing partial index's predicate gives
// u's column (status = 'pending' for WHERE status = 'pending'), of the most
// scanned such index; ok is false when none has one, or s does not take
// such values (synthOptions.predicateValues). pg_stat_statements stores
// that constant as $n like any other, and the index may have been built
// for the calls that use it, which neither the column's most common value
// nor a typical one stands for: planned with 'delivered', the statement
// reads the table the index spares its calls.
func (s *synth) predicateValue(u paramUse) (value, source string, ok bool) {
	col := u.col
	if !s.predicateValues || u.kind != useEq || u.op != "=" && u.op != "" || col.table == nil || col.column == nil || col.transform != "" ||
		col.jsonKey != "" || col.keyParam > 0 || s.cat == nil {
		return "", "", false
	}
	table, scans := col.table.QualifiedName(), int64(-1)
	for _, ix := range s.cat.Indexes {
		if !ix.Valid || ix.Table != table || ix.Predicate == "" || ix.IdxScan <= scans {
			continue
		}
		if v, found := predicateEquality(ix.Predicate, col.column.Name); found {
			value, source, ok, scans = v, predicateSource+ix.Name+" on "+table, true, ix.IdxScan
		}
	}
	return value, source, ok
}

// predicateEquality finds column = constant among the ANDed conditions of
// an index predicate, as pg_get_expr prints it, and gives the constant.
func predicateEquality(predicate, column string) (string, bool) {
	tree, err := pg_query.Parse("SELECT WHERE " + predicate)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	where := tree.Stmts[0].Stmt.GetSelectStmt().GetWhereClause()
	conds := []*pg_query.Node{where}
	if b := where.GetBoolExpr(); b != nil && b.Boolop == pg_query.BoolExprType_AND_EXPR {
		conds = b.Args
	}
	for _, c := range conds {
		e := c.GetAExpr()
		if e == nil || e.Kind != pg_query.A_Expr_Kind_AEXPR_OP || !slices.Equal(stringParts(e.Name), []string{"="}) {
			continue
		}
		for _, sides := range [][2]*pg_query.Node{{e.Lexpr, e.Rexpr}, {e.Rexpr, e.Lexpr}} {
			// A varchar column compares as (status)::text = 'pending'::text.
			if names := stringParts(sqltree.Uncast(sides[0]).GetColumnRef().GetFields()); len(names) != 1 || names[0] != column {
				continue
			}
			if v, ok := constantText(sides[1]); ok {
				return v, true
			}
		}
	}
	return "", false
}

// constantText is the text of a constant, under any casts; NULL is none.
func constantText(n *pg_query.Node) (string, bool) {
	c := sqltree.Uncast(n).GetAConst()
	switch {
	case c == nil || c.Isnull:
		return "", false
	case c.GetSval() != nil:
		return c.GetSval().Sval, true
	case c.GetIval() != nil:
		return strconv.Itoa(int(c.GetIval().Ival)), true
	case c.GetFval() != nil:
		return c.GetFval().Fval, true
	case c.GetBoolval() != nil:
		return strconv.FormatBool(c.GetBoolval().Boolval), true
	}
	return "", false
}
