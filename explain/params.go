package explain

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Param is the value chosen for one $n of a normalized query text. Values
// are text, sent with an unspecified type so the server casts them to
// whatever the statement compares them with.
type Param struct {
	Index  int    `json:"index"`  // n of $n
	Value  string `json:"value"`  // text form
	Source string `json:"source"` // where the value came from
	// JSONKey marks a value that is a JSON key (meta ->> $1): one the
	// application names in its calls, which normalization hides, so the
	// plan is of the advisor's choosing.
	JSONKey bool `json:"json_key,omitempty"`
}

// ParamValues lays params out as the values of $1, $2, ... in order, as a
// Bind message carries them.
func ParamValues(ps []Param) []string {
	if len(ps) == 0 {
		return nil
	}
	n := 0
	for _, p := range ps {
		n = max(n, p.Index)
	}
	out := make([]string, n)
	for _, p := range ps {
		if p.Index >= 1 {
			out[p.Index-1] = p.Value
		}
	}
	return out
}

// Values chosen for LIMIT and OFFSET: a page, the first one.
const (
	limitValue   = "10"
	offsetValue  = "0"
	offsetSource = "OFFSET: the first page (a later one costs more)"
)

// SynthesizeParams chooses a realistic value for every $n of query from
// what $n is compared with: a column's most common value or a histogram
// bound from cat (pg_stats), else a value sampled from the table on conn
// (nil conn: no sampling). Choices are deterministic: the same statistics
// give the same values. It fails, naming the parameter, when some $n has
// no safe value; the caller then takes the generic plan instead.
func SynthesizeParams(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, query string) ([]Param, error) {
	return synthesizeReadOnly(ctx, conn, cat, query, synthOptions{})
}

// SynthesizeTypicalParams is SynthesizeParams with a typical value for
// equality (the histogram's median) instead of the most common one. The
// runner explains with the hottest values, which show the worst plans; a
// what-if costing wants the typical call: on a skewed key a plan for the
// biggest project favours walking an ORDER BY index, while one for a
// typical project shows the composite that serves both. rowsPerCall is
// what pg_stat_statements recorded (rows over calls; 0 when unknown): see
// synthOptions.
func SynthesizeTypicalParams(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, query string, rowsPerCall float64) ([]Param, error) {
	return synthesizeReadOnly(ctx, conn, cat, query, synthOptions{typical: true, rowsPerCall: rowsPerCall})
}

// SynthesizeTypicalParamsLike is SynthesizeTypicalParams for the
// statement of run, its analyzed Result: where the run took partial
// indexes' constants (Result.Values), these values do too.
func SynthesizeTypicalParamsLike(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, query string, rowsPerCall float64, run Result) ([]Param, error) {
	return synthesizeReadOnly(ctx, conn, cat, query, synthOptions{typical: true, rowsPerCall: rowsPerCall, predicateValues: run.Values == ValuesPredicate})
}

// synthOptions steer the choice of values. typical takes a typical value
// for equality, not the most common one. rowsPerCall, the rows a call
// returned on average, calibrates the value of a statement that returns
// just the rows one jsonb @> keeps (see calibratedContainment): what its
// callers look for cannot be read from the statistics, and a value that
// keeps a tenth of the table where calls find a few rows costs the wrong
// plan. With typical it calibrates the value of such a statement's one
// equality too (calibratedEquality): calls that return thousands of rows
// look for a common value, not the typical rare one.
//
// predicateValues gives an equality on a column that an existing partial
// index's predicate sets to a constant that constant (predicateValue):
// the runner takes it when the calls read far less than a run with the
// usual values (see rerunLikeCalls), and what-if costing follows.
type synthOptions struct {
	typical         bool
	rowsPerCall     float64
	predicateValues bool
}

