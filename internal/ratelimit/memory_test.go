package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// t0 is aligned to the minute and the hour, so t0 starts a window.
var t0 = time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)

// fakeClock is a manually advanced clock that is safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// step is one Allow call at t0+at and the Decision it must produce.
type step struct {
	at     time.Duration
	key    string
	limit  int
	window time.Duration

	allowed   bool
	remaining int
	reset     time.Duration // Reset - t0
}

func TestMemoryWindows(t *testing.T) {
	const m, h = time.Minute, time.Hour
	tests := []struct {
		name  string
		steps []step
	}{
		{
			name: "limit reached then denied with Remaining 0",
			steps: []step{
				{10 * time.Second, "a", 3, m, true, 2, m},
				{11 * time.Second, "a", 3, m, true, 1, m},
				{12 * time.Second, "a", 3, m, true, 0, m},
				{13 * time.Second, "a", 3, m, false, 0, m},
				{59 * time.Second, "a", 3, m, false, 0, m},
			},
		},
		{
			name: "next window allows again",
			steps: []step{
				{0, "a", 2, m, true, 1, m},
				{0, "a", 2, m, true, 0, m},
				{m - time.Nanosecond, "a", 2, m, false, 0, m},
				{m, "a", 2, m, true, 1, 2 * m},
				{m + time.Second, "a", 2, m, true, 0, 2 * m},
				{m + 2*time.Second, "a", 2, m, false, 0, 2 * m},
			},
		},
		{
			name: "windows are aligned to the clock, not to the first event",
			steps: []step{
				{59 * time.Second, "a", 1, m, true, 0, m},
				{59*time.Second + 500*time.Millisecond, "a", 1, m, false, 0, m},
				{m, "a", 1, m, true, 0, 2 * m},
			},
		},
		{
			name: "idle windows in between start from zero",
			steps: []step{
				{0, "a", 2, m, true, 1, m},
				{0, "a", 2, m, true, 0, m},
				{5*m + 30*time.Second, "a", 2, m, true, 1, 6 * m},
			},
		},
		{
			name: "separate keys are independent",
			steps: []step{
				{0, "user:1", 1, m, true, 0, m},
				{0, "user:1", 1, m, false, 0, m},
				{0, "user:2", 1, m, true, 0, m},
				{0, "10.0.0.1", 1, m, true, 0, m},
				{0, "user:2", 1, m, false, 0, m},
			},
		},
		{
			name: "different windows for one key do not collide",
			steps: []step{
				{0, "a", 2, m, true, 1, m},
				{0, "a", 1, h, true, 0, h},
				{0, "a", 2, m, true, 0, m},
				{0, "a", 1, h, false, 0, h},
				{0, "a", 2, m, false, 0, m},
				{m, "a", 2, m, true, 1, 2 * m},
				{m, "a", 1, h, false, 0, h},
				{30 * time.Second, "a", 100, 30 * time.Second, true, 99, m},
			},
		},
		{
			name: "api and chat policies on one limiter",
			steps: []step{
				{time.Second, "api:user:1", 100, m, true, 99, m},
				{time.Second, "chat:user:1", 30, m, true, 29, m},
				{2 * time.Second, "api:user:1", 100, m, true, 98, m},
			},
		},
		{
			name: "limit 0 denies",
			steps: []step{
				{0, "a", 0, m, false, 0, m},
				{0, "a", 0, m, false, 0, m},
			},
		},
		{
			name: "clock going backwards keeps the later window",
			steps: []step{
				{61 * time.Second, "a", 2, m, true, 1, 2 * m},
				{59 * time.Second, "a", 2, m, true, 0, 2 * m},
				{59 * time.Second, "a", 2, m, false, 0, 2 * m},
				{2 * m, "a", 2, m, true, 1, 3 * m},
			},
		},
		{
			name: "sub-second windows",
			steps: []step{
				{0, "a", 1, 100 * time.Millisecond, true, 0, 100 * time.Millisecond},
				{99 * time.Millisecond, "a", 1, 100 * time.Millisecond, false, 0, 100 * time.Millisecond},
				{100 * time.Millisecond, "a", 1, 100 * time.Millisecond, true, 0, 200 * time.Millisecond},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := newFakeClock(t0)
			lim := NewMemory(100, clock.Now)
			for i, s := range tt.steps {
				clock.Set(t0.Add(s.at))
				d, err := lim.Allow(context.Background(), s.key, s.limit, s.window)
				if err != nil {
					t.Fatalf("step %d: Allow: %v", i, err)
				}
				want := Decision{Allowed: s.allowed, Limit: s.limit, Remaining: s.remaining, Reset: t0.Add(s.reset)}
				if d.Allowed != want.Allowed || d.Limit != want.Limit || d.Remaining != want.Remaining || !d.Reset.Equal(want.Reset) {
					t.Fatalf("step %d (%+v):\n got %+v\nwant %+v", i, s, d, want)
				}
			}
		})
	}
}

