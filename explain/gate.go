package explain

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/dbconn"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Decision says how far a query text may be taken. A query text read from
// pg_stat_statements is hostile input: only a statement the gate proves
// side-effect free is executed (EXPLAIN ANALYZE); a plannable one gets a plain
// EXPLAIN of its generic plan, which never executes it.
type Decision struct {
	Analyze   bool   // safe to execute under EXPLAIN ANALYZE
	Plannable bool   // a plain EXPLAIN is possible and runs no user-defined code that fails the gate
	Reason    string // why not Analyze, e.g. "refused: calls volatile function public.bump_counter()"
}

// maxGateDepth bounds how deep the gate follows views, function bodies and
// default arguments; anything deeper is refused.
const maxGateDepth = 12

// GateStatic is the gate's parse-level half, which needs no server: the
// statement count and kind, data-modifying CTEs, row locks, SELECT INTO and
// denied functions. An Analyze or Plannable decision from it still needs
// Gate's check of the functions the statement calls.
func GateStatic(query string) Decision {
	_, d := gateParse(query)
	return d
}

// Gate decides how far query may be taken on the server behind conn (the
// EXPLAIN target): GateStatic, then every function, operator, cast and
// view the statement reaches is resolved in the catalog. Planning runs
// code too (it folds IMMUTABLE and STABLE functions into constants and
// calls operator functions to estimate selectivity), so a statement whose
// user-defined code fails the check is not even planned; to be executed,
// every function must also be IMMUTABLE or STABLE (or on the allowlist).
// conn must be idle or in a transaction that is not aborted; the gate only
// reads catalogs.
func Gate(ctx context.Context, conn *pgx.Conn, query string) Decision {
	pq, d := gateParse(query)
	if !d.Plannable {
		return d
	}
	d, _ = gateCatalog(ctx, conn, pq, d, databaseHazard) // a failed check refuses, saying why
	return d
}

// gateCatalog refines parsed, gateParse's decision for a plannable
// statement, with the catalog: first whether planning it is safe, then,
// when parsed allows it, whether executing it is, each with dbHazard for
// what the whole database may run implicitly. When a catalog query fails, the
// decision refuses what is left unchecked and err says the refusal is no
// verdict on the statement.
func gateCatalog(ctx context.Context, conn *pgx.Conn, pq *parsedQuery, parsed Decision, dbHazard hazardFunc) (Decision, error) {
	if conn == nil {
		return Decision{Reason: "refused: no connection to check the functions it calls"}, nil
	}
	hazards, err := dbHazard(ctx, conn)
	if err != nil {
		return Decision{Reason: cannotCheck(err)}, err
	}
	if hazards.planning != "" {
		return Decision{Reason: "refused: the database has " + hazards.planning + "; not planned either, since planning may run it"}, nil
	}
	answers := map[string]any{}
	reason, err := newGateChecker(conn, true, answers).checkStatement(ctx, pq)
	switch {
	case err != nil:
		return Decision{Reason: cannotCheck(err)}, err
	case reason != "":
		return Decision{Reason: "refused: " + reason + "; not planned either, since planning may run it"}, nil
	case !parsed.Analyze:
		return parsed, nil
	}
	if hazards.executing != "" {
		return Decision{Plannable: true, Reason: "refused: the database has " + hazards.executing}, nil
	}
	reason, err = newGateChecker(conn, false, answers).checkStatement(ctx, pq)
	switch {
	case err != nil:
		return Decision{Plannable: true, Reason: cannotCheck(err)}, err
	case reason != "":
		return Decision{Plannable: true, Reason: "refused: " + reason}, nil
	}
	return Decision{Analyze: true, Plannable: true}, nil
}

func cannotCheck(err error) string {
	return "refused: cannot check the functions it calls: " + err.Error()
}

// parsedQuery is a query text that parsed as exactly one statement.
type parsedQuery struct {
	text      string
	stmt      *pg_query.Node
	kind      string // the statement's node type, e.g. "SelectStmt"
	numParams int    // highest $n
}

func parseQuery(query string) (*parsedQuery, error) {
	if strings.TrimSpace(query) == "" {
		return nil, errors.New("empty query text")
	}
	tree, err := pg_query.Parse(query)
	if err != nil {
		return nil, fmt.Errorf("cannot parse: %w", err)
	}
	switch n := len(tree.Stmts); n {
	case 0:
		return nil, errors.New("no statement in the query text")
	case 1:
	default:
		return nil, fmt.Errorf("%d statements in one query text", n)
	}
	pq := &parsedQuery{text: query, stmt: tree.Stmts[0].Stmt, kind: nodeKind(tree.Stmts[0].Stmt)}
	sqltree.Walk(pq.stmt, func(m proto.Message) bool {
		if p, ok := m.(*pg_query.ParamRef); ok && int(p.Number) > pq.numParams {
			pq.numParams = int(p.Number)
		}
		return true
	})
	if pq.numParams > maxParams {
		return nil, fmt.Errorf("parameter $%d is beyond the protocol's limit of %d parameters", pq.numParams, maxParams)
	}
	return pq, nil
}

// maxParams is the most parameters one Bind message can carry.
const maxParams = 65535

// nodeKind names the node type a Node wraps, "" for an empty Node.
func nodeKind(n *pg_query.Node) string {
	if n == nil {
		return ""
	}
	m := n.ProtoReflect()
	oneofs := m.Descriptor().Oneofs()
	if oneofs.Len() == 0 {
		return ""
	}
	fd := m.WhichOneof(oneofs.Get(0))
	if fd == nil || fd.Message() == nil {
		return ""
	}
	return string(fd.Message().Name())
}

// statementWord turns a node type into the SQL word a reader knows:
// "CopyStmt" -> "COPY".
func statementWord(kind string) string {
	switch kind {
	case "":
		return "an empty statement"
	case "SelectStmt":
		return "SELECT"
	}
	return strings.ToUpper(strings.TrimSuffix(kind, "Stmt"))
}

// firstKeyword is the statement's first word in upper case ("SAVEPOINT"),
// "" when the scanner finds none.
func firstKeyword(query string) string {
	scan, err := pg_query.Scan(query)
	if err != nil {
		return ""
	}
	for _, tok := range scan.Tokens {
		if tok.Token == pg_query.Token_SQL_COMMENT || tok.Token == pg_query.Token_C_COMMENT {
			continue
		}
		if tok.KeywordKind == pg_query.KeywordKind_NO_KEYWORD || tok.Start < 0 || tok.End > int32(len(query)) || tok.Start >= tok.End {
			return ""
		}
		return strings.ToUpper(query[tok.Start:tok.End])
	}
	return ""
}

// plannableKinds are the statements EXPLAIN accepts and that can be
// prepared; EXPLAIN without ANALYZE plans them without executing them.
var plannableKinds = map[string]bool{
	"SelectStmt": true, "InsertStmt": true, "UpdateStmt": true, "DeleteStmt": true, "MergeStmt": true,
}

func gateParse(query string) (*parsedQuery, Decision) {
	pq, err := parseQuery(query)
	if err != nil {
		return nil, Decision{Reason: "refused: " + err.Error()}
	}
	if !plannableKinds[pq.kind] {
		word := firstKeyword(query)
		if word == "" {
			word = statementWord(pq.kind)
		}
		return pq, Decision{Reason: fmt.Sprintf("refused: %s statement cannot be explained", word)}
	}
	if pq.kind != "SelectStmt" {
		return pq, Decision{Plannable: true, Reason: fmt.Sprintf("refused: %s is not a SELECT", statementWord(pq.kind))}
	}
	if h := findHazard(pq.stmt); h != "" {
		return pq, Decision{Plannable: !strings.HasPrefix(h, "SELECT INTO"), Reason: "refused: " + h}
	}
	return pq, Decision{Analyze: true, Plannable: true}
}

// findHazard returns what makes a parse tree unsafe to execute without
// looking at the catalog, or "".
func findHazard(root proto.Message) string {
	var hazard string
	sqltree.Walk(root, func(m proto.Message) bool {
		if hazard != "" {
			return false
		}
		switch n := m.(type) {
		case *pg_query.SelectStmt:
			if n.IntoClause != nil {
				hazard = "SELECT INTO creates a table"
			}
		case *pg_query.LockingClause:
			hazard = lockWords[n.Strength] + " locks rows"
		case *pg_query.CommonTableExpr:
			if k := nodeKind(n.Ctequery); k != "SelectStmt" && k != "" {
				hazard = fmt.Sprintf("data-modifying CTE %s (%s)", n.Ctename, statementWord(k))
			}
		case *pg_query.InsertStmt, *pg_query.UpdateStmt, *pg_query.DeleteStmt, *pg_query.MergeStmt:
			hazard = "modifies data"
		case *pg_query.FuncCall:
			if ref := funcRef(n.Funcname); deniedFunction(ref.name) {
				hazard = fmt.Sprintf("calls denied function %s()", ref)
			}
		}
		return true
	})
	return hazard
}

var lockWords = map[pg_query.LockClauseStrength]string{
	pg_query.LockClauseStrength_LCS_FORKEYSHARE:    "FOR KEY SHARE",
	pg_query.LockClauseStrength_LCS_FORSHARE:       "FOR SHARE",
	pg_query.LockClauseStrength_LCS_FORNOKEYUPDATE: "FOR NO KEY UPDATE",
	pg_query.LockClauseStrength_LCS_FORUPDATE:      "FOR UPDATE",
	pg_query.LockClauseStrength_LCS_NONE:           "a locking clause",
}

