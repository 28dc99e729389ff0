package storetest

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

var tenantTests = []test{
	{"CreateAndGet", testTenantCreateAndGet},
	{"NotFound", testTenantNotFound},
	{"Conflicts", testTenantConflicts},
	{"List", testTenantList},
	{"Platform", testTenantPlatform},
}

func testTenantCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	// A non-UTC time with nanoseconds comes back as UTC microseconds.
	in := store.Tenant{ID: newID(), Slug: "acme", Name: "Acme Corp", CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 123456789, east)}
	isErr(t, "CreateTenant", s.CreateTenant(ctx, in), nil)
	want := in
	want.CreatedAt = norm(in.CreatedAt)

	got, err := s.GetTenant(ctx, in.ID)
	isErr(t, "GetTenant", err, nil)
	equal(t, "GetTenant", got, want)

	got, err = s.GetTenantBySlug(ctx, "acme")
	isErr(t, "GetTenantBySlug", err, nil)
	equal(t, "GetTenantBySlug", got, want)
}

func testTenantNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	mkTenant(t, s, "acme")
	_, err := s.GetTenant(ctx, newID())
	isErr(t, "GetTenant unknown", err, store.ErrNotFound)
	_, err = s.GetTenantBySlug(ctx, "globex")
	isErr(t, "GetTenantBySlug unknown", err, store.ErrNotFound)
	_, err = s.GetTenantBySlug(ctx, "ACME")
	isErr(t, "GetTenantBySlug other case", err, store.ErrNotFound)
}

func testTenantConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	orig := mkTenant(t, s, "acme")
	tests := []struct {
		name string
		in   store.Tenant
	}{
		{"SameSlug", store.Tenant{ID: newID(), Slug: "acme", Name: "Other", CreatedAt: t0}},
		{"SameID", store.Tenant{ID: orig.ID, Slug: "other", Name: "Other", CreatedAt: t0}},
		{"PlatformSlug", store.Tenant{ID: newID(), Slug: "_platform", Name: "Other", CreatedAt: t0}},
		{"PlatformID", store.Tenant{ID: store.PlatformTenantID, Slug: "other", Name: "Other", CreatedAt: t0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			isErr(t, "CreateTenant", s.CreateTenant(ctx, tc.in), store.ErrConflict)
		})
	}
	got, err := s.GetTenant(ctx, orig.ID)
	isErr(t, "GetTenant", err, nil)
	equal(t, "tenant after conflicts", got, orig)
	_, err = s.GetTenantBySlug(ctx, "other")
	isErr(t, "GetTenantBySlug other", err, store.ErrNotFound)
}

func testTenantList(t *testing.T, s store.Store) {
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	got, err := s.ListTenants(t.Context())
	isErr(t, "ListTenants", err, nil)
	for _, want := range []store.Tenant{a, b} {
		if !slices.ContainsFunc(got, func(g store.Tenant) bool { return g == want }) {
			t.Errorf("ListTenants: got %+v, want it to contain %+v", got, want)
		}
	}
}

func testTenantPlatform(t *testing.T, s store.Store) {
	ctx := t.Context()
	p, err := s.GetTenant(ctx, store.PlatformTenantID)
	isErr(t, "GetTenant platform", err, nil)
	if p.Slug != "_platform" || p.Name != "Platform" {
		t.Errorf("platform tenant: got slug %q name %q, want %q %q", p.Slug, p.Name, "_platform", "Platform")
	}
	p2, err := s.GetTenantBySlug(ctx, "_platform")
	isErr(t, "GetTenantBySlug platform", err, nil)
	if p2.ID != store.PlatformTenantID {
		t.Errorf("GetTenantBySlug(_platform).ID: got %q, want %q", p2.ID, store.PlatformTenantID)
	}
}

