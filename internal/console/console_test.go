package console_test

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/console"
)

func TestMain(m *testing.M) { os.Exit(apptest.Main(m)) }

// clock is the injected time of the whole app (authentication and
// console).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type world struct {
	env   *apptest.Env
	clk   *clock
	owner string // owner's user ID in tenant a
	ta    string
}

func newWorld(t *testing.T) *world {
	clk := &clock{t: time.Now()}
	env := apptest.NewWith(t, "sqlite", nil, app.Options{Now: clk.now})
	ta := env.Tenant("a")
	owner := env.User(ta, "owner@a.test", "owner")
	return &world{env: env, clk: clk, owner: owner, ta: ta}
}

// browser is a client with its own cookie jar that does not follow
// redirects, so every hop can be checked.
type browser struct {
	t   *testing.T
	w   *world
	c   *http.Client
	jar *cookiejar.Jar
}

func (w *world) browser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, w: w, jar: jar, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(method, path string, form url.Values, hdr ...string) page {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, b.w.env.Server.URL+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	p := page{status: res.StatusCode, header: res.Header, body: string(raw)}
	checkHeaders(b.t, method+" "+path, p)
	return p
}

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func csrfOf(t *testing.T, p page) string {
	t.Helper()
	m := csrfRe.FindStringSubmatch(p.body)
	if m == nil {
		t.Fatalf("no CSRF token in page: %s", p.body)
	}
	return m[1]
}

// checkHeaders: every console response has the strict CSP with a nonce
// and no unsafe-inline, and the nonce of the page's stylesheet is the
// header's.
func checkHeaders(t *testing.T, what string, p page) {
	t.Helper()
	if strings.HasPrefix(p.header.Get("Content-Type"), "text/css") {
		return
	}
	csp := p.header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'", "script-src 'nonce-", "style-src 'nonce-"} {
		if !strings.Contains(csp, want) {
			t.Errorf("%s: CSP %q lacks %q", what, csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("%s: CSP %q allows unsafe", what, csp)
	}
	if p.header.Get("X-Content-Type-Options") != "nosniff" || p.header.Get("Referrer-Policy") == "" {
		t.Errorf("%s: headers %v", what, p.header)
	}
	if strings.Contains(p.body, "<html") {
		m := regexp.MustCompile(`style-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
		if m == nil || !strings.Contains(p.body, `nonce="`+m[1]+`"`) {
			t.Errorf("%s: stylesheet does not carry the response's nonce", what)
		}
		if strings.Contains(p.body, "<script") && !regexp.MustCompile(`<script nonce="`).MatchString(p.body) {
			t.Errorf("%s: script without nonce", what)
		}
		if regexp.MustCompile(`<style[ >]| style="`).MatchString(p.body) {
			t.Errorf("%s: inline style", what)
		}
	}
}

// signIn signs in through the form and returns the response of the POST.
func (b *browser) signIn(email, password, next string) page {
	b.t.Helper()
	f := b.do("GET", "/login", nil)
	if f.status != 200 {
		b.t.Fatalf("GET /login: %d", f.status)
	}
	return b.do("POST", "/login", url.Values{"csrf": {csrfOf(b.t, f)}, "email": {email}, "password": {password}, "next": {next}})
}

func (b *browser) cookie() string {
	u, _ := url.Parse(b.w.env.Server.URL)
	for _, c := range b.jar.Cookies(u) {
		if c.Name == console.CookieName {
			return c.Value
		}
	}
	return ""
}

func TestSignInAndOverview(t *testing.T) {
	w := newWorld(t)
	b := w.browser(t)
	// Not signed in: to /login with the page as next.
	if p := b.do("GET", "/", nil); p.status != 303 || p.header.Get("Location") != "/login?next=%2F" {
		t.Fatalf("GET / signed out: %d %q", p.status, p.header.Get("Location"))
	}
	p := b.signIn("owner@a.test", apptest.Password, "/")
	if p.status != 303 || p.header.Get("Location") != "/" {
		t.Fatalf("sign in: %d %q %s", p.status, p.header.Get("Location"), p.body)
	}
	var set string
	for _, v := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(v, console.CookieName+"=") {
			set = v
		}
	}
	for _, flag := range []string{"HttpOnly", "SameSite=Lax", "Secure", "Path=/"} {
		if !strings.Contains(set, flag) {
			t.Errorf("session cookie %q lacks %s (the test config is not Development)", set, flag)
		}
	}
	// The jar will not send a Secure cookie over http: add it by hand.
	u, _ := url.Parse(w.env.Server.URL)
	id := regexp.MustCompile(console.CookieName + `=([^;]+)`).FindStringSubmatch(set)[1]
	b.jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: id, Path: "/"}})

	o := b.do("GET", "/", nil)
	if o.status != 200 || !strings.Contains(o.body, "Overview") || !strings.Contains(o.body, "owner@a.test") ||
		!strings.Contains(o.body, "Agents") || !strings.Contains(o.body, "Active sessions") || !strings.Contains(o.body, "ready") {
		t.Fatalf("overview: %d %s", o.status, o.body)
	}
	for _, secret := range []string{apptest.Password, id, w.env.App.Config.Jwt.SecretKey} {
		if strings.Contains(o.body, secret) {
			t.Fatalf("overview shows a secret")
		}
	}
	css := regexp.MustCompile(`href="(/static/console\.[0-9a-f]{12}\.css)"`).FindStringSubmatch(o.body)
	if css == nil {
		t.Fatalf("no versioned stylesheet")
	}
	c := b.do("GET", css[1], nil)
	if c.status != 200 || !strings.Contains(c.header.Get("Cache-Control"), "immutable") || !strings.Contains(c.body, ":root") {
		t.Fatalf("stylesheet: %d %v", c.status, c.header)
	}
}

