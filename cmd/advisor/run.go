package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/pgadvisor/pgadvisor/internal/daemon"
)

// runAgent is `advisor run`: the long-running agent (internal/daemon).
// SIGINT and SIGTERM (which cancel ctx, see main) stop it with its state
// flushed, exit 0; SIGHUP reloads the configuration.
func runAgent(ctx context.Context, std stdio, args []string) int {
	fs := newFlagSet("run", "", std)
	common := addCommonFlags(fs)
	// The exporter toolkit's file is the standard of Prometheus exporters:
	// TLS versions, ciphers and client certificates, and bcrypt-hashed basic
	// auth, re-read on every request, with no code of ours to get wrong.
	webConfig := fs.String("web.config.file", "", "exporter-toolkit web configuration `file` for TLS and basic auth "+
		"(https://github.com/prometheus/exporter-toolkit/blob/master/docs/web-configuration.md)")
	shutdown := fs.Duration("shutdown-timeout", daemon.DefaultShutdownTimeout, "on SIGTERM, how long running steps may finish before they are canceled")
	if code, done := parseNoArgs(fs, args); done {
		return code
	}
	if *shutdown <= 0 {
		fmt.Fprintf(std.errOut, "advisor run: --shutdown-timeout %s: want a positive duration\n", *shutdown)
		return exitUsage
	}
	cfg, err := common.load()
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor run: %v\n", err)
		return exitUsage
	}
	log, err := common.logger(std)
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor run: %v\n", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }() // stderr cannot always be synced; nothing to do about it

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	d, err := daemon.New(cfg, log, daemon.Options{
		Version: buildVersion(), WebConfigFile: *webConfig, ShutdownTimeout: *shutdown,
		EngineOptions: engineOptions, Target: engineTarget, Load: common.load, Hangup: hup,
	})
	if err != nil {
		fmt.Fprintf(std.errOut, "advisor run: %v\n", err)
		return exitFailure
	}
	if err := d.Run(ctx); err != nil {
		fmt.Fprintf(std.errOut, "advisor run: %v\n", err)
		return exitFailure
	}
	return exitOK
}
