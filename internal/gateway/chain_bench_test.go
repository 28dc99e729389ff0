package gateway_test

// Benchmarks of the request path, in process (httptest.NewRecorder against
// the server's root handler, no network):
//
//   - BenchmarkBareHandler is the work of the endpoint alone: the same JSON
//     rendering (and, for agents, the same service call and store read)
//     without any middleware.
//   - BenchmarkFullChain is the same request through srv.Handler(): request
//     ID, security headers, CORS (an allowed Origin is sent), access log,
//     bearer authentication (API key or JWT, with its store lookups), rate
//     limit, routing, validation, RBAC and rendering. The chain's cost is
//     FullChain minus BareHandler for the same endpoint.
//   - BenchmarkAuthenticate isolates the authentication step and its store
//     queries, to show how much of the chain they are.
//   - BenchmarkNoiseFloor is pure computation of similar length: its p99 is
//     what the machine alone adds to a p99.
//
// Each benchmark times every iteration and reports p50-ns and p99-ns next
// to ns/op and allocs/op, plus cpu-ns/op (process CPU time per iteration). The server is wired by app.New exactly as
// `komand serve` wires it (apptest.Config, SQLite in a temp dir; PostgreSQL
// too when KOMAND_TEST_POSTGRES_DSN is set), except that the log goes to
// io.Discard at level info: the access-log line is formatted but not
// written, and no per-request debug line is kept in memory.
//
//	go test ./internal/gateway -run '^$' -bench 'BareHandler|FullChain|Authenticate|NoiseFloor' -benchmem

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/gateway"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

const (
	benchOrigin = "https://app.example.com"
	benchAgents = 5 // agents in the benchmark tenant (one page)
)

// benchEnv is a wired Komand with one tenant, an owner and a viewer, and a
// few agents.
type benchEnv struct {
	env      *apptest.Env
	app      *app.App
	srv      *gateway.Server
	tenant   string
	ownerID  string
	viewerID string
	jwt      string
	owner    authz.Principal // the owner, as an API key principal
}

func newBenchEnv(b *testing.B, kind string) *benchEnv {
	b.Helper()
	cfg := apptest.Config(b, kind)
	cfg.Cors.AllowedOrigins = []string{benchOrigin}
	// Every sub-benchmark uses a fresh API key, so the per-key fixed window
	// is never exhausted; every response's status is checked anyway.
	cfg.RateLimits.ApiPermitLimit = 1_000_000
	if err := cfg.Validate(); err != nil {
		b.Fatalf("config: %v", err)
	}
	log := logging.New(io.Discard, "info", "json")
	a, err := app.New(context.Background(), cfg, log, app.Options{PasswordParams: apptest.TestParams})
	if err != nil {
		b.Fatalf("app.New: %v", err)
	}
	b.Cleanup(func() {
		if err := a.Close(); err != nil {
			b.Errorf("app close: %v", err)
		}
	})
	srv, err := a.Server("bench")
	if err != nil {
		b.Fatalf("server: %v", err)
	}
	e := &benchEnv{env: &apptest.Env{T: b, App: a}, app: a, srv: srv}
	e.tenant = e.env.Tenant("bench")
	e.ownerID = e.env.User(e.tenant, "owner@example.com", "owner")
	e.viewerID = e.env.User(e.tenant, "viewer@example.com", "viewer")
	ctx := context.Background()
	toks, _, err := a.Auth.Login(ctx, "owner@example.com", apptest.Password, "127.0.0.1")
	if err != nil {
		b.Fatalf("login: %v", err)
	}
	e.jwt = toks.AccessToken
	e.owner, err = a.Auth.Authenticate(ctx, e.key(e.ownerID))
	if err != nil {
		b.Fatalf("authenticate: %v", err)
	}
	for i := range benchAgents {
		name, desc := fmt.Sprintf("Agent %d", i), "A benchmark agent"
		if _, err := a.Agents.Create(ctx, e.owner, agent.Input{
			AgentID: fmt.Sprintf("agent-%d", i), Name: &name, Description: &desc,
			EnabledSkillIDs: []string{"web-search", "calendar"}, AllowedChannels: []string{"WebChat", "Slack"},
		}); err != nil {
			b.Fatalf("create agent: %v", err)
		}
	}
	return e
}

