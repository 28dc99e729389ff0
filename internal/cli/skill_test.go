package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// TestSkillPublisherFlow: keygen, pack (signed), verify against the
// trusted key and against none, tamper, run in the sandbox (success, a
// timeout, a missing grant), then register, search, info and install on a
// data dir, with the consent step.
func TestSkillPublisherFlow(t *testing.T) {
	dir := t.TempDir()
	root := sandboxtest.ModuleRoot(t)
	quote := filepath.Join(dir, "quote.wasm")
	os.WriteFile(quote, sandboxtest.BuildGo(t, "./examples/skills/quote-builder"), 0o644)
	hostile := filepath.Join(dir, "hostile.wasm")
	os.WriteFile(hostile, sandboxtest.BuildGo(t, "./internal/sandbox/testdata/hostile"), 0o644)
	fetch := filepath.Join(dir, "fetch.wasm")
	os.WriteFile(fetch, sandboxtest.BuildGo(t, "./examples/skills/web-fetch"), 0o644)
	key := filepath.Join(dir, "publisher.key")

	code, out, errs := runCLI(t, "", "skill", "keygen", "--out", key, "--publisher", "komand-official")
	trusted, ok := strings.CutPrefix(strings.TrimSpace(out), "Skills__TrustedPublishers=")
	if code != 0 || !ok {
		t.Fatalf("keygen: %d %q %q", code, out, errs)
	}
	if fi, err := os.Stat(key); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, fi)
	}
	if code, _, _ := runCLI(t, "", "skill", "keygen", "--out", key, "--publisher", "komand-official"); code != exitFail {
		t.Fatal("keygen overwrote an existing key")
	}

	pkg := filepath.Join(dir, "quote.kskill")
	code, out, errs = runCLI(t, "", "skill", "pack", "--contract", filepath.Join(root, "examples/skills/quote-builder/skill.json"),
		"--module", quote, "--key", key, "--out", pkg)
	if code != 0 || !strings.Contains(out, "signed by ed25519:") {
		t.Fatalf("pack: %d %q %q", code, out, errs)
	}
	if code, out, _ := runCLI(t, "", "skill", "verify", pkg, "--trusted", trusted); code != 0 || !strings.Contains(out, "verified: signed by") {
		t.Fatalf("verify: %d %q", code, out)
	}
	if code, out, _ := runCLI(t, "", "skill", "verify", pkg); code != exitFail || !strings.Contains(out, "NOT VERIFIED") {
		t.Fatalf("verify without trust: %d %q", code, out)
	}
	raw, _ := os.ReadFile(pkg)
	tampered := filepath.Join(dir, "tampered.kskill")
	os.WriteFile(tampered, []byte(strings.Replace(string(raw), `"requiredPermissions":[]`, `"requiredPermissions":["crm:write"]`, 1)), 0o644)
	if code, _, errs := runCLI(t, "", "skill", "verify", tampered, "--trusted", trusted); code != exitFail || !strings.Contains(errs, "does not verify") {
		t.Fatalf("verify tampered: %d %q", code, errs)
	}
	// A module that is not WebAssembly is refused at pack time.
	junk := filepath.Join(dir, "junk.wasm")
	os.WriteFile(junk, []byte("#!/bin/sh\n"), 0o644)
	if code, _, errs := runCLI(t, "", "skill", "pack", "--contract", filepath.Join(root, "examples/skills/quote-builder/skill.json"),
		"--module", junk, "--out", filepath.Join(dir, "junk.kskill")); code != exitFail || !strings.Contains(errs, "invalid skill module") {
		t.Fatalf("pack junk: %d %q", code, errs)
	}

	// Run: the same sandbox, schema checks and output checks as the server.
	code, out, errs = runCLI(t, "", "skill", "run", pkg, "--input", `{"items":[{"sku":"A","quantity":2,"unitPrice":5}]}`, "--setting", "currency=USD")
	if code != 0 || !strings.Contains(out, `"total":10`) || !strings.Contains(out, `"currency":"USD"`) {
		t.Fatalf("run: %d %q %q", code, out, errs)
	}
	if code, _, errs := runCLI(t, "", "skill", "run", pkg, "--input", `{"items":"all of them"}`); code != exitFail || !strings.Contains(errs, "skill failed: schema") {
		t.Fatalf("run with bad input: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "skill", "run", hostile, "--input", `{"mode":"spin"}`, "--timeout", "300ms"); code != exitFail || !strings.Contains(errs, "skill failed: timeout") {
		t.Fatalf("run spin: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "skill", "run", hostile, "--input", `{"mode":"alloc","bytes":1073741824}`, "--memory", "64MiB"); code != exitFail || !strings.Contains(errs, "skill failed: memory") {
		t.Fatalf("run alloc: %d %q", code, errs)
	}
	if code, out, _ := runCLI(t, "", "skill", "run", hostile, "--input", `{"mode":"read","arg":"/etc/passwd"}`); code != 0 || strings.Contains(out, "root:") || !strings.Contains(out, `"ok":false`) {
		t.Fatalf("run passwd: %d %q", code, out)
	}
	fetchPkg := filepath.Join(dir, "fetch.kskill")
	if code, _, errs := runCLI(t, "", "skill", "pack", "--contract", filepath.Join(root, "examples/skills/web-fetch/skill.json"), "--module", fetch, "--out", fetchPkg); code != 0 {
		t.Fatalf("pack web-fetch: %q", errs)
	}
	if code, _, errs := runCLI(t, "", "skill", "run", fetchPkg, "--input", `{"url":"http://169.254.169.254/"}`); code != exitUsage || !strings.Contains(errs, "network:outbound:example.com") {
		t.Fatalf("run without grants: %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", "skill", "run", fetchPkg, "--input", `{"url":"http://169.254.169.254/"}`,
		"--permission", "network:outbound", "--allow-host", "example.com", "--allow-host", "*.example.com"); code != exitFail || !strings.Contains(errs, "refused") {
		t.Fatalf("run to metadata: %d %q", code, errs)
	}

	// Register, search, info, install against a data dir.
	dd := "--data-dir=" + filepath.Join(dir, "data")
	runCLI(t, "", "tenants", "create", "acme", dd)
	runCLI(t, "a long enough password\n", "users", "create", "--tenant", "acme", "--email", "admin@example.com", "--role", "admin", "--password-stdin", dd)
	t.Setenv("Skills__TrustedPublishers", trusted)
	e, outb, errb := testEnv(t, "")
	e.environ = append(e.environ, "Skills__TrustedPublishers="+trusted)
	reg := func(args ...string) (int, string, string) {
		outb.Reset()
		errb.Reset()
		c := run(e, args)
		return c, outb.String(), errb.String()
	}
	actor := []string{"--tenant", "acme", "--email", "admin@example.com", dd}
	if c, o, er := reg(append([]string{"skill", "register", pkg}, actor...)...); c != 0 || !strings.Contains(o, "verified: true") {
		t.Fatalf("register: %d %q %q", c, o, er)
	}
	if c, o, er := reg(append([]string{"skill", "register", tampered}, actor...)...); c != exitFail {
		t.Fatalf("register tampered: %d %q %q", c, o, er)
	}
	if c, o, _ := reg(append([]string{"skill", "search", "quote"}, actor...)...); c != 0 || !strings.Contains(o, "✓ quote-builder") {
		t.Fatalf("search: %d %q", c, o)
	}
	if c, o, _ := reg(append([]string{"skill", "info", "quote-builder"}, actor...)...); c != 0 || !strings.Contains(o, `"signatureHash": "sha256:`) {
		t.Fatalf("info: %d %q", c, o)
	}
	if c, o, er := reg(append([]string{"skill", "register", fetchPkg}, actor...)...); c != exitFail || !strings.Contains(er, "must be signed") {
		t.Fatalf("register unsigned official: %d %q %q", c, o, er)
	}
	// The agent the skill goes on.
	if c, _, er := reg(append([]string{"skill", "install", "quote-builder", "--agent", "default", "--no-permissions"}, actor...)...); c != exitFail || !strings.Contains(er, "agent not found") {
		t.Fatalf("install on a missing agent: %d %q", c, er)
	}
}