// synthesizeReadOnly is synthesize for a caller outside the runner: conn,
// which may be the primary, must be idle, and the samples are read in a
// read-only transaction with the runner's default timeouts, so a table
// locked by others costs a lock timeout, not a hang. Row security is off:
// no gate has vetted the policies of the tables sampled, so a table they
// would filter fails the sample instead of running them.
func synthesizeReadOnly(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, query string, opts synthOptions) ([]Param, error) {
	pq, err := parseQuery(query)
	if err != nil {
		return nil, fmt.Errorf("synthesize parameters: %w", err)
	}
	if conn == nil {
		return synthesize(ctx, nil, cat, pq, opts)
	}
	var params []Param
	err = readOnly(ctx, conn, RunnerOptions{}.withDefaults(), func(serverInfo) error {
		params, err = synthesizeUnfiltered(ctx, conn, cat, pq, opts)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("synthesize parameters: %w", err)
	}
	return params, nil
}

// synthesizeUnfiltered is synthesize with row security off while it
// samples, inside the caller's transaction. A sample reads tables, and
// partitions directly, whose policies no gate has vetted (the gate checks
// what the statement reads: a partitioned parent's policies, not its
// partitions'); with row security off a table they would filter fails the
// sample instead of running them. The setting is put back afterwards, for
// the statement to run as the application's would.
func synthesizeUnfiltered(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, pq *parsedQuery, opts synthOptions) ([]Param, error) {
	was, err := execValue(ctx, conn, "SELECT current_setting('row_security')", nil)
	if err == nil {
		_, err = execOne(ctx, conn, "SET LOCAL row_security = off", nil)
	}
	if err != nil {
		return nil, fmt.Errorf("turn row security off: %w", err)
	}
	params, err := synthesize(ctx, conn, cat, pq, opts)
	if err != nil {
		return nil, err
	}
	if _, err := execOne(ctx, conn, "SELECT set_config('row_security', $1, true)", []string{string(was)}); err != nil {
		return nil, fmt.Errorf("turn row security back %s: %w", was, err)
	}
	return params, nil
}

func synthesize(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, pq *parsedQuery, opts synthOptions) ([]Param, error) {
	if pq.numParams == 0 {
		return nil, nil
	}
	s := newSynth(cat)
	s.typical, s.predicateValues = opts.typical, opts.predicateValues
	if opts.predicateValues {
		s.conditions = conditionsOf(pq.stmt)
	}
	if share, ok := filteredShare(pq.stmt); ok {
		s.rowsPerCall, s.rangeShare = opts.rowsPerCall, share
	}
	if sel := pq.stmt.GetSelectStmt(); sel != nil && opts.rowsPerCall >= 1 {
		if p, _, ok := paramOf(sel.LimitCount); ok {
			s.page = pageLimit{param: p, rows: opts.rowsPerCall}
		}
	}
	s.walk(pq.stmt, nil)
	params := make([]Param, 0, pq.numParams)
	chosen := make([]paramUse, 0, pq.numParams)
	for n := 1; n <= pq.numParams; n++ {
		p, u, err := s.choose(ctx, conn, n)
		if err != nil {
			return nil, err
		}
		params, chosen = append(params, p), append(chosen, u)
	}
	if conn != nil {
		if err := s.jointEqualities(ctx, conn, params, chosen); err != nil {
			return nil, fmt.Errorf("check the values together: %w", err)
		}
	}
	return params, nil
}

// useKind is how a parameter is used, which decides what value fits.
type useKind int

const (
	useEq          useKind = iota // col = $n, col <> $n, IS [NOT] DISTINCT FROM
	useRange                      // col < $n and friends; op says which
	useBetweenLow                 // col BETWEEN $n AND ...
	useBetweenHigh                // col BETWEEN ... AND $n
	useIn                         // col IN (..., $n, ...); pos is the position
	useAny                        // col = ANY($n): an array of one value
	useLike                       // col LIKE $n: a prefix pattern
	useILike                      // col ILIKE $n: a part of a value between %s
	useContains                   // jsonb col @> $n: one key of a document
	useJSONKey                    // col ->> $n = ...: the key
	useSearchWord                 // to_tsvector(col) @@ plainto_tsquery($n): a word of col
	useLimit                      // LIMIT $n
	useOffset                     // OFFSET $n
	useTypeDefault                // $n::interval and the like, nothing better known
	useConst                      // a fixed value: value says which
)

// paramUse is one place a parameter appears, with the column it meets.
type paramUse struct {
	kind  useKind
	col   columnTarget
	op    string // useRange: <, <=, >, >=; useEq from a comparison: its operator
	pos   int    // useIn: position in the list
	value string // useConst, useTypeDefault
	// fromPredicate: the value chosen is a partial index's
	// (predicateValue), which stands: no other value replaces it.
	fromPredicate bool
}

// columnTarget is a column, possibly seen through lower()/upper() or a
// JSON field access.
type columnTarget struct {
	table     *collector.Table
	column    *collector.Column
	transform string // "lower", "upper" or ""
	jsonKey   string // col ->> 'key': the key
	jsonArrow string // "->>" or "->" when jsonKey or jsonKeyParam is set
	keyParam  int    // col ->> $k: k
	// converted: the field is cast to a type other than text, as in
	// (attrs ->> $1)::int = $2, and a value sampled for $2 may hold any
	// text, which fails the cast: a value compared with it gets none.
	converted bool
}

func (c columnTarget) String() string {
	if c.table == nil || c.column == nil {
		return "an unknown column"
	}
	s := c.table.QualifiedName() + "." + collector.QuoteIdent(c.column.Name)
	switch {
	case c.jsonKey != "":
		s += " " + c.jsonArrow + " '" + c.jsonKey + "'"
	case c.keyParam > 0:
		s += fmt.Sprintf(" %s $%d", c.jsonArrow, c.keyParam)
	}
	if c.transform != "" {
		s = c.transform + "(" + s + ")"
	}
	return s
}

// synth finds the uses of every parameter of one statement.
type synth struct {
	typical         bool // equality takes a typical value, not the most common one
	predicateValues bool // see synthOptions
	// conditions are the statement's ANDed conditions, unqualified, as
	// conditionsOf prints them; only with predicateValues.
	conditions map[string]bool
	// rowsPerCall calibrates a @> value, and with typical an equality
	// value (synthOptions); 0 when the statement's rows are not just those
	// its filter keeps.
	rowsPerCall float64
	// rangeShare is what the statement's ranges keep of the rows its one
	// other condition keeps (filteredShare): 1 without ranges.
	rangeShare float64
	page       pageLimit
	outputs    map[int]bool // parameters that are bare values of a select list
	byName     map[string][]*collector.Table
	byQual     map[[2]string]*collector.Table
	cat        *collector.Catalog
	path       []string             // search_path schemas, in order
	views      map[[2]string]string // definitions, by schema and name
	// expanding are the views whose definitions outputsOf is in: a name
	// there that resolves to one of them is a table of another schema
	// (a view cannot read itself).
	expanding map[[2]string]bool
	viewOuts  map[[2]string]outputColumns // outputs of the views followed, by schema and name
	uses      map[int][]paramUse
	samples   map[string]sampleResult
	jsonPicks map[string]jsonPick
}

type sampleResult struct {
	value string
	ok    bool
}

func newSynth(cat *collector.Catalog) *synth {
	s := &synth{cat: cat, byName: map[string][]*collector.Table{}, byQual: map[[2]string]*collector.Table{},
		uses: map[int][]paramUse{}, outputs: map[int]bool{}, samples: map[string]sampleResult{}, jsonPicks: map[string]jsonPick{}}
	if cat == nil {
		return s
	}
	for i := range cat.Tables {
		t := &cat.Tables[i]
		s.byName[t.Name] = append(s.byName[t.Name], t)
		s.byQual[[2]string{t.Schema, t.Name}] = t
	}
	s.path = searchPath(cat.Settings.SearchPath)
	s.views, s.expanding, s.viewOuts = make(map[[2]string]string, len(cat.Views)), map[[2]string]bool{}, map[[2]string]outputColumns{}
	for _, v := range cat.Views {
		s.views[[2]string{v.Schema, v.Name}] = v.Definition
	}
	return s
}

// searchPath splits a search_path setting; "$user" is left out, since the
// session user's schema is rarely where the tables are.
func searchPath(setting string) []string {
	var path []string
	for _, part := range strings.Split(setting, ",") {
		part = strings.TrimSpace(part)
		if strings.HasPrefix(part, `"`) && strings.HasSuffix(part, `"`) && len(part) >= 2 {
			part = strings.ReplaceAll(part[1:len(part)-1], `""`, `"`)
		}
		if part != "" && part != "$user" {
			path = append(path, part)
		}
	}
	if len(path) == 0 {
		path = []string{"public"}
	}
	return path
}

// paramScope is the FROM list of one (sub)query, inside its parents'.
type paramScope struct {
	parent *paramScope
	items  []scopeItem
	star   outputColumns // what * selects, in order
	ctes   map[string]outputColumns
	// withOrder names ctes in the order of their WITH clause; recursive,
	// when it is WITH RECURSIVE, whose queries see every one of them.
	withOrder []string
	recursive bool
}

// subqueryScope is the scope a subquery in the FROM list of sc sees: the
// levels above and this level's WITH queries, not its siblings (unless
// LATERAL).
func (sc *paramScope) subqueryScope(lateral bool) *paramScope {
	if lateral {
		return sc
	}
	return &paramScope{parent: sc.parent, ctes: sc.ctes}
}

// withQueryScope is the scope the body of WITH query name of sc sees: the
// levels above, and the WITH queries before it (all of them when
// RECURSIVE), not its own name or those after it.
func (sc *paramScope) withQueryScope(name string) *paramScope {
	seen := map[string]outputColumns{}
	for _, n := range sc.withOrder {
		if n == name && !sc.recursive {
			break
		}
		seen[n] = sc.ctes[n]
	}
	return &paramScope{parent: sc.parent, ctes: seen}
}

// scopeItem is one FROM item: a table, a view, a subquery, a WITH query
// or a function, with the columns it offers.
type scopeItem struct {
	alias string
	// merged marks the columns a join USING (or NATURAL) merged: an
	// unqualified name of one is the join's, not either side's.
	merged bool
	// table is the table the item is, when it renames none of its columns
	// (an UPDATE's or INSERT's target is one).
	table   *collector.Table
	outputs outputColumns
}

// outputColumns are the columns a FROM item offers, in order. Those of a
// set operation, a function or a recursive WITH query are unknown: any
// name could be one of them.
type outputColumns struct {
	known bool
	cols  []outputColumn
}

// outputColumn is an output by the name it goes by; its column is nil
// when it is computed, or no table's column as it is.
type outputColumn struct {
	name string
	tableColumn
}

type tableColumn struct {
	table  *collector.Table
	column *collector.Column
}

// column is the output named name: ok is false when none is, and the
// column nil when it is computed or several outputs have the name.
func (o outputColumns) column(name string) (tc tableColumn, ok bool) {
	for _, c := range o.cols {
		if c.name == name {
			if ok {
				return tableColumn{}, true
			}
			tc, ok = c.tableColumn, true
		}
	}
	return tc, ok
}

// tableOutputs are the columns of t, unknown when t is not in the catalog.
func tableOutputs(t *collector.Table) outputColumns {
	if t == nil {
		return outputColumns{}
	}
	outs := outputColumns{known: true, cols: make([]outputColumn, len(t.Columns))}
	for i := range t.Columns {
		outs.cols[i] = outputColumn{t.Columns[i].Name, tableColumn{t, &t.Columns[i]}}
	}
	return outs
}

func (s *synth) addUse(n int, u paramUse) {
	if n > 0 && (!u.col.converted || u.kind == useJSONKey) {
		s.uses[n] = append(s.uses[n], u)
	}
}

// walk visits root in scope sc, giving every (sub)statement its own scope.
func (s *synth) walk(root proto.Message, sc *paramScope) {
	sqltree.Walk(root, func(m proto.Message) bool {
		if m != root {
			if c, ok := m.(*pg_query.CommonTableExpr); ok && sc != nil {
				s.walk(c.Ctequery, sc.withQueryScope(c.Ctename))
				return false
			}
			if rs, ok := m.(*pg_query.RangeSubselect); ok && sc != nil {
				s.walk(rs.Subquery, sc.subqueryScope(rs.Lateral))
				return false
			}
			if child := s.scopeFor(m, sc); child != nil {
				s.walk(m, child)
				return false
			}
		}
		s.visit(m, sc)
		return true
	})
}

// scopeFor returns the scope a statement opens, nil for other nodes.
func (s *synth) scopeFor(m proto.Message, parent *paramScope) *paramScope {
	sc := &paramScope{parent: parent, ctes: map[string]outputColumns{}, star: outputColumns{known: true}}
	var with *pg_query.WithClause
	var from []*pg_query.Node
	switch n := m.(type) {
	case *pg_query.SelectStmt:
		with, from = n.WithClause, n.FromClause
	case *pg_query.UpdateStmt:
		with, from = n.WithClause, append([]*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: n.Relation}}}, n.FromClause...)
	case *pg_query.DeleteStmt:
		with, from = n.WithClause, append([]*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: n.Relation}}}, n.UsingClause...)
	case *pg_query.InsertStmt:
		with, from = n.WithClause, []*pg_query.Node{{Node: &pg_query.Node_RangeVar{RangeVar: n.Relation}}}
	default:
		return nil
	}
	for _, cte := range with.GetCtes() {
		if c := cte.GetCommonTableExpr(); c.GetCtename() != "" {
			// A WITH query sees those before it (all of them when RECURSIVE, whose
			// columns it may read in a loop: none followed then).
			var outs outputColumns
			if !with.Recursive {
				outs = s.outputsOf(c.Ctequery, sc)
			}
			sc.ctes[c.Ctename] = renamed(outs, c.Aliascolnames)
			sc.withOrder = append(sc.withOrder, c.Ctename)
		}
	}
	sc.recursive = with.GetRecursive()
	for _, item := range from {
		sc.star = appended(sc.star, s.addFromItem(sc, item))
	}
	return sc
}

