package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// newContainer returns the container runtime, or skips when this host
// cannot run it (no bwrap, no cgroups, not root) — unless
// KOMAND_TEST_REQUIRE_CONTAINER is set (CI), which makes that a failure.
func newContainer(t *testing.T, egress *sandbox.Egress) (*sandbox.Container, string) {
	t.Helper()
	// The per-execution directories are bound from here, so the sandbox
	// user must be able to reach it (t.TempDir's parents are 0700).
	tmp, err := os.MkdirTemp("", "komand-ctr-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o711)
	c, err := sandbox.NewContainer(sandbox.ContainerOptions{TempDir: tmp, Egress: egress})
	var ue *sandbox.ErrContainerUnavailable
	if errors.As(err, &ue) {
		if os.Getenv("KOMAND_TEST_REQUIRE_CONTAINER") != "" {
			t.Fatalf("KOMAND_TEST_REQUIRE_CONTAINER is set but %v", err)
		}
		t.Skipf("%v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	return c, tmp
}

func runNative(t *testing.T, c *sandbox.Container, tmp string, ex sandbox.Exec, lim sandbox.ContainerLimits, mode, arg string, n int64) (sandbox.Outcome, hostileOut) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"mode": mode, "arg": arg, "bytes": n})
	ex.Input = in
	out := c.Run(context.Background(), sandboxtest.BuildNative(t, "./internal/sandbox/testdata/hostile-native"), ex, lim)
	var h hostileOut
	if !out.Failed() {
		if err := json.Unmarshal(out.Output, &h); err != nil {
			t.Fatalf("%s: output %q (stderr %q): %v", mode, out.Output, out.Stderr, err)
		}
	}
	if es, _ := os.ReadDir(tmp); len(es) != 0 {
		t.Fatalf("%s: %d per-execution directories left behind", mode, len(es))
	}
	return out, h
}

func TestContainerConfinement(t *testing.T) {
	t.Setenv("KOMAND_TEST_SECRET_ENV", "s3cr3t-env-value")
	c, tmp := newContainer(t, nil)
	none := sandbox.ContainerLimits{}
	run := func(mode, arg string, n int64) (sandbox.Outcome, hostileOut) {
		return runNative(t, c, tmp, sandbox.Exec{}, none, mode, arg, n)
	}
	if out, h := run("echo", "hello", 0); out.Failed() || h.Data != "hello" {
		t.Fatalf("echo: %+v %q", out, out.Stderr)
	}
	// Who it runs as: nobody, no capabilities, no_new_privs, seccomp on.
	_, h := run("status", "", 0)
	for _, want := range []string{"Uid: 65534", "CapEff: 0000000000000000", "CapBnd: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"} {
		if !strings.Contains(h.Data, want) {
			t.Fatalf("status %q lacks %q", h.Data, want)
		}
	}
	for _, p := range []string{"/etc/passwd", "/etc/shadow", "/root/.ssh/id_rsa", "/tmp/../etc/passwd", "../../etc/hostname", "/home"} {
		if _, h := run("read", p, 0); h.OK {
			t.Fatalf("read %q: %q", p, h.Data)
		}
	}
	// The sandbox's init (bwrap) has an empty environment: no host variable
	// or path.
	if _, h := run("read", "/proc/1/environ", 0); strings.Contains(h.Data, "KOMAND") || strings.Contains(h.Data, "/work") || strings.Contains(h.Data, "s3cr3t") {
		t.Fatalf("/proc/1/environ: %q", h.Data)
	}
	for _, p := range []string{"/usr/komand-pwned", "/komand-pwned", "/skill/main"} {
		if _, h := run("write", p, 0); h.OK {
			t.Fatalf("wrote %q", p)
		}
	}
	if _, h := run("write", "/tmp/ok", 0); !h.OK {
		t.Fatalf("/tmp not writable: %s", h.Err)
	}
	if _, h := run("env", "", 0); strings.Contains(h.Data, "s3cr3t") || strings.Contains(h.Data, "KOMAND_TEST") {
		t.Fatalf("host environment visible: %q", h.Data)
	}
	if _, h := run("interfaces", "", 0); h.Data != "lo" {
		t.Fatalf("interfaces %q, want only lo", h.Data)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, h := run("socket", ln.Addr().String(), 0); h.OK {
		t.Fatal("reached a host socket")
	}
	if _, h := run("socket", "1.1.1.1:53", 0); h.OK {
		t.Fatal("reached the internet")
	}
	if _, h := run("dns", "example.com", 0); h.OK {
		t.Fatalf("resolved a name: %q", h.Data)
	}
	if _, h := run("syscalls", "", 0); !h.OK {
		t.Fatalf("privileged syscalls succeeded: %s", h.Data)
	}
}

func TestContainerLimits(t *testing.T) {
	c, tmp := newContainer(t, nil)
	cases := []struct {
		name   string
		ex     sandbox.Exec
		lim    sandbox.ContainerLimits
		mode   string
		n      int64
		reason sandbox.Reason
	}{
		{"allocate 4 GiB", sandbox.Exec{MemoryBytes: 128 << 20}, sandbox.ContainerLimits{}, "alloc", 4 << 30, sandbox.ReasonMemory},
		{"spin forever", sandbox.Exec{Timeout: 500 * time.Millisecond}, sandbox.ContainerLimits{}, "spin", 0, sandbox.ReasonTimeout},
		{"100 MB to stdout", sandbox.Exec{}, sandbox.ContainerLimits{}, "stdout", 100 << 20, sandbox.ReasonOutputLimit},
		{"exit 3", sandbox.Exec{}, sandbox.ContainerLimits{}, "exit", 0, sandbox.ReasonExit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := runNative(t, c, tmp, tc.ex, tc.lim, tc.mode, "", tc.n)
			if out.Reason != tc.reason {
				t.Fatalf("reason %q (%s; stderr %q), want %q", out.Reason, out.Message, out.Stderr, tc.reason)
			}
		})
	}
	// Fork: the process limit holds (a fork bomb stops at pids.max).
	_, h := runNative(t, c, tmp, sandbox.Exec{}, sandbox.ContainerLimits{MaxPIDs: 16}, "fork", "", 200)
	if h.OK || h.Data == "" || h.Data == "200" {
		t.Fatalf("fork: started %q of 200 with pids.max 16", h.Data)
	}
	// Within the limits it works.
	if out, h := runNative(t, c, tmp, sandbox.Exec{MemoryBytes: 256 << 20}, sandbox.ContainerLimits{}, "alloc", "", 64<<20); out.Failed() || !h.OK {
		t.Fatalf("alloc within the limit: %+v %q", out, out.Stderr)
	}
}

