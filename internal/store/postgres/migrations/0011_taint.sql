-- 0011_taint: controls that hold across turns — the provenance of agent
-- memory and the in-channel confirmations of held tool calls.

-- 'untrusted': written by a turn that held untrusted content (or by a
-- sender who is not a Komand user); recalled as data, and it taints the
-- recalling turn. Rows from before this migration cannot be vouched for.
ALTER TABLE komand_agent_memory ADD COLUMN provenance text NOT NULL DEFAULT 'untrusted'
    CHECK (provenance IN ('trusted', 'untrusted'));

-- A consequential tool call waiting for the user in the conversation to
-- reply "CONFIRM <code>". The code is never stored, only a hash of it; a
-- confirmation is pending until closed, and closed exactly when it has a
-- closing time.
CREATE TABLE komand_tool_confirmations (
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    id         text        NOT NULL CHECK (id <> ''),
    session_id text        NOT NULL,
    agent_id   text        NOT NULL,
    user_id    text        NOT NULL CHECK (user_id <> ''),
    turn_seq   bigint      NOT NULL CHECK (turn_seq > 0),
    call_hash  text        NOT NULL CHECK (call_hash <> ''),
    code_hash  text        NOT NULL CHECK (code_hash <> ''),
    tool_names text        NOT NULL DEFAULT '',
    attempts   integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    status     text        NOT NULL CHECK (status IN ('pending', 'confirmed', 'cancelled', 'expired')),
    request_id text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    closed_at  timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'pending') = (closed_at IS NULL))
);

-- At most one pending confirmation per session.
CREATE UNIQUE INDEX komand_tool_confirmations_pending ON komand_tool_confirmations (tenant_id, session_id)
    WHERE status = 'pending';

ALTER TABLE komand_tool_confirmations ENABLE ROW LEVEL SECURITY;
ALTER TABLE komand_tool_confirmations FORCE ROW LEVEL SECURITY;
CREATE POLICY komand_tenant_isolation ON komand_tool_confirmations
    USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''));

-- Never deleted by the application: a confirmation is closed.
GRANT SELECT, INSERT, UPDATE ON komand_tool_confirmations TO komand_app;
