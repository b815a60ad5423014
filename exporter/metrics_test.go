package exporter

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// snapshotOf is a sample of one database "app" whose statement i has
// calls[i] calls and totals[i] ms, cumulative.
func snapshotOf(at time.Time, calls []int64, totals []float64) *collector.Snapshot {
	s := &collector.Snapshot{Time: at, Sampled: true, Databases: map[uint32]string{1: "app"},
		Users: map[uint32]string{10: "web"}, Texts: map[collector.Key]*collector.Text{}}
	for i := range calls {
		k := collector.Key{DBID: 1, UserID: 10, QueryID: int64(100 + i), TopLevel: true}
		s.Entries = append(s.Entries, collector.Entry{
			Key:      k,
			Counters: collector.Counters{Calls: calls[i], TotalExecTime: totals[i]},
		})
		s.Texts[k] = &collector.Text{Query: fmt.Sprintf("SELECT %d FROM t WHERE a = $1", i), Command: "SELECT"}
	}
	return s
}

// spanOf is a ranking span where statement i ran recent[i] ms in 10 calls.
func spanOf(recent []float64) *collector.Delta {
	d := &collector.Delta{}
	for i, ms := range recent {
		if ms == 0 {
			continue
		}
		d.Statements = append(d.Statements, collector.Statement{
			QueryID: fmt.Sprint(100 + i), Key: collector.Key{DBID: 1, UserID: 10, QueryID: int64(100 + i), TopLevel: true},
			Database: "app", User: "web",
			Text:     collector.Text{Query: "SELECT", Command: "SELECT"},
			Counters: collector.Counters{Calls: 10, TotalExecTime: ms},
		})
	}
	return d
}

func exported(t *testing.T, m *Metrics, target string) []string {
	t.Helper()
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, f := range fams {
		if f.GetName() != "pgadvisor_statement_calls_total" {
			continue
		}
		for _, mt := range f.GetMetric() {
			if label(mt, "target") == target {
				ids = append(ids, label(mt, "queryid"))
			}
		}
	}
	slices.Sort(ids)
	return ids
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func TestStatementSeriesHysteresis(t *testing.T) {
	m := NewMetrics("test", 2) // K = 2: enter in the top 2, leave beyond the top 4
	t0 := time.Date(2025, 5, 1, 12, 0, 0, 0, time.UTC)
	calls := []int64{5, 5, 5, 5, 5, 5}
	totals := []float64{60, 50, 40, 30, 20, 10}
	update := func(i int, recent []float64) {
		m.Statements("db1", snapshotOf(t0.Add(time.Duration(i)*time.Minute), calls, totals), spanOf(recent))
	}

	update(0, []float64{60, 50, 40, 30, 20, 10})
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100", "101"}) {
		t.Fatalf("first update exports %v, want the top 2 (100, 101)", got)
	}
	// 102 overtakes 101, which falls to rank 3 (within 2K): 102 enters, 101 stays.
	update(1, []float64{60, 40, 50, 30, 20, 10})
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100", "101", "102"}) {
		t.Fatalf("after a swap at the boundary: %v, want 100, 101 kept and 102 added", got)
	}
	// 101 stays at rank 3: at its statementLeaveAfter-th update below the top K it goes.
	for i := 2; i < statementLeaveAfter; i++ {
		update(i, []float64{60, 40, 50, 30, 20, 10})
		if got := exported(t, m, "db1"); !slices.Contains(got, "101") {
			t.Fatalf("101 left after %d updates below the top K, want %d", i, statementLeaveAfter)
		}
	}
	update(statementLeaveAfter, []float64{60, 40, 50, 30, 20, 10})
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100", "102"}) {
		t.Fatalf("after %d updates below the top K: %v, want 101 gone", statementLeaveAfter, got)
	}
	// 102 drops beyond the top 2K at once: it goes at once.
	update(20, []float64{60, 40, 1, 30, 20, 10})
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100", "101"}) {
		t.Fatalf("after 102 fell to rank 6: %v, want 100 and 101", got)
	}

	// The series carry the snapshot's cumulative counters, in seconds.
	want := `
# HELP pgadvisor_statement_seconds_total Execution time of a top statement, summed over users: pg_stat_statements' total when the statement entered the exported set, plus what it ran since.
# TYPE pgadvisor_statement_seconds_total counter
pgadvisor_statement_seconds_total{datname="app",queryid="100",target="db1"} 0.06
pgadvisor_statement_seconds_total{datname="app",queryid="101",target="db1"} 0.05
`
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "pgadvisor_statement_seconds_total"); err != nil {
		t.Fatal(err)
	}

	// Without a new ranking the set stays and the values follow the snapshot.
	m.Statements("db1", snapshotOf(t0.Add(30*time.Minute), calls, []float64{70, 50, 40, 30, 20, 10}), nil)
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100", "101"}) {
		t.Fatalf("without a ranking: %v, want the set unchanged", got)
	}
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(strings.Replace(want, "0.06", "0.07", 1)), "pgadvisor_statement_seconds_total"); err != nil {
		t.Fatal(err)
	}

	// A statement evicted from pg_stat_statements loses its series.
	m.Statements("db1", snapshotOf(t0.Add(time.Hour), calls[:1], totals[:1]), spanOf([]float64{60, 40}))
	if got := exported(t, m, "db1"); !slices.Equal(got, []string{"100"}) {
		t.Fatalf("after 101 was evicted: %v, want only 100", got)
	}
	// K = 0 exports none.
	m.SetTopStatements(0)
	update(30, []float64{60, 50})
	if got := exported(t, m, "db1"); len(got) != 0 {
		t.Fatalf("with top_statements 0: %v exported", got)
	}
}

