package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var sessionTests = []test{
	{"RoundTrip", testSessionRoundTrip},
	{"OneActivePerKey", testSessionActiveKey},
	{"Turns", testSessionTurns},
	{"LoadTurn", testSessionLoadTurn},
	{"EndedRefusesTurns", testSessionEndedTurns},
	{"ListAndIdle", testSessionList},
	{"ConcurrentAppends", testSessionConcurrentAppends},
	{"Lock", testSessionLock},
}

var memoryTests = []test{
	{"PutGetReplace", testMemoryPut},
	{"Limit", testMemoryLimit},
	{"ListPagination", testMemoryList},
	{"DeleteAndCascade", testMemoryDelete},
}

func mkSession(t *testing.T, s store.Store, tenantID, agentID, sender string, at time.Time) store.Session {
	t.Helper()
	se := store.Session{
		ID: newID(), TenantID: tenantID, Key: "WebChat:default:" + sender, Channel: "WebChat",
		ChannelAccountID: "default", SenderID: sender, AgentID: agentID,
		Metadata:       map[string]string{"displayName": "Ünïcode \"quoted\" " + sender},
		FirstMessageAt: at, LastMessageAt: at,
	}
	isErr(t, "CreateSession "+sender, s.CreateSession(t.Context(), se, 1000), nil)
	se.FirstMessageAt, se.LastMessageAt = norm(at), norm(at)
	return se
}

func testSessionRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "beta")
	want := mkSession(t, s, a.ID, "support", "user-1", t0.In(east))
	got, err := s.GetSession(ctx, a.ID, want.ID)
	isErr(t, "GetSession", err, nil)
	equal(t, "GetSession", got, want)
	got, err = s.ActiveSession(ctx, a.ID, want.Key)
	isErr(t, "ActiveSession", err, nil)
	equal(t, "ActiveSession", got, want)

	// No metadata reads back as an empty map.
	bare := store.Session{ID: newID(), TenantID: a.ID, Key: "Slack:T1:U1", Channel: "Slack",
		ChannelAccountID: "T1", SenderID: "U1", AgentID: "support", FirstMessageAt: t0, LastMessageAt: t0}
	isErr(t, "CreateSession bare", s.CreateSession(ctx, bare, 1000), nil)
	got, err = s.GetSession(ctx, a.ID, bare.ID)
	isErr(t, "GetSession bare", err, nil)
	equal(t, "bare metadata", got.Metadata, map[string]string{})

	// Another tenant sees nothing, by ID or by key.
	_, err = s.GetSession(ctx, b.ID, want.ID)
	isErr(t, "GetSession other tenant", err, store.ErrNotFound)
	_, err = s.ActiveSession(ctx, b.ID, want.Key)
	isErr(t, "ActiveSession other tenant", err, store.ErrNotFound)
	_, err = s.EndSession(ctx, b.ID, want.ID, t0, "ended")
	isErr(t, "EndSession other tenant", err, store.ErrNotFound)
	_, err = s.AppendTurns(ctx, b.ID, want.ID, []store.Turn{{Role: store.RoleUser, Text: "x", CreatedAt: t0}})
	isErr(t, "AppendTurns other tenant", err, store.ErrNotFound)
	turns, total, err := s.ListTurns(ctx, b.ID, want.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTurns other tenant", err, nil)
	if total != 0 || len(turns) != 0 {
		t.Errorf("ListTurns other tenant: %d turns, total %d", len(turns), total)
	}
}

func testSessionActiveKey(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "beta")
	first := mkSession(t, s, a.ID, "support", "user-1", t0)
	dup := first
	dup.ID = newID()
	isErr(t, "second active session, same key", s.CreateSession(ctx, dup, 1000), store.ErrConflict)
	// The same key in another tenant is another session.
	other := first
	other.ID, other.TenantID = newID(), b.ID
	isErr(t, "same key, other tenant", s.CreateSession(ctx, other, 1000), nil)

	ended, err := s.EndSession(ctx, a.ID, first.ID, t0.Add(time.Minute), "ended")
	isErr(t, "EndSession", err, nil)
	if ended.EndedAt == nil || !ended.EndedAt.Equal(t0.Add(time.Minute)) || ended.EndReason != "ended" {
		t.Errorf("ended session: EndedAt %v, reason %q", ended.EndedAt, ended.EndReason)
	}
	_, err = s.EndSession(ctx, a.ID, first.ID, t0.Add(2*time.Minute), "ended")
	isErr(t, "EndSession twice", err, store.ErrNotFound)
	_, err = s.ActiveSession(ctx, a.ID, first.Key)
	isErr(t, "ActiveSession after end", err, store.ErrNotFound)
	// After the end, the key may start a new session; the old one stays.
	isErr(t, "new session after end", s.CreateSession(ctx, dup, 1000), nil)
	got, err := s.GetSession(ctx, a.ID, first.ID)
	isErr(t, "GetSession ended", err, nil)
	if got.EndedAt == nil {
		t.Errorf("ended session reads back active")
	}
}

