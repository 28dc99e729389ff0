package authn

import (
	"crypto/rand"
	"crypto/rsa"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/komand-ai/komand/internal/apperr"
)

func TestOpaqueTokenFormats(t *testing.T) {
	tests := []struct {
		name   string
		gen    func() string
		prefix string
		check  func(string) bool
		others []func(string) bool
	}{
		{"api_key", NewAPIKey, "kmd_", IsAPIKey, []func(string) bool{IsRefreshToken, IsInviteToken}},
		{"refresh_token", NewRefreshToken, "kmr_", IsRefreshToken, []func(string) bool{IsAPIKey, IsInviteToken}},
		{"invite_token", NewInviteToken, "kmi_", IsInviteToken, []func(string) bool{IsAPIKey, IsRefreshToken}},
	}
	re := regexp.MustCompile(`^km[dri]_[A-Za-z0-9_-]{43}$`)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a, b := tc.gen(), tc.gen()
			if a == b {
				t.Fatal("two tokens are equal")
			}
			if !strings.HasPrefix(a, tc.prefix) || !re.MatchString(a) {
				t.Fatalf("token %q has the wrong form", a)
			}
			if !tc.check(a) {
				t.Fatalf("format check rejects %q", a)
			}
			for _, other := range tc.others {
				if other(a) {
					t.Fatalf("%q passes the format check of another kind of token", a)
				}
			}
			for _, bad := range []string{
				"", tc.prefix, a[:len(a)-1], a + "A", strings.ToUpper(a[:4]) + a[4:],
				a[:10] + "+" + a[11:], a[:10] + "=" + a[11:], " " + a, "kmx_" + a[4:], a[4:],
			} {
				if tc.check(bad) {
					t.Fatalf("malformed %q accepted", bad)
				}
			}
		})
	}
}

func TestHashToken(t *testing.T) {
	// SHA-256("abc"), the FIPS 180-2 test vector.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashToken("abc"); got != want {
		t.Fatalf("HashToken(abc) = %s", got)
	}
	k := NewAPIKey()
	if HashToken(k) != HashToken(k) || HashToken(k) == HashToken(NewAPIKey()) {
		t.Fatal("HashToken is not a function of its input")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	f := newFixture(t)
	base := Options{Store: f.st, Audit: f.rec, Throttle: f.svc.throttle, JWTKey: testKey, Params: cheapParams}
	tests := []struct {
		name string
		mod  func(*Options)
	}{
		{"short_jwt_key", func(o *Options) { o.JWTKey = testKey[:31] }},
		{"no_jwt_key", func(o *Options) { o.JWTKey = nil }},
		{"no_store", func(o *Options) { o.Store = nil }},
		{"no_audit", func(o *Options) { o.Audit = nil }},
		{"no_throttle", func(o *Options) { o.Throttle = nil }},
		{"throttle_zero_base", func(o *Options) {
			o.LoginThrottle = DefaultLoginThrottle
			o.LoginThrottle.PerPair.Base = 0
		}},
		{"throttle_no_decay", func(o *Options) {
			o.LoginThrottle = DefaultLoginThrottle
			o.LoginThrottle.PerAddress.Decay = 0
		}},
		{"throttle_attacked_above_free", func(o *Options) {
			o.LoginThrottle = DefaultLoginThrottle
			o.LoginThrottle.AttackedPairFree = o.LoginThrottle.PerPair.Free + 1
		}},
		{"negative_ttl", func(o *Options) { o.AccessTTL = -time.Minute }},
		{"access_outlives_refresh", func(o *Options) { o.AccessTTL = 2 * time.Hour; o.RefreshTTL = time.Hour }},
		{"hostile_params", func(o *Options) { o.Params = Params{Memory: 1 << 30, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32} }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			tc.mod(&o)
			if _, err := New(o); err == nil {
				t.Fatal("New accepted bad options")
			}
		})
	}
	t.Run("control_valid", func(t *testing.T) {
		if _, err := New(base); err != nil {
			t.Fatalf("New: %v", err)
		}
	})
}