// key creates a new API key for userID (a fresh rate-limit bucket).
func (e *benchEnv) key(userID string) string { return e.env.APIKey(e.tenant, userID) }

// get returns a GET request with a bearer credential and an allowed Origin.
func get(path, bearer string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if bearer != "" {
		r.Header.Set("Authorization", "Bearer "+bearer)
	}
	r.Header.Set("Origin", benchOrigin)
	return r
}

// measure runs do once per iteration, timing each, and reports p50-ns and
// p99-ns alongside ns/op and allocs/op, and cpu-ns/op: the process's
// user+system CPU time per iteration (all goroutines, GC included), which
// other load on the machine does not inflate.
func measure(b *testing.B, do func()) {
	b.Helper()
	ds := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		t0 := time.Now()
		do()
		ds = append(ds, time.Since(t0))
	}
	if cpu := processCPU() - cpu0; cpu > 0 && len(ds) > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(len(ds)), "cpu-ns/op")
	}
	reportLatency(b, ds)
}

func reportLatency(b *testing.B, ds []time.Duration) {
	if len(ds) == 0 {
		return
	}
	slices.Sort(ds)
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Nanoseconds()) }
	b.ReportMetric(q(0.50), "p50-ns")
	b.ReportMetric(q(0.99), "p99-ns")
}

// serve runs h for req into a fresh recorder and checks the status.
func serve(b *testing.B, h http.Handler, req *http.Request, want int) {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s: got %d, want %d: %s", req.Method, req.URL.Path, rec.Code, want, rec.Body.Bytes())
	}
}

// Local copies of the gateway's response shapes, so that the bare handlers
// render the same bytes the real handlers do.
type benchEnvelope struct {
	Success   bool    `json:"success"`
	Data      any     `json:"data"`
	Error     *string `json:"error"`
	Code      string  `json:"code,omitempty"`
	RequestID string  `json:"requestId,omitempty"`
	Meta      *struct {
		Total    int `json:"total"`
		Page     int `json:"page"`
		PageSize int `json:"pageSize"`
	} `json:"meta"`
}

type benchPrincipal struct {
	ID       string `json:"id"`
	TenantID string `json:"tenantId"`
	Email    string `json:"email"`
	Name     string `json:"name"`
	Role     string `json:"role"`
	Initials string `json:"initials"`
	APIKeyID string `json:"apiKeyId,omitempty"`
}

type benchAgent struct {
	AgentID          string    `json:"agentId"`
	Name             string    `json:"name"`
	Description      *string   `json:"description"`
	SystemPrompt     string    `json:"systemPrompt"`
	ModelProvider    string    `json:"modelProvider"`
	ModelID          string    `json:"modelId"`
	MaxContextTokens int       `json:"maxContextTokens"`
	EnabledSkillIDs  []string  `json:"enabledSkillIds"`
	AllowedChannels  []string  `json:"allowedChannels"`
	OwnerID          string    `json:"ownerId"`
	CreatedAt        time.Time `json:"createdAt"`
	UpdatedAt        time.Time `json:"updatedAt"`
}

func writeBench(w http.ResponseWriter, v benchEnvelope) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(true)
	_ = enc.Encode(v)
}

// bareMe is GET /api/auth/me without middleware: render a principal.
func bareMe(p authz.Principal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeBench(w, benchEnvelope{Success: true, Data: benchPrincipal{
			ID: p.UserID, TenantID: p.TenantID, Email: p.Email, Name: p.Name,
			Role: string(p.Role), Initials: "OW", APIKeyID: p.APIKeyID,
		}})
	})
}

// bareAgents is GET /api/agents/ without middleware: the service call (RBAC
// check, pagination validation, store read) and the rendering.
func bareAgents(b *testing.B, svc *agent.Service, p authz.Principal) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pg := store.Page{Page: validate.DefaultPage, PageSize: validate.DefaultPerPage}
		as, total, err := svc.List(r.Context(), p, pg)
		if err != nil {
			b.Fatalf("list: %v", err)
		}
		out := make([]benchAgent, len(as))
		for i, a := range as {
			out[i] = benchAgent{AgentID: a.AgentID, Name: a.Name, Description: a.Description,
				SystemPrompt: a.SystemPrompt, ModelProvider: a.ModelProvider, ModelID: a.ModelID,
				MaxContextTokens: a.MaxContextTokens, EnabledSkillIDs: a.EnabledSkillIDs,
				AllowedChannels: a.AllowedChannels, OwnerID: a.OwnerID, CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt}
		}
		env := benchEnvelope{Success: true, Data: out}
		env.Meta = &struct {
			Total    int `json:"total"`
			Page     int `json:"page"`
			PageSize int `json:"pageSize"`
		}{total, pg.Page, pg.PageSize}
		writeBench(w, env)
	})
}

