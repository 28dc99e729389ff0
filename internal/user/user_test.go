package user_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/user"
)

var ctx = context.Background()

const password = "correct horse battery staple"

func newService(t *testing.T) (*user.Service, *servicetest.Fixture) {
	t.Helper()
	f := servicetest.New(t)
	h, err := authn.NewHasher(authn.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32})
	if err != nil {
		t.Fatal(err)
	}
	hash := func(pw string) (string, error) { return h.Hash(ctx, pw) }
	return user.New(f.Store, f.Authz, f.Audit, hash, nil, f.Clock.Now), f
}

func kind(err error) apperr.Kind {
	if e, ok := apperr.As(err); ok {
		return e.Kind
	}
	return -1
}

func TestCreateWithPassword(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	owner.APIKeyID = "key-owner"
	u, inv, err := s.Create(ctx, owner, user.CreateInput{Email: " New.Person@Example.COM ", Role: "operator", Password: password})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Token != "" || u.TenantID != f.TenantA || u.Role != "operator" || !u.Active || u.Name == "" ||
		!strings.HasPrefix(u.PasswordHash, "$argon2id$") || strings.Contains(u.PasswordHash, password) {
		t.Fatalf("created %+v %+v", u, inv)
	}
	got, err := s.Get(ctx, owner, u.ID)
	if err != nil || got.Email != u.Email || got.Role != "operator" {
		t.Fatalf("get %+v %v", got, err)
	}
	es := f.Entries(f.TenantA, audit.UserCreated)
	if len(es) != 1 || es[0].ActorID != owner.UserID || es[0].Details["userId"] != u.ID || es[0].Details["role"] != "operator" ||
		es[0].Details["apiKeyId"] != "key-owner" || strings.Contains(string(es[0].AuditEntry.Details), "$argon2") {
		t.Fatalf("entries %+v", es)
	}
	// An e-mail address is one account across every tenant.
	if _, _, err := s.Create(ctx, f.As(f.TenantB, authz.Owner), user.CreateInput{Email: u.Email, Role: "viewer", Password: password}); kind(err) != apperr.Conflict {
		t.Fatalf("same e-mail in another tenant: %v", err)
	}
	for _, c := range []struct {
		in    user.CreateInput
		field string
	}{
		{user.CreateInput{Email: "not-an-address", Role: "viewer", Password: password}, "email"},
		{user.CreateInput{Email: "x@example.com", Role: "root", Password: password}, "role"},
		{user.CreateInput{Email: "x@example.com", Role: "Owner", Password: password}, "role"},
		{user.CreateInput{Email: "x@example.com", Role: "viewer", Password: "short"}, "password"},
		{user.CreateInput{Email: "x@example.com", Name: strings.Repeat("n", 300), Role: "viewer", Password: password}, "name"},
	} {
		if _, _, err := s.Create(ctx, owner, c.in); kind(err) != apperr.Invalid || !strings.HasPrefix(err.Error(), c.field) {
			t.Errorf("%+v: %v, want invalid %s", c.in, err, c.field)
		}
	}
	if _, total, _ := s.List(ctx, owner, store.Page{Page: 1, PageSize: 50}); total != 2 { // the owner and the new user
		t.Fatalf("%d users", total)
	}
}

