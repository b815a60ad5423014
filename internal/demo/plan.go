package demo

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Sizes at Scale 1. Child tables follow the tasks through the per-task
// averages below; activity_log is the largest table (about 1.2M rows).
const (
	baseTenants  = 250
	baseUsers    = 25_000
	baseProjects = 2_500
	baseTasks    = 400_000

	// tenantSkew is the Zipf exponent of tenant size: at Scale 1 the
	// largest tenant owns about a quarter of the tasks and the top 5%
	// about two thirds.
	tenantSkew = 1.2

	// Per-task averages of the generated child rows (see load.go).
	commentsPerTask    = 2.53 // floor of an exponential with mean 3
	labelsPerTask      = 1.05 // 0-3 picks, duplicates dropped
	attachmentsPerTask = 0.31
	activityPerTask    = 3.03 // "created" plus floor of an exponential with mean 2.5
)

// MaxScale is the largest scale the demo loads: 40 million tasks.
const MaxScale = 100

// plan is the deterministic shape of the generated data: how many users,
// labels and tasks each tenant has and how the tasks spread over projects.
// Ids are identity values assigned in plan order, so tenant i has id i+1.
type plan struct {
	tenants  []tenantPlan
	projects []projectPlan
}

type tenantPlan struct {
	slug, name, tier string
	users, labels    int
	tasks            int
	firstUser        int64 // id of the tenant's first user
	firstLabel       int64
}

type projectPlan struct {
	tenantID  int64
	key, name string
	tasks     int
}

// newPlan sizes the data for scale (1 = default).
func newPlan(scale float64) (*plan, error) {
	if math.IsNaN(scale) || scale <= 0 || scale > MaxScale {
		return nil, fmt.Errorf("demo scale %v: want a number above 0 and at most %d", scale, MaxScale)
	}
	n := func(base, least int) int { return max(least, int(math.Round(float64(base)*scale))) }
	nTenants := n(baseTenants, 5)

	zipf := make([]float64, nTenants)
	for i := range zipf {
		zipf[i] = math.Pow(float64(i+1), -tenantSkew)
	}
	powered := func(p float64) []float64 {
		w := make([]float64, len(zipf))
		for i, z := range zipf {
			w[i] = math.Pow(z, p)
		}
		return w
	}
	users := apportion(n(baseUsers, 100), powered(0.9), 3)
	tasks := apportion(n(baseTasks, 2000), zipf, 20)
	projects := apportion(n(baseProjects, 20), powered(0.6), 1)

	p := &plan{tenants: make([]tenantPlan, nTenants)}
	nextUser, nextLabel := int64(1), int64(1)
	for i := range p.tenants {
		t := &p.tenants[i]
		t.slug, t.name = tenantName(i)
		t.tier = tierOf(i, nTenants)
		t.users, t.tasks = users[i], tasks[i]
		t.labels = min(len(labelNames), 5+t.tasks/4000)
		t.firstUser, t.firstLabel = nextUser, nextLabel
		nextUser += int64(t.users)
		nextLabel += int64(t.labels)

		// Big tenants have more projects, and within a tenant a few
		// projects hold most tasks; every project has a few tasks.
		nProjects := max(1, min(projects[i], t.tasks/5))
		weights := make([]float64, nProjects)
		for j := range weights {
			weights[j] = math.Pow(float64(j+1), -0.8)
		}
		for j, k := range apportion(t.tasks, weights, 1) {
			name, key := projectName(j)
			p.projects = append(p.projects, projectPlan{tenantID: int64(i + 1), key: key, name: name, tasks: k})
		}
	}
	return p, nil
}

// apportion splits total into len(weights) parts, each at least least, in
// proportion to weights, by largest remainder: the parts sum to
// max(total, least*len(weights)) exactly.
func apportion(total int, weights []float64, least int) []int {
	parts := make([]int, len(weights))
	rest := total - least*len(weights)
	var sum float64
	for _, w := range weights {
		sum += w
	}
	type frac struct {
		i int
		f float64
	}
	fracs := make([]frac, len(weights))
	given := 0
	for i, w := range weights {
		parts[i] = least
		if rest <= 0 {
			continue
		}
		q := float64(rest) * w / sum
		parts[i] += int(q)
		given += int(q)
		fracs[i] = frac{i, q - math.Floor(q)}
	}
	if rest <= 0 {
		return parts
	}
	sort.SliceStable(fracs, func(a, b int) bool { return fracs[a].f > fracs[b].f })
	for k := 0; k < rest-given; k++ {
		parts[fracs[k].i]++
	}
	return parts
}

