// Package daemonrss measures the resident memory of the agent (`advisor
// run`) with three targets after an hour of samples:
//
//	go test -run '^$' -bench DaemonRSS -benchtime 1x ./bench/daemon_rss/
//
// Each case runs in a process of its own (this test binary, re-executed),
// so one case's memory does not stay in the other's figure. The agent runs
// as `advisor run` builds it (HTTP server, metrics, notifier, state store,
// a window per target) and each target is fed an hour of snapshots through
// Daemon.Ingest, the path a real sample takes after reading
// pg_stat_statements. The snapshots are synthetic but of production size:
// pg_stat_statements.max (5,000) entries, texts of 100 to 1,100
// characters, and a skewed workload where the 50 busiest statements run in
// every sample and the tail now and then (about 280 active statements per
// second; nearly all of them within a few minutes). /metrics is scraped
// every 15 samples. Synthetic snapshots keep the figure about the agent:
// three sandbox servers with 5,000 distinct statements each, sampled for
// an hour, would take the hour and both cores. Analysis cycles are not run
// (they need a database); their reports add about a megabyte per target.
//
// Cases: every-1m is the default schedule (60 samples); every-1s the
// compressed one (3,600 samples, where the window merges old intervals).
// The samples are fed as fast as the agent takes them; rss-MB is read
// after ten idle seconds (less than one interval of the default schedule),
// when the agent has given back the pages that garbage freed (it does
// after five idle seconds: internal/daemon's idleRelease), and
// peak-rss-MB is the high-water mark during the feed, which a real
// schedule, with idle time between samples, keeps lower. The 80 MB target
// is checked on the default schedule.
package daemonrss

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/daemon"
)

const (
	targets    = 3
	statements = 5000 // pg_stat_statements.max default
	busiest    = 50   // statements active in every sample
	scrapeEach = 15   // samples between /metrics scrapes
	targetMB   = 80
	childEnv   = "PGADVISOR_RSS_CASE"
)

var cases = []struct {
	name    string
	every   time.Duration
	samples int
	checked bool // held to the target
}{
	{"every-1m", time.Minute, 60, true},
	{"every-1s", time.Second, 3600, false},
}

// BenchmarkDaemonRSS reports, per case, rss-MB (resident memory after the
// hour), peak-rss-MB and heap-MB (live heap after a GC).
func BenchmarkDaemonRSS(b *testing.B) {
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for range b.N {
				cmd := exec.Command(os.Args[0], "-test.run=^TestDaemonRSSChild$", "-test.v")
				cmd.Env = append(os.Environ(), childEnv+"="+c.name)
				out, err := cmd.CombinedOutput()
				if err != nil {
					b.Fatalf("%s: %v\n%s", c.name, err, out)
				}
				var rss, peak, heap float64
				for _, line := range strings.Split(string(out), "\n") {
					if _, after, ok := strings.Cut(line, "RESULT "); ok {
						fmt.Sscanf(after, "rss=%f peak=%f heap=%f", &rss, &peak, &heap)
					}
				}
				if rss == 0 {
					b.Fatalf("%s: no result\n%s", c.name, out)
				}
				b.ReportMetric(rss, "rss-MB")
				b.ReportMetric(peak, "peak-rss-MB")
				b.ReportMetric(heap, "heap-MB")
				if c.checked && rss > targetMB {
					b.Errorf("resident memory %.1f MB after an hour with %d targets, over the %d MB target", rss, targets, targetMB)
				}
			}
		})
	}
}

