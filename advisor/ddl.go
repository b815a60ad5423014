package advisor

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"

	pg_query "github.com/pganalyze/pg_query_go/v5"
	"google.golang.org/protobuf/proto"

	"github.com/pgadvisor/pgadvisor/collector"
)

// IndexScript is the DDL that builds one recommended index without
// blocking writes. Its statements must run one at a time outside a
// transaction block (CREATE INDEX CONCURRENTLY refuses to run inside one),
// as psql does with a script file.
type IndexScript struct {
	Name       string   // the index on the recommended table, qualified and quoted
	Statements []string // each ends with ";"
	Verify     string   // the query that shows whether every index it builds is valid, and what to do if not
}

// SQL is the script as one text, a statement per line.
func (s IndexScript) SQL() string { return strings.Join(s.Statements, "\n") }

const (
	// setLockTimeout keeps the script from queueing behind a long
	// transaction while holding up everyone queued behind it.
	setLockTimeout = "SET lock_timeout = '5s';"
	// noStatementTimeout: a concurrent build blocks no one however long it
	// takes, and one a role's statement_timeout cancels leaves an invalid
	// index that IF NOT EXISTS then skips.
	noStatementTimeout = "SET statement_timeout = 0;"
	// maxIdentBytes is NAMEDATALEN-1: PostgreSQL truncates longer names.
	maxIdentBytes = 63
)

// IndexDDL builds the script for candidate c on a table of cat. On a
// partitioned table the parent gets an index ON ONLY the parent (which
// cannot be built concurrently, but is empty and quick), each partition
// gets its own concurrently built index, and each is attached to the
// parent's, which becomes valid once all partitions have theirs. Index
// names are deterministic, so running the script again skips what exists.
func IndexDDL(cat *collector.Catalog, c Candidate) (IndexScript, error) {
	if cat == nil {
		return IndexScript{}, errors.New("index DDL: no catalog")
	}
	t := findTable(cat, c.Table)
	if t == nil {
		return IndexScript{}, fmt.Errorf("index DDL: table %s is not in the catalog of database %s", c.Table, cat.Database)
	}
	spec, err := indexSpec(c)
	if err != nil {
		return IndexScript{}, fmt.Errorf("index DDL on %s: %w", c.Table, err)
	}
	id := recommendationID(cat.Database, c)
	b := ddlBuilder{cat: cat, c: c, id: id, spec: spec}
	s := IndexScript{Statements: []string{setLockTimeout, noStatementTimeout}}
	var names []string
	if t.Kind == "p" {
		name, err := b.partitioned(t, &s.Statements, &names, 0)
		if err != nil {
			return IndexScript{}, fmt.Errorf("index DDL on %s: %w", c.Table, err)
		}
		s.Name = name
	} else {
		s.Name = b.name(t)
		b.createConcurrently(t, s.Name, &s.Statements)
		names = append(names, s.Name)
	}
	if slices.ContainsFunc(c.Keys, func(k collector.IndexKey) bool { return k.Expression != "" }) {
		// The planner has no statistics on an index expression until the
		// table is analyzed: until then it guesses that 0.5% of the rows
		// match lower(email) = $1, and may prefer a sequential scan.
		s.Statements = append(s.Statements, "ANALYZE "+t.QualifiedName()+";")
	}
	s.Verify = verifySQL(names, t.Kind == "p")
	return s, nil
}

type ddlBuilder struct {
	cat  *collector.Catalog
	c    Candidate
	id   string
	spec string // USING ... (keys) INCLUDE (...) WHERE ...
}

// maxPartitionDepth bounds the recursion through sub-partitioned tables,
// so a catalog with a cycle yields an error instead of a stack overflow.
const maxPartitionDepth = 32

