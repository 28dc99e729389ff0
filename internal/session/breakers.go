package session

import (
	"context"
	"fmt"
	"time"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/store"
)

// Circuit breakers (issue 16). A turn is cut off when it, or its session
// so far, reaches one of the agent's limits (store.AgentLimits; a zero
// field takes DefaultLimits):
//
//   - per turn: tool calls, model tokens (input + output, as the provider
//     reported them, else estimated), wall time, and model calls
//     (Agents:MaxToolIterations);
//   - per session: tool calls, model tokens, busy time (the sum of its
//     turns' wall time), and, when the agent has token prices, a cost
//     ceiling in dollars.
//
// The session's counters are stored with the session (store.SessionUsage,
// added in the transaction that stores the turn's messages), so they hold
// across restarts and replicas. A tripped breaker ends the turn with
// BreakerReply (a notice: the model never sees it), records
// CircuitBreakerTripped with the breaker, its limit and the counts, and
// keeps everything the turn produced; the user's message was stored before
// the turn began. Tool calls the model asked for in the step that tripped
// get an error result instead of running, so the history stays valid for
// the next turn.

// DefaultLimits are the limits of an agent that sets none. The per-turn
// wall time is the server's Agents:TurnTimeout (2 minutes) unless the
// agent sets a shorter maxTurnSeconds.
var DefaultLimits = store.AgentLimits{
	MaxToolCallsPerTurn:    20,
	MaxTokensPerTurn:       400_000,
	MaxToolCallsPerSession: 500,
	MaxTokensPerSession:    5_000_000,
	MaxSessionSeconds:      3600,
}

// Breakers, as CircuitBreakerTripped names them.
const (
	BreakerIterations          = "iterations"
	BreakerToolCallsPerTurn    = "toolCallsPerTurn"
	BreakerTokensPerTurn       = "tokensPerTurn"
	BreakerTurnTime            = "turnTime"
	BreakerToolCallsPerSession = "toolCallsPerSession"
	BreakerTokensPerSession    = "tokensPerSession"
	BreakerSessionTime         = "sessionTime"
	BreakerCostPerSession      = "costPerSession"
)

// BreakerReply ends a turn cut off by a circuit breaker.
const BreakerReply = "I had to stop working on this request: it reached a usage limit set for this agent. " +
	"Your message was kept; an administrator can raise the limit."

// notRun is the tool result of a call a breaker stopped before it ran.
const notRun = `{"error":"not run: the agent reached a usage limit"}`

// effectiveLimits fills an agent's unset limits with the defaults;
// turnTimeout is the server's.
func effectiveLimits(l store.AgentLimits, turnTimeout time.Duration) store.AgentLimits {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&l.MaxToolCallsPerTurn, DefaultLimits.MaxToolCallsPerTurn)
	def(&l.MaxTokensPerTurn, DefaultLimits.MaxTokensPerTurn)
	def(&l.MaxToolCallsPerSession, DefaultLimits.MaxToolCallsPerSession)
	def(&l.MaxTokensPerSession, DefaultLimits.MaxTokensPerSession)
	def(&l.MaxSessionSeconds, DefaultLimits.MaxSessionSeconds)
	server := int(turnTimeout / time.Second)
	if l.MaxTurnSeconds <= 0 || l.MaxTurnSeconds > server {
		l.MaxTurnSeconds = server // an agent may lower the server's limit, not raise it
	}
	return l
}

// budget is one turn's account: the session's usage before it, what the
// turn has used so far, and the limits.
type budget struct {
	lim     store.AgentLimits
	session store.SessionUsage
	turn    store.SessionUsage
	start   time.Time
	now     func() time.Time
}

func newBudget(l store.AgentLimits, session store.SessionUsage, turnTimeout time.Duration, now func() time.Time) *budget {
	return &budget{lim: effectiveLimits(l, turnTimeout), session: session, start: now(), now: now}
}

// usage is the turn's usage, its busy time up to now.
func (b *budget) usage() store.SessionUsage {
	u := b.turn
	u.BusyMillis = max(0, b.now().Sub(b.start).Milliseconds())
	return u
}

// deadline is how long the turn may run: its own limit, or what is left of
// the session's busy time when that is less; session says which.
func (b *budget) deadline() (d time.Duration, session bool) {
	d = time.Duration(b.lim.MaxTurnSeconds) * time.Second
	left := time.Duration(b.lim.MaxSessionSeconds)*time.Second - time.Duration(b.session.BusyMillis)*time.Millisecond
	if left < d {
		return max(left, 0), true
	}
	return d, false
}

// cost is the dollars the tokens u counts cost at the agent's prices.
func (b *budget) cost(u store.SessionUsage) float64 {
	return float64(u.InputTokens)*b.lim.InputPricePerMTok/1e6 + float64(u.OutputTokens)*b.lim.OutputPricePerMTok/1e6
}

// trip is a tripped breaker: its name, its limit and the count that
// reached it.
type trip struct {
	breaker string
	limit   float64
	count   float64
}

