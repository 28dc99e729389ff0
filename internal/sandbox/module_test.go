package sandbox

import (
	"bytes"
	"context"
	"errors"
	"runtime"
	"runtime/debug"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hand-made module binaries: the header, then sections (id, LEB128 size,
// payload).
const wasmHeader = "\x00asm\x01\x00\x00\x00"

// TestInspectRefusesMalformedSections: section and vector lengths that
// run past the end of the module (including lengths near 2^64, which
// wrapped the bound check and panicked on the slice) are refused with a
// reason, never a panic.
func TestInspectRefusesMalformedSections(t *testing.T) {
	cases := map[string]string{
		"size wraps uint64":        wasmHeader + "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		"size past end":            wasmHeader + "\x01\x05\x00",
		"size max int64":           wasmHeader + "\x01\xff\xff\xff\xff\xff\xff\xff\xff\x7f",
		"size LEB overlong":        wasmHeader + "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x80\x00",
		"size LEB 10th byte big":   wasmHeader + "\x01\x80\x80\x80\x80\x80\x80\x80\x80\x80\x7f",
		"id without size":          wasmHeader + "\x05",
		"table count past section": wasmHeader + "\x04\x01\x02",
		"table limits truncated":   wasmHeader + "\x04\x02\x01\x70",
		"memory flags missing":     wasmHeader + "\x05\x01\x01",
		"memory min truncated":     wasmHeader + "\x05\x02\x01\x00",
		"memory min too big":       wasmHeader + "\x05\x05\x01\x00\x81\x80\x04",
		"two memories":             wasmHeader + "\x05\x05\x02\x00\x01\x00\x01",
		"table too large":          wasmHeader + "\x04\x06\x01\x70\x00\x81\x80\x40",
		"two memory sections":      wasmHeader + "\x05\x03\x01\x00\x01\x05\x01\x00",
		"size over u32":            wasmHeader + "\x01\xff\xff\xff\xff\x1f",
		"short header":             "\x00asm",
		"not wasm":                 "\x7fELF\x02\x01\x01\x00",
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			_, reason := inspect([]byte(mod))
			if reason == "" {
				t.Fatalf("inspect accepted %q", mod)
			}
		})
	}
}

// TestInspectReadsShape: well-formed sections are read, not refused.
func TestInspectReadsShape(t *testing.T) {
	mod := wasmHeader +
		"\x04\x04\x01\x70\x00\x10" + // one funcref table, min 16
		"\x05\x03\x01\x00\x02" + // one memory, min 2 pages
		"\x00\x03\x01a\x00" // a custom section
	lim, reason := inspect([]byte(mod))
	if reason != "" {
		t.Fatalf("inspect refused a well-formed module: %s", reason)
	}
	if lim.memories != 1 || lim.memMinPages != 2 {
		t.Fatalf("inspect read %+v, want one memory of 2 pages", lim)
	}
}

