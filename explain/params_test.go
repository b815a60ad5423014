package explain

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// shopCatalog is a hand-made catalog with pg_stats-like statistics.
func shopCatalog() *collector.Catalog {
	months := []string{"2024-01-01", "2024-02-01", "2024-03-01", "2024-04-01", "2024-05-01", "2024-06-01",
		"2024-07-01", "2024-08-01", "2024-09-01", "2024-10-01", "2024-11-01"}
	return &collector.Catalog{
		Settings: collector.PlanSettings{SearchPath: `"$user", public`, TextSearchConfig: "pg_catalog.english"},
		Tables: []collector.Table{
			{Schema: "public", Name: "orders", Kind: "r", Columns: []collector.Column{
				{Name: "id", Type: "bigint", Stats: &collector.ColumnStats{HistogramBounds: []string{"1", "500", "1000"}}},
				{Name: "customer_id", Type: "integer", Stats: &collector.ColumnStats{
					HistogramBounds: []string{"1", "11", "21", "31", "41", "51", "61", "71", "81", "91", "101"}}},
				{Name: "status", Type: "text", Stats: &collector.ColumnStats{
					MostCommonVals: []string{"shipped", "pending", "cancelled"}, MostCommonFreqs: []float64{0.6, 0.3, 0.1}}},
				{Name: "created_at", Type: "timestamp with time zone", Stats: &collector.ColumnStats{HistogramBounds: months}},
				{Name: "meta", Type: "jsonb", Stats: &collector.ColumnStats{
					MostCommonVals: []string{`{"tier": "gold", "n": 3, "tags": ["a"]}`}}},
				{Name: "email", Type: "text"},
				{Name: "note", Type: "text", Stats: &collector.ColumnStats{MostCommonVals: []string{"Please deliver it by 5 pm quickly"}}},
			}},
			{Schema: "public", Name: "customers", Kind: "r", Columns: []collector.Column{
				{Name: "id", Type: "integer", Stats: &collector.ColumnStats{HistogramBounds: []string{"1", "50", "100"}}},
				{Name: "name", Type: "text", Stats: &collector.ColumnStats{HistogramBounds: []string{"Alice", "Bob", "Carol"}}},
				{Name: "region", Type: "text", Stats: &collector.ColumnStats{MostCommonVals: []string{"eu", "us"}}},
			}},
			{Schema: "archive", Name: "orders", Kind: "r", Columns: []collector.Column{
				{Name: "status", Type: "text", Stats: &collector.ColumnStats{MostCommonVals: []string{"archived"}}},
			}},
		},
		// As pg_get_viewdef prints them: a view, and one over it.
		Views: []collector.View{
			{Schema: "public", Name: "open_orders", Definition: " SELECT orders.id,\n    orders.status AS state\n   FROM orders\n  WHERE (orders.status <> 'done'::text);"},
			{Schema: "archive", Name: "old_open", Definition: " SELECT o.state\n   FROM open_orders o;"},
			// Reads archive.orders, which the search path (archive after public) reaches only here.
			{Schema: "public", Name: "archive_orders", Definition: " SELECT a.status\n   FROM archive.orders a, archive_orders b;"},
		},
	}
}

