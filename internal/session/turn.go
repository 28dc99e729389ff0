package session

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/injection"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/requestid"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/tool"
)

// Turn limits (product.md: at most 10 tool iterations and 2 minutes per
// turn, both configurable).
const (
	DefaultMaxIterations = 10
	DefaultTurnTimeout   = 2 * time.Minute
	// maxReplyChars bounds what one model answer may put in the history.
	maxReplyChars = 100_000
	// maxToolOutputBytes bounds a tool result fed back to the model.
	maxToolOutputBytes = 64 * 1024
)

// NoProviderReply is the answer of an agent whose model provider is not
// configured.
const NoProviderReply = NoProviderPublicReply + " " +
	"An administrator can configure one (Providers__Anthropic__ApiKey or Providers__OpenAI__BaseUrl). " +
	"Commands still work: /memory set <key> <value>, /memory get <key>, /tool <name> <json>."

// NoProviderPublicReply is that answer to a public sender (who has no
// commands, and no use for configuration keys).
const NoProviderPublicReply = "This agent has no model provider configured, so it cannot answer yet."

// Runner is the agent's side of a turn: the tool-calling loop.
type Runner struct {
	providers     map[string]llm.Provider // by agent modelProvider
	tools         tool.Executor
	maxIterations int
	turnTimeout   time.Duration
	now           func() time.Time
}

// RunnerOptions configure a Runner; zero values take the defaults.
type RunnerOptions struct {
	MaxIterations int
	TurnTimeout   time.Duration
	Now           func() time.Time
}

