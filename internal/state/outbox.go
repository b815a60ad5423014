package state

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Delivery is one message waiting in the outbox. It names its destination by
// channel and a fingerprint, never by URL: the URL and the signing secret are
// looked up in the configuration when it is sent, so no secret is on disk.
type Delivery struct {
	Seq         uint64    `json:"-"`  // outbox position, assigned by Announce
	ID          string    `json:"id"` // sent with every attempt, so receivers can drop duplicates
	Channel     string    `json:"channel"`
	Ref         string    `json:"ref"` // fingerprint of the destination
	Target      string    `json:"target"`
	Event       string    `json:"event"`
	Body        []byte    `json:"body"`
	Attempts    int       `json:"attempts"`
	NextAttempt time.Time `json:"next_attempt"`
	Created     time.Time `json:"created"`
}

// Announce queues deliveries and marks the changes as announced, in one
// transaction: a recommendation is marked announced exactly when the
// messages announcing it are durably queued.
func (s *Store) Announce(target string, ch Changes, deliveries []Delivery) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketRecommendations).Bucket([]byte(target))
		mark := func(recs []Record, set func(*Record)) error {
			for _, r := range recs {
				id := []byte(r.Recommendation.ID)
				var rd Record
				found := false
				if b != nil {
					var err error
					if found, err = getJSON(b, id, &rd); err != nil {
						return err
					}
				}
				if !found {
					return fmt.Errorf("no recommendation %s", id)
				}
				set(&rd)
				if err := putJSON(b, id, rd); err != nil {
					return err
				}
			}
			return nil
		}
		announced := func(rd *Record) { rd.Announced, rd.AnnouncedBenefit = true, benefit(rd.Recommendation) }
		if err := mark(ch.New, announced); err != nil {
			return err
		}
		if err := mark(ch.Changed, announced); err != nil {
			return err
		}
		if err := mark(ch.Realized, func(rd *Record) { rd.RealizedAnnounced = true }); err != nil {
			return err
		}
		out := tx.Bucket(bucketOutbox)
		for _, d := range deliveries {
			seq, err := out.NextSequence()
			if err != nil {
				return err
			}
			if err := putJSON(out, seqKey(seq), d); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("queue notifications of target %s: %w", target, err)
	}
	return nil
}

// Deliveries returns the outbox in the order it was queued. An entry that
// does not decode (damaged, or written by another version) is moved, as it
// is, to the outbox_unreadable bucket for inspection, and counted in
// setAside: left in place it would hold up every later message to its
// channel, and which channel that is cannot be read from it.
func (s *Store) Deliveries() (ds []Delivery, setAside int, err error) {
	var unreadable [][]byte
	err = s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		return b.ForEach(func(k, _ []byte) error {
			var d Delivery
			if _, err := getJSON(b, k, &d); err != nil || len(k) != 8 {
				unreadable = append(unreadable, append([]byte(nil), k...)) // k is only valid inside the transaction
				return nil
			}
			d.Seq = binary.BigEndian.Uint64(k)
			ds = append(ds, d)
			return nil
		})
	})
	if err == nil && len(unreadable) > 0 {
		err = s.setAside(unreadable)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read outbox: %w", err)
	}
	return ds, len(unreadable), nil
}

// setAside moves the outbox entries at keys to the outbox_unreadable bucket.
func (s *Store) setAside(keys [][]byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		out, aside := tx.Bucket(bucketOutbox), tx.Bucket(bucketUnreadable)
		for _, k := range keys {
			v := out.Get(k)
			if v == nil {
				continue // removed since
			}
			if err := aside.Put(k, append([]byte(nil), v...)); err != nil { // v is the outbox page's, which Delete changes
				return fmt.Errorf("set aside unreadable entry %x: %w", k, err)
			}
			if err := out.Delete(k); err != nil {
				return fmt.Errorf("set aside unreadable entry %x: %w", k, err)
			}
		}
		return nil
	})
}

// Reschedule saves a delivery's attempts and next attempt time. It does
// nothing when the delivery is no longer queued.
func (s *Store) Reschedule(d Delivery) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		if b.Get(seqKey(d.Seq)) == nil {
			return nil
		}
		return putJSON(b, seqKey(d.Seq), d)
	})
	if err != nil {
		return fmt.Errorf("reschedule delivery %s: %w", d.ID, err)
	}
	return nil
}

// Remove takes a delivery out of the outbox: delivered or given up.
func (s *Store) Remove(d Delivery) error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).Delete(seqKey(d.Seq))
	})
	if err != nil {
		return fmt.Errorf("remove delivery %s from the outbox: %w", d.ID, err)
	}
	return nil
}
