package exporter

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"golang.org/x/crypto/bcrypt"

	"github.com/pgadvisor/pgadvisor/advisor"
)

type fakeAPI struct {
	targets []string
	reports map[string]*advisor.Report
	recs    []OpenRecommendation
	ready   error
}

func (f *fakeAPI) Targets() []string                                  { return f.targets }
func (f *fakeAPI) Report(t string) *advisor.Report                    { return f.reports[t] }
func (f *fakeAPI) Ready() error                                       { return f.ready }
func (f *fakeAPI) OpenRecommendations() ([]OpenRecommendation, error) { return f.recs, nil }

func get(t *testing.T, client *http.Client, url string) (int, http.Header, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(body)
}

func TestServerEndpoints(t *testing.T) {
	r := fixtureReport(t)
	api := &fakeAPI{
		targets: []string{r.Target},
		reports: map[string]*advisor.Report{r.Target: r},
		recs:    []OpenRecommendation{{Target: r.Target, Recommendation: r.Recommendations[0], FirstSeen: r.GeneratedAt, LastSeen: r.GeneratedAt}},
		ready:   errors.New("no target sampled successfully yet"),
	}
	m := populated(t)
	srv := httptest.NewServer(NewServer(ServerOptions{Metrics: m, API: api}).Handler())
	defer srv.Close()
	c := srv.Client()

	if code, _, body := get(t, c, srv.URL+"/healthz"); code != 200 || body != "ok\n" {
		t.Errorf("/healthz: %d %q", code, body)
	}
	if code, _, body := get(t, c, srv.URL+"/readyz"); code != 503 || !strings.Contains(body, "no target sampled") {
		t.Errorf("/readyz before a sample: %d %q, want 503 with the reason", code, body)
	}
	api.ready = nil
	if code, _, _ := get(t, c, srv.URL+"/readyz"); code != 200 {
		t.Errorf("/readyz when ready: %d", code)
	}

	code, hdr, body := get(t, c, srv.URL+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("/metrics (%s) does not parse: %v", hdr.Get("Content-Type"), err)
	}
	if fams["pgadvisor_target_up"] == nil || fams["go_goroutines"] == nil {
		t.Errorf("/metrics lacks pgadvisor_target_up or go_goroutines")
	}

	// The report in every format, with the content type of each.
	for format, want := range map[string]string{
		"":         `"schema_version": 1`,
		"json":     `"schema_version": 1`,
		"html":     "<!DOCTYPE html>",
		"markdown": "# ",
		"text":     "prod-orders",
	} {
		code, hdr, body := get(t, c, srv.URL+"/api/v1/report?format="+format)
		ct := contentTypes[format]
		if format == "" {
			ct = contentTypes["json"]
		}
		if code != 200 || hdr.Get("Content-Type") != ct || !strings.Contains(body, want) {
			t.Errorf("/api/v1/report?format=%s: %d %s, body lacks %q", format, code, hdr.Get("Content-Type"), want)
		}
		// Query texts and the values they ran with: never cached; the HTML
		// report loads nothing but itself.
		if hdr.Get("Cache-Control") != "no-store" || (format == "html") != (hdr.Get("Content-Security-Policy") == htmlPolicy()) {
			t.Errorf("/api/v1/report?format=%s: Cache-Control %q, Content-Security-Policy %q", format, hdr.Get("Cache-Control"), hdr.Get("Content-Security-Policy"))
		}
	}
	var decoded advisor.Report
	_, _, body = get(t, c, srv.URL+"/api/v1/report?target=prod-orders")
	if err := json.Unmarshal([]byte(body), &decoded); err != nil || decoded.Target != r.Target || len(decoded.Recommendations) != len(r.Recommendations) {
		t.Errorf("JSON report does not round-trip (%v): %+v", err, decoded.Target)
	}

	var payload RecommendationsPayload
	code, hdr, body = get(t, c, srv.URL+"/api/v1/recommendations")
	if err := json.Unmarshal([]byte(body), &payload); err != nil || code != 200 || hdr.Get("Content-Type") != "application/json" ||
		hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Cache-Control") != "no-store" {
		t.Fatalf("/api/v1/recommendations: %d %v\n%s", code, err, body)
	}
	if payload.SchemaVersion != 1 || len(payload.Recommendations) != 1 || payload.Recommendations[0].ID != r.Recommendations[0].ID ||
		payload.Recommendations[0].Target != r.Target || !strings.Contains(body, `"ddl"`) {
		t.Errorf("recommendations payload: %s", body)
	}
	if _, _, body := get(t, c, srv.URL+"/api/v1/recommendations?target=prod-orders"); !strings.Contains(body, r.Recommendations[0].ID) {
		t.Errorf("recommendations of one target: %s", body)
	}

	for _, tt := range []struct {
		path string
		code int
		want string
	}{
		{"/api/v1/report?format=pdf", 400, `format "pdf" is not one of text, markdown, json, html`},
		{"/api/v1/report?target=nope", 404, `no target "nope" (targets: prod-orders)`},
		{"/api/v1/recommendations?target=nope", 404, `no target "nope"`},
		{"/api/v1/report?format=%zz", 400, "the query string cannot be parsed"},
		{"/api/v1/report?target=prod-orders&target=x", 400, "target is given 2 times"},
		{"/api/v1/recommendations?target=prod-orders&target=prod-orders", 400, "target is given 2 times"},
		{"/nothing-here", 404, ""},
	} {
		if code, _, body := get(t, c, srv.URL+tt.path); code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %q, want %d with %q", tt.path, code, body, tt.code, tt.want)
		}
	}
	if code, _, body := get(t, c, srv.URL+"/"); code != 200 || !strings.Contains(body, "pgadvisor") {
		t.Errorf("landing page: %d", code)
	}
	resp, err := c.Post(srv.URL+"/api/v1/report", "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /api/v1/report: %d, want 405", resp.StatusCode)
	}
}

