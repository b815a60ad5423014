// Command advisor finds the statements that cost a PostgreSQL database the
// most, explains why, and recommends the indexes that fix them.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

// Exit codes.
const (
	exitOK      = 0
	exitFailure = 1 // the work ran and found a failure (or could not run)
	exitUsage   = 2 // bad flags, or a subcommand that is not built yet
)

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, io stdio, args []string) int
}

type stdio struct {
	in          io.Reader
	out, errOut io.Writer
}

func commands() []command {
	return []command{
		{"run", "run the agent: sample on a schedule, analyze, export metrics and notifications", runAgent},
		{"report", "analyze a database once and print a report", runReport},
		{"plan", "analyze a saved EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) plan", runPlan},
		{"check", "check that a target has everything the advisor needs", runCheck},
		{"demo", "start a sandbox with a realistic workload and analyze it", runDemo},
		{"version", "print the version", runVersion},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := dispatch(ctx, stdio{os.Stdin, os.Stdout, os.Stderr}, os.Args[1:])
	stop()
	os.Exit(code)
}

func dispatch(ctx context.Context, std stdio, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(std.errOut)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, std, args[1:])
		}
	}
	fmt.Fprintf(std.errOut, "advisor: unknown command %q\n\n", args[0])
	usage(std.errOut)
	return exitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: advisor <command> [flags]\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'advisor <command> --help' for a command's flags.")
}

func runVersion(_ context.Context, std stdio, args []string) int {
	fs := newFlagSet("version", "", std)
	if code, done := parseNoArgs(fs, args); done {
		return code
	}
	fmt.Fprintln(std.out, "advisor", buildVersion())
	return exitOK
}

func buildVersion() string {
	if version != "" {
		return version
	}
	if info, ok := debug.ReadBuildInfo(); ok && info.Main.Version != "" && info.Main.Version != "(devel)" {
		return info.Main.Version
	}
	return "dev"
}
