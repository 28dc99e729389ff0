package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/store"
)

// behindProxy trusts the test client as a proxy, so X-Forwarded-For
// chooses the client address.
func behindProxy(c *config.Config) { c.Server.TrustedProxies = []string{"127.0.0.1", "::1"} }

func loginFrom(env *apptest.Env, email, password, ip string) *apptest.Response {
	return env.Do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": password},
		"X-Forwarded-For", ip)
}

// TestLoginThrottleOverHTTP: failures from address A delay A (429 with
// Retry-After, the right password included, doubling), never the Owner at
// address B; rotating inside A's IPv6 /64 does not help; after the delay
// the right password works from A.
func TestLoginThrottleOverHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		clock := newTestClock()
		env := apptest.NewWith(t, kind, behindProxy, app.Options{Now: clock.Now})
		tn := env.Tenant("acme")
		env.User(tn, "owner@example.com", "owner")
		const owner = "owner@example.com"
		free := authn.DefaultLoginThrottle.PerPair.Free

		// The attacker rotates through A's /64.
		for i := range free {
			r := loginFrom(env, owner, "wrong password!!", "2001:db8:aa:1::"+hex.EncodeToString([]byte{byte(i + 1)}))
			expectError(t, r, 401, "unauthorized")
		}
		const a = "2001:db8:aa:1:dead:beef:0:1"
		r := loginFrom(env, owner, apptest.Password, a)
		expectError(t, r, 429, "rate_limited")
		if got := r.Header.Get("Retry-After"); got != "1" {
			t.Fatalf("Retry-After = %q, want 1", got)
		}
		// The Owner at B is not stopped.
		if r := loginFrom(env, owner, apptest.Password, "198.51.100.20"); r.Status != 200 {
			t.Fatalf("owner from B: %d %s", r.Status, r.Body)
		}
		// The delay doubles at A.
		clock.Add(time.Second)
		expectError(t, loginFrom(env, owner, "wrong password!!", a), 401, "unauthorized")
		r = loginFrom(env, owner, apptest.Password, a)
		expectError(t, r, 429, "rate_limited")
		if got := r.Header.Get("Retry-After"); got != "2" {
			t.Fatalf("Retry-After = %q, want 2", got)
		}
		clock.Add(2 * time.Second)
		if r := loginFrom(env, owner, apptest.Password, a); r.Status != 200 {
			t.Fatalf("owner from A after the delay: %d %s", r.Status, r.Body)
		}

		// Audited with the exact address.
		evs, _, err := env.App.Store.ListAudit(t.Context(), tn, store.AuditFilter{Action: "LoginThrottled"}, store.Page{Page: 1, PageSize: 10})
		if err != nil || len(evs) != 2 {
			t.Fatalf("LoginThrottled entries: %d %v", len(evs), err)
		}
		for _, ev := range evs {
			var d map[string]any
			if err := json.Unmarshal(ev.Details, &d); err != nil || d["ip"] != a || d["scope"] != "account+address" {
				t.Fatalf("LoginThrottled details %s (%v)", ev.Details, err)
			}
		}
		_, failed, _ := env.App.Store.ListAudit(t.Context(), tn, store.AuditFilter{Action: "LoginFailed"}, store.Page{Page: 1, PageSize: 1})
		if failed != free+1 {
			t.Fatalf("LoginFailed entries = %d, want %d", failed, free+1)
		}
	})
}

// TestLoginThrottleSharedAcrossReplicas: with Redis, an address's failures
// on one replica delay it on the other.
func TestLoginThrottleSharedAcrossReplicas(t *testing.T) {
	t.Parallel()
	url := os.Getenv("KOMAND_TEST_REDIS_URL")
	if url == "" {
		t.Skip("Redis tests are disabled; set KOMAND_TEST_REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	clock := newTestClock()
	o := app.Options{RedisPrefix: "komand-test-" + hex.EncodeToString(b[:]) + ":", Now: clock.Now}
	mutate := func(c *config.Config) {
		behindProxy(c)
		c.ConnectionStrings.Redis = url
	}
	r1 := apptest.NewWith(t, "sqlite", mutate, o)
	r2 := apptest.NewWith(t, "sqlite", mutate, o)
	for _, env := range []*apptest.Env{r1, r2} {
		env.User(env.Tenant("acme"), "owner@example.com", "owner")
	}
	const a = "203.0.113.7"
	for i := range authn.DefaultLoginThrottle.PerPair.Free {
		env := []*apptest.Env{r1, r2}[i%2]
		expectError(t, loginFrom(env, "owner@example.com", "wrong password!!", a), 401, "unauthorized")
	}
	for _, env := range []*apptest.Env{r1, r2} {
		expectError(t, loginFrom(env, "owner@example.com", apptest.Password, a), 429, "rate_limited")
		if r := loginFrom(env, "owner@example.com", apptest.Password, "198.51.100.20"); r.Status != 200 {
			t.Fatalf("owner from B: %d %s", r.Status, r.Body)
		}
	}
	clock.Add(time.Second)
	if r := loginFrom(r2, "owner@example.com", apptest.Password, a); r.Status != 200 {
		t.Fatalf("owner from A after the delay: %d %s", r.Status, r.Body)
	}
}

// TestLoginTenFailuresDoNotLockOwnerOut is the defect as found from
// outside: ten wrong passwords from anywhere made the Owner's right
// password answer 429.
func TestLoginTenFailuresDoNotLockOwnerOut(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", behindProxy)
	env.User(env.Tenant("acme"), "owner@example.com", "owner")
	for i := range 12 {
		ip := "203.0.113." + strconv.Itoa(i+1)
		expectError(t, loginFrom(env, "owner@example.com", "wrong password!!", ip), 401, "unauthorized")
	}
	if r := loginFrom(env, "owner@example.com", apptest.Password, "198.51.100.20"); r.Status != 200 {
		t.Fatalf("owner after twelve failures from elsewhere: %d %s", r.Status, r.Body)
	}
}
