package postgres

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const deliveryCols = "tenant_id, id, channel, channel_account_id, agent_id, session_id, message_id, request_id, payload, attempts, " +
	"next_attempt_at, lease_token, lease_until, last_error_class, created_at"

// deliveryColsO is deliveryCols qualified by the alias o (the claim's
// UPDATE … FROM also has an id).
var deliveryColsO = "o." + strings.ReplaceAll(deliveryCols, ", ", ", o.")

func scanDelivery(r pgx.Row) (store.Delivery, error) {
	var d store.Delivery
	if err := r.Scan(&d.TenantID, &d.ID, &d.Channel, &d.ChannelAccountID, &d.AgentID, &d.SessionID, &d.MessageID, &d.RequestID, &d.Payload,
		&d.Attempts, &d.NextAttemptAt, &d.LeaseToken, &d.LeaseUntil, &d.LastErrorClass, &d.CreatedAt); err != nil {
		return store.Delivery{}, err
	}
	d.NextAttemptAt, d.LeaseUntil, d.CreatedAt = utc(d.NextAttemptAt), utc(d.LeaseUntil), utc(d.CreatedAt)
	return d, nil
}

// EnqueueDelivery stores a delivery claimed by its creator.
func (s *Store) EnqueueDelivery(ctx context.Context, d store.Delivery) error {
	err := s.inTenant(ctx, d.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_outbox (`+deliveryCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`, d.TenantID, d.ID, d.Channel,
			d.ChannelAccountID, d.AgentID, d.SessionID, d.MessageID, d.RequestID, d.Payload, d.Attempts, d.NextAttemptAt,
			d.LeaseToken, d.LeaseUntil, d.LastErrorClass, d.CreatedAt)
		return err
	})
	return wrapErr("enqueue delivery", err)
}

// DueDeliveryTenants returns the tenants with a delivery due at now,
// through the SECURITY DEFINER function komand_outbox_due_tenants (the
// worker has no tenant to set yet).
func (s *Store) DueDeliveryTenants(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT komand_outbox_due_tenants($1, $2)`, now, limit)
	if err != nil {
		return nil, wrapErr("due delivery tenants", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return out, wrapErr("due delivery tenants", err)
}

// ClaimDeliveries leases the tenant's due deliveries to token. FOR UPDATE
// SKIP LOCKED lets replicas claim at once without waiting on each other;
// a row another transaction is claiming is skipped, and one it has
// claimed is no longer due when re-checked.
func (s *Store) ClaimDeliveries(ctx context.Context, tenantID, token string, now, leaseUntil time.Time, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `WITH due AS (
				SELECT id FROM komand_outbox
				WHERE tenant_id = $1 AND next_attempt_at <= $2 AND lease_until <= $2
				ORDER BY next_attempt_at, id COLLATE "C" LIMIT $3
				FOR UPDATE SKIP LOCKED)
			UPDATE komand_outbox o SET attempts = o.attempts + 1, lease_token = $4, lease_until = $5
			FROM due WHERE o.tenant_id = $1 AND o.id = due.id
			RETURNING `+deliveryColsO, tenantID, now, limit, token, leaseUntil)
		if err != nil {
			return err
		}
		out, err = pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Delivery, error) { return scanDelivery(r) })
		return err
	})
	if err != nil {
		return nil, wrapErr("claim deliveries", err)
	}
	// RETURNING gives no order: the claim's is the longest waiting first.
	slices.SortFunc(out, func(a, b store.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RetryDelivery releases token's lease and schedules the next attempt.
func (s *Store) RetryDelivery(ctx context.Context, tenantID, id, token string, next time.Time, errClass string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE komand_outbox
			SET next_attempt_at = $4, lease_token = '', lease_until = 'epoch', last_error_class = $5
			WHERE tenant_id = $1 AND id = $2 AND lease_token = $3 AND lease_token <> ''`,
			tenantID, id, token, next, errClass))
	})
	return wrapErr("retry delivery", err)
}

// RemoveDelivery deletes a delivery token holds.
func (s *Store) RemoveDelivery(ctx context.Context, tenantID, id, token string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_outbox
			WHERE tenant_id = $1 AND id = $2 AND lease_token = $3 AND lease_token <> ''`, tenantID, id, token))
	})
	return wrapErr("remove delivery", err)
}
