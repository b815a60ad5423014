package advisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
)

// SelectOptions limit what Select recommends.
type SelectOptions struct {
	// MaxPerTable is how many new indexes one table may get; 0 means 5.
	MaxPerTable int
	// BudgetBytes bounds the total estimated size of the new indexes (the
	// deduplication-corrected estimate); 0 means no bound.
	BudgetBytes int64
	// MinImprovementPct is how much a statement's planner cost must drop
	// for an index to count as serving it; 0 means 30.
	MinImprovementPct float64
}

const (
	defaultMaxPerTable       = 5
	defaultMinImprovementPct = 30
	// keepShare: an index chosen earlier is dropped when a later pick on
	// the same table takes over all but this share of its gain, so one
	// composite (a, b) replaces (a) when it serves a = $1 nearly as well.
	keepShare = 0.10
	// minBaselineShare: a covering index must cut at least this share of
	// a statement's original cost to count as serving it, or, probed by
	// a nested loop, minProbeGainPerCall: about 25 heap fetches saved.
	minBaselineShare    = 0.10
	minProbeGainPerCall = 100
	// minGainPerCall: an index serves a statement only when it saves this
	// much planner cost per call as well. A smaller drop trades a scan of a
	// few pages for an index probe, which the planner prices lower but
	// which is no faster: on the benchmark's OLTP workload the 112
	// statements whose cost dropped by less than 20 per call ran no faster
	// measured (median change -0.003 to -0.025 ms), those that dropped by
	// 20 to 50 ran 0.05 ms faster, and by 100 to 300, 0.4 ms.
	minGainPerCall = 20
)

// Select chooses, across the whole workload, the candidate indexes worth
// building. With HypoPG (w available) it is greedy by gain per byte: the
// gain of an index is the sum, over the statements it serves, of calls x
// (cost before - cost after), where a statement counts as served only when
// its cost drops by MinImprovementPct, and by minGainPerCall from what it
// cost without new indexes; after each pick the remaining
// candidates are costed again with the chosen ones present, so an index
// that another pick already makes useless loses its gain, and an earlier
// pick that a later composite nearly replaces is dropped (the composite may
// take its place on a table at its limit). What the index costs the
// window's writes (writes, from WorkloadWrites) is taken off its gain, and
// an index that does not gain more than that is not built. A candidate
// that is a prefix of a chosen index (with a compatible predicate) is
// redundant. When no candidate is left to pick, two chosen indexes whose
// keys lead one another may fold into one (fold), or a candidate a table's
// limit kept out may take the place of a chosen index that gains the
// workload less (swap), and picking resumes. The evidence comes from planning
// the workload once more with every chosen index present: cost before is
// without any new index, cost after with all of them, and a statement is
// credited to each chosen index its plan uses.
//
// A GIN candidate, which HypoPG cannot simulate, is costed through a
// stand-in where its statements allow (standin.go). Without HypoPG (w nil
// or unavailable), or for candidates it can neither simulate nor stand in
// for, it falls back to heuristics: unvalidated recommendations
// ranked by the planner cost of the statements that produced them, skipping
// those whose statements already use an index of the table or already have
// an unvalidated recommendation of the same method and leading key.
func Select(ctx context.Context, w *WhatIf, cat *collector.Catalog, cands []Candidate, stmts []WorkloadStatement, writes []Write, opts SelectOptions, log *zap.Logger) ([]Recommendation, error) {
	if cat == nil {
		return nil, errors.New("select indexes: no catalog")
	}
	if opts.MaxPerTable < 0 || opts.BudgetBytes < 0 || opts.MinImprovementPct < 0 || opts.MinImprovementPct >= 100 {
		return nil, fmt.Errorf("select indexes: invalid options %+v: want MaxPerTable >= 0, BudgetBytes >= 0, 0 <= MinImprovementPct < 100", opts)
	}
	if opts.MaxPerTable == 0 {
		opts.MaxPerTable = defaultMaxPerTable
	}
	if opts.MinImprovementPct == 0 {
		opts.MinImprovementPct = defaultMinImprovementPct
	}
	if log == nil {
		log = zap.NewNop()
	}
	s := &selection{w: w, cat: cat, opts: opts, log: log, writes: writes, perTable: map[string]int{}, samples: map[string]indexSample{}, foldTried: map[[2]string]bool{}, swapTried: map[string]bool{}}
	for _, st := range stmts {
		if st.Database == "" || cat.Database == "" || st.Database == cat.Database {
			s.stmts = append(s.stmts, st)
		}
	}
	entries := s.entries(cands)
	s.orGroups = orGroupsOf(cat.Database, cands)
	if w != nil {
		base, err := w.Baseline(ctx, s.stmts)
		if err != nil {
			return nil, fmt.Errorf("select indexes: %w", err)
		}
		s.base = base
		s.timeWeights = timeWeights(s.stmts, base)
	}

	var unvalidated []*entry
	validated := entries
	if ok, note := s.available(); !ok {
		for _, e := range entries {
			e.note = note
		}
		validated, unvalidated = nil, entries
	}
	var recs []Recommendation
	if len(validated) > 0 {
		var err error
		if recs, unvalidated, err = s.validated(ctx, validated); err != nil {
			return nil, fmt.Errorf("select indexes: %w", err)
		}
	}
	heuristic, displaced := s.heuristic(unvalidated, recs)
	recs = withoutRecommendations(recs, displaced)
	s.creditTimeSaved(recs) // among those that stay
	slices.SortFunc(recs, func(a, b Recommendation) int {
		return cmp.Or(cmp.Compare(b.TimeSavedMS, a.TimeSavedMS), cmp.Compare(b.CostBefore-b.CostAfter, a.CostBefore-a.CostAfter), cmp.Compare(a.ID, b.ID))
	})
	// Unvalidated ones have no proven benefit: they follow, in heuristic order.
	recs = append(recs, heuristic...)
	for i, r := range recs {
		if len(r.Replaces) > 0 {
			drops := make([]string, len(r.Replaces))
			for j, name := range r.Replaces {
				drops[j] = "DROP INDEX CONCURRENTLY " + name + ";"
			}
			recs[i].Reason += fmt.Sprintf(" It makes %s redundant: once it is built and valid, %s",
				strings.Join(r.Replaces, ", "), strings.Join(drops, " "))
		}
	}
	return recs, nil
}

// replacedIndexes are the existing btree indexes c makes redundant: its
// keys lead with all of theirs, under the same predicate, and it stores
// their INCLUDE columns. Indexes that enforce uniqueness or a constraint
// stay, and so do those of partitioned tables and partitions, which
// cannot be dropped concurrently or alone.
func replacedIndexes(cat *collector.Catalog, c Candidate) []string {
	if t := findTable(cat, c.Table); methodOf(c) != "btree" || t == nil || t.Kind == "p" || t.Parent != "" {
		return nil
	}
	n, stored := normalizer{}, storedNames(c)
	var out []string
	for _, ix := range cat.IndexesOn(c.Table) {
		if ix.Valid && ix.Method == "btree" && !ix.Unique && !ix.Primary && !ix.Constraint && len(ix.Keys) < len(c.Keys) &&
			n.norm(ix.Predicate) == n.norm(c.Where) && n.keysLead(c.Keys, ix.Keys, 0) &&
			!slices.ContainsFunc(ix.Include, func(col string) bool { return !slices.Contains(stored, col) }) {
			out = append(out, qualifiedIndexName(&ix))
		}
	}
	return out
}

// withoutRecommendations drops the recommendations whose IDs are in gone,
// and those IDs from the others' evidence (StatementGain.With), whose
// costs after were planned with them present all the same; a cost without
// the index that shared the statement with them no longer holds.
func withoutRecommendations(recs []Recommendation, gone map[string]bool) []Recommendation {
	recs = slices.DeleteFunc(recs, func(r Recommendation) bool { return gone[r.ID] })
	for _, r := range recs {
		for k := range r.Statements {
			g := &r.Statements[k]
			if slices.ContainsFunc(g.With, func(id string) bool { return gone[id] }) {
				g.With = slices.DeleteFunc(g.With, func(id string) bool { return gone[id] })
				g.CostWithout = 0
			}
		}
	}
	return recs
}

type selection struct {
	w        *WhatIf
	cat      *collector.Catalog
	opts     SelectOptions
	log      *zap.Logger
	stmts    []WorkloadStatement
	writes   []Write
	base     []StatementCost // per statement without new indexes; nil without a WhatIf
	chosen   []*entry
	perTable map[string]int
	used     int64 // corrected bytes of the chosen indexes
	samples  map[string]indexSample
	// foldTried holds the pairs of chosen indexes (by id) fold has costed.
	foldTried map[[2]string]bool
	// swapTried holds the entries (by id) swap has costed.
	swapTried map[string]bool
	// orGroups are the candidates (by id) of each OR's arms, by
	// Candidate.OrGroup, with the statement of the OR.
	orGroups map[string]orGroup
	// timeWeights are, by QueryID, what a unit of each statement's
	// planner cost weighs in measured time (see timeWeights).
	timeWeights map[string]float64
}

// orGroup is the indexes one OR's arms need, which serve its statement
// only together.
type orGroup struct {
	queryID string
	ids     []string
}

// orGroupsOf gathers the OR groups of cands.
func orGroupsOf(database string, cands []Candidate) map[string]orGroup {
	groups := map[string]orGroup{}
	for _, c := range cands {
		if c.OrGroup == "" || len(c.QueryIDs) == 0 {
			continue
		}
		g := groups[c.OrGroup]
		g.queryID, g.ids = c.QueryIDs[0], append(g.ids, recommendationID(database, c))
		groups[c.OrGroup] = g
	}
	return groups
}

