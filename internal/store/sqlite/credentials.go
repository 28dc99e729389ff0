package sqlite

import (
	"context"
	"database/sql"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// Only hashes of API keys and refresh tokens are stored. Looking a row up by
// hash through an index is fine: the hash of a high-entropy secret reveals
// nothing useful, so timing of the lookup does not either.

// ---- API keys ----

const apiKeyCols = "id, tenant_id, user_id, name, prefix, hash, created_at, last_used_at, revoked_at"

func scanAPIKey(dest []any, k *store.APIKey, created *int64, lastUsed, revoked *sql.NullInt64) []any {
	return append(dest, &k.ID, &k.TenantID, &k.UserID, &k.Name, &k.Prefix, &k.Hash, created, lastUsed, revoked)
}

// scanAPIKeyRow scans one row of apiKeyCols.
func scanAPIKeyRow(sc scanner) (store.APIKey, error) {
	var (
		k                 store.APIKey
		created           int64
		lastUsed, revoked sql.NullInt64
	)
	if err := sc.Scan(scanAPIKey(nil, &k, &created, &lastUsed, &revoked)...); err != nil {
		return store.APIKey{}, err
	}
	k.CreatedAt = fromMicros(created)
	k.LastUsedAt = fromNullMicros(lastUsed)
	k.RevokedAt = fromNullMicros(revoked)
	return k, nil
}

// TenantIDByAPIKeyHash returns the tenant of the key with that hash, revoked
// or not; AuthenticateAPIKey then decides whether it is usable.
func (s *Store) TenantIDByAPIKeyHash(ctx context.Context, hash string) (string, error) {
	var id string
	err := s.rq.QueryRowContext(ctx,
		`SELECT tenant_id FROM komand_api_keys WHERE hash = ?`, hash).Scan(&id)
	return id, wrap("tenant by api key", err)
}

// CreateAPIKey stores a key. The user must belong to the key's tenant (a
// foreign key on (tenant_id, user_id) enforces it); a taken ID or hash gives
// store.ErrConflict.
func (s *Store) CreateAPIKey(ctx context.Context, k store.APIKey) error {
	return s.write(ctx, "create api key", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO komand_api_keys (`+apiKeyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			k.ID, k.TenantID, k.UserID, k.Name, k.Prefix, k.Hash, micros(k.CreatedAt),
			nullMicros(k.LastUsedAt), nullMicros(k.RevokedAt))
		return err
	})
}

// AuthenticateAPIKey returns the unrevoked key with that hash in the tenant,
// and its user, active or not.
func (s *Store) AuthenticateAPIKey(ctx context.Context, tenantID, hash string) (store.APIKey, store.User, error) {
	var (
		k                 store.APIKey
		ur                userRow
		kCreated          int64
		lastUsed, revoked sql.NullInt64
	)
	dest := scanAPIKey(nil, &k, &kCreated, &lastUsed, &revoked)
	dest = append(dest, ur.dest()...)
	err := s.rq.QueryRowContext(ctx,
		`SELECT `+qualify("k", apiKeyCols)+`, `+qualify("u", userCols)+`
		 FROM komand_api_keys k
		 JOIN komand_users u ON u.tenant_id = k.tenant_id AND u.id = k.user_id
		 WHERE k.tenant_id = ? AND k.hash = ? AND k.revoked_at IS NULL`,
		tenantID, hash).Scan(dest...)
	if err != nil {
		return store.APIKey{}, store.User{}, wrap("authenticate api key", err)
	}
	k.CreatedAt = fromMicros(kCreated)
	k.LastUsedAt = fromNullMicros(lastUsed)
	k.RevokedAt = fromNullMicros(revoked)
	return k, ur.user(), nil
}

// ListAPIKeys returns all keys of a user, revoked ones included, oldest
// first.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID, userID string) ([]store.APIKey, error) {
	rows, err := s.rq.QueryContext(ctx,
		`SELECT `+apiKeyCols+` FROM komand_api_keys
		 WHERE tenant_id = ? AND user_id = ? ORDER BY created_at, id`, tenantID, userID)
	if err != nil {
		return nil, wrap("list api keys", err)
	}
	defer rows.Close()
	out := []store.APIKey{}
	for rows.Next() {
		var (
			k                 store.APIKey
			created           int64
			lastUsed, revoked sql.NullInt64
		)
		if err := rows.Scan(scanAPIKey(nil, &k, &created, &lastUsed, &revoked)...); err != nil {
			return nil, wrap("list api keys", err)
		}
		k.CreatedAt = fromMicros(created)
		k.LastUsedAt = fromNullMicros(lastUsed)
		k.RevokedAt = fromNullMicros(revoked)
		out = append(out, k)
	}
	return out, wrap("list api keys", rows.Err())
}

// GetAPIKey returns one key of the tenant, revoked or not.
func (s *Store) GetAPIKey(ctx context.Context, tenantID, id string) (store.APIKey, error) {
	var (
		k                 store.APIKey
		created           int64
		lastUsed, revoked sql.NullInt64
	)
	err := s.rq.QueryRowContext(ctx,
		`SELECT `+apiKeyCols+` FROM komand_api_keys WHERE tenant_id = ? AND id = ?`, tenantID, id).
		Scan(scanAPIKey(nil, &k, &created, &lastUsed, &revoked)...)
	if err != nil {
		return store.APIKey{}, wrap("get api key", err)
	}
	k.CreatedAt = fromMicros(created)
	k.LastUsedAt = fromNullMicros(lastUsed)
	k.RevokedAt = fromNullMicros(revoked)
	return k, nil
}

// ListTenantAPIKeys returns one page of the tenant's keys, oldest first
// (ties by id), in the order of komand_api_keys_list (or, for one user's,
// komand_api_keys_user_list).
func (s *Store) ListTenantAPIKeys(ctx context.Context, tenantID string, f store.APIKeyFilter, p store.Page) ([]store.APIKey, int, error) {
	where, args := `tenant_id = ?`, []any{tenantID}
	if f.UserID != "" {
		where, args = where+` AND user_id = ?`, append(args, f.UserID)
	}
	var (
		at int64
		id string
	)
	return listPage(ctx, s, listQuery{op: "list tenant api keys", tenantID: tenantID, from: "komand_api_keys",
		cols: apiKeyCols, where: where, args: args, order: "created_at, id",
		list: store.APIKeyList, after: "(created_at, id) > (?, ?)", key: []any{&at, &id}}, p, scanAPIKeyRow)
}

// TouchAPIKey records a use of the key, never moving LastUsedAt back.
func (s *Store) TouchAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	return s.write(ctx, "touch api key", func(tx txQuerier) error {
		at := micros(now)
		return mustAffect(tx.ExecContext(ctx,
			`UPDATE komand_api_keys SET last_used_at = max(coalesce(last_used_at, ?), ?)
			 WHERE tenant_id = ? AND id = ?`, at, at, tenantID, id))
	})
}

// RevokeAPIKey revokes a key. Revoking a revoked key keeps the first
// revocation time and is not an error.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, id string, now time.Time) error {
	return s.write(ctx, "revoke api key", func(tx txQuerier) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE komand_api_keys SET revoked_at = coalesce(revoked_at, ?)
			 WHERE tenant_id = ? AND id = ?`, micros(now), tenantID, id)
		return mustAffect(res, err)
	})
}

