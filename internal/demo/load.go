package demo

import (
	"context"
	_ "embed"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

//go:embed tables.sql
var tablesSQL string

//go:embed keys.sql
var keysSQL string

// Schema is the demo's DDL: the tables, then the keys and indexes that Load
// adds after the data.
func Schema() string { return tablesSQL + "\n" + keysSQL }

// SandboxSettings are the postgresql.conf lines the demo's sandbox should
// start with (pgsandbox.Options.Settings).
func SandboxSettings() map[string]string {
	return map[string]string{
		// Small enough that the tenant report sorts on disk.
		"work_mem": "1MB",
		// JIT compile time would inflate the unindexed plans' latencies
		// and so the measured gain of an index.
		"jit": "off",
	}
}

// Options say how much data Load generates.
type Options struct {
	// Scale multiplies the row counts; 0 means 1, the default, where
	// activity_log, the largest table, has about 1.2M rows.
	Scale float64
	// Seed makes the data reproducible: the same Seed and Scale give the
	// same rows.
	Seed int64
	// Progress, when set, is called after each load step with the step's
	// name and how many of the total steps are done. Calls do not overlap.
	Progress func(stage string, done, total int64)
}

// dataEnd is the newest timestamp in the generated data: a fixed instant,
// so that the data does not depend on when it was loaded.
var dataEnd = time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)

// Word pools the generated texts draw from: titles and sentences.
const (
	titlePool    = 4096
	sentencePool = 8192
)

// Load creates the schema in the (empty) database dsn names and fills it
// with generated data, server-side, on two connections; then adds the keys
// and indexes and runs VACUUM ANALYZE. Its own statements are not recorded
// in pg_stat_statements when it connects as a superuser.
func Load(ctx context.Context, dsn string, opts Options) error {
	scale := opts.Scale
	if scale == 0 {
		scale = 1
	}
	p, err := newPlan(scale)
	if err != nil {
		return err
	}
	l := &loader{plan: p, seed: opts.Seed, progress: opts.Progress}
	l.total = int64(len(l.serialSteps()) + 4 + 2) // + the child tables, keys, vacuum

	conns := make([]*pgx.Conn, 2)
	for i := range conns {
		c, err := l.connect(ctx, dsn)
		if err != nil {
			return err
		}
		defer c.Close(context.Background())
		conns[i] = c
	}
	a, b := conns[0], conns[1]

	for _, s := range l.serialSteps() {
		if err := l.run(ctx, a, s); err != nil {
			return err
		}
	}
	err = parallel(ctx,
		func(ctx context.Context) error {
			return l.runAll(ctx, a, step{"comments", loadComments}, step{"attachments", loadAttachments})
		},
		func(ctx context.Context) error {
			return l.runAll(ctx, b, step{"activity_log", loadActivity}, step{"task_labels", loadTaskLabels})
		})
	if err != nil {
		return err
	}
	if err := l.run(ctx, a, step{"keys and indexes", func(ctx context.Context, _ *pgx.Conn, _ *loader) error {
		stmts, err := sqltree.Statements(keysSQL)
		if err != nil {
			return err
		}
		return execShared(ctx, stmts, a, b)
	}}); err != nil {
		return err
	}
	return l.run(ctx, a, step{"vacuum analyze", func(ctx context.Context, _ *pgx.Conn, _ *loader) error {
		return parallel(ctx,
			func(ctx context.Context) error {
				return vacuum(ctx, a, "activity_log", "task_labels", "memberships", "users", "tenants")
			},
			func(ctx context.Context) error {
				return vacuum(ctx, b, "comments", "tasks", "attachments", "projects", "labels")
			})
	}})
}

type loader struct {
	plan     *plan
	seed     int64
	progress func(stage string, done, total int64)

	mu          sync.Mutex // serializes progress calls
	done, total int64
}

type step struct {
	name string
	run  func(ctx context.Context, c *pgx.Conn, l *loader) error
}

func (l *loader) serialSteps() []step {
	return []step{
		{"schema", func(ctx context.Context, c *pgx.Conn, _ *loader) error {
			_, err := c.Exec(ctx, tablesSQL)
			return err
		}},
		{"tenants", loadTenants},
		{"users", loadUsers},
		{"memberships", loadMemberships},
		{"projects", loadProjects},
		{"labels", loadLabels},
		{"tasks", loadTasks},
	}
}

