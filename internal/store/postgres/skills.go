package postgres

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/komand-ai/komand/internal/store"
)

const skillCols = "tenant_id, skill_id, version, version_key, name, description, publisher_id, category, contract, module_digest, signature_hash, signature_key_id, is_verified, created_by, created_at"

func scanSkill(r pgx.Row) (store.Skill, error) {
	var k store.Skill
	if err := r.Scan(&k.TenantID, &k.SkillID, &k.Version, &k.VersionKey, &k.Name, &k.Description, &k.PublisherID, &k.Category,
		&k.Contract, &k.ModuleDigest, &k.SignatureHash, &k.SignatureKeyID, &k.IsVerified, &k.CreatedBy, &k.CreatedAt); err != nil {
		return store.Skill{}, err
	}
	k.CreatedAt = utc(k.CreatedAt)
	return k, nil
}

// CreateSkill stores one skill version, enforcing the registry limits. A
// transaction-scoped advisory lock per tenant serialises the count and
// the insert, so concurrent registrations cannot pass the limit together.
func (s *Store) CreateSkill(ctx context.Context, k store.Skill, maxSkills, maxVersions int) error {
	err := s.inTenant(ctx, k.TenantID, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended('komand_skills:' || $1, 0))`, k.TenantID); err != nil {
			return err
		}
		var versions, skills int
		if err := tx.QueryRow(ctx, `SELECT
			(SELECT count(*) FROM komand_skills WHERE tenant_id = $1 AND skill_id = $2),
			(SELECT count(DISTINCT skill_id) FROM komand_skills WHERE tenant_id = $1)`, k.TenantID, k.SkillID).Scan(&versions, &skills); err != nil {
			return err
		}
		if (versions == 0 && skills >= maxSkills) || (versions > 0 && versions >= maxVersions) {
			return store.ErrLimit
		}
		_, err := tx.Exec(ctx, `INSERT INTO komand_skills (`+skillCols+`, module)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)`, k.TenantID, k.SkillID, k.Version,
			k.VersionKey, k.Name, k.Description, k.PublisherID, k.Category, k.Contract, k.ModuleDigest, k.SignatureHash,
			k.SignatureKeyID, k.IsVerified, k.CreatedBy, k.CreatedAt, k.Module)
		return err
	})
	return wrapErr("create skill", err)
}

// GetSkill returns one version, or the newest when version is "".
func (s *Store) GetSkill(ctx context.Context, tenantID, skillID, version string) (store.Skill, error) {
	var k store.Skill
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+skillCols+` FROM komand_skills WHERE tenant_id = $1 AND skill_id = $2
			AND ($3 = '' OR version = $3) ORDER BY version_key DESC LIMIT 1`, tenantID, skillID, version).
			QueryRow(func(row pgx.Row) (err error) {
				k, err = scanSkill(row)
				return err
			})
	})
	return k, wrapErr("get skill", err)
}

// SkillModule returns a version's module.
func (s *Store) SkillModule(ctx context.Context, tenantID, skillID, version string) ([]byte, error) {
	var m []byte
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT module FROM komand_skills WHERE tenant_id = $1 AND skill_id = $2 AND version = $3`,
			tenantID, skillID, version).QueryRow(func(row pgx.Row) error { return row.Scan(&m) })
	})
	return m, wrapErr("skill module", err)
}

