package explain

import (
	"slices"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// predicateSource begins the Param.Source of a partial index's constant.
const predicateSource = "the predicate of partial index "

// predicateValue is the value an existing partial index's predicate gives
// u's column (status = 'pending' for WHERE status = 'pending'); ok is
// false when no index qualifies (predicateIndex), or s does not take such
// values (synthOptions.predicateValues). pg_stat_statements stores that
// constant as $n like any other, and the index may have been built for
// the calls that use it, which neither the column's most common value nor
// a typical one stands for: planned with 'delivered', the statement reads
// the table the index spares its calls.
func (s *synth) predicateValue(u paramUse) (value, source string, ok bool) {
	if !s.predicateValues || !plainParamEquality(u) || s.cat == nil {
		return "", "", false
	}
	table := u.col.table.QualifiedName()
	name, constants, ok := s.predicateIndex(table)
	if !ok {
		return "", "", false
	}
	value, ok = constants[u.col.column.Name]
	return value, predicateSource + name + " on " + table, ok
}

// plainParamEquality reports whether u compares a table's column, bare,
// with its parameter by =.
func plainParamEquality(u paramUse) bool {
	c := u.col
	return u.kind == useEq && (u.op == "=" || u.op == "") && c.table != nil && c.column != nil && c.transform == "" &&
		c.jsonKey == "" && c.keyParam == 0
}

// predicateIndex is the partial index of table whose predicate the
// statement can meet with constants alone, and those constants by column:
// every condition of its predicate is column = constant, on a column the
// statement compares with a parameter by =. Of several, the most scanned,
// then the first by name: one index for all the statement's parameters,
// so that their values hold together. An index whose predicate also
// tests a column the statement does not (AND region = 'us') cannot serve
// it, whatever the values.
func (s *synth) predicateIndex(table string) (name string, constants map[string]string, ok bool) {
	equated := map[string]bool{}
	for _, uses := range s.uses {
		for _, u := range uses {
			if plainParamEquality(u) && u.col.table.QualifiedName() == table {
				equated[u.col.column.Name] = true
			}
		}
	}
	var best *collector.Index
	for i := range s.cat.Indexes {
		ix := &s.cat.Indexes[i]
		if !ix.Valid || ix.Table != table || ix.Predicate == "" {
			continue
		}
		m, met := predicateEqualities(ix.Predicate)
		for column := range m {
			met = met && equated[column]
		}
		if !met {
			continue
		}
		if best == nil || ix.IdxScan > best.IdxScan || ix.IdxScan == best.IdxScan && ix.Name < best.Name {
			best, constants = ix, m
		}
	}
	if best == nil {
		return "", nil, false
	}
	return best.Name, constants, true
}

// predicateEqualities gives the constant of each column of an index
// predicate, as pg_get_expr prints it, made only of ANDed column =
// constant conditions; ok is false for any other predicate.
func predicateEqualities(predicate string) (map[string]string, bool) {
	tree, err := pg_query.Parse("SELECT WHERE " + predicate)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, false
	}
	where := tree.Stmts[0].Stmt.GetSelectStmt().GetWhereClause()
	conds := []*pg_query.Node{where}
	if b := where.GetBoolExpr(); b != nil && b.Boolop == pg_query.BoolExprType_AND_EXPR {
		conds = b.Args
	}
	constants := map[string]string{}
	for _, c := range conds {
		column, value, ok := columnEquality(c)
		if !ok {
			return nil, false
		}
		constants[column] = value
	}
	return constants, true
}

// columnEquality reads column = constant, either way round; a varchar
// column compares as (status)::text = 'pending'::text.
func columnEquality(n *pg_query.Node) (column, value string, ok bool) {
	e := n.GetAExpr()
	if e == nil || e.Kind != pg_query.A_Expr_Kind_AEXPR_OP || !slices.Equal(stringParts(e.Name), []string{"="}) {
		return "", "", false
	}
	for _, sides := range [][2]*pg_query.Node{{e.Lexpr, e.Rexpr}, {e.Rexpr, e.Lexpr}} {
		names := stringParts(sqltree.Uncast(sides[0]).GetColumnRef().GetFields())
		if v, ok := constantText(sides[1]); ok && len(names) == 1 {
			return names[0], v, true
		}
	}
	return "", "", false
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