func TestMemoryResetIsWindowEnd(t *testing.T) {
	// Real clock: Reset must be the end of the clock-aligned window.
	lim := NewMemory(10, nil)
	before := time.Now()
	d, err := lim.Allow(context.Background(), "k", 10, time.Minute)
	after := time.Now()
	if err != nil || !d.Allowed {
		t.Fatalf("Allow = %+v, %v", d, err)
	}
	if d.Reset.Sub(d.Reset.Truncate(time.Minute)) != 0 {
		t.Errorf("Reset %v is not aligned to the minute", d.Reset)
	}
	if !d.Reset.After(before) || d.Reset.After(after.Add(time.Minute)) {
		t.Errorf("Reset %v not in (%v, %v]", d.Reset, before, after.Add(time.Minute))
	}
}

func TestMemoryFailsClosed(t *testing.T) {
	var zero Memory
	var nilMem *Memory
	for name, lim := range map[string]Limiter{"zero value": &zero, "nil pointer": nilMem} {
		t.Run(name, func(t *testing.T) {
			for range 3 {
				d, err := lim.Allow(context.Background(), "k", 10, time.Minute)
				if err != nil {
					t.Fatalf("Allow: %v", err)
				}
				if d.Allowed || d.Remaining != 0 || d.Limit != 10 || d.Reset.IsZero() {
					t.Fatalf("Allow = %+v, want a denial with Limit 10 and a Reset", d)
				}
			}
		})
	}
	if nilMem.Len() != 0 || zero.Len() != 0 {
		t.Error("Len of an unset Memory is not 0")
	}
}

func TestMemoryInvalidArguments(t *testing.T) {
	lim := NewMemory(10, newFakeClock(t0).Now)
	for _, tc := range []struct {
		limit  int
		window time.Duration
	}{{-1, time.Minute}, {10, 0}, {10, -time.Second}} {
		d, err := lim.Allow(context.Background(), "k", tc.limit, tc.window)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("Allow(limit=%d, window=%v) error = %v, want ErrInvalidArgument", tc.limit, tc.window, err)
		}
		if d.Allowed || d.Remaining != 0 {
			t.Errorf("Allow(limit=%d, window=%v) = %+v, want a denial", tc.limit, tc.window, d)
		}
	}
	if lim.Len() != 0 {
		t.Errorf("Len = %d after invalid calls, want 0", lim.Len())
	}
}

func TestNewMemoryDefaults(t *testing.T) {
	lim := NewMemory(0, nil)
	if lim.maxKeys != DefaultMaxKeys {
		t.Errorf("maxKeys = %d, want %d", lim.maxKeys, DefaultMaxKeys)
	}
	if d, err := lim.Allow(context.Background(), "k", 1, time.Minute); err != nil || !d.Allowed {
		t.Errorf("Allow = %+v, %v", d, err)
	}
}

// checkInvariants verifies that the key count matches the maps and the bound,
// and that minEnd is a lower bound of every window end.
func checkInvariants(t *testing.T, m *Memory) {
	t.Helper()
	total := 0
	minEnd := m.minEnd.Load()
	for i := range m.shards {
		s := &m.shards[i]
		s.mu.Lock()
		total += len(s.m)
		for k, e := range s.m {
			if e.end < minEnd {
				t.Errorf("entry %v ends at %d, before minEnd %d", k, e.end, minEnd)
			}
		}
		s.mu.Unlock()
	}
	if total != m.Len() {
		t.Errorf("maps hold %d entries, Len() = %d", total, m.Len())
	}
	if int64(total) > m.maxKeys {
		t.Errorf("maps hold %d entries, more than maxKeys %d", total, m.maxKeys)
	}
}

