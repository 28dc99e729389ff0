package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

const fakeKey = "sk-test-provider-key-4f9a2c"

// fakeOpenAI is a Chat Completions server that answers each request with
// the next scripted reply (the last one repeats) and records the requests.
type fakeOpenAI struct {
	mu       sync.Mutex
	script   []func(w http.ResponseWriter, req map[string]any)
	requests []map[string]any
	auth     []string
}

func (f *fakeOpenAI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/v1/chat/completions" || r.Method != http.MethodPost {
		http.NotFound(w, r)
		return
	}
	var req map[string]any
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, "bad json", 400)
		return
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	i := min(len(f.requests)-1, len(f.script)-1)
	step := f.script[i]
	f.mu.Unlock()
	step(w, req)
}

func (f *fakeOpenAI) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

func completion(w http.ResponseWriter, msg map[string]any, finish string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-test",
		"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": finish}},
		"usage":   map[string]any{"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
	})
}

func textReply(text string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		completion(w, map[string]any{"role": "assistant", "content": text}, "stop")
	}
}

func toolReply(id, name, args string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) {
		completion(w, map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{
			"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": args}}}}, "tool_calls")
	}
}

type providerWorld struct {
	env       *apptest.Env
	fake      *fakeOpenAI
	tenant    string
	op, admin string
}

func newProviderWorld(t *testing.T, kind string, mutate func(*config.Config), script ...func(http.ResponseWriter, map[string]any)) *providerWorld {
	t.Helper()
	return newProviderWorldWith(t, kind, mutate, nil, "You are the Acme front desk.", script...)
}

// newProviderWorldWith is newProviderWorld with a prompt-injection screener
// (nil: the embedded detector) and the agent's system prompt.
func newProviderWorldWith(t *testing.T, kind string, mutate func(*config.Config), screener session.Screener, prompt string, script ...func(http.ResponseWriter, map[string]any)) *providerWorld {
	t.Helper()
	fake := &fakeOpenAI{script: script}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	provider := &llm.OpenAI{BaseURL: srv.URL + "/v1", APIKey: fakeKey, Client: srv.Client(),
		Retry: llm.Retry{Attempts: 3, Base: time.Millisecond, Max: 50 * time.Millisecond}}
	env := apptest.NewWith(t, kind, mutate, app.Options{Providers: map[string]llm.Provider{"openai": provider}, Screener: screener})
	tn := env.Tenant("acme")
	w := &providerWorld{env: env, fake: fake, tenant: tn,
		op:    env.APIKey(tn, env.User(tn, "op@example.com", "operator")),
		admin: env.APIKey(tn, env.User(tn, "admin@example.com", "admin"))}
	r := env.Do("POST", "/api/agents/", w.admin, map[string]any{"agentId": "default", "name": "D",
		"systemPrompt": prompt, "modelProvider": "openai", "modelId": "gpt-test",
		"allowedChannels": []string{"WebChat"}})
	if r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	return w
}

func (w *providerWorld) send(t *testing.T, text string) *apptest.Response {
	t.Helper()
	return w.env.Do("POST", "/api/webchat/message", w.op, map[string]any{"senderId": "user-1", "text": text})
}

