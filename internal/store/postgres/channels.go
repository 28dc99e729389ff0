package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const channelAccountCols = "tenant_id, id, channel, account_id, agent_id, secret_credential_id, token_credential_id, created_by, created_at, updated_at, allow_commands, slack_team_id, review_destination"

func scanChannelAccount(r pgx.Row) (store.ChannelAccount, error) {
	var a store.ChannelAccount
	if err := r.Scan(&a.TenantID, &a.ID, &a.Channel, &a.AccountID, &a.AgentID, &a.SecretCredentialID, &a.TokenCredentialID, &a.CreatedBy,
		&a.CreatedAt, &a.UpdatedAt, &a.AllowCommands, &a.SlackTeamID, &a.ReviewDestination); err != nil {
		return store.ChannelAccount{}, err
	}
	a.CreatedAt, a.UpdatedAt = utc(a.CreatedAt), utc(a.UpdatedAt)
	return a, nil
}

// CreateChannelAccount stores a channel account.
func (s *Store) CreateChannelAccount(ctx context.Context, a store.ChannelAccount) error {
	err := s.inTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_channel_accounts (`+channelAccountCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, a.TenantID, a.ID, a.Channel, a.AccountID, a.AgentID,
			a.SecretCredentialID, a.TokenCredentialID, a.CreatedBy, a.CreatedAt, a.UpdatedAt, a.AllowCommands,
			a.SlackTeamID, a.ReviewDestination)
		return err
	})
	return wrapErr("create channel account", err)
}

// UpdateChannelAccount replaces an account's mutable fields.
func (s *Store) UpdateChannelAccount(ctx context.Context, a store.ChannelAccount) error {
	err := s.inTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE komand_channel_accounts SET allow_commands = $3, slack_team_id = $4,
			review_destination = $5, updated_at = $6 WHERE tenant_id = $1 AND id = $2`, a.TenantID, a.ID, a.AllowCommands,
			a.SlackTeamID, a.ReviewDestination, a.UpdatedAt))
	})
	return wrapErr("update channel account", err)
}

func (s *Store) oneChannelAccount(ctx context.Context, op, tenantID, where string, args ...any) (store.ChannelAccount, error) {
	var a store.ChannelAccount
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+channelAccountCols+` FROM komand_channel_accounts WHERE tenant_id = $1 AND `+where,
			append([]any{tenantID}, args...)...).
			QueryRow(func(row pgx.Row) (err error) {
				a, err = scanChannelAccount(row)
				return err
			})
	})
	return a, wrapErr(op, err)
}

// GetChannelAccount returns one account of the tenant.
func (s *Store) GetChannelAccount(ctx context.Context, tenantID, id string) (store.ChannelAccount, error) {
	return s.oneChannelAccount(ctx, "get channel account", tenantID, "id = $2", id)
}

// ChannelAccountByKey returns the account of a channel by account ID.
func (s *Store) ChannelAccountByKey(ctx context.Context, tenantID, channel, accountID string) (store.ChannelAccount, error) {
	return s.oneChannelAccount(ctx, "channel account by key", tenantID, "channel = $2 AND account_id = $3", channel, accountID)
}

// ListChannelAccounts returns one page of the tenant's accounts.
func (s *Store) ListChannelAccounts(ctx context.Context, tenantID string, p store.Page) ([]store.ChannelAccount, int, error) {
	var channel, account string
	return listPage(ctx, s, listQuery{op: "list channel accounts", tenantID: tenantID, from: "komand_channel_accounts",
		cols: channelAccountCols, where: "tenant_id = $1", args: []any{tenantID},
		order: `channel COLLATE "C", account_id COLLATE "C"`, list: store.ChannelAccountList,
		after: `(channel COLLATE "C", account_id COLLATE "C") > ($K1, $K2)`, key: []any{&channel, &account}},
		p, scanChannelAccount)
}

// DeleteChannelAccount removes an account.
func (s *Store) DeleteChannelAccount(ctx context.Context, tenantID, id string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_channel_accounts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	})
	return wrapErr("delete channel account", err)
}

// TenantIDByChannelAccount returns the tenant of an account ID through the
// SECURITY DEFINER function komand_tenant_for_channel_account.
func (s *Store) TenantIDByChannelAccount(ctx context.Context, id string) (string, error) {
	return s.tenantLookup(ctx, "tenant by channel account", "SELECT komand_tenant_for_channel_account($1)", id)
}

// MarkWebhookSeen records a delivery's signature; a repeat is ErrConflict.
func (s *Store) MarkWebhookSeen(ctx context.Context, tenantID, accountID, signature string, now, expiresAt time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `DELETE FROM komand_webhook_seen
			WHERE tenant_id = $1 AND account_id = $2 AND expires_at <= $3`, tenantID, accountID, now); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_webhook_seen (tenant_id, account_id, signature, expires_at)
			VALUES ($1, $2, $3, $4)`, tenantID, accountID, signature, expiresAt)
		return err
	})
	return wrapErr("mark webhook seen", err)
}