// entry is one distinct candidate as selection sees it.
type entry struct {
	c        Candidate
	id       string
	table    *collector.Table
	script   IndexScript
	hypoSize int64
	size     int64    // corrected estimate
	effects  []Effect // from its latest costing, relative to the chosen set then
	gain     float64  // calls-weighted cost drop over the statements it serves
	writes   []IndexWrite
	// writeCost is what maintaining it costs the window's writes, in the
	// gain's units.
	writeCost float64
	pickGain  float64 // gain when it was picked
	out       bool    // picked, dropped or redundant
	note      string  // why it is not validated
	// standIn is the hypothetical index costed in its place when HypoPG
	// cannot simulate it (GIN, see standin.go); nil otherwise.
	standIn *Candidate
	// whys are the reasons the candidates merged into it gave, by the
	// statement each was proposed for; nil when c.Why stands for all.
	whys   map[string]string
	folded bool // it replaces two chosen indexes (tryFold)
	// onlyIncludes: an existing index has its keys, so it can serve a
	// statement only by an index-only scan. A plan that reads it otherwise
	// gains nothing but the hypothetical index's own artefact: HypoPG
	// prices a descent of it cheaper than of the real index on the same
	// keys, which a nested loop's thousands of probes make look like a win.
	onlyIncludes bool
}

func (s *selection) available() (bool, string) {
	if s.w == nil {
		return false, "no EXPLAIN target connection: the candidates were not costed"
	}
	return s.w.Available()
}

// entries merges candidates with the same definition and leaves out those
// no DDL can be written for.
func (s *selection) entries(cands []Candidate) []*entry {
	var out []*entry
	byID := map[string]*entry{}
	for _, c := range cands {
		id := recommendationID(s.cat.Database, c)
		if e, ok := byID[id]; ok {
			e.c.QueryIDs = appendMissing(e.c.QueryIDs, c.QueryIDs)
			e.addWhys(c)
			continue
		}
		script, err := IndexDDL(s.cat, c)
		if err != nil {
			s.log.Warn("candidate index left out", zap.String("table", c.Table), zap.Error(err))
			continue
		}
		c.QueryIDs = slices.Clone(c.QueryIDs)
		e := &entry{c: c, id: id, table: findTable(s.cat, c.Table), script: script, whys: map[string]string{},
			onlyIncludes: len(c.Include) > 0 && keysIndexed(s.cat, c)}
		e.addWhys(c)
		// A partial index is charged for every row until its share is known.
		e.setWrites(indexWrites(c, e.table, s.writes, s.cat, 1))
		byID[id] = e
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b *entry) int { return cmp.Compare(a.id, b.id) })
	return out
}

// keysIndexed reports whether a valid btree index of c's table leads with
// c's keys, in order (or all reversed), with c's predicate: c adds only its
// INCLUDE columns to it. (A partial c over a full index skips the rows its
// predicate leaves out.)
func keysIndexed(cat *collector.Catalog, c Candidate) bool {
	n := normalizer{}
	return methodOf(c) == "btree" && slices.ContainsFunc(cat.Indexes, func(ix collector.Index) bool {
		return ix.Valid && ix.Table == c.Table && ix.Method == "btree" && n.norm(ix.Predicate) == n.norm(c.Where) && n.keysLead(ix.Keys, c.Keys, 0)
	})
}

// addWhys records c's reason for each statement c was proposed for that
// has none yet.
func (e *entry) addWhys(c Candidate) {
	for _, q := range c.QueryIDs {
		if _, ok := e.whys[q]; !ok && c.Why != "" {
			e.whys[q] = c.Why
		}
	}
}

// refusedByPostgres reports a HypoPG failure that is PostgreSQL refusing
// the index definition itself (a mutable function in an expression, an
// operator class that does not fit), which no real build would get past.
// HypoPG's own limits, such as an access method it cannot simulate, are
// internal errors (XX000): those indexes may still be built, uncosted.
func refusedByPostgres(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code != "XX000"
}

// validated runs the greedy selection with HypoPG and returns the
// recommendations and the entries HypoPG could not simulate.
func (s *selection) validated(ctx context.Context, pool []*entry) ([]Recommendation, []*entry, error) {
	if err := s.prepareStandIns(ctx, pool); err != nil {
		return nil, nil, err
	}
	costed, err := s.w.Evaluate(ctx, nil, candidatesOf(pool), s.stmts)
	if err != nil {
		return nil, nil, err
	}
	var simulated, failed []*entry
	for i, e := range pool {
		if e.standIn != nil && costed[i].Err != nil {
			s.log.Debug("stand-in not costed", zap.String("id", e.id), zap.Error(costed[i].Err))
			e.standIn, e.note = nil, hypoGINNote+notCostedSuffix
			failed = append(failed, e)
			continue
		}
		if err := costed[i].Err; refusedByPostgres(err) {
			s.log.Warn("index candidate dropped: PostgreSQL would refuse to build it", zap.String("ddl", e.script.SQL()), zap.Error(err))
			continue
		}
		if costed[i].Err != nil {
			e.note = fmt.Sprintf("HypoPG could not simulate this index (%v)%s", costed[i].Err, notCostedSuffix)
			failed = append(failed, e)
			continue
		}
		var share float64
		if e.standIn != nil {
			if e.size, err = s.ginSize(ctx, e); err != nil { // the stand-in's size is not the GIN index's
				return nil, nil, err
			}
			share = 1
		} else {
			e.hypoSize = costed[i].HypoSizeBytes
			if e.size, share, err = s.sizeAndShare(ctx, e); err != nil {
				return nil, nil, err
			}
		}
		e.setWrites(indexWrites(e.c, e.table, s.writes, s.cat, share))
		s.setEffects(e, costed[i].Statements)
		simulated = append(simulated, e)
	}
	for {
		best := s.best(simulated)
		if best == nil {
			// A fold, or else a swap, changes the chosen set: the room it
			// frees may take another pick.
			changed, err := s.fold(ctx)
			if err == nil && changed == nil {
				changed, err = s.swap(ctx, simulated)
			}
			if err != nil {
				return nil, nil, err
			}
			if changed == nil {
				break
			}
			if err := s.reevaluate(ctx, simulated, changed); err != nil {
				return nil, nil, err
			}
			continue
		}
		best.out, best.pickGain = true, best.gain
		s.add(best)
		pruned, err := s.prune(ctx, best)
		if err != nil {
			return nil, nil, err
		}
		if !s.withinLimits(best.c.Table) {
			// best fitted only by replacing chosen indexes that it turned
			// out not to replace: take it back.
			s.remove(best)
			for _, e := range pruned {
				s.add(e)
			}
			continue
		}
		if err := s.reevaluate(ctx, simulated, best); err != nil {
			return nil, nil, err
		}
	}
	if err := s.pickOrGroups(ctx, simulated); err != nil {
		return nil, nil, err
	}
	for _, e := range simulated {
		if e.standIn != nil && !slices.Contains(s.chosen, e) && !slices.ContainsFunc(e.effects, func(ef Effect) bool { return ef.UsesIndex }) {
			// The planner ignored its stand-in (the statement's value is
			// too common to be worth an index): left to the heuristics,
			// uncosted, as if it had none.
			e.standIn, e.note = nil, hypoGINNote+notCostedSuffix
			failed = append(failed, e)
		}
	}
	if err := s.foldPathOps(ctx); err != nil {
		return nil, nil, err
	}
	if err := s.dropUnneeded(ctx); err != nil {
		return nil, nil, err
	}
	recs, err := s.evidence(ctx)
	return recs, failed, err
}

// pickOrGroups adds the indexes an OR's arms need all at once, which the
// greedy pass, adding one index at a time, cannot: with one of them alone
// the statement stays a sequential scan. A group goes in when those of its
// indexes not chosen yet fit the budget and the table's limit, the plan
// with them uses each, and the statement's cost improves (improves) by
// more than their write cost. dropUnneeded checks them like the rest.
func (s *selection) pickOrGroups(ctx context.Context, pool []*entry) error {
	for _, name := range slices.Sorted(maps.Keys(s.orGroups)) {
		g := s.orGroups[name]
		st := s.statement(g.queryID)
		var arms []*entry
		simulated := st.QueryID != ""
		for _, id := range g.ids {
			i := slices.IndexFunc(pool, func(e *entry) bool { return e.id == id })
			switch {
			case i < 0:
				simulated = false // HypoPG refused it
			case !slices.Contains(s.chosen, pool[i]):
				arms = append(arms, pool[i])
			}
		}
		if !simulated || len(arms) == 0 || !s.groupFits(arms) {
			continue
		}
		before, err := s.w.CostWith(ctx, candidatesOf(s.chosen), []WorkloadStatement{st})
		if err != nil {
			return err
		}
		after, err := s.w.CostWith(ctx, append(candidatesOf(s.chosen), candidatesOf(arms)...), []WorkloadStatement{st})
		if err != nil {
			return err
		}
		b, a := before[0], after[0]
		gain, writes := st.Calls*(b.Cost-a.Cost), 0.0
		usesAll := true
		for i, e := range arms {
			usesAll = usesAll && slices.Contains(a.Uses, len(s.chosen)+i)
			writes += e.writeCost
		}
		if b.Err != nil || a.Err != nil || !usesAll || !s.improves(cmp.Or(s.baseCost(st.QueryID), b.Cost), b.Cost, a.Cost) || gain <= writes {
			continue
		}
		s.log.Debug("OR arms' indexes picked together", zap.String("group", name), zap.Float64("gain", gain))
		for _, e := range arms {
			e.out, e.pickGain = true, gain/float64(len(arms))
			s.add(e)
		}
	}
	return nil
}

// groupFits reports whether the entries of one OR group, all on one
// table, fit the table's limit and the budget together.
func (s *selection) groupFits(arms []*entry) bool {
	var size int64
	for _, e := range arms {
		size += e.size
	}
	return s.perTable[arms[0].c.Table]+len(arms) <= s.opts.MaxPerTable && (s.opts.BudgetBytes <= 0 || s.used+size <= s.opts.BudgetBytes)
}

// fold replaces two chosen btree indexes of a table, one's keys leading
// the other's, by the longer one carrying the INCLUDE columns of both, when
// the workload loses by it less than keepShare of the smaller one's gain,
// net of the write cost it saves, and returns the index it chose; nil when
// no pair folds. Each was picked for its own statements, and the greedy
// pass never costs the index that serves both: (tenant_id, created_at) and
// (tenant_id) INCLUDE (status, id) fold into (tenant_id, created_at)
// INCLUDE (status, id), and (tenant_id, status) into (tenant_id, status)
// INCLUDE (kind).
func (s *selection) fold(ctx context.Context) (*entry, error) {
	for i, a := range s.chosen {
		for _, b := range s.chosen[i+1:] {
			m, ok := foldedCandidate(a.c, b.c, a.table)
			pair := [2]string{min(a.id, b.id), max(a.id, b.id)}
			if !ok || s.foldTried[pair] || slices.ContainsFunc(s.chosen, func(x *entry) bool { return x != a && x != b && covers(x, &entry{c: m}) }) {
				continue
			}
			s.foldTried[pair] = true
			if e, err := s.tryFold(ctx, a, b, m); err != nil || e != nil {
				return e, err
			}
		}
	}
	return nil, nil
}

