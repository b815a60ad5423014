package collector

import (
	"cmp"
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// Text is a statement's normalized text and what the collector concluded
// from it.
type Text struct {
	Query   string
	Command string // first keyword, upper case (SELECT, UPDATE, VACUUM, ...); "" when there is none
	Utility bool   // not a query the planner optimizes (BEGIN, SET, VACUUM, EXPLAIN, ...): never ranked
	Own     bool   // carries the pgadvisor marker: the advisor's own statement, never ranked
	// Internal marks the row check a foreign-key trigger runs (SELECT 1 FROM
	// ONLY pk x WHERE ... FOR KEY SHARE OF x): never ranked, an index on the
	// referenced key always serves it, and its cost belongs to the writes.
	// It also marks a SELECT that reads only pg_catalog tables, such as
	// those HypoPG and pg_get_viewdef() run inside the advisor's calls: no
	// index can be added to the catalog.
	Internal bool
	Problem  TextProblem
}

// TextProblem says why a text cannot be trusted; "" when it can.
type TextProblem string

// Text problems.
const (
	TextOK          TextProblem = ""
	TextHidden      TextProblem = "hidden"      // <insufficient privilege>
	TextMissing     TextProblem = "missing"     // pg_stat_statements has no text for the entry
	TextTruncated   TextProblem = "truncated"   // longer than SamplerOptions.MaxTextLength
	TextUnparseable TextProblem = "unparseable" // unterminated quote or comment, unbalanced parentheses, no keyword
)

// hiddenText is what pg_stat_statements shows instead of another role's text.
const hiddenText = "<insufficient privilege>"

var marker = strings.TrimSpace(dbconn.Marker)

// optimizable are the first keywords of statements the planner plans and
// an index can help; every other statement is a utility statement.
var optimizable = []string{"SELECT", "INSERT", "UPDATE", "DELETE", "MERGE", "WITH", "VALUES", "TABLE"}

// classify inspects a text once, when it is first fetched. truncated says
// the server had more than query.
func classify(query string, truncated bool) *Text {
	t := &Text{Query: query, Own: strings.Contains(query, marker)}
	if query == hiddenText {
		t.Problem = TextHidden
		return t
	}
	keyword, balanced := scanText(query)
	if inner, ok := preparedQuery(query); ok && keyword == "PREPARE" && balanced {
		// Its EXECUTEs run the statement: ranked and explained as it.
		t = classify(inner, truncated)
		t.Own = t.Own || strings.Contains(query, marker)
		return t
	}
	t.Command = keyword
	t.Utility = keyword != "" && !slices.Contains(optimizable, keyword)
	t.Internal = keyword == "SELECT" && (strings.HasSuffix(query, " FOR KEY SHARE OF x") && strings.Contains(query, " FROM ONLY ") ||
		readsCatalogOnly(query))
	switch {
	case truncated:
		t.Problem = TextTruncated
	case keyword == "" || !balanced:
		t.Problem = TextUnparseable
	}
	return t
}

// readsCatalogOnly reports whether every table a query names after FROM or
// JOIN is pg_catalog-qualified. A lexer's check: a comma-separated FROM
// list is judged by its first item.
func readsCatalogOnly(query string) bool {
	fields := strings.Fields(query)
	found := false
	for i, f := range fields[:max(len(fields)-1, 0)] {
		if !strings.EqualFold(f, "FROM") && !strings.EqualFold(f, "JOIN") {
			continue
		}
		if !strings.HasPrefix(strings.ToLower(fields[i+1]), "pg_catalog.") {
			return false
		}
		found = true
	}
	return found
}

// scanText returns the first keyword of a statement, upper case, and
// whether its quotes, comments and parentheses are all closed.
func scanText(q string) (keyword string, balanced bool) {
	balanced = scanWords(q, func(w string, _, _ int) bool {
		if keyword == "" {
			keyword = strings.ToUpper(w)
		}
		return true
	})
	return keyword, balanced
}

// scanWords calls word with each word of q outside quotes, comments and
// parentheses, and the offset after it, until word returns false; it
// reports whether q's quotes, comments and parentheses all close (as far
// as it read). It is a lexer, not a parser: cheap enough to run on every
// new text.
func scanWords(q string, word func(w string, end, depth int) bool) (balanced bool) {
	depth := 0
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			end := strings.IndexByte(q[i:], '\n')
			if end < 0 {
				return depth == 0
			}
			i += end + 1
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			end := blockCommentEnd(q, i)
			if end < 0 {
				return false
			}
			i = end
		case c == '\'' || c == '"':
			end := quotedEnd(q, i+1, c, false)
			if end < 0 {
				return false
			}
			i = end
		case c == '$' && (i == 0 || !isIdentChar(q[i-1])):
			end, ok := dollarQuotedEnd(q, i)
			if !ok {
				return false
			}
			i = end
		case c == '(':
			depth++
			i++
		case c == ')':
			if depth--; depth < 0 {
				return false
			}
			i++
		case isIdentStart(c):
			j := i + 1
			for j < len(q) && isIdentChar(q[j]) {
				j++
			}
			if j < len(q) && q[j] == '\'' && (q[i:j] == "E" || q[i:j] == "e") {
				end := quotedEnd(q, j+1, '\'', true) // E'...' allows backslash escapes
				if end < 0 {
					return false
				}
				i = end
				continue
			}
			if !word(q[i:j], j, depth) {
				return depth == 0
			}
			i = j
		default:
			i++
		}
	}
	return depth == 0
}

