package advisor

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"unicode/utf8"

	pg "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// This file reads a statement's parse tree and records, for every table
// occurrence, what the statement asks of it: the predicates an index could
// serve, join keys, ORDER BY, GROUP BY and the columns it reads.

// keyRef is a column or an expression over one table's columns.
type keyRef struct {
	Column string   // plain column; "" for an expression
	Expr   string   // deparsed expression with unqualified columns
	Cols   []string // columns the key reads
	Type   string   // column type; "" for an expression
}

func columnKey(c *collector.Column) keyRef {
	return keyRef{Column: c.Name, Cols: []string{c.Name}, Type: c.Type}
}

// sql is the key as it appears in an index definition or a predicate.
func (k keyRef) sql() string {
	if k.Column != "" {
		return collector.QuoteIdent(k.Column)
	}
	return k.Expr
}

// id identifies the key for comparisons.
func (k keyRef) id() string {
	if k.Column != "" {
		return "c:" + k.Column
	}
	return "e:" + k.Expr
}

type predKind int

const (
	predEq     predKind = iota // =, IN, = ANY
	predIsNull                 // IS NULL: an equality for a btree
	predRange                  // <, >, <=, >=, BETWEEN
	predPrefix                 // LIKE 'abc%' or LIKE $n: a range with a pattern opclass
	predGIN                    // jsonb, array, full-text and trigram operators
)

// pred is one indexable conjunct of a WHERE or JOIN ... ON clause.
type pred struct {
	kind   predKind
	key    keyRef
	op     string // for predGIN: the operator ("@>", "?", "&&", "@@", "like")
	inList int    // number of IN-list values; 0 for a single value
}

// partialPred is a conjunct that survives normalization and can be the
// WHERE of a partial index.
type partialPred struct {
	sql  string
	cols []string
}

type orderKey struct {
	key        keyRef
	desc       bool
	nullsFirst bool
}

// tableUse is one occurrence of a table in a statement.
type tableUse struct {
	table    *collector.Table
	preds    []pred
	partials []partialPred
	joins    []keyRef // columns equated to another table's columns
	order    []orderKey
	limit    bool // the ORDER BY has a LIMIT
	group    []keyRef
	// ors are the ORs over this use alone whose every arm has indexable
	// conditions: per OR, per arm, the arm's conditions (orArms).
	ors  [][][]pred
	refs map[string]bool // every column the statement reads
	star bool            // SELECT * or t.*
	// assumedTextSearchConfig is the configuration put in place of a
	// to_tsvector parameter, "" when none was (assumeTextSearchConfig).
	assumedTextSearchConfig string
}

func (u *tableUse) addPred(p pred) { u.preds = append(u.preds, p) }

func (u *tableUse) addPartial(sql string, cols []string) {
	for _, p := range u.partials {
		if p.sql == sql {
			return
		}
	}
	u.partials = append(u.partials, partialPred{sql: sql, cols: cols})
}

func (u *tableUse) addJoin(k keyRef) {
	for _, j := range u.joins {
		if j.id() == k.id() {
			return
		}
	}
	u.joins = append(u.joins, k)
}

// output is one column a derived relation (subquery, CTE) produces, and
// the base-table key it passes through, when it is one.
type output struct {
	name string
	use  *tableUse // nil when not a plain pass-through of one table's key
	key  keyRef
	// shifted: it comes at or after a (x).* that expands to an unknown
	// number of columns, so its position is unknown.
	shifted bool
}

// rangeItem is one entry of a FROM list.
type rangeItem struct {
	name    string    // alias, or the relation's name
	use     *tableUse // base table; nil for a derived or unknown relation
	derived bool
	outputs []output // for a derived relation
}

type scope struct {
	outer   *scope // the enclosing query level: correlated references
	ctes    *cteScope
	items   []*rangeItem
	targets []*pg.ResTarget
	unknown bool // holds a relation the catalog does not know
}

type cteScope struct {
	parent *cteScope
	defs   map[string][]output
}

func (c *cteScope) lookup(name string) ([]output, bool) {
	for ; c != nil; c = c.parent {
		if o, ok := c.defs[name]; ok {
			return o, true
		}
	}
	return nil, false
}

// analyzer walks one statement.
type analyzer struct {
	tables *tableLookup
	uses   []*tableUse
	// views is how deep in views over views the walk is.
	views int
	// incomplete: some column the statement reads may be in no use's
	// refs (a reference not resolved to a table, a NATURAL join, a view
	// or function in FROM).
	incomplete bool
}

// tableLookup resolves relation names through the catalog and search_path.
type tableLookup struct {
	byName     map[[2]string]*collector.Table
	byQualName map[string]*collector.Table
	views      map[[2]string]collector.View
	searchPath []string
	// textSearchConfig is default_text_search_config, assumed where
	// pg_stat_statements has hidden the configuration a query passes.
	textSearchConfig string
}

func newTableLookup(cat *collector.Catalog) *tableLookup {
	tl := &tableLookup{
		byName:     map[[2]string]*collector.Table{},
		byQualName: map[string]*collector.Table{},
		searchPath: parseSearchPath(cat.Settings.SearchPath),
		// pg_get_indexdef prints pg_catalog's configurations unqualified.
		textSearchConfig: strings.TrimPrefix(cat.Settings.TextSearchConfig, "pg_catalog."),
	}
	for i := range cat.Tables {
		t := &cat.Tables[i]
		tl.byName[[2]string{t.Schema, t.Name}] = t
		tl.byQualName[t.QualifiedName()] = t
	}
	tl.views = make(map[[2]string]collector.View, len(cat.Views))
	for _, v := range cat.Views {
		tl.views[[2]string{v.Schema, v.Name}] = v
	}
	return tl
}

// view is the view schema.name would name (on the search_path when
// schema is ""), where no table of that name comes first.
func (tl *tableLookup) view(schema, name string) (collector.View, bool) {
	if schema != "" {
		v, ok := tl.views[[2]string{schema, name}]
		return v, ok
	}
	for _, s := range tl.searchPath {
		if tl.byName[[2]string{s, name}] != nil {
			return collector.View{}, false
		}
		if v, ok := tl.views[[2]string{s, name}]; ok {
			return v, true
		}
	}
	return collector.View{}, false
}

// table is the catalog's table by qualified name, nil when unknown.
func (tl *tableLookup) table(qualified string) *collector.Table { return tl.byQualName[qualified] }

func (tl *tableLookup) find(schema, name string) *collector.Table {
	if schema != "" {
		return tl.byName[[2]string{schema, name}]
	}
	for _, s := range tl.searchPath {
		if t := tl.byName[[2]string{s, name}]; t != nil {
			return t
		}
	}
	return nil
}

// parseSearchPath splits a search_path setting as SHOW prints it. "$user"
// is dropped: the catalog does not say which role the application uses.
func parseSearchPath(s string) []string {
	if strings.TrimSpace(s) == "" {
		return []string{"public"}
	}
	var out []string
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if len(part) >= 2 && part[0] == '"' && part[len(part)-1] == '"' {
			part = strings.ReplaceAll(part[1:len(part)-1], `""`, `"`)
		} else {
			part = strings.ToLower(part)
		}
		if part == "" || part == "$user" {
			continue
		}
		out = append(out, part)
	}
	return out
}

// analyzeQuery parses query and analyzes every statement in it.
func analyzeQuery(query string, tables *tableLookup) ([]*tableUse, error) {
	a, err := analyze(query, tables)
	if err != nil {
		return nil, err
	}
	return a.uses, nil
}

