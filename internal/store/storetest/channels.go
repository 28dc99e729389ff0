package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var channelTests = []test{
	{"AccountsRoundTripAndTenancy", testChannelAccounts},
	{"WebhookReplay", testWebhookReplay},
}

func testChannelAccounts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, a.ID, "sales", "")
	mkAgent(t, s, b.ID, "sales", "")
	acct := store.ChannelAccount{TenantID: a.ID, ID: newID(), Channel: "Webhook", AccountID: "crm", AgentID: "sales",
		SecretCredentialID: newID(), TokenCredentialID: newID(), CreatedBy: newID(), CreatedAt: t0, UpdatedAt: t0.In(east)}
	isErr(t, "create", s.CreateChannelAccount(ctx, acct), nil)
	acct.UpdatedAt = norm(acct.UpdatedAt)
	got, err := s.GetChannelAccount(ctx, a.ID, acct.ID)
	isErr(t, "get", err, nil)
	equal(t, "get", got, acct)
	got, err = s.ChannelAccountByKey(ctx, a.ID, "Webhook", "crm")
	isErr(t, "by key", err, nil)
	equal(t, "by key", got, acct)
	tn, err := s.TenantIDByChannelAccount(ctx, acct.ID)
	isErr(t, "tenant by account", err, nil)
	if tn != a.ID {
		t.Fatalf("tenant by account: %s", tn)
	}
	_, err = s.TenantIDByChannelAccount(ctx, newID())
	isErr(t, "tenant by unknown account", err, store.ErrNotFound)

	dup := acct
	dup.ID = newID()
	isErr(t, "duplicate key", s.CreateChannelAccount(ctx, dup), store.ErrConflict)
	other := acct
	other.ID, other.Channel = newID(), "Slack"
	isErr(t, "same account ID on another channel", s.CreateChannelAccount(ctx, other), nil)
	noAgent := acct
	noAgent.ID, noAgent.AccountID, noAgent.AgentID = newID(), "x", "ghost"
	isErr(t, "unknown agent", s.CreateChannelAccount(ctx, noAgent), store.ErrNotFound)
	inB := acct
	inB.ID, inB.TenantID = newID(), b.ID
	isErr(t, "same key in B", s.CreateChannelAccount(ctx, inB), nil)

	_, err = s.GetChannelAccount(ctx, b.ID, acct.ID)
	isErr(t, "B gets A's account", err, store.ErrNotFound)
	isErr(t, "B deletes A's account", s.DeleteChannelAccount(ctx, b.ID, acct.ID), store.ErrNotFound)
	list, total, err := s.ListChannelAccounts(ctx, a.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "list", err, nil)
	if total != 2 || list[0].Channel != "Slack" || list[1].Channel != "Webhook" {
		t.Fatalf("list: %d %+v", total, list)
	}
	isErr(t, "delete", s.DeleteChannelAccount(ctx, a.ID, acct.ID), nil)
	_, err = s.GetChannelAccount(ctx, a.ID, acct.ID)
	isErr(t, "get deleted", err, store.ErrNotFound)
	// Accounts go with their agent.
	isErr(t, "DeleteAgent", s.DeleteAgent(ctx, a.ID, "sales"), nil)
	if _, total, _ := s.ListChannelAccounts(ctx, a.ID, store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatalf("%d accounts survived their agent", total)
	}
}

func testWebhookReplay(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	exp := t0.Add(5 * time.Minute)
	isErr(t, "first", s.MarkWebhookSeen(ctx, a.ID, "acct", "sig-1", t0, exp), nil)
	isErr(t, "replay", s.MarkWebhookSeen(ctx, a.ID, "acct", "sig-1", t0.Add(time.Minute), exp), store.ErrConflict)
	isErr(t, "other signature", s.MarkWebhookSeen(ctx, a.ID, "acct", "sig-2", t0, exp), nil)
	isErr(t, "other account", s.MarkWebhookSeen(ctx, a.ID, "acct-2", "sig-1", t0, exp), nil)
	isErr(t, "other tenant", s.MarkWebhookSeen(ctx, b.ID, "acct", "sig-1", t0, exp), nil)
	// Once expired the entry is dropped (the timestamp check refuses
	// such a delivery long before).
	isErr(t, "after expiry", s.MarkWebhookSeen(ctx, a.ID, "acct", "sig-1", exp, exp.Add(5*time.Minute)), nil)

	// Concurrent deliveries of one signature: exactly one passes.
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s.MarkWebhookSeen(ctx, a.ID, "acct", "sig-race", t0, exp) == nil {
				mu.Lock()
				passed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if passed != 1 {
		t.Fatalf("%d concurrent deliveries of one signature passed, want 1", passed)
	}
}
