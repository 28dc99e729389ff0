package session

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/agent"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/servicetest"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/tool"
)

// runnerWorld is a real store, audit writer and built-in tools, and an
// OpenAI-compatible server answering with handler (nil: no provider).
type runnerWorld struct {
	f      *servicetest.Fixture
	svc    *Service
	runner *Runner
	agent  store.Agent
	calls  int
}

func newRunnerWorld(t *testing.T, handler http.HandlerFunc) *runnerWorld {
	t.Helper()
	f := servicetest.New(t)
	w := &runnerWorld{f: f}
	providers := map[string]llm.Provider{}
	if handler != nil {
		srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			w.calls++
			handler(rw, r)
		}))
		t.Cleanup(srv.Close)
		providers["openai"] = &llm.OpenAI{BaseURL: srv.URL, Client: srv.Client(), Retry: llm.Retry{Attempts: 1, Base: time.Millisecond, Max: time.Millisecond}}
	}
	mem := agent.NewMemory(f.Store, f.Store, f.Authz, f.Audit, f.Clock.Now)
	tools := tool.NewBuiltins(mem, f.Audit, nil, nil, f.Clock.Now)
	w.runner = NewRunner(providers, tools, RunnerOptions{TurnTimeout: time.Minute})
	w.svc = New(f.Store, f.Authz, f.Writer, nil, w.runner, Options{Now: f.Clock.Now})
	w.agent = store.Agent{TenantID: f.TenantA, AgentID: "default", Name: "D", ModelProvider: "openai", ModelID: "m",
		MaxContextTokens: 100000, AllowedChannels: []string{"WebChat", "Webhook", "Slack", "Telegram"},
		CreatedAt: servicetest.Start, UpdatedAt: servicetest.Start}
	if err := f.Store.CreateAgent(context.Background(), w.agent, 100); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *runnerWorld) account(t *testing.T, ch, accountID string, allow bool) store.ChannelAccount {
	t.Helper()
	a := store.ChannelAccount{TenantID: w.f.TenantA, ID: uuid.NewString(), Channel: ch, AccountID: accountID, AgentID: "default",
		AllowCommands: allow, CreatedAt: servicetest.Start, UpdatedAt: servicetest.Start}
	if err := w.f.Store.CreateChannelAccount(context.Background(), a); err != nil {
		t.Fatal(err)
	}
	return a
}

