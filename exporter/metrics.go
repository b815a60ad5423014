package exporter

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// maxRealizedSeries bounds the realized-gain series of a target: the most
// recently measured indexes are exported.
const maxRealizedSeries = 20

// Metrics is the agent's Prometheus registry and every series it exports.
// Labels are bounded: targets come from the configuration, kinds, modes and
// outcomes are fixed sets, statements are the current top K (see
// SetTopStatements) and realized gains the latest few per target. No label
// carries a connection string, URL or query text. It is safe for
// concurrent use.
type Metrics struct {
	reg   *prometheus.Registry
	names []string

	targetUp          *prometheus.GaugeVec
	sampleSeconds     *prometheus.HistogramVec
	cycleSeconds      *prometheus.HistogramVec
	cycleFailures     *prometheus.CounterVec
	statementsTracked *prometheus.GaugeVec
	findings          *prometheus.GaugeVec
	recsOpen          *prometheus.GaugeVec
	benefit           *prometheus.GaugeVec
	recsApplied       *prometheus.GaugeVec
	realized          *prometheus.GaugeVec
	explains          *prometheus.CounterVec
	notifications     *prometheus.CounterVec
	jobsSkipped       *prometheus.CounterVec
	outbox            *outboxCollector
	statements        *statementCollector

	mu           sync.Mutex
	findingKinds map[string]map[[2]string]bool // target -> kind, severity ever exported
	realizedIDs  map[string][]string           // target -> recommendation ids exported
}

// NewMetrics returns the metrics in a registry of their own, with the Go
// runtime and process collectors, exporting per-statement series for the
// top topStatements statements of each target (0: none).
func NewMetrics(version string, topStatements int) *Metrics {
	m := &Metrics{
		reg:          prometheus.NewRegistry(),
		findingKinds: map[string]map[[2]string]bool{},
		realizedIDs:  map[string][]string{},
	}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	info := m.gauges("pgadvisor_build_info", "Always 1; the version label is the agent's build.", "version")
	info.WithLabelValues(cmp.Or(version, "dev")).Set(1)
	m.targetUp = m.gauges("pgadvisor_target_up",
		"1 when the last sample of pg_stat_statements on the target succeeded, 0 when it failed.", "target")
	m.sampleSeconds = m.histograms("pgadvisor_sample_duration_seconds",
		"Time to read pg_stat_statements once (failed samples included).",
		prometheus.ExponentialBuckets(0.01, 2.5, 10), "target")
	m.cycleSeconds = m.histograms("pgadvisor_cycle_duration_seconds",
		"Time of one analysis cycle: rank, catalog, explain, detect, what-if, notify.",
		prometheus.ExponentialBuckets(0.5, 2, 14), "target")
	m.cycleFailures = m.counters("pgadvisor_cycle_failures_total",
		"Analysis cycles that failed (the EXPLAIN target or the catalog unreachable, no database analyzed): the last good report stays.", "target")
	m.statementsTracked = m.gauges("pgadvisor_statements_tracked",
		"pg_stat_statements entries in the target's last sample (after database and user filters).", "target")
	m.findings = m.gauges("pgadvisor_findings",
		"Findings of the target's last analysis cycle, by kind and severity.", "target", "kind", "severity")
	m.recsOpen = m.gauges("pgadvisor_recommendations_open",
		"Indexes the target's last analysis cycle recommends.", "target")
	m.benefit = m.gauges("pgadvisor_recommendations_benefit_ratio",
		"Estimated fraction of the analysed workload's execution time the open recommendations would save if all were built (0-1).", "target")
	m.recsApplied = m.gauges("pgadvisor_recommendations_applied",
		"Recommended indexes found built in the catalog.", "target")
	m.realized = m.gauges("pgadvisor_recommendation_realized_improvement_ratio",
		"Measured drop of the mean execution time of the statements a built index serves, after vs before (0.6: 60% faster; negative: a regression). The latest measurements per target.",
		"target", "recommendation")
	m.explains = m.counters("pgadvisor_explain_total",
		"Statements explained by analysis cycles, by how (analyze, generic, none) and outcome.", "target", "mode", "outcome")
	m.notifications = m.counters("pgadvisor_notifications_total",
		"Notification delivery attempts by channel and outcome (delivered, retried, dropped, rejected, unconfigured).", "channel", "outcome")
	m.jobsSkipped = m.counters("pgadvisor_jobs_skipped_total",
		"Scheduled runs skipped because the previous run of the same job was still going.", "target", "job")

	m.outbox = &outboxCollector{desc: m.desc("pgadvisor_outbox_pending",
		"Notifications waiting in the outbox, by channel.", "channel")}
	m.statements = newStatementCollector(m, topStatements)
	m.reg.MustRegister(m.outbox, m.statements)
	return m
}

