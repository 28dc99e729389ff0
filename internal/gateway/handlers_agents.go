package gateway

import (
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

type agentResponse struct {
	AgentID          string    `json:"agentId"`
	Name             string    `json:"name"`
	Description      *string   `json:"description"`
	SystemPrompt     string    `json:"systemPrompt"`
	ModelProvider    string    `json:"modelProvider"`
	ModelID          string    `json:"modelId"`
	MaxContextTokens int       `json:"maxContextTokens"`
	EnabledSkillIDs  []string  `json:"enabledSkillIds"`
	AllowedChannels  []string  `json:"allowedChannels"`
	OwnerID          string    `json:"ownerId"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

func agentJSON(a store.Agent) agentResponse {
	return agentResponse{
		AgentID: a.AgentID, Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt,
		ModelProvider: a.ModelProvider, ModelID: a.ModelID, MaxContextTokens: a.MaxContextTokens,
		EnabledSkillIDs: nonNil(a.EnabledSkillIDs), AllowedChannels: nonNil(a.AllowedChannels),
		OwnerID: a.OwnerID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// agentRequest is the body of create and update. Server-set fields
// (ownerId, createdAt, updatedAt) are not accepted: they are unknown fields.
type agentRequest struct {
	AgentID          string   `json:"agentId"`
	Name             *string  `json:"name"`
	Description      *string  `json:"description"`
	SystemPrompt     *string  `json:"systemPrompt"`
	ModelProvider    *string  `json:"modelProvider"`
	ModelID          *string  `json:"modelId"`
	MaxContextTokens *int     `json:"maxContextTokens"`
	EnabledSkillIDs  []string `json:"enabledSkillIds"`
	AllowedChannels  []string `json:"allowedChannels"`
}

func (q agentRequest) input() agent.Input {
	return agent.Input{
		AgentID: q.AgentID, Name: q.Name, Description: q.Description, SystemPrompt: q.SystemPrompt,
		ModelProvider: q.ModelProvider, ModelID: q.ModelID, MaxContextTokens: q.MaxContextTokens,
		EnabledSkillIDs: q.EnabledSkillIDs, AllowedChannels: q.AllowedChannels,
	}
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var req agentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	a, err := s.deps.Agents.Create(r.Context(), p, req.input())
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, agentJSON(a))
}

func (s *Server) listAgents(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	as, total, err := s.deps.Agents.List(r.Context(), p, pg)
	if err != nil {
		return err
	}
	out := make([]agentResponse, len(as))
	for i, a := range as {
		out[i] = agentJSON(a)
	}
	return okList(w, out, total, pg)
}

func (s *Server) getAgent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathSlug(r, "agentId")
	if err != nil {
		return err
	}
	a, err := s.deps.Agents.Get(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, agentJSON(a))
}

func (s *Server) updateAgent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathSlug(r, "agentId")
	if err != nil {
		return err
	}
	var req agentRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.AgentID != "" && req.AgentID != id {
		return errAgentIDMismatch
	}
	req.AgentID = id
	a, err := s.deps.Agents.Update(r.Context(), p, req.input())
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, agentJSON(a))
}

func (s *Server) deleteAgent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathSlug(r, "agentId")
	if err != nil {
		return err
	}
	if err := s.deps.Agents.Delete(r.Context(), p, id); err != nil {
		return err
	}
	return ok(w, http.StatusOK, nil)
}