// expectedRows is the designed size of every table: exact for the tables
// the plan sizes, the per-task average for the randomly generated ones.
func (p *plan) expectedRows() map[string]int64 {
	var users, labels, tasks int64
	for _, t := range p.tenants {
		users += int64(t.users)
		labels += int64(t.labels)
		tasks += int64(t.tasks)
	}
	per := func(avg float64) int64 { return int64(math.Round(avg * float64(tasks))) }
	return map[string]int64{
		"tenants":      int64(len(p.tenants)),
		"users":        users,
		"memberships":  users + users/20, // every 20th user also guests in another tenant
		"projects":     int64(len(p.projects)),
		"labels":       labels,
		"tasks":        tasks,
		"comments":     per(commentsPerTask),
		"task_labels":  per(labelsPerTask),
		"attachments":  per(attachmentsPerTask),
		"activity_log": per(activityPerTask),
	}
}

// Columns of the plan as arrays, for unnest() in the load statements.

func (p *plan) tenantColumns() (slugs, names, tiers []string, users, labels []int32, firstUsers, firstLabels []int64) {
	for _, t := range p.tenants {
		slugs, names, tiers = append(slugs, t.slug), append(names, t.name), append(tiers, t.tier)
		users, labels = append(users, int32(t.users)), append(labels, int32(t.labels))
		firstUsers, firstLabels = append(firstUsers, t.firstUser), append(firstLabels, t.firstLabel)
	}
	return
}

func (p *plan) projectColumns() (tenants []int64, keys, names []string, tasks []int32) {
	for _, pr := range p.projects {
		tenants, keys, names = append(tenants, pr.tenantID), append(keys, pr.key), append(names, pr.name)
		tasks = append(tasks, int32(pr.tasks))
	}
	return
}

func tenantName(i int) (slug, name string) {
	a := companyWords[i%len(companyWords)]
	b := companySuffixes[(i/len(companyWords))%len(companySuffixes)]
	name = a + " " + b
	slug = strings.ToLower(strings.ReplaceAll(name, " ", "-")) + "-" + strconv.Itoa(i+1)
	return slug, name
}

func tierOf(i, n int) string {
	switch f := float64(i) / float64(n); {
	case f < 0.05:
		return "enterprise"
	case f < 0.2:
		return "business"
	case f < 0.5:
		return "team"
	default:
		return "free"
	}
}

// projectName names a tenant's j-th project; keys are unique per tenant.
func projectName(j int) (name, key string) {
	p := projectNames[j%len(projectNames)]
	round := j / len(projectNames)
	if round == 0 {
		return p.name, p.key
	}
	return p.name + " " + strconv.Itoa(round+1), p.key + strconv.Itoa(round+1)
}

var companyWords = []string{
	"Acme", "Northwind", "Bluebird", "Copperleaf", "Driftwood", "Evergreen", "Foxglove", "Granite",
	"Harbor", "Ironwood", "Juniper", "Kestrel", "Lighthouse", "Maple", "Nimbus", "Oakridge",
	"Pinecone", "Quartz", "Redwood", "Silverline", "Tidewater", "Umber", "Vantage", "Willow",
	"Yellowstone", "Zephyr", "Alder", "Beacon", "Cobalt", "Delta", "Ember", "Fjord",
}

var companySuffixes = []string{"Labs", "Systems", "Logistics", "Health", "Media", "Studio", "Capital", "Robotics"}

var projectNames = []struct{ name, key string }{
	{"Website Redesign", "WEB"}, {"Mobile App", "MOB"}, {"Billing", "BILL"}, {"Platform", "PLAT"},
	{"Onboarding", "ONB"}, {"Data Pipeline", "DATA"}, {"Marketing Site", "MKT"}, {"Customer Support", "SUP"},
	{"Security Review", "SEC"}, {"Infrastructure", "INFRA"}, {"Search", "SRCH"}, {"Notifications", "NOTIF"},
	{"Reporting", "REP"}, {"Internal Tools", "TOOLS"}, {"Design System", "DS"}, {"API", "API"},
}

var labelNames = []string{
	"bug", "feature", "chore", "documentation", "design", "backend", "frontend", "urgent",
	"customer", "tech-debt", "security", "performance", "ux", "infra", "testing", "blocked",
	"good-first-issue", "regression", "accessibility", "analytics", "mobile", "billing", "legal", "ops",
	"research", "migration", "api", "data", "release", "spike",
}

