// Package sandbox runs skill code where it can do only what it declared and
// was granted (security.md, "Skill Sandboxing"). The primary runtime is
// WebAssembly on wazero; see WASM. A skill module is a plain WASI command
// (wasip1): it reads its JSON input on standard input, writes its JSON
// output on standard output and exits 0; a non-zero exit is a failure,
// with an optional {"error": "..."} on standard output as its message. It
// may import platform services from the host module "komand" (see
// host.go for the ABI); nothing else is importable.
//
// Each rule of the table in security.md and where it is enforced:
//
//   - File system: each execution gets a fresh instance whose only file
//     system is a new, empty temporary directory mounted at /tmp, removed
//     afterwards. No host path is reachable ("/etc/passwd" and "../" do not
//     exist for the guest).
//   - Network: WASI gives the guest no sockets (wazero preopens none), so
//     there is no ambient network and no DNS. The only way out is the host
//     function http_request, served by Egress, only for a skill granted
//     network:outbound and only to its granted hosts.
//   - CPU / memory: linear memory is capped per execution by the skill's
//     declared limit (at most the platform maximum) through wazero's memory
//     allocator hook; a grow past it fails and is reported as "memory".
//     Concurrent executions are bounded (MaxConcurrent). wazero has no
//     instruction metering (no fuel), so the work budget is wall time:
//     the compiler inserts context checks at loop headers and function
//     entries (WithCloseOnContextDone), so even a tight loop stops.
//   - Timeout: the execution context's deadline (default 30 s, at most 30
//     minutes) closes the instance.
//   - Output: standard output and standard error are capped; a skill that
//     writes past the cap is stopped ("output_limit").
//   - No host environment variables, real clocks, crypto-random source.
//
// Modules are compiled once (Compile) and cached in memory and, when a
// cache directory is configured, on disk, so a restart does not recompile
// either. The memory cache holds at most Options.MaxCompiled modules (128
// by default): past it the least recently used module that is not running
// gives up its code and loads it again, from the disk cache, when it next
// runs.
//
// Container skills (native programs and scripts) run behind the
// ContainerRuntime interface, with the same confinement on either
// backend: Container (bubblewrap, container_linux.go) or Docker (a Docker
// Engine, docker_linux.go). The Docker backend uses the engine's official
// Go client, github.com/moby/moby/client, rather than a hand-written one:
// it negotiates the API version and handles the attach stream's hijacked
// connection; its module tree (OpenTelemetry's HTTP instrumentation,
// no-op here, and the OCI type modules) is the price.
package sandbox

import (
	"bytes"
	"cmp"
	"container/list"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/komand-ai/komand/internal/egress"
	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/experimental/sysfs"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"
)

// Platform limits.
const (
	DefaultTimeout   = 30 * time.Second
	MaxTimeout       = 30 * time.Minute
	DefaultMemory    = 64 << 20
	DefaultMaxMemory = 1 << 30 // platform maximum per execution
	DefaultMaxStdout = 1 << 20
	DefaultMaxStderr = 64 << 10
	MaxModuleBytes   = 64 << 20
	wasmPageSize     = 65536
)

// Reason says why an execution failed; it goes to the audit entry.
type Reason string

// Failure reasons.
const (
	ReasonTimeout       Reason = "timeout"
	ReasonMemory        Reason = "memory"
	ReasonOutputLimit   Reason = "output_limit"
	ReasonCrash         Reason = "crash"
	ReasonExit          Reason = "exit"
	ReasonCanceled      Reason = "canceled"
	ReasonInvalidModule Reason = "invalid_module"
	ReasonBusy          Reason = "busy"
)

// Options configure the WASM runtime.
type Options struct {
	// CacheDir, when set, keeps compiled code on disk across restarts.
	CacheDir string
	// TempDir is where per-execution directories are made (default os.TempDir()).
	TempDir string
	// MaxMemory is the platform maximum of linear memory per execution.
	MaxMemory uint64
	// MaxConcurrent bounds executions running at once (default 64).
	MaxConcurrent int
	// Egress serves http_request (nil: every request refused).
	Egress *egress.Broker
	// MaxCompiled bounds the modules kept compiled in memory (default
	// DefaultMaxCompiled). Past it the least recently used module not
	// running is released; its next execution loads it again (from the
	// disk cache when CacheDir is set).
	MaxCompiled int
}

