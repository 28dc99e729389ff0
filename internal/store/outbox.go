package store

import (
	"context"
	"time"
)

// Delivery is one reply waiting to be sent to a platform (Slack,
// Telegram) by the channel delivery worker. It names the channel account
// it is sent as, never the account's bot token: the token is read from the
// vault at each attempt.
type Delivery struct {
	TenantID         string
	ID               string
	Channel          string
	ChannelAccountID string // the channel account's ID (store.ChannelAccount.ID)
	AgentID          string
	SessionID        string
	MessageID        string // the inbound message answered
	RequestID        string // the inbound request's ID, for the delivery's audit entry
	// Payload is the reply and where it goes (a chat, a thread), as the
	// channel package encodes it. It holds the customer's conversation,
	// as the session's turns do, and is deleted with the delivery.
	Payload       []byte
	Attempts      int // attempts started (a claim counts as one)
	NextAttemptAt time.Time
	// LeaseToken and LeaseUntil mark the delivery as being attempted by
	// one worker: nobody else claims it until LeaseUntil passes, and only
	// the holder of LeaseToken may reschedule or remove it.
	LeaseToken     string
	LeaseUntil     time.Time
	LastErrorClass string // the last failed attempt's class ("unreachable", "http_5xx", …)
	CreatedAt      time.Time
}

// Outbox is the durable queue of outbound deliveries. A delivery is
// claimed by one worker at a time, across processes and replicas: a claim
// takes a lease, and a delivery whose lease has passed may be claimed again
// (its worker died).
type Outbox interface {
	// EnqueueDelivery stores d already claimed by its creator: d.Attempts
	// is 1 and d.LeaseToken holds it until d.LeaseUntil, so the first
	// attempt is the caller's and a crash before it finishes leaves the
	// delivery to another worker. A taken ID gives ErrConflict.
	EnqueueDelivery(ctx context.Context, d Delivery) error
	// DueDeliveryTenants returns up to limit tenants that have a delivery
	// due at now (next attempt reached, no live lease), the longest
	// waiting first. It is the worker's one cross-tenant read: it returns
	// nothing but tenant IDs.
	DueDeliveryTenants(ctx context.Context, now time.Time, limit int) ([]string, error)
	// ClaimDeliveries leases up to limit of the tenant's due deliveries to
	// token until leaseUntil and counts an attempt on each, the longest
	// waiting first. A delivery is returned by one claim only, however
	// many workers claim at once.
	ClaimDeliveries(ctx context.Context, tenantID, token string, now, leaseUntil time.Time, limit int) ([]Delivery, error)
	// RetryDelivery releases token's lease on a delivery and schedules its
	// next attempt at next, recording the failed attempt's class.
	// ErrNotFound when the delivery is gone or token no longer holds it.
	RetryDelivery(ctx context.Context, tenantID, id, token string, next time.Time, errClass string) error
	// RemoveDelivery deletes a delivery token holds (sent, or given up).
	// ErrNotFound when it is gone or token no longer holds it.
	RemoveDelivery(ctx context.Context, tenantID, id, token string) error
}
