package explain

import (
	"cmp"
	"context"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"

	"github.com/pgadvisor/pgadvisor/collector"
)

// meetSampledPages is the size, in pages, above which valuesMeet reads a
// 1% block sample of a table rather than the table.
const meetSampledPages = 2000

// jointLookupTimeout bounds the read of a row for jointEqualities: the
// values chosen one by one stand if it runs out.
const jointLookupTimeout = "250ms"

// jointEqualities makes the values of a table's equalities (warehouse_id
// = $1 AND region = $2), each chosen from its column's statistics alone,
// values a row holds together: a median warehouse and the most common
// region may never meet, and a plan for them finds nothing, which no call
// of the statement does. The column of most distinct values keeps its
// value; the others take those of the first row (of the first few
// partitions) that has it. The hottest values (not typical) stand when a
// row holds them all: they show the worst plan. chosen holds the use each
// parameter's value came from.
func (s *synth) jointEqualities(ctx context.Context, conn *pgx.Conn, params []Param, chosen []paramUse) error {
	byTable := map[*collector.Table][]int{}
	var tables []*collector.Table
	for i, u := range chosen {
		if !plainEquality(u) || slices.ContainsFunc(byTable[u.col.table], func(j int) bool { return chosen[j].col.column == u.col.column }) {
			continue
		}
		if byTable[u.col.table] == nil {
			tables = append(tables, u.col.table)
		}
		byTable[u.col.table] = append(byTable[u.col.table], i)
	}
	for _, t := range tables {
		if ps := byTable[t]; len(ps) > 1 {
			if err := s.jointRow(ctx, conn, t, ps, params, chosen); err != nil {
				return err
			}
		}
	}
	return nil
}

// plainEquality reports whether u is col = $n on a column of a built-in
// type, whose = the check can apply without running anything of the
// database's owners.
func plainEquality(u paramUse) bool {
	return plainParamEquality(u) && !u.fromPredicate && !u.col.converted && jointTypes[typmods.ReplaceAllString(u.col.column.Type, "")]
}

var (
	typmods    = regexp.MustCompile(`\(\d+(,\d+)?\)`)
	jointTypes = map[string]bool{
		"smallint": true, "integer": true, "bigint": true, "numeric": true, "text": true, "character varying": true,
		"character": true, "uuid": true, "date": true, "boolean": true,
		"timestamp without time zone": true, "timestamp with time zone": true,
	}
)

// jointRow gives parameters ps, equalities on columns of t, the values of
// a row of t.
func (s *synth) jointRow(ctx context.Context, conn *pgx.Conn, t *collector.Table, ps []int, params []Param, chosen []paramUse) error {
	ps = slices.Clone(ps)
	slices.SortStableFunc(ps, func(a, b int) int { return -cmp.Compare(distinct(t, chosen[a].col), distinct(t, chosen[b].col)) })
	kept, value := chosen[ps[0]].col, params[ps[0]].Value
	others := make([]string, 0, len(ps)-1)
	for _, p := range ps[1:] {
		others = append(others, collector.QuoteIdent(chosen[p].col.column.Name))
	}
	if !s.typical {
		if met, err := s.valuesMeet(ctx, conn, t, ps, params, chosen); met || err != nil {
			return err
		}
	}
	for _, part := range s.cat.OwnRows(t, maxSampledPartitions) {
		rows, err := boundedRead(ctx, conn, fmt.Sprintf("SELECT %[1]s FROM ONLY %[2]s WHERE %[3]s OPERATOR(pg_catalog.=) $1 AND (%[1]s) IS NOT NULL LIMIT 1",
			strings.Join(others, ", "), part.QualifiedName(), collector.QuoteIdent(kept.column.Name)), []string{value})
		if err != nil {
			return err
		}
		if len(rows) == 0 {
			continue
		}
		for i, p := range ps[1:] {
			params[p].Value = string(rows[0][i])
			params[p].Source = fmt.Sprintf("from a row of %s with %s = %s", t.QualifiedName(), kept.column.Name, value)
		}
		return nil
	}
	return nil
}

// valuesMeet reports whether a row of t (of its first few partitions)
// holds the values of parameters ps, equalities on its columns, together;
// of a block sample of a table of more than meetSampledPages. The hottest
// values are common ones: a pair that meets in a useful share of the rows
// meets in the sample, while a search of the whole table for a pair that
// never meets would read all of it.
func (s *synth) valuesMeet(ctx context.Context, conn *pgx.Conn, t *collector.Table, ps []int, params []Param, chosen []paramUse) (bool, error) {
	conds := make([]string, len(ps))
	values := make([]string, len(ps))
	for i, p := range ps {
		conds[i] = fmt.Sprintf("%s OPERATOR(pg_catalog.=) $%d", collector.QuoteIdent(chosen[p].col.column.Name), i+1)
		values[i] = params[p].Value
	}
	for _, part := range s.cat.OwnRows(t, maxSampledPartitions) {
		sample := ""
		if part.RelPages > meetSampledPages {
			sample = " TABLESAMPLE SYSTEM (1) REPEATABLE (0)"
		}
		rows, err := boundedRead(ctx, conn, fmt.Sprintf("SELECT 1 FROM ONLY %s%s WHERE %s LIMIT 1",
			part.QualifiedName(), sample, strings.Join(conds, " AND ")), values)
		if err != nil || len(rows) > 0 {
			return len(rows) > 0, err
		}
	}
	return false, nil
}

// distinct is the number of distinct values pg_stats estimates for col
// of t; 0 without statistics.
func distinct(t *collector.Table, col columnTarget) float64 {
	st := col.column.Stats
	switch {
	case st == nil:
		return 0
	case st.NDistinct < 0: // a share of the rows
		return -st.NDistinct * max(t.RelTuples, 1)
	}
	return st.NDistinct
}

// boundedRead runs one query of the advisor's own in a savepoint, under
// jointLookupTimeout, and gives its rows, in text; none when the query
// fails short of the connection (a timeout, a table it may not read).
func boundedRead(ctx context.Context, conn *pgx.Conn, sql string, params []string) ([][][]byte, error) {
	if _, err := execOne(ctx, conn, "SAVEPOINT pgadvisor_joint", nil); err != nil {
		return nil, err
	}
	var rows [][][]byte
	if _, err := execOne(ctx, conn, "SELECT set_config('statement_timeout', $1, true)", []string{jointLookupTimeout}); err == nil {
		if res, err := execOne(ctx, conn, sql, params); err == nil {
			rows = res.Rows
		}
	}
	// Back to the savepoint, also on success: that undoes the timeout.
	if _, err := execOne(ctx, conn, "ROLLBACK TO SAVEPOINT pgadvisor_joint", nil); err != nil {
		return nil, err
	}
	if _, err := execOne(ctx, conn, "RELEASE SAVEPOINT pgadvisor_joint", nil); err != nil {
		return nil, err
	}
	return rows, nil
}
