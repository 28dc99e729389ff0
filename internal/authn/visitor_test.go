package authn

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func newVisitorTokens(t *testing.T, c *clock) *VisitorTokens {
	t.Helper()
	v, err := NewVisitorTokens(testKey, "komand.ai", c.Now)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVisitorTokenRoundTrip(t *testing.T) {
	c := newClock()
	v := newVisitorTokens(t, c)
	in := VisitorClaims{TenantID: "t1", WidgetID: "w1", VisitorID: NewVisitorID()}
	tok, out, err := v.Issue(in, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !IsVisitorToken(tok) || !out.ExpiresAt.Equal(c.Now().Add(time.Hour)) {
		t.Fatalf("token %q, claims %+v", tok, out)
	}
	got, err := v.Verify(tok, 0)
	if err != nil || got.TenantID != "t1" || got.WidgetID != "w1" || got.VisitorID != in.VisitorID {
		t.Fatalf("verify: %+v %v", got, err)
	}
	// Expired: refused live, accepted within the grace only.
	c.Advance(time.Hour + time.Minute)
	if _, err := v.Verify(tok, 0); !errors.Is(err, ErrVisitorToken) {
		t.Fatalf("expired token accepted: %v", err)
	}
	if _, err := v.Verify(tok, 24*time.Hour); err != nil {
		t.Fatalf("within grace: %v", err)
	}
	c.Advance(25 * time.Hour)
	if _, err := v.Verify(tok, 24*time.Hour); !errors.Is(err, ErrVisitorToken) {
		t.Fatalf("past grace accepted: %v", err)
	}
}

// TestVisitorTokenHostile: everything but a token this key signed for the
// visitor audience is refused, and a visitor token is no access token.
func TestVisitorTokenHostile(t *testing.T) {
	c := newClock()
	v := newVisitorTokens(t, c)
	tok, _, err := v.Issue(VisitorClaims{TenantID: "t1", WidgetID: "w1", VisitorID: "visitor-1"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	raw := strings.TrimPrefix(tok, VisitorTokenPrefix)
	parts := strings.Split(raw, ".")
	b64 := base64.RawURLEncoding
	claims := func(m jwt.MapClaims) string {
		j, _ := jwt.NewWithClaims(jwt.SigningMethodNone, m).SigningString()
		return strings.Split(j, ".")[1]
	}
	now := c.Now()
	good := jwt.MapClaims{"iss": "komand.ai", "aud": []string{visitorAudience}, "sub": "visitor-2", "tid": "t2",
		"wid": "w2", "jti": "x", "iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	signWith := func(key []byte, m jwt.MapClaims) string {
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, m).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return VisitorTokenPrefix + s
	}
	with := func(k string, val any) jwt.MapClaims {
		m := jwt.MapClaims{}
		for kk, vv := range good {
			m[kk] = vv
		}
		if val == nil {
			delete(m, k)
		} else {
			m[k] = val
		}
		return m
	}
	access, err := newJWTCodec(testKey, DefaultIssuer, DefaultAudience, c.Now)
	if err != nil {
		t.Fatal(err)
	}
	accessTok, _, err := access.sign("u1", "t1", "s1", "", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]string{
		"no prefix":               raw,
		"other prefix":            "kmd_" + raw,
		"tampered claims":         VisitorTokenPrefix + parts[0] + "." + claims(good) + "." + parts[2],
		"tampered signature":      VisitorTokenPrefix + parts[0] + "." + parts[1] + "." + b64.EncodeToString([]byte("not the mac at all, 32 bytes!!!!")),
		"alg none":                VisitorTokenPrefix + b64.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." + claims(good) + ".",
		"signed with the JWT key": signWith(testKey, good),
		"access token":            VisitorTokenPrefix + accessTok,
		"wrong audience":          signWith(v.key, with("aud", []string{DefaultAudience})),
		"wrong issuer":            signWith(v.key, with("iss", "evil")),
		"no exp":                  signWith(v.key, with("exp", nil)),
		"no tenant":               signWith(v.key, with("tid", nil)),
		"no widget":               signWith(v.key, with("wid", nil)),
		"no visitor":              signWith(v.key, with("sub", nil)),
		"issued in the future":    signWith(v.key, with("iat", now.Add(time.Hour).Unix())),
		"oversized":               VisitorTokenPrefix + strings.Repeat("a", 9000),
		"empty":                   VisitorTokenPrefix,
	}
	for name, bad := range cases {
		if _, err := v.Verify(bad, 24*time.Hour); !errors.Is(err, ErrVisitorToken) {
			t.Errorf("%s: accepted (%v)", name, err)
		}
	}
	// The control: the same construction with the right key and claims
	// passes, so the refusals above are about what each case changed.
	if _, err := v.Verify(signWith(v.key, good), 0); err != nil {
		t.Fatalf("control token refused: %v", err)
	}
	// A visitor token is not an access token.
	if _, err := access.verify(tok); err == nil {
		t.Fatal("visitor token verified as an access token")
	}
	if _, err := access.verify(raw); err == nil {
		t.Fatal("visitor token without its prefix verified as an access token")
	}
}

func TestVisitorTokensNeedAStrongKey(t *testing.T) {
	if _, err := NewVisitorTokens([]byte("short"), "", nil); err == nil {
		t.Fatal("short key accepted")
	}
}