func analyze(query string, tables *tableLookup) (*analyzer, error) {
	if i := strings.IndexByte(query, 0); i >= 0 {
		return nil, fmt.Errorf("parse query: NUL byte at offset %d", i)
	}
	if !utf8.ValidString(query) {
		return nil, fmt.Errorf("parse query: invalid UTF-8")
	}
	tree, err := pg.Parse(query)
	if err != nil {
		return nil, fmt.Errorf("parse query: %w", err)
	}
	a := &analyzer{tables: tables}
	for _, raw := range tree.Stmts {
		assumed := assumeTextSearchConfig(raw.Stmt, tables.textSearchConfig)
		first := len(a.uses)
		a.statement(raw.Stmt, nil)
		for _, u := range a.uses[first:] {
			u.assumedTextSearchConfig = assumed
		}
	}
	return a, nil
}

// assumeTextSearchConfig replaces a parameter passed as to_tsvector's
// configuration with cfg, and returns cfg when it did ("" when not). pg_stat_statements
// turns to_tsvector('english', body) into to_tsvector($1, body), and an
// expression index needs the constant: the database default is the best
// guess, and the recommendation says it is one.
func assumeTextSearchConfig(stmt *pg.Node, cfg string) string {
	if cfg == "" {
		return ""
	}
	assumed := ""
	sqltree.WalkNodes(stmt, func(x *pg.Node) bool {
		if fc := x.GetFuncCall(); fc != nil && lastName(fc.Funcname) == "to_tsvector" && len(fc.Args) == 2 && fc.Args[0].GetParamRef() != nil {
			fc.Args[0] = &pg.Node{Node: &pg.Node_TypeCast{TypeCast: &pg.TypeCast{
				Arg:      pg.MakeAConstStrNode(cfg, -1),
				TypeName: &pg.TypeName{Names: []*pg.Node{pg.MakeStrNode("regconfig")}, Location: -1},
				Location: -1,
			}}}
			assumed = cfg
		}
		return true
	})
	return assumed
}

// ReferencedTables lists the qualified tables query reads or writes, in
// order of first appearance; a partition named directly is followed by its
// partitioned parent, where candidates for it go. Relations the catalog
// does not know (views, functions, other databases' tables) are left out.
func ReferencedTables(query string, cat *collector.Catalog) ([]string, error) {
	r, err := References(query, cat)
	return r.Tables, err
}

// StatementRefs are the tables a statement reads or writes, and the
// columns it reads of each.
type StatementRefs struct {
	Tables []string // as ReferencedTables
	// Columns are the columns it reads of each table of Tables, by name;
	// nil when some reference could not be told apart (see mayUse).
	Columns map[string][]string
}

// References analyzes query once for ReferencedTables and the columns it reads.
func References(query string, cat *collector.Catalog) (StatementRefs, error) {
	if cat == nil {
		return StatementRefs{}, fmt.Errorf("referenced tables: no catalog")
	}
	tables := newTableLookup(cat)
	a, err := analyze(query, tables)
	if err != nil {
		return StatementRefs{}, err
	}
	r := StatementRefs{Tables: tables.referenced(a.uses)}
	if a.incomplete {
		return r, nil
	}
	r.Columns = map[string][]string{}
	var anyIndex []string // tables an occurrence of which reads no column: count(*) can use any index
	for _, u := range a.uses {
		read := slices.Sorted(maps.Keys(u.refs))
		if u.star { // SELECT *, t.*: every column
			read = nil
			for _, c := range u.table.Columns {
				read = append(read, c.Name)
			}
		}
		for _, name := range []string{u.table.QualifiedName(), u.table.Parent} {
			if name == "" {
				continue
			}
			r.Columns[name] = appendMissing(r.Columns[name], read)
			if len(read) == 0 {
				anyIndex = append(anyIndex, name)
			}
		}
	}
	for _, name := range anyIndex {
		r.Columns[name] = nil
	}
	return r, nil
}

func (tl *tableLookup) referenced(uses []*tableUse) []string {
	var out []string
	for _, u := range uses {
		for _, name := range []string{u.table.QualifiedName(), u.table.Parent} {
			if tl.byQualName[name] != nil && !slices.Contains(out, name) {
				out = append(out, name)
			}
		}
	}
	return out
}

func (a *analyzer) newUse(t *collector.Table) *tableUse {
	u := &tableUse{table: t, refs: map[string]bool{}}
	a.uses = append(a.uses, u)
	return u
}

func (a *analyzer) statement(n *pg.Node, ctes *cteScope) []output {
	switch {
	case n.GetSelectStmt() != nil:
		return a.selectStmt(n.GetSelectStmt(), nil, ctes)
	case n.GetInsertStmt() != nil:
		s := n.GetInsertStmt()
		ctes = a.withClause(s.WithClause, nil, ctes)
		sc := &scope{ctes: ctes}
		a.addRelation(sc, s.Relation)
		for _, c := range s.Cols {
			a.walkRefs(&scope{ctes: ctes}, c) // subscripts (a[(SELECT ...)]), which cannot see the target
		}
		if s.SelectStmt != nil {
			a.statement(s.SelectStmt, ctes)
		}
		a.onConflict(sc, s.OnConflictClause)
		return a.returning(sc, s.ReturningList)
	case n.GetUpdateStmt() != nil:
		s := n.GetUpdateStmt()
		sc := a.modified(s.WithClause, s.Relation, s.FromClause, s.WhereClause, ctes)
		for _, t := range s.TargetList {
			a.walkRefs(sc, t) // the value and the subscripts of SET a[i] = v
		}
		return a.returning(sc, s.ReturningList)
	case n.GetDeleteStmt() != nil:
		s := n.GetDeleteStmt()
		sc := a.modified(s.WithClause, s.Relation, s.UsingClause, s.WhereClause, ctes)
		return a.returning(sc, s.ReturningList)
	case n.GetMergeStmt() != nil:
		// The source joins the target ON the condition, as an UPDATE's FROM
		// does by its WHERE: the target rows it matches are the ones changed.
		s := n.GetMergeStmt()
		sc := a.modified(s.WithClause, s.Relation, []*pg.Node{s.SourceRelation}, nil, ctes)
		on := joinCond{cond: s.JoinCondition}
		if slices.ContainsFunc(s.MergeWhenClauses, func(w *pg.Node) bool { return !w.GetMergeWhenClause().GetMatched() }) {
			on.preserved, on.nullable = sc.items[1:], sc.items[:1] // its unmatched rows are inserted
		}
		a.onClauses(sc, []joinCond{on})
		// A WHEN NOT MATCHED action has no target row: a name there is the
		// source's (modified added the target first).
		source := &scope{outer: sc.outer, ctes: sc.ctes, items: sc.items[1:], unknown: sc.unknown}
		for _, w := range s.MergeWhenClauses {
			c, in := w.GetMergeWhenClause(), sc
			if !c.GetMatched() {
				in = source
			}
			a.walkRefs(in, c.GetCondition())
			for _, t := range c.GetTargetList() {
				a.walkRefs(in, t)
			}
			for _, v := range c.GetValues() {
				a.walkRefs(in, v)
			}
		}
		return nil
	case n.GetExplainStmt() != nil:
		return a.statement(n.GetExplainStmt().Query, ctes)
	}
	return nil
}

// onConflict walks INSERT ... ON CONFLICT: the arbiter's columns and
// predicate, of the target table, and DO UPDATE's values and condition,
// which also see EXCLUDED, the row proposed for insertion (the target's
// columns, but read from no table). None of it is a predicate: the
// conflicting row is found through the arbiter, an existing unique index
// no candidate replaces, so the columns ON CONSTRAINT leaves unnamed do
// not matter either.
func (a *analyzer) onConflict(sc *scope, oc *pg.OnConflictClause) {
	if oc == nil {
		return
	}
	for _, e := range oc.GetInfer().GetIndexElems() {
		if name := e.GetIndexElem().GetName(); name != "" {
			a.walkRefs(sc, pg.MakeColumnRefNode([]*pg.Node{pg.MakeStrNode(name)}, -1))
		}
		a.walkRefs(sc, e) // an expression: lower(email)
	}
	a.walkRefs(sc, oc.GetInfer().GetWhereClause())
	all, _ := sc.starOutputs(nil)
	excluded := &rangeItem{name: "excluded", derived: true, outputs: opaque(all)}
	update := &scope{ctes: sc.ctes, items: append(slices.Clone(sc.items), excluded), unknown: sc.unknown}
	for _, t := range oc.TargetList {
		a.walkRefs(update, t)
	}
	a.walkRefs(update, oc.WhereClause)
}

