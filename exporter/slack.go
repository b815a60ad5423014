package exporter

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

// Limits of a Slack message (api.slack.com/reference/block-kit/blocks).
const (
	slackMaxBlocks      = 50
	slackMaxSectionText = 3000
	slackMaxHeaderText  = 150
)

const slackTruncatedNote = "\n… _truncated, the full text is in the report_"

type slackPayload struct {
	Text   string       `json:"text"` // notification and fallback text
	Blocks []slackBlock `json:"blocks"`
}

type slackBlock struct {
	Type     string      `json:"type"`
	Text     *slackText  `json:"text,omitempty"`
	Elements []slackText `json:"elements,omitempty"`
}

type slackText struct {
	Type string `json:"type"` // "plain_text" or "mrkdwn"
	Text string `json:"text"`
}

func slackSection(mrkdwn string) slackBlock {
	return slackBlock{Type: "section", Text: &slackText{Type: "mrkdwn", Text: mrkdwn}}
}

// slackItem is one recommendation of a message and why it is announced.
type slackItem struct {
	kind       string // "new", "changed" or "realized"
	rec        state.Record
	supersedes []state.Record // new: the announced ones it takes the place of
}

// slackMessage encodes the Block Kit message announcing ch for target: a
// header, then per recommendation a section with its evidence and one with
// its DDL, then a link to the report when reportURL is set.
func slackMessage(target string, ch state.Changes, reportURL string) ([]byte, error) {
	var items []slackItem
	for _, r := range ch.New {
		items = append(items, slackItem{"new", r, ch.Supersedes[r.Recommendation.ID]})
	}
	for _, r := range ch.Changed {
		items = append(items, slackItem{kind: "changed", rec: r})
	}
	for _, r := range ch.Realized {
		items = append(items, slackItem{kind: "realized", rec: r})
	}
	summary := slackSummary(target, len(ch.New), len(ch.Changed), len(ch.Realized))
	msg := slackPayload{
		Text:   slackEscape(summary),
		Blocks: []slackBlock{{Type: "header", Text: &slackText{Type: "plain_text", Text: cutRunes(summary, slackMaxHeaderText)}}},
	}

	room := slackMaxBlocks - 1 // the header
	if reportURL != "" {
		room--
	}
	shown := items
	if 2*len(items) > room {
		shown = items[:(room-1)/2] // one block left for saying how many are not shown
	}
	for _, it := range shown {
		msg.Blocks = append(msg.Blocks, slackSection(slackTruncate(slackEvidence(it))), slackSection(slackCode(it.rec.Recommendation.DDL)))
	}
	if hidden := len(items) - len(shown); hidden > 0 {
		msg.Blocks = append(msg.Blocks, slackSection(fmt.Sprintf("… and %d more, listed in the report.", hidden)))
	}
	if reportURL != "" {
		msg.Blocks = append(msg.Blocks, slackBlock{Type: "context", Elements: []slackText{{
			Type: "mrkdwn", Text: "<" + slackEscape(reportURL) + "|report>",
		}}})
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return nil, fmt.Errorf("encode slack message: %w", err)
	}
	return body, nil
}

// slackSummary is the one-line gist, e.g. "pgadvisor · prod: 2 new and 1
// changed index recommendations; 1 index gain realized".
func slackSummary(target string, added, changed, realized int) string {
	var parts []string
	if added+changed > 0 {
		var kinds []string
		if added > 0 {
			kinds = append(kinds, strconv.Itoa(added)+" new")
		}
		if changed > 0 {
			kinds = append(kinds, strconv.Itoa(changed)+" changed")
		}
		noun := " index recommendations"
		if added+changed == 1 {
			noun = " index recommendation"
		}
		parts = append(parts, strings.Join(kinds, " and ")+noun)
	}
	if realized == 1 {
		parts = append(parts, "1 index gain realized")
	} else if realized > 1 {
		parts = append(parts, strconv.Itoa(realized)+" index gains realized")
	}
	return "pgadvisor · " + target + ": " + strings.Join(parts, "; ")
}

// sharedNote says when the estimated improvement is shared with other
// recommended indexes (StatementGain.With): " (shared with other new
// indexes on 1 of the 2 statements it serves)"; "" when it is this
// index's alone.
func sharedNote(r advisor.Recommendation) string {
	shared := 0
	for _, g := range r.Statements {
		if len(g.With) > 0 {
			shared++
		}
	}
	switch shared {
	case 0:
		return ""
	case len(r.Statements):
		return " (shared with other new indexes on the statements it serves)"
	}
	return fmt.Sprintf(" (shared with other new indexes on %d of the %d statements it serves)", shared, len(r.Statements))
}

