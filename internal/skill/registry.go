package skill

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Registry limits.
const (
	MaxSkills         = 10000 // per tenant (product.md), unless SetMaxSkills sets another
	MaxVersions       = 100   // per skill
	maxConfigKeys     = 32
	maxConfigValueLen = 4096
)

// RegistryStore is what the registry needs of the store.
type RegistryStore interface {
	store.Skills
	GetAgent(ctx context.Context, tenantID, agentID string) (store.Agent, error)
}

// Agents enables and disables a skill on an agent: agent.Service, the one
// writer of the agent row (wired by the app).
type Agents interface {
	SetSkillEnabled(ctx context.Context, p authz.Principal, agentID, skillID string, on bool) error
}

// Registry is the tenant's skill registry: registration with signature
// verification, listing, versions, and installation on agents with the
// installer's explicit grant of the skill's permissions. It owns the
// authorization and audit of all of it, so the API and the CLI share one
// set of checks.
//
// Decision: the registry is per tenant. A skill registered by one tenant
// is invisible to every other (the same skill ID can exist in two tenants
// as two packages); publishers' trust comes from the deployment's trusted
// keys, not from another tenant's upload.
type Registry struct {
	st      RegistryStore
	authz   *authz.Authorizer
	audit   audit.Recorder
	sb      Sandboxes
	trusted TrustedKeys
	log     *slog.Logger
	now     func() time.Time
	agents  Agents

	maxSkills int // per tenant (Limits:MaxSkills)
}

// NewRegistry returns the registry.
func NewRegistry(st RegistryStore, agents Agents, az *authz.Authorizer, rec audit.Recorder, sb Sandboxes, trusted TrustedKeys, log *slog.Logger, now func() time.Time) *Registry {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{st: st, agents: agents, authz: az, audit: rec, sb: sb, trusted: trusted, log: log, now: now, maxSkills: MaxSkills}
}

// SetMaxSkills sets the per-tenant quota of skills (at least 1); call it
// before the registry is used.
func (r *Registry) SetMaxSkills(n int) { r.maxSkills = n }

// ErrSkillNotFound is a skill (or version) the caller's tenant does not have.
var ErrSkillNotFound = apperr.New(apperr.NotFound, "skill not found")

// Skill is a registered version as the API shows it.
type Skill struct {
	Contract
	ModuleDigest  string    `json:"moduleDigest"`
	ModuleBytes   int       `json:"moduleBytes,omitempty"`
	SignatureHash string    `json:"signatureHash"`
	SignedBy      string    `json:"signedBy,omitempty"`
	IsVerified    bool      `json:"isVerified"`
	CreatedBy     string    `json:"createdBy"`
	CreatedAt     time.Time `json:"createdAt"`
}

func view(k store.Skill) (Skill, error) {
	c, err := ParseContract(k.Contract)
	if err != nil {
		return Skill{}, fmt.Errorf("skill %s@%s: stored contract does not parse: %w", k.SkillID, k.Version, err)
	}
	return Skill{Contract: c, ModuleDigest: k.ModuleDigest, SignatureHash: k.SignatureHash, SignedBy: k.SignatureKeyID,
		IsVerified: k.IsVerified, CreatedBy: k.CreatedBy, CreatedAt: k.CreatedAt}, nil
}

func (r *Registry) record(ctx context.Context, p authz.Principal, action audit.Action, agentID, skillID string, details map[string]any) error {
	return audit.Record(ctx, r.audit, audit.By(p), skillEvent(action, agentID, skillID, details))
}

// skillEvent is a registry or installation event of skillID (on agentID,
// when not empty).
func skillEvent(action audit.Action, agentID, skillID string, details map[string]any) audit.Event {
	return audit.Event{Action: action, AgentID: agentID, SkillID: skillID, Details: details}
}

// CanRegister checks that p may register skills, so the gateway refuses
// before it reads a package body of up to 96 MiB.
func (r *Registry) CanRegister(ctx context.Context, p authz.Principal) error {
	return r.authz.Check(ctx, p, authz.Create, authz.Skills, authz.Target{})
}

