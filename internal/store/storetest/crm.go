package storetest

import (
	"testing"

	"github.com/komand-ai/komand/internal/store"
)

var crmTests = []test{
	{"ContactsRoundTripSearchAndTenancy", testContacts},
}

func testContacts(t *testing.T, s store.Store) {
	ctx := t.Context()
	a, b := mkTenant(t, s, "alpha"), mkTenant(t, s, "beta")
	ada := store.Contact{TenantID: a.ID, ID: newID(), Name: "Ada Lovelace", Email: "ada@analytical.example", Phone: "+44 20 7946 0000",
		Company: "Analytical Engines", Notes: "prefers e-mail", CreatedBy: newID(), CreatedAt: t0, UpdatedAt: t0}
	grace := store.Contact{TenantID: a.ID, ID: newID(), Name: "Grace Hopper", Email: "grace@navy.example", Company: "Navy_Labs 100%",
		CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "create", s.CreateContact(ctx, ada, 3), nil)
	isErr(t, "create 2", s.CreateContact(ctx, grace, 3), nil)
	got, err := s.GetContact(ctx, a.ID, ada.ID)
	isErr(t, "get", err, nil)
	equal(t, "get", got, ada)
	_, err = s.GetContact(ctx, b.ID, ada.ID)
	isErr(t, "get other tenant", err, store.ErrNotFound)

	for _, tc := range []struct {
		q    string
		want int
	}{{"", 2}, {"ADA", 1}, {"analytical", 1}, {"navy_labs", 1}, {"100%", 1}, {"%", 1}, {"a%e", 0}, {"a_a", 0}, {"' OR '1'='1", 0}} {
		_, n, err := s.ListContacts(ctx, a.ID, tc.q, store.Page{Page: 1, PageSize: 10})
		isErr(t, "list "+tc.q, err, nil)
		if n != tc.want {
			t.Fatalf("query %q: %d, want %d", tc.q, n, tc.want)
		}
	}
	list, total, err := s.ListContacts(ctx, a.ID, "", store.Page{Page: 1, PageSize: 1})
	isErr(t, "page", err, nil)
	if total != 2 || len(list) != 1 || list[0].Name != "Ada Lovelace" {
		t.Fatalf("page: %d %+v", total, list)
	}
	_, n, _ := s.ListContacts(ctx, b.ID, "", store.Page{Page: 1, PageSize: 10})
	if n != 0 {
		t.Fatalf("tenant B lists %d contacts", n)
	}

	ada.Notes, ada.UpdatedAt = "call after 10", t0.Add(1e9)
	isErr(t, "update", s.UpdateContact(ctx, ada), nil)
	got, _ = s.GetContact(ctx, a.ID, ada.ID)
	equal(t, "updated", got, ada)
	evil := ada
	evil.TenantID = b.ID
	isErr(t, "update other tenant", s.UpdateContact(ctx, evil), store.ErrNotFound)
	isErr(t, "delete other tenant", s.DeleteContact(ctx, b.ID, ada.ID), store.ErrNotFound)

	third := store.Contact{TenantID: a.ID, ID: newID(), Name: "C", CreatedAt: t0, UpdatedAt: t0}
	isErr(t, "third", s.CreateContact(ctx, third, 3), nil)
	isErr(t, "over the limit", s.CreateContact(ctx, store.Contact{TenantID: a.ID, ID: newID(), Name: "D", CreatedAt: t0, UpdatedAt: t0}, 3), store.ErrLimit)
	isErr(t, "same ID", s.CreateContact(ctx, store.Contact{TenantID: a.ID, ID: ada.ID, Name: "X", CreatedAt: t0, UpdatedAt: t0}, 10), store.ErrConflict)
	isErr(t, "delete", s.DeleteContact(ctx, a.ID, ada.ID), nil)
	isErr(t, "delete again", s.DeleteContact(ctx, a.ID, ada.ID), store.ErrNotFound)
}
