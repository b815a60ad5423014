package collector

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"encoding/gob"
	"errors"
	"fmt"
	"hash/crc32"
	"maps"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// WindowOptions bound a Window's memory: about MaxIntervals x statements
// active per interval x 50 bytes (intervals are stored compactly), plus the
// newest snapshot.
type WindowOptions struct {
	// MaxIntervals is how many intervals between snapshots are kept
	// (default 96). The newest half stay as sampled; beyond the limit the
	// two adjacent older intervals spanning the least time are merged, so
	// old history gets coarser while totals since the start stay exact.
	MaxIntervals int
	// Retention drops intervals that ended longer than this before the
	// newest snapshot; 0 keeps everything (merged).
	Retention time.Duration
}

// DefaultMaxIntervals is WindowOptions.MaxIntervals when it is zero.
const DefaultMaxIntervals = 96

// Window turns successive snapshots into per-statement deltas over any
// span. It is safe for concurrent use. Snapshots given to Add must not be
// modified afterwards.
type Window struct {
	mu          sync.Mutex
	opts        WindowOptions
	st          windowState
	index       map[Key]int // st.Last.Entries by key
	textsLimit  int         // prune texts when there are more
	scratch     []byte
	lastTaken   time.Time     // st.Last's Snapshot.taken; zero once restored from disk
	steppedBack time.Duration // how far followClockBack has moved the times back in all
	// since holds where the last delta DeltaSince gave began and ended:
	// merging never joins the intervals either side of either, which the
	// next one (or, when a cycle failed, the same one again) would count
	// whole, and what the last one counted twice.
	since [2]time.Time
}

// windowState is everything a Window persists.
type windowState struct {
	Last      *baseline // the newest snapshot's cumulative counters; nil before the first
	Intervals []interval
	Texts     map[Key]*Text
	Databases map[uint32]string
	Users     map[uint32]string
}

type baseline struct {
	Time        time.Time
	ServerTime  time.Time // Snapshot.ServerTime
	ServerStart time.Time // Snapshot.ServerStart; zero in windows saved before it was kept
	Version     string    // of the extension; "" in windows saved before it was kept
	Filter      string    // Snapshot.Filter; "" in windows saved before it was kept
	Hidden      int       // Snapshot.Hidden
	Info        *Info
	Entries     []Entry
}

// interval holds what happened between two snapshots (or several merged
// intervals): only entries with activity, encoded by appendDelta.
type interval struct {
	Start, End     time.Time
	Samples        int // sample intervals merged into this one
	Count          int // entries in Data
	Data           []byte
	Evictions      int64
	EvictionsKnown bool
	Resets         int // series that started over
	StatsResets    int // resets of all entries (pg_stat_statements_reset())
}

type deltaEntry struct {
	Key
	Counters
}

// appendDelta encodes e: dbid and userid as uvarints, the queryid in 8
// bytes, a uvarint mask (bit 0: toplevel; then one bit per counter, set
// when it is not zero), then the set counters: integers as varints, times
// as 8-byte floats. Most counters are zero, so an entry takes ~40 bytes.
func appendDelta(buf []byte, e deltaEntry) []byte {
	ints, floats := e.intFields(), e.floatFields()
	var mask uint64
	if e.TopLevel {
		mask = 1
	}
	for i, p := range ints {
		if *p != 0 {
			mask |= 1 << (1 + i)
		}
	}
	for i, p := range floats {
		if *p != 0 {
			mask |= 1 << (1 + len(ints) + i)
		}
	}
	buf = binary.AppendUvarint(buf, uint64(e.DBID))
	buf = binary.AppendUvarint(buf, uint64(e.UserID))
	buf = binary.LittleEndian.AppendUint64(buf, uint64(e.QueryID))
	buf = binary.AppendUvarint(buf, mask)
	for i, p := range ints {
		if mask&(1<<(1+i)) != 0 {
			buf = binary.AppendVarint(buf, *p)
		}
	}
	for i, p := range floats {
		if mask&(1<<(1+len(ints)+i)) != 0 {
			buf = binary.LittleEndian.AppendUint64(buf, math.Float64bits(*p))
		}
	}
	return buf
}

var errBadDelta = errors.New("malformed interval entry")

