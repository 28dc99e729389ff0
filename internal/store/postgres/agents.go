package postgres

import (
	"context"
	"encoding/json"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const agentCols = "tenant_id, agent_id, name, description, system_prompt, model_provider, model_id, " +
	"max_context_tokens, enabled_skill_ids, allowed_channels, owner_id, created_at, updated_at, limits"

// list makes a nil slice an empty one: pgx would send nil as NULL, and the
// columns are NOT NULL text[].
func list(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// encodeLimits is an agent's limits as the JSON object stored.
func encodeLimits(l store.AgentLimits) string {
	b, _ := json.Marshal(l) // a struct of numbers always marshals
	return string(b)
}

func scanAgent(row pgx.Row) (store.Agent, error) {
	var (
		a      store.Agent
		limits []byte
	)
	if err := row.Scan(&a.TenantID, &a.AgentID, &a.Name, &a.Description, &a.SystemPrompt,
		&a.ModelProvider, &a.ModelID, &a.MaxContextTokens, &a.EnabledSkillIDs, &a.AllowedChannels,
		&a.OwnerID, &a.CreatedAt, &a.UpdatedAt, &limits); err != nil {
		return store.Agent{}, err
	}
	if err := json.Unmarshal(limits, &a.Limits); err != nil {
		return store.Agent{}, err
	}
	// An empty array reads back as []string{}, never nil, as in SQLite.
	a.EnabledSkillIDs = list(a.EnabledSkillIDs)
	a.AllowedChannels = list(a.AllowedChannels)
	a.CreatedAt = utc(a.CreatedAt)
	a.UpdatedAt = utc(a.UpdatedAt)
	return a, nil
}

// CreateAgent stores an agent; an agentId taken in the same tenant gives
// store.ErrConflict, a tenant at maxAgents store.ErrLimit (see atLimit).
func (s *Store) CreateAgent(ctx context.Context, a store.Agent, maxAgents int) error {
	err := s.inTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		if err := atLimit(ctx, tx, "komand_agents", `SELECT 1 FROM komand_agents WHERE tenant_id = $1`, maxAgents, a.TenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx,
			`INSERT INTO komand_agents (`+agentCols+`)
			 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14::jsonb)`,
			a.TenantID, a.AgentID, a.Name, a.Description, a.SystemPrompt, a.ModelProvider, a.ModelID,
			a.MaxContextTokens, list(a.EnabledSkillIDs), list(a.AllowedChannels),
			a.OwnerID, a.CreatedAt, a.UpdatedAt, encodeLimits(a.Limits))
		return err
	})
	return wrapErr("create agent", err)
}

// GetAgent returns one agent of the tenant.
func (s *Store) GetAgent(ctx context.Context, tenantID, agentID string) (store.Agent, error) {
	var a store.Agent
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+agentCols+` FROM komand_agents WHERE tenant_id = $1 AND agent_id = $2`,
			tenantID, agentID).QueryRow(func(row pgx.Row) (err error) {
			a, err = scanAgent(row)
			return err
		})
	})
	return a, wrapErr("get agent", err)
}

// ListAgents returns one page of the tenant's agents ordered by agentId
// (the primary key), and their total up to store.CountLimit+1.
func (s *Store) ListAgents(ctx context.Context, tenantID string, p store.Page) ([]store.Agent, int, error) {
	var after string
	return listPage(ctx, s, listQuery{op: "list agents", tenantID: tenantID, from: "komand_agents", cols: agentCols,
		where: "tenant_id = $1", args: []any{tenantID}, order: "agent_id",
		list: store.AgentList, after: "agent_id > $K1", key: []any{&after}}, p, scanAgent)
}

// UpdateAgent replaces the mutable fields of an agent. TenantID and AgentID
// select the row; OwnerID and CreatedAt are never written.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) error {
	err := s.inTenant(ctx, a.TenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx,
			`UPDATE komand_agents SET name = $3, description = $4, system_prompt = $5,
			   model_provider = $6, model_id = $7, max_context_tokens = $8,
			   enabled_skill_ids = $9, allowed_channels = $10, updated_at = $11, limits = $12::jsonb
			 WHERE tenant_id = $1 AND agent_id = $2`,
			a.TenantID, a.AgentID, a.Name, a.Description, a.SystemPrompt, a.ModelProvider, a.ModelID,
			a.MaxContextTokens, list(a.EnabledSkillIDs), list(a.AllowedChannels), a.UpdatedAt, encodeLimits(a.Limits)))
	})
	return wrapErr("update agent", err)
}

// DeleteAgent deletes one agent of the tenant.
func (s *Store) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx,
			`DELETE FROM komand_agents WHERE tenant_id = $1 AND agent_id = $2`, tenantID, agentID))
	})
	return wrapErr("delete agent", err)
}