// slackEvidence is the mrkdwn text saying what the index serves and gains.
func slackEvidence(it slackItem) string {
	r := it.rec.Recommendation
	on := fmt.Sprintf("%s in database %s (%s)", slackInline(r.Table), slackInline(r.Database), slackEscape(r.Method))
	var b strings.Builder
	switch it.kind {
	case "new":
		if r.Costed() {
			fmt.Fprintf(&b, "*New index* on %s: estimated improvement *%.1f%%*%s", on, r.ImprovementPct, sharedNote(r))
			if r.TimeSavedMS > 0 {
				fmt.Fprintf(&b, ", saving about %s of execution time over the window", fmtMS(r.TimeSavedMS))
			}
		} else {
			fmt.Fprintf(&b, "*New index* on %s: gain %s", on, notCosted)
		}
	case "changed":
		fmt.Fprintf(&b, "*Changed estimate* for the index on %s: estimated improvement *%.1f%%*%s, announced as %.1f%%",
			on, r.ImprovementPct, sharedNote(r), it.rec.AnnouncedBenefit)
	case "realized":
		fmt.Fprintf(&b, "*Gain realized* by the index on %s, built %s: served statements went from %s to %s per call (*%.1f%% faster*)",
			on, it.rec.AppliedAt.UTC().Format("2006-01-02 15:04 MST"),
			slackMS(it.rec.MeanBeforeMS), slackMS(it.rec.MeanAfterMS), it.rec.RealizedPct())
	}
	if len(r.QueryIDs) > 0 {
		b.WriteString("\nServes statements (queryid): ")
		for i, q := range r.QueryIDs {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(slackInline(q))
		}
	}
	for _, old := range it.supersedes {
		fmt.Fprintf(&b, "\nIn place of %s, recommended since %s and not built: build this one instead.",
			slackInline(old.Recommendation.Target()), old.FirstSeen.UTC().Format("2006-01-02"))
	}
	if r.Reason != "" && it.kind != "realized" {
		b.WriteString("\n" + slackEscape(r.Reason))
	}
	return b.String()
}

func slackMS(ms float64) string {
	prec := 0
	switch {
	case ms < 10:
		prec = 2
	case ms < 100:
		prec = 1
	}
	return strconv.FormatFloat(ms, 'f', prec, 64) + " ms"
}

// slackInline is s as a mrkdwn code span. mrkdwn has no escape for a
// backtick, which would end the span (a table can be called a`b), so
// backticks are shown as the look-alike ˋ (U+02CB).
func slackInline(s string) string {
	return "`" + strings.ReplaceAll(slackEscape(s), "`", "ˋ") + "`"
}

// slackCode is the DDL as a code block, truncated to fit a section.
// Three backticks end the block wherever they are, even next to its
// closing fence, so each backtick inside gets a zero-width space after it.
func slackCode(ddl string) string {
	code := strings.ReplaceAll(slackEscape(ddl), "`", "`\u200b")
	if len(code)+6 <= slackMaxSectionText {
		return "```" + code + "```"
	}
	// A cut between a backtick and its zero-width space leaves the backtick
	// bare, next to the closing fence: drop it.
	cut := strings.TrimSuffix(slackCut(code, slackMaxSectionText-6-len(slackTruncatedNote)), "`")
	return "```" + cut + "```" + slackTruncatedNote
}

// slackTruncate fits escaped mrkdwn text into a section, saying so when cut.
func slackTruncate(text string) string {
	if len(text) <= slackMaxSectionText {
		return text
	}
	return slackCut(text, slackMaxSectionText-len(slackTruncatedNote)) + slackTruncatedNote
}

// slackCut returns the longest prefix of escaped text of at most max bytes
// that ends neither inside a UTF-8 sequence nor inside an &amp; escape.
func slackCut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = cutRunes(s, max)
	if amp := strings.LastIndexByte(s, '&'); amp >= 0 && !strings.Contains(s[amp:], ";") {
		s = s[:amp]
	}
	return s
}

// cutRunes returns the longest prefix of s of at most max bytes that does
// not end inside a UTF-8 sequence.
func cutRunes(s string, max int) string {
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// slackEscape escapes the three characters Slack reads as markup.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
