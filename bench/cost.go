package main

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	pg_query "github.com/pganalyze/pg_query_go/v5"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// planCosts plans every statement with its parameter set (the custom plan)
// and returns the planner's total cost per call; a statement that cannot
// be planned costs NaN-free 0 and its error is returned in errs.
func planCosts(ctx context.Context, runner *explain.Runner, conn *pgx.Conn, stmts []stmt) ([]float64, []error, error) {
	costs := make([]float64, len(stmts))
	errs := make([]error, len(stmts))
	for i, s := range stmts {
		params := s.Params
		if params == nil {
			params = []string{} // literal constants: the custom plan of no parameters
		}
		plan, err := runner.PlanOnly(ctx, conn, s.SQL, params)
		if ctx.Err() != nil {
			return nil, nil, ctx.Err()
		}
		if err != nil {
			errs[i] = err
			continue
		}
		costs[i] = plan.Root.TotalCost
	}
	return costs, errs, nil
}

// indexDrops names the built indexes on the tables a statement reads.
type indexDrops func(sql string) []string

func newIndexDrops(cat *collector.Catalog, bs []built) indexDrops {
	byTable := map[string][]string{}
	for _, b := range bs {
		if b.Name != "" && b.Error == "" {
			byTable[b.Table] = append(byTable[b.Table], b.Name)
		}
	}
	return func(sql string) []string {
		var names []string
		if tables, err := advisor.ReferencedTables(sql, cat); err == nil {
			for _, t := range tables {
				names = append(names, byTable[t]...)
			}
		}
		return names
	}
}

// planCostsWithout is planCosts with the built indexes on each statement's
// tables dropped in a transaction that is rolled back: the cost before, on
// the statistics the build left.
func planCostsWithout(ctx context.Context, conn *pgx.Conn, stmts []stmt, drops indexDrops) ([]float64, error) {
	costs := make([]float64, len(stmts))
	for i, s := range stmts {
		cost, err := planWithout(ctx, conn, s, drops(s.SQL))
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			continue // a statement that cannot be planned costs 0, as in planCosts
		}
		costs[i] = cost
	}
	return costs, nil
}

func planWithout(ctx context.Context, conn *pgx.Conn, s stmt, drops []string) (cost float64, err error) {
	err = withoutIndexes(ctx, conn, drops, func() error {
		res := conn.PgConn().ExecParams(ctx, "EXPLAIN (FORMAT JSON) "+s.SQL, textArgs(s.Params), nil, nil, nil).Read()
		if res.Err != nil {
			return res.Err
		}
		if len(res.Rows) == 0 || len(res.Rows[0]) == 0 {
			return errors.New("EXPLAIN returned no plan")
		}
		plan, err := explain.ParsePlan(res.Rows[0][0])
		if err == nil {
			cost = plan.Root.TotalCost
		}
		return err
	})
	return cost, err
}

// workloadCost is the sum of calls x cost.
func workloadCost(stmts []stmt, costs []float64) float64 {
	var sum float64
	for i, s := range stmts {
		sum += s.Calls * costs[i]
	}
	return sum
}

// createIndex matches the CREATE INDEX statement of a DDL script: its
// name, then what follows ON.
var createIndex = regexp.MustCompile(`(?is)^\s*CREATE\s+(?:UNIQUE\s+)?INDEX\s+(?:CONCURRENTLY\s+)?(?:IF\s+NOT\s+EXISTS\s+)?("(?:[^"]|"")+"|[^\s(]+)\s+ON\s+(.*?);?\s*$`)

// hypoForm turns a DDL script of the advisor (IndexScript.SQL) into the
// CREATE INDEX statement HypoPG takes, and the index's name. A script for a
// partitioned table (ON ONLY) has no one statement HypoPG can simulate.
func hypoForm(script string) (ddl, name string, err error) {
	stmts, err := sqltree.Statements(script)
	if err != nil {
		return "", "", fmt.Errorf("DDL %q: %w", script, err)
	}
	for _, s := range stmts {
		m := createIndex.FindStringSubmatch(s)
		if m == nil {
			continue
		}
		if strings.HasPrefix(strings.ToUpper(m[2]), "ONLY ") {
			return "", "", fmt.Errorf("DDL %q builds a partitioned index", script)
		}
		return "CREATE INDEX ON " + m[2], m[1], nil
	}
	return "", "", fmt.Errorf("DDL %q has no CREATE INDEX", script)
}