// TestCompileRefusesWrappingSectionSize: the module from issue 15 (a
// section length of 2^64-1) is an invalid module through Compile, the
// path of `komand skill run` and skill registration, not a panic.
func TestCompileRefusesWrappingSectionSize(t *testing.T) {
	ctx := context.Background()
	w, err := NewWASM(ctx, Options{TempDir: t.TempDir(), MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	_, err = w.Compile(ctx, []byte(wasmHeader+"\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01"))
	var inv *ErrInvalidModule
	if !errors.As(err, &inv) || inv.Reason != "malformed section" {
		t.Fatalf("Compile: %v, want invalid module (malformed section)", err)
	}
}

// FuzzInspect: inspect never panics, is deterministic and, when it
// accepts a module, reports a shape within the limits it enforces, and
// the module compiles (or is refused by the compiler) without a panic
// and within a memory bound: what the check lets through never makes the
// decoder allocate by a count it did not bound. The seeds hold a section
// of every kind and each nested vector, so the fuzzer mutates counts,
// not only lengths.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		wasmHeader,
		wasmHeader + "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		wasmHeader + "\x04\x04\x01\x70\x00\x10\x05\x03\x01\x00\x02\x00\x03\x01a\x00",
		wasmHeader + "\x04\x07\x02\x70\x00\x01\x70\x01\x01\x02",
		wasmHeader + "\x05\x04\x01\x01\x01\x02",
		wasmHeader + "\x05\x03\x01\x04\x01",
		wasmHeader + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x0a\x01\x06_start\x00\x00\x0a\x04\x01\x02\x00\x0b",
		// type with params and results, import of each kind, global,
		// export, start, element, code with locals, data, data count.
		wasmHeader + "\x01\x0a\x02\x60\x02\x7f\x7e\x01\x7d\x60\x00\x00" +
			"\x02\x16\x03\x01m\x01f\x00\x00\x01m\x01g\x03\x7f\x00\x01m\x01t\x01\x70\x00\x01" +
			"\x03\x02\x01\x01\x05\x03\x01\x00\x01" +
			"\x06\x06\x01\x7f\x01\x41\x07\x0b" +
			"\x07\x05\x01\x01e\x00\x01" +
			"\x08\x01\x01" +
			"\x09\x07\x01\x00\x41\x00\x0b\x01\x01" +
			"\x0c\x01\x02" +
			"\x0a\x0a\x01\x08\x02\x02\x7f\x01\x7c\x01\x01\x0b" +
			"\x0b\x0d\x02\x00\x41\x00\x0b\x03abc\x01\x02hi",
		// element segments of every prefix.
		wasmHeader + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x04\x04\x01\x70\x00\x04" +
			"\x09\x2f\x08\x00\x41\x00\x0b\x01\x00\x01\x00\x01\x00\x02\x00\x41\x01\x0b\x00\x01\x00" +
			"\x03\x00\x01\x00\x04\x41\x02\x0b\x01\xd2\x00\x0b\x05\x70\x01\xd0\x70\x0b\x06\x00\x41\x03\x0b\x70\x00\x07\x70\x00" +
			"\x0a\x04\x01\x02\x00\x0b",
		// a name section: module name, function names, local names.
		wasmHeader + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x06\x01\x04\x01\x01\x7f\x0b" +
			"\x00\x17\x04name\x00\x02\x01m\x01\x04\x01\x00\x01f\x02\x06\x01\x00\x01\x00\x01x",
		// the hostile counts, so the fuzzer starts from the refusals.
		wasmHeader + "\x02\x06" + huge + "\x00",
		wasmHeader + "\x07\x05\xff\xff\xff\x07\x00",
		wasmHeader + oneFunc + "\x0a\x0a\x01\x08\x01" + huge + "\x7f\x0b",
		wasmHeader + "\x0b\x08\x01\x01" + huge + "\x00",
		wasmHeader + "\x00\x0d\x04name\x01\x06" + huge + "\x00",
	} {
		f.Add([]byte(s))
	}
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCoreFeatures(api.CoreFeaturesV2&^api.CoreFeatureReferenceTypes))
	f.Cleanup(func() { rt.Close(ctx) })
	debug.SetMemoryLimit(1 << 30)
	f.Fuzz(func(t *testing.T, b []byte) {
		lim, reason := inspect(b)
		lim2, reason2 := inspect(append([]byte(nil), b...))
		if lim != lim2 || reason != reason2 {
			t.Fatalf("inspect not deterministic: %+v %q vs %+v %q", lim, reason, lim2, reason2)
		}
		if reason != "" {
			return
		}
		if lim.memories < 0 || lim.memories > maxMemories || lim.memMinPages > 65536 {
			t.Fatalf("inspect accepted an out-of-limit shape %+v", lim)
		}
		if lim.memories == 0 && lim.memMinPages != 0 {
			t.Fatalf("memory pages without a memory: %+v", lim)
		}
		if len(b) > 1<<16 {
			return // bounded inputs: the compile below must stay small
		}
		// A module the check accepts compiles, or is refused, without a
		// panic and without a large allocation (a count the check missed
		// is gigabytes, or a fatal error that ends the fuzzer).
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		cm, err := rt.CompileModule(ctx, b)
		runtime.ReadMemStats(&after)
		if err == nil {
			cm.Close(ctx)
		}
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Fatalf("compiling an accepted %d-byte module allocated %d MiB", len(b), grew>>20)
		}
	})
}

// huge is 2^32-1 as an unsigned LEB128, the largest count or length the
// binary format can declare.
const huge = "\xff\xff\xff\xff\x0f"

