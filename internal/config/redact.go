package config

import (
	"errors"
	"net/url"
	"strings"

	"go.uber.org/zap/zapcore"
	"gopkg.in/yaml.v3"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

const mask = "xxxxx"

// Redacted returns a deep copy with every secret masked: DSN passwords,
// webhook URL paths and queries (which carry the tokens) and webhook secrets.
func (c *Config) Redacted() *Config {
	r := c.clone()
	for i, t := range r.Targets {
		r.Targets[i].DSN = RedactDSN(t.DSN)
		r.Targets[i].ReplicaDSN = RedactDSN(t.ReplicaDSN)
	}
	r.Notify.Slack.WebhookURL = redactURL(r.Notify.Slack.WebhookURL)
	for i, w := range r.Notify.Webhooks {
		r.Notify.Webhooks[i].URL = redactURL(w.URL)
		if w.Secret != "" {
			r.Notify.Webhooks[i].Secret = mask
		}
	}
	return r
}

// String renders the redacted configuration as YAML.
func (c *Config) String() string {
	out, err := yaml.Marshal(c.Redacted())
	if err != nil {
		return "config: " + err.Error()
	}
	return string(out)
}

// MarshalLogObject implements zapcore.ObjectMarshaler with the redacted
// configuration, keyed as in the file, so zap.Object("config", c) is safe.
func (c *Config) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	var fields yaml.Node
	if err := fields.Encode(c.Redacted()); err != nil {
		return err
	}
	for i := 0; i+1 < len(fields.Content); i += 2 {
		var v any
		if err := fields.Content[i+1].Decode(&v); err != nil {
			return err
		}
		if err := enc.AddReflected(fields.Content[i].Value, v); err != nil {
			return err
		}
	}
	return nil
}

// RedactDSN masks the passwords in a postgres:// URL or key=value connection
// string, for logs and reports. A string that cannot be parsed is masked
// whole, since where its password is cannot be told.
func RedactDSN(dsn string) string {
	if isURLDSN(dsn) {
		return redactURLDSN(dsn)
	}
	pairs, err := parseConninfo(dsn)
	if err != nil {
		return mask
	}
	parts := make([]string, len(pairs))
	for i, p := range pairs {
		if isSecretKey(p.key) {
			p.raw = mask
		}
		parts[i] = p.key + "=" + p.raw
	}
	return strings.Join(parts, " ")
}

func isURLDSN(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

func isSecretKey(key string) bool {
	return key == "password" || key == "sslpassword"
}

// redactURLDSN masks the userinfo password and password query parameters.
// It does not rely on net/url, which rejects valid multi-host DSNs.
func redactURLDSN(dsn string) string {
	scheme, userinfo, rest, hasUserinfo, _ := dbconn.SplitURL(dsn)
	// An '@' left before the path was an unescaped one in the password,
	// which libpq takes for the end of it: mask up to the last.
	hosts, _, _ := strings.Cut(rest, "/")
	hosts, _, _ = strings.Cut(hosts, "?")
	if at := strings.LastIndexByte(hosts, '@'); at >= 0 {
		userinfo, rest, hasUserinfo = userinfo+"@"+rest[:at], rest[at+1:], true
	}
	out := scheme
	if hasUserinfo {
		user, _, hasPassword := strings.Cut(userinfo, ":")
		if hasPassword {
			user += ":" + mask
		}
		out += user + "@"
	}
	rest, query, hasQuery := strings.Cut(rest, "?")
	out += rest
	if !hasQuery {
		return out
	}
	params := strings.Split(query, "&")
	for i, p := range params {
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil {
			key = k
		}
		if isSecretKey(key) {
			params[i] = key + "=" + mask
		}
	}
	return out + "?" + strings.Join(params, "&")
}

// redactURL keeps only the scheme and host of a webhook URL.
func redactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil || u.Host == "" {
		return mask
	}
	r := url.URL{Scheme: u.Scheme, Host: u.Host}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" {
		r.Path = "/" + mask
	}
	return r.String()
}

type conninfoPair struct {
	key string
	raw string // the value as written, quotes and escapes included
}

const conninfoSpace = " \t\n\r\v\f"

// parseConninfo splits a libpq key=value connection string. Errors never
// quote the input, which may hold a password.
func parseConninfo(s string) ([]conninfoPair, error) {
	var pairs []conninfoPair
	for {
		s = strings.TrimLeft(s, conninfoSpace)
		if s == "" {
			return pairs, nil
		}
		i := strings.IndexAny(s, "="+conninfoSpace)
		if i <= 0 {
			return nil, errors.New("expected key=value")
		}
		key := s[:i]
		s = strings.TrimLeft(s[i:], conninfoSpace)
		if !strings.HasPrefix(s, "=") {
			return nil, errors.New(`missing "=" after a key (quote values that contain spaces)`)
		}
		s = strings.TrimLeft(s[1:], conninfoSpace)
		n, err := conninfoValueLen(s)
		if err != nil {
			return nil, err
		}
		pairs = append(pairs, conninfoPair{key: key, raw: s[:n]})
		s = s[n:]
	}
}

// conninfoValueLen is the length of the value at the start of s: quoted, up
// to the closing quote, or else up to the next space; backslash escapes.
func conninfoValueLen(s string) (int, error) {
	quoted := strings.HasPrefix(s, "'")
	i := 0
	if quoted {
		i = 1
	}
	for ; i < len(s); i++ {
		switch {
		case s[i] == '\\':
			i++
		case quoted && s[i] == '\'':
			return i + 1, nil
		case !quoted && strings.IndexByte(conninfoSpace, s[i]) >= 0:
			return i, nil
		}
	}
	if quoted {
		return 0, errors.New("unterminated quoted value")
	}
	return len(s), nil
}