// foldedCandidate is the index that serves what a and b serve: the longer
// keys, when the other's lead them, with the INCLUDE columns of both, as
// few and narrow as candidate generation merges them (addMergedCovering).
func foldedCandidate(a, b Candidate, t *collector.Table) (Candidate, bool) {
	if len(a.Keys) > len(b.Keys) {
		a, b = b, a
	}
	if a.Table != b.Table || methodOf(a) != "btree" || methodOf(b) != "btree" || a.Where != b.Where ||
		!slices.Equal(a.Keys, b.Keys[:len(a.Keys)]) {
		return Candidate{}, false
	}
	m := b
	m.Include = slices.Clone(b.Include)
	for _, col := range a.Include {
		inKeys := slices.ContainsFunc(b.Keys, func(k collector.IndexKey) bool { return k.Column == col })
		if !inKeys && !slices.Contains(m.Include, col) {
			m.Include = append(m.Include, col)
		}
	}
	if len(m.Include) > maxMergedInclude || len(m.Include) > 0 && includeWidth(t, m.Include) > maxMergedIncludeWidth {
		return Candidate{}, false
	}
	m.Include = inTableOrder(t, m.Include)
	m.QueryIDs = appendMissing(slices.Clone(b.QueryIDs), a.QueryIDs)
	if a.Why != b.Why {
		m.Why = b.Why + "; folded with a second index (" + a.Why + "), so that one serves both"
	}
	return m, true
}

// tryFold costs m in place of a and b, and makes the swap if it pays.
func (s *selection) tryFold(ctx context.Context, a, b *entry, m Candidate) (*entry, error) {
	rest := slices.DeleteFunc(slices.Clone(s.chosen), func(x *entry) bool { return x == a || x == b })
	stmts := slices.DeleteFunc(slices.Clone(s.stmts), func(st WorkloadStatement) bool { return !touches(st, m.Table) })
	onTheirTables := slices.DeleteFunc(candidatesOf(s.chosen), func(c Candidate) bool {
		return !slices.ContainsFunc(stmts, func(st WorkloadStatement) bool { return touches(st, c.Table) })
	})
	now, err := s.w.CostWith(ctx, onTheirTables, stmts)
	if err != nil {
		return nil, err
	}
	costed, err := s.w.Evaluate(ctx, candidatesOf(rest), []Candidate{m}, stmts)
	if err != nil {
		return nil, err
	}
	if costed[0].Err != nil {
		return nil, nil
	}
	var loss float64
	for _, ef := range costed[0].Statements {
		i := slices.IndexFunc(stmts, func(st WorkloadStatement) bool { return st.QueryID == ef.QueryID })
		if ef.Err != nil || i < 0 || now[i].Err != nil {
			return nil, nil // no telling what m does to it
		}
		loss += ef.Calls * (ef.After - now[i].Cost)
	}
	script, err := IndexDDL(s.cat, m)
	if err != nil {
		return nil, nil
	}
	e := &entry{c: m, id: recommendationID(s.cat.Database, m), table: a.table, script: script, hypoSize: costed[0].HypoSizeBytes, out: true,
		whys: map[string]string{}, folded: true}
	for _, from := range []*entry{b, a} { // the longer one's reasons first, as in m.Why
		for q, why := range from.whys {
			if _, ok := e.whys[q]; !ok {
				e.whys[q] = why
			}
		}
	}
	var share float64
	if e.size, share, err = s.sizeAndShare(ctx, e); err != nil {
		return nil, err
	}
	e.setWrites(indexWrites(m, e.table, s.writes, s.cat, share))
	saved := a.writeCost + b.writeCost - e.writeCost
	used := s.used - a.size - b.size + e.size
	if loss-saved > keepShare*min(a.pickGain, b.pickGain) || (s.opts.BudgetBytes > 0 && used > s.opts.BudgetBytes) {
		return nil, nil
	}
	s.log.Debug("two chosen indexes folded into one", zap.String("a", a.id), zap.String("b", b.id), zap.String("into", e.id), zap.Float64("loss", loss))
	e.pickGain = a.pickGain + b.pickGain - loss
	s.remove(a)
	s.remove(b)
	s.add(e)
	return e, nil
}

// swap gives the place of one chosen index to an entry that a table's
// limit keeps out, when the workload gains by it more than keepShare of
// that entry's net gain; it returns the entry it chose, nil when none
// swaps. The greedy pass picks by gain per byte, so on a table at its
// limit a small index with a small gain can hold the place of a wider one
// that gains far more (a lower(email) lookup beside an index on a score).
// Gains here are weighted by measured time (timeWeights): which few
// indexes a table keeps is decided by the time they save, as they are
// ranked, where the planner's costs can be ten times apart from it. The
// candidates are tried by net gain, each once; the chosen index given up
// is the one the workload loses least by. A candidate must still gain more
// than its write cost in planner cost, as dropUnneeded judges it: one that
// did not would take the place and then be dropped, leaving the table
// neither index.
func (s *selection) swap(ctx context.Context, pool []*entry) (*entry, error) {
	var kept []*entry
	for _, e := range pool {
		if !e.out && !s.swapTried[e.id] && e.gain > e.writeCost && s.timedNet(e) > 0 && s.tableFull(e) &&
			!slices.ContainsFunc(s.chosen, func(x *entry) bool { return covers(x, e) }) {
			kept = append(kept, e)
		}
	}
	slices.SortFunc(kept, func(a, b *entry) int {
		return cmp.Or(cmp.Compare(s.timedNet(b), s.timedNet(a)), cmp.Compare(a.id, b.id))
	})
	now := map[string][]StatementCost{} // by table: its statements with the chosen set
	for _, e := range kept {
		s.swapTried[e.id] = true
		given, net, err := s.bestSwap(ctx, e, now)
		if err != nil {
			return nil, err
		}
		if given == nil || net <= keepShare*s.timedNet(e) {
			continue
		}
		s.log.Debug("chosen index swapped for one the table's limit kept out", zap.String("dropped", given.id), zap.String("for", e.id), zap.Float64("net", net))
		s.remove(given)
		e.out, e.pickGain = true, e.gain
		s.add(e)
		return e, nil
	}
	return nil, nil
}

// bestSwap finds the chosen index of e's table whose place e takes with
// the most gain to the workload, weighted by measured time and net of
// write costs, within the budget.
// now caches, by table, the cost of its statements with the chosen set.
func (s *selection) bestSwap(ctx context.Context, e *entry, now map[string][]StatementCost) (*entry, float64, error) {
	stmts := slices.DeleteFunc(slices.Clone(s.stmts), func(st WorkloadStatement) bool { return !touches(st, e.c.Table) })
	config := slices.DeleteFunc(slices.Clone(s.chosen), func(x *entry) bool {
		return !slices.ContainsFunc(stmts, func(st WorkloadStatement) bool { return touches(st, x.c.Table) })
	})
	before, ok := now[e.c.Table]
	if !ok {
		var err error
		if before, err = s.w.CostWith(ctx, candidatesOf(config), stmts); err != nil {
			return nil, 0, err
		}
		now[e.c.Table] = before
	}
	var given *entry
	var bestNet float64
	for i, x := range config {
		if x.c.Table != e.c.Table || (s.opts.BudgetBytes > 0 && s.used-x.size+e.size > s.opts.BudgetBytes) {
			continue
		}
		// e takes x's position, so a position means the same in both.
		swapped := candidatesOf(config)
		swapped[i] = candidatesOf([]*entry{e})[0] // its stand-in, if it has one
		after, err := s.w.CostWith(ctx, swapped, stmts)
		if err != nil {
			return nil, 0, err
		}
		net := x.writeCost - e.writeCost
		for j := range stmts {
			if before[j].Err == nil && after[j].Err == nil && !gamble(before[j], i, after[j].Cost) && !gamble(after[j], i, before[j].Cost) {
				net += s.timeWeight(stmts[j].QueryID) * stmts[j].Calls * (before[j].Cost - after[j].Cost)
			}
		}
		if given == nil || net > bestNet {
			given, bestNet = x, net
		}
	}
	return given, bestNet, nil
}

// best is the remaining entry with the highest gain, net of its write
// cost, per byte that the limits allow, counting as free the room of
// chosen indexes it makes redundant (a composite can replace its prefix on
// a table at its limit).
func (s *selection) best(pool []*entry) *entry {
	var best *entry
	var bestScore float64
	for _, e := range pool {
		if e.out || e.gain <= 0 {
			continue
		}
		if slices.ContainsFunc(s.chosen, func(x *entry) bool { return covers(x, e) }) {
			e.out = true
			continue
		}
		if !s.fits(e) {
			continue
		}
		net := e.gain - e.writeCost
		if net <= 0 {
			continue
		}
		score := net / float64(max(e.size, 1))
		if best == nil || score > bestScore {
			best, bestScore = e, score
		}
	}
	return best
}

// fits reports whether e fits the per-table limit and the budget, once
// the chosen indexes it covers are gone.
func (s *selection) fits(e *entry) bool {
	count, used := s.perTable[e.c.Table], s.used
	for _, x := range s.chosen {
		if covers(e, x) {
			count--
			used -= x.size
		}
	}
	return count < s.opts.MaxPerTable && (s.opts.BudgetBytes == 0 || used+e.size <= s.opts.BudgetBytes)
}

func (s *selection) withinLimits(table string) bool {
	return s.perTable[table] <= s.opts.MaxPerTable && (s.opts.BudgetBytes == 0 || s.used <= s.opts.BudgetBytes)
}

// tableFull reports whether e's table has no room for another index.
func (s *selection) tableFull(e *entry) bool { return s.perTable[e.c.Table] >= s.opts.MaxPerTable }

func (s *selection) add(e *entry) {
	s.chosen = append(s.chosen, e)
	s.perTable[e.c.Table]++
	s.used += e.size
}

