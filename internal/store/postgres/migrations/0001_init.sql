-- 0001_init: Komand's schema, the komand_app role, row-level security and
-- the cross-tenant lookup functions.
--
-- Runs in one transaction as the migrating role (superuser or schema owner),
-- which becomes the owner of every object here. The application never runs
-- as that role: see package postgres's doc comment.

-- komand_app is the role every pooled connection switches to (SET ROLE). It
-- is cluster-wide, so another database of the same cluster may have created
-- it already, possibly at this very moment: two concurrent CREATE ROLE
-- statements fail with duplicate_object or, when they race on the catalog
-- index, unique_violation. Both mean "it exists now", which is all we need.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'komand_app') THEN
        CREATE ROLE komand_app NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS;
    END IF;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

CREATE TABLE komand_tenants (
    id         text        PRIMARY KEY CHECK (id <> ''),
    slug       text        NOT NULL UNIQUE CHECK (slug <> ''),
    name       text        NOT NULL,
    created_at timestamptz NOT NULL
);

INSERT INTO komand_tenants (id, slug, name, created_at)
VALUES ('00000000-0000-0000-0000-000000000000', '_platform', 'Platform', now())
ON CONFLICT DO NOTHING;

CREATE TABLE komand_users (
    id            text        PRIMARY KEY CHECK (id <> ''),
    tenant_id     text        NOT NULL REFERENCES komand_tenants (id),
    email         text        NOT NULL,
    name          text        NOT NULL,
    role          text        NOT NULL,
    password_hash text        NOT NULL,
    active        boolean     NOT NULL,
    -- A pending invitation: the SHA-256 (hex) of a one-time token and its
    -- expiry, both NULL when there is none.
    invite_hash       text        CHECK (invite_hash <> ''),
    invite_expires_at timestamptz,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    -- Target of the composite foreign keys below: a credential can only
    -- point at a user of its own tenant (a third wall, enforced by the
    -- database's integrity checks, which RLS does not hide rows from).
    UNIQUE (tenant_id, id),
    CHECK ((invite_hash IS NULL) = (invite_expires_at IS NULL))
);
-- Login names no tenant, so an email is unique across the platform.
CREATE UNIQUE INDEX komand_users_email_key ON komand_users (lower(email));
CREATE INDEX komand_users_tenant_email ON komand_users (tenant_id, lower(email));
-- Accepting an invitation names no tenant either: the hash finds the user.
CREATE UNIQUE INDEX komand_users_invite_hash ON komand_users (invite_hash) WHERE invite_hash IS NOT NULL;

CREATE TABLE komand_api_keys (
    id           text        PRIMARY KEY CHECK (id <> ''),
    tenant_id    text        NOT NULL REFERENCES komand_tenants (id),
    user_id      text        NOT NULL,
    name         text        NOT NULL,
    prefix       text        NOT NULL,
    hash         text        NOT NULL UNIQUE CHECK (hash <> ''),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    revoked_at   timestamptz,
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
);
CREATE INDEX komand_api_keys_tenant_user ON komand_api_keys (tenant_id, user_id);

CREATE TABLE komand_refresh_families (
    id         text        PRIMARY KEY CHECK (id <> ''),
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    user_id    text        NOT NULL,
    created_at timestamptz NOT NULL,
    revoked_at timestamptz,
    UNIQUE (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
);
CREATE INDEX komand_refresh_families_tenant_user ON komand_refresh_families (tenant_id, user_id);

CREATE TABLE komand_refresh_tokens (
    hash       text        PRIMARY KEY CHECK (hash <> ''),
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    family_id  text        NOT NULL,
    user_id    text        NOT NULL,
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    FOREIGN KEY (tenant_id, family_id) REFERENCES komand_refresh_families (tenant_id, id),
    FOREIGN KEY (tenant_id, user_id) REFERENCES komand_users (tenant_id, id)
);
CREATE INDEX komand_refresh_tokens_family ON komand_refresh_tokens (tenant_id, family_id);

CREATE TABLE komand_agents (
    tenant_id          text        NOT NULL REFERENCES komand_tenants (id),
    agent_id           text        NOT NULL CHECK (agent_id <> ''),
    name               text        NOT NULL,
    description        text,
    system_prompt      text        NOT NULL,
    model_provider     text        NOT NULL,
    model_id           text        NOT NULL,
    max_context_tokens bigint      NOT NULL,
    enabled_skill_ids  text[]      NOT NULL DEFAULT '{}',
    allowed_channels   text[]      NOT NULL DEFAULT '{}',
    owner_id           text        NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,
    PRIMARY KEY (tenant_id, agent_id)
);

-- details is text, not jsonb: the exact bytes are hashed into the chain, and
-- jsonb would normalise them.
CREATE TABLE komand_audit_log (
    id         text        PRIMARY KEY CHECK (id <> ''),
    tenant_id  text        NOT NULL REFERENCES komand_tenants (id),
    seq        bigint      NOT NULL CHECK (seq > 0),
    action     text        NOT NULL,
    actor_id   text        NOT NULL,
    agent_id   text        NOT NULL,
    session_id text        NOT NULL,
    skill_id   text        NOT NULL,
    details    text        NOT NULL,
    request_id text        NOT NULL,
    ts         timestamptz NOT NULL,
    prev_hash  text        NOT NULL,
    hash       text        NOT NULL CHECK (hash <> ''),
    UNIQUE (tenant_id, seq)
);
CREATE INDEX komand_audit_log_tenant_ts ON komand_audit_log (tenant_id, ts);
CREATE INDEX komand_audit_log_tenant_action ON komand_audit_log (tenant_id, action, seq);

CREATE TABLE komand_audit_heads (
    tenant_id text   PRIMARY KEY REFERENCES komand_tenants (id),
    seq       bigint NOT NULL,
    hash      text   NOT NULL
);

-- Row-level security: the second wall. Every tenant-owned table shows and
-- accepts only rows of the tenant set for the current transaction with
-- set_config('komand.tenant_id', $1, true). FORCE makes the policy bind the
-- table owner too, so even a connection that failed to drop to komand_app
-- sees nothing by accident. With no tenant set current_setting(..., true) is
-- NULL (never set in this session) or '' (set in an earlier transaction);
-- NULLIF maps both to NULL, which equals nothing.
DO $$
DECLARE
    t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_users', 'komand_api_keys', 'komand_refresh_families',
                             'komand_refresh_tokens', 'komand_agents', 'komand_audit_log',
                             'komand_audit_heads']
    LOOP
        EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', t);
        EXECUTE format('ALTER TABLE %I FORCE ROW LEVEL SECURITY', t);
        EXECUTE format($p$CREATE POLICY komand_tenant_isolation ON %I
            USING (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))
            WITH CHECK (tenant_id = NULLIF(current_setting('komand.tenant_id', true), ''))$p$, t);
    END LOOP;
