// Package agent owns agent configuration: validation, defaults,
// authorization and the AgentConfigured audit event. The HTTP API, the
// dashboard and the CLI all call this service, so the checks live here once.
//
// Audit ordering (audit.Do, the protocol every service follows): a change
// is recorded before it is applied (as Vault audits a request before
// routing it). If the entry cannot be stored the change is not made (fail
// closed). If the entry is stored but the change then fails (a concurrent
// conflict, the database going away), a second entry with outcome "failed"
// is recorded on a best-effort basis.
package agent

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Defaults from product.md.
const (
	DefaultSystemPrompt     = "You are a helpful enterprise AI assistant."
	DefaultModelProvider    = "anthropic"
	DefaultModelID          = "claude-sonnet-4-20250514"
	DefaultMaxContextTokens = 100000
)

// Limits on agent fields.
const (
	MaxContextTokensLimit = 2_000_000
	MaxListItems          = 100 // enabledSkillIds, allowedChannels
	MinContextTokens      = 1000
)

// Providers lists the model providers an agent may name.
var Providers = []string{"anthropic", "openai"}

// Channels lists the channel names an agent may allow.
var Channels = []string{"WebChat", "Webhook", "Slack", "Telegram", "Teams", "Discord", "WhatsApp", "Signal", "SMS"}

// Input is a create or update request. On update, nil fields keep their
// current value; on create they take the defaults. ClearDescription sets the
// description back to null (Description must then be nil).
type Input struct {
	AgentID          string
	Name             *string
	Description      *string
	ClearDescription bool
	SystemPrompt     *string
	ModelProvider    *string
	ModelID          *string
	MaxContextTokens *int
	EnabledSkillIDs  []string
	AllowedChannels  []string
	// Limits replaces the agent's circuit breakers and prices as a whole
	// (nil: keep; the zero value: the platform defaults).
	Limits *store.AgentLimits
}

// DefaultMaxAgents is the per-tenant quota of agents unless SetMaxAgents
// sets another (the Limits:MaxAgents setting).
const DefaultMaxAgents = 1000

// Service manages agents. It is the only writer of the agent row: the skill
// registry enables and disables skills through SetSkillEnabled.
type Service struct {
	st        store.Agents
	authz     *authz.Authorizer
	audit     audit.Recorder
	now       func() time.Time
	maxAgents int

	// skillsMu serialises this process's read-modify-writes of an
	// agent's enabledSkillIds (SetSkillEnabled).
	skillsMu sync.Mutex
}

// New returns a Service.
func New(st store.Agents, az *authz.Authorizer, rec audit.Recorder, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, authz: az, audit: rec, now: now, maxAgents: DefaultMaxAgents}
}

// SetMaxAgents sets the per-tenant quota of agents (at least 1); call it
// before the service is used.
func (s *Service) SetMaxAgents(n int) { s.maxAgents = n }

// ErrNotFound is returned for an agent that does not exist in the caller's
// tenant (including one that exists in another tenant).
var ErrNotFound = apperr.New(apperr.NotFound, "agent not found")

