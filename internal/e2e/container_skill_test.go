package e2e_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// TestContainerSkillEndToEnd registers a native program as a container
// skill, installs it and lets the agent call it: confined like the WASM
// skills, with its limits from the contract, on each container backend
// (bubblewrap, and Docker when an engine is reachable).
func TestContainerSkillEndToEnd(t *testing.T) {
	t.Parallel()
	for _, backend := range []string{"bubblewrap", "docker"} {
		t.Run(backend, func(t *testing.T) { testContainerSkill(t, backend) })
	}
}

// containerBackendOrSkip skips unless this host can run backend (failing
// instead when CI requires it).
func containerBackendOrSkip(t *testing.T, backend, tmp string) {
	t.Helper()
	var err error
	require := "KOMAND_TEST_REQUIRE_CONTAINER"
	if backend == "docker" {
		require = "KOMAND_TEST_REQUIRE_DOCKER"
		var d *sandbox.Docker
		if d, err = sandbox.NewDocker(context.Background(), sandbox.DockerOptions{TempDir: tmp}); err == nil {
			d.Close()
		}
	} else {
		_, err = sandbox.NewContainer(sandbox.ContainerOptions{TempDir: tmp})
	}
	if err != nil {
		var ue *sandbox.ErrContainerUnavailable
		if errors.As(err, &ue) && os.Getenv(require) == "" {
			t.Skipf("%v (set %s=1 to fail instead of skipping)", err, require)
		}
		t.Fatal(err)
	}
}

func testContainerSkill(t *testing.T, backend string) {
	tmp, err := os.MkdirTemp("", "komand-gw-ctr-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o711)
	containerBackendOrSkip(t, backend, tmp)
	program := sandboxtest.BuildNative(t, "./internal/sandbox/testdata/hostile-native")
	forEachStore(t, func(t *testing.T, kind string) {
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		w := newProviderWorld(t, kind, func(c *config.Config) {
			c.Skills.TrustedPublishers = "komand-official=" + base64.StdEncoding.EncodeToString(pub)
			c.Sandbox.Container, c.Sandbox.TempDir = backend, tmp
		}, textReply("hi"))
		env := w.env
		owner := env.APIKey(w.tenant, env.User(w.tenant, "owner@example.com", "owner"))
		if r := env.Do("PUT", "/api/tenant/skill-policy", owner, map[string]any{"allowUnsigned": true}); r.Status != 200 {
			t.Fatalf("policy: %d %s", r.Status, r.Body)
		}
		pkg := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) {
			hostileContract(map[string]any{"timeoutSeconds": 5, "memoryMb": 128, "maxProcesses": 8}, []string{"network:outbound:169.254.169.254"})(c)
			c["skillId"], c["runtime"] = "native-probe", "container"
		}, program, nil)
		if r := env.Do("POST", "/api/skills/", w.admin, pkg); r.Status != 201 {
			t.Fatalf("register: %d %s", r.Status, r.Body)
		}
		// A container skill whose program is not an executable is refused.
		bad := pack(t, "examples/skills/quote-builder/skill.json", func(c map[string]any) {
			c["runtime"], c["version"] = "container", "9.0.0"
		}, []byte("just text"), priv)
		expectError(t, env.Do("POST", "/api/skills/", w.admin, bad), 400, "validation_failed")
		if r := env.Do("PUT", "/api/agents/default/skills/native-probe", w.admin, map[string]any{
			"grantedPermissions": []string{"network:outbound:169.254.169.254"}}); r.Status != 200 {
			t.Fatalf("install: %d %s", r.Status, r.Body)
		}
		// The probes are turns of one conversation: each reads the last
		// one's output, so this agent must be allowed to chain a network
		// skill's calls without confirmation (TestTaintAcrossTurns).
		w.setPolicy(t, `{"agents":{"default":{"allowConsequentialTools":true}}}`)
		probe := func(mode, arg string, n int64) string {
			args, _ := json.Marshal(map[string]any{"mode": mode, "arg": arg, "bytes": n})
			w.fake.reset(toolReply("n", "native-probe", string(args)), textReply("ok"))
			r := w.send(t, "probe "+mode)
			if r.Status != 200 || len(w.fake.requests) != 2 {
				t.Fatalf("%s: %d %s (model called %d times)", mode, r.Status, r.Body, len(w.fake.requests))
			}
			return lastToolMessage(t, w.fake.requests[1])
		}
		if m := probe("status", "", 0); !strings.Contains(m, "Uid: 65534") || !strings.Contains(m, "Seccomp: 2") {
			t.Fatalf("status: %s", m)
		}
		if m := probe("read", "/etc/passwd", 0); strings.Contains(m, "root:") || !strings.Contains(m, `"ok":false`) {
			t.Fatalf("passwd: %s", m)
		}
		if m := probe("fork", "", 100); !strings.Contains(m, `"ok":false`) {
			t.Fatalf("fork bomb not limited by maxProcesses: %s", m)
		}
		if m := probe("broker-http", "http://169.254.169.254/latest/meta-data/", 0); !strings.Contains(m, `"ok":false`) || !strings.Contains(m, "metadata") {
			t.Fatalf("metadata via the broker: %s", m)
		}
		probe("alloc", "", 1<<30)
		e := assertFailed(t, &skillWorld{providerWorld: w}, "native-probe", "memory")
		if !strings.Contains(e, `"runtime":"container"`) {
			t.Fatalf("runtime not in the audit details: %s", e)
		}
	})
}
