package gateway

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
)

var errAgentIDMismatch = apperr.Field("agentId", "does not match the agent in the path")

type auditResponse struct {
	ID        string          `json:"id"`
	TenantID  string          `json:"tenantId"`
	Seq       int64           `json:"seq"`
	Action    string          `json:"action"`
	ActorID   string          `json:"actorId"`
	AgentID   string          `json:"agentId"`
	SessionID string          `json:"sessionId"`
	SkillID   string          `json:"skillId"`
	Details   json.RawMessage `json:"details"`
	RequestID string          `json:"requestId"`
	Timestamp time.Time       `json:"timestamp"`
	PrevHash  string          `json:"prevHash"`
	Hash      string          `json:"hash"`
}

func (s *Server) listAudit(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.AuditFilter{
		Action: q.Get("action"), ActorID: q.Get("actorId"), AgentID: q.Get("agentId"),
		SessionID: q.Get("sessionId"), SkillID: q.Get("skillId"),
	}
	if f.From, err = audit.ParseTime("from", q.Get("from")); err != nil {
		return err
	}
	if f.To, err = audit.ParseTime("to", q.Get("to")); err != nil {
		return err
	}
	es, total, err := s.deps.AuditLog.List(r.Context(), p, f, pg)
	if err != nil {
		return err
	}
	out := make([]auditResponse, len(es))
	for i, e := range es {
		details := json.RawMessage(e.Details)
		if !json.Valid(details) {
			details = json.RawMessage("{}")
		}
		out[i] = auditResponse{ID: e.ID, TenantID: e.TenantID, Seq: e.Seq, Action: e.Action,
			ActorID: e.ActorID, AgentID: e.AgentID, SessionID: e.SessionID, SkillID: e.SkillID,
			Details: details, RequestID: e.RequestID, Timestamp: e.Timestamp,
			PrevHash: e.PrevHash, Hash: e.Hash}
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, es))
}

func requestIDOf(r *http.Request) string { return requestid.From(r.Context()) }