func (l *loader) runAll(ctx context.Context, c *pgx.Conn, steps ...step) error {
	for _, s := range steps {
		if err := l.run(ctx, c, s); err != nil {
			return err
		}
	}
	return nil
}

// run runs one step with its own random seed, so that the data does not
// depend on which connection ran which step first.
func (l *loader) run(ctx context.Context, c *pgx.Conn, s step) error {
	if _, err := c.Exec(ctx, "SELECT setseed($1)", l.seedFor(s.name)); err != nil {
		return fmt.Errorf("demo load %s: seed: %w", s.name, err)
	}
	if err := s.run(ctx, c, l); err != nil {
		return fmt.Errorf("demo load %s: %w", s.name, err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	if l.progress != nil {
		l.progress(s.name, l.done, l.total)
	}
	return nil
}

// seedFor maps (Seed, name) to setseed's range [-1, 1).
func (l *loader) seedFor(name string) float64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%d/%s", l.seed, name)
	return float64(h.Sum64()>>11)/float64(1<<52) - 1
}

// untrackedSQL keeps a session's statements out of pg_stat_statements
// (which takes a superuser): the load, and the workload's look at the
// data, must not show up in the analysis.
const untrackedSQL = `SELECT set_config('pg_stat_statements.track', 'none', false)
 WHERE current_setting('is_superuser') = 'on' AND current_setting('pg_stat_statements.track', true) IS NOT NULL`

// sessionSQL prepares a loading session: room to sort and build indexes,
// UTC for the dates derived from timestamps, and the generator tables.
const sessionSQL = `SET work_mem = '256MB';
SET maintenance_work_mem = '512MB';
SET TimeZone = 'UTC';
SET synchronous_commit = off;
CREATE TEMP TABLE gen_tenant (tenant_id bigint PRIMARY KEY, first_user bigint NOT NULL, n_users int NOT NULL,
                              first_label bigint NOT NULL, n_labels int NOT NULL);
CREATE TEMP TABLE gen_title (id int PRIMARY KEY, txt text NOT NULL);
CREATE TEMP TABLE gen_sentence (id int PRIMARY KEY, txt text NOT NULL)`

// The session's generator tables: the plan's tenants and pools of titles
// and sentences drawn from the vocabulary, early words far more often.
const (
	genTenantSQL = `INSERT INTO gen_tenant
SELECT ord, first_user, n_users, first_label, n_labels
  FROM unnest($1::bigint[], $2::int[], $3::bigint[], $4::int[]) WITH ORDINALITY AS g(first_user, n_users, first_label, n_labels, ord)`
	genTitleSQL = `INSERT INTO gen_title
SELECT i, upper(left(s, 1)) || substr(s, 2)
  FROM (SELECT i, (SELECT string_agg(($1::text[])[1 + floor(pow(random(), 1.6) * cardinality($1::text[]))::int], ' ')
                     FROM generate_series(1, 3 + i % 6)) AS s
          FROM generate_series(1, $2::int) AS i) t`
	genSentenceSQL = `INSERT INTO gen_sentence
SELECT i, upper(left(s, 1)) || substr(s, 2) || '.'
  FROM (SELECT i, (SELECT string_agg(($1::text[])[1 + floor(pow(random(), 1.6) * cardinality($1::text[]))::int], ' ')
                     FROM generate_series(1, 6 + i % 9)) AS s
          FROM generate_series(1, $2::int) AS i) t`
)

func (l *loader) connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("demo load: parse connection string: %w", err)
	}
	cfg.RuntimeParams["application_name"] = "taskboard-loader"
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("demo load: connect: %w", err)
	}
	_, _, _, users, labels, firstUsers, firstLabels := l.plan.tenantColumns()
	if err := prepareSession(ctx, c, l.seedFor("pools"), users, labels, firstUsers, firstLabels); err != nil {
		c.Close(context.Background())
		return nil, fmt.Errorf("demo load: prepare session: %w", err)
	}
	return c, nil
}

func prepareSession(ctx context.Context, c *pgx.Conn, seed float64, users, labels []int32, firstUsers, firstLabels []int64) error {
	if _, err := c.Exec(ctx, untrackedSQL); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, sessionSQL); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, genTenantSQL, firstUsers, users, firstLabels, labels); err != nil {
		return err
	}
	// Every session builds the same pools from the same seed.
	if _, err := c.Exec(ctx, "SELECT setseed($1)", seed); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, genTitleSQL, vocabulary, titlePool); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, genSentenceSQL, vocabulary, sentencePool); err != nil {
		return err
	}
	_, err := c.Exec(ctx, "ANALYZE gen_tenant, gen_title, gen_sentence")
	return err
}

