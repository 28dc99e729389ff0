package e2e_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/injection"

	"github.com/komand-ai/komand/internal/app/apptest"
)

// TestInjectionPolicyEffective (issue 15): a threshold of 0 was answered
// 200 and echoed while 0.5 applied. Now every field is validated, a
// refusal names its field once ("policy.threshold", not "policy:
// policy:"), and the answer to GET and PUT is the policy as it applies,
// with the tenant-wide defaults filled in.
func TestInjectionPolicyEffective(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		env := apptest.New(t, kind, nil)
		tenant := env.Tenant("acme")
		admin := env.APIKey(tenant, env.User(tenant, "admin@example.com", "admin"))
		policy := func(r *apptest.Response) string {
			t.Helper()
			var d struct {
				Policy json.RawMessage `json:"policy"`
			}
			if err := json.Unmarshal(r.Data, &d); err != nil {
				t.Fatalf("%s: %v", r.Body, err)
			}
			return string(d.Policy)
		}
		if r := env.Do("GET", "/api/injection/policy", admin, nil); r.Status != 200 || policy(r) != effectivePolicy(t, "") {
			t.Fatalf("default policy: %d %s", r.Status, r.Body)
		}
		for doc, msg := range map[string]string{
			`{"threshold":0}`:                          "policy.threshold: must be greater than 0 and at most 1",
			`{"threshold":1.5}`:                        "policy.threshold: must be greater than 0 and at most 1",
			`{"action":"allow"}`:                       "policy.action: must be block, warn or escalate",
			`{"sources":{"skill":{"threshold":0}}}`:    "policy.sources.skill.threshold: must be greater than 0 and at most 1",
			`{"agents":{"sales":{"action":""}}}`:       "policy.agents.sales.action: must be block, warn or escalate",
			`{"agents":{"../x":{}}}`:                   "policy.agents: an agent ID must be 1 to 128 lowercase letters, digits and hyphens",
			`{"sources":{"system":{"action":"warn"}}}`: "policy.sources.system: is not a known source (user, skill or external)",
		} {
			r := env.Do("PUT", "/api/injection/policy", admin, doc)
			expectError(t, r, 400, "validation_failed")
			if *r.Error != msg {
				t.Errorf("%s: %q, want %q", doc, *r.Error, msg)
			}
		}
		if r := env.Do("GET", "/api/injection/policy", admin, nil); policy(r) != effectivePolicy(t, "") {
			t.Fatalf("a refused document changed the policy: %s", r.Body)
		}
		r := env.Do("PUT", "/api/injection/policy", admin, `{"action":"warn", "agents":{"sales":{"threshold":0.8}}}`)
		want := effectivePolicy(t, `{"action":"warn","agents":{"sales":{"threshold":0.8}}}`)
		if r.Status != 200 || policy(r) != want {
			t.Fatalf("PUT: %d %s, want policy %s", r.Status, r.Body, want)
		}
		if r := env.Do("GET", "/api/injection/policy", admin, nil); policy(r) != want || !strings.Contains(string(r.Data), `"updatedBy"`) {
			t.Fatalf("GET after PUT: %s, want policy %s", r.Body, want)
		}
	})
}

// effectivePolicy is the policy document GET answers for a tenant that
// stored doc ("": none): doc with the tenant-wide action and each source's
// action and thresholds filled in (injection.Policy.Effective; the
// default thresholds come with the embedded model).
func effectivePolicy(t *testing.T, doc string) string {
	t.Helper()
	var p *injection.Policy
	if doc != "" {
		var err error
		if p, err = injection.ParsePolicy([]byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(p.Effective())
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