// NewRunner returns a Runner over the configured providers (a provider that
// is not configured is simply absent) and the tool executor.
func NewRunner(providers map[string]llm.Provider, tools tool.Executor, opts RunnerOptions) *Runner {
	if opts.MaxIterations <= 0 {
		opts.MaxIterations = DefaultMaxIterations
	}
	if opts.TurnTimeout <= 0 {
		opts.TurnTimeout = DefaultTurnTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Runner{providers: providers, tools: tools, maxIterations: opts.MaxIterations,
		turnTimeout: opts.TurnTimeout, now: opts.Now}
}

// TurnInput is one message for the agent.
type TurnInput struct {
	Principal authz.Principal
	Agent     store.Agent
	Session   store.Session
	History   []store.Turn // before this message, oldest first
	Text      string
	OnDelta   func(string) // streamed reply text, when not nil
	Audit     *audit.Unit  // the turn's unit of work (nil: each entry awaited)
	// Guard screens tool outputs under Policy (nil: no screening; the
	// deterministic controls apply regardless).
	Guard  *Guard
	Policy *injection.Policy
	// Tainted says the turn already holds untrusted content (a flagged
	// message); tool outputs, webhook messages and the untrusted content
	// of earlier turns still in the context window taint it too.
	Tainted bool
	// KomandUser says the sender is a Komand user acting for themselves
	// (an API key or a login: see komandUser). A consequential call in a
	// tainted turn then waits for their in-channel confirmation instead of
	// an Admin's review, and what they write is trusted.
	KomandUser bool
	// Resume continues the conversation in History (after a review)
	// instead of answering a new message Text.
	Resume bool
	// Commands says whether Text may be a slash command (the zero value:
	// no, it is text for the model). The service decides it from the
	// sender (commandAccess).
	Commands CommandAccess
}

// CommandAccess is what a message's sender may do with slash commands
// (/memory set|get, /tool <name> <json>), which run a tool directly with
// the sender's arguments, without the model.
type CommandAccess int

const (
	// CommandsNone: "/…" is text for the model (a public sender, the
	// generic webhook, Slack and anything else not named below).
	CommandsNone CommandAccess = iota
	// CommandsHeld: an integration's account with allowCommands; a
	// consequential command (write or network) is held for an Admin's
	// review instead of running.
	CommandsHeld
	// CommandsUser: a Komand user acting for themselves (an API key or a
	// login, on WebChat).
	CommandsUser
)

// TurnOutput is what the agent produced: the turns to append after the
// user's (assistant and tool turns), the reply, and why the loop stopped.
type TurnOutput struct {
	Turns      []store.Turn
	Reply      string
	Iterations int
	Stop       string // "answer", "command", "no_provider", "circuit_breaker", "provider_error", "held", …
	Hold       *Hold  // set when the turn stopped for an Admin's review
	// Breaker names the circuit breaker that ended the turn (Stop
	// "circuit_breaker").
	Breaker string
	// Usage is what the turn used (tool calls, model tokens, wall time),
	// to be added to the session's counters.
	Usage store.SessionUsage
}

// Hold is a turn held for review: Turns[Turn] is the held turn.
type Hold struct {
	Kind       string // store.ReviewToolOutput or store.ReviewToolCall
	Turn       int
	Source     injection.Source
	ToolName   string
	Excerpt    string
	Score      float64
	Categories []string
	// Confirm: a held tool call that waits for the sender's in-channel
	// confirmation of Calls (the reply carries Code) instead of the
	// review queue.
	Confirm bool
	Calls   []llm.ToolCall
	Code    string
}

func (r *Runner) turn(ctx context.Context, role, text string) store.Turn {
	return store.Turn{Role: role, Text: text, RequestID: requestid.From(ctx), CreatedAt: r.now().UTC().Truncate(time.Microsecond)}
}

// Turn answers one message.
func (r *Runner) Turn(ctx context.Context, in TurnInput) (TurnOutput, error) {
	b := newBudget(in.Agent.Limits, in.Session.Usage, r.turnTimeout, r.now)
	out, err := r.answer(ctx, in, b)
	out.Usage = b.usage()
	return out, err
}

func (r *Runner) answer(ctx context.Context, in TurnInput, b *budget) (TurnOutput, error) {
	inv := tool.Invocation{TenantID: in.Principal.TenantID, UserID: in.Principal.UserID,
		Role: in.Principal.Role, APIKeyID: in.Principal.APIKeyID,
		AgentID: in.Agent.AgentID, SessionID: in.Session.ID, Via: "command", Audit: in.Audit,
		EnabledSkillIDs: in.Agent.EnabledSkillIDs,
		Untrusted:       !in.KomandUser || in.Tainted || in.Session.Channel == channel.Webhook}
	// A session that has used up its tokens, cost or busy time gets no
	// further work, commands included.
	if tr := b.check(0); tr != nil {
		return r.tripped(ctx, in, b, TurnOutput{}, tr, nil)
	}
	if in.Resume {
		// An approved or rejected command: answered as the command, not by
		// the model.
		if out, ok, err := r.resumeCommand(ctx, inv, in, b); ok || err != nil {
			return out, err
		}
	}
	// Slash commands run a tool with the sender's own arguments: only for
	// Komand users acting for themselves, or an integration an Admin let
	// send commands (held when consequential); anyone else's "/…" is text.
	if !in.Resume && in.Commands != CommandsNone && !in.Principal.Public && strings.HasPrefix(in.Text, "/") {
		if out, ok, err := r.command(ctx, inv, in, b); ok || err != nil {
			return out, err
		}
	}
	provider := r.providers[in.Agent.ModelProvider]
	if provider == nil {
		reply := NoProviderReply
		if in.Principal.Public || in.Commands == CommandsNone {
			reply = NoProviderPublicReply
		}
		out := TurnOutput{Reply: reply, Stop: "no_provider"}
		out.Turns = []store.Turn{r.turn(ctx, store.RoleAssistant, reply)}
		return out, nil
	}
	return r.loop(ctx, provider, inv, in, b)
}

// command runs a slash command through the tool executor, so it is
// authorised and audited like a tool call. ok is false for text that is not
// a known command (it goes to the model). From an integration
// (CommandsHeld) a consequential command is held for an Admin's review.
func (r *Runner) command(ctx context.Context, inv tool.Invocation, in TurnInput, b *budget) (TurnOutput, bool, error) {
	text := in.Text
	fields := strings.Fields(text)
	var call llm.ToolCall
	switch {
	case len(fields) >= 1 && fields[0] == "/memory":
		switch {
		case len(fields) >= 4 && fields[1] == "set":
			// The value is the rest of the line after the key.
			rest := strings.TrimSpace(text[strings.Index(text, fields[1])+len(fields[1]):])
			value := strings.TrimSpace(rest[len(fields[2]):])
			args, _ := json.Marshal(map[string]string{"key": fields[2], "value": value})
			call = llm.ToolCall{Name: "memory_store", Arguments: args}
		case len(fields) == 3 && fields[1] == "get":
			args, _ := json.Marshal(map[string]string{"key": fields[2]})
			call = llm.ToolCall{Name: "memory_recall", Arguments: args}
		default:
			return r.commandReply(ctx, "Usage: /memory set <key> <value> or /memory get <key>"), true, nil
		}
	case len(fields) >= 2 && fields[0] == "/tool":
		rest := strings.TrimSpace(text[len("/tool"):])
		args := strings.TrimSpace(rest[len(fields[1]):])
		call = llm.ToolCall{Name: fields[1], Arguments: json.RawMessage(args)}
		if args != "" && !json.Valid([]byte(args)) {
			return r.commandReply(ctx, "The tool arguments must be JSON, e.g. /tool current_time {}"), true, nil
		}
	case len(fields) >= 1 && fields[0] == "/tool":
		return r.commandReply(ctx, "Usage: /tool <name> <json>"), true, nil
	default:
		return TurnOutput{}, false, nil
	}
	call.ID = commandCallPrefix + uuid.NewString()
	if len(call.Arguments) == 0 {
		call.Arguments = json.RawMessage(`{}`)
	}
	if tr := b.check(1); tr != nil {
		out, err := r.tripped(ctx, in, b, TurnOutput{}, tr, nil)
		return out, true, err
	}
	if in.Commands == CommandsHeld {
		if names := r.consequential(ctx, inv, []llm.ToolCall{call}); len(names) > 0 {
			// The integration's text would change something: an Admin
			// sees the exact call and decides.
			calls, _ := json.Marshal([]llm.ToolCall{call})
			at := r.turn(ctx, store.RoleAssistant, "")
			at.ToolCalls, at.Flag = calls, store.FlagHeld
			out := TurnOutput{Turns: []store.Turn{at}}
			out.Hold = &Hold{Kind: store.ReviewToolCall, Turn: 0, Source: injection.SourceExternal,
				ToolName: strings.Join(names, ","), Excerpt: injection.Excerpt(string(calls), nil, excerptBytes),
				Categories: []string{"command_from_integration"}}
			return r.held(ctx, out), true, nil
		}
	}
	out, err := r.runCommand(ctx, inv, in, b, call, TurnOutput{})
	return out, true, err
}

// commandCallPrefix starts the call ID of a slash command's tool call.
const commandCallPrefix = "cmd_"

// runCommand runs a command's call and answers with its output.
func (r *Runner) runCommand(ctx context.Context, inv tool.Invocation, in TurnInput, b *budget, call llm.ToolCall, out TurnOutput) (TurnOutput, error) {
	inv.Via = "command"
	b.turn.ToolCalls++
	res, err := r.tools.Run(ctx, inv, call)
	if err != nil {
		return out, err
	}
	tt := r.turn(ctx, store.RoleTool, string(res.Output))
	tt.ToolCallID, tt.ToolName, tt.IsError = call.ID, call.Name, res.IsError
	untrusted := !tool.TrustedOutput(call.Name, res.Output)
	echo := r.turn(ctx, store.RoleAssistant, string(res.Output))
	// The reply goes out like a model's: through the reply controls, as
	// tainted when the output is untrusted.
	if err := r.sanitize(ctx, in, &echo, untrusted); err != nil {
		return out, err
	}
	reply := echo.Text
	if untrusted {
		// Untrusted content (an untrusted memory, a skill's output) is
		// shown as data, and its echo is Komand's notice, never an
		// assistant message the model would read as its own words (the
		// tool turn stays in the context, as data that taints it).
		reply = injection.WrapData(reply, "tool "+call.Name, injection.Nonce())
		echo.Text, echo.Flag = reply, store.FlagNotice
	}
	out.Reply, out.Stop = reply, "command"
	out.Turns = append(out.Turns, tt, echo)
	return out, nil
}

// sanitize applies the reply controls (injection.SanitizeReply) to an
// assistant turn's text: images removed, links with data to other hosts
// defanged when tainted, the system prompt cut out. A changed turn is
// flagged (unless it has a flag already) and ReplySanitized is recorded
// with the kinds of what was removed (never the values).
func (r *Runner) sanitize(ctx context.Context, in TurnInput, t *store.Turn, tainted bool) error {
	text, removed := injection.SanitizeReply(t.Text, replyOptions(in, tainted))
	if len(removed) == 0 {
		return nil
	}
	t.Text = text
	if t.Flag == "" {
		t.Flag = store.FlagSanitized
	}
	ev := audit.Event{TenantID: in.Principal.TenantID, Action: audit.ReplySanitized, ActorID: in.Principal.UserID,
		AgentID: in.Agent.AgentID, SessionID: in.Session.ID,
		Details: map[string]any{"removed": removed, "tainted": tainted, "toolCalls": len(t.ToolCalls) > 0}}
	if in.Audit != nil {
		return in.Audit.Add(ctx, ev)
	}
	if rec := in.recorder(); rec != nil {
		return rec.Record(ctx, ev)
	}
	return nil
}

// replyOptions are the reply controls' options for in's agent. The link
// allowlist is empty: the hosts an agent's skills may fetch from include
// hosts others can write to, so they are no proof that a link is safe.
func replyOptions(in TurnInput, tainted bool) injection.ReplyOptions {
	return injection.ReplyOptions{Tainted: tainted, SystemPrompt: in.Agent.SystemPrompt}
}

// RejectedCommandReply answers a held command an Admin rejected.
const RejectedCommandReply = "An administrator rejected this command; it did not run."

// resumeCommand continues a turn held at a slash command: an approved
// command runs (as the approving Admin), a rejected one is answered
// without the model. ok is false when the held turn was not a command.
func (r *Runner) resumeCommand(ctx context.Context, inv tool.Invocation, in TurnInput, b *budget) (TurnOutput, bool, error) {
	if calls := pendingCalls(in.History); len(calls) == 1 && strings.HasPrefix(calls[0].ID, commandCallPrefix) {
		if tr := b.check(1); tr != nil {
			out, err := r.tripped(ctx, in, b, TurnOutput{}, tr, calls)
			return out, true, err
		}
		out, err := r.runCommand(ctx, inv, in, b, calls[0], TurnOutput{})
		return out, true, err
	}
	for i := len(in.History) - 1; i >= 0; i-- {
		t := in.History[i]
		if t.Flag == store.FlagNotice {
			continue
		}
		if t.Role == store.RoleTool && strings.HasPrefix(t.ToolCallID, commandCallPrefix) && t.Text == RejectedCall {
			return r.commandReply(ctx, RejectedCommandReply), true, nil
		}
		break
	}
	return TurnOutput{}, false, nil
}

func (r *Runner) commandReply(ctx context.Context, text string) TurnOutput {
	return TurnOutput{Reply: text, Stop: "command", Turns: []store.Turn{r.turn(ctx, store.RoleAssistant, text)}}
}

// Public messages of a failed turn. The errors returned carry the cause
// (logged with the request ID, never shown).
const (
	providerFailedMsg        = "the agent's model provider is not answering right now; your message was kept, please try again"
	providerMisconfiguredMsg = "the agent's model provider is misconfigured, so the agent cannot answer; your message was kept. Please tell the administrator."
	turnCanceledMsg          = "the request ended before the agent answered; your message was kept, please try again"
)

// IterationLimitReply ends a turn whose model kept asking for tools.
const IterationLimitReply = "I could not finish this request: it needed more tool calls than one answer may make."

// loop is system prompt + trimmed history + tools → model → tool calls run
// through the executor → results fed back, until a plain answer or a limit.
func (r *Runner) loop(ctx context.Context, provider llm.Provider, inv tool.Invocation, in TurnInput, b *budget) (TurnOutput, error) {
	limit, _ := b.deadline()
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	inv.Via = "model"
	external := in.Session.Channel == channel.Webhook
	nonce := injection.Nonce()
	msgs, untrusted := historyContext(in.History, external, nonce)
	if !in.Resume {
		msgs = append(msgs, userMessage(in.Text, external, nonce))
		untrusted = append(untrusted, external || in.Tainted)
		if in.Tainted {
			msgs[len(msgs)-1].Text = CautionNote + msgs[len(msgs)-1].Text
		}
	}
	// Untrusted content taints every turn that has it in the model's
	// context: what this turn reads, and what earlier turns read that is
	// still in the window after trimming (see historyContext). Taint is
	// computed from the messages actually sent.
	start := trimStart(msgs, in.Agent.MaxContextTokens-estimate(in.Agent.SystemPrompt))
	msgs = msgs[start:]
	//
	// A sender who is not a Komand user (a widget visitor, a Telegram or
	// Slack sender, an integration) is untrusted content too: anyone can
	// be one, and what they write can steer the model as well as a web
	// page can. Their consequential calls go to an Admin's review, since
	// they cannot confirm one themselves.
	tainted := in.Tainted || external || !in.KomandUser || slices.Contains(untrusted[start:], true)
	allow := in.Policy.Resolve(in.Agent.AgentID, injection.SourceUser).AllowConsequentialTools
	req := llm.Request{Model: in.Agent.ModelID, System: in.Agent.SystemPrompt, Tools: r.tools.Tools(ctx, inv), MaxTokens: 4096}
	var out TurnOutput
	// Streamed text goes through the reply controls too, a line at a
	// time (injection.ReplyStream): a delta cannot be taken back.
	var onDelta func(llm.Delta)
	var stream *injection.ReplyStream
	if in.OnDelta != nil {
		stream = injection.NewReplyStream(replyOptions(in, tainted), in.OnDelta)
		onDelta = func(d llm.Delta) { stream.Write(d.Text) }
	}
	if in.Resume {
		// An approved tool call: run what the held assistant turn asked for.
		if calls := pendingCalls(in.History); len(calls) > 0 {
			if tr := b.check(len(calls)); tr != nil {
				return r.tripped(ctx, in, b, out, tr, calls)
			}
			b.turn.ToolCalls += int64(len(calls))
			inv.Untrusted = tainted || !in.KomandUser
			if err := r.runCalls(ctx, inv, in, calls, nonce, &msgs, &out); err != nil || out.Hold != nil {
				return r.held(ctx, out), err
			}
			tainted = tainted || untrustedOutputs(out.Turns)
		}
	}
	for out.Iterations < r.maxIterations {
		if tr := b.check(0); tr != nil {
			return r.tripped(ctx, in, b, out, tr, nil)
		}
		out.Iterations++
		req.Messages = msgs
		if stream != nil {
			stream.SetTainted(tainted)
		}
		resp, err := provider.Complete(ctx, req, onDelta)
		if stream != nil {
			stream.Flush()
		}
		if err != nil {
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				// The turn's (or the session's) time is up: a breaker,
				// not a failure.
				return r.tripped(ctx, in, b, out, b.timeTrip(), nil)
			}
			out.Stop = "provider_error"
			if errors.Is(err, llm.ErrMisconfigured) {
				// The detail (status, host) is in err, which the
				// gateway logs with the request ID; the client gets
				// none of it.
				return out, apperr.Wrap(err, apperr.Unavailable, providerMisconfiguredMsg)
			}
			return out, apperr.Wrap(err, apperr.Unavailable, providerFailedMsg)
		}
		b.countTokens(req, resp)
		text := clip(resp.Text, maxReplyChars)
		if len(resp.ToolCalls) == 0 {
			at := r.turn(ctx, store.RoleAssistant, text)
			if err := r.sanitize(ctx, in, &at, tainted); err != nil {
				out.Stop = "audit_error"
				return out, err
			}
			out.Turns = append(out.Turns, at)
			out.Reply, out.Stop = at.Text, "answer"
			return out, nil
		}
		calls, _ := json.Marshal(resp.ToolCalls)
		at := r.turn(ctx, store.RoleAssistant, text)
		at.ToolCalls = calls
		if err := r.sanitize(ctx, in, &at, tainted); err != nil {
			out.Stop = "audit_error"
			return out, err
		}
		text = at.Text
		if tr := b.check(len(resp.ToolCalls)); tr != nil {
			// Over a limit: the calls are stored with results saying
			// they did not run.
			out.Turns = append(out.Turns, at)
			return r.tripped(ctx, in, b, out, tr, resp.ToolCalls)
		}
		if tainted && !allow {
			if names := r.consequential(ctx, inv, resp.ToolCalls); len(names) > 0 {
				// The model wants to change something after reading
				// untrusted content: that needs more than its say-so —
				// the sender's confirmation of the exact call when they
				// are a Komand user, an Admin's review otherwise.
				at.Flag = store.FlagHeld
				out.Turns = append(out.Turns, at)
				out.Hold = &Hold{Kind: store.ReviewToolCall, Turn: len(out.Turns) - 1, Source: injection.SourceSkill,
					ToolName: strings.Join(names, ","), Excerpt: injection.Excerpt(string(calls), nil, excerptBytes),
					Categories: []string{"consequential_tool_in_untrusted_turn"}}
				if in.KomandUser {
					out.Hold.Confirm, out.Hold.Calls, out.Hold.Code = true, resp.ToolCalls, newCode()
				}
				return r.held(ctx, out), nil
			}
		}
		out.Turns = append(out.Turns, at)
		msgs = append(msgs, llm.Message{Role: llm.RoleAssistant, Text: text, ToolCalls: resp.ToolCalls})
		inv.Untrusted = tainted || !in.KomandUser
		before := len(out.Turns)
		b.turn.ToolCalls += int64(len(resp.ToolCalls))
		if err := r.runCalls(ctx, inv, in, resp.ToolCalls, nonce, &msgs, &out); err != nil || out.Hold != nil {
			if err != nil {
				return out, err
			}
			return r.held(ctx, out), nil
		}
		tainted = tainted || untrustedOutputs(out.Turns[before:])
		if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
			return r.tripped(ctx, in, b, out, b.timeTrip(), nil)
		} else if err != nil {
			out.Stop = "canceled"
			return out, apperr.Wrap(err, apperr.Unavailable, turnCanceledMsg)
		}
	}
	return r.tripped(ctx, in, b, out, &trip{BreakerIterations, float64(r.maxIterations), float64(out.Iterations)}, nil)
}