// hypoCosts plans the statements with the given indexes present as HypoPG
// hypothetical indexes on conn, and removes them again. Indexes HypoPG
// cannot simulate are left out and returned as skipped.
func hypoCosts(ctx context.Context, runner *explain.Runner, conn *pgx.Conn, stmts []stmt, ddl []string) (costs []float64, sizes []int64, skipped []string, err error) {
	if _, err := conn.Exec(ctx, "SELECT hypopg_reset()"); err != nil {
		return nil, nil, nil, fmt.Errorf("hypopg_reset: %w", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT hypopg_reset()")
	sizes = make([]int64, len(ddl))
	var partials []string
	for i, d := range ddl {
		err := conn.QueryRow(ctx, "SELECT hypopg_relation_size(indexrelid) FROM hypopg_create_index($1)", d).Scan(&sizes[i])
		if ctx.Err() != nil {
			return nil, nil, nil, ctx.Err()
		}
		if err != nil {
			skipped = append(skipped, fmt.Sprintf("%s: %v", d, err))
		} else if t, ok := partialIndexTable(d); ok {
			partials = append(partials, t)
		}
	}
	// As the advisor's what-if does: HypoPG applies a partial index only
	// to the first table of the FROM clause.
	planned := slices.Clone(stmts)
	for i := range planned {
		for _, t := range partials {
			if q, ok := advisor.TableFirst(planned[i].SQL, t); ok {
				planned[i].SQL = q
				break
			}
		}
	}
	costs, _, err = planCosts(ctx, runner, conn, planned)
	return costs, sizes, skipped, err
}

// partialIndexTable is the qualified table of a CREATE INDEX with a WHERE.
func partialIndexTable(ddl string) (string, bool) {
	tree, err := pg_query.Parse(ddl)
	if err != nil || len(tree.Stmts) != 1 {
		return "", false
	}
	ix := tree.Stmts[0].Stmt.GetIndexStmt()
	if ix == nil || ix.WhereClause == nil || ix.Relation == nil || ix.Relation.Schemaname == "" {
		return "", false
	}
	return collector.QuoteIdent(ix.Relation.Schemaname) + "." + collector.QuoteIdent(ix.Relation.Relname), true
}

// built is one recommended index as really built.
type built struct {
	Name         string  `json:"name"`
	Table        string  `json:"table"`
	DDL          string  `json:"ddl"`
	Method       string  `json:"method"`
	Validated    bool    `json:"validated"`
	StandIn      bool    `json:"stand_in,omitempty"` // costed with stand-ins (advisor.Recommendation.StandIn)
	EstimatedB   int64   `json:"estimated_bytes"`
	HypoPGB      int64   `json:"hypopg_bytes,omitempty"`
	BuiltB       int64   `json:"built_bytes"`
	BuildSeconds float64 `json:"build_seconds"`
	Error        string  `json:"error,omitempty"`
	// QueryIDs are the statements the advisor says it serves; WriteCost
	// what it estimated the window's writes pay to maintain it (planner
	// units).
	QueryIDs  []string `json:"queryids"`
	WriteCost float64  `json:"write_cost"`
	// LimitWalks are those of QueryIDs the advisor warned read it in
	// order until a LIMIT fills.
	LimitWalks []string `json:"limit_walk_queryids,omitempty"`
	// BenefitMS is the measured time it saves the statements it serves
	// (calls x mean before - after); WriteCostMS its write cost in the
	// same milliseconds (see msPerCost).
	BenefitMS   float64 `json:"measured_benefit_ms"`
	WriteCostMS float64 `json:"estimated_write_cost_ms"`
}

// spec is the index as the tables show it: "public.t USING btree (a, b)".
func (b built) spec() string {
	ddl, _, err := hypoForm(b.DDL)
	if err != nil {
		return oneLine(b.DDL)
	}
	return strings.TrimPrefix(ddl, "CREATE INDEX ON ")
}

// apply runs each recommendation's DDL script statement by statement, as
// psql runs a script (CREATE INDEX CONCURRENTLY refuses a transaction
// block), and measures what each built.
func apply(ctx context.Context, conn *pgx.Conn, recs []advisor.Recommendation) ([]built, error) {
	var out []built
	for _, r := range recs {
		b := built{Table: r.Table, DDL: r.DDL, Method: r.Method, Validated: r.Validated, StandIn: r.StandIn, EstimatedB: r.EstimatedSizeBytes, HypoPGB: r.HypoPGSizeBytes,
			QueryIDs: r.QueryIDs, WriteCost: r.WriteCost, LimitWalks: r.LimitWalks}
		stmts, err := sqltree.Statements(r.DDL)
		if err != nil {
			return nil, fmt.Errorf("DDL %q: %w", r.DDL, err)
		}
		start := time.Now()
		for _, s := range stmts {
			if m := createIndex.FindStringSubmatch(s); m != nil && b.Name == "" {
				b.Name = m[1]
			}
			if _, err := conn.PgConn().Exec(ctx, s).ReadAll(); err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				b.Error = err.Error()
				break
			}
		}
		b.BuildSeconds = time.Since(start).Seconds()
		if b.Error == "" && b.Name != "" {
			if err := conn.QueryRow(ctx, "SELECT pg_relation_size($1::regclass)", b.Name).Scan(&b.BuiltB); err != nil {
				b.Error = fmt.Sprintf("size of %s: %v", b.Name, err)
			}
		}
		out = append(out, b)
	}
	return out, nil
}

// dropBuilt drops the indexes apply built.
func dropBuilt(ctx context.Context, conn *pgx.Conn, bs []built) error {
	for _, b := range bs {
		if b.Name == "" || b.Error != "" {
			continue
		}
		if _, err := conn.Exec(ctx, "DROP INDEX IF EXISTS "+b.Name); err != nil {
			return fmt.Errorf("drop %s: %w", b.Name, err)
		}
	}
	return nil
}

// validation is how the advisor costed b: "true" (HypoPG), "stand-in" or
// "false".
func (b built) validation() string {
	if b.StandIn {
		return "stand-in"
	}
	return strconv.FormatBool(b.Validated)
}