var labelColors = []string{
	"#d73a4a", "#a2eeef", "#cfd3d7", "#0075ca", "#e4e669", "#7057ff", "#008672", "#b60205",
	"#fbca04", "#5319e7", "#ee0701", "#0e8a16", "#c5def5", "#1d76db", "#bfd4f2", "#000000",
	"#7057ff", "#d93f0b", "#006b75", "#bfdadc", "#f9d0c4", "#fef2c0", "#c2e0c6", "#e99695",
	"#d4c5f9", "#0052cc", "#5319e7", "#84b6eb", "#0e8a16", "#fbca04",
}

var firstNames = []string{
	"Ada", "Alan", "Amara", "Ana", "Arjun", "Beatriz", "Ben", "Carla", "Chen", "Chloe", "Daniel", "Dara",
	"Elena", "Emeka", "Farah", "Felix", "Grace", "Hana", "Hugo", "Ines", "Ivan", "Jamal", "Julia", "Kai",
	"Karin", "Lars", "Leila", "Liam", "Lucia", "Mateo", "Maya", "Mei", "Nadia", "Noah", "Olga", "Omar",
	"Priya", "Rafael", "Rosa", "Sam", "Sara", "Sofia", "Tariq", "Thea", "Tomas", "Uma", "Yara", "Yusuf",
}

var lastNames = []string{
	"Adeyemi", "Andersen", "Bauer", "Brown", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Haddad",
	"Hansen", "Ivanova", "Jensen", "Kim", "Kowalski", "Lee", "Lopez", "Martin", "Meyer", "Moreau",
	"Nakamura", "Nguyen", "Novak", "Okafor", "Olsen", "Patel", "Petrov", "Quinn", "Rossi", "Santos",
	"Schmidt", "Silva", "Singh", "Smith", "Tanaka", "Torres", "Wang", "Weber", "Wilson", "Zhang",
}

// vocabulary is the word pool of titles, bodies and comments, most common
// first: the generator draws early words far more often, so searches for
// late words are selective. No English stop words.
var vocabulary = []string{
	"update", "fix", "page", "user", "error", "add", "support", "release", "test", "report",
	"dashboard", "login", "api", "button", "data", "customer", "issue", "review", "design", "build",
	"mobile", "invoice", "email", "settings", "search", "export", "import", "account", "team", "project",
	"sync", "upload", "download", "payment", "checkout", "profile", "permissions", "notification", "server", "client",
	"timeout", "latency", "crash", "layout", "style", "copy", "translation", "onboarding", "workflow", "integration",
	"webhook", "token", "session", "password", "reset", "billing", "subscription", "plan", "trial", "upgrade",
	"database", "migration", "index", "query", "cache", "queue", "worker", "schedule", "cron", "backup",
	"restore", "deploy", "rollback", "pipeline", "docker", "kubernetes", "cluster", "node", "memory", "disk",
	"network", "firewall", "certificate", "domain", "redirect", "header", "footer", "sidebar", "modal", "tooltip",
	"dropdown", "calendar", "chart", "table", "filter", "sort", "pagination", "scroll", "keyboard", "shortcut",
	"accessibility", "contrast", "font", "icon", "image", "thumbnail", "preview", "attachment", "comment", "mention",
	"label", "milestone", "sprint", "roadmap", "estimate", "deadline", "priority", "backlog", "epic", "story",
	"analytics", "metric", "tracking", "event", "funnel", "conversion", "retention", "churn", "cohort", "segment",
	"audit", "compliance", "privacy", "consent", "erasure", "encryption", "secret", "vault", "rotation", "policy",
	"locale", "timezone", "currency", "tax", "refund", "discount", "coupon", "receipt", "ledger", "reconciliation",
	"vendor", "contract", "renewal", "quota", "throttle", "ratelimit", "captcha", "spam", "abuse", "moderation",
	"tenant", "workspace", "invite", "role", "admin", "guest", "owner", "ownership", "handover", "escalation",
	"regression", "flaky", "benchmark", "profiling", "heap", "leak", "deadlock", "race", "retry", "idempotency",
	"websocket", "polling", "graphql", "grpc", "protobuf", "schema", "serializer", "parser", "tokenizer", "lexer",
	"kanban", "swimlane", "burndown", "velocity", "retrospective", "standup", "okr", "offsite", "hackathon", "postmortem",
}