// ListSkills returns the newest version of each matching skill.
func (s *Store) ListSkills(ctx context.Context, tenantID string, f store.SkillFilter, p store.Page) ([]store.Skill, int, error) {
	where := `s.tenant_id = $1 AND s.version_key = (SELECT max(version_key) FROM komand_skills m
		WHERE m.tenant_id = s.tenant_id AND m.skill_id = s.skill_id)`
	args := []any{tenantID}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if f.PublisherID != "" {
		where += ` AND s.publisher_id = ` + arg(f.PublisherID)
	}
	if f.Category != "" {
		where += ` AND s.category = ` + arg(f.Category)
	}
	if f.VerifiedOnly {
		where += ` AND s.is_verified`
	}
	if f.Query != "" {
		q := arg(ilikePattern(f.Query))
		where += ` AND (s.skill_id ILIKE ` + q + ` OR s.name ILIKE ` + q + ` OR s.description ILIKE ` + q + `)`
	}
	var after string
	return listPage(ctx, s, listQuery{op: "list skills", tenantID: tenantID, from: "komand_skills s",
		cols: qualified("s", skillCols), where: where, args: args, order: `s.skill_id COLLATE "C"`,
		list: store.SkillList, after: `s.skill_id COLLATE "C" > $K1`, key: []any{&after}}, p, scanSkill)
}

// ilikePattern matches q as a literal substring (ILIKE's default escape
// is the backslash).
func ilikePattern(q string) string {
	return "%" + strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(q) + "%"
}

// qualified prefixes each of cols with alias.
func qualified(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = alias + "." + c
	}
	return strings.Join(parts, ", ")
}

// ListSkillVersions returns every version of a skill, newest first.
func (s *Store) ListSkillVersions(ctx context.Context, tenantID, skillID string) ([]store.Skill, error) {
	out := []store.Skill{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+skillCols+` FROM komand_skills WHERE tenant_id = $1 AND skill_id = $2 ORDER BY version_key DESC`,
			tenantID, skillID).Query(appendRows(&out, scanSkill))
	})
	if err != nil {
		return nil, wrapErr("list skill versions", err)
	}
	return out, nil
}

// DeleteSkillVersion removes one version, or all when version is "".
func (s *Store) DeleteSkillVersion(ctx context.Context, tenantID, skillID, version string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		var installed int
		// FOR UPDATE on the installations keeps a concurrent install of
		// this version from slipping in; the foreign key is the last wall.
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM (SELECT 1 FROM komand_skill_installs
			WHERE tenant_id = $1 AND skill_id = $2 AND ($3 = '' OR version = $3) FOR UPDATE) i`,
			tenantID, skillID, version).Scan(&installed); err != nil {
			return err
		}
		if installed > 0 {
			return store.ErrConflict
		}
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_skills WHERE tenant_id = $1 AND skill_id = $2
			AND ($3 = '' OR version = $3)`, tenantID, skillID, version))
	})
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23503" { // an install raced in
		return store.ErrConflict
	}
	return wrapErr("delete skill", err)
}

const installCols = "tenant_id, agent_id, skill_id, version, granted, config, installed_by, installed_at, updated_at"

func scanInstall(r pgx.Row) (store.SkillInstall, error) {
	var (
		in              store.SkillInstall
		granted, config string
	)
	if err := r.Scan(&in.TenantID, &in.AgentID, &in.SkillID, &in.Version, &granted, &config, &in.InstalledBy,
		&in.InstalledAt, &in.UpdatedAt); err != nil {
		return store.SkillInstall{}, err
	}
	in.Granted, in.Config = []byte(granted), []byte(config)
	in.InstalledAt, in.UpdatedAt = utc(in.InstalledAt), utc(in.UpdatedAt)
	return in, nil
}

