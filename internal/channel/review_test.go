package channel_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/store"
)

// reviewWorld is a channel service over Web and Bot APIs that record
// every call, with a recording review decision.
type reviewWorld struct {
	*world
	mu      sync.Mutex
	calls   []map[string]any // every API call's body, with "path"
	decided []decision
	result  error // what the decision returns
	update  int
}

type decision struct {
	p       authz.Principal
	review  string
	approve bool
}

func newReviewWorld(t *testing.T) *reviewWorld {
	t.Helper()
	w := &reviewWorld{world: newWorld(t)}
	api := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var m map[string]any
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &m)
		m["path"] = r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
		w.mu.Lock()
		w.calls = append(w.calls, m)
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(rw, `{"ok":true,"result":{}}`)
	}))
	t.Cleanup(api.Close)
	w.s = channel.NewService(w.Store, w.secrets, w.Authz, w.Audit, func(context.Context, authz.Principal, channel.InboundMessage) (channel.Reply, error) {
		return channel.Reply{}, nil
	}, slog.New(slog.DiscardHandler), w.Clock.Now, channel.Options{TelegramAPI: api.URL, SlackAPI: api.URL})
	w.s.SetDecide(func(_ context.Context, p authz.Principal, id string, approve bool) error {
		w.mu.Lock()
		defer w.mu.Unlock()
		w.decided = append(w.decided, decision{p, id, approve})
		return w.result
	})
	return w
}

// taken returns and forgets the API calls made so far.
func (w *reviewWorld) taken() []map[string]any {
	w.s.Wait()
	w.mu.Lock()
	defer w.mu.Unlock()
	c := w.calls
	w.calls = nil
	return c
}

// heldReview stores a pending review of a session on account a.
func (w *reviewWorld) heldReview(t *testing.T, a store.ChannelAccount) store.Review {
	t.Helper()
	now := w.Clock.Now().UTC()
	se := store.Session{ID: uuid.NewString(), TenantID: a.TenantID, Key: a.Channel + ":" + a.AccountID + ":u1", Channel: a.Channel,
		ChannelAccountID: a.AccountID, SenderID: "u1", AgentID: a.AgentID, Metadata: map[string]string{}, FirstMessageAt: now, LastMessageAt: now}
	if err := w.Store.CreateSession(ctx, se, 1000); err != nil {
		t.Fatal(err)
	}
	r := store.Review{TenantID: a.TenantID, ID: uuid.NewString(), SessionID: se.ID, AgentID: a.AgentID, Kind: store.ReviewToolCall,
		Source: "skill", TurnSeq: 1, ToolName: "memory_store", Categories: []string{}, Status: store.ReviewPending, CreatedAt: now}
	if err := w.Store.CreateReview(ctx, r); err != nil {
		t.Fatal(err)
	}
	return r
}

func (w *reviewWorld) notice(a store.ChannelAccount, r store.Review, held string) channel.ReviewNotice {
	return channel.ReviewNotice{TenantID: a.TenantID, ReviewID: r.ID, SessionID: r.SessionID, AgentID: a.AgentID,
		Channel: a.Channel, AccountID: a.AccountID, Kind: r.Kind, Source: r.Source, ToolName: r.ToolName, Held: held}
}

// buttons posts r for account a (Telegram) and returns its buttons.
func (w *reviewWorld) buttons(t *testing.T, a store.ChannelAccount, r store.Review) (approve, reject string) {
	t.Helper()
	if err := w.s.PostReview(ctx, w.notice(a, r, `memory_store key="k"`)); err != nil {
		t.Fatal(err)
	}
	calls := w.taken()
	if len(calls) != 1 || calls[0]["path"] != "sendMessage" {
		t.Fatalf("review post: %v", calls)
	}
	raw, _ := json.Marshal(calls[0]["reply_markup"])
	var kb struct {
		InlineKeyboard [][]struct {
			CallbackData string `json:"callback_data"`
		} `json:"inline_keyboard"`
	}
	if err := json.Unmarshal(raw, &kb); err != nil || len(kb.InlineKeyboard) != 1 || len(kb.InlineKeyboard[0]) != 2 {
		t.Fatalf("keyboard: %s", raw)
	}
	return kb.InlineKeyboard[0][0].CallbackData, kb.InlineKeyboard[0][1].CallbackData
}