// TestDaemonRSSChild is one case of BenchmarkDaemonRSS, in its own process.
func TestDaemonRSSChild(t *testing.T) {
	name := os.Getenv(childEnv)
	if name == "" {
		t.Skip("run by BenchmarkDaemonRSS")
	}
	i := 0
	for i < len(cases) && cases[i].name != name {
		i++
	}
	if i == len(cases) {
		t.Fatalf("no case %q", name)
	}
	c := cases[i]

	dir := t.TempDir()
	var yaml strings.Builder
	fmt.Fprintf(&yaml, "listen: 127.0.0.1:0\nstate_dir: %s\nschedule: {sample: '@every 1h', analyze: '@every 1h'}\ntargets:\n", dir)
	for i := range targets {
		fmt.Fprintf(&yaml, "  - {name: t%d, dsn: 'postgres://advisor@127.0.0.1:1/postgres'}\n", i)
	}
	cfg, err := config.Parse([]byte(yaml.String()), "bench.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	d, err := daemon.New(cfg, nil, daemon.Options{
		Version:       "bench",
		EngineOptions: func(*config.Config) advisor.Options { return advisor.Options{} },
		Target:        func(t config.Target) advisor.Target { return advisor.Target{Name: t.Name, DSN: t.DSN} },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	stopped := make(chan error, 1)
	go func() { stopped <- d.Run(ctx) }()
	for d.Addr() == "" {
		time.Sleep(10 * time.Millisecond)
	}

	loads := make([]*workload, targets)
	for i := range loads {
		loads[i] = newWorkload(uint64(i))
	}
	start := time.Now().Add(-time.Duration(c.samples) * c.every)
	for s := range c.samples {
		at := start.Add(time.Duration(s) * c.every)
		for i, w := range loads {
			if err := d.Ingest(fmt.Sprintf("t%d", i), w.next(at)); err != nil {
				t.Fatal(err)
			}
		}
		if s%scrapeEach == 0 {
			resp, err := http.Get("http://" + d.Addr() + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	loads = nil // the sampler's state is the snapshots the windows keep
	runtime.GC()
	time.Sleep(10 * time.Second)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	fmt.Printf("RESULT rss=%.1f peak=%.1f heap=%.1f\n", procMB(t, "VmRSS"), procMB(t, "VmHWM"), float64(ms.HeapAlloc)/(1<<20))
	stop()
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// procMB reads a kB line of /proc/self/status (VmRSS, VmHWM) in MB.
func procMB(t *testing.T, field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return kb / 1024
		}
	}
	t.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// workload is one target's pg_stat_statements: cumulative entries, texts
// and names, advanced one sample at a time.
type workload struct {
	rng     *rand.Rand
	entries []collector.Entry
	texts   map[collector.Key]*collector.Text
	reset   time.Time // pg_stat_statements_reset(), long ago
}

func newWorkload(seed uint64) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, 1)), texts: map[collector.Key]*collector.Text{}, reset: time.Now().Add(-48 * time.Hour)}
	for i := range statements {
		k := collector.Key{DBID: uint32(1 + i%3), UserID: uint32(10 + i%4), QueryID: int64(w.rng.Uint64()), TopLevel: true}
		w.entries = append(w.entries, collector.Entry{Key: k})
		cols := make([]string, 5+w.rng.IntN(100))
		for j := range cols {
			cols[j] = "column_" + strconv.Itoa(j)
		}
		q := fmt.Sprintf("SELECT %s FROM table_%d WHERE tenant_id = $1 AND id = $2", strings.Join(cols, ", "), i)
		w.texts[k] = &collector.Text{Query: q, Command: "SELECT"}
	}
	return w
}

// next advances the counters by one sample and returns the snapshot, with
// entries and a text map of its own, as the sampler's are.
func (w *workload) next(at time.Time) *collector.Snapshot {
	for i := range w.entries {
		if i >= busiest && w.rng.Float64() >= float64(busiest)/float64(i+1) {
			continue
		}
		c := &w.entries[i].Counters
		calls := int64(1 + w.rng.IntN(20))
		c.Calls += calls
		c.Plans += calls
		c.Rows += calls * int64(1+w.rng.IntN(10))
		c.TotalExecTime += float64(calls) * (0.05 + w.rng.Float64()*float64(i%100))
		c.SharedBlksHit += calls * 8
		c.SharedBlksRead += int64(w.rng.IntN(3))
		w.entries[i].MaxExecTime = max(w.entries[i].MaxExecTime, float64(i%100))
	}
	texts := make(map[collector.Key]*collector.Text, len(w.texts))
	for k, t := range w.texts {
		texts[k] = t
	}
	return &collector.Snapshot{
		Time: at, Database: "postgres", Version: "1.10", Sampled: true, Max: statements,
		Entries:   append([]collector.Entry(nil), w.entries...),
		Texts:     texts,
		Databases: map[uint32]string{1: "app", 2: "billing", 3: "search"},
		Users:     map[uint32]string{10: "web", 11: "worker", 12: "report", 13: "admin"},
		Info:      &collector.Info{StatsReset: w.reset},
	}
}
