package llm_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/llm"
)

// The circuit breakers count the tokens providers report (issue 16): both
// clients read the usage of plain and streamed answers.

// TestAnthropicStreamUsage: a stream's input tokens come in message_start,
// its output tokens (cumulative) in message_delta.
func TestAnthropicStreamUsage(t *testing.T) {
	p := anthropicServer(t, func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{
			`{"type":"message_start","message":{"id":"msg_1","role":"assistant","content":[],"usage":{"input_tokens":1234,"output_tokens":1}}}`,
			`{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
			`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`,
			`{"type":"content_block_stop","index":0}`,
			`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":56}}`,
			`{"type":"message_stop"}`,
		} {
			fmt.Fprintf(w, "event: x\ndata: %s\n\n", ev)
		}
	})
	resp, err := p.Complete(t.Context(), llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}}, func(llm.Delta) {})
	if err != nil {
		t.Fatal(err)
	}
	if resp.InputTokens != 1234 || resp.OutputTokens != 56 {
		t.Fatalf("usage: in %d out %d, want 1234 and 56", resp.InputTokens, resp.OutputTokens)
	}
}

// TestOpenAIUsage: a plain answer's usage object, and a stream's last
// chunk, which the client asks for with stream_options.include_usage.
func TestOpenAIUsage(t *testing.T) {
	var bodies []map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		raw, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(raw, &body)
		bodies = append(bodies, body)
		if body["stream"] != true {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"choices":[{"index":0,"message":{"role":"assistant","content":"ok"},"finish_reason":"stop"}],
				"usage":{"prompt_tokens":321,"completion_tokens":12,"total_tokens":333}}`)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"o\"}}]}\n\n")
		fmt.Fprint(w, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\"k\"},\"finish_reason\":\"stop\"}]}\n\n")
		fmt.Fprint(w, "data: {\"choices\":[],\"usage\":{\"prompt_tokens\":777,\"completion_tokens\":3,\"total_tokens\":780}}\n\n")
		fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(srv.Close)
	p := &llm.OpenAI{BaseURL: srv.URL + "/v1", Client: srv.Client(), Retry: llm.Retry{Attempts: 1, Base: time.Millisecond, Max: time.Millisecond}}
	req := llm.Request{Model: "m", Messages: []llm.Message{{Role: "user", Text: "hi"}}}
	resp, err := p.Complete(t.Context(), req, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.InputTokens != 321 || resp.OutputTokens != 12 {
		t.Fatalf("plain usage: in %d out %d", resp.InputTokens, resp.OutputTokens)
	}
	resp, err = p.Complete(t.Context(), req, func(llm.Delta) {})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text != "ok" || resp.InputTokens != 777 || resp.OutputTokens != 3 {
		t.Fatalf("streamed: %+v", resp)
	}
	if _, ok := bodies[0]["stream_options"]; ok {
		t.Errorf("a plain request carries stream_options: %v", bodies[0])
	}
	if so, _ := bodies[1]["stream_options"].(map[string]any); so["include_usage"] != true {
		t.Errorf("the streamed request does not ask for usage: %v", bodies[1])
	}
}
