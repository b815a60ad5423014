package advisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

// Target names the recommended index briefly:
// "public.orders (tenant_id, created_at DESC) WHERE deleted_at IS NULL".
func (r *Recommendation) Target() string {
	s := r.Table + " (" + strings.Join(r.Columns, ", ") + ")"
	if len(r.Include) > 0 {
		include := make([]string, len(r.Include))
		for i, c := range r.Include {
			include[i] = collector.QuoteIdent(c)
		}
		s += " INCLUDE (" + strings.Join(include, ", ") + ")"
	}
	if r.Where != "" {
		s += " WHERE " + r.Where
	}
	return s
}

// guessesIndex reports whether f is a plan finding whose Fix is read off
// the plan alone (explain's heuristics: an index on the filtered columns,
// equality first), before any what-if costing.
func guessesIndex(f explain.Finding) bool {
	return (f.Kind == explain.KindSeqScan || f.Kind == explain.KindInefficientIndex) && f.QueryID != ""
}

// pointFixesAtRecommendations replaces the guessed index of each plan
// finding with the recommended index that serves the finding's statement
// on the same table (or its partitioned parent), and the costs that chose it. The guess can differ from
// what the costing chose (a btree on the filtered columns where a GIN index
// serves the text search that discards the rows, or no partial predicate),
// and a report must not offer two indexes for one problem. A misestimate
// on an expression learns of the recommended index on it, and an
// unindexed foreign key of the one that leads with its columns. The costs
// quoted name the values the statement was planned with (workload's),
// which may not be those of the plan the finding is read from.
func pointFixesAtRecommendations(findings []explain.Finding, recs []Recommendation, workload []WorkloadStatement, cat *collector.Catalog) {
	norm := normalizer{}
	for i := range findings {
		f := &findings[i]
		switch f.Kind {
		case explain.KindMisestimate:
			pointAtExpressionIndex(f, recs, norm)
			continue
		case "unindexed_fk":
			pointAtForeignKeyIndex(f, recs)
			continue
		}
		if !guessesIndex(*f) {
			continue
		}
		// Several serve it together where its condition is an OR of
		// columns (a BitmapOr of one index per arm).
		var serving []string
		var gain *StatementGain
		for j := range recs {
			r := &recs[j]
			k := slices.IndexFunc(r.Statements, func(g StatementGain) bool { return g.QueryID == f.QueryID })
			if k < 0 || !sameTable(r.Table, f.Table) && !within(cat, f.Table, r.Table) {
				continue
			}
			serving = append(serving, r.Method+" index on "+r.Target())
			if gain == nil && r.Costed() {
				gain = &r.Statements[k]
			}
		}
		if len(serving) == 0 {
			continue
		}
		f.Fix = fmt.Sprintf("Build the recommended %s (its DDL and evidence are with the recommendations)", strings.Join(serving, " and the "))
		if len(serving) > 1 {
			f.Fix = fmt.Sprintf("Build the recommended %s, which serve it together (their DDL and evidence are with the recommendations)", strings.Join(serving, " and the "))
		}
		if gain != nil && gain.CostAfter < gain.CostBefore {
			// The cost after is with every recommended index.
			f.Fix += fmt.Sprintf(": with the recommended indexes, what-if plans put this statement's planner cost at %.1f per call instead of %.1f", gain.CostAfter, gain.CostBefore)
			if i := slices.IndexFunc(workload, func(w WorkloadStatement) bool { return w.QueryID == f.QueryID }); i >= 0 && len(workload[i].Params) > 0 {
				f.Fix += " (planned with " + paramList(workload[i].Params) + ")"
			}
		}
		f.Fix += "."
	}
}

// pointAtForeignKeyIndex makes an unindexed foreign key's fix the
// recommended btree index that leads with its columns, when one does:
// built, it serves the key's checks too, and the index on the columns
// alone would be a redundant prefix of it.
func pointAtForeignKeyIndex(f *explain.Finding, recs []Recommendation) {
	cols, _ := f.Evidence["columns"].([]string)
	for _, r := range recs {
		if len(cols) == 0 || r.Table != f.Table || r.Method != "btree" || r.Where != "" || len(r.Columns) < len(cols) {
			continue
		}
		lead := map[string]bool{} // the leading keys, each a column of the foreign key
		for _, key := range r.Columns[:len(cols)] {
			lead[strings.TrimSuffix(key, " DESC")] = true
		}
		if !slices.ContainsFunc(cols, func(c string) bool { return !lead[collector.QuoteIdent(c)] }) {
			f.Fix = fmt.Sprintf("Build the recommended btree index on %s (its DDL and evidence are with the recommendations): it leads with the foreign key's columns, so it serves the key's checks too.", r.Target())
			return
		}
	}
}

// sameTable reports whether a recommendation's schema-qualified table is
// the plan's table, which EXPLAIN names without its schema.
func sameTable(qualified, planTable string) bool {
	if planTable == "" {
		return false
	}
	return qualified == planTable || strings.HasSuffix(qualified, "."+planTable)
}

// pointAtExpressionIndex adds to a misestimate whose scan filter tests an
// expression without statistics the recommended index on that expression,
// when one serves the statement: the ANALYZE its DDL ends with gathers
// statistics on it, so a statistics object for that expression is not
// needed beside it.
func pointAtExpressionIndex(f *explain.Finding, recs []Recommendation, norm normalizer) {
	var exprs []string
	switch v := f.Evidence["expressions"].(type) {
	case []string:
		exprs = v
	case []any: // read back from JSON
		for _, x := range v {
			if s, ok := x.(string); ok {
				exprs = append(exprs, s)
			}
		}
	}
	for _, r := range recs {
		// The planner ignores a partial index's statistics.
		if r.Where != "" || !slices.Contains(r.QueryIDs, f.QueryID) || !sameTable(r.Table, f.Table) {
			continue
		}
		for _, c := range r.Columns {
			if slices.ContainsFunc(exprs, func(e string) bool { return norm.norm(e) == norm.norm(c) }) {
				f.Fix += fmt.Sprintf(" The recommended %s index on %s is on %s: building it, with the ANALYZE its DDL ends with, gathers statistics on it.", r.Method, r.Target(), c)
				return
			}
		}
	}
}
