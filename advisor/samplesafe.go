package advisor

import (
	"regexp"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// A block sample evaluates a partial index's predicate and a GIN key's
// expression, both taken from a statement's text, on the monitored
// database with the advisor's privileges. Only what PostgreSQL itself
// defines may run there:
//   - functions and operators are named in pg_catalog: unqualified, one of
//     another schema on the search_path whose argument types match exactly
//     wins over pg_catalog's, which needs a cast;
//   - casts are to built-in types, of constants or of columns;
//   - columns are of built-in types, so no cast or operator resolution
//     reaches a cast function a type's owner wrote (CREATE CAST ... AS
//     IMPLICIT needs no superuser).

// sampleGrammar is what one kind of sampled expression may hold.
type sampleGrammar struct {
	funcs    []string // functions it may call
	ops      []string // operators it may apply
	logic    bool     // AND/OR/NOT, IS [NOT] NULL, IS [NOT] TRUE, IN lists
	coalesce bool
}

var (
	predicateGrammar = sampleGrammar{ops: []string{"=", "<>", "<", ">", "<=", ">="}, logic: true}
	keyGrammar       = sampleGrammar{funcs: []string{"to_tsvector", "lower", "upper"}, ops: []string{"||"}, coalesce: true}
)

// builtinTypes are the types, as format_type prints them without typmod
// or array brackets, whose columns a sample reads; castTypes are the
// names of the same types in a parsed cast.
var (
	builtinTypes = []string{"text", "character varying", "character", "name", "jsonb", "tsvector", "regconfig",
		"smallint", "integer", "bigint", "numeric", "real", "double precision", "boolean", "uuid",
		"date", "timestamp without time zone", "timestamp with time zone", "time without time zone", "interval"}
	castTypes = []string{"text", "varchar", "bpchar", "name", "char", "jsonb", "tsvector", "regconfig",
		"int2", "int4", "int8", "numeric", "float4", "float8", "bool", "uuid", "date", "timestamp", "timestamptz", "time", "interval"}
	typmod = regexp.MustCompile(`\(\d+(,\d+)?\)`)
)

// builtinType reports whether typ (format_type's) is one of builtinTypes,
// or an array of one. format_type quotes or qualifies every other type
// whose name could read as one of them: a type of another schema named
// text prints as public.text, and one named "char(1)" keeps its quotes.
func builtinType(typ string) bool {
	base := strings.TrimSuffix(typ, "[]")
	if base == `"char"` {
		return true
	}
	return !strings.ContainsAny(base, `".`) && slices.Contains(builtinTypes, typmod.ReplaceAllString(base, ""))
}

// sampleWhere is the predicate of c for a sample to evaluate, "true" for
// a full index; false when it cannot be evaluated.
func sampleWhere(c Candidate, t *collector.Table) (string, bool) {
	if c.Where == "" {
		return "true", true
	}
	return samplePredicate(c.Where, t)
}

// samplePredicate is where rewritten for a sample to evaluate (see
// sampleGrammar), and false when it holds anything else.
func samplePredicate(where string, t *collector.Table) (string, bool) {
	return sampleExpression("SELECT 1 WHERE "+where, t, predicateGrammar, func(sel *pg.SelectStmt) *pg.Node { return sel.WhereClause })
}

// sampledValue is the SQL of k's value for a sample to evaluate: a column
// of a built-in type, or an expression of such columns, constants, || and
// COALESCE calling only to_tsvector, lower and upper.
func sampledValue(k collector.IndexKey, t *collector.Table) (string, bool) {
	if k.Column != "" {
		col := columnOf(t, k.Column)
		return collector.QuoteIdent(k.Column), col != nil && builtinType(col.Type)
	}
	return sampleExpression("SELECT "+k.Expression, t, keyGrammar, func(sel *pg.SelectStmt) *pg.Node {
		if len(sel.TargetList) != 1 || sel.WhereClause != nil {
			return nil
		}
		return sel.TargetList[0].GetResTarget().GetVal()
	})
}

// sampleExpression parses query, takes the expression pick finds in it, checks it
// against g and returns it rewritten.
func sampleExpression(query string, t *collector.Table, g sampleGrammar, pick func(*pg.SelectStmt) *pg.Node) (string, bool) {
	tree, err := pg.Parse(query)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || sel.FromClause != nil {
		return "", false
	}
	expr := pick(sel)
	if expr == nil {
		return "", false
	}
	if g.logic {
		expr = withoutInLists(expr)
	}
	if !g.safe(expr, t) {
		return "", false
	}
	out := sqltree.Deparse(expr)
	return out, out != ""
}

// safe checks n against g, qualifying its functions, operators and casts
// with pg_catalog on the way.
func (g sampleGrammar) safe(n *pg.Node, t *collector.Table) bool {
	ok := true
	sqltree.WalkNodes(n, func(n *pg.Node) bool {
		if !ok {
			return false
		}
		switch {
		case n.GetFuncCall() != nil:
			f := n.GetFuncCall()
			name := lastName(f.Funcname)
			ok = inCatalog(f.Funcname) && slices.Contains(g.funcs, name) &&
				f.AggFilter == nil && f.Over == nil && !f.AggStar && !f.AggDistinct && !f.FuncVariadic && f.AggOrder == nil
			if ok {
				f.Funcname = catalogName(name)
			}
		case n.GetAExpr() != nil:
			e := n.GetAExpr()
			name := lastName(e.Name)
			ok = e.Kind == pg.A_Expr_Kind_AEXPR_OP && inCatalog(e.Name) && slices.Contains(g.ops, name)
			if ok {
				e.Name = catalogName(name)
			}
		case n.GetTypeCast() != nil:
			tn := n.GetTypeCast().TypeName
			name := lastName(tn.GetNames())
			arg := n.GetTypeCast().Arg // a constant, or a column checked below
			ok = tn != nil && (arg.GetAConst() != nil || arg.GetColumnRef() != nil) && inCatalog(tn.Names) && tn.ArrayBounds == nil &&
				slices.Contains(castTypes, name)
			if ok {
				tn.Names = catalogName(name)
			}
		case n.GetColumnRef() != nil:
			fields := n.GetColumnRef().Fields
			ok = len(fields) == 1 && fields[0].GetString_() != nil
			if ok {
				col := columnOf(t, fields[0].GetString_().GetSval())
				ok = col != nil && builtinType(col.Type)
			}
		case n.GetBoolExpr() != nil, n.GetNullTest() != nil, n.GetBooleanTest() != nil:
			ok = g.logic
		case n.GetCoalesceExpr() != nil:
			ok = g.coalesce
		case n.GetAConst() != nil, n.GetString_() != nil, n.GetList() != nil:
		default:
			ok = false
		}
		return ok
	})
	return ok
}

// withoutInLists rewrites x IN (a, b) as (x = a OR x = b), and x NOT IN
// (a, b) as (x <> a AND x <> b): the deparser prints no IN list with a
// qualified operator.
func withoutInLists(n *pg.Node) *pg.Node {
	if e := n.GetAExpr(); e != nil && e.Kind == pg.A_Expr_Kind_AEXPR_IN {
		list := e.Rexpr.GetList()
		if list == nil {
			return n
		}
		op, join := lastName(e.Name), pg.BoolExprType_OR_EXPR
		if op == "<>" {
			join = pg.BoolExprType_AND_EXPR
		}
		args := make([]*pg.Node, len(list.Items))
		for i, item := range list.Items {
			args[i] = pg.MakeAExprNode(pg.A_Expr_Kind_AEXPR_OP, []*pg.Node{pg.MakeStrNode(op)}, e.Lexpr, item, e.Location)
		}
		return pg.MakeBoolExprNode(join, args, e.Location)
	}
	sqltree.ReplaceChildren(n, withoutInLists)
	return n
}

// catalogName is name in pg_catalog.
func catalogName(name string) []*pg.Node {
	return []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode(name)}
}

// inCatalog reports whether names is one name, or one qualified by
// pg_catalog.
func inCatalog(names []*pg.Node) bool {
	return len(names) == 1 || len(names) == 2 && names[0].GetString_().GetSval() == "pg_catalog"
}
