package sqlite

import (
	"context"
	"strings"

	"github.com/komand-ai/komand/internal/store"
)

const skillCols = "tenant_id, skill_id, version, version_key, name, description, publisher_id, category, contract, module_digest, signature_hash, signature_key_id, is_verified, created_by, created_at"

func scanSkill(sc scanner) (store.Skill, error) {
	var (
		k        store.Skill
		verified int
		created  int64
	)
	if err := sc.Scan(&k.TenantID, &k.SkillID, &k.Version, &k.VersionKey, &k.Name, &k.Description, &k.PublisherID, &k.Category,
		&k.Contract, &k.ModuleDigest, &k.SignatureHash, &k.SignatureKeyID, &verified, &k.CreatedBy, &created); err != nil {
		return store.Skill{}, err
	}
	k.IsVerified, k.CreatedAt = verified == 1, fromMicros(created)
	return k, nil
}

// CreateSkill stores one skill version, enforcing the registry limits.
func (s *Store) CreateSkill(ctx context.Context, k store.Skill, maxSkills, maxVersions int) error {
	return s.write(ctx, "create skill", func(tx txQuerier) error {
		var versions int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM komand_skills WHERE tenant_id = ? AND skill_id = ?`,
			k.TenantID, k.SkillID).Scan(&versions); err != nil {
			return err
		}
		if versions == 0 {
			var skills int
			if err := tx.QueryRowContext(ctx, `SELECT count(DISTINCT skill_id) FROM komand_skills WHERE tenant_id = ?`,
				k.TenantID).Scan(&skills); err != nil {
				return err
			}
			if skills >= maxSkills {
				return store.ErrLimit
			}
		} else if versions >= maxVersions {
			return store.ErrLimit
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_skills (`+skillCols+`, module)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, k.TenantID, k.SkillID, k.Version, k.VersionKey,
			k.Name, k.Description, k.PublisherID, k.Category, k.Contract, k.ModuleDigest, k.SignatureHash, k.SignatureKeyID,
			boolInt(k.IsVerified), k.CreatedBy, micros(k.CreatedAt), k.Module)
		return err
	})
}

// GetSkill returns one version, or the newest when version is "".
func (s *Store) GetSkill(ctx context.Context, tenantID, skillID, version string) (store.Skill, error) {
	if version == "" {
		k, err := scanSkill(s.rq.QueryRowContext(ctx, `SELECT `+skillCols+` FROM komand_skills
			WHERE tenant_id = ? AND skill_id = ? ORDER BY version_key DESC LIMIT 1`, tenantID, skillID))
		return k, wrap("get skill", err)
	}
	k, err := scanSkill(s.rq.QueryRowContext(ctx, `SELECT `+skillCols+` FROM komand_skills
		WHERE tenant_id = ? AND skill_id = ? AND version = ?`, tenantID, skillID, version))
	return k, wrap("get skill", err)
}

// SkillModule returns a version's module.
func (s *Store) SkillModule(ctx context.Context, tenantID, skillID, version string) ([]byte, error) {
	var m []byte
	err := s.rq.QueryRowContext(ctx, `SELECT module FROM komand_skills WHERE tenant_id = ? AND skill_id = ? AND version = ?`,
		tenantID, skillID, version).Scan(&m)
	return m, wrap("skill module", err)
}

// likePattern escapes q for LIKE ... ESCAPE '\'.
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListSkills returns the newest version of each matching skill.
func (s *Store) ListSkills(ctx context.Context, tenantID string, f store.SkillFilter, p store.Page) ([]store.Skill, int, error) {
	where := `s.tenant_id = ? AND s.version_key = (SELECT max(version_key) FROM komand_skills m
		WHERE m.tenant_id = s.tenant_id AND m.skill_id = s.skill_id)`
	args := []any{tenantID}
	if f.PublisherID != "" {
		where += ` AND s.publisher_id = ?`
		args = append(args, f.PublisherID)
	}
	if f.Category != "" {
		where += ` AND s.category = ?`
		args = append(args, f.Category)
	}
	if f.VerifiedOnly {
		where += ` AND s.is_verified = 1`
	}
	if f.Query != "" {
		where += ` AND (lower(s.skill_id) LIKE ? ESCAPE '\' OR lower(s.name) LIKE ? ESCAPE '\' OR lower(s.description) LIKE ? ESCAPE '\')`
		q := likePattern(f.Query)
		args = append(args, q, q, q)
	}
	var after string
	return listPage(ctx, s, listQuery{op: "list skills", tenantID: tenantID, from: "komand_skills s",
		cols: qualify("s", skillCols), where: where, args: args, order: "s.skill_id",
		list: store.SkillList, after: "s.skill_id > ?", key: []any{&after}}, p, scanSkill)
}

// ListSkillVersions returns every version of a skill, newest first.
func (s *Store) ListSkillVersions(ctx context.Context, tenantID, skillID string) ([]store.Skill, error) {
	return selectAll(ctx, s, "list skill versions", `SELECT `+skillCols+` FROM komand_skills
		WHERE tenant_id = ? AND skill_id = ? ORDER BY version_key DESC`, []any{tenantID, skillID}, scanSkill)
}

// DeleteSkillVersion removes one version, or all when version is "".
func (s *Store) DeleteSkillVersion(ctx context.Context, tenantID, skillID, version string) error {
	return s.write(ctx, "delete skill", func(tx txQuerier) error {
		var installed int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM komand_skill_installs
			WHERE tenant_id = ? AND skill_id = ? AND (? = '' OR version = ?)`, tenantID, skillID, version, version).Scan(&installed); err != nil {
			return err
		}
		if installed > 0 {
			return store.ErrConflict
		}
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_skills
			WHERE tenant_id = ? AND skill_id = ? AND (? = '' OR version = ?)`, tenantID, skillID, version, version))
	})
}

