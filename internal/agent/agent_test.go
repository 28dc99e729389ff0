package agent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
)

var ctx = context.Background()

func newService(t *testing.T) (*agent.Service, *servicetest.Fixture) {
	t.Helper()
	f := servicetest.New(t)
	return agent.New(f.Store, f.Authz, f.Audit, f.Clock.Now), f
}

func ptr[T any](v T) *T { return &v }

// wantField fails unless err is a validation error of field whose message
// contains msg.
func wantField(t *testing.T, err error, field, msg string) {
	t.Helper()
	e, ok := apperr.As(err)
	if !ok || e.Kind != apperr.Invalid || e.Field != field || !strings.Contains(e.Message, msg) {
		t.Fatalf("err %v (%#v), want %s: …%s…", err, e, field, msg)
	}
}

func TestCreateGetListUpdateDelete(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	admin := f.As(f.TenantA, authz.Admin)
	a, err := s.Create(ctx, admin, agent.Input{AgentID: "support", Name: ptr("Support"), AllowedChannels: []string{"WebChat", "Slack", "WebChat"}})
	if err != nil {
		t.Fatal(err)
	}
	// Defaults from product.md; the owner and times from the principal and the clock.
	if a.SystemPrompt != agent.DefaultSystemPrompt || a.ModelProvider != agent.DefaultModelProvider || a.ModelID != agent.DefaultModelID ||
		a.MaxContextTokens != agent.DefaultMaxContextTokens || len(a.EnabledSkillIDs) != 0 || a.Description != nil {
		t.Fatalf("defaults: %+v", a)
	}
	if a.TenantID != f.TenantA || a.OwnerID != admin.UserID || !a.CreatedAt.Equal(servicetest.Start) || !a.UpdatedAt.Equal(servicetest.Start) {
		t.Fatalf("owner, tenant or times: %+v", a)
	}
	if !slices.Equal(a.AllowedChannels, []string{"WebChat", "Slack"}) {
		t.Fatalf("allowed channels not deduplicated in order: %v", a.AllowedChannels)
	}
	got, err := s.Get(ctx, f.As(f.TenantA, authz.Viewer), "support")
	if err != nil || got.Name != "Support" || !slices.Equal(got.AllowedChannels, a.AllowedChannels) {
		t.Fatalf("get: %+v %v", got, err)
	}
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "support", Name: ptr("Again")}); !isKind(err, apperr.Conflict) {
		t.Fatalf("duplicate agentId: %v", err)
	}
	for _, id := range []string{"b", "c"} {
		if _, err := s.Create(ctx, admin, agent.Input{AgentID: id, Name: ptr(id)}); err != nil {
			t.Fatal(err)
		}
	}
	list, total, err := s.List(ctx, f.As(f.TenantA, authz.Operator), store.Page{Page: 1, PageSize: 2})
	if err != nil || total != 3 || len(list) != 2 {
		t.Fatalf("list: %d of %d, %v", len(list), total, err)
	}
	if _, _, err := s.List(ctx, admin, store.Page{Page: 0, PageSize: 2}); !isKind(err, apperr.Invalid) {
		t.Fatalf("page 0: %v", err)
	}

	f.Clock.Advance(time.Hour)
	u, err := s.Update(ctx, admin, agent.Input{AgentID: "support", Description: ptr("first line"), MaxContextTokens: ptr(5000)})
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "Support" || u.Description == nil || *u.Description != "first line" || u.MaxContextTokens != 5000 ||
		!u.CreatedAt.Equal(servicetest.Start) || !u.UpdatedAt.Equal(servicetest.Start.Add(time.Hour)) {
		t.Fatalf("update keeps unset fields, sets the others and the time: %+v", u)
	}
	u, err = s.Update(ctx, admin, agent.Input{AgentID: "support", ClearDescription: true})
	if err != nil || u.Description != nil {
		t.Fatalf("clear description: %+v %v", u, err)
	}
	if got, _ := s.Get(ctx, admin, "support"); got.Description != nil || got.MaxContextTokens != 5000 {
		t.Fatalf("stored after update: %+v", got)
	}

	if err := s.Delete(ctx, admin, "support"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, admin, "support"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, admin, "support"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	if _, err := s.Update(ctx, admin, agent.Input{AgentID: "support", Name: ptr("x")}); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("update after delete: %v", err)
	}
}

