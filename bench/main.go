// Command bench measures pgadvisor the way a user meets it: it starts a
// throwaway primary and replica, loads three workloads (the demo's
// multi-tenant SaaS application, a synthetic OLTP schema of 100 tables and
// 500 statements, and TPC-H), plays their call mixes so pg_stat_statements
// records them, runs the advisor's engine as `advisor report` does, builds
// the indexes it recommends, and compares planner costs, measured latency
// and an exhaustive HypoPG oracle before and after. It prints a table,
// writes every figure as JSON and regenerates bench/RESULTS.md.
//
//	go run ./bench --scale 1        # make bench
//	go run ./bench --scale 10       # make bench BENCH_SCALE=10: every workload 10x (TPC-H SF 1)
//	make bench-tpch-sf1             # TPC-H alone at SF 1, into bench/RESULTS-SF1.md
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

type flags struct {
	scale       float64
	workloads   string
	tpchDir     string
	tpchBudgets string
	budget      string
	maxPerTable int
	minCalls    int64
	top         int
	seed        int64
	jsonPath    string
	markdown    string
	sample10k   bool
	daemonRSS   bool
	oracle      bool
	verbose     bool
	render      bool
	cpuProfile  string
	rounds      int
	timeout     time.Duration
}

func parseFlags(args []string, stderr io.Writer) (*flags, error) {
	f := &flags{}
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Float64Var(&f.scale, "scale", 1, "data `scale`: 1 is `make bench` (TPC-H SF 0.1); 10 gives TPC-H SF 1")
	fs.StringVar(&f.workloads, "workloads", "demo,oltp,tpch", "comma-separated workloads to run")
	fs.StringVar(&f.tpchDir, "tpch-dir", "../shared/bench/tpch", "`folder` with TPC-H's schema.sql, gen.sql and queries_sf1.sql")
	fs.StringVar(&f.tpchBudgets, "tpch-budgets", "250MB,500MB,1000MB,none,350MB", "TPC-H budgets at SF 1 (scaled by the SF), comma-separated; the last is the one measured in full (350MB: the issue's target)")
	fs.StringVar(&f.budget, "budget", "1GB", "total `size` of new indexes for demo and oltp, as advisor report --budget (\"none\": no bound)")
	fs.IntVar(&f.maxPerTable, "max-indexes-per-table", 0, "at most `N` new indexes per table (0: the advisor's default, 5)")
	fs.Int64Var(&f.minCalls, "min-calls", 5, "leave out statements called fewer than `N` times (TPC-H always uses 1)")
	fs.IntVar(&f.top, "top", 0, "analyze the `N` costliest statements (0: all)")
	fs.Int64Var(&f.seed, "seed", 1, "seed of the generated data, mixes and parameters")
	fs.StringVar(&f.jsonPath, "json", "bench/results/latest.json", "write the results as JSON to `file`")
	fs.StringVar(&f.markdown, "markdown", "bench/RESULTS.md", "regenerate this Markdown `file` (\"\": do not)")
	fs.BoolVar(&f.sample10k, "sample10k", true, "also run collector's BenchmarkSample10k (go test) and report its figure")
	fs.BoolVar(&f.daemonRSS, "daemon-rss", true, "also run bench/daemon_rss's BenchmarkDaemonRSS on the default schedule (go test) and report its figure")
	fs.BoolVar(&f.oracle, "oracle", true, "run the exhaustive HypoPG oracle")
	fs.IntVar(&f.rounds, "rounds", 3, "measure latencies this many `times` before and after; each statement keeps its best round")
	fs.DurationVar(&f.timeout, "statement-timeout", 10*time.Minute, "bound one execution of a workload statement (played or measured) to `duration`; a run past it counts as failed")
	fs.BoolVar(&f.verbose, "v", false, "log the engine's warnings")
	fs.StringVar(&f.cpuProfile, "cpuprofile", "", "write a CPU profile of the whole run to `file` (go tool pprof): where the advisor's own time goes")
	fs.BoolVar(&f.render, "render", false, "run nothing: regenerate the --markdown file from the --json file of an earlier run")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if math.IsNaN(f.scale) || f.scale <= 0 || f.scale > 100 {
		return nil, fmt.Errorf("--scale %v: want a number above 0 and at most 100", f.scale)
	}
	if f.timeout < time.Second {
		return nil, fmt.Errorf("--statement-timeout %v: want at least 1s", f.timeout)
	}
	return f, nil
}