func TestContainerBroker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from api") }))
	defer srv.Close()
	c, tmp := newContainer(t, sandbox.NewEgress(sandbox.EgressOptions{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}))
	host := &testHost{creds: map[string]string{"api-key": "granted-value-123"}}
	granted := sandbox.Exec{AllowedHosts: []string{"127.0.0.1", "169.254.169.254"}, Host: host, Config: map[string]string{"region": "eu"}}
	none := sandbox.ContainerLimits{}
	out, h := runNative(t, c, tmp, granted, none, "broker-http", srv.URL+"/", 0)
	if !h.OK || !strings.Contains(h.Data, "hello from api") || len(out.Network) != 1 {
		t.Fatalf("brokered fetch: %+v %+v", h, out.Network)
	}
	if _, h := runNative(t, c, tmp, granted, none, "broker-http", "http://169.254.169.254/latest/meta-data/", 0); h.OK || !strings.Contains(h.Data, "metadata") {
		t.Fatalf("metadata through the broker: %+v", h)
	}
	if _, h := runNative(t, c, tmp, sandbox.Exec{Host: host}, none, "broker-http", srv.URL+"/", 0); h.OK || !strings.Contains(h.Data, "no network:outbound") {
		t.Fatalf("fetch without permission: %+v", h)
	}
	if _, h := runNative(t, c, tmp, granted, none, "broker-credential", "api-key", 0); !h.OK || !strings.Contains(h.Data, "granted-value-123") {
		t.Fatalf("granted credential: %+v", h)
	}
	if _, h := runNative(t, c, tmp, granted, none, "broker-credential", "other", 0); h.OK || strings.Contains(h.Data, "value\"") {
		t.Fatalf("other credential: %+v", h)
	}
	if _, h := runNative(t, c, tmp, granted, none, "broker-config", "region", 0); !h.OK || !strings.Contains(h.Data, `"eu"`) {
		t.Fatalf("config: %+v", h)
	}
}