func TestSynthesizeParams(t *testing.T) {
	cat := shopCatalog()
	cases := []struct {
		query string
		want  []string // values of $1, $2, ...
		err   string   // substring of the error instead
	}{
		{query: "SELECT * FROM orders WHERE id = 1"},
		{query: "SELECT * FROM orders WHERE status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM orders o WHERE $1 = o.status", want: []string{"shipped"}},
		{query: "SELECT * FROM orders WHERE status <> $1::text", want: []string{"shipped"}},
		{query: "SELECT * FROM archive.orders WHERE status = $1", want: []string{"archived"}},
		{query: "SELECT * FROM public.orders WHERE public.orders.status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM orders WHERE created_at > $1", want: []string{"2024-10-01"}},
		{query: "SELECT * FROM orders WHERE created_at <= $1", want: []string{"2024-02-01"}},
		{query: "SELECT * FROM orders WHERE $1 < created_at", want: []string{"2024-10-01"}},
		{query: "SELECT * FROM orders WHERE created_at BETWEEN $1 AND $2", want: []string{"2024-06-01", "2024-07-01"}},
		{query: "SELECT * FROM orders WHERE status IN ($1, $2, $3, $4)", want: []string{"shipped", "pending", "cancelled", "shipped"}},
		{query: "SELECT * FROM orders WHERE customer_id IN ($1, $2)", want: []string{"51", "61"}},
		{query: "SELECT * FROM orders WHERE status = ANY($1)", want: []string{`{"shipped"}`}},
		{query: "SELECT * FROM orders WHERE status = ANY(ARRAY[$1, $2])", want: []string{"shipped", "pending"}},
		{query: "SELECT * FROM customers WHERE name LIKE $1", want: []string{"Bob%"}},
		{query: "SELECT * FROM customers WHERE name ILIKE $1", want: []string{"%Bob%"}},
		{query: "SELECT * FROM customers WHERE lower(name) = $1", want: []string{"bob"}},
		{query: "SELECT * FROM customers WHERE name = lower($1)", want: []string{"Bob"}},
		{query: "SELECT * FROM orders WHERE meta @> $1", want: []string{`{"n":3}`}},
		{query: "SELECT * FROM orders WHERE meta->>'tier' = $1", want: []string{"gold"}},
		{query: "SELECT * FROM orders WHERE meta->'tier' = $1", want: []string{`"gold"`}},
		{query: "SELECT * FROM orders WHERE meta->>$1 = $2", want: []string{"n", "3"}},
		{query: "SELECT * FROM orders WHERE meta ? $1", want: []string{"n"}},
		{query: "SELECT * FROM orders ORDER BY id LIMIT $1 OFFSET $2", want: []string{"10", "0"}},
		// Full-text search: a word of the searched column, the default configuration.
		{query: "SELECT * FROM orders WHERE to_tsvector('english', note) @@ plainto_tsquery($1)", want: []string{"deliver"}},
		{query: "SELECT id FROM orders WHERE to_tsvector($2, note) @@ plainto_tsquery($3, $1) LIMIT $4",
			want: []string{"deliver", "pg_catalog.english", "pg_catalog.english", "10"}},
		{query: "SELECT id FROM orders o WHERE websearch_to_tsquery($1) @@ (to_tsvector(o.status, o.note) || to_tsvector(o.status, o.email))",
			want: []string{"deliver"}},
		{query: "SELECT id FROM orders WHERE to_tsvector(note) @@ $1::tsquery", want: []string{"deliver"}},
		{query: "SELECT id FROM orders WHERE to_tsvector(email) @@ plainto_tsquery($1)", err: "no value for $1"},
		{query: "SELECT * FROM orders FETCH FIRST $1 ROWS ONLY", want: []string{"10"}},
		{query: "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.region = $1 AND o.customer_id < $2",
			want: []string{"eu", "11"}},
		{query: "SELECT * FROM orders JOIN customers ON customers.id = orders.customer_id WHERE region = $1", want: []string{"eu"}},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id AND c.region = $1)",
			want: []string{"eu"}},
		{query: "SELECT * FROM customers c, LATERAL (SELECT * FROM orders o WHERE o.customer_id = c.id AND o.status = $1) x",
			want: []string{"shipped"}},
		// Through the output columns of subqueries and WITH queries.
		{query: "SELECT * FROM (SELECT * FROM orders WHERE status = $1) s WHERE s.id = $2", want: []string{"shipped", "500"}},
		{query: "SELECT * FROM (SELECT o.status AS st, count(*) AS n FROM orders o GROUP BY 1) s WHERE st = $1", want: []string{"shipped"}},
		{query: "WITH f AS (SELECT id, status FROM orders) SELECT * FROM f x WHERE x.status = $1", want: []string{"shipped"}},
		{query: "WITH f AS MATERIALIZED (SELECT * FROM orders) SELECT * FROM (SELECT status FROM f) s WHERE status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM open_orders WHERE state = $1 AND id = $2", want: []string{"shipped", "500"}},
		{query: "SELECT * FROM archive.old_open WHERE state = $1", want: []string{"shipped"}},
		// A WITH query's body sees the WITH queries before it, not itself or those after.
		{query: "WITH orders AS (SELECT id, status AS customer_id FROM orders WHERE customer_id = $1) SELECT * FROM orders", want: []string{"51"}},
		{query: "WITH a AS (SELECT * FROM customers WHERE region = $1), customers AS (SELECT id, status AS region FROM orders) SELECT * FROM a, customers", want: []string{"eu"}},
		// A view named like the table it reads, of another schema on the path.
		{query: "SELECT * FROM archive_orders WHERE status = $1", want: []string{"archived"}},
		{query: "SELECT * FROM (SELECT count(*) AS n FROM orders) s WHERE n > $1", err: "no value for $1"}, // an aggregate's output
		// Column aliases rename the first columns, in order.
		{query: "WITH f (a) AS (SELECT status FROM orders) SELECT * FROM f WHERE a = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM orders o (a, b, c) WHERE c = $1 AND a = $2", want: []string{"shipped", "500"}},
		{query: "SELECT * FROM orders o (a, b, c) WHERE status = $1", err: "no value for $1"},
		{query: "SELECT * FROM (SELECT status, id FROM orders) s (st) WHERE st = $1 AND id = $2", want: []string{"shipped", "500"}},
		{query: "SELECT * FROM open_orders v (i, s) WHERE s = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM (SELECT * FROM customers c, orders o) s (a, b, c, d) WHERE c = $1 AND d = $2", want: []string{"eu", "500"}},
		// An output that is no column as it is, or columns that are unknown,
		// hide a column of the same name in an enclosing query.
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM (SELECT count(*) AS region FROM orders) s WHERE region = $1)", err: "no value for $1"},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM (SELECT lower(status) FROM orders) s WHERE lower = $1)", err: "no value for $1"},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM generate_series(1, 3) AS region WHERE region = $1)", err: "no value for $1"},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM pg_class WHERE region = $1)", err: "no value for $1"},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM generate_series(1, 3) g, orders WHERE region = $1 AND status = $2)",
			err: "no value for $1"},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM generate_series(1, 3) g, orders WHERE c.region = $1 AND status = $2)",
			want: []string{"eu", "shipped"}},
		// Two outputs of one name: a reference to it is ambiguous.
		{query: "SELECT * FROM (SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id) s WHERE s.status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM (SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id) s WHERE s.id = $1", err: "no value for $1"},
		// (row).* stands for as many columns as the row has.
		{query: "SELECT * FROM (SELECT (o).*, c.region FROM orders o, customers c) x (a, b) WHERE b = $1", err: "no value for $1"},
		// A join USING or NATURAL merges its columns: * lists them first, once.
		{query: "SELECT * FROM (SELECT * FROM orders JOIN customers USING (id)) s WHERE status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM (SELECT * FROM orders JOIN customers USING (id)) s (a, b, c) WHERE c = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM (SELECT o.* FROM orders o JOIN customers c USING (id)) s WHERE status = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM orders JOIN customers USING (id) WHERE id = $1", want: []string{"500"}},
		{query: "SELECT * FROM orders NATURAL JOIN customers WHERE id = $1", want: []string{"500"}},
		{query: "SELECT * FROM orders RIGHT JOIN customers USING (id) WHERE id = $1", want: []string{"50"}},
		{query: "SELECT * FROM orders FULL JOIN customers USING (id) WHERE id = $1", err: "no value for $1"},
		// A join's alias hides the tables inside it, and may rename its columns.
		{query: "SELECT * FROM (customers JOIN orders ON orders.customer_id = customers.id) AS j (id, region, name) WHERE name = $1 AND j.status = $2",
			want: []string{"eu", "shipped"}},
		{query: "SELECT * FROM (customers JOIN orders ON orders.customer_id = customers.id) AS j WHERE orders.status = $1", err: "no value for $1"},
		// TABLESAMPLE reads its table; VALUES names its columns column1, column2...
		{query: "SELECT * FROM (SELECT * FROM orders TABLESAMPLE SYSTEM (10), customers) s (a, b, c) WHERE c = $1", want: []string{"shipped"}},
		{query: "SELECT * FROM customers WHERE EXISTS (SELECT 1 FROM orders TABLESAMPLE SYSTEM (10) WHERE id = $1)", want: []string{"500"}},
		{query: "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders, (VALUES (1)) v (x) WHERE region = $1)", want: []string{"eu"}},
		{query: "SELECT * FROM customers WHERE id IN (SELECT customer_id FROM orders, (VALUES (1)) v WHERE column1 = $1)", err: "no value for $1"},
		// A subquery in FROM does not see the items beside it.
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM orders o, (SELECT 1 FROM archive.orders WHERE id = $1) x)", want: []string{"50"}},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT FROM orders o, LATERAL (SELECT 1 FROM archive.orders WHERE id = $1) x)", want: []string{"500"}},
		{query: "WITH RECURSIVE f AS (SELECT id FROM orders UNION ALL SELECT id FROM f) SELECT * FROM f WHERE id = $1", err: "no value for $1"},
		{query: "SELECT * FROM orders WHERE created_at > now() - $1::interval", want: []string{"1 day"}},
		{query: "SELECT date_trunc($1, created_at), count(*) FROM orders GROUP BY 1", want: []string{"day"}},
		{query: "SELECT pg_catalog.date_part($1, created_at) AS y, count(*) FROM orders GROUP BY 1", want: []string{"year"}},
		{query: "UPDATE orders SET status = $1 WHERE id = $2", want: []string{"shipped", "500"}},
		{query: "INSERT INTO customers (region, name) VALUES ($1, $2)", want: []string{"eu", "Bob"}},
		{query: "DELETE FROM orders USING customers c WHERE c.id = orders.customer_id AND c.region = $1", want: []string{"eu"}},
		{query: "SELECT * FROM orders JOIN customers ON customers.id = orders.customer_id WHERE id = $1", err: "no value for $1"},
		{query: "WITH orders AS (SELECT 1 AS status) SELECT * FROM orders WHERE status = $1", err: "no value for $1"},
		{query: "SELECT * FROM orders WHERE email = $1", err: `no value for $1: no statistics or rows for public.orders.email`},
		{query: "SELECT * FROM orders WHERE status = $1 AND total > $2", err: "no value for $2"},
		{query: "SELECT $1 * 2", want: []string{"1"}},
		{query: "SELECT $1::date AS as_of, $2::timestamptz, $3::uuid, $4::jsonb, id FROM orders WHERE id = $5",
			want: []string{"2000-01-01", "2000-01-01", "00000000-0000-0000-0000-000000000000", "{}", "500"}},
		{query: "SELECT sum(total * ($1 - total)) FROM orders WHERE status = $2", want: []string{"1", "shipped"}},
		{query: "SELECT * FROM orders WHERE total > $1 * 2", err: "no value for $1"},
		{query: "SELECT * FROM orders WHERE created_at >= $1 AND created_at < $2", want: []string{"2024-05-01", "2024-06-01"}},
		{query: "SELECT * FROM orders WHERE created_at >= $1::date AND created_at < $2::date + ($3::text || ' month')::interval",
			want: []string{"2024-05-01", "2024-06-01", "0"}},
		{query: "SELECT * FROM orders WHERE customer_id BETWEEN $1 - $2 AND $3 + $4", want: []string{"51", "0", "61", "0"}},
		{query: "SELECT * FROM customers c WHERE EXISTS (SELECT $2 FROM orders o WHERE o.customer_id = c.id AND c.region = $1)",
			want: []string{"eu", "1"}},
		{query: "SELECT * FROM nowhere WHERE x = $1", err: "no value for $1"},
		{query: "SELECT 1; SELECT $1", err: "2 statements"},
		{query: "SELECT $70000", err: "beyond"},
		{query: "", err: "empty query text"},
	}
	for _, tc := range cases {
		params, err := SynthesizeParams(context.Background(), nil, cat, tc.query)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("SynthesizeParams(%q) = %v, %v; want error containing %q", tc.query, params, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SynthesizeParams(%q): %v", tc.query, err)
			continue
		}
		var got []string
		for i, p := range params {
			if p.Index != i+1 || p.Source == "" {
				t.Errorf("SynthesizeParams(%q): param %d = %+v", tc.query, i, p)
			}
			got = append(got, p.Value)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SynthesizeParams(%q) = %q, want %q", tc.query, got, tc.want)
		}
	}
}

