package channel

import (
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Telegram is the Telegram channel's name.
const Telegram = "Telegram"

// TelegramSecretHeader carries the secret_token given to setWebhook.
const TelegramSecretHeader = "X-Telegram-Bot-Api-Secret-Token"

// telegramMaxAge is the oldest message accepted: Telegram keeps undelivered
// updates for 24 hours; an older one is a replay.
const telegramMaxAge = 24 * time.Hour

// tgUpdate is the part of a Telegram Update Komand reads (unknown fields
// are ignored: the Bot API adds fields over time).
type tgUpdate struct {
	UpdateID int64 `json:"update_id"`
	Message  *struct {
		MessageID int64  `json:"message_id"`
		Date      int64  `json:"date"`
		Text      string `json:"text"`
		From      *struct {
			ID        int64  `json:"id"`
			FirstName string `json:"first_name"`
			Username  string `json:"username"`
		} `json:"from"`
		Chat struct {
			ID int64 `json:"id"`
		} `json:"chat"`
	} `json:"message"`
	CallbackQuery *struct {
		ID   string `json:"id"`
		From *struct {
			ID int64 `json:"id"`
		} `json:"from"`
		Message *struct {
			MessageID int64 `json:"message_id"`
			Chat      struct {
				ID int64 `json:"id"`
			} `json:"chat"`
		} `json:"message"`
		Data string `json:"data"`
	} `json:"callback_query"`
}

// TelegramDelivery is one Bot API webhook request.
type TelegramDelivery struct {
	AccountID string
	Secret    string // the X-Telegram-Bot-Api-Secret-Token header
	Body      []byte
}

// ReceiveTelegram verifies a Bot API webhook delivery (the secret token
// set with setWebhook, compared in constant time; each update once; no
// message older than 24 hours) and answers it: the message goes to the
// account's agent in the background and the reply is sent with
// sendMessage, so Telegram gets its 200 at once. A refused delivery gets
// ErrUnauthorized and, for a known account, a WebhookRejected entry.
func (s *Service) ReceiveTelegram(ctx context.Context, d TelegramDelivery) error {
	a, err := s.account(ctx, d.AccountID, Telegram)
	if err != nil {
		return err
	}
	secret, err := s.secrets.PlatformSecret(ctx, a.TenantID, a.SecretCredentialID)
	if err != nil {
		s.log.ErrorContext(ctx, "telegram secret token unavailable", "account", a.ID, "err", err)
		return s.reject(ctx, a, "secret token unavailable")
	}
	if d.Secret == "" || subtle.ConstantTimeCompare([]byte(d.Secret), []byte(secret)) != 1 {
		return s.reject(ctx, a, "secret token does not match")
	}
	var u tgUpdate
	if err := json.Unmarshal(d.Body, &u); err != nil || u.UpdateID <= 0 {
		return apperr.New(apperr.Invalid, "request body is not a Telegram update")
	}
	now := s.now()
	if q := u.CallbackQuery; q != nil && q.From != nil && q.ID != "" && q.Message != nil {
		// A click on a posted review's button (review.go).
		if err := s.st.MarkWebhookSeen(ctx, a.TenantID, a.ID, "update:"+strconv.FormatInt(u.UpdateID, 10), now, now.Add(telegramMaxAge+time.Hour)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return nil
			}
			return err
		}
		c := click{member: strconv.FormatInt(q.From.ID, 10), mapped: true,
			where: strconv.FormatInt(q.Message.Chat.ID, 10), value: q.Data}
		chatID, messageID, queryID := q.Message.Chat.ID, q.Message.MessageID, q.ID
		s.inBackground(ctx, a.ID, func(bctx context.Context) {
			answer, decided := s.handleClick(bctx, a, c)
			s.deliver(bctx, a, "", "click", outPayload{Op: opTelegramAnswer, Text: answer, CallbackID: queryID})
			if decided {
				s.deliver(bctx, a, "", "click", outPayload{Op: opTelegramEdit, Text: answer, ChatID: chatID, MessageID: messageID})
			}
		})
		return nil
	}
	if u.Message == nil || u.Message.From == nil || strings.TrimSpace(u.Message.Text) == "" {
		return nil // not a text message (an edit, a sticker, a join): acknowledged, nothing to answer
	}
	if sent := time.Unix(u.Message.Date, 0); now.Sub(sent) > telegramMaxAge || sent.Sub(now) > ReplayWindow {
		return s.reject(ctx, a, "message date outside the accepted window")
	}
	if err := s.st.MarkWebhookSeen(ctx, a.TenantID, a.ID, "update:"+strconv.FormatInt(u.UpdateID, 10), now, now.Add(telegramMaxAge+time.Hour)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return nil // Telegram retries a delivery it did not see acknowledged: answered once already
		}
		return err
	}
	m := InboundMessage{MessageID: strconv.FormatInt(u.Message.MessageID, 10), Channel: Telegram, ChannelAccountID: a.AccountID,
		SenderID: strconv.FormatInt(u.Message.From.ID, 10), SenderDisplayName: validate.StripLine(u.Message.From.FirstName), Text: u.Message.Text,
		Timestamp: time.Unix(u.Message.Date, 0).UTC(),
		Metadata:  map[string]string{"chatId": strconv.FormatInt(u.Message.Chat.ID, 10)}}
	chatID := u.Message.Chat.ID
	s.inBackground(ctx, a.ID, func(bctx context.Context) {
		// The sender is the signed update's from.id: a Komand user when an
		// Admin mapped it (identities.go), a public sender otherwise.
		p, err := s.sender(bctx, a, m.SenderID, true)
		var reply Reply
		if err == nil {
			reply, err = s.dispatch(bctx, p, m)
		}
		text := reply.Text
		if err != nil {
			// The user gets the same plain message the API would give.
			text = publicText(err)
		}
		s.deliver(bctx, a, reply.SessionID, m.MessageID, outPayload{Text: text, ChatID: chatID})
	})
	return nil
}

