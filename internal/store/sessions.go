package store

import (
	"context"
	"time"
)

// Turn roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Session is one conversation thread. Key is
// {Channel}:{ChannelAccountID}:{SenderID}; a tenant has at most one active
// (not ended) session per key, while ended ones stay readable with their
// history.
type Session struct {
	ID               string
	TenantID         string
	Key              string
	Channel          string
	ChannelAccountID string
	SenderID         string
	AgentID          string
	Metadata         map[string]string // channel metadata; never nil when read
	MessageCount     int               // user and assistant messages
	FirstMessageAt   time.Time
	LastMessageAt    time.Time
	EndedAt          *time.Time
	EndReason        string // "ended" (by a user) or "idle"; empty while active
	Usage            SessionUsage
}

// SessionUsage is what a session's turns have used so far, for the
// per-session circuit breakers: tool calls (a model's and commands'), model
// tokens (as the provider reported them, or estimated) and busy time (the
// wall time of its turns).
type SessionUsage struct {
	ToolCalls    int64
	InputTokens  int64
	OutputTokens int64
	BusyMillis   int64
}

// Add returns u plus v.
func (u SessionUsage) Add(v SessionUsage) SessionUsage {
	return SessionUsage{ToolCalls: u.ToolCalls + v.ToolCalls, InputTokens: u.InputTokens + v.InputTokens,
		OutputTokens: u.OutputTokens + v.OutputTokens, BusyMillis: u.BusyMillis + v.BusyMillis}
}

// IsZero reports whether u counts nothing.
func (u SessionUsage) IsZero() bool { return u == SessionUsage{} }

// Turn is one entry of a session's history. Seq is assigned by the store,
// 1, 2, 3… per session.
type Turn struct {
	TenantID   string
	SessionID  string
	Seq        int64
	Role       string // RoleUser, RoleAssistant or RoleTool
	Text       string
	ToolCalls  []byte // JSON array of the tool calls an assistant turn asked for, or nil
	ToolCallID string // a tool turn: the call it answers
	ToolName   string
	IsError    bool // a tool turn whose call failed
	RequestID  string
	CreatedAt  time.Time
	// Flag is what prompt-injection screening made of the turn: "" (clean
	// or approved), FlagWarn, FlagBlocked, FlagHeld, FlagRejected, or
	// FlagNotice for a reply Komand wrote itself (refusal, holding reply),
	// FlagConfirm for a user's "CONFIRM <code>" message (answered by
	// Komand, never shown to the model), or FlagSanitized for an agent
	// reply the reply controls changed.
	Flag string
}

// Turn flags (Turn.Flag).
const (
	FlagWarn     = "warn"
	FlagBlocked  = "blocked"
	FlagHeld     = "held"
	FlagRejected = "rejected"
	FlagNotice   = "notice"
	FlagConfirm  = "confirm"
	// FlagSanitized: an assistant turn whose text had images, links with
	// data or system-prompt text removed (injection.SanitizeReply).
	FlagSanitized = "sanitized"
)

// TurnQuery names the session LoadTurn reads: by SessionID when it is not
// empty, else the active session of Key; History bounds the turns read.
type TurnQuery struct {
	Key       string
	SessionID string
	History   int
}

// TurnState is what LoadTurn reads.
type TurnState struct {
	Session Session
	Agent   *Agent // nil when the session's agent no longer exists
	History []Turn // the last turns, oldest first; never nil
}

// SessionFilter narrows a session listing; empty fields match all. Status is
// "", "active" or "ended".
type SessionFilter struct {
	AgentID string
	Channel string
	Key     string
	Status  string
}

