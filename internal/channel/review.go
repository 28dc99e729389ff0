package channel

import (
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

// Admin approvals from Slack and Telegram (issue 16). An Owner or Admin
// sets a Slack or Telegram account's review destination (a Slack channel
// ID, a Telegram chat ID; off by default). A turn of a session on that
// account that is held for the Admin review queue is then posted there,
// through the outbox: what the queue shows — the exact held call as
// Komand renders it, or the held text's excerpt — escaped (every string
// quoted, markup and invisible characters as \u escapes, "@" broken so it
// mentions nobody), previews off, with an Approve and a Reject button.
// Reviews of sessions on other channels (Webhook, WebChat) are not posted.
//
// Each button carries its own opaque token: 32 bytes from crypto/rand,
// made when the message is sent (never stored in the outbox), of which
// only a hash bound to the action is stored (komand_review_callbacks),
// bound to the review and the account, for ReviewCallbackTTL, and spent
// once. A click arrives signed — a Slack interactivity request (the v0
// signature of the Events API, 5-minute window, each signature once), a
// Telegram callback_query on the account's webhook (its secret-token
// header) — and counts only when the clicking member is mapped
// (identities.go) to a Komand user of the tenant who may decide reviews
// now (injection:update: Owner or Admin), the click comes from the
// destination, and the token is unspent, unexpired and the account's. The
// decision is then the session service's DecideReview as that user — the
// same call as the API's approve and reject — so RBAC, audit and the
// resumed turn are shared. The member is answered in plain words (Slack:
// the message is updated, or an ephemeral message for a refusal;
// Telegram: answerCallbackQuery and the message edited). A refused click
// records ReviewCallbackRefused (a role that may not decide records
// PermissionDenied), spends nothing and changes nothing.

// ReviewCallbackTTL is how long a posted review's buttons work; after it
// the review is decided through the API.
const ReviewCallbackTTL = 24 * time.Hour

var (
	slackChannelID = regexp.MustCompile(`^[CG][A-Z0-9]{2,20}$`)
	callbackData   = regexp.MustCompile(`^k([ar])\.([A-Za-z0-9_-]{43})$`)
)

// validDestination checks a review destination of channel ch ("" clears
// it).
func validDestination(ch, d string) error {
	if d == "" {
		return nil
	}
	switch ch {
	case Slack:
		if slackChannelID.MatchString(d) {
			return nil
		}
		return apperr.Field("reviewDestination", "must be a Slack channel ID (C… or G…)")
	case Telegram:
		if n, err := strconv.ParseInt(d, 10, 64); err == nil && n != 0 && strconv.FormatInt(n, 10) == d {
			return nil
		}
		return apperr.Field("reviewDestination", "must be a Telegram chat ID (an integer)")
	}
	return apperr.Field("reviewDestination", "only a Slack or Telegram account has a review destination")
}

// ReviewNotice is a pending review as the session service renders it for
// a review destination.
type ReviewNotice struct {
	TenantID  string
	ReviewID  string
	SessionID string
	AgentID   string
	Channel   string // the session's channel and account key
	AccountID string
	Kind      string
	Source    string
	ToolName  string
	// Held is what the review queue shows, already escaped for display
	// (session.RenderCalls for a call, the quoted excerpt otherwise).
	Held string
}

// Decide decides a review as p: session.Service.DecideReview, wired by
// the app (the API's approve and reject call the same).
type Decide func(ctx context.Context, p authz.Principal, reviewID string, approve bool) error

// SetDecide sets the review decision the buttons call (before serving).
func (s *Service) SetDecide(d Decide) { s.decide = d }

// maxHeldChars bounds the held call or excerpt in a posted review.
const maxHeldChars = 2500

// noMention breaks every "@" so that no text of a review (a held call, an
// excerpt, a user's name) mentions or notifies anybody.
func noMention(s string) string { return strings.ReplaceAll(s, "@", "@\u2060") }

// reviewText is the message posted for n.
func reviewText(n ReviewNotice) string {
	kind := map[string]string{store.ReviewToolCall: "tool call", store.ReviewToolOutput: "tool output",
		store.ReviewMessage: "message"}[n.Kind]
	if kind == "" {
		kind = "turn"
	}
	held := n.Held
	if r := []rune(held); len(r) > maxHeldChars {
		held = string(r[:maxHeldChars]) + "…(clipped)"
	}
	what := "Held text"
	if n.Kind == store.ReviewToolCall {
		what = "Held call"
	}
	var b strings.Builder
	b.WriteString("Komand: a " + kind + " is held for review.\n")
	b.WriteString("Agent " + n.AgentID + ", " + n.Channel + " account " + n.AccountID + ", source " + noMention(n.Source) + ".\n")
	b.WriteString(what + ": " + noMention(held) + "\n")
	b.WriteString("Review " + n.ReviewID + ". Approve lets it go on and resumes the turn; Reject withholds it. " +
		"Only a member mapped to a Komand Owner or Admin can decide.")
	return b.String()
}

// PostReview queues n for the review destination of its session's
// account, when the account has one (otherwise it does nothing), and
// sends it in the background. The buttons' tokens are made when it is
// sent.
func (s *Service) PostReview(ctx context.Context, n ReviewNotice) error {
	if n.Channel != Slack && n.Channel != Telegram {
		return nil
	}
	a, err := s.st.ChannelAccountByKey(ctx, n.TenantID, n.Channel, n.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil || a.ReviewDestination == "" {
		return err
	}
	p := outPayload{Op: opReview, ReviewID: n.ReviewID, Text: reviewText(n)}
	if a.Channel == Slack {
		p.SlackChannel = a.ReviewDestination
	} else {
		p.ChatID, _ = strconv.ParseInt(a.ReviewDestination, 10, 64)
	}
	// Queued now; sent in the background, so that the held turn's reply
	// does not wait for Slack or Telegram.
	d := s.enqueue(ctx, a, n.SessionID, "review:"+n.ReviewID, p)
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer s.recoverDispatch(ctx, a.ID)
		s.attempt(context.WithoutCancel(ctx), d)
	}()
	return nil
}

// Actions of a review button.
const (
	actionApprove = "approve"
	actionReject  = "reject"
)

// callbackHash is the stored form of a button's token: bound to its
// action, so a token cannot be replayed as the other button.
func callbackHash(action, token string) string {
	sum := sha256.Sum256([]byte("komand-review-callback\x00" + action + "\x00" + token))
	return hex.EncodeToString(sum[:])
}

// newToken returns a fresh button token (32 random bytes, base64url).
func newToken() string {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("crypto/rand: " + err.Error()) // never, per crypto/rand
	}
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// reviewButtons makes and stores the tokens of a review's two buttons and
// returns their values ("ka.<token>", "kr.<token>": 46 bytes, within
// Telegram's 64-byte callback_data).
func (s *Service) reviewButtons(ctx context.Context, a store.ChannelAccount, reviewID string) (approve, reject string, err error) {
	now := s.now().UTC().Truncate(time.Microsecond)
	for _, b := range []struct {
		action string
		value  *string
	}{{actionApprove, &approve}, {actionReject, &reject}} {
		tok := newToken()
		if err := s.st.CreateReviewCallback(ctx, store.ReviewCallback{TenantID: a.TenantID, TokenHash: callbackHash(b.action, tok),
			ReviewID: reviewID, ChannelAccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(ReviewCallbackTTL)}); err != nil {
			return "", "", err
		}
		*b.value = "k" + b.action[:1] + "." + tok
	}
	return approve, reject, nil
}

// click is a signed button click, as the adapter read it.
type click struct {
	member string // the platform user ID of the clicking member
	mapped bool   // whether the member may be mapped (Slack: the team matches)
	where  string // the chat or channel the click came from
	value  string // the button's value
}

// Plain answers to a click.
const (
	ClickNotMapped   = "You are not linked to a Komand user, so you cannot decide reviews here. Ask an administrator to map your account."
	ClickNotAllowed  = "Your Komand role does not allow deciding reviews; only an Owner or Admin can."
	ClickInvalid     = "This button is no longer valid (used, expired or not from this review). Decide the review in Komand."
	ClickDecided     = "This review was decided already; nothing was changed."
	ClickWrongPlace  = "This button only works in the review channel it was posted to."
	ClickUnavailable = "Komand could not decide the review just now. Try again, or decide it in Komand."
)

// handleClick decides what a click asks, as far as it may, and returns
// the plain answer and whether the review was decided (the message's
// buttons are then replaced by the outcome).
func (s *Service) handleClick(ctx context.Context, a store.ChannelAccount, c click) (string, bool) {
	refuse := func(reason, answer string) (string, bool) {
		if err := s.audit.Record(ctx, audit.Event{TenantID: a.TenantID, Action: audit.ReviewCallbackRefused, ActorID: AccountActor(a.ID),
			AgentID: a.AgentID, Details: map[string]any{"channelAccountId": a.ID, "channel": a.Channel, "externalId": c.member,
				"reason": reason}}); err != nil {
			s.log.ErrorContext(ctx, "refused review click not audited", "account", a.ID, "err", err)
		}
		return answer, false
	}
	if a.ReviewDestination == "" || c.where != a.ReviewDestination {
		return refuse("not the review destination", ClickWrongPlace)
	}
	m := callbackData.FindStringSubmatch(c.value)
	if m == nil {
		return refuse("malformed token", ClickInvalid)
	}
	approve := m[1] == "a"
	action := actionReject
	if approve {
		action = actionApprove
	}
	p := authz.Principal{UserID: AccountActor(a.ID)}
	var err error
	if c.mapped {
		if p, err = s.sender(ctx, a, c.member, false); err != nil {
			s.log.ErrorContext(ctx, "review click: member not resolved", "account", a.ID, "err", err)
			return ClickUnavailable, false
		}
	}
	if IsAccountActor(p.UserID) {
		return refuse("member not mapped to a Komand user", ClickNotMapped)
	}
	// The role is checked before the token is spent, so a click that may
	// not decide does not use up the Admin's button (PermissionDenied).
	if err := s.authz.Check(ctx, p, authz.Update, authz.Injection, authz.Target{}); err != nil {
		return ClickNotAllowed, false
	}
	cb, err := s.st.SpendReviewCallback(ctx, a.TenantID, a.ID, callbackHash(action, m[2]), s.now().UTC().Truncate(time.Microsecond))
	if errors.Is(err, store.ErrNotFound) {
		return refuse("unknown, spent or expired token", ClickInvalid)
	}
	if err != nil {
		s.log.ErrorContext(ctx, "review click: token not spent", "account", a.ID, "err", err)
		return ClickUnavailable, false
	}
	if s.decide == nil {
		return ClickUnavailable, false
	}
	err = s.decide(ctx, p, cb.ReviewID, approve)
	switch e, _ := apperr.As(err); {
	case err == nil:
	case errors.Is(err, authz.ErrDenied):
		return ClickNotAllowed, false
	case e != nil && e.Kind == apperr.Conflict:
		return refuse("review decided already", ClickDecided)
	case e != nil && e.Kind == apperr.NotFound:
		return refuse("review not found", ClickInvalid)
	default:
		// The decision is stored before the turn resumes: a failure of the
		// resumed turn (a provider outage) leaves the review decided.
		s.log.ErrorContext(ctx, "review click: decision failed", "account", a.ID, "review", cb.ReviewID, "err", err)
		if r, err := s.st.GetReview(ctx, a.TenantID, cb.ReviewID); err == nil && r.Status != store.ReviewPending && r.DecidedBy == p.UserID {
			return "Recorded: the review was " + r.Status + " by " + noMention(cmp.Or(p.Name, p.Email)) +
				", but the conversation could not be resumed just now (review " + cb.ReviewID + ").", true
		}
		return ClickUnavailable, false
	}
	who := cmp.Or(p.Name, p.Email)
	if approve {
		return "Approved by " + noMention(who) + ": the held step went ahead and the conversation resumed (review " + cb.ReviewID + ").", true
	}
	return "Rejected by " + noMention(who) + ": the held step was withheld and the conversation resumed without it (review " + cb.ReviewID + ").", true
}

// sendReview posts a review to its destination with fresh buttons, unless
// it was decided meanwhile.
func (s *Service) sendReview(ctx context.Context, a store.ChannelAccount, p outPayload) error {
	r, err := s.st.GetReview(ctx, a.TenantID, p.ReviewID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &deliveryError{class: ClassObsolete, msg: "the review is gone"}
	case err != nil:
		return &deliveryError{class: ClassStoreUnavailable, retry: true, msg: "review unavailable: " + err.Error()}
	case r.Status != store.ReviewPending:
		return &deliveryError{class: ClassObsolete, msg: "the review was decided before it was posted"}
	}
	approve, reject, err := s.reviewButtons(ctx, a, p.ReviewID)
	if err != nil {
		return &deliveryError{class: ClassStoreUnavailable, retry: true, msg: "review buttons not stored: " + err.Error()}
	}
	if a.Channel == Slack {
		// The held text is a plain_text block: Slack parses no mention,
		// link or formatting in it (and it is escaped besides). The
		// notification text is Komand's own.
		return s.slackCall(ctx, a, "chat.postMessage", map[string]any{"channel": p.SlackChannel,
			"text": "Komand: a turn is held for review.", "unfurl_links": false, "unfurl_media": false,
			"link_names": false, "parse": "none",
			"blocks": []any{
				map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": p.Text, "emoji": false}},
				map[string]any{"type": "actions", "block_id": "komand_review", "elements": []any{
					map[string]any{"type": "button", "action_id": "komand_approve", "style": "primary", "value": approve,
						"text": map[string]any{"type": "plain_text", "text": "Approve"}},
					map[string]any{"type": "button", "action_id": "komand_reject", "style": "danger", "value": reject,
						"text": map[string]any{"type": "plain_text", "text": "Reject"}},
				}},
			}})
	}
	return s.telegramCall(ctx, a, "sendMessage", map[string]any{"chat_id": p.ChatID, "text": p.Text,
		"link_preview_options": map[string]any{"is_disabled": true},
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]any{{
			{"text": "Approve", "callback_data": approve}, {"text": "Reject", "callback_data": reject}}}}})
}