func testSessionTurns(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	calls := []byte(`[{"id":"call_1","name":"current_time","arguments":{}}]`)
	batch1 := []store.Turn{
		{Role: store.RoleUser, Text: "What time is it? «ü»", RequestID: "req-1", CreatedAt: t0.Add(time.Second)},
		{Role: store.RoleAssistant, Text: "", ToolCalls: calls, RequestID: "req-1", CreatedAt: t0.Add(2 * time.Second)},
		{Role: store.RoleTool, Text: `{"error":"boom"}`, ToolCallID: "call_1", ToolName: "current_time", IsError: true,
			RequestID: "req-1", CreatedAt: t0.Add(3 * time.Second)},
		{Role: store.RoleAssistant, Text: "It is noon.", RequestID: "req-1", CreatedAt: t0.Add(4 * time.Second).In(east)},
	}
	upd, err := s.AppendTurns(ctx, a.ID, se.ID, batch1)
	isErr(t, "AppendTurns", err, nil)
	if upd.MessageCount != 3 || !upd.LastMessageAt.Equal(t0.Add(4*time.Second)) {
		t.Errorf("after append: MessageCount %d (want 3: user and assistant turns), LastMessageAt %v",
			upd.MessageCount, upd.LastMessageAt)
	}
	for i, tr := range batch1 {
		if tr.Seq != int64(i+1) || tr.SessionID != se.ID || tr.TenantID != a.ID {
			t.Errorf("turn %d: Seq %d SessionID %q TenantID %q", i, tr.Seq, tr.SessionID, tr.TenantID)
		}
	}
	_, err = s.AppendTurns(ctx, a.ID, se.ID, []store.Turn{{Role: store.RoleUser, Text: "thanks", CreatedAt: t0.Add(5 * time.Second)}})
	isErr(t, "AppendTurns 2", err, nil)
	got, err := s.GetSession(ctx, a.ID, se.ID)
	isErr(t, "GetSession", err, nil)
	if got.MessageCount != 4 || !got.LastMessageAt.Equal(t0.Add(5*time.Second)) || !got.FirstMessageAt.Equal(t0) {
		t.Errorf("stored session: %+v", got)
	}

	all, total, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 1, PageSize: 100})
	isErr(t, "ListTurns", err, nil)
	if total != 5 || len(all) != 5 {
		t.Fatalf("ListTurns: %d turns, total %d, want 5", len(all), total)
	}
	want := batch1[3]
	want.CreatedAt = norm(want.CreatedAt)
	equal(t, "turn 4", all[3], want)
	want = batch1[2]
	want.CreatedAt = norm(want.CreatedAt)
	equal(t, "tool turn", all[2], want)
	equal(t, "tool calls bytes", string(all[1].ToolCalls), string(calls))
	if all[0].ToolCalls != nil {
		t.Errorf("user turn ToolCalls %q, want nil", all[0].ToolCalls)
	}
	page2, total, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 2, PageSize: 2})
	isErr(t, "ListTurns page 2", err, nil)
	if total != 5 || len(page2) != 2 || page2[0].Seq != 3 || page2[1].Seq != 4 {
		t.Errorf("page 2: total %d, %+v", total, page2)
	}
	recent, err := s.RecentTurns(ctx, a.ID, se.ID, 2)
	isErr(t, "RecentTurns", err, nil)
	if len(recent) != 2 || recent[0].Seq != 4 || recent[1].Seq != 5 {
		t.Errorf("RecentTurns(2): %+v", recent)
	}
	recent, err = s.RecentTurns(ctx, a.ID, se.ID, 0)
	isErr(t, "RecentTurns(0)", err, nil)
	if len(recent) != 0 {
		t.Errorf("RecentTurns(0): %d turns", len(recent))
	}
}