// partitioned appends the statements for partitioned table t and returns
// the name of its index: ON ONLY t, then each partition's index (built
// concurrently, or recursively for a sub-partitioned partition), attached.
// An index ON ONLY a table with foreign partitions would stay invalid (a
// foreign table has no index to attach), so there the partitions' indexes
// come first and a plain CREATE INDEX on t follows, guarded by
// afterPartitions: it skips foreign partitions and attaches the indexes
// it finds, holding its lock briefly.
func (b ddlBuilder) partitioned(t *collector.Table, stmts *[]string, names *[]string, depth int) (string, error) {
	if depth > maxPartitionDepth {
		return "", fmt.Errorf("partitions of %s nest deeper than %d levels", t.QualifiedName(), maxPartitionDepth)
	}
	parent := b.name(t)
	*names = append(*names, parent)
	only := " ONLY"
	if t.ForeignPartitions {
		only = ""
	}
	createParent := fmt.Sprintf("CREATE INDEX IF NOT EXISTS %s ON%s %s %s;", unqualified(t, parent), only, t.QualifiedName(), b.spec)
	if !t.ForeignPartitions {
		*stmts = append(*stmts, createParent)
	}
	var children []string
	for _, pn := range t.Partitions {
		p := findTable(b.cat, pn)
		if p == nil {
			return "", fmt.Errorf("partition %s of %s is not in the catalog", pn, t.QualifiedName())
		}
		var child string
		if p.Kind == "p" {
			var err error
			if child, err = b.partitioned(p, stmts, names, depth+1); err != nil {
				return "", err
			}
		} else if ix := b.builtByHand(p); ix != nil {
			child = collector.QuoteIdent(ix.Schema) + "." + collector.QuoteIdent(ix.Name)
			*names = append(*names, child)
		} else {
			child = b.name(p)
			*names = append(*names, child)
			b.createConcurrently(p, child, stmts)
		}
		children = append(children, child)
		if !t.ForeignPartitions {
			*stmts = append(*stmts, attachValid(parent, child))
		}
	}
	if t.ForeignPartitions {
		*stmts = append(*stmts, afterPartitions(t, children, createParent))
	}
	return parent, nil
}

// afterPartitions wraps create, a plain CREATE INDEX on partitioned table
// t, so that it runs only when the partitions' indexes named children are
// all there and valid: it would build a missing one itself (a concurrent
// build that timed out), blocking writes for as long as that takes.
func afterPartitions(t *collector.Table, children []string, create string) string {
	if len(children) == 0 {
		return create // every partition is foreign
	}
	regs := make([]string, len(children))
	for i, c := range children {
		regs[i] = "to_regclass(" + quoteLiteral(c) + ")"
	}
	msg := "an index on a partition of " + t.QualifiedName() + " is missing or invalid: " +
		"run the script again once its CREATE INDEX CONCURRENTLY succeeds"
	return raiseUnless(fmt.Sprintf("(SELECT count(*) FROM pg_index WHERE indisvalid AND indexrelid IN (%s)) < %d",
		strings.Join(regs, ", "), len(children)), msg, create)
}

// attachValid attaches child to parent's index only when child is valid:
// ATTACH PARTITION takes an invalid index as it is (a concurrent build
// that failed, on lock_timeout or otherwise), and once attached it cannot
// be dropped alone (DROP INDEX CONCURRENTLY refuses), only with the
// parent's, under a lock on every partition. Attaching an attached index
// again does nothing, so the script can run again.
func attachValid(parent, child string) string {
	msg := "index " + child + " is missing or invalid (its build failed): not attached; see the verify query"
	return raiseUnless(fmt.Sprintf("NOT EXISTS (SELECT FROM pg_index WHERE indisvalid AND indexrelid = to_regclass(%s))", quoteLiteral(child)),
		msg, fmt.Sprintf("ALTER INDEX %s ATTACH PARTITION %s;", parent, child))
}

// raiseUnless is a DO block that raises msg when failed holds, and runs
// stmt otherwise.
func raiseUnless(failed, msg, stmt string) string {
	body := fmt.Sprintf("BEGIN\n  IF %s THEN\n    RAISE EXCEPTION USING MESSAGE = %s;\n  END IF;\n  %s\nEND", failed, quoteLiteral(msg), stmt)
	return "DO " + dollarQuote(body) + ";"
}