// mustAffect turns "no row matched" into store.ErrNotFound.
func mustAffect(res sql.Result, err error) error {
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// ---- refresh tokens ----

// TenantIDByRefreshHash returns the tenant of the token with that hash,
// whatever its state. Spent tokens must resolve too: reuse detection in
// RotateRefreshToken needs the tenant of a replayed token.
func (s *Store) TenantIDByRefreshHash(ctx context.Context, hash string) (string, error) {
	var id string
	err := s.rq.QueryRowContext(ctx,
		`SELECT tenant_id FROM komand_refresh_tokens WHERE hash = ?`, hash).Scan(&id)
	return id, wrap("tenant by refresh token", err)
}

// CreateRefreshToken stores the first token of a new family, and the family.
func (s *Store) CreateRefreshToken(ctx context.Context, t store.RefreshToken) error {
	return s.write(ctx, "create refresh token", func(tx txQuerier) error {
		if _, err := tx.ExecContext(ctx,
			`INSERT INTO komand_refresh_families (id, tenant_id, user_id, created_at) VALUES (?, ?, ?, ?)`,
			t.FamilyID, t.TenantID, t.UserID, micros(t.CreatedAt)); err != nil {
			return err
		}
		return insertRefreshToken(ctx, tx, t)
	})
}

func insertRefreshToken(ctx context.Context, tx txQuerier, t store.RefreshToken) error {
	_, err := tx.ExecContext(ctx,
		`INSERT INTO komand_refresh_tokens (hash, tenant_id, family_id, user_id, created_at, expires_at)
		 VALUES (?, ?, ?, ?, ?, ?)`,
		t.Hash, t.TenantID, t.FamilyID, t.UserID, micros(t.CreatedAt), micros(t.ExpiresAt))
	return err
}

// RotateRefreshToken spends the token with oldHash and stores next in its
// family. next's tenant, user and family are taken from the spent token, so
// a rotation can never move a session to another user or family.
//
// The order of the checks matters: a revoked family is ErrNotFound before
// anything else; a spent token is treated as theft (someone holds a copy) and
// revokes the family even if the token has since expired; only then is an
// unspent token checked for expiry.
func (s *Store) RotateRefreshToken(ctx context.Context, tenantID, oldHash string, next store.RefreshToken, now time.Time) (store.RefreshToken, error) {
	var (
		old    store.RefreshToken
		reused bool
	)
	err := s.write(ctx, "rotate refresh token", func(tx txQuerier) error {
		var (
			created, expires int64
			used, revoked    sql.NullInt64
		)
		if err := tx.QueryRowContext(ctx,
			`SELECT t.hash, t.tenant_id, t.user_id, t.family_id, t.created_at, t.expires_at, t.used_at, f.revoked_at
			 FROM komand_refresh_tokens t
			 JOIN komand_refresh_families f ON f.tenant_id = t.tenant_id AND f.id = t.family_id
			 WHERE t.tenant_id = ? AND t.hash = ?`, tenantID, oldHash).Scan(
			&old.Hash, &old.TenantID, &old.UserID, &old.FamilyID, &created, &expires, &used, &revoked); err != nil {
			return err
		}
		old.CreatedAt = fromMicros(created)
		old.ExpiresAt = fromMicros(expires)
		switch {
		case revoked.Valid:
			return store.ErrNotFound
		case used.Valid:
			// Reuse: revoke the family and commit that, then report.
			reused = true
			_, err := tx.ExecContext(ctx,
				`UPDATE komand_refresh_families SET revoked_at = ? WHERE tenant_id = ? AND id = ?`,
				micros(now), tenantID, old.FamilyID)
			return err
		case expires <= micros(now):
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx,
			`UPDATE komand_refresh_tokens SET used_at = ? WHERE tenant_id = ? AND hash = ?`,
			micros(now), tenantID, oldHash); err != nil {
			return err
		}
		next.TenantID, next.UserID, next.FamilyID = old.TenantID, old.UserID, old.FamilyID
		return insertRefreshToken(ctx, tx, next)
	})
	if err != nil {
		return store.RefreshToken{}, err
	}
	if reused {
		return old, store.ErrTokenReused
	}
	return old, nil
}

// RevokeRefreshFamily revokes a family (logout). An unknown or already
// revoked family is not an error, and the first revocation time is kept.
func (s *Store) RevokeRefreshFamily(ctx context.Context, tenantID, familyID string, now time.Time) error {
	return s.write(ctx, "revoke refresh family", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx,
			`UPDATE komand_refresh_families SET revoked_at = coalesce(revoked_at, ?)
			 WHERE tenant_id = ? AND id = ?`, micros(now), tenantID, familyID)
		return err
	})
}

// UserForSession returns the user if the family belongs to that user, is not
// revoked, and still has an unspent, unexpired token.
func (s *Store) UserForSession(ctx context.Context, tenantID, userID, familyID string, now time.Time) (store.User, error) {
	u, err := scanUser(s.rq.QueryRowContext(ctx,
		`SELECT `+qualify("u", userCols)+`
		 FROM komand_refresh_families f
		 JOIN komand_users u ON u.tenant_id = f.tenant_id AND u.id = f.user_id
		 WHERE f.tenant_id = ? AND f.id = ? AND f.user_id = ? AND f.revoked_at IS NULL
		   AND EXISTS (SELECT 1 FROM komand_refresh_tokens t
		               WHERE t.tenant_id = f.tenant_id AND t.family_id = f.id
		                 AND t.used_at IS NULL AND t.expires_at > ?)`,
		tenantID, familyID, userID, micros(now)))
	return u, wrap("user for session", err)
}
