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
	OwnerID          string
	CreatedAt        time.Time
	UpdatedAt        time.Time
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
