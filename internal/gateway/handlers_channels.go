package gateway

import (
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/channel"
	"github.com/komand-ai/komand/internal/store"
)

type channelAccountResponse struct {
	ID                 string `json:"id"`
	Channel            string `json:"channel"`
	AccountID          string `json:"accountId"`
	AgentID            string `json:"agentId"`
	SecretCredentialID string `json:"secretCredentialId"`
	TokenCredentialID  string `json:"tokenCredentialId,omitempty"`
	// AllowCommands: the account's text may run slash commands (Webhook
	// and Slack only; consequential ones are held for review).
	AllowCommands bool `json:"allowCommands"`
	// SlackTeamID: a Slack account's workspace; member mappings apply
	// only to its events.
	SlackTeamID string `json:"slackTeamId,omitempty"`
	// ReviewDestination: where reviews held in the account's sessions
	// are posted with Approve / Reject buttons (Slack channel, Telegram
	// chat).
	ReviewDestination string `json:"reviewDestination,omitempty"`
	WebhookPath       string `json:"webhookPath,omitempty"`
	// InteractivityPath: a Slack account's Interactivity Request URL (the
	// review buttons' clicks).
	InteractivityPath string `json:"interactivityPath,omitempty"`
	// ChatPagePath is a WebChat account's public chat page (the widget
	// to embed); its ID is the widgetId the page exchanges for visitor
	// tokens.
	ChatPagePath string    `json:"chatPagePath,omitempty"`
	CreatedBy    string    `json:"createdBy"`
	CreatedAt    time.Time `json:"createdAt"`
}

func channelAccountJSON(a store.ChannelAccount) channelAccountResponse {
	out := channelAccountResponse{ID: a.ID, Channel: a.Channel, AccountID: a.AccountID, AgentID: a.AgentID,
		SecretCredentialID: a.SecretCredentialID, TokenCredentialID: a.TokenCredentialID,
		AllowCommands: a.AllowCommands, SlackTeamID: a.SlackTeamID, ReviewDestination: a.ReviewDestination,
		CreatedBy: a.CreatedBy, CreatedAt: a.CreatedAt}
	if a.Channel == channel.WebChat {
		out.ChatPagePath = "/chat?widget=" + a.ID
	} else {
		out.WebhookPath = "/hooks/" + strings.ToLower(a.Channel) + "/" + a.ID
	}
	if a.Channel == channel.Slack {
		out.InteractivityPath = out.WebhookPath + "/interactivity"
	}
	return out
}

func (s *Server) createChannelAccount(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	var b struct {
		Channel            string `json:"channel"`
		AccountID          string `json:"accountId"`
		AgentID            string `json:"agentId"`
		SecretCredentialID string `json:"secretCredentialId"`
		TokenCredentialID  string `json:"tokenCredentialId"`
		AllowCommands      bool   `json:"allowCommands"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	a, err := s.deps.Channels.CreateAccount(r.Context(), p, channel.AccountInput{Channel: b.Channel, AccountID: b.AccountID,
		AgentID: b.AgentID, SecretCredentialID: b.SecretCredentialID, TokenCredentialID: b.TokenCredentialID,
		AllowCommands: b.AllowCommands})
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, channelAccountJSON(a))
}

func (s *Server) listChannelAccounts(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	pg, err := pagination(r)
	if err != nil {
		return err
	}
	as, total, err := s.deps.Channels.ListAccounts(r.Context(), p, pg)
	if err != nil {
		return err
	}
	out := make([]channelAccountResponse, len(as))
	for i, a := range as {
		out[i] = channelAccountJSON(a)
	}
	return okList(w, out, total, pg, store.Next(p.TenantID, pg, as))
}

func (s *Server) getChannelAccount(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	a, err := s.deps.Channels.GetAccount(r.Context(), p, id)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, channelAccountJSON(a))
}

// updateChannelAccount changes an account's settings: {"allowCommands":
// true|false, "slackTeamId": "T…"|"", "reviewDestination": "C…"|"<chat
// id>"|""}. An
// absent field keeps its value; null is refused.
func (s *Server) updateChannelAccount(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	var b struct {
		AllowCommands opt[bool]   `json:"allowCommands"`
		SlackTeamID   opt[string] `json:"slackTeamId"`
		ReviewDest    opt[string] `json:"reviewDestination"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	var u channel.AccountUpdate
	if u.AllowCommands, err = b.AllowCommands.ptr("allowCommands"); err != nil {
		return err
	}
	if u.SlackTeamID, err = b.SlackTeamID.ptr("slackTeamId"); err != nil {
		return err
	}
	if u.ReviewDestination, err = b.ReviewDest.ptr("reviewDestination"); err != nil {
		return err
	}
	a, err := s.deps.Channels.UpdateAccount(r.Context(), p, id, u)
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, channelAccountJSON(a))
}

type channelIdentityResponse struct {
	ExternalID string    `json:"externalId"`
	UserID     string    `json:"userId"`
	CreatedBy  string    `json:"createdBy"`
	CreatedAt  time.Time `json:"createdAt"`
}

func channelIdentityJSON(i store.ChannelIdentity) channelIdentityResponse {
	return channelIdentityResponse{ExternalID: i.ExternalID, UserID: i.UserID, CreatedBy: i.CreatedBy, CreatedAt: i.CreatedAt}
}

