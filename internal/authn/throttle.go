package authn

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/komand-ai/komand/internal/ratelimit"
)

// Login throttling.
//
// Failed logins are throttled with exponential delays (ratelimit.Backoff),
// never by locking an account: a lock would let anyone lock the Owner out
// by failing ten times from anywhere. Three keys are charged per attempt:
//
//   - (account, address): PerPair.Free failures without delay, then 1 s,
//     2 s, 4 s, … up to 15 min between attempts from that address for that
//     account. This is what stops guessing one account's password.
//   - address: PerAddress.Free failures across all accounts, then the same
//     doubling. This stops one client spraying many accounts.
//   - account: counted, never delayed by itself. Once an account has
//     AccountUnderAttack recent failures from anywhere, it is being guessed
//     from many addresses, and an address that has already failed for it
//     gets only AttackedPairFree free failures, then waits 1 s per failure
//     until the usual doubling takes over. An
//     address that has not failed for the account is never held back by
//     the account's count: the Owner logging in from home is not stopped
//     by an attacker elsewhere.
//
// An IPv6 address counts as its /64 (ratelimit.NetKey), like the other
// limits of unauthenticated requests, so rotating addresses inside one
// subscriber's network shares one budget; the audit entry keeps the exact
// address. A failure is forgotten per Decay without a new one, so a key that
// stops failing recovers by itself. The right password forgets the
// (account, address) failures and is not counted against the address or
// the account; a refused attempt (429) counts nothing, so hammering during
// a delay neither extends it nor costs the hash.
//
// Attempts are charged before the password is checked and refunded when it
// was right (each key as it was before the attempt, its last failure's time
// included, so a correct login neither counts nor restarts a delay), so a burst of concurrent guesses cannot all pass the check
// before the first failure is recorded.
//
// The state is in Redis when the deployment has one (every replica sees
// the same failures), in process memory otherwise.

// LoginThrottle is the login delay schedule.
type LoginThrottle struct {
	PerPair    ratelimit.BackoffPolicy // per (account, address)
	PerAddress ratelimit.BackoffPolicy // per address, across accounts
	// AccountDecay forgets one failure of an account (from any address)
	// per AccountDecay without a new one.
	AccountDecay time.Duration
	// AccountUnderAttack is the number of recent failures of an account
	// from which its addresses that have failed get AttackedPairFree free
	// failures instead of PerPair.Free.
	AccountUnderAttack int
	AttackedPairFree   int
}

// DefaultLoginThrottle: 5 free failures per account and address, 50 per
// address, delays from 1 s doubling to 15 min; an account with 10 recent
// failures gives each address that has failed for it 1 free failure.
var DefaultLoginThrottle = LoginThrottle{
	PerPair:            ratelimit.BackoffPolicy{Free: 5, Base: time.Second, Max: 15 * time.Minute, Decay: time.Hour},
	PerAddress:         ratelimit.BackoffPolicy{Free: 50, Base: time.Second, Max: 15 * time.Minute, Decay: time.Minute},
	AccountDecay:       5 * time.Minute,
	AccountUnderAttack: 10,
	AttackedPairFree:   1,
}

func (t LoginThrottle) validate() error {
	if err := t.PerPair.Validate(); err != nil {
		return fmt.Errorf("authn: LoginThrottle.PerPair: %w", err)
	}
	if err := t.PerAddress.Validate(); err != nil {
		return fmt.Errorf("authn: LoginThrottle.PerAddress: %w", err)
	}
	if err := t.accountPolicy().Validate(); err != nil {
		return fmt.Errorf("authn: LoginThrottle.AccountDecay: %w", err)
	}
	if t.AccountUnderAttack < 1 || t.AttackedPairFree < 0 || t.AttackedPairFree > t.PerPair.Free {
		return fmt.Errorf("authn: LoginThrottle needs AccountUnderAttack ≥ 1 and 0 ≤ AttackedPairFree ≤ PerPair.Free")
	}
	return nil
}

