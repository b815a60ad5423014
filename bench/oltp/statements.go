package oltp

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// Statement is one distinct statement of the workload.
type Statement struct {
	Name  string // pattern and table, e.g. "tenant_recent t042 #3"
	Kind  string // the pattern
	Table string // the table it is about (the first of a join)
	SQL   string // with $n parameters: the text pg_stat_statements records
	// Calls is its share of the mix: how many times the workload runs it.
	Calls int
	// Write statements change rows (never run under EXPLAIN ANALYZE).
	Write bool
	gen   func(r *rand.Rand) []string
}

// Params draws one parameter set, as text, from r.
func (s *Statement) Params(r *rand.Rand) []string { return s.gen(r) }

// ParamSets draws n parameter sets from a stream of their own, so that they
// depend on the seed and the statement's position alone.
func (w *Workload) ParamSets(i, n int, seed int64) [][]string {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(w.Seed)<<20|uint64(i)))
	out := make([][]string, n)
	for k := range out {
		out[k] = w.Statements[i].gen(r)
	}
	return out
}

// pattern builds one statement on table t, or reports that t lacks what
// it needs.
type pattern struct {
	kind   string
	weight int
	fits   func(t *Table) bool
	build  func(b *builder) (sql string, gen func(r *rand.Rand) []string)
	write  bool
}

// builder holds what a pattern draws from.
type builder struct {
	r *rand.Rand
	w *Workload
	t *Table
}

