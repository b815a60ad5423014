// Package state is the advisor's memory across restarts: the last workload
// window per database, the history of every recommendation, and the outbox of
// notifications not yet delivered.
//
// It is one bbolt file, dir/pgadvisor.db. bbolt commits each transaction with
// fsync and a copy-on-write B+tree, so a crash leaves the last committed state,
// and its file lock keeps a second advisor process from writing the same file.
package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// FileName is the store's file inside the state directory.
const FileName = "pgadvisor.db"

// schemaVersion is the layout of the buckets and values; Open refuses a file
// written by a newer layout instead of misreading it.
const schemaVersion = 1

// lockTimeout bounds the wait for the file lock, so a second advisor process
// on the same state directory fails at start instead of hanging.
const lockTimeout = time.Second

var (
	bucketMeta            = []byte("meta")
	bucketWindows         = []byte("windows")
	bucketRecommendations = []byte("recommendations")
	bucketOutbox          = []byte("outbox")
	bucketUnreadable      = []byte("outbox_unreadable") // entries Deliveries set aside
	// recommendation records UpsertRecommendations could not decode, by target
	bucketUnreadableRecs = []byte("recommendations_unreadable")
	keySchema            = []byte("schema_version")
)

// Store is the open state file. Its methods are safe for concurrent use.
type Store struct {
	db   *bolt.DB
	path string
	file os.FileInfo // the file opened, to tell when path no longer names it
}

// Open opens dir/pgadvisor.db, creating the directory and the file (0600)
// when missing. It fails with an error naming the file and the reason when
// the directory is not writable, the file is not a healthy bbolt database,
// or another process holds it.
func Open(dir string) (s *Store, err error) {
	path := filepath.Join(dir, FileName)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state store %s: cannot create directory: %w", path, err)
	}
	if err := checkWritable(dir); err != nil {
		return nil, fmt.Errorf("state store %s: directory %s is not writable: %w", path, dir, err)
	}
	// bbolt trusts the file it maps; verify catches mangled pages, and this
	// catches what would still panic, so a bad file is an error, not a crash.
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("state store %s is corrupt (%v); move it aside to start with empty state", path, r)
		}
	}()
	if err := verify(path); err != nil {
		return nil, err
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	if err != nil {
		return nil, openError(path, err)
	}
	s = &Store{db: db, path: path}
	if s.file, err = os.Stat(path); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open state store %s: %w", path, err)
	}
	if err := s.init(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
}

func openError(path string, err error) error {
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return fmt.Errorf("state store %s is locked by another advisor process", path)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		strings.Contains(err.Error(), "file size too small"): // bbolt's error for a file shorter than its two meta pages
		return fmt.Errorf("state store %s is corrupt or not a pgadvisor state file (%w); move it aside to start with empty state", path, err)
	default:
		return fmt.Errorf("open state store %s: %w", path, err)
	}
}

// verify checks an existing file page by page before it is opened for
// writing. It opens it read-only: a read-write open loads the freelist at
// once and panics on a mangled one, leaving the file mapped and locked.
func verify(path string) error {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) || err == nil && st.Size() == 0 {
		return nil // bbolt initializes it
	}
	if err != nil {
		return fmt.Errorf("open state store %s: %w", path, err)
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("state store %s is not a regular file (%s): move it aside, or set state_dir to another directory", path, st.Mode().Type())
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout, ReadOnly: true})
	if err != nil {
		return openError(path, err)
	}
	defer db.Close()
	err = db.View(func(tx *bolt.Tx) error {
		// The pages past a short file's end are mapped but not backed:
		// reading them is a SIGBUS, which no recover catches.
		if tx.Size() > st.Size() {
			return fmt.Errorf("truncated: its header says %d bytes, the file has %d", tx.Size(), st.Size())
		}
		var first error
		for err := range tx.Check() { // drain: the checker reads the transaction until it closes the channel
			if first == nil {
				first = err
			}
		}
		return first
	})
	if err != nil {
		return fmt.Errorf("state store %s is corrupt (%w); move it aside to start with empty state", path, err)
	}
	return nil
}

// checkWritable creates and removes a file in dir: a permission check that
// also holds for read-only mounts, where mode bits say nothing.
func checkWritable(dir string) error {
	f, err := os.CreateTemp(dir, ".pgadvisor-write-check-*")
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return pe.Err // the path is already in the message
		}
		return err
	}
	name := f.Name()
	_ = f.Close()
	return os.Remove(name)
}

