package explain

import (
	"context"
	"fmt"
	"testing"
)

// BenchmarkGate measures the catalog gate on one statement against the
// replica of a database of 100 tables with the column types of an OLTP
// schema: a join with filters and sorting, and a report calling
// aggregates, each of whose many built-in candidates (max has one per
// type) the gate resolves. Tables alternate so each statement's relations
// are new to the gate, as a workload's are.
func BenchmarkGate(b *testing.B) {
	schema := make([]string, 100)
	for i := range schema {
		schema[i] = fmt.Sprintf(`CREATE TABLE t%d (id bigint PRIMARY KEY, a int, b text, c timestamptz, d numeric,
			e jsonb, f boolean, g varchar(20), h date, k uuid, l float8, m int[], n tsvector)`, i)
	}
	db := gateDatabase(b, "gate_bench", schema...)
	ctx := context.Background()
	conn := connect(b, sandbox.ReplicaDSN(db))
	for _, bc := range []struct{ name, query string }{
		{"join", "SELECT x.id, y.b FROM t%d x JOIN t%d y ON y.id = x.a WHERE x.b = $1 AND x.c > $2 ORDER BY x.c LIMIT 10"},
		{"aggregates", "SELECT lower(x.b), date_trunc('day', x.c), max(y.d), sum(x.a), count(*) FROM t%d x JOIN t%d y ON y.id = x.a " +
			"WHERE x.e @> $1 AND x.n @@ to_tsquery('english', $2) AND coalesce(x.f, false) GROUP BY 1, 2 ORDER BY 1 LIMIT 10"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if d := Gate(ctx, conn, fmt.Sprintf(bc.query, i%100, (i+7)%100)); !d.Analyze {
					b.Fatalf("refused: %s", d.Reason)
				}
			}
		})
	}
}
