package state

import (
	"errors"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pgadvisor/pgadvisor/advisor"
)

var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

func rec(id string, improvement float64, queryIDs ...string) advisor.Recommendation {
	return advisor.Recommendation{
		ID: id, Database: "app", Table: "public.orders", Method: "btree",
		DDL:            "CREATE INDEX CONCURRENTLY ON public.orders (tenant_id)",
		ImprovementPct: improvement, QueryIDs: queryIDs, Validated: improvement > 0, // 0: not costed
	}
}

// cycle is the report of one analysis cycle at t0+h hours over the previous hour.
func cycle(h int, stmts []advisor.Statement, recs ...advisor.Recommendation) *advisor.Report {
	at := t0.Add(time.Duration(h) * time.Hour)
	return &advisor.Report{
		Target: "prod", GeneratedAt: at,
		Window:          advisor.ReportWindow{From: at.Add(-time.Hour), To: at},
		Statements:      stmts,
		Recommendations: recs,
	}
}

func stmt(queryID string, calls int64, meanMS float64) advisor.Statement {
	return advisor.Statement{QueryID: queryID, Database: "app", Calls: calls, MeanExecTimeMS: meanMS}
}

func ids(rs []Record) string {
	var s []string
	for _, r := range rs {
		s = append(s, r.Recommendation.ID)
	}
	return strings.Join(s, ",")
}

