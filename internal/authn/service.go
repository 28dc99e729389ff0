package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/ratelimit"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Public messages. Each is the same for every cause it covers, so a client
// cannot tell an unknown account from a wrong password or an inactive user,
// nor an expired token from a forged one.
const (
	msgLoginFailed     = "invalid email or password"
	msgThrottled       = "too many login attempts; try again later"
	msgBadRefresh      = "invalid refresh token"
	msgBadCredentials  = "invalid or expired credentials"
	msgInternal        = "internal error"
	msgAPIKeyNoLogout  = "API keys are revoked, not logged out"
	maxEmailBytes      = 320 // RFC 3696 erratum: 64 + "@" + 255
	maxAPIKeyNameChars = 100
	maxBearerLen       = maxJWTLen
)

// Defaults for zero Options.
const (
	DefaultAccessTTL  = 60 * time.Minute
	DefaultRefreshTTL = 7 * 24 * time.Hour
)

// Options configure a Service. Store, Audit, Throttle and JWTKey are
// required; zero values of the rest take the defaults above.
type Options struct {
	Store store.Store
	Audit audit.Recorder
	// Throttle keeps the login failures (see throttle.go): a
	// ratelimit.RedisBackoff shared by every replica, or a
	// ratelimit.MemoryBackoff for one process.
	Throttle ratelimit.Backoff
	// JWTKey is the HS256 key of access tokens, at least 32 bytes. It must
	// be the same on every replica.
	JWTKey   []byte
	Issuer   string // default DefaultIssuer
	Audience string // default DefaultAudience

	AccessTTL  time.Duration // default 60 min
	RefreshTTL time.Duration // default 7 days

	// LoginThrottle is the login delay schedule; the zero value means
	// DefaultLoginThrottle.
	LoginThrottle LoginThrottle

	Params Params // argon2id parameters of new hashes; default DefaultParams

	// CacheTTL, when positive, caches successful authentications for at
	// most that long (see cache.go); Generation, shared with a store
	// wrapped by WatchStore, empties the cache on identity changes.
	CacheTTL   time.Duration
	Generation *Generation
	Now        func() time.Time
	Logger     *slog.Logger
}

// Tokens is the credential pair handed out by Login and Refresh.
type Tokens struct {
	AccessToken  string
	RefreshToken string
	ExpiresAt    time.Time // expiry of AccessToken
}

// Service authenticates callers and issues credentials. It is safe for
// concurrent use.
type Service struct {
	st       store.Store
	audit    audit.Recorder
	throttle ratelimit.Backoff
	policy   LoginThrottle
	jwt      *jwtCodec
	hasher   *Hasher
	now      func() time.Time
	log      *slog.Logger

	cache *authCache

	accessTTL, refreshTTL time.Duration
}

