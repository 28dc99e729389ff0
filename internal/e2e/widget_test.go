package e2e_test

import (
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/store"
)

type visitorView struct {
	Token     string `json:"token"`
	VisitorID string `json:"visitorId"`
	AccountID string `json:"accountId"`
	ExpiresAt string `json:"expiresAt"`
}

type widgetAccountView struct {
	ID           string `json:"id"`
	Channel      string `json:"channel"`
	WebhookPath  string `json:"webhookPath"`
	ChatPagePath string `json:"chatPagePath"`
}

// newWidget creates a WebChat channel account (a public chat widget) for
// agent "default" and returns it.
func newWidget(t *testing.T, w *providerWorld, accountID string) widgetAccountView {
	t.Helper()
	r := w.env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": "WebChat", "accountId": accountID, "agentId": "default"})
	if r.Status != 201 {
		t.Fatalf("widget account: %d %s", r.Status, r.Body)
	}
	return decodeData[widgetAccountView](t, r)
}

func startVisitor(t *testing.T, w *providerWorld, body map[string]any) visitorView {
	t.Helper()
	r := w.env.Do("POST", "/api/webchat/visitor", "", body)
	if r.Status != 200 {
		t.Fatalf("visitor: %d %s", r.Status, r.Body)
	}
	return decodeData[visitorView](t, r)
}

