package exporter

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"strconv"
	"strings"
	"sync"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

//go:embed templates/report.html.tmpl templates/report.css templates/report.js
var templateFS embed.FS

// htmlPolicy is the HTML report's Content-Security-Policy, sent as a
// header by the agent and repeated in a meta tag for a saved file: the
// page's own inline style and its one script, by hash, run; nothing loads.
// Were escaping ever to slip, injected markup could run no script of its
// own, and so neither read the page nor send it anywhere.
var htmlPolicy = sync.OnceValue(func() string {
	js, err := templateFS.ReadFile("templates/report.js")
	script := "'none'" // cannot happen: the script is embedded
	if err == nil {
		sum := sha256.Sum256(js)
		script = "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	return "default-src 'none'; style-src 'unsafe-inline'; script-src " + script + "; base-uri 'none'; form-action 'none'"
})

// htmlView is what the HTML template draws.
type htmlView struct {
	*reportView
	CSS        template.CSS // trusted: embedded in the binary
	JS         template.JS
	Policy     string // htmlPolicy
	Statements []*htmlStatement
	Severities map[string]int // findings per severity class
}

type htmlStatement struct {
	*statementView
	Plan *planView // nil when there is no plan to draw
}

type planView struct {
	Root     *nodeView
	Nodes    int
	Analyzed bool
	Time     float64 // ms, when analyzed
}

// nodeView is one plan node as the tree draws it.
type nodeView struct {
	Anchor    string // HTML id
	Path      string
	Name      string
	Analyzed  bool
	Executed  bool
	PlanRows  float64
	Rows      float64 // actual rows per loop
	Loops     float64
	Time      float64 // inclusive ms
	SelfTime  float64 // exclusive ms
	SelfShare float64 // exclusive time as a fraction of the statement's
	Cost      float64
	Details   []nodeDetail
	Findings  []*findingView
	Severity  string // class of the most severe finding, "" without findings
	Children  []*nodeView
}

type nodeDetail struct{ Label, Value string }

func renderHTML(buf *bytes.Buffer, r *advisor.Report) error {
	tmpl, err := htmlTemplate()
	if err != nil {
		return err
	}
	css, err := templateFS.ReadFile("templates/report.css")
	if err != nil {
		return fmt.Errorf("read embedded stylesheet: %w", err)
	}
	js, err := templateFS.ReadFile("templates/report.js")
	if err != nil {
		return fmt.Errorf("read embedded script: %w", err)
	}
	v := &htmlView{
		reportView: newReportView(r),
		CSS:        template.CSS(css),
		JS:         template.JS(js),
		Policy:     htmlPolicy(),
		Severities: map[string]int{},
	}
	for _, f := range v.Findings {
		v.Severities[severityClass(f.F.Severity)]++
	}
	for _, sv := range v.reportView.Statements {
		v.Statements = append(v.Statements, &htmlStatement{statementView: sv, Plan: newPlanView(sv)})
	}
	var page strings.Builder
	if err := tmpl.Execute(&page, v); err != nil {
		return fmt.Errorf("execute HTML template: %w", err)
	}
	// html/template escapes markup but passes control and bidi characters
	// through: a query text could reorder what the page shows (U+202E) or
	// drive the terminal of whoever curls it. Like the text report, the
	// page shows them escaped.
	buf.WriteString(clean(page.String()))
	return nil
}

// htmlTemplate is parsed once: the agent renders a report on every
// request for one, and a parsed template is safe for concurrent use.
var htmlTemplate = sync.OnceValues(parseHTMLTemplate)

func parseHTMLTemplate() (*template.Template, error) {
	funcs := template.FuncMap{
		"count":    humanize.Count,
		"num":      fmtNum,
		"pct":      fmtPct,
		"change":   fmtChange,
		"bytes":    humanize.Bytes,
		"saved":    timeSaved,
		"time":     fmtTime,
		"window":   fmtWindow,
		"mode":     explainMode,
		"note":     explainNote,
		"validity": validation,
		"sev":      severityClass,
		"title":    severityTitle,
		"stmtRef":  statementRef,
		"oneLine":  oneLine,
		"short":    func(s string) string { return abbreviate(oneLine(s), 140) },
		"width":    barWidth,
		"gain": func(rec *advisor.Recommendation) string {
			if !rec.Costed() {
				return notCosted
			}
			return fmtChange(-rec.ImprovementPct / 100)
		},
		"costAfter": costAfter,
		"int64f":    func(n int64) float64 { return float64(n) },
		"inc":       func(i int) int { return i + 1 },
		"sql":       looksLikeSQL,
	}
	tmpl, err := template.New("report.html.tmpl").Funcs(funcs).ParseFS(templateFS, "templates/report.html.tmpl")
	if err != nil {
		return nil, fmt.Errorf("parse HTML template: %w", err)
	}
	return tmpl, nil
}

// barWidth is a fraction as a CSS percentage, clamped to 0-100.
func barWidth(frac float64) string {
	if !(frac > 0) {
		return "0"
	}
	return strconv.FormatFloat(min(frac, 1)*100, 'f', 1, 64)
}

// severityClass maps a finding's severity to a CSS class name; unknown
// severities (from hand-edited reports) look like info.
func severityClass(s explain.Severity) string {
	switch s {
	case explain.Critical, explain.Warning:
		return string(s)
	default:
		return string(explain.Info)
	}
}

// newPlanView draws a statement's plan, marking the nodes its findings name.
func newPlanView(sv *statementView) *planView {
	p := sv.S.Plan // linked: by ParsePlan, or by Plan.UnmarshalJSON in a decoded report
	if p == nil || p.Root == nil {
		return nil
	}
	byPath := map[string][]*findingView{}
	for _, f := range sv.Findings {
		if f.Path != "" {
			byPath[f.Path] = append(byPath[f.Path], f)
		}
	}
	analyzed, total := p.Analyzed(), p.TotalTime()
	pv := &planView{Analyzed: analyzed, Time: total}
	views := map[string]*nodeView{}
	p.Walk(func(path string, n *explain.Node) bool {
		v := &nodeView{
			Anchor:   "node-" + strconv.Itoa(sv.Rank) + "-" + path,
			Path:     path,
			Name:     n.Name(),
			Analyzed: analyzed,
			Executed: n.Executed(),
			PlanRows: n.PlanRows,
			Rows:     n.ActualRows,
			Loops:    n.ActualLoops,
			Time:     n.InclusiveTime(),
			SelfTime: n.ExclusiveTime(),
			Cost:     n.TotalCost,
			Details:  nodeDetails(n),
			Findings: byPath[path],
		}
		if total > 0 {
			v.SelfShare = v.SelfTime / total
		}
		for _, f := range v.Findings {
			if f.Rank == sv.Rank {
				f.NodeAnchor = v.Anchor
			}
			if c := severityClass(f.F.Severity); v.Severity == "" || severityRank(c) > severityRank(v.Severity) {
				v.Severity = c
			}
		}
		views[path] = v
		if i := strings.LastIndexByte(path, '.'); i >= 0 && views[path[:i]] != nil {
			parent := views[path[:i]]
			parent.Children = append(parent.Children, v)
		} else {
			pv.Root = v
		}
		pv.Nodes++
		return true
	})
	return pv
}

func severityRank(class string) int {
	switch class {
	case string(explain.Critical):
		return 2
	case string(explain.Warning):
		return 1
	default:
		return 0
	}
}

// nodeDetails are the conditions and keys that explain what a node does.
func nodeDetails(n *explain.Node) []nodeDetail {
	var out []nodeDetail
	add := func(label, value string) {
		if value != "" {
			out = append(out, nodeDetail{label, value})
		}
	}
	add("Index Cond", n.IndexCond)
	add("Recheck Cond", n.RecheckCond)
	add("Hash Cond", n.HashCond)
	add("Merge Cond", n.MergeCond)
	add("Join Filter", n.JoinFilter)
	add("Filter", n.Filter)
	if n.RowsRemovedByFilter > 0 {
		add("Removed by filter", humanize.Count(n.TotalRowsRemovedByFilter())+" rows")
	}
	add("Sort Key", strings.Join(n.SortKey, ", "))
	if n.SortMethod != "" {
		add("Sort Method", n.SortMethod+", "+strconv.FormatInt(n.SortSpaceUsed, 10)+" kB "+strings.ToLower(n.SortSpaceType))
	}
	add("Group Key", strings.Join(n.GroupKey, ", "))
	if n.HashBatches > 1 {
		add("Hash Batches", strconv.FormatInt(n.HashBatches, 10))
	}
	if read := n.SharedReadBlocks + n.LocalReadBlocks + n.TempReadBlocks; read > 0 {
		add("Blocks read", humanize.Count(float64(read)))
	}
	return out
}
