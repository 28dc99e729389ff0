package app

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/console"
	"github.com/komand-ai/komand/internal/crm"
	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/gateway"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/tenant"
	"github.com/komand-ai/komand/internal/tool"
	"github.com/komand-ai/komand/internal/user"
	"github.com/komand-ai/komand/internal/vault"
	"github.com/redis/go-redis/v9"
)

// wiring carries what the builders share while New runs.
type wiring struct {
	cfg config.Config
	log *slog.Logger
	o   Options
	now func() time.Time

	// wst is the watched store: every identity change the services make
	// (role, deactivation, revocation, logout) empties the authentication
	// cache of this process at once.
	wst           store.Store
	gen           *authn.Generation
	loginThrottle ratelimit.Backoff
	egress        *egress.Broker
	sandboxes     skill.Sandboxes
}

func (a *App) buildAudit(_ context.Context, w *wiring) error {
	w.gen = &authn.Generation{}
	w.wst = authn.WatchStore(a.Store, w.gen)
	a.Audit = audit.NewWriter(a.Store, audit.Options{Logger: w.log, Now: w.now})
	a.Authz = authz.New(audit.Denials(a.Audit))
	return nil
}

// buildLimiters makes the API limiter and the login throttle's own table,
// so a flood of API requests from many addresses cannot fill the shared
// table and lock every login out (and vice versa). With Redis both share
// their state across replicas.
func (a *App) buildLimiters(_ context.Context, w *wiring) error {
	cfg := w.cfg
	mem := ratelimit.NewMemory(cfg.RateLimits.MaxKeys, w.now)
	loginMem := ratelimit.NewMemoryBackoff(cfg.RateLimits.MaxKeys, w.now)
	a.Limiter, w.loginThrottle = mem, loginMem
	if cfg.ConnectionStrings.Redis == "" {
		return nil
	}
	ropts, err := redis.ParseURL(cfg.ConnectionStrings.Redis)
	if err != nil {
		return errors.New("ConnectionStrings__Redis is not a valid Redis URL")
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
	// go-redis logs through one process-wide logger (it has no per-client
	// one) that writes to stderr by default, past the JSON format and the
	// redaction of secret values. This is therefore the one global Komand
	// sets: the app's own logger, so go-redis's lines are JSON and
	// redacted like every other. A process runs one App with Redis; when
	// tests build several, the last one wins.
	redis.SetLogger(logging.Printf{Log: w.log, Level: slog.LevelWarn, Component: "redis"})
	prefix := cmp.Or(w.o.RedisPrefix, "komand:")
	a.Limiter = ratelimit.NewRedis(a.redis, prefix+"rl:", mem, w.log)
	w.loginThrottle = ratelimit.NewRedisBackoff(a.redis, prefix+"login:", loginMem, w.log, w.now)
	return nil
}

// buildIdentity makes authentication and the identity services.
func (a *App) buildIdentity(_ context.Context, w *wiring) error {
	cfg := w.cfg
	var err error
	a.Auth, err = authn.New(authn.Options{
		Store: w.wst, Audit: a.Audit, Throttle: w.loginThrottle,
		JWTKey: []byte(cfg.Jwt.SecretKey), Issuer: cfg.Jwt.Issuer, Audience: cfg.Jwt.Audience,
		AccessTTL: cfg.Jwt.AccessTokenTTL(), RefreshTTL: cfg.Jwt.RefreshTokenTTL(),
		Params: w.o.PasswordParams, Now: w.now, Logger: w.log,
		CacheTTL: authCacheTTL(w.o), Generation: w.gen,
	})
	if err != nil {
		return err
	}
	a.Agents = agent.New(w.wst, a.Authz, a.Audit, w.now)
	a.Agents.SetMaxAgents(w.cfg.Limits.MaxAgents)
	a.Users = user.New(w.wst, a.Authz, a.Audit, a.Auth.HashPassword, authn.NewInviteToken, w.now)
	a.APIKeys = user.NewAPIKeys(w.wst, a.Authz, a.Audit, a.Auth.CreateAPIKey, w.now)
	a.Tenants = tenant.New(w.wst, a.Audit, w.now)
	a.AuditLog = audit.NewTrail(w.wst, a.Authz)
	a.Memory = agent.NewMemory(w.wst, w.wst, a.Authz, a.Audit, w.now)
	return nil
}

// buildVault makes the credential vault and its external secret managers.
func (a *App) buildVault(_ context.Context, w *wiring) error {
	cfg := w.cfg
	kek, previous, err := cfg.Vault.KEKs()
	if err != nil {
		return err
	}
	ring, err := vault.NewKeyring(kek, previous...)
	if err != nil {
		return err
	}
	a.Vault = vault.New(w.wst, ring, w.now)
	a.Secrets = vault.NewService(w.wst, a.Vault, a.Authz, a.Audit, w.o.Secrets, w.now)
	a.Secrets.SetLogger(w.log)
	a.Secrets.SetMaxCredentials(cfg.Limits.MaxCredentials)
	if h := cfg.SecretManagers.HashiCorpVault; h.Address != "" {
		hc, err := vault.NewHashiCorp(vault.HashiCorpOptions{Address: h.Address, Token: h.Token, RoleID: h.RoleId, SecretID: h.SecretId, Now: w.now})
		if err != nil {
			return err
		}
		a.Secrets.SetExternal(vault.SourceHashiCorpVault, hc, h.TenantPrefix)
	}
	if aw := cfg.SecretManagers.AwsSecretsManager; aw.Region != "" {
		src, err := vault.NewAWSSecretsManager(vault.AWSOptions{Region: aw.Region, Endpoint: aw.Endpoint,
			AccessKeyID: aw.AccessKeyId, SecretAccessKey: aw.SecretAccessKey, SessionToken: aw.SessionToken, Now: w.now})
		if err != nil {
			return err
		}
		a.Secrets.SetExternal(vault.SourceAWSSecretsManager, src, aw.TenantPrefix)
	}
	if az := cfg.SecretManagers.AzureKeyVault; az.VaultUrl != "" {
		src, err := vault.NewAzureKeyVault(vault.AzureOptions{VaultURL: az.VaultUrl, TenantID: az.TenantId,
			ClientID: az.ClientId, ClientSecret: az.ClientSecret, AuthorityHost: az.AuthorityHost,
			HTTPClient: w.o.AzureKeyVaultHTTPClient, Now: w.now})
		if err != nil {
			return err
		}
		a.Secrets.SetExternal(vault.SourceAzureKeyVault, src, az.TenantPrefix)
	}
	return nil
}

// buildSandboxes makes the egress broker, the WASM runtime and, when the
// configuration asks for one, the container backend.
func (a *App) buildSandboxes(ctx context.Context, w *wiring) error {
	cfg := w.cfg
	allowPrivate, err := cfg.EgressAllowPrefixes()
	if err != nil {
		return err
	}
	roots, err := cfg.EgressRootCAs()
	if err != nil {
		return err
	}
	var egressTLS *tls.Config
	if roots != nil {
		egressTLS = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	w.egress = egress.New(egress.Options{AllowPrivate: allowPrivate, TLSClientConf: egressTLS})
	cacheDir := cmp.Or(cfg.Sandbox.CacheDir, filepath.Join(cfg.Server.DataDir, "wasm-cache"))
	a.WASM, err = sandbox.NewWASM(context.Background(), sandbox.Options{CacheDir: cacheDir, TempDir: cfg.Sandbox.TempDir,
		MaxMemory: uint64(cfg.Sandbox.MaxMemoryMb) << 20, MaxConcurrent: cfg.Sandbox.MaxConcurrent, Egress: w.egress})
	if err != nil {
		return err
	}
	w.sandboxes = skill.Sandboxes{WASM: a.WASM}
	if cfg.Sandbox.Container != "" {
		// Asked for explicitly, so a host that cannot provide it is a
		// start-up error, never a silent fallback to no isolation.
		if w.sandboxes.Container, err = a.containerRuntime(ctx, cfg, w.egress); err != nil {
			return fmt.Errorf("Sandbox__Container=%s: %w", cfg.Sandbox.Container, err)
		}
		w.log.Info("container skills enabled", "backend", w.sandboxes.Container.Describe())
	}
	return nil
}

// buildSkills makes the skill registry, the tool runtime and the CRM it
// serves to skills.
func (a *App) buildSkills(_ context.Context, w *wiring) error {
	trusted, err := skill.ParseTrustedKeys(w.cfg.Skills.TrustedPublishers)
	if err != nil {
		return err
	}
	a.Skills = skill.NewRegistry(w.wst, a.Agents, a.Authz, a.Audit, w.sandboxes, trusted, w.log, w.now)
	a.Skills.SetMaxSkills(w.cfg.Limits.MaxSkills)
	a.Tools = tool.NewRuntime(tool.NewBuiltins(a.Memory, a.Audit, a.Secrets, w.log, w.now), w.wst, w.sandboxes, a.Audit, a.Secrets, w.log, w.now)
	a.CRM = crm.New(w.wst, a.Authz, a.Audit, w.now)
	a.Tools.SetContacts(a.CRM)
	return nil
}

// buildSessions makes the model runner, the injection guard and the
// session service.
func (a *App) buildSessions(_ context.Context, w *wiring) error {
	cfg := w.cfg
	providers := w.o.Providers
	if providers == nil {
		providers = Providers(cfg)
	}
	runner := session.NewRunner(providers, a.Tools, session.RunnerOptions{
		MaxIterations: cfg.Agents.MaxToolIterations, TurnTimeout: cfg.Agents.TurnTimeout, Now: w.now,
	})
	screener := w.o.Screener
	if screener == nil {
		screener = Screener(cfg, w.log)
	}
	a.Guard = session.NewGuard(screener, w.wst, a.Authz, a.Audit, w.now, w.log)
	a.Sessions = session.New(w.wst, a.Authz, a.Audit, a.Limiter, runner, session.Options{
		ChatLimit: cfg.RateLimits.ChatPermitLimit, ChatWindow: cfg.RateLimits.ChatWindow(),
		IdleTimeout: cfg.Agents.SessionIdleTimeout, MaxActiveSessions: cfg.Limits.MaxActiveSessions, Now: w.now, Logger: w.log, Guard: a.Guard,
	})
	return nil
}

// buildChannels makes the channel service (accounts, inbound adapters,
// replies) over the session service.
func (a *App) buildChannels(_ context.Context, w *wiring) error {
	cfg := w.cfg
	visitors, err := authn.NewVisitorTokens([]byte(cfg.Jwt.SecretKey), cfg.Jwt.Issuer, w.now)
	if err != nil {
		return err
	}
	a.Channels = channel.NewService(w.wst, a.Secrets, a.Authz, a.Audit,
		func(ctx context.Context, p authz.Principal, m channel.InboundMessage) (channel.Reply, error) {
			return a.Sessions.Handle(ctx, p, m, "", session.Hooks{})
		}, w.log, w.now, channel.Options{
			TelegramAPI: cfg.Channels.Telegram.ApiBaseUrl, SlackAPI: cfg.Channels.Slack.ApiBaseUrl,
			Visitors: visitors, VisitorTTL: cfg.Channels.WebChat.VisitorTokenTTL(),
			Delivery: channel.DeliveryOptions{MaxAttempts: cfg.Channels.Delivery.MaxAttempts, MaxAge: cfg.Channels.Delivery.MaxAge,
				InitialBackoff: cfg.Channels.Delivery.InitialBackoff, MaxBackoff: cfg.Channels.Delivery.MaxBackoff,
				PollInterval: cfg.Channels.Delivery.PollInterval}})
	// Admin approvals from Slack and Telegram: held reviews are posted to
	// an account's review destination, and its buttons decide through the
	// same service method as the API.
	a.Channels.SetDecide(func(ctx context.Context, p authz.Principal, reviewID string, approve bool) error {
		_, err := a.Sessions.DecideReview(ctx, p, reviewID, approve)
		return err
	})
	a.Sessions.SetReviewNotifier(a.Channels)
	a.startDelivery(w.o.DeliveryTicks)
	return nil
}

// startDelivery runs the outbox's delivery worker until Close.
func (a *App) startDelivery(ticks <-chan time.Time) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		a.Channels.RunDeliveries(ctx, ticks)
	}()
	a.stopDelivery = func() {
		cancel()
		<-done
	}
}

// buildConsole makes the operator console over the same services as the
// API. Its cookie is Secure everywhere but Development.
func (a *App) buildConsole(_ context.Context, w *wiring) error {
	proxies, err := w.cfg.TrustedProxyPrefixes()
	if err != nil {
		return err
	}
	a.Console, err = console.New(console.Deps{Auth: a.Auth, Agents: a.Agents, Sessions: a.Sessions}, console.Options{
		Secure:   !w.cfg.IsDevelopment(),
		ClientIP: func(r *http.Request) string { return gateway.ClientIP(r, proxies) },
		Now:      w.now, Logger: w.log,
	})
	return err
}