// deniedNames are functions never executed, whatever pg_proc says: they
// sleep, signal or terminate backends, write files, WAL or sequences, take
// advisory locks, assign transaction ids, run SQL text or reach other
// servers, or make values of a type given by oid, which no type name in
// the statement shows (domain_in('5', 'posint'::regtype, -1) runs the
// domain's CHECK). A trailing * matches any suffix, a leading one any
// prefix. Matching ignores the schema.
var deniedNames = []string{
	"pg_sleep*", "pg_terminate_backend", "pg_cancel_backend", "pg_signal_backend", "pg_reload_conf",
	"pg_rotate_logfile*", "pg_log_backend_memory_contexts", "pg_promote", "pg_switch_wal", "pg_switch_xlog",
	"pg_create_*", "pg_drop_replication_slot", "pg_replication_slot_advance", "pg_copy_*",
	"pg_logical_slot_*", "pg_logical_emit_message", "pg_replication_origin_*", "pg_wal_replay_*",
	"pg_backup_*", "pg_start_backup", "pg_stop_backup", "pg_export_snapshot", "pg_import_*",
	"set_config", "setval", "nextval", "lo_*", "loread", "lowrite", "dblink*",
	"pg_advisory*", "pg_try_advisory*", "pg_read_file", "pg_read_binary_file", "pg_ls_*", "pg_stat_file",
	"pg_file_*", "pg_logdir_ls", "pg_notify", "txid_current*", "pg_current_xact_id*",
	"pg_stat_reset*", "pg_stat_statements_reset", "pg_prewarm", "brin_summarize_*", "brin_desummarize_range",
	"gin_clean_pending_list", "binary_upgrade_*", "hypopg_*",
	"query_to_xml*", "query_to_json*", "cursor_to_xml*", "table_to_xml*", "schema_to_xml*",
	"database_to_xml*", "xpath_table", "crosstab*", "connectby*",
	"array_in", "record_in", "domain_in", "range_in", "multirange_in",
	"*_validator", // fmgr_sql_validator(f) parses f's body, running its literals' input functions
}

// deniedLike is deniedNames as an SQL array of LIKE patterns, for
// queries that leave out harmless built-in functions. Its '_' matches any
// character, so a pattern may match more: what it matches is vetted.
var deniedLike = "ARRAY['" + strings.ReplaceAll(strings.Join(deniedNames, "', '"), "*", "%") + "']"

func deniedFunction(name string) bool {
	name = strings.ToLower(name)
	for _, d := range deniedNames {
		prefix, anySuffix := strings.CutSuffix(d, "*")
		suffix, anyPrefix := strings.CutPrefix(d, "*")
		switch {
		case anySuffix && strings.HasPrefix(name, prefix),
			anyPrefix && strings.HasSuffix(name, suffix),
			name == d:
			return true
		}
	}
	return false
}

// allowedVolatile are volatile functions harmless to execute: they only
// read clocks or produce random values. Core ones must be built in; the
// others must belong to the named extension.
var allowedVolatile = map[string]string{ // name -> extension, "" for core
	"random": "", "random_normal": "", "clock_timestamp": "", "timeofday": "", "gen_random_uuid": "",
	"uuid_generate_v1": "uuid-ossp", "uuid_generate_v1mc": "uuid-ossp", "uuid_generate_v4": "uuid-ossp",
	"gen_random_bytes": "pgcrypto",
}

// nameRef is a possibly schema-qualified function or operator name.
type nameRef struct{ schema, name string }

func (r nameRef) String() string {
	if r.schema == "" {
		return r.name
	}
	return r.schema + "." + r.name
}

func funcRef(names []*pg_query.Node) nameRef {
	parts := stringParts(names)
	switch len(parts) {
	case 0:
		return nameRef{}
	case 1:
		return nameRef{name: parts[0]}
	}
	// catalog.schema.name: the catalog must be the current database, which
	// the server checks.
	return nameRef{schema: parts[len(parts)-2], name: parts[len(parts)-1]}
}

func stringParts(nodes []*pg_query.Node) []string {
	var parts []string
	for _, n := range nodes {
		if s := n.GetString_(); s != nil {
			parts = append(parts, s.Sval)
		}
	}
	return parts
}

// gateRefs is everything in a parse tree the catalog has to vouch for.
type gateRefs struct {
	funcs     map[nameRef]bool // function calls
	attrFuncs map[string]bool  // t.name may be the function name(t)
	operators map[nameRef]bool
	types     map[string]bool // type names, quoted for to_regtype
	// coercions are the names of one-argument calls, quoted as types: a
	// call name(x) with no function of exactly that argument type is a
	// cast to type name, when one exists (a domain's CHECK then runs).
	coercions map[string]bool
	relations map[string]bool // relation names, quoted for to_regclass
	ctes      map[string]bool // CTE names, quoted as relations are: a relation name may be one
}

// addAttribute records x.name, which PostgreSQL reads as name(x) when x
// has no column name: a call, or a cast to type name.
func (r gateRefs) addAttribute(name string) {
	r.attrFuncs[name] = true
	r.coercions[quoteParts([]string{name})] = true
}

// pg16JSONObject is how pg_query, which parses with PostgreSQL 16's
// grammar, reads json_object(...): the server, PostgreSQL 15, resolves it
// on the search path like any call. PostgreSQL 16's JSON constructors
// json_array(...), json_arrayagg(...) and json_objectagg(...) come as
// nodes of their own, and stand for such calls too.
var pg16JSONObject = nameRef{schema: "pg_catalog", name: "json_object"}

// pg16SystemUser reports whether call is PostgreSQL 16's SYSTEM_USER, as
// pg_query reads a bare system_user: PostgreSQL 15 reads it as a column of
// that name (whose type the gate vets with its relation's), or in FROM as
// a relation, which the gate must vet as any other; 16 as a harmless
// built-in. Neither calls a function the gate must resolve.
func pg16SystemUser(call *pg_query.FuncCall, ref nameRef) bool {
	return ref == nameRef{schema: "pg_catalog", name: "system_user"} && len(call.Args) == 0 &&
		call.Funcformat == pg_query.CoercionForm_COERCE_SQL_SYNTAX
}

// equality is the operator PostgreSQL looks up by name, with the operands'
// types, for the comparisons a statement writes without one: CASE x WHEN
// y, x IN (SELECT ...), JOIN USING and NATURAL JOIN.
var equality = nameRef{name: "="}

func collectRefs(root proto.Message) gateRefs {
	r := gateRefs{funcs: map[nameRef]bool{}, attrFuncs: map[string]bool{}, operators: map[nameRef]bool{},
		types: map[string]bool{}, coercions: map[string]bool{}, relations: map[string]bool{}, ctes: map[string]bool{}}
	addOp := func(names []*pg_query.Node) {
		if ref := funcRef(names); ref.name != "" {
			r.operators[ref] = true
		}
	}
	sqltree.Walk(root, func(m proto.Message) bool {
		switch n := m.(type) {
		case *pg_query.FuncCall:
			if ref := funcRef(n.Funcname); ref.name != "" && !pg16SystemUser(n, ref) {
				if ref == pg16JSONObject {
					ref.schema = ""
				}
				r.funcs[ref] = true
				if len(n.Args) == 1 && nodeKind(n.Args[0]) != "NamedArgExpr" {
					r.coercions[quoteParts(stringParts(n.Funcname))] = true
				}
			}
		case *pg_query.JsonArrayConstructor, *pg_query.JsonArrayQueryConstructor:
			r.funcs[nameRef{name: "json_array"}] = true
		case *pg_query.JsonArrayAgg:
			r.funcs[nameRef{name: "json_arrayagg"}] = true
		case *pg_query.JsonObjectConstructor:
			r.funcs[nameRef{name: "json_object"}] = true
		case *pg_query.JsonObjectAgg:
			r.funcs[nameRef{name: "json_objectagg"}] = true
		case *pg_query.A_Expr:
			switch n.Kind {
			case pg_query.A_Expr_Kind_AEXPR_BETWEEN, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN,
				pg_query.A_Expr_Kind_AEXPR_BETWEEN_SYM, pg_query.A_Expr_Kind_AEXPR_NOT_BETWEEN_SYM:
				for _, op := range []string{">=", "<=", "<", ">"} { // NOT BETWEEN is a < b OR a > c
					r.operators[nameRef{name: op}] = true
				}
			case pg_query.A_Expr_Kind_AEXPR_SIMILAR:
				r.funcs[nameRef{schema: "pg_catalog", name: "similar_to_escape"}] = true
				addOp(n.Name)
			default:
				addOp(n.Name)
			}
		case *pg_query.SubLink:
			addOp(n.OperName)
			if n.SubLinkType == pg_query.SubLinkType_ANY_SUBLINK && len(n.OperName) == 0 {
				r.operators[equality] = true // x IN (SELECT ...)
			}
		case *pg_query.CaseExpr:
			if n.Arg != nil {
				r.operators[equality] = true // CASE x WHEN y
			}
		case *pg_query.JoinExpr:
			if len(n.UsingClause) > 0 || n.IsNatural {
				r.operators[equality] = true
			}
		case *pg_query.SortBy:
			addOp(n.UseOp)
		case *pg_query.ColumnRef:
			if parts := stringParts(n.Fields); len(parts) >= 2 {
				r.addAttribute(parts[len(parts)-1])
			}
		case *pg_query.A_Indirection:
			for _, s := range stringParts(n.Indirection) {
				r.addAttribute(s)
			}
		case *pg_query.TypeName:
			if parts := stringParts(n.Names); len(parts) > 0 && !n.PctType {
				name := quoteParts(parts)
				if len(n.ArrayBounds) > 0 {
					name += "[]"
				}
				r.types[name] = true
			}
		case *pg_query.RangeFunction:
			for _, item := range n.Functions {
				for _, x := range item.GetList().GetItems() {
					if call := x.GetFuncCall(); call != nil && pg16SystemUser(call, funcRef(call.Funcname)) {
						r.relations[quoteParts([]string{"system_user"})] = true // PostgreSQL 15 reads the relation
					}
				}
			}
		case *pg_query.RangeVar:
			parts := []string{n.Relname}
			if n.Schemaname != "" {
				parts = []string{n.Schemaname, n.Relname}
			}
			r.relations[quoteParts(parts)] = true
		case *pg_query.CommonTableExpr:
			r.ctes[quoteParts([]string{n.Ctename})] = true
		}
		return true
	})
	return r
}