// New returns a Service.
func New(o Options) (*Service, error) {
	if o.Store == nil || o.Audit == nil || o.Throttle == nil {
		return nil, errors.New("authn: Store, Audit and Throttle are required")
	}
	if o.Issuer == "" {
		o.Issuer = DefaultIssuer
	}
	if o.Audience == "" {
		o.Audience = DefaultAudience
	}
	if o.AccessTTL == 0 {
		o.AccessTTL = DefaultAccessTTL
	}
	if o.RefreshTTL == 0 {
		o.RefreshTTL = DefaultRefreshTTL
	}
	if o.LoginThrottle == (LoginThrottle{}) {
		o.LoginThrottle = DefaultLoginThrottle
	}
	if o.Params == (Params{}) {
		o.Params = DefaultParams
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	switch {
	case o.AccessTTL < 0 || o.RefreshTTL < 0:
		return nil, errors.New("authn: durations must be positive")
	case o.AccessTTL > o.RefreshTTL:
		// An access token outliving its session would keep working after
		// the session expired until UserForSession notices; it also means
		// a configuration mistake.
		return nil, errors.New("authn: AccessTTL must not exceed RefreshTTL")
	}
	if err := o.LoginThrottle.validate(); err != nil {
		return nil, err
	}
	codec, err := newJWTCodec(o.JWTKey, o.Issuer, o.Audience, o.Now)
	if err != nil {
		return nil, err
	}
	hasher, err := NewHasher(o.Params)
	if err != nil {
		return nil, err
	}
	return &Service{
		st:         o.Store,
		audit:      o.Audit,
		throttle:   o.Throttle,
		policy:     o.LoginThrottle,
		jwt:        codec,
		hasher:     hasher,
		now:        o.Now,
		log:        o.Logger,
		accessTTL:  o.AccessTTL,
		refreshTTL: o.RefreshTTL,
		cache:      newAuthCache(o.CacheTTL, o.Generation),
	}, nil
}

// HashPassword checks pw against the password policy (apperr.Field errors)
// and returns its argon2id PHC hash, for the user service and the CLI.
func (s *Service) HashPassword(pw string) (string, error) {
	return s.hasher.Hash(context.Background(), pw)
}

// NormalizeEmail is the form in which emails are compared and throttled.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

func internalErr(err error) error { return apperr.Wrap(err, apperr.Internal, msgInternal) }

// Login checks an email and password and starts a session: a new refresh
// token family and an access token bound to it.
func (s *Service) Login(ctx context.Context, email, password, clientIP string) (Tokens, store.User, error) {
	email = NormalizeEmail(email)
	if clientIP == "" {
		clientIP = "unknown" // all callers without an IP share one bucket
	}

	// Throttle before anything expensive (throttle.go). The attempt is
	// charged now and refunded if it succeeds.
	charged, throttled, err := s.takeLogin(ctx, email, clientIP)
	if err != nil {
		return Tokens{}, store.User{}, internalErr(err)
	}

	user, found, err := s.lookupLoginUser(ctx, email)
	if err != nil {
		charged.refund(ctx, s)
		return Tokens{}, store.User{}, internalErr(err)
	}
	tenant := store.PlatformTenantID
	if found {
		tenant = user.TenantID
	}

	if throttled != nil {
		// The exact address goes to the audit log; the throttle keyed
		// an IPv6 address by its /64.
		details := map[string]any{"email": email, "ip": clientIP, "scope": throttled.scope, "failures": throttled.failures}
		if found {
			details["userId"] = user.ID
		}
		if err := s.audit.Record(ctx, audit.Event{
			TenantID: tenant, Action: audit.LoginThrottled, Details: details,
		}); err != nil {
			return Tokens{}, store.User{}, internalErr(err)
		}
		e := apperr.New(apperr.RateLimited, msgThrottled)
		// Whole seconds, rounded up: Retry-After is in seconds and must
		// not invite a retry that is still too early.
		wait := throttled.retryAt.Sub(s.now())
		e.RetryAfter = max(time.Second, (wait + time.Second - 1).Truncate(time.Second))
		return Tokens{}, store.User{}, e
	}

	reason, err := s.checkPassword(ctx, user, found, password)
	if err != nil {
		// No password was compared (the context ended while waiting for
		// a hashing slot): the attempt does not count.
		charged.refund(ctx, s)
		return Tokens{}, store.User{}, internalErr(err)
	}
	if reason != "" {
		// The charged attempt stands: it is a failure.
		details := map[string]any{"email": email, "ip": clientIP, "reason": reason}
		if found {
			details["userId"] = user.ID
		}
		// The reason goes to the audit log only; the client gets the same
		// message whatever it is.
		if err := s.audit.Record(ctx, audit.Event{
			TenantID: tenant, Action: audit.LoginFailed, Details: details,
		}); err != nil {
			return Tokens{}, store.User{}, internalErr(err)
		}
		return Tokens{}, store.User{}, apperr.New(apperr.Unauthenticated, msgLoginFailed)
	}

	// The right password: this address's failures for the account are
	// forgotten, and the attempt is not counted against the address or
	// the account.
	charged.succeeded(ctx, s)

	family := uuid.NewString()
	tokens, err := s.issue(ctx, user, family, true)
	if err != nil {
		return Tokens{}, store.User{}, internalErr(err)
	}
	if err := s.audit.Record(ctx, audit.Event{
		TenantID: user.TenantID, Action: audit.LoginSucceeded, ActorID: user.ID,
		Details: map[string]any{"ip": clientIP, "family": family},
	}); err != nil {
		// Fail closed: a session without its audit entry must not exist,
		// so undo it and hand out nothing.
		s.revokeQuietly(user.TenantID, family)
		return Tokens{}, store.User{}, internalErr(err)
	}
	// The caller gets the user for its response; the hash has no business
	// travelling further, where it could end up serialised.
	user.PasswordHash = ""
	return tokens, user, nil
}

// limiterKey returns prefix+v, or prefix plus a hash of v when v is longer
// than any real email or IP, so a client cannot make the limiter hold
// kilobyte-sized keys. Such values match no account anyway.
func limiterKey(prefix, v string) string {
	if len(v) > maxEmailBytes {
		return prefix + "sha256:" + HashToken(v)
	}
	return prefix + v
}

// lookupLoginUser finds the user with a normalized email across tenants.
func (s *Service) lookupLoginUser(ctx context.Context, email string) (store.User, bool, error) {
	if email == "" || len(email) > maxEmailBytes {
		return store.User{}, false, nil // cannot be an account; skip the query
	}
	tid, err := s.st.TenantIDByEmail(ctx, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("login lookup: %w", err)
	}
	u, err := s.st.GetUserByEmail(ctx, tid, email)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, false, nil // deleted in between
	}
	if err != nil {
		return store.User{}, false, fmt.Errorf("login lookup: %w", err)
	}
	if u.TenantID != tid {
		return store.User{}, false, fmt.Errorf("login lookup: store returned a user of tenant %q for %q", u.TenantID, tid)
	}
	return u, true, nil
}

