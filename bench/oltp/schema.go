// Package oltp generates the benchmarks' synthetic OLTP workload from a
// seed: tables of varied shapes and sizes with foreign keys between them,
// their data (generated server-side, reproducibly), and distinct
// statements (point lookups, equality plus range, equality plus ORDER BY
// ... LIMIT, joins over foreign keys, soft-delete and status predicates,
// jsonb filters, text search, aggregates and a few writes) with a skewed
// call mix and parameter sets drawn from the data's own distributions.
package oltp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
)

// Options say what to generate.
type Options struct {
	Seed int64
	// Scale multiplies the row counts; 0 means 1, where tables hold 500 to
	// 2,000,000 rows, most of them small (about 10M rows in all).
	Scale float64
	// Tables is how many tables; 0 means 100.
	Tables int
	// Statements is how many distinct statements; 0 means 500.
	Statements int
	// Calls is the number of calls the mix spreads over the statements on
	// top of MinCalls each; 0 means 3000.
	Calls int
	// MinCalls every statement gets in the mix; 0 means 5.
	MinCalls int
}

// Row counts at Scale 1 lie between these bounds: minRows x
// (maxRows/minRows)^(u^sizeSkew) for u uniform in [0, 1), so most tables
// are small and a few hold millions, as in an application's schema.
const (
	minRows  = 500
	maxRows  = 2_000_000
	sizeSkew = 3
	// dataEnd is the newest created_at; the data spans a year before it.
	dataEnd  = "2025-06-01 00:00:00+00"
	dataDays = 365
)

// Feature is an optional column group of a table.
type Feature uint16

// Optional column groups.
const (
	Status     Feature = 1 << iota // status text: active 70%, pending 20%, closed 9%, failed 1%
	SoftDelete                     // deleted_at timestamptz: NULL for 95% of rows
	Code                           // code text, unique per row
	Email                          // email text, mixed case, unique per row
	Name                           // name text: two words of the vocabulary
	Attrs                          // attrs jsonb: kind (50, skewed), region (10), flag (10% true)
	Body                           // body text: six words of the vocabulary
	Amount                         // amount numeric(12,2)
)

// Table is one generated table. Every table has id (the primary key),
// created_at (rising with id over a year), updated_at, kind (0..9, skewed
// toward 0) and score (uniform 0..999999); tenant_id and the columns of
// Features when it has them; and one bigint column per parent, named
// <parent>_id, referencing the parent's id.
type Table struct {
	Name     string
	Rows     int64
	Tenants  int64 // 0: no tenant_id; else tenant_id in 1..Tenants, skewed toward 1
	Parents  []*Table
	Features Feature
	// Indexes are the secondary indexes the schema already has.
	Indexes []string
}

// Has reports whether t has all of f.
func (t *Table) Has(f Feature) bool { return t.Features&f == f }

// ParentColumn is the name of t's foreign-key column to p.
func ParentColumn(p *Table) string { return p.Name + "_id" }

// Columns lists t's columns in table order.
func (t *Table) Columns() []string {
	cols := []string{"id"}
	if t.Tenants > 0 {
		cols = append(cols, "tenant_id")
	}
	for _, p := range t.Parents {
		cols = append(cols, ParentColumn(p))
	}
	cols = append(cols, "created_at", "updated_at", "kind", "score")
	for _, f := range featureColumns {
		if t.Has(f.feature) {
			cols = append(cols, f.column)
		}
	}
	return cols
}

var featureColumns = []struct {
	feature Feature
	column  string
	typ     string
}{
	{Status, "status", "text NOT NULL"},
	{SoftDelete, "deleted_at", "timestamptz"},
	{Code, "code", "text NOT NULL"},
	{Email, "email", "text NOT NULL"},
	{Name, "name", "text NOT NULL"},
	{Attrs, "attrs", "jsonb NOT NULL"},
	{Body, "body", "text NOT NULL"},
	{Amount, "amount", "numeric(12,2) NOT NULL"},
}

// Statuses and their shares of the rows.
var (
	Statuses      = []string{"active", "pending", "closed", "failed"}
	statusCumFreq = []float64{0.70, 0.90, 0.99, 1}
)

// statusCase draws a status with its share of the rows from r, uniform in [0, 1).
func statusCase(r string) string {
	var b strings.Builder
	b.WriteString("CASE")
	for i, st := range Statuses[:len(Statuses)-1] {
		fmt.Fprintf(&b, " WHEN %s < %.2f THEN '%s'", r, statusCumFreq[i], st)
	}
	fmt.Fprintf(&b, " ELSE '%s' END", Statuses[len(Statuses)-1])
	return b.String()
}

// Workload is a generated schema and its statements.
type Workload struct {
	Seed       int64
	Tables     []*Table
	Statements []*Statement
	Words      []string // the vocabulary names and bodies draw from
}

