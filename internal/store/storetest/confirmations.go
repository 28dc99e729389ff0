package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var confirmationTests = []test{
	{"RoundTrip", testConfirmationRoundTrip},
	{"ConsumeOnce", testConfirmationConsume},
	{"Attempts", testConfirmationAttempts},
	{"Close", testConfirmationClose},
	{"OnePendingPerSession", testConfirmationOnePending},
	{"Tenancy", testConfirmationTenancy},
	{"ConsumeRace", testConfirmationRace},
}

// mkConfirmation stores a pending confirmation of se and returns it as a
// store must read it back.
func mkConfirmation(t *testing.T, s store.Store, se store.Session, at time.Time) store.Confirmation {
	t.Helper()
	c := store.Confirmation{TenantID: se.TenantID, ID: newID(), SessionID: se.ID, AgentID: se.AgentID, UserID: newID(),
		TurnSeq: 7, CallHash: "c0ffee", CodeHash: "abc123", ToolNames: "memory_store,web-fetch", Status: store.ConfirmationPending,
		RequestID: "req-1", CreatedAt: at, ExpiresAt: at.Add(10 * time.Minute)}
	isErr(t, "CreateConfirmation", s.CreateConfirmation(t.Context(), c), nil)
	c.CreatedAt, c.ExpiresAt = norm(c.CreatedAt), norm(c.ExpiresAt)
	return c
}

func testConfirmationRoundTrip(t *testing.T, s store.Store) {
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	c := mkConfirmation(t, s, se, t0.Add(123).In(east))
	got, err := s.PendingConfirmation(t.Context(), a.ID, se.ID)
	isErr(t, "PendingConfirmation", err, nil)
	equal(t, "confirmation", got, c)
	other := mkSession(t, s, a.ID, "support", "u2", t0)
	_, err = s.PendingConfirmation(t.Context(), a.ID, other.ID)
	isErr(t, "PendingConfirmation (another session)", err, store.ErrNotFound)
}

func testConfirmationConsume(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	c := mkConfirmation(t, s, se, t0)
	// Expired at the moment it expires: not consumable, still pending.
	isErr(t, "consume at expiry", s.ConsumeConfirmation(ctx, a.ID, c.ID, c.ExpiresAt), store.ErrConflict)
	if _, err := s.PendingConfirmation(ctx, a.ID, se.ID); err != nil {
		t.Fatalf("an expired consume changed the row: %v", err)
	}
	isErr(t, "consume", s.ConsumeConfirmation(ctx, a.ID, c.ID, t0.Add(time.Minute)), nil)
	isErr(t, "consume again (replay)", s.ConsumeConfirmation(ctx, a.ID, c.ID, t0.Add(2*time.Minute)), store.ErrConflict)
	_, err := s.PendingConfirmation(ctx, a.ID, se.ID)
	isErr(t, "no longer pending", err, store.ErrNotFound)
	isErr(t, "consume unknown", s.ConsumeConfirmation(ctx, a.ID, newID(), t0), store.ErrNotFound)
	_, err = s.FailConfirmation(ctx, a.ID, c.ID, 3, t0)
	isErr(t, "fail a confirmed one", err, store.ErrConflict)
	isErr(t, "close a confirmed one", s.CloseConfirmation(ctx, a.ID, c.ID, store.ConfirmationCancelled, t0), store.ErrConflict)
}

