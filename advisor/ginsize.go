package advisor

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	pg "github.com/pganalyze/pg_query_go/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// HypoPG cannot size a GIN index, and its size follows from what the
// opclass extracts, not from the column's width: a trigram index on a
// 42-byte name is 7 times "half the data", a jsonb_path_ops index on
// documents whose keys repeat is a third of it. A GIN index is a btree of
// distinct keys, each with the list of rows holding it, the TIDs
// delta-encoded in 1 to 3 bytes by how far apart those rows lie. A block
// sample lists the keys each sampled row gives, and the model lays them
// out: a key seen once or twice in the sample stands for the rare keys,
// counted with the estimator ANALYZE uses for n_distinct; the others are
// the frequent ones, each as common in the table as in the sample.

// ginKeysSQL lists, for one indexed value v, the distinct keys the opclass
// extracts and each one's width in the index: %[1]s is v, %[2]s the
// schema of pg_trgm (its functions are not in pg_catalog: unqualified, a
// show_trgm of another schema on the search_path would run).
var ginKeysSQL = map[string]string{
	"gin_trgm_ops":   `SELECT k::text, 4 FROM unnest(%[2]s.show_trgm(%[1]s)) AS k`,
	"jsonb_path_ops": `SELECT DISTINCT k::text, 4 FROM jsonb_path_query(%[1]s, 'strict $.** ? (@.type() != "object" && @.type() != "array")') AS k`,
	"jsonb_ops": `SELECT DISTINCT k::text, 2 + octet_length(k #>> '{}') FROM (
		SELECT jsonb_path_query(%[1]s, 'strict $.** ? (@.type() == "object").keyvalue().key')
		UNION ALL SELECT jsonb_path_query(%[1]s, 'strict $.** ? (@.type() != "object" && @.type() != "array")')) AS x(k)`,
	"tsvector_ops": `SELECT k, 1 + octet_length(k) FROM unnest(pg_catalog.tsvector_to_array(%[1]s)) AS k`,
	"array_ops":    `SELECT DISTINCT k::text, pg_catalog.pg_column_size(k) FROM unnest(%[1]s) AS k`,
}

// ginSampleSQL samples one relation: the rows read, and per class of key
// by how many sampled rows hold it (1, 2, then powers of two), the keys,
// the rows they are in, and their mean width. %[1]s is the indexed value,
// %[2]s the relation, %[3]g the percentage of blocks, %[4]s the index
// predicate, %[5]s the key listing of ginKeysSQL for r.v.
const ginSampleSQL = `WITH r AS MATERIALIZED (SELECT %[1]s AS v, (%[4]s) AS kept FROM ONLY %[2]s TABLESAMPLE SYSTEM (%[3]g) REPEATABLE (0)),
e AS (SELECT x.k, count(*) AS c, max(x.w) AS w FROM r, LATERAL (%[5]s) AS x(k, w) WHERE r.kept GROUP BY x.k),
b AS (SELECT CASE WHEN c <= 2 THEN c ELSE 2 + floor(log(2, c)) END AS class, count(*) AS keys, sum(c) AS rows, avg(w) AS width FROM e GROUP BY 1)
SELECT (SELECT count(*) FROM r), array_agg(class::int8 ORDER BY class), array_agg(keys::int8 ORDER BY class),
	array_agg(rows::int8 ORDER BY class), array_agg(width::float8 ORDER BY class) FROM b`

// trgmSchemaSQL is pg_trgm's schema, quoted ("" when not installed).
const trgmSchemaSQL = dbconn.Marker + `SELECT coalesce((SELECT quote_ident(n.nspname) FROM pg_catalog.pg_extension e
	JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm'), '')`

// ginKeyClass is one class of ginSampleSQL: keys held by about as many
// sampled rows.
type ginKeyClass struct {
	class      int64 // 1, 2: held by that many rows; more: by 2^(class-2) or more
	keys, rows float64
	width      float64
}

