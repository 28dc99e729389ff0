package sqlite

import (
	"context"
	"database/sql"
	"strings"
	"time"

	"github.com/komand-ai/komand/internal/store"
)

// CreateDataKey stores a new version of a tenant's data key.
func (s *Store) CreateDataKey(ctx context.Context, k store.DataKey) error {
	return s.write(ctx, "create data key", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_vault_keys (tenant_id, version, kek_id, wrapped, created_at)
			VALUES (?, ?, ?, ?, ?)`, k.TenantID, k.Version, k.KEKID, k.Wrapped, micros(k.CreatedAt))
		return err
	})
}

// DataKeys returns a tenant's data keys, newest first.
func (s *Store) DataKeys(ctx context.Context, tenantID string) ([]store.DataKey, error) {
	return selectAll(ctx, s, "data keys", `SELECT tenant_id, version, kek_id, wrapped, created_at
		FROM komand_vault_keys WHERE tenant_id = ? ORDER BY version DESC`, []any{tenantID},
		func(sc scanner) (store.DataKey, error) {
			var (
				k       store.DataKey
				created int64
			)
			err := sc.Scan(&k.TenantID, &k.Version, &k.KEKID, &k.Wrapped, &created)
			k.CreatedAt = fromMicros(created)
			return k, err
		})
}

// RewrapDataKeys replaces the wrapping of the versions still under their
// old KEK, in one transaction.
func (s *Store) RewrapDataKeys(ctx context.Context, rs []store.DataKeyRewrap) (int, error) {
	n := 0
	err := s.write(ctx, "rewrap data keys", func(tx txQuerier) error {
		n = 0
		for _, r := range rs {
			res, err := tx.ExecContext(ctx, `UPDATE komand_vault_keys SET kek_id = ?, wrapped = ?
				WHERE tenant_id = ? AND version = ? AND kek_id = ?`, r.NewKEKID, r.Wrapped, r.TenantID, r.Version, r.OldKEKID)
			if err != nil {
				return err
			}
			k, err := res.RowsAffected()
			if err != nil {
				return err
			}
			n += int(k)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

const credentialCols = "tenant_id, id, name, type, source, key_version, ciphertext, created_by, created_at, updated_at, last_used_at"

func scanCredential(sc scanner) (store.Credential, error) { return scanCredentialAnd(sc) }

// scanCredentialAnd scans a credential row followed by extra columns.
func scanCredentialAnd(sc scanner, extra ...any) (store.Credential, error) {
	var (
		c                store.Credential
		created, updated int64
		used             sql.NullInt64
	)
	if err := sc.Scan(append([]any{&c.TenantID, &c.ID, &c.Name, &c.Type, &c.Source, &c.KeyVersion, &c.Ciphertext, &c.CreatedBy,
		&created, &updated, &used}, extra...)...); err != nil {
		return store.Credential{}, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	if used.Valid {
		t := fromMicros(used.Int64)
		c.LastUsedAt = &t
	}
	return c, nil
}

// CreateCredential stores a new credential, unless the tenant has
// maxCredentials.
func (s *Store) CreateCredential(ctx context.Context, c store.Credential, maxCredentials int) error {
	return s.write(ctx, "create credential", func(tx txQuerier) error {
		if err := atLimit(ctx, tx, `SELECT 1 FROM komand_credentials WHERE tenant_id = ?`, maxCredentials, c.TenantID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_credentials (`+credentialCols+`)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`, c.TenantID, c.ID, c.Name, c.Type, c.Source, c.KeyVersion,
			c.Ciphertext, c.CreatedBy, micros(c.CreatedAt), micros(c.UpdatedAt))
		return err
	})
}

// GetCredential returns one credential of the tenant by ID.
func (s *Store) GetCredential(ctx context.Context, tenantID, id string) (store.Credential, error) {
	c, err := scanCredential(s.rq.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM komand_credentials
		WHERE tenant_id = ? AND id = ?`, tenantID, id))
	return c, wrap("get credential", err)
}

// GetCredentialByName returns one credential of the tenant by name.
func (s *Store) GetCredentialByName(ctx context.Context, tenantID, name string) (store.Credential, error) {
	c, err := scanCredential(s.rq.QueryRowContext(ctx, `SELECT `+credentialCols+` FROM komand_credentials
		WHERE tenant_id = ? AND name = ?`, tenantID, name))
	return c, wrap("get credential", err)
}

// ListCredentials returns one page of the tenant's credentials by name.
func (s *Store) ListCredentials(ctx context.Context, tenantID string, p store.Page) ([]store.Credential, int, error) {
	var name string
	return listPage(ctx, s, listQuery{op: "list credentials", tenantID: tenantID, from: "komand_credentials",
		cols: credentialCols, where: "tenant_id = ?", args: []any{tenantID}, order: "name",
		list: store.CredentialList, after: "name > ?", key: []any{&name}}, p, scanCredential)
}

// UpdateCredential replaces a credential's name and type, and its value
// when replaceValue is set.
func (s *Store) UpdateCredential(ctx context.Context, c store.Credential, replaceValue bool) error {
	return s.write(ctx, "update credential", func(tx txQuerier) error {
		if !replaceValue {
			return mustAffect(tx.ExecContext(ctx, `UPDATE komand_credentials SET name = ?, type = ?, updated_at = ?
				WHERE tenant_id = ? AND id = ?`, c.Name, c.Type, micros(c.UpdatedAt), c.TenantID, c.ID))
		}
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_credentials
			SET name = ?, type = ?, key_version = ?, ciphertext = ?, updated_at = ?
			WHERE tenant_id = ? AND id = ?`, c.Name, c.Type, c.KeyVersion, c.Ciphertext, micros(c.UpdatedAt),
			c.TenantID, c.ID))
	})
}

