package collector

import (
	"bytes"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// snapAt builds a sampled snapshot from queryid -> calls; every call takes
// 2 ms and returns 3 rows.
func snapAt(minute int, calls map[int64]int64) *Snapshot {
	s := &Snapshot{Time: t0.Add(time.Duration(minute) * time.Minute), Sampled: true,
		Texts: map[Key]*Text{}, Databases: map[uint32]string{5: "app"}, Users: map[uint32]string{10: "alice"}}
	for id, n := range calls {
		s.Entries = append(s.Entries, Entry{
			Key:         appKey(id),
			Counters:    Counters{Calls: n, TotalExecTime: 2 * float64(n), Rows: 3 * n, SharedBlksRead: n},
			MaxExecTime: 2,
		})
		s.Texts[appKey(id)] = &Text{Query: "SELECT " + string(rune('a'+id)), Command: "SELECT"}
	}
	return s
}

// appKey is the key snapAt gives queryid id.
func appKey(id int64) Key { return Key{DBID: 5, UserID: 10, QueryID: id, TopLevel: true} }

func mustAdd(t *testing.T, w *Window, s *Snapshot) {
	t.Helper()
	if err := w.Add(s); err != nil {
		t.Fatal(err)
	}
}

func calls(d *Delta) map[int64]int64 {
	m := map[int64]int64{}
	for _, s := range d.Statements {
		m[s.Key.QueryID] = s.Calls
	}
	return m
}

func TestWindowSeries(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, map[int64]int64{1: 10, 2: 5}))
	mustAdd(t, w, snapAt(1, map[int64]int64{1: 17, 2: 5, 3: 4})) // 3 is new: all of it counts
	mustAdd(t, w, snapAt(2, map[int64]int64{1: 2, 3: 6}))        // 1 went down: reset; 2 evicted
	s3 := snapAt(3, map[int64]int64{1: 2, 2: 1, 3: 6})           // 2 re-added
	s4 := snapAt(4, map[int64]int64{1: 3, 2: 9, 3: 6})
	setStatsSince(s3, 2, t0.Add(3*time.Minute))
	setStatsSince(s4, 2, t0.Add(4*time.Minute)) // re-created (1.11): a new series though it grew
	mustAdd(t, w, s3)
	mustAdd(t, w, s4)

	for _, tc := range []struct {
		from time.Time
		want map[int64]int64
	}{
		{t0.Add(time.Minute), map[int64]int64{1: 2 + 1, 2: 1 + 9, 3: 2}},
		{t0.Add(3 * time.Minute), map[int64]int64{1: 1, 2: 9}},
		{time.Time{}, map[int64]int64{1: 7 + 2 + 1, 2: 1 + 9, 3: 4 + 2}},
	} {
		d := w.Delta(tc.from)
		if got := calls(d); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("delta from %s: calls %v, want %v", tc.from.Format("15:04"), got, tc.want)
		}
		noNegatives(t, d)
	}
	if d := w.SinceStart(); d.Resets != 2 || d.Samples != 4 || !d.From.Equal(t0) || !d.To.Equal(t0.Add(4*time.Minute)) {
		t.Errorf("since start: resets=%d samples=%d span %s..%s", d.Resets, d.Samples, d.From, d.To)
	}
	if got := calls(w.LastSample()); !reflect.DeepEqual(got, map[int64]int64{1: 1, 2: 9}) {
		t.Errorf("last sample: %v", got)
	}

	if err := w.Add(snapAt(4, nil)); err == nil || !strings.Contains(err.Error(), "not after") {
		t.Errorf("adding a snapshot that is not newer: err = %v", err)
	}
}

// setStatsSince gives queryid id's entry in s the stats_since since.
func setStatsSince(s *Snapshot, id int64, since time.Time) {
	for i := range s.Entries {
		if s.Entries[i].QueryID == id {
			s.Entries[i].StatsSince = since
		}
	}
}

