package sqlite

import (
	"context"

	"github.com/komand-ai/komand/internal/store"
)

// Tenants are platform data, not tenant-owned: these queries have no tenant
// filter by design.

const tenantCols = "id, slug, name, created_at"

func scanTenant(sc scanner) (store.Tenant, error) {
	var t store.Tenant
	var created int64
	if err := sc.Scan(&t.ID, &t.Slug, &t.Name, &created); err != nil {
		return store.Tenant{}, err
	}
	t.CreatedAt = fromMicros(created)
	return t, nil
}

// CreateTenant stores a tenant; a taken ID or slug gives store.ErrConflict.
func (s *Store) CreateTenant(ctx context.Context, t store.Tenant) error {
	return s.write(ctx, "create tenant", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_tenants (`+tenantCols+`) VALUES (?, ?, ?, ?)`,
			t.ID, t.Slug, t.Name, micros(t.CreatedAt))
		return err
	})
}

// GetTenant returns the tenant with that ID.
func (s *Store) GetTenant(ctx context.Context, id string) (store.Tenant, error) {
	t, err := scanTenant(s.rq.QueryRowContext(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants WHERE id = ?`, id))
	return t, wrap("get tenant", err)
}

// GetTenantBySlug returns the tenant with that slug.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (store.Tenant, error) {
	t, err := scanTenant(s.rq.QueryRowContext(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants WHERE slug = ?`, slug))
	return t, wrap("get tenant by slug", err)
}

// ListTenants returns every tenant, the platform tenant included, oldest
// first.
func (s *Store) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	rows, err := s.rq.QueryContext(ctx,
		`SELECT `+tenantCols+` FROM komand_tenants ORDER BY created_at, id`)
	if err != nil {
		return nil, wrap("list tenants", err)
	}
	defer rows.Close()
	out := []store.Tenant{}
	for rows.Next() {
		t, err := scanTenant(rows)
		if err != nil {
			return nil, wrap("list tenants", err)
		}
		out = append(out, t)
	}
	return out, wrap("list tenants", rows.Err())
}