// outputsOf are the output columns of query, a SELECT seen from scope
// outer.
func (s *synth) outputsOf(query *pg_query.Node, outer *paramScope) outputColumns {
	sel := query.GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE {
		return outputColumns{} // a set operation's columns come from several queries
	}
	if len(sel.ValuesLists) > 0 {
		outs := outputColumns{known: true}
		for i := range sel.ValuesLists[0].GetList().GetItems() {
			outs.cols = append(outs.cols, outputColumn{name: fmt.Sprintf("column%d", i+1)})
		}
		return outs
	}
	sc := s.scopeFor(sel, outer)
	outs := outputColumns{known: true}
	for _, t := range sel.TargetList {
		rt := t.GetResTarget()
		ref := rt.GetVal().GetColumnRef()
		if fields := ref.GetFields(); len(fields) > 0 && fields[len(fields)-1].GetAStar() != nil {
			outs = appended(outs, starOutputs(sc, stringParts(fields[:len(fields)-1])))
			continue
		}
		out := outputColumn{name: sqltree.OutputName(rt)}
		if out.name == "" {
			return outputColumns{} // named after a column a * selects
		}
		if ref != nil {
			out.table, out.column = s.resolveColumn(sc, ref)
		}
		outs.cols = append(outs.cols, out)
	}
	return outs
}

// starOutputs are the columns * (qualifier empty) or t.* selects from
// the FROM list of sc.
func starOutputs(sc *paramScope, qualifier []string) outputColumns {
	if len(qualifier) == 0 {
		return sc.star
	}
	for _, item := range sc.items {
		if len(qualifier) == 1 && !item.merged && item.alias == qualifier[0] {
			return item.outputs
		}
	}
	return outputColumns{} // of an enclosing level, or schema-qualified
}

// appended is a's columns then b's, unknown when either is.
func appended(a, b outputColumns) outputColumns {
	if !a.known || !b.known {
		return outputColumns{}
	}
	return outputColumns{known: true, cols: append(slices.Clip(a.cols), b.cols...)}
}

// joined are the columns of join j of sides l and r, in PostgreSQL's
// order: those USING (or NATURAL) merges first, once, then the others of
// l, then of r; merged are the merged ones alone, whose names are known
// even when a side's columns are not.
func joined(l, r outputColumns, j *pg_query.JoinExpr) (all, merged outputColumns) {
	names := stringParts(j.UsingClause)
	if j.IsNatural {
		if !l.known || !r.known {
			return outputColumns{}, outputColumns{}
		}
		for _, c := range l.cols {
			if _, ok := r.column(c.name); ok && !slices.Contains(names, c.name) {
				names = append(names, c.name)
			}
		}
	}
	if len(names) == 0 {
		return appended(l, r), outputColumns{}
	}
	merged = outputColumns{known: true}
	for _, n := range names {
		var tc tableColumn
		switch j.Jointype {
		case pg_query.JoinType_JOIN_INNER, pg_query.JoinType_JOIN_LEFT:
			tc, _ = l.column(n)
		case pg_query.JoinType_JOIN_RIGHT:
			tc, _ = r.column(n)
		} // FULL: the COALESCE of both, no column as it is
		merged.cols = append(merged.cols, outputColumn{n, tc})
	}
	if !l.known || !r.known {
		return outputColumns{}, merged
	}
	all = merged
	for _, c := range append(slices.Clip(l.cols), r.cols...) {
		if !slices.Contains(names, c.name) {
			all.cols = append(all.cols, c)
		}
	}
	return all, merged
}