func TestWindowClockSteppedBack(t *testing.T) {
	w := NewWindow(WindowOptions{})
	s0 := snapAt(0, map[int64]int64{1: 10})
	s0.taken = time.Now()
	mustAdd(t, w, s0)
	// A minute later by the monotonic clock, but the wall clock was stepped
	// back an hour in between: the window's times follow the clock.
	s1 := snapAt(-59, map[int64]int64{1: 15})
	s1.taken = s0.taken.Add(time.Minute)
	mustAdd(t, w, s1)
	if len(s1.Warnings) != 1 || s1.Warnings[0].Code != WarnClockStepped || !strings.Contains(s1.Warnings[0].Message, "went back 1h0m0s") {
		t.Errorf("warnings %v, want one %s saying how far the clock went back", s1.Warnings, WarnClockStepped)
	}
	d := w.Delta(time.Time{})
	if got := calls(d); !reflect.DeepEqual(got, map[int64]int64{1: 5}) {
		t.Errorf("delta across the step: calls %v, want 1: 5", got)
	}
	if !d.From.Equal(t0.Add(-60*time.Minute)) || !d.To.Equal(s1.Time) {
		t.Errorf("the interval across the step spans %s to %s, want the minute before %s", d.From, d.To, s1.Time)
	}
	// The next sample, by the stepped clock, is an ordinary one.
	s2 := snapAt(-58, map[int64]int64{1: 20})
	s2.taken = s1.taken.Add(time.Minute)
	mustAdd(t, w, s2)
	if len(s2.Warnings) != 0 {
		t.Errorf("the sample after the step warns %v", s2.Warnings)
	}
	if got := calls(w.Delta(t0.Add(-59 * time.Minute))); !reflect.DeepEqual(got, map[int64]int64{1: 5}) {
		t.Errorf("delta after the step: calls %v, want 1: 5", got)
	}

	// Restored from disk, the window has no monotonic reading to go by.
	data, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	restored := NewWindow(WindowOptions{})
	if err := restored.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	s3 := snapAt(-90, map[int64]int64{1: 25})
	s3.taken = s2.taken.Add(time.Minute)
	if err := restored.Add(s3); !errors.Is(err, ErrNotAfter) {
		t.Errorf("add to a restored window behind its newest: %v, want ErrNotAfter", err)
	}
	if got := calls(restored.Delta(time.Time{})); !reflect.DeepEqual(got, map[int64]int64{1: 10}) {
		t.Errorf("the refused sample changed the window: calls %v", got)
	}
}

// A delta taken after a mark made before the clock stepped back starts
// where the mark's delta ended, moved back with the window's times: the
// intervals sampled until the clock catches up are not left out.
func TestWindowDeltaSinceAcrossClockStep(t *testing.T) {
	w := NewWindow(WindowOptions{})
	start := time.Now()
	var mark Mark
	// A minute apart by the monotonic clock; the wall clock went back an
	// hour after the second.
	for i, c := range []struct {
		wall  int
		calls int64
	}{{0, 10}, {1, 12}, {-58, 15}, {-57, 19}} {
		s := snapAt(c.wall, map[int64]int64{1: c.calls})
		s.taken = start.Add(time.Duration(i) * time.Minute)
		mustAdd(t, w, s)
		if i == 1 {
			mark = w.LastSample().End()
		}
	}
	d := w.DeltaSince(mark)
	if got := calls(d); d.Samples != 2 || !reflect.DeepEqual(got, map[int64]int64{1: 7}) {
		t.Errorf("since the mark across the step: %d samples, calls %v, want 2 samples, 1: 7", d.Samples, got)
	}
	if d := w.DeltaSince(d.End()); d.Samples != 0 {
		t.Errorf("since the newest mark: %d samples, want none", d.Samples)
	}
}

// A step back shorter than the interval still leaves the snapshot after
// the newest, but the interval would come out short by the step: the
// window follows it too. A coarse clock that reads the same time twice,
// or a step of a fraction of a second, is followed without a warning; a
// wall clock ahead of the monotonic one (a suspended machine) is not.
func TestWindowClockStepsShorterThanTheInterval(t *testing.T) {
	w := NewWindow(WindowOptions{})
	s0 := snapAt(0, map[int64]int64{1: 10})
	s0.taken = time.Now()
	mustAdd(t, w, s0)
	s1 := snapAt(1, map[int64]int64{1: 15})
	s1.Time = s1.Time.Add(-20 * time.Second) // a minute by the monotonic clock, 40 s by the wall clock
	s1.taken = s0.taken.Add(time.Minute)
	mustAdd(t, w, s1)
	if len(s1.Warnings) != 1 || !strings.Contains(s1.Warnings[0].Message, "went back 20s") {
		t.Errorf("warnings %v, want one saying the clock went back 20s", s1.Warnings)
	}
	if d := w.Delta(time.Time{}); d.To.Sub(d.From) != time.Minute {
		t.Errorf("the interval spans %s, want the minute the monotonic clock measured", d.To.Sub(d.From))
	}
	for _, c := range []struct {
		what   string
		wall   time.Duration // after the newest
		mono   time.Duration
		warned bool
	}{
		{"the same reading twice", 0, time.Millisecond, false},
		{"a fraction of a second back", 59*time.Second + 700*time.Millisecond, time.Minute, false},
		{"ahead after a suspend", 10 * time.Minute, time.Minute, false},
		{"in step", time.Minute, time.Minute, false},
	} {
		last, taken := w.st.Last.Time, w.lastTaken
		s := snapAt(0, map[int64]int64{1: 20})
		s.Time, s.taken = last.Add(c.wall), taken.Add(c.mono)
		mustAdd(t, w, s)
		if len(s.Warnings) > 0 != c.warned {
			t.Errorf("%s: warnings %v", c.what, s.Warnings)
		}
		if d := w.LastSample(); !d.To.After(d.From) || c.wall >= c.mono && d.To.Sub(d.From) != c.wall {
			t.Errorf("%s: the interval spans %s to %s", c.what, d.From, d.To)
		}
	}
}

