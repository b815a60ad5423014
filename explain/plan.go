package explain

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/pgadvisor/pgadvisor/collector"
)

// Plan is one statement's EXPLAIN output in FORMAT JSON, as PostgreSQL 13–17
// print it with any of ANALYZE, BUFFERS, SETTINGS, VERBOSE. Without ANALYZE
// the Actual fields are zero and Analyzed reports false.
type Plan struct {
	Root          *Node             `json:"Plan"`
	QueryID       json.Number       `json:"Query Identifier"` // 14+ with VERBOSE; signed, kept as text
	PlanningTime  float64           `json:"Planning Time"`    // ms
	ExecutionTime float64           `json:"Execution Time"`   // ms
	Triggers      []Trigger         `json:"Triggers"`
	JIT           *JIT              `json:"JIT"`
	Settings      map[string]string `json:"Settings"` // SETTINGS: planner settings that differ from the default
	Planning      *Buffers          `json:"Planning"` // buffers used by planning (13+ with BUFFERS)

	ctes map[string]*Node // CTE name -> the top node of its plan
	// source is the plan object as it was read, compacted. MarshalJSON
	// gives it back, so that a JSON report holds the fields PostgreSQL
	// printed and no others: a generic plan with "Actual Rows": 0 on every
	// node, or a Seq Scan with "Hash Buckets": 0, would claim what never
	// happened (and the plans made up most of a report's bytes).
	source json.RawMessage
}

// Node is one plan node. Counts and times of an analyzed node follow
// PostgreSQL's conventions: Actual Rows, Actual Total Time and the Rows
// Removed counters are per-loop averages; buffers, Heap Fetches and heap
// block counts are totals over all loops and workers. Use the methods for
// totals and times rather than the raw fields.
type Node struct {
	NodeType           string   `json:"Node Type"`
	ParentRelationship string   `json:"Parent Relationship"` // Outer, Inner, Member, Subquery, InitPlan, SubPlan
	SubplanName        string   `json:"Subplan Name"`        // "CTE name", "InitPlan 1", "SubPlan 2"
	Operation          string   `json:"Operation"`           // ModifyTable: Insert, Update, Delete, Merge
	Strategy           string   `json:"Strategy"`            // Aggregate/SetOp: Plain, Sorted, Hashed, Mixed
	PartialMode        string   `json:"Partial Mode"`        // Aggregate: Simple, Partial, Finalize
	JoinType           string   `json:"Join Type"`           // Inner, Left, Full, Right, Semi, Anti, Right Semi, Right Anti
	InnerUnique        bool     `json:"Inner Unique"`
	ParallelAware      bool     `json:"Parallel Aware"`
	AsyncCapable       bool     `json:"Async Capable"`
	RelationName       string   `json:"Relation Name"`
	Schema             string   `json:"Schema"`
	Alias              string   `json:"Alias"`
	IndexName          string   `json:"Index Name"`
	FunctionName       string   `json:"Function Name"`
	CTEName            string   `json:"CTE Name"`
	ScanDirection      string   `json:"Scan Direction"`
	Output             []string `json:"Output"`

	StartupCost       float64 `json:"Startup Cost"`
	TotalCost         float64 `json:"Total Cost"`
	PlanRows          float64 `json:"Plan Rows"`
	PlanWidth         int64   `json:"Plan Width"`
	ActualStartupTime float64 `json:"Actual Startup Time"` // ms, per loop
	ActualTotalTime   float64 `json:"Actual Total Time"`   // ms, per loop, includes children
	ActualRows        float64 `json:"Actual Rows"`         // per loop
	ActualLoops       float64 `json:"Actual Loops"`        // 0: never executed

	Filter                    string   `json:"Filter"`
	IndexCond                 string   `json:"Index Cond"`
	RecheckCond               string   `json:"Recheck Cond"`
	HashCond                  string   `json:"Hash Cond"`
	MergeCond                 string   `json:"Merge Cond"`
	JoinFilter                string   `json:"Join Filter"`
	OneTimeFilter             string   `json:"One-Time Filter"`
	RunCondition              string   `json:"Run Condition"`                 // WindowAgg (15+): it stops returning rows once this fails
	SubplansRemoved           int64    `json:"Subplans Removed"`              // Append, MergeAppend: partitions pruned as the executor started
	RowsRemovedByFilter       float64  `json:"Rows Removed by Filter"`        // per loop
	RowsRemovedByJoinFilter   float64  `json:"Rows Removed by Join Filter"`   // per loop
	RowsRemovedByIndexRecheck float64  `json:"Rows Removed by Index Recheck"` // per loop
	HeapFetches               float64  `json:"Heap Fetches"`                  // total
	ExactHeapBlocks           int64    `json:"Exact Heap Blocks"`             // total
	LossyHeapBlocks           int64    `json:"Lossy Heap Blocks"`             // total
	SortKey                   []string `json:"Sort Key"`
	PresortedKey              []string `json:"Presorted Key"`
	GroupKey                  []string `json:"Group Key"`
	SortMethod                string   `json:"Sort Method"`     // quicksort, top-N heapsort, external merge, external sort
	SortSpaceUsed             int64    `json:"Sort Space Used"` // kB
	SortSpaceType             string   `json:"Sort Space Type"` // Memory, Disk
	HashBuckets               int64    `json:"Hash Buckets"`
	OriginalHashBuckets       int64    `json:"Original Hash Buckets"`
	HashBatches               int64    `json:"Hash Batches"`
	OriginalHashBatches       int64    `json:"Original Hash Batches"`
	PeakMemoryUsage           int64    `json:"Peak Memory Usage"` // kB (Hash, HashAggregate, Memoize)
	HashAggBatches            int64    `json:"HashAgg Batches"`
	DiskUsage                 int64    `json:"Disk Usage"` // kB, HashAggregate
	PlannedPartitions         int64    `json:"Planned Partitions"`
	CacheHits                 int64    `json:"Cache Hits"` // Memoize
	CacheMisses               int64    `json:"Cache Misses"`
	CacheEvictions            int64    `json:"Cache Evictions"`
	CacheOverflows            int64    `json:"Cache Overflows"`
	WorkersPlanned            int64    `json:"Workers Planned"` // Gather, Gather Merge
	WorkersLaunched           int64    `json:"Workers Launched"`
	SingleCopy                bool     `json:"Single Copy"`
	Workers                   []Worker `json:"Workers"` // per-worker details (VERBOSE, sorts, hash aggregates)
	Buffers                            // BUFFERS: totals over all loops and workers
	Plans                     []*Node  `json:"Plans"`

	path         string
	parent       *Node
	order        int     // position in a pre-order walk
	participants float64 // processes sharing the loops: 1 outside a Gather
}

