package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Tests that need a Redis server run only when KOMAND_TEST_REDIS_URL is set,
// for example redis://127.0.0.1:6379/0. Each test uses its own random key
// prefix and deletes its keys when it ends.

func testRedisURL(t *testing.T) string {
	t.Helper()
	url := os.Getenv("KOMAND_TEST_REDIS_URL")
	if url == "" {
		t.Skip("KOMAND_TEST_REDIS_URL not set; skipping Redis test")
	}
	return url
}

// newTestClient returns a new client (a new connection pool, as a separate
// replica would have) for the Redis at KOMAND_TEST_REDIS_URL.
func newTestClient(t *testing.T) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(testRedisURL(t))
	if err != nil {
		t.Fatalf("parse KOMAND_TEST_REDIS_URL: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping Redis at KOMAND_TEST_REDIS_URL: %v", err)
	}
	return c
}

// testPrefix returns a random key prefix and deletes its keys at cleanup.
func testPrefix(t *testing.T, c *redis.Client) string {
	t.Helper()
	b := make([]byte, 8)
	rand.Read(b)
	prefix := "komand-test:ratelimit:" + hex.EncodeToString(b) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := c.Scan(ctx, 0, prefix+"*", 100).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	})
	return prefix
}

// futureWindowClock returns a fixed clock 10s into a minute-aligned window
// that ends about an hour from now. Keys written under it therefore stay in
// Redis for the whole test, whatever the wall clock does meanwhile.
func futureWindowClock() func() time.Time {
	t := time.Now().Add(time.Hour).Truncate(time.Minute).Add(10 * time.Second)
	return func() time.Time { return t }
}

func TestRedisDecisions(t *testing.T) {
	c := newTestClient(t)
	r := NewRedis(c, testPrefix(t, c), nil, nil)
	r.now = futureWindowClock()
	reset := r.now().Truncate(time.Minute).Add(time.Minute)
	ctx := context.Background()

	for i, want := range []Decision{
		{Allowed: true, Limit: 3, Remaining: 2},
		{Allowed: true, Limit: 3, Remaining: 1},
		{Allowed: true, Limit: 3, Remaining: 0},
		{Allowed: false, Limit: 3, Remaining: 0},
		{Allowed: false, Limit: 3, Remaining: 0},
	} {
		d, err := r.Allow(ctx, "user:1", 3, time.Minute)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if d.Allowed != want.Allowed || d.Limit != want.Limit || d.Remaining != want.Remaining || !d.Reset.Equal(reset) {
			t.Fatalf("call %d: got %+v, want %+v with Reset %v", i, d, want, reset)
		}
	}
	// Another key is independent. So is the same key under another window.
	if d, _ := r.Allow(ctx, "user:2", 3, time.Minute); !d.Allowed || d.Remaining != 2 {
		t.Errorf("other key: %+v", d)
	}
	if d, _ := r.Allow(ctx, "user:1", 3, time.Hour); !d.Allowed || d.Remaining != 2 {
		t.Errorf("same key, 1h window: %+v, want its own counter", d)
	}
	if d, _ := r.Allow(ctx, "user:1", 0, time.Minute); d.Allowed {
		t.Errorf("limit 0 allowed: %+v", d)
	}
	if _, err := r.Allow(ctx, "user:1", 3, time.Microsecond); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("sub-millisecond window: err = %v, want ErrInvalidArgument", err)
	}
}

