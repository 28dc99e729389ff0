package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var auditTests = []test{
	{"Chains", testAuditChains},
	{"RoundTrip", testAuditRoundTrip},
	{"TimestampNormalisedBeforeSeal", testAuditTimestampSeal},
	{"EmptyBatch", testAuditEmptyBatch},
	{"Filters", testAuditFilters},
	{"OrderIsSeqNotTime", testAuditOrder},
	{"Scan", testAuditScan},
	{"AtomicOnDBFailure", testAuditAtomicDB},
	{"AtomicOnSealPanic", testAuditAtomicSeal},
	{"Units", testAuditUnits},
	{"UnitAtomic", testAuditUnitAtomic},
}

// entry returns an entry of tenant with fresh IDs at ts.
func entry(tenantID, action string, ts time.Time) store.AuditEntry {
	return store.AuditEntry{
		ID: newID(), TenantID: tenantID, Action: action, ActorID: newID(),
		Details: []byte(`{"n":1}`), RequestID: newID(), Timestamp: ts,
	}
}

// scanAll returns the whole chain of a tenant.
func scanAll(t *testing.T, s store.Store, tenantID string) []store.AuditEntry {
	t.Helper()
	got, err := s.ScanAudit(t.Context(), tenantID, 0, 1<<20)
	isErr(t, "ScanAudit", err, nil)
	return got
}

// verifyChain checks Seq 1..n, the PrevHash links and each Hash against a
// fresh seal of the stored entry, and that the head matches the last entry.
func verifyChain(t *testing.T, s store.Store, tenantID string, wantLen int) []store.AuditEntry {
	t.Helper()
	chain := scanAll(t, s, tenantID)
	if len(chain) != wantLen {
		t.Fatalf("chain of %s: got %d entries, want %d", tenantID, len(chain), wantLen)
	}
	prev := ""
	for i, e := range chain {
		if e.Seq != int64(i+1) {
			t.Errorf("entry %d: got Seq %d, want %d", i, e.Seq, i+1)
		}
		if e.PrevHash != prev {
			t.Errorf("entry %d: got PrevHash %q, want %q", i, e.PrevHash, prev)
		}
		if h := seal(&e); e.Hash != h {
			t.Errorf("entry %d: got Hash %q, want seal of stored entry %q", i, e.Hash, h)
		}
		if e.TenantID != tenantID {
			t.Errorf("entry %d: got TenantID %q, want %q", i, e.TenantID, tenantID)
		}
		prev = e.Hash
	}
	seq, hash, err := s.AuditHead(t.Context(), tenantID)
	isErr(t, "AuditHead", err, nil)
	if seq != int64(wantLen) || hash != prev {
		t.Errorf("AuditHead: got (%d, %q), want (%d, %q)", seq, hash, wantLen, prev)
	}
	return chain
}

