package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var identityTests = []test{
	{"IdentitiesRoundTripAndTenancy", testChannelIdentities},
	{"ReviewCallbacksSpendOnce", testReviewCallbacks},
}

func mkAccount(t *testing.T, s store.Store, tenantID, channel, accountID, agentID string) store.ChannelAccount {
	t.Helper()
	a := store.ChannelAccount{TenantID: tenantID, ID: newID(), Channel: channel, AccountID: accountID, AgentID: agentID,
		SecretCredentialID: newID(), CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "create account", s.CreateChannelAccount(t.Context(), a), nil)
	return a
}

func testChannelIdentities(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, a.ID, "sales", "")
	mkAgent(t, s, b.ID, "sales", "")
	ua := mkUser(t, s, a.ID, "ada@alpha.example", "admin")
	ub := mkUser(t, s, b.ID, "bob@beta.example", "owner")
	acct := mkAccount(t, s, a.ID, "Slack", "ws", "sales")
	acctB := mkAccount(t, s, b.ID, "Slack", "ws", "sales")

	// Settings round-trip.
	acct.SlackTeamID, acct.ReviewDestination, acct.UpdatedAt = "T0123", "C0ADMINS", t0.Add(time.Second)
	isErr(t, "update account", s.UpdateChannelAccount(ctx, acct), nil)
	got, err := s.GetChannelAccount(ctx, a.ID, acct.ID)
	isErr(t, "get account", err, nil)
	equal(t, "account settings", got, acct)

	i := store.ChannelIdentity{TenantID: a.ID, ChannelAccountID: acct.ID, ExternalID: "U42", UserID: ua.ID, CreatedBy: ua.ID, CreatedAt: t0.In(east)}
	isErr(t, "create", s.CreateChannelIdentity(ctx, i), nil)
	i.CreatedAt = norm(i.CreatedAt)
	gi, err := s.ChannelIdentity(ctx, a.ID, acct.ID, "U42")
	isErr(t, "get", err, nil)
	equal(t, "get", gi, i)
	isErr(t, "taken external ID", s.CreateChannelIdentity(ctx, i), store.ErrConflict)

	// Another tenant's user or account cannot be named.
	other := i
	other.ExternalID, other.UserID = "U43", ub.ID
	isErr(t, "user of another tenant", s.CreateChannelIdentity(ctx, other), store.ErrNotFound)
	other.UserID, other.ChannelAccountID = ua.ID, acctB.ID
	isErr(t, "account of another tenant", s.CreateChannelIdentity(ctx, other), store.ErrNotFound)
	other.ChannelAccountID = newID()
	isErr(t, "unknown account", s.CreateChannelIdentity(ctx, other), store.ErrNotFound)
	other.ChannelAccountID, other.UserID = acct.ID, newID()
	isErr(t, "unknown user", s.CreateChannelIdentity(ctx, other), store.ErrNotFound)

	_, err = s.ChannelIdentity(ctx, b.ID, acct.ID, "U42")
	isErr(t, "B reads A's mapping", err, store.ErrNotFound)
	isErr(t, "B deletes A's mapping", s.DeleteChannelIdentity(ctx, b.ID, acct.ID, "U42"), store.ErrNotFound)

	second := i
	second.ExternalID = "U10"
	isErr(t, "create second", s.CreateChannelIdentity(ctx, second), nil)
	list, err := s.ListChannelIdentities(ctx, a.ID, acct.ID, 10)
	isErr(t, "list", err, nil)
	if len(list) != 2 || list[0].ExternalID != "U10" || list[1].ExternalID != "U42" {
		t.Fatalf("list: %+v", list)
	}
	if l, err := s.ListChannelIdentities(ctx, b.ID, acct.ID, 10); err != nil || len(l) != 0 {
		t.Fatalf("B lists A's mappings: %+v %v", l, err)
	}
	isErr(t, "delete", s.DeleteChannelIdentity(ctx, a.ID, acct.ID, "U10"), nil)
	isErr(t, "delete again", s.DeleteChannelIdentity(ctx, a.ID, acct.ID, "U10"), store.ErrNotFound)

	// Deleted with the account.
	isErr(t, "delete account", s.DeleteChannelAccount(ctx, a.ID, acct.ID), nil)
	_, err = s.ChannelIdentity(ctx, a.ID, acct.ID, "U42")
	isErr(t, "mapping of a deleted account", err, store.ErrNotFound)
}

func testReviewCallbacks(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	mkAgent(t, s, a.ID, "sales", "")
	mkAgent(t, s, b.ID, "sales", "")
	acct := mkAccount(t, s, a.ID, "Telegram", "bot", "sales")
	acct2 := mkAccount(t, s, a.ID, "Slack", "ws", "sales")
	acctB := mkAccount(t, s, b.ID, "Telegram", "bot", "sales")
	se := mkSession(t, s, a.ID, "sales", "visitor", t0)
	r := mkReview(t, s, se, store.ReviewToolCall, t0, nil)

	c := store.ReviewCallback{TenantID: a.ID, TokenHash: "h1", ReviewID: r.ID, ChannelAccountID: acct.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}
	isErr(t, "create", s.CreateReviewCallback(ctx, c), nil)
	isErr(t, "taken hash", s.CreateReviewCallback(ctx, c), store.ErrConflict)
	foreign := c
	foreign.TokenHash, foreign.TenantID, foreign.ChannelAccountID = "h2", b.ID, acctB.ID
	isErr(t, "a review of another tenant", s.CreateReviewCallback(ctx, foreign), store.ErrNotFound)

	now := t0.Add(time.Minute)
	_, err := s.SpendReviewCallback(ctx, b.ID, acct.ID, "h1", now)
	isErr(t, "B spends A's callback", err, store.ErrNotFound)
	_, err = s.SpendReviewCallback(ctx, a.ID, acct2.ID, "h1", now)
	isErr(t, "spent through another account", err, store.ErrNotFound)
	_, err = s.SpendReviewCallback(ctx, a.ID, acct.ID, "h9", now)
	isErr(t, "unknown hash", err, store.ErrNotFound)

	// Two spends at once: one wins.
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for k := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[k] = s.SpendReviewCallback(ctx, a.ID, acct.ID, "h1", now)
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		if err == nil {
			won++
		} else {
			isErr(t, "losing spend", err, store.ErrNotFound)
		}
	}
	if won != 1 {
		t.Fatalf("%d spends won, want 1", won)
	}
	_, err = s.SpendReviewCallback(ctx, a.ID, acct.ID, "h1", now)
	isErr(t, "spent again", err, store.ErrNotFound)

	old := c
	old.TokenHash, old.ExpiresAt = "h3", t0.Add(time.Second)
	isErr(t, "create expiring", s.CreateReviewCallback(ctx, old), nil)
	_, err = s.SpendReviewCallback(ctx, a.ID, acct.ID, "h3", t0.Add(time.Second))
	isErr(t, "expired", err, store.ErrNotFound)

	fresh := c
	fresh.TokenHash = "h4"
	isErr(t, "create fresh", s.CreateReviewCallback(ctx, fresh), nil)
	got, err := s.SpendReviewCallback(ctx, a.ID, acct.ID, "h4", now)
	isErr(t, "spend", err, nil)
	if got.ReviewID != r.ID || got.UsedAt == nil || !got.UsedAt.Equal(norm(now)) || got.ChannelAccountID != acct.ID {
		t.Fatalf("spent callback: %+v", got)
	}
}
