package advisor

import (
	"fmt"
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

// Thresholds of the schema checks.
const (
	fkMediumRows     = 10_000
	fkLargeRows      = 1_000_000
	fkMediumBytes    = 10 << 20
	fkLargeBytes     = 1 << 30
	unusedIndexBytes = 1 << 20 // smaller unused indexes are not worth a finding
)

// schemaKinds orders the findings SchemaChecks returns.
var schemaKinds = []string{
	"invalid_index", "unindexed_fk", "duplicate_index", "redundant_index",
	"unused_index", "missing_primary_key", "timestamp_without_tz",
}

// SchemaChecks inspects the catalog for problems that hurt whatever the
// workload: unindexed foreign keys, duplicate, redundant, unused and
// invalid indexes, tables without a primary key, and timestamp columns
// without a time zone. The order is deterministic: by kind, then table.
// plans are the workload's plans, if any: an index one of them scans is
// not reported unused whatever its counter says (see unusedIndexes).
func SchemaChecks(cat *collector.Catalog, plans ...*explain.Plan) []explain.Finding {
	if cat == nil {
		return nil
	}
	s := schemaChecker{cat: cat, tables: map[string]*collector.Table{}, norm: normalizer{}, planned: map[string]bool{}}
	for i := range cat.Tables {
		s.tables[cat.Tables[i].QualifiedName()] = &cat.Tables[i]
	}
	s.fkCovers = s.fkKeepers()
	named := map[string]int{}
	for _, ix := range cat.Indexes {
		named[ix.Name]++
	}
	for _, p := range plans {
		p.Walk(func(_ string, n *explain.Node) bool {
			if named[n.IndexName] == 1 { // a name in several schemas could be any of them
				s.planned[n.IndexName] = true
			}
			return true
		})
	}
	var out []explain.Finding
	out = append(out, s.invalidIndexes()...)
	out = append(out, s.unindexedFKs()...)
	v := verdicts{drop: map[*collector.Index]bool{}, keep: map[*collector.Index]bool{}}
	out = append(out, s.duplicateIndexes(v)...)
	out = append(out, s.redundantIndexes(v)...)
	out = append(out, s.unusedIndexes(v)...)
	out = append(out, s.missingPrimaryKeys()...)
	out = append(out, s.timestampsWithoutTZ()...)
	slices.SortStableFunc(out, func(a, b explain.Finding) int {
		if c := slices.Index(schemaKinds, a.Kind) - slices.Index(schemaKinds, b.Kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return strings.Compare(a.Detail, b.Detail)
	})
	return out
}

type schemaChecker struct {
	cat    *collector.Catalog
	tables map[string]*collector.Table
	norm   normalizer
	// planned are the indexes the workload's plans scan, by name (plans
	// name an index without its schema, so only names no other schema
	// has).
	planned map[string]bool
	// fkCovers are the indexes kept for a foreign key's checks
	// (fkKeepers): without them, unindexedFKs would report it.
	fkCovers map[*collector.Index]bool
}

// verdicts are the indexes the duplicate and redundant checks told the
// DBA to drop, and those they told them to keep instead: later checks
// contradict neither (an unused keeper reported unused would have both of
// a pair dropped).
type verdicts struct{ drop, keep map[*collector.Index]bool }

func qualifiedIndexName(ix *collector.Index) string {
	return collector.QuoteIdent(ix.Schema) + "." + collector.QuoteIdent(ix.Name)
}

func quotedColumnList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = collector.QuoteIdent(n)
	}
	return strings.Join(q, ", ")
}

func megabytes(bytes int64) string { return fmt.Sprintf("%.1f MB", float64(bytes)/(1<<20)) }

// rows and size of a table; a partitioned table's are its partitions' sums.
func (s schemaChecker) rowsAndSize(t *collector.Table, depth int) (float64, int64) {
	if t.Kind != "p" || depth > maxPartitionDepth {
		return max(t.RelTuples, 0), t.SizeBytes
	}
	var rows float64
	var size int64
	for _, name := range t.Partitions {
		if p := s.tables[name]; p != nil {
			r, b := s.rowsAndSize(p, depth+1)
			rows, size = rows+r, size+b
		}
	}
	return rows, size
}