// one type () -> (), one function of it: what a code section needs.
const oneFunc = "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00"

// TestInspectRefusesHostileCounts: every vector wazero's decoder
// allocates by its declared count or length before reading the items (a
// Go fatal error, not a panic: the whole server) is bounded by the bytes
// left and by the module limits. Each module here is refused by the
// check, never given to the compiler.
func TestInspectRefusesHostileCounts(t *testing.T) {
	body := func(b string) string { // a code section of one body
		return oneFunc + "\x0a" + string(leb(uint64(len(b)+2))) + "\x01" + string(leb(uint64(len(b)))) + b
	}
	cases := []struct{ name, mod, want string }{
		{"type count", "\x01\x06" + huge + "\x00", "too many types"},
		{"import count (issue 15 b7)", "\x02\x06" + huge + "\x00", "too many imports"},
		{"function count", "\x03\x06" + huge + "\x00", "too many functions"},
		{"table count", "\x04\x06" + huge + "\x00", "too many tables"},
		{"memory count", "\x05\x06" + huge + "\x00", "at most one memory"},
		{"global count", "\x06\x06" + huge + "\x00", "too many globals"},
		{"export count", "\x07\x06" + huge + "\x00", "too many exports"},
		{"export count 2^24-1", "\x07\x05\xff\xff\xff\x07\x00", "too many exports"},
		{"element count", "\x09\x06" + huge + "\x00", "too many element segments"},
		{"code count", "\x0a\x06" + huge + "\x00", "too many function bodies"},
		{"data count", "\x0b\x06" + huge + "\x00", "too many data segments"},
		{"data count section", "\x0c\x05" + huge, "too many data segments"},
		{"functions within the limit, past the section", "\x03\x04\xa0\x8d\x06\x00", "malformed functions (count larger than the section)"},
		{"type params", "\x01\x08\x01\x60" + huge + "\x00", "too many parameters"},
		{"type params past the section", "\x01\x05\x01\x60\xe8\x07\x00", "malformed parameters (count larger than the section)"},
		{"type results", "\x01\x08\x01\x60\x00" + huge, "too many results"},
		{"type rec group", "\x01\x08\x01\x4e" + huge + "\x00", "malformed type"},
		{"import module name length", "\x02\x08\x01" + huge + "\x00\x00", "malformed import module name (length larger than the section)"},
		{"import name length", "\x02\x08\x01\x00" + huge + "\x00", "malformed import name (length larger than the section)"},
		{"export name length", "\x07\x08\x01" + huge + "\x00\x00", "malformed export name (length larger than the section)"},
		{"custom section name length", "\x00\x05" + huge, "malformed custom section"},
		{"body size", oneFunc + "\x0a\x08\x01" + huge + "\x00\x0b", "function body too large"},
		{"body size past the section", oneFunc + "\x0a\x07\x01\x90\x4e\x00\x0b\x00\x00", "malformed function body (size larger than the section)"},
		{"local declarations count", body(huge + "\x0b"), "too many local declarations"},
		{"locals 2^32-1 of one type", body("\x01" + huge + "\x7f\x0b"), "too many locals"},
		{"locals over 50,000 in two declarations", body("\x02\xb0\xea\x01\x7f\xb0\xea\x01\x7e\x0b"), "too many locals"},
		{"element init vector", "\x09\x0a\x01\x00\x41\x00\x0b" + huge, "too many element entries"},
		{"element expression vector", "\x09\x08\x01\x05\x70" + huge, "too many element entries"},
		{"element entries past the section", "\x09\x07\x01\x00\x41\x00\x0b\x90\x4e", "malformed element entries (count larger than the section)"},
		{"data segment length", "\x0b\x08\x01\x01" + huge + "\x00", "malformed data segment (length larger than the section)"},
		{"active data segment length", "\x0b\x0b\x01\x00\x41\x00\x0b" + huge + "\x00", "malformed data segment (length larger than the section)"},
		{"name: module name length", "\x00\x0d\x04name\x00\x06" + huge + "\x00", "malformed module name (length larger than the section)"},
		{"name: function names count", "\x00\x0d\x04name\x01\x06" + huge + "\x00", "too many names"},
		{"name: function name length", "\x00\x0e\x04name\x01\x07\x01\x00" + huge, "malformed name (length larger than the section)"},
		{"name: local maps count", "\x00\x0d\x04name\x02\x06" + huge + "\x00", "too many local name maps"},
		{"name: locals count", "\x00\x0f\x04name\x02\x08\x01\x00" + huge + "\x00", "too many names"},
		// A subsection larger than its contents: the decoder would read
		// the next subsection from inside this one, out of step with the
		// check.
		{"name: subsection out of step", "\x00\x0f\x04name\x01\x08\x00\x01\x06" + huge, "malformed name section"},
		// A size smaller than the contents underflows the decoder's count
		// of what is left, and it reads on past the section.
		{"name: subsection size too small", "\x00\x0d\x04name\x00\x00\x01" + huge, "malformed module name"},
		{"tag section", "\x0d\x01\x00", "malformed section"},
		{"section contents shorter than its size", "\x08\x02\x00\x00", "malformed section (size does not match its contents)"},
		{"duplicate type section", "\x01\x01\x00\x01\x01\x00", "malformed section"},
		{"global init not constant", "\x06\x06\x01\x7f\x00\x20\x00\x0b", "malformed global"},
		{"typed reference parameter", "\x01\x06\x01\x60\x01\x63\x00\x00", "malformed parameter type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := inspect([]byte(wasmHeader + tc.mod))
			if reason != tc.want {
				t.Fatalf("inspect: %q, want %q", reason, tc.want)
			}
		})
	}
}

