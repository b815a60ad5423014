package advisor

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// testCatalog is a small multi-tenant schema with statistics, built by
// hand so that the parse-tree tests need no server.
func testCatalog() *collector.Catalog {
	stats := func(nd float64, width int32) *collector.ColumnStats {
		return &collector.ColumnStats{NDistinct: nd, AvgWidth: width}
	}
	col := func(name, typ string, s *collector.ColumnStats) collector.Column {
		return collector.Column{Name: name, Type: typ, Stats: s}
	}
	cat := &collector.Catalog{
		Database:   "app",
		Settings:   collector.PlanSettings{SearchPath: `"$user", public, app`, TextSearchConfig: "pg_catalog.english"},
		Extensions: map[string]string{"pg_trgm": "1.6"},
		Tables: []collector.Table{
			{Schema: "public", Name: "orders", Kind: "r", RelTuples: 1e6, HasPrimaryKey: true, Columns: []collector.Column{
				col("id", "bigint", stats(-1, 8)),
				col("tenant_id", "bigint", stats(100, 8)),
				col("customer_id", "bigint", stats(-0.1, 8)),
				col("status", "text", stats(5, 6)),
				col("created_at", "timestamp with time zone", stats(-0.9, 8)),
				col("total", "numeric", stats(-0.5, 7)),
				col("deleted_at", "timestamp with time zone", &collector.ColumnStats{NDistinct: -0.01, NullFrac: 0.9, AvgWidth: 8}),
				col("archived", "boolean", stats(2, 1)),
				col("payload", "jsonb", stats(-1, 300)),
				col("tags", "text[]", stats(-0.5, 40)),
				col("note", "text", stats(-1, 200)),
				col("day", "timestamp without time zone", stats(-0.3, 8)),
			}},
			{Schema: "public", Name: "customers", Kind: "r", RelTuples: 1e5, HasPrimaryKey: true, Columns: []collector.Column{
				col("id", "bigint", stats(-1, 8)),
				col("tenant_id", "bigint", stats(100, 8)),
				col("name", "text", stats(-0.8, 20)),
				col("email", "character varying(255)", stats(-1, 24)),
			}},
			{Schema: "public", Name: "Users", Kind: "r", RelTuples: 5e4, HasPrimaryKey: true, Columns: []collector.Column{
				col("id", "bigint", stats(-1, 8)),
				col("Email", "text", stats(-1, 24)),
				col("name", "text", stats(-0.7, 12)),
			}},
			{Schema: "public", Name: "docs", Kind: "r", RelTuples: 2e5, Columns: []collector.Column{
				col("id", "bigint", stats(-1, 8)),
				col("title", "text", stats(-0.9, 40)),
				col("body", "text", stats(-1, 2000)),
				col("language", "regconfig", stats(3, 8)),
			}},
			{Schema: "app", Name: "events", Kind: "r", RelTuples: 3e6, HasPrimaryKey: true, Columns: []collector.Column{
				col("id", "bigint", stats(-1, 8)),
				col("account_id", "bigint", stats(5000, 8)),
				col("kind", "text", stats(12, 8)),
				col("occurred_at", "timestamp with time zone", stats(-1, 8)),
			}},
			{Schema: "public", Name: "memberships", Kind: "r", RelTuples: 1e6, HasPrimaryKey: true, Columns: []collector.Column{
				col("user_id", "bigint", stats(-0.1, 8)),
				col("group_id", "bigint", stats(1000, 8)),
			}},
			{Schema: "public", Name: "measurements", Kind: "p", Partitions: []string{"public.measurements_2024"}, Columns: []collector.Column{
				col("sensor_id", "integer", nil),
				col("taken_at", "timestamp with time zone", nil),
				col("value", "double precision", nil),
			}},
			{Schema: "public", Name: "measurements_2024", Kind: "r", Parent: "public.measurements", RelTuples: 1e6, Columns: []collector.Column{
				col("sensor_id", "integer", stats(1000, 4)),
				col("taken_at", "timestamp with time zone", stats(-1, 8)),
				col("value", "double precision", stats(-1, 8)),
			}},
		},
		Indexes: []collector.Index{
			{Schema: "public", Name: "orders_pkey", Table: "public.orders", Method: "btree", Primary: true, Unique: true, Constraint: true, Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "id"}}},
			{Schema: "public", Name: "customers_pkey", Table: "public.customers", Method: "btree", Primary: true, Unique: true, Constraint: true, Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "id"}}},
			{Schema: "public", Name: "Users_pkey", Table: `public."Users"`, Method: "btree", Primary: true, Unique: true, Constraint: true, Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "id"}}},
			{Schema: "public", Name: "memberships_pkey", Table: "public.memberships", Method: "btree", Primary: true, Unique: true, Constraint: true, Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "user_id"}, {Column: "group_id"}}},
			{Schema: "app", Name: "events_pkey", Table: "app.events", Method: "btree", Primary: true, Unique: true, Constraint: true, Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "id"}}},
			// Serves equality on customer_id and a range on created_at.
			{Schema: "public", Name: "orders_customer_created", Table: "public.orders", Method: "btree", Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "customer_id"}, {Column: "created_at", Desc: true, NullsFirst: true}}},
			// Invalid: must not count as serving anything.
			{Schema: "public", Name: "customers_name_broken", Table: "public.customers", Method: "btree", Valid: false,
				Keys: []collector.IndexKey{{Column: "name"}}},
			// Expression index as pg_get_indexdef prints it.
			{Schema: "public", Name: "customers_lower_email", Table: "public.customers", Method: "btree", Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Expression: "lower((email)::text)"}}},
			// Built on the partition by hand, not on the parent: it serves
			// queries on the parent all the same.
			{Schema: "public", Name: "measurements_2024_value", Table: "public.measurements_2024", Method: "btree", Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "value"}}},
			// Partial index as pg_get_expr prints its predicate.
			{Schema: "app", Name: "events_signup", Table: "app.events", Method: "btree", Valid: true, Ready: true,
				Keys: []collector.IndexKey{{Column: "account_id"}}, Predicate: "(kind = 'signup'::text)"},
		},
		// As pg_get_viewdef prints them: a view, and a view over it joined to a table.
		Views: []collector.View{
			{Schema: "public", Name: "live_orders", Definition: " SELECT orders.id,\n    orders.tenant_id AS tenant,\n    orders.created_at\n   FROM orders\n  WHERE (orders.deleted_at IS NULL);"},
			{Schema: "app", Name: "tenant_customers", Definition: " SELECT l.tenant,\n    c.email\n   FROM (live_orders l\n     JOIN customers c ON ((c.id = l.id)));"},
		},
	}
	return cat
}

