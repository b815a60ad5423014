package main

import (
	"errors"
	"flag"
	"fmt"

	"go.uber.org/zap"

	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/logging"
)

func newFlagSet(name, args string, std stdio) *flag.FlagSet {
	fs := flag.NewFlagSet("advisor "+name, flag.ContinueOnError)
	fs.SetOutput(std.errOut)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: advisor %s [flags] %s\n\nflags:\n", name, args)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses args; done is true when the caller should return code
// (after --help, or a flag error that flag has already printed).
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK, true
	case err != nil:
		return exitUsage, true
	}
	return exitOK, false
}

// parseNoArgs is parse for commands that take no argument. The flag
// package stops at the first argument and leaves the flags after it unread,
// so an argument is an error, not something to ignore with them.
func parseNoArgs(fs *flag.FlagSet, args []string) (code int, done bool) {
	if code, done := parse(fs, args); done {
		return code, true
	}
	if fs.NArg() == 0 {
		return exitOK, false
	}
	hint := "flags go before arguments"
	if config := fs.Lookup("config"); config != nil && config.Value.String() == "" {
		hint += "; did you mean --config?"
	}
	fmt.Fprintf(fs.Output(), "%s: unexpected argument %q (%s)\n", fs.Name(), fs.Arg(0), hint)
	return exitUsage, true
}

// commonFlags are the flags every database-facing command takes.
type commonFlags struct {
	configPath string
	dsn        string
	replicaDSN string
	logLevel   string
	logFormat  string
}

func addCommonFlags(fs *flag.FlagSet) *commonFlags {
	c := &commonFlags{}
	fs.StringVar(&c.configPath, "config", "", "config `file` (YAML); flags override it")
	fs.StringVar(&c.dsn, "dsn", "", "primary connection `URL` (default: libpq environment variables PGHOST, PGUSER, ...)")
	fs.StringVar(&c.replicaDSN, "replica-dsn", "", "replica connection `URL` for EXPLAIN (default: the primary, without ANALYZE)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log `level`: debug, info, warn, error")
	fs.StringVar(&c.logFormat, "log-format", "", "log format: console or json (default: console on a terminal, json otherwise)")
	return c
}

func (c *commonFlags) logger(std stdio) (*zap.Logger, error) {
	return logging.New(std.errOut, c.logLevel, c.logFormat)
}

// load reads the config file, if any, and applies the flags over it:
// --dsn (and --replica-dsn) replace the file's targets with one target.
func (c *commonFlags) load() (*config.Config, error) {
	override := func(cfg *config.Config) {
		if c.dsn != "" || c.replicaDSN != "" || len(cfg.Targets) == 0 {
			cfg.Targets = []config.Target{{Name: "default", DSN: c.dsn, ReplicaDSN: c.replicaDSN}}
		}
	}
	if c.configPath != "" {
		return config.Load(c.configPath, override)
	}
	cfg := config.Default()
	override(cfg)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return cfg, nil
}
