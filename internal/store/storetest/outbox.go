package storetest

import (
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var outboxTests = []test{
	{"RoundTrip", testOutboxRoundTrip},
	{"Lease", testOutboxLease},
	{"RetryAndRemove", testOutboxRetryRemove},
	{"OrderAndLimit", testOutboxOrderLimit},
	{"TenantIsolation", testOutboxIsolation},
	{"ClaimRace", testOutboxClaimRace},
}

// released is the lease of a delivery nobody holds.
var released = time.Unix(0, 0).UTC()

// mkDelivery enqueues a delivery created at at, claimed by token for a
// minute.
func mkDelivery(t *testing.T, s store.Store, tenantID, token string, at time.Time) store.Delivery {
	t.Helper()
	d := store.Delivery{TenantID: tenantID, ID: newID(), Channel: "Telegram", ChannelAccountID: newID(), AgentID: "agent-" + tenantID[:4],
		SessionID: newID(), MessageID: "m-" + newID()[:8], RequestID: "req-" + newID()[:8], Payload: []byte(`{"chatId":42,"text":"réponse \u2014 ok"}`),
		Attempts: 1, NextAttemptAt: at, LeaseToken: token, LeaseUntil: at.Add(time.Minute), CreatedAt: at}
	isErr(t, "EnqueueDelivery", s.EnqueueDelivery(t.Context(), d), nil)
	return d
}

func claim(t *testing.T, s store.Store, tenantID, token string, now time.Time, limit int) []store.Delivery {
	t.Helper()
	ds, err := s.ClaimDeliveries(t.Context(), tenantID, token, now, now.Add(time.Minute), limit)
	isErr(t, "ClaimDeliveries", err, nil)
	return ds
}

func deliveryIDs(ds []store.Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testOutboxRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s, "acme")
	d := mkDelivery(t, s, tn.ID, "first", t0.In(east))
	dup := d
	dup.LeaseToken = "other"
	isErr(t, "EnqueueDelivery with a taken ID", s.EnqueueDelivery(ctx, dup), store.ErrConflict)

	// Due once the creator's lease has passed: claimed with one more attempt.
	at := t0.Add(time.Minute)
	got := claim(t, s, tn.ID, "second", at, 10)
	want := d
	want.NextAttemptAt, want.CreatedAt = norm(d.NextAttemptAt), norm(d.CreatedAt)
	want.Attempts, want.LeaseToken, want.LeaseUntil = 2, "second", norm(at.Add(time.Minute))
	equal(t, "claimed", got, []store.Delivery{want})
}

func testOutboxLease(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s, "acme")
	d := mkDelivery(t, s, tn.ID, "creator", t0)
	// Held by its creator: neither due nor claimable before the lease ends.
	before := t0.Add(time.Minute - time.Microsecond)
	tenants, err := s.DueDeliveryTenants(ctx, before, 10)
	isErr(t, "DueDeliveryTenants", err, nil)
	equal(t, "due tenants under a lease", len(tenants), 0)
	equal(t, "claim under a lease", deliveryIDs(claim(t, s, tn.ID, "thief", before, 10)), []string{})
	isErr(t, "RemoveDelivery by a non-holder", s.RemoveDelivery(ctx, tn.ID, d.ID, "thief"), store.ErrNotFound)
	isErr(t, "RetryDelivery by a non-holder", s.RetryDelivery(ctx, tn.ID, d.ID, "thief", t0, "x"), store.ErrNotFound)
	isErr(t, "RemoveDelivery with an empty token", s.RemoveDelivery(ctx, tn.ID, d.ID, ""), store.ErrNotFound)

	// The creator died: at the end of the lease another worker claims it,
	// and the creator may no longer touch it.
	end := t0.Add(time.Minute)
	tenants, err = s.DueDeliveryTenants(ctx, end, 10)
	isErr(t, "DueDeliveryTenants", err, nil)
	equal(t, "due tenants after the lease", tenants, []string{tn.ID})
	equal(t, "claim after the lease", deliveryIDs(claim(t, s, tn.ID, "rescuer", end, 10)), []string{d.ID})
	equal(t, "claim again", deliveryIDs(claim(t, s, tn.ID, "third", end, 10)), []string{})
	isErr(t, "RetryDelivery by the old holder", s.RetryDelivery(ctx, tn.ID, d.ID, "creator", end, "x"), store.ErrNotFound)
	isErr(t, "RemoveDelivery by the old holder", s.RemoveDelivery(ctx, tn.ID, d.ID, "creator"), store.ErrNotFound)
	isErr(t, "RemoveDelivery by the holder", s.RemoveDelivery(ctx, tn.ID, d.ID, "rescuer"), nil)
}

