package collector

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

func TestLoadCatalog(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS catalog WITH (FORCE)", "CREATE DATABASE catalog"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "catalog",
		`CREATE SCHEMA shop`,
		`CREATE TABLE shop.customers (tenant_id int, id int, email text NOT NULL, name varchar(100),
			handle text GENERATED ALWAYS AS (lower(name) || '@' || email) STORED, PRIMARY KEY (tenant_id, id))`,
		`CREATE TABLE shop.orders (tenant_id int NOT NULL, id bigint NOT NULL, customer_id int, status text,
			created_at timestamptz, total numeric(12,2), note text,
			CONSTRAINT orders_pkey PRIMARY KEY (tenant_id, id),
			CONSTRAINT orders_customer_fk FOREIGN KEY (customer_id, tenant_id)
				REFERENCES shop.customers (id, tenant_id) ON DELETE CASCADE ON UPDATE RESTRICT)`,
		`CREATE INDEX orders_recent ON shop.orders (tenant_id, created_at DESC NULLS LAST, lower(status) text_pattern_ops)
			INCLUDE (total) WHERE status <> 'cancelled'`,
		`CREATE INDEX orders_note ON shop.orders (note COLLATE "C" NULLS FIRST)`,
		`CREATE UNIQUE INDEX customers_email ON shop.customers (lower(email))`,
		`CREATE TABLE shop.events (id int, at date) PARTITION BY RANGE (at)`,
		`CREATE TABLE shop.events_2026 PARTITION OF shop.events FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`,
		`CREATE TABLE shop.moves (id int)`,
		`CREATE TABLE shop.moves_2026 () INHERITS (shop.moves)`,
		`CREATE SCHEMA "Mixed Case"`,
		`CREATE TABLE "Mixed Case"."Order" ("Select" int)`,
		`CREATE VIEW shop.open_orders AS SELECT * FROM shop.orders WHERE status = 'new'`,
		`CREATE RULE keep_open AS ON DELETE TO shop.open_orders DO INSTEAD NOTHING`,
		`CREATE SEQUENCE "Mixed Case".order_numbers`,
		`INSERT INTO shop.customers SELECT 1, g, 'c' || g || '@example.com' FROM generate_series(1, 10) g`,
		`INSERT INTO shop.orders (tenant_id, id, customer_id, status, created_at)
			SELECT 1, g, 1 + g % 10, CASE WHEN g % 10 < 7 THEN 'new' ELSE 'paid' END, '2026-01-01'::timestamptz + g * interval '1 minute'
			FROM generate_series(1, 1000) g`,
		`SELECT pg_stat_force_next_flush()`, // before ANALYZE, which sets n_live_tup, adds the inserts to it
		`ANALYZE shop.orders`,
		`SELECT count(*) FROM shop.orders`,
		`SELECT pg_stat_force_next_flush()`,
		`SELECT 1`, // the flush happens when this session goes idle
	); err != nil {
		t.Fatal(err)
	}
	dsn, err := WithDatabase(c.DSN("postgres"), "catalog")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := LoadCatalog(ctx, connect(t, dsn, true), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}

	others := []RelationName{{"Mixed Case", "order_numbers"}, {"shop", "open_orders"}}
	if got := slices.SortedFunc(slices.Values(cat.OtherRelations), func(a, b RelationName) int {
		return cmp.Or(cmp.Compare(a.Schema, b.Schema), cmp.Compare(a.Name, b.Name))
	}); !slices.Equal(got, others) {
		t.Errorf("other relations %v, want %v", got, others)
	}
	if len(cat.Views) != 1 || cat.Views[0].Schema != "shop" || cat.Views[0].Name != "open_orders" || !cat.Views[0].Redirected ||
		!strings.Contains(cat.Views[0].Definition, "FROM shop.orders") || !strings.Contains(cat.Views[0].Definition, "WHERE (orders.status = 'new'::text)") {
		t.Errorf("views %+v, want shop.open_orders with its definition, qualified where off the search_path", cat.Views)
	}
	if cat.Database != "catalog" || cat.ServerNum < 130000 || cat.Extensions["plpgsql"] == "" || time.Since(cat.TakenAt) > time.Minute {
		t.Errorf("catalog header: database %q server %d extensions %v taken %s", cat.Database, cat.ServerNum, cat.Extensions, cat.TakenAt)
	}
	wantSettings := PlanSettings{WorkMemBytes: 4 << 20, SharedBuffersBytes: 128 << 20, HashMemMultiplier: 2, RandomPageCost: 4,
		EffectiveCacheSizeBytes: 4 << 30, MaxParallelWorkersPerGather: 2, SearchPath: `"$user", public`,
		TextSearchConfig: "pg_catalog.english"}
	if cat.Settings != wantSettings {
		t.Errorf("settings = %+v, want %+v", cat.Settings, wantSettings)
	}
	for _, tbl := range cat.Tables {
		if tbl.Schema == "pg_catalog" || tbl.Schema == "information_schema" || tbl.Schema == "pg_toast" {
			t.Errorf("system table %s in the catalog", tbl.QualifiedName())
		}
	}

	orders, ok := cat.Table("shop", "orders")
	if !ok {
		t.Fatalf("shop.orders missing; tables: %+v", cat.Tables)
	}
	if orders.Kind != "r" || !orders.HasPrimaryKey || orders.RelTuples != 1000 || orders.RelPages == 0 || orders.SizeBytes == 0 {
		t.Errorf("orders: kind %q pk %v reltuples %v relpages %d size %d", orders.Kind, orders.HasPrimaryKey, orders.RelTuples, orders.RelPages, orders.SizeBytes)
	}
	if orders.NTupIns != 1000 || orders.NLiveTup != 1000 || orders.SeqScan < 1 || orders.SeqTupRead < 1000 || orders.LastAnalyze == nil {
		t.Errorf("orders activity: ins %d live %d seq_scan %d seq_tup_read %d last analyze %v",
			orders.NTupIns, orders.NLiveTup, orders.SeqScan, orders.SeqTupRead, orders.LastAnalyze)
	}
	if col, ok := orders.Column("total"); !ok || col.Type != "numeric(12,2)" || col.NotNull || col.Num != 6 || len(col.GeneratedFrom) != 0 {
		t.Errorf("orders.total = %+v", col)
	}
	if col, ok := orders.Column("id"); !ok || col.Type != "bigint" || !col.NotNull {
		t.Errorf("orders.id = %+v", col)
	}

	// pg_stats after ANALYZE.
	status, _ := orders.Column("status")
	if st := status.Stats; st == nil || st.NullFrac != 0 || st.NDistinct != 2 || !reflect.DeepEqual(st.MostCommonVals, []string{"new", "paid"}) ||
		len(st.MostCommonFreqs) != 2 || math.Abs(st.MostCommonFreqs[0]-0.7) > 0.01 || st.AvgWidth != 4 {
		t.Errorf("status stats = %+v", status.Stats)
	}
	id, _ := orders.Column("id")
	if st := id.Stats; st == nil || len(st.HistogramBounds) != 101 || st.HistogramBounds[0] != "1" || st.HistogramBounds[100] != "1000" ||
		st.Correlation != 1 || st.NDistinct != -1 {
		t.Errorf("id stats = %+v", id.Stats)
	}
	if note, _ := orders.Column("note"); note.Stats == nil || note.Stats.NullFrac != 1 {
		t.Errorf("note stats = %+v", note.Stats)
	}
	if customers, _ := cat.Table("shop", "customers"); len(customers.Columns) != 5 || !reflect.DeepEqual(customers.Columns[4].GeneratedFrom, []string{"email", "name"}) {
		t.Errorf("customers' columns %+v: want handle generated from email and name", customers.Columns)
	}
	if customers, _ := cat.Table("shop", "customers"); customers.Columns[0].Stats != nil {
		t.Errorf("customers was never analyzed but has stats %+v", customers.Columns[0].Stats)
	}

	// Indexes.
	byName := map[string]Index{}
	for _, ix := range cat.IndexesOn(orders.QualifiedName()) {
		byName[ix.Name] = ix
	}
	if len(byName) != 3 {
		t.Errorf("indexes on shop.orders: %v", byName)
	}
	recent := byName["orders_recent"]
	wantKeys := []IndexKey{
		{Column: "tenant_id"},
		{Column: "created_at", Desc: true},
		{Expression: "lower(status)", OpClass: "text_pattern_ops"},
	}
	if !reflect.DeepEqual(recent.Keys, wantKeys) || !reflect.DeepEqual(recent.Include, []string{"total"}) ||
		recent.Predicate != "status <> 'cancelled'::text" || recent.Method != "btree" || recent.Unique || recent.Constraint ||
		!recent.Valid || !recent.Ready || recent.SizeBytes == 0 || recent.Table != "shop.orders" || recent.Schema != "shop" {
		t.Errorf("orders_recent = %+v", recent)
	}
	if want := "CREATE INDEX orders_recent ON shop.orders USING btree (tenant_id, created_at DESC NULLS LAST, lower(status) text_pattern_ops) INCLUDE (total) WHERE (status <> 'cancelled'::text)"; recent.Definition != want {
		t.Errorf("definition = %s\nwant %s", recent.Definition, want)
	}
	if note := byName["orders_note"]; !reflect.DeepEqual(note.Keys, []IndexKey{{Column: "note", NullsFirst: true, Collation: `pg_catalog."C"`}}) || len(note.Include) != 0 {
		t.Errorf("orders_note = %+v", note)
	}
	if pk := byName["orders_pkey"]; !pk.Primary || !pk.Unique || !pk.Constraint || len(pk.Keys) != 2 {
		t.Errorf("orders_pkey = %+v", pk)
	}
	email := cat.IndexesOn("shop.customers")
	if len(email) != 2 {
		t.Fatalf("indexes on shop.customers: %+v", email)
	}
	for _, ix := range email {
		if ix.Name == "customers_email" && (!ix.Unique || ix.Constraint || ix.Primary || ix.Keys[0].Expression != "lower(email)") {
			t.Errorf("customers_email = %+v", ix)
		}
	}

	// Foreign keys: columns in constraint order, not attnum order.
	want := []ForeignKey{{Name: "orders_customer_fk", Table: "shop.orders", Columns: []string{"customer_id", "tenant_id"},
		RefTable: "shop.customers", RefColumns: []string{"id", "tenant_id"}, OnDelete: "CASCADE", OnUpdate: "RESTRICT"}}
	if !reflect.DeepEqual(cat.ForeignKeys, want) {
		t.Errorf("foreign keys = %+v\nwant %+v", cat.ForeignKeys, want)
	}

	// Partitions and quoted names.
	events, _ := cat.Table("shop", "events")
	part, _ := cat.Table("shop", "events_2026")
	if events == nil || part == nil || events.Kind != "p" || !reflect.DeepEqual(events.Partitions, []string{"shop.events_2026"}) || part.Parent != "shop.events" ||
		events.InheritedBy != 0 {
		t.Errorf("partitioning: parent %+v child %+v", events, part)
	}
	if moves, _ := cat.Table("shop", "moves"); moves == nil || moves.InheritedBy != 1 || len(moves.Partitions) != 0 {
		t.Errorf("old-style inheritance: parent %+v, want one table inheriting from it", moves)
	}
	mixed, ok := cat.FindTable("Order", []string{"$user", "public", "Mixed Case"})
	if !ok || mixed.QualifiedName() != `"Mixed Case"."Order"` {
		t.Errorf("FindTable through the search path: %+v %v", mixed, ok)
	}
	if _, ok := mixed.Column("Select"); !ok {
		t.Errorf("column \"Select\" missing: %+v", mixed.Columns)
	}
	if _, ok := cat.FindTable("orders", []string{"public"}); ok {
		t.Errorf("FindTable found shop.orders through public")
	}
}

