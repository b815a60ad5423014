package main

import (
	"context"
	"encoding/json"
	"fmt"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/preflight"
)

func runCheck(ctx context.Context, std stdio, args []string) int {
	fs := newFlagSet("check", "", std)
	common := addCommonFlags(fs)
	format := fs.String("format", "text", "output `format`: text or json")
	if code, done := parseNoArgs(fs, args); done {
		return code
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(std.errOut, "advisor check: --format %q is not text or json\n", *format)
		return exitUsage
	}
	cfg, err := common.load()
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor check: %v\n", err)
		return exitUsage
	}
	log, err := common.logger(std)
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor check: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()

	type targetReport struct {
		Target string `json:"target"`
		preflight.Report
	}
	var reports []targetReport
	failed := false
	for _, t := range cfg.Targets {
		log.Debug("checking target", zap.String("target", t.Name))
		r := preflight.Run(ctx, t.DSN, t.ReplicaDSN)
		failed = failed || r.Failed()
		reports = append(reports, targetReport{Target: t.Name, Report: r})
	}

	if *format == "json" {
		enc := json.NewEncoder(std.out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"targets": reports}); err != nil {
			fmt.Fprintf(std.errOut, "advisor check: %v\n", err)
			return exitFailure
		}
	} else {
		for _, tr := range reports {
			fmt.Fprintf(std.out, "target %s\n", tr.Target)
			for _, c := range tr.Checks {
				fmt.Fprintf(std.out, "  %-4s  %-30s %s\n", c.Status, c.Name, c.Detail)
				if c.Fix != "" {
					fmt.Fprintf(std.out, "        %-30s fix: %s\n", "", c.Fix)
				}
			}
		}
	}
	if failed {
		return exitFailure
	}
	return exitOK
}