var patterns = []pattern{
	{kind: "pk_lookup", weight: 3, fits: always, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE id = $1", b.cols(t, 2, 6), t.Name), func(r *rand.Rand) []string { return []string{id(r, t)} }
	}},
	{kind: "code_lookup", weight: 3, fits: has(Code), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE code = $1", b.cols(t, 2, 5), t.Name),
			func(r *rand.Rand) []string { return []string{code(r, t)} }
	}},
	{kind: "email_lookup", weight: 2, fits: has(Email), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE lower(email) = lower($1)", b.cols(t, 2, 5), t.Name), func(r *rand.Rand) []string {
			n := 1 + r.Int64N(t.Rows)
			return []string{fmt.Sprintf("user%d@mail%d.example", n, n%17)}
		}
	}},
	{kind: "tenant_recent", weight: 5, fits: tenant, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		extra, gen := b.softDelete(t)
		return fmt.Sprintf("SELECT %s FROM %s WHERE tenant_id = $1%s ORDER BY created_at DESC LIMIT $2", b.cols(t, 2, 6), t.Name, extra),
			func(r *rand.Rand) []string { return append([]string{tenantID(r, t), limit(r)}, gen(r)...) }
	}},
	{kind: "tenant_range", weight: 4, fits: tenant, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE tenant_id = $1 AND created_at >= $2 AND created_at < $3", b.cols(t, 2, 6), t.Name),
			func(r *rand.Rand) []string {
				from, to := window(r, 7)
				return []string{tenantID(r, t), from, to}
			}
	}},
	{kind: "parent_children", weight: 5, fits: child, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t, p := b.t, b.parent()
		return fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1", b.cols(t, 2, 6), t.Name, ParentColumn(p)),
			func(r *rand.Rand) []string { return []string{id(r, p)} }
	}},
	{kind: "parent_recent", weight: 3, fits: child, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t, p := b.t, b.parent()
		return fmt.Sprintf("SELECT %s FROM %s WHERE %s = $1 ORDER BY created_at DESC LIMIT $2", b.cols(t, 2, 5), t.Name, ParentColumn(p)),
			func(r *rand.Rand) []string { return []string{id(r, p), limit(r)} }
	}},
	{kind: "join_parent_filter", weight: 3, fits: childWith(Code), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		p := b.parentWith(Code)
		return fmt.Sprintf("SELECT %s, p.code FROM %s c JOIN %s p ON p.id = c.%s WHERE p.code = $1",
				b.prefixed("c", b.cols(t, 2, 4)), t.Name, p.Name, ParentColumn(p)),
			func(r *rand.Rand) []string { return []string{code(r, p)} }
	}},
	{kind: "join_tenant_status", weight: 3, fits: func(t *Table) bool { return child(t) && t.Has(Status) && hasTenantParent(t) },
		build: func(b *builder) (string, func(*rand.Rand) []string) {
			t := b.t
			p := b.parentTenant()
			return fmt.Sprintf("SELECT %s FROM %s c JOIN %s p ON p.id = c.%s WHERE p.tenant_id = $1 AND c.status = $2 ORDER BY c.created_at DESC LIMIT $3",
					b.prefixed("c", b.cols(t, 2, 4)), t.Name, p.Name, ParentColumn(p)),
				func(r *rand.Rand) []string { return []string{tenantID(r, p), rareStatus(r), limit(r)} }
		}},
	{kind: "exists_child", weight: 2, fits: func(t *Table) bool { return child(t) && t.Has(Status) && hasTenantParent(t) },
		build: func(b *builder) (string, func(*rand.Rand) []string) {
			t := b.t
			p := b.parentTenant()
			return fmt.Sprintf("SELECT p.id, p.created_at FROM %s p WHERE p.tenant_id = $1 AND EXISTS (SELECT 1 FROM %s c WHERE c.%s = p.id AND c.status = $2)",
					p.Name, t.Name, ParentColumn(p)),
				func(r *rand.Rand) []string { return []string{tenantID(r, p), rareStatus(r)} }
		}},
	{kind: "status_queue", weight: 4, fits: has(Status | SoftDelete), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE status = $1 AND deleted_at IS NULL ORDER BY created_at LIMIT $2", b.cols(t, 2, 5), t.Name),
			func(r *rand.Rand) []string { return []string{rareStatus(r), limit(r)} }
	}},
	{kind: "tenant_status", weight: 3, fits: func(t *Table) bool { return tenant(t) && t.Has(Status) }, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		extra, gen := b.softDelete(t)
		return fmt.Sprintf("SELECT %s FROM %s WHERE tenant_id = $1 AND status = $2%s", b.cols(t, 2, 5), t.Name, extra),
			func(r *rand.Rand) []string { return append([]string{tenantID(r, t), rareStatus(r)}, gen(r)...) }
	}},
	{kind: "trash", weight: 2, fits: func(t *Table) bool { return tenant(t) && t.Has(SoftDelete) }, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE tenant_id = $1 AND deleted_at IS NOT NULL ORDER BY deleted_at DESC LIMIT $2", b.cols(t, 2, 4), t.Name),
			func(r *rand.Rand) []string { return []string{tenantID(r, t), limit(r)} }
	}},
	{kind: "jsonb_contains", weight: 2, fits: has(Attrs), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE attrs @> $1", b.cols(t, 2, 4), t.Name), func(r *rand.Rand) []string {
			return []string{fmt.Sprintf(`{"kind": "k%d", "flag": true}`, 10+r.IntN(40))}
		}
	}},
	{kind: "jsonb_field", weight: 2, fits: func(t *Table) bool { return tenant(t) && t.Has(Attrs) }, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE tenant_id = $1 AND attrs->>'region' = $2", b.cols(t, 2, 4), t.Name),
			func(r *rand.Rand) []string { return []string{tenantID(r, t), fmt.Sprintf("r%d", r.IntN(10))} }
	}},
	{kind: "text_search", weight: 2, fits: has(Body), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t, words := b.t, b.w.Words
		return fmt.Sprintf("SELECT %s FROM %s WHERE to_tsvector('english', body) @@ plainto_tsquery('english', $1) LIMIT $2", b.cols(t, 2, 4), t.Name),
			func(r *rand.Rand) []string { return []string{words[r.IntN(len(words))], limit(r)} }
	}},
	{kind: "name_prefix", weight: 2, fits: has(Name), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t, words := b.t, b.w.Words
		return fmt.Sprintf("SELECT %s FROM %s WHERE name LIKE $1 ORDER BY name LIMIT $2", b.cols(t, 2, 4), t.Name),
			func(r *rand.Rand) []string { return []string{words[r.IntN(len(words))] + " %", limit(r)} }
	}},
	{kind: "agg_tenant_status", weight: 2, fits: func(t *Table) bool { return tenant(t) && t.Has(Status) }, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT status, count(*) FROM %s WHERE tenant_id = $1 GROUP BY status", t.Name),
			func(r *rand.Rand) []string { return []string{tenantID(r, t)} }
	}},
	{kind: "agg_parent_sum", weight: 2, fits: child, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t, p := b.t, b.parent()
		agg := "sum(score)"
		if t.Has(Amount) {
			agg = "sum(amount)"
		}
		return fmt.Sprintf("SELECT count(*), %s FROM %s WHERE %s = $1 AND created_at >= $2", agg, t.Name, ParentColumn(p)),
			func(r *rand.Rand) []string {
				from, _ := window(r, 0)
				return []string{id(r, p), from}
			}
	}},
	{kind: "agg_kind_daily", weight: 2, fits: always, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT date_trunc('day', created_at) AS day, count(*) FROM %s WHERE kind = $1 AND created_at >= $2 AND created_at < $3 GROUP BY 1 ORDER BY 1", t.Name),
			func(r *rand.Rand) []string {
				from, to := window(r, 3)
				return []string{fmt.Sprint(5 + r.IntN(5)), from, to}
			}
	}},
	{kind: "score_range", weight: 2, fits: always, build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("SELECT %s FROM %s WHERE score BETWEEN $1 AND $2 ORDER BY score LIMIT $3", b.cols(t, 2, 4), t.Name),
			func(r *rand.Rand) []string {
				lo := r.IntN(990000)
				return []string{fmt.Sprint(lo), fmt.Sprint(lo + 1000 + r.IntN(5000)), limit(r)}
			}
	}},
	{kind: "update_status", weight: 2, write: true, fits: has(Status), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("UPDATE %s SET status = $2, updated_at = now() WHERE id = $1", t.Name),
			func(r *rand.Rand) []string { return []string{id(r, t), Statuses[r.IntN(3)]} }
	}},
	{kind: "update_by_code", weight: 1, write: true, fits: has(Code), build: func(b *builder) (string, func(*rand.Rand) []string) {
		t := b.t
		return fmt.Sprintf("UPDATE %s SET score = score + 1, updated_at = now() WHERE code = $1", t.Name),
			func(r *rand.Rand) []string { return []string{code(r, t)} }
	}},
}

