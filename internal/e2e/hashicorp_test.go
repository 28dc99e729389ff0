package e2e_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/vault"
)

// fakeHashiCorpVault speaks the parts of HashiCorp Vault's HTTP API Komand
// uses: AppRole login and KV v2 reads, with token checks.
type fakeHashiCorpVault struct {
	roleID, secretID, token string
	secrets                 map[string]map[string]any // "mount/path" → data
	logins, reads           atomic.Int32
}

func (f *fakeHashiCorpVault) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == http.MethodPut || r.Method == http.MethodPost:
		if r.URL.Path != "/v1/auth/approle/login" {
			w.WriteHeader(404)
			io.WriteString(w, `{"errors":[]}`)
			return
		}
		var in struct {
			RoleID   string `json:"role_id"`
			SecretID string `json:"secret_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.logins.Add(1)
		if in.RoleID != f.roleID || in.SecretID != f.secretID {
			w.WriteHeader(400)
			io.WriteString(w, `{"errors":["invalid role or secret ID"]}`)
			return
		}
		io.WriteString(w, `{"request_id":"1","lease_id":"","renewable":false,"lease_duration":0,"data":null,
			"auth":{"client_token":"`+f.token+`","accessor":"a","policies":["default"],"lease_duration":3600,"renewable":true}}`)
	case r.Method == http.MethodGet:
		if r.Header.Get("X-Vault-Token") != f.token {
			w.WriteHeader(403)
			io.WriteString(w, `{"errors":["permission denied"]}`)
			return
		}
		// /v1/{mount}/data/{path}
		rest := strings.TrimPrefix(r.URL.Path, "/v1/")
		mount, path, ok := strings.Cut(rest, "/data/")
		data, found := f.secrets[mount+"/"+path]
		if !ok || !found {
			w.WriteHeader(404)
			io.WriteString(w, `{"errors":[]}`)
			return
		}
		f.reads.Add(1)
		b, _ := json.Marshal(map[string]any{"request_id": "2", "data": map[string]any{"data": data,
			"metadata": map[string]any{"created_time": "2026-12-01T10:00:00Z", "version": 3, "destroyed": false, "deletion_time": ""}}})
		w.Write(b)
	default:
		w.WriteHeader(405)
	}
}

// TestHashiCorpVaultReference: a credential can reference a KV v2 secret
// instead of storing it; a granted skill gets the value through AppRole
// login and a cached read; the value is in no response, and a bad
// reference or an unknown source is refused.
func TestHashiCorpVaultReference(t *testing.T) {
	t.Parallel()
	value := "sk_live_from_hashicorp_vault_91c2"
	hv := &fakeHashiCorpVault{roleID: "role-1", secretID: "secret-1", token: "hvs.CAESIPLANTED",
		secrets: map[string]map[string]any{"secret/crm/stripe": {"api_key": value, "other": 7}}}
	srv := httptest.NewServer(hv)
	t.Cleanup(srv.Close)
	w := newWorldWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.HashiCorpVault = config.HashiCorpVaultConfig{Address: srv.URL, RoleId: "role-1", SecretId: "secret-1"}
	})
	admin := w.keys["a/admin"]
	ref := map[string]any{"mount": "secret", "path": "crm/stripe", "key": "api_key"}
	for _, bad := range []map[string]any{
		{"name": "x", "type": "api_key", "source": "hashicorp_vault", "reference": map[string]any{"mount": "secret", "path": "../sys/raw", "key": "k"}},
		{"name": "x", "type": "api_key", "source": "hashicorp_vault", "reference": map[string]any{"mount": "secret", "path": "a", "key": "a/b"}},
		{"name": "x", "type": "api_key", "source": "aws", "reference": ref},
		{"name": "x", "type": "api_key", "source": "hashicorp_vault", "reference": ref, "value": "both"},
		{"name": "x", "type": "api_key", "source": "hashicorp_vault"},
	} {
		expectError(t, w.env.Do("POST", "/api/credentials/", admin, bad), 400, "validation_failed")
	}
	r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "stripe", "type": "api_key", "source": "hashicorp_vault", "reference": ref})
	if r.Status != 201 || !strings.Contains(string(r.Data), `"source":"hashicorp_vault"`) {
		t.Fatalf("create reference: %d %s", r.Status, r.Body)
	}
	id := decodeData[credentialView](t, r).ID
	expectError(t, w.env.Do("PUT", "/api/credentials/"+id, admin, map[string]any{"value": "x"}), 400, "validation_failed")
	if hv.logins.Load() != 0 || hv.reads.Load() != 0 {
		t.Fatal("creating a reference contacted the secret manager")
	}
	for i := range 3 {
		v, err := w.env.App.Secrets.Resolve(t.Context(), vault.Use{TenantID: w.tenA, AgentID: w.agent, SkillID: "billing"}, "stripe")
		if i == 0 {
			if err == nil {
				t.Fatal("resolved without a grant")
			}
			if r := w.env.Do("POST", "/api/credentials/"+id+"/grants", admin, map[string]any{"agentId": w.agent, "skillId": "billing"}); r.Status != 201 {
				t.Fatalf("grant: %d %s", r.Status, r.Body)
			}
			continue
		}
		if err != nil || v != value {
			t.Fatalf("resolve %d: %q %v", i, v, err)
		}
	}
	if hv.logins.Load() != 1 || hv.reads.Load() != 1 {
		t.Fatalf("AppRole logins %d, KV reads %d; want 1 and 1 (token and value cached)", hv.logins.Load(), hv.reads.Load())
	}
	for _, path := range []string{"/api/credentials/", "/api/credentials/" + id, "/api/audit/?pageSize=100"} {
		noSecret(t, path, w.env.Do("GET", path, w.keys["a/owner"], nil).Body, value, hv.token, "secret-1")
	}
	noSecret(t, "the logs", []byte(w.env.Logs()), value, hv.token)

	// A wrong AppRole secret: the read fails with a plain error, no detail.
	w2 := newWorldWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.HashiCorpVault = config.HashiCorpVaultConfig{Address: srv.URL, RoleId: "role-1", SecretId: "wrong"}
	})
	if r := w2.env.Do("POST", "/api/credentials/", w2.keys["a/admin"], map[string]any{"name": "stripe", "type": "api_key",
		"source": "hashicorp_vault", "reference": ref}); r.Status != 201 {
		t.Fatalf("create: %d", r.Status)
	}
	c2, _ := w2.env.App.Store.GetCredentialByName(t.Context(), w2.tenA, "stripe")
	if _, err := w2.env.App.Secrets.PlatformSecret(t.Context(), w2.tenA, c2.ID); err == nil || strings.Contains(err.Error(), "invalid role") {
		t.Fatalf("wrong AppRole secret: %v", err)
	}

	// Token auth: no login.
	before := hv.logins.Load()
	w3 := newWorldWith(t, "sqlite", func(c *config.Config) {
		c.SecretManagers.HashiCorpVault = config.HashiCorpVaultConfig{Address: srv.URL, Token: hv.token}
	})
	if r := w3.env.Do("POST", "/api/credentials/", w3.keys["a/admin"], map[string]any{"name": "stripe", "type": "api_key",
		"source": "hashicorp_vault", "reference": ref}); r.Status != 201 {
		t.Fatalf("create: %d", r.Status)
	}
	c3, _ := w3.env.App.Store.GetCredentialByName(t.Context(), w3.tenA, "stripe")
	if v, err := w3.env.App.Secrets.PlatformSecret(t.Context(), w3.tenA, c3.ID); err != nil || v != value || hv.logins.Load() != before {
		t.Fatalf("token auth: %q %v (logins %d → %d)", v, err, before, hv.logins.Load())
	}
}

// TestHashiCorpVaultReal reads a real HashiCorp Vault when
// KOMAND_TEST_HASHICORP_VAULT_ADDR, _TOKEN, _REF ("mount/path#key") and
// _VALUE (the value expected there) are set.
func TestHashiCorpVaultReal(t *testing.T) {
	t.Parallel()
	addr, token := os.Getenv("KOMAND_TEST_HASHICORP_VAULT_ADDR"), os.Getenv("KOMAND_TEST_HASHICORP_VAULT_TOKEN")
	refStr, want := os.Getenv("KOMAND_TEST_HASHICORP_VAULT_REF"), os.Getenv("KOMAND_TEST_HASHICORP_VAULT_VALUE")
	if addr == "" || token == "" || refStr == "" {
		t.Skip("KOMAND_TEST_HASHICORP_VAULT_ADDR, _TOKEN and _REF are not set; set them to test against a real HashiCorp Vault")
	}
	mountPath, key, _ := strings.Cut(refStr, "#")
	mount, path, _ := strings.Cut(mountPath, "/")
	hc, err := vault.NewHashiCorp(vault.HashiCorpOptions{Address: addr, Token: token})
	if err != nil {
		t.Fatal(err)
	}
	v, err := hc.Fetch(t.Context(), vault.Reference{Mount: mount, Path: path, Key: key})
	if err != nil || v != want {
		t.Fatalf("real Vault: %v (value matches: %v)", err, v == want)
	}
}

// TestExternalReferenceTenantPrefix: with a tenant prefix, each tenant's
// Admin may store references to its own secrets only (400, nothing
// stored, otherwise), and a role that may not create credentials is
// refused and recorded as such. Storing a reference contacts nothing.
func TestExternalReferenceTenantPrefix(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorldWith(t, kind, func(c *config.Config) {
			c.SecretManagers.HashiCorpVault.Address = "https://127.0.0.1:1"
			c.SecretManagers.HashiCorpVault.Token = "hvs.test-token"
			c.SecretManagers.HashiCorpVault.TenantPrefix = "secret/tenants/{tenant}/"
		})
		ref := func(tenant string) map[string]any {
			return map[string]any{"name": "stripe", "type": "api_key", "source": "hashicorp_vault",
				"reference": map[string]any{"mount": "secret", "path": "tenants/" + tenant + "/stripe", "key": "api_key"}}
		}
		count := func(key string) int {
			r := w.env.Do("GET", "/api/credentials/", w.keys[key], nil)
			if r.Status != 200 {
				t.Fatalf("list: %d %s", r.Status, r.Body)
			}
			return r.Meta.Total
		}
		for _, c := range []struct{ key, tenant string }{{"a/admin", w.tenB}, {"b/admin", w.tenA}} {
			r := w.env.Do("POST", "/api/credentials/", w.keys[c.key], ref(c.tenant))
			expectError(t, r, 400, "validation_failed")
			if !strings.Contains(*r.Error, "secret/tenants/") || strings.Contains(*r.Error, c.tenant) {
				t.Fatalf("%s: message names another tenant or no prefix: %s", c.key, *r.Error)
			}
		}
		if count("a/admin") != 0 || count("b/admin") != 0 {
			t.Fatal("a refused reference was stored")
		}
		denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
		expectError(t, w.env.Do("POST", "/api/credentials/", w.keys["a/operator"], ref(w.tenA)), 403, "forbidden")
		if n := auditCount(t, w, w.tenA, audit.PermissionDenied) - denied; n != 1 {
			t.Fatalf("PermissionDenied entries for the operator: %d, want 1", n)
		}
		if r := w.env.Do("POST", "/api/credentials/", w.keys["a/admin"], ref(w.tenA)); r.Status != 201 {
			t.Fatalf("own prefix: %d %s", r.Status, r.Body)
		}
		if count("a/admin") != 1 {
			t.Fatal("the reference under the tenant's own prefix was not stored")
		}
	})
}
