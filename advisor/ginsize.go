package advisor

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strings"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// HypoPG cannot size a GIN index, and its size follows from what the
// opclass extracts, not from the column's width: a trigram index on a
// 42-byte name is 7 times "half the data", a jsonb_path_ops index on
// documents whose keys repeat is a third of it. A GIN index is a btree of
// distinct keys, each with the list of rows holding it, the TIDs
// delta-encoded in 1 to 3 bytes by how far apart those rows lie. A block
// sample lists the keys each sampled row gives, and the model lays them
// out: a key seen in one or two sampled blocks stands for the rare keys,
// counted with the estimator ANALYZE uses for n_distinct; the others are
// the frequent ones, each as common in the table as in the sample.

// ginKeysSQL lists, for one indexed value v, the distinct keys the opclass
// extracts and each one's width in the index: %[1]s is v, %[2]s the
// schema of pg_trgm (its functions are not in pg_catalog: unqualified, a
// show_trgm of another schema on the search_path would run).
var ginKeysSQL = map[string]string{
	"gin_trgm_ops":   `SELECT k::pg_catalog.text, 4 FROM pg_catalog.unnest(%[2]s.show_trgm(%[1]s)) AS k`,
	"jsonb_path_ops": `SELECT DISTINCT k::pg_catalog.text, 4 FROM pg_catalog.jsonb_path_query(%[1]s, ` + scalarsPath + `) AS k`,
	"jsonb_ops": `SELECT DISTINCT k::pg_catalog.text, 2 OPERATOR(pg_catalog.+) pg_catalog.octet_length(k OPERATOR(pg_catalog.#>>) '{}'::pg_catalog.text[]) FROM (
		SELECT pg_catalog.jsonb_path_query(%[1]s, 'strict $.** ? (@.type() == "object").keyvalue().key'::pg_catalog.jsonpath)
		UNION ALL SELECT pg_catalog.jsonb_path_query(%[1]s, ` + scalarsPath + `)) AS x(k)`,
	"tsvector_ops": `SELECT k, 1 OPERATOR(pg_catalog.+) pg_catalog.octet_length(k) FROM pg_catalog.unnest(pg_catalog.tsvector_to_array(%[1]s)) AS k`,
	"array_ops":    `SELECT DISTINCT k::pg_catalog.text, pg_catalog.pg_column_size(k) FROM pg_catalog.unnest(%[1]s) AS k`,
}

// scalarsPath selects every scalar of a jsonb document.
const scalarsPath = `'strict $.** ? (@.type() != "object" && @.type() != "array")'::pg_catalog.jsonpath`

// ginSampleSQL samples one relation: the rows read, the rows kept that
// give no key (NULL or empty: GIN files them under a placeholder entry),
// and per class of key by how many sampled blocks hold it (1, 2, then
// powers of two), the keys, the rows and blocks they are in, and their
// mean width. %[1]s is the indexed value, %[2]s the relation, %[3]g the
// percentage of blocks, %[4]s the index predicate, %[5]s the key listing
// of ginKeysSQL for r.v. Functions and operators are named in pg_catalog,
// as samplesafe.go explains.
const ginSampleSQL = dbconn.Marker + `WITH r AS MATERIALIZED (SELECT ctid AS id, %[1]s AS v, (%[4]s) AS kept FROM ONLY %[2]s TABLESAMPLE SYSTEM (%[3]g) REPEATABLE (0)),
p AS (SELECT r.id, ((r.id::pg_catalog.text)::pg_catalog.point)[0] AS blk, x.k, x.w FROM r, LATERAL (%[5]s) AS x(k, w) WHERE r.kept),
e AS (SELECT k, pg_catalog.count(*) AS c, pg_catalog.count(DISTINCT blk) AS blocks, pg_catalog.max(w) AS w FROM p GROUP BY k),
b AS (SELECT CASE WHEN blocks OPERATOR(pg_catalog.<=) 2 THEN blocks
	ELSE 2 OPERATOR(pg_catalog.+) pg_catalog.floor(pg_catalog.log(2::pg_catalog.numeric, blocks::pg_catalog.numeric))::pg_catalog.int8 END AS class,
	pg_catalog.count(*) AS keys, pg_catalog.sum(c) AS rows, pg_catalog.sum(blocks) AS blocks, pg_catalog.avg(w) AS width FROM e GROUP BY 1)
SELECT (SELECT pg_catalog.count(*) FROM r),
	(SELECT pg_catalog.count(*) FROM r WHERE kept) OPERATOR(pg_catalog.-) (SELECT pg_catalog.count(DISTINCT id) FROM p),
	pg_catalog.array_agg(class::pg_catalog.int8 ORDER BY class), pg_catalog.array_agg(keys::pg_catalog.int8 ORDER BY class),
	pg_catalog.array_agg(rows::pg_catalog.int8 ORDER BY class), pg_catalog.array_agg(blocks::pg_catalog.int8 ORDER BY class),
	pg_catalog.array_agg(width::pg_catalog.float8 ORDER BY class) FROM b`