// Worker is one parallel worker's share of a node (the "Workers" array).
type Worker struct {
	WorkerNumber      int64   `json:"Worker Number"`
	ActualStartupTime float64 `json:"Actual Startup Time"`
	ActualTotalTime   float64 `json:"Actual Total Time"`
	ActualRows        float64 `json:"Actual Rows"`
	ActualLoops       float64 `json:"Actual Loops"`
	SortMethod        string  `json:"Sort Method"`
	SortSpaceUsed     int64   `json:"Sort Space Used"` // kB
	SortSpaceType     string  `json:"Sort Space Type"`
	HashAggBatches    int64   `json:"HashAgg Batches"`
	PeakMemoryUsage   int64   `json:"Peak Memory Usage"` // kB
	DiskUsage         int64   `json:"Disk Usage"`        // kB
	ExactHeapBlocks   int64   `json:"Exact Heap Blocks"`
	LossyHeapBlocks   int64   `json:"Lossy Heap Blocks"`
	JIT               *JIT    `json:"JIT"`
	Buffers
}

// Buffers is the BUFFERS block of a node, a worker or planning. I/O times
// (ms) need track_io_timing; PostgreSQL 13–16 print shared+local time as
// "I/O Read Time", 17 splits it into shared and local; 15+ add temp.
type Buffers struct {
	SharedHitBlocks     int64   `json:"Shared Hit Blocks"`
	SharedReadBlocks    int64   `json:"Shared Read Blocks"`
	SharedDirtiedBlocks int64   `json:"Shared Dirtied Blocks"`
	SharedWrittenBlocks int64   `json:"Shared Written Blocks"`
	LocalHitBlocks      int64   `json:"Local Hit Blocks"`
	LocalReadBlocks     int64   `json:"Local Read Blocks"`
	LocalDirtiedBlocks  int64   `json:"Local Dirtied Blocks"`
	LocalWrittenBlocks  int64   `json:"Local Written Blocks"`
	TempReadBlocks      int64   `json:"Temp Read Blocks"`
	TempWrittenBlocks   int64   `json:"Temp Written Blocks"`
	IOReadTime          float64 `json:"I/O Read Time"`
	IOWriteTime         float64 `json:"I/O Write Time"`
	SharedIOReadTime    float64 `json:"Shared I/O Read Time"`
	SharedIOWriteTime   float64 `json:"Shared I/O Write Time"`
	LocalIOReadTime     float64 `json:"Local I/O Read Time"`
	LocalIOWriteTime    float64 `json:"Local I/O Write Time"`
	TempIOReadTime      float64 `json:"Temp I/O Read Time"`
	TempIOWriteTime     float64 `json:"Temp I/O Write Time"`
}

