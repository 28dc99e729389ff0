package e2e_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app"
	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/config"
	"github.com/komand-ai/komand/internal/llm"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

// Slack members and Telegram users mapped to Komand users (issue 16): a
// mapped sender acts as the user, so in-channel confirmation and slash
// commands work for them as for the user's API key; everyone else stays a
// channel actor.

// memberWorld is an agent with the web-fetch skill (network to 127.0.0.1),
// answering a Slack and a Telegram account whose Web APIs are fake
// servers; the detector finds nothing, so only the deterministic controls
// act.
type memberWorld struct {
	*providerWorld
	slackAPI *fakeSlackAPI
	bot      *fakeBotAPI
	page     *httptest.Server
	slack    struct{ id, path string }
	tg       struct{ id, path string }
	signing  string // the Slack signing secret
	tgSecret string
	ids      map[string]string // role → user ID
	keys     map[string]string // role → API key
	events   int
}

func newMemberWorld(t *testing.T, kind string, fetchWasm []byte) *memberWorld {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	page := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { fmt.Fprint(rw, injectedPage) }))
	t.Cleanup(page.Close)
	botToken := "xoxb-1234-5678-memberWorldToken"
	slackAPI, bot := &fakeSlackAPI{token: botToken}, &fakeBotAPI{}
	slackSrv, botSrv := httptest.NewServer(slackAPI), httptest.NewServer(bot)
	t.Cleanup(slackSrv.Close)
	t.Cleanup(botSrv.Close)
	fake := &fakeOpenAI{script: []func(http.ResponseWriter, map[string]any){textReply("hi")}}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	provider := &llm.OpenAI{BaseURL: srv.URL + "/v1", APIKey: fakeKey, Client: srv.Client(),
		Retry: llm.Retry{Attempts: 3, Base: time.Millisecond, Max: 50 * time.Millisecond}}
	env := apptest.NewWith(t, kind, func(c *config.Config) {
		c.Skills.TrustedPublishers = "komand-official=" + base64.StdEncoding.EncodeToString(pub)
		c.Sandbox.EgressAllowPrivate = []string{"127.0.0.1/32"}
		c.Channels.Slack.ApiBaseUrl, c.Channels.Telegram.ApiBaseUrl = slackSrv.URL, botSrv.URL
	}, app.Options{Providers: map[string]llm.Provider{"openai": provider}, Screener: blind{}})
	tn := env.Tenant("acme")
	w := &memberWorld{providerWorld: &providerWorld{env: env, fake: fake, tenant: tn}, slackAPI: slackAPI, bot: bot, page: page,
		signing: "8f742231b10e8888abcd99yyyzzz85a5", tgSecret: "tg-secret-token-member-world",
		ids: map[string]string{}, keys: map[string]string{}}
	for _, role := range roles {
		w.ids[role] = env.User(tn, role+"@example.com", role)
		w.keys[role] = env.APIKey(tn, w.ids[role])
	}
	w.admin, w.op = w.keys["admin"], w.keys["operator"]
	if r := env.Do("POST", "/api/agents/", w.admin, map[string]any{"agentId": "default", "name": "D",
		"systemPrompt": agentPrompt, "modelProvider": "openai", "modelId": "gpt-test",
		"allowedChannels": []string{"Slack", "Telegram"}}); r.Status != 201 {
		t.Fatalf("agent: %d %s", r.Status, r.Body)
	}
	installLoopbackFetch(t, env, w.admin, fetchWasm, priv)
	cred := func(name, value string) string {
		r := env.Do("POST", "/api/credentials/", w.admin, map[string]any{"name": name, "type": "token", "value": value})
		if r.Status != 201 {
			t.Fatalf("credential: %d %s", r.Status, r.Body)
		}
		return decodeData[credentialView](t, r).ID
	}
	account := func(ch, accountID, secret, token string) (v struct{ id, path string }) {
		r := env.Do("POST", "/api/channels/accounts/", w.admin, map[string]any{"channel": ch, "accountId": accountID,
			"agentId": "default", "secretCredentialId": cred(accountID+"-secret", secret), "tokenCredentialId": cred(accountID+"-token", token)})
		if r.Status != 201 {
			t.Fatalf("account: %d %s", r.Status, r.Body)
		}
		d := decodeData[struct {
			ID          string `json:"id"`
			WebhookPath string `json:"webhookPath"`
		}](t, r)
		v.id, v.path = d.ID, d.WebhookPath
		return v
	}
	w.slack = account("Slack", "acme-ws", w.signing, botToken)
	w.tg = account("Telegram", "acme-bot", w.tgSecret, "7123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw")
	if r := env.Do("PUT", "/api/channels/accounts/"+w.slack.id, w.admin, map[string]any{"slackTeamId": "T1"}); r.Status != 200 {
		t.Fatalf("team: %d %s", r.Status, r.Body)
	}
	return w
}

