package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/komand-ai/komand/internal/store"
)

// Only hashes of API keys and refresh tokens are stored. The semantics
// mirror the SQLite store exactly; the conformance suite holds both to them.

// ---- API keys ----

const apiKeyCols = "id, tenant_id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

const apiKeyColsK = "k.id, k.tenant_id, k.user_id, k.name, k.prefix, k.hash, k.created_at, k.last_used_at, k.revoked_at"

func apiKeyDest(k *store.APIKey) []any {
	return []any{&k.ID, &k.TenantID, &k.UserID, &k.Name, &k.Prefix, &k.Hash,
		&k.CreatedAt, &k.LastUsedAt, &k.RevokedAt}
}

func fixAPIKey(k *store.APIKey) {
	k.CreatedAt = utc(k.CreatedAt)
	k.LastUsedAt = utcPtr(k.LastUsedAt)
	k.RevokedAt = utcPtr(k.RevokedAt)
}

// TenantIDByAPIKeyHash returns the tenant of the key with that hash, revoked
// or not (AuthenticateAPIKey then decides whether it is usable), through the
// SECURITY DEFINER function komand_tenant_for_api_key.
func (s *Store) TenantIDByAPIKeyHash(ctx context.Context, hash string) (string, error) {
	return s.tenantLookup(ctx, "tenant by api key", "SELECT komand_tenant_for_api_key($1)", hash)
}

// CreateAPIKey stores a key. The user must belong to the key's tenant (the
// foreign key on (tenant_id, user_id) gives store.ErrNotFound otherwise); a
// taken ID or hash gives store.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	err := s.inTenant(ctx, k.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`INSERT INTO komand_api_keys (`+apiKeyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			k.ID, k.TenantID, k.UserID, k.Name, k.Prefix, k.Hash, k.CreatedAt, k.LastUsedAt, k.RevokedAt)
		return err
	})
	return wrapErr("create api key", err)
}

// AuthenticateAPIKey returns the unrevoked key with that hash in the tenant,
// and its user, active or not. It is a hot path: one round trip.
func (s *Store) AuthenticateAPIKey(ctx context.Context, tenantID, hash string) (store.APIKey, store.User, error) {
	var (
		k store.APIKey
		u store.User
	)
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+apiKeyColsK+`, `+userColsU+`
			FROM komand_api_keys k
			JOIN komand_users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
			WHERE k.tenant_id = $1 AND k.hash = $2 AND k.revoked_at IS NULL`,
			tenantID, hash).QueryRow(func(row pgx.Row) error {
			return row.Scan(append(apiKeyDest(&k), userDest(&u)...)...)
		})
	})
	if err != nil {
		return store.APIKey{}, store.User{}, wrapErr("authenticate api key", err)
	}
	fixAPIKey(&k)
	fixUser(&u)
	return k, u, nil
}

// ListAPIKeys returns all keys of a user, revoked ones included, oldest
// first.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID, userID string) ([]store.APIKey, error) {
	out := []store.APIKey{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+apiKeyCols+` FROM komand_api_keys
			WHERE tenant_id = $1 AND user_id = $2 ORDER BY created_at, id`, tenantID, userID).
			Query(func(rows pgx.Rows) (err error) {
				out, err = pgx.AppendRows(out, rows, func(r pgx.CollectableRow) (store.APIKey, error) {
					var k store.APIKey
					if err := r.Scan(apiKeyDest(&k)...); err != nil {
						return k, err
					}
					fixAPIKey(&k)
					return k, nil
				})
				return err
			})
	})
	if err != nil {
		return nil, wrapErr("list api keys", err)
	}
	return out, nil
}

// GetAPIKey returns one key of the tenant, revoked or not.
func (s *Store) GetAPIKey(ctx context.Context, tenantID, id string) (store.APIKey, error) {
	var k store.APIKey
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+apiKeyCols+` FROM komand_api_keys WHERE tenant_id = $1 AND id = $2`, tenantID, id).
			QueryRow(func(row pgx.Row) error { return row.Scan(apiKeyDest(&k)...) })
	})
	if err != nil {
		return store.APIKey{}, wrapErr("get api key", err)
	}
	fixAPIKey(&k)
	return k, nil
}

