package channel

import (
	"context"
	"errors"
	"regexp"
	"strconv"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// Member identities (issue 16). By default every Slack or Telegram sender
// is the channel account's principal ("channel:<id>"): not a Komand user,
// so they cannot confirm a held call in-channel or run slash commands, and
// everything consequential in their turns goes to the Admin review queue.
// An Owner or Admin maps a platform user of one account — a Slack member's
// user ID ("U…", "W…") within the account's workspace, a Telegram user's
// numeric ID — to a Komand user of the same tenant. A message from a mapped
// member then acts as that user: the principal has the user's ID and their
// current role (read at every message, never higher), is not public and
// not an account actor, so in-channel confirmation and slash commands
// apply to them as to the user's own API key. The session stays per
// platform sender.
//
// The identity is only ever taken from what the platform signed: a
// Telegram update's from.id (the secret-token header verified), a Slack
// event's user and team (the v0 signature verified; the team must be the
// account's when an Admin set slackTeamId, and the event's teams must
// agree, so a member of another workspace — Slack Connect, another
// installation of the same app — never matches). A mapping to a user who
// is deactivated, or whose role is unknown, is ignored: the sender stays a
// channel actor. Mappings are deleted with their account.

// IdentityChannels are the channels whose senders can be mapped.
var IdentityChannels = []string{Slack, Telegram}

// maxIdentities bounds one account's mappings (and the listing).
const maxIdentities = 1000

var (
	slackUserID = regexp.MustCompile(`^[UW][A-Z0-9]{1,20}$`)
	slackTeamID = regexp.MustCompile(`^[TE][A-Z0-9]{1,20}$`)
)

// validExternalID checks a platform user ID of channel ch.
func validExternalID(ch, id string) error {
	switch ch {
	case Slack:
		if slackUserID.MatchString(id) {
			return nil
		}
		return apperr.Field("externalId", "must be a Slack user ID (U… or W…)")
	case Telegram:
		if n, err := strconv.ParseInt(id, 10, 64); err == nil && n > 0 && strconv.FormatInt(n, 10) == id {
			return nil
		}
		return apperr.Field("externalId", "must be a Telegram user ID (a positive integer)")
	}
	return apperr.Field("externalId", "only Slack and Telegram accounts map their senders to users")
}

// IdentityInput maps a platform user to a Komand user.
type IdentityInput struct {
	ExternalID string
	UserID     string
}

var errIdentityTaken = apperr.New(apperr.Conflict, "this externalId is mapped already; delete its mapping first")

// ErrIdentityNotFound is a mapping the caller cannot see.
var ErrIdentityNotFound = apperr.New(apperr.NotFound, "identity mapping not found")

// identityEvent is a change to a mapping of account a.
func identityEvent(action audit.Action, a store.ChannelAccount, externalID, userID string) audit.Event {
	ev := accountEvent(action, a)
	ev.Details["externalId"], ev.Details["userId"] = externalID, userID
	return ev
}

// MapIdentity maps a Slack member or Telegram user of account id to a
// Komand user of p's tenant (Owner and Admin: channels:update), audited as
// ChannelIdentityMapped. The user must exist in the tenant and be active;
// an external ID is mapped once per account.
func (s *Service) MapIdentity(ctx context.Context, p authz.Principal, id string, in IdentityInput) (store.ChannelIdentity, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Channels, authz.Target{ID: id}); err != nil {
		return store.ChannelIdentity{}, err
	}
	a, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return store.ChannelIdentity{}, err
	}
	if err := validate.First(validExternalID(a.Channel, in.ExternalID), validate.UUID("userId", in.UserID)); err != nil {
		return store.ChannelIdentity{}, err
	}
	u, err := s.st.GetUser(ctx, p.TenantID, in.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return store.ChannelIdentity{}, apperr.New(apperr.NotFound, "user not found")
	}
	if err != nil {
		return store.ChannelIdentity{}, err
	}
	if !u.Active {
		return store.ChannelIdentity{}, apperr.Field("userId", "the user is deactivated")
	}
	// A taken external ID is refused before anything is recorded (the
	// store refuses a race the same way, then audited as failed).
	if _, err := s.st.ChannelIdentity(ctx, p.TenantID, a.ID, in.ExternalID); err == nil {
		return store.ChannelIdentity{}, errIdentityTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return store.ChannelIdentity{}, err
	}
	if n, err := s.st.ListChannelIdentities(ctx, p.TenantID, a.ID, maxIdentities); err != nil {
		return store.ChannelIdentity{}, err
	} else if len(n) >= maxIdentities {
		return store.ChannelIdentity{}, apperr.New(apperr.LimitReached, "this account has the most identity mappings it may have (1000)")
	}
	i := store.ChannelIdentity{TenantID: p.TenantID, ChannelAccountID: a.ID, ExternalID: in.ExternalID, UserID: u.ID,
		CreatedBy: p.UserID, CreatedAt: s.now().UTC().Truncate(time.Microsecond)}
	ev := identityEvent(audit.ChannelIdentityMapped, a, i.ExternalID, i.UserID)
	ev.Details["role"] = u.Role
	err = audit.Do(ctx, s.audit, audit.By(p), ev, func() error { return s.st.CreateChannelIdentity(ctx, i) })
	switch {
	case errors.Is(err, store.ErrConflict):
		return store.ChannelIdentity{}, errIdentityTaken
	case errors.Is(err, store.ErrNotFound):
		return store.ChannelIdentity{}, ErrAccountNotFound
	case err != nil:
		return store.ChannelIdentity{}, err
	}
	return i, nil
}

