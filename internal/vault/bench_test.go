package vault

// Benchmarks of issue 6's targets:
//
//	go test ./internal/vault -run '^$' -bench . -benchtime 2s
//
// Seal/Open: one ≤ 4 KB credential value with a warm data-key cache.
// Resolve: SkillContext.GetCredential's back end, p99 over all calls,
// warm (grant and data key cached; the read's audit entry joins the turn's
// unit of work) and cold (grant read from the database each time). RotateKEK:
// re-wrapping the data keys of 10,000 tenants (one credential each, so
// 10,000 credentials and 10,000 data keys: the worst case, since
// credentials are not touched).

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

func benchVault(b *testing.B) (*Vault, string) {
	tn := uuid.NewString()
	st := openStore(b, tn)
	ring, _ := NewKeyring(randomKey(b))
	return New(st, ring, nil), tn
}

// valueSizes are the credential sizes measured: an API key, a token, a
// certificate, the 4 KB of the target.
var valueSizes = []int{64, 256, 1024, 4096}

func BenchmarkSeal(b *testing.B) {
	for _, size := range valueSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			v, tn := benchVault(b)
			ctx := context.Background()
			value := make([]byte, size)
			id := uuid.NewString()
			if _, _, err := v.Seal(ctx, tn, id, value); err != nil { // creates the data key
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, _, err := v.Seal(ctx, tn, id, value); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkOpen(b *testing.B) {
	for _, size := range valueSizes {
		b.Run(fmt.Sprintf("%dB", size), func(b *testing.B) {
			v, tn := benchVault(b)
			ctx := context.Background()
			id := uuid.NewString()
			ver, ct, err := v.Seal(ctx, tn, id, make([]byte, size))
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := v.Open(ctx, tn, id, ver, ct); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkResolve(b *testing.B) {
	for _, mode := range []string{"warm", "cold"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			tn := uuid.NewString()
			st := openStore(b, tn)
			if err := st.CreateAgent(ctx, store.Agent{TenantID: tn, AgentID: "sales", Name: "s", CreatedAt: time.Now(), UpdatedAt: time.Now()}, 1000); err != nil {
				b.Fatal(err)
			}
			w := audit.NewWriter(st, audit.Options{})
			b.Cleanup(func() { w.Close() })
			ring, _ := NewKeyring(randomKey(b))
			svc := NewService(st, New(st, ring, nil), authz.New(audit.Denials(w)), w, nil, nil)
			admin := authz.Principal{TenantID: tn, UserID: uuid.NewString(), Role: authz.Admin}
			c, err := svc.Create(ctx, admin, "stripe", "api_key", "sk_live_"+uuid.NewString())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := svc.Grant(ctx, admin, c.ID, "sales", "billing", nil); err != nil {
				b.Fatal(err)
			}
			ds := make([]time.Duration, 0, 1<<16)
			g := audit.NewUnit(w)
			u := Use{TenantID: tn, AgentID: "sales", SkillID: "billing", SessionID: uuid.NewString(), Audit: g}
			if _, err := svc.Resolve(ctx, u, "stripe"); err != nil { // warms the caches
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if mode == "cold" {
					svc.forget(tn)
				}
				t0 := time.Now()
				if _, err := svc.Resolve(ctx, u, "stripe"); err != nil {
					b.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
				if i++; i%256 == 0 {
					// A turn awaits its unit once; do it outside the
					// timed call, as the turn does after the tool.
					if err := g.Wait(ctx); err != nil {
						b.Fatal(err)
					}
				}
			}
			if err := g.Wait(ctx); err != nil {
				b.Fatal(err)
			}
			slices.Sort(ds)
			b.ReportMetric(float64(ds[len(ds)/2].Nanoseconds()), "p50-ns")
			b.ReportMetric(float64(ds[(len(ds)-1)*99/100].Nanoseconds()), "p99-ns")
		})
	}
}

func BenchmarkRotateKEK(b *testing.B) {
	const tenants = 10000
	ctx := context.Background()
	ids := make([]string, tenants)
	for i := range ids {
		ids[i] = uuid.NewString()
	}
	st := openStore(b)
	for i, id := range ids {
		if err := st.CreateTenant(ctx, store.Tenant{ID: id, Slug: fmt.Sprintf("t%05d", i), Name: "T", CreatedAt: time.Now()}); err != nil {
			b.Fatal(err)
		}
	}
	keys := [][]byte{randomKey(b)}
	ring, _ := NewKeyring(keys[0])
	v := New(st, ring, nil)
	for _, id := range ids {
		if _, _, err := v.Seal(ctx, id, uuid.NewString(), []byte("secret")); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		next := randomKey(b)
		r, _ := NewKeyring(next, keys...)
		keys = append([][]byte{next}, keys...)
		rv := New(st, r, nil)
		b.StartTimer()
		n, err := rv.RotateKEK(ctx, ids)
		if err != nil || n != tenants {
			b.Fatalf("rotated %d, %v", n, err)
		}
	}
}
