package advisor

import (
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
)

func TestZZReview2PartitionWrites(t *testing.T) {
	cat := &collector.Catalog{Database: "d", Tables: []collector.Table{
		{Schema: "public", Name: "m", Kind: "p", RelTuples: 200000, Partitions: []string{"public.m_a", "public.m_b"},
			Columns: []collector.Column{{Name: "device_id", Type: "integer"}, {Name: "taken_at", Type: "timestamp with time zone"}}},
		{Schema: "public", Name: "m_a", Kind: "r", RelTuples: 100000, Columns: []collector.Column{{Name: "device_id", Type: "integer"}, {Name: "taken_at", Type: "timestamp with time zone"}}},
		{Schema: "public", Name: "m_b", Kind: "r", RelTuples: 100000, Columns: []collector.Column{{Name: "device_id", Type: "integer"}, {Name: "taken_at", Type: "timestamp with time zone"}}},
	}}
	mk := func(id, q string) collector.Statement {
		s := collector.Statement{QueryID: id, Database: "d", Text: collector.Text{Query: q, Command: "INSERT"}}
		s.Calls, s.Rows = 1000000, 1000000
		return s
	}
	writes := WorkloadWrites([]collector.Statement{
		mk("via_parent", "INSERT INTO m (device_id, taken_at) VALUES ($1, $2)"),
		mk("via_leaf", "INSERT INTO m_a (device_id, taken_at) VALUES ($1, $2)"),
	}, cat)
	t.Logf("writes: %+v", writes)
	c := btree("public.m", "device_id")
	for _, iw := range indexWrites(c, &cat.Tables[0], writes, cat, 1) {
		t.Logf("charged to index on public.m: %s cost %.0f", iw.QueryID, iw.Cost)
	}
}