// isPartitionOfKnown reports whether t is a partition whose parent the
// catalog holds: checks then report the parent only.
func (s schemaChecker) isPartitionOfKnown(t *collector.Table) bool {
	return t.Parent != "" && s.tables[t.Parent] != nil
}

// unindexedFKs finds foreign keys whose columns do not lead any valid,
// non-partial btree index: every delete or key update on the referenced
// table then scans the referencing one.
func (s schemaChecker) unindexedFKs() []explain.Finding {
	var out []explain.Finding
	for _, fk := range s.cat.ForeignKeys {
		t := s.tables[fk.Table]
		if t == nil || len(fk.Columns) == 0 || s.inheritedFK(t, fk) || s.fkIndexed(fk) {
			continue
		}
		rows, size := s.rowsAndSize(t, 0)
		level := 0
		switch {
		case rows >= fkLargeRows || size >= fkLargeBytes:
			level = 2
		case rows >= fkMediumRows || size >= fkMediumBytes:
			level = 1
		}
		action := "each DELETE or key UPDATE on " + fk.RefTable
		switch fk.OnDelete {
		case "CASCADE", "SET NULL", "SET DEFAULT":
			level = min(level+1, 2)
			action += " (ON DELETE " + fk.OnDelete + ")"
		}
		cols := quotedColumnList(fk.Columns)
		// The same script as a recommendation's: lock_timeout, a name and
		// IF NOT EXISTS make it safe to run again, and a partitioned table
		// gets its index per partition (CONCURRENTLY does not work on it).
		keys := make([]collector.IndexKey, len(fk.Columns))
		for i, c := range fk.Columns {
			keys[i] = collector.IndexKey{Column: c}
		}
		fix := fmt.Sprintf("CREATE INDEX CONCURRENTLY ON %s (%s);", t.QualifiedName(), cols)
		if script, err := IndexDDL(s.cat, Candidate{Table: t.QualifiedName(), Method: "btree", Keys: keys}); err == nil {
			fix = script.SQL()
		}
		out = append(out, explain.Finding{
			Kind:     "unindexed_fk",
			Severity: []explain.Severity{explain.Info, explain.Warning, explain.Critical}[level],
			Table:    t.QualifiedName(),
			Detail: fmt.Sprintf("foreign key %s on %s (%s) has no index leading with its columns: %s scans ~%.0f rows (%s) of %s",
				collector.QuoteIdent(fk.Name), t.QualifiedName(), cols, action, rows, megabytes(size), t.QualifiedName()),
			Evidence: map[string]any{
				"constraint": fk.Name, "columns": fk.Columns, "referenced_table": fk.RefTable,
				"on_delete": fk.OnDelete, "rows": rows, "size_bytes": size,
			},
			Fix: fix,
		})
	}
	return out
}

// inheritedFK reports whether fk on a partition repeats its parent's
// foreign key, which is checked (and fixed) on the parent.
func (s schemaChecker) inheritedFK(t *collector.Table, fk collector.ForeignKey) bool {
	if !s.isPartitionOfKnown(t) {
		return false
	}
	return slices.ContainsFunc(s.cat.ForeignKeys, func(p collector.ForeignKey) bool {
		return p.Table == t.Parent && p.RefTable == fk.RefTable && slices.Equal(p.Columns, fk.Columns)
	})
}

// fkIndexed reports whether a valid, non-partial btree index has the
// foreign key's columns, in any order, as its leading columns: on the
// table, or on each of its partitions.
func (s schemaChecker) fkIndexed(fk collector.ForeignKey) bool {
	leads := func(ix *collector.Index) bool { return leadsFK(ix, fk) }
	if slices.ContainsFunc(s.indexesOn(fk.Table), leads) {
		return true
	}
	t := s.tables[fk.Table]
	return t != nil && onEveryLeaf(t, func(name string) *collector.Table { return s.tables[name] }, s.indexesOn, leads)
}

