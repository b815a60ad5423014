// Package daemonrss measures the resident memory of the agent (`advisor
// run`) with three targets after an hour of samples.
//
//	go test -run '^$' -bench DaemonRSS -benchtime 1x ./bench/daemon_rss/
//
// The agent runs in process, as `advisor run` builds it (HTTP server,
// metrics, notifier, state store, a window per target), and each target is
// fed an hour of snapshots one second apart (a compressed "@every 1s"
// schedule: 3,600 samples, the heaviest an hour can be) through
// Daemon.Ingest, the path a real sample takes after reading
// pg_stat_statements. The snapshots are synthetic but of production size:
// pg_stat_statements.max (5,000) entries with texts of 100 to 1,100
// characters, and a skewed workload where the 50 busiest statements run
// every second and the long tail now and then (about 280 active statements
// per second, nearly all of them over a few minutes). /metrics is scraped
// every 15 seconds of sample time. Synthetic snapshots keep the figure
// about the agent: three sandbox servers sampled every second for an hour
// would take the hour. Analysis cycles are not run (they need a database);
// their reports add about a megabyte per target.
package daemonrss

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
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
	samples    = 60  // an hour at "@every 1s"
	busiest    = 50   // statements active in every sample
	scrapeEach = 15   // samples between /metrics scrapes
	targetMB   = 80
)

// workload is one target's pg_stat_statements: cumulative entries, texts
// and names, advanced one second at a time.
type workload struct {
	rng     *rand.Rand
	entries []collector.Entry
	texts   map[int64]*collector.Text
	reset   time.Time // pg_stat_statements_reset(), long ago
}

func newWorkload(seed uint64) *workload {
	w := &workload{rng: rand.New(rand.NewPCG(seed, 1)), texts: map[int64]*collector.Text{}, reset: time.Now().Add(-48 * time.Hour)}
	for i := range statements {
		id := int64(w.rng.Uint64())
		w.entries = append(w.entries, collector.Entry{Key: collector.Key{DBID: uint32(1 + i%3), UserID: uint32(10 + i%4), QueryID: id, TopLevel: true}})
		cols := make([]string, 5+w.rng.IntN(100))
		for j := range cols {
			cols[j] = "column_" + strconv.Itoa(j)
		}
		q := fmt.Sprintf("SELECT %s FROM table_%d WHERE tenant_id = $1 AND id = $2", strings.Join(cols, ", "), i)
		w.texts[id] = &collector.Text{Query: q, Command: "SELECT"}
	}
	return w
}

// next advances the counters by one second and returns the snapshot. The
// window keeps the entries, so each snapshot gets its own copy, as the
// sampler's would be.
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
	texts := make(map[int64]*collector.Text, len(w.texts))
	for id, t := range w.texts {
		texts[id] = t
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

// procKB reads a VmRSS-style line of /proc/self/status, in kB.
func procKB(b *testing.B, field string) float64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Skipf("no /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatalf("%s: %v", line, err)
			}
			return kb
		}
	}
	b.Fatalf("%s not in /proc/self/status", field)
	return 0
}

// BenchmarkDaemonRSS reports rss-MB (resident memory after the hour, as
// the kernel counts it, no memory handed back by force), peak-rss-MB (the
// high-water mark, workload generator included), heap-MB (live heap after
// a GC) and fails when rss-MB exceeds 80.
func BenchmarkDaemonRSS(b *testing.B) {
	for range b.N {
		dir := b.TempDir()
		var yaml strings.Builder
		fmt.Fprintf(&yaml, "listen: 127.0.0.1:0\nstate_dir: %s\nschedule: {sample: '@every 1h', analyze: '@every 1h'}\ntargets:\n", dir)
		for i := range targets {
			fmt.Fprintf(&yaml, "  - {name: t%d, dsn: 'postgres://advisor@127.0.0.1:1/postgres'}\n", i)
		}
		cfg, err := config.Parse([]byte(yaml.String()), "bench.yaml", nil)
		if err != nil {
			b.Fatal(err)
		}
		d, err := daemon.New(cfg, nil, daemon.Options{
			Version:       "bench",
			EngineOptions: func(*config.Config) advisor.Options { return advisor.Options{} },
			Target:        func(t config.Target) advisor.Target { return advisor.Target{Name: t.Name, DSN: t.DSN} },
		})
		if err != nil {
			b.Fatal(err)
		}
		ctx, stop := context.WithCancel(context.Background())
		stopped := make(chan error, 1)
		go func() { stopped <- d.Run(ctx) }()
		for d.Addr() == "" {
			time.Sleep(10 * time.Millisecond)
		}

		runtime.GC()
		b.Logf("baseline: rss %.1f anon %.1f file %.1f", procKB(b, "VmRSS")/1024, procKB(b, "RssAnon")/1024, procKB(b, "RssFile")/1024)
		loads := make([]*workload, targets)
		for i := range loads {
			loads[i] = newWorkload(uint64(i))
		}
		start := time.Now().Add(-time.Hour)
		for s := range samples {
			at := start.Add(time.Duration(s) * time.Minute)
			for i, w := range loads {
				if err := d.Ingest(fmt.Sprintf("t%d", i), w.next(at)); err != nil {
					b.Fatal(err)
				}
			}
			if s%scrapeEach == 0 {
				resp, err := http.Get("http://" + d.Addr() + "/metrics")
				if err != nil {
					b.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}
		loads = nil
		if st, err := os.Stat(dir + "/pgadvisor.db"); err == nil {
			b.Logf("state file %.1f MB", float64(st.Size())/(1<<20))
		}
		runtime.GC()
		rss := procKB(b, "VmRSS") / 1024
		peak := procKB(b, "VmHWM") / 1024
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		b.Logf("anon %.1f file %.1f", procKB(b, "RssAnon")/1024, procKB(b, "RssFile")/1024)
		b.Logf("rss %.1f MB, peak %.1f MB, heap %.1f MB, sys %.1f MB", rss, peak, float64(ms.HeapAlloc)/(1<<20), float64(ms.Sys)/(1<<20))
		b.ReportMetric(rss, "rss-MB")
		b.ReportMetric(peak, "peak-rss-MB")
		b.ReportMetric(float64(ms.HeapAlloc)/(1<<20), "heap-MB")
		stop()
		if err := <-stopped; err != nil {
			b.Fatal(err)
		}
		if rss > targetMB {
			b.Errorf("resident memory %.1f MB after an hour with %d targets, over the %d MB target", rss, targets, targetMB)
		}
	}
}
