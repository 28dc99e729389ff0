package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

const reviewCols = "tenant_id, id, session_id, agent_id, kind, source, turn_seq, tool_name, excerpt, score, " +
	"categories, status, request_id, created_at, decided_by, decided_at"

func scanReview(sc scanner) (store.Review, error) {
	var (
		r       store.Review
		cats    string
		created int64
		decided sql.NullInt64
	)
	if err := sc.Scan(&r.TenantID, &r.ID, &r.SessionID, &r.AgentID, &r.Kind, &r.Source, &r.TurnSeq, &r.ToolName,
		&r.Excerpt, &r.Score, &cats, &r.Status, &r.RequestID, &created, &r.DecidedBy, &decided); err != nil {
		return store.Review{}, err
	}
	var err error
	if r.Categories, err = decodeList(cats); err != nil {
		return store.Review{}, err
	}
	r.CreatedAt, r.DecidedAt = fromMicros(created), fromNullMicros(decided)
	return r, nil
}

// GetInjectionPolicy returns the tenant's policy.
func (s *Store) GetInjectionPolicy(ctx context.Context, tenantID string) (store.InjectionPolicy, error) {
	var (
		p   store.InjectionPolicy
		doc string
		at  int64
	)
	err := s.rq.QueryRowContext(ctx, `SELECT tenant_id, doc, updated_by, updated_at FROM komand_injection_policies
		WHERE tenant_id = ?`, tenantID).Scan(&p.TenantID, &doc, &p.UpdatedBy, &at)
	if err != nil {
		return store.InjectionPolicy{}, wrap("get injection policy", err)
	}
	p.Doc, p.UpdatedAt = []byte(doc), fromMicros(at)
	return p, nil
}

// PutInjectionPolicy creates or replaces the tenant's policy.
func (s *Store) PutInjectionPolicy(ctx context.Context, p store.InjectionPolicy) error {
	return s.write(ctx, "put injection policy", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_injection_policies (tenant_id, doc, updated_by, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET doc = excluded.doc,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			p.TenantID, string(p.Doc), p.UpdatedBy, micros(p.UpdatedAt))
		return err
	})
}

// CreateReview stores a new review; a taken ID gives store.ErrConflict.
func (s *Store) CreateReview(ctx context.Context, r store.Review) error {
	return s.write(ctx, "create review", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_injection_reviews (`+reviewCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			r.TenantID, r.ID, r.SessionID, r.AgentID, r.Kind, r.Source, r.TurnSeq, r.ToolName, r.Excerpt, r.Score,
			encodeList(r.Categories), r.Status, r.RequestID, micros(r.CreatedAt), r.DecidedBy, nullMicros(r.DecidedAt))
		return err
	})
}

// GetReview returns one review of the tenant.
func (s *Store) GetReview(ctx context.Context, tenantID, id string) (store.Review, error) {
	r, err := scanReview(s.rq.QueryRowContext(ctx, `SELECT `+reviewCols+` FROM komand_injection_reviews
		WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return r, wrap("get review", err)
}

// ListReviews returns one page of the tenant's reviews matching f, newest
// first, and the total.
func (s *Store) ListReviews(ctx context.Context, tenantID string, f store.ReviewFilter, p store.Page) ([]store.Review, int, error) {
	where, args := `tenant_id = ?`, []any{tenantID}
	if f.Status != "" {
		where += ` AND status = ?`
		args = append(args, f.Status)
	}
	if f.SessionID != "" {
		where += ` AND session_id = ?`
		args = append(args, f.SessionID)
	}
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list reviews", tenantID: tenantID, from: "komand_injection_reviews",
		cols: reviewCols, where: where, args: args, order: "created_at DESC, id DESC",
		list: store.ReviewList, after: "(created_at, id) < (?, ?)", key: []any{&at, &id}}, p, scanReview)
}

// DecideReview moves a pending review to status in one statement, so of
// two decisions one wins and the other finds no pending row: store.ErrConflict
// when the review exists (decided already), store.ErrNotFound otherwise.
func (s *Store) DecideReview(ctx context.Context, tenantID, id, status, by string, at time.Time) (store.Review, error) {
	var r store.Review
	err := s.write(ctx, "decide review", func(tx txQuerier) error {
		var err error
		r, err = scanReview(tx.QueryRowContext(ctx, `UPDATE komand_injection_reviews
			SET status = ?, decided_by = ?, decided_at = ?
			WHERE tenant_id = ? AND id = ? AND status = 'pending'
			RETURNING `+reviewCols, status, by, micros(at), tenantID, id))
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		var exists bool
		if err := tx.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM komand_injection_reviews
			WHERE tenant_id = ? AND id = ?)`, tenantID, id).Scan(&exists); err != nil {
			return err
		}
		if exists {
			return store.ErrConflict
		}
		return store.ErrNotFound
	})
	if err != nil {
		return store.Review{}, err
	}
	return r, nil
}

// SetTurnFlag sets the flag of one turn of a session.
func (s *Store) SetTurnFlag(ctx context.Context, tenantID, sessionID string, seq int64, flag string) error {
	return s.write(ctx, "set turn flag", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_session_turns SET flag = ?
			WHERE tenant_id = ? AND session_id = ? AND seq = ?`, flag, tenantID, sessionID, seq))
	})
}
