package collector

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// BenchmarkSample10k measures one sample of 10,000 active statements (the
// texts already cached) and its delta and ranking. Between samples the
// timer stops while the workload runs again, so every entry has changed.
// Extra metrics: cold-ms is the first sample (fetching 10,000 texts);
// peak-heap-MB the largest whole heap right after a sample (garbage
// included; a GC runs before each sample); retained-MB what the sampler
// and the window keep after a final GC.
func BenchmarkSample10k(b *testing.B) {
	c := pgsandbox.Require(b, sandbox)
	ctx := context.Background()
	newDatabase(b, c, "bench", "")
	client := connect(b, c.DSN("bench"), false)
	cols := make([]string, 100)
	for i := range cols {
		cols[i] = fmt.Sprintf("c%d int", i)
	}
	exec(b, client, "CREATE TABLE wide ("+strings.Join(cols, ", ")+")")
	// 100 x 100 column pairs: 10,000 distinct queryids.
	const workload = `DO $$ BEGIN
		FOR i IN 0..99 LOOP FOR j IN 0..99 LOOP
			EXECUTE format('SELECT c%s FROM wide WHERE c%s = 1', i, j);
		END LOOP; END LOOP; END $$`
	exec(b, client, "SELECT pg_stat_statements_reset()")
	exec(b, client, workload)

	s, err := NewSampler(connect(b, c.DSN("bench"), true), SamplerOptions{Databases: NameFilter{Include: []string{"bench"}}}, zap.NewNop())
	if err != nil {
		b.Fatal(err)
	}
	w := NewWindow(WindowOptions{})
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc

	start := time.Now()
	snap, err := s.Sample(ctx)
	if err != nil {
		b.Fatal(err)
	}
	cold := time.Since(start)
	if len(snap.Entries) < 10000 || len(snap.Texts) < 10000 {
		b.Fatalf("first sample: %d entries, %d texts; want 10,000 or more", len(snap.Entries), len(snap.Texts))
	}
	if err := w.Add(snap); err != nil {
		b.Fatal(err)
	}

	var peak uint64
	active := 0
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		exec(b, client, workload)
		runtime.GC()
		b.StartTimer()
		snap, err := s.Sample(ctx)
		if err != nil {
			b.Fatal(err)
		}
		if err := w.Add(snap); err != nil {
			b.Fatal(err)
		}
		d := w.LastSample()
		if _, err := d.Top(RankOptions{Top: 25}); err != nil {
			b.Fatal(err)
		}
		active = len(d.Statements)
		b.StopTimer()
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapAlloc)
		b.StartTimer()
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	runtime.KeepAlive(s)
	runtime.KeepAlive(w)
	if active < 10000 {
		b.Fatalf("last delta has %d active statements, want 10,000 or more", active)
	}
	b.ReportMetric(float64(cold.Microseconds())/1000, "cold-ms")
	b.ReportMetric(float64(peak)/1e6, "peak-heap-MB")
	b.ReportMetric(float64(ms.HeapAlloc-min(before, ms.HeapAlloc))/1e6, "retained-MB")
	b.ReportMetric(float64(active), "statements")
}
