// Package tenant creates and finds tenants. Creating a tenant is a platform
// operation done from the CLI by whoever holds the database; there is no API
// for it, so no principal is involved.
package tenant

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// MaxSlugLen bounds a tenant slug.
const MaxSlugLen = 63

// Service manages tenants.
type Service struct {
	st    store.Tenants
	audit audit.Recorder
	now   func() time.Time
}

// New returns a Service.
func New(st store.Tenants, rec audit.Recorder, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, audit: rec, now: now}
}

// Create registers a tenant with a unique slug (lowercase letters, digits,
// hyphens; the reserved "_platform" cannot be taken).
func (s *Service) Create(ctx context.Context, slug, name string) (store.Tenant, error) {
	if err := validate.Slug("slug", slug, MaxSlugLen); err != nil {
		return store.Tenant{}, err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		name = slug
	}
	if err := validate.First(validate.MaxLen("name", name, validate.MaxNameLen), validate.Line("name", name)); err != nil {
		return store.Tenant{}, err
	}
	t := store.Tenant{
		ID:        uuid.Must(uuid.NewV7()).String(),
		Slug:      slug,
		Name:      name,
		CreatedAt: s.now().UTC().Truncate(time.Microsecond),
	}
	if err := s.st.CreateTenant(ctx, t); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.Tenant{}, apperr.New(apperr.Conflict, "a tenant with this slug already exists")
		}
		return store.Tenant{}, err
	}
	// The tenant row must exist before its first audit entry (foreign key),
	// so this entry follows the insert; a tenant with no entry is harmless.
	if err := s.audit.Record(ctx, audit.Event{
		TenantID: t.ID, Action: audit.TenantCreated, ActorID: "cli",
		Details: map[string]any{"slug": slug},
	}); err != nil {
		return store.Tenant{}, err
	}
	return t, nil
}

// BySlug finds a tenant.
func (s *Service) BySlug(ctx context.Context, slug string) (store.Tenant, error) {
	t, err := s.st.GetTenantBySlug(ctx, slug)
	if errors.Is(err, store.ErrNotFound) {
		return store.Tenant{}, apperr.New(apperr.NotFound, "tenant not found")
	}
	return t, err
}
