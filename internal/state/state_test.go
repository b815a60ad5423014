package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, dir
}

func TestOpenCreatesPrivateFileAndKeepsWindows(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "state")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, FileName)
	if s.Path() != path {
		t.Errorf("Path() = %s, want %s", s.Path(), path)
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode = %v, want 0600", st.Mode().Perm())
	}
	want := []byte{0, 1, 2, 0xff}
	if err := s.PutWindow("prod", "app", want); err != nil {
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
	got, ok, err := s.GetWindow("prod", "app")
	if err != nil || !ok || !bytes.Equal(got, want) {
		t.Errorf("GetWindow after reopen = %v, %v, %v; want %v", got, ok, err, want)
	}
	if _, ok, err := s.GetWindow("prod", "other"); ok || err != nil {
		t.Errorf("GetWindow of an unknown database = ok %v, err %v; want false, nil", ok, err)
	}
	if _, ok, err := s.GetWindow("staging", "app"); ok || err != nil {
		t.Errorf("GetWindow of an unknown target = ok %v, err %v; want false, nil", ok, err)
	}
}

// A state file deleted or replaced while the advisor runs is written to
// no more in vain: the periodic window saves and Close report it, where
// bbolt would go on writing to the unlinked file and "state flushed" be
// logged at exit.
func TestDetachedStateFileIsReported(t *testing.T) {
	for _, tc := range []struct {
		name  string
		do    func(path string) error
		wants string
	}{
		{"deleted", os.Remove, "was deleted while the advisor ran"},
		{"replaced", func(path string) error {
			other := path + ".new"
			if err := os.WriteFile(other, nil, 0o600); err != nil {
				return err
			}
			return os.Rename(other, path)
		}, "was replaced while the advisor ran"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Open(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			if err := s.PutWindow("prod", "app", []byte{1}); err != nil {
				t.Fatal(err)
			}
			if err := tc.do(s.Path()); err != nil {
				t.Fatal(err)
			}
			if err := s.PutWindow("prod", "app", []byte{2}); err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Errorf("PutWindow after the file was %s: %v, want %q", tc.name, err, tc.wants)
			}
			if err := s.Close(); err == nil || !strings.Contains(err.Error(), tc.wants) {
				t.Errorf("Close after the file was %s: %v, want %q", tc.name, err, tc.wants)
			}
		})
	}
}

func TestOpenLockedFailsFast(t *testing.T) {
	_, dir := openTemp(t)
	start := time.Now()
	_, err := Open(dir)
	want := "state store " + filepath.Join(dir, FileName) + " is locked by another advisor process"
	if err == nil || err.Error() != want {
		t.Fatalf("second Open: %v; want %q", err, want)
	}
	if d := time.Since(start); d > 10*lockTimeout {
		t.Errorf("second Open took %v; it should give up after about %v", d, lockTimeout)
	}
}

func TestOpenCorruptFile(t *testing.T) {
	for name, content := range map[string][]byte{
		"text":      []byte("this is not a database\n"),
		"two pages": bytes.Repeat([]byte("garbage!"), 2*4096/8),
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, content, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir)
			if err == nil {
				t.Fatal("Open of a corrupt file succeeded")
			}
			for _, want := range []string{path, "corrupt", "move it aside"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not mention %q", err, want)
				}
			}
			got, _ := os.ReadFile(path)
			if !bytes.Equal(got, content) {
				t.Error("Open changed the corrupt file; it must be left for inspection")
			}
		})
	}
}

