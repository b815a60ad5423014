package advisor

import (
	"slices"
	"strings"

	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Write is a statement of the window that writes rows of one table: every
// new index on that table slows it down.
type Write struct {
	QueryID string
	Table   string // qualified, as collector.Table.QualifiedName
	Kind    string // INSERT, UPDATE, DELETE or MERGE
	// Actions are a MERGE's: INSERT, UPDATE, DELETE.
	Actions []string
	// Columns are what an UPDATE (or INSERT ... ON CONFLICT DO UPDATE, or
	// a MERGE's UPDATE) sets; they decide whether its updates stay HOT.
	Columns []string
	Calls   float64
	Rows    float64 // rows the statement wrote in the window
}

// inserts reports whether w's rows reach an index as new rows: those of an
// INSERT, or of a MERGE that can insert. Like an upsert's updates, the rows
// such a MERGE updates (or deletes: an overestimate) are counted as inserted.
func (w Write) inserts() bool {
	return w.Kind == "INSERT" || w.Kind == "MERGE" && slices.Contains(w.Actions, "INSERT")
}

// updates reports whether w's rows reach an index as updated rows.
func (w Write) updates() bool {
	return w.Kind == "UPDATE" || w.Kind == "MERGE" && slices.Contains(w.Actions, "UPDATE")
}

// IndexWrite is what one write statement of the window costs a new index.
type IndexWrite struct {
	QueryID string  `json:"queryid"`
	Kind    string  `json:"kind"`
	Calls   float64 `json:"calls"`
	// EntriesPerCall are the index entries the statement adds per call: one
	// per row inserted; one per row updated unless the UPDATE stays HOT;
	// and, for an UPDATE that the new index stops from being HOT, one in
	// each of the table's other indexes as well.
	EntriesPerCall float64 `json:"entries_per_call"`
	// BreaksHOT names the new index's columns that an UPDATE, HOT until
	// now, sets.
	BreaksHOT []string `json:"breaks_hot,omitempty"`
	// Cost is calls x entries x the planner cost of one entry, a GIN
	// index's entry counting for the keys it holds (entriesPerRow).
	Cost float64 `json:"cost"`
}

// WorkloadWrites finds the statements of stmts that write a table of cat.
// It takes every statement of the window, not only the top ones: a cheap
// INSERT called a million times seldom ranks, yet it maintains every index
// of its table. Statements it cannot parse are left out.
func WorkloadWrites(stmts []collector.Statement, cat *collector.Catalog) []Write {
	tables := newTableLookup(cat)
	var out []Write
	for _, s := range stmts {
		switch s.Text.Command {
		case "INSERT", "UPDATE", "DELETE", "MERGE", "WITH":
		default:
			continue
		}
		if s.Text.Own || s.Text.Problem != collector.TextOK || s.Calls <= 0 {
			continue
		}
		w, ok := parseWrite(s.Text.Query, tables)
		if !ok {
			continue
		}
		w.QueryID, w.Calls, w.Rows = s.QueryID, float64(s.Calls), float64(s.Rows)
		out = append(out, w)
	}
	return out
}

// parseWrite reads the table a data-modifying statement writes (through
// views too) and the columns it sets. A data-modifying CTE's own writes
// are not followed.
func parseWrite(query string, tables *tableLookup) (Write, bool) {
	tree, err := pg_query.Parse(query)
	if err != nil || len(tree.GetStmts()) != 1 {
		return Write{}, false
	}
	n := tree.GetStmts()[0].GetStmt()
	var w Write
	var rel *pg_query.RangeVar
	var targets []*pg_query.Node
	switch {
	case n.GetInsertStmt() != nil:
		w.Kind, rel = "INSERT", n.GetInsertStmt().GetRelation()
		targets = n.GetInsertStmt().GetOnConflictClause().GetTargetList()
	case n.GetUpdateStmt() != nil:
		w.Kind, rel, targets = "UPDATE", n.GetUpdateStmt().GetRelation(), n.GetUpdateStmt().GetTargetList()
	case n.GetDeleteStmt() != nil:
		w.Kind, rel = "DELETE", n.GetDeleteStmt().GetRelation()
	case n.GetMergeStmt() != nil:
		w.Kind, rel = "MERGE", n.GetMergeStmt().GetRelation()
		for _, when := range n.GetMergeStmt().GetMergeWhenClauses() {
			c := when.GetMergeWhenClause()
			action, ok := mergeActions[c.GetCommandType()]
			if !ok {
				continue // DO NOTHING
			}
			if !slices.Contains(w.Actions, action) {
				w.Actions = append(w.Actions, action)
			}
			if action == "UPDATE" {
				targets = append(targets, c.GetTargetList()...)
			}
		}
	default:
		return Write{}, false
	}
	var columns []string
	for _, tn := range targets {
		if name := tn.GetResTarget().GetName(); name != "" && !slices.Contains(columns, name) {
			columns = append(columns, name)
		}
	}
	t, columns := writtenTable(tables, rel.GetSchemaname(), rel.GetRelname(), columns)
	if t == nil {
		return Write{}, false
	}
	w.Table, w.Columns = t.QualifiedName(), columns
	return w, true
}

// writtenTable is the table a write to the relation schema.name reaches:
// that table, or the one under the automatically updatable views (a
// single relation, no grouping, DISTINCT or LIMIT) it names, with the
// columns set given their names in that table; a set column the view
// computes is dropped, as PostgreSQL refuses to write it. nil when the
// relation is no table of the catalog, nor such a view over one.
func writtenTable(tables *tableLookup, schema, name string, columns []string) (*collector.Table, []string) {
	for range maxViewDepth + 1 {
		view, ok := tables.view(schema, name) // first: a view on the search_path hides a table further on
		if !ok {
			return tables.find(schema, name), columns
		}
		base, names, ok := updatableView(view)
		if !ok {
			return nil, nil
		}
		var mapped []string
		for _, c := range columns {
			if n, ok := names[c]; ok {
				mapped = append(mapped, n)
			}
		}
		schema, name, columns = base.GetSchemaname(), base.GetRelname(), mapped
	}
	return nil, nil
}

// updatableView reads a view's definition (pg_get_viewdef's): the one
// relation it selects from, and its columns that are that relation's, by
// view column name; ok is false when PostgreSQL would not write through
// it, or a trigger or rule does the writing instead.
func updatableView(view collector.View) (base *pg_query.RangeVar, names map[string]string, ok bool) {
	if view.Redirected {
		return nil, nil, false
	}
	tree, err := pg_query.Parse(view.Definition)
	if err != nil || len(tree.GetStmts()) != 1 {
		return nil, nil, false
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil || sel.Op != pg_query.SetOperation_SETOP_NONE || len(sel.FromClause) != 1 || sel.FromClause[0].GetRangeVar() == nil ||
		sel.WithClause != nil || len(sel.DistinctClause) > 0 || len(sel.GroupClause) > 0 || sel.HavingClause != nil ||
		sel.LimitCount != nil || sel.LimitOffset != nil || len(sel.WindowClause) > 0 {
		return nil, nil, false
	}
	names = map[string]string{}
	for _, t := range sel.TargetList {
		fields := t.GetResTarget().GetVal().GetColumnRef().GetFields()
		if len(fields) == 0 || fields[len(fields)-1].GetString_() == nil {
			continue // computed: not writable
		}
		names[sqltree.OutputName(t.GetResTarget())] = fields[len(fields)-1].GetString_().GetSval()
	}
	return sel.FromClause[0].GetRangeVar(), names, true
}

var mergeActions = map[pg_query.CmdType]string{
	pg_query.CmdType_CMD_INSERT: "INSERT", pg_query.CmdType_CMD_UPDATE: "UPDATE", pg_query.CmdType_CMD_DELETE: "DELETE",
}

// hotShare is the share of the updates of table t (writes are the
// window's to t) that change no column of indexedCols which were HOT; 1
// without updates to judge by. Such an update
// is HOT only when its page has room for the new row version, which the
// pages of a table at fillfactor 100 seldom have. pg_stat_user_tables
// counts HOT updates against every update (n_tup_hot_upd / n_tup_upd), so
// that ratio is divided by the share of the window's updated rows that
// change no indexed column.
func hotShare(t *collector.Table, writes []Write, indexedCols []string) float64 {
	if t == nil || t.NTupUpd <= 0 {
		return 1
	}
	var updated, eligible float64
	for _, w := range writes {
		if w.Kind == "UPDATE" {
			updated += w.Rows
			if !intersects(w.Columns, indexedCols) {
				eligible += w.Rows
			}
		}
	}
	share := float64(t.NTupHotUpd) / float64(t.NTupUpd)
	if eligible > 0 {
		share /= eligible / updated
	}
	return min(1, share)
}

// defaultRandomPageCost is PostgreSQL's, for a catalog that lacks the setting.
const defaultRandomPageCost = 4

// entryCost is the planner cost of adding one entry to an index: an
// insertion descends the tree to a leaf as a lookup of one row does, then
// dirties that page and logs it, so it is priced as one random page. (GIN's
// pending list takes a row's keys in one append, so a row counts as one
// entry there too.) In planner units it compares with the reads' gains.
func entryCost(cat *collector.Catalog) float64 {
	if c := cat.Settings.RandomPageCost; c > 0 {
		return c
	}
	return defaultRandomPageCost
}

// ginKeyCost is what one key a GIN index extracts from a row costs, in
// entries of a btree: a row's keys reach the pending list in one append and
// are merged into the entry tree later, sorted and in bulk. Measured on the
// demo's tasks table (PostgreSQL 15, fastupdate on), an UPDATE maintaining a
// full-text index of 23 lexemes a row took about ten btree entries' time,
// the merge included.
const ginKeyCost = 0.4

// entriesPerRow is what adding one row to candidate c costs, in btree
// entries: one for a btree, the append and the keys for a GIN index.
func entriesPerRow(c Candidate, t *collector.Table) float64 {
	if methodOf(c) != "gin" {
		return 1
	}
	return 1 + ginKeyCost*ginKeysPerRow(c, t)
}

// unanalyzedWidth is the average width assumed for a column without
// statistics: PostgreSQL's own guess for a variable-width type.
const unanalyzedWidth = 32

// ginKeysPerRow estimates the keys a GIN index extracts from a row: the
// average width of the columns its key reads (pg_stats) over the bytes one
// key takes up there, which depends on what the opclass extracts. The ratios
// were measured on the demo's data: a full-text lexeme per 8 bytes of text,
// a jsonb_path_ops path per 22 bytes of jsonb (jsonb_ops extracts keys and
// values apart, twice as many), a trigram per character. avg_width is the
// stored size: a compressed or TOASTed document (over about 2 kB) counts
// for less than its text, so the keys of long documents are underestimated.
func ginKeysPerRow(c Candidate, t *collector.Table) float64 {
	var keys float64
	for _, k := range c.Keys {
		cols := []string{k.Column}
		if k.Column == "" {
			cols = identifiers(k.Expression)
		}
		var width, bytesPerKey float64
		for _, col := range t.Columns {
			if !slices.Contains(cols, col.Name) {
				continue
			}
			w := float64(unanalyzedWidth)
			if col.Stats != nil && col.Stats.AvgWidth > 0 {
				w = float64(col.Stats.AvgWidth)
			}
			width += w
			if bytesPerKey == 0 {
				bytesPerKey = bytesPerGINKey(k, col.Type)
			}
		}
		if width > 0 {
			keys += max(1, width/bytesPerKey)
		}
	}
	return max(1, keys)
}

func bytesPerGINKey(k collector.IndexKey, columnType string) float64 {
	switch {
	case k.OpClass == "gin_trgm_ops":
		return 1
	case k.OpClass == "jsonb_path_ops":
		return 22
	case columnType == "jsonb":
		return 11
	case columnType == "tsvector" || strings.Contains(k.Expression, "to_tsvector("):
		return 8
	}
	return 8 // an array's element
}

// indexWrites are the write statements that would maintain candidate c on
// table t, each with its cost in planner units over the window; share is
// the part of the rows c holds (a partial index's predicate keeps only
// those), taken as the part of the written rows that reach it. A DELETE
// adds no entry (VACUUM removes them later, in bulk), and neither does a
// HOT update. An UPDATE that changes no indexed column, the new index's
// included, is HOT as often as such updates of the table have been
// (hotShare).
func indexWrites(c Candidate, t *collector.Table, writes []Write, cat *collector.Catalog, share float64) []IndexWrite {
	newCols := hotColumns(c, t)
	existing := cat.IndexesOn(c.Table)
	var existingCols []string
	for _, ix := range existing {
		existingCols = append(existingCols, existingIndexColumns(ix, t)...)
	}
	writes = slices.DeleteFunc(slices.Clone(writes), func(w Write) bool { return !within(cat, w.Table, c.Table) })
	hot := hotShare(t, writes, existingCols)
	// What a row costs the new index, and the existing ones together, in
	// btree entries.
	newRowEntries, existingRowEntries := entriesPerRow(c, t), 0.0
	for _, ix := range existing {
		existingRowEntries += entriesPerRow(Candidate{Method: ix.Method, Keys: ix.Keys}, t)
	}
	var out []IndexWrite
	for _, w := range writes {
		if w.Calls <= 0 {
			continue
		}
		iw := IndexWrite{QueryID: w.QueryID, Kind: w.Kind, Calls: w.Calls}
		rowsPerCall := w.Rows / w.Calls * share
		// newRows reach the new index; existingRows reach every existing
		// index only because of it.
		var newRows, existingRows float64
		switch {
		case w.inserts():
			// An upsert's updates are counted as inserts: both add an entry
			// unless HOT, which an upsert setting no indexed column is.
			newRows = rowsPerCall
		case !w.updates():
			continue
		case intersects(w.Columns, existingCols):
			newRows = rowsPerCall // not HOT already
		case intersects(w.Columns, newCols):
			// Every row now adds an entry to the new index, and the rows that
			// were HOT one to every existing index too.
			iw.BreaksHOT = slices.DeleteFunc(slices.Clone(w.Columns), func(col string) bool { return !slices.Contains(newCols, col) })
			newRows, existingRows = rowsPerCall, rowsPerCall*hot
		default:
			newRows = rowsPerCall * (1 - hot) // the rows that are not HOT
		}
		if newRows <= 0 {
			continue
		}
		iw.EntriesPerCall = newRows + existingRows*float64(len(existing))
		iw.Cost = w.Calls * (newRows*newRowEntries + existingRows*existingRowEntries) * entryCost(cat)
		out = append(out, iw)
	}
	return out
}

// existingIndexColumns are the columns of t that an UPDATE cannot set and
// stay HOT, given an existing index.
func existingIndexColumns(ix collector.Index, t *collector.Table) []string {
	c := Candidate{Table: ix.Table, Keys: ix.Keys, Include: ix.Include, Where: ix.Predicate}
	return hotColumns(c, t)
}

// hotColumns are the columns of t that an UPDATE cannot set and stay HOT
// once index c exists: those it stores or tests, and those the stored
// generated ones among them are computed from (an index on available,
// generated as on_hand - reserved, stops the HOT updates that set
// reserved).
func hotColumns(c Candidate, t *collector.Table) []string {
	cols := indexedColumns(c, t)
	out := slices.Clone(cols)
	for _, name := range cols {
		if col := columnOf(t, name); col != nil {
			for _, base := range col.GeneratedFrom {
				if !slices.Contains(out, base) {
					out = append(out, base)
				}
			}
		}
	}
	return out
}

func intersects(a, b []string) bool {
	return slices.ContainsFunc(a, func(x string) bool { return slices.Contains(b, x) })
}

func (e *entry) setWrites(ws []IndexWrite) {
	e.writes, e.writeCost = ws, 0
	for _, w := range ws {
		e.writeCost += w.Cost
	}
}
