package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/requestid"
)

// statusWriter remembers the status for the access log. It also holds the
// request's own header values (request ID, allowed origin, the three
// rate-limit values) in one array, so that a request costs one allocation
// for all of them instead of one per header.
type statusWriter struct {
	http.ResponseWriter
	status int
	vals   [hdrCount]string
}

// Indexes into statusWriter.vals.
const (
	hdrRequestID = iota
	hdrAllowOrigin
	hdrLimit
	hdrRemaining
	hdrReset
	hdrCount
)

// setHeader sets h[key] (a canonical key) to the single value v, using the
// slot i of sw's array when sw is not nil.
func setHeader(h http.Header, sw *statusWriter, i int, key, v string) {
	if sw == nil {
		h[key] = []string{v}
		return
	}
	sw.vals[i] = v
	h[key] = sw.vals[i : i+1 : i+1]
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// outer is the chain every request passes through, outermost first:
// request ID → access log and panic recovery → security headers → CORS →
// body limit. Authentication and rate limiting are per route (see route).
func (s *Server) outer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		h := w.Header()
		setHeader(h, sw, hdrRequestID, requestid.Header, requestid.FromHeader(r.Header.Get(requestid.Header)))
		ctx := requestid.WithRef(r.Context(), &sw.vals[hdrRequestID])
		r = r.WithContext(ctx)
		securityHeaders(h)

		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.ErrorContext(ctx, "panic serving request", "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.status == 0 {
					writeError(sw, r, s.log, fmt.Errorf("panic: %v", v))
				}
			}
			if s.opts.AccessLog {
				s.log.LogAttrs(ctx, slog.LevelInfo, "request", slog.String("method", r.Method),
					slog.String("path", r.URL.Path), slog.Int("status", sw.status),
					slog.Float64("duration_ms", float64(time.Since(start).Microseconds())/1000))
			}
		}()

		if !s.cors(sw, r) {
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			limit := s.opts.MaxBodyBytes
			if r.Method == http.MethodPost && strings.TrimSuffix(r.URL.Path, "/") == skillPackagePath {
				limit = s.opts.MaxSkillPackageBytes
			}
			r.Body = http.MaxBytesReader(sw, r.Body, limit)
		}
		next.ServeHTTP(sw, r)
	})
}

// securityHeaders are set on every response. The API serves JSON only, so
// the CSP forbids everything; the dashboard sets its own.
func securityHeaders(h http.Header) {
	for _, kv := range staticSecurityHeaders {
		h[kv.k] = kv.v
	}
}

