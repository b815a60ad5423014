package advisor

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

var createdName = regexp.MustCompile(`IF NOT EXISTS (\S+) ON`)

var updateDDL = flag.Bool("update-ddl", false, "rewrite advisor/testdata/ddl golden files")

// ddlCatalog is a hand-made catalog with the names the golden tests need.
func ddlCatalog() *collector.Catalog {
	return &collector.Catalog{
		Database: "shop",
		Tables: []collector.Table{
			{Schema: "public", Name: "orders", Kind: "r"},
			{Schema: "Sales", Name: "Order", Kind: "r"},
			{Schema: "public", Name: "customer_lifetime_value_snapshots_by_region", Kind: "r"},
			{Schema: "public", Name: "events", Kind: "p", Partitions: []string{"public.events_2024", "public.events_2025"}},
			{Schema: "public", Name: "events_2024", Kind: "r", Parent: "public.events"},
			{Schema: "public", Name: "events_2025", Kind: "p", Parent: "public.events", Partitions: []string{"public.events_2025_h1", "public.events_2025_h2"}},
			{Schema: "public", Name: "events_2025_h1", Kind: "r", Parent: "public.events_2025"},
			{Schema: "public", Name: "events_2025_h2", Kind: "r", Parent: "public.events_2025"},
			{Schema: "public", Name: "feeds", Kind: "p", Partitions: []string{"public.feeds_2025"}, ForeignPartitions: true},
			{Schema: "public", Name: "feeds_2025", Kind: "r", Parent: "public.feeds"},
		},
		Indexes: []collector.Index{{Schema: "public", Name: "orders_customer_id_idx", Table: "public.orders", Method: "btree",
			Keys: []collector.IndexKey{{Column: "customer_id"}, {Column: "id"}}, Valid: true},
			// Left by a build of the same index that failed: dropped, and the
			// index built under another name, which a second run keeps.
			{Schema: "public", Name: "orders_status_idx", Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "status"}}},
			// A failed unique build: it still enforces uniqueness, so it
			// is not the advisor's to drop, and its name is not reused.
			{Schema: "public", Name: "orders_email_idx", Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "email"}}, Unique: true},
			// A partitioned build that failed after one partition: resumed.
			{Schema: "public", Name: "events_account_id_idx", Table: "public.events", Method: "btree", Keys: []collector.IndexKey{{Column: "account_id"}}},
			{Schema: "public", Name: "events_2024_account_id_idx", Table: "public.events_2024", Method: "btree",
				Keys: []collector.IndexKey{{Column: "account_id"}}, Valid: true},
			// Takes the name orders (note) would get, with another definition.
			{Schema: "public", Name: "orders_note_idx", Table: "public.orders", Method: "btree",
				Keys: []collector.IndexKey{{Expression: "lower(note)"}}, Valid: true},
			// A partition's primary key on the candidate's column: it cannot
			// be attached under a non-unique index.
			{Schema: "public", Name: "events_2024_kind_pkey", Table: "public.events_2024", Method: "btree",
				Keys: []collector.IndexKey{{Column: "kind"}}, Valid: true, Unique: true, Primary: true, Constraint: true},
			// Built by hand on one partition: attached, not built again.
			{Schema: "public", Name: "h2_kind_by_hand", Table: "public.events_2025_h2", Method: "btree",
				Keys: []collector.IndexKey{{Column: "kind"}}, Valid: true},
		},
		// The name orders (total) would get.
		OtherRelations: []collector.RelationName{{Schema: "public", Name: "orders_total_idx"}},
	}
}

// dollarQuoted matches the body of a DO block, whose statements are one.
var dollarQuoted = regexp.MustCompile(`(?s)\$ddl\d*\$.*\$ddl\d*\$`)

