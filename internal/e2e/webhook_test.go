package e2e_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

// deliver posts a signed generic-webhook delivery.
func deliver(w *world, path, ts, sig, body string) *apptest.Response {
	h := []string{}
	if ts != "" {
		h = append(h, channel.TimestampHeader, ts)
	}
	if sig != "" {
		h = append(h, channel.SignatureHeader, sig)
	}
	return w.env.Do(http.MethodPost, path, "", body, h...)
}

func TestSignedWebhook(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind)
			admin := w.keys["a/admin"]
			secret := "whsec_" + strings.ReplaceAll(uuid.NewString(), "-", "")
			r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "crm-hook", "type": "token", "value": secret})
			if r.Status != 201 {
				t.Fatalf("credential: %d %s", r.Status, r.Body)
			}
			credID := decodeData[credentialView](t, r).ID
			if r := w.env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "crm-bot", "name": "CRM",
				"allowedChannels": []string{"Webhook"}}); r.Status != 201 {
				t.Fatalf("agent: %d %s", r.Status, r.Body)
			}

			// Account API: validation, RBAC, tenancy.
			acct := map[string]any{"channel": "Webhook", "accountId": "crm", "agentId": "crm-bot", "secretCredentialId": credID}
			denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", w.keys["a/operator"], acct), 403, "forbidden")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", w.keys["a/viewer"], acct), 403, "forbidden")
			if n := auditCount(t, w, w.tenA, audit.PermissionDenied) - denied; n != 2 {
				t.Fatalf("PermissionDenied entries for the two refused creates: %d, want 2", n)
			}
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, `{"channel":"Webhook",`), 400, "validation_failed")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Webhook", "accountId": "crm",
				"agentId": "crm-bot", "secretCredentialId": credID, "secret": "inline"}), 400, "validation_failed")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Webhook", "accountId": "../crm",
				"agentId": "crm-bot", "secretCredentialId": credID}), 400, "validation_failed")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Webhook", "accountId": "crm",
				"agentId": "ghost", "secretCredentialId": credID}), 404, "not_found")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Fax", "accountId": "crm",
				"agentId": "crm-bot", "secretCredentialId": credID}), 400, "validation_failed")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Webhook", "accountId": "crm",
				"agentId": "crm-bot", "secretCredentialId": uuid.NewString()}), 404, "not_found")
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", w.keys["b/admin"], acct), 404, "not_found") // A's credential, B's tenant
			r = w.env.Do("POST", "/api/channels/accounts/", admin, acct)
			if r.Status != 201 {
				t.Fatalf("account: %d %s", r.Status, r.Body)
			}
			noSecret(t, "the account response", r.Body, secret)
			view := decodeData[struct {
				ID          string `json:"id"`
				WebhookPath string `json:"webhookPath"`
			}](t, r)
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, acct), 409, "conflict")
			if r := w.env.Do("GET", "/api/channels/accounts/", w.keys["a/viewer"], nil); r.Status != 200 || r.Meta.Total != 1 {
				t.Fatalf("viewer list: %d %s", r.Status, r.Body)
			}
			expectError(t, w.env.Do("GET", "/api/channels/accounts/"+view.ID, w.keys["b/admin"], nil), 404, "not_found")

			// A valid delivery reaches the account's agent, as a message:
			// webhook text is data (often relayed from forms and e-mails
			// anyone can fill in), so "/memory set" is no command.
			if _, err := w.env.App.Store.PutMemory(t.Context(), store.MemoryEntry{TenantID: w.tenA, AgentID: "crm-bot", Key: "plan",
				Value: "gold", CreatedAt: time.Now(), UpdatedAt: time.Now()}, 100); err != nil {
				t.Fatal(err)
			}
			body := `{"senderId":"customer-1","text":"/memory set plan free","displayName":"Ada"}`
			ts := strconv.FormatInt(time.Now().Unix(), 10)
			sig := channel.Sign([]byte(secret), ts, []byte(body))
			r = deliver(w, view.WebhookPath, ts, sig, body)
			if r.Status != 200 {
				t.Fatalf("delivery: %d %s", r.Status, r.Body)
			}
			reply := decodeData[chatReply](t, r)
			se, err := w.env.App.Store.GetSession(t.Context(), w.tenA, reply.SessionID)
			if err != nil || se.Key != "Webhook:crm:customer-1" || se.AgentID != "crm-bot" {
				t.Fatalf("session: %+v %v", se, err)
			}
			if reply.Text != session.NoProviderPublicReply {
				t.Fatalf("reply %q, want the agent's (no provider) answer", reply.Text)
			}
			if m, err := w.env.App.Store.GetMemory(t.Context(), w.tenA, "crm-bot", "plan"); err != nil || m.Value != "gold" {
				t.Fatalf("the delivery's text ran as a command: %+v %v", m, err)
			}

			// Refused deliveries: 401, audited, never reach an agent.
			stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
			future := strconv.FormatInt(time.Now().Add(6*time.Minute).Unix(), 10)
			other := `{"senderId":"customer-2","text":"/memory set plan free"}`
			for name, d := range map[string][3]string{
				"replay":                 {ts, sig, body},
				"replay, trailing comma": {ts, sig + ",", body},
				"replay, extra entry":    {ts, sig + ",v1=00", body},
				"replay, doubled":        {ts, sig + "," + sig, body},
				"wrong secret":           {ts, channel.Sign([]byte("guess"), ts, []byte(other)), other},
				"tampered body":          {ts, sig, strings.Replace(body, "gold", "free", 1)},
				"stale":                  {stale, channel.Sign([]byte(secret), stale, []byte(other)), other},
				"future":                 {future, channel.Sign([]byte(secret), future, []byte(other)), other},
				"no signature":           {ts, "", other},
				"no timestamp":           {"", channel.Sign([]byte(secret), ts, []byte(other)), other},
				"garbage":                {"yesterday", "v1=zz", other},
				"signature as hex":       {ts, strings.TrimPrefix(channel.Sign([]byte(secret), ts, []byte(other)), "v1="), other},
			} {
				t.Log(name)
				r := deliver(w, view.WebhookPath, d[0], d[1], d[2])
				expectError(t, r, 401, "unauthorized")
				noSecret(t, name, r.Body, secret)
			}
			if n := auditCount(t, w, w.tenA, audit.WebhookRejected); n != 12 {
				t.Fatalf("WebhookRejected entries: %d, want 12", n)
			}
			// A second account with the same signing secret does not accept
			// the first one's delivery again.
			if r := w.env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "other-bot", "name": "O",
				"allowedChannels": []string{"Webhook"}}); r.Status != 201 {
				t.Fatalf("agent: %d", r.Status)
			}
			r = w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Webhook", "accountId": "crm-2",
				"agentId": "other-bot", "secretCredentialId": credID})
			if r.Status != 201 {
				t.Fatalf("second account: %d %s", r.Status, r.Body)
			}
			second := decodeData[struct {
				WebhookPath string `json:"webhookPath"`
			}](t, r).WebhookPath
			expectError(t, deliver(w, second, ts, sig, body), 401, "unauthorized") // replayed to another account sharing the secret
			three := channel.Sign([]byte(secret), ts, []byte(other))
			expectError(t, deliver(w, view.WebhookPath, ts, three+","+three+","+three, other), 401, "unauthorized")
			for _, path := range []string{"/hooks/webhook/" + uuid.NewString(), "/hooks/webhook/not-an-id", "/hooks/webhook/..%2F..%2Fetc"} {
				t.Log(path)
				expectError(t, deliver(w, path, ts, sig, body), 401, "unauthorized")
			}
			if m, _ := w.env.App.Store.GetMemory(t.Context(), w.tenA, "crm-bot", "plan"); m.Value != "gold" {
				t.Fatalf("a refused delivery changed the agent's memory: %q", m.Value)
			}
			if _, n, _ := w.env.App.Store.ListSessions(t.Context(), w.tenA, store.SessionFilter{}, store.Page{Page: 1, PageSize: 10}); n != 1 {
				t.Fatalf("%d sessions, want 1 (refused deliveries start none)", n)
			}
			if n := auditCount(t, w, w.tenA, audit.MessageReceived); n != 1 {
				t.Fatalf("MessageReceived entries: %d, want 1", n)
			}
			// Well signed but malformed: 400; wrong media type: 415.
			bad := `{"senderId":"c","text":"hi","admin":true}`
			expectError(t, deliver(w, view.WebhookPath, ts, channel.Sign([]byte(secret), ts, []byte(bad)), bad), 400, "validation_failed")
			expectError(t, w.env.Do(http.MethodPost, view.WebhookPath, "", []byte(body), "Content-Type", "text/plain",
				channel.TimestampHeader, ts, channel.SignatureHeader, sig), 415, "unsupported_media_type")
			huge := `{"senderId":"c","text":"` + strings.Repeat("x", 2<<20) + `"}`
			expectError(t, deliver(w, view.WebhookPath, ts, channel.Sign([]byte(secret), ts, []byte(huge)), huge), 413, "payload_too_large")
			noSecret(t, "the logs", []byte(w.env.Logs()), secret)

			// Deleting the account stops its webhook.
			if r := w.env.Do("DELETE", "/api/channels/accounts/"+view.ID, admin, nil); r.Status != 200 {
				t.Fatalf("delete: %d", r.Status)
			}
			fresh := strconv.FormatInt(time.Now().Unix(), 10)
			b2 := `{"senderId":"customer-3","text":"hello"}`
			expectError(t, deliver(w, view.WebhookPath, fresh, channel.Sign([]byte(secret), fresh, []byte(b2)), b2), 401, "unauthorized")
		})
	}
}