// Register verifies and stores a skill package (one new version).
func (r *Registry) Register(ctx context.Context, p authz.Principal, raw []byte) (Skill, error) {
	if err := r.authz.Check(ctx, p, authz.Create, authz.Skills, authz.Target{}); err != nil {
		return Skill{}, err
	}
	pkg, err := DecodePackage(raw)
	if err != nil {
		return Skill{}, err
	}
	c, err := ParseContract(pkg.Contract)
	if err != nil {
		return Skill{}, err
	}
	if len(pkg.Module) > sandbox.MaxModuleBytes {
		return Skill{}, apperr.New(apperr.TooLarge, "the skill module is too large")
	}
	v, err := r.trusted.Verify(pkg, c.PublisherID)
	if err != nil {
		r.record(ctx, p, audit.SkillRejected, "", c.SkillID, map[string]any{"version": c.Version, "reason": "signature"})
		return Skill{}, err
	}
	if !v.Verified {
		if v.PublisherHasKeys {
			r.record(ctx, p, audit.SkillRejected, "", c.SkillID, map[string]any{"version": c.Version, "reason": "unsigned"})
			return Skill{}, apperr.New(apperr.Invalid, "packages of this publisher must be signed with one of its trusted keys")
		}
		pol, err := r.st.GetSkillPolicy(ctx, p.TenantID)
		if err != nil {
			return Skill{}, err
		}
		if !pol.AllowUnsigned {
			r.record(ctx, p, audit.SkillRejected, "", c.SkillID, map[string]any{"version": c.Version, "reason": "unsigned"})
			return Skill{}, apperr.New(apperr.Invalid, unverifiedMessage(pkg.Signature != nil, len(r.trusted) > 0, c.PublisherID))
		}
	}
	if r.sb.WASM != nil {
		if _, err := Prepare(ctx, r.sb, c, pkg.Module, v.Verified); err != nil {
			return Skill{}, err
		}
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, pkg.Contract); err != nil {
		return Skill{}, apperr.New(apperr.Invalid, "the skill contract is not valid JSON")
	}
	now := r.now().UTC().Truncate(time.Microsecond)
	k := store.Skill{TenantID: p.TenantID, SkillID: c.SkillID, Version: c.Version, VersionKey: VersionKey(c.Version),
		Name: c.Name, Description: c.Description, PublisherID: c.PublisherID, Category: c.Category,
		Contract: compact.Bytes(), Module: pkg.Module, ModuleDigest: sandbox.Digest(pkg.Module),
		SignatureHash: v.SignatureHash, SignatureKeyID: v.KeyID, IsVerified: v.Verified, CreatedBy: p.UserID, CreatedAt: now}
	err = audit.Do(ctx, r.audit, audit.By(p), skillEvent(audit.SkillRegistered, "", c.SkillID, map[string]any{"version": c.Version,
		"isVerified": v.Verified, "signatureHash": v.SignatureHash, "signedBy": v.KeyID,
		"permissions": permStrings(c.RequiredPermissions)}), func() error {
		return r.st.CreateSkill(ctx, k, r.maxSkills, MaxVersions)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return Skill{}, apperr.New(apperr.Conflict, "this version of the skill is already registered; publish a new version")
	case errors.Is(err, store.ErrLimit):
		return Skill{}, apperr.New(apperr.LimitReached, fmt.Sprintf(
			"the registry is full: at most %d skills (Limits:MaxSkills) and %d versions of each", r.maxSkills, MaxVersions))
	case err != nil:
		return Skill{}, err
	}
	out, err := view(k)
	out.ModuleBytes = len(pkg.Module)
	return out, err
}

func permStrings(ps []Permission) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// ValidID reports whether id is a well-formed skill ID.
func ValidID(id string) bool { return checkSkillID(id) == nil }

func checkSkillID(id string) error {
	if len(id) == 0 || len(id) > 64 || !skillIDRe.MatchString(id) {
		return ErrSkillNotFound
	}
	return nil
}

func checkVersion(v string) error {
	if v != "" && VersionKey(v) == "" {
		return ErrSkillNotFound
	}
	return nil
}

// List lists the newest version of each skill.
func (r *Registry) List(ctx context.Context, p authz.Principal, f store.SkillFilter, pg store.Page) ([]Skill, int, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	if len(f.Query) > 200 || len(f.PublisherID) > 64 || len(f.Category) > 64 {
		return nil, 0, apperr.New(apperr.Invalid, "search terms are too long")
	}
	ks, total, err := r.st.ListSkills(ctx, p.TenantID, f, pg)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Skill, 0, len(ks))
	for _, k := range ks {
		v, err := view(k)
		if err != nil {
			return nil, 0, err
		}
		out = append(out, v)
	}
	return out, total, nil
}

