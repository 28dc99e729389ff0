package e2e_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
	"github.com/komand-ai/komand/internal/user"
)

// invited is the data of a 201 answer to an invitation.
type invited struct {
	ID              string    `json:"id"`
	Email           string    `json:"email"`
	Role            string    `json:"role"`
	Active          bool      `json:"active"`
	Invited         bool      `json:"invited"`
	InviteToken     string    `json:"inviteToken"`
	InviteExpiresAt time.Time `json:"inviteExpiresAt"`
}

// invite has ownerKey invite email with role and returns the answer.
func invite(t *testing.T, env *apptest.Env, ownerKey, email, role string) invited {
	t.Helper()
	r := env.Do("POST", "/api/users/", ownerKey, map[string]any{"email": email, "name": "Invited Person", "role": role})
	if r.Status != 201 {
		t.Fatalf("invite %s: %d %s", email, r.Status, r.Body)
	}
	var d invited
	if err := json.Unmarshal(r.Data, &d); err != nil {
		t.Fatalf("invite data: %v", err)
	}
	return d
}

func accept(env *apptest.Env, token, password string) *apptest.Response {
	return env.Do("POST", "/api/auth/accept-invite", "", map[string]string{"token": token, "password": password})
}

// expectBadInvite asserts the one answer every unusable invitation gets.
func expectBadInvite(t *testing.T, r *apptest.Response) {
	t.Helper()
	expectError(t, r, 401, "unauthorized")
	if *r.Error != "invalid or expired invitation" {
		t.Fatalf("error message %q", *r.Error)
	}
	if strings.Contains(string(r.Body), "kmi_") {
		t.Fatalf("error echoes the token: %s", r.Body)
	}
}

const inviteePassword = "a brand new passphrase"

func login(env *apptest.Env, email, password string) *apptest.Response {
	return env.Do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": password})
}

