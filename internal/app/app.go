// Package app wires Komand together from a Config: it opens the store,
// starts the audit writer, builds the services and the HTTP server. The CLI
// (serve and the administrative commands) and the end-to-end tests use it,
// so they run exactly the same wiring.
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/komand-ai/komand/internal/console"
	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/injection"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/tool"

	"github.com/redis/go-redis/v9"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/crm"
	"github.com/komand-ai/komand/internal/gateway"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/postgres"
	"github.com/komand-ai/komand/internal/store/sqlite"
	"github.com/komand-ai/komand/internal/tenant"
	"github.com/komand-ai/komand/internal/user"
	"github.com/komand-ai/komand/internal/vault"
)

// SQLiteFile is the embedded database's file name inside the data dir.
const SQLiteFile = "komand.db"

// App is a wired Komand instance.
type App struct {
	Config   config.Config
	Log      *slog.Logger
	Store    store.Store
	Audit    *audit.Writer
	Authz    *authz.Authorizer
	Auth     *authn.Service
	Agents   *agent.Service
	Users    *user.Service
	APIKeys  *user.APIKeys
	Tenants  *tenant.Service
	AuditLog *audit.Trail
	Memory   *agent.MemoryService
	Vault    *vault.Vault
	Secrets  *vault.Service // the credential vault's API
	Sessions *session.Service
	Guard    *session.Guard
	Channels *channel.Service
	Skills   *skill.Registry
	CRM      *crm.Service
	Tools    *tool.Runtime
	WASM     *sandbox.WASM
	Limiter  ratelimit.Limiter
	Console  *console.Console

	redis  *redis.Client
	docker *sandbox.Docker // closed with the app when Sandbox__Container=docker
	// stopDelivery cancels the outbox's delivery worker and waits for it.
	stopDelivery func()
}

// Options adjust wiring for tests and benchmarks.
type Options struct {
	// PasswordParams overrides the argon2id parameters (tests use cheap
	// ones). Zero means the production defaults.
	PasswordParams authn.Params
	Now            func() time.Time
	// AuthCacheTTL bounds how long a successful authentication is reused
	// (see authn/cache.go). Zero means DefaultAuthCacheTTL; negative
	// disables the cache.
	AuthCacheTTL time.Duration
	// RedisPrefix namespaces rate-limit keys in Redis; default "komand:".
	RedisPrefix string
	// Providers are the model providers by name ("anthropic", "openai");
	// an agent whose provider is absent answers that none is configured.
	Providers map[string]llm.Provider
	// Screener replaces the prompt-injection detector (tests of the
	// deterministic controls use one that finds nothing). Nil means the
	// embedded detector.
	Screener session.Screener
	// Secrets is the set of secret values the logger redacts (see
	// LogSecrets); credential values join it as the vault sees them.
	Secrets *logging.Secrets
	// AzureKeyVaultHTTPClient, when set, carries the Azure Key Vault
	// source's requests (sign-in and reads); tests give it a local
	// server's TLS trust. Nil means a default client.
	AzureKeyVaultHTTPClient *http.Client
	// DeliveryTicks, when set, paces the outbox's delivery worker instead
	// of Channels__Delivery__PollInterval; tests give a channel they
	// control and call Channels.DeliverDue themselves.
	DeliveryTicks <-chan time.Time
}

// LogSecrets returns the platform's secrets from cfg (JWT key, vault
// KEKs, provider keys, database and Redis passwords) as a set for
// logging.NewRedacting, so that none of them can reach a log line.
func LogSecrets(cfg config.Config) *logging.Secrets {
	s := logging.NewSecrets()
	for _, v := range []string{cfg.Jwt.SecretKey, cfg.Vault.Kek, cfg.Providers.Anthropic.ApiKey, cfg.Providers.OpenAI.ApiKey,
		config.DSNPassword(cfg.ConnectionStrings.Komand), config.DSNPassword(cfg.ConnectionStrings.Redis),
		cfg.SecretManagers.HashiCorpVault.Token, cfg.SecretManagers.HashiCorpVault.SecretId,
		cfg.SecretManagers.AwsSecretsManager.SecretAccessKey, cfg.SecretManagers.AwsSecretsManager.SessionToken,
		cfg.SecretManagers.AzureKeyVault.ClientSecret} {
		s.Pin(v)
	}
	for _, v := range cfg.Vault.PreviousKEKList() {
		s.Pin(v)
	}
	return s
}

