// Package gateway is Komand's HTTP API: the server with its timeouts, the
// middleware chain, the route table and the JSON handlers.
//
// Handlers decode → validate → call a domain service → render. They hold no
// SQL and make no authorization decision: the services call authz.Check and
// write audit entries, so the API, the dashboard and the channels share one
// set of checks. Every error leaves through one renderer (writeError) that
// logs the detail with the request ID and shows the client only the
// ApiResponse envelope with a stable code and a plain message.
package gateway

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/session"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/crm"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/user"
	"github.com/komand-ai/komand/internal/vault"
)

// Authenticator is what the gateway needs from authentication.
type Authenticator interface {
	Authenticate(ctx context.Context, bearer string) (authz.Principal, error)
	Login(ctx context.Context, email, password, clientIP string) (authn.Tokens, store.User, error)
	Refresh(ctx context.Context, refreshToken, clientIP string) (authn.Tokens, error)
	Logout(ctx context.Context, p authz.Principal) error
}

// Deps are the services behind the API.
type Deps struct {
	Auth        Authenticator
	Agents      *agent.Service
	Users       *user.Service
	APIKeys     *user.APIKeys
	AuditLog    *audit.Trail
	Sessions    *session.Service
	Guard       *session.Guard
	Memory      *agent.MemoryService
	Credentials *vault.Service
	Channels    *channel.Service
	Skills      *skill.Registry
	CRM         *crm.Service
	Limiter     ratelimit.Limiter
	// Ready reports whether the database answers; /ready asks it every
	// time.
	Ready func(ctx context.Context) error
	// Writable reports whether the database takes writes. It writes, so
	// /ready asks it at most once per ReadyCacheTTL.
	Writable func(ctx context.Context) error
}

// Options configure the server.
type Options struct {
	Version        string
	AllowedOrigin  func(origin string) bool
	TrustedProxies []netip.Prefix
	MaxBodyBytes   int64
	// MaxSkillPackageBytes is the body limit of POST /api/skills/
	// (default 96 MiB: a 64 MiB module in base64).
	MaxSkillPackageBytes int64
	APILimit             int
	APIWindow            time.Duration
	// StaticLimit is the budget per client address and API window for the
	// chat page's static files, apart from the API's (default 10×APILimit,
	// at least 1000).
	StaticLimit int
	AccessLog   bool
	// FrameAncestors are the origins that may frame the chat page
	// (Cors__AllowedOrigins).
	FrameAncestors []string
	// Timeouts of the http.Server; zero fields take the defaults below.
	Timeouts Timeouts
	// Pages are the operator console's routes (internal/console), mounted
	// in the one route table beside the API.
	Pages []Page
}

// Page is one route of the operator console: it sets its own security
// headers and renders its own errors (HTML, not the API envelope).
type Page struct {
	Method, Path string
	Handler      http.Handler
}

// Timeouts are the four http.Server timeouts.
type Timeouts struct {
	ReadHeader, Read, Write, Idle time.Duration
}

// Server serves the API.
type Server struct {
	deps      Deps
	opts      Options
	log       *slog.Logger
	handler   http.Handler
	readiness *readyCache
}

// New builds the server and its route table.
func New(deps Deps, opts Options, log *slog.Logger) *Server {
	if opts.MaxSkillPackageBytes <= 0 {
		opts.MaxSkillPackageBytes = 96 << 20
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.APILimit <= 0 {
		opts.APILimit = 100
	}
	if opts.APIWindow <= 0 {
		opts.APIWindow = time.Minute
	}
	if opts.StaticLimit <= 0 {
		opts.StaticLimit = max(10*opts.APILimit, 1000)
	}
	s := &Server{deps: deps, opts: opts, log: log, readiness: &readyCache{ping: deps.Ready, probe: deps.Writable, now: time.Now}}
	s.handler = s.outer(s.routes())
	return s
}

// Ready is the readiness check /ready reports (for the console's
// overview).
func (s *Server) Ready(ctx context.Context) error { return s.readiness.check(ctx) }

// ClientIP is the request's client address as the gateway sees it
// (trusted proxies applied).
func ClientIP(r *http.Request, trusted []netip.Prefix) string { return clientIP(r, trusted) }

// Handler returns the root handler (for tests and benchmarks).
func (s *Server) Handler() http.Handler { return s.handler }

// Timeouts of the http.Server: all four are set, so a slow client cannot
// hold a connection open indefinitely (Slowloris).
const (
	ReadHeaderTimeout = 5 * time.Second
	ReadTimeout       = 30 * time.Second
	WriteTimeout      = 60 * time.Second
	IdleTimeout       = 120 * time.Second
)

// httpServer is the http.Server Serve runs: all four timeouts set (the
// defaults unless Options.Timeouts says otherwise), bounded headers, and
// request contexts that outlive ctx so that in-flight requests finish.
func (s *Server) httpServer(ctx context.Context) *http.Server {
	t := s.opts.Timeouts
	return &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: cmp.Or(t.ReadHeader, ReadHeaderTimeout),
		ReadTimeout:       cmp.Or(t.Read, ReadTimeout),
		WriteTimeout:      cmp.Or(t.Write, WriteTimeout),
		IdleTimeout:       cmp.Or(t.Idle, IdleTimeout),
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
}

// Serve serves on ln until ctx ends, then shuts down gracefully: it stops
// accepting, lets in-flight requests finish (and their audit entries commit)
// for up to grace, and returns.
func (s *Server) Serve(ctx context.Context, ln net.Listener, grace time.Duration) error {
	srv := s.httpServer(ctx)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.log.Info("shutting down: finishing in-flight requests", "grace", grace.String())
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-errc; serr != nil && !errors.Is(serr, http.ErrServerClosed) {
		return serr
	}
	return err
}