// TestInviteFlow walks an invitation from the Owner's request to the
// invitee's first login.
func TestInviteFlow(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		owner := w.keys["a/owner"]
		email := "invitee-a@example.com"

		before := time.Now()
		d := invite(t, w.env, owner, email, "operator")
		after := time.Now()
		if !authn.IsInviteToken(d.InviteToken) || !strings.HasPrefix(d.InviteToken, "kmi_") {
			t.Fatalf("inviteToken %q is not a kmi_ token", d.InviteToken)
		}
		if !d.Invited || !d.Active || d.Role != "operator" || d.Email != email {
			t.Fatalf("invited user: %+v", d)
		}
		if d.InviteExpiresAt.Before(before.Add(user.InviteTTL).Add(-time.Second)) || d.InviteExpiresAt.After(after.Add(user.InviteTTL)) {
			t.Fatalf("inviteExpiresAt %v is not 7 days from now", d.InviteExpiresAt)
		}
		// An empty password invites too.
		r := w.env.Do("POST", "/api/users/", owner, map[string]any{"email": "invitee2-a@example.com", "role": "viewer", "password": ""})
		if r.Status != 201 || !strings.Contains(string(r.Data), `"inviteToken":"kmi_`) || !strings.Contains(string(r.Data), `"invited":true`) {
			t.Fatalf("invite with empty password: %d %s", r.Status, r.Body)
		}
		// A user created with a password is not invited.
		r = w.env.Do("POST", "/api/users/", owner, map[string]any{"email": "direct-a@example.com", "role": "viewer", "password": apptest.Password})
		if r.Status != 201 || !strings.Contains(string(r.Data), `"invited":false`) || strings.Contains(string(r.Data), "inviteToken") {
			t.Fatalf("create with password: %d %s", r.Status, r.Body)
		}

		// The token is shown once: reads say invited, never the token.
		r = w.env.Do("GET", "/api/users/"+d.ID, w.keys["a/admin"], nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"invited":true`) || strings.Contains(string(r.Body), "inviteToken") {
			t.Fatalf("get invited user: %d %s", r.Status, r.Body)
		}
		r = w.env.Do("GET", "/api/users/?pageSize=100", owner, nil)
		if r.Status != 200 || strings.Contains(string(r.Body), "kmi_") {
			t.Fatalf("list users: %d %s", r.Status, r.Body)
		}
		// Only the hash is stored, and there is no password.
		su, err := w.env.App.Store.GetUser(t.Context(), w.tenA, d.ID)
		if err != nil || su.PasswordHash != "" || su.InviteHash != authn.HashToken(d.InviteToken) || su.InviteExpiresAt == nil {
			t.Fatalf("stored invited user: %+v %v", su, err)
		}

		// The invitee cannot log in yet, with any password.
		for _, pw := range []string{apptest.Password, inviteePassword} {
			expectError(t, login(w.env, email, pw), 401, "unauthorized")
		}

		// Unusable tokens all get the same 401, whatever the password.
		for _, tok := range []string{"kmi_nope", "not-a-token", w.keys["a/owner"], authn.NewInviteToken(),
			strings.ToUpper(d.InviteToken[:4]) + d.InviteToken[4:], d.InviteToken + "A", " " + d.InviteToken} {
			expectBadInvite(t, accept(w.env, tok, inviteePassword))
			expectBadInvite(t, accept(w.env, tok, "short"))
		}
		// A weak password is refused by the password policy and does not
		// spend the invitation.
		r = accept(w.env, d.InviteToken, "short")
		expectError(t, r, 400, "validation_failed")
		if !strings.Contains(*r.Error, "password") {
			t.Fatalf("weak password error %q does not name the field", *r.Error)
		}
		// Missing fields are validation errors.
		expectError(t, w.env.Do("POST", "/api/auth/accept-invite", "", map[string]string{"password": inviteePassword}), 400, "validation_failed")
		expectError(t, w.env.Do("POST", "/api/auth/accept-invite", "", map[string]string{"token": d.InviteToken}), 400, "validation_failed")

		r = accept(w.env, d.InviteToken, inviteePassword)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"invited":false`) || !strings.Contains(string(r.Data), `"id":"`+d.ID+`"`) {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), "argon2") || strings.Contains(string(r.Body), "kmi_") {
			t.Fatalf("accept answer leaks: %s", r.Body)
		}

		// Now the invitee logs in as usual, with the role it was given.
		access, _ := loginAs(t, w.env, email, inviteePassword)
		if r := w.env.Do("GET", "/api/auth/me", access, nil); r.Status != 200 || !strings.Contains(string(r.Data), `"role":"operator"`) {
			t.Fatalf("me: %d %s", r.Status, r.Body)
		}
		expectError(t, login(w.env, email, apptest.Password), 401, "unauthorized")

		// The token is spent.
		expectBadInvite(t, accept(w.env, d.InviteToken, "yet another passphrase"))
		if _, err := loginAs(t, w.env, email, inviteePassword); err != nil {
			t.Fatal(err)
		}

		// Audit: who invited whom, who accepted; never the token.
		entries := allAudit(t, w, w.tenA)
		var invitedEntry, acceptedEntry *store.AuditEntry
		for i, e := range entries {
			if strings.Contains(string(e.Details), "kmi_") || strings.Contains(string(e.Details), d.InviteToken[4:]) ||
				strings.Contains(string(e.Details), su.InviteHash) {
				t.Fatalf("audit entry %s holds the invitation: %s", e.Action, e.Details)
			}
			var det map[string]any
			_ = json.Unmarshal(e.Details, &det)
			if det["userId"] != d.ID {
				continue
			}
			switch e.Action {
			case "UserInvited":
				invitedEntry = &entries[i]
			case "UserInviteAccepted":
				acceptedEntry = &entries[i]
			case "UserCreated":
				t.Fatalf("an invitation was recorded as UserCreated: %s", e.Details)
			}
		}
		if invitedEntry == nil || invitedEntry.ActorID != w.ids["a/owner"] ||
			!strings.Contains(string(invitedEntry.Details), `"email":"`+email+`"`) ||
			!strings.Contains(string(invitedEntry.Details), `"role":"operator"`) {
			t.Fatalf("UserInvited entry: %+v", invitedEntry)
		}
		if acceptedEntry == nil || acceptedEntry.ActorID != d.ID || acceptedEntry.TenantID != w.tenA {
			t.Fatalf("UserInviteAccepted entry: %+v", acceptedEntry)
		}
		if n := auditCount(t, w, w.tenA, "UserInviteAccepted"); n != 1 {
			t.Fatalf("UserInviteAccepted entries: %d, want 1", n)
		}
		if n := auditCount(t, w, w.tenB, "UserInvited") + auditCount(t, w, w.tenB, "UserInviteAccepted"); n != 0 {
			t.Fatalf("tenant B has %d invitation entries", n)
		}
		if strings.Contains(w.env.Logs(), d.InviteToken) {
			t.Fatal("the logs hold the invitation token")
		}
	})
}

