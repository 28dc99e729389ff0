// Package postgres is the PostgreSQL implementation of store.Store, for
// deployments that run several Komand replicas against one database. It is
// built on pgx/v5 (pgxpool).
//
// # Two walls between tenants
//
// Every tenant-scoped method names its tenant twice:
//
//  1. In SQL: each statement filters (or writes) tenant_id = $n, exactly as
//     the SQLite store does.
//  2. In the database: every tenant-owned table has ENABLE and FORCE ROW
//     LEVEL SECURITY with the policy
//     tenant_id = NULLIF(current_setting('komand.tenant_id', true), ”)
//     for both USING and WITH CHECK, and each method runs in a transaction
//     that first calls set_config('komand.tenant_id', $1, true). The setting
//     is transaction-local, so it can never leak to the next user of a
//     pooled connection; with no tenant set no row is visible or writable.
//
// A forgotten WHERE clause therefore returns nothing instead of another
// tenant's rows, and an INSERT carrying a foreign tenant_id is rejected.
// Composite foreign keys (tenant_id, user_id) add a third, narrower wall:
// a credential cannot point at a user of another tenant.
//
// # Roles
//
// Open connects with the DSN it is given (a superuser or the schema owner),
// runs the embedded migrations as that role under an advisory lock, and then
// hands out only connections that have done SET ROLE komand_app. komand_app
// is a NOLOGIN role created by the first migration and granted to the
// connecting user; it owns nothing, so row-level security always applies to
// it, and its privileges are the minimum the store needs. In particular it
// may only SELECT and INSERT the audit log: the log is append-only at the
// privilege level.
//
// SET ROLE protects against mistakes in this package, not against an
// attacker who can run arbitrary SQL on the connection (RESET ROLE would undo
// it). Deployments that want that too should log in directly as a dedicated
// non-owner role that is a member of komand_app.
//
// Authentication has to find a credential's tenant before any tenant can be
// set, and so does accepting an invitation. The four lookups that cross
// tenants (by email, invitation hash, API-key hash and refresh-token hash)
// therefore go through SECURITY DEFINER functions owned
// by the migrating role, which return only the tenant ID. FORCE binds that
// owner too (unless it is a superuser), so a SELECT-only policy scoped TO the
// owner admits rows while komand.definer_lookup is on, and the functions turn
// it on only around their one query; komand_app gains nothing by setting it.
//
// OwnerPool exposes a pool connected as the DSN's user for tests only.
package postgres
