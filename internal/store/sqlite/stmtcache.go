package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// stmtCache keeps prepared statements by SQL text. SQLite spends much of a
// point query parsing and planning the statement; preparing each distinct
// statement once (per connection, which database/sql handles) removes that
// cost. Filters compile to the same text for the same shape, so list
// queries hit the cache too. The cache is bounded; past the bound,
// statements run unprepared.
type stmtCache struct {
	db *sql.DB
	mu sync.RWMutex
	m  map[string]*sql.Stmt
}

const maxCachedStmts = 2000

func newStmtCache(db *sql.DB) *stmtCache { return &stmtCache{db: db, m: map[string]*sql.Stmt{}} }

// get returns the prepared statement for query, or nil when the cache is
// full.
func (c *stmtCache) get(ctx context.Context, query string) (*sql.Stmt, error) {
	c.mu.RLock()
	st := c.m[query]
	n := len(c.m)
	c.mu.RUnlock()
	if st != nil || n >= maxCachedStmts {
		return st, nil
	}
	st, err := c.db.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.m[query]; old != nil {
		st.Close()
		return old, nil
	}
	c.m[query] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	clear(c.m)
}

// cachedDB runs queries on a pool through the cache.
type cachedDB struct{ c *stmtCache }

func (d cachedDB) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	st, err := d.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return d.c.db.QueryContext(ctx, q, args...)
	}
	return st.QueryContext(ctx, args...)
}

func (d cachedDB) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	st, err := d.c.get(ctx, q)
	if err != nil || st == nil {
		return d.c.db.QueryRowContext(ctx, q, args...)
	}
	return st.QueryRowContext(ctx, args...)
}

func (d cachedDB) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	st, err := d.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return d.c.db.ExecContext(ctx, q, args...)
	}
	return st.ExecContext(ctx, args...)
}

// cachedTx runs a transaction's queries with statements prepared on the
// writer connection; database/sql reuses them inside the transaction because
// the writer pool has exactly that one connection.
type cachedTx struct {
	tx *sql.Tx
	c  *stmtCache
}

// stmtContext is the context a statement of the group commit's
// transaction runs with: the write's own, without its cancellation, once
// checked. The transaction holds other clients' writes too, each behind its
// savepoint, and the driver stops a statement whose context ends with
// sqlite3_interrupt, which rolls back the whole transaction when it stops
// an INSERT, UPDATE or DELETE: one client that hung up would fail the
// writes batched with its own ("no such savepoint"). A write whose context
// has ended fails at its next statement instead, rolled back to its
// savepoint alone; one statement that has begun runs to its end (the
// writer's statements touch a few rows each).
func stmtContext(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return context.WithoutCancel(ctx), nil
}

func (t cachedTx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	ctx, err := stmtContext(ctx)
	if err != nil {
		return nil, err
	}
	st, err := t.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.tx.QueryContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryContext(ctx, args...)
}

// QueryRowContext runs the query even if ctx has ended (a Row carries no
// error of its own before Scan); the next Exec or Query of the write fails.
func (t cachedTx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	ctx = context.WithoutCancel(ctx)
	st, err := t.c.get(ctx, q)
	if err != nil || st == nil {
		return t.tx.QueryRowContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
}

func (t cachedTx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	ctx, err := stmtContext(ctx)
	if err != nil {
		return nil, err
	}
	st, err := t.c.get(ctx, q)
	if err != nil {
		return nil, err
	}
	if st == nil {
		return t.tx.ExecContext(ctx, q, args...)
	}
	return t.tx.StmtContext(ctx, st).ExecContext(ctx, args...)
}
