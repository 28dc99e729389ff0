package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// Slash commands from integrations and circuit breakers (migration 0012):
// an account's allowCommands, an agent's limits and a session's usage
// counters.
var breakerTests = []test{
	{"AccountAllowCommands", testAccountAllowCommands},
	{"AgentLimits", testAgentLimits},
	{"SessionUsage", testSessionUsage},
	{"SessionUsageConcurrent", testSessionUsageConcurrent},
}

func testAccountAllowCommands(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, a.ID, "sales", "")
	acct := store.ChannelAccount{TenantID: a.ID, ID: newID(), Channel: "Webhook", AccountID: "crm", AgentID: "sales",
		SecretCredentialID: newID(), CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "create", s.CreateChannelAccount(ctx, acct), nil)
	got, err := s.GetChannelAccount(ctx, a.ID, acct.ID)
	isErr(t, "get", err, nil)
	if got.AllowCommands {
		t.Fatal("a new account allows commands")
	}
	acct.AllowCommands, acct.UpdatedAt = true, t0.Add(time.Hour)
	isErr(t, "update", s.UpdateChannelAccount(ctx, acct), nil)
	got, err = s.ChannelAccountByKey(ctx, a.ID, "Webhook", "crm")
	isErr(t, "by key", err, nil)
	if !got.AllowCommands || !got.UpdatedAt.Equal(t0.Add(time.Hour)) || !got.CreatedAt.Equal(t0) {
		t.Fatalf("after update: %+v", got)
	}
	// Another tenant cannot change it, nor can an unknown ID.
	other := acct
	other.TenantID, other.AllowCommands = b.ID, false
	isErr(t, "B updates A's account", s.UpdateChannelAccount(ctx, other), store.ErrNotFound)
	unknown := acct
	unknown.ID = newID()
	isErr(t, "update unknown", s.UpdateChannelAccount(ctx, unknown), store.ErrNotFound)
	got, _ = s.GetChannelAccount(ctx, a.ID, acct.ID)
	if !got.AllowCommands {
		t.Fatal("another tenant's update changed the account")
	}
	acct.AllowCommands = false
	isErr(t, "update off", s.UpdateChannelAccount(ctx, acct), nil)
	list, _, err := s.ListChannelAccounts(ctx, a.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "list", err, nil)
	if len(list) != 1 || list[0].AllowCommands {
		t.Fatalf("list: %+v", list)
	}
}

func testAgentLimits(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	ag := mkAgent(t, s, a.ID, "support", "")
	got, err := s.GetAgent(ctx, a.ID, "support")
	isErr(t, "get", err, nil)
	equal(t, "default limits", got.Limits, store.AgentLimits{})
	ag.Limits = store.AgentLimits{MaxToolCallsPerTurn: 3, MaxTokensPerTurn: 5000, MaxTurnSeconds: 30,
		MaxToolCallsPerSession: 40, MaxTokensPerSession: 900000, MaxSessionSeconds: 600,
		InputPricePerMTok: 3, OutputPricePerMTok: 15.25, MaxCostPerSession: 0.5}
	ag.UpdatedAt = norm(t0.Add(time.Minute))
	isErr(t, "update", s.UpdateAgent(ctx, ag), nil)
	got, err = s.GetAgent(ctx, a.ID, "support")
	isErr(t, "get", err, nil)
	equal(t, "limits", got.Limits, ag.Limits)
	st, err := s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: mkSession(t, s, a.ID, "support", "u1", t0).Key, History: 1})
	isErr(t, "LoadTurn", err, nil)
	if st.Agent == nil {
		t.Fatal("LoadTurn: no agent")
	}
	equal(t, "LoadTurn limits", st.Agent.Limits, ag.Limits)
	created := ag
	created.AgentID = "created"
	isErr(t, "create with limits", s.CreateAgent(ctx, created, 100), nil)
	got, _ = s.GetAgent(ctx, a.ID, "created")
	equal(t, "created limits", got.Limits, ag.Limits)
}

func testSessionUsage(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "globex")
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	u := store.SessionUsage{ToolCalls: 2, InputTokens: 1500, OutputTokens: 300, BusyMillis: 1200}
	isErr(t, "AddSessionUsage", s.AddSessionUsage(ctx, a.ID, se.ID, u), nil)
	isErr(t, "AddSessionUsage again", s.AddSessionUsage(ctx, a.ID, se.ID, u), nil)
	got, err := s.GetSession(ctx, a.ID, se.ID)
	isErr(t, "GetSession", err, nil)
	equal(t, "usage", got.Usage, u.Add(u))
	if got.MessageCount != se.MessageCount || !got.LastMessageAt.Equal(se.LastMessageAt) {
		t.Errorf("usage changed the message counts: %+v", got)
	}
	// With a unit's turns, in the audit entry's transaction.
	ta := store.TurnAppend{TenantID: a.ID, SessionID: se.ID, Usage: store.SessionUsage{ToolCalls: 1, InputTokens: 10, OutputTokens: 5, BusyMillis: 7},
		Turns: []store.Turn{{Role: store.RoleAssistant, Text: "ok", CreatedAt: t0.Add(time.Second)}}}
	isErr(t, "CommitAudit", s.CommitAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0)}, seal, []*store.Unit{{Turns: []store.TurnAppend{ta}}}), nil)
	st, err := s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: se.Key, History: 5})
	isErr(t, "LoadTurn", err, nil)
	equal(t, "usage after the unit", st.Session.Usage, u.Add(u).Add(ta.Usage))
	if st.Session.MessageCount != se.MessageCount+1 {
		t.Errorf("MessageCount %d", st.Session.MessageCount)
	}
	// Another tenant's session, an unknown one and an ended one are not found.
	isErr(t, "B adds to A's session", s.AddSessionUsage(ctx, b.ID, se.ID, u), store.ErrNotFound)
	isErr(t, "unknown session", s.AddSessionUsage(ctx, a.ID, newID(), u), store.ErrNotFound)
	_, err = s.EndSession(ctx, a.ID, se.ID, t0.Add(time.Hour), "ended")
	isErr(t, "EndSession", err, nil)
	isErr(t, "ended session", s.AddSessionUsage(ctx, a.ID, se.ID, u), store.ErrNotFound)
	got, _ = s.GetSession(ctx, a.ID, se.ID)
	equal(t, "usage of the ended session", got.Usage, u.Add(u).Add(ta.Usage))
	// A new session starts at zero.
	fresh := mkSession(t, s, a.ID, "support", "user-1", t0.Add(2*time.Hour))
	got, _ = s.GetSession(ctx, a.ID, fresh.ID)
	equal(t, "new session", got.Usage, store.SessionUsage{})
}

// testSessionUsageConcurrent: adds from several writers at once (replicas
// finishing turns) all count.
func testSessionUsageConcurrent(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	const writers, each = 4, 10
	errs := race(writers, func(int) error {
		for range each {
			if err := s.AddSessionUsage(ctx, a.ID, se.ID, store.SessionUsage{ToolCalls: 1, InputTokens: 3, OutputTokens: 2, BusyMillis: 1}); err != nil {
				return err
			}
		}
		return nil
	})
	for i, err := range errs {
		isErr(t, fmt.Sprintf("writer %d", i), err, nil)
	}
	got, err := s.GetSession(ctx, a.ID, se.ID)
	isErr(t, "GetSession", err, nil)
	n := int64(writers * each)
	equal(t, "usage", got.Usage, store.SessionUsage{ToolCalls: n, InputTokens: 3 * n, OutputTokens: 2 * n, BusyMillis: n})
}
