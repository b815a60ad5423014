package collector

import "time"

// Catalog is a snapshot of one database's schema and statistics, as the
// planner and the advisor need them. It is read once per analysis cycle.
type Catalog struct {
	Database    string
	ServerNum   int // server_version_num, e.g. 150004
	Settings    PlanSettings
	Tables      []Table
	Indexes     []Index
	ForeignKeys []ForeignKey
	// OtherRelations are the views, sequences, foreign tables and
	// composite types, by name only.
	OtherRelations []RelationName
	// Views are the views, with their definitions: statements that read
	// one read its tables.
	Views      []View
	Extensions map[string]string // extname -> extversion
	TakenAt    time.Time
}

// PlanSettings are the server settings that change plans, and the size
// of the cache they assume.
type PlanSettings struct {
	WorkMemBytes                int64
	SharedBuffersBytes          int64
	HashMemMultiplier           float64
	RandomPageCost              float64
	EffectiveCacheSizeBytes     int64
	MaxParallelWorkersPerGather int
	SearchPath                  string
	// TextSearchConfig is default_text_search_config, e.g. "pg_catalog.english".
	TextSearchConfig string
}

// Table is a relation that can hold rows (ordinary or partitioned).
type Table struct {
	OID        uint32
	Schema     string
	Name       string
	Kind       string   // "r" ordinary, "p" partitioned, "m" materialized view
	Parent     string   // qualified name of the partitioned parent, "" when none
	Partitions []string // qualified names; foreign ones are not loaded
	// ForeignPartitions says some partitions are foreign tables, which
	// can have no index.
	ForeignPartitions bool
	// InheritedBy counts the tables that inherit from this one by old-style
	// inheritance (INHERITS, not partitions), whose rows a read of it reads.
	InheritedBy   int
	RelTuples     float64
	RelPages      int64
	SizeBytes     int64 // pg_total_relation_size
	Columns       []Column
	HasPrimaryKey bool

	SeqScan          int64
	SeqTupRead       int64
	IdxScan          int64
	NTupIns          int64
	NTupUpd          int64
	NTupDel          int64
	NTupHotUpd       int64
	NLiveTup         int64
	NDeadTup         int64
	NModSinceAnalyze int64
	LastAnalyze      *time.Time // the later of last_analyze and last_autoanalyze
}

// QualifiedName is schema.name with both parts quoted where needed.
func (t Table) QualifiedName() string { return QuoteIdent(t.Schema) + "." + QuoteIdent(t.Name) }

// Column describes one attribute and its pg_stats row, if analyzed.
type Column struct {
	Num     int16
	Name    string
	Type    string // format_type(atttypid, atttypmod)
	NotNull bool
	// GeneratedFrom are the columns a stored generated column is computed
	// from: an UPDATE that sets one of them changes it too.
	GeneratedFrom []string
	Stats         *ColumnStats
}

// ColumnStats mirrors pg_stats for one column.
type ColumnStats struct {
	NullFrac        float64
	NDistinct       float64 // negative: fraction of rows, as in pg_stats
	MostCommonVals  []string
	MostCommonFreqs []float64
	HistogramBounds []string
	Correlation     float64
	AvgWidth        int32
}

// Index is one index on a table.
type Index struct {
	OID        uint32
	Schema     string
	Name       string
	Table      string // qualified name of the table, as Table.QualifiedName
	Method     string // btree, gin, gist, hash, brin, ...
	Definition string // pg_get_indexdef
	Keys       []IndexKey
	Include    []string
	Predicate  string // pg_get_expr(indpred), "" when not partial
	Unique     bool
	Primary    bool
	Constraint bool // backs a PRIMARY KEY, UNIQUE or EXCLUDE constraint
	Referenced bool // a FOREIGN KEY referencing its table checks through it: DROP INDEX fails
	Valid      bool
	Ready      bool
	SizeBytes  int64
	IdxScan    int64
}

// IndexKey is one key column or expression of an index.
type IndexKey struct {
	Column     string // "" for an expression key
	Expression string // pg_get_indexdef(indexrelid, n, true) for expression keys
	Desc       bool
	NullsFirst bool
	OpClass    string // "" when the default for the type
	// Collation is the key's collation, quoted, when it is not the
	// column's (for an expression: not the database default); "" otherwise.
	// A query compares in the column's collation, and an index in another
	// serves none of its comparisons.
	Collation string
}

// View is a view and the query it stands for, as pg_get_viewdef prints it
// (names not on the catalog's search_path qualified).
type View struct {
	Schema, Name, Definition string
	// Redirected says an INSTEAD OF trigger or an INSTEAD rule does the
	// view's writes, not PostgreSQL's update of the table under it.
	Redirected bool
}

// RelationName names a relation of a schema.
type RelationName struct{ Schema, Name string }

// ForeignKey is a FOREIGN KEY constraint.
type ForeignKey struct {
	Name       string
	Table      string   // qualified referencing table
	Columns    []string // in constraint order
	RefTable   string   // qualified referenced table
	RefColumns []string
	OnDelete   string // NO ACTION, RESTRICT, CASCADE, SET NULL, SET DEFAULT
	OnUpdate   string
}
