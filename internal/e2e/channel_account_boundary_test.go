package e2e_test

import (
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
)

// TestChannelAccountBoundaries is the hostile side of the account settings
// (PUT /api/channels/accounts/{id}) and identity mappings
// (/api/channels/accounts/{id}/identities/): another tenant's account is
// not found and stays as it was, a denied role is refused and the refusal
// recorded, and an oversized, malformed, mistyped or unknown body is
// refused before anything changes.
func TestChannelAccountBoundaries(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, textReply("hi"))
		viewer := w.env.APIKey(w.tenant, w.env.User(w.tenant, "viewer@example.com", "viewer"))
		opUser := w.env.User(w.tenant, "op2@example.com", "operator")
		cred := func(name, value string) string {
			r := w.env.Do("POST", "/api/credentials/", w.admin, map[string]any{"name": name, "type": "token", "value": value})
			if r.Status != 201 {
				t.Fatalf("credential: %d %s", r.Status, r.Body)
			}
			return decodeData[credentialView](t, r).ID
		}
		if r := w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"allowedChannels": []string{"Slack"}}); r.Status != 200 {
			t.Fatalf("agent channels: %d %s", r.Status, r.Body)
		}
		r := w.env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": "Slack", "accountId": "acme-ws", "agentId": "default",
			"secretCredentialId": cred("s", "8f742231b10e8888abcd99yyyzzz85a5"), "tokenCredentialId": cred("t", "xoxb-1234-5678-boundaryToken")})
		if r.Status != 201 {
			t.Fatalf("account: %d %s", r.Status, r.Body)
		}
		id := decodeData[struct {
			ID string `json:"id"`
		}](t, r).ID
		url, idents := "/api/channels/accounts/"+id, "/api/channels/accounts/"+id+"/identities"
		if r := w.env.Do("POST", idents, w.admin, map[string]any{"externalId": "U0KEEP", "userId": opUser}); r.Status != 201 {
			t.Fatalf("map: %d %s", r.Status, r.Body)
		}
		other := w.env.Tenant("globex")
		outsider := w.env.APIKey(other, w.env.User(other, "admin@globex.example", "admin"))

		// state is what every refusal must leave as it was: the account's
		// settings, its mappings, and the audit of changes.
		state := func() string {
			t.Helper()
			a := w.env.Do("GET", url, w.admin, nil)
			l := w.env.Do("GET", idents, w.admin, nil)
			if a.Status != 200 || l.Status != 200 {
				t.Fatalf("state: %d %s / %d %s", a.Status, a.Body, l.Status, l.Body)
			}
			return string(a.Data) + "|" + string(l.Data)
		}
		changes := func() [4]int {
			return [4]int{w.count(t, audit.ChannelAccountUpdated), w.count(t, audit.ChannelIdentityMapped), w.count(t, audit.ChannelIdentityUnmapped),
				w.count(t, audit.ChannelAccountDeleted)}
		}
		before, changed := state(), changes()

		huge := `{"slackTeamId":"` + strings.Repeat("T", 2<<20) + `"}`
		hugeMap := `{"externalId":"U0BIG","userId":"` + opUser + `","pad":"` + strings.Repeat("x", 2<<20) + `"}`
		cases := []struct {
			name, method, path, token string
			body                      any
			status                    int
			code                      string
			denied                    int // PermissionDenied entries it records
		}{
			// Another tenant's account: not found, whatever the route.
			{"cross-tenant update", "PUT", url, outsider, map[string]any{"allowCommands": true, "slackTeamId": "TEVIL", "reviewDestination": "C0EVIL"}, 404, "not_found", 0},
			{"cross-tenant list", "GET", idents, outsider, nil, 404, "not_found", 0},
			{"cross-tenant map", "POST", idents, outsider, map[string]any{"externalId": "U0EVIL", "userId": opUser}, 404, "not_found", 0},
			{"cross-tenant unmap", "DELETE", idents + "/U0KEEP", outsider, nil, 404, "not_found", 0},
			{"cross-tenant delete", "DELETE", url, outsider, nil, 404, "not_found", 0},
			// Operator and Viewer: refused, and the refusal recorded.
			{"operator delete", "DELETE", url, w.op, nil, 403, "forbidden", 1},
			{"viewer delete", "DELETE", url, viewer, nil, 403, "forbidden", 1},
			{"operator update", "PUT", url, w.op, map[string]any{"allowCommands": true}, 403, "forbidden", 1},
			{"viewer update", "PUT", url, viewer, map[string]any{"slackTeamId": "T9"}, 403, "forbidden", 1},
			{"operator list", "GET", idents, w.op, nil, 403, "forbidden", 1},
			{"viewer list", "GET", idents, viewer, nil, 403, "forbidden", 1},
			{"operator map", "POST", idents, w.op, map[string]any{"externalId": "U0OP", "userId": opUser}, 403, "forbidden", 1},
			{"viewer map", "POST", idents, viewer, map[string]any{"externalId": "U0OP", "userId": opUser}, 403, "forbidden", 1},
			{"operator unmap", "DELETE", idents + "/U0KEEP", w.op, nil, 403, "forbidden", 1},
			{"viewer unmap", "DELETE", idents + "/U0KEEP", viewer, nil, 403, "forbidden", 1},
			// Bodies.
			{"update over the limit", "PUT", url, w.admin, huge, 413, "payload_too_large", 0},
			{"map over the limit", "POST", idents, w.admin, hugeMap, 413, "payload_too_large", 0},
			{"update malformed", "PUT", url, w.admin, `{"allowCommands":tru`, 400, "validation_failed", 0},
			{"map malformed", "POST", idents, w.admin, `{"externalId":`, 400, "validation_failed", 0},
			{"update not an object", "PUT", url, w.admin, `[true]`, 400, "validation_failed", 0},
			{"map not an object", "POST", idents, w.admin, `"U0X"`, 400, "validation_failed", 0},
			{"update wrong type team", "PUT", url, w.admin, map[string]any{"slackTeamId": 7}, 400, "validation_failed", 0},
			{"update wrong type destination", "PUT", url, w.admin, map[string]any{"reviewDestination": []string{"C1"}}, 400, "validation_failed", 0},
			{"update null team", "PUT", url, w.admin, map[string]any{"slackTeamId": nil}, 400, "validation_failed", 0},
			{"map wrong type", "POST", idents, w.admin, map[string]any{"externalId": 12, "userId": opUser}, 400, "validation_failed", 0},
			{"update unknown field", "PUT", url, w.admin, map[string]any{"allowCommands": true, "role": "owner"}, 400, "validation_failed", 0},
			{"map unknown field", "POST", idents, w.admin, map[string]any{"externalId": "U0X", "userId": opUser, "role": "owner"}, 400, "validation_failed", 0},
			{"map missing user", "POST", idents, w.admin, map[string]any{"externalId": "U0X"}, 400, "validation_failed", 0},
			{"unmap unknown mapping", "DELETE", idents + "/U0NOBODY", w.admin, nil, 404, "not_found", 0},
			{"update unknown account", "PUT", "/api/channels/accounts/00000000-0000-4000-8000-000000000000", w.admin, map[string]any{"allowCommands": true}, 404, "not_found", 0},
			{"delete with a body", "DELETE", url, w.admin, `{"x":1}`, 400, "validation_failed", 0},
			{"unmap with a body", "DELETE", idents + "/U0KEEP", w.admin, `{"x":1}`, 400, "validation_failed", 0},
			{"update id not a UUID", "PUT", "/api/channels/accounts/acme-ws", w.admin, map[string]any{"allowCommands": true}, 400, "validation_failed", 0},
		}
		for _, c := range cases {
			denied := w.count(t, audit.PermissionDenied)
			expectError(t, w.env.Do(c.method, c.path, c.token, c.body), c.status, c.code)
			if n := w.count(t, audit.PermissionDenied) - denied; n != c.denied {
				t.Fatalf("%s: %d PermissionDenied entries, want %d", c.name, n, c.denied)
			}
			if got := state(); got != before {
				t.Fatalf("%s changed the account:\n%s\nwas\n%s", c.name, got, before)
			}
			if got := changes(); got != changed {
				t.Fatalf("%s recorded a change: %v, was %v", c.name, got, changed)
			}
		}
		// The other tenant's audit holds none of A's account changes.
		for _, a := range []audit.Action{audit.ChannelAccountUpdated, audit.ChannelIdentityMapped, audit.ChannelIdentityUnmapped, audit.ChannelAccountDeleted} {
			if n := countAudit(t, w.env, other, a); n != 0 {
				t.Fatalf("tenant B's audit has %d %s", n, a)
			}
		}
	})
}
