-- 0002_sessions_memory: sessions, their history (turns) and agent memory.

CREATE TABLE komand_sessions (
    id                 TEXT    NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id          TEXT    NOT NULL REFERENCES komand_tenants (id),
    session_key        TEXT    NOT NULL CHECK (session_key <> ''),
    channel            TEXT    NOT NULL,
    channel_account_id TEXT    NOT NULL,
    sender_id          TEXT    NOT NULL,
    agent_id           TEXT    NOT NULL,
    metadata           TEXT    NOT NULL,
    message_count      INTEGER NOT NULL DEFAULT 0,
    first_message_at   INTEGER NOT NULL,
    last_message_at    INTEGER NOT NULL,
    ended_at           INTEGER,
    end_reason         TEXT    NOT NULL DEFAULT ''
) STRICT;

-- At most one active session per key and tenant; ended ones keep their key.
CREATE UNIQUE INDEX komand_sessions_active_key ON komand_sessions (tenant_id, session_key)
    WHERE ended_at IS NULL;
CREATE INDEX komand_sessions_tenant_last ON komand_sessions (tenant_id, last_message_at);

CREATE TABLE komand_session_turns (
    tenant_id    TEXT    NOT NULL,
    session_id   TEXT    NOT NULL REFERENCES komand_sessions (id),
    seq          INTEGER NOT NULL CHECK (seq > 0),
    role         TEXT    NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    text         TEXT    NOT NULL,
    tool_calls   TEXT,
    tool_call_id TEXT    NOT NULL DEFAULT '',
    tool_name    TEXT    NOT NULL DEFAULT '',
    is_error     INTEGER NOT NULL DEFAULT 0,
    request_id   TEXT    NOT NULL DEFAULT '',
    created_at   INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, session_id, seq)
) STRICT, WITHOUT ROWID;

CREATE TABLE komand_agent_memory (
    tenant_id  TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    mem_key    TEXT    NOT NULL CHECK (mem_key <> ''),
    value      TEXT    NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, mem_key),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
) STRICT, WITHOUT ROWID;
