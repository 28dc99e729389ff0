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

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/session"
)

// fakeBotAPI speaks the Telegram Bot API's sendMessage (sent), and
// answerCallbackQuery and editMessageText (others, with their "method").
type fakeBotAPI struct {
	mu     sync.Mutex
	paths  []string
	sent   []map[string]any
	others []map[string]any
}

func (f *fakeBotAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var m map[string]any
	if method := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]; r.Method == http.MethodPost &&
		(method == "answerCallbackQuery" || method == "editMessageText") && json.Unmarshal(body, &m) == nil {
		m["method"] = method
		f.mu.Lock()
		f.others = append(f.others, m)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"result":true}`)
		return
	}
	if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/sendMessage") || json.Unmarshal(body, &m) != nil {
		w.WriteHeader(400)
		io.WriteString(w, `{"ok":false,"error_code":400,"description":"Bad Request"}`)
		return
	}
	f.mu.Lock()
	f.paths = append(f.paths, r.URL.Path)
	f.sent = append(f.sent, m)
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"ok":true,"result":{"message_id":1,"chat":{"id":42},"text":"x"}}`)
}

func tgUpdate(id int64, date time.Time, text string) string {
	return fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"text":%q,
		"from":{"id":42,"is_bot":false,"first_name":"Ada","language_code":"en"},"chat":{"id":42,"type":"private"}}}`,
		id, id, date.Unix(), text)
}

func TestTelegramAdapter(t *testing.T) {
	t.Parallel()
	for _, kind := range apptest.Kinds() {
		t.Run(kind, func(t *testing.T) {
			bot := &fakeBotAPI{}
			api := httptest.NewServer(bot)
			t.Cleanup(api.Close)
			w := newWorldWith(t, kind, func(c *config.Config) { c.Channels.Telegram.ApiBaseUrl = api.URL })
			admin := w.keys["a/admin"]
			secretToken, botToken := "tg-secret-token-7f3e91a2", "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
			cred := func(name, value string) string {
				r := w.env.Do("POST", "/api/credentials/", admin, map[string]any{"name": name, "type": "token", "value": value})
				if r.Status != 201 {
					t.Fatalf("credential: %d %s", r.Status, r.Body)
				}
				return decodeData[credentialView](t, r).ID
			}
			secretID, tokenID := cred("tg-secret", secretToken), cred("tg-bot", botToken)
			if r := w.env.Do("POST", "/api/agents/", admin, map[string]any{"agentId": "tg-bot", "name": "Bot",
				"allowedChannels": []string{"Telegram"}}); r.Status != 201 {
				t.Fatalf("agent: %d", r.Status)
			}
			expectError(t, w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Telegram",
				"accountId": "support-bot", "agentId": "tg-bot", "secretCredentialId": secretID}), 400, "validation_failed") // no bot token
			r := w.env.Do("POST", "/api/channels/accounts/", admin, map[string]any{"channel": "Telegram", "accountId": "support-bot",
				"agentId": "tg-bot", "secretCredentialId": secretID, "tokenCredentialId": tokenID})
			if r.Status != 201 {
				t.Fatalf("account: %d %s", r.Status, r.Body)
			}
			view := decodeData[struct {
				ID          string `json:"id"`
				WebhookPath string `json:"webhookPath"`
			}](t, r)
			post := func(path, secret, body string) *apptest.Response {
				h := []string{}
				if secret != "" {
					h = append(h, channel.TelegramSecretHeader, secret)
				}
				return w.env.Do("POST", path, "", body, h...)
			}

			now := time.Now()
			if r := post(view.WebhookPath, secretToken, tgUpdate(1001, now, "/memory set lang en")); r.Status != 200 {
				t.Fatalf("delivery: %d %s", r.Status, r.Body)
			}
			w.env.App.Channels.Wait()
			// A Telegram user is a public sender: "/memory set" is text for the
			// model (here: no provider), never a command run on the agent.
			bot.mu.Lock()
			// Link previews are off in every message.
			if len(bot.sent) != 1 || bot.sent[0]["chat_id"] != float64(42) ||
				fmt.Sprint(bot.sent[0]["text"]) != session.NoProviderPublicReply || bot.paths[0] != "/bot"+botToken+"/sendMessage" ||
				fmt.Sprint(bot.sent[0]["link_preview_options"]) != "map[is_disabled:true]" {
				t.Fatalf("sendMessage calls: %v %v", bot.paths, bot.sent)
			}
			bot.mu.Unlock()
			if m, err := w.env.App.Store.GetMemory(t.Context(), w.tenA, "tg-bot", "lang"); err == nil {
				t.Fatalf("a public sender ran a slash command: memory %+v", m)
			}
			if n := auditCount(t, w, w.tenA, audit.ToolExecutionStarted); n != 0 {
				t.Fatalf("a public sender started %d tool executions", n)
			}

			// Telegram's retry of the same update is acknowledged, not answered twice.
			if r := post(view.WebhookPath, secretToken, tgUpdate(1001, now, "/memory set lang en")); r.Status != 200 {
				t.Fatalf("retry: %d", r.Status)
			}
			// Refused: wrong or missing secret, a message older than a day, the
			// wrong adapter's URL.
			for name, c := range map[string][2]string{
				"wrong secret":   {"guess", tgUpdate(1002, now, "/memory set lang fr")},
				"no secret":      {"", tgUpdate(1002, now, "/memory set lang fr")},
				"old message":    {secretToken, tgUpdate(1003, now.Add(-25*time.Hour), "/memory set lang fr")},
				"future message": {secretToken, tgUpdate(1004, now.Add(time.Hour), "/memory set lang fr")},
			} {
				t.Log(name)
				expectError(t, post(view.WebhookPath, c[0], c[1]), 401, "unauthorized")
			}
			expectError(t, post("/hooks/webhook/"+view.ID, secretToken, tgUpdate(1005, now, "x")), 401, "unauthorized")
			// Not a text message: acknowledged, nothing sent.
			if r := post(view.WebhookPath, secretToken, `{"update_id":1006,"edited_message":{"message_id":9}}`); r.Status != 200 {
				t.Fatalf("non-text update: %d", r.Status)
			}
			expectError(t, post(view.WebhookPath, secretToken, `{"update_id":"x"`), 400, "validation_failed")
			w.env.App.Channels.Wait()
			bot.mu.Lock()
			if len(bot.sent) != 1 {
				t.Fatalf("%d sendMessage calls, want 1", len(bot.sent))
			}
			bot.mu.Unlock()
			if n := auditCount(t, w, w.tenA, audit.MessageReceived); n != 1 {
				t.Fatalf("MessageReceived entries: %d, want 1 (a refused delivery reached the agent)", n)
			}
			if n := auditCount(t, w, w.tenA, audit.WebhookRejected); n != 5 {
				t.Fatalf("WebhookRejected entries: %d, want 5", n)
			}
			noSecret(t, "the logs", []byte(w.env.Logs()), secretToken, botToken)
		})
	}
}
