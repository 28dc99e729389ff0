// Package requestid parses, generates and carries the X-Request-Id that ties
// a client request to every log line, database error and audit entry written
// while serving it.
package requestid

import (
	"context"
	"crypto/rand"
	"encoding/hex"
)

// Header is the HTTP header that carries the request ID.
const Header = "X-Request-Id"

// MaxLen is the longest request ID accepted from a client.
const MaxLen = 128

type ctxKey struct{}

// Valid reports whether s is an acceptable client-supplied request ID:
// 1 to 128 characters from [A-Za-z0-9._-]. Anything else (control
// characters, spaces, quotes, non-ASCII) could forge or break log lines, so
// it is replaced by a generated ID rather than echoed.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9',
			c == '.', c == '_', c == '-':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh random request ID (32 hex characters).
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return hex.EncodeToString(b[:])
}

// FromHeader returns the client's request ID when it is valid and a new one
// otherwise.
func FromHeader(h string) string {
	if Valid(h) {
		return h
	}
	return New()
}

// With returns a context carrying id.
func With(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// WithRef is With for an ID the caller keeps in a longer-lived per-request
// struct: storing the pointer saves boxing the string. *id must not change
// afterwards.
func WithRef(ctx context.Context, id *string) context.Context {
	return context.WithValue(ctx, ctxKey{}, id)
}

// From returns the request ID in ctx, or "".
func From(ctx context.Context) string {
	switch id := ctx.Value(ctxKey{}).(type) {
	case string:
		return id
	case *string:
		return *id
	}
	return ""
}