// held ends a turn that waits for review with the holding reply, or for
// the sender's confirmation with the confirmation request (stored without
// its code).
func (r *Runner) held(ctx context.Context, out TurnOutput) TurnOutput {
	if out.Hold == nil {
		return out
	}
	if h := out.Hold; h.Confirm {
		notice := r.turn(ctx, store.RoleAssistant, ConfirmReply(maskedCode, h.Calls))
		notice.Flag = store.FlagNotice
		out.Turns = append(out.Turns, notice)
		out.Reply, out.Stop = ConfirmReply(h.Code, h.Calls), "confirm"
		return out
	}
	notice := r.turn(ctx, store.RoleAssistant, HoldingReply)
	notice.Flag = store.FlagNotice
	out.Turns = append(out.Turns, notice)
	out.Reply, out.Stop = HoldingReply, "held"
	return out
}

// consequential returns the names of the consequential tools among calls.
func (r *Runner) consequential(ctx context.Context, inv tool.Invocation, calls []llm.ToolCall) []string {
	d, ok := r.tools.(tool.Describer)
	var names []string
	for _, c := range calls {
		// An executor that cannot describe its tools has every tool held.
		if !ok || d.Describe(ctx, inv, c.Name).Consequential {
			names = append(names, c.Name)
		}
	}
	return names
}

