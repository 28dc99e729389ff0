package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/komand-ai/komand/internal/app/apptest"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/sandbox/sandboxtest"
	"github.com/komand-ai/komand/internal/session"
	"github.com/komand-ai/komand/internal/store"
)

// Admin approvals from Slack and Telegram (issue 16): a held review of a
// session on an account with a review destination is posted there with
// Approve / Reject buttons; a signed click by a member mapped to an Owner
// or Admin decides it as the API does; everything else is refused.

const (
	slackDest = "C0ADMINS"
	tgDest    = "-1001234567"
	tgDestN   = -1001234567
)

// slackSend delivers a signed Slack message from user and returns every
// post made since (replies and reviews), waiting for the background work.
func (w *memberWorld) slackSend(t *testing.T, user, text string) []map[string]any {
	t.Helper()
	w.events++
	body := slackEvent("EvR"+strconv.Itoa(w.events), user, text, "")
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	if r := w.env.Do("POST", w.slack.path, "", body, channel.SlackTimestampHeader, ts,
		channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), ts, []byte(body))); r.Status != 200 {
		t.Fatalf("slack %q: %d %s", text, r.Status, r.Body)
	}
	w.env.App.Channels.Wait()
	w.slackAPI.mu.Lock()
	defer w.slackAPI.mu.Unlock()
	out := w.slackAPI.posts
	w.slackAPI.posts = nil
	return out
}

// tgSend delivers a Telegram message and returns every sendMessage since.
func (w *memberWorld) tgSend(t *testing.T, from int64, text string) []map[string]any {
	t.Helper()
	w.events++
	body := fmt.Sprintf(`{"update_id":%d,"message":{"message_id":%d,"date":%d,"text":%q,"from":{"id":%d,"is_bot":false,"first_name":"Ada"},"chat":{"id":%d,"type":"private"}}}`,
		w.events, w.events, time.Now().Unix(), text, from, from)
	if r := w.env.Do("POST", w.tg.path, "", body, channel.TelegramSecretHeader, w.tgSecret); r.Status != 200 {
		t.Fatalf("telegram %q: %d %s", text, r.Status, r.Body)
	}
	w.env.App.Channels.Wait()
	w.bot.mu.Lock()
	defer w.bot.mu.Unlock()
	out := w.bot.sent
	w.bot.sent = nil
	return out
}

// byKey splits posts into the one whose key is want and the others.
func byKey(t *testing.T, posts []map[string]any, key string, want any) (map[string]any, []map[string]any) {
	t.Helper()
	var hit map[string]any
	var rest []map[string]any
	for _, p := range posts {
		if fmt.Sprint(p[key]) == fmt.Sprint(want) && hit == nil {
			hit = p
		} else {
			rest = append(rest, p)
		}
	}
	return hit, rest
}

