// Package sqltree holds the walks over pg_query parse trees that the
// packages reading SQL (explain, advisor) share, and the splitting of
// scripts into statements.
package sqltree

import (
	"fmt"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Walk calls fn for every message of a parse tree, depth first, in field
// order (so results are deterministic); fn returning false skips the
// message's children.
func Walk(root proto.Message, fn func(proto.Message) bool) {
	if root == nil {
		return
	}
	walk(root.ProtoReflect(), fn)
}

func walk(m protoreflect.Message, fn func(proto.Message) bool) {
	if !m.IsValid() || !fn(m.Interface()) {
		return
	}
	desc := m.Descriptor()
	// A Node is a oneof of some 250 node types: asking each whether it is
	// set was most of the walk's time.
	for i := 0; i < desc.Oneofs().Len(); i++ {
		if fd := m.WhichOneof(desc.Oneofs().Get(i)); fd != nil && fd.Message() != nil && !fd.IsList() && !fd.IsMap() {
			walk(m.Get(fd).Message(), fn)
		}
	}
	fields := desc.Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.ContainingOneof() != nil || fd.Message() == nil || fd.IsMap() || !m.Has(fd) {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				walk(l.Get(j).Message(), fn)
			}
			continue
		}
		walk(m.Get(fd).Message(), fn)
	}
}

// WalkNodes calls fn for n and every Node below it, in field order; when
// fn returns false the node's children are skipped.
func WalkNodes(n *pg.Node, fn func(*pg.Node) bool) {
	if n == nil {
		return
	}
	Walk(n, func(m proto.Message) bool {
		x, ok := m.(*pg.Node)
		return !ok || fn(x)
	})
}

// ReplaceChildren replaces each Node nearest below n (reached through
// messages that are not Nodes, such as an A_Expr's operands) by f of it;
// f does the recursion if it wants one.
func ReplaceChildren(n *pg.Node, f func(*pg.Node) *pg.Node) {
	if n != nil {
		replaceChildren(n.ProtoReflect(), f)
	}
}

func replaceChildren(m protoreflect.Message, f func(*pg.Node) *pg.Node) {
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if fd.Message() == nil || fd.IsMap() || !m.Has(fd) {
			continue
		}
		if fd.IsList() {
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				replaceNode(l.Get(j).Message(), f, func(v protoreflect.Message) { l.Set(j, protoreflect.ValueOfMessage(v)) })
			}
			continue
		}
		replaceNode(m.Get(fd).Message(), f, func(v protoreflect.Message) { m.Set(fd, protoreflect.ValueOfMessage(v)) })
	}
}

// replaceNode sets f(v) in v's place when v is a Node, else looks below it.
func replaceNode(v protoreflect.Message, f func(*pg.Node) *pg.Node, set func(protoreflect.Message)) {
	if n, ok := v.Interface().(*pg.Node); ok {
		if r := f(n); r != n {
			set(r.ProtoReflect())
		}
		return
	}
	replaceChildren(v, f)
}

// Deparse is the SQL text of an expression; "" if pg_query cannot print it.
func Deparse(n *pg.Node) string {
	sel := &pg.SelectStmt{TargetList: []*pg.Node{pg.MakeResTargetNodeWithVal(n, 0)}}
	out, err := pg.Deparse(&pg.ParseResult{Stmts: []*pg.RawStmt{{Stmt: &pg.Node{Node: &pg.Node_SelectStmt{SelectStmt: sel}}}}})
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(out, "SELECT ")
}

// Uncast is n under any casts (a constant 'x'::text, a column (c)::text).
func Uncast(n *pg.Node) *pg.Node {
	for n.GetTypeCast() != nil {
		n = n.GetTypeCast().Arg
	}
	return n
}

// Unqualify drops the table names from the column references under n:
// EXPLAIN qualifies them in a plan of several tables, while an index
// predicate or a statistics object names its table's columns alone.
func Unqualify(n *pg.Node) {
	WalkNodes(n, func(x *pg.Node) bool {
		if cr := x.GetColumnRef(); cr != nil && len(cr.Fields) > 1 {
			cr.Fields = cr.Fields[len(cr.Fields)-1:]
		}
		return true
	})
}

