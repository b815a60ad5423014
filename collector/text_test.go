package collector

import (
	"cmp"
	"testing"
)

func TestClassify(t *testing.T) {
	for _, tc := range []struct {
		query     string
		truncated bool
		prepared  string // the statement classified, when not query
		command   string
		utility   bool
		own       bool
		internal  bool
		problem   TextProblem
	}{
		{query: "SELECT * FROM t WHERE id = $1", command: "SELECT"},
		{query: "  -- leading comment\n/* block /* nested */ */ (select 1) UNION (select 2)", command: "SELECT"},
		{query: "WITH x AS (SELECT 1) SELECT * FROM x", command: "WITH"},
		{query: "insert into t values ($1, $2)", command: "INSERT"},
		{query: "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN DELETE", command: "MERGE"},
		{query: "BEGIN", command: "BEGIN", utility: true},
		{query: "commit", command: "COMMIT", utility: true},
		{query: "SET work_mem = $1", command: "SET", utility: true},
		{query: "SHOW search_path", command: "SHOW", utility: true},
		{query: "VACUUM ANALYZE t", command: "VACUUM", utility: true},
		{query: "analyze t", command: "ANALYZE", utility: true},
		{query: "EXPLAIN SELECT 1", command: "EXPLAIN", utility: true},
		{query: "/* pgadvisor */ SELECT calls FROM pg_stat_statements(false)", command: "SELECT", own: true},
		{query: "SELECT 1 /* pgadvisor */", command: "SELECT", own: true},
		{query: "<insufficient privilege>", problem: TextHidden},
		{query: "SELECT * FROM t WHERE a = 'it''s' AND b = E'\\'' AND c = \"we\"\"ird\"", command: "SELECT"},
		{query: "SELECT $$ ) ' $$, $tag$ ( $$ $tag$, a$b FROM t WHERE x = $1", command: "SELECT"},
		{query: "SELECT * FROM t WHERE name = 'abc", command: "SELECT", problem: TextUnparseable},
		{query: "SELECT * FROM t WHERE id IN (1, 2", command: "SELECT", problem: TextUnparseable},
		{query: "SELECT 1) FROM t", command: "SELECT", problem: TextUnparseable},
		{query: "SELECT 1 /* open", command: "SELECT", problem: TextUnparseable},
		{query: "SELECT $x$ open", command: "SELECT", problem: TextUnparseable},
		{query: "SELECT 1 -- trailing comment", command: "SELECT"},
		{query: `SELECT $2 FROM ONLY "public"."users" x WHERE "id" OPERATOR(pg_catalog.=) $1 FOR KEY SHARE OF x`, command: "SELECT", internal: true},
		{query: `SELECT max(oid) FROM pg_catalog.pg_class WHERE oid < $1`, command: "SELECT", internal: true},
		{query: `SELECT * FROM pg_catalog.pg_rewrite r JOIN pg_catalog.pg_class c ON c.oid = r.ev_class WHERE rulename = $1`, command: "SELECT", internal: true},
		{query: `SELECT * FROM pg_catalog.pg_class c JOIN public.t ON t.oid = c.oid`, command: "SELECT"},
		{query: `SELECT extract(epoch FROM now())`, command: "SELECT"},
		{query: "SELECT * FROM t x WHERE id = $1 FOR KEY SHARE OF x", command: "SELECT"},
		{query: "", problem: TextUnparseable},
		{query: "  ;", problem: TextUnparseable},
		{query: "SELECT * FROM t WHERE a IN ($1, $2, $3", truncated: true, command: "SELECT", problem: TextTruncated},
		// SQL-level PREPARE: pg_stat_statements counts the EXECUTEs under it.
		{query: "PREPARE heavy(text) AS SELECT id FROM items WHERE name = $1", prepared: "SELECT id FROM items WHERE name = $1", command: "SELECT"},
		{query: `prepare "as" (numeric(10, 2), "AS") as  update t set a = $1 where "as" = 'as'`, prepared: `update t set a = $1 where "as" = 'as'`, command: "UPDATE"},
		{query: "/* pgadvisor */ PREPARE p AS SELECT 1", prepared: "SELECT 1", command: "SELECT", own: true},
		{query: "PREPARE p AS VACUUM", prepared: "VACUUM", command: "VACUUM", utility: true},
		{query: "PREPARE p (int", command: "PREPARE", utility: true, problem: TextUnparseable},
	} {
		got := classify(tc.query, tc.truncated)
		want := Text{Query: cmp.Or(tc.prepared, tc.query), Command: tc.command, Utility: tc.utility, Own: tc.own, Internal: tc.internal, Problem: tc.problem}
		if *got != want {
			t.Errorf("classify(%q) = %+v, want %+v", tc.query, *got, want)
		}
	}
}

func TestTextCacheBound(t *testing.T) {
	c := newTextCache(10)
	for sample := range 5 {
		c.nextSample()
		for i := range 4 {
			k := Key{QueryID: int64(sample*4 + i)}
			if _, ok := c.get(k); !ok {
				c.put(k, &Text{Query: "q"})
			}
		}
		c.get(Key{}) // queryid 0 stays in use
	}
	c.nextSample()
	if len(c.texts) > 10 {
		t.Fatalf("cache holds %d texts, bound is 10", len(c.texts))
	}
	if _, ok := c.get(Key{}); !ok {
		t.Errorf("the text seen in every sample was evicted")
	}
	if _, ok := c.get(Key{QueryID: 1}); ok {
		t.Errorf("a text not seen since the first sample survived")
	}
}