var userTests = []test{
	{"CreateAndGet", testUserCreateAndGet},
	{"EmailCaseInsensitive", testUserEmailCase},
	{"Conflicts", testUserConflicts},
	{"ListPagination", testUserList},
	{"SetRole", testUserSetRole},
	{"LastOwner", testUserLastOwner},
	{"TwoOwners", testUserTwoOwners},
	{"DeactivatedOwnerDoesNotCount", testUserDeactivatedOwner},
	{"DeactivateRevokesCredentials", testUserDeactivateRevokes},
	{"Reactivate", testUserReactivate},
	{"NotFound", testUserNotFound},
	{"InviteRoundTrip", testUserInviteRoundTrip},
	{"InviteConflicts", testUserInviteConflicts},
	{"AcceptInviteOnce", testUserAcceptInviteOnce},
	{"AcceptInviteExpired", testUserAcceptInviteExpired},
	{"AcceptInviteInactive", testUserAcceptInviteInactive},
}

// mkInvited creates an active user with no password and an invitation that
// expires at exp.
func mkInvited(t *testing.T, s store.Store, tenantID, email, role string, exp time.Time) store.User {
	t.Helper()
	u := store.User{
		ID: newID(), TenantID: tenantID, Email: email, Name: "Invitee " + email, Role: role,
		Active: true, InviteHash: newHash(), InviteExpiresAt: &exp, CreatedAt: t0, UpdatedAt: t0,
	}
	isErr(t, "CreateUser (invited) "+email, s.CreateUser(t.Context(), u), nil)
	return u
}

func testUserCreateAndGet(t *testing.T, s store.Store) {
	ctx := t.Context()
	tn := mkTenant(t, s, "acme")
	in := store.User{
		ID: newID(), TenantID: tn.ID, Email: "Ada@Example.com", Name: "Ada Lovelace", Role: "admin",
		PasswordHash: "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA", Active: true,
		CreatedAt: time.Date(2025, 1, 2, 3, 4, 5, 999999999, east), UpdatedAt: t0.Add(time.Nanosecond),
	}
	isErr(t, "CreateUser", s.CreateUser(ctx, in), nil)
	want := in
	want.CreatedAt, want.UpdatedAt = norm(in.CreatedAt), norm(in.UpdatedAt)

	got, err := s.GetUser(ctx, tn.ID, in.ID)
	isErr(t, "GetUser", err, nil)
	equal(t, "GetUser", got, want)

	got, err = s.GetUserByEmail(ctx, tn.ID, "Ada@Example.com")
	isErr(t, "GetUserByEmail", err, nil)
	equal(t, "GetUserByEmail", got, want)

	inactive := store.User{ID: newID(), TenantID: tn.ID, Email: "bob@example.com", Name: "Bob",
		Role: "member", PasswordHash: "", Active: false, CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "CreateUser inactive", s.CreateUser(ctx, inactive), nil)
	got, err = s.GetUser(ctx, tn.ID, inactive.ID)
	isErr(t, "GetUser inactive", err, nil)
	equal(t, "GetUser inactive", got, inactive)
}

func testUserEmailCase(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	u := mkUser(t, s, a.ID, "Ada@Example.com", "owner")
	for _, email := range []string{"Ada@Example.com", "ada@example.com", "ADA@EXAMPLE.COM"} {
		t.Run(email, func(t *testing.T) {
			id, err := s.TenantIDByEmail(ctx, email)
			isErr(t, "TenantIDByEmail", err, nil)
			if id != a.ID {
				t.Errorf("TenantIDByEmail: got %q, want %q", id, a.ID)
			}
			got, err := s.GetUserByEmail(ctx, a.ID, email)
			isErr(t, "GetUserByEmail", err, nil)
			equal(t, "GetUserByEmail", got, u)
		})
	}
	_, err := s.TenantIDByEmail(ctx, "nobody@example.com")
	isErr(t, "TenantIDByEmail unknown", err, store.ErrNotFound)
	_, err = s.GetUserByEmail(ctx, a.ID, "nobody@example.com")
	isErr(t, "GetUserByEmail unknown", err, store.ErrNotFound)
}

func testUserConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	orig := mkUser(t, s, a.ID, "ada@example.com", "owner")
	tests := []struct {
		name, tenantID, id, email string
	}{
		{"SameEmailSameTenant", a.ID, newID(), "ada@example.com"},
		{"OtherCaseSameTenant", a.ID, newID(), "ADA@example.com"},
		{"SameEmailOtherTenant", b.ID, newID(), "ada@example.com"},
		{"OtherCaseOtherTenant", b.ID, newID(), "Ada@Example.COM"},
		{"SameID", a.ID, orig.ID, "other@example.com"},
		{"SameIDOtherTenant", b.ID, orig.ID, "other@example.com"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			u := store.User{ID: tc.id, TenantID: tc.tenantID, Email: tc.email, Name: "Impostor",
				Role: "owner", PasswordHash: "x", Active: true, CreatedAt: t0, UpdatedAt: t0}
			isErr(t, "CreateUser", s.CreateUser(ctx, u), store.ErrConflict)
		})
	}
	got, err := s.GetUser(ctx, a.ID, orig.ID)
	isErr(t, "GetUser", err, nil)
	equal(t, "user after conflicts", got, orig)
	id, err := s.TenantIDByEmail(ctx, "ada@example.com")
	isErr(t, "TenantIDByEmail", err, nil)
	if id != a.ID {
		t.Errorf("TenantIDByEmail after conflicts: got %q, want %q", id, a.ID)
	}
	_, total, err := s.ListUsers(ctx, b.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListUsers b", err, nil)
	if total != 0 {
		t.Errorf("ListUsers b total: got %d, want 0", total)
	}
}

func testUserList(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	byEmail := map[string]store.User{}
	for _, i := range []int{3, 0, 4, 1, 2} { // created out of order
		email := fmt.Sprintf("user%02d@example.com", i)
		byEmail[email] = mkUser(t, s, a.ID, email, "member")
	}
	mkUser(t, s, b.ID, "user99@example.com", "owner")
	all := func(i ...int) []store.User {
		out := []store.User{}
		for _, n := range i {
			out = append(out, byEmail[fmt.Sprintf("user%02d@example.com", n)])
		}
		return out
	}
	tests := []struct {
		name string
		page store.Page
		want []store.User
	}{
		{"Page1", store.Page{Page: 1, PageSize: 2}, all(0, 1)},
		{"Page2", store.Page{Page: 2, PageSize: 2}, all(2, 3)},
		{"Page3", store.Page{Page: 3, PageSize: 2}, all(4)},
		{"PastTheEnd", store.Page{Page: 4, PageSize: 2}, all()},
		{"OnePage", store.Page{Page: 1, PageSize: 10}, all(0, 1, 2, 3, 4)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListUsers(ctx, a.ID, tc.page)
			isErr(t, "ListUsers", err, nil)
			if total != 5 {
				t.Errorf("total: got %d, want 5", total)
			}
			if len(got) != len(tc.want) {
				t.Fatalf("ListUsers: got %d users %v, want %d", len(got), emails(got), len(tc.want))
			}
			equal(t, "ListUsers", got, tc.want)
		})
	}
}

func emails(us []store.User) []string {
	out := make([]string, len(us))
	for i, u := range us {
		out[i] = u.Email
	}
	return out
}

func testUserSetRole(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	m := mkUser(t, s, a.ID, "member@example.com", "member")
	now := t0.Add(time.Hour)

	got, err := s.SetUserRole(ctx, a.ID, m.ID, "admin", now)
	isErr(t, "SetUserRole", err, nil)
	want := m
	want.Role, want.UpdatedAt = "admin", now
	equal(t, "SetUserRole result", got, want)
	stored, err := s.GetUser(ctx, a.ID, m.ID)
	isErr(t, "GetUser", err, nil)
	equal(t, "stored after SetUserRole", stored, want)

	// Promoting to owner, and back, is fine while another owner exists.
	_, err = s.SetUserRole(ctx, a.ID, m.ID, "owner", now)
	isErr(t, "SetUserRole owner", err, nil)
	_, err = s.SetUserRole(ctx, a.ID, m.ID, "member", now)
	isErr(t, "SetUserRole member", err, nil)
}

// checkUnchanged fails unless the stored user still equals want.
func checkUnchanged(t *testing.T, s store.Store, want store.User) {
	t.Helper()
	got, err := s.GetUser(t.Context(), want.TenantID, want.ID)
	isErr(t, "GetUser", err, nil)
	equal(t, "user must be unchanged", got, want)
}

func testUserLastOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	o := mkUser(t, s, a.ID, "owner@example.com", "owner")
	mkUser(t, s, a.ID, "admin@example.com", "admin")
	now := t0.Add(time.Hour)

	for _, role := range []string{"admin", "member", ""} {
		_, err := s.SetUserRole(ctx, a.ID, o.ID, role, now)
		isErr(t, fmt.Sprintf("SetUserRole(last owner, %q)", role), err, store.ErrLastOwner)
	}
	checkUnchanged(t, s, o)
	_, err := s.DeactivateUser(ctx, a.ID, o.ID, now)
	isErr(t, "DeactivateUser(last owner)", err, store.ErrLastOwner)
	checkUnchanged(t, s, o)

	// Setting the last owner's role to owner again changes nothing it guards.
	_, err = s.SetUserRole(ctx, a.ID, o.ID, "owner", now)
	isErr(t, "SetUserRole(last owner, owner)", err, nil)
}

func testUserTwoOwners(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	o1 := mkUser(t, s, a.ID, "owner1@example.com", "owner")
	o2 := mkUser(t, s, a.ID, "owner2@example.com", "owner")
	// An owner of another tenant never counts.
	b := mkTenant(t, s, "globex")
	mkUser(t, s, b.ID, "owner@globex.example", "owner")
	now := t0.Add(time.Hour)

	got, err := s.SetUserRole(ctx, a.ID, o1.ID, "admin", now)
	isErr(t, "SetUserRole(first of two owners)", err, nil)
	if got.Role != "admin" {
		t.Errorf("role after demotion: got %q, want admin", got.Role)
	}
	_, err = s.SetUserRole(ctx, a.ID, o2.ID, "admin", now)
	isErr(t, "SetUserRole(second owner)", err, store.ErrLastOwner)
	_, err = s.DeactivateUser(ctx, a.ID, o2.ID, now)
	isErr(t, "DeactivateUser(second owner)", err, store.ErrLastOwner)
	checkUnchanged(t, s, o2)
}

func testUserDeactivatedOwner(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	o1 := mkUser(t, s, a.ID, "owner1@example.com", "owner")
	o2 := mkUser(t, s, a.ID, "owner2@example.com", "owner")
	now := t0.Add(time.Hour)

	got, err := s.DeactivateUser(ctx, a.ID, o1.ID, now)
	isErr(t, "DeactivateUser(first of two owners)", err, nil)
	want := o1
	want.Active, want.UpdatedAt = false, now
	equal(t, "DeactivateUser result", got, want)
	checkUnchanged(t, s, want)

	// o1 is still an owner but inactive: o2 is the last active owner.
	_, err = s.SetUserRole(ctx, a.ID, o2.ID, "member", now)
	isErr(t, "SetUserRole(last active owner)", err, store.ErrLastOwner)
	_, err = s.DeactivateUser(ctx, a.ID, o2.ID, now)
	isErr(t, "DeactivateUser(last active owner)", err, store.ErrLastOwner)
	checkUnchanged(t, s, o2)

	// The inactive owner itself can be demoted: it guards nothing.
	_, err = s.SetUserRole(ctx, a.ID, o1.ID, "member", now)
	isErr(t, "SetUserRole(inactive owner)", err, nil)
}

func testUserDeactivateRevokes(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "owner@example.com", "owner")
	m := mkUser(t, s, a.ID, "member@example.com", "member")
	keys := []store.APIKey{mkAPIKey(t, s, m, "ci"), mkAPIKey(t, s, m, "laptop")}
	toks := []store.RefreshToken{mkRefresh(t, s, m), mkRefresh(t, s, m)}
	ownerKey := mkAPIKey(t, s, owner, "owner")
	ownerTok := mkRefresh(t, s, owner)
	now := t0.Add(time.Hour)

	got, err := s.DeactivateUser(ctx, a.ID, m.ID, now)
	isErr(t, "DeactivateUser", err, nil)
	if got.Active {
		t.Errorf("DeactivateUser: got Active true, want false")
	}
	later := now.Add(time.Minute)
	for _, k := range keys {
		_, _, err := s.AuthenticateAPIKey(ctx, a.ID, k.Hash)
		isErr(t, "AuthenticateAPIKey("+k.Name+") after deactivation", err, store.ErrNotFound)
	}
	for i, rt := range toks {
		_, err := s.UserForSession(ctx, a.ID, m.ID, rt.FamilyID, later)
		isErr(t, fmt.Sprintf("UserForSession(family %d) after deactivation", i), err, store.ErrNotFound)
		_, err = s.RotateRefreshToken(ctx, a.ID, rt.Hash, nextToken(rt, later), later)
		isErr(t, fmt.Sprintf("RotateRefreshToken(family %d) after deactivation", i), err, store.ErrNotFound)
	}
	// Another user's credentials are untouched.
	_, gotUser, err := s.AuthenticateAPIKey(ctx, a.ID, ownerKey.Hash)
	isErr(t, "AuthenticateAPIKey(owner)", err, nil)
	equal(t, "owner of owner key", gotUser, owner)
	_, err = s.UserForSession(ctx, a.ID, owner.ID, ownerTok.FamilyID, later)
	isErr(t, "UserForSession(owner)", err, nil)
}

