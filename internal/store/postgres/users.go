package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

const userCols = "id, tenant_id, email, name, role, password_hash, active, " +
	"coalesce(invite_hash, ''), invite_expires_at, created_at, updated_at"

// userColsU is userCols qualified with the alias u, for joins.
const userColsU = "u.id, u.tenant_id, u.email, u.name, u.role, u.password_hash, u.active, " +
	"coalesce(u.invite_hash, ''), u.invite_expires_at, u.created_at, u.updated_at"

// userDest returns the scan destinations of userCols for u. Times must be
// passed through fixUser afterwards.
func userDest(u *store.User) []any {
	return []any{&u.ID, &u.TenantID, &u.Email, &u.Name, &u.Role, &u.PasswordHash,
		&u.Active, &u.InviteHash, &u.InviteExpiresAt, &u.CreatedAt, &u.UpdatedAt}
}

func fixUser(u *store.User) {
	u.InviteExpiresAt = utcPtr(u.InviteExpiresAt)
	u.CreatedAt = utc(u.CreatedAt)
	u.UpdatedAt = utc(u.UpdatedAt)
}

// userInsertCols are the columns CreateUser writes, in userDest's order.
const userInsertCols = "id, tenant_id, email, name, role, password_hash, active, invite_hash, invite_expires_at, created_at, updated_at"

