package session

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

// The review queue. A held turn (a message, a tool output, or a
// consequential tool call in an untrusted turn) becomes a pending review;
// an Admin approves it (the flag is cleared and the turn resumes: the held
// message is answered, the held output reaches the model, the held call
// runs) or rejects it (the message stays out of the model's history, the
// output is withheld, the call gets an error result, and the turn resumes
// so the agent can answer without it). The resumed turn's reply is stored
// in the session's history and returned to the Admin; a channel that
// pushes replies does not get it pushed (the sender already has the
// holding reply). Deciding needs injection:update (Admin and up), reading
// injection:read; TurnHeld and TurnReviewed are audited.

// ErrReviewNotFound is a review the caller cannot see.
var ErrReviewNotFound = apperr.New(apperr.NotFound, "review not found")

// openReview stores a pending review of se and records TurnHeld.
func (s *Service) openReview(ctx context.Context, p authz.Principal, work *audit.Unit, se store.Session, r store.Review) (store.Review, error) {
	r.TenantID, r.ID, r.SessionID, r.AgentID = se.TenantID, uuid.NewString(), se.ID, se.AgentID
	r.Status, r.RequestID = store.ReviewPending, requestid.From(ctx)
	r.CreatedAt = s.opts.Now().UTC().Truncate(time.Microsecond)
	if r.Categories == nil {
		r.Categories = []string{}
	}
	if err := s.st.CreateReview(ctx, r); err != nil {
		return store.Review{}, err
	}
	return r, s.add(ctx, work, p, audit.TurnHeld, se, map[string]any{
		"reviewId": r.ID, "kind": r.Kind, "source": r.Source, "tool": r.ToolName, "turnSeq": r.TurnSeq,
	})
}

// ReviewNotifier posts a pending review to the review destination of its
// session's channel account, if it has one (channel.Service.PostReview).
type ReviewNotifier interface {
	PostReview(ctx context.Context, n channel.ReviewNotice) error
}

// SetReviewNotifier sets where opened reviews are announced (before
// serving; nil: nowhere).
func (s *Service) SetReviewNotifier(n ReviewNotifier) { s.notifier = n }

// notifyReview announces review r of se, held in turn held, with what the
// review queue shows: the exact held calls as RenderCalls renders them
// for a held call, the quoted excerpt otherwise. A failure is logged: the
// review stays in the queue.
func (s *Service) notifyReview(ctx context.Context, se store.Session, r store.Review, held store.Turn) {
	if s.notifier == nil {
		return
	}
	var b strings.Builder
	quote(&b, r.Excerpt, true)
	shown := b.String()
	if r.Kind == store.ReviewToolCall {
		var calls []llm.ToolCall
		if json.Unmarshal(held.ToolCalls, &calls) == nil && len(calls) > 0 {
			shown = RenderCalls(calls)
		}
	}
	n := channel.ReviewNotice{TenantID: se.TenantID, ReviewID: r.ID, SessionID: se.ID, AgentID: se.AgentID, Channel: se.Channel,
		AccountID: se.ChannelAccountID, Kind: r.Kind, Source: r.Source, ToolName: r.ToolName, Held: shown}
	if err := s.notifier.PostReview(context.WithoutCancel(ctx), n); err != nil {
		s.log.ErrorContext(ctx, "held review not posted to its review destination", "review", r.ID, "err", err)
	}
}

// ListReviews returns one page of p's tenant's reviews, newest first.
func (s *Service) ListReviews(ctx context.Context, p authz.Principal, f store.ReviewFilter, pg store.Page) ([]store.Review, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Injection, authz.Target{}); err != nil {
		return nil, 0, err
	}
	return s.st.ListReviews(ctx, p.TenantID, f, pg)
}

// GetReview returns one review of p's tenant.
func (s *Service) GetReview(ctx context.Context, p authz.Principal, id string) (store.Review, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Injection, authz.Target{}); err != nil {
		return store.Review{}, err
	}
	r, err := s.st.GetReview(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Review{}, ErrReviewNotFound
	}
	return r, err
}

// Decision is the outcome of deciding a review: the review, and the reply
// of the resumed turn ("" when nothing resumed).
type Decision struct {
	Review store.Review
	Reply  string
}