// testUserReactivate: a deactivated user becomes active again, its revoked
// credentials stay revoked, an active user is unchanged, and another
// tenant's user is not found (and stays inactive).
func testUserReactivate(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	m := mkUser(t, s, a.ID, "member@example.com", "member")
	key := mkAPIKey(t, s, m, "ci")
	tok := mkRefresh(t, s, m)
	mkUser(t, s, b.ID, "owner@globex.example", "owner")
	bm := mkUser(t, s, b.ID, "member@globex.example", "member")
	off, on := t0.Add(time.Hour), t0.Add(2*time.Hour)

	_, err := s.DeactivateUser(ctx, a.ID, m.ID, off)
	isErr(t, "DeactivateUser", err, nil)
	_, err = s.DeactivateUser(ctx, b.ID, bm.ID, off)
	isErr(t, "DeactivateUser(other tenant)", err, nil)

	// Another tenant's ID cannot reach a's user, nor a's reach b's.
	_, err = s.ReactivateUser(ctx, b.ID, m.ID, on)
	isErr(t, "ReactivateUser(a's user through tenant b)", err, store.ErrNotFound)
	_, err = s.ReactivateUser(ctx, a.ID, bm.ID, on)
	isErr(t, "ReactivateUser(b's user through tenant a)", err, store.ErrNotFound)
	_, err = s.ReactivateUser(ctx, a.ID, newID(), on)
	isErr(t, "ReactivateUser(unknown)", err, store.ErrNotFound)
	if got, err := s.GetUser(ctx, b.ID, bm.ID); err != nil || got.Active {
		t.Fatalf("b's user after a cross-tenant reactivation: active %v, %v", got.Active, err)
	}

	got, err := s.ReactivateUser(ctx, a.ID, m.ID, on)
	isErr(t, "ReactivateUser", err, nil)
	want := m
	want.Active, want.UpdatedAt = true, on
	equal(t, "ReactivateUser result", got, want)
	checkUnchanged(t, s, want)

	// Credentials revoked by the deactivation stay revoked.
	_, _, err = s.AuthenticateAPIKey(ctx, a.ID, key.Hash)
	isErr(t, "AuthenticateAPIKey after reactivation", err, store.ErrNotFound)
	_, err = s.UserForSession(ctx, a.ID, m.ID, tok.FamilyID, on)
	isErr(t, "UserForSession after reactivation", err, store.ErrNotFound)

	// Reactivating an active user changes nothing, UpdatedAt included.
	got, err = s.ReactivateUser(ctx, a.ID, m.ID, on.Add(time.Hour))
	isErr(t, "ReactivateUser(active)", err, nil)
	equal(t, "ReactivateUser(active) result", got, want)
	checkUnchanged(t, s, want)
}