func quoteParts(parts []string) string {
	q := make([]string, len(parts))
	for i, p := range parts {
		q[i] = pgx.Identifier{p}.Sanitize()
	}
	return strings.Join(q, ".")
}

// gateChecker resolves references in the catalog, following views,
// function bodies, default arguments, aggregate support functions, casts
// and domain constraints, each object once.
type gateChecker struct {
	conn *pgx.Conn
	// planning asks only whether planning the statement is safe: the
	// planner never evaluates a VOLATILE function, but folds IMMUTABLE and
	// STABLE ones and calls operator functions on sample values, so then
	// only user-defined code and denied functions that are not VOLATILE
	// count.
	planning bool
	procs    map[procKey]bool
	// rels and types are the relations (by oid) and type names (as the
	// session's search path finds them) seen, by the search path the code
	// that reads them runs under: a view reads otherwise under another,
	// and the functions that compare and convert their values run under it.
	rels  map[seenKey]bool
	types map[seenKey]bool
	// vetted holds the type names checkTypes checked, by the search path
	// they resolved on: the signatures of the functions a statement
	// reaches name the same few types over and over.
	vetted map[seenKey]bool
	strict *gateChecker // bodyChecker's, made on first use
	// answers holds the catalog queries' rows for one decision, shared by
	// its checkers: the planning and the executing check ask the same.
	answers map[string]any
}

// queryCatalog runs a catalog query for c, or returns the rows it gave
// earlier in the same decision. The rows are shared: callers read them.
func queryCatalog[T any](ctx context.Context, c *gateChecker, sql string, scan pgx.RowToFunc[T], args ...any) ([]T, error) {
	key := sql + fmt.Sprintf("%#v", args)
	if rows, ok := c.answers[key].([]T); ok {
		return rows, nil
	}
	rows, err := c.conn.Query(ctx, dbconn.Marker+sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, err
	}
	found, err := pgx.CollectRows(rows, scan)
	if err != nil {
		return nil, err
	}
	c.answers[key] = found
	return found, nil
}

// bodyChecker checks what user-defined code reaches: planning may execute
// that code, so all of it must be safe to execute.
func (c *gateChecker) bodyChecker() *gateChecker {
	if !c.planning {
		return c
	}
	if c.strict == nil {
		c.strict = newGateChecker(c.conn, false, c.answers)
	}
	return c.strict
}

func newGateChecker(conn *pgx.Conn, planning bool, answers map[string]any) *gateChecker {
	return &gateChecker{conn: conn, planning: planning, procs: map[procKey]bool{}, rels: map[seenKey]bool{},
		types: map[seenKey]bool{}, vetted: map[seenKey]bool{}, answers: answers}
}

// checkStatement returns why pq is unsafe (to plan or to execute, as
// c.planning says), or "".
func (c *gateChecker) checkStatement(ctx context.Context, pq *parsedQuery) (string, error) {
	if reason, err := c.check(ctx, collectRefs(pq.stmt), "", nameScope{}, 0); reason != "" || err != nil {
		return reason, err
	}
	return c.checkComparisons(ctx)
}

// implicitComparisonsSQL finds the user-defined functions PostgreSQL may
// call to compare or convert values of the types of the relations $1 and
// the type names $2 (with their base and element types) when the
// statement names no operator: JOIN USING, NATURAL JOIN, CASE x WHEN, IN
// (subquery), DISTINCT, GROUP BY, sorting, hashing, index scans and
// selectivity estimates. Those are comparison operators by name,
// operators and support functions of operator families, implicit casts,
// and casts to json, jsonb and text, whatever their context: to_json,
// row_to_json, json_agg and the like call a type's cast to json, and the
// built-in SQL functions behind text || anyelement and quote_literal its
// cast to text. A relation's row type counts (ORDER BY x, DISTINCT x of
// FROM r AS x compares whole rows with its operator class), a composite
// type's attribute types, as do a range's element type and a multirange's
// range: those functions recurse into them.
// A range type's subtype_diff, which estimating && and the like calls,
// and its canonical, which makes every value of it, are called too.
const implicitComparisonsSQL = `WITH RECURSIVE ty(oid) AS (
	SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = ANY ($1::oid[]) AND a.attnum > 0 AND NOT a.attisdropped
	UNION
	SELECT c.reltype FROM pg_class c WHERE c.oid = ANY ($1::oid[]) AND c.reltype <> 0::pg_catalog.oid
	UNION
	SELECT pg_catalog.to_regtype(x)::oid FROM pg_catalog.unnest($2::text[]) AS x WHERE pg_catalog.to_regtype(x) IS NOT NULL
	UNION
	SELECT v.b FROM ty JOIN pg_type t ON t.oid = ty.oid, LATERAL (SELECT t.typbasetype UNION ALL SELECT t.typelem
		UNION ALL SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid
		UNION ALL SELECT r.rngtypid FROM pg_range r WHERE r.rngmultitypid = t.oid) AS v(b)
	WHERE v.b <> 0::pg_catalog.oid
)
SELECT DISTINCT f.fn FROM (
	SELECT o.oprcode::oid FROM pg_operator o WHERE o.oprname IN ('=', '<>', '<', '<=', '>', '>=')
		AND (o.oprleft IN (SELECT oid FROM ty) OR o.oprright IN (SELECT oid FROM ty))
	UNION ALL
	SELECT o.oprcode::oid FROM pg_amop a JOIN pg_operator o ON o.oid = a.amopopr
		WHERE a.amoplefttype IN (SELECT oid FROM ty) OR a.amoprighttype IN (SELECT oid FROM ty)
	UNION ALL
	SELECT a.amproc::oid FROM pg_amproc a
		WHERE a.amproclefttype IN (SELECT oid FROM ty) OR a.amprocrighttype IN (SELECT oid FROM ty)
	UNION ALL
	SELECT c.castfunc::oid FROM pg_cast c WHERE (c.castcontext = 'i' OR c.casttarget IN ('json'::pg_catalog.regtype::pg_catalog.oid, 'jsonb'::pg_catalog.regtype::pg_catalog.oid, 'text'::pg_catalog.regtype::pg_catalog.oid))
		AND c.castsource IN (SELECT oid FROM ty)
	UNION ALL
	SELECT v.f FROM pg_range r, LATERAL (VALUES (r.rngsubdiff::oid), (r.rngcanonical::oid)) AS v(f)
		WHERE r.rngtypid IN (SELECT oid FROM ty)
) AS f(fn)
WHERE f.fn >= 16384::pg_catalog.oid
ORDER BY 1`

// seenKey is a relation (oid) or a type (name) seen under a search path
// (nameScope.key).
type seenKey struct {
	oid  uint32
	name string
	path string
}

// see records that code running under scope reads relation oid, or a
// value of type name.
func (c *gateChecker) see(scope nameScope, oid uint32, name string) {
	k := seenKey{oid: oid, name: name, path: scope.key()}
	if oid != 0 {
		c.rels[k] = true
	} else {
		c.types[k] = true
	}
}

// checkComparisons vets the functions that compare values of the types
// the statement reads, which no operator node names, under the search
// path each was read under, until the functions it vets bring no new
// relation or type.
func (c *gateChecker) checkComparisons(ctx context.Context) (string, error) {
	compared := map[seenKey]bool{}
	for {
		batches := c.newlySeen(compared)
		if len(batches) == 0 {
			return "", nil
		}
		for _, path := range slices.Sorted(maps.Keys(batches)) {
			b := batches[path]
			slices.Sort(b.rels) // as keys of the decision's answers
			slices.Sort(b.types)
			oids, err := queryCatalog(ctx, c, implicitComparisonsSQL, pgx.RowTo[uint32], b.rels, b.types)
			if err != nil {
				return "", fmt.Errorf("find implicit comparisons: %w", err)
			}
			scope := nameScope{runtimePath: runtimePathOf(path)}
			if reason, err := c.checkOIDs(ctx, oids, "compares or converts values with", "an implicit comparison or conversion", scope, 1); reason != "" || err != nil {
				return reason, err
			}
		}
	}
}

// seenBatch is what code running under one search path reads.
type seenBatch struct {
	rels  []uint32
	types []string
}

// newlySeen returns, by search path, the relations and types c (and its
// body checker) saw that are not in compared yet, and adds them.
func (c *gateChecker) newlySeen(compared map[seenKey]bool) map[string]*seenBatch {
	batches := map[string]*seenBatch{}
	batch := func(path string) *seenBatch {
		if batches[path] == nil {
			batches[path] = &seenBatch{}
		}
		return batches[path]
	}
	for _, k := range []*gateChecker{c, c.strict} {
		if k == nil {
			continue
		}
		for key := range k.rels {
			if !compared[key] {
				compared[key] = true
				b := batch(key.path)
				b.rels = append(b.rels, key.oid)
			}
		}
		for key := range k.types {
			if !compared[key] {
				compared[key] = true
				b := batch(key.path)
				b.types = append(b.types, key.name)
			}
		}
	}
	return batches
}

