// Package tool runs an agent's tools. Executor is the interface the
// agent's turn calls to list and run tools; Runtime is the server's
// Executor: the platform's built-in tools (Builtins: memory_store,
// memory_recall, current_time) plus the registry skills installed on the
// agent, run in the sandbox through package skill's Prepared, with a
// Context (the SkillContext: credentials by grant, scrubbed from the
// output) and the host functions a skill may call.
//
// Every execution is audited: ToolExecutionStarted before it runs, then
// ToolExecutionCompleted or ToolExecutionFailed, with the agent, session,
// tool name and request ID (never the arguments or the output, which may
// hold customer data). The start entry fails closed: a tool whose start
// cannot be recorded does not run. Within a turn (Invocation.Audit) the
// outcome entry joins the turn's unit of work, which the turn awaits before
// it replies. A skill the agent may not run is refused through authz
// (PermissionDenied, like every denial).
//
// Decision: the tool loop stays in session/turn.go. The loop is the turn's:
// it screens each output for prompt injection, holds consequential calls
// and tainted outputs for review, and builds the session's stored turns,
// all of which are session concerns. A new source of tools (MCP servers
// next) plugs in here, as another Executor composed with Runtime behind
// the same interface, so the loop does not change.
package tool

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/skill"
	"github.com/komand-ai/komand/internal/store"
)

// Invocation says who runs a tool, for authorization and audit.
type Invocation struct {
	TenantID  string
	UserID    string
	AgentID   string
	SessionID string
	Via       string // "model" or "command"
	// Role and APIKeyID are the caller's: a refusal's entry names the
	// role, and every tool entry the API key (as the turn's own entries do).
	Role     authz.Role
	APIKeyID string
	// EnabledSkillIDs is the agent's enabledSkillIds: registry skills
	// outside it are not offered and do not run.
	EnabledSkillIDs []string
	// Untrusted says the call is made on the strength of untrusted
	// content: the turn held some when the model asked for it, or the
	// sender is not a Komand user acting for themselves. What it writes
	// is marked so (memory_store stores provenance "untrusted").
	Untrusted bool
	// Audit, when set, is the turn's unit of work: the start of a run is
	// recorded through it and awaited (with everything the turn added
	// before), its outcome added without waiting; the turn waits for the
	// unit before replying. When nil every entry is awaited on its own.
	Audit *audit.Unit
}

// Result is a tool's outcome. Output is JSON; when IsError is set it is an
// object {"error": "..."} with a message that is safe to show to the model
// and to the user.
type Result struct {
	Output  json.RawMessage
	IsError bool
}

// Executor runs tools for one agent.
type Executor interface {
	// Tools lists the tools offered to the agent.
	Tools(ctx context.Context, inv Invocation) []llm.Tool
	// Run runs one call. A failure of the tool is a Result with IsError,
	// not an error; err is reserved for the platform failing (an audit
	// entry that cannot be stored), which fails the whole turn.
	Run(ctx context.Context, inv Invocation, call llm.ToolCall) (Result, error)
}

// toolError is a tool failure with a message for the model and the user.
type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func failf(format string, args ...any) error { return &toolError{msg: fmt.Sprintf(format, args...)} }

// builtin is one built-in tool.
type builtin struct {
	def llm.Tool
	run func(ctx context.Context, sc *Context, inv Invocation, args json.RawMessage) (any, error)
}

// Builtins is the Executor of the platform's built-in tools.
type Builtins struct {
	tools map[string]builtin
	order []string
	audit audit.Recorder
	creds CredentialSource
	log   *slog.Logger
	now   func() time.Time
}

