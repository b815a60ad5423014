package advisor

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

const (
	maxKeyColumns     = 4  // longer keys rarely pay for their size
	maxRangeKeys      = 2  // range columns tried, one per candidate
	maxIncludeColumns = 3  // covering: at most this many INCLUDE columns
	maxIncludeWidth   = 64 // covering: and at most this many bytes of them
	defaultNDistinct  = 200
)

// Candidates proposes the indexes that could serve one statement: composite
// btrees (equality columns, then a range or the ORDER BY), covering,
// partial and expression variants, and GIN indexes for jsonb, arrays,
// full-text search and trigram LIKE. It works from the parse tree and the
// catalog; plan, when not nil, only adds what it shows to each Why.
// Indexes an existing valid index (or the primary key) already provides are
// left out. The error is about the query text; unknown names are skipped.
func Candidates(stmt WorkloadStatement, cat *collector.Catalog, plan *explain.Plan) ([]Candidate, error) {
	if cat == nil {
		return nil, fmt.Errorf("candidates for queryid %s: no catalog", stmt.QueryID)
	}
	g := newGenerator(cat)
	uses, err := analyzeQuery(stmt.Query, g.tables)
	if err != nil {
		return nil, fmt.Errorf("candidates for queryid %s: %w", stmt.QueryID, err)
	}
	var set candidateSet
	g.statement(&set, stmt.QueryID, uses, plan)
	return set.list, nil
}

// statement adds the candidates of one analyzed statement to set.
func (g *generator) statement(set *candidateSet, queryID string, uses []*tableUse, plan *explain.Plan) {
	hints := planHints(plan)
	for i, u := range uses {
		for _, c := range g.forUse(u, hints) {
			if queryID != "" {
				c.QueryIDs = []string{queryID}
			}
			if c.OrGroup != "" {
				c.OrGroup = fmt.Sprintf("%s/%d/%s", queryID, i, c.OrGroup)
			}
			set.add(c)
		}
	}
}

// WorkloadCandidates gathers the candidates of every statement, merging
// identical ones (their QueryIDs joined). It fills each statement's Tables
// when empty. Statements whose text does not parse are skipped.
func WorkloadCandidates(stmts []WorkloadStatement, cat *collector.Catalog, plans map[string]*explain.Plan) []Candidate {
	if cat == nil {
		return nil
	}
	g := newGenerator(cat)
	var set candidateSet
	for i := range stmts {
		s := &stmts[i]
		uses, err := analyzeQuery(s.Query, g.tables)
		if err != nil {
			continue
		}
		if len(s.Tables) == 0 {
			s.Tables = g.tables.referenced(uses)
		}
		g.statement(&set, s.QueryID, uses, plans[s.QueryID])
	}
	set.addMergedCovering(cat)
	return set.list
}

// A merged covering candidate may include up to twice what one statement's may.
const (
	maxMergedInclude      = 2 * maxIncludeColumns
	maxMergedIncludeWidth = 2 * maxIncludeWidth
)

