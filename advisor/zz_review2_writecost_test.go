package advisor

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"testing"

	"go.uber.org/zap/zaptest"
)

func zzDump(t *testing.T, recs []Recommendation) {
	for _, r := range recs {
		t.Logf("REC %s %v incl=%v where=%q validated=%v size=%d before=%.0f after=%.0f gain=%.0f writecost=%.0f queryids=%v", r.Table, r.Columns, r.Include, r.Where, r.Validated, r.EstimatedSizeBytes, r.CostBefore, r.CostAfter, r.CostBefore-r.CostAfter, r.WriteCost, r.QueryIDs)
		for _, g := range r.Statements {
			t.Logf("     stmt %s calls=%.0f before=%.1f after=%.1f with=%v without=%.1f", g.QueryID, g.Calls, g.CostBefore, g.CostAfter, g.With, g.CostWithout)
		}
		if r.ValidationNote != "" {
			t.Logf("     note: %s", r.ValidationNote)
		}
	}
}

func TestZZReview2WriteCostAfterLaterPick(t *testing.T) {
	conn := testDB(t, "zz_wc",
		`CREATE TABLE wt (x int NOT NULL, y text NOT NULL, pad text NOT NULL)`,
		`INSERT INTO wt SELECT g % 500, md5(g::text) || md5((g+1)::text), repeat('p', 60) FROM generate_series(1, 50000) g`,
		`ANALYZE wt`)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	stmts := []WorkloadStatement{
		stmt("q_xy", "SELECT * FROM wt WHERE x = $1 AND y = $2", 1000, "public.wt", "42", "abc"),
		stmt("q_x", "SELECT * FROM wt WHERE x = $1", 200, "public.wt", "42"),
		stmt("q_y", "SELECT * FROM wt WHERE y = $1", 500, "public.wt", "abc"),
	}
	cands := []Candidate{btree("public.wt", "x"), btree("public.wt", "y")}
	rows, _ := strconv.ParseFloat(os.Getenv("ZZ_ROWS"), 64)
	var writes []Write
	if rows > 0 {
		writes = []Write{{QueryID: "upd_x", Table: "public.wt", Kind: "UPDATE", Columns: []string{"x"}, Calls: rows, Rows: rows}}
	}
	recs, err := Select(context.Background(), w, cat, cands, stmts, writes, SelectOptions{}, zaptest.NewLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	zzDump(t, recs)
	// Marginal check: cost of the workload with all chosen vs without each.
	var all []Candidate
	for _, r := range recs {
		for _, c := range cands {
			if fmt.Sprint(r.Columns) == fmt.Sprint(colsOf(c)) {
				all = append(all, c)
			}
		}
	}
	with, _ := w.CostWith(context.Background(), all, stmts)
	for i := range all {
		rest := append(append([]Candidate{}, all[:i]...), all[i+1:]...)
		without, _ := w.CostWith(context.Background(), rest, stmts)
		var marg float64
		for j := range stmts {
			marg += stmts[j].Calls * (without[j].Cost - with[j].Cost)
		}
		t.Logf("MARGINAL %v: %.0f", colsOf(all[i]), marg)
	}
}

func colsOf(c Candidate) []string {
	var out []string
	for _, k := range c.Keys {
		out = append(out, k.Column)
	}
	return out
}
