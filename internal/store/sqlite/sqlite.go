// Package sqlite is the embedded implementation of store.Store and Komand's
// default: one SQLite file, no server, pure Go (modernc.org/sqlite, no cgo).
//
// All tenants share the file. Tenancy is enforced in SQL: every query on
// tenant-owned data has tenant_id = ? in its WHERE clause, and child rows
// reference their parents by (tenant_id, id), so a row can never point into
// another tenant.
//
// Connections come from two pools, as in PocketBase: a writer pool of exactly
// one connection that runs every write in a BEGIN IMMEDIATE transaction (so
// writes are serialised inside the process and read-modify-write sequences
// such as the last-owner check cannot race), and a small reader pool whose
// connections are query_only. In WAL mode readers never block the writer and
// always see the last committed state.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/komand-ai/komand/internal/store"
)

// pragmas are applied by the driver to every new connection of both pools.
//   - journal_mode(WAL): readers do not block the writer, and vice versa.
//   - busy_timeout(5000): another process holding the lock (a backup, the
//     sqlite3 shell) makes us wait up to 5 s instead of failing at once.
//   - foreign_keys(1): SQLite does not enforce foreign keys unless asked, per
//     connection; the schema relies on them for tenant integrity.
//   - synchronous(FULL): a commit is on disk when it returns. The audit log
//     promises durability, so we do not trade it for NORMAL's speed.
//   - recursive_triggers(1): without it, the row deletions that INSERT OR
//     REPLACE performs fire no DELETE trigger, so REPLACE would silently
//     overwrite an audit entry despite the append-only triggers.
const pragmas = "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)&_pragma=foreign_keys(1)" +
	"&_pragma=synchronous(FULL)&_pragma=recursive_triggers(1)"

// readerConns is the size of the reader pool.
const readerConns = 4

// Store is the SQLite store. It is safe for concurrent use.
type Store struct {
	writer *sql.DB     // one connection, every write
	reader *sql.DB     // query_only connections, every read
	rq     *stmtCache  // reader statements
	wq     *stmtCache  // writer statements
	audit  *auditStmts // prepared on the writer at Open
	path   string      // the database file
	// free measures the free space of a directory (freeBytes; tests
	// replace it).
	free func(dir string) (int64, bool)

	// onList, set by tests only, sees every listing's statements and
	// arguments (TestListPlans explains them).
	onList func(query string, args []any)
}

var _ store.Store = (*Store)(nil)

