-- Every listing reads an index in its own order and collation, so that a
-- page is an index range scan whatever the size of the tenant (no sort of
-- the tenant's rows). Listings order text by COLLATE "C" (byte order, as
-- SQLite does), which an index in the database's default collation cannot
-- serve, so these indexes name it.
DROP INDEX komand_sessions_tenant_last;
CREATE INDEX komand_sessions_list ON komand_sessions (tenant_id, last_message_at, id COLLATE "C");
CREATE INDEX komand_agent_memory_list ON komand_agent_memory (tenant_id, agent_id, mem_key COLLATE "C");
CREATE INDEX komand_skills_list ON komand_skills (tenant_id, skill_id COLLATE "C");
DROP INDEX komand_crm_contacts_name;
CREATE INDEX komand_crm_contacts_name ON komand_crm_contacts (tenant_id, name COLLATE "C", id COLLATE "C");
CREATE INDEX komand_injection_reviews_recent ON komand_injection_reviews (tenant_id, created_at, id COLLATE "C");
CREATE INDEX komand_credentials_list ON komand_credentials (tenant_id, name COLLATE "C");
CREATE INDEX komand_channel_accounts_list ON komand_channel_accounts (tenant_id, channel COLLATE "C", account_id COLLATE "C");
CREATE INDEX komand_api_keys_list ON komand_api_keys (tenant_id, created_at, id COLLATE "C");
DROP INDEX komand_api_keys_tenant_user;
CREATE INDEX komand_api_keys_user_list ON komand_api_keys (tenant_id, user_id, created_at, id COLLATE "C");
-- Users are listed by email case-insensitively. Under row-level security a
-- condition that applies a function that is not leakproof (lower) to a
-- column cannot become an index condition, so a cursor on lower(email)
-- would walk the tenant from its first user: the lowered email is kept in a
-- generated column, compared directly.
ALTER TABLE komand_users ADD COLUMN email_lower text GENERATED ALWAYS AS (lower(email)) STORED;
DROP INDEX komand_users_tenant_email;
CREATE INDEX komand_users_list ON komand_users (tenant_id, email_lower);
