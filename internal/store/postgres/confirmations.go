package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const confirmationCols = "tenant_id, id, session_id, agent_id, user_id, turn_seq, call_hash, code_hash, tool_names, " +
	"attempts, status, request_id, created_at, expires_at, closed_at"

func scanConfirmation(row pgx.Row) (store.Confirmation, error) {
	var c store.Confirmation
	if err := row.Scan(&c.TenantID, &c.ID, &c.SessionID, &c.AgentID, &c.UserID, &c.TurnSeq, &c.CallHash, &c.CodeHash,
		&c.ToolNames, &c.Attempts, &c.Status, &c.RequestID, &c.CreatedAt, &c.ExpiresAt, &c.ClosedAt); err != nil {
		return store.Confirmation{}, err
	}
	c.CreatedAt, c.ExpiresAt, c.ClosedAt = utc(c.CreatedAt), utc(c.ExpiresAt), utcPtr(c.ClosedAt)
	return c, nil
}

func micro(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

// CreateConfirmation stores a pending confirmation, cancelling the
// session's earlier pending one in the same transaction.
func (s *Store) CreateConfirmation(ctx context.Context, c store.Confirmation) error {
	var closed *time.Time
	if c.ClosedAt != nil {
		t := micro(*c.ClosedAt)
		closed = &t
	}
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `UPDATE komand_tool_confirmations SET status = 'cancelled', closed_at = $3
			WHERE tenant_id = $1 AND session_id = $2 AND status = 'pending'`, c.TenantID, c.SessionID, micro(c.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_tool_confirmations (`+confirmationCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
			c.TenantID, c.ID, c.SessionID, c.AgentID, c.UserID, c.TurnSeq, c.CallHash, c.CodeHash, c.ToolNames,
			c.Attempts, c.Status, c.RequestID, micro(c.CreatedAt), micro(c.ExpiresAt), closed)
		return err
	})
	return wrapErr("create confirmation", err)
}

// PendingConfirmation returns the session's pending confirmation.
func (s *Store) PendingConfirmation(ctx context.Context, tenantID, sessionID string) (store.Confirmation, error) {
	var c store.Confirmation
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+confirmationCols+` FROM komand_tool_confirmations
			WHERE tenant_id = $1 AND session_id = $2 AND status = 'pending'`, tenantID, sessionID).
			QueryRow(func(row pgx.Row) (err error) {
				c, err = scanConfirmation(row)
				return err
			})
	})
	return c, wrapErr("pending confirmation", err)
}

// notPending tells a confirmation that is no longer pending (ErrConflict)
// from a missing one (ErrNotFound), after a conditional update matched
// nothing (under READ COMMITTED a concurrent update is waited for and the
// row re-checked, so of two uses one wins).
func notPending(ctx context.Context, tx pgx.Tx, tenantID, id string) error {
	var exists bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM komand_tool_confirmations WHERE tenant_id = $1 AND id = $2)`,
		tenantID, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return store.ErrConflict
	}
	return store.ErrNotFound
}

// ConsumeConfirmation confirms a pending, unexpired confirmation once.
func (s *Store) ConsumeConfirmation(ctx context.Context, tenantID, id string, at time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE komand_tool_confirmations SET status = 'confirmed', closed_at = $3
			WHERE tenant_id = $1 AND id = $2 AND status = 'pending' AND expires_at > $3`, tenantID, id, micro(at))
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
	return wrapErr("consume confirmation", err)
}

// FailConfirmation counts a refused attempt, cancelling at maxAttempts.
func (s *Store) FailConfirmation(ctx context.Context, tenantID, id string, maxAttempts int, at time.Time) (store.Confirmation, error) {
	var c store.Confirmation
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		c, err = scanConfirmation(tx.QueryRow(ctx, `UPDATE komand_tool_confirmations
			SET attempts = attempts + 1,
			    status = CASE WHEN attempts + 1 >= $3 THEN 'cancelled' ELSE 'pending' END,
			    closed_at = CASE WHEN attempts + 1 >= $3 THEN $4::timestamptz ELSE NULL END
			WHERE tenant_id = $1 AND id = $2 AND status = 'pending'
			RETURNING `+confirmationCols, tenantID, id, maxAttempts, micro(at)))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
	if err != nil {
		return store.Confirmation{}, wrapErr("fail confirmation", err)
	}
	return c, nil
}

// CloseConfirmation moves a pending confirmation to status.
func (s *Store) CloseConfirmation(ctx context.Context, tenantID, id, status string, at time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE komand_tool_confirmations SET status = $3, closed_at = $4
			WHERE tenant_id = $1 AND id = $2 AND status = 'pending'`, tenantID, id, status, micro(at))
		if err != nil || tag.RowsAffected() > 0 {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
	return wrapErr("close confirmation", err)
}
