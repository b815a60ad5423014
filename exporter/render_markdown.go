package exporter

import (
	"bytes"
	"cmp"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/explain"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
)

// mdQueryWidth is how much of a query the statements table shows.
const mdQueryWidth = 100

func renderMarkdown(buf *bytes.Buffer, r *advisor.Report) error {
	v := newReportView(r)
	m := mdWriter{buf}
	m.para("# pgadvisor report: " + mdText(r.Target))
	m.para("Generated " + fmtTime(r.GeneratedAt) + " · window " + mdText(fmtWindow(r.Window)))
	m.para("**" + mdText(strings.Join(v.summaryParts(), " · ")) + "**")

	m.para("## Top statements")
	if len(v.Statements) == 0 {
		m.para(v.NoStatements())
	} else {
		m.line("| # | Share | Calls | Mean ms | Total ms | Explain | Query |")
		m.line("|--:|--:|--:|--:|--:|:--|:--|")
		var notes []string
		for _, sv := range v.Statements {
			s := sv.S
			m.row(strconv.Itoa(sv.Rank), fmtPct(s.WorkloadShare), humanize.Count(float64(s.Calls)),
				fmtNum(s.MeanExecTimeMS), fmtNum(s.TotalExecTimeMS), mdText(explainMode(s)),
				tableCode(abbreviate(oneLine(s.Query), mdQueryWidth)))
			if n := explainNote(s); n != "" {
				notes = append(notes, "- **Statement "+strconv.Itoa(sv.Rank)+":** "+mdText(n))
			}
		}
		m.line("")
		if len(notes) > 0 {
			m.para(strings.Join(notes, "\n"))
		}
	}

	m.para("## Problems found")
	if len(v.Findings) == 0 {
		m.para("No problems found.")
	}
	for _, g := range v.Groups {
		m.para("### " + mdText(severityTitle(g.Severity)) + " (" + strconv.Itoa(len(g.Findings)) + ")")
		m.line("| Kind | Where | Detail | Fix |")
		m.line("|:--|:--|:--|:--|")
		for _, f := range g.Findings {
			fix := mdText(f.F.Fix)
			if lines := fixLines(f.F.Fix); len(lines) > 1 {
				for i, l := range lines {
					lines[i] = tableCode(l)
				}
				fix = strings.Join(lines, "<br>") // a line comment ends with its line
			} else if looksLikeSQL(f.F.Fix) {
				fix = tableCode(f.F.Fix)
			}
			m.row(tableCode(f.F.Kind), mdWhere(f), mdText(f.detail(mdStatementRef)), fix)
		}
		m.line("")
	}

	m.para("## Recommended indexes")
	if len(v.Recs) == 0 {
		m.para("No index to recommend.")
	}
	for _, rv := range v.Recs {
		m.recommendation(rv)
	}

	if len(r.Warnings) > 0 {
		m.para("## Warnings")
		items := make([]string, len(r.Warnings))
		for i, w := range r.Warnings {
			items[i] = "- " + mdText(w)
		}
		m.para(strings.Join(items, "\n"))
	}
	// A file ends with one newline, not a blank line.
	if b := buf.Bytes(); bytes.HasSuffix(b, []byte("\n\n")) {
		buf.Truncate(len(b) - 1)
	}
	return nil
}

type mdWriter struct{ buf *bytes.Buffer }

func (m mdWriter) line(s string) {
	m.buf.WriteString(s)
	m.buf.WriteByte('\n')
}

// para writes a block followed by a blank line.
func (m mdWriter) para(s string) { m.line(s + "\n") }

func (m mdWriter) row(cells ...string) {
	m.line("| " + strings.Join(cells, " | ") + " |")
}

func (m mdWriter) sql(code string) {
	code = strings.TrimSpace(clean(code))
	fence := strings.Repeat("`", max(3, longestRun(code, '`')+1))
	m.para(fence + "sql\n" + code + "\n" + fence)
}

