package e2e_test

import (
	"testing"
)

// TestQueryParameterGivenOnce: a query parameter given twice is refused
// (400 validation_failed, "pageSize: must be given once"), not read as its
// first value: a proxy or a log reading the last would see another
// request than the server.
func TestQueryParameterGivenOnce(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	admin := w.keys["a/admin"]
	for path, msg := range map[string]string{
		"/api/agents/?pageSize=10&pageSize=1000":            "pageSize: must be given once",
		"/api/agents/?page=1&page=2":                        "page: must be given once",
		"/api/audit/?action=LoginSucceeded&action=x":        "action: must be given once",
		"/api/skills/?verifiedOnly=true&verifiedOnly=false": "verifiedOnly: must be given once",
		"/api/crm/contacts/?q=a&pageSize=5&q=b":             "q: must be given once",
	} {
		r := w.env.Do("GET", path, admin, nil)
		expectError(t, r, 400, "validation_failed")
		if *r.Error != msg {
			t.Errorf("%s: %q, want %q", path, *r.Error, msg)
		}
	}
	if r := w.env.Do("GET", "/api/agents/?pageSize=10&page=1", admin, nil); r.Status != 200 {
		t.Fatalf("distinct parameters: %d %s", r.Status, r.Body)
	}
	// Before authentication too (the login is public).
	r := w.env.Do("POST", "/api/auth/login?x=1&x=2", "", map[string]any{"email": "a@example.com", "password": "p"})
	expectError(t, r, 400, "validation_failed")
}
