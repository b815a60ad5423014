package humanize

import (
	"math"
	"testing"
)

func TestCount(t *testing.T) {
	for _, tt := range []struct {
		v    float64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {1234567.4, "1,234,567"}, {-1234.6, "-1,235"},
		{2e18, "2e+18"}, {math.Inf(1), "+Inf"}, {math.NaN(), "NaN"},
	} {
		if got := Count(tt.v); got != tt.want {
			t.Errorf("Count(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
	if got := Thousands("-1234567.25"); got != "-1,234,567.25" {
		t.Errorf("Thousands = %q", got)
	}
}

func TestBytes(t *testing.T) {
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{512, "512 bytes"}, {229376, "224 kB"}, {3355443, "3.2 MB"}, {91750400, "88 MB"}, {5 << 40, "5.0 TB"},
	} {
		if got := Bytes(tt.n); got != tt.want {
			t.Errorf("Bytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestMillis(t *testing.T) {
	for ms, want := range map[float64]string{0.048: "0.05 ms", 91.031: "91.03 ms", 999.994: "999.99 ms", 1500: "1.50 s"} {
		if got := Millis(ms); got != want {
			t.Errorf("Millis(%v) = %q, want %q", ms, got, want)
		}
	}
}
