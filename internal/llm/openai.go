package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// OpenAI is a client of the OpenAI Chat Completions API, which OpenAI,
// Azure OpenAI, Ollama, vLLM, llama.cpp's server and LM Studio all speak:
// POST {BaseURL}/chat/completions with tool calling, and with "stream": true
// as Server-Sent Events of chunks ending in "data: [DONE]".
type OpenAI struct {
	BaseURL string // e.g. https://api.openai.com/v1; no trailing slash needed
	APIKey  string // may be empty for a local server
	Client  *http.Client
	Retry   Retry
}

// Retry is the retry policy for 429 and 5xx answers and transport errors.
type Retry struct {
	Attempts int           // total attempts; default 3
	Base     time.Duration // first backoff, doubled each time; default 500 ms
	Max      time.Duration // cap on one wait, including Retry-After; default 20 s
}

func (r Retry) withDefaults() Retry {
	if r.Attempts <= 0 {
		r.Attempts = 3
	}
	if r.Base <= 0 {
		r.Base = 500 * time.Millisecond
	}
	if r.Max <= 0 {
		r.Max = 20 * time.Second
	}
	return r
}

// maxResponseBytes caps a provider's answer.
const maxResponseBytes = 8 << 20

type oaFunction struct {
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

type oaToolCall struct {
	Index    int        `json:"index"`
	ID       string     `json:"id,omitempty"`
	Type     string     `json:"type,omitempty"`
	Function oaFunction `json:"function"`
}

type oaMessage struct {
	Role       string       `json:"role"`
	Content    *string      `json:"content"`
	ToolCalls  []oaToolCall `json:"tool_calls,omitempty"`
	ToolCallID string       `json:"tool_call_id,omitempty"`
}

type oaTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description"`
		Parameters  json.RawMessage `json:"parameters"`
	} `json:"function"`
}

type oaRequest struct {
	Model     string      `json:"model"`
	Messages  []oaMessage `json:"messages"`
	Tools     []oaTool    `json:"tools,omitempty"`
	MaxTokens int         `json:"max_tokens,omitempty"`
	Stream    bool        `json:"stream,omitempty"`
	// StreamOptions asks a stream for its token usage (a last chunk with
	// "usage" and no choices): the circuit breakers count provider-reported
	// tokens. Servers that ignore it leave the count to the estimate.
	StreamOptions *oaStreamOptions `json:"stream_options,omitempty"`
}

type oaStreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type oaChoice struct {
	Message      oaMessage `json:"message"`
	Delta        oaMessage `json:"delta"`
	FinishReason string    `json:"finish_reason"`
}

type oaResponse struct {
	Choices []oaChoice `json:"choices"`
	Usage   *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
}

func str(s string) *string { return &s }

func (c *OpenAI) body(req Request, stream bool) ([]byte, error) {
	q := oaRequest{Model: req.Model, MaxTokens: req.MaxTokens, Stream: stream}
	if stream {
		q.StreamOptions = &oaStreamOptions{IncludeUsage: true}
	}
	if req.System != "" {
		q.Messages = append(q.Messages, oaMessage{Role: "system", Content: str(req.System)})
	}
	for _, m := range req.Messages {
		om := oaMessage{Role: m.Role, Content: str(m.Text)}
		switch m.Role {
		case RoleTool:
			om.ToolCallID = m.ToolCallID
		case RoleAssistant:
			if len(m.ToolCalls) > 0 && m.Text == "" {
				om.Content = nil
			}
			for _, tc := range m.ToolCalls {
				om.ToolCalls = append(om.ToolCalls, oaToolCall{ID: tc.ID, Type: "function",
					Function: oaFunction{Name: tc.Name, Arguments: string(tc.Arguments)}})
			}
		}
		q.Messages = append(q.Messages, om)
	}
	for _, t := range req.Tools {
		var ot oaTool
		ot.Type = "function"
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = t.Name, t.Description, t.InputSchema
		q.Tools = append(q.Tools, ot)
	}
	return json.Marshal(q)
}

// Complete implements Provider.
func (c *OpenAI) Complete(ctx context.Context, req Request, onDelta func(Delta)) (Response, error) {
	body, err := c.body(req, onDelta != nil)
	if err != nil {
		return Response{}, err
	}
	headers := map[string]string{}
	if c.APIKey != "" {
		headers["Authorization"] = "Bearer " + c.APIKey
	}
	return exchange(ctx, c.Client, c.Retry, strings.TrimRight(c.BaseURL, "/")+"/chat/completions", body, headers,
		onDelta, readOpenAIStream, func(out oaResponse) (Response, error) {
			if len(out.Choices) == 0 {
				return Response{}, fmt.Errorf("%w: malformed answer", ErrUnavailable)
			}
			ch := out.Choices[0]
			r := Response{StopReason: ch.FinishReason, ToolCalls: toolCalls(ch.Message.ToolCalls)}
			if ch.Message.Content != nil {
				r.Text = *ch.Message.Content
			}
			if out.Usage != nil {
				r.InputTokens, r.OutputTokens = out.Usage.PromptTokens, out.Usage.CompletionTokens
			}
			return r, nil
		})
}