func upsert(t *testing.T, s *Store, r *advisor.Report) Changes {
	t.Helper()
	ch, err := s.UpsertRecommendations(r)
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

func announce(t *testing.T, s *Store, ch Changes, ds ...Delivery) {
	t.Helper()
	if err := s.Announce("prod", ch, ds); err != nil {
		t.Fatal(err)
	}
}

func TestUpsertNewChangedGone(t *testing.T) {
	s, _ := openTemp(t)

	ch := upsert(t, s, cycle(1, nil, rec("a", 80), rec("b", 40), rec("a", 80)))
	if ids(ch.New) != "a,b" || len(ch.Changed)+len(ch.Gone)+len(ch.Realized) != 0 {
		t.Fatalf("first cycle: %+v; want a and b new", ch)
	}
	// Not announced (say the process died before Announce): still new.
	ch = upsert(t, s, cycle(2, nil, rec("a", 80), rec("b", 40)))
	if ids(ch.New) != "a,b" {
		t.Fatalf("second cycle before announcing: new %q; want a,b", ids(ch.New))
	}
	announce(t, s, ch)

	// Same recommendations, small benefit drift: nothing to say.
	ch = upsert(t, s, cycle(3, nil, rec("a", 70), rec("b", 55)))
	if ch.Announceable() || len(ch.Gone) != 0 {
		t.Fatalf("third cycle: %+v; want no changes", ch)
	}
	// b's benefit grows by more than half, a goes away, c appears.
	ch = upsert(t, s, cycle(4, nil, rec("b", 90), rec("c", 30)))
	if ids(ch.New) != "c" || ids(ch.Changed) != "b" || ids(ch.Gone) != "a" {
		t.Fatalf("fourth cycle: new %q changed %q gone %q; want c, b, a", ids(ch.New), ids(ch.Changed), ids(ch.Gone))
	}
	if got := ch.Changed[0].AnnouncedBenefit; got != 40 {
		t.Errorf("changed record carries the benefit announced before = %v, want 40", got)
	}
	announce(t, s, ch)
	if ch = upsert(t, s, cycle(5, nil, rec("b", 90), rec("c", 30))); ch.Announceable() || len(ch.Gone) != 0 {
		t.Fatalf("fifth cycle: %+v; want no changes once b's new benefit was announced", ch)
	}
	// a comes back unchanged: it was announced, so it is not announced again.
	if ch = upsert(t, s, cycle(6, nil, rec("a", 80), rec("b", 90), rec("c", 30))); ch.Announceable() {
		t.Fatalf("a back: %+v; want nothing to announce", ch)
	}
	// A drop by more than half is material too.
	if ch = upsert(t, s, cycle(7, nil, rec("a", 30), rec("b", 90), rec("c", 30))); ids(ch.Changed) != "a" {
		t.Fatalf("a fell from 80 to 30: changed %q; want a", ids(ch.Changed))
	}
	// c not costed in a cycle (HypoPG missing): no estimate, so no change.
	if ch = upsert(t, s, cycle(7, nil, rec("a", 30), rec("b", 90), rec("c", 0))); ids(ch.Changed) != "a" {
		t.Fatalf("c not costed: changed %q; want a only", ids(ch.Changed))
	}

	all, err := s.Recommendations("prod")
	if err != nil {
		t.Fatal(err)
	}
	if ids(all) != "a,b,c" {
		t.Fatalf("Recommendations = %q", ids(all))
	}
	a := all[0]
	if !a.FirstSeen.Equal(t0.Add(time.Hour)) || !a.LastSeen.Equal(t0.Add(7*time.Hour)) || a.Status != StatusOpen {
		t.Errorf("a = first %v last %v status %s", a.FirstSeen, a.LastSeen, a.Status)
	}
	if other, _ := s.Recommendations("staging"); len(other) != 0 {
		t.Errorf("another target sees %d records", len(other))
	}
}

// A recommendation of a database the cycle could not analyze (its
// EXPLAIN target down) stays open: the report's silence says nothing.
func TestUpsertKeepsUnanalyzedDatabases(t *testing.T) {
	s, _ := openTemp(t)
	other := rec("b", 40)
	other.Database = "billing"
	upsert(t, s, cycle(1, nil, rec("a", 80), other))
	down := cycle(2, nil)
	down.Unanalyzed = []string{"billing"}
	if ch := upsert(t, s, down); ids(ch.Gone) != "a" {
		t.Errorf("gone %q: want a only, b's database was not analyzed", ids(ch.Gone))
	}
}

// A recommendation no cycle made for longer than goneRetention is
// forgotten; one gone for less is kept.
func TestGoneRecommendationsExpire(t *testing.T) {
	s, _ := openTemp(t)
	last := 2 + int(goneRetention/time.Hour)
	upsert(t, s, cycle(1, nil, rec("a", 80), rec("b", 40)))
	upsert(t, s, cycle(2, nil, rec("b", 40))) // a last seen at 1
	upsert(t, s, cycle(last, nil, rec("b", 40)))
	upsert(t, s, cycle(last+1, nil)) // b gone for an hour, a for longer than the retention
	all, err := s.Recommendations("prod")
	if err != nil {
		t.Fatal(err)
	}
	if ids(all) != "b" || all[0].Status != StatusGone {
		t.Errorf("records %q: want only b, gone", ids(all))
	}
}

func TestRealizedGain(t *testing.T) {
	s, _ := openTemp(t)
	before := []advisor.Statement{stmt("q1", 300, 10), stmt("q2", 100, 30), stmt("q9", 1000, 1)}
	ch := upsert(t, s, cycle(1, before, rec("a", 90, "q1", "q2")))
	announce(t, s, ch)

	applied := t0.Add(90 * time.Minute)
	if err := s.MarkApplied("prod", "a", applied); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkApplied("prod", "zz", applied); err == nil || !strings.Contains(err.Error(), "no recommendation zz") {
		t.Errorf("MarkApplied of an unknown id: %v", err)
	}
	after := []advisor.Statement{stmt("q1", 300, 1), stmt("q2", 100, 3)}
	// The window of the cycle at 2h began at 1h, before the index: not a measurement.
	if ch = upsert(t, s, cycle(2, after)); len(ch.Realized)+len(ch.Gone) != 0 {
		t.Fatalf("window straddling the build: %+v; want nothing", ch)
	}
	ch = upsert(t, s, cycle(3, after))
	if len(ch.Realized) != 1 {
		t.Fatalf("window after the build: realized %q; want a", ids(ch.Realized))
	}
	r := ch.Realized[0]
	if r.MeanBeforeMS != 15 || r.MeanAfterMS != 1.5 || r.RealizedPct() != 90 || !r.AppliedAt.Equal(applied) {
		t.Errorf("realized = before %v after %v (%v%%) applied %v; want 15, 1.5, 90%%", r.MeanBeforeMS, r.MeanAfterMS, r.RealizedPct(), r.AppliedAt)
	}
	announce(t, s, ch)
	if ch = upsert(t, s, cycle(4, after)); len(ch.Realized) != 0 {
		t.Fatalf("realized gain announced twice: %+v", ch)
	}
}

func TestUpsertRecommendationsCopesWithCumulativeWindow(t *testing.T) {
	s, _ := openTemp(t)
	announce(t, s, upsert(t, s, cycle(1, []advisor.Statement{stmt("q1", 10, 10)}, rec("a", 90, "q1"))))
	if err := s.MarkApplied("prod", "a", t0.Add(90*time.Minute)); err != nil {
		t.Fatal(err)
	}
	r := cycle(3, []advisor.Statement{stmt("q1", 10, 1)})
	r.Window.Cumulative = true // counters since a reset may predate the index
	if ch := upsert(t, s, r); len(ch.Realized) != 0 {
		t.Fatalf("a cumulative window measured a realized gain: %+v", ch)
	}
}

func TestOutboxOrderRescheduleRemove(t *testing.T) {
	s, dir := openTemp(t)
	ch := upsert(t, s, cycle(1, nil, rec("a", 80)))
	announce(t, s, ch,
		Delivery{ID: "d1", Channel: "slack", Ref: "r1", Body: []byte(`{"n":1}`), NextAttempt: t0},
		Delivery{ID: "d2", Channel: "webhook[0]", Ref: "r2", Body: []byte(`{"n":2}`), NextAttempt: t0})
	if ch = upsert(t, s, cycle(2, nil, rec("a", 80))); ch.Announceable() {
		t.Fatalf("announced recommendation is new again: %+v", ch)
	}

	ds, _, err := s.Deliveries()
	if err != nil || len(ds) != 2 || ds[0].ID != "d1" || ds[1].ID != "d2" || string(ds[1].Body) != `{"n":2}` {
		t.Fatalf("Deliveries = %+v, %v", ds, err)
	}
	ds[0].Attempts, ds[0].NextAttempt = 3, t0.Add(time.Minute)
	if err := s.Reschedule(ds[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(ds[1]); err != nil {
		t.Fatal(err)
	}
	if err := s.Reschedule(ds[1]); err != nil { // a removed delivery stays removed
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ds, _, err = s.Deliveries()
	if err != nil || len(ds) != 1 || ds[0].ID != "d1" || ds[0].Attempts != 3 || !ds[0].NextAttempt.Equal(t0.Add(time.Minute)) {
		t.Fatalf("Deliveries after reopen = %+v, %v; want d1 with 3 attempts", ds, err)
	}
}

func TestAnnounceIsAllOrNothing(t *testing.T) {
	s, _ := openTemp(t)
	ch := upsert(t, s, cycle(1, nil, rec("a", 80)))
	ch.New = append(ch.New, Record{Recommendation: rec("ghost", 10)})
	err := s.Announce("prod", ch, []Delivery{{ID: "d1", Channel: "slack"}})
	if err == nil || !strings.Contains(err.Error(), "no recommendation ghost") {
		t.Fatalf("Announce with an unknown record: %v", err)
	}
	if ds, _, _ := s.Deliveries(); len(ds) != 0 {
		t.Errorf("failed Announce queued %d deliveries", len(ds))
	}
	if ch = upsert(t, s, cycle(2, nil, rec("a", 80))); ids(ch.New) != "a" {
		t.Errorf("failed Announce marked a announced")
	}
}

// An outbox entry that does not decode is set aside, kept as it was, and
// the messages queued after it are still returned: before, it failed every
// read of the outbox, which stopped all delivery.
func TestDeliveriesSetAsideUnreadableEntries(t *testing.T) {
	s, _ := openTemp(t)
	announce(t, s, upsert(t, s, cycle(1, nil, rec("a", 80))), Delivery{ID: "d1", Channel: "slack", Ref: "r1", Body: []byte(`{}`)})
	var damaged []byte // queued between d1 and d2
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		seq, err := b.NextSequence()
		damaged = seqKey(seq)
		return errors.Join(err, b.Put(damaged, []byte(`{"id": 7`)))
	})
	if err != nil {
		t.Fatal(err)
	}
	announce(t, s, upsert(t, s, cycle(2, nil, rec("a", 80), rec("b", 50))), Delivery{ID: "d2", Channel: "slack", Ref: "r1", Body: []byte(`{}`)})

	ds, setAside, err := s.Deliveries()
	if err != nil || setAside != 1 || len(ds) != 2 || ds[0].ID != "d1" || ds[1].ID != "d2" {
		t.Fatalf("Deliveries = %+v, %d set aside, %v; want d1 and d2, one set aside", ds, setAside, err)
	}
	var kept []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		kept = append(kept, tx.Bucket(bucketUnreadable).Get(damaged)...)
		return nil
	})
	if string(kept) != `{"id": 7` {
		t.Errorf("outbox_unreadable holds %q under the entry's key, want it as it was", kept)
	}
	if ds, setAside, err := s.Deliveries(); err != nil || setAside != 0 || len(ds) != 2 {
		t.Errorf("second read: %d deliveries, %d set aside, %v; want 2, 0", len(ds), setAside, err)
	}
}