// nullString stores "" as NULL, for columns whose absence is NULL.
func nullString(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func scanUser(row pgx.Row) (store.User, error) {
	var u store.User
	if err := row.Scan(userDest(&u)...); err != nil {
		return store.User{}, err
	}
	fixUser(&u)
	return u, nil
}

// limitOffset turns a page into LIMIT and OFFSET arguments. A PageSize of
// zero or less means no limit (LIMIT NULL is LIMIT ALL).
func limitOffset(p store.Page) (limit *int, offset int) {
	if p.PageSize > 0 {
		limit = &p.PageSize
	}
	return limit, max(p.Offset(), 0)
}

// TenantIDByEmail returns the tenant of the user with that email, compared
// case-insensitively. It crosses tenants (as TenantIDByInviteHash does), so
// it goes through the SECURITY DEFINER function komand_tenant_for_email,
// which returns nothing but the tenant ID.
func (s *Store) TenantIDByEmail(ctx context.Context, email string) (string, error) {
	return s.tenantLookup(ctx, "tenant by email", "SELECT komand_tenant_for_email($1)", email)
}

// tenantLookup runs one of the cross-tenant lookup functions, which return
// NULL when nothing matches.
func (s *Store) tenantLookup(ctx context.Context, op, sql, arg string) (string, error) {
	var id *string
	if err := s.pool.QueryRow(ctx, sql, arg).Scan(&id); err != nil {
		return "", wrapErr(op, err)
	}
	if id == nil {
		return "", wrapErr(op, store.ErrNotFound)
	}
	return *id, nil
}

// TenantIDByInviteHash returns the tenant of the user with that invitation
// hash, expired or not (AcceptInvite then decides whether it is usable),
// through the SECURITY DEFINER function komand_tenant_for_invite.
func (s *Store) TenantIDByInviteHash(ctx context.Context, hash string) (string, error) {
	return s.tenantLookup(ctx, "tenant by invite", "SELECT komand_tenant_for_invite($1)", hash)
}

// CreateUser stores a user; a taken ID, email (in any tenant, any case) or
// invitation hash gives store.ErrConflict. Uniqueness is checked by the
// index whatever the row-level-security tenant, which is what makes email
// global.
func (s *Store) CreateUser(ctx context.Context, u store.User) error {
	err := s.inTenant(ctx, u.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO komand_users (`+userInsertCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
			u.ID, u.TenantID, u.Email, u.Name, u.Role, u.PasswordHash, u.Active,
			nullString(u.InviteHash), u.InviteExpiresAt, u.CreatedAt, u.UpdatedAt)
		return err
	})
	return wrapErr("create user", err)
}

// GetUser returns the user with that ID in the tenant.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (store.User, error) {
	var u store.User
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+userCols+` FROM komand_users WHERE tenant_id = $1 AND id = $2`,
			tenantID, id).QueryRow(func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		})
	})
	return u, wrapErr("get user", err)
}

// GetUserByEmail returns the user with that email (any case) in the tenant.
// UserByInviteHash returns the tenant's user holding the invitation.
func (s *Store) UserByInviteHash(ctx context.Context, tenantID, hash string) (store.User, error) {
	var u store.User
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+userCols+` FROM komand_users WHERE tenant_id = $1 AND invite_hash = $2`,
			tenantID, hash).QueryRow(func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		})
	})
	return u, wrapErr("user by invite", err)
}

func (s *Store) GetUserByEmail(ctx context.Context, tenantID, email string) (store.User, error) {
	var u store.User
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+userCols+` FROM komand_users WHERE tenant_id = $1 AND lower(email) = lower($2)`,
			tenantID, email).QueryRow(func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		})
	})
	return u, wrapErr("get user by email", err)
}

// ListUsers returns one page of the tenant's users ordered by email
// case-insensitively (the generated column email_lower; emails are unique
// case-insensitively), and their total up to store.CountLimit+1.
func (s *Store) ListUsers(ctx context.Context, tenantID string, p store.Page) ([]store.User, int, error) {
	var email string
	return listPage(ctx, s, listQuery{op: "list users", tenantID: tenantID, from: "komand_users", cols: userCols,
		where: "tenant_id = $1", args: []any{tenantID}, order: "email_lower",
		list: store.UserList, after: "email_lower > lower($K1)", key: []any{&email}}, p, scanUser)
}

// lockUserForChange locks the tenant's active owners and then the target
// user, and fails with store.ErrLastOwner if the change (demotion or
// deactivation, decided by the caller) would leave no active owner.
//
// Locking every active owner row FOR UPDATE, in id order, before counting
// is what makes the check safe across replicas: two concurrent demotions of
// the last two owners both try to lock both rows, so the second waits for the
// first to commit; READ COMMITTED then re-checks its WHERE clause against the
// committed rows, sees only one active owner left, and refuses.
func lockUserForChange(ctx context.Context, tx pgx.Tx, tenantID, id string, losesOwner func(store.User) bool) (store.User, error) {
	rows, err := tx.Query(ctx, `SELECT id FROM komand_users
		WHERE tenant_id = $1 AND role = $2 AND active
		ORDER BY id FOR UPDATE`, tenantID, ownerRole)
	if err != nil {
		return store.User{}, err
	}
	owners, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return store.User{}, err
	}
	cur, err := scanUser(tx.QueryRow(ctx,
		`SELECT `+userCols+` FROM komand_users WHERE tenant_id = $1 AND id = $2 FOR UPDATE`,
		tenantID, id))
	if err != nil {
		return store.User{}, err
	}
	if cur.Active && cur.Role == ownerRole && losesOwner(cur) {
		others := 0
		for _, o := range owners {
			if o != cur.ID {
				others++
			}
		}
		if others == 0 {
			return store.User{}, store.ErrLastOwner
		}
	}
	return cur, nil
}

// SetUserRole changes a user's role, refusing to demote the tenant's last
// active owner.
func (s *Store) SetUserRole(ctx context.Context, tenantID, id, role string, now time.Time) (store.User, error) {
	var u store.User
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := lockUserForChange(ctx, tx, tenantID, id,
			func(store.User) bool { return role != ownerRole }); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx,
			`UPDATE komand_users SET role = $3, updated_at = $4
			 WHERE tenant_id = $1 AND id = $2 RETURNING `+userCols,
			tenantID, id, role, now))
		return err
	})
	if err != nil {
		return store.User{}, wrapErr("set user role", err)
	}
	return u, nil
}

// DeactivateUser marks a user inactive and, in the same transaction, revokes
// every API key and refresh-token family of the user, so no credential of a
// deactivated user keeps working. The last active owner cannot be
// deactivated.
func (s *Store) DeactivateUser(ctx context.Context, tenantID, id string, now time.Time) (store.User, error) {
	var u store.User
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := lockUserForChange(ctx, tx, tenantID, id,
			func(store.User) bool { return true }); err != nil {
			return err
		}
		b := &pgx.Batch{}
		b.Queue(`UPDATE komand_users SET active = false, updated_at = $3
			WHERE tenant_id = $1 AND id = $2 RETURNING `+userCols, tenantID, id, now).
			QueryRow(func(row pgx.Row) (err error) {
				u, err = scanUser(row)
				return err
			})
		b.Queue(`UPDATE komand_api_keys SET revoked_at = $3
			WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, tenantID, id, now)
		b.Queue(`UPDATE komand_refresh_families SET revoked_at = $3
			WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL`, tenantID, id, now)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.User{}, wrapErr("deactivate user", err)
	}
	return u, nil
}

// ReactivateUser marks an inactive user active again; its revoked
// credentials stay revoked. An active user is returned unchanged.
func (s *Store) ReactivateUser(ctx context.Context, tenantID, id string, now time.Time) (store.User, error) {
	var u store.User
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx,
			`UPDATE komand_users SET active = true, updated_at = $3
			 WHERE tenant_id = $1 AND id = $2 AND NOT active`, tenantID, id, now); err != nil {
			return err
		}
		var err error
		u, err = scanUser(tx.QueryRow(ctx,
			`SELECT `+userCols+` FROM komand_users WHERE tenant_id = $1 AND id = $2`, tenantID, id))
		return err
	})
	if err != nil {
		return store.User{}, wrapErr("reactivate user", err)
	}
	return u, nil
}

// AcceptInvite sets the password of the active user of the tenant with that
// unexpired invitation and clears the invitation, in one statement: of two
// concurrent acceptances the second waits for the first's row lock, then
// re-checks its WHERE clause against the committed row (READ COMMITTED),
// finds no invitation and changes nothing.
func (s *Store) AcceptInvite(ctx context.Context, tenantID, hash, passwordHash string, now time.Time) (store.User, error) {
	var u store.User
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var err error
		u, err = scanUser(tx.QueryRow(ctx,
			`UPDATE komand_users
			 SET password_hash = $3, invite_hash = NULL, invite_expires_at = NULL, updated_at = $4
			 WHERE tenant_id = $1 AND invite_hash = $2 AND invite_expires_at > $4 AND active
			 RETURNING `+userCols,
			tenantID, hash, passwordHash, now))
		return err
	})
	if err != nil {
		return store.User{}, wrapErr("accept invite", err)
	}
	return u, nil
}