// TestCommandAccess: who may send slash commands. Deny by default: only a
// Komand user on WebChat, Slack or Telegram (a mapped member), or the
// principal of an integration account with allowCommands (held), gets
// anything but CommandsNone.
func TestCommandAccess(t *testing.T) {
	w := newRunnerWorld(t, nil)
	user := w.f.As(w.f.TenantA, authz.Operator)
	hook := w.account(t, channel.Webhook, "forms", false)
	open := w.account(t, channel.Webhook, "crm", true)
	slack := w.account(t, channel.Slack, "acme", true)
	tg := w.account(t, channel.Telegram, "bot", false)
	as := func(a store.ChannelAccount, public bool) authz.Principal {
		return authz.Principal{TenantID: w.f.TenantA, UserID: channel.AccountActor(a.ID), Role: authz.Operator, Public: public}
	}
	msg := func(ch, account string) channel.InboundMessage {
		return channel.InboundMessage{Channel: ch, ChannelAccountID: account, SenderID: "s", Text: "/memory set k v"}
	}
	for _, c := range []struct {
		name string
		p    authz.Principal
		m    channel.InboundMessage
		want CommandAccess
	}{
		{"a user on WebChat", user, msg(channel.WebChat, "default"), CommandsUser},
		{"a widget visitor", authz.Principal{TenantID: w.f.TenantA, UserID: channel.WidgetActor(uuid.NewString()), Role: authz.Operator, Public: true}, msg(channel.WebChat, "site"), CommandsNone},
		{"a widget principal not marked public", authz.Principal{TenantID: w.f.TenantA, UserID: channel.WidgetActor(uuid.NewString()), Role: authz.Operator}, msg(channel.WebChat, "site"), CommandsNone},
		{"a channel account's principal on WebChat", as(hook, false), msg(channel.WebChat, "default"), CommandsNone},
		{"a webhook without allowCommands", as(hook, false), msg(channel.Webhook, "forms"), CommandsNone},
		{"a webhook with allowCommands", as(open, false), msg(channel.Webhook, "crm"), CommandsHeld},
		{"another account's principal naming it", as(hook, false), msg(channel.Webhook, "crm"), CommandsNone},
		{"a user naming an open webhook account", user, msg(channel.Webhook, "crm"), CommandsNone},
		{"an unknown webhook account", as(open, false), msg(channel.Webhook, "ghost"), CommandsNone},
		{"a Slack account with allowCommands", as(slack, false), msg(channel.Slack, "acme"), CommandsHeld},
		{"a public sender on an open account", as(open, true), msg(channel.Webhook, "crm"), CommandsNone},
		{"a Telegram user", as(tg, true), msg(channel.Telegram, "bot"), CommandsNone},
		{"a Telegram principal not marked public", as(tg, false), msg(channel.Telegram, "bot"), CommandsNone},
		{"a channel with no commands", user, msg("Teams", "default"), CommandsNone},
		// A Slack member or Telegram user mapped to a Komand user is that
		// user (channel.Service.sender builds the principal).
		{"a mapped Slack member", user, msg(channel.Slack, "acme"), CommandsUser},
		{"a mapped Telegram user", user, msg(channel.Telegram, "bot"), CommandsUser},
		{"a mapped user marked public", authz.Principal{TenantID: w.f.TenantA, UserID: user.UserID, Role: authz.Operator, Public: true}, msg(channel.Telegram, "bot"), CommandsNone},
		{"a Komand user on the generic webhook", user, msg(channel.Webhook, "forms"), CommandsNone},
	} {
		got, err := w.svc.commandAccess(context.Background(), c.p, c.m)
		if err != nil || got != c.want {
			t.Errorf("%s: %v %v, want %v", c.name, got, err, c.want)
		}
	}
}

// TestTurnCommandsNeedAccess: the runner runs no command without access,
// and none for a public principal whatever the access says.
func TestTurnCommandsNeedAccess(t *testing.T) {
	w := newRunnerWorld(t, nil)
	ctx := context.Background()
	user := w.f.As(w.f.TenantA, authz.Operator)
	public := authz.Principal{TenantID: w.f.TenantA, UserID: channel.WidgetActor("w"), Role: authz.Operator, Public: true}
	se := store.Session{ID: uuid.NewString(), TenantID: w.f.TenantA, Channel: channel.WebChat}
	for _, c := range []struct {
		p    authz.Principal
		acc  CommandAccess
		runs bool
	}{{user, CommandsNone, false}, {public, CommandsUser, false}, {public, CommandsHeld, false}, {user, CommandsUser, true}} {
		out, err := w.runner.Turn(ctx, TurnInput{Principal: c.p, Agent: w.agent, Session: se, Text: "/memory set k v", Commands: c.acc})
		if err != nil {
			t.Fatal(err)
		}
		ran := out.Stop == "command"
		if ran != c.runs {
			t.Errorf("%+v with %v: stop %q", c.p, c.acc, out.Stop)
		}
	}
}

