package postgres

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const reviewCols = "tenant_id, id, session_id, agent_id, kind, source, turn_seq, tool_name, excerpt, score, " +
	"categories, status, request_id, created_at, decided_by, decided_at"

func scanReview(row pgx.Row) (store.Review, error) {
	var r store.Review
	if err := row.Scan(&r.TenantID, &r.ID, &r.SessionID, &r.AgentID, &r.Kind, &r.Source, &r.TurnSeq, &r.ToolName,
		&r.Excerpt, &r.Score, &r.Categories, &r.Status, &r.RequestID, &r.CreatedAt, &r.DecidedBy, &r.DecidedAt); err != nil {
		return store.Review{}, err
	}
	// An empty array reads back as []string{}, never nil, as in SQLite.
	r.Categories = list(r.Categories)
	r.CreatedAt, r.DecidedAt = utc(r.CreatedAt), utcPtr(r.DecidedAt)
	return r, nil
}

// GetInjectionPolicy returns the tenant's policy.
func (s *Store) GetInjectionPolicy(ctx context.Context, tenantID string) (store.InjectionPolicy, error) {
	var (
		p   store.InjectionPolicy
		doc string
	)
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT tenant_id, doc, updated_by, updated_at FROM komand_injection_policies WHERE tenant_id = $1`, tenantID).
			QueryRow(func(row pgx.Row) error { return row.Scan(&p.TenantID, &doc, &p.UpdatedBy, &p.UpdatedAt) })
	})
	if err != nil {
		return store.InjectionPolicy{}, wrapErr("get injection policy", err)
	}
	p.Doc, p.UpdatedAt = []byte(doc), utc(p.UpdatedAt)
	return p, nil
}

// PutInjectionPolicy creates or replaces the tenant's policy.
func (s *Store) PutInjectionPolicy(ctx context.Context, p store.InjectionPolicy) error {
	err := s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_injection_policies (tenant_id, doc, updated_by, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET doc = excluded.doc,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			p.TenantID, string(p.Doc), p.UpdatedBy, p.UpdatedAt.UTC().Truncate(time.Microsecond))
		return err
	})
	return wrapErr("put injection policy", err)
}

// CreateReview stores a new review; a taken ID gives store.ErrConflict.
func (s *Store) CreateReview(ctx context.Context, r store.Review) error {
	var decided *time.Time
	if r.DecidedAt != nil {
		d := r.DecidedAt.UTC().Truncate(time.Microsecond)
		decided = &d
	}
	err := s.inTenant(ctx, r.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_injection_reviews (`+reviewCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`,
			r.TenantID, r.ID, r.SessionID, r.AgentID, r.Kind, r.Source, r.TurnSeq, r.ToolName, r.Excerpt, r.Score,
			list(r.Categories), r.Status, r.RequestID, r.CreatedAt.UTC().Truncate(time.Microsecond), r.DecidedBy, decided)
		return err
	})
	return wrapErr("create review", err)
}

// GetReview returns one review of the tenant.
func (s *Store) GetReview(ctx context.Context, tenantID, id string) (store.Review, error) {
	var r store.Review
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+reviewCols+` FROM komand_injection_reviews WHERE tenant_id = $1 AND id = $2`, tenantID, id).
			QueryRow(func(row pgx.Row) (err error) {
				r, err = scanReview(row)
				return err
			})
	})
	return r, wrapErr("get review", err)
}

// ListReviews returns one page of the tenant's reviews matching f, newest
// first, and the total.
func (s *Store) ListReviews(ctx context.Context, tenantID string, f store.ReviewFilter, p store.Page) ([]store.Review, int, error) {
	where, args := `tenant_id = $1`, []any{tenantID}
	if f.Status != "" {
		args = append(args, f.Status)
		where += ` AND status = $` + strconv.Itoa(len(args))
	}
	if f.SessionID != "" {
		args = append(args, f.SessionID)
		where += ` AND session_id = $` + strconv.Itoa(len(args))
	}
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list reviews", tenantID: tenantID, from: "komand_injection_reviews",
		cols: reviewCols, where: where, args: args, order: `created_at DESC, id COLLATE "C" DESC`,
		list: store.ReviewList, after: `(created_at, id COLLATE "C") < ($K1, $K2)`, key: []any{&at, &id}, micros: &at},
		p, scanReview)
}

// DecideReview moves a pending review to status in one statement, so of
// two decisions one wins and the other finds no pending row (under READ
// COMMITTED the second UPDATE waits for the first and then re-checks the
// row): store.ErrConflict when the review exists (decided already),
// store.ErrNotFound otherwise.
func (s *Store) DecideReview(ctx context.Context, tenantID, id, status, by string, at time.Time) (store.Review, error) {
	var r store.Review
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		r, err = scanReview(tx.QueryRow(ctx, `UPDATE komand_injection_reviews SET status = $3, decided_by = $4, decided_at = $5
			WHERE tenant_id = $1 AND id = $2 AND status = 'pending' RETURNING `+reviewCols,
			tenantID, id, status, by, at.UTC().Truncate(time.Microsecond)))
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		var exists bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM komand_injection_reviews WHERE tenant_id = $1 AND id = $2)`,
			tenantID, id).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrConflict
		}
		return store.ErrNotFound
	})
	if err != nil {
		return store.Review{}, wrapErr("decide review", err)
	}
	return r, nil
}

// SetTurnFlag sets the flag of one turn of a session (komand_app may update
// that column of a turn and no other).
func (s *Store) SetTurnFlag(ctx context.Context, tenantID, sessionID string, seq int64, flag string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE komand_session_turns SET flag = $4
			WHERE tenant_id = $1 AND session_id = $2 AND seq = $3`, tenantID, sessionID, seq, flag))
	})
	return wrapErr("set turn flag", err)
}
