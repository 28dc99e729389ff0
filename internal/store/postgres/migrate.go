package postgres

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// migrationLockKey is the pg_advisory_lock key that serialises migrations
// between replicas starting together. Advisory locks are scoped to the
// current database, so databases of one cluster do not wait for each other.
const migrationLockKey int64 = 0x6b6f6d616e64 // "komand"

// migrate applies the embedded migrations that the database has not recorded
// in komand_schema_migrations, each in its own transaction, in file-name
// order, and makes the connecting user a member of komand_app.
//
// It uses a dedicated connection and a session-level advisory lock: closing
// the connection releases the lock whatever happened, so a failed or
// cancelled migration can never leave the lock held in a pool.
func migrate(ctx context.Context, cfg *pgx.ConnConfig) error {
	conn, err := pgx.ConnectConfig(ctx, cfg.Copy())
	if err != nil {
		return wrapErr("migrate: connect", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))

	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLockKey); err != nil {
		return wrapErr("migrate: lock", err)
	}
	// Created only under the lock: concurrent CREATE TABLE IF NOT EXISTS
	// can still collide on the catalog.
	if _, err := conn.Exec(ctx, `CREATE TABLE IF NOT EXISTS komand_schema_migrations (
		version    text        PRIMARY KEY,
		applied_at timestamptz NOT NULL DEFAULT now())`); err != nil {
		return wrapErr("migrate: create table", err)
	}

	applied := map[string]bool{}
	rows, err := conn.Query(ctx, "SELECT version FROM komand_schema_migrations")
	if err != nil {
		return wrapErr("migrate: read versions", err)
	}
	versions, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return wrapErr("migrate: read versions", err)
	}
	for _, v := range versions {
		applied[v] = true
	}

	names, err := fs.Glob(migrationFS, "migrations/*.sql")
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		version := strings.TrimSuffix(strings.TrimPrefix(name, "migrations/"), ".sql")
		if applied[version] {
			continue
		}
		body, err := migrationFS.ReadFile(name)
		if err != nil {
			return fmt.Errorf("postgres: migrate %s: %w", version, err)
		}
		err = pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			// No arguments: pgx sends it with the simple protocol, which
			// allows several statements in one string.
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO komand_schema_migrations (version) VALUES ($1)", version)
			return err
		})
		if err != nil {
			return wrapErr("migrate "+version, err)
		}
	}

	// Membership is checked on every Open, not recorded as a migration: a
	// replica may connect as another member of the owning role than the one
	// that migrated. A superuser is a member of every role already.
	if _, err := conn.Exec(ctx, `DO $$
		BEGIN
			IF NOT pg_catalog.pg_has_role(current_user, 'komand_app', 'MEMBER') THEN
				EXECUTE format('GRANT komand_app TO %I', current_user);
			END IF;
		END
		$$`); err != nil {
		return wrapErr("migrate: grant komand_app", err)
	}
	return nil
}