func TestStatementSeriesSumUsersAndSkipOwnStatements(t *testing.T) {
	m := NewMetrics("test", 5)
	snap := snapshotOf(time.Now(), []int64{3, 4}, []float64{30, 40})
	snap.Entries[1].Key.QueryID = 100 // the same statement by another user
	snap.Entries[1].Key.UserID = 11
	// The advisor's PREPARE of statement 100: its queryid, not its calls.
	prep := collector.Key{DBID: 1, UserID: 10, QueryID: 100}
	snap.Entries = append(snap.Entries, collector.Entry{Key: prep, Counters: collector.Counters{Calls: 5, TotalExecTime: 1}})
	snap.Texts[prep] = &collector.Text{Query: "/* pgadvisor */ PREPARE pgadvisor_1 AS SELECT 0", Own: true}
	span := spanOf([]float64{70, 9})
	span.Statements[1].Text.Own = true // the advisor's own: never exported
	m.Statements("db1", snap, span)
	expect := func(calls, tracked int) {
		t.Helper()
		want := fmt.Sprintf(`
# HELP pgadvisor_statement_calls_total Calls of a top statement, summed over users: pg_stat_statements' total when the statement entered the exported set, plus those since.
# TYPE pgadvisor_statement_calls_total counter
pgadvisor_statement_calls_total{datname="app",queryid="100",target="db1"} %d
# HELP pgadvisor_statements_tracked pg_stat_statements entries in the target's last sample (after database and user filters).
# TYPE pgadvisor_statements_tracked gauge
pgadvisor_statements_tracked{target="db1"} %d
`, calls, tracked)
		if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want),
			"pgadvisor_statement_calls_total", "pgadvisor_statements_tracked"); err != nil {
			t.Fatal(err)
		}
	}
	expect(7, 3)

	// User 11's entry is evicted while user 10's runs twice more: the
	// counter goes on from 7, not down to 5. Back with one call, the
	// entry's call is new.
	snap.Entries[0].Calls = 5
	evicted := *snap
	evicted.Entries = []collector.Entry{snap.Entries[0], snap.Entries[2]}
	m.Statements("db1", &evicted, nil)
	expect(9, 2)
	snap.Entries[1].Calls = 1
	m.Statements("db1", snap, nil)
	expect(10, 3)
}

// A database name that is not valid UTF-8 (SQL_ASCII clusters keep LATIN1
// bytes as given) is exported with U+FFFD for the invalid bytes; two such
// names that then read the same share one series. Either way the scrape
// answers.
func TestInvalidUTF8DatabaseNameScraped(t *testing.T) {
	m := NewMetrics("test", 5)
	snap := snapshotOf(time.Now(), []int64{3, 4}, []float64{30, 40})
	snap.Databases = map[uint32]string{1: "caf\xe9", 2: "caf\xe8"}
	snap.Entries[1].Key = collector.Key{DBID: 2, UserID: 10, QueryID: 100, TopLevel: true}
	span := spanOf([]float64{50, 20})
	span.Statements[0].Database = "caf\xe9"
	span.Statements[1].Database, span.Statements[1].Key = "caf\xe8", snap.Entries[1].Key
	m.Statements("prod", snap, span)

	rec := httptest.NewRecorder()
	NewServer(ServerOptions{Metrics: m}).Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /metrics = %d:\n%s", rec.Code, rec.Body)
	}
	const want = "pgadvisor_statement_calls_total{datname=\"caf\uFFFD\",queryid=\"100\",target=\"prod\"} 7"
	if !strings.Contains(rec.Body.String(), want+"\n") {
		t.Errorf("the exposition lacks %s:\n%s", want, rec.Body)
	}
}