// checkPassword returns "" when the login may proceed, or the reason (for
// the audit log) why it may not. Every path runs exactly one argon2
// verification, so the response time does not reveal which reason applies.
func (s *Service) checkPassword(ctx context.Context, u store.User, found bool, pw string) (string, error) {
	if len(pw) > MaxPasswordBytes {
		// Longer than any password that can be set; still spend the
		// time (on a bounded prefix) so the length is not a timing oracle
		// for existence.
		s.hasher.DummyVerify(ctx, pw[:MaxPasswordBytes])
		return "password too long", ctx.Err()
	}
	if !found {
		s.hasher.DummyVerify(ctx, pw)
		return "unknown email", ctx.Err()
	}
	if u.PasswordHash == "" && u.InviteHash != "" {
		// Invited, no password set yet: expected, not a broken hash.
		s.hasher.DummyVerify(ctx, pw)
		return "invitation not accepted", ctx.Err()
	}
	ok, err := s.hasher.Verify(ctx, pw, u.PasswordHash)
	if errors.Is(err, ErrInvalidHash) {
		s.log.WarnContext(ctx, "stored password hash is unusable", "tenant", u.TenantID, "user", u.ID, "err", err)
		s.hasher.DummyVerify(ctx, pw)
		return "unusable password hash", ctx.Err()
	}
	if err != nil {
		return "", err // context ended while waiting for a hashing slot
	}
	// The password is checked even for an inactive user so that both cases
	// take the same time; the outcome is the same failure either way.
	switch {
	case !ok:
		return "bad password", nil
	case !u.Active:
		return "inactive user", nil
	}
	return "", nil
}

// issue creates a refresh token (the first of family when first, else the
// caller has stored it) and an access token bound to family.
func (s *Service) issue(ctx context.Context, u store.User, family string, first bool) (Tokens, error) {
	refresh := NewRefreshToken()
	if first {
		now := s.now()
		if err := s.st.CreateRefreshToken(ctx, store.RefreshToken{
			Hash: HashToken(refresh), TenantID: u.TenantID, UserID: u.ID, FamilyID: family,
			CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL),
		}); err != nil {
			return Tokens{}, fmt.Errorf("creating refresh token: %w", err)
		}
	}
	access, exp, err := s.jwt.sign(u.ID, u.TenantID, family, u.Email, u.Name, s.accessTTL)
	if err != nil {
		return Tokens{}, err
	}
	return Tokens{AccessToken: access, RefreshToken: refresh, ExpiresAt: exp}, nil
}

// revokeQuietly revokes a family after a failure that is already being
// returned. It uses a fresh context: the request's may be what failed.
func (s *Service) revokeQuietly(tenantID, family string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.st.RevokeRefreshFamily(ctx, tenantID, family, s.now()); err != nil {
		s.log.Error("could not revoke refresh family after a failure", "tenant", tenantID, "family", family, "err", err)
	}
}

