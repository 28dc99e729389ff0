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
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/egress"
	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

const hostilePkg = "./internal/sandbox/testdata/hostile"

type hostileOut struct {
	OK   bool   `json:"ok"`
	Data string `json:"data"`
	Err  string `json:"err"`
}

// fixture is a runtime with the hostile module compiled.
type fixture struct {
	w       *sandbox.WASM
	mod     *sandbox.Module
	tempDir string
}

func newFixture(t *testing.T, egress *egress.Broker) *fixture {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	w, err := sandbox.NewWASM(ctx, sandbox.Options{CacheDir: sandboxtest.CompileCacheDir(t), TempDir: tmp, Egress: egress, MaxMemory: 512 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close(ctx) })
	mod, err := w.Compile(ctx, sandboxtest.BuildGo(t, hostilePkg))
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{w: w, mod: mod, tempDir: tmp}
}

func (f *fixture) run(t *testing.T, ex sandbox.Exec, mode, arg string, n int64) (sandbox.Outcome, hostileOut) {
	t.Helper()
	in, _ := json.Marshal(map[string]any{"mode": mode, "arg": arg, "bytes": n})
	ex.Input = in
	out := f.w.Run(context.Background(), f.mod, ex)
	var h hostileOut
	if !out.Failed() {
		if err := json.Unmarshal(out.Output, &h); err != nil {
			t.Fatalf("%s: output %q is not JSON: %v", mode, out.Output, err)
		}
	}
	// Whatever it did, the per-execution directory is gone afterwards.
	if es, _ := os.ReadDir(f.tempDir); len(es) != 0 {
		t.Fatalf("%s: %d per-execution directories left behind", mode, len(es))
	}
	return out, h
}

func TestEchoAndTempDir(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	out, h := f.run(t, sandbox.Exec{}, "echo", "héllo", 0)
	if out.Failed() || !h.OK || h.Data != "héllo" {
		t.Fatalf("echo: %+v %+v", out, h)
	}
	if out.PeakMemory == 0 {
		t.Fatal("peak memory not measured")
	}
	// The temp directory is writable...
	if out, h := f.run(t, sandbox.Exec{}, "write", "/tmp/x", 0); out.Failed() || !h.OK {
		t.Fatalf("write /tmp: %+v %+v", out, h)
	}
	// ...and it is fresh each time: the file written before is gone.
	if _, h := f.run(t, sandbox.Exec{}, "read", "/tmp/x", 0); h.OK {
		t.Fatal("a file from a previous execution was visible")
	}
}

func TestFileSystemConfined(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	for _, p := range []string{"/etc/passwd", "/tmp/../etc/passwd", "../etc/passwd", "../../../../../../etc/passwd",
		"/proc/self/environ", "/tmp/../../root/.ssh/id_rsa", ".env", "/.env"} {
		out, h := f.run(t, sandbox.Exec{}, "read", p, 0)
		if out.Failed() || h.OK || strings.Contains(h.Data, "root:") {
			t.Fatalf("read %q: %+v %+v", p, out, h)
		}
	}
	for _, p := range []string{"/etc/komand-pwned", "/komand-pwned", "/tmp/../komand-pwned"} {
		if _, h := f.run(t, sandbox.Exec{}, "write", p, 0); h.OK {
			t.Fatalf("write %q succeeded", p)
		}
	}
	if _, err := os.Stat("/komand-pwned"); err == nil {
		t.Fatal("the guest wrote to the host's root")
	}
	// Links out of /tmp: wazero follows a relative symlink on the host, so
	// the guest may not create links at all.
	for _, target := range []string{"../../../../../../etc/passwd", "../../../../../../etc", "/etc/passwd"} {
		if _, h := f.run(t, sandbox.Exec{}, "symlink", target, 0); h.OK || strings.Contains(h.Data, "root:") {
			t.Fatalf("symlink to %q: %+v", target, h)
		}
	}
	if _, h := f.run(t, sandbox.Exec{}, "hardlink", "/tmp/../../etc/passwd", 0); h.OK {
		t.Fatalf("hard link: %+v", h)
	}
	_, h := f.run(t, sandbox.Exec{}, "list", "/", 0)
	if strings.Contains(h.Data, "etc") || strings.Contains(h.Data, "root") {
		t.Fatalf("guest sees host directories: %q", h.Data)
	}
}