// addMergedCovering adds, for covering candidates with the same keys and
// predicate but different INCLUDE columns, one that includes them all: an
// index-only scan for each of their statements from one index instead of
// one index apiece (lower(email) INCLUDE (tenant_id) for one statement and
// INCLUDE (score) for another become INCLUDE (tenant_id, score)).
func (s *candidateSet) addMergedCovering(cat *collector.Catalog) {
	groups := map[string][]int{}
	var order []string
	for i, c := range s.list {
		if len(c.Include) == 0 {
			continue
		}
		k := s.norm.candidateKey(Candidate{Table: c.Table, Method: c.Method, Keys: c.Keys, Where: c.Where})
		if groups[k] == nil {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		members := groups[k]
		if len(members) < 2 {
			continue
		}
		merged := s.list[members[0]]
		merged.Keys, merged.Include, merged.QueryIDs = slices.Clone(merged.Keys), nil, nil
		for _, i := range members {
			merged.Include = appendMissing(merged.Include, s.list[i].Include)
			merged.QueryIDs = appendMissing(merged.QueryIDs, s.list[i].QueryIDs)
		}
		if len(merged.Include) > maxMergedInclude || includeWidth(findTable(cat, merged.Table), merged.Include) > maxMergedIncludeWidth {
			continue
		}
		merged.Include = inTableOrder(findTable(cat, merged.Table), merged.Include)
		slices.Sort(merged.QueryIDs)
		merged.Why += fmt.Sprintf("; INCLUDE joins the columns of %d covering candidates, so one index serves each of their statements by an index-only scan", len(members))
		s.add(merged)
	}
}

// candidateSet keeps candidates in first-seen order, merging duplicates.
type candidateSet struct {
	list []Candidate
	seen map[string]int
	norm normalizer
}

func (s *candidateSet) add(c Candidate) {
	if s.seen == nil {
		s.seen, s.norm = map[string]int{}, normalizer{}
	}
	k := s.norm.candidateKey(c)
	i, ok := s.seen[k]
	if !ok {
		c.QueryIDs = slices.Clone(c.QueryIDs)
		s.seen[k] = len(s.list)
		s.list = append(s.list, c)
		return
	}
	for _, q := range c.QueryIDs {
		if !slices.Contains(s.list[i].QueryIDs, q) {
			s.list[i].QueryIDs = append(s.list[i].QueryIDs, q)
		}
	}
	slices.Sort(s.list[i].QueryIDs)
}

func (n normalizer) candidateKey(c Candidate) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|", c.Table, c.Method, c.OrGroup)
	for _, k := range c.Keys {
		fmt.Fprintf(&b, "%s %t %t %s %s,", n.keyID(k), k.Desc, k.NullsFirst, k.OpClass, k.Collation)
	}
	inc := slices.Sorted(slices.Values(c.Include))
	fmt.Fprintf(&b, "|%s|%s", strings.Join(inc, ","), n.norm(c.Where))
	return b.String()
}

func (n normalizer) keyID(k collector.IndexKey) string {
	if k.Column != "" {
		return "c:" + k.Column
	}
	return "e:" + n.norm(k.Expression)
}

// generator turns table uses into candidates.
type generator struct {
	cat     *collector.Catalog
	tables  *tableLookup
	indexes map[string][]*collector.Index // by qualified table
	norm    normalizer
}

func newGenerator(cat *collector.Catalog) *generator {
	g := &generator{cat: cat, tables: newTableLookup(cat), indexes: map[string][]*collector.Index{}, norm: normalizer{}}
	for i := range cat.Indexes {
		ix := &cat.Indexes[i]
		g.indexes[ix.Table] = append(g.indexes[ix.Table], ix)
	}
	return g
}

// proposal is a candidate with the length of its equality prefix, whose
// column order and direction do not matter when matching existing indexes.
type proposal struct {
	Candidate
	eqKeys int
	shape  string // which btree shape: "eq", "range:<key>", "order", "join", "group"
}

