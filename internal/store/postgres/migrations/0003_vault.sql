-- 0003_vault: tenants' wrapped data keys and encrypted credentials.

CREATE TABLE komand_vault_keys (
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    version    integer     NOT NULL CHECK (version > 0),
    kek_id     text        NOT NULL CHECK (kek_id <> ''),
    wrapped    bytea       NOT NULL,
    created_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, version)
);

CREATE TABLE komand_credentials (
    id           text        NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id    text        NOT NULL REFERENCES komand_tenants (id),
    name         text        NOT NULL CHECK (name <> ''),
    type         text        NOT NULL,
    source       text        NOT NULL DEFAULT '',
    key_version  integer     NOT NULL,
    ciphertext   bytea       NOT NULL,
    created_by   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    FOREIGN KEY (tenant_id, key_version) REFERENCES komand_vault_keys (tenant_id, version)
);

CREATE UNIQUE INDEX komand_credentials_name ON komand_credentials (tenant_id, name);
-- A grant names its credential with its tenant, so it cannot point across tenants.
CREATE UNIQUE INDEX komand_credentials_tenant_id ON komand_credentials (tenant_id, id);

CREATE TABLE komand_credential_grants (
    tenant_id     text        NOT NULL,
    credential_id text        NOT NULL REFERENCES komand_credentials (id) ON DELETE CASCADE,
    agent_id      text        NOT NULL,
    skill_id      text        NOT NULL CHECK (skill_id <> ''),
    created_by    text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, credential_id, agent_id, skill_id),
    FOREIGN KEY (tenant_id, credential_id) REFERENCES komand_credentials (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
);

CREATE INDEX komand_credential_grants_agent ON komand_credential_grants (tenant_id, agent_id, skill_id);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_vault_keys', 'komand_credentials', 'komand_credential_grants']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
END
$$;

-- Data keys are created and rewrapped, never deleted by the application.
GRANT SELECT, INSERT, UPDATE         ON komand_vault_keys  TO komand_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON komand_credentials TO komand_app;
GRANT SELECT, INSERT, DELETE         ON komand_credential_grants TO komand_app;
