// Package sandboxtest builds real WebAssembly skill modules for tests: Go
// guests with the standard toolchain (GOOS=wasip1 GOARCH=wasm) and C
// guests with clang and wasi-libc when they are installed.
package sandboxtest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	built = map[string][]byte{}
)

// ModuleRoot is the repository's root directory.
func ModuleRoot(tb testing.TB) string {
	tb.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// BuildGo builds the Go package at pkg (relative to the module root, e.g.
// "./internal/sandbox/testdata/hostile") for wasip1 and returns the
// module. Builds are shared within a test process.
func BuildGo(tb testing.TB, pkg string) []byte {
	tb.Helper()
	return buildGo(tb, pkg, "", "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
}

func buildGo(tb testing.TB, pkg, keyPrefix string, env ...string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[keyPrefix+pkg]; ok {
		return b
	}
	b := build(tb, pkg, func(out string) *exec.Cmd {
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, pkg)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	})
	built[keyPrefix+pkg] = b
	return b
}

// build runs the command mk makes for an output path in the module root
// and returns what it wrote there.
func build(tb testing.TB, what string, mk func(out string) *exec.Cmd) []byte {
	tb.Helper()
	dir, err := os.MkdirTemp("", "komand-wasm-")
	if err != nil {
		tb.Fatal(err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "skill")
	cmd := mk(out)
	cmd.Dir = ModuleRoot(tb)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		tb.Fatalf("building %s: %v\n%s", what, err, stderr.String())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// BuildNative builds the Go package at pkg as a static Linux executable
// (a container skill).
func BuildNative(tb testing.TB, pkg string) []byte {
	tb.Helper()
	return buildGo(tb, pkg, "native:", "GOOS=linux", "CGO_ENABLED=0")
}

// Clang returns the clang binary that can build wasm32-wasi modules, or ""
// when this machine has none (install clang, lld, wasi-libc and
// libclang-rt-dev-wasm32 from Debian).
func Clang() string {
	for _, c := range []string{"clang", "clang-16", "clang-15", "clang-14"} {
		if p, err := exec.LookPath(c); err == nil {
			if _, err := os.Stat("/usr/lib/wasm32-wasi/libc.a"); err == nil {
				return p
			}
			if _, err := os.Stat("/usr/share/wasi-sysroot"); err == nil {
				return p
			}
		}
	}
	return ""
}

// BuildC builds the C source file src (relative to the module root) as a
// wasm32-wasi command. It fails the test when clang is missing: callers
// decide whether to skip first (KOMAND_TEST_REQUIRE_CLANG makes CI fail
// instead of skipping).
func BuildC(tb testing.TB, src string) []byte {
	tb.Helper()
	clang := Clang()
	if clang == "" {
		if os.Getenv("KOMAND_TEST_REQUIRE_CLANG") != "" {
			tb.Fatal("clang with wasi-libc is required (KOMAND_TEST_REQUIRE_CLANG) but not installed")
		}
		tb.Skip("clang with wasi-libc not installed (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)")
	}
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[src]; ok {
		return b
	}
	b := build(tb, src, func(out string) *exec.Cmd {
		args := []string{"--target=wasm32-wasi", "-O2", "-Wl,--strip-all", "-o", out, src}
		if _, err := os.Stat("/usr/share/wasi-sysroot"); err == nil {
			args = append([]string{"--sysroot=/usr/share/wasi-sysroot"}, args...)
		}
		return exec.Command(clang, args...)
	})
	built[src] = b
	return b
}
