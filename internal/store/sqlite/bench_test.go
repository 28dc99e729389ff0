package sqlite_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/store"
)

// benchSeal is a realistic seal: SHA-256 over every field and PrevHash.
func benchSeal(e *store.AuditEntry) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s|%s|%d|%s|%s|%s|%s|%s|%s|%s|%s|", e.ID, e.TenantID, e.Seq, e.Action,
		e.ActorID, e.AgentID, e.SessionID, e.SkillID, e.RequestID,
		e.Timestamp.Format(time.RFC3339Nano), e.PrevHash)
	h.Write(e.Details)
	return hex.EncodeToString(h.Sum(nil))
}

// BenchmarkAppendAudit appends batches of 500 entries spread over four
// tenants, each batch one durable (synchronous=FULL) transaction, and
// reports entries/s (wall clock) and the process CPU time per entry, which
// stays meaningful on a busy machine. Building the entries is part of the
// measured time.
func BenchmarkAppendAudit(b *testing.B) {
	b.Run("UUIDv4", func(b *testing.B) { benchAppend(b, uuid.NewString) })
	b.Run("UUIDv7", func(b *testing.B) {
		benchAppend(b, func() string { return uuid.Must(uuid.NewV7()).String() })
	})
}

func benchAppend(b *testing.B, newID func() string) {
	const batchSize = 500
	s, _ := openTemp(b)
	defer s.Close()
	ctx := b.Context()
	tenants := make([]string, 4)
	for i := range tenants {
		tenants[i] = uuid.NewString()
		if err := s.CreateTenant(ctx, store.Tenant{ID: tenants[i], Slug: "t" + strconv.Itoa(i), Name: "T", CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	actor, session := uuid.NewString(), uuid.NewString()
	details := []byte(`{"skill":"web.search","query":"quarterly revenue","results":10,"latencyMs":412}`)
	batch := make([]store.AuditEntry, batchSize)

	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for b.Loop() {
		now := time.Now()
		for i := range batch {
			batch[i] = store.AuditEntry{
				ID: newID(), TenantID: tenants[i%len(tenants)], Action: "skill.invoke",
				ActorID: actor, AgentID: "support", SessionID: session, SkillID: "web.search",
				Details: details, RequestID: uuid.NewString(), Timestamp: now,
			}
		}
		if err := s.AppendAudit(ctx, batch, benchSeal); err != nil {
			b.Fatal(err)
		}
	}
	n := float64(b.N * batchSize)
	b.ReportMetric(n/time.Since(start).Seconds(), "entries/s")
	if c := processCPU() - cpu; c > 0 {
		b.ReportMetric(float64(c.Nanoseconds())/1e3/n, "cpu-µs/entry")
	}
}