// forUse proposes the indexes for one table occurrence.
func (g *generator) forUse(u *tableUse, hints map[string][]string) []Candidate {
	target := u.table
	if u.table.Parent != "" {
		if p := g.tables.byQualName[u.table.Parent]; p != nil {
			target = p // partitioned: the index goes on the parent
		}
	}
	served := func(p proposal) bool { return len(p.Keys) == 0 || g.alreadyServed(target, p) }
	base := g.btreeShapes(u, nil)
	partial := g.partialShapes(u)
	servedShapes := map[string]bool{}
	for _, p := range append(slices.Clone(base), partial...) {
		// An index with the statement's own predicate serves the statement
		// as well as the full one would.
		if p.shape != "" && served(p) {
			servedShapes[p.shape] = true
		}
	}
	var props, coverOnly []proposal
	for _, p := range append(base, partial...) {
		switch {
		case p.shape == "" || !servedShapes[p.shape]:
			props = append(props, p)
		case p.shape == "join" && served(p):
			// A join probes its index once per outer row: where an index
			// (often the primary key) already serves the probe, a covering
			// one still saves a heap fetch on every probe.
			p.Why += "; an existing index serves the join, not the columns read"
			coverOnly = append(coverOnly, p)
		}
	}
	for _, p := range append(slices.Clone(props), coverOnly...) {
		if c, ok := g.covering(u, p); ok {
			props = append(props, c)
		}
	}
	props = append(props, g.ginShapes(u)...)
	props = append(props, g.orArmShapes(u, target)...)

	hint := ""
	if h := g.tableHints(hints, u.table); len(h) > 0 {
		hint = "; plan: " + strings.Join(h, ", ")
	}
	var out []Candidate
	for _, p := range props {
		if served(p) {
			continue
		}
		p.Table = target.QualifiedName()
		p.Why += hint
		out = append(out, p.Candidate)
	}
	return out
}

// orArmShapes are, for each OR over u whose arms need two indexes or more
// that the table lacks, one btree per such arm on the arm's equality keys
// (most selective first) and then a range key: the indexes a BitmapOr
// needs, which serve the statement only all together (Candidate.OrGroup).
// An arm an existing index leads with one of its keys needs none.
func (g *generator) orArmShapes(u *tableUse, target *collector.Table) []proposal {
	var out []proposal
	for i, arms := range u.ors {
		var group []proposal
		for _, preds := range arms {
			shapes := g.btreeShapes(&tableUse{table: u.table, preds: preds}, nil)
			if len(shapes) == 0 {
				group = nil
				break
			}
			arm := shapes[0]
			if len(shapes) > 1 && strings.HasPrefix(shapes[1].shape, "range:") {
				arm = shapes[1] // eq then range
			}
			if slices.ContainsFunc(arm.Keys, func(k collector.IndexKey) bool {
				return g.alreadyServed(target, proposal{Candidate: Candidate{Method: "btree", Keys: []collector.IndexKey{k}}})
			}) {
				continue
			}
			if slices.ContainsFunc(group, func(p proposal) bool { return slices.Equal(p.Keys, arm.Keys) }) {
				continue // total = $1 OR total > $2: one index serves both arms
			}
			arm.Why = "one arm of an OR, " + arm.Why + ": a BitmapOr needs an index for each"
			arm.OrGroup, arm.shape = strconv.Itoa(i), ""
			group = append(group, arm)
		}
		if len(group) >= 2 { // one alone is an ordinary candidate: the existing indexes serve the other arms
			out = append(out, group...)
		} else {
			for _, p := range group {
				p.OrGroup = ""
				out = append(out, p)
			}
		}
	}
	return out
}

