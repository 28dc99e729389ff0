package channel

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// AccountChannels are the channels whose accounts can be configured.
var AccountChannels = []string{Webhook}

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
	st       store.Channels
	secrets  Secrets
	authz    *authz.Authorizer
	audit    audit.Recorder
	dispatch Dispatch
	now      func() time.Time
	log      *slog.Logger
}

// NewService returns the channel service.
func NewService(st store.Channels, secrets Secrets, az *authz.Authorizer, rec audit.Recorder, dispatch Dispatch, log *slog.Logger, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{st: st, secrets: secrets, authz: az, audit: rec, dispatch: dispatch, now: now, log: log}
}

// AccountInput is a new channel account.
type AccountInput struct {
	Channel            string
	AccountID          string
	AgentID            string
	SecretCredentialID string
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
		validate.UUID("secretCredentialId", in.SecretCredentialID),
	}
	if !slices.Contains(AccountChannels, in.Channel) {
		errs = append([]error{apperr.Field("channel", "must be Webhook")}, errs...)
	}
	if err := validate.First(errs...); err != nil {
		return store.ChannelAccount{}, err
	}
	ok, err := s.secrets.Exists(ctx, p.TenantID, in.SecretCredentialID)
	if err != nil {
		return store.ChannelAccount{}, err
	}
	if !ok {
		return store.ChannelAccount{}, apperr.New(apperr.NotFound, "secret credential not found")
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	a := store.ChannelAccount{TenantID: p.TenantID, ID: uuid.NewString(), Channel: in.Channel, AccountID: in.AccountID,
		AgentID: in.AgentID, SecretCredentialID: in.SecretCredentialID, CreatedBy: p.UserID, CreatedAt: now, UpdatedAt: now}
	if err := s.record(ctx, p, audit.ChannelAccountCreated, a, nil); err != nil {
		return store.ChannelAccount{}, err
	}
	if err := s.st.CreateChannelAccount(ctx, a); err != nil {
		_ = s.record(context.WithoutCancel(ctx), p, audit.ChannelAccountCreated, a, map[string]any{"outcome": "failed"})
		switch {
		case errors.Is(err, store.ErrConflict):
			return store.ChannelAccount{}, apperr.New(apperr.Conflict, "this channel already has an account with this accountId")
		case errors.Is(err, store.ErrNotFound):
			return store.ChannelAccount{}, apperr.New(apperr.NotFound, "agent not found")
		}
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
	if err := s.record(ctx, p, audit.ChannelAccountDeleted, a, nil); err != nil {
		return err
	}
	if err := s.st.DeleteChannelAccount(ctx, p.TenantID, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return ErrAccountNotFound
		}
		return err
	}
	return nil
}

func (s *Service) record(ctx context.Context, p authz.Principal, action audit.Action, a store.ChannelAccount, extra map[string]any) error {
	details := map[string]any{"channelAccountId": a.ID, "channel": a.Channel, "accountId": a.AccountID}
	for k, v := range extra {
		details[k] = v
	}
	return s.audit.Record(ctx, audit.Event{TenantID: p.TenantID, Action: action, ActorID: p.UserID, AgentID: a.AgentID, Details: details})
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
	if validate.UUID("account", d.AccountID) != nil {
		return Reply{}, ErrUnauthorized
	}
	tenantID, err := s.st.TenantIDByChannelAccount(ctx, d.AccountID)
	if errors.Is(err, store.ErrNotFound) {
		s.log.InfoContext(ctx, "webhook for an unknown channel account", "account", d.AccountID)
		return Reply{}, ErrUnauthorized
	}
	if err != nil {
		return Reply{}, err
	}
	a, err := s.st.GetChannelAccount(ctx, tenantID, d.AccountID)
	if err != nil {
		return Reply{}, err
	}
	if a.Channel != Webhook {
		return Reply{}, s.reject(ctx, a, "not a webhook account")
	}
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
	if err := s.st.MarkWebhookSeen(ctx, tenantID, a.ID, d.Signature, now, ts.Add(ReplayWindow)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return Reply{}, s.reject(ctx, a, "replayed delivery")
		}
		return Reply{}, err
	}
	var b webhookBody
	if err := strictJSON(d.Body, &b); err != nil {
		return Reply{}, err
	}
	m := InboundMessage{MessageID: b.MessageID, Channel: Webhook, ChannelAccountID: a.AccountID, SenderID: b.SenderID,
		SenderDisplayName: b.DisplayName, Text: b.Text, Metadata: b.Metadata}
	p := authz.Principal{TenantID: tenantID, UserID: "channel:" + a.ID, Role: authz.Operator}
	return s.dispatch(ctx, p, m)
}

// reject records a refused delivery and returns ErrUnauthorized.
func (s *Service) reject(ctx context.Context, a store.ChannelAccount, reason string) error {
	if err := s.audit.Record(ctx, audit.Event{TenantID: a.TenantID, Action: audit.WebhookRejected, ActorID: "channel:" + a.ID,
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
