package demo

import (
	"math/rand/v2"
	"strings"
)

// Expectation is what the advisor should make of a statement.
type Expectation int

const (
	// ExpectNothing: the statement is already well served; the advisor
	// must not recommend anything for it.
	ExpectNothing Expectation = iota
	// ExpectIndex: an index the schema lacks would serve the statement
	// far better; the advisor should recommend it (WantIndex).
	ExpectIndex
	// ExpectFinding: no index is the cure; the advisor should explain the
	// plan's problem (Advice) instead.
	ExpectFinding
)

func (e Expectation) String() string {
	switch e {
	case ExpectNothing:
		return "nothing"
	case ExpectIndex:
		return "index"
	case ExpectFinding:
		return "finding"
	}
	return "unknown"
}

// NamedStatement is one statement of the demo's workload.
type NamedStatement struct {
	Name string
	// SQL is the text sent with $n parameters, and so the text
	// pg_stat_statements records.
	SQL string
	// Demonstrates says what the statement is in the application and
	// which advisor feature it exercises.
	Demonstrates string
	Expect       Expectation
	// WantIndex is, for ExpectIndex, an index that serves the statement
	// well (the tests build it and check the planner uses it); the
	// advisor may find an equivalent one.
	WantIndex string
	// Advice is what the advisor should say about the statement.
	Advice string
	// Table is the table the expectation is about.
	Table string
	// ReadOnly statements may run under EXPLAIN ANALYZE.
	ReadOnly bool
}

// statement is a NamedStatement with how often the workload runs it and
// how it draws its parameters.
type statement struct {
	NamedStatement
	weight int
	args   func(r *rand.Rand, d *domain) []any
}

// Statements are the workload's statements, in a fixed order.
func Statements() []NamedStatement {
	all := statements()
	out := make([]NamedStatement, len(all))
	for i, s := range all {
		out[i] = s.NamedStatement
	}
	return out
}

// payloadFilters are the activity payloads the audit screen filters on;
// each matches well under 1% of activity_log (see activitySQL).
var payloadFilters = []string{
	`{"type": "status_change", "to": "canceled", "client": "api"}`,
	`{"integration": "jira-import"}`,
	`{"type": "priority_change", "from": 4, "to": 0}`,
	`{"type": "commented", "client": "slack"}`,
	`{"type": "status_change", "from": "done", "to": "todo"}`,
}