// renamed is outs under the column aliases names gives, which rename the
// first outputs in order.
func renamed(outs outputColumns, names []*pg_query.Node) outputColumns {
	if len(names) == 0 || !outs.known {
		return outs
	}
	aliases := stringParts(names)
	if len(aliases) != len(names) || len(aliases) > len(outs.cols) {
		return outputColumns{}
	}
	cols := slices.Clone(outs.cols)
	for i, a := range aliases {
		cols[i].name = a
	}
	return outputColumns{known: true, cols: cols}
}

// addFromItem adds the FROM item to sc, and returns the columns it offers
// to *.
func (s *synth) addFromItem(sc *paramScope, item *pg_query.Node) outputColumns {
	add := func(alias string, table *collector.Table, outs outputColumns) outputColumns {
		sc.items = append(sc.items, scopeItem{alias: alias, table: table, outputs: outs})
		return outs
	}
	switch {
	case item.GetRangeVar() != nil:
		rv := item.GetRangeVar()
		alias, colnames := cmp.Or(rv.GetAlias().GetAliasname(), rv.Relname), rv.GetAlias().GetColnames()
		if outs, ok := s.cte(sc, rv); ok {
			return add(alias, nil, renamed(outs, colnames))
		}
		if outs, ok := s.viewOutputs(rv.Schemaname, rv.Relname); ok {
			return add(alias, nil, renamed(outs, colnames))
		}
		t := s.lookupTable(sc, rv.Schemaname, rv.Relname)
		if len(colnames) > 0 {
			return add(alias, nil, renamed(tableOutputs(t), colnames))
		}
		return add(alias, t, tableOutputs(t))
	case item.GetRangeTableSample() != nil:
		return s.addFromItem(sc, item.GetRangeTableSample().Relation)
	case item.GetJoinExpr() != nil:
		j, first := item.GetJoinExpr(), len(sc.items)
		all, merged := joined(s.addFromItem(sc, j.Larg), s.addFromItem(sc, j.Rarg), j)
		if a := j.GetAlias(); a != nil {
			// The alias hides the tables inside the join.
			sc.items = sc.items[:first]
			return add(a.Aliasname, nil, renamed(all, a.Colnames))
		}
		if len(merged.cols) > 0 {
			sc.items = append(sc.items, scopeItem{merged: true, outputs: merged})
		}
		return all
	case item.GetRangeSubselect() != nil:
		rs := item.GetRangeSubselect()
		return add(rs.GetAlias().GetAliasname(), nil, renamed(s.outputsOf(rs.Subquery, sc.subqueryScope(rs.Lateral)), rs.GetAlias().GetColnames()))
	case item.GetRangeFunction() != nil:
		return add(item.GetRangeFunction().GetAlias().GetAliasname(), nil, outputColumns{})
	case item.GetRangeTableFunc() != nil:
		return add(item.GetRangeTableFunc().GetAlias().GetAliasname(), nil, outputColumns{})
	}
	return add("", nil, outputColumns{}) // columns unknown
}

// cte is the WITH query an unqualified rv names, innermost first.
func (s *synth) cte(sc *paramScope, rv *pg_query.RangeVar) (outputColumns, bool) {
	if rv.Schemaname != "" {
		return outputColumns{}, false
	}
	for p := sc; p != nil; p = p.parent {
		if outs, ok := p.ctes[rv.Relname]; ok {
			return outs, true
		}
	}
	return outputColumns{}, false
}

// viewOutputs are the outputs of the view schema.name names (on the
// search_path when schema is "", where no table of the name comes first);
// ok is false when it names no view.
func (s *synth) viewOutputs(schema, name string) (outputColumns, bool) {
	key := [2]string{schema, name}
	def, ok := s.views[key]
	for _, sp := range s.path {
		if schema != "" || ok || s.byQual[[2]string{sp, name}] != nil {
			break
		}
		key = [2]string{sp, name}
		def, ok = s.views[key]
	}
	if !ok || s.expanding[key] {
		return outputColumns{}, false
	}
	if outs, done := s.viewOuts[key]; done {
		return outs, true
	}
	var outs outputColumns
	if tree, err := pg_query.Parse(def); err == nil && len(tree.Stmts) == 1 {
		s.expanding[key] = true
		outs = s.outputsOf(tree.Stmts[0].Stmt, &paramScope{ctes: map[string]outputColumns{}})
		delete(s.expanding, key)
	}
	s.viewOuts[key] = outs
	return outs, true
}

// lookupTable finds a relation as the server would: schema-qualified, or
// the first search_path schema that has it (addFromItem has taken WITH
// queries, which hide tables, first).
func (s *synth) lookupTable(sc *paramScope, schema, name string) *collector.Table {
	if schema != "" {
		return s.byQual[[2]string{schema, name}]
	}
	for _, sp := range s.path {
		if t := s.byQual[[2]string{sp, name}]; t != nil {
			return t
		}
	}
	if ts := s.byName[name]; len(ts) == 1 {
		return ts[0]
	}
	return nil
}

// resolveColumn finds the table column a ColumnRef names.
func (s *synth) resolveColumn(sc *paramScope, ref *pg_query.ColumnRef) (*collector.Table, *collector.Column) {
	fields := ref.GetFields()
	parts := stringParts(fields)
	if len(parts) != len(fields) || len(parts) == 0 || len(parts) > 3 {
		return nil, nil // t.*, or a catalog-qualified name
	}
	col := parts[len(parts)-1]
	for p := sc; p != nil; p = p.parent {
		if tc, ok := p.mergedColumn(col); ok && len(parts) == 1 {
			return tc.table, tc.column
		}
		var found []tableColumn
		hidden := false // by an item whose columns are unknown
		for _, item := range p.items {
			switch {
			case item.merged:
			case len(parts) == 1:
				if tc, ok := item.outputs.column(col); ok {
					found = append(found, tc)
				} else if !item.outputs.known {
					hidden = true
				}
			case len(parts) == 2 && item.alias == parts[0],
				len(parts) == 3 && item.table != nil && item.table.Schema == parts[0] && item.alias == parts[1]:
				tc, _ := item.outputs.column(col)
				found = append(found, tc)
			}
		}
		switch {
		case len(found) == 1 && found[0].column != nil:
			return found[0].table, found[0].column
		case len(found) == 0 && !hidden:
			continue
		}
		return nil, nil // ambiguous, computed, or perhaps a column of an item we cannot see into
	}
	return nil, nil
}

