package ratelimit

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"time"
)

// # Exponential backoff
//
// A [Backoff] throttles by failures rather than by events per window: a key
// (an account at an address, an address) may fail Free times without delay,
// then each further attempt must wait Base·2^(failures−Free) (at most Max)
// after the last failure. One failure is forgotten per Decay without a new
// one, so a key that stops failing recovers on its own. Nothing is ever
// locked for good, and a key that has not failed is never delayed.
//
// Take is atomic per key and charges the attempt before it is judged: the
// caller then Refunds it if the attempt turned out to succeed. Charging
// first is what stops a burst of concurrent attempts from all passing the
// check before any of them has been recorded as a failure.
//
// [MemoryBackoff] keeps the state in the process; [RedisBackoff] keeps it in
// Redis so that every replica sees the same failures, falling back to a
// MemoryBackoff while Redis is unavailable (per-replica state, like
// [Redis]).

// BackoffPolicy is the delay schedule of one kind of key.
type BackoffPolicy struct {
	Free  int           // failures allowed without delay (≥ 0)
	Base  time.Duration // delay after Free failures; doubles with each further one
	Max   time.Duration // cap on the delay
	Decay time.Duration // one failure is forgotten per Decay without a new failure
	// Doubling, when above Free, is the number of failures from which the
	// delay starts doubling; between Free and Doubling every failure waits
	// Base. It lets a stricter policy take away free failures without
	// changing the schedule after them.
	Doubling int
}

// Validate reports whether p can be used.
func (p BackoffPolicy) Validate() error {
	switch {
	case p.Free < 0:
		return fmt.Errorf("%w: backoff Free %d < 0", ErrInvalidArgument, p.Free)
	case p.Base < time.Millisecond || p.Max < p.Base:
		return fmt.Errorf("%w: backoff needs 1ms ≤ Base ≤ Max (got %v, %v)", ErrInvalidArgument, p.Base, p.Max)
	case p.Decay < time.Millisecond:
		return fmt.Errorf("%w: backoff Decay %v < 1ms", ErrInvalidArgument, p.Decay)
	}
	return nil
}

// Wait is the delay after n failures: 0 while n < Free, then Base (until
// Doubling), 2·Base, 4·Base, … up to Max.
func (p BackoffPolicy) Wait(n int) time.Duration {
	if n < p.Free {
		return 0
	}
	w := p.Base
	for range n - max(p.Free, p.Doubling) {
		if w > p.Max/2 {
			return p.Max
		}
		w *= 2
	}
	return min(w, p.Max)
}

// decayed returns the failures left of n, the last at last, at now.
func (p BackoffPolicy) decayed(n int, last, now time.Time) int {
	if n <= 0 {
		return 0
	}
	if d := now.Sub(last); d > 0 {
		forgiven := d / p.Decay
		if forgiven >= time.Duration(n) {
			return 0
		}
		n -= int(forgiven)
	}
	return n
}

// ttl is how long after last the state of n failures matters at all.
func (p BackoffPolicy) ttl(n int) time.Duration {
	return max(time.Duration(n)*p.Decay, p.Wait(n))
}

// Attempt is the outcome of Take.
type Attempt struct {
	Allowed bool
	// Failures is the number of failures the key had when the attempt was
	// judged (after decay, not counting this attempt).
	Failures int
	// RetryAt is when the next attempt will be allowed; set when refused.
	RetryAt time.Time

	// charged is what an allowed attempt changed, for Refund to undo.
	charged *charged
}

// charged is the key's state before an allowed attempt (failures as
// stored, and the last failure's time) and the state the attempt left
// (failures, at). A refund of the latest attempt restores the state before
// it, so the attempt neither counts nor moves the time the wait and the
// decay are measured from: a successful login from an address that is
// past its free failures must not restart the address's delay.
type charged struct {
	prevN    int
	prevLast time.Time
	n        int
	at       time.Time
}

