package e2e_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/agent"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/session"
)

type chatReply struct {
	SessionID string `json:"sessionId"`
	Text      string `json:"text"`
	Timestamp string `json:"timestamp"`
}

type sessionView struct {
	SessionID    string            `json:"sessionId"`
	Key          string            `json:"key"`
	Channel      string            `json:"channel"`
	AgentID      string            `json:"agentId"`
	MessageCount int               `json:"messageCount"`
	Status       string            `json:"status"`
	Metadata     map[string]string `json:"metadata"`
}

type turnView struct {
	Seq       int64           `json:"seq"`
	Role      string          `json:"role"`
	Text      string          `json:"text"`
	ToolName  *string         `json:"toolName"`
	IsError   bool            `json:"isError"`
	RequestID string          `json:"requestId"`
	ToolCalls json.RawMessage `json:"toolCalls"`
}

func decodeData[T any](t *testing.T, r *apptest.Response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.Data, &v); err != nil {
		t.Fatalf("data: %v: %s", err, r.Body)
	}
	return v
}

// chatWorld is newWorld plus a "default" agent in each tenant that allows
// WebChat.
func chatWorld(t *testing.T, kind string, mutate func(*config.Config)) *world {
	t.Helper()
	w := newWorldWith(t, kind, mutate)
	for _, tn := range []string{"a", "b"} {
		r := w.env.Do("POST", "/api/agents/", w.keys[tn+"/admin"], map[string]any{
			"agentId": "default", "name": "Front desk", "allowedChannels": []string{"WebChat"}})
		if r.Status != 201 {
			t.Fatalf("create default agent: %d %s", r.Status, r.Body)
		}
	}
	return w
}

func send(t *testing.T, w *world, key string, body map[string]any) *apptest.Response {
	t.Helper()
	return w.env.Do("POST", "/api/webchat/message", w.keys[key], body)
}

func TestWebChatConversation(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		r := send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": "Hello there", "displayName": "Ada"})
		if r.Status != 200 {
			t.Fatalf("first message: %d %s", r.Status, r.Body)
		}
		first := decodeData[chatReply](t, r)
		if first.SessionID == "" || first.Text != session.NoProviderReply || first.Timestamp == "" {
			t.Fatalf("reply: %+v", first)
		}
		r = send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": "Still there?"})
		second := decodeData[chatReply](t, r)
		if second.SessionID != first.SessionID {
			t.Fatalf("second message opened session %s, want %s", second.SessionID, first.SessionID)
		}
		// Another sender is another session.
		r = send(t, w, "a/operator", map[string]any{"senderId": "user-2", "text": "Hi"})
		if other := decodeData[chatReply](t, r); other.SessionID == first.SessionID {
			t.Fatalf("another sender shares the session")
		}

		r = w.env.Do("GET", "/api/sessions/"+first.SessionID, w.keys["a/viewer"], nil)
		se := decodeData[sessionView](t, r)
		if se.Key != "WebChat:default:user-1" || se.Channel != "WebChat" || se.AgentID != "default" ||
			se.MessageCount != 4 || se.Status != "active" || se.Metadata["senderDisplayName"] != "Ada" {
			t.Fatalf("session: %+v", se)
		}
		r = w.env.Do("GET", "/api/sessions/"+first.SessionID+"/history?page=1&pageSize=50", w.keys["a/viewer"], nil)
		turns := decodeData[[]turnView](t, r)
		if r.Meta == nil || r.Meta.Total != 4 || len(turns) != 4 {
			t.Fatalf("history: %s", r.Body)
		}
		wantRoles := []string{"user", "assistant", "user", "assistant"}
		for i, tv := range turns {
			if tv.Role != wantRoles[i] || tv.Seq != int64(i+1) || tv.RequestID == "" {
				t.Errorf("turn %d: %+v", i, tv)
			}
		}
		if turns[0].Text != "Hello there" || turns[2].Text != "Still there?" {
			t.Errorf("history text: %+v", turns)
		}
		r = w.env.Do("GET", "/api/sessions/?status=active&agentId=default", w.keys["a/viewer"], nil)
		if r.Status != 200 || r.Meta == nil || r.Meta.Total != 2 {
			t.Fatalf("list sessions: %s", r.Body)
		}

		for action, want := range map[audit.Action]int{
			audit.SessionCreated: 2, audit.MessageReceived: 3, audit.MessageSent: 3,
		} {
			if got := auditCount(t, w, w.tenA, action); got != want {
				t.Errorf("%s entries: %d, want %d", action, got, want)
			}
		}
		// The audit filter by session finds this session's four entries.
		r = w.env.Do("GET", "/api/audit/?sessionId="+first.SessionID, w.keys["a/viewer"], nil)
		if r.Meta == nil || r.Meta.Total != 5 { // SessionCreated + 2×(Received, Sent)
			t.Errorf("audit by session: %s", r.Body)
		}
		for _, action := range []audit.Action{audit.SessionCreated, audit.MessageReceived, audit.MessageSent} {
			if n := auditCount(t, w, w.tenB, action); n != 0 {
				t.Errorf("tenant B's log got %d %s entries from A's conversation", n, action)
			}
		}
	})
}