// Statements splits a script into its statements as the server's parser
// does, each without the comment lines before it and without its ";": a DO
// block (the advisor's DDL guards a partition's ATTACH with one) stays one
// statement. Run one at a time, they run as psql -f runs the script.
func Statements(script string) ([]string, error) {
	stmts, err := pg.SplitWithParser(script, true)
	if err != nil {
		return nil, fmt.Errorf("split SQL: %w", err)
	}
	for i, s := range stmts {
		for strings.HasPrefix(s, "--") {
			_, s, _ = strings.Cut(s, "\n")
			s = strings.TrimSpace(s)
		}
		stmts[i] = s
	}
	return stmts, nil
}

// LineBreakInQuote reports whether a line break of sql falls inside a
// string constant or a quoted name, where indenting the lines of the
// script would change a value. The body of a DO block is a string too, but
// its lines are code: it is scanned for quotes of its own. SQL that does
// not scan counts as having one, to be shown as it is.
func LineBreakInQuote(sql string) bool {
	res, err := pg.Scan(sql)
	if err != nil {
		return true
	}
	toks := res.GetTokens()
	for i, tok := range toks {
		end := tok.GetEnd()
		if t := tok.GetToken(); t == pg.Token_UIDENT || t == pg.Token_USCONST {
			// The scanner does not report where U&"..." and U&'...' end:
			// up to the next token, on the safe side.
			end = int32(len(sql))
			if i+1 < len(toks) {
				end = toks[i+1].GetStart()
			}
		}
		if start := tok.GetStart(); start < 0 || start > end || int(end) > len(sql) {
			return true // offsets past the text: show it as it is
		}
		text := sql[tok.GetStart():end]
		if !strings.Contains(text, "\n") {
			continue
		}
		switch tok.GetToken() {
		case pg.Token_SCONST:
			if body, ok := dollarBody(text); ok && i > 0 && toks[i-1].GetToken() == pg.Token_DO {
				if LineBreakInQuote(body) {
					return true
				}
				continue
			}
			return true
		case pg.Token_IDENT, pg.Token_UIDENT, pg.Token_USCONST, pg.Token_BCONST, pg.Token_XCONST:
			return true
		}
	}
	return false
}

// dollarBody is what a dollar-quoted string ($tag$...$tag$) holds.
func dollarBody(s string) (string, bool) {
	if !strings.HasPrefix(s, "$") {
		return "", false
	}
	end := strings.Index(s[1:], "$")
	if end < 0 {
		return "", false
	}
	tag := s[:end+2]
	if len(s) < 2*len(tag) || !strings.HasSuffix(s, tag) {
		return "", false
	}
	return s[len(tag) : len(s)-len(tag)], true
}

// OutputName is the name PostgreSQL gives select-list entry t
// (FigureColname): its alias, else the column, field or function its
// expression is, else a word for its kind of expression ("case",
// "coalesce"), else "?column?". It is "" for a * (which stands for
// several), and where the name is that of a column a * selects, which
// only the tables' columns tell: (SELECT * FROM t).
func OutputName(t *pg.ResTarget) string {
	if t.GetName() != "" {
		return t.Name
	}
	if cr := t.GetVal().GetColumnRef(); cr != nil {
		if f := cr.Fields; len(f) > 0 && f[len(f)-1].GetAStar() != nil {
			return ""
		}
	}
	if ind := t.GetVal().GetAIndirection(); ind != nil {
		if f := ind.Indirection; len(f) > 0 && f[len(f)-1].GetAStar() != nil {
			return "" // (row).*
		}
	}
	if name, strength := figureName(t.GetVal()); strength > 0 {
		return name
	}
	return "?column?"
}

// xmlNames name the XML functions, which the grammar parses as XmlExpr.
var xmlNames = map[pg.XmlExprOp]string{
	pg.XmlExprOp_IS_XMLCONCAT: "xmlconcat", pg.XmlExprOp_IS_XMLELEMENT: "xmlelement", pg.XmlExprOp_IS_XMLFOREST: "xmlforest",
	pg.XmlExprOp_IS_XMLPARSE: "xmlparse", pg.XmlExprOp_IS_XMLPI: "xmlpi", pg.XmlExprOp_IS_XMLROOT: "xmlroot",
	pg.XmlExprOp_IS_XMLSERIALIZE: "xmlserialize",
}