// Open opens the database file at path, creating it with mode 0600 if it
// does not exist, and applies any pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	// The DSN is path + "?" + parameters, so a "?" in the path would be read
	// as parameters, and "file:" or ":memory:" would change what is opened.
	if path == "" || strings.Contains(path, "?") || strings.HasPrefix(path, "file:") || strings.HasPrefix(path, ":memory:") {
		return nil, fmt.Errorf("sqlite: open: invalid database path %q", path)
	}
	// The file holds password hashes and the audit trail: create it readable
	// by the owner only. SQLite gives the -wal and -shm files it creates next
	// to it the same mode. An existing file keeps the mode it has.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}

	// _txlock=immediate makes every BeginTx on the writer a BEGIN IMMEDIATE:
	// the write lock is taken at the start, so a transaction that reads and
	// then writes cannot fail half-way with SQLITE_BUSY or act on a stale
	// read.
	writer, err := sql.Open("sqlite", path+"?"+pragmas+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	writer.SetMaxOpenConns(1)
	writer.SetMaxIdleConns(1)
	writer.SetConnMaxLifetime(0)
	writer.SetConnMaxIdleTime(0)

	// The schema exists before the first reader connects.
	if err := migrate(ctx, writer); err != nil {
		writer.Close()
		return nil, err
	}

	// query_only(1): a reader connection cannot write even if a write were
	// sent to the wrong pool by mistake.
	reader, err := sql.Open("sqlite", path+"?"+pragmas+"&_pragma=query_only(1)")
	if err != nil {
		writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	reader.SetMaxOpenConns(readerConns)
	reader.SetMaxIdleConns(readerConns)
	reader.SetConnMaxLifetime(0)
	reader.SetConnMaxIdleTime(0)
	if err := reader.PingContext(ctx); err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	as, err := prepareAudit(ctx, writer)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	// The writer has one connection, held by the transaction that would
	// need a statement, so its statements cannot be prepared on a miss:
	// the hot ones are prepared here and the rest run unprepared.
	wq, err := preparedCache(ctx, writer, hotWrites...)
	if err != nil {
		reader.Close()
		writer.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return &Store{writer: writer, reader: reader, rq: newStmtCache(reader), wq: wq, audit: as, path: path, free: freeBytes}, nil
}

// DB returns the writer pool. It exists for tests and tools that need raw
// access; the application goes through the store methods.
func (s *Store) DB() *sql.DB { return s.writer }

// Ping reports whether both pools answer.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.writer.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	if err := s.reader.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Headroom that Writable requires. A database that cannot grow fails every
// write that needs a new page, while small updates may still commit.
const (
	minFreeBytes = 16 << 20 // free on the file system of the database
	minFreePages = 256      // below max_page_count (1 MiB of 4 KiB pages)
)

// applicationID is Komand's SQLite application ID ("KMND"), written by
// the writability heartbeat.
const applicationID = 0x4B4D4E44

// Writable reports whether the store can take writes now, in two checks:
//
//   - A write transaction commits: the heartbeat sets the file's
//     application ID (SQLite's header field for it) to Komand's. It is one
//     WAL frame through the same lock, append and fsync as every write, so
//     a read-only file, an I/O error or a lock held by another process
//     fails it.
//   - There is room to grow. The heartbeat alone is not enough on a full
//     disk: after a checkpoint SQLite rewrites the WAL from its start,
//     so a one-page commit can succeed where every insert that needs a new
//     page fails with SQLITE_FULL. So Ready also asks for minFreeBytes free
//     on the file system (where the platform tells it) and minFreePages
//     below max_page_count (counting the free list).
//
// Every failure wraps store.ErrUnavailable. Writable writes, so callers
// cache its answer (the gateway keeps it for a second).
func (s *Store) Writable(ctx context.Context) error {
	var pages, maxPages, free int64
	err := s.write(ctx, "writable", func(tx txQuerier) error {
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA application_id = %d", applicationID)); err != nil {
			return err
		}
		// max_page_count is per connection: ask the writer's.
		for _, q := range []struct {
			sql string
			v   *int64
		}{{"PRAGMA page_count", &pages}, {"PRAGMA max_page_count", &maxPages}, {"PRAGMA freelist_count", &free}} {
			if err := tx.QueryRowContext(ctx, q.sql).Scan(q.v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if room := maxPages - pages + free; room < minFreePages {
		return fmt.Errorf("sqlite: writable: %w: %d pages of room left below max_page_count %d", store.ErrUnavailable, room, maxPages)
	}
	if avail, ok := s.free(filepath.Dir(s.path)); ok && avail < minFreeBytes {
		return fmt.Errorf("sqlite: writable: %w: %d bytes free on the file system of %s", store.ErrUnavailable, avail, s.path)
	}
	return nil
}

// Close closes both pools.
func (s *Store) Close() error {
	if s.wq != nil {
		s.wq.close()
	}
	if s.rq != nil {
		s.rq.close()
	}
	if s.audit != nil {
		s.audit.close()
	}
	return errors.Join(s.reader.Close(), s.writer.Close())
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// scanner is what *sql.Row and *sql.Rows have in common.
type scanner interface {
	Scan(dest ...any) error
}

// write runs fn in one write transaction (BEGIN IMMEDIATE on the single
// writer connection) and commits if fn returns nil. fn must not use the
// writer pool itself: its only connection is held by tx.
func (s *Store) write(ctx context.Context, op string, fn func(tx txQuerier) error) error {
	tx, err := s.writer.BeginTx(ctx, nil)
	if err != nil {
		return wrap(op, err)
	}
	// Rolls back on every early return and on a panic in fn; a no-op after
	// Commit.
	defer tx.Rollback()
	if err := fn(txQuerier{tx: tx, cache: s.wq}); err != nil {
		return wrap(op, err)
	}
	if err := tx.Commit(); err != nil {
		return wrap(op, err)
	}
	return nil
}

// read runs fn in one read transaction on the reader pool, so that several
// queries (a page and its total) see the same snapshot.
func (s *Store) read(ctx context.Context, op string, fn func(tx querier) error) error {
	tx, err := s.reader.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return wrap(op, err)
	}
	defer tx.Rollback()
	if err := fn(txQuerier{tx: tx, cache: s.rq}); err != nil {
		return wrap(op, err)
	}
	return wrap(op, tx.Commit())
}

// wrap translates err into the store's vocabulary: sentinels pass through,
// sql.ErrNoRows becomes store.ErrNotFound, a uniqueness violation becomes
// store.ErrConflict, and anything else is wrapped with the operation name.
func wrap(op string, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound), errors.Is(err, store.ErrConflict),
		errors.Is(err, store.ErrLastOwner), errors.Is(err, store.ErrTokenReused),
		errors.Is(err, store.ErrLimit), errors.Is(err, store.ErrBadCursor):
		return err
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case isUniqueViolation(err):
		// The driver's message names the constraint; it is not passed up.
		return fmt.Errorf("sqlite: %s: %w", op, store.ErrConflict)
	case errors.Is(err, store.ErrUnavailable):
		return err
	case isUnavailable(err):
		return fmt.Errorf("sqlite: %s: %w: %w", op, store.ErrUnavailable, err)
	default:
		return fmt.Errorf("sqlite: %s: %w", op, err)
	}
}

// isUnavailable reports whether err means the database cannot be used right
// now rather than that the statement is wrong: the file cannot be opened,
// an I/O error, a full disk or database (SQLITE_FULL, also from
// max_page_count), a read-only file, a lock another process holds past
// busy_timeout, or a closed pool.
func isUnavailable(err error) bool {
	if errors.Is(err, sql.ErrConnDone) || errors.Is(err, context.DeadlineExceeded) ||
		strings.Contains(err.Error(), "sql: database is closed") { // database/sql exports no value for it
		return true
	}
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_PROTOCOL, sqlite3.SQLITE_NOLFS:
		return true
	}
	return false
}

// isUniqueViolation reports whether err is a UNIQUE or PRIMARY KEY
// constraint failure. The driver enables extended result codes, so the code
// tells the kind of constraint apart.
func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return true
	}
	return false
}