func TestWindowResetAll(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 4})
	a.Info = &Info{Dealloc: 7, StatsReset: t0.Add(-time.Hour)}
	b := snapAt(1, map[int64]int64{1: 9}) // grew, but everything was reset in between
	b.Info = &Info{Dealloc: 2, StatsReset: t0.Add(30 * time.Second)}
	c := snapAt(2, map[int64]int64{1: 10})
	c.Info = &Info{Dealloc: 5, StatsReset: b.Info.StatsReset}
	for _, s := range []*Snapshot{a, b, c} {
		mustAdd(t, w, s)
	}
	d := w.SinceStart()
	if got := calls(d); got[1] != 10 {
		t.Errorf("calls since start = %d, want 9 after the reset + 1", got[1])
	}
	if !d.EvictionsKnown || d.Evictions != 2+3 {
		t.Errorf("evictions = %d (known %v), want 5", d.Evictions, d.EvictionsKnown)
	}
	if d.StatsResets != 1 {
		t.Errorf("resets of all entries = %d, want 1", d.StatsResets)
	}
}

// Before extension 1.9 (no stats_reset), another server behind the same
// address (a failover to a replica that ran more) shows by its start
// only: its counters become the baseline, not a delta.
func TestWindowOtherServerBefore19(t *testing.T) {
	w := NewWindow(WindowOptions{})
	for i, c := range []struct {
		calls int64
		start time.Duration
	}{{10, 0}, {500, time.Hour}, {503, time.Hour}} {
		s := snapAt(i, map[int64]int64{1: c.calls})
		s.ServerStart = t0.Add(-48*time.Hour + c.start)
		mustAdd(t, w, s)
	}
	if d := w.SinceStart(); calls(d)[1] != 3 || d.Resets != 1 {
		t.Errorf("since start: calls %d, resets %d; want the 3 run on the new server, 1 reset", calls(d)[1], d.Resets)
	}
}

// TestWindowEvictionsWarning: the eviction warning counts what the interval
// counts, from the window's newest snapshot: not from a sample the window
// refused, and not across a series it cannot compare with (a failover).
func TestWindowEvictionsWarning(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 4})
	a.Info = &Info{Dealloc: 10, StatsReset: t0.Add(-time.Hour)}
	mustAdd(t, w, a)
	// Restored from disk, the window refuses a sample behind its newest.
	data, err := w.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	w = NewWindow(WindowOptions{})
	if err := w.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	refused := snapAt(-5, map[int64]int64{1: 5})
	refused.Info = &Info{Dealloc: 15, StatsReset: a.Info.StatsReset}
	if err := w.Add(refused); !errors.Is(err, ErrNotAfter) {
		t.Fatalf("add behind the newest of a restored window: %v, want ErrNotAfter", err)
	}
	b := snapAt(1, map[int64]int64{1: 6})
	b.Info, b.Max = &Info{Dealloc: 17, StatsReset: a.Info.StatsReset}, 100
	mustAdd(t, w, b)
	d := w.LastSample()
	if !d.EvictionsKnown || d.Evictions != 17-10 {
		t.Errorf("evictions = %d (known %v), want 7", d.Evictions, d.EvictionsKnown)
	}
	want := "evicted entries 7 times since the previous sample (pg_stat_statements.max = 100)"
	if warn := warningWith(b, WarnEvictions); warn == nil || !strings.Contains(warn.Message, want) {
		t.Errorf("warnings %v, want %s saying %q", b.Warnings, WarnEvictions, want)
	}
	c := snapAt(2, map[int64]int64{1: 1}) // another server, reset before b
	c.Info = &Info{Dealloc: 50, StatsReset: t0.Add(-2 * time.Hour)}
	mustAdd(t, w, c)
	if d := w.LastSample(); d.EvictionsKnown || warningWith(c, WarnEvictions) != nil || d.StatsResets != 0 {
		t.Errorf("across a failover: evictions known %v, warnings %v, resets %d; want unknown, no warning and no reset", d.EvictionsKnown, c.Warnings, d.StatsResets)
	}
}

// TestWindowReaddedWithMoreCalls: an entry evicted (or reset on its own)
// and re-added between two samples can come back with more calls than it
// had and less of another counter: a new series, not a negative delta.
func TestWindowReaddedWithMoreCalls(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 10})
	a.Entries[0].LocalBlksHit, a.Entries[0].JITGenerationTime = 100, 4
	b := snapAt(1, map[int64]int64{1: 12})
	b.Entries[0].LocalBlksHit, b.Entries[0].JITGenerationTime = 5, 1
	mustAdd(t, w, a)
	mustAdd(t, w, b)
	d := w.LastSample()
	noNegatives(t, d)
	if len(d.Statements) != 1 || d.Statements[0].Calls != 12 || d.Statements[0].LocalBlksHit != 5 || d.Resets != 1 {
		t.Errorf("re-added entry: %+v, resets %d; want its new series (12 calls, 5 local blocks hit), one reset", d.Statements, d.Resets)
	}
}

