package config

import (
	"os"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// env is a lookup function over a fixed set of variables.
func env(vars map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

const target = `
targets:
  - name: main
    dsn: postgres://advisor@db/app
`

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		file string
		want []string // substrings of the error, one per expected problem
	}{
		{"unknown top-level key", "listne: 1.2.3.4:9\n" + target,
			[]string{"advisor.yaml:1: listne: unknown key"}},
		{"unknown nested key", "targets:\n  - name: a\n    dsn: host=db\n    dbs: {include: [x]}\n",
			[]string{"advisor.yaml:4: targets[0].dbs: unknown key"}},
		{"duplicate key", "listen: :1\nlisten: :2\n" + target,
			[]string{"advisor.yaml:2: listen: duplicate key (first set on line 1)"}},
		{"integer expected", "analysis:\n  top: lots\n" + target,
			[]string{`advisor.yaml:2: analysis.top: expected an integer, got "lots"`}},
		{"integer, not a fraction", "analysis:\n  top: 1.5\n" + target,
			[]string{`advisor.yaml:2: analysis.top: expected an integer, got "1.5"`}},
		{"duration expected", "analysis:\n  statement_timeout: [1s]\n" + target,
			[]string{"advisor.yaml:2: analysis.statement_timeout: expected a duration such as 5s or 1m, got a list"}},
		{"bool expected", "analysis:\n  allow_analyze_on_primary: [yes]\n" + target,
			[]string{"advisor.yaml:2: analysis.allow_analyze_on_primary: expected true or false, got a list"}},
		{"list expected", "targets: {name: a, dsn: host=db}\n",
			[]string{"advisor.yaml:1: targets: expected a list, got a mapping"}},
		{"mapping expected", "schedule: hourly\n" + target,
			[]string{`advisor.yaml:1: schedule: expected a mapping, got "hourly"`}},
		{"top level not a mapping", "- listen\n",
			[]string{"advisor.yaml:1: expected a mapping, got a list"}},
		{"yaml syntax", "listen: :1\n  state_dir: x\n",
			[]string{"advisor.yaml:2: invalid YAML: "}},
		{"unclosed flow list", "listen: :1\nnotify:\n  webhooks: [{url: 'http://a'},\n    {url: 'http://b'}\n  slack: []\n",
			[]string{"advisor.yaml:3: invalid YAML in a list or mapping that starts on or before this line: did not find expected ',' or ']'"}},
		{"misindented list item", "targets:\n  - name: a\n    dsn: x\n\n  - name: c\n   name: b\n",
			[]string{"advisor.yaml:2: invalid YAML in a list or mapping that starts on or before this line: did not find expected '-' indicator"}},
		{"scanner error", "listen: :1\nstate_dir: x\nfoo: &!a 1\n",
			[]string{"advisor.yaml:3: invalid YAML: did not find expected alphabetic or numeric character"}},
		{"invalid cron", "schedule: {sample: every minute}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "every minute"`}},
		{"invalid @every", "schedule:\n  analyze: \"@every soon\"\n" + target,
			[]string{`advisor.yaml:2: schedule.analyze: invalid schedule "@every soon"`}},
		{"duration without unit", "analysis:\n  statement_timeout: 5\n" + target,
			[]string{`advisor.yaml:2: analysis.statement_timeout: invalid duration "5"`}},
		{"negative duration", "analysis:\n  lock_timeout: -1s\n" + target,
			[]string{"advisor.yaml:2: analysis.lock_timeout: must be between 1ms and 596h31m23.647s, got -1s"}},
		{"invalid size", "analysis:\n  budget: 1XB\n" + target,
			[]string{`advisor.yaml:2: analysis.budget: invalid size "1XB"`}},
		{"dsn not a URL", "targets:\n  - name: a\n    dsn: postgres://advisor@db:port/app\n",
			[]string{"advisor.yaml:3: targets[0].dsn: invalid URL: "}},
		{"replica dsn not a URL", "targets:\n  - name: a\n    dsn: host=db\n    replica_dsn: postgres://x@[::1/app\n",
			[]string{"advisor.yaml:4: targets[0].replica_dsn: invalid URL: "}},
		{"dsn neither URL nor conninfo", "targets:\n  - name: a\n    dsn: db-primary\n",
			[]string{"advisor.yaml:3: targets[0].dsn: invalid connection string: expected key=value"}},
		{"no targets", "listen: :1\n",
			[]string{"advisor.yaml: targets: at least one target is required"}},
		{"empty file", "",
			[]string{"advisor.yaml: targets: at least one target is required"}},
		{"missing name and dsn", "targets:\n  - replica_dsn: host=db\n",
			[]string{"advisor.yaml:2: targets[0].name: required"}},
		{"bad name", "targets:\n  - name: main db\n    dsn: host=db\n",
			[]string{`advisor.yaml:2: targets[0].name: invalid name "main db"`}},
		{"duplicate names", "targets:\n  - {name: a, dsn: host=db}\n  - {name: a, dsn: host=db2}\n",
			[]string{`advisor.yaml:3: targets[1].name: duplicate target name "a" (also targets[0])`}},
		{"bad pattern", "targets:\n  - name: a\n    dsn: host=db\n    users: {exclude: [ok, \"[\"]}\n",
			[]string{`advisor.yaml:4: targets[0].users.exclude[1]: invalid pattern "["`}},
		{"bad listen", "listen: localhost\n" + target,
			[]string{`advisor.yaml:1: listen: invalid address "localhost"`}},
		{"bad rank_by", "analysis: {rank_by: rows}\n" + target,
			[]string{`advisor.yaml:1: analysis.rank_by: must be one of total_time, mean_time, calls, shared_blks_read, temp_blks_written, got "rows"`}},
		{"ratio out of range", "detect:\n  seq_scan_removed_ratio: 1.5\n" + target,
			[]string{"advisor.yaml:2: detect.seq_scan_removed_ratio: must be greater than 0 and at most 1, got 1.5"}},
		{"non-http webhook", "notify:\n  webhooks:\n    - url: ftp://example.com/x\n" + target,
			[]string{"advisor.yaml:3: notify.webhooks[0].url: invalid URL: scheme must be http or https"}},
		{"webhook without url", "notify:\n  webhooks:\n    - secret: s\n" + target,
			[]string{"advisor.yaml:3: notify.webhooks[0].url: required"}},
		{"same webhook twice", "notify:\n  webhooks:\n    - url: https://hooks.example/a\n    - url: https://hooks.example/a\n" + target,
			[]string{"advisor.yaml:4: notify.webhooks[1].url: the same URL as notify.webhooks[0]"}},
		{"NaN ratio", "detect: {inefficient_index_removed_ratio: .nan}\n" + target,
			[]string{"advisor.yaml:1: detect.inefficient_index_removed_ratio: must be greater than 0 and at most 1, got NaN"}},
		{"ratio of 0", "detect: {seq_scan_removed_ratio: 0}\n" + target,
			[]string{"advisor.yaml:1: detect.seq_scan_removed_ratio: must be greater than 0 and at most 1, got 0"}},
		{"rows of 0", "detect: {large_offset_rows: 0}\n" + target,
			[]string{"advisor.yaml:1: detect.large_offset_rows: must be greater than 0, got 0"}},
		{"sub-millisecond timeout", "analysis: {statement_timeout: 900us}\n" + target,
			[]string{"advisor.yaml:1: analysis.statement_timeout: must be between 1ms and 596h31m23.647s, got 900µs"}},
		{"improvement of 100%", "analysis: {min_improvement_pct: 100}\n" + target,
			[]string{"advisor.yaml:1: analysis.min_improvement_pct: must be greater than 0 and less than 100, got 100"}},
		{"@every below a second", "schedule: {sample: \"@every 1ms\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "@every 1ms": the interval must be at least 1s`}},
		{"negative @every", "schedule: {sample: \"@every -15m\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "@every -15m": the interval must be at least 1s`}},
		{"@every below a second after a time zone", "schedule: {sample: \"TZ=UTC @every 1ms\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "TZ=UTC @every 1ms": the interval must be at least 1s`}},
		{"a time zone alone", "schedule: {sample: \"CRON_TZ=Europe/Paris\", analyze: \"TZ=\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "CRON_TZ=Europe/Paris": a time zone and no schedule after it`,
				`advisor.yaml:1: schedule.analyze: invalid schedule "TZ=": a time zone and no schedule after it`}},
		{"@every in fractions of a second", "schedule: {sample: \"@every 1500ms\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.sample: invalid schedule "@every 1500ms": the interval must be whole seconds (cron would run it every 1s)`}},
		{"timeout beyond PostgreSQL's", "analysis: {statement_timeout: 597h}\n" + target,
			[]string{"advisor.yaml:1: analysis.statement_timeout: must be between 1ms and 596h31m23.647s, got 597h0m0s"}},
		{"cycle timeout too short", "analysis: {cycle_timeout: 500ms}\n" + target,
			[]string{"advisor.yaml:1: analysis.cycle_timeout: must be between 1s and 24h0m0s, got 500ms"}},
		{"connection key pgx refuses", "targets:\n  - {name: main, dsn: \"postgres://u:s3cret@h/db?statement_cache_capacity=abc\"}\n",
			[]string{"advisor.yaml:2: targets[0].dsn: invalid URL: cannot parse statement_cache_capacity"}},
		{"schedule that never fires", "schedule: {analyze: \"0 0 30 2 *\"}\n" + target,
			[]string{`advisor.yaml:1: schedule.analyze: invalid schedule "0 0 30 2 *": it never fires`}},
		{"relative external_url", "external_url: /reports\n" + target,
			[]string{"advisor.yaml:1: external_url: invalid URL: scheme must be http or https"}},
		{"second document", target + "---\nanalysis: {top: -5}\n",
			[]string{"advisor.yaml:6: a second YAML document (after ---): a config file holds one"}},
		{"every error at once", "listen: nope\nanalysis:\n  top: 0\n  budget: 0\nmetrics: {top_statements: x}\n",
			[]string{
				`advisor.yaml:1: listen: invalid address "nope"`,
				"advisor.yaml:3: analysis.top: must be at least 1, got 0",
				"advisor.yaml:4: analysis.budget: must be greater than 0, got 0B",
				`advisor.yaml:5: metrics.top_statements: expected an integer, got "x"`,
				"advisor.yaml: targets: at least one target is required",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.file), "advisor.yaml", env(nil))
			if err == nil {
				t.Fatalf("Parse succeeded, want errors %q; got %+v", tt.want, c)
			}
			msg := err.Error()
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error does not contain %q:\n%s", w, msg)
				}
			}
			if got := strings.Count(msg, "\n") + 1; got != len(tt.want) {
				t.Errorf("got %d errors, want %d:\n%s", got, len(tt.want), msg)
			}
		})
	}
}

