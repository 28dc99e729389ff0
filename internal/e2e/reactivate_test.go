package e2e_test

import (
	"encoding/json"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
)

type userData struct {
	ID     string `json:"id"`
	Role   string `json:"role"`
	Active bool   `json:"active"`
}

func userOf(t *testing.T, r *apptest.Response) userData {
	t.Helper()
	var u userData
	if err := json.Unmarshal(r.Data, &u); err != nil {
		t.Fatalf("user data: %v (%s)", err, r.Body)
	}
	return u
}

// TestReactivateUser: an Owner reactivates a deactivated user, who can log
// in again while its old API key stays revoked; role changes on an inactive
// user are refused with 409 and change nothing; Admins, Operators and
// Viewers are refused (audited), another tenant's user is 404, and
// reactivating an active user is idempotent (200, nothing recorded).
func TestReactivateUser(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		owner := w.keys["a/owner"]
		victim := w.env.User(w.tenA, "victim-a@example.com", "operator")
		victimKey := w.env.APIKey(w.tenA, victim)
		path := "/api/users/" + victim + "/reactivate"

		if r := w.env.Do("DELETE", "/api/users/"+victim, owner, nil); r.Status != 200 || userOf(t, r).Active {
			t.Fatalf("deactivate: %d %s", r.Status, r.Body)
		}

		// Defect: a role change on the inactive user answered 200.
		changed := auditCount(t, w, w.tenA, "UserRoleChanged")
		r := w.env.Do("PUT", "/api/users/"+victim+"/role", owner, map[string]any{"role": "admin"})
		expectError(t, r, 409, "conflict")
		if got := auditCount(t, w, w.tenA, "UserRoleChanged"); got != changed {
			t.Fatalf("UserRoleChanged recorded for a refused change: %d → %d", changed, got)
		}
		if u, err := w.env.App.Store.GetUser(t.Context(), w.tenA, victim); err != nil || u.Role != "operator" || u.Active {
			t.Fatalf("inactive user after refused role change: %+v %v", u, err)
		}

		// Everyone but the Owner is refused, and the denial is audited.
		for _, role := range []string{"admin", "operator", "viewer"} {
			denied := auditCount(t, w, w.tenA, "PermissionDenied")
			r := w.env.Do("POST", path, w.keys["a/"+role], nil)
			expectError(t, r, 403, "forbidden")
			if got := auditCount(t, w, w.tenA, "PermissionDenied"); got != denied+1 {
				t.Fatalf("%s: PermissionDenied %d → %d, want +1", role, denied, got)
			}
		}
		// Another tenant's Owner cannot see the user: 404, and it stays
		// inactive.
		expectError(t, w.env.Do("POST", path, w.keys["b/owner"], nil), 404, "not_found")
		// Hostile IDs.
		expectError(t, w.env.Do("POST", "/api/users/not-a-uuid/reactivate", owner, nil), 400, "validation_failed")
		expectError(t, w.env.Do("POST", "/api/users/00000000-0000-0000-0000-000000000000/reactivate", owner, nil), 404, "not_found")
		expectError(t, w.env.Do("POST", path, "", nil), 401, "unauthorized")
		if u, _ := w.env.App.Store.GetUser(t.Context(), w.tenA, victim); u.Active {
			t.Fatal("a refused reactivation reactivated the user")
		}
		if n := auditCount(t, w, w.tenA, "UserReactivated"); n != 0 {
			t.Fatalf("UserReactivated entries after refusals: %d", n)
		}

		r = w.env.Do("POST", path, owner, nil)
		if r.Status != 200 {
			t.Fatalf("reactivate: %d %s", r.Status, r.Body)
		}
		if u := userOf(t, r); !u.Active || u.ID != victim || u.Role != "operator" {
			t.Fatalf("reactivated user %+v", u)
		}
		if n := auditCount(t, w, w.tenA, "UserReactivated"); n != 1 {
			t.Fatalf("UserReactivated entries = %d, want 1", n)
		}
		// The user logs in again; the key revoked at deactivation stays
		// revoked.
		if r := login(w.env, "victim-a@example.com", apptest.Password); r.Status != 200 {
			t.Fatalf("login after reactivation: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("GET", "/api/auth/me", victimKey, nil), 401, "unauthorized")

		// Idempotent: reactivating an active user answers it as it is and
		// records nothing.
		r = w.env.Do("POST", path, owner, nil)
		if r.Status != 200 || !userOf(t, r).Active {
			t.Fatalf("reactivate an active user: %d %s", r.Status, r.Body)
		}
		if n := auditCount(t, w, w.tenA, "UserReactivated"); n != 1 {
			t.Fatalf("UserReactivated entries after a no-op = %d, want 1", n)
		}

		// Role changes work again once active.
		r = w.env.Do("PUT", "/api/users/"+victim+"/role", owner, map[string]any{"role": "viewer"})
		if r.Status != 200 || userOf(t, r).Role != "viewer" {
			t.Fatalf("role change after reactivation: %d %s", r.Status, r.Body)
		}
	})
}
