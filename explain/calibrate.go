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

// returnsFilteredRows reports whether stmt returns exactly the rows its
// filter keeps of one table: a SELECT of plain columns from one table whose
// WHERE is a single operator, with nothing that groups, dedupes, limits or
// combines them.
func returnsFilteredRows(stmt *pg_query.Node) bool {
	sel := stmt.GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeVar() == nil ||
		sel.WhereClause.GetAExpr() == nil || len(sel.GroupClause) > 0 || sel.HavingClause != nil || len(sel.DistinctClause) > 0 ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.WindowClause) > 0 || sel.WithClause != nil {
		return false
	}
	for _, t := range sel.TargetList {
		if t.GetResTarget().GetVal().GetColumnRef() == nil {
			return false
		}
	}
	return true
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
		est := rows * cand.share
		if dist := math.Abs(math.Log(est / s.rowsPerCall)); dist < bestDist {
			best, bestDist = cand.value, dist
		}
	}
	if best == "" {
		return "", "", false
	}
	return best, fmt.Sprintf("calibrated to %.0f rows a call (pg_stat_statements) on the documents in the statistics of %s",
		s.rowsPerCall, col), true
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
