// Package apptest starts a fully wired Komand (app.New + the HTTP server)
// for end-to-end tests, on SQLite or on a fresh PostgreSQL database, and
// gives tests tenants, users and credentials to work with.
package apptest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/store/pgtest"
	"github.com/komand-ai/komand/internal/store/postgres"
	"github.com/komand-ai/komand/internal/user"
)

// Password is the password of every user Env creates.
const Password = "correct horse battery staple"

// Kinds returns the store kinds to run end-to-end tests on: sqlite always,
// postgres when KOMAND_TEST_POSTGRES_DSN is set.
func Kinds() []string {
	if pgtest.Enabled() {
		return []string{"sqlite", "postgres"}
	}
	return []string{"sqlite"}
}

// Env is a running Komand.
type Env struct {
	T      testing.TB
	App    *app.App
	Server *httptest.Server
	logs   *syncBuffer
	closed sync.Once
}

// Config returns the test configuration for kind: loopback, a temp data
// dir, a random JWT key and vault KEK, generous rate limits, and the
// sandbox's compiled-module cache shared by every test process
// (sandboxtest.CompileCacheDir), so a skill module is compiled once per
// machine, not once per test.
func Config(t testing.TB, kind string) config.Config {
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Sandbox.CacheDir = sandboxtest.CompileCacheDir(t)
	var k [32]byte
	_, _ = rand.Read(k[:])
	cfg.Jwt.SecretKey = hex.EncodeToString(k[:])
	_, _ = rand.Read(k[:])
	cfg.Vault.Kek = hex.EncodeToString(k[:])
	cfg.RateLimits.ApiPermitLimit = 100000
	if kind == "postgres" {
		if templates.Load() {
			cfg.ConnectionStrings.Komand = pgtest.FreshDSNFrom(t, "migrated", migrate)
		} else {
			cfg.ConnectionStrings.Komand = pgtest.FreshDSN(t)
		}
	}
	return cfg
}

// templates is set by Main: fresh PostgreSQL databases are copies of one
// migrated once per test process.
var templates atomic.Bool

// Main runs a test package's tests (call it from TestMain) with each
// fresh PostgreSQL database a copy of one migrated once, instead of an
// empty database the app migrates at start-up; it drops that template at
// the end. Without it every start migrates its own database.
func Main(m *testing.M) int {
	templates.Store(true)
	defer pgtest.DropTemplates()
	return m.Run()
}

func migrate(ctx context.Context, dsn string) error {
	s, err := postgres.Open(ctx, dsn)
	if err != nil {
		return err
	}
	s.Close()
	return nil
}

// New starts Komand on kind with cfg adjusted by mutate (may be nil).
func New(t testing.TB, kind string, mutate func(*config.Config)) *Env {
	t.Helper()
	return NewWith(t, kind, mutate, app.Options{})
}

// NewWith is New with wiring options (PasswordParams defaults to
// TestParams).
func NewWith(t testing.TB, kind string, mutate func(*config.Config), o app.Options) *Env {
	t.Helper()
	if o.PasswordParams == (authn.Params{}) {
		o.PasswordParams = TestParams
	}
	cfg := Config(t, kind)
	if mutate != nil {
		mutate(&cfg)
	}
	return Start(t, cfg, o)
}

// Start runs Komand on cfg as it is (two Starts on one PostgreSQL DSN are
// two replicas sharing a database).
func Start(t testing.TB, cfg config.Config, o app.Options) *Env {
	t.Helper()
	if o.PasswordParams == (authn.Params{}) {
		o.PasswordParams = TestParams
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("config: %v", err)
	}
	logs := &syncBuffer{}
	if o.Secrets == nil {
		o.Secrets = app.LogSecrets(cfg)
	}
	log := logging.NewRedacting(logs, "debug", "json", o.Secrets)
	a, err := app.New(context.Background(), cfg, log, o)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	srv, err := a.Server("test")
	if err != nil {
		t.Fatalf("server: %v", err)
	}
	hs := httptest.NewServer(srv.Handler())
	e := &Env{T: t, App: a, Server: hs, logs: logs}
	t.Cleanup(e.Close)
	return e
}