// preparedQuery is the statement a PREPARE name [(types)] AS statement
// text prepares: pg_stat_statements counts its EXECUTEs under that text.
func preparedQuery(q string) (string, bool) {
	at := -1
	scanWords(q, func(w string, end, depth int) bool {
		if depth == 0 && strings.EqualFold(w, "AS") {
			at = end
			return false
		}
		return true
	})
	if at < 0 {
		return "", false
	}
	return strings.TrimSpace(q[at:]), true
}

// blockCommentEnd returns the index after the comment starting at i
// (comments nest in PostgreSQL), or -1 when it is not closed.
func blockCommentEnd(q string, i int) int {
	depth := 0
	for i < len(q)-1 {
		switch q[i : i+2] {
		case "/*":
			depth++
			i += 2
		case "*/":
			depth--
			i += 2
			if depth == 0 {
				return i
			}
		default:
			i++
		}
	}
	return -1
}

// quotedEnd returns the index after the closing quote of a literal whose
// body starts at i; a doubled quote is part of the body.
func quotedEnd(q string, i int, quote byte, backslash bool) int {
	for i < len(q) {
		switch q[i] {
		case '\\':
			if backslash {
				i++
			}
		case quote:
			if i+1 < len(q) && q[i+1] == quote {
				i++
			} else {
				return i + 1
			}
		}
		i++
	}
	return -1
}

// dollarQuotedEnd handles '$' at i: a parameter ($1), a dollar-quoted
// string ($$...$$, $tag$...$tag$) or a lone '$'. ok is false for an
// unterminated string.
func dollarQuotedEnd(q string, i int) (end int, ok bool) {
	j := i + 1
	if j < len(q) && isIdentStart(q[j]) {
		for j < len(q) && isIdentChar(q[j]) && q[j] != '$' {
			j++
		}
	}
	if j >= len(q) || q[j] != '$' {
		return i + 1, true // $1 or a stray '$': not a quote
	}
	tag := q[i : j+1]
	close := strings.Index(q[j+1:], tag)
	if close < 0 {
		return 0, false
	}
	return j + 1 + close + len(tag), true
}

func isIdentStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isIdentChar(c byte) bool { return isIdentStart(c) || c >= '0' && c <= '9' || c == '$' }

// textCache keeps the texts of the entries seen lately, so texts are
// fetched once per entry. Entries not seen for the longest are dropped
// when it outgrows max. Texts are kept by entry, not by queryid: entries
// of one queryid can have different texts, such as the application's
// statement and the advisor's PREPARE of it.
type textCache struct {
	max    int
	sample uint64 // number of the current sample
	texts  map[Key]cachedText
}

type cachedText struct {
	text *Text
	seen uint64 // last sample that had the entry
}

func newTextCache(max int) *textCache {
	return &textCache{max: max, texts: make(map[Key]cachedText)}
}

// get returns the text of an entry and marks it seen in this sample.
func (c *textCache) get(k Key) (*Text, bool) {
	ct, ok := c.texts[k]
	if ok && ct.seen != c.sample {
		ct.seen = c.sample
		c.texts[k] = ct
	}
	return ct.text, ok
}

func (c *textCache) put(k Key, t *Text) {
	c.texts[k] = cachedText{text: t, seen: c.sample}
}

// nextSample starts a sample, first trimming the cache to 90% of max
// (least recently seen first) so trimming is rare.
func (c *textCache) nextSample() {
	c.sample++
	if len(c.texts) <= c.max {
		return
	}
	type aged struct {
		key  Key
		seen uint64
	}
	all := make([]aged, 0, len(c.texts))
	for k, ct := range c.texts {
		all = append(all, aged{k, ct.seen})
	}
	slices.SortFunc(all, func(a, b aged) int { return cmp.Compare(a.seen, b.seen) })
	for _, a := range all[:len(all)-c.max*9/10] {
		delete(c.texts, a.key)
	}
}
