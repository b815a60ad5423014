package advisor

import (
	"context"
	"slices"
	"strings"

	pg "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// Stand-ins cost the GIN indexes HypoPG cannot simulate. Planned with
// values, the condition a GIN index would serve (payload @> '{"type":
// "created"}') is a constant one once EXPLAIN has folded the values in. A
// hypothetical btree index whose predicate is that condition holds just
// the rows the GIN index would find for it, and the planner plans the
// statement with it much as with the GIN index: the same rows fetched from
// the heap. It leaves out the posting lists a GIN scan reads, so the cost
// after comes out somewhat low. The stand-in's key (standInKey) keeps
// the planner from using it in ways it could not use a GIN index.

// notCostedSuffix ends the note of an index HypoPG could neither simulate
// nor cost through a stand-in.
const notCostedSuffix = ", so its gain was not costed"

// standInNote explains a recommendation costed with a stand-in.
const standInNote = "its gain was estimated with a stand-in: a hypothetical btree index holding only the rows " +
	"that the conditions of the statements it serves keep on the indexed expression, usable only as a GIN index is; " +
	"a GIN scan also reads its posting lists, so the real cost after is somewhat higher"

// hypoGINNote says why a GIN index is not validated.
const hypoGINNote = "HypoPG cannot simulate a GIN index"

// prepareStandIns gives each GIN entry of pool the stand-in the selection
// costs in its place (setStandIn). Only a lost connection or a cancelled
// context is returned as an error.
func (s *selection) prepareStandIns(ctx context.Context, pool []*entry) error {
	for _, e := range pool {
		if err := s.setStandIn(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// setStandIn gives e, a GIN entry, the stand-in costed in its place when
// every statement it was proposed for ran with values and shows the
// condition it serves: a partial btree index whose predicate is their
// conditions, ORed; nil otherwise.
func (s *selection) setStandIn(ctx context.Context, e *entry) error {
	standIns, err := s.standInsFor(ctx, e, e.c.QueryIDs)
	e.standIn = orStandIns(standIns)
	return err
}

// orStandIns is one stand-in whose predicate ORs those of standIns; nil
// for none.
func orStandIns(standIns []Candidate) *Candidate {
	if len(standIns) == 0 {
		return nil
	}
	c := standIns[0]
	if len(standIns) > 1 {
		conds := make([]string, len(standIns))
		for i, x := range standIns {
			conds[i] = "(" + x.Where + ")"
		}
		c.Where = strings.Join(conds, " OR ")
	}
	return &c
}

// standInsFor are the stand-ins of e, a GIN entry, for the statements
// queryIDs, one per condition; none when e is not GIN or some statement has
// none (planned without values, or its condition not found in its plan).
// Only a lost connection or a cancelled context is returned as an error.
func (s *selection) standInsFor(ctx context.Context, e *entry, queryIDs []string) ([]Candidate, error) {
	key, ok := standInKey(s.cat, e)
	if !ok || methodOf(e.c) != "gin" || s.w == nil || !s.w.available {
		return nil, nil
	}
	var standIns []Candidate
	for _, q := range queryIDs {
		st := s.statement(q)
		if len(st.Params) == 0 {
			return nil, nil // a generic plan keeps $n: no constant condition
		}
		sum, err := s.w.planner.PlanCost(ctx, s.w.conn, st)
		if err != nil {
			return nil, fatalOrNil(ctx, s.w, err)
		}
		conds := standInConditions(sum.Filters, e)
		if len(conds) == 0 {
			return nil, nil
		}
		for _, cond := range conds {
			if !slices.ContainsFunc(standIns, func(x Candidate) bool { return x.Where == cond }) {
				standIns = append(standIns, Candidate{Table: e.c.Table, Method: "btree", Keys: []collector.IndexKey{{Expression: key}}, Where: cond})
			}
		}
	}
	return standIns, nil
}

// fatalOrNil is err when it leaves the connection or the run unusable,
// else nil: a stand-in that fails leaves its index uncosted.
func fatalOrNil(ctx context.Context, w *WhatIf, err error) error {
	if fatal(ctx, w.conn, err) {
		return err
	}
	return nil
}

// standInKey is the key of a stand-in index: "id IS NOT NULL" on the
// first column of the primary key (else the table's first), an expression
// no statement orders by, joins on or reads. So the planner can use the
// stand-in only as it would a GIN index: to find the rows its predicate
// keeps, then read them from the table, never in key order, by key probes
// from a nested loop, or in an index-only scan of the columns.
func standInKey(cat *collector.Catalog, e *entry) (string, bool) {
	if e.table == nil || len(e.c.Keys) != 1 || len(e.table.Columns) == 0 {
		return "", false
	}
	col := e.table.Columns[0].Name
	for _, ix := range cat.Indexes {
		if ix.Primary && ix.Table == e.c.Table && len(ix.Keys) > 0 && ix.Keys[0].Column != "" {
			col = ix.Keys[0].Column
			break
		}
	}
	return collector.QuoteIdent(col) + " IS NOT NULL", true
}

// standInConditions are the conditions in filters, on e's table, that
// e's GIN key serves with a constant (key op constant), without table
// qualifiers: fit for an index predicate.
func standInConditions(filters []ScanFilter, e *entry) []string {
	norm := normalizer{}
	key := e.c.Keys[0]
	want := key.Expression
	if want == "" {
		want = collector.QuoteIdent(key.Column)
	}
	want = norm.norm(want)
	ops := ginOperators(key, e.table)
	var out []string
	for _, f := range filters {
		if f.Relation != e.table.Name {
			continue
		}
		tree, err := pg.Parse("SELECT " + f.Filter)
		if err != nil || len(tree.Stmts) != 1 || len(tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()) != 1 {
			continue
		}
		for _, c := range andArgs(tree.Stmts[0].Stmt.GetSelectStmt().GetTargetList()[0].GetResTarget().GetVal()) {
			x := c.GetAExpr()
			if x == nil || x.Kind != pg.A_Expr_Kind_AEXPR_OP || len(x.Name) != 1 || !slices.Contains(ops, x.Name[0].GetString_().GetSval()) {
				continue
			}
			sqltree.Unqualify(c)
			if constant(x.Rexpr) && norm.norm(sqltree.Deparse(x.Lexpr)) == want {
				out = append(out, sqltree.Deparse(c))
			}
		}
	}
	return out
}

// ginOperators are the operators a GIN index on key serves, by its
// operator class and, for the default ones, its column's type.
func ginOperators(key collector.IndexKey, t *collector.Table) []string {
	switch key.OpClass {
	case "jsonb_path_ops":
		return []string{"@>", "@?", "@@"}
	case "gin_trgm_ops":
		return []string{"~~", "~~*", "~", "~*"}
	}
	typ := ""
	if i := slices.IndexFunc(t.Columns, func(c collector.Column) bool { return c.Name == key.Column }); key.Column != "" && i >= 0 {
		typ = t.Columns[i].Type
	}
	switch {
	case typ == "jsonb":
		return []string{"@>", "?", "?|", "?&", "@?", "@@"}
	case strings.HasSuffix(typ, "[]"):
		return []string{"&&", "@>", "<@"}
	case typ == "tsvector" || strings.Contains(key.Expression, "to_tsvector("):
		return []string{"@@", "@@@"}
	}
	return nil
}

// constant reports whether n is made of literals and casts alone: no
// column, parameter, function or subquery.
func constant(n *pg.Node) bool {
	ok := n != nil
	sqltree.WalkNodes(n, func(x *pg.Node) bool {
		switch x.Node.(type) {
		case *pg.Node_AConst, *pg.Node_TypeCast, *pg.Node_String_, *pg.Node_Integer, *pg.Node_AArrayExpr, *pg.Node_List:
			return true
		}
		ok = false
		return false
	})
	return ok
}
