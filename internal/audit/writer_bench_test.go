package audit_test

// BenchmarkWriter measures durable, hash-chained audit appends through the
// group-commit Writer: GOMAXPROCS×parallelism concurrent callers each call
// Record and wait until their own entry is committed (SQLite synchronous=FULL
// on a temp file; PostgreSQL on a fresh database when
// KOMAND_TEST_POSTGRES_DSN is set). It reports entries/s, the
// enqueue→durable latency of Record (p50-ns, p99-ns) and cpu-ns/entry (the
// process's CPU time per entry, callers and writer together; for PostgreSQL
// the server's CPU is not included), and checks afterwards
// that every tenant's chain head advanced by exactly the number of entries
// recorded.
//
//	go test ./internal/audit -run '^$' -bench Writer -benchmem

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/pgtest"
	"github.com/komand-ai/komand/internal/store/postgres"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func BenchmarkWriter(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) {
		st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "bench.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchWriterStore(b, st)
	})
	b.Run("postgres", func(b *testing.B) {
		dsn := pgtest.FreshDSN(b)
		st, err := postgres.Open(context.Background(), dsn)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		benchWriterStore(b, st)
	})
}

// benchTenants creates n tenants and returns their IDs.
func benchTenants(b *testing.B, st store.Store, prefix string, n int) []string {
	b.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i] = uuid.NewString()
		if err := st.CreateTenant(context.Background(), store.Tenant{
			ID: ids[i], Slug: fmt.Sprintf("%s-%d", prefix, i), Name: "Bench", CreatedAt: time.Now(),
		}); err != nil {
			b.Fatal(err)
		}
	}
	return ids
}

func benchWriterStore(b *testing.B, st store.Store) {
	for _, tc := range []struct {
		tenants, parallelism int
	}{
		{1, 64},  // 128 callers on 2 CPUs
		{8, 64},  // the same callers spread over 8 chains
		{1, 256}, // 512 callers: does a bigger batch raise throughput?
	} {
		name := fmt.Sprintf("tenants=%d/callers=%dxGOMAXPROCS", tc.tenants, tc.parallelism)
		b.Run(name, func(b *testing.B) {
			tenants := benchTenants(b, st, fmt.Sprintf("t%d-%d", tc.tenants, tc.parallelism), tc.tenants)
			b.Run("run", func(b *testing.B) { benchWriter(b, st, tenants, tc.parallelism) })
		})
	}
}

func benchWriter(b *testing.B, st store.Store, tenants []string, parallelism int) {
	ctx := context.Background()
	before := make([]int64, len(tenants))
	for i, t := range tenants {
		seq, _, err := st.AuditHead(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		before[i] = seq
	}
	w := audit.NewWriter(st, audit.Options{})
	details := map[string]any{
		"skill": "web.search", "status": "ok", "durationMs": 412, "results": 10,
		"query": "quarterly revenue by region",
	}
	var (
		next      atomic.Int64
		mu        sync.Mutex
		all       []time.Duration
		perTenant = make([]atomic.Int64, len(tenants))
	)
	b.SetParallelism(parallelism)
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu0 := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		g := int(next.Add(1))
		ti := g % len(tenants)
		rctx := requestid.With(ctx, requestid.New())
		ev := audit.Event{
			TenantID: tenants[ti], Action: audit.ToolExecutionCompleted,
			ActorID: uuid.NewString(), AgentID: "support-bot", SessionID: uuid.NewString(),
			SkillID: "web-search", Details: details,
		}
		ds := make([]time.Duration, 0, 1024)
		n := int64(0)
		for pb.Next() {
			t0 := time.Now()
			if err := w.Record(rctx, ev); err != nil {
				b.Error(err)
				return
			}
			ds = append(ds, time.Since(t0))
			n++
		}
		perTenant[ti].Add(n)
		mu.Lock()
		all = append(all, ds...)
		mu.Unlock()
	})
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.StopTimer()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/entry")
	}
	if len(all) > 0 {
		slices.Sort(all)
		q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Nanoseconds()) }
		b.ReportMetric(q(0.50), "p50-ns")
		b.ReportMetric(q(0.99), "p99-ns")
	}
	for i, t := range tenants {
		seq, _, err := st.AuditHead(ctx, t)
		if err != nil {
			b.Fatal(err)
		}
		if got, want := seq-before[i], perTenant[i].Load(); got != want {
			b.Fatalf("tenant %d chain advanced by %d, want %d", i, got, want)
		}
	}
}

// BenchmarkVerifyWriterChain checks, once, that a chain written concurrently by
// the Writer verifies end to end (not a throughput number).
func BenchmarkVerifyWriterChain(b *testing.B) {
	st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "verify.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	tenant := benchTenants(b, st, "verify", 1)[0]
	w := audit.NewWriter(st, audit.Options{})
	var wg sync.WaitGroup
	for i := range 256 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				if err := w.Record(context.Background(), audit.Event{TenantID: tenant, Action: audit.AgentConfigured, AgentID: fmt.Sprintf("a-%d", i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		res, err := audit.Verify(context.Background(), st, tenant)
		if err != nil || !res.OK || res.Entries != 256*20 {
			b.Fatalf("verify: %+v %v", res, err)
		}
	}
}