func testAuditChains(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	c := mkTenant(t, s, "initech")

	seq, hash, err := s.AuditHead(ctx, a.ID)
	isErr(t, "AuditHead(empty)", err, nil)
	if seq != 0 || hash != "" {
		t.Errorf("AuditHead(empty): got (%d, %q), want (0, \"\")", seq, hash)
	}

	batch := []store.AuditEntry{
		entry(a.ID, "login", t0), entry(b.ID, "login", t0), entry(a.ID, "agent.create", t0),
		entry(a.ID, "agent.update", t0), entry(b.ID, "logout", t0),
	}
	isErr(t, "AppendAudit 1", s.AppendAudit(ctx, batch, seal), nil)
	// The caller's entries carry what was assigned.
	wantSeq := []int64{1, 1, 2, 3, 2}
	for i, e := range batch {
		if e.Seq != wantSeq[i] || e.Hash != seal(&e) {
			t.Errorf("batch[%d] after append: got Seq %d Hash %q, want Seq %d and its seal", i, e.Seq, e.Hash, wantSeq[i])
		}
	}
	if batch[2].PrevHash != batch[0].Hash || batch[4].PrevHash != batch[1].Hash || batch[0].PrevHash != "" {
		t.Errorf("batch PrevHash links: got %q %q %q, want \"\", %q, %q",
			batch[0].PrevHash, batch[2].PrevHash, batch[4].PrevHash, batch[0].Hash, batch[1].Hash)
	}
	verifyChain(t, s, a.ID, 3)
	verifyChain(t, s, b.ID, 2)

	// A second batch continues both chains and starts a third.
	batch2 := []store.AuditEntry{entry(b.ID, "x", t0), entry(c.ID, "x", t0), entry(a.ID, "x", t0), entry(a.ID, "x", t0)}
	isErr(t, "AppendAudit 2", s.AppendAudit(ctx, batch2, seal), nil)
	chainA := verifyChain(t, s, a.ID, 5)
	chainB := verifyChain(t, s, b.ID, 3)
	verifyChain(t, s, c.ID, 1)
	if chainA[3].PrevHash != batch[3].Hash || chainB[2].PrevHash != batch[4].Hash {
		t.Errorf("second batch does not continue the chains")
	}
	// The platform tenant has a chain like any other.
	isErr(t, "AppendAudit platform", s.AppendAudit(ctx, []store.AuditEntry{entry(store.PlatformTenantID, "login.failed", t0)}, seal), nil)
	verifyChain(t, s, store.PlatformTenantID, 1)
}

func testAuditRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	in := []store.AuditEntry{
		{ID: newID(), TenantID: a.ID, Action: "skill.invoke", ActorID: newID(), AgentID: "support",
			SessionID: newID(), SkillID: "web.search", RequestID: newID(), Timestamp: t0,
			// Not canonical on purpose: the bytes must come back exactly.
			Details: []byte("{\"z\": 1,  \"a\":\"\\u00fc ü \\n\\\"q\\\"\",\n\"emoji\":\"🙂\", \"n\": 1.50}")},
		{ID: newID(), TenantID: a.ID, Action: "login", Details: []byte(`{}`), Timestamp: t0.Add(time.Microsecond)},
	}
	want := make([]store.AuditEntry, len(in))
	copy(want, in)
	isErr(t, "AppendAudit", s.AppendAudit(ctx, in, seal), nil)
	got := scanAll(t, s, a.ID)
	for i := range want {
		want[i].Seq, want[i].PrevHash, want[i].Hash = in[i].Seq, in[i].PrevHash, in[i].Hash
	}
	equal(t, "ScanAudit", got, want)
	list, total, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListAudit", err, nil)
	if total != 2 {
		t.Errorf("ListAudit total: got %d, want 2", total)
	}
	equal(t, "ListAudit", list, []store.AuditEntry{want[1], want[0]})
}

func testAuditTimestampSeal(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	// A caller passing time.Now() as is: local zone, nanoseconds. The store
	// must seal the value it stores, or the chain can never be verified.
	e := entry(a.ID, "login", time.Date(2025, 7, 8, 9, 10, 11, 123456789, east))
	isErr(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{e}, seal), nil)
	chain := verifyChain(t, s, a.ID, 1)
	if want := norm(e.Timestamp); !chain[0].Timestamp.Equal(want) || chain[0].Timestamp.Location() != time.UTC {
		t.Errorf("stored Timestamp: got %v, want %v", chain[0].Timestamp, want)
	}
}

func testAuditEmptyBatch(t *testing.T, s store.Store) {
	a := mkTenant(t, s, "acme")
	isErr(t, "AppendAudit(nil)", s.AppendAudit(t.Context(), nil, seal), nil)
	verifyChain(t, s, a.ID, 0)
}

