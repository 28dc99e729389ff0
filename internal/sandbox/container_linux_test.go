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
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"

	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// backend is one container runtime under test: the bubblewrap runtime
// or the Docker Engine backend. Every test of this file runs the same
// hostile table against each.
type backend struct {
	name string
	rt   sandbox.ContainerRuntime
	tmp  string
	// leftovers counts what an execution left behind in the engine.
	leftovers func() (int, error)
}

// forEachBackend runs fn once per container runtime, as a subtest named
// after it. A runtime this host cannot provide is skipped and says why:
// bubblewrap needs bwrap, cgroups and root; Docker a reachable engine.
// KOMAND_TEST_REQUIRE_CONTAINER (bubblewrap) and KOMAND_TEST_REQUIRE_DOCKER
// (Docker), both set by CI, make that a failure instead.
func forEachBackend(t *testing.T, egress *egress.Broker, fn func(t *testing.T, b backend)) {
	for _, name := range []string{"bubblewrap", "docker"} {
		t.Run(name, func(t *testing.T) { fn(t, newBackend(t, name, egress)) })
	}
}

func newBackend(t *testing.T, name string, egress *egress.Broker) backend {
	t.Helper()
	// The per-execution directories are bound from here, so the sandbox
	// user must be able to reach it (t.TempDir's parents are 0700).
	tmp, err := os.MkdirTemp("", "komand-ctr-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(tmp) })
	os.Chmod(tmp, 0o711)
	b := backend{name: name, tmp: tmp, leftovers: func() (int, error) { return 0, nil }}
	var require string
	switch name {
	case "bubblewrap":
		require = "KOMAND_TEST_REQUIRE_CONTAINER"
		var c *sandbox.Container
		if c, err = sandbox.NewContainer(sandbox.ContainerOptions{TempDir: tmp, Egress: egress}); err == nil {
			b.rt = c
		}
	case "docker":
		require = "KOMAND_TEST_REQUIRE_DOCKER"
		var d *sandbox.Docker
		if d, err = sandbox.NewDocker(context.Background(), sandbox.DockerOptions{TempDir: tmp, Egress: egress}); err == nil {
			t.Cleanup(func() { d.Close() })
			b.rt, b.leftovers = d, func() (int, error) { return sandbox.DockerContainers(d) }
		}
	}
	var ue *sandbox.ErrContainerUnavailable
	if errors.As(err, &ue) {
		if os.Getenv(require) != "" {
			t.Fatalf("%s is set but %v", require, err)
		}
		t.Skipf("%v (set %s=1 to fail instead of skipping)", err, require)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runNative(t *testing.T, b backend, ex sandbox.Exec, lim sandbox.ContainerLimits, mode, arg string, n int64) (sandbox.Outcome, hostileOut) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"mode": mode, "arg": arg, "bytes": n})
	ex.Input = in
	out := b.rt.Run(context.Background(), sandboxtest.BuildNative(t, "./internal/sandbox/testdata/hostile-native"), ex, lim)
	var h hostileOut
	if !out.Failed() {
		if err := json.Unmarshal(out.Output, &h); err != nil {
			t.Fatalf("%s: output %q (stderr %q): %v", mode, out.Output, out.Stderr, err)
		}
	}
	if es, _ := os.ReadDir(b.tmp); len(es) != 0 {
		t.Fatalf("%s: %d per-execution directories left behind", mode, len(es))
	}
	if n, err := b.leftovers(); err != nil || n != 0 {
		t.Fatalf("%s: %d containers left behind (%v)", mode, n, err)
	}
	return out, h
}

