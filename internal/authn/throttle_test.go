package authn

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
)

const wrongPassword = "wrong password!!"

// wantThrottled asserts a 429 with the given Retry-After.
func wantThrottled(t *testing.T, err error, retryAfter time.Duration) {
	t.Helper()
	e := wantKind(t, err, apperr.RateLimited, "too many login attempts; try again later")
	if e.RetryAfter != retryAfter {
		t.Fatalf("RetryAfter = %v, want %v", e.RetryAfter, retryAfter)
	}
}

// failUntilThrottled makes wrong-password attempts for email from ip,
// waiting out every delay, until n real failures happened.
func failUntilThrottled(t *testing.T, f *fixture, email, ip string, n int) {
	t.Helper()
	for failed := 0; failed < n; {
		_, _, err := f.svc.Login(t.Context(), email, wrongPassword, ip)
		if e, ok := apperr.As(err); ok && e.Kind == apperr.RateLimited {
			f.clock.Advance(e.RetryAfter)
			continue
		}
		wantKind(t, err, apperr.Unauthenticated, "")
		failed++
	}
}

// The defect: ten wrong passwords from anywhere locked the Owner out (the
// right password then got 429). Failures from other addresses, however
// many, never stop the Owner at an address that has not failed.
func TestLoginThrottleDoesNotLockOwnerOut(t *testing.T) {
	t.Run("ten_failures_from_ten_addresses", func(t *testing.T) {
		f := newFixture(t)
		for i := range 10 {
			_, _, err := f.svc.Login(t.Context(), f.owner.Email, wrongPassword, fmt.Sprintf("203.0.113.%d", i))
			wantKind(t, err, apperr.Unauthenticated, "")
		}
		if _, _, err := f.svc.Login(t.Context(), f.owner.Email, testPassword, "198.51.100.20"); err != nil {
			t.Fatalf("owner from a clean address after ten failures elsewhere: %v", err)
		}
	})
	t.Run("attacker_at_A_many_failures", func(t *testing.T) {
		f := newFixture(t)
		// A distributed guess: ten addresses once each, and A until it
		// is delayed.
		for i := range 10 {
			_, _, err := f.svc.Login(t.Context(), f.owner.Email, wrongPassword, fmt.Sprintf("192.0.2.%d", 100+i))
			wantKind(t, err, apperr.Unauthenticated, "")
		}
		failUntilThrottled(t, f, f.owner.Email, "203.0.113.7", DefaultLoginThrottle.PerPair.Free+3)
		// A is in its delay now; B has never failed.
		_, _, err := f.svc.Login(t.Context(), f.owner.Email, testPassword, "203.0.113.7")
		wantKind(t, err, apperr.RateLimited, "")
		if _, _, err := f.svc.Login(t.Context(), f.owner.Email, testPassword, "198.51.100.20"); err != nil {
			t.Fatalf("owner from B while A is throttled: %v", err)
		}
		// The account is under attack, so an address that fails for it
		// gets AttackedPairFree (1) free failure instead of 5: a typo at
		// B costs a 1 s wait, not a lock.
		_, _, err = f.svc.Login(t.Context(), f.owner.Email, wrongPassword, "198.51.100.20")
		wantKind(t, err, apperr.Unauthenticated, "")
		_, _, err = f.svc.Login(t.Context(), f.owner.Email, testPassword, "198.51.100.20")
		wantThrottled(t, err, time.Second)
		f.clock.Advance(time.Second)
		if _, _, err := f.svc.Login(t.Context(), f.owner.Email, testPassword, "198.51.100.20"); err != nil {
			t.Fatalf("owner from B after its 1 s delay: %v", err)
		}
	})
}

