package exporter

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// chromium finds a headless-capable Chromium. Without one the browser
// tests skip, except in CI (env CI set), where they fail.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		t.Fatal("chromium is not installed; the HTML report's browser test needs it in CI (apt-get install chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// runChromium runs headless Chromium on page with extra flags and returns its standard output.
func runChromium(t *testing.T, bin, page string, flags ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	args := append([]string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + t.TempDir(),
	}, flags...)
	cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(flags, " "), err, stderr.String())
	}
	return stdout.Bytes()
}

// writeHTMLReport writes the fixture's HTML report with extra markup
// before </body>. With allowExtra, the page's policy also lets the extra
// markup's script run (by its hash), as it lets the page's own.
func writeHTMLReport(t *testing.T, extra string, allowExtra bool) string {
	t.Helper()
	r := fixtureReport(t)
	r.Statements[2].Query = hostileQuery
	var buf bytes.Buffer
	if err := Render(&buf, r, "html"); err != nil {
		t.Fatal(err)
	}
	page := buf.String()
	if extra != "" {
		page = strings.Replace(page, "</body>", extra+"</body>", 1)
	}
	if m := regexp.MustCompile(`(?s)<script>(.*?)</script>`).FindStringSubmatch(extra); m != nil && allowExtra {
		sum := sha256.Sum256([]byte(m[1]))
		policy := strings.Replace(htmlPolicy(), "script-src ", "script-src 'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"' ", 1)
		page = strings.Replace(page, html.EscapeString(htmlPolicy()), html.EscapeString(policy), 1)
	}
	path := filepath.Join(t.TempDir(), "report.html")
	if err := os.WriteFile(path, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHTMLReportInBrowser(t *testing.T) {
	bin := chromium(t)
	page := writeHTMLReport(t, "", false)

	shot := filepath.Join(t.TempDir(), "report.png")
	runChromium(t, bin, page, "--hide-scrollbars", "--screenshot="+shot, "--window-size=1280,2000")
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1280 || b.Dy() != 2000 {
		t.Errorf("screenshot is %dx%d, want 1280x2000", b.Dx(), b.Dy())
	}
	// A page that failed to render is one flat colour.
	colours := map[[3]uint32]bool{}
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 7 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 7 {
			r, g, b, _ := img.At(x, y).RGBA()
			colours[[3]uint32{r >> 8, g >> 8, b >> 8}] = true
		}
	}
	if len(colours) < 50 {
		t.Errorf("screenshot has %d distinct colours: the page looks blank", len(colours))
	}
	if dir := os.Getenv("PGADVISOR_SCREENSHOT_DIR"); dir != "" {
		data, _ := os.ReadFile(shot)
		if err := os.WriteFile(filepath.Join(dir, "report.png"), data, 0o644); err != nil {
			t.Error(err)
		}
	}

	dom := string(runChromium(t, bin, page, "--dump-dom"))
	for _, want := range []string{
		`<html lang="en" class="js">`, // the script ran to its end
		`<section id="recommendations">`,
		"CREATE INDEX CONCURRENTLY question_exam_id_idx ON public.question USING btree (exam_id);",
		`<th data-type="num" scope="col" tabindex="0" title="Sort by Calls">Calls</th>`,
		"&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM after scripts ran lacks %q", want)
		}
	}
	if strings.Contains(dom, "<script>alert(1)") {
		t.Error("the hostile query became a script element")
	}
}

// The page's policy runs its own script and no other: markup that
// escaping let through could not run one.
func TestHTMLReportRunsNoInjectedScript(t *testing.T) {
	bin := chromium(t)
	injected := `<script>document.body.appendChild(document.createElement("aside")).id = "injected";</script>`
	dom := string(runChromium(t, bin, writeHTMLReport(t, injected, false), "--dump-dom"))
	if !strings.Contains(dom, `<html lang="en" class="js">`) {
		t.Errorf("the page's own script did not run under its policy; DOM starts with:\n%s", dom[:min(len(dom), 300)])
	}
	if strings.Contains(dom, `id="injected"`) {
		t.Error("a script injected into the page ran")
	}
}

// A malformed escape in the URL's fragment does not stop the script:
// before, decodeURIComponent threw and the page stayed without its "js"
// class, which the styles of its interactive parts key on.
func TestHTMLReportMalformedFragment(t *testing.T) {
	bin := chromium(t)
	dom := string(runChromium(t, bin, writeHTMLReport(t, "", false)+"#%E0%A4%A", "--dump-dom"))
	if !strings.Contains(dom, `<html lang="en" class="js">`) {
		t.Errorf("the script did not run to its end with a malformed fragment; DOM starts with:\n%s", dom[:min(len(dom), 300)])
	}
}

// The sortable table and the copy button work: a probe script clicks them
// and records the outcome in the DOM.
func TestHTMLReportScripts(t *testing.T) {
	bin := chromium(t)
	const probe = `<script>
window.addEventListener("load", function () {
  var th = document.querySelectorAll("#statements-table th");
  var ranks = function () {
    return Array.prototype.map.call(document.querySelectorAll("#statements-table tbody tr"),
      function (r) { return r.cells[0].textContent.trim(); }).join(",");
  };
  var out = {};
  th[2].click(); out.callsDesc = ranks() + " " + th[2].getAttribute("aria-sort");
  th[2].click(); out.callsAsc = ranks() + " " + th[2].getAttribute("aria-sort");
  th[6].click(); out.database = ranks();
  var button = document.querySelector("button.copy[data-copy=ddl-1]");
  button.click();
  setTimeout(function () {
    out.button = button.textContent;
    out.selection = String(window.getSelection());
    var pre = document.createElement("pre");
    pre.id = "probe";
    pre.textContent = JSON.stringify(out);
    document.body.appendChild(pre);
  }, 300);
});
</script>`
	page := writeHTMLReport(t, probe, true)
	dom := string(runChromium(t, bin, page, "--dump-dom", "--virtual-time-budget=5000"))
	start := strings.Index(dom, `<pre id="probe">`)
	if start < 0 {
		t.Fatalf("the probe script did not report; DOM ends with:\n%s", dom[max(len(dom)-2000, 0):])
	}
	got := dom[start:]
	got = got[:strings.Index(got, "</pre>")]
	for _, want := range []string{
		`"callsDesc":"2,3,1,4 descending"`,
		`"callsAsc":"4,1,3,2 ascending"`,
		`"database":"4,1,3,2"`, // dell, exams, shop, shop: ties keep their previous order
	} {
		if !strings.Contains(got, want) {
			t.Errorf("probe = %s, want %s", got, want)
		}
	}
	// Headless Chromium may grant the clipboard or not; either way the user gets the DDL.
	copied := strings.Contains(got, `"button":"Copied"`)
	selected := strings.Contains(got, `"button":"Press Ctrl+C"`) &&
		strings.Contains(got, "CREATE INDEX CONCURRENTLY question_exam_id_idx")
	if !copied && !selected {
		t.Errorf("copy button neither copied nor selected the DDL: %s", got)
	}
}
