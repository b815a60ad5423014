package exporter

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/prometheus/exporter-toolkit/web"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/pgadvisor/pgadvisor/advisor"
)

// RecommendationsSchemaVersion versions the /api/v1/recommendations payload.
const RecommendationsSchemaVersion = 1

// API is what the HTTP endpoints serve; the agent implements it.
type API interface {
	// Targets names the configured targets, in configuration order.
	Targets() []string
	// Report is the latest report of a target; nil before its first cycle.
	Report(target string) *advisor.Report
	// OpenRecommendations are the open recommendations of every target.
	OpenRecommendations() ([]OpenRecommendation, error)
	// Ready is nil when the agent is doing its job (a target was sampled
	// recently), else why not.
	Ready() error
}

// OpenRecommendation is an open recommendation with its target and history.
type OpenRecommendation struct {
	Target string `json:"target"`
	advisor.Recommendation
	FirstSeen time.Time `json:"first_seen"`
	LastSeen  time.Time `json:"last_seen"`
}

// RecommendationsPayload is the body of /api/v1/recommendations.
type RecommendationsPayload struct {
	SchemaVersion   int                  `json:"schema_version"`
	Recommendations []OpenRecommendation `json:"recommendations"`
}

// ServerOptions configure the HTTP server.
type ServerOptions struct {
	Listen string // host:port; port 0 picks a free one (see Addr)
	// WebConfigFile is a Prometheus exporter-toolkit web configuration
	// (TLS, basic auth with bcrypt hashes, headers); "" serves plain HTTP
	// without authentication. It is re-read on every request and TLS
	// handshake, so certificate rotation needs no restart.
	WebConfigFile string
	Version       string
	Metrics       *Metrics
	API           API
	Log           *zap.Logger
}

// Server serves /metrics, /healthz, /readyz, /api/v1/report and
// /api/v1/recommendations.
type Server struct {
	opts ServerOptions
	log  *zap.Logger

	mu   sync.Mutex
	srv  *http.Server
	addr string
	done chan struct{}
}

// NewServer returns a server; Start listens.
func NewServer(opts ServerOptions) *Server {
	log := opts.Log
	if log == nil {
		log = zap.NewNop()
	}
	return &Server{opts: opts, log: log.Named("http")}
}

// Handler routes every endpoint, without TLS or authentication (Start adds
// them from the web configuration).
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// promhttp's own MaxRequestsInFlight answers 503 without Retry-After.
	mux.Handle("GET /metrics", inFlightLimit(maxScrapesInFlight)(promhttp.HandlerFor(s.opts.Metrics.Registry(),
		promhttp.HandlerOpts{ErrorLog: zap.NewStdLog(s.log)})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { plain(w, http.StatusOK, "ok") })
	mux.HandleFunc("GET /readyz", s.ready)
	api := inFlightLimit(maxAPIInFlight)
	mux.Handle("GET /api/v1/report", api(http.HandlerFunc(s.report)))
	mux.Handle("GET /api/v1/recommendations", api(http.HandlerFunc(s.recommendations)))
	landing, err := web.NewLandingPage(web.LandingConfig{
		Name:        "pgadvisor",
		Description: "PostgreSQL query-performance advisor",
		Version:     s.opts.Version,
		Profiling:   "false",
		Links: []web.LandingLinks{
			{Address: "metrics", Text: "Metrics"},
			{Address: "api/v1/report?format=html", Text: "Latest report"},
			{Address: "api/v1/recommendations", Text: "Open recommendations (JSON)"},
			{Address: "readyz", Text: "Readiness"},
		},
	})
	if err == nil { // the page is a static template: it cannot fail with these values
		mux.Handle("GET /{$}", landing)
	}
	return mux
}

// maxAPIInFlight bounds the /api requests served at once: each renders a
// report or reads the state store into memory, so a burst of them must not
// grow the agent without bound. maxScrapesInFlight bounds /metrics apart,
// so that a burst of one does not turn the other away.
const (
	maxAPIInFlight     = 4
	maxScrapesInFlight = 4
)

// inFlightLimit returns a wrapper that lets at most n requests through the
// handlers it wraps at once, all of them together, and answers the others
// 503 with Retry-After.
func inFlightLimit(n int) func(http.Handler) http.Handler {
	slots := make(chan struct{}, n)
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			select {
			case slots <- struct{}{}:
				defer func() { <-slots }()
				h.ServeHTTP(w, r)
			default:
				w.Header().Set("Retry-After", "1")
				plain(w, http.StatusServiceUnavailable, fmt.Sprintf("%d such requests are being served, the most at once: retry", n))
			}
		})
	}
}