// auditFixture appends six entries of a and the same six of b, one second
// apart, and returns a's entries as stored, index i holding Seq i+1.
func auditFixture(t *testing.T, s store.Store) (a, b store.Tenant, stored []store.AuditEntry) {
	t.Helper()
	a = mkTenant(t, s, "acme")
	b = mkTenant(t, s, "globex")
	actor1, actor2, session := newID(), newID(), newID()
	type row struct{ action, actor, agent, session, skill string }
	rows := []row{
		{"login", actor1, "", "", ""},
		{"skill.invoke", actor1, "support", session, "web.search"},
		{"skill.invoke", actor2, "support", session, "kb.lookup"},
		{"agent.update", actor2, "sales", "", ""},
		{"skill.invoke", actor1, "sales", newID(), "web.search"},
		{"logout", actor1, "", "", ""},
	}
	var batch []store.AuditEntry
	for i, r := range rows {
		for _, tn := range []store.Tenant{a, b} {
			e := entry(tn.ID, r.action, t0.Add(time.Duration(i)*time.Second))
			e.ActorID, e.AgentID, e.SessionID, e.SkillID = r.actor, r.agent, r.session, r.skill
			batch = append(batch, e)
		}
	}
	isErr(t, "AppendAudit", s.AppendAudit(t.Context(), batch, seal), nil)
	return a, b, verifyChain(t, s, a.ID, len(rows))
}

func testAuditFilters(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _, st := auditFixture(t, s)
	at := func(i int) *time.Time { return ptr(t0.Add(time.Duration(i) * time.Second)) }
	tests := []struct {
		name string
		f    store.AuditFilter
		want []int64 // seqs, newest first
	}{
		{"All", store.AuditFilter{}, []int64{6, 5, 4, 3, 2, 1}},
		{"Action", store.AuditFilter{Action: "skill.invoke"}, []int64{5, 3, 2}},
		{"ActorID", store.AuditFilter{ActorID: st[1].ActorID}, []int64{6, 5, 2, 1}},
		{"AgentID", store.AuditFilter{AgentID: "sales"}, []int64{5, 4}},
		{"SessionID", store.AuditFilter{SessionID: st[1].SessionID}, []int64{3, 2}},
		{"SkillID", store.AuditFilter{SkillID: "web.search"}, []int64{5, 2}},
		{"FromInclusive", store.AuditFilter{From: at(3)}, []int64{6, 5, 4}},
		{"ToInclusive", store.AuditFilter{To: at(1)}, []int64{2, 1}},
		{"FromTo", store.AuditFilter{From: at(1), To: at(3)}, []int64{4, 3, 2}},
		{"FromToInOtherZone", store.AuditFilter{From: ptr(at(1).In(east)), To: ptr(at(3).In(east))}, []int64{4, 3, 2}},
		{"Combined", store.AuditFilter{Action: "skill.invoke", ActorID: st[1].ActorID, From: at(2)}, []int64{5}},
		{"NoMatch", store.AuditFilter{Action: "nope"}, []int64{}},
		{"EmptyRange", store.AuditFilter{From: at(4), To: at(2)}, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListAudit(ctx, a.ID, tc.f, store.Page{Page: 1, PageSize: 100})
			isErr(t, "ListAudit", err, nil)
			if total != len(tc.want) {
				t.Errorf("total: got %d, want %d", total, len(tc.want))
			}
			equal(t, "seqs", seqs(got), tc.want)
			for _, e := range got {
				equal(t, fmt.Sprintf("entry %d", e.Seq), e, st[e.Seq-1])
			}
		})
	}
	t.Run("Pagination", func(t *testing.T) {
		pages := []struct {
			page store.Page
			want []int64
		}{
			{store.Page{Page: 1, PageSize: 4}, []int64{6, 5, 4, 3}},
			{store.Page{Page: 2, PageSize: 4}, []int64{2, 1}},
			{store.Page{Page: 3, PageSize: 4}, []int64{}},
		}
		for _, p := range pages {
			got, total, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, p.page)
			isErr(t, "ListAudit", err, nil)
			if total != 6 {
				t.Errorf("page %d total: got %d, want 6", p.page.Page, total)
			}
			equal(t, fmt.Sprintf("page %d seqs", p.page.Page), seqs(got), p.want)
		}
		got, total, err := s.ListAudit(ctx, a.ID, store.AuditFilter{Action: "skill.invoke"}, store.Page{Page: 2, PageSize: 2})
		isErr(t, "ListAudit filtered page", err, nil)
		if total != 3 {
			t.Errorf("filtered total: got %d, want 3", total)
		}
		equal(t, "filtered page 2 seqs", seqs(got), []int64{2})
	})
}