// ReadTime is the time spent reading blocks (shared, local and temp), in ms,
// whichever version's field names the plan used.
func (b Buffers) ReadTime() float64 {
	return b.IOReadTime + b.SharedIOReadTime + b.LocalIOReadTime + b.TempIOReadTime
}

// WriteTime is the time spent writing blocks (shared, local and temp), in ms.
func (b Buffers) WriteTime() float64 {
	return b.IOWriteTime + b.SharedIOWriteTime + b.LocalIOWriteTime + b.TempIOWriteTime
}

// Trigger is one trigger's total time (ANALYZE of a data-modifying statement).
type Trigger struct {
	Name       string  `json:"Trigger Name"`
	Constraint string  `json:"Constraint Name"` // set for constraint triggers, e.g. foreign keys
	Relation   string  `json:"Relation"`
	Time       float64 `json:"Time"` // ms, all calls
	Calls      float64 `json:"Calls"`
}

// JIT is the JIT compilation summary.
type JIT struct {
	Functions int64           `json:"Functions"`
	Options   map[string]bool `json:"Options"` // Inlining, Optimization, Expressions, Deforming
	Timing    *JITTiming      `json:"Timing"`
}

// JITTiming is JIT time per phase, in ms.
type JITTiming struct {
	Generation   JITGeneration `json:"Generation"`
	Inlining     float64       `json:"Inlining"`
	Optimization float64       `json:"Optimization"`
	Emission     float64       `json:"Emission"`
	Total        float64       `json:"Total"`
}

// JITGeneration is code generation time: a number up to PostgreSQL 16, an
// object with Deform and Total from 17.
type JITGeneration struct {
	Deform float64 `json:"Deform"`
	Total  float64 `json:"Total"`
}

// UnmarshalJSON accepts both the number and the object form.
func (g *JITGeneration) UnmarshalJSON(b []byte) error {
	if t := bytes.TrimSpace(b); len(t) > 0 && t[0] != '{' {
		g.Deform = 0
		return json.Unmarshal(t, &g.Total)
	}
	type plain JITGeneration
	return json.Unmarshal(b, (*plain)(g))
}

// maxPlanValue bounds every number in a plan: PostgreSQL clamps row
// estimates to 1e100, and the bound keeps products of a few values finite.
const maxPlanValue = 1e100

