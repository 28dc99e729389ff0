package e2e_test

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/store"
)

// TestInputValidation sends what an attacker or a careless client would.
func TestInputValidation(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	key := w.keys["a/admin"]
	long := strings.Repeat("a", 129)
	cases := []struct {
		name, method, path string
		body               any
		headers            []string
		status             int
		code, mentions     string
	}{
		{"malformed-json", "POST", "/api/agents/", `{"agentId": "x", "name": `, nil, 400, "validation_failed", "JSON"},
		{"not-an-object", "POST", "/api/agents/", `["x"]`, nil, 400, "validation_failed", "object"},
		{"trailing-data", "POST", "/api/agents/", `{"agentId":"x","name":"x"} {"a":1}`, nil, 400, "validation_failed", "single"},
		{"empty-body", "POST", "/api/agents/", ``, nil, 400, "validation_failed", "required"},
		{"unknown-field", "POST", "/api/agents/", `{"agentId":"x","name":"x","ownerId":"me"}`, nil, 400, "validation_failed", "ownerId"},
		{"wrong-type", "POST", "/api/agents/", `{"agentId":"x","name":42}`, nil, 400, "validation_failed", "name"},
		{"null-name", "POST", "/api/agents/", `{"agentId":"x","name":null}`, nil, 400, "validation_failed", "name"},
		{"empty-name", "POST", "/api/agents/", `{"agentId":"x","name":"  "}`, nil, 400, "validation_failed", "name"},
		{"null-prompt", "POST", "/api/agents/", `{"agentId":"x","name":"x","systemPrompt":null}`, nil, 400, "validation_failed", "systemPrompt"},
		{"update-null-name", "PUT", "/api/agents/support-bot", `{"name":null}`, nil, 400, "validation_failed", "name"},
		{"update-empty-name", "PUT", "/api/agents/support-bot", `{"name":""}`, nil, 400, "validation_failed", "name"},
		{"update-null-prompt", "PUT", "/api/agents/support-bot", `{"systemPrompt":null}`, nil, 400, "validation_failed", "systemPrompt"},
		{"update-null-provider", "PUT", "/api/agents/support-bot", `{"modelProvider":null}`, nil, 400, "validation_failed", "modelProvider"},
		{"update-null-model", "PUT", "/api/agents/support-bot", `{"modelId":null}`, nil, 400, "validation_failed", "modelId"},
		{"update-null-tokens", "PUT", "/api/agents/support-bot", `{"maxContextTokens":null}`, nil, 400, "validation_failed", "maxContextTokens"},
		{"update-null-skills", "PUT", "/api/agents/support-bot", `{"enabledSkillIds":null}`, nil, 400, "validation_failed", "enabledSkillIds"},
		{"update-null-channels", "PUT", "/api/agents/support-bot", `{"allowedChannels":null}`, nil, 400, "validation_failed", "allowedChannels"},
		{"update-null-agent-id", "PUT", "/api/agents/support-bot", `{"agentId":null}`, nil, 400, "validation_failed", "agentId"},
		{"update-wrong-type", "PUT", "/api/agents/support-bot", `{"maxContextTokens":"many"}`, nil, 400, "validation_failed", "maxContextTokens"},
		{"null-agent-id", "POST", "/api/agents/", `{"agentId":null,"name":"x"}`, nil, 400, "validation_failed", "agentId"},
		{"bad-agent-id", "POST", "/api/agents/", `{"agentId":"../../etc/passwd","name":"x"}`, nil, 400, "validation_failed", "agentId"},
		{"long-agent-id", "POST", "/api/agents/", `{"agentId":"` + long + `","name":"x"}`, nil, 400, "validation_failed", "agentId"},
		{"long-route-param", "GET", "/api/agents/" + long, nil, nil, 400, "validation_failed", "agentId"},
		{"traversal-route-param", "GET", "/api/agents/..%2F..%2Fetc%2Fpasswd", nil, nil, 400, "validation_failed", "agentId"},
		{"bad-user-id", "GET", "/api/users/not-a-uuid", nil, nil, 400, "validation_failed", "userId"},
		{"prompt-too-long", "POST", "/api/agents/", map[string]any{"agentId": "x", "name": "x", "systemPrompt": strings.Repeat("é", 50_001)}, nil, 400, "validation_failed", "systemPrompt"},
		{"description-too-long", "POST", "/api/agents/", map[string]any{"agentId": "x", "name": "x", "description": strings.Repeat("d", 10_001)}, nil, 400, "validation_failed", "description"},
		{"bad-provider", "POST", "/api/agents/", map[string]any{"agentId": "x", "name": "x", "modelProvider": "evil"}, nil, 400, "validation_failed", "modelProvider"},
		{"bad-tokens", "POST", "/api/agents/", map[string]any{"agentId": "x", "name": "x", "maxContextTokens": -1}, nil, 400, "validation_failed", "maxContextTokens"},
		{"bad-channel", "POST", "/api/agents/", map[string]any{"agentId": "x", "name": "x", "allowedChannels": []string{"<script>"}}, nil, 400, "validation_failed", "allowedChannels"},
		{"too-large", "POST", "/api/agents/", `{"agentId":"x","name":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "payload_too_large", "large"},
		{"wrong-content-type", "POST", "/api/agents/", `{}`, []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type", "application/json"},
		{"form-content-type", "POST", "/api/auth/login", `email=a&password=b`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, "unsupported_media_type", "application/json"},
		{"page-zero", "GET", "/api/agents/?page=0", nil, nil, 400, "validation_failed", "page"},
		{"page-size-zero", "GET", "/api/agents/?pageSize=0", nil, nil, 400, "validation_failed", "pageSize"},
		{"page-size-101", "GET", "/api/agents/?pageSize=101", nil, nil, 400, "validation_failed", "pageSize"},
		{"page-not-int", "GET", "/api/agents/?page=1e3", nil, nil, 400, "validation_failed", "page"},
		{"page-overflow", "GET", "/api/agents/?page=99999999999999999999", nil, nil, 400, "validation_failed", "page"},
		{"audit-bad-action", "GET", "/api/audit/?action=DROP%20TABLE", nil, nil, 400, "validation_failed", "action"},
		{"audit-bad-time", "GET", "/api/audit/?from=yesterday", nil, nil, 400, "validation_failed", "from"},
		{"unknown-route", "GET", "/api/nothing-here", nil, nil, 404, "not_found", "not found"},
		{"wrong-method", "PATCH", "/api/agents/", nil, nil, 405, "method_not_allowed", "method"},
	}
	configured := auditCount(t, w, w.tenA, "AgentConfigured")
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := w.env.Do(c.method, c.path, key, c.body, c.headers...)
			expectError(t, r, c.status, c.code)
			if !strings.Contains(*r.Error, c.mentions) {
				t.Fatalf("error %q does not mention %q", *r.Error, c.mentions)
			}
		})
	}
	// Nothing was created or changed by any of it, and nothing was recorded
	// as a configuration change.
	_, total, err := w.env.App.Store.ListAgents(t.Context(), w.tenA, store.Page{Page: 1, PageSize: 10})
	if err != nil || total != 1 {
		t.Fatalf("agents after hostile input: %d %v, want 1", total, err)
	}
	if n := auditCount(t, w, w.tenA, "AgentConfigured"); n != configured {
		t.Fatalf("AgentConfigured entries went from %d to %d on rejected input", configured, n)
	}
}

// TestAuthentication covers the bearer boundary.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer kmd_notakey",
		"Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.", "Bearer " + strings.Repeat("x", 5000)} {
		r := w.env.Do("GET", "/api/agents/", "", nil, "Authorization", h)
		expectError(t, r, 401, "unauthorized")
	}
	expectError(t, w.env.Do("GET", "/api/audit/", "", nil), 401, "unauthorized")
	if r := w.env.Do("GET", "/health", "", nil); r.Status != 200 {
		t.Fatalf("/health: %d", r.Status)
	}
	if r := w.env.Do("GET", "/ready", "", nil); r.Status != 200 {
		t.Fatalf("/ready: %d %s", r.Status, r.Body)
	}
}

// TestLoginRefreshLogout walks the token lifecycle, including refresh-token
// reuse, which must revoke the whole family.
func TestLoginRefreshLogout(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		email := "owner-a@example.com"
		// Same answer for a wrong password and an unknown user.
		r1 := w.env.Do("POST", "/api/auth/login", "", map[string]string{"email": email, "password": "wrong password!!"})
		r2 := w.env.Do("POST", "/api/auth/login", "", map[string]string{"email": "nobody@example.com", "password": "wrong password!!"})
		expectError(t, r1, 401, "unauthorized")
		expectError(t, r2, 401, "unauthorized")
		if *r1.Error != *r2.Error {
			t.Fatalf("login errors differ: %q vs %q", *r1.Error, *r2.Error)
		}
		if n := auditCount(t, w, w.tenA, "LoginFailed"); n != 1 {
			t.Fatalf("LoginFailed in tenant: %d, want 1", n)
		}
		if n := auditCount(t, w, store.PlatformTenantID, "LoginFailed"); n != 1 {
			t.Fatalf("LoginFailed for unknown user: %d, want 1", n)
		}

		access, refresh := w.env.Login(email)
		if r := w.env.Do("GET", "/api/auth/me", access, nil); r.Status != 200 || !strings.Contains(string(r.Data), `"role":"owner"`) {
			t.Fatalf("me: %d %s", r.Status, r.Body)
		}
		r := w.env.Do("POST", "/api/auth/refresh", "", map[string]string{"refreshToken": refresh})
		if r.Status != 200 {
			t.Fatalf("refresh: %d %s", r.Status, r.Body)
		}
		var pair struct{ Token, RefreshToken string }
		_ = json.Unmarshal(r.Data, &pair)
		if pair.RefreshToken == refresh || pair.Token == "" {
			t.Fatal("refresh did not rotate")
		}
		// Reusing the spent token revokes the family: the new pair dies too.
		expectError(t, w.env.Do("POST", "/api/auth/refresh", "", map[string]string{"refreshToken": refresh}), 401, "unauthorized")
		expectError(t, w.env.Do("POST", "/api/auth/refresh", "", map[string]string{"refreshToken": pair.RefreshToken}), 401, "unauthorized")
		expectError(t, w.env.Do("GET", "/api/agents/", pair.Token, nil), 401, "unauthorized")
		if n := auditCount(t, w, w.tenA, "RefreshTokenReused"); n != 1 {
			t.Fatalf("RefreshTokenReused: %d, want 1", n)
		}
		// Logout ends the session at once.
		access, _ = w.env.Login(email)
		if r := w.env.Do("POST", "/api/auth/logout", access, nil); r.Status != 200 {
			t.Fatalf("logout: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("GET", "/api/agents/", access, nil), 401, "unauthorized")
	})
}

// TestRequestID checks that a well-formed client ID is echoed and carried
// into the audit entry and the logs, and that a malformed one is replaced.
func TestRequestID(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	id := "trace-abc.123_XYZ"
	r := w.env.Do("POST", "/api/agents/", w.keys["a/viewer"], map[string]any{"agentId": "x", "name": "x"}, "X-Request-Id", id)
	expectError(t, r, 403, "forbidden")
	if r.ReqID != id {
		t.Fatalf("requestId: got %q, want %q", r.ReqID, id)
	}
	entries, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenA, store.AuditFilter{Action: "PermissionDenied"}, store.Page{Page: 1, PageSize: 1})
	if err != nil || len(entries) != 1 || entries[0].RequestID != id {
		t.Fatalf("audit entry request ID: %+v %v", entries, err)
	}
	if !strings.Contains(w.env.Logs(), `"request_id":"`+id+`"`) {
		t.Fatal("logs do not carry the request ID")
	}
	for _, bad := range []string{strings.Repeat("a", 129), "a b", "x\"y", "<script>", "ü"} {
		r := w.env.Do("GET", "/health", "", nil, "X-Request-Id", bad)
		got := r.Header.Get("X-Request-Id")
		if got == bad || got == "" || len(got) > 128 {
			t.Fatalf("malformed request ID %q answered with %q", bad, got)
		}
	}
}

// TestCORS checks both environments and the preflight.
func TestCORS(t *testing.T) {
	t.Parallel()
	prod := apptest.New(t, "sqlite", func(c *config.Config) {
		c.Cors.AllowedOrigins = []string{"https://app.example.com"}
	})
	dev := apptest.New(t, "sqlite", func(c *config.Config) { c.Environment = "Development" })
	unset := apptest.New(t, "sqlite", nil)
	cases := []struct {
		name   string
		env    *apptest.Env
		origin string
		allow  bool
	}{
		{"prod-listed", prod, "https://app.example.com", true},
		{"prod-unlisted", prod, "https://evil.example.com", false},
		{"prod-localhost", prod, "http://localhost:3000", false},
		{"dev-localhost", dev, "http://localhost:3000", true},
		{"dev-loopback", dev, "http://127.0.0.1:8080", true},
		{"dev-lookalike", dev, "http://localhost.evil.com", false},
		{"dev-remote", dev, "https://app.example.com", false},
		{"unset-none", unset, "https://app.example.com", false},
		{"null-origin", prod, "null", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := c.env.Do("GET", "/health", "", nil, "Origin", c.origin)
			got := r.Header.Get("Access-Control-Allow-Origin")
			if c.allow != (got == c.origin) || (!c.allow && got != "") {
				t.Fatalf("Access-Control-Allow-Origin: got %q (allow=%v)", got, c.allow)
			}
			p := c.env.Do("OPTIONS", "/api/agents/", "", nil, "Origin", c.origin, "Access-Control-Request-Method", "POST")
			if p.Header.Get("X-RateLimit-Limit") == "" || p.Header.Get("X-Request-Id") == "" {
				t.Fatalf("preflight lacks rate-limit or request-ID headers: %v", p.Header)
			}
			if !c.allow {
				if p.Header.Get("Access-Control-Allow-Origin") != "" || p.Header.Get("Access-Control-Allow-Methods") != "" {
					t.Fatalf("disallowed preflight got CORS headers: %v", p.Header)
				}
				return
			}
			if p.Status != 204 || p.Header.Get("Access-Control-Allow-Methods") != "GET, POST, PUT, DELETE, OPTIONS" ||
				p.Header.Get("Access-Control-Allow-Headers") != "Content-Type, Authorization, X-Request-Id" ||
				p.Header.Get("Access-Control-Max-Age") != "600" {
				t.Fatalf("preflight: %d %v", p.Status, p.Header)
			}
		})
	}
}

// TestRateLimit checks headers on every response and the 429.
func TestRateLimit(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", func(c *config.Config) { c.RateLimits.ApiPermitLimit = 3 })
	ten := env.Tenant("acme")
	key := env.APIKey(ten, env.User(ten, "o@example.com", "owner"))
	for i := 1; i <= 3; i++ {
		r := env.Do("GET", "/api/agents/", key, nil)
		if r.Status != 200 || r.Header.Get("X-RateLimit-Limit") != "3" || r.Header.Get("X-RateLimit-Remaining") != strconv.Itoa(3-i) {
			t.Fatalf("request %d: %d %v", i, r.Status, r.Header)
		}
		reset, err := strconv.ParseInt(r.Header.Get("X-RateLimit-Reset"), 10, 64)
		if err != nil || reset < time.Now().Unix() {
			t.Fatalf("X-RateLimit-Reset %q", r.Header.Get("X-RateLimit-Reset"))
		}
	}
	r := env.Do("GET", "/api/agents/", key, nil)
	expectError(t, r, 429, "rate_limited")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 60 {
		t.Fatalf("Retry-After %q", r.Header.Get("Retry-After"))
	}
	// Another principal (here: anonymous, keyed by IP) has its own window.
	if r := env.Do("GET", "/nope", "", nil); r.Status != 404 || r.Header.Get("X-RateLimit-Limit") != "3" {
		t.Fatalf("anonymous: %d %v", r.Status, r.Header)
	}
}

// TestSecurityHeaders checks the headers every response carries.
func TestSecurityHeaders(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	for _, path := range []string{"/health", "/api/agents/", "/nope"} {
		r := env.Do("GET", path, "", nil)
		for h, want := range map[string]string{
			"X-Content-Type-Options": "nosniff",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := r.Header.Get(h); got != want {
				t.Errorf("%s %s: got %q, want %q", path, h, got, want)
			}
		}
		if !strings.Contains(r.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'") {
			t.Errorf("%s: CSP %q", path, r.Header.Get("Content-Security-Policy"))
		}
	}
	_ = http.StatusOK
}

// TestAgentUpdateNulls: an absent field is kept, "description": null clears
// the description, and a rejected null changes nothing.
func TestAgentUpdateNulls(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	key := w.keys["a/admin"]
	path := "/api/agents/" + w.agent
	if r := w.env.Do("PUT", path, key, map[string]any{"description": "Answers billing questions"}); r.Status != http.StatusOK {
		t.Fatalf("set description: %d %s", r.Status, r.Body)
	}
	before := w.env.Do("GET", path, key, nil)
	configured := auditCount(t, w, w.tenA, "AgentConfigured")
	r := w.env.Do("PUT", path, key, `{"name":null,"description":"changed"}`)
	expectError(t, r, http.StatusBadRequest, "validation_failed")
	if *r.Error != "name: must not be null" {
		t.Fatalf("error %q", *r.Error)
	}
	if after := w.env.Do("GET", path, key, nil); string(after.Data) != string(before.Data) {
		t.Fatalf("a rejected update changed the agent:\n%s\n%s", before.Data, after.Data)
	}
	if n := auditCount(t, w, w.tenA, "AgentConfigured"); n != configured {
		t.Fatalf("a rejected update was recorded as a change: %d → %d entries", configured, n)
	}
	r = w.env.Do("PUT", path, key, `{"description":null}`)
	if r.Status != http.StatusOK {
		t.Fatalf("clear description: %d %s", r.Status, r.Body)
	}
	if n := auditCount(t, w, w.tenA, "AgentConfigured"); n != configured+1 {
		t.Fatalf("clearing the description: %d AgentConfigured entries, want %d", n, configured+1)
	}
	var got struct {
		Name        string  `json:"name"`
		Description *string `json:"description"`
	}
	if err := json.Unmarshal(r.Data, &got); err != nil {
		t.Fatal(err)
	}
	if got.Description != nil || got.Name != "Support a" {
		t.Fatalf("after clearing: name %q description %v", got.Name, got.Description)
	}
	// A list is emptied with [], not with null.
	if r := w.env.Do("PUT", path, key, `{"allowedChannels":["WebChat"]}`); r.Status != http.StatusOK {
		t.Fatalf("set channels: %d %s", r.Status, r.Body)
	}
	r = w.env.Do("PUT", path, key, `{"allowedChannels":[]}`)
	if r.Status != http.StatusOK || !strings.Contains(string(r.Data), `"allowedChannels":[]`) {
		t.Fatalf("empty channels: %d %s", r.Status, r.Data)
	}
}

// TestForwardedForSpoofing: with no trusted proxy, a client that rotates
// X-Forwarded-For stays in its own (peer-address) window; behind a trusted
// proxy, the client address the proxy appended keys the window, and a forged
// address to the left of it does not open a new one.
func TestForwardedForSpoofing(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", func(c *config.Config) { c.RateLimits.ApiPermitLimit = 3 })
	for i := range 3 {
		if r := env.Do("GET", "/nope", "", nil, "X-Forwarded-For", "203.0.113."+strconv.Itoa(i)); r.Status != 404 {
			t.Fatalf("request %d: %d", i, r.Status)
		}
	}
	expectError(t, env.Do("GET", "/nope", "", nil, "X-Forwarded-For", "203.0.113.99"), 429, "rate_limited")

	proxied := apptest.New(t, "sqlite", func(c *config.Config) {
		c.RateLimits.ApiPermitLimit = 3
		c.Server.TrustedProxies = []string{"127.0.0.1"}
	})
	for i := range 3 {
		xff := strconv.Itoa(i+1) + ".1.1.1, 203.0.113.5" // forged left part, real client appended by the proxy
		if r := proxied.Do("GET", "/nope", "", nil, "X-Forwarded-For", xff); r.Status != 404 {
			t.Fatalf("proxied request %d: %d", i, r.Status)
		}
	}
	expectError(t, proxied.Do("GET", "/nope", "", nil, "X-Forwarded-For", "9.9.9.9, 203.0.113.5"), 429, "rate_limited")
	// Another client behind the same proxy has its own window.
	if r := proxied.Do("GET", "/nope", "", nil, "X-Forwarded-For", "203.0.113.6"); r.Status != 404 {
		t.Fatalf("second client behind the proxy: %d", r.Status)
	}
}