// svfNames name the SQL value functions the PostgreSQL 16 grammar still
// parses as such (current_user and the like are function calls there).
var svfNames = map[pg.SQLValueFunctionOp]string{
	pg.SQLValueFunctionOp_SVFOP_CURRENT_DATE: "current_date", pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME: "current_time",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIME_N: "current_time", pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP: "current_timestamp",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_TIMESTAMP_N: "current_timestamp", pg.SQLValueFunctionOp_SVFOP_LOCALTIME: "localtime",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIME_N: "localtime", pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP: "localtimestamp",
	pg.SQLValueFunctionOp_SVFOP_LOCALTIMESTAMP_N: "localtimestamp", pg.SQLValueFunctionOp_SVFOP_CURRENT_ROLE: "current_role",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_USER: "current_user", pg.SQLValueFunctionOp_SVFOP_USER: "user",
	pg.SQLValueFunctionOp_SVFOP_SESSION_USER: "session_user", pg.SQLValueFunctionOp_SVFOP_CURRENT_CATALOG: "current_catalog",
	pg.SQLValueFunctionOp_SVFOP_CURRENT_SCHEMA: "current_schema",
}

// figureName follows FigureColnameInternal of PostgreSQL's parser: a name,
// and its strength (2 for a column's or function's, 1 for a type's or
// "case", which a cast's argument or a CASE's ELSE with a stronger one
// overrides).
func figureName(n *pg.Node) (string, int) {
	switch {
	case n.GetColumnRef() != nil:
		return lastString(n.GetColumnRef().Fields, 2)
	case n.GetAIndirection() != nil:
		ind := n.GetAIndirection()
		if name, strength := lastString(ind.Indirection, 2); name != "" {
			return name, strength
		}
		return figureName(ind.Arg)
	case n.GetFuncCall() != nil:
		return lastString(n.GetFuncCall().Funcname, 2)
	case n.GetAExpr() != nil && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_NULLIF:
		return "nullif", 2
	case n.GetTypeCast() != nil:
		name, strength := figureName(n.GetTypeCast().Arg)
		if strength <= 1 && n.GetTypeCast().GetTypeName() != nil {
			return lastString(n.GetTypeCast().TypeName.Names, 1)
		}
		return name, strength
	case n.GetCollateClause() != nil:
		return figureName(n.GetCollateClause().Arg)
	case n.GetGroupingFunc() != nil:
		return "grouping", 2
	case n.GetSubLink() != nil:
		switch sl := n.GetSubLink(); sl.SubLinkType {
		case pg.SubLinkType_EXISTS_SUBLINK:
			return "exists", 2
		case pg.SubLinkType_ARRAY_SUBLINK:
			return "array", 2
		case pg.SubLinkType_EXPR_SUBLINK:
			return firstOutputName(sl.GetSubselect().GetSelectStmt()), 2
		}
	case n.GetCaseExpr() != nil:
		if name, strength := figureName(n.GetCaseExpr().Defresult); strength > 1 {
			return name, strength
		}
		return "case", 1
	case n.GetAArrayExpr() != nil:
		return "array", 2
	case n.GetRowExpr() != nil:
		return "row", 2
	case n.GetCoalesceExpr() != nil:
		return "coalesce", 2
	case n.GetMinMaxExpr() != nil:
		if n.GetMinMaxExpr().Op == pg.MinMaxOp_IS_LEAST {
			return "least", 2
		}
		return "greatest", 2
	case n.GetXmlExpr() != nil:
		if name, ok := xmlNames[n.GetXmlExpr().Op]; ok {
			return name, 2
		}
	case n.GetXmlSerialize() != nil:
		return "xmlserialize", 2
	case n.GetSqlvalueFunction() != nil:
		if name, ok := svfNames[n.GetSqlvalueFunction().Op]; ok {
			return name, 2
		}
	}
	return "", 0
}

// firstOutputName is the name of the first output of sel, which a set
// operation takes from its leftmost query and VALUES calls column1.
func firstOutputName(sel *pg.SelectStmt) string {
	for sel.GetOp() != pg.SetOperation_SETOP_NONE {
		sel = sel.GetLarg()
	}
	if len(sel.GetValuesLists()) > 0 {
		return "column1"
	}
	if ts := sel.GetTargetList(); len(ts) > 0 {
		return OutputName(ts[0].GetResTarget())
	}
	return ""
}

// lastString is the last string among nodes, with strength; "", 0 if none.
func lastString(nodes []*pg.Node, strength int) (string, int) {
	for i := len(nodes) - 1; i >= 0; i-- {
		if s := nodes[i].GetString_(); s != nil {
			return s.Sval, strength
		}
	}
	return "", 0
}
