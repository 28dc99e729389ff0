package sandbox

import (
	"context"
	"testing"

	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// TestCompiledCacheKeepsRunningModules: modules in use are never
// released, even past the bound; they are released once done.
func TestCompiledCacheKeepsRunningModules(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	w, err := NewWASM(ctx, Options{CacheDir: sandboxtest.CompileCacheDir(t), TempDir: t.TempDir(), MaxMemory: 512 << 20, MaxCompiled: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	base := sandboxtest.BuildGo(t, "./internal/sandbox/testdata/hostile")
	var dones []func()
	for i := range 3 {
		m, err := w.Compile(ctx, append(append([]byte(nil), base...), 0, 3, 1, byte('a'+i), 'x'))
		if err != nil {
			t.Fatal(err)
		}
		code, done, err := w.acquire(ctx, m)
		if err != nil || code == nil {
			t.Fatalf("acquire: %v", err)
		}
		dones = append(dones, done)
	}
	if n := w.CompiledCount(); n != 3 {
		t.Fatalf("%d modules loaded while 3 are in use (bound 2): a module in use was released", n)
	}
	for _, done := range dones {
		done()
	}
	if n := w.CompiledCount(); n != 2 {
		t.Fatalf("%d modules loaded once none is in use, want the bound 2", n)
	}
}
