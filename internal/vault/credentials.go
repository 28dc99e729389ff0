package vault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/logging"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Limits and vocabulary of credentials.
const (
	MaxValueBytes = 16 * 1024
	MaxNameLen    = 64
)

// Types are the credential types; they describe the value to people and
// skills, and change nothing in how it is protected.
var Types = []string{"api_key", "token", "password", "certificate", "other"}

var nameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

// Credential is what the service shows of a credential: metadata only.
// The value is write-only; no method returns it.
type Credential struct {
	ID         string
	Name       string
	Type       string
	Source     string // "" (stored here) or the external secret manager
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt *time.Time
}

// PageKey is the credential's position in store.CredentialList.
func (c Credential) PageKey() (store.List, []any) { return store.CredentialList, []any{c.Name} }

func metadata(c store.Credential) Credential {
	return Credential{ID: c.ID, Name: c.Name, Type: c.Type, Source: c.Source, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt, LastUsedAt: c.LastUsedAt}
}

// ErrNotFound is returned for a credential the caller cannot see.
var ErrNotFound = apperr.New(apperr.NotFound, "credential not found")

var errNameTaken = apperr.New(apperr.Conflict, "a credential with this name already exists")

// Service manages a tenant's credentials (RBAC resource "credentials":
// Owner and Admin). Every change is audited before it is applied, with the
// name and type and never the value.
type Service struct {
	st    store.Vault
	vault *Vault
	authz *authz.Authorizer
	audit audit.Recorder
	known *logging.Secrets
	now   func() time.Time

	// grants caches resolved grants (the credential row a skill of an
	// agent may read under a name) for grantTTL, so a warm GetCredential
	// reads nothing from the database; any change to the tenant's
	// credentials or grants in this process drops the tenant's entries,
	// and other replicas see the change within grantTTL.
	mu      sync.Mutex
	grants  map[grantKey]cachedGrant
	gen     map[string]uint64    // tenant → changes seen; a read racing a change does not cache
	touched map[string]time.Time // credential ID → last recorded use

	maxCredentials int // per tenant (Limits:MaxCredentials)

	external map[string]ExternalSource // by Source
	scopes   map[string]string         // by Source: the tenant prefix, "" for none

	background sync.WaitGroup  // re-encryptions after a data-key rotation
	stop       context.Context // cancelled by Close
	cancel     context.CancelFunc
	log        *slog.Logger
}

type grantKey struct{ tenant, agent, skill, name string }

type cachedGrant struct {
	c       store.Credential
	hosts   []string // the grant's hosts; none: any use
	expires time.Time
}

// grantTTL bounds how long another replica may still hand out a revoked
// or replaced credential.
const grantTTL = 5 * time.Second

// touchEvery is how often a credential's last use is written: at most
// once a minute per credential.
const touchEvery = time.Minute

// maxCachedGrants bounds the cache; past it, it is emptied.
const maxCachedGrants = 10000

// NewService returns the credential service. Every value it stores or
// hands out joins known (may be nil), the set the logger redacts.
func NewService(st store.Vault, v *Vault, az *authz.Authorizer, rec audit.Recorder, known *logging.Secrets, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	stop, cancel := context.WithCancel(context.Background())
	return &Service{st: st, vault: v, authz: az, audit: rec, known: known, now: now, maxCredentials: DefaultMaxCredentials,
		grants: map[grantKey]cachedGrant{}, gen: map[string]uint64{}, touched: map[string]time.Time{},
		stop: stop, cancel: cancel}
}

// DefaultMaxCredentials is the per-tenant quota of credentials unless
// SetMaxCredentials sets another (the Limits:MaxCredentials setting).
const DefaultMaxCredentials = 1000

// SetMaxCredentials sets the per-tenant quota of credentials (at least 1);
// call it before the service is used.
func (s *Service) SetMaxCredentials(n int) { s.maxCredentials = n }