func TestMemoryBoundedUnderKeyFlood(t *testing.T) {
	const maxKeys = 100
	ctx := context.Background()
	clock := newFakeClock(t0.Add(5 * time.Second))
	lim := NewMemory(maxKeys, clock.Now)

	// A victim has used 2 of its 3 login attempts.
	for range 2 {
		if d, _ := lim.Allow(ctx, "login:victim", 3, time.Minute); !d.Allowed {
			t.Fatal("victim denied early")
		}
	}

	// An attacker sprays distinct keys: only the remaining room is granted,
	// and then new keys are refused. Memory stays bounded.
	allowed := 0
	for i := range 10_000 {
		d, err := lim.Allow(ctx, fmt.Sprintf("login:attacker-%d", i), 3, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		} else if d.Remaining != 0 || !d.Reset.Equal(t0.Add(time.Minute)) {
			t.Fatalf("refused key: %+v, want Remaining 0 and Reset at the window end", d)
		}
		if lim.Len() > maxKeys {
			t.Fatalf("Len = %d after %d keys, above maxKeys %d", lim.Len(), i+1, maxKeys)
		}
	}
	if allowed != maxKeys-1 {
		t.Errorf("%d new keys allowed, want %d", allowed, maxKeys-1)
	}
	checkInvariants(t, lim)

	// The flood did not reset the victim's window.
	if d, _ := lim.Allow(ctx, "login:victim", 3, time.Minute); !d.Allowed || d.Remaining != 0 {
		t.Errorf("victim's 3rd attempt: %+v, want allowed with Remaining 0", d)
	}
	if d, _ := lim.Allow(ctx, "login:victim", 3, time.Minute); d.Allowed {
		t.Errorf("victim's 4th attempt allowed: the flood reset its window")
	}

	// In the next window the expired entries are swept and new keys fit again.
	clock.Set(t0.Add(time.Minute))
	for i := range maxKeys {
		d, _ := lim.Allow(ctx, fmt.Sprintf("fresh-%d", i), 3, time.Minute)
		if !d.Allowed {
			t.Fatalf("fresh key %d denied after the old windows ended (Len %d)", i, lim.Len())
		}
	}
	if d, _ := lim.Allow(ctx, "one-too-many", 3, time.Minute); d.Allowed || d.Remaining != 0 {
		t.Errorf("key beyond maxKeys: %+v, want a denial with Remaining 0", d)
	}
	if lim.Len() != maxKeys {
		t.Errorf("Len = %d, want %d", lim.Len(), maxKeys)
	}
	checkInvariants(t, lim)
}

func TestMemoryEvictsOnlyExpiredWindows(t *testing.T) {
	ctx := context.Background()
	clock := newFakeClock(t0)
	lim := NewMemory(2, clock.Now)

	mustAllow := func(key string, limit int, window time.Duration, want bool) {
		t.Helper()
		d, err := lim.Allow(ctx, key, limit, window)
		if err != nil || d.Allowed != want {
			t.Fatalf("Allow(%q, %d, %v) = %+v, %v; want Allowed=%v", key, limit, window, d, err, want)
		}
	}
	mustAllow("short", 1, time.Minute, true)
	mustAllow("long", 1, time.Hour, true)
	mustAllow("c", 1, time.Minute, false) // full, nothing expired

	clock.Set(t0.Add(time.Minute)) // "short" has expired, "long" has not
	mustAllow("c", 1, time.Minute, true)
	if lim.Len() != 2 {
		t.Fatalf("Len = %d, want 2", lim.Len())
	}
	mustAllow("long", 1, time.Hour, false) // its window survived the sweep
	mustAllow("d", 1, time.Minute, false)  // full again, nothing expired
	checkInvariants(t, lim)

	// An existing key rolls into its next window without needing room.
	clock.Set(t0.Add(2 * time.Minute))
	mustAllow("c", 1, time.Minute, true)
	checkInvariants(t, lim)
}

func TestMemoryConcurrentOneKey(t *testing.T) {
	const (
		goroutines = 16
		calls      = 500
		limit      = 1000
	)
	lim := NewMemory(10, newFakeClock(t0).Now)
	var allowed, remainingBad atomic.Int64
	var wg sync.WaitGroup
	for range goroutines {
		wg.Go(func() {
			for range calls {
				d, err := lim.Allow(context.Background(), "hot", limit, time.Minute)
				if err != nil {
					t.Error(err)
					return
				}
				if d.Allowed {
					allowed.Add(1)
				}
				if d.Remaining < 0 || d.Remaining >= limit {
					remainingBad.Add(1)
				}
			}
		})
	}
	wg.Wait()
	if got := allowed.Load(); got != limit {
		t.Errorf("%d events allowed, want exactly %d", got, limit)
	}
	if remainingBad.Load() != 0 {
		t.Errorf("%d decisions had Remaining out of [0, limit)", remainingBad.Load())
	}
}