// ListIdentities returns account id's mappings, by external ID (Owner and
// Admin: who maps to whom is channel configuration, not for every role).
func (s *Service) ListIdentities(ctx context.Context, p authz.Principal, id string) ([]store.ChannelIdentity, error) {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Channels, authz.Target{ID: id}); err != nil {
		return nil, err
	}
	a, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return nil, err
	}
	return s.st.ListChannelIdentities(ctx, p.TenantID, a.ID, maxIdentities)
}

// UnmapIdentity deletes a mapping (ChannelIdentityUnmapped); the sender's
// next message is a channel actor's again.
func (s *Service) UnmapIdentity(ctx context.Context, p authz.Principal, id, externalID string) error {
	if err := s.authz.Check(ctx, p, authz.Update, authz.Channels, authz.Target{ID: id}); err != nil {
		return err
	}
	a, err := s.get(ctx, p.TenantID, id)
	if err != nil {
		return err
	}
	i, err := s.st.ChannelIdentity(ctx, p.TenantID, a.ID, externalID)
	if errors.Is(err, store.ErrNotFound) {
		return ErrIdentityNotFound
	}
	if err != nil {
		return err
	}
	err = audit.Do(ctx, s.audit, audit.By(p), identityEvent(audit.ChannelIdentityUnmapped, a, i.ExternalID, i.UserID), func() error {
		return s.st.DeleteChannelIdentity(ctx, p.TenantID, a.ID, externalID)
	})
	if errors.Is(err, store.ErrNotFound) {
		return ErrIdentityNotFound
	}
	return err
}

// sender is the principal of a message from platform user externalID on
// account a: the mapped Komand user when there is an active one (with
// their current role), otherwise the account's principal (public: a
// Telegram user). A store error fails the message (never a fallback to a
// stronger identity: the fallback is the weaker one).
func (s *Service) sender(ctx context.Context, a store.ChannelAccount, externalID string, public bool) (authz.Principal, error) {
	actor := authz.Principal{TenantID: a.TenantID, UserID: AccountActor(a.ID), Role: authz.Operator, Public: public}
	if externalID == "" || validExternalID(a.Channel, externalID) != nil {
		return actor, nil
	}
	i, err := s.st.ChannelIdentity(ctx, a.TenantID, a.ID, externalID)
	if errors.Is(err, store.ErrNotFound) {
		return actor, nil
	}
	if err != nil {
		return authz.Principal{}, err
	}
	u, err := s.st.GetUser(ctx, a.TenantID, i.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return actor, nil
	}
	if err != nil {
		return authz.Principal{}, err
	}
	role, ok := authz.ParseRole(u.Role)
	if !u.Active || !ok {
		s.log.InfoContext(ctx, "mapped channel sender ignored: the user is deactivated", "account", a.ID, "user", u.ID)
		return actor, nil
	}
	return authz.Principal{TenantID: a.TenantID, UserID: u.ID, Email: u.Email, Name: u.Name, Role: role}, nil
}

// slackTeamMatches reports whether a Slack event's teams allow its member
// to be mapped: every team the event names (the envelope's team_id, the
// event's team and user_team) is the same, it names one at all, and it is
// the account's when the Admin set the account's team.
func slackTeamMatches(a store.ChannelAccount, teams ...string) bool {
	want := a.SlackTeamID
	seen := false
	for _, t := range teams {
		if t == "" {
			continue
		}
		if want == "" {
			want = t
		}
		if t != want {
			return false
		}
		seen = true
	}
	return seen
}
