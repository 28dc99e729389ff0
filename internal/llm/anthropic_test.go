package llm_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/llm"
)

// anthropicServer answers /v1/messages with handler after checking the
// headers every request must carry.
func anthropicServer(t *testing.T, handler func(w http.ResponseWriter, body map[string]any)) *llm.Anthropic {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/messages" || r.Header.Get("x-api-key") != "sk-ant-test" ||
			r.Header.Get("anthropic-version") != llm.AnthropicVersion || r.Header.Get("Authorization") != "" {
			t.Errorf("request %s %v", r.URL.Path, r.Header)
			http.Error(w, "bad request", 400)
			return
		}
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body: %v", err)
		}
		handler(w, body)
	}))
	t.Cleanup(srv.Close)
	return &llm.Anthropic{BaseURL: srv.URL, APIKey: "sk-ant-test", Client: srv.Client(),
		Retry: llm.Retry{Attempts: 3, Base: time.Millisecond, Max: 10 * time.Millisecond}}
}

var toolLoopRequest = llm.Request{
	Model: "claude-test", System: "Be brief.",
	Messages: []llm.Message{
		{Role: llm.RoleUser, Text: "time and plan?"},
		{Role: llm.RoleAssistant, ToolCalls: []llm.ToolCall{
			{ID: "tu_1", Name: "current_time", Arguments: json.RawMessage(`{}`)},
			{ID: "tu_2", Name: "memory_recall", Arguments: json.RawMessage(`"not an object"`)},
		}},
		{Role: llm.RoleTool, ToolCallID: "tu_1", Text: `{"time":"noon"}`},
		{Role: llm.RoleTool, ToolCallID: "tu_2", Text: `{"error":"bad"}`, IsError: true},
	},
	Tools: []llm.Tool{{Name: "current_time", Description: "now", InputSchema: json.RawMessage(`{"type":"object"}`)}},
}

func TestAnthropicWireFormat(t *testing.T) {
	p := anthropicServer(t, func(w http.ResponseWriter, body map[string]any) {
		msgs := body["messages"].([]any)
		// user, assistant (two tool_use blocks), user (two tool_result blocks).
		if len(msgs) != 3 || body["system"] != "Be brief." || body["model"] != "claude-test" {
			t.Errorf("request: %v", body)
		}
		results := msgs[2].(map[string]any)["content"].([]any)
		if len(results) != 2 || results[1].(map[string]any)["is_error"] != true ||
			results[0].(map[string]any)["tool_use_id"] != "tu_1" {
			t.Errorf("tool results: %v", results)
		}
		uses := msgs[1].(map[string]any)["content"].([]any)
		if in := uses[1].(map[string]any)["input"]; fmt.Sprint(in) != "map[]" {
			t.Errorf("a non-object input must go out as {}: %v", in)
		}
		tools := body["tools"].([]any)
		if tools[0].(map[string]any)["input_schema"] == nil {
			t.Errorf("tools: %v", tools)
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"msg_1","type":"message","role":"assistant","content":[
			{"type":"text","text":"Checking. "},
			{"type":"tool_use","id":"tu_3","name":"memory_store","input":{"key":"k","value":"v"}}],
			"stop_reason":"tool_use","usage":{"input_tokens":12,"output_tokens":7}}`)
	})
	resp, err := p.Complete(t.Context(), toolLoopRequest, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "Checking. " || resp.StopReason != "tool_use" || resp.InputTokens != 12 || len(resp.ToolCalls) != 1 ||
		resp.ToolCalls[0].ID != "tu_3" || string(resp.ToolCalls[0].Arguments) != `{"key":"k","value":"v"}` {
		t.Fatalf("response: %+v", resp)
	}
}

func TestAnthropicStreaming(t *testing.T) {
	p := anthropicServer(t, func(w http.ResponseWriter, body map[string]any) {
		if body["stream"] != true {
			t.Errorf("not streamed: %v", body)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"type":"message_start","message":{"id":"msg_1","role":"assistant","content":[]}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"ping"}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"lo"}}`,
			`{"type":"content_block_stop","index":0}`,
			`{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"tu_9","name":"current_time","input":{}}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"timez"}}`,
			`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"one\":\"UTC\"}"}}`,
			`{"type":"content_block_stop","index":1}`,
			`{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":9}}`,
			`{"type":"message_stop"}`,
		} {
			var typ struct{ Type string }
			_ = json.Unmarshal([]byte(ev), &typ)
			fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ.Type, ev)
		}
	})
	var deltas []string
	resp, err := p.Complete(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}},
		func(d llm.Delta) { deltas = append(deltas, d.Text) })
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(deltas, "|") != "Hel|lo" || resp.Text != "Hello" || resp.StopReason != "tool_use" || resp.OutputTokens != 9 ||
		len(resp.ToolCalls) != 1 || string(resp.ToolCalls[0].Arguments) != `{"timezone":"UTC"}` {
		t.Fatalf("deltas %v, response %+v", deltas, resp)
	}
}

func TestAnthropicErrors(t *testing.T) {
	calls := 0
	p := anthropicServer(t, func(w http.ResponseWriter, _ map[string]any) {
		calls++
		if calls == 1 {
			w.Header().Set("Retry-After", "0")
			http.Error(w, `{"type":"error","error":{"type":"overloaded_error"}}`, 529)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"content":[{"type":"text","text":"ok"}],"stop_reason":"end_turn","usage":{}}`)
	})
	resp, err := p.Complete(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}}, nil)
	if err != nil || resp.Text != "ok" || calls != 2 {
		t.Fatalf("after 529: %+v %v (calls %d)", resp, err, calls)
	}

	// A 4xx is not retried and its body never reaches the error.
	calls = 0
	p = anthropicServer(t, func(w http.ResponseWriter, _ map[string]any) {
		calls++
		http.Error(w, "invalid x-api-key sk-ant-secret-echo", http.StatusUnauthorized)
	})
	_, err = p.Complete(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}}, nil)
	if !errors.Is(err, llm.ErrMisconfigured) || strings.Contains(err.Error(), "secret") || calls != 1 {
		t.Fatalf("401: %v (calls %d)", err, calls)
	}

	// A stream cut before message_stop, and garbage, are errors.
	for _, body := range []string{
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}\n\n",
		"data: {not json\n\n",
	} {
		p = anthropicServer(t, func(w http.ResponseWriter, _ map[string]any) {
			w.Header().Set("Content-Type", "text/event-stream")
			fmt.Fprint(w, body)
		})
		_, err = p.Complete(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}}, func(llm.Delta) {})
		if !errors.Is(err, llm.ErrUnavailable) {
			t.Errorf("%q: %v", body, err)
		}
	}
}
