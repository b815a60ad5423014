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