// The load statements. Random values are drawn in CTEs, which PostgreSQL
// materializes because random() is volatile, so each one is drawn once per
// row however often it is used. Rows are inserted in time order, so that
// ids grow with created_at as they do in a real application's tables.
const (
	// Every tenth tenant writes in a language English stemming does not
	// suit and searches with the 'simple' configuration.
	tenantsSQL = `INSERT INTO tenants (slug, name, plan, language, created_at)
SELECT t.slug, t.name, t.tier, CASE WHEN t.ord % 10 = 0 THEN 'simple' ELSE 'english' END::regconfig,
       $4::timestamptz - make_interval(days => 365 + floor(random() * 1100)::int)
  FROM unnest($1::text[], $2::text[], $3::text[]) WITH ORDINALITY AS t(slug, name, tier, ord)
 ORDER BY t.ord`

	usersSQL = `WITH u AS (
    SELECT t.id AS tenant_id, t.slug, i,
           ($1::text[])[1 + floor(random() * cardinality($1::text[]))::int] AS first,
           ($2::text[])[1 + floor(random() * cardinality($2::text[]))::int] AS last,
           t.created_at + ($3::timestamptz - t.created_at) * pow(random(), 2) AS created_at,
           random() AS r_deactivated, random() AS r_when
      FROM tenants t
      JOIN gen_tenant g ON g.tenant_id = t.id
     CROSS JOIN LATERAL generate_series(1, g.n_users) AS i
)
INSERT INTO users (email, display_name, created_at, deactivated_at)
SELECT lower(first || '.' || last || i) || '@' || slug || '.example', first || ' ' || last, created_at,
       CASE WHEN r_deactivated < 0.03 THEN created_at + ($3::timestamptz - created_at) * r_when END
  FROM u
 ORDER BY tenant_id, i`

	// Users were inserted tenant by tenant, so gen_tenant's ranges hold
	// each tenant's own users; every 20th user also guests elsewhere.
	membershipsSQL = `WITH m AS (
    SELECT g.tenant_id, g.first_user, uid, random() AS r
      FROM gen_tenant g
     CROSS JOIN LATERAL generate_series(g.first_user, g.first_user + g.n_users - 1) AS uid
)
INSERT INTO memberships (tenant_id, user_id, role, created_at)
SELECT m.tenant_id, u.id,
       CASE WHEN u.id = m.first_user THEN 'owner' WHEN m.r < 0.08 THEN 'admin' WHEN m.r < 0.12 THEN 'guest' ELSE 'member' END,
       u.created_at
  FROM m JOIN users u ON u.id = m.uid
UNION ALL
SELECT (u.id / 20) % $1 + 1, u.id, 'guest', u.created_at FROM users u WHERE u.id % 20 = 0
ON CONFLICT DO NOTHING`

	projectsSQL = `WITH p AS (
    SELECT p.tenant_id, p.key, p.name, p.ord, t.name AS tenant_name,
           t.created_at + ($4::timestamptz - t.created_at) * pow(random(), 2) AS created_at,
           random() AS r_archived, random() AS r_when
      FROM unnest($1::bigint[], $2::text[], $3::text[]) WITH ORDINALITY AS p(tenant_id, key, name, ord)
      JOIN tenants t ON t.id = p.tenant_id
)
INSERT INTO projects (tenant_id, key, name, description, created_at, archived_at)
SELECT tenant_id, key, name, name || ' for ' || tenant_name || '.', created_at,
       CASE WHEN r_archived < 0.08 THEN created_at + ($4::timestamptz - created_at) * r_when END
  FROM p
 ORDER BY ord`

	labelsSQL = `INSERT INTO labels (tenant_id, name, color, created_at)
SELECT g.tenant_id, ($1::text[])[i], ($2::text[])[i], t.created_at
  FROM gen_tenant g
  JOIN tenants t ON t.id = g.tenant_id
 CROSS JOIN LATERAL generate_series(1, g.n_labels) AS i
 ORDER BY g.tenant_id, i`

	genProjectSQL = `CREATE TEMP TABLE gen_project AS
SELECT p.id AS project_id, p.tenant_id, p.created_at, 0 AS n_tasks FROM projects p WITH NO DATA`
	genProjectFillSQL = `INSERT INTO gen_project
SELECT p.id, p.tenant_id, p.created_at, n.tasks
  FROM projects p JOIN unnest($1::int[]) WITH ORDINALITY AS n(tasks, id) ON n.id = p.id`

	// Task numbers count up within a project in creation order: the i-th
	// of n tasks is created in the i-th n-th of the project's life (more
	// of them recently). Old tasks are mostly done; about 4% of tasks are
	// in the trash (deleted_at).
	tasksSQL = `WITH r AS (
    SELECT gp.project_id, gp.tenant_id, gt.first_user, gt.n_users, i AS number,
           gp.created_at + ($1::timestamptz - gp.created_at) * sqrt((i - 1 + random()) / gp.n_tasks) AS created_at,
           random() AS r_status, random() AS r_priority, random() AS r_assignee,
           random() AS r_update, random() AS r_due, random() AS r_deleted,
           1 + floor(random() * $2::int)::int AS title,
           1 + floor(random() * $3::int)::int AS body1,
           1 + floor(random() * $3::int)::int AS body2
      FROM gen_project gp
      JOIN gen_tenant gt ON gt.tenant_id = gp.tenant_id
     CROSS JOIN LATERAL generate_series(1, gp.n_tasks) AS i
), t AS (
    SELECT r.*,
           created_at + ($1::timestamptz - created_at) * pow(r_update, 3) AS updated_at,
           $1::timestamptz - created_at > interval '45 days' AS old
      FROM r
)
INSERT INTO tasks (tenant_id, project_id, number, title, body, status, priority, language, assignee_id, due_date,
                   created_at, updated_at, deleted_at)
SELECT t.tenant_id, t.project_id, t.number, ti.txt, b1.txt || ' ' || b2.txt,
       CASE WHEN t.old THEN
                CASE WHEN r_status < 0.78 THEN 'done' WHEN r_status < 0.86 THEN 'canceled'
                     WHEN r_status < 0.91 THEN 'backlog' WHEN r_status < 0.95 THEN 'todo'
                     WHEN r_status < 0.98 THEN 'in_progress' ELSE 'in_review' END
            ELSE
                CASE WHEN r_status < 0.25 THEN 'done' WHEN r_status < 0.28 THEN 'canceled'
                     WHEN r_status < 0.45 THEN 'backlog' WHEN r_status < 0.70 THEN 'todo'
                     WHEN r_status < 0.88 THEN 'in_progress' ELSE 'in_review' END
       END,
       CASE WHEN r_priority < 0.05 THEN 0 WHEN r_priority < 0.20 THEN 1 WHEN r_priority < 0.70 THEN 2
            WHEN r_priority < 0.95 THEN 3 ELSE 4 END,
       tn.language,
       CASE WHEN r_assignee < 0.9 THEN first_user + floor(n_users * pow(r_assignee / 0.9, 2))::bigint END,
       CASE WHEN r_due < 0.6 THEN (t.created_at + make_interval(days => 3 + floor(r_due * 100)::int))::date END,
       t.created_at, t.updated_at,
       CASE WHEN r_deleted < 0.04 THEN t.updated_at END
  FROM t
  JOIN tenants tn ON tn.id = t.tenant_id
  JOIN gen_title ti ON ti.id = t.title
  JOIN gen_sentence b1 ON b1.id = t.body1
  JOIN gen_sentence b2 ON b2.id = t.body2
 ORDER BY t.created_at`

	// Comments per task: the floor of an exponential with mean 3, so most
	// tasks have a few and some have dozens.
	commentsSQL = `WITH c AS (
    SELECT t.id AS task_id, t.created_at AS task_created, gt.first_user, gt.n_users,
           generate_series(1, floor(-ln(1 - random()) * 3.0)::int) AS k
      FROM tasks t JOIN gen_tenant gt ON gt.tenant_id = t.tenant_id
), r AS (
    SELECT task_id, first_user + floor(n_users * pow(random(), 1.5))::bigint AS author_id,
           task_created + ($1::timestamptz - task_created) * pow(random(), 2) AS created_at,
           random() AS r_edit, 1 + floor(random() * $2::int)::int AS sentence
      FROM c
)
INSERT INTO comments (task_id, author_id, body, created_at, edited_at)
SELECT r.task_id, r.author_id, s.txt, r.created_at,
       CASE WHEN r.r_edit < 0.1 THEN r.created_at + interval '1 minute' * (1 + r.r_edit * 1000) END
  FROM r JOIN gen_sentence s ON s.id = r.sentence
 ORDER BY r.created_at`

	// Up to three labels a task, the tenant's first labels far more often.
	taskLabelsSQL = `WITH x AS (
    SELECT t.id AS task_id, t.created_at, gt.first_label, gt.n_labels,
           generate_series(1, floor(random() * 3.2)::int) AS k
      FROM tasks t JOIN gen_tenant gt ON gt.tenant_id = t.tenant_id
), r AS (
    SELECT task_id, created_at, first_label + floor(n_labels * pow(random(), 1.7))::bigint AS label_id FROM x
)
INSERT INTO task_labels (task_id, label_id, created_at)
SELECT task_id, label_id, created_at FROM r
ON CONFLICT DO NOTHING`

	attachmentsSQL = `WITH x AS (
    SELECT t.id AS task_id, t.tenant_id, t.created_at AS task_created, gt.first_user, gt.n_users,
           generate_series(1, CASE WHEN random() < 0.2 THEN 1 + floor(random() * 2.1)::int ELSE 0 END) AS k
      FROM tasks t JOIN gen_tenant gt ON gt.tenant_id = t.tenant_id
), r AS (
    SELECT x.*, 1 + floor(random() * cardinality($2::text[]))::int AS kind,
           first_user + floor(n_users * random())::bigint AS uploaded_by,
           task_created + ($1::timestamptz - task_created) * pow(random(), 3) AS created_at,
           floor(exp(6 + random() * 14))::bigint AS byte_size
      FROM x
)
INSERT INTO attachments (task_id, uploaded_by, file_name, content_type, byte_size, storage_key, created_at)
SELECT task_id, uploaded_by, ($2::text[])[kind] || '-' || k || '.' || ($3::text[])[kind], ($4::text[])[kind],
       byte_size, 'tenants/' || tenant_id || '/tasks/' || task_id || '/' || md5(task_id || '-' || k), created_at
  FROM r
 ORDER BY created_at`

	// Every task has a "created" event and then the floor of an
	// exponential with mean 2.5 more. The payload filters of the workload
	// (see payloadFilters) each match well under 1% of the rows.
	activitySQL = `WITH e AS (
    SELECT t.tenant_id, t.id AS task_id, t.created_at AS task_created, t.updated_at, gt.first_user, gt.n_users,
           generate_series(0, floor(-ln(1 - random()) * 2.5)::int) AS k
      FROM tasks t JOIN gen_tenant gt ON gt.tenant_id = t.tenant_id
), r AS (
    SELECT e.*, random() AS r_type, random() AS r_client, random() AS r_a, random() AS r_b, random() AS r_c,
           random() AS r_time, first_user + floor(n_users * pow(random(), 1.5))::bigint AS actor_id
      FROM e
), ev AS (
    SELECT r.*,
           CASE WHEN k = 0 THEN 'created'
                WHEN r_type < 0.35 THEN 'status_change' WHEN r_type < 0.50 THEN 'assigned'
                WHEN r_type < 0.70 THEN 'commented' WHEN r_type < 0.78 THEN 'priority_change'
                WHEN r_type < 0.88 THEN 'label_added' WHEN r_type < 0.95 THEN 'due_date_changed'
                ELSE 'attachment_added' END AS type,
           CASE WHEN r_client < 0.70 THEN 'web' WHEN r_client < 0.79 THEN 'ios' WHEN r_client < 0.86 THEN 'android'
                WHEN r_client < 0.98 THEN 'api' ELSE 'slack' END AS client
      FROM r
)
INSERT INTO activity_log (tenant_id, task_id, actor_id, payload, created_at)
SELECT tenant_id, task_id, actor_id,
       jsonb_build_object('type', type, 'client', client)
       || CASE WHEN client = 'api' THEN jsonb_build_object('integration',
              CASE WHEN r_c < 0.60 THEN 'github' WHEN r_c < 0.95 THEN 'zapier' ELSE 'jira-import' END)
          ELSE '{}' END
       || CASE type
              WHEN 'status_change' THEN jsonb_build_object('from', ($1::text[])[1 + floor(r_a * 6)::int],
                                                           'to', ($1::text[])[1 + floor(r_b * 6)::int])
              WHEN 'assigned' THEN jsonb_build_object('assignee_id', first_user + floor(n_users * r_a)::bigint)
              WHEN 'commented' THEN jsonb_build_object('comment_chars', 20 + floor(r_a * 400)::int)
              WHEN 'priority_change' THEN jsonb_build_object('from', floor(r_a * 5)::int, 'to', floor(r_b * 5)::int)
              WHEN 'label_added' THEN jsonb_build_object('label', ($2::text[])[1 + floor(r_a * 8)::int])
              WHEN 'due_date_changed' THEN jsonb_build_object('due', (task_created + interval '1 day' * floor(r_a * 90))::date)
              WHEN 'attachment_added' THEN jsonb_build_object('bytes', floor(exp(6 + r_a * 14))::bigint)
              ELSE '{}' END,
       CASE WHEN k = 0 THEN task_created ELSE task_created + (updated_at - task_created) * r_time END AS created_at
  FROM ev
 ORDER BY created_at`
)