// TouchCredential records a use.
func (s *Store) TouchCredential(ctx context.Context, tenantID, id string, at time.Time) error {
	return s.write(ctx, "touch credential", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `UPDATE komand_credentials SET last_used_at = ?
			WHERE tenant_id = ? AND id = ?`, micros(at), tenantID, id))
	})
}

// DeleteCredential removes a credential.
func (s *Store) DeleteCredential(ctx context.Context, tenantID, id string) error {
	return s.write(ctx, "delete credential", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_credentials WHERE tenant_id = ? AND id = ?`, tenantID, id))
	})
}

// GrantCredential lets one skill of one agent read a credential.
func (s *Store) GrantCredential(ctx context.Context, g store.CredentialGrant) error {
	return s.write(ctx, "grant credential", func(tx txQuerier) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_credentials WHERE tenant_id = ? AND id = ?`,
			g.TenantID, g.CredentialID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`,
			g.TenantID, g.AgentID).Scan(&one); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_credential_grants
			(tenant_id, credential_id, agent_id, skill_id, hosts, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			g.TenantID, g.CredentialID, g.AgentID, g.SkillID, strings.Join(g.Hosts, ","), g.CreatedBy, micros(g.CreatedAt))
		return err
	})
}

// RevokeCredential removes one grant.
func (s *Store) RevokeCredential(ctx context.Context, tenantID, credentialID, agentID, skillID string) error {
	return s.write(ctx, "revoke credential", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_credential_grants
			WHERE tenant_id = ? AND credential_id = ? AND agent_id = ? AND skill_id = ?`,
			tenantID, credentialID, agentID, skillID))
	})
}

// CredentialGrants lists a credential's grants.
func (s *Store) CredentialGrants(ctx context.Context, tenantID, credentialID string) ([]store.CredentialGrant, error) {
	return selectAll(ctx, s, "credential grants", `SELECT tenant_id, credential_id, agent_id, skill_id, hosts, created_by, created_at
		FROM komand_credential_grants WHERE tenant_id = ? AND credential_id = ? ORDER BY agent_id, skill_id`,
		[]any{tenantID, credentialID}, func(sc scanner) (store.CredentialGrant, error) {
			var (
				g       store.CredentialGrant
				hosts   string
				created int64
			)
			err := sc.Scan(&g.TenantID, &g.CredentialID, &g.AgentID, &g.SkillID, &hosts, &g.CreatedBy, &created)
			g.Hosts, g.CreatedAt = store.SplitHosts(hosts), fromMicros(created)
			return g, err
		})
}

// GrantedCredential returns a credential by name if the skill of the agent
// holds a grant for it.
func (s *Store) GrantedCredential(ctx context.Context, tenantID, agentID, skillID, name string) (store.Credential, []string, error) {
	var hosts string
	c, err := scanCredentialAnd(s.rq.QueryRowContext(ctx, `SELECT `+qualify("c", credentialCols)+`, g.hosts
		FROM komand_credentials c JOIN komand_credential_grants g
		  ON g.tenant_id = c.tenant_id AND g.credential_id = c.id
		WHERE c.tenant_id = ? AND c.name = ? AND g.agent_id = ? AND g.skill_id = ?`, tenantID, name, agentID, skillID), &hosts)
	return c, store.SplitHosts(hosts), wrap("granted credential", err)
}

// ReencryptCredential moves a credential to another data key version.
func (s *Store) ReencryptCredential(ctx context.Context, tenantID, id string, oldCiphertext []byte, newVersion int, ciphertext []byte) error {
	return s.write(ctx, "reencrypt credential", func(tx txQuerier) error {
		err := mustAffect(tx.ExecContext(ctx, `UPDATE komand_credentials SET key_version = ?, ciphertext = ?
			WHERE tenant_id = ? AND id = ? AND ciphertext = ?`, newVersion, ciphertext, tenantID, id, oldCiphertext))
		if err == store.ErrNotFound {
			return store.ErrConflict
		}
		return err
	})
}

// CredentialsBelowVersion lists credentials still under older data keys.
func (s *Store) CredentialsBelowVersion(ctx context.Context, tenantID string, version, limit int) ([]store.Credential, error) {
	return selectAll(ctx, s, "credentials below version", `SELECT `+credentialCols+` FROM komand_credentials
		WHERE tenant_id = ? AND key_version < ? ORDER BY id LIMIT ?`, []any{tenantID, version, limit}, scanCredential)
}
