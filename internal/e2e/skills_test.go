package e2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/injection"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/tool"
)

func (f *fakeOpenAI) reset(script ...func(http.ResponseWriter, map[string]any)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.script, f.requests, f.auth = script, nil, nil
}

type skillWorld struct {
	*providerWorld
	owner string
	priv  ed25519.PrivateKey
}

func newSkillWorld(t *testing.T, kind string) *skillWorld {
	return newSkillWorldWith(t, kind, nil)
}

// newSkillWorldWith is newSkillWorld with the configuration adjusted by
// mutate.
func newSkillWorldWith(t *testing.T, kind string, mutate func(*config.Config)) *skillWorld {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	w := newProviderWorld(t, kind, func(c *config.Config) {
		c.Skills.TrustedPublishers = "komand-official=" + base64.StdEncoding.EncodeToString(pub)
		c.Sandbox.EgressAllowPrivate = []string{"127.0.0.1/32"}
		if mutate != nil {
			mutate(c)
		}
	}, textReply("hi"))
	owner := w.env.APIKey(w.tenant, w.env.User(w.tenant, "owner@example.com", "owner"))
	return &skillWorld{providerWorld: w, owner: owner, priv: priv}
}

// pack builds a package from a contract file (edited by edit) and a module.
func pack(t *testing.T, contractFile string, edit func(map[string]any), module []byte, key ed25519.PrivateKey) skill.Package {
	t.Helper()
	raw, err := os.ReadFile(sandboxtest.ModuleRoot(t) + "/" + contractFile)
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	if err := json.Unmarshal(raw, &c); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(c)
	}
	cj, _ := json.Marshal(c)
	p := skill.Package{Format: skill.PackageFormat, Contract: cj, Module: module}
	if key != nil {
		if err := skill.Sign(&p, key); err != nil {
			t.Fatal(err)
		}
	}
	return p
}

func hostileContract(limits map[string]any, perms []string) func(map[string]any) {
	return func(c map[string]any) {
		c["skillId"], c["name"], c["publisherId"] = "hostile-probe", "Hostile probe", "acme"
		c["description"] = "Tries what a malicious skill would."
		c["inputSchema"] = map[string]any{"type": "object"}
		c["outputSchema"] = map[string]any{"type": "object"}
		c["requiredPermissions"] = perms
		c["limits"] = limits
	}
}

