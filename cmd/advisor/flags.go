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
	target     string // --target: the target --dsn and --replica-dsn change
	hasTarget  bool   // whether the command takes --target
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

// addTargetFlag adds --target, for a command that works on one target.
func (c *commonFlags) addTargetFlag(fs *flag.FlagSet, usage string) {
	fs.StringVar(&c.target, "target", "", usage)
	c.hasTarget = true
}

func (c *commonFlags) logger(std stdio) (*zap.Logger, error) {
	return logging.New(std.errOut, c.logLevel, c.logFormat)
}

// load reads the config file, if any, and applies the flags over it.
// --dsn and --replica-dsn change the fields they name of the file's only
// target (or of the one --target names), keeping its name and filters;
// without a file, or given to a file without targets, they make a target
// named default. A file without targets and no flag to make one is an
// error, as it is to the agent's reload: an emptied file must not leave
// the agent watching nothing.
func (c *commonFlags) load() (*config.Config, error) {
	for _, f := range []struct{ flag, dsn string }{{"--dsn", c.dsn}, {"--replica-dsn", c.replicaDSN}} {
		if f.dsn != "" {
			if err := config.CheckDSN(f.dsn); err != nil {
				return nil, fmt.Errorf("%s: %w", f.flag, err)
			}
		}
	}
	if c.configPath == "" {
		cfg := config.Default()
		cfg.Targets = []config.Target{{Name: "default", DSN: c.dsn, ReplicaDSN: c.replicaDSN}}
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		return cfg, nil
	}
	var overrideErr error
	cfg, err := config.Load(c.configPath, func(cfg *config.Config) {
		if c.dsn == "" && c.replicaDSN == "" {
			return
		}
		if len(cfg.Targets) == 0 {
			cfg.Targets = []config.Target{{Name: "default"}}
		}
		t, err := c.overridden(cfg)
		if err != nil {
			overrideErr = err
			return
		}
		if c.dsn != "" {
			t.DSN = c.dsn
		}
		if c.replicaDSN != "" {
			t.ReplicaDSN = c.replicaDSN
		}
	})
	if overrideErr != nil {
		return nil, overrideErr
	}
	return cfg, err
}

// overridden is the target of cfg that --dsn and --replica-dsn change.
func (c *commonFlags) overridden(cfg *config.Config) (*config.Target, error) {
	if c.target != "" {
		for i := range cfg.Targets {
			if cfg.Targets[i].Name == c.target {
				return &cfg.Targets[i], nil
			}
		}
		return nil, fmt.Errorf("--target %q: no such target in %s", c.target, c.configPath)
	}
	if len(cfg.Targets) > 1 {
		how := "edit the file (only advisor report takes --target)"
		if c.hasTarget {
			how = "choose it with --target, or edit the file"
		}
		return nil, fmt.Errorf("--dsn and --replica-dsn change one target, and %s has %d: %s", c.configPath, len(cfg.Targets), how)
	}
	return &cfg.Targets[0], nil
}
