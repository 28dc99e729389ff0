package e2e_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
)

// TestListingCursorsAndLimits drives issue 15's listing defect through the
// API: lists are walked with meta.nextCursor, a cursor that is not the
// list's (altered, another tenant's, another list's) is refused with 400,
// page numbers stop at validate.MaxOffset rows with a message that names
// the cursor, and the per-tenant quotas of agents, credentials and active
// sessions answer 409 limit_reached naming the setting.
func TestListingCursorsAndLimits(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, func(c *config.Config) {
			c.Limits.MaxAgents, c.Limits.MaxCredentials, c.Limits.MaxActiveSessions = 5, 2, 2
		})
		a, b := env.Tenant("acme"), env.Tenant("globex")
		admin := env.APIKey(a, env.User(a, "admin@acme.example", "admin"))
		other := env.APIKey(b, env.User(b, "admin@globex.example", "admin"))

		for _, id := range []string{"default", "agent-c", "agent-a", "agent-d", "agent-b"} {
			if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": id, "name": id,
				"allowedChannels": []string{"WebChat"}}); r.Status != 201 {
				t.Fatalf("create %s: %d %s", id, r.Status, r.Body)
			}
		}
		r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "agent-e", "name": "e"})
		expectError(t, r, 409, "limit_reached")
		if !strings.Contains(*r.Error, "5 agents") || !strings.Contains(*r.Error, "Limits:MaxAgents") {
			t.Errorf("limit message does not name the quota: %q", *r.Error)
		}
		if r := env.Do("POST", "/api/agents/", other, map[string]any{"agentId": "agent-e", "name": "e"}); r.Status != 201 {
			t.Fatalf("another tenant is under its own quota: %d %s", r.Status, r.Body)
		}

		// The walk: pages of 2 with the cursor give the one-page list.
		all := env.Do("GET", "/api/agents/?pageSize=100", admin, nil)
		if all.Status != 200 || all.Meta.Total != 5 || all.Meta.TotalCapped || all.Meta.NextCursor != "" {
			t.Fatalf("one page: %d %s", all.Status, all.Body)
		}
		want := agentIDs(t, all)
		var got []string
		path := "/api/agents/?pageSize=2"
		var first string
		for range 10 {
			r := env.Do("GET", path, admin, nil)
			if r.Status != 200 || r.Meta.Total != 5 {
				t.Fatalf("%s: %d %s", path, r.Status, r.Body)
			}
			got = append(got, agentIDs(t, r)...)
			if r.Meta.NextCursor == "" {
				break
			}
			if first == "" {
				first = r.Meta.NextCursor
			}
			path = "/api/agents/?pageSize=2&cursor=" + url.QueryEscape(r.Meta.NextCursor)
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("walked %v, want %v", got, want)
		}

		// Hostile cursors.
		for name, c := range map[string]string{
			"truncated":  first[:len(first)-4],
			"not base64": first + "!",
			"garbage":    "AAAA",
			"oversized":  strings.Repeat("A", 1025),
			"sql":        "' OR 1=1 --",
			"another tenant's": func() string {
				r := env.Do("GET", "/api/agents/?pageSize=1", other, nil)
				return r.Meta.NextCursor
			}(),
		} {
			if c == "" {
				t.Fatalf("%s: no cursor to try", name)
			}
			r := env.Do("GET", "/api/agents/?pageSize=2&cursor="+url.QueryEscape(c), admin, nil)
			expectError(t, r, 400, "validation_failed")
			if !strings.Contains(*r.Error, "cursor") {
				t.Errorf("%s cursor: message %q does not name the cursor", name, *r.Error)
			}
		}
		// Another list's cursor (the agents cursor on credentials).
		expectError(t, env.Do("GET", "/api/credentials/?cursor="+url.QueryEscape(first), admin, nil), 400, "validation_failed")
		// A cursor with a page number.
		expectError(t, env.Do("GET", "/api/agents/?page=2&cursor="+url.QueryEscape(first), admin, nil), 400, "validation_failed")
		// Page numbers stop at MaxOffset rows, and say how to go on.
		r = env.Do("GET", "/api/agents/?page=201&pageSize=50", admin, nil)
		expectError(t, r, 400, "validation_failed")
		if !strings.Contains(*r.Error, "between 1 and 200 with pageSize 50") || !strings.Contains(*r.Error, "cursor") {
			t.Errorf("deep page message: %q", *r.Error)
		}
		if r := env.Do("GET", "/api/agents/?page=200&pageSize=50", admin, nil); r.Status != 200 || r.Meta.Total != 5 {
			t.Fatalf("deepest page: %d %s", r.Status, r.Body)
		}

		// Credentials quota.
		for i := range 2 {
			if r := env.Do("POST", "/api/credentials/", admin, map[string]any{"name": fmt.Sprintf("c%d", i), "type": "api_key", "value": "v"}); r.Status != 201 {
				t.Fatalf("credential %d: %d %s", i, r.Status, r.Body)
			}
		}
		r = env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "c2", "type": "api_key", "value": "v"})
		expectError(t, r, 409, "limit_reached")
		if !strings.Contains(*r.Error, "2 credentials") || !strings.Contains(*r.Error, "Limits:MaxCredentials") {
			t.Errorf("credential limit message: %q", *r.Error)
		}

		// Active sessions quota: two senders open sessions, a third is
		// refused, the first still talks in its own session.
		for _, sender := range []string{"s1", "s2"} {
			if r := env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": sender, "text": "hello"}); r.Status != 200 {
				t.Fatalf("chat %s: %d %s", sender, r.Status, r.Body)
			}
		}
		r = env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": "s3", "text": "hello"})
		expectError(t, r, 409, "limit_reached")
		if !strings.Contains(*r.Error, "2 active sessions") || !strings.Contains(*r.Error, "Limits:MaxActiveSessions") {
			t.Errorf("session limit message: %q", *r.Error)
		}
		if r := env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": "s1", "text": "again"}); r.Status != 200 {
			t.Fatalf("chat in an existing session at the quota: %d %s", r.Status, r.Body)
		}
	})
}

func agentIDs(t *testing.T, r *apptest.Response) []string {
	t.Helper()
	var out []string
	for _, a := range decodeData[[]map[string]any](t, r) {
		out = append(out, a["agentId"].(string))
	}
	return out
}