// ParsePlan parses EXPLAIN ... FORMAT JSON output: the array PostgreSQL
// prints ([{"Plan": ...}]) or its single element ({"Plan": ...}).
func ParsePlan(data []byte) (*Plan, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("not an EXPLAIN plan: empty input")
	}
	if c := trimmed[0]; c != '{' && c != '[' &&
		(bytes.Contains(trimmed, []byte("cost=")) || bytes.Contains(trimmed, []byte("QUERY PLAN"))) {
		return nil, errors.New("not a JSON plan: this looks like text-format EXPLAIN output; use EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)")
	}
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, jsonError(data, err)
	}
	top, _ := raw.(map[string]any)
	isArray := false
	switch v := raw.(type) {
	case map[string]any:
	case []any:
		if len(v) != 1 {
			return nil, fmt.Errorf("not an EXPLAIN plan: want an array of one plan, got %d elements", len(v))
		}
		if top, isArray = v[0].(map[string]any); !isArray {
			return nil, fmt.Errorf("not an EXPLAIN plan: the array holds %s, want an object", jsonKind(v[0]))
		}
	default:
		return nil, fmt.Errorf("not an EXPLAIN plan: top-level JSON is %s, want an object or an array", jsonKind(raw))
	}
	root, ok := top["Plan"]
	if !ok {
		return nil, errors.New(`not an EXPLAIN plan: no "Plan" key`)
	}
	if _, ok := root.(map[string]any); !ok {
		return nil, fmt.Errorf(`not an EXPLAIN plan: "Plan" is %s, want an object`, jsonKind(root))
	}
	// Decoded as plainPlan, not through Plan.UnmarshalJSON, so that the
	// offsets in type errors count from the start of data.
	var p Plan
	source := data
	if isArray {
		var ps [1]plainPlan
		if err := json.Unmarshal(data, &ps); err != nil {
			return nil, jsonError(data, err)
		}
		p = Plan(ps[0])
		var elems [1]json.RawMessage
		if err := json.Unmarshal(data, &elems); err != nil {
			return nil, jsonError(data, err)
		}
		source = elems[0]
	} else if err := json.Unmarshal(data, (*plainPlan)(&p)); err != nil {
		return nil, jsonError(data, err)
	}
	if err := p.link(); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, source); err != nil {
		return nil, jsonError(source, err)
	}
	p.source = compact.Bytes()
	return &p, nil
}

// plainPlan is Plan without its JSON methods.
type plainPlan Plan

// MarshalJSON writes the plan as it was read (see Plan.source); a Plan
// built in code is written from its fields.
func (p *Plan) MarshalJSON() ([]byte, error) {
	if len(p.source) > 0 {
		return p.source, nil
	}
	return json.Marshal((*plainPlan)(p))
}

// UnmarshalJSON reads one plan object, as found in a JSON report: the plan
// comes out linked, as from ParsePlan.
func (p *Plan) UnmarshalJSON(data []byte) error {
	parsed, err := ParsePlan(data)
	if err != nil {
		return err
	}
	*p = *parsed
	return nil
}

func jsonError(data []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		// Offset counts the bytes read, the offending one included.
		at := syn.Offset
		if at > 0 && at < int64(len(data)) {
			at--
		}
		line, col := lineCol(data, at)
		return fmt.Errorf("invalid JSON at offset %d (line %d, column %d): %s", at, line, col, syn.Error())
	case errors.As(err, &typ):
		// The path names embedded structs by their Go name.
		field := strings.ReplaceAll(typ.Field, ".Buffers.", ".")
		if field == "" {
			field = "(top level)"
		}
		return fmt.Errorf("invalid EXPLAIN plan: field %q is a JSON %s, want %s (offset %d)", field, typ.Value, typ.Type, typ.Offset)
	default:
		return fmt.Errorf("invalid EXPLAIN plan: %w", err)
	}
}

func lineCol(data []byte, offset int64) (line, col int) {
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	before := data[:max(offset, 0)]
	line = bytes.Count(before, []byte("\n")) + 1
	col = len(before) - bytes.LastIndexByte(before, '\n')
	return line, col
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case float64:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	default:
		return "an object"
	}
}

// link checks every node and records paths, parents, pre-order positions,
// parallel participants and CTE plans.
func (p *Plan) link() error {
	if err := checkRange(reflect.ValueOf(p).Elem(), "plan"); err != nil {
		return err
	}
	p.ctes = map[string]*Node{}
	order := 0
	var visit func(n, parent *Node, path string) error
	visit = func(n, parent *Node, path string) error {
		if n == nil {
			return fmt.Errorf("invalid EXPLAIN plan: node %s is null", path)
		}
		if strings.TrimSpace(n.NodeType) == "" {
			return fmt.Errorf(`invalid EXPLAIN plan: node %s has no "Node Type"`, path)
		}
		if err := checkRange(reflect.ValueOf(n).Elem(), "node "+path); err != nil {
			return err
		}
		n.path, n.parent, n.order = path, parent, order
		order++
		n.participants = 1
		if parent != nil {
			n.participants = parent.participants
			if parent.isGather() {
				n.participants = gatherParticipants(parent, n)
			}
		}
		if name, ok := strings.CutPrefix(n.SubplanName, "CTE "); ok && n.ParentRelationship == "InitPlan" {
			if _, dup := p.ctes[name]; !dup {
				p.ctes[name] = n
			}
		}
		for i, c := range n.Plans {
			if err := visit(c, n, path+"."+strconv.Itoa(i)); err != nil {
				return err
			}
		}
		return nil
	}
	return visit(p.Root, nil, "0")
}

