// Package pgsandbox starts throwaway PostgreSQL clusters (a primary and an
// optional streaming replica) from the system binaries, for tests and the
// demo. It is never used on a production path.
package pgsandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options say what cluster to start.
type Options struct {
	// Replica adds a streaming replica made with pg_basebackup -R.
	Replica bool
	// Extensions are created in the "postgres" database and in every
	// database made with CreateDatabase.
	Extensions []string
	// NoPreload leaves pg_stat_statements out of shared_preload_libraries.
	NoPreload bool
	// Settings are extra postgresql.conf lines for both servers.
	Settings map[string]string
}

// Cluster is a running primary and, when asked for, a replica.
type Cluster struct {
	opts    Options
	dir     string // everything lives below here
	bin     string
	owner   *syscall.Credential // non-nil when servers run as "postgres"
	primary *server
	replica *server

	closeOnce sync.Once
	closeErr  error
	stopWatch func()
}

type server struct {
	name    string
	dataDir string
	port    int
	cmd     *exec.Cmd
	exited  chan struct{}
	logPath string
}

const superuser = "postgres"

// New starts a cluster. The caller must Close it; Close also runs when the
// process receives SIGINT or SIGTERM, so an interrupted demo leaves nothing.
func New(ctx context.Context, opts Options) (*Cluster, error) {
	bin, err := FindBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgsandbox-")
	if err != nil {
		return nil, fmt.Errorf("pgsandbox: create directory: %w", err)
	}
	c := &Cluster{opts: opts, dir: dir, bin: bin}
	if err := c.start(ctx); err != nil {
		_ = c.Close()
		return nil, err
	}
	c.watchSignals()
	return c, nil
}

func (c *Cluster) start(ctx context.Context) error {
	if os.Geteuid() == 0 {
		cred, err := postgresUser()
		if err != nil {
			return err
		}
		c.owner = cred
		if err := os.Chown(c.dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("pgsandbox: chown %s: %w", c.dir, err)
		}
	}
	if err := os.Mkdir(c.socketDir(), 0o700); err != nil {
		return fmt.Errorf("pgsandbox: %w", err)
	}
	if err := c.chown(c.socketDir()); err != nil {
		return err
	}

	primary := &server{name: "primary", dataDir: filepath.Join(c.dir, "primary")}
	if err := c.run(ctx, "initdb", "-D", primary.dataDir, "-U", superuser, "--auth=trust",
		"-E", "UTF8", "--locale=C", "--no-sync"); err != nil {
		return err
	}
	if err := c.launch(ctx, primary, c.primaryConf()); err != nil {
		return err
	}
	c.primary = primary
	if err := c.createExtensions(ctx, "postgres"); err != nil {
		return err
	}
	if !c.opts.Replica {
		return nil
	}

	replica := &server{name: "replica", dataDir: filepath.Join(c.dir, "replica")}
	if err := c.run(ctx, "pg_basebackup", "-D", replica.dataDir, "-R", "-X", "stream", "-c", "fast",
		"-h", "127.0.0.1", "-p", strconv.Itoa(primary.port), "-U", superuser); err != nil {
		return err
	}
	if err := c.launch(ctx, replica, nil); err != nil {
		return err
	}
	c.replica = replica
	return c.WaitReplay(ctx)
}

func (c *Cluster) socketDir() string { return filepath.Join(c.dir, "sockets") }

func (c *Cluster) primaryConf() map[string]string {
	conf := map[string]string{
		"shared_preload_libraries":    "'pg_stat_statements'",
		"pg_stat_statements.track":    "all",
		"pg_stat_statements.max":      "10000",
		"track_io_timing":             "on",
		"wal_level":                   "replica",
		"max_wal_senders":             "5",
		"hot_standby":                 "on",
		"fsync":                       "off",
		"full_page_writes":            "off",
		"max_connections":             "100",
		"shared_buffers":              "128MB",
		"max_standby_streaming_delay": "30s",
		// The replica streams without a slot: under the load of every
		// package's tests at once it can fall a few segments behind, and
		// a segment the primary has recycled breaks it for good
		// ("requested WAL segment ... has already been removed").
		"wal_keep_size": "1GB",
	}
	if c.opts.NoPreload {
		delete(conf, "shared_preload_libraries")
		delete(conf, "pg_stat_statements.track")
		delete(conf, "pg_stat_statements.max")
	}
	for k, v := range c.opts.Settings {
		conf[k] = v
	}
	return conf
}

// launch starts server s on a free port, trying another when the one it
// picked was taken before the postmaster bound it (another package's
// sandbox starts at the same time).
func (c *Cluster) launch(ctx context.Context, s *server, conf map[string]string) error {
	for attempt := 1; ; attempt++ {
		err := c.launchOnce(ctx, s, conf)
		if !errors.Is(err, errPortTaken) || attempt == 3 {
			return err
		}
	}
}

