package advisor

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
)

// useSummary prints what the analysis recorded for one table occurrence.
func useSummary(u *tableUse) string {
	var preds []string
	for _, p := range u.preds {
		kind := map[predKind]string{predEq: "eq", predIsNull: "isnull", predRange: "range", predPrefix: "prefix", predGIN: "gin"}[p.kind]
		s := kind + ":" + p.key.sql()
		if p.op != "" {
			s += " " + p.op
		}
		if p.inList > 0 {
			s += fmt.Sprintf(" in%d", p.inList)
		}
		preds = append(preds, s)
	}
	var partials, joins, order, group []string
	for _, p := range u.partials {
		partials = append(partials, p.sql)
	}
	for _, j := range u.joins {
		joins = append(joins, j.sql())
	}
	for _, o := range u.order {
		s := o.key.sql()
		if o.desc {
			s += " desc"
		}
		if o.nullsFirst {
			s += " nulls first"
		}
		order = append(order, s)
	}
	for _, g := range u.group {
		group = append(group, g.sql())
	}
	var refs []string
	for r := range u.refs {
		refs = append(refs, r)
	}
	sort.Strings(refs)
	out := fmt.Sprintf("%s preds=[%s] partial=[%s] joins=[%s] order=[%s] group=[%s] refs=[%s]",
		u.table.QualifiedName(), strings.Join(preds, "; "), strings.Join(partials, "; "),
		strings.Join(joins, ","), strings.Join(order, ","), strings.Join(group, ","), strings.Join(refs, ","))
	for _, arms := range u.ors {
		var parts []string
		for _, preds := range arms {
			var ps []string
			for _, p := range preds {
				ps = append(ps, p.key.sql())
			}
			parts = append(parts, strings.Join(ps, "&"))
		}
		out += " or=[" + strings.Join(parts, " | ") + "]"
	}
	if u.limit {
		out += " limit"
	}
	if u.star {
		out += " star"
	}
	return out
}

