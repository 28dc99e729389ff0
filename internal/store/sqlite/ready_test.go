package sqlite

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
)

// fillUntilFailure creates tenants until the store refuses one, and
// returns that error (nil if 5000 fit).
func fillUntilFailure(t *testing.T, s *Store) error {
	t.Helper()
	name := string(make([]byte, 0))
	for range 200 {
		name += "x"
	}
	for i := range 5000 {
		err := s.CreateTenant(t.Context(), store.Tenant{ID: uuid.NewString(), Slug: fmt.Sprintf("t%d", i), Name: name})
		if err != nil {
			return err
		}
	}
	return nil
}

// TestNotWritableWhenTheDatabaseCannotGrow (issue 15, defect 13): with the
// database at its max_page_count, every insert that needs a page fails
// with SQLITE_FULL while a one-page heartbeat still commits; Writable must
// say not ready (wrapping store.ErrUnavailable), and ready again once
// there is room.
func TestNotWritableWhenTheDatabaseCannotGrow(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Writable(t.Context()); err != nil {
		t.Fatalf("Writable on a fresh store: %v", err)
	}
	var pages int64
	if err := s.writer.QueryRow("PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	// max_page_count is per connection; the writer pool has one.
	if _, err := s.writer.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages)); err != nil {
		t.Fatal(err)
	}
	err = fillUntilFailure(t, s)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a write into a full database: %v, want store.ErrUnavailable", err)
	}
	err = s.Writable(t.Context())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Writable with a full database: %v, want store.ErrUnavailable", err)
	}
	if _, err := s.writer.Exec(fmt.Sprintf("PRAGMA max_page_count = %d", pages+10_000)); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(t.Context()); err != nil {
		t.Fatalf("Writable with room again: %v", err)
	}
}

// TestNotWritableOnAFullDisk (issue 15, defect 13) fills a real, size-limited
// file system (a 40 MiB tmpfs, so it needs root) until SQLite's writes
// fail, and expects Writable to say so, then to recover when space is freed.
func TestNotWritableOnAFullDisk(t *testing.T) {
	if runtime.GOOS != "linux" || os.Geteuid() != 0 {
		t.Skip("needs root on Linux to mount a tmpfs")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
	s, err := Open(t.Context(), filepath.Join(dir, "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Writable(t.Context()); err != nil {
		t.Fatalf("Writable with 40 MiB free: %v", err)
	}

	// Leave less than minFreeBytes free: writes still succeed, but the
	// server is not ready any more (it stops taking traffic before its
	// writes fail).
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		avail, ok := freeBytes(dir)
		if !ok {
			t.Fatal("no free space measure on Linux")
		}
		if avail < minFreeBytes/2 {
			break
		}
		if _, err := f.Write(chunk); err != nil {
			t.Fatalf("filling: %v", err)
		}
	}
	if err := s.CreateTenant(t.Context(), store.Tenant{ID: uuid.NewString(), Slug: "margin", Name: "Margin"}); err != nil {
		t.Fatalf("a write with %d bytes free: %v", minFreeBytes/2, err)
	}
	if err := s.Writable(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Writable with less than %d bytes free: %v, want store.ErrUnavailable", minFreeBytes, err)
	}

	// Fill the file system.
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatalf("filling: %v", err)
			}
			break
		}
	}
	f.Close()
	err = fillUntilFailure(t, s)
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("a write on a full disk: %v, want store.ErrUnavailable", err)
	}
	t.Logf("the write failed with: %v", err)
	err = s.Writable(t.Context())
	if !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Writable on a full disk: %v, want store.ErrUnavailable", err)
	}
	t.Logf("Writable: %v", err)
	// Where the platform gives no free-space measure, the heartbeat's
	// write is what fails.
	s.free = func(string) (int64, bool) { return 0, false }
	if err := s.Writable(t.Context()); !errors.Is(err, store.ErrUnavailable) {
		t.Fatalf("Writable on a full disk, free space unknown: %v, want store.ErrUnavailable", err)
	}
	s.free = freeBytes

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := s.Writable(t.Context()); err != nil {
		t.Fatalf("Writable after freeing the disk: %v", err)
	}
	if err := s.CreateTenant(t.Context(), store.Tenant{ID: uuid.NewString(), Slug: "after", Name: "After"}); err != nil {
		t.Fatalf("a write after freeing the disk: %v", err)
	}
}

// TestStoreErrorsThatMeanUnavailable: a closed database answers
// store.ErrUnavailable, with the driver's words kept for the log.
func TestStoreErrorsThatMeanUnavailable(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	for name, err := range map[string]error{
		"write":    s.CreateTenant(context.Background(), store.Tenant{ID: uuid.NewString(), Slug: "x", Name: "X"}),
		"read":     func() error { _, err := s.GetTenant(context.Background(), uuid.NewString()); return err }(),
		"writable": s.Writable(context.Background()),
	} {
		if !errors.Is(err, store.ErrUnavailable) || !strings.Contains(err.Error(), "database is closed") {
			t.Errorf("%s on a closed store: %v, want store.ErrUnavailable", name, err)
		}
	}
}
