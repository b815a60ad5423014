package collector

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/pgadvisor/pgadvisor/internal/dbconn"
)

// WithDatabase returns dsn with its database replaced by db, every other
// setting (password included) kept, to reach another database of the same
// server. It accepts URLs (postgres://, postgresql://) and key=value
// strings. Errors never quote dsn: it may hold a password.
func WithDatabase(dsn, db string) (string, error) {
	if db == "" {
		return "", errors.New("with database: empty database name")
	}
	if scheme, userinfo, rest, hasUserinfo, ok := dbconn.SplitURL(dsn); ok {
		if hasUserinfo {
			scheme += userinfo + "@"
		}
		return urlWithDatabase(scheme, rest, db), nil
	}
	return conninfoWithDatabase(dsn, db)
}

// urlWithDatabase sets the path of a URL after its prefix (scheme and
// userinfo), and its dbname parameter when there is one (it would win over
// the path). It splits the URL by hand: net/url rejects multi-host URLs
// (host1:5432,host2:5432).
func urlWithDatabase(prefix, rest, db string) string {
	rest, fragment, hasFragment := strings.Cut(rest, "#")
	rest, query, hasQuery := strings.Cut(rest, "?")
	hosts, _, _ := strings.Cut(rest, "/")
	out := prefix + hosts + "/" + url.PathEscape(db)
	if hasQuery {
		params := strings.Split(query, "&")
		for i, p := range params {
			key, _, _ := strings.Cut(p, "=")
			if k, err := url.QueryUnescape(key); err == nil && k == "dbname" {
				params[i] = "dbname=" + url.QueryEscape(db)
			}
		}
		out += "?" + strings.Join(params, "&")
	}
	if hasFragment {
		out += "#" + fragment
	}
	return out
}

// conninfoWithDatabase replaces every dbname value of a key=value string
// (libpq takes the last), or appends one, following libpq's rules: values
// are bare or single-quoted, with backslash escapes.
func conninfoWithDatabase(dsn, db string) (string, error) {
	quoted := "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(db) + "'"
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v' }
	var spans [][2]int // of dbname values
	i := 0
	skip := func() {
		for i < len(dsn) && isSpace(dsn[i]) {
			i++
		}
	}
	for skip(); i < len(dsn); skip() {
		start := i
		for i < len(dsn) && dsn[i] != '=' && !isSpace(dsn[i]) {
			i++
		}
		key := dsn[start:i]
		skip()
		if i >= len(dsn) || dsn[i] != '=' {
			return "", fmt.Errorf("with database: connection string: missing \"=\" after %q (offset %d)", key, start)
		}
		i++
		skip()
		valueStart := i
		if i < len(dsn) && dsn[i] == '\'' {
			for i++; i < len(dsn) && dsn[i] != '\''; i++ {
				if dsn[i] == '\\' {
					i++
				}
			}
			if i >= len(dsn) {
				return "", fmt.Errorf("with database: connection string: unterminated quoted value of %q (offset %d)", key, valueStart)
			}
			i++
		} else {
			for ; i < len(dsn) && !isSpace(dsn[i]); i++ {
				if dsn[i] == '\\' {
					i++
				}
			}
			i = min(i, len(dsn))
		}
		if key == "dbname" {
			spans = append(spans, [2]int{valueStart, i})
		}
	}
	if len(spans) == 0 {
		return strings.TrimSpace(dsn + " dbname=" + quoted), nil
	}
	for j := len(spans) - 1; j >= 0; j-- {
		dsn = dsn[:spans[j][0]] + quoted + dsn[spans[j][1]:]
	}
	return dsn, nil
}
