// Package store defines Komand's persistence contract: one interface per
// domain, the records they exchange, and the sentinel errors every
// implementation returns. Two implementations exist, store/sqlite (embedded,
// the default) and store/postgres (several replicas, row-level security), and
// both must pass the single conformance suite in store/storetest.
//
// Tenancy is explicit: every method that touches tenant-owned data takes the
// tenant ID as its first argument after the context and filters by it in SQL.
// On PostgreSQL the tenant is also set per transaction and enforced a second
// time by FORCE ROW LEVEL SECURITY, so a forgotten WHERE clause returns no rows
// instead of another tenant's rows.
package store

import (
	"context"
	"errors"
	"strings"
	"time"
)

// Sentinel errors. Implementations wrap driver errors into these so that no
// driver text ever has to be inspected (or shown) above the store.
var (
	// ErrNotFound means the row does not exist for this tenant. A row of
	// another tenant is indistinguishable from a missing one.
	ErrNotFound = errors.New("store: not found")
	// ErrConflict means a uniqueness constraint would be violated.
	ErrConflict = errors.New("store: conflict")
	// ErrLastOwner means the change would leave a tenant without an active
	// owner.
	ErrLastOwner = errors.New("store: last owner")
	// ErrLimit means a per-tenant or per-agent quota would be exceeded
	// (the store refuses the write atomically).
	ErrLimit = errors.New("store: limit reached")
	// ErrTokenReused means a spent refresh token was presented again; the
	// store has revoked its whole family in the same transaction.
	ErrTokenReused = errors.New("store: refresh token reused")
)

// Store is the whole persistence layer.
type Store interface {
	Tenants
	Users
	APIKeys
	RefreshTokens
	Agents
	Sessions
	Memory
	Vault
	Channels
	Skills
	CRM
	Injection
	Audit

	// Ping reports whether the database answers.
	Ping(ctx context.Context) error
	// Close releases the connections.
	Close() error
}

// Page selects one page of a list. Page is 1-based.
type Page struct {
	Page     int
	PageSize int
}

// Offset returns the number of rows to skip.
func (p Page) Offset() int {
	if p.Page < 1 {
		return 0
	}
	return (p.Page - 1) * p.PageSize
}

// Tenant is a business using Komand.
type Tenant struct {
	ID        string
	Slug      string
	Name      string
	CreatedAt time.Time
}