// runCalls runs calls and feeds their outputs back, screened, scrubbed of
// the system prompt and wrapped as data. A detection under an escalate
// policy sets out.Hold (the remaining calls still run: the model chose
// them before it saw the output).
func (r *Runner) runCalls(ctx context.Context, inv tool.Invocation, in TurnInput, calls []llm.ToolCall, nonce string, msgs *[]llm.Message, out *TurnOutput) error {
	d, _ := r.tools.(tool.Describer)
	for _, call := range calls {
		res, err := r.tools.Run(ctx, inv, call)
		if err != nil {
			out.Stop = "tool_error"
			return err
		}
		output := string(res.Output)
		if len(output) > maxToolOutputBytes {
			output, res.IsError = `{"error":"the tool output was too large"}`, true
		}
		output = injection.ScrubPrompt(output, in.Agent.SystemPrompt)
		tt := r.turn(ctx, store.RoleTool, output)
		tt.ToolCallID, tt.ToolName, tt.IsError = call.ID, call.Name, res.IsError
		src := injection.SourceSkill
		if d != nil && d.Describe(ctx, inv, call.Name).External {
			src = injection.SourceExternal
		}
		if det, ok := in.Guard.screen(in.Policy, in.Agent.AgentID, output, src); ok {
			ev := detectedEvent(in.Principal.TenantID, in.Principal.UserID, in.Agent.AgentID, in.Session.ID, call.Name, det, output)
			if err := in.recorder().Record(ctx, ev); err != nil {
				out.Stop = "audit_error"
				return err
			}
			tt.Flag = flagFor(det.dec.Action)
			if tt.Flag == store.FlagHeld && out.Hold == nil {
				out.Hold = &Hold{Kind: store.ReviewToolOutput, Turn: len(out.Turns), Source: src, ToolName: call.Name,
					Excerpt: injection.Excerpt(output, det.res.Spans, excerptBytes), Score: det.res.Score,
					Categories: det.res.Categories}
			}
		}
		out.Turns = append(out.Turns, tt)
		*msgs = append(*msgs, toolMessage(tt, nonce))
	}
	return nil
}

