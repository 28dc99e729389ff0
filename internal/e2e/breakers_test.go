package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

// Circuit breakers (issue 16), end to end with the scripted model over
// HTTP: a tripped breaker ends the turn with a plain reply, keeps the
// user's message, records CircuitBreakerTripped, and per-session counters
// are the session's, stored with it.

// usageReply answers like completion, reporting the given token usage.
func usageReply(msg map[string]any, finish string, prompt, completion int) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"id": "chatcmpl-u", "object": "chat.completion", "model": "gpt-test",
			"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
			"usage":   map[string]any{"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion},
		})
	}
}

func toolMsg(id, name, args string) map[string]any {
	return map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
		"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": args}}}}
}

func (w *providerWorld) setLimits(t *testing.T, limits map[string]any) {
	t.Helper()
	r := w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": limits})
	if r.Status != 200 {
		t.Fatalf("limits: %d %s", r.Status, r.Body)
	}
}

// trips returns the tenant's CircuitBreakerTripped details, oldest first.
func (w *providerWorld) trips(t *testing.T) []map[string]any {
	t.Helper()
	es, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.CircuitBreakerTripped)},
		store.Page{Page: 1, PageSize: 100})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for i := len(es) - 1; i >= 0; i-- {
		var d map[string]any
		if err := json.Unmarshal(es[i].Details, &d); err != nil {
			t.Fatal(err)
		}
		d["_session"], d["_agent"], d["_actor"] = es[i].SessionID, es[i].AgentID, es[i].ActorID
		out = append(out, d)
	}
	return out
}

func (w *providerWorld) session(t *testing.T, id string) store.Session {
	t.Helper()
	se, err := w.env.App.Store.GetSession(t.Context(), w.tenant, id)
	if err != nil {
		t.Fatal(err)
	}
	return se
}

// TestBreakerAgentLimitsAPI: limits are validated per field, unknown
// fields refused, and read back; a change is audited.
func TestBreakerAgentLimitsAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, textReply("hi"))
		configured := w.count(t, audit.AgentConfigured)
		for field, v := range map[string]any{
			"maxToolCallsPerTurn": -1, "maxTokensPerTurn": 10, "maxTurnSeconds": 100000, "maxToolCallsPerSession": 2_000_000,
			"maxTokensPerSession": 5, "maxSessionSeconds": -3, "inputPricePerMTok": -0.5, "outputPricePerMTok": 1e9,
			"maxCostPerSession": 2.5,
		} {
			r := w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": map[string]any{field: v}})
			expectError(t, r, 400, "validation_failed")
			if !strings.Contains(string(r.Body), "limits."+field) {
				t.Errorf("%s: the error does not name the field: %s", field, r.Body)
			}
		}
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": map[string]any{"maxToolCalls": 3}}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": nil}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": map[string]any{"maxToolCallsPerTurn": 2.5}}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": "none"}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, map[string]any{"limits": map[string]any{"maxTokensPerTurn": "1000"}}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.admin, `{"limits":{"maxTokensPerTurn":1000,"pad":"`+strings.Repeat("x", 2<<20)+`"}}`), 413, "payload_too_large")
		viewer := w.env.APIKey(w.tenant, w.env.User(w.tenant, "viewer@example.com", "viewer"))
		denied := w.count(t, audit.PermissionDenied)
		expectError(t, w.env.Do("PUT", "/api/agents/default", w.op, map[string]any{"limits": map[string]any{"maxToolCallsPerTurn": 500}}), 403, "forbidden")
		expectError(t, w.env.Do("PUT", "/api/agents/default", viewer, map[string]any{"limits": map[string]any{"maxToolCallsPerTurn": 500}}), 403, "forbidden")
		if n := w.count(t, audit.PermissionDenied) - denied; n != 2 {
			t.Fatalf("%d PermissionDenied entries for 2 refused limit changes", n)
		}
		// Another tenant's admin reaches no agent of this tenant's.
		other := w.env.Tenant("globex")
		outsider := w.env.APIKey(other, w.env.User(other, "admin@globex.example", "admin"))
		expectError(t, w.env.Do("PUT", "/api/agents/default", outsider, map[string]any{"limits": map[string]any{"maxToolCallsPerTurn": 500}}), 404, "not_found")
		if n := countAudit(t, w.env, other, audit.AgentConfigured); n != 0 {
			t.Fatalf("tenant B's audit has %d AgentConfigured", n)
		}
		w.setLimits(t, map[string]any{"maxToolCallsPerTurn": 3, "inputPricePerMTok": 2.5, "outputPricePerMTok": 10, "maxCostPerSession": 0.75})
		r := w.env.Do("GET", "/api/agents/default", w.op, nil)
		var got struct {
			Limits map[string]float64 `json:"limits"`
		}
		_ = json.Unmarshal(r.Data, &got)
		if got.Limits["maxToolCallsPerTurn"] != 3 || got.Limits["maxCostPerSession"] != 0.75 || got.Limits["maxTokensPerTurn"] != 0 ||
			len(got.Limits) != 9 {
			t.Fatalf("limits read back: %s", r.Data)
		}
		es, total, _ := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.AgentConfigured)}, store.Page{Page: 1, PageSize: 1})
		if len(es) != 1 || total != configured+1 || !strings.Contains(string(es[0].Details), `"limits"`) {
			t.Fatalf("AgentConfigured: %+v", es)
		}
	})
}