func isKind(err error, k apperr.Kind) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == k
}

// TestValidation: each field's rule, with the message a client sees, and
// nothing stored or recorded for a refused request.
func TestValidation(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	admin := f.As(f.TenantA, authz.Admin)
	long := strings.Repeat("x", 100001)
	for _, c := range []struct {
		name       string
		in         agent.Input
		field, in2 string
	}{
		{"agentId missing", agent.Input{Name: ptr("n")}, "agentId", "required"},
		{"agentId uppercase", agent.Input{AgentID: "Support", Name: ptr("n")}, "agentId", ""},
		{"agentId path", agent.Input{AgentID: "../etc", Name: ptr("n")}, "agentId", ""},
		{"agentId too long", agent.Input{AgentID: strings.Repeat("a", 200), Name: ptr("n")}, "agentId", ""},
		{"name missing", agent.Input{AgentID: "a"}, "name", "is required"},
		{"name NUL", agent.Input{AgentID: "a", Name: ptr("a\x00b")}, "name", ""},
		{"name bidi override", agent.Input{AgentID: "a", Name: ptr("\u202egnp.exe")}, "name", ""},
		{"name too long", agent.Input{AgentID: "a", Name: ptr(strings.Repeat("n", 1000))}, "name", ""},
		{"description set and cleared", agent.Input{AgentID: "a", Name: ptr("n"), Description: ptr("d"), ClearDescription: true}, "description", "cannot be both set and cleared"},
		{"system prompt too long", agent.Input{AgentID: "a", Name: ptr("n"), SystemPrompt: ptr(long)}, "systemPrompt", ""},
		{"provider", agent.Input{AgentID: "a", Name: ptr("n"), ModelProvider: ptr("acme")}, "modelProvider", "must be one of anthropic, openai"},
		{"model id empty", agent.Input{AgentID: "a", Name: ptr("n"), ModelID: ptr("")}, "modelId", ""},
		{"tokens low", agent.Input{AgentID: "a", Name: ptr("n"), MaxContextTokens: ptr(999)}, "maxContextTokens", "1000"},
		{"tokens high", agent.Input{AgentID: "a", Name: ptr("n"), MaxContextTokens: ptr(agent.MaxContextTokensLimit + 1)}, "maxContextTokens", "2000000"},
		{"skill id", agent.Input{AgentID: "a", Name: ptr("n"), EnabledSkillIDs: []string{"ok", "Not OK"}}, "enabledSkillIds", ""},
		{"too many skills", agent.Input{AgentID: "a", Name: ptr("n"), EnabledSkillIDs: make([]string, agent.MaxListItems+1)}, "enabledSkillIds", "has too many items"},
		{"unknown channel", agent.Input{AgentID: "a", Name: ptr("n"), AllowedChannels: []string{"Carrier pigeon"}}, "allowedChannels", "names an unknown channel"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.Create(ctx, admin, c.in)
			wantField(t, err, c.field, c.in2)
		})
	}
	if _, total, _ := s.List(ctx, admin, store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatalf("%d agents stored by refused requests", total)
	}
	if es := f.Entries(f.TenantA, audit.AgentConfigured); len(es) != 0 {
		t.Fatalf("refused requests recorded: %+v", es)
	}
	// On update too, and the agent is unchanged.
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "a", Name: ptr("n")}); err != nil {
		t.Fatal(err)
	}
	_, err := s.Update(ctx, admin, agent.Input{AgentID: "a", Name: ptr("ok"), ModelProvider: ptr("acme")})
	wantField(t, err, "modelProvider", "must be one of")
	if got, _ := s.Get(ctx, admin, "a"); got.Name != "n" || got.ModelProvider != agent.DefaultModelProvider {
		t.Fatalf("a refused update changed the agent: %+v", got)
	}
}