// scanAPIKeyRow scans one row of apiKeyCols.
func scanAPIKeyRow(row pgx.Row) (store.APIKey, error) {
	var k store.APIKey
	if err := row.Scan(apiKeyDest(&k)...); err != nil {
		return store.APIKey{}, err
	}
	fixAPIKey(&k)
	return k, nil
}

// ListTenantAPIKeys returns one page of the tenant's keys, oldest first
// (ties by id), in the order of komand_api_keys_list (or, for one user's,
// komand_api_keys_user_list).
func (s *Store) ListTenantAPIKeys(ctx context.Context, tenantID string, f store.APIKeyFilter, p store.Page) ([]store.APIKey, int, error) {
	where, args := `tenant_id = $1`, []any{tenantID}
	if f.UserID != "" {
		where, args = where+` AND user_id = $2`, append(args, f.UserID)
	}
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list tenant api keys", tenantID: tenantID, from: "komand_api_keys",
		cols: apiKeyCols, where: where, args: args, order: `created_at, id COLLATE "C"`,
		list: store.APIKeyList, after: `(created_at, id COLLATE "C") > ($K1, $K2)`, key: []any{&at, &id}, micros: &at},
		p, scanAPIKeyRow)
}

// TouchAPIKey records a use of the key, never moving LastUsedAt back.
func (s *Store) TouchAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx,
			`UPDATE komand_api_keys SET last_used_at = greatest(coalesce(last_used_at, $3), $3)
			 WHERE tenant_id = $1 AND id = $2`, tenantID, id, now))
	})
	return wrapErr("touch api key", err)
}

// RevokeAPIKey revokes a key. Revoking a revoked key keeps the first
// revocation time and is not an error; an unknown key is store.ErrNotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx,
			`UPDATE komand_api_keys SET revoked_at = coalesce(revoked_at, $3)
			 WHERE tenant_id = $1 AND id = $2`, tenantID, id, now))
	})
	return wrapErr("revoke api key", err)
}

