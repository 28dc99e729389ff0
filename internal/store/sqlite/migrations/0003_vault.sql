-- 0003_vault: tenants' wrapped data keys and encrypted credentials.

CREATE TABLE komand_vault_keys (
    tenant_id  TEXT    NOT NULL REFERENCES komand_tenants (id),
    version    INTEGER NOT NULL CHECK (version > 0),
    kek_id     TEXT    NOT NULL CHECK (kek_id <> ''),
    wrapped    BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, version)
) STRICT, WITHOUT ROWID;

CREATE TABLE komand_credentials (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id    TEXT    NOT NULL REFERENCES komand_tenants (id),
    name         TEXT    NOT NULL CHECK (name <> ''),
    type         TEXT    NOT NULL,
    source       TEXT    NOT NULL DEFAULT '',
    key_version  INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    FOREIGN KEY (tenant_id, key_version) REFERENCES komand_vault_keys (tenant_id, version)
) STRICT;

CREATE UNIQUE INDEX komand_credentials_name ON komand_credentials (tenant_id, name);
-- A grant names its credential with its tenant, so it cannot point across tenants.
CREATE UNIQUE INDEX komand_credentials_tenant_id ON komand_credentials (tenant_id, id);

CREATE TABLE komand_credential_grants (
    tenant_id     TEXT    NOT NULL,
    credential_id TEXT    NOT NULL,
    agent_id      TEXT    NOT NULL,
    skill_id      TEXT    NOT NULL CHECK (skill_id <> ''),
    created_by    TEXT    NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, credential_id, agent_id, skill_id),
    FOREIGN KEY (tenant_id, credential_id) REFERENCES komand_credentials (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;

CREATE INDEX komand_credential_grants_agent ON komand_credential_grants (tenant_id, agent_id, skill_id);