func TestContainerConfinement(t *testing.T) {
	t.Setenv("KOMAND_TEST_SECRET_ENV", "s3cr3t-env-value")
	root := sandboxtest.ModuleRoot(t)
	forEachBackend(t, nil, func(t *testing.T, b backend) {
		none := sandbox.ContainerLimits{}
		run := func(mode, arg string, n int64) (sandbox.Outcome, hostileOut) {
			return runNative(t, b, sandbox.Exec{}, none, mode, arg, n)
		}
		if out, h := run("echo", "hello", 0); out.Failed() || h.Data != "hello" {
			t.Fatalf("echo: %+v %q", out, out.Stderr)
		}
		// A script runs too, through the host's /usr (its /bin/sh).
		script := []byte("#!/bin/sh\nread -r line\necho \"{\\\"uid\\\": $(id -u), \\\"in\\\": $line}\"\n")
		if out := b.rt.Run(context.Background(), script, sandbox.Exec{Input: []byte(`{"a":1}` + "\n")}, none); out.Failed() ||
			strings.TrimSpace(string(out.Output)) != `{"uid": 65534, "in": {"a":1}}` {
			t.Fatalf("script: %+v %q", out, out.Stderr)
		}
		// Who it runs as: nobody, no capabilities, no_new_privs, seccomp on.
		_, h := run("status", "", 0)
		for _, want := range []string{"Uid: 65534 65534 65534 65534", "Gid: 65534 65534 65534 65534", "CapEff: 0000000000000000",
			"CapBnd: 0000000000000000", "NoNewPrivs: 1", "Seccomp: 2"} {
			if !strings.Contains(h.Data, want) {
				t.Fatalf("status %q lacks %q", h.Data, want)
			}
		}
		for _, p := range []string{"/etc/passwd", "/etc/shadow", "/root/.ssh/id_rsa", "/tmp/../etc/passwd", "../../etc/hostname", "/home"} {
			if _, h := run("read", p, 0); h.OK {
				t.Fatalf("read %q: %q", p, h.Data)
			}
		}
		// The sandbox's PID 1 (bwrap, or the skill itself under Docker)
		// has nothing of the host's environment: no variable, no path.
		if _, h := run("read", "/proc/1/environ", 0); strings.Contains(h.Data, "KOMAND_TEST") || strings.Contains(h.Data, root) || strings.Contains(h.Data, "s3cr3t") {
			t.Fatalf("/proc/1/environ: %q", h.Data)
		}
		// Not even beside the broker's socket: that directory is on the
		// host's disk, outside the memory-charged /tmp.
		for _, p := range []string{"/usr/komand-pwned", "/komand-pwned", "/skill/main", "/etc/komand-pwned", "/run/komand/fill", "/run/komand/komand.sock"} {
			if _, h := run("write", p, 0); h.OK {
				t.Fatalf("wrote %q", p)
			}
		}
		// The root is mounted read-only, not merely unwritable by nobody.
		if _, h := run("read", "/proc/self/mounts", 0); !rootReadOnly(h.Data) {
			t.Fatalf("/ is not mounted read-only: %q", h.Data)
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
	})
}

// rootReadOnly says whether /proc/self/mounts mounts / read-only.
func rootReadOnly(mounts string) bool {
	ro := false
	for _, l := range strings.Split(mounts, "\n") {
		// device mountpoint type options ...; the last mount of / wins.
		if f := strings.Fields(l); len(f) >= 4 && f[1] == "/" {
			ro = slices.Contains(strings.Split(f[3], ","), "ro")
		}
	}
	return ro
}

func TestContainerLimits(t *testing.T) {
	forEachBackend(t, nil, func(t *testing.T, b backend) {
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
				out, _ := runNative(t, b, tc.ex, tc.lim, tc.mode, "", tc.n)
				if out.Reason != tc.reason {
					t.Fatalf("reason %q (%s; stderr %q), want %q", out.Reason, out.Message, out.Stderr, tc.reason)
				}
			})
		}
		// Fork: the process limit holds (a fork bomb stops at pids.max).
		_, h := runNative(t, b, sandbox.Exec{}, sandbox.ContainerLimits{MaxPIDs: 16}, "fork", "", 200)
		if h.OK || h.Data == "" || h.Data == "200" {
			t.Fatalf("fork: started %q of 200 with pids.max 16", h.Data)
		}
		// Within the limits it works.
		if out, h := runNative(t, b, sandbox.Exec{MemoryBytes: 256 << 20}, sandbox.ContainerLimits{}, "alloc", "", 64<<20); out.Failed() || !h.OK {
			t.Fatalf("alloc within the limit: %+v %q", out, out.Stderr)
		}
	})
}