// leadsFK reports whether ix can serve fk's checks: valid, non-partial,
// btree, with fk's columns, in any order, as its leading keys.
func leadsFK(ix *collector.Index, fk collector.ForeignKey) bool {
	if !ix.Valid || ix.Predicate != "" || ix.Method != "btree" || len(ix.Keys) < len(fk.Columns) {
		return false
	}
	lead := ix.Keys[:len(fk.Columns)]
	// The key checks compare in the columns' collations.
	return !slices.ContainsFunc(lead, func(k collector.IndexKey) bool {
		return k.Column == "" || k.Collation != "" || !slices.Contains(fk.Columns, k.Column)
	}) && !hasDuplicateColumn(lead)
}

// fkKeepers finds, for each foreign key, the index of its table that
// serves its checks that is to stay whatever its counter says: the first
// by keepRank (the most scanned, else by name). Each of two unscanned
// indexes leading with the key's columns is unused, but not both.
// (A partitioned table's partitions may have indexes of their own too;
// the parent's is kept all the same.)
func (s schemaChecker) fkKeepers() map[*collector.Index]bool {
	out := map[*collector.Index]bool{}
	for _, fk := range s.cat.ForeignKeys {
		var covers []*collector.Index
		for _, ix := range s.indexesOn(fk.Table) {
			if leadsFK(ix, fk) {
				covers = append(covers, ix)
			}
		}
		if len(covers) > 0 {
			out[slices.MinFunc(covers, keepRank)] = true
		}
	}
	return out
}

// indexesOn are the indexes of the table with this qualified name.
func (s schemaChecker) indexesOn(table string) []*collector.Index {
	var on []*collector.Index
	for i := range s.cat.Indexes {
		if s.cat.Indexes[i].Table == table {
			on = append(on, &s.cat.Indexes[i])
		}
	}
	return on
}

func hasDuplicateColumn(keys []collector.IndexKey) bool {
	seen := map[string]bool{}
	for _, k := range keys {
		if seen[k.Column] {
			return true
		}
		seen[k.Column] = true
	}
	return false
}

// signature identifies what an index stores and serves: method, keys with
// direction, opclass and collation, INCLUDE columns and predicate.
func (s schemaChecker) signature(ix *collector.Index) string {
	return fmt.Sprintf("%s|%s|%s|%s|%s", ix.Table, ix.Method, s.keysSignature(ix.Keys),
		strings.Join(slices.Sorted(slices.Values(ix.Include)), ","), s.norm.norm(ix.Predicate))
}

func (s schemaChecker) keysSignature(keys []collector.IndexKey) string {
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s %t %t %s %s,", s.norm.keyID(k), k.Desc, k.NullsFirst, k.OpClass, k.Collation)
	}
	return b.String()
}

// keepRank orders duplicates: the one to keep first (primary key, one a
// foreign key checks through, constraint, unique, most used, then by
// name).
func keepRank(a, b *collector.Index) int {
	for _, f := range []func(*collector.Index) bool{
		func(x *collector.Index) bool { return x.Primary },
		func(x *collector.Index) bool { return x.Referenced },
		func(x *collector.Index) bool { return x.Constraint },
		func(x *collector.Index) bool { return x.Unique },
	} {
		if fa, fb := f(a), f(b); fa != fb {
			if fa {
				return -1
			}
			return 1
		}
	}
	if a.IdxScan != b.IdxScan {
		if a.IdxScan > b.IdxScan {
			return -1
		}
		return 1
	}
	return strings.Compare(qualifiedIndexName(a), qualifiedIndexName(b))
}

