package postgres

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/komand-ai/komand/internal/store"
)

// listQuery is one listing of a tenant: FROM, the selected columns, the
// WHERE clause (it starts with the tenant; placeholders $1… are its args),
// ORDER BY, and for a cursor the list, the keyset condition "rows after the
// key" written with $K1, $K2 for the key values, and pointers to them
// (filled from the cursor). A key pointer listed in micros holds a time in
// microseconds since the epoch and is bound as a timestamptz. ORDER BY must
// be the order (and collation) of an index that starts with the WHERE
// clause's equalities, so that a page is an index range scan with no sort
// (TestListPlans).
type listQuery struct {
	op, tenantID, from, cols, where string
	args                            []any
	order                           string
	list                            store.List
	after                           string
	key                             []any
	micros                          *int64
}

// listPage queues a listing's bounded count (at most store.CountLimit+1
// rows are counted) and one page of it in one pipelined round trip under the
// tenant's row-level security. A cursor page starts after the cursor's key,
// with no OFFSET; a cursor of another list or tenant gives
// store.ErrBadCursor.
func listPage[T any](ctx context.Context, s *Store, q listQuery, p store.Page, scan func(pgx.Row) (T, error)) ([]T, int, error) {
	ok, err := store.DecodeCursor(p, q.tenantID, q.list, q.key...)
	if err != nil {
		return nil, 0, wrapErr(q.op, err)
	}
	n := len(q.args)
	where, pageArgs := q.where, append(make([]any, 0, n+len(q.key)+2), q.args...)
	if ok {
		r := make([]string, 0, 2*len(q.key))
		for i, k := range q.key {
			r = append(r, "$K"+strconv.Itoa(i+1), "$"+strconv.Itoa(n+i+1))
			pageArgs = append(pageArgs, q.bind(k))
		}
		where += " AND " + strings.NewReplacer(r...).Replace(q.after)
	}
	limit, offset := limitOffset(p)
	m := len(pageArgs)
	pageArgs = append(pageArgs, limit, offset)
	// The count walks the list's index in the list's order too: without the
	// ORDER BY the planner may pick a sequential scan for a tenant that
	// holds much of the table, which stops after CountLimit+1 matches only
	// if they come early in the heap.
	countSQL := `SELECT count(*) FROM (SELECT 1 FROM ` + q.from + ` WHERE ` + q.where + ` ORDER BY ` + q.order +
		` LIMIT $` + strconv.Itoa(n+1) + `) c`
	countArgs := append(append(make([]any, 0, n+1), q.args...), store.CountLimit+1)
	pageSQL := `SELECT ` + q.cols + ` FROM ` + q.from + ` WHERE ` + where + ` ORDER BY ` + q.order +
		` LIMIT $` + strconv.Itoa(m+1) + ` OFFSET $` + strconv.Itoa(m+2)
	if s.onList != nil {
		s.onList(countSQL, countArgs)
		s.onList(pageSQL, pageArgs)
	}
	out := []T{}
	var total int
	err = s.readTenant(ctx, q.tenantID, func(b *pgx.Batch) {
		b.Queue(countSQL, countArgs...).QueryRow(func(row pgx.Row) error { return row.Scan(&total) })
		b.Queue(pageSQL, pageArgs...).Query(appendRows(&out, scan))
	})
	if err != nil {
		return nil, 0, wrapErr(q.op, err)
	}
	return out, total, nil
}

// bind returns the value a cursor key pointer points to, as bound.
func (q listQuery) bind(k any) any {
	switch v := k.(type) {
	case *string:
		return *v
	case *int64:
		if v == q.micros {
			return time.UnixMicro(*v).UTC()
		}
		return *v
	}
	panic("postgres: cursor key must be *string or *int64")
}

// atLimit gives store.ErrLimit when rows (a SELECT of the tenant's counted
// rows; $1 is the tenant) already holds max rows. A transaction-scoped
// advisory lock on (table, tenant) serialises the count and the insert that
// follows across connections and replicas, so concurrent creations cannot
// pass the limit together; the lock is released at commit. It counts at most
// max rows, so the check costs no more than the limit. A max below 1
// refuses.
func atLimit(ctx context.Context, tx pgx.Tx, table, rows string, max int, tenantID string) error {
	if max < 1 {
		return store.ErrLimit
	}
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1 || ':' || $2, 0))`, table, tenantID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM (`+rows+` LIMIT $2) c`, tenantID, max).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return store.ErrLimit
	}
	return nil
}