// modified is the scope of an UPDATE, DELETE or MERGE: its WITH clause,
// the table it changes and the others it reads (FROM, USING, a MERGE's
// source), with the WHERE (or ON) clause's predicates recorded.
func (a *analyzer) modified(with *pg.WithClause, target *pg.RangeVar, from []*pg.Node, where *pg.Node, ctes *cteScope) *scope {
	sc := &scope{ctes: a.withClause(with, nil, ctes)}
	a.addRelation(sc, target)
	ons := a.fromList(sc, from)
	a.conjuncts(sc, where)
	a.onClauses(sc, ons)
	return sc
}

func (a *analyzer) returning(sc *scope, list []*pg.Node) []output {
	for _, t := range list {
		a.walkRefs(sc, t.GetResTarget().GetVal())
	}
	sc.targets = resTargets(list)
	return a.outputs(sc)
}

func (a *analyzer) withClause(w *pg.WithClause, outer *scope, parent *cteScope) *cteScope {
	if w == nil {
		return parent
	}
	cs := &cteScope{parent: parent, defs: map[string][]output{}}
	for _, n := range w.Ctes {
		cte := n.GetCommonTableExpr()
		if cte == nil {
			continue
		}
		if w.Recursive {
			cs.defs[cte.Ctename] = nil // the recursive term sees an opaque relation
		}
		var outs []output
		if sel := cte.Ctequery.GetSelectStmt(); sel != nil {
			outs = a.selectStmt(sel, outer, cs)
			if cte.Ctematerialized == pg.CTEMaterialize_CTEMaterializeAlways {
				outs = opaque(outs) // outer predicates are not pushed into it
			}
		} else {
			// INSERT/UPDATE/DELETE ... RETURNING: always materialized.
			outs = opaque(a.statement(cte.Ctequery, cs))
		}
		cs.defs[cte.Ctename] = renameOutputs(outs, cte.Aliascolnames)
	}
	return cs
}

// opaque keeps the names of outs but forgets the tables behind them.
func opaque(outs []output) []output {
	out := make([]output, len(outs))
	for i, o := range outs {
		out[i] = output{name: o.name, shifted: o.shifted}
	}
	return out
}

func renameOutputs(outs []output, names []*pg.Node) []output {
	if len(names) == 0 {
		return outs
	}
	outs = slices.Clone(outs)
	for i, n := range names {
		if i < len(outs) {
			if outs[i].shifted {
				outs[i] = output{shifted: true} // the name may be another column's
			}
			outs[i].name = n.GetString_().GetSval()
		}
	}
	return outs
}

// selectStmt analyzes one query level and returns its output columns.
func (a *analyzer) selectStmt(sel *pg.SelectStmt, outer *scope, ctes *cteScope) []output {
	if sel == nil {
		return nil
	}
	ctes = a.withClause(sel.WithClause, outer, ctes)
	if sel.Larg != nil || sel.Rarg != nil {
		left := a.selectStmt(sel.Larg, outer, ctes)
		a.selectStmt(sel.Rarg, outer, ctes)
		// Its ORDER BY can only name output columns; LIMIT sees no column of this level.
		a.limit(&scope{outer: outer, ctes: ctes}, sel)
		return opaque(left) // a set operation's columns come from several tables
	}
	sc := &scope{outer: outer, ctes: ctes, targets: resTargets(sel.TargetList)}
	if len(sel.ValuesLists) > 0 {
		for _, v := range sel.ValuesLists {
			a.walkRefs(sc, v)
		}
		var outs []output
		if first := sel.ValuesLists[0].GetList(); first != nil {
			for i := range first.Items {
				outs = append(outs, output{name: fmt.Sprintf("column%d", i+1)})
			}
		}
		// Its ORDER BY sees its columns (column1, ...).
		sc.items = append(sc.items, &rangeItem{name: "*VALUES*", derived: true, outputs: outs})
		a.orderBy(sc, sel.SortClause, false)
		a.limit(sc, sel)
		return outs
	}
	ons := a.fromList(sc, sel.FromClause)
	a.conjuncts(sc, sel.WhereClause)
	a.onClauses(sc, ons)
	for _, t := range sc.targets {
		a.walkRefs(sc, t.Val)
	}
	for _, n := range sel.DistinctClause {
		a.sortItem(sc, n, false) // DISTINCT ON: as ORDER BY
	}
	a.groupBy(sc, sel.GroupClause)
	a.walkRefs(sc, sel.HavingClause)
	for _, w := range sel.WindowClause {
		a.walkRefs(sc, w)
	}
	a.orderBy(sc, sel.SortClause, sel.LimitCount != nil)
	a.limit(sc, sel)
	return a.outputs(sc)
}

// limit walks LIMIT and OFFSET: a subquery there reads tables too.
// PostgreSQL refuses a column of the query level itself in them.
func (a *analyzer) limit(sc *scope, sel *pg.SelectStmt) {
	a.walkRefs(sc, sel.LimitCount)
	a.walkRefs(sc, sel.LimitOffset)
}

func resTargets(list []*pg.Node) []*pg.ResTarget {
	var out []*pg.ResTarget
	for _, n := range list {
		if t := n.GetResTarget(); t != nil {
			out = append(out, t)
		}
	}
	return out
}

// joinCond is the condition of a JOIN ... ON, or of a MERGE.
type joinCond struct {
	cond *pg.Node
	// preserved are the items whose rows the join keeps whether the
	// condition holds or not: the left side of a LEFT JOIN, both of a FULL
	// JOIN, a MERGE's source when it has WHEN NOT MATCHED.
	preserved []*rangeItem
	// nullable are those of the other side, whose rows it does filter.
	nullable []*rangeItem
}

// fromList adds the FROM items to sc and returns their ON clauses, to be
// classified once every item is known.
func (a *analyzer) fromList(sc *scope, from []*pg.Node) []joinCond {
	var ons []joinCond
	for _, n := range from {
		a.fromItem(sc, n, &ons)
	}
	return ons
}

// onClauses classifies the ON conditions like a WHERE clause's, except
// that a condition on a preserved side alone filters none of its rows: no
// index on that side serves it, so it records no predicate there. Its
// columns are still read, and its join keys still join.
func (a *analyzer) onClauses(sc *scope, ons []joinCond) {
	for _, on := range ons {
		// A table use behind both sides (a WITH query read on each) keeps
		// what the condition records.
		filtered := usesOf(on.nullable)
		uses := slices.DeleteFunc(usesOf(on.preserved), func(u *tableUse) bool { return slices.Contains(filtered, u) })
		preds, partials := make([]int, len(uses)), make([]int, len(uses))
		for i, u := range uses {
			preds[i], partials[i] = len(u.preds), len(u.partials)
		}
		a.conjuncts(sc, on.cond)
		for i, u := range uses {
			u.preds, u.partials = u.preds[:preds[i]], u.partials[:partials[i]]
		}
	}
}

// usesOf are the table uses behind items: their own, or those their
// outputs pass through.
func usesOf(items []*rangeItem) []*tableUse {
	var uses []*tableUse
	add := func(u *tableUse) {
		if u != nil && !slices.Contains(uses, u) {
			uses = append(uses, u)
		}
	}
	for _, it := range items {
		add(it.use)
		for _, o := range it.outputs {
			add(o.use)
		}
	}
	return uses
}

