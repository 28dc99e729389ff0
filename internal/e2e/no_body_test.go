package e2e_test

import (
	"regexp"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/gateway"
)

const msgNoBody = "this request takes no body (send none or {})"

var pathParam = regexp.MustCompile(`\{[A-Za-z]+\}`)

// TestBodylessRoutesRefuseABody: every route of the table that takes no
// body (gateway.BodylessRoutes, read from the route table) refuses a body
// other than none or {} with 400 validation_failed, after authentication
// (without credentials it is still 401), while {} and no body are answered
// alike. POST /api/users/{id}/reactivate with {"x":1} used to reactivate
// the user, the body ignored.
func TestBodylessRoutesRefuseABody(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	owner, viewer := w.keys["a/owner"], w.keys["a/viewer"]
	routes := gateway.BodylessRoutes()
	if len(routes) < 10 {
		t.Fatalf("only %d body-less routes: %v", len(routes), routes)
	}
	for _, want := range []string{"POST /api/users/{userId}/reactivate", "DELETE /api/agents/{agentId}", "POST /api/auth/logout"} {
		if !strings.Contains(strings.Join(routes, "\n"), want) {
			t.Fatalf("%s is not among the body-less routes: %v", want, routes)
		}
	}
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt, " ")
		if strings.HasPrefix(path, "/hooks/") {
			t.Fatalf("%s: a hook takes a signed raw body", rt)
		}
		path = pathParam.ReplaceAllStringFunc(path, func(p string) string {
			if p == "{agentId}" {
				return w.agent
			}
			return "00000000-0000-7000-8000-000000000000"
		})
		t.Run(rt, func(t *testing.T) {
			for _, body := range []string{`{"zzz":1}`, `{"x":1}`, `[]`, `null`, `""`, `x`, `{} {}`, `{}` + strings.Repeat(" ", 100)} {
				r := w.env.Do(method, path, owner, body)
				expectError(t, r, 400, "validation_failed")
				if *r.Error != msgNoBody {
					t.Fatalf("%q: %q", body, *r.Error)
				}
			}
			expectError(t, w.env.Do(method, path, "", `{"zzz":1}`), 401, "unauthorized")
			none := w.env.Do(method, path, viewer, nil)
			for _, body := range []string{`{}`, ` { } `, "\n", ""} {
				r := w.env.Do(method, path, viewer, body)
				if r.Status != none.Status || r.Code != none.Code || (r.Error != nil && *r.Error == msgNoBody) {
					t.Fatalf("%q: %d %s; without a body: %d %s", body, r.Status, r.Body, none.Status, none.Body)
				}
			}
		})
	}

	// The finding: the body did not stop the reactivation.
	victim := w.env.User(w.tenA, "victim-a@example.com", "operator")
	if r := w.env.Do("DELETE", "/api/users/"+victim, owner, `{"reason":"x"}`); r.Status != 400 {
		t.Fatalf("deactivate with a body: %d %s", r.Status, r.Body)
	}
	if r := w.env.Do("DELETE", "/api/users/"+victim, owner, nil); r.Status != 200 || userOf(t, r).Active {
		t.Fatalf("deactivate: %d %s", r.Status, r.Body)
	}
	expectError(t, w.env.Do("POST", "/api/users/"+victim+"/reactivate", owner, `{"x":1}`), 400, "validation_failed")
	if u, err := w.env.App.Store.GetUser(t.Context(), w.tenA, victim); err != nil || u.Active {
		t.Fatalf("reactivated by a refused request: %+v %v", u, err)
	}
	if r := w.env.Do("POST", "/api/users/"+victim+"/reactivate", owner, `{}`); r.Status != 200 || !userOf(t, r).Active {
		t.Fatalf("reactivate with {}: %d %s", r.Status, r.Body)
	}
}
