package advisor

import (
	"cmp"
	"testing"
)

func TestTableFirst(t *testing.T) {
	tests := []struct {
		name, query, table, want string
		first                    bool // the table is first in the result
	}{
		{
			name:  "comma join: the table moves to the front, parameters stay",
			query: "SELECT l.x FROM orders o, lineitem l WHERE o.k = l.k AND l.a < l.b AND o.d >= $1",
			want:  "SELECT l.x FROM lineitem l, orders o WHERE o.k = l.k AND l.a < l.b AND o.d >= $1",
			first: true,
		},
		{
			name:  "inner join: the arms swap",
			query: "SELECT t.id FROM task_labels tl JOIN tasks t ON t.id = tl.task_id WHERE tl.label_id = $1",
			table: "public.tasks",
			want:  "SELECT t.id FROM tasks t JOIN task_labels tl ON t.id = tl.task_id WHERE tl.label_id = $1",
			first: true,
		},
		{
			name:  "left join: the nullable side first is a right join",
			query: "SELECT 1 FROM a LEFT JOIN b ON a.id = b.a_id JOIN c ON c.id = a.c_id",
			table: "public.b",
			want:  "SELECT 1 FROM b RIGHT JOIN a ON a.id = b.a_id JOIN c ON c.id = a.c_id",
			first: true,
		},
		{
			name:  "schema-qualified in the query",
			query: "SELECT 1 FROM a, public.lineitem",
			want:  "SELECT 1 FROM public.lineitem, a",
			first: true,
		},
		{name: "already first", query: "SELECT 1 FROM lineitem, a", first: true},
		{name: "already leftmost in a join", query: "SELECT 1 FROM lineitem JOIN a ON true", first: true},
		{name: "twice: which one the predicate is for is unknown", query: "SELECT 1 FROM a, lineitem l1, lineitem l2"},
		{name: "only in a subquery", query: "SELECT 1 FROM a WHERE EXISTS (SELECT 1 FROM lineitem WHERE k = a.k)"},
		{name: "beside a LATERAL item", query: "SELECT 1 FROM a, LATERAL (SELECT a.x) s, lineitem"},
		{name: "beside a function, lateral without the keyword", query: "SELECT 1 FROM a, lineitem JOIN generate_series(1, a.n) g ON true"},
		{name: "SELECT * ordered by position", query: "SELECT * FROM a, lineitem ORDER BY 1"},
		{name: "SELECT t.* grouped by position", query: "SELECT a.*, count(*) FROM a, lineitem GROUP BY 1"},
		{
			name:  "SELECT * ordered by name",
			query: "SELECT * FROM a, lineitem ORDER BY a.x",
			want:  "SELECT * FROM lineitem, a ORDER BY a.x",
			first: true,
		},
		{name: "another schema", query: "SELECT 1 FROM a, other.lineitem"},
		{name: "not a SELECT", query: "UPDATE a SET x = 1 FROM lineitem WHERE a.k = lineitem.k"},
		{name: "unparsable", query: "SELECT FROM FROM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			table := cmp.Or(tc.table, "public.lineitem")
			got, ok := TableFirst(tc.query, table)
			want := cmp.Or(tc.want, tc.query)
			if ok != tc.first || got != want {
				t.Errorf("TableFirst(%q, %s) = %q, %v; want %q, %v", tc.query, table, got, ok, want, tc.first)
			}
		})
	}
}
