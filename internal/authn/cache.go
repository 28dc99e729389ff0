package authn

import (
	"context"
	"crypto/sha256"
	"sync"
	"sync/atomic"
	"time"

	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

// Authentication cache.
//
// Authenticating a bearer credential costs two store reads, which is most of
// the cost of a small API request. With Options.CacheTTL > 0 a successful
// authentication is remembered for at most that long (and never past an
// access token's own expiry), keyed by the SHA-256 of the credential, so
// the credential itself is not kept in memory.
//
// Staleness is bounded, and within one process there is none: every
// identity change made through a store wrapped by WatchStore (role change,
// deactivation, API-key revocation, logout, refresh-token reuse) bumps a
// Generation, which empties the cache, and an authentication that started
// before a bump is not cached. A change made by another replica (or
// directly in the database) takes effect here within CacheTTL. The default
// deployment, one process on SQLite, is therefore always immediate; a
// multi-replica deployment trades up to CacheTTL (default 2 s in app) of
// revocation delay for throughput, and can set it to 0.

// Generation counts identity changes.
type Generation struct{ n atomic.Uint64 }

// Bump records an identity change.
func (g *Generation) Bump() { g.n.Add(1) }

func (g *Generation) load() uint64 {
	if g == nil {
		return 0
	}
	return g.n.Load()
}

// maxCacheEntries bounds the cache; when full it is emptied (simple, and a
// flood of distinct valid credentials is the only way to fill it).
const maxCacheEntries = 16384

type cacheEntry struct {
	p     authz.Principal
	until time.Time
	gen   uint64
}

type authCache struct {
	ttl time.Duration
	gen *Generation
	mu  sync.Mutex
	m   map[[32]byte]cacheEntry
}

func newAuthCache(ttl time.Duration, gen *Generation) *authCache {
	if ttl <= 0 {
		return nil
	}
	if gen == nil {
		gen = &Generation{}
	}
	return &authCache{ttl: ttl, gen: gen, m: make(map[[32]byte]cacheEntry)}
}

func (c *authCache) get(key [32]byte, now time.Time) (authz.Principal, bool) {
	if c == nil {
		return authz.Principal{}, false
	}
	g := c.gen.load()
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && (e.gen != g || !now.Before(e.until)) {
		delete(c.m, key)
		ok = false
	}
	c.mu.Unlock()
	return e.p, ok
}

// put caches p until min(now+ttl, expires) if no identity change happened
// since gen was read (before the store was consulted).
func (c *authCache) put(key [32]byte, p authz.Principal, gen uint64, now, expires time.Time) {
	if c == nil || c.gen.load() != gen {
		return
	}
	until := now.Add(c.ttl)
	if !expires.IsZero() && expires.Before(until) {
		until = expires
	}
	c.mu.Lock()
	if len(c.m) >= maxCacheEntries {
		clear(c.m)
	}
	c.m[key] = cacheEntry{p: p, until: until, gen: gen}
	c.mu.Unlock()
}

func cacheKey(bearer string) [32]byte { return sha256.Sum256([]byte(bearer)) }

// WatchStore returns st with every method that can end a credential's
// validity bumping gen, so a Service sharing gen drops cached
// authentications at once. All services of a process should use the
// returned store.
func WatchStore(st store.Store, gen *Generation) store.Store {
	return &watchedStore{Store: st, gen: gen}
}

type watchedStore struct {
	store.Store
	gen *Generation
}

func (w *watchedStore) SetUserRole(ctx context.Context, tenantID, id, role string, now time.Time) (store.User, error) {
	defer w.gen.Bump()
	return w.Store.SetUserRole(ctx, tenantID, id, role, now)
}

func (w *watchedStore) DeactivateUser(ctx context.Context, tenantID, id string, now time.Time) (store.User, error) {
	defer w.gen.Bump()
	return w.Store.DeactivateUser(ctx, tenantID, id, now)
}

func (w *watchedStore) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	defer w.gen.Bump()
	return w.Store.RevokeAPIKey(ctx, tenantID, id, now)
}

func (w *watchedStore) RevokeRefreshFamily(ctx context.Context, tenantID, familyID string, now time.Time) error {
	defer w.gen.Bump()
	return w.Store.RevokeRefreshFamily(ctx, tenantID, familyID, now)
}

func (w *watchedStore) RotateRefreshToken(ctx context.Context, tenantID, oldHash string, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	defer w.gen.Bump() // a reuse revokes the family
	return w.Store.RotateRefreshToken(ctx, tenantID, oldHash, next, now)
}