const (
	// ginEntryFill: GIN's entry tree is built by inserting keys in
	// order, and its pages split in the middle.
	ginEntryFill = 0.5
	// ginPostingOverhead: posting lists are cut in segments and pages
	// are not filled (measured: 1.1 to 1.6 times the TIDs' bytes).
	ginPostingOverhead = 1.35
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
	if strings.HasPrefix(k.Expression, "to_tsvector(") {
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
	if !known || e.c.Where != "" && !plainPredicate(e.c.Where) {
		return s.roughSize(e), nil
	}
	value, sampleable := sampledValue(e.c.Keys[0], e.table) // one key: ginOpClass
	if !sampleable {
		return s.roughSize(e), nil
	}
	where := cmp.Or(e.c.Where, "true")
	var size float64
	err := readOnlyTx(ctx, s.w.conn, func() error {
		if _, err := s.w.conn.Exec(ctx, sampleTimeouts); err != nil {
			return err
		}
		var trgm string
		if err := s.w.conn.QueryRow(ctx, trgmSchemaSQL).Scan(&trgm); err != nil {
			return err
		}
		if opclass == "gin_trgm_ops" && trgm == "" {
			return errors.New("pg_trgm is not installed")
		}
		for _, r := range s.cat.OwnRows(e.table, maxSampledPartitions) {
			relPages := pages(r)
			if relPages <= 0 || r.RelTuples <= 0 {
				continue // empty, or never sized: nothing bounds what a sample reads
			}
			pct := min(100, 100*sampleBlocks/relPages)
			sql := fmt.Sprintf(ginSampleSQL, value, r.QualifiedName(), pct, where, fmt.Sprintf(keysSQL, "r.v", trgm))
			var sampled int64
			var class, keys, rows []int64
			var width []float64
			if err := s.w.conn.QueryRow(ctx, sql, pgx.QueryExecModeExec).Scan(&sampled, &class, &keys, &rows, &width); err != nil {
				return err
			}
			classes := make([]ginKeyClass, len(class))
			for i := range class {
				classes[i] = ginKeyClass{class: class[i], keys: float64(keys[i]), rows: float64(rows[i]), width: width[i]}
			}
			size += ginModel(classes, float64(sampled), r.RelTuples, relPages)
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
// of rows rows on pages pages.
func ginModel(classes []ginKeyClass, sampled, rows, pages float64) float64 {
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
	// Rare keys: Haas and Stokes' Duj1 over those seen once (f1) and twice.
	var f1, n, d, width float64
	for _, c := range classes {
		if c.class <= 2 {
			n, d, width = n+c.rows, d+c.keys, width+c.width*c.keys
			if c.class == 1 {
				f1 = c.keys
			}
			continue
		}
		lay(c.keys, c.rows*scale, c.width)
	}
	if d > 0 {
		distinct := n * d / (n - f1 + f1/scale)
		lay(min(distinct, n*scale), n*scale, width/d)
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

// sampledValue is the SQL of k's value for a sample to evaluate: a column,
// or an expression of columns, constants, || and COALESCE calling only
// to_tsvector, lower and upper, which it names in pg_catalog. The
// expression comes from a statement's text: anything else is not run.
func sampledValue(k collector.IndexKey, t *collector.Table) (string, bool) {
	if k.Column != "" {
		return collector.QuoteIdent(k.Column), columnOf(t, k.Column) != nil
	}
	tree, err := pg.Parse("SELECT " + k.Expression)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	sel := tree.Stmts[0].Stmt.GetSelectStmt()
	if sel == nil || len(sel.TargetList) != 1 || sel.FromClause != nil || sel.WhereClause != nil {
		return "", false
	}
	expr := sel.TargetList[0].GetResTarget().GetVal()
	ok := expr != nil
	sqltree.WalkNodes(expr, func(n *pg.Node) bool {
		switch {
		case n.GetFuncCall() != nil:
			f := n.GetFuncCall()
			name := lastName(f.Funcname)
			ok = ok && inCatalog(f.Funcname) && slices.Contains([]string{"to_tsvector", "lower", "upper"}, name) &&
				f.AggFilter == nil && f.Over == nil && !f.AggStar && !f.AggDistinct && !f.FuncVariadic && f.AggOrder == nil
			f.Funcname = []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode(name)}
		case n.GetColumnRef() != nil:
			fields := n.GetColumnRef().Fields
			ok = ok && len(fields) == 1 && fields[0].GetString_() != nil && columnOf(t, fields[0].GetString_().GetSval()) != nil
		case n.GetTypeCast() != nil:
			tn := n.GetTypeCast().TypeName
			name := lastName(tn.GetNames())
			ok = ok && tn != nil && inCatalog(tn.Names) && slices.Contains([]string{"regconfig", "text"}, name) && tn.ArrayBounds == nil
			if ok {
				tn.Names = []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode(name)}
			}
		case n.GetAExpr() != nil:
			ok = ok && n.GetAExpr().Kind == pg.A_Expr_Kind_AEXPR_OP && lastName(n.GetAExpr().Name) == "||"
			n.GetAExpr().Name = []*pg.Node{pg.MakeStrNode("pg_catalog"), pg.MakeStrNode("||")}
		case n.GetAConst() != nil, n.GetCoalesceExpr() != nil, n.GetString_() != nil, n.GetList() != nil:
		default:
			ok = false
		}
		return ok
	})
	if !ok {
		return "", false
	}
	out := sqltree.Deparse(expr)
	return out, out != ""
}

// inCatalog reports whether names is one name, or one qualified by
// pg_catalog.
func inCatalog(names []*pg.Node) bool {
	return len(names) == 1 || len(names) == 2 && names[0].GetString_().GetSval() == "pg_catalog"
}
