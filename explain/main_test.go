package explain

import (
	"os"
	"testing"

	"github.com/pgadvisor/pgadvisor/internal/pgsandbox"
)

// sandbox is the package's shared primary + replica; nil when PostgreSQL
// could not start (tests then call pgsandbox.Require, which skips).
var sandbox *pgsandbox.Cluster

func TestMain(m *testing.M) {
	opts := pgsandbox.Options{Replica: true, Extensions: []string{"pg_stat_statements", "hypopg"}}
	os.Exit(pgsandbox.Main(m, opts, func(c *pgsandbox.Cluster) int {
		sandbox = c
		return m.Run()
	}))
}
