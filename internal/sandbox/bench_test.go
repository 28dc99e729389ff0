package sandbox_test

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/sandbox"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
)

// Benchmarks of the WASM sandbox. Each execution is a fresh instance (no
// pooling, by design: nothing of one execution can reach the next), so the
// "cold start" is every call's cost. Run with:
//
//	go test ./internal/sandbox/ -run '^$' -bench . -benchtime 2000x
//
// The small guest is the C word-count (clang + wasi-libc, 24 KB); the Go
// guest is quote-builder (standard toolchain, 4.5 MB).

type guest struct {
	name  string
	mod   []byte
	input []byte
}

func guests(b *testing.B) []guest {
	gs := []guest{}
	if sandboxtest.Clang() != "" {
		gs = append(gs, guest{"small-c", sandboxtest.BuildC(b, "examples/skills/word-count/main.c"), []byte(`{"text":"one two three"}`)})
	}
	return append(gs, guest{"go", sandboxtest.BuildGo(b, "./examples/skills/quote-builder"),
		[]byte(`{"items":[{"sku":"A","quantity":2,"unitPrice":5}]}`)})
}

func newBenchRuntime(b *testing.B, cache string) *sandbox.WASM {
	w, err := sandbox.NewWASM(context.Background(), sandbox.Options{CacheDir: cache, TempDir: b.TempDir(), MaxConcurrent: 256})
	if err != nil {
		b.Fatal(err)
	}
	return w
}

// percentiles reports p50 and p99 of ds in µs.
func percentiles(b *testing.B, ds []time.Duration) {
	slices.Sort(ds)
	if len(ds) == 0 {
		return
	}
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(ds[len(ds)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkCompileCacheLoad: a new runtime (a restart) loading a module
// compiled before, from the disk cache.
func BenchmarkCompileCacheLoad(b *testing.B) {
	for _, g := range guests(b) {
		b.Run(g.name, func(b *testing.B) {
			cache := b.TempDir()
			w := newBenchRuntime(b, cache)
			if _, err := w.Compile(context.Background(), g.mod); err != nil {
				b.Fatal(err)
			}
			w.Close(context.Background())
			b.ResetTimer()
			for range b.N {
				w := newBenchRuntime(b, cache)
				if _, err := w.Compile(context.Background(), g.mod); err != nil {
					b.Fatal(err)
				}
				b.StopTimer()
				w.Close(context.Background())
				b.StartTimer()
			}
		})
	}
}

// BenchmarkColdStart: one execution, fresh instance, module compiled.
func BenchmarkColdStart(b *testing.B) {
	for _, g := range guests(b) {
		b.Run(g.name, func(b *testing.B) {
			w := newBenchRuntime(b, "")
			defer w.Close(context.Background())
			m, err := w.Compile(context.Background(), g.mod)
			if err != nil {
				b.Fatal(err)
			}
			ds := make([]time.Duration, 0, b.N)
			var peak uint64
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t := time.Now()
				out := w.Run(context.Background(), m, sandbox.Exec{Input: g.input})
				ds = append(ds, time.Since(t))
				if out.Failed() {
					b.Fatalf("%s: %s", out.Reason, out.Message)
				}
				peak = out.PeakMemory
			}
			b.StopTimer()
			percentiles(b, ds)
			b.ReportMetric(float64(peak)/(1<<20), "linear-MiB")
		})
	}
}

// BenchmarkHostCall: the round trip of one host function from the C
// guest (config and result, the ABI's shortest calls): the time of an
// execution making 8,000 calls minus one making none, per call.
func BenchmarkHostCall(b *testing.B) {
	if sandboxtest.Clang() == "" {
		b.Skip("needs clang and wasi-libc")
	}
	mod := sandboxtest.BuildC(b, "examples/skills/word-count/main.c")
	w := newBenchRuntime(b, "")
	defer w.Close(context.Background())
	m, err := w.Compile(context.Background(), mod)
	if err != nil {
		b.Fatal(err)
	}
	const calls = 4000 // 8,000 host calls: under the per-execution cap of 10,000
	run := func(n int) time.Duration {
		t := time.Now()
		out := w.Run(context.Background(), m, sandbox.Exec{Input: fmt.Appendf(nil, `{"text":"x","calls":%d}`, n), Config: map[string]string{"k": "v"}})
		if out.Failed() || out.HostCalls != 2*n {
			b.Fatalf("%+v", out)
		}
		return time.Since(t)
	}
	b.ResetTimer()
	var per []time.Duration
	for range b.N {
		base := run(0)
		full := run(calls)
		per = append(per, (full-base)/(2*calls))
	}
	b.StopTimer()
	slices.Sort(per)
	b.ReportMetric(float64(per[len(per)/2].Nanoseconds()), "ns/hostcall")
}

// BenchmarkThroughput: fresh-instance executions per second on all cores.
func BenchmarkThroughput(b *testing.B) {
	for _, g := range guests(b) {
		b.Run(g.name, func(b *testing.B) {
			w := newBenchRuntime(b, "")
			defer w.Close(context.Background())
			m, err := w.Compile(context.Background(), g.mod)
			if err != nil {
				b.Fatal(err)
			}
			start := time.Now()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if out := w.Run(context.Background(), m, sandbox.Exec{Input: g.input}); out.Failed() {
						b.Errorf("%s: %s", out.Reason, out.Message)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "exec/s")
		})
	}
}

// BenchmarkContainerStart: one execution of a static native program in the
// bubblewrap sandbox (namespaces, seccomp, cgroup created and removed).
func BenchmarkContainerStart(b *testing.B) {
	tmp, err := os.MkdirTemp("", "komand-ctr-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o711)
	c, err := sandbox.NewContainer(sandbox.ContainerOptions{TempDir: tmp})
	if err != nil {
		b.Skip(err)
	}
	prog := sandboxtest.BuildNative(b, "./internal/sandbox/testdata/hostile-native")
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		out := c.Run(context.Background(), prog, sandbox.Exec{Input: []byte(`{"mode":"echo","arg":"x"}`)}, sandbox.ContainerLimits{})
		ds = append(ds, time.Since(t))
		if out.Failed() {
			b.Fatalf("%s: %s %s", out.Reason, out.Message, out.Stderr)
		}
	}
	b.StopTimer()
	percentiles(b, ds)
}

// BenchmarkDockerContainerStart: one execution of the same program through
// the Docker Engine backend (create, attach, start, wait, inspect,
// remove). Skipped without a reachable engine.
func BenchmarkDockerContainerStart(b *testing.B) {
	tmp, err := os.MkdirTemp("", "komand-ctr-bench-")
	if err != nil {
		b.Fatal(err)
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o711)
	d, err := sandbox.NewDocker(context.Background(), sandbox.DockerOptions{TempDir: tmp})
	if err != nil {
		b.Skip(err)
	}
	defer d.Close()
	prog := sandboxtest.BuildNative(b, "./internal/sandbox/testdata/hostile-native")
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		t := time.Now()
		out := d.Run(context.Background(), prog, sandbox.Exec{Input: []byte(`{"mode":"echo","arg":"x"}`)}, sandbox.ContainerLimits{})
		ds = append(ds, time.Since(t))
		if out.Failed() {
			b.Fatalf("%s: %s %s", out.Reason, out.Message, out.Stderr)
		}
	}
	b.StopTimer()
	percentiles(b, ds)
}