func statements() []statement {
	return []statement{
		{
			NamedStatement: NamedStatement{
				Name:         "project_dashboard",
				SQL:          `SELECT id, number, title, status, priority, assignee_id, updated_at FROM tasks WHERE project_id = $1 AND deleted_at IS NULL ORDER BY updated_at DESC LIMIT 20`,
				Demonstrates: "the busiest screen: a project's recently updated tasks; the only index on project_id is the task-number key, so every call reads all of a project's tasks and sorts them (top-N)",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX tasks_project_id_updated_at_idx ON tasks (project_id, updated_at DESC) WHERE deleted_at IS NULL`,
				Advice:       "a composite index on (project_id, updated_at DESC), partial on deleted_at IS NULL, returns the 20 rows in order without a sort",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 22,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.project(r).id} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "task_by_key",
				SQL:          `SELECT id, title, status, priority, assignee_id, due_date, updated_at FROM tasks WHERE project_id = $1 AND number = $2`,
				Demonstrates: "opening a task by its key (WEB-123): served by the unique (project_id, number) index",
				Expect:       ExpectNothing,
				Advice:       "already an index scan on tasks_project_id_number_key; nothing to recommend",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 14,
			args: func(r *rand.Rand, d *domain) []any {
				p := d.project(r)
				return []any{p.id, int32(1 + r.IntN(int(p.tasks)))}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "task_comments",
				SQL:          `SELECT id, author_id, body, created_at FROM comments WHERE task_id = $1 ORDER BY created_at`,
				Demonstrates: "a task's comment thread: comments.task_id is a foreign key without an index, so every call scans all comments (and deleting a task scans them again)",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX comments_task_id_created_at_idx ON comments (task_id, created_at)`,
				Advice:       "index the foreign key comments.task_id (with created_at for the order)",
				Table:        "comments",
				ReadOnly:     true,
			},
			weight: 12,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.task(r)} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "my_tasks",
				SQL:          `SELECT id, status FROM tasks WHERE assignee_id = $1`,
				Demonstrates: "a user's task counts by status: tasks_assignee_id_idx finds the rows but each one is fetched from the heap",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX tasks_assignee_id_covering_idx ON tasks (assignee_id) INCLUDE (id, status)`,
				Advice:       "a covering index (assignee_id) INCLUDE (id, status) allows an index-only scan",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 10,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.member(r)} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "task_history",
				SQL:          `SELECT id, actor_id, payload, created_at FROM activity_log WHERE task_id = $1 ORDER BY created_at DESC LIMIT 50`,
				Demonstrates: "a task's history tab: served by activity_log_task_id_created_at_idx read backwards",
				Expect:       ExpectNothing,
				Advice:       "already an index scan; nothing to recommend",
				Table:        "activity_log",
				ReadOnly:     true,
			},
			weight: 8,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.task(r)} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "tenant_activity_feed",
				SQL:          `SELECT id, task_id, actor_id, payload, created_at FROM activity_log WHERE tenant_id = $1 ORDER BY created_at DESC LIMIT 30`,
				Demonstrates: "the tenant's home feed: served by activity_log_tenant_id_created_at_idx",
				Expect:       ExpectNothing,
				Advice:       "already an index scan in the wanted order; nothing to recommend",
				Table:        "activity_log",
				ReadOnly:     true,
			},
			weight: 6,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.tenant(r).id} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "tasks_with_label",
				SQL:          `SELECT t.id, t.title, t.status, t.updated_at FROM task_labels tl JOIN tasks t ON t.id = tl.task_id WHERE tl.label_id = $1 AND t.deleted_at IS NULL ORDER BY t.updated_at DESC LIMIT 50`,
				Demonstrates: "a label's task list: task_labels.label_id is a foreign key without an index (the primary key starts with task_id), so every call scans task_labels",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX task_labels_label_id_idx ON task_labels (label_id)`,
				Advice:       "index the foreign key task_labels.label_id",
				Table:        "task_labels",
				ReadOnly:     true,
			},
			weight: 5,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.label(r)} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "tenant_trash",
				SQL:          `SELECT id, project_id, title, deleted_at FROM tasks WHERE tenant_id = $1 AND deleted_at IS NOT NULL ORDER BY deleted_at DESC LIMIT 50`,
				Demonstrates: "the trash: the 4% of a tenant's tasks that are soft-deleted, found by reading all of the tenant's tasks through tasks_tenant_id_status_idx",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX tasks_tenant_id_deleted_at_idx ON tasks (tenant_id, deleted_at DESC) WHERE deleted_at IS NOT NULL`,
				Advice:       "a small partial index WHERE deleted_at IS NOT NULL on (tenant_id, deleted_at DESC)",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 3,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.tenant(r).id} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "activity_by_payload",
				SQL:          `SELECT id, tenant_id, task_id, actor_id, created_at FROM activity_log WHERE payload @> $1`,
				Demonstrates: "the audit screen's filters (jsonb containment, e.g. every cancel made through the API): a sequential scan of the largest table",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX activity_log_payload_idx ON activity_log USING gin (payload jsonb_path_ops)`,
				Advice:       "a GIN index on payload (jsonb_path_ops serves @>)",
				Table:        "activity_log",
				ReadOnly:     true,
			},
			weight: 3,
			args: func(r *rand.Rand, _ *domain) []any {
				return []any{[]byte(payloadFilters[r.IntN(len(payloadFilters))])}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "search_tasks",
				SQL:          `SELECT id, project_id, title, updated_at FROM tasks WHERE tenant_id = $1 AND deleted_at IS NULL AND (to_tsvector(language, title) || to_tsvector(language, body)) @@ plainto_tsquery($3, $2) ORDER BY updated_at DESC LIMIT 50`,
				Demonstrates: "full-text search over titles and bodies in the tenant's language: two to_tsvector calls on every one of the tenant's tasks",
				Expect:       ExpectIndex,
				WantIndex:    `CREATE INDEX tasks_search_idx ON tasks USING gin ((to_tsvector(language, title) || to_tsvector(language, body)))`,
				Advice:       "a GIN index on the same tsvector expression the query uses",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 2,
			args: func(r *rand.Rand, d *domain) []any {
				t := d.tenant(r)
				return []any{t.id, searchTerms(r), t.language}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "comments_export_page",
				SQL:          `SELECT id, task_id, author_id, body, created_at FROM comments ORDER BY id LIMIT 20 OFFSET $1`,
				Demonstrates: "an export API paging with OFFSET: deep pages read and throw away hundreds of thousands of rows",
				Expect:       ExpectFinding,
				Advice:       "large OFFSET: page by key instead (WHERE id > $last ORDER BY id LIMIT 20); no index helps",
				Table:        "comments",
				ReadOnly:     true,
			},
			weight: 3,
			args: func(r *rand.Rand, d *domain) []any {
				return []any{r.Int64N(max(1, d.maxComment-20))}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "tenant_report",
				SQL:          `SELECT t.id, t.number, t.title, t.body, t.status, t.priority, t.due_date, p.name AS project, u.display_name AS assignee FROM tasks t JOIN projects p ON p.id = t.project_id LEFT JOIN users u ON u.id = t.assignee_id WHERE t.tenant_id = $1 AND t.deleted_at IS NULL ORDER BY p.name, t.priority, t.due_date NULLS LAST, t.id`,
				Demonstrates: "the tenant's printable status report: a wide sort over a join that does not fit in work_mem (1MB in the demo) and spills to disk",
				Expect:       ExpectFinding,
				Advice:       "the sort spills to disk: raise work_mem for this statement (SET LOCAL) or narrow the rows it sorts; no index serves an ORDER BY across a join",
				Table:        "tasks",
				ReadOnly:     true,
			},
			weight: 1,
			args:   func(r *rand.Rand, d *domain) []any { return []any{d.tenant(r).id} },
		},
		{
			NamedStatement: NamedStatement{
				Name:         "update_task_status",
				SQL:          `UPDATE tasks SET status = $2, updated_at = now() WHERE id = $1`,
				Demonstrates: "moving a card on the board: a primary-key update, never run under EXPLAIN ANALYZE",
				Expect:       ExpectNothing,
				Advice:       "a primary-key update; nothing to recommend",
				Table:        "tasks",
			},
			weight: 6,
			args: func(r *rand.Rand, d *domain) []any {
				return []any{d.task(r), statuses[r.IntN(len(statuses))]}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "add_comment",
				SQL:          `INSERT INTO comments (task_id, author_id, body) VALUES ($1, $2, $3)`,
				Demonstrates: "posting a comment",
				Expect:       ExpectNothing,
				Advice:       "an insert; nothing to recommend",
				Table:        "comments",
			},
			weight: 3,
			args: func(r *rand.Rand, d *domain) []any {
				return []any{d.task(r), d.member(r), "Looks good, " + searchTerms(r) + " next."}
			},
		},
		{
			NamedStatement: NamedStatement{
				Name:         "log_activity",
				SQL:          `INSERT INTO activity_log (tenant_id, task_id, actor_id, payload) VALUES ($1, $2, $3, $4)`,
				Demonstrates: "the audit trail's insert, the hottest write",
				Expect:       ExpectNothing,
				Advice:       "an insert; nothing to recommend",
				Table:        "activity_log",
			},
			weight: 4,
			args: func(r *rand.Rand, d *domain) []any {
				payload := `{"type": "status_change", "from": "` + statuses[r.IntN(len(statuses))] +
					`", "to": "` + statuses[r.IntN(len(statuses))] + `", "client": "web"}`
				return []any{d.tenant(r).id, d.task(r), d.member(r), []byte(payload)}
			},
		},
	}
}

// searchTerms are one or (mostly) two words of the vocabulary, as a user
// types them into the search box.
func searchTerms(r *rand.Rand) string {
	words := []string{vocabulary[r.IntN(len(vocabulary))]}
	if r.IntN(5) > 0 {
		words = append(words, vocabulary[r.IntN(len(vocabulary))])
	}
	return strings.Join(words, " ")
}