func TestSynthesizeParamsSources(t *testing.T) {
	params, err := SynthesizeParams(context.Background(), nil, shopCatalog(),
		"SELECT * FROM orders WHERE status = $1 AND created_at > $2 LIMIT $3")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"most common value of public.orders.status", "histogram bound 10 of 11 of public.orders.created_at", "LIMIT"}
	for i, p := range params {
		if p.Source != want[i] {
			t.Errorf("$%d source = %q, want %q", i+1, p.Source, want[i])
		}
	}
}

// A page is as long as the calls' were; a LIMIT inside the statement
// keeps the default.
func TestSynthesizeParamsPage(t *testing.T) {
	for _, tc := range []struct {
		query         string
		limit         int // the $n of the LIMIT
		value, source string
	}{
		{"SELECT * FROM orders WHERE status = $1 ORDER BY created_at LIMIT $2 OFFSET $3", 2, "20", "LIMIT: the rows a call returned"},
		{"SELECT count(*) FROM (SELECT 1 FROM orders ORDER BY created_at LIMIT $1) s", 1, "10", "LIMIT"},
	} {
		params, err := SynthesizeTypicalParams(context.Background(), nil, shopCatalog(), tc.query, 20)
		if err != nil {
			t.Fatal(err)
		}
		if p := params[tc.limit-1]; p.Value != tc.value || p.Source != tc.source {
			t.Errorf("%s: LIMIT $%d = %q (%s), want %q (%s)", tc.query, tc.limit, p.Value, p.Source, tc.value, tc.source)
		}
	}
}