// check reports the first breaker that stops the turn from going on to
// run calls more tool calls (0 before a model call: the tool-call
// breakers trip only when calls would exceed them, so a session that used
// its last tool call may still get an answer).
func (b *budget) check(calls int) *trip {
	all := b.session.Add(b.turn)
	all.BusyMillis = b.session.BusyMillis + b.usage().BusyMillis
	tokens := func(u store.SessionUsage) float64 { return float64(u.InputTokens + u.OutputTokens) }
	switch {
	case calls > 0 && b.turn.ToolCalls+int64(calls) > int64(b.lim.MaxToolCallsPerTurn):
		return &trip{BreakerToolCallsPerTurn, float64(b.lim.MaxToolCallsPerTurn), float64(b.turn.ToolCalls + int64(calls))}
	case tokens(b.turn) >= float64(b.lim.MaxTokensPerTurn):
		return &trip{BreakerTokensPerTurn, float64(b.lim.MaxTokensPerTurn), tokens(b.turn)}
	case calls > 0 && all.ToolCalls+int64(calls) > int64(b.lim.MaxToolCallsPerSession):
		return &trip{BreakerToolCallsPerSession, float64(b.lim.MaxToolCallsPerSession), float64(all.ToolCalls + int64(calls))}
	case tokens(all) >= float64(b.lim.MaxTokensPerSession):
		return &trip{BreakerTokensPerSession, float64(b.lim.MaxTokensPerSession), tokens(all)}
	case b.lim.MaxCostPerSession > 0 && b.cost(all) >= b.lim.MaxCostPerSession:
		return &trip{BreakerCostPerSession, b.lim.MaxCostPerSession, b.cost(all)}
	case all.BusyMillis >= int64(b.lim.MaxSessionSeconds)*1000:
		return &trip{BreakerSessionTime, float64(b.lim.MaxSessionSeconds), float64(all.BusyMillis) / 1000}
	}
	return nil
}

// timeTrip is the breaker of a turn whose deadline passed.
func (b *budget) timeTrip() *trip {
	d, session := b.deadline()
	elapsed := float64(b.usage().BusyMillis) / 1000
	if session {
		return &trip{BreakerSessionTime, float64(b.lim.MaxSessionSeconds), float64(b.session.BusyMillis)/1000 + elapsed}
	}
	return &trip{BreakerTurnTime, d.Seconds(), elapsed}
}

// countTokens adds a model answer's tokens: as the provider reported
// them, or estimated (≈ 4 bytes a token) for a side it did not report.
func (b *budget) countTokens(req llm.Request, resp llm.Response) {
	in, out := resp.InputTokens, resp.OutputTokens
	if in <= 0 {
		in = estimate(req.System)
		for _, m := range req.Messages {
			in += messageTokens(m)
		}
		for _, t := range req.Tools {
			in += estimate(t.Name) + estimate(t.Description) + estimate(string(t.InputSchema))
		}
	}
	if out <= 0 {
		out = messageTokens(llm.Message{Text: resp.Text, ToolCalls: resp.ToolCalls})
	}
	b.turn.InputTokens += int64(in)
	b.turn.OutputTokens += int64(out)
}

// tripped ends the turn for tr: the calls of the step that tripped (if
// any) get results saying they did not run, BreakerReply closes the turn,
// and CircuitBreakerTripped is added to the turn's unit of work.
func (r *Runner) tripped(ctx context.Context, in TurnInput, b *budget, out TurnOutput, tr *trip, calls []llm.ToolCall) (TurnOutput, error) {
	ctx = context.WithoutCancel(ctx) // also after the turn's deadline
	for _, c := range calls {
		t := r.turn(ctx, store.RoleTool, notRun)
		t.ToolCallID, t.ToolName, t.IsError = c.ID, c.Name, true
		out.Turns = append(out.Turns, t)
	}
	u := b.usage()
	scope := "turn"
	switch tr.breaker {
	case BreakerToolCallsPerSession, BreakerTokensPerSession, BreakerSessionTime, BreakerCostPerSession:
		scope = "session"
	}
	details := map[string]any{
		"breaker": tr.breaker, "scope": scope, "limit": tr.limit, "count": tr.count,
		"turn": map[string]any{"toolCalls": u.ToolCalls, "inputTokens": u.InputTokens, "outputTokens": u.OutputTokens,
			"busyMs": u.BusyMillis, "modelCalls": out.Iterations},
		"session": map[string]any{"toolCalls": b.session.ToolCalls + u.ToolCalls, "inputTokens": b.session.InputTokens + u.InputTokens,
			"outputTokens": b.session.OutputTokens + u.OutputTokens, "busyMs": b.session.BusyMillis + u.BusyMillis},
	}
	if b.lim.InputPricePerMTok > 0 || b.lim.OutputPricePerMTok > 0 {
		details["cost"] = fmt.Sprintf("%.6f", b.cost(b.session.Add(u)))
	}
	ev := audit.By(in.Principal).Event(audit.Event{TenantID: in.Principal.TenantID, Action: audit.CircuitBreakerTripped,
		AgentID: in.Agent.AgentID, SessionID: in.Session.ID, Details: details})
	var err error
	if in.Audit != nil {
		err = in.Audit.Add(ctx, ev)
	} else if in.Guard != nil && in.Guard.audit != nil {
		err = in.Guard.audit.Record(ctx, ev)
	}
	if err != nil {
		out.Stop = "audit_error"
		return out, err
	}
	reply := BreakerReply
	if tr.breaker == BreakerIterations {
		reply = IterationLimitReply
	}
	notice := r.turn(ctx, store.RoleAssistant, reply)
	notice.Flag = store.FlagNotice
	out.Turns = append(out.Turns, notice)
	out.Reply, out.Stop, out.Breaker = reply, "circuit_breaker", tr.breaker
	return out, nil
}