// mergedColumn is the column of the outermost join of sc that merged one
// named name; ok is false when none did.
func (sc *paramScope) mergedColumn(name string) (tableColumn, bool) {
	for i := len(sc.items) - 1; i >= 0; i-- {
		if sc.items[i].merged {
			if tc, ok := sc.items[i].outputs.column(name); ok {
				return tc, true
			}
		}
	}
	return tableColumn{}, false
}

func findColumn(t *collector.Table, name string) *collector.Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// visit records the parameter uses a node shows.
func (s *synth) visit(m proto.Message, sc *paramScope) {
	switch n := m.(type) {
	case *pg_query.A_Expr:
		s.visitExpr(n, sc)
	case *pg_query.SelectStmt:
		if p, _, ok := paramOf(n.LimitCount); ok {
			s.addUse(p, paramUse{kind: useLimit})
		}
		if p, _, ok := paramOf(n.LimitOffset); ok {
			s.addUse(p, paramUse{kind: useOffset})
		}
		// A constant of the select list (1 - l_discount, 100.00 * sum(...))
		// changes no plan: any value will do for it.
		for _, t := range n.TargetList {
			sqltree.Walk(t, func(m proto.Message) bool {
				if p, ok := m.(*pg_query.ParamRef); ok {
					s.outputs[int(p.Number)] = true
				}
				return true
			})
		}
	case *pg_query.UpdateStmt:
		for _, t := range n.TargetList {
			s.assignment(sc, t.GetResTarget().GetName(), t.GetResTarget().GetVal())
		}
	case *pg_query.InsertStmt:
		var cols []string
		for _, c := range n.Cols {
			cols = append(cols, c.GetResTarget().GetName())
		}
		for _, row := range n.GetSelectStmt().GetSelectStmt().GetValuesLists() {
			for i, v := range row.GetList().GetItems() {
				if i < len(cols) {
					s.assignment(sc, cols[i], v)
				}
			}
		}
	case *pg_query.FuncCall:
		// date_trunc($1, col), date_part($1, col) (Reparseable's extract):
		// the field is a constant pg_stat_statements replaced.
		if field, ok := datetimeFields[funcRef(n.Funcname).name]; ok && len(n.Args) > 0 {
			if p, _, ok := paramOf(n.Args[0]); ok {
				s.addUse(p, paramUse{kind: useConst, value: field})
			}
		}
	case *pg_query.TypeCast:
		if p, typ, ok := paramOf(&pg_query.Node{Node: &pg_query.Node_TypeCast{TypeCast: n}}); ok {
			if v, ok := typeDefaults[typ]; ok {
				s.addUse(p, paramUse{kind: useTypeDefault, value: v})
			}
		}
	}
}

// datetimeFields are functions whose first argument names a date/time
// field, with the field a parameter there gets.
var datetimeFields = map[string]string{"date_trunc": "day", "date_part": "year"}

// typeDefaults are values for a parameter cast to a type when nothing it
// is compared with says more (a column's value does): valid input for the
// type, which "1" is not for a date.
var typeDefaults = map[string]string{
	"interval": "1 day", "bool": "true", "boolean": "true",
	"date": "2000-01-01", "timestamp": "2000-01-01", "timestamptz": "2000-01-01",
	"uuid": "00000000-0000-0000-0000-000000000000", "json": "{}", "jsonb": "{}",
}

// assignment records SET col = $n and INSERT (col) VALUES ($n): a value
// of the column.
func (s *synth) assignment(sc *paramScope, col string, val *pg_query.Node) {
	p, _, ok := paramOf(val)
	if !ok || col == "" || sc == nil || len(sc.items) == 0 || sc.items[0].table == nil {
		return
	}
	t := sc.items[0].table // the target relation comes first
	if c := findColumn(t, col); c != nil {
		s.addUse(p, paramUse{kind: useEq, col: columnTarget{table: t, column: c}})
	}
}

func (s *synth) visitExpr(n *pg_query.A_Expr, sc *paramScope) {
	op := ""
	if parts := stringParts(n.Name); len(parts) > 0 {
		op = parts[len(parts)-1]
	}
	if _, _, ok := paramOf(n.Lexpr); ok && isOffset(n) {
		// The offset of a bound: a zero keeps the bound where the
		// column's statistics put its base.
		if p := offsetParam(n.Rexpr); p > 0 {
			s.addUse(p, paramUse{kind: useConst, value: "0"})
		}
	}
	switch n.Kind {
	case pg_query.A_Expr_Kind_AEXPR_OP, pg_query.A_Expr_Kind_AEXPR_DISTINCT, pg_query.A_Expr_Kind_AEXPR_NOT_DISTINCT:
		if op == "@@" {
			s.textSearch(n.Lexpr, n.Rexpr, sc)
			s.textSearch(n.Rexpr, n.Lexpr, sc)
		}
		s.comparison(op, n.Lexpr, n.Rexpr, sc)
		s.comparison(flipped(op), n.Rexpr, n.Lexpr, sc)
	case pg_query.A_Expr_Kind_AEXPR_OP_ANY, pg_query.A_Expr_Kind_AEXPR_OP_ALL:
		col, ok := s.columnOf(n.Lexpr, sc)
		if !ok {
			return
		}
		if p, _, ok := paramOf(n.Rexpr); ok {
			s.addUse(p, paramUse{kind: useAny, col: col})
		}
		for i, e := range n.Rexpr.GetAArrayExpr().GetElements() {
			if p, _, ok := paramOf(e); ok {
				s.addUse(p, paramUse{kind: useIn, col: col, pos: i})
			}
		}
	case pg_query.A_Expr_Kind_AEXPR_IN:
		col, ok := s.columnOf(n.Lexpr, sc)
		if !ok {
			return
		}
		for i, e := range n.Rexpr.GetList().GetItems() {
			if p, _, ok := paramOf(e); ok {
				s.addUse(p, paramUse{kind: useIn, col: col, pos: i})
			}
		}
	case pg_query.A_Expr_Kind_AEXPR_LIKE, pg_query.A_Expr_Kind_AEXPR_ILIKE:
		col, ok := s.columnOf(n.Lexpr, sc)
		if !ok {
			return
		}
		kind := useLike
		if n.Kind == pg_query.A_Expr_Kind_AEXPR_ILIKE {
			kind = useILike
		}
		if p, _, ok := paramOf(n.Rexpr); ok {
			s.addUse(p, paramUse{kind: kind, col: col})
		}
	case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
		pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
		col, ok := s.columnOf(n.Lexpr, sc)
		items := n.Rexpr.GetList().GetItems()
		if !ok || len(items) != 2 {
			return
		}
		if p, _, ok := paramOf(items[0]); ok {
			s.addUse(p, paramUse{kind: useBetweenLow, col: col})
		}
		if p, _, ok := paramOf(items[1]); ok {
			s.addUse(p, paramUse{kind: useBetweenHigh, col: col})
		}
	}
}

