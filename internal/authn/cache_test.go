package authn

import (
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
)

// cachedFixture is a fixture whose Service caches for ttl and whose
// identity changes go through a watched store sharing the generation.
func cachedFixture(t *testing.T, ttl time.Duration) (*fixture, *Generation, func() *watchedStore) {
	gen := &Generation{}
	f := newFixture(t, func(o *Options) { o.CacheTTL = ttl; o.Generation = gen })
	return f, gen, func() *watchedStore { return WatchStore(f.st, gen).(*watchedStore) }
}

func TestCacheChangesThroughThisProcessApplyAtOnce(t *testing.T) {
	f, _, watched := cachedFixture(t, time.Hour)
	ctx := t.Context()
	key, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "k", "test")
	if err != nil {
		t.Fatal(err)
	}
	tok := f.login(t, "op@acme.test")
	for _, b := range []string{key, tok.AccessToken} {
		if p, err := f.svc.Authenticate(ctx, b); err != nil || p.Role != authz.Operator {
			t.Fatalf("first: %+v %v", p, err)
		}
	}
	// A role change through the watched store is seen by the next call,
	// although the cache TTL is an hour.
	if _, err := watched().SetUserRole(ctx, f.tenant, f.op.ID, "viewer", f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{key, tok.AccessToken} {
		if p, err := f.svc.Authenticate(ctx, b); err != nil || p.Role != authz.Viewer {
			t.Fatalf("after role change: %+v %v", p, err)
		}
	}
	// So is a deactivation.
	if _, err := watched().DeactivateUser(ctx, f.tenant, f.op.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	for _, b := range []string{key, tok.AccessToken} {
		_, err := f.svc.Authenticate(ctx, b)
		wantKind(t, err, apperr.Unauthenticated, msgBadCredentials)
	}
}

func TestCacheChangesElsewhereApplyWithinTTL(t *testing.T) {
	f, _, _ := cachedFixture(t, 2*time.Second)
	ctx := t.Context()
	key, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "k", "test")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, key); err != nil {
		t.Fatal(err)
	}
	// Another replica (here: the raw store) deactivates the user.
	if _, err := f.st.DeactivateUser(ctx, f.tenant, f.op.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Authenticate(ctx, key); err != nil {
		t.Fatalf("within the TTL the cached principal is used: %v", err)
	}
	f.clock.Advance(2 * time.Second)
	_, err = f.svc.Authenticate(ctx, key)
	wantKind(t, err, apperr.Unauthenticated, msgBadCredentials)
}

func TestCacheNeverOutlivesTheToken(t *testing.T) {
	f, _, _ := cachedFixture(t, 24*time.Hour)
	tok := f.login(t, "op@acme.test")
	if _, err := f.svc.Authenticate(t.Context(), tok.AccessToken); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(tok.ExpiresAt.Sub(f.clock.Now()) + jwtLeeway + time.Second)
	_, err := f.svc.Authenticate(t.Context(), tok.AccessToken)
	wantKind(t, err, apperr.Unauthenticated, msgBadCredentials)
}

func TestCacheDoesNotKeepFailuresOrStaleResults(t *testing.T) {
	f, gen, _ := cachedFixture(t, time.Hour)
	ctx := t.Context()
	if _, err := f.svc.Authenticate(ctx, "kmd_"+"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); err == nil {
		t.Fatal("unknown key authenticated")
	}
	if n := len(f.svc.cache.m); n != 0 {
		t.Fatalf("a failure was cached (%d entries)", n)
	}
	// A result computed before an identity change is not cached.
	key, _, _ := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "k", "test")
	before := gen.load()
	p, _, err := f.svc.authenticate(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	gen.Bump()
	f.svc.cache.put(cacheKey(key), p, before, f.clock.Now(), time.Time{})
	if _, ok := f.svc.cache.get(cacheKey(key), f.clock.Now()); ok {
		t.Fatal("a result from before an identity change was cached")
	}
}