func testUserNotFound(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	unknown := newID()
	_, err := s.GetUser(ctx, a.ID, unknown)
	isErr(t, "GetUser", err, store.ErrNotFound)
	_, err = s.SetUserRole(ctx, a.ID, unknown, "admin", t0)
	isErr(t, "SetUserRole", err, store.ErrNotFound)
	_, err = s.DeactivateUser(ctx, a.ID, unknown, t0)
	isErr(t, "DeactivateUser", err, store.ErrNotFound)
	got, total, err := s.ListUsers(ctx, newID(), store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListUsers(unknown tenant)", err, nil)
	if len(got) != 0 || total != 0 {
		t.Errorf("ListUsers(unknown tenant): got %d users, total %d, want none", len(got), total)
	}
}

func testUserInviteRoundTrip(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	owner := mkUser(t, s, a.ID, "owner@example.com", "owner")
	// A non-UTC expiry with nanoseconds comes back as UTC microseconds.
	exp := time.Date(2025, 3, 21, 15, 9, 26, 999999999, east)
	in := store.User{
		ID: newID(), TenantID: a.ID, Email: "Invitee@Example.com", Name: "Invitee", Role: "viewer",
		Active: true, InviteHash: newHash(), InviteExpiresAt: &exp, CreatedAt: t0, UpdatedAt: t0,
	}
	isErr(t, "CreateUser", s.CreateUser(ctx, in), nil)
	want := in
	want.InviteExpiresAt = normPtr(in.InviteExpiresAt)

	got, err := s.GetUser(ctx, a.ID, in.ID)
	isErr(t, "GetUser", err, nil)
	equal(t, "GetUser", got, want)
	got, err = s.GetUserByEmail(ctx, a.ID, "invitee@example.com")
	isErr(t, "GetUserByEmail", err, nil)
	equal(t, "GetUserByEmail", got, want)
	list, _, err := s.ListUsers(ctx, a.ID, store.Page{Page: 1, PageSize: 10})
	isErr(t, "ListUsers", err, nil)
	equal(t, "ListUsers", list, []store.User{want, owner})

	id, err := s.TenantIDByInviteHash(ctx, in.InviteHash)
	isErr(t, "TenantIDByInviteHash", err, nil)
	if id != a.ID {
		t.Errorf("TenantIDByInviteHash: got %q, want %q", id, a.ID)
	}
	for _, h := range []string{newHash(), "", in.ID} {
		_, err = s.TenantIDByInviteHash(ctx, h)
		isErr(t, fmt.Sprintf("TenantIDByInviteHash(%q)", h), err, store.ErrNotFound)
		_, err = s.UserByInviteHash(ctx, a.ID, h)
		isErr(t, fmt.Sprintf("UserByInviteHash(%q)", h), err, store.ErrNotFound)
	}
	got, err = s.UserByInviteHash(ctx, a.ID, in.InviteHash)
	isErr(t, "UserByInviteHash", err, nil)
	equal(t, "UserByInviteHash", got, want)

	// Users without an invitation have none, and other changes keep it.
	checkUnchanged(t, s, owner)
	if owner.InviteHash != "" || owner.InviteExpiresAt != nil {
		t.Fatalf("mkUser made an invitation: %+v", owner)
	}
	got, err = s.SetUserRole(ctx, a.ID, in.ID, "admin", t0.Add(time.Hour))
	isErr(t, "SetUserRole", err, nil)
	want.Role, want.UpdatedAt = "admin", t0.Add(time.Hour)
	equal(t, "SetUserRole keeps the invitation", got, want)
}

func testUserInviteConflicts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	b := mkTenant(t, s, "globex")
	orig := mkInvited(t, s, a.ID, "invitee@example.com", "viewer", t0.Add(time.Hour))
	// An invitation hash is unique across the platform, like an email.
	for _, tenantID := range []string{a.ID, b.ID} {
		dup := store.User{ID: newID(), TenantID: tenantID, Email: "other-" + tenantID + "@example.com", Name: "x",
			Role: "viewer", Active: true, InviteHash: orig.InviteHash, InviteExpiresAt: orig.InviteExpiresAt,
			CreatedAt: t0, UpdatedAt: t0}
		isErr(t, "CreateUser with a taken invite hash", s.CreateUser(ctx, dup), store.ErrConflict)
	}
	checkUnchanged(t, s, orig)
	id, err := s.TenantIDByInviteHash(ctx, orig.InviteHash)
	isErr(t, "TenantIDByInviteHash", err, nil)
	if id != a.ID {
		t.Errorf("TenantIDByInviteHash after conflicts: got %q, want %q", id, a.ID)
	}
	// Any number of users have no invitation.
	mkUser(t, s, a.ID, "one@example.com", "viewer")
	mkUser(t, s, b.ID, "two@example.com", "viewer")
}