func testSessionLoadTurn(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "owner@acme.example", "owner")
	agent := mkAgent(t, s, a.ID, "support", owner.ID)
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	var turns []store.Turn
	for i := range 5 {
		turns = append(turns, store.Turn{Role: store.RoleUser, Text: fmt.Sprintf("message %d", i),
			RequestID: "req", CreatedAt: t0.Add(time.Duration(i) * time.Second)})
	}
	_, err := s.AppendTurns(ctx, a.ID, se.ID, turns)
	isErr(t, "AppendTurns", err, nil)
	want, err := s.GetSession(ctx, a.ID, se.ID)
	isErr(t, "GetSession", err, nil)
	recent, err := s.RecentTurns(ctx, a.ID, se.ID, 3)
	isErr(t, "RecentTurns", err, nil)

	for _, q := range []store.TurnQuery{{Key: se.Key, History: 3}, {SessionID: se.ID, History: 3},
		{SessionID: se.ID, Key: "ignored when the ID is set", History: 3}} {
		st, err := s.LoadTurn(ctx, a.ID, q)
		isErr(t, fmt.Sprintf("LoadTurn(%+v)", q), err, nil)
		equal(t, "LoadTurn session", st.Session, want)
		if st.Agent == nil {
			t.Fatalf("LoadTurn(%+v): no agent", q)
		}
		equal(t, "LoadTurn agent", *st.Agent, agent)
		equal(t, "LoadTurn history", st.History, recent)
	}
	st, err := s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: se.Key})
	isErr(t, "LoadTurn without history", err, nil)
	if st.History == nil || len(st.History) != 0 {
		t.Errorf("LoadTurn(History 0): %#v, want an empty slice", st.History)
	}
	st, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: se.Key, History: 100})
	isErr(t, "LoadTurn all history", err, nil)
	if len(st.History) != 5 || st.History[0].Seq != 1 || st.History[4].Seq != 5 {
		t.Errorf("LoadTurn(History 100): %+v", st.History)
	}

	// No such session: by key, by ID, and an ended session by key.
	_, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: "WebChat:default:nobody", History: 3})
	isErr(t, "LoadTurn unknown key", err, store.ErrNotFound)
	_, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{SessionID: newID(), History: 3})
	isErr(t, "LoadTurn unknown ID", err, store.ErrNotFound)
	_, err = s.EndSession(ctx, a.ID, se.ID, t0.Add(time.Hour), "ended")
	isErr(t, "EndSession", err, nil)
	_, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: se.Key, History: 3})
	isErr(t, "LoadTurn ended session by key", err, store.ErrNotFound)
	st, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{SessionID: se.ID, History: 3})
	isErr(t, "LoadTurn ended session by ID", err, nil)
	if st.Session.EndedAt == nil || len(st.History) != 3 {
		t.Errorf("ended session by ID: EndedAt %v, %d turns", st.Session.EndedAt, len(st.History))
	}

	// A session whose agent was deleted comes back without one.
	orphan := mkSession(t, s, a.ID, "gone", "user-2", t0)
	st, err = s.LoadTurn(ctx, a.ID, store.TurnQuery{Key: orphan.Key, History: 3})
	isErr(t, "LoadTurn without agent", err, nil)
	if st.Agent != nil || st.Session.ID != orphan.ID || len(st.History) != 0 {
		t.Errorf("session without agent: agent %+v, session %q, %d turns", st.Agent, st.Session.ID, len(st.History))
	}
}

func testSessionEndedTurns(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	_, err := s.EndSession(ctx, a.ID, se.ID, t0, "idle")
	isErr(t, "EndSession", err, nil)
	_, err = s.AppendTurns(ctx, a.ID, se.ID, []store.Turn{{Role: store.RoleUser, Text: "late", CreatedAt: t0}})
	isErr(t, "AppendTurns to ended", err, store.ErrNotFound)
	_, total, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTurns", err, nil)
	if total != 0 {
		t.Errorf("an ended session stored %d turns", total)
	}
	_, err = s.AppendTurns(ctx, a.ID, newID(), []store.Turn{{Role: store.RoleUser, Text: "x", CreatedAt: t0}})
	isErr(t, "AppendTurns unknown session", err, store.ErrNotFound)
}

