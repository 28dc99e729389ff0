package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// TestAuditFailsClosed breaks the audit table under a running server: the
// actions it would record must fail with 500 and change nothing, and the
// response must not say why.
func TestAuditFailsClosed(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	ten := env.Tenant("acme")
	admin := env.APIKey(ten, env.User(ten, "admin@example.com", "admin"))
	viewer := env.APIKey(ten, env.User(ten, "viewer@example.com", "viewer"))

	owner := env.APIKey(ten, env.User(ten, "owner@example.com", "owner"))
	inv := env.Do("POST", "/api/users/", owner, map[string]any{"email": "invitee@example.com", "role": "viewer"})
	if inv.Status != 201 {
		t.Fatalf("invite: %d %s", inv.Status, inv.Body)
	}
	var invite struct {
		InviteToken string `json:"inviteToken"`
	}
	if err := json.Unmarshal(inv.Data, &invite); err != nil || invite.InviteToken == "" {
		t.Fatalf("invite token: %v %s", err, inv.Data)
	}

	if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "default", "name": "D",
		"allowedChannels": []string{"WebChat"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	if r := env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": "s1", "text": "hello"}); r.Status != 200 {
		t.Fatalf("chat before the failure: %d %s", r.Status, r.Body)
	}

	db := env.App.Store.(*sqlite.Store).DB()
	if _, err := db.Exec(`ALTER TABLE komand_audit_log RENAME TO komand_audit_log_gone`); err != nil {
		t.Fatal(err)
	}

	r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "ghost", "name": "Ghost"})
	expectError(t, r, 500, "internal_error")
	if *r.Error != "internal error" {
		t.Fatalf("error message: %q", *r.Error)
	}
	if _, err := env.App.Store.GetAgent(t.Context(), ten, "ghost"); err != store.ErrNotFound {
		t.Fatalf("agent exists although its audit entry failed: %v", err)
	}
	// A denial that cannot be recorded is not answered with a plain 403.
	r = env.Do("POST", "/api/agents/", viewer, map[string]any{"agentId": "ghost", "name": "Ghost"})
	expectError(t, r, 500, "internal_error")
	// Accepting an invitation is recorded first too: nothing is set.
	r = env.Do("POST", "/api/auth/accept-invite", "", map[string]any{"token": invite.InviteToken, "password": apptest.Password})
	expectError(t, r, 500, "internal_error")
	if u, err := env.App.Store.GetUserByEmail(t.Context(), ten, "invitee@example.com"); err != nil || u.PasswordHash != "" || u.InviteHash == "" {
		t.Fatalf("invitation applied although its audit entry failed: %+v %v", u, err)
	}
	// A turn whose entries cannot be stored gets no reply (its entries are
	// awaited together before the reply), and a tool whose start cannot
	// be recorded does not run.
	r = env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": "s1", "text": "hello again"})
	expectError(t, r, 500, "internal_error")
	r = env.Do("POST", "/api/webchat/message", admin, map[string]any{"senderId": "s1", "text": "/memory set k v"})
	expectError(t, r, 500, "internal_error")
	if _, err := env.App.Store.GetMemory(t.Context(), ten, "default", "k"); err != store.ErrNotFound {
		t.Fatalf("the tool ran although its start was not recorded: %v", err)
	}
	// Reads that need no audit entry keep working.
	if r := env.Do("GET", "/api/agents/", admin, nil); r.Status != 200 {
		t.Fatalf("list: %d %s", r.Status, r.Body)
	}
	if env.Logs() == "" {
		t.Fatal("the failure was not logged")
	}
	if _, err := db.Exec(`ALTER TABLE komand_audit_log_gone RENAME TO komand_audit_log`); err != nil {
		t.Fatal(err)
	}
	if r := env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "ghost", "name": "Ghost"}); r.Status != 201 {
		t.Fatalf("after repair: %d %s", r.Status, r.Body)
	}
}

// TestReadyWhenDatabaseIsGone: /ready answers 503 in the envelope once the
// database stops answering, without the driver's words; the log has them,
// with the request ID. /health (liveness) still answers.
func TestReadyWhenDatabaseIsGone(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	if r := env.Do("GET", "/ready", "", nil); r.Status != 200 {
		t.Fatalf("ready before: %d %s", r.Status, r.Body)
	}
	if err := env.App.Store.(*sqlite.Store).DB().Close(); err != nil {
		t.Fatal(err)
	}
	r := env.Do("GET", "/ready", "", nil, "X-Request-Id", "ready-probe-1")
	expectError(t, r, 503, "unavailable")
	if strings.Contains(string(r.Body), "closed") || strings.Contains(string(r.Body), "sql") {
		t.Fatalf("readiness answer leaks the driver's error: %s", r.Body)
	}
	logs := env.Logs()
	if !strings.Contains(logs, "readiness check failed") || !strings.Contains(logs, "ready-probe-1") {
		t.Fatalf("the log lacks the failure or its request ID:\n%s", logs)
	}
	if r := env.Do("GET", "/health", "", nil); r.Status != 200 {
		t.Fatalf("health after: %d %s", r.Status, r.Body)
	}
}

// TestDatabaseErrorIsLoggedWithRequestID: when a query fails, the client gets
// a plain 500 with its request ID and nothing of the driver's text, and the
// operator's log line carries both the driver's detail and that request ID.
func TestDatabaseErrorIsLoggedWithRequestID(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	ten := env.Tenant("acme")
	admin := env.APIKey(ten, env.User(ten, "admin@example.com", "admin"))
	if r := env.Do("GET", "/api/agents/", admin, nil); r.Status != 200 { // warm the authentication cache
		t.Fatalf("list: %d", r.Status)
	}
	db := env.App.Store.(*sqlite.Store).DB()
	if _, err := db.Exec(`ALTER TABLE komand_agents RENAME TO komand_agents_gone`); err != nil {
		t.Fatal(err)
	}
	r := env.Do("GET", "/api/agents/", admin, nil, "X-Request-Id", "db-error-7")
	expectError(t, r, 500, "internal_error")
	if r.ReqID != "db-error-7" || strings.Contains(string(r.Body), "komand_agents") || strings.Contains(string(r.Body), "no such table") {
		t.Fatalf("response: %s", r.Body)
	}
	var line string
	for _, l := range strings.Split(env.Logs(), "\n") {
		if strings.Contains(l, `"request_id":"db-error-7"`) && strings.Contains(l, "request failed") {
			line = l
		}
	}
	if !strings.Contains(line, "no such table") {
		t.Fatalf("no log line with the request ID and the driver's detail:\n%s", env.Logs())
	}
}