// newDevWorld returns a world whose cookies the jar sends over http (the
// Development environment).
func newDevWorld(t *testing.T) *world { return newDevWorldOn(t, "sqlite") }

func newDevWorldOn(t *testing.T, kind string) *world {
	clk := &clock{t: time.Now()}
	env := apptest.NewWith(t, kind, func(c *config.Config) { c.Environment = "Development" }, app.Options{Now: clk.now})
	ta := env.Tenant("a")
	owner := env.User(ta, "owner@a.test", "owner")
	return &world{env: env, clk: clk, owner: owner, ta: ta}
}

func TestSignInFailures(t *testing.T) {
	w := newDevWorld(t)
	b := w.browser(t)
	for _, tc := range []struct{ email, pw string }{{"owner@a.test", "wrong password"}, {"nobody@a.test", apptest.Password}} {
		p := b.signIn(tc.email, tc.pw, "/")
		if p.status != 401 || !strings.Contains(p.body, "Wrong e-mail or password.") || b.cookie() != "" {
			t.Fatalf("%s: %d %s", tc.email, p.status, p.body)
		}
		if strings.Contains(p.body, tc.pw) {
			t.Fatalf("password echoed")
		}
	}
	// Login throttle of the authentication service: failures until it
	// answers 429, and then even the right password is refused.
	throttled := false
	for range 20 {
		if p := b.signIn("owner@a.test", "wrong again", "/"); p.status == 429 {
			throttled = true
			break
		}
	}
	if !throttled {
		t.Fatal("never throttled")
	}
	if p := b.signIn("owner@a.test", apptest.Password, "/"); p.status != 429 || b.cookie() != "" || p.header.Get("Retry-After") == "" {
		t.Fatalf("right password while throttled: %d", p.status)
	}
}