// Timestamps are stored as unix microseconds. Converting back always yields
// UTC, and the sub-microsecond part is dropped on the way in.

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return t.UnixMicro()
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// limitOffset turns a page into LIMIT and OFFSET values. A PageSize of zero
// or less means no limit (LIMIT -1 in SQLite).
func limitOffset(p store.Page) (limit, offset int) {
	limit = p.PageSize
	if limit <= 0 {
		limit = -1
	}
	offset = max(p.Offset(), 0)
	return limit, offset
}

// qualify prefixes every column of a comma-separated list with alias.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, c := range parts {
		parts[i] = alias + "." + c
	}
	return strings.Join(parts, ", ")
}

// scanRows runs q in tx and scans every row.
func scanRows[T any](ctx context.Context, tx querier, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// selectAll runs one query on the reader pool and scans every row.
func selectAll[T any](ctx context.Context, s *Store, op, q string, args []any, scan func(scanner) (T, error)) ([]T, error) {
	var out []T
	err := s.read(ctx, op, func(tx querier) (err error) {
		out, err = scanRows(ctx, tx, q, args, scan)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// listQuery is one listing of a tenant: FROM, the selected columns, the
// WHERE clause (it starts with the tenant) with its arguments, ORDER BY, and
// for a cursor the list, the keyset condition "rows after the key" and
// pointers to the key values it binds (filled from the cursor). ORDER BY
// must be the order of an index that starts with the WHERE clause's
// equalities, so that a page is an index range scan (TestListPlans).
type listQuery struct {
	op, tenantID, from, cols, where string
	args                            []any
	order                           string
	list                            store.List
	after                           string
	key                             []any
}

// listPage runs a listing's bounded count (at most store.CountLimit+1 rows
// are counted) and one page of it in one read transaction, so both see the
// same snapshot, and scans the rows. A cursor page starts after the cursor's
// key, with no OFFSET; a cursor of another list or tenant gives
// store.ErrBadCursor.
func listPage[T any](ctx context.Context, s *Store, q listQuery, p store.Page, scan func(scanner) (T, error)) ([]T, int, error) {
	limit, offset := limitOffset(p)
	where, pageArgs := q.where, append(make([]any, 0, len(q.args)+len(q.key)+2), q.args...)
	ok, err := store.DecodeCursor(p, q.tenantID, q.list, q.key...)
	if err != nil {
		return nil, 0, wrap(q.op, err)
	}
	if ok {
		where += " AND " + q.after
		for _, k := range q.key {
			pageArgs = append(pageArgs, deref(k))
		}
	}
	pageArgs = append(pageArgs, limit, offset)
	countArgs := append(append(make([]any, 0, len(q.args)+1), q.args...), store.CountLimit+1)
	var (
		out   []T
		total int
	)
	// The count walks the list's index in the list's order, as the page
	// does (and as on PostgreSQL, where the planner needs the ORDER BY).
	countSQL := `SELECT count(*) FROM (SELECT 1 FROM ` + q.from + ` WHERE ` + q.where + ` ORDER BY ` + q.order + ` LIMIT ?)`
	pageSQL := `SELECT ` + q.cols + ` FROM ` + q.from + ` WHERE ` + where + ` ORDER BY ` + q.order + ` LIMIT ? OFFSET ?`
	if s.onList != nil {
		s.onList(countSQL, countArgs)
		s.onList(pageSQL, pageArgs)
	}
	err = s.read(ctx, q.op, func(tx querier) (err error) {
		if err := tx.QueryRowContext(ctx, countSQL, countArgs...).Scan(&total); err != nil {
			return err
		}
		out, err = scanRows(ctx, tx, pageSQL, pageArgs, scan)
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	return out, total, nil
}

// deref returns the value a cursor key pointer points to.
func deref(k any) any {
	switch v := k.(type) {
	case *string:
		return *v
	case *int64:
		return *v
	}
	panic("sqlite: cursor key must be *string or *int64")
}

// atLimit gives store.ErrLimit when rows (a SELECT of the tenant's counted
// rows, with args) already holds max rows. It counts at most max rows, so
// the check costs no more than the limit, and runs in the write transaction
// tx, which the one writer connection serialises with every other write: the
// count and the insert that follows are atomic. A max below 1 refuses.
func atLimit(ctx context.Context, tx querier, rows string, max int, args ...any) error {
	if max < 1 {
		return store.ErrLimit
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM (`+rows+` LIMIT ?)`, append(args, max)...).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return store.ErrLimit
	}
	return nil
}