// Backoff throttles attempts by their failures; see the section above.
type Backoff interface {
	// Take judges one attempt for key under p. A refused attempt charges
	// nothing; an allowed one counts as a failure until it is Refunded.
	Take(ctx context.Context, key string, p BackoffPolicy) (Attempt, error)
	// Refund takes back the attempt a, charged by Take, which succeeded:
	// when no attempt was charged after it, the key is as it was before
	// a (the last failure's time included); otherwise one failure is
	// taken back.
	Refund(ctx context.Context, key string, a Attempt) error
	// Reset forgets every failure of key.
	Reset(ctx context.Context, key string) error
}

var (
	_ Backoff = (*MemoryBackoff)(nil)
	_ Backoff = (*RedisBackoff)(nil)
)

// NetKey returns the throttling key of a client address: the address itself
// for IPv4 (and IPv4-mapped IPv6), its /64 for IPv6, the smallest network
// one subscriber is given (any host in it can use any of its 2^64
// addresses, so per-address budgets would not bound it). Anything that is
// not an address is returned unchanged.
func NetKey(ip string) string {
	a, err := netip.ParseAddr(ip)
	if err != nil {
		return ip
	}
	a = a.Unmap()
	if !a.Is6() {
		return a.String()
	}
	p, err := a.WithZone("").Prefix(64)
	if err != nil {
		return ip
	}
	return p.String()
}

type backoffState struct {
	n       int
	last    time.Time
	expires time.Time
}

// MemoryBackoff is an in-process Backoff holding at most maxKeys keys. Like
// [Memory] it never evicts a live key to make room (that would let an
// attacker wipe a victim's failures by spraying keys): an attempt for a new
// key that finds the table full of live keys is refused (fails closed) until
// some expire. Keys whose attempts all succeeded are not kept.
type MemoryBackoff struct {
	now     func() time.Time
	maxKeys int
	mu      sync.Mutex
	m       map[string]*backoffState
}

// NewMemoryBackoff returns a MemoryBackoff; maxKeys < 1 means
// DefaultMaxKeys, now nil means time.Now.
func NewMemoryBackoff(maxKeys int, now func() time.Time) *MemoryBackoff {
	if maxKeys < 1 {
		maxKeys = DefaultMaxKeys
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryBackoff{now: now, maxKeys: maxKeys, m: make(map[string]*backoffState)}
}

// Take implements Backoff.
func (b *MemoryBackoff) Take(_ context.Context, key string, p BackoffPolicy) (Attempt, error) {
	if err := p.Validate(); err != nil {
		return Attempt{}, err
	}
	now := b.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[key]
	if st != nil && !now.Before(st.expires) {
		delete(b.m, key)
		st = nil
	}
	if st == nil {
		if len(b.m) >= b.maxKeys {
			b.sweepLocked(now)
			if len(b.m) >= b.maxKeys {
				return Attempt{RetryAt: now.Add(p.Base)}, nil // full: fail closed
			}
		}
		st = &backoffState{}
		b.m[key] = st
	}
	n := p.decayed(st.n, st.last, now)
	if at := st.last.Add(p.Wait(n)); n >= p.Free && now.Before(at) {
		return Attempt{Failures: n, RetryAt: at}, nil
	}
	c := &charged{prevN: st.n, prevLast: st.last, n: n + 1, at: now}
	st.n, st.last = n+1, now
	st.expires = now.Add(p.ttl(st.n))
	return Attempt{Allowed: true, Failures: n, charged: c}, nil
}

// Refund implements Backoff.
func (b *MemoryBackoff) Refund(_ context.Context, key string, a Attempt) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	st := b.m[key]
	if st == nil {
		return nil
	}
	if c := a.charged; c != nil && st.n == c.n && st.last.Equal(c.at) {
		st.n, st.last = c.prevN, c.prevLast // expires stays: it is later
	} else {
		st.n--
	}
	if st.n <= 0 {
		delete(b.m, key)
	}
	return nil
}

// Reset implements Backoff.
func (b *MemoryBackoff) Reset(_ context.Context, key string) error {
	b.mu.Lock()
	delete(b.m, key)
	b.mu.Unlock()
	return nil
}

// Len returns the number of keys held (expired ones included until swept).
func (b *MemoryBackoff) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

func (b *MemoryBackoff) sweepLocked(now time.Time) {
	for k, st := range b.m {
		if !now.Before(st.expires) {
			delete(b.m, k)
		}
	}
}