func always(*Table) bool   { return true }
func tenant(t *Table) bool { return t.Tenants > 0 }
func child(t *Table) bool  { return len(t.Parents) > 0 }
func has(f Feature) func(*Table) bool {
	return func(t *Table) bool { return t.Has(f) }
}

func childWith(f Feature) func(*Table) bool {
	return func(t *Table) bool {
		return slices.ContainsFunc(t.Parents, func(p *Table) bool { return p.Has(f) })
	}
}

func hasTenantParent(t *Table) bool {
	return slices.ContainsFunc(t.Parents, func(p *Table) bool { return p.Tenants > 0 })
}

// statements draws the statements: every table gets some, bigger tables
// more; each text is distinct (select lists are drawn at random and
// redrawn on a clash). Calls follow a Zipf law over a random order.
func (w *Workload) statements(r *rand.Rand, opts Options) error {
	seen := map[string]bool{}
	weights := make([]float64, len(w.Tables))
	var sum float64
	for i, t := range w.Tables {
		weights[i] = math.Log(float64(t.Rows))
		sum += weights[i]
	}
	for i := range opts.Statements {
		var t *Table
		if i < len(w.Tables) {
			t = w.Tables[i]
		} else {
			t = w.Tables[pickWeighted(r, weights, sum)]
		}
		var fit []pattern
		total := 0
		for _, p := range patterns {
			if p.fits(t) {
				fit = append(fit, p)
				total += p.weight
			}
		}
		var s *Statement
		for try := 0; try < 50 && s == nil; try++ {
			n := r.IntN(total)
			p := fit[0]
			for _, q := range fit {
				if n < q.weight {
					p = q
					break
				}
				n -= q.weight
			}
			sql, gen := p.build(&builder{r: r, w: w, t: t})
			if seen[sql] {
				continue
			}
			seen[sql] = true
			s = &Statement{Kind: p.kind, Table: t.Name, SQL: sql, Write: p.write, gen: gen}
		}
		if s == nil {
			return fmt.Errorf("oltp workload: no distinct statement for table %s after 50 tries", t.Name)
		}
		s.Name = fmt.Sprintf("%s %s #%d", s.Kind, t.Name, i)
		w.Statements = append(w.Statements, s)
	}
	// The skew: statement k of a random order gets weight 1/(k+1).
	order := r.Perm(len(w.Statements))
	var h float64
	for k := range order {
		h += 1 / float64(k+1)
	}
	for k, i := range order {
		w.Statements[i].Calls = opts.MinCalls + int(math.Round(float64(opts.Calls)/float64(k+1)/h))
	}
	return nil
}

