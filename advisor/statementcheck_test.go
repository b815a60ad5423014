package advisor

import (
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
)

func TestCacheFinding(t *testing.T) {
	stmt := func(id string, hit, read int64, topLevel, own bool) collector.Statement {
		return collector.Statement{
			QueryID: id, Key: collector.Key{TopLevel: topLevel}, Text: collector.Text{Own: own},
			Counters: collector.Counters{Calls: 1, SharedBlksHit: hit, SharedBlksRead: read},
		}
	}
	cat := &collector.Catalog{
		Database: "shop",
		Settings: collector.PlanSettings{SharedBuffersBytes: 128 << 20},
		Tables:   []collector.Table{{SizeBytes: 600 << 20}, {SizeBytes: 92 << 20}},
	}
	window := []collector.Statement{
		stmt("1", 50_000, 30_000, true, false),
		stmt("2", 40_000, 10_000, true, false),
		stmt("3", 10_000, 0, true, false),
		// Counted in its caller's blocks, and the advisor's own reads: neither counts.
		stmt("4", 0, 1_000_000, false, false),
		stmt("5", 0, 1_000_000, true, true),
	}
	f, ok := cacheFinding(window, cat)
	if !ok {
		t.Fatal("a 71% hit ratio over 40,000 blocks read was not reported")
	}
	if f.Kind != explain.KindLowCacheHit || f.Severity != explain.Warning {
		t.Errorf("kind %s severity %s, want %s warning", f.Kind, f.Severity, explain.KindLowCacheHit)
	}
	if got := f.Evidence["hit_ratio"].(float64); got < 0.714 || got > 0.715 {
		t.Errorf("hit ratio %.4f, want 100,000 / 140,000", got)
	}
	for _, want := range []string{"71.4%", "128 MB", "40,000 blocks (312 MB)", "queryid 1 (75%), queryid 2 (25%)", "692 MB"} {
		if !strings.Contains(f.Detail, want) {
			t.Errorf("detail lacks %q: %s", want, f.Detail)
		}
	}
	if top := f.Evidence["top_readers"].([]map[string]any); len(top) != 2 {
		t.Errorf("top readers %v, want the 2 statements that read", top)
	}

	// A good ratio, or too few reads to judge, is no finding.
	if _, ok := cacheFinding([]collector.Statement{stmt("1", 10_000_000, 20_000, true, false)}, cat); ok {
		t.Error("a 99.8% hit ratio was reported")
	}
	if _, ok := cacheFinding([]collector.Statement{stmt("1", 1_000, 9_000, true, false)}, cat); ok {
		t.Error("9,000 blocks read were enough to judge")
	}
}
