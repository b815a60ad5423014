package config

import (
	"errors"
	"fmt"
	"math"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Duration is a time.Duration written the Go way in YAML: "5s", "1m30s".
type Duration time.Duration

func (d Duration) String() string { return time.Duration(d).String() }

// UnmarshalYAML implements yaml.Unmarshaler.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return errors.New("expected a duration such as 5s or 1m")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: use a number with a unit, such as 5s or 1m", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// ByteSize is a number of bytes written as "1048576", "500MB" or "1.5GiB".
// kB, MB, GB and TB are powers of 1000; KiB, MiB, GiB and TiB powers of 1024.
type ByteSize int64

// Byte size units.
const (
	B   ByteSize = 1
	KB  ByteSize = 1000
	MB           = 1000 * KB
	GB           = 1000 * MB
	TB           = 1000 * GB
	KiB ByteSize = 1 << 10
	MiB          = 1 << 20
	GiB          = 1 << 30
	TiB          = 1 << 40
)

// units is ordered largest first, so String picks the shortest exact form.
var units = []struct {
	name string
	size ByteSize
}{
	{"TiB", TiB}, {"TB", TB}, {"GiB", GiB}, {"GB", GB},
	{"MiB", MiB}, {"MB", MB}, {"KiB", KiB}, {"kB", KB}, {"B", B},
}

// ParseByteSize parses a size such as "1GB", "1.5GiB", "512 kB" or "1048576".
// Unit names are case-insensitive.
func ParseByteSize(s string) (ByteSize, error) {
	num := strings.TrimSpace(s)
	unit := B
	for _, u := range units {
		if len(num) > len(u.name) && strings.EqualFold(num[len(num)-len(u.name):], u.name) {
			num, unit = strings.TrimSpace(num[:len(num)-len(u.name)]), u.size
			break
		}
	}
	if n, err := strconv.ParseInt(num, 10, 64); err == nil && n >= 0 && n <= math.MaxInt64/int64(unit) {
		return ByteSize(n) * unit, nil // exact, even beyond float64 precision
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil || f < 0 || f*float64(unit) >= math.MaxInt64 || math.IsNaN(f) {
		return 0, fmt.Errorf("invalid size %q: use a number of bytes or a unit, such as 500MB or 1.5GiB", s)
	}
	return ByteSize(math.Round(f * float64(unit))), nil
}

func (b ByteSize) String() string {
	for _, u := range units {
		if b != 0 && b%u.size == 0 {
			return strconv.FormatInt(int64(b/u.size), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10) + "B"
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return errors.New("expected a size such as 500MB or 1GiB")
	}
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// Filter selects names (databases, users) by shell-style patterns
// ("app_*"). An empty Include admits every name; Exclude wins over Include.
type Filter struct {
	Include []string `yaml:"include"`
	Exclude []string `yaml:"exclude"`
}

// Allows reports whether name passes the filter.
func (f Filter) Allows(name string) bool {
	return (len(f.Include) == 0 || matchAny(f.Include, name)) && !matchAny(f.Exclude, name)
}

func matchAny(patterns []string, name string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool {
		ok, _ := path.Match(p, name) // patterns are checked by Validate
		return ok
	})
}

func (f Filter) clone() Filter {
	return Filter{Include: slices.Clone(f.Include), Exclude: slices.Clone(f.Exclude)}
}
