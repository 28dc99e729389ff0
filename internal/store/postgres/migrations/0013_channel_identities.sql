-- 0013_channel_identities: Slack workspace members and Telegram users
-- mapped to Komand users, and Admin approvals answered from Slack and
-- Telegram (issue 16).
--
-- komand_channel_identities: an Admin's mapping, per channel account, of a
-- platform user (a Slack user ID within the account's team, a Telegram
-- numeric user ID) to a Komand user of the same tenant. Unmapped senders
-- stay channel actors (deny by default).
-- slack_team_id: the Slack workspace (team) of a Slack account, when the
-- Admin set it; a mapping applies only to events of that team.
-- review_destination and komand_review_callbacks are for Admin approvals
-- answered from Slack and Telegram (internal/channel/review.go): the
-- Admin destination of held reviews and the single-use tokens (hashes
-- only, bound to the button's action) of its buttons.
--
-- The new columns of komand_channel_accounts are covered by its row-level
-- security (0004) and its grants (SELECT, INSERT, UPDATE on the table).
ALTER TABLE komand_channel_accounts ADD COLUMN slack_team_id text NOT NULL DEFAULT '';
ALTER TABLE komand_channel_accounts ADD COLUMN review_destination text NOT NULL DEFAULT '';

CREATE UNIQUE INDEX komand_channel_accounts_tenant_id ON komand_channel_accounts (tenant_id, id);

CREATE TABLE komand_channel_identities (
    tenant_id          text        NOT NULL REFERENCES komand_tenants (id),
    channel_account_id text        NOT NULL,
    external_id        text        NOT NULL CHECK (external_id <> ''),
    user_id            text        NOT NULL CHECK (user_id <> ''),
    created_by         text        NOT NULL DEFAULT '',
    created_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, channel_account_id, external_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES komand_channel_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
);

CREATE TABLE komand_review_callbacks (
    tenant_id          text        NOT NULL REFERENCES komand_tenants (id),
    token_hash         text        NOT NULL CHECK (token_hash <> ''),
    review_id          text        NOT NULL,
    channel_account_id text        NOT NULL,
    created_at         timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    used_at            timestamptz,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES komand_channel_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, review_id) REFERENCES komand_injection_reviews (tenant_id, id)
);

DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_channel_identities', 'komand_review_callbacks']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
END
$$;

GRANT SELECT, INSERT, DELETE ON komand_channel_identities TO komand_app;
-- A callback token is spent (used_at set), never deleted by the application.
GRANT SELECT, INSERT ON komand_review_callbacks TO komand_app;
GRANT UPDATE (used_at) ON komand_review_callbacks TO komand_app;