func (a *analyzer) fromItem(sc *scope, n *pg.Node, ons *[]joinCond) {
	switch {
	case n.GetRangeVar() != nil:
		a.addRangeVar(sc, n.GetRangeVar())
	case n.GetJoinExpr() != nil:
		j := n.GetJoinExpr()
		before := len(sc.items)
		a.fromItem(sc, j.Larg, ons)
		mid := len(sc.items)
		a.fromItem(sc, j.Rarg, ons)
		if j.Quals != nil {
			left, right := slices.Clone(sc.items[before:mid]), slices.Clone(sc.items[mid:])
			on := joinCond{cond: j.Quals}
			switch j.Jointype {
			case pg.JoinType_JOIN_LEFT:
				on.preserved, on.nullable = left, right
			case pg.JoinType_JOIN_RIGHT:
				on.preserved, on.nullable = right, left
			case pg.JoinType_JOIN_FULL:
				on.preserved = append(left, right...)
			}
			*ons = append(*ons, on)
		}
		for _, c := range j.UsingClause {
			a.usingColumn(c.GetString_().GetSval(), sc.items[before:mid], sc.items[mid:])
		}
		a.incomplete = a.incomplete || j.IsNatural // it compares the columns the two sides share, unnamed
	case n.GetRangeSubselect() != nil:
		rs := n.GetRangeSubselect()
		outer := sc.outer
		if rs.Lateral {
			outer = sc
		}
		outs := a.selectStmt(rs.Subquery.GetSelectStmt(), outer, sc.ctes)
		item := &rangeItem{derived: true}
		if rs.Alias != nil {
			item.name = rs.Alias.Aliasname
			outs = renameOutputs(outs, rs.Alias.Colnames)
		}
		item.outputs = outs
		sc.items = append(sc.items, item)
	case n.GetRangeTableSample() != nil:
		ts := n.GetRangeTableSample()
		a.fromItem(sc, ts.Relation, ons)
		for _, arg := range ts.Args {
			a.walkRefs(sc, arg) // a subquery may give the percentage
		}
		a.walkRefs(sc, ts.Repeatable)
	default:
		// Functions, XMLTABLE and the like: a relation we cannot see into.
		item := &rangeItem{derived: true}
		if rf := n.GetRangeFunction(); rf != nil && rf.Alias != nil {
			item.name = rf.Alias.Aliasname
		}
		sc.items = append(sc.items, item)
		sc.unknown, a.incomplete = true, true // an SQL function can read tables' columns unseen
		a.walkRefs(sc, n)
	}
}

func (a *analyzer) addRangeVar(sc *scope, rv *pg.RangeVar) {
	if rv == nil {
		return
	}
	if rv.Schemaname == "" {
		if outs, ok := sc.ctes.lookup(rv.Relname); ok {
			name := rv.Relname
			if rv.Alias != nil {
				name, outs = rv.Alias.Aliasname, renameOutputs(outs, rv.Alias.Colnames)
			}
			sc.items = append(sc.items, &rangeItem{name: name, derived: true, outputs: outs})
			return
		}
	}
	if a.addView(sc, rv) {
		return
	}
	a.addRelation(sc, rv)
}

// maxViewDepth bounds the views over views a statement is followed into.
const maxViewDepth = 8

// addView adds rv when it names a view: the query it stands for, as a
// subquery in FROM, so that the statement's conditions on its columns
// reach its tables. It reports whether rv is a view.
func (a *analyzer) addView(sc *scope, rv *pg.RangeVar) bool {
	view, ok := a.tables.view(rv.Schemaname, rv.Relname)
	if !ok {
		return false
	}
	item := &rangeItem{name: rv.Relname, derived: true}
	if rv.Alias != nil {
		item.name = rv.Alias.Aliasname
	}
	sc.items = append(sc.items, item)
	tree, err := pg.Parse(view.Definition)
	if err != nil || len(tree.Stmts) != 1 || tree.Stmts[0].Stmt.GetSelectStmt() == nil || a.views >= maxViewDepth {
		sc.unknown, a.incomplete = true, true // its columns stay unresolved, and it reads tables' columns unseen
		return true
	}
	a.views++
	item.outputs = a.selectStmt(tree.Stmts[0].Stmt.GetSelectStmt(), nil, nil)
	a.views--
	if rv.Alias != nil {
		item.outputs = renameOutputs(item.outputs, rv.Alias.Colnames)
	}
	return true
}

// addRelation adds rv as a relation of the catalog, never a WITH query:
// the target of an INSERT, UPDATE or DELETE is a table even where a WITH
// query of the statement has its name.
func (a *analyzer) addRelation(sc *scope, rv *pg.RangeVar) {
	if rv == nil {
		return
	}
	name := rv.Relname
	if rv.Alias != nil {
		name = rv.Alias.Aliasname
	}
	t := a.tables.find(rv.Schemaname, rv.Relname)
	if t == nil {
		// A view, a foreign or unknown relation: its columns stay
		// unresolved, and a view reads tables' columns unseen.
		sc.items = append(sc.items, &rangeItem{name: name, derived: true})
		sc.unknown, a.incomplete = true, true
		return
	}
	sc.items = append(sc.items, &rangeItem{name: name, use: a.newUse(t)})
}

// usingColumn records JOIN ... USING (col) as a join key on both sides.
func (a *analyzer) usingColumn(col string, left, right []*rangeItem) {
	lu, lk, lok := findInItems(left, col)
	ru, rk, rok := findInItems(right, col)
	if lok && rok && lu != nil && ru != nil && lu != ru {
		lu.addJoin(lk)
		ru.addJoin(rk)
	}
	// Read on both sides, whatever the other one is (unnest, a CTE).
	for _, side := range []struct {
		u *tableUse
		k keyRef
	}{{lu, lk}, {ru, rk}} {
		if side.u != nil {
			for _, c := range side.k.Cols {
				side.u.refs[c] = true
			}
		}
	}
	a.incomplete = a.incomplete || !lok || !rok
}

func findInItems(items []*rangeItem, col string) (*tableUse, keyRef, bool) {
	for _, it := range items {
		if u, k, ok := it.column(col); ok {
			return u, k, true
		}
	}
	return nil, keyRef{}, false
}

// column finds col in the item: ok reports that the item has it; u is nil
// when it is not a base-table key.
func (it *rangeItem) column(col string) (*tableUse, keyRef, bool) {
	if it.use != nil {
		if c := findColumn(it.use.table, col); c != nil {
			return it.use, columnKey(c), true
		}
		return nil, keyRef{}, false
	}
	for _, o := range it.outputs {
		if o.name == col {
			return o.use, o.key, true
		}
	}
	return nil, keyRef{}, false
}

func findColumn(t *collector.Table, name string) *collector.Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// colRes is a resolved column reference.
type colRes struct {
	found bool      // the name is a column of some relation in reach
	local bool      // it belongs to the current query level
	use   *tableUse // the base table, nil when not a plain table column
	key   keyRef
	item  *rangeItem // the FROM item it was found in
}

func columnRefFields(cr *pg.ColumnRef) (names []string, star bool) {
	for _, f := range cr.GetFields() { // nil-safe
		switch {
		case f.GetString_() != nil:
			names = append(names, f.GetString_().GetSval())
		case f.GetAStar() != nil:
			star = true
		}
	}
	return names, star
}

// resolve finds the relation a column reference belongs to, looking in
// the current query level and then in the enclosing ones.
func (sc *scope) resolve(names []string) colRes {
	if len(names) == 0 {
		return colRes{}
	}
	col := names[len(names)-1]
	qual := names[:len(names)-1]
	if len(qual) > 2 { // catalog.schema.table
		qual = qual[len(qual)-2:]
	}
	for s, local := sc, true; s != nil; s, local = s.outer, false {
		for _, it := range s.items {
			if !it.matches(qual) {
				continue
			}
			if u, k, ok := it.column(col); ok {
				return colRes{found: true, local: local, use: u, key: k, item: it}
			}
			if len(qual) > 0 && it.derived {
				// A qualified reference to an opaque relation: found, unusable.
				return colRes{found: true, local: local}
			}
		}
		if s.unknown && len(qual) == 0 {
			return colRes{} // it may belong to the relation we cannot see
		}
	}
	return colRes{}
}