// trgmSchemaSQL is pg_trgm's schema, quoted ("" when not installed).
const trgmSchemaSQL = dbconn.Marker + `SELECT coalesce((SELECT pg_catalog.quote_ident(n.nspname::pg_catalog.text) FROM pg_catalog.pg_extension e
	JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) e.extnamespace WHERE e.extname OPERATOR(pg_catalog.=) 'pg_trgm'::pg_catalog.name), '')`

// ginKeyClass is one class of ginSampleSQL: keys held by about as many
// sampled blocks.
type ginKeyClass struct {
	class              int64 // 1, 2: held by that many blocks; more: by 2^(class-2) or more
	keys, rows, blocks float64
	width              float64
}

const (
	// ginEntryFill: GIN's entry tree is built by inserting keys in
	// order, and its pages split in the middle.
	ginEntryFill = 0.5
	// ginPostingOverhead: posting lists are cut in segments and pages
	// are not filled (measured: 1.1 to 1.6 times the TIDs' bytes; 1.5
	// from the built sizes of the benchmark's GIN indexes).
	ginPostingOverhead = 1.5
	// ginTrgmEntryBytes: with no sample, a trigram index holds about one
	// key per byte of the text, at this many bytes each.
	ginTrgmEntryBytes = 4.3
	// heapOffsetBits: a TID is encoded as block << 11 | offset.
	heapOffsetBits = 11
)

// ginOpClass names the opclass of c's key, the default one by its type.
func ginOpClass(c Candidate, t *collector.Table) string {
	if len(c.Keys) != 1 {
		return ""
	}
	k := c.Keys[0]
	if k.OpClass != "" {
		return k.OpClass
	}
	if strings.HasPrefix(strings.TrimPrefix(k.Expression, "pg_catalog."), "to_tsvector(") {
		return "tsvector_ops"
	}
	col := columnOf(t, k.Column)
	switch {
	case col == nil:
		return ""
	case col.Type == "jsonb":
		return "jsonb_ops"
	case col.Type == "tsvector":
		return "tsvector_ops"
	case strings.HasSuffix(col.Type, "[]"):
		return "array_ops"
	}
	return ""
}

