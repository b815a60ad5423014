package exporter

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/humanize"
	"github.com/pgadvisor/pgadvisor/internal/sqltree"
)

// textWidth is the terminal width the text report fits. Prose wraps to
// it; SQL is printed as is so that it can be copied intact.
const textWidth = 100

func renderText(buf *bytes.Buffer, r *advisor.Report) error {
	v := newReportView(r)
	t := textWriter{buf}
	t.wrap("", "", "pgadvisor report: "+oneLine(r.Target))
	t.wrap("", "", "Window "+fmtWindow(r.Window)+", generated "+fmtTime(r.GeneratedAt))
	t.wrap("", "", strings.Join(v.summaryParts(), ", "))

	t.heading("Top statements")
	if len(v.Statements) == 0 {
		t.line(v.NoStatements())
	} else {
		t.statements(v)
	}

	t.heading("Problems found")
	if len(v.Findings) == 0 {
		t.line("No problems found.")
	}
	for i, g := range v.Groups {
		if i > 0 {
			t.line("")
		}
		t.line(strings.ToUpper(clean(string(g.Severity))) + " (" + strconv.Itoa(len(g.Findings)) + ")")
		for _, f := range g.Findings {
			t.wrap("  * ", "    ", clean(f.F.Kind)+": "+oneLine(f.where()))
			t.wrap("    ", "    ", oneLine(f.detail(statementRef)))
			t.fix("    Fix: ", f.F.Fix)
		}
	}

	t.heading("Recommended indexes")
	if len(v.Recs) == 0 {
		t.line("No index to recommend.")
	}
	for i, rv := range v.Recs {
		if i > 0 {
			t.line("")
		}
		t.recommendation(rv)
	}

	if len(r.Warnings) > 0 {
		t.heading("Warnings")
		for _, w := range r.Warnings {
			t.wrap("  - ", "    ", oneLine(w))
		}
	}
	return nil
}

type textWriter struct{ buf *bytes.Buffer }

func (t textWriter) line(s string) {
	t.buf.WriteString(strings.TrimRight(s, " "))
	t.buf.WriteByte('\n')
}

func (t textWriter) heading(title string) {
	t.line("")
	t.line(title)
	t.line(strings.Repeat("-", utf8.RuneCountInString(title)))
}

// fix writes a finding's fix after label: wrapped when it is one line, and
// line by line under label, unwrapped, when it is a script (fixLines).
func (t textWriter) fix(label, fix string) {
	lines := fixLines(fix)
	switch {
	case len(lines) == 1:
		t.wrap(label, strings.Repeat(" ", utf8.RuneCountInString(label)), oneLine(fix))
	case len(lines) > 1:
		t.line(strings.TrimRight(label, " "))
		for _, l := range lines {
			t.line("      " + l)
		}
	}
}

// wrap word-wraps text to textWidth, starting with first and continuing
// with rest (usually spaces that indent). Words too long for a line are cut.
func (t textWriter) wrap(first, rest, text string) {
	for _, l := range wrapLines(first, rest, text, textWidth) {
		t.line(l)
	}
}

func wrapLines(first, rest, text string, width int) []string {
	var lines []string
	cur, curLen := first, utf8.RuneCountInString(first)
	fresh := true // nothing after the prefix yet
	for _, word := range strings.Fields(text) {
		w := utf8.RuneCountInString(word)
		if !fresh && curLen+1+w > width {
			lines = append(lines, cur)
			cur, curLen, fresh = rest, utf8.RuneCountInString(rest), true
		}
		for room := width - curLen; fresh && w > room && room > 0; room = width - curLen {
			runes := []rune(word)
			lines = append(lines, cur+string(runes[:room]))
			word, w = string(runes[room:]), w-room
			cur, curLen = rest, utf8.RuneCountInString(rest)
		}
		if !fresh {
			cur += " "
			curLen++
		}
		cur += word
		curLen += w
		fresh = false
	}
	return append(lines, cur)
}

// fieldIndent is where the values of a recommendation's fields start.
const fieldIndent = 21

// fieldLabel is "   Label:" padded to fieldIndent; "" gives blanks.
func fieldLabel(label string) string {
	s := "   "
	if label != "" {
		s += label + ":"
	}
	return s + strings.Repeat(" ", max(fieldIndent-utf8.RuneCountInString(s), 1))
}

// field prints "Label: value" with the values of a block aligned.
func (t textWriter) field(label, value string) {
	t.wrap(fieldLabel(label), fieldLabel(""), value)
}