func TestServerReportWithSeveralTargets(t *testing.T) {
	r := fixtureReport(t)
	api := &fakeAPI{targets: []string{"a", r.Target}, reports: map[string]*advisor.Report{r.Target: r}}
	srv := httptest.NewServer(NewServer(ServerOptions{Metrics: NewMetrics("", 0), API: api}).Handler())
	defer srv.Close()
	if code, _, body := get(t, srv.Client(), srv.URL+"/api/v1/report"); code != 400 || !strings.Contains(body, "?target= (a, prod-orders)") {
		t.Errorf("no target with two: %d %q", code, body)
	}
	// The landing page's link, from a browser: a page of links to each.
	if code, hdr, body := get(t, srv.Client(), srv.URL+"/api/v1/report?format=html"); code != 200 ||
		!strings.Contains(body, `<a href="?format=html&amp;target=a">a</a>`) ||
		!strings.Contains(body, `<a href="?format=html&amp;target=prod-orders">prod-orders</a>`) || hdr.Get("Content-Security-Policy") == "" {
		t.Errorf("HTML report with no target of two: %d %q", code, body)
	}
	if code, hdr, body := get(t, srv.Client(), srv.URL+"/api/v1/report?target=a&format=html"); code != 404 ||
		!strings.Contains(body, "no report for target a yet") || hdr.Get("Retry-After") == "" {
		t.Errorf("target without a report: %d %q", code, body)
	}
	if code, _, body := get(t, srv.Client(), srv.URL+"/api/v1/report?target=prod-orders&format=markdown"); code != 200 || !strings.Contains(body, "prod-orders") {
		t.Errorf("chosen target: %d", code)
	}
	if _, _, body := get(t, srv.Client(), srv.URL+"/api/v1/recommendations"); !strings.Contains(body, `"recommendations": []`) {
		t.Errorf("no recommendations should be an empty list: %s", body)
	}
}

// blockingAPI holds every Report call until release is closed.
type blockingAPI struct {
	fakeAPI
	entered chan struct{}
	release chan struct{}
}

func (b *blockingAPI) Report(t string) *advisor.Report {
	b.entered <- struct{}{}
	<-b.release
	return b.fakeAPI.Report(t)
}

// The API serves maxAPIInFlight requests at once and turns the others
// away with 503 and Retry-After; the other endpoints are not held up.
func TestServerCapsAPIRequestsInFlight(t *testing.T) {
	r := fixtureReport(t)
	api := &blockingAPI{
		fakeAPI: fakeAPI{targets: []string{r.Target}, reports: map[string]*advisor.Report{r.Target: r}},
		entered: make(chan struct{}, maxAPIInFlight), release: make(chan struct{}),
	}
	srv := httptest.NewServer(NewServer(ServerOptions{Metrics: NewMetrics("", 0), API: api}).Handler())
	defer srv.Close()
	codes := getInBackground(srv, "/api/v1/report", maxAPIInFlight)
	for range maxAPIInFlight {
		<-api.entered
	}
	if code, hdr, body := get(t, srv.Client(), srv.URL+"/api/v1/recommendations"); code != 503 || hdr.Get("Retry-After") != "1" ||
		!strings.Contains(body, "retry") {
		t.Errorf("request beyond the cap: %d %q (Retry-After %q), want 503", code, body, hdr.Get("Retry-After"))
	}
	if code, _, _ := get(t, srv.Client(), srv.URL+"/healthz"); code != 200 {
		t.Errorf("/healthz while the API is full: %d", code)
	}
	close(api.release)
	for range maxAPIInFlight {
		if code := <-codes; code != 200 {
			t.Errorf("a request within the cap: %d", code)
		}
	}
	if code, _, _ := get(t, srv.Client(), srv.URL+"/api/v1/recommendations"); code != 200 {
		t.Errorf("after the others finished: %d, want 200", code)
	}
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) *x509.CertPool {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "pgadvisor test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("cert.pem", "CERTIFICATE", der)
	write("key.pem", "EC PRIVATE KEY", keyDER)
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool
}

