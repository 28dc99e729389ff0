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

const userCols = "id, tenant_id, email, name, role, password_hash, active, created_at, updated_at"

func scanUser(sc scanner) (store.User, error) {
	var u store.User
	var created, updated int64
	if err := sc.Scan(&u.ID, &u.TenantID, &u.Email, &u.Name, &u.Role, &u.PasswordHash,
		&u.Active, &created, &updated); err != nil {
		return store.User{}, err
	}
	u.CreatedAt = fromMicros(created)
	u.UpdatedAt = fromMicros(updated)
	return u, nil
}

func getUser(ctx context.Context, q querier, tenantID, id string) (store.User, error) {
	return scanUser(q.QueryRowContext(ctx,
		`SELECT `+userCols+` FROM komand_users WHERE tenant_id = ? AND id = ?`, tenantID, id))
}

// TenantIDByEmail returns the tenant of the user with that email, compared
// case-insensitively. It is the one user query without a tenant filter, and
// it returns nothing but the tenant ID.
func (s *Store) TenantIDByEmail(ctx context.Context, email string) (string, error) {
	var id string
	err := s.rq.QueryRowContext(ctx,
		`SELECT tenant_id FROM komand_users WHERE lower(email) = lower(?)`, email).Scan(&id)
	return id, wrap("tenant by email", err)
}

// CreateUser stores a user; a taken ID or email (in any tenant, any case)
// gives store.ErrConflict.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	return s.write(ctx, "create user", func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			u.ID, u.TenantID, u.Email, u.Name, u.Role, u.PasswordHash, boolInt(u.Active),
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

// ListUsers returns one page of the tenant's users ordered by email, and
// their total.
func (s *Store) ListUsers(ctx context.Context, tenantID string, p store.Page) ([]store.User, int, error) {
	limit, offset := limitOffset(p)
	out := []store.User{}
	var total int
	err := s.read(ctx, "list users", func(tx querier) error {
		if err := tx.QueryRowContext(ctx,
			`SELECT count(*) FROM komand_users WHERE tenant_id = ?`, tenantID).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx,
			`SELECT `+userCols+` FROM komand_users WHERE tenant_id = ?
			 ORDER BY lower(email), id LIMIT ? OFFSET ?`, tenantID, limit, offset)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			u, err := scanUser(rows)
			if err != nil {
				return err
			}
			out = append(out, u)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// keepAnOwner fails with store.ErrLastOwner unless the tenant has an active
// owner other than userID. It runs inside the write transaction that makes
// the change, and writes are serialised, so two admins demoting the last two
// owners at the same moment cannot both succeed.
func keepAnOwner(ctx context.Context, tx *sql.Tx, u store.User) error {
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
	err := s.write(ctx, "set user role", func(tx *sql.Tx) error {
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
	err := s.write(ctx, "deactivate user", func(tx *sql.Tx) error {
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