// TestInspectRefusesOverLimits: counts the bytes could hold but the
// limits do not (a megabyte of one-byte items), and a module within
// every limit whose counts together would make more decoder structures
// than the budget.
func TestInspectRefusesOverLimits(t *testing.T) {
	cases := []struct {
		name string
		mod  []byte
		want string
	}{
		{"functions", sect(3, vecOf(maxFunctions+1, []byte{0})), "too many functions"},
		{"exports", sect(7, vecOf(maxExports+1, []byte{0, 0, 0})), "too many exports"},
		{"element entries across segments", sect(9, vecOf(2, append([]byte{1, 0}, vecOf(maxElemEntries/2+1, []byte{0})...))), "too many element entries"},
		{"locals across functions", append(append([]byte(oneFunc[:6]), sect(3, vecOf(maxModuleLocals/maxLocals+1, []byte{0}))...),
			sect(10, vecOf(maxModuleLocals/maxLocals+1, append([]byte{6, 1}, append(leb(maxLocals), 0x7f, 0x0b)...)))...), "too many locals"},
		{"decoder budget", append(sect(1, vecOf(maxTypes, []byte{0x60, 0, 0})), sect(6, vecOf(maxGlobals, []byte{0x7f, 0, 0x41, 0, 0x0b}))...),
			"module too complex (its declared items would take more than 256 MiB to compile)"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, reason := inspect(append([]byte(wasmHeader), tc.mod...))
			if reason != tc.want {
				t.Fatalf("inspect: %q, want %q", reason, tc.want)
			}
		})
	}
}

// TestCompileRefusesHostileCount: the module from the black-box report
// (an import section declaring 2^32-1 imports, 16 bytes) is an invalid
// module through Compile, the path of `komand skill run` and skill
// registration, before the decoder sees it.
func TestCompileRefusesHostileCount(t *testing.T) {
	ctx := context.Background()
	w, err := NewWASM(ctx, Options{TempDir: t.TempDir(), MaxMemory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close(ctx)
	_, err = w.Compile(ctx, []byte(wasmHeader+"\x02\x06"+huge+"\x00"))
	var inv *ErrInvalidModule
	if !errors.As(err, &inv) || inv.Reason != "too many imports" {
		t.Fatalf("Compile: %v, want invalid module (too many imports)", err)
	}
}

func leb(v uint64) []byte {
	var out []byte
	for {
		c := byte(v & 0x7f)
		if v >>= 7; v == 0 {
			return append(out, c)
		}
		out = append(out, c|0x80)
	}
}

func sect(id byte, payload []byte) []byte {
	return append(append([]byte{id}, leb(uint64(len(payload)))...), payload...)
}

func vecOf(n int, item []byte) []byte {
	return append(leb(uint64(n)), bytes.Repeat(item, n)...)
}