// mapChannelIdentity maps a Slack member or Telegram user of the account
// to a Komand user: {"externalId": "U…"|"<telegram user id>", "userId":
// "<uuid>"}.
func (s *Server) mapChannelIdentity(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	var b struct {
		ExternalID string `json:"externalId"`
		UserID     string `json:"userId"`
	}
	if err := decode(r, &b); err != nil {
		return err
	}
	i, err := s.deps.Channels.MapIdentity(r.Context(), p, id, channel.IdentityInput{ExternalID: b.ExternalID, UserID: b.UserID})
	if err != nil {
		return err
	}
	return ok(w, http.StatusCreated, channelIdentityJSON(i))
}

func (s *Server) listChannelIdentities(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	is, err := s.deps.Channels.ListIdentities(r.Context(), p, id)
	if err != nil {
		return err
	}
	out := make([]channelIdentityResponse, len(is))
	for k, i := range is {
		out[k] = channelIdentityJSON(i)
	}
	return ok(w, http.StatusOK, out)
}

func (s *Server) unmapChannelIdentity(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	if err := s.deps.Channels.UnmapIdentity(r.Context(), p, id, r.PathValue("externalId")); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}

func (s *Server) deleteChannelAccount(w http.ResponseWriter, r *http.Request, p authz.Principal) error {
	id, err := pathUUID(r, "accountId")
	if err != nil {
		return err
	}
	if err := s.deps.Channels.DeleteAccount(r.Context(), p, id); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"deleted": true})
}

// readRaw reads a delivery's body as JSON bytes (a signature or secret
// covers them as they are).
func readRaw(r *http.Request) ([]byte, error) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil, apperr.New(apperr.UnsupportedMedia, "Content-Type must be application/json")
	}
	return readBody(r)
}

// readBody reads a request's body as it is.
func readBody(r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, apperr.Wrap(err, apperr.TooLarge, "request body is too large")
		}
		return nil, apperr.Wrap(err, apperr.Invalid, "request body could not be read")
	}
	return body, nil
}

// receiveTelegram is a Telegram Bot API webhook delivery; it is answered
// at once and the reply is sent with sendMessage.
func (s *Server) receiveTelegram(w http.ResponseWriter, r *http.Request) error {
	body, err := readRaw(r)
	if err != nil {
		return err
	}
	if err := s.deps.Channels.ReceiveTelegram(r.Context(), channel.TelegramDelivery{AccountID: r.PathValue("accountId"),
		Secret: r.Header.Get(channel.TelegramSecretHeader), Body: body}); err != nil {
		return err
	}
	return ok(w, http.StatusOK, map[string]bool{"accepted": true})
}

// receiveSlack is a Slack Events API request. url_verification is answered
// with the bare challenge, as Slack requires; everything else with 200.
func (s *Server) receiveSlack(w http.ResponseWriter, r *http.Request) error {
	body, err := readRaw(r)
	if err != nil {
		return err
	}
	challenge, err := s.deps.Channels.ReceiveSlack(r.Context(), channel.SlackDelivery{AccountID: r.PathValue("accountId"),
		Timestamp: r.Header.Get(channel.SlackTimestampHeader), Signature: r.Header.Get(channel.SlackSignatureHeader), Body: body})
	if err != nil {
		return err
	}
	if challenge != "" {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, challenge)
		return nil
	}
	return ok(w, http.StatusOK, map[string]bool{"accepted": true})
}

// receiveSlackAction is a Slack interactivity request (a form, payload=…,
// signed like the Events API's): a click on a review's button. It is
// answered with an empty 200 at once; the outcome is posted to Slack.
func (s *Server) receiveSlackAction(w http.ResponseWriter, r *http.Request) error {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/x-www-form-urlencoded" {
		return apperr.New(apperr.UnsupportedMedia, "Content-Type must be application/x-www-form-urlencoded")
	}
	body, err := readBody(r)
	if err != nil {
		return err
	}
	if err := s.deps.Channels.ReceiveSlackAction(r.Context(), channel.SlackDelivery{AccountID: r.PathValue("accountId"),
		Timestamp: r.Header.Get(channel.SlackTimestampHeader), Signature: r.Header.Get(channel.SlackSignatureHeader), Body: body}); err != nil {
		return err
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

// receiveWebhook is a signed generic-webhook delivery: no bearer
// credential, the signature is the authentication. The body is read raw,
// because the signature covers its exact bytes.
func (s *Server) receiveWebhook(w http.ResponseWriter, r *http.Request) error {
	body, err := readRaw(r)
	if err != nil {
		return err
	}
	_ = http.NewResponseController(w).SetWriteDeadline(time.Now().Add(turnDeadline))
	reply, err := s.deps.Channels.ReceiveWebhook(r.Context(), channel.Delivery{AccountID: r.PathValue("accountId"),
		Timestamp: r.Header.Get(channel.TimestampHeader), Signature: r.Header.Get(channel.SignatureHeader), Body: body})
	if err != nil {
		return err
	}
	return ok(w, http.StatusOK, webchatResponse{SessionID: reply.SessionID, Text: reply.Text, Timestamp: reply.Timestamp})
}
