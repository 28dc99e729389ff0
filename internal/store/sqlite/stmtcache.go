package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// maxCachedStmts bounds the statement cache. Queries are constant strings
// (ListAudit composes at most a few dozen filter variants), so the bound is
// never reached in practice; past it, queries are simply not cached.
const maxCachedStmts = 256

// stmtCache is a querier over a pool whose statements are prepared once
// and reused. The modernc driver has no statement cache of its own, and
// parsing SQL was about a third of the CPU of an authenticated request;
// database/sql keeps each *sql.Stmt prepared on every connection it has
// been used on.
type stmtCache struct {
	db      *sql.DB
	fixed   bool // no preparing on a miss (see preparedCache)
	mu      sync.Mutex
	stmts   map[string]*sql.Stmt
	warming map[string]bool
	closed  bool
	warmers sync.WaitGroup // background prepares, waited for by close
}

// preparedCache is a cache holding exactly qs, prepared now; other queries
// run unprepared. It is the writer's: the writer pool has one connection,
// which a transaction asking for a statement holds, so preparing on a miss
// would wait for itself.
func preparedCache(ctx context.Context, db *sql.DB, qs ...string) (*stmtCache, error) {
	c := &stmtCache{db: db, fixed: true, stmts: map[string]*sql.Stmt{}, warming: map[string]bool{}}
	for _, q := range qs {
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			c.close()
			return nil, err
		}
		c.stmts[q] = st
	}
	return c, nil
}

func newStmtCache(db *sql.DB) *stmtCache {
	return &stmtCache{db: db, stmts: map[string]*sql.Stmt{}, warming: map[string]bool{}}
}

func (c *stmtCache) stmt(ctx context.Context, q string) *sql.Stmt {
	c.mu.Lock()
	st := c.stmts[q]
	c.mu.Unlock()
	if st != nil || c.fixed {
		return st
	}
	st, err := c.db.PrepareContext(ctx, q)
	if err != nil {
		return nil // the uncached call below reports the error
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		st.Close()
		return nil
	}
	if prev := c.stmts[q]; prev != nil {
		st.Close()
		return prev
	}
	if len(c.stmts) >= maxCachedStmts {
		st.Close()
		return nil
	}
	c.stmts[q] = st
	return st
}

func (c *stmtCache) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := c.stmt(ctx, q); st != nil {
		return st.ExecContext(ctx, args...)
	}
	return c.db.ExecContext(ctx, q, args...)
}

func (c *stmtCache) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := c.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return c.db.QueryContext(ctx, q, args...)
}

func (c *stmtCache) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := c.stmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return c.db.QueryRowContext(ctx, q, args...)
}

func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.warmers.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// cached returns q's statement if it is prepared, and otherwise starts
// preparing it in the background and returns nil. A transaction must not
// prepare on the pool itself: it holds one of the pool's connections, and
// when every connection is held by a transaction waiting to prepare, none
// is ever freed (found by a test starting 20 first reads at once).
func (c *stmtCache) cached(q string) *sql.Stmt {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.stmts[q]; st != nil || c.fixed || c.closed {
		return st
	}
	if !c.warming[q] {
		c.warming[q] = true
		c.warmers.Add(1)
		go func() {
			defer c.warmers.Done()
			c.stmt(context.Background(), q)
			c.mu.Lock()
			delete(c.warming, q)
			c.mu.Unlock()
		}()
	}
	return nil
}

// txQuerier runs a transaction's queries through the cache's statements
// (Tx.StmtContext reuses the statement already prepared on the
// transaction's connection); a statement not prepared yet runs unprepared
// on the transaction.
type txQuerier struct {
	tx    *sql.Tx
	cache *stmtCache
}

func (t txQuerier) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.cache.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.tx.ExecContext(ctx, q, args...)
}

func (t txQuerier) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.cache.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.tx.QueryContext(ctx, q, args...)
}

func (t txQuerier) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	if st := t.cache.cached(q); st != nil {
		return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return t.tx.QueryRowContext(ctx, q, args...)
}

// StmtContext returns a transaction-specific form of a statement prepared
// elsewhere (the audit writer's).
func (t txQuerier) StmtContext(ctx context.Context, st *sql.Stmt) *sql.Stmt {
	return t.tx.StmtContext(ctx, st)
}
