package explain

import (
	"context"
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/collector"
)

// eventsCatalog has an audit log of a million rows whose payload
// statistics hold a most common document (40% of the rows) and a histogram
// of 100 documents, each standing for 0.6%.
func eventsCatalog() *collector.Catalog {
	var hist []string
	for i := range 50 {
		hist = append(hist, fmt.Sprintf(`{"type": "commented", "client": "web", "comment_chars": %d}`, 100+i))
	}
	for range 30 {
		hist = append(hist, `{"type": "status_change", "client": "web", "to": "done"}`)
	}
	for range 10 {
		hist = append(hist, `{"type": "status_change", "client": "api", "to": "canceled"}`)
	}
	for i := range 10 {
		hist = append(hist, fmt.Sprintf(`{"type": "assigned", "client": "ios", "assignee_id": %d}`, 5000+i))
	}
	return &collector.Catalog{
		Settings: collector.PlanSettings{SearchPath: "public"},
		Tables: []collector.Table{{Schema: "public", Name: "events", Kind: "r", RelTuples: 1e6, Columns: []collector.Column{
			{Name: "id", Type: "bigint"},
			{Name: "payload", Type: "jsonb", Stats: &collector.ColumnStats{
				MostCommonVals:  []string{`{"type": "created", "client": "web"}`},
				MostCommonFreqs: []float64{0.4},
				HistogramBounds: hist,
			}},
		}}},
	}
}

// shareOf is the share of eventsCatalog's rows whose sampled document
// holds every pair of part.
func shareOf(t *testing.T, cat *collector.Catalog, part string) float64 {
	t.Helper()
	want, ok := decodeJSON(part)
	if !ok {
		t.Fatalf("%s is not JSON", part)
	}
	var share float64
	for _, d := range sampledDocuments(cat.Tables[0].Columns[1].Stats) {
		holds := true
		for k, v := range want.(map[string]any) {
			if dv, ok := d.pairs[k]; !ok || fmt.Sprint(dv) != fmt.Sprint(v) {
				holds = false
			}
		}
		if holds {
			share += d.weight
		}
	}
	return share
}