func testSessionList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	var made []store.Session
	for i := range 5 {
		agent := "support"
		if i%2 == 1 {
			agent = "sales"
		}
		made = append(made, mkSession(t, s, a.ID, agent, fmt.Sprintf("user-%d", i), t0.Add(time.Duration(i)*time.Hour)))
	}
	_, err := s.EndSession(ctx, a.ID, made[0].ID, t0.Add(10*time.Hour), "ended")
	isErr(t, "EndSession", err, nil)

	got, total, err := s.ListSessions(ctx, a.ID, store.SessionFilter{}, store.Page{Page: 1, PageSize: 3})
	isErr(t, "ListSessions", err, nil)
	if total != 5 || len(got) != 3 || got[0].ID != made[4].ID || got[1].ID != made[3].ID || got[2].ID != made[2].ID {
		t.Errorf("ListSessions: total %d, first page %v", total, ids(got))
	}
	got, total, err = s.ListSessions(ctx, a.ID, store.SessionFilter{AgentID: "sales"}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListSessions agent", err, nil)
	if total != 2 || len(got) != 2 || got[0].ID != made[3].ID || got[1].ID != made[1].ID {
		t.Errorf("ListSessions agent=sales: total %d, %v", total, ids(got))
	}
	for _, tc := range []struct {
		status string
		want   int
	}{{"active", 4}, {"ended", 1}} {
		_, total, err = s.ListSessions(ctx, a.ID, store.SessionFilter{Status: tc.status}, store.Page{Page: 1, PageSize: 10})
		isErr(t, "ListSessions "+tc.status, err, nil)
		if total != tc.want {
			t.Errorf("ListSessions status=%s: total %d, want %d", tc.status, total, tc.want)
		}
	}
	got, total, err = s.ListSessions(ctx, a.ID, store.SessionFilter{Key: made[2].Key}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListSessions key", err, nil)
	if total != 1 || got[0].ID != made[2].ID {
		t.Errorf("ListSessions key: total %d, %v", total, ids(got))
	}

	// Idle: active sessions whose last message is before the cutoff; the
	// ended one is not listed.
	idle, err := s.IdleSessions(ctx, a.ID, t0.Add(2*time.Hour+time.Minute), 10)
	isErr(t, "IdleSessions", err, nil)
	if len(idle) != 2 || idle[0].ID != made[1].ID || idle[1].ID != made[2].ID {
		t.Errorf("IdleSessions: %v", ids(idle))
	}
	idle, err = s.IdleSessions(ctx, a.ID, t0.Add(100*time.Hour), 1)
	isErr(t, "IdleSessions limit", err, nil)
	if len(idle) != 1 {
		t.Errorf("IdleSessions limit 1: %d", len(idle))
	}
}

func ids(ss []store.Session) []string {
	out := make([]string, len(ss))
	for i, se := range ss {
		out[i] = se.SenderID
	}
	return out
}

// testSessionConcurrentAppends appends from many goroutines at once: every
// turn is stored exactly once with a distinct, gap-free Seq.
func testSessionConcurrentAppends(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	se := mkSession(t, s, a.ID, "support", "user-1", t0)
	const writers, each = 8, 5
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if _, err := s.AppendTurns(ctx, a.ID, se.ID, []store.Turn{
					{Role: store.RoleUser, Text: fmt.Sprintf("w%d-%d", w, i), CreatedAt: t0},
				}); err != nil {
					t.Errorf("AppendTurns: %v", err)
					return
				}
			}
		}()
	}
	wg.Wait()
	all, total, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 1, PageSize: 1000})
	isErr(t, "ListTurns", err, nil)
	if total != writers*each {
		t.Fatalf("stored %d turns, want %d", total, writers*each)
	}
	seen := map[string]bool{}
	for i, tr := range all {
		if tr.Seq != int64(i+1) {
			t.Errorf("turn %d has Seq %d", i, tr.Seq)
		}
		if seen[tr.Text] {
			t.Errorf("turn %q stored twice", tr.Text)
		}
		seen[tr.Text] = true
	}
	got, err := s.GetSession(ctx, a.ID, se.ID)
	isErr(t, "GetSession", err, nil)
	if got.MessageCount != writers*each {
		t.Errorf("MessageCount %d, want %d", got.MessageCount, writers*each)
	}
}

