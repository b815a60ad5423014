package exporter

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/pgadvisor/pgadvisor/advisor"
	"github.com/pgadvisor/pgadvisor/internal/config"
	"github.com/pgadvisor/pgadvisor/internal/state"
)

func decodeSlack(t *testing.T, body []byte) slackPayload {
	t.Helper()
	var msg slackPayload
	if err := json.Unmarshal(body, &msg); err != nil {
		t.Fatalf("slack body: %v\n%s", err, body)
	}
	return msg
}

func TestSlackMessageShape(t *testing.T) {
	rc := newReceiver(t, nil)
	opts := fastOptions
	opts.ExternalURL = "https://advisor.example:9187/"
	h := newHarness(t, t.TempDir(), config.Notify{Slack: config.Slack{WebhookURL: rc.hookURL()}}, opts)
	h.notify(t, notifyReport(1, notifyRec("a", 87.5), notifyRec("b", 40)))
	h.run(t)
	waitFor(t, "the slack message", func() bool { return len(h.outcomes.list()) == 1 })
	reqs := rc.requests()
	if len(reqs) != 1 {
		t.Fatalf("slack got %d messages, want 1", len(reqs))
	}
	if got := reqs[0].header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	msg := decodeSlack(t, reqs[0].body)

	if msg.Text != "pgadvisor · prod: 2 new index recommendations" {
		t.Errorf("fallback text = %q", msg.Text)
	}
	// header, (evidence, DDL) per recommendation, link
	if len(msg.Blocks) != 6 {
		t.Fatalf("%d blocks, want 6: %s", len(msg.Blocks), reqs[0].body)
	}
	if b := msg.Blocks[0]; b.Type != "header" || b.Text.Type != "plain_text" || b.Text.Text != msg.Text {
		t.Errorf("header = %+v", b)
	}
	evidence, ddl := msg.Blocks[1].Text, msg.Blocks[2].Text
	if msg.Blocks[1].Type != "section" || evidence.Type != "mrkdwn" {
		t.Errorf("block 1 = %+v, want a mrkdwn section", msg.Blocks[1])
	}
	for _, want := range []string{"*New index*", "`public.orders`", "`app`", "*87.5%*", "`-4217983247`, `81723`", "equality on tenant_id"} {
		if !strings.Contains(evidence.Text, want) {
			t.Errorf("evidence %q lacks %q", evidence.Text, want)
		}
	}
	// Slack reads <, > and & as markup, in code blocks too.
	wantDDL := "```CREATE INDEX CONCURRENTLY ON public.orders (tenant_id, created_at DESC) WHERE amount &gt; 0```"
	if ddl.Text != wantDDL {
		t.Errorf("DDL block = %q, want %q", ddl.Text, wantDDL)
	}
	if !strings.Contains(msg.Blocks[3].Text.Text, "*40.0%*") {
		t.Errorf("second recommendation = %q", msg.Blocks[3].Text.Text)
	}
	link := msg.Blocks[5]
	if link.Type != "context" || len(link.Elements) != 1 || link.Elements[0].Text != "<https://advisor.example:9187/api/v1/report?format=html&amp;target=prod|report>" {
		t.Errorf("link block = %+v", link)
	}
	for _, h := range []string{HeaderDelivery, HeaderEvent, HeaderSignature} {
		if reqs[0].header.Get(h) != "" {
			t.Errorf("slack request has a %s header", h)
		}
	}
}