// validIndexes are the catalog's valid indexes in a stable order.
func (s schemaChecker) validIndexes() []*collector.Index {
	var out []*collector.Index
	for i := range s.cat.Indexes {
		if s.cat.Indexes[i].Valid {
			out = append(out, &s.cat.Indexes[i])
		}
	}
	slices.SortFunc(out, func(a, b *collector.Index) int {
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return strings.Compare(qualifiedIndexName(a), qualifiedIndexName(b))
	})
	return out
}

// dropFix is how to remove an index: DROP INDEX, or dropping the
// constraint it backs (whose name PostgreSQL gives its index).
func (s schemaChecker) dropFix(ix *collector.Index) string {
	var referenced string
	if ix.Referenced {
		// DROP fails while a foreign key depends on the index; added
		// again, the foreign key picks another unique index of the columns.
		referenced = "-- a foreign key referencing " + ix.Table + " checks through this index, and the DROP fails until that\n" +
			"-- foreign key is dropped and added again (ALTER TABLE ... ADD CONSTRAINT ... NOT VALID, then VALIDATE CONSTRAINT)\n"
	}
	if ix.Constraint || ix.Primary {
		return referenced + fmt.Sprintf("ALTER TABLE %s DROP CONSTRAINT %s; -- it backs a constraint; check that no foreign key depends on it",
			ix.Table, collector.QuoteIdent(ix.Name))
	}
	if s.partitioned(ix) {
		return referenced + fmt.Sprintf("DROP INDEX %s; -- a partitioned index cannot be dropped CONCURRENTLY: this locks the table and its partitions while it runs",
			qualifiedIndexName(ix))
	}
	return referenced + fmt.Sprintf("DROP INDEX CONCURRENTLY %s;", qualifiedIndexName(ix))
}

// partitioned reports whether ix is on a partitioned table.
func (s schemaChecker) partitioned(ix *collector.Index) bool {
	t := s.tables[ix.Table]
	return t != nil && t.Kind == "p"
}

// onKnownPartition reports whether ix is on a partition whose parent the
// catalog holds: its index is usually attached to the parent's, which is
// the one to report (and the only one that can be dropped).
func (s schemaChecker) onKnownPartition(ix *collector.Index) bool {
	t := s.tables[ix.Table]
	return t != nil && s.isPartitionOfKnown(t)
}

// duplicateIndexes finds indexes identical to another on the same table;
// all but the one to keep are reported and added to dropped.
func (s schemaChecker) duplicateIndexes(v verdicts) []explain.Finding {
	groups := map[string][]*collector.Index{}
	var order []string
	for _, ix := range s.validIndexes() {
		if s.onKnownPartition(ix) {
			continue
		}
		sig := s.signature(ix)
		if _, ok := groups[sig]; !ok {
			order = append(order, sig)
		}
		groups[sig] = append(groups[sig], ix)
	}
	var out []explain.Finding
	for _, sig := range order {
		g := groups[sig]
		if len(g) < 2 {
			continue
		}
		slices.SortFunc(g, keepRank)
		keep := g[0]
		v.keep[keep] = true
		for _, ix := range g[1:] {
			v.drop[ix] = true
			out = append(out, s.dropFinding("duplicate_index", explain.Warning, ix, keep,
				"duplicates %s: same method, keys, INCLUDE and predicate"))
		}
	}
	return out
}

