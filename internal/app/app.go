// Package app wires Komand together from a Config: it opens the store,
// starts the audit writer, builds the services and the HTTP server. The CLI
// (serve and the administrative commands) and the end-to-end tests use it,
// so they run exactly the same wiring.
package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"github.com/komand-ai/komand/internal/injection"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/skill"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/auditlog"
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
	Tenants  *tenant.Service
	AuditLog *auditlog.Service
	Memory   *agent.MemoryService
	Vault    *vault.Vault
	Secrets  *vault.Service // the credential vault's API
	Sessions *session.Service
	Guard    *session.Guard
	Channels *channel.Service
	Skills   *skill.Registry
	CRM      *crm.Service
	Tools    *skill.Runtime
	WASM     *sandbox.WASM
	Limiter  ratelimit.Limiter

	redis  *redis.Client
	docker *sandbox.Docker // closed with the app when Sandbox__Container=docker
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
// have its keys loaded.
func New(ctx context.Context, cfg config.Config, log *slog.Logger, o Options) (*App, error) {
	st, err := OpenStore(ctx, cfg)
	if err != nil {
		return nil, err
	}
	a := &App{Config: cfg, Log: log, Store: st}
	// Services use the watched store: every identity change they make
	// (role, deactivation, revocation, logout) empties the authentication
	// cache of this process at once.
	gen := &authn.Generation{}
	wst := authn.WatchStore(st, gen)
	now := o.Now
	if now == nil {
		now = time.Now
	}
	a.Audit = audit.NewWriter(st, audit.Options{Logger: log, Now: now})

	// Login throttling gets its own limiter, so a flood of API requests
	// from many addresses cannot fill the shared table and lock every
	// login out (and vice versa).
	mem := ratelimit.NewMemory(cfg.RateLimits.MaxKeys, now)
	loginMem := ratelimit.NewMemory(cfg.RateLimits.MaxKeys, now)
	a.Limiter = mem
	var loginLimiter ratelimit.Limiter = loginMem
	if cfg.ConnectionStrings.Redis != "" {
		ropts, err := redis.ParseURL(cfg.ConnectionStrings.Redis)
		if err != nil {
			_ = a.Close()
			return nil, errors.New("ConnectionStrings__Redis is not a valid Redis URL")
		}
		// Short timeouts and no retries: on a Redis outage the limiter
		// falls back to in-process windows at once instead of adding
		// seconds to every request.
		ropts.DialTimeout = 200 * time.Millisecond
		ropts.ReadTimeout = 200 * time.Millisecond
		ropts.WriteTimeout = 200 * time.Millisecond
		ropts.DialerRetries = 1
		ropts.MaxRetries = -1
		a.redis = redis.NewClient(ropts)
		prefix := o.RedisPrefix
		if prefix == "" {
			prefix = "komand:"
		}
		a.Limiter = ratelimit.NewRedis(a.redis, prefix+"rl:", mem, log)
		loginLimiter = ratelimit.NewRedis(a.redis, prefix+"login:", loginMem, log)
	}

	a.Authz = authz.New(a.Audit)
	a.Auth, err = authn.New(authn.Options{
		Store: wst, Audit: a.Audit, Limiter: loginLimiter,
		JWTKey: []byte(cfg.Jwt.SecretKey), Issuer: cfg.Jwt.Issuer, Audience: cfg.Jwt.Audience,
		AccessTTL: cfg.Jwt.AccessTokenTTL(), RefreshTTL: cfg.Jwt.RefreshTokenTTL(),
		Params: o.PasswordParams, Now: now, Logger: log,
		CacheTTL: authCacheTTL(o), Generation: gen,
	})
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.Agents = agent.New(wst, a.Authz, a.Audit, now)
	a.Users = user.New(wst, a.Authz, a.Audit, a.Auth.HashPassword, authn.NewInviteToken, now)
	a.Tenants = tenant.New(wst, a.Audit, now)
	a.AuditLog = auditlog.New(wst, a.Authz)
	a.Memory = agent.NewMemory(wst, wst, a.Authz, a.Audit, now)
	kek, previous, err := cfg.Vault.KEKs()
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	ring, err := vault.NewKeyring(kek, previous...)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.Vault = vault.New(wst, ring, now)
	a.Secrets = vault.NewService(wst, a.Vault, a.Authz, a.Audit, o.Secrets, now)
	a.Secrets.SetLogger(log)
	if h := cfg.SecretManagers.HashiCorpVault; h.Address != "" {
		hc, err := vault.NewHashiCorp(vault.HashiCorpOptions{Address: h.Address, Token: h.Token, RoleID: h.RoleId, SecretID: h.SecretId, Now: now})
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		a.Secrets.SetExternal(vault.SourceHashiCorpVault, hc, cfg.SecretManagers.HashiCorpVault.TenantPrefix)
	}
	if aw := cfg.SecretManagers.AwsSecretsManager; aw.Region != "" {
		src, err := vault.NewAWSSecretsManager(vault.AWSOptions{Region: aw.Region, Endpoint: aw.Endpoint,
			AccessKeyID: aw.AccessKeyId, SecretAccessKey: aw.SecretAccessKey, SessionToken: aw.SessionToken, Now: now})
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		a.Secrets.SetExternal(vault.SourceAWSSecretsManager, src, cfg.SecretManagers.AwsSecretsManager.TenantPrefix)
	}
	if az := cfg.SecretManagers.AzureKeyVault; az.VaultUrl != "" {
		src, err := vault.NewAzureKeyVault(vault.AzureOptions{VaultURL: az.VaultUrl, TenantID: az.TenantId,
			ClientID: az.ClientId, ClientSecret: az.ClientSecret, AuthorityHost: az.AuthorityHost,
			HTTPClient: o.AzureKeyVaultHTTPClient, Now: now})
		if err != nil {
			_ = a.Close()
			return nil, err
		}
		a.Secrets.SetExternal(vault.SourceAzureKeyVault, src, cfg.SecretManagers.AzureKeyVault.TenantPrefix)
	}
	trusted, err := skill.ParseTrustedKeys(cfg.Skills.TrustedPublishers)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	allowPrivate, err := cfg.EgressAllowPrefixes()
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	cacheDir := cfg.Sandbox.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.Server.DataDir, "wasm-cache")
	}
	roots, err := cfg.EgressRootCAs()
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	var egressTLS *tls.Config
	if roots != nil {
		egressTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	egress := sandbox.NewEgress(sandbox.EgressOptions{AllowPrivate: allowPrivate, TLSClientConf: egressTLS})
	a.WASM, err = sandbox.NewWASM(context.Background(), sandbox.Options{CacheDir: cacheDir, TempDir: cfg.Sandbox.TempDir,
		MaxMemory: uint64(cfg.Sandbox.MaxMemoryMb) << 20, MaxConcurrent: cfg.Sandbox.MaxConcurrent, Egress: egress})
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	sb := skill.Sandboxes{WASM: a.WASM}
	if cfg.Sandbox.Container != "" {
		// Asked for explicitly, so a host that cannot provide it is a
		// start-up error, never a silent fallback to no isolation.
		if sb.Container, err = a.containerRuntime(ctx, cfg, egress); err != nil {
			_ = a.Close()
			return nil, fmt.Errorf("Sandbox__Container=%s: %w", cfg.Sandbox.Container, err)
		}
		log.Info("container skills enabled", "backend", sb.Container.Describe())
	}
	a.Skills = skill.NewRegistry(wst, a.Authz, a.Audit, sb, trusted, log, now)
	a.Tools = skill.NewRuntime(skill.NewBuiltins(a.Memory, a.Audit, a.Secrets, log, now), wst, sb, a.Audit, a.Secrets, log, now)
	a.CRM = crm.New(wst, a.Authz, a.Audit, now)
	a.Tools.SetContacts(a.CRM)
	tools := a.Tools
	providers := o.Providers
	if providers == nil {
		providers = Providers(cfg)
	}
	runner := session.NewRunner(providers, tools, session.RunnerOptions{
		MaxIterations: cfg.Agents.MaxToolIterations, TurnTimeout: cfg.Agents.TurnTimeout, Now: now,
	})
	screener := o.Screener
	if screener == nil {
		screener = Screener(cfg, log)
	}
	a.Guard = session.NewGuard(screener, wst, a.Authz, a.Audit, now, log)
	a.Sessions = session.New(wst, a.Authz, a.Audit, a.Limiter, runner, session.Options{
		ChatLimit: cfg.RateLimits.ChatPermitLimit, ChatWindow: cfg.RateLimits.ChatWindow(),
		IdleTimeout: cfg.Agents.SessionIdleTimeout, Now: now, Logger: log, Guard: a.Guard,
	})
	visitors, err := authn.NewVisitorTokens([]byte(cfg.Jwt.SecretKey), cfg.Jwt.Issuer, now)
	if err != nil {
		_ = a.Close()
		return nil, err
	}
	a.Channels = channel.NewService(wst, a.Secrets, a.Authz, a.Audit,
		func(ctx context.Context, p authz.Principal, m channel.InboundMessage) (channel.Reply, error) {
			return a.Sessions.Handle(ctx, p, m, "", session.Hooks{})
		}, log, now, channel.Options{
			TelegramAPI: cfg.Channels.Telegram.ApiBaseUrl, SlackAPI: cfg.Channels.Slack.ApiBaseUrl,
			Visitors: visitors, VisitorTTL: cfg.Channels.WebChat.VisitorTokenTTL()})
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
	return gateway.New(gateway.Deps{
		Auth: a.Auth, Agents: a.Agents, Users: a.Users, AuditLog: a.AuditLog,
		Sessions: a.Sessions, Guard: a.Guard, Memory: a.Memory, Credentials: a.Secrets, Channels: a.Channels, Skills: a.Skills, CRM: a.CRM,
		Limiter: a.Limiter, Ready: a.Store.Ping,
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
	}, a.Log), nil
}

// Close drains the audit writer (no accepted entry is lost) and closes the
// store and Redis client.
func (a *App) Close() error {
	var errs []error
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
func (a *App) containerRuntime(ctx context.Context, cfg config.Config, egress *sandbox.Egress) (sandbox.ContainerRuntime, error) {
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