END
$$;

-- The four cross-tenant lookups. Authentication (and accepting an
-- invitation) must learn a credential's tenant before any tenant can be
-- set, so these SECURITY DEFINER functions
-- run as their owner (the migrating role) and return nothing but the tenant
-- ID. Because FORCE binds the owner too (unless it is a superuser), a
-- SELECT-only policy scoped TO the owner admits rows while
-- komand.definer_lookup is 'on', and each function switches that on just
-- around its one query. komand_app is not a member of the owner role, so
-- setting komand.definer_lookup itself gains it nothing. (A function-level
-- SET clause would be neater, but PostgreSQL lets only superusers attach a
-- custom setting to a function.) If the query fails, the transaction or
-- savepoint aborts and the setting is rolled back with it.
CREATE FUNCTION komand_tenant_for_email(p_email text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
    found_tenant text;
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    SELECT tenant_id INTO found_tenant FROM komand_users WHERE lower(email) = lower(p_email);
    PERFORM set_config('komand.definer_lookup', 'off', true);
    RETURN found_tenant;
END
$$;

CREATE FUNCTION komand_tenant_for_invite(p_hash text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
    found_tenant text;
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    SELECT tenant_id INTO found_tenant FROM komand_users WHERE invite_hash = p_hash;
    PERFORM set_config('komand.definer_lookup', 'off', true);
    RETURN found_tenant;
END
$$;

CREATE FUNCTION komand_tenant_for_api_key(p_hash text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
    found_tenant text;
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    SELECT tenant_id INTO found_tenant FROM komand_api_keys WHERE hash = p_hash;
    PERFORM set_config('komand.definer_lookup', 'off', true);
    RETURN found_tenant;
END
$$;

CREATE FUNCTION komand_tenant_for_refresh_token(p_hash text) RETURNS text
    LANGUAGE plpgsql SECURITY DEFINER
AS $$
DECLARE
    found_tenant text;
BEGIN
    PERFORM set_config('komand.definer_lookup', 'on', true);
    SELECT tenant_id INTO found_tenant FROM komand_refresh_tokens WHERE hash = p_hash;
    PERFORM set_config('komand.definer_lookup', 'off', true);
    RETURN found_tenant;
END
$$;

DO $$
DECLARE
    t text;
    f text;
BEGIN
    FOREACH t IN ARRAY ARRAY['komand_users', 'komand_api_keys', 'komand_refresh_tokens'] LOOP
        EXECUTE format($p$CREATE POLICY komand_definer_lookup ON %I FOR SELECT TO %I
            USING (current_setting('komand.definer_lookup', true) = 'on')$p$, t, current_user);
    END LOOP;
    -- A SECURITY DEFINER function must not resolve names through a search
    -- path the caller controls: pin it to pg_catalog and the schema the
    -- tables were just created in, with pg_temp explicitly last so a
    -- caller's temporary table cannot shadow ours.
    FOREACH f IN ARRAY ARRAY['komand_tenant_for_email(text)', 'komand_tenant_for_invite(text)',
                             'komand_tenant_for_api_key(text)', 'komand_tenant_for_refresh_token(text)'] LOOP
        EXECUTE format('ALTER FUNCTION %s SET search_path = pg_catalog, %I, pg_temp', f, current_schema());
        EXECUTE format('REVOKE ALL ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO komand_app', f);
    END LOOP;
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO komand_app', current_schema());
END
$$;

-- Privileges of komand_app: only what the store's methods need. The audit
-- log is append-only at the privilege level (no UPDATE, DELETE or TRUNCATE),
-- so not even a bug in the application can rewrite history; the hash chain
-- detects anyone who can.
GRANT SELECT, INSERT                 ON komand_tenants          TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_users            TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_api_keys         TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_refresh_families TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_refresh_tokens   TO komand_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON komand_agents           TO komand_app;
GRANT SELECT, INSERT                 ON komand_audit_log        TO komand_app;
GRANT SELECT, INSERT, UPDATE         ON komand_audit_heads      TO komand_app;