// redundantIndexes finds btree indexes whose keys are a leading prefix of
// another's on the same table with the same predicate; indexes that
// enforce a constraint or uniqueness stay.
func (s schemaChecker) redundantIndexes(v verdicts) []explain.Finding {
	all := s.validIndexes()
	var out []explain.Finding
	for _, a := range all {
		if v.drop[a] || a.Method != "btree" || a.Unique || a.Primary || a.Constraint || s.onKnownPartition(a) {
			continue
		}
		var keep *collector.Index
		for _, b := range all {
			// An unused one is no keeper: it is reported unused, and
			// the prefix its queries use is what to keep.
			if b == a || v.drop[b] || s.unused(b) || b.Table != a.Table || b.Method != "btree" || len(b.Keys) <= len(a.Keys) ||
				s.norm.norm(a.Predicate) != s.norm.norm(b.Predicate) ||
				s.keysSignature(a.Keys) != s.keysSignature(b.Keys[:len(a.Keys)]) || !includesAll(b, a.Include) {
				continue
			}
			// The longest: a shorter one may itself be a prefix of it, and
			// would then be dropped too (of (a), (a, b) and (a, b, c),
			// both shorter ones go, in favour of the last).
			if keep == nil || len(b.Keys) > len(keep.Keys) {
				keep = b
			}
		}
		if keep == nil {
			continue
		}
		v.drop[a], v.keep[keep] = true, true
		f := s.dropFinding("redundant_index", explain.Info, a, keep, "is a leading prefix of %s, which serves the same lookups")
		f.Evidence["keep_definition"] = keep.Definition
		out = append(out, f)
	}
	return out
}

// dropFinding reports ix as not needed beside keep; how says why, with a %s
// for keep's name.
func (s schemaChecker) dropFinding(kind string, severity explain.Severity, ix, keep *collector.Index, how string) explain.Finding {
	return explain.Finding{
		Kind:     kind,
		Severity: severity,
		Table:    ix.Table,
		Detail: fmt.Sprintf("index %s (%s, %d scans) "+how+"; keep %s",
			qualifiedIndexName(ix), megabytes(ix.SizeBytes), ix.IdxScan, qualifiedIndexName(keep), qualifiedIndexName(keep)),
		Evidence: map[string]any{
			"index": qualifiedIndexName(ix), "keep": qualifiedIndexName(keep), "size_bytes": ix.SizeBytes,
			"idx_scan": ix.IdxScan, "definition": ix.Definition,
		},
		Fix: s.dropFix(ix),
	}
}

// unused reports whether ix is one unusedIndexes reports: never scanned,
// by the statistics or a plan, and no constraint needs it (a foreign key
// whose checks it is kept for included: its counter reads 0 until rows of
// the referenced table are deleted).
func (s schemaChecker) unused(ix *collector.Index) bool {
	return ix.IdxScan == 0 && !s.planned[ix.Name] && !ix.Unique && !ix.Primary && !ix.Constraint && !s.fkCovers[ix] &&
		ix.SizeBytes > unusedIndexBytes && !s.onKnownPartition(ix)
}

// unusedIndexes finds indexes never scanned since the statistics were
// reset. Only meaningful over a long statistics window, and idx_scan is
// per server: an index used only on a replica looks unused here. An index
// a plan of the workload scans is left out: that plan may come from the
// replica, and an index built since the calls that would have scanned it
// (one the advisor recommended, say) reads 0 until they come again.
func (s schemaChecker) unusedIndexes(v verdicts) []explain.Finding {
	var out []explain.Finding
	for _, ix := range s.validIndexes() {
		if v.drop[ix] || v.keep[ix] || !s.unused(ix) {
			continue
		}
		out = append(out, explain.Finding{
			Kind:     "unused_index",
			Severity: explain.Info,
			Table:    ix.Table,
			Detail: fmt.Sprintf("index %s (%s) has not been scanned since statistics were last reset, yet every write maintains it; "+
				"trust this only after a long statistics window, and check replicas, whose scans are counted there",
				qualifiedIndexName(ix), megabytes(ix.SizeBytes)),
			Evidence: map[string]any{"index": qualifiedIndexName(ix), "size_bytes": ix.SizeBytes, "idx_scan": ix.IdxScan, "definition": ix.Definition},
			Fix:      s.dropFix(ix),
		})
	}
	return out
}