var errPortTaken = errors.New("its port was taken")

// launchOnce picks a free port, appends conf plus the per-server lines to
// postgresql.conf (a later line wins over an earlier attempt's) and starts
// the postmaster, waiting until it accepts connections.
func (c *Cluster) launchOnce(ctx context.Context, s *server, conf map[string]string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	s.port = port
	lines := []string{
		"listen_addresses = '127.0.0.1'",
		"port = " + strconv.Itoa(port),
		"unix_socket_directories = '" + c.socketDir() + "'",
		"cluster_name = '" + c.clusterName(s) + "'",
	}
	for k, v := range conf {
		lines = append(lines, k+" = "+v)
	}
	f, err := os.OpenFile(filepath.Join(s.dataDir, "postgresql.conf"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("pgsandbox: %s: %w", s.name, err)
	}
	_, err = f.WriteString("\n# pgsandbox\n" + strings.Join(lines, "\n") + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("pgsandbox: write %s postgresql.conf: %w", s.name, err)
	}

	s.logPath = filepath.Join(c.dir, s.name+".log")
	logFile, err := os.Create(s.logPath)
	if err != nil {
		return fmt.Errorf("pgsandbox: %w", err)
	}
	defer logFile.Close()
	s.cmd = c.command(filepath.Join(c.bin, "postgres"), "-D", s.dataDir)
	s.cmd.Stdout, s.cmd.Stderr = logFile, logFile
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("pgsandbox: start %s: %w", s.name, err)
	}
	s.exited = make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(s.exited) }()
	return c.waitReady(ctx, s)
}

// clusterName tells server s from the servers of other sandboxes (and
// names its processes).
func (c *Cluster) clusterName(s *server) string { return filepath.Base(c.dir) + "/" + s.name }

// waitReady waits until s accepts connections: its own postmaster, not
// another that took the port first.
func (c *Cluster) waitReady(ctx context.Context, s *server) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		conn, err := pgx.Connect(ctx, c.dsn(s, "postgres"))
		if err == nil {
			var name string
			err = conn.QueryRow(ctx, "SELECT current_setting('cluster_name')").Scan(&name)
			conn.Close(ctx)
			if err == nil && name == c.clusterName(s) {
				return nil
			}
			if err == nil {
				err = fmt.Errorf("the server on port %d is another's, %q", s.port, name)
			}
		}
		select {
		case <-s.exited:
			log := tail(s.logPath)
			if strings.Contains(log, "could not bind") || strings.Contains(log, "Address already in use") {
				return fmt.Errorf("pgsandbox: %s: %w", s.name, errPortTaken)
			}
			return fmt.Errorf("pgsandbox: %s exited during start-up:\n%s", s.name, log)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgsandbox: %s not ready after 60s: %v\n%s", s.name, err, tail(s.logPath))
		}
	}
}

// WaitReplay blocks until the replica has replayed all WAL the primary has
// flushed so far. It returns at once when there is no replica.
func (c *Cluster) WaitReplay(ctx context.Context) error {
	if c.replica == nil {
		return nil
	}
	p, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgsandbox: wait replay: %w", err)
	}
	defer p.Close(ctx)
	var target string
	// Commits are flushed before they return (synchronous_commit is on), and
	// only flushed WAL is streamed: the flush position is the target.
	if err := p.QueryRow(ctx, "SELECT pg_current_wal_flush_lsn()::text").Scan(&target); err != nil {
		return fmt.Errorf("pgsandbox: wait replay: %w", err)
	}
	r, err := pgx.Connect(ctx, c.ReplicaDSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgsandbox: wait replay: %w", err)
	}
	defer r.Close(ctx)
	deadline := time.Now().Add(60 * time.Second)
	for {
		var done bool
		err := r.QueryRow(ctx, "SELECT coalesce(pg_last_wal_replay_lsn() >= $1::pg_lsn, false)", target).Scan(&done)
		if err != nil {
			return fmt.Errorf("pgsandbox: wait replay: %w", err)
		}
		if done {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pgsandbox: replica has not replayed %s after 60s", target)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// DSN is the primary's connection URL for database db, as the superuser.
func (c *Cluster) DSN(db string) string { return c.dsn(c.primary, db) }

// ReplicaDSN is the replica's connection URL; "" when there is no replica.
func (c *Cluster) ReplicaDSN(db string) string {
	if c.replica == nil {
		return ""
	}
	return c.dsn(c.replica, db)
}

// Port of the primary, for tools that want host and port apart.
func (c *Cluster) Port() int { return c.primary.port }

// Dir is the directory that holds the data directories and logs.
func (c *Cluster) Dir() string { return c.dir }

func (c *Cluster) dsn(s *server, db string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, db)
}

// CreateDatabase creates database name on the primary with the cluster's
// extensions plus the ones given, and waits for the replica to have it.
func (c *Cluster) CreateDatabase(ctx context.Context, name string, extensions ...string) error {
	conn, err := pgx.Connect(ctx, c.DSN("postgres"))
	if err != nil {
		return fmt.Errorf("pgsandbox: create database %s: %w", name, err)
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize())
	conn.Close(ctx)
	if err != nil {
		return fmt.Errorf("pgsandbox: create database %s: %w", name, err)
	}
	if err := c.createExtensions(ctx, name, extensions...); err != nil {
		return err
	}
	return c.WaitReplay(ctx)
}

func (c *Cluster) createExtensions(ctx context.Context, db string, extra ...string) error {
	exts := append(append([]string{}, c.opts.Extensions...), extra...)
	if len(exts) == 0 {
		return nil
	}
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		return fmt.Errorf("pgsandbox: connect to %s: %w", db, err)
	}
	defer conn.Close(ctx)
	for _, e := range exts {
		if _, err := conn.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS "+pgx.Identifier{e}.Sanitize()); err != nil {
			return fmt.Errorf("pgsandbox: create extension %s in %s: %w", e, db, err)
		}
	}
	return nil
}

