package console

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"encoding/hex"
	"errors"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/console.css
var stylesheet []byte

// Auth is what the console needs from authentication (authn.Service).
type Auth interface {
	Authenticate(ctx context.Context, bearer string) (authz.Principal, error)
	Login(ctx context.Context, email, password, clientIP string) (authn.Tokens, store.User, error)
	Refresh(ctx context.Context, refreshToken, clientIP string) (authn.Tokens, error)
	Logout(ctx context.Context, p authz.Principal) error
}

// Deps are the services behind the pages.
type Deps struct {
	Auth     Auth
	Agents   *agent.Service
	Sessions *session.Service
	// Ready is the readiness check of /ready (store and, when configured,
	// Redis).
	Ready func(ctx context.Context) error
}

// Options configure the console.
type Options struct {
	// Secure marks the session cookie Secure (every environment but
	// Development, which may run on plain http://127.0.0.1).
	Secure bool
	// IdleTimeout ends a session not used for that long (default 30 min);
	// AbsoluteTimeout ends any session that old (default 12 h).
	IdleTimeout, AbsoluteTimeout time.Duration
	// ClientIP returns the request's client address (the gateway's view,
	// trusted proxies applied); it keys the login throttle.
	ClientIP func(r *http.Request) string
	Now      func() time.Time
	Logger   *slog.Logger
}

// Default timeouts.
const (
	DefaultIdleTimeout     = 30 * time.Minute
	DefaultAbsoluteTimeout = 12 * time.Hour
	// CookieName is the session cookie; loginCookie carries the sign-in
	// form's CSRF token before there is a session.
	CookieName  = "komand_console"
	loginCookie = "komand_login_csrf"
	// refreshBefore is how long before its expiry the session's access
	// token is renewed.
	refreshBefore = 5 * time.Minute
)

// Route is one console route for the gateway's table.
type Route struct {
	Method, Path string
	Handler      http.Handler
}

// Console serves the pages.
type Console struct {
	deps     Deps
	opts     Options
	log      *slog.Logger
	pages    map[string]*template.Template
	cssPath  string
	sessions *sessions
	cop      *http.CrossOriginProtection
}

// New returns a Console.
func New(deps Deps, opts Options) (*Console, error) {
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = DefaultIdleTimeout
	}
	if opts.AbsoluteTimeout <= 0 {
		opts.AbsoluteTimeout = DefaultAbsoluteTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ClientIP == nil {
		opts.ClientIP = func(r *http.Request) string { return r.RemoteAddr }
	}
	sum := sha256.Sum256(stylesheet)
	c := &Console{
		deps: deps, opts: opts, log: opts.Logger, sessions: newSessions(),
		cssPath: "/static/console." + hex.EncodeToString(sum[:6]) + ".css",
		pages:   map[string]*template.Template{},
		cop:     http.NewCrossOriginProtection(),
	}
	c.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.log.WarnContext(r.Context(), "console: cross-origin request refused", "path", r.URL.Path)
		c.errorPage(w, r, http.StatusForbidden, "This request was refused.")
	}))
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if n == "templates/layout.html" {
			continue
		}
		t, err := template.New("layout.html").ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		c.pages[strings.TrimSuffix(strings.TrimPrefix(n, "templates/"), ".html")] = t
	}
	return c, nil
}

// Routes are the console's routes. The gateway mounts them in its one
// route table.
func (c *Console) Routes() []Route {
	return []Route{
		{"GET", "/{$}", c.page(c.authed(c.overview))},
		{"GET", "/login", c.page(http.HandlerFunc(c.loginForm))},
		{"POST", "/login", c.page(http.HandlerFunc(c.loginSubmit))},
		{"POST", "/logout", c.page(c.authedPost(c.logout))},
		{"POST", "/logout/all", c.page(c.authedPost(c.logoutAll))},
		{"GET", c.cssPath, http.HandlerFunc(c.css)},
	}
}

// SetReady sets the readiness check the overview shows (the gateway's
// /ready, which exists only once the server is built). Call it before
// serving.
func (c *Console) SetReady(ready func(ctx context.Context) error) { c.deps.Ready = ready }

// CSSPath is the hash-versioned URL of the stylesheet.
func (c *Console) CSSPath() string { return c.cssPath }

type ctxKey int

