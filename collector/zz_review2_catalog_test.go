package collector

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

func TestZZReview2CatalogOdd(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS rv2cat WITH (FORCE)", "CREATE DATABASE rv2cat"); err != nil {
		t.Fatal(err)
	}
	var cols []string
	for i := range 1000 {
		cols = append(cols, fmt.Sprintf("\"Col %d\" int", i))
	}
	stmts := []string{
		`CREATE EXTENSION file_fdw`,
		`CREATE SERVER f FOREIGN DATA WRAPPER file_fdw`,
		`CREATE SCHEMA "we""ird"`,
		`CREATE TABLE "we""ird"."Wide T" (` + strings.Join(cols, ", ") + `)`,
		`INSERT INTO "we""ird"."Wide T" ("Col 0", "Col 999") SELECT g, g % 7 FROM generate_series(1, 2000) g`,
		`CREATE INDEX ON "we""ird"."Wide T" ("Col 0", "Col 999")`,
		`ANALYZE "we""ird"."Wide T"`,
		`CREATE TABLE parent (id int, at date, v text) PARTITION BY RANGE (at)`,
		`CREATE TABLE p1 PARTITION OF parent FOR VALUES FROM ('2020-01-01') TO ('2021-01-01') PARTITION BY LIST (id)`,
		`CREATE TABLE p1a PARTITION OF p1 FOR VALUES IN (1)`,
		`CREATE FOREIGN TABLE pf PARTITION OF parent FOR VALUES FROM ('2021-01-01') TO ('2022-01-01') SERVER f OPTIONS (filename '/nonexistent')`,
		`CREATE INDEX ON parent (id)`,
		`CREATE TABLE inh_parent (id int primary key, v text)`,
		`CREATE TABLE inh_child (extra int) INHERITS (inh_parent)`,
		`INSERT INTO inh_parent SELECT g, 'x' FROM generate_series(1,100) g`,
		`INSERT INTO inh_child SELECT g, 'y', g FROM generate_series(101,200) g`,
		`ANALYZE inh_parent`,
		`CREATE MATERIALIZED VIEW mv AS SELECT id, v FROM inh_parent`,
		`CREATE MATERIALIZED VIEW mv_nodata AS SELECT id FROM inh_parent WITH NO DATA`,
		`CREATE UNIQUE INDEX ON mv (id)`,
		`CREATE UNLOGGED TABLE u (id int primary key, arr int[], b box, j jsonb)`,
		`INSERT INTO u SELECT g, ARRAY[g, g % 3], box(point(g,g), point(0,0)), jsonb_build_object('a', g%5) FROM generate_series(1,500) g`,
		`CREATE INDEX ON u USING gin (j jsonb_path_ops)`,
		`CREATE INDEX ON u USING gist (b)`,
		`ANALYZE u`,
		`CREATE TABLE "Select" ("from" int, "a""b" text)`,
		`CREATE TYPE comp AS (x int, y text)`,
		`CREATE TABLE withcomp (c comp, r int4range, t tsvector)`,
		`INSERT INTO withcomp SELECT ROW(g % 4, 'a,b"c' || (g%3))::comp, int4range(g%5, g%5+2), to_tsvector('x y' || g%3) FROM generate_series(1,300) g`,
		`ANALYZE withcomp`,
	}
	if err := c.Exec(ctx, "rv2cat", stmts...); err != nil {
		t.Fatal(err)
	}
	// A temp table of another session, kept open.
	other := connect(t, c.DSN("rv2cat"), false)
	exec(t, other, "CREATE TEMP TABLE tmp_other (id int primary key, v text)")
	exec(t, other, "INSERT INTO tmp_other SELECT g, 'x' FROM generate_series(1,100) g")
	exec(t, other, "ANALYZE tmp_other")
	cat, err := LoadCatalog(ctx, connect(t, c.DSN("rv2cat"), true), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range cat.Tables {
		nstats := 0
		for _, col := range tb.Columns {
			if col.Stats != nil {
				nstats++
			}
		}
		t.Logf("table %s kind %s parent %q parts %v foreignParts %v cols %d stats %d", tb.QualifiedName(), tb.Kind, tb.Parent, tb.Partitions, tb.ForeignPartitions, len(tb.Columns), nstats)
	}
	for _, ix := range cat.Indexes {
		t.Logf("index %s on %s keys %d", ix.Name, ix.Table, len(ix.Keys))
	}
	t.Logf("others %v", cat.OtherRelations)
	_ = time.Now
}

func TestZZReview2Catalog5000(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS rv2big WITH (FORCE)", "CREATE DATABASE rv2big"); err != nil {
		t.Fatal(err)
	}
	for b := 0; b < 50; b++ {
		if err := c.Exec(ctx, "rv2big", fmt.Sprintf(`DO $$ BEGIN
		FOR i IN %d..%d LOOP
			EXECUTE format('CREATE TABLE t%%s (id int primary key, ref int, v text, at timestamptz)', i);
			EXECUTE format('CREATE INDEX ON t%%s (ref, at)', i);
			IF i > 1 THEN EXECUTE format('ALTER TABLE t%%s ADD FOREIGN KEY (ref) REFERENCES t%%s (id)', i, i-1); END IF;
		END LOOP; END $$`, b*100+1, b*100+100)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Exec(ctx, "rv2big", "ANALYZE"); err != nil {
		t.Fatal(err)
	}
	conn := connect(t, c.DSN("rv2big"), true)
	start := time.Now()
	cat, err := LoadCatalog(ctx, conn, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("5000 tables: %d tables %d indexes %d fks in %s", len(cat.Tables), len(cat.Indexes), len(cat.ForeignKeys), time.Since(start))
	for _, q := range []string{catalogTablesQuery, catalogColumnsQuery, catalogStatsQuery, catalogIndexesQuery, catalogForeignKeysQuery, catalogOtherNamesQuery} {
		st := time.Now()
		rows, err := conn.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for rows.Next() {
			n++
		}
		rows.Close()
		t.Logf("%6d rows %8s  %.60s", n, time.Since(st).Round(time.Millisecond), strings.ReplaceAll(q[16:], "\n", " "))
	}
}