func notFound(err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// Create validates in, applies defaults and stores a new agent owned by p.
func (s *Service) Create(ctx context.Context, p authz.Principal, in Input) (store.Agent, error) {
	// The ID is checked first so that an oversized or hostile value never
	// reaches the denial's audit entry.
	if err := validate.Slug("agentId", in.AgentID, validate.MaxIDLen); err != nil {
		return store.Agent{}, err
	}
	if err := s.authz.Check(ctx, p, authz.Create, authz.Agents, authz.Target{AgentID: in.AgentID}); err != nil {
		return store.Agent{}, err
	}
	if in.Name == nil {
		return store.Agent{}, apperr.Field("name", "is required")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	a := store.Agent{
		TenantID:         p.TenantID,
		AgentID:          in.AgentID,
		SystemPrompt:     DefaultSystemPrompt,
		ModelProvider:    DefaultModelProvider,
		ModelID:          DefaultModelID,
		MaxContextTokens: DefaultMaxContextTokens,
		EnabledSkillIDs:  []string{},
		AllowedChannels:  []string{},
		OwnerID:          p.UserID,
		CreatedAt:        now,
		UpdatedAt:        now,
	}
	if err := apply(&a, in); err != nil {
		return store.Agent{}, err
	}
	if _, err := s.st.GetAgent(ctx, p.TenantID, a.AgentID); err == nil {
		return store.Agent{}, apperr.New(apperr.Conflict, "an agent with this agentId already exists")
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.Agent{}, err
	}
	err := audit.Do(ctx, s.audit, audit.By(p), configured(a.AgentID, "created", changed(nil, &a)), func() error {
		return s.st.CreateAgent(ctx, a, s.maxAgents)
	})
	if errors.Is(err, store.ErrConflict) {
		return store.Agent{}, apperr.New(apperr.Conflict, "an agent with this agentId already exists")
	}
	if errors.Is(err, store.ErrLimit) {
		return store.Agent{}, apperr.New(apperr.LimitReached, fmt.Sprintf(
			"the tenant has reached its limit of %d agents (Limits:MaxAgents); delete an agent first", s.maxAgents))
	}
	if err != nil {
		return store.Agent{}, err
	}
	return a, nil
}

// Get returns one agent of p's tenant.
func (s *Service) Get(ctx context.Context, p authz.Principal, agentID string) (store.Agent, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Agents, authz.Target{AgentID: agentID}); err != nil {
		return store.Agent{}, err
	}
	a, err := s.st.GetAgent(ctx, p.TenantID, agentID)
	return a, notFound(err)
}

// List returns one page of p's tenant's agents and the total.
func (s *Service) List(ctx context.Context, p authz.Principal, pg store.Page) ([]store.Agent, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Agents, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	return s.st.ListAgents(ctx, p.TenantID, pg)
}

// Update changes the fields set in in.
func (s *Service) Update(ctx context.Context, p authz.Principal, in Input) (store.Agent, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Agents, authz.Target{AgentID: in.AgentID}); err != nil {
		return store.Agent{}, err
	}
	old, err := s.st.GetAgent(ctx, p.TenantID, in.AgentID)
	if err != nil {
		return store.Agent{}, notFound(err)
	}
	a := old
	a.EnabledSkillIDs = append([]string{}, old.EnabledSkillIDs...)
	a.AllowedChannels = append([]string{}, old.AllowedChannels...)
	if err := apply(&a, in); err != nil {
		return store.Agent{}, err
	}
	a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := audit.Do(ctx, s.audit, audit.By(p), configured(a.AgentID, "updated", changed(&old, &a)), func() error {
		return s.st.UpdateAgent(ctx, a)
	}); err != nil {
		return store.Agent{}, notFound(err)
	}
	return a, nil
}

// Delete removes an agent.
func (s *Service) Delete(ctx context.Context, p authz.Principal, agentID string) error {
	if err := s.authz.Check(ctx, p, authz.Delete, authz.Agents, authz.Target{AgentID: agentID}); err != nil {
		return err
	}
	if _, err := s.st.GetAgent(ctx, p.TenantID, agentID); err != nil {
		return notFound(err)
	}
	return notFound(audit.Do(ctx, s.audit, audit.By(p), configured(agentID, "deleted", nil), func() error {
		return s.st.DeleteAgent(ctx, p.TenantID, agentID)
	}))
}

// SetSkillEnabled adds skillID to (on) or removes it from the agent's
// enabledSkillIds, for the skill registry's install and uninstall, which
// p must be allowed to update the agent for. It records nothing of its
// own: the registry's SkillInstalled or SkillUninstalled entry, recorded
// before, is the change's audit. A lost update between replicas can only
// drop a skill from the list, which makes it not offered: it fails
// closed.
func (s *Service) SetSkillEnabled(ctx context.Context, p authz.Principal, agentID, skillID string, on bool) error {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Agents, authz.Target{AgentID: agentID, SkillID: skillID}); err != nil {
		return err
	}
	s.skillsMu.Lock()
	defer s.skillsMu.Unlock()
	a, err := s.st.GetAgent(ctx, p.TenantID, agentID)
	if err != nil {
		return notFound(err)
	}
	if slices.Contains(a.EnabledSkillIDs, skillID) == on {
		return nil
	}
	if on {
		a.EnabledSkillIDs = append(slices.Clone(a.EnabledSkillIDs), skillID)
		slices.Sort(a.EnabledSkillIDs)
	} else {
		a.EnabledSkillIDs = slices.DeleteFunc(slices.Clone(a.EnabledSkillIDs), func(id string) bool { return id == skillID })
	}
	a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	return notFound(s.st.UpdateAgent(ctx, a))
}

// configured is the AgentConfigured event of one operation on agentID,
// with the fields it sets or changes.
func configured(agentID, op string, fields []string) audit.Event {
	details := map[string]any{"operation": op}
	if fields != nil {
		details["fields"] = fields
	}
	return audit.Event{Action: audit.AgentConfigured, AgentID: agentID, Details: details}
}