func (it *rangeItem) matches(qual []string) bool {
	switch len(qual) {
	case 0:
		return true
	case 1:
		return it.name == qual[0]
	default:
		return it.use != nil && it.name == it.use.table.Name &&
			it.use.table.Schema == qual[0] && it.use.table.Name == qual[1]
	}
}

// opaqueColumn reports whether n is a column of a relation of this level
// that is not a base table: a materialized CTE, a function, a view.
func (sc *scope) opaqueColumn(n *pg.Node) bool {
	cr := n.GetColumnRef()
	if cr == nil {
		return false
	}
	names, star := columnRefFields(cr)
	r := sc.resolve(names)
	return !star && r.found && r.local && r.use == nil
}

// walkRefs records the columns n reads and analyzes its subqueries.
func (a *analyzer) walkRefs(sc *scope, n *pg.Node) {
	if n == nil {
		return
	}
	sqltree.WalkNodes(n, func(x *pg.Node) bool {
		switch {
		case x.GetColumnRef() != nil:
			a.reference(sc, x.GetColumnRef())
			return false
		case x.GetSubLink() != nil:
			sl := x.GetSubLink()
			a.walkRefs(sc, sl.Testexpr)
			a.selectStmt(sl.Subselect.GetSelectStmt(), sc, sc.ctes)
			return false
		}
		return true
	})
}

func (a *analyzer) reference(sc *scope, cr *pg.ColumnRef) {
	names, star := columnRefFields(cr)
	if !star {
		r := sc.resolve(names)
		if r.use != nil {
			for _, c := range r.key.Cols {
				r.use.refs[c] = true
			}
		}
		if !r.found && sc.wholeRow(names) {
			star = true // to_jsonb(o), (o).*: every column of o
		} else {
			a.incomplete = a.incomplete || !r.found
			return
		}
	}
	matched := false
	for _, it := range sc.items {
		if len(names) > 0 && it.name != names[len(names)-1] {
			continue
		}
		matched = true
		if it.use != nil {
			it.use.star = true
		}
		for _, o := range it.outputs {
			if o.use != nil {
				for _, c := range o.key.Cols {
					o.use.refs[c] = true
				}
			}
		}
	}
	a.incomplete = a.incomplete || !matched // o.* of an enclosing level
}

// outputs lists the columns a query level produces.
func (a *analyzer) outputs(sc *scope) []output {
	var outs []output
	shifted := false // past a * of unknown width
	for _, t := range sc.targets {
		names, star := columnRefFields(t.Val.GetColumnRef())
		if !star {
			names, star = sc.expandedRow(t)
		}
		if star {
			more, whole := sc.starOutputs(names)
			for i := range more {
				more[i].shifted = more[i].shifted || shifted
			}
			outs, shifted = append(outs, more...), shifted || !whole
			continue
		}
		shifted = shifted || isStar(t) // (x).* of a row value: as many columns as its type has
		o := output{name: cmp.Or(sqltree.OutputName(t), "?column?"), shifted: shifted}
		if u, k, ok := a.exprKey(sc, t.Val); ok {
			o.use, o.key = u, k
		}
		outs = append(outs, o)
	}
	return outs
}

// wholeRow reports whether names, a reference no column answers, is a
// table of this level alone: PostgreSQL takes it for that table's whole
// row. Only where this level reads catalog tables alone and no enclosing
// level holds a relation whose columns are unknown (a view, a function, a
// recursive WITH query's own name): the name may be one of those columns.
func (sc *scope) wholeRow(names []string) bool {
	if len(names) != 1 || sc.resolve(names).found || slices.ContainsFunc(sc.items, func(it *rangeItem) bool { return it.use == nil }) {
		return false
	}
	for s := sc; s != nil; s = s.outer {
		if s.unknown || slices.ContainsFunc(s.items, func(it *rangeItem) bool { return it.use == nil && it.outputs == nil }) {
			return false
		}
	}
	return slices.ContainsFunc(sc.items, func(it *rangeItem) bool { return it.name == names[0] })
}

// expandedRow is the name of the relation whose whole row a select-list
// entry (o).* expands, and whether it is such an entry.
func (sc *scope) expandedRow(t *pg.ResTarget) ([]string, bool) {
	ind := t.Val.GetAIndirection()
	if ind == nil || len(ind.Indirection) != 1 || ind.Indirection[0].GetAStar() == nil {
		return nil, false
	}
	names, star := columnRefFields(ind.Arg.GetColumnRef())
	if star || !sc.wholeRow(names) {
		return nil, false
	}
	return names, true
}

// starOutputs are the columns qual.* (* when qual is empty) expands to;
// whole is false when some are unknown (a view's, a function's, or those
// of an enclosing level's relation).
func (sc *scope) starOutputs(qual []string) (outs []output, whole bool) {
	whole, matched := true, false
	for _, it := range sc.items {
		if len(qual) > 0 && it.name != qual[len(qual)-1] {
			continue
		}
		matched = true
		if it.use == nil {
			outs = append(outs, it.outputs...)
			whole = whole && it.outputs != nil && !slices.ContainsFunc(it.outputs, func(o output) bool { return o.shifted })
			continue
		}
		for i := range it.use.table.Columns {
			c := &it.use.table.Columns[i]
			outs = append(outs, output{name: c.Name, use: it.use, key: columnKey(c)})
		}
	}
	return outs, whole && (matched || len(qual) == 0)
}

// conjuncts classifies each AND-ed condition of a WHERE or ON clause.
func (a *analyzer) conjuncts(sc *scope, n *pg.Node) {
	if n == nil {
		return
	}
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		a.conjunctList(sc, b.Args)
		return
	}
	if sl := n.GetSubLink(); sl != nil && sl.SubLinkType == pg.SubLinkType_ANY_SUBLINK && len(sl.OperName) == 0 {
		a.inSubquery(sc, sl)
		return
	}
	a.classify(sc, n)
	a.walkRefs(sc, n)
}

func (a *analyzer) conjunctList(sc *scope, list []*pg.Node) {
	for _, n := range list {
		a.conjuncts(sc, n)
	}
}

// inSubquery handles col IN (SELECT col2 ...): both columns are join keys.
func (a *analyzer) inSubquery(sc *scope, sl *pg.SubLink) {
	outs := a.selectStmt(sl.Subselect.GetSelectStmt(), sc, sc.ctes)
	a.walkRefs(sc, sl.Testexpr)
	u, k, ok := a.exprKey(sc, sl.Testexpr)
	if !ok || len(outs) == 0 || outs[0].use == nil || outs[0].use == u {
		return
	}
	u.addJoin(k)
	outs[0].use.addJoin(outs[0].key)
}

func (a *analyzer) classify(sc *scope, n *pg.Node) {
	switch {
	case n.GetAExpr() != nil:
		a.classifyAExpr(sc, n.GetAExpr())
	case n.GetNullTest() != nil:
		nt := n.GetNullTest()
		u, k, ok := a.exprKey(sc, nt.Arg)
		if !ok || nt.Argisrow {
			return
		}
		if nt.Nulltesttype == pg.NullTestType_IS_NULL {
			u.addPred(pred{kind: predIsNull, key: k})
			u.addPartial(k.sql()+" IS NULL", k.Cols)
		} else {
			u.addPartial(k.sql()+" IS NOT NULL", k.Cols)
		}
	case n.GetBooleanTest() != nil:
		bt := n.GetBooleanTest()
		if u, k, ok := a.exprKey(sc, bt.Arg); ok && isBoolean(k) {
			test := map[pg.BoolTestType]string{
				pg.BoolTestType_IS_TRUE: "IS TRUE", pg.BoolTestType_IS_NOT_TRUE: "IS NOT TRUE",
				pg.BoolTestType_IS_FALSE: "IS FALSE", pg.BoolTestType_IS_NOT_FALSE: "IS NOT FALSE",
			}[bt.Booltesttype]
			if test != "" {
				u.addPartial(k.sql()+" "+test, k.Cols)
			}
		}
	case n.GetColumnRef() != nil:
		if u, k, ok := a.exprKey(sc, n); ok && isBoolean(k) {
			u.addPartial(k.sql(), k.Cols)
		}
	case n.GetBoolExpr() != nil:
		b := n.GetBoolExpr()
		if b.Boolop == pg.BoolExprType_NOT_EXPR && len(b.Args) == 1 && b.Args[0].GetColumnRef() != nil {
			if u, k, ok := a.exprKey(sc, b.Args[0]); ok && isBoolean(k) {
				u.addPartial("NOT "+k.sql(), k.Cols)
			}
		}
		if b.Boolop == pg.BoolExprType_OR_EXPR && !a.orEqualities(sc, b.Args) {
			a.orArms(sc, b.Args)
		}
	}
}

