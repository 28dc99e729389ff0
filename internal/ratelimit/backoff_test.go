package ratelimit

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

var testPolicy = BackoffPolicy{Free: 3, Base: time.Second, Max: 10 * time.Second, Decay: time.Minute}

func TestBackoffPolicyWait(t *testing.T) {
	for _, tc := range []struct {
		p    BackoffPolicy
		n    int
		want time.Duration
	}{
		{testPolicy, 0, 0}, {testPolicy, 2, 0}, {testPolicy, 3, time.Second}, {testPolicy, 4, 2 * time.Second},
		{testPolicy, 5, 4 * time.Second}, {testPolicy, 6, 8 * time.Second}, {testPolicy, 7, 10 * time.Second},
		{testPolicy, 1 << 30, 10 * time.Second}, // no overflow
		{BackoffPolicy{Free: 0, Base: time.Hour, Max: 1<<63 - 1, Decay: time.Hour}, 200, 1<<63 - 1},
		// Doubling above Free: Base until Doubling, then the usual schedule.
		{BackoffPolicy{Free: 1, Doubling: 3, Base: time.Second, Max: time.Minute, Decay: time.Minute}, 0, 0},
		{BackoffPolicy{Free: 1, Doubling: 3, Base: time.Second, Max: time.Minute, Decay: time.Minute}, 1, time.Second},
		{BackoffPolicy{Free: 1, Doubling: 3, Base: time.Second, Max: time.Minute, Decay: time.Minute}, 3, time.Second},
		{BackoffPolicy{Free: 1, Doubling: 3, Base: time.Second, Max: time.Minute, Decay: time.Minute}, 4, 2 * time.Second},
	} {
		if got := tc.p.Wait(tc.n); got != tc.want {
			t.Errorf("%+v.Wait(%d) = %v, want %v", tc.p, tc.n, got, tc.want)
		}
	}
	for _, bad := range []BackoffPolicy{
		{Free: -1, Base: time.Second, Max: time.Second, Decay: time.Second},
		{Free: 1, Base: 0, Max: time.Second, Decay: time.Second},
		{Free: 1, Base: time.Second, Max: time.Millisecond, Decay: time.Second},
		{Free: 1, Base: time.Second, Max: time.Second, Decay: 0},
	} {
		if err := bad.Validate(); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: Validate = %v, want ErrInvalidArgument", bad, err)
		}
		if _, err := NewMemoryBackoff(10, nil).Take(context.Background(), "k", bad); !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("%+v: Take err = %v", bad, err)
		}
	}
}

// backoffScenario runs one schedule through take (which may alternate
// between replicas): free failures, refused attempts that charge nothing,
// doubling delays, refund, decay and reset.
func backoffScenario(t *testing.T, b func(i int) Backoff, clock *fakeClock) {
	t.Helper()
	ctx := context.Background()
	call := 0
	take := func(key string) Attempt {
		t.Helper()
		call++
		a, err := b(call).Take(ctx, key, testPolicy)
		if err != nil {
			t.Fatalf("Take: %v", err)
		}
		return a
	}
	for i := range testPolicy.Free {
		if a := take("k"); !a.Allowed || a.Failures != i {
			t.Fatalf("free attempt %d: %+v", i, a)
		}
	}
	var latest Attempt
	for _, wait := range []time.Duration{1, 2, 4, 8, 10, 10} {
		wait *= time.Second
		a := take("k")
		if a.Allowed || !a.RetryAt.Equal(clock.Now().Add(wait)) {
			t.Fatalf("want refusal until +%v, got %+v (now %v)", wait, a, clock.Now())
		}
		// Refusals charge nothing: the deadline does not move.
		clock.Advance(wait - time.Millisecond)
		if a2 := take("k"); a2.Allowed || !a2.RetryAt.Equal(a.RetryAt) {
			t.Fatalf("second refusal %+v, want RetryAt %v", a2, a.RetryAt)
		}
		clock.Advance(time.Millisecond)
		if latest = take("k"); !latest.Allowed {
			t.Fatalf("after the delay: %+v", latest)
		}
	}
	// A refund of the latest attempt restores the key as it was: one
	// failure fewer, the wait measured from the failure before (10 s
	// ago, over), so the next attempt is allowed; it counts, and the one
	// after it waits Max.
	if err := b(0).Refund(ctx, "k", latest); err != nil {
		t.Fatal(err)
	}
	if a := take("k"); !a.Allowed || a.Failures != testPolicy.Free+5 {
		t.Fatalf("after refund: %+v", a)
	}
	if a := take("k"); a.Allowed || !a.RetryAt.Equal(clock.Now().Add(testPolicy.Max)) {
		t.Fatalf("after refund and a failure: %+v", a)
	}
	// Other keys are independent.
	if a := take("other"); !a.Allowed || a.Failures != 0 {
		t.Fatalf("other key: %+v", a)
	}
	// One failure forgotten per quiet Decay: of 9, after 5 Decays 4 are
	// left: the wait is 2·Base from the last failure, long past, so the
	// attempt is allowed; the next waits 4·Base.
	clock.Advance(5 * testPolicy.Decay)
	if a := take("k"); !a.Allowed || a.Failures != 4 {
		t.Fatalf("after decay: %+v, want allowed with 4 failures", a)
	}
	if a := take("k"); a.Allowed || !a.RetryAt.Equal(clock.Now().Add(4*time.Second)) {
		t.Fatalf("after decay and one more failure: %+v, want a 4 s wait", a)
	}
	if err := b(0).Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	if a := take("k"); !a.Allowed || a.Failures != 0 {
		t.Fatalf("after reset: %+v", a)
	}
}

