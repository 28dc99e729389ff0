package sqlite

import (
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// The reader pool is query_only: a write sent to it by mistake fails.
func TestReaderIsReadOnly(t *testing.T) {
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "komand.db"))
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if _, err := s.reader.ExecContext(t.Context(),
		`INSERT INTO komand_tenants (id, slug, name, created_at) VALUES ('x', 'x', 'x', 0)`); err == nil {
		t.Fatalf("write through the reader pool: got nil error, want query_only failure")
	}
	var n int
	if err := s.reader.QueryRowContext(t.Context(), `SELECT count(*) FROM komand_tenants`).Scan(&n); err != nil || n != 1 {
		t.Fatalf("read through the reader pool: got %d, %v, want 1 (the platform tenant)", n, err)
	}
}

// TestColdReadsDoNotDeadlock: many first reads at once, each inside a read
// transaction that holds one of the reader pool's connections, must not
// wait for a second connection to prepare their statement (they did: with
// every connection held by a transaction waiting to prepare, none was ever
// freed).
func TestColdReadsDoNotDeadlock(t *testing.T) {
	for range 5 {
		st, err := Open(t.Context(), filepath.Join(t.TempDir(), "k.db"))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 8*readerConns)
		for range 8 * readerConns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := st.DataKeys(t.Context(), "11111111-1111-4111-8111-111111111111")
				errs <- err
			}()
		}
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Fatal("concurrent first reads deadlocked on the reader pool")
		}
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		st.Close()
	}
}
