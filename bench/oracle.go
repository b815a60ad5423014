package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
)

const (
	// oracleMaxKeys: the oracle tries every index of up to this many keys.
	oracleMaxKeys = 3
	// oracleMaxInclude bounds the INCLUDE list of a covering variant.
	oracleMaxInclude = 8
	// minGain: a statement whose best index lowers its cost by less than
	// this share has no useful index (and the index is not counted).
	minGain = 0.005
)

// oracleStmt is the best single index for one statement.
type oracleStmt struct {
	Base       float64 `json:"base_cost"`
	Best       float64 `json:"best_cost"`
	Index      string  `json:"index,omitempty"` // "" when no index helps
	HypoBytes  int64   `json:"hypopg_bytes,omitempty"`
	Candidates int     `json:"candidates"`
	Err        string  `json:"error,omitempty"`

	cand advisor.Candidate
}

// oracleResult sums the oracle over the workload.
type oracleResult struct {
	Seconds    float64 `json:"seconds"`
	Candidates int     `json:"candidates"` // hypothetical indexes costed
	// Reduction is the sum over statements of calls x (base - best).
	Reduction float64 `json:"reduction"`
	Indexes   int     `json:"indexes"` // distinct best indexes
	HypoBytes int64   `json:"hypopg_bytes"`
	// CombinedCost is the workload cost with all of them at once.
	CombinedCost float64      `json:"combined_cost"`
	Statements   []oracleStmt `json:"statements"`
}