// DefaultMaxCompiled is the default bound of modules kept compiled in
// memory: a compiled Go guest holds a few tens of MB of machine code.
const DefaultMaxCompiled = 128

// WASM is the WebAssembly runtime. It is safe for concurrent use.
type WASM struct {
	rt        wazero.Runtime
	cache     wazero.CompilationCache
	tempDir   string
	maxMemory uint64
	sem       chan struct{}
	egress    *egress.Broker

	// compileMu serialises compilations: wazero adds a module loaded
	// from the disk cache to its table before it is ready to run, so two
	// loads of one module at once could run it half-loaded.
	compileMu sync.Mutex
	// mu guards compiled, lru and every Module's code, refs and elem.
	mu          sync.Mutex
	compiled    map[string]*Module // by digest, the modules with code loaded
	lru         list.List          // of *Module, most recently used first
	maxCompiled int
}

// Module is a checked skill module. Its compiled code is kept in memory
// while it is among the runtime's most recently used modules (or
// running), and loaded again when it is needed after it was released.
type Module struct {
	Digest   string // "sha256:<hex>" of the module bytes
	minPages uint32
	source   []byte

	code wazero.CompiledModule // nil while released
	refs int                   // executions using code
	elem *list.Element         // in WASM.lru while code is loaded
}

