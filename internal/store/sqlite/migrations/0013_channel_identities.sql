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
ALTER TABLE komand_channel_accounts ADD COLUMN slack_team_id TEXT NOT NULL DEFAULT '';
ALTER TABLE komand_channel_accounts ADD COLUMN review_destination TEXT NOT NULL DEFAULT '';

CREATE UNIQUE INDEX komand_channel_accounts_tenant_id ON komand_channel_accounts (tenant_id, id);

CREATE TABLE komand_channel_identities (
    tenant_id          TEXT    NOT NULL,
    channel_account_id TEXT    NOT NULL,
    external_id        TEXT    NOT NULL CHECK (external_id <> ''),
    user_id            TEXT    NOT NULL CHECK (user_id <> ''),
    created_by         TEXT    NOT NULL DEFAULT '',
    created_at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, channel_account_id, external_id),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES komand_channel_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
) STRICT, WITHOUT ROWID;

CREATE TABLE komand_review_callbacks (
    tenant_id          TEXT    NOT NULL,
    token_hash         TEXT    NOT NULL CHECK (token_hash <> ''),
    review_id          TEXT    NOT NULL,
    channel_account_id TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    expires_at         INTEGER NOT NULL,
    used_at            INTEGER,
    PRIMARY KEY (tenant_id, token_hash),
    FOREIGN KEY (tenant_id, channel_account_id) REFERENCES komand_channel_accounts (tenant_id, id) ON DELETE CASCADE,
    FOREIGN KEY (tenant_id, review_id) REFERENCES komand_injection_reviews (tenant_id, id)
) STRICT, WITHOUT ROWID;