func testOutboxRetryRemove(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s, "acme")
	d := mkDelivery(t, s, tn.ID, "w1", t0)
	next := t0.Add(10 * time.Second)
	isErr(t, "RetryDelivery", s.RetryDelivery(ctx, tn.ID, d.ID, "w1", next, "unreachable"), nil)
	// Released: the old token holds nothing any more.
	isErr(t, "RetryDelivery again", s.RetryDelivery(ctx, tn.ID, d.ID, "w1", next, "unreachable"), store.ErrNotFound)
	isErr(t, "RemoveDelivery after release", s.RemoveDelivery(ctx, tn.ID, d.ID, "w1"), store.ErrNotFound)
	equal(t, "claim before the next attempt", deliveryIDs(claim(t, s, tn.ID, "w2", next.Add(-time.Microsecond), 10)), []string{})
	got := claim(t, s, tn.ID, "w2", next, 10)
	if len(got) != 1 || got[0].Attempts != 2 || got[0].LastErrorClass != "unreachable" || !got[0].NextAttemptAt.Equal(next) ||
		got[0].LeaseToken != "w2" {
		t.Fatalf("claimed after retry: %+v", got)
	}
	isErr(t, "RetryDelivery", s.RetryDelivery(ctx, tn.ID, d.ID, "w2", next.Add(time.Minute), "http_5xx"), nil)
	got = claim(t, s, tn.ID, "w3", next.Add(time.Minute), 10)
	if len(got) != 1 || got[0].Attempts != 3 || got[0].LastErrorClass != "http_5xx" || !got[0].LeaseUntil.After(next) {
		t.Fatalf("claimed after the second retry: %+v", got)
	}
	isErr(t, "RemoveDelivery", s.RemoveDelivery(ctx, tn.ID, d.ID, "w3"), nil)
	isErr(t, "RemoveDelivery twice", s.RemoveDelivery(ctx, tn.ID, d.ID, "w3"), store.ErrNotFound)
	equal(t, "claim after removal", deliveryIDs(claim(t, s, tn.ID, "w4", t0.Add(time.Hour), 10)), []string{})
	tenants, err := s.DueDeliveryTenants(ctx, t0.Add(time.Hour), 10)
	isErr(t, "DueDeliveryTenants", err, nil)
	equal(t, "due tenants after removal", len(tenants), 0)
}

func testOutboxOrderLimit(t *testing.T, s store.Store) {
	tn := mkTenant(t, s, "acme")
	var want []string
	for i := range 5 {
		// Created newest first: the claim orders by next attempt.
		d := mkDelivery(t, s, tn.ID, "c", t0.Add(time.Duration(5-i)*time.Second))
		want = append([]string{d.ID}, want...)
	}
	at := t0.Add(time.Hour)
	first := claim(t, s, tn.ID, "a", at, 3)
	second := claim(t, s, tn.ID, "b", at, 3)
	equal(t, "first claim", deliveryIDs(first), want[:3])
	equal(t, "second claim", deliveryIDs(second), want[3:])
	equal(t, "third claim", deliveryIDs(claim(t, s, tn.ID, "c", at, 3)), []string{})
}

func testOutboxIsolation(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "beta")
	da := mkDelivery(t, s, a.ID, "wa", t0)
	db := mkDelivery(t, s, b.ID, "wb", t0.Add(time.Second))
	at := t0.Add(time.Hour)
	tenants, err := s.DueDeliveryTenants(ctx, at, 10)
	isErr(t, "DueDeliveryTenants", err, nil)
	equal(t, "due tenants, longest waiting first", tenants, []string{a.ID, b.ID})
	tenants, err = s.DueDeliveryTenants(ctx, at, 1)
	isErr(t, "DueDeliveryTenants limit 1", err, nil)
	equal(t, "due tenants, limit 1", tenants, []string{a.ID})

	// Another tenant's delivery, even with its holder's token, is missing.
	isErr(t, "RemoveDelivery across tenants", s.RemoveDelivery(ctx, b.ID, da.ID, "wa"), store.ErrNotFound)
	isErr(t, "RetryDelivery across tenants", s.RetryDelivery(ctx, b.ID, da.ID, "wa", at, "x"), store.ErrNotFound)
	equal(t, "B's claim", deliveryIDs(claim(t, s, b.ID, "x", at, 10)), []string{db.ID})
	equal(t, "A's claim", deliveryIDs(claim(t, s, a.ID, "y", at, 10)), []string{da.ID})
	isErr(t, "RemoveDelivery of B's with A's tenant", s.RemoveDelivery(ctx, a.ID, db.ID, "x"), store.ErrNotFound)
	isErr(t, "RemoveDelivery A", s.RemoveDelivery(ctx, a.ID, da.ID, "y"), nil)
	isErr(t, "RemoveDelivery B", s.RemoveDelivery(ctx, b.ID, db.ID, "x"), nil)
}

// testOutboxClaimRace has workers claim one tenant's deliveries at once,
// as replicas do: each delivery goes to exactly one of them.
func testOutboxClaimRace(t *testing.T, s store.Store) {
	tn := mkTenant(t, s, "acme")
	const n, workers = 40, 6
	var all []string
	for range n {
		all = append(all, mkDelivery(t, s, tn.ID, "c", t0).ID)
	}
	at := t0.Add(time.Hour)
	var mu sync.Mutex
	got := map[string][]string{} // delivery → the workers that claimed it
	errs := race(workers, func(i int) error {
		token := fmt.Sprintf("worker-%d", i)
		for {
			ds, err := s.ClaimDeliveries(t.Context(), tn.ID, token, at, at.Add(time.Minute), 3)
			if err != nil || len(ds) == 0 {
				return err
			}
			mu.Lock()
			for _, d := range ds {
				got[d.ID] = append(got[d.ID], token)
				if d.LeaseToken != token || d.Attempts != 2 {
					mu.Unlock()
					return fmt.Errorf("claimed %+v", d)
				}
			}
			mu.Unlock()
		}
	})
	for _, err := range errs {
		isErr(t, "ClaimDeliveries", err, nil)
	}
	var claimed []string
	for id, by := range got {
		if len(by) != 1 {
			t.Errorf("delivery %s claimed by %v", id, by)
		}
		claimed = append(claimed, id)
	}
	slices.Sort(claimed)
	slices.Sort(all)
	equal(t, "claimed deliveries", claimed, all)
}