func TestNoEnvironmentNoSockets(t *testing.T) {
	t.Setenv("KOMAND_TEST_SECRET_ENV", "s3cr3t-env-value")
	f := newFixture(t, nil)
	if _, h := f.run(t, sandbox.Exec{}, "env", "", 0); h.OK || strings.Contains(h.Data, "s3cr3t") {
		t.Fatalf("guest saw the host environment: %q", h.Data)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			accepted <- struct{}{}
			c.Close()
		}
	}()
	if _, h := f.run(t, sandbox.Exec{}, "socket", ln.Addr().String(), 0); h.OK {
		t.Fatal("guest opened a socket")
	}
	if _, h := f.run(t, sandbox.Exec{}, "dns", "localhost", 0); h.OK {
		t.Fatalf("guest resolved a name: %q", h.Data)
	}
	select {
	case <-accepted:
		t.Fatal("the host listener got a connection from the guest")
	default:
	}
}

func TestLimits(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cases := []struct {
		name   string
		ex     sandbox.Exec
		mode   string
		n      int64
		reason sandbox.Reason
	}{
		{"allocate 4 GiB", sandbox.Exec{MemoryBytes: 128 << 20}, "alloc", 4 << 30, sandbox.ReasonMemory},
		{"above the platform maximum", sandbox.Exec{MemoryBytes: 8 << 30}, "alloc", 1 << 30, sandbox.ReasonMemory},
		{"spin forever", sandbox.Exec{Timeout: 300 * time.Millisecond}, "spin", 0, sandbox.ReasonTimeout},
		{"sleep forever", sandbox.Exec{Timeout: 300 * time.Millisecond}, "sleep", 0, sandbox.ReasonTimeout},
		{"100 MB to stdout", sandbox.Exec{}, "stdout", 100 << 20, sandbox.ReasonOutputLimit},
		{"exit 3", sandbox.Exec{}, "exit", 0, sandbox.ReasonExit},
		{"panic", sandbox.Exec{}, "panic", 0, sandbox.ReasonExit},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, _ := f.run(t, tc.ex, tc.mode, "", tc.n)
			if out.Reason != tc.reason {
				t.Fatalf("reason %q (%s), want %q", out.Reason, out.Message, tc.reason)
			}
			if out.Message == "" {
				t.Fatal("no message")
			}
			if tc.reason == sandbox.ReasonMemory && out.PeakMemory > 512<<20 {
				t.Fatalf("peak memory %d beyond the platform maximum", out.PeakMemory)
			}
		})
	}
	// Within its limit an allocation succeeds (the limit is not just "fail").
	if out, h := f.run(t, sandbox.Exec{MemoryBytes: 256 << 20}, "alloc", "", 64<<20); out.Failed() || !h.OK {
		t.Fatalf("allocation within the limit: %+v", out)
	}
	// A failed skill's own message is kept (exit 1 with {"error": ...}).
	out, _ := f.run(t, sandbox.Exec{}, "fail", "", 0)
	if out.Reason != sandbox.ReasonExit || out.ExitCode != 1 || !strings.Contains(string(out.Output), "error") {
		t.Fatalf("fail: %+v %q", out, out.Output)
	}
	// /tmp is under a quota: a skill cannot fill the host's disk.
	out, h := f.run(t, sandbox.Exec{Timeout: 20 * time.Second, MemoryBytes: 256 << 20}, "fill", "", 1<<30)
	if out.Failed() || h.OK || h.Data == "" || h.Data == fmt.Sprint(1<<30) {
		t.Fatalf("filling /tmp: %+v %+v", out, h)
	}
	if n, _ := strconv.Atoi(h.Data); n > sandbox.MaxTempBytes {
		t.Fatalf("wrote %d bytes past the %d quota", n, sandbox.MaxTempBytes)
	}
	// stderr past its cap is dropped, not fatal.
	out, _ = f.run(t, sandbox.Exec{MaxStderr: 1024}, "stderr", "", 8<<20)
	if out.Failed() || len(out.Stderr) != 1024 {
		t.Fatalf("stderr: failed=%v len=%d", out.Failed(), len(out.Stderr))
	}
}

// waitRunning waits until n executions of w hold compiled code (polled:
// the runtime has no event for it), failing the test after a minute.
func waitRunning(t *testing.T, w *sandbox.WASM, n int) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); sandbox.Running(w) < n; {
		if time.Now().After(deadline) {
			t.Errorf("%d executions running after a minute, want %d", sandbox.Running(w), n)
			return
		}
		runtime.Gosched()
	}
}