func pickWeighted(r *rand.Rand, weights []float64, sum float64) int {
	x := r.Float64() * sum
	for i, v := range weights {
		if x < v {
			return i
		}
		x -= v
	}
	return len(weights) - 1
}

// cols is a random select list of lo..hi of t's columns in random order.
func (b *builder) cols(t *Table, lo, hi int) string {
	all := t.Columns()
	n := min(len(all), lo+b.r.IntN(hi-lo+1))
	perm := b.r.Perm(len(all))[:n]
	out := make([]string, n)
	for i, j := range perm {
		out[i] = all[j]
	}
	return strings.Join(out, ", ")
}

func (b *builder) prefixed(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = alias + "." + c
	}
	return strings.Join(parts, ", ")
}

func (b *builder) parent() *Table { return b.t.Parents[b.r.IntN(len(b.t.Parents))] }

func (b *builder) parentWith(f Feature) *Table {
	var ps []*Table
	for _, p := range b.t.Parents {
		if p.Has(f) {
			ps = append(ps, p)
		}
	}
	return ps[b.r.IntN(len(ps))]
}

func (b *builder) parentTenant() *Table {
	var ps []*Table
	for _, p := range b.t.Parents {
		if p.Tenants > 0 {
			ps = append(ps, p)
		}
	}
	return ps[b.r.IntN(len(ps))]
}

// softDelete adds "AND deleted_at IS NULL" half the time on tables that
// soft-delete; the predicate takes no parameter.
func (b *builder) softDelete(t *Table) (string, func(*rand.Rand) []string) {
	none := func(*rand.Rand) []string { return nil }
	if t.Has(SoftDelete) && b.r.IntN(2) == 0 {
		return " AND deleted_at IS NULL", none
	}
	return "", none
}

// Parameter values, drawn like the data.

func id(r *rand.Rand, t *Table) string { return fmt.Sprint(1 + r.Int64N(t.Rows)) }

func code(r *rand.Rand, t *Table) string { return fmt.Sprintf("C%09d", 1+r.Int64N(t.Rows)) }

// tenantID draws tenants as the data spreads rows over them: busy tenants
// call more.
func tenantID(r *rand.Rand, t *Table) string {
	x := r.Float64()
	return fmt.Sprint(1 + int64(float64(t.Tenants)*x*x))
}

// rareStatus is what queues and triage screens ask for: the statuses few
// rows have.
func rareStatus(r *rand.Rand) string {
	if r.IntN(4) == 0 {
		return "closed"
	}
	return "failed"
}

func limit(r *rand.Rand) string { return []string{"10", "20", "50"}[r.IntN(3)] }

// window is a span of days inside the data's year, as two timestamps;
// days 0 means from a random instant to the end.
func window(r *rand.Rand, days int) (from, to string) {
	end, _ := time.Parse("2006-01-02 15:04:05-07", dataEnd)
	start := end.Add(-time.Duration(dataDays-days) * 24 * time.Hour)
	f := start.Add(time.Duration(r.Int64N(int64(end.Sub(start)))))
	if days == 0 {
		f = end.Add(-time.Duration(1+r.IntN(30)) * 24 * time.Hour)
	}
	t := f.Add(time.Duration(days) * 24 * time.Hour)
	return f.UTC().Format(time.RFC3339), t.UTC().Format(time.RFC3339)
}
