package gateway

import (
	"bytes"
	"encoding/json"
	"net/http/httptest"
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
		`{"agentId":"x4","name":"x","agentId":"x5"}`, `{"agentId":"a","AGENTID":"b"}`, `{"meta":{"a":"1","\u0061":"2"}}`,
		`{"meta":{"k":"1","\u212a":"2"}}`, `{"tags":["a","a"],"meta":{"a":"a"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if json.Valid(data) {
			_, got := duplicateKey(data)
			if want := referenceDuplicate(data); got != want {
				t.Fatalf("duplicateKey(%q) = %v, the token-based reference says %v", data, got, want)
			}
		}
		var dst fuzzBody
		err := DecodeJSON("application/json", bytes.NewReader(data), &dst)
		if err == nil {
			if !json.Valid(bytes.TrimSpace(data)) {
				t.Fatalf("accepted invalid JSON %q", data)
			}
			if !bytes.HasPrefix(bytes.TrimSpace(data), []byte("{")) {
				t.Fatalf("accepted %q, which is not an object", data)
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

// referenceDuplicate is duplicateKey written the slow, obvious way, with
// encoding/json's tokenizer, for FuzzDecodeJSON to compare the byte scan
// with: it reports whether an object of doc (valid JSON) has two keys
// that are equal under bytes.EqualFold (as encoding/json matches names).
func referenceDuplicate(doc []byte) bool {
	type frame struct {
		obj, wantKey bool
		keys         []string
	}
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var stack []*frame
	endValue := func() {
		if n := len(stack); n > 0 && stack[n-1].obj {
			stack[n-1].wantKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				stack = append(stack, &frame{obj: v == '{', wantKey: v == '{'})
				continue
			}
			stack = stack[:len(stack)-1]
			endValue()
		case string:
			if n := len(stack); n > 0 && stack[n-1].obj && stack[n-1].wantKey {
				for _, k := range stack[n-1].keys {
					if strings.EqualFold(k, v) {
						return true
					}
				}
				stack[n-1].keys, stack[n-1].wantKey = append(stack[n-1].keys, v), false
				continue
			}
			endValue()
		default:
			endValue()
		}
	}
}

// fixedDecodeMessage reports whether msg is one of the decoder's fixed
// messages, or "<field>: <fixed text>" with a field name in the sanitised
// alphabet: nothing else from the input can reach a client.
func fixedDecodeMessage(msg string) bool {
	switch msg {
	case "request body is too large", "request body is required", "request body is not valid JSON",
		"request body must be a JSON object", "request body must contain a single JSON object",
		"Content-Type must be application/json", "request body is nested too deeply (at most 10000 levels)":
		return true
	}
	field, rest, ok := strings.Cut(msg, ": ")
	if !ok || (rest != "has the wrong type" && rest != "is not a known field" && rest != "is given more than once") {
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

// TestDecodeJSONRefusesDuplicateKeys (issue 15): a key given twice in any
// object, however it is spelled (escaped, in another case, with a Unicode
// case fold of its letters), was accepted with the last value winning.
// Now it is a 400 naming the key and its path; equal keys in different
// objects, and equal strings that are values, are not duplicates.
func TestDecodeJSONRefusesDuplicateKeys(t *testing.T) {
	for doc, field := range map[string]string{
		`{"agentId":"x4","name":"x","agentId":"x5"}`:    "agentId",
		`{"agentId":"x4","\u0061gentId":"x5"}`:          "agentId",
		`{"agentId":"x4","AgentID":"x5"}`:               "AgentID",
		`{"meta":{"a":"1","a":"2"}}`:                    "meta.a",
		`{"meta":{"k":"1","\u212a":"2"}}`:               "meta.?", // the Kelvin sign folds like k
		`{"meta":{"a":"1"},"tags":["x"],"meta":{}}`:     "meta",
		`{"x":[{"y":{"z":1,"z":2}}]}`:                   "x.y.z",
		`{"x":[1,{"a":1},{"a":2,"b":{"c":[],"c":{}}}]}`: "x.b.c",
		`{"":1,"":2}`: "?",
	} {
		var dst map[string]any
		err := DecodeJSON("application/json", strings.NewReader(doc), &dst)
		pe, ok := apperr.As(err)
		if !ok || pe.Kind != apperr.Invalid || pe.Message != field+": is given more than once" {
			t.Errorf("%s: %v, want %q refused as given more than once", doc, err, field)
		}
	}
	var body fuzzBody
	if err := DecodeJSON("application/json", strings.NewReader(`{"agentId":"x4","name":"x","agentId":"x5"}`), &body); err == nil {
		t.Errorf("the issue's body was accepted into a struct (agentId %q)", body.AgentID)
	}
	for _, doc := range []string{
		`{"a":{"a":{"a":1}}}`, `{"x":[{"a":1},{"a":2}]}`, `{"a":"b","b":"a"}`, `{"tags":["agentId","agentId"]}`,
		`{"a":{"b":1},"b":{"a":1}}`, `{"ab":1,"a":1,"b":1}`, `{"x":[],"y":{}}`,
	} {
		var dst map[string]any
		if err := DecodeJSON("application/json", strings.NewReader(doc), &dst); err != nil {
			t.Errorf("%s refused: %v", doc, err)
		}
	}
}

// TestPaginationSaysTheRange (issue 15): ?page=1000000000 was "must be
// an integer"; an integer out of range is now told the range for the
// pageSize (page numbers reach validate.MaxOffset rows), whatever its size.
func TestPaginationSaysTheRange(t *testing.T) {
	const pageRange = "page: must be between 1 and 200 with pageSize 50 (page numbers reach the first 10000 rows; " +
		"follow meta.nextCursor with ?cursor= for the rest)"
	for query, msg := range map[string]string{
		"page=1000000000":               pageRange,
		"page=99999999999999999999999":  pageRange,
		"page=-99999999999999999999999": pageRange,
		"page=201":                      pageRange,
		"page=0":                        pageRange,
		"page=-1":                       pageRange,
		"page=101&pageSize=100":         strings.Replace(pageRange, "200 with pageSize 50", "100 with pageSize 100", 1),
		"pageSize=1000000000":           "pageSize: must be between 1 and 100",
		"pageSize=0":                    "pageSize: must be between 1 and 100",
		"page=abc":                      "page: must be an integer",
		"page=1.5":                      "page: must be an integer",
		"pageSize=1e3":                  "pageSize: must be an integer",
		"page=%00":                      "page: must be an integer",
	} {
		_, err := pagination(httptest.NewRequest("GET", "/api/agents/?"+query, nil))
		if pe, ok := apperr.As(err); !ok || pe.Kind != apperr.Invalid || pe.Message != msg {
			t.Errorf("%s: %v, want %q", query, err, msg)
		}
	}
	pg, err := pagination(httptest.NewRequest("GET", "/api/agents/?page=100&pageSize=100", nil))
	if err != nil || pg.Page != 100 || pg.PageSize != 100 {
		t.Fatalf("the largest page: %+v %v", pg, err)
	}
}