func (w *providerWorld) history(t *testing.T, sessionID string) []store.Turn {
	t.Helper()
	turns, _, err := w.env.App.Store.ListTurns(t.Context(), w.tenant, sessionID, store.Page{Page: 1, PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	return turns
}

func (w *providerWorld) count(t *testing.T, action audit.Action) int {
	t.Helper()
	_, n, err := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(action)}, store.Page{Page: 1, PageSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestProviderToolLoop(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil,
			toolReply("call_1", "memory_store", `{"key":"plan","value":"gold"}`),
			textReply("Saved your plan."))
		r := w.send(t, "Remember that my plan is gold")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		reply := decodeData[chatReply](t, r)
		if reply.Text != "Saved your plan." {
			t.Fatalf("reply %q", reply.Text)
		}
		turns := w.history(t, reply.SessionID)
		roles := []string{}
		for _, tr := range turns {
			roles = append(roles, tr.Role)
		}
		if strings.Join(roles, ",") != "user,assistant,tool,assistant" {
			t.Fatalf("history roles %v", roles)
		}
		if turns[2].ToolCallID != "call_1" || turns[2].ToolName != "memory_store" || turns[2].IsError {
			t.Errorf("tool turn %+v", turns[2])
		}
		e, err := w.env.App.Store.GetMemory(t.Context(), w.tenant, "default", "plan")
		if err != nil || e.Value != "gold" {
			t.Fatalf("memory: %+v %v", e, err)
		}
		// The wire: system prompt first, the tools offered, the tool result
		// sent back with its call ID, and the key only in the header.
		if w.fake.calls() != 2 {
			t.Fatalf("model called %d times, want 2", w.fake.calls())
		}
		second := w.fake.requests[1]
		msgs := second["messages"].([]any)
		first := msgs[0].(map[string]any)
		last := msgs[len(msgs)-1].(map[string]any)
		if first["role"] != "system" || first["content"] != "You are the Acme front desk." ||
			last["role"] != "tool" || last["tool_call_id"] != "call_1" || second["model"] != "gpt-test" {
			t.Errorf("second request: %v", second)
		}
		if tools, _ := second["tools"].([]any); len(tools) != 3 {
			t.Errorf("tools offered: %v", second["tools"])
		}
		if w.fake.auth[0] != "Bearer "+fakeKey {
			t.Errorf("Authorization %q", w.fake.auth[0])
		}
		if strings.Contains(w.env.Logs(), fakeKey) || strings.Contains(string(r.Body), fakeKey) {
			t.Errorf("provider key leaked into logs or the response")
		}
		if w.count(t, audit.ToolExecutionCompleted) != 1 || w.count(t, audit.MessageSent) != 1 {
			t.Errorf("audit: completed %d, sent %d", w.count(t, audit.ToolExecutionCompleted), w.count(t, audit.MessageSent))
		}
	})
}

// TestProviderLoopsForever: a model that only ever asks for tools is cut off
// after Agents__MaxToolIterations model calls with a fixed answer.
func TestProviderLoopsForever(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, func(c *config.Config) { c.Agents.MaxToolIterations = 3 },
			toolReply("call_x", "current_time", `{}`))
		r := w.send(t, "What time is it?")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		if got := decodeData[chatReply](t, r).Text; got != session.IterationLimitReply {
			t.Fatalf("reply %q", got)
		}
		if w.fake.calls() != 3 {
			t.Errorf("model called %d times, want 3", w.fake.calls())
		}
		if n := w.count(t, audit.ToolExecutionStarted); n != 3 {
			t.Errorf("tool runs %d, want 3", n)
		}
	})
}

// TestProviderInvalidToolArguments: malformed arguments, an unknown tool and
// a hostile timezone become tool errors the model sees; the turn goes on.
func TestProviderInvalidToolArguments(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil,
			toolReply("c1", "memory_store", `{not json`),
			toolReply("c2", "exfiltrate", `{"url":"http://169.254.169.254/"}`),
			toolReply("c3", "current_time", `{"timezone":"../../../../etc/passwd"}`),
			textReply("Sorry, I could not do that."))
		r := w.send(t, "do things")
		if r.Status != 200 {
			t.Fatalf("%d %s", r.Status, r.Body)
		}
		turns := w.history(t, decodeData[chatReply](t, r).SessionID)
		var toolTurns []store.Turn
		for _, tr := range turns {
			if tr.Role == store.RoleTool {
				toolTurns = append(toolTurns, tr)
			}
		}
		if len(toolTurns) != 3 {
			t.Fatalf("tool turns: %d", len(toolTurns))
		}
		for _, tr := range toolTurns {
			if !tr.IsError || !strings.Contains(tr.Text, `"error"`) || strings.Contains(tr.Text, "root:") {
				t.Errorf("tool turn %+v", tr)
			}
		}
		if n := w.count(t, audit.ToolExecutionFailed); n != 3 {
			t.Errorf("ToolExecutionFailed %d, want 3", n)
		}
		// The model saw each error as the tool's result.
		msgs := w.fake.requests[3]["messages"].([]any)
		if last := msgs[len(msgs)-1].(map[string]any); last["role"] != "tool" || last["tool_call_id"] != "c3" {
			t.Errorf("last message to the model: %v", last)
		}
	})
}