// NewWASM starts the runtime.
func NewWASM(ctx context.Context, o Options) (*WASM, error) {
	if o.MaxMemory == 0 {
		o.MaxMemory = DefaultMaxMemory
	}
	if o.MaxMemory > 4<<30 {
		o.MaxMemory = 4 << 30
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = 64
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	var cache wazero.CompilationCache
	if o.CacheDir != "" {
		if err := os.MkdirAll(o.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("sandbox: cache dir: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(o.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("sandbox: cache dir: %w", err)
		}
		cache = c
	} else {
		cache = wazero.NewCompilationCache()
	}
	// Memory is limited per execution by capAllocator (the runtime's own
	// page limit stays at wasm32's 4 GiB, so every refusal goes through
	// the allocator and is reported as "memory").
	cfg := wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithCloseOnContextDone(true).
		// Reference types off: table.grow would allocate outside the
		// memory cap (Go and C guests do not need them).
		WithCoreFeatures(api.CoreFeaturesV2 &^ api.CoreFeatureReferenceTypes)
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	w := &WASM{rt: rt, cache: cache, tempDir: o.TempDir, maxMemory: o.MaxMemory,
		sem: make(chan struct{}, o.MaxConcurrent), egress: o.Egress, compiled: map[string]*Module{},
		maxCompiled: cmp.Or(max(o.MaxCompiled, 0), DefaultMaxCompiled)}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: wasi: %w", err)
	}
	if err := w.instantiateHost(ctx); err != nil {
		rt.Close(ctx)
		return nil, fmt.Errorf("sandbox: host module: %w", err)
	}
	return w, nil
}

// Close releases the runtime (compiled code stays in the disk cache).
func (w *WASM) Close(ctx context.Context) error {
	err := w.rt.Close(ctx)
	if cerr := w.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

// Digest is the identity of module bytes.
func Digest(module []byte) string {
	sum := sha256.Sum256(module)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// ErrInvalidModule is a module the runtime will not run; the message says
// why and is safe to show the skill's publisher.
type ErrInvalidModule struct{ Reason string }

func (e *ErrInvalidModule) Error() string { return "invalid skill module: " + e.Reason }

// Compile compiles module (or returns the cached compilation). It is
// called when a skill is registered or installed and at start-up, never
// on the request path.
func (w *WASM) Compile(ctx context.Context, module []byte) (*Module, error) {
	d := Digest(module)
	w.mu.Lock()
	m, ok := w.compiled[d]
	if ok {
		w.lru.MoveToFront(m.elem)
	}
	w.mu.Unlock()
	if ok {
		return m, nil
	}
	if len(module) > MaxModuleBytes {
		return nil, &ErrInvalidModule{Reason: "module too large"}
	}
	shape, bad := inspect(module)
	if bad != "" {
		return nil, &ErrInvalidModule{Reason: bad}
	}
	if uint64(shape.memMinPages)*wasmPageSize > w.maxMemory {
		return nil, &ErrInvalidModule{Reason: "the module's initial memory is larger than the platform maximum"}
	}
	w.compileMu.Lock()
	cm, err := w.rt.CompileModule(ctx, module)
	w.compileMu.Unlock()
	if err != nil {
		return nil, &ErrInvalidModule{Reason: "not a valid WebAssembly module"}
	}
	fail := func(reason string) (*Module, error) {
		cm.Close(ctx)
		return nil, &ErrInvalidModule{Reason: reason}
	}
	for _, imp := range cm.ImportedFunctions() {
		mod, name, _ := imp.Import()
		switch mod {
		case wasi_snapshot_preview1.ModuleName:
		case hostModule:
			if !hostFuncs[name] {
				return fail(fmt.Sprintf("imports unknown platform function %q", truncateRunes(name, 64)))
			}
		default:
			return fail(fmt.Sprintf("imports from %q (only %s and %s are provided)", truncateRunes(mod, 64), wasi_snapshot_preview1.ModuleName, hostModule))
		}
	}
	if len(cm.ImportedMemories()) > 0 {
		return fail("imports memory")
	}
	if _, ok := cm.ExportedFunctions()["_start"]; !ok {
		return fail("not a WASI command (no _start export)")
	}
	if shape.memories > 0 && len(cm.ExportedMemories()) == 0 {
		return fail("a WASI command exports its memory")
	}
	m = &Module{Digest: d, minPages: shape.memMinPages, source: bytes.Clone(module)}
	w.mu.Lock()
	defer w.mu.Unlock()
	if prev, ok := w.compiled[d]; ok {
		cm.Close(ctx) // wazero counts compilations of one module: prev's code stays
		return prev, nil
	}
	w.loaded(ctx, m, cm)
	return m, nil
}

// loaded records cm as m's code, most recently used, and trims the
// cache. w.mu is held.
func (w *WASM) loaded(ctx context.Context, m *Module, cm wazero.CompiledModule) {
	m.code = cm
	m.elem = w.lru.PushFront(m)
	w.compiled[m.Digest] = m
	w.trim(ctx, m)
}

// trim releases the least recently used modules that are not running
// (nor keep, just loaded) while more than maxCompiled are loaded. w.mu is
// held.
func (w *WASM) trim(ctx context.Context, keep *Module) {
	for e := w.lru.Back(); e != nil && w.lru.Len() > w.maxCompiled; {
		old := e.Value.(*Module)
		e = e.Prev()
		if old.refs == 0 && old != keep {
			w.release(ctx, old)
		}
	}
}

// release drops m's code (m is not running). w.mu is held.
func (w *WASM) release(ctx context.Context, m *Module) {
	w.lru.Remove(m.elem)
	m.elem = nil
	if w.compiled[m.Digest] == m {
		delete(w.compiled, m.Digest)
	}
	_ = m.code.Close(ctx)
	m.code = nil
}

// acquire returns m's code for one execution, loading it again when it
// was released; done must be called when the execution ends.
func (w *WASM) acquire(ctx context.Context, m *Module) (code wazero.CompiledModule, done func(), err error) {
	w.mu.Lock()
	if m.code == nil {
		w.mu.Unlock()
		// A module released under memory pressure: a disk-cache load when
		// CacheDir is set, a compilation otherwise. It was checked when
		// it was first compiled. One load at a time (compileMu), and none
		// when another execution loaded it meanwhile.
		w.compileMu.Lock()
		w.mu.Lock()
		if m.code == nil {
			w.mu.Unlock()
			cm, err := w.rt.CompileModule(ctx, m.source)
			if err != nil {
				w.compileMu.Unlock()
				return nil, nil, err
			}
			w.mu.Lock()
			w.loaded(ctx, m, cm)
		}
		w.compileMu.Unlock()
	}
	m.refs++
	w.lru.MoveToFront(m.elem)
	code = m.code
	w.mu.Unlock()
	return code, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		m.refs--
		w.trim(context.WithoutCancel(ctx), nil)
	}, nil
}

// CompiledCount is the number of modules whose code is in memory.
func (w *WASM) CompiledCount() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lru.Len()
}

// Exec is one execution's input, limits and grants.
type Exec struct {
	Input []byte
	// Timeout, default DefaultTimeout, at most MaxTimeout.
	Timeout time.Duration
	// MemoryBytes is the declared limit (default DefaultMemory), at most the
	// platform maximum.
	MemoryBytes uint64
	MaxStdout   int
	MaxStderr   int
	// AllowedHosts are the granted network:outbound hosts; empty means no
	// network at all.
	AllowedHosts []string
	// Config is what the host function config returns.
	Config map[string]string
	// Host serves credentials, declared tools and logs (nil: all refused).
	Host Host
}

// Outcome is what happened. Output is standard output (when the run
// succeeded or failed with a message); Reason is empty on success.
type Outcome struct {
	Output     []byte
	Stderr     []byte
	ExitCode   uint32
	Reason     Reason
	Message    string // for a failure: a safe, short explanation
	Duration   time.Duration
	PeakMemory uint64
	HostCalls  int
	Network    []egress.Call
}

// Failed says whether the execution failed.
func (o *Outcome) Failed() bool { return o.Reason != "" }

// Run executes m once, in a fresh instance.
func (w *WASM) Run(ctx context.Context, m *Module, ex Exec) Outcome {
	return timed(func() Outcome { return w.run(ctx, m, ex) })
}

// limits resolves an execution's limits: defaults for what it leaves
// unset, the platform maxima for what it asks beyond them.
func (ex Exec) limits(maxMemory uint64) (timeout time.Duration, mem uint64, maxOut, maxErr int) {
	timeout = min(cmp.Or(max(ex.Timeout, 0), DefaultTimeout), MaxTimeout)
	mem = min(cmp.Or(ex.MemoryBytes, DefaultMemory), maxMemory)
	return timeout, mem, cmp.Or(max(ex.MaxStdout, 0), DefaultMaxStdout), cmp.Or(max(ex.MaxStderr, 0), DefaultMaxStderr)
}

func (w *WASM) run(ctx context.Context, m *Module, ex Exec) (out Outcome) {
	timeout, memLimit, maxOut, maxErr := ex.limits(w.maxMemory)
	if uint64(m.minPages)*wasmPageSize > memLimit {
		return Outcome{Reason: ReasonMemory, Message: "the module needs more memory than its limit"}
	}

	ctx, cancel := context.WithTimeoutCause(ctx, timeout, errTimeout)
	defer cancel()
	select {
	case w.sem <- struct{}{}:
		defer func() { <-w.sem }()
	case <-ctx.Done():
		return Outcome{Reason: ReasonBusy, Message: "the sandbox is busy"}
	}

	dir, err := os.MkdirTemp(w.tempDir, "komand-skill-")
	if err != nil {
		return Outcome{Reason: ReasonCrash, Message: "the sandbox could not start"}
	}
	defer os.RemoveAll(dir)

	st := &execState{ex: ex, egress: w.egress}
	ctx, stop := context.WithCancelCause(ctx)
	defer stop(nil)
	stdout := &cappedWriter{max: maxOut, onOverflow: func() { stop(errOutputLimit) }}
	stderr := &cappedWriter{max: maxErr, drop: true}
	mem := &capAllocator{limit: memLimit}
	ctx = experimental.WithMemoryAllocator(ctx, mem)
	ctx = context.WithValue(ctx, execKey{}, st)

	cfg := wazero.NewModuleConfig().
		WithName("").
		WithArgs("skill").
		WithStdin(bytes.NewReader(ex.Input)).
		WithStdout(stdout).
		WithStderr(stderr).
		WithFSConfig(wazero.NewFSConfig().(sysfs.FSConfig).WithSysFSMount(newTmpFS(dir), "/tmp")).
		WithRandSource(rand.Reader).
		WithSysWalltime().
		WithSysNanotime().
		WithNanosleep(func(ns int64) {
			t := time.NewTimer(time.Duration(ns))
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
			}
		}).
		WithStartFunctions("_start")

	code, done, err := w.acquire(ctx, m)
	if err != nil {
		return Outcome{Reason: ReasonCrash, Message: "the sandbox could not start"}
	}
	defer done() // after the instance is closed below
	mod, runErr := w.instantiate(ctx, code, cfg)
	if mod != nil {
		mod.Close(context.WithoutCancel(ctx))
	}
	out = Outcome{Output: stdout.bytes(), Stderr: stderr.bytes(), PeakMemory: mem.peak.Load(),
		HostCalls: int(st.calls.Load()), Network: st.network}
	if !out.limited(context.Cause(ctx), stdout.overflow, mem.refused.Load() && runErr != nil, maxOut, memLimit, timeout) && runErr != nil {
		var ee *sys.ExitError
		if errors.As(runErr, &ee) {
			out.ExitCode = ee.ExitCode()
			out.Reason, out.Message = ReasonExit, fmt.Sprintf("the skill exited with status %d", ee.ExitCode())
		} else {
			out.Reason, out.Message = ReasonCrash, "the skill crashed"
		}
	}
	if out.Failed() && out.Reason != ReasonExit {
		out.Output = nil
	}
	return out
}

