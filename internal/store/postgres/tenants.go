package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

// Tenants are platform data, not tenant-owned: komand_tenants has no
// row-level security and these queries no tenant filter, by design.
// komand_app may only SELECT and INSERT it.

const tenantCols = "id, slug, name, created_at"

func scanTenant(row pgx.Row) (store.Tenant, error) {
	var t store.Tenant
	if err := row.Scan(&t.ID, &t.Slug, &t.Name, &t.CreatedAt); err != nil {
		return store.Tenant{}, err
	}
	t.CreatedAt = utc(t.CreatedAt)
	return t, nil
}

// CreateTenant stores a tenant; a taken ID or slug gives store.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	_, err := s.pool.Exec(ctx,
		`INSERT INTO komand_tenants (`+tenantCols+`) VALUES ($1, $2, $3, $4)`,
		t.ID, t.Slug, t.Name, t.CreatedAt)
	return wrapErr("create tenant", err)
}

// GetTenant returns the tenant with that ID.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants WHERE id = $1`, id))
	return t, wrapErr("get tenant", err)
}

// GetTenantBySlug returns the tenant with that slug.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (store.Tenant, error) {
	t, err := scanTenant(s.pool.QueryRow(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants WHERE slug = $1`, slug))
	return t, wrapErr("get tenant by slug", err)
}

// ListTenants returns every tenant, the platform tenant included, oldest
// first.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.pool.Query(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, wrapErr("list tenants", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (store.Tenant, error) {
		return scanTenant(r)
	})
	if err != nil {
		return nil, wrapErr("list tenants", err)
	}
	return out, nil
}
