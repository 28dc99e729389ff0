// Package llm is Komand's model-provider boundary: one Provider interface
// that the agent's tool loop calls, with the message, tool and tool-call
// shapes both supported wire formats (Anthropic Messages and OpenAI-style
// Chat Completions) can express. Provider keys come only from platform
// configuration and never appear in requests' logs or errors.
package llm

import (
	"context"
	"encoding/json"
	"errors"
)

// Roles of a Message.
const (
	RoleUser      = "user"
	RoleAssistant = "assistant"
	RoleTool      = "tool"
)

// ToolCall is a model's request to run one tool.
type ToolCall struct {
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Arguments json.RawMessage `json:"arguments"`
}

// Message is one entry of the conversation sent to a model. An assistant
// message may carry ToolCalls; a tool message answers ToolCallID.
type Message struct {
	Role       string
	Text       string
	ToolCalls  []ToolCall
	ToolCallID string
	ToolName   string
	IsError    bool
}

// Tool is a tool offered to the model.
type Tool struct {
	Name        string
	Description string
	InputSchema json.RawMessage // a JSON Schema object
}

// Request is one model call.
type Request struct {
	Model     string
	System    string
	Messages  []Message
	Tools     []Tool
	MaxTokens int
}

// Response is a model's answer: text, tool calls, or both.
type Response struct {
	Text         string
	ToolCalls    []ToolCall
	StopReason   string
	InputTokens  int
	OutputTokens int
}

// Delta is one piece of a streamed answer.
type Delta struct {
	Text string
}

// Provider is a model provider.
type Provider interface {
	// Complete sends req and returns the whole answer. If onDelta is not
	// nil the answer is streamed and onDelta receives its text as it comes.
	Complete(ctx context.Context, req Request, onDelta func(Delta)) (Response, error)
}

// ErrUnavailable means the provider could not answer (network, 5xx, 429
// after retries, malformed answer). Its text never includes the provider's
// response body or key.
var ErrUnavailable = errors.New("llm: model provider unavailable")

// ErrMisconfigured means the provider refused Komand's request as
// configured: the API key (401, 403) or the base URL or model (404). Trying
// again will not help; an operator must fix the configuration. Like
// ErrUnavailable, its text never includes the provider's body or key.
var ErrMisconfigured = errors.New("llm: model provider refused the configured key, URL or model")