func TestMemoryConcurrentFloodAndSweeps(t *testing.T) {
	// Many goroutines insert distinct keys while the clock moves across
	// windows, so inserts, rollovers and sweeps race. The bound must hold,
	// and the bookkeeping must stay consistent.
	const maxKeys = 500
	clock := newFakeClock(t0)
	lim := NewMemory(maxKeys, clock.Now)
	var workers sync.WaitGroup
	for g := range 8 {
		workers.Go(func() {
			for i := range 3000 {
				if i%10 == g%10 {
					// The workers move the clock themselves, in step
					// with their inserts (about 2,400 s in all).
					clock.Advance(time.Second)
				}
				window := time.Duration(1+i%3) * 10 * time.Second
				lim.Allow(context.Background(), fmt.Sprintf("g%d-%d", g, i), 5, window)
				lim.Allow(context.Background(), "shared", 5, window)
				if n := lim.Len(); n > maxKeys {
					t.Errorf("Len = %d, above maxKeys %d", n, maxKeys)
					return
				}
			}
		})
	}
	workers.Wait()
	checkInvariants(t, lim)
}

func TestMemoryAllowDoesNotAllocate(t *testing.T) {
	ctx := context.Background()
	var lim Limiter = NewMemory(1000, nil) // real clock, through the interface
	keys := []string{"user:1", "user:2", "10.1.2.3", "2001:db8::1"}
	for _, k := range keys {
		lim.Allow(ctx, k, math.MaxInt, time.Minute)
	}
	i := 0
	allocs := testing.AllocsPerRun(1000, func() {
		lim.Allow(ctx, keys[i%len(keys)], math.MaxInt, time.Minute)
		i++
	})
	if allocs != 0 {
		t.Errorf("Allow on an existing key: %v allocations per call, want 0", allocs)
	}

	// Denials do not allocate either.
	lim.Allow(ctx, "denied", 1, time.Minute)
	allocs = testing.AllocsPerRun(1000, func() {
		lim.Allow(ctx, "denied", 1, time.Minute)
	})
	if allocs != 0 {
		t.Errorf("denied Allow: %v allocations per call, want 0", allocs)
	}
}

func benchKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("user:%08d", i)
	}
	return keys
}

// BenchmarkMemoryAllow measures Allow on keys that already have an entry,
// with the real clock.
func BenchmarkMemoryAllow(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(1024)
	lim := NewMemory(len(keys), nil)
	for _, k := range keys {
		lim.Allow(ctx, k, math.MaxInt, time.Minute)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		lim.Allow(ctx, keys[i&(len(keys)-1)], math.MaxInt, time.Minute)
	}
}

// BenchmarkMemoryAllowParallel is BenchmarkMemoryAllow from GOMAXPROCS
// goroutines, to show the effect of sharding.
func BenchmarkMemoryAllowParallel(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(1024)
	lim := NewMemory(len(keys), nil)
	for _, k := range keys {
		lim.Allow(ctx, k, math.MaxInt, time.Minute)
	}
	var seq atomic.Int64
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := int(seq.Add(1) * 7919)
		for pb.Next() {
			lim.Allow(ctx, keys[i&(len(keys)-1)], math.MaxInt, time.Minute)
			i++
		}
	})
}

// BenchmarkMemoryAllowFixedClock is BenchmarkMemoryAllow without the cost of
// reading the system clock (time.Now is slow on some virtual machines).
func BenchmarkMemoryAllowFixedClock(b *testing.B) {
	ctx := context.Background()
	keys := benchKeys(1024)
	now := time.Now()
	lim := NewMemory(len(keys), func() time.Time { return now })
	for _, k := range keys {
		lim.Allow(ctx, k, math.MaxInt, time.Minute)
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		lim.Allow(ctx, keys[i&(len(keys)-1)], math.MaxInt, time.Minute)
	}
}

// TestWindowBounds: windows are epoch-aligned, contain the instant, and for
// windows that divide a day agree with time.Truncate (what a reader of
// X-RateLimit-Reset expects: the next minute or hour).
func TestWindowBounds(t *testing.T) {
	base := time.Date(2026, 12, 2, 14, 37, 21, 123456789, time.UTC)
	for _, w := range []time.Duration{time.Second, 7 * time.Second, time.Minute, 15 * time.Minute, time.Hour, 24 * time.Hour} {
		for _, at := range []time.Time{base, base.Add(-time.Nanosecond), base.Truncate(w), time.Unix(0, 0), time.Unix(-1, 0)} {
			n := at.UnixNano()
			start, end := windowBounds(n, w)
			if start > n || n >= end || end-start != int64(w) || start%int64(w) != 0 {
				t.Fatalf("window %v at %v: [%d, %d) does not hold %d or is misaligned", w, at, start, end, n)
			}
			if (24*time.Hour)%w == 0 && n >= 0 && time.Unix(0, start).UTC() != at.Truncate(w).UTC() {
				t.Fatalf("window %v at %v: start %v, Truncate %v", w, at, time.Unix(0, start).UTC(), at.Truncate(w).UTC())
			}
		}
	}
}
