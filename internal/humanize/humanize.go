// Package humanize formats numbers for people: counts with thousands
// separators and sizes, as reports and findings print them.
package humanize

import (
	"math"
	"strconv"
	"strings"
)

// Count rounds v to a whole number and groups its digits: 1234567.4 ->
// "1,234,567". Huge, infinite and NaN values print as Go prints them.
func Count(v float64) string {
	switch {
	case math.IsNaN(v) || math.IsInf(v, 0):
		return strconv.FormatFloat(v, 'f', -1, 64)
	case math.Abs(v) >= 1e18:
		return strconv.FormatFloat(v, 'g', 3, 64)
	}
	return Thousands(strconv.FormatFloat(math.Round(v), 'f', 0, 64))
}

// Thousands groups the integer part of a decimal number: "-1234567.25" ->
// "-1,234,567.25".
func Thousands(s string) string {
	sign, rest := "", s
	if strings.HasPrefix(rest, "-") {
		sign, rest = "-", rest[1:]
	}
	intPart, frac, hasFrac := strings.Cut(rest, ".")
	var b strings.Builder
	for i, c := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

// Bytes formats a size as pg_size_pretty does (1024-based, kB/MB/GB/TB),
// with one decimal below 10.
func Bytes(n int64) string {
	if n < 1024 {
		return strconv.FormatInt(n, 10) + " bytes"
	}
	v := float64(n)
	unit := ""
	for _, u := range []string{"kB", "MB", "GB", "TB", "PB"} {
		if v < 1024 && unit != "" {
			break
		}
		v /= 1024
		unit = u
	}
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 1, 64) + " " + unit
	}
	return strconv.FormatFloat(v, 'f', 0, 64) + " " + unit
}

// Millis shows a duration in milliseconds with two decimals, in seconds
// from 1000 ms: "0.05 ms", "91.03 ms", "1.50 s".
func Millis(ms float64) string {
	if ms >= 1000 {
		return strconv.FormatFloat(ms/1000, 'f', 2, 64) + " s"
	}
	return strconv.FormatFloat(ms, 'f', 2, 64) + " ms"
}
