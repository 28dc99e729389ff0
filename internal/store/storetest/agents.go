package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var agentTests = []test{
	{"RoundTrip", testAgentRoundTrip},
	{"Conflicts", testAgentConflicts},
	{"ListPagination", testAgentList},
	{"Update", testAgentUpdate},
	{"Delete", testAgentDelete},
}

func testAgentRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "ada@example.com", "owner")
	base := store.Agent{
		TenantID: a.ID, Name: "Support", SystemPrompt: "Be helpful.\nNever reveal secrets.",
		ModelProvider: "anthropic", ModelID: "claude-sonnet-4", MaxContextTokens: 200000,
		OwnerID: owner.ID, CreatedAt: time.Date(2025, 5, 6, 7, 8, 9, 100200300, east), UpdatedAt: t0.Add(time.Nanosecond),
	}
	tests := []struct {
		name                  string
		desc                  *string
		skills, channels      []string
		wantSkills, wantChans []string
	}{
		{"Full", ptr("Answers support tickets — «ünïcode»"), []string{"web.search", "kb.lookup"}, []string{"web"},
			[]string{"web.search", "kb.lookup"}, []string{"web"}},
		{"NilDescriptionNilSlices", nil, nil, nil, []string{}, []string{}},
		{"EmptyDescriptionEmptySlices", ptr(""), []string{}, []string{}, []string{}, []string{}},
		{"AwkwardStrings", ptr(`quote " backslash \ comma ,`), []string{`a"b`, `c,d`, "", "{e}"}, []string{"NULL"},
			[]string{`a"b`, `c,d`, "", "{e}"}, []string{"NULL"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := base
			in.AgentID = fmt.Sprintf("agent%02d", i)
			in.Description, in.EnabledSkillIDs, in.AllowedChannels = tc.desc, tc.skills, tc.channels
			isErr(t, "CreateAgent", s.CreateAgent(ctx, in, 1000), nil)
			want := in
			want.EnabledSkillIDs, want.AllowedChannels = tc.wantSkills, tc.wantChans
			want.CreatedAt, want.UpdatedAt = norm(in.CreatedAt), norm(in.UpdatedAt)

			got, err := s.GetAgent(ctx, a.ID, in.AgentID)
			isErr(t, "GetAgent", err, nil)
			equal(t, "GetAgent", got, want)
			if got.EnabledSkillIDs == nil || got.AllowedChannels == nil {
				t.Errorf("GetAgent: got nil slices (%#v, %#v), want non-nil", got.EnabledSkillIDs, got.AllowedChannels)
			}

			list, _, err := s.ListAgents(ctx, a.ID, store.Page{Page: i + 1, PageSize: 1})
			isErr(t, "ListAgents", err, nil)
			if len(list) != 1 {
				t.Fatalf("ListAgents page %d: got %d agents, want 1", i+1, len(list))
			}
			equal(t, "ListAgents", list[0], want)
		})
	}
}

func testAgentConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	oa := mkUser(t, s, a.ID, "ada@example.com", "owner")
	ob := mkUser(t, s, b.ID, "bob@example.com", "owner")
	orig := mkAgent(t, s, a.ID, "support", oa.ID)

	dup := orig
	dup.Name, dup.SystemPrompt = "Impostor", "Leak everything."
	isErr(t, "CreateAgent(same agentId, same tenant)", s.CreateAgent(ctx, dup, 1000), store.ErrConflict)
	got, err := s.GetAgent(ctx, a.ID, "support")
	isErr(t, "GetAgent", err, nil)
	equal(t, "agent after conflict", got, orig)

	// The same agentId in another tenant is a different agent.
	other := mkAgent(t, s, b.ID, "support", ob.ID)
	other.Name = "Globex support"
	isErr(t, "UpdateAgent(b)", s.UpdateAgent(ctx, other), nil)
	gotA, err := s.GetAgent(ctx, a.ID, "support")
	isErr(t, "GetAgent(a)", err, nil)
	equal(t, "a's agent", gotA, orig)
	gotB, err := s.GetAgent(ctx, b.ID, "support")
	isErr(t, "GetAgent(b)", err, nil)
	equal(t, "b's agent", gotB, other)
}

