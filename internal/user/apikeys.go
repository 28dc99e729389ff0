package user

import (
	"context"
	"errors"
	"time"

	"github.com/komand-ai/komand/internal/apperr"
	"github.com/komand-ai/komand/internal/audit"
	"github.com/komand-ai/komand/internal/authz"
	"github.com/komand-ai/komand/internal/store"
	"github.com/komand-ai/komand/internal/validate"
)

// KeyIssuer creates an API key for a user and records APIKeyCreated
// (authn.Service.CreateAPIKey); it returns the key in plaintext, once.
type KeyIssuer func(ctx context.Context, tenantID, userID, name, actorID string) (string, store.APIKey, error)

// APIKeys manages API keys: machine credentials acting as their user.
//
// Rules:
//   - only a role the matrix lets manage API keys (Owner) issues them, for
//     any active user of the tenant, itself included: a key carries its
//     user's whole role, so issuing one is user management (security.md's
//     RBAC table gives that to the Owner alone);
//   - the Owner lists and revokes every key of the tenant; any other user
//     lists and revokes its own keys only, and another user's key is, to
//     it, not found (404; the attempt is recorded as PermissionDenied);
//   - a listing shows metadata, never the key or its hash;
//   - revoking a revoked key answers it as it is and records nothing.
//
// A revoked key stops working at once on the replica that revoked it and
// within the authentication cache's TTL (2 s by default) on the others.
type APIKeys struct {
	st    store.Store
	authz *authz.Authorizer
	audit audit.Recorder
	issue KeyIssuer
	now   func() time.Time
}

// NewAPIKeys returns the API-key service.
func NewAPIKeys(st store.Store, az *authz.Authorizer, rec audit.Recorder, issue KeyIssuer, now func() time.Time) *APIKeys {
	if now == nil {
		now = time.Now
	}
	return &APIKeys{st: st, authz: az, audit: rec, issue: issue, now: now}
}

// MaxAPIKeyNameChars bounds a key's name.
const MaxAPIKeyNameChars = 100

var errKeyNotFound = apperr.New(apperr.NotFound, "API key not found")

// Create issues a key named name acting as userID ("" for the caller) and
// returns it in plaintext, which is never available again.
func (s *APIKeys) Create(ctx context.Context, p authz.Principal, userID, name string) (string, store.APIKey, error) {
	if userID == "" {
		userID = p.UserID
	}
	t := authz.Target{ID: userID}
	if err := s.authz.Check(ctx, p, authz.Create, authz.APIKeys, t); err != nil {
		return "", store.APIKey{}, err
	}
	if err := validate.First(validate.UUID("userId", userID), validate.Name("name", name, MaxAPIKeyNameChars)); err != nil {
		return "", store.APIKey{}, err
	}
	u, err := s.st.GetUser(ctx, p.TenantID, userID)
	if errors.Is(err, store.ErrNotFound) {
		return "", store.APIKey{}, errNotFound
	} else if err != nil {
		return "", store.APIKey{}, err
	}
	if !p.Role.CanGrant(authz.Role(u.Role)) {
		return "", store.APIKey{}, s.authz.Deny(ctx, p, authz.Create, authz.APIKeys, t, "cannot issue a key acting as a role above one's own")
	}
	if !u.Active {
		return "", store.APIKey{}, errInactive
	}
	return s.issue(ctx, p.TenantID, userID, name, p.UserID)
}

// List returns one page of the keys p may see: the tenant's for the Owner,
// its own for anyone else.
func (s *APIKeys) List(ctx context.Context, p authz.Principal, pg store.Page) ([]store.APIKey, int, error) {
	if p.IsZero() {
		return nil, 0, s.authz.Deny(ctx, p, authz.Read, authz.APIKeys, authz.Target{}, "no principal")
	}
	if err := validate.Pagination(pg.Page, pg.PageSize); err != nil {
		return nil, 0, err
	}
	f := store.APIKeyFilter{}
	if !authz.Allowed(p.Role, authz.Read, authz.APIKeys) {
		f.UserID = p.UserID
	}
	return s.st.ListTenantAPIKeys(ctx, p.TenantID, f, pg)
}

// Revoke revokes a key p may see.
func (s *APIKeys) Revoke(ctx context.Context, p authz.Principal, id string) (store.APIKey, error) {
	if p.IsZero() {
		return store.APIKey{}, s.authz.Deny(ctx, p, authz.Delete, authz.APIKeys, authz.Target{ID: id}, "no principal")
	}
	if err := validate.UUID("id", id); err != nil {
		return store.APIKey{}, err
	}
	k, err := s.st.GetAPIKey(ctx, p.TenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, errKeyNotFound
	} else if err != nil {
		return store.APIKey{}, err
	}
	if k.UserID != p.UserID && !authz.Allowed(p.Role, authz.Delete, authz.APIKeys) {
		// Someone else's key: not found to the caller, on the record
		// as a denial.
		if err := s.authz.Deny(ctx, p, authz.Delete, authz.APIKeys, authz.Target{ID: id}, "not the key's user"); !errors.Is(err, authz.ErrDenied) {
			return store.APIKey{}, err
		}
		return store.APIKey{}, errKeyNotFound
	}
	return s.revoke(ctx, p, k)
}

// RevokeFromCLI revokes any key of the tenant for the CLI, whose operator
// already holds the database; the audit entry names actor "cli".
func (s *APIKeys) RevokeFromCLI(ctx context.Context, tenantID, id string) (store.APIKey, error) {
	k, err := s.st.GetAPIKey(ctx, tenantID, id)
	if errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, errKeyNotFound
	} else if err != nil {
		return store.APIKey{}, err
	}
	return s.revoke(ctx, authz.Principal{TenantID: tenantID, UserID: "cli"}, k)
}

// ListFromCLI lists the tenant's keys (only userID's when set) for the CLI.
func (s *APIKeys) ListFromCLI(ctx context.Context, tenantID, userID string, pg store.Page) ([]store.APIKey, int, error) {
	return s.st.ListTenantAPIKeys(ctx, tenantID, store.APIKeyFilter{UserID: userID}, pg)
}

func (s *APIKeys) revoke(ctx context.Context, p authz.Principal, k store.APIKey) (store.APIKey, error) {
	if k.RevokedAt != nil {
		return k, nil
	}
	// Neither the key nor its hash: the prefix is what owners see.
	details := map[string]any{"keyId": k.ID, "userId": k.UserID, "name": k.Name, "prefix": k.Prefix}
	now := s.now().UTC()
	err := audit.Do(ctx, s.audit, audit.By(p), audit.Event{Action: audit.APIKeyRevoked, Details: details}, func() error {
		return s.st.RevokeAPIKey(ctx, p.TenantID, k.ID, now)
	})
	if errors.Is(err, store.ErrNotFound) {
		return store.APIKey{}, errKeyNotFound
	}
	if err != nil {
		return store.APIKey{}, err
	}
	// Read back for the revocation time as stored (a concurrent revoke
	// keeps the first).
	out, err := s.st.GetAPIKey(ctx, p.TenantID, k.ID)
	if err != nil {
		return store.APIKey{}, err
	}
	return out, nil
}