func (s *selection) remove(e *entry) {
	s.chosen = slices.DeleteFunc(s.chosen, func(x *entry) bool { return x == e })
	s.perTable[e.c.Table]--
	s.used -= e.size
}

// covers reports whether index x makes e redundant: same table and
// method, e's keys a prefix of x's, x's predicate none or e's, and e's
// INCLUDE columns among x's columns.
func covers(x, e *entry) bool {
	if x == e || x.c.Table != e.c.Table || methodOf(x.c) != methodOf(e.c) || len(e.c.Keys) > len(x.c.Keys) ||
		!slices.Equal(e.c.Keys, x.c.Keys[:len(e.c.Keys)]) || (x.c.Where != "" && x.c.Where != e.c.Where) {
		return false
	}
	for _, col := range e.c.Include {
		inKeys := slices.ContainsFunc(x.c.Keys, func(k collector.IndexKey) bool { return k.Column == col })
		if !inKeys && !slices.Contains(x.c.Include, col) {
			return false
		}
	}
	return true
}

// prune drops indexes chosen earlier on best's table when, with best
// present, removing one of them gives back less than keepShare of the gain
// it had when picked: best does its work. It returns those it dropped.
func (s *selection) prune(ctx context.Context, best *entry) ([]*entry, error) {
	var pruned []*entry
	var tc *tableCosts
	for i := 0; i < len(s.chosen); i++ {
		e := s.chosen[i]
		if e == best || e.c.Table != best.c.Table {
			continue
		}
		if tc == nil {
			var err error
			if tc, err = s.costsOn(ctx, best.c.Table); err != nil {
				return nil, err
			}
		}
		loss, without, err := s.lossWithout(ctx, tc, e)
		if err != nil {
			return nil, err
		}
		if loss > keepShare*e.pickGain {
			continue
		}
		s.log.Debug("chosen index replaced by a later pick", zap.String("dropped", e.id), zap.String("by", best.id), zap.Float64("loss", loss))
		s.remove(e)
		pruned = append(pruned, e)
		tc.config, tc.all = slices.DeleteFunc(tc.config, func(x *entry) bool { return x == e }), without
		i--
	}
	return pruned, nil
}

// foldPathOps folds a chosen jsonb_path_ops GIN index into a chosen GIN
// index of jsonb's default operator class on the same key: jsonb_ops
// serves @> too, so one index does the work of both. Each was costed, by
// its stand-in, for its own statements only (a candidate's operator class
// comes from its statements' operators); the one left is costed for both,
// its stand-in the conditions of both, ORed, which overstates what each
// statement reads from it: its gain comes out, if anything, low.
func (s *selection) foldPathOps(ctx context.Context) error {
	n := normalizer{}
	sameKey := func(x, path *entry) bool {
		return methodOf(x.c) == "gin" && len(x.c.Keys) == 1 && x.c.Table == path.c.Table && x.c.Where == path.c.Where &&
			n.keyID(x.c.Keys[0]) == n.keyID(path.c.Keys[0]) && x.standIn != nil
	}
	for _, path := range slices.Clone(s.chosen) {
		if !sameKey(path, path) || path.c.Keys[0].OpClass != "jsonb_path_ops" {
			continue
		}
		i := slices.IndexFunc(s.chosen, func(x *entry) bool { return sameKey(x, path) && x.c.Keys[0].OpClass == "" })
		if i < 0 {
			continue
		}
		ops := s.chosen[i]
		both := appendMissing(slices.Clone(ops.c.QueryIDs), path.c.QueryIDs)
		standIns, err := s.standInsFor(ctx, ops, both)
		if err != nil {
			return err
		}
		if len(standIns) == 0 {
			continue
		}
		s.log.Debug("jsonb_path_ops index folded into the jsonb_ops one", zap.String("dropped", path.id), zap.String("into", ops.id))
		s.remove(path)
		slices.Sort(both)
		ops.c.QueryIDs, ops.standIn = both, orStandIns(standIns)
		for q, why := range path.whys {
			if _, ok := ops.whys[q]; !ok {
				ops.whys[q] = why
			}
		}
	}
	return nil
}

// dropUnneeded removes, the worst first, the chosen indexes that with the
// rest of the set present serve no statement (see serves), or whose gain
// no longer pays for what they cost the writes: a later pick can take over
// the statements an index was picked for (prune keeps it while it saves
// keepShare of its gain then, and looks at its own table only), and a
// smaller set that serves the workload as well is the better one.
func (s *selection) dropUnneeded(ctx context.Context) error {
	type verdict struct {
		net  float64 // its gain with the others present, less its write cost
		drop bool
	}
	costs := map[string]*tableCosts{} // by table
	judged := map[*entry]verdict{}
	contested := s.contested()
	for {
		var worst *entry
		for _, e := range s.chosen {
			v, ok := judged[e]
			if !ok && e.writeCost <= 0 && !contested[e] {
				// Nothing else serves its statements, and it costs the
				// writes nothing: it stays (and is not costed again).
				judged[e], ok = verdict{}, true
			}
			if !ok {
				tc := costs[e.c.Table]
				if tc == nil {
					var err error
					if tc, err = s.costsOn(ctx, e.c.Table); err != nil {
						return err
					}
					costs[e.c.Table] = tc
				}
				loss, without, err := s.lossWithout(ctx, tc, e)
				if err != nil {
					return err
				}
				v.net = loss - e.writeCost
				v.drop = v.net <= 0 && e.writeCost > 0 || !s.stillServes(e, tc, without)
				judged[e] = v
			}
			if v.drop && (worst == nil || v.net < judged[worst].net) {
				worst = e
			}
		}
		if worst == nil {
			return nil
		}
		s.log.Debug("chosen index not needed beside the others", zap.String("dropped", worst.id), zap.Float64("net", judged[worst].net))
		s.remove(worst)
		// Only the tables whose statements read worst's table cost
		// otherwise now: their indexes are judged again.
		for table, tc := range costs {
			if slices.Contains(tc.config, worst) {
				delete(costs, table)
				maps.DeleteFunc(judged, func(e *entry, _ verdict) bool { return e.c.Table == table })
			}
		}
	}
}

// contested are the chosen indexes that serve a statement which an index
// chosen after them serves too, as their costings at their picks found:
// only those can the others have made unneeded (a later pick was costed
// with the earlier ones present). Costing every chosen index without it
// added a fifth to the OLTP benchmark's selection time.
func (s *selection) contested() map[*entry]bool {
	servedBy := map[string][]*entry{} // in the order they were chosen
	for _, e := range s.chosen {
		for _, ef := range e.effects {
			if s.serves(e, ef) && !slices.Contains(servedBy[ef.QueryID], e) {
				servedBy[ef.QueryID] = append(servedBy[ef.QueryID], e)
			}
		}
	}
	out := map[*entry]bool{}
	for _, es := range servedBy {
		for _, e := range es[:len(es)-1] {
			out[e] = true
		}
	}
	return out
}

// stillServes reports whether chosen index e serves one of tc's statements
// with the other chosen indexes present; without are their costs when e
// goes (lossWithout).
func (s *selection) stillServes(e *entry, tc *tableCosts, without []StatementCost) bool {
	pos := slices.Index(tc.config, e)
	for j, st := range tc.stmts {
		if pos >= 0 && s.serves(e, effectOf(st, without[j], tc.all[j], pos)) {
			return true
		}
	}
	return false
}

// tableCosts are the workload's statements on a table, the chosen indexes
// that can change their plans (those on tables they read: HypoPG creates
// each index of a configuration on every costing), and their costs with
// those indexes.
type tableCosts struct {
	stmts  []WorkloadStatement
	config []*entry
	all    []StatementCost
}

func (s *selection) costsOn(ctx context.Context, table string) (*tableCosts, error) {
	tc := &tableCosts{}
	for _, st := range s.stmts {
		if touches(st, table) {
			tc.stmts = append(tc.stmts, st)
		}
	}
	for _, e := range s.chosen {
		if slices.ContainsFunc(tc.stmts, func(st WorkloadStatement) bool { return touches(st, e.c.Table) }) {
			tc.config = append(tc.config, e)
		}
	}
	var err error
	tc.all, err = s.w.CostWith(ctx, candidatesOf(tc.config), tc.stmts)
	return tc, err
}

// lossWithout is what tc's statements lose when chosen index e goes and
// the others stay (calls x cost), and their costs then: a gain that rests
// on a LIMIT's walk of it coming early (gamble) does not count.
func (s *selection) lossWithout(ctx context.Context, tc *tableCosts, e *entry) (float64, []StatementCost, error) {
	pos := slices.Index(tc.config, e)
	if pos < 0 {
		return 0, tc.all, nil // no statement reads its table
	}
	without, err := s.w.CostWith(ctx, candidatesOf(slices.Delete(slices.Clone(tc.config), pos, pos+1)), tc.stmts)
	if err != nil {
		return 0, nil, err
	}
	var loss float64
	for j := range tc.stmts {
		if tc.all[j].Err == nil && without[j].Err == nil && !gamble(tc.all[j], pos, without[j].Cost) {
			loss += tc.stmts[j].Calls * (without[j].Cost - tc.all[j].Cost)
		}
	}
	return loss, without, nil
}

// reevaluate costs again, with the chosen set present, the remaining
// entries that share a statement with best's table.
func (s *selection) reevaluate(ctx context.Context, pool []*entry, best *entry) error {
	affected := map[string]bool{}
	for _, st := range s.stmts {
		if touches(st, best.c.Table) {
			affected[st.QueryID] = true
		}
	}
	var stale []*entry
	for _, e := range pool {
		if !e.out && slices.ContainsFunc(e.effects, func(ef Effect) bool { return affected[ef.QueryID] }) {
			stale = append(stale, e)
		}
	}
	if len(stale) == 0 {
		return nil
	}
	costed, err := s.w.Evaluate(ctx, candidatesOf(s.chosen), candidatesOf(stale), s.stmts)
	if err != nil {
		return err
	}
	for i, e := range stale {
		if costed[i].Err != nil {
			// It was simulated alone; with the chosen set HypoPG refused it.
			e.out = true
			s.log.Warn("candidate index could not be costed again", zap.String("id", e.id), zap.Error(costed[i].Err))
			continue
		}
		s.setEffects(e, costed[i].Statements)
	}
	return nil
}