// Start checks the web configuration, listens, and serves in the
// background until Shutdown. It fails when the address is taken or the
// web configuration is invalid.
func (s *Server) Start() error {
	path := s.opts.WebConfigFile
	if err := web.Validate(path); err != nil {
		return fmt.Errorf("web config file %s: %w", path, err)
	}
	ln, err := net.Listen("tcp", s.opts.Listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", s.opts.Listen, err)
	}
	// Timeouts bound what a slow or idle client holds: a goroutine and,
	// while it reads slowly, a whole rendered report.
	srv := &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          zap.NewStdLog(s.log),
	}
	s.mu.Lock()
	s.srv, s.addr, s.done = srv, ln.Addr().String(), make(chan struct{})
	s.mu.Unlock()
	listen, systemd := []string{s.opts.Listen}, false
	flags := &web.FlagConfig{WebListenAddresses: &listen, WebSystemdSocket: &systemd, WebConfigFile: &path}
	go func() {
		defer close(s.done)
		if err := web.Serve(ln, srv, flags, slog.New(slogHandler{s.log})); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("HTTP server stopped", zap.Error(err))
		}
	}()
	return nil
}

// Addr is the address the server listens on, once started.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Shutdown stops accepting connections and waits, until ctx is done, for
// the requests in flight.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	<-done
	if err != nil {
		return fmt.Errorf("stop HTTP server: %w", err)
	}
	return nil
}

func (s *Server) ready(w http.ResponseWriter, _ *http.Request) {
	if err := s.opts.API.Ready(); err != nil {
		plain(w, http.StatusServiceUnavailable, "not ready: "+err.Error())
		return
	}
	plain(w, http.StatusOK, "ready")
}

var contentTypes = map[string]string{
	"json":     "application/json",
	"html":     "text/html; charset=utf-8",
	"markdown": "text/markdown; charset=utf-8",
	"text":     "text/plain; charset=utf-8",
}

// report serves the latest report of ?target= (optional with one target)
// in ?format= (json by default).
func (s *Server) report(w http.ResponseWriter, r *http.Request) {
	q, ok := query(w, r, "format", "target")
	if !ok {
		return
	}
	format := cmp.Or(q.Get("format"), "json")
	if !slices.Contains(Formats(), format) {
		plain(w, http.StatusBadRequest, fmt.Sprintf("format %q is not one of %s", format, strings.Join(Formats(), ", ")))
		return
	}
	name, status, msg := s.pickTarget(q.Get("target"))
	if status == http.StatusBadRequest && format == "html" {
		s.targetChoice(w) // a browser, from the landing page's link
		return
	}
	if status != http.StatusOK {
		plain(w, status, msg)
		return
	}
	rep := s.opts.API.Report(name)
	if rep == nil {
		w.Header().Set("Retry-After", "60")
		plain(w, http.StatusNotFound, fmt.Sprintf("no report for target %s yet: its first analysis cycle has not finished", name))
		return
	}
	var buf bytes.Buffer
	if err := Render(&buf, rep, format); err != nil {
		s.log.Error("render report", zap.String("target", name), zap.Error(err))
		plain(w, http.StatusInternalServerError, "the report could not be rendered")
		return
	}
	reportHeaders(w, format)
	_, _ = w.Write(buf.Bytes())
}

