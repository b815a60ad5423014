package dbconn

import (
	"context"
	"testing"
	"time"
)

// A connection string without connect_timeout gets DefaultConnectTimeout:
// libpq's default would wait for ever on a server that accepts and never
// answers. One that sets it keeps its own.
func TestConnectTimeout(t *testing.T) {
	for dsn, want := range map[string]time.Duration{
		"postgres://advisor@db.internal/app":                   DefaultConnectTimeout,
		"postgres://advisor@db.internal/app?connect_timeout=3": 3 * time.Second,
		"host=db.internal user=advisor connect_timeout=0":      DefaultConnectTimeout,
	} {
		cfg, err := Config(dsn)
		if err != nil {
			t.Fatal(err)
		}
		if cfg.ConnectTimeout != want {
			t.Errorf("Config(%q).ConnectTimeout = %s, want %s", dsn, cfg.ConnectTimeout, want)
		}
		pool, err := Pool(context.Background(), dsn, 1) // connects lazily
		if err != nil {
			t.Fatal(err)
		}
		if got := pool.Config().ConnConfig.ConnectTimeout; got != want {
			t.Errorf("Pool(%q): connect timeout %s, want %s", dsn, got, want)
		}
		pool.Close()
	}
}
