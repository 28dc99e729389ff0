package authn

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/store"
)

func TestLoginSuccess(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tests := []struct {
		name  string
		email string
	}{
		{"exact_case", "Owner@Acme.test"},
		{"lower_case", "owner@acme.test"},
		{"upper_case_and_spaces", "  OWNER@ACME.TEST \t"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.rec.reset()
			tok, u, err := f.svc.Login(ctx, tc.email, testPassword, "192.0.2.1")
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if u.ID != f.owner.ID || u.Role != "owner" {
				t.Fatalf("user = %+v, want %s", u, f.owner.ID)
			}
			if u.PasswordHash != "" {
				t.Fatal("Login returned the password hash")
			}
			if !IsRefreshToken(tok.RefreshToken) || tok.AccessToken == "" {
				t.Fatalf("bad tokens %+v", tok)
			}
			if want := f.clock.Now().Add(DefaultAccessTTL); !tok.ExpiresAt.Equal(want) {
				t.Fatalf("ExpiresAt = %v, want %v", tok.ExpiresAt, want)
			}
			p, err := f.svc.Authenticate(ctx, tok.AccessToken)
			if err != nil {
				t.Fatalf("Authenticate: %v", err)
			}
			if p.UserID != f.owner.ID || p.TenantID != f.tenant || p.Role != authz.Owner || p.SessionID == "" || p.APIKeyID != "" {
				t.Fatalf("principal = %+v", p)
			}
			evs := f.rec.byAction(audit.LoginSucceeded)
			if len(evs) != 1 {
				t.Fatalf("LoginSucceeded entries = %d, want 1", len(evs))
			}
			ev := evs[0]
			if ev.TenantID != f.tenant || ev.ActorID != f.owner.ID || ev.Details["ip"] != "192.0.2.1" || ev.Details["family"] != p.SessionID {
				t.Fatalf("LoginSucceeded = %+v", ev)
			}
		})
	}
}

// Unknown email, wrong password, inactive user and a broken stored hash all
// give the same public error; only the audit entry says which it was.
func TestLoginFailuresLookTheSame(t *testing.T) {
	f := newFixture(t)
	broken := f.addUser(t, "broken@acme.test", "viewer", true)
	exp := f.clock.Now().Add(time.Hour)
	invited := store.User{
		ID: uuid.NewString(), TenantID: f.tenant, Email: "invited@acme.test", Name: "Invited", Role: "viewer",
		Active: true, InviteHash: HashToken(NewInviteToken()), InviteExpiresAt: &exp,
		CreatedAt: f.clock.Now(), UpdatedAt: f.clock.Now(),
	}
	if err := f.st.CreateUser(t.Context(), invited); err != nil {
		t.Fatal(err)
	}
	if _, err := f.st.DB().ExecContext(t.Context(),
		`UPDATE komand_users SET password_hash = '$argon2id$v=19$m=4294967295,t=1,p=1$AAAAAAAAAAAAAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA' WHERE id = ?`,
		broken.ID); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		email      string
		password   string
		wantTenant string
		wantReason string
		wantUser   string
	}{
		{"unknown_email", "nobody@acme.test", testPassword, store.PlatformTenantID, "unknown email", ""},
		{"empty_email", "", testPassword, store.PlatformTenantID, "unknown email", ""},
		{"overlong_email", strings.Repeat("x", 400) + "@acme.test", testPassword, store.PlatformTenantID, "unknown email", ""},
		{"bad_password", f.op.Email, "wrong password!!", f.tenant, "bad password", f.op.ID},
		{"empty_password", f.op.Email, "", f.tenant, "bad password", f.op.ID},
		{"inactive_user", f.gone.Email, testPassword, f.tenant, "inactive user", f.gone.ID},
		{"hostile_stored_hash", broken.Email, testPassword, f.tenant, "unusable password hash", broken.ID},
		{"invitation_pending", invited.Email, testPassword, f.tenant, "invitation not accepted", invited.ID},
		{"invitation_pending_empty_password", invited.Email, "", f.tenant, "invitation not accepted", invited.ID},
		{"oversized_password", f.op.Email, strings.Repeat("p", MaxPasswordBytes+1), f.tenant, "password too long", f.op.ID},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.rec.reset()
			ip := fmt.Sprintf("198.51.100.%d", i)
			tok, u, err := f.svc.Login(t.Context(), tc.email, tc.password, ip)
			wantKind(t, err, apperr.Unauthenticated, "invalid email or password")
			if tok != (Tokens{}) || u.ID != "" {
				t.Fatalf("failed login returned tokens %+v / user %+v", tok, u)
			}
			if e, _ := apperr.As(err); strings.Contains(e.Error(), tc.wantReason) {
				t.Fatalf("error %q reveals the reason", e.Error())
			}
			evs := f.rec.byAction(audit.LoginFailed)
			if len(evs) != 1 {
				t.Fatalf("LoginFailed entries = %d, want 1", len(evs))
			}
			ev := evs[0]
			if ev.TenantID != tc.wantTenant || ev.Details["reason"] != tc.wantReason ||
				ev.Details["ip"] != ip || ev.Details["email"] != NormalizeEmail(tc.email) {
				t.Fatalf("LoginFailed = %+v", ev)
			}
			if got, _ := ev.Details["userId"].(string); got != tc.wantUser {
				t.Fatalf("userId = %q, want %q", got, tc.wantUser)
			}
			if ev.ActorID != "" {
				t.Fatalf("failed login attributed to actor %q", ev.ActorID)
			}
			if len(f.rec.byAction(audit.LoginSucceeded)) != 0 {
				t.Fatal("LoginSucceeded recorded for a failure")
			}
		})
	}
}