// btreeShapes are the composite btree candidates: equality columns (most
// selective first), then a range column, the ORDER BY, the join keys or
// the GROUP BY. Equality keys on the fixed columns (those a partial
// index's predicate pins) are left out.
func (g *generator) btreeShapes(u *tableUse, fixed map[string]bool) []proposal {
	allEq := g.equalityKeys(u)
	isEq := func(k keyRef) bool {
		return slices.ContainsFunc(allEq, func(e keyRef) bool { return e.id() == k.id() })
	}
	eq := slices.DeleteFunc(slices.Clone(allEq), func(k keyRef) bool { return k.Column != "" && fixed[k.Column] })
	eqKeys := make([]collector.IndexKey, 0, len(eq))
	var eqNames []string
	for _, k := range eq {
		eqKeys = append(eqKeys, indexKey(k, ""))
		eqNames = append(eqNames, k.sql())
	}
	eqWhy := ""
	if len(eq) > 0 {
		eqWhy = "equality on " + strings.Join(eqNames, ", ")
	}
	shape := func(tag string, tail []collector.IndexKey, eqLen int, why ...string) proposal {
		keys := append(slices.Clone(eqKeys), tail...)
		if len(keys) > maxKeyColumns {
			keys = keys[:maxKeyColumns]
		}
		parts := slices.DeleteFunc(append([]string{eqWhy}, why...), func(s string) bool { return s == "" })
		return proposal{Candidate: Candidate{Method: "btree", Keys: keys, Why: strings.Join(parts, "; ")}, eqKeys: min(eqLen, len(keys)), shape: tag}
	}

	var out []proposal
	if len(eq) > 0 {
		out = append(out, shape("eq", nil, len(eq)))
	}
	ranges := 0
	var seenRange []string
	for _, p := range u.preds {
		if (p.kind != predRange && p.kind != predPrefix) || isEq(p.key) || !btreeable(p.key) ||
			slices.Contains(seenRange, p.key.id()) || ranges == maxRangeKeys {
			continue
		}
		seenRange = append(seenRange, p.key.id())
		ranges++
		opclass, why := "", "range on "+p.key.sql()
		if p.kind == predPrefix {
			opclass, why = patternOpClass(p.key), "prefix LIKE on "+p.key.sql()
		}
		out = append(out, shape("range:"+p.key.id(), []collector.IndexKey{indexKey(p.key, opclass)}, len(eq), why))
	}
	if order := orderTail(u.order, isEq); len(order) > 0 {
		why := "order by " + describeOrder(u.order, isEq)
		if u.limit {
			why += " with LIMIT"
		}
		out = append(out, shape("order", order, len(eq), why))
	}
	var joins []keyRef
	for _, j := range u.joins {
		if !isEq(j) && btreeable(j) {
			joins = append(joins, j)
		}
	}
	if len(joins) > 0 {
		g.sortBySelectivity(u.table, joins, nil)
		var tail []collector.IndexKey
		var names []string
		for _, j := range joins {
			tail = append(tail, indexKey(j, ""))
			names = append(names, j.sql())
		}
		out = append(out, shape("join", tail, len(eq)+len(tail), "join key "+strings.Join(names, ", ")+" (inner side of a join)"))
	}
	var group []collector.IndexKey
	var groupNames []string
	for _, k := range u.group {
		if !isEq(k) && btreeable(k) {
			group = append(group, indexKey(k, ""))
			groupNames = append(groupNames, k.sql())
		}
	}
	if len(group) > 0 {
		out = append(out, shape("group", group, len(eq), "group by "+strings.Join(groupNames, ", ")))
	}
	return out
}

// equalityKeys are the keys compared with =, IN, = ANY or IS NULL, most
// selective first. An IS NULL that keeps most rows (deleted_at IS NULL
// where 97% are) is no key: it narrows nothing, and an index on it is all
// NULLs; the partial variant (WHERE deleted_at IS NULL) serves it.
func (g *generator) equalityKeys(u *tableUse) []keyRef {
	var keys []keyRef
	sel := map[string]float64{}
	for _, p := range u.preds {
		if (p.kind != predEq && p.kind != predIsNull) || !btreeable(p.key) {
			continue
		}
		s := g.selectivity(u.table, p)
		if p.kind == predIsNull && s > maxIsNullKeyShare {
			continue
		}
		id := p.key.id()
		if old, ok := sel[id]; ok {
			sel[id] = min(old, s)
			continue
		}
		sel[id] = s
		keys = append(keys, p.key)
	}
	g.sortBySelectivity(u.table, keys, sel)
	return keys
}

// maxIsNullKeyShare is the largest share of the rows an IS NULL key may
// keep (see equalityKeys).
const maxIsNullKeyShare = 0.5