// procRow is one pg_proc entry as the gate needs it.
type procRow struct {
	oid        uint32
	schema     string
	name       string
	args       string
	volatility string // i, s, v
	lang       string
	body       string // prosrc; the CREATE FUNCTION text for PL/pgSQL and SQL-standard bodies
	defaults   string // argument default expressions, "" when none
	builtin    bool
	extension  string
	aggSupport []uint32 // less the built-in ones that are neither volatile nor denied
	searchPath []string // the function's own SET search_path, nil when it has none
	settings   []string // the names of its other SET clauses
	// definer is the owner of a SECURITY DEFINER function owned by another
	// role than the gate's, "" otherwise.
	definer string
	// types are its result and argument types (OUT ones included), for the
	// domain CHECKs and casts that run on a value becoming one (a
	// function's result cast to its declared type, an argument to its
	// parameter's), nil for a built-in function, which checkProc trusts.
	// Built-in types without such hazards are left out: they are most of
	// them, and vetting each again costs a query.
	types []string
}

func (p procRow) String() string { return p.schema + "." + p.name + "(" + p.args + ")" }

var procColumns = `p.oid, n.nspname::text, p.proname::text, pg_catalog.pg_get_function_identity_arguments(p.oid),
	p.provolatile::text, l.lanname::text,
	CASE WHEN (l.lanname = 'sql' AND p.prosrc = '') OR l.lanname = 'plpgsql' THEN pg_catalog.pg_get_functiondef(p.oid) ELSE p.prosrc END,
	coalesce(pg_catalog.pg_get_expr(p.proargdefaults, 0), ''),
	p.oid < 16384::pg_catalog.oid,
	coalesce((SELECT e.extname::text FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
		WHERE d.classid = 'pg_proc'::pg_catalog.regclass::pg_catalog.oid AND d.objid = p.oid
		AND d.refclassid = 'pg_extension'::pg_catalog.regclass::pg_catalog.oid AND d.deptype = 'e' LIMIT 1), ''),
	ARRAY(SELECT q.oid FROM pg_aggregate a, LATERAL (VALUES (a.aggtransfn), (a.aggfinalfn), (a.aggcombinefn),
			(a.aggserialfn), (a.aggdeserialfn), (a.aggmtransfn), (a.aggminvtransfn), (a.aggmfinalfn)) AS f(fn)
		JOIN pg_proc q ON q.oid = f.fn
		WHERE a.aggfnoid = p.oid AND (q.oid >= 16384::pg_catalog.oid OR q.provolatile = 'v' OR pg_catalog.lower(q.proname) LIKE ANY (` + deniedLike + `))),
	(SELECT pg_catalog.substr(cfg, pg_catalog.length('search_path=') + 1) FROM pg_catalog.unnest(p.proconfig) AS cfg WHERE cfg LIKE 'search_path=%'),
	coalesce((SELECT pg_catalog.array_agg(pg_catalog.lower(pg_catalog.split_part(cfg, '=', 1))) FROM pg_catalog.unnest(p.proconfig) AS cfg WHERE cfg NOT LIKE 'search_path=%'), '{}'),
	CASE WHEN p.prosecdef AND p.proowner <> (SELECT oid FROM pg_roles WHERE rolname = current_user) THEN pg_catalog.pg_get_userbyid(p.proowner)::text ELSE '' END,
	CASE WHEN p.oid >= 16384::pg_catalog.oid THEN ARRAY(SELECT pg_catalog.format_type(t, NULL) FROM pg_catalog.unnest(pg_catalog.array_prepend(p.prorettype, coalesce(p.proallargtypes, p.proargtypes::oid[]))) AS t
		WHERE t >= 16384::pg_catalog.oid OR EXISTS (WITH RECURSIVE named(oid) AS (SELECT t), ` + typeHazardsFrom + ` SELECT FROM hazards)) END`

// procsByNameSQL finds the candidates for each name: in the given schema,
// in the search path when the schema is "", in any schema when it is "*".
// With onearg only functions callable with one argument count (t.name).
var procsByNameSQL = `SELECT w.i::int, ` + procColumns + `
FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[]), pg_catalog.unnest($3::bool[])) WITH ORDINALITY AS w(schema, name, onearg, i)
JOIN pg_proc p ON p.proname = w.name
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE (w.schema = '*' OR n.nspname = w.schema OR (w.schema = '' AND n.nspname = ANY (pg_catalog.current_schemas(true))))
  AND (NOT w.onearg OR (p.pronargs >= 1 AND p.pronargs - p.pronargdefaults <= 1))
ORDER BY w.i, p.oid`

var procsByOIDSQL = `SELECT 0, ` + procColumns + `
FROM pg_proc p
JOIN pg_namespace n ON n.oid = p.pronamespace
JOIN pg_language l ON l.oid = p.prolang
WHERE p.oid = ANY ($1::oid[])
ORDER BY p.oid`

// operatorProcsSQL finds the function behind every candidate operator,
// and behind their negators and commutators (the planner turns NOT (a = b)
// into a <> b, and swaps a join clause's sides), leaving out built-in
// functions that are not volatile; and which of the names ($1, $2, by
// position from 1) match no operator.
const operatorProcsSQL = `WITH RECURSIVE named(i, oid) AS (
	SELECT w.i, o.oid FROM ROWS FROM (pg_catalog.unnest($1::text[]), pg_catalog.unnest($2::text[])) WITH ORDINALITY AS w(schema, name, i)
	JOIN pg_operator o ON o.oprname = w.name
	JOIN pg_namespace n ON n.oid = o.oprnamespace
	WHERE w.schema = '*' OR n.nspname = w.schema OR (w.schema = '' AND n.nspname = ANY (pg_catalog.current_schemas(true)))
), ops(oid) AS (
	SELECT oid FROM named
	UNION
	SELECT v.x FROM ops JOIN pg_operator o ON o.oid = ops.oid, LATERAL (VALUES (o.oprnegate), (o.oprcom)) AS v(x) WHERE v.x <> 0::pg_catalog.oid
)
SELECT ARRAY(SELECT DISTINCT p.oid FROM ops
		JOIN pg_operator o ON o.oid = ops.oid
		JOIN pg_proc p ON p.oid = o.oprcode
		WHERE p.oid >= 16384::pg_catalog.oid OR p.provolatile = 'v'),
	ARRAY(SELECT i FROM pg_catalog.generate_series(1, pg_catalog.cardinality($2::text[])) AS i EXCEPT SELECT i FROM named ORDER BY 1)`

// typeHazardsSQL lists, for the types named by $1 (resolved on the
// session's search path) with their base, element and, for a composite,
// attribute types, the functions a cast to them may call (casts, input
// functions) unless built in and not volatile (typmod input functions are
// databaseHazardSQL's), and their domains' CHECK and DEFAULT expressions
// (an INSERT plans in a column's domain default, folding it), each
// labelled.
const typeHazardsSQL = `WITH RECURSIVE named(oid) AS (
	SELECT pg_catalog.to_regtype(x)::oid FROM pg_catalog.unnest($1::text[]) AS x
), ` + typeHazardsFrom + `
SELECT DISTINCT typ, fn, expr, label FROM hazards`

// typesOnPathSQL resolves the type names $1 (quoted, as quoteParts writes
// them) as a body running under the search path $2 (NULL: the session's)
// would: an unqualified name in its schemas only. Each comes out as the
// name that finds the same type on the session's path (regtype's output
// qualifies it as needed), NULL for one that resolves to nothing.
const typesOnPathSQL = `SELECT CASE WHEN $2::text[] IS NULL OR x ~ '^"([^"]|"")*"\.' THEN pg_catalog.to_regtype(x) ELSE (
		SELECT pg_catalog.to_regtype(pg_catalog.quote_ident(kn.nspname) || '.' || x)
		FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS s(nsp, pos)
		JOIN pg_namespace kn ON kn.nspname = (CASE WHEN s.nsp = '$user' THEN current_user::text ELSE s.nsp END)::name
			AND pg_catalog.has_schema_privilege(kn.oid, 'USAGE')
		WHERE pg_catalog.to_regtype(pg_catalog.quote_ident(kn.nspname) || '.' || x) IS NOT NULL
		ORDER BY s.pos LIMIT 1) END::text
	FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS w(x, i)
	ORDER BY w.i`

const typeHazardsFrom = `ty(root, oid) AS (
	SELECT oid, oid FROM named WHERE oid IS NOT NULL
	UNION
	SELECT ty.root, v.b FROM ty JOIN pg_type t ON t.oid = ty.oid, LATERAL (SELECT t.typbasetype UNION ALL SELECT t.typelem
		UNION ALL SELECT a.atttypid FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped
		UNION ALL SELECT r.rngsubtype FROM pg_range r WHERE r.rngtypid = t.oid
		UNION ALL SELECT r.rngtypid FROM pg_range r WHERE r.rngmultitypid = t.oid) AS v(b)
	WHERE v.b <> 0::pg_catalog.oid
), fns(root, typ, fn) AS (
	SELECT ty.root, ty.oid, f.fn FROM ty JOIN pg_type t ON t.oid = ty.oid,
		LATERAL (VALUES (t.typinput::oid), (t.typreceive::oid)) AS f(fn)
	UNION ALL
	SELECT ty.root, ty.oid, c.castfunc FROM ty JOIN pg_cast c ON c.casttarget = ty.oid
), hazards(root, typ, fn, expr, label) AS (
	SELECT fns.root, pg_catalog.format_type(fns.typ, NULL), fns.fn, '', '' FROM fns JOIN pg_proc p ON p.oid = fns.fn
	WHERE p.oid >= 16384::pg_catalog.oid OR p.provolatile = 'v'
	UNION ALL
	SELECT ty.root, pg_catalog.format_type(ty.oid, NULL), 0::oid, pg_catalog.pg_get_expr(co.conbin, 0), 'a CHECK of domain' FROM ty
		JOIN pg_constraint co ON co.contypid = ty.oid WHERE co.contype = 'c' AND co.conbin IS NOT NULL
	UNION ALL
	SELECT ty.root, pg_catalog.format_type(t.oid, NULL), 0::oid, pg_catalog.pg_get_expr(t.typdefaultbin, 0), 'the default of domain' FROM ty
		JOIN pg_type t ON t.oid = ty.oid WHERE t.typdefaultbin IS NOT NULL
)`