// Errors about bad values must not repeat secrets that are in them.
func TestParseErrorsHideSecrets(t *testing.T) {
	for _, file := range []string{
		"targets:\n  - name: a\n    dsn: postgres://advisor:hunter2@db:port/app\n",
		"targets:\n  - name: a\n    dsn: host=db password=hunter2 x\n",
		"targets:\n  - name: a\n    dsn: \"host=db password='hunter2\"\n",
		"notify: {slack: {webhook_url: \"http://[::1/services/hunter2\"}}\n" + target,
		"notify: {webhooks: [{url: \"hooks.example.com/hunter2\"}]}\n" + target,
		"notify: {webhooks: [{url: {hunter2: 1}}]}\n" + target,
	} {
		_, err := Parse([]byte(file), "advisor.yaml", env(nil))
		if err == nil {
			t.Fatalf("Parse(%q) succeeded", file)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("error reveals the secret: %v", err)
		}
	}
}

func TestEnvExpansion(t *testing.T) {
	vars := env(map[string]string{"A": "1", "B": "two", "EMPTY": ""})
	tests := []struct {
		in, want, err string
	}{
		{in: "${A}", want: "1"},
		{in: "x${A}y${B}", want: "x1ytwo"},
		{in: "${EMPTY}", want: ""},
		{in: "$$", want: "$"},
		{in: "$${A}", want: "${A}"},
		{in: "pa$word$", want: "pa$word$"},
		{in: "${NOPE}", err: "environment variable NOPE is not set"},
		{in: "${NOPE}${A}${GONE}", err: "environment variables NOPE, GONE are not set"},
		{in: "${A", err: "unterminated ${"},
		{in: "${1A}", err: `invalid environment variable name "1A"`},
		{in: "${}", err: `invalid environment variable name ""`},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, vars)
		switch {
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
		case tt.err == "" && (err != nil || got != tt.want):
			t.Errorf("expand(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseExpandsEnvironment(t *testing.T) {
	file := `
state_dir: ${DIR}
analysis: {top: "${TOP}", statement_timeout: "${TIMEOUT}"}
targets:
  - name: main
    dsn: ${DSN}
    databases: {include: [&p "$${X}"], exclude: [*p]}
notify:
  webhooks: [{url: "https://hooks.example.com/${PATH_PART}", secret: "${SECRET}"}]
`
	c, err := Parse([]byte(file), "advisor.yaml", env(map[string]string{
		"DIR":       "/tmp/x: {y: z}\n- w", // YAML syntax in a value stays text
		"TOP":       "7",
		"TIMEOUT":   "2s",
		"DSN":       "host=db password='se cret'",
		"PATH_PART": "a?b=c",
		"SECRET":    "null", // not YAML null: a string target keeps it
	}))
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/tmp/x: {y: z}\n- w" {
		t.Errorf("state_dir = %q", c.StateDir)
	}
	if c.Analysis.Top != 7 || c.Analysis.StatementTimeout != Duration(2*time.Second) {
		t.Errorf("analysis = %+v", c.Analysis)
	}
	if c.Targets[0].DSN != "host=db password='se cret'" {
		t.Errorf("dsn = %q", c.Targets[0].DSN)
	}
	if f := c.Targets[0].Databases; !reflect.DeepEqual(f, Filter{Include: []string{"${X}"}, Exclude: []string{"${X}"}}) {
		t.Errorf("an aliased value was expanded twice: %+v", f)
	}
	if w := c.Notify.Webhooks[0]; w.URL != "https://hooks.example.com/a?b=c" || w.Secret != "null" {
		t.Errorf("webhook = %+v", w)
	}
}

func TestParseUnsetVariable(t *testing.T) {
	file := target + "notify:\n  slack:\n    webhook_url: ${SLACK_WEBHOOK_URL}\n"
	_, err := Parse([]byte(file), "advisor.yaml", env(nil))
	want := "advisor.yaml:7: notify.slack.webhook_url: environment variable SLACK_WEBHOOK_URL is not set"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse([]byte(target), "advisor.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	want := Default()
	want.Targets = []Target{{
		Name:      "main",
		DSN:       "postgres://advisor@db/app",
		Databases: Filter{Exclude: []string{"template0", "template1"}},
	}}
	c.src, want.src = source{}, source{}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Parse of a minimal file:\n got %+v\nwant %+v", c, want)
	}
	if got := c.Targets[0].ExplainDSN(); got != c.Targets[0].DSN {
		t.Errorf("ExplainDSN without replica = %q, want the primary", got)
	}

	// "key:" with no value, and an explicit empty list, are different.
	c, err = Parse([]byte("targets:\n  - {name: a, dsn: host=db, databases: {exclude: }, users: {exclude: []}}\nanalysis:\n"),
		"advisor.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if tg := c.Targets[0]; len(tg.Databases.Exclude) != 2 || tg.Users.Exclude == nil || len(tg.Users.Exclude) != 0 {
		t.Errorf("target = %+v", tg)
	}
	if c.Analysis != Default().Analysis {
		t.Errorf("empty analysis: %+v, want the defaults", c.Analysis)
	}

	err = Default().Validate()
	if err == nil || err.Error() != "targets: at least one target is required" {
		t.Errorf("Default().Validate() = %v, want only the missing targets", err)
	}
}

func TestOverrides(t *testing.T) {
	file := "listen: :9187\nstate_dir: /srv\n" + target
	flags := func(c *Config) { // as command-line flags would
		c.Listen = "0.0.0.0:99999"
		c.Targets = append(c.Targets, Target{Name: "extra", DSN: "postgres://u:pw@h:x/db"})
	}
	_, err := Parse([]byte(file), "advisor.yaml", env(nil), flags)
	want := "advisor.yaml: listen: invalid port \"99999\" in \"0.0.0.0:99999\"\n" +
		"advisor.yaml: targets[1].dsn: invalid URL: invalid port"
	if err == nil || err.Error() != want {
		t.Errorf("Parse with overrides = %v\nwant %s", err, want)
	}

	// An override that leaves a NaN alone keeps its line.
	_, err = Parse([]byte("detect: {misestimate_factor: .nan}\n"+target), "advisor.yaml", env(nil), func(c *Config) { c.Listen = ":1" })
	if want := "advisor.yaml:1: detect.misestimate_factor: must be at least 1, got NaN"; err == nil || err.Error() != want {
		t.Errorf("Parse of a NaN with an override = %v\nwant %s", err, want)
	}

	// Flags can supply what the file lacks, and win over it.
	c, err := Parse([]byte("state_dir: /srv\n"), "advisor.yaml", env(nil), func(c *Config) {
		c.StateDir = "/tmp/state"
		c.Targets = []Target{{Name: "cli", DSN: "host=db"}}
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.StateDir != "/tmp/state" || c.Targets[0].Name != "cli" {
		t.Errorf("overrides not applied: %+v", c)
	}

	// Without a file, Validate checks a config built in code.
	c = Default()
	c.Targets = []Target{{Name: "cli", DSN: "host=db"}}
	c.Analysis.Top = 0
	if err := c.Validate(); err == nil || err.Error() != "analysis.top: must be at least 1, got 0" {
		t.Errorf("Validate() = %v", err)
	}
}

// The example loads unchanged with an empty environment: the channels,
// which need URLs and secrets, are shown in comments with how to enable them.
func TestExampleLoads(t *testing.T) {
	const path = "../../configs/advisor.example.yaml"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := Parse(data, path, nil) // nil: no environment variable is set
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Targets) != 1 || c.Targets[0].ExplainDSN() != "postgres://advisor@db-replica/app" {
		t.Errorf("targets = %+v", c.Targets)
	}
	if c.Notify.Slack.WebhookURL != "" || len(c.Notify.Webhooks) != 0 {
		t.Errorf("the example enables a channel: %+v", c.Notify)
	}
	// The example documents the defaults.
	d := Default()
	if c.Listen != d.Listen || c.StateDir != d.StateDir || c.Schedule != d.Schedule || c.Analysis != d.Analysis ||
		c.Detect != d.Detect || c.Metrics != d.Metrics || c.Notify.MaxAttempts != d.Notify.MaxAttempts {
		t.Errorf("example values differ from Default():\n got %+v\nwant %+v", c, d)
	}
	// Every key appears in it: set, or shown in a comment.
	for _, key := range keyPaths(reflect.TypeFor[Config](), "") {
		if _, ok := c.src.lines[key]; !ok && !inComment(data, key) {
			t.Errorf("configs/advisor.example.yaml lacks %s", key)
		}
	}
}

// inComment reports whether a comment line of data sets the last element
// of key ("url" of notify.webhooks[0].url).
func inComment(data []byte, key string) bool {
	name := key[strings.LastIndexAny(key, ".]")+1:]
	return regexp.MustCompile(`(?m)^\s*#\s*(- )?` + regexp.QuoteMeta(name) + `:`).Match(data)
}

// keyPaths lists the key path of every leaf of a config type; lists of
// mappings contribute their first element.
func keyPaths(t reflect.Type, prefix string) []string {
	switch {
	case reflect.PointerTo(t).Implements(unmarshalerType):
	case t.Kind() == reflect.Struct:
		var keys []string
		for i := range t.NumField() {
			if f := t.Field(i); f.IsExported() {
				keys = append(keys, keyPaths(f.Type, strings.TrimPrefix(prefix+"."+f.Tag.Get("yaml"), "."))...)
			}
		}
		return keys
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		return keyPaths(t.Elem(), prefix+"[0]")
	}
	return []string{prefix}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/does-not-exist.yaml")
	if err == nil || !strings.Contains(err.Error(), "read config: ") || !strings.Contains(err.Error(), "does-not-exist.yaml") {
		t.Errorf("Load of a missing file: %v", err)
	}
}
