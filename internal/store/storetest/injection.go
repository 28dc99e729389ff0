package storetest

import (
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var injectionTests = []test{
	{"PolicyPutGetReplaceAndTenancy", testInjectionPolicy},
	{"ReviewsQueueDecideAndTenancy", testReviews},
	{"TurnFlags", testTurnFlags},
}

func testInjectionPolicy(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	_, err := s.GetInjectionPolicy(ctx, a.ID)
	isErr(t, "get unset", err, store.ErrNotFound)
	p := store.InjectionPolicy{TenantID: a.ID, Doc: []byte(`{"action":"warn"}`), UpdatedBy: "u1", UpdatedAt: t0}
	isErr(t, "put", s.PutInjectionPolicy(ctx, p), nil)
	got, err := s.GetInjectionPolicy(ctx, a.ID)
	isErr(t, "get", err, nil)
	p.UpdatedAt = norm(t0)
	equal(t, "get", got, p)
	p2 := store.InjectionPolicy{TenantID: a.ID, Doc: []byte(`{"action":"escalate"}`), UpdatedBy: "u2", UpdatedAt: t0.Add(time.Hour)}
	isErr(t, "replace", s.PutInjectionPolicy(ctx, p2), nil)
	got, _ = s.GetInjectionPolicy(ctx, a.ID)
	if string(got.Doc) != `{"action":"escalate"}` || got.UpdatedBy != "u2" {
		t.Fatalf("replaced: %+v", got)
	}
	_, err = s.GetInjectionPolicy(ctx, b.ID)
	isErr(t, "other tenant", err, store.ErrNotFound)
}

func testReviews(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	se := mkSession(t, s, a.ID, "default", "visitor", t0)
	mk := func(kind string, at time.Time, cats []string) store.Review {
		r := store.Review{TenantID: a.ID, ID: newID(), SessionID: se.ID, AgentID: "default", Kind: kind, Source: "user",
			TurnSeq: 3, ToolName: "crm", Excerpt: "ignore «all» previous", Score: 0.9731, Categories: cats,
			Status: store.ReviewPending, RequestID: "req-1", CreatedAt: at}
		isErr(t, "create "+kind, s.CreateReview(ctx, r), nil)
		r.CreatedAt = norm(at)
		if r.Categories == nil {
			r.Categories = []string{}
		}
		return r
	}
	r1 := mk(store.ReviewMessage, t0, []string{"instruction_override", "prompt_exfiltration"})
	r2 := mk(store.ReviewToolOutput, t0.Add(time.Minute), nil)
	r3 := mk(store.ReviewToolCall, t0.Add(2*time.Minute), []string{})
	isErr(t, "duplicate id", s.CreateReview(ctx, r1), store.ErrConflict)
	got, err := s.GetReview(ctx, a.ID, r1.ID)
	isErr(t, "get", err, nil)
	equal(t, "get", got, r1)
	got, _ = s.GetReview(ctx, a.ID, r2.ID)
	if got.Categories == nil || len(got.Categories) != 0 {
		t.Fatalf("nil categories read back as %#v", got.Categories)
	}
	list, total, err := s.ListReviews(ctx, a.ID, store.ReviewFilter{}, store.Page{Page: 1, PageSize: 2})
	isErr(t, "list", err, nil)
	if total != 3 || len(list) != 2 || list[0].ID != r3.ID || list[1].ID != r2.ID {
		t.Fatalf("list newest first: %d %+v", total, list)
	}
	list, _, _ = s.ListReviews(ctx, a.ID, store.ReviewFilter{}, store.Page{Page: 2, PageSize: 2})
	if len(list) != 1 || list[0].ID != r1.ID {
		t.Fatalf("page 2: %+v", list)
	}

	at := t0.Add(time.Hour)
	d, err := s.DecideReview(ctx, a.ID, r1.ID, store.ReviewApproved, "admin-1", at)
	isErr(t, "decide", err, nil)
	if d.Status != store.ReviewApproved || d.DecidedBy != "admin-1" || d.DecidedAt == nil || !d.DecidedAt.Equal(norm(at)) {
		t.Fatalf("decided: %+v", d)
	}
	_, err = s.DecideReview(ctx, a.ID, r1.ID, store.ReviewRejected, "admin-2", at)
	isErr(t, "decide twice", err, store.ErrConflict)
	_, err = s.DecideReview(ctx, a.ID, newID(), store.ReviewRejected, "admin-2", at)
	isErr(t, "decide unknown", err, store.ErrNotFound)
	_, n, _ := s.ListReviews(ctx, a.ID, store.ReviewFilter{Status: store.ReviewPending}, store.Page{Page: 1, PageSize: 10})
	_, m, _ := s.ListReviews(ctx, a.ID, store.ReviewFilter{Status: store.ReviewApproved, SessionID: se.ID}, store.Page{Page: 1, PageSize: 10})
	_, o, _ := s.ListReviews(ctx, a.ID, store.ReviewFilter{SessionID: newID()}, store.Page{Page: 1, PageSize: 10})
	if n != 2 || m != 1 || o != 0 {
		t.Fatalf("filters: pending %d approved %d other session %d", n, m, o)
	}

	// Another tenant sees and decides nothing.
	_, err = s.GetReview(ctx, b.ID, r2.ID)
	isErr(t, "get other tenant", err, store.ErrNotFound)
	_, err = s.DecideReview(ctx, b.ID, r2.ID, store.ReviewApproved, "x", at)
	isErr(t, "decide other tenant", err, store.ErrNotFound)
	if _, n, _ := s.ListReviews(ctx, b.ID, store.ReviewFilter{}, store.Page{Page: 1, PageSize: 10}); n != 0 {
		t.Fatalf("other tenant lists %d", n)
	}
	got, _ = s.GetReview(ctx, a.ID, r2.ID)
	if got.Status != store.ReviewPending {
		t.Fatalf("changed by the other tenant: %+v", got)
	}
}

func testTurnFlags(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	se := mkSession(t, s, a.ID, "default", "visitor", t0)
	turns := []store.Turn{
		{Role: store.RoleUser, Text: "attack", Flag: store.FlagHeld, CreatedAt: t0},
		{Role: store.RoleAssistant, Text: "hold on", Flag: store.FlagNotice, CreatedAt: t0},
		{Role: store.RoleUser, Text: "hello", CreatedAt: t0},
	}
	_, err := s.AppendTurns(ctx, a.ID, se.ID, turns)
	isErr(t, "append", err, nil)
	if turns[0].Seq == 0 || turns[1].Seq != turns[0].Seq+1 {
		t.Fatalf("seqs not set on the slice: %+v", turns)
	}
	read := func() []store.Turn {
		got, _, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 1, PageSize: 10})
		isErr(t, "list", err, nil)
		recent, err := s.RecentTurns(ctx, a.ID, se.ID, 10)
		isErr(t, "recent", err, nil)
		for i := range got {
			if got[i].Flag != recent[i].Flag {
				t.Fatalf("ListTurns and RecentTurns disagree: %+v %+v", got[i], recent[i])
			}
		}
		return got
	}
	got := read()
	if got[0].Flag != store.FlagHeld || got[1].Flag != store.FlagNotice || got[2].Flag != "" {
		t.Fatalf("flags: %+v", got)
	}
	isErr(t, "set", s.SetTurnFlag(ctx, a.ID, se.ID, turns[0].Seq, store.FlagRejected), nil)
	isErr(t, "set unknown seq", s.SetTurnFlag(ctx, a.ID, se.ID, 999, ""), store.ErrNotFound)
	isErr(t, "set other tenant", s.SetTurnFlag(ctx, b.ID, se.ID, turns[0].Seq, ""), store.ErrNotFound)
	if got := read(); got[0].Flag != store.FlagRejected {
		t.Fatalf("after set: %+v", got[0])
	}
}
