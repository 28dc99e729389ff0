package ratelimit

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisProcess is a redis-server of the test's own (no persistence), so
// that the test can stop and start it without touching the shared one.
type redisProcess struct {
	t    *testing.T
	port int
	cmd  *exec.Cmd
}

// startOwnRedis starts redis-server on a free port. It skips the test when
// redis-server is not installed (CI has it) or KOMAND_TEST_REDIS_URL is not
// set (Redis tests are opt-in).
func startOwnRedis(t *testing.T) *redisProcess {
	t.Helper()
	testRedisURL(t)
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("redis-server not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	p := &redisProcess{t: t, port: port}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *redisProcess) addr() string { return "127.0.0.1:" + strconv.Itoa(p.port) }

func (p *redisProcess) start() {
	p.t.Helper()
	p.cmd = exec.Command("redis-server", "--port", strconv.Itoa(p.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no")
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start redis-server: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: p.addr()})
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for c.Ping(context.Background()).Err() != nil {
		if time.Now().After(deadline) {
			p.t.Fatalf("redis-server on %s did not answer", p.addr())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (p *redisProcess) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Kill()
	_ = p.cmd.Wait()
	p.cmd = nil
}

// fastClient fails at once when its Redis is down, as app.New configures it.
func fastClient(t *testing.T, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, WriteTimeout: 200 * time.Millisecond,
		MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisFailoverContinuesTheWindow (issue 15, defect 14): the limit
// holds for the whole window across a Redis outage and across Redis coming
// back empty. Before the fix, the fallback started a fresh budget when
// Redis failed, and Redis started one again when it came back: three
// times the limit in one window.
func TestRedisFailoverContinuesTheWindow(t *testing.T) {
	srv := startOwnRedis(t)
	clock := newFakeClock(time.Now().Add(time.Hour).Truncate(time.Minute).Add(10 * time.Second))
	mem := NewMemory(100, clock.Now)
	r := NewRedis(fastClient(t, srv.addr()), "komand:rl:", mem, slog.New(slog.NewTextHandler(&syncBuffer{}, nil)))
	r.now = clock.Now
	ctx := context.Background()
	const limit = 10
	allow := func(phase string, wantRemaining int) {
		t.Helper()
		d, err := r.Allow(ctx, "ip:192.0.2.7", limit, time.Minute)
		if err != nil {
			t.Fatalf("%s: %v", phase, err)
		}
		if wantRemaining < 0 {
			if d.Allowed {
				t.Fatalf("%s: allowed past the limit (%+v)", phase, d)
			}
			return
		}
		if !d.Allowed || d.Remaining != wantRemaining {
			t.Fatalf("%s: got %+v, want allowed with %d remaining", phase, d, wantRemaining)
		}
	}
	for i := 1; i <= 4; i++ { // 4 through Redis
		allow(fmt.Sprintf("Redis up, event %d", i), limit-i)
	}
	srv.stop()
	for i := 5; i <= 7; i++ { // 3 through the fallback, continuing at 5
		allow(fmt.Sprintf("Redis down, event %d", i), limit-i)
	}
	if !r.degraded.Load() {
		t.Fatal("the limiter did not notice the outage")
	}
	srv.start()                   // empty: no persistence
	for i := 8; i <= limit; i++ { // Redis back, continuing at 8
		allow(fmt.Sprintf("Redis back, event %d", i), limit-i)
	}
	allow("Redis back, past the limit", -1)

	// The shared counter was raised to this replica's count, so another
	// replica (its own empty fallback) sees the window spent too.
	other := NewRedis(fastClient(t, srv.addr()), "komand:rl:", NewMemory(100, clock.Now), nil)
	other.now = clock.Now
	if d, err := other.Allow(ctx, "ip:192.0.2.7", limit, time.Minute); err != nil || d.Allowed {
		t.Fatalf("another replica after recovery: %+v, %v; want a denial", d, err)
	}

	// A second outage in the same window: still spent.
	srv.stop()
	allow("Redis down again, past the limit", -1)

	// The next window starts afresh, whether Redis is up or not.
	clock.Advance(time.Minute)
	allow("next window, Redis down", limit-1)
}