// parseBudget reads a size as config does; "none" or "0" is no bound.
func parseBudget(s string) (int64, error) {
	if s == "none" || s == "0" {
		return 0, nil
	}
	b, err := config.ParseByteSize(s)
	if err != nil {
		return 0, err
	}
	return int64(b), nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	f, err := parseFlags(args, stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintf(stderr, "bench: %v\n", err)
		}
		return 2
	}
	if f.render {
		if err := render(f.jsonPath, f.markdown); err != nil {
			fmt.Fprintf(stderr, "bench: --render: %v\n", err)
			return 1
		}
		return 0
	}
	if f.cpuProfile != "" {
		stop, err := startCPUProfile(f.cpuProfile)
		if err != nil {
			fmt.Fprintf(stderr, "bench: --cpuprofile: %v\n", err)
			return 1
		}
		defer stop()
	}
	start := time.Now()
	logf := func(format string, a ...any) {
		fmt.Fprintf(stderr, "[%6.1fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, a...))
	}
	log := zap.NewNop()
	if f.verbose {
		if log, err = zap.NewDevelopment(zap.IncreaseLevel(zap.WarnLevel)); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	a := analysisOptions{MaxPerTable: f.maxPerTable, MinCalls: f.minCalls, Top: f.top}
	if a.BudgetBytes, err = parseBudget(f.budget); err != nil {
		fmt.Fprintf(stderr, "bench: --budget: %v\n", err)
		return 2
	}
	res := &results{Started: start.UTC(), Command: strings.Join(append([]string{"go run ./bench"}, args...), " "), JSONPath: f.jsonPath, Scale: f.scale, Seed: f.seed, Options: a, Machine: describeMachine()}
	sf := math.Min(1, math.Round(f.scale*10)/100)
	wls, skipped, err := workloads(f, sf)
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 2
	}
	res.Workloads = append(res.Workloads, skipped...)
	for _, s := range skipped {
		logf("%s skipped: %s", s.Name, s.Skipped)
	}
	tpchBudgets, err := scaledBudgets(f.tpchBudgets, sf)
	if err != nil {
		fmt.Fprintf(stderr, "bench: --tpch-budgets: %v\n", err)
		return 2
	}

	logf("starting a primary and a replica")
	cluster, err := pgsandbox.New(ctx, pgsandbox.Options{
		Replica:    true,
		Extensions: []string{"pg_stat_statements", "hypopg"},
		Settings:   map[string]string{"jit": "off", "max_wal_size": "'4GB'", "pg_stat_statements.max": "10000"},
	})
	if err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	defer cluster.Close()
	e := &env{cluster: cluster, scale: f.scale, seed: f.seed, timeout: f.timeout, log: logf}
	res.Machine.fillServer(ctx, e)

	failed := false
	for _, wl := range wls {
		o := runOptions{analysis: a, oracle: f.oracle, rounds: f.rounds}
		if wl.name() == "tpch" {
			o.analysis.BudgetBytes = tpchBudgets[len(tpchBudgets)-1].bytes
			o.budgets = tpchBudgets[:len(tpchBudgets)-1]
			res.TPCHBudget = tpchBudgets[len(tpchBudgets)-1].label
			res.TPCHBudgetBytes = o.analysis.BudgetBytes
		}
		r, err := benchmark(ctx, e, wl, o, log)
		if err != nil {
			r.Error = err.Error()
			failed = true
			logf("%s failed: %v", wl.name(), err)
		}
		res.Workloads = append(res.Workloads, r)
		if ctx.Err() != nil {
			break
		}
	}
	if err := cluster.Close(); err != nil {
		logf("stopping the cluster: %v", err)
	}
	if f.sample10k && ctx.Err() == nil {
		logf("running collector's BenchmarkSample10k")
		res.Sample10k = runGoBench(ctx, "./collector", "^BenchmarkSample10k$")
	}
	if f.daemonRSS && ctx.Err() == nil {
		logf("running BenchmarkDaemonRSS/every-1m")
		res.DaemonRSS = runGoBench(ctx, "./bench/daemon_rss", "^BenchmarkDaemonRSS$/^every-1m$")
	}
	res.Seconds = time.Since(start).Seconds()
	res.Machine.LoadAvgEnd = loadAvg()

	printTable(stdout, res)
	if err := writeJSON(f.jsonPath, res); err != nil {
		fmt.Fprintf(stderr, "bench: %v\n", err)
		return 1
	}
	if f.markdown != "" {
		if err := writeMarkdown(f.markdown, res); err != nil {
			fmt.Fprintf(stderr, "bench: %v\n", err)
			return 1
		}
	}
	logf("done; results in %s", f.jsonPath)
	if failed || ctx.Err() != nil {
		return 1
	}
	return 0
}

