package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// AccountChannels are the channels whose accounts can be configured.
var AccountChannels = []string{Webhook, Telegram, Slack, WebChat}

// Secrets reads a channel account's signing secret from the vault.
type Secrets interface {
	PlatformSecret(ctx context.Context, tenantID, credentialID string) (string, error)
	Exists(ctx context.Context, tenantID, credentialID string) (bool, error)
}

// Dispatch hands a verified inbound message to the agent runtime
// (session.Service.Handle, wired by the app) and returns the reply.
type Dispatch func(ctx context.Context, p authz.Principal, m InboundMessage) (Reply, error)

// Service manages channel accounts (RBAC resource "channels": Owner and
// Admin configure, every role reads) and receives signed webhook
// deliveries.
type Service struct {
	st       Store
	outbox   store.Outbox
	delivery DeliveryOptions
	secrets  Secrets
	authz    *authz.Authorizer
	audit    audit.Recorder
	dispatch Dispatch
	decide   Decide
	now      func() time.Time
	log      *slog.Logger

	visitors   *authn.VisitorTokens
	visitorTTL time.Duration

	client       *http.Client
	telegramBase string
	slackBase    string
	background   sync.WaitGroup // messages being answered asynchronously
}

// Options configure the outbound side of the adapters.
type Options struct {
	Client      *http.Client // default: 30 s timeout
	TelegramAPI string       // default https://api.telegram.org
	SlackAPI    string       // default https://slack.com
	// Visitors signs the tokens of public chat widgets' visitors (nil:
	// widgets are off); VisitorTTL is their life (default 1 h).
	Visitors   *authn.VisitorTokens
	VisitorTTL time.Duration
	// Delivery configures the outbox's retries (zero fields: defaults).
	Delivery DeliveryOptions
}

// Store is what the channel service keeps: accounts, replay protection
// and the outbox of replies.
type Store interface {
	store.Channels
	store.Outbox
	// GetUser reads the Komand user a platform sender is mapped to.
	GetUser(ctx context.Context, tenantID, id string) (store.User, error)
	// GetReview reads a review before it is posted to a review
	// destination.
	GetReview(ctx context.Context, tenantID, id string) (store.Review, error)
}

// recoverDispatch keeps a panic in an asynchronous reply (Slack,
// Telegram) or a delivery attempt from taking the whole server down: it
// is logged; a reply not yet in the outbox is dropped, one in it is
// retried when its lease ends.
func (s *Service) recoverDispatch(ctx context.Context, accountID string) {
	if r := recover(); r != nil {
		s.log.ErrorContext(ctx, "channel reply panicked", "account", accountID, "panic", fmt.Sprint(r))
	}
}

// inBackground answers a webhook asynchronously: f runs on its own
// goroutine (counted in s.background, so Wait and shutdown see it) with up
// to five minutes of a context that outlives the request, and a panic in
// it is recovered (recoverDispatch).
func (s *Service) inBackground(ctx context.Context, accountID string, f func(context.Context)) {
	s.background.Add(1)
	go func() {
		defer s.background.Done()
		defer s.recoverDispatch(ctx, accountID)
		bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Minute)
		defer cancel()
		f(bctx)
	}()
}

// NewService returns the channel service.
func NewService(st Store, secrets Secrets, az *authz.Authorizer, rec audit.Recorder, dispatch Dispatch, log *slog.Logger, now func() time.Time, o Options) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: 30 * time.Second}
	}
	if o.TelegramAPI == "" {
		o.TelegramAPI = "https://api.telegram.org"
	}
	if o.SlackAPI == "" {
		o.SlackAPI = "https://slack.com"
	}
	if o.VisitorTTL <= 0 {
		o.VisitorTTL = DefaultVisitorTTL
	}
	return &Service{st: st, outbox: st, delivery: o.Delivery.withDefaults(), secrets: secrets, authz: az, audit: rec, dispatch: dispatch, now: now, log: log,
		visitors: o.Visitors, visitorTTL: o.VisitorTTL, client: o.Client, telegramBase: strings.TrimRight(o.TelegramAPI, "/"), slackBase: strings.TrimRight(o.SlackAPI, "/")}
}

// Wait waits for messages being answered in the background.
func (s *Service) Wait() { s.background.Wait() }

// AccountInput is a new channel account.
type AccountInput struct {
	Channel            string
	AccountID          string
	AgentID            string
	SecretCredentialID string
	TokenCredentialID  string // Telegram: the bot token
	// AllowCommands lets the account's text run slash commands (Webhook
	// and Slack accounts only; see CommandChannels).
	AllowCommands bool
}

