package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net"
	"net/url"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/robfig/cron/v3"
)

// Validate checks the configuration, typically again after flags changed it.
// Errors name the key path and, for values read from a file, the file and line.
func (c *Config) Validate() error {
	return errors.Join(c.validate()...)
}

func (c *Config) validate() []error {
	v := validator{src: &c.src} // zero for a Config built in code: no positions

	v.check("listen", checkListen(c.Listen))
	v.check("state_dir", required(c.StateDir))
	if c.ExternalURL != "" {
		v.check("external_url", checkHTTPURL(c.ExternalURL))
	}

	if len(c.Targets) == 0 {
		v.check("targets", errors.New("at least one target is required"))
	}
	names := map[string]int{}
	for i, t := range c.Targets {
		p := fmt.Sprintf("targets[%d]", i)
		v.check(p+".name", checkTargetName(t.Name))
		if first, dup := names[t.Name]; dup && t.Name != "" {
			v.check(p+".name", fmt.Errorf("duplicate target name %q (also targets[%d])", t.Name, first))
		} else {
			names[t.Name] = i
		}
		if t.DSN != "" { // empty: the libpq environment variables (PGHOST, ...) decide
			v.check(p+".dsn", CheckDSN(t.DSN))
		}
		if t.ReplicaDSN != "" {
			v.check(p+".replica_dsn", CheckDSN(t.ReplicaDSN))
		}
		v.filter(p+".databases", t.Databases)
		v.filter(p+".users", t.Users)
	}

	v.check("schedule.sample", checkCron(c.Schedule.Sample))
	v.check("schedule.analyze", checkCron(c.Schedule.Analyze))

	for _, p := range CheckAnalysis(c.Analysis) {
		v.check(p.Path, p.Err)
	}

	d := c.Detect
	// The detectors take 0 for "unset", their default: a 0 here would not
	// mean what it says.
	v.check("detect.seq_scan_min_rows", positive(d.SeqScanMinRows))
	v.check("detect.seq_scan_removed_ratio", share(d.SeqScanRemovedRatio))
	v.check("detect.misestimate_factor", atLeast(d.MisestimateFactor, 1))
	v.check("detect.large_offset_rows", positive(d.LargeOffsetRows))
	v.check("detect.inefficient_index_removed_ratio", share(d.InefficientIndexRemovedRatio))

	v.check("metrics.top_statements", atLeast(c.Metrics.TopStatements, 0))

	v.check("notify.max_attempts", atLeast(c.Notify.MaxAttempts, 1))
	if c.Notify.Slack.WebhookURL != "" {
		v.check("notify.slack.webhook_url", checkHTTPURL(c.Notify.Slack.WebhookURL))
	}
	webhooks := map[string]int{}
	for i, w := range c.Notify.Webhooks {
		p := fmt.Sprintf("notify.webhooks[%d].url", i)
		v.check(p, checkHTTPURL(w.URL))
		// The outbox finds a webhook by its URL: two would share one queue.
		if first, dup := webhooks[w.URL]; dup && w.URL != "" {
			v.check(p, fmt.Errorf("the same URL as notify.webhooks[%d]", first))
		} else {
			webhooks[w.URL] = i
		}
	}
	return v.errs
}

// Problem is what is wrong with the value at a key path.
type Problem struct {
	Path string // e.g. analysis.top
	Err  error
}

// CheckAnalysis checks the analysis settings on their own: command-line
// flags that set them report the problems under their own names, not
// under a file's line.
func CheckAnalysis(a Analysis) []Problem {
	var problems []Problem
	check := func(path string, err error) {
		if err != nil {
			problems = append(problems, Problem{path, err})
		}
	}
	check("analysis.top", atLeast(a.Top, 1))
	check("analysis.min_calls", atLeast(a.MinCalls, 0))
	check("analysis.rank_by", checkRankBy(a.RankBy))
	check("analysis.statement_timeout", inRange(a.StatementTimeout, minTimeout, maxTimeout))
	check("analysis.lock_timeout", inRange(a.LockTimeout, minTimeout, maxTimeout))
	check("analysis.budget", positive(a.Budget))
	check("analysis.max_indexes_per_table", atLeast(a.MaxIndexesPerTable, 1))
	// The selector takes 0 for its default, and a 100% drop never happens.
	if !(a.MinImprovementPct > 0 && a.MinImprovementPct < 100) {
		check("analysis.min_improvement_pct", fmt.Errorf("must be greater than 0 and less than 100, got %v", a.MinImprovementPct))
	}
	check("analysis.max_parallel_targets", atLeast(a.MaxParallelTargets, 1))
	check("analysis.cycle_timeout", inRange(a.CycleTimeout, Duration(time.Second), Duration(24*time.Hour)))
	return problems
}

func checkRankBy(by string) error {
	switch by {
	case "total_time", "mean_time", "calls", "shared_blks_read", "temp_blks_written":
		return nil
	}
	return fmt.Errorf("must be one of total_time, mean_time, calls, shared_blks_read, temp_blks_written, got %q", by)
}

type validator struct {
	src  *source
	errs []error
}

// check records err for path unless the value could not even be decoded,
// which was reported already.
func (v *validator) check(path string, err error) {
	if err != nil && !v.src.hasFailed(path) {
		v.errs = append(v.errs, v.src.errorf(v.src.line(path), path, err))
	}
}

