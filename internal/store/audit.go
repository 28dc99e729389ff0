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
	// CommitAudit is the unit-of-work boundary: it appends entries as
	// AppendAudit does and makes every write of units in the same
	// transaction, so the writes and the entries that record them are
	// durable together or not at all. A write that cannot be made (a turn
	// appended to an ended, unknown or other tenant's session: ErrNotFound)
	// fails the whole transaction, every entry and unit of the batch
	// included; the caller (audit.Writer) retries the rest without the
	// units. Once committed, each appended turn has Seq, SessionID and
	// TenantID set.
	CommitAudit(ctx context.Context, entries []AuditEntry, seal SealFunc, units []*Unit) error
	// ListAudit returns one page of a tenant's entries, newest first, and
	// the total that match.
	ListAudit(ctx context.Context, tenantID string, f AuditFilter, p Page) ([]AuditEntry, int, error)
	// ScanAudit returns up to limit entries with Seq > afterSeq in chain
	// order, for verification.
	ScanAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the tenant's chain head (0 and "" when empty).
	AuditHead(ctx context.Context, tenantID string) (seq int64, hash string, err error)
}

// Unit is a unit of work's writes: what must be durable together with the
// audit entries that record it (CommitAudit). The audit writer carries units
// through its queue without looking inside them. Writes of other kinds (a
// tool's memory, say) get fields of their own here.
type Unit struct {
	// Turns are appended to sessions' histories, in order, as AppendTurns
	// would.
	Turns []TurnAppend
}

// TurnAppend is turns to append to one session's history in a Unit, and
// usage to add to its counters (as AddSessionUsage would).
type TurnAppend struct {
	TenantID  string
	SessionID string
	Turns     []Turn
	Usage     SessionUsage
}

// PageKey is the entry's position in AuditList.
func (e AuditEntry) PageKey() (List, []any) { return AuditList, []any{e.Seq} }
