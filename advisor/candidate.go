package advisor

import "github.com/pgadvisor/pgadvisor/collector"

// Candidate is an index the advisor could recommend, before costing.
type Candidate struct {
	Table   string               // qualified table, as collector.Table.QualifiedName
	Method  string               // "btree" or "gin"
	Keys    []collector.IndexKey // key columns or expressions, in order, with direction and opclass
	Include []string             // INCLUDE columns (btree only)
	Where   string               // partial-index predicate, "" for none
	// QueryIDs are the statements whose shape produced this candidate.
	QueryIDs []string
	// Why names the predicate shape it serves, e.g. "equality on tenant_id, order by created_at desc".
	Why string
	// OrGroup names the OR whose arms the candidates of the group index
	// (email = $1 OR name = $2: (email) and (name)); "" for none. They
	// serve its statement only together, in a BitmapOr, and are costed so.
	OrGroup string
}

// WorkloadStatement is a statement of the workload as the advisor costs it.
type WorkloadStatement struct {
	QueryID  string
	Database string
	Query    string   // normalized text with $n placeholders
	Calls    float64  // calls in the window: the weight of its cost
	TimeMS   float64  // its execution time in the window (pg_stat_statements); 0: unknown
	Params   []string // synthesized values for $1..$n; nil means generic plan
	Tables   []string // qualified tables it references (after resolving views)
	// Columns are the columns it reads of each of Tables (StatementRefs);
	// nil: unknown, so every candidate on its tables is costed for it.
	Columns map[string][]string
	// LimitScanShares are what its measured run read of the tables a
	// LIMIT scans sequentially, by alias (see LimitScanShares).
	LimitScanShares map[string]float64
}

// Recommendation is one index to build, with its evidence.
type Recommendation struct {
	ID                 string          `json:"id"` // stable hash of database, table, method, keys, include, where
	Database           string          `json:"database"`
	Table              string          `json:"table"`
	Method             string          `json:"method"`
	Columns            []string        `json:"columns"` // "created_at DESC", "lower(email)", "payload jsonb_path_ops"
	Include            []string        `json:"include,omitempty"`
	Where              string          `json:"where,omitempty"`
	DDL                string          `json:"ddl"`
	EstimatedSizeBytes int64           `json:"estimated_size_bytes"`        // corrected for btree deduplication; the budget applies to it
	HypoPGSizeBytes    int64           `json:"hypopg_size_bytes,omitempty"` // HypoPG's estimate, which ignores deduplication
	CostBefore         float64         `json:"cost_before"`                 // sum of calls x planner cost over served statements
	CostAfter          float64         `json:"cost_after"`
	ImprovementPct     float64         `json:"improvement_pct"`
	TimeSavedMS        float64         `json:"estimated_time_saved_ms"` // served statements' measured time x their cost drop: the ranking
	QueryIDs           []string        `json:"queryids"`
	Statements         []StatementGain `json:"statements"` // per-statement evidence
	Reason             string          `json:"reason"`
	Validated          bool            `json:"validated"` // costed with HypoPG
	// StandIn says the costs were estimated with a stand-in, hypothetical
	// btree indexes on the rows each statement's condition keeps, where
	// HypoPG cannot simulate the index itself (GIN).
	StandIn        bool   `json:"stand_in,omitempty"`
	ValidationNote string `json:"validation_note,omitempty"`
	// CacheDependent are the statements the server's planner, with its own
	// effective_cache_size, would use the index for in plans that the
	// what-if costing (capped at shared_buffers) does not choose.
	CacheDependent []string `json:"cache_dependent_queryids,omitempty"`
	// LimitWalks are the statements whose plan reads the index in order
	// until a LIMIT fills, dropping rows on the way: their cost assumes the
	// rows kept are spread evenly along the index.
	LimitWalks []string `json:"limit_walk_queryids,omitempty"`
	// Incidental are the statements whose plans use the index for an
	// estimated gain too small to count them as served: close calls.
	Incidental []string `json:"incidental_queryids,omitempty"`
	// WriteCost is what maintaining the index costs the window's writes, in
	// planner cost units like CostBefore and CostAfter (Writes itemizes it).
	WriteCost     float64      `json:"write_cost"`
	Writes        []IndexWrite `json:"writes,omitempty"`
	WriteOverhead string       `json:"write_overhead,omitempty"` // e.g. "breaks HOT updates on status"
	VerifySQL     string       `json:"verify_sql"`               // how to check the built index is valid
	// Replaces are the existing indexes this one makes redundant, to drop
	// once it is built: its keys lead with theirs, under their predicate.
	Replaces []string `json:"replaces,omitempty"`
}

// Costed reports whether the costs after were planned: with the index as
// a HypoPG hypothetical one, or with a stand-in.
func (r *Recommendation) Costed() bool { return r.Validated || r.StandIn }

// StatementGain is the planner's cost for one served statement, per call.
type StatementGain struct {
	QueryID    string  `json:"queryid"`
	Calls      float64 `json:"calls"`
	CostBefore float64 `json:"cost_before"`
	CostAfter  float64 `json:"cost_after"`
	// With are the IDs of the other recommendations credited with the
	// same statement: its cost after is theirs as much as this one's.
	With []string `json:"with,omitempty"`
	// CostWithout is, where With is not empty, its cost per call with the
	// other chosen indexes but without this one (0: unknown): the drop from
	// it to CostAfter is what this index adds with the others present.
	CostWithout float64 `json:"cost_without_it,omitempty"`
}
