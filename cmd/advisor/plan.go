package main

import (
	"context"
	"fmt"
	"io"
	"os"

	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/exporter"
)

// maxPlanBytes bounds what `advisor plan` reads: plans of real queries are
// kilobytes to a few megabytes.
const maxPlanBytes = 64 << 20

func runPlan(_ context.Context, std stdio, args []string) int {
	fs := newFlagSet("plan", "FILE|-", std)
	format := fs.String("format", "text", "output `format`: text or json")
	if code, done := parse(fs, args); done {
		return code
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return exitUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(std.errOut, "advisor plan: --format %q is not text or json\n", *format)
		return exitUsage
	}
	// work_mem comes from the plan's Settings when it was saved with SETTINGS.
	opts := explain.DetectOptions{Thresholds: explain.DefaultThresholds()}

	name := fs.Arg(0)
	data, err := readPlanFile(name, std.in)
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor plan: %v\n", err)
		return exitFailure
	}
	plan, err := explain.ParsePlan(data)
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor plan: %s: %v\n", name, err)
		return exitFailure
	}
	a := exporter.PlanAnalysis{
		Source: name, Analyzed: plan.Analyzed(), ExecutionTimeMS: plan.ExecutionTime,
		Findings: explain.Detect(plan, opts),
	}
	if err := exporter.RenderPlanAnalysis(std.out, a, *format); err != nil {
		fmt.Fprintf(std.errOut, "advisor plan: %v\n", err)
		return exitFailure
	}
	return exitOK
}

func readPlanFile(name string, stdin io.Reader) ([]byte, error) {
	var r io.Reader = stdin
	if name != "-" {
		f, err := os.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		r = f
	}
	data, err := io.ReadAll(io.LimitReader(r, maxPlanBytes+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > maxPlanBytes {
		return nil, fmt.Errorf("%s: larger than %d MB: not a plan", name, maxPlanBytes>>20)
	}
	return data, nil
}
