package postgres

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// BenchmarkAppendAudit appends batches of 500 entries, the audit Writer's
// default batch, and reports the sustained rate in entries/s. Each batch is
// one durable transaction sealed with the real audit.Seal. IDs are UUIDv7,
// as audit.Entry makes them.
//
//	KOMAND_TEST_POSTGRES_DSN=... go test -run '^$' -bench AppendAudit ./internal/store/postgres/
func BenchmarkAppendAudit(b *testing.B) {
	for _, bc := range []struct {
		name    string
		tenants int
	}{{"OneTenant", 1}, {"FourTenants", 4}} {
		b.Run(bc.name, func(b *testing.B) {
			s, _ := openStore(b)
			ctx := context.Background()
			var tenants []string
			for range bc.tenants {
				tn := store.Tenant{ID: uuid.NewString(), Slug: randomName("t"), Name: "bench", CreatedAt: time.Now()}
				must(b, "CreateTenant", s.CreateTenant(ctx, tn))
				tenants = append(tenants, tn.ID)
			}
			const batch = 500
			details := []byte(`{"ip":"203.0.113.7","method":"POST","path":"/api/v1/agents","status":201}`)
			entries := make([]store.AuditEntry, batch)
			b.ResetTimer()
			for b.Loop() {
				b.StopTimer()
				now := time.Now()
				for i := range entries {
					entries[i] = store.AuditEntry{ID: uuid.Must(uuid.NewV7()).String(), TenantID: tenants[i%len(tenants)],
						Action: "agent.created", ActorID: "user-1", AgentID: "support-bot",
						Details: details, RequestID: "req-1", Timestamp: now}
				}
				b.StartTimer()
				if err := s.AppendAudit(ctx, entries, audit.Seal); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}
