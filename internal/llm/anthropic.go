package llm

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// AnthropicVersion is the anthropic-version header sent with every request.
const AnthropicVersion = "2023-06-01"

// Anthropic is a client of the Anthropic Messages API: POST
// {BaseURL}/v1/messages with tool use, and with "stream": true as
// Server-Sent Events (content_block_start/delta/stop, message_delta,
// message_stop).
type Anthropic struct {
	BaseURL string // e.g. https://api.anthropic.com
	APIKey  string
	Client  *http.Client
	Retry   Retry
}

type anBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   string          `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
}

type anMessage struct {
	Role    string    `json:"role"`
	Content []anBlock `json:"content"`
}

type anTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description"`
	InputSchema json.RawMessage `json:"input_schema"`
}

type anRequest struct {
	Model     string      `json:"model"`
	MaxTokens int         `json:"max_tokens"`
	System    string      `json:"system,omitempty"`
	Messages  []anMessage `json:"messages"`
	Tools     []anTool    `json:"tools,omitempty"`
	Stream    bool        `json:"stream,omitempty"`
}

type anResponse struct {
	Content    []anBlock `json:"content"`
	StopReason string    `json:"stop_reason"`
	Usage      struct {
		InputTokens  int `json:"input_tokens"`
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
}

// objectOrEmpty makes tool input a JSON object: the API refuses anything
// else, and a model's malformed arguments are already a JSON string here.
func objectOrEmpty(raw json.RawMessage) json.RawMessage {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '{' || !json.Valid(t) {
		return json.RawMessage(`{}`)
	}
	return t
}

func (c *Anthropic) body(req Request, stream bool) ([]byte, error) {
	q := anRequest{Model: req.Model, MaxTokens: req.MaxTokens, System: req.System, Stream: stream}
	if q.MaxTokens <= 0 {
		q.MaxTokens = 4096
	}
	add := func(role string, b anBlock) {
		// Consecutive messages of one role become one message with several
		// blocks (tool results of one turn go back together).
		if n := len(q.Messages); n > 0 && q.Messages[n-1].Role == role {
			q.Messages[n-1].Content = append(q.Messages[n-1].Content, b)
			return
		}
		q.Messages = append(q.Messages, anMessage{Role: role, Content: []anBlock{b}})
	}
	for _, m := range req.Messages {
		switch m.Role {
		case RoleTool:
			add("user", anBlock{Type: "tool_result", ToolUseID: m.ToolCallID, Content: m.Text, IsError: m.IsError})
		case RoleAssistant:
			if m.Text != "" {
				add("assistant", anBlock{Type: "text", Text: m.Text})
			}
			for _, tc := range m.ToolCalls {
				add("assistant", anBlock{Type: "tool_use", ID: tc.ID, Name: tc.Name, Input: objectOrEmpty(tc.Arguments)})
			}
		default:
			add("user", anBlock{Type: "text", Text: m.Text})
		}
	}
	for _, t := range req.Tools {
		q.Tools = append(q.Tools, anTool{Name: t.Name, Description: t.Description, InputSchema: t.InputSchema})
	}
	return json.Marshal(q)
}

// Complete implements Provider.
func (c *Anthropic) Complete(ctx context.Context, req Request, onDelta func(Delta)) (Response, error) {
	body, err := c.body(req, onDelta != nil)
	if err != nil {
		return Response{}, err
	}
	return exchange(ctx, c.Client, c.Retry, strings.TrimRight(c.BaseURL, "/")+"/v1/messages", body,
		map[string]string{"x-api-key": c.APIKey, "anthropic-version": AnthropicVersion}, onDelta, readAnthropicStream,
		func(out anResponse) (Response, error) {
			r := anthropicResponse(out.Content)
			r.StopReason, r.InputTokens, r.OutputTokens = out.StopReason, out.Usage.InputTokens, out.Usage.OutputTokens
			return r, nil
		})
}

func anthropicResponse(blocks []anBlock) Response {
	var r Response
	var text strings.Builder
	for _, b := range blocks {
		switch b.Type {
		case "text":
			text.WriteString(b.Text)
		case "tool_use":
			args := b.Input
			if len(bytes.TrimSpace(args)) == 0 {
				args = json.RawMessage(`{}`)
			} else if !json.Valid(args) {
				args, _ = json.Marshal(string(args))
			}
			r.ToolCalls = append(r.ToolCalls, ToolCall{ID: b.ID, Name: b.Name, Arguments: args})
		}
	}
	r.Text = text.String()
	return r
}

type anEvent struct {
	Type         string  `json:"type"`
	Index        int     `json:"index"`
	ContentBlock anBlock `json:"content_block"`
	Delta        struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage struct {
		OutputTokens int `json:"output_tokens"`
	} `json:"usage"`
	// Message is message_start's: the input tokens are counted there.
	Message struct {
		Usage struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	} `json:"message"`
}

// readAnthropicStream assembles a streamed message from its events.
func readAnthropicStream(r io.Reader, onDelta func(Delta)) (Response, error) {
	var (
		blocks    []anBlock
		partial   []strings.Builder
		stop      string
		inTokens  int
		outTokens int
		done      bool
	)
	malformed := fmt.Errorf("%w: malformed stream", ErrUnavailable)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data:")
		if !ok {
			continue
		}
		var ev anEvent
		if err := json.Unmarshal([]byte(strings.TrimSpace(data)), &ev); err != nil {
			return Response{}, malformed
		}
		if ev.Index < 0 || ev.Index > 128 {
			return Response{}, malformed
		}
		switch ev.Type {
		case "message_start":
			inTokens, outTokens = ev.Message.Usage.InputTokens, ev.Message.Usage.OutputTokens
		case "content_block_start":
			for len(blocks) <= ev.Index {
				blocks = append(blocks, anBlock{})
				partial = append(partial, strings.Builder{})
			}
			blocks[ev.Index] = ev.ContentBlock
			blocks[ev.Index].Input = nil
		case "content_block_delta":
			if ev.Index >= len(blocks) {
				return Response{}, malformed
			}
			switch ev.Delta.Type {
			case "text_delta":
				blocks[ev.Index].Text += ev.Delta.Text
				onDelta(Delta{Text: ev.Delta.Text})
			case "input_json_delta":
				partial[ev.Index].WriteString(ev.Delta.PartialJSON)
			}
		case "message_delta":
			// Its usage is cumulative.
			stop, outTokens = ev.Delta.StopReason, max(outTokens, ev.Usage.OutputTokens)
		case "message_stop":
			done = true
		case "error":
			return Response{}, fmt.Errorf("%w: provider error event", ErrUnavailable)
		}
		if done {
			break
		}
	}
	if err := sc.Err(); err != nil || !done {
		return Response{}, fmt.Errorf("%w: stream ended early", ErrUnavailable)
	}
	for i := range blocks {
		if blocks[i].Type == "tool_use" {
			blocks[i].Input = json.RawMessage(partial[i].String())
		}
	}
	resp := anthropicResponse(blocks)
	resp.StopReason, resp.InputTokens, resp.OutputTokens = stop, inTokens, outTokens
	return resp, nil
}
