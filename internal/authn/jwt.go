package authn

import (
	"errors"
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultIssuer and DefaultAudience are the iss and aud of access tokens
// unless Options say otherwise.
const (
	DefaultIssuer   = "komand.ai"
	DefaultAudience = "komand.ai"
)

// MinJWTKeyLen is the shortest accepted HS256 key. RFC 7518 §3.2 requires a
// key at least as long as the hash output (256 bits); a shorter one would
// make offline brute force of the key from any captured token feasible.
const MinJWTKeyLen = 32

const (
	// jwtLeeway tolerates small clock differences between replicas, and
	// nothing more: a larger leeway extends every token's life.
	jwtLeeway = 30 * time.Second
	// maxJWTLen rejects absurd input before base64 and JSON decoding.
	maxJWTLen = 8 << 10
)

// accessClaims are the claims of an access token. The user's role is
// deliberately absent: it is read from the store on every request, so a
// demotion cannot be outrun by a token issued before it.
type accessClaims struct {
	jwt.RegisteredClaims
	Email     string `json:"email,omitempty"`
	Name      string `json:"name,omitempty"`
	TenantID  string `json:"tid"`
	SessionID string `json:"sid"`
}

var _ jwt.ClaimsValidator = (*accessClaims)(nil)

// Validate requires the claims Authenticate relies on. golang-jwt calls it
// after the registered-claim checks.
func (c *accessClaims) Validate() error {
	switch {
	case c.Subject == "":
		return errors.New("missing sub")
	case c.TenantID == "":
		return errors.New("missing tid")
	case c.SessionID == "":
		return errors.New("missing sid")
	case c.ID == "":
		return errors.New("missing jti")
	}
	return nil
}

// jwtCodec signs and verifies access tokens.
type jwtCodec struct {
	key      []byte
	issuer   string
	audience string
	now      func() time.Time
	parser   *jwt.Parser
}

func newJWTCodec(key []byte, issuer, audience string, now func() time.Time) (*jwtCodec, error) {
	if len(key) < MinJWTKeyLen {
		return nil, fmt.Errorf("authn: JWT key must be at least %d bytes, got %d", MinJWTKeyLen, len(key))
	}
	c := &jwtCodec{
		// Copy the key: the caller's slice must not be able to change it.
		key:      append([]byte(nil), key...),
		issuer:   issuer,
		audience: audience,
		now:      now,
	}
	c.parser = jwt.NewParser(
		// Pin the algorithm. The token header is attacker-controlled;
		// accepting its "alg" is how "none" and RS256→HS256 key-confusion
		// attacks work.
		jwt.WithValidMethods([]string{jwt.SigningMethodHS256.Alg()}),
		// Tokens of another issuer or meant for another service using the
		// same key must not be accepted here.
		jwt.WithIssuer(issuer),
		jwt.WithAudience(audience),
		// A token without exp would be valid forever.
		jwt.WithExpirationRequired(),
		// Reject tokens "issued" in the future (beyond leeway).
		jwt.WithIssuedAt(),
		jwt.WithLeeway(jwtLeeway),
		jwt.WithTimeFunc(now),
	)
	return c, nil
}

// sign returns an access token for the given identity, valid for ttl.
func (c *jwtCodec) sign(userID, tenantID, sessionID, email, name string, ttl time.Duration) (string, time.Time, error) {
	now := c.now()
	exp := now.Add(ttl)
	claims := accessClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    c.issuer,
			Audience:  jwt.ClaimStrings{c.audience},
			Subject:   userID,
			ID:        uuid.NewString(),
			IssuedAt:  jwt.NewNumericDate(now),
			NotBefore: jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(exp),
		},
		Email:     email,
		Name:      name,
		TenantID:  tenantID,
		SessionID: sessionID,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(c.key)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("authn: signing access token: %w", err)
	}
	// NumericDate has second precision; report the expiry the token states.
	return s, claims.ExpiresAt.Time, nil
}

// verify checks the token's signature and claims and returns the claims.
func (c *jwtCodec) verify(token string) (*accessClaims, error) {
	if len(token) > maxJWTLen {
		return nil, errors.New("token too long")
	}
	claims := new(accessClaims)
	_, err := c.parser.ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		// Belt and braces on top of WithValidMethods: the key is an HMAC
		// key and must only ever be used as one.
		if _, ok := t.Method.(*jwt.SigningMethodHMAC); !ok {
			return nil, fmt.Errorf("unexpected signing method %v", t.Header["alg"])
		}
		return c.key, nil
	})
	if err != nil {
		return nil, err
	}
	return claims, nil
}