const nonceKey ctxKey = 0

// page sets the console's security headers (a fresh CSP nonce each
// response) and runs the cross-origin wall before h.
func (c *Console) page(h http.Handler) http.Handler {
	inner := c.cop.Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		nonce := randomToken()
		hd := w.Header()
		hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; style-src 'nonce-"+nonce+"'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		hd.Set("X-Content-Type-Options", "nosniff")
		hd.Set("Referrer-Policy", "same-origin")
		hd.Set("X-Frame-Options", "DENY")
		hd.Set("Cache-Control", "no-store")
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), nonceKey, nonce)))
	})
}

func (c *Console) css(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(stylesheet)
}

// view is what every template gets.
type view struct {
	Title, Nav, CSS, Nonce, CSRF, RequestID string
	User                                    *authz.Principal
	Data                                    any
}

func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name, title string, p *authz.Principal, csrf string, data any) {
	t, ok := c.pages[name]
	if !ok {
		c.errorPage(w, r, http.StatusInternalServerError, "Something went wrong.")
		return
	}
	nonce, _ := r.Context().Value(nonceKey).(string)
	var buf strings.Builder
	if err := t.Execute(&buf, view{Title: title, Nav: name, CSS: c.cssPath, Nonce: nonce, CSRF: csrf,
		RequestID: requestid.From(r.Context()), User: p, Data: data}); err != nil {
		c.log.ErrorContext(r.Context(), "console: render", "page", name, "err", err)
		c.errorPage(w, r, http.StatusInternalServerError, "Something went wrong.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(buf.String()))
}

// errorPage is the plain error page: a fixed message and the request ID,
// never the error's detail.
func (c *Console) errorPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	t := c.pages["error"]
	nonce, _ := r.Context().Value(nonceKey).(string)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_ = t.Execute(w, view{Title: http.StatusText(status), Nav: "error", CSS: c.cssPath, Nonce: nonce,
		RequestID: requestid.From(r.Context()), Data: msg})
}

// fail renders err: its apperr kind picks the status and a fixed message;
// the detail goes to the log only.
func (c *Console) fail(w http.ResponseWriter, r *http.Request, err error) {
	status := http.StatusInternalServerError
	msg := "Something went wrong."
	if denied(err) {
		err = apperr.Wrap(err, apperr.Forbidden, "permission denied")
	} else if errors.Is(err, store.ErrNotFound) {
		err = apperr.Wrap(err, apperr.NotFound, "not found")
	}
	if e, ok := apperr.As(err); ok {
		status = e.Kind.Status()
		switch e.Kind {
		case apperr.Forbidden:
			msg = "You do not have permission to do that."
		case apperr.NotFound:
			msg = "Not found."
		case apperr.RateLimited:
			msg = "Too many requests. Try again later."
		}
	}
	if status >= 500 {
		c.log.ErrorContext(r.Context(), "console: request failed", "path", r.URL.Path, "err", err)
	}
	c.errorPage(w, r, status, msg)
}

// denied reports whether err is an authorization refusal.
func denied(err error) bool {
	if errors.Is(err, authz.ErrDenied) {
		return true
	}
	e, ok := apperr.As(err)
	return ok && e.Kind == apperr.Forbidden
}

// current is the request's signed-in state.
type current struct {
	id string
	s  *consoleSession
	p  authz.Principal
}

// signedIn returns the request's live session, or false. A session past a
// timeout, or whose credentials the authentication service no longer
// accepts (logged out, revoked, user deactivated), is removed.
func (c *Console) signedIn(r *http.Request) (current, bool, error) {
	ck, err := r.Cookie(CookieName)
	if err != nil {
		return current{}, false, nil
	}
	s, ok := c.sessions.get(ck.Value)
	if !ok {
		return current{}, false, nil
	}
	cur, alive, err := c.check(r, s)
	if err != nil {
		return current{}, false, err
	}
	if !alive {
		// Deleted after s.mu is released: sweep takes the table's lock
		// and then a session's, never the other way round.
		c.sessions.delete(ck.Value)
		return current{}, false, nil
	}
	cur.id = ck.Value
	return cur, true, nil
}

// check holds s's lock while it checks the timeouts, renews the access
// token when it is about to expire and authenticates it.
func (c *Console) check(r *http.Request, s *consoleSession) (current, bool, error) {
	now := c.opts.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if now.Sub(s.lastSeen) >= c.opts.IdleTimeout || now.Sub(s.created) >= c.opts.AbsoluteTimeout {
		return current{}, false, nil
	}
	if now.Add(refreshBefore).After(s.accessExp) {
		t, err := c.deps.Auth.Refresh(r.Context(), s.refresh, c.opts.ClientIP(r))
		if err != nil {
			if e, ok := apperr.As(err); ok && e.Kind == apperr.Unauthenticated {
				return current{}, false, nil
			}
			return current{}, false, err
		}
		s.access, s.refresh, s.accessExp = t.AccessToken, t.RefreshToken, t.ExpiresAt
	}
	p, err := c.deps.Auth.Authenticate(r.Context(), s.access)
	if err != nil {
		if e, ok := apperr.As(err); ok && e.Kind == apperr.Unauthenticated {
			return current{}, false, nil
		}
		return current{}, false, err
	}
	s.lastSeen = now
	return current{s: s, p: p}, true, nil
}

type pageFunc func(w http.ResponseWriter, r *http.Request, cur current)

// authed serves h to a signed-in user and sends anyone else to /login with
// the page as next.
func (c *Console) authed(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, ok, err := c.signedIn(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if !ok {
			http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		h(w, r, cur)
	})
}

// authedPost is authed for a form POST: the synchronizer token of the
// session must match the form's, or the request is refused with 403.
func (c *Console) authedPost(h pageFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur, ok, err := c.signedIn(r)
		if err != nil {
			c.fail(w, r, err)
			return
		}
		if !ok {
			http.Redirect(w, r, "/login", http.StatusSeeOther)
			return
		}
		if !tokenEqual(r.PostFormValue("csrf"), cur.s.csrf) {
			c.log.WarnContext(r.Context(), "console: CSRF token refused", "path", r.URL.Path, "user", cur.p.UserID)
			c.errorPage(w, r, http.StatusForbidden, "This form has expired or was not sent by the console. Reload the page and try again.")
			return
		}
		h(w, r, cur)
	})
}