func TestHostCanceledContext(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	in, _ := json.Marshal(map[string]any{"mode": "spin"})
	// Cancel once the guest runs (spins), not before it starts.
	go func() { waitRunning(t, f.w, 1); cancel() }()
	out := f.w.Run(ctx, f.mod, sandbox.Exec{Input: in})
	if out.Reason != sandbox.ReasonCanceled {
		t.Fatalf("reason %q", out.Reason)
	}
}

// testHost grants one credential and one tool.
type testHost struct {
	mu    sync.Mutex
	creds map[string]string
	logs  []string
	tools []string
}

func (h *testHost) Credential(ctx context.Context, name, host string) (string, error) {
	if v, ok := h.creds[name]; ok {
		return v, nil
	}
	return "", sandbox.Denied("credential not available to this skill")
}

func (h *testHost) Tool(ctx context.Context, name string, args []byte) ([]byte, error) {
	h.mu.Lock()
	h.tools = append(h.tools, name)
	h.mu.Unlock()
	if name != "database" {
		return nil, sandbox.Denied("tool not declared by this skill")
	}
	return []byte(`{"rows":[]}`), nil
}

func (h *testHost) Log(ctx context.Context, level int, msg string) {
	h.mu.Lock()
	h.logs = append(h.logs, msg)
	h.mu.Unlock()
}

func TestHostFunctions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	host := &testHost{creds: map[string]string{"api-key": "granted-value-123"}}
	ex := sandbox.Exec{Host: host, Config: map[string]string{"region": "eu"}}
	if _, h := f.run(t, ex, "credential", "api-key", 0); !h.OK || h.Data != "granted-value-123" {
		t.Fatalf("granted credential: %+v", h)
	}
	_, h := f.run(t, ex, "credential", "other-skills-key", 0)
	if h.OK || h.Data != "" || !strings.Contains(h.Err, "denied") {
		t.Fatalf("other credential: %+v", h)
	}
	// No host at all: nothing granted.
	if _, h := f.run(t, sandbox.Exec{}, "credential", "api-key", 0); h.OK {
		t.Fatal("credential without a host")
	}
	if _, h := f.run(t, ex, "config", "region", 0); !h.OK || h.Data != "eu" {
		t.Fatalf("config: %+v", h)
	}
	if _, h := f.run(t, ex, "config", "missing", 0); h.OK {
		t.Fatalf("missing config: %+v", h)
	}
	if _, h := f.run(t, ex, "tool", "database", 0); !h.OK {
		t.Fatalf("declared tool: %+v", h)
	}
	if _, h := f.run(t, ex, "tool", "shell", 0); h.OK {
		t.Fatalf("undeclared tool: %+v", h)
	}
	out, _ := f.run(t, ex, "log", "hello", 0)
	if out.Failed() || len(host.logs) != 100 || !strings.HasPrefix(host.logs[0], "line 0 hello") {
		t.Fatalf("log: %d lines", len(host.logs))
	}
	if out.HostCalls < 100 {
		t.Fatalf("host calls %d", out.HostCalls)
	}
}

func TestInvalidModules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, err := sandbox.NewWASM(ctx, sandbox.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	importsEnv := []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0, // type section: () -> ()
		2, 9, 1, 3, 'e', 'n', 'v', 1, 'f', 0, 0, // import env.f
	}
	importsUnknownHost := []byte{0, 'a', 's', 'm', 1, 0, 0, 0,
		1, 4, 1, 0x60, 0, 0,
		2, 14, 1, 6, 'k', 'o', 'm', 'a', 'n', 'd', 4, 'e', 'x', 'e', 'c', 0, 0,
	}
	head := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0}
	start := []byte{7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0}
	code := []byte{10, 4, 1, 2, 0, 0x0b}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	// An internal (not exported) memory of 2,000 pages: sized before the
	// allocator hook could refuse it (it crashed the runtime).
	hiddenMemory := cat(head, []byte{5, 4, 1, 0, 0xd0, 0x0f}, start, code)
	// A table of 2^32-1 entries, allocated outside the memory cap.
	hugeTable := cat(head, []byte{4, 8, 1, 0x70, 0, 0xff, 0xff, 0xff, 0xff, 0x0f}, start, code)
	// table.grow by a billion entries (reference types are off).
	growCode := []byte{0x0d, 0xd0, 0x70, 0x41, 0x80, 0x94, 0xeb, 0xdc, 0x03, 0xfc, 0x0f, 0x00, 0x1a, 0x0b}
	tableGrow := cat(head, []byte{4, 4, 1, 0x70, 0, 1}, start, []byte{10, byte(len(growCode) + 1), 1}, growCode)
	for name, mod := range map[string][]byte{
		"internal memory":       hiddenMemory,
		"huge table":            hugeTable,
		"table.grow":            tableGrow,
		"garbage":               []byte("#!/bin/sh\ncat /etc/passwd\n"),
		"empty module":          {0, 'a', 's', 'm', 1, 0, 0, 0},
		"imports env":           importsEnv,
		"unknown host function": importsUnknownHost,
	} {
		_, err := w.Compile(ctx, mod)
		var ie *sandbox.ErrInvalidModule
		if !errors.As(err, &ie) {
			t.Fatalf("%s: err %v", name, err)
		}
	}
	// An exported memory larger than the execution's limit: refused at
	// run time with the memory reason, not a crash.
	bigMemory := cat(head, []byte{5, 4, 1, 0, 0xd0, 0x0f},
		[]byte{7, 19, 2, 6, '_', 's', 't', 'a', 'r', 't', 0, 0, 6, 'm', 'e', 'm', 'o', 'r', 'y', 2, 0}, code)
	m, err := w.Compile(ctx, bigMemory)
	if err != nil {
		t.Fatalf("exported memory: %v", err)
	}
	if out := w.Run(ctx, m, sandbox.Exec{}); out.Reason != sandbox.ReasonMemory {
		t.Fatalf("2,000 pages under a 64 MiB limit: %+v", out)
	}
}

func TestCompileCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	// The smallest WASI command (its _start returns): the cache keeps any
	// module, and a Go guest would take seconds to compile into a new
	// directory.
	mod := []byte{0, 'a', 's', 'm', 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, // () -> (), one function
		7, 10, 1, 6, '_', 's', 't', 'a', 'r', 't', 0, 0, // export _start
		10, 4, 1, 2, 0, 0x0b} // its body: end
	w, err := sandbox.NewWASM(ctx, sandbox.Options{CacheDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	a, err := w.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := w.Compile(ctx, mod)
	if a != b || a.Digest != sandbox.Digest(mod) {
		t.Fatal("second compile did not use the in-memory cache")
	}
	if out := w.Run(ctx, a, sandbox.Exec{}); out.Failed() {
		t.Fatalf("run: %+v", out)
	}
	w.Close(ctx)
	var files int
	walk(t, dir, &files)
	if files == 0 {
		t.Fatal("nothing in the disk cache")
	}
}

func walk(t *testing.T, dir string, n *int) {
	es, _ := os.ReadDir(dir)
	for _, e := range es {
		if e.IsDir() {
			walk(t, dir+"/"+e.Name(), n)
		} else {
			*n++
		}
	}
}

func TestConcurrentExecutions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in, _ := json.Marshal(map[string]any{"mode": "echo", "arg": fmt.Sprint(i)})
			out := f.w.Run(context.Background(), f.mod, sandbox.Exec{Input: in})
			var h hostileOut
			if out.Failed() || json.Unmarshal(out.Output, &h) != nil || h.Data != fmt.Sprint(i) {
				errs <- fmt.Errorf("execution %d: %+v", i, out)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestNetwork(t *testing.T) {
	t.Parallel()
	var authSeen string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/echo-auth":
			authSeen = r.Header.Get("Authorization")
			fmt.Fprintf(w, "you sent %s", r.Header.Get("Authorization"))
		case "/to-metadata":
			http.Redirect(w, r, "http://169.254.169.254/latest/meta-data/", http.StatusFound)
		case "/to-other":
			http.Redirect(w, r, "http://evil.example/", http.StatusFound)
		case "/big":
			w.Write([]byte(strings.Repeat("x", 3<<20)))
		default:
			w.Write([]byte("hello from api"))
		}
	}))
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	loopback := fmt.Sprintf("127.0.0.1:%d", port)
	// The same API over TLS, for credentials (sent over https only).
	tlsSrv := httptest.NewTLSServer(srv.Config.Handler)
	defer tlsSrv.Close()
	tlsHost := strings.TrimPrefix(tlsSrv.URL, "https://")

	// The deployment that opened 127.0.0.1 on purpose (an internal API).
	open := newFixture(t, egress.New(egress.Options{AllowPrivate: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")},
		TLSClientConf: tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig}))
	// The default: no private address at all.
	closed := newFixture(t, egress.New(egress.Options{}))

	host := &testHost{creds: map[string]string{"api-key": "sk-live-abcdef123456"}}
	granted := sandbox.Exec{AllowedHosts: []string{"127.0.0.1", "169.254.169.254", "localhost"}, Host: host}

	out, h := open.run(t, granted, "fetch", "http://"+loopback+"/", 0)
	if !h.OK || h.Data != "hello from api" || len(out.Network) != 1 || out.Network[0].Status != 200 {
		t.Fatalf("allowed fetch: %+v %+v", h, out.Network)
	}
	// Credentials by reference: the server got the key, the module did not.
	if _, h := open.run(t, granted, "fetch-auth", "http://"+loopback+"/echo-auth", 0); h.OK || authSeen != "" || !strings.Contains(h.Err, "https only") {
		t.Fatalf("credential over plain http: %+v (server saw %q)", h, authSeen)
	}
	_, h = open.run(t, granted, "fetch-auth", "https://"+tlsHost+"/echo-auth", 0)
	if authSeen != "Bearer sk-live-abcdef123456" || strings.Contains(h.Data, "sk-live") || !strings.Contains(h.Data, "[REDACTED]") {
		t.Fatalf("auth by reference: server saw %q, module saw %q", authSeen, h.Data)
	}
	// The response size is capped.
	big := granted
	big.MaxStdout = 4 << 20
	if _, h := open.run(t, big, "fetch", "http://"+loopback+"/big", 0); !h.OK || len(h.Data) != 1<<20 {
		t.Fatalf("big response: ok=%v len=%d err=%s", h.OK, len(h.Data), h.Err)
	}

	refused := []struct {
		name string
		f    *fixture
		ex   sandbox.Exec
		url  string
	}{
		{"no network permission", open, sandbox.Exec{Host: host}, "http://" + loopback + "/"},
		{"host not on the allowlist", open, sandbox.Exec{AllowedHosts: []string{"api.example.com"}}, "http://" + loopback + "/"},
		{"loopback (default egress)", closed, granted, "http://127.0.0.1:5000/"},
		{"loopback test server (default egress)", closed, granted, "http://" + loopback + "/"},
		{"localhost name", closed, granted, fmt.Sprintf("http://localhost:%d/", port)},
		{"metadata", open, granted, "http://169.254.169.254/latest/meta-data/"},
		{"redirect to metadata", open, granted, "http://" + loopback + "/to-metadata"},
		{"redirect off the allowlist", open, granted, "http://" + loopback + "/to-other"},
		{"file scheme", open, granted, "file:///etc/passwd"},
		{"credentials in URL", open, granted, "http://user:pw@127.0.0.1:" + fmt.Sprint(port) + "/"},
		{"IPv6 loopback", closed, sandbox.Exec{AllowedHosts: []string{"::1"}}, "http://[::1]:5000/"},
		{"IPv4-mapped loopback", closed, sandbox.Exec{AllowedHosts: []string{"::ffff:127.0.0.1"}}, "http://[::ffff:127.0.0.1]:5000/"},
		{"NAT64 metadata", closed, sandbox.Exec{AllowedHosts: []string{"64:ff9b::a9fe:a9fe"}}, "http://[64:ff9b::a9fe:a9fe]/"},
		{"IPv4-compatible", closed, sandbox.Exec{AllowedHosts: []string{"::a00:1"}}, "http://[::a00:1]/"},
		{"6to4", closed, sandbox.Exec{AllowedHosts: []string{"2002:a00:1::1"}}, "http://[2002:a00:1::1]/"},
		{"CGNAT", closed, sandbox.Exec{AllowedHosts: []string{"100.64.0.1"}}, "http://100.64.0.1/"},
		{"benchmark range", closed, sandbox.Exec{AllowedHosts: []string{"198.18.0.1"}}, "http://198.18.0.1/"},
	}
	for _, tc := range refused {
		out, h := tc.f.run(t, tc.ex, "fetch", tc.url, 0)
		if h.OK || strings.Contains(h.Data, "hello") {
			t.Fatalf("%s: fetched %q", tc.name, h.Data)
		}
		if !strings.Contains(h.Err, "denied") && !strings.Contains(h.Err, "refused") {
			t.Fatalf("%s: error %q", tc.name, h.Err)
		}
		var denied bool
		for _, c := range out.Network {
			denied = denied || c.Denied != ""
		}
		if !denied {
			t.Fatalf("%s: no denied call recorded: %+v", tc.name, out.Network)
		}
	}
}

