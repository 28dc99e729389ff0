-- 0004_channels: channel accounts (an account of a platform bound to an
-- agent, with the vault credential holding its signing secret) and the
-- signatures of recent webhook deliveries (replay protection).

CREATE TABLE komand_channel_accounts (
    id                   text        NOT NULL PRIMARY KEY CHECK (id <> ''),
    tenant_id            text        NOT NULL REFERENCES komand_tenants (id),
    channel              text        NOT NULL,
    account_id           text        NOT NULL CHECK (account_id <> ''),
    agent_id             text        NOT NULL,
    secret_credential_id text        NOT NULL DEFAULT '',
    token_credential_id  text        NOT NULL DEFAULT '',
    created_by           text        NOT NULL DEFAULT '',
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL,
    FOREIGN KEY (tenant_id, agent_id) REFERENCES komand_agents (tenant_id, agent_id) ON DELETE CASCADE
);

CREATE UNIQUE INDEX komand_channel_accounts_key ON komand_channel_accounts (tenant_id, channel, account_id);

CREATE TABLE komand_webhook_seen (
    tenant_id  text        NOT NULL,
    account_id text        NOT NULL,
    signature  text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, account_id, signature)
);

CREATE INDEX komand_webhook_seen_expiry ON komand_webhook_seen (tenant_id, account_id, expires_at);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_channel_accounts', 'komand_webhook_seen']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
    -- An inbound webhook names its channel account, not its tenant: the
    -- same definer lookup as authentication's (0001) finds the tenant.
    EXECUTE format($p$CREATE POLICY komand_definer_lookup ON komand_channel_accounts FOR SELECT TO %I
        USING (current_setting('komand.definer_lookup', true) = 'on')$p$, current_user);
END
$$;

CREATE FUNCTION komand_tenant_for_channel_account(p_id text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
    found_tenant text;
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    SELECT tenant_id INTO found_tenant FROM komand_channel_accounts WHERE id = p_id;
    PERFORM set_config('komand.definer_lookup', 'off', true);
    RETURN found_tenant;
END
$$;

DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION komand_tenant_for_channel_account(text) SET search_path = pg_catalog, %I, pg_temp', current_schema());
    REVOKE ALL ON FUNCTION komand_tenant_for_channel_account(text) FROM PUBLIC;
    GRANT EXECUTE ON FUNCTION komand_tenant_for_channel_account(text) TO komand_app;
END
$$;

GRANT SELECT, INSERT, UPDATE, DELETE ON komand_channel_accounts TO komand_app;
GRANT SELECT, INSERT, DELETE         ON komand_webhook_seen     TO komand_app;
