package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
)

// TestStrictRequestInput (issue 15, defect 6): a body that gives a key
// twice created the last one's agent; two Authorization headers were read
// as the first; ?page=1000000000 was "must be an integer". Each is now a
// 400 that says what is wrong, and nothing is created.
func TestStrictRequestInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, nil)
		tenant := env.Tenant("acme")
		admin := env.APIKey(tenant, env.User(tenant, "admin@example.com", "admin"))
		other := env.APIKey(tenant, env.User(tenant, "viewer@example.com", "viewer"))

		for body, msg := range map[string]string{
			`{"agentId":"x4","name":"x","agentId":"x5"}`:      "agentId: is given more than once",
			`{"agentId":"x4","name":"x","AgentId":"x5"}`:      "AgentId: is given more than once",
			`{"agentId":"x4","name":"x","\u0061gentId":"x5"}`: "agentId: is given more than once",
		} {
			r := env.Do("POST", "/api/agents/", admin, body)
			expectError(t, r, 400, "validation_failed")
			if *r.Error != msg {
				t.Errorf("%s: %q, want %q", body, *r.Error, msg)
			}
		}
		for _, id := range []string{"x4", "x5"} {
			expectError(t, env.Do("GET", "/api/agents/"+id, admin, nil), 404, "not_found")
		}

		// Two Authorization headers: refused before either is read, the
		// same key twice included, and an unauthenticated request's budget
		// applies (the request carries no usable credential).
		for _, pair := range [][2]string{{admin, admin}, {admin, other}, {other, admin}, {admin, ""}} {
			req, err := http.NewRequest("GET", env.Server.URL+"/api/agents/", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Add("Authorization", "Bearer "+pair[0])
			req.Header.Add("Authorization", "Bearer "+pair[1])
			resp, err := env.Server.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			var env struct {
				Success bool   `json:"success"`
				Error   string `json:"error"`
				Code    string `json:"code"`
			}
			err = json.NewDecoder(resp.Body).Decode(&env)
			resp.Body.Close()
			if err != nil || resp.StatusCode != 400 || env.Success || env.Code != "validation_failed" || env.Error != "Authorization: must be sent once" {
				t.Fatalf("two Authorization headers: %d %+v %v", resp.StatusCode, env, err)
			}
			if resp.Header.Get("X-RateLimit-Limit") == "" {
				t.Error("a refused request with two credentials was not rate limited")
			}
		}
		if r := env.Do("GET", "/api/agents/", admin, nil); r.Status != 200 {
			t.Fatalf("one Authorization header: %d %s", r.Status, r.Body)
		}

		for query, msg := range map[string]string{
			"page=1000000000": "page: must be between 1 and 200 with pageSize 50 (page numbers reach the first 10000 rows; " +
				"follow meta.nextCursor with ?cursor= for the rest)",
			"pageSize=100000000000": "pageSize: must be between 1 and 100",
			"page=ten":              "page: must be an integer",
		} {
			r := env.Do("GET", "/api/agents/?"+query, admin, nil)
			expectError(t, r, 400, "validation_failed")
			if !strings.EqualFold(*r.Error, msg) {
				t.Errorf("%s: %q, want %q", query, *r.Error, msg)
			}
		}
	})
}
