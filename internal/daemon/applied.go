package daemon

import (
	"cmp"
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// appliedNotesFor is how long after an index was found built the reports
// keep saying what it gained.
const appliedNotesFor = 7 * 24 * time.Hour

// trackApplied looks in the catalog for the indexes of the target's open
// and gone recommendations (one built after its statement dropped out of
// the ranking is never recommended again). A valid one is marked applied: from then on the store
// measures the served statements' mean time in the first window that
// begins after. An invalid one (a failed or running CONCURRENTLY build)
// is not, and the returned notes say what to do.
func (d *Daemon) trackApplied(ctx context.Context, t *target, at advisor.Target, records []state.Record) []string {
	byDB := map[string][]advisor.Recommendation{}
	for _, rd := range records {
		if rd.Status == state.StatusOpen || rd.Status == state.StatusGone {
			byDB[rd.Recommendation.Database] = append(byDB[rd.Recommendation.Database], rd.Recommendation)
		}
	}
	var notes []string
	for _, db := range slices.Sorted(maps.Keys(byDB)) {
		cat, err := collector.ReadCatalog(ctx, at.DSN, db, t.log)
		if err != nil {
			t.log.Warn("built indexes not checked", zap.String("database", db), zap.Error(err))
			continue
		}
		for _, rec := range byDB[db] {
			ix, ok := builtIndex(cat, &rec)
			switch {
			case !ok:
			case !ix.Valid:
				notes = append(notes, fmt.Sprintf("index %s.%s, built for recommendation %s, is not valid: "+
					"a CREATE INDEX CONCURRENTLY that is still running or failed. Once no build runs, "+
					"DROP INDEX CONCURRENTLY %s.%s; and run the recommendation's DDL again",
					collector.QuoteIdent(ix.Schema), collector.QuoteIdent(ix.Name), rec.ID,
					collector.QuoteIdent(ix.Schema), collector.QuoteIdent(ix.Name)))
			default:
				if err := d.store.MarkApplied(t.name, rec.ID, cat.TakenAt); err != nil {
					t.log.Error("built index not recorded", zap.String("recommendation", rec.ID), zap.Error(err))
					continue
				}
				t.log.Info("recommended index found built", zap.String("database", db),
					zap.String("index", ix.Schema+"."+ix.Name), zap.String("recommendation", rec.ID))
			}
		}
	}
	return notes
}

// builtIndex finds the index that builds rec in the catalog.
func builtIndex(cat *collector.Catalog, rec *advisor.Recommendation) (collector.Index, bool) {
	for _, ix := range cat.IndexesOn(rec.Table) {
		if rec.BuiltBy(ix) {
			return ix, true
		}
	}
	return collector.Index{}, false
}

// withServedStatements is r as the store should measure it: a built index
// usually takes the statements it serves out of the top ranks, so the
// window's figures for those of applied, not yet measured recommendations
// are added where the report lacks them. Only the store sees this copy.
func withServedStatements(r *advisor.Report, d *collector.Delta, records []state.Record) *advisor.Report {
	type key struct{ db, queryid string }
	want := map[key]bool{}
	for _, rd := range records {
		if rd.Status == state.StatusApplied && rd.RealizedAt.IsZero() {
			for _, q := range rd.Recommendation.QueryIDs {
				want[key{rd.Recommendation.Database, q}] = true
			}
		}
	}
	if len(want) == 0 {
		return r
	}
	for _, s := range r.Statements {
		delete(want, key{s.Database, s.QueryID})
	}
	out := *r
	out.Statements = slices.Clone(r.Statements)
	for _, s := range d.Statements {
		// The advisor's own EXPLAINs of the statement share its queryid.
		if want[key{s.Database, s.QueryID}] && s.Calls > 0 && !s.Text.Own && !s.Text.Utility && !s.Text.Internal {
			out.Statements = append(out.Statements, advisor.Statement{
				QueryID: s.QueryID, Database: s.Database, User: s.User, Query: s.Text.Query,
				Calls: s.Calls, TotalExecTimeMS: s.TotalExecTime, MeanExecTimeMS: s.MeanExecTime,
			})
		}
	}
	return &out
}

// applied lists the indexes found built in the last appliedNotesFor, with
// what the statements they serve gained (or that it is not measured yet),
// typed for the JSON report and as sentences for people.
func applied(records []state.Record, now time.Time) ([]advisor.AppliedIndex, []string) {
	var recent []state.Record
	for _, rd := range records {
		if rd.Status == state.StatusApplied && now.Sub(rd.AppliedAt) <= appliedNotesFor {
			recent = append(recent, rd)
		}
	}
	slices.SortFunc(recent, func(a, b state.Record) int {
		return cmp.Or(a.AppliedAt.Compare(b.AppliedAt), cmp.Compare(a.Recommendation.ID, b.Recommendation.ID))
	})
	var out []advisor.AppliedIndex
	var notes []string
	for _, rd := range recent {
		rec := rd.Recommendation
		a := advisor.AppliedIndex{
			RecommendationID: rec.ID, Index: rec.IndexName(), Table: rec.Table, AppliedAt: rd.AppliedAt.UTC(),
			Measured: !rd.RealizedAt.IsZero(), MeanBeforeMS: rd.MeanBeforeMS, MeanAfterMS: rd.MeanAfterMS,
			ImprovementPct: rd.RealizedPct(), QueryIDs: rec.QueryIDs,
		}
		out = append(out, a)
		what := fmt.Sprintf("index %s on %s (recommendation %s), found built at %s", cmp.Or(a.Index, "(unnamed)"),
			a.Table, a.RecommendationID, a.AppliedAt.Format(time.RFC3339))
		switch {
		case !a.Measured:
			notes = append(notes, what+": its realized gain is measured by the first analysis window that starts after it")
		case a.ImprovementPct >= 0:
			notes = append(notes, fmt.Sprintf("%s: realized gain %.1f%%, the statements it serves went from %.3g ms to %.3g ms per call on average",
				what, a.ImprovementPct, a.MeanBeforeMS, a.MeanAfterMS))
		default:
			notes = append(notes, fmt.Sprintf("%s: regression, the statements it serves went from %.3g ms to %.3g ms per call on average (%.1f%% slower): "+
				"compare their plans (queryids %v) before dropping it", what, a.MeanBeforeMS, a.MeanAfterMS, -a.ImprovementPct, a.QueryIDs))
		}
	}
	return out, notes
}