// selfAndBelow is d: the relation c and every table below it (partitions,
// inheritance children), for relationsSQL's subqueries.
const selfAndBelow = "WITH RECURSIVE d(oid) AS (SELECT c.oid UNION SELECT i.inhrelid FROM pg_inherits i JOIN d ON i.inhparent = d.oid)"

// relationsSQL resolves relation names as the statement would (search
// path, temporary schema first), or with $2, when not NULL, as a function
// with SET search_path would (schemas in order, "$user" for the current
// user), with what a statement on them may run: view definitions, row
// security policies, column defaults (which a write plans in), foreign
// tables below them, rewrite rules for writes, and the expressions that
// planning a statement on them folds, calling the functions in them with
// constant arguments: those of the indexes, index predicates, CHECK
// constraints, partition keys and extended statistics of the relation and
// of every table below it (each once: partitions repeat their parent's
// index expressions), those that depend on a user-defined function,
// operator or type (built-in immutable functions are harmless, and
// vetting lower(email) on every partition would double the gate's time);
// whether a column is of a pseudo-type (pg_stats' anyarray), whose values
// may be of any type; and those of its column types that have a hazard
// typeHazardsSQL would list (most have none, and vetting each costs a
// query). The first column is the name's index in $1.
const relationsSQL = `SELECT w.i::int, c.oid, c.relkind::text, n.nspname::text, c.relname::text,
	CASE WHEN c.relkind = 'v' THEN pg_catalog.pg_get_viewdef(c.oid) ELSE '' END,
	CASE WHEN c.relrowsecurity THEN coalesce((SELECT pg_catalog.array_agg(pg_catalog.pg_get_expr(e.expr, pol.polrelid))
		FROM pg_policy pol, LATERAL (VALUES (pol.polqual), (pol.polwithcheck)) AS e(expr)
		WHERE pol.polrelid = c.oid AND e.expr IS NOT NULL), '{}') ELSE '{}' END,
	coalesce((SELECT pg_catalog.array_agg(pg_catalog.pg_get_expr(d.adbin, d.adrelid) ORDER BY d.adnum) FROM pg_attrdef d WHERE d.adrelid = c.oid), '{}'),
	EXISTS (` + selfAndBelow + `
		SELECT 1 FROM d JOIN pg_class k ON k.oid = d.oid WHERE k.relkind = 'f'),
	coalesce((SELECT pg_catalog.array_agg(r.rulename::text ORDER BY r.rulename) FROM pg_rewrite r WHERE r.ev_class = c.oid AND r.ev_type <> '1'), '{}'),
	coalesce((` + selfAndBelow + `
		SELECT pg_catalog.array_agg(DISTINCT e) FROM (
			SELECT pg_catalog.pg_get_expr(x.indexprs, x.indrelid), 'pg_class'::pg_catalog.regclass::pg_catalog.oid, x.indexrelid FROM d JOIN pg_index x ON x.indrelid = d.oid WHERE x.indexprs IS NOT NULL
			UNION ALL SELECT pg_catalog.pg_get_expr(x.indpred, x.indrelid), 'pg_class'::pg_catalog.regclass::pg_catalog.oid, x.indexrelid FROM d JOIN pg_index x ON x.indrelid = d.oid WHERE x.indpred IS NOT NULL
			UNION ALL SELECT pg_catalog.pg_get_expr(k.conbin, k.conrelid), 'pg_constraint'::pg_catalog.regclass::pg_catalog.oid, k.oid FROM d JOIN pg_constraint k ON k.conrelid = d.oid WHERE k.contype = 'c'
			UNION ALL SELECT pg_catalog.pg_get_expr(p.partexprs, p.partrelid), 'pg_class'::pg_catalog.regclass::pg_catalog.oid, p.partrelid FROM d JOIN pg_partitioned_table p ON p.partrelid = d.oid WHERE p.partexprs IS NOT NULL
			UNION ALL SELECT pg_catalog.unnest(pg_catalog.pg_get_statisticsobjdef_expressions(s.oid)), 'pg_statistic_ext'::pg_catalog.regclass::pg_catalog.oid, s.oid FROM d JOIN pg_statistic_ext s ON s.stxrelid = d.oid WHERE s.stxexprs IS NOT NULL
		) AS t(e, cls, obj)
		WHERE EXISTS (SELECT FROM pg_depend dep WHERE dep.classid = t.cls AND dep.objid = t.obj
			AND dep.refclassid IN ('pg_proc'::pg_catalog.regclass::pg_catalog.oid, 'pg_operator'::pg_catalog.regclass::pg_catalog.oid, 'pg_type'::pg_catalog.regclass::pg_catalog.oid) AND dep.refobjid >= 16384::pg_catalog.oid)), '{}'),
	EXISTS (SELECT FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
		WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND t.typtype = 'p'),
	ARRAY(WITH RECURSIVE named(oid) AS (SELECT a.atttypid FROM pg_attribute a
			WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped), ` + typeHazardsFrom + `
		SELECT DISTINCT pg_catalog.format_type(root, NULL) FROM hazards)
FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS w(name, i)
JOIN pg_class c ON c.oid = CASE WHEN $2::text[] IS NULL OR pg_catalog.cardinality(pg_catalog.parse_ident(w.name)) > 1 THEN pg_catalog.to_regclass(w.name)::pg_catalog.oid ELSE (
	SELECT k.oid FROM pg_catalog.unnest($2::text[]) WITH ORDINALITY AS s(nsp, pos)
	JOIN pg_namespace kn ON kn.nspname = (CASE WHEN s.nsp = '$user' THEN current_user::text ELSE s.nsp END)::name
		AND pg_catalog.has_schema_privilege(kn.oid, 'USAGE')
	JOIN pg_class k ON k.relnamespace = kn.oid AND k.relname = (pg_catalog.parse_ident(w.name))[1]
	ORDER BY s.pos LIMIT 1) END
JOIN pg_namespace n ON n.oid = c.relnamespace
ORDER BY c.oid`

// parseSearchPath splits a search_path setting as the server does
// (SplitIdentifierString): at commas outside double quotes, "" standing
// for a quote inside them, unquoted names folded to lower case; and
// pg_catalog comes first unless the setting places it. The server
// accepted the setting, so its syntax is valid. A name longer than a name
// holds is cut where the gate's queries compare it (::name), as the
// server cuts it: in the database's encoding.
func parseSearchPath(setting string) []string {
	var schemas []string
	rest := setting
	for {
		rest = strings.TrimLeft(rest, " \t\n\r\f")
		var name string
		if quoted, ok := strings.CutPrefix(rest, `"`); ok {
			var b strings.Builder
			for {
				end := strings.IndexByte(quoted, '"')
				if end < 0 { // unterminated: the server would have refused it
					b.WriteString(quoted)
					quoted = ""
					break
				}
				b.WriteString(quoted[:end])
				quoted = quoted[end+1:]
				if !strings.HasPrefix(quoted, `"`) {
					break
				}
				b.WriteByte('"')
				quoted = quoted[1:]
			}
			name, rest = b.String(), quoted
		} else {
			end := strings.IndexAny(rest, ", \t\n\r\f")
			if end < 0 {
				end = len(rest)
			}
			name, rest = asciiLower(rest[:end]), rest[end:]
		}
		if name != "" {
			schemas = append(schemas, name)
		}
		comma := strings.IndexByte(rest, ',')
		if comma < 0 {
			break
		}
		rest = rest[comma+1:]
	}
	if !slices.Contains(schemas, "pg_catalog") {
		schemas = append([]string{"pg_catalog"}, schemas...)
	}
	return schemas
}

// asciiLower folds A-Z only, as the server folds an unquoted identifier
// in a multibyte encoding.
func asciiLower(s string) string {
	return strings.Map(func(r rune) rune {
		if 'A' <= r && r <= 'Z' {
			return r + ('a' - 'A')
		}
		return r
	}, s)
}