// DeniedReply answers a sender whose Komand role may not do what they
// asked.
const DeniedReply = "Your Komand role does not allow this; ask an administrator."

// publicText is the message of an error that is safe to show a user.
func publicText(err error) string {
	if errors.Is(err, authz.ErrDenied) {
		// A mapped member whose Komand role may not do this (a Viewer
		// may not send messages).
		return DeniedReply
	}
	if e, ok := apperr.As(err); ok && e.Kind != apperr.Internal {
		return e.Message
	}
	return "Sorry, something went wrong. Please try again."
}

// telegramSend calls the Bot API's sendMessage with the account's bot
// token.
func (s *Service) telegramSend(ctx context.Context, a store.ChannelAccount, chatID int64, text string) error {
	if len(text) > 4096 {
		text = text[:4096] // the Bot API's limit
	}
	// Link previews off: Telegram would otherwise fetch the first URL in
	// the reply (a zero-click channel out for data an injection put in a
	// URL). No parse_mode: the text is shown as sent, never as markup.
	return s.telegramCall(ctx, a, "sendMessage", map[string]any{"chat_id": chatID, "text": text,
		"link_preview_options": map[string]any{"is_disabled": true}})
}

// telegramCall calls a Bot API method with the account's bot token.
// Errors (*deliveryError) never carry the URL (it holds the token) or the
// API's body.
func (s *Service) telegramCall(ctx context.Context, a store.ChannelAccount, method string, args map[string]any) error {
	what := "telegram: " + method
	token, err := s.secrets.PlatformSecret(ctx, a.TenantID, a.TokenCredentialID)
	if err != nil {
		return &deliveryError{class: ClassTokenUnavailable, retry: true, msg: "telegram: bot token unavailable: " + err.Error()}
	}
	body, _ := json.Marshal(args)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.telegramBase+"/bot"+token+"/"+method, bytes.NewReader(body))
	if err != nil {
		return &deliveryError{class: ClassClientError, msg: "telegram: bad request"}
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return &deliveryError{class: ClassUnreachable, retry: true, msg: what + ": the Bot API could not be reached"}
	}
	defer resp.Body.Close()
	var out struct {
		OK         bool `json:"ok"`
		Parameters struct {
			RetryAfter int `json:"retry_after"`
		} `json:"parameters"`
	}
	decodeErr := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	if resp.StatusCode != http.StatusOK || decodeErr != nil || !out.OK {
		wait := retryAfter(resp.Header.Get("Retry-After"))
		if n := out.Parameters.RetryAfter; n > 0 {
			wait = time.Duration(min(n, 86400)) * time.Second
		}
		status := resp.StatusCode
		if status == http.StatusOK && decodeErr == nil {
			status = http.StatusBadRequest // ok:false with 200: a refusal
		}
		return classify(what, status, wait)
	}
	return nil
}
