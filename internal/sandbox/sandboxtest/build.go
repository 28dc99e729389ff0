// Package sandboxtest builds real WebAssembly skill modules for tests: Go
// guests with the standard toolchain (GOOS=wasip1 GOARCH=wasm) and C
// guests with clang and wasi-libc when they are installed.
//
// Builds are kept between test runs in CacheDir, keyed by a hash of what
// determines the output: the guest's source files (for Go, every package
// of the module it depends on, and the versions of the others), the
// toolchain's version and the build's environment and flags. A test run
// after a change to a guest rebuilds only that guest; a run after none
// rebuilds nothing. Entries are written to a temporary file and renamed,
// so concurrent test processes never read a partial build (two may build
// the same entry; the second rename replaces an identical file).
package sandboxtest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
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
	root, err := moduleRoot()
	if err != nil {
		tb.Fatalf("go env GOMOD: %v", err)
	}
	return root
}

var moduleRoot = sync.OnceValues(func() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
})

// CacheDir is where builds, and the compiled code of CompileCacheDir, are
// kept between test runs: $KOMAND_TEST_CACHE when set, otherwise
// komand-test-wasm in the user's cache directory (os.UserCacheDir, or the
// temporary directory when there is none). Removing it is always safe.
func CacheDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("KOMAND_TEST_CACHE")
	if dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			base = os.TempDir()
		}
		dir = filepath.Join(base, "komand-test-wasm")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatalf("test cache: %v", err)
	}
	return dir
}

// CompileCacheDir is a sandbox.Options.CacheDir for tests that do not test
// the disk cache itself: compiled code of the test guests is kept across
// test processes and runs, so each guest is compiled once per machine
// rather than once per test. wazero keys its entries by its own version,
// the CPU's features and the module's bytes, and writes them atomically.
func CompileCacheDir(tb testing.TB) string {
	tb.Helper()
	return filepath.Join(CacheDir(tb), "compiled")
}