// gatherParticipants is how many processes ran the Gather's child: the
// leader and the launched workers, measured from the loops when executed.
func gatherParticipants(g, child *Node) float64 {
	if g.ActualLoops > 0 && child.ActualLoops >= g.ActualLoops {
		return child.ActualLoops / g.ActualLoops
	}
	return float64(g.WorkersLaunched) + 1
}

// checkRange rejects negative and absurdly large numbers in v's fields
// (not in child nodes, which link visits with their own path).
func checkRange(v reflect.Value, where string) error {
	t := v.Type()
	for i := range t.NumField() {
		f, fv := t.Field(i), v.Field(i)
		if !f.IsExported() || f.Name == "Plans" {
			continue
		}
		name := f.Tag.Get("json")
		if f.Anonymous {
			if err := checkRange(fv, where); err != nil {
				return err
			}
			continue
		}
		var x float64
		switch fv.Kind() {
		case reflect.Float64:
			x = fv.Float()
		case reflect.Int64:
			x = float64(fv.Int())
		case reflect.Pointer:
			if !fv.IsNil() && fv.Elem().Kind() == reflect.Struct && f.Name != "Root" {
				if err := checkRange(fv.Elem(), where+" "+name); err != nil {
					return err
				}
			}
			continue
		case reflect.Slice:
			if fv.Type().Elem().Kind() == reflect.Struct {
				for j := range fv.Len() {
					if err := checkRange(fv.Index(j), fmt.Sprintf("%s %s[%d]", where, name, j)); err != nil {
						return err
					}
				}
			}
			continue
		case reflect.Struct:
			if err := checkRange(fv, where+" "+name); err != nil {
				return err
			}
			continue
		default:
			continue
		}
		if x < 0 || x > maxPlanValue {
			return fmt.Errorf("invalid EXPLAIN plan: %s: %q is %g, want a number from 0 to %g", where, name, x, maxPlanValue)
		}
	}
	return nil
}

// Analyzed reports whether the plan carries run-time statistics (ANALYZE).
func (p *Plan) Analyzed() bool {
	return p.ExecutionTime > 0 || (p.Root != nil && p.Root.ActualLoops > 0)
}

// TotalTime is the statement's execution time in ms: Execution Time when
// printed, else the top node's time; 0 when not analyzed or TIMING OFF.
func (p *Plan) TotalTime() float64 {
	if p.ExecutionTime > 0 || p.Root == nil {
		return p.ExecutionTime
	}
	return p.Root.InclusiveTime()
}

// Walk visits the nodes in pre-order with their paths ("0", "0.1", "0.1.0":
// the position of each node among its parent's Plans). When fn returns
// false, Walk skips that node's children.
func (p *Plan) Walk(fn func(path string, n *Node) bool) {
	var visit func(n *Node)
	visit = func(n *Node) {
		if n == nil || !fn(n.path, n) {
			return
		}
		for _, c := range n.Plans {
			visit(c)
		}
	}
	visit(p.Root)
}

// Node returns the node at path, or nil.
func (p *Plan) Node(path string) *Node {
	n := p.Root
	rest, ok := strings.CutPrefix(path, "0")
	if !ok {
		return nil
	}
	for rest != "" {
		var idx string
		if rest, ok = strings.CutPrefix(rest, "."); !ok {
			return nil
		}
		idx, rest, _ = strings.Cut(rest, ".")
		if rest != "" {
			rest = "." + rest
		}
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= len(n.Plans) {
			return nil
		}
		n = n.Plans[i]
	}
	return n
}

// cte returns the top node of the named CTE's plan, or nil.
func (p *Plan) cte(name string) *Node { return p.ctes[name] }

// Path is the node's position, e.g. "0.1.0".
func (n *Node) Path() string { return n.path }

// Parent is the node's parent, nil for the top node.
func (n *Node) Parent() *Node { return n.parent }

// Label is the path and the name, e.g. "0.1.0 Seq Scan on public.orders o".
func (n *Node) Label() string { return n.path + " " + n.Name() }