// orEqualities records k = $1 OR k = $2 OR k IN (...) as the IN list it
// is (ORMs write it so): one index on k serves it. It reports whether it
// did; arms on different keys are orArms'.
func (a *analyzer) orEqualities(sc *scope, arms []*pg.Node) bool {
	var u *tableUse
	var k keyRef
	values := 0
	for _, arm := range arms {
		au, ak, n, ok := a.equality(sc, arm.GetAExpr())
		if !ok || u != nil && (au != u || ak.id() != k.id()) {
			return false
		}
		u, k, values = au, ak, values+n
	}
	if u != nil {
		u.addPred(pred{kind: predEq, key: k, inList: values})
	}
	return u != nil
}

// orArms records an OR whose every arm has indexable conditions on one
// table use, the same for all (email = $1 OR name = $2): no single index
// serves it, but one per arm does, ORed in a BitmapOr.
func (a *analyzer) orArms(sc *scope, arms []*pg.Node) {
	var u *tableUse
	group := make([][]pred, 0, len(arms))
	for _, arm := range arms {
		au, preds, ok := a.armPreds(sc, arm)
		if !ok || u != nil && au != u {
			return
		}
		u, group = au, append(group, preds)
	}
	if u != nil {
		u.ors = append(u.ors, group)
	}
}

// armPreds classifies one arm of an OR as if it were a WHERE of its own
// and takes back what that recorded: the arm's indexable conditions, and
// the one table use they are on. ok is false when they are on several, or
// none, or the arm joins or reads a subquery. Partial-index predicates and
// ORs an arm gives are dropped: they hold only where the arm does.
func (a *analyzer) armPreds(sc *scope, arm *pg.Node) (*tableUse, []pred, bool) {
	type mark struct{ preds, partials, joins, ors int }
	uses := len(a.uses)
	marks := make([]mark, uses)
	for i, u := range a.uses {
		marks[i] = mark{len(u.preds), len(u.partials), len(u.joins), len(u.ors)}
	}
	a.conjuncts(sc, arm)
	var use *tableUse
	var preds []pred
	ok := len(a.uses) == uses
	for i, u := range a.uses[:uses] {
		m := marks[i]
		if len(u.preds) > m.preds {
			ok = ok && use == nil
			use, preds = u, slices.Clone(u.preds[m.preds:])
		}
		ok = ok && len(u.joins) == m.joins
		// An OR nested in the arm holds only where the arm does: it is
		// not one of the statement's.
		u.preds, u.partials, u.joins, u.ors = u.preds[:m.preds], u.partials[:m.partials], u.joins[:m.joins], u.ors[:m.ors]
	}
	return use, preds, ok && use != nil
}

// equality recognizes key = value (either way round), key = ANY (value)
// and key IN (values), with how many values it may take (ANY: 10).
func (a *analyzer) equality(sc *scope, e *pg.A_Expr) (*tableUse, keyRef, int, bool) {
	if e == nil || lastName(e.Name) != "=" {
		return nil, keyRef{}, 0, false
	}
	switch e.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		if u, k, ok := a.exprKey(sc, e.Lexpr); ok && a.isValue(sc, e.Rexpr) {
			return u, k, 1, true
		}
		if u, k, ok := a.exprKey(sc, e.Rexpr); ok && a.isValue(sc, e.Lexpr) {
			return u, k, 1, true
		}
	case pg.A_Expr_Kind_AEXPR_OP_ANY:
		if u, k, ok := a.exprKey(sc, e.Lexpr); ok && a.isValue(sc, e.Rexpr) {
			return u, k, 10, true
		}
	case pg.A_Expr_Kind_AEXPR_IN:
		if list := e.Rexpr.GetList(); list != nil {
			if u, k, ok := a.exprKey(sc, e.Lexpr); ok && a.isValue(sc, e.Rexpr) {
				return u, k, len(list.Items), true
			}
		}
	}
	return nil, keyRef{}, 0, false
}

func isBoolean(k keyRef) bool { return k.Column != "" && k.Type == "boolean" }

// commuted maps an operator to the one that gives the same result with
// the operands swapped; "" when there is none.
var commuted = map[string]string{
	"=": "=", "<": ">", ">": "<", "<=": ">=", ">=": "<=",
	"@>": "<@", "<@": "@>", "&&": "&&", "@@": "@@",
}

func (a *analyzer) classifyAExpr(sc *scope, e *pg.A_Expr) {
	op := lastName(e.Name)
	switch e.Kind {
	case pg.A_Expr_Kind_AEXPR_OP:
		lu, lk, lok := a.exprKey(sc, e.Lexpr)
		ru, rk, rok := a.exprKey(sc, e.Rexpr)
		switch {
		case lok && rok:
			switch {
			case lk.Column == "" || rk.Column == "":
			case lu != ru || !sameItem(sc, e.Lexpr, e.Rexpr):
				if op == "=" {
					lu.addJoin(lk)
					ru.addJoin(rk)
				}
			case slices.Contains([]string{"=", "<", ">", "<=", ">="}, op):
				// Two columns of one row compared (l_commitdate <
				// l_receiptdate): no parameter in it, so it can be
				// the WHERE of a partial index.
				lu.addPartial(lk.sql()+" "+op+" "+rk.sql(), append(slices.Clone(lk.Cols), rk.Cols...))
			}
		case lok && a.isValue(sc, e.Rexpr):
			a.compare(lu, lk, op, e.Rexpr)
		case rok && a.isValue(sc, e.Lexpr) && commuted[op] != "":
			a.compare(ru, rk, commuted[op], e.Lexpr)
		case lok && op == "=" && sc.opaqueColumn(e.Rexpr):
			lu.addJoin(lk) // joined to a CTE, a function or a view
		case rok && op == "=" && sc.opaqueColumn(e.Lexpr):
			ru.addJoin(rk)
		}
	case pg.A_Expr_Kind_AEXPR_OP_ANY, pg.A_Expr_Kind_AEXPR_IN:
		if u, k, n, ok := a.equality(sc, e); ok {
			u.addPred(pred{kind: predEq, key: k, inList: n})
		}
	case pg.A_Expr_Kind_AEXPR_LIKE, pg.A_Expr_Kind_AEXPR_ILIKE:
		if u, k, ok := a.exprKey(sc, e.Lexpr); ok && (op == "~~" || op == "~~*") && a.isValue(sc, e.Rexpr) {
			a.like(u, k, e.Rexpr, op == "~~*")
		}
	case pg.A_Expr_Kind_AEXPR_BETWEEN, pg.A_Expr_Kind_AEXPR_BETWEEN_SYM:
		if u, k, ok := a.exprKey(sc, e.Lexpr); ok && a.isValue(sc, e.Rexpr) {
			u.addPred(pred{kind: predRange, key: k})
		}
	}
}

