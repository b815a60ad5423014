package explain

import (
	"testing"

	pg_query "github.com/pganalyze/pg_query_go/v5"
)

func TestReparseable(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"SELECT * FROM t WHERE d <= date $1 - interval $2 day",
			"SELECT * FROM t WHERE d <= $1::date - ($2::text || ' day')::interval"},
		{"SELECT * FROM t WHERE a >= DATE $1 AND a < DATE $1 + INTERVAL $2 MONTH",
			"SELECT * FROM t WHERE a >= $1::date AND a < $1::date + ($2::text || ' month')::interval"},
		{"SELECT timestamp with time zone $3, interval $4", "SELECT $3::timestamp with time zone, $4::interval"},
		{"SELECT 'date $1', \"date $1\" /* date $1 */ FROM t -- date $1\nWHERE x = date $1",
			"SELECT 'date $1', \"date $1\" /* date $1 */ FROM t -- date $1\nWHERE x = $1::date"},
		{"SELECT * FROM t WHERE updated_at > $1", "SELECT * FROM t WHERE updated_at > $1"},
		{"SELECT 'unterminated date $1", "SELECT 'unterminated date $1"},
	} {
		got := Reparseable(tt.in)
		if got != tt.want {
			t.Errorf("Reparseable(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
		if _, err := pg_query.Parse(got); err != nil && tt.want != "SELECT 'unterminated date $1" {
			t.Errorf("Reparseable(%q) does not parse: %v", tt.in, err)
		}
	}
}
