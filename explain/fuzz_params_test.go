package explain

import (
	"context"
	"strings"
	"testing"
)

// FuzzSynthesizeParams feeds arbitrary query texts to parameter synthesis
// and the parse-level gate: they must never panic, and what they return
// must hold together.
func FuzzSynthesizeParams(f *testing.F) {
	for _, seed := range []string{
		"SELECT * FROM orders WHERE status = $1 AND created_at > $2 LIMIT $3 OFFSET $4",
		"SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE c.region IN ($1, $2) AND o.meta @> $3",
		"SELECT * FROM orders WHERE meta->>$1 = $2 AND meta->>'tier' = $3 AND customer_id BETWEEN $4 AND $5",
		"SELECT * FROM customers WHERE lower(name) LIKE $1 AND id = ANY($2) AND $3 < id",
		"UPDATE orders SET status = $1 WHERE id = $2",
		"INSERT INTO customers (region, name) VALUES ($1, $2), ($3)",
		"WITH x AS (DELETE FROM orders WHERE id = $1 RETURNING *) SELECT * FROM x WHERE status = $2",
		"SELECT $2147483647", "SELECT $0", "SELECT $1::interval, date_trunc($2, created_at) FROM orders",
		"SELECT * FROM orders WHERE (((((status = $1)))))", "", ";", "SELECT 1; SELECT 2", "SELECT '",
		"SELECT * FROM t1 a, t2 a WHERE a.x = $1", "SELECT * FROM public.orders WHERE public.orders.status = $1",
		"SELECT * FROM orders WHERE status = ANY(ARRAY[$1, $2]) AND meta ? $3",
	} {
		f.Add(seed)
	}
	cat := shopCatalog()
	f.Fuzz(func(t *testing.T, query string) {
		params, err := SynthesizeParams(context.Background(), nil, cat, query)
		if err == nil {
			for i, p := range params {
				if p.Index != i+1 || p.Source == "" {
					t.Fatalf("param %d = %+v", i, p)
				}
			}
			if pq, perr := parseQuery(query); perr != nil || len(params) != pq.numParams {
				t.Fatalf("%d params, parse %v", len(params), perr)
			}
		} else if err.Error() == "" {
			t.Fatal("an empty error")
		}
		d := GateStatic(query)
		if d.Analyze && (!d.Plannable || d.Reason != "") {
			t.Fatalf("inconsistent decision %+v", d)
		}
		if !d.Analyze && !strings.HasPrefix(d.Reason, "refused: ") {
			t.Fatalf("refusal without a reason: %+v", d)
		}
	})
}