// recorder is where the turn's awaited entries go: its unit of work when
// it has one.
func (in TurnInput) recorder() audit.Recorder {
	if in.Audit != nil {
		return in.Audit
	}
	return in.Guard.audit
}

// Texts the model sees in place of a tool output it may not read.
const (
	withheldBlocked  = `{"error":"this tool output was withheld: it contained instructions aimed at the assistant (possible prompt injection)"}`
	withheldHeld     = `{"error":"this tool output is waiting for review by an administrator"}`
	withheldRejected = `{"error":"an administrator rejected this tool output"}`
	// RejectedCall is the tool result of a consequential call an Admin
	// rejected.
	RejectedCall = `{"error":"an administrator rejected this action; do not retry it"}`
)

// toolMessage is a stored tool turn as the model sees it: withheld when
// blocked, held or rejected, otherwise its output as a data block.
func toolMessage(t store.Turn, nonce string) llm.Message {
	m := llm.Message{Role: llm.RoleTool, ToolCallID: t.ToolCallID, ToolName: t.ToolName, IsError: t.IsError}
	switch t.Flag {
	case store.FlagBlocked:
		m.Text, m.IsError = withheldBlocked, true
	case store.FlagHeld:
		m.Text, m.IsError = withheldHeld, true
	case store.FlagRejected:
		m.Text, m.IsError = withheldRejected, true
	case store.FlagWarn:
		m.Text = CautionNote + injection.WrapData(t.Text, "tool "+t.ToolName, nonce)
	default:
		m.Text = injection.WrapData(t.Text, "tool "+t.ToolName, nonce)
	}
	return m
}

