package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

const shopSchema = `
CREATE TABLE orders (
  id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  customer_id int NOT NULL,
  status text NOT NULL,
  total numeric(12,2) NOT NULL);
INSERT INTO orders (customer_id, status, total)
  SELECT 1 + (i * 7919) % 20000, (ARRAY['open','paid','shipped'])[1 + i % 3], (i % 1000) / 10.0
  FROM generate_series(1, 200000) i;`

// shopWorkload runs the statement that wants an index on customer_id.
func shopWorkload(t *testing.T, dsn string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for i := range 20 {
		var n int
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM orders WHERE customer_id = $1", 1+i*37).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
}

// hooks receives webhook messages.
type hooks struct {
	mu     sync.Mutex
	events []string
	bodies []string
}

func (h *hooks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	h.events = append(h.events, r.Header.Get(exporter.HeaderEvent))
	h.bodies = append(h.bodies, string(body))
	h.mu.Unlock()
}

func (h *hooks) got(event string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Contains(h.events, event)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func fetch(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

func metricValue(t *testing.T, exposition, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(exposition))
	if err != nil {
		t.Fatalf("/metrics does not parse: %v", err)
	}
	for _, m := range fams[name].GetMetric() {
		match := true
		for k, v := range labels {
			found := false
			for _, l := range m.GetLabel() {
				found = found || l.GetName() == k && l.GetValue() == v
			}
			match = match && found
		}
		if match {
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue(), true
			}
			return m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestAgent runs the agent against a sandbox target and a target on a
// closed port: the down one backs off without holding up the other, which
// is sampled, analyzed, recommended, notified and served; once the
// recommended index is built it is found, and its realized gain measured
// two cycles later. No secret reaches a log line, a metric, a report or a
// message. Stopping flushes the state.
func TestAgent(t *testing.T) {
	c := pgsandbox.Require(t, sandbox)
	ctx := context.Background()
	if err := c.CreateDatabase(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := c.Exec(ctx, "shop", shopSchema, "VACUUM ANALYZE orders", "SELECT pg_stat_statements_reset()"); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}
	receiver := &hooks{}
	hookServer := httptest.NewServer(receiver)
	defer hookServer.Close()

	dir := t.TempDir()
	path := writeConfig(t, dir, `
listen: 127.0.0.1:0
state_dir: %s
targets:
  - name: shop
    dsn: %s
    replica_dsn: %s
    databases: {include: [shop]}
  - name: down
    dsn: postgres://advisor:%s@127.0.0.1:1/app?connect_timeout=2
schedule: {sample: "@every 1h", analyze: "@every 1h"}
metrics: {top_statements: 5}
notify:
  webhooks:
    - url: %s
      secret: %s
`, dir+"/state", withPassword(c.DSN("shop")), withPassword(c.ReplicaDSN("shop")), dsnPassword,
		hookServer.URL+webhookPath, webhookSecret)
	logs := &logBuffer{}
	opts := testOptions()
	d, err := New(loadConfig(t, path), logs.logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(runCtx) }()

	// The first samples run at start: shop is up, down is down and backs off.
	waitFor(t, "the first samples", func() bool {
		return strings.Contains(logs.String(), "target sample failed") && d.Ready() == nil
	})
	base := "http://" + d.Addr()
	if code, body := fetch(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz with one target up: %d %s", code, body)
	}
	down, err := d.lookup("down")
	if err != nil {
		t.Fatal(err)
	}
	if down.backoffLeft(time.Now()) < time.Second {
		// A slow machine took most of the first backoff to get here: fail
		// once more, which backs off twice as long.
		if err := d.Sample(ctx, "down"); err == nil {
			t.Fatal("sampling a target that is down succeeded")
		}
	}
	failures := strings.Count(logs.String(), "target sample failed")
	if err := d.Sample(ctx, "down"); err != nil {
		t.Errorf("sampling a target that backs off: %v, want a quiet skip", err)
	}
	if n := strings.Count(logs.String(), "target sample failed"); n != failures {
		t.Errorf("%d failed attempts logged, want %d: the last was within the backoff", n, failures)
	}

	// Cycle 1: the workload wants an index.
	shopWorkload(t, c.DSN("shop"))
	if err := d.Sample(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if err := d.Analyze(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	r := d.Report("shop")
	if r == nil || len(r.Recommendations) == 0 {
		t.Fatalf("no recommendation after a cycle: %+v", r)
	}
	rec := r.Recommendations[0]
	if rec.Table != "public.orders" || !slices.Equal(rec.Columns, []string{"customer_id"}) {
		t.Fatalf("recommended %s (%v), want public.orders (customer_id)", rec.Table, rec.Columns)
	}
	waitFor(t, "the webhook announcing the recommendation", func() bool { return receiver.got(exporter.EventNew) })

	code, metrics := fetch(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for target, want := range map[string]float64{"shop": 1, "down": 0} {
		if v, ok := metricValue(t, metrics, "pgadvisor_target_up", map[string]string{"target": target}); !ok || v != want {
			t.Errorf("pgadvisor_target_up{target=%q} = %v (present %v), want %v", target, v, ok, want)
		}
	}
	if v, _ := metricValue(t, metrics, "pgadvisor_recommendations_open", map[string]string{"target": "shop"}); v != float64(len(r.Recommendations)) {
		t.Errorf("pgadvisor_recommendations_open = %v, want %d", v, len(r.Recommendations))
	}
	if _, ok := metricValue(t, metrics, "pgadvisor_statement_calls_total", map[string]string{"target": "shop", "datname": "shop"}); !ok {
		t.Error("no per-statement series for the top statements of shop")
	}
	code, body := fetch(t, base+"/api/v1/report?target=shop&format=json")
	var served advisor.Report
	if err := json.Unmarshal([]byte(body), &served); code != 200 || err != nil || served.Recommendations[0].ID != rec.ID {
		t.Fatalf("/api/v1/report: %d %v", code, err)
	}
	if code, body := fetch(t, base+"/api/v1/report?format=html&target=shop"); code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("HTML report: %d", code)
	}
	if code, body := fetch(t, base+"/api/v1/recommendations"); code != 200 || !strings.Contains(body, rec.ID) {
		t.Errorf("/api/v1/recommendations: %d %s", code, body)
	}

	// The index gets built, by its DDL, one statement at a time.
	conn, err := pgx.Connect(ctx, c.DSN("shop"))
	if err != nil {
		t.Fatal(err)
	}
	for _, stmt := range strings.Split(rec.DDL, "\n") {
		if _, err := conn.Exec(ctx, stmt); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
	}
	conn.Close(ctx)
	if err := c.WaitReplay(ctx); err != nil {
		t.Fatal(err)
	}

	// Cycle 2 finds it; cycle 3's window began before, so cycle 4 measures.
	var notes []string
	for cycle := 2; cycle <= 4; cycle++ {
		shopWorkload(t, c.DSN("shop"))
		if err := d.Sample(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		if err := d.Analyze(ctx, "shop"); err != nil {
			t.Fatal(err)
		}
		notes = d.Report("shop").Warnings
		if cycle == 2 && !slices.ContainsFunc(notes, func(s string) bool { return strings.Contains(s, "realized gain is measured by the first") }) {
			t.Errorf("cycle 2 does not say the built index is waiting to be measured: %q", notes)
		}
	}
	t.Logf("cycle 4 notes: %q", notes)
	if a := d.Report("shop").Applied; len(a) != 1 || a[0].RecommendationID != rec.ID || !a[0].Measured ||
		a[0].ImprovementPct <= 0 || a[0].MeanAfterMS >= a[0].MeanBeforeMS {
		t.Errorf("report's applied indexes = %+v, want the built index measured with a gain", a)
	}
	if !slices.ContainsFunc(notes, func(s string) bool {
		return strings.Contains(s, "realized gain") && strings.Contains(s, rec.ID) && strings.Contains(s, "went from")
	}) {
		t.Errorf("cycle 4 does not report the realized gain: %q", notes)
	}
	waitFor(t, "the webhook announcing the realized gain", func() bool { return receiver.got(exporter.EventRealized) })
	_, metrics = fetch(t, base+"/metrics")
	if v, ok := metricValue(t, metrics, "pgadvisor_recommendation_realized_improvement_ratio", map[string]string{"recommendation": rec.ID}); !ok || v <= 0 {
		t.Errorf("realized improvement ratio %v (present %v), want a gain", v, ok)
	}

	stop()
	if err := <-stopped; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Errorf("Close after Run: %v", err)
	}

	// A new agent on the same state resumes the windows, and deletes
	// those of a target no longer configured or of a database shop no
	// longer samples.
	stale, err := state.Open(dir + "/state")
	if err != nil {
		t.Fatal(err)
	}
	err = errors.Join(stale.PutWindow("retired", "app", []byte("x")), stale.PutWindow("shop", "olddb", []byte("x")), stale.Close())
	if err != nil {
		t.Fatal(err)
	}
	restored := &logBuffer{}
	d2, err := New(loadConfig(t, path), restored.logger(), opts)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(restored.String(), `"window restored","target":"shop"`) {
		t.Errorf("the window of shop was not restored:\n%s", restored)
	}
	if err := d2.Close(); err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(dir + "/state")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	if _, ok, err := store.GetWindow("shop", "shop"); !ok || err != nil {
		t.Errorf("window of shop not flushed: %v", err)
	}
	for _, w := range [][2]string{{"retired", "app"}, {"shop", "olddb"}} {
		if _, ok, err := store.GetWindow(w[0], w[1]); ok || err != nil {
			t.Errorf("stale window %s/%s kept (%v)", w[0], w[1], err)
		}
	}
	records, err := store.Recommendations("shop")
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(records, func(rd state.Record) bool { return rd.Recommendation.ID == rec.ID }); i < 0 ||
		records[i].Status != state.StatusApplied || records[i].RealizedPct() <= 0 {
		t.Errorf("record of the built index: %+v", records)
	}

	// No secret anywhere.
	reportJSON, _ := json.Marshal(d.Report("shop"))
	receiver.mu.Lock()
	messages := strings.Join(receiver.bodies, "\n")
	receiver.mu.Unlock()
	for where, text := range map[string]string{"logs": logs.String(), "metrics": metrics, "report": string(reportJSON), "webhook bodies": messages} {
		for _, secret := range []string{dsnPassword, webhookSecret, strings.TrimPrefix(webhookPath, "/hooks/")} {
			if strings.Contains(text, secret) {
				t.Errorf("%s contain the secret %q", where, secret)
			}
		}
	}
	for _, want := range []string{`"agent started"`, `"stopping: no new runs`, `"stopped; state flushed"`, `"recommended index found built"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s", want)
		}
	}
}

func TestAnalyzeBeforeTwoSamplesIsSkipped(t *testing.T) {
	dir := t.TempDir()
	logs := &logBuffer{}
	d, err := New(loadConfig(t, writeConfig(t, dir, "state_dir: %s\ntargets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/a'}]\n", dir)), logs.logger(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Analyze(context.Background(), "a"); err != nil || d.Report("a") != nil {
		t.Fatalf("analysis of an empty window: %v", err)
	}
	if !strings.Contains(logs.String(), "analysis skipped: the window has no sample interval") {
		t.Errorf("no log line says why the cycle was skipped:\n%s", logs)
	}
	if err := d.Analyze(context.Background(), "nope"); !errors.Is(err, errUnknownTarget) {
		t.Errorf("unknown target: %v", err)
	}
}

// TestEvictionsWarnedOncePerCycle: a cycle's report counts the evictions
// of the whole span it analyzes once, not again those of its last sample;
// when part of the span could not be counted (the extension was older
// than 1.9), it still warns, of at least those counted.
func TestEvictionsWarnedOncePerCycle(t *testing.T) {
	dir := t.TempDir()
	d, err := New(loadConfig(t, writeConfig(t, dir, "state_dir: %s\ntargets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/a'}, {name: b, dsn: 'postgres://x@127.0.0.1:1/b'}]\n", dir)), zap.NewNop(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	start, reset := time.Now().Add(-time.Hour), time.Now().Add(-2*time.Hour)
	info := func(dealloc int64) *collector.Info { return &collector.Info{Dealloc: dealloc, StatsReset: reset} }
	for _, tc := range []struct {
		target string
		infos  []*collector.Info
		want   string
	}{
		{"a", []*collector.Info{info(0), info(5), info(7)}, "evicted entries 7 times"},
		{"b", []*collector.Info{nil, info(0), info(7)}, "evicted entries at least 7 times"},
	} {
		for i, in := range tc.infos {
			version := "1.10"
			if in == nil {
				version = "1.8"
			}
			snap := &collector.Snapshot{Time: start.Add(time.Duration(i) * time.Minute), Version: version, Sampled: true, Max: 5000, Info: in}
			if err := d.Ingest(tc.target, snap); err != nil {
				t.Fatal(err)
			}
		}
		if err := d.Analyze(context.Background(), tc.target); err != nil {
			t.Fatal(err)
		}
		r := d.Report(tc.target)
		if r == nil {
			t.Fatalf("%s: no report", tc.target)
		}
		var evicted []string
		for _, w := range r.Warnings {
			if strings.Contains(w, "evicted") {
				evicted = append(evicted, w)
			}
		}
		if len(evicted) != 1 || !strings.Contains(evicted[0], tc.want) {
			t.Errorf("%s: want one warning saying %q, got %q", tc.target, tc.want, evicted)
		}
	}
}

// A cycle that could analyze no database (its catalog or EXPLAIN target
// unreachable) fails: it neither replaces the report nor closes the open
// recommendations, and its span is analyzed again next time.
func TestAnalysisOfNoDatabaseFails(t *testing.T) {
	dir := t.TempDir()
	d, err := New(loadConfig(t, writeConfig(t, dir, "state_dir: %s\nanalysis: {min_calls: 1}\ntargets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/app'}]\n", dir)), zap.NewNop(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	open := advisor.Recommendation{ID: "r1", Database: "app", Table: "public.orders", Method: "btree"}
	if _, err := d.store.UpsertRecommendations(&advisor.Report{Target: "a", GeneratedAt: time.Now(), Recommendations: []advisor.Recommendation{open}}); err != nil {
		t.Fatal(err)
	}
	ingestTenCalls(t, d, "a")
	if err := d.Analyze(context.Background(), "a"); err == nil || !strings.Contains(err.Error(), "no database could be analyzed") {
		t.Fatalf("a cycle whose database could not be analyzed: %v, want it failed", err)
	}
	if d.Report("a") != nil {
		t.Error("the failed cycle's report replaced the last one")
	}
	if n := gathered(t, d, "pgadvisor_cycle_failures_total", "a"); n != 1 {
		t.Errorf("pgadvisor_cycle_failures_total = %v, want the failed cycle counted", n)
	}
	records, err := d.store.Recommendations("a")
	if err != nil || len(records) != 1 || records[0].Status != state.StatusOpen {
		t.Errorf("records %+v (%v): want r1 still open", records, err)
	}
}

// ingestTenCalls gives target name a window of two samples, ten calls of
// one statement in database app apart.
func ingestTenCalls(t *testing.T, d *Daemon, name string) {
	t.Helper()
	key := collector.Key{DBID: 5, UserID: 10, QueryID: 1, TopLevel: true}
	start := time.Now().Add(-time.Hour)
	for i, calls := range []int64{0, 10} {
		snap := &collector.Snapshot{Time: start.Add(time.Duration(i) * time.Minute), Version: "1.10", Sampled: true, Max: 5000,
			Databases: map[uint32]string{5: "app"}, Users: map[uint32]string{10: "alice"},
			Entries: []collector.Entry{{Key: key, Counters: collector.Counters{Calls: calls, TotalExecTime: float64(calls)}}},
			Texts:   map[collector.Key]*collector.Text{key: {Query: "SELECT 1 FROM orders", Command: "SELECT"}}}
		if err := d.Ingest(name, snap); err != nil {
			t.Fatal(err)
		}
	}
}

// A cycle stuck on a server that never answers (connect_timeout set far
// beyond the cycle's limit, as a hung query would be) fails at
// analysis.cycle_timeout, counted, and says why.
func TestCycleTimeout(t *testing.T) {
	dir := t.TempDir()
	dsn := "postgres://x@" + hangingServer(t) + "/app?connect_timeout=600"
	d, err := New(loadConfig(t, writeConfig(t, dir, "state_dir: %s\nanalysis: {min_calls: 1, cycle_timeout: 1s}\ntargets: [{name: a, dsn: '%s'}]\n", dir, dsn)), zap.NewNop(), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ingestTenCalls(t, d, "a")
	err = d.Analyze(context.Background(), "a")
	if err == nil || !strings.Contains(err.Error(), "stopped after 1s, its time limit (analysis.cycle_timeout)") {
		t.Fatalf("a cycle held by a hung server: %v, want it stopped at cycle_timeout", err)
	}
	if n := gathered(t, d, "pgadvisor_cycle_failures_total", "a"); n != 1 {
		t.Errorf("pgadvisor_cycle_failures_total = %v, want the stopped cycle counted", n)
	}
}

// TestAnalysisBound: a cycle waits for a slot of
// analysis.max_parallel_targets, and gives up when its context ends.
func TestAnalysisBound(t *testing.T) {
	dir := t.TempDir()
	cfg := loadConfig(t, writeConfig(t, dir, "state_dir: %s\nanalysis: {max_parallel_targets: 1}\n"+
		"targets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/a'}, {name: b, dsn: 'postgres://x@127.0.0.1:1/b'}]\n", dir))
	d, err := New(cfg, nil, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	d.sem <- struct{}{} // a cycle of target a holds the only slot
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := d.Analyze(ctx, "b"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a second cycle with one slot taken: %v, want it to wait", err)
	}
	<-d.sem
	if err := d.Analyze(context.Background(), "b"); err != nil {
		t.Fatalf("with the slot free: %v", err)
	}
}

func TestNewRefusesBadStateDir(t *testing.T) {
	dir := t.TempDir()
	file := dir + "/file"
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := loadConfig(t, writeConfig(t, dir, "state_dir: %s/state\ntargets: [{name: a}]\n", file))
	if _, err := New(cfg, nil, testOptions()); err == nil || !strings.Contains(err.Error(), file+"/state") {
		t.Errorf("state_dir under a file: %v, want an error naming the path", err)
	}
	if err := os.MkdirAll(dir+"/corrupt", 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir+"/corrupt/"+state.FileName, []byte(strings.Repeat("not bbolt ", 1000)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg.StateDir = dir + "/corrupt"
	if _, err := New(cfg, nil, testOptions()); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("corrupt store: %v, want an error saying so", err)
	}
}

// The findings of a database a cycle could not analyze are counted as the
// last cycle found them.
func TestWithLastFindings(t *testing.T) {
	last := &advisor.Report{Findings: []explain.Finding{
		{Kind: "unindexed_fk", Database: "billing"}, {Kind: "seq_scan", Database: "app"},
	}}
	r := &advisor.Report{Findings: []explain.Finding{{Kind: "sort_spill", Database: "app"}}, Unanalyzed: []string{"billing"}}
	got := withLastFindings(r, last)
	if len(got.Findings) != 2 || got.Findings[1].Kind != "unindexed_fk" || len(r.Findings) != 1 {
		t.Errorf("findings %+v: want app's new one and billing's last one, r untouched", got.Findings)
	}
	if r.Unanalyzed = nil; withLastFindings(r, last) != r {
		t.Error("a cycle that analyzed every database: want its own report")
	}
}

// A state file deleted while the agent runs is logged once, not as a
// failed save to retry at every sample, and stopping reports it once.
func TestDeletedStateFileLoggedOnce(t *testing.T) {
	dir := t.TempDir()
	core, logs := observer.New(zap.InfoLevel)
	d, err := New(loadConfig(t, writeConfig(t, dir, "state_dir: %s\ntargets: [{name: a, dsn: 'postgres://x@127.0.0.1:1/app'}]\n", dir)), zap.New(core), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(d.store.Path()); err != nil {
		t.Fatal(err)
	}
	start := time.Now().Add(-time.Hour)
	for i := range 4 {
		if err := d.Ingest("a", &collector.Snapshot{Time: start.Add(time.Duration(i) * 6 * time.Minute), Version: "1.10", Sampled: true}); err != nil {
			t.Fatal(err)
		}
	}
	if n, retries := logs.FilterMessage("state file gone: nothing is saved until the advisor restarts").Len(), logs.FilterMessage("window not saved; retrying at the next sample").Len(); n != 1 || retries != 0 {
		t.Errorf("%d lines saying the state file is gone and %d retries, want 1 and 0", n, retries)
	}
	if err := d.Close(); err == nil || strings.Count(err.Error(), "was deleted while the advisor ran") != 1 {
		t.Errorf("Close: %v, want the deleted file told once", err)
	}
}
