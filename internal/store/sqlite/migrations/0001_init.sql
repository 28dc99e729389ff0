-- 0001_init: the whole schema of the embedded store.
--
-- Table names are shared with the PostgreSQL store. Timestamps are INTEGER
-- unix microseconds (UTC), so ordering and range filters are exact and match
-- the microsecond precision of the records. Every table is STRICT: a value of
-- the wrong type is an error instead of being silently stored.
--
-- Tenant-owned rows reference their parent by (tenant_id, id), not by id
-- alone, so the database itself refuses, for example, an API key of tenant A
-- that points at a user of tenant B.

CREATE TABLE komand_tenants (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    slug       TEXT    NOT NULL UNIQUE CHECK (slug <> ''),
    name       TEXT    NOT NULL,
    created_at INTEGER NOT NULL
) STRICT;

-- The reserved platform tenant (store.PlatformTenantID). Its slug starts with
-- "_", which tenant slugs may not.
INSERT INTO komand_tenants (id, slug, name, created_at)
VALUES ('00000000-0000-0000-0000-000000000000', '_platform', 'Platform',
        CAST(strftime('%s', 'now') AS INTEGER) * 1000000);

CREATE TABLE komand_users (
    id            TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id     TEXT    NOT NULL REFERENCES komand_tenants (id),
    email         TEXT    NOT NULL,
    name          TEXT    NOT NULL,
    role          TEXT    NOT NULL,
    password_hash TEXT    NOT NULL,
    active        INTEGER NOT NULL CHECK (active IN (0, 1)),
    -- A pending invitation: the SHA-256 (hex) of a one-time token and its
    -- expiry, both NULL when there is none.
    invite_hash       TEXT    CHECK (invite_hash <> ''),
    invite_expires_at INTEGER,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (tenant_id, id),
    CHECK ((invite_hash IS NULL) = (invite_expires_at IS NULL))
) STRICT;

-- Login names no tenant, so an email is unique across the whole platform,
-- compared case-insensitively.
CREATE UNIQUE INDEX komand_users_email_key ON komand_users (lower(email));
CREATE INDEX komand_users_tenant_email ON komand_users (tenant_id, lower(email));
-- Accepting an invitation names no tenant either: the hash finds the user.
CREATE UNIQUE INDEX komand_users_invite_hash ON komand_users (invite_hash) WHERE invite_hash IS NOT NULL;

CREATE TABLE komand_api_keys (
    id           TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    prefix       TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE CHECK (hash <> ''),
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER,
    revoked_at   INTEGER,
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
) STRICT;

CREATE INDEX komand_api_keys_user ON komand_api_keys (tenant_id, user_id);

CREATE TABLE komand_refresh_families (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
) STRICT;

CREATE INDEX komand_refresh_families_user ON komand_refresh_families (tenant_id, user_id);

CREATE TABLE komand_refresh_tokens (
    hash       TEXT    NOT NULL PRIMARY KEY CHECK (hash <> ''),
    tenant_id  TEXT    NOT NULL,
    family_id  TEXT    NOT NULL,
    user_id    TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    FOREIGN KEY (tenant_id, family_id) REFERENCES komand_refresh_families (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
) STRICT;

CREATE INDEX komand_refresh_tokens_family ON komand_refresh_tokens (tenant_id, family_id);

CREATE TABLE komand_agents (
    tenant_id          TEXT    NOT NULL REFERENCES komand_tenants (id),
    agent_id           TEXT    NOT NULL CHECK (agent_id <> ''),
    name               TEXT    NOT NULL,
    description        TEXT,
    system_prompt      TEXT    NOT NULL,
    model_provider     TEXT    NOT NULL,
    model_id           TEXT    NOT NULL,
    max_context_tokens INTEGER NOT NULL,
    enabled_skill_ids  TEXT    NOT NULL CHECK (json_valid(enabled_skill_ids)),
    allowed_channels   TEXT    NOT NULL CHECK (json_valid(allowed_channels)),
    owner_id           TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
) STRICT;

-- The audit log. details is TEXT, not a JSON type: the bytes are hashed, so
-- they must come back exactly as they went in.
CREATE TABLE komand_audit_log (
    id         TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id  TEXT    NOT NULL REFERENCES komand_tenants (id),
    seq        INTEGER NOT NULL CHECK (seq > 0),
    action     TEXT    NOT NULL,
    actor_id   TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    session_id TEXT    NOT NULL,
    skill_id   TEXT    NOT NULL,
    details    TEXT    NOT NULL,
    request_id TEXT    NOT NULL,
    ts         INTEGER NOT NULL,
    prev_hash  TEXT    NOT NULL,
    hash       TEXT    NOT NULL CHECK (hash <> ''),
    UNIQUE (tenant_id, seq)
) STRICT;

CREATE INDEX komand_audit_log_tenant_ts ON komand_audit_log (tenant_id, ts);
CREATE INDEX komand_audit_log_tenant_action ON komand_audit_log (tenant_id, action, seq);

-- Append-only inside the database too: the application has no UPDATE or
-- DELETE path, and these triggers stop one added by mistake (or typed into a
-- shell). Someone with write access to the file can still drop them; that is
-- what the hash chain is for.
CREATE TRIGGER komand_audit_log_no_update BEFORE UPDATE ON komand_audit_log
BEGIN
    SELECT RAISE(ABORT, 'komand_audit_log is append-only');
END;

CREATE TRIGGER komand_audit_log_no_delete BEFORE DELETE ON komand_audit_log
BEGIN
    SELECT RAISE(ABORT, 'komand_audit_log is append-only');
END;

-- The head of each tenant's hash chain, so appending needs no scan.
CREATE TABLE komand_audit_heads (
    tenant_id TEXT    NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    seq       INTEGER NOT NULL,
    hash      TEXT    NOT NULL
) STRICT;
