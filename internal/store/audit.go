package store

import (
	"context"
	"time"
)

// AuditEntry is one record of the tamper-evident audit trail. Seq, PrevHash
// and Hash are assigned by the store when the entry is appended.
type AuditEntry struct {
	ID        string
	TenantID  string
	Seq       int64
	Action    string
	ActorID   string
	AgentID   string
	SessionID string
	SkillID   string
	Details   []byte // canonical JSON object
	RequestID string
	Timestamp time.Time // UTC, microsecond precision
	PrevHash  string    // hex SHA-256 of the previous entry of the tenant
	Hash      string    // hex SHA-256 over this entry's content and PrevHash
}

// AuditFilter narrows an audit listing. Empty strings and nil times match all.
type AuditFilter struct {
	Action    string
	ActorID   string
	AgentID   string
	SessionID string
	SkillID   string
	From      *time.Time
	To        *time.Time
}

// SealFunc computes the hash of e, whose Seq and PrevHash are already set.
type SealFunc func(e *AuditEntry) string

// Audit is the append-only audit log. There is deliberately no method that
// updates or deletes an entry.
type Audit interface {
	// AppendAudit appends entries (possibly of several tenants) in one
	// durable transaction, extending each tenant's hash chain in order: for
	// each entry it sets Seq and PrevHash from the tenant's chain head and
	// Hash from seal. Either all entries are stored or none.
	AppendAudit(ctx context.Context, entries []AuditEntry, seal SealFunc) error
	// AppendAuditWith is AppendAudit that also makes each of appends, in
	// the same transaction, as AppendTurns would (a unit of work: an agent
	// turn's history and its audit entries are stored together or not at
	// all). An append to an ended or unknown session fails the whole
	// transaction, every entry of the batch included, with ErrNotFound.
	// Once committed, each append's turns have Seq, SessionID and TenantID
	// set.
	AppendAuditWith(ctx context.Context, entries []AuditEntry, seal SealFunc, appends []*TurnAppend) error
	// ListAudit returns one page of a tenant's entries, newest first, and
	// the total that match.
	ListAudit(ctx context.Context, tenantID string, f AuditFilter, p Page) ([]AuditEntry, int, error)
	// ScanAudit returns up to limit entries with Seq > afterSeq in chain
	// order, for verification.
	ScanAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the tenant's chain head (0 and "" when empty).
	AuditHead(ctx context.Context, tenantID string) (seq int64, hash string, err error)
}

// TurnAppend is turns to append to a session's history in an audit batch's
// transaction (AppendAuditWith).
type TurnAppend struct {
	TenantID  string
	SessionID string
	Turns     []Turn
}

// PageKey is the entry's position in AuditList.
func (e AuditEntry) PageKey() (List, []any) { return AuditList, []any{e.Seq} }