// runOracle finds, for every statement, the best single index by
// exhaustive HypoPG search: btrees on every ordering of 1 to 3 of the
// columns the statement filters, joins, groups or orders on in one table
// (every referenced column when it only has a select list), each also
// covering the table's other referenced columns with INCLUDE and partial
// with each predicate the advisor's candidates for the table use; plus the
// advisor's own candidates for the statement (expressions, INCLUDE and
// partial variants; GIN ones HypoPG cannot simulate fail and are skipped).
// Like every planner cost in the report, it judges by the planner as the
// database is configured, without the advisor's cap on effective_cache_size.
func runOracle(ctx context.Context, conn *pgx.Conn, cat *collector.Catalog, stmts []stmt, log *zap.Logger) (*oracleResult, error) {
	start := time.Now()
	w, err := advisor.NewWhatIf(ctx, conn, log, advisor.WhatIfOptions{UncappedCache: true})
	if err != nil {
		return nil, fmt.Errorf("oracle: %w", err)
	}
	if ok, note := w.Available(); !ok {
		return nil, fmt.Errorf("oracle: %s", note)
	}
	res := &oracleResult{Statements: make([]oracleStmt, len(stmts))}
	for i, s := range stmts {
		o := &res.Statements[i]
		ws := advisor.WorkloadStatement{QueryID: strconv.Itoa(i), Query: s.SQL, Calls: s.Calls, Params: s.Params}
		if ws.Tables, err = advisor.ReferencedTables(s.SQL, cat); err != nil {
			o.Err = err.Error()
			continue
		}
		own, err := advisor.Candidates(ws, cat, nil)
		if err != nil {
			o.Err = err.Error()
		}
		cands, err := oracleCandidates(s.SQL, cat, own)
		if err != nil {
			o.Err = err.Error()
			continue
		}
		costed, err := w.Evaluate(ctx, nil, cands, []advisor.WorkloadStatement{ws})
		if err != nil {
			return nil, fmt.Errorf("oracle: %s: %w", s.Name, err)
		}
		o.Candidates = len(cands)
		res.Candidates += len(cands)
		o.Base, o.Best = -1, -1
		for _, c := range costed {
			if c.Err != nil || len(c.Statements) != 1 || c.Statements[0].Err != nil {
				continue
			}
			e := c.Statements[0]
			o.Base = e.Before
			if o.Best < 0 || e.After < o.Best {
				o.Best, o.cand, o.HypoBytes = e.After, c.Candidate, c.HypoSizeBytes
			}
		}
		if o.Base < 0 {
			o.Base, o.Best = 0, 0
			if o.Err == "" {
				o.Err = "no candidate could be costed"
			}
			continue
		}
		if o.Best > o.Base*(1-minGain) {
			o.Best, o.cand, o.HypoBytes = o.Base, advisor.Candidate{}, 0
			continue
		}
		o.Index = describeCandidate(o.cand)
		res.Reduction += s.Calls * (o.Base - o.Best)
	}
	// The distinct best indexes, and the workload with all of them.
	seen := map[string]bool{}
	var ddl []string
	for _, o := range res.Statements {
		if o.Index == "" || seen[o.Index] {
			continue
		}
		seen[o.Index] = true
		script, err := advisor.IndexDDL(cat, o.cand)
		if err != nil {
			return nil, fmt.Errorf("oracle: DDL of %s: %w", o.Index, err)
		}
		h, _, err := hypoForm(script.SQL())
		if err != nil {
			return nil, fmt.Errorf("oracle: %w", err)
		}
		ddl = append(ddl, h)
		res.Indexes++
		res.HypoBytes += o.HypoBytes
	}
	costs, _, skipped, err := hypoCosts(ctx, planRunner(log), conn, stmts, ddl)
	if err != nil {
		return nil, fmt.Errorf("oracle: combined cost: %w", err)
	}
	if len(skipped) > 0 {
		return nil, fmt.Errorf("oracle: combined cost: %s", strings.Join(skipped, "; "))
	}
	res.CombinedCost = workloadCost(stmts, costs)
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// oracleCandidates lists the indexes the oracle tries for one statement,
// each once.
func oracleCandidates(sql string, cat *collector.Catalog, own []advisor.Candidate) ([]advisor.Candidate, error) {
	tcs, err := referencedColumns(sql, cat)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []advisor.Candidate
	add := func(c advisor.Candidate) {
		c.QueryIDs = nil
		if k := describeCandidate(c); !seen[k] {
			seen[k] = true
			out = append(out, c)
		}
	}
	for _, c := range own {
		add(c)
	}
	for _, tc := range tcs {
		table := tc.Table.QualifiedName()
		pool := tc.Filter
		if len(pool) == 0 {
			pool = tc.Other
		}
		wheres := []string{""}
		for _, c := range own {
			if c.Table == table && c.Where != "" && !contains(wheres, c.Where) {
				wheres = append(wheres, c.Where)
			}
		}
		for _, keys := range orderings(pool, oracleMaxKeys) {
			var include []string
			for _, c := range append(append([]string{}, tc.Filter...), tc.Other...) {
				if !contains(keys, c) {
					include = append(include, c)
				}
			}
			if len(include) > oracleMaxInclude {
				include = nil
			}
			for _, where := range wheres {
				c := advisor.Candidate{Table: table, Method: "btree", Where: where}
				for _, k := range keys {
					c.Keys = append(c.Keys, collector.IndexKey{Column: k})
				}
				add(c)
				if len(include) > 0 {
					c.Include = include
					add(c)
				}
			}
		}
	}
	return out, nil
}

// orderings are every ordered selection of 1 to n distinct columns.
func orderings(cols []string, n int) [][]string {
	var out [][]string
	var grow func(prefix []string)
	grow = func(prefix []string) {
		if len(prefix) > 0 {
			out = append(out, append([]string{}, prefix...))
		}
		if len(prefix) == n {
			return
		}
		for _, c := range cols {
			if !contains(prefix, c) {
				grow(append(prefix, c))
			}
		}
	}
	grow(nil)
	return out
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// describeCandidate renders c as "table USING method (keys) INCLUDE (...)
// WHERE ...", which also identifies it.
func describeCandidate(c advisor.Candidate) string {
	var b strings.Builder
	b.WriteString(c.Table)
	if c.Method != "" && c.Method != "btree" {
		b.WriteString(" USING " + c.Method)
	}
	keys := make([]string, len(c.Keys))
	for i, k := range c.Keys {
		s := k.Column
		if s == "" {
			s = "(" + k.Expression + ")"
		}
		if k.OpClass != "" {
			s += " " + k.OpClass
		}
		if k.Desc {
			s += " DESC"
		}
		if k.NullsFirst != k.Desc {
			if k.NullsFirst {
				s += " NULLS FIRST"
			} else {
				s += " NULLS LAST"
			}
		}
		keys[i] = s
	}
	b.WriteString(" (" + strings.Join(keys, ", ") + ")")
	if len(c.Include) > 0 {
		b.WriteString(" INCLUDE (" + strings.Join(c.Include, ", ") + ")")
	}
	if c.Where != "" {
		b.WriteString(" WHERE " + c.Where)
	}
	return b.String()
}
