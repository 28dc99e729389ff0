package console_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

// TestConsoleAudit: the console's sign-in and sign-out record what the
// API's do, and a refused form records nothing: a wrong password is one
// LoginFailed, a form without its token signs nobody in and no one out,
// /logout and /logout/all record their Logout entries.
func TestConsoleAudit(t *testing.T) {
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) { testConsoleAudit(t, newDevWorldOn(t, kind)) })
	}
}

func testConsoleAudit(t *testing.T, w *world) {
	count := func(a audit.Action) int {
		t.Helper()
		_, n, err := w.env.App.Store.ListAudit(t.Context(), w.ta, store.AuditFilter{Action: string(a)}, store.Page{Page: 1, PageSize: 1})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	type counts struct{ ok, failed, out int }
	now := func() counts {
		return counts{count(audit.LoginSucceeded), count(audit.LoginFailed), count(audit.Logout)}
	}
	want := func(what string, c counts) {
		t.Helper()
		if got := now(); got != c {
			t.Fatalf("%s: audit %+v, want %+v", what, got, c)
		}
	}
	c := now()

	b := w.browser(t)
	// No token, a forged token: 403, nobody signed in, nothing recorded.
	for _, f := range []url.Values{{"email": {"owner@a.test"}, "password": {apptest.Password}},
		{"csrf": {"forged"}, "email": {"owner@a.test"}, "password": {apptest.Password}}} {
		if p := b.do("POST", "/login", f); p.status != 403 || b.cookie() != "" {
			t.Fatalf("login %v: %d", f, p.status)
		}
	}
	// An oversized form is refused the same way (its token is never read).
	f := b.do("GET", "/login", nil)
	big := url.Values{"pad": {strings.Repeat("x", 2<<20)}, "csrf": {csrfOf(t, f)}, "email": {"owner@a.test"}, "password": {apptest.Password}}
	if p := b.do("POST", "/login", big); p.status != 403 || b.cookie() != "" {
		t.Fatalf("oversized login: %d", p.status)
	}
	want("refused login forms", c)

	if p := b.signIn("owner@a.test", "wrong password", "/"); p.status != 401 || b.cookie() != "" {
		t.Fatalf("wrong password: %d", p.status)
	}
	c.failed++
	want("wrong password", c)
	if p := b.signIn("owner@a.test", apptest.Password, "/"); p.status != 303 {
		t.Fatalf("sign in: %d", p.status)
	}
	c.ok++
	want("sign in", c)

	// Sign-out without the token: 403, still signed in, no Logout.
	o := b.do("GET", "/", nil)
	for _, path := range []string{"/logout", "/logout/all"} {
		for _, f := range []url.Values{{}, {"csrf": {"forged"}}} {
			if p := b.do("POST", path, f); p.status != 403 {
				t.Fatalf("%s with %v: %d", path, f, p.status)
			}
		}
	}
	if p := b.do("GET", "/", nil); p.status != 200 {
		t.Fatalf("signed out by a forged form: %d", p.status)
	}
	want("forged sign-out", c)

	if p := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, o)}}); p.status != 303 {
		t.Fatalf("logout: %d", p.status)
	}
	c.out++
	want("logout", c)
}
