package sqlite

import (
	"context"

	"github.com/komand-ai/komand/internal/store"
)

const contactCols = "tenant_id, id, name, email, phone, company, notes, created_by, created_at, updated_at"

func scanContact(sc scanner) (store.Contact, error) {
	var (
		c                store.Contact
		created, updated int64
	)
	if err := sc.Scan(&c.TenantID, &c.ID, &c.Name, &c.Email, &c.Phone, &c.Company, &c.Notes, &c.CreatedBy, &created, &updated); err != nil {
		return store.Contact{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	return c, nil
}

// CreateContact stores a contact, enforcing the per-tenant limit.
func (s *Store) CreateContact(ctx context.Context, c store.Contact, maxContacts int) error {
	return s.write(ctx, "create contact", func(tx txQuerier) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM komand_crm_contacts WHERE tenant_id = ?`, c.TenantID).Scan(&n); err != nil {
			return err
		}
		if n >= maxContacts {
			return store.ErrLimit
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_crm_contacts (`+contactCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			c.TenantID, c.ID, c.Name, c.Email, c.Phone, c.Company, c.Notes, c.CreatedBy, micros(c.CreatedAt), micros(c.UpdatedAt))
		return err
	})
}

// GetContact returns one contact.
func (s *Store) GetContact(ctx context.Context, tenantID, id string) (store.Contact, error) {
	c, err := scanContact(s.rq.QueryRowContext(ctx, `SELECT `+contactCols+` FROM komand_crm_contacts WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return c, wrap("get contact", err)
}

// ListContacts returns one page of matching contacts.
func (s *Store) ListContacts(ctx context.Context, tenantID, query string, p store.Page) ([]store.Contact, int, error) {
	where, args := `tenant_id = ?`, []any{tenantID}
	if query != "" {
		q := likePattern(query)
		where += ` AND (lower(name) LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\' OR lower(company) LIKE ? ESCAPE '\')`
		args = append(args, q, q, q)
	}
	var name, id string
	return listPage(ctx, s, listQuery{op: "list contacts", tenantID: tenantID, from: "komand_crm_contacts",
		cols: contactCols, where: where, args: args, order: "name, id",
		list: store.ContactList, after: "(name, id) > (?, ?)", key: []any{&name, &id}}, p, scanContact)
}

// UpdateContact replaces a contact's fields.
func (s *Store) UpdateContact(ctx context.Context, c store.Contact) error {
	return s.write(ctx, "update contact", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_crm_contacts SET name = ?, email = ?, phone = ?, company = ?, notes = ?,
			updated_at = ? WHERE tenant_id = ? AND id = ?`, c.Name, c.Email, c.Phone, c.Company, c.Notes, micros(c.UpdatedAt), c.TenantID, c.ID))
	})
}

// DeleteContact removes a contact.
func (s *Store) DeleteContact(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, "delete contact", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_crm_contacts WHERE tenant_id = ? AND id = ?`, tenantID, id))
	})
}