// At one address the delay doubles with each failure; the right password
// during a delay is refused with the time left; hammering during a delay
// neither extends it nor counts as failures; after the delay the right
// password works and forgets the address's failures.
func TestLoginThrottleExponentialDelay(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const a = "203.0.113.7"
	email := f.op.Email
	free := DefaultLoginThrottle.PerPair.Free
	for range free {
		_, _, err := f.svc.Login(ctx, email, wrongPassword, a)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	for _, want := range []time.Duration{1, 2, 4, 8, 16, 32} {
		want *= time.Second
		_, _, err := f.svc.Login(ctx, email, wrongPassword, a)
		wantThrottled(t, err, want)
		// Hammering, even with the right password, is refused with the
		// same deadline and costs nothing.
		half := (want / 2).Truncate(time.Second)
		f.clock.Advance(half)
		for range 3 {
			_, _, err = f.svc.Login(ctx, email, testPassword, a)
			wantThrottled(t, err, want-half)
		}
		f.clock.Advance(want - half)
		_, _, err = f.svc.Login(ctx, email, wrongPassword, a)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	if n, want := len(f.rec.byAction(audit.LoginFailed)), free+6; n != want {
		t.Fatalf("LoginFailed entries = %d, want %d (refused attempts are not failures)", n, want)
	}
	thr := f.rec.byAction(audit.LoginThrottled)
	if len(thr) != 6*4 {
		t.Fatalf("LoginThrottled entries = %d, want 24", len(thr))
	}
	if ev := thr[len(thr)-1]; ev.TenantID != f.tenant || ev.Details["scope"] != "account+address" ||
		ev.Details["ip"] != a || ev.Details["userId"] != f.op.ID || ev.Details["email"] != email {
		t.Fatalf("LoginThrottled = %+v", ev)
	}

	// Next delay is 64 s; the right password within it is refused, after
	// it accepted.
	_, _, err := f.svc.Login(ctx, email, testPassword, a)
	wantThrottled(t, err, 64*time.Second)
	f.clock.Advance(64 * time.Second)
	if _, _, err := f.svc.Login(ctx, email, testPassword, a); err != nil {
		t.Fatalf("right password after the delay: %v", err)
	}
	// Success forgot A's failures for the account: a wrong password is a
	// plain failure again, not a 128 s wait. (The account has had 11
	// recent failures, so it is under attack and A has 1 free failure,
	// then 1 s waits.)
	_, _, err = f.svc.Login(ctx, email, wrongPassword, a)
	wantKind(t, err, apperr.Unauthenticated, "")
	_, _, err = f.svc.Login(ctx, email, testPassword, a)
	wantThrottled(t, err, time.Second)
	// Once the account's failures have decayed, A has its 5 free again.
	f.clock.Advance(12 * DefaultLoginThrottle.AccountDecay)
	if _, _, err := f.svc.Login(ctx, email, testPassword, a); err != nil {
		t.Fatalf("right password: %v", err)
	}
	for range free {
		_, _, err := f.svc.Login(ctx, email, wrongPassword, a)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	_, _, err = f.svc.Login(ctx, email, testPassword, a)
	wantThrottled(t, err, time.Second)
}

// The delay is capped, and failures are forgotten over time (no lock for
// good even for a persistent guesser).
func TestLoginThrottleCapAndDecay(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	const a = "203.0.113.7"
	failUntilThrottled(t, f, f.op.Email, a, 40)
	_, _, err := f.svc.Login(ctx, f.op.Email, testPassword, a)
	wantThrottled(t, err, DefaultLoginThrottle.PerPair.Max)
	// 40 failures, one forgotten per quiet hour.
	f.clock.Advance(40 * DefaultLoginThrottle.PerPair.Decay)
	for range DefaultLoginThrottle.PerPair.Free {
		_, _, err := f.svc.Login(ctx, f.op.Email, wrongPassword, a)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
}

// An IPv6 client counts as its /64: rotating the interface identifier does
// not buy fresh attempts, while the audit entry keeps the exact address.
func TestLoginThrottleIPv6Slash64(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	free := DefaultLoginThrottle.PerPair.Free
	for i := range free {
		_, _, err := f.svc.Login(ctx, f.op.Email, wrongPassword, fmt.Sprintf("2001:db8:1:2::%x", i+1))
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	const rotated = "2001:db8:1:2:ffff:ffff:ffff:fffe"
	_, _, err := f.svc.Login(ctx, f.op.Email, testPassword, rotated)
	wantThrottled(t, err, time.Second)
	thr := f.rec.byAction(audit.LoginThrottled)
	if len(thr) != 1 || thr[0].Details["ip"] != rotated {
		t.Fatalf("LoginThrottled = %+v, want one with the exact address %s", thr, rotated)
	}
	// The neighbouring /64 is another subscriber.
	if _, _, err := f.svc.Login(ctx, f.op.Email, testPassword, "2001:db8:1:3::1"); err != nil {
		t.Fatalf("login from another /64: %v", err)
	}
	// IPv4 addresses are not grouped.
	for range free {
		_, _, err := f.svc.Login(ctx, f.owner.Email, wrongPassword, "192.0.2.10")
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	if _, _, err := f.svc.Login(ctx, f.owner.Email, testPassword, "192.0.2.11"); err != nil {
		t.Fatalf("login from the next IPv4 address: %v", err)
	}
}

// A spray of one password over many accounts from one address is throttled
// by the address (rotating inside its /64 included); the right password of
// a real account from that address waits too, from elsewhere it does not.
func TestLoginThrottleSprayByAddress(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	free := DefaultLoginThrottle.PerAddress.Free
	for i := range free {
		ip := fmt.Sprintf("2001:db8:9:9::%x", i+1)
		_, _, err := f.svc.Login(ctx, fmt.Sprintf("user%d@victims.test", i), wrongPassword, ip)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	_, _, err := f.svc.Login(ctx, "one-more@victims.test", wrongPassword, "2001:db8:9:9::abcd")
	wantThrottled(t, err, time.Second)
	_, _, err = f.svc.Login(ctx, f.owner.Email, testPassword, "2001:db8:9:9::1")
	wantThrottled(t, err, time.Second)
	thr := f.rec.byAction(audit.LoginThrottled)
	if ev := thr[len(thr)-1]; ev.Details["scope"] != "address" || ev.TenantID != f.tenant {
		t.Fatalf("LoginThrottled = %+v, want scope address in the owner's tenant", ev)
	}
	if _, _, err := f.svc.Login(ctx, f.owner.Email, testPassword, "198.51.100.1"); err != nil {
		t.Fatalf("owner from another address: %v", err)
	}
	// The address delay doubles too.
	f.clock.Advance(time.Second)
	_, _, err = f.svc.Login(ctx, "and-another@victims.test", wrongPassword, "2001:db8:9:9::1")
	wantKind(t, err, apperr.Unauthenticated, "")
	_, _, err = f.svc.Login(ctx, "again@victims.test", wrongPassword, "2001:db8:9:9::1")
	wantThrottled(t, err, 2*time.Second)
}

// Successful logins do not use up an address's budget: many users behind
// one NAT log in all day.
func TestLoginThrottleSuccessesAreFree(t *testing.T) {
	f := newFixture(t)
	for i := range 3 * DefaultLoginThrottle.PerAddress.Free {
		email := f.owner.Email
		if i%2 == 1 {
			email = f.op.Email
		}
		if _, _, err := f.svc.Login(t.Context(), email, testPassword, "192.0.2.1"); err != nil {
			t.Fatalf("login %d: %v", i, err)
		}
	}
}

// A burst of concurrent guesses cannot all pass the check before the first
// failure is recorded: the attempt is charged before the password is
// compared, so only the free ones reach it.
func TestLoginThrottleConcurrentBurst(t *testing.T) {
	f := newFixture(t)
	var wg sync.WaitGroup
	var mu sync.Mutex
	kinds := map[apperr.Kind]int{}
	for range 40 {
		wg.Go(func() {
			_, _, err := f.svc.Login(t.Context(), f.op.Email, wrongPassword, "203.0.113.7")
			e, _ := apperr.As(err)
			mu.Lock()
			kinds[e.Kind]++
			mu.Unlock()
		})
	}
	wg.Wait()
	free := DefaultLoginThrottle.PerPair.Free
	if kinds[apperr.Unauthenticated] != free || kinds[apperr.RateLimited] != 40-free {
		t.Fatalf("outcomes %v, want %d failures and %d refusals", kinds, free, 40-free)
	}
	if n := len(f.rec.byAction(audit.LoginFailed)); n != free {
		t.Fatalf("LoginFailed = %d, want %d", n, free)
	}
}

// A correct login from an address past its free failures neither counts
// nor moves the address's wait: once the wait is over, the Owner logs in
// again and again from that address. The defect: each success restarted
// a 1 s wait (200, then 429 with Retry-After 1).
func TestLoginThrottleSuccessDoesNotRestartWait(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	ip := "203.0.113.77"
	for i := range DefaultLoginThrottle.PerAddress.Free {
		_, _, err := f.svc.Login(ctx, fmt.Sprintf("nobody%d@victims.test", i), wrongPassword, ip)
		wantKind(t, err, apperr.Unauthenticated, "")
	}
	_, _, err := f.svc.Login(ctx, f.owner.Email, testPassword, ip)
	wantThrottled(t, err, time.Second)
	f.clock.Advance(time.Second)
	for i := range 5 {
		if _, _, err := f.svc.Login(ctx, f.owner.Email, testPassword, ip); err != nil {
			t.Fatalf("correct login %d after the wait: %v", i, err)
		}
	}
	// The address's failures still count: the next wrong one is allowed
	// (the wait is over), the one after it waits 2 s.
	_, _, err = f.svc.Login(ctx, "nobody-else@victims.test", wrongPassword, ip)
	wantKind(t, err, apperr.Unauthenticated, "")
	_, _, err = f.svc.Login(ctx, "and-another@victims.test", wrongPassword, ip)
	wantThrottled(t, err, 2*time.Second)
}
