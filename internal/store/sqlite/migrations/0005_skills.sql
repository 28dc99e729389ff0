-- 0005_skills: the tenant's skill registry (one row per version, never
-- edited), skills installed on agents with the permissions granted, and
-- the tenant's registry policy.

CREATE TABLE komand_skills (
    tenant_id        TEXT    NOT NULL REFERENCES komand_tenants (id),
    skill_id         TEXT    NOT NULL CHECK (skill_id <> ''),
    version          TEXT    NOT NULL CHECK (version <> ''),
    version_key      TEXT    NOT NULL,
    name             TEXT    NOT NULL,
    description      TEXT    NOT NULL,
    publisher_id     TEXT    NOT NULL,
    category         TEXT    NOT NULL DEFAULT '',
    contract         BLOB    NOT NULL,
    module           BLOB    NOT NULL,
    module_digest    TEXT    NOT NULL,
    signature_hash   TEXT    NOT NULL,
    signature_key_id TEXT    NOT NULL DEFAULT '',
    is_verified      INTEGER NOT NULL CHECK (is_verified IN (0, 1)),
    created_by       TEXT    NOT NULL DEFAULT '',
    created_at       INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, skill_id, version)
) STRICT;

CREATE INDEX komand_skills_newest ON komand_skills (tenant_id, skill_id, version_key);

CREATE TABLE komand_skill_installs (
    tenant_id    TEXT    NOT NULL,
    agent_id     TEXT    NOT NULL,
    skill_id     TEXT    NOT NULL,
    version      TEXT    NOT NULL,
    granted      TEXT    NOT NULL,
    config       TEXT    NOT NULL DEFAULT '{}',
    installed_by TEXT    NOT NULL DEFAULT '',
    installed_at INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, skill_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id, version) REFERENCES komand_skills (tenant_id, skill_id, version)
) STRICT;

CREATE INDEX komand_skill_installs_skill ON komand_skill_installs (tenant_id, skill_id, version);

CREATE TABLE komand_skill_policy (
    tenant_id      TEXT    NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    allow_unsigned INTEGER NOT NULL CHECK (allow_unsigned IN (0, 1)),
    updated_by     TEXT    NOT NULL DEFAULT '',
    updated_at     INTEGER NOT NULL
) STRICT;