// savedFile saves windows (by database) of target prod in a new store and
// closes it: its directory, its file and the file's bytes.
func savedFile(t *testing.T, windows map[string][]byte) (dir, path string, data []byte) {
	t.Helper()
	s, dir := openTemp(t)
	for db, w := range windows {
		if err := s.PutWindow("prod", db, w); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(dir, FileName)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return dir, path, data
}

// A file whose meta pages are intact but whose other pages are mangled must
// yield an error at Open, not a panic at the first read.
func TestOpenCorruptPage(t *testing.T) {
	window := bytes.Repeat([]byte{7}, 100)
	dir, path, good := savedFile(t, map[string][]byte{"app": window})
	pageSize := os.Getpagesize()
	refused := 0
	for p := 2; (p+1)*pageSize <= len(good); p++ { // pages 0 and 1 are the meta pages
		data := bytes.Clone(good)
		for i := p * pageSize; i < (p+1)*pageSize; i++ {
			data[i] = 0xAB
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := Open(dir)
		if err != nil {
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "corrupt") {
				t.Errorf("page %d mangled: %v; want an error naming %s as corrupt", p, err, path)
			}
			refused++
			continue
		}
		// The page was free: what Open accepted must read back whole.
		got, ok, err := s.GetWindow("prod", "app")
		if err != nil || !ok || !bytes.Equal(got, window) {
			t.Errorf("page %d mangled, Open accepted the file, GetWindow = %v, %v, %v", p, got, ok, err)
		}
		_ = s.Close()
	}
	if refused == 0 {
		t.Error("no mangled page was refused")
	}
}

// A file cut short (a full disk, a bad copy) is refused as corrupt: bbolt
// maps the pages its header counts, and reading one past the end of the
// file is a SIGBUS, which no recover catches.
func TestOpenTruncatedFile(t *testing.T) {
	windows := map[string][]byte{}
	for i := range 300 {
		windows[fmt.Sprint("db", i)] = bytes.Repeat([]byte{byte(i)}, 6000)
	}
	dir, path, good := savedFile(t, windows)
	// The file may run past the pages in use (bbolt grows it ahead):
	// cut within those.
	db, err := bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	var used int
	err = errors.Join(db.View(func(tx *bolt.Tx) error { used = int(tx.Size()); return nil }), db.Close())
	if err != nil {
		t.Fatal(err)
	}
	page := os.Getpagesize()
	for _, size := range []int{page, 2 * page, 3 * page, used / 2 / page * page, used * 3 / 4 / page * page, used - page} {
		if err := os.WriteFile(path, good[:size], 0o600); err != nil {
			t.Fatal(err)
		}
		if s, err := Open(dir); err == nil {
			_ = s.Close()
			t.Errorf("cut to %d of %d bytes: Open succeeded", size, len(good))
		} else if !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "move it aside") {
			t.Errorf("cut to %d of %d bytes: %v; want it called corrupt, to move aside", size, len(good), err)
		}
	}
}

func TestOpenUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	if os.Geteuid() == 0 {
		// root writes through mode bits; sysfs refuses new files even to root.
		if runtime.GOOS != "linux" {
			t.Skip("running as root without a read-only directory to try")
		}
		dir = "/sys"
	} else if err := os.Chmod(dir, 0o500); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	want := "state store " + filepath.Join(dir, FileName) + ": directory " + dir + " is not writable: permission denied"
	if err == nil || err.Error() != want {
		t.Fatalf("Open: %v; want %q", err, want)
	}
}

func TestOpenDirectoryIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "state")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := Open(file)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(file, FileName)) || !strings.Contains(err.Error(), "not a directory") {
		t.Fatalf("Open: %v; want an error naming the path and 'not a directory'", err)
	}
}

// A directory where the file should be is named as such, not as a
// corrupt file.
func TestOpenFileIsADirectory(t *testing.T) {
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, FileName), 0o700); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, FileName)+" is not a regular file") || strings.Contains(err.Error(), "corrupt") {
		t.Fatalf("Open: %v; want an error saying the state file is not a regular file", err)
	}
}

func TestOpenNewerSchema(t *testing.T) {
	s, dir := openTemp(t)
	if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put(keySchema, []byte("2")) }); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := Open(dir)
	if err == nil || !strings.Contains(err.Error(), `schema version "2"`) {
		t.Fatalf("Open: %v; want a schema version error", err)
	}
}

// The windows of targets no longer configured, and those saved under a
// database a target no longer samples, are deleted; the others are kept.
func TestKeepWindows(t *testing.T) {
	s, _ := openTemp(t)
	for _, w := range [][2]string{{"prod", "app"}, {"prod", "old"}, {"gone", "app"}} {
		if err := s.PutWindow(w[0], w[1], []byte(w[0]+w[1])); err != nil {
			t.Fatal(err)
		}
	}
	deleted, err := s.KeepWindows(map[string]string{"prod": "app", "new": "app"})
	if err != nil || !slices.Equal(deleted, []string{"gone/*", "prod/old"}) {
		t.Errorf("deleted %v (%v), want gone/* and prod/old", deleted, err)
	}
	for _, w := range [][2]string{{"prod", "app"}, {"prod", "old"}, {"gone", "app"}} {
		_, ok, err := s.GetWindow(w[0], w[1])
		if want := w == [2]string{"prod", "app"}; ok != want || err != nil {
			t.Errorf("window %s/%s kept: %v (%v), want %v", w[0], w[1], ok, err, want)
		}
	}
}
