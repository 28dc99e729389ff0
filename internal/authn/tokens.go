package authn

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
)

// Opaque token formats. The prefixes make a leaked secret recognisable (by
// secret scanners and by audit redaction, see audit.CanonicalDetails) and
// let Authenticate tell an API key from a JWT without trying both.
const (
	APIKeyPrefix       = "kmd_"
	RefreshTokenPrefix = "kmr_"
	// InviteTokenPrefix marks a one-time invitation token, with which an
	// invited user sets a first password.
	InviteTokenPrefix = "kmi_"
	// APIKeyDisplayLen is the length of APIKey.Prefix: "kmd_" and 8
	// characters (48 random bits), enough to tell keys apart in a listing
	// and far too little to help guess the remaining 208 bits.
	APIKeyDisplayLen = 12

	secretBytes = 32 // 256 bits of entropy
)

// tokenB64 encodes secrets: URL-safe (no escaping in headers or URLs),
// unpadded. Strict decoding rejects non-canonical forms so a secret has one
// spelling only.
var tokenB64 = base64.RawURLEncoding.Strict()

// secretEncodedLen is the length of the encoded part of a secret.
var secretEncodedLen = tokenB64.EncodedLen(secretBytes)

// newSecret returns prefix + base64url(32 random bytes).
func newSecret(prefix string) string {
	var b [secretBytes]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never returns an error (Go ≥ 1.24)
	return prefix + tokenB64.EncodeToString(b[:])
}

// NewAPIKey returns a new random API key ("kmd_…").
func NewAPIKey() string { return newSecret(APIKeyPrefix) }

// NewRefreshToken returns a new random refresh token ("kmr_…").
func NewRefreshToken() string { return newSecret(RefreshTokenPrefix) }

// NewInviteToken returns a new random invitation token ("kmi_…").
func NewInviteToken() string { return newSecret(InviteTokenPrefix) }

// wellFormed reports whether s is prefix followed by exactly the canonical
// encoding of 32 bytes. It lets garbage be rejected without touching the
// store.
func wellFormed(s, prefix string) bool {
	rest, ok := strings.CutPrefix(s, prefix)
	if !ok || len(rest) != secretEncodedLen {
		return false
	}
	var b [secretBytes]byte
	n, err := tokenB64.Decode(b[:], []byte(rest))
	return err == nil && n == secretBytes
}

// IsAPIKey reports whether s has the syntax of an API key.
func IsAPIKey(s string) bool { return wellFormed(s, APIKeyPrefix) }

// IsRefreshToken reports whether s has the syntax of a refresh token.
func IsRefreshToken(s string) bool { return wellFormed(s, RefreshTokenPrefix) }

// IsInviteToken reports whether s has the syntax of an invitation token.
func IsInviteToken(s string) bool { return wellFormed(s, InviteTokenPrefix) }

// HashToken returns the lowercase hex SHA-256 of an opaque token, the only
// form in which API keys, refresh tokens and invitation tokens are stored.
//
// A fast unsalted hash is enough here, unlike for passwords: the tokens carry
// 256 random bits, so neither brute force nor precomputed tables apply, and a
// database leak does not yield usable credentials. Being deterministic, the
// hash is also the lookup key, so verification is a single indexed query; the
// index lookup's timing can only reveal bits of a hash, never of a token.
func HashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