// NewBuiltins returns the built-in tools over the agents' memory; creds
// (may be nil) serves their SkillContext.GetCredential, with the tool's
// name as the skill ID of grants.
func NewBuiltins(mem *agent.MemoryService, rec audit.Recorder, creds CredentialSource, log *slog.Logger, now func() time.Time) *Builtins {
	if now == nil {
		now = time.Now
	}
	b := &Builtins{tools: map[string]builtin{}, audit: rec, creds: creds, log: log, now: now}
	b.add(builtin{
		def: llm.Tool{Name: "current_time", Description: "The current date and time (UTC, or the IANA time zone given).",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"timezone":{"type":"string","description":"IANA time zone, e.g. Europe/Berlin"}},"additionalProperties":false}`)},
		run: func(ctx context.Context, _ *Context, inv Invocation, args json.RawMessage) (any, error) {
			var in struct {
				Timezone string `json:"timezone"`
			}
			if err := decodeArgs(args, &in); err != nil {
				return nil, err
			}
			loc := time.UTC
			if in.Timezone != "" {
				l, err := time.LoadLocation(in.Timezone)
				if err != nil || len(in.Timezone) > 64 {
					return nil, failf("unknown time zone")
				}
				loc = l
			}
			t := b.now().In(loc)
			return map[string]any{"time": t.Format(time.RFC3339), "timezone": loc.String(), "weekday": t.Weekday().String()}, nil
		},
	})
	b.add(builtin{
		def: llm.Tool{Name: "memory_store", Description: "Remember a value under a key in this agent's long-term memory (replaces an existing value).",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"key":{"type":"string","maxLength":256},"value":{"type":"string"}},"required":["key","value"],"additionalProperties":false}`)},
		run: func(ctx context.Context, _ *Context, inv Invocation, args json.RawMessage) (any, error) {
			var in struct {
				Key   *string `json:"key"`
				Value *string `json:"value"`
			}
			if err := decodeArgs(args, &in); err != nil {
				return nil, err
			}
			if in.Key == nil || in.Value == nil {
				return nil, failf("key and value are required")
			}
			_, created, err := mem.PutAs(ctx, memActor(inv), *in.Key, *in.Value)
			if err != nil {
				return nil, err
			}
			return map[string]any{"stored": true, "created": created}, nil
		},
	})
	b.add(builtin{
		def: llm.Tool{Name: "memory_recall", Description: "Read the value stored under a key in this agent's long-term memory.",
			InputSchema: json.RawMessage(`{"type":"object","properties":{"key":{"type":"string","maxLength":256}},"required":["key"],"additionalProperties":false}`)},
		run: func(ctx context.Context, _ *Context, inv Invocation, args json.RawMessage) (any, error) {
			var in struct {
				Key *string `json:"key"`
			}
			if err := decodeArgs(args, &in); err != nil {
				return nil, err
			}
			if in.Key == nil {
				return nil, failf("key is required")
			}
			e, err := mem.GetAs(ctx, memActor(inv), *in.Key)
			if errors.Is(err, agent.ErrMemoryNotFound) {
				return map[string]any{"found": false}, nil
			}
			if err != nil {
				return nil, err
			}
			// The provenance goes with the value: an untrusted one
			// taints the turn that reads it (TrustedOutput).
			return map[string]any{"found": true, "value": e.Value, "provenance": store.MemoryProvenance(e.Provenance)}, nil
		},
	})
	return b
}

func memActor(inv Invocation) agent.Actor {
	via := "tool"
	if inv.Via == "command" {
		via = "command"
	}
	return agent.Actor{TenantID: inv.TenantID, UserID: inv.UserID, AgentID: inv.AgentID, SessionID: inv.SessionID, Via: via,
		APIKeyID: inv.APIKeyID, Untrusted: inv.Untrusted}
}

func (b *Builtins) add(t builtin) {
	b.tools[t.def.Name] = t
	b.order = append(b.order, t.def.Name)
}

// decodeArgs reads a call's arguments strictly: one JSON object (or nothing,
// meaning {}), no unknown fields, no trailing data.
func decodeArgs(args json.RawMessage, v any) error {
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage(`{}`)
	}
	if len(args) > skill.MaxArgumentBytes {
		return failf("arguments are too large")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return failf("arguments must be a JSON object with the documented fields")
	}
	if dec.More() {
		return failf("arguments must be one JSON object")
	}
	return nil
}

// Tools lists the built-in tools, in a fixed order.
func (b *Builtins) Tools(ctx context.Context, inv Invocation) []llm.Tool {
	out := make([]llm.Tool, 0, len(b.order))
	for _, n := range b.order {
		out = append(out, b.tools[n].def)
	}
	return out
}