func seqs(es []store.AuditEntry) []int64 {
	out := []int64{}
	for _, e := range es {
		out = append(out, e.Seq)
	}
	return out
}

func testAuditOrder(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	// Clocks go backwards sometimes; the listing follows the chain.
	batch := []store.AuditEntry{entry(a.ID, "x", t0.Add(time.Hour)), entry(a.ID, "x", t0), entry(a.ID, "x", t0.Add(time.Minute))}
	isErr(t, "AppendAudit", s.AppendAudit(ctx, batch, seal), nil)
	got, _, err := s.ListAudit(ctx, a.ID, store.AuditFilter{}, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListAudit", err, nil)
	equal(t, "ListAudit seqs", seqs(got), []int64{3, 2, 1})
}

func testAuditScan(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, _, st := auditFixture(t, s)
	tests := []struct {
		name     string
		afterSeq int64
		limit    int
		want     []int64
	}{
		{"FromStart", 0, 2, []int64{1, 2}},
		{"Middle", 2, 3, []int64{3, 4, 5}},
		{"Tail", 4, 10, []int64{5, 6}},
		{"AtHead", 6, 10, []int64{}},
		{"PastHead", 100, 10, []int64{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.ScanAudit(ctx, a.ID, tc.afterSeq, tc.limit)
			isErr(t, "ScanAudit", err, nil)
			equal(t, "seqs", seqs(got), tc.want)
			for _, e := range got {
				equal(t, fmt.Sprintf("entry %d", e.Seq), e, st[e.Seq-1])
			}
		})
	}
}

// checkNothingAppended verifies that a failed batch left no trace: the chains
// are as before, and appending again continues them from the old heads.
func checkNothingAppended(t *testing.T, s store.Store, lens map[string]int) {
	t.Helper()
	for tenantID, n := range lens {
		verifyChain(t, s, tenantID, n)
	}
	var next []store.AuditEntry
	for tenantID := range lens {
		next = append(next, entry(tenantID, "after", t0))
	}
	isErr(t, "AppendAudit after failed batch", s.AppendAudit(t.Context(), next, seal), nil)
	for tenantID, n := range lens {
		verifyChain(t, s, tenantID, n+1)
	}
}

func testAuditAtomicDB(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	isErr(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0), entry(b.ID, "x", t0)}, seal), nil)

	t.Run("UnknownTenant", func(t *testing.T) {
		bad := []store.AuditEntry{entry(a.ID, "x", t0), entry(b.ID, "x", t0), entry(newID(), "x", t0), entry(a.ID, "x", t0)}
		if err := s.AppendAudit(ctx, bad, seal); err == nil {
			t.Fatalf("AppendAudit with an unknown tenant: got nil error, want failure")
		}
		checkNothingAppended(t, s, map[string]int{a.ID: 1, b.ID: 1})
	})
	t.Run("DuplicateID", func(t *testing.T) {
		e := entry(a.ID, "x", t0)
		dup := e
		dup.Action = "y"
		if err := s.AppendAudit(ctx, []store.AuditEntry{entry(b.ID, "x", t0), e, dup}, seal); err == nil {
			t.Fatalf("AppendAudit with a duplicate entry ID: got nil error, want failure")
		}
		checkNothingAppended(t, s, map[string]int{a.ID: 2, b.ID: 2})
	})
}

