package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const contactCols = "tenant_id, id, name, email, phone, company, notes, created_by, created_at, updated_at"

func scanContact(r pgx.Row) (store.Contact, error) {
	var c store.Contact
	if err := r.Scan(&c.TenantID, &c.ID, &c.Name, &c.Email, &c.Phone, &c.Company, &c.Notes, &c.CreatedBy, &c.CreatedAt, &c.UpdatedAt); err != nil {
		return store.Contact{}, err
	}
	c.CreatedAt, c.UpdatedAt = utc(c.CreatedAt), utc(c.UpdatedAt)
	return c, nil
}

// CreateContact stores a contact, enforcing the per-tenant limit under a
// transaction-scoped advisory lock.
func (s *Store) CreateContact(ctx context.Context, c store.Contact, maxContacts int) error {
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('komand_crm_contacts:' || $1, 0))`, c.TenantID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM komand_crm_contacts WHERE tenant_id = $1`, c.TenantID).Scan(&n); err != nil {
			return err
		}
		if n >= maxContacts {
			return store.ErrLimit
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_crm_contacts (`+contactCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
			c.TenantID, c.ID, c.Name, c.Email, c.Phone, c.Company, c.Notes, c.CreatedBy, c.CreatedAt, c.UpdatedAt)
		return err
	})
	return wrapErr("create contact", err)
}

// GetContact returns one contact.
func (s *Store) GetContact(ctx context.Context, tenantID, id string) (store.Contact, error) {
	var c store.Contact
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+contactCols+` FROM komand_crm_contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id).
			QueryRow(func(row pgx.Row) (err error) {
				c, err = scanContact(row)
				return err
			})
	})
	return c, wrapErr("get contact", err)
}

// ListContacts returns one page of matching contacts.
func (s *Store) ListContacts(ctx context.Context, tenantID, query string, p store.Page) ([]store.Contact, int, error) {
	where, args := `tenant_id = $1`, []any{tenantID}
	if query != "" {
		args = append(args, ilikePattern(query))
		where += ` AND (name ILIKE $2 OR email ILIKE $2 OR company ILIKE $2)`
	}
	var name, id string
	return listPage(ctx, s, listQuery{op: "list contacts", tenantID: tenantID, from: "komand_crm_contacts",
		cols: contactCols, where: where, args: args, order: `name COLLATE "C", id COLLATE "C"`,
		list: store.ContactList, after: `(name COLLATE "C", id COLLATE "C") > ($K1, $K2)`, key: []any{&name, &id}},
		p, scanContact)
}

// UpdateContact replaces a contact's fields.
func (s *Store) UpdateContact(ctx context.Context, c store.Contact) error {
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE komand_crm_contacts SET name = $3, email = $4, phone = $5, company = $6, notes = $7,
			updated_at = $8 WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, c.Name, c.Email, c.Phone, c.Company, c.Notes, c.UpdatedAt))
	})
	return wrapErr("update contact", err)
}

// DeleteContact removes a contact.
func (s *Store) DeleteContact(ctx context.Context, tenantID, id string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_crm_contacts WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	})
	return wrapErr("delete contact", err)
}