// TestProviderOutage: 5xx on every attempt gives the user a plain 503, keeps
// the message, and leaks nothing of the provider's answer.
func TestProviderOutage(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, func(w http.ResponseWriter, _ map[string]any) {
			http.Error(w, "upstream-secret-detail at 10.0.0.7", http.StatusBadGateway)
		})
		r := w.send(t, "Hello?")
		expectError(t, r, 503, "unavailable")
		if strings.Contains(string(r.Body), "upstream-secret-detail") || strings.Contains(string(r.Body), fakeKey) {
			t.Fatalf("leak: %s", r.Body)
		}
		if w.fake.calls() != 3 {
			t.Errorf("attempts %d, want 3 (retries)", w.fake.calls())
		}
		// The log has the cause, with the request ID, and nothing of the
		// provider's answer or key.
		logs := w.env.Logs()
		if !strings.Contains(logs, "HTTP 502") || !strings.Contains(logs, r.ReqID) {
			t.Errorf("the failure's cause is not logged with its request ID")
		}
		if strings.Contains(logs, "upstream-secret-detail") || strings.Contains(logs, fakeKey) {
			t.Errorf("the provider's body or key reached the log")
		}
		ss, _, _ := w.env.App.Store.ListSessions(t.Context(), w.tenant, store.SessionFilter{}, store.Page{Page: 1, PageSize: 5})
		if len(ss) != 1 {
			t.Fatalf("sessions %d", len(ss))
		}
		turns := w.history(t, ss[0].ID)
		if len(turns) != 1 || turns[0].Role != store.RoleUser || turns[0].Text != "Hello?" {
			t.Fatalf("the user's message was not kept: %+v", turns)
		}
		if w.count(t, audit.MessageReceived) != 1 || w.count(t, audit.MessageSent) != 1 {
			t.Errorf("audit received %d sent(failed) %d", w.count(t, audit.MessageReceived), w.count(t, audit.MessageSent))
		}
	})
}

// TestProviderRetryAfter: a 429 with Retry-After is retried and succeeds.
func TestProviderRetryAfter(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil,
			func(w http.ResponseWriter, _ map[string]any) {
				w.Header().Set("Retry-After", "0")
				http.Error(w, "slow down", http.StatusTooManyRequests)
			},
			textReply("Here I am."))
		r := w.send(t, "Hello?")
		if r.Status != 200 || decodeData[chatReply](t, r).Text != "Here I am." || w.fake.calls() != 2 {
			t.Fatalf("%d %s (calls %d)", r.Status, r.Body, w.fake.calls())
		}
	})
}

func TestProviderStreaming(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newProviderWorld(t, kind, nil, func(w http.ResponseWriter, req map[string]any) {
			if req["stream"] != true {
				http.Error(w, "expected stream", 400)
				return
			}
			w.Header().Set("Content-Type", "text/event-stream")
			for _, c := range []string{
				`{"choices":[{"index":0,"delta":{"role":"assistant","content":"Hel"}}]}`,
				`{"choices":[{"index":0,"delta":{"content":"lo\nth"}}]}`,
				`{"choices":[{"index":0,"delta":{"content":"ere"},"finish_reason":"stop"}]}`,
			} {
				fmt.Fprintf(w, "data: %s\n\n", c)
			}
			fmt.Fprint(w, "data: [DONE]\n\n")
		})
		req, _ := http.NewRequest("POST", w.env.Server.URL+"/api/webchat/message/stream", strings.NewReader(`{"senderId":"s","text":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.op)
		resp, err := w.env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		s := string(body)
		// Deltas are released a line at a time, through the reply
		// controls (injection.ReplyStream).
		if strings.Count(s, "event: delta\n") != 2 || !strings.Contains(s, `"text":"Hello\n"`) ||
			!strings.Contains(s, `"text":"there"`) || !strings.Contains(s, `"text":"Hello\nthere"`) {
			t.Fatalf("stream: %s", s)
		}
	})
}