// Refresh spends a refresh token and returns a new pair in the same family.
// Presenting a token that was already spent revokes the whole family: one
// of the two holders is a thief, and we cannot tell which.
func (s *Service) Refresh(ctx context.Context, refreshToken, clientIP string) (Tokens, error) {
	fail := func(reason string, err error) (Tokens, error) {
		s.log.DebugContext(ctx, "refresh rejected", "reason", reason, "err", err, "request_id", requestid.From(ctx))
		return Tokens{}, apperr.New(apperr.Unauthenticated, msgBadRefresh)
	}
	// Syntax first: garbage never reaches the store.
	if !IsRefreshToken(refreshToken) {
		return fail("malformed", nil)
	}
	oldHash := HashToken(refreshToken)
	tid, err := s.st.TenantIDByRefreshHash(ctx, oldHash)
	if errors.Is(err, store.ErrNotFound) {
		return fail("unknown token", err)
	}
	if err != nil {
		return Tokens{}, internalErr(err)
	}

	next := NewRefreshToken()
	now := s.now()
	// UserID and FamilyID are left for the store to copy from the spent
	// token (the family is only known once the old token is locked), and
	// the expiry slides: a session lives while it is used at least once
	// per RefreshTTL.
	spent, err := s.st.RotateRefreshToken(ctx, tid, oldHash, store.RefreshToken{
		Hash: HashToken(next), TenantID: tid, CreatedAt: now, ExpiresAt: now.Add(s.refreshTTL),
	}, now)
	switch {
	case errors.Is(err, store.ErrTokenReused):
		// The store has already revoked the family. Record it: this is
		// the signal of a stolen refresh token.
		if aerr := s.audit.Record(ctx, audit.Event{
			TenantID: tid, Action: audit.RefreshTokenReused, ActorID: spent.UserID,
			Details: map[string]any{"family": spent.FamilyID, "ip": clientIP},
		}); aerr != nil {
			return Tokens{}, internalErr(aerr)
		}
		return fail("reused", err)
	case errors.Is(err, store.ErrNotFound):
		return fail("expired or revoked", err)
	case err != nil:
		return Tokens{}, internalErr(err)
	}

	u, err := s.st.UserForSession(ctx, tid, spent.UserID, spent.FamilyID, now)
	if errors.Is(err, store.ErrNotFound) {
		return fail("session gone", err)
	}
	if err != nil {
		return Tokens{}, internalErr(err)
	}
	if !u.Active || u.ID != spent.UserID || u.TenantID != tid {
		s.revokeQuietly(tid, spent.FamilyID)
		return fail("user inactive", nil)
	}

	tokens, err := s.issue(ctx, u, spent.FamilyID, false)
	if err != nil {
		return Tokens{}, internalErr(err)
	}
	tokens.RefreshToken = next
	if err := s.audit.Record(ctx, audit.Event{
		TenantID: tid, Action: audit.TokenRefreshed, ActorID: u.ID,
		Details: map[string]any{"family": spent.FamilyID, "ip": clientIP},
	}); err != nil {
		// The new token was stored but is not handed out, and the old one
		// is spent: end the session cleanly instead of letting the
		// client's retry look like token theft.
		s.revokeQuietly(tid, spent.FamilyID)
		return Tokens{}, internalErr(err)
	}
	return tokens, nil
}

// Logout ends the login session of p: its refresh family is revoked, which
// also stops every access token of the session from authenticating.
//
// Logout is the one deliberate exception to "record, then apply": the
// revocation comes first and the Logout entry after it, so an audit outage
// can never keep a session alive that its user asked to end. If the entry
// cannot be stored the caller gets a 500, but the session is already gone.
func (s *Service) Logout(ctx context.Context, p authz.Principal) error {
	if p.APIKeyID != "" {
		return apperr.New(apperr.Invalid, msgAPIKeyNoLogout)
	}
	if p.IsZero() || p.SessionID == "" {
		return apperr.New(apperr.Unauthenticated, msgBadCredentials)
	}
	if err := s.st.RevokeRefreshFamily(ctx, p.TenantID, p.SessionID, s.now()); err != nil {
		return internalErr(err)
	}
	if err := s.audit.Record(ctx, audit.Event{
		TenantID: p.TenantID, Action: audit.Logout, ActorID: p.UserID,
		Details: map[string]any{"family": p.SessionID},
	}); err != nil {
		return internalErr(err)
	}
	return nil
}

