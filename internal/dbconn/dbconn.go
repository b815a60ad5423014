// Package dbconn opens the advisor's own connections: every one identifies
// itself as application_name "pgadvisor", and every statement the advisor
// sends starts with Marker, so the sampler can leave them out.
package dbconn

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Marker prefixes every statement the advisor sends.
const Marker = "/* pgadvisor */ "

// ApplicationName is set on every connection the advisor opens.
const ApplicationName = "pgadvisor"

// DefaultConnectTimeout bounds opening a connection, the startup and
// authentication exchange included, when the connection string sets no
// connect_timeout (libpq's default is to wait for ever): a server, pooler
// or load balancer that accepts and never answers would otherwise hold an
// analysis cycle, and every later one, with no error to alert on.
const DefaultConnectTimeout = 15 * time.Second

// Config parses dsn (URL or key=value; empty means libpq environment
// variables only), names the application and bounds the connect.
func Config(dsn string) (*pgx.ConnConfig, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cfg.RuntimeParams["application_name"] = ApplicationName
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = DefaultConnectTimeout
	}
	return cfg, nil
}

// Connect opens one connection.
func Connect(ctx context.Context, dsn string) (*pgx.Conn, error) {
	cfg, err := Config(dsn)
	if err != nil {
		return nil, err
	}
	return ConnectConfig(ctx, cfg)
}

// ConnectConfig opens one connection with a configuration from Config.
func ConnectConfig(ctx context.Context, cfg *pgx.ConnConfig) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Describe(cfg), err)
	}
	return conn, nil
}

// Pool opens a pool of at most maxConns connections.
func Pool(ctx context.Context, dsn string, maxConns int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("parse connection string: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = ApplicationName
	if cfg.ConnConfig.ConnectTimeout <= 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	cfg.MaxConns = maxConns
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", Describe(cfg.ConnConfig), err)
	}
	return pool, nil
}

// Describe names a server without its password: user@host:port/database.
func Describe(cfg *pgx.ConnConfig) string {
	return fmt.Sprintf("%s@%s:%d/%s", cfg.User, cfg.Host, cfg.Port, cfg.Database)
}

// SplitURL splits a postgres:// or postgresql:// connection URL as libpq
// and pgx do: the userinfo, when there is one, ends at the first '@' before
// any '/', so a password may hold an unescaped '?' or '#'. rest is what
// follows the userinfo's '@' (or the scheme): hosts, path, query and
// fragment. ok is false for a string that is not such a URL.
func SplitURL(dsn string) (scheme, userinfo, rest string, hasUserinfo, ok bool) {
	for _, s := range []string{"postgresql://", "postgres://"} {
		if r, found := strings.CutPrefix(dsn, s); found {
			if i := strings.IndexAny(r, "@/"); i >= 0 && r[i] == '@' {
				return s, r[:i], r[i+1:], true, true
			}
			return s, "", r, false, true
		}
	}
	return "", "", "", false, false
}