// toolCalls converts wire tool calls. Arguments that are not valid JSON
// (models do produce them) are kept as a JSON string, which the executor
// refuses as "not an object" so the model sees the error.
func toolCalls(in []oaToolCall) []ToolCall {
	var out []ToolCall
	for _, tc := range in {
		args := json.RawMessage(tc.Function.Arguments)
		if strings.TrimSpace(tc.Function.Arguments) == "" {
			args = json.RawMessage(`{}`)
		} else if !json.Valid(args) {
			args, _ = json.Marshal(tc.Function.Arguments)
		}
		out = append(out, ToolCall{ID: tc.ID, Name: tc.Function.Name, Arguments: args})
	}
	return out
}

// readOpenAIStream assembles a streamed answer: text deltas go to onDelta
// as they come; tool-call fragments are joined by index.
func readOpenAIStream(r io.Reader, onDelta func(Delta)) (Response, error) {
	var (
		resp  Response
		text  strings.Builder
		calls []oaToolCall
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	done := false
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			done = true
			break
		}
		var chunk oaResponse
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			return Response{}, fmt.Errorf("%w: malformed stream", ErrUnavailable)
		}
		for _, ch := range chunk.Choices {
			if ch.Delta.Content != nil && *ch.Delta.Content != "" {
				text.WriteString(*ch.Delta.Content)
				onDelta(Delta{Text: *ch.Delta.Content})
			}
			for _, tc := range ch.Delta.ToolCalls {
				if tc.Index < 0 || tc.Index > 128 {
					return Response{}, fmt.Errorf("%w: malformed stream", ErrUnavailable)
				}
				for len(calls) <= tc.Index {
					calls = append(calls, oaToolCall{})
				}
				c := &calls[tc.Index]
				if tc.ID != "" {
					c.ID = tc.ID
				}
				if tc.Function.Name != "" {
					c.Function.Name = tc.Function.Name
				}
				c.Function.Arguments += tc.Function.Arguments
			}
			if ch.FinishReason != "" {
				resp.StopReason = ch.FinishReason
			}
		}
		if chunk.Usage != nil {
			resp.InputTokens, resp.OutputTokens = chunk.Usage.PromptTokens, chunk.Usage.CompletionTokens
		}
	}
	if err := sc.Err(); err != nil || !done {
		return Response{}, fmt.Errorf("%w: stream ended early", ErrUnavailable)
	}
	resp.Text = text.String()
	resp.ToolCalls = toolCalls(calls)
	return resp, nil
}

// exchange POSTs a JSON body with headers (retrying as do does) and reads
// the answer: a Server-Sent Events stream through readStream when onDelta is
// set and the server streams, else one JSON object of type T through
// convert (whose text is then passed to onDelta in one piece).
func exchange[T any](ctx context.Context, hc *http.Client, rp Retry, url string, body []byte, headers map[string]string,
	onDelta func(Delta), readStream func(io.Reader, func(Delta)) (Response, error), convert func(T) (Response, error)) (Response, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := do(ctx, hc, rp.withDefaults(), func() (*http.Request, error) {
		r, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
		if err != nil {
			return nil, err
		}
		r.Header.Set("Content-Type", "application/json")
		for k, v := range headers {
			r.Header.Set(k, v)
		}
		return r, nil
	})
	if err != nil {
		return Response{}, err
	}
	defer resp.Body.Close()
	if onDelta != nil && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		return readStream(io.LimitReader(resp.Body, maxResponseBytes), onDelta)
	}
	var out T
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxResponseBytes)).Decode(&out); err != nil {
		return Response{}, fmt.Errorf("%w: malformed answer", ErrUnavailable)
	}
	r, err := convert(out)
	if err != nil {
		return Response{}, err
	}
	if onDelta != nil && r.Text != "" {
		onDelta(Delta{Text: r.Text})
	}
	return r, nil
}

// do sends the request newReq builds, retrying transport errors, 429 and
// 5xx with exponential backoff that honours Retry-After (seconds or an HTTP
// date), up to the policy's attempts. Any other non-2xx answer fails at
// once. Errors never carry the provider's body.
func do(ctx context.Context, hc *http.Client, rp Retry, newReq func() (*http.Request, error)) (*http.Response, error) {
	wait := rp.Base
	for attempt := 1; ; attempt++ {
		req, err := newReq()
		if err != nil {
			return nil, err
		}
		resp, err := hc.Do(req)
		var retryAfter time.Duration
		switch {
		case err != nil:
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			return resp, nil
		case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
			retryAfter = parseRetryAfter(resp.Header.Get("Retry-After"))
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
		default:
			status := resp.StatusCode
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			switch status {
			case http.StatusUnauthorized, http.StatusForbidden, http.StatusNotFound:
				return nil, fmt.Errorf("%w: HTTP %d from %s", ErrMisconfigured, status, req.URL.Host)
			}
			return nil, fmt.Errorf("%w: HTTP %d", ErrUnavailable, status)
		}
		if attempt >= rp.Attempts {
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrUnavailable, redactURL(err))
			}
			return nil, fmt.Errorf("%w: HTTP %d after %d attempts", ErrUnavailable, resp.StatusCode, attempt)
		}
		d := max(wait, retryAfter)
		d = min(d, rp.Max)
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
		wait *= 2
	}
}

func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// redactURL keeps a transport error's kind without its URL (which could
// carry a key in a query string for some compatible servers).
func redactURL(err error) string {
	msg := err.Error()
	if i := strings.LastIndex(msg, ": "); i >= 0 {
		return msg[i+2:]
	}
	return "transport error"
}
