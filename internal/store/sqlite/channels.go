package sqlite

import (
	"context"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const channelAccountCols = "tenant_id, id, channel, account_id, agent_id, secret_credential_id, token_credential_id, created_by, created_at, updated_at, allow_commands, slack_team_id, review_destination"

func scanChannelAccount(sc scanner) (store.ChannelAccount, error) {
	var (
		a                store.ChannelAccount
		created, updated int64
		allow            int
	)
	if err := sc.Scan(&a.TenantID, &a.ID, &a.Channel, &a.AccountID, &a.AgentID, &a.SecretCredentialID, &a.TokenCredentialID, &a.CreatedBy,
		&created, &updated, &allow, &a.SlackTeamID, &a.ReviewDestination); err != nil {
		return store.ChannelAccount{}, err
	}
	a.CreatedAt, a.UpdatedAt = fromMicros(created), fromMicros(updated)
	a.AllowCommands = allow != 0
	return a, nil
}

// CreateChannelAccount stores a channel account.
func (s *Store) CreateChannelAccount(ctx context.Context, a store.ChannelAccount) error {
	return s.write(ctx, "create channel account", func(tx txQuerier) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`,
			a.TenantID, a.AgentID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_channel_accounts (`+channelAccountCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, a.TenantID, a.ID, a.Channel, a.AccountID, a.AgentID,
			a.SecretCredentialID, a.TokenCredentialID, a.CreatedBy, micros(a.CreatedAt), micros(a.UpdatedAt), boolInt(a.AllowCommands),
			a.SlackTeamID, a.ReviewDestination)
		return err
	})
}

// GetChannelAccount returns one account of the tenant.
func (s *Store) GetChannelAccount(ctx context.Context, tenantID, id string) (store.ChannelAccount, error) {
	a, err := scanChannelAccount(s.rq.QueryRowContext(ctx, `SELECT `+channelAccountCols+`
		FROM komand_channel_accounts WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return a, wrap("get channel account", err)
}

// ChannelAccountByKey returns the account of a channel by account ID.
func (s *Store) ChannelAccountByKey(ctx context.Context, tenantID, channel, accountID string) (store.ChannelAccount, error) {
	a, err := scanChannelAccount(s.rq.QueryRowContext(ctx, `SELECT `+channelAccountCols+`
		FROM komand_channel_accounts WHERE tenant_id = ? AND channel = ? AND account_id = ?`, tenantID, channel, accountID))
	return a, wrap("channel account by key", err)
}

// ListChannelAccounts returns one page of the tenant's accounts.
func (s *Store) ListChannelAccounts(ctx context.Context, tenantID string, p store.Page) ([]store.ChannelAccount, int, error) {
	var channel, account string
	return listPage(ctx, s, listQuery{op: "list channel accounts", tenantID: tenantID, from: "komand_channel_accounts",
		cols: channelAccountCols, where: "tenant_id = ?", args: []any{tenantID}, order: "channel, account_id",
		list: store.ChannelAccountList, after: "(channel, account_id) > (?, ?)", key: []any{&channel, &account}}, p, scanChannelAccount)
}

// DeleteChannelAccount removes an account.
func (s *Store) DeleteChannelAccount(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, "delete channel account", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_channel_accounts WHERE tenant_id = ? AND id = ?`, tenantID, id))
	})
}

// UpdateChannelAccount replaces an account's mutable fields.
func (s *Store) UpdateChannelAccount(ctx context.Context, a store.ChannelAccount) error {
	return s.write(ctx, "update channel account", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_channel_accounts SET allow_commands = ?, slack_team_id = ?,
			review_destination = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`, boolInt(a.AllowCommands), a.SlackTeamID,
			a.ReviewDestination, micros(a.UpdatedAt), a.TenantID, a.ID))
	})
}

// TenantIDByChannelAccount returns the tenant of an account ID.
func (s *Store) TenantIDByChannelAccount(ctx context.Context, id string) (string, error) {
	var t string
	err := s.rq.QueryRowContext(ctx, `SELECT tenant_id FROM komand_channel_accounts WHERE id = ?`, id).Scan(&t)
	return t, wrap("tenant by channel account", err)
}

// MarkWebhookSeen records a delivery's signature; a repeat is ErrConflict.
func (s *Store) MarkWebhookSeen(ctx context.Context, tenantID, accountID, signature string, now, expiresAt time.Time) error {
	return s.write(ctx, "mark webhook seen", func(tx txQuerier) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM komand_webhook_seen
			WHERE tenant_id = ? AND account_id = ? AND expires_at <= ?`, tenantID, accountID, micros(now)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_webhook_seen (tenant_id, account_id, signature, expires_at)
			VALUES (?, ?, ?, ?)`, tenantID, accountID, signature, micros(expiresAt))
		return err
	})
}