// Get returns one version ("" is the newest).
func (r *Registry) Get(ctx context.Context, p authz.Principal, skillID, version string) (Skill, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{SkillID: safeID(skillID)}); err != nil {
		return Skill{}, err
	}
	if err := errors.Join(checkSkillID(skillID), checkVersion(version)); err != nil {
		return Skill{}, ErrSkillNotFound
	}
	k, err := r.st.GetSkill(ctx, p.TenantID, skillID, version)
	if errors.Is(err, store.ErrNotFound) {
		return Skill{}, ErrSkillNotFound
	}
	if err != nil {
		return Skill{}, err
	}
	return view(k)
}

// Versions lists every version of a skill, newest first.
func (r *Registry) Versions(ctx context.Context, p authz.Principal, skillID string) ([]Skill, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{SkillID: safeID(skillID)}); err != nil {
		return nil, err
	}
	if checkSkillID(skillID) != nil {
		return nil, ErrSkillNotFound
	}
	ks, err := r.st.ListSkillVersions(ctx, p.TenantID, skillID)
	if err != nil {
		return nil, err
	}
	if len(ks) == 0 {
		return nil, ErrSkillNotFound
	}
	out := make([]Skill, 0, len(ks))
	for _, k := range ks {
		v, err := view(k)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Delete removes a version ("" removes every version). An installed
// version cannot be deleted.
func (r *Registry) Delete(ctx context.Context, p authz.Principal, skillID, version string) error {
	if err := r.authz.Check(ctx, p, authz.Delete, authz.Skills, authz.Target{SkillID: safeID(skillID)}); err != nil {
		return err
	}
	if err := errors.Join(checkSkillID(skillID), checkVersion(version)); err != nil {
		return ErrSkillNotFound
	}
	if _, err := r.st.GetSkill(ctx, p.TenantID, skillID, version); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrSkillNotFound
		}
		return err
	}
	err := audit.Do(ctx, r.audit, audit.By(p), skillEvent(audit.SkillDeleted, "", skillID, map[string]any{"version": version}), func() error {
		return r.st.DeleteSkillVersion(ctx, p.TenantID, skillID, version)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return apperr.New(apperr.Conflict, "the skill is installed on an agent; uninstall it first")
	case errors.Is(err, store.ErrNotFound):
		return ErrSkillNotFound
	default:
		return err
	}
}

// safeID keeps a hostile ID out of a denial's audit entry.
func safeID(id string) string {
	if checkSkillID(id) != nil {
		return ""
	}
	return id
}

// Installation is a skill installed on an agent.
type Installation struct {
	AgentID            string            `json:"agentId"`
	SkillID            string            `json:"skillId"`
	Version            string            `json:"version"`
	GrantedPermissions []Permission      `json:"grantedPermissions"`
	Config             map[string]string `json:"config"`
	InstalledBy        string            `json:"installedBy"`
	InstalledAt        time.Time         `json:"installedAt"`
	UpdatedAt          time.Time         `json:"updatedAt"`
	// Active says the skill is offered to the model: every permission it
	// requires is granted and it is in the agent's enabledSkillIds.
	Active bool `json:"active"`
}

