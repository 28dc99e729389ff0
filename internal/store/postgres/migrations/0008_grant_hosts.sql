-- A credential grant may be bound to hosts: the skill may then have the
-- credential attached by reference to requests to those hosts only, and
-- may not read its value. Comma-separated lower-case host patterns; empty
-- means an unbound grant (any use).
ALTER TABLE komand_credential_grants ADD COLUMN hosts text NOT NULL DEFAULT '';
