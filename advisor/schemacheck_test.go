package advisor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// findingLine is a finding compactly: "kind severity table: evidence index".
func findingLine(f explain.Finding) string {
	s := fmt.Sprintf("%s %s %s", f.Kind, f.Severity, f.Table)
	if ix, ok := f.Evidence["index"]; ok {
		s += " " + fmt.Sprint(ix)
	}
	if c, ok := f.Evidence["constraint"]; ok {
		s += " " + fmt.Sprint(c)
	}
	return s
}

func findingLines(fs []explain.Finding) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = findingLine(f)
	}
	return out
}

func TestSchemaChecksCatalog(t *testing.T) {
	btree := func(table, name string, cols ...string) collector.Index {
		ix := collector.Index{Schema: "public", Name: name, Table: table, Method: "btree", Valid: true, Ready: true, SizeBytes: 4 << 20, IdxScan: 10}
		for _, c := range cols {
			ix.Keys = append(ix.Keys, collector.IndexKey{Column: c})
		}
		return ix
	}
	partial := btree("public.a", "a_x_partial", "x")
	partial.Predicate = "(x > 0)"
	unique := btree("public.a", "a_x_key", "x")
	unique.Unique, unique.Constraint = true, true
	unused := btree("public.a", "a_z_unused", "z")
	unused.IdxScan = 0
	smallUnused := btree("public.a", "a_w_small", "w")
	smallUnused.IdxScan, smallUnused.SizeBytes = 0, 8192
	smallUnused.Predicate = "(w > 0)" // partial: does not index the foreign key on w
	invalid := btree("public.a", "a_w_invalid", "w")
	invalid.Valid, invalid.Unique = false, true
	invalid.Definition = "CREATE UNIQUE INDEX a_w_invalid ON public.a USING btree (w)"
	ccnew := btree("public.a", "a_x_idx_ccnew", "x")
	ccnew.Valid = false
	exprA := btree("public.b", "b_lower_a")
	exprA.Keys = []collector.IndexKey{{Expression: "lower((name)::text)"}}
	exprB := btree("public.b", "b_lower_b")
	exprB.Keys = []collector.IndexKey{{Expression: "lower(name)"}}
	descA := btree("public.b", "b_t_desc", "t")
	descA.Keys[0].Desc, descA.Keys[0].NullsFirst = true, true
	tNameUnused := btree("public.b", "b_t_name_unused", "t", "name")
	tNameUnused.IdxScan = 0
	partInvalid := btree("public.p", "p_k_only", "k", "at")
	partInvalid.Valid = false
	nameC := btree("public.b", "b_name_c", "name")
	nameC.Keys[0].Collation = `pg_catalog."C"`
	exprC := btree("public.b", "b_lower_c")
	exprC.Keys = []collector.IndexKey{{Expression: "lower(name)", Collation: `pg_catalog."C"`}}

	cat := &collector.Catalog{
		Tables: []collector.Table{
			{Schema: "public", Name: "a", Kind: "r", HasPrimaryKey: true, RelTuples: 5e6, Columns: []collector.Column{
				{Name: "x", Type: "integer"}, {Name: "y", Type: "integer"}, {Name: "z", Type: "timestamp(3) without time zone"}, {Name: "w", Type: "integer"},
			}},
			{Schema: "public", Name: "b", Kind: "r", HasPrimaryKey: true, RelTuples: 500, Columns: []collector.Column{
				{Name: "a_x", Type: "integer"}, {Name: "a_y", Type: "integer"}, {Name: "name", Type: "text"}, {Name: "t", Type: "timestamp with time zone"},
			}},
			{Schema: "public", Name: "nopk", Kind: "r", RelTuples: 10, Columns: []collector.Column{{Name: "k", Type: "integer", NotNull: true}}},
			{Schema: "public", Name: "nopk_at_all", Kind: "r", RelTuples: 10, Columns: []collector.Column{{Name: "k", Type: "integer"}}},
			{Schema: "public", Name: "mv", Kind: "m"},
			{Schema: "public", Name: "p", Kind: "p", Partitions: []string{"public.p1"}, Columns: []collector.Column{{Name: "at", Type: "timestamp without time zone"}, {Name: "k", Type: "integer"}}},
			{Schema: "public", Name: "p1", Kind: "r", Parent: "public.p", RelTuples: 2e4, Columns: []collector.Column{{Name: "at", Type: "timestamp without time zone"}, {Name: "k", Type: "integer"}}},
			// Its foreign key is indexed on each partition, by hand, not on it.
			{Schema: "public", Name: "q", Kind: "p", HasPrimaryKey: true, Partitions: []string{"public.q1", "public.q2"}, Columns: []collector.Column{{Name: "ref", Type: "integer"}}},
			{Schema: "public", Name: "q1", Kind: "r", Parent: "public.q", HasPrimaryKey: true, RelTuples: 2e4, Columns: []collector.Column{{Name: "ref", Type: "integer"}}},
			{Schema: "public", Name: "q2", Kind: "p", Parent: "public.q", HasPrimaryKey: true, Partitions: []string{"public.q2a"}, Columns: []collector.Column{{Name: "ref", Type: "integer"}}},
			{Schema: "public", Name: "q2a", Kind: "r", Parent: "public.q2", HasPrimaryKey: true, RelTuples: 2e4, Columns: []collector.Column{{Name: "ref", Type: "integer"}}},
		},
		Indexes: []collector.Index{
			btree("public.a", "a_pkey", "x", "y"),
			btree("public.a", "a_y", "y"),
			btree("public.a", "a_y_x", "y", "x"),      // makes a_y redundant
			btree("public.a", "a_y_x_copy", "y", "x"), // duplicate of a_y_x
			partial, // different predicate: not redundant with a_pkey
			unique,  // unique: never redundant
			unused, smallUnused, invalid, ccnew,
			exprA, exprB, // duplicates once normalized
			exprC, // in another collation: no duplicate of either
			nameC, // in another collation: does not serve fk b(name)
			// On a partitioned table: reported on the parent only, and
			// dropped without CONCURRENTLY, which it does not allow.
			btree("public.p", "p_k", "k"), btree("public.p", "p_k_copy", "k"),
			btree("public.p1", "p1_k_idx", "k"), btree("public.p1", "p1_k_idx1", "k"),
			partInvalid,
			descA, btree("public.b", "b_t_asc", "t"), // different direction: not duplicates
			tNameUnused, // unused: b_t_asc, its prefix, is not redundant beside it
			btree("public.b", "b_ax_ay_name", "a_y", "a_x", "name"),                      // covers fk b(a_x, a_y) in the other order
			btree("public.b", "b_ay", "a_y"), btree("public.b", "b_ay_ax", "a_y", "a_x"), // a chain: both give way to b_ax_ay_name
			btree("public.q1", "q1_ref", "ref"), btree("public.q2a", "q2a_ref", "ref"),
			{Schema: "public", Name: "nopk_k", Table: "public.nopk", Method: "btree", Unique: true, Valid: true, Keys: []collector.IndexKey{{Column: "k"}}, IdxScan: 1},
		},
		ForeignKeys: []collector.ForeignKey{
			{Name: "b_a_fkey", Table: "public.b", Columns: []string{"a_x", "a_y"}, RefTable: "public.a", RefColumns: []string{"x", "y"}, OnDelete: "CASCADE"},
			{Name: "a_w_fkey", Table: "public.a", Columns: []string{"w"}, RefTable: "public.b", RefColumns: []string{"a_x"}, OnDelete: "NO ACTION"},
			{Name: "b_name_fkey", Table: "public.b", Columns: []string{"name"}, RefTable: "public.a", OnDelete: "SET NULL"},
			{Name: "p_fkey", Table: "public.p", Columns: []string{"at"}, RefTable: "public.a", OnDelete: "NO ACTION"},
			{Name: "p1_fkey", Table: "public.p1", Columns: []string{"at"}, RefTable: "public.a", OnDelete: "NO ACTION"}, // inherited
			{Name: "q_fkey", Table: "public.q", Columns: []string{"ref"}, RefTable: "public.a", OnDelete: "CASCADE"},
		},
	}
	cat.Indexes[0].Primary, cat.Indexes[0].Constraint, cat.Indexes[0].Unique = true, true, true

	got := findingLines(SchemaChecks(cat))
	want := []string{
		"invalid_index warning public.a public.a_w_invalid",
		"invalid_index warning public.a public.a_x_idx_ccnew",
		"invalid_index warning public.p public.p_k_only",
		"unindexed_fk critical public.a a_w_fkey",   // 5M rows, and its only index is invalid
		"unindexed_fk warning public.b b_name_fkey", // small, but ON DELETE SET NULL
		"unindexed_fk warning public.p p_fkey",      // 20k rows in its partition
		"duplicate_index warning public.a public.a_y_x_copy",
		"duplicate_index warning public.b public.b_lower_b",
		"duplicate_index warning public.p public.p_k_copy",
		"redundant_index info public.a public.a_y",
		"redundant_index info public.b public.b_ay",
		"redundant_index info public.b public.b_ay_ax",
		"unused_index info public.a public.a_z_unused",
		"unused_index info public.b public.b_t_name_unused",
		"missing_primary_key info public.nopk",
		"missing_primary_key warning public.nopk_at_all",
		"missing_primary_key warning public.p",
		"timestamp_without_tz info public.a",
		"timestamp_without_tz info public.p",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	// A plan that scans it (from the replica, or since the index was
	// built) outweighs its counter: not reported unused.
	plan, err := explain.ParsePlan([]byte(`[{"Plan": {"Node Type": "Bitmap Heap Scan", "Relation Name": "a", "Plans": [
		{"Node Type": "Bitmap Index Scan", "Index Name": "a_z_unused", "Parent Relationship": "Outer"}]}}]`))
	if err != nil {
		t.Fatal(err)
	}
	if got := findingLines(SchemaChecks(cat, plan)); slices.Contains(got, "unused_index info public.a public.a_z_unused") || len(got) != len(want)-1 {
		t.Errorf("with a plan scanning a_z_unused, got:\n  %s", strings.Join(got, "\n  "))
	}
	for _, f := range SchemaChecks(cat) {
		if f.Detail == "" || f.Fix == "" {
			t.Errorf("%s: empty detail or fix: %+v", findingLine(f), f)
		}
		switch findingLine(f) {
		case "unindexed_fk critical public.a a_w_fkey":
			if f.Fix != "SET lock_timeout = '5s';\nSET statement_timeout = 0;\nCREATE INDEX CONCURRENTLY IF NOT EXISTS a_w_idx ON public.a USING btree (w);" {
				t.Errorf("fk fix: %q", f.Fix)
			}
		case "redundant_index info public.b public.b_ay", "redundant_index info public.b public.b_ay_ax":
			if f.Evidence["keep"] != "public.b_ax_ay_name" {
				t.Errorf("%s keeps %v, want the longest, public.b_ax_ay_name", findingLine(f), f.Evidence["keep"])
			}
		case "duplicate_index warning public.p public.p_k_copy":
			if !strings.HasPrefix(f.Fix, "DROP INDEX public.p_k_copy; -- a partitioned index cannot be dropped CONCURRENTLY") {
				t.Errorf("partitioned duplicate's fix: %q", f.Fix)
			}
		case "invalid_index warning public.p public.p_k_only":
			if !strings.Contains(f.Fix, "ALTER INDEX public.p_k_only ATTACH PARTITION") || strings.Contains(f.Fix, "CONCURRENTLY public.p_k_only") {
				t.Errorf("invalid partitioned index's fix: %q", f.Fix)
			}
		case "duplicate_index warning public.a public.a_y_x_copy":
			if f.Fix != "DROP INDEX CONCURRENTLY public.a_y_x_copy;" || f.Evidence["keep"] != "public.a_y_x" {
				t.Errorf("duplicate: fix %q, keep %v", f.Fix, f.Evidence["keep"])
			}
		case "invalid_index warning public.a public.a_w_invalid":
			if !strings.Contains(f.Fix, "CREATE UNIQUE INDEX CONCURRENTLY a_w_invalid ON public.a USING btree (w);") ||
				!strings.Contains(f.Fix, "REINDEX INDEX CONCURRENTLY public.a_w_invalid;") {
				t.Errorf("invalid fix: %q", f.Fix)
			}
		case "invalid_index warning public.a public.a_x_idx_ccnew":
			if f.Fix != "DROP INDEX CONCURRENTLY public.a_x_idx_ccnew;" {
				t.Errorf("ccnew fix: %q", f.Fix)
			}
		case "missing_primary_key info public.nopk":
			if f.Fix != "ALTER TABLE public.nopk ADD CONSTRAINT nopk_k PRIMARY KEY USING INDEX nopk_k;" {
				t.Errorf("pk fix: %q", f.Fix)
			}
		case "timestamp_without_tz info public.a":
			if !strings.Contains(f.Fix, "ALTER TABLE public.a ALTER COLUMN z TYPE timestamptz;") {
				t.Errorf("timestamp fix: %q", f.Fix)
			}
		}
	}
	if SchemaChecks(nil) != nil || len(SchemaChecks(&collector.Catalog{})) != 0 {
		t.Error("empty catalogs: want no findings")
	}
}

// TestSchemaChecksSandbox builds each problem in a real database, loads
// its catalog, checks what is found, then runs the fixes and checks that
// the findings they address are gone.
func TestSchemaChecksSandbox(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	const db = "schemacheck"
	if err := c.CreateDatabase(ctx, db); err != nil {
		t.Fatal(err)
	}
	err := c.Exec(ctx, db,
		`CREATE TABLE parents (a int, b int, PRIMARY KEY (a, b))`,
		// Composite FK whose columns lead an index in the other order: fine.
		`CREATE TABLE children (id int PRIMARY KEY, pa int, pb int, FOREIGN KEY (pa, pb) REFERENCES parents (a, b))`,
		`CREATE INDEX children_pb_pa ON children (pb, pa, id)`,
		`CREATE TABLE customers (id bigint PRIMARY KEY, email text)`,
		`CREATE UNIQUE INDEX customers_email_key ON customers (email)`,
		`CREATE INDEX customers_email_id ON customers (email, id)`,
		`CREATE TABLE "Orders" (id bigint PRIMARY KEY, "customerId" bigint REFERENCES customers ON DELETE CASCADE,
			status text, created_at timestamp)`,
		`INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 100) g`,
		`INSERT INTO "Orders" SELECT g, 1 + g % 100, 's' || g % 7, now() - g * interval '1 min' FROM generate_series(1, 60000) g`,
		`CREATE INDEX orders_created_a ON "Orders" (created_at)`,
		`CREATE INDEX orders_created_b ON "Orders" (created_at)`,
		`CREATE INDEX orders_status ON "Orders" (status)`,
		`CREATE INDEX orders_status_created ON "Orders" (status, created_at)`,
		`CREATE TABLE dupvals (v int)`,
		`INSERT INTO dupvals VALUES (1), (1)`,
		`CREATE TABLE logs (at timestamp NOT NULL, customer_id bigint REFERENCES customers, msg text) PARTITION BY RANGE (at)`,
		`CREATE TABLE logs_2024 PARTITION OF logs FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
		`CREATE TABLE events (id bigint, at timestamptz, PRIMARY KEY (id, at)) PARTITION BY RANGE (at)`,
		`CREATE TABLE events_2024 PARTITION OF events FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')`,
		// ON ONLY a table with a foreign partition: invalid for good.
		`CREATE EXTENSION file_fdw`,
		`CREATE SERVER files FOREIGN DATA WRAPPER file_fdw`,
		`CREATE TABLE feeds (id bigint, at date) PARTITION BY RANGE (id)`,
		`CREATE TABLE feeds_new PARTITION OF feeds FOR VALUES FROM (1000) TO (2000)`,
		`CREATE FOREIGN TABLE feeds_archive PARTITION OF feeds FOR VALUES FROM (0) TO (1000) SERVER files OPTIONS (filename '/dev/null')`,
		`CREATE INDEX feeds_at ON ONLY feeds (at)`,
		`CREATE INDEX feeds_new_at ON feeds_new (at)`,
		`ALTER INDEX feeds_at ATTACH PARTITION feeds_new_at`,
		// The foreign key checks through accounts_id_z, the first built:
		// of the duplicates, accounts_id_a is the one DROP INDEX accepts.
		// A UNIQUE constraint's index cannot become the primary key.
		`CREATE TABLE accounts (id int, ext text NOT NULL UNIQUE)`,
		`CREATE UNIQUE INDEX accounts_id_z ON accounts (id)`,
		`CREATE TABLE account_events (id bigint PRIMARY KEY, account_id int REFERENCES accounts (id))`,
		`CREATE UNIQUE INDEX accounts_id_a ON accounts (id)`,
		`INSERT INTO accounts SELECT g, 'e' || g FROM generate_series(1, 60000) g`,
		`INSERT INTO account_events SELECT g, g FROM generate_series(1, 60000) g`,
		// Never scanned, but the foreign key's only index.
		`CREATE INDEX account_events_account_id ON account_events (account_id)`,
		`ANALYZE`,
	)
	if err != nil {
		t.Fatal(err)
	}
	// A unique index built concurrently over duplicates fails and stays INVALID.
	if err := c.Exec(ctx, db, `CREATE UNIQUE INDEX CONCURRENTLY dupvals_v ON dupvals (v)`); err == nil {
		t.Fatal("the unique index over duplicates was built")
	}

	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	load := func() []explain.Finding {
		t.Helper()
		cat, err := collector.LoadCatalog(ctx, conn, zap.NewNop())
		if err != nil {
			t.Fatal(err)
		}
		return SchemaChecks(cat)
	}

	findings := load()
	got := findingLines(findings)
	want := []string{
		"invalid_index warning public.dupvals public.dupvals_v",
		"invalid_index warning public.feeds public.feeds_at",
		`unindexed_fk critical public."Orders" Orders_customerId_fkey`,
		"unindexed_fk info public.logs logs_customer_id_fkey",
		`duplicate_index warning public."Orders" public.orders_created_b`,
		"duplicate_index warning public.accounts public.accounts_id_a",
		// orders_status, a prefix of orders_status_created, is not
		// redundant: that one is unused, and goes instead. The
		// duplicates' keeper, orders_created_a, is not reported unused
		// too: both would go.
		`unused_index info public."Orders" public.orders_status_created`,
		"missing_primary_key warning public.accounts",
		"missing_primary_key warning public.dupvals",
		"missing_primary_key warning public.feeds",
		"missing_primary_key warning public.logs",
		`timestamp_without_tz info public."Orders"`,
		"timestamp_without_tz info public.logs",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}

	// The fixes are valid SQL that remove what they address.
	fixed := map[string]bool{"unindexed_fk": true, "duplicate_index": true, "redundant_index": true}
	for _, f := range findings {
		if !fixed[f.Kind] && f.Kind != "invalid_index" {
			continue
		}
		stmts, err := sqltree.Statements(f.Fix)
		if err != nil {
			t.Fatalf("%s: fix %q: %v", findingLine(f), f.Fix, err)
		}
		for _, stmt := range stmts {
			if f.Kind == "invalid_index" && !strings.HasPrefix(stmt, "DROP") {
				continue // rebuilding the unique index would fail again on the duplicates
			}
			if _, err := conn.Exec(ctx, stmt); err != nil {
				t.Fatalf("%s: fix %q: %v", findingLine(f), stmt, err)
			}
		}
	}
	// On a table with a foreign partition, the fix drops the index (its
	// DROP ran above) without rebuilding the partitions' indexes under a
	// write-blocking lock, and shows the statement that attaches new ones.
	for _, f := range findings {
		if f.Kind == "invalid_index" && f.Table == "public.feeds" {
			if !strings.Contains(f.Fix, "CREATE INDEX <new name> ON public.feeds USING btree (at):") || strings.Contains(f.Fix, "\nCREATE") {
				t.Errorf("fix for feeds_at:\n%s", f.Fix)
			}
		}
	}
	fixed["invalid_index"] = true
	for _, f := range load() {
		if fixed[f.Kind] {
			t.Errorf("still found after its fix: %s (%s)", findingLine(f), f.Detail)
		}
	}
}

// A duplicate that a foreign key checks through is kept over one that
// none does; when both are, the fix says that DROP fails until the
// foreign key is added again.
func TestDuplicateReferencedIndex(t *testing.T) {
	unique := func(name string, referenced bool, scans int64) collector.Index {
		return collector.Index{Schema: "public", Name: name, Table: "public.a", Method: "btree", Valid: true, Unique: true,
			Referenced: referenced, IdxScan: scans, Keys: []collector.IndexKey{{Column: "id"}}}
	}
	for _, tc := range []struct {
		a, z     collector.Index
		drop     string
		fixNotes bool
	}{
		{unique("a_id_a", false, 5), unique("a_id_z", true, 0), "public.a_id_a", false},
		{unique("a_id_a", true, 5), unique("a_id_z", true, 0), "public.a_id_z", true},
	} {
		cat := &collector.Catalog{
			Tables:  []collector.Table{{Schema: "public", Name: "a", Kind: "r", HasPrimaryKey: true}},
			Indexes: []collector.Index{tc.a, tc.z},
		}
		fs := SchemaChecks(cat)
		if len(fs) != 1 || fs[0].Evidence["index"] != tc.drop {
			t.Fatalf("want %s reported duplicate, got %v", tc.drop, findingLines(fs))
		}
		if notes := strings.Contains(fs[0].Fix, "foreign key"); notes != tc.fixNotes || !strings.HasSuffix(fs[0].Fix, "DROP INDEX CONCURRENTLY "+tc.drop+";") {
			t.Errorf("fix for %s: %q", tc.drop, fs[0].Fix)
		}
	}
}

// Of two unscanned indexes that serve a foreign key's checks, one is kept:
// both reported unused, both would go, and the key be unindexed.
func TestOneForeignKeyCoverKept(t *testing.T) {
	unused := func(name string, cols ...string) collector.Index {
		ix := collector.Index{Schema: "public", Name: name, Table: "public.ev", Method: "btree", Valid: true, SizeBytes: 4 << 20}
		for _, c := range cols {
			ix.Keys = append(ix.Keys, collector.IndexKey{Column: c})
		}
		return ix
	}
	cat := &collector.Catalog{
		Tables:      []collector.Table{{Schema: "public", Name: "ev", Kind: "r", HasPrimaryKey: true}},
		Indexes:     []collector.Index{unused("ev_account_id_at", "account_id", "at"), unused("ev_account_id", "account_id")},
		ForeignKeys: []collector.ForeignKey{{Name: "ev_account_id_fkey", Table: "public.ev", Columns: []string{"account_id"}, RefTable: "public.accounts"}},
	}
	if got := findingLines(SchemaChecks(cat)); !slices.Equal(got, []string{"unused_index info public.ev public.ev_account_id_at"}) {
		t.Errorf("got %v, want only ev_account_id_at unused: ev_account_id stays for the foreign key", got)
	}
}
