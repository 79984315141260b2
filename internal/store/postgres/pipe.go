package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// pipeTx is a write's READ COMMITTED transaction on one pooled connection,
// sent so that it waits for the database only where it needs an answer:
//
//   - BEGIN is not a round trip of its own: it travels with the first
//     statement (pgx's Tx sends it alone and waits), and so does the
//     transaction's id (txid_current), known from then on, so that COMMIT
//     can travel with the last statements and a COMMIT whose answer is
//     lost can still be resolved (Store.commitOutcome);
//   - statements whose answers nothing reads (an index of the row just
//     written, the appends to the pending tables) are queued and travel
//     with the next statement the transaction sends, or with the commit;
//   - a transaction that sent nothing commits and rolls back without a
//     word to the database.
//
// Order is kept: queued statements run before the statement they travel
// with, in the order they were queued, so every statement sees what the
// transaction wrote before it. A queued statement's failure is reported by
// the statement it travelled with, named after the queued one
// (queuedFailure); the transaction is aborted either way, and Store.write
// rolls it back.
type pipeTx struct {
	conn   *pgxpool.Conn
	begun  bool  // BEGIN was sent: the connection may be in a transaction
	ended  bool  // COMMIT was answered: the transaction is over
	xid    int64 // the transaction's id, once BEGIN's batch has run
	queued []deferredStmt
	// idle: the transaction's only statement (execOnly) changed nothing,
	// so it has no id, and its COMMIT writes nothing to the log.
	idle bool
	// err is the failure of a batch that carried BEGIN or queued
	// statements: every later statement, and the commit, fail with it. (The
	// batch may not have run at all — pgx prepares a batch's statements
	// before it runs any — so the connection may be outside a transaction,
	// where a later statement would commit on its own.)
	err error
}

// beginSQL is what pgx's BeginTx sends for pgx.ReadCommitted.
const beginSQL = `begin isolation level read committed`

// xidSQL gives the transaction its id at once. A transaction that writes
// gets one at its first write anyway; one that only reads (or finds
// nothing to change) gets one too, and its COMMIT is then written to the
// database's log — the price of knowing the id before COMMIT is sent. A
// transaction of one statement asks after it instead (execOnly).
const xidSQL = `SELECT txid_current()`

// xidIfAssignedSQL gives the transaction's id if it has one: if it wrote.
const xidIfAssignedSQL = `SELECT txid_current_if_assigned()`

// queue adds a statement to send with the next one.
func (p *pipeTx) queue(d deferredStmt) { p.queued = append(p.queued, d) }

// prefix returns the statements that must go before the next one: BEGIN if
// it was not sent, then the queue; it marks them sent.
func (p *pipeTx) prefix() []deferredStmt {
	var pre []deferredStmt
	if !p.begun {
		pre = append(pre, deferredStmt{sql: beginSQL, op: "begin"}, deferredStmt{sql: xidSQL, op: "begin"})
		p.begun = true
	}
	pre = append(pre, p.queued...)
	p.queued = nil
	return pre
}

// send sends pre, then b's statements, in one round trip, and reads pre's
// answers: the results left are b's. On a failure of pre, the batch is
// closed and the error returned.
func (p *pipeTx) send(ctx context.Context, pre []deferredStmt, b *pgx.Batch) (pgx.BatchResults, error) {
	all := &pgx.Batch{QueuedQueries: make([]*pgx.QueuedQuery, 0, len(pre)+b.Len())}
	for _, d := range pre {
		all.Queue(d.sql, d.args...)
	}
	all.QueuedQueries = append(all.QueuedQueries, b.QueuedQueries...)
	br := p.conn.SendBatch(ctx, all)
	for _, d := range pre {
		var err error
		if d.sql == xidSQL {
			err = br.QueryRow().Scan(&p.xid)
		} else {
			_, err = br.Exec()
		}
		if err != nil {
			br.Close()
			var pe pgx.ErrPreprocessingBatch
			if errors.As(err, &pe) {
				// Nothing ran: the failure may be any statement's.
				p.err = fmt.Errorf("send batch: %w", err)
			} else {
				p.err = queuedFailure(err, d.op)
			}
			return nil, p.err
		}
	}
	return br, nil
}

