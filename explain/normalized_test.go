package explain

import (
	"context"
	"testing"
	"time"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

// reparseableSchema has the tables, columns and types reparseableCases use.
var reparseableSchema = []string{
	`CREATE DOMAIN "My Type" AS text`,
	`CREATE SCHEMA myschema`,
	`CREATE FUNCTION myschema.sum(text) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT $1'`,
	`CREATE TABLE t (a date, b bool, d date, x date, ts timestamp, tz timestamptz, t timetz, updated_at timestamptz,
		i int, n numeric, y numeric, p text, s text, "date $1" text)`,
	`CREATE TABLE lineitem (l_discount numeric(15, 2), l_quantity numeric(15, 2))`,
}

// reparseableCases: each output PREPAREs on the server (the parameters of
// each are $1 to $n, so that the server can type every one).
var reparseableCases = []struct{ in, want string }{
	// Typed literals the lexical pass rewrites.
	{"SELECT * FROM t WHERE d <= date $1 - interval $2 day",
		"SELECT * FROM t WHERE d <= $1::date - ($2::text || ' day')::interval"},
	{"SELECT * FROM t WHERE a >= DATE $1 AND a < DATE $1 + INTERVAL $2 MONTH",
		"SELECT * FROM t WHERE a >= $1::date AND a < $1::date + ($2::text || ' month')::interval"},
	{"SELECT timestamp with time zone $1, interval $2", "SELECT $1::timestamp with time zone, $2::interval"},
	{"SELECT 'date $1', \"date $1\" /* date $1 */ FROM t -- date $1\nWHERE x = date $1",
		"SELECT 'date $1', \"date $1\" /* date $1 */ FROM t -- date $1\nWHERE x = $1::date"},
	{"SELECT * FROM t WHERE updated_at > $1", "SELECT * FROM t WHERE updated_at > $1"},
	{"SELECT ts - interval $1 year to month, ts - interval $2 second(3) FROM t",
		"SELECT ts - $1::interval year to month, ts - ($2::text || ' second')::interval(3) FROM t"},

	// extract(year from d) is stored as extract($1 from d).
	{"SELECT extract($1 from d), EXTRACT ( $2 FROM ts + interval $3 day) FROM t",
		"SELECT pg_catalog.date_part($1, d), pg_catalog.date_part($2, ts + ($3::text || ' day')::interval) FROM t"},

	// Typed literals found in the parse tree.
	{"SELECT * FROM t WHERE n > numeric $1 AND i < int $2 AND b = bool $3",
		"SELECT * FROM t WHERE n > $1::numeric AND i < $2::int AND b = $3::bool"},
	{"SELECT varchar(10) $1, numeric(10, 2) $2, double precision $3, character varying $4, pg_catalog.int8 $5, \"My Type\" $6, jsonb $7",
		"SELECT $1::varchar(10), $2::numeric(10, 2), $3::double precision, $4::character varying, $5::pg_catalog.int8, $6::\"My Type\", $7::jsonb"},
	{"SELECT * FROM t WHERE ts > timestamp(3) $1 AND tz > timestamp(3) with time zone $2 AND t < time with time zone $3 AND ts - ts > interval(2) $4",
		"SELECT * FROM t WHERE ts > $1::timestamp(3) AND tz > $2::timestamp(3) with time zone AND t < $3::time with time zone AND ts - ts > $4::interval(2)"},
	{"SELECT 'é' AS \"ü\", numeric $1 FROM t WHERE s = 'ß' AND n = numeric $2",
		"SELECT 'é' AS \"ü\", $1::numeric FROM t WHERE s = 'ß' AND n = $2::numeric"},

	// Parameters with nothing to take a type from but a number.
	{"SELECT * FROM lineitem WHERE l_discount BETWEEN $1 - $2 AND $3 + $4 AND l_quantity <= $5 + $6",
		"SELECT * FROM lineitem WHERE l_discount BETWEEN $1::numeric - $2::numeric AND $3::numeric + $4::numeric AND l_quantity <= $5::numeric + $6::numeric"},
	{"SELECT sum(CASE WHEN p = $1 THEN $2 ELSE $3 END), avg($4), pg_catalog.sum($5) FROM t",
		"SELECT sum(CASE WHEN p = $1 THEN $2::numeric ELSE $3::numeric END), avg($4::numeric), pg_catalog.sum($5::numeric) FROM t"},
	{"SELECT $1 + $2 * $3, - $4, ($5 + $6) * n, CASE WHEN b THEN $7 END * n, coalesce($8, $9) / n FROM t",
		"SELECT $1::numeric + $2::numeric * $3::numeric, - $4::numeric, ($5::numeric + $6::numeric) * n, CASE WHEN b THEN $7::numeric END * n, coalesce($8::numeric, $9::numeric) / n FROM t"},
	{"SELECT sum($1 * CASE WHEN b THEN $2 ELSE NULL END) FROM t",
		"SELECT sum($1::numeric * CASE WHEN b THEN $2::numeric ELSE NULL END) FROM t"},
	{"SELECT '$5 + $6', $1 + $2 /* $3 + $4 */ FROM t -- $7 + $8\n",
		"SELECT '$5 + $6', $1::numeric + $2::numeric /* $3 + $4 */ FROM t -- $7 + $8\n"},

	// A typed peer, or no numeric context: left to the server.
	{"SELECT max(n * ($1 - y)), max($2 + n), sum(CASE WHEN b THEN n ELSE $3 END), myschema.sum($4), $5::int + $6 FROM t",
		"SELECT max(n * ($1 - y)), max($2 + n), sum(CASE WHEN b THEN n ELSE $3 END), myschema.sum($4), $5::int + $6 FROM t"},
	{"SELECT CASE WHEN b THEN $1 ELSE $2 END, coalesce($3, $4) FROM t WHERE s = CASE WHEN b THEN $5 ELSE $6 END AND $7 = $8",
		"SELECT CASE WHEN b THEN $1 ELSE $2 END, coalesce($3, $4) FROM t WHERE s = CASE WHEN b THEN $5 ELSE $6 END AND $7 = $8"},
}

// otherCases: texts the rewrite cannot help, returned as the lexical pass
// left them.
var otherCases = []struct{ in, want string }{
	{"SELECT 'unterminated date $1", "SELECT 'unterminated date $1"},
	// NORMALIZE's form is a keyword, which neither grammar takes a parameter for.
	{"SELECT normalize(s, $1), s IS $2 NORMALIZED, $3 + $4 FROM t", "SELECT normalize(s, $1), s IS $2 NORMALIZED, $3 + $4 FROM t"},
	{"SELECT date $1 + $2 + $3 FROM", "SELECT $1::date + $2 + $3 FROM"},
	{"SELECT numeric $1 FROM WHERE", "SELECT numeric $1 FROM WHERE"},
	// Moving a line comment after the parameter would comment out the rest.
	{"SELECT numeric -- type\n $1, $2 + $3 FROM t", "SELECT numeric -- type\n $1, $2::numeric + $3::numeric FROM t"},
	// $12 is cast as a whole (and, with $2 to $11 unused, the server could not type them).
	{"SELECT $1 + $12 FROM t", "SELECT $1::numeric + $12::numeric FROM t"},
	// What follows a parameter without a space stays a separate token.
	{"SELECT+$0AND 0", "SELECT+$0::numeric AND 0"},
	{"SELECT 1 WHERE x = DATE $1AND y", "SELECT 1 WHERE x = $1::date AND y"},
	{"SELECT\"T\"$1", "SELECT $1::\"T\""},
	{"SELECT a.interval $1, a . date $2", "SELECT $1::a.interval, $2::a . date"},
	{"SELECT char.a $1, $2 + $3", "SELECT char.a $1, $2 + $3"},
}

func TestReparseable(t *testing.T) {
	for _, tt := range append(reparseableCases, otherCases...) {
		if got := Reparseable(tt.in); got != tt.want {
			t.Errorf("Reparseable(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

// TestReparseablePrepares: the server takes every rewritten text as a
// prepared statement, the way the runner makes generic plans.
func TestReparseablePrepares(t *testing.T) {
	db := gateDatabase(t, "reparseable", reparseableSchema...)
	conn := connect(t, sandbox.DSN(db))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r := NewRunner(nil, RunnerOptions{})
	for _, tt := range reparseableCases {
		if _, err := r.PlanOnly(ctx, conn, tt.want, nil); err != nil {
			t.Errorf("%q: %v", tt.want, err)
		}
	}
}

// FuzzReparseable: no text panics; a text that parses still parses after
// the rewrite, and needs no more rewriting.
func FuzzReparseable(f *testing.F) {
	for _, tt := range append(reparseableCases, otherCases...) {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		out := Reparseable(in)
		if _, err := pg_query.Parse(in); err != nil {
			return
		}
		if _, err := pg_query.Parse(out); err != nil {
			t.Fatalf("Reparseable(%q) = %q, which does not parse: %v", in, out, err)
		}
		if again := Reparseable(out); again != out {
			t.Fatalf("Reparseable(%q) = %q, but Reparseable of that = %q", in, out, again)
		}
	})
}