func TestRefreshRotation(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	first := f.login(t, f.op.Email)
	p1, err := f.svc.Authenticate(ctx, first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}

	f.clock.Advance(time.Minute)
	second, err := f.svc.Refresh(ctx, first.RefreshToken, "192.0.2.1")
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	if second.RefreshToken == first.RefreshToken || second.AccessToken == first.AccessToken {
		t.Fatal("Refresh returned the same tokens")
	}
	p2, err := f.svc.Authenticate(ctx, second.AccessToken)
	if err != nil {
		t.Fatalf("Authenticate(new access token): %v", err)
	}
	if p2.SessionID != p1.SessionID {
		t.Fatalf("refresh left the family: %s != %s", p2.SessionID, p1.SessionID)
	}
	if evs := f.rec.byAction(audit.TokenRefreshed); len(evs) != 1 || evs[0].ActorID != f.op.ID || evs[0].Details["family"] != p1.SessionID {
		t.Fatalf("TokenRefreshed = %+v", evs)
	}

	third, err := f.svc.Refresh(ctx, second.RefreshToken, "192.0.2.1")
	if err != nil {
		t.Fatalf("second Refresh: %v", err)
	}

	// The first token comes back: theft. The family is revoked.
	_, err = f.svc.Refresh(ctx, first.RefreshToken, "198.51.100.66")
	wantKind(t, err, apperr.Unauthenticated, "invalid refresh token")
	evs := f.rec.byAction(audit.RefreshTokenReused)
	if len(evs) != 1 || evs[0].TenantID != f.tenant || evs[0].Details["ip"] != "198.51.100.66" {
		t.Fatalf("RefreshTokenReused = %+v", evs)
	}

	t.Run("newest_refresh_token_fails", func(t *testing.T) {
		_, err := f.svc.Refresh(ctx, third.RefreshToken, "192.0.2.1")
		wantKind(t, err, apperr.Unauthenticated, "invalid refresh token")
	})
	for name, tok := range map[string]string{"first": first.AccessToken, "second": second.AccessToken, "third": third.AccessToken} {
		t.Run("access_token_"+name+"_fails", func(t *testing.T) {
			_, err := f.svc.Authenticate(ctx, tok)
			wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
		})
	}
	t.Run("other_sessions_unaffected", func(t *testing.T) {
		other := f.login(t, f.op.Email)
		if _, err := f.svc.Refresh(ctx, other.RefreshToken, "192.0.2.1"); err != nil {
			t.Fatalf("Refresh of another session: %v", err)
		}
	})
}

func TestRefreshRejects(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tok := f.login(t, f.op.Email)
	tests := []struct {
		name  string
		token string
		prep  func(t *testing.T)
	}{
		{"empty", "", nil},
		{"garbage", "hello", nil},
		{"api_key", NewAPIKey(), nil},
		{"access_token", tok.AccessToken, nil},
		{"wrong_prefix", "kmd_" + strings.TrimPrefix(tok.RefreshToken, "kmr_"), nil},
		{"truncated", tok.RefreshToken[:len(tok.RefreshToken)-1], nil},
		{"unknown", NewRefreshToken(), nil},
		{"expired", tok.RefreshToken, func(t *testing.T) { f.clock.Advance(DefaultRefreshTTL + time.Second) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.prep != nil {
				tc.prep(t)
			}
			out, err := f.svc.Refresh(ctx, tc.token, "192.0.2.1")
			wantKind(t, err, apperr.Unauthenticated, "invalid refresh token")
			if out != (Tokens{}) {
				t.Fatalf("tokens returned with an error: %+v", out)
			}
		})
	}
}