// sameItem reports whether two column references, each resolved to a
// table's column, name columns of one FROM item: of one row. A WITH query
// read twice puts one table use behind two items.
func sameItem(sc *scope, l, r *pg.Node) bool {
	ln, _ := columnRefFields(l.GetColumnRef())
	rn, _ := columnRefFields(r.GetColumnRef())
	return sc.resolve(ln).item == sc.resolve(rn).item
}

// compare records key op value.
func (a *analyzer) compare(u *tableUse, k keyRef, op string, value *pg.Node) {
	switch op {
	case "=":
		u.addPred(pred{kind: predEq, key: k})
		if lit, ok := literal(value); ok {
			switch {
			case isBoolean(k) && lit.GetBoolval() != nil && lit.GetBoolval().Boolval:
				u.addPartial(k.sql(), k.Cols)
			case isBoolean(k) && lit.GetBoolval() != nil:
				u.addPartial("NOT "+k.sql(), k.Cols)
			default:
				u.addPartial(k.sql()+" = "+deparseExpr(value, nil), k.Cols)
			}
		}
	case "<", ">", "<=", ">=":
		u.addPred(pred{kind: predRange, key: k})
	case "~~", "~~*":
		a.like(u, k, value, op == "~~*")
	case "@>", "<@", "&&", "?", "?|", "?&", "@@", "@?":
		u.addPred(pred{kind: predGIN, key: k, op: op})
	}
}

// like records a LIKE or ILIKE: a prefix pattern is a btree range; a
// pattern with a leading wildcard, or any ILIKE, needs a trigram index.
func (a *analyzer) like(u *tableUse, k keyRef, pattern *pg.Node, ilike bool) {
	lit, isLit := literal(pattern)
	var p string
	if isLit && lit.GetSval() != nil {
		p = lit.GetSval().Sval
	}
	leadingWildcard := isLit && (p == "" || p[0] == '%' || p[0] == '_')
	if ilike || leadingWildcard {
		u.addPred(pred{kind: predGIN, key: k, op: "like"})
		return
	}
	u.addPred(pred{kind: predPrefix, key: k})
}

// literal returns the constant in n (possibly under casts); NULL is not one.
func literal(n *pg.Node) (*pg.A_Const, bool) {
	c := sqltree.Uncast(n).GetAConst()
	return c, c != nil && !c.Isnull
}

// isValue reports whether n is constant for one scan of the current query
// level: it reads no column of this level (parameters, literals and outer
// references are fine).
func (a *analyzer) isValue(sc *scope, n *pg.Node) bool {
	value := true
	sqltree.WalkNodes(n, func(x *pg.Node) bool {
		if cr := x.GetColumnRef(); cr != nil {
			names, star := columnRefFields(cr)
			if r := sc.resolve(names); star || !r.found || r.local {
				value = false
			}
			return false
		}
		return x.GetSubLink() == nil
	})
	return value
}

// exprKey resolves n to a key of one base table of the current level: a
// plain column, or an immutable expression of that table's columns.
func (a *analyzer) exprKey(sc *scope, n *pg.Node) (*tableUse, keyRef, bool) {
	if n == nil {
		return nil, keyRef{}, false
	}
	if cr := n.GetColumnRef(); cr != nil {
		names, star := columnRefFields(cr)
		if star {
			return nil, keyRef{}, false
		}
		if r := sc.resolve(names); r.local && r.use != nil {
			return r.use, r.key, true
		}
		return nil, keyRef{}, false
	}
	var use *tableUse
	cols := map[*pg.ColumnRef]keyRef{}
	ok := true
	sqltree.WalkNodes(n, func(x *pg.Node) bool {
		if !ok {
			return false
		}
		cr := x.GetColumnRef()
		if cr == nil {
			return true
		}
		names, star := columnRefFields(cr)
		r := sc.resolve(names)
		if star || !r.local || r.use == nil || r.key.Column == "" || (use != nil && use != r.use) {
			ok = false
			return false
		}
		use = r.use
		cols[cr] = r.key
		return false
	})
	if !ok || use == nil || !immutableExpr(n, cols) {
		return nil, keyRef{}, false
	}
	k := keyRef{Expr: deparseExpr(n, cols)}
	for _, c := range cols {
		if !slices.Contains(k.Cols, c.Column) {
			k.Cols = append(k.Cols, c.Column)
		}
	}
	slices.Sort(k.Cols)
	return use, k, true
}

// immutableFuncs are functions PostgreSQL marks IMMUTABLE that queries
// commonly apply to indexed columns.
var immutableFuncs = map[string]int{ // name -> required argument count, -1 for any
	"lower": 1, "upper": 1, "btrim": -1, "ltrim": -1, "rtrim": -1, "md5": 1,
	"left": 2, "right": 2, "substr": -1, "length": 1, "char_length": 1, "abs": 1,
	"to_tsvector": 2, "jsonb_extract_path": -1, "jsonb_extract_path_text": -1,
}

// immutableOps are operators that are immutable whatever their text or
// jsonb operands.
var immutableOps = map[string]bool{"->": true, "->>": true, "#>": true, "#>>": true}

var textTypes = []string{"text", "character varying", "character", "bpchar", "varchar"}

func isTextType(t string) bool {
	base, _, _ := strings.Cut(t, "(")
	return slices.Contains(textTypes, strings.TrimSpace(base))
}

// immutableExpr reports whether the expression can be an index key: made
// only of columns, literals, allowlisted functions and operators, and casts
// that do not depend on the session (no timestamptz to date, for one).
func isFuncCall(n *pg.Node, name string) bool {
	return n.GetFuncCall() != nil && lastName(n.GetFuncCall().Funcname) == name
}

func immutableExpr(n *pg.Node, cols map[*pg.ColumnRef]keyRef) bool {
	switch {
	case n.GetColumnRef() != nil:
		_, ok := cols[n.GetColumnRef()]
		return ok
	case n.GetAConst() != nil:
		return true
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		want, ok := immutableFuncs[lastName(fc.Funcname)]
		if !ok || (want >= 0 && len(fc.Args) != want) || fc.AggStar || fc.Over != nil || fc.AggFilter != nil {
			return false
		}
		for _, arg := range fc.Args {
			if !immutableExpr(arg, cols) {
				return false
			}
		}
		return true
	case n.GetCoalesceExpr() != nil:
		for _, arg := range n.GetCoalesceExpr().Args {
			if !immutableExpr(arg, cols) {
				return false
			}
		}
		return true
	case n.GetAExpr() != nil:
		e := n.GetAExpr()
		if e.Kind != pg.A_Expr_Kind_AEXPR_OP || e.Lexpr == nil {
			return false
		}
		switch op := lastName(e.Name); {
		case immutableOps[op]:
		case op == "||" && isFuncCall(e.Lexpr, "to_tsvector") && isFuncCall(e.Rexpr, "to_tsvector"):
			// tsvector || tsvector is immutable, whatever the arguments' types.
		case op == "||":
			// text || text is immutable; text || anything-else is not.
			for _, k := range cols {
				if !isTextType(k.Type) {
					return false
				}
			}
		default:
			return false
		}
		return immutableExpr(e.Lexpr, cols) && immutableExpr(e.Rexpr, cols)
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		if tc.Arg.GetAConst() != nil {
			return true
		}
		if !immutableExpr(tc.Arg, cols) {
			return false
		}
		target := lastName(tc.TypeName.GetNames())
		from := exprType(tc.Arg, cols) // "": unknown, and then no cast is known to be immutable
		switch target {
		case "date":
			return from == "date" || strings.HasPrefix(from, "timestamp") && strings.HasSuffix(from, "without time zone")
		case "text", "varchar":
			return isTextType(from) || from == "integer" || from == "bigint" || from == "smallint" || from == "uuid"
		case "int4", "int8", "int2", "numeric":
			return from == "integer" || from == "bigint" || from == "smallint" || from == "numeric"
		}
		return false
	}
	return false
}

