package requestid

import (
	"context"
	"strings"
	"testing"
)

func TestFromHeader(t *testing.T) {
	for in, keep := range map[string]bool{
		"abc-123":                   true,
		"A.b_C-9":                   true,
		strings.Repeat("a", 128):    true,
		strings.Repeat("a", 129):    false,
		"":                          false,
		"has space":                 false,
		"new\nline":                 false,
		`quote"`:                    false,
		"ünicode":                   false,
		"semi;colon":                false,
		"../../etc":                 false,
		"{\"forged\":\"log\"}":      false,
		"abc\x00def":                false,
		"tab\there":                 false,
		"percent%20encoded":         false,
		"<script>alert(1)</script>": false,
	} {
		got := FromHeader(in)
		if keep && got != in {
			t.Errorf("%q: replaced by %q", in, got)
		}
		if !keep && (got == in || !Valid(got)) {
			t.Errorf("%q: got %q, want a fresh valid ID", in, got)
		}
	}
	if New() == New() {
		t.Error("New returned the same ID twice")
	}
}

// FuzzFromHeader: whatever the header, the ID used is valid, and a client
// value is kept exactly when it is valid. Seed corpus:
// testdata/fuzz/FuzzFromHeader.
func FuzzFromHeader(f *testing.F) {
	for _, s := range []string{"abc", "", "a b", strings.Repeat("x", 129), "é", "a\r\nX-Injected: 1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		got := FromHeader(h)
		if !Valid(got) || len(got) > MaxLen {
			t.Fatalf("FromHeader(%q) = %q is not valid", h, got)
		}
		if Valid(h) != (got == h) {
			t.Fatalf("FromHeader(%q) = %q; Valid=%v", h, got, Valid(h))
		}
		for _, c := range got {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("character %q in %q", c, got)
			}
		}
	})
}

// TestContext: both ways of storing the ID give it back, and a context
// without one gives "".
func TestContext(t *testing.T) {
	if got := From(context.Background()); got != "" {
		t.Fatalf("empty context gave %q", got)
	}
	if got := From(With(context.Background(), "abc-1")); got != "abc-1" {
		t.Fatalf("With: %q", got)
	}
	id := "ref-2"
	if got := From(WithRef(context.Background(), &id)); got != "ref-2" {
		t.Fatalf("WithRef: %q", got)
	}
	if got := From(context.WithValue(context.Background(), ctxKey{}, 42)); got != "" {
		t.Fatalf("a foreign value type gave %q", got)
	}
}
