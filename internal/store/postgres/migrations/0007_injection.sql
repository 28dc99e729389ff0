-- 0007_injection: prompt-injection screening — the flag on each turn, the
-- tenant's policy document, and the review queue of held turns.

-- flag is "" (clean or approved), 'warn', 'blocked', 'held', 'rejected' or
-- 'notice' (a reply Komand wrote itself).
ALTER TABLE komand_session_turns ADD COLUMN flag text NOT NULL DEFAULT '';

-- Turns stay append-only for the application but for their flag, which a
-- review decision clears or sets to rejected: UPDATE on that one column.
GRANT UPDATE (flag) ON komand_session_turns TO komand_app;

-- The policy document is kept as text, byte for byte as given (jsonb would
-- reorder keys and drop duplicates); the injection package validates it.
CREATE TABLE komand_injection_policies (
    tenant_id  text        NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    doc        text        NOT NULL,
    updated_by text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);

-- A review is pending until decided, and decided exactly when it has a
-- decision time.
CREATE TABLE komand_injection_reviews (
    tenant_id  text             NOT NULL REFERENCES komand_tenants (id),
    id         text             NOT NULL CHECK (id <> ''),
    session_id text             NOT NULL,
    agent_id   text             NOT NULL,
    kind       text             NOT NULL CHECK (kind IN ('message', 'tool_output', 'tool_call')),
    source     text             NOT NULL,
    turn_seq   bigint           NOT NULL CHECK (turn_seq > 0),
    tool_name  text             NOT NULL DEFAULT '',
    excerpt    text             NOT NULL DEFAULT '',
    score      double precision NOT NULL DEFAULT 0,
    categories text[]           NOT NULL DEFAULT '{}',
    status     text             NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    request_id text             NOT NULL DEFAULT '',
    created_at timestamptz      NOT NULL,
    decided_by text             NOT NULL DEFAULT '',
    decided_at timestamptz,
    PRIMARY KEY (tenant_id, id),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);

-- The queue listing: newest first, usually filtered by status. id is in
-- the "C" collation, as the listing orders it.
CREATE INDEX komand_injection_reviews_list
    ON komand_injection_reviews (tenant_id, status, created_at DESC, id COLLATE "C" DESC);

ALTER TABLE komand_injection_policies ENABLE ROW LEVEL SECURITY;
ALTER TABLE komand_injection_policies FORCE ROW LEVEL SECURITY;
CREATE POLICY komand_tenant_isolation ON komand_injection_policies
    USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''));

ALTER TABLE komand_injection_reviews ENABLE ROW LEVEL SECURITY;
ALTER TABLE komand_injection_reviews FORCE ROW LEVEL SECURITY;
CREATE POLICY komand_tenant_isolation ON komand_injection_reviews
    USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''));

-- Neither is ever deleted by the application: a policy is replaced, a
-- review decided.
GRANT SELECT, INSERT, UPDATE ON komand_injection_policies TO komand_app;
GRANT SELECT, INSERT, UPDATE ON komand_injection_reviews  TO komand_app;