// Authenticate turns a bearer credential (an API key or an access token,
// without the "Bearer " scheme) into a Principal built from the user's
// current row in the store.
//
// Failures are not audited: anyone can send garbage, and an audit entry per
// attempt would let them flood the log. They are logged at debug level.
// A store failure other than "not found" is an internal error, not a 401,
// so an outage does not make clients throw away valid credentials.
func (s *Service) Authenticate(ctx context.Context, bearer string) (authz.Principal, error) {
	if len(bearer) == 0 || len(bearer) > maxBearerLen {
		return s.authFail(ctx, "empty or oversized credential", nil)
	}
	if s.cache == nil {
		p, _, err := s.authenticate(ctx, bearer)
		return p, err
	}
	key := cacheKey(bearer)
	now := s.now()
	if p, ok := s.cache.get(key, now); ok {
		return p, nil
	}
	gen := s.cache.gen.load()
	p, expires, err := s.authenticate(ctx, bearer)
	if err == nil {
		s.cache.put(key, p, gen, now, expires)
	}
	return p, err
}

// authenticate checks bearer against the store. expires is the access
// token's expiry (zero for API keys).
func (s *Service) authenticate(ctx context.Context, bearer string) (authz.Principal, time.Time, error) {
	if strings.HasPrefix(bearer, APIKeyPrefix) {
		p, err := s.authenticateAPIKey(ctx, bearer)
		return p, time.Time{}, err
	}
	return s.authenticateJWT(ctx, bearer)
}

func (s *Service) authFail(ctx context.Context, reason string, err error) (authz.Principal, error) {
	if err != nil && !errors.Is(err, store.ErrNotFound) && !isCredentialErr(err) {
		// Not a rejection: the credential was never checked, so the
		// rejection reason (say "unknown API key") is not logged, only
		// the real cause (a store outage is answered 503 by the gateway).
		s.log.ErrorContext(ctx, "authentication could not be completed: the store failed", "err", err)
		return authz.Principal{}, internalErr(err)
	}
	s.log.DebugContext(ctx, "authentication rejected", "reason", reason, "err", err, "request_id", requestid.From(ctx))
	return authz.Principal{}, apperr.New(apperr.Unauthenticated, msgBadCredentials)
}

// credentialErr marks an error that is the caller's fault (bad token), as
// opposed to a store failure.
type credentialErr struct{ err error }

func (e credentialErr) Error() string { return e.err.Error() }
func (e credentialErr) Unwrap() error { return e.err }

func isCredentialErr(err error) bool {
	var c credentialErr
	return errors.As(err, &c)
}

func (s *Service) authenticateAPIKey(ctx context.Context, key string) (authz.Principal, error) {
	if !IsAPIKey(key) {
		return s.authFail(ctx, "malformed API key", nil)
	}
	hash := HashToken(key)
	tid, err := s.st.TenantIDByAPIKeyHash(ctx, hash)
	if err != nil {
		return s.authFail(ctx, "unknown API key", err)
	}
	k, u, err := s.st.AuthenticateAPIKey(ctx, tid, hash)
	if err != nil {
		return s.authFail(ctx, "API key not usable", err)
	}
	// Defence in depth: the store promises all of this, but a mismatch
	// here would attribute a request to the wrong user or tenant.
	if k.RevokedAt != nil || k.TenantID != tid || u.TenantID != tid || k.UserID != u.ID {
		return s.authFail(ctx, "API key revoked or inconsistent", nil)
	}
	p, err := s.principal(ctx, u, k.ID, "")
	if err == nil {
		s.touchAPIKey(ctx, k)
	}
	return p, err
}

// lastUsedResolution is how stale an API key's LastUsedAt may be: a key in
// constant use costs one write per key per this long, not one per request.
const lastUsedResolution = time.Minute

// touchAPIKey records that k was used. Failing to is logged, not fatal: the
// key is valid, and last-used is information, not a control.
func (s *Service) touchAPIKey(ctx context.Context, k store.APIKey) {
	now := s.now()
	if k.LastUsedAt != nil && now.Sub(*k.LastUsedAt) < lastUsedResolution {
		return
	}
	if err := s.st.TouchAPIKey(ctx, k.TenantID, k.ID, now.UTC()); err != nil {
		s.log.WarnContext(ctx, "could not record an API key's last use", "tenant", k.TenantID, "key", k.ID, "err", err)
	}
}