func TestWebChatCommandsAndTools(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		msg := func(text string) string {
			t.Helper()
			r := send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": text})
			if r.Status != 200 {
				t.Fatalf("%q: %d %s", text, r.Status, r.Body)
			}
			return decodeData[chatReply](t, r).Text
		}
		if got := msg("/memory set favourite colour is blue"); !strings.Contains(got, `"stored":true`) {
			t.Fatalf("/memory set: %s", got)
		}
		if got := msg("/memory get favourite"); !strings.Contains(got, `"value":"colour is blue"`) {
			t.Fatalf("/memory get: %s", got)
		}
		if got := msg("/memory get unknown-key"); !strings.Contains(got, `"found":false`) {
			t.Fatalf("/memory get unknown: %s", got)
		}
		if got := msg(`/tool current_time {"timezone":"UTC"}`); !strings.Contains(got, `"time":"`) {
			t.Fatalf("/tool current_time: %s", got)
		}
		// Hostile tool calls: unknown tool, invalid arguments, unknown field.
		for _, text := range []string{`/tool rm-rf {}`, `/tool current_time {"timezone":"../../etc/passwd"}`,
			`/tool memory_store {"key":"k","value":"v","admin":true}`, `/tool current_time [1,2]`} {
			if got := msg(text); !strings.Contains(got, `"error":`) {
				t.Errorf("%s: %s", text, got)
			}
		}
		if got := msg(`/tool current_time {not json`); !strings.Contains(got, "must be JSON") {
			t.Errorf("invalid JSON: %s", got)
		}
		r := w.env.Do("GET", "/api/agents/default/memory/favourite", w.keys["a/operator"], nil)
		if r.Status != 200 || !strings.Contains(string(r.Data), `"value":"colour is blue"`) {
			t.Fatalf("memory via API: %d %s", r.Status, r.Body)
		}
		if got := auditCount(t, w, w.tenA, audit.MemoryWritten); got != 1 {
			t.Errorf("MemoryWritten entries: %d, want 1", got)
		}
		// 4 successful tool runs, 4 failed (validation) plus none for the
		// invalid-JSON command, which never reaches the executor.
		for action, want := range map[audit.Action]int{
			audit.ToolExecutionStarted: 8, audit.ToolExecutionCompleted: 4, audit.ToolExecutionFailed: 4,
		} {
			if got := auditCount(t, w, w.tenA, action); got != want {
				t.Errorf("%s entries: %d, want %d", action, got, want)
			}
		}
	})
}

