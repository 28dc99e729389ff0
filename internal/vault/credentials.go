package vault

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
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
	CreatedBy  string
	CreatedAt  time.Time
	UpdatedAt  time.Time
	LastUsedAt *time.Time
}

func metadata(c store.Credential) Credential {
	return Credential{ID: c.ID, Name: c.Name, Type: c.Type, CreatedBy: c.CreatedBy,
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
	now   func() time.Time
}

// NewService returns the credential service.
func NewService(st store.Vault, v *Vault, az *authz.Authorizer, rec audit.Recorder, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, vault: v, authz: az, audit: rec, now: now}
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
	if _, err := s.st.GetCredentialByName(ctx, p.TenantID, name); err == nil {
		return Credential{}, errNameTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return Credential{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := store.Credential{TenantID: p.TenantID, ID: uuid.NewString(), Name: name, Type: typ,
		CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	var err error
	if c.KeyVersion, c.Ciphertext, err = s.vault.Seal(ctx, p.TenantID, c.ID, []byte(value)); err != nil {
		return Credential{}, err
	}
	if err := s.record(ctx, p, audit.CredentialCreated, c, nil); err != nil {
		return Credential{}, err
	}
	if err := s.st.CreateCredential(ctx, c); err != nil {
		s.failed(ctx, p, audit.CredentialCreated, c)
		if errors.Is(err, store.ErrConflict) {
			return Credential{}, errNameTaken
		}
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
		changed["valueReplaced"] = true
		if c.KeyVersion, c.Ciphertext, err = s.vault.Seal(ctx, p.TenantID, c.ID, []byte(*in.Value)); err != nil {
			return Credential{}, err
		}
	}
	c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	if err := s.record(ctx, p, audit.CredentialUpdated, c, changed); err != nil {
		return Credential{}, err
	}
	if err := s.st.UpdateCredential(ctx, c); err != nil {
		s.failed(ctx, p, audit.CredentialUpdated, c)
		switch {
		case errors.Is(err, store.ErrConflict):
			return Credential{}, errNameTaken
		case errors.Is(err, store.ErrNotFound):
			return Credential{}, ErrNotFound
		}
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
	if err := s.record(ctx, p, audit.CredentialDeleted, c, nil); err != nil {
		return err
	}
	if err := s.st.DeleteCredential(ctx, p.TenantID, id); err != nil {
		s.failed(ctx, p, audit.CredentialDeleted, c)
		if errors.Is(err, store.ErrNotFound) {
			return ErrNotFound
		}
		return err
	}
	return nil
}

func (s *Service) record(ctx context.Context, p authz.Principal, action audit.Action, c store.Credential, extra map[string]any) error {
	details := map[string]any{"credentialId": c.ID, "name": c.Name, "type": c.Type}
	if p.APIKeyID != "" {
		details["apiKeyId"] = p.APIKeyID
	}
	for k, v := range extra {
		details[k] = v
	}
	return s.audit.Record(ctx, audit.Event{TenantID: p.TenantID, Action: action, ActorID: p.UserID, Details: details})
}

func (s *Service) failed(ctx context.Context, p authz.Principal, action audit.Action, c store.Credential) {
	_ = s.record(context.WithoutCancel(ctx), p, action, c, map[string]any{"outcome": "failed"})
}
