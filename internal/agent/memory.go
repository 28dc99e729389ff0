package agent

import (
	"context"
	"errors"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Memory limits from product.md.
const (
	MaxMemoryEntries    = 1000
	MaxMemoryValueBytes = 100 * 1024
	MaxMemoryKeyLen     = 256
)

// MemoryService manages agents' long-term memory: key → value, scoped to one
// agent of one tenant. The API goes through the methods that take a
// Principal (RBAC resource "memory"); an agent's own memory tools go through
// Tool, whose caller has already authorised the tool call. Every write is
// audited (MemoryWritten / MemoryDeleted with the key and the value's size,
// never the value), before it is applied.
type MemoryService struct {
	st     store.Memory
	agents store.Agents
	authz  *authz.Authorizer
	audit  audit.Recorder
	now    func() time.Time
}

// NewMemory returns a MemoryService.
func NewMemory(st store.Memory, agents store.Agents, az *authz.Authorizer, rec audit.Recorder, now func() time.Time) *MemoryService {
	if now == nil {
		now = time.Now
	}
	return &MemoryService{st: st, agents: agents, authz: az, audit: rec, now: now}
}

// ErrMemoryNotFound is returned for a key (or agent) the caller cannot see.
var ErrMemoryNotFound = apperr.New(apperr.NotFound, "memory key not found")

func checkMemoryKey(key string) error {
	if err := validate.Name("key", key, MaxMemoryKeyLen); err != nil {
		return err
	}
	for _, r := range key {
		if r < 0x20 || r == 0x7f {
			return apperr.Field("key", "must not contain control characters")
		}
	}
	return nil
}

func checkMemoryValue(value string) error {
	if len(value) > MaxMemoryValueBytes {
		return apperr.Field("value", "must be at most 102400 bytes")
	}
	return validate.MaxLen("value", value, MaxMemoryValueBytes)
}

// Actor says who writes memory, for the audit entry.
type Actor struct {
	TenantID  string
	UserID    string
	AgentID   string
	SessionID string
	Via       string // "api", "tool" or "command"
	APIKeyID  string // the API's caller's key, when it used one
	// Untrusted says the write comes from untrusted content: a turn that
	// held some, or a sender who is not a Komand user. The entry is
	// stored with provenance "untrusted".
	Untrusted bool
}

// provenance is the stored provenance of a's writes.
func (a Actor) provenance() string {
	if a.Untrusted {
		return store.ProvenanceUntrusted
	}
	return store.ProvenanceTrusted
}

// Put creates or replaces key in agentID's memory (API).
func (s *MemoryService) Put(ctx context.Context, p authz.Principal, agentID, key, value string) (store.MemoryEntry, bool, error) {
	if err := validate.Slug("agentId", agentID, validate.MaxIDLen); err != nil {
		return store.MemoryEntry{}, false, err
	}
	if err := s.authz.Check(ctx, p, authz.Update, authz.Memory, authz.Target{AgentID: agentID}); err != nil {
		return store.MemoryEntry{}, false, err
	}
	return s.put(ctx, Actor{TenantID: p.TenantID, UserID: p.UserID, AgentID: agentID, Via: "api", APIKeyID: p.APIKeyID}, key, value)
}

// PutAs writes memory for an authorised tool call or command of a.
func (s *MemoryService) PutAs(ctx context.Context, a Actor, key, value string) (store.MemoryEntry, bool, error) {
	return s.put(ctx, a, key, value)
}

func (s *MemoryService) put(ctx context.Context, a Actor, key, value string) (store.MemoryEntry, bool, error) {
	if err := validate.First(checkMemoryKey(key), checkMemoryValue(value)); err != nil {
		return store.MemoryEntry{}, false, err
	}
	// An agent the caller cannot see is a 404 before anything is recorded;
	// the store checks again inside its transaction (ErrNotFound below).
	if _, err := s.agents.GetAgent(ctx, a.TenantID, a.AgentID); err != nil {
		return store.MemoryEntry{}, false, notFound(err)
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	e := store.MemoryEntry{TenantID: a.TenantID, AgentID: a.AgentID, Key: key, Value: value, Provenance: a.provenance(),
		CreatedAt: now, UpdatedAt: now}
	var created bool
	details := map[string]any{"bytes": len(value), "provenance": e.Provenance}
	err := audit.Do(ctx, s.audit, a.actor(), a.event(audit.MemoryWritten, key, details), func() error {
		var err error
		created, err = s.st.PutMemory(ctx, e, MaxMemoryEntries)
		switch {
		case errors.Is(err, store.ErrLimit):
			return audit.Fail("limit", err)
		case errors.Is(err, store.ErrNotFound):
			return audit.Fail("agent not found", err)
		}
		return err
	})
	switch {
	case errors.Is(err, store.ErrLimit):
		return store.MemoryEntry{}, false, apperr.New(apperr.Conflict,
			"the agent's memory is full (at most 1000 entries); delete a key first")
	case errors.Is(err, store.ErrNotFound):
		return store.MemoryEntry{}, false, ErrNotFound
	case err != nil:
		return store.MemoryEntry{}, false, err
	}
	if !created {
		// The stored CreatedAt is the original one.
		if got, err := s.st.GetMemory(ctx, a.TenantID, a.AgentID, key); err == nil {
			e = got
		}
	}
	return e, created, nil
}

// Get returns one key of agentID's memory (API).
func (s *MemoryService) Get(ctx context.Context, p authz.Principal, agentID, key string) (store.MemoryEntry, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Memory, authz.Target{AgentID: agentID}); err != nil {
		return store.MemoryEntry{}, err
	}
	return s.GetAs(ctx, Actor{TenantID: p.TenantID, AgentID: agentID}, key)
}

// GetAs reads memory for an authorised tool call or command.
func (s *MemoryService) GetAs(ctx context.Context, a Actor, key string) (store.MemoryEntry, error) {
	if err := checkMemoryKey(key); err != nil {
		return store.MemoryEntry{}, err
	}
	e, err := s.st.GetMemory(ctx, a.TenantID, a.AgentID, key)
	if errors.Is(err, store.ErrNotFound) {
		return store.MemoryEntry{}, ErrMemoryNotFound
	}
	return e, err
}

// List returns one page of agentID's memory, ordered by key (API). An
// unknown agent is a 404, not an empty list.
func (s *MemoryService) List(ctx context.Context, p authz.Principal, agentID string, pg store.Page) ([]store.MemoryEntry, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Memory, authz.Target{AgentID: agentID}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	if _, err := s.agents.GetAgent(ctx, p.TenantID, agentID); err != nil {
		return nil, 0, notFound(err)
	}
	return s.st.ListMemory(ctx, p.TenantID, agentID, pg)
}

// Delete removes one key (API).
func (s *MemoryService) Delete(ctx context.Context, p authz.Principal, agentID, key string) error {
	if err := s.authz.Check(ctx, p, authz.Delete, authz.Memory, authz.Target{AgentID: agentID}); err != nil {
		return err
	}
	if err := checkMemoryKey(key); err != nil {
		return err
	}
	a := Actor{TenantID: p.TenantID, UserID: p.UserID, AgentID: agentID, Via: "api", APIKeyID: p.APIKeyID}
	if _, err := s.st.GetMemory(ctx, p.TenantID, agentID, key); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrMemoryNotFound
		}
		return err
	}
	err := audit.Do(ctx, s.audit, a.actor(), a.event(audit.MemoryDeleted, key, nil), func() error {
		return s.st.DeleteMemory(ctx, p.TenantID, agentID, key)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrMemoryNotFound
	}
	return err
}

func (a Actor) actor() audit.Actor {
	return audit.Actor{TenantID: a.TenantID, UserID: a.UserID, APIKeyID: a.APIKeyID}
}

// event is a memory event of key, with the path it came by.
func (a Actor) event(action audit.Action, key string, extra map[string]any) audit.Event {
	details := map[string]any{"key": key, "via": a.Via}
	for k, v := range extra {
		details[k] = v
	}
	return audit.Event{Action: action, AgentID: a.AgentID, SessionID: a.SessionID, Details: details}
}