// comparison records "colExpr op paramExpr".
func (s *synth) comparison(op string, colExpr, paramExpr *pg_query.Node, sc *paramScope) {
	p, _, ok := paramOf(paramExpr)
	if !ok {
		return
	}
	col, ok := s.columnOf(colExpr, sc)
	if !ok {
		return
	}
	if col.keyParam > 0 {
		s.addUse(col.keyParam, paramUse{kind: useJSONKey, col: col})
	}
	switch op {
	case "=", "<>", "!=", "%", "~~", "~~*":
		s.addUse(p, paramUse{kind: useEq, col: col, op: op})
	case "<", "<=", ">", ">=":
		s.addUse(p, paramUse{kind: useRange, col: col, op: op})
	case "@>":
		if isJSON(col.column) && col.jsonKey == "" && col.keyParam == 0 {
			s.addUse(p, paramUse{kind: useContains, col: col})
		}
	case "<@":
		if isJSON(col.column) {
			s.addUse(p, paramUse{kind: useEq, col: col})
		}
	case "?":
		if isJSON(col.column) && col.jsonKey == "" && col.keyParam == 0 {
			s.addUse(p, paramUse{kind: useJSONKey, col: col})
		}
	}
}

// flipped is op with its operands swapped: $1 < col is col > $1.
func flipped(op string) string {
	switch op {
	case "<":
		return ">"
	case ">":
		return "<"
	case "<=":
		return ">="
	case ">=":
		return "<="
	case "@>":
		return "<@"
	case "<@":
		return "@>"
	case "~~", "~~*", "%":
		return "" // pattern and similarity operators are not symmetric
	}
	return op
}

// transparent functions keep a value recognisable: lower(col) = $1.
var transparent = map[string]bool{"lower": true, "upper": true, "btrim": true, "trim": true}

// paramOf recognises $n, possibly cast or wrapped in a transparent
// function, and returns n and the cast's type name.
func paramOf(n *pg_query.Node) (int, string, bool) {
	switch {
	case n.GetParamRef() != nil:
		return int(n.GetParamRef().Number), "", true
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		p, _, ok := paramOf(tc.Arg)
		typ := ""
		if parts := stringParts(tc.GetTypeName().GetNames()); len(parts) > 0 && len(tc.GetTypeName().GetArrayBounds()) == 0 {
			typ = parts[len(parts)-1]
		}
		return p, typ, ok
	case n.GetCollateClause() != nil:
		return paramOf(n.GetCollateClause().Arg)
	case n.GetAExpr() != nil:
		// $1 + $2, date $1 + interval $2 month: pg_stat_statements made
		// parameters of the literals of an offset bound (see offsetParam).
		if e := n.GetAExpr(); isOffset(e) && (offsetParam(e.Rexpr) > 0 || e.Rexpr.GetAConst() != nil) {
			return paramOf(e.Lexpr)
		}
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		if transparent[funcRef(fc.Funcname).name] && len(fc.Args) == 1 {
			return paramOf(fc.Args[0])
		}
	}
	return 0, "", false
}

func isOffset(e *pg_query.A_Expr) bool {
	if e.Kind != pg_query.A_Expr_Kind_AEXPR_OP || e.Lexpr == nil || e.Rexpr == nil {
		return false
	}
	parts := stringParts(e.Name)
	return len(parts) > 0 && (parts[len(parts)-1] == "+" || parts[len(parts)-1] == "-")
}

// offsetParam is n of an offset $n, possibly cast or built into an
// interval ($n::text || ' month')::interval, as explain.Reparseable
// rewrites interval $n month; 0 when it is not one.
func offsetParam(n *pg_query.Node) int {
	switch {
	case n.GetParamRef() != nil:
		return int(n.GetParamRef().Number)
	case n.GetTypeCast() != nil:
		return offsetParam(n.GetTypeCast().Arg)
	case n.GetAExpr() != nil:
		if parts := stringParts(n.GetAExpr().Name); len(parts) == 1 && parts[0] == "||" {
			return offsetParam(n.GetAExpr().Lexpr)
		}
	}
	return 0
}

// stringType reports whether t names a string type, which any JSON
// field's text fits.
func stringType(t *pg_query.TypeName) bool {
	parts := stringParts(t.GetNames())
	if len(parts) == 0 {
		return false
	}
	switch parts[len(parts)-1] {
	case "text", "varchar", "bpchar", "name", "citext":
		return true
	}
	return false
}

// columnOf recognises a column, possibly cast, collated, lower()ed or
// upper()ed, or a JSON field of it.
func (s *synth) columnOf(n *pg_query.Node, sc *paramScope) (columnTarget, bool) {
	switch {
	case n.GetColumnRef() != nil:
		t, c := s.resolveColumn(sc, n.GetColumnRef())
		return columnTarget{table: t, column: c}, c != nil
	case n.GetTypeCast() != nil:
		tc := n.GetTypeCast()
		col, ok := s.columnOf(tc.Arg, sc)
		if ok && (col.jsonKey != "" || col.keyParam != 0) && !stringType(tc.TypeName) {
			col.converted = true
		}
		return col, ok
	case n.GetCollateClause() != nil:
		return s.columnOf(n.GetCollateClause().Arg, sc)
	case n.GetFuncCall() != nil:
		fc := n.GetFuncCall()
		name := funcRef(fc.Funcname).name
		if !transparent[name] || len(fc.Args) != 1 {
			return columnTarget{}, false
		}
		col, ok := s.columnOf(fc.Args[0], sc)
		if ok && col.transform == "" && (name == "lower" || name == "upper") {
			col.transform = name
		}
		return col, ok
	case n.GetAExpr() != nil:
		e := n.GetAExpr()
		parts := stringParts(e.Name)
		if e.Kind != pg_query.A_Expr_Kind_AEXPR_OP || len(parts) != 1 || (parts[0] != "->>" && parts[0] != "->") {
			return columnTarget{}, false
		}
		col, ok := s.columnOf(e.Lexpr, sc)
		if !ok || !isJSON(col.column) || col.jsonKey != "" || col.keyParam != 0 || col.transform != "" {
			return columnTarget{}, false
		}
		col.jsonArrow = parts[0]
		if k := e.Rexpr.GetAConst().GetSval(); k != nil {
			col.jsonKey = k.Sval
			return col, true
		}
		if p, _, ok := paramOf(e.Rexpr); ok {
			col.keyParam = p
			return col, true
		}
	}
	return columnTarget{}, false
}

func isJSON(c *collector.Column) bool { return c != nil && (c.Type == "jsonb" || c.Type == "json") }

// pageLimit is the statement's own LIMIT $param, when the rows a call
// returned are known: a page is as long as the calls' were (the first
// page, since OFFSET gets 0), rather than limitValue.
type pageLimit struct {
	param int
	rows  float64
}

