// Package user owns tenants' user management: creating and inviting users,
// accepting invitations, listing users, changing roles and deactivating,
// with the RBAC rules that go with it.
//
// A user created without a password is invited: it gets no usable password
// but a one-time invitation token ("kmi_…", authn.NewInviteToken), shown
// once to the Owner who hands it to the invitee and stored only as its
// SHA-256. The invitee sets a password with AcceptInvite within InviteTTL;
// after that the token is spent and the user logs in normally.
//
// Rules enforced here (with authz.Check for the matrix):
//   - only roles that may manage users (Owner) create, invite, re-role,
//     deactivate or reactivate;
//   - a deactivated user's role cannot be changed (409) until it is
//     reactivated;
//   - nobody grants a role above their own (authz.Role.CanGrant);
//   - the last active Owner of a tenant cannot be demoted or deactivated
//     (enforced atomically by the store);
//   - the role always comes from the authenticated principal, never from the
//     request body.
//
// Like the agent service, changes are audited before they are applied and
// fail if the audit entry cannot be stored.
package user

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authn"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// PasswordHasher hashes a password after checking the password policy.
type PasswordHasher func(password string) (string, error)

// TokenGenerator returns a new random invitation token, which must pass
// authn.IsInviteToken.
type TokenGenerator func() string

// InviteTTL is how long an invitation can be accepted.
const InviteTTL = 7 * 24 * time.Hour

// Service manages users.
type Service struct {
	st       store.Store
	authz    *authz.Authorizer
	audit    audit.Recorder
	hash     PasswordHasher
	newToken TokenGenerator
	now      func() time.Time
}

// New returns a Service. newToken nil means authn.NewInviteToken.
func New(st store.Store, az *authz.Authorizer, rec audit.Recorder, hash PasswordHasher, newToken TokenGenerator, now func() time.Time) *Service {
	if newToken == nil {
		newToken = authn.NewInviteToken
	}
	if now == nil {
		now = time.Now
	}
	return &Service{st: st, authz: az, audit: rec, hash: hash, newToken: newToken, now: now}
}

// CreateInput is a new user. An empty Password makes Create invite the
// user instead.
type CreateInput struct {
	Email    string
	Name     string
	Role     string
	Password string
}

// Invitation is the one-time token of an invited user, in plaintext. It is
// returned once, by Create, and is never available again.
type Invitation struct {
	Token     string
	ExpiresAt time.Time
}

// msgBadInvite is the one answer to every unusable invitation: unknown,
// malformed, expired, spent, of a deactivated user.
const msgBadInvite = "invalid or expired invitation"

var (
	errNotFound   = apperr.New(apperr.NotFound, "user not found")
	errLastOwner  = apperr.New(apperr.Conflict, "the last owner of a tenant cannot be demoted or deactivated")
	errEmailTaken = apperr.New(apperr.Conflict, "a user with this email already exists")
	errInactive   = apperr.New(apperr.Conflict, "the user is deactivated; reactivate it first")
)

// Create adds a user to p's tenant: with the password given or, when
// in.Password is empty, as an invited user, whose Invitation is returned
// (its Token is empty otherwise).
func (s *Service) Create(ctx context.Context, p authz.Principal, in CreateInput) (store.User, Invitation, error) {
	if err := s.authz.Check(ctx, p, authz.Create, authz.Users, authz.Target{}); err != nil {
		return store.User{}, Invitation{}, err
	}
	u, inv, err := s.prepare(in, in.Password == "")
	if err != nil {
		return store.User{}, Invitation{}, err
	}
	if !p.Role.CanGrant(authz.Role(u.Role)) {
		return store.User{}, Invitation{}, s.authz.Deny(ctx, p, authz.Create, authz.Users, authz.Target{},
			"cannot grant a role above one's own")
	}
	u.TenantID = p.TenantID
	if err := s.insert(ctx, u, audit.By(p)); err != nil {
		return store.User{}, Invitation{}, err
	}
	return u, inv, nil
}

// Bootstrap adds a user without a principal. It is for the CLI, whose
// operator already holds the database; the audit entry names actor "cli".
// A password is required: the CLI does not invite.
func (s *Service) Bootstrap(ctx context.Context, tenantID string, in CreateInput) (store.User, error) {
	u, _, err := s.prepare(in, false)
	if err != nil {
		return store.User{}, err
	}
	u.TenantID = tenantID
	return u, s.insert(ctx, u, audit.Actor{TenantID: tenantID, UserID: "cli"})
}

// prepare validates in and builds the user: with in.Password hashed, or,
// when invite is set, with no password and a new invitation.
func (s *Service) prepare(in CreateInput, invite bool) (store.User, Invitation, error) {
	u, err := s.prepareUser(in, invite)
	if err != nil || !invite {
		return u, Invitation{}, err
	}
	inv := Invitation{Token: s.newToken(), ExpiresAt: u.CreatedAt.Add(InviteTTL)}
	if !authn.IsInviteToken(inv.Token) {
		return store.User{}, Invitation{}, errors.New("user: the token generator made a malformed invitation token")
	}
	u.InviteHash = authn.HashToken(inv.Token)
	u.InviteExpiresAt = &inv.ExpiresAt
	return u, inv, nil
}

