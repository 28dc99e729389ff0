package e2e_test

import (
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

func TestCRMContacts(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, nil)
		a, b := env.Tenant("acme"), env.Tenant("globex")
		op := env.APIKey(a, env.User(a, "op@acme.example", "operator"))
		owner := env.APIKey(a, env.User(a, "owner@acme.example", "owner"))
		viewer := env.APIKey(a, env.User(a, "view@acme.example", "viewer"))
		other := env.APIKey(b, env.User(b, "owner@globex.example", "owner"))

		r := env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": "Ada Lovelace", "email": "ada@example.com", "notes": "line 1\nline 2"})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		id := decodeData[map[string]any](t, r)["id"].(string)
		if r := env.Do("GET", "/api/crm/contacts/?q=lovelace", op, nil); r.Status != 200 || r.Meta.Total != 1 {
			t.Fatalf("search: %d %s", r.Status, r.Body)
		}
		if r := env.Do("PUT", "/api/crm/contacts/"+id, op, map[string]any{"name": "Ada King", "email": "ada@example.com"}); r.Status != 200 {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		denied := countAudit(t, env, a, audit.PermissionDenied)
		expectError(t, env.Do("GET", "/api/crm/contacts/", viewer, nil), 403, "forbidden")
		expectError(t, env.Do("DELETE", "/api/crm/contacts/"+id, op, nil), 403, "forbidden")
		if n := countAudit(t, env, a, audit.PermissionDenied) - denied; n != 2 {
			t.Fatalf("PermissionDenied %d, want 2", n)
		}
		// Hostile input.
		expectError(t, env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": ""}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": "x\u0000y"}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": strings.Repeat("n", 201)}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": "x", "email": "not an email"}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/crm/contacts/", op, map[string]any{"name": "x", "tenantId": b}), 400, "validation_failed")
		expectError(t, env.Do("GET", "/api/crm/contacts/..%2F..%2Fetc%2Fpasswd", op, nil), 404, "not_found")
		// Another tenant cannot see, change or delete it.
		expectError(t, env.Do("GET", "/api/crm/contacts/"+id, other, nil), 404, "not_found")
		expectError(t, env.Do("PUT", "/api/crm/contacts/"+id, other, map[string]any{"name": "pwned"}), 404, "not_found")
		expectError(t, env.Do("DELETE", "/api/crm/contacts/"+id, other, nil), 404, "not_found")
		if r := env.Do("GET", "/api/crm/contacts/", other, nil); r.Meta.Total != 0 {
			t.Fatalf("other tenant lists %d", r.Meta.Total)
		}
		if r := env.Do("DELETE", "/api/crm/contacts/"+id, owner, nil); r.Status != 200 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		for action, want := range map[audit.Action]int{audit.ContactCreated: 1, audit.ContactUpdated: 1, audit.ContactDeleted: 1} {
			if n := countAudit(t, env, a, action); n != want {
				t.Fatalf("%s: %d, want %d", action, n, want)
			}
		}
	})
}

func countAudit(t *testing.T, env *apptest.Env, tenant string, action audit.Action) int {
	t.Helper()
	_, n, err := env.App.Store.ListAudit(t.Context(), tenant, store.AuditFilter{Action: string(action)}, store.Page{Page: 1, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
