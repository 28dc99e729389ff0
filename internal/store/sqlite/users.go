package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// roleOwner is the role whose last active holder cannot be demoted or
// deactivated. store.go names no role constants, so it is spelled here.
const roleOwner = "owner"

const userCols = "id, tenant_id, email, name, role, password_hash, active, invite_hash, invite_expires_at, created_at, updated_at"

// userRow holds the scan destinations of userCols, so queries that join
// users to something else (API keys) scan them the same way.
type userRow struct {
	u                store.User
	inviteHash       sql.NullString
	inviteExpires    sql.NullInt64
	created, updated int64
}

func (r *userRow) dest() []any {
	return []any{&r.u.ID, &r.u.TenantID, &r.u.Email, &r.u.Name, &r.u.Role, &r.u.PasswordHash,
		&r.u.Active, &r.inviteHash, &r.inviteExpires, &r.created, &r.updated}
}

func (r *userRow) user() store.User {
	u := r.u
	u.InviteHash = r.inviteHash.String
	u.InviteExpiresAt = fromNullMicros(r.inviteExpires)
	u.CreatedAt = fromMicros(r.created)
	u.UpdatedAt = fromMicros(r.updated)
	return u
}

func scanUser(sc scanner) (store.User, error) {
	var r userRow
	if err := sc.Scan(r.dest()...); err != nil {
		return store.User{}, err
	}
	return r.user(), nil
}

// nullString stores "" as NULL, for columns whose absence is NULL.
func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func getUser(ctx context.Context, q querier, tenantID, id string) (store.User, error) {
	return scanUser(q.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM komand_users WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

// TenantIDByEmail returns the tenant of the user with that email, compared
// case-insensitively. It is one of the two user queries without a tenant
// filter (with TenantIDByInviteHash), and it returns nothing but the tenant
// ID.
func (s *Store) TenantIDByEmail(ctx context.Context, email string) (string, error) {
	var id string
	err := s.rq.QueryRowContext(ctx,
		`SELECT tenant_id FROM komand_users WHERE lower(email) = lower(?)`, email).Scan(&id)
	return id, wrap("tenant by email", err)
}

// TenantIDByInviteHash returns the tenant of the user with that invitation
// hash, expired or not; AcceptInvite then decides whether it is usable.
// Like TenantIDByEmail it has no tenant filter and returns only the ID.
func (s *Store) TenantIDByInviteHash(ctx context.Context, hash string) (string, error) {
	var id string
	err := s.rq.QueryRowContext(ctx,
		`SELECT tenant_id FROM komand_users WHERE invite_hash = ?`, hash).Scan(&id)
	return id, wrap("tenant by invite", err)
}

// CreateUser stores a user; a taken ID, email (in any tenant, any case) or
// invitation hash gives store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.write(ctx, "create user", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.TenantID, u.Email, u.Name, u.Role, u.PasswordHash, boolInt(u.Active),
			nullString(u.InviteHash), nullMicros(u.InviteExpiresAt),
			micros(u.CreatedAt), micros(u.UpdatedAt))
		return err
	})
}

// GetUser returns the user with that ID in the tenant.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (store.User, error) {
	u, err := getUser(ctx, s.rq, tenantID, id)
	return u, wrap("get user", err)
}

// GetUserByEmail returns the user with that email (any case) in the tenant.
func (s *Store) GetUserByEmail(ctx context.Context, tenantID, email string) (store.User, error) {
	u, err := scanUser(s.rq.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM komand_users WHERE tenant_id = ? AND lower(email) = lower(?)`,
		tenantID, email))
	return u, wrap("get user by email", err)
}

// UserByInviteHash returns the tenant's user holding the invitation.
func (s *Store) UserByInviteHash(ctx context.Context, tenantID, hash string) (store.User, error) {
	u, err := scanUser(s.rq.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM komand_users WHERE tenant_id = ? AND invite_hash = ?`,
		tenantID, hash))
	return u, wrap("user by invite", err)
}

// ListUsers returns one page of the tenant's users ordered by email
// case-insensitively (unique: komand_users_email_key), and their total up to
// store.CountLimit+1. The cursor's email is lowered here, by the same lower()
// as the index komand_users_tenant_email.
func (s *Store) ListUsers(ctx context.Context, tenantID string, p store.Page) ([]store.User, int, error) {
	var email string
	return listPage(ctx, s, listQuery{op: "list users", tenantID: tenantID, from: "komand_users", cols: userCols,
		where: "tenant_id = ?", args: []any{tenantID}, order: "lower(email)",
		list: store.UserList, after: "lower(email) > lower(?)", key: []any{&email}}, p, scanUser)
}

