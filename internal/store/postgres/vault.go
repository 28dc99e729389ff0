package postgres

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/komand-ai/komand/internal/store"
)

// CreateDataKey stores a new version of a tenant's data key.
func (s *Store) CreateDataKey(ctx context.Context, k store.DataKey) error {
	err := s.inTenant(ctx, k.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_vault_keys (tenant_id, version, kek_id, wrapped, created_at)
			VALUES ($1, $2, $3, $4, $5)`, k.TenantID, k.Version, k.KEKID, k.Wrapped, k.CreatedAt)
		return err
	})
	return wrapErr("create data key", err)
}

// DataKeys returns a tenant's data keys, newest first.
func (s *Store) DataKeys(ctx context.Context, tenantID string) ([]store.DataKey, error) {
	out := []store.DataKey{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT tenant_id, version, kek_id, wrapped, created_at FROM komand_vault_keys
			WHERE tenant_id = $1 ORDER BY version DESC`, tenantID).
			Query(appendRows(&out, func(r pgx.Row) (store.DataKey, error) {
				var k store.DataKey
				err := r.Scan(&k.TenantID, &k.Version, &k.KEKID, &k.Wrapped, &k.CreatedAt)
				k.CreatedAt = utc(k.CreatedAt)
				return k, err
			}))
	})
	if err != nil {
		return nil, wrapErr("data keys", err)
	}
	return out, nil
}

// RewrapDataKeys replaces the wrapping of the versions still under their
// old KEK, in one transaction and one round trip: each UPDATE is preceded
// by setting its tenant (rotation crosses tenants; RLS applies to each).
func (s *Store) RewrapDataKeys(ctx context.Context, rs []store.DataKeyRewrap) (int, error) {
	n := 0
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		n = 0
		b := &pgx.Batch{}
		for _, r := range rs {
			b.Queue(setTenantSQL, r.TenantID)
			b.Queue(`UPDATE komand_vault_keys SET kek_id = $4, wrapped = $5
				WHERE tenant_id = $1 AND version = $2 AND kek_id = $3`, r.TenantID, r.Version, r.OldKEKID, r.NewKEKID, r.Wrapped).
				Exec(func(tag pgconn.CommandTag) error {
					n += int(tag.RowsAffected())
					return nil
				})
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return 0, wrapErr("rewrap data keys", err)
	}
	return n, nil
}

const (
	credentialCols  = "tenant_id, id, name, type, source, key_version, ciphertext, created_by, created_at, updated_at, last_used_at"
	credentialColsC = "c.tenant_id, c.id, c.name, c.type, c.source, c.key_version, c.ciphertext, c.created_by, c.created_at, c.updated_at, c.last_used_at"
)

func scanCredential(r pgx.Row) (store.Credential, error) { return scanCredentialAnd(r) }

// scanCredentialAnd scans a credential row followed by extra columns.
func scanCredentialAnd(r pgx.Row, extra ...any) (store.Credential, error) {
	var c store.Credential
	if err := r.Scan(append([]any{&c.TenantID, &c.ID, &c.Name, &c.Type, &c.Source, &c.KeyVersion, &c.Ciphertext, &c.CreatedBy,
		&c.CreatedAt, &c.UpdatedAt, &c.LastUsedAt}, extra...)...); err != nil {
		return store.Credential{}, err
	}
	c.CreatedAt, c.UpdatedAt, c.LastUsedAt = utc(c.CreatedAt), utc(c.UpdatedAt), utcPtr(c.LastUsedAt)
	return c, nil
}

// CreateCredential stores a new credential, unless the tenant has
// maxCredentials (see atLimit).
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, maxCredentials int) error {
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		if err := atLimit(ctx, tx, "komand_credentials", `SELECT 1 FROM komand_credentials WHERE tenant_id = $1`,
			maxCredentials, c.TenantID); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_credentials (`+credentialCols+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL)`, c.TenantID, c.ID, c.Name, c.Type, c.Source, c.KeyVersion,
			c.Ciphertext, c.CreatedBy, c.CreatedAt, c.UpdatedAt)
		return err
	})
	return wrapErr("create credential", err)
}

func (s *Store) oneCredential(ctx context.Context, tenantID, where string, arg string) (store.Credential, error) {
	var c store.Credential
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+credentialCols+` FROM komand_credentials WHERE tenant_id = $1 AND `+where, tenantID, arg).
			QueryRow(func(row pgx.Row) (err error) {
				c, err = scanCredential(row)
				return err
			})
	})
	return c, wrapErr("get credential", err)
}

// GetCredential returns one credential of the tenant by ID.
func (s *Store) GetCredential(ctx context.Context, tenantID, id string) (store.Credential, error) {
	return s.oneCredential(ctx, tenantID, "id = $2", id)
}

// GetCredentialByName returns one credential of the tenant by name.
func (s *Store) GetCredentialByName(ctx context.Context, tenantID, name string) (store.Credential, error) {
	return s.oneCredential(ctx, tenantID, "name = $2", name)
}

// ListCredentials returns one page of the tenant's credentials by name.
func (s *Store) ListCredentials(ctx context.Context, tenantID string, p store.Page) ([]store.Credential, int, error) {
	var name string
	return listPage(ctx, s, listQuery{op: "list credentials", tenantID: tenantID, from: "komand_credentials",
		cols: credentialCols, where: "tenant_id = $1", args: []any{tenantID}, order: `name COLLATE "C"`,
		list: store.CredentialList, after: `name COLLATE "C" > $K1`, key: []any{&name}}, p, scanCredential)
}