func TestSkillsEndToEnd(t *testing.T) {
	t.Parallel()
	quoteWasm := sandboxtest.BuildGo(t, "./examples/skills/quote-builder")
	fetchWasm := sandboxtest.BuildGo(t, "./examples/skills/web-fetch")
	hostileWasm := sandboxtest.BuildGo(t, "./internal/sandbox/testdata/hostile")
	crmWasm := sandboxtest.BuildGo(t, "./examples/skills/crm-contact-lookup")
	forEachStore(t, func(t *testing.T, kind string) {
		w := newSkillWorld(t, kind)
		env := w.env
		viewer := env.APIKey(w.tenant, env.User(w.tenant, "viewer@example.com", "viewer"))

		// Register a signed package: verified, hash computed by the server.
		qb := pack(t, "examples/skills/quote-builder/skill.json", nil, quoteWasm, w.priv)
		r := env.Do("POST", "/api/skills/", w.admin, qb)
		if r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		got := decodeData[skill.Skill](t, r)
		d, _ := skill.Digest(qb.Contract, qb.Module)
		if !got.IsVerified || got.SignatureHash != skill.SignatureHash(d) || got.SkillID != "quote-builder" {
			t.Fatalf("registered: %+v", got)
		}
		expectError(t, env.Do("POST", "/api/skills/", w.admin, qb), 409, "conflict")
		if reg, _, _ := env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.SkillRegistered)}, store.Page{Page: 1, PageSize: 5}); len(reg) != 3 ||
			!strings.Contains(string(reg[0].Details), `"outcome":"failed"`) {
			t.Fatalf("SkillRegistered entries after a duplicate version: %+v", reg)
		}
		expectError(t, env.Do("POST", "/api/skills/", w.op, qb), 403, "forbidden")

		// isVerified is never taken from the request.
		forged := map[string]any{"format": qb.Format, "contract": qb.Contract, "module": qb.Module, "isVerified": true}
		expectError(t, env.Do("POST", "/api/skills/", w.admin, forged), 400, "validation_failed")
		var withVerified map[string]any
		_ = json.Unmarshal(qb.Contract, &withVerified)
		withVerified["isVerified"], withVerified["version"] = true, "1.0.1"
		cj, _ := json.Marshal(withVerified)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, skill.Package{Format: skill.PackageFormat, Contract: cj, Module: quoteWasm}), 400, "validation_failed")

		// Tampered: signed, then the module (or contract) changed.
		rejectedBefore := w.count(t, audit.SkillRejected)
		tampered := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["version"] = "1.0.2" }, quoteWasm, w.priv)
		tampered.Module = hostileWasm
		expectError(t, env.Do("POST", "/api/skills/", w.admin, tampered), 400, "validation_failed")
		tampered = pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["version"] = "1.0.3" }, quoteWasm, w.priv)
		tampered.Contract = []byte(strings.Replace(string(tampered.Contract), `"requiredPermissions":[]`, `"requiredPermissions":["crm:write"]`, 1))
		expectError(t, env.Do("POST", "/api/skills/", w.admin, tampered), 400, "validation_failed")
		// Unsigned, claiming the trusted publisher.
		unsigned := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["version"] = "1.0.4" }, quoteWasm, nil)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, unsigned), 400, "validation_failed")
		// Signed by a key nobody trusts, claiming the trusted publisher.
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		foreign := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["version"] = "1.0.5" }, quoteWasm, other)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, foreign), 400, "validation_failed")
		if n := w.count(t, audit.SkillRejected) - rejectedBefore; n != 4 {
			t.Fatalf("SkillRejected entries: %d, want 4", n)
		}
		// Not a WASI module.
		junk := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) { c["version"] = "1.0.6" }, []byte("#!/bin/sh\nrm -rf /\n"), w.priv)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, junk), 400, "validation_failed")

		// An unknown publisher's unsigned skill needs the tenant's consent,
		// which only an Owner can give.
		hostile := pack(t, "examples/skills/quote-builder/skill.json", hostileContract(map[string]any{"timeoutSeconds": 2, "memoryMb": 64}, nil), hostileWasm, nil)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, hostile), 400, "validation_failed")
		expectError(t, env.Do("PUT", "/api/tenant/skill-policy", w.admin, map[string]any{"allowUnsigned": true}), 403, "forbidden")
		if r := env.Do("PUT", "/api/tenant/skill-policy", w.owner, map[string]any{"allowUnsigned": true}); r.Status != 200 {
			t.Fatalf("policy: %d %s", r.Status, r.Body)
		}
		if r := env.Do("POST", "/api/skills/", w.admin, hostile); r.Status != 201 || decodeData[skill.Skill](t, r).IsVerified {
			t.Fatalf("unsigned with consent: %d %s", r.Status, r.Body)
		}
		r = env.Do("GET", "/api/skills/?verifiedOnly=true", viewer, nil)
		if r.Status != 200 || r.Meta == nil || r.Meta.Total != 1 {
			t.Fatalf("verifiedOnly: %d %s", r.Status, r.Body)
		}

		// Install with the consent step.
		r = env.Do("GET", "/api/agents/default/skills/quote-builder/consent", w.admin, nil)
		if r.Status != 200 {
			t.Fatalf("consent: %d %s", r.Status, r.Body)
		}
		expectError(t, env.Do("PUT", "/api/agents/default/skills/quote-builder", w.op, map[string]any{"grantedPermissions": []string{}}), 403, "forbidden")
		r = env.Do("PUT", "/api/agents/default/skills/quote-builder", w.admin, map[string]any{
			"grantedPermissions": []string{}, "config": map[string]string{"tax-rate-percent": "20", "currency": "EUR"}})
		if r.Status != 200 {
			t.Fatalf("install: %d %s", r.Status, r.Body)
		}
		if n := w.count(t, audit.SkillInstalled); n != 1 {
			t.Fatalf("SkillInstalled %d", n)
		}

		// The agent uses it.
		w.fake.reset(toolReply("c1", "quote-builder", `{"customer":"Ada","items":[{"sku":"A","quantity":3,"unitPrice":10}],"discountPercent":10}`),
			textReply("Your quote is 32.40 EUR."))
		r = w.send(t, "quote 3 of A")
		if r.Status != 200 {
			t.Fatalf("turn: %d %s", r.Status, r.Body)
		}
		tools := w.fake.requests[0]["tools"].([]any)
		if !strings.Contains(fmt.Sprint(tools), "quote-builder") {
			t.Fatalf("skill not offered: %v", tools)
		}
		toolMsg := lastToolMessage(t, w.fake.requests[1])
		if !strings.Contains(toolMsg, `"total":32.4`) || !strings.Contains(toolMsg, "<untrusted-data-") || !strings.Contains(toolMsg, injection.DataNotice) {
			t.Fatalf("tool result: %s", toolMsg)
		}
		entries, _, _ := env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.ToolExecutionCompleted), SkillID: "quote-builder"}, store.Page{Page: 1, PageSize: 5})
		if len(entries) != 1 || !strings.Contains(string(entries[0].Details), `"peakMemoryBytes"`) || !strings.Contains(string(entries[0].Details), `"runtime":"wasm"`) {
			t.Fatalf("completed entry: %+v", entries)
		}

		// Input that does not match the schema never starts the sandbox.
		w.fake.reset(toolReply("c2", "quote-builder", `{"items":[],"admin":true}`), textReply("ok"))
		w.send(t, "bad quote")
		if m := lastToolMessage(t, w.fake.requests[1]); !strings.Contains(m, "input schema") {
			t.Fatalf("schema error: %s", m)
		}
		assertFailed(t, w, "quote-builder", "schema")

		// Disabled (removed from enabledSkillIds): not offered, refused.
		if r := env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"enabledSkillIds": []string{}}); r.Status != 200 {
			t.Fatalf("disable: %d %s", r.Status, r.Body)
		}
		denied := w.count(t, audit.PermissionDenied)
		w.fake.reset(toolReply("c3", "quote-builder", `{"items":[{"sku":"A","quantity":1,"unitPrice":1}]}`), textReply("ok"))
		w.send(t, "quote again")
		if strings.Contains(fmt.Sprint(w.fake.requests[0]["tools"]), "quote-builder") {
			t.Fatal("a disabled skill was offered")
		}
		if m := lastToolMessage(t, w.fake.requests[1]); !strings.Contains(m, "not available") {
			t.Fatalf("disabled skill ran: %s", m)
		}
		if n := w.count(t, audit.PermissionDenied) - denied; n != 1 {
			t.Fatalf("PermissionDenied %d, want 1", n)
		}

		// A network skill needs its hosts granted explicitly; an upgrade
		// that asks for more shows the difference.
		page := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { fmt.Fprint(rw, "Opening hours: 9-17") }))
		defer page.Close()
		wf := pack(t, "examples/skills/web-fetch/skill.json", func(c map[string]any) {
			c["version"] = "1.0.0"
			c["requiredPermissions"] = []string{"network:outbound:127.0.0.1"}
		}, fetchWasm, w.priv)
		if r := env.Do("POST", "/api/skills/", w.admin, wf); r.Status != 201 {
			t.Fatalf("register web-fetch: %d %s", r.Status, r.Body)
		}
		r = env.Do("PUT", "/api/agents/default/skills/web-fetch", w.admin, map[string]any{"grantedPermissions": []string{}})
		expectError(t, r, 400, "validation_failed")
		if !strings.Contains(*r.Error, "network:outbound:127.0.0.1") {
			t.Fatalf("missing grant message: %s", *r.Error)
		}
		expectError(t, env.Do("PUT", "/api/agents/default/skills/web-fetch", w.admin, map[string]any{
			"grantedPermissions": []string{"network:outbound:127.0.0.1", "network:outbound:evil.example"}}), 400, "validation_failed")
		if r := env.Do("PUT", "/api/agents/default/skills/web-fetch", w.admin, map[string]any{
			"grantedPermissions": []any{map[string]any{"resource": "network", "access": "outbound", "scope": "127.0.0.1"}}}); r.Status != 200 {
			t.Fatalf("install web-fetch: %d %s", r.Status, r.Body)
		}
		wf2 := pack(t, "examples/skills/web-fetch/skill.json", func(c map[string]any) {
			c["version"] = "1.1.0"
			c["requiredPermissions"] = []string{"network:outbound:127.0.0.1", "network:outbound:api.example.com"}
		}, fetchWasm, w.priv)
		if r := env.Do("POST", "/api/skills/", w.admin, wf2); r.Status != 201 {
			t.Fatalf("register web-fetch 1.1.0: %d %s", r.Status, r.Body)
		}
		r = env.Do("GET", "/api/agents/default/skills/web-fetch/consent", w.admin, nil)
		if c := decodeData[skill.Consent](t, r); c.Version != "1.1.0" || c.InstalledVersion != "1.0.0" || len(c.Added) != 1 || *c.Added[0].Scope != "api.example.com" {
			t.Fatalf("consent diff: %s", r.Body)
		}
		r = env.Do("PUT", "/api/agents/default/skills/web-fetch", w.admin, map[string]any{"version": "1.1.0", "grantedPermissions": []string{"network:outbound:127.0.0.1"}})
		expectError(t, r, 400, "validation_failed")
		if !strings.Contains(*r.Error, "new permissions: network:outbound:api.example.com") {
			t.Fatalf("upgrade message: %s", *r.Error)
		}
		// A second network call after reading fetched content would wait
		// for an Admin (TestInjectionDeterministicControls); this agent
		// is allowed to chain them.
		w.setPolicy(t, `{"agents":{"default":{"allowConsequentialTools":true}}}`)
		w.fake.reset(toolReply("c4", "web-fetch", `{"url":"`+page.URL+`/hours"}`),
			toolReply("c5", "web-fetch", `{"url":"http://169.254.169.254/latest/meta-data/"}`), textReply("done"))
		w.send(t, "opening hours?")
		if m := lastToolMessage(t, w.fake.requests[1]); !strings.Contains(m, "Opening hours: 9-17") {
			t.Fatalf("fetch: %s", m)
		}
		if m := lastToolMessage(t, w.fake.requests[2]); strings.Contains(m, "ami-") || !strings.Contains(m, "refused") {
			t.Fatalf("metadata fetch: %s", m)
		}
		e := assertFailed(t, w, "web-fetch", "exit")
		if !strings.Contains(e, `"denied":"`) || !strings.Contains(e, "169.254.169.254") {
			t.Fatalf("network not in the audit details: %s", e)
		}

		// CRM lookup through the declared "database" tool: the tenant's
		// contacts only.
		for _, c := range []map[string]any{{"name": "Ada Lovelace", "email": "ada@analytical.example", "company": "Analytical"},
			{"name": "Adam Smith", "company": "Wealth"}} {
			if r := env.Do("POST", "/api/crm/contacts/", w.op, c); r.Status != 201 {
				t.Fatalf("contact: %d %s", r.Status, r.Body)
			}
		}
		globex := env.Tenant("globex")
		gOp := env.APIKey(globex, env.User(globex, "op@globex.example", "operator"))
		env.Do("POST", "/api/crm/contacts/", gOp, map[string]any{"name": "Ada Globex-Secret", "email": "ada@globex.example"})
		lookup := pack(t, "examples/skills/crm-contact-lookup/skill.json", nil, crmWasm, w.priv)
		if r := env.Do("POST", "/api/skills/", w.admin, lookup); r.Status != 201 {
			t.Fatalf("register lookup: %d %s", r.Status, r.Body)
		}
		if r := env.Do("PUT", "/api/agents/default/skills/crm-contact-lookup", w.admin, map[string]any{"grantedPermissions": []string{"crm:read"}}); r.Status != 200 {
			t.Fatalf("install lookup: %d %s", r.Status, r.Body)
		}
		w.fake.reset(toolReply("c6", "crm-contact-lookup", `{"query":"ada"}`), textReply("found"))
		w.send(t, "who is ada?")
		if m := lastToolMessage(t, w.fake.requests[1]); !strings.Contains(m, "Ada Lovelace") || strings.Contains(m, "Globex") || !strings.Contains(m, `"count":2`) {
			t.Fatalf("lookup: %s", m)
		}
		// A contract that declares the tool without crm:read is refused.
		noGrant := pack(t, "examples/skills/crm-contact-lookup/skill.json", func(c map[string]any) {
			c["version"], c["requiredPermissions"] = "1.0.1", []string{}
		}, crmWasm, w.priv)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, noGrant), 400, "validation_failed")

		// Hostile skill: contained, each failure with its reason.
		cr := env.Do("POST", "/api/credentials/", w.admin, map[string]any{"name": "api-key", "type": "api_key", "value": "sk-live-Zq8uP2mW9x"})
		credID := decodeData[map[string]any](t, cr)["id"].(string)
		if r := env.Do("POST", "/api/credentials/"+credID+"/grants", w.admin, map[string]any{"agentId": "default", "skillId": "hostile-probe"}); r.Status != 201 && r.Status != 200 {
			t.Fatalf("grant: %d %s", r.Status, r.Body)
		}
		if r := env.Do("PUT", "/api/agents/default/skills/hostile-probe", w.admin, map[string]any{"grantedPermissions": []string{}}); r.Status != 200 {
			t.Fatalf("install hostile: %d %s", r.Status, r.Body)
		}
		var sid string
		probe := func(mode, arg string, n int64) string {
			args, _ := json.Marshal(map[string]any{"mode": mode, "arg": arg, "bytes": n})
			w.fake.reset(toolReply("h", "hostile-probe", string(args)), textReply("ok"))
			r := w.send(t, "probe "+mode)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", mode, r.Status, r.Body)
			}
			sid = decodeData[chatReply](t, r).SessionID
			return lastToolMessage(t, w.fake.requests[1])
		}
		if m := probe("read", "/etc/passwd", 0); strings.Contains(m, "root:") || !strings.Contains(m, `"ok":false`) {
			t.Fatalf("passwd: %s", m)
		}
		if m := probe("read", "../../../../etc/hostname", 0); !strings.Contains(m, `"ok":false`) {
			t.Fatalf("traversal: %s", m)
		}
		if m := probe("socket", "127.0.0.1:5432", 0); !strings.Contains(m, `"ok":false`) {
			t.Fatalf("socket: %s", m)
		}
		if m := probe("fetch", "http://127.0.0.1:5000/", 0); !strings.Contains(m, `"ok":false`) || !strings.Contains(m, "no network:outbound permission") {
			t.Fatalf("fetch without permission: %s", m)
		}
		if m := probe("tool", "database", 0); !strings.Contains(m, `"ok":false`) || !strings.Contains(m, "not declared") {
			t.Fatalf("undeclared database tool: %s", m)
		}
		if m := probe("credential", "someone-elses-key", 0); !strings.Contains(m, `"ok":false`) {
			t.Fatalf("other credential: %s", m)
		}
		if m := probe("credential", "api-key", 0); strings.Contains(m, "sk-live-Zq8uP2mW9x") || !strings.Contains(m, tool.Scrubbed) {
			t.Fatalf("credential echoed: %s", m)
		}
		probe("spin", "", 0)
		assertFailed(t, w, "hostile-probe", "timeout")
		probe("alloc", "", 4<<30)
		assertFailed(t, w, "hostile-probe", "memory")
		probe("stdout", "", 100<<20)
		assertFailed(t, w, "hostile-probe", "output_limit")
		if m := probe("raw", "{\"a\":\"\\u001b[31mred\\u200b\"}", 0); strings.Contains(m, `\u001b`) || strings.Contains(m, "\u200b") {
			t.Fatalf("control characters reached the model: %q", m)
		}
		// Nothing of the credential in history or the audit log.
		turns := w.history(t, sid)
		if len(turns) < 20 {
			t.Fatalf("history has %d turns", len(turns))
		}
		for _, tr := range turns {
			if strings.Contains(tr.Text, "sk-live-Zq8uP2mW9x") {
				t.Fatal("credential value in history")
			}
		}
		all, _, _ := env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{}, store.Page{Page: 1, PageSize: 1000})
		for _, a := range all {
			if strings.Contains(string(a.Details), "sk-live-Zq8uP2mW9x") || strings.Contains(string(a.Details), "root:") {
				t.Fatalf("leak in audit entry %s: %s", a.Action, a.Details)
			}
		}

		// Another tenant sees nothing and installs nothing.
		gAdmin := env.APIKey(globex, env.User(globex, "admin@globex.example", "admin"))
		expectError(t, env.Do("GET", "/api/skills/quote-builder", gAdmin, nil), 404, "not_found")
		env.Do("POST", "/api/agents/", gAdmin, map[string]any{"agentId": "default", "name": "G"})
		expectError(t, env.Do("PUT", "/api/agents/default/skills/quote-builder", gAdmin, map[string]any{"grantedPermissions": []string{}}), 404, "not_found")
		expectError(t, env.Do("DELETE", "/api/skills/quote-builder", gAdmin, nil), 404, "not_found")

		// Installed skills cannot be deleted; uninstall first. The trail
		// says the recorded deletion did not happen.
		expectError(t, env.Do("DELETE", "/api/skills/quote-builder", w.admin, nil), 409, "conflict")
		del, _, _ := env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.SkillDeleted), SkillID: "quote-builder"}, store.Page{Page: 1, PageSize: 2})
		if len(del) != 2 || !strings.Contains(string(del[0].Details), `"outcome":"failed"`) || strings.Contains(string(del[1].Details), "outcome") {
			t.Fatalf("SkillDeleted entries for a refused delete: %+v", del)
		}
		if r := env.Do("DELETE", "/api/agents/default/skills/quote-builder", w.admin, nil); r.Status != 200 {
			t.Fatalf("uninstall: %d %s", r.Status, r.Body)
		}
		if n := w.count(t, audit.SkillUninstalled); n != 1 {
			t.Fatalf("SkillUninstalled %d", n)
		}
		if r := env.Do("DELETE", "/api/skills/quote-builder", w.admin, nil); r.Status != 200 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		// The same version number registered again with another module and
		// installed: the agent runs the new module, not the one this
		// process ran before (its output no longer matches the schema).
		again := pack(t, "examples/skills/quote-builder/skill.json", nil, crmWasm, w.priv)
		if r := env.Do("POST", "/api/skills/", w.admin, again); r.Status != 201 {
			t.Fatalf("register again: %d %s", r.Status, r.Body)
		}
		if r := env.Do("PUT", "/api/agents/default/skills/quote-builder", w.admin, map[string]any{"grantedPermissions": []string{}}); r.Status != 200 {
			t.Fatalf("reinstall: %d %s", r.Status, r.Body)
		}
		w.fake.reset(toolReply("c9", "quote-builder", `{"items":[{"sku":"A","quantity":1,"unitPrice":1}]}`), textReply("ok"))
		w.send(t, "quote once more")
		if m := lastToolMessage(t, w.fake.requests[1]); strings.Contains(m, `"total"`) {
			t.Fatalf("the old module ran: %s", m)
		}
		expectError(t, env.Do("GET", "/api/skills/..%2F..%2Fetc", w.admin, nil), 404, "not_found")
	})
}

