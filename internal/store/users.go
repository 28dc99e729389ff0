package store

import (
	"context"
	"time"
)

// User is a person with one role in one tenant. Email is unique across the
// platform (compared case-insensitively) because login names no tenant.
//
// An invited user has no password yet (PasswordHash is empty) but an
// invitation: InviteHash is the hex SHA-256 of a one-time token, unique
// across the platform, and InviteExpiresAt its expiry. Both are empty (nil)
// when there is no pending invitation.
type User struct {
	ID              string
	TenantID        string
	Email           string
	Name            string
	Role            string
	PasswordHash    string
	Active          bool
	InviteHash      string
	InviteExpiresAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

// Users stores users. Role changes and deactivation keep at least one active
// owner per tenant atomically (ErrLastOwner).
type Users interface {
	// TenantIDByEmail finds which tenant an email belongs to. It and
	// TenantIDByInviteHash are the only user lookups that cross tenants,
	// and they return nothing but the ID.
	TenantIDByEmail(ctx context.Context, email string) (string, error)
	CreateUser(ctx context.Context, u User) error
	GetUser(ctx context.Context, tenantID, id string) (User, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (User, error)
	ListUsers(ctx context.Context, tenantID string, p Page) ([]User, int, error)
	// SetUserRole changes a user's role. It fails with ErrLastOwner when the
	// user is the tenant's last active owner and the new role is not owner.
	SetUserRole(ctx context.Context, tenantID, id, role string, now time.Time) (User, error)
	// DeactivateUser marks a user inactive, revokes its refresh-token
	// families and API keys, and fails with ErrLastOwner for the last active
	// owner.
	DeactivateUser(ctx context.Context, tenantID, id string, now time.Time) (User, error)
	// ReactivateUser marks an inactive user active again and sets UpdatedAt
	// to now. The credentials DeactivateUser revoked stay revoked: the user
	// logs in again and is issued new API keys. Reactivating an active user
	// changes nothing (UpdatedAt included). An unknown user, or another
	// tenant's, is ErrNotFound.
	ReactivateUser(ctx context.Context, tenantID, id string, now time.Time) (User, error)
	// TenantIDByInviteHash finds which tenant an invitation hash belongs
	// to, whatever the invitation's state (AcceptInvite decides whether it
	// is usable). Like TenantIDByEmail it crosses tenants and returns
	// nothing but the ID.
	TenantIDByInviteHash(ctx context.Context, hash string) (string, error)
	// UserByInviteHash returns the tenant's user holding that invitation,
	// whatever its state (expired, inactive), so the caller can check it
	// and record the acceptance before AcceptInvite applies it.
	UserByInviteHash(ctx context.Context, tenantID, hash string) (User, error)
	// AcceptInvite spends an invitation in one transaction: the active user
	// of the tenant whose InviteHash is hash and whose InviteExpiresAt is
	// after now gets passwordHash, its invitation fields are cleared and
	// UpdatedAt becomes now. It returns the updated user, or ErrNotFound
	// (and changes nothing) when no such user exists: unknown, spent or
	// expired invitation, inactive user, or another tenant's invitation.
	AcceptInvite(ctx context.Context, tenantID, hash, passwordHash string, now time.Time) (User, error)
}

// APIKey is a machine credential acting as its user. Only the SHA-256 of the
// key is stored; Prefix is the first characters, kept to tell keys apart.
type APIKey struct {
	ID         string
	TenantID   string
	UserID     string
	Name       string
	Prefix     string
	Hash       string
	CreatedAt  time.Time
	LastUsedAt *time.Time
	RevokedAt  *time.Time
}

// APIKeys stores API keys.
type APIKeys interface {
	// TenantIDByAPIKeyHash finds which tenant a key hash belongs to.
	TenantIDByAPIKeyHash(ctx context.Context, hash string) (string, error)
	CreateAPIKey(ctx context.Context, k APIKey) error
	// AuthenticateAPIKey returns the unrevoked key with that hash and its
	// user (active or not: the caller decides).
	AuthenticateAPIKey(ctx context.Context, tenantID, hash string) (APIKey, User, error)
	ListAPIKeys(ctx context.Context, tenantID, userID string) ([]APIKey, error)
	// GetAPIKey returns one key of the tenant, revoked or not.
	GetAPIKey(ctx context.Context, tenantID, id string) (APIKey, error)
	// ListTenantAPIKeys returns one page of the tenant's keys (only
	// f.UserID's when set), revoked ones included, oldest first, and the
	// total.
	ListTenantAPIKeys(ctx context.Context, tenantID string, f APIKeyFilter, p Page) ([]APIKey, int, error)
	RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error
	// TouchAPIKey sets the key's LastUsedAt to now if it is earlier (or
	// unset). An unknown key is ErrNotFound.
	TouchAPIKey(ctx context.Context, tenantID, id string, now time.Time) error
}

// APIKeyFilter narrows ListTenantAPIKeys.
type APIKeyFilter struct {
	UserID string // only this user's keys; "" for every user's
}

// RefreshToken is one link of a rotating refresh-token family. Only the hash
// of the token is stored.
type RefreshToken struct {
	Hash      string
	TenantID  string
	UserID    string
	FamilyID  string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// RefreshTokens stores refresh tokens and their families.
type RefreshTokens interface {
	// TenantIDByRefreshHash finds which tenant a refresh token belongs to.
	TenantIDByRefreshHash(ctx context.Context, hash string) (string, error)
	// CreateRefreshToken stores the first token of a new family.
	CreateRefreshToken(ctx context.Context, t RefreshToken) error
	// RotateRefreshToken spends the token with oldHash and stores next in
	// the same family, atomically; next's tenant, user and family are taken
	// from the spent token. It returns the spent token. A missing, expired
	// or revoked-family token gives ErrNotFound; a token that was already
	// spent gives ErrTokenReused after revoking (and committing the
	// revocation of) the whole family, and is returned alongside that error
	// so the caller can record which user and family were hit.
	RotateRefreshToken(ctx context.Context, tenantID, oldHash string, next RefreshToken, now time.Time) (RefreshToken, error)
	// RevokeRefreshFamily revokes a family (logout). Revoking a revoked or
	// unknown family is not an error.
	RevokeRefreshFamily(ctx context.Context, tenantID, familyID string, now time.Time) error
	// UserForSession returns the user of an access token if the token's
	// refresh family is still live (not revoked, not expired).
	UserForSession(ctx context.Context, tenantID, userID, familyID string, now time.Time) (User, error)
}

// PageKey is the user's position in UserList. Emails are unique
// case-insensitively, so the email alone is a position; the store lowers it
// itself when it reads the cursor, so Go's and SQL's case folding need not
// agree.
func (u User) PageKey() (List, []any) { return UserList, []any{u.Email} }

// PageKey is the key's position in APIKeyList.
func (k APIKey) PageKey() (List, []any) { return APIKeyList, []any{k.CreatedAt.UnixMicro(), k.ID} }