// CommandChannels are the channels whose accounts may allow slash
// commands: integrations that authenticate their deliveries (a signed
// webhook, a Slack workspace). Their text is data for the model unless an
// Admin sets allowCommands, and even then a consequential command is held
// for review. Telegram users and chat-widget visitors are public senders:
// their "/…" is never a command.
var CommandChannels = []string{Webhook, Slack}

// AccountUpdate changes an account's settings; nil fields keep theirs.
type AccountUpdate struct {
	AllowCommands *bool
	// SlackTeamID is a Slack account's workspace ("T…", "E…"; "" clears
	// it): member mappings then apply only to events of that team.
	SlackTeamID *string
	// ReviewDestination is where reviews held in the account's sessions
	// are posted with Approve / Reject buttons (review.go): a Slack
	// channel ID ("C…", "G…") or a Telegram chat ID; "" turns it off.
	ReviewDestination *string
}

// validateUpdate checks the settings of u that apply to account a.
func validateUpdate(a store.ChannelAccount, u AccountUpdate) error {
	var errs []error
	if u.AllowCommands != nil && *u.AllowCommands && !slices.Contains(CommandChannels, a.Channel) {
		errs = append(errs, errCommandsChannel)
	}
	if t := u.SlackTeamID; t != nil {
		switch {
		case a.Channel != Slack:
			errs = append(errs, apperr.Field("slackTeamId", "only a Slack account has a team"))
		case *t != "" && !slackTeamID.MatchString(*t):
			errs = append(errs, apperr.Field("slackTeamId", "must be a Slack team ID (T… or E…)"))
		}
	}
	if d := u.ReviewDestination; d != nil {
		if err := validDestination(a.Channel, *d); err != nil {
			errs = append(errs, err)
		}
	}
	return validate.First(errs...)
}

// ErrAccountNotFound is an account the caller cannot see.
var ErrAccountNotFound = apperr.New(apperr.NotFound, "channel account not found")

