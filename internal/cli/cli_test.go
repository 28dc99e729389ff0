package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/store/sqlite"
)

func testEnv(t *testing.T, stdin string) (*env, *bytes.Buffer, *bytes.Buffer) {
	var out, errb bytes.Buffer
	return &env{
		stdin:        strings.NewReader(stdin),
		stdout:       &out,
		stderr:       &errb,
		environ:      []string{"Jwt__SecretKey=" + strings.Repeat("k", 40), "RateLimits__ApiPermitLimit=1000", "Sandbox__CacheDir=" + sandboxtest.CompileCacheDir(t)},
		wasmCacheDir: sandboxtest.CompileCacheDir(t),
	}, &out, &errb
}

func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	e, out, errb := testEnv(t, stdin)
	code := run(e, args)
	return code, out.String(), errb.String()
}

func TestHelpForEveryCommand(t *testing.T) {
	cmds := [][]string{
		{"--help"}, {"serve", "--help"}, {"tenants", "--help"}, {"tenants", "create", "--help"},
		{"tenants", "list", "--help"}, {"users", "--help"}, {"users", "create", "--help"}, {"users", "reactivate", "--help"},
		{"apikeys", "--help"}, {"apikeys", "create", "--help"}, {"apikeys", "list", "--help"}, {"apikeys", "revoke", "--help"}, {"audit", "--help"},
		{"audit", "verify", "--help"}, {"healthcheck", "--help"}, {"version", "--help"},
		{"credentials", "--help"}, {"credentials", "create", "--help"}, {"vault", "--help"}, {"vault", "rotate-kek", "--help"},
		{"config", "--help"}, {"config", "check", "--help"},
	}
	for _, c := range cmds {
		t.Run(strings.Join(c, "_"), func(t *testing.T) {
			code, _, stderr := runCLI(t, "", c...)
			if code != 0 || !strings.Contains(stderr, "Usage") {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
		})
	}
	if code, _, _ := runCLI(t, "", "bogus"); code != exitUsage {
		t.Fatalf("unknown command exit %d", code)
	}
	if code, out, _ := runCLI(t, "", "version"); code != 0 || !strings.HasPrefix(out, "komand ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

// TestAdminFlowAndTamperDetection bootstraps a tenant from the CLI, then
// edits an audit row in the database file and expects audit verify to fail.
func TestAdminFlowAndTamperDetection(t *testing.T) {
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	if code, out, errs := runCLI(t, "", "tenants", "create", "acme", dd, "--name", "Acme"); code != 0 || !strings.Contains(out, "created tenant acme") {
		t.Fatalf("tenants create: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "", "tenants", "create", "acme", dd); code != exitFail || !strings.Contains(errs, "already exists") {
		t.Fatalf("duplicate tenant: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "tenants", "create", "../etc", dd); code != exitFail || !strings.Contains(errs, "slug") {
		t.Fatalf("bad slug: %d %q", code, errs)
	}
	if code, _, _ := runCLI(t, "", "users", "create", "--tenant", "acme", "--email", "a@b.co", "--role", "owner", dd); code != exitUsage {
		t.Fatalf("users create without --password-stdin: exit %d", code)
	}
	if code, out, errs := runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "Boss@Example.com", "--role", "owner", "--password-stdin", dd); code != 0 || !strings.Contains(out, "boss@example.com") {
		t.Fatalf("users create: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "short\n", "users", "create", "--tenant", "acme", "--email", "x@example.com", "--role", "viewer", "--password-stdin", dd); code != exitFail || !strings.Contains(errs, "password") {
		t.Fatalf("weak password: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "x@example.com", "--role", "root", "--password-stdin", dd); code != exitFail || !strings.Contains(errs, "role") {
		t.Fatalf("bad role: %d %q", code, errs)
	}
	code, key, errs := runCLI(t, "", "apikeys", "create", "--tenant", "acme", "--email", "boss@example.com", "--name", "ci", dd)
	if code != 0 || !strings.HasPrefix(key, "kmd_") || strings.Contains(errs, strings.TrimSpace(key)) {
		t.Fatalf("apikeys create: %d %q %q", code, key, errs)
	}
	if code, out, errs := runCLI(t, "", "audit", "verify", dd); code != 0 || !strings.Contains(out, "acme: ok (3 entries)") {
		t.Fatalf("audit verify: %d %q %q", code, out, errs)
	}

	st, err := sqlite.Open(context.Background(), filepath.Join(dir, "komand.db"))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`DROP TRIGGER komand_audit_log_no_update`,
		`UPDATE komand_audit_log SET details = '{"email":"someone@else.com"}' WHERE action = 'UserCreated'`,
	} {
		if _, err := st.DB().Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	st.Close()
	code, out, _ := runCLI(t, "", "audit", "verify", "--tenant", "acme", dd)
	if code != exitFail || !strings.Contains(out, "acme: BROKEN at seq 2") {
		t.Fatalf("tampered verify: %d %q", code, out)
	}
}

// TestServeHealthcheckAndGracefulShutdown runs serve in-process, checks it
// with healthcheck, makes an audited change, stops it and finds the entry.
func TestServeHealthcheckAndGracefulShutdown(t *testing.T) {
	dir := t.TempDir()
	dd := "--data-dir=" + dir
	runCLI(t, "", "tenants", "create", "acme", dd)
	runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "o@example.com", "--role", "owner", "--password-stdin", dd)
	_, key, _ := runCLI(t, "", "apikeys", "create", "--tenant", "acme", "--email", "o@example.com", "--name", "k", dd)
	key = strings.TrimSpace(key)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	e, _, errb := testEnv(t, "")
	e.ctx = ctx
	ready := make(chan string, 1)
	e.onReady = func(addr string) { ready <- addr }
	done := make(chan int, 1)
	go func() { done <- run(e, []string{"serve", dd, "--addr", "127.0.0.1:0"}) }()
	var addr string
	select {
	case addr = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errb.String())
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not become ready")
	}
	if code, out, errs := runCLI(t, "", "healthcheck", "--url", "http://"+addr+"/health"); code != 0 || out != "ok\n" {
		t.Fatalf("healthcheck: %d %q %q", code, out, errs)
	}
	req, _ := http.NewRequest("POST", "http://"+addr+"/api/agents/", strings.NewReader(`{"agentId":"support","name":"Support"}`))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 201 {
		t.Fatalf("create agent: %d", resp.StatusCode)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Fatalf("serve exit %d: %s", code, errb.String())
	}
	if code, _, _ := runCLI(t, "", "healthcheck", "--url", "http://"+addr+"/health", "--timeout", "1s"); code != exitFail {
		t.Fatal("healthcheck succeeded against a stopped server")
	}
	code, out, _ := runCLI(t, "", "audit", "verify", "--tenant", "acme", dd)
	if code != 0 || !strings.Contains(out, "acme: ok (4 entries)") {
		t.Fatalf("after shutdown: %d %q", code, out)
	}
	if strings.Contains(errb.String(), key) {
		t.Fatal("the API key appears in the server log")
	}
}