// MetricNames lists every metric the agent registers besides the Go runtime
// and process collectors' (go_*, process_*).
func MetricNames() []string { return NewMetrics("", 0).Names() }

// Names lists the metrics m registers besides the Go runtime and process
// collectors', sorted.
func (m *Metrics) Names() []string { return slices.Sorted(slices.Values(m.names)) }

// Registry is where the metrics are registered, for /metrics.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

func (m *Metrics) desc(name, help string, labels ...string) *prometheus.Desc {
	m.names = append(m.names, name)
	return prometheus.NewDesc(name, help, labels, nil)
}

func (m *Metrics) gauges(name, help string, labels ...string) *prometheus.GaugeVec {
	m.names = append(m.names, name)
	v := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) counters(name, help string, labels ...string) *prometheus.CounterVec {
	m.names = append(m.names, name)
	v := prometheus.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, labels)
	m.reg.MustRegister(v)
	return v
}

func (m *Metrics) histograms(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	m.names = append(m.names, name)
	v := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: name, Help: help, Buckets: buckets}, labels)
	m.reg.MustRegister(v)
	return v
}

// SampleDone records one attempt to sample target: how long it took and
// whether it succeeded. A failed one removes pgadvisor_statements_tracked,
// whose last value would otherwise pass for the current count while the
// target is down; the next successful sample sets it again.
func (m *Metrics) SampleDone(target string, took time.Duration, ok bool) {
	m.sampleSeconds.WithLabelValues(target).Observe(took.Seconds())
	up := 0.0
	if ok {
		up = 1
	} else {
		m.statementsTracked.DeleteLabelValues(target)
	}
	m.targetUp.WithLabelValues(target).Set(up)
}

// CycleFailed counts a failed analysis cycle of target.
func (m *Metrics) CycleFailed(target string) { m.cycleFailures.WithLabelValues(target).Inc() }

// CycleDone records one analysis cycle of r.Target: its duration, findings,
// open recommendations, their estimated benefit and how statements were
// explained.
func (m *Metrics) CycleDone(r *advisor.Report, took time.Duration) {
	t := r.Target
	m.cycleSeconds.WithLabelValues(t).Observe(took.Seconds())

	counts := map[[2]string]int{}
	for _, f := range r.Findings {
		counts[[2]string{f.Kind, string(f.Severity)}]++
	}
	m.mu.Lock()
	seen := m.findingKinds[t]
	if seen == nil {
		seen = map[[2]string]bool{}
		m.findingKinds[t] = seen
	}
	for k := range counts {
		seen[k] = true
	}
	// Kinds that went away drop to 0 rather than vanish, so alerts on a
	// rise compare against a value.
	for k := range seen {
		m.findings.WithLabelValues(t, k[0], k[1]).Set(float64(counts[k]))
	}
	m.mu.Unlock()

	ids := map[string]bool{}
	for _, rec := range r.Recommendations {
		ids[rec.ID] = true
	}
	m.recsOpen.WithLabelValues(t).Set(float64(len(ids)))
	ratio, _ := workloadReduction(r)
	m.benefit.WithLabelValues(t).Set(ratio)

	for _, s := range r.Statements {
		m.explains.WithLabelValues(t, cmp.Or(s.Explain.Mode, "none"), cmp.Or(s.Explain.Outcome, "skipped")).Inc()
	}
}