// choose picks the value of $n from its first use that yields one.
func (s *synth) choose(ctx context.Context, conn *pgx.Conn, n int) (Param, paramUse, error) {
	if n == s.page.param {
		return Param{Index: n, Value: strconv.FormatFloat(math.Ceil(s.page.rows), 'f', 0, 64), Source: "LIMIT: the rows a call returned"}, paramUse{kind: useLimit}, nil
	}
	uses := s.uses[n]
	if len(uses) == 0 && s.outputs[n] {
		// SELECT 1 is stored as SELECT $n: a bare output value changes no
		// plan (EXISTS (SELECT 1 ...), a constant column), so any will do.
		return Param{Index: n, Value: "1", Source: "output value"}, paramUse{kind: useConst}, nil
	}
	if len(uses) == 0 {
		return Param{}, paramUse{}, fmt.Errorf("no value for $%d: it is not compared with a known column, LIMIT or OFFSET", n)
	}
	for _, u := range uses {
		if v, src, ok := s.predicateValue(u); ok {
			u.fromPredicate = true
			return Param{Index: n, Value: v, Source: src}, u, nil
		}
	}
	var tried []string
	for _, u := range uses {
		v, src, ok, err := s.value(ctx, conn, u)
		if err != nil {
			return Param{}, paramUse{}, fmt.Errorf("choose a value for $%d: %w", n, err)
		}
		if ok {
			return Param{Index: n, Value: v, Source: src, JSONKey: u.kind == useJSONKey}, u, nil
		}
		tried = append(tried, u.col.String())
	}
	return Param{}, paramUse{}, fmt.Errorf("no value for $%d: no statistics or rows for %s", n, strings.Join(tried, ", "))
}

// value is the value for one use; ok is false when the column has no
// statistics and no rows could be sampled.
func (s *synth) value(ctx context.Context, conn *pgx.Conn, u paramUse) (value, source string, ok bool, err error) {
	switch u.kind {
	case useLimit:
		return limitValue, "LIMIT", true, nil
	case useOffset:
		return offsetValue, offsetSource, true, nil
	case useConst, useTypeDefault:
		return u.value, "default", true, nil
	case useJSONKey:
		pick, err := s.pickJSON(ctx, conn, u.col)
		return pick.key, pick.source, pick.ok, err
	case useSearchWord:
		return s.searchWord(ctx, conn, u)
	case useContains:
		if v, src, ok := s.calibratedContainment(u.col); ok {
			return v, src, true, nil
		}
	case useEq:
		if v, src, ok := s.calibratedEquality(u); ok {
			return v, src, true, nil
		}
	}
	col := u.col
	var base string
	switch {
	case col.keyParam > 0:
		pick, err := s.pickJSON(ctx, conn, col)
		if err != nil || !pick.ok {
			return "", "", false, err
		}
		base, source = pick.value(col.jsonArrow), pick.source
	case col.jsonKey != "":
		base, source, ok, err = s.jsonField(ctx, conn, col)
		if err != nil || !ok {
			return "", "", false, err
		}
	default:
		base, source, ok, err = s.columnValue(ctx, conn, u)
		if err != nil || !ok {
			return "", "", false, err
		}
	}
	switch col.transform {
	case "lower":
		base = strings.ToLower(base)
	case "upper":
		base = strings.ToUpper(base)
	}
	switch u.kind {
	case useAny:
		return arrayLiteral(base), source, true, nil
	case useLike:
		return likePrefix(base), source, true, nil
	case useILike:
		return likeInfix(base), source, true, nil
	case useContains:
		return containedPart(base), source, true, nil
	}
	return base, source, true, nil
}

// columnValue picks from pg_stats: equality wants the most common value (or a typical one),
// a range a bound that keeps it selective (10th or 90th percentile),
// BETWEEN two neighbouring histogram bounds, an IN list distinct values.
func (s *synth) columnValue(ctx context.Context, conn *pgx.Conn, u paramUse) (string, string, bool, error) {
	name := u.col.table.QualifiedName() + "." + collector.QuoteIdent(u.col.column.Name)
	var mcv, hist []string
	if st := u.col.column.Stats; st != nil {
		mcv, hist = st.MostCommonVals, st.HistogramBounds
	}
	at := func(frac float64) (string, string, bool, error) {
		i := int(frac * float64(len(hist)-1))
		return hist[i], fmt.Sprintf("histogram bound %d of %d of %s", i+1, len(hist), name), true, nil
	}
	switch u.kind {
	case useRange:
		// Alone, a bound keeps a tenth of the rows; with a bound on the
		// other side, the two keep the tenth around the median.
		lower := u.op == ">" || u.op == ">="
		switch {
		case len(hist) == 0:
		case s.boundedBothWays(u.col) && lower:
			return at(0.45)
		case s.boundedBothWays(u.col):
			return at(0.55)
		case lower:
			return at(0.9)
		default:
			return at(0.1)
		}
	case useBetweenLow, useBetweenHigh:
		if len(hist) > 1 {
			i := (len(hist) - 1) / 2
			if u.kind == useBetweenHigh {
				i++
			}
			return hist[i], fmt.Sprintf("histogram bound %d of %d of %s", i+1, len(hist), name), true, nil
		}
	case useIn:
		if len(mcv) > 0 {
			i := u.pos % len(mcv)
			return mcv[i], fmt.Sprintf("most common value %d of %s", i+1, name), true, nil
		}
		if len(hist) > 0 {
			i := (len(hist)/2 + u.pos) % len(hist)
			return hist[i], fmt.Sprintf("histogram bound %d of %d of %s", i+1, len(hist), name), true, nil
		}
	}
	// Equality: the most common value, or with s.typical the histogram's
	// median (the histogram leaves the most common values out). A pattern
	// made of a histogram bound matches that bound, and the planner, which
	// tests patterns against the histogram, expects a hundredth of the
	// rows for it: a sampled row's value is as rare as the column's values.
	if (u.kind == useLike || u.kind == useILike) && (s.typical || len(mcv) == 0) {
		// A sample that fails (no SELECT on the table) has aborted the
		// transaction: its error is the one to report.
		if v, ok, err := s.sample(ctx, conn, u.col); ok || err != nil {
			return v, "sampled from " + name, ok, err
		}
	}
	switch {
	case len(hist) > 0 && (s.typical || len(mcv) == 0):
		return at(0.5)
	case len(mcv) > 0:
		return mcv[0], "most common value of " + name, true, nil
	}
	v, ok, err := s.sample(ctx, conn, u.col)
	return v, "sampled from " + name, ok, err
}

// boundedBothWays reports whether the statement bounds col from below and
// from above with parameters (created_at >= $1 AND created_at < $2).
func (s *synth) boundedBothWays(col columnTarget) bool {
	var below, above bool
	for _, uses := range s.uses {
		for _, u := range uses {
			if u.kind == useRange && u.col == col {
				below = below || u.op == ">" || u.op == ">="
				above = above || u.op == "<" || u.op == "<="
			}
		}
	}
	return below && above
}