// CreateAccount binds a platform account to an agent.
func (s *Service) CreateAccount(ctx context.Context, p authz.Principal, in AccountInput) (store.ChannelAccount, error) {
	if err := s.authz.Check(ctx, p, authz.Create, authz.Channels, authz.Target{AgentID: in.AgentID}); err != nil {
		return store.ChannelAccount{}, err
	}
	errs := []error{
		validate.Slug("accountId", in.AccountID, validate.MaxIDLen),
		validate.Slug("agentId", in.AgentID, validate.MaxIDLen),
	}
	if in.Channel == WebChat {
		// A public chat widget: nothing to sign with, so no credentials.
		if in.SecretCredentialID != "" || in.TokenCredentialID != "" {
			errs = append(errs, apperr.Field("secretCredentialId", "a WebChat account takes no credentials"))
		}
	} else {
		errs = append(errs, validate.UUID("secretCredentialId", in.SecretCredentialID))
	}
	if !slices.Contains(AccountChannels, in.Channel) {
		errs = append([]error{apperr.Field("channel", "must be Webhook, Telegram, Slack or WebChat")}, errs...)
	}
	if in.Channel == Telegram || in.Channel == Slack || in.TokenCredentialID != "" {
		errs = append(errs, validate.UUID("tokenCredentialId", in.TokenCredentialID))
	}
	if in.AllowCommands && !slices.Contains(CommandChannels, in.Channel) {
		errs = append(errs, errCommandsChannel)
	}
	if err := validate.First(errs...); err != nil {
		return store.ChannelAccount{}, err
	}
	for _, c := range []struct{ id, what string }{{in.SecretCredentialID, "secret"}, {in.TokenCredentialID, "token"}} {
		if c.id == "" {
			continue
		}
		ok, err := s.secrets.Exists(ctx, p.TenantID, c.id)
		if err != nil {
			return store.ChannelAccount{}, err
		}
		if !ok {
			return store.ChannelAccount{}, apperr.New(apperr.NotFound, c.what+" credential not found")
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	a := store.ChannelAccount{TenantID: p.TenantID, ID: uuid.NewString(), Channel: in.Channel, AccountID: in.AccountID,
		AgentID: in.AgentID, SecretCredentialID: in.SecretCredentialID, TokenCredentialID: in.TokenCredentialID,
		AllowCommands: in.AllowCommands, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	created := accountEvent(audit.ChannelAccountCreated, a)
	if slices.Contains(CommandChannels, a.Channel) {
		created.Details["allowCommands"] = a.AllowCommands
	}
	err := audit.Do(ctx, s.audit, audit.By(p), created, func() error {
		return s.st.CreateChannelAccount(ctx, a)
	})
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.ChannelAccount{}, apperr.New(apperr.Conflict, "this channel already has an account with this accountId")
	case errors.Is(err, store.ErrNotFound):
		return store.ChannelAccount{}, apperr.New(apperr.NotFound, "agent not found")
	case err != nil:
		return store.ChannelAccount{}, err
	}
	return a, nil
}

var errCommandsChannel = apperr.Field("allowCommands", "only a Webhook or Slack account may allow commands")

// UpdateAccount changes an account's settings (allowCommands,
// slackTeamId, reviewDestination), as an Owner or Admin; the change is
// audited (ChannelAccountUpdated, with each changed setting's new value and
// its old one under "previous") before it is made.
func (s *Service) UpdateAccount(ctx context.Context, p authz.Principal, id string, in AccountUpdate) (store.ChannelAccount, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Channels, authz.Target{ID: id}); err != nil {
		return store.ChannelAccount{}, err
	}
	a, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return store.ChannelAccount{}, err
	}
	if in.AllowCommands == nil && in.SlackTeamID == nil && in.ReviewDestination == nil {
		return a, nil
	}
	if err := validateUpdate(a, in); err != nil {
		return store.ChannelAccount{}, err
	}
	ev := accountEvent(audit.ChannelAccountUpdated, a)
	previous := map[string]any{}
	if in.AllowCommands != nil {
		previous["allowCommands"], a.AllowCommands = a.AllowCommands, *in.AllowCommands
		ev.Details["allowCommands"] = a.AllowCommands
	}
	if in.SlackTeamID != nil {
		previous["slackTeamId"], a.SlackTeamID = a.SlackTeamID, *in.SlackTeamID
		ev.Details["slackTeamId"] = a.SlackTeamID
	}
	if in.ReviewDestination != nil {
		previous["reviewDestination"], a.ReviewDestination = a.ReviewDestination, *in.ReviewDestination
		ev.Details["reviewDestination"] = a.ReviewDestination
	}
	ev.Details["previous"] = previous
	a.UpdatedAt = s.now().UTC().Truncate(time.Microsecond)
	err = audit.Do(ctx, s.audit, audit.By(p), ev, func() error {
		return s.st.UpdateChannelAccount(ctx, a)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.ChannelAccount{}, ErrAccountNotFound
	}
	if err != nil {
		return store.ChannelAccount{}, err
	}
	return a, nil
}

// ListAccounts returns one page of the tenant's channel accounts.
func (s *Service) ListAccounts(ctx context.Context, p authz.Principal, pg store.Page) ([]store.ChannelAccount, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Channels, authz.Target{}); err != nil {
		return nil, 0, err
	}
	return s.st.ListChannelAccounts(ctx, p.TenantID, pg)
}

// GetAccount returns one channel account.
func (s *Service) GetAccount(ctx context.Context, p authz.Principal, id string) (store.ChannelAccount, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Channels, authz.Target{ID: id}); err != nil {
		return store.ChannelAccount{}, err
	}
	return s.get(ctx, p.TenantID, id)
}

func (s *Service) get(ctx context.Context, tenantID, id string) (store.ChannelAccount, error) {
	if validate.UUID("id", id) != nil {
		return store.ChannelAccount{}, ErrAccountNotFound
	}
	a, err := s.st.GetChannelAccount(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.ChannelAccount{}, ErrAccountNotFound
	}
	return a, err
}

// DeleteAccount removes a channel account; its webhook URL stops working.
func (s *Service) DeleteAccount(ctx context.Context, p authz.Principal, id string) error {
	if err := s.authz.Check(ctx, p, authz.Delete, authz.Channels, authz.Target{ID: id}); err != nil {
		return err
	}
	a, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return err
	}
	err = audit.Do(ctx, s.audit, audit.By(p), accountEvent(audit.ChannelAccountDeleted, a), func() error {
		return s.st.DeleteChannelAccount(ctx, p.TenantID, id)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrAccountNotFound
	}
	return err
}

// accountEvent is a change to channel account a.
func accountEvent(action audit.Action, a store.ChannelAccount) audit.Event {
	return audit.Event{Action: action, AgentID: a.AgentID,
		Details: map[string]any{"channelAccountId": a.ID, "channel": a.Channel, "accountId": a.AccountID}}
}

// ErrUnauthorized is every refused delivery's answer: the sender learns
// only that the signature is not valid, not why (the audit entry says).
var ErrUnauthorized = apperr.New(apperr.Unauthenticated, "invalid or missing webhook signature")

