package sqlite_test

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
	"github.com/komand-ai/komand/internal/store/storetest"
)

func openTemp(t testing.TB) (*sqlite.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "komand.db")
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s, path
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store {
		s, _ := openTemp(t)
		return s
	})
}

const auditCols = "id, tenant_id, seq, action, actor_id, agent_id, session_id, skill_id, " +
	"details, request_id, ts, prev_hash, hash"

func appendOne(t *testing.T, s store.Store, tenantID string) {
	t.Helper()
	e := store.AuditEntry{ID: uuid.NewString(), TenantID: tenantID, Action: "login",
		Details: []byte(`{}`), Timestamp: time.Now()}
	if err := s.AppendAudit(t.Context(), []store.AuditEntry{e}, func(e *store.AuditEntry) string {
		return "h" + e.ID
	}); err != nil {
		t.Fatalf("AppendAudit: %v", err)
	}
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	appendOne(t, s, store.PlatformTenantID)
	stmts := []struct{ name, sql string }{
		{"Update", `UPDATE komand_audit_log SET action = 'tampered'`},
		{"UpdateHash", `UPDATE komand_audit_log SET hash = 'x', prev_hash = 'y' WHERE seq = 1`},
		{"Delete", `DELETE FROM komand_audit_log`},
		{"DeleteOne", `DELETE FROM komand_audit_log WHERE seq = 1`},
		// REPLACE deletes the old row without firing DELETE triggers unless
		// recursive_triggers is on.
		{"Replace", `INSERT OR REPLACE INTO komand_audit_log SELECT * FROM komand_audit_log`},
		{"ReplaceChanged", `REPLACE INTO komand_audit_log (` + auditCols + `)
			SELECT id, tenant_id, seq, 'tampered', actor_id, agent_id, session_id, skill_id,
			       details, request_id, ts, prev_hash, hash FROM komand_audit_log`},
		{"Upsert", `INSERT INTO komand_audit_log SELECT * FROM komand_audit_log WHERE true
			ON CONFLICT (id) DO UPDATE SET action = 'tampered'`},
	}
	for _, tc := range stmts {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.DB().ExecContext(t.Context(), tc.sql)
			if err == nil || !strings.Contains(err.Error(), "komand_audit_log is append-only") {
				t.Fatalf("%s: got error %v, want the append-only trigger's", tc.sql, err)
			}
		})
	}
	got, err := s.ScanAudit(t.Context(), store.PlatformTenantID, 0, 10)
	if err != nil || len(got) != 1 || got[0].Action != "login" {
		t.Fatalf("ScanAudit after tampering: got %+v, %v, want the one untouched entry", got, err)
	}
}

func TestReopenKeepsDataAndSkipsMigrations(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	tn := store.Tenant{ID: uuid.NewString(), Slug: "acme", Name: "Acme", CreatedAt: time.Now()}
	if err := s.CreateTenant(ctx, tn); err != nil {
		t.Fatalf("CreateTenant: %v", err)
	}
	appendOne(t, s, tn.ID)
	migrations := func(s *sqlite.Store) map[int64]int64 {
		rows, err := s.DB().QueryContext(ctx, `SELECT version, applied_at FROM komand_schema_migrations`)
		if err != nil {
			t.Fatalf("reading migrations: %v", err)
		}
		defer rows.Close()
		out := map[int64]int64{}
		for rows.Next() {
			var v, at int64
			if err := rows.Scan(&v, &at); err != nil {
				t.Fatalf("reading migrations: %v", err)
			}
			out[v] = at
		}
		return out
	}
	before := migrations(s)
	if len(before) == 0 {
		t.Fatalf("komand_schema_migrations is empty after Open")
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	// The migrations use plain CREATE TABLE and INSERT, so re-running one
	// would fail Open.
	for i := range 2 {
		s2, err := sqlite.Open(ctx, path)
		if err != nil {
			t.Fatalf("reopen %d: %v", i, err)
		}
		if after := migrations(s2); !maps.Equal(after, before) {
			t.Errorf("reopen %d: migrations got %v, want %v (unchanged)", i, after, before)
		}
		if got, err := s2.GetTenantBySlug(ctx, "acme"); err != nil || got.ID != tn.ID {
			t.Errorf("reopen %d: GetTenantBySlug got %+v, %v, want tenant %s", i, got, err, tn.ID)
		}
		if seq, _, err := s2.AuditHead(ctx, tn.ID); err != nil || seq != 1 {
			t.Errorf("reopen %d: AuditHead got %d, %v, want 1", i, seq, err)
		}
		s2.Close()
	}
}

func TestRefusesNewerSchema(t *testing.T) {
	ctx := t.Context()
	s, path := openTemp(t)
	if _, err := s.DB().ExecContext(ctx,
		`INSERT INTO komand_schema_migrations (version, applied_at) VALUES (9999, 0)`); err != nil {
		t.Fatalf("insert: %v", err)
	}
	s.Close()
	if s2, err := sqlite.Open(ctx, path); err == nil {
		s2.Close()
		t.Fatalf("Open of a database with a newer schema: got nil error, want refusal")
	}
}

func TestFileMode(t *testing.T) {
	s, path := openTemp(t)
	defer s.Close()
	appendOne(t, s, store.PlatformTenantID) // make sure the WAL exists
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			if p == path {
				t.Fatalf("Stat: %v", err)
			}
			continue
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: got mode %#o, want 0600", filepath.Base(p), got)
		}
	}
}

func TestPragmas(t *testing.T) {
	s, _ := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	for _, tc := range []struct{ pragma, want string }{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "5000"},
		{"synchronous", "2"}, // FULL
		{"recursive_triggers", "1"},
	} {
		var got string
		if err := s.DB().QueryRowContext(ctx, "PRAGMA "+tc.pragma).Scan(&got); err != nil {
			t.Fatalf("PRAGMA %s: %v", tc.pragma, err)
		}
		if got != tc.want {
			t.Errorf("PRAGMA %s: got %q, want %q", tc.pragma, got, tc.want)
		}
	}
}

func TestOpenRejectsDSNPaths(t *testing.T) {
	dir := t.TempDir()
	for _, p := range []string{"", ":memory:", "file:x.db", filepath.Join(dir, "x.db?_pragma=foreign_keys(0)")} {
		if s, err := sqlite.Open(t.Context(), p); err == nil {
			s.Close()
			t.Errorf("Open(%q): got nil error, want rejection", p)
		}
	}
}
