package oltp

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

var paramRef = regexp.MustCompile(`\$(\d+)`)

func maxParam(sql string) int {
	n := 0
	for _, m := range paramRef.FindAllStringSubmatch(sql, -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	return n
}

func TestGenerate(t *testing.T) {
	a, err := Generate(Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Generate(Options{Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Tables) != 100 || len(a.Statements) != 500 {
		t.Fatalf("got %d tables and %d statements, want 100 and 500", len(a.Tables), len(a.Statements))
	}
	seen := map[string]bool{}
	kinds := map[string]int{}
	calls := 0
	for i, s := range a.Statements {
		if seen[s.SQL] {
			t.Errorf("statement %d is not distinct: %s", i, s.SQL)
		}
		seen[s.SQL] = true
		kinds[s.Kind]++
		calls += s.Calls
		if b.Statements[i].SQL != s.SQL || b.Statements[i].Calls != s.Calls {
			t.Errorf("statement %d differs between two generations with the same seed", i)
		}
		if _, err := pg_query.Parse(s.SQL); err != nil {
			t.Errorf("statement %d does not parse: %v\n%s", i, err, s.SQL)
		}
		pa, pb := a.ParamSets(i, 3, 1), b.ParamSets(i, 3, 1)
		for k := range pa {
			if len(pa[k]) != maxParam(s.SQL) {
				t.Errorf("statement %d: %d parameter values for %s", i, len(pa[k]), s.SQL)
			}
			for j := range pa[k] {
				if pa[k][j] != pb[k][j] {
					t.Errorf("statement %d: parameter sets differ between two generations with the same seed", i)
				}
			}
		}
	}
	for _, p := range patterns {
		if kinds[p.kind] == 0 {
			t.Errorf("no statement of kind %s", p.kind)
		}
	}
	if calls < 3000+5*500-50 || calls > 3000+5*500+50 {
		t.Errorf("the mix has %d calls, want about %d", calls, 3000+5*500)
	}
	c, err := Generate(Options{Seed: 8})
	if err != nil {
		t.Fatal(err)
	}
	if c.Statements[200].SQL == a.Statements[200].SQL && c.Tables[50].Rows == a.Tables[50].Rows {
		t.Error("two seeds gave the same workload")
	}
	if rows := a.TotalRows(); rows < 5_000_000 || rows > 20_000_000 {
		t.Errorf("scale 1 has %d rows; want roughly ten million", rows)
	}
	biggest := slices.MaxFunc(a.Tables, func(x, y *Table) int { return cmp.Compare(x.Rows, y.Rows) })
	if biggest.Rows < 1_000_000 {
		t.Errorf("the largest table has %d rows; want millions", biggest.Rows)
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	for _, o := range []Options{{Scale: -1}, {Tables: 1}, {Tables: 5, Statements: 101}, {Calls: -1}} {
		if _, err := Generate(o); err == nil {
			t.Errorf("Generate(%+v) succeeded", o)
		}
	}
}

// TestLoadAndRun loads a small workload and runs every statement with two
// parameter sets: the generated SQL and values must fit the data.
func TestLoadAndRun(t *testing.T) {
	c := pgsandbox.Start(t, pgsandbox.Options{})
	ctx := context.Background()
	if err := c.CreateDatabase(ctx, "oltp"); err != nil {
		t.Fatal(err)
	}
	w, err := Generate(Options{Seed: 3, Scale: 0.05, Tables: 15, Statements: 150})
	if err != nil {
		t.Fatal(err)
	}
	if err := Load(ctx, c.DSN("oltp"), w, 2, nil); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, c.DSN("oltp"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var rows int64
	if err := conn.QueryRow(ctx, "SELECT sum(n_live_tup) FROM pg_stat_user_tables").Scan(&rows); err != nil {
		t.Fatal(err)
	}
	if rows != w.TotalRows() {
		t.Errorf("loaded %d rows, want %d", rows, w.TotalRows())
	}
	reads, found := 0, 0
	for i, s := range w.Statements {
		for _, params := range w.ParamSets(i, 2, 1) {
			args := make([][]byte, len(params))
			for j, p := range params {
				args[j] = []byte(p)
			}
			res := conn.PgConn().ExecParams(ctx, s.SQL, args, nil, nil, nil).Read()
			if res.Err != nil {
				t.Fatalf("%s with %q: %v\n%s", s.Name, params, res.Err, s.SQL)
			}
			if !s.Write {
				reads++
				if len(res.Rows) > 0 {
					found++
				}
			}
		}
	}
	// Rare-value searches may come back empty on tiny tables, most not.
	if found < reads/2 {
		t.Errorf("only %d of %d reads found rows: the parameters do not match the data", found, reads)
	}
}

// The generated statuses keep the shares the data was always generated with.
func TestStatusCase(t *testing.T) {
	want := "CASE WHEN r4 < 0.70 THEN 'active' WHEN r4 < 0.90 THEN 'pending' WHEN r4 < 0.99 THEN 'closed' ELSE 'failed' END"
	if got := statusCase("r4"); got != want {
		t.Errorf("statusCase:\n got %s\nwant %s", got, want)
	}
}