// testSessionLock checks the contract every store shares: LockSession
// returns an unlock function, and honours a cancelled context.
func testSessionLock(t *testing.T, s store.Store) {
	a := mkTenant(t, s, "acme")
	unlock, err := s.LockSession(t.Context(), a.ID, "WebChat:default:user-1")
	isErr(t, "LockSession", err, nil)
	unlock()
	unlock, err = s.LockSession(t.Context(), a.ID, "WebChat:default:user-1")
	isErr(t, "LockSession again", err, nil)
	unlock()
	ctx, cancel := contextWithCancel(t)
	cancel()
	if _, err := s.LockSession(ctx, a.ID, "WebChat:default:user-2"); err == nil {
		t.Errorf("LockSession with a cancelled context succeeded")
	}
}

func mkMemory(key, value string, tenantID, agentID string, at time.Time) store.MemoryEntry {
	return store.MemoryEntry{TenantID: tenantID, AgentID: agentID, Key: key, Value: value, Provenance: store.ProvenanceTrusted,
		CreatedAt: at, UpdatedAt: at}
}

func testMemoryPut(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "beta")
	owner := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkAgent(t, s, a.ID, "support", owner.ID)
	mkAgent(t, s, a.ID, "sales", owner.ID)

	created, err := s.PutMemory(ctx, mkMemory("favourite colour", "blue «ü» \"q\"", a.ID, "support", t0.In(east)), 10)
	isErr(t, "PutMemory", err, nil)
	if !created {
		t.Errorf("first put: created = false")
	}
	got, err := s.GetMemory(ctx, a.ID, "support", "favourite colour")
	isErr(t, "GetMemory", err, nil)
	equal(t, "GetMemory", got, mkMemory("favourite colour", "blue «ü» \"q\"", a.ID, "support", norm(t0)))

	upd := mkMemory("favourite colour", "green", a.ID, "support", t0.Add(time.Hour))
	created, err = s.PutMemory(ctx, upd, 10)
	isErr(t, "PutMemory replace", err, nil)
	if created {
		t.Errorf("replace: created = true")
	}
	got, err = s.GetMemory(ctx, a.ID, "support", "favourite colour")
	isErr(t, "GetMemory after replace", err, nil)
	if got.Value != "green" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0.Add(time.Hour)) {
		t.Errorf("after replace: %+v", got)
	}

	// Provenance is replaced with the value; anything but "trusted" is
	// stored as untrusted.
	for _, p := range []struct{ in, want string }{{store.ProvenanceUntrusted, store.ProvenanceUntrusted},
		{"", store.ProvenanceUntrusted}, {"Trusted", store.ProvenanceUntrusted}, {store.ProvenanceTrusted, store.ProvenanceTrusted}} {
		e := mkMemory("favourite colour", "v-"+p.in, a.ID, "support", t0.Add(2*time.Hour))
		e.Provenance = p.in
		_, err = s.PutMemory(ctx, e, 10)
		isErr(t, "PutMemory provenance "+p.in, err, nil)
		got, err = s.GetMemory(ctx, a.ID, "support", "favourite colour")
		isErr(t, "GetMemory provenance", err, nil)
		if got.Provenance != p.want || got.Value != "v-"+p.in {
			t.Errorf("provenance %q stored as %q (value %q), want %q", p.in, got.Provenance, got.Value, p.want)
		}
		fresh := mkMemory("fresh "+p.in, "v", a.ID, "sales", t0)
		fresh.Provenance = p.in
		_, err = s.PutMemory(ctx, fresh, 10)
		isErr(t, "PutMemory new key", err, nil)
		page, _, err := s.ListMemory(ctx, a.ID, "sales", store.Page{Page: 1, PageSize: 100})
		isErr(t, "ListMemory", err, nil)
		for _, e := range page {
			if e.Key == fresh.Key && e.Provenance != p.want {
				t.Errorf("new key with provenance %q listed as %q, want %q", p.in, e.Provenance, p.want)
			}
		}
		isErr(t, "DeleteMemory", s.DeleteMemory(ctx, a.ID, "sales", fresh.Key), nil)
	}

	// Memory is per agent and per tenant.
	_, err = s.GetMemory(ctx, a.ID, "sales", "favourite colour")
	isErr(t, "other agent", err, store.ErrNotFound)
	_, err = s.GetMemory(ctx, b.ID, "support", "favourite colour")
	isErr(t, "other tenant", err, store.ErrNotFound)
	_, err = s.PutMemory(ctx, mkMemory("k", "v", b.ID, "support", t0), 10)
	isErr(t, "put for another tenant's agent", err, store.ErrNotFound)
	_, err = s.PutMemory(ctx, mkMemory("k", "v", a.ID, "nobody", t0), 10)
	isErr(t, "put for unknown agent", err, store.ErrNotFound)
	isErr(t, "delete from other tenant", s.DeleteMemory(ctx, b.ID, "support", "favourite colour"), store.ErrNotFound)
	_, err = s.GetMemory(ctx, a.ID, "support", "favourite colour")
	isErr(t, "still there", err, nil)
}