// TestBreakerToolCallsPerTurn: a model that keeps calling tools is cut off
// at the agent's maxToolCallsPerTurn: the extra call does not run, the
// user's message and the calls that ran are kept, the reply is plain.
func TestBreakerToolCallsPerTurn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, toolReply("call_x", "current_time", `{}`))
		w.setLimits(t, map[string]any{"maxToolCallsPerTurn": 3})
		r := w.send(t, "What time is it, again and again?")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		reply := decodeData[chatReply](t, r)
		if reply.Text != session.BreakerReply {
			t.Fatalf("reply %q", reply.Text)
		}
		if n := w.count(t, audit.ToolExecutionStarted); n != 3 {
			t.Fatalf("tool runs %d, want 3", n)
		}
		if w.fake.calls() != 4 {
			t.Fatalf("model calls %d, want 4", w.fake.calls())
		}
		trips := w.trips(t)
		if len(trips) != 1 || trips[0]["breaker"] != session.BreakerToolCallsPerTurn || trips[0]["scope"] != "turn" ||
			trips[0]["limit"] != float64(3) || trips[0]["count"] != float64(4) || trips[0]["_session"] != reply.SessionID || trips[0]["_actor"] == "" {
			t.Fatalf("CircuitBreakerTripped: %v", trips)
		}
		turns := w.history(t, reply.SessionID)
		if turns[0].Role != store.RoleUser || turns[0].Text != "What time is it, again and again?" {
			t.Fatalf("the user's message was not kept: %+v", turns[0])
		}
		last, notRun := turns[len(turns)-1], turns[len(turns)-2]
		if last.Flag != store.FlagNotice || last.Text != session.BreakerReply || notRun.Role != store.RoleTool || !notRun.IsError ||
			!strings.Contains(notRun.Text, "not run") {
			t.Fatalf("end of history: %s / %+v", flags(turns), notRun)
		}
		if se := w.session(t, reply.SessionID); se.Usage.ToolCalls != 3 || se.Usage.InputTokens != 40 || se.Usage.OutputTokens != 20 {
			t.Fatalf("session usage %+v, want 3 tool calls and the 4 answers' reported tokens", se.Usage)
		}
		if n := w.count(t, audit.MessageSent); n != 1 {
			t.Fatalf("MessageSent %d", n)
		}
		// The next message gets the model again (the limit is per turn),
		// and the model sees a valid history (every call has its result).
		w.fake.mu.Lock()
		w.fake.script = []func(http.ResponseWriter, map[string]any){textReply("It is noon.")}
		w.fake.mu.Unlock()
		if got := decodeData[chatReply](t, w.send(t, "and now?")).Text; got != "It is noon." {
			t.Fatalf("next turn: %q", got)
		}
		wire := w.wire(t, 4)
		for _, m := range wire {
			if strings.Contains(m, session.BreakerReply) {
				t.Fatalf("the breaker's notice reached the model: %v", wire)
			}
		}
	})
}

// TestBreakerTokensPerTurn: provider-reported tokens count; over the
// agent's maxTokensPerTurn the model's tool call does not run.
func TestBreakerTokensPerTurn(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil,
			usageReply(toolMsg("c1", "memory_store", `{"key":"k","value":"v"}`), "tool_calls", 900, 300),
			textReply("unreachable"))
		w.setLimits(t, map[string]any{"maxTokensPerTurn": 1000})
		reply := decodeData[chatReply](t, w.send(t, "store something"))
		if reply.Text != session.BreakerReply || w.fake.calls() != 1 {
			t.Fatalf("reply %q after %d model calls", reply.Text, w.fake.calls())
		}
		if _, ok := w.memory(t, "default", "k"); ok || w.count(t, audit.ToolExecutionStarted) != 0 {
			t.Fatal("the call of the answer that went over the limit ran")
		}
		trips := w.trips(t)
		if len(trips) != 1 || trips[0]["breaker"] != session.BreakerTokensPerTurn || trips[0]["count"] != float64(1200) {
			t.Fatalf("CircuitBreakerTripped: %v", trips)
		}
		if se := w.session(t, reply.SessionID); se.Usage.InputTokens != 900 || se.Usage.OutputTokens != 300 {
			t.Fatalf("session usage %+v", se.Usage)
		}
	})
}