func TestIndexDDLGolden(t *testing.T) {
	cases := []struct {
		name string
		c    Candidate
	}{
		{"plain", btree("public.orders", "tenant_id", "created_at")},
		{"quoted", Candidate{Table: `"Sales"."Order"`, Method: "btree", Keys: []collector.IndexKey{{Column: "userId"}, {Column: "select"}},
			Include: []string{"Total Amount"}}},
		{"long_name", btree("public.customer_lifetime_value_snapshots_by_region", "region_identifier", "snapshot_taken_at_timestamp")},
		{"name_taken", btree("public.orders", "customer_id")},
		{"partial", Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "created_at", Desc: true, NullsFirst: true}},
			Where: "status = 'open'"}},
		{"include", Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Include: []string{"status", "total"}}},
		{"gin_opclass", Candidate{Table: "public.orders", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}}},
		{"expressions", Candidate{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{
			{Expression: "lower(email)"}, {Expression: "(total + tax)", Desc: true}, {Column: "note", OpClass: "text_pattern_ops", NullsFirst: true}}}},
		{"rebuild_invalid", btree("public.orders", "status")},
		{"invalid_unique_kept", btree("public.orders", "email")},
		{"partitioned_resume", btree("public.events", "account_id")},
		{"partitioned_by_hand", btree("public.events", "kind")},
		{"name_taken_by_expression", btree("public.orders", "note")},
		{"partitioned", Candidate{Table: "public.events", Method: "btree", Keys: []collector.IndexKey{{Column: "account_id"}, {Column: "at", Desc: true, NullsFirst: true}}}},
	}
	cat := ddlCatalog()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := IndexDDL(cat, tc.c)
			if err != nil {
				t.Fatal(err)
			}
			for _, stmt := range s.Statements {
				if !strings.HasSuffix(stmt, ";") || strings.Count(dollarQuoted.ReplaceAllString(stmt, ""), ";") != 1 {
					t.Errorf("statement %q: want exactly one, ending with ';'", stmt)
				}
			}
			for _, m := range createdName.FindAllStringSubmatch(s.SQL(), -1) {
				if name := strings.Trim(m[1], `"`); len(name) > maxIdentBytes {
					t.Errorf("index name %s is %d bytes, longer than %d", name, len(name), maxIdentBytes)
				}
			}
			got := s.SQL() + "\n-- name: " + s.Name + "\n" + s.Verify
			path := filepath.Join("testdata", "ddl", tc.name+".sql")
			if *updateDDL {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("%v (run go test ./advisor -run TestIndexDDLGolden -update-ddl to create it)", err)
			}
			if got != string(want) {
				t.Errorf("DDL differs from %s:\n--- got\n%s\n--- want\n%s", path, got, want)
			}
		})
	}
}

func TestIndexDDLNamesAreDeterministicAndDistinct(t *testing.T) {
	cat := ddlCatalog()
	names := map[string]string{}
	for _, c := range []Candidate{
		btree("public.orders", "tenant_id"),
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Where: "status = 'open'"},
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Where: "status = 'void'"},
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Include: []string{"status"}},
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id", Desc: true, NullsFirst: true}}},
		{Table: "public.orders", Method: "hash", Keys: []collector.IndexKey{{Column: "tenant_id"}}},
	} {
		a, err := IndexDDL(cat, c)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := IndexDDL(cat, c)
		if a.SQL() != b.SQL() {
			t.Errorf("two runs differ:\n%s\n%s", a.SQL(), b.SQL())
		}
		if prev, dup := names[a.Name]; dup {
			t.Errorf("%s names both %s and %s: IF NOT EXISTS would skip one", a.Name, prev, a.SQL())
		}
		names[a.Name] = a.SQL()
	}
}

