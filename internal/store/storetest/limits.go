package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// The limit tests race creations at a per-tenant quota: of n writers at
// once, exactly the quota's worth succeed and the others get ErrLimit,
// whatever the interleaving, and another tenant's rows do not count.
var limitTests = []test{
	{"AgentsAtTheLimit", testLimitAgents},
	{"ActiveSessionsAtTheLimit", testLimitSessions},
	{"CredentialsAtTheLimit", testLimitCredentials},
	{"ZeroLimitRefuses", testLimitZero},
}

const limitWriters, limitQuota = 16, 5

// checkRace counts the successes of a race and requires every failure to
// be ErrLimit.
func checkRace(t *testing.T, what string, errs []error, want int) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
			continue
		}
		isErr(t, what+" over the limit", err, store.ErrLimit)
	}
	if ok != want {
		t.Fatalf("%s: %d of %d writers succeeded, want exactly %d", what, ok, len(errs), want)
	}
}

func testLimitAgents(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, b.ID, "other", "") // B's agent does not count for A
	mkAgent(t, s, a.ID, "first", "")
	errs := race(limitWriters, func(i int) error {
		return s.CreateAgent(ctx, store.Agent{TenantID: a.ID, AgentID: fmt.Sprintf("agent%02d", i), Name: "A",
			CreatedAt: t0, UpdatedAt: t0}, limitQuota)
	})
	checkRace(t, "CreateAgent", errs, limitQuota-1)
	_, total, err := s.ListAgents(ctx, a.ID, store.Page{Page: 1, PageSize: 100})
	isErr(t, "ListAgents", err, nil)
	if total != limitQuota {
		t.Fatalf("stored %d agents, want the quota %d", total, limitQuota)
	}
	// At the quota, even a taken agentId is refused by the quota first or by
	// the conflict; either way nothing is stored. After a delete one fits.
	isErr(t, "one more", s.CreateAgent(ctx, store.Agent{TenantID: a.ID, AgentID: "late", Name: "L", CreatedAt: t0, UpdatedAt: t0}, limitQuota), store.ErrLimit)
	isErr(t, "DeleteAgent", s.DeleteAgent(ctx, a.ID, "first"), nil)
	isErr(t, "after a delete", s.CreateAgent(ctx, store.Agent{TenantID: a.ID, AgentID: "late", Name: "L", CreatedAt: t0, UpdatedAt: t0}, limitQuota), nil)
	isErr(t, "B under its own quota", s.CreateAgent(ctx, store.Agent{TenantID: b.ID, AgentID: "late", Name: "L", CreatedAt: t0, UpdatedAt: t0}, 2), nil)
}

func testLimitSessions(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	mkAgent(t, s, a.ID, "sales", "")
	ended := mkSession(t, s, a.ID, "sales", "ended", t0)
	_, err := s.EndSession(ctx, a.ID, ended.ID, t0.Add(time.Minute), "closed")
	isErr(t, "EndSession", err, nil)
	errs := race(limitWriters, func(i int) error {
		sender := fmt.Sprintf("sender-%02d", i)
		return s.CreateSession(ctx, store.Session{ID: newID(), TenantID: a.ID, Key: "WebChat:default:" + sender,
			Channel: "WebChat", ChannelAccountID: "default", SenderID: sender, AgentID: "sales",
			FirstMessageAt: t0, LastMessageAt: t0}, limitQuota)
	})
	checkRace(t, "CreateSession", errs, limitQuota) // the ended session does not count
	_, active, err := s.ListSessions(ctx, a.ID, store.SessionFilter{Status: "active"}, store.Page{Page: 1, PageSize: 100})
	isErr(t, "ListSessions", err, nil)
	if active != limitQuota {
		t.Fatalf("%d active sessions stored, want the quota %d", active, limitQuota)
	}
	// Ending one makes room for one.
	list, _, err := s.ListSessions(ctx, a.ID, store.SessionFilter{Status: "active"}, store.Page{Page: 1, PageSize: 1})
	isErr(t, "ListSessions", err, nil)
	_, err = s.EndSession(ctx, a.ID, list[0].ID, t0.Add(time.Minute), "closed")
	isErr(t, "EndSession", err, nil)
	errs = race(limitWriters, func(i int) error {
		sender := fmt.Sprintf("late-%02d", i)
		return s.CreateSession(ctx, store.Session{ID: newID(), TenantID: a.ID, Key: "WebChat:default:" + sender,
			Channel: "WebChat", ChannelAccountID: "default", SenderID: sender, AgentID: "sales",
			FirstMessageAt: t0, LastMessageAt: t0}, limitQuota)
	})
	checkRace(t, "CreateSession after an end", errs, 1)
}

func testLimitCredentials(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	mkDataKey(t, s, a.ID, 1, "kek")
	errs := race(limitWriters, func(i int) error {
		return s.CreateCredential(ctx, store.Credential{TenantID: a.ID, ID: newID(), Name: fmt.Sprintf("cred-%02d", i),
			Type: "api_key", KeyVersion: 1, Ciphertext: []byte("c"), CreatedAt: t0, UpdatedAt: t0}, limitQuota)
	})
	checkRace(t, "CreateCredential", errs, limitQuota)
	_, total, err := s.ListCredentials(ctx, a.ID, store.Page{Page: 1, PageSize: 100})
	isErr(t, "ListCredentials", err, nil)
	if total != limitQuota {
		t.Fatalf("stored %d credentials, want the quota %d", total, limitQuota)
	}
}

// testLimitZero: a quota below 1 refuses every creation (deny by default,
// never "unlimited").
func testLimitZero(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "alpha")
	mkDataKey(t, s, a.ID, 1, "kek")
	mkAgent(t, s, a.ID, "sales", "")
	for _, max := range []int{0, -1} {
		isErr(t, "CreateAgent", s.CreateAgent(ctx, store.Agent{TenantID: a.ID, AgentID: "x", Name: "x", CreatedAt: t0, UpdatedAt: t0}, max), store.ErrLimit)
		isErr(t, "CreateSession", s.CreateSession(ctx, store.Session{ID: newID(), TenantID: a.ID, Key: "k", Channel: "WebChat",
			ChannelAccountID: "default", SenderID: "s", AgentID: "sales", FirstMessageAt: t0, LastMessageAt: t0}, max), store.ErrLimit)
		isErr(t, "CreateCredential", s.CreateCredential(ctx, store.Credential{TenantID: a.ID, ID: newID(), Name: "c", Type: "api_key",
			KeyVersion: 1, Ciphertext: []byte("c"), CreatedAt: t0, UpdatedAt: t0}, max), store.ErrLimit)
	}
}