func (s *Service) authenticateJWT(ctx context.Context, token string) (authz.Principal, time.Time, error) {
	fail := func(reason string, err error) (authz.Principal, time.Time, error) {
		p, err := s.authFail(ctx, reason, err)
		return p, time.Time{}, err
	}
	c, err := s.jwt.verify(token)
	if err != nil {
		return fail("access token rejected", credentialErr{err})
	}
	// The signature proves we issued the token; the store says whether
	// its session is still live (not logged out, not revoked for reuse,
	// user not deactivated).
	u, err := s.st.UserForSession(ctx, c.TenantID, c.Subject, c.SessionID, s.now())
	if err != nil {
		return fail("session not live", err)
	}
	if u.ID != c.Subject || u.TenantID != c.TenantID {
		return fail("session user mismatch", nil)
	}
	p, err := s.principal(ctx, u, "", c.SessionID)
	var exp time.Time
	if c.ExpiresAt != nil {
		exp = c.ExpiresAt.Time
	}
	return p, exp, err
}

// principal builds the Principal from the store's user row, never from
// token claims.
func (s *Service) principal(ctx context.Context, u store.User, apiKeyID, sessionID string) (authz.Principal, error) {
	if !u.Active {
		return s.authFail(ctx, "user inactive", nil)
	}
	role, ok := authz.ParseRole(u.Role)
	if !ok {
		return s.authFail(ctx, "user has an unknown role", nil)
	}
	return authz.Principal{
		TenantID:  u.TenantID,
		UserID:    u.ID,
		Email:     u.Email,
		Name:      u.Name,
		Role:      role,
		APIKeyID:  apiKeyID,
		SessionID: sessionID,
	}, nil
}

// CreateAPIKey creates an API key for an active user of tenantID and
// returns the key in plaintext, which is never available again. The caller
// must already have authorized actorID to do this.
func (s *Service) CreateAPIKey(ctx context.Context, tenantID, userID, name string, actorID string) (string, store.APIKey, error) {
	name = strings.TrimSpace(name)
	if err := checkAPIKeyName(name); err != nil {
		return "", store.APIKey{}, err
	}
	u, err := s.st.GetUser(ctx, tenantID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", store.APIKey{}, apperr.Wrap(err, apperr.NotFound, "user not found")
	}
	if err != nil {
		return "", store.APIKey{}, internalErr(err)
	}
	if !u.Active {
		return "", store.APIKey{}, apperr.New(apperr.Invalid, "user is inactive")
	}

	plaintext := NewAPIKey()
	k := store.APIKey{
		ID:        uuid.Must(uuid.NewV7()).String(),
		TenantID:  tenantID,
		UserID:    userID,
		Name:      name,
		Prefix:    plaintext[:APIKeyDisplayLen],
		Hash:      HashToken(plaintext),
		CreatedAt: s.now().UTC().Truncate(time.Microsecond), // as stored
	}
	if err := s.st.CreateAPIKey(ctx, k); err != nil {
		return "", store.APIKey{}, internalErr(err)
	}
	// Neither the key nor its hash goes into the log; the prefix is what
	// the owner sees in listings.
	if err := s.audit.Record(ctx, audit.Event{
		TenantID: tenantID, Action: audit.APIKeyCreated, ActorID: actorID,
		Details: map[string]any{"keyId": k.ID, "userId": userID, "name": name, "prefix": k.Prefix},
	}); err != nil {
		// Fail closed: revoke the unaudited key and do not hand it out.
		rctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if rerr := s.st.RevokeAPIKey(rctx, tenantID, k.ID, s.now()); rerr != nil {
			s.log.Error("could not revoke unaudited API key", "tenant", tenantID, "key", k.ID, "err", rerr)
		}
		return "", store.APIKey{}, internalErr(err)
	}
	return plaintext, k, nil
}

func checkAPIKeyName(name string) error {
	// The one human-text rule (validate.Line): control characters could
	// forge lines in terminals and logs; bidi controls and invisible
	// characters could make a listing show another name than the one
	// stored. ZWNJ and ZWJ only where a script needs them.
	return validate.Name("name", name, maxAPIKeyNameChars)
}
