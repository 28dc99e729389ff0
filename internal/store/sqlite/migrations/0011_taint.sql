-- 0011_taint: controls that hold across turns — the provenance of agent
-- memory and the in-channel confirmations of held tool calls.

-- 'untrusted': written by a turn that held untrusted content (or by a
-- sender who is not a Komand user); recalled as data, and it taints the
-- recalling turn. Rows from before this migration cannot be vouched for.
ALTER TABLE komand_agent_memory ADD COLUMN provenance TEXT NOT NULL DEFAULT 'untrusted'
    CHECK (provenance IN ('trusted', 'untrusted'));

-- A consequential tool call waiting for the user in the conversation to
-- reply "CONFIRM <code>". The code is never stored, only a hash of it; a
-- confirmation is pending until closed, and closed exactly when it has a
-- closing time.
CREATE TABLE komand_tool_confirmations (
    tenant_id  TEXT    NOT NULL REFERENCES komand_tenants (id),
    id         TEXT    NOT NULL CHECK (id <> ''),
    session_id TEXT    NOT NULL,
    agent_id   TEXT    NOT NULL,
    user_id    TEXT    NOT NULL CHECK (user_id <> ''),
    turn_seq   INTEGER NOT NULL CHECK (turn_seq > 0),
    call_hash  TEXT    NOT NULL CHECK (call_hash <> ''),
    code_hash  TEXT    NOT NULL CHECK (code_hash <> ''),
    tool_names TEXT    NOT NULL DEFAULT '',
    attempts   INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status     TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    request_id TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    closed_at  INTEGER,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'pending') = (closed_at IS NULL))
) STRICT;

-- At most one pending confirmation per session.
CREATE UNIQUE INDEX komand_tool_confirmations_pending ON komand_tool_confirmations (tenant_id, session_id)
    WHERE status = 'pending';