func testConfirmationAttempts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	c := mkConfirmation(t, s, se, t0)
	for i := 1; i <= 2; i++ {
		got, err := s.FailConfirmation(ctx, a.ID, c.ID, 3, t0.Add(time.Duration(i)*time.Second))
		isErr(t, "FailConfirmation", err, nil)
		if got.Attempts != i || got.Status != store.ConfirmationPending || got.ClosedAt != nil {
			t.Fatalf("after %d wrong attempts: %+v", i, got)
		}
	}
	got, err := s.FailConfirmation(ctx, a.ID, c.ID, 3, t0.Add(time.Minute))
	isErr(t, "third FailConfirmation", err, nil)
	if got.Attempts != 3 || got.Status != store.ConfirmationCancelled || got.ClosedAt == nil || !got.ClosedAt.Equal(norm(t0.Add(time.Minute))) {
		t.Fatalf("after 3 wrong attempts: %+v", got)
	}
	isErr(t, "consume a cancelled one", s.ConsumeConfirmation(ctx, a.ID, c.ID, t0.Add(time.Minute)), store.ErrConflict)
	_, err = s.FailConfirmation(ctx, a.ID, c.ID, 3, t0)
	isErr(t, "fail a cancelled one", err, store.ErrConflict)
	_, err = s.FailConfirmation(ctx, a.ID, newID(), 3, t0)
	isErr(t, "fail unknown", err, store.ErrNotFound)
}

func testConfirmationClose(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	c := mkConfirmation(t, s, se, t0)
	isErr(t, "close expired", s.CloseConfirmation(ctx, a.ID, c.ID, store.ConfirmationExpired, t0.Add(time.Hour)), nil)
	isErr(t, "close again", s.CloseConfirmation(ctx, a.ID, c.ID, store.ConfirmationCancelled, t0.Add(time.Hour)), store.ErrConflict)
	isErr(t, "consume an expired one", s.ConsumeConfirmation(ctx, a.ID, c.ID, t0), store.ErrConflict)
	isErr(t, "close unknown", s.CloseConfirmation(ctx, a.ID, newID(), store.ConfirmationCancelled, t0), store.ErrNotFound)
}

func testConfirmationOnePending(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	first := mkConfirmation(t, s, se, t0)
	second := mkConfirmation(t, s, se, t0.Add(time.Minute))
	got, err := s.PendingConfirmation(ctx, a.ID, se.ID)
	isErr(t, "PendingConfirmation", err, nil)
	equal(t, "the newer confirmation is the pending one", got, second)
	isErr(t, "the older one was cancelled", s.ConsumeConfirmation(ctx, a.ID, first.ID, t0.Add(time.Minute)), store.ErrConflict)
	isErr(t, "a taken ID", s.CreateConfirmation(ctx, store.Confirmation{TenantID: a.ID, ID: second.ID, SessionID: newID(),
		UserID: "u", TurnSeq: 1, CallHash: "h", CodeHash: "h", Status: store.ConfirmationPending, CreatedAt: t0, ExpiresAt: t0}), store.ErrConflict)
}

func testConfirmationTenancy(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "beta")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	c := mkConfirmation(t, s, se, t0)
	_, err := s.PendingConfirmation(ctx, b.ID, se.ID)
	isErr(t, "another tenant's pending", err, store.ErrNotFound)
	isErr(t, "another tenant consumes", s.ConsumeConfirmation(ctx, b.ID, c.ID, t0), store.ErrNotFound)
	_, err = s.FailConfirmation(ctx, b.ID, c.ID, 1, t0)
	isErr(t, "another tenant fails", err, store.ErrNotFound)
	isErr(t, "another tenant closes", s.CloseConfirmation(ctx, b.ID, c.ID, store.ConfirmationCancelled, t0), store.ErrNotFound)
	got, err := s.PendingConfirmation(ctx, a.ID, se.ID)
	isErr(t, "still pending", err, nil)
	equal(t, "untouched by the other tenant", got, c)
}

// testConfirmationRace: two uses of one code at the same moment; exactly
// one consumes it.
func testConfirmationRace(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "u1", t0)
	for round := range 10 {
		c := mkConfirmation(t, s, se, t0)
		errs := race(2, func(int) error { return s.ConsumeConfirmation(ctx, a.ID, c.ID, t0.Add(time.Second)) })
		ok := 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case !errors.Is(err, store.ErrConflict):
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		if ok != 1 {
			t.Fatalf("round %d: one code used twice at once: %v, want one success and one ErrConflict", round, errs)
		}
	}
}