// TestRBAC: every role against every operation, as the matrix says
// (Owner and Admin configure, Operator and Viewer read); each denial is a
// PermissionDenied entry naming the caller, its role and the agent, and
// changes nothing.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	if _, err := s.Create(ctx, owner, agent.Input{AgentID: "base", Name: ptr("Base")}); err != nil {
		t.Fatal(err)
	}
	type op struct {
		name   string
		write  bool
		verb   string
		target string
		do     func(p authz.Principal) error
	}
	ops := []op{
		{"create", true, "create", "new-agent", func(p authz.Principal) error {
			_, err := s.Create(ctx, p, agent.Input{AgentID: "new-agent", Name: ptr("New")})
			if err == nil {
				err = s.Delete(ctx, owner, "new-agent")
			}
			return err
		}},
		{"update", true, "update", "base", func(p authz.Principal) error {
			_, err := s.Update(ctx, p, agent.Input{AgentID: "base", Name: ptr("Base " + string(p.Role))})
			return err
		}},
		{"delete", true, "delete", "base", func(p authz.Principal) error {
			err := s.Delete(ctx, p, "base")
			if err == nil {
				_, err = s.Create(ctx, owner, agent.Input{AgentID: "base", Name: ptr("Base")})
			}
			return err
		}},
		{"get", false, "read", "base", func(p authz.Principal) error { _, err := s.Get(ctx, p, "base"); return err }},
		{"list", false, "read", "", func(p authz.Principal) error {
			_, _, err := s.List(ctx, p, store.Page{Page: 1, PageSize: 10})
			return err
		}},
	}
	for _, role := range authz.Roles {
		p := f.As(f.TenantA, role)
		for _, o := range ops {
			before := len(f.Entries(f.TenantA, audit.PermissionDenied))
			err := o.do(p)
			allowed := !o.write || role == authz.Owner || role == authz.Admin
			if allowed {
				if err != nil {
					t.Errorf("%s %s: %v", role, o.name, err)
				}
				continue
			}
			if !errors.Is(err, authz.ErrDenied) {
				t.Errorf("%s %s: err %v, want a denial", role, o.name, err)
				continue
			}
			denied := f.Entries(f.TenantA, audit.PermissionDenied)
			if len(denied) != before+1 {
				t.Errorf("%s %s: %d PermissionDenied entries, want one more than %d", role, o.name, len(denied), before)
				continue
			}
			e := denied[len(denied)-1]
			if e.ActorID != p.UserID || e.AgentID != o.target || e.Details["role"] != string(role) ||
				e.Details["verb"] != o.verb || e.Details["resource"] != "agents" {
				t.Errorf("%s %s: denial entry %+v %v", role, o.name, e.AuditEntry, e.Details)
			}
		}
	}
	if got, err := s.Get(ctx, owner, "base"); err != nil || !strings.HasPrefix(got.Name, "Base") {
		t.Fatalf("base after the matrix: %+v %v", got, err)
	}
	for _, role := range []authz.Role{authz.Operator, authz.Viewer} {
		if got, _ := s.Get(ctx, owner, "base"); got.Name == "Base "+string(role) {
			t.Fatalf("a denied %s update was applied", role)
		}
	}
	if _, err := s.Get(ctx, owner, "new-agent"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("a denied create was applied: %v", err)
	}
	// No principal at all: denied, never a panic or a write.
	if _, err := s.Create(ctx, authz.Principal{}, agent.Input{AgentID: "x", Name: ptr("x")}); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("empty principal: %v", err)
	}
	// An unknown role is denied even reads.
	ghost := f.As(f.TenantA, authz.Viewer)
	ghost.Role = "superuser"
	if _, err := s.Get(ctx, ghost, "base"); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("unknown role: %v", err)
	}
}