func TestMemoryBackoff(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m := NewMemoryBackoff(10, clock.Now)
	backoffScenario(t, func(int) Backoff { return m }, clock)
}

// A full table refuses new keys (fails closed) but keeps judging the keys
// it has; keys whose attempts were all refunded are not kept.
func TestMemoryBackoffFull(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	m := NewMemoryBackoff(2, clock.Now)
	ctx := context.Background()
	for _, k := range []string{"a", "b"} {
		if a, _ := m.Take(ctx, k, testPolicy); !a.Allowed {
			t.Fatalf("%s refused", k)
		}
	}
	if a, err := m.Take(ctx, "c", testPolicy); a.Allowed || err != nil {
		t.Fatalf("new key in a full table: %+v %v, want refused", a, err)
	}
	if a, _ := m.Take(ctx, "a", testPolicy); !a.Allowed || a.Failures != 1 {
		t.Fatalf("existing key in a full table: %+v", a)
	}
	_ = m.Refund(ctx, "b", Attempt{})
	if m.Len() != 1 {
		t.Fatalf("Len after refunding b's only attempt = %d, want 1", m.Len())
	}
	if a, _ := m.Take(ctx, "c", testPolicy); !a.Allowed {
		t.Fatal("c refused after b left")
	}
	// Expired keys are swept to make room.
	clock.Advance(time.Hour)
	if a, _ := m.Take(ctx, "d", testPolicy); !a.Allowed {
		t.Fatal("d refused although every key has expired")
	}
}

// Two replicas, each with its own client, see the same failures.
func TestRedisBackoffReplicasShareState(t *testing.T) {
	c1, c2 := newTestClient(t), newTestClient(t)
	prefix := testPrefix(t, c1)
	// Ahead of the wall clock, so keys do not expire during the test.
	clock := newFakeClock(time.Now().Add(time.Hour).Truncate(time.Second))
	r1 := NewRedisBackoff(c1, prefix, NewMemoryBackoff(10, clock.Now), nil, clock.Now)
	r2 := NewRedisBackoff(c2, prefix, NewMemoryBackoff(10, clock.Now), nil, clock.Now)
	backoffScenario(t, func(i int) Backoff {
		if i%2 == 0 {
			return r1
		}
		return r2
	}, clock)
}

func TestRedisBackoffFallbackWhenDown(t *testing.T) {
	clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	r := NewRedisBackoff(downClient(t), "p:", NewMemoryBackoff(10, clock.Now), slog.New(slog.NewJSONHandler(&logs, nil)), clock.Now)
	backoffScenario(t, func(int) Backoff { return r }, clock)
	if !strings.Contains(logs.String(), "Redis unavailable") || strings.Contains(logs.String(), `"k"`) {
		t.Fatalf("logs: %s", logs.String())
	}
	// Without a fallback, an outage refuses.
	nf := NewRedisBackoff(downClient(t), "p:", nil, slog.New(slog.NewJSONHandler(&logs, nil)), clock.Now)
	if a, err := nf.Take(context.Background(), "k", testPolicy); a.Allowed || err != nil {
		t.Fatalf("no fallback: %+v %v", a, err)
	}
}

