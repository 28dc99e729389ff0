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
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
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

// Listing bounds. Every list is read through an index in its sort order, so
// a page costs the same whatever the size of the tenant; these bounds keep
// the two parts that would not, skipping rows for a page number and counting
// the total, from growing with it. (How deep a page number may reach is
// validate.MaxOffset; deeper rows are reached by following the cursor.)
const (
	// CountLimit bounds the totals: a list counts at most CountLimit+1 of
	// its rows, so a total of CountLimit or less is exact and CountLimit+1
	// means "more than CountLimit" (see TotalCapped).
	CountLimit = 1_000
	// maxCursorLen bounds a cursor's text before it is decoded.
	maxCursorLen = 1024
)

// ErrBadCursor means a Page.Cursor is not one this store issued for this
// list and tenant (malformed, altered, of another list or another tenant).
var ErrBadCursor = errors.New("store: invalid cursor")

// Page selects one page of a list: either by number (Page is 1-based, at
// most validate.MaxOffset rows deep) or, when Cursor is set, the PageSize
// rows that follow the row the cursor names (Page is then 1; the gateway
// refuses another page number with a cursor). A cursor is a position,
// not a capability: it carries the sort key of the last row of the previous
// page, and the store still filters by tenant in SQL, so a forged cursor can
// only position a tenant within its own rows.
type Page struct {
	Page     int
	PageSize int
	Cursor   string
}

// Offset returns the number of rows to skip (none with a cursor).
func (p Page) Offset() int {
	if p.Page < 1 || p.Cursor != "" {
		return 0
	}
	return (p.Page - 1) * p.PageSize
}

// TotalCapped reports whether a list's total is only a lower bound (the
// list has more than CountLimit rows), and returns the total to show.
func TotalCapped(total int) (shown int, capped bool) {
	if total > CountLimit {
		return CountLimit, true
	}
	return total, false
}

// List names a listing in its cursors, so that a cursor of one list is
// refused by another.
type List string

// The lists. An implementation decodes a Page.Cursor with DecodeCursor and
// the list's constant into the key values below, in this order, and returns
// the rows strictly after them in the list's order.
const (
	AgentList          List = "agents"   // agentId
	SessionList        List = "sessions" // lastMessageAt (µs), id; newest first
	TurnList           List = "turns"    // seq
	MemoryList         List = "memory"   // key
	UserList           List = "users"    // email (lowered by the store)
	SkillList          List = "skills"   // skillId
	ContactList        List = "contacts" // name, id
	ReviewList         List = "reviews"  // createdAt (µs), id; newest first
	CredentialList     List = "vault"    // name
	AuditList          List = "audit"    // seq; newest first
	ChannelAccountList List = "channels" // channel, accountId
	APIKeyList         List = "apikeys"  // createdAt (µs), id
)

// Keyed is a listed record: its list and the key values of its position in
// that list, the values a cursor after it carries.
type Keyed interface {
	PageKey() (List, []any)
}

// cursor is a cursor's content before encoding: a version, the list, a
// digest of the tenant (the cursor does not carry the tenant ID itself) and
// the key values.
type cursor struct {
	V int               `json:"v"`
	L List              `json:"l"`
	T string            `json:"t"`
	K []json.RawMessage `json:"k"`
}

func tenantTag(tenantID string) string {
	sum := sha256.Sum256([]byte("komand-cursor\x00" + tenantID))
	return base64.RawURLEncoding.EncodeToString(sum[:12])
}

// EncodeCursor makes the opaque cursor of the position key in list l of a
// tenant. Key values are strings and int64s.
func EncodeCursor(tenantID string, l List, key ...any) string {
	c := cursor{V: 1, L: l, T: tenantTag(tenantID), K: make([]json.RawMessage, len(key))}
	for i, k := range key {
		c.K[i], _ = json.Marshal(k) // strings and integers always marshal
	}
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// Next returns the cursor of the page after items, or "" when items is not
// a full page (the list has ended). A full last page gives a cursor whose
// page is empty, with no further cursor.
func Next[T Keyed](tenantID string, p Page, items []T) string {
	if len(items) == 0 || len(items) < p.PageSize {
		return ""
	}
	l, key := items[len(items)-1].PageKey()
	return EncodeCursor(tenantID, l, key...)
}

// DecodeCursor reads p.Cursor for list l of the tenant into dst (pointers
// to string or int64, one per key value). It reports false when p has no
// cursor, and ErrBadCursor when the cursor was not issued for this list and
// tenant, or its values are not of the key's types.
func DecodeCursor(p Page, tenantID string, l List, dst ...any) (bool, error) {
	if p.Cursor == "" {
		return false, nil
	}
	if len(p.Cursor) > maxCursorLen {
		return false, ErrBadCursor
	}
	raw, err := base64.RawURLEncoding.DecodeString(p.Cursor)
	if err != nil {
		return false, ErrBadCursor
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var c cursor
	if err := dec.Decode(&c); err != nil || dec.More() {
		return false, ErrBadCursor
	}
	if c.V != 1 || c.L != l || c.T != tenantTag(tenantID) || len(c.K) != len(dst) {
		return false, ErrBadCursor
	}
	for i, d := range dst {
		switch d.(type) {
		case *string, *int64:
		default:
			panic("store: DecodeCursor destination must be *string or *int64")
		}
		if string(c.K[i]) == "null" || json.Unmarshal(c.K[i], d) != nil {
			return false, ErrBadCursor
		}
	}
	return true, nil
}

// PlatformTenantID is the reserved tenant that owns platform-level records
// which belong to no business, such as a failed login for an email that
// matches no user. Migrations create it; its slug "_platform" cannot be
// chosen by a tenant because tenant slugs may not start with "_".
const PlatformTenantID = "00000000-0000-0000-0000-000000000000"
