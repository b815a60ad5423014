package state

import (
	"fmt"
	"math"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/pgadvisor/pgadvisor/advisor"
)

// Status is where a recommendation stands.
type Status string

// Statuses of a recommendation.
const (
	StatusOpen    Status = "open"    // recommended by the latest cycle
	StatusApplied Status = "applied" // the index was built (MarkApplied)
	StatusGone    Status = "gone"    // no longer recommended, not known to be built
)

// Record is the history of one recommendation of one target.
type Record struct {
	Recommendation advisor.Recommendation `json:"recommendation"` // as last recommended
	FirstSeen      time.Time              `json:"first_seen"`
	LastSeen       time.Time              `json:"last_seen"`
	Status         Status                 `json:"status"`
	// MeanBeforeMS is the mean execution time of the served statements, weighted
	// by calls, in the last window where the recommendation was open.
	MeanBeforeMS float64   `json:"mean_before_ms"`
	AppliedAt    time.Time `json:"applied_at,omitzero"`
	// MeanAfterMS is the same mean in the first window that began after AppliedAt;
	// RealizedAt is when it was measured (zero: not yet).
	MeanAfterMS float64   `json:"mean_after_ms,omitempty"`
	RealizedAt  time.Time `json:"realized_at,omitzero"`
	// Announced is true once a notification for the recommendation was queued;
	// AnnouncedBenefit is its ImprovementPct then.
	Announced         bool    `json:"announced"`
	AnnouncedBenefit  float64 `json:"announced_benefit"`
	RealizedAnnounced bool    `json:"realized_announced"`
}

// RealizedPct is the measured reduction of the served statements' mean
// execution time, in percent; 0 before it was measured.
func (r Record) RealizedPct() float64 {
	if r.RealizedAt.IsZero() || r.MeanBeforeMS <= 0 {
		return 0
	}
	return 100 * (r.MeanBeforeMS - r.MeanAfterMS) / r.MeanBeforeMS
}

// Changes is what one cycle changed in a target's recommendations.
type Changes struct {
	New      []Record // open and never announced
	Changed  []Record // announced, but the benefit moved by more than half since
	Realized []Record // applied, measured after, gain not announced yet
	Gone     []Record // open before this cycle, not recommended by it
	// Supersedes maps the ID of a New recommendation to the announced,
	// unbuilt ones it takes the place of: gone, on the same table, serving
	// a statement it serves (an index on (a) that (a, b) now does better).
	// Without it the announcement would read as one more index to build,
	// and the earlier one would leave without a word.
	Supersedes map[string][]Record
	// SetAside are the IDs of stored records that could not be decoded
	// (a damaged file, a downgrade): moved to the recommendations_unreadable
	// bucket, so that one bad record stops nothing; one the cycle
	// recommends again starts over, as new.
	SetAside []string
}

// Announceable reports whether the cycle produced anything to notify.
func (c Changes) Announceable() bool {
	return len(c.New)+len(c.Changed)+len(c.Realized) > 0
}

// benefit is what "materially changed" compares. ImprovementPct does not
// swing with the traffic of a window, as absolute costs do.
func benefit(r advisor.Recommendation) float64 { return r.ImprovementPct }

// materiallyChanged reports whether now differs from then by more than half.
func materiallyChanged(then, now float64) bool {
	if then == 0 {
		return now != 0
	}
	return math.Abs(now-then) > 0.5*math.Abs(then)
}

// servedMeanMS is the calls-weighted mean execution time of the statements a
// recommendation serves, as the report's window measured them.
func servedMeanMS(rec advisor.Recommendation, stmts []advisor.Statement) (float64, bool) {
	var calls, total float64
	for _, s := range stmts {
		if s.Database == rec.Database && slices.Contains(rec.QueryIDs, s.QueryID) && s.Calls > 0 {
			calls += float64(s.Calls)
			total += float64(s.Calls) * s.MeanExecTimeMS
		}
	}
	if calls == 0 {
		return 0, false
	}
	return total / calls, true
}

// goneRetention is how long a recommendation no cycle made any more is
// kept: ids hash the index definition, so a changing workload would
// otherwise grow the store without end. One that comes back later is
// announced as new.
const goneRetention = 30 * 24 * time.Hour