// UpdateCredential replaces a credential's name and type, and its value
// when replaceValue is set.
func (s *Store) UpdateCredential(ctx context.Context, c store.Credential, replaceValue bool) error {
	err := s.inTenant(ctx, c.TenantID, func(tx pgx.Tx) error {
		if !replaceValue {
			return mustAffect(tx.Exec(ctx, `UPDATE komand_credentials SET name = $3, type = $4, updated_at = $5
				WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, c.Name, c.Type, c.UpdatedAt))
		}
		return mustAffect(tx.Exec(ctx, `UPDATE komand_credentials
			SET name = $3, type = $4, key_version = $5, ciphertext = $6, updated_at = $7
			WHERE tenant_id = $1 AND id = $2`, c.TenantID, c.ID, c.Name, c.Type, c.KeyVersion, c.Ciphertext, c.UpdatedAt))
	})
	return wrapErr("update credential", err)
}

// TouchCredential records a use.
func (s *Store) TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `UPDATE komand_credentials SET last_used_at = $3
			WHERE tenant_id = $1 AND id = $2`, tenantID, id, at))
	})
	return wrapErr("touch credential", err)
}

// DeleteCredential removes a credential.
func (s *Store) DeleteCredential(ctx context.Context, tenantID, id string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_credentials WHERE tenant_id = $1 AND id = $2`, tenantID, id))
	})
	return wrapErr("delete credential", err)
}

// GrantCredential lets one skill of one agent read a credential.
func (s *Store) GrantCredential(ctx context.Context, g store.CredentialGrant) error {
	err := s.inTenant(ctx, g.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_credential_grants
			(tenant_id, credential_id, agent_id, skill_id, hosts, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
			g.TenantID, g.CredentialID, g.AgentID, g.SkillID, strings.Join(g.Hosts, ","), g.CreatedBy, g.CreatedAt)
		return err
	})
	return wrapErr("grant credential", err)
}

// RevokeCredential removes one grant.
func (s *Store) RevokeCredential(ctx context.Context, tenantID, credentialID, agentID, skillID string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_credential_grants
			WHERE tenant_id = $1 AND credential_id = $2 AND agent_id = $3 AND skill_id = $4`,
			tenantID, credentialID, agentID, skillID))
	})
	return wrapErr("revoke credential", err)
}

// CredentialGrants lists a credential's grants.
func (s *Store) CredentialGrants(ctx context.Context, tenantID, credentialID string) ([]store.CredentialGrant, error) {
	out := []store.CredentialGrant{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT tenant_id, credential_id, agent_id, skill_id, hosts, created_by, created_at
			FROM komand_credential_grants WHERE tenant_id = $1 AND credential_id = $2
			ORDER BY agent_id COLLATE "C", skill_id COLLATE "C"`, tenantID, credentialID).
			Query(appendRows(&out, func(r pgx.Row) (store.CredentialGrant, error) {
				var (
					g     store.CredentialGrant
					hosts string
				)
				err := r.Scan(&g.TenantID, &g.CredentialID, &g.AgentID, &g.SkillID, &hosts, &g.CreatedBy, &g.CreatedAt)
				g.Hosts, g.CreatedAt = store.SplitHosts(hosts), utc(g.CreatedAt)
				return g, err
			}))
	})
	if err != nil {
		return nil, wrapErr("credential grants", err)
	}
	return out, nil
}

// GrantedCredential returns a credential by name if the skill of the agent
// holds a grant for it.
func (s *Store) GrantedCredential(ctx context.Context, tenantID, agentID, skillID, name string) (store.Credential, []string, error) {
	var (
		c     store.Credential
		hosts string
	)
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+credentialColsC+`, g.hosts
			FROM komand_credentials c JOIN komand_credential_grants g
			  ON g.tenant_id = c.tenant_id AND g.credential_id = c.id
			WHERE c.tenant_id = $1 AND c.name = $2 AND g.agent_id = $3 AND g.skill_id = $4`,
			tenantID, name, agentID, skillID).
			QueryRow(func(row pgx.Row) (err error) {
				c, err = scanCredentialAnd(row, &hosts)
				return err
			})
	})
	return c, store.SplitHosts(hosts), wrapErr("granted credential", err)
}

// ReencryptCredential moves a credential to another data key version.
func (s *Store) ReencryptCredential(ctx context.Context, tenantID, id string, oldCiphertext []byte, newVersion int, ciphertext []byte) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		err := mustAffect(tx.Exec(ctx, `UPDATE komand_credentials SET key_version = $4, ciphertext = $5
			WHERE tenant_id = $1 AND id = $2 AND ciphertext = $3`, tenantID, id, oldCiphertext, newVersion, ciphertext))
		if errors.Is(err, store.ErrNotFound) {
			return store.ErrConflict
		}
		return err
	})
	return wrapErr("reencrypt credential", err)
}

// CredentialsBelowVersion lists credentials still under older data keys.
func (s *Store) CredentialsBelowVersion(ctx context.Context, tenantID string, version, limit int) ([]store.Credential, error) {
	out := []store.Credential{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+credentialCols+` FROM komand_credentials
			WHERE tenant_id = $1 AND key_version < $2 ORDER BY id COLLATE "C" LIMIT $3`, tenantID, version, limit).
			Query(appendRows(&out, scanCredential))
	})
	if err != nil {
		return nil, wrapErr("credentials below version", err)
	}
	return out, nil
}