// TestCrossTenant: another tenant's agent is not found, for every
// operation and every role, and is never changed; the same agentId may
// exist in both tenants.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	ownerA := f.As(f.TenantA, authz.Owner)
	if _, err := s.Create(ctx, ownerA, agent.Input{AgentID: "secret", Name: ptr("A's")}); err != nil {
		t.Fatal(err)
	}
	ownerB := f.As(f.TenantB, authz.Owner)
	if _, err := s.Get(ctx, ownerB, "secret"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.Update(ctx, ownerB, agent.Input{AgentID: "secret", Name: ptr("mine")}); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("update: %v", err)
	}
	if err := s.Delete(ctx, ownerB, "secret"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("delete: %v", err)
	}
	if list, total, err := s.List(ctx, ownerB, store.Page{Page: 1, PageSize: 10}); err != nil || total != 0 || len(list) != 0 {
		t.Fatalf("B lists %d of %d: %v", len(list), total, err)
	}
	if es := f.Entries(f.TenantB, audit.AgentConfigured); len(es) != 0 {
		t.Fatalf("B's failed attempts recorded changes: %+v", es)
	}
	b, err := s.Create(ctx, ownerB, agent.Input{AgentID: "secret", Name: ptr("B's")})
	if err != nil || b.TenantID != f.TenantB {
		t.Fatalf("same agentId in B: %+v %v", b, err)
	}
	if got, _ := s.Get(ctx, ownerA, "secret"); got.Name != "A's" {
		t.Fatalf("A's agent after B's attempts: %+v", got)
	}
	// The principal's tenant decides, whatever the agent's own fields say.
	if _, err := s.Update(ctx, ownerB, agent.Input{AgentID: "secret", Name: ptr("B's, renamed")}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Get(ctx, ownerA, "secret"); got.Name != "A's" {
		t.Fatalf("B's update reached A: %+v", got)
	}
}

// TestAuditEntries: each change is one AgentConfigured entry with the
// operation, the names (never the values) of the fields that changed, the
// actor and the API key it used.
func TestAuditEntries(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	admin := f.As(f.TenantA, authz.Admin)
	admin.APIKeyID = "key-1"
	prompt := "Internal pricing: 42% margin"
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "a", Name: ptr("A"), SystemPrompt: ptr(prompt)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Update(ctx, admin, agent.Input{AgentID: "a", ModelID: ptr("gpt-4o"), MaxContextTokens: ptr(agent.DefaultMaxContextTokens)}); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, admin, "a"); err != nil {
		t.Fatal(err)
	}
	es := f.Entries(f.TenantA, audit.AgentConfigured)
	if len(es) != 3 {
		t.Fatalf("%d entries, want 3", len(es))
	}
	want := []struct {
		op     string
		fields []string
	}{
		{"created", []string{"name", "systemPrompt", "modelProvider", "modelId", "maxContextTokens"}},
		{"updated", []string{"modelId"}},
		{"deleted", nil},
	}
	for i, w := range want {
		e := es[i]
		if e.ActorID != admin.UserID || e.AgentID != "a" || e.Details["operation"] != w.op || e.Details["apiKeyId"] != "key-1" {
			t.Errorf("entry %d: %+v %v", i, e.AuditEntry, e.Details)
		}
		if _, ok := e.Details["outcome"]; ok {
			t.Errorf("entry %d: a successful change has an outcome: %v", i, e.Details)
		}
		var fields []string
		if raw, ok := e.Details["fields"].([]any); ok {
			for _, v := range raw {
				fields = append(fields, v.(string))
			}
		} else if w.fields != nil {
			t.Errorf("entry %d: no fields: %v", i, e.Details)
		}
		if !slices.Equal(fields, w.fields) {
			t.Errorf("entry %d: fields %v, want %v", i, fields, w.fields)
		}
		if strings.Contains(string(e.AuditEntry.Details), "42%") {
			t.Errorf("entry %d records a field's value: %s", i, e.AuditEntry.Details)
		}
	}
}

