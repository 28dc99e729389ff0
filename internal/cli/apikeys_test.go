package cli

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

// TestAPIKeysListAndRevoke: the CLI lists a tenant's keys (metadata only)
// and revokes one, which then stops authenticating; APIKeyRevoked names
// actor "cli".
func TestAPIKeysListAndRevoke(t *testing.T) {
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	for _, c := range [][]string{{"tenants", "create", "acme", dd}, {"tenants", "create", "globex", dd}} {
		if code, _, errs := runCLI(t, "", c...); code != 0 {
			t.Fatalf("%v: %d %q", c, code, errs)
		}
	}
	for _, u := range []struct{ tenant, email string }{{"acme", "boss@example.com"}, {"acme", "op@example.com"}, {"globex", "eve@globex.example"}} {
		if code, _, errs := runCLI(t, "a long enough password\n", "users", "create", "--tenant", u.tenant, "--email", u.email, "--role", "owner", "--password-stdin", dd); code != 0 {
			t.Fatalf("users create: %d %q", code, errs)
		}
	}
	key := func(tenant, email, name string) string {
		code, out, errs := runCLI(t, "", "apikeys", "create", "--tenant", tenant, "--email", email, "--name", name, dd)
		if code != 0 {
			t.Fatalf("apikeys create: %d %q", code, errs)
		}
		return strings.TrimSpace(out)
	}
	bossKey, opKey, eveKey := key("acme", "boss@example.com", "ci"), key("acme", "op@example.com", "laptop"), key("globex", "eve@globex.example", "theirs")

	code, out, errs := runCLI(t, "", "apikeys", "list", "--tenant", "acme", dd)
	if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, "boss@example.com") || !strings.Contains(out, `"laptop"`) ||
		!strings.Contains(out, "active") || strings.Contains(out, "globex") {
		t.Fatalf("apikeys list: %d %q %q", code, out, errs)
	}
	for _, secret := range []string{bossKey, opKey, eveKey, authn.HashToken(bossKey)} {
		if strings.Contains(out, secret) {
			t.Fatal("apikeys list shows a key or a hash")
		}
	}
	code, out, _ = runCLI(t, "", "apikeys", "list", "--tenant", "acme", "--email", "op@example.com", dd)
	if code != 0 || strings.Count(out, "\n") != 1 || !strings.Contains(out, "op@example.com") {
		t.Fatalf("apikeys list --email: %d %q", code, out)
	}
	opID := strings.Fields(out)[0]

	// Another tenant's key is not found through this tenant.
	if code, _, errs := runCLI(t, "", "apikeys", "revoke", "--tenant", "globex", opID, dd); code != exitFail || !strings.Contains(errs, "not found") {
		t.Fatalf("revoke through another tenant: %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "apikeys", "revoke", "--tenant", "acme", dd); code != exitUsage {
		t.Fatalf("revoke without an id: exit %d", code)
	}
	if code, out, errs := runCLI(t, "", "apikeys", "revoke", "--tenant", "acme", opID, dd); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("apikeys revoke: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "", "apikeys", "revoke", "--tenant", "acme", opID, dd); code != 0 || !strings.Contains(out, "revoked") {
		t.Fatalf("revoke again: %d %q", code, out)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	tid, _ := st.TenantIDByAPIKeyHash(ctx, authn.HashToken(opKey))
	if _, _, err := st.AuthenticateAPIKey(ctx, tid, authn.HashToken(opKey)); err == nil {
		t.Fatal("revoked key still authenticates")
	}
	if _, _, err := st.AuthenticateAPIKey(ctx, tid, authn.HashToken(bossKey)); err != nil {
		t.Fatalf("other key: %v", err)
	}
	evs, n, err := st.ListAudit(ctx, tid, store.AuditFilter{Action: "APIKeyRevoked"}, store.Page{Page: 1, PageSize: 10})
	if err != nil || n != 1 || evs[0].ActorID != "cli" {
		t.Fatalf("APIKeyRevoked entries: %d %+v %v", n, evs, err)
	}
}