// mustAffect turns "no row matched" into store.ErrNotFound.
func mustAffect(tag pgconn.CommandTag, err error) error {
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ---- refresh tokens ----

// TenantIDByRefreshHash returns the tenant of the token with that hash,
// whatever its state, through the SECURITY DEFINER function
// komand_tenant_for_refresh_token. Spent tokens must resolve too: reuse
// detection in RotateRefreshToken needs the tenant of a replayed token.
func (s *Store) TenantIDByRefreshHash(ctx context.Context, hash string) (string, error) {
	return s.tenantLookup(ctx, "tenant by refresh token", "SELECT komand_tenant_for_refresh_token($1)", hash)
}

const insertRefreshSQL = `INSERT INTO komand_refresh_tokens
	(hash, tenant_id, family_id, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6)`

// CreateRefreshToken stores the first token of a new family, and the family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	err := s.inTenant(ctx, t.TenantID, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		b.Queue(`INSERT INTO komand_refresh_families (id, tenant_id, user_id, created_at)
			VALUES ($1, $2, $3, $4)`, t.FamilyID, t.TenantID, t.UserID, t.CreatedAt)
		b.Queue(insertRefreshSQL, t.Hash, t.TenantID, t.FamilyID, t.UserID, t.CreatedAt, t.ExpiresAt)
		return tx.SendBatch(ctx, b).Close()
	})
	return wrapErr("create refresh token", err)
}

// RotateRefreshToken spends the token with oldHash and stores next in its
// family. next's tenant, user and family are taken from the spent token, so
// a rotation can never move a session to another user or family.
//
// The token row is locked FOR UPDATE, so two replicas rotating the same
// token serialise: the second sees it spent and treats it as reuse.
//
// The order of the checks matters: a revoked family is ErrNotFound before
// anything else; a spent token is treated as theft (someone holds a copy) and
// revokes the family, committed, even if the token has since expired; only
// then is an unspent token checked for expiry.
func (s *Store) RotateRefreshToken(ctx context.Context, tenantID, oldHash string, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	var (
		old    store.RefreshToken
		reused bool
	)
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var used, revoked *time.Time
		if err := tx.QueryRow(ctx,
			`SELECT t.hash, t.tenant_id, t.user_id, t.family_id, t.created_at, t.expires_at, t.used_at, f.revoked_at
			 FROM komand_refresh_tokens t
			 JOIN komand_refresh_families f ON f.tenant_id = t.tenant_id AND f.id = t.family_id
			 WHERE t.tenant_id = $1 AND t.hash = $2
			 FOR UPDATE OF t, f`, tenantID, oldHash).Scan(
			&old.Hash, &old.TenantID, &old.UserID, &old.FamilyID, &old.CreatedAt, &old.ExpiresAt,
			&used, &revoked); err != nil {
			return err
		}
		old.CreatedAt = utc(old.CreatedAt)
		old.ExpiresAt = utc(old.ExpiresAt)
		switch {
		case revoked != nil:
			return store.ErrNotFound
		case used != nil:
			// Reuse: revoke the family and commit that (fn returns nil),
			// then report.
			reused = true
			_, err := tx.Exec(ctx,
				`UPDATE komand_refresh_families SET revoked_at = $3 WHERE tenant_id = $1 AND id = $2`,
				tenantID, old.FamilyID, now)
			return err
		case !old.ExpiresAt.After(now):
			return store.ErrNotFound
		}
		next.TenantID, next.UserID, next.FamilyID = old.TenantID, old.UserID, old.FamilyID
		b := &pgx.Batch{}
		b.Queue(`UPDATE komand_refresh_tokens SET used_at = $3 WHERE tenant_id = $1 AND hash = $2`,
			tenantID, oldHash, now)
		b.Queue(insertRefreshSQL, next.Hash, next.TenantID, next.FamilyID, next.UserID, next.CreatedAt, next.ExpiresAt)
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return store.RefreshToken{}, wrapErr("rotate refresh token", err)
	}
	if reused {
		return old, wrapErr("rotate refresh token", store.ErrTokenReused)
	}
	return old, nil
}

// RevokeRefreshFamily revokes a family (logout). An unknown or already
// revoked family is not an error, and the first revocation time is kept.
func (s *Store) RevokeRefreshFamily(ctx context.Context, tenantID, familyID string, now time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx,
			`UPDATE komand_refresh_families SET revoked_at = coalesce(revoked_at, $3)
			 WHERE tenant_id = $1 AND id = $2`, tenantID, familyID, now)
		return err
	})
	return wrapErr("revoke refresh family", err)
}

// UserForSession returns the user if the family belongs to that user, is not
// revoked, and still has an unspent, unexpired token. It runs on every
// authenticated request: one round trip.
func (s *Store) UserForSession(ctx context.Context, tenantID, userID, familyID string, now time.Time) (store.User, error) {
	var u store.User
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+userColsU+`
			FROM komand_refresh_families f
			JOIN komand_users u ON u.tenant_id = f.tenant_id AND u.id = f.user_id
			WHERE f.tenant_id = $1 AND f.id = $2 AND f.user_id = $3 AND f.revoked_at IS NULL
			  AND EXISTS (SELECT 1 FROM komand_refresh_tokens t
			              WHERE t.tenant_id = f.tenant_id AND t.family_id = f.id
			                AND t.used_at IS NULL AND t.expires_at > $4)`,
			tenantID, familyID, userID, now).QueryRow(func(row pgx.Row) (err error) {
			u, err = scanUser(row)
			return err
		})
	})
	return u, wrapErr("user for session", err)
}
