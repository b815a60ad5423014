package config

import (
	"bytes"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

func TestRedactDSN(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"postgres://advisor@db/app", "postgres://advisor@db/app"},
		{"postgres://advisor:hunter2@db:5432/app", "postgres://advisor:xxxxx@db:5432/app"},
		{"postgresql://advisor:hunter2@h1:5432,h2:5433/app?sslmode=require&password=hunter2&sslpassword=hunter2",
			"postgresql://advisor:xxxxx@h1:5432,h2:5433/app?sslmode=require&password=xxxxx&sslpassword=xxxxx"},
		{"postgres://db/app?pass%77ord=hunter2", "postgres://db/app?password=xxxxx"},
		{"postgres://advisor:hun@ter2@db/app", "postgres://advisor:xxxxx@db/app"},                                 // unescaped @ in the password
		{"postgres://advisor:hun?ter2@db/app?password=hunter2", "postgres://advisor:xxxxx@db/app?password=xxxxx"}, // libpq: '?' and '#' may be in it
		{"postgres://advisor:hun#ter2@db/app", "postgres://advisor:xxxxx@db/app"},
		{"postgres://advisor:hun?t@er2@db", "postgres://advisor:xxxxx@db"},
		{"postgres://db?password=hunter2", "postgres://db?password=xxxxx"},
		{"host=db user=advisor password=hunter2 dbname=app", "host=db user=advisor password=xxxxx dbname=app"},
		{"host=db  password = 'hunter 2\\' x'\tdbname='my app'", "host=db password=xxxxx dbname='my app'"},
		{"host=db sslpassword=hunter2", "host=db sslpassword=xxxxx"},
		{"host=db password=", "host=db password=xxxxx"},
		{"host=db password='hunter2", "xxxxx"}, // unparseable: mask it all
		{"hunter2", "xxxxx"},
	}
	for _, tt := range tests {
		got := RedactDSN(tt.in)
		if got != tt.want {
			t.Errorf("RedactDSN(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if strings.Contains(got, "hunter") || strings.Contains(got, "ter2") {
			t.Errorf("RedactDSN(%q) = %q reveals the password", tt.in, got)
		}
	}
}

func secretConfig(t *testing.T) *Config {
	t.Helper()
	file := `
external_url: https://advisor.example.com/ui
targets:
  - name: main
    dsn: postgres://advisor:hunter2@db-primary/app
    replica_dsn: host=db-replica user=advisor password='hunter2 x' dbname=app
    databases: {include: [app]}
notify:
  slack: {webhook_url: "https://hooks.slack.com/services/T0/B0/hunter2"}
  webhooks:
    - {url: "https://hooks.example.com/pgadvisor?token=hunter2", secret: hunter2}
    - {url: "https://hooks.example.com/open"}
`
	c, err := Parse([]byte(file), "advisor.yaml", env(nil))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestRedacted(t *testing.T) {
	c := secretConfig(t)
	r := c.Redacted()

	tg := r.Targets[0]
	if tg.DSN != "postgres://advisor:xxxxx@db-primary/app" ||
		tg.ReplicaDSN != "host=db-replica user=advisor password=xxxxx dbname=app" {
		t.Errorf("redacted target = %+v", tg)
	}
	if got := r.Notify.Slack.WebhookURL; got != "https://hooks.slack.com/xxxxx" {
		t.Errorf("slack webhook = %q", got)
	}
	if w := r.Notify.Webhooks[0]; w.URL != "https://hooks.example.com/xxxxx" || w.Secret != "xxxxx" {
		t.Errorf("webhook = %+v", w)
	}
	if w := r.Notify.Webhooks[1]; w.Secret != "" {
		t.Errorf("an absent secret became %q", w.Secret)
	}
	if r.ExternalURL != c.ExternalURL || tg.Name != "main" {
		t.Errorf("non-secrets changed: %+v", r)
	}

	// A deep copy: changing it leaves the original alone.
	r.Targets[0].Databases.Include[0] = "changed"
	r.Notify.Webhooks[1].URL = "changed"
	if c.Targets[0].Databases.Include[0] != "app" || c.Notify.Webhooks[1].URL != "https://hooks.example.com/open" ||
		!strings.Contains(c.Targets[0].DSN, "hunter2") {
		t.Errorf("Redacted modified the original: %+v", c)
	}
}

func TestConfigLogsRedacted(t *testing.T) {
	c := secretConfig(t)

	var buf bytes.Buffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()),
		zapcore.AddSync(&buf), zap.InfoLevel))
	log.Info("loaded", zap.Any("config", c), zap.Stringer("text", c))

	out := buf.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("log reveals a secret: %s", out)
	}
	for _, want := range []string{
		`"config":{"listen":"127.0.0.1:9187"`,
		`"statement_timeout":"5s"`,
		`"budget":"1GB"`,
		`"dsn":"postgres://advisor:xxxxx@db-primary/app"`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s: %s", want, out)
		}
	}
	if s := c.String(); strings.Contains(s, "hunter2") || !strings.Contains(s, "replica_dsn: host=db-replica user=advisor password=xxxxx dbname=app") {
		t.Errorf("String() = %s", s)
	}
}