// slackButtons reads a posted review's text and its two button values.
func slackButtons(t *testing.T, post map[string]any) (text, approve, reject string) {
	t.Helper()
	raw, _ := json.Marshal(post["blocks"])
	var blocks []struct {
		Type string `json:"type"`
		Text struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"text"`
		Elements []struct {
			ActionID string `json:"action_id"`
			Value    string `json:"value"`
		} `json:"elements"`
	}
	if err := json.Unmarshal(raw, &blocks); err != nil || len(blocks) != 2 || blocks[0].Text.Type != "plain_text" ||
		blocks[1].Type != "actions" || len(blocks[1].Elements) != 2 ||
		blocks[1].Elements[0].ActionID != "komand_approve" || blocks[1].Elements[1].ActionID != "komand_reject" {
		t.Fatalf("review blocks: %s", raw)
	}
	if post["unfurl_links"] != false || post["unfurl_media"] != false || post["link_names"] != false || post["parse"] != "none" {
		t.Fatalf("review post options: %v", post)
	}
	return blocks[0].Text.Text, blocks[1].Elements[0].Value, blocks[1].Elements[1].Value
}

// slackClick sends a signed interactivity request: member of team clicks
// the button with value in channel where. It returns the response and
// the Web API calls made since (chat.update, chat.postEphemeral).
func (w *memberWorld) slackClick(t *testing.T, signing, path, member, team, where, value string) (*apptest.Response, []map[string]any) {
	t.Helper()
	w.events++
	action := "komand_reject"
	if strings.HasPrefix(value, "ka.") {
		action = "komand_approve"
	}
	payload := fmt.Sprintf(`{"type":"block_actions","team":{"id":%q},"user":{"id":%q,"team_id":%q},"api_app_id":"A1",
		"container":{"type":"message","message_ts":"1700000000.000900","channel_id":%q},"channel":{"id":%q},
		"response_url":"https://hooks.slack.invalid/x","actions":[{"action_id":%q,"block_id":"komand_review","value":%q,"type":"button","action_ts":"%d"}]}`,
		team, member, team, where, where, action, value, w.events)
	body := "payload=" + url.QueryEscape(payload)
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	r := w.env.Do("POST", path, "", body, "Content-Type", "application/x-www-form-urlencoded",
		channel.SlackTimestampHeader, ts, channel.SlackSignatureHeader, channel.SlackSign([]byte(signing), ts, []byte(body)))
	w.env.App.Channels.Wait()
	w.slackAPI.mu.Lock()
	defer w.slackAPI.mu.Unlock()
	out := w.slackAPI.others
	w.slackAPI.others = nil
	return r, out
}

// tgClick sends a callback_query of user from in chat with data; it
// returns the Bot API calls made since (answerCallbackQuery,
// editMessageText).
func (w *memberWorld) tgClick(t *testing.T, from, chat int64, data string) []map[string]any {
	t.Helper()
	w.events++
	body := fmt.Sprintf(`{"update_id":%d,"callback_query":{"id":"cq%d","from":{"id":%d,"is_bot":false,"first_name":"Ada"},
		"message":{"message_id":77,"date":%d,"chat":{"id":%d,"type":"supergroup"},"text":"x"},"chat_instance":"1","data":%q}}`,
		w.events, w.events, from, time.Now().Unix(), chat, data)
	if r := w.env.Do("POST", w.tg.path, "", body, channel.TelegramSecretHeader, w.tgSecret); r.Status != 200 {
		t.Fatalf("callback: %d %s", r.Status, r.Body)
	}
	w.env.App.Channels.Wait()
	w.bot.mu.Lock()
	defer w.bot.mu.Unlock()
	out := w.bot.others
	w.bot.others = nil
	return out
}

// answered checks that the only call is method with text.
func answered(t *testing.T, what string, calls []map[string]any, method, text string) {
	t.Helper()
	if len(calls) != 1 || calls[0]["method"] != method || calls[0]["text"] != text {
		t.Fatalf("%s: answered with %v, want %s %q", what, calls, method, text)
	}
}

func (w *memberWorld) review(t *testing.T, id string) reviewJSON {
	t.Helper()
	r := w.env.Do("GET", "/api/injection/reviews/"+id, w.admin, nil)
	if r.Status != 200 {
		t.Fatalf("review: %d %s", r.Status, r.Body)
	}
	return decodeData[reviewJSON](t, r)
}

// reviewIDIn reads the review ID a posted review names.
func reviewIDIn(t *testing.T, text string) string {
	t.Helper()
	i := strings.Index(text, "\nReview ")
	if i < 0 || len(text) < i+8+36 {
		t.Fatalf("no review ID in %q", text)
	}
	return text[i+8 : i+8+36]
}

// TestReviewsFromSlackAndTelegram: the review destination setting; a held
// call posted with the exact rendered call, escaped, and its buttons;
// hostile clicks refused (forged, stale, replayed, tampered, unknown, of
// another account or tenant, unmapped, Operator, Viewer, other team, other
// channel, decided already, decided through the API first); an Admin's
// approval from Slack and rejection from Telegram decide and resume the
// turn as the API's do.
func TestReviewsFromSlackAndTelegram(t *testing.T) {
	t.Parallel()
	fetchWasm := sandboxtest.BuildGo(t, "./examples/skills/web-fetch")
	forEachStore(t, func(t *testing.T, kind string) {
		w := newMemberWorld(t, kind, fetchWasm)
		sl, tg := "/api/channels/accounts/"+w.slack.id, "/api/channels/accounts/"+w.tg.id
		interactivity := w.slack.path + "/interactivity"

		// The setting: Owner and Admin only, validated per channel, off by
		// default, audited.
		if got := decodeData[map[string]any](t, w.env.Do("GET", sl, w.admin, nil)); got["reviewDestination"] != nil ||
			got["interactivityPath"] != interactivity {
			t.Fatalf("account: %v", got)
		}
		expectError(t, w.env.Do("PUT", sl, w.keys["operator"], map[string]any{"reviewDestination": slackDest}), 403, "forbidden")
		for _, c := range []struct{ path, dest string }{{sl, "12345"}, {sl, "U0ADMIN"}, {sl, "c0admins"}, {tg, slackDest}, {tg, "0"}, {tg, "+5"}} {
			expectError(t, w.env.Do("PUT", c.path, w.admin, map[string]any{"reviewDestination": c.dest}), 400, "validation_failed")
		}
		expectError(t, w.env.Do("PUT", sl, w.admin, map[string]any{"reviewDestination": nil}), 400, "validation_failed")
		updatedBefore := w.count(t, audit.ChannelAccountUpdated)

		w.mapMember(t, w.slack.id, "U0ADMIN", "admin")
		w.mapMember(t, w.slack.id, "U0OWNER", "owner")
		w.mapMember(t, w.slack.id, "U0OP", "operator")
		w.mapMember(t, w.slack.id, "U0VIEW", "viewer")
		w.mapMember(t, w.tg.id, "7001", "admin")
		w.mapMember(t, w.tg.id, "7002", "operator")

		// Off by default: an unmapped member's held call (their text is
		// untrusted, so a consequential call waits for review) is not
		// posted.
		w.fake.reset(toolReply("c2", "memory_store", `{"key":"first","value":"x"}`), textReply("Saved."))
		posts := w.slackSend(t, "U0ANON", "Thanks!")
		if len(posts) != 1 || posts[0]["channel"] != "C1" || posts[0]["text"] != session.HoldingReply {
			t.Fatalf("held without a destination: %v", posts)
		}
		if p := w.pending(t); len(p) != 1 {
			t.Fatalf("pending: %+v", p)
		}
		first := w.pending(t)[0].ReviewID

		for _, c := range []struct{ path, dest string }{{sl, slackDest}, {tg, tgDest}} {
			r := w.env.Do("PUT", c.path, w.admin, map[string]any{"reviewDestination": c.dest})
			if r.Status != 200 || decodeData[map[string]any](t, r)["reviewDestination"] != c.dest {
				t.Fatalf("set destination: %d %s", r.Status, r.Body)
			}
		}
		if n := w.count(t, audit.ChannelAccountUpdated); n != updatedBefore+2 {
			t.Fatalf("ChannelAccountUpdated: %d, want %d", n, updatedBefore+2)
		}
		ups, _, _ := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.ChannelAccountUpdated)}, store.Page{Page: 1, PageSize: 1})
		var upd map[string]any
		if len(ups) != 1 || json.Unmarshal(ups[0].Details, &upd) != nil || upd["reviewDestination"] != tgDest ||
			fmt.Sprint(upd["previous"]) != "map[reviewDestination:]" || ups[0].ActorID != w.ids["admin"] {
			t.Fatalf("ChannelAccountUpdated entry: %+v", ups)
		}

		// A held call of the same member is posted to the
		// destination: the exact rendered call, escaped, no mention.
		evil := "<!channel> @here <https://evil.example|Approve> 50% off"
		w.fake.reset(toolReply("c3", "memory_store", `{"key":"discount","value":"`+evil+`"}`), textReply("Saved."))
		posts = w.slackSend(t, "U0ANON", "Great, thanks!")
		post, rest := byKey(t, posts, "channel", slackDest)
		if post == nil || len(rest) != 1 || rest[0]["text"] != session.HoldingReply {
			t.Fatalf("posts: %v", posts)
		}
		text, approve, reject := slackButtons(t, post)
		rendered := `memory_store key="discount" value="\u003c!channel\u003e @` + "\u2060" + `here \u003chttps://evil.example|Approve\u003e 50% off"`
		if !strings.Contains(text, "Held call: "+rendered+"\n") || strings.Contains(text, "<") || strings.Contains(text, "@here") ||
			strings.Contains(fmt.Sprint(post["text"]), "discount") {
			t.Fatalf("review text: %q (fallback %q)", text, post["text"])
		}
		rid := reviewIDIn(t, text)
		if v := w.review(t, rid); v.Status != store.ReviewPending || v.Kind != store.ReviewToolCall || rid == first {
			t.Fatalf("posted review: %+v", v)
		}
		if len(approve) != 46 || len(reject) != 46 || !strings.HasPrefix(approve, "ka.") || !strings.HasPrefix(reject, "kr.") {
			t.Fatalf("button values: %q %q", approve, reject)
		}
		if _, ok := w.memory(t, "default", "discount"); ok {
			t.Fatal("the held call ran before a decision")
		}

		// Refused at the signature: forged, stale, replayed, wrong type.
		rejectedBefore := w.count(t, audit.WebhookRejected)
		body := "payload=" + url.QueryEscape(`{"type":"block_actions","team":{"id":"T1"},"user":{"id":"U0ADMIN","team_id":"T1"},"container":{"message_ts":"1","channel_id":"`+slackDest+`"},"actions":[{"action_id":"komand_approve","value":"`+approve+`"}]}`)
		now := strconv.FormatInt(time.Now().Unix(), 10)
		stale := strconv.FormatInt(time.Now().Add(-6*time.Minute).Unix(), 10)
		form := "application/x-www-form-urlencoded"
		expectError(t, w.env.Do("POST", interactivity, "", body, "Content-Type", form, channel.SlackTimestampHeader, now,
			channel.SlackSignatureHeader, channel.SlackSign([]byte("not-the-secret"), now, []byte(body))), 401, "unauthorized")
		expectError(t, w.env.Do("POST", interactivity, "", body, "Content-Type", form, channel.SlackTimestampHeader, stale,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), stale, []byte(body))), 401, "unauthorized")
		expectError(t, w.env.Do("POST", interactivity, "", body, "Content-Type", form, channel.SlackTimestampHeader, now), 401, "unauthorized")
		tampered := strings.Replace(body, "U0ADMIN", "U0ADMIM", 1)
		expectError(t, w.env.Do("POST", interactivity, "", tampered, "Content-Type", form, channel.SlackTimestampHeader, now,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), now, []byte(body))), 401, "unauthorized")
		expectError(t, w.env.Do("POST", interactivity, "", body, channel.SlackTimestampHeader, now,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), now, []byte(body))), 415, "unsupported_media_type")
		// A well-signed click sent to the Telegram account's interactivity
		// path is refused as a delivery for the wrong channel (recorded);
		// an unknown account's is refused without an entry (no tenant); an
		// oversized body is refused before its signature is checked.
		expectError(t, w.env.Do("POST", "/hooks/slack/"+w.tg.id+"/interactivity", "", body, "Content-Type", form, channel.SlackTimestampHeader, now,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), now, []byte(body))), 401, "unauthorized")
		expectError(t, w.env.Do("POST", "/hooks/slack/00000000-0000-4000-8000-000000000000/interactivity", "", body, "Content-Type", form,
			channel.SlackTimestampHeader, now, channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), now, []byte(body))), 401, "unauthorized")
		huge := body + "&pad=" + strings.Repeat("x", 2<<20)
		expectError(t, w.env.Do("POST", interactivity, "", huge, "Content-Type", form, channel.SlackTimestampHeader, now,
			channel.SlackSignatureHeader, channel.SlackSign([]byte(w.signing), now, []byte(huge))), 413, "payload_too_large")
		w.env.App.Channels.Wait()
		if n := w.count(t, audit.WebhookRejected); n != rejectedBefore+5 {
			t.Fatalf("WebhookRejected: %d, want %d", n, rejectedBefore+5)
		}
		if v := w.review(t, rid); v.Status != store.ReviewPending {
			t.Fatalf("a refused delivery decided the review: %+v", v)
		}

		// Refused clicks, signed: nothing is decided or spent.
		refusedBefore, deniedBefore := w.count(t, audit.ReviewCallbackRefused), w.count(t, audit.PermissionDenied)
		tamperedToken := approve[:45] + map[bool]string{true: "B", false: "A"}[approve[45] == 'A']
		for _, c := range []struct {
			name, member, team, where, value, answer string
			refused, denied                          int
		}{
			{"unmapped member", "U0ANON", "T1", slackDest, approve, channel.ClickNotMapped, 1, 0},
			{"operator", "U0OP", "T1", slackDest, approve, channel.ClickNotAllowed, 0, 1},
			{"viewer", "U0VIEW", "T1", slackDest, reject, channel.ClickNotAllowed, 0, 1},
			{"admin of another team", "U0ADMIN", "T9", slackDest, approve, channel.ClickNotMapped, 1, 0},
			{"another channel", "U0ADMIN", "T1", "C0ELSEWHERE", approve, channel.ClickWrongPlace, 1, 0},
			{"tampered token", "U0ADMIN", "T1", slackDest, tamperedToken, channel.ClickInvalid, 1, 0},
			{"approve token as reject", "U0ADMIN", "T1", slackDest, "kr." + approve[3:], channel.ClickInvalid, 1, 0},
			{"malformed", "U0ADMIN", "T1", slackDest, "ka.short", channel.ClickInvalid, 1, 0},
		} {
			r, calls := w.slackClick(t, w.signing, interactivity, c.member, c.team, c.where, c.value)
			if r.Status != 200 {
				t.Fatalf("%s: %d %s", c.name, r.Status, r.Body)
			}
			answered(t, c.name, calls, "chat.postEphemeral", c.answer)
			if calls[0]["user"] != c.member || calls[0]["channel"] != c.where {
				t.Fatalf("%s: ephemeral to %v in %v", c.name, calls[0]["user"], calls[0]["channel"])
			}
			refusedBefore += c.refused
			deniedBefore += c.denied
			if n := w.count(t, audit.ReviewCallbackRefused); n != refusedBefore {
				t.Fatalf("%s: ReviewCallbackRefused %d, want %d", c.name, n, refusedBefore)
			}
			if n := w.count(t, audit.PermissionDenied); n != deniedBefore {
				t.Fatalf("%s: PermissionDenied %d, want %d", c.name, n, deniedBefore)
			}
		}
		// The Slack account's token through the Telegram account, by its
		// mapped Admin: another account's review.
		answered(t, "another account's token", w.tgClick(t, 7001, tgDestN, approve), "answerCallbackQuery", channel.ClickInvalid)
		// Another tenant's Admin, through their own account with the same
		// destination and a mapped member of the same ID.
		other := w.env.Tenant("globex")
		owner := w.env.User(other, "owner@globex.example", "owner")
		okey := w.env.APIKey(other, owner)
		cred := func(name, value string) string {
			r := w.env.Do("POST", "/api/credentials/", okey, map[string]any{"name": name, "type": "token", "value": value})
			if r.Status != 201 {
				t.Fatalf("credential: %d %s", r.Status, r.Body)
			}
			return decodeData[credentialView](t, r).ID
		}
		if r := w.env.Do("POST", "/api/agents/", okey, map[string]any{"agentId": "default", "name": "G", "allowedChannels": []string{"Slack"}}); r.Status != 201 {
			t.Fatalf("agent: %d %s", r.Status, r.Body)
		}
		gsign := "globex-signing-secret-0123456789"
		r := w.env.Do("POST", "/api/channels/accounts/", okey, map[string]any{"channel": "Slack", "accountId": "globex-ws", "agentId": "default",
			"secretCredentialId": cred("s", gsign), "tokenCredentialId": cred("t", "xoxb-1234-5678-memberWorldToken")})
		if r.Status != 201 {
			t.Fatalf("account: %d %s", r.Status, r.Body)
		}
		gacct := decodeData[struct {
			ID                string `json:"id"`
			InteractivityPath string `json:"interactivityPath"`
		}](t, r)
		if r := w.env.Do("PUT", "/api/channels/accounts/"+gacct.ID, okey, map[string]any{"reviewDestination": slackDest}); r.Status != 200 {
			t.Fatalf("globex destination: %d %s", r.Status, r.Body)
		}
		if r := w.env.Do("POST", "/api/channels/accounts/"+gacct.ID+"/identities", okey, map[string]any{"externalId": "U0ADMIN", "userId": owner}); r.Status != 201 {
			t.Fatalf("globex mapping: %d %s", r.Status, r.Body)
		}
		_, calls := w.slackClick(t, gsign, gacct.InteractivityPath, "U0ADMIN", "T1", slackDest, approve)
		answered(t, "another tenant's account", calls, "chat.postEphemeral", channel.ClickInvalid)
		if v := w.review(t, rid); v.Status != store.ReviewPending {
			t.Fatalf("a refused click decided the review: %+v", v)
		}
		if _, ok := w.memory(t, "default", "discount"); ok {
			t.Fatal("a refused click ran the held call")
		}

		// The Admin approves: the same decision as the API's, by them; the
		// held call runs once and the turn resumes; the buttons are
		// replaced by the outcome.
		reviewedBefore := w.count(t, audit.TurnReviewed)
		r, calls = w.slackClick(t, w.signing, interactivity, "U0ADMIN", "T1", slackDest, approve)
		if r.Status != 200 || len(calls) != 1 || calls[0]["method"] != "chat.update" || calls[0]["ts"] != "1700000000.000900" ||
			calls[0]["channel"] != slackDest || !strings.HasPrefix(fmt.Sprint(calls[0]["text"]), "Approved by admin: ") {
			t.Fatalf("approval: %d %v", r.Status, calls)
		}
		v := w.review(t, rid)
		if v.Status != store.ReviewApproved || v.DecidedBy != w.ids["admin"] {
			t.Fatalf("approved review: %+v", v)
		}
		if got, ok := w.memory(t, "default", "discount"); !ok || got != evil {
			t.Fatalf("memory after approval: %q %v", got, ok)
		}
		hist := w.history(t, v.SessionID)
		if last := hist[len(hist)-1]; last.Role != store.RoleAssistant || last.Text != "Saved." {
			t.Fatalf("the turn did not resume: %+v", last)
		}
		entries, _, _ := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{Action: string(audit.TurnReviewed)}, store.Page{Page: 1, PageSize: 1})
		var rev map[string]any
		if n := w.count(t, audit.TurnReviewed); n != reviewedBefore+1 || entries[0].ActorID != w.ids["admin"] ||
			json.Unmarshal(entries[0].Details, &rev) != nil || rev["decision"] != store.ReviewApproved || rev["reviewId"] != rid {
			t.Fatalf("TurnReviewed: %d %+v", n, entries)
		}
		// Replayed (a new signature, the same button) and the other button.
		_, calls = w.slackClick(t, w.signing, interactivity, "U0ADMIN", "T1", slackDest, approve)
		answered(t, "replayed approval", calls, "chat.postEphemeral", channel.ClickInvalid)
		_, calls = w.slackClick(t, w.signing, interactivity, "U0OWNER", "T1", slackDest, reject)
		answered(t, "reject after approval", calls, "chat.postEphemeral", channel.ClickDecided)
		if v := w.review(t, rid); v.Status != store.ReviewApproved {
			t.Fatalf("after the other button: %+v", v)
		}

		// Decided through the API first: the buttons then change nothing.
		w.fake.reset(toolReply("c4", "memory_store", `{"key":"tier","value":"api"}`), textReply("Done."))
		post, _ = byKey(t, w.slackSend(t, "U0ANON", "One more thing"), "channel", slackDest)
		if post == nil {
			t.Fatal("second review not posted")
		}
		text, approve2, reject2 := slackButtons(t, post)
		rid2 := reviewIDIn(t, text)
		if r := w.env.Do("POST", "/api/injection/reviews/"+rid2+"/approve", w.admin, nil); r.Status != 200 {
			t.Fatalf("API approval: %d %s", r.Status, r.Body)
		}
		_, calls = w.slackClick(t, w.signing, interactivity, "U0OWNER", "T1", slackDest, reject2)
		answered(t, "reject after the API's approval", calls, "chat.postEphemeral", channel.ClickDecided)
		_, calls = w.slackClick(t, w.signing, interactivity, "U0OWNER", "T1", slackDest, approve2)
		answered(t, "approve after the API's approval", calls, "chat.postEphemeral", channel.ClickDecided)
		if v := w.review(t, rid2); v.Status != store.ReviewApproved || v.DecidedBy != w.ids["admin"] {
			t.Fatalf("review decided through the API: %+v", v)
		}

		// Telegram: an unmapped user's held call goes to the chat with an
		// inline keyboard; an Operator's click is refused; the Admin's
		// rejection withholds the call and resumes the turn.
		w.fake.reset(toolReply("t2", "memory_store", `{"key":"lang","value":"de"}`), textReply("I won't change the language then."))
		sent := w.tgSend(t, 43, "Thanks!")
		msg, rest := byKey(t, sent, "chat_id", float64(tgDestN))
		if msg == nil || len(rest) != 1 || rest[0]["text"] != session.HoldingReply {
			t.Fatalf("telegram sends: %v", sent)
		}
		if fmt.Sprint(msg["link_preview_options"]) != "map[is_disabled:true]" || msg["parse_mode"] != nil ||
			!strings.Contains(fmt.Sprint(msg["text"]), `Held call: memory_store key="lang" value="de"`+"\n") {
			t.Fatalf("telegram review: %v", msg)
		}
		var kb struct {
			InlineKeyboard [][]struct {
				Text         string `json:"text"`
				CallbackData string `json:"callback_data"`
			} `json:"inline_keyboard"`
		}
		raw, _ := json.Marshal(msg["reply_markup"])
		if json.Unmarshal(raw, &kb) != nil || len(kb.InlineKeyboard) != 1 || len(kb.InlineKeyboard[0]) != 2 ||
			kb.InlineKeyboard[0][0].Text != "Approve" || len(kb.InlineKeyboard[0][1].CallbackData) > 64 {
			t.Fatalf("keyboard: %s", raw)
		}
		tgApprove, tgReject := kb.InlineKeyboard[0][0].CallbackData, kb.InlineKeyboard[0][1].CallbackData
		rid3 := reviewIDIn(t, fmt.Sprint(msg["text"]))
		// A callback_query carrying a real token but a forged secret token
		// is refused (401, WebhookRejected) and decides nothing.
		tgRejected := w.count(t, audit.WebhookRejected)
		forged := fmt.Sprintf(`{"update_id":9999,"callback_query":{"id":"cqf","from":{"id":7001,"is_bot":false,"first_name":"Ada"},
		"message":{"message_id":77,"date":%d,"chat":{"id":%d,"type":"supergroup"},"text":"x"},"chat_instance":"1","data":%q}}`,
			time.Now().Unix(), tgDestN, tgApprove)
		expectError(t, w.env.Do("POST", w.tg.path, "", forged, channel.TelegramSecretHeader, "not-the-secret-token"), 401, "unauthorized")
		w.env.App.Channels.Wait()
		if n := w.count(t, audit.WebhookRejected); n != tgRejected+1 {
			t.Fatalf("WebhookRejected after a forged callback: %d, want %d", n, tgRejected+1)
		}
		if v := w.review(t, rid3); v.Status != store.ReviewPending {
			t.Fatalf("a forged callback decided the review: %+v", v)
		}
		deniedBefore = w.count(t, audit.PermissionDenied)
		answered(t, "telegram operator", w.tgClick(t, 7002, tgDestN, tgReject), "answerCallbackQuery", channel.ClickNotAllowed)
		if n := w.count(t, audit.PermissionDenied); n != deniedBefore+1 {
			t.Fatalf("PermissionDenied: %d, want %d", n, deniedBefore+1)
		}
		answered(t, "telegram unmapped", w.tgClick(t, 43, tgDestN, tgReject), "answerCallbackQuery", channel.ClickNotMapped)
		answered(t, "telegram other chat", w.tgClick(t, 7001, 43, tgReject), "answerCallbackQuery", channel.ClickWrongPlace)
		answered(t, "telegram: a Slack token", w.tgClick(t, 7001, tgDestN, reject2), "answerCallbackQuery", channel.ClickInvalid)
		calls = w.tgClick(t, 7001, tgDestN, tgReject)
		if len(calls) != 2 || calls[0]["method"] != "answerCallbackQuery" || calls[1]["method"] != "editMessageText" ||
			!strings.HasPrefix(fmt.Sprint(calls[0]["text"]), "Rejected by admin: ") || calls[1]["text"] != calls[0]["text"] ||
			calls[1]["chat_id"] != float64(tgDestN) || calls[1]["message_id"] != float64(77) || calls[1]["reply_markup"] != nil {
			t.Fatalf("telegram rejection: %v", calls)
		}
		v = w.review(t, rid3)
		if v.Status != store.ReviewRejected || v.DecidedBy != w.ids["admin"] {
			t.Fatalf("rejected review: %+v", v)
		}
		if _, ok := w.memory(t, "default", "lang"); ok {
			t.Fatal("a rejected call ran")
		}
		hist = w.history(t, v.SessionID)
		n := len(hist)
		if n < 2 || hist[n-2].Role != store.RoleTool || hist[n-2].Text != session.RejectedCall || !hist[n-2].IsError ||
			hist[n-1].Role != store.RoleAssistant || hist[n-1].Text != "I won't change the language then." {
			t.Fatalf("the rejected turn did not resume as the API's does: %+v", hist[max(0, n-3):])
		}
		answered(t, "telegram replay", w.tgClick(t, 7001, tgDestN, tgReject), "answerCallbackQuery", channel.ClickInvalid)
		answered(t, "telegram approve after reject", w.tgClick(t, 7001, tgDestN, tgApprove), "answerCallbackQuery", channel.ClickDecided)

		// Turned off: held reviews are no longer posted.
		if r := w.env.Do("PUT", sl, w.admin, map[string]any{"reviewDestination": ""}); r.Status != 200 {
			t.Fatalf("clear: %d %s", r.Status, r.Body)
		}
		w.fake.reset(toolReply("c5", "memory_store", `{"key":"late","value":"x"}`), textReply("Done."))
		if posts := w.slackSend(t, "U0ANON", "And this?"); len(posts) != 1 || posts[0]["channel"] != "C1" {
			t.Fatalf("posted after the destination was cleared: %v", posts)
		}
		noSecret(t, "the logs", []byte(w.env.Logs()), approve[3:], reject[3:], tgApprove[3:], tgReject[3:])
		// Neither do the audit entries (ReviewCallbackRefused among them).
		all, _, err := w.env.App.Store.ListAudit(t.Context(), w.tenant, store.AuditFilter{}, store.Page{Page: 1, PageSize: 500})
		if err != nil || len(all) == 0 {
			t.Fatalf("audit: %d entries, %v", len(all), err)
		}
		for _, e := range all {
			noSecret(t, "audit "+string(e.Action), e.Details, approve[3:], reject[3:], tgApprove[3:], tgReject[3:])
		}
	})
}
