-- 0006_crm: the tenant's built-in CRM contacts (read by skills through the
-- "database" platform tool when granted crm:read).

CREATE TABLE komand_crm_contacts (
    tenant_id  TEXT    NOT NULL REFERENCES komand_tenants (id),
    id         TEXT    NOT NULL CHECK (id <> ''),
    name       TEXT    NOT NULL,
    email      TEXT    NOT NULL DEFAULT '',
    phone      TEXT    NOT NULL DEFAULT '',
    company    TEXT    NOT NULL DEFAULT '',
    notes      TEXT    NOT NULL DEFAULT '',
    created_by TEXT    NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) STRICT;

CREATE INDEX komand_crm_contacts_name ON komand_crm_contacts (tenant_id, name, id);