// lastToolMessage is the content of the last tool message in a request to the model.
func lastToolMessage(t *testing.T, req map[string]any) string {
	t.Helper()
	msgs := req["messages"].([]any)
	for i := len(msgs) - 1; i >= 0; i-- {
		m := msgs[i].(map[string]any)
		if m["role"] == "tool" {
			s, _ := m["content"].(string)
			return s
		}
	}
	t.Fatal("no tool message")
	return ""
}

// assertFailed checks the newest ToolExecutionFailed of skillID has reason
// and returns its details.
func assertFailed(t *testing.T, w *skillWorld, skillID, reason string) string {
	t.Helper()
	es, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.ToolExecutionFailed), SkillID: skillID}, store.Page{Page: 1, PageSize: 1})
	if err != nil || len(es) == 0 {
		t.Fatalf("no ToolExecutionFailed for %s: %v", skillID, err)
	}
	d := string(es[0].Details)
	if !strings.Contains(d, `"reason":"`+reason+`"`) {
		t.Fatalf("%s failure: %s, want reason %s", skillID, d, reason)
	}
	return d
}

// TestSkillsAPIHostile: what an attacker sends to the registry and install
// routes gets the exact status and code, a refused role writes exactly one
// PermissionDenied, and nothing is stored.
func TestSkillsAPIHostile(t *testing.T) {
	t.Parallel()
	quoteWasm := sandboxtest.BuildGo(t, "./examples/skills/quote-builder")
	forEachStore(t, func(t *testing.T, kind string) {
		w := newSkillWorld(t, kind)
		env := w.env
		viewer := env.APIKey(w.tenant, env.User(w.tenant, "viewer@example.com", "viewer"))
		qb := pack(t, "examples/skills/quote-builder/skill.json", nil, quoteWasm, w.priv)
		if r := env.Do("POST", "/api/skills/", w.admin, qb); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		registered := w.count(t, audit.SkillRegistered)

		// Roles that may not: one PermissionDenied each, nothing changed.
		for _, tc := range []struct {
			method, path, key string
			body              any
		}{
			{"POST", "/api/skills/", viewer, qb},
			{"POST", "/api/skills/", w.op, strings.Repeat("x", 2<<20)}, // refused before the body is read
			{"DELETE", "/api/skills/quote-builder", w.op, nil},
			{"PUT", "/api/agents/default/skills/quote-builder", w.op, map[string]any{"grantedPermissions": []string{}}},
			{"DELETE", "/api/agents/default/skills/quote-builder", viewer, nil},
			{"PUT", "/api/tenant/skill-policy", w.admin, map[string]any{"allowUnsigned": true}},
		} {
			before := w.count(t, audit.PermissionDenied)
			expectError(t, env.Do(tc.method, tc.path, tc.key, tc.body), 403, "forbidden")
			if n := w.count(t, audit.PermissionDenied) - before; n != 1 {
				t.Fatalf("%s %s: %d PermissionDenied entries, want 1", tc.method, tc.path, n)
			}
		}

		// Malformed, oversized, wrong type, unknown fields, hostile IDs.
		for _, tc := range []struct {
			name, method, path string
			body               any
			headers            []string
			status             int
			code               string
		}{
			{"malformed package", "POST", "/api/skills/", `{"format":"komand-skill/v1","contract":`, nil, 400, "validation_failed"},
			{"package not an object", "POST", "/api/skills/", `[1,2,3]`, nil, 400, "validation_failed"},
			{"wrong format", "POST", "/api/skills/", map[string]any{"format": "zip", "contract": qb.Contract, "module": qb.Module}, nil, 400, "validation_failed"},
			{"module not base64", "POST", "/api/skills/", `{"format":"komand-skill/v1","contract":{},"module":"%%%"}`, nil, 400, "validation_failed"},
			{"text/plain", "POST", "/api/skills/", "{}", []string{"Content-Type", "text/plain"}, 415, "unsupported_media_type"},
			{"over 96 MiB", "POST", "/api/skills/", make([]byte, 97<<20), nil, 413, "payload_too_large"},
			{"traversal skill", "GET", "/api/skills/..%2F..%2Fetc%2Fpasswd", nil, nil, 404, "not_found"},
			{"bad version", "GET", "/api/skills/quote-builder?version=1.0.0%27%20OR%201%3D1", nil, nil, 404, "not_found"},
			{"versions of unknown", "GET", "/api/skills/no-such-skill/versions", nil, nil, 404, "not_found"},
			{"page size 1000", "GET", "/api/skills/?pageSize=1000", nil, nil, 400, "validation_failed"},
			{"verifiedOnly maybe", "GET", "/api/skills/?verifiedOnly=maybe", nil, nil, 400, "validation_failed"},
			{"query too long", "GET", "/api/skills/?q=" + strings.Repeat("a", 300), nil, nil, 400, "validation_failed"},
			{"install malformed", "PUT", "/api/agents/default/skills/quote-builder", `{"grantedPermissions":`, nil, 400, "validation_failed"},
			{"install unknown field", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"grantedPermissions": []string{}, "isVerified": true}, nil, 400, "validation_failed"},
			{"install wrong type", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"grantedPermissions": "all"}, nil, 400, "validation_failed"},
			{"install bad permission", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"grantedPermissions": []string{"*"}}, nil, 400, "validation_failed"},
			{"install config control", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"grantedPermissions": []string{}, "config": map[string]string{"k": "a\u0000b"}}, nil, 400, "validation_failed"},
			{"install config key", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"grantedPermissions": []string{}, "config": map[string]string{"../k": "v"}}, nil, 400, "validation_failed"},
			{"install traversal agent", "PUT", "/api/agents/..%2Fother/skills/quote-builder", map[string]any{"grantedPermissions": []string{}}, nil, 404, "not_found"},
			{"install unknown agent", "PUT", "/api/agents/ghost/skills/quote-builder", map[string]any{"grantedPermissions": []string{}}, nil, 404, "not_found"},
			{"install unknown skill", "PUT", "/api/agents/default/skills/no-such-skill", map[string]any{"grantedPermissions": []string{}}, nil, 404, "not_found"},
			{"install unknown version", "PUT", "/api/agents/default/skills/quote-builder", map[string]any{"version": "9.9.9", "grantedPermissions": []string{}}, nil, 404, "not_found"},
			{"uninstall not installed", "DELETE", "/api/agents/default/skills/quote-builder", nil, nil, 404, "not_found"},
			{"policy null", "PUT", "/api/tenant/skill-policy", map[string]any{"allowUnsigned": nil}, nil, 400, "validation_failed"},
		} {
			expectError(t, env.Do(tc.method, tc.path, w.admin, tc.body, tc.headers...), tc.status, tc.code)
			if tc.name == "policy null" {
				expectError(t, env.Do(tc.method, tc.path, w.owner, tc.body, tc.headers...), tc.status, tc.code)
			}
		}
		if n := w.count(t, audit.SkillRegistered); n != registered {
			t.Fatalf("SkillRegistered %d → %d: a refused request registered something", registered, n)
		}
		if n := w.count(t, audit.SkillInstalled); n != 0 {
			t.Fatalf("SkillInstalled %d: a refused install was recorded", n)
		}
		if r := env.Do("GET", "/api/agents/default/skills/", viewer, nil); r.Status != 200 || string(r.Data) != "[]" {
			t.Fatalf("installs after hostile requests: %d %s", r.Status, r.Data)
		}
	})
}
