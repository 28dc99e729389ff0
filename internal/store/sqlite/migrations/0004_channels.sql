-- 0004_channels: channel accounts (an account of a platform bound to an
-- agent, with the vault credential holding its signing secret) and the
-- signatures of recent webhook deliveries (replay protection).

CREATE TABLE komand_channel_accounts (
    id                   TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id            TEXT    NOT NULL REFERENCES komand_tenants (id),
    channel              TEXT    NOT NULL,
    account_id           TEXT    NOT NULL CHECK (account_id <> ''),
    agent_id             TEXT    NOT NULL,
    secret_credential_id TEXT    NOT NULL DEFAULT '',
    token_credential_id  TEXT    NOT NULL DEFAULT '',
    created_by           TEXT    NOT NULL DEFAULT '',
    created_at           INTEGER NOT NULL,
    updated_at           INTEGER NOT NULL,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
) STRICT;

CREATE UNIQUE INDEX komand_channel_accounts_key ON komand_channel_accounts (tenant_id, channel, account_id);

CREATE TABLE komand_webhook_seen (
    tenant_id  TEXT    NOT NULL,
    account_id TEXT    NOT NULL,
    signature  TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, account_id, signature)
) STRICT, WITHOUT ROWID;

CREATE INDEX komand_webhook_seen_expiry ON komand_webhook_seen (tenant_id, account_id, expires_at);