// ginSize estimates the size of GIN candidate e from a block sample of its
// table; roughSize when the sample cannot be taken.
func (s *selection) ginSize(ctx context.Context, e *entry) (int64, error) {
	opclass := ginOpClass(e.c, e.table)
	keysSQL, known := ginKeysSQL[opclass]
	if !known {
		return s.roughSize(e), nil
	}
	where, wherable := sampleWhere(e.c, e.table)
	value, sampleable := sampledValue(e.c.Keys[0], e.table) // one key: ginOpClass
	if !wherable || !sampleable {
		return s.roughSize(e), nil
	}
	var size float64
	err := readOnlyTx(ctx, s.w.conn, func() error {
		if _, err := s.w.conn.Exec(ctx, sampleTimeouts); err != nil {
			return err
		}
		var trgm string
		if opclass == "gin_trgm_ops" {
			if err := s.w.conn.QueryRow(ctx, trgmSchemaSQL).Scan(&trgm); err != nil {
				return err
			}
			if trgm == "" {
				return errors.New("pg_trgm is not installed")
			}
		}
		for _, r := range s.cat.OwnRows(e.table, maxSampledPartitions) {
			relPages := pages(r)
			if relPages <= 0 || r.RelTuples <= 0 {
				continue // empty, or never sized: nothing bounds what a sample reads
			}
			pct := min(100, 100*sampleBlocks/relPages)
			sql := fmt.Sprintf(ginSampleSQL, value, r.QualifiedName(), pct, where, fmt.Sprintf(keysSQL, "r.v", trgm))
			var sampled, keyless int64
			var class, keys, rows, blocks []int64
			var width []float64
			if err := s.w.conn.QueryRow(ctx, sql, pgx.QueryExecModeExec).Scan(&sampled, &keyless, &class, &keys, &rows, &blocks, &width); err != nil {
				return err
			}
			classes := make([]ginKeyClass, len(class))
			for i := range class {
				classes[i] = ginKeyClass{class: class[i], keys: float64(keys[i]), rows: float64(rows[i]), blocks: float64(blocks[i]), width: width[i]}
			}
			size += ginModel(classes, float64(keyless), float64(sampled), r.RelTuples, relPages)
		}
		return nil
	})
	if err != nil {
		if fatal(ctx, s.w.conn, err) {
			return 0, err
		}
		s.log.Debug("gin size estimate without a sample", zap.String("table", e.c.Table), zap.Error(err))
		return s.roughSize(e), nil
	}
	if size <= 0 {
		return s.roughSize(e), nil
	}
	return int64(size), nil
}

// ginModel lays out the keys a sample of sampled rows found in a relation
// of rows rows on pages pages, keyless of them giving none.
func ginModel(classes []ginKeyClass, keyless, sampled, rows, pages float64) float64 {
	if sampled <= 0 {
		return 0
	}
	scale := max(rows/sampled, 1)
	rowsPerPage := max(rows/max(pages, 1), 1)
	var entries, postings float64
	lay := func(keys, held, width float64) {
		entries += keys * (float64(maxAlign(tupleHeader+int(math.Ceil(width))+tidSize+2)) + itemIDSize)
		gap := rows / max(held/keys, 1)
		postings += max(held-keys, 0) * tidBytes(gap, rowsPerPage)
	}
	if keyless > 0 {
		lay(1, keyless*scale, 0)
	}
	// Rare keys: Haas and Stokes' Duj1 over those seen in one block (f1)
	// or two. Counted by blocks, not rows: a key that neighbouring rows
	// share, seen in two rows of one block, is as rare as one seen once.
	var f1, n, d, held, width float64
	for _, c := range classes {
		if c.class <= 2 {
			n, d, held, width = n+c.blocks, d+c.keys, held+c.rows, width+c.width*c.keys
			if c.class == 1 {
				f1 = c.keys
			}
			continue
		}
		lay(c.keys, c.rows*scale, c.width)
	}
	if d > 0 {
		distinct := n * d / (n - f1 + f1/scale)
		lay(min(distinct, held*scale), held*scale, width/d)
	}
	return entries/ginEntryFill + postings*ginPostingOverhead + 2*pageSize
}

// tidBytes is the length of the varbyte-encoded distance between TIDs
// gap rows apart.
func tidBytes(gap, rowsPerPage float64) float64 {
	delta := gap
	if gap >= rowsPerPage {
		delta = gap / rowsPerPage * (1 << heapOffsetBits)
	}
	return float64(max(1, (bits.Len64(uint64(delta))+6)/7))
}