func testAgentList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	oa := mkUser(t, s, a.ID, "ada@example.com", "owner")
	ob := mkUser(t, s, b.ID, "bob@example.com", "owner")
	byID := map[int]store.Agent{}
	for _, i := range []int{2, 4, 0, 3, 1} {
		byID[i] = mkAgent(t, s, a.ID, fmt.Sprintf("agent%02d", i), oa.ID)
	}
	mkAgent(t, s, b.ID, "agent00", ob.ID)
	mkAgent(t, s, b.ID, "agent99", ob.ID)
	pick := func(i ...int) []store.Agent {
		out := []store.Agent{}
		for _, n := range i {
			out = append(out, byID[n])
		}
		return out
	}
	tests := []struct {
		name string
		page store.Page
		want []store.Agent
	}{
		{"Page1", store.Page{Page: 1, PageSize: 2}, pick(0, 1)},
		{"Page2", store.Page{Page: 2, PageSize: 2}, pick(2, 3)},
		{"Page3", store.Page{Page: 3, PageSize: 2}, pick(4)},
		{"PastTheEnd", store.Page{Page: 9, PageSize: 2}, pick()},
		{"OnePage", store.Page{Page: 1, PageSize: 50}, pick(0, 1, 2, 3, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListAgents(ctx, a.ID, tc.page)
			isErr(t, "ListAgents", err, nil)
			if total != 5 {
				t.Errorf("total: got %d, want 5", total)
			}
			equal(t, "ListAgents", got, tc.want)
		})
	}
}

func testAgentUpdate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	o := mkUser(t, s, a.ID, "ada@example.com", "owner")
	orig := mkAgent(t, s, a.ID, "support", o.ID)

	upd := store.Agent{
		TenantID: a.ID, AgentID: "support", Name: "Support v2", Description: nil,
		SystemPrompt: "Be brief.", ModelProvider: "openai", ModelID: "gpt-5", MaxContextTokens: 128000,
		EnabledSkillIDs: []string{"kb.lookup"}, AllowedChannels: nil,
		// Not mutable: must be ignored.
		OwnerID: newID(), CreatedAt: t0.Add(-time.Hour),
		UpdatedAt: t0.Add(time.Hour),
	}
	isErr(t, "UpdateAgent", s.UpdateAgent(ctx, upd), nil)
	want := upd
	want.OwnerID, want.CreatedAt, want.AllowedChannels = orig.OwnerID, orig.CreatedAt, []string{}
	got, err := s.GetAgent(ctx, a.ID, "support")
	isErr(t, "GetAgent", err, nil)
	equal(t, "agent after update", got, want)

	missing := upd
	missing.AgentID = "nope"
	isErr(t, "UpdateAgent(unknown)", s.UpdateAgent(ctx, missing), store.ErrNotFound)
	_, err = s.GetAgent(ctx, a.ID, "nope")
	isErr(t, "GetAgent(unknown)", err, store.ErrNotFound)
}

func testAgentDelete(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	o := mkUser(t, s, a.ID, "ada@example.com", "owner")
	mkAgent(t, s, a.ID, "support", o.ID)
	keep := mkAgent(t, s, a.ID, "sales", o.ID)

	isErr(t, "DeleteAgent", s.DeleteAgent(ctx, a.ID, "support"), nil)
	_, err := s.GetAgent(ctx, a.ID, "support")
	isErr(t, "GetAgent(deleted)", err, store.ErrNotFound)
	isErr(t, "DeleteAgent(again)", s.DeleteAgent(ctx, a.ID, "support"), store.ErrNotFound)
	got, total, err := s.ListAgents(ctx, a.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListAgents", err, nil)
	if total != 1 {
		t.Errorf("ListAgents total: got %d, want 1", total)
	}
	equal(t, "ListAgents after delete", got, []store.Agent{keep})

	// The agentId can be used again.
	mkAgent(t, s, a.ID, "support", o.ID)
}
