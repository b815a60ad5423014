package advisor

import (
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
)

// IndexName is the name the recommendation's DDL gives the index on its
// table, as written there (quoted where needed, without the schema, which
// is the table's); "" when the DDL names none.
func (r *Recommendation) IndexName() string {
	const marker = " IF NOT EXISTS "
	_, rest, ok := strings.Cut(r.DDL, marker)
	if !ok {
		return ""
	}
	if !strings.HasPrefix(rest, `"`) {
		name, _, _ := strings.Cut(rest, " ")
		return name
	}
	for i := 1; i < len(rest); i++ { // a quoted name ends at a quote not doubled
		if rest[i] != '"' {
			continue
		}
		if i+1 < len(rest) && rest[i+1] == '"' {
			i++
			continue
		}
		return rest[:i+1]
	}
	return ""
}

// BuiltBy reports whether ix is the index r recommends: the one its DDL
// names (names are deterministic, see IndexDDL), or one on the same table
// with the same method, keys, INCLUDE columns and predicate, however named.
// Predicates are compared as text, so a partial index built by hand is
// recognized by its name only.
func (r *Recommendation) BuiltBy(ix collector.Index) bool {
	if ix.Table != r.Table {
		return false
	}
	if name := r.IndexName(); name != "" && collector.QuoteIdent(ix.Name) == name {
		return true
	}
	if !strings.EqualFold(ix.Method, r.Method) || !slices.Equal(ix.Include, r.Include) ||
		unparenthesize(ix.Predicate) != unparenthesize(r.Where) || len(ix.Keys) != len(r.Columns) {
		return false
	}
	for i, k := range ix.Keys {
		col, err := renderKey(k, false)
		if err != nil || col != r.Columns[i] {
			return false
		}
	}
	return true
}

// unparenthesize drops the parentheses pg_get_expr puts around a whole
// predicate.
func unparenthesize(s string) string {
	s = strings.TrimSpace(s)
	for len(s) >= 2 && s[0] == '(' && s[len(s)-1] == ')' && balanced(s[1:len(s)-1]) {
		s = strings.TrimSpace(s[1 : len(s)-1])
	}
	return s
}

// balanced reports whether the parentheses of s pair up, so "(a) AND (b)"
// keeps its outer pair.
func balanced(s string) bool {
	depth := 0
	for _, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			if depth--; depth < 0 {
				return false
			}
		}
	}
	return depth == 0
}