// Sessions stores sessions and their history.
type Sessions interface {
	// CreateSession stores a new active session; an active session with the
	// same key in the tenant gives ErrConflict, and a tenant that already has
	// maxActive active sessions gives ErrLimit (atomically, also under
	// concurrent writers; ended sessions do not count).
	CreateSession(ctx context.Context, s Session, maxActive int) error
	// ActiveSession returns the tenant's active session for key.
	ActiveSession(ctx context.Context, tenantID, key string) (Session, error)
	GetSession(ctx context.Context, tenantID, id string) (Session, error)
	// ListSessions returns one page, most recently active first, and the
	// total that match.
	ListSessions(ctx context.Context, tenantID string, f SessionFilter, p Page) ([]Session, int, error)
	// AppendTurns appends turns to an active session in one transaction,
	// setting their Seq (and SessionID and TenantID), adding the user and
	// assistant turns to MessageCount and setting LastMessageAt to the last
	// turn's CreatedAt. It returns the updated session. An ended or unknown
	// session gives ErrNotFound and stores nothing.
	AppendTurns(ctx context.Context, tenantID, sessionID string, turns []Turn) (Session, error)
	// AddSessionUsage adds u to an active session's usage counters
	// (atomically: concurrent adds all count). An ended or unknown session
	// gives ErrNotFound.
	AddSessionUsage(ctx context.Context, tenantID, sessionID string, u SessionUsage) error
	// ListTurns returns one page of a session's history, oldest first, and
	// the total.
	ListTurns(ctx context.Context, tenantID, sessionID string, p Page) ([]Turn, int, error)
	// RecentTurns returns the last limit turns of a session, oldest first.
	RecentTurns(ctx context.Context, tenantID, sessionID string, limit int) ([]Turn, error)
	// LoadTurn reads what handling a message needs, in one round trip where
	// the store can: the session (the one with ID q.SessionID, ended or
	// not, when it is set; else the tenant's active session for q.Key),
	// its agent and its last q.History turns, oldest first. No such session
	// in the tenant gives ErrNotFound; a session whose agent no longer
	// exists comes back with Agent nil.
	LoadTurn(ctx context.Context, tenantID string, q TurnQuery) (TurnState, error)
	// EndSession marks an active session ended at now with reason. An
	// unknown or already ended session gives ErrNotFound.
	EndSession(ctx context.Context, tenantID, id string, now time.Time, reason string) (Session, error)
	// IdleSessions returns up to limit active sessions of the tenant whose
	// LastMessageAt is before cutoff.
	IdleSessions(ctx context.Context, tenantID string, cutoff time.Time, limit int) ([]Session, error)
	// LockSession serialises message handling for one session key across
	// every process sharing the database (PostgreSQL: a session-level
	// advisory lock on a dedicated connection; SQLite: one process owns the
	// file, so the caller's in-process lock is the whole story and this is
	// a no-op). It blocks until the lock is held or ctx ends; unlock must
	// be called exactly once.
	LockSession(ctx context.Context, tenantID, key string) (unlock func(), err error)
}

// MemoryEntry is one key of an agent's long-term memory.
type MemoryEntry struct {
	TenantID string
	AgentID  string
	Key      string
	Value    string
	// Provenance is ProvenanceTrusted for a value a Komand user wrote (the
	// API, their own /memory set) or the agent stored in a turn with no
	// untrusted content, ProvenanceUntrusted otherwise: it is recalled as
	// data and taints the turn that recalls it. A store reads "" as
	// untrusted.
	Provenance string
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

// Memory provenances (MemoryEntry.Provenance).
const (
	ProvenanceTrusted   = "trusted"
	ProvenanceUntrusted = "untrusted"
)

// MemoryProvenance is p as stored: anything but ProvenanceTrusted is
// untrusted.
func MemoryProvenance(p string) string {
	if p == ProvenanceTrusted {
		return p
	}
	return ProvenanceUntrusted
}

// Memory stores agents' memories. An agent's memory is deleted with it.
type Memory interface {
	// PutMemory creates or replaces e.Key (value and provenance). Creating a key when the agent
	// already holds maxEntries gives ErrLimit; an unknown agent gives
	// ErrNotFound. It reports whether the key was created.
	PutMemory(ctx context.Context, e MemoryEntry, maxEntries int) (created bool, err error)
	GetMemory(ctx context.Context, tenantID, agentID, key string) (MemoryEntry, error)
	// ListMemory returns one page ordered by key, and the total.
	ListMemory(ctx context.Context, tenantID, agentID string, p Page) ([]MemoryEntry, int, error)
	DeleteMemory(ctx context.Context, tenantID, agentID, key string) error
}

// PageKey is the session's position in SessionList.
func (s Session) PageKey() (List, []any) {
	return SessionList, []any{s.LastMessageAt.UnixMicro(), s.ID}
}

// PageKey is the turn's position in TurnList.
func (t Turn) PageKey() (List, []any) { return TurnList, []any{t.Seq} }

// PageKey is the entry's position in MemoryList.
func (e MemoryEntry) PageKey() (List, []any) { return MemoryList, []any{e.Key} }
