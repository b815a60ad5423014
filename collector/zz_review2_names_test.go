package collector

import (
	"context"
	"fmt"
	"testing"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// Roles come and go (dynamic credentials); the window keeps every name
// it ever saw, in memory and in every save.
func TestZZReview2NamesGrow(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	admin := connect(t, c.DSN("postgres"), false)
	s, err := NewSampler(connect(t, c.DSN("postgres"), true), SamplerOptions{}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	w := NewWindow(WindowOptions{MaxIntervals: 4, Retention: 1})
	for round := range 30 {
		for i := range 20 {
			name := fmt.Sprintf("rv2_lease_%d_%d", round, i)
			exec(t, admin, "CREATE ROLE "+name)
		}
		sampleInto(t, s, w)
		for i := range 20 {
			exec(t, admin, fmt.Sprintf("DROP ROLE rv2_lease_%d_%d", round, i))
		}
	}
	sampleInto(t, s, w)
	var live int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM pg_roles").Scan(&live); err != nil {
		t.Fatal(err)
	}
	data, _ := w.MarshalBinary()
	t.Logf("roles that exist now: %d; names in the window: %d; intervals %d; saved size %d bytes", live, len(w.st.Users), len(w.st.Intervals), len(data))
	if len(w.st.Users) > live+50 {
		t.Errorf("window keeps %d role names, %d exist", len(w.st.Users), live)
	}
}