func (s *selection) setEffects(e *entry, effects []Effect) {
	e.effects = effects
	e.gain = s.servedGain(e, func(string) float64 { return 1 })
}

// servedGain is the cost the statements e serves save, each statement's
// scaled by weight.
func (s *selection) servedGain(e *entry, weight func(queryID string) float64) float64 {
	var gain float64
	for _, ef := range e.effects {
		if s.serves(e, ef) {
			gain += weight(ef.QueryID) * ef.Calls * (ef.Before - ef.After)
		}
	}
	return gain
}

// timedNet is e's net gain with each statement's cost drop weighted by its
// timeWeight.
func (s *selection) timedNet(e *entry) float64 {
	return s.servedGain(e, s.timeWeight) - e.writeCost
}

// timeWeight is the statement's weight in timeWeights, 1 when unknown.
func (s *selection) timeWeight(queryID string) float64 {
	if w, ok := s.timeWeights[queryID]; ok {
		return w
	}
	return 1
}

// maxTimeWeight bounds a statement's time weight both ways: a statement
// whose time in the window goes mostly outside its plan (waiting on
// locks, firing triggers) must not take a table's places on its own.
const maxTimeWeight = 10

// timeWeights are, by QueryID, how much more measured time a unit of each
// statement's planner cost stands for than on average: its execution time
// in the window over its calls times its cost without new indexes, against
// the same ratio over every statement whose time is known. The planner
// prices a short sequential scan, all in shared buffers, much like an
// index range scan that takes a tenth of its time. Statements without a
// time or a cost are left out (weight 1).
func timeWeights(stmts []WorkloadStatement, base []StatementCost) map[string]float64 {
	perUnit := map[string]float64{}
	var time, cost float64
	for i, st := range stmts {
		if st.TimeMS <= 0 || st.Calls <= 0 || base[i].Err != nil || base[i].Cost <= 0 {
			continue
		}
		perUnit[st.QueryID] = st.TimeMS / (st.Calls * base[i].Cost)
		time += st.TimeMS
		cost += st.Calls * base[i].Cost
	}
	for id, r := range perUnit {
		perUnit[id] = min(max(r*cost/time, 1.0/maxTimeWeight), maxTimeWeight)
	}
	return perUnit
}

// serves reports whether candidate e serves the statement of ef: the plan
// uses it and the cost improves (see improves). A covering candidate
// must also cut minBaselineShare of what the statement cost before any new
// index: INCLUDE columns only save heap fetches, and without this test a
// wider copy of a chosen index (an index-only scan for a LIMIT 20) would
// replace it for a sliver of gain. A covering index a nested loop probes
// saves a fetch per outer row instead, and a cut of minProbeGainPerCall
// (about 25 fetches) suffices: another new index may already have cut the
// statement to a small share of what it cost, and the probes be most of
// what is left.
func (s *selection) serves(e *entry, ef Effect) bool {
	// Without a baseline, Before stands in for it (the covering test then
	// always passes, the cost having dropped by MinImprovementPct).
	base := cmp.Or(s.baseCost(ef.QueryID), ef.Before)
	if ef.Err != nil || !ef.UsesIndex || ef.Gamble || e.onlyIncludes && !ef.IndexOnly || !s.improves(base, ef.Before, ef.After) {
		return false
	}
	cut := ef.Before - ef.After
	return len(e.c.Include) == 0 || cut >= minBaselineShare*base || ef.Probed && cut >= minProbeGainPerCall
}

// improves reports whether a statement's per-call cost dropping from
// before to after counts: by MinImprovementPct of before, and by
// minGainPerCall from base, its cost without any new index. (A composite
// that adds little to a chosen index may still replace it.)
func (s *selection) improves(base, before, after float64) bool {
	return before > 0 && after <= before*(1-s.opts.MinImprovementPct/100) && base-after >= minGainPerCall
}

// baseCost is the statement's cost per call without any new index; 0 when unknown.
func (s *selection) baseCost(queryID string) float64 {
	for _, b := range s.base {
		if b.QueryID == queryID && b.Err == nil {
			return b.Cost
		}
	}
	return 0
}

// evidence plans the workload with every chosen index present and credits
// each served statement to the chosen indexes its plan uses: cost before
// is without any new index, cost after with all of them.
func (s *selection) evidence(ctx context.Context) ([]Recommendation, error) {
	if len(s.chosen) == 0 {
		return nil, nil
	}
	final, err := s.w.CostWith(ctx, candidatesOf(s.chosen), s.stmts)
	if err != nil {
		return nil, err
	}
	cacheDependent, err := s.cacheDependent(ctx, final)
	if err != nil {
		return nil, err
	}
	withoutWalked, err := s.withoutWalked(ctx, final)
	if err != nil {
		return nil, err
	}
	gains := make([][]StatementGain, len(s.chosen))
	generic := make([]int, len(s.chosen))
	walked := make([][]string, len(s.chosen))
	incidental := make([][]string, len(s.chosen))
	credited := make([][]int, len(s.stmts))  // per statement, the chosen indexes its gain is credited to
	gainStmt := make([][]int, len(s.chosen)) // per chosen index, the statement of each of its gains
	for i, st := range s.stmts {
		b, f := s.base[i], final[i]
		if b.Err != nil || f.Err != nil {
			continue
		}
		if !s.improves(b.Cost, b.Cost, f.Cost) {
			for _, u := range f.Uses {
				incidental[u] = append(incidental[u], st.QueryID)
			}
			continue
		}
		for _, u := range f.Uses {
			if slices.Contains(f.Walks, u) {
				walked[u] = append(walked[u], st.QueryID)
			}
			// Only a walked index has an entry, and only it can be a gamble.
			if gamble(f, u, withoutWalked[u][i]) || s.chosen[u].onlyIncludes && !slices.Contains(f.IndexOnly, u) {
				continue // not a gain to credit
			}
			gains[u] = append(gains[u], StatementGain{QueryID: st.QueryID, Calls: st.Calls, CostBefore: b.Cost, CostAfter: f.Cost})
			credited[i] = append(credited[i], u)
			gainStmt[u] = append(gainStmt[u], i)
			if f.Generic {
				generic[u]++
			}
		}
	}
	// Where others share a statement, what it costs without this one.
	without, err := s.withoutEach(ctx, func(u int) []int {
		return slices.DeleteFunc(slices.Clone(gainStmt[u]), func(i int) bool { return len(credited[i]) < 2 })
	})
	if err != nil {
		return nil, err
	}
	for u := range gains {
		for k := range gains[u] {
			i := gainStmt[u][k]
			for _, v := range credited[i] {
				if v != u {
					gains[u][k].With = append(gains[u][k].With, s.chosen[v].id)
				}
			}
			gains[u][k].CostWithout = without[u][i]
		}
	}
	var recs []Recommendation
	for i, e := range s.chosen {
		if len(gains[i]) == 0 {
			// Another chosen index took over all its statements, or they
			// only walk it as a gamble.
			s.log.Debug("chosen index serves no statement with the others present", zap.String("id", e.id))
			continue
		}
		r := s.recommendation(e, gains[i])
		r.Validated, r.StandIn = e.standIn == nil, e.standIn != nil
		var notes []string
		if r.StandIn {
			notes = append(notes, hypoGINNote+"; "+standInNote)
		}
		if generic[i] > 0 {
			notes = append(notes, fmt.Sprintf("%d of the %d statements it serves were costed with their generic plan (no sample parameter values), which can misjudge columns with skewed values", generic[i], len(gains[i])))
		}
		if q := cacheDependent[i]; len(q) > 0 {
			r.CacheDependent = q
			notes = append(notes, fmt.Sprintf("with effective_cache_size as configured (%s) the planner would also use it for %s (%s) in plans that costing with only shared_buffers as cache rejects (they rely on the OS cache): after building, compare their plans and timings with those under SET LOCAL effective_cache_size = '%s'",
				s.w.ConfiguredCache(), plural(len(q), "statement"), strings.Join(q, ", "), s.w.CappedCache()))
		}
		if q := walked[i]; len(q) > 0 {
			r.LimitWalks = q
			notes = append(notes, fmt.Sprintf("for %s (%s) the plan reads it in index order until the LIMIT is filled, dropping rows that fail a filter or join on the way; the cost assumes the rows kept are spread evenly along the index, so a value that keeps few of them, or keeps them only at its far end, reads much more: after building, check those statements with EXPLAIN (ANALYZE, BUFFERS) and a rare value",
				plural(len(q), "statement"), strings.Join(q, ", ")))
		}
		if q := s.readShareCosted(gains[i]); len(q) > 0 {
			notes = append(notes, fmt.Sprintf("the cost before of %s (%s) counts the share of the table that its measured run (EXPLAIN ANALYZE) read under the LIMIT, far more than the planner expects to read before the LIMIT fills",
				plural(len(q), "statement"), strings.Join(q, ", ")))
		}
		if q := incidental[i]; len(q) > 0 {
			r.Incidental = q
			notes = append(notes, fmt.Sprintf("the plans of %s (%s) switch to it too, for an estimated gain too small to count (under %.0f%% or %d per call): a close call the planner's cost model can get wrong, such as index probes from a nested loop chosen over a hash join; after building, compare their timings",
				plural(len(q), "other statement"), strings.Join(q, ", "), s.opts.MinImprovementPct, minGainPerCall))
		}
		r.ValidationNote = strings.Join(notes, "; ")
		r.Reason = reason(e, r)
		recs = append(recs, r)
	}
	return recs, nil
}

// readShareCosted are the statements of gains whose cost without new
// indexes counts what their measured run read under a LIMIT.
func (s *selection) readShareCosted(gains []StatementGain) []string {
	var out []string
	for _, g := range gains {
		if i := slices.IndexFunc(s.base, func(c StatementCost) bool { return c.QueryID == g.QueryID }); i >= 0 && s.base[i].ReadShareCosted {
			out = append(out, g.QueryID)
		}
	}
	return out
}