func TestWebChatHostileInput(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		long := strings.Repeat("é", session.MaxTextChars+1)
		cases := []struct {
			name   string
			body   any
			status int
			code   string
		}{
			{"text over 10,000 characters", map[string]any{"senderId": "u", "text": long}, 400, "validation_failed"},
			{"empty text", map[string]any{"senderId": "u", "text": "  "}, 400, "validation_failed"},
			{"no sender", map[string]any{"text": "hi"}, 400, "validation_failed"},
			{"null text", map[string]any{"senderId": "u", "text": nil}, 400, "validation_failed"},
			{"number as text", map[string]any{"senderId": "u", "text": 42}, 400, "validation_failed"},
			{"unknown field", map[string]any{"senderId": "u", "text": "hi", "agentId": "admin-bot"}, 400, "validation_failed"},
			{"account with a colon", map[string]any{"senderId": "u", "text": "hi", "accountId": "a:b"}, 400, "validation_failed"},
			{"sender with a newline", map[string]any{"senderId": "u\nx", "text": "hi"}, 400, "validation_failed"},
			{"malformed JSON", `{"senderId": "u", "text": "hi"`, 400, "validation_failed"},
			{"invalid session id", map[string]any{"senderId": "u", "text": "hi", "sessionId": "../../etc/passwd"}, 400, "validation_failed"},
			{"unknown session id", map[string]any{"senderId": "u", "text": "hi", "sessionId": "0b9a3c4e-1f2d-4e5f-8a9b-0c1d2e3f4a5b"}, 404, "not_found"},
			{"body over the limit", `{"senderId":"u","text":"` + strings.Repeat("a", 2<<20) + `"}`, 413, "payload_too_large"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				r := w.env.Do("POST", "/api/webchat/message", w.keys["a/operator"], tc.body)
				expectError(t, r, tc.status, tc.code)
			})
		}
		if n := auditCount(t, w, w.tenA, audit.MessageReceived); n != 0 {
			t.Errorf("rejected messages wrote %d MessageReceived entries", n)
		}
		r := w.env.Do("GET", "/api/sessions/", w.keys["a/viewer"], nil)
		if r.Meta == nil || r.Meta.Total != 0 {
			t.Errorf("rejected messages created sessions: %s", r.Body)
		}
	})
}

