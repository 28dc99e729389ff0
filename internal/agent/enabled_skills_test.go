package agent

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
)

// TestSetSkillEnabled: the registry's one way to change an agent's
// enabledSkillIds. Enabling adds the skill (sorted, once), disabling
// removes it, nothing else of the row changes, and it records no entry of
// its own (the registry's SkillInstalled/SkillUninstalled is the audit); a
// Viewer is denied (PermissionDenied) and an unknown agent is not found.
func TestSetSkillEnabled(t *testing.T) {
	ctx := context.Background()
	f := servicetest.New(t)
	st, tn := f.Store, f.TenantA
	t0 := servicetest.Start
	orig := store.Agent{TenantID: tn, AgentID: "bot", Name: "Bot", SystemPrompt: "p", ModelProvider: "anthropic", ModelID: "m",
		MaxContextTokens: 1000, EnabledSkillIDs: []string{"m-skill"}, AllowedChannels: []string{"WebChat"}, CreatedAt: t0, UpdatedAt: t0}
	if err := st.CreateAgent(ctx, orig, DefaultMaxAgents); err != nil {
		t.Fatal(err)
	}
	t1 := t0.Add(time.Hour)
	s := New(st, f.Authz, f.Audit, func() time.Time { return t1 })
	admin := f.As(tn, authz.Admin)

	ids := func() []string {
		a, err := st.GetAgent(ctx, tn, "bot")
		if err != nil {
			t.Fatal(err)
		}
		return a.EnabledSkillIDs
	}
	for _, id := range []string{"z-skill", "a-skill", "a-skill"} {
		if err := s.SetSkillEnabled(ctx, admin, "bot", id, true); err != nil {
			t.Fatal(err)
		}
	}
	if got := ids(); !slices.Equal(got, []string{"a-skill", "m-skill", "z-skill"}) {
		t.Fatalf("enabled: %v", got)
	}
	if err := s.SetSkillEnabled(ctx, admin, "bot", "m-skill", false); err != nil {
		t.Fatal(err)
	}
	a, _ := st.GetAgent(ctx, tn, "bot")
	if !slices.Equal(a.EnabledSkillIDs, []string{"a-skill", "z-skill"}) || a.Name != orig.Name || a.SystemPrompt != orig.SystemPrompt ||
		!slices.Equal(a.AllowedChannels, orig.AllowedChannels) || !a.UpdatedAt.Equal(t1) {
		t.Fatalf("after disable: %+v", a)
	}
	if es := f.Entries(tn, ""); len(es) != 0 {
		t.Fatalf("entries of its own: %+v", es)
	}

	viewer := f.As(tn, authz.Viewer)
	if err := s.SetSkillEnabled(ctx, viewer, "bot", "b-skill", true); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("viewer: %v", err)
	}
	if es := f.Entries(tn, ""); len(es) != 1 || es[0].Action != string(audit.PermissionDenied) || es[0].SkillID != "b-skill" {
		t.Fatalf("viewer's denial: %+v", es)
	}
	if got := ids(); !slices.Equal(got, []string{"a-skill", "z-skill"}) {
		t.Fatalf("viewer changed the row: %v", got)
	}
	if err := s.SetSkillEnabled(ctx, admin, "ghost", "a-skill", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
}
