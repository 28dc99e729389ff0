package store

import (
	"context"
	"time"
)

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

// PageKey is the skill's position in SkillList.
func (k Skill) PageKey() (List, []any) { return SkillList, []any{k.SkillID} }