// userMessage is a message as the model sees it: a webhook's, which comes
// from another system, as a data block.
func userMessage(text string, external bool, nonce string) llm.Message {
	if external {
		text = injection.WrapData(text, "webhook message", nonce)
	}
	return llm.Message{Role: llm.RoleUser, Text: text}
}

// untrustedOutputs reports whether any tool turn among turns holds
// untrusted content (untrustedTool).
func untrustedOutputs(turns []store.Turn) bool {
	for _, t := range turns {
		if t.Role == store.RoleTool && untrustedTool(t) {
			return true
		}
	}
	return false
}

// untrustedTool reports whether the model sees untrusted content in tool
// turn t: its output, unless Komand withheld it (blocked, held, rejected:
// the model sees Komand's error instead) or it is Komand's own text
// (tool.TrustedOutput: the time, a memory write's acknowledgement, a
// trusted memory).
func untrustedTool(t store.Turn) bool {
	switch t.Flag {
	case store.FlagBlocked, store.FlagHeld, store.FlagRejected:
		return false
	}
	if t.Text == RejectedCall {
		return false
	}
	return !tool.TrustedOutput(t.ToolName, []byte(t.Text))
}

// pendingCalls returns the tool calls of the last assistant turn of
// history when none of them has a result yet (an approved held call).
func pendingCalls(turns []store.Turn) []llm.ToolCall {
	for i := len(turns) - 1; i >= 0; i-- {
		t := turns[i]
		if t.Flag == store.FlagNotice {
			continue
		}
		if t.Role == store.RoleUser && t.Flag == store.FlagConfirm {
			continue // the confirmation that resumes it
		}
		if t.Role != store.RoleAssistant || len(t.ToolCalls) == 0 || (t.Flag != "" && t.Flag != store.FlagSanitized) {
			return nil
		}
		var calls []llm.ToolCall
		_ = json.Unmarshal(t.ToolCalls, &calls)
		return calls
	}
	return nil
}