// exprType is the type of n where the parse tree tells it: a column's, a
// COALESCE's (its first argument's), text for ->> and lower/upper; ""
// otherwise.
func exprType(n *pg.Node, cols map[*pg.ColumnRef]keyRef) string {
	switch {
	case n.GetColumnRef() != nil:
		return cols[n.GetColumnRef()].Type
	case n.GetCoalesceExpr() != nil && len(n.GetCoalesceExpr().Args) > 0:
		return exprType(n.GetCoalesceExpr().Args[0], cols)
	case n.GetAExpr() != nil && lastName(n.GetAExpr().Name) == "->>":
		return "text"
	case isFuncCall(n, "lower") || isFuncCall(n, "upper"):
		return "text"
	}
	return ""
}

func lastName(names []*pg.Node) string {
	if len(names) == 0 {
		return ""
	}
	return names[len(names)-1].GetString_().GetSval()
}

// deparseExpr prints n as SQL, with each column reference in cols replaced
// by its table column's bare name (aliases dropped).
func deparseExpr(n *pg.Node, cols map[*pg.ColumnRef]keyRef) string {
	c := proto.Clone(n).(*pg.Node)
	if len(cols) > 0 {
		// Cloning loses pointer identity: rewrite by walking both trees.
		var orig, copies []*pg.ColumnRef
		sqltree.WalkNodes(n, func(x *pg.Node) bool {
			if cr := x.GetColumnRef(); cr != nil {
				orig = append(orig, cr)
			}
			return true
		})
		sqltree.WalkNodes(c, func(x *pg.Node) bool {
			if cr := x.GetColumnRef(); cr != nil {
				copies = append(copies, cr)
			}
			return true
		})
		for i, cr := range copies {
			if k, ok := cols[orig[i]]; ok {
				cr.Fields = []*pg.Node{pg.MakeStrNode(k.Column)}
			}
		}
	}
	return sqltree.Deparse(c)
}

// normalizer memoizes normalizeExpr: index predicates and expressions are
// compared with many candidates.
type normalizer map[string]string

func (n normalizer) norm(s string) string {
	if s == "" {
		return ""
	}
	if v, ok := n[s]; ok {
		return v
	}
	v := normalizeExpr(s)
	n[s] = v
	return v
}

// normalizeExpr puts an expression or predicate in a canonical form so
// that the query's text and pg_get_indexdef / pg_get_expr output compare
// equal: casts of literals and text coercions dropped, AND-ed conjuncts
// sorted. Unparseable text is returned trimmed.
func normalizeExpr(s string) string {
	tree, err := pg.Parse("SELECT " + s)
	if err != nil || len(tree.Stmts) != 1 {
		return strings.TrimSpace(s)
	}
	targets := tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()
	if len(targets) != 1 {
		return strings.TrimSpace(s)
	}
	n := stripCasts(targets[0].GetResTarget().GetVal())
	var parts []string
	for _, c := range andArgs(n) {
		parts = append(parts, sqltree.Deparse(c))
	}
	slices.Sort(parts)
	return strings.Join(parts, " AND ")
}

func andArgs(n *pg.Node) []*pg.Node {
	if b := n.GetBoolExpr(); b != nil && b.Boolop == pg.BoolExprType_AND_EXPR {
		var out []*pg.Node
		for _, a := range b.Args {
			out = append(out, andArgs(a)...)
		}
		return out
	}
	return []*pg.Node{n}
}

// stripCasts removes casts that only decorate: of literals, and to text.
func stripCasts(n *pg.Node) *pg.Node {
	for {
		tc := n.GetTypeCast()
		if tc == nil {
			break
		}
		if tc.Arg.GetAConst() == nil && !slices.Contains([]string{"text", "varchar", "bpchar"}, lastName(tc.TypeName.GetNames())) {
			break
		}
		n = tc.Arg
	}
	sqltree.ReplaceChildren(n, stripCasts)
	return n
}

// groupBy records GROUP BY keys when they all belong to one table.
func (a *analyzer) groupBy(sc *scope, items []*pg.Node) {
	var use *tableUse
	var keys []keyRef
	ok := true
	for _, n := range items {
		u, k, found := a.exprKey(sc, a.sortItem(sc, n, true))
		if !found || (use != nil && u != use) {
			ok = false
			continue
		}
		use, keys = u, append(keys, k)
	}
	if ok && use != nil {
		use.group = keys
	}
}

// orderBy records ORDER BY keys when they all belong to one table.
func (a *analyzer) orderBy(sc *scope, items []*pg.Node, limit bool) {
	var use *tableUse
	var keys []orderKey
	ok := true
	for _, n := range items {
		sb := n.GetSortBy()
		if sb == nil {
			continue
		}
		expr := a.sortItem(sc, sb.Node, false)
		if !ok || sb.SortbyDir == pg.SortByDir_SORTBY_USING {
			ok = false
			continue
		}
		u, k, found := a.exprKey(sc, expr)
		if !found || (use != nil && u != use) {
			ok = false
			continue
		}
		desc := sb.SortbyDir == pg.SortByDir_SORTBY_DESC
		nullsFirst := desc
		switch sb.SortbyNulls {
		case pg.SortByNulls_SORTBY_NULLS_FIRST:
			nullsFirst = true
		case pg.SortByNulls_SORTBY_NULLS_LAST:
			nullsFirst = false
		}
		use, keys = u, append(keys, orderKey{key: k, desc: desc, nullsFirst: nullsFirst})
	}
	if ok && use != nil {
		use.order, use.limit = keys, limit
	}
}

// sortItem walks an ORDER BY, DISTINCT ON or GROUP BY item (group) and
// returns the expression it stands for; nil when that is not one
// expression. PostgreSQL takes a position for a select-list entry, and a
// bare name for the output column of that name, except that in GROUP BY
// a column of this level's relations comes first. Anything else is an
// expression of the input, whose columns the item reads.
func (a *analyzer) sortItem(sc *scope, n *pg.Node, group bool) *pg.Node {
	if c := n.GetAConst(); c != nil && c.GetIval() != nil {
		i := int(c.GetIval().Ival)
		if i < 1 || i > len(sc.targets) || slices.ContainsFunc(sc.targets[:i], isStar) {
			return nil // out of range, or counted among the columns a * expands to
		}
		return sc.targets[i-1].Val
	}
	if group {
		// ROLLUP (a, (b, c)), GROUPING SETS ...: each name by the same rule.
		var parts []*pg.Node
		if gs := n.GetGroupingSet(); gs != nil {
			parts = gs.Content
		} else if r := n.GetRowExpr(); r != nil && r.RowFormat == pg.CoercionForm_COERCE_IMPLICIT_CAST {
			parts = r.Args
		}
		if parts != nil {
			for _, p := range parts {
				a.sortItem(sc, p, true)
			}
			return nil
		}
	}
	if cr := n.GetColumnRef(); cr != nil && len(cr.Fields) == 1 && cr.Fields[0].GetString_() != nil {
		name := cr.Fields[0].GetString_().GetSval()
		// In GROUP BY, a column of this level's relations (or perhaps of
		// one we cannot see) comes first.
		if input := group && (sc.unknown || sc.resolve([]string{name}).local); !input {
			// The first output of that name: PostgreSQL refuses two unless
			// they are one expression, and pg_stat_statements records only
			// statements it ran (its text may write equal constants as
			// different $n).
			i := slices.IndexFunc(sc.targets, func(t *pg.ResTarget) bool { return sqltree.OutputName(t) == name })
			if i >= 0 {
				return sc.targets[i].Val // walked with the select list
			}
		}
	}
	a.walkRefs(sc, n)
	return n
}

// isStar reports whether t may stand for several columns: *, t.*, or
// (x).* of a row value.
func isStar(t *pg.ResTarget) bool {
	if ind := t.Val.GetAIndirection(); ind != nil {
		return len(ind.Indirection) > 0 && ind.Indirection[len(ind.Indirection)-1].GetAStar() != nil
	}
	_, star := columnRefFields(t.Val.GetColumnRef())
	return star
}