// TestWebChatWidget: an anonymous visitor of a public chat widget talks to
// the widget's agent with a visitor token that fixes its account and
// sender, reaches nothing else of the API, and loses access when the
// widget is deleted.
func TestWebChatWidget(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, textReply("Hello, visitor!"), textReply("Again."), textReply("Third."))
		env := w.env

		// The account: an Admin's, with no credentials.
		denied := w.count(t, audit.PermissionDenied)
		expectError(t, env.Do("POST", "/api/channels/accounts/", w.op, map[string]any{"channel": "WebChat", "accountId": "site",
			"agentId": "default"}), 403, "forbidden")
		if n := w.count(t, audit.PermissionDenied) - denied; n != 1 {
			t.Fatalf("PermissionDenied entries for the operator's widget: %d, want 1", n)
		}
		expectError(t, env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": "WebChat", "accountId": "site",
			"agentId": "default", "secretCredentialId": uuid.NewString()}), 400, "validation_failed")
		wa := newWidget(t, w, "site")
		if wa.Channel != "WebChat" || wa.WebhookPath != "" || wa.ChatPagePath != "/chat?widget="+wa.ID {
			t.Fatalf("widget account view %+v", wa)
		}

		// A visitor: no credential needed, a server-chosen sender.
		v := startVisitor(t, w, map[string]any{"widgetId": wa.ID})
		if !strings.HasPrefix(v.Token, "kvt_") || !strings.HasPrefix(v.VisitorID, "visitor-") || v.AccountID != "site" || v.ExpiresAt == "" {
			t.Fatalf("visitor %+v", v)
		}
		r := env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "Hi there"})
		if r.Status != 200 {
			t.Fatalf("visitor message: %d %s", r.Status, r.Body)
		}
		reply := decodeData[chatReply](t, r)
		if reply.Text != "Hello, visitor!" {
			t.Fatalf("reply %+v", reply)
		}
		se, err := env.App.Store.GetSession(t.Context(), w.tenant, reply.SessionID)
		if err != nil || se.Key != "WebChat:site:"+v.VisitorID || se.AgentID != "default" {
			t.Fatalf("session %+v %v", se, err)
		}
		// Naming the same sender and account is fine; naming others is not.
		if r := env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "again", "senderId": v.VisitorID,
			"accountId": "site", "sessionId": reply.SessionID}); r.Status != 200 || decodeData[chatReply](t, r).SessionID != reply.SessionID {
			t.Fatalf("same sender: %d %s", r.Status, r.Body)
		}
		expectError(t, env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "x", "senderId": "user-1"}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "x", "accountId": "default"}), 400, "validation_failed")

		// Another sender's session is out of reach.
		staff := w.send(t, "Staff message")
		if staff.Status != 200 {
			t.Fatalf("staff: %d %s", staff.Status, staff.Body)
		}
		staffSession := decodeData[chatReply](t, staff).SessionID
		if r := env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "x", "sessionId": staffSession}); r.Status < 400 {
			t.Fatalf("visitor continued a staff session: %d %s", r.Status, r.Body)
		}
		turns := w.history(t, staffSession)
		for _, tu := range turns {
			if tu.Text == "x" {
				t.Fatal("the visitor's text reached another sender's session")
			}
		}

		// The token opens nothing else.
		for _, p := range []struct{ method, path string }{
			{"GET", "/api/auth/me"}, {"GET", "/api/sessions/"}, {"GET", "/api/sessions/" + reply.SessionID},
			{"GET", "/api/sessions/" + reply.SessionID + "/history"}, {"GET", "/api/agents/"}, {"GET", "/api/audit/"},
			{"GET", "/api/agents/default/memory/"}, {"GET", "/api/credentials/"},
		} {
			expectError(t, env.Do(p.method, p.path, v.Token, nil), 401, "unauthorized")
		}

		// Forged and tampered tokens.
		parts := strings.Split(strings.TrimPrefix(v.Token, "kvt_"), ".")
		claims, _ := base64.RawURLEncoding.DecodeString(parts[1])
		other := strings.Replace(string(claims), v.VisitorID, "user-1", 1)
		access, _ := env.Login("op@example.com")
		for name, bad := range map[string]string{
			"tampered claims": "kvt_" + parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(other)) + "." + parts[2],
			"no signature":    "kvt_" + parts[0] + "." + parts[1] + ".",
			"alg none": "kvt_" + base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`)) + "." +
				base64.RawURLEncoding.EncodeToString([]byte(other)) + ".",
			"an access token with the prefix": "kvt_" + access,
			"garbage":                         "kvt_" + strings.Repeat("A", 5000),
		} {
			r := env.Do("POST", "/api/webchat/message", bad, map[string]any{"text": "x"})
			if r.Status != 401 || r.Code != "unauthorized" {
				t.Errorf("%s: %d %s", name, r.Status, r.Body)
			}
		}

		// Renewal keeps the visitor; a token of another widget does not carry over.
		if again := startVisitor(t, w, map[string]any{"widgetId": wa.ID, "previousToken": v.Token}); again.VisitorID != v.VisitorID {
			t.Fatalf("renewal changed the visitor: %s → %s", v.VisitorID, again.VisitorID)
		}
		wb := newWidget(t, w, "shop")
		if fresh := startVisitor(t, w, map[string]any{"widgetId": wb.ID, "previousToken": v.Token}); fresh.VisitorID == v.VisitorID || fresh.AccountID != "shop" {
			t.Fatalf("another widget's token carried the visitor over: %+v", fresh)
		}
		if fresh := startVisitor(t, w, map[string]any{"widgetId": wa.ID, "previousToken": "kvt_forged.x.y"}); fresh.VisitorID == v.VisitorID {
			t.Fatal("a forged previous token kept the visitor")
		}
		if n := w.count(t, audit.WebChatVisitorStarted); n != 4 {
			t.Fatalf("WebChatVisitorStarted entries: %d, want 4", n)
		}

		// Unknown, malformed and non-WebChat widget IDs.
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": uuid.NewString()}), 404, "not_found")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": "../../etc/passwd"}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", `{"widgetId":`), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID, "extra": 1}), 400, "validation_failed")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", `{"widgetId":"`+wa.ID+`","previousToken":"`+strings.Repeat("k", 2<<20)+`"}`),
			413, "payload_too_large")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID, "previousToken": strings.Repeat("k", 5000)}),
			400, "validation_failed")
		expectError(t, env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": strings.Repeat("x", 10001)}), 400, "validation_failed")
		cred := env.Do("POST", "/api/credentials/", w.admin, map[string]any{"name": "hook", "type": "api_key", "value": "s3cret-hook-value"})
		if cred.Status != 201 {
			t.Fatalf("credential: %d %s", cred.Status, cred.Body)
		}
		hook := env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": "Webhook", "accountId": "crm", "agentId": "default",
			"secretCredentialId": decodeData[credentialView](t, cred).ID})
		if hook.Status != 201 {
			t.Fatalf("webhook account: %d %s", hook.Status, hook.Body)
		}
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": decodeData[widgetAccountView](t, hook).ID}), 404, "not_found")

		// Deleting the widget ends its visitors' access at once.
		if r := env.Do("DELETE", "/api/channels/accounts/"+wa.ID, w.admin, nil); r.Status != 200 && r.Status != 204 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		expectError(t, env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "still there?"}), 401, "unauthorized")
		expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID}), 404, "not_found")
		if w.fake.calls() != 3 {
			t.Fatalf("model calls %d, want 3 (visitor ×2, staff ×1)", w.fake.calls())
		}
	})
}

// TestWebChatWidgetLimits: an agent that does not allow WebChat refuses
// visitors too, and visitor tokens per address are rate limited.
func TestWebChatWidgetLimits(t *testing.T) {
	t.Parallel()
	w := newProviderWorld(t, "sqlite", nil)
	env := w.env
	if r := env.Do("POST", "/api/agents/", w.admin, map[string]any{"agentId": "slack-only", "name": "S",
		"allowedChannels": []string{"Slack"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	r := env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": "WebChat", "accountId": "side", "agentId": "slack-only"})
	if r.Status != 201 {
		t.Fatalf("account: %d %s", r.Status, r.Body)
	}
	v := startVisitor(t, w, map[string]any{"widgetId": decodeData[widgetAccountView](t, r).ID})
	expectError(t, env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": "hello"}), 403, "forbidden")
	sessions, _, err := env.App.Store.ListSessions(t.Context(), w.tenant, store.SessionFilter{}, store.Page{Page: 1, PageSize: 10})
	if err != nil || len(sessions) != 0 {
		t.Fatalf("a refused visitor left a session: %+v %v", sessions, err)
	}

	wa := newWidget(t, w, "site")
	var last int
	for i := 0; i < 40; i++ {
		last = env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID}).Status
		if last == 429 {
			if i < 29 {
				t.Fatalf("rate limited after %d visitor tokens", i)
			}
			break
		}
	}
	if last != 429 {
		t.Fatal("visitor tokens per address are not rate limited")
	}
	expectError(t, env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID}), 429, "rate_limited")
}

// TestWebChatWidgetNoCommands: slash commands (/memory, /tool) run a tool
// directly, without the model, as the sender; an anonymous visitor of a
// public widget may not: it would read and write the agent's long-term
// memory (shared with staff sessions) and call any of the agent's skills
// with arguments of its choosing (e.g. web-fetch with a granted credential).
func TestWebChatWidgetNoCommands(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil)
		env := w.env
		if r := env.Do("PUT", "/api/agents/default/memory/plan", w.admin, map[string]any{"value": "staff-only-gold"}); r.Status != 201 {
			t.Fatalf("memory: %d %s", r.Status, r.Body)
		}
		v := startVisitor(t, w, map[string]any{"widgetId": newWidget(t, w, "site").ID})
		for _, text := range []string{
			"/memory get plan",
			"/memory set plan visitor-was-here",
			`/tool memory_recall {"key":"plan"}`,
			`/tool memory_store {"key":"plan","value":"visitor-was-here"}`,
			`/tool current_time {}`,
			"/tool",
			" /memory get plan",
			"\n/memory get plan",
		} {
			for _, path := range []string{"/api/webchat/message", "/api/webchat/message/stream"} {
				r := env.Do("POST", path, v.Token, map[string]any{"text": text})
				if strings.Contains(string(r.Body), "staff-only-gold") {
					t.Fatalf("%s %q: the visitor read the agent's memory: %s", path, text, r.Body)
				}
				expectError(t, r, 400, "validation_failed")
			}
		}
		r := env.Do("GET", "/api/agents/default/memory/plan", w.admin, nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), "staff-only-gold") {
			t.Fatalf("the visitor changed the agent's memory: %d %s", r.Status, r.Body)
		}
		if n := w.count(t, audit.ToolExecutionStarted); n != 0 {
			t.Fatalf("%d tool runs for a visitor's commands", n)
		}
		// Staff keep their commands.
		if r := env.Do("POST", "/api/webchat/message", w.op, map[string]any{"senderId": "user-1", "text": "/memory get plan"}); r.Status != 200 ||
			!strings.Contains(string(r.Body), "staff-only-gold") {
			t.Fatalf("staff command: %d %s", r.Status, r.Body)
		}
	})
}

// TestWebChatWidgetLimitsIPv6: one IPv6 subscriber has a /64 and can use
// any of its addresses; visitor tokens (each a new identity, session and
// audit entry) and visitor messages are counted per /64, so rotating
// addresses does not mint identities without bound.
func TestWebChatWidgetLimitsIPv6(t *testing.T) {
	t.Parallel()
	w := newProviderWorld(t, "sqlite", func(c *config.Config) { c.Server.TrustedProxies = []string{"127.0.0.1"} })
	env := w.env
	wa := newWidget(t, w, "site")
	limited := -1
	for i := range 40 {
		r := env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID}, "X-Forwarded-For", fmt.Sprintf("2001:db8:1:2::%x", i+1))
		if r.Status == 429 {
			limited = i
			break
		}
		if r.Status != 200 {
			t.Fatalf("visitor %d: %d %s", i, r.Status, r.Body)
		}
	}
	if limited < 29 {
		t.Fatalf("visitor tokens from one /64 by rotating addresses: limited at %d, want 30 then 429", limited)
	}
	// Another /64 has its own budget; so does an IPv4 address.
	for _, addr := range []string{"2001:db8:1:3::1", "203.0.113.7"} {
		if r := env.Do("POST", "/api/webchat/visitor", "", map[string]any{"widgetId": wa.ID}, "X-Forwarded-For", addr); r.Status != 200 {
			t.Fatalf("%s: %d %s", addr, r.Status, r.Body)
		}
	}

	// Visitor messages share their address's API budget the same way.
	tight := newProviderWorld(t, "sqlite", func(c *config.Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits.ApiPermitLimit = 3
	})
	v := startVisitor(t, tight, map[string]any{"widgetId": newWidget(t, tight, "site").ID})
	var last int
	for i := range 5 {
		last = tight.env.Do("POST", "/api/webchat/message", v.Token, map[string]any{"text": ""}, "X-Forwarded-For", fmt.Sprintf("2001:db8:9:9::%x", i+1)).Status
		if last == 429 {
			break
		}
	}
	if last != 429 {
		t.Fatal("visitor messages from one /64 are not rate limited together")
	}
}

// TestPublicLimitIPv6: the API limit of unauthenticated requests (public
// endpoints, refused credentials) counts an IPv6 /64 as one address.
func TestPublicLimitIPv6(t *testing.T) {
	t.Parallel()
	w := newProviderWorld(t, "sqlite", func(c *config.Config) {
		c.Server.TrustedProxies = []string{"127.0.0.1"}
		c.RateLimits.ApiPermitLimit = 5
	})
	for _, path := range []string{"/nope", "/api/agents/", "OPTIONS /api/users/"} {
		method := "GET"
		if m, p, ok := strings.Cut(path, " "); ok {
			method, path = m, p // a CORS preflight
		}
		last := 0
		for i := range 8 {
			last = w.env.Do(method, path, "kmd_not-a-key", nil, "X-Forwarded-For", fmt.Sprintf("2001:db8:%x:7::%x", len(path), i+1),
				"Origin", "https://shop.example", "Access-Control-Request-Method", "GET").Status
			if last == 429 {
				break
			}
		}
		if last != 429 {
			t.Fatalf("%s: rotating addresses in one /64 are not limited together", path)
		}
	}
}