// TestCGuest runs the C example (clang + wasi-libc): the ABI works without
// the Go SDK, host calls included.
func TestCGuest(t *testing.T) {
	t.Parallel()
	mod := sandboxtest.BuildC(t, "examples/skills/word-count/main.c")
	ctx := context.Background()
	w, err := sandbox.NewWASM(ctx, sandbox.Options{TempDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	m, err := w.Compile(ctx, mod)
	if err != nil {
		t.Fatal(err)
	}
	out := w.Run(ctx, m, sandbox.Exec{Input: []byte(`{"text":"one two  three\nfour","calls":50}`), Config: map[string]string{"k": "v"}, MemoryBytes: 16 << 20})
	if out.Failed() || string(out.Output) != `{"words":4}` {
		t.Fatalf("%+v %q", out, out.Output)
	}
	if out.HostCalls != 100 { // 50 config + 50 result
		t.Fatalf("host calls %d, want 100", out.HostCalls)
	}
	// Its memory limit holds for C too: the module's initial memory is
	// larger than 64 KiB, so a 64 KiB limit refuses it.
	if out := w.Run(ctx, m, sandbox.Exec{Input: []byte(`{"text":"x"}`), MemoryBytes: 64 << 10}); out.Reason != sandbox.ReasonMemory {
		t.Fatalf("tiny memory limit: %+v", out)
	}
}

// variant returns module with a custom section appended: the same code
// under another digest.
func variant(module []byte, name string) []byte {
	sec := append(append([]byte{byte(len(name))}, name...), "komand-test"...)
	return append(append(append([]byte(nil), module...), 0, byte(len(sec))), sec...)
}

// TestCompiledCacheBounded: past MaxCompiled the least recently used
// module's code is released, a running module is never released, and a
// released module runs again (loaded from the cache) when it is needed.
func TestCompiledCacheBounded(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, err := sandbox.NewWASM(ctx, sandbox.Options{CacheDir: sandboxtest.CompileCacheDir(t), TempDir: t.TempDir(), MaxMemory: 512 << 20, MaxCompiled: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	base := sandboxtest.BuildGo(t, hostilePkg)
	mods := make([]*sandbox.Module, 4)
	for i := range mods {
		if mods[i], err = w.Compile(ctx, variant(base, fmt.Sprintf("v%d", i))); err != nil {
			t.Fatal(err)
		}
		if n := w.CompiledCount(); n > 2 {
			t.Fatalf("%d modules compiled in memory, bound 2", n)
		}
	}
	echo := func(m *sandbox.Module) {
		t.Helper()
		out := w.Run(ctx, m, sandbox.Exec{Input: []byte(`{"mode":"echo","arg":"hi"}`), Timeout: 30 * time.Second})
		if out.Failed() || !strings.Contains(string(out.Output), `"ok":true`) {
			t.Fatalf("run: %s %s %s", out.Reason, out.Message, out.Output)
		}
	}
	// mods[0] was released; it runs again.
	echo(mods[0])
	if n := w.CompiledCount(); n != 2 {
		t.Fatalf("%d modules compiled in memory after a reload, want 2", n)
	}
	// A running module keeps its code while others push it out.
	finished := make(chan sandbox.Outcome)
	go func() {
		finished <- w.Run(ctx, mods[1], sandbox.Exec{Input: []byte(`{"mode":"sleep"}`), Timeout: 400 * time.Millisecond})
	}()
	waitRunning(t, w, 1)
	for _, m := range []*sandbox.Module{mods[2], mods[3], mods[0]} {
		echo(m)
	}
	// It sleeps until its timeout: stopped by the platform, not crashed.
	if out := <-finished; out.Reason != sandbox.ReasonTimeout {
		t.Fatalf("the module running while others were loaded: %q %s", out.Reason, out.Message)
	}
	if n := w.CompiledCount(); n > 2 {
		t.Fatalf("%d modules compiled in memory once nothing runs, bound 2", n)
	}
	// Concurrent runs of every module, with constant eviction.
	var wg sync.WaitGroup
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func(m *sandbox.Module) {
			defer wg.Done()
			out := w.Run(ctx, m, sandbox.Exec{Input: []byte(`{"mode":"echo","arg":"x"}`), Timeout: 30 * time.Second})
			if out.Failed() {
				t.Errorf("concurrent run: %s %s", out.Reason, out.Message)
			}
		}(mods[i%len(mods)])
	}
	wg.Wait()
	if n := w.CompiledCount(); n > 2 {
		t.Fatalf("%d modules compiled in memory after the concurrent runs, bound 2", n)
	}
}