// Name describes the node as text-format EXPLAIN does, e.g. "Parallel Seq
// Scan on public.orders o", "Hash Left Join", "HashAggregate".
func (n *Node) Name() string {
	name := n.NodeType
	switch name {
	case "Aggregate":
		switch n.Strategy {
		case "Hashed":
			name = "HashAggregate"
		case "Sorted":
			name = "GroupAggregate"
		case "Mixed":
			name = "MixedAggregate"
		}
		if n.PartialMode == "Partial" || n.PartialMode == "Finalize" {
			name = n.PartialMode + " " + name
		}
	case "Hash Join", "Merge Join":
		if n.JoinType != "" && n.JoinType != "Inner" {
			kind, _ := strings.CutSuffix(name, " Join")
			name = kind + " " + n.JoinType + " Join"
		}
	case "Nested Loop":
		if n.JoinType != "" && n.JoinType != "Inner" {
			name += " " + n.JoinType + " Join"
		}
	case "ModifyTable":
		if n.Operation != "" {
			name = n.Operation
		}
	}
	if n.ParallelAware {
		name = "Parallel " + name
	}
	if n.IndexName != "" {
		name += " using " + n.IndexName
	}
	switch {
	case n.RelationName != "":
		name += " on " + n.Table()
		if n.Alias != "" && n.Alias != n.RelationName {
			name += " " + n.Alias
		}
	case n.CTEName != "":
		name += " on " + n.CTEName
	case n.FunctionName != "":
		name += " on " + n.FunctionName
	}
	return name
}

// Table is the scanned relation, schema-qualified when the plan names the
// schema (VERBOSE), quoted as PostgreSQL would; "" for non-scan nodes.
func (n *Node) Table() string {
	switch {
	case n.RelationName == "":
		return ""
	case n.Schema == "":
		return collector.QuoteIdent(n.RelationName)
	default:
		return collector.QuoteIdent(n.Schema) + "." + collector.QuoteIdent(n.RelationName)
	}
}

// Executed reports whether the node ran at least once.
func (n *Node) Executed() bool { return n.ActualLoops > 0 }

// Participants is the number of processes that shared the node's loops: the
// leader and launched workers under a Gather, 1 elsewhere.
func (n *Node) Participants() float64 { return n.participants }

// TotalActualRows is the rows the node produced over all loops (and all
// parallel participants: Actual Rows is their per-loop average).
func (n *Node) TotalActualRows() float64 { return n.ActualRows * n.ActualLoops }

// TotalRowsRemovedByFilter is the rows the Filter discarded over all loops.
func (n *Node) TotalRowsRemovedByFilter() float64 { return n.RowsRemovedByFilter * n.ActualLoops }

// TotalRowsRemovedByJoinFilter is the rows the Join Filter discarded over all loops.
func (n *Node) TotalRowsRemovedByJoinFilter() float64 {
	return n.RowsRemovedByJoinFilter * n.ActualLoops
}

// TotalRowsRemovedByIndexRecheck is the rows the recheck discarded over all loops.
func (n *Node) TotalRowsRemovedByIndexRecheck() float64 {
	return n.RowsRemovedByIndexRecheck * n.ActualLoops
}

// InclusiveTime is the wall-clock time in ms the node and its children
// took: per-loop time times loops, divided among parallel participants
// (who run concurrently). 0 when not analyzed or TIMING OFF.
func (n *Node) InclusiveTime() float64 {
	return n.ActualTotalTime * n.ActualLoops / max(n.participants, 1)
}

// ExclusiveTime is InclusiveTime minus the children's. A CTE's plan is not
// subtracted from the node it hangs under: its time is counted in the CTE
// Scans that read it.
func (n *Node) ExclusiveTime() float64 {
	t := n.InclusiveTime()
	for _, c := range n.Plans {
		if !c.isCTEPlan() {
			t -= c.InclusiveTime()
		}
	}
	return max(t, 0)
}

func (n *Node) isGather() bool { return n.NodeType == "Gather" || n.NodeType == "Gather Merge" }

func (n *Node) isCTEPlan() bool {
	return n.ParentRelationship == "InitPlan" && strings.HasPrefix(n.SubplanName, "CTE ")
}
