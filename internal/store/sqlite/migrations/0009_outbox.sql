-- 0009_outbox: the durable queue of replies to be sent to a platform
-- (Slack, Telegram). A row names the channel account it is sent as, never
-- its bot token (read from the vault at each attempt); payload is the reply
-- and its destination, deleted with the row once delivered or given up.
-- lease_token/lease_until hold a row for the one worker attempting it.

CREATE TABLE komand_outbox (
    tenant_id          TEXT    NOT NULL REFERENCES komand_tenants (id),
    id                 TEXT    NOT NULL CHECK (id <> ''),
    channel            TEXT    NOT NULL,
    channel_account_id TEXT    NOT NULL,
    agent_id           TEXT    NOT NULL DEFAULT '',
    session_id         TEXT    NOT NULL DEFAULT '',
    message_id         TEXT    NOT NULL DEFAULT '',
    request_id         TEXT    NOT NULL DEFAULT '',
    payload            BLOB    NOT NULL,
    attempts           INTEGER NOT NULL CHECK (attempts >= 0),
    next_attempt_at    INTEGER NOT NULL,
    lease_token        TEXT    NOT NULL DEFAULT '',
    lease_until        INTEGER NOT NULL,
    last_error_class   TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

-- The worker's scan: due rows, the longest waiting first.
CREATE INDEX komand_outbox_due ON komand_outbox (next_attempt_at, tenant_id);