func (s *Service) prepareUser(in CreateInput, invite bool) (store.User, error) {
	email, err := validate.Email("email", in.Email)
	if err != nil {
		return store.User{}, err
	}
	name := strings.TrimSpace(in.Name)
	if name == "" {
		name = email[:strings.IndexByte(email, '@')]
	}
	if err := validate.First(validate.MaxLen("name", name, validate.MaxNameLen), validate.Line("name", name)); err != nil {
		return store.User{}, err
	}
	role, ok := authz.ParseRole(in.Role)
	if !ok {
		return store.User{}, apperr.Field("role", "must be one of owner, admin, operator, viewer")
	}
	hash := "" // an invited user has no usable password until it accepts
	if !invite {
		if err := validate.Required("password", in.Password); err != nil {
			return store.User{}, err
		}
		if hash, err = s.hash(in.Password); err != nil {
			return store.User{}, err
		}
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	return store.User{
		ID:           uuid.Must(uuid.NewV7()).String(),
		Email:        email,
		Name:         name,
		Role:         string(role),
		PasswordHash: hash,
		Active:       true,
		CreatedAt:    now,
		UpdatedAt:    now,
	}, nil
}

func (s *Service) insert(ctx context.Context, u store.User, by audit.Actor) error {
	if _, err := s.st.TenantIDByEmail(ctx, u.Email); err == nil {
		return errEmailTaken
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	// The invitation token is never recorded, nor its hash.
	details := map[string]any{"userId": u.ID, "email": u.Email, "role": u.Role}
	action := audit.UserCreated
	if u.InviteHash != "" {
		action = audit.UserInvited
	}
	err := audit.Do(ctx, s.audit, by, audit.Event{TenantID: u.TenantID, Action: action, Details: details}, func() error {
		return s.st.CreateUser(ctx, u)
	})
	if errors.Is(err, store.ErrConflict) {
		return errEmailTaken
	}
	return err
}

// AcceptInvite sets the first password of an invited user with its
// invitation token and spends the invitation. It needs no principal: the
// token is the credential. Every unusable token (malformed, unknown,
// expired, spent, of a deactivated user) gets the same 401; a password the
// policy refuses gets its 400 and leaves the invitation usable.
//
// The acceptance is recorded (UserInviteAccepted, the user as actor) once
// it has happened, because only then is the user known; if that record
// cannot be stored the call fails with an internal error although the
// password is set.
func (s *Service) AcceptInvite(ctx context.Context, token, password string) (store.User, error) {
	bad := apperr.New(apperr.Unauthenticated, msgBadInvite)
	// Syntax first: garbage never reaches the store.
	if !authn.IsInviteToken(token) {
		return store.User{}, bad
	}
	hash := authn.HashToken(token)
	tid, err := s.st.TenantIDByInviteHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, bad
	} else if err != nil {
		return store.User{}, err
	}
	holder, err := s.st.UserByInviteHash(ctx, tid, hash)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, bad
	} else if err != nil {
		return store.User{}, err
	}
	now := s.now().UTC().Truncate(time.Microsecond)
	if !holder.Active || holder.InviteExpiresAt == nil || !now.Before(*holder.InviteExpiresAt) {
		return store.User{}, bad
	}
	// Only a live invitation costs a password hash.
	pwHash, err := s.hash(password)
	if err != nil {
		return store.User{}, err
	}
	// Recorded before it is applied, like every change (fail closed).
	details := map[string]any{"userId": holder.ID, "email": holder.Email, "role": holder.Role}
	var u store.User
	err = audit.Do(ctx, s.audit, audit.Actor{TenantID: tid, UserID: holder.ID},
		audit.Event{Action: audit.UserInviteAccepted, Details: details}, func() error {
			var err error
			u, err = s.st.AcceptInvite(ctx, tid, hash, pwHash, now)
			return err
		})
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, bad // spent meanwhile, or deactivated
	}
	if err != nil {
		return store.User{}, err
	}
	if u.TenantID != tid || u.ID != holder.ID {
		return store.User{}, fmt.Errorf("accept invite: store returned another user than the invitation's holder")
	}
	// The hash has no business travelling further, where it could end up
	// serialised.
	u.PasswordHash = ""
	return u, nil
}

// Get returns one user of p's tenant.
func (s *Service) Get(ctx context.Context, p authz.Principal, id string) (store.User, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Users, authz.Target{ID: id}); err != nil {
		return store.User{}, err
	}
	u, err := s.st.GetUser(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	}
	return u, err
}