// BuildGo builds the Go package at pkg (relative to the module root, e.g.
// "./internal/sandbox/testdata/hostile") for wasip1 and returns the
// module. Builds are shared within a test process and cached across runs.
func BuildGo(tb testing.TB, pkg string) []byte {
	tb.Helper()
	return buildGo(tb, pkg, "", "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
}

// BuildNative builds the Go package at pkg as a static Linux executable
// (a container skill).
func BuildNative(tb testing.TB, pkg string) []byte {
	tb.Helper()
	return buildGo(tb, pkg, "native:", "GOOS=linux", "CGO_ENABLED=0")
}

// goBuildFlags are the flags of every Go guest build (part of the key).
var goBuildFlags = []string{"build", "-trimpath"}

func buildGo(tb testing.TB, pkg, keyPrefix string, env ...string) []byte {
	tb.Helper()
	mu.Lock()
	defer mu.Unlock()
	if b, ok := built[keyPrefix+pkg]; ok {
		return b
	}
	root := ModuleRoot(tb)
	key, err := goKey(root, pkg, env)
	if err != nil {
		tb.Fatalf("hashing the sources of %s: %v", pkg, err)
	}
	b := cached(tb, key, pkg, func(out string) *exec.Cmd {
		cmd := exec.Command("go", append(append([]string(nil), goBuildFlags...), "-o", out, pkg)...)
		cmd.Env = append(os.Environ(), env...)
		return cmd
	})
	built[keyPrefix+pkg] = b
	return b
}

// goKey hashes what a Go build of pkg depends on: the toolchain's version,
// the environment and flags, go.mod and go.sum, every file of every
// package of this module (or of a module without a version, a replaced
// one) that pkg imports for that environment, and the version of every
// other module. The standard library is the toolchain's.
func goKey(root, pkg string, env []string) (string, error) {
	h := sha256.New()
	ver, err := output(root, env, "go", "env", "GOVERSION", "GOFLAGS", "GOEXPERIMENT", "GOWASM", "GOAMD64")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "go\x00%s\x00%q\x00%q\x00%s\x00", ver, env, goBuildFlags, pkg)
	for _, f := range []string{"go.mod", "go.sum"} {
		if err := hashFile(h, filepath.Join(root, f)); err != nil && !os.IsNotExist(err) {
			return "", err
		}
	}
	const tmpl = `{{if not .Standard}}{{.ImportPath}}|{{with .Module}}{{.Path}}@{{.Version}}{{end}}|{{.Dir}}|` +
		`{{join .GoFiles ","}},{{join .CgoFiles ","}},{{join .SFiles ","}},{{join .EmbedFiles ","}}{{"\n"}}{{end}}`
	list, err := output(root, env, "go", "list", "-deps", "-f", tmpl, pkg)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		parts := strings.SplitN(line, "|", 4)
		if len(parts) != 4 {
			return "", fmt.Errorf("go list: unexpected line %q", line)
		}
		fmt.Fprintf(h, "pkg\x00%s\x00%s\x00", parts[0], parts[1])
		if !strings.HasSuffix(parts[1], "@") && parts[1] != "" {
			continue // a module at a version: the version is its content
		}
		for _, f := range strings.Split(parts[3], ",") {
			if f == "" {
				continue
			}
			fmt.Fprintf(h, "file\x00%s\x00", f)
			if err := hashFile(h, filepath.Join(parts[2], f)); err != nil {
				return "", err
			}
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func output(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", name, strings.Join(args, " "), err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}

func hashFile(h io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(h, f)
	return err
}

// cached returns the build with this key from CacheDir, or runs the
// command mk makes for an output path (in the module root) and stores
// what it wrote.
func cached(tb testing.TB, key, what string, mk func(out string) *exec.Cmd) []byte {
	tb.Helper()
	dir := filepath.Join(CacheDir(tb), "builds")
	path := filepath.Join(dir, key)
	if b, err := os.ReadFile(path); err == nil {
		return b
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		tb.Fatal(err)
	}
	b := build(tb, what, mk)
	tmp, err := os.CreateTemp(dir, key+".*.tmp")
	if err != nil {
		tb.Fatal(err)
	}
	_, werr := tmp.Write(b)
	cerr := tmp.Close()
	if werr == nil && cerr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil || cerr != nil {
		os.Remove(tmp.Name())
		tb.Fatalf("storing the build of %s: %v %v", what, werr, cerr)
	}
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
// instead of skipping). The key is the source file and the headers beside
// it, clang's version and the arguments.
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
	args := []string{"--target=wasm32-wasi", "-O2", "-Wl,--strip-all"}
	if _, err := os.Stat("/usr/share/wasi-sysroot"); err == nil {
		args = append([]string{"--sysroot=/usr/share/wasi-sysroot"}, args...)
	}
	root := ModuleRoot(tb)
	key, err := cKey(root, clang, src, args)
	if err != nil {
		tb.Fatalf("hashing %s: %v", src, err)
	}
	b := cached(tb, key, src, func(out string) *exec.Cmd {
		return exec.Command(clang, append(args, "-o", out, src)...)
	})
	built[src] = b
	return b
}

func cKey(root, clang, src string, args []string) (string, error) {
	h := sha256.New()
	ver, err := output(root, nil, clang, "--version")
	if err != nil {
		return "", err
	}
	fmt.Fprintf(h, "c\x00%s\x00%q\x00%s\x00", ver, args, src)
	for _, lib := range []string{"/usr/lib/wasm32-wasi/libc.a", "/usr/share/wasi-sysroot"} {
		if fi, err := os.Stat(lib); err == nil { // the libc's installation
			fmt.Fprintf(h, "lib\x00%s\x00%d\x00%d\x00", lib, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	files, err := filepath.Glob(filepath.Join(root, filepath.Dir(src), "*.h"))
	if err != nil {
		return "", err
	}
	for _, f := range append([]string{filepath.Join(root, src)}, files...) {
		fmt.Fprintf(h, "file\x00%s\x00", filepath.Base(f))
		if err := hashFile(h, f); err != nil {
			return "", err
		}
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
