package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

type injectionPolicyResponse struct {
	Policy    json.RawMessage `json:"policy"`
	UpdatedBy string          `json:"updatedBy"`
	UpdatedAt *time.Time      `json:"updatedAt"`
}

func policyJSON(sp store.InjectionPolicy) injectionPolicyResponse {
	out := injectionPolicyResponse{Policy: sp.Doc, UpdatedBy: sp.UpdatedBy}
	if !sp.UpdatedAt.IsZero() {
		out.UpdatedAt = &sp.UpdatedAt
	}
	return out
}

func (s *Server) getInjectionPolicy(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	sp, err := s.deps.Guard.GetPolicy(r.Context(), p)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, policyJSON(sp))
}

// putInjectionPolicy replaces the tenant's policy; the body is the policy
// document (see docs/injection.md, "Policy").
func (s *Server) putInjectionPolicy(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var doc json.RawMessage
	if err := decode(r, &doc); err != nil {
		return err
	}
	sp, err := s.deps.Guard.PutPolicy(r.Context(), p, doc)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, policyJSON(sp))
}

type reviewResponse struct {
	ReviewID   string     `json:"reviewId"`
	SessionID  string     `json:"sessionId"`
	AgentID    string     `json:"agentId"`
	Kind       string     `json:"kind"`
	Source     string     `json:"source"`
	TurnSeq    int64      `json:"turnSeq"`
	ToolName   string     `json:"toolName"`
	Excerpt    string     `json:"excerpt"`
	Score      float64    `json:"score"`
	Categories []string   `json:"categories"`
	Status     string     `json:"status"`
	RequestID  string     `json:"requestId"`
	CreatedAt  time.Time  `json:"createdAt"`
	DecidedBy  string     `json:"decidedBy"`
	DecidedAt  *time.Time `json:"decidedAt"`
}

func reviewJSON(v store.Review) reviewResponse {
	cats := v.Categories
	if cats == nil {
		cats = []string{}
	}
	return reviewResponse{ReviewID: v.ID, SessionID: v.SessionID, AgentID: v.AgentID, Kind: v.Kind, Source: v.Source,
		TurnSeq: v.TurnSeq, ToolName: v.ToolName, Excerpt: v.Excerpt, Score: v.Score, Categories: cats,
		Status: v.Status, RequestID: v.RequestID, CreatedAt: v.CreatedAt, DecidedBy: v.DecidedBy, DecidedAt: v.DecidedAt}
}

func (s *Server) listReviews(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.ReviewFilter{Status: q.Get("status"), SessionID: q.Get("sessionId")}
	switch f.Status {
	case "", store.ReviewPending, store.ReviewApproved, store.ReviewRejected:
	default:
		return apperr.Field("status", "must be pending, approved or rejected")
	}
	if f.SessionID != "" {
		if err := validate.UUID("sessionId", f.SessionID); err != nil {
			return err
		}
	}
	rs, total, err := s.deps.Sessions.ListReviews(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	out := make([]reviewResponse, len(rs))
	for i, v := range rs {
		out[i] = reviewJSON(v)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, rs))
}

func (s *Server) getReview(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "reviewId")
	if err != nil {
		return err
	}
	v, err := s.deps.Sessions.GetReview(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, reviewJSON(v))
}

type decisionResponse struct {
	Review reviewResponse `json:"review"`
	Reply  *string        `json:"reply"`
}

func (s *Server) decideReview(approve bool) authedHandler {
	return func(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
		id, err := pathUUID(r, "reviewId")
		if err != nil {
			return err
		}
		_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(turnDeadline))
		d, err := s.deps.Sessions.DecideReview(r.Context(), p, id, approve)
		if err != nil {
			return err
		}
		out := decisionResponse{Review: reviewJSON(d.Review)}
		if d.Reply != "" {
			out.Reply = &d.Reply
		}
		return ok(w, http.StatusOK, out)
	}
}
