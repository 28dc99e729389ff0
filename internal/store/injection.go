package store

import (
	"context"
	"time"
)

// InjectionPolicy is a tenant's prompt-injection policy document (JSON,
// validated and interpreted by the injection package; the store keeps it
// as given). Doc is nil when the tenant never set one.
type InjectionPolicy struct {
	TenantID  string
	Doc       []byte
	UpdatedBy string
	UpdatedAt time.Time
}

// Review is one item of the escalation queue: a held user message, a held
// tool output, or a consequential tool call waiting for an Admin.
type Review struct {
	TenantID   string
	ID         string
	SessionID  string
	AgentID    string
	Kind       string // ReviewMessage, ReviewToolOutput, ReviewToolCall
	Source     string // "user", "skill" or "external"
	TurnSeq    int64  // the held turn
	ToolName   string // tool output and tool call: the tool
	Excerpt    string // bounded excerpt of the held text
	Score      float64
	Categories []string // never nil after a read
	Status     string   // ReviewPending, ReviewApproved, ReviewRejected
	RequestID  string
	CreatedAt  time.Time
	DecidedBy  string
	DecidedAt  *time.Time
}

// Review kinds and states.
const (
	ReviewMessage    = "message"
	ReviewToolOutput = "tool_output"
	ReviewToolCall   = "tool_call"
	ReviewPending    = "pending"
	ReviewApproved   = "approved"
	ReviewRejected   = "rejected"
)

// ReviewFilter narrows a review listing; empty fields match all.
type ReviewFilter struct {
	Status    string
	SessionID string
}

// Injection stores prompt-injection policies and the review queue.
type Injection interface {
	// GetInjectionPolicy returns the tenant's policy, ErrNotFound when it
	// never set one.
	GetInjectionPolicy(ctx context.Context, tenantID string) (InjectionPolicy, error)
	// PutInjectionPolicy creates or replaces the tenant's policy.
	PutInjectionPolicy(ctx context.Context, p InjectionPolicy) error
	// CreateReview stores a new pending review; a taken ID gives
	// ErrConflict.
	CreateReview(ctx context.Context, r Review) error
	// GetReview returns one review of the tenant.
	GetReview(ctx context.Context, tenantID, id string) (Review, error)
	// ListReviews returns one page of the tenant's reviews matching f,
	// newest first, and the total.
	ListReviews(ctx context.Context, tenantID string, f ReviewFilter, p Page) ([]Review, int, error)
	// DecideReview moves a pending review to status (approved or rejected),
	// recording who and when, and returns it. A review that is not pending
	// gives ErrConflict (two Admins deciding at once: one wins); a missing
	// one ErrNotFound.
	DecideReview(ctx context.Context, tenantID, id, status, by string, at time.Time) (Review, error)
	// SetTurnFlag sets the flag of one turn of a session (ErrNotFound when
	// there is no such turn).
	SetTurnFlag(ctx context.Context, tenantID, sessionID string, seq int64, flag string) error
	Confirmations
}

// Confirmation is a consequential tool call waiting for the person in the
// conversation to confirm it in-channel (CONFIRM <code>): bound to one
// session, one user, and the exact calls of one held assistant turn.
type Confirmation struct {
	TenantID  string
	ID        string
	SessionID string
	AgentID   string
	UserID    string // the only user who may confirm
	TurnSeq   int64  // the held assistant turn
	CallHash  string // hex SHA-256 of the turn's calls, canonical (session.CallHash)
	CodeHash  string // hex SHA-256 of the ID and the code; the code itself is never stored
	ToolNames string // comma-separated, for the audit trail and operators
	Attempts  int    // wrong codes (and other users' tries) so far
	Status    string // ConfirmationPending, …Confirmed, …Cancelled, …Expired
	RequestID string
	CreatedAt time.Time
	ExpiresAt time.Time
	ClosedAt  *time.Time
}

// Confirmation states.
const (
	ConfirmationPending   = "pending"
	ConfirmationConfirmed = "confirmed"
	ConfirmationCancelled = "cancelled"
	ConfirmationExpired   = "expired"
)

// Confirmations stores in-channel confirmations of held tool calls. Every
// change of state is one conditional statement on a pending row, so of two
// concurrent uses one wins.
type Confirmations interface {
	// CreateConfirmation stores a new pending confirmation and cancels any
	// other pending one of the same session (a session waits for at most
	// one), in one transaction.
	CreateConfirmation(ctx context.Context, c Confirmation) error
	// PendingConfirmation returns the session's pending confirmation,
	// ErrNotFound when there is none.
	PendingConfirmation(ctx context.Context, tenantID, sessionID string) (Confirmation, error)
	// ConsumeConfirmation moves a pending confirmation that has not
	// expired at at to confirmed, once: ErrConflict when it is no longer
	// pending or has expired, ErrNotFound when there is no such row.
	ConsumeConfirmation(ctx context.Context, tenantID, id string, at time.Time) error
	// FailConfirmation counts one refused attempt on a pending
	// confirmation and cancels it when the count reaches maxAttempts; it
	// returns the confirmation as it now is (ErrConflict when it is no
	// longer pending, ErrNotFound when missing).
	FailConfirmation(ctx context.Context, tenantID, id string, maxAttempts int, at time.Time) (Confirmation, error)
	// CloseConfirmation moves a pending confirmation to status (cancelled
	// or expired): ErrConflict when it is no longer pending, ErrNotFound
	// when missing.
	CloseConfirmation(ctx context.Context, tenantID, id, status string, at time.Time) error
}

// PageKey is the review's position in ReviewList.
func (r Review) PageKey() (List, []any) { return ReviewList, []any{r.CreatedAt.UnixMicro(), r.ID} }
