package advisor

import (
	"testing"
)

func TestZZReview2DuplicateQueryID(t *testing.T) {
	conn := testDB(t, "zz_dupq", pairsSetup...)
	w := newWhatIf(t, conn, WhatIfOptions{})
	cat := replicaCatalog(t, conn)
	// The same statement run by two roles: pg_stat_statements keeps one entry per (userid, dbid, queryid).
	stmts := []WorkloadStatement{
		stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 100, "public.pairs", "42"),
		stmt("by_a", "SELECT * FROM pairs WHERE a = $1", 50, "public.pairs", "42"),
	}
	recs := selectRecs(t, w, cat, []Candidate{btree("public.pairs", "a")}, stmts, SelectOptions{})
	zzDump(t, recs)
	for _, r := range recs {
		t.Logf("reason: %s", r.Reason)
	}
}