// Consent is what an installer is asked to grant, and how it differs from
// what is granted now.
type Consent struct {
	SkillID             string       `json:"skillId"`
	Version             string       `json:"version"`
	InstalledVersion    string       `json:"installedVersion,omitempty"`
	RequiredPermissions []Permission `json:"requiredPermissions"`
	CurrentlyGranted    []Permission `json:"currentlyGranted"`
	Added               []Permission `json:"added"`   // required now, not granted yet
	Removed             []Permission `json:"removed"` // granted, no longer required
	IsVerified          bool         `json:"isVerified"`
	SignatureHash       string       `json:"signatureHash"`
}

// DecodeGrant reads an installation's stored grant (none when it does not
// parse).
func DecodeGrant(b []byte) []Permission {
	var ps []Permission
	if json.Unmarshal(b, &ps) != nil {
		return []Permission{}
	}
	return ps
}

// Missing lists, as strings, the permissions of want that have lacks.
func Missing(want, have []Permission) []string {
	m, _ := diff(want, have)
	return permStrings(m)
}

func diff(want, have []Permission) (added, removed []Permission) {
	added, removed = []Permission{}, []Permission{}
	for _, w := range want {
		if !slices.ContainsFunc(have, w.Equal) {
			added = append(added, w)
		}
	}
	for _, h := range have {
		if !slices.ContainsFunc(want, h.Equal) {
			removed = append(removed, h)
		}
	}
	return added, removed
}

// agentOf checks an agent exists in p's tenant.
func (r *Registry) agentOf(ctx context.Context, p authz.Principal, agentID string) (store.Agent, error) {
	if validate.Slug("agentId", agentID, validate.MaxIDLen) != nil {
		return store.Agent{}, apperr.New(apperr.NotFound, "agent not found")
	}
	a, err := r.st.GetAgent(ctx, p.TenantID, agentID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Agent{}, apperr.New(apperr.NotFound, "agent not found")
	}
	return a, err
}

// Consent shows what installing (or upgrading to) a version asks for.
func (r *Registry) Consent(ctx context.Context, p authz.Principal, agentID, skillID, version string) (Consent, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{AgentID: safeAgent(agentID), SkillID: safeID(skillID)}); err != nil {
		return Consent{}, err
	}
	if _, err := r.agentOf(ctx, p, agentID); err != nil {
		return Consent{}, err
	}
	k, c, err := r.version(ctx, p, skillID, version)
	if err != nil {
		return Consent{}, err
	}
	out := Consent{SkillID: skillID, Version: k.Version, RequiredPermissions: c.RequiredPermissions,
		CurrentlyGranted: []Permission{}, IsVerified: k.IsVerified, SignatureHash: k.SignatureHash}
	if in, err := r.st.GetSkillInstall(ctx, p.TenantID, agentID, skillID); err == nil {
		out.InstalledVersion, out.CurrentlyGranted = in.Version, DecodeGrant(in.Granted)
	} else if !errors.Is(err, store.ErrNotFound) {
		return Consent{}, err
	}
	out.Added, out.Removed = diff(c.RequiredPermissions, out.CurrentlyGranted)
	return out, nil
}

func safeAgent(id string) string {
	if validate.Slug("agentId", id, validate.MaxIDLen) != nil {
		return ""
	}
	return id
}

func (r *Registry) version(ctx context.Context, p authz.Principal, skillID, version string) (store.Skill, Contract, error) {
	if err := errors.Join(checkSkillID(skillID), checkVersion(version)); err != nil {
		return store.Skill{}, Contract{}, ErrSkillNotFound
	}
	k, err := r.st.GetSkill(ctx, p.TenantID, skillID, version)
	if errors.Is(err, store.ErrNotFound) {
		return store.Skill{}, Contract{}, ErrSkillNotFound
	}
	if err != nil {
		return store.Skill{}, Contract{}, err
	}
	c, err := ParseContract(k.Contract)
	return k, c, err
}

// InstallInput is an installation request: the version ("" is the
// newest), the permissions the installer grants (the consent: exactly the
// skill's required permissions), and settings.
type InstallInput struct {
	AgentID string
	SkillID string
	Version string
	Grant   []Permission
	Config  map[string]string
}