func TestRedisReplicasShareOneWindow(t *testing.T) {
	// Two replicas, each with its own client and its own fallback, on one
	// Redis.
	c1, c2 := newTestClient(t), newTestClient(t)
	prefix := testPrefix(t, c1)
	clock := futureWindowClock()
	replica1 := NewRedis(c1, prefix, NewMemory(10, clock), nil)
	replica2 := NewRedis(c2, prefix, NewMemory(10, clock), nil)
	replica1.now, replica2.now = clock, clock
	ctx := context.Background()

	allowed := 0
	for i := range 6 {
		r := replica1
		if i >= 3 {
			r = replica2
		}
		d, err := r.Allow(ctx, "10.0.0.7", 5, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if d.Allowed {
			allowed++
		}
	}
	if allowed != 5 {
		t.Errorf("3 calls on each replica with limit 5: %d allowed, want exactly 5", allowed)
	}

	// The same holds under concurrency: 20 calls on each replica, limit 7.
	var mu sync.Mutex
	allowed = 0
	var wg sync.WaitGroup
	for _, r := range []*Redis{replica1, replica2} {
		for range 4 {
			wg.Go(func() {
				for range 5 {
					d, err := r.Allow(ctx, "user:concurrent", 7, time.Minute)
					if err != nil {
						t.Error(err)
						return
					}
					if d.Allowed {
						mu.Lock()
						allowed++
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	if allowed != 7 {
		t.Errorf("40 concurrent calls on two replicas with limit 7: %d allowed, want exactly 7", allowed)
	}
}

func TestRedisKeyExpiry(t *testing.T) {
	c := newTestClient(t)
	ctx := context.Background()

	t.Run("expiry set at the window end", func(t *testing.T) {
		r := NewRedis(c, testPrefix(t, c), nil, nil)
		r.now = futureWindowClock()
		d, err := r.Allow(ctx, "user:1", 5, time.Minute)
		if err != nil || !d.Allowed {
			t.Fatalf("Allow = %+v, %v", d, err)
		}
		key := r.redisKey("user:1", time.Minute, r.now().Truncate(time.Minute))
		at, err := c.PExpireTime(ctx, key).Result()
		if err != nil {
			t.Fatalf("PEXPIRETIME %s: %v", key, err)
		}
		if want := time.Duration(d.Reset.UnixMilli()) * time.Millisecond; at != want {
			t.Errorf("key %s expires at %v (Unix ms), want the window end %v", key, at, want)
		}
		// Later increments leave the expiry alone.
		r.Allow(ctx, "user:1", 5, time.Minute)
		if at2, _ := c.PExpireTime(ctx, key).Result(); at2 != at {
			t.Errorf("expiry moved from %v to %v on the second event", at, at2)
		}
		if n, _ := c.Get(ctx, key).Int(); n != 2 {
			t.Errorf("counter = %d, want 2", n)
		}
	})

	t.Run("key disappears when the window ends", func(t *testing.T) {
		r := NewRedis(c, testPrefix(t, c), nil, nil) // real clock
		const window = 300 * time.Millisecond
		d, err := r.Allow(ctx, "user:2", 1, window)
		if err != nil || !d.Allowed {
			t.Fatalf("Allow = %+v, %v", d, err)
		}
		key := r.redisKey("user:2", window, d.Reset.Add(-window))
		if ttl, err := c.PTTL(ctx, key).Result(); err != nil || ttl <= 0 || ttl > window {
			t.Fatalf("PTTL %s = %v, %v; want in (0, %v]", key, ttl, err, window)
		}
		// Redis expires the key on its own clock: poll for it, with a
		// deadline well past the window's end.
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for deadline := d.Reset.Add(10 * time.Second); ; <-tick.C {
			if n, _ := c.Exists(ctx, key).Result(); n == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("key %s still exists 10 s after its window ended", key)
			}
		}
		if time.Now().Before(d.Reset) {
			t.Fatalf("key %s gone before its window ended", key)
		}
		if d, _ := r.Allow(ctx, "user:2", 1, window); !d.Allowed {
			t.Errorf("next window denied: %+v", d)
		}
	})
}

// syncBuffer is a bytes.Buffer that is safe for concurrent use.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// downClient returns a client for a closed port with small timeouts and no
// retries. It needs no Redis server.
func downClient(t *testing.T) *redis.Client {
	c, _ := countingDownClient(t)
	return c
}

// countingDownClient is downClient that counts its connection attempts.
func countingDownClient(t *testing.T) (*redis.Client, *atomic.Int64) {
	var dials atomic.Int64
	var d net.Dialer
	c := redis.NewClient(&redis.Options{
		Addr: "127.0.0.1:1",
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return d.DialContext(ctx, network, addr)
		},
		DialTimeout:   200 * time.Millisecond,
		ReadTimeout:   200 * time.Millisecond,
		WriteTimeout:  200 * time.Millisecond,
		MaxRetries:    -1,
		DialerRetries: 1,
	})
	t.Cleanup(func() { c.Close() })
	return c, &dials
}

func TestRedisFallbackWhenDown(t *testing.T) {
	var logs syncBuffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	clock := newFakeClock(t0.Add(5 * time.Second))
	fallback := NewMemory(100, clock.Now)
	client, dials := countingDownClient(t)
	r := NewRedis(client, "komand:rl:", fallback, logger)
	r.now = clock.Now
	ctx := context.Background()

	for i, want := range []Decision{
		{Allowed: true, Limit: 2, Remaining: 1},
		{Allowed: true, Limit: 2, Remaining: 0},
		{Allowed: false, Limit: 2, Remaining: 0},
	} {
		d, err := r.Allow(ctx, "user:42", 2, time.Minute)
		if err != nil {
			t.Fatalf("call %d: error %v, want nil (Redis errors must not fail the request)", i, err)
		}
		if d.Allowed != want.Allowed || d.Remaining != want.Remaining || d.Limit != want.Limit || !d.Reset.Equal(t0.Add(time.Minute)) {
			t.Fatalf("call %d: got %+v, want %+v", i, d, want)
		}
	}
	// Fast, without a clock: no call retries (at most one connection
	// attempt each, go-redis may skip some after a failure).
	if n := dials.Load(); n < 1 || n > 3 {
		t.Errorf("3 calls against a closed port made %d connection attempts, want 1 to 3", n)
	}
	if fallback.Len() != 1 {
		t.Errorf("fallback holds %d keys, want 1", fallback.Len())
	}

	out := logs.String()
	if !strings.Contains(out, "level=WARN") || !strings.Contains(out, "user:42") || !strings.Contains(out, "fallback") {
		t.Errorf("no warning naming the key and the fallback in the log:\n%s", out)
	}
	// The warnings are rate limited: the three failures log one line.
	if n := strings.Count(out, "level=WARN"); n != 1 {
		t.Errorf("%d warnings for 3 failures within %v, want 1:\n%s", n, warnEvery, out)
	}
}

func TestRedisDownWithoutFallbackDenies(t *testing.T) {
	logger := slog.New(slog.NewTextHandler(&syncBuffer{}, nil))
	var nilMem *Memory
	for name, fb := range map[string]Limiter{"nil fallback": nil, "nil *Memory fallback": nilMem} {
		t.Run(name, func(t *testing.T) {
			r := NewRedis(downClient(t), "komand:rl:", fb, logger)
			d, err := r.Allow(context.Background(), "user:1", 10, time.Minute)
			if err != nil || d.Allowed || d.Remaining != 0 {
				t.Errorf("Allow = %+v, %v; want a denial and a nil error", d, err)
			}
		})
	}
}

func TestRedisUnsetDenies(t *testing.T) {
	var nilRedis *Redis
	for name, lim := range map[string]Limiter{"zero value": &Redis{}, "nil pointer": nilRedis} {
		d, err := lim.Allow(context.Background(), "k", 10, time.Minute)
		if err != nil || d.Allowed || d.Remaining != 0 {
			t.Errorf("%s: Allow = %+v, %v; want a denial", name, d, err)
		}
	}
}

func TestRedisKeyName(t *testing.T) {
	r := NewRedis(nil, "komand:rl:", nil, nil)
	ws := time.UnixMilli(1_740_830_400_000)
	if got, want := r.redisKey("user:1", time.Minute, ws), "komand:rl:user:1:60000:1740830400000"; got != want {
		t.Errorf("redisKey = %q, want %q", got, want)
	}
	// A 1m and a 1h window that start at the same instant get different keys.
	if r.redisKey("k", time.Minute, ws) == r.redisKey("k", time.Hour, ws) {
		t.Error("1m and 1h windows share a Redis key")
	}
}