func loginAs(t *testing.T, env *apptest.Env, email, password string) (string, error) {
	t.Helper()
	r := login(env, email, password)
	if r.Status != 200 {
		t.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	var d struct {
		Token string `json:"token"`
	}
	return d.Token, json.Unmarshal(r.Data, &d)
}

// allAudit returns every audit entry of a tenant.
func allAudit(t *testing.T, w *world, tenantID string) []store.AuditEntry {
	t.Helper()
	var out []store.AuditEntry
	for page := 1; ; page++ {
		es, total, err := w.env.App.Store.ListAudit(t.Context(), tenantID, store.AuditFilter{}, store.Page{Page: page, PageSize: 100})
		if err != nil {
			t.Fatalf("list audit: %v", err)
		}
		out = append(out, es...)
		if len(es) == 0 || len(out) >= total {
			return out
		}
	}
}

// TestInviteRules covers who may invite and what a request may not set.
func TestInviteRules(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		// Only an Owner invites; every denial is audited.
		for _, role := range []string{"admin", "operator", "viewer"} {
			t.Run(role, func(t *testing.T) {
				email := "by-" + role + "@example.com"
				before := auditCount(t, w, w.tenA, "PermissionDenied")
				r := w.env.Do("POST", "/api/users/", w.keys["a/"+role], map[string]any{"email": email, "role": "viewer"})
				expectError(t, r, 403, "forbidden")
				if strings.Contains(string(r.Body), "kmi_") {
					t.Fatalf("denial carries a token: %s", r.Body)
				}
				if after := auditCount(t, w, w.tenA, "PermissionDenied"); after != before+1 {
					t.Fatalf("PermissionDenied entries: got %d, want %d", after, before+1)
				}
				if _, err := w.env.App.Store.TenantIDByEmail(t.Context(), email); !errors.Is(err, store.ErrNotFound) {
					t.Fatalf("user created by a denied invitation: %v", err)
				}
			})
		}
		if n := auditCount(t, w, w.tenA, "UserInvited"); n != 0 {
			t.Fatalf("UserInvited entries after denials: %d", n)
		}

		// The invitation state is the server's: a body cannot set it.
		for _, field := range []string{"invited", "inviteToken", "inviteExpiresAt", "active", "inviteHash"} {
			t.Run("body-sets-"+field, func(t *testing.T) {
				var v any = true
				switch field {
				case "inviteToken":
					v = authn.NewInviteToken()
				case "inviteExpiresAt":
					v = "2099-01-01T00:00:00Z"
				case "inviteHash":
					v = "00"
				}
				r := w.env.Do("POST", "/api/users/", w.keys["a/owner"], map[string]any{"email": "smuggle@example.com", "role": "viewer", field: v})
				expectError(t, r, 400, "validation_failed")
				if !strings.Contains(*r.Error, field) {
					t.Fatalf("error %q does not name %s", *r.Error, field)
				}
			})
		}
		// Nor can the acceptance carry anything but the token and password.
		d := invite(t, w.env, w.keys["a/owner"], "strict-a@example.com", "viewer")
		for _, extra := range []map[string]any{{"role": "owner"}, {"email": "other@example.com"}, {"active": true}} {
			body := map[string]any{"token": d.InviteToken, "password": inviteePassword}
			for k, v := range extra {
				body[k] = v
			}
			expectError(t, w.env.Do("POST", "/api/auth/accept-invite", "", body), 400, "validation_failed")
		}
		// An invalid role is refused before any invitation exists.
		r := w.env.Do("POST", "/api/users/", w.keys["a/owner"], map[string]any{"email": "bad-role@example.com", "role": "superuser"})
		expectError(t, r, 400, "validation_failed")
		// A taken email is a conflict, invitation or not.
		r = w.env.Do("POST", "/api/users/", w.keys["a/owner"], map[string]any{"email": "strict-a@example.com", "role": "viewer"})
		expectError(t, r, 409, "conflict")
		r = w.env.Do("POST", "/api/users/", w.keys["b/owner"], map[string]any{"email": "viewer-a@example.com", "role": "viewer"})
		expectError(t, r, 409, "conflict")
		// The invitation still works after all that, with the role it was given.
		r = accept(w.env, d.InviteToken, inviteePassword)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"role":"viewer"`) {
			t.Fatalf("accept: %d %s", r.Status, r.Body)
		}
	})
}

// TestInviteOfDeactivatedUser checks that deactivation ends an invitation.
func TestInviteOfDeactivatedUser(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		d := invite(t, w.env, w.keys["a/owner"], "leaver-a@example.com", "viewer")
		if r := w.env.Do("DELETE", "/api/users/"+d.ID, w.keys["a/owner"], nil); r.Status != 200 {
			t.Fatalf("deactivate: %d %s", r.Status, r.Body)
		}
		expectBadInvite(t, accept(w.env, d.InviteToken, inviteePassword))
		expectError(t, login(w.env, "leaver-a@example.com", inviteePassword), 401, "unauthorized")
		if n := auditCount(t, w, w.tenA, "UserInviteAccepted"); n != 0 {
			t.Fatalf("UserInviteAccepted entries: %d, want 0", n)
		}
	})
}

// clock is a settable clock for the whole app.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestInviteExpires runs the app on a settable clock: an invitation works
// until InviteTTL has passed, and not after.
func TestInviteExpires(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		clk := &clock{t: time.Now()}
		env := apptest.NewWith(t, kind, nil, app.Options{Now: clk.Now})
		ten := env.Tenant("acme")
		owner := env.APIKey(ten, env.User(ten, "owner@example.com", "owner"))

		late := invite(t, env, owner, "late@example.com", "viewer")
		onTime := invite(t, env, owner, "on-time@example.com", "viewer")
		if want := clk.Now().Add(user.InviteTTL); !late.InviteExpiresAt.Equal(want.UTC().Truncate(time.Microsecond)) {
			t.Fatalf("inviteExpiresAt %v, want %v", late.InviteExpiresAt, want)
		}

		clk.Advance(user.InviteTTL - time.Minute)
		if r := accept(env, onTime.InviteToken, inviteePassword); r.Status != 200 {
			t.Fatalf("accept just before expiry: %d %s", r.Status, r.Body)
		}
		clk.Advance(time.Minute)
		expectBadInvite(t, accept(env, late.InviteToken, inviteePassword))
		clk.Advance(time.Hour)
		expectBadInvite(t, accept(env, late.InviteToken, inviteePassword))
		expectError(t, login(env, "late@example.com", inviteePassword), 401, "unauthorized")
		if r := login(env, "on-time@example.com", inviteePassword); r.Status != 200 {
			t.Fatalf("login after accepting: %d %s", r.Status, r.Body)
		}
		// An expired invitation is still shown as pending.
		r := env.Do("GET", "/api/users/"+late.ID, owner, nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"invited":true`) {
			t.Fatalf("expired invitee: %d %s", r.Status, r.Body)
		}
	})
}

// TestInviteFailsClosed: an invitation whose audit entry cannot be stored
// is not created, and no token is handed out.
func TestInviteFailsClosed(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	ten := env.Tenant("acme")
	owner := env.APIKey(ten, env.User(ten, "owner@example.com", "owner"))
	db := env.App.Store.(*sqlite.Store).DB()
	if _, err := db.Exec(`ALTER TABLE komand_audit_log RENAME TO komand_audit_log_gone`); err != nil {
		t.Fatal(err)
	}
	r := env.Do("POST", "/api/users/", owner, map[string]any{"email": "ghost@example.com", "role": "viewer"})
	expectError(t, r, 500, "internal_error")
	if strings.Contains(string(r.Body), "kmi_") {
		t.Fatalf("failed invitation hands out a token: %s", r.Body)
	}
	if _, err := env.App.Store.TenantIDByEmail(t.Context(), "ghost@example.com"); err == nil {
		t.Fatal("invited user exists although its audit entry failed")
	}
	if _, err := db.Exec(`ALTER TABLE komand_audit_log_gone RENAME TO komand_audit_log`); err != nil {
		t.Fatal(err)
	}
}