func TestRefreshDeactivatedUser(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tok := f.login(t, f.op.Email)
	if _, err := f.st.DeactivateUser(ctx, f.tenant, f.op.ID, f.clock.Now()); err != nil {
		t.Fatal(err)
	}
	_, err := f.svc.Refresh(ctx, tok.RefreshToken, "192.0.2.1")
	wantKind(t, err, apperr.Unauthenticated, "invalid refresh token")
	_, err = f.svc.Authenticate(ctx, tok.AccessToken)
	wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
}

func TestLogout(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tok := f.login(t, f.op.Email)
	keep := f.login(t, f.op.Email) // a second session of the same user
	p, err := f.svc.Authenticate(ctx, tok.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Logout(ctx, p); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if evs := f.rec.byAction(audit.Logout); len(evs) != 1 || evs[0].ActorID != f.op.ID || evs[0].Details["family"] != p.SessionID {
		t.Fatalf("Logout entries = %+v", evs)
	}
	_, err = f.svc.Authenticate(ctx, tok.AccessToken)
	wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
	_, err = f.svc.Refresh(ctx, tok.RefreshToken, "192.0.2.1")
	wantKind(t, err, apperr.Unauthenticated, "invalid refresh token")
	if _, err := f.svc.Authenticate(ctx, keep.AccessToken); err != nil {
		t.Fatalf("other session logged out too: %v", err)
	}

	t.Run("api_key_principal", func(t *testing.T) {
		key, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "ci", f.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		kp, err := f.svc.Authenticate(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		err = f.svc.Logout(ctx, kp)
		wantKind(t, err, apperr.Invalid, "API keys are revoked, not logged out")
		if _, err := f.svc.Authenticate(ctx, key); err != nil {
			t.Fatalf("key stopped working after refused logout: %v", err)
		}
	})
	t.Run("zero_principal", func(t *testing.T) {
		wantKind(t, f.svc.Logout(ctx, authz.Principal{}), apperr.Unauthenticated, "")
	})
}

// The role comes from the store on every request, not from the token.
func TestRoleChangeTakesEffect(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	tok := f.login(t, f.op.Email)
	key, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "bot", f.owner.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, role := range []authz.Role{authz.Viewer, authz.Admin} {
		if _, err := f.st.SetUserRole(ctx, f.tenant, f.op.ID, string(role), f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		for name, cred := range map[string]string{"jwt": tok.AccessToken, "api_key": key} {
			t.Run(string(role)+"_"+name, func(t *testing.T) {
				p, err := f.svc.Authenticate(ctx, cred)
				if err != nil {
					t.Fatal(err)
				}
				if p.Role != role {
					t.Fatalf("role = %s, want %s", p.Role, role)
				}
			})
		}
	}
	t.Run("unknown_role_rejected", func(t *testing.T) {
		if _, err := f.st.SetUserRole(ctx, f.tenant, f.op.ID, "superuser", f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(ctx, tok.AccessToken)
		wantKind(t, err, apperr.Unauthenticated, "")
	})
}

func TestAPIKeys(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	key, k, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "  deploy bot  ", f.owner.ID)
	if err != nil {
		t.Fatalf("CreateAPIKey: %v", err)
	}
	if !IsAPIKey(key) || k.Prefix != key[:12] || k.Hash != HashToken(key) || k.Name != "deploy bot" || k.UserID != f.op.ID {
		t.Fatalf("key %q / record %+v", key, k)
	}
	evs := f.rec.byAction(audit.APIKeyCreated)
	if len(evs) != 1 || evs[0].ActorID != f.owner.ID || evs[0].Details["prefix"] != k.Prefix || evs[0].Details["keyId"] != k.ID {
		t.Fatalf("APIKeyCreated = %+v", evs)
	}
	for dk, v := range evs[0].Details {
		if s, _ := v.(string); strings.Contains(s, key) || strings.Contains(s, k.Hash) {
			t.Fatalf("audit detail %q holds the key or its hash", dk)
		}
	}

	p, err := f.svc.Authenticate(ctx, key)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	if p.APIKeyID != k.ID || p.UserID != f.op.ID || p.TenantID != f.tenant || p.Role != authz.Operator || p.SessionID != "" {
		t.Fatalf("principal = %+v", p)
	}

	t.Run("bad_input", func(t *testing.T) {
		cases := []struct {
			name, tenant, user, keyName string
			kind                        apperr.Kind
		}{
			{"empty_name", f.tenant, f.op.ID, "  ", apperr.Invalid},
			{"long_name", f.tenant, f.op.ID, strings.Repeat("n", 101), apperr.Invalid},
			{"control_chars", f.tenant, f.op.ID, "a\nb", apperr.Invalid},
			{"unknown_user", f.tenant, "no-such-user", "x", apperr.NotFound},
			{"other_tenant", store.PlatformTenantID, f.op.ID, "x", apperr.NotFound},
			{"inactive_user", f.tenant, f.gone.ID, "x", apperr.Invalid},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				pt, _, err := f.svc.CreateAPIKey(ctx, c.tenant, c.user, c.keyName, f.owner.ID)
				wantKind(t, err, c.kind, "")
				if pt != "" {
					t.Fatal("plaintext returned with an error")
				}
			})
		}
	})

	t.Run("rejects", func(t *testing.T) {
		for name, cred := range map[string]string{
			"unknown":   NewAPIKey(),
			"truncated": key[:len(key)-1],
			"prefix":    "kmd_",
			"padded":    key + "=",
		} {
			t.Run(name, func(t *testing.T) {
				_, err := f.svc.Authenticate(ctx, cred)
				wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
			})
		}
	})

	t.Run("revoked", func(t *testing.T) {
		k2, rec, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "temp", f.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.st.RevokeAPIKey(ctx, f.tenant, rec.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Authenticate(ctx, k2)
		wantKind(t, err, apperr.Unauthenticated, "")
	})

	// The service itself checks the active flag, even if a store (or a
	// manual UPDATE) left the key unrevoked.
	t.Run("inactive_user_unrevoked_key", func(t *testing.T) {
		u := f.addUser(t, "robot@acme.test", "operator", true)
		k3, _, err := f.svc.CreateAPIKey(ctx, f.tenant, u.ID, "robot", f.owner.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.st.DB().ExecContext(ctx, `UPDATE komand_users SET active = 0 WHERE id = ?`, u.ID); err != nil {
			t.Fatal(err)
		}
		_, err = f.svc.Authenticate(ctx, k3)
		wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
	})

	t.Run("deactivated_user", func(t *testing.T) {
		if _, err := f.st.DeactivateUser(ctx, f.tenant, f.op.ID, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.Authenticate(ctx, key)
		wantKind(t, err, apperr.Unauthenticated, "invalid or expired credentials")
	})
}

// Audit writes fail closed: no entry, no credential.
func TestFailingRecorder(t *testing.T) {
	rec := &switchRecorder{}
	f := newFixture(t, func(o *Options) { o.Audit = rec })
	ctx := t.Context()

	t.Run("login", func(t *testing.T) {
		rec.setFailing(true)
		tok, u, err := f.svc.Login(ctx, f.op.Email, testPassword, "192.0.2.1")
		rec.setFailing(false)
		wantKind(t, err, apperr.Internal, "internal error")
		if tok != (Tokens{}) || u.ID != "" {
			t.Fatalf("tokens returned without an audit entry: %+v", tok)
		}
	})
	t.Run("failed_login", func(t *testing.T) {
		rec.setFailing(true)
		_, _, err := f.svc.Login(ctx, f.op.Email, "wrong password!!", "192.0.2.1")
		rec.setFailing(false)
		wantKind(t, err, apperr.Internal, "")
	})
	t.Run("refresh", func(t *testing.T) {
		tok := f.login(t, f.op.Email)
		rec.setFailing(true)
		out, err := f.svc.Refresh(ctx, tok.RefreshToken, "192.0.2.1")
		rec.setFailing(false)
		wantKind(t, err, apperr.Internal, "")
		if out != (Tokens{}) {
			t.Fatal("tokens returned without an audit entry")
		}
		// The session was ended, not left half-rotated.
		_, err = f.svc.Authenticate(ctx, tok.AccessToken)
		wantKind(t, err, apperr.Unauthenticated, "")
	})
	t.Run("create_api_key", func(t *testing.T) {
		rec.setFailing(true)
		key, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "x", f.owner.ID)
		rec.setFailing(false)
		wantKind(t, err, apperr.Internal, "")
		if key != "" {
			t.Fatal("key returned without an audit entry")
		}
		keys, err := f.st.ListAPIKeys(ctx, f.tenant, f.op.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.RevokedAt == nil {
				t.Fatalf("unaudited key %s left usable", k.ID)
			}
		}
	})
}

// The production Recorder (audit.Writer over the same SQLite store) gets
// the entries, in the right tenants, with a valid hash chain.
func TestAuditWriterIntegration(t *testing.T) {
	w := (*audit.Writer)(nil)
	f := newFixture(t, func(o *Options) {
		w = audit.NewWriter(o.Store, audit.Options{})
		o.Audit = w
	})
	t.Cleanup(func() { w.Close() })
	ctx := t.Context()
	if _, _, err := f.svc.Login(ctx, "nobody@acme.test", testPassword, "192.0.2.1"); err == nil {
		t.Fatal("unknown email logged in")
	}
	if _, _, err := f.svc.Login(ctx, f.op.Email, "wrong password!!", "192.0.2.1"); err == nil {
		t.Fatal("bad password logged in")
	}
	f.login(t, f.op.Email)

	count := func(tenant, action string) int {
		_, n, err := f.st.ListAudit(ctx, tenant, store.AuditFilter{Action: action}, store.Page{Page: 1, PageSize: 10})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, c := range []struct {
		name, tenant, action string
	}{
		{"platform_login_failed", store.PlatformTenantID, string(audit.LoginFailed)},
		{"tenant_login_failed", f.tenant, string(audit.LoginFailed)},
		{"tenant_login_succeeded", f.tenant, string(audit.LoginSucceeded)},
	} {
		t.Run(c.name, func(t *testing.T) {
			if n := count(c.tenant, c.action); n != 1 {
				t.Fatalf("%s entries in %s = %d, want 1", c.action, c.tenant, n)
			}
		})
	}
}

func TestConcurrentLogins(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			pw := testPassword
			if i%2 == 1 {
				pw = "wrong password!!"
			}
			tok, _, err := f.svc.Login(ctx, f.owner.Email, pw, fmt.Sprintf("192.0.2.%d", i))
			switch {
			case i%2 == 0 && err != nil:
				errs <- err
			case i%2 == 0:
				if _, err := f.svc.Authenticate(ctx, tok.AccessToken); err != nil {
					errs <- err
				}
			case err == nil:
				errs <- fmt.Errorf("wrong password accepted")
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// A throttle error fails closed.
type brokenThrottle struct{}

func (brokenThrottle) Take(context.Context, string, ratelimit.BackoffPolicy) (ratelimit.Attempt, error) {
	return ratelimit.Attempt{}, ratelimit.ErrInvalidArgument
}
func (brokenThrottle) Refund(context.Context, string, ratelimit.Attempt) error { return nil }
func (brokenThrottle) Reset(context.Context, string) error                     { return nil }

func TestLimiterErrorFailsClosed(t *testing.T) {
	f := newFixture(t, func(o *Options) { o.Throttle = brokenThrottle{} })
	tok, _, err := f.svc.Login(t.Context(), f.op.Email, testPassword, "192.0.2.1")
	wantKind(t, err, apperr.Internal, "")
	if tok != (Tokens{}) {
		t.Fatal("tokens returned")
	}
}

// TestAPIKeyNameHumanText: the issuer every path reaches (the API's
// user.APIKeys and the CLI's apikeys create) applies validate.Line to the
// name.
func TestAPIKeyNameHumanText(t *testing.T) {
	f := newFixture(t)
	ctx := t.Context()
	for _, name := range []string{"ad\u200dmin", "a\u2028b", "a\u2029b", "a\u3164b", "a\u115fb", "a\u200cb", "a\u0000b", "\u202eyek"} {
		_, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, name, "cli")
		if e := wantKind(t, err, apperr.Invalid, ""); !strings.HasPrefix(e.Message, "name: must") {
			t.Fatalf("%q: message %q does not name the field", name, e.Message)
		}
	}
	if _, _, err := f.svc.CreateAPIKey(ctx, f.tenant, f.op.ID, "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645", "cli"); err != nil {
		t.Fatalf("a Persian name with its ZWNJ: %v", err)
	}
}