// TestWindowExtensionUpdated: ALTER EXTENSION pg_stat_statements UPDATE
// from 1.8 to 1.9 on PostgreSQL 14+ splits the entry the sampler merged
// from a statement's top-level and nested calls (1,010) in two; the
// top-level one (1,005) only becomes the baseline.
func TestWindowExtensionUpdated(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 1010})
	a.Version = "1.8"
	b := snapAt(1, map[int64]int64{1: 1005})
	b.Version = "1.9"
	c := snapAt(2, map[int64]int64{1: 1012})
	c.Version = "1.9"
	mustAdd(t, w, a)
	mustAdd(t, w, b)
	if d := w.LastSample(); len(d.Statements) != 0 || d.Resets != 1 || d.EvictionsKnown {
		t.Errorf("across the update: %v, resets %d, evictions known %v; want no delta, one reset, evictions unknown", calls(d), d.Resets, d.EvictionsKnown)
	}
	mustAdd(t, w, c)
	if got := calls(w.LastSample()); got[1] != 7 {
		t.Errorf("after the update: calls %v, want 7", got)
	}
}

// TestWindowEntriesRevealed: entries that were there but not seen at the
// last sample bring their history, not this interval: another role's
// statements, hidden until the sampling role is granted
// pg_read_all_stats, and (1.11) an entry whose stats_since is older than
// the last sample.
func TestWindowEntriesRevealed(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 10})
	a.Hidden = 3
	b := snapAt(1, map[int64]int64{1: 12, 2: 900_000}) // 2 was one of the hidden three
	c := snapAt(2, map[int64]int64{1: 13, 2: 900_005, 3: 4_000, 4: 2})
	setStatsSince(c, 3, t0.Add(-30*24*time.Hour)) // created a month ago, filtered out until now
	setStatsSince(c, 4, t0.Add(90*time.Second))   // new since the last sample
	for i, tc := range []struct {
		s    *Snapshot
		want map[int64]int64
	}{
		{b, map[int64]int64{1: 2}},
		{c, map[int64]int64{1: 1, 2: 5, 4: 2}},
	} {
		if i == 0 {
			mustAdd(t, w, a)
		}
		mustAdd(t, w, tc.s)
		if got := calls(w.LastSample()); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sample %d: calls %v, want %v", i+1, got, tc.want)
		}
	}
}

// TestWindowFilterWidened: once the sampler's filters change, an entry not
// seen at the last sample may be one they kept out, with its history (the
// 1.11 stats_since test above does not exist before 1.11): it only becomes
// the baseline.
func TestWindowFilterWidened(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 10})
	a.Filter = `databases ["app"] except []; users [] except []`
	b := snapAt(1, map[int64]int64{1: 12, 2: 50_000}) // 2 is of a database the filter kept out
	c := snapAt(2, map[int64]int64{1: 13, 2: 50_004, 3: 6})
	b.Filter, c.Filter = `databases [] except []; users [] except []`, `databases [] except []; users [] except []`
	mustAdd(t, w, a)
	for i, tc := range []struct {
		s    *Snapshot
		want map[int64]int64
	}{
		{b, map[int64]int64{1: 2}},
		{c, map[int64]int64{1: 1, 2: 4, 3: 6}}, // the same filter: 3 is new
	} {
		mustAdd(t, w, tc.s)
		if got := calls(w.LastSample()); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("sample %d: calls %v, want %v", i+1, got, tc.want)
		}
	}
}

// A window saved before filters were kept has none to compare: its first
// new sample is not taken for a change of filters.
func TestWindowFilterNotKept(t *testing.T) {
	w := NewWindow(WindowOptions{})
	b := snapAt(1, map[int64]int64{1: 12, 2: 5})
	b.Filter = `databases [] except []; users [] except []`
	mustAdd(t, w, snapAt(0, map[int64]int64{1: 10}))
	mustAdd(t, w, b)
	if got := calls(w.LastSample()); !reflect.DeepEqual(got, map[int64]int64{1: 2, 2: 5}) {
		t.Errorf("calls %v, want the new entry's 5 counted", got)
	}
}

// TestWindowServerClock: stats_reset and stats_since are the server's
// times, and are compared with the server's time of the last sample, not
// the agent's, which here runs 30 s ahead: a reset 10 s after the last
// sample is not taken for one before it (a failover), nor is an entry
// created then.
func TestWindowServerClock(t *testing.T) {
	w := NewWindow(WindowOptions{})
	skew := 30 * time.Second
	a := snapAt(0, map[int64]int64{1: 100})
	a.ServerTime, a.Time = a.Time, a.Time.Add(skew)
	a.Info = &Info{StatsReset: t0.Add(-time.Hour)}
	b := snapAt(1, map[int64]int64{1: 7, 2: 3})
	b.ServerTime, b.Time = b.Time, b.Time.Add(skew)
	b.Info = &Info{StatsReset: t0.Add(10 * time.Second)}
	setStatsSince(b, 2, t0.Add(20*time.Second))
	mustAdd(t, w, a)
	mustAdd(t, w, b)
	if got := calls(w.LastSample()); !reflect.DeepEqual(got, map[int64]int64{1: 7, 2: 3}) {
		t.Errorf("after a reset 10 s after the last sample (agent 30 s ahead): calls %v, want what ran since it", got)
	}
}