// staticSecurityHeaders are shared, read-only value slices (canonical keys):
// setting them costs no allocation. Header.Set replaces a slice and Add
// appends to a full one (copying), so the shared arrays are never written.
var staticSecurityHeaders = []struct {
	k string
	v []string
}{
	{"Content-Security-Policy", []string{"default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"}},
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Cross-Origin-Opener-Policy", []string{"same-origin"}},
	{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
	{"Cache-Control", []string{"no-store"}},
}

var (
	varyOrigin    = []string{"Origin"}
	exposeHeaders = []string{"X-Request-Id, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset, Retry-After"}
)

// CORS values from security.md.
const (
	corsMethods = "GET, POST, PUT, DELETE, OPTIONS"
	corsHeaders = "Content-Type, Authorization, X-Request-Id"
	corsMaxAge  = "600"
)

// cors applies the CORS policy and answers preflights. It reports whether
// the request should continue. A disallowed origin gets no CORS headers at
// all (the browser then blocks the response); its preflight gets 403.
func (s *Server) cors(w http.ResponseWriter, r *http.Request) bool {
	origin := r.Header.Get("Origin")
	h := w.Header()
	if len(h["Vary"]) == 0 {
		h["Vary"] = varyOrigin
	} else {
		h.Add("Vary", "Origin")
	}
	preflight := r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != ""
	allowed := origin != "" && s.opts.AllowedOrigin != nil && s.opts.AllowedOrigin(origin)
	if allowed {
		sw, _ := w.(*statusWriter)
		setHeader(h, sw, hdrAllowOrigin, "Access-Control-Allow-Origin", origin)
		h["Access-Control-Expose-Headers"] = exposeHeaders
	}
	if !preflight {
		return true
	}
	// A preflight counts against the client's window like any request and
	// carries the rate-limit headers too.
	if !s.limit(w, r, "api:ip:"+clientNet(r, s.opts.TrustedProxies)) {
		return false
	}
	if !allowed {
		writeError(w, r, s.log, apperr.New(apperr.Forbidden, "origin not allowed"))
		return false
	}
	h.Add("Vary", "Access-Control-Request-Method")
	h.Add("Vary", "Access-Control-Request-Headers")
	h.Set("Access-Control-Allow-Methods", corsMethods)
	h.Set("Access-Control-Allow-Headers", corsHeaders)
	h.Set("Access-Control-Max-Age", corsMaxAge)
	w.WriteHeader(http.StatusNoContent)
	return false
}

// handler is an HTTP handler that returns its error for one renderer.
type handler func(w http.ResponseWriter, r *http.Request) error

// authedHandler also receives the authenticated principal.
type authedHandler func(w http.ResponseWriter, r *http.Request, p authz.Principal) error

// public wraps a handler that needs no authentication: it is rate limited
// by client IP.
func (s *Server) public(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.limit(w, r, "api:ip:"+clientNet(r, s.opts.TrustedProxies)) {
			return
		}
		err := queryOnce(r)
		if err == nil {
			err = h(w, r)
		}
		if err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// probe wraps a health or readiness probe: no authentication and no rate
// limit, so no client can make an orchestrator restart a healthy server
// by spending an address's API budget. The probes are cheap (readiness
// caches its answer, see ready), so they need no bound of their own.
func (s *Server) probe(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// static wraps the chat page's embedded files: they are limited by client
// IP like public, but against their own, more generous budget
// (Options.StaticLimit per API window), so that loading the page does not
// spend the address's API budget.
func (s *Server) static(h handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.limitN(w, r, "static:ip:"+clientNet(r, s.opts.TrustedProxies), s.opts.StaticLimit, s.opts.APIWindow) {
			return
		}
		if err := h(w, r); err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// authed wraps a handler that needs a principal. The bearer credential is
// verified first, so the rate-limit key is the principal; a request without
// valid credentials is limited by client IP and then refused.
func (s *Server) authed(h authedHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		p, err := authz.Principal{}, error(errTwoCredentials)
		if len(r.Header.Values("Authorization")) <= 1 {
			p, err = s.authenticate(ctx, r.Header.Get("Authorization"))
		}
		if err != nil {
			if !s.limit(w, r, "api:ip:"+clientNet(r, s.opts.TrustedProxies)) {
				return
			}
			writeError(w, r, s.log, err)
			return
		}
		// The principal is handed to the handler, which hands it to the
		// service explicitly; it is not put in the context.
		key := "api:u:" + p.UserID
		if p.APIKeyID != "" {
			key = "api:k:" + p.APIKeyID
		}
		if !s.limit(w, r, key) {
			return
		}
		err = queryOnce(r)
		if err == nil {
			err = h(w, r, p)
		}
		if err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

// webchatHandler is a WebChat message endpoint: v is the widget visitor
// when the caller presented a visitor token, else nil.
type webchatHandler func(w http.ResponseWriter, r *http.Request, p authz.Principal, v *channel.Visitor) error

// webchat wraps the WebChat message endpoints, the only ones that accept
// a public chat widget's visitor token besides every credential authed
// accepts. A visitor is anonymous, so its API budget is its address's.
func (s *Server) webchat(h webchatHandler) http.Handler {
	user := s.authed(func(w http.ResponseWriter, r *http.Request, p authz.Principal) error { return h(w, r, p, nil) })
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, cred, _ := strings.Cut(r.Header.Get("Authorization"), " ")
		cred = strings.TrimSpace(cred)
		if !strings.EqualFold(scheme, "Bearer") || !authn.IsVisitorToken(cred) || len(r.Header.Values("Authorization")) > 1 {
			user.ServeHTTP(w, r) // which refuses two Authorization headers
			return
		}
		if !s.limit(w, r, "api:ip:"+clientNet(r, s.opts.TrustedProxies)) {
			return
		}
		v, err := s.deps.Channels.AuthenticateVisitor(r.Context(), cred)
		if err == nil {
			err = queryOnce(r)
		}
		if err == nil {
			err = h(w, r, v.Principal, &v)
		}
		if err != nil {
			writeError(w, r, s.log, err)
		}
	})
}

var errNoCredentials = apperr.New(apperr.Unauthenticated, "authentication required")

// errTwoCredentials answers a request with more than one Authorization
// header (a singleton field, RFC 9110 §11.6.2): which one a proxy, a log
// or the server reads would differ, so none is read. It is a malformed
// request (400), checked before any credential is, and limited by address
// like a request without credentials.
var errTwoCredentials = apperr.Field("Authorization", "must be sent once")

func (s *Server) authenticate(ctx context.Context, header string) (authz.Principal, error) {
	scheme, cred, found := strings.Cut(header, " ")
	if !found || !strings.EqualFold(scheme, "Bearer") || cred == "" || len(cred) > 4096 {
		return authz.Principal{}, errNoCredentials
	}
	return s.deps.Auth.Authenticate(ctx, strings.TrimSpace(cred))
}

// limit applies the API rate limit to key ("api:" + principal or IP), sets the X-RateLimit headers and,
// over the limit, answers 429. It reports whether the request may proceed.
func (s *Server) limit(w http.ResponseWriter, r *http.Request, key string) bool {
	return s.limitN(w, r, key, s.opts.APILimit, s.opts.APIWindow)
}

// limitN is limit with its own budget: n requests per window.
func (s *Server) limitN(w http.ResponseWriter, r *http.Request, key string, n int, window time.Duration) bool {
	d, err := s.deps.Limiter.Allow(r.Context(), key, n, window)
	if err != nil {
		// Limiters degrade internally (Redis falls back to memory); an
		// error here means no decision could be made: refuse.
		writeError(w, r, s.log, apperr.Wrap(err, apperr.Unavailable, "service temporarily unavailable"))
		return false
	}
	h := w.Header()
	// Canonical keys, so no canonicalisation copy ("X-RateLimit-Limit" is
	// not canonical); the values live in the statusWriter's array.
	sw, _ := w.(*statusWriter)
	setHeader(h, sw, hdrLimit, "X-Ratelimit-Limit", strconv.Itoa(d.Limit))
	setHeader(h, sw, hdrRemaining, "X-Ratelimit-Remaining", strconv.Itoa(d.Remaining))
	setHeader(h, sw, hdrReset, "X-Ratelimit-Reset", strconv.FormatInt(d.Reset.Unix(), 10))
	if d.Allowed {
		return true
	}
	e := apperr.New(apperr.RateLimited, "rate limit exceeded; retry later")
	e.RetryAfter = time.Until(d.Reset)
	if e.RetryAfter < time.Second {
		e.RetryAfter = time.Second
	}
	writeError(w, r, s.log, e)
	return false
}
