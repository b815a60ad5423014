package explain

import (
	"context"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Full-text search: doc @@ plainto_tsquery($cfg, $text). The text gets a
// word of the column the document is made of, the configurations the
// database's default_text_search_config (the one a GIN index on the
// expression is proposed with).

// tsqueryFuncs take a configuration (optional, first) and a query text.
var tsqueryFuncs = map[string]bool{"plainto_tsquery": true, "phraseto_tsquery": true, "websearch_to_tsquery": true, "to_tsquery": true}

// textSearch records the parameters of doc @@ query.
func (s *synth) textSearch(doc, query *pg_query.Node, sc *paramScope) {
	col, ok := s.searchedColumn(doc, sc)
	if !ok {
		return
	}
	if p, typ, ok := paramOf(query); ok && typ == "tsquery" {
		s.addUse(p, paramUse{kind: useSearchWord, col: col})
		return
	}
	fc := query.GetFuncCall()
	if fc == nil || !tsqueryFuncs[funcRef(fc.Funcname).name] || len(fc.Args) == 0 || len(fc.Args) > 2 {
		return
	}
	if len(fc.Args) == 2 {
		s.configParam(fc.Args[0])
	}
	if p, _, ok := paramOf(fc.Args[len(fc.Args)-1]); ok {
		s.addUse(p, paramUse{kind: useSearchWord, col: col})
	}
}

// searchedColumn is the first text column doc's to_tsvector calls read
// (to_tsvector(cfg, title) || to_tsvector(cfg, body): title); their
// configuration parameters get the default configuration on the way.
func (s *synth) searchedColumn(doc *pg_query.Node, sc *paramScope) (columnTarget, bool) {
	var found columnTarget
	ok := false
	sqltree.Walk(doc, func(m proto.Message) bool {
		fc, isCall := m.(*pg_query.FuncCall)
		if !isCall || funcRef(fc.Funcname).name != "to_tsvector" || len(fc.Args) == 0 || len(fc.Args) > 2 {
			return true
		}
		if len(fc.Args) == 2 {
			s.configParam(fc.Args[0])
		}
		if col, isCol := s.columnOf(fc.Args[len(fc.Args)-1], sc); isCol && !ok && isText(col) {
			found, ok = col, true
		}
		return false
	})
	return found, ok
}

// configParam gives a configuration parameter the default configuration.
func (s *synth) configParam(n *pg_query.Node) {
	if p, _, ok := paramOf(n); ok {
		cfg := "simple"
		if s.cat != nil && s.cat.Settings.TextSearchConfig != "" {
			cfg = s.cat.Settings.TextSearchConfig
		}
		s.addUse(p, paramUse{kind: useConst, value: cfg})
	}
}

func isText(c columnTarget) bool {
	t := c.column.Type
	return c.jsonKey == "" && c.keyParam == 0 && (t == "text" || strings.HasPrefix(t, "character varying") || strings.HasPrefix(t, "character("))
}

// searchWord is a word of a value of the column for a text search: the
// longest of at least four letters, a rare one more likely than a stop
// word; ok is false when the column's value has none.
func (s *synth) searchWord(ctx context.Context, conn *pgx.Conn, u paramUse) (string, string, bool, error) {
	text, source, ok, err := s.columnValue(ctx, conn, paramUse{kind: useEq, col: u.col})
	if err != nil || !ok {
		return "", "", false, err
	}
	best := ""
	for _, w := range strings.FieldsFunc(text, func(r rune) bool { return !unicode.IsLetter(r) }) {
		if n := utf8.RuneCountInString(w); n >= 4 && n > utf8.RuneCountInString(best) {
			best = w
		}
	}
	if best == "" {
		return "", "", false, nil
	}
	return strings.ToLower(best), "a word of " + source, true, nil
}
