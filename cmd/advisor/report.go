package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/logging"
)

// reportFlags are the analysis knobs `advisor report` shares with the config.
type reportFlags struct {
	top            int
	minCalls       int64
	rankBy         string
	budget         string
	maxPerTable    int
	allowOnPrimary bool
}

func addReportFlags(fs *flag.FlagSet) *reportFlags {
	f := &reportFlags{}
	fs.IntVar(&f.top, "top", 0, "analyze the `N` costliest statements (default: analysis.top, 25)")
	fs.Int64Var(&f.minCalls, "min-calls", 0, "leave out statements called fewer than `N` times (default: analysis.min_calls, 5)")
	fs.StringVar(&f.rankBy, "rank-by", "", "rank by total_time, mean_time, calls, shared_blks_read or temp_blks_written")
	fs.StringVar(&f.budget, "budget", "", "total `size` of new indexes, e.g. 500MB (default: analysis.budget, 1GB)")
	fs.IntVar(&f.maxPerTable, "max-indexes-per-table", 0, "at most `N` new indexes per table (default: 5)")
	fs.BoolVar(&f.allowOnPrimary, "allow-analyze-on-primary", false, "run EXPLAIN ANALYZE of provably read-only statements on a primary")
	return f
}

// flagOfKey names the flag that sets each config key a report flag sets.
var flagOfKey = map[string]string{
	"analysis.top":                   "top",
	"analysis.min_calls":             "min-calls",
	"analysis.rank_by":               "rank-by",
	"analysis.budget":                "budget",
	"analysis.max_indexes_per_table": "max-indexes-per-table",
}

// apply sets the flags that were given over the config, which was valid
// before: what is wrong now came from a flag, and is reported under its
// name rather than under a line of the config file.
func (f *reportFlags) apply(fs *flag.FlagSet, cfg *config.Config) error {
	var err error
	fs.Visit(func(fl *flag.Flag) {
		switch fl.Name {
		case "top":
			cfg.Analysis.Top = f.top
		case "min-calls":
			cfg.Analysis.MinCalls = f.minCalls
		case "rank-by":
			cfg.Analysis.RankBy = f.rankBy
		case "max-indexes-per-table":
			cfg.Analysis.MaxIndexesPerTable = f.maxPerTable
		case "allow-analyze-on-primary":
			cfg.Analysis.AllowAnalyzeOnPrimary = f.allowOnPrimary
		case "budget":
			if cfg.Analysis.Budget, err = config.ParseByteSize(f.budget); err != nil {
				err = fmt.Errorf("--budget: %w", err)
			}
		}
	})
	if err != nil {
		return err
	}
	var errs []error
	for _, p := range config.CheckAnalysis(cfg.Analysis) {
		errs = append(errs, fmt.Errorf("--%s: %w", flagOfKey[p.Path], p.Err))
	}
	return errors.Join(errs...)
}

