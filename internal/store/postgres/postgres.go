package postgres

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/puddle/v2"

	"github.com/komand-ai/komand/internal/store"
)

// appRole is the non-owner role every application connection runs as.
const appRole = "komand_app"

// setTenantSQL selects the tenant that row-level security lets the current
// transaction see. is_local = true scopes it to the transaction, so it
// cannot outlive it on a pooled connection.
const setTenantSQL = "SELECT set_config('komand.tenant_id', $1, true)"

// ownerRole is the role that must keep at least one active member per
// tenant. It matches authz.Owner; store.go does not name roles.
const ownerRole = "owner"

// Store is a store.Store on PostgreSQL. Create it with Open.
type Store struct {
	// pool hands out connections that have done SET ROLE komand_app:
	// everything the application does goes through it.
	pool *pgxpool.Pool
	// owner connects as the DSN's user (superuser or schema owner). It ran
	// the migrations and is kept only for OwnerPool.
	owner *pgxpool.Pool
	// locks holds the connections that carry session advisory locks for
	// the length of a turn. It is separate from pool so that turns holding
	// locks can never take every connection their own queries need (with
	// one pool, as many concurrent turns as connections deadlocked).
	locks *pgxpool.Pool

	// onList, set by tests only, sees every listing's statements and
	// arguments (TestListPlans explains them).
	onList func(query string, args []any)
}

// SessionLockConns bounds the connections held by session locks, that is
// the turns of different sessions in flight at once in one process; more
// wait for a connection.
const SessionLockConns = 64

var _ store.Store = (*Store)(nil)

// Open connects to the database named by dsn, migrates it and returns a
// Store whose connections run as komand_app. dsn must name a superuser or
// the owner of Komand's schema (the role that runs, or ran, the migrations).
func Open(ctx context.Context, dsn string) (*Store, error) {
	// Parse twice: the two pools must not share a mutable config.
	ownerCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		// The parse error quotes the DSN, which may hold a password.
		return nil, errors.New("postgres: open: cannot parse the DSN")
	}
	appCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: open: cannot parse the DSN")
	}
	lockCfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, errors.New("postgres: open: cannot parse the DSN")
	}

	if err := migrate(ctx, ownerCfg.ConnConfig); err != nil {
		return nil, err
	}

	// The owner pool is small and lazy: it exists for tests and holds no
	// connection until one is asked for.
	ownerCfg.MaxConns = 4
	ownerCfg.MinConns = 0
	owner, err := pgxpool.NewWithConfig(ctx, ownerCfg)
	if err != nil {
		return nil, wrapErr("open", err)
	}

	// Every application connection drops to komand_app before it is handed
	// out. If SET ROLE fails the connection is discarded, never used as
	// the owner.
	setRole := func(ctx context.Context, c *pgx.Conn) error {
		_, err := c.Exec(ctx, "SET ROLE "+appRole)
		return err
	}
	appCfg.AfterConnect = setRole
	pool, err := pgxpool.NewWithConfig(ctx, appCfg)
	if err != nil {
		owner.Close()
		return nil, wrapErr("open", err)
	}
	lockCfg.AfterConnect = setRole
	lockCfg.MaxConns = SessionLockConns
	lockCfg.MinConns = 0
	locks, err := pgxpool.NewWithConfig(ctx, lockCfg)
	if err != nil {
		pool.Close()
		owner.Close()
		return nil, wrapErr("open", err)
	}
	s := &Store{pool: pool, owner: owner, locks: locks}
	if err := s.checkAppRole(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// checkAppRole makes sure the pool really runs as a role that row-level
// security binds. A komand_app that somebody made a superuser or gave
// BYPASSRLS would silently remove the second wall, so Open refuses it.
func (s *Store) checkAppRole(ctx context.Context) error {
	var user string
	var super, bypass bool
	err := s.pool.QueryRow(ctx, `SELECT current_user::text, r.rolsuper, r.rolbypassrls
		FROM pg_catalog.pg_roles r WHERE r.rolname = current_user`).Scan(&user, &super, &bypass)
	if err != nil {
		return wrapErr("open: switch to "+appRole, err)
	}
	if user != appRole || super || bypass {
		return fmt.Errorf("postgres: open: connections run as %q (superuser %t, bypassrls %t), want %s bound by row-level security",
			user, super, bypass, appRole)
	}
	return nil
}

// OwnerPool returns a pool connected as the DSN's user, the owner of the
// schema, which row-level security still binds (FORCE) unless it is a
// superuser, but which has every privilege.
//
// It is a test hook, NOT for application use: tests use it to tamper with
// audit rows or to read across tenants. Application code must only use the
// Store's methods, which run as komand_app.
func (s *Store) OwnerPool() *pgxpool.Pool { return s.owner }

// Ping reports whether the database answers, as komand_app.
func (s *Store) Ping(ctx context.Context) error {
	return wrapErr("ping", s.pool.Ping(ctx))
}

// Writable reports whether the database takes writes, as
// komand_app: a read-write transaction that is given a transaction ID
// (txid_current) and commits, which writes a commit record to the WAL. A
// standby (hot_standby, read-only), a database that refuses connections or
// a server that cannot write its WAL fails it. No table is touched.
func (s *Store) Writable(ctx context.Context) error {
	err := pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{AccessMode: pgx.ReadWrite}, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, "SELECT txid_current()")
		return err
	})
	if err != nil && !errors.Is(wrapErr("writable", err), store.ErrUnavailable) {
		// Whatever stops the probe stops writes: not ready.
		return fmt.Errorf("postgres: writable: %w: %w", store.ErrUnavailable, err)
	}
	return wrapErr("writable", err)
}

