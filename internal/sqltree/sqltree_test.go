package sqltree

import (
	"slices"
	"testing"

	pg "github.com/pganalyze/pg_query_go/v5"
)

func parseExpr(t *testing.T, expr string) *pg.Node {
	t.Helper()
	tree, err := pg.Parse("SELECT " + expr)
	if err != nil {
		t.Fatal(err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()
}

func TestWalkNodes(t *testing.T) {
	root := parseExpr(t, "lower(a.x) = 'k' AND y IN (1, coalesce(z, 2))")
	var cols []string
	visitedRoot := false
	WalkNodes(root, func(n *pg.Node) bool {
		visitedRoot = visitedRoot || n == root
		if cr := n.GetColumnRef(); cr != nil {
			cols = append(cols, cr.Fields[len(cr.Fields)-1].GetString_().GetSval())
		}
		return n.GetFuncCall() == nil // skip what functions take
	})
	if !visitedRoot {
		t.Error("the root was not visited")
	}
	if want := []string{"y", "z"}; !slices.Equal(cols, want) {
		t.Errorf("columns visited %q, want %q (x is under lower(), skipped; z is in an IN list, under coalesce)", cols, want)
	}
}

func TestDeparseUnqualify(t *testing.T) {
	n := parseExpr(t, "(t.a || u.b) @@ to_tsquery('simple', 'x')")
	Unqualify(n)
	if got, want := Deparse(n), "(a || b) @@ to_tsquery('simple', 'x')"; got != want {
		t.Errorf("Deparse = %q, want %q", got, want)
	}
	if got := Deparse(&pg.Node{}); got != "" {
		t.Errorf("Deparse of an empty node = %q, want \"\"", got)
	}
}

func TestReplaceChildren(t *testing.T) {
	// Replace each column by its last name as a string constant, recursing
	// into everything else: the columns under the function and in the IN
	// list are reached through FuncCall and A_Expr, which are not Nodes.
	var quote func(n *pg.Node) *pg.Node
	quote = func(n *pg.Node) *pg.Node {
		if cr := n.GetColumnRef(); cr != nil {
			return pg.MakeAConstStrNode(cr.Fields[len(cr.Fields)-1].GetString_().GetSval(), 0)
		}
		ReplaceChildren(n, quote)
		return n
	}
	n := parseExpr(t, "lower(a.x) = y AND z IN (1, 2)")
	ReplaceChildren(n, quote)
	if got, want := Deparse(n), "lower('x') = 'y' AND 'z' IN (1, 2)"; got != want {
		t.Errorf("after ReplaceChildren: %q, want %q", got, want)
	}
	ReplaceChildren(nil, quote) // no panic
}

func TestStatements(t *testing.T) {
	script := "SET lock_timeout = '5s';\n-- a note\n-- on two lines\nDO $ddl$BEGIN\n  RAISE EXCEPTION 'a;b';\nEND$ddl$;\nCREATE INDEX CONCURRENTLY x ON t (a);\n-- trailing note\n"
	got, err := Statements(script)
	want := []string{"SET lock_timeout = '5s'", "DO $ddl$BEGIN\n  RAISE EXCEPTION 'a;b';\nEND$ddl$", "CREATE INDEX CONCURRENTLY x ON t (a)"}
	if err != nil || !slices.Equal(got, want) {
		t.Errorf("Statements = %q, %v; want %q", got, err, want)
	}
	if _, err := Statements("SELECT 'unterminated"); err == nil {
		t.Error("want an error for a script that does not parse")
	}
}

func TestLineBreakInQuote(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want bool
	}{
		{"CREATE INDEX ON t (a)\n  WHERE b = 'x';", false},
		{"CREATE INDEX ON t (a) WHERE b = 'x\ny';", true},
		{"SELECT 'it''s'\n, 1", false},
		{"SELECT 'a\\'\n, 1", false},     // a backslash escapes nothing in a standard string
		{"SELECT 'unterminated\n", true}, // does not scan: left as it is
		{"SELECT E'a\\'\nb'", true},
		{"SELECT \"odd\nname\" FROM t", true},
		{"SELECT U&\"odd\nname\" FROM t", true},
		{"SELECT U&'a\nb' FROM t", true},
		{"SELECT U&'ab'\nFROM t", true}, // its end is not known: shown as it is
		{"SELECT $q$a\nb$q$", true},
		{"SELECT $1,\n'x'", false},
		{"-- the partition's index\nSELECT 1", false},
		{"/* it's /* nested */ still */\nSELECT 'x'", false},
		{"DO $ddl$BEGIN\n  RAISE NOTICE 'x';\nEND$ddl$;", false}, // a DO block's body is code
		{"DO $ddl$BEGIN\n  CREATE INDEX ON t (a) WHERE b = 'x\ny';\nEND$ddl$;", true},
		{"DO $ddl$BEGIN\n  PERFORM $s$x\ny$s$;\nEND$ddl$;", true},
	} {
		if got := LineBreakInQuote(tc.sql); got != tc.want {
			t.Errorf("LineBreakInQuote(%q) = %v, want %v", tc.sql, got, tc.want)
		}
	}
}

// The names PostgreSQL 15 printed for this select list (psql, a table t
// of a, b, y int, x date, c text), but for the last two.
func TestOutputName(t *testing.T) {
	const sql = `SELECT a, t.b, abs(a), x::date, 1::int, a::text::int, CASE WHEN true THEN 1 END,
		CASE WHEN true THEN 1 ELSE y END, coalesce(a,b), greatest(a,b), least(a,b), ARRAY[1], ARRAY(SELECT 1),
		(SELECT z FROM (SELECT 1 z) s), (SELECT 1), EXISTS(SELECT 1), ROW(1,2), nullif(a,b), current_date,
		current_user, current_timestamp(2), 1+2, a AS q, (ROW(1,2)).f1, c COLLATE "C", a IN (1), 'x'::text, -a,
		a IS NULL, localtime, session_user, current_schema, current_catalog, user, t.*,
		xmlconcat('<a/>', '<b/>'), xmlelement(name foo), xmlforest(a), xmlparse(content '<x/>'), xmlpi(name php),
		xmlroot('<x/>', version '1.0'), xmlserialize(content '<x/>' AS text), '<x/>'::xml IS DOCUMENT,
		(SELECT a FROM t UNION SELECT 1 LIMIT 1), (SELECT a FROM t UNION SELECT 1 LIMIT 1)::text, (VALUES (1)),
		(SELECT * FROM (SELECT 1 AS z) q), (SELECT * FROM (SELECT 1 AS z) q)::text FROM t`
	want := []string{"a", "b", "abs", "x", "int4", "a", "case", "y", "coalesce", "greatest", "least", "array", "array",
		"z", "?column?", "exists", "row", "nullif", "current_date", "current_user", "current_timestamp", "?column?",
		"q", "f1", "c", "?column?", "text", "?column?", "?column?", "localtime", "session_user", "current_schema",
		"current_catalog", "user", "",
		"xmlconcat", "xmlelement", "xmlforest", "xmlparse", "xmlpi", "xmlroot", "xmlserialize", "?column?",
		"a", "a", "column1",
		"", ""} // z: the name of a column * selects, which the parse tree does not hold
	tree, err := pg.Parse(sql)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, target := range tree.Stmts[0].Stmt.GetSelectStmt().TargetList {
		got = append(got, OutputName(target.GetResTarget()))
	}
	if !slices.Equal(got, want) {
		t.Errorf("got  %q\nwant %q", got, want)
	}
	// (row).* stands for several columns, as * does.
	if got := OutputName(parseTarget(t, "(t).*")); got != "" {
		t.Errorf("(t).* is named %q", got)
	}
}

func parseTarget(t *testing.T, expr string) *pg.ResTarget {
	t.Helper()
	tree, err := pg.Parse("SELECT " + expr + " FROM t")
	if err != nil {
		t.Fatal(err)
	}
	return tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()[0].GetResTarget()
}