// databaseHazardSQL finds functions PostgreSQL may call without the
// statement naming them, each saying whether planning may call it too:
// volatile implicit casts and casts to json, jsonb and text (see
// implicitComparisonsSQL), operator class support functions (sorting,
// hashing, index scans) and type I/O functions (casts through text,
// literals), which only execution calls; and typmod input functions that
// are volatile or not compiled code, which parsing a statement calls on a
// type name in any text it converts to regtype ('t(3)'::regtype), whose
// type no name in the statement shows. At most one of each kind.
const databaseHazardSQL = `SELECT DISTINCT ON (planning) reason, planning FROM (
	SELECT pg_catalog.format('a cast from %s to %s that PostgreSQL applies unasked uses volatile function %s',
		c.castsource::regtype, c.casttarget::regtype, c.castfunc::regprocedure), false
	FROM pg_cast c JOIN pg_proc p ON p.oid = c.castfunc
	WHERE (c.castcontext = 'i' OR c.casttarget IN ('json'::pg_catalog.regtype::pg_catalog.oid, 'jsonb'::pg_catalog.regtype::pg_catalog.oid, 'text'::pg_catalog.regtype::pg_catalog.oid)) AND p.provolatile = 'v'
	UNION ALL
	SELECT pg_catalog.format('an operator family %s uses volatile support function %s', a.amprocfamily, a.amproc::regprocedure), false
	FROM pg_amproc a JOIN pg_proc p ON p.oid = a.amproc WHERE p.provolatile = 'v'
	UNION ALL
	SELECT pg_catalog.format('an operator family %s uses operator %s backed by volatile function %s', a.amopfamily,
		a.amopopr::regoperator, o.oprcode::regprocedure), false
	FROM pg_amop a JOIN pg_operator o ON o.oid = a.amopopr JOIN pg_proc p ON p.oid = o.oprcode WHERE p.provolatile = 'v'
	UNION ALL
	SELECT pg_catalog.format('a type %s has volatile input or output function %s', t.oid::regtype, p.oid::regprocedure), false
	FROM pg_type t JOIN pg_proc p ON p.oid IN (t.typinput, t.typreceive, t.typoutput, t.typsend) WHERE p.provolatile = 'v'
	UNION ALL
	SELECT pg_catalog.format('a type %s whose typmod input function %s, volatile or not compiled code, runs wherever a type name in text becomes a regtype',
		t.oid::regtype, p.oid::regprocedure), true
	FROM pg_type t JOIN pg_proc p ON p.oid = t.typmodin JOIN pg_language l ON l.oid = p.prolang
	WHERE p.provolatile = 'v' OR (p.oid >= 16384::pg_catalog.oid AND l.lanname NOT IN ('c', 'internal'))
) AS h(reason, planning)
ORDER BY planning`

// dbHazards is what databaseHazardSQL finds, "" for nothing: a hazard to
// planning any statement (and so to executing it), and one to executing.
type dbHazards struct{ planning, executing string }

// hazardFunc returns databaseHazardSQL's findings.
type hazardFunc func(ctx context.Context, conn *pgx.Conn) (dbHazards, error)

func databaseHazard(ctx context.Context, conn *pgx.Conn) (dbHazards, error) {
	rows, err := conn.Query(ctx, dbconn.Marker+databaseHazardSQL, pgx.QueryExecModeExec)
	if err != nil {
		return dbHazards{}, fmt.Errorf("query implicit function calls: %w", err)
	}
	var h dbHazards
	var reason string
	var planning bool
	_, err = pgx.ForEachRow(rows, []any{&reason, &planning}, func() error {
		if planning {
			h.planning = reason
		}
		if h.executing == "" {
			h.executing = reason
		}
		return nil
	})
	if err != nil {
		return dbHazards{}, fmt.Errorf("query implicit function calls: %w", err)
	}
	return h, nil
}

// nameScope says how unqualified names in SQL text resolve, and under
// which search path the text runs. The zero value is the session's search
// path for both, as for the statement.
type nameScope struct {
	// anySchema resolves functions and operators in every schema: a
	// function body or default argument may run under any search path.
	anySchema bool
	// searchPath, when not nil, resolves relations and types in these
	// schemas in order: the path the body runs under.
	searchPath []string
	// runtimePath, when not nil, is the search path the text runs under:
	// a function's own SET search_path, which the functions it calls
	// without one of their own run under too.
	runtimePath []string
	// deparsed text (pg_get_viewdef, pg_get_expr) qualifies an operator it
	// prints where the session's path would not find it, but prints none
	// for CASE x WHEN, NULLIF, IS DISTINCT FROM and JOIN USING, whichever
	// schema theirs is in: operators resolve in every schema.
	deparsed bool
}

// bodyScope is how names in p's body resolve, called from code running
// under caller: under p's own search path, else under the caller's.
func bodyScope(p procRow, caller nameScope) nameScope {
	path := p.searchPath
	if path == nil {
		path = caller.runtimePath
	}
	return nameScope{anySchema: true, searchPath: path, runtimePath: path}
}

// stored is the scope of an expression the catalog stores by reference
// (a view, a policy, a CHECK, a default), which the server prints
// qualified as the session's search path needs, running under s's path.
func (s nameScope) stored() nameScope { return nameScope{runtimePath: s.runtimePath, deparsed: true} }

// key tells the search paths apart in the checker's caches: a body without
// a path of its own reads differently under another caller's. NUL, which
// no name holds, separates the schemas (a schema may be named "a,b").
func (s nameScope) key() string { return strings.Join(s.runtimePath, "\x00") }

// runtimePathOf is the runtimePath whose key is key.
func runtimePathOf(key string) []string {
	if key == "" {
		return nil
	}
	return strings.Split(key, "\x00")
}

// check resolves refs and returns why they are unsafe, or "". via says
// where refs came from ("view public.v").
func (c *gateChecker) check(ctx context.Context, refs gateRefs, via string, scope nameScope, depth int) (string, error) {
	if depth > maxGateDepth {
		return "nested too deeply to check" + viaSuffix(via), nil
	}
	defaultSchema := ""
	if scope.anySchema {
		defaultSchema = "*"
	}
	// Denied names first: they need no catalog. Planning only minds the
	// ones that are not volatile, which checkProc tells.
	for _, ref := range sortedRefs(refs.funcs) {
		if deniedFunction(ref.name) && !c.planning {
			return fmt.Sprintf("calls denied function %s()%s", ref, viaSuffix(via)), nil
		}
	}
	var lookups []procLookup
	for _, ref := range sortedRefs(refs.funcs) {
		if ref.schema == "" {
			ref.schema = defaultSchema
		}
		lookups = append(lookups, procLookup{ref: ref})
	}
	for _, name := range sortedKeys(refs.attrFuncs) {
		lookups = append(lookups, procLookup{ref: nameRef{schema: defaultSchema, name: name}, oneArg: true})
	}
	procs, missing, err := c.procsByName(ctx, lookups)
	if err != nil {
		return "", err
	}
	if len(missing) > 0 {
		return fmt.Sprintf("cannot resolve function %s()%s", missing[0], viaSuffix(via)), nil
	}
	if reason, err := c.checkProcs(ctx, procs, "calls", via, scope, depth); reason != "" || err != nil {
		return reason, err
	}

	opSchema := defaultSchema
	if scope.deparsed {
		opSchema = "*"
	}
	opProcs, missingOps, err := c.operatorProcs(ctx, sortedRefs(refs.operators), opSchema)
	if err != nil {
		return "", err
	}
	if len(missingOps) > 0 {
		return fmt.Sprintf("cannot resolve operator %s%s", missingOps[0], viaSuffix(via)), nil
	}
	if reason, err := c.checkOIDs(ctx, opProcs, "uses an operator backed by", via, scope, depth); reason != "" || err != nil {
		return reason, err
	}
	if reason, err := c.vetTypes(ctx, sortedKeys(refs.types), scope, via, depth, false); reason != "" || err != nil {
		return reason, err
	}
	if reason, err := c.vetTypes(ctx, sortedKeys(refs.coercions), scope, via, depth, true); reason != "" || err != nil {
		return reason, err
	}
	return c.checkRelations(ctx, refs, scope, via, depth)
}

type procLookup struct {
	ref    nameRef
	oneArg bool // attribute notation: only one-argument functions, none found is fine
}

func (c *gateChecker) procsByName(ctx context.Context, lookups []procLookup) ([]procRow, []nameRef, error) {
	if len(lookups) == 0 {
		return nil, nil, nil
	}
	schemas, names, oneArg := make([]string, len(lookups)), make([]string, len(lookups)), make([]bool, len(lookups))
	for i, l := range lookups {
		schemas[i], names[i], oneArg[i] = l.ref.schema, l.ref.name, l.oneArg
	}
	procs, err := c.queryProcs(ctx, procsByNameSQL, schemas, names, oneArg)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve functions: %w", err)
	}
	found := map[int]bool{}
	for _, p := range procs {
		found[p.lookup] = true
	}
	var missing []nameRef
	for i, l := range lookups {
		if !found[i+1] && !l.oneArg {
			ref := l.ref
			if ref.schema == "*" {
				ref.schema = ""
			}
			missing = append(missing, ref)
		}
	}
	return procsOf(procs), missing, nil
}

func (c *gateChecker) procsByOID(ctx context.Context, oids []uint32) ([]procRow, error) {
	procs, err := c.queryProcs(ctx, procsByOIDSQL, oids)
	if err != nil {
		return nil, fmt.Errorf("look up functions: %w", err)
	}
	return procsOf(procs), nil
}

// foundProc is a function a query found for its lookup (an index into its
// arguments, from 1).
type foundProc struct {
	lookup int
	procRow
}

func procsOf(found []foundProc) []procRow {
	procs := make([]procRow, len(found))
	for i, f := range found {
		procs[i] = f.procRow
	}
	return procs
}

// queryProcs runs a query returning a lookup index and procColumns.
func (c *gateChecker) queryProcs(ctx context.Context, sql string, args ...any) ([]foundProc, error) {
	return queryCatalog(ctx, c, sql, func(r pgx.CollectableRow) (foundProc, error) {
		var f foundProc
		p := &f.procRow
		var searchPath *string
		if err := r.Scan(&f.lookup, &p.oid, &p.schema, &p.name, &p.args, &p.volatility, &p.lang, &p.body, &p.defaults,
			&p.builtin, &p.extension, &p.aggSupport, &searchPath, &p.settings, &p.definer, &p.types); err != nil {
			return f, err
		}
		if searchPath != nil {
			p.searchPath = parseSearchPath(*searchPath)
		}
		return f, nil
	}, args...)
}

