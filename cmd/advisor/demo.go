package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/pgadvisor/pgadvisor/exporter"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/demo"
	"github.com/pgadvisor/pgadvisor/internal/logging"
)

// runDemo is `advisor demo`: a throwaway sandbox with the demo's workload,
// analyzed end to end (internal/demo.Run).
func runDemo(ctx context.Context, std stdio, args []string) int {
	fs := newFlagSet("demo", "", std)
	opts := demo.RunOptions{Seed: 1}
	fs.Float64Var(&opts.Scale, "scale", 1, "data `size`: 1 gives the largest table about 1.2M rows; 0.02 is a quick look")
	fs.DurationVar(&opts.Duration, "duration", demo.DefaultDuration, "how long the application's workload runs")
	fs.IntVar(&opts.Workers, "workers", 4, "the workload's concurrent `sessions`")
	fs.BoolVar(&opts.Apply, "apply", false, "build the recommended indexes and measure every statement before and after")
	fs.IntVar(&opts.Iterations, "iterations", demo.DefaultIterations, "with --apply, run each statement `N` times in each measurement")
	fs.BoolVar(&opts.Keep, "keep", false, "leave the sandbox running after the report, print its connection URLs, and stop it on Ctrl-C")
	fs.StringVar(&opts.Format, "format", "text", "report `format`: "+strings.Join(exporter.Formats(), ", "))
	fs.Int64Var(&opts.Seed, "seed", 1, "`seed` of the generated data, the workload and the measured runs")
	logLevel := fs.String("log-level", "warn", "log `level` of the analysis: debug, info, warn, error")
	if code, done := parseNoArgs(fs, args); done {
		return code
	}
	var err error
	switch {
	case !slices.Contains(exporter.Formats(), opts.Format):
		err = fmt.Errorf("--format %q is not one of %s", opts.Format, strings.Join(exporter.Formats(), ", "))
	case math.IsNaN(opts.Scale) || opts.Scale <= 0 || opts.Scale > demo.MaxScale:
		err = fmt.Errorf("--scale %v: want a number above 0 and at most %d", opts.Scale, demo.MaxScale)
	case opts.Duration <= 0:
		err = fmt.Errorf("--duration %v: want a positive duration", opts.Duration)
	case opts.Workers <= 0 || opts.Iterations <= 0:
		err = errors.New("--workers and --iterations want a positive number")
	}
	if err == nil {
		opts.Log, err = logging.New(std.errOut, *logLevel, "")
	}
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor demo: %v\n", err)
		return exitUsage
	}
	opts.Engine = engineOptions(config.Default())
	// The demo's workload is short, and all of it is the application's: a
	// statement its random mix drew only a few times (on a slow machine)
	// still belongs in the report.
	opts.Engine.Rank.MinCalls = 1
	opts.Progress, opts.Terminal = std.errOut, logging.IsTerminal(std.errOut)
	if err := demo.Run(ctx, opts, std.out); err != nil {
		fmt.Fprintf(std.errOut, "advisor demo: %v\n", err)
		return exitFailure
	}
	return exitOK
}