const installCols = "tenant_id, agent_id, skill_id, version, granted, config, installed_by, installed_at, updated_at"

func scanInstall(sc scanner) (store.SkillInstall, error) {
	var (
		in               store.SkillInstall
		granted, config  string
		created, updated int64
	)
	if err := sc.Scan(&in.TenantID, &in.AgentID, &in.SkillID, &in.Version, &granted, &config, &in.InstalledBy, &created, &updated); err != nil {
		return store.SkillInstall{}, err
	}
	in.Granted, in.Config = []byte(granted), []byte(config)
	in.InstalledAt, in.UpdatedAt = fromMicros(created), fromMicros(updated)
	return in, nil
}

// PutSkillInstall installs, upgrades or re-grants a skill on an agent.
func (s *Store) PutSkillInstall(ctx context.Context, in store.SkillInstall) (bool, error) {
	created := false
	err := s.write(ctx, "put skill install", func(tx txQuerier) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_agents WHERE tenant_id = ? AND agent_id = ?`,
			in.TenantID, in.AgentID).Scan(&one); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM komand_skills WHERE tenant_id = ? AND skill_id = ? AND version = ?`,
			in.TenantID, in.SkillID, in.Version).Scan(&one); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE komand_skill_installs SET version = ?, granted = ?, config = ?, updated_at = ?
			WHERE tenant_id = ? AND agent_id = ? AND skill_id = ?`, in.Version, string(in.Granted), string(in.Config),
			micros(in.UpdatedAt), in.TenantID, in.AgentID, in.SkillID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n > 0 {
			return err
		}
		created = true
		_, err = tx.ExecContext(ctx, `INSERT INTO komand_skill_installs (`+installCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			in.TenantID, in.AgentID, in.SkillID, in.Version, string(in.Granted), string(in.Config), in.InstalledBy,
			micros(in.InstalledAt), micros(in.UpdatedAt))
		return err
	})
	return created, err
}

// GetSkillInstall returns one installation.
func (s *Store) GetSkillInstall(ctx context.Context, tenantID, agentID, skillID string) (store.SkillInstall, error) {
	in, err := scanInstall(s.rq.QueryRowContext(ctx, `SELECT `+installCols+` FROM komand_skill_installs
		WHERE tenant_id = ? AND agent_id = ? AND skill_id = ?`, tenantID, agentID, skillID))
	return in, wrap("get skill install", err)
}

// ListSkillInstalls returns an agent's installations.
func (s *Store) ListSkillInstalls(ctx context.Context, tenantID, agentID string) ([]store.SkillInstall, error) {
	return selectAll(ctx, s, "list skill installs", `SELECT `+installCols+` FROM komand_skill_installs
		WHERE tenant_id = ? AND agent_id = ? ORDER BY skill_id`, []any{tenantID, agentID}, scanInstall)
}

// DeleteSkillInstall uninstalls a skill from an agent.
func (s *Store) DeleteSkillInstall(ctx context.Context, tenantID, agentID, skillID string) error {
	return s.write(ctx, "delete skill install", func(tx txQuerier) error {
		return mustAffect(tx.ExecContext(ctx, `DELETE FROM komand_skill_installs WHERE tenant_id = ? AND agent_id = ? AND skill_id = ?`,
			tenantID, agentID, skillID))
	})
}

// GetSkillPolicy returns the tenant's registry policy.
func (s *Store) GetSkillPolicy(ctx context.Context, tenantID string) (store.SkillPolicy, error) {
	p := store.SkillPolicy{TenantID: tenantID}
	var (
		allow   int
		updated int64
	)
	err := s.rq.QueryRowContext(ctx, `SELECT allow_unsigned, updated_by, updated_at FROM komand_skill_policy WHERE tenant_id = ?`,
		tenantID).Scan(&allow, &p.UpdatedBy, &updated)
	if err != nil {
		if wrap("", err) == store.ErrNotFound {
			return p, nil
		}
		return p, wrap("get skill policy", err)
	}
	p.AllowUnsigned, p.UpdatedAt = allow == 1, fromMicros(updated)
	return p, nil
}

// PutSkillPolicy stores the tenant's registry policy.
func (s *Store) PutSkillPolicy(ctx context.Context, p store.SkillPolicy) error {
	return s.write(ctx, "put skill policy", func(tx txQuerier) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO komand_skill_policy (tenant_id, allow_unsigned, updated_by, updated_at)
			VALUES (?, ?, ?, ?) ON CONFLICT (tenant_id) DO UPDATE SET allow_unsigned = excluded.allow_unsigned,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`,
			p.TenantID, boolInt(p.AllowUnsigned), p.UpdatedBy, micros(p.UpdatedAt))
		return err
	})
}