// "_" joins the table's name and the columns' in a plain name, and occurs
// in them too: two indexes that would spell the same name get hashed ones.
func TestIndexDDLNamesOfIndexesSpeltAlike(t *testing.T) {
	cols := func(names ...string) []collector.Column {
		var out []collector.Column
		for _, n := range names {
			out = append(out, collector.Column{Name: n, Type: "bigint"})
		}
		return out
	}
	cat := &collector.Catalog{Database: "app", Tables: []collector.Table{
		{Schema: "public", Name: "account", Kind: "r", Columns: cols("id", "user_id")},
		{Schema: "public", Name: "account_user", Kind: "r", Columns: cols("id", "a", "b", "a_b")},
		{Schema: "other", Name: "account", Kind: "r", Columns: cols("id", "user")},
	}}
	names := map[string]bool{}
	for _, c := range []Candidate{
		btree("public.account", "user_id"),
		btree("public.account_user", "id"),
		btree("public.account_user", "a_b"),
		btree("public.account_user", "a", "b"),
	} {
		s, err := IndexDDL(cat, c)
		if err != nil {
			t.Fatal(err)
		}
		if names[s.Name] {
			t.Errorf("%s names two indexes: IF NOT EXISTS would skip one", s.Name)
		}
		names[s.Name] = true
	}
	// Spelt once in its schema: the plain name.
	if s, _ := IndexDDL(cat, btree("public.account_user", "b")); s.Name != "public.account_user_b_idx" {
		t.Errorf("name %s, want public.account_user_b_idx", s.Name)
	}
}

func TestIndexDDLRejectsBadInput(t *testing.T) {
	cat := ddlCatalog()
	for _, tc := range []struct {
		c    Candidate
		want string
	}{
		{Candidate{Table: "public.nope", Keys: []collector.IndexKey{{Column: "a"}}}, "not in the catalog"},
		{Candidate{Table: "public.orders"}, "no key columns"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{}}}, "neither a column nor an expression"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Column: "a", Expression: "lower(a)"}}}, "both a column"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Expression: "lower(a)); DROP TABLE orders; --"}}}, "without comments or ';'"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Expression: "a), (b"}}}, "one expression"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Column: "a"}}, Where: "true /* */"}, "without comments"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Column: "a"}}, Where: "a > 1) FROM x WHERE (true"}, "one expression"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Column: "a"}}, Where: "true) OFFSET (1"}, "one expression"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Expression: "a) FOR UPDATE --"}}}, "without comments"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Expression: "a) WINDOW w AS (PARTITION BY (a)"}}}, "one expression"},
		{Candidate{Table: "public.orders", Keys: []collector.IndexKey{{Column: "a", OpClass: "x y"}}}, "operator class"},
		{Candidate{Table: "public.orders", Method: "gin; drop", Keys: []collector.IndexKey{{Column: "a"}}}, "access method"},
		{Candidate{Table: "public.orders", Method: "gin", Keys: []collector.IndexKey{{Column: "a"}}, Include: []string{"b"}}, "INCLUDE is not supported"},
		{Candidate{Table: "public.events", Keys: []collector.IndexKey{{Column: "a"}}}, ""},
	} {
		_, err := IndexDDL(cat, tc.c)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v: %v", tc.c, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: error %v, want one containing %q", tc.c, err, tc.want)
		}
	}
	broken := ddlCatalog()
	broken.Tables[3].Partitions = append(broken.Tables[3].Partitions, "public.events_gone")
	if _, err := IndexDDL(broken, Candidate{Table: "public.events", Keys: []collector.IndexKey{{Column: "a"}}}); err == nil ||
		!strings.Contains(err.Error(), "partition public.events_gone of public.events is not in the catalog") {
		t.Errorf("missing partition: %v", err)
	}
	if _, err := IndexDDL(nil, btree("public.orders", "a")); err == nil {
		t.Error("nil catalog: no error")
	}
}

