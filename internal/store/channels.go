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
	// SlackTeamID is a Slack account's workspace (team ID, "T…"), when
	// an Admin set it: member mappings apply only to events of that team.
	SlackTeamID string
	// ReviewDestination is where reviews held in the account's sessions
	// are posted for Admin approval from Slack or Telegram (a Slack
	// channel ID or Telegram chat ID; "" when off).
	ReviewDestination string
	CreatedBy         string
	CreatedAt         time.Time
	UpdatedAt         time.Time
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
	// (AllowCommands, SlackTeamID, ReviewDestination, UpdatedAt); an
	// unknown account gives ErrNotFound.
	UpdateChannelAccount(ctx context.Context, a ChannelAccount) error
	// TenantIDByChannelAccount returns the tenant of an account ID (an
	// inbound webhook names only its account); ErrNotFound when unknown.
	TenantIDByChannelAccount(ctx context.Context, id string) (string, error)
	// MarkWebhookSeen records a delivery's signature for an account until
	// expiresAt, and gives ErrConflict when it was seen before (a
	// replay). Entries expired at now are dropped.
	MarkWebhookSeen(ctx context.Context, tenantID, accountID, signature string, now, expiresAt time.Time) error

	// CreateChannelIdentity stores a mapping; a taken (account, external
	// ID) gives ErrConflict, an unknown account or user of the tenant
	// ErrNotFound.
	CreateChannelIdentity(ctx context.Context, i ChannelIdentity) error
	// ChannelIdentity returns the mapping of externalID on an account.
	ChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) (ChannelIdentity, error)
	// ListChannelIdentities returns an account's mappings ordered by
	// external ID (at most limit).
	ListChannelIdentities(ctx context.Context, tenantID, channelAccountID string, limit int) ([]ChannelIdentity, error)
	// DeleteChannelIdentity removes a mapping; ErrNotFound when absent.
	DeleteChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) error

	// CreateReviewCallback stores a review button's token hash.
	CreateReviewCallback(ctx context.Context, c ReviewCallback) error
	// SpendReviewCallback marks the unspent, unexpired callback of
	// tokenHash on channelAccountID spent at now and returns it; anything
	// else (unknown, spent, expired, another account's) is ErrNotFound.
	// Of two spends at once, one wins.
	SpendReviewCallback(ctx context.Context, tenantID, channelAccountID, tokenHash string, now time.Time) (ReviewCallback, error)
}

// ChannelIdentity maps a platform user of a channel account (a Slack
// member's user ID, a Telegram user's numeric ID) to a Komand user of the
// same tenant. It is deleted with its account.
type ChannelIdentity struct {
	TenantID         string
	ChannelAccountID string // the account's ID (ChannelAccount.ID)
	ExternalID       string
	UserID           string
	CreatedBy        string
	CreatedAt        time.Time
}

// ReviewCallback is the single-use token of the Approve / Reject buttons
// of a review posted to a channel account's review destination. Only the
// token's hash (bound to the button's action) is stored.
type ReviewCallback struct {
	TenantID         string
	TokenHash        string
	ReviewID         string
	ChannelAccountID string
	CreatedAt        time.Time
	ExpiresAt        time.Time
	UsedAt           *time.Time
}

// PageKey is the account's position in ChannelAccountList.
func (a ChannelAccount) PageKey() (List, []any) {
	return ChannelAccountList, []any{a.Channel, a.AccountID}
}