// UpsertRecommendations records what one analysis cycle of r.Target
// recommended at r.GeneratedAt and returns what changed: new and materially
// changed recommendations not yet announced, realized gains of applied ones
// (measured in r's window when it began after the index was applied), and
// those that are gone. It announces nothing: Announce does, so a crash in
// between only means the same changes are returned by the next cycle.
func (s *Store) UpsertRecommendations(r *advisor.Report) (Changes, error) {
	var ch Changes
	now := r.GeneratedAt
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketRecommendations).CreateBucketIfNotExists([]byte(r.Target))
		if err != nil {
			return err
		}
		seen := make(map[string]bool, len(r.Recommendations))
		for _, rec := range r.Recommendations {
			if seen[rec.ID] {
				continue // the report lists it twice: count it once
			}
			seen[rec.ID] = true
			var rd Record
			found, err := getJSON(b, []byte(rec.ID), &rd)
			if err != nil {
				if err := setAsideRecord(tx, r.Target, b, []byte(rec.ID)); err != nil {
					return err
				}
				ch.SetAside = append(ch.SetAside, rec.ID)
				rd, found = Record{}, false
			}
			if !found {
				rd.FirstSeen = now
			}
			if rd.Status != StatusOpen { // new, back after gone, or an applied index dropped again
				rd.AppliedAt, rd.MeanAfterMS, rd.RealizedAt, rd.RealizedAnnounced = time.Time{}, 0, time.Time{}, false
			}
			rd.Recommendation, rd.LastSeen, rd.Status = rec, now, StatusOpen
			if m, ok := servedMeanMS(rec, r.Statements); ok {
				rd.MeanBeforeMS = m
			}
			switch {
			case !rd.Announced:
				ch.New = append(ch.New, rd)
			case rec.Costed() && rd.AnnouncedBenefit > 0 && materiallyChanged(rd.AnnouncedBenefit, benefit(rec)):
				// Only costed estimates compare: an uncosted one (GIN, or a
				// cycle without HypoPG) has none, and its 0 is no change.
				ch.Changed = append(ch.Changed, rd)
			}
			if err := putJSON(b, []byte(rec.ID), rd); err != nil {
				return err
			}
		}
		// bbolt forbids writes inside ForEach: collect, then write.
		updates := map[string]Record{}
		var expired, unreadable [][]byte
		var announcedGone []Record
		err = b.ForEach(func(k, _ []byte) error {
			if seen[string(k)] {
				return nil
			}
			var rd Record
			if _, err := getJSON(b, k, &rd); err != nil {
				unreadable = append(unreadable, slices.Clone(k))
				return nil
			}
			if slices.Contains(r.Unanalyzed, rd.Recommendation.Database) {
				return nil // not in the report because its database was not analyzed
			}
			switch rd.Status {
			case StatusOpen:
				rd.Status = StatusGone
				ch.Gone = append(ch.Gone, rd)
				updates[string(k)] = rd
			case StatusGone:
				if now.Sub(rd.LastSeen) > goneRetention {
					expired = append(expired, slices.Clone(k))
					return nil
				}
			case StatusApplied:
				if rd.RealizedAt.IsZero() && !r.Window.Cumulative && !r.Window.From.Before(rd.AppliedAt) {
					if m, ok := servedMeanMS(rd.Recommendation, r.Statements); ok {
						rd.MeanAfterMS, rd.RealizedAt = m, now
						updates[string(k)] = rd
					}
				}
				if !rd.RealizedAt.IsZero() && !rd.RealizedAnnounced {
					ch.Realized = append(ch.Realized, rd)
				}
			}
			if rd.Status == StatusGone && rd.Announced {
				announcedGone = append(announcedGone, rd)
			}
			return nil
		})
		if err != nil {
			return err
		}
		ch.Supersedes = superseded(ch.New, announcedGone)
		for id, rd := range updates {
			if err := putJSON(b, []byte(id), rd); err != nil {
				return err
			}
		}
		for _, k := range expired {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		for _, k := range unreadable {
			if err := setAsideRecord(tx, r.Target, b, k); err != nil {
				return err
			}
			ch.SetAside = append(ch.SetAside, string(k))
		}
		return nil
	})
	if err != nil {
		return Changes{}, fmt.Errorf("record recommendations of target %s: %w", r.Target, err)
	}
	return ch, nil
}

