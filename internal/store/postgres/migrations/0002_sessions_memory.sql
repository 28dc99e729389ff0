-- 0002_sessions_memory: sessions, their history (turns) and agent memory,
-- under the same row-level security as every tenant table.

CREATE TABLE komand_sessions (
    id                 text        PRIMARY KEY CHECK (id <> ''),
    tenant_id          text        NOT NULL REFERENCES komand_tenants (id),
    session_key        text        NOT NULL CHECK (session_key <> ''),
    channel            text        NOT NULL,
    channel_account_id text        NOT NULL,
    sender_id          text        NOT NULL,
    agent_id           text        NOT NULL,
    metadata           jsonb       NOT NULL DEFAULT '{}',
    message_count      bigint      NOT NULL DEFAULT 0,
    first_message_at   timestamptz NOT NULL,
    last_message_at    timestamptz NOT NULL,
    ended_at           timestamptz,
    end_reason         text        NOT NULL DEFAULT ''
);

CREATE UNIQUE INDEX komand_sessions_active_key ON komand_sessions (tenant_id, session_key)
    WHERE ended_at IS NULL;
CREATE INDEX komand_sessions_tenant_last ON komand_sessions (tenant_id, last_message_at);

CREATE TABLE komand_session_turns (
    tenant_id    text        NOT NULL,
    session_id   text        NOT NULL REFERENCES komand_sessions (id),
    seq          bigint      NOT NULL CHECK (seq > 0),
    role         text        NOT NULL CHECK (role IN ('user', 'assistant', 'tool')),
    text         text        NOT NULL,
    tool_calls   text,
    tool_call_id text        NOT NULL DEFAULT '',
    tool_name    text        NOT NULL DEFAULT '',
    is_error     boolean     NOT NULL DEFAULT false,
    request_id   text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, session_id, seq)
);

CREATE TABLE komand_agent_memory (
    tenant_id  text        NOT NULL,
    agent_id   text        NOT NULL,
    mem_key    text        NOT NULL CHECK (mem_key <> ''),
    value      text        NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, agent_id, mem_key),
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_sessions', 'komand_session_turns', 'komand_agent_memory']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
END
$$;

-- History is append-only for the application: turns are inserted, never
-- changed; sessions are updated (counters, end) but never deleted.
GRANT SELECT, INSERT, UPDATE         ON komand_sessions      TO komand_app;
GRANT SELECT, INSERT                 ON komand_session_turns TO komand_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON komand_agent_memory  TO komand_app;
