package daemon

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/collector"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// sandbox is the package's shared primary and replica; nil when
// PostgreSQL could not start (tests then call pgsandbox.Require, which skips).
var sandbox *pgsandbox.Cluster

func TestMain(m *testing.M) {
	opts := pgsandbox.Options{Replica: true, Extensions: []string{"pg_stat_statements", "hypopg"}}
	os.Exit(pgsandbox.Main(m, opts, func(c *pgsandbox.Cluster) int {
		sandbox = c
		return m.Run()
	}))
}

// Secrets the tests put in the configuration and look for everywhere.
const (
	dsnPassword   = "dsn-pass-3f9a1c"
	webhookSecret = "whsec-7d2e88b0"
	webhookPath   = "/hooks/T0KEN-51ab9e"
)

// withPassword puts dsnPassword into a sandbox URL (trust authentication
// ignores it; the agent must still never show it).
func withPassword(dsn string) string {
	return strings.Replace(dsn, "postgres@", "postgres:"+dsnPassword+"@", 1)
}

// testOptions mirror cmd/advisor's wiring closely enough for the tests.
func testOptions() Options {
	return Options{
		Version: "test",
		EngineOptions: func(cfg *config.Config) advisor.Options {
			a := cfg.Analysis
			return advisor.Options{
				Rank: collector.RankOptions{By: collector.RankBy(a.RankBy), MinCalls: a.MinCalls, Top: a.Top},
				Select: advisor.SelectOptions{MaxPerTable: a.MaxIndexesPerTable, BudgetBytes: int64(a.Budget),
					MinImprovementPct: a.MinImprovementPct},
				Timeout: time.Duration(a.CycleTimeout),
			}
		},
		Target: func(t config.Target) advisor.Target {
			return advisor.Target{Name: t.Name, DSN: t.DSN, ReplicaDSN: t.ReplicaDSN,
				Databases: collector.NameFilter{Include: t.Databases.Include, Exclude: t.Databases.Exclude},
				Users:     collector.NameFilter{Include: t.Users.Include, Exclude: t.Users.Exclude}}
		},
	}
}

// writeConfig writes a YAML configuration into dir and returns its path.
func writeConfig(t *testing.T, dir, yaml string, args ...any) string {
	t.Helper()
	path := filepath.Join(dir, "advisor.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, yaml, args...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func loadConfig(t *testing.T, path string) *config.Config {
	t.Helper()
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// logBuffer collects JSON log lines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) logger() *zap.Logger {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	return zap.New(zapcore.NewCore(enc, zapcore.AddSync(b), zap.DebugLevel))
}
