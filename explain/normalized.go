package explain

import (
	"regexp"
	"strings"
)

// typedParam matches a typed literal whose constant pg_stat_statements
// replaced with a parameter: date '2024-01-01' is stored as date $1, and
// interval '3' month as interval $2 month, which no longer parse.
var typedParam = regexp.MustCompile(`(?i)\b(date|time|timestamptz|timestamp(?:\s+with(?:out)?\s+time\s+zone)?|interval)\s+\$(\d+)(?:\s+(year|month|day|hour|minute|second)s?\b)?`)

// Reparseable rewrites the typed literals of a normalized text into casts
// (date $1 -> $1::date; interval $2 month -> ($2::text || ' month')::interval)
// so the text parses, plans and explains as the statement did. Quoted
// strings, quoted identifiers and comments are left as they are.
func Reparseable(query string) string {
	if !strings.Contains(query, "$") {
		return query
	}
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
	return typedParam.ReplaceAllStringFunc(code, func(m string) string {
		sub := typedParam.FindStringSubmatch(m)
		typ, n, unit := strings.ToLower(strings.Join(strings.Fields(sub[1]), " ")), sub[2], strings.ToLower(sub[3])
		if unit != "" {
			return "($" + n + "::text || ' " + unit + "')::interval"
		}
		return "$" + n + "::" + typ
	})
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