func testMemoryLimit(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkAgent(t, s, a.ID, "support", owner.ID)
	mkAgent(t, s, a.ID, "sales", owner.ID)
	for i := range 3 {
		_, err := s.PutMemory(ctx, mkMemory(fmt.Sprintf("k%d", i), "v", a.ID, "support", t0), 3)
		isErr(t, "PutMemory", err, nil)
	}
	_, err := s.PutMemory(ctx, mkMemory("k3", "v", a.ID, "support", t0), 3)
	isErr(t, "PutMemory past the limit", err, store.ErrLimit)
	_, err = s.GetMemory(ctx, a.ID, "support", "k3")
	isErr(t, "refused key not stored", err, store.ErrNotFound)
	// Replacing at the limit is fine; the limit is per agent.
	_, err = s.PutMemory(ctx, mkMemory("k1", "new", a.ID, "support", t0), 3)
	isErr(t, "replace at the limit", err, nil)
	_, err = s.PutMemory(ctx, mkMemory("k3", "v", a.ID, "sales", t0), 3)
	isErr(t, "other agent", err, nil)

	// Concurrent creations cannot overshoot the limit together.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.PutMemory(ctx, mkMemory(fmt.Sprintf("c%d", i), "v", a.ID, "sales", t0), 4)
			if err != nil && !isLimit(err) {
				t.Errorf("concurrent PutMemory: %v", err)
			}
		}()
	}
	wg.Wait()
	_, total, err := s.ListMemory(ctx, a.ID, "sales", store.Page{Page: 1, PageSize: 100})
	isErr(t, "ListMemory", err, nil)
	if total != 4 {
		t.Errorf("after concurrent puts with limit 4: %d entries", total)
	}
}

func testMemoryList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkAgent(t, s, a.ID, "support", owner.ID)
	for _, k := range []string{"b", "a", "Z", "c"} {
		_, err := s.PutMemory(ctx, mkMemory(k, "v-"+k, a.ID, "support", t0), 100)
		isErr(t, "PutMemory", err, nil)
	}
	got, total, err := s.ListMemory(ctx, a.ID, "support", store.Page{Page: 1, PageSize: 3})
	isErr(t, "ListMemory", err, nil)
	if total != 4 || len(got) != 3 || got[0].Key != "Z" || got[1].Key != "a" || got[2].Key != "b" {
		t.Errorf("ListMemory page 1: total %d, %+v", total, got)
	}
	got, _, err = s.ListMemory(ctx, a.ID, "support", store.Page{Page: 2, PageSize: 3})
	isErr(t, "ListMemory page 2", err, nil)
	if len(got) != 1 || got[0].Key != "c" || got[0].Value != "v-c" {
		t.Errorf("ListMemory page 2: %+v", got)
	}
}

func testMemoryDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkAgent(t, s, a.ID, "support", owner.ID)
	_, err := s.PutMemory(ctx, mkMemory("k", "v", a.ID, "support", t0), 10)
	isErr(t, "PutMemory", err, nil)
	isErr(t, "DeleteMemory", s.DeleteMemory(ctx, a.ID, "support", "k"), nil)
	isErr(t, "DeleteMemory again", s.DeleteMemory(ctx, a.ID, "support", "k"), store.ErrNotFound)
	_, err = s.PutMemory(ctx, mkMemory("k2", "v", a.ID, "support", t0), 10)
	isErr(t, "PutMemory", err, nil)
	isErr(t, "DeleteAgent", s.DeleteAgent(ctx, a.ID, "support"), nil)
	mkAgent(t, s, a.ID, "support", owner.ID)
	_, err = s.GetMemory(ctx, a.ID, "support", "k2")
	isErr(t, "memory of a deleted agent", err, store.ErrNotFound)
}

func isLimit(err error) bool { return errors.Is(err, store.ErrLimit) }

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(t.Context())
}