func (v *validator) filter(p string, f Filter) {
	check := func(key string, patterns []string) {
		for i, pat := range patterns {
			if _, err := path.Match(pat, ""); err != nil {
				v.check(fmt.Sprintf("%s.%s[%d]", p, key, i), fmt.Errorf("invalid pattern %q: %w", pat, err))
			}
		}
	}
	check("include", f.Include)
	check("exclude", f.Exclude)
}

var errRequired = errors.New("required")

func required(s string) error {
	if s == "" {
		return errRequired
	}
	return nil
}

func atLeast[T cmp.Ordered](v, min T) error {
	if !(v >= min) { // also catches NaN
		return fmt.Errorf("must be at least %v, got %v", min, v)
	}
	return nil
}

// PostgreSQL's timeouts are whole milliseconds, 0 turns them off, and it
// refuses more than INT_MAX of them (24.8 days).
const (
	minTimeout = Duration(time.Millisecond)
	maxTimeout = Duration(math.MaxInt32 * time.Millisecond)
)

func inRange[T cmp.Ordered](v, min, max T) error {
	if !(v >= min && v <= max) { // also catches NaN
		return fmt.Errorf("must be between %v and %v, got %v", min, max, v)
	}
	return nil
}

// share accepts a ratio in (0, 1].
func share(v float64) error {
	if !(v > 0 && v <= 1) {
		return fmt.Errorf("must be greater than 0 and at most 1, got %v", v)
	}
	return nil
}

func positive[T cmp.Ordered](v T) error {
	var zero T
	if v <= zero {
		return fmt.Errorf("must be greater than 0, got %v", v)
	}
	return nil
}

func checkListen(addr string) error {
	if addr == "" {
		return errRequired
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("invalid address %q: want host:port", addr)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 && port != "0" {
		return fmt.Errorf("invalid port %q in %q", port, addr)
	}
	return nil
}

// Target names appear in metric labels, file names and URLs.
var targetName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func checkTargetName(name string) error {
	if name == "" {
		return errRequired
	}
	if !targetName.MatchString(name) {
		return fmt.Errorf("invalid name %q: use letters, digits, '_', '.' and '-'", name)
	}
	return nil
}

func checkCron(spec string) error {
	if spec == "" {
		return errRequired
	}
	sched, err := ParseSchedule(spec)
	if err != nil {
		return fmt.Errorf("invalid schedule %q: %w", spec, err)
	}
	// cron runs an @every shorter than a second (zero and negative
	// included) every second, which would hammer the primary, and rounds
	// a longer one down to whole seconds. A time zone may come first.
	if every, ok := strings.CutPrefix(withoutTimeZone(spec), "@every "); ok {
		d, err := time.ParseDuration(every)
		switch {
		case err != nil || d < time.Second:
			return fmt.Errorf("invalid schedule %q: the interval must be at least 1s", spec)
		case d%time.Second != 0:
			return fmt.Errorf("invalid schedule %q: the interval must be whole seconds (cron would run it every %s)", spec, d.Truncate(time.Second))
		}
	}
	if sched.Next(time.Now()).IsZero() {
		return fmt.Errorf("invalid schedule %q: it never fires", spec)
	}
	return nil
}

// withoutTimeZone is spec without the TZ= or CRON_TZ= prefix cron takes.
// ParseSchedule parses a standard cron spec (five fields or a
// descriptor, a TZ= or CRON_TZ= time zone first), as cron.ParseStandard
// does, except that a time zone with nothing after it is an error:
// cron.ParseStandard panics on it (robfig/cron v3.0.1, parser.go).
func ParseSchedule(spec string) (cron.Schedule, error) {
	if (strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=")) && !strings.Contains(spec, " ") {
		return nil, errors.New("a time zone and no schedule after it")
	}
	return cron.ParseStandard(spec)
}

func withoutTimeZone(spec string) string {
	if strings.HasPrefix(spec, "TZ=") || strings.HasPrefix(spec, "CRON_TZ=") {
		if _, rest, ok := strings.Cut(spec, " "); ok {
			return strings.TrimSpace(rest)
		}
	}
	return spec
}

// checkHTTPURL accepts absolute http(s) URLs. Messages leave the URL out: a
// webhook's path is a secret.
func checkHTTPURL(s string) error {
	if s == "" {
		return errRequired
	}
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error would repeat the URL
		}
		return fmt.Errorf("invalid URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("invalid URL: scheme must be http or https")
	}
	if u.Host == "" {
		return errors.New("invalid URL: host is missing")
	}
	return nil
}

// CheckDSN accepts what pgx accepts: a postgres:// URL or key=value conninfo.
// pgx.ParseConfig does not connect, but it does read PG* environment
// variables, the service file and the password file, as a connection would.
func CheckDSN(dsn string) error {
	if dsn == "" {
		return errRequired
	}
	form := "URL"
	if !isURLDSN(dsn) {
		form = "connection string"
		if _, err := parseConninfo(dsn); err != nil {
			return fmt.Errorf("invalid connection string: %w (want a postgres:// URL or key=value pairs)", err)
		}
	}
	if _, err := pgx.ParseConfig(dsn); err != nil { // as connections are opened: it knows more keys than pgconn's
		var pce *pgconn.ParseConfigError
		if !errors.As(err, &pce) {
			return fmt.Errorf("invalid %s", form)
		}
		bare := *pce
		bare.ConnString = "" // its redaction is best effort; leave the DSN out entirely
		return fmt.Errorf("invalid %s: %s", form, strings.TrimPrefix(bare.Error(), "cannot parse ``: "))
	}
	return nil
}
