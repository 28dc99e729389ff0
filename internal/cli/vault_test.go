package cli

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/store/sqlite"
	"github.com/komand-ai/komand/internal/vault"
)

// openValue decrypts the tenant's only credential with the keys in the
// data dir (or kek, when set).
func openValue(t *testing.T, dir string, kek []byte) (string, []store.DataKey) {
	t.Helper()
	ctx := context.Background()
	if kek == nil {
		raw, err := os.ReadFile(filepath.Join(dir, "vault.kek"))
		if err != nil {
			t.Fatal(err)
		}
		if kek, err = hex.DecodeString(strings.TrimSpace(string(raw))); err != nil {
			t.Fatal(err)
		}
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ts, _ := st.ListTenants(ctx)
	var tn string
	for _, x := range ts {
		if x.Slug == "acme" {
			tn = x.ID
		}
	}
	cs, _, err := st.ListCredentials(ctx, tn, store.Page{Page: 1, PageSize: 10})
	if err != nil || len(cs) != 1 {
		t.Fatalf("credentials: %v %d", err, len(cs))
	}
	ring, err := vault.NewKeyring(kek)
	if err != nil {
		t.Fatal(err)
	}
	v, err := vault.New(st, ring, nil).Open(ctx, tn, cs[0].ID, cs[0].KeyVersion, cs[0].Ciphertext)
	if err != nil {
		t.Fatalf("the credential does not decrypt with the current KEK alone: %v", err)
	}
	ks, _ := st.DataKeys(ctx, tn)
	return string(v), ks
}

// TestCredentialsCreateAndRotateKEK stores a credential from the CLI, then
// rotates the generated KEK twice and the configured one once; after each
// rotation the credential decrypts with the current KEK alone, and the
// ciphertext is unchanged.
func TestCredentialsCreateAndRotateKEK(t *testing.T) {
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	secret := "sk_live_cli_3b7e19"
	runCLI(t, "", "tenants", "create", "acme", dd)
	runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "admin@example.com", "--role", "admin", "--password-stdin", dd)
	runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "view@example.com", "--role", "viewer", "--password-stdin", dd)

	if code, _, _ := runCLI(t, "", "credentials", "create", "--tenant", "acme", "--email", "admin@example.com", "--name", "stripe", "--type", "api_key", dd); code != exitUsage {
		t.Fatalf("create without --value-stdin: exit %d", code)
	}
	if code, _, errs := runCLI(t, secret+"\n", "credentials", "create", "--tenant", "acme", "--email", "view@example.com", "--name", "stripe", "--type", "api_key", "--value-stdin", dd); code != exitFail || !strings.Contains(errs, "permission") {
		t.Fatalf("a Viewer created a credential: %d %q", code, errs)
	}
	code, out, errs := runCLI(t, secret+"\n", "credentials", "create", "--tenant", "acme", "--email", "admin@example.com", "--name", "stripe", "--type", "api_key", "--value-stdin", dd)
	if code != 0 || !strings.Contains(out, "created credential stripe") || strings.Contains(out+errs, secret) {
		t.Fatalf("credentials create: %d %q %q", code, out, errs)
	}
	v, before := openValue(t, dir, nil)
	if v != secret {
		t.Fatalf("stored value %q", v)
	}
	oldKEK, _ := os.ReadFile(filepath.Join(dir, "vault.kek"))

	code, out, errs = runCLI(t, "", "vault", "rotate-kek", dd)
	if code != 0 || !strings.Contains(out, "re-wrapped 1 data keys") {
		t.Fatalf("rotate-kek: %d %q %q", code, out, errs)
	}
	newKEK, _ := os.ReadFile(filepath.Join(dir, "vault.kek"))
	prev, _ := os.ReadFile(filepath.Join(dir, "vault.kek.previous"))
	if bytes.Equal(oldKEK, newKEK) || !bytes.Contains(prev, bytes.TrimSpace(oldKEK)) {
		t.Fatal("rotate-kek did not replace vault.kek and keep the old key in vault.kek.previous")
	}
	if fi, _ := os.Stat(filepath.Join(dir, "vault.kek.previous")); fi.Mode().Perm() != 0o600 {
		t.Fatalf("vault.kek.previous mode %v", fi.Mode().Perm())
	}
	v, after := openValue(t, dir, nil) // the new KEK alone
	if v != secret || after[0].KEKID == before[0].KEKID || bytes.Equal(after[0].Wrapped, before[0].Wrapped) {
		t.Fatalf("after rotation: value %q, kek %s → %s", v, before[0].KEKID, after[0].KEKID)
	}
	if code, out, _ := runCLI(t, "", "vault", "rotate-kek", dd); code != 0 || !strings.Contains(out, "re-wrapped 1 data keys") {
		t.Fatalf("second generated rotation: %d %q", code, out)
	}
	if err := os.Remove(filepath.Join(dir, "vault.kek.previous")); err != nil {
		t.Fatal(err)
	}
	if v, _ := openValue(t, dir, nil); v != secret {
		t.Fatal("the credential needs a retired KEK")
	}

	// Configured keys: the operator makes a new key current and lists the
	// old one as previous.
	cur, _ := os.ReadFile(filepath.Join(dir, "vault.kek"))
	next := strings.Repeat("5a", 32)
	e, outb, errb := testEnv(t, "")
	e.environ = append(e.environ, "Vault__Kek="+next, "Vault__PreviousKeks="+strings.TrimSpace(string(cur)))
	if code := run(e, []string{"vault", "rotate-kek", dd}); code != 0 || !strings.Contains(outb.String(), "re-wrapped 1 data keys") {
		t.Fatalf("configured rotation: %d %q %q", code, outb, errb)
	}
	nk, _ := hex.DecodeString(next)
	if v, _ := openValue(t, dir, nk); v != secret {
		t.Fatal("after the configured rotation the credential does not open with Vault__Kek")
	}
	if after, _ := os.ReadFile(filepath.Join(dir, "vault.kek")); !bytes.Equal(after, cur) {
		t.Fatal("a configured rotation rewrote the generated key file")
	}
	// Without the previous key configured, a server cannot start reading
	// keys it does not hold: rotation reports it instead of losing data.
	e, _, errb = testEnv(t, "")
	e.environ = append(e.environ, "Vault__Kek="+strings.Repeat("6b", 32))
	if code := run(e, []string{"vault", "rotate-kek", dd}); code != exitFail || !strings.Contains(errb.String(), "not configured") {
		t.Fatalf("rotation without the wrapping KEK: %d %q", code, errb)
	}
}