// describe prints a candidate compactly:
// "public.orders btree (tenant_id, created_at DESC) INCLUDE (total) WHERE ...".
func describe(c Candidate) string {
	var keys []string
	for _, k := range c.Keys {
		s := k.Column
		if s == "" {
			s = k.Expression
		} else {
			s = collector.QuoteIdent(s)
		}
		switch {
		case k.Desc && !k.NullsFirst:
			s += " DESC NULLS LAST"
		case k.Desc:
			s += " DESC"
		case k.NullsFirst:
			s += " NULLS FIRST"
		}
		if k.OpClass != "" {
			s += " " + k.OpClass
		}
		keys = append(keys, s)
	}
	out := fmt.Sprintf("%s %s (%s)", c.Table, c.Method, strings.Join(keys, ", "))
	if len(c.Include) > 0 {
		out += " INCLUDE (" + strings.Join(c.Include, ", ") + ")"
	}
	if c.Where != "" {
		out += " WHERE " + c.Where
	}
	return out
}

func describeAll(cs []Candidate) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = describe(c)
	}
	return out
}

func TestCandidates(t *testing.T) {
	cat := testCatalog()
	tests := []struct {
		name  string
		query string
		want  []string // each must be among the candidates
		not   []string // none of these may be
		none  bool     // no candidate at all
		why   string   // in every candidate's Why
	}{
		{
			name:  "equality then range, most selective first",
			query: "SELECT id FROM orders WHERE status = $1 AND tenant_id = $2 AND created_at >= $3",
			want: []string{
				"public.orders btree (tenant_id, status)",
				"public.orders btree (tenant_id, status, created_at)",
			},
		},
		{
			name:  "alias and IN / ANY",
			query: "SELECT o.total FROM orders AS o WHERE o.tenant_id IN ($1, $2) AND o.status = ANY($3)",
			want:  []string{"public.orders btree (tenant_id, status)"},
		},
		{
			name:  "an OR of equalities on one column leads like an IN list",
			query: "SELECT id FROM orders WHERE (tenant_id = $1 OR tenant_id = $2) AND created_at >= $3",
			want:  []string{"public.orders btree (tenant_id, created_at)"},
		},
		{
			name:  "BETWEEN is a range",
			query: "SELECT count(*) FROM orders WHERE tenant_id = $1 AND created_at BETWEEN $2 AND $3",
			want:  []string{"public.orders btree (tenant_id, created_at)"},
		},
		{
			name:  "LIKE prefix uses the pattern opclass",
			query: "SELECT id FROM customers WHERE tenant_id = $1 AND name LIKE 'Jo%'",
			want:  []string{"public.customers btree (tenant_id, name text_pattern_ops)"},
		},
		{
			name:  "LIKE with a parameter is a prefix range",
			query: "SELECT id FROM customers WHERE name LIKE $1",
			want:  []string{"public.customers btree (name text_pattern_ops)"},
		},
		{
			name:  "ORDER BY DESC NULLS LAST with LIMIT",
			query: "SELECT id, total FROM orders WHERE tenant_id = $1 ORDER BY created_at DESC NULLS LAST LIMIT $2",
			want: []string{
				"public.orders btree (tenant_id, created_at DESC NULLS LAST)",
				"public.orders btree (tenant_id, created_at DESC NULLS LAST) INCLUDE (id, total)",
			},
		},
		{
			name:  "uniform DESC uses an ascending index",
			query: "SELECT * FROM orders WHERE tenant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 20",
			want:  []string{"public.orders btree (tenant_id, created_at, id)"},
		},
		{
			name:  "mixed directions stay explicit",
			query: "SELECT * FROM orders WHERE tenant_id = $1 ORDER BY status, created_at DESC LIMIT 20",
			want:  []string{"public.orders btree (tenant_id, status, created_at DESC)"},
		},
		{
			name:  "soft delete gives a partial index",
			query: "SELECT id, status FROM orders WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2",
			want: []string{
				"public.orders btree (tenant_id, created_at) WHERE deleted_at IS NULL",
				"public.orders btree (tenant_id, created_at) INCLUDE (id, status) WHERE deleted_at IS NULL",
			},
			// 90% of deleted_at is NULL: as a key it narrows nothing.
			not: []string{"public.orders btree (tenant_id, deleted_at)", "public.orders btree (tenant_id, deleted_at, created_at)"},
		},
		{
			name:  "IS NULL on a column of few NULLs is a key",
			query: "SELECT id FROM orders WHERE tenant_id = $1 AND note IS NULL",
			want:  []string{"public.orders btree (note, tenant_id)"},
		},
		{
			name:  "boolean column and a literal left in the text",
			query: "SELECT id FROM orders WHERE NOT archived AND status = 'open' AND tenant_id = $1",
			want:  []string{"public.orders btree (tenant_id) WHERE NOT archived AND status = 'open'"},
		},
		{
			name:  "jsonb containment uses jsonb_path_ops",
			query: "SELECT id FROM orders WHERE payload @> $1",
			want:  []string{"public.orders gin (payload jsonb_path_ops)"},
		},
		{
			name:  "jsonb key existence needs jsonb_ops",
			query: "SELECT id FROM orders WHERE payload @> $1 AND payload ? 'vip'",
			want:  []string{"public.orders gin (payload)"},
			not:   []string{"public.orders gin (payload jsonb_path_ops)"},
		},
		{
			name:  "array overlap",
			query: "SELECT id FROM orders WHERE tags && $1::text[]",
			want:  []string{"public.orders gin (tags)"},
		},
		{
			name:  "full-text search on the exact expression",
			query: "SELECT id, title FROM docs WHERE to_tsvector('english', title) @@ to_tsquery($1)",
			want:  []string{"public.docs gin (to_tsvector('english', title))"},
		},
		{
			name:  "full-text search over two columns in a per-row configuration",
			query: "SELECT id FROM docs WHERE (to_tsvector(language, title) || to_tsvector(language, body)) @@ plainto_tsquery($2, $1)",
			want:  []string{"public.docs gin (to_tsvector(language, title) || to_tsvector(language, body))"},
		},
		{
			name:  "configuration hidden by pg_stat_statements: the database default is assumed",
			query: "SELECT id FROM docs WHERE to_tsvector($1, body) @@ plainto_tsquery($2, $3) LIMIT $4",
			want:  []string{"public.docs gin (to_tsvector('english'::regconfig, body))"},
			why:   "configuration english assumed",
		},
		{
			name:  "one-argument to_tsvector is not immutable",
			query: "SELECT id FROM docs WHERE to_tsvector(title) @@ to_tsquery($1)",
			none:  true,
		},
		{
			name:  "trigram for a leading wildcard",
			query: "SELECT id FROM docs WHERE title ILIKE $1",
			want:  []string{"public.docs gin (title gin_trgm_ops)"},
		},
		{
			name:  "expression index on lower()",
			query: "SELECT id FROM orders WHERE lower(note) = $1",
			want:  []string{"public.orders btree (lower(note))"},
		},
		{
			name:  "cast to date of a timestamp without time zone",
			query: "SELECT count(*) FROM orders WHERE day::date = $1",
			want:  []string{"public.orders btree (day::date)"},
		},
		{
			name:  "cast to date of a timestamptz is not immutable",
			query: "SELECT count(*) FROM orders WHERE created_at::date = $1",
			none:  true,
		},
		{
			name:  "cast to text of a COALESCE of timestamptz is not immutable",
			query: "SELECT count(*) FROM orders WHERE coalesce(created_at, created_at)::text = $1",
			none:  true,
		},
		{
			name:  "quoted mixed-case identifiers",
			query: `SELECT u."Email" FROM "Users" u WHERE u."Email" = $1`,
			want:  []string{`public."Users" btree ("Email")`},
		},
		{
			name:  "schema-qualified three-part reference",
			query: `SELECT public."Users".name FROM public."Users" WHERE public."Users"."Email" = $1`,
			want:  []string{`public."Users" btree ("Email")`},
		},
		{
			name:  "search_path finds app.events",
			query: "SELECT id FROM events WHERE account_id = $1 AND occurred_at > $2",
			want:  []string{"app.events btree (account_id, occurred_at)"},
		},
		{
			name:  "CTE body and the outer predicate on it",
			query: "WITH recent AS (SELECT id, tenant_id, created_at FROM orders WHERE created_at > $1) SELECT id FROM recent WHERE tenant_id = $2",
			want:  []string{"public.orders btree (tenant_id, created_at)"},
		},
		{
			name:  "subquery in FROM",
			query: "SELECT s.n FROM (SELECT customer_id AS c, count(*) AS n FROM orders WHERE tenant_id = $1 GROUP BY customer_id) s WHERE s.n > $2",
			want: []string{
				"public.orders btree (tenant_id)",
				"public.orders btree (tenant_id, customer_id)",
			},
		},
		{
			name:  "correlated EXISTS: the outer column is a parameter",
			query: "SELECT c.id FROM customers c WHERE c.tenant_id = $1 AND EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND o.status = $2)",
			want: []string{
				"public.customers btree (tenant_id)",
				"public.orders btree (customer_id, status)",
			},
		},
		{
			name:  "IN (subquery) makes join keys",
			query: "SELECT id FROM customers WHERE tenant_id IN (SELECT tenant_id FROM orders WHERE status = $1)",
			want: []string{
				"public.orders btree (status)",
				"public.orders btree (status, tenant_id)",
				"public.customers btree (tenant_id)",
			},
		},
		{
			name:  "scalar subquery",
			query: "SELECT id, (SELECT max(created_at) FROM orders o WHERE o.customer_id = c.id AND o.tenant_id = $1) FROM customers c",
			want:  []string{"public.orders btree (customer_id, tenant_id)"},
		},
		{
			name:  "join: the inner side's join key",
			query: "SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.tenant_id = $1 AND o.status = $2",
			want: []string{
				"public.customers btree (tenant_id)",
				"public.orders btree (status)",
			},
			not: []string{
				"public.customers btree (id)",       // the primary key
				"public.orders btree (customer_id)", // orders_customer_created leads with it
			},
		},
		{
			name:  "join: a covering probe where the primary key serves the join",
			query: "SELECT o.total, c.name, c.email FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.status = $1",
			want:  []string{"public.customers btree (id) INCLUDE (name, email)"},
			not:   []string{"public.customers btree (id)"},
		},
		{
			name:  "join: the covering probe keeps the side's partial predicate",
			query: "SELECT c.name, o.total, o.created_at FROM customers c JOIN orders o ON o.id = c.id WHERE c.tenant_id = $1 AND o.deleted_at IS NULL",
			want:  []string{"public.orders btree (id) INCLUDE (created_at, total) WHERE deleted_at IS NULL"},
			not: []string{"public.orders btree (id)", "public.orders btree (id) WHERE deleted_at IS NULL",
				"public.orders btree (deleted_at, id) INCLUDE (created_at, total)"}, // the partial one does better
		},
		{
			name:  "JOIN USING",
			query: "SELECT * FROM orders JOIN customers USING (tenant_id) WHERE customers.name = $1",
			want: []string{
				"public.orders btree (tenant_id)",
				"public.customers btree (name, tenant_id)",
			},
		},
		{
			name:  "existing index already serves the statement",
			query: "SELECT * FROM orders WHERE customer_id = $1 AND created_at > $2",
			not: []string{
				"public.orders btree (customer_id)",
				"public.orders btree (customer_id, created_at)",
			},
			none: true,
		},
		{
			name:  "existing index serves equality + ORDER BY either direction",
			query: "SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at LIMIT 10",
			none:  true,
		},
		{
			name:  "existing expression index serves lower(email)",
			query: "SELECT id FROM customers WHERE lower(email) = $1",
			none:  true,
		},
		{
			name:  "existing partial index with the statement's predicate serves it",
			query: "SELECT id FROM events WHERE kind = 'signup' AND account_id = $1",
			none:  true,
		},
		{
			name:  "primary key lookups need nothing",
			query: "SELECT * FROM orders WHERE id = $1",
			none:  true,
		},
		{
			name:  "a composite primary key serves its columns in either order when both are equalities",
			query: "SELECT 1 FROM memberships WHERE group_id = $1 AND user_id = $2",
			none:  true,
		},
		{
			name:  "a composite primary key in the other order does not serve ORDER BY its first column",
			query: "SELECT user_id FROM memberships WHERE group_id = $1 ORDER BY user_id LIMIT 10",
			want:  []string{"public.memberships btree (group_id, user_id)"},
		},
		{
			name:  "invalid index does not count",
			query: "SELECT id FROM customers WHERE name = $1",
			want:  []string{"public.customers btree (name)"},
		},
		{
			name:  "partitioned table: candidates on the parent",
			query: "SELECT value FROM measurements_2024 WHERE sensor_id = $1 AND taken_at > $2",
			want:  []string{"public.measurements btree (sensor_id, taken_at)"},
		},
		{
			name:  "partitioned table: an index on each partition serves",
			query: "SELECT sensor_id FROM measurements WHERE value = $1",
			none:  true,
		},
		{
			name:  "unknown relation and unknown column are skipped",
			query: "SELECT * FROM some_view v JOIN orders o ON o.id = v.order_id WHERE o.nonexistent = $1 AND o.tenant_id = $2",
			want:  []string{"public.orders btree (tenant_id)"},
		},
		{
			name:  "UPDATE and DELETE predicates",
			query: "UPDATE orders SET status = $1 WHERE tenant_id = $2 AND status = $3",
			want:  []string{"public.orders btree (tenant_id, status)"},
		},
		{
			name:  "GROUP BY after equality",
			query: "SELECT status, count(*) FROM orders WHERE tenant_id = $1 GROUP BY status",
			want:  []string{"public.orders btree (tenant_id, status)"},
		},
		{
			name:  "UNION arms analyzed separately",
			query: "SELECT id FROM orders WHERE tenant_id = $1 UNION ALL SELECT id FROM customers WHERE name = $2",
			want:  []string{"public.orders btree (tenant_id)", "public.customers btree (name)"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cs, err := Candidates(WorkloadStatement{QueryID: "42", Query: tc.query}, cat, nil)
			if err != nil {
				t.Fatalf("Candidates: %v", err)
			}
			got := describeAll(cs)
			if tc.none && len(got) > 0 {
				t.Errorf("want no candidates, got:\n  %s", strings.Join(got, "\n  "))
			}
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q; got:\n  %s", w, strings.Join(got, "\n  "))
				}
			}
			for _, n := range tc.not {
				if slices.Contains(got, n) {
					t.Errorf("unexpected %q", n)
				}
			}
			for _, c := range cs {
				if c.Why == "" || !strings.Contains(c.Why, tc.why) || !slices.Equal(c.QueryIDs, []string{"42"}) {
					t.Errorf("%s: Why %q, QueryIDs %v", describe(c), c.Why, c.QueryIDs)
				}
			}
			if dup := duplicates(got); len(dup) > 0 {
				t.Errorf("duplicate candidates: %v", dup)
			}
		})
	}
}