func TestValueHelpers(t *testing.T) {
	if got := arrayLiteral(`a"b\c`); got != `{"a\"b\\c"}` {
		t.Errorf("arrayLiteral = %s", got)
	}
	if got := likePrefix(`50%_off\`); got != `50\%\_off\\%` {
		t.Errorf("likePrefix = %s", got)
	}
	for v, want := range map[string]string{`fast widget ca7b`: `% widget %`, `50%_off`: `%50\%\_off%`, `über`: `%über%`} {
		if got := likeInfix(v); got != want {
			t.Errorf("likeInfix(%q) = %s, want %s", v, got, want)
		}
	}
	for doc, want := range map[string]string{
		`{"b": 1, "a": {"x": [1, 2]}}`:  `{"a":{"x":[1,2]}}`,
		`[3, 4]`:                        `[3]`,
		`{}`:                            `{}`,
		`"s"`:                           `"s"`,
		`not json`:                      `not json`,
		`{"big": 12345678901234567890}`: `{"big":12345678901234567890}`,
		`{"h": "<&>"}`:                  `{"h":"<&>"}`,
	} {
		if got := containedPart(doc); got != want {
			t.Errorf("containedPart(%s) = %s, want %s", doc, got, want)
		}
	}
	if got := searchPath(`"$user", public, "My Schema"`); !reflect.DeepEqual(got, []string{"public", "My Schema"}) {
		t.Errorf("searchPath = %q", got)
	}
}

// TestSynthesizeParamsSampled: without statistics, values are sampled
// from the table (read-only, on the replica), the same ones every time,
// and the server accepts them.
func TestSynthesizeParamsSampled(t *testing.T) {
	db := gateDatabase(t, "params_sample",
		`CREATE TABLE items (id int PRIMARY KEY, sku text, attrs jsonb, note text)`,
		`INSERT INTO items SELECT g, 'sku-' || g, jsonb_build_object('color', 'red', 'size', g), NULL FROM generate_series(1, 50) g`)
	ctx := context.Background()
	conn := replicaConn(t, db)
	cat := testCatalog(t, conn)
	if st := findColumn(&cat.Tables[0], "sku").Stats; st != nil {
		t.Fatalf("items.sku has statistics %+v; the test needs a table never analyzed", st)
	}
	query := "SELECT * FROM items WHERE sku = $1 AND attrs->>'color' = $2 AND attrs @> $3 AND attrs->>$4 = $5"
	first, err := SynthesizeParams(ctx, conn, cat, query)
	if err != nil {
		t.Fatal(err)
	}
	again, err := SynthesizeParams(ctx, conn, cat, query)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(first, again) {
		t.Errorf("not deterministic: %+v then %+v", first, again)
	}
	if !strings.HasPrefix(first[0].Value, "sku-") || first[1].Value != "red" || first[2].Value != `{"color":"red"}` ||
		first[3].Value != "color" || first[4].Value != "red" {
		t.Errorf("sampled values = %+v", first)
	}
	for _, p := range first {
		if !strings.HasPrefix(p.Source, "sampled from public.items.attrs") && !strings.HasPrefix(p.Source, "sampled from public.items.sku") {
			t.Errorf("$%d source = %q, want sampled", p.Index, p.Source)
		}
	}
	var n int
	values := []any{pgx.QueryExecModeExec}
	for _, p := range first {
		values = append(values, p.Value)
	}
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM ("+query+") q", values...).Scan(&n); err != nil || n != 1 {
		t.Errorf("the sampled values find %d rows (%v), want 1", n, err)
	}
	// A field compared through a cast to a number takes no sampled text:
	// "red" would fail the cast.
	if ps, err := SynthesizeParams(ctx, conn, cat, "SELECT * FROM items WHERE (attrs->>$1)::int = $2"); err == nil || !strings.Contains(err.Error(), "no value for $2") {
		t.Errorf("a field cast to a number: values %+v (%v), want none for $2", ps, err)
	}
	if _, err := SynthesizeParams(ctx, conn, cat, "SELECT * FROM items WHERE note = $1"); err == nil ||
		!strings.Contains(err.Error(), "no statistics or rows for public.items.note") {
		t.Errorf("an all-NULL column: err = %v", err)
	}
}

// A sampled value is read as its type's output function writes it, never
// through a cast to text, which the type's owner can point at any function.
func TestSynthesizeParamsSampledWithoutCasts(t *testing.T) {
	db := gateDatabase(t, "params_sample_casts",
		`CREATE TYPE mood AS ENUM ('ok', 'bad')`,
		`CREATE FUNCTION trap_text(mood) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$BEGIN RAISE EXCEPTION 'TRAP sprang'; END$$`,
		`CREATE CAST (mood AS text) WITH FUNCTION trap_text(mood)`,
		`CREATE TABLE moods (id int, m mood, qty int)`,
		`INSERT INTO moods SELECT g, 'ok', g FROM generate_series(1, 10) g`)
	ctx := context.Background()
	conn, err := dbconn.Connect(ctx, sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	ps, err := SynthesizeParams(ctx, conn, testCatalog(t, conn), "SELECT id FROM moods WHERE m = $1 AND qty = $2")
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Value != "ok" || ps[1].Value == "" {
		t.Errorf("sampled values = %+v, want mood ok and a quantity", ps)
	}
}

// replicaConn connects to database db on the sandbox's replica until the
// test ends.
func replicaConn(t *testing.T, db string) *pgx.Conn {
	t.Helper()
	conn, err := dbconn.Connect(context.Background(), sandbox.ReplicaDSN(db))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// testCatalog loads the public tables of conn's database with their
// pg_stats rows, as collector.Catalog describes them.
func testCatalog(t *testing.T, conn *pgx.Conn) *collector.Catalog {
	t.Helper()
	const columnsSQL = `SELECT c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod),
		s.most_common_vals::text::text[], s.histogram_bounds::text::text[], s.attname IS NOT NULL
	FROM pg_class c
	JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
	JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname AND s.attname = a.attname
	WHERE c.relkind IN ('r', 'p', 'm')
	ORDER BY c.relname, a.attnum`
	ctx := context.Background()
	rows, err := conn.Query(ctx, columnsSQL, pgx.QueryExecModeExec)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cat := &collector.Catalog{Settings: collector.PlanSettings{SearchPath: `"$user", public`}}
	for rows.Next() {
		var table, name, typ string
		var mcv, hist []string
		var analyzed bool
		if err := rows.Scan(&table, &name, &typ, &mcv, &hist, &analyzed); err != nil {
			t.Fatal(err)
		}
		if len(cat.Tables) == 0 || cat.Tables[len(cat.Tables)-1].Name != table {
			cat.Tables = append(cat.Tables, collector.Table{Schema: "public", Name: table, Kind: "r"})
		}
		col := collector.Column{Name: name, Type: typ}
		if analyzed {
			col.Stats = &collector.ColumnStats{MostCommonVals: mcv, HistogramBounds: hist}
		}
		tb := &cat.Tables[len(cat.Tables)-1]
		tb.Columns = append(tb.Columns, col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cat
}

// TestSynthesizeTypicalParamsLockTimeout: sampling a table another session
// holds ACCESS EXCLUSIVE fails after the lock timeout instead of waiting,
// and leaves the connection idle.
func TestSynthesizeTypicalParamsLockTimeout(t *testing.T) {
	db := gateDatabase(t, "synth_lock",
		`CREATE TABLE t (id int PRIMARY KEY, gone timestamptz)`,
		`INSERT INTO t SELECT g, NULL FROM generate_series(1, 100) g`,
		`ANALYZE`)
	ctx := context.Background()
	conn := connect(t, sandbox.DSN(db))
	cat := testCatalog(t, conn) // loaded before the lock is taken
	holder := connect(t, sandbox.DSN(db))
	tx, err := holder.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, "LOCK TABLE t IN ACCESS EXCLUSIVE MODE"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	params, err := SynthesizeTypicalParams(ctx, conn, cat, "SELECT * FROM t WHERE gone < $1", 0)
	if err == nil || !strings.Contains(err.Error(), "lock timeout") {
		t.Errorf("SynthesizeTypicalParams under a lock = %v, %v; want a lock timeout", params, err)
	}
	if elapsed := time.Since(start); elapsed > 3*time.Second {
		t.Errorf("waited %v for the lock", elapsed)
	}
	if status := conn.PgConn().TxStatus(); status != 'I' {
		t.Errorf("transaction status %q afterwards, want idle", status)
	}
}

// A sample of a partitioned table reads its partitions in the catalog,
// each ONLY: through the parent, a file_fdw partition would run its
// program.
func TestSynthesizeParamsReadsNoForeignPartition(t *testing.T) {
	ran := fmt.Sprintf("/tmp/pgadvisor-test-fdw-%d", os.Getpid()) // the server's user must be able to write it
	t.Cleanup(func() { os.Remove(ran) })
	db := gateDatabase(t, "params_foreign_partition",
		`CREATE EXTENSION file_fdw`,
		`CREATE SERVER files FOREIGN DATA WRAPPER file_fdw`,
		`CREATE TABLE pt (k int, v int) PARTITION BY RANGE (k)`,
		`CREATE TABLE pt0 PARTITION OF pt FOR VALUES FROM (100) TO (200)`,
		`INSERT INTO pt0 VALUES (150, 7)`,
		fmt.Sprintf(`CREATE FOREIGN TABLE pt1 PARTITION OF pt FOR VALUES FROM (0) TO (100) SERVER files OPTIONS (program 'touch %s; echo 1,2', format 'csv')`, ran),
	)
	ctx := context.Background()
	conn := connect(t, sandbox.DSN(db))
	cat, err := collector.LoadCatalog(ctx, conn, zap.NewNop())
	if err != nil {
		t.Fatal(err)
	}
	ps, err := SynthesizeTypicalParams(ctx, conn, cat, "SELECT * FROM pt WHERE v = $1", 0)
	if err != nil || len(ps) != 1 || ps[0].Value != "7" {
		t.Errorf("SynthesizeTypicalParams = %+v, %v; want v = 7 from the ordinary partition", ps, err)
	}
	if _, err := os.Stat(ran); err == nil {
		t.Error("sampling ran the foreign partition's program")
	}
}

// A pattern made of a histogram bound matches that bound, and the planner
// then expects a hundredth of the rows: the typical values of LIKE and
// ILIKE on a column of distinct values come from a sampled row, which the
// planner takes to be as rare as it is.
func TestSynthesizeParamsPatternIsRare(t *testing.T) {
	db := gateDatabase(t, "params_pattern",
		`CREATE TABLE names (id int PRIMARY KEY, name text NOT NULL)`,
		`INSERT INTO names SELECT g, 'item ' || md5(g::text) FROM generate_series(1, 20000) g`,
		`ANALYZE names`)
	ctx := context.Background()
	conn := replicaConn(t, db)
	cat := testCatalog(t, conn)
	for _, query := range []string{"SELECT id FROM names WHERE name ILIKE $1", "SELECT id FROM names WHERE name LIKE $1"} {
		ps, err := SynthesizeTypicalParams(ctx, conn, cat, query, 1)
		if err != nil || len(ps) != 1 || !strings.HasPrefix(ps[0].Source, "sampled from public.names.name") {
			t.Fatalf("%s: %+v (%v), want a sampled value", query, ps, err)
		}
		var out []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) "+query, pgx.QueryExecModeExec, ps[0].Value).Scan(&out); err != nil {
			t.Fatal(err)
		}
		plan, err := ParsePlan(out)
		if err != nil {
			t.Fatal(err)
		}
		if rows := plan.Root.PlanRows; rows > 20 {
			t.Errorf("%s with %q: the planner expects %.0f rows, want a rare value's few", query, ps[0].Value, rows)
		}
	}
}

// Values of equalities on two columns of a table are values a row holds
// together: the typical warehouse (the histogram's median, beyond the busy
// ones the most common values hold) ships to 'us' only, and so does the
// busiest, 999, while the most common region is 'apac'.
func TestSynthesizeParamsJointValues(t *testing.T) {
	db := gateDatabase(t, "params_joint",
		`CREATE TABLE shipments (id serial, warehouse_id int, region text, created_at timestamptz)`,
		`INSERT INTO shipments (warehouse_id, region) SELECT w, 'apac' FROM generate_series(1, 50) w, generate_series(1, 300)`,
		`INSERT INTO shipments (warehouse_id, region) SELECT w, 'us' FROM generate_series(51, 200) w, generate_series(1, 50)`,
		`INSERT INTO shipments (warehouse_id, region) SELECT 999, 'us' FROM generate_series(1, 1000)`,
		`ANALYZE shipments`,
		`CREATE TABLE parcels AS SELECT d AS depot_id, CASE WHEN d % 3 = 0 THEN 'ups' ELSE 'dhl' END AS carrier
		   FROM generate_series(1, 300) d, generate_series(1, 20)`,
		`INSERT INTO parcels SELECT 7, 'dhl' FROM generate_series(1, 500)`,
		`ANALYZE parcels`)
	ctx := context.Background()
	conn := replicaConn(t, db)
	cat, err := collector.LoadCatalog(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	const query = "SELECT * FROM shipments WHERE region = $1 AND warehouse_id = $2 ORDER BY created_at LIMIT $3"
	params, err := SynthesizeTypicalParams(ctx, conn, cat, query, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(params) != 3 || params[0].Value != "us" || !strings.HasPrefix(params[1].Source, "histogram bound") ||
		!strings.Contains(params[0].Source, "from a row of public.shipments with warehouse_id = "+params[1].Value) {
		t.Errorf("values %+v: want the typical warehouse, and the region of a row of it", params)
	}
	var n int
	if err := conn.QueryRow(ctx, "SELECT count(*) FROM shipments WHERE region = $1 AND warehouse_id = $2::int",
		params[0].Value, params[1].Value).Scan(&n); err != nil || n == 0 {
		t.Errorf("the values find %d rows (%v)", n, err)
	}
	// The hottest values, which show the worst plans, are the most common
	// ones where they meet: the busiest warehouse, and its region.
	params, err = SynthesizeParams(ctx, conn, cat, query)
	if err != nil || params[1].Value != "999" || params[0].Value != "us" ||
		params[0].Source != "from a row of public.shipments with warehouse_id = 999" {
		t.Errorf("hottest values %+v (%v): want warehouse 999 and its region", params, err)
	}
	// Where they meet they stand.
	params, err = SynthesizeParams(ctx, conn, cat, "SELECT * FROM parcels WHERE carrier = $1 AND depot_id = $2")
	if err != nil || params[0].Value != "dhl" || params[1].Value != "7" || !strings.HasPrefix(params[0].Source, "most common value") {
		t.Errorf("hottest parcels %+v (%v): want the busiest depot and the most common carrier, which it uses", params, err)
	}
}
