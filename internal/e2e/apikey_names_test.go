package e2e_test

import (
	"strings"
	"testing"
)

// TestAPIKeyNameHumanText: an API key's name follows the one human-text
// rule (validate.Line), like every other name: no joiner between Latin
// letters, no line or paragraph separator, no Hangul filler, no
// zero-width non-joiner where no script needs it. A name a script needs
// its joiners for is taken.
func TestAPIKeyNameHumanText(t *testing.T) {
	t.Parallel()
	w := newWorld(t, "sqlite")
	owner := w.keys["a/owner"]
	before, _ := listKeys(t, w.env, owner)
	for _, name := range []string{"ad\u200dmin", "a\u2028b", "a\u2029b", "a\u3164b", "a\u115fb", "a\u200cb", "ci\u200e", "a\tb"} {
		r := w.env.Do("POST", "/api/apikeys/", owner, map[string]any{"name": name})
		expectError(t, r, 400, "validation_failed")
		if !strings.Contains(string(r.Body), "name: must") {
			t.Fatalf("%q: the refusal does not name the field: %s", name, r.Body)
		}
	}
	if after, _ := listKeys(t, w.env, owner); len(after) != len(before) {
		t.Fatalf("refused names added %d keys", len(after)-len(before))
	}
	k := createKey(t, w.env, owner, map[string]any{"name": "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645"}) // Persian, ZWNJ needed
	if k.Name != "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645" {
		t.Fatalf("name stored as %q", k.Name)
	}
}