// sortBySelectivity orders keys most selective first (stable: ties keep
// the query's order). sel gives a key's selectivity; missing keys use the
// column's number of distinct values.
func (g *generator) sortBySelectivity(t *collector.Table, keys []keyRef, sel map[string]float64) {
	of := func(k keyRef) float64 {
		if s, ok := sel[k.id()]; ok {
			return s
		}
		return g.selectivity(t, pred{kind: predEq, key: k})
	}
	slices.SortStableFunc(keys, func(a, b keyRef) int {
		sa, sb := of(a), of(b)
		switch {
		case sa < sb:
			return -1
		case sa > sb:
			return 1
		}
		return 0
	})
}

// selectivity estimates the fraction of rows a predicate keeps, from pg_stats.
func (g *generator) selectivity(t *collector.Table, p pred) float64 {
	var stats *collector.ColumnStats
	if p.key.Column != "" {
		if c := findColumn(t, p.key.Column); c != nil {
			stats = c.Stats
		}
	}
	if p.kind == predIsNull {
		if stats == nil {
			return 0.005 // the planner's default for IS NULL
		}
		return max(stats.NullFrac, 1e-6)
	}
	nd := float64(defaultNDistinct)
	switch {
	case isBoolean(p.key):
		nd = 2
	case stats != nil && stats.NDistinct > 0:
		nd = stats.NDistinct
	case stats != nil && stats.NDistinct < 0:
		nd = -stats.NDistinct * max(t.RelTuples, 1)
	}
	return min(float64(max(p.inList, 1))/max(nd, 1), 1)
}