// withoutWalked is, per chosen index, the cost of each statement whose
// final plan walks it for a LIMIT, keyed by the statement's position, with
// every other chosen index present: the plan the walk is a gamble against
// (see gamble). The other indexes can make that far cheaper than the
// statement's cost without any new index.
func (s *selection) withoutWalked(ctx context.Context, final []StatementCost) ([]map[int]float64, error) {
	walked := make([][]int, len(s.chosen)) // per chosen index, the statements that walk it
	for i, f := range final {
		if f.Err != nil || s.base[i].Err != nil {
			continue
		}
		for _, u := range f.Walks {
			walked[u] = append(walked[u], i)
		}
	}
	out, err := s.withoutEach(ctx, func(u int) []int { return walked[u] })
	if err != nil {
		return nil, err
	}
	for u := range out {
		for _, i := range walked[u] {
			if _, ok := out[u][i]; !ok {
				out[u][i] = s.base[i].Cost // that plan failed: judge the walk against no new index
			}
		}
	}
	return out, nil
}

// withoutEach is, per chosen index u, the cost of the statements at the
// positions at(u) with every other chosen index present, keyed by position;
// a statement whose plan fails has none.
func (s *selection) withoutEach(ctx context.Context, at func(u int) []int) ([]map[int]float64, error) {
	out := make([]map[int]float64, len(s.chosen))
	for u := range s.chosen {
		positions := at(u)
		if len(positions) == 0 {
			continue
		}
		stmts := make([]WorkloadStatement, len(positions))
		for k, i := range positions {
			stmts[k] = s.stmts[i]
		}
		others := candidatesOf(slices.Delete(slices.Clone(s.chosen), u, u+1))
		others = slices.DeleteFunc(others, func(c Candidate) bool {
			return !slices.ContainsFunc(stmts, func(st WorkloadStatement) bool { return touches(st, c.Table) })
		})
		costs, err := s.w.CostWith(ctx, others, stmts)
		if err != nil {
			return nil, err
		}
		out[u] = make(map[int]float64, len(positions))
		for k, i := range positions {
			if costs[k].Err == nil {
				out[u][i] = costs[k].Cost
			}
		}
	}
	return out, nil
}

// cacheDependent lists, per chosen index, the statements whose plan would
// use it, or probe it from a nested loop, with effective_cache_size as the
// server has it but not under the cap (final): index probes whose speed
// depends on the OS cache, like Q7's on TPC-H at SF 1. Q3 and Q9, slower
// there too, are not caught: as the advisor plans them (with typical
// parameter values), they use and probe the same indexes under both settings.
func (s *selection) cacheDependent(ctx context.Context, final []StatementCost) ([][]string, error) {
	out := make([][]string, len(s.chosen))
	if s.w.ConfiguredCache() == "" {
		return out, nil
	}
	configured, err := s.w.CostAsConfigured(ctx, candidatesOf(s.chosen), s.stmts)
	if err != nil {
		return nil, err
	}
	for i, st := range s.stmts {
		if configured[i].Err != nil || final[i].Err != nil {
			continue
		}
		for _, u := range configured[i].Uses {
			if !slices.Contains(final[i].Uses, u) || slices.Contains(configured[i].Probes, u) && !slices.Contains(final[i].Probes, u) {
				out[u] = append(out[u], st.QueryID)
			}
		}
	}
	return out, nil
}

// heuristic recommends, unvalidated, the candidates that could not be
// costed, within the limits left: by the planner cost (or calls) of the
// statements that produced them. A statement the costed recommendations
// already cut to costedEnough of its cost is not theirs: little is left
// to gain, and an uncosted index can make its plan worse (a GIN bitmap of
// many rows ANDed with the costed index's few).
func (s *selection) heuristic(pool []*entry, validated []Recommendation) ([]Recommendation, map[string]bool) {
	type ranked struct {
		e      *entry
		weight float64
		gains  []StatementGain
	}
	served := map[string]bool{} // costed with values, not only by a generic plan
	for _, rec := range validated {
		for _, g := range rec.Statements {
			if g.CostAfter <= costedEnough*g.CostBefore && len(s.statement(g.QueryID).Params) > 0 {
				served[g.QueryID] = true
			}
		}
	}
	var list []ranked
	for _, e := range pool {
		r := ranked{e: e}
		indexed := len(e.c.QueryIDs) > 0
		for i, st := range s.stmts {
			if !slices.Contains(e.c.QueryIDs, st.QueryID) || served[st.QueryID] {
				continue
			}
			cost := 0.0
			if s.base != nil && s.base[i].Err == nil {
				cost = s.base[i].Cost
				indexed = indexed && s.usesIndexOf(s.base[i], e.table, methodOf(e.c))
			} else {
				indexed = false
			}
			r.weight += st.Calls * max(cost, 1)
			r.gains = append(r.gains, StatementGain{QueryID: st.QueryID, Calls: st.Calls, CostBefore: cost, CostAfter: cost})
		}
		if len(r.gains) == 0 || indexed {
			continue
		}
		list = append(list, r)
	}
	slices.SortFunc(list, func(a, b ranked) int { return cmp.Or(cmp.Compare(b.weight, a.weight), cmp.Compare(a.e.id, b.e.id)) })
	var recs []Recommendation
	var picked []*entry // the entries of recs
	displaced := map[string]bool{}
	for _, r := range list {
		e := r.e
		e.size = s.roughSize(e)
		if servedAlready(e, r.gains, picked, recs) {
			continue
		}
		// An earlier pick whose keys lead e's is redundant once e is
		// built: e takes its place and its statements.
		prefix := slices.IndexFunc(picked, func(p *entry) bool { return covers(e, p) })
		if prefix >= 0 {
			s.remove(picked[prefix])
		}
		x := s.displaceable(e, validated)
		if x == nil && s.tableFull(e) {
			x = s.outweighed(e, r.weight, validated)
		}
		if x != nil {
			s.remove(x)
		}
		if slices.ContainsFunc(s.chosen, func(x *entry) bool { return covers(x, e) }) ||
			s.tableFull(e) || (s.opts.BudgetBytes > 0 && s.used+e.size > s.opts.BudgetBytes) {
			if x != nil {
				s.add(x) // e cannot take its place after all
			}
			if prefix >= 0 {
				s.add(picked[prefix])
			}
			continue
		}
		if x != nil {
			displaced[x.id] = true
		}
		gains := r.gains
		if prefix >= 0 {
			gains = unionGains(recs[prefix].Statements, gains)
			recs, picked = slices.Delete(recs, prefix, prefix+1), slices.Delete(picked, prefix, prefix+1)
		}
		s.add(e)
		rec := s.recommendation(e, gains)
		rec.ValidationNote = e.note
		rec.Reason = fmt.Sprintf("%s, for %s (%s calls in the window); the gain was not costed.",
			capitalize(whatFor(e, gains)), plural(len(gains), "statement"), formatCalls(gains))
		recs = append(recs, rec)
		picked = append(picked, e)
	}
	return recs, displaced
}

// costedEnough is the share of its cost a statement keeps with the costed
// recommendations below which no uncosted one is made for it.
const costedEnough = 0.25

// appendMissing appends to dst the strings of src it lacks, in order.
func appendMissing(dst, src []string) []string {
	for _, s := range src {
		if !slices.Contains(dst, s) {
			dst = append(dst, s)
		}
	}
	return dst
}

// unionGains is a followed by the statements of b that a lacks.
func unionGains(a, b []StatementGain) []StatementGain {
	out := slices.Clone(a)
	for _, g := range b {
		if !slices.ContainsFunc(a, func(x StatementGain) bool { return x.QueryID == g.QueryID }) {
			out = append(out, g)
		}
	}
	return out
}

// servedAlready reports whether an uncosted recommendation already made
// (picked, recs) is an index of e's table, method and leading key for
// every statement of gains: without costs there is no telling that a
// second one would add anything (comments (task_id) and (task_id,
// created_at) for one lookup). A different method or leading key serves
// another part of the statement (a btree on tenant_id, a GIN on payload).
func servedAlready(e *entry, gains []StatementGain, picked []*entry, recs []Recommendation) bool {
	for i, p := range picked {
		if p.c.Table != e.c.Table || methodOf(p.c) != methodOf(e.c) || len(p.c.Keys) == 0 || len(e.c.Keys) == 0 || p.c.Keys[0] != e.c.Keys[0] {
			continue
		}
		if !slices.ContainsFunc(gains, func(g StatementGain) bool { return !slices.Contains(recs[i].QueryIDs, g.QueryID) }) {
			return true
		}
	}
	return false
}

// displaceable is a chosen btree on a GIN candidate's table whose whole
// validated gain comes from statements the candidate serves and that were
// costed only by their generic plans: with no values for the text search or
// jsonb filter the planner cannot judge it, and it prices a btree for the
// other columns (walking tenant_id, updated_at for a search) that the
// filter then discards. The GIN index, which serves the filter itself, takes
// its place, room or not: two indexes for one statement where one is proven.
func (s *selection) displaceable(e *entry, validated []Recommendation) *entry {
	if methodOf(e.c) != "gin" {
		return nil
	}
	for _, x := range s.chosen {
		if x.c.Table != e.c.Table || methodOf(x.c) == "gin" {
			continue
		}
		i := slices.IndexFunc(validated, func(r Recommendation) bool { return r.ID == x.id })
		if i < 0 || len(validated[i].QueryIDs) == 0 {
			continue
		}
		if !slices.ContainsFunc(validated[i].QueryIDs, func(q string) bool {
			return !slices.Contains(e.c.QueryIDs, q) || len(s.statement(q).Params) > 0
		}) {
			return x
		}
	}
	return nil
}

// ginGainShare is the share of its statements' cost an uncosted GIN index
// is credited with: the full-text or containment filter it serves is
// typically most of a sequential scan's cost, and half keeps a costed gain
// ahead of a guess.
const ginGainShare = 0.5

// outweighed is the validated btree with the least gain on a GIN
// candidate's table when that gain is below ginGainShare of weight, the
// cost of the statements the candidate serves: at the per-table limit,
// three small btree wins must not keep out the one index a text search
// that reads the whole table needs.
func (s *selection) outweighed(e *entry, weight float64, validated []Recommendation) *entry {
	if methodOf(e.c) != "gin" {
		return nil
	}
	var least *entry
	for _, x := range s.chosen {
		if x.c.Table != e.c.Table || methodOf(x.c) == "gin" || !slices.ContainsFunc(validated, func(r Recommendation) bool { return r.ID == x.id }) {
			continue
		}
		if least == nil || x.pickGain < least.pickGain {
			least = x
		}
	}
	if least == nil || least.pickGain >= ginGainShare*weight {
		return nil
	}
	return least
}