// click sends a signed callback_query of from in chat and returns the
// answerCallbackQuery's text.
func (w *reviewWorld) click(t *testing.T, a store.ChannelAccount, from int64, chat, data string) string {
	t.Helper()
	w.update++
	n := w.update
	body := fmt.Sprintf(`{"update_id":%d,"callback_query":{"id":"q%d","from":{"id":%d},"message":{"message_id":5,"chat":{"id":%s}},"data":%q}}`,
		n, n, from, chat, data)
	if err := w.s.ReceiveTelegram(ctx, channel.TelegramDelivery{AccountID: a.ID, Secret: signingSecret, Body: []byte(body)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range w.taken() {
		if c["path"] == "answerCallbackQuery" {
			return fmt.Sprint(c["text"])
		}
	}
	t.Fatal("the click was not answered")
	return ""
}

// TestReviewDestinationSetting: validated per channel, Owner and Admin
// only, audited with the previous value.
func TestReviewDestinationSetting(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	slack := w.platformAccount(t, w.TenantA, channel.Slack)
	tg := w.platformAccount(t, w.TenantA, channel.Telegram)
	hook := w.webhook(t, w.TenantA)
	str := func(s string) *string { return &s }
	for _, c := range []struct {
		a    store.ChannelAccount
		dest string
		ok   bool
	}{
		{slack, "C0ADMINS", true}, {slack, "G0PRIVATE", true}, {slack, "", true},
		{slack, "c0admins", false}, {slack, "U0ADMIN", false}, {slack, "C", false}, {slack, "C0<!channel>", false}, {slack, "-100123", false},
		{tg, "-1001234567", true}, {tg, "42", true},
		{tg, "0", false}, {tg, "+42", false}, {tg, "042", false}, {tg, "C0ADMINS", false}, {tg, "99999999999999999999", false},
		{hook, "C0ADMINS", false}, {hook, "42", false},
	} {
		_, err := w.s.UpdateAccount(ctx, admin, c.a.ID, channel.AccountUpdate{ReviewDestination: str(c.dest)})
		if c.ok != (err == nil) || (err != nil && kind(err) != apperr.Invalid) {
			t.Errorf("%s %q: %v", c.a.Channel, c.dest, err)
		}
	}
	if _, err := w.s.UpdateAccount(ctx, w.As(w.TenantA, authz.Operator), tg.ID, channel.AccountUpdate{ReviewDestination: str("42")}); !errors.Is(err, authz.ErrDenied) {
		t.Fatalf("operator sets the destination: %v", err)
	}
	if _, err := w.s.UpdateAccount(ctx, w.As(w.TenantB, authz.Admin), tg.ID, channel.AccountUpdate{ReviewDestination: str("42")}); !errors.Is(err, channel.ErrAccountNotFound) {
		t.Fatalf("another tenant sets the destination: %v", err)
	}
	a, err := w.s.GetAccount(ctx, admin, tg.ID)
	if err != nil || a.ReviewDestination != "42" {
		t.Fatalf("stored: %+v %v", a, err)
	}
	ev := w.Entries(w.TenantA, audit.ChannelAccountUpdated)
	last := ev[len(ev)-1]
	if last.Details["reviewDestination"] != "42" || fmt.Sprint(last.Details["previous"]) != "map[reviewDestination:-1001234567]" {
		t.Fatalf("audit: %+v", last.Details)
	}
}

// TestReviewButtons: nothing is posted without a destination or for a
// session of another channel; a decided review is not posted; each post
// has fresh tokens of which only hashes are stored; a token works once,
// for its action, until it expires; the decision is the mapped user's;
// the decision's refusals are answered in plain words.
func TestReviewButtons(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t)
	admin := w.As(w.TenantA, authz.Admin)
	tg := w.platformAccount(t, w.TenantA, channel.Telegram)
	if _, err := w.s.MapIdentity(ctx, admin, tg.ID, channel.IdentityInput{ExternalID: "7001", UserID: admin.UserID}); err != nil {
		t.Fatal(err)
	}
	r := w.heldReview(t, tg)
	// Off by default.
	if err := w.s.PostReview(ctx, w.notice(tg, r, "x")); err != nil || len(w.taken()) != 0 {
		t.Fatalf("posted without a destination: %v", err)
	}
	dest := "-100777"
	if _, err := w.s.UpdateAccount(ctx, admin, tg.ID, channel.AccountUpdate{ReviewDestination: &dest}); err != nil {
		t.Fatal(err)
	}
	webchat := w.notice(tg, r, "x")
	webchat.Channel = channel.WebChat
	if err := w.s.PostReview(ctx, webchat); err != nil || len(w.taken()) != 0 {
		t.Fatalf("posted for a WebChat session: %v", err)
	}

	// The text: Komand's own lines around the held part, "@" broken.
	if err := w.s.PostReview(ctx, w.notice(tg, r, `memory_store value="@channel @here ping"`)); err != nil {
		t.Fatal(err)
	}
	calls := w.taken()
	if len(calls) != 1 {
		t.Fatalf("calls: %v", calls)
	}
	text := fmt.Sprint(calls[0]["text"])
	if !strings.Contains(text, "Held call: memory_store value=\"@\u2060channel @\u2060here ping\"\n") ||
		!strings.Contains(text, "\nReview "+r.ID+". ") || strings.Contains(text, "@c") || calls[0]["parse_mode"] != nil ||
		calls[0]["chat_id"] != float64(-100777) {
		t.Fatalf("review message: %v", calls[0])
	}

	// Expired tokens do nothing.
	approve, reject := w.buttons(t, tg, r)
	if approve == reject || approve[3:] == reject[3:] || !strings.HasPrefix(approve, "ka.") || !strings.HasPrefix(reject, "kr.") {
		t.Fatalf("buttons: %q %q", approve, reject)
	}
	w.Clock.Advance(channel.ReviewCallbackTTL)
	if got := w.click(t, tg, 7001, dest, approve); got != channel.ClickInvalid {
		t.Fatalf("expired token: %q", got)
	}
	// A fresh post: the decision is the mapped Admin's, once.
	approve, _ = w.buttons(t, tg, r)
	if got := w.click(t, tg, 7001, dest, approve); !strings.HasPrefix(got, "Approved by admin: ") {
		t.Fatalf("approval: %q", got)
	}
	if len(w.decided) != 1 || w.decided[0].p.UserID != admin.UserID || w.decided[0].p.Role != authz.Admin ||
		w.decided[0].review != r.ID || !w.decided[0].approve {
		t.Fatalf("decisions: %+v", w.decided)
	}
	if got := w.click(t, tg, 7001, dest, approve); got != channel.ClickInvalid || len(w.decided) != 1 {
		t.Fatalf("spent token: %q %d", got, len(w.decided))
	}
	// The decision's own refusals, in plain words (the token is spent).
	for _, c := range []struct {
		err  error
		want string
	}{
		{apperr.New(apperr.Conflict, "this review was decided already"), channel.ClickDecided},
		{apperr.New(apperr.NotFound, "review not found"), channel.ClickInvalid},
		{authz.ErrDenied, channel.ClickNotAllowed},
		{errors.New("store down"), channel.ClickUnavailable},
	} {
		_, reject = w.buttons(t, tg, r)
		w.mu.Lock()
		w.result = c.err
		w.mu.Unlock()
		if got := w.click(t, tg, 7001, dest, reject); got != c.want {
			t.Errorf("decision error %v: %q, want %q", c.err, got, c.want)
		}
		if got := w.click(t, tg, 7001, dest, reject); got != channel.ClickInvalid {
			t.Errorf("token reused after %v: %q", c.err, got)
		}
	}
	// The decision is stored but the resumed turn fails (a provider
	// outage): the answer says what was recorded.
	_, reject = w.buttons(t, tg, r)
	w.s.SetDecide(func(ctx context.Context, p authz.Principal, id string, approve bool) error {
		if _, err := w.Store.DecideReview(ctx, w.TenantA, id, store.ReviewRejected, p.UserID, w.Clock.Now()); err != nil {
			return err
		}
		return errors.New("provider down")
	})
	if got := w.click(t, tg, 7001, dest, reject); !strings.HasPrefix(got, "Recorded: the review was rejected by admin, but the conversation could not be resumed") {
		t.Fatalf("decided, not resumed: %q", got)
	}
	// A decided review is not posted (and gets no tokens).
	if err := w.s.PostReview(ctx, w.notice(tg, r, "x")); err != nil || len(w.taken()) != 0 {
		t.Fatalf("a decided review was posted: %v", err)
	}
	sent := w.Entries(w.TenantA, audit.MessageSent)
	if last := sent[len(sent)-1]; last.Details["statusClass"] != channel.ClassObsolete || last.Details["delivery"] != "failed" {
		t.Fatalf("obsolete post: %+v", last.Details)
	}
}

// TestSlackActionRequests: an interactivity request is verified as an
// Events API request; one that is not a review button's click is
// acknowledged and does nothing.
func TestSlackActionRequests(t *testing.T) {
	t.Parallel()
	w := newReviewWorld(t)
	slack := w.platformAccount(t, w.TenantA, channel.Slack)
	send := func(secret, payload string) error {
		body := "payload=" + url.QueryEscape(payload)
		ts := strconv.FormatInt(w.Clock.Now().Unix(), 10)
		return w.s.ReceiveSlackAction(ctx, channel.SlackDelivery{AccountID: slack.ID, Timestamp: ts,
			Signature: channel.SlackSign([]byte(secret), ts, []byte(body)), Body: []byte(body)})
	}
	if err := send("wrong", `{"type":"block_actions"}`); !errors.Is(err, channel.ErrUnauthorized) {
		t.Fatalf("forged: %v", err)
	}
	for _, p := range []string{`{"type":"view_submission"}`, `{"type":"block_actions","user":{"id":"U1"},"actions":[{"action_id":"other","value":"ka.x"}]}`} {
		if err := send(signingSecret, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if err := send(signingSecret, `not json`); kind(err) != apperr.Invalid {
		t.Fatalf("not json: %v", err)
	}
	if calls := w.taken(); len(calls) != 0 || len(w.decided) != 0 {
		t.Fatalf("an acknowledged request did something: %v %v", calls, w.decided)
	}
	if n := len(w.Entries(w.TenantA, audit.WebhookRejected)); n != 1 {
		t.Fatalf("WebhookRejected: %d", n)
	}
}
