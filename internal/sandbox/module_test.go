package sandbox

import (
	"context"
	"errors"
	"testing"
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
// accepts a module, reports a shape within the limits it enforces.
func FuzzInspect(f *testing.F) {
	for _, s := range []string{
		wasmHeader,
		wasmHeader + "\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",
		wasmHeader + "\x04\x04\x01\x70\x00\x10\x05\x03\x01\x00\x02\x00\x03\x01a\x00",
		wasmHeader + "\x04\x07\x02\x70\x00\x01\x70\x01\x01\x02",
		wasmHeader + "\x05\x04\x01\x01\x01\x02",
		wasmHeader + "\x05\x03\x01\x04\x01",
		wasmHeader + "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x07\x0a\x01\x06_start\x00\x00\x0a\x04\x01\x02\x00\x0b",
	} {
		f.Add([]byte(s))
	}
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
	})
}
