package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"

	"github.com/komand-ai/komand/internal/store"
)

const agentCols = "tenant_id, agent_id, name, description, system_prompt, model_provider, model_id, " +
	"max_context_tokens, enabled_skill_ids, allowed_channels, owner_id, created_at, updated_at, limits"

// encodeList stores a string slice as a JSON array; nil is stored as [].
func encodeList(v []string) string {
	if len(v) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(v) // a []string always marshals
	return string(b)
}

// decodeList reads a JSON array back; an empty array gives []string{}, never
// nil.
func decodeList(s string) ([]string, error) {
	out := []string{}
	if err := json.Unmarshal([]byte(s), &out); err != nil {
		return nil, err
	}
	if out == nil { // the text "null"
		out = []string{}
	}
	return out, nil
}

// encodeLimits stores an agent's limits as a JSON object.
func encodeLimits(l store.AgentLimits) string {
	b, _ := json.Marshal(l) // a struct of numbers always marshals
	return string(b)
}

func scanAgent(sc scanner) (store.Agent, error) {
	var (
		a                store.Agent
		desc             sql.NullString
		skills, channels string
		created, updated int64
		limits           string
	)
	if err := sc.Scan(&a.TenantID, &a.AgentID, &a.Name, &desc, &a.SystemPrompt, &a.ModelProvider,
		&a.ModelID, &a.MaxContextTokens, &skills, &channels, &a.OwnerID, &created, &updated, &limits); err != nil {
		return store.Agent{}, err
	}
	if err := json.Unmarshal([]byte(limits), &a.Limits); err != nil {
		return store.Agent{}, err
	}
	if desc.Valid {
		a.Description = &desc.String
	}
	var err error
	if a.EnabledSkillIDs, err = decodeList(skills); err != nil {
		return store.Agent{}, err
	}
	if a.AllowedChannels, err = decodeList(channels); err != nil {
		return store.Agent{}, err
	}
	a.CreatedAt = fromMicros(created)
	a.UpdatedAt = fromMicros(updated)
	return a, nil
}

// CreateAgent stores an agent; an agentId taken in the same tenant gives
// store.ErrConflict, a tenant at maxAgents store.ErrLimit. The one writer
// connection serialises the count and the insert.
func (s *Store) CreateAgent(ctx context.Context, a store.Agent, maxAgents int) error {
	return s.write(ctx, "create agent", func(tx txQuerier) error {
		if err := atLimit(ctx, tx, `SELECT 1 FROM komand_agents WHERE tenant_id = ?`, maxAgents, a.TenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_agents (`+agentCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.TenantID, a.AgentID, a.Name, a.Description, a.SystemPrompt, a.ModelProvider, a.ModelID,
			a.MaxContextTokens, encodeList(a.EnabledSkillIDs), encodeList(a.AllowedChannels),
			a.OwnerID, micros(a.CreatedAt), micros(a.UpdatedAt), encodeLimits(a.Limits))
		return err
	})
}

// GetAgent returns one agent of the tenant.
func (s *Store) GetAgent(ctx context.Context, tenantID, agentID string) (store.Agent, error) {
	a, err := scanAgent(s.rq.QueryRowContext(ctx,
		`SELECT `+agentCols+` FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`,
		tenantID, agentID))
	return a, wrap("get agent", err)
}

// ListAgents returns one page of the tenant's agents ordered by agentId
// (the primary key), and their total up to store.CountLimit+1.
func (s *Store) ListAgents(ctx context.Context, tenantID string, p store.Page) ([]store.Agent, int, error) {
	var after string
	return listPage(ctx, s, listQuery{op: "list agents", tenantID: tenantID, from: "komand_agents", cols: agentCols,
		where: "tenant_id = ?", args: []any{tenantID}, order: "agent_id",
		list: store.AgentList, after: "agent_id > ?", key: []any{&after}}, p, scanAgent)
}

// UpdateAgent replaces the mutable fields of an agent. TenantID and AgentID
// select the row; OwnerID and CreatedAt are never written.
func (s *Store) UpdateAgent(ctx context.Context, a store.Agent) error {
	return s.write(ctx, "update agent", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE komand_agents SET name = ?, description = ?, system_prompt = ?,
			   model_provider = ?, model_id = ?, max_context_tokens = ?,
			   enabled_skill_ids = ?, allowed_channels = ?, updated_at = ?, limits = ?
			 WHERE tenant_id = ? AND agent_id = ?`,
			a.Name, a.Description, a.SystemPrompt, a.ModelProvider, a.ModelID, a.MaxContextTokens,
			encodeList(a.EnabledSkillIDs), encodeList(a.AllowedChannels), micros(a.UpdatedAt), encodeLimits(a.Limits),
			a.TenantID, a.AgentID)
		return mustAffect(res, err)
	})
}

// DeleteAgent deletes one agent of the tenant.
func (s *Store) DeleteAgent(ctx context.Context, tenantID, agentID string) error {
	return s.write(ctx, "delete agent", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx,
			`DELETE FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`, tenantID, agentID)
		return mustAffect(res, err)
	})
}
