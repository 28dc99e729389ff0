package gateway

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
)

// TestDecodeJSONRefusesNonObjects: a body is one JSON object; null (which
// encoding/json would take as "leave everything as it is", so {} for a
// struct) and every other top-level value are refused with
// validation_failed, whatever the destination. An empty body is "required".
func TestDecodeJSONRefusesNonObjects(t *testing.T) {
	for _, body := range []string{"null", " null ", "\n\tnull", "[]", `[{"agentId":"a"}]`, `"x"`, "1", "true", "false", "-0", `"{}"`} {
		for name, dst := range map[string]any{"struct": &fuzzBody{}, "raw": &json.RawMessage{}, "map": &map[string]any{}, "any": new(any)} {
			err := DecodeJSON("application/json", strings.NewReader(body), dst)
			pe, ok := apperr.As(err)
			if !ok || pe.Kind != apperr.Invalid || pe.Message != "request body must be a JSON object" {
				t.Errorf("%q into %s: %v, want validation_failed %q", body, name, err, "request body must be a JSON object")
			}
		}
	}
	for _, body := range []string{"", "  \n"} {
		if pe, ok := apperr.As(DecodeJSON("application/json", strings.NewReader(body), &fuzzBody{})); !ok || pe.Message != "request body is required" {
			t.Errorf("%q: %v", body, pe)
		}
	}
	var raw json.RawMessage
	if err := DecodeJSON("application/json", strings.NewReader(` {"action":"block"}`), &raw); err != nil || string(raw) != `{"action":"block"}` {
		t.Fatalf("an object: %v %s", err, raw)
	}
}

// TestDecodeJSONTooDeep: encoding/json refuses a value nested more than
// 10000 levels deep; the refusal says so instead of calling valid JSON
// invalid.
func TestDecodeJSONTooDeep(t *testing.T) {
	ok := strings.Repeat(`{"a":`, 10000) + "1" + strings.Repeat("}", 10000)
	var raw json.RawMessage
	if err := DecodeJSON("application/json", strings.NewReader(ok), &raw); err != nil {
		t.Fatalf("10000 levels: %v", err)
	}
	for _, body := range []string{
		strings.Repeat(`{"a":`, 10001) + "1" + strings.Repeat("}", 10001),
		`{"a":` + strings.Repeat("[", 10000) + strings.Repeat("]", 10000) + "}",
	} {
		pe, isApp := apperr.As(DecodeJSON("application/json", strings.NewReader(body), &raw))
		if !isApp || pe.Kind != apperr.Invalid || pe.Message != "request body is nested too deeply (at most 10000 levels)" {
			t.Fatalf("10001 levels: %v", pe)
		}
	}
}
