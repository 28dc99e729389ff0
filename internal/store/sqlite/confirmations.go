package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const confirmationCols = "tenant_id, id, session_id, agent_id, user_id, turn_seq, call_hash, code_hash, tool_names, " +
	"attempts, status, request_id, created_at, expires_at, closed_at"

func scanConfirmation(sc scanner) (store.Confirmation, error) {
	var (
		c                store.Confirmation
		created, expires int64
		closed           sql.NullInt64
	)
	if err := sc.Scan(&c.TenantID, &c.ID, &c.SessionID, &c.AgentID, &c.UserID, &c.TurnSeq, &c.CallHash, &c.CodeHash,
		&c.ToolNames, &c.Attempts, &c.Status, &c.RequestID, &created, &expires, &closed); err != nil {
		return store.Confirmation{}, err
	}
	c.CreatedAt, c.ExpiresAt, c.ClosedAt = fromMicros(created), fromMicros(expires), fromNullMicros(closed)
	return c, nil
}

// CreateConfirmation stores a pending confirmation, cancelling the
// session's earlier pending one in the same transaction.
func (s *Store) CreateConfirmation(ctx context.Context, c store.Confirmation) error {
	return s.write(ctx, "create confirmation", func(tx txQuerier) error {
		if _, err := tx.ExecContext(ctx, `UPDATE komand_tool_confirmations SET status = 'cancelled', closed_at = ?
			WHERE tenant_id = ? AND session_id = ? AND status = 'pending'`, micros(c.CreatedAt), c.TenantID, c.SessionID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_tool_confirmations (`+confirmationCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.TenantID, c.ID, c.SessionID, c.AgentID, c.UserID, c.TurnSeq, c.CallHash, c.CodeHash, c.ToolNames,
			c.Attempts, c.Status, c.RequestID, micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.ClosedAt))
		return err
	})
}

// PendingConfirmation returns the session's pending confirmation.
func (s *Store) PendingConfirmation(ctx context.Context, tenantID, sessionID string) (store.Confirmation, error) {
	c, err := scanConfirmation(s.rq.QueryRowContext(ctx, `SELECT `+confirmationCols+` FROM komand_tool_confirmations
		WHERE tenant_id = ? AND session_id = ? AND status = 'pending'`, tenantID, sessionID))
	return c, wrap("pending confirmation", err)
}

// notPending tells a confirmation that is no longer pending (ErrConflict)
// from a missing one (ErrNotFound), after a conditional update matched
// nothing.
func notPending(ctx context.Context, tx txQuerier, tenantID, id string) error {
	var exists bool
	if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM komand_tool_confirmations
		WHERE tenant_id = ? AND id = ?)`, tenantID, id).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return store.ErrConflict
	}
	return store.ErrNotFound
}

// ConsumeConfirmation confirms a pending, unexpired confirmation once.
func (s *Store) ConsumeConfirmation(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.write(ctx, "consume confirmation", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx, `UPDATE komand_tool_confirmations SET status = 'confirmed', closed_at = ?
			WHERE tenant_id = ? AND id = ? AND status = 'pending' AND expires_at > ?`, micros(at), tenantID, id, micros(at))
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
}

// FailConfirmation counts a refused attempt, cancelling at maxAttempts.
func (s *Store) FailConfirmation(ctx context.Context, tenantID, id string, maxAttempts int, at time.Time) (store.Confirmation, error) {
	var c store.Confirmation
	err := s.write(ctx, "fail confirmation", func(tx txQuerier) error {
		var err error
		c, err = scanConfirmation(tx.QueryRowContext(ctx, `UPDATE komand_tool_confirmations
			SET attempts = attempts + 1,
			    status = CASE WHEN attempts + 1 >= ? THEN 'cancelled' ELSE 'pending' END,
			    closed_at = CASE WHEN attempts + 1 >= ? THEN ? ELSE NULL END
			WHERE tenant_id = ? AND id = ? AND status = 'pending'
			RETURNING `+confirmationCols, maxAttempts, maxAttempts, micros(at), tenantID, id))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
	if err != nil {
		return store.Confirmation{}, err
	}
	return c, nil
}

// CloseConfirmation moves a pending confirmation to status.
func (s *Store) CloseConfirmation(ctx context.Context, tenantID, id, status string, at time.Time) error {
	return s.write(ctx, "close confirmation", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx, `UPDATE komand_tool_confirmations SET status = ?, closed_at = ?
			WHERE tenant_id = ? AND id = ? AND status = 'pending'`, status, micros(at), tenantID, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		return notPending(ctx, tx, tenantID, id)
	})
}
