package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/apperr"
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
	Limits           limits    `json:"limits"`
	OwnerID          string    `json:"ownerId"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

func agentJSON(a store.Agent) agentResponse {
	return agentResponse{
		AgentID: a.AgentID, Name: a.Name, Description: a.Description, SystemPrompt: a.SystemPrompt,
		ModelProvider: a.ModelProvider, ModelID: a.ModelID, MaxContextTokens: a.MaxContextTokens,
		EnabledSkillIDs: nonNil(a.EnabledSkillIDs), AllowedChannels: nonNil(a.AllowedChannels),
		Limits: limits(a.Limits), OwnerID: a.OwnerID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt,
	}
}

// limits is an agent's "limits" object: every field, 0 for the platform's
// default (docs/runtime.md, circuit breakers). In a request unknown fields
// are refused like everywhere else.
type limits struct {
	MaxToolCallsPerTurn    int     `json:"maxToolCallsPerTurn"`
	MaxTokensPerTurn       int     `json:"maxTokensPerTurn"`
	MaxTurnSeconds         int     `json:"maxTurnSeconds"`
	MaxToolCallsPerSession int     `json:"maxToolCallsPerSession"`
	MaxTokensPerSession    int     `json:"maxTokensPerSession"`
	MaxSessionSeconds      int     `json:"maxSessionSeconds"`
	InputPricePerMTok      float64 `json:"inputPricePerMTok"`
	OutputPricePerMTok     float64 `json:"outputPricePerMTok"`
	MaxCostPerSession      float64 `json:"maxCostPerSession"`
}

// UnmarshalJSON reads a limits object strictly: opt's json.Unmarshal would
// ignore an unknown (mistyped) field, and a limit that silently stays at
// its default is a limit the Admin thinks is set.
func (l *limits) UnmarshalJSON(b []byte) error {
	type plain limits
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v plain
	if err := dec.Decode(&v); err != nil {
		return err
	}
	*l = limits(v)
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// agentRequest is the body of create and update. Server-set fields
// (ownerId, createdAt, updatedAt) are not accepted: they are unknown fields.
// Every field but description rejects an explicit null (a required field is
// never silently kept or defaulted); "description": null clears it.
type agentRequest struct {
	AgentID          opt[string]   `json:"agentId"`
	Name             opt[string]   `json:"name"`
	Description      opt[string]   `json:"description"`
	SystemPrompt     opt[string]   `json:"systemPrompt"`
	ModelProvider    opt[string]   `json:"modelProvider"`
	ModelID          opt[string]   `json:"modelId"`
	MaxContextTokens opt[int]      `json:"maxContextTokens"`
	EnabledSkillIDs  opt[[]string] `json:"enabledSkillIds"`
	AllowedChannels  opt[[]string] `json:"allowedChannels"`
	Limits           opt[limits]   `json:"limits"`
}

// input validates the presence rules and returns the service input; the
// service validates the values.
func (q agentRequest) input() (agent.Input, error) {
	var (
		in  agent.Input
		err error
	)
	if q.AgentID.null {
		return in, apperr.Field("agentId", "must not be null")
	}
	in.AgentID = q.AgentID.v
	if in.Name, err = q.Name.ptr("name"); err != nil {
		return in, err
	}
	if q.Description.null {
		in.ClearDescription = true
	} else if q.Description.set {
		d := q.Description.v
		in.Description = &d
	}
	if in.SystemPrompt, err = q.SystemPrompt.ptr("systemPrompt"); err != nil {
		return in, err
	}
	if in.ModelProvider, err = q.ModelProvider.ptr("modelProvider"); err != nil {
		return in, err
	}
	if in.ModelID, err = q.ModelID.ptr("modelId"); err != nil {
		return in, err
	}
	if in.MaxContextTokens, err = q.MaxContextTokens.ptr("maxContextTokens"); err != nil {
		return in, err
	}
	if in.EnabledSkillIDs, err = listField("enabledSkillIds", q.EnabledSkillIDs); err != nil {
		return in, err
	}
	if in.AllowedChannels, err = listField("allowedChannels", q.AllowedChannels); err != nil {
		return in, err
	}
	l, err := q.Limits.ptr("limits")
	if err != nil {
		return in, err
	}
	if l != nil {
		sl := store.AgentLimits(*l)
		in.Limits = &sl
	}
	return in, nil
}

// listField is a list that may be absent (nil: keep) or [] but not null.
func listField(name string, o opt[[]string]) ([]string, error) {
	if o.null {
		return nil, apperr.Field(name, "must not be null; send [] for none")
	}
	return o.v, nil // json gives a non-nil slice for [], so nil means absent
}

// decodeAgent reads an agentRequest body and applies its presence rules.
func decodeAgent(r *http.Request) (agent.Input, error) {
	var req agentRequest
	if err := decode(r, &req); err != nil {
		return agent.Input{}, err
	}
	return req.input()
}

func (s *Server) createAgent(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	in, err := decodeAgent(r)
	if err != nil {
		return err
	}
	a, err := s.deps.Agents.Create(r.Context(), p, in)
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
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, as))
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
	in, err := decodeAgent(r)
	if err != nil {
		return err
	}
	if in.AgentID != "" && in.AgentID != id {
		return errAgentIDMismatch
	}
	in.AgentID = id
	a, err := s.deps.Agents.Update(r.Context(), p, in)
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