// targetChoicePage links to the HTML report of each target.
var targetChoicePage = template.Must(template.New("targets").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>pgadvisor: reports</title></head>
<body><h1>pgadvisor: choose a target</h1>
<ul>{{range .}}<li><a href="?format=html&amp;target={{.}}">{{.}}</a></li>{{end}}</ul>
</body></html>
`))

// targetChoice answers a request for the HTML report that names no target
// when there are several with a page of links to each.
func (s *Server) targetChoice(w http.ResponseWriter) {
	var buf bytes.Buffer
	if err := targetChoicePage.Execute(&buf, s.opts.API.Targets()); err != nil {
		s.log.Error("render the target choice", zap.Error(err))
		plain(w, http.StatusInternalServerError, "the page could not be rendered")
		return
	}
	reportHeaders(w, "html")
	_, _ = w.Write(buf.Bytes())
}

// reportHeaders are those of a response that holds query texts and the
// parameter values they were explained with (from pg_stats: real data):
// never cached, never sniffed.
func reportHeaders(w http.ResponseWriter, format string) {
	w.Header().Set("Content-Type", contentTypes[format])
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store")
	if format == "html" {
		w.Header().Set("Content-Security-Policy", htmlPolicy())
	}
}

// pickTarget resolves ?target=: required when there are several.
func (s *Server) pickTarget(name string) (string, int, string) {
	targets := s.opts.API.Targets()
	switch {
	case name == "" && len(targets) == 1:
		return targets[0], http.StatusOK, ""
	case name == "":
		return "", http.StatusBadRequest, "several targets: choose one with ?target= (" + strings.Join(targets, ", ") + ")"
	case !slices.Contains(targets, name):
		return "", http.StatusNotFound, fmt.Sprintf("no target %q (targets: %s)", name, strings.Join(targets, ", "))
	}
	return name, http.StatusOK, ""
}

// query parses r's query string, which may give each of keys once, and
// answers 400 when it cannot be parsed or gives a key twice: url.Query
// drops a pair it cannot decode (?format=%zz), and Get takes the first of
// two, either of which would serve another report than the one asked for.
func query(w http.ResponseWriter, r *http.Request, keys ...string) (url.Values, bool) {
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		plain(w, http.StatusBadRequest, "the query string cannot be parsed: "+err.Error())
		return nil, false
	}
	for _, k := range keys {
		if len(q[k]) > 1 {
			plain(w, http.StatusBadRequest, fmt.Sprintf("%s is given %d times", k, len(q[k])))
			return nil, false
		}
	}
	return q, true
}

// recommendations serves the open recommendations of every target, or of
// ?target=.
func (s *Server) recommendations(w http.ResponseWriter, r *http.Request) {
	recs, err := s.opts.API.OpenRecommendations()
	if err != nil {
		s.log.Error("read open recommendations", zap.Error(err))
		plain(w, http.StatusInternalServerError, "the recommendations could not be read")
		return
	}
	q, ok := query(w, r, "target")
	if !ok {
		return
	}
	if name := q.Get("target"); name != "" {
		if _, status, msg := s.pickTarget(name); status != http.StatusOK {
			plain(w, status, msg)
			return
		}
		recs = slices.DeleteFunc(recs, func(o OpenRecommendation) bool { return o.Target != name })
	}
	if recs == nil {
		recs = []OpenRecommendation{}
	}
	body, err := json.MarshalIndent(RecommendationsPayload{SchemaVersion: RecommendationsSchemaVersion, Recommendations: recs}, "", "  ")
	if err != nil {
		s.log.Error("encode open recommendations", zap.Error(err))
		plain(w, http.StatusInternalServerError, "the recommendations could not be encoded")
		return
	}
	reportHeaders(w, "json")
	_, _ = w.Write(append(body, '\n'))
}

func plain(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	_, _ = fmt.Fprintln(w, msg)
}

// slogHandler passes the exporter toolkit's slog records to zap.
type slogHandler struct{ log *zap.Logger }

func (h slogHandler) Enabled(_ context.Context, l slog.Level) bool {
	return h.log.Core().Enabled(zapLevel(l))
}

func (h slogHandler) Handle(_ context.Context, r slog.Record) error {
	fields := make([]zap.Field, 0, r.NumAttrs())
	r.Attrs(func(a slog.Attr) bool {
		fields = append(fields, zap.Any(a.Key, a.Value.Resolve().Any()))
		return true
	})
	if ce := h.log.Check(zapLevel(r.Level), r.Message); ce != nil {
		ce.Write(fields...)
	}
	return nil
}

func (h slogHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	fields := make([]zap.Field, len(attrs))
	for i, a := range attrs {
		fields[i] = zap.Any(a.Key, a.Value.Resolve().Any())
	}
	return slogHandler{h.log.With(fields...)}
}

func (h slogHandler) WithGroup(name string) slog.Handler { return slogHandler{h.log.Named(name)} }

func zapLevel(l slog.Level) zapcore.Level {
	switch {
	case l >= slog.LevelError:
		return zapcore.ErrorLevel
	case l >= slog.LevelWarn:
		return zapcore.WarnLevel
	case l >= slog.LevelInfo:
		return zapcore.InfoLevel
	}
	return zapcore.DebugLevel
}
