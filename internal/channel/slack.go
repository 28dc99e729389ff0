package channel

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
)

// Slack is the Slack channel's name.
const Slack = "Slack"

// Headers of a Slack Events API request.
const (
	SlackTimestampHeader = "X-Slack-Request-Timestamp"
	SlackSignatureHeader = "X-Slack-Signature" // "v0=" + hex HMAC-SHA256
)

// SlackSign is Slack's request signature: HMAC-SHA256 with the app's
// signing secret over "v0:" + timestamp + ":" + body, "v0=" + hex.
func SlackSign(secret []byte, timestamp string, body []byte) string {
	return sign("v0", secret, timestamp, body)
}

// slackEnvelope is the part of an Events API request Komand reads.
type slackEnvelope struct {
	Type      string `json:"type"`
	Challenge string `json:"challenge"`
	EventID   string `json:"event_id"`
	TeamID    string `json:"team_id"`
	Event     *struct {
		Type     string `json:"type"`
		Team     string `json:"team"`
		UserTeam string `json:"user_team"`
		Subtype  string `json:"subtype"`
		BotID    string `json:"bot_id"`
		User     string `json:"user"`
		Text     string `json:"text"`
		Channel  string `json:"channel"`
		TS       string `json:"ts"`
		ThreadTS string `json:"thread_ts"`
	} `json:"event"`
}

// SlackDelivery is one Events API request.
type SlackDelivery struct {
	AccountID string
	Timestamp string
	Signature string
	Body      []byte
}

// ReceiveSlack verifies an Events API request (v0 signature with the
// signing secret, 5-minute window, each signature once) and answers it:
// url_verification returns the challenge; a user's message or mention
// goes to the account's agent in the background (Slack wants its 200
// within 3 seconds) and the reply is posted with chat.postMessage, in the
// message's thread. The sender is the account's principal unless the
// member is mapped to a Komand user (identities.go). Each event ID is handled once (Slack retries), and
// messages from bots (including this one) are ignored. A refused request
// gets ErrUnauthorized and a WebhookRejected entry.
func (s *Service) ReceiveSlack(ctx context.Context, d SlackDelivery) (challenge string, err error) {
	a, now, err := s.verifySlack(ctx, d)
	if err != nil {
		return "", err
	}
	var env slackEnvelope
	if err := json.Unmarshal(d.Body, &env); err != nil {
		return "", apperr.New(apperr.Invalid, "request body is not a Slack event")
	}
	switch env.Type {
	case "url_verification":
		if env.Challenge == "" || len(env.Challenge) > 512 {
			return "", apperr.New(apperr.Invalid, "url_verification without a challenge")
		}
		return env.Challenge, nil
	case "event_callback":
	default:
		return "", nil // other request types: acknowledged
	}
	e := env.Event
	if e == nil || (e.Type != "message" && e.Type != "app_mention") || e.BotID != "" || e.Subtype != "" || e.User == "" || e.Text == "" {
		return "", nil // not a user's text message: acknowledged, nothing to answer
	}
	if env.EventID != "" {
		if err := s.st.MarkWebhookSeen(ctx, a.TenantID, a.ID, "event:"+env.EventID, now, now.Add(time.Hour)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return "", nil // Slack's retry of an event already being answered
			}
			return "", err
		}
	}
	thread := e.ThreadTS
	if thread == "" {
		thread = e.TS
	}
	m := InboundMessage{MessageID: env.EventID, Channel: Slack, ChannelAccountID: a.AccountID, SenderID: e.User, Text: e.Text,
		Metadata: map[string]string{"slackChannel": e.Channel, "threadTs": thread}}
	s.inBackground(ctx, a.ID, func(bctx context.Context) {
		// A member mapped to a Komand user acts as that user, but only
		// within the account's workspace (identities.go).
		p := authz.Principal{TenantID: a.TenantID, UserID: AccountActor(a.ID), Role: authz.Operator}
		var reply Reply
		var err error
		if slackTeamMatches(a, env.TeamID, e.Team, e.UserTeam) {
			p, err = s.sender(bctx, a, e.User, false)
		}
		if err == nil {
			reply, err = s.dispatch(bctx, p, m)
		}
		text := reply.Text
		if err != nil {
			text = publicText(err)
		}
		s.deliver(bctx, a, reply.SessionID, m.MessageID, outPayload{Text: text, SlackChannel: e.Channel, ThreadTS: thread})
	})
	return "", nil
}

// verifySlack checks a Slack request's v0 signature with the account's
// signing secret (5-minute window, each signature once) and returns the
// account; a refusal is ErrUnauthorized and a WebhookRejected entry.
func (s *Service) verifySlack(ctx context.Context, d SlackDelivery) (store.ChannelAccount, time.Time, error) {
	a, err := s.account(ctx, d.AccountID, Slack)
	if err != nil {
		return store.ChannelAccount{}, time.Time{}, err
	}
	secret, err := s.secrets.PlatformSecret(ctx, a.TenantID, a.SecretCredentialID)
	if err != nil {
		s.log.ErrorContext(ctx, "slack signing secret unavailable", "account", a.ID, "err", err)
		return store.ChannelAccount{}, time.Time{}, s.reject(ctx, a, "signing secret unavailable")
	}
	now := s.now()
	ts, err := verify("v0", []byte(secret), d.Timestamp, d.Signature, d.Body, now)
	if err != nil {
		return store.ChannelAccount{}, time.Time{}, s.reject(ctx, a, err.Error())
	}
	if err := s.markSeen(ctx, a, ReplayKey(d.Timestamp, d.Body), now, ts.Add(replayRetention)); err != nil {
		return store.ChannelAccount{}, time.Time{}, err
	}
	return a, now, nil
}