// permissionRight maps a skill permission onto the installer's own role:
// one cannot grant a skill what one may not do oneself.
func permissionRight(perm Permission) (authz.Verb, authz.Resource, bool) {
	var res authz.Resource
	switch perm.Resource {
	case "crm":
		res = authz.CRM
	case "credentials":
		res = authz.Credentials
	case "sessions":
		res = authz.Sessions
	case "memory":
		res = authz.Memory
	case "messages":
		res = authz.Messages
	default:
		return "", "", false
	}
	switch perm.Access {
	case "read":
		return authz.Read, res, true
	case "delete":
		return authz.Delete, res, true
	case "create", "send":
		return authz.Create, res, true
	default:
		return authz.Update, res, true
	}
}

// Install installs (or upgrades, or re-grants) a skill on an agent.
func (r *Registry) Install(ctx context.Context, p authz.Principal, in InstallInput) (Installation, []Permission, []Permission, error) {
	t := authz.Target{AgentID: safeAgent(in.AgentID), SkillID: safeID(in.SkillID)}
	if err := r.authz.Check(ctx, p, authz.Update, authz.Agents, t); err != nil {
		return Installation{}, nil, nil, err
	}
	if err := r.authz.Check(ctx, p, authz.Create, authz.Skills, t); err != nil {
		return Installation{}, nil, nil, err
	}
	if _, err := r.agentOf(ctx, p, in.AgentID); err != nil {
		return Installation{}, nil, nil, err
	}
	k, c, err := r.version(ctx, p, in.SkillID, in.Version)
	if err != nil {
		return Installation{}, nil, nil, err
	}
	if err := checkConfig(in.Config); err != nil {
		return Installation{}, nil, nil, err
	}
	grant := make([]Permission, 0, len(in.Grant))
	for _, g := range in.Grant {
		if err := g.normalise(); err != nil {
			return Installation{}, nil, nil, err
		}
		grant = append(grant, g)
	}
	missing, extra := diff(c.RequiredPermissions, grant)
	if len(extra) > 0 {
		return Installation{}, nil, nil, apperr.New(apperr.Invalid, "grant only the permissions the skill requires; not required: "+strings.Join(permStrings(extra), ", "))
	}
	var prev []Permission
	old, err := r.st.GetSkillInstall(ctx, p.TenantID, in.AgentID, in.SkillID)
	switch {
	case err == nil:
		prev = DecodeGrant(old.Granted)
	case errors.Is(err, store.ErrNotFound):
	default:
		return Installation{}, nil, nil, err
	}
	if len(missing) > 0 {
		msg := "grant every permission the skill requires (the consent step); not granted: " + strings.Join(permStrings(missing), ", ")
		if prev != nil {
			added, _ := diff(c.RequiredPermissions, prev)
			if len(added) > 0 {
				msg = fmt.Sprintf("version %s asks for new permissions: %s; grant them to upgrade", k.Version, strings.Join(permStrings(added), ", "))
			}
		}
		return Installation{}, nil, nil, apperr.New(apperr.Invalid, msg)
	}
	for _, g := range grant {
		if verb, res, ok := permissionRight(g); ok && !authz.Allowed(p.Role, verb, res) {
			return Installation{}, nil, nil, r.authz.Deny(ctx, p, verb, res, t, "installer cannot grant "+g.String())
		}
	}
	added, removed := diff(grant, prev)
	now := r.now().UTC().Truncate(time.Microsecond)
	gj, _ := json.Marshal(grant)
	cfg := in.Config
	if cfg == nil {
		cfg = map[string]string{}
	}
	cj, _ := json.Marshal(cfg)
	rec := store.SkillInstall{TenantID: p.TenantID, AgentID: in.AgentID, SkillID: in.SkillID, Version: k.Version,
		Granted: gj, Config: cj, InstalledBy: p.UserID, InstalledAt: now, UpdatedAt: now}
	if r.sb.WASM != nil {
		// Compile now, not on the first call.
		mod, err := r.st.SkillModule(ctx, p.TenantID, in.SkillID, k.Version)
		if err != nil {
			return Installation{}, nil, nil, err
		}
		if _, err := Prepare(ctx, r.sb, c, mod, k.IsVerified); err != nil {
			if errors.Is(err, ErrContainerDisabled) {
				return Installation{}, nil, nil, err
			}
			return Installation{}, nil, nil, apperr.New(apperr.Invalid, "the skill module does not compile on this server")
		}
	}
	details := map[string]any{"version": k.Version, "granted": permStrings(grant),
		"added": permStrings(added), "removed": permStrings(removed), "isVerified": k.IsVerified}
	if prev != nil {
		details["previousVersion"] = old.Version
	}
	var created bool
	err = audit.Do(ctx, r.audit, audit.By(p), skillEvent(audit.SkillInstalled, in.AgentID, in.SkillID, details), func() error {
		var err error
		created, err = r.st.PutSkillInstall(ctx, rec)
		return err
	})
	if errors.Is(err, store.ErrNotFound) {
		return Installation{}, nil, nil, ErrSkillNotFound
	}
	if err != nil {
		return Installation{}, nil, nil, err
	}
	if !created {
		rec.InstalledBy, rec.InstalledAt = old.InstalledBy, old.InstalledAt
	}
	if err := r.agents.SetSkillEnabled(ctx, p, in.AgentID, in.SkillID, true); err != nil {
		return Installation{}, nil, nil, err
	}
	out := installation(rec, c)
	out.Active = true
	return out, added, removed, nil
}