// forget drops the tenant's cached grants (after any change to its
// credentials or grants).
func (s *Service) forget(tenantID string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gen[tenantID]++
	for k := range s.grants {
		if k.tenant == tenantID {
			delete(s.grants, k)
		}
	}
}

func checkName(name string) error {
	if err := validate.Required("name", name); err != nil {
		return err
	}
	if len(name) > MaxNameLen || !nameRe.MatchString(name) {
		return apperr.Field("name", "must be 1–64 letters, digits, '_', '.' or '-', starting with a letter or digit")
	}
	return nil
}

func checkType(t string) error {
	if !slices.Contains(Types, t) {
		return apperr.Field("type", "must be one of api_key, token, password, certificate, other")
	}
	return nil
}

func checkValue(v string) error {
	if v == "" {
		return apperr.Field("value", "is required")
	}
	if len(v) > MaxValueBytes {
		return apperr.Field("value", "must be at most 16384 bytes")
	}
	return validate.MaxLen("value", v, MaxValueBytes)
}

// Create stores a new credential.
func (s *Service) Create(ctx context.Context, p authz.Principal, name, typ, value string) (Credential, error) {
	if err := s.authz.Check(ctx, p, authz.Create, authz.Credentials, authz.Target{}); err != nil {
		return Credential{}, err
	}
	if err := validate.First(checkName(name), checkType(typ), checkValue(value)); err != nil {
		return Credential{}, err
	}
	s.known.Add(value)
	return s.create(ctx, p, name, typ, "", []byte(value))
}

// create seals plain (a value, or a sealed reference's JSON) and stores
// the credential.
func (s *Service) create(ctx context.Context, p authz.Principal, name, typ, source string, plain []byte) (Credential, error) {
	if _, err := s.st.GetCredentialByName(ctx, p.TenantID, name); err == nil {
		return Credential{}, errNameTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return Credential{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := store.Credential{TenantID: p.TenantID, ID: uuid.NewString(), Name: name, Type: typ, Source: source,
		CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	var err error
	if c.KeyVersion, c.Ciphertext, err = s.vault.Seal(ctx, p.TenantID, c.ID, plain); err != nil {
		return Credential{}, err
	}
	extra := map[string]any{}
	if source != "" {
		extra["source"] = source
	}
	err = audit.Do(ctx, s.audit, audit.By(p), credentialEvent(audit.CredentialCreated, c, extra), func() error {
		return s.st.CreateCredential(ctx, c, s.maxCredentials)
	})
	if errors.Is(err, store.ErrConflict) {
		return Credential{}, errNameTaken
	}
	if errors.Is(err, store.ErrLimit) {
		return Credential{}, apperr.New(apperr.LimitReached, fmt.Sprintf(
			"the tenant has reached its limit of %d credentials (Limits:MaxCredentials); delete a credential first", s.maxCredentials))
	}
	if err != nil {
		return Credential{}, err
	}
	return metadata(c), nil
}

// List returns one page of the tenant's credentials, by name.
func (s *Service) List(ctx context.Context, p authz.Principal, pg store.Page) ([]Credential, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Credentials, authz.Target{}); err != nil {
		return nil, 0, err
	}
	cs, total, err := s.st.ListCredentials(ctx, p.TenantID, pg)
	if err != nil {
		return nil, 0, err
	}
	out := make([]Credential, len(cs))
	for i, c := range cs {
		out[i] = metadata(c)
	}
	return out, total, nil
}

// Get returns one credential's metadata.
func (s *Service) Get(ctx context.Context, p authz.Principal, id string) (Credential, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Credentials, authz.Target{ID: id}); err != nil {
		return Credential{}, err
	}
	c, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return Credential{}, err
	}
	return metadata(c), nil
}

func (s *Service) get(ctx context.Context, tenantID, id string) (store.Credential, error) {
	if validate.UUID("id", id) != nil {
		return store.Credential{}, ErrNotFound
	}
	c, err := s.st.GetCredential(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Credential{}, ErrNotFound
	}
	return c, err
}