// TestAuthenticateRejectsBadJWTs starts from the claims of a genuine, live
// access token and breaks one property at a time, so each case fails for
// exactly the reason it names.
func TestAuthenticateRejectsBadJWTs(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tok := f.login(t, f.op.Email)
	if _, err := f.svc.Authenticate(ctx, tok.AccessToken); err != nil {
		t.Fatalf("control: genuine token rejected: %v", err)
	}

	var genuine accessClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &genuine); err != nil {
		t.Fatal(err)
	}
	now := f.clock.Now()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(m jwt.SigningMethod, key any, mod func(*accessClaims)) string {
		c := genuine
		if mod != nil {
			mod(&c)
		}
		s, err := jwt.NewWithClaims(m, c).SignedString(key)
		if err != nil {
			t.Fatalf("signing: %v", err)
		}
		return s
	}
	hs := func(mod func(*accessClaims)) string { return sign(jwt.SigningMethodHS256, testKey, mod) }

	tamper := func(s string) string {
		i := strings.LastIndexByte(s, '.') + 5 // a character well inside the signature
		c := byte('A')
		if s[i] == 'A' {
			c = 'B'
		}
		return s[:i] + string(c) + s[i+1:]
	}

	tests := []struct {
		name  string
		token string
	}{
		{"empty", ""},
		{"garbage", "not-a-jwt"},
		{"alg_none", sign(jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, nil)},
		{"alg_hs512", sign(jwt.SigningMethodHS512, testKey, nil)},
		{"alg_hs384", sign(jwt.SigningMethodHS384, testKey, nil)},
		{"alg_rs256", sign(jwt.SigningMethodRS256, rsaKey, nil)},
		{"wrong_key", sign(jwt.SigningMethodHS256, []byte("another-key-another-key-another!!"), nil)},
		{"tampered_signature", tamper(tok.AccessToken)},
		{"tampered_payload", func() string {
			// A genuine signature over different claims.
			p := strings.Split(hs(func(c *accessClaims) { c.Subject = f.owner.ID }), ".")
			g := strings.Split(tok.AccessToken, ".")
			return g[0] + "." + p[1] + "." + g[2]
		}()},
		{"wrong_issuer", hs(func(c *accessClaims) { c.Issuer = "evil.example" })},
		{"wrong_audience", hs(func(c *accessClaims) { c.Audience = jwt.ClaimStrings{"other-service"} })},
		{"no_audience", hs(func(c *accessClaims) { c.Audience = nil })},
		{"expired", hs(func(c *accessClaims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(-time.Hour)) })},
		{"no_exp", hs(func(c *accessClaims) { c.ExpiresAt = nil })},
		{"not_yet_valid", hs(func(c *accessClaims) { c.NotBefore = jwt.NewNumericDate(now.Add(time.Hour)) })},
		{"issued_in_future", hs(func(c *accessClaims) { c.IssuedAt = jwt.NewNumericDate(now.Add(time.Hour)) })},
		{"missing_tid", hs(func(c *accessClaims) { c.TenantID = "" })},
		{"missing_sid", hs(func(c *accessClaims) { c.SessionID = "" })},
		{"missing_sub", hs(func(c *accessClaims) { c.Subject = "" })},
		{"missing_jti", hs(func(c *accessClaims) { c.ID = "" })},
		{"unknown_session", hs(func(c *accessClaims) { c.SessionID = "00000000-0000-0000-0000-000000000001" })},
		{"other_users_session", hs(func(c *accessClaims) { c.Subject = f.owner.ID })},
		{"other_tenant", hs(func(c *accessClaims) { c.TenantID = "00000000-0000-0000-0000-000000000000" })},
		{"oversized", strings.Repeat("a", maxBearerLen+1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := f.svc.Authenticate(ctx, tc.token)
			wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
			if !p.IsZero() {
				t.Fatalf("principal %+v returned with an error", p)
			}
		})
	}

	t.Run("expired_by_clock", func(t *testing.T) {
		f.clock.Advance(DefaultAccessTTL + jwtLeeway + time.Second)
		_, err := f.svc.Authenticate(ctx, tok.AccessToken)
		wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
	})
}

func TestCustomIssuerAudience(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Issuer = "https://id.example"; o.Audience = "komand-api" })
	tok := f.login(t, f.op.Email)
	var c accessClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tok.AccessToken, &c); err != nil {
		t.Fatal(err)
	}
	if c.Issuer != "https://id.example" || len(c.Audience) != 1 || c.Audience[0] != "komand-api" {
		t.Fatalf("iss/aud = %q/%q", c.Issuer, c.Audience)
	}
	if _, err := f.svc.Authenticate(t.Context(), tok.AccessToken); err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	// A live session issued by a service with the default issuer and
	// audience, same key and same store, is not accepted here.
	other, err := New(Options{Store: f.st, Audit: f.rec, Throttle: f.svc.throttle, JWTKey: testKey, Params: cheapParams, Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	otherTok, _, err := other.Login(t.Context(), f.op.Email, testPassword, "192.0.2.9")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Authenticate(t.Context(), otherTok.AccessToken); err != nil {
		t.Fatalf("control: %v", err)
	}
	_, err = f.svc.Authenticate(t.Context(), otherTok.AccessToken)
	wantKind(t, err, apperr.Unauthenticated, "")
}