// statement is the workload statement with queryID.
func (s *selection) statement(queryID string) WorkloadStatement {
	for _, st := range s.stmts {
		if st.QueryID == queryID {
			return st
		}
	}
	return WorkloadStatement{}
}

// usesIndexOf reports whether a plan scans an existing index of table t,
// or of its partitions, with access method method (or GiST for GIN, which
// serves the same full-text and trigram searches). Only such a method
// counts: a btree scan for tenant_id = $1 leaves a full-text or jsonb
// filter on every row it finds, which only a GIN index serves.
func (s *selection) usesIndexOf(c StatementCost, t *collector.Table, method string) bool {
	tables := map[string]bool{t.QualifiedName(): true}
	for _, leaf := range leafPartitions(t, func(name string) *collector.Table { return findTable(s.cat, name) }) {
		tables[leaf.QualifiedName()] = true
	}
	for _, ix := range s.cat.Indexes {
		if tables[ix.Table] && (ix.Method == method || method == "gin" && ix.Method == "gist") && slices.Contains(c.IndexesUsed, ix.Name) {
			return true
		}
	}
	return false
}

// recommendation fills what validated and heuristic recommendations share.
func (s *selection) recommendation(e *entry, gains []StatementGain) Recommendation {
	slices.SortFunc(gains, func(a, b StatementGain) int {
		return cmp.Or(cmp.Compare(b.Calls*(b.CostBefore-b.CostAfter), a.Calls*(a.CostBefore-a.CostAfter)), cmp.Compare(a.QueryID, b.QueryID))
	})
	r := Recommendation{
		ID: e.id, Database: s.cat.Database, Table: e.c.Table, Method: methodOf(e.c),
		Include: e.c.Include, Where: e.c.Where, DDL: e.script.SQL(), VerifySQL: e.script.Verify,
		EstimatedSizeBytes: e.size, HypoPGSizeBytes: e.hypoSize, Statements: gains,
		WriteCost: e.writeCost, Writes: e.writes, WriteOverhead: writeOverhead(e),
		Replaces: replacedIndexes(s.cat, e.c),
	}
	for _, k := range e.c.Keys {
		col, _ := renderKey(k, false) // IndexDDL already accepted every key
		r.Columns = append(r.Columns, col)
	}
	for _, g := range gains {
		r.QueryIDs = append(r.QueryIDs, g.QueryID)
		r.CostBefore += g.Calls * g.CostBefore
		r.CostAfter += g.Calls * g.CostAfter
	}
	if r.CostBefore > 0 {
		r.ImprovementPct = math.Round(1000*(1-r.CostAfter/r.CostBefore)) / 10
	}
	return r
}

// creditTimeSaved sets each recommendation's TimeSavedMS: the measured
// time of the statements it serves, each scaled by its planner-cost drop,
// so that a 99% drop of a statement that takes 29% of the workload's time
// outranks a larger cost drop of one that takes 0.5 ms. A statement that
// several serve has its saving split between them by what each adds with
// the others present (CostWithout), evenly where that is unknown: the
// credits add up to no more than the statement's time.
func (s *selection) creditTimeSaved(recs []Recommendation) {
	type share struct {
		rec    int
		weight float64
	}
	byStatement := map[string][]share{}
	for i, r := range recs {
		for _, g := range r.Statements {
			weight := max(g.CostWithout-g.CostAfter, 0)
			if g.CostWithout == 0 {
				weight = -1 // unknown
			}
			byStatement[g.QueryID] = append(byStatement[g.QueryID], share{i, weight})
		}
	}
	for i := range recs {
		recs[i].TimeSavedMS = 0
		for _, g := range recs[i].Statements {
			st := slices.IndexFunc(s.stmts, func(w WorkloadStatement) bool { return w.QueryID == g.QueryID })
			if st < 0 || g.CostBefore <= 0 {
				continue
			}
			part, shares := 1.0, byStatement[g.QueryID]
			if len(shares) > 1 {
				var total, mine float64
				known := true
				for _, sh := range shares {
					total += sh.weight
					known = known && sh.weight >= 0
					if sh.rec == i {
						mine = sh.weight
					}
				}
				part = 1 / float64(len(shares))
				if known && total > 0 {
					part = mine / total
				}
			}
			recs[i].TimeSavedMS += s.stmts[st].TimeMS * max(1-g.CostAfter/g.CostBefore, 0) * part
		}
	}
}

// reason says what a costed recommendation serves and what it saves.
func reason(e *entry, r Recommendation) string {
	how := ""
	if r.StandIn {
		how = " as estimated with a stand-in"
	}
	return fmt.Sprintf("%s: the planner's cost of the %s it serves drops %.0f%%%s (weighted by %s calls in the window).",
		capitalize(whatFor(e, r.Statements)), plural(len(r.Statements), "statement"), r.ImprovementPct, how, formatCalls(r.Statements))
}

// writeOverhead says what the index costs writers: the window's write
// statements that maintain it, the UPDATEs it stops from being HOT, and,
// when no UPDATE of the window changes its columns but the table's updates
// are mostly HOT, the columns that must stay unchanged for that to last.
func writeOverhead(e *entry) string {
	t := e.table
	var parts []string
	if len(e.writes) > 0 {
		cost := fmt.Sprintf("planner cost %.0f", e.writeCost)
		if methodOf(e.c) == "gin" {
			cost += fmt.Sprintf(", about %.0f GIN keys a row", ginKeysPerRow(e.c, t))
		}
		parts = append(parts, fmt.Sprintf("maintained by %s of the window (%s)", plural(len(e.writes), "write statement"), cost))
	}
	var breaks []string
	for _, w := range e.writes {
		for _, col := range w.BreaksHOT {
			breaks = append(breaks, fmt.Sprintf("%s (statement %s)", collector.QuoteIdent(col), w.QueryID))
		}
	}
	var hot string
	if t.NTupUpd > 0 {
		hot = fmt.Sprintf("%.0f%% of the %d updates on %s are HOT now", 100*float64(t.NTupHotUpd)/float64(t.NTupUpd), t.NTupUpd, t.QualifiedName())
	}
	switch {
	case len(breaks) > 0:
		msg := "breaks HOT updates on " + strings.Join(breaks, ", ")
		if hot != "" {
			msg += "; " + hot
		}
		parts = append(parts, msg)
	case hot != "" && t.NTupHotUpd*2 >= t.NTupUpd:
		cols := hotColumns(e.c, t)
		quoted := make([]string, len(cols))
		for i, c := range cols {
			quoted[i] = collector.QuoteIdent(c)
		}
		parts = append(parts, fmt.Sprintf("%s; they stay HOT only if they do not change %s", hot, strings.Join(quoted, ", ")))
	}
	return strings.Join(parts, "; ")
}

// indexedColumns are the table columns the index stores or tests: keys,
// INCLUDE, and columns named in expressions and the predicate.
func indexedColumns(c Candidate, t *collector.Table) []string {
	var cols []string
	for _, name := range storedNames(c) {
		if !slices.Contains(cols, name) && columnOf(t, name) != nil {
			cols = append(cols, name)
		}
	}
	return cols
}

// identifiers are the names in an SQL fragment, as PostgreSQL folds them.
func identifiers(sql string) []string {
	scan, err := pg_query.Scan(sql)
	if err != nil {
		return nil
	}
	var out []string
	for _, tok := range scan.GetTokens() {
		// A column may be named by an unreserved or column-name keyword
		// (name, value, content, type): the scanner does not call those IDENT.
		kind := tok.GetKeywordKind()
		if tok.GetToken() != pg_query.Token_IDENT && kind != pg_query.KeywordKind_UNRESERVED_KEYWORD && kind != pg_query.KeywordKind_COL_NAME_KEYWORD {
			continue
		}
		word := sql[tok.GetStart():tok.GetEnd()]
		if unq, ok := strings.CutPrefix(word, `"`); ok {
			out = append(out, strings.ReplaceAll(strings.TrimSuffix(unq, `"`), `""`, `"`))
		} else {
			out = append(out, strings.ToLower(word))
		}
	}
	return out
}

// correctedSize estimates the built index's size. HypoPG sizes a btree as
// if every row had its own index tuple, with generous per-tuple overhead;
// PostgreSQL 13+ deduplicates equal keys into posting lists, so an index
// on a column with many duplicates is 2-4x smaller than HypoPG says, and
// even a unique one is smaller. btreeSize models what nbtree builds, from
// the catalog's row count and pg_stats widths and distinct counts; the
// smaller of the two is used. For a partial index the rows it holds are
// scaled by HypoPG's own selectivity (its partial size over its size for
// the same index without the predicate), or by a sample's where the
// planner's is a guess (sample.go), as are the rows per key of a clustered
// column. Expression keys and other access methods keep HypoPG's estimate.
func (s *selection) correctedSize(ctx context.Context, e *entry) (int64, error) {
	size, _, err := s.sizeAndShare(ctx, e)
	return size, err
}

// sizeAndShare is correctedSize with the share of the table's rows the
// index holds (its predicate's; 1 for a full index).
func (s *selection) sizeAndShare(ctx context.Context, e *entry) (int64, float64, error) {
	rows, hypoSize := tableRows(s.cat, e.table, 0), e.hypoSize
	var smp indexSample
	sampled := false
	if needsSample(e.c, e.table) {
		var err error
		if smp, sampled, err = s.sampleIndexRows(ctx, e.c, e.table); err != nil {
			if fatal(ctx, s.w.conn, err) {
				return 0, 0, err
			}
			s.log.Debug("size estimate without a sample", zap.String("table", e.c.Table), zap.Error(err))
		}
	}
	share := 1.0
	if e.c.Where != "" {
		full := e.c
		full.Where = ""
		fullSize, err := s.w.HypoSize(ctx, full)
		if err != nil {
			if fatal(ctx, s.w.conn, err) {
				return 0, 0, err
			}
			return e.hypoSize, share, nil
		}
		share = min(float64(e.hypoSize)/float64(max(fullSize, 1)), 1)
		if sampled {
			share = smp.fraction
			hypoSize = int64(float64(fullSize) * share)
		}
		rows *= share
	}
	perKey := 0.0
	if sampled && clustered(e.c, e.table) {
		perKey = smp.perKey
	}
	if model, ok := btreeSize(e.c, e.table, rows, perKey); ok {
		return min(model, hypoSize), share, nil
	}
	return hypoSize, share, nil
}