// OpenStore opens the store the configuration names: PostgreSQL when
// ConnectionStrings.Komand is set, otherwise SQLite in the data dir.
func OpenStore(ctx context.Context, cfg config.Config) (store.Store, error) {
	if cfg.ConnectionStrings.Komand != "" {
		st, err := postgres.Open(ctx, cfg.ConnectionStrings.Komand)
		if err != nil {
			return nil, fmt.Errorf("opening PostgreSQL store: %w", err)
		}
		return st, nil
	}
	if err := os.MkdirAll(cfg.Server.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating data dir: %w", err)
	}
	st, err := sqlite.Open(ctx, filepath.Join(cfg.Server.DataDir, SQLiteFile))
	if err != nil {
		return nil, fmt.Errorf("opening SQLite store: %w", err)
	}
	return st, nil
}

// New opens the store and builds every service. cfg must be validated and
// have its keys loaded. Each subsystem has its own builder below, in
// dependency order; whatever fails, everything built so far is closed by
// the one cleanup path (Close, which skips what was never built).
func New(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (_ *App, err error) {
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a := &App{Config: cfg, Log: log, Store: st}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	w := &wiring{cfg: cfg, log: log, o: o, now: now}
	for _, build := range []func(context.Context, *wiring) error{
		a.buildAudit, a.buildLimiters, a.buildIdentity, a.buildVault,
		a.buildSandboxes, a.buildSkills, a.buildSessions, a.buildChannels, a.buildConsole,
	} {
		if err := build(ctx, w); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Screener is the server's prompt-injection detector: the embedded one,
// combined with the external classifier when Injection__ClassifierUrl is
// set.
func Screener(cfg config.Config, log *slog.Logger) session.Screener {
	d := injection.New(injection.Options{})
	if cfg.Injection.ClassifierUrl == "" {
		return d
	}
	log.Info("external prompt-injection classifier enabled", "url", cfg.Injection.ClassifierUrl)
	return &injection.Combined{Local: d, Log: log, Remote: &injection.Remote{URL: cfg.Injection.ClassifierUrl,
		APIKey: cfg.Injection.ClassifierApiKey, Timeout: cfg.Injection.ClassifierTimeout,
		Client: &http.Client{Timeout: cfg.Injection.ClassifierTimeout}}}
}

// Providers builds the model providers the configuration sets up. A model
// call has its own deadline (the turn's), so the HTTP client sets none
// beyond the dial and header timeouts.
func Providers(cfg config.Config) map[string]llm.Provider {
	out := map[string]llm.Provider{}
	client := func() *http.Client {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.ResponseHeaderTimeout = cfg.Agents.TurnTimeout
		return &http.Client{Transport: tr}
	}
	if p := cfg.Providers.Anthropic; p.Configured() {
		out["anthropic"] = &llm.Anthropic{BaseURL: cmp.Or(p.BaseUrl, config.DefaultAnthropicBaseURL), APIKey: p.ApiKey, Client: client()}
	}
	if p := cfg.Providers.OpenAI; p.Configured() {
		out["openai"] = &llm.OpenAI{BaseURL: cmp.Or(p.BaseUrl, config.DefaultOpenAIBaseURL), APIKey: p.ApiKey, Client: client()}
	}
	return out
}

// Server builds the HTTP server over the app's services.
func (a *App) Server(version string) (*gateway.Server, error) {
	return a.ServerWith(version, gateway.Timeouts{})
}

// ServerWith is Server with explicit http.Server timeouts (zero fields take
// the gateway's defaults).
func (a *App) ServerWith(version string, t gateway.Timeouts) (*gateway.Server, error) {
	proxies, err := a.Config.TrustedProxyPrefixes()
	if err != nil {
		return nil, err
	}
	cfg := a.Config
	if a.Console == nil {
		return nil, errors.New("app: console not built")
	}
	pages := make([]gateway.Page, 0, 8)
	for _, rt := range a.Console.Routes() {
		pages = append(pages, gateway.Page{Method: rt.Method, Path: rt.Path, Handler: rt.Handler})
	}
	srv := gateway.New(gateway.Deps{
		Auth: a.Auth, Agents: a.Agents, Users: a.Users, APIKeys: a.APIKeys, AuditLog: a.AuditLog,
		Sessions: a.Sessions, Guard: a.Guard, Memory: a.Memory, Credentials: a.Secrets, Channels: a.Channels, Skills: a.Skills, CRM: a.CRM,
		Limiter: a.Limiter, Ready: a.Store.Ping, Writable: a.Store.Writable,
	}, gateway.Options{
		Version:        version,
		AllowedOrigin:  cfg.AllowedOrigin,
		TrustedProxies: proxies,
		MaxBodyBytes:   cfg.Server.MaxBodyBytes,
		APILimit:       cfg.RateLimits.ApiPermitLimit,
		APIWindow:      cfg.RateLimits.ApiWindow(),
		AccessLog:      true,
		FrameAncestors: cfg.Cors.AllowedOrigins,
		Timeouts:       t,
		Pages:          pages,
	}, a.Log)
	a.Console.SetReady(srv.Ready)
	return srv, nil
}

// Close stops the delivery worker (its in-flight deliveries are released
// for the next process), waits for replies being answered, drains the
// audit writer (no accepted entry is lost) and closes the store and Redis
// client.
func (a *App) Close() error {
	var errs []error
	if a.stopDelivery != nil {
		a.stopDelivery()
	}
	if a.Channels != nil {
		a.Channels.Wait()
	}
	if a.Secrets != nil {
		a.Secrets.Close()
	}
	if a.Audit != nil {
		errs = append(errs, a.Audit.Close())
	}
	if a.WASM != nil {
		errs = append(errs, a.WASM.Close(context.Background()))
	}
	if a.docker != nil {
		errs = append(errs, a.docker.Close())
	}
	if a.redis != nil {
		errs = append(errs, a.redis.Close())
	}
	if a.Store != nil {
		errs = append(errs, a.Store.Close())
	}
	return errors.Join(errs...)
}

// containerRuntime starts the container skill backend cfg selects:
// bubblewrap, or the Docker Engine at Sandbox__DockerHost.
func (a *App) containerRuntime(ctx context.Context, cfg config.Config, egress *egress.Broker) (sandbox.ContainerRuntime, error) {
	maxMem := uint64(cfg.Sandbox.MaxMemoryMb) << 20
	if cfg.Sandbox.Container == "docker" {
		d, err := sandbox.NewDocker(ctx, sandbox.DockerOptions{Host: cfg.Sandbox.DockerHost, TempDir: cfg.Sandbox.TempDir,
			MaxConcurrent: cfg.Sandbox.MaxConcurrent, Egress: egress, MaxMemory: maxMem})
		if err != nil {
			return nil, err
		}
		a.docker = d
		return d, nil
	}
	c, err := sandbox.NewContainer(sandbox.ContainerOptions{TempDir: cfg.Sandbox.TempDir,
		MaxConcurrent: cfg.Sandbox.MaxConcurrent, Egress: egress, MaxMemory: maxMem})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// DefaultAuthCacheTTL is how long one process reuses a successful
// authentication. Changes made through this process apply at once; changes
// made by another replica apply within this time.
const DefaultAuthCacheTTL = 2 * time.Second

func authCacheTTL(o Options) time.Duration {
	switch {
	case o.AuthCacheTTL < 0:
		return 0
	case o.AuthCacheTTL == 0:
		return DefaultAuthCacheTTL
	}
	return o.AuthCacheTTL
}
