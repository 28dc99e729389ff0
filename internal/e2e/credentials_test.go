package e2e_test

import (
	"bytes"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/store"
)

type credentialView struct {
	ID         string  `json:"id"`
	Name       string  `json:"name"`
	Type       string  `json:"type"`
	CreatedBy  string  `json:"createdBy"`
	LastUsedAt *string `json:"lastUsedAt"`
}

// plantedSecret is a value no other part of the system would produce, so
// finding it anywhere is a leak.
const plantedSecret = "sk_live_PLANTED_7f3a9c1e5b2d4f60a8c3e9d1"

func noSecret(t *testing.T, where string, b []byte, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		for _, form := range []string{s, hex.EncodeToString([]byte(s))} {
			if bytes.Contains(b, []byte(form)) {
				t.Fatalf("%s contains a credential value", where)
			}
		}
	}
}

func TestCredentialsAPI(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			w := newWorld(t, kind)
			admin := w.keys["a/admin"]
			replaced := plantedSecret + "_ROTATED"

			r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": "stripe", "type": "api_key", "value": plantedSecret})
			if r.Status != 201 {
				t.Fatalf("create: %d %s", r.Status, r.Body)
			}
			noSecret(t, "the create response", r.Body, plantedSecret)
			c := decodeData[credentialView](t, r)
			if c.ID == "" || c.Name != "stripe" || c.Type != "api_key" || c.CreatedBy != w.ids["a/admin"] || c.LastUsedAt != nil {
				t.Fatalf("created: %+v", c)
			}
			if strings.Contains(string(r.Data), `"value"`) {
				t.Fatalf("the response has a value field: %s", r.Data)
			}

			// Every read shows metadata only.
			for _, path := range []string{"/api/credentials/", "/api/credentials/" + c.ID} {
				r := w.env.Do("GET", path, w.keys["a/owner"], nil)
				if r.Status != 200 {
					t.Fatalf("GET %s: %d %s", path, r.Status, r.Body)
				}
				noSecret(t, "GET "+path, r.Body, plantedSecret)
			}

			// Rename and replace the value.
			r = w.env.Do("PUT", "/api/credentials/"+c.ID, admin, map[string]any{"name": "stripe-live", "value": replaced})
			if r.Status != 200 || decodeData[credentialView](t, r).Name != "stripe-live" {
				t.Fatalf("update: %d %s", r.Status, r.Body)
			}
			noSecret(t, "the update response", r.Body, plantedSecret, replaced)
			row, err := w.env.App.Store.GetCredential(t.Context(), w.tenA, c.ID)
			if err != nil {
				t.Fatal(err)
			}
			v, err := w.env.App.Vault.Open(t.Context(), w.tenA, c.ID, row.KeyVersion, row.Ciphertext)
			if err != nil || string(v) != replaced {
				t.Fatalf("the stored value does not decrypt to the replacement: %v", err)
			}

			// Hostile and malformed input: clear 400s/409s, nothing stored.
			long := strings.Repeat("x", 16*1024+1)
			for _, tc := range []struct {
				body   any
				status int
				code   string
			}{
				{`{"name": "x", "type": "api_key", "value": "v"`, 400, "validation_failed"},
				{`[]`, 400, "validation_failed"},
				{map[string]any{"name": "big", "type": "api_key", "value": long}, 400, "validation_failed"},
				{map[string]any{"name": "../../etc/passwd", "type": "api_key", "value": "v"}, 400, "validation_failed"},
				{map[string]any{"name": "a b", "type": "api_key", "value": "v"}, 400, "validation_failed"},
				{map[string]any{"name": strings.Repeat("n", 65), "type": "api_key", "value": "v"}, 400, "validation_failed"},
				{map[string]any{"name": "t", "type": "rootkit", "value": "v"}, 400, "validation_failed"},
				{map[string]any{"name": "t", "type": "api_key"}, 400, "validation_failed"},
				{map[string]any{"name": "t", "type": "api_key", "value": nil}, 400, "validation_failed"},
				{map[string]any{"name": "t", "type": "api_key", "value": ""}, 400, "validation_failed"},
				{map[string]any{"name": "t", "type": "api_key", "value": "v", "plaintext": true}, 400, "validation_failed"},
				{map[string]any{"name": "stripe-live", "type": "token", "value": "v"}, 409, "conflict"},
			} {
				r := w.env.Do("POST", "/api/credentials/", admin, tc.body)
				expectError(t, r, tc.status, tc.code)
			}
			expectError(t, w.env.Do("PUT", "/api/credentials/"+c.ID, admin, map[string]any{}), 400, "validation_failed")
			expectError(t, w.env.Do("GET", "/api/credentials/not-a-uuid", admin, nil), 400, "validation_failed")
			if _, total, _ := w.env.App.Store.ListCredentials(t.Context(), w.tenA, store.Page{Page: 1, PageSize: 10}); total != 1 {
				t.Fatalf("%d credentials stored after the hostile requests, want 1", total)
			}

			// RBAC: Operator and Viewer see nothing, and are recorded.
			denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
			for _, role := range []string{"operator", "viewer"} {
				k := w.keys["a/"+role]
				expectError(t, w.env.Do("GET", "/api/credentials/", k, nil), 403, "forbidden")
				expectError(t, w.env.Do("GET", "/api/credentials/"+c.ID, k, nil), 403, "forbidden")
				expectError(t, w.env.Do("POST", "/api/credentials/", k, map[string]any{"name": "x", "type": "api_key", "value": "v"}), 403, "forbidden")
				expectError(t, w.env.Do("DELETE", "/api/credentials/"+c.ID, k, nil), 403, "forbidden")
			}
			if n := auditCount(t, w, w.tenA, audit.PermissionDenied) - denied; n != 8 {
				t.Fatalf("%d PermissionDenied entries for 8 refused requests", n)
			}

			// Another tenant's admin: 404 everywhere, nothing changes.
			other := w.keys["b/admin"]
			expectError(t, w.env.Do("GET", "/api/credentials/"+c.ID, other, nil), 404, "not_found")
			expectError(t, w.env.Do("PUT", "/api/credentials/"+c.ID, other, map[string]any{"value": "stolen"}), 404, "not_found")
			expectError(t, w.env.Do("DELETE", "/api/credentials/"+c.ID, other, nil), 404, "not_found")
			if r := w.env.Do("GET", "/api/credentials/", other, nil); r.Status != 200 || r.Meta.Total != 0 {
				t.Fatalf("B's list: %d %s", r.Status, r.Body)
			}
			if got, _ := w.env.App.Store.GetCredential(t.Context(), w.tenA, c.ID); !bytes.Equal(got.Ciphertext, row.Ciphertext) {
				t.Fatal("A's credential changed after B's requests")
			}

			// Grants: to a skill of an agent of the tenant, listed on the
			// credential, each refused case a clear error.
			grants := "/api/credentials/" + c.ID + "/grants"
			if r := w.env.Do("POST", grants, admin, map[string]any{"agentId": w.agent, "skillId": "billing.charge"}); r.Status != 201 {
				t.Fatalf("grant: %d %s", r.Status, r.Body)
			}
			expectError(t, w.env.Do("POST", grants, admin, map[string]any{"agentId": w.agent, "skillId": "billing.charge"}), 409, "conflict")
			expectError(t, w.env.Do("POST", grants, admin, map[string]any{"agentId": "ghost", "skillId": "s"}), 404, "not_found")
			expectError(t, w.env.Do("POST", grants, admin, map[string]any{"agentId": w.agent, "skillId": "../../x"}), 400, "validation_failed")
			expectError(t, w.env.Do("POST", grants, admin, map[string]any{"agentId": w.agent}), 400, "validation_failed")
			expectError(t, w.env.Do("POST", grants, w.keys["a/operator"], map[string]any{"agentId": w.agent, "skillId": "s"}), 403, "forbidden")
			expectError(t, w.env.Do("POST", grants, other, map[string]any{"agentId": w.agent, "skillId": "s"}), 404, "not_found")
			r = w.env.Do("GET", "/api/credentials/"+c.ID, admin, nil)
			withGrants := decodeData[struct {
				Grants []struct {
					AgentID string `json:"agentId"`
					SkillID string `json:"skillId"`
				} `json:"grants"`
			}](t, r)
			if len(withGrants.Grants) != 1 || withGrants.Grants[0].AgentID != w.agent || withGrants.Grants[0].SkillID != "billing.charge" {
				t.Fatalf("grants on the credential: %s", r.Data)
			}
			expectError(t, w.env.Do("DELETE", grants+"/"+w.agent+"/other-skill", admin, nil), 404, "not_found")
			expectError(t, w.env.Do("DELETE", grants+"/"+w.agent+"/billing.charge", other, nil), 404, "not_found")
			revoked, denied := auditCount(t, w, w.tenA, audit.CredentialRevoked), auditCount(t, w, w.tenA, audit.PermissionDenied)
			for _, role := range []string{"operator", "viewer"} {
				expectError(t, w.env.Do("DELETE", grants+"/"+w.agent+"/billing.charge", w.keys["a/"+role], nil), 403, "forbidden")
			}
			if n := auditCount(t, w, w.tenA, audit.PermissionDenied) - denied; n != 2 {
				t.Fatalf("%d PermissionDenied entries for 2 refused revocations", n)
			}
			expectError(t, w.env.Do("DELETE", grants+"/"+w.agent+"/billing.charge", admin, `{"x":1}`), 400, "validation_failed")
			if n := auditCount(t, w, w.tenA, audit.CredentialRevoked); n != revoked {
				t.Fatalf("refused revocations recorded %d CredentialRevoked", n-revoked)
			}
			if r := w.env.Do("DELETE", grants+"/"+w.agent+"/billing.charge", admin, nil); r.Status != 200 {
				t.Fatalf("revoke: %d %s", r.Status, r.Body)
			}
			for _, a := range []audit.Action{audit.CredentialGranted, audit.CredentialRevoked} {
				if n := auditCount(t, w, w.tenA, a); n < 1 {
					t.Fatalf("%s not recorded", a)
				}
			}

			// A's ciphertext copied onto a credential of B does not
			// decrypt as B's.
			if _, err := w.env.App.Vault.Open(t.Context(), w.tenB, c.ID, row.KeyVersion, row.Ciphertext); err == nil {
				t.Fatal("A's ciphertext decrypted as tenant B")
			}

			// Data-key rotation: 202, the credential moves to the new key
			// in the background and keeps its value.
			denied = auditCount(t, w, w.tenA, audit.PermissionDenied)
			for _, role := range []string{"operator", "viewer"} {
				expectError(t, w.env.Do("POST", "/api/vault/rotate-data-key", w.keys["a/"+role], nil), 403, "forbidden")
			}
			if n := auditCount(t, w, w.tenA, audit.PermissionDenied) - denied; n != 2 {
				t.Fatalf("%d PermissionDenied entries for 2 refused rotations", n)
			}
			expectError(t, w.env.Do("POST", "/api/vault/rotate-data-key", admin, `{"keyVersion":9}`), 400, "validation_failed")
			r = w.env.Do("POST", "/api/vault/rotate-data-key", admin, nil)
			if r.Status != 202 {
				t.Fatalf("rotate: %d %s", r.Status, r.Body)
			}
			w.env.App.Secrets.Wait()
			moved, _ := w.env.App.Store.GetCredential(t.Context(), w.tenA, c.ID)
			if moved.KeyVersion != row.KeyVersion+1 {
				t.Fatalf("after rotation the credential is on key %d, want %d", moved.KeyVersion, row.KeyVersion+1)
			}
			if v, err := w.env.App.Vault.Open(t.Context(), w.tenA, c.ID, moved.KeyVersion, moved.Ciphertext); err != nil || string(v) != replaced {
				t.Fatalf("after rotation: %v", err)
			}
			if n := auditCount(t, w, w.tenA, audit.DataKeyRotated); n != 3 {
				t.Fatalf("DataKeyRotated entries: %d, want 3 (requested, created, re-encrypted)", n)
			}

			// Audit: created, updated, then deleted; no value anywhere in it.
			if r := w.env.Do("DELETE", "/api/credentials/"+c.ID, admin, nil); r.Status != 200 {
				t.Fatalf("delete: %d %s", r.Status, r.Body)
			}
			expectError(t, w.env.Do("GET", "/api/credentials/"+c.ID, admin, nil), 404, "not_found")
			for _, a := range []audit.Action{audit.CredentialCreated, audit.CredentialUpdated, audit.CredentialDeleted} {
				if n := auditCount(t, w, w.tenA, a); n != 1 {
					t.Fatalf("%s: %d entries, want 1", a, n)
				}
			}
			r = w.env.Do("GET", "/api/audit/?pageSize=100", w.keys["a/owner"], nil)
			if r.Status != 200 {
				t.Fatalf("audit: %d", r.Status)
			}
			noSecret(t, "the audit log", r.Body, plantedSecret, replaced)
			noSecret(t, "the logs", []byte(w.env.Logs()), plantedSecret, replaced)

			// At rest: not in the database files / dump.
			switch kind {
			case "sqlite":
				files, _ := filepath.Glob(filepath.Join(w.env.App.Config.Server.DataDir, "*.db*"))
				if len(files) == 0 {
					t.Fatal("no database file found")
				}
				for _, f := range files {
					b, err := os.ReadFile(f)
					if err != nil {
						t.Fatal(err)
					}
					noSecret(t, f, b, plantedSecret, replaced)
				}
			case "postgres":
				noSecret(t, "pg_dump", pgDump(t, w.env.App.Config.ConnectionStrings.Komand), plantedSecret, replaced)
			}
		})
	}
}

// pgDump returns a plain-SQL dump of the database at dsn.
func pgDump(t *testing.T, dsn string) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(found) == 0 {
			t.Fatal("pg_dump not found (install postgresql-client)")
		}
		bin = found[len(found)-1]
	}
	out, err := exec.Command(bin, "--data-only", "--dbname="+dsn).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	if !bytes.Contains(out, []byte("komand_credentials")) {
		t.Fatal("the dump does not hold the credentials table")
	}
	return out
}
