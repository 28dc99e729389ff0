// Package store defines Komand's persistence contract: one interface per
// domain, the records they exchange, and the sentinel errors every
// implementation returns. Two implementations exist, store/sqlite (embedded,
// the default) and store/postgres (several replicas, row-level security), and
// both must pass the single conformance suite in store/storetest.
//
// Tenancy is explicit: every method that touches tenant-owned data takes the
// tenant ID as its first argument after the context and filters by it in SQL.
// On PostgreSQL the tenant is also set per transaction and enforced a second
// time by FORCE ROW LEVEL SECURITY, so a forgotten WHERE clause returns no rows
// instead of another tenant's rows.
package store

import (
	"context"
	"errors"
)

// Sentinel errors. Implementations wrap driver errors into these so that no
// driver text ever has to be inspected (or shown) above the store.
var (
	// ErrNotFound means the row does not exist for this tenant. A row of
	// another tenant is indistinguishable from a missing one.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness constraint would be violated.
	ErrConflict = errors.New("store: conflict")
	// ErrLastOwner means the change would leave a tenant without an active
	// owner.
	ErrLastOwner = errors.New("store: last owner")
	// ErrLimit means a per-tenant or per-agent quota would be exceeded
	// (the store refuses the write atomically).
	ErrLimit = errors.New("store: limit reached")
	// ErrTokenReused means a spent refresh token was presented again; the
	// store has revoked its whole family in the same transaction.
	ErrTokenReused = errors.New("store: refresh token reused")
	// ErrUnavailable means the database could not be reached or cannot
	// take writes right now (connection refused or lost, the database
	// gone, a timeout while connecting, a full disk, an I/O error): the
	// request may succeed later. Implementations wrap it together with
	// the driver's error, so the cause still reaches the log.
	ErrUnavailable = errors.New("store: unavailable")
)

// Store is the whole persistence layer.
type Store interface {
	Tenants
	Users
	APIKeys
	RefreshTokens
	Agents
	Sessions
	Memory
	Vault
	Channels
	Outbox
	Skills
	CRM
	Injection
	Audit

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Writable reports whether the database can take writes now, which
	// readiness needs beyond Ping; an error wraps ErrUnavailable. It
	// writes a little, so callers bound how often they ask.
	Writable(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Page selects one page of a list. Page is 1-based.
type Page struct {
	Page     int
	PageSize int
}

// Offset returns the number of rows to skip.
func (p Page) Offset() int {
	if p.Page < 1 {
		return 0
	}
	return (p.Page - 1) * p.PageSize
}

// PlatformTenantID is the reserved tenant that owns platform-level records
// which belong to no business, such as a failed login for an email that
// matches no user. Migrations create it; its slug "_platform" cannot be
// chosen by a tenant because tenant slugs may not start with "_".
const PlatformTenantID = "00000000-0000-0000-0000-000000000000"