// Exec runs statements on the primary in database db, in order.
func (c *Cluster) Exec(ctx context.Context, db string, statements ...string) error {
	conn, err := pgx.Connect(ctx, c.DSN(db))
	if err != nil {
		return fmt.Errorf("pgsandbox: connect to %s: %w", db, err)
	}
	defer conn.Close(ctx)
	for _, s := range statements {
		if _, err := conn.Exec(ctx, s); err != nil {
			return fmt.Errorf("pgsandbox: exec %q: %w", abbreviate(s), err)
		}
	}
	return nil
}

// Close stops the servers (fast shutdown, then kill) and removes the
// directory. It is safe to call more than once.
func (c *Cluster) Close() error {
	c.closeOnce.Do(func() {
		if c.stopWatch != nil {
			c.stopWatch()
		}
		var errs []error
		for _, s := range []*server{c.replica, c.primary} {
			errs = append(errs, s.stop())
		}
		errs = append(errs, os.RemoveAll(c.dir))
		c.closeErr = errors.Join(errs...)
	})
	return c.closeErr
}

func (s *server) stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
	select {
	case <-s.exited:
		return nil
	case <-time.After(15 * time.Second):
	}
	_ = s.cmd.Process.Signal(syscall.SIGQUIT) // immediate shutdown
	select {
	case <-s.exited:
		return nil
	case <-time.After(5 * time.Second):
		return fmt.Errorf("pgsandbox: %s (pid %d) did not stop", s.name, s.cmd.Process.Pid)
	}
}

// watchSignals closes the cluster on SIGINT/SIGTERM and then lets the
// signal take its usual course.
func (c *Cluster) watchSignals() {
	ch := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	c.stopWatch = func() { signal.Stop(ch); close(done) }
	go func() {
		select {
		case sig := <-ch:
			_ = c.Close()
			signal.Reset(sig)
			_ = syscall.Kill(os.Getpid(), sig.(syscall.Signal))
		case <-done:
		}
	}()
}

func (c *Cluster) run(ctx context.Context, tool string, args ...string) error {
	cmd := c.command(filepath.Join(c.bin, tool), args...)
	cmd.Env = withoutLibpqVars(os.Environ())
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pgsandbox: %s: %w\n%s", tool, err, out)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return nil
}

// command prepares a server-side program: run as the postgres user when we
// are root (initdb and postgres refuse root), in its own process group so a
// terminal's Ctrl-C reaches us first, and killed if we die.
func (c *Cluster) command(path string, args ...string) *exec.Cmd {
	cmd := exec.Command(path, args...)
	cmd.Dir = c.dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGQUIT, Credential: c.owner}
	return cmd
}

func (c *Cluster) chown(path string) error {
	if c.owner == nil {
		return nil
	}
	if err := os.Chown(path, int(c.owner.Uid), int(c.owner.Gid)); err != nil {
		return fmt.Errorf("pgsandbox: chown %s: %w", path, err)
	}
	return nil
}

// withoutLibpqVars drops PG* variables so the caller's libpq settings
// cannot point initdb or pg_basebackup at another server.
func withoutLibpqVars(env []string) []string {
	var kept []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "PG_BIN=") {
			kept = append(kept, kv)
		}
	}
	return kept
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgsandbox: find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

func abbreviate(s string) string {
	if len(s) > 80 {
		return s[:77] + "..."
	}
	return s
}