// populated is a registry with a series in every metric.
func populated(t *testing.T) *Metrics {
	t.Helper()
	m := NewMetrics("1.2.3", 20)
	m.SampleDone("prod-orders", 120*time.Millisecond, true)
	m.SampleDone("down", time.Second, false)
	r := fixtureReport(t)
	m.CycleDone(r, 42*time.Second)
	m.CycleFailed("down")
	m.Statements("prod-orders", snapshotOf(time.Now(), []int64{5}, []float64{50}), spanOf([]float64{50}))
	rec := r.Recommendations[0]
	m.Applied("prod-orders", []state.Record{{Recommendation: rec, Status: state.StatusApplied,
		AppliedAt: time.Now().Add(-time.Hour), MeanBeforeMS: 10, MeanAfterMS: 4, RealizedAt: time.Now()}})
	m.JobSkipped("prod-orders", "analyze")
	h := newHarness(t, t.TempDir(), config.Notify{Webhooks: []config.Webhook{{URL: "https://hooks.example/secret-path"}}}, fastOptions)
	m.SetNotifier(h.n)
	m.NotificationResult("webhook[0]", OutcomeDelivered)
	return m
}

func TestMetricsExpositionLints(t *testing.T) {
	m := populated(t)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, f := range fams {
		have[f.GetName()] = true
	}
	for _, name := range MetricNames() {
		if !have[name] {
			t.Errorf("%s is registered but has no series in a populated registry", name)
		}
	}
	if !have["go_goroutines"] || runtime.GOOS == "linux" && !have["process_resident_memory_bytes"] {
		t.Error("go_goroutines or process_resident_memory_bytes missing: the Go and process collectors must be registered")
	}
}

// The names the issue fixes, and the labels each carries.
func TestMetricNamesAndLabels(t *testing.T) {
	m := populated(t)
	want := map[string][]string{
		"pgadvisor_target_up":                     {"target"},
		"pgadvisor_sample_duration_seconds":       {"target"},
		"pgadvisor_cycle_duration_seconds":        {"target"},
		"pgadvisor_statements_tracked":            {"target"},
		"pgadvisor_findings":                      {"kind", "severity", "target"},
		"pgadvisor_recommendations_open":          {"target"},
		"pgadvisor_recommendations_benefit_ratio": {"target"},
		"pgadvisor_explain_total":                 {"mode", "outcome", "target"},
		"pgadvisor_notifications_total":           {"channel", "outcome"},
		"pgadvisor_outbox_pending":                {"channel"},
		"pgadvisor_statement_seconds_total":       {"datname", "queryid", "target"},
		"pgadvisor_statement_calls_total":         {"datname", "queryid", "target"},
		"pgadvisor_statement_mean_seconds":        {"datname", "queryid", "target"},
	}
	fams, err := m.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		labels, ok := want[f.GetName()]
		if !ok {
			continue
		}
		delete(want, f.GetName())
		var got []string
		for _, l := range f.GetMetric()[0].GetLabel() {
			got = append(got, l.GetName())
		}
		if !slices.Equal(got, labels) {
			t.Errorf("%s has labels %v, want %v", f.GetName(), got, labels)
		}
	}
	for name := range want {
		t.Errorf("%s is not exported", name)
	}
}

func TestCycleMetrics(t *testing.T) {
	m := NewMetrics("", 0)
	r := fixtureReport(t)
	m.CycleDone(r, time.Second)
	ratio, _ := workloadReduction(r)
	if got := testutil.ToFloat64(m.benefit.WithLabelValues(r.Target)); got != ratio || ratio <= 0 {
		t.Errorf("benefit ratio %v, want the report's workload reduction %v", got, ratio)
	}
	if got := testutil.ToFloat64(m.recsOpen.WithLabelValues(r.Target)); got != float64(len(r.Recommendations)) {
		t.Errorf("open recommendations %v, want %d", got, len(r.Recommendations))
	}
	kinds := map[[2]string]int{}
	for _, f := range r.Findings {
		kinds[[2]string{f.Kind, string(f.Severity)}]++
	}
	for k, n := range kinds {
		if got := testutil.ToFloat64(m.findings.WithLabelValues(r.Target, k[0], k[1])); got != float64(n) {
			t.Errorf("findings %v: %v, want %d", k, got, n)
		}
	}
	// The next cycle finds nothing: the kinds drop to 0 instead of vanishing.
	m.CycleDone(&advisor.Report{Target: r.Target}, time.Second)
	for k := range kinds {
		if got := testutil.ToFloat64(m.findings.WithLabelValues(r.Target, k[0], k[1])); got != 0 {
			t.Errorf("findings %v after a clean cycle: %v, want 0", k, got)
		}
	}
	explained := testutil.CollectAndCount(m.explains)
	if explained == 0 {
		t.Error("no pgadvisor_explain_total series after a cycle with statements")
	}

	m.ForgetTarget(r.Target)
	for _, c := range []string{"pgadvisor_findings", "pgadvisor_recommendations_open", "pgadvisor_explain_total", "pgadvisor_cycle_duration_seconds"} {
		if n, _ := testutil.GatherAndCount(m.Registry(), c); n != 0 {
			t.Errorf("%s keeps %d series of a forgotten target", c, n)
		}
	}
}