func checkConfig(cfg map[string]string) error {
	if len(cfg) > maxConfigKeys {
		return apperr.New(apperr.Invalid, fmt.Sprintf("config: at most %d keys", maxConfigKeys))
	}
	for k, v := range cfg {
		if validate.Slug("config key", k, 64) != nil {
			return apperr.New(apperr.Invalid, "config keys are lowercase slugs of at most 64 characters")
		}
		if len(v) > maxConfigValueLen || hasControl(v) {
			return apperr.New(apperr.Invalid, fmt.Sprintf("config values are at most %d characters of text", maxConfigValueLen))
		}
	}
	return nil
}

func installation(in store.SkillInstall, c Contract) Installation {
	out := Installation{AgentID: in.AgentID, SkillID: in.SkillID, Version: in.Version, GrantedPermissions: DecodeGrant(in.Granted),
		Config: map[string]string{}, InstalledBy: in.InstalledBy, InstalledAt: in.InstalledAt, UpdatedAt: in.UpdatedAt}
	_ = json.Unmarshal(in.Config, &out.Config)
	missing, _ := diff(c.RequiredPermissions, out.GrantedPermissions)
	out.Active = len(missing) == 0
	return out
}

// Uninstall removes a skill from an agent.
func (r *Registry) Uninstall(ctx context.Context, p authz.Principal, agentID, skillID string) error {
	t := authz.Target{AgentID: safeAgent(agentID), SkillID: safeID(skillID)}
	if err := r.authz.Check(ctx, p, authz.Update, authz.Agents, t); err != nil {
		return err
	}
	if err := r.authz.Check(ctx, p, authz.Delete, authz.Skills, t); err != nil {
		return err
	}
	if _, err := r.agentOf(ctx, p, agentID); err != nil {
		return err
	}
	if checkSkillID(skillID) != nil {
		return ErrSkillNotFound
	}
	old, err := r.st.GetSkillInstall(ctx, p.TenantID, agentID, skillID)
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "the skill is not installed on this agent")
	}
	if err != nil {
		return err
	}
	return audit.Do(ctx, r.audit, audit.By(p), skillEvent(audit.SkillUninstalled, agentID, skillID, map[string]any{"version": old.Version}), func() error {
		if err := r.agents.SetSkillEnabled(ctx, p, agentID, skillID, false); err != nil {
			return err
		}
		if err := r.st.DeleteSkillInstall(ctx, p.TenantID, agentID, skillID); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
		return nil
	})
}

