// Package crm is Komand's small built-in CRM: the tenant's contacts, with
// an API for people (Operators and Admins read, create and update; only Owners
// delete: the RBAC matrix's "basic CRM operations") and a read path for
// skills, the "database" platform tool, which a skill reaches only when it
// declared the tool and was granted crm:read on the agent.
package crm

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// MaxContacts is the per-tenant limit.
const MaxContacts = 100000

// Service manages contacts.
type Service struct {
	st    store.CRM
	authz *authz.Authorizer
	audit audit.Recorder
	now   func() time.Time
}

// New returns the service.
func New(st store.CRM, az *authz.Authorizer, rec audit.Recorder, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, authz: az, audit: rec, now: now}
}

// ErrNotFound is a contact the caller's tenant does not have.
var ErrNotFound = apperr.New(apperr.NotFound, "contact not found")

// Input is a contact's fields.
type Input struct {
	Name, Email, Phone, Company, Notes string
}

func (in *Input) validate() error {
	in.Name, in.Email = strings.TrimSpace(in.Name), strings.TrimSpace(in.Email)
	if err := validate.Text("name", in.Name, 200); err != nil {
		return err
	}
	for _, f := range []struct {
		name, v string
		max     int
	}{{"name", in.Name, 200}, {"email", in.Email, 254}, {"phone", in.Phone, 50}, {"company", in.Company, 200}, {"notes", in.Notes, 4000}} {
		if err := validate.MaxLen(f.name, f.v, f.max); err != nil {
			return err
		}
		check := validate.Line
		if f.name == "notes" {
			check = validate.Prose
		}
		if err := check(f.name, f.v); err != nil {
			return err
		}
	}
	if in.Email != "" && (!strings.Contains(in.Email, "@") || strings.ContainsAny(in.Email, " <>")) {
		return apperr.Field("email", "must be an e-mail address")
	}
	return nil
}

// contactEvent is a change to contact id.
func contactEvent(action audit.Action, id string) audit.Event {
	return audit.Event{Action: action, Details: map[string]any{"contactId": id}}
}

// Create adds a contact.
func (s *Service) Create(ctx context.Context, p authz.Principal, in Input) (store.Contact, error) {
	if err := s.authz.Check(ctx, p, authz.Create, authz.CRM, authz.Target{}); err != nil {
		return store.Contact{}, err
	}
	if err := in.validate(); err != nil {
		return store.Contact{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	c := store.Contact{TenantID: p.TenantID, ID: uuid.NewString(), Name: in.Name, Email: in.Email, Phone: in.Phone,
		Company: in.Company, Notes: in.Notes, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	err := audit.Do(ctx, s.audit, audit.By(p), contactEvent(audit.ContactCreated, c.ID), func() error {
		err := s.st.CreateContact(ctx, c, MaxContacts)
		if errors.Is(err, store.ErrLimit) {
			return audit.Fail("limit", err)
		}
		return err
	})
	if errors.Is(err, store.ErrLimit) {
		return store.Contact{}, apperr.New(apperr.Conflict, "the CRM holds its maximum number of contacts")
	}
	if err != nil {
		return store.Contact{}, err
	}
	return c, nil
}

func (s *Service) get(ctx context.Context, p authz.Principal, id string) (store.Contact, error) {
	if validate.UUID("contactId", id) != nil {
		return store.Contact{}, ErrNotFound
	}
	c, err := s.st.GetContact(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.Contact{}, ErrNotFound
	}
	return c, err
}

// Get returns one contact.
func (s *Service) Get(ctx context.Context, p authz.Principal, id string) (store.Contact, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.CRM, authz.Target{}); err != nil {
		return store.Contact{}, err
	}
	return s.get(ctx, p, id)
}

// List returns one page of contacts matching query.
func (s *Service) List(ctx context.Context, p authz.Principal, query string, pg store.Page) ([]store.Contact, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.CRM, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	if err := validate.MaxLen("q", query, 200); err != nil {
		return nil, 0, err
	}
	return s.st.ListContacts(ctx, p.TenantID, query, pg)
}

// Update replaces a contact's fields.
func (s *Service) Update(ctx context.Context, p authz.Principal, id string, in Input) (store.Contact, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.CRM, authz.Target{}); err != nil {
		return store.Contact{}, err
	}
	c, err := s.get(ctx, p, id)
	if err != nil {
		return store.Contact{}, err
	}
	if err := in.validate(); err != nil {
		return store.Contact{}, err
	}
	c.Name, c.Email, c.Phone, c.Company, c.Notes = in.Name, in.Email, in.Phone, in.Company, in.Notes
	c.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	err = audit.Do(ctx, s.audit, audit.By(p), contactEvent(audit.ContactUpdated, c.ID), func() error {
		return s.st.UpdateContact(ctx, c)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.Contact{}, ErrNotFound
	}
	if err != nil {
		return store.Contact{}, err
	}
	return c, nil
}

// Delete removes a contact.
func (s *Service) Delete(ctx context.Context, p authz.Principal, id string) error {
	if err := s.authz.Check(ctx, p, authz.Delete, authz.CRM, authz.Target{}); err != nil {
		return err
	}
	if _, err := s.get(ctx, p, id); err != nil {
		return err
	}
	err := audit.Do(ctx, s.audit, audit.By(p), contactEvent(audit.ContactDeleted, id), func() error {
		return s.st.DeleteContact(ctx, p.TenantID, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrNotFound
	}
	return err
}

// Lookup is the skills' read path: up to limit contacts of tenantID
// matching query. The caller (the "database" platform tool) has checked
// the skill's crm:read grant; the tenant comes from the execution, never
// from the skill.
func (s *Service) Lookup(ctx context.Context, tenantID, query string, limit int) ([]store.Contact, error) {
	if limit < 1 || limit > 20 {
		limit = 20
	}
	if len(query) > 200 {
		return nil, apperr.New(apperr.Invalid, "query too long")
	}
	cs, _, err := s.st.ListContacts(ctx, tenantID, query, store.Page{Page: 1, PageSize: limit})
	return cs, err
}