// Update is a partial change: nil fields stay as they are.
type Update struct {
	Name  *string
	Type  *string
	Value *string // replaces the value (re-encrypted under the newest data key)
}

// Update renames, retypes or replaces the value of a credential.
func (s *Service) Update(ctx context.Context, p authz.Principal, id string, in Update) (Credential, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Credentials, authz.Target{ID: id}); err != nil {
		return Credential{}, err
	}
	var errs []error
	if in.Name != nil {
		errs = append(errs, checkName(*in.Name))
	}
	if in.Type != nil {
		errs = append(errs, checkType(*in.Type))
	}
	if in.Value != nil {
		errs = append(errs, checkValue(*in.Value))
	}
	if err := validate.First(errs...); err != nil {
		return Credential{}, err
	}
	if in.Name == nil && in.Type == nil && in.Value == nil {
		return Credential{}, apperr.New(apperr.Invalid, "nothing to change: give name, type or value")
	}
	c, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return Credential{}, err
	}
	if c.Source != "" && in.Value != nil {
		return Credential{}, apperr.New(apperr.Invalid, "this credential references an external secret manager; change the value there")
	}
	changed := map[string]any{}
	if in.Name != nil && *in.Name != c.Name {
		changed["previousName"] = c.Name
		c.Name = *in.Name
	}
	if in.Type != nil && *in.Type != c.Type {
		changed["previousType"] = c.Type
		c.Type = *in.Type
	}
	if in.Value != nil {
		s.known.Add(*in.Value)
		changed["valueReplaced"] = true
		if c.KeyVersion, c.Ciphertext, err = s.vault.Seal(ctx, p.TenantID, c.ID, []byte(*in.Value)); err != nil {
			return Credential{}, err
		}
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	defer s.forget(p.TenantID)
	err = audit.Do(ctx, s.audit, audit.By(p), credentialEvent(audit.CredentialUpdated, c, changed), func() error {
		s.forget(p.TenantID)
		return s.st.UpdateCredential(ctx, c, in.Value != nil)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return Credential{}, errNameTaken
	case errors.Is(err, store.ErrNotFound):
		return Credential{}, ErrNotFound
	case err != nil:
		return Credential{}, err
	}
	return metadata(c), nil
}

// Delete removes a credential; its ciphertext is gone with the row.
func (s *Service) Delete(ctx context.Context, p authz.Principal, id string) error {
	if err := s.authz.Check(ctx, p, authz.Delete, authz.Credentials, authz.Target{ID: id}); err != nil {
		return err
	}
	c, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return err
	}
	defer s.forget(p.TenantID)
	err = audit.Do(ctx, s.audit, audit.By(p), credentialEvent(audit.CredentialDeleted, c, nil), func() error {
		s.forget(p.TenantID)
		return s.st.DeleteCredential(ctx, p.TenantID, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// credentialEvent is a change to credential c (never its value), with
// extra details.
func credentialEvent(action audit.Action, c store.Credential, extra map[string]any) audit.Event {
	details := map[string]any{"credentialId": c.ID, "name": c.Name, "type": c.Type}
	for k, v := range extra {
		details[k] = v
	}
	return audit.Event{Action: action, Details: details}
}

// Grant is one (agent, skill) pair that may read a credential.
type Grant struct {
	AgentID string
	SkillID string
	// Hosts, when set, bind the grant: the skill may have the credential
	// attached by reference to requests to these hosts only, and may not
	// read its value itself.
	Hosts     []string
	CreatedBy string
	CreatedAt time.Time
}

// MaxGrantHosts bounds the hosts of one grant.
const MaxGrantHosts = 16

// checkHosts validates and normalises a grant's hosts (lower case,
// sorted, no repeats).
func checkHosts(hosts []string) ([]string, error) {
	if len(hosts) > MaxGrantHosts {
		return nil, apperr.Field("hosts", "must have at most 16 entries")
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		n, err := validate.NormalHost(h)
		if err != nil {
			return nil, apperr.Field("hosts", "each must be a host name such as api.example.com, an IP address, or *.example.com (never a whole top-level domain)")
		}
		out = append(out, n)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// MaxSkillIDLen bounds a skill ID in a grant.
const MaxSkillIDLen = 128

var skillIDRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9._-]*[a-z0-9])?$`)

func checkSkillID(id string) error {
	if err := validate.Required("skillId", id); err != nil {
		return err
	}
	if len(id) > MaxSkillIDLen || !skillIDRe.MatchString(id) {
		return apperr.Field("skillId", "must be lowercase letters, digits, '.', '_' or '-' (at most 128)")
	}
	return nil
}

// Grants lists who may read a credential.
func (s *Service) Grants(ctx context.Context, p authz.Principal, id string) ([]Grant, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Credentials, authz.Target{ID: id}); err != nil {
		return nil, err
	}
	if _, err := s.get(ctx, p.TenantID, id); err != nil {
		return nil, err
	}
	gs, err := s.st.CredentialGrants(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	out := make([]Grant, len(gs))
	for i, g := range gs {
		out[i] = Grant{AgentID: g.AgentID, SkillID: g.SkillID, Hosts: g.Hosts, CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt}
	}
	return out, nil
}

// Grant lets skillID on agentID use the credential; with hosts, only by
// reference and only in requests to those hosts.
func (s *Service) Grant(ctx context.Context, p authz.Principal, id, agentID, skillID string, hosts []string) (Grant, error) {
	if err := validate.First(validate.Slug("agentId", agentID, validate.MaxIDLen), checkSkillID(skillID)); err != nil {
		return Grant{}, err
	}
	hosts, err := checkHosts(hosts)
	if err != nil {
		return Grant{}, err
	}
	if err := s.authz.Check(ctx, p, authz.Update, authz.Credentials, authz.Target{ID: id, AgentID: agentID, SkillID: skillID}); err != nil {
		return Grant{}, err
	}
	c, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return Grant{}, err
	}
	g := store.CredentialGrant{TenantID: p.TenantID, CredentialID: id, AgentID: agentID, SkillID: skillID,
		Hosts: hosts, CreatedBy: p.UserID, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	extra := map[string]any{"agentId": agentID, "skillId": skillID}
	if len(hosts) > 0 {
		extra["hosts"] = hosts
	}
	defer s.forget(p.TenantID)
	err = audit.Do(ctx, s.audit, audit.By(p), credentialEvent(audit.CredentialGranted, c, extra), func() error {
		s.forget(p.TenantID)
		return s.st.GrantCredential(ctx, g)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return Grant{}, apperr.New(apperr.Conflict, "this skill of this agent already holds a grant")
	case errors.Is(err, store.ErrNotFound):
		return Grant{}, apperr.New(apperr.NotFound, "agent not found")
	case err != nil:
		return Grant{}, err
	}
	return Grant{AgentID: agentID, SkillID: skillID, Hosts: hosts, CreatedBy: g.CreatedBy, CreatedAt: g.CreatedAt}, nil
}

// Revoke removes a grant.
func (s *Service) Revoke(ctx context.Context, p authz.Principal, id, agentID, skillID string) error {
	if err := validate.First(validate.Slug("agentId", agentID, validate.MaxIDLen), checkSkillID(skillID)); err != nil {
		return err
	}
	if err := s.authz.Check(ctx, p, authz.Update, authz.Credentials, authz.Target{ID: id, AgentID: agentID, SkillID: skillID}); err != nil {
		return err
	}
	c, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return err
	}
	extra := map[string]any{"agentId": agentID, "skillId": skillID}
	defer s.forget(p.TenantID)
	err = audit.Do(ctx, s.audit, audit.By(p), credentialEvent(audit.CredentialRevoked, c, extra), func() error {
		s.forget(p.TenantID)
		return s.st.RevokeCredential(ctx, p.TenantID, id, agentID, skillID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return apperr.New(apperr.NotFound, "grant not found")
	}
	return err
}

// Use says who reads a credential at run time: a skill of an agent, in a
// session, for a user's message. Audit, when set, is the turn's unit of
// work: the read's entry joins it (durable before the turn replies)
// instead of being awaited on its own.
type Use struct {
	TenantID  string
	UserID    string
	AgentID   string
	SkillID   string
	SessionID string
	Audit     *audit.Unit
	// Host is where the value goes: "" for the skill itself, else the
	// host (lower case, no port) of a request the platform makes with it
	// attached by reference.
	Host string
}

// ErrNotGranted is what a skill gets for a credential it may not read,
// whether or not the name exists: it learns nothing about other names.
var ErrNotGranted = apperr.New(apperr.Forbidden, "credential not available to this skill")

// Resolve returns the value of the credential called name for u's skill,
// if that skill on that agent holds a grant. Every read is audited
// (CredentialRead, with the skill, agent and session); a refused read
// records PermissionDenied. This is SkillContext.GetCredential's back end:
// a skill never reaches the vault itself.
func (s *Service) Resolve(ctx context.Context, u Use, name string) (string, error) {
	p := authz.Principal{TenantID: u.TenantID, UserID: u.UserID}
	target := authz.Target{AgentID: u.AgentID, SessionID: u.SessionID, SkillID: u.SkillID}
	deny := func(reason string) error {
		if err := s.authz.Deny(ctx, p, authz.Read, authz.Credentials, target, reason); err != nil && !errors.Is(err, authz.ErrDenied) {
			return err
		}
		return ErrNotGranted
	}
	if checkName(name) != nil || u.TenantID == "" || u.AgentID == "" || u.SkillID == "" {
		return "", deny("credential request without a valid name, agent or skill")
	}
	c, hosts, err := s.granted(ctx, grantKey{u.TenantID, u.AgentID, u.SkillID, name})
	if errors.Is(err, store.ErrNotFound) {
		return "", deny("the skill holds no grant for credential " + name)
	}
	if err != nil {
		return "", err
	}
	switch {
	case len(hosts) == 0:
	case u.Host == "":
		return "", deny("credential " + name + " is granted for use by reference only")
	case !validate.HostAllowed(u.Host, hosts):
		return "", deny("credential " + name + " is not granted for host " + u.Host[:min(len(u.Host), 100)])
	}
	value, err := s.value(ctx, c)
	if err != nil {
		return "", err
	}
	ev := audit.Event{TenantID: u.TenantID, Action: audit.CredentialRead, ActorID: u.UserID,
		AgentID: u.AgentID, SessionID: u.SessionID, SkillID: u.SkillID,
		Details: map[string]any{"credentialId": c.ID, "name": c.Name}}
	if u.Host != "" {
		ev.Details["host"] = u.Host
	}
	if u.Audit != nil {
		err = u.Audit.Add(ctx, ev)
	} else {
		err = s.audit.Record(ctx, ev)
	}
	if err != nil {
		return "", err
	}
	s.touch(ctx, u.TenantID, c.ID)
	return value, nil
}

// granted returns the credential a grant key resolves to, from the cache
// when fresh.
func (s *Service) granted(ctx context.Context, k grantKey) (store.Credential, []string, error) {
	now := s.now()
	s.mu.Lock()
	g, ok := s.grants[k]
	gen := s.gen[k.tenant]
	s.mu.Unlock()
	if ok && now.Before(g.expires) {
		return g.c, g.hosts, nil
	}
	c, hosts, err := s.st.GrantedCredential(ctx, k.tenant, k.agent, k.skill, k.name)
	if err != nil {
		return store.Credential{}, nil, err
	}
	s.mu.Lock()
	// A change (revoke, delete, replace) made while the row was being read
	// may postdate it: cache only what no change has overtaken.
	if s.gen[k.tenant] == gen {
		if len(s.grants) >= maxCachedGrants {
			clear(s.grants)
		}
		s.grants[k] = cachedGrant{c: c, hosts: hosts, expires: now.Add(grantTTL)}
	}
	s.mu.Unlock()
	return c, hosts, nil
}

// touch records a credential's last use, at most once per touchEvery per
// credential in this process; a failure is not worth failing the skill
// (the read itself is audited).
func (s *Service) touch(ctx context.Context, tenantID, id string) {
	now := s.now()
	s.mu.Lock()
	last, ok := s.touched[id]
	if ok && now.Sub(last) < touchEvery {
		s.mu.Unlock()
		return
	}
	if len(s.touched) >= maxCachedGrants {
		clear(s.touched)
	}
	s.touched[id] = now
	s.mu.Unlock()
	_ = s.st.TouchCredential(context.WithoutCancel(ctx), tenantID, id, now.UTC().Truncate(time.Microsecond))
}

// RotateDataKey gives the tenant a new data key (DataKeyRotated) and
// re-encrypts its credentials under it in the background; Wait waits for
// that. It returns the new key version. Credentials stay readable
// throughout (older keys are kept), and a re-encryption cut short (a
// restart) is finished by the next rotation.
func (s *Service) RotateDataKey(ctx context.Context, p authz.Principal) (int, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Credentials, authz.Target{}); err != nil {
		return 0, err
	}
	by := audit.By(p)
	rotated := func(details map[string]any) audit.Event {
		return audit.Event{Action: audit.DataKeyRotated, Details: details}
	}
	var version int
	if err := audit.Do(ctx, s.audit, by, rotated(map[string]any{"phase": "requested"}), func() error {
		var err error
		version, err = s.vault.RotateDataKey(ctx, p.TenantID)
		return err
	}); err != nil {
		return 0, err
	}
	if err := audit.Record(ctx, s.audit, by, rotated(map[string]any{"version": version, "phase": "created"})); err != nil {
		return 0, err
	}
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Minute)
		defer cancel()
		stop := context.AfterFunc(s.stop, cancel) // shutdown interrupts the pass; the next rotation finishes it
		defer stop()
		n, err := s.vault.Reencrypt(bctx, p.TenantID, version)
		outcome := "done"
		if err != nil {
			outcome = "failed"
			if s.log != nil {
				s.log.ErrorContext(bctx, "re-encrypting credentials after a data-key rotation", "tenant", p.TenantID, "err", err)
			}
		}
		_ = audit.Record(context.WithoutCancel(bctx), s.audit, by,
			rotated(map[string]any{"version": version, "phase": "reencrypted", "credentials": n, "outcome": outcome}))
	}()
	return version, nil
}

// SetExternal registers the external secret manager serving source.
// tenantPrefix, when not empty, confines each tenant's references to the
// secrets whose name starts with it, "{tenant}" replaced by the tenant's
// ID (see scopedName): one platform identity may serve several tenants,
// and none may reference another's secrets.
func (s *Service) SetExternal(source string, e ExternalSource, tenantPrefix string) {
	if s.external == nil {
		s.external, s.scopes = map[string]ExternalSource{}, map[string]string{}
	}
	s.external[source], s.scopes[source] = e, tenantPrefix
}

// scopedName is what a tenant prefix applies to: KV v2's mount/path, an
// AWS secret's name (also inside an ARN), an Azure secret's name.
func scopedName(source string, ref Reference) string {
	switch source {
	case SourceHashiCorpVault:
		return ref.Mount + "/" + ref.Path
	case SourceAWSSecretsManager:
		if _, name, ok := strings.Cut(ref.Path, ":secret:"); ok && strings.HasPrefix(ref.Path, "arn:") {
			return name
		}
	}
	return ref.Path
}

// inScope says whether tenantID may reference ref in source.
func (s *Service) inScope(tenantID, source string, ref Reference) error {
	p := s.scopes[source]
	if p == "" {
		return nil
	}
	prefix := strings.ReplaceAll(p, "{tenant}", tenantID)
	if !strings.HasPrefix(scopedName(source, ref), prefix) {
		return fmt.Errorf("the reference must name a secret under %q", prefix)
	}
	return nil
}

// CreateReference stores a credential whose value stays in an external
// secret manager: the reference is sealed like a value, and resolved at
// run time (with the manager's short cache).
func (s *Service) CreateReference(ctx context.Context, p authz.Principal, name, typ, source string, ref Reference) (Credential, error) {
	if err := s.authz.Check(ctx, p, authz.Create, authz.Credentials, authz.Target{}); err != nil {
		return Credential{}, err
	}
	if err := validate.First(checkName(name), checkType(typ)); err != nil {
		return Credential{}, err
	}
	ext, ok := s.external[source]
	if !ok {
		return Credential{}, apperr.Field("source", "must be a configured external secret manager (hashicorp_vault, aws_secrets_manager, azure_key_vault)")
	}
	check := ref.check
	if rc, ok := ext.(interface{ CheckReference(Reference) error }); ok {
		check = func() error { return rc.CheckReference(ref) }
	}
	if err := check(); err != nil {
		return Credential{}, apperr.New(apperr.Invalid, err.Error())
	}
	if err := s.inScope(p.TenantID, source, ref); err != nil {
		return Credential{}, apperr.New(apperr.Invalid, err.Error())
	}
	raw, _ := json.Marshal(ref)
	return s.create(ctx, p, name, typ, source, raw)
}

// Wait waits for background re-encryptions to finish.
func (s *Service) Wait() { s.background.Wait() }

// Close interrupts background re-encryptions and waits for them (the app
// calls it before closing the audit writer and the store).
func (s *Service) Close() {
	s.cancel()
	s.background.Wait()
}

// SetLogger sets the logger of background work.
func (s *Service) SetLogger(l *slog.Logger) { s.log = l }

// PlatformSecret returns the value of one credential for the platform's own
// use (a channel account's signing secret), not for a skill: no grant is
// involved, and the caller names the credential by ID from its own
// configuration. The value joins the logger's redaction set.
func (s *Service) PlatformSecret(ctx context.Context, tenantID, credentialID string) (string, error) {
	c, err := s.get(ctx, tenantID, credentialID)
	if err != nil {
		return "", err
	}
	return s.value(ctx, c)
}

// value decrypts a credential, and for a reference fetches the value from
// its secret manager; the value joins the logger's redaction set.
func (s *Service) value(ctx context.Context, c store.Credential) (string, error) {
	v, err := s.vault.Open(ctx, c.TenantID, c.ID, c.KeyVersion, c.Ciphertext)
	if err != nil {
		return "", fmt.Errorf("vault: credential %s of tenant %s: %w", c.ID, c.TenantID, err)
	}
	value := string(v)
	if c.Source != "" {
		ext, ok := s.external[c.Source]
		if !ok {
			return "", fmt.Errorf("vault: credential %s references %s, which is not configured", c.ID, c.Source)
		}
		var ref Reference
		if err := json.Unmarshal(v, &ref); err != nil {
			return "", fmt.Errorf("vault: credential %s: bad reference", c.ID)
		}
		// Checked again here: the prefix may have been set (or changed)
		// after the reference was stored.
		if err := s.inScope(c.TenantID, c.Source, ref); err != nil {
			return "", fmt.Errorf("vault: credential %s: %w", c.ID, err)
		}
		if value, err = ext.Fetch(ctx, ref); err != nil {
			// The manager's error is for the log only: callers (a skill,
			// a channel) answer with a fixed message.
			if s.log != nil {
				s.log.WarnContext(ctx, "external secret manager did not return a credential", "tenant", c.TenantID,
					"credential", c.ID, "source", c.Source, "err", err)
			}
			return "", fmt.Errorf("vault: credential %s: %w", c.ID, err)
		}
	}
	s.known.Add(value)
	return value, nil
}

// Exists reports whether the tenant has the credential (for references
// from configuration, such as a channel account's secret).
func (s *Service) Exists(ctx context.Context, tenantID, credentialID string) (bool, error) {
	_, err := s.get(ctx, tenantID, credentialID)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
