package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const identityCols = "tenant_id, channel_account_id, external_id, user_id, created_by, created_at"

func scanIdentity(r pgx.Row) (store.ChannelIdentity, error) {
	var i store.ChannelIdentity
	if err := r.Scan(&i.TenantID, &i.ChannelAccountID, &i.ExternalID, &i.UserID, &i.CreatedBy, &i.CreatedAt); err != nil {
		return store.ChannelIdentity{}, err
	}
	i.CreatedAt = utc(i.CreatedAt)
	return i, nil
}

// CreateChannelIdentity stores a mapping of a platform user to a user of
// the same tenant (the foreign keys, under row-level security, refuse an
// account or user of another tenant: ErrNotFound).
func (s *Store) CreateChannelIdentity(ctx context.Context, i store.ChannelIdentity) error {
	err := s.inTenant(ctx, i.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_channel_identities (`+identityCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			i.TenantID, i.ChannelAccountID, i.ExternalID, i.UserID, i.CreatedBy, micro(i.CreatedAt))
		return err
	})
	return wrapErr("create channel identity", err)
}

// ChannelIdentity returns one mapping.
func (s *Store) ChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) (store.ChannelIdentity, error) {
	var i store.ChannelIdentity
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+identityCols+` FROM komand_channel_identities
			WHERE tenant_id = $1 AND channel_account_id = $2 AND external_id = $3`, tenantID, channelAccountID, externalID).
			QueryRow(func(row pgx.Row) (err error) {
				i, err = scanIdentity(row)
				return err
			})
	})
	return i, wrapErr("channel identity", err)
}

// ListChannelIdentities returns an account's mappings by external ID.
func (s *Store) ListChannelIdentities(ctx context.Context, tenantID, channelAccountID string, limit int) ([]store.ChannelIdentity, error) {
	out := []store.ChannelIdentity{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+identityCols+` FROM komand_channel_identities
			WHERE tenant_id = $1 AND channel_account_id = $2 ORDER BY external_id COLLATE "C" LIMIT $3`, tenantID, channelAccountID, limit).
			Query(func(rows pgx.Rows) error {
				for rows.Next() {
					i, err := scanIdentity(rows)
					if err != nil {
						return err
					}
					out = append(out, i)
				}
				return rows.Err()
			})
	})
	if err != nil {
		return nil, wrapErr("list channel identities", err)
	}
	return out, nil
}

// DeleteChannelIdentity removes one mapping.
func (s *Store) DeleteChannelIdentity(ctx context.Context, tenantID, channelAccountID, externalID string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_channel_identities
			WHERE tenant_id = $1 AND channel_account_id = $2 AND external_id = $3`, tenantID, channelAccountID, externalID))
	})
	return wrapErr("delete channel identity", err)
}

const reviewCallbackCols = "tenant_id, token_hash, review_id, channel_account_id, created_at, expires_at, used_at"

// CreateReviewCallback stores a review button's token hash.
func (s *Store) CreateReviewCallback(ctx context.Context, c store.ReviewCallback) error {
	var used *time.Time
	if c.UsedAt != nil {
		t := micro(*c.UsedAt)
		used = &t
	}
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_review_callbacks (`+reviewCallbackCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			c.TenantID, c.TokenHash, c.ReviewID, c.ChannelAccountID, micro(c.CreatedAt), micro(c.ExpiresAt), used)
		return err
	})
	return wrapErr("create review callback", err)
}

// SpendReviewCallback spends an unspent, unexpired callback of the account
// once (one conditional update: of two spends at once, one wins).
func (s *Store) SpendReviewCallback(ctx context.Context, tenantID, channelAccountID, tokenHash string, now time.Time) (store.ReviewCallback, error) {
	var c store.ReviewCallback
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, `UPDATE komand_review_callbacks SET used_at = $5
			WHERE tenant_id = $1 AND token_hash = $2 AND channel_account_id = $3 AND used_at IS NULL AND expires_at > $4
			RETURNING `+reviewCallbackCols, tenantID, tokenHash, channelAccountID, now, micro(now)).
			Scan(&c.TenantID, &c.TokenHash, &c.ReviewID, &c.ChannelAccountID, &c.CreatedAt, &c.ExpiresAt, &c.UsedAt)
	})
	c.CreatedAt, c.ExpiresAt, c.UsedAt = utc(c.CreatedAt), utc(c.ExpiresAt), utcPtr(c.UsedAt)
	return c, wrapErr("spend review callback", err)
}
