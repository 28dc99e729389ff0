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
    key_version  INTEGER NOT NULL,
    ciphertext   BLOB    NOT NULL,
    created_by   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    FOREIGN KEY (tenant_id, key_version) REFERENCES komand_vault_keys (tenant_id, version)
) STRICT;

CREATE UNIQUE INDEX komand_credentials_name ON komand_credentials (tenant_id, name);