func TestSessionLifecycle(t *testing.T) {
	w := newDevWorld(t)
	b := w.browser(t)
	// Fixation: a planted cookie is replaced by a fresh ID at sign-in.
	u, _ := url.Parse(w.env.Server.URL)
	b.jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: "planted-by-attacker", Path: "/"}})
	if p := b.signIn("owner@a.test", apptest.Password, "/"); p.status != 303 {
		t.Fatalf("sign in: %d", p.status)
	}
	first := b.cookie()
	if first == "" || first == "planted-by-attacker" {
		t.Fatalf("cookie not rotated: %q", first)
	}
	if p := b.signIn("owner@a.test", apptest.Password, "/"); p.status != 303 || b.cookie() == first {
		t.Fatalf("second sign-in kept the ID")
	}
	// The old ID no longer works.
	old := w.browser(t)
	old.jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: first, Path: "/"}})
	if p := old.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("old session ID still works: %d", p.status)
	}

	// Logout without the token: 403 plain page, session still alive.
	o := b.do("GET", "/", nil)
	second, tok := b.cookie(), csrfOf(t, o)
	const forged = "forged-csrf-7f3a9c"
	for _, f := range []url.Values{{}, {"csrf": {forged}}} {
		p := b.do("POST", "/logout", f)
		if p.status != 403 || p.header.Get("X-Request-Id") == "" || !strings.Contains(p.body, "<code>"+p.header.Get("X-Request-Id")+"</code>") {
			t.Fatalf("logout with %v: %d %s", f, p.status, p.body)
		}
		// The refusal page names neither the session's token nor the
		// refused one.
		if strings.Contains(p.body, tok) || strings.Contains(p.body, forged) || strings.Contains(p.body, second) {
			t.Fatalf("refusal page carries a token: %s", p.body)
		}
	}
	if p := b.do("GET", "/", nil); p.status != 200 {
		t.Fatalf("session ended by a forged POST")
	}
	// A cross-origin POST with the right token is refused by the second
	// wall.
	if p := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, o)}}, "Sec-Fetch-Site", "cross-site"); p.status != 403 {
		t.Fatalf("cross-site POST: %d", p.status)
	}
	if p := b.do("POST", "/logout", url.Values{"csrf": {csrfOf(t, o)}}); p.status != 303 {
		t.Fatalf("logout: %d", p.status)
	}
	if p := b.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("signed in after logout: %d", p.status)
	}
	// Replaying the logged-out cookie does not work either.
	replay := w.browser(t)
	replay.jar.SetCookies(u, []*http.Cookie{{Name: console.CookieName, Value: b.cookie() + first, Path: "/"}})
	if p := replay.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("replayed: %d", p.status)
	}
	// No log line carries a session ID (live, replaced or planted), the
	// session's CSRF token or a refused one.
	logs := w.env.Logs()
	if !strings.Contains(logs, "CSRF token refused") {
		t.Fatalf("the refused tokens were not logged at all: %s", logs)
	}
	for _, secret := range []string{first, second, "planted-by-attacker", tok, forged} {
		if strings.Contains(logs, secret) {
			t.Fatalf("the logs carry %q", secret)
		}
	}
}

func TestLogoutAll(t *testing.T) {
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) { testLogoutAll(t, newDevWorldOn(t, kind)) })
	}
}

func testLogoutAll(t *testing.T, w *world) {
	b1, b2 := w.browser(t), w.browser(t)
	b1.signIn("owner@a.test", apptest.Password, "/")
	b2.signIn("owner@a.test", apptest.Password, "/")
	p := b1.do("GET", "/", nil)
	if b2.do("GET", "/", nil).status != 200 {
		t.Fatal("second browser not signed in")
	}
	if r := b1.do("POST", "/logout/all", url.Values{"csrf": {csrfOf(t, p)}}); r.status != 303 {
		t.Fatalf("logout all: %d", r.status)
	}
	for i, b := range []*browser{b1, b2} {
		if r := b.do("GET", "/", nil); r.status != 303 {
			t.Fatalf("browser %d still signed in", i)
		}
	}
	// Both refresh families were revoked in the store, each audited as a
	// Logout (the audit writer commits asynchronously: wait for it).
	access, _ := w.env.Login("owner@a.test")
	var n int
	for range 100 {
		r := w.env.Do("GET", "/api/audit/?action=Logout", access, nil)
		n = strings.Count(string(r.Data), `"action":"Logout"`)
		if n >= 2 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n != 2 {
		t.Fatalf("Logout entries: %d", n)
	}
}

func TestTimeouts(t *testing.T) {
	w := newDevWorld(t)
	b := w.browser(t)
	b.signIn("owner@a.test", apptest.Password, "/")
	w.clk.add(console.DefaultIdleTimeout - time.Minute)
	if p := b.do("GET", "/", nil); p.status != 200 {
		t.Fatalf("before idle timeout: %d", p.status)
	}
	w.clk.add(console.DefaultIdleTimeout)
	if p := b.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("after idle timeout: %d", p.status)
	}

	// Absolute: used every 20 minutes (the access token is renewed on the
	// way), still ends after 12 hours.
	b.signIn("owner@a.test", apptest.Password, "/")
	start := w.clk.now()
	for w.clk.now().Sub(start) < console.DefaultAbsoluteTimeout-20*time.Minute {
		w.clk.add(20 * time.Minute)
		if p := b.do("GET", "/", nil); p.status != 200 {
			t.Fatalf("at %v: %d", w.clk.now().Sub(start), p.status)
		}
	}
	w.clk.add(20 * time.Minute)
	if p := b.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("after absolute timeout: %d", p.status)
	}
}

func TestDeactivatedUser(t *testing.T) {
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) { testDeactivatedUser(t, newDevWorldOn(t, kind)) })
	}
}