// TestBreakerSessionAcrossTurns: the session's counters add up over turns
// (stored with the session), so a session over its tokens gets no model
// call, and one over its tool calls gets no more tool runs.
func TestBreakerSessionAcrossTurns(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, usageReply(map[string]any{"role": "assistant", "content": "ok"}, "stop", 500, 100))
		w.setLimits(t, map[string]any{"maxTokensPerSession": 1000})
		first := decodeData[chatReply](t, w.send(t, "one"))
		second := decodeData[chatReply](t, w.send(t, "two"))
		third := decodeData[chatReply](t, w.send(t, "three"))
		if first.Text != "ok" || second.Text != "ok" || third.Text != session.BreakerReply || w.fake.calls() != 2 {
			t.Fatalf("replies %q %q %q, %d model calls", first.Text, second.Text, third.Text, w.fake.calls())
		}
		if se := w.session(t, third.SessionID); se.ID != first.SessionID || se.Usage.InputTokens != 1000 || se.Usage.OutputTokens != 200 {
			t.Fatalf("session %+v", se)
		}
		trips := w.trips(t)
		if len(trips) != 1 || trips[0]["breaker"] != session.BreakerTokensPerSession || trips[0]["scope"] != "session" {
			t.Fatalf("CircuitBreakerTripped: %v", trips)
		}
		// Every message is kept, the third too.
		turns := w.history(t, third.SessionID)
		if turns[len(turns)-2].Text != "three" || turns[len(turns)-1].Flag != store.FlagNotice {
			t.Fatalf("history %s", flags(turns))
		}

		// Tool calls per session, on another sender's session: one call a
		// turn, at most two in the session.
		w.fake.mu.Lock()
		w.fake.script = []func(http.ResponseWriter, map[string]any){toolReply("c", "current_time", `{}`), textReply("done"),
			toolReply("c", "current_time", `{}`), textReply("done"), toolReply("c", "current_time", `{}`), textReply("done")}
		w.fake.requests = nil
		w.fake.mu.Unlock()
		w.setLimits(t, map[string]any{"maxToolCallsPerSession": 2})
		other := func(text string) string {
			r := w.env.Do("POST", "/api/webchat/message", w.op, map[string]any{"senderId": "user-2", "text": text})
			return decodeData[chatReply](t, r).Text
		}
		if a, b, c := other("a"), other("b"), other("c"); a != "done" || b != "done" || c != session.BreakerReply {
			t.Fatalf("replies %q %q %q", a, b, c)
		}
		if n := w.count(t, audit.ToolExecutionStarted); n != 2 {
			t.Fatalf("tool runs %d, want 2", n)
		}
		trips = w.trips(t)
		if len(trips) != 2 || trips[1]["breaker"] != session.BreakerToolCallsPerSession || trips[1]["count"] != float64(3) {
			t.Fatalf("CircuitBreakerTripped: %v", trips)
		}
	})
}

// TestBreakerCostCeiling: with token prices the session's cost is counted
// from the reported tokens; at the ceiling the session gets no more model
// calls.
func TestBreakerCostCeiling(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		// 10 + 5 tokens an answer at $1000 per million: $0.015 an answer.
		w := newProviderWorld(t, kind, nil, textReply("ok"))
		w.setLimits(t, map[string]any{"inputPricePerMTok": 1000, "outputPricePerMTok": 1000, "maxCostPerSession": 0.02})
		a, b, c := decodeData[chatReply](t, w.send(t, "one")), decodeData[chatReply](t, w.send(t, "two")), decodeData[chatReply](t, w.send(t, "three"))
		if a.Text != "ok" || b.Text != "ok" || c.Text != session.BreakerReply || w.fake.calls() != 2 {
			t.Fatalf("replies %q %q %q, %d model calls", a.Text, b.Text, c.Text, w.fake.calls())
		}
		trips := w.trips(t)
		if len(trips) != 1 || trips[0]["breaker"] != session.BreakerCostPerSession || trips[0]["cost"] != "0.030000" ||
			trips[0]["limit"] != 0.02 {
			t.Fatalf("CircuitBreakerTripped: %v", trips)
		}
		// Raising the ceiling lets the session go on.
		w.setLimits(t, map[string]any{"inputPricePerMTok": 1000, "outputPricePerMTok": 1000, "maxCostPerSession": 1})
		if d := decodeData[chatReply](t, w.send(t, "four")); d.Text != "ok" || w.fake.calls() != 3 {
			t.Fatalf("after raising the ceiling: %q", d.Text)
		}
	})
}