func duplicates(s []string) []string {
	var dup []string
	seen := map[string]bool{}
	for _, x := range s {
		if seen[x] {
			dup = append(dup, x)
		}
		seen[x] = true
	}
	return dup
}

func TestCandidatesBadInput(t *testing.T) {
	cat := testCatalog()
	for _, q := range []string{
		"SELEC * FROM orders",
		"SELECT * FROM orders WHERE (",
		"",
		"\x00\xff",
		strings.Repeat("(", 10000) + "1" + strings.Repeat(")", 10000),
		"SELECT $1::",
	} {
		cs, err := Candidates(WorkloadStatement{QueryID: "1", Query: q}, cat, nil)
		if q == "" {
			if err != nil || len(cs) != 0 {
				t.Errorf("empty query: %v, %v", cs, err)
			}
			continue
		}
		if err == nil {
			t.Errorf("%.40q: want an error, got %v", q, describeAll(cs))
		}
	}
	if _, err := Candidates(WorkloadStatement{Query: "SELECT 1"}, nil, nil); err == nil {
		t.Error("nil catalog: want an error")
	}
}

func TestCandidatesPlanHints(t *testing.T) {
	plan, err := explain.ParsePlan([]byte(`[{"Plan": {"Node Type": "Nested Loop", "Plans": [
		{"Node Type": "Seq Scan", "Parent Relationship": "Outer", "Relation Name": "customers", "Alias": "c"},
		{"Node Type": "Seq Scan", "Parent Relationship": "Inner", "Relation Name": "orders", "Alias": "o"}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	cs, err := Candidates(WorkloadStatement{Query: "SELECT * FROM customers c JOIN orders o ON o.tenant_id = c.tenant_id WHERE c.name = $1"}, testCatalog(), plan)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, c := range cs {
		if describe(c) == "public.orders btree (tenant_id)" {
			found = true
			if !strings.Contains(c.Why, "inner side of a nested loop") || !strings.Contains(c.Why, "seq scan") {
				t.Errorf("Why %q lacks the plan's hints", c.Why)
			}
		}
	}
	if !found {
		t.Errorf("no join-key candidate on orders: %v", describeAll(cs))
	}

	// A partitioned table's plan scans its partitions.
	plan, err = explain.ParsePlan([]byte(`{"Plan": {"Node Type": "Seq Scan", "Schema": "public", "Relation Name": "measurements_2024"}}`))
	if err != nil {
		t.Fatal(err)
	}
	cs, err = Candidates(WorkloadStatement{Query: "SELECT * FROM measurements WHERE sensor_id = $1"}, testCatalog(), plan)
	if err != nil || len(cs) != 1 || describe(cs[0]) != "public.measurements btree (sensor_id)" || !strings.HasSuffix(cs[0].Why, "; plan: seq scan") {
		t.Errorf("partitioned: %v %v, %v", describeAll(cs), cs, err)
	}
}

func TestWorkloadCandidates(t *testing.T) {
	cat := testCatalog()
	stmts := []WorkloadStatement{
		{QueryID: "2", Query: "SELECT * FROM orders WHERE tenant_id = $1 AND status = $2"},
		{QueryID: "1", Query: "SELECT id FROM orders o WHERE o.status = $1 AND o.tenant_id = $2"},
		{QueryID: "3", Query: "SELECT * FROM nope WHERE"},
		{QueryID: "4", Query: "SELECT * FROM events e JOIN customers c ON c.id = e.account_id", Tables: []string{"given"}},
	}
	cs := WorkloadCandidates(stmts, cat, nil)
	var shared *Candidate
	for i, c := range cs {
		if describe(c) == "public.orders btree (tenant_id, status)" {
			shared = &cs[i]
		}
	}
	if shared == nil {
		t.Fatalf("no shared candidate: %v", describeAll(cs))
	}
	if !slices.Equal(shared.QueryIDs, []string{"1", "2"}) {
		t.Errorf("QueryIDs %v, want [1 2]", shared.QueryIDs)
	}
	if dup := duplicates(describeAll(cs)); len(dup) > 0 {
		t.Errorf("duplicates: %v", dup)
	}
	if !slices.Equal(stmts[0].Tables, []string{"public.orders"}) || stmts[2].Tables != nil || !slices.Equal(stmts[3].Tables, []string{"given"}) {
		t.Errorf("Tables: %v / %v / %v", stmts[0].Tables, stmts[2].Tables, stmts[3].Tables)
	}
}

func TestWorkloadCandidatesMergeCovering(t *testing.T) {
	cat := testCatalog()
	stmts := []WorkloadStatement{
		{QueryID: "1", Query: "SELECT tenant_id FROM orders WHERE lower(status) = $1"},
		{QueryID: "2", Query: "SELECT total FROM orders WHERE lower(status) = $1"},
	}
	cs := WorkloadCandidates(stmts, cat, nil)
	got := describeAll(cs)
	want := "public.orders btree (lower(status)) INCLUDE (tenant_id, status, total)"
	i := slices.Index(got, want)
	if i < 0 {
		t.Fatalf("no merged covering candidate %q among:\n  %s", want, strings.Join(got, "\n  "))
	}
	if !slices.Equal(cs[i].QueryIDs, []string{"1", "2"}) || !strings.Contains(cs[i].Why, "2 covering candidates") {
		t.Errorf("merged candidate: QueryIDs %v, Why %q", cs[i].QueryIDs, cs[i].Why)
	}
	// Ranked the other way round, the statements give the same index: its
	// INCLUDE columns in the table's order, and so the same DDL and ID.
	slices.Reverse(stmts)
	if got := describeAll(WorkloadCandidates(stmts, cat, nil)); !slices.Contains(got, want) {
		t.Errorf("statements in reverse order: no %q among:\n  %s", want, strings.Join(got, "\n  "))
	}
}

func TestReferencedTables(t *testing.T) {
	cat := testCatalog()
	tests := []struct {
		query string
		want  []string
	}{
		{"SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id", []string{"public.orders", "public.customers"}},
		{`WITH x AS (SELECT * FROM "Users") SELECT * FROM x, events WHERE EXISTS (SELECT 1 FROM docs)`, []string{`public."Users"`, "app.events", "public.docs"}},
		{"INSERT INTO orders (id) SELECT id FROM customers", []string{"public.orders", "public.customers"}},
		{"DELETE FROM orders USING customers WHERE orders.customer_id = customers.id", []string{"public.orders", "public.customers"}},
		{"SELECT * FROM myview", nil},
		{"SELECT * FROM app.events, public.events", []string{"app.events"}},
		{"SELECT * FROM measurements_2024", []string{"public.measurements_2024", "public.measurements"}},
	}
	for _, tc := range tests {
		got, err := ReferencedTables(tc.query, cat)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("%s: got %v, %v; want %v", tc.query, got, err, tc.want)
		}
	}
	if _, err := ReferencedTables("SELECT FROM WHERE", cat); err == nil {
		t.Error("want a parse error")
	}
}

// TestCandidatesSandbox loads a real catalog (pg_get_indexdef and
// pg_get_expr output for existing indexes), checks that existing indexes
// suppress the candidates they serve, and builds each statement's
// candidates with IndexDDL to check that PostgreSQL accepts them and that
// the generic plan of the statement uses one.
func TestCandidatesSandbox(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	const db = "candidates"
	if err := c.CreateDatabase(ctx, db, "pg_trgm"); err != nil {
		t.Fatal(err)
	}
	err := c.Exec(ctx, db,
		`CREATE TABLE customers (id bigint PRIMARY KEY, email varchar(200), name text)`,
		`CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id int, customer_id bigint, status text, total numeric,
			created_at timestamptz, deleted_at timestamptz, day timestamp, payload jsonb, tags text[])`,
		`CREATE TABLE docs (id bigint PRIMARY KEY, title text)`,
		`INSERT INTO customers SELECT g, 'User' || g || '@example.com', md5(g::text) FROM generate_series(1, 20000) g`,
		`INSERT INTO orders SELECT g, g % 200, g % 20000, 's' || g % 9, g, now() - g * interval '1 min',
			CASE WHEN g % 10 = 0 THEN now() END, now() - g * interval '1 h', jsonb_build_object('k', g % 50), ARRAY['t' || g % 30]
			FROM generate_series(1, 20000) g`,
		`INSERT INTO docs SELECT g, md5(g::text) || ' title' FROM generate_series(1, 20000) g`,
		`CREATE INDEX customers_lower_email ON customers (lower(email))`,
		`CREATE INDEX orders_live_tenant ON orders (tenant_id) WHERE deleted_at IS NULL`,
		`CREATE INDEX orders_customer_created ON orders (customer_id, created_at DESC)`,
		`ANALYZE`,
	)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	cat, err := collector.LoadCatalog(ctx, conn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}

	for _, q := range []string{
		"SELECT id FROM customers WHERE lower(email) = $1",
		"SELECT id FROM orders WHERE tenant_id = $1 AND deleted_at IS NULL",
		"SELECT * FROM orders WHERE customer_id = $1 ORDER BY created_at LIMIT 5",
	} {
		cs, err := Candidates(WorkloadStatement{Query: q}, cat, nil)
		if err != nil || len(cs) > 0 {
			t.Errorf("%s: existing indexes serve it, got %v, %v", q, describeAll(cs), err)
		}
	}

	if _, err := conn.Exec(ctx, "SET enable_seqscan = off"); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"SELECT id, total FROM orders WHERE tenant_id = $1 AND status = $2 ORDER BY created_at DESC NULLS LAST LIMIT 10",
		"SELECT id FROM orders WHERE tenant_id = $1 AND status = 's1' AND deleted_at IS NOT NULL",
		"SELECT id FROM orders WHERE payload @> $1",
		"SELECT id FROM orders WHERE tags && $1",
		"SELECT count(*) FROM orders WHERE day::date = $1",
		"SELECT o.id FROM customers c JOIN orders o ON o.customer_id = c.id AND o.status = $2 WHERE c.name = $1",
		"SELECT id FROM customers WHERE name LIKE 'ab%'",
		"SELECT id FROM docs WHERE title ILIKE $1",
		"SELECT id FROM docs WHERE to_tsvector('english', title) @@ to_tsquery('english', $1)",
		`SELECT id FROM customers WHERE upper(email) = $1`,
	} {
		t.Run(q, func(t *testing.T) {
			cs, err := Candidates(WorkloadStatement{Query: q}, cat, nil)
			if err != nil || len(cs) == 0 {
				t.Fatalf("no candidates: %v", err)
			}
			built := buildCandidates(ctx, t, conn, cat, cs)
			used := genericPlanIndexes(ctx, t, conn, q)
			if !slices.ContainsFunc(used, func(ix string) bool { return built[ix] }) {
				t.Errorf("the plan uses %v, none of the candidates:\n  %s", used, strings.Join(describeAll(cs), "\n  "))
			}
		})
	}
}

// buildCandidates creates the candidates' indexes and drops them when the
// test ends; it returns the names of the indexes built.
func buildCandidates(ctx context.Context, t *testing.T, conn *pgx.Conn, cat *collector.Catalog, cs []Candidate) map[string]bool {
	t.Helper()
	names := func() map[string]bool {
		rows, err := conn.Query(ctx, "SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
		if err != nil {
			t.Fatal(err)
		}
		list, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, n := range list {
			m[n] = true
		}
		return m
	}
	before := names()
	for _, cand := range cs {
		script, err := IndexDDL(cat, cand)
		if err != nil {
			t.Fatalf("%s: %v", describe(cand), err)
		}
		for _, stmt := range script.Statements {
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: %s: %v", describe(cand), stmt, err)
			}
		}
	}
	built := map[string]bool{}
	for n := range names() {
		if !before[n] {
			built[n] = true
		}
	}
	t.Cleanup(func() {
		for n := range built {
			if _, err := conn.Exec(context.Background(), "DROP INDEX "+pgx.Identifier{n}.Sanitize()); err != nil {
				t.Errorf("drop %s: %v", n, err)
			}
		}
	})
	if _, err := conn.Exec(ctx, "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	return built
}

// genericPlanIndexes lists the indexes in the generic plan of query.
func genericPlanIndexes(ctx context.Context, t *testing.T, conn *pgx.Conn, query string) []string {
	t.Helper()
	params := 0
	for _, m := range regexp.MustCompile(`\$(\d+)`).FindAllStringSubmatch(query, -1) {
		n, _ := strconv.Atoi(m[1])
		params = max(params, n)
	}
	stmts := []string{"SET plan_cache_mode = force_generic_plan", "PREPARE cand AS " + query}
	for _, s := range stmts {
		if _, err := conn.Exec(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	defer conn.Exec(context.Background(), "DEALLOCATE cand")
	explainSQL := "EXPLAIN (FORMAT JSON) EXECUTE cand"
	if params > 0 {
		explainSQL += "(" + strings.TrimSuffix(strings.Repeat("NULL, ", params), ", ") + ")"
	}
	var out []byte
	if err := conn.QueryRow(ctx, explainSQL).Scan(&out); err != nil {
		t.Fatalf("%s: %v", explainSQL, err)
	}
	plan, err := explain.ParsePlan(out)
	if err != nil {
		t.Fatal(err)
	}
	var used []string
	plan.Walk(func(_ string, n *explain.Node) bool {
		if n.IndexName != "" {
			used = append(used, n.IndexName)
		}
		return true
	})
	return used
}

// FuzzCandidates: no query text makes the analysis panic; when the text
// parses, every candidate names a known table and has keys.
func FuzzCandidates(f *testing.F) {
	for _, q := range []string{
		"SELECT id FROM orders WHERE tenant_id = $1 AND deleted_at IS NULL ORDER BY created_at DESC LIMIT $2",
		"WITH RECURSIVE t(id) AS (SELECT id FROM customers UNION ALL SELECT o.id FROM orders o JOIN t ON o.customer_id = t.id) SELECT * FROM t",
		"SELECT * FROM customers c, LATERAL (SELECT total FROM orders o WHERE o.customer_id = c.id) x WHERE c.name ILIKE $1",
		`SELECT public."Users".name FROM public."Users" WHERE public."Users"."Email" = $1`,
		"UPDATE orders SET status = $1 FROM customers c WHERE c.id = orders.customer_id AND to_tsvector('english', note) @@ $2",
		"SELECT s.n FROM (SELECT customer_id AS c, count(*) AS n FROM orders GROUP BY 1) s(a, b) ORDER BY 2",
		"MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED AND c.name = $1 THEN UPDATE SET total = o.total + 1 WHEN NOT MATCHED THEN INSERT (id, customer_id) VALUES (id, tenant_id)",
		"INSERT INTO orders AS o (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = (SELECT count(*) FROM customers WHERE tenant_id = excluded.tenant_id) WHERE o.status = $3",
		"SELECT tenant_id AS t, lower(status) AS s, count(*) FROM orders GROUP BY ROLLUP ((t, s)) ORDER BY s LIMIT (SELECT count(*) FROM customers)",
		"SELECT s.total, to_jsonb(c) FROM (SELECT (o).*, (ROW(1, 2)).* FROM orders o) s, customers c WHERE s.customer_id = c.id ORDER BY 3",
		"SELECT id FROM customers WHERE (email = $1 OR (tenant_id = $2 AND name > $3) OR id IN (SELECT customer_id FROM orders)) AND (name = $4 OR name IS NULL)",
	} {
		f.Add(q)
	}
	cat := testCatalog()
	known := map[string]bool{}
	for _, t := range cat.Tables {
		known[t.QualifiedName()] = true
	}
	f.Fuzz(func(t *testing.T, q string) {
		References(q, cat) // must not panic either
		cs, err := Candidates(WorkloadStatement{Query: q}, cat, nil)
		if err != nil {
			return
		}
		for _, c := range cs {
			if !known[c.Table] || len(c.Keys) == 0 || c.Why == "" {
				t.Errorf("%q: bad candidate %s (%s)", q, describe(c), c.Why)
			}
		}
	})
}

// An OR over two columns gets one index per arm, grouped: only together,
// in a BitmapOr, do they serve it. An arm an existing index serves needs
// none, and the one left is an ordinary candidate.
func TestCandidatesForTheArmsOfAnOR(t *testing.T) {
	cat := testCatalog()
	groups := func(query string) map[string][]string {
		cs, err := Candidates(WorkloadStatement{QueryID: "42", Query: query}, cat, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string][]string{}
		for _, c := range cs {
			out[c.OrGroup] = append(out[c.OrGroup], describe(c))
		}
		return out
	}
	got := groups("SELECT id FROM customers WHERE email = $1 OR (tenant_id = $2 AND name > $3)")
	if arms := got["42/0/0"]; !slices.Equal(arms, []string{"public.customers btree (email)", "public.customers btree (tenant_id, name)"}) {
		t.Errorf("OR group: %v; want (email) and (tenant_id, name)", got)
	}
	// orders_customer_created serves customer_id = $1: status alone needs an index.
	got = groups("SELECT id FROM orders WHERE customer_id = $1 OR status = $2")
	if len(got) != 1 || !slices.Contains(got[""], "public.orders btree (status)") {
		t.Errorf("OR with one arm indexed: %v; want (status), in no group", got)
	}
}
