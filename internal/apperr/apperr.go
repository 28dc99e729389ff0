// Package apperr carries the public face of an error: a kind that decides the
// HTTP status and the stable machine code, and a plain message that is safe to
// show a client. The wrapped cause is for logs only.
//
// Services return apperr values (or store / authz sentinels, which the gateway
// maps the same way); anything else reaching the gateway is rendered as
// "internal error" with the request ID, so a driver message, SQL fragment or
// file path can never leak by accident. The idea follows tailscale's vizerror
// and caddy's APIError.
package apperr

import (
	"errors"
	"fmt"
	"time"
)

// Kind classifies an error for the client.
type Kind int

// Kinds, each with one HTTP status and one stable code (see Code and Status).
const (
	Internal Kind = iota
	Invalid
	Unauthenticated
	Forbidden
	NotFound
	Conflict
	TooLarge
	UnsupportedMedia
	RateLimited
	Unavailable
	MethodNotAllowed
	// LimitReached is a creation refused by a per-tenant quota.
	LimitReached
)

var kinds = [...]struct {
	code   string
	status int
}{
	Internal:         {"internal_error", 500},
	Invalid:          {"validation_failed", 400},
	Unauthenticated:  {"unauthorized", 401},
	Forbidden:        {"forbidden", 403},
	NotFound:         {"not_found", 404},
	Conflict:         {"conflict", 409},
	TooLarge:         {"payload_too_large", 413},
	UnsupportedMedia: {"unsupported_media_type", 415},
	RateLimited:      {"rate_limited", 429},
	Unavailable:      {"unavailable", 503},
	MethodNotAllowed: {"method_not_allowed", 405},
	LimitReached:     {"limit_reached", 409},
}

// Code is the stable machine-readable code of k.
func (k Kind) Code() string {
	if int(k) < 0 || int(k) >= len(kinds) {
		return kinds[Internal].code
	}
	return kinds[k].code
}

// Status is the HTTP status of k.
func (k Kind) Status() int {
	if int(k) < 0 || int(k) >= len(kinds) {
		return kinds[Internal].status
	}
	return kinds[k].status
}

// Error is an error with a public message.
type Error struct {
	Kind    Kind
	Message string // safe to show to a client
	Field   string // the offending field, for validation errors
	Err     error  // the cause, logged but never shown
	// RetryAfter, when positive, is sent as the Retry-After header.
	RetryAfter time.Duration
}

func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// New returns an error of kind k with a public message.
func New(k Kind, msg string) *Error { return &Error{Kind: k, Message: msg} }

// Wrap returns an error of kind k with a public message and a private cause.
func Wrap(err error, k Kind, msg string) *Error { return &Error{Kind: k, Message: msg, Err: err} }

// Field returns a validation error that names the offending field.
func Field(field, msg string) *Error {
	return &Error{Kind: Invalid, Field: field, Message: field + ": " + msg}
}

// As returns the *Error in err's chain, if any.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