// historyMessages converts stored turns to model messages (historyContext
// without the taint).
func historyMessages(turns []store.Turn, external bool, nonce string) []llm.Message {
	msgs, _ := historyContext(turns, external, nonce)
	return msgs
}

// historyContext converts stored turns to model messages, and says of each
// whether it is untrusted content. Komand's own notices, confirmation
// messages, messages that were blocked, held or rejected, and an assistant
// turn whose tool calls wait for review are left out; tool outputs and
// webhook messages become data blocks.
//
// Untrusted: a webhook message, a message the detector flagged (warn), a
// tool output the model reads (untrustedTool: any skill's, an untrusted
// memory's), and every assistant message written after untrusted content
// appeared in the history — the model may have copied the content into
// its own words (an injection can ask for exactly that), which would
// outlive the content when the window is trimmed. Taint is sticky in that
// sense, as in information-flow control: a conversation that has read
// untrusted content stays tainted while any of it, or any answer written
// since, is in the window.
func historyContext(turns []store.Turn, external bool, nonce string) ([]llm.Message, []bool) {
	out := make([]llm.Message, 0, len(turns))
	taint := make([]bool, 0, len(turns))
	seen := false // untrusted content so far
	for _, t := range turns {
		switch {
		case t.Flag == store.FlagNotice:
			continue
		case t.Role == store.RoleUser:
			if t.Flag == store.FlagBlocked || t.Flag == store.FlagHeld || t.Flag == store.FlagRejected || t.Flag == store.FlagConfirm {
				continue
			}
			u := external || t.Flag == store.FlagWarn
			seen = seen || u
			m := userMessage(t.Text, external, nonce)
			if t.Flag == store.FlagWarn {
				m.Text = CautionNote + m.Text
			}
			out, taint = append(out, m), append(taint, u)
			continue
		case t.Role == store.RoleTool:
			if !answers(out, t.ToolCallID) {
				// A slash command's result has no assistant call before
				// it (its output is the next assistant turn's text):
				// providers refuse a tool result without its call.
				continue
			}
			u := untrustedTool(t)
			seen = seen || u
			out, taint = append(out, toolMessage(t, nonce)), append(taint, u)
			continue
		case t.Flag == store.FlagHeld:
			continue
		}
		m := llm.Message{Role: t.Role, Text: t.Text, ToolCallID: t.ToolCallID, ToolName: t.ToolName, IsError: t.IsError}
		if len(t.ToolCalls) > 0 {
			_ = json.Unmarshal(t.ToolCalls, &m.ToolCalls)
		}
		out, taint = append(out, m), append(taint, seen)
	}
	return out, taint
}