// TestAuditFailsClosed: when the entry cannot be stored, nothing changes.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	admin := f.As(f.TenantA, authz.Admin)
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "a", Name: ptr("A")}); err != nil {
		t.Fatal(err)
	}
	down := errors.New("audit store unavailable")
	f.Audit.Before(func(context.Context, audit.Event) error { return down })
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "b", Name: ptr("B")}); !errors.Is(err, down) {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.Update(ctx, admin, agent.Input{AgentID: "a", Name: ptr("changed")}); !errors.Is(err, down) {
		t.Fatalf("update: %v", err)
	}
	if err := s.Delete(ctx, admin, "a"); !errors.Is(err, down) {
		t.Fatalf("delete: %v", err)
	}
	// A denial that cannot be recorded is an error too, never an allowed call.
	if _, err := s.Create(ctx, f.As(f.TenantA, authz.Viewer), agent.Input{AgentID: "c", Name: ptr("C")}); err == nil || !errors.Is(err, down) {
		t.Fatalf("denial without its entry: %v", err)
	}
	f.Audit.Before(nil)
	if _, err := s.Get(ctx, admin, "b"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("b was created without its entry: %v", err)
	}
	if got, err := s.Get(ctx, admin, "a"); err != nil || got.Name != "A" {
		t.Fatalf("a was changed or deleted without its entry: %+v %v", got, err)
	}
}

// TestFailedOutcome: when the change fails after its entry was stored (a
// concurrent writer got there first), a second entry records the failed
// outcome, and the caller gets the store's answer, mapped.
func TestFailedOutcome(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	admin := f.As(f.TenantA, authz.Admin)
	// Another writer between the service's entry and its store call.
	between := func(do func()) {
		f.Audit.Before(func(_ context.Context, ev audit.Event) error {
			if ev.Action == audit.AgentConfigured && ev.Details["outcome"] == nil {
				f.Audit.Before(nil)
				do()
			}
			return nil
		})
	}
	between(func() {
		if err := f.Store.CreateAgent(ctx, store.Agent{TenantID: f.TenantA, AgentID: "race", Name: "other", ModelProvider: "openai",
			ModelID: "m", MaxContextTokens: 1000, EnabledSkillIDs: []string{}, AllowedChannels: []string{},
			OwnerID: admin.UserID, CreatedAt: servicetest.Start, UpdatedAt: servicetest.Start}, 1000); err != nil {
			t.Error(err)
		}
	})
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "race", Name: ptr("mine")}); !isKind(err, apperr.Conflict) {
		t.Fatalf("create beaten by another writer: %v", err)
	}
	between(func() {
		if err := f.Store.DeleteAgent(ctx, f.TenantA, "race"); err != nil {
			t.Error(err)
		}
	})
	if _, err := s.Update(ctx, admin, agent.Input{AgentID: "race", Name: ptr("renamed")}); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("update of an agent deleted meanwhile: %v", err)
	}
	if _, err := s.Create(ctx, admin, agent.Input{AgentID: "race", Name: ptr("again")}); err != nil {
		t.Fatal(err)
	}
	between(func() {
		if err := f.Store.DeleteAgent(ctx, f.TenantA, "race"); err != nil {
			t.Error(err)
		}
	})
	if err := s.Delete(ctx, admin, "race"); !errors.Is(err, agent.ErrNotFound) {
		t.Fatalf("delete of an agent deleted meanwhile: %v", err)
	}
	var got []string
	for _, e := range f.Entries(f.TenantA, audit.AgentConfigured) {
		o, _ := e.Details["outcome"].(string)
		got = append(got, e.Details["operation"].(string)+":"+o)
		if e.ActorID != admin.UserID || e.AgentID != "race" {
			t.Errorf("entry %+v", e.AuditEntry)
		}
	}
	want := []string{"created:", "created:failed", "updated:", "updated:failed", "created:", "deleted:", "deleted:failed"}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}
