package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const identityCols = "tenant_id, channel_account_id, external_id, user_id, created_by, created_at"

func scanIdentity(sc scanner) (store.ChannelIdentity, error) {
	var (
		i       store.ChannelIdentity
		created int64
	)
	if err := sc.Scan(&i.TenantID, &i.ChannelAccountID, &i.ExternalID, &i.UserID, &i.CreatedBy, &created); err != nil {
		return store.ChannelIdentity{}, err
	}
	i.CreatedAt = fromMicros(created)
	return i, nil
}

// CreateChannelIdentity stores a mapping of a platform user to a user of
// the same tenant.
func (s *Store) CreateChannelIdentity(ctx context.Context, i store.ChannelIdentity) error {
	return s.write(ctx, "create channel identity", func(tx txQuerier) error {
		var one int
		// Both rows in the tenant, or ErrNotFound (the foreign keys say
		// the same; these name the case).
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_channel_accounts WHERE tenant_id = ? AND id = ?`,
			i.TenantID, i.ChannelAccountID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_users WHERE tenant_id = ? AND id = ?`,
			i.TenantID, i.UserID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_channel_identities (`+identityCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
			i.TenantID, i.ChannelAccountID, i.ExternalID, i.UserID, i.CreatedBy, micros(i.CreatedAt))
		return err
	})
}

// ChannelIdentity returns one mapping.
func (s *Store) ChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) (store.ChannelIdentity, error) {
	i, err := scanIdentity(s.rq.QueryRowContext(ctx, `SELECT `+identityCols+` FROM komand_channel_identities
		WHERE tenant_id = ? AND channel_account_id = ? AND external_id = ?`, tenantID, channelAccountID, externalID))
	return i, wrap("channel identity", err)
}

// ListChannelIdentities returns an account's mappings by external ID.
func (s *Store) ListChannelIdentities(ctx context.Context, tenantID, channelAccountID string, limit int) ([]store.ChannelIdentity, error) {
	rows, err := s.rq.QueryContext(ctx, `SELECT `+identityCols+` FROM komand_channel_identities
		WHERE tenant_id = ? AND channel_account_id = ? ORDER BY external_id LIMIT ?`, tenantID, channelAccountID, limit)
	if err != nil {
		return nil, wrap("list channel identities", err)
	}
	defer rows.Close()
	out := []store.ChannelIdentity{}
	for rows.Next() {
		i, err := scanIdentity(rows)
		if err != nil {
			return nil, wrap("list channel identities", err)
		}
		out = append(out, i)
	}
	return out, wrap("list channel identities", rows.Err())
}

// DeleteChannelIdentity removes one mapping.
func (s *Store) DeleteChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) error {
	return s.write(ctx, "delete channel identity", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_channel_identities
			WHERE tenant_id = ? AND channel_account_id = ? AND external_id = ?`, tenantID, channelAccountID, externalID))
	})
}

const reviewCallbackCols = "tenant_id, token_hash, review_id, channel_account_id, created_at, expires_at, used_at"

// CreateReviewCallback stores a review button's token hash.
func (s *Store) CreateReviewCallback(ctx context.Context, c store.ReviewCallback) error {
	return s.write(ctx, "create review callback", func(tx txQuerier) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_injection_reviews WHERE tenant_id = ? AND id = ?`,
			c.TenantID, c.ReviewID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_channel_accounts WHERE tenant_id = ? AND id = ?`,
			c.TenantID, c.ChannelAccountID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_review_callbacks (`+reviewCallbackCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			c.TenantID, c.TokenHash, c.ReviewID, c.ChannelAccountID, micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.UsedAt))
		return err
	})
}

// SpendReviewCallback spends an unspent, unexpired callback of the account
// once.
func (s *Store) SpendReviewCallback(ctx context.Context, tenantID, channelAccountID, tokenHash string, now time.Time) (store.ReviewCallback, error) {
	var c store.ReviewCallback
	err := s.write(ctx, "spend review callback", func(tx txQuerier) error {
		var created, expires int64
		var used sql.NullInt64
		err := tx.QueryRowContext(ctx, `UPDATE komand_review_callbacks SET used_at = ?
			WHERE tenant_id = ? AND token_hash = ? AND channel_account_id = ? AND used_at IS NULL AND expires_at > ?
			RETURNING `+reviewCallbackCols, micros(now), tenantID, tokenHash, channelAccountID, micros(now)).
			Scan(&c.TenantID, &c.TokenHash, &c.ReviewID, &c.ChannelAccountID, &created, &expires, &used)
		c.CreatedAt, c.ExpiresAt, c.UsedAt = fromMicros(created), fromMicros(expires), fromNullMicros(used)
		return err
	})
	return c, wrap("spend review callback", err)
}
