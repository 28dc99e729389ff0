package sqlite

import (
	"path/filepath"
	"testing"
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