// queuedFailure is the error of a queued statement (op), as the statement
// it travelled with reports it. A uniqueness violation becomes the conflict
// naming the attribute, text the database cannot hold an invalid value, as
// when the statement runs alone; a deadlock, a serialization failure and a
// lost connection stay visible to the retry and the outage checks. Any
// other error of the database is wrapped without its code, so that the
// check of the reporting statement (a foreign key violation of its own)
// does not take it for its own.
func queuedFailure(err error, op string) error {
	if op == "begin" {
		return fmt.Errorf("begin: %w", err)
	}
	if _, ok := pgError(err); !ok || isRetryable(err) || unavailable(err) {
		return fmt.Errorf("%s: %w", op, err)
	}
	if _, ok := isUnique(err); ok || isBadText(err) {
		return conflict(err, op)
	}
	return fmt.Errorf("%s: %v", op, err)
}

// withPrefix sends sql after what must go before it, in one batch, and
// returns the batch, whose next result is sql's; nil when nothing had to go
// before it: the caller sends sql alone.
func (p *pipeTx) withPrefix(ctx context.Context, sql string, args []any) (pgx.BatchResults, error) {
	if p.err != nil {
		return nil, p.err
	}
	pre := p.prefix()
	if len(pre) == 0 {
		return nil, nil
	}
	b := &pgx.Batch{}
	b.Queue(sql, args...)
	return p.send(ctx, pre, b)
}

// Exec runs a statement.
func (p *pipeTx) Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	br, err := p.withPrefix(ctx, sql, args)
	switch {
	case err != nil:
		return pgconn.CommandTag{}, err
	case br == nil:
		return p.conn.Exec(ctx, sql, args...)
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return tag, err
}

// QueryRow runs a statement that answers at most one row.
func (p *pipeTx) QueryRow(ctx context.Context, sql string, args ...any) pgx.Row {
	br, err := p.withPrefix(ctx, sql, args)
	switch {
	case err != nil:
		return errRow{err}
	case br == nil:
		return p.conn.QueryRow(ctx, sql, args...)
	}
	return &batchRow{row: br.QueryRow(), br: br}
}

// execOnly runs the transaction's only statement, with BEGIN and, behind
// it, a question for the transaction's id in one round trip, instead of
// taking an id in BEGIN's batch (xidSQL): a statement that changed nothing
// (a periodic sweep that found nothing to do) leaves the transaction
// without an id (idle), and its COMMIT costs the database no write to its
// log. (COMMIT is still sent: a statement may have effects that give it no
// id, such as a notification.)
func (p *pipeTx) execOnly(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error) {
	if p.begun || len(p.queued) > 0 {
		return p.Exec(ctx, sql, args...)
	}
	p.begun = true
	b := &pgx.Batch{}
	b.Queue(beginSQL)
	b.Queue(sql, args...)
	b.Queue(xidIfAssignedSQL)
	br := p.conn.SendBatch(ctx, b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return pgconn.CommandTag{}, err
	}
	tag, err := br.Exec()
	if err != nil {
		return tag, err
	}
	var xid *int64
	if err := br.QueryRow().Scan(&xid); err != nil {
		return tag, err
	}
	if xid == nil {
		p.idle = true
	} else {
		p.xid = *xid
	}
	return tag, br.Close()
}

// Query runs a statement that answers rows.
func (p *pipeTx) Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error) {
	br, err := p.withPrefix(ctx, sql, args)
	switch {
	case err != nil:
		return nil, err
	case br == nil:
		return p.conn.Query(ctx, sql, args...)
	}
	rows, err := br.Query()
	if err != nil {
		br.Close()
		return nil, err
	}
	return &batchRows{Rows: rows, br: br}, nil
}

// SendBatch sends b's statements in one round trip, after what must go
// before them.
func (p *pipeTx) SendBatch(ctx context.Context, b *pgx.Batch) pgx.BatchResults {
	if p.err != nil {
		return errBatch{p.err}
	}
	pre := p.prefix()
	if len(pre) == 0 {
		return p.conn.SendBatch(ctx, b)
	}
	br, err := p.send(ctx, pre, b)
	if err != nil {
		return errBatch{err}
	}
	return br
}

