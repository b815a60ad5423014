package advisor

import (
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
)

// IndexName is the name the recommendation's DDL gives the index on its
// table, as written there (quoted where needed, without the schema, which
// is the table's); "" when the DDL names none. A partitioned table's DDL
// names its partitions' indexes too, before the parent's when some
// partitions are foreign.
func (r *Recommendation) IndexName() string {
	const marker = " IF NOT EXISTS "
	rest := r.DDL
	for {
		var ok bool
		if _, rest, ok = strings.Cut(rest, marker); !ok {
			return ""
		}
		name := leadingName(rest)
		if name == "" {
			return ""
		}
		on := rest[len(name):]
		if r.Table == "" || strings.HasPrefix(on, " ON "+r.Table+" ") || strings.HasPrefix(on, " ON ONLY "+r.Table+" ") {
			return name
		}
	}
}

// leadingName is the identifier s starts with, quoted or not; "" when a
// quoted one is not terminated.
func leadingName(s string) string {
	if !strings.HasPrefix(s, `"`) {
		name, _, _ := strings.Cut(s, " ")
		return name
	}
	for i := 1; i < len(s); i++ { // a quoted name ends at a quote not doubled
		if s[i] != '"' {
			continue
		}
		if i+1 < len(s) && s[i+1] == '"' {
			i++
			continue
		}
		return s[:i+1]
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