// eachDelta decodes the entries appendDelta wrote, in order.
func eachDelta(data []byte, fn func(deltaEntry)) error {
	for len(data) > 0 {
		var e deltaEntry
		dbid, n1 := binary.Uvarint(data)
		if n1 <= 0 || dbid > math.MaxUint32 {
			return errBadDelta
		}
		userid, n2 := binary.Uvarint(data[n1:])
		if n2 <= 0 || userid > math.MaxUint32 || len(data) < n1+n2+8 {
			return errBadDelta
		}
		data = data[n1+n2:]
		e.DBID, e.UserID = uint32(dbid), uint32(userid)
		e.QueryID = int64(binary.LittleEndian.Uint64(data))
		mask, n := binary.Uvarint(data[8:])
		if n <= 0 {
			return errBadDelta
		}
		data = data[8+n:]
		e.TopLevel = mask&1 != 0
		ints, floats := e.intFields(), e.floatFields()
		for i, p := range ints {
			if mask&(1<<(1+i)) != 0 {
				v, n := binary.Varint(data)
				if n <= 0 {
					return errBadDelta
				}
				*p, data = v, data[n:]
			}
		}
		for i, p := range floats {
			if mask&(1<<(1+len(ints)+i)) != 0 {
				if len(data) < 8 {
					return errBadDelta
				}
				*p, data = math.Float64frombits(binary.LittleEndian.Uint64(data)), data[8:]
			}
		}
		fn(e)
	}
	return nil
}

// NewWindow returns an empty window.
func NewWindow(opts WindowOptions) *Window {
	if opts.MaxIntervals <= 0 {
		opts.MaxIntervals = DefaultMaxIntervals
	}
	w := &Window{opts: opts}
	w.reset(windowState{})
	return w
}

func (w *Window) reset(st windowState) {
	if st.Texts == nil {
		st.Texts = map[Key]*Text{}
	}
	if st.Databases == nil {
		st.Databases = map[uint32]string{}
	}
	if st.Users == nil {
		st.Users = map[uint32]string{}
	}
	w.st = st
	w.index = map[Key]int{}
	w.lastTaken = time.Time{}
	if st.Last != nil {
		for i, e := range st.Last.Entries {
			w.index[e.Key] = i
		}
	}
	w.textsLimit = 2*len(st.Texts) + 1024
}

// SetRetention changes how long the window keeps intervals, dropping
// those now too old (a reloaded configuration).
func (w *Window) SetRetention(d time.Duration) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.opts.Retention = d
	w.trim()
}

// ErrNotAfter is Add refusing a snapshot no newer than the window's
// newest: the sample is lost, the window intact.
var ErrNotAfter = errors.New("add snapshot: out of order")