func testAuditAtomicSeal(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	isErr(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0)}, seal), nil)

	calls := 0
	panicky := func(e *store.AuditEntry) string {
		calls++
		if calls == 3 {
			panic("seal failed")
		}
		return seal(e)
	}
	var (
		err       error
		recovered any
	)
	func() {
		defer func() { recovered = recover() }()
		err = s.AppendAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0), entry(a.ID, "x", t0), entry(a.ID, "x", t0)}, panicky)
	}()
	// Propagating the panic and turning it into an error are both fine;
	// reporting success is not.
	if recovered == nil && err == nil {
		t.Fatalf("AppendAudit with a panicking seal: got nil error and no panic, want failure")
	}
	// The store is usable afterwards (no transaction left open) and holds
	// nothing of the failed batch.
	checkNothingAppended(t, s, map[string]int{a.ID: 1})
}

// testAuditUnits: CommitAudit stores the entries and the writes of several
// units in one batch: a unit of two appends to one session (numbered in
// order after its history), a unit of another tenant's session, and a unit
// of one more append to the first session, after the first unit's.
func testAuditUnits(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "globex")
	sa := mkSession(t, s, a.ID, "support", "user-1", t0)
	sb := mkSession(t, s, b.ID, "support", "user-1", t0)
	_, err := s.AppendTurns(ctx, a.ID, sa.ID, []store.Turn{{Role: store.RoleUser, Text: "hi", CreatedAt: t0}})
	isErr(t, "AppendTurns", err, nil)

	first := []store.TurnAppend{{TenantID: a.ID, SessionID: sa.ID, Turns: []store.Turn{
		{Role: store.RoleAssistant, ToolCalls: []byte(`[{"id":"c1"}]`), RequestID: "r1", CreatedAt: t0.Add(time.Second)},
		{Role: store.RoleTool, Text: "12:00", ToolCallID: "c1", ToolName: "current_time", RequestID: "r1", CreatedAt: t0.Add(2 * time.Second)},
	}}, {TenantID: a.ID, SessionID: sa.ID, Turns: []store.Turn{
		{Role: store.RoleAssistant, Text: "It is noon.", RequestID: "r1", CreatedAt: t0.Add(3 * time.Second)},
	}}}
	second := store.TurnAppend{TenantID: a.ID, SessionID: sa.ID, Turns: []store.Turn{
		{Role: store.RoleUser, Text: "thanks", RequestID: "r2", CreatedAt: t0.Add(4 * time.Second)},
	}}
	other := store.TurnAppend{TenantID: b.ID, SessionID: sb.ID, Turns: []store.Turn{
		{Role: store.RoleAssistant, Text: "globex", CreatedAt: t0.Add(time.Second)},
	}}
	entries := []store.AuditEntry{entry(a.ID, "message.sent", t0), entry(b.ID, "message.sent", t0), entry(a.ID, "x", t0)}
	units := []*store.Unit{{Turns: []store.TurnAppend{first[0], first[1]}}, {Turns: []store.TurnAppend{other}}, {Turns: []store.TurnAppend{second}}}
	isErr(t, "CommitAudit", s.CommitAudit(ctx, entries, seal, units), nil)
	verifyChain(t, s, a.ID, 2)
	verifyChain(t, s, b.ID, 1)
	if entries[0].Seq != 1 || entries[2].Seq != 2 || entries[1].Seq != 1 {
		t.Errorf("entries' Seq: %d %d %d", entries[0].Seq, entries[1].Seq, entries[2].Seq)
	}
	for i, want := range []int64{2, 3, 4} {
		if tr := append(first[0].Turns, first[1].Turns...)[i]; tr.Seq != want || tr.SessionID != sa.ID || tr.TenantID != a.ID {
			t.Errorf("first unit, turn %d: Seq %d SessionID %q TenantID %q", i, tr.Seq, tr.SessionID, tr.TenantID)
		}
	}
	if second.Turns[0].Seq != 5 || other.Turns[0].Seq != 1 {
		t.Errorf("Seq: second unit %d (want 5), other tenant %d (want 1)", second.Turns[0].Seq, other.Turns[0].Seq)
	}
	all, total, err := s.ListTurns(ctx, a.ID, sa.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTurns", err, nil)
	if total != 5 || all[3].Text != "It is noon." || all[4].Text != "thanks" {
		t.Fatalf("history: %d turns, %+v", total, all)
	}
	want := first[0].Turns[1]
	want.CreatedAt = norm(want.CreatedAt)
	equal(t, "stored tool turn", all[2], want)
	got, err := s.GetSession(ctx, a.ID, sa.ID)
	isErr(t, "GetSession", err, nil)
	if got.MessageCount != 4 || !got.LastMessageAt.Equal(t0.Add(4*time.Second)) {
		t.Errorf("session after the batch: MessageCount %d (want 4), LastMessageAt %v", got.MessageCount, got.LastMessageAt)
	}
	bt, total, err := s.ListTurns(ctx, b.ID, sb.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListTurns(b)", err, nil)
	if total != 1 || bt[0].Text != "globex" {
		t.Errorf("b's history: %+v", bt)
	}
	// A unit alone (no entries) is stored too.
	isErr(t, "CommitAudit without entries", s.CommitAudit(ctx, nil, seal, []*store.Unit{{Turns: []store.TurnAppend{
		{TenantID: b.ID, SessionID: sb.ID, Turns: []store.Turn{{Role: store.RoleUser, Text: "2", CreatedAt: t0}}}}}}), nil)
	if _, total, _ := s.ListTurns(ctx, b.ID, sb.ID, store.Page{Page: 1, PageSize: 10}); total != 2 {
		t.Errorf("b's history after turns alone: %d turns, want 2", total)
	}
}

// testAuditUnitAtomic: a write that cannot be made (a turn appended to an
// ended session, to another tenant's session, to an unknown one) fails the
// whole batch, whether it is in a unit of its own or in the same unit as a
// good write: no entry and no write of any unit is stored.
func testAuditUnitAtomic(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "acme"), mkTenant(t, s, "globex")
	sa := mkSession(t, s, a.ID, "support", "user-1", t0)
	ended := mkSession(t, s, a.ID, "support", "user-2", t0)
	_, err := s.EndSession(ctx, a.ID, ended.ID, t0, "ended")
	isErr(t, "EndSession", err, nil)
	isErr(t, "AppendAudit", s.AppendAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0), entry(b.ID, "x", t0)}, seal), nil)

	turn := func() []store.Turn { return []store.Turn{{Role: store.RoleAssistant, Text: "x", CreatedAt: t0}} }
	for _, bad := range []store.TurnAppend{
		{TenantID: a.ID, SessionID: ended.ID, Turns: turn()},
		{TenantID: b.ID, SessionID: sa.ID, Turns: turn()}, // a's session under b's ID
		{TenantID: a.ID, SessionID: newID(), Turns: turn()},
	} {
		good := func() store.TurnAppend { return store.TurnAppend{TenantID: a.ID, SessionID: sa.ID, Turns: turn()} }
		for name, units := range map[string][]*store.Unit{
			"own unit":  {{Turns: []store.TurnAppend{good()}}, {Turns: []store.TurnAppend{bad}}},
			"same unit": {{Turns: []store.TurnAppend{good(), bad}}},
		} {
			err := s.CommitAudit(ctx, []store.AuditEntry{entry(a.ID, "x", t0), entry(b.ID, "x", t0)}, seal, units)
			isErr(t, fmt.Sprintf("CommitAudit(%s of %s, %s)", bad.SessionID, bad.TenantID, name), err, store.ErrNotFound)
			verifyChain(t, s, a.ID, 1)
			verifyChain(t, s, b.ID, 1)
			for _, se := range []store.Session{sa, ended} {
				if _, total, err := s.ListTurns(ctx, a.ID, se.ID, store.Page{Page: 1, PageSize: 10}); err != nil || total != 0 {
					t.Fatalf("turns of %s after a failed batch (%s): %d (%v), want 0", se.ID, name, total, err)
				}
			}
			if got, _ := s.GetSession(ctx, a.ID, sa.ID); got.MessageCount != 0 {
				t.Errorf("MessageCount after a failed batch (%s): %d", name, got.MessageCount)
			}
		}
	}
	checkNothingAppended(t, s, map[string]int{a.ID: 1, b.ID: 1})
}