func TestWebChatRBACAndTenancy(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		r := send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": "hi"})
		sid := decodeData[chatReply](t, r).SessionID

		// A viewer reads but cannot send; an operator cannot end a session.
		denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
		expectError(t, send(t, w, "a/viewer", map[string]any{"senderId": "user-1", "text": "hi"}), 403, "forbidden")
		expectError(t, w.env.Do("POST", "/api/sessions/"+sid+"/end", w.keys["a/operator"], nil), 403, "forbidden")
		if got := auditCount(t, w, w.tenA, audit.PermissionDenied); got != denied+2 {
			t.Errorf("PermissionDenied entries: %d, want %d", got, denied+2)
		}

		// Tenant B, whatever its role, sees none of it: 404 everywhere.
		for _, role := range roles {
			k := w.keys["b/"+role]
			for _, p := range []string{"/api/sessions/" + sid, "/api/sessions/" + sid + "/history"} {
				expectError(t, w.env.Do("GET", p, k, nil), 404, "not_found")
			}
			r := w.env.Do("GET", "/api/sessions/", k, nil)
			if r.Meta == nil || r.Meta.Total != 0 {
				t.Errorf("b/%s lists A's sessions: %s", role, r.Body)
			}
		}
		expectError(t, w.env.Do("POST", "/api/sessions/"+sid+"/end", w.keys["b/admin"], nil), 404, "not_found")
		// Continuing A's session by ID from tenant B is a 404 too, and B's
		// message does not land in A's history.
		expectError(t, send(t, w, "b/operator", map[string]any{"senderId": "user-1", "text": "inject", "sessionId": sid}), 404, "not_found")
		r = w.env.Do("GET", "/api/sessions/"+sid, w.keys["a/viewer"], nil)
		if se := decodeData[sessionView](t, r); se.MessageCount != 2 {
			t.Errorf("A's session has %d messages after B's attempts, want 2", se.MessageCount)
		}

		// Continuing a session with another sender's ID is refused.
		expectError(t, send(t, w, "a/operator", map[string]any{"senderId": "user-2", "text": "x", "sessionId": sid}), 409, "conflict")

		// An admin ends it; the next message starts a new session.
		r = w.env.Do("POST", "/api/sessions/"+sid+"/end", w.keys["a/admin"], nil)
		if se := decodeData[sessionView](t, r); r.Status != 200 || se.Status != "ended" {
			t.Fatalf("end: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("POST", "/api/sessions/"+sid+"/end", w.keys["a/admin"], nil), 409, "conflict")
		expectError(t, send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": "x", "sessionId": sid}), 409, "conflict")
		r = send(t, w, "a/operator", map[string]any{"senderId": "user-1", "text": "back again"})
		if next := decodeData[chatReply](t, r); next.SessionID == sid || next.SessionID == "" {
			t.Fatalf("message after end: %s", r.Body)
		}
		if got := auditCount(t, w, w.tenA, audit.SessionEnded); got != 1 {
			t.Errorf("SessionEnded entries: %d, want 1", got)
		}
	})
}

func TestWebChatAgentBinding(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		// No "default" agent: a clear 404, no session.
		expectError(t, send(t, w, "a/operator", map[string]any{"senderId": "u", "text": "hi"}), 404, "not_found")
		// A default agent that does not allow WebChat: 403 and an audit entry.
		w.env.Do("POST", "/api/agents/", w.keys["a/admin"], map[string]any{"agentId": "default", "name": "D", "allowedChannels": []string{"Slack"}})
		denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
		expectError(t, send(t, w, "a/operator", map[string]any{"senderId": "u", "text": "hi"}), 403, "forbidden")
		if got := auditCount(t, w, w.tenA, audit.PermissionDenied); got != denied+1 {
			t.Errorf("PermissionDenied entries: %d, want %d", got, denied+1)
		}
		r := w.env.Do("GET", "/api/sessions/", w.keys["a/viewer"], nil)
		if r.Meta == nil || r.Meta.Total != 0 {
			t.Errorf("sessions created: %s", r.Body)
		}
	})
}

func TestWebChatRateLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, func(c *config.Config) { c.RateLimits.ChatPermitLimit = 2 })
		for i := range 2 {
			if r := send(t, w, "a/operator", map[string]any{"senderId": "u", "text": fmt.Sprint("m", i)}); r.Status != 200 {
				t.Fatalf("message %d: %d %s", i, r.Status, r.Body)
			}
		}
		r := send(t, w, "a/operator", map[string]any{"senderId": "u", "text": "one too many"})
		expectError(t, r, 429, "rate_limited")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		// The limit is per sender.
		if r := send(t, w, "a/operator", map[string]any{"senderId": "other", "text": "hi"}); r.Status != 200 {
			t.Errorf("another sender: %d %s", r.Status, r.Body)
		}
	})
}

// TestWebChatOrdering sends many messages of one sender at once: the
// session handles them one at a time, so the history alternates user and
// assistant turns with nothing lost.
func TestWebChatOrdering(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		const n = 16
		var wg sync.WaitGroup
		sids := make([]string, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r := send(t, w, "a/operator", map[string]any{"senderId": "burst", "text": fmt.Sprintf("msg-%02d", i)})
				if r.Status != 200 {
					t.Errorf("message %d: %d %s", i, r.Status, r.Body)
					return
				}
				sids[i] = decodeData[chatReply](t, r).SessionID
			}()
		}
		wg.Wait()
		for _, s := range sids {
			if s != sids[0] {
				t.Fatalf("concurrent first messages opened several sessions: %v", sids)
			}
		}
		r := w.env.Do("GET", "/api/sessions/"+sids[0]+"/history?pageSize=100", w.keys["a/viewer"], nil)
		turns := decodeData[[]turnView](t, r)
		if len(turns) != 2*n {
			t.Fatalf("history has %d turns, want %d", len(turns), 2*n)
		}
		seen := map[string]bool{}
		for i := 0; i < len(turns); i += 2 {
			if turns[i].Role != "user" || turns[i+1].Role != "assistant" || turns[i].RequestID != turns[i+1].RequestID {
				t.Fatalf("turns %d and %d are not one message and its answer: %+v %+v", i, i+1, turns[i], turns[i+1])
			}
			seen[turns[i].Text] = true
		}
		if len(seen) != n {
			t.Errorf("%d distinct messages stored, want %d", len(seen), n)
		}
		if got := auditCount(t, w, w.tenA, audit.SessionCreated); got != 1 {
			t.Errorf("SessionCreated entries: %d, want 1", got)
		}
	})
}