// statuses in the order of the tasks.status CHECK.
var statuses = []string{"backlog", "todo", "in_progress", "in_review", "done", "canceled"}

// Attachment kinds: file stem, extension, content type.
var (
	fileStems = []string{"screenshot", "mockup", "spec", "invoice", "export", "server", "notes", "contract", "diagram", "recording"}
	fileExts  = []string{"png", "png", "pdf", "pdf", "csv", "log", "md", "pdf", "svg", "mp4"}
	fileTypes = []string{"image/png", "image/png", "application/pdf", "application/pdf", "text/csv", "text/plain",
		"text/markdown", "application/pdf", "image/svg+xml", "video/mp4"}
)

func loadTenants(ctx context.Context, c *pgx.Conn, l *loader) error {
	slugs, names, tiers, _, _, _, _ := l.plan.tenantColumns()
	_, err := c.Exec(ctx, tenantsSQL, slugs, names, tiers, dataEnd)
	return err
}

func loadUsers(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, usersSQL, firstNames, lastNames, dataEnd)
	return err
}

func loadMemberships(ctx context.Context, c *pgx.Conn, l *loader) error {
	_, err := c.Exec(ctx, membershipsSQL, int64(len(l.plan.tenants)))
	return err
}

func loadProjects(ctx context.Context, c *pgx.Conn, l *loader) error {
	tenants, keys, names, _ := l.plan.projectColumns()
	_, err := c.Exec(ctx, projectsSQL, tenants, keys, names, dataEnd)
	return err
}