// code prints SQL as is, each line indented, unless a line break falls
// inside a quoted string or name: indenting there would change the value
// (a partial index's predicate, which the planner would then not match),
// so that SQL is printed flush left, unchanged.
func (t textWriter) code(indent, sql string) {
	sql = strings.TrimSpace(clean(sql))
	if sqltree.LineBreakInQuote(sql) {
		t.buf.WriteString(sql + "\n")
		return
	}
	for _, l := range strings.Split(sql, "\n") {
		t.line(indent + l)
	}
}

func (t textWriter) statements(v *reportView) {
	header := []string{"#", "share", "calls", "mean ms", "total ms", "explain"}
	rows := make([][]string, len(v.Statements))
	for i, sv := range v.Statements {
		s := sv.S
		rows[i] = []string{
			strconv.Itoa(sv.Rank), fmtPct(s.WorkloadShare), humanize.Count(float64(s.Calls)),
			fmtNum(s.MeanExecTimeMS), fmtNum(s.TotalExecTimeMS), oneLine(explainMode(s)),
		}
	}
	widths := columnWidths(header, rows)
	left := len(header) - 1 // the explain mode reads better left-aligned
	format := func(cells []string) string {
		var b strings.Builder
		for i, c := range cells {
			pad := strings.Repeat(" ", widths[i]-utf8.RuneCountInString(c))
			if i == left {
				b.WriteString(c + pad)
			} else {
				b.WriteString(pad + c)
			}
			b.WriteString("  ")
		}
		return b.String()
	}
	prefix := format(header)
	queryWidth := max(textWidth-utf8.RuneCountInString(prefix), 20)
	t.line(prefix + "query")
	for i, sv := range v.Statements {
		t.line(format(rows[i]) + abbreviate(oneLine(sv.S.Query), queryWidth))
	}
	var notes []string
	for _, sv := range v.Statements {
		if n := explainNote(sv.S); n != "" {
			notes = append(notes, "#"+strconv.Itoa(sv.Rank)+" "+oneLine(n))
		}
	}
	if len(notes) > 0 {
		t.line("")
		for _, n := range notes {
			t.wrap("  ", "     ", n)
		}
	}
}

func columnWidths(header []string, rows [][]string) []int {
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, c := range row {
			widths[i] = max(widths[i], utf8.RuneCountInString(c))
		}
	}
	return widths
}

func (t textWriter) recommendation(rv *recView) {
	rec := rv.R
	headline := gainHeadline(rec)
	if rec.Costed() {
		headline += " for the statements it serves" + rv.together()
	}
	t.wrap(strconv.Itoa(rv.Rank)+". ", "   ", oneLine(rv.target())+", "+oneLine(rec.Method)+": "+headline)
	t.code("   ", rec.DDL)
	t.line("")
	if rec.Reason != "" {
		t.field("Why", oneLine(rec.Reason))
	}
	t.field("Planner cost", plannerCost(rec, "x", "->"))
	if saved := timeSaved(rec); saved != "" {
		t.field("Time saved", saved)
	}
	if len(rv.Served) > 0 {
		rows := make([][]string, len(rv.Served))
		for i, g := range rv.Served {
			rows[i] = []string{statementRef(g.Rank, g.G.QueryID), humanize.Count(g.G.Calls) + " calls",
				fmtNum(g.G.CostBefore) + " per call -> " + costAfter(rec, g.G.CostAfter), ""}
			var notes []string
			for _, n := range []string{g.changeText(), g.withNote()} {
				if n != "" {
					notes = append(notes, n)
				}
			}
			if len(notes) > 0 {
				rows[i][3] = "(" + strings.Join(notes, ", ") + ")"
			}
		}
		widths := columnWidths(make([]string, 4), rows)
		for i, row := range rows {
			label := ""
			if i == 0 {
				label = "Serves"
			}
			var b strings.Builder
			for j, c := range row {
				b.WriteString(c + strings.Repeat(" ", widths[j]-utf8.RuneCountInString(c)+2))
			}
			t.line(fieldLabel(label) + b.String())
		}
	}
	t.field("Estimated size", humanize.Bytes(rec.EstimatedSizeBytes))
	t.field("Validated", oneLine(validation(rec)))
	if rec.WriteOverhead != "" {
		t.field("Write overhead", oneLine(rec.WriteOverhead))
	}
	if rec.VerifySQL != "" {
		t.line("   After building, verify:")
		t.code("     ", rec.VerifySQL)
	}
}

// statementRef names a statement by rank, or by queryid when it is not
// among the report's statements.
func statementRef(rank int, queryID string) string {
	if rank > 0 {
		return "#" + strconv.Itoa(rank)
	}
	return "queryid " + oneLine(queryID)
}