// superseded pairs each new recommendation with the announced, gone ones
// on its table that served one of its statements; nil when there are none.
func superseded(added, gone []Record) map[string][]Record {
	var out map[string][]Record
	for _, n := range added {
		nr := n.Recommendation
		for _, g := range gone {
			gr := g.Recommendation
			if gr.Database != nr.Database || gr.Table != nr.Table ||
				!slices.ContainsFunc(gr.QueryIDs, func(q string) bool { return slices.Contains(nr.QueryIDs, q) }) {
				continue
			}
			if out == nil {
				out = map[string][]Record{}
			}
			out[nr.ID] = append(out[nr.ID], g)
		}
	}
	return out
}

// setAsideRecord moves the record at key of target's bucket b to the
// recommendations_unreadable bucket.
func setAsideRecord(tx *bolt.Tx, target string, b *bolt.Bucket, key []byte) error {
	aside, err := tx.Bucket(bucketUnreadableRecs).CreateBucketIfNotExists([]byte(target))
	if err == nil {
		err = aside.Put(key, slices.Clone(b.Get(key))) // b's page, which Delete changes
	}
	if err == nil {
		err = b.Delete(key)
	}
	if err != nil {
		return fmt.Errorf("set aside unreadable record %q: %w", key, err)
	}
	return nil
}

// MarkApplied records that the index of recommendation id was built at at.
// Its realized gain is measured by the first cycle whose window begins after.
func (s *Store) MarkApplied(target, id string, at time.Time) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecommendations).Bucket([]byte(target))
		if b == nil {
			return fmt.Errorf("no recommendation %s", id)
		}
		var rd Record
		found, err := getJSON(b, []byte(id), &rd)
		if err != nil {
			return err
		}
		if !found {
			return fmt.Errorf("no recommendation %s", id)
		}
		if rd.Status == StatusApplied {
			return nil // already known; keep the first time
		}
		rd.Status, rd.AppliedAt = StatusApplied, at
		return putJSON(b, []byte(id), rd)
	})
	if err != nil {
		return fmt.Errorf("mark recommendation applied on target %s: %w", target, err)
	}
	return nil
}

// Recommendations returns the history of a target's recommendations, by id.
func (s *Store) Recommendations(target string) ([]Record, error) {
	var out []Record
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecommendations).Bucket([]byte(target))
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, _ []byte) error {
			var rd Record
			if _, err := getJSON(b, k, &rd); err == nil { // one that is not is set aside by the next cycle
				out = append(out, rd)
			}
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read recommendations of target %s: %w", target, err)
	}
	return out, nil
}

// ForgetUnconfigured deletes the recommendation records of targets not in
// configured that no cycle has made for goneRetention, and returns how
// many it deleted. Only a target's own cycles expire its records, so a
// removed or renamed target's would stay in the file for good; one put
// back within the retention keeps its history, announcements included.
func (s *Store) ForgetUnconfigured(configured map[string]bool, now time.Time) (deleted int, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		all := tx.Bucket(bucketRecommendations)
		var targets [][]byte // a bucket cannot change while its cursor walks it
		err := all.ForEachBucket(func(target []byte) error {
			if !configured[string(target)] {
				targets = append(targets, slices.Clone(target))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, target := range targets {
			b := all.Bucket(target)
			var expired [][]byte
			kept := 0
			err := b.ForEach(func(k, _ []byte) error {
				var rd Record
				if _, err := getJSON(b, k, &rd); err == nil && now.Sub(rd.LastSeen) <= goneRetention {
					kept++
					return nil
				}
				expired = append(expired, slices.Clone(k)) // or unreadable: no cycle will set it aside
				return nil
			})
			if err != nil {
				return err
			}
			deleted += len(expired)
			if kept == 0 {
				if err := all.DeleteBucket(target); err != nil {
					return err
				}
				continue
			}
			for _, k := range expired {
				if err := b.Delete(k); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("forget recommendations of targets not configured: %w", err)
	}
	return deleted, nil
}