func TestInvitation(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	u, inv, err := s.Create(ctx, owner, user.CreateInput{Email: "invitee@example.com", Role: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if !authn.IsInviteToken(inv.Token) || !inv.ExpiresAt.Equal(servicetest.Start.Add(user.InviteTTL)) || u.PasswordHash != "" {
		t.Fatalf("invitation %+v for %+v", inv, u)
	}
	stored, _ := f.Store.GetUser(ctx, f.TenantA, u.ID)
	if stored.InviteHash != authn.HashToken(inv.Token) || stored.PasswordHash != "" {
		t.Fatalf("stored %+v", stored)
	}
	es := f.Entries(f.TenantA, audit.UserInvited)
	if len(es) != 1 || strings.Contains(string(es[0].AuditEntry.Details), inv.Token) || strings.Contains(string(es[0].AuditEntry.Details), stored.InviteHash) {
		t.Fatalf("invited entries %+v", es)
	}
	badInvite := func(token, what string) {
		t.Helper()
		_, err := s.AcceptInvite(ctx, token, password)
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Unauthenticated || e.Message != "invalid or expired invitation" {
			t.Errorf("%s: %v, want the one invitation refusal", what, err)
		}
	}
	badInvite("", "empty")
	badInvite("kmi_"+strings.Repeat("A", 43), "unknown")
	badInvite(inv.Token+"x", "altered")
	badInvite(strings.ToUpper(inv.Token), "case-changed")
	// A password the policy refuses leaves the invitation usable.
	if _, err := s.AcceptInvite(ctx, inv.Token, "short"); kind(err) != apperr.Invalid {
		t.Fatalf("short password: %v", err)
	}
	got, err := s.AcceptInvite(ctx, inv.Token, password)
	if err != nil || got.ID != u.ID || got.PasswordHash != "" {
		t.Fatalf("accept: %+v %v", got, err)
	}
	if stored, _ := f.Store.GetUser(ctx, f.TenantA, u.ID); !strings.HasPrefix(stored.PasswordHash, "$argon2id$") {
		t.Fatalf("password not set: %+v", stored)
	}
	if es := f.Entries(f.TenantA, audit.UserInviteAccepted); len(es) != 1 || es[0].ActorID != u.ID {
		t.Fatalf("accepted entries %+v", es)
	}
	badInvite(inv.Token, "spent")

	// Expired: the clock passes InviteTTL.
	_, late, err := s.Create(ctx, owner, user.CreateInput{Email: "late@example.com", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	f.Clock.Advance(user.InviteTTL)
	badInvite(late.Token, "expired")
	// Deactivated before accepting.
	_, gone, err := s.Create(ctx, owner, user.CreateInput{Email: "gone@example.com", Role: "viewer"})
	if err != nil {
		t.Fatal(err)
	}
	goneUser, _ := f.Store.GetUserByEmail(ctx, f.TenantA, "gone@example.com")
	if _, err := s.Deactivate(ctx, owner, goneUser.ID); err != nil {
		t.Fatal(err)
	}
	badInvite(gone.Token, "deactivated")
}

// TestRBAC: only Owners manage users; Admins read them; Operators and
// Viewers do neither. Every denial is audited and changes nothing.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	target := f.As(f.TenantA, authz.Viewer)
	for _, role := range authz.Roles {
		p := f.As(f.TenantA, role)
		ops := map[string]func() error{
			"create": func() error {
				_, _, err := s.Create(ctx, p, user.CreateInput{Email: "by-" + string(role) + "@example.com", Role: "viewer", Password: password})
				return err
			},
			"get":  func() error { _, err := s.Get(ctx, p, target.UserID); return err },
			"list": func() error { _, _, err := s.List(ctx, p, store.Page{Page: 1, PageSize: 10}); return err },
			"role": func() error { _, err := s.SetRole(ctx, p, target.UserID, "viewer"); return err },
		}
		allowed := map[authz.Role][]string{authz.Owner: {"create", "get", "list", "role"}, authz.Admin: {"get", "list"}}[role]
		for _, name := range []string{"create", "get", "list", "role"} {
			before := len(f.Entries(f.TenantA, audit.PermissionDenied))
			err := ops[name]()
			after := f.Entries(f.TenantA, audit.PermissionDenied)
			if slices.Contains(allowed, name) {
				if err != nil || len(after) != before {
					t.Errorf("%s %s: %v", role, name, err)
				}
				continue
			}
			if !errors.Is(err, authz.ErrDenied) || len(after) != before+1 || after[len(after)-1].ActorID != p.UserID ||
				after[len(after)-1].Details["resource"] != "users" {
				t.Errorf("%s %s: %v, %d new denials", role, name, err, len(after)-before)
			}
		}
		if role != authz.Owner {
			if _, err := s.Deactivate(ctx, p, target.UserID); !errors.Is(err, authz.ErrDenied) {
				t.Errorf("%s deactivate: %v", role, err)
			}
		}
	}
	if _, err := f.Store.GetUserByEmail(ctx, f.TenantA, "by-admin@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a denied create stored a user: %v", err)
	}
	if u, _ := s.Get(ctx, owner, target.UserID); !u.Active {
		t.Fatal("a denied deactivation was applied")
	}
}

// TestRolesAndDeactivation: role changes and deactivation are audited
// with what changed; the last active Owner can be neither demoted nor
// deactivated, and the refusal records the failed outcome.
func TestRolesAndDeactivation(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	op := f.As(f.TenantA, authz.Operator)
	u, err := s.SetRole(ctx, owner, op.UserID, "admin")
	if err != nil || u.Role != "admin" {
		t.Fatalf("promote: %+v %v", u, err)
	}
	if _, err := s.SetRole(ctx, owner, op.UserID, "admin"); err != nil {
		t.Fatal(err)
	}
	es := f.Entries(f.TenantA, audit.UserRoleChanged)
	if len(es) != 1 || es[0].Details["from"] != "operator" || es[0].Details["to"] != "admin" || es[0].Details["userId"] != op.UserID {
		t.Fatalf("role entries (an unchanged role records nothing) %+v", es)
	}
	if _, err := s.SetRole(ctx, owner, op.UserID, "superuser"); kind(err) != apperr.Invalid {
		t.Fatalf("unknown role: %v", err)
	}
	// The last Owner.
	if _, err := s.SetRole(ctx, owner, owner.UserID, "admin"); kind(err) != apperr.Conflict {
		t.Fatalf("demote the last owner: %v", err)
	}
	if _, err := s.Deactivate(ctx, owner, owner.UserID); kind(err) != apperr.Conflict {
		t.Fatalf("deactivate the last owner: %v", err)
	}
	if u, _ := s.Get(ctx, owner, owner.UserID); u.Role != "owner" || !u.Active {
		t.Fatalf("the last owner after the refusals: %+v", u)
	}
	var outcomes []string
	for _, e := range f.Entries(f.TenantA, "") {
		if e.Details["userId"] == owner.UserID {
			o, _ := e.Details["outcome"].(string)
			outcomes = append(outcomes, e.Action+":"+o)
		}
	}
	want := []string{string(audit.UserRoleChanged) + ":", string(audit.UserRoleChanged) + ":failed", string(audit.UserDeactivated) + ":", string(audit.UserDeactivated) + ":failed"}
	if !slices.Equal(outcomes, want) {
		t.Fatalf("entries for the last owner %v, want %v", outcomes, want)
	}
	// With a second Owner, the first may step down.
	if _, err := s.SetRole(ctx, owner, op.UserID, "owner"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetRole(ctx, owner, owner.UserID, "admin"); err != nil {
		t.Fatalf("demote one of two owners: %v", err)
	}
	// Deactivation, once.
	v := f.As(f.TenantA, authz.Viewer)
	newOwner := op
	newOwner.Role = authz.Owner
	d, err := s.Deactivate(ctx, newOwner, v.UserID)
	if err != nil || d.Active {
		t.Fatalf("deactivate: %+v %v", d, err)
	}
	if _, err := s.Deactivate(ctx, newOwner, v.UserID); err != nil {
		t.Fatal(err)
	}
	if es := f.Entries(f.TenantA, audit.UserDeactivated); len(es) != 3 || es[2].Details["userId"] != v.UserID || es[2].Details["role"] != "viewer" {
		t.Fatalf("deactivation entries (once per user) %+v", es)
	}
}

// TestCrossTenant: another tenant's user is not found by any operation.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	victim := f.As(f.TenantA, authz.Owner)
	ownerB := f.As(f.TenantB, authz.Owner)
	if _, err := s.Get(ctx, ownerB, victim.UserID); kind(err) != apperr.NotFound {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.SetRole(ctx, ownerB, victim.UserID, "viewer"); kind(err) != apperr.NotFound {
		t.Fatalf("set role: %v", err)
	}
	if _, err := s.Deactivate(ctx, ownerB, victim.UserID); kind(err) != apperr.NotFound {
		t.Fatalf("deactivate: %v", err)
	}
	if list, _, _ := s.List(ctx, ownerB, store.Page{Page: 1, PageSize: 50}); len(list) != 1 || list[0].ID != ownerB.UserID {
		t.Fatalf("B lists %+v", list)
	}
	if u, _ := f.Store.GetUser(ctx, f.TenantA, victim.UserID); u.Role != "owner" || !u.Active {
		t.Fatalf("A's owner after B's attempts: %+v", u)
	}
	if es := f.Entries(f.TenantA, ""); len(es) != 0 {
		t.Fatalf("B's attempts wrote to A's audit trail: %+v", es)
	}
}

// TestAuditFailsClosed: a user whose entry cannot be stored is not created.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	down := errors.New("audit down")
	f.Audit.Before(func(context.Context, audit.Event) error { return down })
	if _, _, err := s.Create(ctx, owner, user.CreateInput{Email: "x@example.com", Role: "viewer", Password: password}); !errors.Is(err, down) {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.SetRole(ctx, owner, f.As(f.TenantA, authz.Viewer).UserID, "admin"); !errors.Is(err, down) {
		t.Fatalf("set role: %v", err)
	}
	f.Audit.Before(nil)
	if _, err := f.Store.GetUserByEmail(ctx, f.TenantA, "x@example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("created without its entry: %v", err)
	}
	if u, _ := f.Store.GetUser(ctx, f.TenantA, f.As(f.TenantA, authz.Viewer).UserID); u.Role != "viewer" {
		t.Fatalf("re-roled without its entry: %+v", u)
	}
}