// TestWindowStatsSinceAppears: ALTER EXTENSION pg_stat_statements UPDATE
// to 1.11 between two samples gives every entry a stats_since it did not
// have. Nothing was reset, so the deltas stay differences.
func TestWindowStatsSinceAppears(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 1_000_000})
	a.Info = &Info{StatsReset: t0.Add(-24 * time.Hour)}
	b := snapAt(1, map[int64]int64{1: 1_000_010})
	b.Info = &Info{StatsReset: a.Info.StatsReset}
	setStatsSince(b, 1, t0.Add(-20*time.Hour))
	mustAdd(t, w, a)
	mustAdd(t, w, b)
	if d := w.LastSample(); calls(d)[1] != 10 || d.Resets != 0 {
		t.Errorf("after stats_since appeared: calls %v, resets %d; want 10 calls, no reset", calls(d), d.Resets)
	}
}

// TestWindowSeriesBeganBeforeLastSample: counters reset before the
// window's newest sample, as another server's are after a failover behind
// the same address, hold more than one interval: they become the
// baseline, with no delta, whether all were reset or one entry recreated.
func TestWindowSeriesBeganBeforeLastSample(t *testing.T) {
	w := NewWindow(WindowOptions{})
	a := snapAt(0, map[int64]int64{1: 100, 2: 50})
	a.Info = &Info{StatsReset: t0.Add(-time.Hour)}
	b := snapAt(1, map[int64]int64{1: 5_000_000, 2: 40}) // the promoted replica's, reset 3 days ago
	b.Info = &Info{Dealloc: 3, StatsReset: t0.Add(-72 * time.Hour)}
	c := snapAt(2, map[int64]int64{1: 5_000_010, 2: 45})
	c.Info = b.Info
	d := snapAt(3, map[int64]int64{1: 5_000_020, 2: 900}) // 2 recreated, a day ago by its stats_since
	d.Info = b.Info
	setStatsSince(c, 2, t0.Add(-72*time.Hour))
	setStatsSince(d, 2, t0.Add(-24*time.Hour))
	for i, tc := range []struct {
		s      *Snapshot
		want   map[int64]int64
		resets int
	}{
		{a, nil, 0},
		{b, map[int64]int64{}, 2},
		{c, map[int64]int64{1: 10, 2: 5}, 0},
		{d, map[int64]int64{1: 10}, 1},
	} {
		mustAdd(t, w, tc.s)
		if i == 0 {
			continue
		}
		if got := w.LastSample(); !reflect.DeepEqual(calls(got), tc.want) || got.Resets != tc.resets {
			t.Errorf("sample %d: calls %v, resets %d; want %v, %d", i, calls(got), got.Resets, tc.want, tc.resets)
		}
	}
	// The other server's evictions since its reset are not this window's.
	if d := w.Delta(t0); d.Evictions != 0 {
		t.Errorf("evictions across the failover = %d, want 0 (unknown)", d.Evictions)
	}
}

// TestWindowDeltaAcrossMerges: cycles that each ask for the delta since
// the last one's end count every call once, though merging joins the
// intervals they analyzed; so do those after a cycle that failed, which
// ask again from the mark before it.
func TestWindowDeltaAcrossMerges(t *testing.T) {
	w := NewWindow(WindowOptions{MaxIntervals: 6})
	mark := w.MarkAt(time.Time{})
	var seen int64
	for m := range 60 {
		mustAdd(t, w, snapAt(m, map[int64]int64{1: int64(m)})) // one call a minute
		if m%5 == 4 {
			d := w.DeltaSince(mark)
			if m%15 == 9 {
				continue // the cycle failed: its delta is not counted, its mark not kept
			}
			seen += calls(d)[1]
			mark = d.End()
		}
	}
	if seen != 59 {
		t.Errorf("cycles saw %d calls, want the 59 made", seen)
	}
}