// Run runs one built-in tool call, audited.
func (b *Builtins) Run(ctx context.Context, inv Invocation, call llm.ToolCall) (Result, error) {
	t, ok := b.tools[call.Name]
	name := call.Name
	if !ok {
		name = "unknown"
	}
	base := map[string]any{"tool": name, "callId": truncate(call.ID, 128), "via": inv.Via}
	if err := b.record(ctx, audit.ToolExecutionStarted, inv, name, base, true); err != nil {
		return Result{}, err
	}
	start := b.now()
	var (
		out any
		err error
	)
	sc := NewContext(inv, name, b.creds)
	if !ok {
		err = failf("unknown tool")
	} else {
		out, err = t.run(ctx, sc, inv, call.Arguments)
	}
	details := map[string]any{"durationMs": b.now().Sub(start).Milliseconds()}
	for k, v := range base {
		details[k] = v
	}
	if err != nil {
		msg := string(sc.Scrub([]byte(publicToolError(err))))
		details["error"] = msg
		if aerr := b.record(ctx, audit.ToolExecutionFailed, inv, name, details, false); aerr != nil {
			return Result{}, aerr
		}
		if b.log != nil {
			// Scrubbed too: a credential value shorter than the log redactor's minimum would pass it.
			b.log.InfoContext(ctx, "tool failed", "tool", name, "agent", inv.AgentID, "err", string(sc.Scrub([]byte(err.Error()))))
		}
		return errorResult(msg), nil
	}
	o, merr := json.Marshal(out)
	if merr != nil {
		return Result{}, merr
	}
	// Whatever credential the run read never reaches the model.
	o = sc.Scrub(o)
	details["outputBytes"] = len(o)
	if err := b.record(ctx, audit.ToolExecutionCompleted, inv, name, details, false); err != nil {
		return Result{}, err
	}
	return Result{Output: o}, nil
}

// publicToolError is the message a failed tool shows: its own message for a
// tool or validation failure, a fixed one for anything else.
func publicToolError(err error) string {
	var te *toolError
	if errors.As(err, &te) {
		return te.msg
	}
	if msg, ok := publicMessage(err); ok {
		return msg
	}
	return "the tool failed"
}

// TrustedOutput reports whether a tool's output (as stored in a session's
// history) is Komand's own text rather than content from outside: the
// results of current_time and memory_store, and memory_recall's when it
// found nothing or a value of provenance "trusted". Every other output —
// any registry skill's, an untrusted memory, anything that does not parse
// as expected — is untrusted content, which taints the turns that have it
// in their context (session/turn.go).
func TrustedOutput(name string, output []byte) bool {
	switch name {
	case "current_time", "memory_store":
		return true
	case "memory_recall":
		var out struct {
			Found      *bool   `json:"found"`
			Provenance *string `json:"provenance"`
		}
		if json.Unmarshal(output, &out) != nil || out.Found == nil {
			// An error result ({"error": …}) is Komand's own message.
			var e struct {
				Error *string `json:"error"`
			}
			dec := json.NewDecoder(bytes.NewReader(output))
			dec.DisallowUnknownFields()
			return dec.Decode(&e) == nil && e.Error != nil
		}
		if !*out.Found {
			return out.Provenance == nil
		}
		return out.Provenance != nil && *out.Provenance == store.ProvenanceTrusted
	}
	return false
}

// Has says whether name is a built-in tool.
func (b *Builtins) Has(name string) bool {
	_, ok := b.tools[name]
	return ok
}

func (b *Builtins) record(ctx context.Context, action audit.Action, inv Invocation, tool string, details map[string]any, await bool) error {
	return recordTool(ctx, b.audit, action, inv, tool, details, await)
}

// recordTool writes one tool event. await says the entry must be durable
// before Run goes on (the start, before the tool runs); the outcome may be
// left to the turn's unit of work.
func recordTool(ctx context.Context, rec audit.Recorder, action audit.Action, inv Invocation, tool string, details map[string]any, await bool) error {
	ev := audit.Actor{TenantID: inv.TenantID, UserID: inv.UserID, APIKeyID: inv.APIKeyID}.Event(audit.Event{
		Action: action, AgentID: inv.AgentID, SessionID: inv.SessionID, SkillID: tool, Details: details,
	})
	switch {
	case inv.Audit == nil:
		return rec.Record(ctx, ev)
	case await:
		return inv.Audit.Record(ctx, ev)
	default:
		return inv.Audit.Add(ctx, ev)
	}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}

// publicMessage returns the public message of an apperr (a validation or
// limit failure the caller can act on).
func publicMessage(err error) (string, bool) {
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		return e.Message, true
	}
	return "", false
}