func TestWebChatStream(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		req, _ := http.NewRequest("POST", w.env.Server.URL+"/api/webchat/message/stream",
			strings.NewReader(`{"senderId":"s1","text":"hello"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+w.keys["a/operator"])
		resp, err := w.env.Server.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
			t.Fatalf("stream: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		s := string(body)
		ti, mi := strings.Index(s, "event: typing\n"), strings.Index(s, "event: message\n")
		if ti < 0 || mi < ti || !strings.Contains(s, `"sessionId":"`) {
			t.Fatalf("events: %s", s)
		}
		// Errors before the stream starts are ordinary JSON errors.
		r := w.env.Do("POST", "/api/webchat/message/stream", w.keys["a/viewer"], map[string]any{"senderId": "s1", "text": "x"})
		expectError(t, r, 403, "forbidden")
	})
}

func TestMemoryAPI(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		base := "/api/agents/" + w.agent + "/memory/"
		r := w.env.Do("PUT", base+"customer%2Ftier", w.keys["a/admin"], map[string]any{"value": "gold"})
		if r.Status != 201 {
			t.Fatalf("create: %d %s", r.Status, r.Body)
		}
		r = w.env.Do("PUT", base+"customer%2Ftier", w.keys["a/admin"], map[string]any{"value": "platinum"})
		if r.Status != 200 || !strings.Contains(string(r.Data), `"value":"platinum"`) {
			t.Fatalf("replace: %d %s", r.Status, r.Body)
		}
		r = w.env.Do("GET", base, w.keys["a/operator"], nil)
		if r.Status != 200 || r.Meta == nil || r.Meta.Total != 1 || !strings.Contains(string(r.Data), `"key":"customer/tier"`) {
			t.Fatalf("list: %s", r.Body)
		}
		denied := auditCount(t, w, w.tenA, audit.PermissionDenied)
		expectError(t, w.env.Do("PUT", base+"k", w.keys["a/operator"], map[string]any{"value": "v"}), 403, "forbidden")
		expectError(t, w.env.Do("GET", base+"customer%2Ftier", w.keys["a/viewer"], nil), 403, "forbidden")
		expectError(t, w.env.Do("DELETE", base+"customer%2Ftier", w.keys["a/operator"], nil), 403, "forbidden")
		if got := auditCount(t, w, w.tenA, audit.PermissionDenied); got != denied+3 {
			t.Errorf("PermissionDenied entries: %d, want %d", got, denied+3)
		}
		expectError(t, w.env.Do("PUT", base+"big", w.keys["a/admin"], map[string]any{"value": strings.Repeat("x", 100*1024+1)}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", base+"k", w.keys["a/admin"], map[string]any{"value": nil}), 400, "validation_failed")
		expectError(t, w.env.Do("PUT", base+"k%0Ax", w.keys["a/admin"], map[string]any{"value": "v"}), 400, "validation_failed")
		// Provenance is the server's to set: a client naming it, or sending
		// a mistyped, malformed or oversized body, is refused and the entry
		// keeps its value and its provenance (an API write is trusted).
		written := auditCount(t, w, w.tenA, audit.MemoryWritten)
		for _, c := range []struct {
			body   any
			status int
			code   string
		}{
			{map[string]any{"value": "forged", "provenance": "trusted"}, 400, "validation_failed"},
			{map[string]any{"value": "forged", "provenance": "untrusted"}, 400, "validation_failed"},
			{map[string]any{"value": 42}, 400, "validation_failed"},
			{`{"value":"forged"`, 400, "validation_failed"},
			{`["forged"]`, 400, "validation_failed"},
			{`{"value":"` + strings.Repeat("x", 2<<20) + `"}`, 413, "payload_too_large"},
		} {
			expectError(t, w.env.Do("PUT", base+"customer%2Ftier", w.keys["a/admin"], c.body), c.status, c.code)
		}
		if got := auditCount(t, w, w.tenA, audit.MemoryWritten); got != written {
			t.Errorf("refused writes recorded %d MemoryWritten entries", got-written)
		}
		if r := w.env.Do("GET", base+"customer%2Ftier", w.keys["a/admin"], nil); r.Status != 200 ||
			!strings.Contains(string(r.Data), `"value":"platinum"`) || !strings.Contains(string(r.Data), `"provenance":"trusted"`) {
			t.Fatalf("after refused writes: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("GET", base+"missing", w.keys["a/admin"], nil), 404, "not_found")
		expectError(t, w.env.Do("GET", "/api/agents/nobody/memory/", w.keys["a/admin"], nil), 404, "not_found")
		// Tenant B's agent of the same name has its own, empty memory, and
		// B cannot read or delete A's keys.
		expectError(t, w.env.Do("GET", base+"customer%2Ftier", w.keys["b/owner"], nil), 404, "not_found")
		expectError(t, w.env.Do("DELETE", base+"customer%2Ftier", w.keys["b/owner"], nil), 404, "not_found")
		// An agent that exists only in tenant A is a 404 for B on every
		// memory route, and B's attempt stores and records nothing.
		if r := w.env.Do("POST", "/api/agents/", w.keys["a/admin"], map[string]any{"agentId": "a-only", "name": "A"}); r.Status != 201 {
			t.Fatalf("a-only agent: %d %s", r.Status, r.Body)
		}
		bWritten := auditCount(t, w, w.tenB, audit.MemoryWritten)
		for _, rq := range []struct{ method, path string }{
			{"GET", "/api/agents/a-only/memory/"}, {"GET", "/api/agents/a-only/memory/k"},
			{"PUT", "/api/agents/a-only/memory/k"}, {"DELETE", "/api/agents/a-only/memory/k"},
		} {
			var body any
			if rq.method == "PUT" {
				body = map[string]any{"value": "planted"}
			}
			expectError(t, w.env.Do(rq.method, rq.path, w.keys["b/owner"], body), 404, "not_found")
		}
		if got := auditCount(t, w, w.tenB, audit.MemoryWritten); got != bWritten {
			t.Errorf("B's refused write recorded %d MemoryWritten entries", got-bWritten)
		}
		if r := w.env.Do("GET", "/api/agents/a-only/memory/", w.keys["a/admin"], nil); r.Meta == nil || r.Meta.Total != 0 {
			t.Errorf("B planted memory in A's agent: %s", r.Body)
		}
		r = w.env.Do("DELETE", base+"customer%2Ftier", w.keys["a/admin"], nil)
		if r.Status != 200 {
			t.Fatalf("delete: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("DELETE", base+"customer%2Ftier", w.keys["a/admin"], nil), 404, "not_found")
		if got := auditCount(t, w, w.tenA, audit.MemoryWritten); got != 2 {
			t.Errorf("MemoryWritten entries: %d, want 2", got)
		}
		if got := auditCount(t, w, w.tenA, audit.MemoryDeleted); got != 1 {
			t.Errorf("MemoryDeleted entries: %d, want 1", got)
		}
		// The value never reaches the audit trail.
		r = w.env.Do("GET", "/api/audit/?action=MemoryWritten", w.keys["a/owner"], nil)
		if strings.Contains(string(r.Body), "platinum") || strings.Contains(string(r.Body), "gold") {
			t.Errorf("memory value in audit details: %s", r.Body)
		}
	})
}

// TestChatPage: the embeddable page and its assets are served with a policy
// that allows only Komand's own scripts and connections, no inline script,
// and framing by Komand and the configured origins only.
func TestChatPage(t *testing.T) {
	t.Parallel()
	env := apptest.New(t, "sqlite", func(c *config.Config) { c.Cors.AllowedOrigins = []string{"https://shop.example"} })
	for path, ct := range map[string]string{"/chat": "text/html", "/chat/chat.js": "text/javascript", "/chat/chat.css": "text/css"} {
		resp, err := env.Server.Client().Get(env.Server.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		csp := resp.Header.Get("Content-Security-Policy")
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), ct) || len(body) == 0 {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") ||
			!strings.Contains(csp, "frame-ancestors 'self' https://shop.example") || resp.Header.Get("X-Frame-Options") != "" {
			t.Errorf("%s: CSP %q, X-Frame-Options %q", path, csp, resp.Header.Get("X-Frame-Options"))
		}
		if path == "/chat" && (strings.Contains(string(body), "<script>") || !strings.Contains(string(body), `src="/chat/chat.js"`)) {
			t.Errorf("page has inline script or no script: %s", body)
		}
		if path == "/chat/chat.js" && strings.Contains(string(body), "innerHTML") {
			t.Errorf("chat.js writes HTML")
		}
	}
	// The API keeps its own strict policy.
	r := env.Do("GET", "/health", "", nil)
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("API CSP changed: %q", csp)
	}
	r = env.Do("GET", "/chat/../etc/passwd", "", nil)
	if r.Status != 404 {
		t.Errorf("traversal: %d", r.Status)
	}
}

// TestMemoryEntryLimit fills an agent's memory to product.md's 1,000
// entries; the next new key is a clear 409, a replace still works.
func TestMemoryEntryLimit(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := newWorld(t, kind)
		a := agent.Actor{TenantID: w.tenA, AgentID: w.agent, Via: "test"}
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := g; i < agent.MaxMemoryEntries; i += 8 {
					if _, _, err := w.env.App.Memory.PutAs(t.Context(), a, fmt.Sprintf("k%04d", i), "v"); err != nil {
						t.Errorf("put %d: %v", i, err)
						return
					}
				}
			}()
		}
		wg.Wait()
		base := "/api/agents/" + w.agent + "/memory/"
		expectError(t, w.env.Do("PUT", base+"one-more", w.keys["a/admin"], map[string]any{"value": "v"}), 409, "conflict")
		if r := w.env.Do("PUT", base+"k0007", w.keys["a/admin"], map[string]any{"value": "new"}); r.Status != 200 {
			t.Fatalf("replace at the limit: %d %s", r.Status, r.Body)
		}
		r := w.env.Do("GET", base+"?pageSize=1", w.keys["a/admin"], nil)
		if r.Meta == nil || r.Meta.Total != agent.MaxMemoryEntries {
			t.Fatalf("list: %s", r.Body)
		}
	})
}

// TestWebChatManySessionsAtOnce: more concurrent turns of different
// sessions than the database pool has connections. Each turn holds a
// session lock while its own queries need connections; the locks come from
// a separate pool, so this finishes (it deadlocked when they shared one).
func TestWebChatManySessionsAtOnce(t *testing.T) {
	t.Parallel()
	forEachStore(t, func(t *testing.T, kind string) {
		w := chatWorld(t, kind, nil)
		const n = 40
		done := make(chan int, n)
		for i := range n {
			go func() {
				r := send(t, w, "a/operator", map[string]any{"senderId": fmt.Sprintf("s-%d", i), "text": "hi"})
				done <- r.Status
			}()
		}
		guard := time.After(2 * time.Minute) // a hang guard, not a performance bound
		for range n {
			select {
			case st := <-done:
				if st != 200 {
					t.Errorf("status %d", st)
				}
			case <-guard:
				t.Fatal("concurrent turns of different sessions never finished (pool starvation)")
			}
		}
	})
}
