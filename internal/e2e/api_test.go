package e2e_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/store"
)

// world is two tenants, each with one user of every role and an API key per
// user, plus an agent in each tenant.
type world struct {
	env   *apptest.Env
	ids   map[string]string // "a/owner" → user ID
	keys  map[string]string // "a/owner" → API key
	tenA  string
	tenB  string
	agent string // agentId present in both tenants
}

var roles = []string{"owner", "admin", "operator", "viewer"}

func newWorld(t *testing.T, kind string) *world {
	t.Helper()
	return newWorldWith(t, kind, nil)
}

// newWorldWith is newWorld with the configuration adjusted by mutate.
func newWorldWith(t *testing.T, kind string, mutate func(*config.Config)) *world {
	t.Helper()
	return worldOn(t, apptest.New(t, kind, mutate))
}

// worldOn sets up newWorld's tenants, users, keys and agents on env.
func worldOn(t *testing.T, env *apptest.Env) *world {
	t.Helper()
	w := &world{env: env, ids: map[string]string{}, keys: map[string]string{}}
	w.tenA = env.Tenant("acme")
	w.tenB = env.Tenant("globex")
	for _, tn := range []struct{ name, id string }{{"a", w.tenA}, {"b", w.tenB}} {
		for _, r := range roles {
			k := tn.name + "/" + r
			w.ids[k] = env.User(tn.id, fmt.Sprintf("%s-%s@example.com", r, tn.name), r)
			w.keys[k] = env.APIKey(tn.id, w.ids[k])
		}
	}
	w.agent = "support-bot"
	for _, tn := range []string{"a", "b"} {
		r := env.Do("POST", "/api/agents/", w.keys[tn+"/admin"], map[string]any{"agentId": w.agent, "name": "Support " + tn})
		if r.Status != 201 {
			t.Fatalf("create agent in %s: %d %s", tn, r.Status, r.Body)
		}
	}
	return w
}

func forEachStore(t *testing.T, f func(t *testing.T, kind string)) {
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) { f(t, kind) })
	}
}

// expectError asserts an error envelope with status and code, carrying the
// request ID that the response header names.
func expectError(t *testing.T, r *apptest.Response, status int, code string) {
	t.Helper()
	if r.Status != status || r.Code != code {
		t.Fatalf("got %d %q (%s), want %d %q", r.Status, r.Code, r.Body, status, code)
	}
	if r.Success || r.Error == nil || *r.Error == "" {
		t.Fatalf("error envelope incomplete: %s", r.Body)
	}
	if r.ReqID == "" || r.ReqID != r.Header.Get("X-Request-Id") {
		t.Fatalf("requestId %q does not match header %q", r.ReqID, r.Header.Get("X-Request-Id"))
	}
	assertNoLeak(t, r.Body)
}

// leakMarkers are strings that must never reach a client.
var leakMarkers = []string{
	"sql", "SQL", "sqlite", "postgres", "pgx", "SQLSTATE", "komand_", "goroutine",
	".go:", "/internal/", "/root/", "panic", "runtime error", "constraint", "duplicate key",
	"argon2", "$argon2id", "kmd_", "kmr_", "kmi_", "kvt_",
}

func assertNoLeak(t *testing.T, body []byte) {
	t.Helper()
	s := string(body)
	for _, m := range leakMarkers {
		if strings.Contains(s, m) {
			t.Fatalf("response leaks %q: %s", m, s)
		}
	}
}

func auditCount(t *testing.T, w *world, tenantID string, action audit.Action) int {
	t.Helper()
	_, total, err := w.env.App.Store.ListAudit(t.Context(), tenantID, store.AuditFilter{Action: string(action)}, store.Page{Page: 1, PageSize: 1})
	if err != nil {
		t.Fatalf("list audit: %v", err)
	}
	return total
}

