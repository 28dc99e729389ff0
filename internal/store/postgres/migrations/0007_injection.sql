-- 0007_injection: prompt-injection screening — the flag on each turn, the
-- tenant's policy document, and the review queue of held turns.

ALTER TABLE komand_session_turns ADD COLUMN flag text NOT NULL DEFAULT '';
-- Turns stay append-only but for their flag (a review clears or rejects it).
GRANT UPDATE (flag) ON komand_session_turns TO komand_app;

CREATE TABLE komand_injection_policies (
    tenant_id  text        NOT NULL PRIMARY KEY REFERENCES komand_tenants (id),
    doc        text        NOT NULL,
    updated_by text        NOT NULL DEFAULT '',
    updated_at timestamptz NOT NULL
);

CREATE TABLE komand_injection_reviews (
    tenant_id  text             NOT NULL REFERENCES komand_tenants (id),
    id         text             NOT NULL CHECK (id <> ''),
    session_id text             NOT NULL,
    agent_id   text             NOT NULL,
    kind       text             NOT NULL CHECK (kind IN ('message', 'tool_output', 'tool_call')),
    source     text             NOT NULL,
    turn_seq   bigint           NOT NULL,
    tool_name  text             NOT NULL DEFAULT '',
    excerpt    text             NOT NULL DEFAULT '',
    score      double precision NOT NULL DEFAULT 0,
    categories text[]           NOT NULL DEFAULT '{}',
    status     text             NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    request_id text             NOT NULL DEFAULT '',
    created_at timestamptz      NOT NULL,
    decided_by text             NOT NULL DEFAULT '',
    decided_at timestamptz,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX komand_injection_reviews_list ON komand_injection_reviews (tenant_id, status, created_at DESC, id DESC);

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

GRANT SELECT, INSERT, UPDATE, DELETE ON komand_injection_policies TO komand_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON komand_injection_reviews TO komand_app;