// A recommendation record that cannot be decoded is set aside, and stops
// neither the cycle nor the reads: one recommended again starts over.
func TestUpsertSetsAsideUnreadableRecords(t *testing.T) {
	s, _ := openTemp(t)
	announce(t, s, upsert(t, s, cycle(1, nil, rec("a", 80), rec("b", 50), rec("c", 40))), Delivery{ID: "d1", Channel: "slack", Ref: "r1", Body: []byte(`{}`)})
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecommendations).Bucket([]byte("prod"))
		return errors.Join(b.Put([]byte("a"), []byte(`{"status": 7`)), b.Put([]byte("b"), []byte(`not json`)))
	})
	if err != nil {
		t.Fatal(err)
	}
	if recs, err := s.Recommendations("prod"); err != nil || ids(recs) != "c" {
		t.Errorf("Recommendations = %s, %v; want c, the readable one", ids(recs), err)
	}
	ch := upsert(t, s, cycle(2, nil, rec("a", 80), rec("c", 40)))
	if strings.Join(ch.SetAside, ",") != "a,b" || ids(ch.New) != "a" || ids(ch.Gone) != "" {
		t.Errorf("changes: set aside %v, new %s, gone %s; want a,b set aside and a new again", ch.SetAside, ids(ch.New), ids(ch.Gone))
	}
	var kept []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		kept = append(kept, tx.Bucket(bucketUnreadableRecs).Bucket([]byte("prod")).Get([]byte("b"))...)
		return nil
	})
	if string(kept) != "not json" {
		t.Errorf("recommendations_unreadable holds %q for b, want it as it was", kept)
	}
	if recs, err := s.Recommendations("prod"); err != nil || ids(recs) != "a,c" {
		t.Errorf("after the cycle: %s, %v; want a and c", ids(recs), err)
	}
}