// Generate makes a workload; the same options give the same workload.
func Generate(opts Options) (*Workload, error) {
	if opts.Scale == 0 {
		opts.Scale = 1
	}
	if math.IsNaN(opts.Scale) || opts.Scale <= 0 || opts.Scale > 1000 {
		return nil, fmt.Errorf("oltp workload: scale %v: want a number above 0 and at most 1000", opts.Scale)
	}
	if opts.Tables == 0 {
		opts.Tables = 100
	}
	if opts.Statements == 0 {
		opts.Statements = 500
	}
	if opts.Calls == 0 {
		opts.Calls = 3000
	}
	if opts.MinCalls == 0 {
		opts.MinCalls = 5
	}
	if opts.Tables < 2 || opts.Tables > 1000 || opts.Statements < 1 || opts.Statements > 20*opts.Tables || opts.Calls < 0 || opts.MinCalls < 0 {
		return nil, fmt.Errorf("oltp workload: %d tables, %d statements, %d calls, %d min calls: want 2..1000 tables, "+
			"1..20 statements per table, no negative calls", opts.Tables, opts.Statements, opts.Calls, opts.MinCalls)
	}
	r := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed))
	w := &Workload{Seed: opts.Seed, Words: vocabulary(r, 2000)}
	w.Tables = tables(r, opts)
	if err := w.statements(r, opts); err != nil {
		return nil, err
	}
	return w, nil
}

// tables draws the tables: sizes skewed (see minRows), features and parents at
// random, a third of the tables multi-tenant.
func tables(r *rand.Rand, opts Options) []*Table {
	out := make([]*Table, opts.Tables)
	for i := range out {
		t := &Table{Name: fmt.Sprintf("t%03d", i)}
		rows := minRows * math.Pow(maxRows/minRows, math.Pow(r.Float64(), sizeSkew)) * opts.Scale
		t.Rows = max(10, int64(rows))
		if r.IntN(3) > 0 {
			t.Tenants = max(5, t.Rows/2000)
		}
		for _, f := range []struct {
			f Feature
			p float64
		}{{Status, 0.6}, {SoftDelete, 0.4}, {Code, 0.5}, {Email, 0.3}, {Name, 0.4}, {Attrs, 0.3}, {Body, 0.25}, {Amount, 0.5}} {
			if r.Float64() < f.p {
				t.Features |= f.f
			}
		}
		// Parents are earlier tables: no cycles, and the load order holds.
		for range r.IntN(3) {
			if i == 0 {
				break
			}
			p := out[r.IntN(i)]
			if !contains(t.Parents, p) {
				t.Parents = append(t.Parents, p)
			}
		}
		out[i] = t
	}
	// Some tables already have the indexes an earlier developer added:
	// single columns, some of them half of what the statements need.
	for _, t := range out {
		if r.Float64() < 0.3 && t.Tenants > 0 {
			t.Indexes = append(t.Indexes, fmt.Sprintf("CREATE INDEX %s_tenant_id_idx ON %s (tenant_id)", t.Name, t.Name))
		}
		if r.Float64() < 0.2 {
			t.Indexes = append(t.Indexes, fmt.Sprintf("CREATE INDEX %s_created_at_idx ON %s (created_at)", t.Name, t.Name))
		}
		if len(t.Parents) > 0 && r.Float64() < 0.3 {
			c := ParentColumn(t.Parents[0])
			t.Indexes = append(t.Indexes, fmt.Sprintf("CREATE INDEX %s_%s_idx ON %s (%s)", t.Name, c, t.Name, c))
		}
		if t.Has(Code) && r.Float64() < 0.3 {
			t.Indexes = append(t.Indexes, fmt.Sprintf("CREATE UNIQUE INDEX %s_code_key ON %s (code)", t.Name, t.Name))
		}
	}
	return out
}

func contains(ts []*Table, t *Table) bool {
	for _, x := range ts {
		if x == t {
			return true
		}
	}
	return false
}

// vocabulary makes n distinct pronounceable lowercase words.
func vocabulary(r *rand.Rand, n int) []string {
	const consonants, vowels = "bcdfghklmnprstvz", "aeiou"
	seen := map[string]bool{}
	var out []string
	for len(out) < n {
		var b strings.Builder
		for range 2 + r.IntN(2) {
			b.WriteByte(consonants[r.IntN(len(consonants))])
			b.WriteByte(vowels[r.IntN(len(vowels))])
		}
		if w := b.String(); !seen[w] {
			seen[w] = true
			out = append(out, w)
		}
	}
	return out
}

