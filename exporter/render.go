package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

// Formats are the report formats Render accepts.
func Formats() []string { return []string{"text", "markdown", "json", "html"} }

// Render writes the report in format: "text" for a 100-column terminal,
// "markdown" for pull requests and tickets, "json" (the Report itself,
// indented) or "html" (one self-contained file). Nothing is written when
// rendering fails.
func Render(w io.Writer, r *advisor.Report, format string) error {
	if r == nil {
		return errors.New("render report: the report is nil")
	}
	var render func(*bytes.Buffer, *advisor.Report) error
	switch format {
	case "text":
		render = renderText
	case "markdown":
		render = renderMarkdown
	case "json":
		render = renderJSON
	case "html":
		render = renderHTML
	default:
		return fmt.Errorf("render report: unknown format %q, want one of %s", format, strings.Join(Formats(), ", "))
	}
	var buf bytes.Buffer
	if err := render(&buf, r); err != nil {
		return fmt.Errorf("render %s report: %w", format, err)
	}
	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write %s report: %w", format, err)
	}
	return nil
}

// renderJSON writes the Report as indented JSON, with schema_version set
// when the producer left it zero.
func renderJSON(buf *bytes.Buffer, r *advisor.Report) error {
	out := *r
	if out.SchemaVersion == 0 {
		out.SchemaVersion = advisor.SchemaVersion
	}
	enc := json.NewEncoder(buf)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

// reportView is the report arranged for reading: statements ranked,
// findings tied to their statements and grouped by severity,
// recommendations tied to the statements they serve. Every renderer but
// JSON draws from it, so they all say the same thing.
type reportView struct {
	R            *advisor.Report
	Reduction    float64 // estimated share of the workload's execution time saved
	HasReduction bool
	Statements   []*statementView
	Findings     []*findingView // in report order
	Groups       []severityGroup
	Recs         []*recView
}

type statementView struct {
	Rank     int
	S        *advisor.Statement
	Findings []*findingView
}

type findingView struct {
	F    *explain.Finding
	DB   string // its database when the report covers several, else ""
	Rank int    // rank of its statement; 0 when not among the statements
	// Named are the ranks of the statements its Detail names by queryid,
	// by queryid, where they are among the statements.
	Named      map[string]int
	Path       string // plan path of its node, "" for schema findings
	Anchor     string // HTML id
	NodeAnchor string // HTML id of its node in the drawn plan, "" when not drawn
}

type severityGroup struct {
	Severity explain.Severity
	Findings []*findingView
}

type recView struct {
	Rank   int
	R      *advisor.Recommendation
	DB     string // its database when the report covers several, else ""
	Served []gainView
}

// target is what the index is on, and in which database when the report
// covers several: their DDL is alike, and runs only in its own.
func (rv *recView) target() string {
	if rv.DB == "" {
		return rv.R.Target()
	}
	return rv.R.Target() + " in database " + rv.DB
}

// together is ", together with index 4" (or "indexes 4, 6") when every
// statement rv serves is served with other recommendations too: the drop
// of its headline is theirs as much as its own (each statement says what
// it costs without this one). "" otherwise.
func (rv *recView) together() string {
	var with []int
	for _, g := range rv.Served {
		if len(g.With) == 0 {
			return ""
		}
		for _, n := range g.With {
			if !slices.Contains(with, n) {
				with = append(with, n)
			}
		}
	}
	if len(with) == 0 {
		return ""
	}
	slices.Sort(with)
	return ", together " + gainView{With: with}.withNote()
}

type gainView struct {
	G         advisor.StatementGain
	Rank      int     // rank of the statement served; 0 when not among the statements
	Change    float64 // relative change of cost per call, -0.85 for 85% cheaper
	HasChange bool
	With      []int // numbers of the other recommendations its cost after is with
}

// WithLabel introduces the numbers of the other recommendations a
// statement's cost after is with: "with index", "with indexes".
func (g gainView) WithLabel() string {
	if len(g.With) == 1 {
		return "with index"
	}
	return "with indexes"
}

// withNote is "with index 4", "with indexes 4, 6", and what the statement
// costs without this one ("with index 4; 1,549.5 without this one"); ""
// when no other recommendation shares the statement.
func (g gainView) withNote() string {
	if len(g.With) == 0 {
		return ""
	}
	nums := make([]string, len(g.With))
	for i, n := range g.With {
		nums[i] = strconv.Itoa(n)
	}
	return g.WithLabel() + " " + strings.Join(nums, ", ") + g.WithoutNote()
}

// WithoutNote is "; 1,549.5 without this one" where the statement's cost
// without this index is known; "" otherwise.
func (g gainView) WithoutNote() string {
	if g.G.CostWithout <= 0 {
		return ""
	}
	return "; " + fmtNum(g.G.CostWithout) + " without this one"
}

// changeText is the change of the statement's cost per call; "" when unknown.
func (g gainView) changeText() string {
	if !g.HasChange {
		return ""
	}
	return fmtChange(g.Change)
}

func newReportView(r *advisor.Report) *reportView {
	v := &reportView{R: r}
	// A queryid is a hash of the statement's tree, in which tables are
	// oids: two databases cloned from one template share them.
	// A finding from a report older than Finding.Database names none:
	// the first statement of its queryid, in any database, is its.
	type statementKey struct{ database, queryID string }
	ranks := map[statementKey]int{}
	databases := map[string]bool{}
	for i := range r.Statements {
		s := &r.Statements[i]
		sv := &statementView{Rank: i + 1, S: s}
		for _, k := range []statementKey{{s.Database, s.QueryID}, {"", s.QueryID}} {
			if ranks[k] == 0 && s.QueryID != "" {
				ranks[k] = sv.Rank
			}
		}
		databases[s.Database] = true
		v.Statements = append(v.Statements, sv)
	}
	rankOf := func(database, queryID string) int { return ranks[statementKey{database, queryID}] }
	several := len(databases) > 1
	ifSeveral := func(db string) string {
		if several {
			return db
		}
		return ""
	}
	for i := range r.Findings {
		f := &r.Findings[i]
		fv := &findingView{F: f, DB: ifSeveral(f.Database), Rank: rankOf(f.Database, f.QueryID), Path: nodePath(f.Node),
			Anchor: "finding-" + strconv.Itoa(i+1), Named: map[string]int{}}
		for _, m := range queryIDRef.FindAllStringSubmatch(f.Detail, -1) {
			if rank := rankOf(f.Database, m[1]); rank > 0 {
				fv.Named[m[1]] = rank
			}
		}
		v.Findings = append(v.Findings, fv)
		if fv.Rank > 0 {
			sv := v.Statements[fv.Rank-1]
			sv.Findings = append(sv.Findings, fv)
		}
	}
	v.Groups = groupBySeverity(v.Findings)
	recNumber := map[string]int{}
	for i, rec := range r.Recommendations {
		recNumber[rec.ID] = i + 1
	}
	for i := range r.Recommendations {
		rec := &r.Recommendations[i]
		rv := &recView{Rank: i + 1, R: rec, DB: ifSeveral(rec.Database)}
		for _, g := range rec.Statements {
			gv := gainView{G: g, Rank: rankOf(rec.Database, g.QueryID)}
			if rec.Costed() && g.CostBefore > 0 && g.CostAfter >= 0 {
				gv.Change, gv.HasChange = g.CostAfter/g.CostBefore-1, true
			}
			for _, id := range g.With {
				if n := recNumber[id]; n > 0 {
					gv.With = append(gv.With, n)
				}
			}
			slices.Sort(gv.With)
			gv.With = slices.Compact(gv.With)
			rv.Served = append(rv.Served, gv)
		}
		v.Recs = append(v.Recs, rv)
	}
	v.Reduction, v.HasReduction = workloadReduction(r)
	return v
}

// nodePath is the plan path at the start of a Finding.Node label
// ("0.1.0 Sort" -> "0.1.0").
func nodePath(label string) string {
	path, _, _ := strings.Cut(strings.TrimSpace(label), " ")
	return path
}

// severityOrder lists the known severities, most severe first; others
// follow in order of appearance.
var severityOrder = []explain.Severity{explain.Critical, explain.Warning, explain.Info}

func groupBySeverity(fs []*findingView) []severityGroup {
	var groups []severityGroup
	index := map[explain.Severity]int{}
	add := func(s explain.Severity) {
		if _, ok := index[s]; !ok {
			index[s] = len(groups)
			groups = append(groups, severityGroup{Severity: s})
		}
	}
	for _, s := range severityOrder {
		for _, f := range fs {
			if f.F.Severity == s {
				add(s)
				break
			}
		}
	}
	for _, f := range fs {
		add(f.F.Severity)
		g := &groups[index[f.F.Severity]]
		g.Findings = append(g.Findings, f)
	}
	return groups
}

// workloadReduction estimates the share of the window's execution time the
// recommendations would save: for each statement served, the best relative
// drop in planner cost per call over all recommendations, weighted by the
// statement's share of execution time. Overlapping recommendations are not
// summed: a statement gains at most what its best index gives it.
func workloadReduction(r *advisor.Report) (float64, bool) {
	best := map[string]float64{} // queryid -> lowest cost ratio after/before
	for _, rec := range r.Recommendations {
		if !rec.Costed() {
			continue // its "after" is its "before": no drop to count
		}
		for _, g := range rec.Statements {
			if !(g.CostBefore > 0) || !(g.CostAfter >= 0) {
				continue
			}
			ratio := min(g.CostAfter/g.CostBefore, 1)
			if old, ok := best[g.QueryID]; !ok || ratio < old {
				best[g.QueryID] = ratio
			}
		}
	}
	var saved float64
	found := false
	for _, s := range r.Statements {
		ratio, ok := best[s.QueryID]
		if !ok || !(s.WorkloadShare > 0) || s.WorkloadShare > 1 {
			continue
		}
		saved += s.WorkloadShare * (1 - ratio)
		found = true
	}
	return min(saved, 1), found
}

// queryIDRef is a statement named by queryid in a finding's detail.
var queryIDRef = regexp.MustCompile(`queryid (-?[0-9]+)`)

// detail is the finding's detail with each statement it names by queryid
// also named as ref numbers it (#2, statement 2): the text and Markdown
// reports show no queryids.
func (f *findingView) detail(ref func(rank int, queryID string) string) string {
	return queryIDRef.ReplaceAllStringFunc(f.F.Detail, func(m string) string {
		id := strings.TrimPrefix(m, "queryid ")
		if rank, ok := f.Named[id]; ok {
			return ref(rank, id) + " (" + m + ")"
		}
		return m
	})
}

// where says where a finding was seen: its statement's rank (or queryid)
// and plan node, or its table for schema findings.
func (f *findingView) where() string {
	var parts []string
	if f.DB != "" {
		parts = append(parts, "database "+f.DB)
	}
	switch {
	case f.Rank > 0:
		parts = append(parts, "#"+strconv.Itoa(f.Rank))
	case f.F.QueryID != "":
		parts = append(parts, "queryid "+f.F.QueryID)
	}
	switch {
	case f.F.Node != "":
		parts = append(parts, f.F.Node)
	case f.F.Table != "":
		parts = append(parts, f.F.Table)
	}
	switch {
	case len(parts) == 0:
		return "whole database" // the workload's cache hit ratio
	case len(parts) == 1 && f.DB != "":
		return "whole " + parts[0]
	}
	return strings.Join(parts, " ")
}

func validation(rec *advisor.Recommendation) string {
	s := "no"
	switch {
	case rec.Validated:
		s = "yes, costed with a HypoPG hypothetical index"
	case rec.StandIn:
		s = "no, estimated with a stand-in"
	}
	if rec.ValidationNote != "" {
		s += " (" + rec.ValidationNote + ")"
	}
	return s
}

// notCosted stands in for the gain of an index the advisor could not cost
// (HypoPG cannot simulate GIN, and its statements allowed no stand-in):
// its "after" repeats "before", and a 0%
// would read as an index that does nothing.
const notCosted = "not costed"

// gainHeadline is "85.0% less planner cost", or says the gain is not costed.
func gainHeadline(rec *advisor.Recommendation) string {
	if !rec.Costed() {
		return "gain " + notCosted
	}
	return fmtPct(rec.ImprovementPct/100) + " less planner cost"
}

// plannerCost sums up a recommendation's cost evidence:
// "11,416,051 -> 1,718,208 (calls x cost per call over the statements served)".
func plannerCost(rec *advisor.Recommendation, times, arrow string) string {
	return fmtNum(rec.CostBefore) + " " + arrow + " " + costAfter(rec, rec.CostAfter) +
		" (calls " + times + " cost per call over the statements served)"
}

// timeSaved says what the index is estimated to save of the window's
// measured time; "" when nothing was costed.
func timeSaved(rec *advisor.Recommendation) string {
	if rec.TimeSavedMS <= 0 {
		return ""
	}
	return "about " + fmtMS(rec.TimeSavedMS) + " of execution time over the window (each statement's measured time x its planner-cost drop)"
}

// fmtMS formats a time given in ms, in seconds from 1 s up.
func fmtMS(ms float64) string {
	if ms >= 1000 {
		return fmtNum(ms/1000) + " s"
	}
	return fmtNum(ms) + " ms"
}

// costAfter is a cost with the index (the total of the statements served,
// or one's per call), or notCosted.
func costAfter(rec *advisor.Recommendation, cost float64) string {
	if !rec.Costed() {
		return notCosted
	}
	return fmtNum(cost)
}

// sqlKeywords start the fixes that are SQL to run rather than prose.
var sqlKeywords = []string{"ALTER ", "ANALYZE", "CLUSTER ", "CREATE ", "DROP ", "REINDEX ", "RESET ", "SET ", "VACUUM"}

// looksLikeSQL reports whether a fix is a statement to run, so that it can be shown as code.
func looksLikeSQL(s string) bool {
	for _, k := range sqlKeywords {
		if strings.HasPrefix(s, k) {
			return true
		}
	}
	return false
}

func explainMode(s *advisor.Statement) string {
	if s.Explain.Mode == "" {
		return "none"
	}
	return s.Explain.Mode
}

// explainNote says why a statement was not explained with ANALYZE, how
// its explanation failed, or what its run took for values when not the
// usual ones; "" when it ran as planned.
func explainNote(s *advisor.Statement) string {
	e := s.Explain
	ok := e.Outcome == "" || e.Outcome == "ok"
	if e.Mode == "analyze" && ok && e.Error == "" && e.Values == "" {
		return ""
	}
	var b strings.Builder
	switch explainMode(s) {
	case "analyze":
		b.WriteString("EXPLAIN ANALYZE")
	case "generic":
		b.WriteString("generic plan")
	case "none":
		b.WriteString("not explained")
	default:
		b.WriteString(e.Mode)
	}
	if !ok {
		b.WriteString(" (" + e.Outcome + ")")
	}
	for _, s := range []string{e.Reason, e.Error} {
		if s != "" {
			b.WriteString(": " + s)
		}
	}
	return b.String()
}

// Number formatting. Reports show a few significant digits: enough to
// compare, not so many that columns drown in decimals.

// fmtNum formats milliseconds or planner costs with decimals that shrink as
// the number grows: 0.042, 4.21, 625.9, 51,972.
func fmtNum(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return strconv.FormatFloat(v, 'f', -1, 64)
	}
	prec := 0
	switch a := math.Abs(v); {
	case a == 0:
		return "0"
	case a < 1:
		prec = 3
	case a < 100:
		prec = 2
	case a < 10000:
		prec = 1
	}
	return humanize.Thousands(strconv.FormatFloat(v, 'f', prec, 64))
}