// init creates the buckets and records the schema version of a new file, and
// refuses a file of another version.
func (s *Store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("state store %s: create buckets: %w", s.path, err)
		}
		if v := meta.Get(keySchema); v != nil {
			if n, err := strconv.Atoi(string(v)); err != nil || n != schemaVersion {
				return fmt.Errorf("state store %s has schema version %q; this advisor reads version %d", s.path, v, schemaVersion)
			}
		} else if err := meta.Put(keySchema, []byte(strconv.Itoa(schemaVersion))); err != nil {
			return fmt.Errorf("state store %s: write schema version: %w", s.path, err)
		}
		for _, b := range [][]byte{bucketWindows, bucketRecommendations, bucketOutbox, bucketUnreadable, bucketUnreadableRecs} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return fmt.Errorf("state store %s: create buckets: %w", s.path, err)
			}
		}
		return nil
	})
}

// Path is the store's file.
func (s *Store) Path() string { return s.path }

// Close releases the file. Every committed transaction is already on
// disk, unless the file was deleted or replaced meanwhile (see Detached).
func (s *Store) Close() error {
	detached := s.Detached()
	if err := s.db.Close(); err != nil {
		return errors.Join(detached, fmt.Errorf("close state store %s: %w", s.path, err))
	}
	return detached
}

// Detached reports an error when the store's path no longer names the
// file it opened: deleted, or replaced, while the advisor ran. bbolt goes
// on writing to the open file, which the next start will not find.
func (s *Store) Detached() error {
	now, err := os.Stat(s.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("state store %s was deleted while the advisor ran: what it saved since is lost at exit (restart the advisor to create it again)", s.path)
	case err != nil:
		return fmt.Errorf("state store %s: %w", s.path, err)
	case !os.SameFile(now, s.file):
		return fmt.Errorf("state store %s was replaced while the advisor ran: the advisor writes to the file it opened, which is gone at exit (restart the advisor to open the new one)", s.path)
	}
	return nil
}

// PutWindow saves the encoded workload window of one database of a target.
// It fails when the file is Detached: the periodic saves are where a
// deleted state file is noticed.
func (s *Store) PutWindow(target, database string, data []byte) error {
	if err := s.Detached(); err != nil {
		return err
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketWindows).CreateBucketIfNotExists([]byte(target))
		if err != nil {
			return err
		}
		return b.Put([]byte(database), data)
	})
	if err != nil {
		return fmt.Errorf("save window of %s/%s: %w", target, database, err)
	}
	return nil
}

// KeepWindows deletes every saved window but those of keep (a target's
// name to the database its window is saved under), and returns what it
// deleted as "target/database": windows of targets no longer configured,
// or saved under a database a target no longer samples, would stay in the
// file for good.
func (s *Store) KeepWindows(keep map[string]string) (deleted []string, err error) {
	err = s.db.Update(func(tx *bolt.Tx) error {
		windows := tx.Bucket(bucketWindows)
		var gone [][2][]byte // a bucket cannot change while its cursor walks it
		err := windows.ForEachBucket(func(target []byte) error {
			db, kept := keep[string(target)]
			if !kept {
				gone = append(gone, [2][]byte{slices.Clone(target), nil})
				return nil
			}
			return windows.Bucket(target).ForEach(func(k, _ []byte) error {
				if string(k) != db {
					gone = append(gone, [2][]byte{slices.Clone(target), slices.Clone(k)})
				}
				return nil
			})
		})
		if err != nil {
			return err
		}
		for _, g := range gone {
			target, db := g[0], g[1]
			if db == nil {
				deleted = append(deleted, string(target)+"/*")
				err = windows.DeleteBucket(target)
			} else {
				deleted = append(deleted, string(target)+"/"+string(db))
				err = windows.Bucket(target).Delete(db)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("delete windows of targets not configured: %w", err)
	}
	return deleted, nil
}

// GetWindow returns the window saved for a database of a target; ok is false
// when none was saved.
func (s *Store) GetWindow(target, database string) (data []byte, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketWindows).Bucket([]byte(target)); b != nil {
			if v := b.Get([]byte(database)); v != nil {
				data, ok = append([]byte(nil), v...), true // v is only valid inside the transaction
			}
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("read window of %s/%s: %w", target, database, err)
	}
	return data, ok, nil
}

func seqKey(n uint64) []byte { return binary.BigEndian.AppendUint64(nil, n) }

func getJSON(b *bolt.Bucket, key []byte, v any) (bool, error) {
	raw := b.Get(key)
	if raw == nil {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return true, fmt.Errorf("decode %q: %w", key, err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode %q: %w", key, err)
	}
	return b.Put(key, raw)
}