// keepAnOwner fails with store.ErrLastOwner unless the tenant has an active
// owner other than userID. It runs inside the write transaction that makes
// the change, and writes are serialised, so two admins demoting the last two
// owners at the same moment cannot both succeed.
func keepAnOwner(ctx context.Context, tx txQuerier, u store.User) error {
	if !u.Active || u.Role != roleOwner {
		return nil // u does not count as an active owner anyway
	}
	var others bool
	if err := tx.QueryRowContext(ctx,
		`SELECT EXISTS (SELECT 1 FROM komand_users
		 WHERE tenant_id = ? AND id <> ? AND role = ? AND active = 1)`,
		u.TenantID, u.ID, roleOwner).Scan(&others); err != nil {
		return err
	}
	if !others {
		return store.ErrLastOwner
	}
	return nil
}

// SetUserRole changes a user's role, refusing to demote the tenant's last
// active owner.
func (s *Store) SetUserRole(ctx context.Context, tenantID, id, role string, now time.Time) (store.User, error) {
	var u store.User
	err := s.write(ctx, "set user role", func(tx txQuerier) error {
		cur, err := getUser(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if role != roleOwner {
			if err := keepAnOwner(ctx, tx, cur); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_users SET role = ?, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			role, micros(now), tenantID, id); err != nil {
			return err
		}
		u, err = getUser(ctx, tx, tenantID, id)
		return err
	})
	return u, err
}

// DeactivateUser marks a user inactive and, in the same transaction, revokes
// every API key and refresh-token family of the user, so no credential of a
// deactivated user keeps working. The last active owner cannot be
// deactivated.
func (s *Store) DeactivateUser(ctx context.Context, tenantID, id string, now time.Time) (store.User, error) {
	var u store.User
	err := s.write(ctx, "deactivate user", func(tx txQuerier) error {
		cur, err := getUser(ctx, tx, tenantID, id)
		if err != nil {
			return err
		}
		if err := keepAnOwner(ctx, tx, cur); err != nil {
			return err
		}
		at := micros(now)
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_users SET active = 0, updated_at = ? WHERE tenant_id = ? AND id = ?`,
			at, tenantID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_api_keys SET revoked_at = ?
			 WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL`,
			at, tenantID, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_refresh_families SET revoked_at = ?
			 WHERE tenant_id = ? AND user_id = ? AND revoked_at IS NULL`,
			at, tenantID, id); err != nil {
			return err
		}
		u, err = getUser(ctx, tx, tenantID, id)
		return err
	})
	return u, err
}

// ReactivateUser marks an inactive user active again; its revoked
// credentials stay revoked. An active user is returned unchanged.
func (s *Store) ReactivateUser(ctx context.Context, tenantID, id string, now time.Time) (store.User, error) {
	var u store.User
	err := s.write(ctx, "reactivate user", func(tx txQuerier) error {
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_users SET active = 1, updated_at = ?
			 WHERE tenant_id = ? AND id = ? AND active = 0`,
			micros(now), tenantID, id); err != nil {
			return err
		}
		var err error
		u, err = getUser(ctx, tx, tenantID, id)
		return err
	})
	return u, err
}

// AcceptInvite sets the password of the active user of the tenant with that
// unexpired invitation and clears the invitation, in one statement: a
// second acceptance of the same invitation finds no row.
func (s *Store) AcceptInvite(ctx context.Context, tenantID, hash, passwordHash string, now time.Time) (store.User, error) {
	var u store.User
	err := s.write(ctx, "accept invite", func(tx txQuerier) error {
		var err error
		u, err = scanUser(tx.QueryRowContext(ctx,
			`UPDATE komand_users
			 SET password_hash = ?, invite_hash = NULL, invite_expires_at = NULL, updated_at = ?
			 WHERE tenant_id = ? AND invite_hash = ? AND invite_expires_at > ? AND active = 1
			 RETURNING `+userCols,
			passwordHash, micros(now), tenantID, hash, micros(now)))
		return err
	})
	return u, err
}