func testUserAcceptInviteOnce(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	exp := t0.Add(7 * 24 * time.Hour)
	u := mkInvited(t, s, a.ID, "invitee@example.com", "operator", exp)
	other := mkInvited(t, s, a.ID, "other@example.com", "viewer", exp)
	now := t0.Add(time.Hour)
	const pw = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA"

	_, err := s.AcceptInvite(ctx, a.ID, newHash(), pw, now)
	isErr(t, "AcceptInvite(unknown hash)", err, store.ErrNotFound)
	_, err = s.AcceptInvite(ctx, a.ID, "", pw, now)
	isErr(t, "AcceptInvite(empty hash)", err, store.ErrNotFound)

	got, err := s.AcceptInvite(ctx, a.ID, u.InviteHash, pw, now)
	isErr(t, "AcceptInvite", err, nil)
	want := u
	want.PasswordHash, want.InviteHash, want.InviteExpiresAt, want.UpdatedAt = pw, "", nil, now
	equal(t, "AcceptInvite result", got, want)
	checkUnchanged(t, s, want)
	checkUnchanged(t, s, other)

	// The invitation is spent: it neither finds a tenant nor works again.
	_, err = s.TenantIDByInviteHash(ctx, u.InviteHash)
	isErr(t, "TenantIDByInviteHash(spent)", err, store.ErrNotFound)
	_, err = s.AcceptInvite(ctx, a.ID, u.InviteHash, "$argon2id$v=19$m=65536,t=3,p=4$b3RoZXI$b3RoZXI", now.Add(time.Minute))
	isErr(t, "AcceptInvite(second time)", err, store.ErrNotFound)
	checkUnchanged(t, s, want)
}

func testUserAcceptInviteExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	exp := t0.Add(time.Hour)
	u := mkInvited(t, s, a.ID, "invitee@example.com", "viewer", exp)
	stored := u
	stored.InviteExpiresAt = normPtr(u.InviteExpiresAt)

	// Expired at its expiry time exactly, and after it.
	for _, now := range []time.Time{exp, exp.Add(time.Microsecond), exp.Add(30 * 24 * time.Hour)} {
		_, err := s.AcceptInvite(ctx, a.ID, u.InviteHash, "$argon2id$x", now)
		isErr(t, "AcceptInvite(expired at "+now.Format(time.RFC3339Nano)+")", err, store.ErrNotFound)
		checkUnchanged(t, s, stored)
	}
	// The tenant is still found: the expiry is AcceptInvite's to decide.
	id, err := s.TenantIDByInviteHash(ctx, u.InviteHash)
	isErr(t, "TenantIDByInviteHash(expired)", err, nil)
	if id != a.ID {
		t.Errorf("TenantIDByInviteHash(expired): got %q, want %q", id, a.ID)
	}
	// A microsecond before the expiry it still works.
	_, err = s.AcceptInvite(ctx, a.ID, u.InviteHash, "$argon2id$x", exp.Add(-time.Microsecond))
	isErr(t, "AcceptInvite(just before expiry)", err, nil)
}

func testUserAcceptInviteInactive(t *testing.T, s store.Store) {
	ctx := t.Context()
	a := mkTenant(t, s, "acme")
	mkUser(t, s, a.ID, "owner@example.com", "owner")
	u := mkInvited(t, s, a.ID, "invitee@example.com", "viewer", t0.Add(7*24*time.Hour))
	now := t0.Add(time.Hour)
	gone, err := s.DeactivateUser(ctx, a.ID, u.ID, now)
	isErr(t, "DeactivateUser", err, nil)
	if gone.Active || gone.InviteHash != u.InviteHash {
		t.Fatalf("DeactivateUser: got %+v", gone)
	}
	_, err = s.AcceptInvite(ctx, a.ID, u.InviteHash, "$argon2id$x", now.Add(time.Minute))
	isErr(t, "AcceptInvite(inactive user)", err, store.ErrNotFound)
	checkUnchanged(t, s, gone)
}