func runReport(ctx context.Context, std stdio, args []string) int {
	fs := newFlagSet("report", "", std)
	common := addCommonFlags(fs)
	knobs := addReportFlags(fs)
	common.addTargetFlag(fs, "with a config of several targets, the `name` of the one to report on (and the one --dsn and --replica-dsn change)")
	format := fs.String("format", "text", "output `format`: "+strings.Join(exporter.Formats(), ", "))
	outPath := fs.String("o", "", "write the report to `FILE` instead of stdout")
	interval := fs.Duration("interval", 0, "take two samples this far apart and rank what ran between them (default: the counters since the last pg_stat_statements reset)")
	if code, done := parseNoArgs(fs, args); done {
		return code
	}
	if *interval < 0 {
		fmt.Fprintf(std.errOut, "advisor report: --interval %s: must not be negative (0 ranks the counters since the last reset)\n", *interval)
		return exitUsage
	}
	if !slices.Contains(exporter.Formats(), *format) {
		fmt.Fprintf(std.errOut, "advisor report: --format %q is not one of %s\n", *format, strings.Join(exporter.Formats(), ", "))
		return exitUsage
	}
	cfg, err := common.load()
	if err == nil {
		err = knobs.apply(fs, cfg)
	}
	var target config.Target
	if err == nil {
		target, err = pickTarget(cfg, common.target)
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor report: %v\n", err)
		return exitUsage
	}
	log, err := common.logger(std)
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor report: %v\n", err)
		return exitUsage
	}
	var file *reportFile
	if *outPath != "" {
		if file, err = createReportFile(*outPath); err != nil {
			fmt.Fprintf(std.errOut, "advisor report: %v\n", err)
			return exitFailure
		}
		defer file.discard()
	}
	opts := engineOptions(cfg)
	if logging.IsTerminal(std.errOut) {
		opts.Progress = func(stage string) { fmt.Fprintf(std.errOut, "\r\033[K%s", stage) }
	}
	engine := advisor.NewEngine(log, opts)
	r, err := oneReport(ctx, engine, engineTarget(target), *interval, opts.Progress)
	if opts.Progress != nil {
		fmt.Fprint(std.errOut, "\r\033[K")
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor report: %v\n", err)
		return exitFailure
	}
	if r.NothingAnalyzed() {
		// A report of no findings would read as a clean bill of health, and
		// replace a good one at -o.
		fmt.Fprintf(std.errOut, "advisor report: no database could be analyzed:\n  %s\n", strings.Join(r.Warnings, "\n  "))
		return exitFailure
	}
	if file != nil {
		err = file.commit(r, *format)
	} else {
		err = exporter.Render(std.out, r, *format)
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor report: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func pickTarget(cfg *config.Config, name string) (config.Target, error) {
	if name == "" {
		if len(cfg.Targets) > 1 {
			return config.Target{}, fmt.Errorf("the config has %d targets: choose one with --target", len(cfg.Targets))
		}
		return cfg.Targets[0], nil
	}
	for _, t := range cfg.Targets {
		if t.Name == name {
			return t, nil
		}
	}
	return config.Target{}, fmt.Errorf("--target %q: no such target in the config", name)
}

// oneReport samples target (twice, interval apart, when interval > 0) and
// analyzes what ran in between, or everything since the last reset.
func oneReport(ctx context.Context, engine *advisor.Engine, t advisor.Target, interval time.Duration, progress func(string)) (*advisor.Report, error) {
	first, err := engine.Sample(ctx, t)
	if err != nil {
		return nil, err
	}
	if !first.Sampled {
		return nil, fmt.Errorf("target %s: pg_stat_statements could not be read: %s", t.Name, warningsText(first.Warnings))
	}
	last, cumulative := first, interval <= 0
	var window *collector.Window
	if cumulative {
		if window, err = advisor.CumulativeWindow(first); err != nil {
			return nil, err
		}
	} else {
		if progress != nil {
			progress(fmt.Sprintf("sampling for %s", interval))
		}
		select {
		case <-time.After(interval):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		if last, err = engine.Sample(ctx, t); err != nil {
			return nil, err
		}
		window = collector.NewWindow(collector.WindowOptions{})
		if err := errors.Join(window.Add(first), window.Add(last)); err != nil {
			return nil, err
		}
	}
	r, err := engine.Analyze(ctx, t, window.SinceStart(), cumulative)
	if err != nil {
		return nil, err
	}
	r.Warnings = append(r.Warnings, last.ReportWarnings()...)
	return r, nil
}

func warningsText(ws []collector.Warning) string {
	var parts []string
	for _, w := range ws {
		parts = append(parts, w.String())
	}
	return strings.Join(parts, "; ")
}

// reportFile is where -o writes: a temporary file beside the final name,
// renamed over it once the report is complete, so that a failed run never
// leaves half a report where a good one was. A device or a pipe
// (/dev/stdout, /dev/null) is written in place: renaming over it would
// replace it. It is opened before the analysis, so that a path that
// cannot be written fails at once.
type reportFile struct {
	path    string // the final name, symlinks resolved: the link stays a link
	tmp     *os.File
	inPlace bool // tmp is path itself, a device or a pipe
	mode    os.FileMode
}

func createReportFile(outPath string) (*reportFile, error) {
	path, err := throughLinks(outPath)
	if err != nil {
		return nil, fmt.Errorf("-o %s: %w", outPath, unwrapPath(err))
	}
	// A report is for reading, not CreateTemp's 0600; it holds no secrets.
	// A file already there keeps its mode.
	mode := os.FileMode(0o644)
	if info, err := os.Stat(path); err == nil {
		if info.IsDir() {
			return nil, fmt.Errorf("-o %s: is a directory", outPath)
		}
		if !info.Mode().IsRegular() {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				return nil, fmt.Errorf("-o %s: %w", outPath, unwrapPath(err))
			}
			return &reportFile{path: path, tmp: f, inPlace: true}, nil
		}
		mode = info.Mode().Perm()
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return nil, fmt.Errorf("-o %s: cannot create the report in %s (it is written beside its name, then renamed): %w",
			outPath, filepath.Dir(path), unwrapPath(err))
	}
	return &reportFile{path: path, tmp: tmp, mode: mode}, nil
}

// throughLinks follows path's symbolic links, if any, to the file a
// write lands in, which may not exist yet: a dangling link is written
// through, as the shell's > does. Each link's directory is resolved
// first, so that a relative target's ".." is taken from the real one.
func throughLinks(path string) (string, error) {
	for range 40 { // Linux's MAXSYMLINKS
		dir, base := ".", path
		if i := strings.LastIndexByte(path, filepath.Separator); i >= 0 {
			dir, base = path[:max(i, 1)], path[i+1:]
		}
		real, err := filepath.EvalSymlinks(dir)
		if errors.Is(err, os.ErrNotExist) {
			return path, nil // creating the report there fails, saying so
		}
		if err != nil {
			return "", err
		}
		path = filepath.Join(real, base)
		info, err := os.Lstat(path)
		if errors.Is(err, os.ErrNotExist) || err == nil && info.Mode()&os.ModeSymlink == 0 {
			return path, nil
		}
		if err != nil {
			return "", err
		}
		if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
			return path, nil // /dev/stdout: a device or a pipe, written in place (its link may name no file: pipe:[N])
		}
		target, err := os.Readlink(path)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(target) {
			target = real + string(filepath.Separator) + target
		}
		path = target
	}
	return "", errors.New("too many levels of symbolic links")
}

// unwrapPath drops an *os.PathError's operation and path: the message
// names the path the user gave, not a temporary one.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// commit renders r into the file and puts it in place.
func (f *reportFile) commit(r *advisor.Report, format string) error {
	if err := exporter.Render(f.tmp, r, format); err != nil {
		return err
	}
	if err := f.tmp.Close(); err != nil {
		return fmt.Errorf("-o %s: %w", f.path, unwrapPath(err))
	}
	if f.inPlace {
		return nil
	}
	if err := os.Chmod(f.tmp.Name(), f.mode); err != nil {
		return fmt.Errorf("-o %s: %w", f.path, unwrapPath(err))
	}
	if err := os.Rename(f.tmp.Name(), f.path); err != nil {
		return fmt.Errorf("-o %s: %w", f.path, unwrapPath(err))
	}
	return nil
}

// discard removes the temporary file unless commit renamed it.
func (f *reportFile) discard() {
	f.tmp.Close()
	if !f.inPlace {
		os.Remove(f.tmp.Name())
	}
}