// TestConfigCheck: secrets in the file are reported (exit 1) with the
// variable to use instead; a DSN without a password and non-secret
// settings are not; key files readable by others are reported.
func TestConfigCheck(t *testing.T) {
	dir := t.TempDir()
	clean := filepath.Join(dir, "clean.json")
	os.WriteFile(clean, []byte(`{"Server": {"Addr": "127.0.0.1:5001"}, "ConnectionStrings": {"Komand": "postgres://komand@db/komand"}}`), 0o600)
	dirty := filepath.Join(dir, "dirty.json")
	os.WriteFile(dirty, []byte(`{"Jwt": {"SecretKey": "`+strings.Repeat("j", 40)+`"},
		"ConnectionStrings": {"Komand": "postgres://komand:hunter2@db/komand"},
		"Providers": {"OpenAI": {"ApiKey": "sk-proj-abc"}},
		"Vault": {"Kek": "`+strings.Repeat("ab", 32)+`"}}`), 0o644)

	e, out, _ := testEnv(t, "")
	e.environ = nil
	if code := run(e, []string{"config", "check", "--config", clean, "--data-dir", dir}); code != 0 || !strings.Contains(out.String(), "ok: no plaintext secrets") {
		t.Fatalf("clean: %d %q", code, out)
	}
	e, out, _ = testEnv(t, "")
	e.environ = nil
	code := run(e, []string{"config", "check", "--config", dirty, "--data-dir", dir})
	got := out.String()
	for _, want := range []string{"Jwt:SecretKey", "Jwt__SecretKey_FILE", "ConnectionStrings:Komand", "Providers:OpenAI:ApiKey", "Vault:Kek", "0644"} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
	for _, leak := range []string{"hunter2", "sk-proj-abc", strings.Repeat("ab", 32)} {
		if strings.Contains(got, leak) {
			t.Fatalf("the report prints a secret: %s", got)
		}
	}
	if code != exitFail {
		t.Fatalf("dirty: exit %d", code)
	}
	os.WriteFile(filepath.Join(dir, "vault.kek"), []byte(strings.Repeat("cd", 32)+"\n"), 0o644)
	e, out, _ = testEnv(t, "")
	e.environ = nil
	if code := run(e, []string{"config", "check", "--config", clean, "--data-dir", dir}); code != exitFail || !strings.Contains(out.String(), "chmod 600") {
		t.Fatalf("open key file: %d %q", code, out)
	}
}
