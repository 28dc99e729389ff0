package e2e_test

import (
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
)

// TestInjectionPolicyRefusalsNameThePath: over HTTP, an unknown field, an
// unknown source, a wrong type or null is refused naming its path under
// "policy.", and changes nothing.
func TestInjectionPolicyRefusalsNameThePath(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", nil)
	tenant := env.Tenant("acme")
	admin := env.APIKey(tenant, env.User(tenant, "admin@example.com", "admin"))
	before := env.Do("GET", "/api/injection/policy", admin, nil)
	for doc, msg := range map[string]string{
		`{"bogus":1}`: "policy.bogus: is not a known field",
		`{"sources":{"admin":{"action":"warn"}}}`:     "policy.sources.admin: is not a known source (user, skill or external)",
		`{"threshold":"0.5"}`:                         "policy.threshold: must be a number",
		`{"threshold":null}`:                          "policy.threshold: must not be null (leave it out to inherit)",
		`{"agents":{"sales":{"sources":null}}}`:       "policy.agents.sales.sources: must not be null (leave it out to inherit)",
		`{"warnThreshold":"0.5"}`:                     "policy.warnThreshold: must be a number",
		`{"warnThreshold":null}`:                      "policy.warnThreshold: must not be null (leave it out to inherit)",
		`{"agents":{"sales":{"warnThreshold":0}}}`:    "policy.agents.sales.warnThreshold: must be greater than 0 and at most 1",
		`{"sources":{"skill":{"warnThreshold":1.5}}}`: "policy.sources.skill.warnThreshold: must be greater than 0 and at most 1",
	} {
		r := env.Do("PUT", "/api/injection/policy", admin, doc)
		expectError(t, r, 400, "validation_failed")
		if *r.Error != msg {
			t.Errorf("%s: %q, want %q", doc, *r.Error, msg)
		}
	}
	if after := env.Do("GET", "/api/injection/policy", admin, nil); string(after.Data) != string(before.Data) {
		t.Fatalf("a refused document changed the policy: %s", after.Data)
	}
}
