-- Every listing reads an index in its own order, so that a page is an index
-- range scan whatever the size of the tenant (no sort of the tenant's rows):
-- sessions newest first with the id as tie-break, reviews newest first
-- without a status filter, and API keys oldest first (of the tenant, or of
-- one user).
DROP INDEX komand_sessions_tenant_last;
CREATE INDEX komand_sessions_list ON komand_sessions (tenant_id, last_message_at, id);
CREATE INDEX komand_injection_reviews_recent ON komand_injection_reviews (tenant_id, created_at, id);
CREATE INDEX komand_api_keys_list ON komand_api_keys (tenant_id, created_at, id);
DROP INDEX komand_api_keys_user;
CREATE INDEX komand_api_keys_user_list ON komand_api_keys (tenant_id, user_id, created_at, id);