// MaxWebhookText bounds a delivery's text, as WebChat's.
const MaxWebhookText = 10000

// webhookBody is a generic webhook delivery.
type webhookBody struct {
	SenderID    string            `json:"senderId"`
	Text        string            `json:"text"`
	DisplayName string            `json:"displayName"`
	MessageID   string            `json:"messageId"`
	Metadata    map[string]string `json:"metadata"`
}

// Delivery is what the gateway read of one webhook request.
type Delivery struct {
	AccountID string // the channel account's ID, from the URL
	Timestamp string
	Signature string
	Body      []byte
}

// ReceiveWebhook verifies a signed delivery for a Webhook account and
// hands its message to the account's agent. A delivery for an unknown
// account, with a missing, bad or stale signature, or a replay of one
// already received, gets ErrUnauthorized and never reaches an agent; for a
// known account the refusal is audited (WebhookRejected, with the reason).
func (s *Service) ReceiveWebhook(ctx context.Context, d Delivery) (Reply, error) {
	a, err := s.account(ctx, d.AccountID, Webhook)
	if err != nil {
		return Reply{}, err
	}
	tenantID := a.TenantID
	secret, err := s.secrets.PlatformSecret(ctx, tenantID, a.SecretCredentialID)
	if err != nil {
		s.log.ErrorContext(ctx, "webhook signing secret unavailable", "account", a.ID, "err", err)
		return Reply{}, s.reject(ctx, a, "signing secret unavailable")
	}
	now := s.now()
	ts, err := Verify([]byte(secret), d.Timestamp, d.Signature, d.Body, now)
	if err != nil {
		return Reply{}, s.reject(ctx, a, err.Error())
	}
	if err := s.markSeen(ctx, a, ReplayKey(d.Timestamp, d.Body), now, ts.Add(replayRetention)); err != nil {
		return Reply{}, err
	}
	var b webhookBody
	if err := strictJSON(d.Body, &b); err != nil {
		return Reply{}, err
	}
	m := InboundMessage{MessageID: b.MessageID, Channel: Webhook, ChannelAccountID: a.AccountID, SenderID: b.SenderID,
		SenderDisplayName: b.DisplayName, Text: b.Text, Metadata: b.Metadata}
	p := authz.Principal{TenantID: tenantID, UserID: AccountActor(a.ID), Role: authz.Operator}
	return s.dispatch(ctx, p, m)
}

// account finds the channel account an inbound URL names, across tenants;
// an unknown account, or one of another channel, is ErrUnauthorized.
func (s *Service) account(ctx context.Context, id, ch string) (store.ChannelAccount, error) {
	if validate.UUID("account", id) != nil {
		return store.ChannelAccount{}, ErrUnauthorized
	}
	tenantID, err := s.st.TenantIDByChannelAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "delivery for an unknown channel account", "account", id, "channel", ch)
		return store.ChannelAccount{}, ErrUnauthorized
	}
	if err != nil {
		return store.ChannelAccount{}, err
	}
	a, err := s.st.GetChannelAccount(ctx, tenantID, id)
	if err != nil {
		return store.ChannelAccount{}, err
	}
	if a.Channel != ch {
		return store.ChannelAccount{}, s.reject(ctx, a, "delivery for a "+ch+" account that is a "+a.Channel+" account")
	}
	return a, nil
}

// markSeen records a delivery once per signing secret (not per account:
// two accounts sharing a secret would otherwise accept each other's
// deliveries), and turns a repeat into a recorded refusal.
func (s *Service) markSeen(ctx context.Context, a store.ChannelAccount, key string, now, until time.Time) error {
	err := s.st.MarkWebhookSeen(ctx, a.TenantID, "secret:"+a.SecretCredentialID, key, now, until)
	if errors.Is(err, store.ErrConflict) {
		return s.reject(ctx, a, "replayed delivery")
	}
	return err
}

// reject records a refused delivery and returns ErrUnauthorized.
func (s *Service) reject(ctx context.Context, a store.ChannelAccount, reason string) error {
	if err := s.audit.Record(ctx, audit.Event{TenantID: a.TenantID, Action: audit.WebhookRejected, ActorID: AccountActor(a.ID),
		AgentID: a.AgentID, Details: map[string]any{"channelAccountId": a.ID, "channel": a.Channel, "reason": reason}}); err != nil {
		return err
	}
	return ErrUnauthorized
}

// strictJSON decodes one JSON object with no unknown fields.
func strictJSON(b []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil || dec.More() {
		return apperr.New(apperr.Invalid, "request body is not a valid JSON message")
	}
	return nil
}
