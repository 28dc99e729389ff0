package e2e_test

import (
	"strings"
	"testing"
)

// TestBodyMustBeAnObject: a body of null (which encoding/json takes as
// {}) or any other top-level value that is not an object is refused with
// 400 validation_failed and changes nothing: PUT /api/injection/policy
// with null used to reset the tenant's policy to the defaults.
func TestBodyMustBeAnObject(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	admin := w.keys["a/admin"]
	if r := w.env.Do("PUT", "/api/injection/policy", admin, `{"action":"warn","threshold":0.7}`); r.Status != 200 {
		t.Fatalf("set policy: %d %s", r.Status, r.Body)
	}
	before := w.env.Do("GET", "/api/injection/policy", admin, nil)
	for _, body := range []string{"null", " null", "[]", `[{"action":"block"}]`, `"{}"`, "0", "true"} {
		for _, c := range []struct{ method, path string }{
			{"PUT", "/api/injection/policy"}, {"PUT", "/api/agents/" + w.agent}, {"POST", "/api/agents/"},
			{"PUT", "/api/tenant/skill-policy"}, {"POST", "/api/crm/contacts/"}, {"POST", "/api/auth/login"},
		} {
			r := w.env.Do(c.method, c.path, admin, body)
			expectError(t, r, 400, "validation_failed")
			if *r.Error != "request body must be a JSON object" {
				t.Errorf("%s %s %q: %q", c.method, c.path, body, *r.Error)
			}
		}
	}
	if after := w.env.Do("GET", "/api/injection/policy", admin, nil); string(after.Data) != string(before.Data) || !strings.Contains(string(after.Data), `"warn"`) {
		t.Fatalf("the policy changed: %s, was %s", after.Data, before.Data)
	}
}