// A new recommendation names the announced, unbuilt ones it replaces on
// its table (serving one of its statements); unannounced ones, other
// tables and other statements are not its predecessors.
func TestNewRecommendationSupersedesAnnouncedOnes(t *testing.T) {
	s, _ := openTemp(t)
	elsewhere := rec("z", 50, "q1")
	elsewhere.Table = "public.customers"
	announce(t, s, upsert(t, s, cycle(1, nil, rec("a", 60, "q1", "q2"), elsewhere)))

	ch := upsert(t, s, cycle(2, nil, rec("b", 80, "q2", "q3"), rec("c", 30, "q9")))
	if ids(ch.Gone) != "a,z" || ids(ch.New) != "b,c" {
		t.Fatalf("second cycle: gone %q new %q; want a,z and b,c", ids(ch.Gone), ids(ch.New))
	}
	if len(ch.Supersedes) != 1 || ids(ch.Supersedes["b"]) != "a" {
		t.Fatalf("supersedes %v; want only b in place of a", ch.Supersedes)
	}
	if got := ch.Supersedes["b"][0].FirstSeen; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("the superseded record's first seen = %v, want the first cycle's", got)
	}
	announce(t, s, ch)
	// e goes before it was announced: f, serving its statement, replaces
	// nothing anyone was told of.
	upsert(t, s, cycle(3, nil, rec("b", 80, "q2", "q3"), rec("e", 20, "q5")))
	ch = upsert(t, s, cycle(4, nil, rec("b", 80, "q2", "q3"), rec("f", 25, "q5")))
	if ids(ch.New) != "f" || len(ch.Supersedes) != 0 {
		t.Errorf("fourth cycle: new %q supersedes %v; want f replacing nothing", ids(ch.New), ch.Supersedes)
	}
}

// Records of a target no longer configured go once no cycle made them for
// the retention; recent ones wait for the target to come back, and those
// of configured targets are left to their own cycles.
func TestForgetUnconfiguredTargets(t *testing.T) {
	s, _ := openTemp(t)
	upsert(t, s, cycle(1, nil, rec("a", 80), rec("b", 40)))
	upsert(t, s, cycle(2, nil, rec("b", 40))) // a last seen at 1, b at 2
	staging := cycle(1, nil, rec("s", 10))
	staging.Target = "staging"
	upsert(t, s, staging)

	now := t0.Add(time.Hour + goneRetention + 30*time.Minute) // a and s older than the retention, b not
	if n, err := s.ForgetUnconfigured(map[string]bool{"staging": true}, now); err != nil || n != 1 {
		t.Fatalf("ForgetUnconfigured = %d, %v; want a deleted", n, err)
	}
	if all, err := s.Recommendations("prod"); err != nil || ids(all) != "b" {
		t.Errorf("prod keeps %q (%v), want b", ids(all), err)
	}
	if all, _ := s.Recommendations("staging"); ids(all) != "s" {
		t.Errorf("configured staging keeps %q, want s", ids(all))
	}
	if n, err := s.ForgetUnconfigured(nil, now.Add(2*time.Hour)); err != nil || n != 2 {
		t.Fatalf("later, with nothing configured: %d deleted (%v), want b and s", n, err)
	}
	err := s.db.View(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketRecommendations).Bucket([]byte("prod")) != nil {
			t.Error("the emptied target's bucket stays")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