// Close releases the pools.
func (s *Store) Close() error {
	s.locks.Close()
	s.pool.Close()
	s.owner.Close()
	return nil
}

// inTenant runs fn in a READ COMMITTED transaction whose row-level-security
// tenant is tenantID. fn must still filter by tenant_id itself: the policy
// is the second wall, not the first. READ COMMITTED is explicit because the
// locking reads (SELECT ... FOR UPDATE) rely on re-reading the newest row
// version after waiting, which REPEATABLE READ would turn into errors.
func (s *Store) inTenant(ctx context.Context, tenantID string, fn func(pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, setTenantSQL, tenantID); err != nil {
			return err
		}
		return fn(tx)
	})
}

// twoBatchTx runs one READ COMMITTED transaction as two pipelined round
// trips: BEGIN and the statements first queues, then the statements second
// queues (which may use the first batch's results) and COMMIT. It is the
// audit writer's commit, where the four round trips of BeginTxFunc
// (BEGIN, two batches, COMMIT) were most of a batch's latency. On any
// failure the transaction is rolled back, and a connection whose state is
// unknown is closed rather than returned to the pool.
func (s *Store) twoBatchTx(ctx context.Context, first, second func(b *pgx.Batch) error) error {
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	abort := func(cause error) error {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(rctx, "ROLLBACK"); err != nil {
			_ = conn.Conn().Close(rctx)
		}
		return cause
	}
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	if err := first(b); err != nil {
		return err
	}
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return abort(err)
	}
	b = &pgx.Batch{}
	if err := second(b); err != nil {
		return abort(err)
	}
	b.Queue("COMMIT")
	if err := conn.SendBatch(ctx, b).Close(); err != nil {
		return abort(err)
	}
	return nil
}

// readTenant is the one-round-trip form of inTenant for reads: set_config
// and the statements queue adds are sent as one pipelined batch, which
// PostgreSQL runs as a single implicit transaction (one Sync), so the
// transaction-local tenant applies to exactly these statements. Results are
// consumed by the callbacks registered on the queued queries.
//
// Should the batch ever not share a transaction, the setting would not apply
// and the reads would see no rows: the failure is closed, not open.
func (s *Store) readTenant(ctx context.Context, tenantID string, queue func(b *pgx.Batch)) error {
	b := &pgx.Batch{}
	b.Queue(setTenantSQL, tenantID)
	queue(b)
	return s.pool.SendBatch(ctx, b).Close()
}

// wrapErr turns a driver error into the store's vocabulary: no rows is
// store.ErrNotFound, a unique violation store.ErrConflict, a foreign key
// naming a missing (or other tenant's) row store.ErrNotFound. Everything
// else is wrapped with the operation name. Only *pgconn.PgError (severity,
// message, SQLSTATE) is kept from server errors, never SQL text.
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
	}
	for _, sentinel := range []error{store.ErrNotFound, store.ErrConflict, store.ErrLastOwner, store.ErrTokenReused, store.ErrLimit, store.ErrBadCursor} {
		if errors.Is(err, sentinel) {
			return fmt.Errorf("postgres: %s: %w", op, sentinel)
		}
	}
	if errors.Is(err, store.ErrUnavailable) {
		return fmt.Errorf("postgres: %s: %w", op, err)
	}
	if isUnavailable(err) {
		return fmt.Errorf("postgres: %s: %w: %w", op, store.ErrUnavailable, err)
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "23505": // unique_violation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrConflict)
		case "23503": // foreign_key_violation
			return fmt.Errorf("postgres: %s: %w", op, store.ErrNotFound)
		}
		return fmt.Errorf("postgres: %s: %w", op, pgErr)
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

// isUnavailable reports whether err means the database cannot be reached
// or cannot work right now rather than that the statement is wrong: a
// failed connection attempt (refused, the database gone, authentication,
// a timeout), a connection lost or closed under the query, the server
// shutting down or terminating the backend (pg_terminate_backend), the
// connection exceptions (class 08), insufficient resources such as a full
// disk (class 53), and a read-only standby.
func isUnavailable(err error) bool {
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch {
		case strings.HasPrefix(pgErr.Code, "08"), strings.HasPrefix(pgErr.Code, "53"):
			return true
		}
		switch pgErr.Code {
		case "57P01", "57P02", "57P03", // admin_shutdown (also pg_terminate_backend), crash_shutdown, cannot_connect_now
			"3D000", // invalid_catalog_name: the database is gone
			"25006": // read_only_sql_transaction: a standby
			return true
		}
		return false
	}
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &ne) ||
		errors.Is(err, puddle.ErrClosedPool)
}

// utc normalises a time read from the database (pgx returns local time).
func utc(t time.Time) time.Time { return t.UTC() }

// utcPtr is utc for nullable columns.
func utcPtr(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}