func TestNetKey(t *testing.T) {
	for in, want := range map[string]string{
		"203.0.113.7":               "203.0.113.7",
		"::ffff:203.0.113.7":        "203.0.113.7",
		"2001:db8:1:2::1":           "2001:db8:1:2::/64",
		"2001:db8:1:2:ffff:ffff::9": "2001:db8:1:2::/64",
		"fe80::1%eth0":              "fe80::/64",
		"unknown":                   "unknown",
		"2001:db8:1:3:0:0:0:1":      "2001:db8:1:3::/64",
	} {
		if got := NetKey(in); got != want {
			t.Errorf("NetKey(%q) = %q, want %q", in, got, want)
		}
	}
}

// refundKeepsWait: a key past its free failures whose latest failure's wait
// is over takes an attempt that succeeds (Take, then Refund): the key is
// as it was, so the next attempt is allowed at once, and the failures
// decay from the last real failure. The defect: the refund left the
// success's time as the last failure's, so every success restarted the
// wait (200, then 429 with Retry-After 1) and stopped the decay.
func refundKeepsWait(t *testing.T, b Backoff, clock *fakeClock) {
	t.Helper()
	ctx := context.Background()
	p := BackoffPolicy{Free: 2, Base: time.Second, Max: time.Minute, Decay: time.Minute}
	take := func(what string) Attempt {
		t.Helper()
		a, err := b.Take(ctx, "k", p)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return a
	}
	// Two free failures, a third after the 1 s wait: the next waits 2 s.
	take("failure 1")
	take("failure 2")
	clock.Advance(time.Second)
	if a := take("failure 3"); !a.Allowed {
		t.Fatalf("failure 3: %+v", a)
	}
	clock.Advance(3 * time.Second) // the 2 s wait is over, and then some
	for i := range 3 {
		a := take("success")
		if !a.Allowed || a.Failures != 3 {
			t.Fatalf("success %d: %+v, want allowed with the 3 failures", i, a)
		}
		if err := b.Refund(ctx, "k", a); err != nil {
			t.Fatal(err)
		}
	}
	// The decay still counts from the last failure: 59 s after it (56 s
	// after the successes), none is forgotten, and the wait after a 4th
	// failure is 4 s.
	clock.Advance(56 * time.Second)
	if a := take("failure 4"); !a.Allowed || a.Failures != 3 {
		t.Fatalf("a failure 59 s after the last: %+v, want 3 failures before it", a)
	}
	if a := take("failure 5"); a.Allowed || !a.RetryAt.Equal(clock.Now().Add(4*time.Second)) {
		t.Fatalf("after 4 failures: %+v, want a 4 s wait", a)
	}
	if err := b.Reset(ctx, "k"); err != nil {
		t.Fatal(err)
	}
	// Two failures, then a success a minute for 3 minutes: the failures
	// are forgotten as if the successes had not happened.
	take("failure 1")
	take("failure 2")
	for range 3 {
		clock.Advance(time.Minute)
		a := take("success")
		if !a.Allowed {
			t.Fatalf("a success a minute later: %+v", a)
		}
		if err := b.Refund(ctx, "k", a); err != nil {
			t.Fatal(err)
		}
	}
	if a := take("after"); !a.Allowed || a.Failures != 0 {
		t.Fatalf("after 3 quiet minutes of successes: %+v, want 0 failures", a)
	}
}

func TestBackoffRefundKeepsWait(t *testing.T) {
	t.Run("memory", func(t *testing.T) {
		clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		refundKeepsWait(t, NewMemoryBackoff(10, clock.Now), clock)
	})
	t.Run("redis", func(t *testing.T) {
		c := newTestClient(t)
		clock := newFakeClock(time.Now().Add(time.Hour).Truncate(time.Second))
		refundKeepsWait(t, NewRedisBackoff(c, testPrefix(t, c), nil, nil, clock.Now), clock)
	})
	t.Run("redis_down", func(t *testing.T) {
		clock := newFakeClock(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC))
		refundKeepsWait(t, NewRedisBackoff(downClient(t), "p:", NewMemoryBackoff(10, clock.Now), slog.New(slog.DiscardHandler), clock.Now), clock)
	})
}
