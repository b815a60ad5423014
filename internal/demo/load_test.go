package demo

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func connect(t testing.TB, dsn string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestLoadRowCounts(t *testing.T) {
	conn := connect(t, loadedDSN(t))
	t.Logf("loaded scale %v in %v", testScale, loadDur)
	p, err := newPlan(testScale)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	exact := map[string]bool{"tenants": true, "users": true, "projects": true, "labels": true, "tasks": true}
	for table, want := range p.expectedRows() {
		var got int64
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{table}.Sanitize()).Scan(&got); err != nil {
			t.Fatal(err)
		}
		t.Logf("%-12s %8d rows (designed %d)", table, got, want)
		if exact[table] && got != want {
			t.Errorf("%s has %d rows, the plan says %d", table, got, want)
		}
		if !exact[table] && math.Abs(float64(got-want)) > 0.12*float64(want) {
			t.Errorf("%s has %d rows, want %d ± 12%%", table, got, want)
		}
	}

	// The generated rows follow the plan tenant by tenant and project by
	// project, not just in total.
	rows, err := conn.Query(ctx, "SELECT project_id, count(*), max(number) FROM tasks GROUP BY project_id ORDER BY project_id")
	if err != nil {
		t.Fatal(err)
	}
	var perProject [][3]int64
	for rows.Next() {
		var r [3]int64
		if err := rows.Scan(&r[0], &r[1], &r[2]); err != nil {
			t.Fatal(err)
		}
		perProject = append(perProject, r)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if len(perProject) != len(p.projects) {
		t.Fatalf("tasks belong to %d projects, the plan has %d", len(perProject), len(p.projects))
	}
	for i, r := range perProject {
		if want := int64(p.projects[i].tasks); r[0] != int64(i+1) || r[1] != want || r[2] != want {
			t.Fatalf("project %d: %d tasks numbered up to %d, want project %d with %d tasks numbered 1..%[4]d",
				r[0], r[1], r[2], i+1, want)
		}
	}
}

func TestLoadSkewedTenants(t *testing.T) {
	conn := connect(t, loadedDSN(t))
	var tenants int
	var topShare float64
	err := conn.QueryRow(context.Background(), `
		WITH per AS (SELECT tenant_id, count(*) AS n FROM tasks GROUP BY tenant_id),
		     ranked AS (SELECT n, row_number() OVER (ORDER BY n DESC) AS rank, count(*) OVER () AS tenants FROM per)
		SELECT max(tenants), sum(n) FILTER (WHERE rank <= ceil(tenants / 5.0))::float8 / sum(n) FROM ranked`).Scan(&tenants, &topShare)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("the top fifth of %d tenants owns %.0f%% of the tasks", tenants, 100*topShare)
	if topShare < 0.45 {
		t.Errorf("the top fifth of the tenants owns %.0f%% of the tasks, want a Zipf-like skew (at least 45%%)", 100*topShare)
	}
}

func TestLoadConstraints(t *testing.T) {
	conn := connect(t, loadedDSN(t))
	ctx := context.Background()

	// Every foreign key with the ON DELETE action the schema chose, all
	// validated against the generated data.
	rows, err := conn.Query(ctx, `
		SELECT conrelid::regclass::text || '.' || a.attname, confrelid::regclass::text, confdeltype::text, convalidated
		  FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		 WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for rows.Next() {
		var col, ref, action string
		var valid bool
		if err := rows.Scan(&col, &ref, &action, &valid); err != nil {
			t.Fatal(err)
		}
		if !valid {
			t.Errorf("foreign key on %s is not validated", col)
		}
		got[col] = ref + " " + action
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{ // c = cascade, n = set null
		"memberships.tenant_id": "tenants c", "memberships.user_id": "users c",
		"projects.tenant_id": "tenants c", "labels.tenant_id": "tenants c",
		"tasks.tenant_id": "tenants c", "tasks.project_id": "projects c", "tasks.assignee_id": "users n",
		"comments.task_id": "tasks c", "comments.author_id": "users n",
		"task_labels.task_id": "tasks c", "task_labels.label_id": "labels c",
		"attachments.task_id": "tasks c", "attachments.uploaded_by": "users n",
		"activity_log.tenant_id": "tenants c",
	}
	for col, w := range want {
		if got[col] != w {
			t.Errorf("foreign key %s: got %q, want %q", col, got[col], w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d foreign keys, want %d: %v", len(got), len(want), got)
	}

	// The schema leaves exactly two foreign keys without an index that
	// starts with their column, on purpose.
	var unindexed []string
	rows, err = conn.Query(ctx, `
		SELECT c.conrelid::regclass::text || '.' || a.attname
		  FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
		 WHERE c.contype = 'f' AND c.connamespace = 'public'::regnamespace
		   AND NOT EXISTS (SELECT FROM pg_index i WHERE i.indrelid = c.conrelid AND i.indkey[0] = c.conkey[1])
		 ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var col string
		if err := rows.Scan(&col); err != nil {
			t.Fatal(err)
		}
		unindexed = append(unindexed, col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"comments.task_id", "task_labels.label_id"}; !slices.Equal(unindexed, want) {
		t.Errorf("unindexed foreign keys %v, want %v", unindexed, want)
	}

	// The constraints hold: bad rows are refused with the right error.
	for _, c := range []struct{ sql, code string }{
		{"INSERT INTO tasks (tenant_id, project_id, number, title, priority) VALUES (1, 1, 999999, 'x', 9)", "23514"},
		{"INSERT INTO tasks (tenant_id, project_id, number, title, status) VALUES (1, 1, 999999, 'x', 'lost')", "23514"},
		{"UPDATE tasks SET updated_at = created_at - interval '1 day' WHERE id = 1", "23514"},
		{"INSERT INTO activity_log (tenant_id, payload) VALUES (1, '{\"no\": \"type\"}')", "23514"},
		{"INSERT INTO comments (task_id, body) VALUES (-1, 'orphan')", "23503"},
		{"INSERT INTO task_labels (task_id, label_id) VALUES (1, -1)", "23503"},
		{"INSERT INTO tasks (tenant_id, project_id, number, title) VALUES (1, 1, 1, 'duplicate number')", "23505"},
	} {
		_, err := conn.Exec(ctx, c.sql)
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != c.code {
			t.Errorf("%s: got %v, want SQLSTATE %s", c.sql, err, c.code)
		}
	}

	// The load's own statements stay out of pg_stat_statements.
	var loadStatements int
	err = conn.QueryRow(ctx, `SELECT count(*) FROM pg_stat_statements
		WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query LIKE '%gen_tenant%'`).Scan(&loadStatements)
	if err != nil {
		t.Fatal(err)
	}
	if loadStatements != 0 {
		t.Errorf("pg_stat_statements recorded %d load statements", loadStatements)
	}
}

func TestLoadIsReproducible(t *testing.T) {
	ctx := context.Background()
	for db, seed := range map[string]int64{"taskboard_same_seed": 1, "taskboard_other_seed": 2} {
		if err := Load(ctx, freshDB(t, db), Options{Scale: testScale, Seed: seed}); err != nil {
			t.Fatal(err)
		}
	}
	// The shared database (seed 1) has seen the workload by now: compare
	// the first rows, less the columns its updates change.
	const digest = `SELECT md5(string_agg((to_jsonb(t) - 'status' - 'updated_at')::text, ',' ORDER BY t.id))
		FROM %s t WHERE t.id <= 1000`
	for _, table := range []string{"users", "projects", "tasks", "comments", "attachments", "activity_log"} {
		sums := map[string]string{}
		for _, db := range []string{"taskboard", "taskboard_same_seed", "taskboard_other_seed"} {
			var sum string
			if err := connect(t, sandbox.DSN(db)).QueryRow(ctx, fmt.Sprintf(digest, table)).Scan(&sum); err != nil {
				t.Fatal(err)
			}
			sums[db] = sum
		}
		if sums["taskboard"] != sums["taskboard_same_seed"] {
			t.Errorf("%s differs between two loads with the same seed", table)
		}
		if sums["taskboard"] == sums["taskboard_other_seed"] {
			t.Errorf("%s is the same with another seed", table)
		}
	}
}
