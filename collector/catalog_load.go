package collector

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// userSchemas keeps the application's schemas (namespace alias n),
// leaving out the system catalogs, TOAST and temporary schemas.
const userSchemas = `n.nspname NOT IN ('pg_catalog', 'information_schema')
	AND n.nspname NOT LIKE 'pg\_toast%' AND n.nspname NOT LIKE 'pg\_temp\_%'`

// The catalog queries name their functions in pg_catalog: on the server's
// search_path, a function of another schema whose argument types match
// exactly wins over pg_catalog's when that needs a cast (a
// public.pg_total_relation_size(oid) over pg_catalog's (regclass)), and
// would run with the advisor's privileges. They run on the statements'
// search_path all the same: pg_get_expr and the like print names on it
// unqualified, as the statements write them.
const (
	catalogSettingsQuery = dbconn.Marker + `SELECT pg_catalog.current_database(), pg_catalog.current_setting('server_version_num')::int,
	pg_catalog.pg_size_bytes(pg_catalog.current_setting('work_mem')), pg_catalog.pg_size_bytes(pg_catalog.current_setting('shared_buffers')),
	coalesce(pg_catalog.current_setting('hash_mem_multiplier', true), '1')::float8,
	pg_catalog.current_setting('random_page_cost')::float8,
	pg_catalog.pg_size_bytes(pg_catalog.current_setting('effective_cache_size')),
	pg_catalog.current_setting('max_parallel_workers_per_gather')::int,
	pg_catalog.current_setting('search_path'), pg_catalog.current_setting('default_text_search_config')`

	catalogExtensionsQuery = dbconn.Marker + `SELECT extname, extversion FROM pg_extension`

	catalogTablesQuery = dbconn.Marker + `SELECT c.oid, n.nspname, c.relname, c.relkind::text,
	c.reltuples::float8, c.relpages::int8, coalesce(pg_catalog.pg_total_relation_size(c.oid), 0),
	coalesce(pn.nspname, ''), coalesce(pc.relname, ''),
	EXISTS (SELECT FROM pg_constraint k WHERE k.conrelid = c.oid AND k.contype = 'p'),
	c.relkind = 'p' AND EXISTS (SELECT FROM pg_inherits fi JOIN pg_class f ON f.oid = fi.inhrelid WHERE fi.inhparent = c.oid AND f.relkind = 'f'),
	(SELECT count(*) FROM pg_inherits hi JOIN pg_class h ON h.oid = hi.inhrelid WHERE hi.inhparent = c.oid AND NOT h.relispartition)::int,
	coalesce(s.seq_scan, 0), coalesce(s.seq_tup_read, 0), coalesce(s.idx_scan, 0),
	coalesce(s.n_tup_ins, 0), coalesce(s.n_tup_upd, 0), coalesce(s.n_tup_del, 0), coalesce(s.n_tup_hot_upd, 0),
	coalesce(s.n_live_tup, 0), coalesce(s.n_dead_tup, 0), coalesce(s.n_mod_since_analyze, 0),
	greatest(s.last_analyze, s.last_autoanalyze)
FROM pg_class c
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_inherits i ON i.inhrelid = c.oid AND c.relispartition
LEFT JOIN pg_class pc ON pc.oid = i.inhparent
LEFT JOIN pg_namespace pn ON pn.oid = pc.relnamespace
LEFT JOIN pg_stat_all_tables s ON s.relid = c.oid
WHERE c.relkind IN ('r', 'p', 'm') AND ` + userSchemas + `
ORDER BY n.nspname, c.relname`

	// A stored generated column's expression (its pg_attrdef row) depends
	// on the other columns it reads.
	catalogColumnsQuery = dbconn.Marker + `SELECT a.attrelid, a.attnum, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
	ARRAY(SELECT b.attname::text FROM pg_attrdef ad
		JOIN pg_depend d ON d.classid = 'pg_attrdef'::pg_catalog.regclass::pg_catalog.oid AND d.objid = ad.oid AND d.refclassid = 'pg_class'::pg_catalog.regclass::pg_catalog.oid
			AND d.refobjid = ad.adrelid AND d.refobjsubid > 0 AND d.refobjsubid <> ad.adnum
		JOIN pg_attribute b ON b.attrelid = d.refobjid AND b.attnum = d.refobjsubid
		WHERE a.attgenerated = 's' AND ad.adrelid = a.attrelid AND ad.adnum = a.attnum ORDER BY b.attnum)
FROM pg_attribute a
JOIN pg_class c ON c.oid = a.attrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'm') AND ` + userSchemas + `
ORDER BY a.attrelid, a.attnum`

	// The own-table row (inherited = false) wins; a partitioned table
	// only has the row over its partitions.
	catalogStatsQuery = dbconn.Marker + `SELECT DISTINCT ON (s.schemaname, s.tablename, s.attname)
	s.schemaname, s.tablename, s.attname, s.null_frac, s.n_distinct,
	s.most_common_vals::text::text[], s.most_common_freqs::float8[], s.histogram_bounds::text::text[],
	s.correlation, s.avg_width
FROM pg_stats s
JOIN pg_namespace n ON n.nspname = s.schemaname
WHERE ` + userSchemas + `
ORDER BY s.schemaname, s.tablename, s.attname, s.inherited`

	catalogIndexesQuery = dbconn.Marker + `SELECT i.indexrelid, ins.nspname, ic.relname, n.nspname, tc.relname, am.amname,
	coalesce(pg_catalog.pg_get_indexdef(i.indexrelid), ''), i.indnkeyatts,
	ARRAY(SELECT coalesce(a.attname, '') FROM pg_catalog.unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
		LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum ORDER BY k.ord),
	ARRAY(SELECT pg_catalog.pg_get_indexdef(i.indexrelid, k, true) FROM pg_catalog.generate_series(1, i.indnatts) AS k ORDER BY k),
	i.indoption::int2[],
	ARRAY(SELECT CASE WHEN o.opcdefault THEN '' ELSE o.opcname END
		FROM pg_catalog.unnest(i.indclass::oid[]) WITH ORDINALITY AS k(opc, ord) JOIN pg_opclass o ON o.oid = k.opc ORDER BY k.ord),
	ARRAY(SELECT CASE WHEN k.coll = 0 OR k.coll = coalesce(a.attcollation, ` + defaultCollationOID + `) THEN ''
			ELSE (SELECT pg_catalog.quote_ident(cn.nspname) || '.' || pg_catalog.quote_ident(co.collname) FROM pg_collation co
				JOIN pg_namespace cn ON cn.oid = co.collnamespace WHERE co.oid = k.coll) END
		FROM pg_catalog.unnest(i.indcollation::oid[]) WITH ORDINALITY AS k(coll, ord)
		LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[k.ord - 1] AND a.attnum > 0
		ORDER BY k.ord),
	coalesce(pg_catalog.pg_get_expr(i.indpred, i.indrelid, true), ''),
	i.indisunique, i.indisprimary,
	EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype IN ('p', 'u', 'x')),
	EXISTS (SELECT FROM pg_constraint k WHERE k.conindid = i.indexrelid AND k.contype = 'f'),
	i.indisvalid, i.indisready, coalesce(pg_catalog.pg_relation_size(i.indexrelid), 0), coalesce(s.idx_scan, 0)
FROM pg_index i
JOIN pg_class ic ON ic.oid = i.indexrelid
JOIN pg_namespace ins ON ins.oid = ic.relnamespace
JOIN pg_class tc ON tc.oid = i.indrelid
JOIN pg_namespace n ON n.oid = tc.relnamespace
JOIN pg_am am ON am.oid = ic.relam
LEFT JOIN pg_stat_all_indexes s ON s.indexrelid = i.indexrelid
WHERE tc.relkind IN ('r', 'p', 'm') AND ` + userSchemas + `
ORDER BY n.nspname, tc.relname, ic.relname`

	// Constraints cloned onto partitions (conparentid <> 0) are left out:
	// the parent's constraint stands for them.
	catalogForeignKeysQuery = dbconn.Marker + `SELECT k.conname, n.nspname, c.relname, rn.nspname, rc.relname,
	ARRAY(SELECT a.attname FROM pg_catalog.unnest(k.conkey) WITH ORDINALITY AS u(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.attnum ORDER BY u.ord),
	ARRAY(SELECT a.attname FROM pg_catalog.unnest(k.confkey) WITH ORDINALITY AS u(attnum, ord)
		JOIN pg_attribute a ON a.attrelid = k.confrelid AND a.attnum = u.attnum ORDER BY u.ord),
	k.confdeltype::text, k.confupdtype::text
FROM pg_constraint k
JOIN pg_class c ON c.oid = k.conrelid
JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_class rc ON rc.oid = k.confrelid
JOIN pg_namespace rn ON rn.oid = rc.relnamespace
WHERE k.contype = 'f' AND k.conparentid = 0 AND ` + userSchemas + `
ORDER BY n.nspname, c.relname, k.conname`

	catalogViewsQuery = dbconn.Marker + `SELECT n.nspname, c.relname, coalesce(pg_catalog.pg_get_viewdef(c.oid), ''),
	EXISTS (SELECT FROM pg_trigger g WHERE g.tgrelid = c.oid AND g.tgtype OPERATOR(pg_catalog.&) 64::pg_catalog.int2 <> 0) -- TRIGGER_TYPE_INSTEAD
	OR EXISTS (SELECT FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type <> '1' AND r.is_instead)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'v' AND ` + userSchemas + `
ORDER BY n.nspname, c.relname`

	// catalogOtherNamesQuery lists the relations the other queries leave
	// out (views, sequences, foreign tables, composite types): a new
	// index's name must not be one of theirs either.
	catalogOtherNamesQuery = dbconn.Marker + `SELECT n.nspname, c.relname
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind NOT IN ('r', 'p', 'm', 'i', 'I') AND ` + userSchemas
)