// A table dropped while the catalog is read counts as empty; one held by
// an exclusive lock fails the read after catalogLockTimeout, saying why,
// instead of waiting for as long as the lock is held.
func TestReadCatalogUnderLocks(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	newDatabase(t, c, "catalocks", "")
	if err := c.Exec(ctx, "catalocks", `CREATE TABLE held (id int PRIMARY KEY)`, `CREATE TABLE going (id int PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	other := connect(t, c.DSN("catalocks"), false)
	exec(t, other, "BEGIN")
	exec(t, other, "DROP TABLE going")
	read := make(chan error, 1)
	go func() {
		_, err := ReadCatalog(ctx, c.DSN("postgres"), "catalocks", testLogger(t))
		read <- err
	}()
	time.Sleep(500 * time.Millisecond) // for the read to queue behind the DROP
	exec(t, other, "COMMIT")
	if err := <-read; err != nil {
		t.Errorf("read while a table is dropped: %v", err)
	}

	exec(t, other, "BEGIN")
	exec(t, other, "LOCK TABLE held IN ACCESS EXCLUSIVE MODE")
	defer exec(t, other, "ROLLBACK")
	if _, err := ReadCatalog(ctx, c.DSN("postgres"), "catalocks", testLogger(t)); err == nil || !strings.Contains(err.Error(), "a table is locked") {
		t.Errorf("read behind an exclusive lock: %v, want it to give up saying a table is locked", err)
	}
}

func TestWithDatabase(t *testing.T) {
	for _, tc := range []struct{ in, db, want string }{
		{"postgres://u:p%40ss@h:5432/app?sslmode=disable", "other", "postgres://u:p%40ss@h:5432/other?sslmode=disable"},
		// libpq ends the userinfo at the first '@' before any '/': a password may hold '?' and '#'.
		{"postgres://u:s3cret?pw@h/app?sslmode=disable", "other", "postgres://u:s3cret?pw@h/other?sslmode=disable"},
		{"postgresql://u:s3#cret@h", "other", "postgresql://u:s3#cret@h/other"},
		{"postgresql://h1:5432,h2:5433/app", "x y", "postgresql://h1:5432,h2:5433/x%20y"},
		{"postgres://h", "a/b", "postgres://h/a%2Fb"},
		{"postgres://h/app?dbname=app&sslmode=require#frag", "new", "postgres://h/new?dbname=new&sslmode=require#frag"},
		{"host=h user=u password='a b\\'c' dbname=app sslmode=disable", "new", "host=h user=u password='a b\\'c' dbname='new' sslmode=disable"},
		{"host=h dbname = app", "it's", `host=h dbname = 'it\'s'`},
		{"host=h", "new", "host=h dbname='new'"},
		{"", "new", "dbname='new'"},
		{"dbname=a host=h dbname=b", "c", "dbname='c' host=h dbname='c'"},
	} {
		got, err := WithDatabase(tc.in, tc.db)
		if err != nil || got != tc.want {
			t.Errorf("WithDatabase(%q, %q) = %q, %v; want %q", tc.in, tc.db, got, err, tc.want)
		}
		in, err := dbconn.Config(tc.in)
		if err != nil { // pgx takes "#frag" into the last parameter's value
			continue
		}
		if out, err := dbconn.Config(got); err != nil {
			t.Errorf("%q does not parse: %v", got, err)
		} else if out.Password != in.Password || out.Database != tc.db {
			t.Errorf("%q parses to database %q, password %q; want %q, %q", got, out.Database, out.Password, tc.db, in.Password)
		}
	}
	for _, bad := range []string{"host=h password='secret", "host=h password"} {
		_, err := WithDatabase(bad, "x")
		if err == nil {
			t.Errorf("WithDatabase(%q) accepted", bad)
		} else if s := err.Error(); strings.Contains(s, "secret") {
			t.Errorf("error quotes the password: %s", s)
		}
	}
	if _, err := WithDatabase("host=h", ""); err == nil {
		t.Errorf("empty database name accepted")
	}
}

// TestWithDatabaseConnects checks both forms reach the other database.
func TestWithDatabaseConnects(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS \"other db\"", "CREATE DATABASE \"other db\""); err != nil {
		t.Fatal(err)
	}
	for _, dsn := range []string{c.DSN("postgres"), fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=postgres sslmode=disable", c.Port())} {
		other, err := WithDatabase(dsn, "other db")
		if err != nil {
			t.Fatal(err)
		}
		var db string
		if err := connect(t, other, true).QueryRow(ctx, "SELECT current_database()").Scan(&db); err != nil || db != "other db" {
			t.Errorf("%s: connected to %q (%v)", other, db, err)
		}
	}
}

// The catalog queries run only pg_catalog's functions: a function another
// role put on the search_path, whose argument type matches exactly where
// pg_catalog's needs a cast, is not called; the statements' search_path
// is still the one the catalog reports, and the connection's is put back.
func TestLoadCatalogRunsOnlyCatalogFunctions(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	newDatabase(t, c, "catadecoy", "")
	if err := c.Exec(ctx, "catadecoy", `CREATE TABLE t (id int PRIMARY KEY)`,
		`CREATE FUNCTION public.pg_total_relation_size(oid) RETURNS bigint LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'decoy ran'; END $$`,
		`ALTER DATABASE catadecoy SET search_path = public, "$user"`); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, c.DSN("catadecoy"), false)
	cat, err := LoadCatalog(ctx, conn, testLogger(t))
	if err != nil {
		t.Fatalf("catalog with a decoy on the search_path: %v", err)
	}
	var path string
	if err := conn.QueryRow(ctx, "SHOW search_path").Scan(&path); err != nil || cat.Settings.SearchPath != `public, "$user"` || path != cat.Settings.SearchPath {
		t.Errorf("catalog's search_path %q, the connection's after %q (%v): want public, \"$user\" for both", cat.Settings.SearchPath, path, err)
	}
}

// The catalog prints definitions as on the statements' search_path: an
// index on a function in public keeps its bare name, as statements write
// it, and a column of a public type its type's.
func TestLoadCatalogPrintsNamesOnTheSearchPath(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	newDatabase(t, c, "catanames", "")
	if err := c.Exec(ctx, "catanames",
		`CREATE FUNCTION norm_email(text) RETURNS text IMMUTABLE LANGUAGE sql AS 'SELECT lower($1)'`,
		`CREATE TYPE mood AS ENUM ('happy', 'sad')`,
		`CREATE TABLE users (id int PRIMARY KEY, email text, m mood)`,
		`CREATE INDEX users_norm ON users (norm_email(email)) WHERE m = 'sad'`); err != nil {
		t.Fatal(err)
	}
	cat, err := LoadCatalog(ctx, connect(t, c.DSN("catanames"), false), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	var ix *Index
	for i, x := range cat.IndexesOn("public.users") {
		if x.Name == "users_norm" {
			ix = &cat.IndexesOn("public.users")[i]
		}
	}
	if ix == nil || ix.Keys[0].Expression != "norm_email(email)" || ix.Predicate != "m = 'sad'::mood" {
		t.Errorf("index %+v: want norm_email(email) WHERE m = 'sad'::mood", ix)
	}
}
