-- 0009_outbox: the durable queue of replies to be sent to a platform
-- (Slack, Telegram). A row names the channel account it is sent as, never
-- its bot token (read from the vault at each attempt); payload is the reply
-- and its destination, deleted with the row once delivered or given up.
-- lease_token/lease_until hold a row for the one worker attempting it.

CREATE TABLE komand_outbox (
    tenant_id          text        NOT NULL REFERENCES komand_tenants (id),
    id                 text        NOT NULL CHECK (id <> ''),
    channel            text        NOT NULL,
    channel_account_id text        NOT NULL,
    agent_id           text        NOT NULL DEFAULT '',
    session_id         text        NOT NULL DEFAULT '',
    message_id         text        NOT NULL DEFAULT '',
    request_id         text        NOT NULL DEFAULT '',
    payload            bytea       NOT NULL,
    attempts           integer     NOT NULL CHECK (attempts >= 0),
    next_attempt_at    timestamptz NOT NULL,
    lease_token        text        NOT NULL DEFAULT '',
    lease_until        timestamptz NOT NULL,
    last_error_class   text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

-- The worker's scan: due rows, the longest waiting first.
CREATE INDEX komand_outbox_due ON komand_outbox (next_attempt_at, tenant_id);

ALTER TABLE komand_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE komand_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY komand_tenant_isolation ON komand_outbox
    USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''));

-- The worker serves every tenant but may set only one per transaction: the
-- same definer lookup as authentication's (0001) returns the tenants that
-- have a delivery due, and nothing else; each tenant's rows are then
-- claimed with that tenant set.
DO $$
BEGIN
    EXECUTE format($p$CREATE POLICY komand_definer_lookup ON komand_outbox FOR SELECT TO %I
        USING (current_setting('komand.definer_lookup', true) = 'on')$p$, current_user);
END
$$;

CREATE FUNCTION komand_outbox_due_tenants(p_now timestamptz, p_limit integer) RETURNS SETOF text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    RETURN QUERY SELECT o.tenant_id FROM komand_outbox o
        WHERE o.next_attempt_at <= p_now AND o.lease_until <= p_now
        GROUP BY o.tenant_id ORDER BY min(o.next_attempt_at), o.tenant_id LIMIT p_limit;
    PERFORM set_config('komand.definer_lookup', 'off', true);
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION komand_outbox_due_tenants(timestamptz, integer) SET search_path = pg_catalog, %I, pg_temp', current_schema());
    REVOKE ALL ON FUNCTION komand_outbox_due_tenants(timestamptz, integer) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION komand_outbox_due_tenants(timestamptz, integer) TO komand_app;
END
$$;

GRANT SELECT, INSERT, DELETE ON komand_outbox TO komand_app;
GRANT UPDATE (attempts, next_attempt_at, lease_token, lease_until, last_error_class) ON komand_outbox TO komand_app;