// invalidIndexes finds indexes left INVALID by a failed CREATE INDEX
// CONCURRENTLY or REINDEX CONCURRENTLY: never used by queries, but still
// maintained by writes when ready.
func (s schemaChecker) invalidIndexes() []explain.Finding {
	var out []explain.Finding
	for i := range s.cat.Indexes {
		ix := &s.cat.Indexes[i]
		if ix.Valid {
			continue
		}
		name := qualifiedIndexName(ix)
		fix := fmt.Sprintf("DROP INDEX CONCURRENTLY %s;", name)
		switch {
		case s.partitioned(ix) && s.tables[ix.Table].ForeignPartitions:
			// A foreign partition can have no index to attach: ON ONLY
			// stays invalid for good. Dropping it drops the partitions'
			// indexes attached to it, and a plain CREATE INDEX would then
			// build them under a lock that blocks writes: new ones come
			// first, attached by a CREATE INDEX without ONLY.
			fix = "-- a foreign partition can have no index, so an index ON ONLY this table never becomes valid. To rebuild it without blocking writes,\n" +
				"-- build each partition's index that is not foreign with CREATE INDEX CONCURRENTLY under a new name, then create the table's without ONLY\n" +
				"-- (CREATE INDEX <new name> ON " + onClause(ix.Definition) +
				": it attaches them and skips the foreign partitions), then drop this one:\n" +
				setLockTimeout + "\nDROP INDEX " + name + ";"
		case s.partitioned(ix):
			// CREATE INDEX ... ON ONLY: valid once every partition's index
			// is attached, which neither REINDEX nor a CONCURRENTLY build
			// (not possible on a partitioned table) does.
			fix = fmt.Sprintf("-- build the missing partitions' indexes (CREATE INDEX CONCURRENTLY ON each partition) and attach each:\n"+
				"ALTER INDEX %s ATTACH PARTITION <partition's index>;\n-- or drop it (this locks the table and its partitions while it runs):\nDROP INDEX %s;", name, name)
		case strings.Contains(ix.Name, "_ccnew") || strings.Contains(ix.Name, "_ccold"):
			// Left over from an interrupted REINDEX CONCURRENTLY: the original remains.
		default:
			if def := concurrentDefinition(ix.Definition); def != "" {
				fix += "\n" + def + ";"
			}
			fix += fmt.Sprintf("\n-- or: REINDEX INDEX CONCURRENTLY %s;", name)
			if ix.Unique {
				fix = "-- remove the duplicate values first, or the build fails again\n" + fix
			}
		}
		out = append(out, explain.Finding{
			Kind:     "invalid_index",
			Severity: explain.Warning,
			Table:    ix.Table,
			Detail: fmt.Sprintf("index %s (%s) is INVALID, left by a failed or interrupted concurrent build: queries never use it, writes may still maintain it",
				name, megabytes(ix.SizeBytes)),
			Evidence: map[string]any{"index": name, "definition": ix.Definition, "ready": ix.Ready, "size_bytes": ix.SizeBytes},
			Fix:      fix,
		})
	}
	return out
}

// onClause is what follows "ON [ONLY] " in an index definition, on one
// line (it goes in a comment, which a line break would end).
func onClause(def string) string {
	_, rest, _ := strings.Cut(def, " ON ")
	return strings.Join(strings.Fields(strings.TrimPrefix(rest, "ONLY ")), " ")
}

// concurrentDefinition turns pg_get_indexdef output into its CONCURRENTLY
// form: "CREATE [UNIQUE] INDEX name ON ..." -> "CREATE [UNIQUE] INDEX CONCURRENTLY name ON ...".
func concurrentDefinition(def string) string {
	for _, prefix := range []string{"CREATE UNIQUE INDEX ", "CREATE INDEX "} {
		if rest, ok := strings.CutPrefix(def, prefix); ok {
			return prefix + "CONCURRENTLY " + rest
		}
	}
	return ""
}

