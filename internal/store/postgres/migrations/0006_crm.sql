-- 0006_crm: the tenant's built-in CRM contacts (read by skills through the
-- "database" platform tool when granted crm:read).

CREATE TABLE komand_crm_contacts (
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    id         text        NOT NULL CHECK (id <> ''),
    name       text        NOT NULL,
    email      text        NOT NULL DEFAULT '',
    phone      text        NOT NULL DEFAULT '',
    company    text        NOT NULL DEFAULT '',
    notes      text        NOT NULL DEFAULT '',
    created_by text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, id)
);

CREATE INDEX komand_crm_contacts_name ON komand_crm_contacts (tenant_id, name, id);

ALTER TABLE komand_crm_contacts ENABLE ROW LEVEL SECURITY;
ALTER TABLE komand_crm_contacts FORCE ROW LEVEL SECURITY;
CREATE POLICY komand_tenant_isolation ON komand_crm_contacts
    USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
    WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''));

GRANT SELECT, INSERT, UPDATE, DELETE ON komand_crm_contacts TO komand_app;
