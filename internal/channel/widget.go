package channel

import (
	"context"
	"errors"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// A public chat widget lets anonymous visitors of a business's website
// talk to an agent without any Komand credential of their own.
//
// An Admin creates a WebChat channel account; its global ID is the widget
// ID, public by design (it is in the page that embeds the widget, like a
// webhook URL without a secret). A visitor's page exchanges it for a
// visitor token (StartVisitor): short-lived, signed under a key derived
// from the JWT key, naming the tenant, the widget and a visitor ID the
// server chose. The token is accepted by the WebChat message endpoints
// only; there it fixes the channel account and the sender, so a visitor
// can reach only its own session, and it stops working as soon as the
// account is deleted. Nothing else of the API accepts it.

// DefaultVisitorTTL is a visitor token's life unless configured.
const DefaultVisitorTTL = time.Hour

// visitorGrace is how long after expiry a token may still be exchanged
// for a new one of the same visitor (so a conversation survives a tab
// left open); after it the visitor starts afresh.
const visitorGrace = 24 * time.Hour

// WidgetActor is the audit actor of a widget's visitors.
func WidgetActor(widgetID string) string { return "widget:" + widgetID }

// Visitor is an authenticated anonymous visitor.
type Visitor struct {
	Principal authz.Principal
	// AccountID is the WebChat channel account's accountId (the session
	// key's middle part); SenderID the visitor ID.
	AccountID string
	SenderID  string
}

// VisitorToken is what StartVisitor returns to the visitor's page.
type VisitorToken struct {
	Token     string
	VisitorID string
	AccountID string
	ExpiresAt time.Time
}

// ErrWidgetNotFound is an unknown widget ID, or one that is not a WebChat
// account: both look the same to the caller.
var ErrWidgetNotFound = apperr.New(apperr.NotFound, "chat widget not found")

// ErrVisitorUnauthorized is every refused visitor token.
var ErrVisitorUnauthorized = apperr.New(apperr.Unauthenticated, "the chat session has expired; reload the page")

// StartVisitor gives a visitor of widget widgetID a token. previous, when
// not empty, is the visitor's earlier token for the same widget (live or
// expired less than a day ago): the new token keeps its visitor ID, so the
// conversation goes on. Any other previous token is ignored, not an
// error: the visitor simply starts a new conversation.
func (s *Service) StartVisitor(ctx context.Context, widgetID, previous string) (VisitorToken, error) {
	if s.visitors == nil {
		return VisitorToken{}, ErrWidgetNotFound
	}
	a, err := s.widget(ctx, widgetID)
	if err != nil {
		return VisitorToken{}, err
	}
	visitorID, renewed := authn.NewVisitorID(), false
	if previous != "" {
		if c, err := s.visitors.Verify(previous, visitorGrace); err == nil && c.WidgetID == a.ID && c.TenantID == a.TenantID {
			visitorID, renewed = c.VisitorID, true
		}
	}
	if err := s.audit.Record(ctx, audit.Event{TenantID: a.TenantID, Action: audit.WebChatVisitorStarted,
		ActorID: WidgetActor(a.ID), AgentID: a.AgentID, Details: map[string]any{
			"channelAccountId": a.ID, "accountId": a.AccountID, "visitorId": visitorID, "renewed": renewed}}); err != nil {
		return VisitorToken{}, err
	}
	tok, c, err := s.visitors.Issue(authn.VisitorClaims{TenantID: a.TenantID, WidgetID: a.ID, VisitorID: visitorID}, s.visitorTTL)
	if err != nil {
		return VisitorToken{}, err
	}
	return VisitorToken{Token: tok, VisitorID: visitorID, AccountID: a.AccountID, ExpiresAt: c.ExpiresAt}, nil
}

// AuthenticateVisitor checks a visitor token and that its widget still
// exists. The principal may send WebChat messages as the visitor and do
// nothing else: the gateway hands it to the message endpoints only.
func (s *Service) AuthenticateVisitor(ctx context.Context, token string) (Visitor, error) {
	if s.visitors == nil {
		return Visitor{}, ErrVisitorUnauthorized
	}
	c, err := s.visitors.Verify(token, 0)
	if err != nil {
		s.log.InfoContext(ctx, "visitor token refused", "err", err)
		return Visitor{}, ErrVisitorUnauthorized
	}
	a, err := s.st.GetChannelAccount(ctx, c.TenantID, c.WidgetID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Channel != WebChat) {
		s.log.InfoContext(ctx, "visitor token for a widget that no longer exists", "widget", c.WidgetID)
		return Visitor{}, ErrVisitorUnauthorized
	}
	if err != nil {
		return Visitor{}, err
	}
	return Visitor{
		Principal: authz.Principal{TenantID: a.TenantID, UserID: WidgetActor(a.ID), Role: authz.Operator, Public: true},
		AccountID: a.AccountID, SenderID: c.VisitorID,
	}, nil
}

// widget finds a WebChat account by its global ID, across tenants.
func (s *Service) widget(ctx context.Context, id string) (store.ChannelAccount, error) {
	if validate.UUID("widgetId", id) != nil {
		return store.ChannelAccount{}, ErrWidgetNotFound
	}
	tenantID, err := s.st.TenantIDByChannelAccount(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.ChannelAccount{}, ErrWidgetNotFound
	}
	if err != nil {
		return store.ChannelAccount{}, err
	}
	a, err := s.st.GetChannelAccount(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && a.Channel != WebChat) {
		return store.ChannelAccount{}, ErrWidgetNotFound
	}
	return a, err
}