// answers reports whether a tool result with call ID id may follow msgs:
// the last assistant message since the last user message asked for it.
func answers(msgs []llm.Message, id string) bool {
	for i := len(msgs) - 1; i >= 0; i-- {
		switch msgs[i].Role {
		case llm.RoleUser:
			return false
		case llm.RoleAssistant:
			for _, c := range msgs[i].ToolCalls {
				if c.ID == id {
					return true
				}
			}
			return false
		}
	}
	return false
}

// estimate is a conservative token count for text: about four bytes a
// token for English, never less than one token per three characters.
func estimate(s string) int {
	return max(len(s)/4, utf8.RuneCountInString(s)/3) + 4
}

func messageTokens(m llm.Message) int {
	n := estimate(m.Text)
	for _, c := range m.ToolCalls {
		n += estimate(c.Name) + estimate(string(c.Arguments))
	}
	return n
}

// trim drops the oldest messages until the rest fit budget tokens, then
// drops leading messages until the history starts with a user message (a
// tool result or tool call without its partner is invalid for providers).
// The newest message is always kept.
func trim(msgs []llm.Message, budget int) []llm.Message {
	return msgs[trimStart(msgs, budget):]
}

// trimStart is the index of the first message trim keeps.
func trimStart(msgs []llm.Message, budget int) int {
	total := 0
	for _, m := range msgs {
		total += messageTokens(m)
	}
	start := 0
	for start < len(msgs)-1 && total > budget {
		total -= messageTokens(msgs[start])
		start++
	}
	for start < len(msgs)-1 && msgs[start].Role != llm.RoleUser {
		start++
	}
	return start
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}