// accountPolicy counts an account's failures and never delays.
func (t LoginThrottle) accountPolicy() ratelimit.BackoffPolicy {
	return ratelimit.BackoffPolicy{Free: math.MaxInt32, Base: time.Second, Max: time.Second, Decay: t.AccountDecay}
}

// loginKeys are the throttle keys of one attempt.
type loginKeys struct{ account, pair, address string }

func keysFor(email, clientIP string) loginKeys {
	net := ratelimit.NetKey(clientIP)
	return loginKeys{
		account: limiterKey("login:acct:", email),
		pair:    limiterKey("login:pair:"+net+"|", email),
		address: limiterKey("login:addr:", net),
	}
}

// charge is what takeLogin charged, to refund on success.
type charge struct {
	keys                   loginKeys
	account, pair, address bool
	// The attempts charged, for Refund to restore each key as it was.
	accountA, pairA, addressA ratelimit.Attempt
}

// throttledAttempt says why and until when an attempt is refused.
type throttledAttempt struct {
	scope    string // "account+address" or "address"
	failures int
	retryAt  time.Time
}

// takeLogin charges one login attempt. It returns throttled != nil (and
// charges nothing) when the attempt must wait.
func (s *Service) takeLogin(ctx context.Context, email, clientIP string) (charge, *throttledAttempt, error) {
	c := charge{keys: keysFor(email, clientIP)}
	acct, err := s.throttle.Take(ctx, c.keys.account, s.policy.accountPolicy())
	if err != nil {
		return c, nil, fmt.Errorf("login throttle: %w", err)
	}
	c.account, c.accountA = true, acct
	pairPolicy := s.policy.PerPair
	if acct.Failures >= s.policy.AccountUnderAttack {
		// Fewer free failures, then 1 s each until the usual doubling:
		// an address that guesses alone keeps its usual schedule.
		pairPolicy.Free, pairPolicy.Doubling = s.policy.AttackedPairFree, pairPolicy.Free
	}
	pair, err := s.throttle.Take(ctx, c.keys.pair, pairPolicy)
	if err != nil {
		c.refund(ctx, s)
		return charge{}, nil, fmt.Errorf("login throttle: %w", err)
	}
	if !pair.Allowed {
		c.refund(ctx, s)
		return charge{}, &throttledAttempt{scope: "account+address", failures: pair.Failures, retryAt: pair.RetryAt}, nil
	}
	c.pair, c.pairA = true, pair
	addr, err := s.throttle.Take(ctx, c.keys.address, s.policy.PerAddress)
	if err != nil {
		c.refund(ctx, s)
		return charge{}, nil, fmt.Errorf("login throttle: %w", err)
	}
	if !addr.Allowed {
		c.refund(ctx, s)
		return charge{}, &throttledAttempt{scope: "address", failures: addr.Failures, retryAt: addr.RetryAt}, nil
	}
	c.address, c.addressA = true, addr
	return c, nil, nil
}

// refund takes back everything c charged (the attempt did not happen).
func (c charge) refund(ctx context.Context, s *Service) {
	ctx = context.WithoutCancel(ctx)
	for _, k := range []struct {
		on  bool
		key string
		a   ratelimit.Attempt
	}{{c.account, c.keys.account, c.accountA}, {c.pair, c.keys.pair, c.pairA}, {c.address, c.keys.address, c.addressA}} {
		if k.on {
			if err := s.throttle.Refund(ctx, k.key, k.a); err != nil {
				s.log.WarnContext(ctx, "login throttle: refund failed", "err", err)
			}
		}
	}
}

// succeeded settles a successful login: the (account, address) failures are
// forgotten and the attempt is refunded to the address and the account.
func (c charge) succeeded(ctx context.Context, s *Service) {
	ctx = context.WithoutCancel(ctx)
	if err := s.throttle.Reset(ctx, c.keys.pair); err != nil {
		s.log.WarnContext(ctx, "login throttle: reset failed", "err", err)
	}
	c.pair = false
	c.refund(ctx, s)
}