// Add appends a snapshot. A snapshot that was not Sampled is ignored, so a
// failed sample does not break the series. A snapshot whose wall-clock time
// is no later than the newest's moves the window's times back (see
// followClockBack), or is refused. Evictions pg_stat_statements made
// since the newest come back as a warning on snap, so a snapshot goes to
// one window only.
func (w *Window) Add(snap *Snapshot) error {
	if snap == nil || !snap.Sampled {
		return nil
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	last := w.st.Last
	if last != nil {
		if err := w.followClockBack(snap); err != nil {
			return err
		}
	}
	w.lastTaken = snap.taken
	if last != nil {
		iv := w.interval(last, snap)
		// Counted here, not by the Sampler: its previous sample may be one
		// this window refused or never got, and only the interval knows
		// when evictions cannot be counted (a failover, an update).
		if iv.Evictions > 0 {
			snap.Warnings = append(snap.Warnings, Warning{Code: WarnEvictions,
				Message: fmt.Sprintf("pg_stat_statements evicted entries %d times since the previous sample (pg_stat_statements.max = %d): the statistics of rare statements are lost", iv.Evictions, snap.Max),
				Fix:     "raise pg_stat_statements.max in postgresql.conf and restart PostgreSQL"})
		}
		w.st.Intervals = append(w.st.Intervals, iv)
	}
	w.st.Last = &baseline{Time: snap.Time, ServerTime: snap.ServerTime, ServerStart: snap.ServerStart, Version: snap.Version, Filter: snap.Filter, Hidden: snap.Hidden, Info: snap.Info, Entries: snap.Entries}
	clear(w.index)
	for i, e := range snap.Entries {
		w.index[e.Key] = i
	}
	for k, t := range snap.Texts {
		w.st.Texts[k] = t
	}
	for oid, name := range snap.Databases {
		w.st.Databases[oid] = name
	}
	for oid, name := range snap.Users {
		w.st.Users[oid] = name
	}
	w.trim()
	return nil
}

// clockTolerance is how far the wall clock may fall behind the monotonic
// one between two samples without a warning: NTP slews it by 0.05% at
// most, and a coarse clock can read the same time twice.
const clockTolerance = time.Second

// followClockBack handles a snapshot whose wall-clock time is behind where
// the monotonic clock puts it: the clock stepped back (NTP) since the
// window's newest, by more than the interval or less. The counters' deltas
// are still good, so the window's times move back with the clock, by as
// much as puts its newest where the monotonic clock says it was, with a
// warning from clockTolerance on; the snapshot keeps its wall-clock time.
// A wall clock ahead of the monotonic one is left alone: the monotonic
// clock stops while the machine is suspended. Without a monotonic reading
// of both (a window restored from disk, a snapshot not from a Sampler), a
// snapshot no later than the newest is refused.
func (w *Window) followClockBack(snap *Snapshot) error {
	newest := w.st.Last.Time
	behind := !snap.Time.After(newest)
	var elapsed time.Duration
	if !w.lastTaken.IsZero() && !snap.taken.IsZero() {
		elapsed = snap.taken.Sub(w.lastTaken)
	}
	if elapsed <= 0 {
		if behind {
			return fmt.Errorf("%w: taken at %s, not after the window's newest (%s): the clock went back?", ErrNotAfter,
				snap.Time.Format(time.RFC3339Nano), newest.Format(time.RFC3339Nano))
		}
		return nil
	}
	step := newest.Add(elapsed).Sub(snap.Time)
	if step <= 0 || !behind && step < clockTolerance {
		return nil
	}
	w.st.Last.Time = w.st.Last.Time.Add(-step)
	w.steppedBack += step
	for i, t := range w.since {
		if !t.IsZero() {
			w.since[i] = t.Add(-step)
		}
	}
	for i := range w.st.Intervals {
		iv := &w.st.Intervals[i]
		iv.Start, iv.End = iv.Start.Add(-step), iv.End.Add(-step)
	}
	if step >= clockTolerance {
		snap.Warnings = append(snap.Warnings, Warning{Code: WarnClockStepped,
			Message: fmt.Sprintf("the system clock went back %s between two samples %s apart by the monotonic clock: the window's times moved back with it",
				step.Round(time.Second), elapsed.Round(time.Millisecond)),
			Fix: "keep the clock in step with NTP slewing rather than stepping; the window's intervals kept their lengths"})
	}
	return nil
}

// interval computes the deltas from last to snap. A counter that went
// down, a changed stats_since or a reset of all entries starts a new
// series, whose delta is then the new cumulative value: what ran since
// the reset, which came after last. A series that began before last, as
// another server's does (a failover behind the same address), holds more
// than this interval: it only becomes the baseline, with no delta (before
// extension 1.9, whose stats_reset shows it, a changed server start does:
// a restart loses that interval too). So do
// the entries of another extension version (ALTER EXTENSION ... UPDATE):
// an update to 1.9 on PostgreSQL 14+ splits each entry the sampler merged
// from a statement's top-level and nested calls in two, and the top-level
// one, fewer than the merged sum, would start a series holding all of its
// history.
func (w *Window) interval(last *baseline, snap *Snapshot) interval {
	iv := interval{Start: last.Time, End: snap.Time, Samples: 1}
	// stats_reset and stats_since come from the server's clock: compared
	// with the agent's, a skew would take a reset just after the last
	// sample for one before it, and drop what ran since.
	lastServer := cmp.Or(last.ServerTime, last.Time)
	iv.Evictions, iv.EvictionsKnown = evictions(last.Info, snap.Info)
	resetAll := last.Info != nil && snap.Info != nil && !snap.Info.StatsReset.Equal(last.Info.StatsReset)
	if resetAll && !snap.Info.StatsReset.Before(lastServer) {
		iv.StatsResets = 1 // since the last sample; one before it is another server's (a failover)
	}
	upgraded := last.Version != "" && snap.Version != last.Version
	// Before 1.9 no stats_reset tells another server's counters (a
	// failover behind the same address) from this one's: its start does.
	otherServer := last.Info == nil && snap.Info == nil && !last.ServerStart.IsZero() && !snap.ServerStart.Equal(last.ServerStart)
	if upgraded || otherServer || resetAll && snap.Info.StatsReset.Before(lastServer) {
		iv.Resets, iv.Evictions, iv.EvictionsKnown = len(snap.Entries), 0, false
		return iv
	}
	// An entry that was there but not seen at the last sample holds its
	// history, not this interval: one created before it (by 1.11's
	// stats_since), or, when fewer rows are hidden than then, possibly one
	// of those (another role's statement, shown once the sampling role is
	// granted pg_read_all_stats), or, when the sampler's filters changed,
	// possibly one they kept out. New entries then only become the
	// baseline; a statement that did start in between loses this interval.
	// After a reset of all entries every one started since.
	refiltered := last.Filter != "" && snap.Filter != last.Filter // "": saved before filters were kept
	revealed := !resetAll && (snap.Hidden < last.Hidden || refiltered)
	buf := w.scratch[:0] // reused, so the kept data is allocated at its exact size
	for _, e := range snap.Entries {
		d := e.Counters
		i, seen := w.index[e.Key]
		if !seen && (revealed || !e.StatsSince.IsZero() && e.StatsSince.Before(lastServer)) {
			continue
		}
		if seen {
			p := last.Entries[i]
			switch {
			case recreated(p, e) && e.StatsSince.Before(lastServer):
				iv.Resets++
				continue
			case resetAll || wentDown(p.Counters, e.Counters) || recreated(p, e):
				iv.Resets++
			default:
				d = combine(e.Counters, p.Counters, -1)
			}
		}
		if d.Calls != 0 || d.Plans != 0 {
			buf = appendDelta(buf, deltaEntry{e.Key, d})
			iv.Count++
		}
	}
	iv.Data = bytes.Clone(buf)
	w.scratch = buf
	return iv
}

// evictions is how many times entries were deallocated between two
// readings of pg_stat_statements_info; known is false without both readings.
func evictions(prev, cur *Info) (n int64, known bool) {
	if prev == nil || cur == nil {
		return 0, false
	}
	if !cur.StatsReset.Equal(prev.StatsReset) || cur.Dealloc < prev.Dealloc {
		return cur.Dealloc, true // reset in between: a new series
	}
	return cur.Dealloc - prev.Dealloc, true
}

// recreated reports whether cur is a new entry with prev's key: its
// stats_since moved. A zero stats_since is no evidence either way: it is
// what extension versions before 1.11 give, so an upgrade to 1.11 between
// two samples is not a reset.
func recreated(prev, cur Entry) bool {
	return !prev.StatsSince.IsZero() && !cur.StatsSince.IsZero() && !prev.StatsSince.Equal(cur.StatsSince)
}

// trim applies Retention and MaxIntervals, and drops texts no longer
// referenced once there are many.
func (w *Window) trim() {
	if w.st.Last == nil {
		return // empty
	}
	ivs := w.st.Intervals
	if w.opts.Retention > 0 {
		cut := w.st.Last.Time.Add(-w.opts.Retention)
		for len(ivs) > 0 && !ivs[0].End.After(cut) {
			ivs = ivs[1:]
		}
	}
	keep := w.opts.MaxIntervals / 2 // newest intervals never merged
	for len(ivs) > w.opts.MaxIntervals {
		best := -1
		for i := 0; i+1 < len(ivs)-keep; i++ {
			if !ivs[i].End.Equal(w.since[0]) && !ivs[i].End.Equal(w.since[1]) && (best < 0 || ivs[i+1].End.Sub(ivs[i].Start) < ivs[best+1].End.Sub(ivs[best].Start)) {
				best = i
			}
		}
		if best < 0 {
			break
		}
		ivs[best] = merge(ivs[best], ivs[best+1])
		ivs = append(ivs[:best+1], ivs[best+2:]...)
	}
	w.st.Intervals = ivs
	if len(w.st.Texts) > w.textsLimit {
		w.pruneTexts()
	}
}

func merge(a, b interval) interval {
	m := interval{Start: a.Start, End: b.End, Samples: a.Samples + b.Samples,
		Evictions: a.Evictions + b.Evictions, EvictionsKnown: a.EvictionsKnown && b.EvictionsKnown,
		Resets: a.Resets + b.Resets, StatsResets: a.StatsResets + b.StatsResets}
	entries := make([]deltaEntry, 0, a.Count+b.Count)
	pos := make(map[Key]int, a.Count+b.Count)
	add := func(e deltaEntry) {
		if i, ok := pos[e.Key]; ok {
			entries[i].Counters = combine(entries[i].Counters, e.Counters, 1)
			return
		}
		pos[e.Key] = len(entries)
		entries = append(entries, e)
	}
	eachDelta(a.Data, add) // intervals in memory were encoded here or validated on load
	eachDelta(b.Data, add)
	m.Count = len(entries)
	for _, e := range entries {
		m.Data = appendDelta(m.Data, e)
	}
	return m
}

// pruneTexts drops the texts, and the database and role names, of
// entries neither the newest snapshot nor any interval holds any more:
// short-lived roles (issued per deployment or by a secrets manager) would
// otherwise pile up for as long as the agent runs.
func (w *Window) pruneTexts() {
	used := make(map[Key]bool, len(w.st.Texts))
	for _, e := range w.st.Last.Entries {
		used[e.Key] = true
	}
	for _, iv := range w.st.Intervals {
		eachDelta(iv.Data, func(e deltaEntry) { used[e.Key] = true })
	}
	dbs, users := map[uint32]bool{}, map[uint32]bool{}
	for k := range used {
		dbs[k.DBID], users[k.UserID] = true, true
	}
	maps.DeleteFunc(w.st.Texts, func(k Key, _ *Text) bool { return !used[k] })
	maps.DeleteFunc(w.st.Databases, func(oid uint32, _ string) bool { return !dbs[oid] })
	maps.DeleteFunc(w.st.Users, func(oid uint32, _ string) bool { return !users[oid] })
	w.textsLimit = 2*len(w.st.Texts) + 1024
}

// Delta is what happened over a span of a window.
type Delta struct {
	From, To time.Time // the span covered: whole intervals, so From may be after the time asked for
	Samples  int       // sample intervals summed
	// Statements are every statement with calls or plans in the span, in
	// no particular order; see Top for rankings.
	Statements []Statement
	// TotalExecTime is the execution time of the whole workload in the
	// span (every top-level statement but the advisor's own), the base of
	// Share. A nested statement's time (pg_stat_statements.track = all,
	// extension 1.9 and later) is already in its caller's; before 1.9 the
	// two cannot be told apart, and both count.
	TotalExecTime  float64
	Evictions      int64 // times pg_stat_statements evicted entries in the span (pg_stat_statements_info.dealloc)
	EvictionsKnown bool  // false before extension version 1.9
	Resets         int   // statement series that started over (reset, evicted and re-added)
	// StatsResets are the resets of all entries in the span: what ran
	// between the sample before each and the reset is not in the delta.
	StatsResets int

	steppedBack time.Duration // the window's, when the delta was taken
}

// Mark is where a delta ends, to take the next one from (DeltaSince).
type Mark struct {
	to          time.Time
	steppedBack time.Duration
}

// IsZero reports whether m marks nothing: no delta ended there.
func (m Mark) IsZero() bool { return m.to.IsZero() }

// End marks where d ends.
func (d *Delta) End() Mark { return Mark{to: d.To, steppedBack: d.steppedBack} }

// DeltaSince sums the intervals after m, a mark of a delta this window
// gave. When the clock stepped back since, the window's times moved back
// with it (Add), and so does m: compared as it was, a time from before the
// step would leave out the intervals sampled until the clock caught up.
func (w *Window) DeltaSince(m Mark) *Delta {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := m.to.Add(m.steppedBack - w.steppedBack)
	d := w.delta(from)
	if d.Samples > 0 {
		w.since = [2]time.Time{from, d.To}
	}
	return d
}

// MarkAt marks time t of the window's clock, to take a first delta from.
func (w *Window) MarkAt(t time.Time) Mark {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Mark{to: t, steppedBack: w.steppedBack}
}

// Delta sums the intervals that end after from. Merging (see trim) may
// join an interval that ends at from with the next: the merged one counts
// whole, and what ran before from twice, rather than not at all.
func (w *Window) Delta(from time.Time) *Delta {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.delta(from)
}

func (w *Window) delta(from time.Time) *Delta {
	d := &Delta{EvictionsKnown: true, steppedBack: w.steppedBack}
	size := 0 // the largest interval: a lower bound for the statements
	for _, iv := range w.st.Intervals {
		if iv.End.After(from) {
			size = max(size, iv.Count)
		}
	}
	d.Statements = make([]Statement, 0, size)
	pos := make(map[Key]int, size)
	for _, iv := range w.st.Intervals {
		if !iv.End.After(from) {
			continue
		}
		if d.Samples == 0 {
			d.From = iv.Start
		}
		d.To = iv.End
		d.Samples += iv.Samples
		d.Evictions += iv.Evictions
		d.EvictionsKnown = d.EvictionsKnown && iv.EvictionsKnown
		d.Resets += iv.Resets
		d.StatsResets += iv.StatsResets
		eachDelta(iv.Data, func(e deltaEntry) {
			if i, ok := pos[e.Key]; ok {
				d.Statements[i].Counters = combine(d.Statements[i].Counters, e.Counters, 1)
				return
			}
			pos[e.Key] = len(d.Statements)
			d.Statements = append(d.Statements, w.statement(e))
		})
	}
	if d.Samples == 0 {
		d.EvictionsKnown = false
	}
	for i := range d.Statements {
		s := &d.Statements[i]
		if s.Calls > 0 {
			s.MeanExecTime = s.TotalExecTime / float64(s.Calls)
		}
		if !s.Text.Own && s.Key.TopLevel {
			d.TotalExecTime += s.TotalExecTime
		}
	}
	for i := range d.Statements {
		if s := &d.Statements[i]; d.TotalExecTime > 0 && !s.Text.Own {
			s.Share = s.TotalExecTime / d.TotalExecTime
		}
	}
	return d
}

// LastSample is the delta between the two newest snapshots.
func (w *Window) LastSample() *Delta {
	w.mu.Lock()
	defer w.mu.Unlock()
	from := time.Time{}
	if n := len(w.st.Intervals); n > 0 {
		from = w.st.Intervals[n-1].Start
	}
	return w.delta(from) // under the same lock: an Add in between would bring a second interval
}

// SinceStart is the delta over everything the window holds.
func (w *Window) SinceStart() *Delta { return w.Delta(time.Time{}) }

// statement resolves names, text and current max for one delta entry.
func (w *Window) statement(e deltaEntry) Statement {
	s := Statement{
		QueryID:  strconv.FormatInt(e.QueryID, 10),
		Key:      e.Key,
		Database: w.st.Databases[e.DBID],
		User:     w.st.Users[e.UserID],
		Text:     Text{Problem: TextMissing},
		Counters: e.Counters,
	}
	if t := w.st.Texts[e.Key]; t != nil {
		s.Text = *t
	}
	if i, ok := w.index[e.Key]; ok {
		s.MaxExecTime = w.st.Last.Entries[i].MaxExecTime
	}
	return s
}

// Persistence: magic, format version, CRC-32 of the payload, gob payload.
const (
	windowMagic   = "PGAW"
	windowFormat  = 2 // format 1 kept texts by queryid; UnmarshalBinary still reads it
	windowHeadLen = len(windowMagic) + 1 + 4
)

// MarshalBinary encodes the window's contents (not its options).
func (w *Window) MarshalBinary() ([]byte, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var buf bytes.Buffer
	buf.Write(make([]byte, windowHeadLen))
	if err := gob.NewEncoder(&buf).Encode(&w.st); err != nil {
		return nil, fmt.Errorf("encode window: %w", err)
	}
	b := buf.Bytes()
	copy(b, windowMagic)
	b[len(windowMagic)] = windowFormat
	binary.BigEndian.PutUint32(b[len(windowMagic)+1:], crc32.ChecksumIEEE(b[windowHeadLen:]))
	return b, nil
}

// UnmarshalBinary replaces the window's contents with data from
// MarshalBinary, keeping its options.
func (w *Window) UnmarshalBinary(data []byte) error {
	if len(data) < windowHeadLen || string(data[:len(windowMagic)]) != windowMagic {
		return errors.New("decode window: not a pgadvisor window (bad header)")
	}
	format := data[len(windowMagic)]
	if format != windowFormat && format != 1 {
		return fmt.Errorf("decode window: format version %d, this build reads 1 and %d", format, windowFormat)
	}
	payload := data[windowHeadLen:]
	if binary.BigEndian.Uint32(data[len(windowMagic)+1:]) != crc32.ChecksumIEEE(payload) {
		return errors.New("decode window: checksum mismatch (truncated or corrupt)")
	}
	var st windowState
	var err error
	if format == 1 {
		var v1 windowStateV1
		if err = gob.NewDecoder(bytes.NewReader(payload)).Decode(&v1); err == nil {
			st = v1.upgrade()
		}
	} else {
		err = gob.NewDecoder(bytes.NewReader(payload)).Decode(&st)
	}
	if err != nil {
		return fmt.Errorf("decode window: %w", err)
	}
	if err := st.validate(); err != nil {
		return fmt.Errorf("decode window: %w", err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.reset(st)
	w.trim() // the options may be tighter than the writer's
	return nil
}

// windowStateV1 is windowState as format 1 kept it: texts by queryid.
type windowStateV1 struct {
	Last      *baseline
	Intervals []interval
	Texts     map[int64]*Text
	Databases map[uint32]string
	Users     map[uint32]string
}

// upgrade gives each entry the text of its queryid. Entries of intervals
// that do not decode get none; validate rejects those intervals anyway.
func (v1 *windowStateV1) upgrade() windowState {
	st := windowState{Last: v1.Last, Intervals: v1.Intervals, Texts: map[Key]*Text{},
		Databases: v1.Databases, Users: v1.Users}
	add := func(k Key) {
		if t := v1.Texts[k.QueryID]; t != nil {
			st.Texts[k] = t
		}
	}
	if st.Last != nil {
		for _, e := range st.Last.Entries {
			add(e.Key)
		}
	}
	for _, iv := range st.Intervals {
		_ = eachDelta(iv.Data, func(e deltaEntry) { add(e.Key) })
	}
	return st
}

func (st *windowState) validate() error {
	if st.Last == nil && len(st.Intervals) > 0 {
		return errors.New("intervals without a newest snapshot")
	}
	for i, iv := range st.Intervals {
		if !iv.End.After(iv.Start) || iv.Samples < 1 {
			return fmt.Errorf("interval %d is empty or reversed (%s to %s)", i, iv.Start, iv.End)
		}
		if i > 0 && iv.Start.Before(st.Intervals[i-1].End) {
			return fmt.Errorf("interval %d overlaps the one before", i)
		}
		if iv.End.After(st.Last.Time) {
			return fmt.Errorf("interval %d ends after the newest snapshot", i)
		}
		n := 0
		if err := eachDelta(iv.Data, func(deltaEntry) { n++ }); err != nil || n != iv.Count {
			return fmt.Errorf("interval %d: %d of %d entries readable: %v", i, n, iv.Count, err)
		}
	}
	return nil
}

// Save writes the window to path atomically: a temporary file in the same
// directory, fsynced, then renamed over path.
func (w *Window) Save(path string) error {
	data, err := w.MarshalBinary()
	if err != nil {
		return fmt.Errorf("save window %s: %w", path, err)
	}
	if err := writeFileAtomic(path, data); err != nil {
		return fmt.Errorf("save window %s: %w", path, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync() // make the rename durable
}

// LoadWindow reads a window saved by Save. A missing file gives an error
// for which errors.Is(err, fs.ErrNotExist) holds; a corrupt one names path.
func LoadWindow(path string, opts WindowOptions) (*Window, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load window: %w", err)
	}
	w := NewWindow(opts)
	if err := w.UnmarshalBinary(data); err != nil {
		return nil, fmt.Errorf("load window %s: %w", path, err)
	}
	return w, nil
}