func TestServerTLSAndBasicAuth(t *testing.T) {
	dir := t.TempDir()
	pool := selfSigned(t, dir)
	hash, err := bcrypt.GenerateFromPassword([]byte("scrape-pass"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	webConfig := filepath.Join(dir, "web.yml")
	err = os.WriteFile(webConfig, []byte("tls_server_config:\n  cert_file: cert.pem\n  key_file: key.pem\n"+
		"basic_auth_users:\n  prometheus: "+string(hash)+"\n"), 0o600)
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerOptions{Listen: "127.0.0.1:0", WebConfigFile: webConfig, Metrics: NewMetrics("", 0),
		API: &fakeAPI{targets: []string{"a"}}})
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	url := "https://" + s.Addr() + "/metrics"

	if code, _, _ := get(t, client, url); code != http.StatusUnauthorized {
		t.Errorf("without credentials: %d, want 401", code)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.SetBasicAuth("prometheus", "wrong")
	if resp, err := client.Do(req); err != nil || resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("with a wrong password: %v %v, want 401", resp.StatusCode, err)
	} else {
		resp.Body.Close()
	}
	req.SetBasicAuth("prometheus", "scrape-pass")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Errorf("with credentials over TLS: %d (TLS %v)", resp.StatusCode, resp.TLS != nil)
	}
	if resp, err := http.Get("http://" + s.Addr() + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Error("plain HTTP served on a TLS listener")
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Errorf("shutdown: %v", err)
	}
}

func TestServerStartFailsClearly(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "web.yml")
	if err := os.WriteFile(bad, []byte("tls_server_config:\n  cert_file: missing.pem\n  key_file: missing.pem\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := NewServer(ServerOptions{Listen: "127.0.0.1:0", WebConfigFile: bad, Metrics: NewMetrics("", 0), API: &fakeAPI{}})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), bad) {
		t.Errorf("bad web config: %v, want an error naming %s", err, bad)
	}
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	s = NewServer(ServerOptions{Listen: busy.Addr().String(), Metrics: NewMetrics("", 0), API: &fakeAPI{}})
	if err := s.Start(); err == nil || !strings.Contains(err.Error(), "listen on "+busy.Addr().String()) {
		t.Errorf("address in use: %v", err)
	}
}

// getInBackground sends n GET requests for path at once, each in a
// goroutine, and returns their status codes as they come (0 for a failed
// request).
func getInBackground(srv *httptest.Server, path string, n int) <-chan int {
	codes := make(chan int, n)
	for range n {
		go func() {
			resp, err := srv.Client().Get(srv.URL + path)
			if err != nil {
				codes <- 0
				return
			}
			resp.Body.Close()
			codes <- resp.StatusCode
		}()
	}
	return codes
}

// blockingCollector holds every scrape until release is closed.
type blockingCollector struct{ entered, release chan struct{} }

func (c blockingCollector) Describe(chan<- *prometheus.Desc) {}

func (c blockingCollector) Collect(chan<- prometheus.Metric) {
	c.entered <- struct{}{}
	<-c.release
}

// /metrics serves maxScrapesInFlight scrapes at once and turns the others
// away with 503 and Retry-After, as the API does.
func TestServerCapsScrapesInFlight(t *testing.T) {
	m := NewMetrics("", 0)
	block := blockingCollector{entered: make(chan struct{}, maxScrapesInFlight), release: make(chan struct{})}
	m.Registry().MustRegister(block)
	srv := httptest.NewServer(NewServer(ServerOptions{Metrics: m, API: &fakeAPI{}}).Handler())
	defer srv.Close()
	codes := getInBackground(srv, "/metrics", maxScrapesInFlight)
	for range maxScrapesInFlight {
		<-block.entered
	}
	if code, hdr, body := get(t, srv.Client(), srv.URL+"/metrics"); code != 503 || hdr.Get("Retry-After") != "1" {
		t.Errorf("scrape beyond the cap: %d %q (Retry-After %q), want 503 with Retry-After 1", code, body, hdr.Get("Retry-After"))
	}
	close(block.release)
	for range maxScrapesInFlight {
		if code := <-codes; code != 200 {
			t.Errorf("a scrape within the cap: %d", code)
		}
	}
}