// TestIndexDDLRuns builds every golden case's table for real and runs the
// scripts statement by statement on the primary, as psql would, in a
// database whose default statement_timeout the scripts must lift: every
// index must exist and be valid, and a second run must change nothing.
func TestIndexDDLRuns(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.CreateDatabase(ctx, "ddl_runs"); err != nil {
		t.Fatal(err)
	}
	dropAtCleanup(t, "ddl_runs")
	setup := []string{
		`CREATE TABLE orders (id bigint PRIMARY KEY, tenant_id int, customer_id int, created_at timestamptz, status text,
			total numeric, tax numeric, email text, note text, payload jsonb)`,
		`CREATE INDEX orders_customer_id_idx ON orders (customer_id, id)`,
		`INSERT INTO orders SELECT g, g % 7, g % 11, now(), 'open', g, 1, 'E' || g, 'n', '{}' FROM generate_series(1, 1000) g`,
		`CREATE SCHEMA "Sales"`,
		`CREATE TABLE "Sales"."Order" ("userId" int, "select" int, "Total Amount" numeric)`,
		`CREATE TABLE customer_lifetime_value_snapshots_by_region (region_identifier int, snapshot_taken_at_timestamp timestamptz)`,
		`CREATE TABLE events (account_id int, at timestamptz, kind text) PARTITION BY RANGE (at)`,
		`CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
		`CREATE TABLE events_2025 PARTITION OF events FOR VALUES FROM ('2025-01-01') TO ('2026-01-01') PARTITION BY RANGE (at)`,
		`CREATE TABLE events_2025_h1 PARTITION OF events_2025 FOR VALUES FROM ('2025-01-01') TO ('2025-07-01')`,
		`CREATE TABLE events_2025_h2 PARTITION OF events_2025 FOR VALUES FROM ('2025-07-01') TO ('2026-01-01')`,
		`INSERT INTO events SELECT g % 13, '2024-06-01'::timestamptz + g * interval '1 hour' FROM generate_series(1, 10000) g`,
		`CREATE EXTENSION file_fdw`,
		`CREATE SERVER files FOREIGN DATA WRAPPER file_fdw`,
		`CREATE TABLE feeds (account_id int, at date) PARTITION BY RANGE (at)`,
		`CREATE TABLE feeds_2025 PARTITION OF feeds FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
		`CREATE FOREIGN TABLE feeds_archive PARTITION OF feeds FOR VALUES FROM ('2000-01-01') TO ('2025-01-01') SERVER files OPTIONS (filename '/dev/null')`,
		// What failed builds leave (ddlCatalog has them too).
		`CREATE INDEX orders_status_idx ON orders (status)`,
		`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'orders_status_idx'::regclass`,
		`CREATE INDEX events_account_id_idx ON ONLY events (account_id)`,
		`CREATE INDEX events_2024_account_id_idx ON events_2024 (account_id)`,
		`CREATE INDEX h2_kind_by_hand ON events_2025_h2 (kind)`,
		`CREATE SEQUENCE orders_total_idx`,
		// A role's or database's timeout must not apply to the builds. It is
		// checked below rather than raced: a timeout short enough to cancel any
		// build also cancels a SET now and then on a loaded machine.
		`ALTER DATABASE ddl_runs SET statement_timeout = '30s'`,
	}
	if err := c.Exec(ctx, "ddl_runs", setup...); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("ddl_runs"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	cat := ddlCatalog()
	for _, cand := range []Candidate{
		btree("public.orders", "tenant_id", "created_at"),
		{Table: `"Sales"."Order"`, Method: "btree", Keys: []collector.IndexKey{{Column: "userId"}, {Column: "select"}}, Include: []string{"Total Amount"}},
		btree("public.customer_lifetime_value_snapshots_by_region", "region_identifier", "snapshot_taken_at_timestamp"),
		btree("public.orders", "customer_id"),
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "created_at", Desc: true, NullsFirst: true}}, Where: "status = 'open'"},
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Column: "tenant_id"}}, Include: []string{"status", "total"}},
		{Table: "public.orders", Method: "gin", Keys: []collector.IndexKey{{Column: "payload", OpClass: "jsonb_path_ops"}}},
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{
			{Expression: "lower(email)"}, {Expression: "(total + tax)", Desc: true}, {Column: "note", OpClass: "text_pattern_ops", NullsFirst: true}}},
		// Parsed as a function call, but not written as one: it needs parentheses.
		{Table: "public.orders", Method: "btree", Keys: []collector.IndexKey{{Expression: "created_at AT TIME ZONE 'UTC'"}}},
		{Table: "public.events", Method: "btree", Keys: []collector.IndexKey{{Column: "account_id"}, {Column: "at", Desc: true, NullsFirst: true}}},
		btree("public.orders", "status"),
		btree("public.events", "account_id"),
		btree("public.events", "kind"),
		btree("public.feeds", "account_id"),
		btree("public.orders", "total"), // its name is a sequence's
	} {
		script, err := IndexDDL(cat, cand)
		if err != nil {
			t.Fatal(err)
		}
		var built [2]string // the user indexes after each run
		for run := range 2 {
			for _, stmt := range script.Statements {
				if !strings.HasPrefix(stmt, "SET ") {
					var timeout string
					if err := conn.QueryRow(ctx, `SELECT current_setting('statement_timeout')`).Scan(&timeout); err != nil {
						t.Fatal(err)
					}
					if timeout != "0" {
						t.Fatalf("%s runs under the database's statement_timeout %s", stmt, timeout)
					}
				}
				// The simple protocol, one statement per message: no implicit transaction block.
				if _, err := conn.PgConn().Exec(ctx, stmt).ReadAll(); err != nil {
					t.Fatalf("run %d of %s: %s: %v", run+1, script.Name, stmt, err)
				}
			}
			if err := conn.QueryRow(ctx, `SELECT string_agg(indexrelid::regclass || '@' || indexrelid::oid, ' ' ORDER BY indexrelid)
				FROM pg_index WHERE indexrelid >= 16384`).Scan(&built[run]); err != nil {
				t.Fatal(err)
			}
		}
		if built[0] != built[1] {
			t.Errorf("run 2 of %s dropped or built indexes: %s, then %s", script.Name, built[0], built[1])
		}
		verify, _, _ := strings.Cut(script.Verify, "\n")
		valid, err := verified(ctx, conn, verify)
		if err != nil {
			t.Fatal(err)
		}
		for name, ok := range valid {
			if ok == nil || !*ok {
				t.Errorf("%s: index %s is missing or not valid", script.Name, name)
			}
		}
		if len(valid) == 0 || !strings.Contains(verify, script.Name) {
			t.Errorf("%s: the verify query lists %v, not the index", script.Name, valid)
		}
	}
	// Every partition of events got each index, attached under the
	// parent's, the one a failed build left included; and the failed
	// builds were finished, not built again beside.
	for _, root := range []string{"events_account_id_at_92f0a929_idx", "events_account_id_idx"} {
		var attached int
		err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_partition_tree($1::regclass) WHERE parentrelid IS NOT NULL`, root).Scan(&attached)
		if err != nil || attached != 4 {
			t.Errorf("index tree under %s: %d indexes besides the root, want 4 (events_2024, events_2025 and its two halves): %v", root, attached, err)
		}
	}
	// When a partition's concurrent build failed, the parent's CREATE INDEX
	// refuses to build it under a lock that blocks writes.
	script, err := IndexDDL(cat, btree("public.feeds", "at"))
	if err != nil {
		t.Fatal(err)
	}
	guarded := script.Statements[len(script.Statements)-1]
	if _, err := conn.PgConn().Exec(ctx, guarded).ReadAll(); err == nil || !strings.Contains(err.Error(), "missing or invalid") {
		t.Errorf("%s: want the missing partition index refused, got %v", guarded, err)
	}
	var built bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT FROM pg_index WHERE indrelid = 'feeds_2025'::regclass AND indnatts = 1 AND indkey[0] = 2)`).Scan(&built); err != nil || built {
		t.Errorf("an index on feeds_2025 (at) was built by the parent's statement: %v", err)
	}
	// The verify query lists the indexes that are missing, without failing.
	if valid, err := verified(ctx, conn, script.Verify); err != nil || len(valid) != 2 || valid[script.Name] != nil {
		t.Errorf("verify of an index not built: %v, %v; want its two indexes listed, with no validity", valid, err)
	}
	// A partition's index that a failed build left invalid is not attached:
	// attached, DROP INDEX CONCURRENTLY would refuse it.
	if err := c.Exec(ctx, "ddl_runs",
		`CREATE TABLE logs (at date) PARTITION BY RANGE (at)`,
		`CREATE TABLE logs_2025 PARTITION OF logs FOR VALUES FROM ('2025-01-01') TO ('2026-01-01')`,
		`CREATE INDEX logs_at_idx ON ONLY logs (at)`,
		`CREATE INDEX logs_2025_at_idx ON logs_2025 (at)`,
		`UPDATE pg_index SET indisvalid = false WHERE indexrelid = 'logs_2025_at_idx'::regclass`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.PgConn().Exec(ctx, attachValid("public.logs_at_idx", "public.logs_2025_at_idx")).ReadAll(); err == nil || !strings.Contains(err.Error(), "missing or invalid") {
		t.Errorf("attaching an invalid partition index: want it refused, got %v", err)
	}
	if _, err := conn.PgConn().Exec(ctx, "DROP INDEX CONCURRENTLY logs_2025_at_idx").ReadAll(); err != nil {
		t.Errorf("the invalid partition index cannot be dropped alone: %v", err)
	}
	// The catalog knows feeds has a foreign partition, whose absence from
	// the index tree does not leave the parent's index invalid.
	loaded, err := collector.LoadCatalog(ctx, conn, nil)
	if err != nil {
		t.Fatal(err)
	}
	if feeds, ok := loaded.Table("public", "feeds"); !ok || !feeds.ForeignPartitions || !slices.Equal(feeds.Partitions, []string{"public.feeds_2025"}) {
		t.Errorf("catalog entry of feeds: %+v, want ForeignPartitions and only feeds_2025 as a partition", feeds)
	}
	// The failed builds were finished and the index built by hand attached,
	// none built again beside.
	var onStatus, onAccount, onKind int
	err = conn.QueryRow(ctx, `WITH one(tab, col) AS (VALUES ('orders'::regclass, 'status'), ('events_2024', 'account_id'), ('events_2025_h2', 'kind'))
		SELECT count(*) FILTER (WHERE col = 'status'), count(*) FILTER (WHERE col = 'account_id'), count(*) FILTER (WHERE col = 'kind')
		FROM one JOIN pg_attribute a ON a.attrelid = tab AND a.attname = col JOIN pg_index i ON i.indrelid = tab AND i.indkey::text = a.attnum::text`).Scan(&onStatus, &onAccount, &onKind)
	if err != nil || onStatus != 1 || onAccount != 1 || onKind != 1 {
		t.Errorf("%d indexes on orders (status), %d on events_2024 (account_id) and %d on events_2025_h2 (kind), want 1 of each: %v", onStatus, onAccount, onKind, err)
	}
}

// verified runs a script's verify query: each index it lists, with its
// validity, nil when missing.
func verified(ctx context.Context, conn *pgx.Conn, verify string) (map[string]*bool, error) {
	rows, err := conn.Query(ctx, verify)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", verify, err)
	}
	out := map[string]*bool{}
	var name string
	var valid *bool
	_, err = pgx.ForEachRow(rows, []any{&name, &valid}, func() error {
		if valid != nil {
			v := *valid
			out[name] = &v
		} else {
			out[name] = nil
		}
		return nil
	})
	return out, err
}