// SchemaSQL creates the tables, without keys or indexes.
func (w *Workload) SchemaSQL() []string {
	var out []string
	for _, t := range w.Tables {
		cols := []string{"id bigint NOT NULL"}
		if t.Tenants > 0 {
			cols = append(cols, "tenant_id integer NOT NULL")
		}
		for _, p := range t.Parents {
			cols = append(cols, ParentColumn(p)+" bigint NOT NULL")
		}
		cols = append(cols, "created_at timestamptz NOT NULL", "updated_at timestamptz NOT NULL", "kind smallint NOT NULL", "score integer NOT NULL")
		for _, f := range featureColumns {
			if t.Has(f.feature) {
				cols = append(cols, f.column+" "+f.typ)
			}
		}
		out = append(out, fmt.Sprintf("CREATE TABLE %s (\n  %s\n)", t.Name, strings.Join(cols, ",\n  ")))
	}
	return out
}

// LoadSQL fills table t; run SeedSQL first in the same session for
// reproducible data. Random values are drawn once per row in a subquery
// so that columns derived from the same draw agree.
func (w *Workload) LoadSQL(t *Table) string {
	exprs := []string{"g"}
	if t.Tenants > 0 {
		// tenant 1 is the busiest: density falls as 1/sqrt.
		exprs = append(exprs, fmt.Sprintf("1 + floor(%d * r1 * r1)::int", t.Tenants))
	}
	for _, p := range t.Parents {
		exprs = append(exprs, fmt.Sprintf("1 + floor(%d * random())::bigint", p.Rows))
	}
	created := fmt.Sprintf("(timestamptz '%s' - (%d - g) * interval '%f seconds' - r2 * interval '1 hour')", dataEnd, t.Rows, float64(dataDays*86400)/float64(t.Rows))
	exprs = append(exprs, created, created+" + r3 * interval '30 days'",
		"floor(10 * r3 * r3)::smallint", "floor(1000000 * random())::int")
	for _, f := range featureColumns {
		if !t.Has(f.feature) {
			continue
		}
		switch f.feature {
		case Status:
			exprs = append(exprs, statusCase("r4"))
		case SoftDelete:
			exprs = append(exprs, "CASE WHEN r5 < 0.05 THEN "+created+" + r5 * interval '100 days' END")
		case Code:
			exprs = append(exprs, "'C' || lpad(g::text, 9, '0')")
		case Email:
			exprs = append(exprs, "'User' || g || '@Mail' || (g % 17) || '.example'")
		case Name:
			exprs = append(exprs, fmt.Sprintf("v.a[1 + floor(random() * %d)::int] || ' ' || v.a[1 + floor(random() * %d)::int]", len(w.Words), len(w.Words)))
		case Attrs:
			exprs = append(exprs, "jsonb_build_object('kind', 'k' || floor(50 * r6 * r6)::int, 'region', 'r' || floor(10 * random())::int, 'flag', random() < 0.1)")
		case Body:
			var ws []string
			for range 6 {
				ws = append(ws, fmt.Sprintf("v.a[1 + floor(random() * %d)::int]", len(w.Words)))
			}
			exprs = append(exprs, strings.Join(ws, " || ' ' || "))
		case Amount:
			exprs = append(exprs, "round((1000 * random())::numeric, 2)")
		}
	}
	words := "'{" + strings.Join(w.Words, ",") + "}'::text[]"
	return fmt.Sprintf(`INSERT INTO %s (%s)
SELECT %s
  FROM (SELECT g, random() AS r1, random() AS r2, random() AS r3, random() AS r4, random() AS r5, random() AS r6
          FROM generate_series(1, %d) AS g) AS s,
       (SELECT %s AS a) AS v`, t.Name, strings.Join(t.Columns(), ", "), strings.Join(exprs, ",\n       "), t.Rows, words)
}

// SeedSQL makes random() reproducible for the session that loads.
func (w *Workload) SeedSQL(t *Table) string {
	h := uint64(w.Seed)*1000003 + uint64(len(t.Name))
	for _, c := range t.Name {
		h = h*31 + uint64(c)
	}
	return fmt.Sprintf("SELECT setseed(%f)", float64(h%1999999)/1000000-0.9999995)
}

// KeysSQL adds the primary keys, foreign keys and existing indexes, for
// after the data is in.
func (w *Workload) KeysSQL(t *Table) []string {
	out := []string{fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (id)", t.Name)}
	for _, p := range t.Parents {
		c := ParentColumn(p)
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s_%s_fkey FOREIGN KEY (%s) REFERENCES %s (id)", t.Name, t.Name, c, c, p.Name))
	}
	return append(out, t.Indexes...)
}

// TotalRows is the number of rows of all tables.
func (w *Workload) TotalRows() int64 {
	var n int64
	for _, t := range w.Tables {
		n += t.Rows
	}
	return n
}
