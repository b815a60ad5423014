package advisor

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// The budget bounds the sizes indexes will really have, and two inputs of
// the size model are ones the planner's statistics get badly wrong:
//   - the share of rows a partial index keeps, when its predicate compares
//     two columns (l_commitdate < l_receiptdate): the planner assumes a
//     third, TPC-H's lineitem has 63%;
//   - rows per key of a column stored in key order: ANALYZE reads whole
//     blocks, sees each value's neighbours and underestimates n_distinct
//     (386 thousand for l_orderkey's 1.5 million), so the model counted on
//     deduplication that does not happen.
// A sample of whole blocks measures both directly; on a clustered column
// the sampled blocks hold whole runs of equal keys.

// indexSample is what a block sample says about the rows an index holds.
type indexSample struct {
	fraction float64 // of the table's rows, those the predicate keeps
	perKey   float64 // rows per distinct key among them; counted on clustered keys only
}

const (
	// sampleBlocks bounds what one sample reads: 300 blocks, 2.4 MB.
	sampleBlocks = 300
	// maxSampledPartitions bounds the partitions one sample reads.
	maxSampledPartitions = 16
	// clusteredCorrelation: a leading key this correlated with the
	// table's physical order is one whose n_distinct is not trusted.
	clusteredCorrelation = 0.9
	// Functions are named in pg_catalog (see samplesafe.go).
	sampleSQL         = dbconn.Marker + "SELECT pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE %[3]s), %[2]s FROM ONLY %[1]s TABLESAMPLE SYSTEM (%[4]g) REPEATABLE (0)"
	sampleDistinctSQL = "pg_catalog.count(DISTINCT (%s)) FILTER (WHERE %s)"
	// sampleTimeouts: statistics older than the table's growth make a
	// sample read more than sampleBlocks; it must not run on unbounded,
	// nor queue behind a lock (and the writes queued behind it) on the
	// EXPLAIN target. row_security off: a table's row-level security
	// policies are its owner's code, which a sample would run with the
	// advisor's privileges; off, such a table's sample fails instead.
	// One statement: a second one of a text is recorded without the
	// marker before the first.
	sampleTimeouts = dbconn.Marker + "SELECT pg_catalog.set_config('statement_timeout', '10s', true), pg_catalog.set_config('lock_timeout', '1s', true), " +
		"pg_catalog.set_config('row_security', 'off', true)"
)

// readOnlyTx runs fn in a read-only transaction on conn that is rolled
// back, its BEGIN and ROLLBACK marked as the advisor's as every statement
// it sends is (pgx's own transactions send them bare).
func readOnlyTx(ctx context.Context, conn *pgx.Conn, fn func() error) error {
	if _, err := conn.Exec(ctx, dbconn.Marker+"BEGIN READ ONLY"); err != nil {
		return err
	}
	err := fn()
	if _, rbErr := conn.Exec(context.WithoutCancel(ctx), dbconn.Marker+"ROLLBACK"); err == nil {
		err = rbErr
	}
	return err
}

// pages sizes the sample of t: its relpages or, never vacuumed or analyzed
// (relpages 0), its size on disk, which counts its indexes too and so only
// shrinks the sample.
func pages(t *collector.Table) float64 {
	if t.RelPages > 0 {
		return float64(t.RelPages)
	}
	return float64(t.SizeBytes) / pageSize
}

// needsSample reports whether c's size depends on something only a sample
// measures well: a predicate comparing columns, or deduplicated keys led
// by a clustered column.
func needsSample(c Candidate, t *collector.Table) bool {
	if methodOf(c) != "btree" || len(c.Keys) == 0 || slices.ContainsFunc(c.Keys, func(k collector.IndexKey) bool { return k.Column == "" }) {
		return false
	}
	if _, ok := sampleWhere(c, t); !ok {
		return false
	}
	return c.Where != "" || len(c.Include) == 0 && clustered(c, t)
}

// clustered reports whether c's leading key is stored in key order.
func clustered(c Candidate, t *collector.Table) bool {
	lead := columnOf(t, c.Keys[0].Column)
	return lead != nil && lead.Stats != nil && math.Abs(lead.Stats.Correlation) >= clusteredCorrelation
}

// sampleIndexRows samples c's table on the what-if connection, caching by
// table and predicate (and keys, whose rows per key it counts only when
// clustered). ok is false when the table has no sampled rows.
func (s *selection) sampleIndexRows(ctx context.Context, c Candidate, t *collector.Table) (indexSample, bool, error) {
	where, ok := sampleWhere(c, t)
	if !ok {
		return indexSample{}, false, nil
	}
	keys, distinctSQL := "", "0"
	if clustered(c, t) {
		quoted := make([]string, len(c.Keys))
		for i, k := range c.Keys {
			quoted[i] = collector.QuoteIdent(k.Column)
		}
		keys = strings.Join(quoted, ", ")
		distinctSQL = fmt.Sprintf(sampleDistinctSQL, keys, where)
	}
	cacheKey := c.Table + "|" + keys + "|" + where
	if r, ok := s.samples[cacheKey]; ok {
		return r, r.fraction >= 0, nil
	}
	rels := s.cat.OwnRows(t, maxSampledPartitions)
	var total, kept, distinct, relPages float64
	for _, r := range rels {
		relPages += pages(r)
	}
	if relPages <= 0 {
		return indexSample{}, false, nil // empty, or never sized: nothing bounds what a sample would read
	}
	pct := min(100, 100*sampleBlocks/relPages)
	err := readOnlyTx(ctx, s.w.conn, func() error {
		if _, err := s.w.conn.Exec(ctx, sampleTimeouts); err != nil {
			return err
		}
		for _, r := range rels {
			var n, k, d int64
			sql := fmt.Sprintf(sampleSQL, r.QualifiedName(), distinctSQL, where, pct)
			if err := s.w.conn.QueryRow(ctx, sql, pgx.QueryExecModeExec).Scan(&n, &k, &d); err != nil {
				return err
			}
			// Keys rarely span partitions: distinct counts add up.
			total, kept, distinct = total+float64(n), kept+float64(k), distinct+float64(d)
		}
		return nil
	})
	if err != nil {
		return indexSample{}, false, fmt.Errorf("sample %s: %w", c.Table, err)
	}
	r := indexSample{fraction: -1}
	if total > 0 {
		r = indexSample{fraction: kept / total, perKey: kept / max(distinct, 1)}
	}
	s.samples[cacheKey] = r
	return r, r.fraction >= 0, nil
}
