package collector

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// One entry reset (pg_stat_statements_reset(0,0,queryid)) between samples,
// then the statement runs more often than before: true delta is what ran
// since the reset.
func TestZZReview2ResetOneEntry(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	newDatabase(t, c, "rv2_reset", "")
	client := connect(t, c.DSN("rv2_reset"), false)
	exec(t, client, "CREATE TABLE r (a int)")
	exec(t, client, "INSERT INTO r SELECT g FROM generate_series(1,100) g")
	s, err := NewSampler(connect(t, c.DSN("rv2_reset"), true), SamplerOptions{Databases: NameFilter{Include: []string{"rv2_reset"}}}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWindow(WindowOptions{})
	for range 10 {
		exec(t, client, "SELECT count(*) FROM r WHERE a > 5")
	}
	snap := sampleInto(t, s, w)
	k := textKey(t, snap, "FROM r WHERE")
	// reset that entry only, then run it 25 times
	exec(t, client, fmt.Sprintf("SELECT pg_stat_statements_reset(0, 0, %d)", k.QueryID))
	for range 25 {
		exec(t, client, "SELECT count(*) FROM r WHERE a > 5")
	}
	sampleInto(t, s, w)
	d := w.LastSample()
	for _, st := range d.Statements {
		if st.Key == k {
			t.Logf("after resetting one entry and 25 calls: delta calls=%d rows=%d resets=%d", st.Calls, st.Rows, d.Resets)
			if st.Calls != 25 {
				t.Errorf("delta calls %d, want 25 (ran 25 times since the reset)", st.Calls)
			}
		}
	}
	_ = ctx
}