func TestWindowShareAndTop(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, nil))
	s := snapAt(1, map[int64]int64{1: 10, 2: 30, 3: 60, 4: 100, 5: 1})
	s.Texts[appKey(4)] = &Text{Query: "/* pgadvisor */ SELECT", Command: "SELECT", Own: true}
	s.Texts[appKey(5)] = &Text{Query: "VACUUM", Command: "VACUUM", Utility: true}
	for i := range s.Entries {
		if s.Entries[i].QueryID == 1 {
			s.Entries[i].TotalExecTime = 500 // slow but rare
			s.Entries[i].TempBlksWritten = 50
		}
	}
	delete(s.Texts, appKey(3)) // text unknown
	mustAdd(t, w, s)
	d := w.LastSample()
	var sum float64
	for _, st := range d.Statements {
		sum += st.Share
		if st.Text.Own && st.Share != 0 {
			t.Errorf("own statement has share %v", st.Share)
		}
	}
	if math.Abs(sum-1) > 1e-9 || d.TotalExecTime != 500+60+120+2 {
		t.Errorf("shares sum to %v, total %v", sum, d.TotalExecTime)
	}
	ids := func(st []Statement) (out []string) {
		for _, s := range st {
			out = append(out, s.QueryID)
		}
		return out
	}
	for _, tc := range []struct {
		opts RankOptions
		want []string
	}{
		{RankOptions{}, []string{"1", "3", "2"}},
		{RankOptions{By: ByCalls, Top: 2}, []string{"3", "2"}},
		{RankOptions{By: ByMeanTime, MinCalls: 11}, []string{"2", "3"}},
		{RankOptions{By: BySharedBlksRead}, []string{"3", "2", "1"}},
		{RankOptions{By: ByTempBlksWritten, Top: 1}, []string{"1"}},
	} {
		top, err := d.Top(tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(top); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Top(%+v) = %v, want %v", tc.opts, got, tc.want)
		}
	}
	top, _ := d.Top(RankOptions{Top: 1})
	if st := top[0]; st.MeanExecTime != 50 || st.MaxExecTime != 2 || st.Database != "app" || st.User != "alice" || st.Text.Query != "SELECT b" {
		t.Errorf("top statement = %+v", st)
	}
	if top, _ := d.Top(RankOptions{By: ByCalls}); top[0].Text.Problem != TextMissing {
		t.Errorf("statement without a known text: problem %q, want %q", top[0].Text.Problem, TextMissing)
	}
	if _, err := d.Top(RankOptions{By: "rows"}); err == nil {
		t.Errorf("unknown ranking accepted")
	}
}

// A statement several roles run ranks once, its entries summed: each
// role's part falls below MinCalls, and below a cheaper statement.
func TestTopSumsRoles(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, nil))
	s := snapAt(1, map[int64]int64{1: 10})
	s.Users[11], s.Users[12], s.Users[13] = "bob", "carol", "pgadvisor"
	// The advisor's own EXPLAIN of the statement shares its queryid.
	own := Key{DBID: 5, UserID: 13, QueryID: 2, TopLevel: true}
	s.Entries = append(s.Entries, Entry{Key: own, Counters: Counters{Calls: 3, TotalExecTime: 3}})
	s.Texts[own] = &Text{Query: "/* pgadvisor */ PREPARE pgadvisor_1 AS SELECT tenant", Command: "PREPARE", Own: true}
	for _, user := range []uint32{11, 12, 10} {
		k := Key{DBID: 5, UserID: user, QueryID: 2, TopLevel: true}
		s.Entries = append(s.Entries, Entry{Key: k, Counters: Counters{Calls: 4, TotalExecTime: 40}, MaxExecTime: float64(user)})
		s.Texts[k] = &Text{Query: "SELECT tenant", Command: "SELECT"}
	}
	mustAdd(t, w, s)
	top, err := w.LastSample().Top(RankOptions{MinCalls: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 2 {
		t.Fatalf("Top = %+v, want 2 statements", top)
	}
	if st := top[0]; st.QueryID != "2" || st.Calls != 12 || st.TotalExecTime != 120 || st.MeanExecTime != 10 || st.MaxExecTime != 12 ||
		st.User != "alice, bob, carol" || math.Abs(st.Share-120.0/140) > 1e-9 || st.Text.Own {
		t.Errorf("the statement three roles run: %+v", st)
	}
}

// A statement run inside a function (track = all) has an entry of its
// own, whose time is also in its caller's: it counts once in the total.
func TestWindowShareNested(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, nil))
	s := snapAt(1, map[int64]int64{1: 100, 2: 100}) // 2: the statement inside 1's function
	for i := range s.Entries {
		if s.Entries[i].QueryID == 2 {
			s.Entries[i].TopLevel = false
			s.Texts[s.Entries[i].Key] = s.Texts[appKey(2)]
		}
	}
	mustAdd(t, w, s)
	d := w.LastSample()
	if d.TotalExecTime != 200 {
		t.Errorf("total %v, want 200: the nested statement's time is its caller's", d.TotalExecTime)
	}
	for _, st := range d.Statements {
		if st.Share != 1 {
			t.Errorf("statement %s (top level %v): share %v, want 1", st.QueryID, st.Key.TopLevel, st.Share)
		}
	}
}

// A statement run both at top level and inside a function ranks once,
// its entries summed: one plan, and one index, serve both.
func TestTopSumsNestingLevels(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, nil))
	s := snapAt(1, map[int64]int64{3: 10})
	nested := appKey(3)
	nested.TopLevel = false
	// Listed first, with the function's text: its variable where the
	// caller's text has $1. The top-level text is the one to explain.
	s.Entries = append([]Entry{{Key: nested, Counters: Counters{Calls: 5, TotalExecTime: 50}}}, s.Entries...)
	s.Texts[nested] = &Text{Query: "SELECT d WHERE b = v_b", Command: "SELECT"}
	mustAdd(t, w, s)
	top, err := w.LastSample().Top(RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].Calls != 15 || top[0].Text.Query != "SELECT d" {
		t.Errorf("ranked %+v, want one statement of 15 calls, with the top-level text", top)
	}
}

