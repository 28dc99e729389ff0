package sandboxtest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGoKeyFollowsSources: the key of a Go build changes with a source
// file of the package or of a package it imports, with the environment,
// and with go.mod; it does not change with a file the build does not read.
func TestGoKeyFollowsSources(t *testing.T) {
	root := t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/guest\n\ngo 1.22\n")
	write("main.go", "package main\n\nimport \"example.com/guest/lib\"\n\nfunc main() { lib.Hello() }\n")
	write("lib/lib.go", "package lib\n\nfunc Hello() {}\n")
	write("README.md", "a guest\n")
	env := []string{"GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=-mod=mod"}
	key := func() string {
		t.Helper()
		k, err := goKey(root, ".", env)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	k0 := key()
	if key() != k0 {
		t.Fatal("the key of unchanged sources changed")
	}
	write("README.md", "a guest, documented\n")
	if key() != k0 {
		t.Fatal("a file the build does not read changed the key")
	}
	write("lib/lib.go", "package lib\n\nfunc Hello() { println() }\n")
	k1 := key()
	if k1 == k0 {
		t.Fatal("a change to an imported package did not change the key")
	}
	write("main.go", "package main\n\nimport \"example.com/guest/lib\"\n\nfunc main() { lib.Hello(); lib.Hello() }\n")
	k2 := key()
	if k2 == k1 {
		t.Fatal("a change to the package did not change the key")
	}
	write("go.mod", "module example.com/guest\n\ngo 1.23\n")
	k3 := key()
	if k3 == k2 {
		t.Fatal("a change to go.mod did not change the key")
	}
	env = []string{"GOOS=linux", "CGO_ENABLED=0", "GOFLAGS=-mod=mod"}
	if key() == k3 {
		t.Fatal("another target did not change the key")
	}
}

// TestCachedBuildsOnce: a build is stored under its key and read back, not
// built again; a build that fails stores nothing.
func TestCachedBuildsOnce(t *testing.T) {
	t.Setenv("KOMAND_TEST_CACHE", t.TempDir())
	var runs int
	mk := func(out string) *exec.Cmd {
		runs++
		return exec.Command("sh", "-c", "printf module > "+out)
	}
	for range 2 {
		if b := cached(t, "k1", "guest", mk); string(b) != "module" {
			t.Fatalf("build %q", b)
		}
	}
	if runs != 1 {
		t.Fatalf("built %d times, want once", runs)
	}
	es, err := os.ReadDir(filepath.Join(CacheDir(t), "builds"))
	if err != nil || len(es) != 1 || es[0].Name() != "k1" {
		t.Fatalf("cache holds %v (%v), want only k1 (no temporary file left)", es, err)
	}
}