// orderTail is the ORDER BY as index keys, without the keys fixed by an
// equality. A uniform direction with default NULLS placement becomes an
// ascending index (a backward scan gives the descending order); anything
// else keeps the query's directions.
func orderTail(order []orderKey, isEq func(keyRef) bool) []collector.IndexKey {
	var keys []orderKey
	for _, o := range order {
		if !isEq(o.key) && btreeable(o.key) {
			keys = append(keys, o)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	uniform := true
	for _, o := range keys {
		if o.desc != keys[0].desc || o.nullsFirst != o.desc {
			uniform = false
		}
	}
	out := make([]collector.IndexKey, len(keys))
	for i, o := range keys {
		out[i] = indexKey(o.key, "")
		if !uniform {
			out[i].Desc, out[i].NullsFirst = o.desc, o.nullsFirst
		}
	}
	return out
}

func describeOrder(order []orderKey, isEq func(keyRef) bool) string {
	var parts []string
	for _, o := range order {
		if isEq(o.key) {
			continue
		}
		s := o.key.sql()
		if o.desc {
			s += " desc"
		}
		if o.nullsFirst != o.desc {
			s += map[bool]string{true: " nulls first", false: " nulls last"}[o.nullsFirst]
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

// partialShapes are the btree shapes restricted by the statement's literal
// predicates (IS NULL, IS NOT NULL, boolean columns, constants left in the
// text). Equality keys the predicate pins are dropped from the keys.
func (g *generator) partialShapes(u *tableUse) []proposal {
	if len(u.partials) == 0 {
		return nil
	}
	var where []string
	fixed := map[string]bool{}
	for _, p := range u.partials {
		where = append(where, p.sql)
		for _, c := range p.cols {
			fixed[c] = true
		}
	}
	whereSQL := strings.Join(where, " AND ")
	why := "partial WHERE " + whereSQL
	out := g.btreeShapes(u, fixed)
	for i := range out {
		out[i].Where, out[i].Why = whereSQL, out[i].Why+"; "+why
	}
	if len(out) == 0 {
		// Only the predicate itself: index its first column, restricted.
		col := u.partials[0].cols[0]
		if c := findColumn(u.table, col); c != nil && btreeable(columnKey(c)) {
			out = append(out, proposal{
				Candidate: Candidate{Method: "btree", Keys: []collector.IndexKey{{Column: col}}, Where: whereSQL, Why: why},
				eqKeys:    1,
			})
		}
	}
	return out
}

// includeWidth is the summed average width of t's columns cols, in bytes
// (unbounded for a table the catalog does not have).
func includeWidth(t *collector.Table, cols []string) int {
	if t == nil {
		return math.MaxInt
	}
	width := 0
	for i := range t.Columns {
		if slices.Contains(cols, t.Columns[i].Name) {
			width += columnWidth(&t.Columns[i])
		}
	}
	return width
}

// inTableOrder sorts cols, columns of t, in t's column order: the same
// merged index then has the same INCLUDE list, and the same DDL and
// recommendation ID, whatever order the statements that asked for its
// parts were ranked in. Names t does not have go last.
func inTableOrder(t *collector.Table, cols []string) []string {
	pos := func(col string) int {
		if t != nil {
			if i := slices.IndexFunc(t.Columns, func(c collector.Column) bool { return c.Name == col }); i >= 0 {
				return i
			}
		}
		return math.MaxInt
	}
	out := slices.Clone(cols)
	slices.SortStableFunc(out, func(a, b string) int { return cmp.Compare(pos(a), pos(b)) })
	return out
}

// covering adds INCLUDE columns so that the statement can use an
// index-only scan, when the remaining columns it reads are few and narrow.
func (g *generator) covering(u *tableUse, p proposal) (proposal, bool) {
	if u.star || p.Method != "btree" {
		return p, false
	}
	inKeys := map[string]bool{}
	for _, k := range p.Keys {
		if k.Column != "" {
			inKeys[k.Column] = true
		}
	}
	fixed := map[string]bool{}
	if p.Where != "" {
		for _, pp := range u.partials {
			for _, c := range pp.cols {
				fixed[c] = true
			}
		}
	}
	var include []string
	for i := range u.table.Columns {
		c := &u.table.Columns[i]
		if !u.refs[c.Name] || inKeys[c.Name] || fixed[c.Name] {
			continue
		}
		include = append(include, c.Name)
	}
	if len(include) == 0 || len(include) > maxIncludeColumns || includeWidth(u.table, include) > maxIncludeWidth {
		return p, false
	}
	quoted := make([]string, len(include))
	for i, c := range include {
		quoted[i] = collector.QuoteIdent(c)
	}
	p.Include = include
	p.Keys = slices.Clone(p.Keys)
	p.Why += "; INCLUDE " + strings.Join(quoted, ", ") + " for an index-only scan"
	return p, true
}

// columnWidth is the column's average width from pg_stats, or a guess from its type.
func columnWidth(c *collector.Column) int {
	if c.Stats != nil && c.Stats.AvgWidth > 0 {
		return int(c.Stats.AvgWidth)
	}
	if w, ok := fixedTypeWidth(c.Type); ok {
		return w
	}
	return 32
}

// fixedTypeWidth is the size of every value of typ, for the fixed-width
// types whose names format_type gives without a type modifier.
func fixedTypeWidth(typ string) (int, bool) {
	switch typ {
	case "boolean", "\"char\"":
		return 1, true
	case "smallint":
		return 2, true
	case "integer", "date", "real", "oid":
		return 4, true
	case "bigint", "double precision", "timestamp without time zone", "timestamp with time zone", "time without time zone", "money":
		return 8, true
	case "uuid", "interval":
		return 16, true
	}
	return 0, false
}

// ginShapes are GIN candidates for jsonb containment and existence, array
// operators, full-text search and (with pg_trgm) LIKE with a leading
// wildcard or ILIKE.
func (g *generator) ginShapes(u *tableUse) []proposal {
	type ginKey struct {
		key keyRef
		ops []string
	}
	var keys []*ginKey
	for _, p := range u.preds {
		if p.kind != predGIN {
			continue
		}
		i := slices.IndexFunc(keys, func(k *ginKey) bool { return k.key.id() == p.key.id() })
		if i < 0 {
			keys = append(keys, &ginKey{key: p.key})
			i = len(keys) - 1
		}
		if !slices.Contains(keys[i].ops, p.op) {
			keys[i].ops = append(keys[i].ops, p.op)
		}
	}
	_, trgm := g.cat.Extensions["pg_trgm"]
	var out []proposal
	add := func(k keyRef, opclass, why string) {
		out = append(out, proposal{Candidate: Candidate{Method: "gin", Keys: []collector.IndexKey{indexKey(k, opclass)}, Why: why}})
	}
	for _, gk := range keys {
		k, ops := gk.key, gk.ops
		if slices.Contains(ops, "like") && trgm && (k.Column == "" || isTextType(k.Type)) {
			add(k, "gin_trgm_ops", "LIKE/ILIKE with a leading wildcard on "+k.sql()+" (pg_trgm)")
		}
		ops = slices.DeleteFunc(slices.Clone(ops), func(op string) bool { return op == "like" })
		if len(ops) == 0 {
			continue
		}
		opList := strings.Join(ops, ", ")
		switch {
		case k.Type == "jsonb":
			jsonbOps := slices.DeleteFunc(ops, func(op string) bool { return op == "<@" || op == "&&" })
			if len(jsonbOps) == 0 {
				continue
			}
			pathOnly := !slices.ContainsFunc(jsonbOps, func(op string) bool { return strings.HasPrefix(op, "?") })
			if pathOnly {
				add(k, "jsonb_path_ops", "jsonb containment ("+opList+") on "+k.sql())
			} else {
				add(k, "", "jsonb key existence ("+opList+") on "+k.sql())
			}
		case strings.HasSuffix(k.Type, "[]"):
			if !slices.ContainsFunc(ops, func(op string) bool { return strings.HasPrefix(op, "?") || op == "@@" }) {
				add(k, "", "array operators ("+opList+") on "+k.sql())
			}
		case slices.Equal(ops, []string{"@@"}) && (k.Type == "tsvector" || strings.HasPrefix(k.Expr, "to_tsvector(")):
			why := "full-text search (@@) on " + k.sql()
			if cfg := u.assumedTextSearchConfig; cfg != "" && strings.Contains(k.Expr, "to_tsvector(") {
				why += fmt.Sprintf(" (text search configuration %s assumed: it is the database default, and pg_stat_statements hides the one the query passes; the query must pass the same for the index to serve it)", cfg)
			}
			add(k, "", why)
		}
	}
	return out
}

func indexKey(k keyRef, opclass string) collector.IndexKey {
	return collector.IndexKey{Column: k.Column, Expression: k.Expr, OpClass: opclass}
}

// patternOpClass is the opclass that lets a btree serve LIKE 'abc%' under
// any collation. The catalog does not carry collations, so it is always used.
func patternOpClass(k keyRef) string {
	base, _, _ := strings.Cut(k.Type, "(")
	if base == "character" || base == "bpchar" {
		return "bpchar_pattern_ops"
	}
	return "text_pattern_ops"
}

// btreeable reports whether a btree can index the key's type.
func btreeable(k keyRef) bool {
	switch k.Type {
	case "json", "xml", "point", "line", "lseg", "box", "path", "polygon", "circle":
		return false
	}
	return true
}

// alreadyServed reports whether a valid existing index provides p. (A
// primary key is no exception: on (user_id, group_id) it does not serve
// group_id = $1 ORDER BY user_id.)
func (g *generator) alreadyServed(t *collector.Table, p proposal) bool {
	serves := func(ix *collector.Index) bool { return g.serves(ix, p) }
	return slices.ContainsFunc(g.indexes[t.QualifiedName()], serves) ||
		onEveryLeaf(t, g.tables.table, func(name string) []*collector.Index { return g.indexes[name] }, serves)
}

// serves reports whether ix provides everything p would: the same
// method; p's equality keys leading in any order, then p's other keys in
// order with the same or all-reversed directions (each with p's opclass
// and collation); p's INCLUDE columns; a predicate that is absent or the
// same as p's.
func (g *generator) serves(ix *collector.Index, p proposal) bool {
	if !ix.Valid || ix.Method != p.Method {
		return false
	}
	if ix.Predicate != "" && g.norm.norm(ix.Predicate) != g.norm.norm(p.Where) {
		return false
	}
	if !includesAll(ix, p.Include) {
		return false
	}
	if p.Method == "gin" {
		for _, k := range p.Keys {
			if !slices.ContainsFunc(ix.Keys, func(x collector.IndexKey) bool {
				return g.norm.keyID(x) == g.norm.keyID(k) && ginOpClassServes(x.OpClass, k.OpClass)
			}) {
				return false
			}
		}
		return true
	}
	return g.norm.keysLead(ix.Keys, p.Keys, p.eqKeys)
}

// keysLead reports whether index keys have, first, the first eq of keys
// in any order, then the rest of keys in order with the same or
// all-reversed directions (each with keys' opclass and collation).
func (n normalizer) keysLead(have, keys []collector.IndexKey, eq int) bool {
	if len(have) < len(keys) {
		return false
	}
	same := func(x, k collector.IndexKey) bool {
		return n.keyID(x) == n.keyID(k) && x.OpClass == k.OpClass && x.Collation == k.Collation
	}
	for _, k := range keys[:eq] {
		if !slices.ContainsFunc(have[:eq], func(x collector.IndexKey) bool { return same(x, k) }) {
			return false
		}
	}
	forward, backward := true, true
	for i := eq; i < len(keys); i++ {
		k, x := keys[i], have[i]
		if !same(x, k) {
			return false
		}
		forward = forward && x.Desc == k.Desc && x.NullsFirst == k.NullsFirst
		backward = backward && x.Desc != k.Desc && x.NullsFirst != k.NullsFirst
	}
	return forward || backward
}

// ginOpClassServes: a jsonb_ops index also serves containment queries a
// jsonb_path_ops candidate targets.
func ginOpClassServes(have, want string) bool {
	return have == want || (want == "jsonb_path_ops" && (have == "" || have == "jsonb_ops"))
}

func includesAll(ix *collector.Index, cols []string) bool {
	for _, c := range cols {
		if !slices.Contains(ix.Include, c) && !slices.ContainsFunc(ix.Keys, func(k collector.IndexKey) bool { return k.Column == c }) {
			return false
		}
	}
	return true
}

// planHints lists, per scanned relation, what the plan shows about it:
// sequential scans and the inner side of nested loops.
func planHints(plan *explain.Plan) map[string][]string {
	if plan == nil || plan.Root == nil {
		return nil
	}
	hints := map[string][]string{}
	addHint := func(rel, h string) {
		if !slices.Contains(hints[rel], h) {
			hints[rel] = append(hints[rel], h)
		}
	}
	plan.Walk(func(_ string, n *explain.Node) bool {
		if n.RelationName == "" {
			return true
		}
		rel := n.Schema + "." + n.RelationName
		if strings.Contains(n.NodeType, "Seq Scan") {
			addHint(rel, "seq scan")
		}
		for c, p := n, n.Parent(); p != nil; c, p = p, p.Parent() {
			if p.NodeType == "Nested Loop" {
				if c.ParentRelationship == "Inner" {
					addHint(rel, "inner side of a nested loop")
				}
				break
			}
		}
		return true
	})
	return hints
}

// tableHints finds t's hints, or its partitions' (plans scan partitions);
// plans without VERBOSE do not name schemas.
func (g *generator) tableHints(hints map[string][]string, t *collector.Table) []string {
	if len(hints) == 0 {
		return nil
	}
	var out []string
	add := func(t *collector.Table) {
		h, ok := hints[t.Schema+"."+t.Name]
		if !ok {
			h = hints["."+t.Name]
		}
		for _, x := range h {
			if !slices.Contains(out, x) {
				out = append(out, x)
			}
		}
	}
	add(t)
	for _, name := range t.Partitions {
		if p := g.tables.byQualName[name]; p != nil {
			add(p)
		}
	}
	return out
}
