package authn

import (
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// VisitorTokenPrefix marks a WebChat visitor token: a short-lived
// credential for an anonymous visitor of a public chat widget. It is
// accepted by the WebChat message endpoints only, never by Authenticate.
const VisitorTokenPrefix = "kvt_"

// visitorAudience keeps visitor tokens apart from access tokens even if
// the keys were ever the same.
const visitorAudience = "komand.ai/webchat-visitor"

// visitorKeyInfo labels the HKDF derivation of the visitor-token key from
// the JWT key: one configured secret, two independent keys, so an access
// token can never verify as a visitor token or the reverse.
const visitorKeyInfo = "komand webchat visitor token v1"

// VisitorClaims are what a visitor token says: the tenant, the WebChat
// channel account (its global ID, the widget ID) and the visitor, a
// server-chosen sender ID.
type VisitorClaims struct {
	TenantID  string
	WidgetID  string
	VisitorID string
	IssuedAt  time.Time
	ExpiresAt time.Time
}

type visitorJWT struct {
	jwt.RegisteredClaims
	TenantID string `json:"tid"`
	WidgetID string `json:"wid"`
}

// Validate requires the claims the WebChat endpoints rely on.
func (c *visitorJWT) Validate() error {
	if c.Subject == "" || c.TenantID == "" || c.WidgetID == "" || c.ID == "" {
		return errors.New("incomplete visitor token")
	}
	return nil
}

// VisitorTokens signs and verifies visitor tokens (HS256 under a key
// derived from the JWT key).
type VisitorTokens struct {
	key    []byte
	issuer string
	now    func() time.Time
}

// NewVisitorTokens derives the visitor-token key from jwtKey.
func NewVisitorTokens(jwtKey []byte, issuer string, now func() time.Time) (*VisitorTokens, error) {
	if len(jwtKey) < MinJWTKeyLen {
		return nil, fmt.Errorf("authn: JWT key must be at least %d bytes, got %d", MinJWTKeyLen, len(jwtKey))
	}
	key, err := hkdf.Key(sha256.New, jwtKey, nil, visitorKeyInfo, 32)
	if err != nil {
		return nil, fmt.Errorf("authn: deriving the visitor-token key: %w", err)
	}
	if issuer == "" {
		issuer = DefaultIssuer
	}
	if now == nil {
		now = time.Now
	}
	return &VisitorTokens{key: key, issuer: issuer, now: now}, nil
}

// NewVisitorID returns a new random visitor (sender) ID.
func NewVisitorID() string { return "visitor-" + uuid.NewString() }

// Issue returns a token for c (IssuedAt and ExpiresAt are set from ttl).
func (v *VisitorTokens) Issue(c VisitorClaims, ttl time.Duration) (string, VisitorClaims, error) {
	now := v.now()
	exp := now.Add(ttl)
	claims := visitorJWT{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: v.issuer, Audience: jwt.ClaimStrings{visitorAudience}, Subject: c.VisitorID,
			ID: uuid.NewString(), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		TenantID: c.TenantID, WidgetID: c.WidgetID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(v.key)
	if err != nil {
		return "", VisitorClaims{}, fmt.Errorf("authn: signing visitor token: %w", err)
	}
	c.IssuedAt, c.ExpiresAt = claims.IssuedAt.Time, claims.ExpiresAt.Time
	return VisitorTokenPrefix + s, c, nil
}

// ErrVisitorToken is every refused visitor token: the caller learns
// nothing about why.
var ErrVisitorToken = errors.New("invalid visitor token")

// Verify checks token's signature, issuer, audience and times. grace > 0
// also accepts a token that expired at most grace ago (to continue a
// visitor's conversation under a new token); 0 accepts live tokens only.
func (v *VisitorTokens) Verify(token string, grace time.Duration) (VisitorClaims, error) {
	raw, ok := strings.CutPrefix(token, VisitorTokenPrefix)
	if !ok || len(raw) > maxJWTLen {
		return VisitorClaims{}, ErrVisitorToken
	}
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		jwt.WithIssuer(v.issuer),
		jwt.WithAudience(visitorAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway+grace),
		jwt.WithTimeFunc(v.now),
	)
	claims := new(visitorJWT)
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return v.key, nil
	})
	if err != nil {
		return VisitorClaims{}, fmt.Errorf("%w: %v", ErrVisitorToken, err)
	}
	// The leeway also widened the iat/nbf checks by grace: a token may
	// never be dated in the future beyond the ordinary leeway.
	if claims.IssuedAt.After(v.now().Add(jwtLeeway)) {
		return VisitorClaims{}, ErrVisitorToken
	}
	return VisitorClaims{TenantID: claims.TenantID, WidgetID: claims.WidgetID, VisitorID: claims.Subject,
		IssuedAt: claims.IssuedAt.Time, ExpiresAt: claims.ExpiresAt.Time}, nil
}

// IsVisitorToken reports whether s has the visitor-token prefix.
func IsVisitorToken(s string) bool { return strings.HasPrefix(s, VisitorTokenPrefix) }