// TestWindowTextsByEntry: the advisor's PREPARE of an application's
// statement has the statement's queryid but a text of its own; each entry
// keeps its own text, so the application's statement is still ranked.
func TestWindowTextsByEntry(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, nil))
	s := snapAt(1, map[int64]int64{7: 40})
	own := appKey(7)
	own.TopLevel = false
	s.Entries = append(s.Entries, Entry{Key: own, Counters: Counters{Calls: 2, TotalExecTime: 1}})
	s.Texts[own] = &Text{Query: "/* pgadvisor */ PREPARE pgadvisor_1 AS SELECT h", Command: "PREPARE", Own: true}
	mustAdd(t, w, s)
	top, err := w.LastSample().Top(RankOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 1 || top[0].Key != appKey(7) || top[0].Text.Query != "SELECT h" || top[0].Share != 1 {
		t.Errorf("ranked %+v, want only the application's statement, with its text and the whole share", top)
	}
}

// TestWindowReadsFormat1 loads a window saved by a build that kept texts
// by queryid.
func TestWindowReadsFormat1(t *testing.T) {
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, map[int64]int64{1: 1}))
	mustAdd(t, w, snapAt(1, map[int64]int64{1: 5, 2: 3}))
	mustAdd(t, w, snapAt(2, map[int64]int64{1: 6})) // queryid 2 is left only in an interval
	v1 := windowStateV1{Last: w.st.Last, Intervals: w.st.Intervals, Databases: w.st.Databases, Users: w.st.Users,
		Texts: map[int64]*Text{}}
	for k, t := range w.st.Texts {
		v1.Texts[k.QueryID] = t
	}
	var buf bytes.Buffer
	buf.Write(make([]byte, windowHeadLen))
	if err := gob.NewEncoder(&buf).Encode(&v1); err != nil {
		t.Fatal(err)
	}
	data := buf.Bytes()
	copy(data, windowMagic)
	data[len(windowMagic)] = 1
	binary.BigEndian.PutUint32(data[len(windowMagic)+1:], crc32.ChecksumIEEE(data[windowHeadLen:]))
	l := NewWindow(WindowOptions{})
	if err := l.UnmarshalBinary(data); err != nil {
		t.Fatal(err)
	}
	if len(l.st.Texts) != 2 || !reflect.DeepEqual(l.SinceStart(), w.SinceStart()) {
		t.Errorf("format 1 window differs (%d texts, want 2):\n got %+v\nwant %+v", len(l.st.Texts), l.SinceStart(), w.SinceStart())
	}
	data[len(windowMagic)] = 9
	if err := l.UnmarshalBinary(data); err == nil || !strings.Contains(err.Error(), "format version 9") {
		t.Errorf("format 9: err = %v, want one naming the version", err)
	}
}

func TestWindowBounds(t *testing.T) {
	w := NewWindow(WindowOptions{MaxIntervals: 6})
	for m := range 40 {
		mustAdd(t, w, snapAt(m, map[int64]int64{1: int64(m) * 2, int64(2 + m%5): int64(m)}))
	}
	if n := len(w.st.Intervals); n != 6 {
		t.Fatalf("%d intervals kept, want 6", n)
	}
	for i, iv := range w.st.Intervals[3:] { // the newest half stay as sampled
		if iv.Samples != 1 {
			t.Errorf("newest interval %d merged from %d samples", i, iv.Samples)
		}
	}
	d := w.SinceStart()
	if got := calls(d)[1]; got != 39*2 || d.Samples != 39 || !d.From.Equal(t0) {
		t.Errorf("since start after merges: calls %d samples %d from %s; want 78, 39, %s", got, d.Samples, d.From, t0)
	}
	if got := calls(w.LastSample())[1]; got != 2 {
		t.Errorf("last sample calls %d, want 2", got)
	}

	r := NewWindow(WindowOptions{Retention: 10 * time.Minute})
	for m := range 30 {
		mustAdd(t, r, snapAt(m, map[int64]int64{1: int64(m)}))
	}
	if d := r.SinceStart(); d.Samples != 10 || !d.From.Equal(t0.Add(19*time.Minute)) || calls(d)[1] != 10 {
		t.Errorf("retention 10m: samples %d from %s calls %d", d.Samples, d.From, calls(d)[1])
	}
}