// dollarQuote quotes body with a tag that does not occur in it: body
// holds index predicates taken from query texts.
func dollarQuote(body string) string {
	tag := "$ddl$"
	for i := 1; strings.Contains(body, tag); i++ {
		tag = fmt.Sprintf("$ddl%d$", i)
	}
	return tag + body + tag
}

// createConcurrently appends the statements that build the index name on
// table t, after dropping the leftovers of builds that failed: invalid,
// they are not used, yet IF NOT EXISTS would skip one of the same name.
// name is never a leftover's (see name), so running the script again
// drops nothing it built.
func (b ddlBuilder) createConcurrently(t *collector.Table, name string, stmts *[]string) {
	for _, ix := range b.leftovers(t) {
		*stmts = append(*stmts, fmt.Sprintf("DROP INDEX CONCURRENTLY IF EXISTS %s;", qualifiedIndexName(ix)))
	}
	*stmts = append(*stmts, fmt.Sprintf("CREATE INDEX CONCURRENTLY IF NOT EXISTS %s ON %s %s;", unqualified(t, name), t.QualifiedName(), b.spec))
}

// leftovers are the invalid indexes of t with the candidate's definition:
// concurrent builds of it that failed or were cancelled.
func (b ddlBuilder) leftovers(t *collector.Table) []*collector.Index {
	return b.withDefinition(t, func(ix *collector.Index) bool { return !ix.Valid && ownable(ix) })
}

// reusable reports whether index name of t's schema is free, or held by
// what the script builds there anyway: a partitioned table's index
// (invalid until every partition's is attached), or a valid index an
// earlier run left (a partition's, under a parent whose build failed). A
// leftover's name is not reused: the script drops the leftover.
func (b ddlBuilder) reusable(t *collector.Table, name string) bool {
	return !nameTaken(b.cat, t.Schema, name) || len(b.withDefinition(t, func(ix *collector.Index) bool {
		return ix.Name == name && ownable(ix) && (ix.Valid || t.Kind == "p")
	})) > 0
}

// ownable reports whether ix could be what an advisor script built: they
// build no unique index, and a failed unique build still enforces its
// uniqueness.
func ownable(ix *collector.Index) bool { return !ix.Unique && !ix.Primary && !ix.Constraint }

// builtByHand is a valid index of partition t with the candidate's
// definition, however named: attached as it is rather than built again
// beside it. A unique one (a partition's primary key) cannot be attached
// under the candidate's index, which is not.
func (b ddlBuilder) builtByHand(t *collector.Table) *collector.Index {
	if ixs := b.withDefinition(t, func(ix *collector.Index) bool { return ix.Valid && ownable(ix) }); len(ixs) > 0 {
		return ixs[0]
	}
	return nil
}

// withDefinition is the indexes of t with the candidate's definition that
// ok accepts.
func (b ddlBuilder) withDefinition(t *collector.Table, ok func(*collector.Index) bool) []*collector.Index {
	want := b.onTable(t)
	n := normalizer{}
	var out []*collector.Index
	for i := range b.cat.Indexes {
		ix := &b.cat.Indexes[i]
		if ix.Table != t.QualifiedName() || !ok(ix) {
			continue
		}
		have := Candidate{Table: ix.Table, Method: ix.Method, Keys: ix.Keys, Include: ix.Include, Where: ix.Predicate}
		if n.candidateKey(have) == n.candidateKey(want) {
			out = append(out, ix)
		}
	}
	return out
}

// onTable is the candidate as it would be on table t (a partition).
func (b ddlBuilder) onTable(t *collector.Table) Candidate {
	c := b.c
	c.Table, c.Method = t.QualifiedName(), methodOf(c)
	return c
}