// sendAnswer answers a click.
func (s *Service) sendAnswer(ctx context.Context, a store.ChannelAccount, p outPayload) error {
	switch p.Op {
	case opSlackUpdate:
		return s.slackCall(ctx, a, "chat.update", map[string]any{"channel": p.SlackChannel, "ts": p.MessageTS, "text": slackEscape(p.Text),
			"link_names": false, "parse": "none",
			"blocks": []any{map[string]any{"type": "section", "text": map[string]any{"type": "plain_text", "text": p.Text, "emoji": false}}}})
	case opSlackEphemeral:
		return s.slackCall(ctx, a, "chat.postEphemeral", map[string]any{"channel": p.SlackChannel, "user": p.SlackUser,
			"text": slackEscape(p.Text), "link_names": false, "parse": "none"})
	case opTelegramAnswer:
		return s.telegramCall(ctx, a, "answerCallbackQuery", map[string]any{"callback_query_id": p.CallbackID,
			"text": clip(p.Text, 200), "show_alert": true})
	case opTelegramEdit:
		return s.telegramCall(ctx, a, "editMessageText", map[string]any{"chat_id": p.ChatID, "message_id": p.MessageID,
			"text": p.Text, "link_preview_options": map[string]any{"is_disabled": true}})
	}
	return &deliveryError{class: ClassClientError, msg: "unknown delivery operation"}
}

// slackEscape escapes the three characters Slack's message text gives a
// meaning (<…> are mentions and links), for a text field that is mrkdwn.
func slackEscape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// clip shortens s to at most n runes.
func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
