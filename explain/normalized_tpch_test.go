package explain

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// tpchDir holds the TPC-H schema and queries, beside the repository.
const tpchDir = "../../shared/bench/tpch"

// tpchQuery is one statement of the TPC-H query file.
type tpchQuery struct {
	name string // Q1 ... Q22, with a suffix for Q15's further statements
	text string
	kind string // parse tree node of the statement, e.g. SelectStmt
}

var tpchHeading = regexp.MustCompile(`(?m)^-- (Q\d+)\s*$`)

// readTPCH returns the statements of the TPC-H schema and query files, or
// skips the test when the files are not there.
func readTPCH(t *testing.T) (schema []string, queries []tpchQuery) {
	t.Helper()
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(tpchDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			t.Skipf("TPC-H files not found in %s: %v", tpchDir, err)
		}
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	split := func(sql string) []string {
		stmts, err := pg_query.SplitWithParser(sql, true)
		if err != nil {
			t.Fatalf("split TPC-H statements: %v", err)
		}
		return stmts
	}
	schema = split(read("schema.sql"))
	text := read("queries_sf1.sql")
	headings := tpchHeading.FindAllStringSubmatchIndex(text, -1)
	for i, h := range headings {
		end := len(text)
		if i+1 < len(headings) {
			end = headings[i+1][0]
		}
		for j, stmt := range split(text[h[1]:end]) {
			name := text[h[2]:h[3]]
			if j > 0 {
				name += fmt.Sprintf(".%d", j+1)
			}
			tree, err := pg_query.Parse(stmt)
			if err != nil || len(tree.Stmts) != 1 {
				t.Fatalf("%s: parse: %v", name, err)
			}
			queries = append(queries, tpchQuery{name: name, text: stmt, kind: nodeKind(tree.Stmts[0].Stmt)})
		}
	}
	if len(headings) != 22 {
		t.Fatalf("found %d TPC-H queries in queries_sf1.sql, want 22", len(headings))
	}
	return schema, queries
}

// TestReparseableTPCH runs the 22 TPC-H queries on an empty schema so that
// pg_stat_statements records them, reads their normalized texts back and
// checks that each one, after Reparseable, gets a generic plan: PREPARE
// must accept it. Utility statements (Q15's CREATE and DROP VIEW) are not
// normalized and are not checked.
func TestReparseableTPCH(t *testing.T) {
	schema, queries := readTPCH(t)
	db := gateDatabase(t, "tpch_normalized", schema...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	conn := connect(t, sandbox.DSN(db))

	// The explained statement has the same queryid, nested in the EXPLAIN.
	const normalizedSQL = `SELECT query FROM pg_stat_statements
		WHERE queryid = $1 AND toplevel AND dbid = (SELECT oid FROM pg_database WHERE datname = current_database())`
	var normalized []tpchQuery // the SELECTs as pg_stat_statements shows them
	for _, q := range queries {
		// A DROP VIEW would leave the view's readers nothing to prepare against.
		if q.kind == "DropStmt" {
			continue
		}
		// The simple protocol, as psql sends them.
		if _, err := conn.PgConn().Exec(ctx, q.text).ReadAll(); err != nil {
			t.Fatalf("%s: run: %v", q.name, err)
		}
		if q.kind != "SelectStmt" {
			continue
		}
		out, err := execValue(ctx, conn, "EXPLAIN (VERBOSE, FORMAT JSON) "+q.text, nil)
		if err != nil {
			t.Fatalf("%s: explain: %v", q.name, err)
		}
		plan, err := ParsePlan(out)
		if err != nil {
			t.Fatalf("%s: %v", q.name, err)
		}
		if plan.QueryID == "" {
			t.Fatalf("%s: EXPLAIN VERBOSE shows no Query Identifier: is compute_query_id on?", q.name)
		}
		text := queryRow[string](t, conn, normalizedSQL, plan.QueryID.String())
		// Only a statement without constants keeps its text.
		if constants, _ := pg_query.Normalize(q.text); text == q.text && constants != q.text {
			t.Errorf("%s: pg_stat_statements did not normalize the text: %s", q.name, text)
		}
		normalized = append(normalized, tpchQuery{name: q.name, text: text, kind: q.kind})
	}
	if len(normalized) != 22 {
		t.Fatalf("found %d TPC-H SELECT statements, want 22", len(normalized))
	}

	r := NewRunner(nil, RunnerOptions{})
	for _, q := range normalized {
		if _, err := r.PlanOnly(ctx, conn, q.text, nil); err != nil {
			t.Logf("%s as normalized: %v", q.name, err)
		}
		if _, err := r.PlanOnly(ctx, conn, Reparseable(q.text), nil); err != nil {
			t.Errorf("%s: %v\nnormalized: %s\nreparseable: %s", q.name, err, q.text, Reparseable(q.text))
		}
	}
}