func TestRealizedGainSeriesAreBounded(t *testing.T) {
	m := NewMetrics("", 0)
	now := time.Now()
	var records []state.Record
	for i := range maxRealizedSeries + 5 {
		records = append(records, state.Record{
			Recommendation: advisor.Recommendation{ID: fmt.Sprintf("r%02d", i)}, Status: state.StatusApplied,
			AppliedAt: now.Add(-time.Hour), MeanBeforeMS: 10, MeanAfterMS: float64(i), RealizedAt: now.Add(time.Duration(i) * time.Second),
		})
	}
	records = append(records, state.Record{Recommendation: advisor.Recommendation{ID: "open"}, Status: state.StatusOpen})
	m.Applied("t", records)
	if n := testutil.CollectAndCount(m.realized); n != maxRealizedSeries {
		t.Fatalf("%d realized series, want the latest %d", n, maxRealizedSeries)
	}
	if got := testutil.ToFloat64(m.recsApplied.WithLabelValues("t")); got != maxRealizedSeries+5 {
		t.Errorf("applied %v, want %d", got, maxRealizedSeries+5)
	}
	// r24 was measured last: 10 ms before, 24 after: a regression of 140%.
	if got := testutil.ToFloat64(m.realized.WithLabelValues("t", "r24")); got != -1.4 {
		t.Errorf("realized ratio of r24 = %v, want -1.4", got)
	}
}

// TestRestoredBeforeTheFirstCycle: a restarted agent exports its open and
// built recommendations from the store at once.
func TestRestoredBeforeTheFirstCycle(t *testing.T) {
	m := NewMetrics("", 0)
	m.Restored("t", []state.Record{
		{Recommendation: advisor.Recommendation{ID: "a"}, Status: state.StatusOpen},
		{Recommendation: advisor.Recommendation{ID: "b"}, Status: state.StatusOpen},
		{Recommendation: advisor.Recommendation{ID: "c"}, Status: state.StatusApplied},
		{Recommendation: advisor.Recommendation{ID: "d"}, Status: state.StatusGone},
	})
	if open, applied := testutil.ToFloat64(m.recsOpen.WithLabelValues("t")), testutil.ToFloat64(m.recsApplied.WithLabelValues("t")); open != 2 || applied != 1 {
		t.Errorf("open %v, applied %v; want 2 and 1", open, applied)
	}
}

// While a target is down its last count of statements is not current: the
// gauge goes with the failed sample and comes back with the next good one.
func TestStatementsTrackedGoneWhileDown(t *testing.T) {
	m := NewMetrics("", 0)
	tracked := func() int {
		n, err := testutil.GatherAndCount(m.Registry(), "pgadvisor_statements_tracked")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	m.SampleDone("prod", time.Millisecond, true)
	m.Statements("prod", snapshotOf(time.Now(), []int64{5, 6}, []float64{50, 60}), nil)
	if got := testutil.ToFloat64(m.statementsTracked.WithLabelValues("prod")); got != 2 {
		t.Fatalf("statements tracked %v after a sample of 2, want 2", got)
	}
	m.SampleDone("prod", time.Second, false)
	if n := tracked(); n != 0 {
		t.Errorf("%d pgadvisor_statements_tracked series while the target is down, want none", n)
	}
	m.SampleDone("prod", time.Millisecond, true)
	m.Statements("prod", snapshotOf(time.Now(), []int64{5}, []float64{50}), nil)
	if got := testutil.ToFloat64(m.statementsTracked.WithLabelValues("prod")); got != 1 {
		t.Errorf("statements tracked %v after the target came back with 1, want 1", got)
	}
}