// operatorProcs returns the functions behind the operators ops that need
// vetting (operatorProcsSQL), and the operators that resolve to none.
func (c *gateChecker) operatorProcs(ctx context.Context, ops []nameRef, defaultSchema string) ([]uint32, []nameRef, error) {
	if len(ops) == 0 {
		return nil, nil, nil
	}
	schemas, names := make([]string, len(ops)), make([]string, len(ops))
	for i, op := range ops {
		schemas[i], names[i] = op.schema, op.name
		if op.schema == "" {
			schemas[i] = defaultSchema
		}
	}
	type resolved struct {
		procs   []uint32
		missing []int64
	}
	rows, err := queryCatalog(ctx, c, operatorProcsSQL, func(r pgx.CollectableRow) (resolved, error) {
		var res resolved
		err := r.Scan(&res.procs, &res.missing)
		return res, err
	}, schemas, names)
	if err != nil {
		return nil, nil, fmt.Errorf("resolve operators: %w", err)
	}
	var missing []nameRef
	for _, i := range rows[0].missing {
		missing = append(missing, ops[i-1])
	}
	return rows[0].procs, missing, nil
}

func (c *gateChecker) checkOIDs(ctx context.Context, oids []uint32, verb, via string, scope nameScope, depth int) (string, error) {
	var todo []uint32
	for _, oid := range oids {
		if !c.procs[procKey{oid, scope.key()}] {
			todo = append(todo, oid)
		}
	}
	if len(todo) == 0 {
		return "", nil
	}
	procs, err := c.procsByOID(ctx, todo)
	if err != nil {
		return "", err
	}
	return c.checkProcs(ctx, procs, verb, via, scope, depth)
}

// procKey is a function as vetted, called under a search path.
type procKey struct {
	oid  uint32
	path string // nameScope.key
}

// checkProcs vets candidate functions, each once per search path they run under.
func (c *gateChecker) checkProcs(ctx context.Context, procs []procRow, verb, via string, scope nameScope, depth int) (string, error) {
	for _, p := range procs {
		k := procKey{p.oid, scope.key()}
		if c.procs[k] {
			continue
		}
		c.procs[k] = true
		if reason, err := c.checkProc(ctx, p, verb, via, scope, depth); reason != "" || err != nil {
			return reason, err
		}
	}
	return "", nil
}

// checkProc vets one function by its name and label, then whatever its
// aggregate support functions, default arguments and body call; scope is
// the caller's.
func (c *gateChecker) checkProc(ctx context.Context, p procRow, verb, via string, scope nameScope, depth int) (string, error) {
	if hazard := c.labelHazard(p); hazard != "" {
		return fmt.Sprintf("%s %s function %s%s", verb, hazard, p, viaSuffix(via)), nil
	}
	if reason, err := c.checkOIDs(ctx, p.aggSupport, "calls", joinVia("aggregate "+p.String(), via), scope, depth+1); reason != "" || err != nil {
		return reason, err
	}
	if p.builtin {
		return "", nil
	}
	if reason, err := c.checkTypes(ctx, p.types, scope, joinVia("the signature of "+p.String(), via), depth+1); reason != "" || err != nil {
		return reason, err
	}
	for _, t := range p.types { // the values it returns are compared and converted too
		c.see(scope, 0, t)
	}
	if setting := unvettedSetting(p); setting != "" {
		return fmt.Sprintf("%s %s, whose own SET %s may change what its body does from what the gate reads%s", verb, p, setting, viaSuffix(via)), nil
	}
	if p.definer != "" {
		// Its body, and all it calls, run as the owner: "$user" and the
		// schemas a name may resolve in are the owner's, not the gate's.
		return fmt.Sprintf("%s %s, a SECURITY DEFINER function of role %s, whose code resolves names as that role%s",
			verb, p, collector.QuoteIdent(p.definer), viaSuffix(via)), nil
	}
	b := c.bodyChecker()
	if p.defaults != "" {
		reason, err := b.checkSQL(ctx, "SELECT "+p.defaults, joinVia("default arguments of "+p.String(), via), nameScope{anySchema: true, runtimePath: scope.runtimePath}, depth+1)
		if reason != "" || err != nil {
			return reason, err
		}
	}
	body := joinVia("body of "+p.String(), via)
	switch p.lang {
	case "sql":
		return b.checkSQL(ctx, p.body, body, bodyScope(p, scope), depth+1)
	case "plpgsql":
		return b.checkPlpgsql(ctx, p.body, body, bodyScope(p, scope), depth+1)
	case "c", "internal":
		return "", nil // compiled code, installed by a superuser: its label is trusted
	}
	return fmt.Sprintf("%s %s, whose body in language %s cannot be inspected%s", verb, p, p.lang, viaSuffix(via)), nil
}

// labelHazard is "denied" or "volatile" when p's name or label alone
// refuses it, else "". Planning never evaluates a VOLATILE function, so
// it minds only denied ones that are not built in or not VOLATILE; the
// bodies of user-defined ones are checked whatever their label.
func (c *gateChecker) labelHazard(p procRow) string {
	denied := deniedFunction(p.name)
	switch {
	case c.planning:
		if denied && (!p.builtin || p.volatility != "v") {
			return "denied"
		}
	case denied:
		return "denied"
	case p.volatility == "v" && !allowedProc(p):
		return "volatile"
	}
	return ""
}

// harmlessSettings are the settings a function's SET clause may change
// without changing what the gate reads in its body: with
// standard_conforming_strings off, a backslash escapes a quote, so what
// the gate (parsing with it on) reads as string literals can hide a call.
// Planner, memory, timeout and message settings, and the enable_ family,
// change how a body runs, not what it runs.
var harmlessSettings = []string{
	"work_mem", "maintenance_work_mem", "hash_mem_multiplier", "temp_buffers", "client_min_messages", "log_min_messages",
	"statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout", "timezone", "datestyle", "intervalstyle",
	"extra_float_digits", "random_page_cost", "seq_page_cost", "effective_cache_size", "effective_io_concurrency",
	"cpu_tuple_cost", "cpu_index_tuple_cost", "cpu_operator_cost", "plan_cache_mode", "default_statistics_target",
	"from_collapse_limit", "join_collapse_limit", "geqo", "jit", "max_parallel_workers_per_gather",
	"parallel_setup_cost", "parallel_tuple_cost", "application_name",
}

// unvettedSetting is the first setting of p's SET clauses (search_path
// aside, which the gate follows) that is not harmless, or "".
func unvettedSetting(p procRow) string {
	for _, name := range p.settings {
		if !strings.HasPrefix(name, "enable_") && !slices.Contains(harmlessSettings, name) {
			return name
		}
	}
	return ""
}

func allowedProc(p procRow) bool {
	ext, ok := allowedVolatile[p.name]
	if !ok {
		return false
	}
	if ext == "" {
		return p.builtin && p.schema == "pg_catalog"
	}
	return p.extension == ext
}

// checkSQL vets SQL text taken from the catalog: a view definition, a
// function body, default arguments or a policy, domain or column default
// expression. When only planning counts, the text is never a body (the
// body checker takes those), so what it would do when executed does not.
func (c *gateChecker) checkSQL(ctx context.Context, sql, via string, scope nameScope, depth int) (string, error) {
	tree, err := pg_query.Parse(sql)
	if err != nil {
		return "cannot parse " + via + ": " + err.Error(), nil
	}
	if c.planning {
		return c.check(ctx, collectRefs(tree), via, scope, depth)
	}
	if k := utilityStatement(tree); k != "" {
		return "runs a " + statementWord(k) + " statement" + viaSuffix(via), nil
	}
	if h := findHazard(tree); h != "" {
		return h + viaSuffix(via), nil
	}
	return c.check(ctx, collectRefs(tree), via, scope, depth)
}

// utilityStatement is the kind of the first statement in tree that is no
// query: DO, LOCK, SET, NOTIFY, COPY and the like act beyond what the
// gate reads (DO's code is a string), so code that runs one is refused.
// Data-modifying statements are left to findHazard, which names them; a
// CREATE FUNCTION is how a BEGIN ATOMIC body comes, its statements inside.
func utilityStatement(tree *pg_query.ParseResult) string {
	for _, raw := range tree.Stmts {
		switch k := nodeKind(raw.Stmt); k {
		case "SelectStmt", "InsertStmt", "UpdateStmt", "DeleteStmt", "MergeStmt", "CreateFunctionStmt":
		default:
			return k
		}
	}
	return ""
}

// checkPlpgsql vets a PL/pgSQL function from its CREATE FUNCTION text:
// every SQL statement and expression in it, as checkSQL does. A body that
// builds SQL at run time (EXECUTE) cannot be vetted and is refused.
func (c *gateChecker) checkPlpgsql(ctx context.Context, def, via string, scope nameScope, depth int) (string, error) {
	out, err := pg_query.ParsePlPgSqlToJSON(def)
	if err != nil {
		return "cannot parse " + via + ": " + err.Error(), nil
	}
	var tree any
	if err := json.Unmarshal([]byte(out), &tree); err != nil {
		return "cannot parse " + via + ": " + err.Error(), nil
	}
	var sqls, types []string
	dynamic := false
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				visit(e)
			}
		case map[string]any:
			for k, e := range x {
				switch k {
				case "PLpgSQL_stmt_dynexecute", "PLpgSQL_stmt_dynfors", "dynquery":
					dynamic = true
				case "PLpgSQL_type":
					// A variable's declared type: a domain's CHECK runs on
					// every assignment.
					if typ, ok := e.(map[string]any); ok {
						if name, _ := typ["typname"].(string); name != "" {
							types = append(types, plpgsqlTypeName(name)...)
						}
					}
				case "PLpgSQL_expr":
					if expr, ok := e.(map[string]any); ok {
						query, _ := expr["query"].(string)
						mode, _ := expr["parseMode"].(float64)
						sqls = append(sqls, plpgsqlStatement(query, int(mode)))
					}
				}
				visit(e)
			}
		}
	}
	visit(tree)
	if dynamic {
		return "runs dynamic SQL (EXECUTE) in " + via, nil
	}
	if len(types) > 0 {
		// Declared types are raw text ("bumpy ", numeric(10,2)): parsed as
		// casts, they come out as names the catalog resolves, without the
		// typmods whose input functions to_regtype would run.
		sqls = append(sqls, "SELECT NULL::"+strings.Join(types, ", NULL::"))
	}
	sort.Strings(sqls) // map order is random; reasons should not be
	for _, sql := range sqls {
		if reason, err := c.checkSQL(ctx, sql, via, scope, depth); reason != "" || err != nil {
			return reason, err
		}
	}
	return "", nil
}

