package explain

import (
	"cmp"
	"fmt"
	"math"
	"reflect"
	"slices"
	"sort"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
)

// Calibrating a jsonb @> value. What a containment filter looks for is in
// the application, not in the statistics: the audit screen's filters each
// keep well under 1% of the rows, while any one pair of a typical document
// keeps 10% or more, and a GIN index looks useless for it. When all a
// statement returns is the rows its @> keeps, pg_stat_statements' rows per
// call say how many that is, and the value is the part of a sampled
// document whose share of the sample comes closest.

// maxCalibratedPairs bounds the pairs of a calibrated value: filters name a
// few.
const maxCalibratedPairs = 3

// filteredShare reports whether stmt returns exactly the rows its filter
// keeps of one table: a SELECT of plain columns from one table whose WHERE
// is a single operator, or one ANDed with ranges on parameters, with
// nothing that groups, dedupes, limits or combines them. share is what
// the ranges keep of the rows the operator keeps, as the values
// synthesised for them bound them: a tenth for each column bounded on one
// side or both, a histogram bucket for BETWEEN.
func filteredShare(stmt *pg_query.Node) (share float64, ok bool) {
	sel := stmt.GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeVar() == nil ||
		len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.DistinctClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.WindowClause) > 0 || sel.WithClause != nil {
		return 0, false
	}
	for _, t := range sel.TargetList {
		if t.GetResTarget().GetVal().GetColumnRef() == nil {
			return 0, false
		}
	}
	if sel.WhereClause.GetAExpr() != nil {
		return 1, true
	}
	and := sel.WhereClause.GetBoolExpr()
	if and == nil || and.Boolop != pg_query.BoolExprType_AND_EXPR {
		return 0, false
	}
	share, others := 1.0, 0
	ranged := map[string]bool{}
	for _, arg := range and.Args {
		x := arg.GetAExpr()
		if x == nil || x.Lexpr.GetColumnRef() == nil {
			return 0, false
		}
		fields := stringParts(x.Lexpr.GetColumnRef().GetFields())
		col := fields[len(fields)-1] // one table: o.created_at is created_at
		op := ""
		if parts := stringParts(x.Name); len(parts) > 0 {
			op = parts[len(parts)-1]
		}
		switch {
		case x.Kind == pg_query.A_Expr_Kind_AEXPR_BETWEEN && len(x.Rexpr.GetList().GetItems()) == 2 && !ranged[col]:
			ranged[col], share = true, share/100
		case x.Kind == pg_query.A_Expr_Kind_AEXPR_OP && (op == "<" || op == "<=" || op == ">" || op == ">="):
			if _, _, isParam := paramOf(x.Rexpr); !isParam {
				return 0, false
			}
			if !ranged[col] {
				ranged[col], share = true, share/10
			}
		default:
			others++
		}
	}
	return share, others == 1
}

// calibratedContainment is the value of a @> on col whose estimated rows
// come closest to s.rowsPerCall, with where it came from; ok is false when
// there is nothing to calibrate against (no rows per call, col is a field
// of the documents, no statistics or row count).
func (s *synth) calibratedContainment(col columnTarget) (value, source string, ok bool) {
	if s.rowsPerCall <= 0 || col.table == nil || col.column == nil || col.jsonKey != "" || col.keyParam > 0 ||
		col.column.Stats == nil || col.table.RelTuples <= 0 {
		return "", "", false
	}
	sample := sampledDocuments(col.column.Stats)
	rows := col.table.RelTuples * (1 - col.column.Stats.NullFrac)
	best, bestDist := "", math.Inf(1)
	for _, cand := range containmentCandidates(sample) {
		if dist := logDistance(rows*cand.share*s.rangeShare, s.rowsPerCall); dist < bestDist {
			best, bestDist = cand.value, dist
		}
	}
	if best == "" {
		return "", "", false
	}
	return best, fmt.Sprintf("calibrated to %.0f rows a call (pg_stat_statements) on the documents in the statistics of %s",
		s.rowsPerCall, col), true
}

// logDistance is how far apart two row counts are, as a ratio: finding 10
// rows where 100 were wanted is as far off as finding 1,000.
func logDistance(rows, want float64) float64 { return math.Abs(math.Log(rows / want)) }

// Calibrating an equality value for what-if costing, for the same kind of
// statement: the typical value is the histogram's median, which stands for
// the values outside the most common ones, each of which keeps a small
// share of the rows. When calls return many rows a call, they look for
// common values (a status filter returning thousands of rows), and planned
// with a rare one the statement makes an index on the column look like a
// cure.

