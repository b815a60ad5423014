package exporter

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"gopkg.in/yaml.v3"
)

var metricRef = regexp.MustCompile(`pgadvisor_[a-z_]+`)

// TestConfigsUseRegisteredMetrics keeps the Grafana dashboard and the
// Prometheus rules in step with the metrics: every pgadvisor_* name they
// use is registered (a histogram's _bucket, _sum and _count included).
func TestConfigsUseRegisteredMetrics(t *testing.T) {
	registered := map[string]bool{}
	for _, name := range MetricNames() {
		registered[name] = true
	}
	fams, err := populated(t).Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				registered[f.GetName()+suffix] = true
			}
		}
	}

	var files []string
	for _, pattern := range []string{"*.json", "*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join("..", "configs", pattern))
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	if !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, "grafana-dashboard.json") }) ||
		!slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, "prometheus-rules.yaml") }) {
		t.Fatalf("configs/grafana-dashboard.json or configs/prometheus-rules.yaml not found among %v", files)
	}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		names := metricRef.FindAllString(string(data), -1)
		if len(names) == 0 && (strings.Contains(file, "grafana") || strings.Contains(file, "prometheus")) {
			t.Errorf("%s names no pgadvisor metric: is the pattern still right?", file)
		}
		for _, name := range names {
			if !registered[name] {
				t.Errorf("%s uses %s, which the agent does not export", file, name)
			}
		}
	}
}

// TestConfigsParse: every deployment file in configs/ is valid YAML (each
// document of a multi-document file) or JSON.
func TestConfigsParse(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "configs", "*"))
	if err != nil {
		t.Fatal(err)
	}
	parsed := 0
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		switch filepath.Ext(file) {
		case ".json":
			var v any
			if err := json.Unmarshal(data, &v); err != nil {
				t.Errorf("%s: %v", file, err)
			}
		case ".yaml", ".yml":
			dec := yaml.NewDecoder(bytes.NewReader(data))
			for doc := 1; ; doc++ {
				var v any
				if err := dec.Decode(&v); errors.Is(err, io.EOF) {
					break
				} else if err != nil {
					t.Errorf("%s: document %d: %v", file, doc, err)
					break
				}
			}
		default:
			continue
		}
		parsed++
	}
	if parsed < 4 {
		t.Errorf("parsed %d files in configs/, want the example config, Kubernetes manifests, rules and dashboard", parsed)
	}
}