// TestBreakerSessionAtStart: a session already over its busy time, tokens
// or cost gets no model call and no command; the trip is recorded.
func TestBreakerSessionAtStart(t *testing.T) {
	w := newRunnerWorld(t, func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}]}`))
	})
	ctx := context.Background()
	user := w.f.As(w.f.TenantA, authz.Operator)
	ag := w.agent
	ag.Limits = store.AgentLimits{MaxSessionSeconds: 60, MaxTokensPerSession: 5000, InputPricePerMTok: 10, MaxCostPerSession: 0.01}
	for _, c := range []struct {
		usage   store.SessionUsage
		breaker string
	}{
		{store.SessionUsage{BusyMillis: 60_000}, BreakerSessionTime},
		{store.SessionUsage{InputTokens: 4000, OutputTokens: 1000}, BreakerTokensPerSession},
		{store.SessionUsage{InputTokens: 1000}, BreakerCostPerSession},
	} {
		se := store.Session{ID: uuid.NewString(), TenantID: w.f.TenantA, Channel: channel.WebChat, Usage: c.usage}
		for _, text := range []string{"hello", "/memory set k v"} {
			work := audit.NewUnit(w.f.Writer)
			out, err := w.runner.Turn(ctx, TurnInput{Principal: user, Agent: ag, Session: se, Text: text, Commands: CommandsUser, Audit: work})
			if err != nil || out.Breaker != c.breaker || out.Reply != BreakerReply || w.calls != 0 {
				t.Fatalf("%+v %q: %+v %v (%d model calls)", c.usage, text, out, err, w.calls)
			}
			if err := work.Wait(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := w.f.Store.GetMemory(ctx, w.f.TenantA, "default", "k"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a command ran in a tripped session: %v", err)
	}
	_, n, _ := w.f.Store.ListAudit(ctx, w.f.TenantA, store.AuditFilter{Action: string(audit.CircuitBreakerTripped)}, store.Page{Page: 1, PageSize: 1})
	if n != 6 {
		t.Fatalf("CircuitBreakerTripped entries: %d, want 6", n)
	}
}

// TestBreakerTurnTime: a model that does not answer within the agent's
// maxTurnSeconds ends the turn with the breaker's reply, not an error.
func TestBreakerTurnTime(t *testing.T) {
	release := make(chan struct{})
	w := newRunnerWorld(t, func(rw http.ResponseWriter, r *http.Request) {
		select { // never answers
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) }) // before the server's Close
	ag := w.agent
	ag.Limits.MaxTurnSeconds = 1
	se := store.Session{ID: uuid.NewString(), TenantID: w.f.TenantA, Channel: channel.WebChat}
	out, err := w.runner.Turn(context.Background(), TurnInput{Principal: w.f.As(w.f.TenantA, authz.Operator), Agent: ag, Session: se, Text: "hi"})
	if err != nil || out.Breaker != BreakerTurnTime || out.Reply != BreakerReply {
		t.Fatalf("%+v %v", out, err)
	}
	if last := out.Turns[len(out.Turns)-1]; last.Flag != store.FlagNotice {
		t.Fatalf("last turn %+v", last)
	}
}

// TestEffectiveLimits: zero fields take the defaults, and an agent may
// lower the server's turn timeout but not raise it.
func TestEffectiveLimits(t *testing.T) {
	l := effectiveLimits(store.AgentLimits{MaxTurnSeconds: 1800, MaxToolCallsPerTurn: 3}, 2*time.Minute)
	if l.MaxTurnSeconds != 120 || l.MaxToolCallsPerTurn != 3 || l.MaxTokensPerTurn != DefaultLimits.MaxTokensPerTurn ||
		l.MaxToolCallsPerSession != DefaultLimits.MaxToolCallsPerSession || l.MaxCostPerSession != 0 {
		t.Fatalf("%+v", l)
	}
	if l := effectiveLimits(store.AgentLimits{MaxTurnSeconds: 30}, 2*time.Minute); l.MaxTurnSeconds != 30 {
		t.Fatalf("lowered: %+v", l)
	}
	// Tokens not reported are estimated, never zero.
	b := newBudget(store.AgentLimits{}, store.SessionUsage{}, time.Minute, time.Now)
	b.countTokens(llm.Request{System: "be brief", Messages: []llm.Message{{Role: "user", Text: "hello there"}}},
		llm.Response{Text: "hi", ToolCalls: []llm.ToolCall{{Name: "x", Arguments: json.RawMessage(`{}`)}}})
	if b.turn.InputTokens <= 0 || b.turn.OutputTokens <= 0 {
		t.Fatalf("estimate: %+v", b.turn)
	}
}
