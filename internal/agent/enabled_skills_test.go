package agent

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

type memRec struct{ evs []audit.Event }

func (m *memRec) Record(_ context.Context, ev audit.Event) error {
	m.evs = append(m.evs, ev)
	return nil
}

// TestSetSkillEnabled: the registry's one way to change an agent's
// enabledSkillIds. Enabling adds the skill (sorted, once), disabling
// removes it, nothing else of the row changes, and it records no entry of
// its own (the registry's SkillInstalled/SkillUninstalled is the audit); a
// Viewer is denied (PermissionDenied) and an unknown agent is not found.
func TestSetSkillEnabled(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "k.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	tn := uuid.NewString()
	t0 := time.Date(2026, 1, 1, 9, 0, 0, 0, time.UTC)
	if err := st.CreateTenant(ctx, store.Tenant{ID: tn, Slug: "acme", Name: "A", CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
	orig := store.Agent{TenantID: tn, AgentID: "bot", Name: "Bot", SystemPrompt: "p", ModelProvider: "anthropic", ModelID: "m",
		MaxContextTokens: 1000, EnabledSkillIDs: []string{"m-skill"}, AllowedChannels: []string{"WebChat"}, CreatedAt: t0, UpdatedAt: t0}
	if err := st.CreateAgent(ctx, orig, DefaultMaxAgents); err != nil {
		t.Fatal(err)
	}
	rec := &memRec{}
	t1 := t0.Add(time.Hour)
	s := New(st, authz.New(audit.Denials(rec)), rec, func() time.Time { return t1 })
	admin := authz.Principal{TenantID: tn, UserID: "u1", Role: authz.Admin}

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
	if len(rec.evs) != 0 {
		t.Fatalf("entries of its own: %+v", rec.evs)
	}

	viewer := authz.Principal{TenantID: tn, UserID: "u2", Role: authz.Viewer}
	if err := s.SetSkillEnabled(ctx, viewer, "bot", "b-skill", true); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("viewer: %v", err)
	}
	if len(rec.evs) != 1 || rec.evs[0].Action != audit.PermissionDenied || rec.evs[0].SkillID != "b-skill" {
		t.Fatalf("viewer's denial: %+v", rec.evs)
	}
	if got := ids(); !slices.Equal(got, []string{"a-skill", "z-skill"}) {
		t.Fatalf("viewer changed the row: %v", got)
	}
	if err := s.SetSkillEnabled(ctx, admin, "ghost", "a-skill", true); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown agent: %v", err)
	}
}