// name is the qualified index name for table t: table_col1_col2_idx when
// the index is a plain btree on columns, the name is reusable and no other
// index is spelt alike (spelledOnce), otherwise (or when too long) a
// prefix of it with a hash of the definition, so that two different
// definitions never share a name and IF NOT EXISTS never skips an index
// that is not the one recommended. The hash covers the table too, so
// partitions' indexes differ even when truncated alike; where a leftover
// holds that name, a later hash is taken.
func (b ddlBuilder) name(t *collector.Table) string {
	parts := []string{t.Name}
	for _, k := range b.c.Keys {
		if k.Column != "" {
			parts = append(parts, k.Column)
		} else {
			parts = append(parts, identFromExpr(k.Expression))
		}
	}
	base := strings.Join(parts, "_")
	name := base + "_idx"
	if !b.plain() || len(name) > maxIdentBytes || !b.reusable(t, name) || !spelledOnce(b.cat, t.Schema, base) {
		for attempt := 0; attempt == 0 || !b.reusable(t, name); attempt++ {
			seed := b.id + "\x00" + t.QualifiedName()
			if attempt > 0 {
				seed += fmt.Sprintf("\x00%d", attempt)
			}
			sum := sha256.Sum256([]byte(seed))
			suffix := "_" + hex.EncodeToString(sum[:4]) + "_idx"
			name = truncateUTF8(base, maxIdentBytes-len(suffix)) + suffix
		}
	}
	return collector.QuoteIdent(t.Schema) + "." + collector.QuoteIdent(name)
}

// plain reports whether the candidate is what table_cols_idx suggests: a
// btree on plain columns, ascending, default operator classes, no INCLUDE
// and no predicate.
func (b ddlBuilder) plain() bool {
	if methodOf(b.c) != "btree" || len(b.c.Include) > 0 || b.c.Where != "" {
		return false
	}
	for _, k := range b.c.Keys {
		if k.Column == "" || k.Desc || k.NullsFirst || k.OpClass != "" {
			return false
		}
	}
	return true
}

// unqualified is the name part of a qualified index name: CREATE INDEX
// puts the index in its table's schema and does not accept a schema.
func unqualified(t *collector.Table, qualified string) string {
	return strings.TrimPrefix(qualified, collector.QuoteIdent(t.Schema)+".")
}

// spelledOnce reports whether base, table_col1_col2, joins the names of
// one table of schema and its columns in one way only. "_" joins both and
// occurs in them, so account (user_id) and account_user (id), or (a_b) and
// (a, b) on one table, would otherwise share a name.
func spelledOnce(cat *collector.Catalog, schema, base string) bool {
	spellings := 0
	for i := range cat.Tables {
		t := &cat.Tables[i]
		if rest, ok := strings.CutPrefix(base, t.Name+"_"); ok && t.Schema == schema {
			spellings += columnSpellings(t, rest)
		}
	}
	return spellings <= 1 // 0: a catalog without the columns
}

// columnSpellings counts the ways s is names of t's columns joined by "_".
func columnSpellings(t *collector.Table, s string) int {
	n := 0
	for _, c := range t.Columns {
		if s == c.Name {
			n++
		} else if rest, ok := strings.CutPrefix(s, c.Name+"_"); ok {
			n += columnSpellings(t, rest)
		}
	}
	return n
}

// nameTaken reports whether a relation of schema is called name: indexes
// share the namespace of tables, views and sequences.
func nameTaken(cat *collector.Catalog, schema, name string) bool {
	for _, ix := range cat.Indexes {
		if ix.Schema == schema && ix.Name == name {
			return true
		}
	}
	for _, t := range cat.Tables {
		if t.Schema == schema && t.Name == name {
			return true
		}
	}
	return slices.Contains(cat.OtherRelations, collector.RelationName{Schema: schema, Name: name})
}

var nonIdentRun = regexp.MustCompile(`[^a-z0-9]+`)

