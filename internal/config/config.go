// Package config loads, validates and redacts the pgadvisor configuration file.
//
// Load reads a YAML file, expands ${VAR} references from the environment,
// fills defaults and validates the result; every problem is reported at once,
// each naming the file, the line and the key path. Command-line flags override
// the file through the override functions given to Load, which run before
// validation; a Config built in code from Default is checked with Validate.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration of the agent and the CLI.
type Config struct {
	Listen      string   `yaml:"listen"`       // address of /metrics, /healthz, /readyz, /api/v1/...
	StateDir    string   `yaml:"state_dir"`    // outbox and other state that survives restarts
	ExternalURL string   `yaml:"external_url"` // optional base URL used to link to reports in notifications
	Targets     []Target `yaml:"targets"`
	Schedule    Schedule `yaml:"schedule"`
	Analysis    Analysis `yaml:"analysis"`
	Detect      Detect   `yaml:"detect"`
	Metrics     Metrics  `yaml:"metrics"`
	Notify      Notify   `yaml:"notify"`

	src source // where the values came from, for error messages
}

// Target is one monitored PostgreSQL cluster.
type Target struct {
	Name       string `yaml:"name"`
	DSN        string `yaml:"dsn"`         // primary: pg_stat_statements and catalogs
	ReplicaDSN string `yaml:"replica_dsn"` // EXPLAIN target; empty means DSN, where ANALYZE is not used
	Databases  Filter `yaml:"databases"`
	Users      Filter `yaml:"users"`
}

// ExplainDSN is where plans are taken: the replica when one is configured,
// the primary otherwise.
func (t Target) ExplainDSN() string {
	if t.ReplicaDSN != "" {
		return t.ReplicaDSN
	}
	return t.DSN
}

// clone is a deep copy.
func (c *Config) clone() *Config {
	r := *c
	r.Targets = slices.Clone(c.Targets)
	for i, t := range r.Targets {
		r.Targets[i].Databases = t.Databases.clone()
		r.Targets[i].Users = t.Users.clone()
	}
	r.Notify.Webhooks = slices.Clone(c.Notify.Webhooks)
	return &r
}

// setDefaults prepares a target read from a list, before its keys are decoded.
func (t *Target) setDefaults() {
	t.Databases.Exclude = []string{"template0", "template1"}
}

// Schedule holds cron specs (five fields or descriptors such as "@every 1m").
type Schedule struct {
	Sample  string `yaml:"sample"`  // reading pg_stat_statements
	Analyze string `yaml:"analyze"` // one analysis cycle
}

// Analysis bounds what one analysis cycle looks at and recommends.
type Analysis struct {
	Top                   int      `yaml:"top"`
	MinCalls              int64    `yaml:"min_calls"`
	RankBy                string   `yaml:"rank_by"`
	StatementTimeout      Duration `yaml:"statement_timeout"`
	LockTimeout           Duration `yaml:"lock_timeout"`
	AllowAnalyzeOnPrimary bool     `yaml:"allow_analyze_on_primary"`
	Budget                ByteSize `yaml:"budget"`
	MaxIndexesPerTable    int      `yaml:"max_indexes_per_table"`
	MinImprovementPct     float64  `yaml:"min_improvement_pct"`
	MaxParallelTargets    int      `yaml:"max_parallel_targets"`
	CycleTimeout          Duration `yaml:"cycle_timeout"`
}

// Detect holds the thresholds of the plan detectors.
type Detect struct {
	SeqScanMinRows               int64   `yaml:"seq_scan_min_rows"`
	SeqScanRemovedRatio          float64 `yaml:"seq_scan_removed_ratio"`
	MisestimateFactor            float64 `yaml:"misestimate_factor"`
	LargeOffsetRows              int64   `yaml:"large_offset_rows"`
	InefficientIndexRemovedRatio float64 `yaml:"inefficient_index_removed_ratio"`
}

// Metrics shapes what is exported to Prometheus.
type Metrics struct {
	TopStatements int `yaml:"top_statements"` // per-statement series; 0 exports none
}

// Notify configures where new recommendations are sent.
type Notify struct {
	MaxAttempts int       `yaml:"max_attempts"`
	Slack       Slack     `yaml:"slack"`
	Webhooks    []Webhook `yaml:"webhooks"`
}

// Slack is an incoming-webhook destination; an empty URL disables it.
type Slack struct {
	WebhookURL string `yaml:"webhook_url"`
}