// missingPrimaryKeys finds ordinary and partitioned tables without a
// primary key; partitions are covered by their parent's finding.
func (s schemaChecker) missingPrimaryKeys() []explain.Finding {
	var out []explain.Finding
	for i := range s.cat.Tables {
		t := &s.cat.Tables[i]
		if (t.Kind != "r" && t.Kind != "p") || t.HasPrimaryKey || s.isPartitionOfKnown(t) {
			continue
		}
		f := explain.Finding{
			Kind:     "missing_primary_key",
			Severity: explain.Warning,
			Table:    t.QualifiedName(),
			Detail: fmt.Sprintf("table %s (~%.0f rows) has no primary key: rows cannot be addressed reliably, and logical replication cannot replicate its UPDATEs and DELETEs",
				t.QualifiedName(), max(t.RelTuples, 0)),
			Evidence: map[string]any{"rows": max(t.RelTuples, 0), "size_bytes": t.SizeBytes},
			Fix:      fmt.Sprintf("ALTER TABLE %s ADD PRIMARY KEY (...); -- choose a unique, NOT NULL key", t.QualifiedName()),
		}
		if ix := s.primaryKeyCandidate(t); ix != nil {
			f.Severity = explain.Info
			f.Detail += fmt.Sprintf("; unique index %s on NOT NULL columns can become it", qualifiedIndexName(ix))
			f.Fix = fmt.Sprintf("ALTER TABLE %s ADD CONSTRAINT %s PRIMARY KEY USING INDEX %s;",
				t.QualifiedName(), collector.QuoteIdent(ix.Name), collector.QuoteIdent(ix.Name))
			f.Evidence["unique_index"] = qualifiedIndexName(ix)
		}
		out = append(out, f)
	}
	return out
}

// primaryKeyCandidate is a unique index ADD PRIMARY KEY USING INDEX
// accepts: valid, btree, non-partial, on plain NOT NULL columns in the
// default sort order, on an ordinary table.
func (s schemaChecker) primaryKeyCandidate(t *collector.Table) *collector.Index {
	if t.Kind != "r" {
		return nil
	}
	for _, ix := range s.validIndexes() {
		// A UNIQUE constraint's index is taken: PRIMARY KEY USING INDEX refuses it.
		if ix.Table != t.QualifiedName() || !ix.Unique || ix.Constraint || ix.Method != "btree" || ix.Predicate != "" || len(ix.Include) > 0 {
			continue
		}
		ok := true
		for _, k := range ix.Keys {
			c := findColumn(t, k.Column)
			if k.Column == "" || c == nil || !c.NotNull || k.Desc || k.NullsFirst || k.OpClass != "" {
				ok = false
			}
		}
		if ok {
			return ix
		}
	}
	return nil
}

// timestampsWithoutTZ finds timestamp without time zone columns, which
// store wall-clock readings whose meaning depends on the writer's zone.
func (s schemaChecker) timestampsWithoutTZ() []explain.Finding {
	var out []explain.Finding
	for i := range s.cat.Tables {
		t := &s.cat.Tables[i]
		if s.isPartitionOfKnown(t) || (t.Kind != "r" && t.Kind != "p") {
			continue
		}
		var cols, alters []string
		for _, c := range t.Columns {
			if strings.HasPrefix(c.Type, "timestamp") && strings.HasSuffix(c.Type, "without time zone") {
				cols = append(cols, c.Name)
				alters = append(alters, fmt.Sprintf("ALTER COLUMN %s TYPE timestamptz", collector.QuoteIdent(c.Name)))
			}
		}
		if len(cols) == 0 {
			continue
		}
		out = append(out, explain.Finding{
			Kind:     "timestamp_without_tz",
			Severity: explain.Info,
			Table:    t.QualifiedName(),
			Detail: fmt.Sprintf("%s has timestamp without time zone columns (%s): their values mean different instants to clients in different time zones and across DST changes",
				t.QualifiedName(), quotedColumnList(cols)),
			Evidence: map[string]any{"columns": cols},
			Fix: fmt.Sprintf("SET TimeZone = 'UTC'; -- the zone the stored values are in; with UTC, PostgreSQL 12+ does not rewrite the table\nALTER TABLE %s %s;",
				t.QualifiedName(), strings.Join(alters, ", ")),
		})
	}
	return out
}