// tuneGCAsServe sets the garbage collector as `komand serve` does
// (app.TuneGC) for the rest of the benchmark, and restores it afterwards.
func tuneGCAsServe(b *testing.B) {
	prev := debug.SetGCPercent(-1)
	debug.SetGCPercent(prev)
	b.Cleanup(func() { debug.SetGCPercent(prev) })
	app.TuneGC(os.Environ())
}

// forEachBenchStore runs f on each store kind with the garbage collector
// tuned as `komand serve` tunes it (app.TuneGC: GOGC=400 unless GOGC is set
// in the environment), so the numbers describe the server as it runs; run
// with GOGC=100 to see Go's default.
func forEachBenchStore(b *testing.B, f func(b *testing.B, e *benchEnv)) {
	tuneGCAsServe(b)
	for _, kind := range apptest.Kinds() {
		b.Run(kind, func(b *testing.B) { f(b, newBenchEnv(b, kind)) })
	}
}

// BenchmarkBareHandler is the baseline: the endpoints' own work, no
// middleware.
func BenchmarkBareHandler(b *testing.B) {
	forEachBenchStore(b, func(b *testing.B, e *benchEnv) {
		b.Run("static", func(b *testing.B) {
			h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json; charset=utf-8")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, `{"success":true,"data":null,"error":null,"meta":null}`+"\n")
			})
			req := get("/api/auth/me", "")
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		b.Run("me", func(b *testing.B) {
			h, req := bareMe(e.owner), get("/api/auth/me", "")
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		b.Run("agents", func(b *testing.B) {
			h, req := bareAgents(b, e.app.Agents, e.owner), get("/api/agents/", "")
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
	})
}

// cachedAuth answers Authenticate for one known bearer from memory, so the
// chain can be measured without authentication's store queries.
type cachedAuth struct {
	gateway.Authenticator
	bearer string
	p      authz.Principal
}

func (c cachedAuth) Authenticate(ctx context.Context, bearer string) (authz.Principal, error) {
	if bearer == c.bearer {
		return c.p, nil
	}
	return c.Authenticator.Authenticate(ctx, bearer)
}

// serverWith builds a server over e's services as app.Server does, with
// auth replaced and the access log on or off.
func (e *benchEnv) serverWith(auth gateway.Authenticator, accessLog bool) *gateway.Server {
	a := e.app
	return gateway.New(gateway.Deps{
		Auth: auth, Agents: a.Agents, Users: a.Users, AuditLog: a.AuditLog,
		Limiter: a.Limiter, Ready: a.Store.Ping,
	}, gateway.Options{
		Version:       "bench",
		AllowedOrigin: a.Config.AllowedOrigin,
		MaxBodyBytes:  a.Config.Server.MaxBodyBytes,
		APILimit:      a.Config.RateLimits.ApiPermitLimit,
		APIWindow:     a.Config.RateLimits.ApiWindow(),
		AccessLog:     accessLog,
	}, a.Log)
}

// BenchmarkFullChain sends the same requests through srv.Handler().
//
//   - me-*: GET /api/auth/me (authentication + rate limit + render; no
//     store read besides authentication's).
//   - agents-*: GET /api/agents/ (adds RBAC, pagination validation and the
//     agents store read).
//   - *-cachedauth: authentication answered from memory; what remains is
//     the middleware itself. *-nolog also turns the access log off.
//   - unauthenticated: no credential; limited by client IP, then 401.
//   - denied-write: a viewer's POST /api/agents/: body decode, validation,
//     RBAC denial and a durable PermissionDenied audit entry (the audit
//     path of the chain; one group commit per request, as nothing else is
//     in flight).
func BenchmarkFullChain(b *testing.B) {
	forEachBenchStore(b, func(b *testing.B, e *benchEnv) {
		h := e.srv.Handler()
		b.Run("me-apikey", func(b *testing.B) {
			req := get("/api/auth/me", e.key(e.ownerID))
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		b.Run("me-jwt", func(b *testing.B) {
			req := get("/api/auth/me", e.jwt)
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		b.Run("agents-apikey", func(b *testing.B) {
			req := get("/api/agents/", e.key(e.ownerID))
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		b.Run("agents-jwt", func(b *testing.B) {
			req := get("/api/agents/", e.jwt)
			measure(b, func() { serve(b, h, req, http.StatusOK) })
		})
		for _, log := range []bool{true, false} {
			suffix := ""
			if !log {
				suffix = "-nolog"
			}
			b.Run("me-cachedauth"+suffix, func(b *testing.B) {
				key := e.key(e.ownerID)
				p, err := e.app.Auth.Authenticate(context.Background(), key)
				if err != nil {
					b.Fatal(err)
				}
				h := e.serverWith(cachedAuth{Authenticator: e.app.Auth, bearer: key, p: p}, log).Handler()
				req := get("/api/auth/me", key)
				measure(b, func() { serve(b, h, req, http.StatusOK) })
			})
			b.Run("agents-cachedauth"+suffix, func(b *testing.B) {
				key := e.key(e.ownerID)
				p, err := e.app.Auth.Authenticate(context.Background(), key)
				if err != nil {
					b.Fatal(err)
				}
				h := e.serverWith(cachedAuth{Authenticator: e.app.Auth, bearer: key, p: p}, log).Handler()
				req := get("/api/agents/", key)
				measure(b, func() { serve(b, h, req, http.StatusOK) })
			})
		}
		b.Run("unauthenticated", func(b *testing.B) {
			req := get("/api/agents/", "")
			// A distinct client address per sub-benchmark run: the IP
			// bucket is fresh.
			req.RemoteAddr = fmt.Sprintf("192.0.2.%d:1234", 1+time.Now().UnixNano()%250)
			measure(b, func() { serve(b, h, req, http.StatusUnauthorized) })
		})
		b.Run("denied-write", func(b *testing.B) {
			key := e.key(e.viewerID)
			body := []byte(`{"agentId":"not-allowed","name":"Not allowed"}`)
			rd := bytes.NewReader(body)
			req := get("/api/agents/", key)
			req.Method = http.MethodPost
			req.Header.Set("Content-Type", "application/json")
			measure(b, func() {
				rd.Reset(body)
				req.Body = io.NopCloser(rd)
				req.ContentLength = int64(len(body))
				serve(b, h, req, http.StatusForbidden)
			})
		})
	})
}

// BenchmarkAuthenticate is the authentication step alone, and its store
// queries one by one.
func BenchmarkAuthenticate(b *testing.B) {
	forEachBenchStore(b, func(b *testing.B, e *benchEnv) {
		ctx := context.Background()
		key := e.key(e.ownerID)
		hash := authn.HashToken(key)
		b.Run("apikey", func(b *testing.B) {
			measure(b, func() {
				if _, err := e.app.Auth.Authenticate(ctx, key); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("jwt", func(b *testing.B) {
			measure(b, func() {
				if _, err := e.app.Auth.Authenticate(ctx, e.jwt); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("store-TenantIDByAPIKeyHash", func(b *testing.B) {
			measure(b, func() {
				if _, err := e.app.Store.TenantIDByAPIKeyHash(ctx, hash); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("store-AuthenticateAPIKey", func(b *testing.B) {
			measure(b, func() {
				if _, _, err := e.app.Store.AuthenticateAPIKey(ctx, e.tenant, hash); err != nil {
					b.Fatal(err)
				}
			})
		})
		b.Run("HashToken", func(b *testing.B) {
			measure(b, func() {
				if !strings.HasPrefix(authn.HashToken(key), hash[:4]) {
					b.Fatal("hash changed")
				}
			})
		})
	})
}

// BenchmarkNoiseFloor is a fixed amount of pure computation (SHA-256 of 16
// KiB, no allocation, no I/O) of about the chain's own cost. Its p99 shows
// how much of a p99 comes from the machine (preemption by other processes,
// timer and scheduler noise) rather than from the code under test.
func BenchmarkNoiseFloor(b *testing.B) {
	buf := make([]byte, 16<<10)
	var sum [sha256.Size]byte
	measure(b, func() { sum = sha256.Sum256(buf) })
	_ = sum
}
