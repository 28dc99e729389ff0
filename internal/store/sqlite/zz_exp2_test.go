package sqlite

import (
	"database/sql"
	"fmt"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
)

func TestZZReal(t *testing.T) {
	ctx := context.Background()
	details := []byte(`{"skill":"web.search","query":"quarterly revenue","results":10,"latencyMs":412}`)
	sealFn := func(e *store.AuditEntry) string {
		sum := sha256.Sum256([]byte(e.ID + e.PrevHash))
		return hex.EncodeToString(sum[:])
	}
	for _, v := range []struct{ name, exec string; ps int }{
		{"asis", "", 0}, {"ps8k", "", 8192}, {"ps16k", "", 16384}, {"asis", "", 0}, {"ps8k", "", 8192}, {"ps16k", "", 16384},
	} {
		path := filepath.Join(t.TempDir(), "x.db")
		if v.ps > 0 {
			db, _ := sql.Open("sqlite", path)
			if _, err := db.Exec(fmt.Sprintf("PRAGMA page_size=%d; CREATE TABLE zz(x); DROP TABLE zz;", v.ps)); err != nil {
				t.Fatal(err)
			}
			db.Close()
		}
		s, err := Open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if v.exec != "" {
			s.writer.Exec(v.exec)
		}
		tenants := make([]string, 4)
		for i := range tenants {
			tenants[i] = uuid.NewString()
			s.CreateTenant(ctx, store.Tenant{ID: tenants[i], Slug: "t" + tenants[i], CreatedAt: time.Now()})
		}
		batch := make([]store.AuditEntry, 500)
		const batches = 200
		var prep time.Duration
		c0, w0 := cpuNow(), time.Now()
		for b := 0; b < batches; b++ {
			p0 := cpuNow()
			for i := range batch {
				batch[i] = store.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenants[i%4], Action: "skill.invoke",
					ActorID: "actor-0123456789", AgentID: "support", SessionID: "session-0123456789", SkillID: "web.search",
					Details: details, RequestID: "req-0123456789abcdef", Timestamp: time.Now()}
			}
			prep += cpuNow() - p0
			if err := s.AppendAudit(ctx, batch, sealFn); err != nil {
				t.Fatal(err)
			}
		}
		cpu, wall := cpuNow()-c0, time.Since(w0)
		t.Logf("%-8s cpu %5.1fµs/entry (prep %4.1f) wall %5.1fµs/entry (%d/s)", v.name, float64(cpu.Microseconds())/100000, float64(prep.Microseconds())/100000, float64(wall.Microseconds())/100000, int(100000/wall.Seconds()))
		s.Close()
	}
}