// fmtPct formats a fraction as a percentage: 0.3821 -> "38.2%".
func fmtPct(frac float64) string {
	return strconv.FormatFloat(frac*100, 'f', 1, 64) + "%"
}

// fmtChange formats a relative change with its sign: -0.849 -> "-84.9%".
func fmtChange(frac float64) string {
	s := fmtPct(frac)
	if frac > 0 {
		s = "+" + s
	}
	return s
}

// fmtDuration formats a window length: "1h", "1h30m", "45m", "2d3h", "30s".
func fmtDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d < time.Minute {
		return strconv.Itoa(int(d.Round(time.Second)/time.Second)) + "s"
	}
	d = d.Round(time.Minute)
	days, hours, mins := int(d/(24*time.Hour)), int(d/time.Hour)%24, int(d/time.Minute)%60
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{days, "d"}, {hours, "h"}, {mins, "m"}} {
		if p.n > 0 {
			b.WriteString(strconv.Itoa(p.n) + p.unit)
		}
	}
	return b.String()
}

const minuteLayout = "2006-01-02 15:04"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "unknown"
	}
	return t.UTC().Format(minuteLayout) + " UTC"
}

// fmtWindow describes the report window: "2025-01-15 09:00 to 10:00 UTC (1h)".
func fmtWindow(w advisor.ReportWindow) string {
	from, to := w.From.UTC(), w.To.UTC()
	var s string
	switch {
	case w.From.IsZero() && w.To.IsZero():
		s = "unknown window"
	case w.From.IsZero():
		s = "until " + fmtTime(to)
	case w.To.IsZero():
		s = "since " + fmtTime(from)
	case from.Format(time.DateOnly) == to.Format(time.DateOnly):
		s = from.Format(minuteLayout) + " to " + to.Format("15:04") + " UTC (" + fmtDuration(to.Sub(from)) + ")"
	default:
		s = from.Format(minuteLayout) + " to " + to.Format(minuteLayout) + " UTC (" + fmtDuration(to.Sub(from)) + ")"
	}
	if w.Cumulative {
		s += ", cumulative since the last pg_stat_statements reset"
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// summaryParts are the pieces of the one-line summary.
// NoStatements says that the window has no statement; when the report
// has warnings (texts hidden from the role, pg_stat_statements missing in
// a database), that none is visible to the advisor, which is not the same.
func (v *reportView) NoStatements() string {
	if len(v.R.Warnings) > 0 {
		return "No statement the advisor could read ran in the window: see the warnings."
	}
	return "No statements ran in the window."
}

func (v *reportView) summaryParts() []string {
	red := "no estimated workload cost reduction"
	if v.HasReduction {
		red = "estimated workload cost reduction " + fmtPct(v.Reduction)
	}
	return []string{
		plural(len(v.R.Statements), "statement", "statements"),
		plural(len(v.R.Findings), "finding", "findings"),
		plural(len(v.R.Recommendations), "recommendation", "recommendations"),
		red,
	}
}

// clean makes report text safe to print: invalid UTF-8 becomes U+FFFD and
// control characters other than newline and tab are shown escaped (\x1b),
// so a query text cannot drive the reader's terminal.
func clean(s string) string {
	if !strings.ContainsFunc(s, needsEscape) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		switch {
		case !needsEscape(r):
			b.WriteRune(r)
		case r < 0x100:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			fmt.Fprintf(&b, `\u%04x`, r)
		}
	}
	return b.String()
}

func needsEscape(r rune) bool {
	return r != '\n' && r != '\t' &&
		(unicode.IsControl(r) || unicode.Is(unicode.Bidi_Control, r) || r == '\u2028' || r == '\u2029')
}

// oneLine collapses all white space (newlines included) to single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(clean(s)), " ") }

// fixLines are a fix's lines, escaped; none for an empty fix. A fix of
// several lines is a script whose line breaks count (a -- comment ends
// with its line): it is shown line by line, never joined or wrapped.
func fixLines(fix string) []string {
	fix = strings.TrimRight(fix, "\n")
	if fix == "" {
		return nil
	}
	return strings.Split(clean(fix), "\n")
}

// abbreviate cuts s to at most width runes, marking the cut with "…".
func abbreviate(s string, width int) string {
	if width <= 0 {
		return ""
	}
	if utf8.RuneCountInString(s) <= width {
		return s
	}
	runes := []rune(s)
	return strings.TrimRight(string(runes[:width-1]), " ") + "…"
}