// calibratedEquality is the most common value of col = $n (op "=") whose
// estimated rows come closest to s.rowsPerCall, when one comes closer than
// a value outside that list (those share the rest of the non-null rows
// evenly); ok is false otherwise, and the typical value stands.
func (s *synth) calibratedEquality(u paramUse) (value, source string, ok bool) {
	col := u.col
	if !s.typical || s.rowsPerCall <= 0 || u.op != "=" || col.table == nil || col.column == nil || col.column.Stats == nil ||
		col.table.RelTuples <= 0 || col.transform != "" || col.jsonKey != "" || col.keyParam > 0 {
		return "", "", false
	}
	st, rows := col.column.Stats, col.table.RelTuples
	rest, best, bestDist := 1-st.NullFrac, -1, math.Inf(1)
	for i, freq := range st.MostCommonFreqs {
		if i >= len(st.MostCommonVals) {
			break
		}
		rest -= freq
		if dist := logDistance(rows*freq*s.rangeShare, s.rowsPerCall); dist < bestDist {
			best, bestDist = i, dist
		}
	}
	distinct := st.NDistinct
	if distinct < 0 {
		distinct *= -rows
	}
	if others := distinct - float64(len(st.MostCommonVals)); best < 0 ||
		others >= 1 && rest > 0 && logDistance(rows*rest/others*s.rangeShare, s.rowsPerCall) <= bestDist {
		return "", "", false
	}
	return st.MostCommonVals[best], fmt.Sprintf("most common value %d of %s, calibrated to %.0f rows a call (pg_stat_statements)",
		best+1, col, s.rowsPerCall), true
}

// weightedDocument is an object among a column's statistics with the share
// of the rows it stands for; common when it is a most common value.
type weightedDocument struct {
	pairs  map[string]any
	weight float64
	common bool
}

// sampledDocuments are the objects among st's most common values, each
// weighted by its frequency, and its histogram bounds, which share the
// rest of the non-null rows evenly. Weights are shares of the non-null rows.
func sampledDocuments(st *collector.ColumnStats) []weightedDocument {
	var docs []weightedDocument
	add := func(doc string, w float64, common bool) {
		if v, ok := decodeJSON(doc); ok {
			if m, ok := v.(map[string]any); ok && len(m) > 0 && w > 0 {
				docs = append(docs, weightedDocument{pairs: m, weight: w, common: common})
			}
		}
	}
	nonNull := 1 - st.NullFrac
	if nonNull <= 0 {
		return nil
	}
	rest := nonNull
	for i, doc := range st.MostCommonVals {
		if i < len(st.MostCommonFreqs) {
			add(doc, st.MostCommonFreqs[i]/nonNull, true)
			rest -= st.MostCommonFreqs[i]
		}
	}
	for _, doc := range st.HistogramBounds {
		add(doc, max(rest, 0)/nonNull/float64(len(st.HistogramBounds)), false)
	}
	return docs
}

// containmentCandidate is a document part with the share of the non-null
// rows whose documents hold it, by the sample.
type containmentCandidate struct {
	value string
	share float64
}

// containmentCandidates are the parts of the sampled documents, of up to
// maxCalibratedPairs pairs, with their shares, sorted by value. A pair held
// by one histogram document alone (a count, an id) is left out: the sample
// would credit it with a whole bucket of rows where it keeps a handful.
func containmentCandidates(sample []weightedDocument) []containmentCandidate {
	holds := func(d weightedDocument, part map[string]any) bool {
		for k, v := range part {
			if dv, ok := d.pairs[k]; !ok || !reflect.DeepEqual(dv, v) {
				return false
			}
		}
		return true
	}
	shared := func(k string, v any) bool {
		seen := 0
		for _, d := range sample {
			if holds(d, map[string]any{k: v}) {
				if d.common {
					return true
				}
				seen++
			}
		}
		return seen >= 2
	}
	byValue := map[string]float64{}
	for _, d := range sample {
		var keys []string
		for k, v := range d.pairs {
			if shared(k, v) {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, subset := range subsets(keys, maxCalibratedPairs) {
			part := map[string]any{}
			for _, k := range subset {
				part[k] = d.pairs[k]
			}
			b, err := marshalJSON(part)
			if err != nil {
				continue
			}
			if _, done := byValue[string(b)]; done {
				continue
			}
			var share float64
			for _, x := range sample {
				if holds(x, part) {
					share += x.weight
				}
			}
			byValue[string(b)] = share
		}
	}
	out := make([]containmentCandidate, 0, len(byValue))
	for v, share := range byValue {
		out = append(out, containmentCandidate{value: v, share: share})
	}
	slices.SortFunc(out, func(a, b containmentCandidate) int { return cmp.Compare(a.value, b.value) })
	return out
}

// subsets are the non-empty subsets of keys of at most n keys, each in
// keys' order.
func subsets(keys []string, n int) [][]string {
	var out [][]string
	var grow func(start int, cur []string)
	grow = func(start int, cur []string) {
		for i := start; i < len(keys); i++ {
			next := append(slices.Clone(cur), keys[i])
			out = append(out, next)
			if len(next) < n {
				grow(i+1, next)
			}
		}
	}
	grow(0, nil)
	return out
}
