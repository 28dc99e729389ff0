package e2e_test

import (
	"strings"
	"testing"
)

// TestSkillModuleHostileCounts: an Owner who allows unsigned skills
// registers packages whose module declares a vector of 2^32-1 items (16
// bytes; the decoder allocated the vector before reading it, a Go fatal
// error that ended the server for every tenant). Each is a clean 400
// saying why, and the server answers afterwards.
func TestSkillModuleHostileCounts(t *testing.T) {
	t.Parallel()
	const header, huge = "\x00asm\x01\x00\x00\x00", "\xff\xff\xff\xff\x0f"
	modules := []struct{ name, mod, reason string }{
		{"imports", "\x02\x06" + huge + "\x00", "too many imports"},
		{"exports", "\x07\x06" + huge + "\x00", "too many exports"},
		{"globals", "\x06\x06" + huge + "\x00", "too many globals"},
		{"function bodies", "\x0a\x06" + huge + "\x00", "too many function bodies"},
		{"data segments", "\x0b\x06" + huge + "\x00", "too many data segments"},
		{"locals", "\x01\x04\x01\x60\x00\x00\x03\x02\x01\x00\x0a\x0a\x01\x08\x01" + huge + "\x7f\x0b", "too many locals"},
	}
	forEachStore(t, func(t *testing.T, kind string) {
		w := newSkillWorld(t, kind)
		env := w.env
		if r := env.Do("PUT", "/api/tenant/skill-policy", w.owner, map[string]any{"allowUnsigned": true}); r.Status != 200 {
			t.Fatalf("policy: %d %s", r.Status, r.Body)
		}
		for _, m := range modules {
			p := pack(t, "examples/skills/quote-builder/skill.json", hostileContract(map[string]any{"timeoutSeconds": 2, "memoryMb": 64}, nil), []byte(header+m.mod), nil)
			r := env.Do("POST", "/api/skills/", w.owner, p)
			expectError(t, r, 400, "validation_failed")
			if !strings.Contains(*r.Error, m.reason) {
				t.Fatalf("%s: message %q, want the reason %q", m.name, *r.Error, m.reason)
			}
		}
		if r := env.Do("GET", "/api/skills/", w.owner, nil); r.Status != 200 {
			t.Fatalf("server after the hostile modules: %d %s", r.Status, r.Body)
		}
	})
}