// limited sets the reason when the platform stopped the execution (output
// cap, memory, timeout, cancellation), in that order of precedence, and
// reports whether it did; both runtimes classify their outcome through it.
func (out *Outcome) limited(cause error, overflow, memory bool, maxOut int, memLimit uint64, timeout time.Duration) bool {
	switch {
	case errors.Is(cause, errOutputLimit) || overflow:
		out.Reason, out.Message = ReasonOutputLimit, fmt.Sprintf("the skill wrote more than %d bytes of output", maxOut)
	case memory:
		out.Reason, out.Message = ReasonMemory, fmt.Sprintf("the skill exceeded its memory limit (%d MiB)", memLimit>>20)
	case errors.Is(cause, errTimeout):
		out.Reason, out.Message = ReasonTimeout, fmt.Sprintf("the skill did not finish within %s", timeout)
	case cause != nil:
		out.Reason, out.Message = ReasonCanceled, "the execution was canceled"
	default:
		return false
	}
	return true
}

// instantiate runs the module; a panic inside the runtime (a wazero bug a
// hostile module found) becomes a crash of this execution, never of the
// server.
func (w *WASM) instantiate(ctx context.Context, code wazero.CompiledModule, cfg wazero.ModuleConfig) (mod api.Module, err error) {
	defer func() {
		if r := recover(); r != nil {
			mod, err = nil, fmt.Errorf("sandbox: runtime panic: %v", r)
		}
	}()
	return w.rt.InstantiateModule(ctx, code, cfg)
}