func testDeactivatedUser(t *testing.T, w *world) {
	w.env.User(w.ta, "op@a.test", "operator")
	b := w.browser(t)
	b.signIn("op@a.test", apptest.Password, "/")
	if p := b.do("GET", "/", nil); p.status != 200 {
		t.Fatalf("operator: %d %s", p.status, w.env.Logs())
	}
	access, _ := w.env.Login("owner@a.test")
	var id string
	for _, u := range []string{"op@a.test"} {
		r := w.env.Do("GET", "/api/users/", access, nil)
		m := regexp.MustCompile(`"id":"([^"]+)","email":"` + regexp.QuoteMeta(u)).FindStringSubmatch(string(r.Data))
		if m == nil {
			t.Fatalf("user list: %s", r.Data)
		}
		id = m[1]
	}
	if r := w.env.Do("DELETE", "/api/users/"+id, access, nil); r.Status != 200 && r.Status != 204 {
		t.Fatalf("deactivate: %d", r.Status)
	}
	if p := b.do("GET", "/", nil); p.status != 303 {
		t.Fatalf("deactivated user still signed in: %d", p.status)
	}
}

func TestOpenRedirect(t *testing.T) {
	w := newDevWorld(t)
	for _, next := range []string{"//evil.test/", "https://evil.test/", "/\\evil.test", "javascript:alert(1)", "\\\\evil.test"} {
		b := w.browser(t)
		if p := b.signIn("owner@a.test", apptest.Password, next); p.status != 303 || p.header.Get("Location") != "/" {
			t.Fatalf("next %q: %d %q", next, p.status, p.header.Get("Location"))
		}
	}
	b := w.browser(t)
	if p := b.signIn("owner@a.test", apptest.Password, "/chat"); p.header.Get("Location") != "/chat" {
		t.Fatalf("same-origin next refused: %q", p.header.Get("Location"))
	}
	// The login form escapes next.
	if p := b.do("GET", `/login?next=/"><script>x</script>`, nil); strings.Contains(p.body, "<script>x") {
		t.Fatal("next not escaped")
	}
}

func TestLoginCSRF(t *testing.T) {
	w := newDevWorld(t)
	b := w.browser(t)
	p := b.do("POST", "/login", url.Values{"email": {"owner@a.test"}, "password": {apptest.Password}})
	if p.status != 403 || b.cookie() != "" {
		t.Fatalf("login without token: %d", p.status)
	}
}

func TestTenantIsolation(t *testing.T) {
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) { testTenantIsolation(t, newDevWorldOn(t, kind)) })
	}
}

func testTenantIsolation(t *testing.T, w *world) {
	tb := w.env.Tenant("b")
	w.env.User(tb, "owner@b.test", "owner")
	access, _ := w.env.Login("owner@b.test")
	for _, id := range []string{"b-secret-agent-1", "b-secret-agent-2"} {
		if r := w.env.Do("POST", "/api/agents/", access, map[string]any{"agentId": id, "name": "Hidden " + id}); r.Status != 201 {
			t.Fatalf("create agent: %d", r.Status)
		}
	}
	b := w.browser(t)
	b.signIn("owner@a.test", apptest.Password, "/")
	p := b.do("GET", "/", nil)
	if !regexp.MustCompile(`<div class="value">0</div><div class="label">Agents`).MatchString(p.body) || !strings.Contains(p.body, "No agents yet") {
		t.Fatalf("tenant a sees b's agents: %s", p.body)
	}
	bb := w.browser(t)
	bb.signIn("owner@b.test", apptest.Password, "/")
	if p := bb.do("GET", "/", nil); !regexp.MustCompile(`<div class="value">2</div><div class="label">Agents`).MatchString(p.body) || strings.Contains(p.body, "No agents yet") {
		t.Fatalf("tenant b count: %s", p.body)
	}
}

func TestViewerReadOnly(t *testing.T) {
	w := newDevWorld(t)
	w.env.User(w.ta, "viewer@a.test", "viewer")
	b := w.browser(t)
	if p := b.signIn("viewer@a.test", apptest.Password, "/"); p.status != 303 {
		t.Fatalf("viewer sign in: %d", p.status)
	}
	p := b.do("GET", "/", nil)
	if p.status != 200 || !strings.Contains(p.body, "viewer@a.test") || !strings.Contains(p.body, "Agents") {
		t.Fatalf("viewer overview: %d %s", p.status, p.body)
	}
	// The only forms are the sign-out ones.
	for _, m := range regexp.MustCompile(`action="([^"]+)"`).FindAllStringSubmatch(p.body, -1) {
		if m[1] != "/logout" && m[1] != "/logout/all" {
			t.Errorf("viewer sees an action: %s", m[1])
		}
	}
}