// identFromExpr turns an expression key into a name part: lower(email)
// becomes lower_email.
func identFromExpr(expr string) string {
	s := strings.Trim(nonIdentRun.ReplaceAllString(strings.ToLower(expr), "_"), "_")
	if s == "" {
		return "expr"
	}
	return s
}

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// verifySQL lists every index the script builds with its validity, NULL
// when there is no such index, and says what to do with either.
func verifySQL(names []string, partitioned bool) string {
	lits := make([]string, len(names))
	for i, n := range names {
		lits[i] = quoteLiteral(n)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "SELECT name AS index, i.indisvalid AS valid FROM unnest(ARRAY[%s]) AS name LEFT JOIN pg_index i ON i.indexrelid = to_regclass(name);\n",
		strings.Join(lits, ", "))
	b.WriteString("-- Every row must show valid = true. NULL means the index does not exist: its build failed before\n")
	b.WriteString("-- creating it, so run the script again. An invalid index (a CONCURRENTLY build that failed or was\n")
	b.WriteString("-- cancelled) is not used but still slows writes: drop it with DROP INDEX CONCURRENTLY IF EXISTS <name>;\n")
	b.WriteString("-- then run the script again. lock_timeout also bounds a concurrent build's waits for transactions\n")
	b.WriteString("-- older than it, on any table: a build fails with \"canceling statement due to lock timeout\" while a\n")
	b.WriteString("-- long report or pg_dump runs, so run it again once that has finished.\n")
	if partitioned {
		b.WriteString("-- The parent index is valid once every partition's index is attached; the script attaches only\n")
		b.WriteString("-- valid ones (an attached invalid index could not be dropped alone), and running it again creates\n")
		b.WriteString("-- and attaches whatever is missing.\n")
	}
	return b.String()
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// createIndexSQL is the plain CREATE INDEX statement for c, the form
// hypopg_create_index takes.
func createIndexSQL(c Candidate) (string, error) {
	spec, err := indexSpec(c)
	if err != nil {
		return "", err
	}
	return "CREATE INDEX ON " + c.Table + " " + spec, nil
}

var (
	methodName  = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)
	opClassName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$`)
)

// indexSpec renders what follows ON table: USING method (keys) INCLUDE
// (columns) WHERE predicate. Expressions and the predicate are checked to
// be one SQL expression each, so nothing else can ride along into the DDL.
func indexSpec(c Candidate) (string, error) {
	method := methodOf(c)
	if !methodName.MatchString(method) {
		return "", fmt.Errorf("access method %q is not an identifier", c.Method)
	}
	if len(c.Keys) == 0 {
		return "", errors.New("no key columns")
	}
	keys := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		s, err := renderKey(k, true)
		if err != nil {
			return "", fmt.Errorf("key %d: %w", i+1, err)
		}
		keys[i] = s
	}
	var b strings.Builder
	fmt.Fprintf(&b, "USING %s (%s)", method, strings.Join(keys, ", "))
	if len(c.Include) > 0 {
		if method != "btree" && method != "gist" && method != "spgist" {
			return "", fmt.Errorf("INCLUDE is not supported by %s indexes", method)
		}
		cols := make([]string, len(c.Include))
		for i, col := range c.Include {
			if col == "" {
				return "", fmt.Errorf("INCLUDE column %d is empty", i+1)
			}
			cols[i] = collector.QuoteIdent(col)
		}
		fmt.Fprintf(&b, " INCLUDE (%s)", strings.Join(cols, ", "))
	}
	if c.Where != "" {
		if _, err := checkExpression(c.Where); err != nil {
			return "", fmt.Errorf("predicate %q: %w", c.Where, err)
		}
		b.WriteString(" WHERE " + c.Where)
	}
	return b.String(), nil
}

// renderKey renders one key as CREATE INDEX takes it (forDDL: expressions
// in parentheses unless they are a function call) or as a report shows it.
func renderKey(k collector.IndexKey, forDDL bool) (string, error) {
	var s string
	switch {
	case k.Column != "" && k.Expression != "":
		return "", fmt.Errorf("both a column (%s) and an expression (%s)", k.Column, k.Expression)
	case k.Column != "":
		s = collector.QuoteIdent(k.Column)
	case k.Expression != "":
		call, err := checkExpression(k.Expression)
		if err != nil {
			return "", fmt.Errorf("expression %q: %w", k.Expression, err)
		}
		s = k.Expression
		if forDDL && !call {
			s = "(" + s + ")"
		}
	default:
		return "", errors.New("neither a column nor an expression")
	}
	if k.OpClass != "" {
		if !opClassName.MatchString(k.OpClass) {
			return "", fmt.Errorf("operator class %q is not a name", k.OpClass)
		}
		parts := strings.Split(k.OpClass, ".")
		for i, p := range parts {
			parts[i] = collector.QuoteIdent(p)
		}
		s += " " + strings.Join(parts, ".")
	}
	switch {
	case k.Desc && !k.NullsFirst:
		s += " DESC NULLS LAST" // DESC alone means NULLS FIRST
	case k.Desc:
		s += " DESC"
	case k.NullsFirst:
		s += " NULLS FIRST"
	}
	return s, nil
}

// checkExpression parses expr as a single SQL expression (no statement
// separators, no comments) and reports whether it is a bare function
// call, which CREATE INDEX accepts without parentheses.
func checkExpression(expr string) (call bool, err error) {
	scan, err := pg_query.Scan(expr)
	if err != nil {
		return false, fmt.Errorf("not valid SQL: %w", err)
	}
	for _, tok := range scan.GetTokens() {
		switch tok.GetToken() {
		case pg_query.Token_SQL_COMMENT, pg_query.Token_C_COMMENT, pg_query.Token_ASCII_59: // ';'
			return false, errors.New("must be one expression without comments or ';'")
		}
	}
	tree, err := pg_query.Parse("SELECT (" + expr + ")")
	if err != nil {
		return false, fmt.Errorf("not a valid expression: %w", err)
	}
	if len(tree.GetStmts()) != 1 {
		return false, errors.New("must be one expression")
	}
	sel := tree.GetStmts()[0].GetStmt().GetSelectStmt()
	if sel == nil || len(sel.GetTargetList()) != 1 || !onlyTargetList(sel) {
		// "x) OFFSET (1" and the like close the parenthesis early.
		return false, errors.New("must be one expression")
	}
	// x AT TIME ZONE 'UTC', x IS NORMALIZED and the like parse as function
	// calls too, but are not written as one: they need the parentheses.
	fc := sel.GetTargetList()[0].GetResTarget().GetVal().GetFuncCall()
	return fc != nil && fc.GetFuncformat() == pg_query.CoercionForm_COERCE_EXPLICIT_CALL, nil
}

// bareSelect is SELECT without its target list, as the parser leaves it.
var bareSelect = &pg_query.SelectStmt{LimitOption: pg_query.LimitOption_LIMIT_OPTION_DEFAULT, Op: pg_query.SetOperation_SETOP_NONE}

// onlyTargetList reports whether sel has nothing but its target list: no
// FROM, WHERE, GROUP BY, WINDOW, ORDER BY, LIMIT, OFFSET, INTO or locking.
func onlyTargetList(sel *pg_query.SelectStmt) bool {
	rest := proto.Clone(sel).(*pg_query.SelectStmt)
	rest.TargetList = nil
	return proto.Equal(rest, bareSelect)
}

func methodOf(c Candidate) string {
	if c.Method == "" {
		return "btree"
	}
	return strings.ToLower(c.Method)
}

// recommendationID is a stable hash of what defines an index.
func recommendationID(database string, c Candidate) string {
	h := sha256.New()
	write := func(s string) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	write(database)
	write(c.Table)
	write(methodOf(c))
	for _, k := range c.Keys {
		write(fmt.Sprintf("%s|%s|%t|%t|%s", k.Column, k.Expression, k.Desc, k.NullsFirst, k.OpClass))
	}
	write("include")
	for _, col := range c.Include {
		write(col)
	}
	write(c.Where)
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// findTable returns the catalog table whose qualified name is name.
func findTable(cat *collector.Catalog, name string) *collector.Table {
	for i := range cat.Tables {
		if cat.Tables[i].QualifiedName() == name {
			return &cat.Tables[i]
		}
	}
	return nil
}
