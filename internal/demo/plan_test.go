package demo

import (
	"math"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

func TestPlanDefaultScale(t *testing.T) {
	p, err := newPlan(1)
	if err != nil {
		t.Fatal(err)
	}
	rows := p.expectedRows()
	if rows["tasks"] != baseTasks || rows["tenants"] != baseTenants || rows["users"] != baseUsers {
		t.Errorf("scale 1: %d tasks, %d tenants, %d users; want %d, %d, %d",
			rows["tasks"], rows["tenants"], rows["users"], baseTasks, baseTenants, baseUsers)
	}
	largest := ""
	for table, n := range rows {
		if largest == "" || n > rows[largest] {
			largest = table
		}
	}
	if largest != "activity_log" || rows[largest] < 1_000_000 {
		t.Errorf("the largest table is %s with %d rows, want activity_log with at least 1M", largest, rows[largest])
	}

	// A few tenants own most of the data.
	top := func(n int) float64 {
		var sum int
		for _, tp := range p.tenants[:n] {
			sum += tp.tasks
		}
		return float64(sum) / baseTasks
	}
	if share := top(1); share < 0.2 {
		t.Errorf("the largest tenant owns %.0f%% of the tasks, want at least 20%%", 100*share)
	}
	if share := top(len(p.tenants) / 20); share < 0.6 {
		t.Errorf("the top 5%% of tenants own %.0f%% of the tasks, want at least 60%%", 100*share)
	}

	// Projects and users follow the tenants, and ids line up with the plan.
	perTenant := map[int64]int{}
	for _, pr := range p.projects {
		perTenant[pr.tenantID] += pr.tasks
		if pr.tasks < 1 {
			t.Fatalf("project %+v has no tasks", pr)
		}
	}
	next := int64(1)
	for i, tp := range p.tenants {
		if perTenant[int64(i+1)] != tp.tasks {
			t.Errorf("tenant %d: projects hold %d tasks, the tenant %d", i+1, perTenant[int64(i+1)], tp.tasks)
		}
		if tp.firstUser != next || tp.users < 3 || tp.labels < 5 || tp.labels > len(labelNames) {
			t.Errorf("tenant %d: first user %d (want %d), %d users, %d labels", i+1, tp.firstUser, next, tp.users, tp.labels)
		}
		next += int64(tp.users)
	}
}

func TestPlanKeysAreValid(t *testing.T) {
	p, err := newPlan(2)
	if err != nil {
		t.Fatal(err)
	}
	slug := regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,62}$`)
	key := regexp.MustCompile(`^[A-Z][A-Z0-9]{1,9}$`)
	slugs := map[string]bool{}
	for _, tp := range p.tenants {
		if !slug.MatchString(tp.slug) || slugs[tp.slug] {
			t.Errorf("tenant slug %q is invalid or repeated", tp.slug)
		}
		slugs[tp.slug] = true
	}
	keys := map[[2]any]bool{}
	for _, pr := range p.projects {
		k := [2]any{pr.tenantID, pr.key}
		if !key.MatchString(pr.key) || keys[k] {
			t.Errorf("project key %q of tenant %d is invalid or repeated", pr.key, pr.tenantID)
		}
		keys[k] = true
	}
	if len(labelColors) != len(labelNames) {
		t.Errorf("%d label colours for %d labels", len(labelColors), len(labelNames))
	}
}

func TestPlanScales(t *testing.T) {
	for _, scale := range []float64{0, -1, math.NaN(), math.Inf(1), MaxScale + 1} {
		if _, err := newPlan(scale); err == nil || !strings.Contains(err.Error(), "scale") {
			t.Errorf("newPlan(%v): got %v, want an error naming the scale", scale, err)
		}
	}
	small, err := newPlan(0.02)
	if err != nil {
		t.Fatal(err)
	}
	if n := small.expectedRows()["tasks"]; n != 8000 {
		t.Errorf("scale 0.02 plans %d tasks, want 8000", n)
	}
}

func TestApportion(t *testing.T) {
	for _, c := range []struct {
		total, least int
		weights      []float64
	}{
		{100, 1, []float64{1, 1, 1}},
		{10, 0, []float64{5, 3, 2}},
		{7, 3, []float64{1, 1, 1}}, // less than the minimum: every part gets it
		{1000, 2, []float64{1, 0.5, 0.33, 0.25, 0.2}},
	} {
		parts := apportion(c.total, c.weights, c.least)
		sum := 0
		for _, p := range parts {
			sum += p
			if p < c.least {
				t.Errorf("apportion(%d, %v, %d) = %v: a part under the minimum", c.total, c.weights, c.least, parts)
			}
		}
		if want := max(c.total, c.least*len(c.weights)); sum != want {
			t.Errorf("apportion(%d, %v, %d) = %v sums to %d, want %d", c.total, c.weights, c.least, parts, sum, want)
		}
		if !slices.IsSortedFunc(parts, func(a, b int) int { return b - a }) {
			t.Errorf("apportion(%d, %v, %d) = %v does not follow the falling weights", c.total, c.weights, c.least, parts)
		}
	}
}

func TestStatements(t *testing.T) {
	names := map[string]bool{}
	kinds := map[Expectation]int{}
	for _, s := range statements() {
		if names[s.Name] {
			t.Errorf("two statements named %s", s.Name)
		}
		names[s.Name] = true
		kinds[s.Expect]++
		if s.weight <= 0 || s.args == nil || s.Demonstrates == "" || s.Advice == "" || s.Table == "" {
			t.Errorf("%s: weight, args, description, advice and table are all required", s.Name)
		}
		if !strings.Contains(s.SQL, "$1") {
			t.Errorf("%s: the statement takes no parameters: %s", s.Name, s.SQL)
		}
		if s.ReadOnly != strings.HasPrefix(s.SQL, "SELECT ") {
			t.Errorf("%s: ReadOnly is %v for %q", s.Name, s.ReadOnly, s.SQL)
		}
		if (s.Expect == ExpectIndex) != (s.WantIndex != "") {
			t.Errorf("%s: expects %v with WantIndex %q", s.Name, s.Expect, s.WantIndex)
		}
		if s.WantIndex != "" && !strings.Contains(s.WantIndex, " ON "+s.Table+" ") {
			t.Errorf("%s: WantIndex %q is not on %s", s.Name, s.WantIndex, s.Table)
		}
	}
	if kinds[ExpectIndex] < 5 || kinds[ExpectNothing] < 2 || kinds[ExpectFinding] < 2 {
		t.Errorf("expectations %v: want at least 5 index, 2 nothing, 2 finding statements", kinds)
	}
	if got := len(Statements()); got != len(names) {
		t.Errorf("Statements() has %d entries, want %d", got, len(names))
	}
	if ExpectIndex.String() != "index" || Expectation(9).String() != "unknown" {
		t.Errorf("Expectation strings: %q %q", ExpectIndex, Expectation(9))
	}
}

func TestSchemaHasEveryTable(t *testing.T) {
	ddl := Schema()
	for table := range (&plan{}).expectedRows() {
		if !strings.Contains(ddl, "CREATE TABLE "+table+" (") {
			t.Errorf("Schema() does not create %s", table)
		}
	}
	stmts, err := sqltree.Statements(keysSQL)
	if err != nil || len(stmts) < 20 {
		t.Errorf("keys.sql splits into %d statements: %v", len(stmts), err)
	}
	for _, s := range stmts {
		if strings.Contains(s, ";") || strings.HasPrefix(s, "--") {
			t.Errorf("badly split statement: %q", s)
		}
	}
}