func TestSlackMessageWithoutExternalURLHasNoLink(t *testing.T) {
	body, err := slackMessage("prod", state.Changes{New: []state.Record{{Recommendation: notifyRec("a", 50)}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	msg := decodeSlack(t, body)
	if len(msg.Blocks) != 3 || strings.Contains(string(body), "/api/v1/report") {
		t.Errorf("message without an external URL: %s", body)
	}
}

// TestSlackUncostedIndex: an index HypoPG could not cost is announced
// without a made-up 0% improvement.
func TestSlackUncostedIndex(t *testing.T) {
	rec := notifyRec("gin", 0)
	rec.Method, rec.Validated, rec.CostAfter = "gin", false, rec.CostBefore
	body, err := slackMessage("prod", state.Changes{New: []state.Record{{Recommendation: rec}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	evidence := decodeSlack(t, body).Blocks[1].Text.Text
	if !strings.Contains(evidence, "(gin): gain not costed") || strings.Contains(evidence, "improvement") {
		t.Errorf("evidence of an uncosted index: %q", evidence)
	}
}

// TestSlackStandInIndex: an index costed with stand-ins is announced with
// its estimate.
func TestSlackStandInIndex(t *testing.T) {
	rec := notifyRec("gin", 80)
	rec.Method, rec.Validated, rec.StandIn, rec.TimeSavedMS = "gin", false, true, 42000
	body, err := slackMessage("prod", state.Changes{New: []state.Record{{Recommendation: rec}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	if evidence := decodeSlack(t, body).Blocks[1].Text.Text; !strings.Contains(evidence, "estimated improvement *80.0%*, saving about 42.00 s of execution time over the window") {
		t.Errorf("evidence of a stand-in costed index: %q", evidence)
	}
}

// TestSlackSharedImprovement: an improvement shared with another new
// index says so.
func TestSlackSharedImprovement(t *testing.T) {
	rec := notifyRec("probe", 80)
	rec.Statements[0].With = []string{"label"}
	for _, tc := range []struct {
		statements []advisor.StatementGain
		want       string
	}{
		{rec.Statements, "estimated improvement *80.0%* (shared with other new indexes on the statements it serves)"},
		{append(rec.Statements, advisor.StatementGain{QueryID: "81723", Calls: 5, CostBefore: 50, CostAfter: 10}),
			"estimated improvement *80.0%* (shared with other new indexes on 1 of the 2 statements it serves)"},
	} {
		rec.Statements = tc.statements
		body, err := slackMessage("prod", state.Changes{New: []state.Record{{Recommendation: rec}}}, "")
		if err != nil {
			t.Fatal(err)
		}
		if evidence := decodeSlack(t, body).Blocks[1].Text.Text; !strings.Contains(evidence, tc.want) {
			t.Errorf("evidence of a shared improvement: %q, want %q", evidence, tc.want)
		}
	}
}

func TestSlackLimits(t *testing.T) {
	var ch state.Changes
	for i := range 40 {
		r := notifyRec(fmt.Sprint("r", i), 50)
		r.Reason = strings.Repeat("é<", 1200)                                           // 3600 bytes escaped to 6000
		r.DDL = "CREATE INDEX ON t (" + strings.Repeat("a & b, ", 700) + "c) -- " + "ü" // escapes past 3000
		ch.New = append(ch.New, state.Record{Recommendation: r})
	}
	body, err := slackMessage(strings.Repeat("t", 200), ch, "https://advisor.example")
	if err != nil {
		t.Fatal(err)
	}
	msg := decodeSlack(t, body)
	if len(msg.Blocks) > slackMaxBlocks {
		t.Errorf("%d blocks, Slack takes %d", len(msg.Blocks), slackMaxBlocks)
	}
	if n := len(msg.Blocks[0].Text.Text); n > slackMaxHeaderText {
		t.Errorf("header is %d bytes, Slack takes %d", n, slackMaxHeaderText)
	}
	// header, 23 recommendations × 2, the rest counted, link: 49 blocks
	shown := (len(msg.Blocks) - 3) / 2
	more := msg.Blocks[len(msg.Blocks)-2].Text.Text
	if want := fmt.Sprintf("… and %d more, listed in the report.", 40-shown); more != want {
		t.Errorf("second-to-last block = %q, want %q", more, want)
	}
	if msg.Blocks[len(msg.Blocks)-1].Type != "context" {
		t.Error("the report link was dropped to make room")
	}
	for i, b := range msg.Blocks {
		if b.Text == nil {
			continue
		}
		text := b.Text.Text
		if len(text) > slackMaxSectionText {
			t.Errorf("block %d: %d bytes, Slack takes %d", i, len(text), slackMaxSectionText)
		}
		if !utf8.ValidString(text) {
			t.Errorf("block %d: cut inside a character", i)
		}
		if i > 0 && i <= 2*shown {
			if !strings.HasSuffix(text, slackTruncatedNote) {
				t.Errorf("block %d was cut without saying so: ...%q", i, text[len(text)-40:])
			}
			if cut := strings.TrimSuffix(text, slackTruncatedNote); strings.HasSuffix(cut, "&") || strings.HasSuffix(cut, "&amp") || strings.HasSuffix(cut, "&lt") {
				t.Errorf("block %d was cut inside an escape: ...%q", i, cut[len(cut)-10:])
			}
		}
		if i > 0 && i <= 2*shown && i%2 == 0 {
			if code := strings.TrimSuffix(text, slackTruncatedNote); !strings.HasPrefix(code, "```CREATE INDEX") || !strings.HasSuffix(code, "```") {
				t.Errorf("block %d: the DDL code block is not closed", i)
			}
		}
	}
}

func TestSlackCut(t *testing.T) {
	for _, c := range []struct {
		in   string
		max  int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"aé", 2, "a"},              // é is 2 bytes
		{"a &amp; b", 4, "a "},      // not inside &amp;
		{"a &amp; b", 7, "a &amp;"}, // the whole escape fits
		{"日本", 5, "日"},
	} {
		if got := slackCut(c.in, c.max); got != c.want {
			t.Errorf("slackCut(%q, %d) = %q, want %q", c.in, c.max, got, c.want)
		}
	}
}

// Backticks from the database cannot end a code span or block early:
// mrkdwn has no escape for them.
func TestSlackBackticksStayInCode(t *testing.T) {
	rec := notifyRec("tick", 50)
	rec.Table, rec.Database = "public.\"a`b\"", "shop`s"
	rec.DDL = "CREATE INDEX CONCURRENTLY ON public.\"a`````b`\" (x`);"
	body, err := slackMessage("prod", state.Changes{New: []state.Record{{Recommendation: rec}}}, "")
	if err != nil {
		t.Fatal(err)
	}
	msg := decodeSlack(t, body)
	if evidence := msg.Blocks[1].Text.Text; !strings.Contains(evidence, "`public.\"aˋb\"` in database `shopˋs`") {
		t.Errorf("evidence %q: want the names' backticks shown as ˋ inside their code spans", evidence)
	}
	if ddl := msg.Blocks[2].Text.Text; strings.Count(ddl, "``") != 2 || !strings.HasPrefix(ddl, "```") || !strings.HasSuffix(ddl, "```") {
		t.Errorf("DDL block %q: want one code block, its fence sequence broken", ddl)
	}

	// A DDL cut to fit, right after a backtick: the backtick does not
	// join the closing fence.
	limit := slackMaxSectionText - 6 - len(slackTruncatedNote)
	if ddl := slackCode(strings.Repeat("a", limit-1) + "`" + strings.Repeat("b", 100)); strings.Contains(ddl, "````") {
		t.Errorf("cut DDL block ends %q: a bare backtick closes the block early", ddl[len(ddl)-40:])
	}
}