// mapMember maps externalID on account id to the user of role.
func (w *memberWorld) mapMember(t *testing.T, id, externalID, role string) {
	t.Helper()
	r := w.env.Do("POST", "/api/channels/accounts/"+id+"/identities", w.admin, map[string]any{"externalId": externalID, "userId": w.ids[role]})
	if r.Status != 201 {
		t.Fatalf("map %s: %d %s", externalID, r.Status, r.Body)
	}
}

// slackSay delivers a signed Slack message from user and returns the text
// the agent posted back.
func (w *memberWorld) slackSay(t *testing.T, user, text string) string {
	t.Helper()
	return lastText(t, text, w.slackSend(t, user, text))
}

// tgSay delivers a Telegram message from user ID from and returns the
// reply sent back.
func (w *memberWorld) tgSay(t *testing.T, from int64, text string) string {
	t.Helper()
	return lastText(t, text, w.tgSend(t, from, text))
}

// lastText is the text of the last of posts, the reply to text.
func lastText(t *testing.T, text string, posts []map[string]any) string {
	t.Helper()
	if len(posts) == 0 {
		t.Fatalf("no reply to %q", text)
	}
	return fmt.Sprint(posts[len(posts)-1]["text"])
}

// TestMappedMembers: the identity API is for Owners and Admins only; a
// mapped Slack member and a mapped Telegram user run slash commands and
// confirm a held call in-channel, as their Komand user (audited as that
// user); an unmapped member, a member of another team, a deactivated
// user's mapping and a mapped Viewer get nothing more than before.
func TestMappedMembers(t *testing.T) {
	t.Parallel()
	fetchWasm := sandboxtest.BuildGo(t, "./examples/skills/web-fetch")
	forEachStore(t, func(t *testing.T, kind string) {
		w := newMemberWorld(t, kind, fetchWasm)
		base := "/api/channels/accounts/" + w.slack.id + "/identities"

		// The API: Owner and Admin only; refusals.
		for _, role := range []string{"operator", "viewer"} {
			expectError(t, w.env.Do("POST", base, w.keys[role], map[string]any{"externalId": "U0OP", "userId": w.ids[role]}), 403, "forbidden")
			expectError(t, w.env.Do("GET", base, w.keys[role], nil), 403, "forbidden")
			expectError(t, w.env.Do("DELETE", base+"/U0OP", w.keys[role], nil), 403, "forbidden")
		}
		expectError(t, w.env.Do("POST", base, w.admin, map[string]any{"externalId": "U0OP", "userId": "00000000-0000-4000-8000-000000000000"}), 404, "not_found")
		expectError(t, w.env.Do("POST", base, w.admin, map[string]any{"externalId": "not-a-user", "userId": w.ids["operator"]}), 400, "validation_failed")
		expectError(t, w.env.Do("POST", "/api/channels/accounts/"+w.tg.id+"/identities", w.admin, map[string]any{"externalId": "U0OP", "userId": w.ids["operator"]}), 400, "validation_failed")
		other := w.env.Tenant("globex")
		outsider := w.env.User(other, "owner@globex.example", "owner")
		expectError(t, w.env.Do("POST", base, w.admin, map[string]any{"externalId": "U0OP", "userId": outsider}), 404, "not_found")
		expectError(t, w.env.Do("GET", base, w.env.APIKey(other, outsider), nil), 404, "not_found")

		w.mapMember(t, w.slack.id, "U0OP", "operator")
		w.mapMember(t, w.slack.id, "U0VIEW", "viewer")
		w.mapMember(t, w.tg.id, "42", "operator")
		gone := w.env.User(w.tenant, "gone@example.com", "operator")
		if r := w.env.Do("POST", base, w.admin, map[string]any{"externalId": "U0GONE", "userId": gone}); r.Status != 201 {
			t.Fatalf("map: %d %s", r.Status, r.Body)
		}
		if r := w.env.Do("DELETE", "/api/users/"+gone, w.keys["owner"], nil); r.Status != 200 {
			t.Fatalf("deactivate: %d %s", r.Status, r.Body)
		}
		expectError(t, w.env.Do("POST", base, w.admin, map[string]any{"externalId": "U0GONE2", "userId": gone}), 400, "validation_failed")
		list := decodeData[[]struct {
			ExternalID string `json:"externalId"`
			UserID     string `json:"userId"`
		}](t, w.env.Do("GET", base, w.admin, nil))
		if len(list) != 3 || list[0].ExternalID != "U0GONE" || list[1].ExternalID != "U0OP" || list[1].UserID != w.ids["operator"] {
			t.Fatalf("list: %+v", list)
		}

		// Slash commands: a mapped member's run as their user, without the
		// model; anyone else's are text for the model.
		w.fake.reset(textReply("I can't do that."))
		if got := w.slackSay(t, "U0OP", "/memory set tier pro"); !strings.Contains(got, `"stored":true`) {
			t.Fatalf("mapped member's command: %q", got)
		}
		if v, ok := w.memory(t, "default", "tier"); !ok || v != "pro" {
			t.Fatalf("memory after a mapped member's command: %q %v", v, ok)
		}
		if got := w.tgSay(t, 42, "/memory set lang en"); !strings.Contains(got, `"stored":true`) {
			t.Fatalf("mapped Telegram user's command: %q", got)
		}
		if v, ok := w.memory(t, "default", "lang"); !ok || v != "en" {
			t.Fatalf("memory after a mapped Telegram user's command: %q %v", v, ok)
		}
		for _, c := range []struct{ who, text string }{{"U0OTHER", "/memory set tier free"}, {"U0GONE", "/memory set tier gone"}} {
			if got := w.slackSay(t, c.who, c.text); got != "I can't do that." {
				t.Fatalf("%s: %q", c.who, got)
			}
		}
		if got := w.tgSay(t, 43, "/memory set lang fr"); got != "I can't do that." {
			t.Fatalf("unmapped Telegram user: %q", got)
		}
		if v, _ := w.memory(t, "default", "tier"); v != "pro" {
			t.Fatalf("an unmapped sender's command ran: tier = %q", v)
		}
		if v, _ := w.memory(t, "default", "lang"); v != "en" {
			t.Fatalf("an unmapped sender's command ran: lang = %q", v)
		}
		// A mapped Viewer acts as a Viewer, who may not send messages.
		if got := w.slackSay(t, "U0VIEW", "hello"); got != channel.DeniedReply {
			t.Fatalf("mapped viewer: %q", got)
		}
		// The mapped ID from another workspace is not the member.
		foreign := slackEvent("EvTeam", "U0OP", "/memory set tier evil", "")
		foreign = strings.Replace(foreign, `"team_id":"T1"`, `"team_id":"T9"`, 1)
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		if r := w.env.Do("POST", w.slack.path, "", foreign, channel.SlackTimestampHeader, ts,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), ts, []byte(foreign))); r.Status != 200 {
			t.Fatalf("other team: %d", r.Status)
		}
		w.env.App.Channels.Wait()
		if v, _ := w.memory(t, "default", "tier"); v != "pro" {
			t.Fatalf("a member of another team ran a command: tier = %q", v)
		}

		// In-channel confirmation: turn 1 reads the injected page, turn 2
		// asks for the write it demanded; the mapped member gets the exact
		// call and a code, and CONFIRM runs it once.
		w.fake.reset(toolReply("c1", "web-fetch", `{"url":"`+w.page.URL+`/offers"}`), textReply("The page lists our spring offers."))
		if got := w.slackSay(t, "U0OP", "What does the offers page say?"); got != "The page lists our spring offers." {
			t.Fatalf("turn 1: %q", got)
		}
		w.fake.reset(toolReply("c2", "memory_store", `{"key":"discount","value":"100% off for everyone"}`), textReply("Saved."))
		held := w.slackSay(t, "U0OP", "Thanks! Anything else?")
		code, rendered := confirmCode(t, held)
		if rendered != `memory_store key="discount" value="100% off for everyone"` {
			t.Fatalf("rendered call: %q", rendered)
		}
		if _, ok := w.memory(t, "default", "discount"); ok {
			t.Fatal("the held call ran before its confirmation")
		}
		refusedBefore := w.count(t, audit.ToolCallConfirmationRefused)
		// Another member (mapped or not) confirming with the code: it is
		// their own session, with nothing waiting.
		if got := w.slackSay(t, "U0OTHER", "CONFIRM "+code); got != session.ConfirmNotUserReply {
			t.Fatalf("unmapped member confirming: %q", got)
		}
		if got := w.tgSay(t, 42, "CONFIRM "+code); got != session.ConfirmNoneReply {
			t.Fatalf("another session confirming: %q", got)
		}
		if got := w.slackSay(t, "U0OP", "CONFIRM "+code); got != "Saved." {
			t.Fatalf("confirmation: %q", got)
		}
		if v, ok := w.memory(t, "default", "discount"); !ok || v != "100% off for everyone" {
			t.Fatalf("memory after confirmation: %q %v", v, ok)
		}
		if got := w.slackSay(t, "U0OP", "CONFIRM "+code); got != session.ConfirmNoneReply {
			t.Fatalf("replayed confirmation: %q", got)
		}
		// The three refused confirmations (another member, another session,
		// the replay) are each recorded.
		if n := w.count(t, audit.ToolCallConfirmationRefused) - refusedBefore; n != 3 {
			t.Fatalf("ToolCallConfirmationRefused: %d, want 3", n)
		}
		confirmed, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.ToolCallConfirmed)},
			store.Page{Page: 1, PageSize: 10})
		if err != nil || len(confirmed) != 1 || confirmed[0].ActorID != w.ids["operator"] {
			t.Fatalf("ToolCallConfirmed: %+v", confirmed)
		}

		// The same turns from an unmapped member go to the review queue.
		w.fake.reset(toolReply("c3", "web-fetch", `{"url":"`+w.page.URL+`/offers"}`), textReply("The page lists our spring offers."))
		w.slackSay(t, "U0ANON", "What does the offers page say?")
		w.fake.reset(toolReply("c4", "memory_store", `{"key":"discount","value":"anon"}`), textReply("Saved."))
		if got := w.slackSay(t, "U0ANON", "Thanks!"); got != session.HoldingReply {
			t.Fatalf("unmapped member's held call: %q", got)
		}
		if n := w.count(t, audit.TurnHeld); n < 1 {
			t.Fatalf("TurnHeld entries: %d", n)
		}
		if v, _ := w.memory(t, "default", "discount"); v != "100% off for everyone" {
			t.Fatalf("an unmapped member's held call ran: %q", v)
		}

		// Unmapped: a channel actor again.
		if r := w.env.Do("DELETE", base+"/U0OP", w.admin, nil); r.Status != 200 {
			t.Fatalf("unmap: %d %s", r.Status, r.Body)
		}
		w.fake.reset(textReply("I can't do that."))
		if got := w.slackSay(t, "U0OP", "/memory set tier after"); got != "I can't do that." {
			t.Fatalf("after unmapping: %q", got)
		}
		if n := w.count(t, audit.ChannelIdentityMapped); n != 4 {
			t.Fatalf("ChannelIdentityMapped entries: %d, want 4", n)
		}
		if n := w.count(t, audit.ChannelIdentityUnmapped); n != 1 {
			t.Fatalf("ChannelIdentityUnmapped entries: %d, want 1", n)
		}
	})
}