func (m mdWriter) recommendation(rv *recView) {
	rec := rv.R
	target := codeSpan(rec.Target())
	if rv.DB != "" {
		target += " in database " + mdText(rv.DB)
	}
	m.para(fmt.Sprintf("### %d. %s: %s, %s%s", rv.Rank, target, mdText(rec.Method), gainHeadline(rec), rv.together()))
	m.sql(rec.DDL)
	var facts []string
	fact := func(label, value string) { facts = append(facts, "- **"+label+":** "+value) }
	if rec.Reason != "" {
		fact("Why", mdText(rec.Reason))
	}
	fact("Planner cost", plannerCost(rec, "×", "→"))
	if saved := timeSaved(rec); saved != "" {
		fact("Time saved", mdText(strings.ReplaceAll(saved, " x ", " × ")))
	}
	fact("Estimated size", humanize.Bytes(rec.EstimatedSizeBytes))
	fact("Validated", mdText(validation(rec)))
	if rec.WriteOverhead != "" {
		fact("Write overhead", mdText(rec.WriteOverhead))
	}
	m.para(strings.Join(facts, "\n"))
	if len(rv.Served) > 0 {
		m.line("| Statement | Calls | Cost per call before | After | Change |")
		m.line("|:--|--:|--:|--:|--:|")
		for _, g := range rv.Served {
			change := cmp.Or(g.changeText(), "n/a")
			if note := g.withNote(); note != "" {
				change += " " + note
			}
			m.row(mdStatementRef(g.Rank, g.G.QueryID), humanize.Count(g.G.Calls),
				fmtNum(g.G.CostBefore), costAfter(rec, g.G.CostAfter), change)
		}
		m.line("")
	}
	if rec.VerifySQL != "" {
		m.para("After building, verify:")
		m.sql(rec.VerifySQL)
	}
}

// mdStatementRef names a statement without "#": GitHub would link "#1" to issue 1.
func mdStatementRef(rank int, queryID string) string {
	if rank > 0 {
		return "statement " + strconv.Itoa(rank)
	}
	return "queryid " + mdText(queryID)
}

func severityTitle(s explain.Severity) string {
	r, size := utf8.DecodeRuneInString(string(s))
	if size == 0 {
		return "Unspecified"
	}
	return string(unicode.ToUpper(r)) + string(s[size:])
}

func mdWhere(f *findingView) string {
	var parts []string
	if f.DB != "" {
		parts = append(parts, "database "+mdText(f.DB))
	}
	if f.Rank > 0 || f.F.QueryID != "" {
		parts = append(parts, mdStatementRef(f.Rank, f.F.QueryID))
	}
	switch {
	case f.F.Node != "":
		parts = append(parts, tableCode(f.F.Node))
	case f.F.Table != "":
		parts = append(parts, tableCode(f.F.Table))
	}
	if len(parts) == 0 {
		return "whole database"
	}
	return strings.Join(parts, " ")
}

// mdText makes text safe in a Markdown line or table cell: one line, with
// the characters that would start emphasis, code, links, HTML or a new
// table cell escaped. What GitHub turns into mentions, issue references and
// links without any markup (@user, #12, https://..., www....), which a
// name or an error message from the database can hold, gets a word joiner
// (U+2060, invisible) that breaks it: a report pasted into a pull request
// notifies no one and links nowhere.
func mdText(s string) string {
	s = oneLine(s)
	var b strings.Builder
	runes := []rune(s)
	next := func(i int) rune {
		if i+1 < len(runes) {
			return runes[i+1]
		}
		return 0
	}
	for i, r := range runes {
		switch r {
		case '\\', '`', '*', '[', ']', '<', '>', '|', '~', '&':
			b.WriteByte('\\')
		case '_':
			// GitHub ignores underscores inside words (tenant_id); escape the rest.
			if i == 0 || i == len(runes)-1 || !isWordRune(runes[i-1]) || !isWordRune(runes[i+1]) {
				b.WriteByte('\\')
			}
		case '.':
			if i >= 3 && strings.EqualFold(string(runes[i-3:i]), "www") {
				b.WriteRune(wordJoiner)
			}
		}
		b.WriteRune(r)
		switch {
		case (r == '@' || r == '#') && isWordRune(next(i)), r == ':' && next(i) == '/':
			b.WriteRune(wordJoiner)
		}
	}
	return b.String()
}

const wordJoiner = '\u2060'

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }

// codeSpan wraps text in a code span whose backtick fence is longer than
// any run of backticks inside it.
func codeSpan(s string) string {
	s = oneLine(s)
	if s == "" {
		return ""
	}
	fence := strings.Repeat("`", longestRun(s, '`')+1)
	if strings.HasPrefix(s, "`") || strings.HasSuffix(s, "`") {
		s = " " + s + " "
	}
	return fence + s + fence
}

// tableCode is a code span inside a table cell, where GitHub needs pipes escaped even in code.
func tableCode(s string) string { return strings.ReplaceAll(codeSpan(s), "|", `\|`) }

func longestRun(s string, c rune) int {
	longest, run := 0, 0
	for _, r := range s {
		if r == c {
			run++
			longest = max(longest, run)
		} else {
			run = 0
		}
	}
	return longest
}