// plpgsqlTypeName is the type name to vet for a PL/pgSQL declaration's
// type: rel%ROWTYPE and rel.col%TYPE stand for rel's row type, whose
// attributes' types come with it; var%TYPE is var's, vetted where var is
// declared.
func plpgsqlTypeName(name string) []string {
	lower := strings.ToLower(name)
	switch {
	case strings.HasSuffix(lower, "%rowtype"):
		return []string{name[:len(name)-len("%rowtype")]}
	case strings.HasSuffix(lower, "%type"):
		ref := name[:len(name)-len("%type")]
		if i := strings.LastIndex(ref, "."); i > 0 {
			return []string{ref[:i]}
		}
		return nil
	}
	return []string{name}
}

// plpgsqlStatement turns a PL/pgSQL expression into a statement pg_query
// parses, by its parse mode: 0 a whole statement, 2 an expression, 3 to 5
// an assignment "target := expression", whose target is an expression too
// (its subscripts run).
func plpgsqlStatement(query string, mode int) string {
	switch mode {
	case 0:
		return query
	case 3, 4, 5:
		for _, sep := range []string{":=", "="} {
			if target, value, ok := strings.Cut(query, sep); ok {
				return "SELECT " + target + ", " + value
			}
		}
	}
	return "SELECT " + query
}

// vetTypes vets type names as written in text of scope: in a body, which
// may run under another search path, each is first resolved as the body
// would resolve it, and one that resolves to nothing is refused, as an
// unknown relation is there, unless maybeNone (a call's name, which may
// name no type). The types are then compared and converted as the
// statement's are (checkComparisons).
func (c *gateChecker) vetTypes(ctx context.Context, names []string, scope nameScope, via string, depth int, maybeNone bool) (string, error) {
	if len(names) > 0 && (scope.anySchema || scope.searchPath != nil) {
		resolved, err := queryCatalog(ctx, c, typesOnPathSQL, pgx.RowTo[*string], names, scope.searchPath)
		if err != nil {
			return "", fmt.Errorf("resolve types: %w", err)
		}
		var found []string
		for i, r := range resolved {
			switch {
			case r != nil:
				found = append(found, *r)
			case !maybeNone:
				return fmt.Sprintf("cannot resolve type %s%s", names[i], viaSuffix(via)), nil
			}
		}
		names = found
	}
	for _, name := range names {
		c.see(scope, 0, name)
	}
	return c.checkTypes(ctx, names, scope, via, depth)
}

// checkTypes vets the types names give as the session's search path
// resolves them: the casts and input functions a value of theirs may go
// through and their domains' CHECKs, run under scope's path.
func (c *gateChecker) checkTypes(ctx context.Context, names []string, scope nameScope, via string, depth int) (string, error) {
	var types []string
	for _, name := range names {
		if key := (seenKey{name: name, path: scope.key()}); !c.vetted[key] {
			c.vetted[key] = true
			types = append(types, name)
		}
	}
	if len(types) == 0 {
		return "", nil
	}
	type typeHazard struct {
		typ   string
		fn    uint32
		expr  string // a domain's CHECK or DEFAULT, when fn is 0
		label string // which one
	}
	hazards, err := queryCatalog(ctx, c, typeHazardsSQL, func(r pgx.CollectableRow) (typeHazard, error) {
		var h typeHazard
		err := r.Scan(&h.typ, &h.fn, &h.expr, &h.label)
		return h, err
	}, types)
	if err != nil {
		return "", fmt.Errorf("resolve types: %w", err)
	}
	for _, h := range hazards {
		var reason string
		if h.expr != "" {
			reason, err = c.checkSQL(ctx, "SELECT "+h.expr, joinVia(h.label+" "+h.typ, via), scope.stored(), depth+1)
		} else {
			reason, err = c.checkOIDs(ctx, []uint32{h.fn}, "casts with", joinVia("type "+h.typ, via), scope, depth+1)
		}
		if reason != "" || err != nil {
			return reason, err
		}
	}
	return "", nil
}

// checkRelations vets the relations refs name. In a function body, a name
// that resolves to none, and is not a CTE's, is refused: the body may run
// under another search path and find there what nothing here checked.
// Elsewhere the server resolves names as the gate does, and fails too.
func (c *gateChecker) checkRelations(ctx context.Context, refs gateRefs, scope nameScope, via string, depth int) (string, error) {
	names := sortedKeys(refs.relations)
	if len(names) == 0 {
		return "", nil
	}
	type relation struct {
		index        int
		oid          uint32
		kind         string
		schema, name string
		viewdef      string
		policies     []string
		defaults     []string
		foreignBelow bool
		writeRules   []string
		planned      []string
		anyValues    bool
		hazardTypes  []string
	}
	rels, err := queryCatalog(ctx, c, relationsSQL, func(r pgx.CollectableRow) (relation, error) {
		var rel relation
		err := r.Scan(&rel.index, &rel.oid, &rel.kind, &rel.schema, &rel.name, &rel.viewdef, &rel.policies, &rel.defaults, &rel.foreignBelow, &rel.writeRules, &rel.planned, &rel.anyValues, &rel.hazardTypes)
		return rel, err
	}, names, scope.searchPath)
	if err != nil {
		return "", fmt.Errorf("resolve relations: %w", err)
	}
	resolved := make([]bool, len(names))
	for _, rel := range rels {
		resolved[rel.index-1] = true
	}
	for i, name := range names {
		if !resolved[i] && !refs.ctes[name] && scope.anySchema {
			return fmt.Sprintf("cannot resolve relation %s%s", name, viaSuffix(via)), nil
		}
	}
	// json_populate_record(t, ...) and the like make values of the column
	// types of the relations a statement reads, running their domain
	// CHECKs and input functions with no type named in the statement, and
	// an INSERT casts its values to them.
	var columnTypes []string
	for _, rel := range rels {
		if !c.rels[seenKey{oid: rel.oid, path: scope.key()}] {
			columnTypes = append(columnTypes, rel.hazardTypes...)
		}
	}
	if reason, err := c.checkTypes(ctx, columnTypes, scope, joinVia("the column types of a relation it reads", via), depth+1); reason != "" || err != nil {
		return reason, err
	}
	for _, rel := range rels {
		if c.rels[seenKey{oid: rel.oid, path: scope.key()}] {
			continue
		}
		c.see(scope, rel.oid, "")
		qualified := collector.QuoteIdent(rel.schema) + "." + collector.QuoteIdent(rel.name)
		if rel.kind == "f" || rel.foreignBelow {
			return fmt.Sprintf("reads foreign table %s, which runs code outside the database%s", qualified, viaSuffix(via)), nil
		}
		if rel.anyValues && !c.planning {
			// array_to_json(most_common_vals) converts values of whatever
			// type the column holds, with that type's casts.
			return fmt.Sprintf("reads %s, whose pseudo-type (anyarray) columns hold values of types the gate cannot know%s", qualified, viaSuffix(via)), nil
		}
		if rel.viewdef != "" {
			if reason, err := c.checkSQL(ctx, rel.viewdef, joinVia("view "+qualified, via), scope.stored(), depth+1); reason != "" || err != nil {
				return reason, err
			}
		}
		for _, pol := range rel.policies {
			if reason, err := c.checkSQL(ctx, "SELECT "+pol, joinVia("a row security policy of "+qualified, via), scope.stored(), depth+1); reason != "" || err != nil {
				return reason, err
			}
		}
		for _, expr := range rel.planned {
			if reason, err := c.checkSQL(ctx, "SELECT "+expr, joinVia("an index, CHECK, partition key or statistics expression of "+qualified, via), scope.stored(), depth+1); reason != "" || err != nil {
				return reason, err
			}
		}
		if !c.planning {
			continue // only a write, never executed, evaluates column defaults and rules
		}
		if len(rel.writeRules) > 0 {
			// A rule adds its actions to the write, and planning them folds
			// their functions: refuse rather than vet a second statement.
			return fmt.Sprintf("writes to %s, whose rewrite rules (%s) would add their actions%s",
				qualified, strings.Join(rel.writeRules, ", "), viaSuffix(via)), nil
		}
		for _, def := range rel.defaults {
			if reason, err := c.checkSQL(ctx, "SELECT "+def, joinVia("a column default of "+qualified, via), scope.stored(), depth+1); reason != "" || err != nil {
				return reason, err
			}
		}
	}
	return "", nil
}

func joinVia(inner, outer string) string {
	if outer == "" {
		return inner
	}
	return inner + ", " + outer
}

func viaSuffix(via string) string {
	if via == "" {
		return ""
	}
	return " (via " + via + ")"
}

func sortedRefs(m map[nameRef]bool) []nameRef {
	refs := make([]nameRef, 0, len(m))
	for r := range m {
		refs = append(refs, r)
	}
	sort.Slice(refs, func(i, j int) bool {
		if refs[i].schema != refs[j].schema {
			return refs[i].schema < refs[j].schema
		}
		return refs[i].name < refs[j].name
	})
	return refs
}

func sortedKeys(m map[string]bool) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
