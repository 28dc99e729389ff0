package gateway

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/apperr"
)

type fuzzBody struct {
	AgentID string            `json:"agentId"`
	Name    *string           `json:"name"`
	Tags    []string          `json:"tags"`
	N       *int              `json:"n"`
	Meta    map[string]string `json:"meta"`
}

// FuzzDecodeJSON feeds arbitrary bytes to the strict decoder. Whatever the
// input, it must not panic, must answer with an apperr of a client kind (4xx)
// whose message holds no input bytes beyond a sanitised field name, and must
// accept only what encoding/json itself accepts as a single object.
// Seed corpus: testdata/fuzz/FuzzDecodeJSON.
func FuzzDecodeJSON(f *testing.F) {
	for _, s := range []string{
		`{"agentId":"a","name":"b"}`, `{"agentId":"a","unknown":1}`, `{"name":null}`, `[]`, `null`,
		`{"agentId":"a"} {"x":1}`, `{"agentId":`, `{"n":1e309}`, `{"n":"1"}`, "\xff\xfe", `{"meta":{"a":"b"}}`,
		`{"\u0000":1}`, `{"` + strings.Repeat("a", 300) + `":1}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var dst fuzzBody
		err := DecodeJSON("application/json", bytes.NewReader(data), &dst)
		if err == nil {
			if !json.Valid(bytes.TrimSpace(data)) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			return
		}
		pe, ok := apperr.As(err)
		if !ok {
			t.Fatalf("error is not an apperr: %v", err)
		}
		if s := pe.Kind.Status(); s < 400 || s >= 500 {
			t.Fatalf("status %d for client input", s)
		}
		if len(pe.Message) > 200 {
			t.Fatalf("message too long (%d): %q", len(pe.Message), pe.Message)
		}
		for _, r := range pe.Message {
			if r < 0x20 || r == 0x7f {
				t.Fatalf("control character in message %q", pe.Message)
			}
		}
		if !fixedDecodeMessage(pe.Message) {
			t.Fatalf("message is not one of the fixed forms (it may echo input): %q", pe.Message)
		}
	})
}

// fixedDecodeMessage reports whether msg is one of the decoder's fixed
// messages, or "<field>: <fixed text>" with a field name in the sanitised
// alphabet: nothing else from the input can reach a client.
func fixedDecodeMessage(msg string) bool {
	switch msg {
	case "request body is too large", "request body is required", "request body is not valid JSON",
		"request body must be a JSON object", "request body must contain a single JSON object",
		"Content-Type must be application/json":
		return true
	}
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || (rest != "has the wrong type" && rest != "is not a known field") {
		return false
	}
	field = strings.TrimSuffix(field, "…")
	if len(field) > 64 {
		return false
	}
	for _, r := range field {
		if !(r == '.' || r == '_' || r == '-' || r == '[' || r == ']' || r == '?' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')) {
			return false
		}
	}
	return true
}

func TestDecodeJSONContentTypes(t *testing.T) {
	for ct, want := range map[string]apperr.Kind{
		"application/json":                apperr.Kind(-1),
		"application/json; charset=utf-8": apperr.Kind(-1),
		"text/plain":                      apperr.UnsupportedMedia,
		"":                                apperr.UnsupportedMedia,
		"application/jsonx":               apperr.UnsupportedMedia,
		"multipart/form-data; boundary=x": apperr.UnsupportedMedia,
	} {
		var dst fuzzBody
		err := DecodeJSON(ct, strings.NewReader(`{"agentId":"a"}`), &dst)
		if want == apperr.Kind(-1) {
			if err != nil {
				t.Errorf("%q: %v", ct, err)
			}
			continue
		}
		if pe, ok := apperr.As(err); !ok || pe.Kind != want {
			t.Errorf("%q: got %v, want kind %v", ct, err, want)
		}
	}
}