func tokenEqual(a, b string) bool {
	return a != "" && b != "" && subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// safeNext returns next if it is a same-origin path ("/x", not "//host"
// or "/\host" or a scheme), else "/".
func safeNext(next string) string {
	if next == "" || next[0] != '/' || len(next) > 2048 {
		return "/"
	}
	if len(next) > 1 && (next[1] == '/' || next[1] == '\\') {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	for _, ch := range next {
		if ch < 0x20 || ch == 0x7f || ch == '\\' {
			return "/"
		}
	}
	return next
}

type loginData struct {
	Email, Next, Error string
}

func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.showLogin(w, r, http.StatusOK, loginData{Next: safeNext(r.URL.Query().Get("next"))})
}

// showLogin renders the form with a fresh login CSRF token (double
// submit: a cookie and a hidden field that must match).
func (c *Console) showLogin(w http.ResponseWriter, r *http.Request, status int, d loginData) {
	tok := randomToken()
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: tok, Path: "/login", HttpOnly: true,
		Secure: c.opts.Secure, SameSite: http.SameSiteStrictMode, MaxAge: 3600})
	c.render(w, r, status, "login", "Sign in", nil, tok, d)
}

func (c *Console) loginSubmit(w http.ResponseWriter, r *http.Request) {
	ck, err := r.Cookie(loginCookie)
	if err != nil || !tokenEqual(r.PostFormValue("csrf"), ck.Value) {
		c.log.WarnContext(r.Context(), "console: login CSRF token refused")
		c.errorPage(w, r, http.StatusForbidden, "This form has expired or was not sent by the console. Reload the page and try again.")
		return
	}
	email := r.PostFormValue("email")
	next := safeNext(r.PostFormValue("next"))
	tokens, u, err := c.deps.Auth.Login(r.Context(), email, r.PostFormValue("password"), c.opts.ClientIP(r))
	if err != nil {
		e, ok := apperr.As(err)
		switch {
		case ok && e.Kind == apperr.Unauthenticated:
			c.showLogin(w, r, http.StatusUnauthorized, loginData{Email: email, Next: next, Error: "Wrong e-mail or password."})
		case ok && e.Kind == apperr.RateLimited:
			if e.RetryAfter > 0 {
				w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter/time.Second)))
			}
			c.showLogin(w, r, http.StatusTooManyRequests, loginData{Email: email, Next: next, Error: "Too many failed sign-ins. Wait a little and try again."})
		default:
			c.fail(w, r, err)
		}
		return
	}
	// A fresh session ID at every sign-in, whatever cookie came in: an
	// ID planted before sign-in is never promoted (session fixation).
	if old, err := r.Cookie(CookieName); err == nil {
		c.sessions.delete(old.Value)
	}
	p, err := c.deps.Auth.Authenticate(r.Context(), tokens.AccessToken)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	now := c.opts.Now()
	c.sessions.sweep(now, c.opts.IdleTimeout, c.opts.AbsoluteTimeout)
	id := c.sessions.create(&consoleSession{tenantID: u.TenantID, userID: u.ID, family: p.SessionID, access: tokens.AccessToken,
		refresh: tokens.RefreshToken, accessExp: tokens.ExpiresAt, csrf: randomToken(), created: now, lastSeen: now})
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: id, Path: "/", HttpOnly: true, Secure: c.opts.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: int(c.opts.AbsoluteTimeout / time.Second)})
	http.SetCookie(w, &http.Cookie{Name: loginCookie, Value: "", Path: "/login", HttpOnly: true, Secure: c.opts.Secure, MaxAge: -1})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (c *Console) clearCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, Secure: c.opts.Secure,
		SameSite: http.SameSiteLaxMode, MaxAge: -1})
}