func loadLabels(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, labelsSQL, labelNames, labelColors)
	return err
}

func loadTasks(ctx context.Context, c *pgx.Conn, l *loader) error {
	_, _, _, tasks := l.plan.projectColumns()
	if _, err := c.Exec(ctx, genProjectSQL); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, genProjectFillSQL, tasks); err != nil {
		return err
	}
	if _, err := c.Exec(ctx, "ANALYZE gen_project"); err != nil {
		return err
	}
	_, err := c.Exec(ctx, tasksSQL, dataEnd, titlePool, sentencePool)
	return err
}

func loadComments(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, commentsSQL, dataEnd, sentencePool)
	return err
}

func loadTaskLabels(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, taskLabelsSQL)
	return err
}

func loadAttachments(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, attachmentsSQL, dataEnd, fileStems, fileExts, fileTypes)
	return err
}

func loadActivity(ctx context.Context, c *pgx.Conn, _ *loader) error {
	_, err := c.Exec(ctx, activitySQL, statuses, labelNames)
	return err
}

func vacuum(ctx context.Context, c *pgx.Conn, tables ...string) error {
	for _, t := range tables {
		if _, err := c.Exec(ctx, "VACUUM (ANALYZE) "+pgx.Identifier{t}.Sanitize()); err != nil {
			return fmt.Errorf("vacuum %s: %w", t, err)
		}
	}
	return nil
}

// execShared runs the statements in order on whichever connection is free.
func execShared(ctx context.Context, stmts []string, conns ...*pgx.Conn) error {
	next := make(chan string, len(stmts))
	for _, s := range stmts {
		next <- s
	}
	close(next)
	fns := make([]func(context.Context) error, len(conns))
	for i, c := range conns {
		fns[i] = func(ctx context.Context) error {
			for s := range next {
				if _, err := c.Exec(ctx, s); err != nil {
					return fmt.Errorf("%s: %w", firstLine(s), err)
				}
			}
			return nil
		}
	}
	return parallel(ctx, fns...)
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// parallel runs the functions concurrently. The first error cancels the
// others' context and is the one returned.
func parallel(ctx context.Context, fns ...func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, fn := range fns {
		wg.Go(func() {
			if err := fn(ctx); err != nil {
				once.Do(func() { first = err; cancel() })
			}
		})
	}
	wg.Wait()
	return first
}