// Close stops the server and closes the app, as a shutdown does (the
// test's cleanup does it otherwise); a restart test then Starts a new Env
// on the same configuration.
func (e *Env) Close() {
	e.closed.Do(func() {
		e.Server.Close()
		if err := e.App.Close(); err != nil {
			e.T.Errorf("app close: %v", err)
		}
	})
}

// Logs returns everything the server has logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Tenant creates a tenant and returns its ID.
func (e *Env) Tenant(slug string) string {
	e.T.Helper()
	tn, err := e.App.Tenants.Create(context.Background(), slug, "")
	if err != nil {
		e.T.Fatalf("create tenant %s: %v", slug, err)
	}
	return tn.ID
}

// User creates a user with role in tenantID and returns its ID.
func (e *Env) User(tenantID, email, role string) string {
	e.T.Helper()
	u, err := e.App.Users.Bootstrap(context.Background(), tenantID, user.CreateInput{
		Email: email, Role: role, Password: Password,
	})
	if err != nil {
		e.T.Fatalf("create user %s: %v", email, err)
	}
	return u.ID
}

// APIKey creates an API key acting as userID.
func (e *Env) APIKey(tenantID, userID string) string {
	e.T.Helper()
	key, _, err := e.App.Auth.CreateAPIKey(context.Background(), tenantID, userID, "test key", "test")
	if err != nil {
		e.T.Fatalf("create API key: %v", err)
	}
	return key
}

// Response is a decoded API response.
type Response struct {
	Status  int
	Header  http.Header
	Body    []byte
	Success bool            `json:"success"`
	Data    json.RawMessage `json:"data"`
	Error   *string         `json:"error"`
	Code    string          `json:"code"`
	ReqID   string          `json:"requestId"`
	Meta    *struct {
		Total       int    `json:"total"`
		TotalCapped bool   `json:"totalCapped"`
		Page        int    `json:"page"`
		PageSize    int    `json:"pageSize"`
		NextCursor  string `json:"nextCursor"`
	} `json:"meta"`
}

// Do sends a request with an optional bearer token and body (a string is
// sent as is, anything else as JSON) and decodes the envelope.
func (e *Env) Do(method, path, token string, body any, headers ...string) *Response {
	e.T.Helper()
	var r io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
		ct = "application/json"
	case []byte:
		r = bytes.NewReader(b)
		ct = "application/json"
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.T.Fatalf("marshal: %v", err)
		}
		r = bytes.NewReader(j)
		ct = "application/json"
	}
	req, err := http.NewRequest(method, e.Server.URL+path, r)
	if err != nil {
		e.T.Fatalf("request: %v", err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := e.Server.Client().Do(req)
	if err != nil {
		e.T.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: raw}
	if len(raw) > 0 && strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		if err := json.Unmarshal(raw, out); err != nil {
			e.T.Fatalf("%s %s: response is not JSON: %v: %s", method, path, err, raw)
		}
	}
	return out
}

// Login logs a user in and returns the access and refresh tokens.
func (e *Env) Login(email string) (access, refresh string) {
	e.T.Helper()
	r := e.Do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": Password})
	if r.Status != 200 {
		e.T.Fatalf("login %s: %d %s", email, r.Status, r.Body)
	}
	var d struct {
		Token        string `json:"token"`
		RefreshToken string `json:"refreshToken"`
	}
	if err := json.Unmarshal(r.Data, &d); err != nil {
		e.T.Fatalf("login data: %v", err)
	}
	return d.Token, d.RefreshToken
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestParams are cheap argon2id parameters so tests don't spend seconds
// hashing; production uses authn.DefaultParams.
var TestParams = authn.Params{Memory: 1024, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}

// ReqIDHeader returns the X-Request-Id response header.
func (r *Response) ReqIDHeader() string { return r.Header.Get("X-Request-Id") }
