-- 0005_skills: the tenant's skill registry (one row per version, never
-- edited), skills installed on agents with the permissions granted, and
-- the tenant's registry policy.

CREATE TABLE komand_skills (
    tenant_id        text        NOT NULL REFERENCES komand_tenants (id),
    skill_id         text        NOT NULL CHECK (skill_id <> ''),
    version          text        NOT NULL CHECK (version <> ''),
    version_key      text        NOT NULL,
    name             text        NOT NULL,
    description      text        NOT NULL,
    publisher_id     text        NOT NULL,
    category         text        NOT NULL DEFAULT '',
    contract         bytea       NOT NULL,
    module           bytea       NOT NULL,
    module_digest    text        NOT NULL,
    signature_hash   text        NOT NULL,
    signature_key_id text        NOT NULL DEFAULT '',
    is_verified      boolean     NOT NULL,
    created_by       text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, skill_id, version)
);

CREATE INDEX komand_skills_newest ON komand_skills (tenant_id, skill_id, version_key);

CREATE TABLE komand_skill_installs (
    tenant_id    text        NOT NULL,
    agent_id     text        NOT NULL,
    skill_id     text        NOT NULL,
    version      text        NOT NULL,
    granted      text        NOT NULL,
    config       text        NOT NULL DEFAULT '{}',
    installed_by text        NOT NULL DEFAULT '',
    installed_at timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, skill_id),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, skill_id, version) REFERENCES komand_skills (tenant_id, skill_id, version)
);

CREATE INDEX komand_skill_installs_skill ON komand_skill_installs (tenant_id, skill_id, version);

CREATE TABLE komand_skill_policy (
    tenant_id      text        NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    allow_unsigned boolean     NOT NULL,
    updated_by     text        NOT NULL DEFAULT '',
    updated_at     timestamptz NOT NULL
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_skills', 'komand_skill_installs', 'komand_skill_policy']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
END
$$;

-- Versions are never edited in place: no UPDATE on komand_skills.
GRANT SELECT, INSERT, DELETE         ON komand_skills         TO komand_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON komand_skill_installs TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_skill_policy   TO komand_app;
