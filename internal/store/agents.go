package store

import (
	"context"
	"time"
)

// Agent is an AI persona's configuration.
type Agent struct {
	TenantID         string
	AgentID          string
	Name             string
	Description      *string
	SystemPrompt     string
	ModelProvider    string
	ModelID          string
	MaxContextTokens int
	EnabledSkillIDs  []string
	AllowedChannels  []string
	Limits           AgentLimits
	OwnerID          string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// AgentLimits are an agent's circuit breakers and model prices (the API's
// "limits" object). A zero field takes the platform's default
// (session.DefaultLimits); the prices are in US dollars per million
// tokens, and MaxCostPerSession is in dollars (0: no cost ceiling).
type AgentLimits struct {
	MaxToolCallsPerTurn    int     `json:"maxToolCallsPerTurn,omitempty"`
	MaxTokensPerTurn       int     `json:"maxTokensPerTurn,omitempty"`
	MaxTurnSeconds         int     `json:"maxTurnSeconds,omitempty"`
	MaxToolCallsPerSession int     `json:"maxToolCallsPerSession,omitempty"`
	MaxTokensPerSession    int     `json:"maxTokensPerSession,omitempty"`
	MaxSessionSeconds      int     `json:"maxSessionSeconds,omitempty"`
	InputPricePerMTok      float64 `json:"inputPricePerMTok,omitempty"`
	OutputPricePerMTok     float64 `json:"outputPricePerMTok,omitempty"`
	MaxCostPerSession      float64 `json:"maxCostPerSession,omitempty"`
}

// Agents stores agent configurations.
type Agents interface {
	// CreateAgent stores a; an agentId taken in the tenant gives
	// ErrConflict, and a tenant that already has maxAgents agents gives
	// ErrLimit (atomically, also under concurrent writers).
	CreateAgent(ctx context.Context, a Agent, maxAgents int) error
	GetAgent(ctx context.Context, tenantID, agentID string) (Agent, error)
	ListAgents(ctx context.Context, tenantID string, p Page) ([]Agent, int, error)
	// UpdateAgent replaces the mutable fields (everything but TenantID,
	// AgentID, OwnerID and CreatedAt).
	UpdateAgent(ctx context.Context, a Agent) error
	DeleteAgent(ctx context.Context, tenantID, agentID string) error
}

// PageKey is the agent's position in AgentList.
func (a Agent) PageKey() (List, []any) { return AgentList, []any{a.AgentID} }