// TestCrossTenantIsNotFound proves that tenant B's credentials get 404, not
// 403, for every one of tenant A's resources, whatever B's role, and that
// nothing of A changes.
func TestCrossTenantIsNotFound(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		aOnly := "a-only-agent"
		if r := w.env.Do("POST", "/api/agents/", w.keys["a/admin"], map[string]any{"agentId": aOnly, "name": "A only"}); r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		victim := w.ids["a/viewer"]
		cases := []struct {
			name, method, path string
			body               any
		}{
			{"get-agent", "GET", "/api/agents/" + aOnly, nil},
			{"update-agent", "PUT", "/api/agents/" + aOnly, map[string]any{"name": "pwned"}},
			{"delete-agent", "DELETE", "/api/agents/" + aOnly, nil},
			{"get-user", "GET", "/api/users/" + victim, nil},
			{"set-role", "PUT", "/api/users/" + victim + "/role", map[string]any{"role": "viewer"}},
			{"deactivate-user", "DELETE", "/api/users/" + victim, nil},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := w.env.Do(c.method, c.path, w.keys["b/owner"], c.body)
				expectError(t, r, 404, "not_found")
			})
		}
		// Every role of B gets for A's resource exactly what it gets for one
		// that exists nowhere (404 where the role may act, the same 403
		// where it may not): no answer tells B that A's resource exists.
		ghosts := map[string]string{
			"/api/agents/" + aOnly: "/api/agents/no-such-agent-anywhere",
			"/api/users/" + victim: "/api/users/00000000-0000-7000-8000-000000000000",
		}
		aEntries := auditCount(t, w, w.tenA, "")
		for _, role := range roles {
			for _, c := range cases {
				t.Run(role+"/"+c.name, func(t *testing.T) {
					ghost := c.path
					for real, g := range ghosts {
						ghost = strings.Replace(ghost, real, g, 1)
					}
					if ghost == c.path {
						t.Fatalf("no ghost path for %s", c.path)
					}
					denied0 := auditCount(t, w, w.tenB, "PermissionDenied")
					got := w.env.Do(c.method, c.path, w.keys["b/"+role], c.body)
					denied1 := auditCount(t, w, w.tenB, "PermissionDenied")
					want := w.env.Do(c.method, ghost, w.keys["b/"+role], c.body)
					denied2 := auditCount(t, w, w.tenB, "PermissionDenied")
					if got.Status != want.Status || got.Code != want.Code {
						t.Fatalf("A's resource: %d %q; a resource that does not exist: %d %q", got.Status, got.Code, want.Status, want.Code)
					}
					switch got.Status {
					case 404:
						expectError(t, got, 404, "not_found")
					case 403:
						expectError(t, got, 403, "forbidden")
					default:
						t.Fatalf("cross-tenant %s %s as %s: %d %s", c.method, c.path, role, got.Status, got.Body)
					}
					// A denial is audited in B's own chain, once per request,
					// alike for A's resource and for the ghost; a 404 is not.
					wantDenied := 0
					if got.Status == 403 {
						wantDenied = 1
					}
					if denied1-denied0 != wantDenied || denied2-denied1 != wantDenied {
						t.Fatalf("PermissionDenied entries in B: +%d for A's resource, +%d for the ghost; want +%d each",
							denied1-denied0, denied2-denied1, wantDenied)
					}
				})
			}
		}
		// Nothing B sent left a trace in A's audit chain.
		if n := auditCount(t, w, w.tenA, ""); n != aEntries {
			t.Fatalf("A's audit log grew from %d to %d entries during B's probing", aEntries, n)
		}
		// Lists of B never show A's rows.
		r := w.env.Do("GET", "/api/agents/", w.keys["b/owner"], nil)
		if strings.Contains(string(r.Body), aOnly) {
			t.Fatalf("B's agent list shows A's agent: %s", r.Body)
		}
		r = w.env.Do("GET", "/api/users/?pageSize=100", w.keys["b/owner"], nil)
		if strings.Contains(string(r.Body), victim) || strings.Contains(string(r.Body), "-a@example.com") {
			t.Fatalf("B's user list shows A's users: %s", r.Body)
		}
		r = w.env.Do("GET", "/api/audit/?pageSize=100", w.keys["b/owner"], nil)
		if strings.Contains(string(r.Body), w.tenA) {
			t.Fatalf("B's audit list shows A's entries: %s", r.Body)
		}
		// A's data is unchanged.
		r = w.env.Do("GET", "/api/agents/"+aOnly, w.keys["a/viewer"], nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"name":"A only"`) {
			t.Fatalf("A's agent changed: %d %s", r.Status, r.Body)
		}
		u, err := w.env.App.Store.GetUser(t.Context(), w.tenA, victim)
		if err != nil || !u.Active || u.Role != "viewer" {
			t.Fatalf("A's user changed: %+v %v", u, err)
		}
	})
}

// TestRBACMatrixOverHTTP checks each role against each endpoint, and that
// every denial is audited as PermissionDenied.
func TestRBACMatrixOverHTTP(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		type call struct {
			name, method, path string
			body               func(role string) any
		}
		calls := []call{
			{"list-agents", "GET", "/api/agents/", nil},
			{"get-agent", "GET", "/api/agents/support-bot", nil},
			{"create-agent", "POST", "/api/agents/", func(role string) any {
				return map[string]any{"agentId": "agent-by-" + role, "name": "x"}
			}},
			{"update-agent", "PUT", "/api/agents/support-bot", func(string) any { return map[string]any{"name": "renamed"} }},
			{"list-users", "GET", "/api/users/", nil},
			{"create-user", "POST", "/api/users/", func(role string) any {
				return map[string]any{"email": "new-by-" + role + "@example.com", "role": "viewer", "password": apptest.Password}
			}},
			{"set-role", "PUT", "/api/users/{viewer}/role", func(string) any { return map[string]any{"role": "operator"} }},
			{"read-audit", "GET", "/api/audit/", nil},
		}
		allowed := map[string][]string{
			"owner":    {"list-agents", "get-agent", "create-agent", "update-agent", "list-users", "create-user", "set-role", "read-audit"},
			"admin":    {"list-agents", "get-agent", "create-agent", "update-agent", "list-users", "read-audit"},
			"operator": {"list-agents", "get-agent", "read-audit"},
			"viewer":   {"list-agents", "get-agent", "read-audit"},
		}
		for _, role := range roles {
			for _, c := range calls {
				t.Run(role+"/"+c.name, func(t *testing.T) {
					var body any
					if c.body != nil {
						body = c.body(role)
					}
					path := strings.ReplaceAll(c.path, "{viewer}", w.ids["a/viewer"])
					before := auditCount(t, w, w.tenA, "PermissionDenied")
					r := w.env.Do(c.method, path, w.keys["a/"+role], body)
					if contains(allowed[role], c.name) {
						if r.Status >= 300 {
							t.Fatalf("got %d %s, want success", r.Status, r.Body)
						}
						return
					}
					expectError(t, r, 403, "forbidden")
					if after := auditCount(t, w, w.tenA, "PermissionDenied"); after != before+1 {
						t.Fatalf("PermissionDenied entries: got %d, want %d", after, before+1)
					}
				})
			}
		}
	})
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestRoleRules covers the last-owner rule and role escalation.
func TestRoleRules(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		owner := w.keys["a/owner"]
		// The only owner cannot demote or deactivate itself.
		r := w.env.Do("PUT", "/api/users/"+w.ids["a/owner"]+"/role", owner, map[string]any{"role": "admin"})
		expectError(t, r, 409, "conflict")
		r = w.env.Do("DELETE", "/api/users/"+w.ids["a/owner"], owner, nil)
		expectError(t, r, 409, "conflict")
		// A role in the body of another call is not a way in.
		r = w.env.Do("POST", "/api/agents/", w.keys["a/viewer"], map[string]any{"agentId": "x", "name": "x", "role": "owner"})
		expectError(t, r, 400, "validation_failed")
		r = w.env.Do("POST", "/api/agents/", w.keys["a/viewer"], map[string]any{"agentId": "x", "name": "x"})
		expectError(t, r, 403, "forbidden")
		// An unknown role is rejected.
		r = w.env.Do("PUT", "/api/users/"+w.ids["a/viewer"]+"/role", owner, map[string]any{"role": "superuser"})
		expectError(t, r, 400, "validation_failed")
		// With a second owner, the first can step down.
		if r = w.env.Do("PUT", "/api/users/"+w.ids["a/admin"]+"/role", owner, map[string]any{"role": "owner"}); r.Status != 200 {
			t.Fatalf("promote: %d %s", r.Status, r.Body)
		}
		if r = w.env.Do("PUT", "/api/users/"+w.ids["a/owner"]+"/role", owner, map[string]any{"role": "viewer"}); r.Status != 200 {
			t.Fatalf("step down: %d %s", r.Status, r.Body)
		}
		// The demotion applies to the very next request of the same key.
		r = w.env.Do("POST", "/api/users/", owner, map[string]any{"email": "late@example.com", "role": "viewer", "password": apptest.Password})
		expectError(t, r, 403, "forbidden")
		if n := auditCount(t, w, w.tenA, "UserRoleChanged"); n < 2 {
			t.Fatalf("UserRoleChanged entries: got %d, want ≥ 2", n)
		}
		// A deactivated user's key stops working at once.
		if r = w.env.Do("DELETE", "/api/users/"+w.ids["a/operator"], w.keys["a/admin"], nil); r.Status != 200 {
			t.Fatalf("deactivate: %d %s", r.Status, r.Body)
		}
		r = w.env.Do("GET", "/api/agents/", w.keys["a/operator"], nil)
		expectError(t, r, 401, "unauthorized")
	})
}

// TestAgentDefaults checks product.md's defaults and the AgentConfigured
// audit entry.
func TestAgentDefaults(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		r := w.env.Do("POST", "/api/agents/", w.keys["a/admin"], map[string]any{"agentId": "sales", "name": "Sales"})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		var a map[string]any
		if err := json.Unmarshal(r.Data, &a); err != nil {
			t.Fatal(err)
		}
		want := map[string]any{
			"systemPrompt": "You are a helpful enterprise AI assistant.", "modelProvider": "anthropic",
			"modelId": "claude-sonnet-4-20250514", "maxContextTokens": float64(100000), "description": nil,
			"ownerId": w.ids["a/admin"],
		}
		for k, v := range want {
			if a[k] != v {
				t.Errorf("%s: got %v, want %v", k, a[k], v)
			}
		}
		for _, k := range []string{"enabledSkillIds", "allowedChannels"} {
			if l, ok := a[k].([]any); !ok || len(l) != 0 {
				t.Errorf("%s: got %v, want []", k, a[k])
			}
		}
		entries, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenA, store.AuditFilter{Action: "AgentConfigured", AgentID: "sales"}, store.Page{Page: 1, PageSize: 10})
		if err != nil || len(entries) != 1 || entries[0].ActorID != w.ids["a/admin"] || entries[0].RequestID != r.ReqIDHeader() {
			t.Fatalf("AgentConfigured entry: %+v %v", entries, err)
		}
		// Duplicate agentId → 409.
		r = w.env.Do("POST", "/api/agents/", w.keys["a/admin"], map[string]any{"agentId": "sales", "name": "Again"})
		expectError(t, r, 409, "conflict")
		// Update and delete.
		r = w.env.Do("PUT", "/api/agents/sales", w.keys["a/admin"], map[string]any{"modelProvider": "openai", "allowedChannels": []string{"WebChat"}})
		if r.Status != 200 || !strings.Contains(string(r.Data), `"modelProvider":"openai"`) || !strings.Contains(string(r.Data), `"name":"Sales"`) {
			t.Fatalf("update: %d %s", r.Status, r.Body)
		}
		if r = w.env.Do("DELETE", "/api/agents/sales", w.keys["a/admin"], nil); r.Status != 200 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("GET", "/api/agents/sales", w.keys["a/admin"], nil), 404, "not_found")
	})
}