// Restored exports what a restarted agent knows of target before its
// first cycle: its open and built recommendations from the store.
func (m *Metrics) Restored(target string, records []state.Record) {
	open := 0
	for _, rd := range records {
		if rd.Status == state.StatusOpen {
			open++
		}
	}
	m.recsOpen.WithLabelValues(target).Set(float64(open))
	m.Applied(target, records)
}

// Applied exports the built indexes of target from its recommendation
// history: how many, and the realized gain of the latest measured ones.
func (m *Metrics) Applied(target string, records []state.Record) {
	var measured []state.Record
	applied := 0
	for _, rd := range records {
		if rd.Status != state.StatusApplied {
			continue
		}
		applied++
		if !rd.RealizedAt.IsZero() {
			measured = append(measured, rd)
		}
	}
	m.recsApplied.WithLabelValues(target).Set(float64(applied))
	slices.SortFunc(measured, func(a, b state.Record) int { return b.RealizedAt.Compare(a.RealizedAt) })
	measured = measured[:min(len(measured), maxRealizedSeries)]

	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range m.realizedIDs[target] {
		m.realized.DeleteLabelValues(target, id)
	}
	ids := make([]string, 0, len(measured))
	for _, rd := range measured {
		id := rd.Recommendation.ID
		m.realized.WithLabelValues(target, id).Set(rd.RealizedPct() / 100)
		ids = append(ids, id)
	}
	m.realizedIDs[target] = ids
}

// JobSkipped counts a scheduled run of job on target that was skipped
// because the previous one was still running.
func (m *Metrics) JobSkipped(target, job string) {
	m.jobsSkipped.WithLabelValues(target, job).Inc()
}

// NotificationResult counts one delivery attempt; it is the Notifier's
// OnResult.
func (m *Metrics) NotificationResult(channel, outcome string) {
	m.notifications.WithLabelValues(channel, outcome).Inc()
}

// SetNotifier makes pgadvisor_outbox_pending report n's outbox, and starts
// the delivery counters of its channels at zero.
func (m *Metrics) SetNotifier(n *Notifier) {
	m.outbox.set(n)
	if n == nil {
		return
	}
	for _, ch := range n.Channels() {
		for _, o := range []string{OutcomeDelivered, OutcomeRetried, OutcomeDropped, OutcomeRejected, OutcomeUnconfigured} {
			m.notifications.WithLabelValues(ch, o)
		}
	}
}

// ForgetTarget deletes every series of a target that left the configuration.
func (m *Metrics) ForgetTarget(target string) {
	match := prometheus.Labels{"target": target}
	for _, v := range []interface {
		DeletePartialMatch(prometheus.Labels) int
	}{m.targetUp, m.sampleSeconds, m.cycleSeconds, m.statementsTracked, m.findings, m.recsOpen,
		m.benefit, m.recsApplied, m.realized, m.explains, m.jobsSkipped} {
		v.DeletePartialMatch(match)
	}
	m.mu.Lock()
	delete(m.findingKinds, target)
	delete(m.realizedIDs, target)
	m.mu.Unlock()
	m.statements.forget(target)
}

// outboxCollector reads the outbox at scrape time, so the gauge is never stale.
type outboxCollector struct {
	desc *prometheus.Desc
	mu   sync.Mutex
	n    *Notifier
}

func (c *outboxCollector) set(n *Notifier) {
	c.mu.Lock()
	c.n = n
	c.mu.Unlock()
}

func (c *outboxCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *outboxCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	n := c.n
	c.mu.Unlock()
	if n == nil {
		return
	}
	for _, name := range n.Channels() {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n.Pending(name)), name)
	}
}