func TestContainerBroker(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "hello from api") }))
	defer srv.Close()
	egress := egress.New(egress.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	forEachBackend(t, egress, func(t *testing.T, b backend) {
		host := &testHost{creds: map[string]string{"api-key": "granted-value-123"}}
		granted := sandbox.Exec{AllowedHosts: []string{"127.0.0.1", "169.254.169.254"}, Host: host, Config: map[string]string{"region": "eu"}}
		none := sandbox.ContainerLimits{}
		out, h := runNative(t, b, granted, none, "broker-http", srv.URL+"/", 0)
		if !h.OK || !strings.Contains(h.Data, "hello from api") || len(out.Network) != 1 {
			t.Fatalf("brokered fetch: %+v %+v", h, out.Network)
		}
		if _, h := runNative(t, b, granted, none, "broker-http", "http://169.254.169.254/latest/meta-data/", 0); h.OK || !strings.Contains(h.Data, "metadata") {
			t.Fatalf("metadata through the broker: %+v", h)
		}
		if _, h := runNative(t, b, sandbox.Exec{Host: host}, none, "broker-http", srv.URL+"/", 0); h.OK || !strings.Contains(h.Data, "no network:outbound") {
			t.Fatalf("fetch without permission: %+v", h)
		}
		if _, h := runNative(t, b, granted, none, "broker-credential", "api-key", 0); !h.OK || !strings.Contains(h.Data, "granted-value-123") {
			t.Fatalf("granted credential: %+v", h)
		}
		if _, h := runNative(t, b, granted, none, "broker-credential", "other", 0); h.OK || strings.Contains(h.Data, "value\"") {
			t.Fatalf("other credential: %+v", h)
		}
		if _, h := runNative(t, b, granted, none, "broker-config", "region", 0); !h.OK || !strings.Contains(h.Data, `"eu"`) {
			t.Fatalf("config: %+v", h)
		}
	})
}

// TestDockerUnavailable: selecting Docker without a usable engine is a
// clear start-up error, never a fallback.
func TestDockerUnavailable(t *testing.T) {
	for _, host := range []string{"unix:///nonexistent/docker.sock", "tcp://127.0.0.1:2375"} {
		_, err := sandbox.NewDocker(context.Background(), sandbox.DockerOptions{Host: host, TempDir: os.TempDir()})
		var ue *sandbox.ErrContainerUnavailable
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), host) {
			t.Fatalf("%s: %v", host, err)
		}
	}
}

// TestDockerSweep: start-up removes sandbox containers past their
// deadline (left by a server that died mid-execution) and leaves a live
// one (another replica's, or one a server that just restarted left
// running) until its deadline, when it is removed: a container does not
// die with the server that started it, and no later sweep would see it.
func TestDockerSweep(t *testing.T) {
	b := newBackend(t, "docker", nil)
	cli, err := client.New(client.WithHost(sandbox.DefaultDockerHost))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	plant := func(deadline time.Time) string {
		c, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{
			Image: sandbox.DockerImage(b.rt.(*sandbox.Docker)), Cmd: []string{"/usr/bin/true"},
			Labels: map[string]string{sandbox.DockerLabel: "skill", sandbox.DockerDeadlineLabel: strconv.FormatInt(deadline.Unix(), 10)},
		}, HostConfig: &container.HostConfig{NetworkMode: "none", Mounts: []mount.Mount{{Type: mount.TypeBind, Source: "/usr", Target: "/usr", ReadOnly: true}}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true}) })
		return c.ID
	}
	deadline := time.Now().Add(time.Hour).Truncate(time.Second)
	expired, live := plant(time.Now().Add(-time.Minute)), plant(deadline)
	removals := map[string]time.Time{}
	d, err := sandbox.NewDockerRecordingRemovals(ctx, sandbox.DockerOptions{TempDir: b.tmp}, removals)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if at, ok := removals[live]; !ok || !at.Equal(deadline) {
		t.Fatalf("the live container's removal is not scheduled at its deadline %v: %v (%v)", deadline, at, ok)
	}
	if _, ok := removals[expired]; ok {
		t.Fatal("the expired container was scheduled instead of removed")
	}
	if _, err := cli.ContainerInspect(ctx, expired, client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Fatalf("expired container still there: %v", err)
	}
	if _, err := cli.ContainerInspect(ctx, live, client.ContainerInspectOptions{}); err != nil {
		t.Fatalf("live container removed: %v", err)
	}
}
