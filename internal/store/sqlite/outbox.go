package sqlite

import (
	"cmp"
	"context"
	"slices"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const deliveryCols = "tenant_id, id, channel, channel_account_id, agent_id, session_id, message_id, request_id, payload, attempts, " +
	"next_attempt_at, lease_token, lease_until, last_error_class, created_at"

func scanDelivery(sc scanner) (store.Delivery, error) {
	var (
		d                   store.Delivery
		next, lease, create int64
	)
	if err := sc.Scan(&d.TenantID, &d.ID, &d.Channel, &d.ChannelAccountID, &d.AgentID, &d.SessionID, &d.MessageID, &d.RequestID, &d.Payload,
		&d.Attempts, &next, &d.LeaseToken, &lease, &d.LastErrorClass, &create); err != nil {
		return store.Delivery{}, err
	}
	d.NextAttemptAt, d.LeaseUntil, d.CreatedAt = fromMicros(next), fromMicros(lease), fromMicros(create)
	return d, nil
}

// EnqueueDelivery stores a delivery claimed by its creator.
func (s *Store) EnqueueDelivery(ctx context.Context, d store.Delivery) error {
	return s.write(ctx, "enqueue delivery", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_outbox (`+deliveryCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, d.TenantID, d.ID, d.Channel, d.ChannelAccountID, d.AgentID,
			d.SessionID, d.MessageID, d.RequestID, d.Payload, d.Attempts, micros(d.NextAttemptAt), d.LeaseToken, micros(d.LeaseUntil),
			d.LastErrorClass, micros(d.CreatedAt))
		return err
	})
}

// DueDeliveryTenants returns the tenants with a delivery due at now.
func (s *Store) DueDeliveryTenants(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.rq.QueryContext(ctx, `SELECT tenant_id FROM komand_outbox
		WHERE next_attempt_at <= ? AND lease_until <= ?
		GROUP BY tenant_id ORDER BY min(next_attempt_at), tenant_id LIMIT ?`, micros(now), micros(now), limit)
	if err != nil {
		return nil, wrap("due delivery tenants", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, wrap("due delivery tenants", err)
		}
		out = append(out, t)
	}
	return out, wrap("due delivery tenants", rows.Err())
}

// ClaimDeliveries leases the tenant's due deliveries to token. The write
// transaction (BEGIN IMMEDIATE) makes the claim atomic, also between two
// processes on one file.
func (s *Store) ClaimDeliveries(ctx context.Context, tenantID, token string, now, leaseUntil time.Time, limit int) ([]store.Delivery, error) {
	var out []store.Delivery
	err := s.write(ctx, "claim deliveries", func(tx txQuerier) error {
		rows, err := tx.QueryContext(ctx, `UPDATE komand_outbox SET attempts = attempts + 1, lease_token = ?, lease_until = ?
			WHERE tenant_id = ? AND id IN (SELECT id FROM komand_outbox
				WHERE tenant_id = ? AND next_attempt_at <= ? AND lease_until <= ?
				ORDER BY next_attempt_at, id LIMIT ?)
			RETURNING `+deliveryCols, token, micros(leaseUntil), tenantID, tenantID, micros(now), micros(now), limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			d, err := scanDelivery(rows)
			if err != nil {
				return err
			}
			out = append(out, d)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	// RETURNING gives no order: the claim's is the longest waiting first.
	slices.SortFunc(out, func(a, b store.Delivery) int {
		return cmp.Or(a.NextAttemptAt.Compare(b.NextAttemptAt), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// RetryDelivery releases token's lease and schedules the next attempt.
func (s *Store) RetryDelivery(ctx context.Context, tenantID, id, token string, next time.Time, errClass string) error {
	return s.write(ctx, "retry delivery", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_outbox
			SET next_attempt_at = ?, lease_token = '', lease_until = 0, last_error_class = ?
			WHERE tenant_id = ? AND id = ? AND lease_token = ? AND lease_token <> ''`,
			micros(next), errClass, tenantID, id, token))
	})
}

// RemoveDelivery deletes a delivery token holds.
func (s *Store) RemoveDelivery(ctx context.Context, tenantID, id, token string) error {
	return s.write(ctx, "remove delivery", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_outbox
			WHERE tenant_id = ? AND id = ? AND lease_token = ? AND lease_token <> ''`, tenantID, id, token))
	})
}