// DecideReview approves or rejects a pending review and resumes its turn.
// A review decided already is a conflict (of two Admins at once, one
// wins).
func (s *Service) DecideReview(ctx context.Context, p authz.Principal, id string, approve bool) (Decision, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Injection, authz.Target{}); err != nil {
		return Decision{}, err
	}
	r, err := s.st.GetReview(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return Decision{}, ErrReviewNotFound
	}
	if err != nil {
		return Decision{}, err
	}
	se, err := s.st.GetSession(ctx, p.TenantID, r.SessionID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return Decision{}, err
	}
	gone := err != nil
	if !gone {
		// In line with the session's messages.
		unlock, err := s.lockKey(ctx, p.TenantID, se.Key)
		if err != nil {
			return Decision{}, err
		}
		defer unlock()
	}
	status := store.ReviewRejected
	if approve {
		status = store.ReviewApproved
	}
	now := s.opts.Now().UTC().Truncate(time.Microsecond)
	r, err = s.st.DecideReview(ctx, p.TenantID, id, status, p.UserID, now)
	switch {
	case errors.Is(err, store.ErrConflict):
		return Decision{}, apperr.New(apperr.Conflict, "this review was decided already")
	case errors.Is(err, store.ErrNotFound):
		return Decision{}, ErrReviewNotFound
	case err != nil:
		return Decision{}, err
	}
	if gone {
		se = store.Session{TenantID: p.TenantID, ID: r.SessionID, AgentID: r.AgentID}
	}
	work := audit.NewUnit(s.audit)
	if err := s.add(ctx, work, p, audit.TurnReviewed, se, map[string]any{
		"reviewId": r.ID, "kind": r.Kind, "decision": status, "turnSeq": r.TurnSeq,
	}); err != nil {
		return Decision{}, err
	}
	resume, err := s.applyDecision(ctx, p, se, r, approve, now)
	if err != nil {
		_ = work.Wait(context.WithoutCancel(ctx))
		return Decision{}, err
	}
	if !resume || gone || se.EndedAt != nil {
		return Decision{Review: r}, work.Wait(ctx)
	}
	// The Admin's approval resumes the sender's turn; a further held call
	// in it goes to the queue again.
	reply, err := s.resume(ctx, p, work, se, false, map[string]any{"channel": se.Channel, "via": "review"})
	if err != nil {
		return Decision{}, err
	}
	return Decision{Review: r, Reply: reply.Text}, nil
}

// applyDecision changes the held turn and reports whether the turn
// resumes.
func (s *Service) applyDecision(ctx context.Context, p authz.Principal, se store.Session, r store.Review, approve bool, now time.Time) (bool, error) {
	flag := ""
	if !approve {
		flag = store.FlagRejected
	}
	switch r.Kind {
	case store.ReviewMessage:
		// A rejected message stays out of the model's history; nothing to
		// answer.
		return approve, s.st.SetTurnFlag(ctx, p.TenantID, se.ID, r.TurnSeq, flag)
	case store.ReviewToolOutput:
		return true, s.st.SetTurnFlag(ctx, p.TenantID, se.ID, r.TurnSeq, flag)
	case store.ReviewToolCall:
		// The held assistant turn rejoins the history either way; a
		// rejected call gets an error result instead of running.
		if err := s.st.SetTurnFlag(ctx, p.TenantID, se.ID, r.TurnSeq, ""); err != nil {
			return false, err
		}
		if approve || se.EndedAt != nil || se.Key == "" {
			return true, nil // (an ended or deleted session does not resume)
		}
		held, err := s.turnAt(ctx, p.TenantID, se.ID, r.TurnSeq)
		if err != nil {
			return false, err
		}
		var calls []llm.ToolCall
		_ = json.Unmarshal(held.ToolCalls, &calls)
		results := make([]store.Turn, 0, len(calls))
		for _, c := range calls {
			results = append(results, store.Turn{Role: store.RoleTool, Text: RejectedCall, ToolCallID: c.ID,
				ToolName: c.Name, IsError: true, RequestID: requestid.From(ctx), CreatedAt: now})
		}
		if len(results) > 0 {
			if _, err := s.st.AppendTurns(ctx, p.TenantID, se.ID, results); err != nil {
				return false, err
			}
		}
		return true, nil
	}
	return false, nil
}

// turnAt finds one turn of a session among its recent history.
func (s *Service) turnAt(ctx context.Context, tenantID, sessionID string, seq int64) (store.Turn, error) {
	turns, err := s.st.RecentTurns(ctx, tenantID, sessionID, historyTurns)
	if err != nil {
		return store.Turn{}, err
	}
	for _, t := range turns {
		if t.Seq == seq {
			return t, nil
		}
	}
	return store.Turn{}, ErrReviewNotFound
}

// resume continues se's conversation after a decision or a confirmation,
// as p (komandUser: the sender confirms a further held call in-channel);
// sent starts the MessageSent details.
func (s *Service) resume(ctx context.Context, p authz.Principal, work *audit.Unit, se store.Session, komandUser bool, sent map[string]any) (channel.Reply, error) {
	fail := func(err error) (channel.Reply, error) {
		_ = work.Wait(context.WithoutCancel(ctx))
		return channel.Reply{}, err
	}
	ag, err := s.st.GetAgent(ctx, p.TenantID, se.AgentID)
	if err != nil {
		return fail(notFound(err))
	}
	history, err := s.st.RecentTurns(ctx, p.TenantID, se.ID, historyTurns)
	if err != nil {
		return fail(err)
	}
	pol, err := s.opts.Guard.policy(ctx, p.TenantID)
	if err != nil {
		return fail(err)
	}
	out, runErr := s.runner.Turn(ctx, TurnInput{Principal: p, Agent: ag, Session: se, History: history,
		Audit: work, Guard: s.opts.Guard, Policy: pol, Resume: true, KomandUser: komandUser})
	return s.finish(ctx, p, work, se, sent, out, runErr)
}
