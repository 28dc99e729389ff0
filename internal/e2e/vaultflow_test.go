package e2e_test

import (
	"database/sql"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/store"
)

// TestCredentialFlowWebFetch is the vault's whole promise in one run: an
// Admin stores a credential, grants it to the example web-fetch skill on
// one agent, the skill sends it by reference to an HTTPS API behind a
// private CA (Sandbox__EgressCaFile), and the value is found nowhere
// else: not in API responses, the model's context, the history, the
// audit log, the logs or the database file.
func TestCredentialFlowWebFetch(t *testing.T) {
	t.Parallel()
	const secret = "sk_live_flow-7f3a9c1e5b2d4680"
	var sawAuth []string
	api := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		if r.Header.Get("Authorization") != "Bearer "+secret {
			http.Error(rw, "unauthorized", http.StatusUnauthorized)
			return
		}
		// A careless API that echoes the key: the echo must not get through.
		rw.Write([]byte("Invoices due: 3 (key " + secret + ")"))
	}))
	defer api.Close()
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: api.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	fetchWasm := sandboxtest.BuildGo(t, "./examples/skills/web-fetch")

	var dataDir string
	w := newSkillWorldWith(t, "sqlite", func(c *config.Config) {
		c.Sandbox.EgressCaFile = caFile // the API's private CA
		dataDir = c.Server.DataDir
	})
	env := w.env
	wf := pack(t, "examples/skills/web-fetch/skill.json", func(c map[string]any) {
		c["requiredPermissions"] = []string{"network:outbound:127.0.0.1"}
	}, fetchWasm, w.priv)
	if r := env.Do("POST", "/api/skills/", w.admin, wf); r.Status != 201 {
		t.Fatalf("register: %d %s", r.Status, r.Body)
	}
	if r := env.Do("PUT", "/api/agents/default/skills/web-fetch", w.admin, map[string]any{
		"grantedPermissions": []string{"network:outbound:127.0.0.1"}, "config": map[string]string{"auth-credential": "billing-api"}}); r.Status != 200 {
		t.Fatalf("install: %d %s", r.Status, r.Body)
	}
	// Each fetch is a turn of one conversation: after the first, the
	// fetched page is in the model's context, and a second network call
	// would wait for the user's confirmation (TestTaintAcrossTurns). This
	// agent is allowed to chain them.
	w.setPolicy(t, `{"agents":{"default":{"allowConsequentialTools":true}}}`)
	fetch := func() string {
		t.Helper()
		w.fake.reset(toolReply("c1", "web-fetch", `{"url":"`+api.URL+`/invoices"}`), textReply("done"))
		if r := w.send(t, "invoices?"); r.Status != 200 {
			t.Fatalf("turn: %d %s", r.Status, r.Body)
		}
		return lastToolMessage(t, w.fake.requests[1])
	}

	// Before the credential exists, and before it is granted: nothing is sent.
	if m := fetch(); strings.Contains(m, "Invoices") {
		t.Fatalf("fetched without a credential: %s", m)
	}
	cr := env.Do("POST", "/api/credentials/", w.admin, map[string]any{"name": "billing-api", "type": "api_key", "value": secret})
	if cr.Status != 201 {
		t.Fatalf("credential: %d %s", cr.Status, cr.Body)
	}
	credID := decodeData[credentialView](t, cr).ID
	if m := fetch(); strings.Contains(m, "Invoices") {
		t.Fatalf("fetched with an ungranted credential: %s", m)
	}
	if r := env.Do("POST", "/api/credentials/"+credID+"/grants", w.admin, map[string]any{"agentId": "default", "skillId": "web-fetch"}); r.Status != 200 && r.Status != 201 {
		t.Fatalf("grant: %d %s", r.Status, r.Body)
	}

	// Granted: the API gets the key, the model gets the data, not the key.
	m := fetch()
	if !strings.Contains(m, "Invoices due: 3") || strings.Contains(m, secret) {
		t.Fatalf("tool result: %s", m)
	}
	if last := sawAuth[len(sawAuth)-1]; last != "Bearer "+secret {
		t.Fatalf("the API got %q", last)
	}
	for _, a := range sawAuth[:len(sawAuth)-1] {
		if a != "" {
			t.Fatalf("an Authorization header was sent before the grant: %q", a)
		}
	}
	if n := w.count(t, audit.CredentialRead); n != 1 {
		t.Fatalf("CredentialRead entries: %d, want 1", n)
	}

	// A grant bound to hosts: only requests to those hosts carry it.
	regrant := func(hosts []string) {
		t.Helper()
		if r := env.Do("DELETE", "/api/credentials/"+credID+"/grants/default/web-fetch", w.admin, nil); r.Status != 200 {
			t.Fatalf("revoke: %d %s", r.Status, r.Body)
		}
		if r := env.Do("POST", "/api/credentials/"+credID+"/grants", w.admin, map[string]any{"agentId": "default", "skillId": "web-fetch",
			"hosts": hosts}); r.Status != 201 {
			t.Fatalf("grant %v: %d %s", hosts, r.Status, r.Body)
		}
	}
	regrant([]string{"billing.example.com"})
	sent := len(sawAuth)
	if m := fetch(); strings.Contains(m, "Invoices") || len(sawAuth) != sent {
		t.Fatalf("a credential bound to another host was sent: %s (requests %d → %d)", m, sent, len(sawAuth))
	}
	expectError(t, env.Do("POST", "/api/credentials/"+credID+"/grants", w.admin, map[string]any{"agentId": "default",
		"skillId": "other", "hosts": []string{"*.com"}}), 400, "validation_failed")
	regrant([]string{"127.0.0.1"})
	if m := fetch(); !strings.Contains(m, "Invoices due: 3") || sawAuth[len(sawAuth)-1] != "Bearer "+secret {
		t.Fatalf("a credential bound to the API's host: %s", m)
	}
	if r := env.Do("GET", "/api/credentials/"+credID, w.admin, nil); !strings.Contains(string(r.Body), `"hosts":["127.0.0.1"]`) {
		t.Fatalf("the grant's hosts are not shown: %s", r.Body)
	}

	// Nowhere else.
	where := map[string]string{"logs": env.Logs()}
	for _, p := range []string{"/api/credentials/", "/api/credentials/" + credID, "/api/audit/?pageSize=100", "/api/sessions/",
		"/api/agents/default", "/api/agents/default/skills/"} {
		where["GET "+p] = string(env.Do("GET", p, w.admin, nil).Body)
	}
	ss, _, err := env.App.Store.ListSessions(t.Context(), w.tenant, store.SessionFilter{}, store.Page{Page: 1, PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range ss {
		where["history "+s.ID] = string(env.Do("GET", "/api/sessions/"+s.ID+"/history?pageSize=100", w.admin, nil).Body)
	}
	for i := range w.fake.calls() {
		where[fmt.Sprintf("model request %d", i)] = strings.Join(w.wire(t, i), "\n")
	}
	for name, text := range where {
		if strings.Contains(text, secret) {
			t.Errorf("the credential value is in %s", name)
		}
	}
	dbPath := filepath.Join(dataDir, "komand.db")
	db, err := sql.Open("sqlite", dbPath)
	if err == nil {
		defer db.Close()
		_, _ = db.Exec("PRAGMA wal_checkpoint(FULL)")
	}
	for _, f := range []string{dbPath, dbPath + "-wal"} {
		if b, err := os.ReadFile(f); err == nil && strings.Contains(string(b), secret) {
			t.Errorf("the credential value is in %s in plaintext", filepath.Base(f))
		}
	}
}
