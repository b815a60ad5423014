package explain

import (
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// typedParam matches a typed literal whose constant pg_stat_statements
// replaced with a parameter: date '2024-01-01' is stored as date $1, and
// interval '3' month as interval $2 month, which no longer parse.
var typedParam = regexp.MustCompile(`(?i)\b(date|time|timestamptz|timestamp(?:\s+with(?:out)?\s+time\s+zone)?|interval)\s+\$(\d+)(?:\s+(year|month|day|hour|minute|second)s?\b(?:\s+to\s+(month|hour|minute|second)\b)?)?`)

// extractParam matches EXTRACT whose field pg_stat_statements replaced:
// extract(year from d) is stored as extract($1 from d), and the grammar
// takes only a keyword or a string there.
var extractParam = regexp.MustCompile(`(?i)\bextract\s*\(\s*\$(\d+)\s+from\b`)

// Reparseable rewrites a normalized text so that it parses and PREPAREs as
// the statement did:
//   - typed literals become casts (date $1 -> $1::date; interval $2 month ->
//     ($2::text || ' month')::interval; numeric $3 -> $3::numeric);
//   - extract($4 from d) becomes pg_catalog.date_part($4, d), which every
//     server version has;
//   - a parameter that nothing types gets ::numeric where only a number fits:
//     pg_stat_statements replaces constants only, so $1 + $2 was 1 + 2 and
//     sum(case when ... then $3 else $4 end) summed numbers; as unknowns the
//     first is ambiguous and the second a sum of text.
//
// Quoted strings, quoted identifiers and comments are left as they are. A
// text that does not parse after the lexical rewrites gets no more.
func Reparseable(query string) string {
	if !strings.Contains(query, "$") {
		return query
	}
	query = rewriteCode(query)
	// pg_query's grammar, unlike the server's, takes type $n: it parses
	// what pg_stat_statements prints.
	tree, err := pg_query.Parse(query)
	if err != nil {
		return query
	}
	out := rewriteTree(query, tree)
	// A schema named by a keyword may qualify a type in type $1 but not
	// in $1::type: an edit must never cost a text its parse.
	if out != query {
		if _, err := pg_query.Parse(out); err != nil {
			return query
		}
	}
	return out
}

// rewriteCode applies the lexical rewrites to the stretches of query
// outside quoted strings, quoted identifiers and comments.
func rewriteCode(query string) string {
	var b strings.Builder
	code := 0 // start of the current stretch of code
	for i := 0; i < len(query); {
		end := skipQuoted(query, i)
		if end == i {
			i++
			continue
		}
		b.WriteString(rewriteTyped(query[code:i]))
		b.WriteString(query[i:end])
		i, code = end, end
	}
	b.WriteString(rewriteTyped(query[code:]))
	return b.String()
}

func rewriteTyped(code string) string {
	code = replaceUnqualified(typedParam, code, func(sub []string) string {
		typ, n, unit, to := strings.ToLower(strings.Join(strings.Fields(sub[1]), " ")), sub[2], strings.ToLower(sub[3]), strings.ToLower(sub[4])
		switch {
		case to != "": // '1-2' year to month: the value is read with the range
			return "$" + n + "::interval " + unit + " to " + to
		case unit != "":
			return "($" + n + "::text || ' " + unit + "')::interval"
		}
		return "$" + n + "::" + typ
	})
	return replaceUnqualified(extractParam, code, func(sub []string) string {
		return "pg_catalog.date_part($" + sub[1] + ","
	})
}

// replaceUnqualified replaces the matches of re in code with what repl
// makes of their submatches, except where a schema qualifies the name the
// match starts with (myschema.date $1 is a type of that schema: the parse
// tree pass rewrites it).
func replaceUnqualified(re *regexp.Regexp, code string, repl func(sub []string) string) string {
	var b strings.Builder
	prev := 0
	for _, m := range re.FindAllStringSubmatchIndex(code, -1) {
		if strings.HasSuffix(strings.TrimRight(code[:m[0]], " \t\r\n\f"), ".") {
			continue
		}
		sub := make([]string, len(m)/2)
		for i := range sub {
			if m[2*i] >= 0 {
				sub[i] = code[m[2*i]:m[2*i+1]]
			}
		}
		b.WriteString(code[prev:m[0]])
		r := repl(sub)
		if joins(code[:m[0]], r) {
			b.WriteByte(' ')
		}
		b.WriteString(r)
		if joins(r, code[m[1]:]) {
			b.WriteByte(' ')
		}
		prev = m[1]
	}
	b.WriteString(code[prev:])
	return b.String()
}

// arithmetic are the operators whose operands are numbers in practice.
var arithmetic = map[string]bool{"+": true, "-": true, "*": true, "/": true, "%": true, "^": true}

// numericAggregates take only numbers (and, for sum and avg, intervals,
// which a normalized text would spell as a cast).
var numericAggregates = map[string]bool{
	"sum": true, "avg": true, "stddev": true, "stddev_pop": true, "stddev_samp": true,
	"variance": true, "var_pop": true, "var_samp": true,
}

// edit replaces query[start:end] with text.
type edit struct {
	start, end int
	text       string
}

// rewriteTree makes the edits the parse tree of query calls for: typed
// literals the lexical pass does not know become casts (numeric $1 ->
// $1::numeric), and ::numeric goes after each parameter that nothing types
// but a number: the operands of arithmetic whose operands are all
// parameters, and the results of a CASE, COALESCE, GREATEST or LEAST whose
// results all are, where arithmetic or a numeric aggregate takes them.
func rewriteTree(query string, tree *pg_query.ParseResult) string {
	rt := retyper{query: query, edits: map[int]edit{}, untypedOf: map[*pg_query.Node]bool{}, cast: map[*pg_query.Node]bool{}}
	sqltree.Walk(tree, func(m proto.Message) bool {
		switch v := m.(type) {
		case *pg_query.TypeCast:
			if e, ok := typedLiteral(query, v); ok {
				rt.edits[e.start] = e
			}
		case *pg_query.A_Expr:
			if !isArithmetic(v) {
				break
			}
			all := true
			for _, o := range operands(v) {
				all = all && rt.untyped(o)
			}
			for _, o := range operands(v) {
				// A bare parameter takes its type from a typed peer; a CASE
				// of parameters is text whatever its peer.
				if all || (rt.untyped(o) && results(o) != nil) {
					rt.numeric(o)
				}
			}
		case *pg_query.FuncCall:
			if !numericAggregates[funcName(v.Funcname)] {
				break
			}
			for _, a := range v.Args {
				if rt.untyped(a) {
					rt.numeric(a)
				}
			}
		}
		return true
	})
	edits := rt.edits
	if len(edits) == 0 {
		return query
	}
	starts := make([]int, 0, len(edits))
	for s := range edits {
		starts = append(starts, s)
	}
	sort.Ints(starts)
	var b strings.Builder
	prev := 0
	for _, s := range starts {
		e := edits[s]
		if e.start < prev { // overlaps the edit before: cannot happen in a consistent tree
			continue
		}
		b.WriteString(query[prev:e.start])
		// Keep the edit a token of its own: $1AND lexes as $1 AND, but
		// $1::numericAND would not.
		if joins(query[:e.start], e.text) {
			b.WriteByte(' ')
		}
		b.WriteString(e.text)
		if joins(e.text, query[e.end:]) {
			b.WriteByte(' ')
		}
		prev = e.end
	}
	b.WriteString(query[prev:])
	return b.String()
}

// typedLiteral returns the edit that turns a typed literal (type $n, which
// pg_query parses and the server does not) into a cast. An explicit cast
// names its type after the parameter.
func typedLiteral(query string, c *pg_query.TypeCast) (edit, bool) {
	p := c.Arg.GetParamRef()
	if p == nil || c.TypeName == nil {
		return edit{}, false
	}
	start, end, ok := paramSpan(query, p)
	typeAt := int(c.TypeName.Location)
	if !ok || typeAt < 0 || typeAt >= start {
		return edit{}, false
	}
	typ := strings.TrimSpace(query[typeAt:start])
	// A comment moved after the parameter could swallow the rest of its line.
	if strings.Contains(typ, "--") || strings.Contains(typ, "/*") {
		return edit{}, false
	}
	return edit{typeAt, end, query[start:end] + "::" + typ}, true
}

// paramSpan returns where parameter p is in query, checking that its
// location points at it ($1, not the start of $12).
func paramSpan(query string, p *pg_query.ParamRef) (start, end int, ok bool) {
	tok := "$" + strconv.Itoa(int(p.Number))
	start = int(p.Location)
	if start < 0 || start > len(query) || !strings.HasPrefix(query[start:], tok) || startsWithDigit(query[start+len(tok):]) {
		return 0, 0, false
	}
	return start, start + len(tok), true
}

// retyper collects the edits of rewriteTree. Its memos keep long chains
// of arithmetic, which every enclosing operator looks into, linear.
type retyper struct {
	query     string
	edits     map[int]edit // by start
	untypedOf map[*pg_query.Node]bool
	cast      map[*pg_query.Node]bool // nodes numeric has been through
}

// untyped reports whether n gets no type from the statement: a parameter,
// a string or NULL constant, arithmetic on those, or a CASE, COALESCE,
// GREATEST or LEAST whose results all are.
func (rt *retyper) untyped(n *pg_query.Node) bool {
	if u, ok := rt.untypedOf[n]; ok {
		return u
	}
	var u bool
	switch {
	case n.GetParamRef() != nil:
		u = true
	case n.GetAConst() != nil:
		u = n.GetAConst().Isnull || n.GetAConst().GetSval() != nil
	case isArithmetic(n.GetAExpr()):
		u = rt.allUntyped(operands(n.GetAExpr()))
	default:
		rs := results(n)
		u = rs != nil && rt.allUntyped(rs)
	}
	rt.untypedOf[n] = u
	return u
}

func (rt *retyper) allUntyped(ns []*pg_query.Node) bool {
	for _, n := range ns {
		if !rt.untyped(n) {
			return false
		}
	}
	return true
}

// numeric casts the parameters that make untyped expression n to numeric.
func (rt *retyper) numeric(n *pg_query.Node) {
	if rt.cast[n] {
		return
	}
	rt.cast[n] = true
	switch {
	case n.GetParamRef() != nil:
		if _, end, ok := paramSpan(rt.query, n.GetParamRef()); ok {
			rt.edits[end] = edit{end, end, "::numeric"}
		}
	case isArithmetic(n.GetAExpr()):
		for _, o := range operands(n.GetAExpr()) {
			rt.numeric(o)
		}
	default:
		for _, r := range results(n) {
			rt.numeric(r)
		}
	}
}

// results returns the expressions whose common type is the value of a CASE,
// COALESCE, GREATEST or LEAST, or nil for any other node.
func results(n *pg_query.Node) []*pg_query.Node {
	switch {
	case n.GetCaseExpr() != nil:
		c := n.GetCaseExpr()
		var rs []*pg_query.Node
		for _, w := range c.Args {
			if cw := w.GetCaseWhen(); cw != nil && cw.Result != nil {
				rs = append(rs, cw.Result)
			}
		}
		if c.Defresult != nil {
			rs = append(rs, c.Defresult)
		}
		return rs
	case n.GetCoalesceExpr() != nil:
		return n.GetCoalesceExpr().Args
	case n.GetMinMaxExpr() != nil:
		return n.GetMinMaxExpr().Args
	}
	return nil
}

func isArithmetic(e *pg_query.A_Expr) bool {
	return e != nil && e.Kind == pg_query.A_Expr_Kind_AEXPR_OP && arithmetic[funcName(e.Name)]
}

// operands returns the operands of an operator: one for a prefix operator.
func operands(e *pg_query.A_Expr) []*pg_query.Node {
	var ops []*pg_query.Node
	for _, o := range []*pg_query.Node{e.Lexpr, e.Rexpr} {
		if o != nil {
			ops = append(ops, o)
		}
	}
	return ops
}

// funcName returns the name of a function or operator, qualified only by
// pg_catalog, in lower case, or "" for one in another schema.
func funcName(names []*pg_query.Node) string {
	switch len(names) {
	case 1:
		return strings.ToLower(names[0].GetString_().GetSval())
	case 2:
		if names[0].GetString_().GetSval() == "pg_catalog" {
			return strings.ToLower(names[1].GetString_().GetSval())
		}
	}
	return ""
}

func startsWithDigit(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return r >= '0' && r <= '9'
}

// joins reports whether a and b, written together, would run into one
// identifier, keyword or parameter.
func joins(a, b string) bool {
	last, n := utf8.DecodeLastRuneInString(a)
	first, m := utf8.DecodeRuneInString(b)
	return n > 0 && m > 0 && identChar(last) && identChar(first)
}

// identChar reports whether r can continue an identifier or keyword.
func identChar(r rune) bool {
	return r == '_' || r == '$' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= utf8.RuneSelf
}

// skipQuoted returns the end of the quoted string, quoted identifier or
// comment starting at i, or i when none starts there.
func skipQuoted(q string, i int) int {
	switch {
	case q[i] == '\'' || q[i] == '"':
		for j := i + 1; j < len(q); j++ {
			if q[j] == q[i] {
				if j+1 < len(q) && q[j+1] == q[i] { // doubled quote
					j++
					continue
				}
				return j + 1
			}
		}
		return len(q)
	case strings.HasPrefix(q[i:], "--"):
		if j := strings.IndexByte(q[i:], '\n'); j >= 0 {
			return i + j + 1
		}
		return len(q)
	case strings.HasPrefix(q[i:], "/*"):
		if j := strings.Index(q[i+2:], "*/"); j >= 0 {
			return i + 2 + j + 2
		}
		return len(q)
	}
	return i
}