// sampleSQL reads one non-null value from a page sample (repeatable, so
// the choice is deterministic), then, when the sample is empty, from the
// table. Names come from the catalog, quoted, never from the query text.
// The column is read bare, in text format (queryOneText), not cast to
// text: the owner of a type can make its cast to text call any function.
const (
	sampleSQL     = "SELECT %[2]s FROM ONLY %[1]s TABLESAMPLE SYSTEM (1) REPEATABLE (0) WHERE %[2]s IS NOT NULL LIMIT 1"
	sampleScanSQL = "SELECT %[2]s FROM ONLY %[1]s WHERE %[2]s IS NOT NULL LIMIT 1"
	// the key is a bound parameter: it comes from the query text.
	sampleKeySQL = "SELECT (%[2]s %[3]s $1::text)::text FROM ONLY %[1]s WHERE %[2]s %[3]s $1::text IS NOT NULL LIMIT 1"
)

func (s *synth) sample(ctx context.Context, conn *pgx.Conn, col columnTarget) (string, bool, error) {
	key := col.table.QualifiedName() + "." + collector.QuoteIdent(col.column.Name)
	if r, ok := s.samples[key]; ok {
		return r.value, r.ok, nil
	}
	if conn == nil {
		return "", false, nil
	}
	var r sampleResult
sampling:
	for _, t := range s.cat.OwnRows(col.table, maxSampledPartitions) {
		for _, q := range []string{sampleSQL, sampleScanSQL} {
			sql := fmt.Sprintf(q, t.QualifiedName(), collector.QuoteIdent(col.column.Name))
			v, ok, err := queryOneText(ctx, conn, sql)
			if err != nil {
				return "", false, fmt.Errorf("sample %s: %w", key, err)
			}
			if ok {
				r = sampleResult{value: v, ok: true}
				break sampling
			}
		}
	}
	s.samples[key] = r
	return r.value, r.ok, nil
}

// maxSampledPartitions bounds the partitions a sample reads one by one.
const maxSampledPartitions = 8

// queryOneText runs a query of the advisor's own and returns the first
// column of the first row; ok is false when there is no row or it is NULL.
// Without args it goes by the simple protocol, where every value comes
// back in text format, as its type's output function (built in, or C)
// writes it.
func queryOneText(ctx context.Context, conn *pgx.Conn, sql string, args ...any) (string, bool, error) {
	mode := pgx.QueryExecModeExec
	if len(args) == 0 {
		mode = pgx.QueryExecModeSimpleProtocol
	}
	var v *string
	err := conn.QueryRow(ctx, dbconn.Marker+sql, append([]any{mode}, args...)...).Scan(&v)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	if v == nil {
		return "", false, nil
	}
	return *v, true, nil
}

// jsonField is col ->> 'key' (or ->) from the most common documents,
// else sampled.
func (s *synth) jsonField(ctx context.Context, conn *pgx.Conn, col columnTarget) (string, string, bool, error) {
	name := col.String()
	if st := col.column.Stats; st != nil {
		for _, doc := range st.MostCommonVals {
			if v, ok := jsonObject(doc)[col.jsonKey]; ok && v != nil {
				return jsonText(v, col.jsonArrow), "most common documents of " + name, true, nil
			}
		}
	}
	if conn == nil {
		return "", "", false, nil
	}
	for _, t := range s.cat.OwnRows(col.table, maxSampledPartitions) {
		sql := fmt.Sprintf(sampleKeySQL, t.QualifiedName(), collector.QuoteIdent(col.column.Name), col.jsonArrow)
		v, ok, err := queryOneText(ctx, conn, sql, col.jsonKey)
		if err != nil {
			return "", "", false, fmt.Errorf("sample %s: %w", name, err)
		}
		if ok {
			return v, "sampled from " + name, true, nil
		}
	}
	return "", "", false, nil
}

// jsonPick is a key and its scalar value from one document, for
// col ->> $k = $v.
type jsonPick struct {
	key    string
	val    any
	source string
	ok     bool
}

func (p jsonPick) value(arrow string) string { return jsonText(p.val, arrow) }

func (s *synth) pickJSON(ctx context.Context, conn *pgx.Conn, col columnTarget) (jsonPick, error) {
	name := col.table.QualifiedName() + "." + collector.QuoteIdent(col.column.Name)
	if p, ok := s.jsonPicks[name]; ok {
		return p, nil
	}
	var docs []string
	source := "most common documents of " + name
	if st := col.column.Stats; st != nil {
		docs = st.MostCommonVals
	}
	if len(docs) == 0 {
		doc, ok, err := s.sample(ctx, conn, columnTarget{table: col.table, column: col.column})
		if err != nil {
			return jsonPick{}, err
		}
		if ok {
			docs, source = []string{doc}, "sampled from "+name
		}
	}
	var pick jsonPick
	for _, doc := range docs {
		obj := jsonObject(doc)
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			switch obj[k].(type) {
			case string, json.Number, bool:
				pick = jsonPick{key: k, val: obj[k], source: source, ok: true}
			}
			if pick.ok {
				break
			}
		}
		if pick.ok {
			break
		}
	}
	s.jsonPicks[name] = pick
	return pick, nil
}

// jsonObject decodes a document that is an object, keeping numbers as
// written; nil for anything else.
func jsonObject(doc string) map[string]any {
	v, ok := decodeJSON(doc)
	if !ok {
		return nil
	}
	obj, _ := v.(map[string]any)
	return obj
}

func decodeJSON(doc string) (any, bool) {
	d := json.NewDecoder(strings.NewReader(doc))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return nil, false
	}
	return v, true
}

// jsonText is what col ->> key (text) or col -> key (JSON) yields.
func jsonText(v any, arrow string) string {
	if s, ok := v.(string); ok && arrow == "->>" {
		return s
	}
	b, err := marshalJSON(v)
	if err != nil {
		return ""
	}
	return string(b)
}

func marshalJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	e := json.NewEncoder(&buf)
	e.SetEscapeHTML(false)
	if err := e.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// containedPart turns a document into one a realistic @> would look for:
// its first key (sorted) with its value, or the first array element.
func containedPart(doc string) string {
	v, ok := decodeJSON(doc)
	if !ok {
		return doc
	}
	var part any
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		if len(keys) == 0 {
			return doc
		}
		sort.Strings(keys)
		part = map[string]any{keys[0]: x[keys[0]]}
	case []any:
		if len(x) == 0 {
			return doc
		}
		part = []any{x[0]}
	default:
		return doc
	}
	b, err := marshalJSON(part)
	if err != nil {
		return doc
	}
	return string(b)
}

// arrayLiteral is the array literal {"v"} of one value.
func arrayLiteral(v string) string {
	return `{"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(v) + `"}`
}

// likePrefix is a LIKE pattern matching v as a prefix, v's own wildcards
// escaped.
func likePrefix(v string) string {
	return likeEscaper.Replace(v) + "%"
}

var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// likeInfix is an ILIKE pattern that finds v by a part of it: a search
// box's "contains", which ILIKE mostly is. Only a trigram index serves
// ILIKE, prefix or not, and a prefix made of a whole value lets the
// planner expect many matches, end a LIMIT early and credit that index
// with nothing.
func likeInfix(v string) string {
	r := []rune(v)
	const part = 8
	if len(r) > part {
		from := (len(r) - part) / 2
		r = r[from : from+part]
	}
	return "%" + likeEscaper.Replace(string(r)) + "%"
}