// Tenants is the tenant registry. It is platform data, not tenant-owned.
type Tenants interface {
	CreateTenant(ctx context.Context, t Tenant) error
	GetTenant(ctx context.Context, id string) (Tenant, error)
	GetTenantBySlug(ctx context.Context, slug string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// User is a person with one role in one tenant. Email is unique across the
// platform (compared case-insensitively) because login names no tenant.
//
// An invited user has no password yet (PasswordHash is empty) but an
// invitation: InviteHash is the hex SHA-256 of a one-time token, unique
// across the platform, and InviteExpiresAt its expiry. Both are empty (nil)
// when there is no pending invitation.
type User struct {
	ID              string
	TenantID        string
	Email           string
	Name            string
	Role            string
	PasswordHash    string
	Active          bool
	InviteHash      string
	InviteExpiresAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Users stores users. Role changes and deactivation keep at least one active
// owner per tenant atomically (ErrLastOwner).
type Users interface {
	// TenantIDByEmail finds which tenant an email belongs to. It and
	// TenantIDByInviteHash are the only user lookups that cross tenants,
	// and they return nothing but the ID.
	TenantIDByEmail(ctx context.Context, email string) (string, error)
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, tenantID, id string) (User, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (User, error)
	ListUsers(ctx context.Context, tenantID string, p Page) ([]User, int, error)
	// SetUserRole changes a user's role. It fails with ErrLastOwner when the
	// user is the tenant's last active owner and the new role is not owner.
	SetUserRole(ctx context.Context, tenantID, id, role string, now time.Time) (User, error)
	// DeactivateUser marks a user inactive, revokes its refresh-token
	// families and API keys, and fails with ErrLastOwner for the last active
	// owner.
	DeactivateUser(ctx context.Context, tenantID, id string, now time.Time) (User, error)
	// TenantIDByInviteHash finds which tenant an invitation hash belongs
	// to, whatever the invitation's state (AcceptInvite decides whether it
	// is usable). Like TenantIDByEmail it crosses tenants and returns
	// nothing but the ID.
	TenantIDByInviteHash(ctx context.Context, hash string) (string, error)
	// UserByInviteHash returns the tenant's user holding that invitation,
	// whatever its state (expired, inactive), so the caller can check it
	// and record the acceptance before AcceptInvite applies it.
	UserByInviteHash(ctx context.Context, tenantID, hash string) (User, error)
	// AcceptInvite spends an invitation in one transaction: the active user
	// of the tenant whose InviteHash is hash and whose InviteExpiresAt is
	// after now gets passwordHash, its invitation fields are cleared and
	// UpdatedAt becomes now. It returns the updated user, or ErrNotFound
	// (and changes nothing) when no such user exists: unknown, spent or
	// expired invitation, inactive user, or another tenant's invitation.
	AcceptInvite(ctx context.Context, tenantID, hash, passwordHash string, now time.Time) (User, error)
}

// APIKey is a machine credential acting as its user. Only the SHA-256 of the
// key is stored; Prefix is the first characters, kept to tell keys apart.
type APIKey struct {
	ID         string
	TenantID   string
	UserID     string
	Name       string
	Prefix     string
	Hash       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// APIKeys stores API keys.
type APIKeys interface {
	// TenantIDByAPIKeyHash finds which tenant a key hash belongs to.
	TenantIDByAPIKeyHash(ctx context.Context, hash string) (string, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
	// AuthenticateAPIKey returns the unrevoked key with that hash and its
	// user (active or not: the caller decides).
	AuthenticateAPIKey(ctx context.Context, tenantID, hash string) (APIKey, User, error)
	ListAPIKeys(ctx context.Context, tenantID, userID string) ([]APIKey, error)
	RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error
}

// RefreshToken is one link of a rotating refresh-token family. Only the hash
// of the token is stored.
type RefreshToken struct {
	Hash      string
	TenantID  string
	UserID    string
	FamilyID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshTokens stores refresh tokens and their families.
type RefreshTokens interface {
	// TenantIDByRefreshHash finds which tenant a refresh token belongs to.
	TenantIDByRefreshHash(ctx context.Context, hash string) (string, error)
	// CreateRefreshToken stores the first token of a new family.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken spends the token with oldHash and stores next in
	// the same family, atomically; next's tenant, user and family are taken
	// from the spent token. It returns the spent token. A missing, expired
	// or revoked-family token gives ErrNotFound; a token that was already
	// spent gives ErrTokenReused after revoking (and committing the
	// revocation of) the whole family, and is returned alongside that error
	// so the caller can record which user and family were hit.
	RotateRefreshToken(ctx context.Context, tenantID, oldHash string, next RefreshToken, now time.Time) (RefreshToken, error)
	// RevokeRefreshFamily revokes a family (logout). Revoking a revoked or
	// unknown family is not an error.
	RevokeRefreshFamily(ctx context.Context, tenantID, familyID string, now time.Time) error
	// UserForSession returns the user of an access token if the token's
	// refresh family is still live (not revoked, not expired).
	UserForSession(ctx context.Context, tenantID, userID, familyID string, now time.Time) (User, error)
}

// Agent is an AI persona's configuration.
type Agent struct {
	TenantID         string
	AgentID          string
	Name             string
	Description      *string
	SystemPrompt     string
	ModelProvider    string
	ModelID          string
	MaxContextTokens int
	EnabledSkillIDs  []string
	AllowedChannels  []string
	OwnerID          string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// Agents stores agent configurations.
type Agents interface {
	CreateAgent(ctx context.Context, a Agent) error
	GetAgent(ctx context.Context, tenantID, agentID string) (Agent, error)
	ListAgents(ctx context.Context, tenantID string, p Page) ([]Agent, int, error)
	// UpdateAgent replaces the mutable fields (everything but TenantID,
	// AgentID, OwnerID and CreatedAt).
	UpdateAgent(ctx context.Context, a Agent) error
	DeleteAgent(ctx context.Context, tenantID, agentID string) error
}

// Turn roles.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// Session is one conversation thread. Key is
// {Channel}:{ChannelAccountID}:{SenderID}; a tenant has at most one active
// (not ended) session per key, while ended ones stay readable with their
// history.
type Session struct {
	ID               string
	TenantID         string
	Key              string
	Channel          string
	ChannelAccountID string
	SenderID         string
	AgentID          string
	Metadata         map[string]string // channel metadata; never nil when read
	MessageCount     int               // user and assistant messages
	FirstMessageAt   time.Time
	LastMessageAt    time.Time
	EndedAt          *time.Time
	EndReason        string // "ended" (by a user) or "idle"; empty while active
}

// Turn is one entry of a session's history. Seq is assigned by the store,
// 1, 2, 3… per session.
type Turn struct {
	TenantID   string
	SessionID  string
	Seq        int64
	Role       string // RoleUser, RoleAssistant or RoleTool
	Text       string
	ToolCalls  []byte // JSON array of the tool calls an assistant turn asked for, or nil
	ToolCallID string // a tool turn: the call it answers
	ToolName   string
	IsError    bool // a tool turn whose call failed
	RequestID  string
	CreatedAt  time.Time
	// Flag is what prompt-injection screening made of the turn: "" (clean
	// or approved), FlagWarn, FlagBlocked, FlagHeld, FlagRejected, or
	// FlagNotice for a reply Komand wrote itself (refusal, holding reply).
	Flag string
}

// Turn flags (Turn.Flag).
const (
	FlagWarn     = "warn"
	FlagBlocked  = "blocked"
	FlagHeld     = "held"
	FlagRejected = "rejected"
	FlagNotice   = "notice"
)

// TurnQuery names the session LoadTurn reads: by SessionID when it is not
// empty, else the active session of Key; History bounds the turns read.
type TurnQuery struct {
	Key       string
	SessionID string
	History   int
}

// TurnState is what LoadTurn reads.
type TurnState struct {
	Session Session
	Agent   *Agent // nil when the session's agent no longer exists
	History []Turn // the last turns, oldest first; never nil
}

// SessionFilter narrows a session listing; empty fields match all. Status is
// "", "active" or "ended".
type SessionFilter struct {
	AgentID string
	Channel string
	Key     string
	Status  string
}

// Sessions stores sessions and their history.
type Sessions interface {
	// CreateSession stores a new active session; an active session with the
	// same key in the tenant gives ErrConflict.
	CreateSession(ctx context.Context, s Session) error
	// ActiveSession returns the tenant's active session for key.
	ActiveSession(ctx context.Context, tenantID, key string) (Session, error)
	GetSession(ctx context.Context, tenantID, id string) (Session, error)
	// ListSessions returns one page, most recently active first, and the
	// total that match.
	ListSessions(ctx context.Context, tenantID string, f SessionFilter, p Page) ([]Session, int, error)
	// AppendTurns appends turns to an active session in one transaction,
	// setting their Seq (and SessionID and TenantID), adding the user and
	// assistant turns to MessageCount and setting LastMessageAt to the last
	// turn's CreatedAt. It returns the updated session. An ended or unknown
	// session gives ErrNotFound and stores nothing.
	AppendTurns(ctx context.Context, tenantID, sessionID string, turns []Turn) (Session, error)
	// ListTurns returns one page of a session's history, oldest first, and
	// the total.
	ListTurns(ctx context.Context, tenantID, sessionID string, p Page) ([]Turn, int, error)
	// RecentTurns returns the last limit turns of a session, oldest first.
	RecentTurns(ctx context.Context, tenantID, sessionID string, limit int) ([]Turn, error)
	// LoadTurn reads what handling a message needs, in one round trip where
	// the store can: the session (the one with ID q.SessionID, ended or
	// not, when it is set; else the tenant's active session for q.Key),
	// its agent and its last q.History turns, oldest first. No such session
	// in the tenant gives ErrNotFound; a session whose agent no longer
	// exists comes back with Agent nil.
	LoadTurn(ctx context.Context, tenantID string, q TurnQuery) (TurnState, error)
	// EndSession marks an active session ended at now with reason. An
	// unknown or already ended session gives ErrNotFound.
	EndSession(ctx context.Context, tenantID, id string, now time.Time, reason string) (Session, error)
	// IdleSessions returns up to limit active sessions of the tenant whose
	// LastMessageAt is before cutoff.
	IdleSessions(ctx context.Context, tenantID string, cutoff time.Time, limit int) ([]Session, error)
	// LockSession serialises message handling for one session key across
	// every process sharing the database (PostgreSQL: a session-level
	// advisory lock on a dedicated connection; SQLite: one process owns the
	// file, so the caller's in-process lock is the whole story and this is
	// a no-op). It blocks until the lock is held or ctx ends; unlock must
	// be called exactly once.
	LockSession(ctx context.Context, tenantID, key string) (unlock func(), err error)
}

// MemoryEntry is one key of an agent's long-term memory.
type MemoryEntry struct {
	TenantID  string
	AgentID   string
	Key       string
	Value     string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// Memory stores agents' memories. An agent's memory is deleted with it.
type Memory interface {
	// PutMemory creates or replaces e.Key. Creating a key when the agent
	// already holds maxEntries gives ErrLimit; an unknown agent gives
	// ErrNotFound. It reports whether the key was created.
	PutMemory(ctx context.Context, e MemoryEntry, maxEntries int) (created bool, err error)
	GetMemory(ctx context.Context, tenantID, agentID, key string) (MemoryEntry, error)
	// ListMemory returns one page ordered by key, and the total.
	ListMemory(ctx context.Context, tenantID, agentID string, p Page) ([]MemoryEntry, int, error)
	DeleteMemory(ctx context.Context, tenantID, agentID, key string) error
}

// DataKey is one version of a tenant's data-encryption key, wrapped
// (encrypted) by the key-encryption key KEKID. The store never sees a key
// in the clear.
type DataKey struct {
	TenantID  string
	Version   int
	KEKID     string
	Wrapped   []byte
	CreatedAt time.Time
}

// DataKeyRewrap is a new wrapping for one data key version.
type DataKeyRewrap struct {
	TenantID string
	Version  int
	OldKEKID string
	NewKEKID string
	Wrapped  []byte
}

// Credential is a vault entry: metadata and the value's ciphertext under
// the tenant's data key KeyVersion. Names are unique per tenant.
type Credential struct {
	TenantID string
	ID       string
	Name     string
	Type     string
	// Source is "" for a value stored here, or the external secret
	// manager holding it (then Ciphertext seals the reference).
	Source     string
	KeyVersion int
	Ciphertext []byte
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt *time.Time
}

// Vault stores tenants' data keys and credentials.
type Vault interface {
	// CreateDataKey stores a new key version; an existing version gives
	// ErrConflict (another replica created it first).
	CreateDataKey(ctx context.Context, k DataKey) error
	// DataKeys returns the tenant's key versions, newest first.
	DataKeys(ctx context.Context, tenantID string) ([]DataKey, error)
	// RewrapDataKeys replaces the wrapping of each key version that is
	// still wrapped by its OldKEKID (others were re-wrapped meanwhile and
	// are skipped), in one transaction, and reports how many it replaced.
	RewrapDataKeys(ctx context.Context, rs []DataKeyRewrap) (int, error)

	// CreateCredential stores c; a taken name gives ErrConflict.
	CreateCredential(ctx context.Context, c Credential) error
	GetCredential(ctx context.Context, tenantID, id string) (Credential, error)
	GetCredentialByName(ctx context.Context, tenantID, name string) (Credential, error)
	// ListCredentials returns one page ordered by name, and the total.
	ListCredentials(ctx context.Context, tenantID string, p Page) ([]Credential, int, error)
	// UpdateCredential replaces Name, Type and UpdatedAt, and, when
	// replaceValue is set, KeyVersion and Ciphertext (a rename never
	// writes the value back, so it cannot undo a concurrent replacement);
	// a taken name gives ErrConflict.
	UpdateCredential(ctx context.Context, c Credential, replaceValue bool) error
	// ReencryptCredential replaces a credential's ciphertext and key
	// version if it still holds exactly oldCiphertext (ErrConflict
	// otherwise: its value was replaced meanwhile, under whatever key);
	// UpdatedAt is not changed.
	ReencryptCredential(ctx context.Context, tenantID, id string, oldCiphertext []byte, newVersion int, ciphertext []byte) error
	// CredentialsBelowVersion returns up to limit credentials of the
	// tenant whose key version is below version, by ID.
	CredentialsBelowVersion(ctx context.Context, tenantID string, version, limit int) ([]Credential, error)
	// TouchCredential sets LastUsedAt.
	TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error
	DeleteCredential(ctx context.Context, tenantID, id string) error

	// GrantCredential lets one skill of one agent read a credential; an
	// existing grant gives ErrConflict, an unknown credential or agent
	// ErrNotFound. Grants go with their credential or agent.
	GrantCredential(ctx context.Context, g CredentialGrant) error
	// RevokeCredential removes a grant; an unknown one gives ErrNotFound.
	RevokeCredential(ctx context.Context, tenantID, credentialID, agentID, skillID string) error
	// CredentialGrants lists a credential's grants by agent and skill.
	CredentialGrants(ctx context.Context, tenantID, credentialID string) ([]CredentialGrant, error)
	// GrantedCredential returns the credential called name if skillID on
	// agentID holds a grant for it, and ErrNotFound otherwise (whether the
	// name exists or not), with the grant's hosts.
	GrantedCredential(ctx context.Context, tenantID, agentID, skillID, name string) (Credential, []string, error)
}

// SplitHosts reads a grant's stored hosts (comma-separated; "" is none).
func SplitHosts(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

// CredentialGrant lets one skill of one agent read one credential.
type CredentialGrant struct {
	TenantID     string
	CredentialID string
	AgentID      string
	SkillID      string
	// Hosts bind the grant to requests to these hosts, by reference only
	// (none: any use).
	Hosts     []string
	CreatedBy string
	CreatedAt time.Time
}

// ChannelAccount is one account of a platform (a webhook endpoint, a Slack
// workspace app, a Telegram bot) bound to the agent that answers it. Its
// signing secret lives in the vault; SecretCredentialID names it.
type ChannelAccount struct {
	TenantID           string
	ID                 string
	Channel            string
	AccountID          string
	AgentID            string
	SecretCredentialID string // verifies inbound deliveries
	TokenCredentialID  string // authenticates outbound calls (Telegram's bot token); may be empty
	CreatedBy          string
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// Channels stores channel accounts and webhook replay protection. An
// account is deleted with its agent.
type Channels interface {
	// CreateChannelAccount stores a; a taken (channel, account ID) gives
	// ErrConflict, an unknown agent ErrNotFound.
	CreateChannelAccount(ctx context.Context, a ChannelAccount) error
	GetChannelAccount(ctx context.Context, tenantID, id string) (ChannelAccount, error)
	// ChannelAccountByKey finds the account of a channel by its account ID.
	ChannelAccountByKey(ctx context.Context, tenantID, channel, accountID string) (ChannelAccount, error)
	// ListChannelAccounts returns one page ordered by channel and account
	// ID, and the total.
	ListChannelAccounts(ctx context.Context, tenantID string, p Page) ([]ChannelAccount, int, error)
	DeleteChannelAccount(ctx context.Context, tenantID, id string) error
	// TenantIDByChannelAccount returns the tenant of an account ID (an
	// inbound webhook names only its account); ErrNotFound when unknown.
	TenantIDByChannelAccount(ctx context.Context, id string) (string, error)
	// MarkWebhookSeen records a delivery's signature for an account until
	// expiresAt, and gives ErrConflict when it was seen before (a
	// replay). Entries expired at now are dropped.
	MarkWebhookSeen(ctx context.Context, tenantID, accountID, signature string, now, expiresAt time.Time) error
}

// Skill is one version of a registered skill package. A new version is a
// new row; a version is never edited in place.
type Skill struct {
	TenantID    string
	SkillID     string
	Version     string // major.minor.patch
	VersionKey  string // sortable form of Version (skill.VersionKey)
	Name        string
	Description string
	PublisherID string
	Category    string
	// Contract is the contract JSON exactly as signed.
	Contract []byte
	// Module is the WebAssembly module; only SkillModule returns it.
	Module         []byte
	ModuleDigest   string
	SignatureHash  string // "sha256:<hex>", computed by the server
	SignatureKeyID string // the trusted key that verified it, "" when unverified
	IsVerified     bool
	CreatedBy      string
	CreatedAt      time.Time
}

// SkillFilter narrows a skill listing; zero values match all.
type SkillFilter struct {
	PublisherID  string
	Category     string
	VerifiedOnly bool
	// Query matches the skill ID, name or description (case-insensitive substring).
	Query string
}

// SkillInstall is a skill installed on an agent, with the permissions the
// installer granted (the consent) as JSON.
type SkillInstall struct {
	TenantID    string
	AgentID     string
	SkillID     string
	Version     string
	Granted     []byte // JSON array of permission objects
	Config      []byte // JSON object of string settings
	InstalledBy string
	InstalledAt time.Time
	UpdatedAt   time.Time
}

// SkillPolicy is a tenant's registry policy.
type SkillPolicy struct {
	TenantID      string
	AllowUnsigned bool
	UpdatedBy     string
	UpdatedAt     time.Time
}

// Skills is the tenant's skill registry and the skills installed on its
// agents.
type Skills interface {
	// CreateSkill stores one version. An existing (skill, version) gives
	// ErrConflict; a new skill ID when the tenant already holds maxSkills
	// skills, or a new version when the skill holds maxVersions, gives
	// ErrLimit (atomically, also under concurrent writers).
	CreateSkill(ctx context.Context, s Skill, maxSkills, maxVersions int) error
	// GetSkill returns one version (without the module); version "" is the
	// newest.
	GetSkill(ctx context.Context, tenantID, skillID, version string) (Skill, error)
	// SkillModule returns a version's module.
	SkillModule(ctx context.Context, tenantID, skillID, version string) ([]byte, error)
	// ListSkills returns the newest version of each matching skill, one
	// page ordered by skill ID, and the total.
	ListSkills(ctx context.Context, tenantID string, f SkillFilter, p Page) ([]Skill, int, error)
	// ListSkillVersions returns every version of a skill, newest first.
	ListSkillVersions(ctx context.Context, tenantID, skillID string) ([]Skill, error)
	// DeleteSkillVersion removes one version (version "" removes all). A
	// version installed on an agent gives ErrConflict.
	DeleteSkillVersion(ctx context.Context, tenantID, skillID, version string) error

	// PutSkillInstall installs (or upgrades, or re-grants) a skill on an
	// agent; an unknown agent or skill version gives ErrNotFound. It
	// reports whether the installation is new.
	PutSkillInstall(ctx context.Context, in SkillInstall) (created bool, err error)
	GetSkillInstall(ctx context.Context, tenantID, agentID, skillID string) (SkillInstall, error)
	// ListSkillInstalls returns an agent's installations ordered by skill ID.
	ListSkillInstalls(ctx context.Context, tenantID, agentID string) ([]SkillInstall, error)
	DeleteSkillInstall(ctx context.Context, tenantID, agentID, skillID string) error

	// GetSkillPolicy returns the tenant's policy (the zero policy, with
	// TenantID set, when none was stored).
	GetSkillPolicy(ctx context.Context, tenantID string) (SkillPolicy, error)
	PutSkillPolicy(ctx context.Context, p SkillPolicy) error
}

// Contact is one contact of the tenant's built-in CRM.
type Contact struct {
	TenantID  string
	ID        string
	Name      string
	Email     string
	Phone     string
	Company   string
	Notes     string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CRM is the tenant's contacts table (what the "database" platform tool
// reads for skills granted crm:read).
type CRM interface {
	// CreateContact stores c; past maxContacts gives ErrLimit.
	CreateContact(ctx context.Context, c Contact, maxContacts int) error
	GetContact(ctx context.Context, tenantID, id string) (Contact, error)
	// ListContacts returns one page ordered by name then ID, matching
	// query (case-insensitive substring of name, email or company; "" all),
	// and the total.
	ListContacts(ctx context.Context, tenantID, query string, p Page) ([]Contact, int, error)
	UpdateContact(ctx context.Context, c Contact) error
	DeleteContact(ctx context.Context, tenantID, id string) error
}

// AuditEntry is one record of the tamper-evident audit trail. Seq, PrevHash
// and Hash are assigned by the store when the entry is appended.
type AuditEntry struct {
	ID        string
	TenantID  string
	Seq       int64
	Action    string
	ActorID   string
	AgentID   string
	SessionID string
	SkillID   string
	Details   []byte // canonical JSON object
	RequestID string
	Timestamp time.Time // UTC, microsecond precision
	PrevHash  string    // hex SHA-256 of the previous entry of the tenant
	Hash      string    // hex SHA-256 over this entry's content and PrevHash
}

// AuditFilter narrows an audit listing. Empty strings and nil times match all.
type AuditFilter struct {
	Action    string
	ActorID   string
	AgentID   string
	SessionID string
	SkillID   string
	From      *time.Time
	To        *time.Time
}

// SealFunc computes the hash of e, whose Seq and PrevHash are already set.
type SealFunc func(e *AuditEntry) string

// InjectionPolicy is a tenant's prompt-injection policy document (JSON,
// validated and interpreted by the injection package; the store keeps it
// as given). Doc is nil when the tenant never set one.
type InjectionPolicy struct {
	TenantID  string
	Doc       []byte
	UpdatedBy string
	UpdatedAt time.Time
}

// Review is one item of the escalation queue: a held user message, a held
// tool output, or a consequential tool call waiting for an Admin.
type Review struct {
	TenantID   string
	ID         string
	SessionID  string
	AgentID    string
	Kind       string // ReviewMessage, ReviewToolOutput, ReviewToolCall
	Source     string // "user", "skill" or "external"
	TurnSeq    int64  // the held turn
	ToolName   string // tool output and tool call: the tool
	Excerpt    string // bounded excerpt of the held text
	Score      float64
	Categories []string // never nil after a read
	Status     string   // ReviewPending, ReviewApproved, ReviewRejected
	RequestID  string
	CreatedAt  time.Time
	DecidedBy  string
	DecidedAt  *time.Time
}

// Review kinds and states.
const (
	ReviewMessage    = "message"
	ReviewToolOutput = "tool_output"
	ReviewToolCall   = "tool_call"
	ReviewPending    = "pending"
	ReviewApproved   = "approved"
	ReviewRejected   = "rejected"
)

// ReviewFilter narrows a review listing; empty fields match all.
type ReviewFilter struct {
	Status    string
	SessionID string
}

// Injection stores prompt-injection policies and the review queue.
type Injection interface {
	// GetInjectionPolicy returns the tenant's policy, ErrNotFound when it
	// never set one.
	GetInjectionPolicy(ctx context.Context, tenantID string) (InjectionPolicy, error)
	// PutInjectionPolicy creates or replaces the tenant's policy.
	PutInjectionPolicy(ctx context.Context, p InjectionPolicy) error
	// CreateReview stores a new pending review; a taken ID gives
	// ErrConflict.
	CreateReview(ctx context.Context, r Review) error
	// GetReview returns one review of the tenant.
	GetReview(ctx context.Context, tenantID, id string) (Review, error)
	// ListReviews returns one page of the tenant's reviews matching f,
	// newest first, and the total.
	ListReviews(ctx context.Context, tenantID string, f ReviewFilter, p Page) ([]Review, int, error)
	// DecideReview moves a pending review to status (approved or rejected),
	// recording who and when, and returns it. A review that is not pending
	// gives ErrConflict (two Admins deciding at once: one wins); a missing
	// one ErrNotFound.
	DecideReview(ctx context.Context, tenantID, id, status, by string, at time.Time) (Review, error)
	// SetTurnFlag sets the flag of one turn of a session (ErrNotFound when
	// there is no such turn).
	SetTurnFlag(ctx context.Context, tenantID, sessionID string, seq int64, flag string) error
}

// Audit is the append-only audit log. There is deliberately no method that
// updates or deletes an entry.
type Audit interface {
	// AppendAudit appends entries (possibly of several tenants) in one
	// durable transaction, extending each tenant's hash chain in order: for
	// each entry it sets Seq and PrevHash from the tenant's chain head and
	// Hash from seal. Either all entries are stored or none.
	AppendAudit(ctx context.Context, entries []AuditEntry, seal SealFunc) error
	// AppendAuditWith is AppendAudit that also makes each of appends, in
	// the same transaction, as AppendTurns would (a unit of work: an agent
	// turn's history and its audit entries are stored together or not at
	// all). An append to an ended or unknown session fails the whole
	// transaction, every entry of the batch included, with ErrNotFound.
	// Once committed, each append's turns have Seq, SessionID and TenantID
	// set.
	AppendAuditWith(ctx context.Context, entries []AuditEntry, seal SealFunc, appends []*TurnAppend) error
	// ListAudit returns one page of a tenant's entries, newest first, and
	// the total that match.
	ListAudit(ctx context.Context, tenantID string, f AuditFilter, p Page) ([]AuditEntry, int, error)
	// ScanAudit returns up to limit entries with Seq > afterSeq in chain
	// order, for verification.
	ScanAudit(ctx context.Context, tenantID string, afterSeq int64, limit int) ([]AuditEntry, error)
	// AuditHead returns the tenant's chain head (0 and "" when empty).
	AuditHead(ctx context.Context, tenantID string) (seq int64, hash string, err error)
}

// TurnAppend is turns to append to a session's history in an audit batch's
// transaction (AppendAuditWith).
type TurnAppend struct {
	TenantID  string
	SessionID string
	Turns     []Turn
}

// PlatformTenantID is the reserved tenant that owns platform-level records
// which belong to no business, such as a failed login for an email that
// matches no user. Migrations create it; its slug "_platform" cannot be
// chosen by a tenant because tenant slugs may not start with "_".
const PlatformTenantID = "00000000-0000-0000-0000-000000000000"
