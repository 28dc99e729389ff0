package e2e_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/apperr"
)

// TestHumanTextFieldsAPI (issue 15, defect 5): {"name":"a\u0000b"} made
// an agent. Every resource's human-readable fields now refuse control
// characters, bidi controls and invisible characters (validate.Line and
// Prose): a 400 naming the field, and nothing stored.
func TestHumanTextFieldsAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, nil)
		tenant := env.Tenant("acme")
		owner := env.APIKey(tenant, env.User(tenant, "owner@example.com", "owner"))
		refuse := func(method, path string, body any, field string) {
			t.Helper()
			r := env.Do(method, path, owner, body)
			expectError(t, r, 400, "validation_failed")
			if !strings.HasPrefix(*r.Error, field+": must ") {
				t.Errorf("%s %s %v: %q, want a message naming %s", method, path, body, *r.Error, field)
			}
		}
		hostile := []string{"a\x00b", "Support\u202e", "ad\u200bmin", "x\u2066y\u2069", "\ufeffx", "a\x1b[2Jb", "ad\u200dmin"}

		// Agents: name, description, systemPrompt, modelId.
		for _, v := range hostile {
			refuse("POST", "/api/agents/", map[string]any{"agentId": "a1", "name": v}, "name")
			refuse("POST", "/api/agents/", map[string]any{"agentId": "a1", "name": "A", "description": v}, "description")
			refuse("POST", "/api/agents/", map[string]any{"agentId": "a1", "name": "A", "systemPrompt": v}, "systemPrompt")
			refuse("POST", "/api/agents/", map[string]any{"agentId": "a1", "name": "A", "modelId": v}, "modelId")
		}
		expectError(t, env.Do("GET", "/api/agents/a1", owner, nil), 404, "not_found")
		if r := env.Do("POST", "/api/agents/", owner, map[string]any{"agentId": "a1", "name": "Zoë \U0001f469\u200d\U0001f4bb",
			"description": "Line one\nline two\u200f", "systemPrompt": "You help.\r\n\tBe brief."}); r.Status != 201 {
			t.Fatalf("a valid agent: %d %s", r.Status, r.Body)
		}
		refuse("PUT", "/api/agents/a1", map[string]any{"name": "a\u202eb"}, "name")
		refuse("PUT", "/api/agents/a1", map[string]any{"name": "two\nlines"}, "name")
		refuse("PUT", "/api/agents/a1/memory/"+url.PathEscape("k\u200by"), map[string]any{"value": "v"}, "key")

		// Users: name and e-mail.
		for _, v := range hostile {
			refuse("POST", "/api/users/", map[string]any{"email": "u@example.com", "name": v, "role": "viewer", "password": apptest.Password}, "name")
		}
		refuse("POST", "/api/users/", map[string]any{"email": "u\u202e@example.com", "role": "viewer", "password": apptest.Password}, "email")

		// CRM contacts: name, email, phone and company are one line;
		// notes are prose.
		for _, f := range []string{"name", "email", "phone", "company", "notes"} {
			for _, v := range hostile {
				body := map[string]any{"name": "Ann"}
				body[f] = v
				refuse("POST", "/api/crm/contacts/", body, f)
			}
		}
		if r := env.Do("POST", "/api/crm/contacts/", owner, map[string]any{"name": "Ann", "notes": "met at\nthe fair"}); r.Status != 201 {
			t.Fatalf("a valid contact: %d %s", r.Status, r.Body)
		}

		// Credentials: the name is an identifier.
		for _, v := range hostile {
			refuse("POST", "/api/credentials/", map[string]any{"name": v, "type": "api_key", "value": "s3cret"}, "name")
		}

		// Tenants are created from the command line, through the service.
		_, err := env.App.Tenants.Create(t.Context(), "beta", "Beta\u202e")
		if pe, ok := apperr.As(err); !ok || pe.Field != "name" || pe.Kind != apperr.Invalid {
			t.Errorf("tenant name with a bidi override: %v", err)
		}
	})
}
