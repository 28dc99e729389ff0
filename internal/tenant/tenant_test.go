package tenant_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/tenant"
)

var ctx = context.Background()

func TestCreateAndFind(t *testing.T) {
	t.Parallel()
	f := servicetest.New(t)
	s := tenant.New(f.Store, f.Audit, f.Clock.Now)
	tn, err := s.Create(ctx, "acme", "  Acme Corp  ")
	if err != nil {
		t.Fatal(err)
	}
	if tn.Slug != "acme" || tn.Name != "Acme Corp" || tn.ID == "" || !tn.CreatedAt.Equal(servicetest.Start) {
		t.Fatalf("created %+v", tn)
	}
	got, err := s.BySlug(ctx, "acme")
	if err != nil || got != tn {
		t.Fatalf("by slug: %+v %v", got, err)
	}
	// The name defaults to the slug.
	if tn2, err := s.Create(ctx, "beta", " "); err != nil || tn2.Name != "beta" {
		t.Fatalf("default name: %+v %v", tn2, err)
	}
	// One entry, in the new tenant's own chain, by the CLI.
	es := f.Entries(tn.ID, "")
	if len(es) != 1 || es[0].Action != string(audit.TenantCreated) || es[0].ActorID != "cli" || es[0].Details["slug"] != "acme" {
		t.Fatalf("entries %+v", es)
	}
	if _, err := s.Create(ctx, "acme", "Another"); !isKind(err, apperr.Conflict) {
		t.Fatalf("duplicate slug: %v", err)
	}
	if _, err := s.BySlug(ctx, "nobody"); !isKind(err, apperr.NotFound) {
		t.Fatalf("unknown slug: %v", err)
	}
}

func isKind(err error, k apperr.Kind) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == k
}

func TestValidation(t *testing.T) {
	t.Parallel()
	f := servicetest.New(t)
	s := tenant.New(f.Store, f.Audit, f.Clock.Now)
	for _, c := range []struct{ slug, name, field string }{
		{"", "x", "slug"},
		{"_platform", "x", "slug"}, // reserved
		{"Acme", "x", "slug"},
		{"acme corp", "x", "slug"},
		{"../acme", "x", "slug"},
		{strings.Repeat("a", tenant.MaxSlugLen+1), "x", "slug"},
		{"acme", strings.Repeat("n", 1000), "name"},
	} {
		_, err := s.Create(ctx, c.slug, c.name)
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Field != c.field {
			t.Errorf("Create(%q, %d-byte name): %v, want invalid %s", c.slug, len(c.name), err, c.field)
		}
	}
	if _, err := s.Create(ctx, strings.Repeat("a", tenant.MaxSlugLen), ""); err != nil {
		t.Fatalf("longest slug: %v", err)
	}
	ts, err := f.Store.ListTenants(ctx)
	var slugs []string
	for _, tn := range ts {
		slugs = append(slugs, tn.Slug)
	}
	slices.Sort(slugs)
	// The platform's own, the fixture's two and the longest slug.
	if want := []string{"_platform", strings.Repeat("a", tenant.MaxSlugLen), "tenant-a", "tenant-b"}; err != nil || !slices.Equal(slugs, want) {
		t.Fatalf("tenants %v (%v), want %v: a refused request stored a tenant", slugs, err, want)
	}
}

// TestAuditFailure: a tenant whose entry cannot be stored is reported as
// a failure (the row exists: its first entry needs it).
func TestAuditFailure(t *testing.T) {
	t.Parallel()
	f := servicetest.New(t)
	s := tenant.New(f.Store, f.Audit, f.Clock.Now)
	down := errors.New("audit down")
	f.Audit.Before(func(context.Context, audit.Event) error { return down })
	if _, err := s.Create(ctx, "acme", ""); !errors.Is(err, down) {
		t.Fatalf("create without its entry: %v", err)
	}
}
