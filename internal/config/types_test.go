package config

import (
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

func TestParseByteSize(t *testing.T) {
	tests := []struct {
		in   string
		want ByteSize
		err  bool
	}{
		{in: "0", want: 0},
		{in: "1048576", want: 1 << 20},
		{in: "9007199254740993", want: 9007199254740993}, // beyond float64 precision
		{in: "100B", want: 100},
		{in: "512kB", want: 512_000},
		{in: "512 KiB", want: 512 << 10},
		{in: "500MB", want: 500_000_000},
		{in: "1GB", want: 1_000_000_000},
		{in: "1gb", want: 1_000_000_000},
		{in: "1.5GiB", want: 3 << 29},
		{in: "2TiB", want: 2 << 40},
		{in: "0.5TB", want: 500_000_000_000},
		{in: "", err: true},
		{in: "GB", err: true},
		{in: "1XB", err: true},
		{in: "-1GB", err: true},
		{in: "1e30GB", err: true},
		{in: "9223372036854775807KiB", err: true},
		{in: "NaN", err: true},
	}
	for _, tt := range tests {
		got, err := ParseByteSize(tt.in)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, error %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}

func TestByteSizeString(t *testing.T) {
	for _, tt := range []struct {
		in   ByteSize
		want string
	}{
		{0, "0B"}, {100, "100B"}, {1000, "1kB"}, {1024, "1KiB"}, {GB, "1GB"},
		{3 << 29, "1536MiB"}, {TiB, "1TiB"}, {1001, "1001B"},
	} {
		got := tt.in.String()
		if got != tt.want {
			t.Errorf("ByteSize(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
		if back, err := ParseByteSize(got); err != nil || back != tt.in {
			t.Errorf("ParseByteSize(%q) = %d, %v; want the round trip to %d", got, back, err, int64(tt.in))
		}
	}
}

func TestDurationYAML(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{in: "5s", want: 5 * time.Second},
		{in: "1m30s", want: 90 * time.Second},
		{in: "250ms", want: 250 * time.Millisecond},
		{in: "5", err: `invalid duration "5"`},
		{in: "five seconds", err: `invalid duration "five seconds"`},
	}
	for _, tt := range tests {
		var d Duration
		err := yaml.Unmarshal([]byte(tt.in), &d)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("unmarshal %q: error %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || time.Duration(d) != tt.want {
			t.Errorf("unmarshal %q = %v, %v; want %v", tt.in, d, err, tt.want)
		}
	}
	out, err := yaml.Marshal(struct{ D Duration }{Duration(90 * time.Second)})
	if err != nil || string(out) != "d: 1m30s\n" {
		t.Errorf("marshal = %q, %v", out, err)
	}
}

func TestFilterAllows(t *testing.T) {
	tests := []struct {
		f    Filter
		name string
		want bool
	}{
		{Filter{}, "app", true},
		{Filter{Exclude: []string{"template0", "template1"}}, "template1", false},
		{Filter{Exclude: []string{"template*"}}, "app", true},
		{Filter{Include: []string{"app_*"}}, "app_eu", true},
		{Filter{Include: []string{"app_*"}}, "billing", false},
		{Filter{Include: []string{"app_*"}, Exclude: []string{"app_test"}}, "app_test", false},
		{Filter{Include: []string{"app_?"}}, "app_1", true},
		{Filter{Include: []string{}}, "app", true},
	}
	for _, tt := range tests {
		if got := tt.f.Allows(tt.name); got != tt.want {
			t.Errorf("%+v.Allows(%q) = %v, want %v", tt.f, tt.name, got, tt.want)
		}
	}
}