// List returns one page of p's tenant's users.
func (s *Service) List(ctx context.Context, p authz.Principal, pg store.Page) ([]store.User, int, error) {
	if err := s.authz.Check(ctx, p, authz.Read, authz.Users, authz.Target{}); err != nil {
		return nil, 0, err
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	return s.st.ListUsers(ctx, p.TenantID, pg)
}

// SetRole changes a user's role.
func (s *Service) SetRole(ctx context.Context, p authz.Principal, id, role string) (store.User, error) {
	t := authz.Target{ID: id}
	if err := s.authz.Check(ctx, p, authz.Update, authz.Users, t); err != nil {
		return store.User{}, err
	}
	r, ok := authz.ParseRole(role)
	if !ok {
		return store.User{}, apperr.Field("role", "must be one of owner, admin, operator, viewer")
	}
	old, err := s.st.GetUser(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	} else if err != nil {
		return store.User{}, err
	}
	// Neither the new role nor the user's current one may rank above the
	// caller's: an Admin-level manager could otherwise demote an Owner.
	if !p.Role.CanGrant(r) || !p.Role.CanGrant(authz.Role(old.Role)) {
		return store.User{}, s.authz.Deny(ctx, p, authz.Update, authz.Users, t, "cannot grant or change a role above one's own")
	}
	// A deactivated user's role is not changed: the change would be
	// answered as if it took effect while the user can do nothing, and
	// promoting an inactive user to owner would not keep a tenant owned.
	if !old.Active {
		return store.User{}, errInactive
	}
	if old.Role == string(r) {
		return old, nil
	}
	var u store.User
	err = audit.Do(ctx, s.audit, audit.By(p), audit.Event{Action: audit.UserRoleChanged,
		Details: map[string]any{"userId": id, "from": old.Role, "to": string(r)}}, func() error {
		var err error
		u, err = s.st.SetUserRole(ctx, p.TenantID, id, string(r), s.now().UTC())
		return err
	})
	return u, mapErr(err)
}

// Deactivate disables a user: no login, and its sessions and API keys stop
// working at once.
func (s *Service) Deactivate(ctx context.Context, p authz.Principal, id string) (store.User, error) {
	old, err := s.subject(ctx, p, authz.Delete, id, "deactivate")
	if err != nil {
		return store.User{}, err
	}
	if !old.Active {
		return old, nil
	}
	var u store.User
	err = audit.Do(ctx, s.audit, audit.By(p), audit.Event{Action: audit.UserDeactivated,
		Details: map[string]any{"userId": id, "role": old.Role}}, func() error {
		var err error
		u, err = s.st.DeactivateUser(ctx, p.TenantID, id, s.now().UTC())
		return err
	})
	return u, mapErr(err)
}

// Reactivate lets a deactivated user log in again. Only roles that may
// change users (Owner) reactivate, and not a user whose role ranks above
// their own. The credentials revoked at deactivation stay revoked: the user
// logs in with its password (or is issued new API keys). Reactivating an
// active user changes nothing and records nothing, like deactivating an
// inactive one.
func (s *Service) Reactivate(ctx context.Context, p authz.Principal, id string) (store.User, error) {
	old, err := s.subject(ctx, p, authz.Update, id, "reactivate")
	if err != nil {
		return store.User{}, err
	}
	return s.reactivate(ctx, p, old)
}

// subject authorizes verb on user id for p and loads the user: not found
// for no such user in p's tenant, and a recorded denial for one whose role
// ranks above p's (change names what was refused).
func (s *Service) subject(ctx context.Context, p authz.Principal, verb authz.Verb, id, change string) (store.User, error) {
	t := authz.Target{ID: id}
	if err := s.authz.Check(ctx, p, verb, authz.Users, t); err != nil {
		return store.User{}, err
	}
	old, err := s.st.GetUser(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	} else if err != nil {
		return store.User{}, err
	}
	if !p.Role.CanGrant(authz.Role(old.Role)) {
		return store.User{}, s.authz.Deny(ctx, p, verb, authz.Users, t, "cannot "+change+" a user whose role ranks above one's own")
	}
	return old, nil
}

// ReactivateByEmail is Reactivate for the CLI, whose operator already holds
// the database: no principal, and the audit entry names actor "cli".
func (s *Service) ReactivateByEmail(ctx context.Context, tenantID, email string) (store.User, error) {
	old, err := s.st.GetUserByEmail(ctx, tenantID, authn.NormalizeEmail(email))
	if errors.Is(err, store.ErrNotFound) {
		return store.User{}, errNotFound
	} else if err != nil {
		return store.User{}, err
	}
	return s.reactivate(ctx, authz.Principal{TenantID: tenantID, UserID: "cli"}, old)
}

func (s *Service) reactivate(ctx context.Context, p authz.Principal, old store.User) (store.User, error) {
	if old.Active {
		return old, nil
	}
	var u store.User
	err := audit.Do(ctx, s.audit, audit.By(p), audit.Event{Action: audit.UserReactivated,
		Details: map[string]any{"userId": old.ID, "role": old.Role}}, func() error {
		var err error
		u, err = s.st.ReactivateUser(ctx, p.TenantID, old.ID, s.now().UTC())
		return err
	})
	return u, mapErr(err)
}

// mapErr turns store errors into public ones.
func mapErr(err error) error {
	switch {
	case errors.Is(err, store.ErrLastOwner):
		return errLastOwner
	case errors.Is(err, store.ErrNotFound):
		return errNotFound
	}
	return err
}