// The names of roles whose entries have left the window go with their
// texts: a role per deployment would otherwise pile up.
func TestWindowPrunesNames(t *testing.T) {
	w := NewWindow(WindowOptions{Retention: 2 * time.Minute})
	for m := range 50 {
		s := snapAt(m, nil)
		user := uint32(100 + m)
		s.Users = map[uint32]string{user: fmt.Sprintf("role_%d", m)}
		k := Key{DBID: 5, UserID: user, QueryID: 1, TopLevel: true}
		s.Entries = append(s.Entries, Entry{Key: k, Counters: Counters{Calls: 1}})
		s.Texts[k] = &Text{Query: "SELECT 1", Command: "SELECT"}
		w.textsLimit = 0 // prune at every Add
		mustAdd(t, w, s)
	}
	if n := len(w.st.Users); n > 4 {
		t.Errorf("%d role names kept, want those of the entries in the last 2 minutes", n)
	}
	if top := w.Delta(time.Time{}).Statements; len(top) == 0 || top[len(top)-1].User != "role_49" {
		t.Errorf("the newest entry's role: %+v", top)
	}
}

func TestWindowSaveLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "window.bin")
	w := NewWindow(WindowOptions{})
	mustAdd(t, w, snapAt(0, map[int64]int64{1: 1}))
	mustAdd(t, w, snapAt(1, map[int64]int64{1: 5, 2: 3}))
	if err := w.Save(path); err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("directory holds %d files after Save, want only the window", len(entries))
	}
	l, err := LoadWindow(path, WindowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(l.SinceStart(), w.SinceStart()) {
		t.Errorf("loaded window differs:\n got %+v\nwant %+v", l.SinceStart(), w.SinceStart())
	}
	// The restored baseline gives the next sample its delta.
	mustAdd(t, l, snapAt(2, map[int64]int64{1: 6, 2: 3}))
	if got := calls(l.LastSample()); !reflect.DeepEqual(got, map[int64]int64{1: 1}) {
		t.Errorf("first delta after load: %v, want 1 call of queryid 1", got)
	}
	if got := l.SinceStart().Statements; len(got) != 2 || got[0].Text.Query == "" {
		t.Errorf("texts after load: %+v", got)
	}

	data, _ := os.ReadFile(path)
	for name, bad := range map[string][]byte{
		"flipped":   append(append([]byte{}, data[:len(data)-3]...), data[len(data)-3]^0xff, data[len(data)-2], data[len(data)-1]),
		"truncated": data[:len(data)/2],
		"foreign":   []byte("{\"json\": true}"),
		"empty":     nil,
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := LoadWindow(p, WindowOptions{})
		if err == nil || !strings.Contains(err.Error(), p) {
			t.Errorf("%s file: err = %v, want an error naming %s", name, err, p)
		}
	}
	if _, err := LoadWindow(filepath.Join(dir, "absent"), WindowOptions{}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v, want fs.ErrNotExist", err)
	}
	empty := filepath.Join(dir, "empty")
	if err := NewWindow(WindowOptions{}).Save(empty); err != nil {
		t.Fatal(err)
	}
	if e, err := LoadWindow(empty, WindowOptions{Retention: time.Hour}); err != nil || e.SinceStart().Samples != 0 {
		t.Errorf("empty window: %v", err)
	}
	if err := w.Save(filepath.Join(dir, "no", "such", "dir", "w.bin")); err == nil || !strings.Contains(err.Error(), "no/such/dir") {
		t.Errorf("save into a missing directory: err = %v", err)
	}
}

func TestDeltaEncoding(t *testing.T) {
	full := deltaEntry{Key: Key{DBID: math.MaxUint32, UserID: 10, QueryID: math.MinInt64, TopLevel: false}}
	for i, p := range full.intFields() {
		*p = int64(i+1) << (2 * i)
	}
	for i, p := range full.floatFields() {
		*p = float64(i) + 0.125
	}
	entries := []deltaEntry{
		full,
		{Key: Key{DBID: 1, UserID: 2, QueryID: 42, TopLevel: true}, Counters: Counters{Calls: 7, TotalExecTime: 1.5}},
		{Key: Key{QueryID: -1}},
	}
	var data []byte
	for _, e := range entries {
		data = appendDelta(data, e)
	}
	var got []deltaEntry
	if err := eachDelta(data, func(e deltaEntry) { got = append(got, e) }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, entries) {
		t.Fatalf("round trip:\n got %+v\nwant %+v", got, entries)
	}
	if n := len(appendDelta(nil, entries[1])); n > 25 {
		t.Errorf("a sparse entry takes %d bytes", n)
	}
	for cut := 1; cut < len(data); cut++ { // every truncation is an error, never a panic
		n := 0
		err := eachDelta(data[:cut], func(deltaEntry) { n++ })
		if err == nil && n == len(entries) {
			t.Errorf("truncated at %d of %d bytes: all entries decoded", cut, len(data))
		}
	}
}

func TestWindowSetRetention(t *testing.T) {
	w := NewWindow(WindowOptions{})
	for m := range 30 {
		mustAdd(t, w, snapAt(m, map[int64]int64{1: int64(m)}))
	}
	w.SetRetention(10 * time.Minute)
	if d := w.SinceStart(); d.Samples != 10 || calls(d)[1] != 10 {
		t.Errorf("after SetRetention(10m): %d samples, %d calls; want 10 and 10", d.Samples, calls(d)[1])
	}
}