// roughSize is the size used for an index HypoPG did not size and no
// sample measured: the btree model when it applies, else, for a trigram
// index, ginTrgmEntryBytes per byte of text, and for other GIN indexes
// half the data of the indexed columns.
func (s *selection) roughSize(e *entry) int64 {
	rows := tableRows(s.cat, e.table, 0)
	if size, ok := btreeSize(e.c, e.table, rows, 0); ok {
		return size
	}
	width := 0
	for _, name := range indexedColumns(e.c, e.table) {
		if col := columnOf(e.table, name); col != nil {
			width += columnWidth(col)
		}
	}
	if ginOpClass(e.c, e.table) == "gin_trgm_ops" {
		return max(int64(rows*float64(width)*ginTrgmEntryBytes), 2*pageSize)
	}
	return max(int64(rows*float64(width+8)/2), 2*pageSize)
}

// tableRows is the table's row estimate; for a partitioned table, the sum
// over its partitions.
func tableRows(cat *collector.Catalog, t *collector.Table, depth int) float64 {
	if t.Kind != "p" || depth > maxPartitionDepth {
		return max(t.RelTuples, 0)
	}
	var rows float64
	for _, name := range t.Partitions {
		if p := findTable(cat, name); p != nil {
			rows += tableRows(cat, p, depth+1)
		}
	}
	return max(rows, t.RelTuples)
}

const (
	pageSize = 8192
	// usable bytes of a btree page: the page header (24) and the btree
	// special space (16) taken out.
	btreePageUsable = pageSize - 24 - 16
	leafFill        = 0.90 // default btree fillfactor
	internalFill    = 0.70
	itemIDSize      = 4 // line pointer
	tupleHeader     = 8 // IndexTupleData
	nullBitmapSize  = 8 // IndexAttributeBitMapData, MAXALIGNed with the header
	tidSize         = 6
	// maxPostingBytes is the posting-list tuple size CREATE INDEX aims
	// for: 10% of a page, MAXALIGNed down, less a line pointer.
	maxPostingBytes = 816 - itemIDSize
)

// btreeSize models the size of a freshly built btree on plain columns:
// leaves filled to 90%, internal levels on top, and, when every key type
// deduplicates and there is no INCLUDE, one posting-list tuple per run of
// equal keys: perKey rows, or when 0, as many as pg_stats' distinct
// counts give.
func btreeSize(c Candidate, t *collector.Table, rows, perKey float64) (int64, bool) {
	if methodOf(c) != "btree" || rows <= 0 {
		return 0, false
	}
	var cols []*collector.Column
	for _, k := range c.Keys {
		col := columnOf(t, k.Column)
		if k.Column == "" || col == nil {
			return 0, false
		}
		cols = append(cols, col)
	}
	dedup := len(c.Include) == 0
	for _, name := range c.Include {
		col := columnOf(t, name)
		if col == nil {
			return 0, false
		}
		cols = append(cols, col)
	}
	// A NULL takes no room in the tuple but puts a null bitmap in its
	// header, and deduplication takes NULLs as equal: (customer_id,
	// deleted_at) with 97% of deleted_at NULL is about as small as
	// (customer_id) alone, not a tuple per row of both widths.
	data := 0.0
	collide := 1.0    // chance that two rows have equal keys: 1 / the distinct keys
	allPresent := 1.0 // chance that a row has no NULL in the index
	varying := false
	for i, col := range cols {
		nulls := nullFraction(col)
		a := float64(typeAlign(col.Type))
		data = math.Ceil(data/a)*a + (1-nulls)*averageWidth(col)
		allPresent *= 1 - nulls
		varying = varying || !fixedWidth(col.Type) || nulls > 0
		if i < len(c.Keys) {
			dedup = dedup && dedupType(col.Type)
			collide *= nulls*nulls + (1-nulls)*(1-nulls)/distinctValues(col, rows)
		}
	}
	tuple := tupleSize(tupleHeader+(1-allPresent)*nullBitmapSize+data, varying)
	perRow := tuple + itemIDSize
	dup := rows / min(1/collide, rows)
	if perKey > 0 {
		dup = perKey
	}
	if dedup && dup >= 2 {
		tids := min(dup, math.Floor((maxPostingBytes-tuple)/tidSize))
		if tids >= 2 {
			// The heap TIDs follow the key tuple as index_form_tuple sized
			// it (MAXALIGNed): _bt_form_posting.
			posting := tupleSize(tuple+tids*tidSize, varying)
			perRow = (posting + itemIDSize) / tids
		}
	}
	leaves := math.Ceil(rows * perRow / (btreePageUsable * leafFill))
	fanout := math.Max(math.Floor(btreePageUsable*internalFill/(tuple+itemIDSize)), 2)
	pages := leaves + 1 // the metapage
	for level := leaves; level > 1; {
		level = math.Ceil(level / fanout)
		pages += level
	}
	return int64(pages) * pageSize, true
}

// averageWidth is a column's average width in an index tuple. pg_stats
// truncates avg_width to whole bytes, so a variable-width column is half a
// byte wider on average than it says (TPC-H's l_discount: 4 against 4.8).
func averageWidth(col *collector.Column) float64 {
	w := float64(columnWidth(col))
	if !fixedWidth(col.Type) && col.Stats != nil && col.Stats.AvgWidth > 0 {
		w += 0.5
	}
	return w
}

// tupleSize is the average MAXALIGNed size of index tuples of n bytes on
// average. When their widths vary, each is padded on its own, to 3.5
// bytes more than n on average, not n rounded up once. On TPC-H's
// lineitem (l_shipdate) INCLUDE (l_orderkey, l_extendedprice, l_discount,
// l_partkey, l_quantity) the tuples are 40 or 48 bytes long, 45 on
// average (pageinspect); pg_stats' widths rounded once gave 40, and a
// size 13% short.
func tupleSize(n float64, varying bool) float64 {
	if varying {
		return n + 3.5
	}
	return float64(maxAlign(int(math.Ceil(n))))
}

// fixedWidth reports whether every value of typ has the same size: the
// types fixedTypeWidth knows, and times with a precision ("timestamp(3)
// with time zone").
func fixedWidth(typ string) bool {
	if _, ok := fixedTypeWidth(typ); ok {
		return true
	}
	return !strings.HasSuffix(typ, "[]") && strings.HasPrefix(typ, "time")
}

func columnOf(t *collector.Table, name string) *collector.Column {
	for i := range t.Columns {
		if t.Columns[i].Name == name {
			return &t.Columns[i]
		}
	}
	return nil
}

// nullFraction is pg_stats' null_frac of col; 0 without statistics.
func nullFraction(col *collector.Column) float64 {
	if col.Stats == nil {
		return 0
	}
	return min(max(col.Stats.NullFrac, 0), 1)
}

// distinctValues is pg_stats' n_distinct as a count (negative values are
// a fraction of the rows); unknown counts as all distinct, which assumes
// no deduplication.
func distinctValues(col *collector.Column, rows float64) float64 {
	if col.Stats == nil || col.Stats.NDistinct == 0 {
		return rows
	}
	if col.Stats.NDistinct < 0 {
		return max(-col.Stats.NDistinct*rows, 1)
	}
	return col.Stats.NDistinct
}

// dedupType reports whether btree deduplication applies to a key type
// (its operator class is "equalimage"). numeric, floats, jsonb, arrays and
// types this list does not know are assumed not to deduplicate, which
// overstates rather than understates their size.
func dedupType(typ string) bool {
	base, _, _ := strings.Cut(typ, "(")
	switch strings.TrimSpace(base) {
	case "smallint", "integer", "bigint", "oid", "boolean", "date", "uuid", "text", "character varying", "character",
		"timestamp without time zone", "timestamp with time zone", "time without time zone", "interval", "bytea", "\"char\"", "name":
		return !strings.HasSuffix(typ, "[]")
	}
	if strings.HasPrefix(typ, "timestamp(") || strings.HasPrefix(typ, "time(") {
		return !strings.HasSuffix(typ, "[]")
	}
	return false
}

// typeAlign is the alignment of a type's values in an index tuple.
func typeAlign(typ string) int {
	switch {
	case strings.HasSuffix(typ, "[]"):
		return 4
	case typ == "bigint" || typ == "double precision" || typ == "interval" || strings.HasPrefix(typ, "timestamp") || strings.HasPrefix(typ, "time"):
		return 8
	case typ == "integer" || typ == "real" || typ == "date" || typ == "oid":
		return 4
	case typ == "smallint":
		return 2
	}
	return 1 // short varlena, bool, char, uuid
}

func maxAlign(n int) int { return (n + 7) / 8 * 8 }

// candidatesOf are the hypothetical indexes that cost entries: each one's
// own, or its stand-in.
func candidatesOf(entries []*entry) []Candidate {
	out := make([]Candidate, len(entries))
	for i, e := range entries {
		out[i] = e.c
		if e.standIn != nil {
			out[i] = *e.standIn
		}
	}
	return out
}

// whatFor names what the index is for: the reasons the statements it
// serves (gains) were proposed it for, else the candidate's reason, else
// its columns. A candidate proposed for several statements took the
// first one's reason, which may not be one it ends up serving.
func whatFor(e *entry, gains []StatementGain) string {
	var whys []string
	for _, g := range gains {
		if w := e.whys[g.QueryID]; w != "" && !slices.Contains(whys, w) {
			whys = append(whys, w)
		}
	}
	if len(whys) > 0 {
		why := strings.Join(whys, "; also ")
		if e.folded {
			why += "; folded from two indexes, so that one serves both"
		}
		return why
	}
	if e.c.Why != "" {
		return e.c.Why
	}
	var cols []string
	for _, k := range e.c.Keys {
		col, _ := renderKey(k, false)
		cols = append(cols, col)
	}
	return methodOf(e.c) + " index on " + strings.Join(cols, ", ")
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	r, n := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(r)) + s[n:]
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

func formatCalls(gains []StatementGain) string {
	var calls float64
	for _, g := range gains {
		calls += g.Calls
	}
	return strconv.FormatFloat(calls, 'f', -1, 64)
}