// PutSkillInstall installs, upgrades or re-grants a skill on an agent.
func (s *Store) PutSkillInstall(ctx context.Context, in store.SkillInstall) (bool, error) {
	created := false
	err := s.inTenant(ctx, in.TenantID, func(tx pgx.Tx) error {
		var agent, skill bool
		if err := tx.QueryRow(ctx, `SELECT
			EXISTS (SELECT 1 FROM komand_agents WHERE tenant_id = $1 AND agent_id = $2),
			EXISTS (SELECT 1 FROM komand_skills WHERE tenant_id = $1 AND skill_id = $3 AND version = $4)`,
			in.TenantID, in.AgentID, in.SkillID, in.Version).Scan(&agent, &skill); err != nil {
			return err
		}
		if !agent || !skill {
			return store.ErrNotFound
		}
		return tx.QueryRow(ctx, `INSERT INTO komand_skill_installs (`+installCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
			ON CONFLICT (tenant_id, agent_id, skill_id) DO UPDATE SET version = excluded.version, granted = excluded.granted,
			config = excluded.config, updated_at = excluded.updated_at
			RETURNING (xmax = 0)`, in.TenantID, in.AgentID, in.SkillID, in.Version, string(in.Granted), string(in.Config),
			in.InstalledBy, in.InstalledAt, in.UpdatedAt).Scan(&created)
	})
	if err != nil {
		return false, wrapErr("put skill install", err)
	}
	return created, nil
}

// GetSkillInstall returns one installation.
func (s *Store) GetSkillInstall(ctx context.Context, tenantID, agentID, skillID string) (store.SkillInstall, error) {
	var in store.SkillInstall
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+installCols+` FROM komand_skill_installs WHERE tenant_id = $1 AND agent_id = $2 AND skill_id = $3`,
			tenantID, agentID, skillID).QueryRow(func(row pgx.Row) (err error) {
			in, err = scanInstall(row)
			return err
		})
	})
	return in, wrapErr("get skill install", err)
}

// ListSkillInstalls returns an agent's installations.
func (s *Store) ListSkillInstalls(ctx context.Context, tenantID, agentID string) ([]store.SkillInstall, error) {
	out := []store.SkillInstall{}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT `+installCols+` FROM komand_skill_installs WHERE tenant_id = $1 AND agent_id = $2
			ORDER BY skill_id COLLATE "C"`, tenantID, agentID).Query(appendRows(&out, scanInstall))
	})
	if err != nil {
		return nil, wrapErr("list skill installs", err)
	}
	return out, nil
}

// DeleteSkillInstall uninstalls a skill from an agent.
func (s *Store) DeleteSkillInstall(ctx context.Context, tenantID, agentID, skillID string) error {
	err := s.inTenant(ctx, tenantID, func(tx pgx.Tx) error {
		return mustAffect(tx.Exec(ctx, `DELETE FROM komand_skill_installs WHERE tenant_id = $1 AND agent_id = $2 AND skill_id = $3`,
			tenantID, agentID, skillID))
	})
	return wrapErr("delete skill install", err)
}

// GetSkillPolicy returns the tenant's registry policy.
func (s *Store) GetSkillPolicy(ctx context.Context, tenantID string) (store.SkillPolicy, error) {
	p := store.SkillPolicy{TenantID: tenantID}
	err := s.readTenant(ctx, tenantID, func(b *pgx.Batch) {
		b.Queue(`SELECT allow_unsigned, updated_by, updated_at FROM komand_skill_policy WHERE tenant_id = $1`, tenantID).
			QueryRow(func(row pgx.Row) error { return row.Scan(&p.AllowUnsigned, &p.UpdatedBy, &p.UpdatedAt) })
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return store.SkillPolicy{TenantID: tenantID}, nil
	}
	p.UpdatedAt = utc(p.UpdatedAt)
	return p, wrapErr("get skill policy", err)
}

// PutSkillPolicy stores the tenant's registry policy.
func (s *Store) PutSkillPolicy(ctx context.Context, p store.SkillPolicy) error {
	err := s.inTenant(ctx, p.TenantID, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO komand_skill_policy (tenant_id, allow_unsigned, updated_by, updated_at)
			VALUES ($1, $2, $3, $4) ON CONFLICT (tenant_id) DO UPDATE SET allow_unsigned = excluded.allow_unsigned,
			updated_by = excluded.updated_by, updated_at = excluded.updated_at`, p.TenantID, p.AllowUnsigned, p.UpdatedBy, p.UpdatedAt)
		return err
	})
	return wrapErr("put skill policy", err)
}