// Installed lists an agent's installations.
func (r *Registry) Installed(ctx context.Context, p authz.Principal, agentID string) ([]Installation, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{AgentID: safeAgent(agentID)}); err != nil {
		return nil, err
	}
	a, err := r.agentOf(ctx, p, agentID)
	if err != nil {
		return nil, err
	}
	ins, err := r.st.ListSkillInstalls(ctx, p.TenantID, agentID)
	if err != nil {
		return nil, err
	}
	out := make([]Installation, 0, len(ins))
	for _, in := range ins {
		k, err := r.st.GetSkill(ctx, p.TenantID, in.SkillID, in.Version)
		if err != nil {
			return nil, err
		}
		c, err := ParseContract(k.Contract)
		if err != nil {
			return nil, err
		}
		v := installation(in, c)
		v.Active = v.Active && slices.Contains(a.EnabledSkillIDs, in.SkillID)
		out = append(out, v)
	}
	return out, nil
}

// Policy is the tenant's registry policy as the API shows it.
type Policy struct {
	AllowUnsigned bool      `json:"allowUnsigned"`
	UpdatedBy     string    `json:"updatedBy,omitempty"`
	UpdatedAt     time.Time `json:"updatedAt,omitzero"`
}

// GetPolicy returns the tenant's policy.
func (r *Registry) GetPolicy(ctx context.Context, p authz.Principal) (Policy, error) {
	if err := r.authz.Check(ctx, p, authz.Read, authz.Skills, authz.Target{}); err != nil {
		return Policy{}, err
	}
	pol, err := r.st.GetSkillPolicy(ctx, p.TenantID)
	return Policy{AllowUnsigned: pol.AllowUnsigned, UpdatedBy: pol.UpdatedBy, UpdatedAt: pol.UpdatedAt}, err
}

// SetPolicy changes the tenant's policy. Allowing unsigned skills lowers
// the tenant's defenses, so only an Owner (tenant settings) may.
func (r *Registry) SetPolicy(ctx context.Context, p authz.Principal, allowUnsigned bool) (Policy, error) {
	if err := r.authz.Check(ctx, p, authz.Update, authz.Tenant, authz.Target{}); err != nil {
		return Policy{}, err
	}
	now := r.now().UTC().Truncate(time.Microsecond)
	if err := audit.Do(ctx, r.audit, audit.By(p), skillEvent(audit.SkillPolicyChanged, "", "", map[string]any{"allowUnsigned": allowUnsigned}), func() error {
		return r.st.PutSkillPolicy(ctx, store.SkillPolicy{TenantID: p.TenantID, AllowUnsigned: allowUnsigned, UpdatedBy: p.UserID, UpdatedAt: now})
	}); err != nil {
		return Policy{}, err
	}
	return Policy{AllowUnsigned: allowUnsigned, UpdatedBy: p.UserID, UpdatedAt: now}, nil
}

// unverifiedMessage says why a package that did not verify is refused
// where unsigned skills are not allowed, and which setting would change
// that: the deployment's Skills__TrustedPublishers (no key trusted at all,
// or none for this publisher) or the tenant's skill policy.
func unverifiedMessage(signed, anyTrusted bool, publisher string) string {
	const policy = "or allow unsigned skills in the tenant's skill policy (PUT /api/tenant/skill-policy)"
	switch {
	case signed && !anyTrusted:
		return "the package is signed, but this server trusts no publisher keys: Skills__TrustedPublishers is not set. " +
			"Add the publisher's public key to Skills__TrustedPublishers (" + publisher + "=<base64 key>), " + policy
	case signed:
		return "the package is signed, but Skills__TrustedPublishers has no key for publisher " + publisher +
			". Add the publisher's public key to it, " + policy
	}
	return "the package is not signed, and this tenant does not allow unsigned skills. Sign it with a key trusted in Skills__TrustedPublishers, " + policy
}

// PageKey is the skill's position in store.SkillList.
func (s Skill) PageKey() (store.List, []any) { return store.SkillList, []any{s.SkillID} }
