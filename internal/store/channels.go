package store

import (
	"context"
	"time"
)

// ChannelAccount is one account of a platform (a webhook endpoint, a Slack
// workspace app, a Telegram bot) bound to the agent that answers it. Its
// signing secret lives in the vault; SecretCredentialID names it.
type ChannelAccount struct {
	TenantID           string
	ID                 string
	Channel            string
	AccountID          string
	AgentID            string
	SecretCredentialID string // verifies inbound deliveries
	TokenCredentialID  string // authenticates outbound calls (Telegram's bot token); may be empty
	// AllowCommands lets the account's text run slash commands (a Webhook
	// or Slack account; off by default).
	AllowCommands bool
	CreatedBy     string
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Channels stores channel accounts and webhook replay protection. An
// account is deleted with its agent.
type Channels interface {
	// CreateChannelAccount stores a; a taken (channel, account ID) gives
	// ErrConflict, an unknown agent ErrNotFound.
	CreateChannelAccount(ctx context.Context, a ChannelAccount) error
	GetChannelAccount(ctx context.Context, tenantID, id string) (ChannelAccount, error)
	// ChannelAccountByKey finds the account of a channel by its account ID.
	ChannelAccountByKey(ctx context.Context, tenantID, channel, accountID string) (ChannelAccount, error)
	// ListChannelAccounts returns one page ordered by channel and account
	// ID, and the total.
	ListChannelAccounts(ctx context.Context, tenantID string, p Page) ([]ChannelAccount, int, error)
	DeleteChannelAccount(ctx context.Context, tenantID, id string) error
	// UpdateChannelAccount replaces an account's mutable fields
	// (AllowCommands, UpdatedAt); an unknown account gives ErrNotFound.
	UpdateChannelAccount(ctx context.Context, a ChannelAccount) error
	// TenantIDByChannelAccount returns the tenant of an account ID (an
	// inbound webhook names only its account); ErrNotFound when unknown.
	TenantIDByChannelAccount(ctx context.Context, id string) (string, error)
	// MarkWebhookSeen records a delivery's signature for an account until
	// expiresAt, and gives ErrConflict when it was seen before (a
	// replay). Entries expired at now are dropped.
	MarkWebhookSeen(ctx context.Context, tenantID, accountID, signature string, now, expiresAt time.Time) error
}

// PageKey is the account's position in ChannelAccountList.
func (a ChannelAccount) PageKey() (List, []any) {
	return ChannelAccountList, []any{a.Channel, a.AccountID}
}
