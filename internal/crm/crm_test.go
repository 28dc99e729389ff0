package crm_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/crm"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
)

var ctx = context.Background()

func newService(t *testing.T) (*crm.Service, *servicetest.Fixture) {
	t.Helper()
	f := servicetest.New(t)
	return crm.New(f.Store, f.Authz, f.Audit, f.Clock.Now), f
}

func isKind(err error, k apperr.Kind) bool {
	e, ok := apperr.As(err)
	return ok && e.Kind == k
}

func TestContactLifecycle(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	op := f.As(f.TenantA, authz.Operator)
	op.APIKeyID = "key-op"
	c, err := s.Create(ctx, op, crm.Input{Name: "  Ada Lovelace ", Email: " ada@example.com ", Company: "Analytical", Notes: "line one\nline two"})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "Ada Lovelace" || c.Email != "ada@example.com" || c.TenantID != f.TenantA || c.CreatedBy != op.UserID || !c.CreatedAt.Equal(servicetest.Start) {
		t.Fatalf("created %+v", c)
	}
	if got, err := s.Get(ctx, op, c.ID); err != nil || got != c {
		t.Fatalf("get %+v %v", got, err)
	}
	if _, err := s.Create(ctx, op, crm.Input{Name: "Charles Babbage", Company: "Analytical"}); err != nil {
		t.Fatal(err)
	}
	list, total, err := s.List(ctx, op, "ada", store.Page{Page: 1, PageSize: 10})
	if err != nil || total != 1 || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("search: %d of %d %v", len(list), total, err)
	}
	if _, total, _ := s.List(ctx, op, "", store.Page{Page: 1, PageSize: 10}); total != 2 {
		t.Fatalf("list all: %d", total)
	}
	f.Clock.Advance(time.Minute)
	u, err := s.Update(ctx, op, c.ID, crm.Input{Name: "Ada King", Phone: "+44 20"})
	if err != nil || u.Name != "Ada King" || u.Email != "" || u.Phone != "+44 20" || !u.UpdatedAt.Equal(servicetest.Start.Add(time.Minute)) || !u.CreatedAt.Equal(c.CreatedAt) {
		t.Fatalf("update replaces the fields: %+v %v", u, err)
	}
	owner := f.As(f.TenantA, authz.Owner)
	if err := s.Delete(ctx, owner, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, op, c.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.Delete(ctx, owner, c.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
	// Audit: one entry per change with the contact's ID and the API key,
	// never the contact's fields.
	var got []string
	for _, e := range f.Entries(f.TenantA, "") {
		if e.Details["contactId"] == c.ID {
			got = append(got, e.Action+":"+e.ActorID)
			if strings.Contains(string(e.AuditEntry.Details), "Ada") || strings.Contains(string(e.AuditEntry.Details), "ada@") {
				t.Errorf("entry records contact data: %s", e.AuditEntry.Details)
			}
			if e.ActorID == op.UserID && e.Details["apiKeyId"] != "key-op" {
				t.Errorf("entry without the API key: %v", e.Details)
			}
		}
	}
	want := []string{string(audit.ContactCreated) + ":" + op.UserID, string(audit.ContactUpdated) + ":" + op.UserID, string(audit.ContactDeleted) + ":" + owner.UserID}
	if !slices.Equal(got, want) {
		t.Fatalf("entries %v, want %v", got, want)
	}
}

func TestValidation(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	op := f.As(f.TenantA, authz.Operator)
	for _, c := range []struct {
		in    crm.Input
		field string
	}{
		{crm.Input{}, "name"},
		{crm.Input{Name: "   "}, "name"},
		{crm.Input{Name: strings.Repeat("n", 201)}, "name"},
		{crm.Input{Name: "a\x00b"}, "name"},
		{crm.Input{Name: "a", Email: "not-an-address"}, "email"},
		{crm.Input{Name: "a", Email: "a@b.c <evil@x>"}, "email"},
		{crm.Input{Name: "a", Phone: "1\r\n2"}, "phone"},
		{crm.Input{Name: "a", Company: "x\x1b[31m"}, "company"},
		{crm.Input{Name: "a", Notes: strings.Repeat("n", 4001)}, "notes"},
		{crm.Input{Name: "a", Notes: "pay \u202eevil"}, "notes"}, // a bidi override (prose allows tabs and newlines)
		{crm.Input{Name: "a\u200bb"}, "name"},
	} {
		_, err := s.Create(ctx, op, c.in)
		if e, ok := apperr.As(err); !ok || e.Kind != apperr.Invalid || e.Field != c.field {
			t.Errorf("%+v: %v, want invalid %s", c.in, err, c.field)
		}
	}
	if _, _, err := s.List(ctx, op, strings.Repeat("q", 201), store.Page{Page: 1, PageSize: 10}); !isKind(err, apperr.Invalid) {
		t.Fatalf("long query: %v", err)
	}
	if _, _, err := s.List(ctx, op, "", store.Page{Page: 1, PageSize: 1000}); !isKind(err, apperr.Invalid) {
		t.Fatalf("page size 1000: %v", err)
	}
	if _, total, _ := s.List(ctx, op, "", store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatalf("%d contacts stored by refused requests", total)
	}
	if es := f.Entries(f.TenantA, audit.ContactCreated); len(es) != 0 {
		t.Fatalf("refused requests recorded: %d", len(es))
	}
	// A malformed ID is simply not found (never reaches SQL as a probe).
	for _, id := range []string{"", "1 OR 1=1", "../x", strings.Repeat("f", 500)} {
		if _, err := s.Get(ctx, op, id); !errors.Is(err, crm.ErrNotFound) {
			t.Errorf("get %q: %v", id, err)
		}
	}
}

// TestRBAC: Operators and Admins read, create and update; only Owners
// delete; Viewers touch nothing. Each denial is audited.
func TestRBAC(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	c, err := s.Create(ctx, owner, crm.Input{Name: "Base"})
	if err != nil {
		t.Fatal(err)
	}
	allowed := map[authz.Role][]string{
		authz.Owner: {"create", "get", "list", "update", "delete"}, authz.Admin: {"create", "get", "list", "update"},
		authz.Operator: {"create", "get", "list", "update"}, authz.Viewer: nil,
	}
	for _, role := range authz.Roles {
		p := f.As(f.TenantA, role)
		for _, op := range []string{"create", "get", "list", "update", "delete"} {
			before := len(f.Entries(f.TenantA, audit.PermissionDenied))
			var err error
			switch op {
			case "create":
				_, err = s.Create(ctx, p, crm.Input{Name: "by " + string(role)})
			case "get":
				_, err = s.Get(ctx, p, c.ID)
			case "list":
				_, _, err = s.List(ctx, p, "", store.Page{Page: 1, PageSize: 10})
			case "update":
				_, err = s.Update(ctx, p, c.ID, crm.Input{Name: "Base"})
			case "delete":
				if err = s.Delete(ctx, p, c.ID); err == nil {
					c, err = s.Create(ctx, owner, crm.Input{Name: "Base"})
				}
			}
			denied := f.Entries(f.TenantA, audit.PermissionDenied)
			if slices.Contains(allowed[role], op) {
				if err != nil || len(denied) != before {
					t.Errorf("%s %s: %v (%d denials)", role, op, err, len(denied)-before)
				}
				continue
			}
			if !errors.Is(err, authz.ErrDenied) || len(denied) != before+1 {
				t.Errorf("%s %s: %v, %d new denials, want a denial", role, op, err, len(denied)-before)
				continue
			}
			if e := denied[len(denied)-1]; e.ActorID != p.UserID || e.Details["resource"] != "crm" || e.Details["role"] != string(role) {
				t.Errorf("%s %s: denial %+v %v", role, op, e.AuditEntry, e.Details)
			}
		}
	}
	if _, total, _ := s.List(ctx, owner, "by viewer", store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatal("a Viewer created a contact")
	}
}

// TestCrossTenant: another tenant's contact is not found by any
// operation, its search never returns it, and the skills' Lookup is bound
// to the tenant it is given.
func TestCrossTenant(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	a, err := s.Create(ctx, f.As(f.TenantA, authz.Operator), crm.Input{Name: "Secret Customer", Email: "vip@a.test"})
	if err != nil {
		t.Fatal(err)
	}
	ownerB := f.As(f.TenantB, authz.Owner)
	if _, err := s.Get(ctx, ownerB, a.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	if _, err := s.Update(ctx, ownerB, a.ID, crm.Input{Name: "Mine"}); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("update: %v", err)
	}
	if err := s.Delete(ctx, ownerB, a.ID); !errors.Is(err, crm.ErrNotFound) {
		t.Fatalf("delete: %v", err)
	}
	if _, total, _ := s.List(ctx, ownerB, "Secret", store.Page{Page: 1, PageSize: 10}); total != 0 {
		t.Fatal("B's search found A's contact")
	}
	if cs, err := s.Lookup(ctx, f.TenantB, "vip", 5); err != nil || len(cs) != 0 {
		t.Fatalf("lookup in B: %v %v", cs, err)
	}
	if cs, err := s.Lookup(ctx, f.TenantA, "vip", 5); err != nil || len(cs) != 1 || cs[0].ID != a.ID {
		t.Fatalf("lookup in A: %v %v", cs, err)
	}
	if got, _ := s.Get(ctx, f.As(f.TenantA, authz.Owner), a.ID); got.Name != "Secret Customer" {
		t.Fatalf("A's contact after B's attempts: %+v", got)
	}
}

// TestLookupBounds: the skills' read path caps the number of results at
// 20 whatever the skill asks, and refuses long queries.
func TestLookupBounds(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	op := f.As(f.TenantA, authz.Operator)
	for i := 0; i < 25; i++ {
		if _, err := s.Create(ctx, op, crm.Input{Name: "Customer"}); err != nil {
			t.Fatal(err)
		}
	}
	for _, limit := range []int{0, -1, 21, 1 << 30} {
		if cs, err := s.Lookup(ctx, f.TenantA, "Customer", limit); err != nil || len(cs) != 20 {
			t.Errorf("limit %d: %d results, %v", limit, len(cs), err)
		}
	}
	if cs, _ := s.Lookup(ctx, f.TenantA, "Customer", 3); len(cs) != 3 {
		t.Errorf("limit 3: %d results", len(cs))
	}
	if _, err := s.Lookup(ctx, f.TenantA, strings.Repeat("q", 201), 3); !isKind(err, apperr.Invalid) {
		t.Errorf("long query: %v", err)
	}
}

// TestAuditFailsClosed: a change whose entry cannot be stored is not made.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	s, f := newService(t)
	owner := f.As(f.TenantA, authz.Owner)
	c, err := s.Create(ctx, owner, crm.Input{Name: "Kept"})
	if err != nil {
		t.Fatal(err)
	}
	down := errors.New("audit down")
	f.Audit.Before(func(context.Context, audit.Event) error { return down })
	if _, err := s.Create(ctx, owner, crm.Input{Name: "New"}); !errors.Is(err, down) {
		t.Fatalf("create: %v", err)
	}
	if _, err := s.Update(ctx, owner, c.ID, crm.Input{Name: "Changed"}); !errors.Is(err, down) {
		t.Fatalf("update: %v", err)
	}
	if err := s.Delete(ctx, owner, c.ID); !errors.Is(err, down) {
		t.Fatalf("delete: %v", err)
	}
	f.Audit.Before(nil)
	list, total, _ := s.List(ctx, owner, "", store.Page{Page: 1, PageSize: 10})
	if total != 1 || list[0].Name != "Kept" {
		t.Fatalf("after refused changes: %+v", list)
	}
}