// workloads builds the chosen workloads; those that cannot run here
// (TPC-H without its files) come back as skipped results.
func workloads(f *flags, sf float64) ([]workload, []*workloadResult, error) {
	var out []workload
	var skipped []*workloadResult
	for _, name := range strings.Split(f.workloads, ",") {
		switch strings.TrimSpace(name) {
		case "demo":
			out = append(out, &demoWorkload{scale: f.scale, seed: f.seed, driveFor: 40 * time.Second, iterations: 10})
		case "oltp":
			w, err := newOLTP(f.scale, f.seed, 5)
			if err != nil {
				return nil, nil, err
			}
			out = append(out, w)
		case "tpch":
			w, err := newTPCH(f.tpchDir, sf)
			if err != nil {
				skipped = append(skipped, &workloadResult{Name: "tpch", Skipped: err.Error()})
				continue
			}
			out = append(out, w)
		default:
			return nil, nil, fmt.Errorf("--workloads: unknown workload %q (demo, oltp, tpch)", name)
		}
	}
	return out, skipped, nil
}

// scaledBudgets reads the TPC-H budgets, given for SF 1, and scales them
// to sf so that a small run keeps their proportions to the data.
func scaledBudgets(s string, sf float64) ([]budget, error) {
	var out []budget
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		b, err := parseBudget(part)
		if err != nil {
			return nil, err
		}
		label := part
		if b > 0 && sf != 1 {
			label = fmt.Sprintf("%s x %g", part, sf)
		}
		out = append(out, budget{label: label, bytes: int64(float64(b) * sf)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no budget")
	}
	return out, nil
}

func writeJSON(path string, res *results) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// render regenerates the Markdown report from an earlier run's JSON.
func render(jsonPath, markdownPath string) error {
	b, err := os.ReadFile(jsonPath)
	if err != nil {
		return err
	}
	res := &results{}
	if err := json.Unmarshal(b, res); err != nil {
		return fmt.Errorf("%s: %w", jsonPath, err)
	}
	if markdownPath == "" {
		return errors.New("--markdown is empty: nowhere to write")
	}
	res.JSONPath = jsonPath
	return writeMarkdown(markdownPath, res)
}

func mb(b int64) string { return fmt.Sprintf("%.1f MB", float64(b)/1e6) }

// startCPUProfile profiles the process into path until the returned
// function is called.
func startCPUProfile(path string) (stop func(), err error) {
	out, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(out); err != nil {
		return nil, errors.Join(err, out.Close())
	}
	return func() {
		pprof.StopCPUProfile()
		out.Close()
	}, nil
}
