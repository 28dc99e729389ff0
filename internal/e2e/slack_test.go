package e2e_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

// fakeSlackAPI speaks the Slack Web API's chat.postMessage (posts), and
// chat.update and chat.postEphemeral (others, with their "method").
type fakeSlackAPI struct {
	token  string
	mu     sync.Mutex
	posts  []map[string]any
	others []map[string]any
}

func (f *fakeSlackAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch r.URL.Path {
	case "/api/chat.postMessage":
	case "/api/chat.update", "/api/chat.postEphemeral":
		if r.Header.Get("Authorization") != "Bearer "+f.token {
			io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		m["method"] = strings.TrimPrefix(r.URL.Path, "/api/")
		f.mu.Lock()
		f.others = append(f.others, m)
		f.mu.Unlock()
		io.WriteString(w, `{"ok":true}`)
		return
	default:
		io.WriteString(w, `{"ok":false,"error":"unknown_method"}`)
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.token {
		io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	var m map[string]any
	_ = json.NewDecoder(r.Body).Decode(&m)
	f.mu.Lock()
	f.posts = append(f.posts, m)
	f.mu.Unlock()
	io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1700000000.000200"}`)
}

func slackEvent(eventID, user, text, extra string) string {
	return fmt.Sprintf(`{"token":"legacy","team_id":"T1","api_app_id":"A1","type":"event_callback","event_id":%q,"event_time":%d,
		"event":{"type":"message","channel":"C1","user":%q,"text":%q,"ts":"1700000000.000100"%s}}`, eventID, time.Now().Unix(), user, text, extra)
}

func TestSlackAdapter(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			botToken := "xoxb-1234-5678-PLANTEDtokenValue"
			signing := "8f742231b10e8888abcd99yyyzzz85a5"
			api := &fakeSlackAPI{token: botToken}
			srv := httptest.NewServer(api)
			t.Cleanup(srv.Close)
			w := newWorldWith(t, kind, func(c *config.Config) { c.Channels.Slack.ApiBaseUrl = srv.URL })
			admin := w.keys["a/admin"]
			cred := func(name, value string) string {
				r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": name, "type": "token", "value": value})
				if r.Status != 201 {
					t.Fatalf("credential: %d %s", r.Status, r.Body)
				}
				return decodeData[credentialView](t, r).ID
			}
			if r := w.env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "slackbot", "name": "S",
				"allowedChannels": []string{"Slack"}}); r.Status != 201 {
				t.Fatalf("agent: %d", r.Status)
			}
			r := w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Slack", "accountId": "acme-workspace",
				"agentId": "slackbot", "secretCredentialId": cred("slack-signing", signing), "tokenCredentialId": cred("slack-bot", botToken)})
			if r.Status != 201 {
				t.Fatalf("account: %d %s", r.Status, r.Body)
			}
			path := decodeData[struct {
				WebhookPath string `json:"webhookPath"`
			}](t, r).WebhookPath
			send := func(ts, sig, body string) *apptest.Response {
				return w.env.Do("POST", path, "", body, channel.SlackTimestampHeader, ts, channel.SlackSignatureHeader, sig)
			}
			now := strconv.FormatInt(time.Now().Unix(), 10)
			signed := func(body string) *apptest.Response {
				return send(now, channel.SlackSign([]byte(signing), now, []byte(body)), body)
			}

			// URL verification answers the bare challenge.
			r = signed(`{"token":"legacy","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}`)
			if r.Status != 200 || string(r.Body) != "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" {
				t.Fatalf("url_verification: %d %q", r.Status, r.Body)
			}
			// A user's message: answered in its thread. A Slack member is
			// not a Komand user, and the account does not allow commands:
			// "/memory set" is a message for the agent (which has no
			// provider here), not a command.
			if r := signed(slackEvent("Ev1", "U42", "/memory set tier pro", "")); r.Status != 200 {
				t.Fatalf("event: %d %s", r.Status, r.Body)
			}
			w.env.App.Channels.Wait()
			api.mu.Lock()
			// Link and media previews are off in every post.
			if len(api.posts) != 1 || api.posts[0]["channel"] != "C1" || api.posts[0]["thread_ts"] != "1700000000.000100" ||
				api.posts[0]["text"] != session.NoProviderPublicReply ||
				api.posts[0]["unfurl_links"] != false || api.posts[0]["unfurl_media"] != false {
				t.Fatalf("posts: %v", api.posts)
			}
			api.mu.Unlock()
			if m, err := w.env.App.Store.GetMemory(t.Context(), w.tenA, "slackbot", "tier"); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("a Slack member's text ran as a command: %+v %v", m, err)
			}
			// Slack's retry (same event, new signature) and bot messages are
			// acknowledged without an answer.
			later := strconv.FormatInt(time.Now().Unix()+1, 10)
			retry := slackEvent("Ev1", "U42", "/memory set tier pro", "")
			if r := send(later, channel.SlackSign([]byte(signing), later, []byte(retry)), retry); r.Status != 200 {
				t.Fatalf("retry: %d", r.Status)
			}
			if r := signed(slackEvent("Ev2", "U42", "echo", `,"bot_id":"B1"`)); r.Status != 200 {
				t.Fatalf("bot message: %d", r.Status)
			}
			// Refused: replayed, forged, stale, tampered.
			ev3 := slackEvent("Ev3", "U42", "/memory set tier free", "")
			sig3 := channel.SlackSign([]byte(signing), now, []byte(ev3))
			if r := send(now, sig3, ev3); r.Status != 200 {
				t.Fatalf("ev3: %d", r.Status)
			}
			stale := strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)
			ev4 := slackEvent("Ev4", "U42", "/memory set tier free", "")
			for name, d := range map[string][3]string{
				"replay":    {now, sig3, ev3},
				"forged":    {now, channel.SlackSign([]byte("not-the-secret"), now, []byte(ev4)), ev4},
				"stale":     {stale, channel.SlackSign([]byte(signing), stale, []byte(ev4)), ev4},
				"tampered":  {now, sig3, strings.Replace(ev3, "free", "gold", 1)},
				"v1 scheme": {now, channel.Sign([]byte(signing), now, []byte(ev4)), ev4},
			} {
				t.Log(name)
				expectError(t, send(d[0], d[1], d[2]), 401, "unauthorized")
			}
			w.env.App.Channels.Wait()
			api.mu.Lock()
			if len(api.posts) != 2 { // Ev1 and Ev3
				t.Fatalf("%d posts, want 2: %v", len(api.posts), api.posts)
			}
			api.mu.Unlock()
			if n := auditCount(t, w, w.tenA, audit.WebhookRejected); n != 5 {
				t.Fatalf("WebhookRejected entries: %d, want 5", n)
			}
			noSecret(t, "the logs", []byte(w.env.Logs()), botToken, signing)
		})
	}
}
