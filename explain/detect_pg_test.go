package explain

import (
	"context"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

const detectDB = "explain_detect"

// detectSchema is small enough to load in about a second and large enough
// to spill under work_mem = 64kB.
const detectSchema = `
CREATE TABLE sorted (id int PRIMARY KEY, v text);
INSERT INTO sorted SELECT i, md5(i::text) FROM generate_series(1, 50000) i;

-- a and b always agree: the planner multiplies their selectivities anyway.
CREATE TABLE corr (id int, a int, b int, filler text);
INSERT INTO corr SELECT i, i % 100, i % 100, repeat('x', 40) FROM generate_series(1, 200000) i;
CREATE INDEX corr_a ON corr (a);

-- a fifth of the addresses are one address in different cases: equality on
-- lower(email) is guessed at 0.5% of the rows without statistics on it.
CREATE TABLE accounts (id int, email text);
INSERT INTO accounts SELECT i, CASE WHEN i % 5 = 0 THEN (ARRAY['Ops@X.io', 'ops@x.io', 'OPS@x.io'])[i % 3 + 1] ELSE 'u' || i || '@x.io' END
  FROM generate_series(1, 100000) i;

CREATE TABLE events (id int, kind int, payload text);
INSERT INTO events SELECT i, i % 200, 'p' || i FROM generate_series(1, 100000) i;

CREATE TABLE orders (id int PRIMARY KEY, status int);
INSERT INTO orders SELECT i, i % 100 FROM generate_series(1, 50000) i;

-- child.parent_id has no index; parents above 200 have no children.
CREATE TABLE parent (id int PRIMARY KEY);
INSERT INTO parent SELECT generate_series(1, 300);
CREATE TABLE child (id int, parent_id int REFERENCES parent);
INSERT INTO child SELECT i, i % 200 + 1 FROM generate_series(1, 30000) i;

ANALYZE;
`

var (
	ddlInFix     = regexp.MustCompile(`CREATE (?:INDEX|STATISTICS) [^;]+;`)
	workMemInFix = regexp.MustCompile(`SET LOCAL work_mem = '\w+'`)
)

// TestDetectOnRealPlans runs statements that show each problem on a real
// server, checks that the detector reports it, then applies the finding's
// own fix and checks that the problem is gone.
func TestDetectOnRealPlans(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.Exec(ctx, "postgres", "DROP DATABASE IF EXISTS "+detectDB); err != nil {
		t.Fatal(err)
	}
	if err := c.CreateDatabase(ctx, detectDB); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, detectDB, detectSchema); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN(detectDB))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)

	explain := func(t *testing.T, query string, settings ...string) (*Plan, []Finding) {
		t.Helper()
		tx, err := conn.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		for _, s := range settings {
			if _, err := tx.Exec(ctx, "SET LOCAL "+s); err != nil {
				t.Fatal(err)
			}
		}
		var out []byte
		if err := tx.QueryRow(ctx, "EXPLAIN (ANALYZE, BUFFERS, SETTINGS, FORMAT JSON) "+query).Scan(&out); err != nil {
			t.Fatalf("explain %s: %v", query, err)
		}
		p, err := ParsePlan(out)
		if err != nil {
			t.Fatalf("ParsePlan: %v\n%s", err, out)
		}
		fs := Detect(p, DetectOptions{})
		checkWellFormed(t, p, fs)
		return p, fs
	}
	exec := func(t *testing.T, sql string) {
		t.Helper()
		if _, err := conn.Exec(ctx, sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	fixSQL := func(t *testing.T, f Finding, re *regexp.Regexp) string {
		t.Helper()
		s := re.FindString(f.Fix)
		if s == "" {
			t.Fatalf("%s fix has no %s: %q", f.Kind, re, f.Fix)
		}
		return strings.TrimPrefix(s, "SET LOCAL ")
	}
	const tinyMem = "work_mem = '64kB'"

	t.Run("sort_spill", func(t *testing.T) {
		const q = "SELECT * FROM sorted ORDER BY v"
		_, fs := explain(t, q, tinyMem)
		f := only(t, fs, KindSortSpill)
		if f.Evidence["sort_method"] != "external merge" || evNum(t, f, "work_mem_bytes") != 64<<10 || evNum(t, f, "disk_kb") < 1000 {
			t.Errorf("evidence %v", f.Evidence)
		}
		wantContains(t, "fix", f.Fix, "CREATE INDEX CONCURRENTLY ON sorted (v);")
		p, fs := explain(t, q, fixSQL(t, f, workMemInFix))
		if len(findings(fs, KindSortSpill)) != 0 || p.Root.SortSpaceType != "Memory" {
			t.Errorf("with the suggested %s the sort still spills: %+v", f.Evidence["suggested_work_mem"], fs)
		}
	})

	t.Run("hash_spill", func(t *testing.T) {
		const q = "SELECT count(*) FROM corr c JOIN sorted s ON s.id = c.id"
		join := []string{"enable_mergejoin = off", "enable_nestloop = off", "hash_mem_multiplier = 1", "max_parallel_workers_per_gather = 0"}
		_, fs := explain(t, q, append(join, tinyMem)...)
		f := only(t, fs, KindHashSpill)
		if evNum(t, f, "hash_batches") <= 1 || evNum(t, f, "temp_written_kb") <= 0 {
			t.Errorf("evidence %v", f.Evidence)
		}
		_, fs = explain(t, q, append(join, fixSQL(t, f, workMemInFix))...)
		if len(findings(fs, KindHashSpill)) != 0 {
			t.Errorf("with the suggested %s the hash still spills: %+v", f.Evidence["suggested_work_mem"], fs)
		}
	})

	t.Run("hashagg_spill", func(t *testing.T) {
		const q = "SELECT v, count(*) FROM sorted GROUP BY v"
		agg := []string{"enable_sort = off", "hash_mem_multiplier = 1", "max_parallel_workers_per_gather = 0"}
		_, fs := explain(t, q, append(agg, tinyMem)...)
		f := only(t, fs, KindHashAggSpill)
		if evNum(t, f, "disk_usage_kb") <= 0 {
			t.Errorf("evidence %v", f.Evidence)
		}
		_, fs = explain(t, q, append(agg, fixSQL(t, f, workMemInFix))...)
		if len(findings(fs, KindHashAggSpill)) != 0 {
			t.Errorf("with the suggested %s the aggregate still spills: %+v", f.Evidence["suggested_work_mem"], fs)
		}
	})

	t.Run("misestimate", func(t *testing.T) {
		const q = "SELECT * FROM corr WHERE a = 1 AND b = 1 ORDER BY id"
		_, fs := explain(t, q)
		f := only(t, fs, KindMisestimate)
		// About 20 rows expected (1% x 1%), 2,000 found.
		if f.Evidence["direction"] != "underestimate" || evNum(t, f, "ratio") < 50 || f.Table != "corr" {
			t.Errorf("finding %+v", f)
		}
		wantContains(t, "fix", f.Fix, "CREATE STATISTICS corr_a_b_stats ON a, b FROM corr;")
		exec(t, fixSQL(t, f, ddlInFix))
		exec(t, "ANALYZE corr")
		if _, fs := explain(t, q); len(findings(fs, KindMisestimate)) != 0 {
			t.Errorf("after the suggested statistics the estimate is still off: %+v", fs)
		}
	})

	t.Run("misestimate on an expression", func(t *testing.T) {
		const q = "SELECT id FROM accounts WHERE lower(email) = 'ops@x.io'"
		_, fs := explain(t, q, "max_parallel_workers_per_gather = 0")
		f := only(t, fs, KindMisestimate)
		// 500 rows guessed, 20,000 found.
		if exprs, _ := f.Evidence["expressions"].([]string); f.Evidence["direction"] != "underestimate" || evNum(t, f, "ratio") < 10 || !slices.Equal(exprs, []string{"lower(email)"}) {
			t.Errorf("finding %+v", f)
		}
		wantContains(t, "fix", f.Fix, "CREATE STATISTICS accounts_lower_email_stats ON (lower(email)) FROM accounts;")
		exec(t, fixSQL(t, f, ddlInFix))
		exec(t, "ANALYZE accounts")
		if _, fs := explain(t, q, "max_parallel_workers_per_gather = 0"); len(findings(fs, KindMisestimate)) != 0 {
			t.Errorf("after the suggested statistics the estimate is still off: %+v", fs)
		}
	})

	t.Run("large_offset", func(t *testing.T) {
		_, fs := explain(t, "SELECT * FROM sorted ORDER BY id LIMIT 10 OFFSET 5000")
		f := only(t, fs, KindLargeOffset)
		if evNum(t, f, "rows_skipped") != 5000 || evNum(t, f, "rows_returned") != 10 {
			t.Errorf("evidence %v", f.Evidence)
		}
	})

	t.Run("lossy_bitmap", func(t *testing.T) {
		const q = "SELECT count(*) FROM corr WHERE a < 50"
		bitmap := []string{"enable_seqscan = off", "enable_indexscan = off", "max_parallel_workers_per_gather = 0"}
		_, fs := explain(t, q, append(bitmap, tinyMem)...)
		f := only(t, fs, KindLossyBitmap)
		if evNum(t, f, "lossy_heap_blocks") <= 0 || evNum(t, f, "rows_removed_by_recheck") <= 0 {
			t.Errorf("evidence %v", f.Evidence)
		}
		if len(findings(fs, KindInefficientIndex)) != 0 {
			t.Errorf("a lossy recheck is not an inefficient index: %+v", fs)
		}
		_, fs = explain(t, q, append(bitmap, fixSQL(t, f, workMemInFix))...)
		if len(findings(fs, KindLossyBitmap)) != 0 {
			t.Errorf("with the suggested %s the bitmap is still lossy: %+v", f.Evidence["suggested_work_mem"], fs)
		}
	})

	t.Run("seq_scan", func(t *testing.T) {
		const q = "SELECT * FROM events WHERE kind = 7"
		_, fs := explain(t, q, "max_parallel_workers_per_gather = 0")
		f := only(t, fs, KindSeqScan)
		if evNum(t, f, "rows_read") != 100000 || evNum(t, f, "removed_ratio") < 0.99 {
			t.Errorf("evidence %v", f.Evidence)
		}
		exec(t, fixSQL(t, f, ddlInFix))
		exec(t, "ANALYZE events")
		if _, fs := explain(t, q, "max_parallel_workers_per_gather = 0"); len(fs) != 0 {
			t.Errorf("after the suggested index: %+v", fs)
		}
	})

	t.Run("inefficient_index", func(t *testing.T) {
		const q = "SELECT * FROM orders WHERE id <= 20000 AND status = 7"
		index := []string{"enable_seqscan = off", "enable_bitmapscan = off"}
		_, fs := explain(t, q, index...)
		f := only(t, fs, KindInefficientIndex)
		if evNum(t, f, "removed_by_filter") != 19800 {
			t.Errorf("evidence %v", f.Evidence)
		}
		wantContains(t, "fix", f.Fix, "CREATE INDEX CONCURRENTLY ON orders (status, id);")
		exec(t, fixSQL(t, f, ddlInFix))
		exec(t, "ANALYZE orders")
		if _, fs := explain(t, q, index...); len(fs) != 0 {
			t.Errorf("after the suggested index: %+v", fs)
		}
	})

	t.Run("heap_fetches", func(t *testing.T) {
		// Not vacuumed yet, so its visibility map is empty. A temporary
		// table: VACUUM can mark it all-visible at once, while for other
		// tables the replica's hot_standby_feedback holds the horizon back.
		exec(t, "CREATE TEMP TABLE visits (id int PRIMARY KEY)")
		exec(t, "INSERT INTO visits SELECT generate_series(1, 20000)")
		exec(t, "ANALYZE visits")
		const q = "SELECT id FROM visits WHERE id <= 10000"
		index := []string{"enable_seqscan = off", "enable_bitmapscan = off"}
		_, fs := explain(t, q, index...)
		f := only(t, fs, KindHeapFetches)
		if evNum(t, f, "heap_fetches") != 10000 {
			t.Errorf("evidence %v", f.Evidence)
		}
		wantContains(t, "fix", f.Fix, "VACUUM (ANALYZE) visits;")
		exec(t, "VACUUM (ANALYZE) visits")
		if _, fs := explain(t, q, index...); len(findings(fs, KindHeapFetches)) != 0 {
			t.Errorf("after VACUUM: %+v", fs)
		}
	})

	t.Run("workers_not_launched", func(t *testing.T) {
		p, fs := explain(t, "SELECT count(*) FROM events",
			"max_parallel_workers = 0", "max_parallel_workers_per_gather = 2", "parallel_setup_cost = 0",
			"parallel_tuple_cost = 0", "min_parallel_table_scan_size = 0")
		f := only(t, fs, KindWorkersNotLaunched)
		if evNum(t, f, "workers_planned") != 2 || evNum(t, f, "workers_launched") != 0 {
			t.Errorf("evidence %v", f.Evidence)
		}
		// Only the leader ran the parallel part.
		p.Walk(func(_ string, n *Node) bool {
			if n.ParallelAware && n.Participants() != 1 {
				t.Errorf("%s: %v participants, want 1", n.Label(), n.Participants())
			}
			return true
		})
	})

	t.Run("fk_trigger_time", func(t *testing.T) {
		p, fs := explain(t, "DELETE FROM parent WHERE id > 200")
		f := only(t, fs, KindFKTriggerTime)
		if f.Evidence["constraint"] != "child_parent_id_fkey" || evNum(t, f, "calls") != 100 || f.Table != "parent" {
			t.Errorf("finding %+v", f)
		}
		if p.Root.Name() != "Delete on parent" {
			t.Errorf("top node %q", p.Root.Name())
		}
	})

	t.Run("unanalyzed", func(t *testing.T) {
		var out []byte
		if err := conn.QueryRow(ctx, "EXPLAIN (FORMAT JSON) SELECT * FROM corr WHERE a = 1 AND b = 1").Scan(&out); err != nil {
			t.Fatal(err)
		}
		p, err := ParsePlan(out)
		if err != nil {
			t.Fatal(err)
		}
		if p.Analyzed() || p.Root.PlanRows == 0 || Detect(p, DetectOptions{}) != nil {
			t.Errorf("plain EXPLAIN: analyzed %v, rows %v", p.Analyzed(), p.Root.PlanRows)
		}
	})
}