// slackAction is the part of an interactivity request (block_actions)
// Komand reads.
type slackAction struct {
	Type string `json:"type"`
	Team struct {
		ID string `json:"id"`
	} `json:"team"`
	User struct {
		ID     string `json:"id"`
		TeamID string `json:"team_id"`
	} `json:"user"`
	Channel struct {
		ID string `json:"id"`
	} `json:"channel"`
	Container struct {
		MessageTS string `json:"message_ts"`
		ChannelID string `json:"channel_id"`
	} `json:"container"`
	Actions []struct {
		ActionID string `json:"action_id"`
		Value    string `json:"value"`
	} `json:"actions"`
}

// ReceiveSlackAction verifies a Slack interactivity request (the form
// field payload=…, signed as the Events API's requests: v0 signature, 5
// minutes, each signature once) and, for a click on a posted review's
// Approve or Reject button, decides the review in the background (Slack
// wants its 200 within 3 seconds; review.go). The outcome replaces the
// message's buttons (chat.update); a refusal is posted to the clicking
// member only (chat.postEphemeral). Other interactions are acknowledged.
func (s *Service) ReceiveSlackAction(ctx context.Context, d SlackDelivery) error {
	a, _, err := s.verifySlack(ctx, d)
	if err != nil {
		return err
	}
	form, err := url.ParseQuery(string(d.Body))
	if err != nil || len(form["payload"]) != 1 {
		return apperr.New(apperr.Invalid, "request body is not a Slack interaction")
	}
	var in slackAction
	if err := json.Unmarshal([]byte(form.Get("payload")), &in); err != nil {
		return apperr.New(apperr.Invalid, "request body is not a Slack interaction")
	}
	if in.Type != "block_actions" || len(in.Actions) != 1 || in.User.ID == "" ||
		(in.Actions[0].ActionID != "komand_approve" && in.Actions[0].ActionID != "komand_reject") {
		return nil // not a click on a review button: acknowledged
	}
	where := cmp.Or(in.Container.ChannelID, in.Channel.ID)
	c := click{member: in.User.ID, where: where, value: in.Actions[0].Value,
		mapped: slackTeamMatches(a, in.Team.ID, in.User.TeamID)}
	s.inBackground(ctx, a.ID, func(bctx context.Context) {
		answer, decided := s.handleClick(bctx, a, c)
		if decided && in.Container.MessageTS != "" {
			s.deliver(bctx, a, "", "click", outPayload{Op: opSlackUpdate, Text: answer, SlackChannel: where, MessageTS: in.Container.MessageTS})
			return
		}
		s.deliver(bctx, a, "", "click", outPayload{Op: opSlackEphemeral, Text: answer, SlackChannel: where, SlackUser: in.User.ID})
	})
	return nil
}

// slackPost calls chat.postMessage with the account's bot token.
func (s *Service) slackPost(ctx context.Context, a store.ChannelAccount, channelID, thread, text string) error {
	if len(text) > 40000 {
		text = text[:40000] // chat.postMessage's limit
	}
	// Previews off: Slack would otherwise fetch every link and image URL
	// in the reply (a zero-click channel out for data an injection put in
	// a URL).
	return s.slackCall(ctx, a, "chat.postMessage", map[string]any{"channel": channelID, "text": text, "thread_ts": thread,
		"unfurl_links": false, "unfurl_media": false})
}

// slackCall calls a Web API method with the account's bot token. Errors
// (*deliveryError) never carry the token or Slack's body.
func (s *Service) slackCall(ctx context.Context, a store.ChannelAccount, method string, args map[string]any) error {
	what := "slack: " + method
	token, err := s.secrets.PlatformSecret(ctx, a.TenantID, a.TokenCredentialID)
	if err != nil {
		return &deliveryError{class: ClassTokenUnavailable, retry: true, msg: "slack: bot token unavailable: " + err.Error()}
	}
	body, _ := json.Marshal(args)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.slackBase+"/api/"+method, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{class: ClassClientError, msg: "slack: bad request"}
	}
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := s.client.Do(req)
	if err != nil {
		return &deliveryError{class: ClassUnreachable, retry: true, msg: what + ": the Web API could not be reached"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return classify(what, resp.StatusCode, retryAfter(resp.Header.Get("Retry-After")))
	}
	var out struct {
		OK    bool   `json:"ok"`
		Error string `json:"error"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		return classify(what, resp.StatusCode, 0)
	}
	if !out.OK {
		e := &deliveryError{class: ClassAPIError, msg: fmt.Sprintf("%s: error %.64q", what, out.Error)}
		// Slack's own outages come as ok:false too: those are retried.
		switch out.Error {
		case "internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited":
			e.class, e.retry = ClassServerError, true
		}
		return e
	}
	return nil
}

// retryAfter reads a Retry-After header in seconds (at most a day).
func retryAfter(h string) time.Duration {
	n, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || n <= 0 {
		return 0
	}
	return time.Duration(min(n, 86400)) * time.Second
}