func TestAnalyzeQuery(t *testing.T) {
	cat := testCatalog()
	tests := []struct {
		name  string
		query string
		want  []string // one summary per table occurrence, in order
	}{
		{
			name: "join, soft delete, range against an expression of no column, order and limit",
			query: `SELECT o.id, c.name FROM orders o LEFT JOIN customers c ON c.id = o.customer_id
				WHERE o.tenant_id = $1 AND o.deleted_at IS NULL AND o.created_at > now() - interval '1 day'
				ORDER BY o.created_at DESC LIMIT 10`,
			want: []string{
				"public.orders preds=[eq:tenant_id; isnull:deleted_at; range:created_at] partial=[deleted_at IS NULL] joins=[customer_id] order=[created_at desc nulls first] group=[] refs=[created_at,customer_id,deleted_at,id,tenant_id] limit",
				"public.customers preds=[] partial=[] joins=[id] order=[] group=[] refs=[id,name]",
			},
		},
		{
			name: "an outer join's ON condition filters only the nullable side",
			query: `SELECT 1 FROM orders o LEFT JOIN customers c ON c.id = o.customer_id AND o.status = 'open' AND c.tenant_id = $1
				FULL JOIN docs d ON d.id = o.id AND d.title = $2 WHERE o.tenant_id = $3`,
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[customer_id,id] order=[] group=[] refs=[customer_id,id,status,tenant_id]",
				"public.customers preds=[eq:tenant_id] partial=[] joins=[id] order=[] group=[] refs=[id,tenant_id]",
				"public.docs preds=[] partial=[] joins=[id] order=[] group=[] refs=[id,title]",
			},
		},
		{
			name:  "a view's conditions and columns reach its tables, through views over views",
			query: "SELECT email FROM tenant_customers t WHERE t.tenant = $1 AND email LIKE $2",
			want: []string{
				"public.orders preds=[isnull:deleted_at; eq:tenant_id] partial=[deleted_at IS NULL] joins=[id] order=[] group=[] refs=[created_at,deleted_at,id,tenant_id]",
				"public.customers preds=[prefix:email] partial=[] joins=[id] order=[] group=[] refs=[email,id]",
			},
		},
		{
			name:  "a MERGE that inserts preserves its source",
			query: "MERGE INTO orders o USING customers c ON o.customer_id = c.id AND c.name = $1 AND o.status = $2 WHEN NOT MATCHED THEN INSERT (id, customer_id) VALUES (c.id, c.id)",
			want: []string{
				"public.orders preds=[eq:status] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id,status]",
				"public.customers preds=[] partial=[] joins=[id] order=[] group=[] refs=[id,name]",
			},
		},
		{
			name:  "a MERGE that only updates filters its source",
			query: "MERGE INTO orders o USING customers c ON o.customer_id = c.id AND c.name = $1 WHEN MATCHED THEN UPDATE SET status = 'x'",
			want: []string{
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id]",
				"public.customers preds=[eq:name] partial=[] joins=[id] order=[] group=[] refs=[id,name]",
			},
		},
		{
			name:  "a table use behind both sides of an outer join keeps the condition's predicates",
			query: "WITH t AS NOT MATERIALIZED (SELECT id, status FROM orders) SELECT 1 FROM t a LEFT JOIN t b ON b.status = $1",
			want:  []string{"public.orders preds=[eq:status] partial=[] joins=[] order=[] group=[] refs=[id,status]"},
		},
		{
			name:  "columns of a WITH query read twice are of two rows",
			query: "WITH t AS NOT MATERIALIZED (SELECT id, tenant_id FROM orders) SELECT 1 FROM t a JOIN t b ON b.tenant_id = a.id",
			want:  []string{"public.orders preds=[] partial=[] joins=[tenant_id,id] order=[] group=[] refs=[id,tenant_id]"},
		},
		{
			name:  "a RIGHT JOIN preserves its right side",
			query: "SELECT 1 FROM customers c RIGHT JOIN (SELECT id, customer_id, status FROM orders) o ON c.id = o.customer_id AND o.status = $1 AND c.name = $2",
			want: []string{
				"public.customers preds=[eq:name] partial=[] joins=[id] order=[] group=[] refs=[id,name]",
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id,id,status]",
			},
		},
		{
			name:  "operands swapped, IN list, ANY, BETWEEN, NOT IN ignored",
			query: "SELECT 1 FROM orders WHERE $1 = tenant_id AND $2 < created_at AND status IN ('a', 'b', 'c') AND customer_id = ANY($3) AND total BETWEEN $4 AND $5 AND id NOT IN ($6)",
			want: []string{
				"public.orders preds=[eq:tenant_id; range:created_at; eq:status in3; eq:customer_id in10; range:total] partial=[] joins=[] order=[] group=[] refs=[created_at,customer_id,id,status,tenant_id,total]",
			},
		},
		{
			name:  "OR across columns records its arms, the columns read",
			query: "SELECT 1 FROM orders WHERE tenant_id = $1 OR (status = 'open' AND created_at > $2)",
			want:  []string{"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[created_at,status,tenant_id] or=[tenant_id | status&created_at]"},
		},
		{
			name:  "an OR nested in an arm is the arm's, not the statement's",
			query: "SELECT 1 FROM customers WHERE (tenant_id = $1 AND (name = $2 OR email = $3)) OR id = $4",
			want:  []string{"public.customers preds=[] partial=[] joins=[] order=[] group=[] refs=[email,id,name,tenant_id] or=[tenant_id | id]"},
		},
		{
			name:  "an OR with an arm that joins, reads a subquery or has no indexable condition records no arms",
			query: "SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id WHERE (o.tenant_id = $1 OR o.total > c.tenant_id) AND (o.status = $2 OR o.id IN (SELECT 1)) AND (o.created_at > $3 OR o.total + 1 > 2)",
			want: []string{
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[created_at,customer_id,id,status,tenant_id,total]",
				"public.customers preds=[] partial=[] joins=[id] order=[] group=[] refs=[id,tenant_id]",
			},
		},
		{
			name:  "OR of equalities on one column is an IN list, in either order and with IN arms",
			query: "SELECT 1 FROM orders o WHERE (o.status = $1 OR $2 = status OR status IN ($3, $4)) AND (tenant_id = $5 OR tenant_id = customer_id) AND (total = $6 OR o.total > $7)",
			want: []string{
				"public.orders preds=[eq:status in4] partial=[] joins=[] order=[] group=[] refs=[customer_id,status,tenant_id,total] or=[total | total]",
			},
		},
		{
			name:  "a comparison of two columns of one row is a partial predicate, not a key; across tables it is neither",
			query: "SELECT 1 FROM orders o JOIN customers c ON c.tenant_id < o.tenant_id WHERE o.created_at = o.day AND o.tenant_id >= o.customer_id",
			want: []string{
				"public.orders preds=[] partial=[created_at = day; tenant_id >= customer_id] joins=[] order=[] group=[] refs=[created_at,customer_id,day,tenant_id]",
				"public.customers preds=[] partial=[] joins=[] order=[] group=[] refs=[tenant_id]",
			},
		},
		{
			name:  "booleans and literals as partial predicates",
			query: "SELECT 1 FROM orders WHERE archived = false AND status = 'open' AND deleted_at IS NOT NULL AND archived IS NOT TRUE",
			want: []string{
				"public.orders preds=[eq:archived; eq:status] partial=[NOT archived; status = 'open'; deleted_at IS NOT NULL; archived IS NOT TRUE] joins=[] order=[] group=[] refs=[archived,deleted_at,status]",
			},
		},
		{
			name:  "gin operators and LIKE forms",
			query: "SELECT 1 FROM orders WHERE $1 <@ tags AND payload ?| $2 AND note LIKE 'ab%' AND status LIKE '%x' AND lower(note) ILIKE $3 AND to_tsvector('simple', note) @@ $4::tsquery",
			want: []string{
				"public.orders preds=[gin:tags @>; gin:payload ?|; prefix:note; gin:status like; gin:lower(note) like; gin:to_tsvector('simple', note) @@] partial=[] joins=[] order=[] group=[] refs=[note,payload,status,tags]",
			},
		},
		{
			name:  "ORDER BY position and output alias, GROUP BY",
			query: "SELECT status AS s, created_at FROM orders WHERE tenant_id = $1 GROUP BY status, created_at ORDER BY 2 DESC NULLS LAST, s",
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[created_at desc,status] group=[status,created_at] refs=[created_at,status,tenant_id]",
			},
		},
		{
			name:  "ORDER BY takes a bare name for an output column first, GROUP BY for an input column",
			query: "SELECT tenant_id AS status, created_at FROM orders ORDER BY status LIMIT 5",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[tenant_id] group=[] refs=[created_at,tenant_id] limit",
			},
		},
		{
			name:  "GROUP BY takes a bare name for an input column first",
			query: "SELECT max(tenant_id) AS status FROM orders GROUP BY status",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[status] refs=[status,tenant_id]",
			},
		},
		{
			name:  "ORDER BY and GROUP BY an output alias of an expression",
			query: "SELECT lower(note) AS n, count(*) FROM orders GROUP BY n ORDER BY n",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[lower(note)] group=[lower(note)] refs=[note]",
			},
		},
		{
			name:  "ORDER BY a position after a * is not attributed",
			query: "SELECT *, status FROM orders ORDER BY 2 LIMIT 5",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[status] star",
			},
		},
		{
			name:  "ORDER BY a position after a composite's .* is not attributed",
			query: "SELECT (o).*, created_at FROM orders o WHERE tenant_id = $1 ORDER BY 2 LIMIT 5",
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[] group=[] refs=[created_at,tenant_id] star",
			},
		},
		{
			name:  "a relation's name alone is its whole row: every column is read",
			query: "SELECT to_jsonb(o) FROM orders o WHERE tenant_id = $1 ORDER BY created_at LIMIT 20",
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[created_at] group=[] refs=[created_at,tenant_id] limit star",
			},
		},
		{
			name:  "a derived table's (o).* outputs o's columns",
			query: "SELECT s.total FROM (SELECT (o).* FROM orders o) s WHERE s.tenant_id = $1",
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[] group=[] refs=[tenant_id,total] star",
			},
		},
		{
			name:  "not a whole row where an enclosing level's columns are unknown",
			query: "SELECT 1 FROM generate_series(1, 2) AS addr, LATERAL (SELECT (addr).* FROM orders addr) s WHERE s.tenant_id = $1",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[]",
			},
		},
		{
			name:  "column aliases after a (x).* of unknown width name no known column",
			query: "SELECT 1 FROM (SELECT (ROW(1, 2)).*, o.tenant_id FROM orders o) s(a, b, c) WHERE s.b = $1",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[tenant_id]",
			},
		},
		{
			name:  "a * over a (x).* of unknown width leaves the aliases after it unknown",
			query: "SELECT 1 FROM (SELECT x.*, o.status FROM (SELECT (ROW(1, 2)).*) x, orders o) s(a, b) WHERE s.b = $1",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[status]",
			},
		},
		{
			name:  "o.* of an enclosing level has unknown width there",
			query: "SELECT 1 FROM orders o, LATERAL (SELECT o.*, c.name FROM customers c) s(a) WHERE s.a = $1",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[]",
				"public.customers preds=[] partial=[] joins=[] order=[] group=[] refs=[name]",
			},
		},
		{
			name:  "a column of that name comes first",
			query: "SELECT status FROM orders AS status WHERE tenant_id = $1",
			want: []string{
				"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[] group=[] refs=[status,tenant_id]",
			},
		},
		{
			name:  "ON CONFLICT: arbiter and DO UPDATE read the target; EXCLUDED is no read, and nothing there is a predicate",
			query: "INSERT INTO orders AS o (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = o.total + excluded.total WHERE o.status = excluded.status",
			want: []string{
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[id,status,total]",
			},
		},
		{
			name:  "ORDER BY over two tables is not attributed",
			query: "SELECT 1 FROM orders o JOIN customers c ON c.id = o.customer_id ORDER BY o.created_at, c.name LIMIT 5",
			want: []string{
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[created_at,customer_id]",
				"public.customers preds=[] partial=[] joins=[id] order=[] group=[] refs=[id,name]",
			},
		},
		{
			name:  "recursive CTE terminates; the join to the recursive term is a join key",
			query: "WITH RECURSIVE t(id) AS (SELECT id FROM customers WHERE tenant_id = $1 UNION ALL SELECT o.id FROM orders o JOIN t ON o.customer_id = t.id) SELECT * FROM t WHERE id = $2",
			want: []string{
				"public.customers preds=[eq:tenant_id] partial=[] joins=[] order=[] group=[] refs=[id,tenant_id]",
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id,id]",
			},
		},
		{
			name:  "MATERIALIZED CTE: outer predicates are not pushed into it",
			query: "WITH m AS MATERIALIZED (SELECT tenant_id FROM orders) SELECT * FROM m WHERE tenant_id = $1",
			want:  []string{"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[tenant_id]"},
		},
		{
			name:  "LATERAL subquery: outer column is a parameter",
			query: "SELECT * FROM customers c, LATERAL (SELECT total FROM orders o WHERE o.customer_id = c.id ORDER BY created_at DESC LIMIT 3) x",
			want: []string{
				"public.customers preds=[] partial=[] joins=[] order=[] group=[] refs=[id] star",
				"public.orders preds=[eq:customer_id] partial=[] joins=[] order=[created_at desc nulls first] group=[] refs=[created_at,customer_id,total] limit",
			},
		},
		{
			name:  "data-modifying CTE and DELETE ... USING",
			query: "WITH d AS (DELETE FROM orders WHERE archived RETURNING id) DELETE FROM customers c USING d WHERE c.id = d.id",
			want: []string{
				"public.orders preds=[] partial=[archived] joins=[] order=[] group=[] refs=[archived,id]",
				"public.customers preds=[] partial=[] joins=[id] order=[] group=[] refs=[id]",
			},
		},
		{
			name:  "next to an unknown relation, a column of the known table resolves to it",
			query: "SELECT 1 FROM orders o, generate_series(1, 10) g WHERE tenant_id = $1 AND g = $2",
			want:  []string{"public.orders preds=[eq:tenant_id] partial=[] joins=[] order=[] group=[] refs=[tenant_id]"},
		},
		{
			name:  "a column not found beside an unknown relation is not taken from the outer query",
			query: "SELECT 1 FROM customers c WHERE EXISTS (SELECT 1 FROM generate_series(1, 3) g, orders o WHERE o.status = name)",
			want: []string{
				"public.customers preds=[] partial=[] joins=[] order=[] group=[] refs=[]",
				"public.orders preds=[] partial=[] joins=[] order=[] group=[] refs=[status]",
			},
		},
		{
			name:  "self-join: two occurrences",
			query: "SELECT 1 FROM orders a JOIN orders b ON b.customer_id = a.customer_id WHERE a.id = $1",
			want: []string{
				"public.orders preds=[eq:id] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id,id]",
				"public.orders preds=[] partial=[] joins=[customer_id] order=[] group=[] refs=[customer_id]",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			uses, err := analyzeQuery(tc.query, newTableLookup(cat))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, u := range uses {
				got = append(got, useSummary(u))
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

func TestParseSearchPath(t *testing.T) {
	tests := map[string][]string{
		"":                          {"public"},
		`"$user", public`:           {"public"},
		`App, "Mixed""Q", public`:   {"app", `Mixed"Q`, "public"},
		`  "$user" ,  pg_temp, x  `: {"pg_temp", "x"},
	}
	for in, want := range tests {
		if got := parseSearchPath(in); !slices.Equal(got, want) {
			t.Errorf("parseSearchPath(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNormalizeExpr(t *testing.T) {
	same := [][2]string{
		{"lower((email)::text)", "lower(email)"},
		{"(kind = 'signup'::text)", "kind = 'signup'"},
		{"((deleted_at IS NULL) AND (status = 'open'::text))", "status = 'open' AND deleted_at IS NULL"},
		{"to_tsvector('english'::regconfig, title)", "to_tsvector('english', title)"},
		{"(NOT archived)", "NOT archived"},
	}
	for _, p := range same {
		if a, b := normalizeExpr(p[0]), normalizeExpr(p[1]); a != b {
			t.Errorf("normalizeExpr(%q) = %q, normalizeExpr(%q) = %q: want equal", p[0], a, p[1], b)
		}
	}
	differ := [][2]string{
		{"((created_at)::date)", "created_at"},
		{"lower(email)", "upper(email)"},
		{"deleted_at IS NULL", "deleted_at IS NOT NULL"},
	}
	for _, p := range differ {
		if a, b := normalizeExpr(p[0]), normalizeExpr(p[1]); a == b {
			t.Errorf("normalizeExpr(%q) = normalizeExpr(%q) = %q: want different", p[0], p[1], a)
		}
	}
	if got := normalizeExpr("  not ( valid "); got != "not ( valid" {
		t.Errorf("unparseable text: got %q", got)
	}
}

// References gives the columns a statement reads of each table, or none
// when a reference cannot be told apart.
func TestReferencesColumns(t *testing.T) {
	cat := testCatalog()
	for _, tc := range []struct {
		query string
		want  map[string][]string
	}{
		{`SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.tenant_id = $1 ORDER BY o.created_at`,
			map[string][]string{"public.orders": {"created_at", "customer_id", "id", "tenant_id"}, "public.customers": {"id", "name"}}},
		{`SELECT * FROM customers WHERE tenant_id = $1`, map[string][]string{"public.customers": {"id", "tenant_id", "name", "email"}}},
		{`SELECT count(*) FROM customers`, map[string][]string{"public.customers": nil}},
		{`SELECT id FROM customers NATURAL JOIN orders`, nil},                       // the join compares columns it does not name
		{`SELECT id FROM customers, generate_series(1, 3) g WHERE x = g`, nil},      // x: of the function, or unknown
		{`SELECT c.id FROM customers c, active_customers a WHERE a.id = c.id`, nil}, // a view reads columns unseen
		// USING against a relation that is not a table still reads the column.
		{`SELECT o.id FROM orders o JOIN (VALUES (1)) AS v(customer_id) USING (customer_id)`, map[string][]string{"public.orders": {"customer_id", "id"}}},
		// One occurrence reads no column: it may use any index.
		{`SELECT count(*) FROM customers UNION ALL SELECT count(*) FROM customers WHERE name = $1`, map[string][]string{"public.customers": nil}},
		// ORDER BY and GROUP BY an output column name: its expression's columns.
		{`SELECT tenant_id + 1 AS x FROM orders ORDER BY x`, map[string][]string{"public.orders": {"tenant_id"}}},
		{`SELECT created_at AS c FROM orders ORDER BY c DESC`, map[string][]string{"public.orders": {"created_at"}}},
		{`SELECT lower(status) AS s, count(*) FROM orders GROUP BY s ORDER BY count DESC`, map[string][]string{"public.orders": {"status"}}},
		{`SELECT DISTINCT ON (d) created_at::date AS d, id FROM orders ORDER BY d, created_at`, map[string][]string{"public.orders": {"created_at", "id"}}},
		{`SELECT tenant_id AS t, status AS s, count(*) FROM orders GROUP BY ROLLUP ((t, s))`, map[string][]string{"public.orders": {"status", "tenant_id"}}},
		// GROUP BY takes an input column before an output name.
		{`SELECT max(tenant_id) AS status FROM orders GROUP BY status`, map[string][]string{"public.orders": {"status", "tenant_id"}}},
		{`SELECT status AS x, status AS x FROM orders ORDER BY x`, map[string][]string{"public.orders": {"status"}}},        // one expression twice
		{`SELECT total + $1 AS x, total + $2 AS x FROM orders ORDER BY x`, map[string][]string{"public.orders": {"total"}}}, // so pg_stat_statements writes total + 1 twice
		// Subqueries in LIMIT, OFFSET, TABLESAMPLE, ON CONFLICT and SET or INSERT subscripts.
		{`SELECT id FROM orders LIMIT (SELECT count(*) FROM customers WHERE tenant_id = $1)`,
			map[string][]string{"public.orders": {"id"}, "public.customers": {"tenant_id"}}},
		{`SELECT id FROM orders UNION SELECT id FROM customers OFFSET (SELECT max(total) FROM orders WHERE status = $1)`,
			map[string][]string{"public.orders": {"id", "status", "total"}, "public.customers": {"id"}}},
		{`VALUES (1), (2) ORDER BY column1 LIMIT (SELECT count(*) FROM customers WHERE name = $1)`, map[string][]string{"public.customers": {"name"}}},
		{`VALUES (1), (2) ORDER BY (SELECT max(total) FROM orders WHERE status = $1)`, map[string][]string{"public.orders": {"status", "total"}}},
		{`SELECT id FROM orders TABLESAMPLE SYSTEM ((SELECT count(*) FROM customers WHERE name = $1))`,
			map[string][]string{"public.orders": {"id"}, "public.customers": {"name"}}},
		{`INSERT INTO orders AS o (id, total) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET total = o.total + (SELECT count(*) FROM customers c WHERE c.tenant_id = excluded.tenant_id) WHERE o.status = $3`,
			map[string][]string{"public.orders": {"id", "status", "total"}, "public.customers": {"tenant_id"}}},
		{`INSERT INTO customers (id, email) VALUES ($1, $2) ON CONFLICT (lower(email)) WHERE tenant_id IS NOT NULL DO NOTHING`,
			map[string][]string{"public.customers": {"email", "tenant_id"}}},
		{`MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN MATCHED AND c.name = $1 THEN UPDATE SET total = o.total + 1 WHEN NOT MATCHED THEN INSERT (id, customer_id) VALUES (c.id, c.tenant_id)`,
			map[string][]string{"public.orders": {"customer_id", "total"}, "public.customers": {"id", "name", "tenant_id"}}},
		// A bare name in WHEN NOT MATCHED is the source's: the target has no row there.
		{`MERGE INTO orders o USING customers c ON o.customer_id = c.id WHEN NOT MATCHED AND tenant_id = $1 THEN INSERT (id, customer_id) VALUES (id, id)`,
			map[string][]string{"public.orders": {"customer_id"}, "public.customers": {"id", "tenant_id"}}},
		// The target of a write is a table, even with a WITH query of its name.
		{`WITH orders AS (SELECT id FROM customers WHERE name = $1) UPDATE orders SET total = $2 WHERE id IN (SELECT id FROM orders)`,
			map[string][]string{"public.orders": {"id"}, "public.customers": {"id", "name"}}},
		// A relation's name alone is its whole row: every column, when that is sure.
		{`SELECT to_jsonb(o) FROM orders o WHERE tenant_id = $1`, map[string][]string{"public.orders": {
			"id", "tenant_id", "customer_id", "status", "created_at", "total", "deleted_at", "archived", "payload", "tags", "note", "day"}}},
		{`SELECT (SELECT to_jsonb(o) FROM customers c WHERE c.id = o.customer_id) FROM orders o`, nil},                                                                  // of an enclosing level
		{`SELECT (SELECT row_to_json(o.*) FROM customers c WHERE c.id = o.customer_id) FROM orders o WHERE o.tenant_id = $1`, nil},                                      // likewise
		{`WITH RECURSIVE t AS (SELECT id AS c FROM customers UNION ALL SELECT t.c + 1 FROM t JOIN customers c ON c.id = t.c WHERE c IS NOT NULL) SELECT c FROM t`, nil}, // c may be t's
		{`UPDATE orders SET tags[(SELECT count(*) FROM customers WHERE name = $1)] = $2 WHERE id = $3`,
			map[string][]string{"public.orders": {"id"}, "public.customers": {"name"}}},
		{`INSERT INTO orders (id, tags[(SELECT count(*) FROM customers WHERE name = $1)]) VALUES ($2, $3)`,
			map[string][]string{"public.orders": nil, "public.customers": {"name"}}},
	} {
		r, err := References(tc.query, cat)
		if err != nil {
			t.Fatal(err)
		}
		if !maps.EqualFunc(r.Columns, tc.want, slices.Equal) || (tc.want == nil) != (r.Columns == nil) {
			t.Errorf("%s: columns %v, want %v", tc.query, r.Columns, tc.want)
		}
	}
}

// A candidate is costed for a statement that reads any column it stores or
// tests, or whose columns are unknown; not for one that reads only others.
func TestMayUse(t *testing.T) {
	reads := func(cols ...string) WorkloadStatement {
		return WorkloadStatement{Tables: []string{"public.orders"}, Columns: map[string][]string{"public.orders": cols}}
	}
	byStatus := btree("public.orders", "status")
	lowerNote := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Expression: "lower(note)"}}}
	partial := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Where: "deleted_at IS NULL"}
	covering := Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Include: []string{"total"}}
	for _, tc := range []struct {
		s    WorkloadStatement
		c    Candidate
		want bool
	}{
		{reads("id", "status"), byStatus, true},
		{reads("id", "tenant_id"), byStatus, false},
		{reads("note"), lowerNote, true},
		{reads("id"), lowerNote, false},
		{reads("deleted_at", "id"), partial, true},
		{reads("total"), covering, true},
		{reads(), byStatus, true},                                              // count(*): any index may do
		{WorkloadStatement{Tables: []string{"public.orders"}}, byStatus, true}, // unknown
	} {
		if got := mayUse(tc.s, tc.c.Table, storedNames(tc.c)); got != tc.want {
			t.Errorf("statement reading %v, candidate %v %v where %q: mayUse %t, want %t", tc.s.Columns, tc.c.Keys, tc.c.Include, tc.c.Where, got, tc.want)
		}
	}
}