var (
	errTimeout     = errors.New("sandbox: timeout")
	errOutputLimit = errors.New("sandbox: output limit")
)

// capAllocator backs one instance's linear memory and refuses to grow it
// past limit.
type capAllocator struct {
	limit   uint64
	refused atomic.Bool
	peak    atomic.Uint64
}

func (a *capAllocator) Allocate(capacity, max uint64) experimental.LinearMemory {
	return &capMemory{a: a}
}

type capMemory struct {
	a   *capAllocator
	buf []byte
}

func (m *capMemory) Reallocate(size uint64) []byte {
	if size > m.a.limit {
		m.a.refused.Store(true)
		return nil
	}
	if size <= uint64(cap(m.buf)) {
		m.buf = m.buf[:size]
	} else {
		// Grow geometrically (bounded by the limit) so a module growing
		// page by page does not copy its memory each time.
		c := max(size, min(uint64(cap(m.buf))*2, m.a.limit))
		nb := make([]byte, size, c)
		copy(nb, m.buf)
		m.buf = nb
	}
	if size > m.a.peak.Load() {
		m.a.peak.Store(size)
	}
	return m.buf
}

func (m *capMemory) Free() { m.buf = nil }

// cappedWriter keeps at most max bytes; past that it either drops the rest
// (stderr) or reports an overflow (stdout), which stops the execution.
type cappedWriter struct {
	mu         sync.Mutex
	buf        []byte
	max        int
	drop       bool
	overflow   bool
	onOverflow func()
}

func (c *cappedWriter) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.buf)+len(p) > c.max {
		if c.drop {
			c.buf = append(c.buf, p[:c.max-len(c.buf)]...)
			return len(p), nil
		}
		c.overflow = true
		if c.onOverflow != nil {
			c.onOverflow()
		}
		return 0, errOutputLimit
	}
	c.buf = append(c.buf, p...)
	return len(p), nil
}

func (c *cappedWriter) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf
}
