package explain

import (
	"slices"
	"strconv"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

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
// statement can meet with constants, and those constants by column: every
// condition of its predicate is either column = constant, on a column the
// statement compares with a parameter by =, or one the statement has too
// (deleted_at IS NULL). Of several, the most scanned, then the first by
// name: one index for all the statement's parameters, so that their
// values hold together. An index whose predicate also tests a column the
// statement does not (AND region = 'us') cannot serve it, whatever the
// values.
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
		m, others, met := predicateConditions(ix.Predicate)
		for column := range m {
			met = met && equated[column]
		}
		for _, c := range others {
			met = met && s.conditions[c]
		}
		if !met || len(m) == 0 {
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

// predicateConditions splits an index predicate, as pg_get_expr prints
// it, into its ANDed column = constant conditions, the constant by column,
// and its other conditions, printed as conditionsOf prints a statement's;
// ok is false when it cannot be parsed.
func predicateConditions(predicate string) (constants map[string]string, others []string, ok bool) {
	tree, err := pg_query.Parse("SELECT WHERE " + predicate)
	if err != nil || len(tree.Stmts) != 1 {
		return nil, nil, false
	}
	constants = map[string]string{}
	for _, c := range andedConditions(tree.Stmts[0].Stmt.GetSelectStmt().GetWhereClause()) {
		if column, value, ok := columnEquality(c); ok {
			constants[column] = value
		} else {
			others = append(others, printedCondition(c))
		}
	}
	return constants, others, true
}

// conditionsOf gives the ANDed conditions of every WHERE of a statement,
// printed without their columns' qualifiers: t.deleted_at IS NULL and a
// predicate's deleted_at IS NULL print alike.
func conditionsOf(stmt *pg_query.Node) map[string]bool {
	conditions := map[string]bool{}
	sqltree.Walk(stmt, func(m proto.Message) bool {
		if sel, ok := m.(*pg_query.SelectStmt); ok {
			for _, c := range andedConditions(sel.WhereClause) {
				if printed := printedCondition(c); printed != "" {
					conditions[printed] = true
				}
			}
		}
		return true
	})
	return conditions
}

// andedConditions splits a condition at its top-level ANDs.
func andedConditions(n *pg_query.Node) []*pg_query.Node {
	if n == nil {
		return nil
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg_query.BoolExprType_AND_EXPR {
		return b.Args
	}
	return []*pg_query.Node{n}
}

// printedCondition prints a condition without its columns' qualifiers.
func printedCondition(n *pg_query.Node) string {
	c := proto.Clone(n).(*pg_query.Node)
	sqltree.Unqualify(c)
	return sqltree.Deparse(c)
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
