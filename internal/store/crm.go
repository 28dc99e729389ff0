package store

import (
	"context"
	"time"
)

// Contact is one contact of the tenant's built-in CRM.
type Contact struct {
	TenantID  string
	ID        string
	Name      string
	Email     string
	Phone     string
	Company   string
	Notes     string
	CreatedBy string
	CreatedAt time.Time
	UpdatedAt time.Time
}

// CRM is the tenant's contacts table (what the "database" platform tool
// reads for skills granted crm:read).
type CRM interface {
	// CreateContact stores c; past maxContacts gives ErrLimit.
	CreateContact(ctx context.Context, c Contact, maxContacts int) error
	GetContact(ctx context.Context, tenantID, id string) (Contact, error)
	// ListContacts returns one page ordered by name then ID, matching
	// query (case-insensitive substring of name, email or company; "" all),
	// and the total.
	ListContacts(ctx context.Context, tenantID, query string, p Page) ([]Contact, int, error)
	UpdateContact(ctx context.Context, c Contact) error
	DeleteContact(ctx context.Context, tenantID, id string) error
}

// PageKey is the contact's position in ContactList.
func (c Contact) PageKey() (List, []any) { return ContactList, []any{c.Name, c.ID} }