// Webhook is a generic HTTP destination; payloads are signed with Secret when set.
type Webhook struct {
	URL    string `yaml:"url"`
	Secret string `yaml:"secret"`
}

// Default returns the configuration used for everything a file leaves out.
// It has no targets, so it is not valid until one is added.
func Default() *Config {
	return &Config{
		Listen:   "127.0.0.1:9187",
		StateDir: "/var/lib/pgadvisor",
		Schedule: Schedule{Sample: "@every 1m", Analyze: "@every 15m"},
		Analysis: Analysis{
			Top:                25,
			MinCalls:           5,
			RankBy:             "total_time",
			StatementTimeout:   Duration(5 * time.Second),
			LockTimeout:        Duration(time.Second),
			Budget:             1 * GB,
			MaxIndexesPerTable: 5,
			MinImprovementPct:  30,
			MaxParallelTargets: 4,
			CycleTimeout:       Duration(10 * time.Minute),
		},
		Detect: Detect{
			SeqScanMinRows:               10000,
			SeqScanRemovedRatio:          0.9,
			MisestimateFactor:            10,
			LargeOffsetRows:              1000,
			InefficientIndexRemovedRatio: 0.9,
		},
		Metrics: Metrics{TopStatements: 20},
		Notify:  Notify{MaxAttempts: 100}, // exporter.DefaultMaxAttempts
	}
}

// Load reads the configuration file at path, expanding ${VAR} from the
// process environment; see Parse.
func Load(path string, overrides ...func(*Config)) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(data, path, os.LookupEnv, overrides...)
}

// Parse decodes a configuration over the defaults, applies overrides (such
// as command-line flags, which win over the file) and validates the result.
// filename is only used in error messages. lookupEnv resolves ${VAR}
// references; nil treats every variable as unset. All problems are returned
// together, joined; errors about values an override changed carry no line.
func Parse(data []byte, filename string, lookupEnv func(string) (string, bool), overrides ...func(*Config)) (*Config, error) {
	if lookupEnv == nil {
		lookupEnv = func(string) (string, bool) { return "", false }
	}
	c := Default()
	c.src = source{file: filename, lines: map[string]int{}, failed: map[string]bool{}}

	root, err := oneDocument(data, filename)
	if err != nil {
		return nil, err
	}
	d := decoder{lookupEnv: lookupEnv, src: &c.src}
	if len(root.Content) > 0 { // an empty file has no document
		d.value(root.Content[0], reflect.ValueOf(c).Elem(), "")
	}
	if len(overrides) > 0 {
		before := c.clone()
		for _, override := range overrides {
			override(c)
		}
		c.src.forget("", reflect.ValueOf(before).Elem(), reflect.ValueOf(c).Elem())
	}
	if err := errors.Join(append(d.errs, c.validate()...)...); err != nil {
		return nil, err
	}
	return c, nil
}

// oneDocument decodes data's YAML document; a second one, after "---",
// is an error rather than something to ignore.
func oneDocument(data []byte, filename string) (yaml.Node, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var root, next yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return root, syntaxError(filename, err)
	}
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
		return root, nil
	case err != nil:
		return root, syntaxError(filename, err)
	case len(next.Content) > 0:
		src := source{file: filename}
		return root, src.errorf(next.Content[0].Line, "", errors.New("a second YAML document (after ---): a config file holds one"))
	}
	return root, nil
}

var yamlLineError = regexp.MustCompile(`(?s)^yaml: line (\d+): (.*)$`)

// syntaxError puts the line of a YAML syntax error where the other errors have it.
func syntaxError(filename string, err error) error {
	src := source{file: filename}
	m := yamlLineError.FindStringSubmatch(err.Error())
	if m == nil {
		return src.errorf(0, "", err)
	}
	line, _ := strconv.Atoi(m[1])
	if slices.Contains(yamlParserProblems, m[2]) {
		// yaml.v3 counts a parser error's line from 0, and gives the start
		// of the list or mapping the problem is in, unless that is the
		// file's first line: then the problem's.
		return src.errorf(line+1, "", errors.New("invalid YAML in a list or mapping that starts on or before this line: "+m[2]))
	}
	return src.errorf(line, "", errors.New("invalid YAML: "+m[2]))
}

// yamlParserProblems are the problems yaml.v3's parser reports, with its
// line counted from 0; its scanner counts from 1.
var yamlParserProblems = []string{
	"did not find expected <document start>", "did not find expected node content", "did not find expected key",
	"did not find expected '-' indicator", "did not find expected ',' or ']'", "did not find expected ',' or '}'",
}