// logout ends this session: its refresh family is revoked in the store
// (the authentication service audits the logout), then it is forgotten.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, cur current) {
	c.sessions.delete(cur.id)
	c.clearCookie(w)
	if err := c.deps.Auth.Logout(r.Context(), cur.p); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// logoutAll ends every console session of the user on this server.
func (c *Console) logoutAll(w http.ResponseWriter, r *http.Request, cur current) {
	c.clearCookie(w)
	var errs []error
	for _, s := range c.sessions.deleteUser(cur.p.TenantID, cur.p.UserID) {
		// Each session's refresh family is revoked even if its access
		// token has expired meanwhile (revoking a dead family is no error).
		p := cur.p
		p.SessionID = s.family
		errs = append(errs, c.deps.Auth.Logout(r.Context(), p))
	}
	if err := errors.Join(errs...); err != nil {
		c.fail(w, r, err)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

// tile is one figure of the overview.
type tile struct {
	Label, Hint string
	Value       int
}

type overviewData struct {
	NoAgents bool
	Tiles    []tile
	Health   []health
}

type health struct {
	Name string
	OK   bool
}

// overview counts what the services give cheaply (the totals of one-row
// listings, each checked by the service's own authorization) and shows
// readiness as /ready reports it.
func (c *Console) overview(w http.ResponseWriter, r *http.Request, cur current) {
	ctx := r.Context()
	one := store.Page{Page: 1, PageSize: 1}
	_, agents, err := c.deps.Agents.List(ctx, cur.p, one)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	_, active, err := c.deps.Sessions.List(ctx, cur.p, store.SessionFilter{Status: "active"}, one)
	if err != nil {
		c.fail(w, r, err)
		return
	}
	tiles := []tile{
		{Label: "Agents", Value: agents, Hint: "Agents in this tenant."},
		{Label: "Active sessions", Value: active, Hint: "Conversations not yet ended."},
	}
	// Held reviews need the review permission: a role without it does not
	// see the tile rather than an error.
	if _, held, err := c.deps.Sessions.ListReviews(ctx, cur.p, store.ReviewFilter{Status: store.ReviewPending}, one); err == nil {
		tiles = append(tiles, tile{Label: "Held turns waiting", Value: held, Hint: "Turns held for review by the injection policy."})
	} else if !denied(err) {
		c.fail(w, r, err)
		return
	}
	ready := true
	if c.deps.Ready != nil {
		ready = c.deps.Ready(ctx) == nil
	}
	c.render(w, r, http.StatusOK, "overview", "Overview", &cur.p, cur.s.csrf, overviewData{
		NoAgents: agents == 0, Tiles: tiles, Health: []health{{Name: "Database (as /ready reports it)", OK: ready}},
	})
}