// sent reports whether anything was sent, or is queued to be: a
// transaction that sent nothing has nothing to commit.
func (p *pipeTx) sent() bool { return p.begun || len(p.queued) > 0 }

// flush sends what is queued (with BEGIN, if not sent yet) and waits for
// it.
func (p *pipeTx) flush(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	pre := p.prefix()
	if len(pre) == 0 {
		return nil
	}
	br, err := p.send(ctx, pre, &pgx.Batch{})
	if err != nil {
		return err
	}
	return br.Close()
}

// commit sends COMMIT, behind what is queued, in one batch: should a
// queued statement fail, the database skips the rest of the batch, COMMIT
// included, and the transaction stays to be rolled back. A transaction the
// database had aborted answers ROLLBACK to COMMIT, which is an error
// (pgx.ErrTxCommitRollback), as pgx's Tx says. BEGIN must have been sent
// (flush), so that the transaction's id is known.
func (p *pipeTx) commit(ctx context.Context) error {
	if p.err != nil {
		return p.err
	}
	if !p.begun {
		return nil
	}
	b := &pgx.Batch{}
	b.Queue("commit")
	br, err := p.send(ctx, p.prefix(), b)
	if err != nil {
		return err
	}
	tag, err := br.Exec()
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	p.ended = true
	if tag.String() != "COMMIT" {
		return pgx.ErrTxCommitRollback
	}
	return nil
}

// release rolls back what was not committed and returns the connection to
// the pool. A connection whose state is in doubt (the rollback failed, or
// a COMMIT had no answer) is closed: the pool destroys a connection that
// is closed, busy or in a transaction rather than lend it again.
func (p *pipeTx) release(ctx context.Context) {
	if p.conn == nil {
		return // discarded
	}
	if p.begun && !p.ended {
		if _, err := p.conn.Exec(context.WithoutCancel(ctx), "rollback"); err != nil {
			_ = p.conn.Conn().Close(context.WithoutCancel(ctx))
		}
	}
	p.conn.Release()
}

// discard closes the connection, whose state is unknown (its COMMIT went
// unanswered), and gives its place in the pool back at once, so that the
// question of what became of the transaction can be asked even when every
// other connection is taken.
func (p *pipeTx) discard(ctx context.Context) {
	_ = p.conn.Conn().Close(context.WithoutCancel(ctx))
	p.conn.Release()
	p.conn = nil
}

// batchRow is the row of a statement sent in a batch: reading it closes
// the batch.
type batchRow struct {
	row pgx.Row
	br  pgx.BatchResults
}

func (r *batchRow) Scan(dest ...any) error {
	err := r.row.Scan(dest...)
	if cerr := r.br.Close(); err == nil {
		err = cerr
	}
	return err
}

// errRow is a row whose statement could not run.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// batchRows are the rows of a statement sent in a batch: closing them
// closes the batch, whose error Err then reports.
type batchRows struct {
	pgx.Rows
	br     pgx.BatchResults
	closed bool
	err    error
}

func (r *batchRows) Close() {
	r.Rows.Close()
	if !r.closed {
		r.closed = true
		r.err = r.br.Close()
	}
}

func (r *batchRows) Next() bool {
	if r.Rows.Next() {
		return true
	}
	r.Close()
	return false
}

func (r *batchRows) Err() error {
	if err := r.Rows.Err(); err != nil {
		return err
	}
	return r.err
}

// errBatch answers every result of a batch that could not be sent.
type errBatch struct{ err error }

func (b errBatch) Exec() (pgconn.CommandTag, error) { return pgconn.CommandTag{}, b.err }
func (b errBatch) Query() (pgx.Rows, error)         { return nil, b.err }
func (b errBatch) QueryRow() pgx.Row                { return errRow{b.err} }
func (b errBatch) Close() error                     { return b.err }
func (b errBatch) Tx() pgx.Tx                       { return nil }

var (
	_ querier          = (*pipeTx)(nil)
	_ pgx.BatchResults = errBatch{}
)