func TestCalibratedContainment(t *testing.T) {
	ctx := context.Background()
	cat := eventsCatalog()
	const query = "SELECT id FROM events WHERE payload @> $1"
	for _, tc := range []struct {
		rowsPerCall float64
		share       float64 // of the value chosen
	}{
		{60_000, 0.06},  // 10 histogram documents: "to": "canceled", "client": "api", ...
		{180_000, 0.18}, // "to": "done"
		{400_000, 0.40}, // the most common document
	} {
		ps, err := SynthesizeTypicalParams(ctx, nil, cat, query, tc.rowsPerCall)
		if err != nil {
			t.Fatal(err)
		}
		v := ps[0].Value
		if got := shareOf(t, cat, v); math.Abs(got-tc.share) > 1e-9 {
			t.Errorf("%.0f rows a call: %s keeps %.3f of the rows, want %.3f", tc.rowsPerCall, v, got, tc.share)
		}
		if strings.Contains(v, "comment_chars") || strings.Contains(v, "assignee_id") {
			t.Errorf("%.0f rows a call: %s names a pair of one document alone", tc.rowsPerCall, v)
		}
		if !strings.HasPrefix(ps[0].Source, "calibrated to ") {
			t.Errorf("source %q does not say the value was calibrated", ps[0].Source)
		}
	}

	// Rows per call say nothing of the filter when the statement limits,
	// groups or joins, or when nothing was recorded: the typical document's
	// first key, as without calibration.
	for _, q := range []string{
		"SELECT id FROM events WHERE payload @> $1 LIMIT 10",
		"SELECT count(*) FROM events WHERE payload @> $1",
		"SELECT e.id FROM events e, events f WHERE e.payload @> $1",
		"SELECT id FROM events WHERE payload @> $1 AND id > 5",
	} {
		ps, err := SynthesizeTypicalParams(ctx, nil, cat, q, 60_000)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(ps[0].Source, "calibrated") {
			t.Errorf("%s: calibrated (%s), want the typical document's part", q, ps[0].Value)
		}
	}
	ps, err := SynthesizeTypicalParams(ctx, nil, cat, query, 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasPrefix(ps[0].Source, "calibrated") {
		t.Errorf("calibrated without rows per call: %s", ps[0].Value)
	}
}

// ordersCatalog has a million orders whose status is "done" for 90% of
// them, "open" for 9%, "failed" for 0.5%, and one of 5,000 other values
// (histogram) for 0.5%: 1 row apiece.
func ordersCatalog() *collector.Catalog {
	var hist, days []string
	for i := range 101 {
		hist = append(hist, fmt.Sprintf("s%03d", i))
		days = append(days, fmt.Sprintf("2026-%02d-%02d", 1+i/28, 1+i%28))
	}
	return &collector.Catalog{
		Settings: collector.PlanSettings{SearchPath: "public"},
		Tables: []collector.Table{{Schema: "public", Name: "orders", Kind: "r", RelTuples: 1e6, Columns: []collector.Column{
			{Name: "id", Type: "bigint"},
			{Name: "status", Type: "text", Stats: &collector.ColumnStats{
				NDistinct: 5003, MostCommonVals: []string{"done", "open", "failed"}, MostCommonFreqs: []float64{0.9, 0.09, 0.005}, HistogramBounds: hist,
			}},
			{Name: "created_at", Type: "date", Stats: &collector.ColumnStats{NDistinct: -0.3, HistogramBounds: days}},
		}}},
	}
}

func TestCalibratedEquality(t *testing.T) {
	ctx := context.Background()
	cat := ordersCatalog()
	for _, tc := range []struct {
		query       string
		rowsPerCall float64
		want        string
	}{
		{"SELECT id FROM orders WHERE status = $1", 1e6, "done"},
		{"SELECT id FROM orders WHERE status = $1", 50_000, "open"},
		{"SELECT id FROM orders WHERE status = $1", 3, "s050"},       // a rare value: the typical one
		{"SELECT id FROM orders WHERE status = $1", 0, "s050"},       // nothing recorded
		{"SELECT id FROM orders WHERE status <> $1", 50_000, "s050"}, // not an equality
		{"SELECT id FROM orders WHERE status = $1 LIMIT 20", 20, "s050"},
		{"SELECT id FROM orders WHERE lower(status) = $1", 50_000, "s050"}, // statistics are of status, not lower(status)
		// A range keeps a tenth: 200 rows a call of the last days are failed orders.
		{"SELECT id FROM orders WHERE status = $1 AND created_at > $2", 200, "failed"},
		{"SELECT id FROM orders WHERE created_at >= $2 AND status = $1 AND created_at < $3", 5_000, "open"},
		{"SELECT id FROM orders o WHERE o.created_at >= $2 AND status = $1 AND created_at < $3", 5_000, "open"},
		{"SELECT id FROM orders WHERE status = $1 AND created_at BETWEEN $2 AND $3", 50, "failed"},
		{"SELECT id FROM orders WHERE status = $1 AND created_at > now()", 200, "s050"}, // a range of unknown share
		{"SELECT id FROM orders WHERE status = $1 AND created_at = $2", 200, "s050"},    // two conditions to share the rows
	} {
		ps, err := SynthesizeTypicalParams(ctx, nil, cat, tc.query, tc.rowsPerCall)
		if err != nil {
			t.Fatal(err)
		}
		if got := ps[0].Value; got != tc.want {
			t.Errorf("%s at %.0f rows a call: %s (%s), want %s", tc.query, tc.rowsPerCall, got, ps[0].Source, tc.want)
		}
	}
	// EXPLAIN ANALYZE keeps the most common value: it shows the worst plan.
	ps, err := SynthesizeParams(ctx, nil, cat, "SELECT id FROM orders WHERE status = $1")
	if err != nil {
		t.Fatal(err)
	}
	if ps[0].Value != "done" {
		t.Errorf("SynthesizeParams: %s, want the most common value", ps[0].Value)
	}
}