// fkActions maps pg_constraint.confdeltype/confupdtype to SQL.
var fkActions = map[string]string{"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}

// defaultCollationOID is DEFAULT_COLLATION_OID: the database's collation.
const defaultCollationOID = "100"

// Index option bits of pg_index.indoption.
const (
	indoptionDesc       = 1
	indoptionNullsFirst = 2
)

// catalogLockTimeout bounds ReadCatalog's wait for a table lock: the sizes
// take one, which VACUUM FULL, ALTER TABLE or an open LOCK TABLE hold
// for as long as they run. (A relation dropped meanwhile has size 0.)
const catalogLockTimeout = "5s"

// ReadCatalog loads the catalog of database db of the server dsn reaches
// (see WithDatabase), on a connection of its own whose waits for a table
// lock end after catalogLockTimeout.
func ReadCatalog(ctx context.Context, dsn, db string, log *zap.Logger) (*Catalog, error) {
	dsn, err := WithDatabase(dsn, db)
	if err != nil {
		return nil, err
	}
	cfg, err := dbconn.Config(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["lock_timeout"] = catalogLockTimeout
	conn, err := dbconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	return LoadCatalog(ctx, conn, log)
}

// LoadCatalog reads the catalog of the database q is connected to (see
// ReadCatalog). A nil log logs nothing.
func LoadCatalog(ctx context.Context, q Querier, log *zap.Logger) (*Catalog, error) {
	if log == nil {
		log = zap.NewNop()
	}
	start := time.Now()
	c := &Catalog{TakenAt: start, Extensions: map[string]string{}}
	s := &c.Settings
	err := q.QueryRow(ctx, catalogSettingsQuery).Scan(&c.Database, &c.ServerNum, &s.WorkMemBytes, &s.SharedBuffersBytes, &s.HashMemMultiplier,
		&s.RandomPageCost, &s.EffectiveCacheSizeBytes, &s.MaxParallelWorkersPerGather, &s.SearchPath, &s.TextSearchConfig)
	if err != nil {
		return nil, fmt.Errorf("load catalog: settings: %w", err)
	}
	steps := []struct {
		what string
		load func(context.Context, Querier) error
	}{
		{"extensions", c.loadExtensions},
		{"tables", c.loadTables},
		{"columns", c.loadColumns},
		{"column statistics", c.loadStats},
		{"indexes", c.loadIndexes},
		{"foreign keys", c.loadForeignKeys},
		{"other relations", c.loadOtherNames},
		{"views", c.loadViews},
	}
	for _, step := range steps {
		if err := step.load(ctx, q); err != nil {
			if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == "55P03" { // lock_not_available
				err = fmt.Errorf("a table is locked (VACUUM FULL, ALTER TABLE or LOCK TABLE running), read again next time: %w", err)
			}
			return nil, fmt.Errorf("load catalog of %s: %s: %w", c.Database, step.what, err)
		}
	}
	log.Debug("loaded catalog", zap.String("database", c.Database), zap.Int("tables", len(c.Tables)),
		zap.Int("indexes", len(c.Indexes)), zap.Int("foreign_keys", len(c.ForeignKeys)), zap.Duration("took", time.Since(start)))
	return c, nil
}

// each runs query and calls scan for every row.
func each(ctx context.Context, q Querier, query string, scan func(pgx.Rows) error) error {
	rows, err := q.Query(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return err
		}
	}
	return rows.Err()
}

func (c *Catalog) loadExtensions(ctx context.Context, q Querier) error {
	return each(ctx, q, catalogExtensionsQuery, func(rows pgx.Rows) error {
		var name, version string
		if err := rows.Scan(&name, &version); err != nil {
			return err
		}
		c.Extensions[name] = version
		return nil
	})
}

func (c *Catalog) loadTables(ctx context.Context, q Querier) error {
	var parentSchema, parentName string
	err := each(ctx, q, catalogTablesQuery, func(rows pgx.Rows) error {
		var t Table
		err := rows.Scan(&t.OID, &t.Schema, &t.Name, &t.Kind, &t.RelTuples, &t.RelPages, &t.SizeBytes,
			&parentSchema, &parentName, &t.HasPrimaryKey, &t.ForeignPartitions, &t.InheritedBy,
			&t.SeqScan, &t.SeqTupRead, &t.IdxScan, &t.NTupIns, &t.NTupUpd, &t.NTupDel, &t.NTupHotUpd,
			&t.NLiveTup, &t.NDeadTup, &t.NModSinceAnalyze, &t.LastAnalyze)
		if err != nil {
			return err
		}
		if parentName != "" {
			t.Parent = Table{Schema: parentSchema, Name: parentName}.QualifiedName()
		}
		c.Tables = append(c.Tables, t)
		return nil
	})
	if err != nil {
		return err
	}
	byName := make(map[string]int, len(c.Tables))
	for i, t := range c.Tables {
		byName[t.QualifiedName()] = i
	}
	for _, t := range c.Tables {
		if i, ok := byName[t.Parent]; ok {
			c.Tables[i].Partitions = append(c.Tables[i].Partitions, t.QualifiedName())
		}
	}
	return nil
}

func (c *Catalog) tablesByOID() map[uint32]*Table {
	m := make(map[uint32]*Table, len(c.Tables))
	for i := range c.Tables {
		m[c.Tables[i].OID] = &c.Tables[i]
	}
	return m
}

func (c *Catalog) loadColumns(ctx context.Context, q Querier) error {
	byOID := c.tablesByOID()
	return each(ctx, q, catalogColumnsQuery, func(rows pgx.Rows) error {
		var oid uint32
		var col Column
		if err := rows.Scan(&oid, &col.Num, &col.Name, &col.Type, &col.NotNull, &col.GeneratedFrom); err != nil {
			return err
		}
		if t := byOID[oid]; t != nil { // nil: created after the tables were read
			t.Columns = append(t.Columns, col)
		}
		return nil
	})
}

func (c *Catalog) loadStats(ctx context.Context, q Querier) error {
	byName := make(map[[2]string]*Table, len(c.Tables))
	for i := range c.Tables {
		byName[[2]string{c.Tables[i].Schema, c.Tables[i].Name}] = &c.Tables[i]
	}
	return each(ctx, q, catalogStatsQuery, func(rows pgx.Rows) error {
		var schema, table, column string
		var st ColumnStats
		var correlation pgtype.Float8
		if err := rows.Scan(&schema, &table, &column, &st.NullFrac, &st.NDistinct, &st.MostCommonVals,
			&st.MostCommonFreqs, &st.HistogramBounds, &correlation, &st.AvgWidth); err != nil {
			return err
		}
		st.Correlation = correlation.Float64 // NULL (no ordering for the type) reads as 0
		if t := byName[[2]string{schema, table}]; t != nil {
			if col, ok := t.Column(column); ok {
				col.Stats = &st
			}
		}
		return nil
	})
}

func (c *Catalog) loadIndexes(ctx context.Context, q Querier) error {
	return each(ctx, q, catalogIndexesQuery, func(rows pgx.Rows) error {
		var ix Index
		var tableSchema, tableName string
		var nKeys int
		var columns, defs, opclasses, collations []string
		var options []int16
		err := rows.Scan(&ix.OID, &ix.Schema, &ix.Name, &tableSchema, &tableName, &ix.Method, &ix.Definition, &nKeys,
			&columns, &defs, &options, &opclasses, &collations, &ix.Predicate, &ix.Unique, &ix.Primary, &ix.Constraint, &ix.Referenced,
			&ix.Valid, &ix.Ready, &ix.SizeBytes, &ix.IdxScan)
		if err != nil {
			return err
		}
		if len(defs) != len(columns) || nKeys > len(columns) || len(options) != nKeys || len(opclasses) != nKeys || len(collations) != nKeys {
			return fmt.Errorf("index %s.%s: %d columns, %d definitions, %d keys, %d options, %d operator classes, %d collations",
				ix.Schema, ix.Name, len(columns), len(defs), nKeys, len(options), len(opclasses), len(collations))
		}
		ix.Table = Table{Schema: tableSchema, Name: tableName}.QualifiedName()
		for i := range nKeys {
			k := IndexKey{Column: columns[i], Desc: options[i]&indoptionDesc != 0,
				NullsFirst: options[i]&indoptionNullsFirst != 0, OpClass: opclasses[i], Collation: collations[i]}
			if k.Column == "" {
				k.Expression = defs[i]
			}
			ix.Keys = append(ix.Keys, k)
		}
		ix.Include = columns[nKeys:]
		c.Indexes = append(c.Indexes, ix)
		return nil
	})
}

func (c *Catalog) loadForeignKeys(ctx context.Context, q Querier) error {
	return each(ctx, q, catalogForeignKeysQuery, func(rows pgx.Rows) error {
		var fk ForeignKey
		var schema, table, refSchema, refTable, onDelete, onUpdate string
		if err := rows.Scan(&fk.Name, &schema, &table, &refSchema, &refTable, &fk.Columns, &fk.RefColumns,
			&onDelete, &onUpdate); err != nil {
			return err
		}
		fk.Table = Table{Schema: schema, Name: table}.QualifiedName()
		fk.RefTable = Table{Schema: refSchema, Name: refTable}.QualifiedName()
		fk.OnDelete, fk.OnUpdate = fkActions[onDelete], fkActions[onUpdate]
		c.ForeignKeys = append(c.ForeignKeys, fk)
		return nil
	})
}

func (c *Catalog) loadViews(ctx context.Context, q Querier) error {
	return each(ctx, q, catalogViewsQuery, func(rows pgx.Rows) error {
		var v View
		if err := rows.Scan(&v.Schema, &v.Name, &v.Definition, &v.Redirected); err != nil {
			return err
		}
		c.Views = append(c.Views, v)
		return nil
	})
}

func (c *Catalog) loadOtherNames(ctx context.Context, q Querier) error {
	return each(ctx, q, catalogOtherNamesQuery, func(rows pgx.Rows) error {
		var r RelationName
		if err := rows.Scan(&r.Schema, &r.Name); err != nil {
			return err
		}
		c.OtherRelations = append(c.OtherRelations, r)
		return nil
	})
}
