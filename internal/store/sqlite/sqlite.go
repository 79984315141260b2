// Package sqlite is Gatehouse's embedded store: SQLite through the pure-Go
// modernc.org/sqlite driver (so CGO_ENABLED=0 builds work), in WAL mode, with
// one writer connection and two pools of read-only connections: one for
// point reads, one for lists and searches, which may run long. A context
// that ends interrupts the statement running for it (the driver calls
// sqlite3_interrupt), except in point reads by key (pointRead), which take
// microseconds.
package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"modernc.org/sqlite"

	"github.com/gatehouse-id/gatehouse/internal/directory"
	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a SQLite database.
type Store struct {
	path string
	rdb  *sql.DB // read-only pool
	wdb  *sql.DB // the single writer
	r    cachedDB
	// ldb is a read-only pool of its own for lists and searches of users
	// and groups, which may run long: point reads (a user, a token) never
	// wait for a connection behind them.
	ldb *sql.DB
	l   cachedDB
	wc  *stmtCache
	// cm runs every write (commit.go). The writer pool has a second
	// connection, used only to prepare statements that the transaction in
	// progress then reuses (database/sql prepares them again on the
	// transaction's connection and keeps them there).
	cm *committer

	// cred is the last credentials version read (auth.go).
	cred        atomic.Pointer[credStamp]
	credReading atomic.Bool

	// Where attributes live, for the filter compiler; built once.
	userLayout, groupLayout *sqlfilter.Layout

	busyTimeout time.Duration    // Options.BusyTimeout
	now         func() time.Time // Options.Now

	cdb            *sql.DB       // the checkpointer's connection
	walFrames      atomic.Int64  // log size after the last checkpoint, in pages
	walCopied      int           // pages of the log the last checkpoint had copied (checkpoint)
	walLast        int           // and the log's size then
	unsynced       bool          // pages copied since the last sync (checkpoint)
	lastSync       time.Time     // when the checkpointer last synced the file
	committed      chan struct{} // a batch committed: the checkpointer may copy it
	tuning         checkpointTuning
	dbFile         *sharedFile  // the database file, for the checkpointer's fsync (dbfile.go)
	syncDB         func() error // dbFile's Sync; nil without it
	stopCheckpoint context.CancelFunc
	checkpointDone chan struct{}
}

// Options tunes the store.
type Options struct {
	// ReadConns is the size of the read pool (default: 2 × GOMAXPROCS, at
	// least 4).
	ReadConns int
	// ListConns is the size of the pool that lists and searches of users
	// and groups use (default: as ReadConns).
	ListConns int
	// Synchronous is the PRAGMA synchronous level for the writer: "FULL"
	// (default: every acknowledged commit survives power loss) or "NORMAL"
	// (survives a crash of Gatehouse, not of the machine).
	Synchronous string
	// MustExist refuses a database that is not there, creating nothing: no
	// file at path, or a file without Gatehouse's tables. The error wraps
	// fs.ErrNotExist. (Administration commands open with it: only serve
	// creates a database.) An existing database is migrated either way.
	MustExist bool
	// BusyTimeout is how long a statement waits for a lock another process
	// holds before failing with SQLITE_BUSY (default 10 s). A write waits
	// that long at most in all, its time queued behind other writes
	// included (commit.go).
	BusyTimeout time.Duration
	// Now is the clock writes' deadlines are read on (default time.Now).
	Now func() time.Time
}

var registerFuncs sync.Once

// registerFuncs installs two SQL functions. gh_lower is Unicode
// lower-casing that agrees with Go's strings.ToLower (SQLite's lower() only
// folds ASCII). gh_time reads an RFC 3339 dateTime as Unix nanoseconds, NULL
// if it is not one (SQLite's julianday() rounds to milliseconds and accepts
// other forms). The driver keeps functions in a process-wide registry, hence
// the Once.
func registerLower() {
	registerFuncs.Do(func() {
		sqlite.MustRegisterDeterministicScalarFunction("gh_time", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			var s string
			switch v := args[0].(type) {
			case string:
				s = v
			case []byte:
				s = string(v)
			default:
				return nil, nil
			}
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return nil, nil
			}
			return t.UnixNano(), nil
		})
		// gh_audit_hash is directory.AuditHash over an audit row's columns,
		// so that an append is one statement (tx.go).
		sqlite.MustRegisterDeterministicScalarFunction("gh_audit_hash", 13, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			str := func(v driver.Value) string {
				switch x := v.(type) {
				case string:
					return x
				case []byte:
					return string(x)
				}
				return ""
			}
			raw := func(v driver.Value) json.RawMessage {
				if v == nil {
					return nil
				}
				return json.RawMessage(str(v))
			}
			seq, ok := args[0].(int64)
			if !ok {
				return nil, fmt.Errorf("gh_audit_hash: seq is %T", args[0])
			}
			at, err := time.Parse(time.RFC3339Nano, str(args[1]))
			if err != nil {
				return nil, fmt.Errorf("gh_audit_hash: %w", err)
			}
			e := &directory.AuditEntry{
				Seq: seq, Time: at,
				Actor:  directory.Actor{Kind: str(args[2]), AppID: str(args[3]), AppName: str(args[4]), TokenID: str(args[5]), RequestID: str(args[6])},
				Action: str(args[7]), ResourceType: str(args[8]), ResourceID: str(args[9]), Before: raw(args[10]), After: raw(args[11]),
			}
			return directory.AuditHash(str(args[12]), e), nil
		})
		sqlite.MustRegisterDeterministicScalarFunction("gh_lower", 1, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			switch v := args[0].(type) {
			case string:
				return strings.ToLower(v), nil
			case []byte:
				return strings.ToLower(string(v)), nil
			}
			return args[0], nil
		})
	})
}

// defaultReadConns is the size of each read pool unless Options says.
func defaultReadConns() int { return max(4, 2*runtime.GOMAXPROCS(0)) }

// Open opens (creating if needed, unless opt.MustExist) the database at
// path and migrates it.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	registerLower()
	if opt.MustExist {
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return nil, missing(fmt.Sprintf("no Gatehouse database at %s (the file does not exist)", absPath(path)))
		}
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("create data directory: %w", err)
		}
	}
	// A new database file is readable by its owner only (SQLite would make
	// it 0644 less the umask); SQLite gives its -wal and -shm files the
	// database file's permissions.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
		f.Close()
	} else if !errors.Is(err, fs.ErrExist) {
		return nil, fmt.Errorf("create database file: %w", err)
	}
	if opt.Synchronous == "" {
		opt.Synchronous = "FULL"
	}
	if opt.Synchronous != "FULL" && opt.Synchronous != "NORMAL" {
		return nil, fmt.Errorf("sqlite: synchronous must be FULL or NORMAL, not %q", opt.Synchronous)
	}
	if opt.ReadConns <= 0 {
		opt.ReadConns = defaultReadConns()
	}
	if opt.ListConns <= 0 {
		opt.ListConns = opt.ReadConns
	}
	if opt.BusyTimeout <= 0 {
		opt.BusyTimeout = 10 * time.Second
	}
	common := "_pragma=busy_timeout(" + strconv.FormatInt(opt.BusyTimeout.Milliseconds(), 10) + ")&_pragma=foreign_keys(1)"
	// temp_store(MEMORY): the statement journals of the group commit's
	// savepoints (one a write) stay in memory; on file, a write to a
	// 1,000,000-user database spilled its journal to a temporary file in
	// 4-byte system calls, 10 % of a POST's CPU (docs/benchmarks.md).
	wdsn := "file:" + url.PathEscape(path) + "?" + common +
		"&_pragma=journal_mode(WAL)&_pragma=synchronous(" + opt.Synchronous + ")&_txlock=immediate&_pragma=wal_autocheckpoint(0)&_pragma=journal_size_limit(67108864)&_pragma=temp_store(MEMORY)"
	wdb, err := sql.Open("sqlite", wdsn)
	if err != nil {
		return nil, err
	}
	wdb.SetMaxOpenConns(2)
	wdb.SetMaxIdleConns(2)
	wdb.SetConnMaxLifetime(0)
	wdb.SetConnMaxIdleTime(0)
	if opt.Now == nil {
		opt.Now = time.Now
	}
	s := &Store{path: path, wdb: wdb, userLayout: sqlfilter.UserLayout(), groupLayout: sqlfilter.GroupLayout(),
		busyTimeout: opt.BusyTimeout, now: opt.Now}
	if opt.MustExist {
		var n int
		if err := wdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`).Scan(&n); err != nil {
			wdb.Close()
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		if n == 0 {
			wdb.Close()
			return nil, missing(fmt.Sprintf("%s is not a Gatehouse database (it has no schema_migrations table)", absPath(path)))
		}
	}
	if err := s.migrate(ctx); err != nil {
		wdb.Close()
		return nil, err
	}
	// mmap_size(0): reads copy pages into the page cache. A memory-mapped
	// reader unmaps the whole file whenever another connection has
	// committed and faults every page back in, and a 1,000,000-user file
	// read at random faulted on most reads even without writes. What that
	// cost depends on the machine's page faults: mapped GETs took 12–30 %
	// more CPU than copied ones, and three times as much under a stream of
	// writes, on one VM, and 0 and 4–13 % more on another; their p99 was
	// twice as long on both (pagecache.go, docs/benchmarks.md).
	rdsn := "file:" + url.PathEscape(path) + "?" + common + "&_pragma=query_only(1)&_pragma=mmap_size(0)"
	rdb, err := sql.Open("sqlite", rdsn)
	if err != nil {
		wdb.Close()
		return nil, err
	}
	rdb.SetMaxOpenConns(opt.ReadConns)
	rdb.SetMaxIdleConns(opt.ReadConns)
	rdb.SetConnMaxIdleTime(0)
	rdb.SetConnMaxLifetime(0)
	s.rdb = rdb
	s.r = cachedDB{newStmtCache(rdb)}
	ldb, err := sql.Open("sqlite", rdsn)
	if err != nil {
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	ldb.SetMaxOpenConns(opt.ListConns)
	ldb.SetMaxIdleConns(opt.ListConns)
	ldb.SetConnMaxIdleTime(0)
	ldb.SetConnMaxLifetime(0)
	s.ldb = ldb
	s.l = cachedDB{newStmtCache(ldb)}
	s.wc = newStmtCache(wdb)
	cdb, err := sql.Open("sqlite", "file:"+url.PathEscape(path)+"?"+common)
	if err != nil {
		ldb.Close()
		rdb.Close()
		wdb.Close()
		return nil, err
	}
	cdb.SetMaxOpenConns(1)
	s.cdb = cdb
	if sf := openDBFile(path); sf != nil {
		s.dbFile, s.syncDB = sf, sf.f.Sync
	}
	s.committed = make(chan struct{}, 1)
	s.tuning = checkpointTuning{copyEvery: copyEvery, syncEvery: syncEvery, restartFrames: restartFrames}
	s.startCommitter()
	s.startCheckpointer(cdb)
	return s, nil
}

// missing is the error of a database that is not there: fs.ErrNotExist,
// in words of its own.
type missing string

func (m missing) Error() string        { return string(m) }
func (m missing) Is(target error) bool { return target == fs.ErrNotExist }

// absPath is path made absolute, for messages (as it is if it cannot be).
func absPath(path string) string {
	if abs, err := filepath.Abs(path); err == nil {
		return abs
	}
	return path
}

// Close closes the database.
func (s *Store) Close() error {
	s.stopCommitter()
	s.stopCheckpointer()
	s.checkpoint(context.Background(), s.cdb, true) // leave a small log behind
	s.r.c.close()
	s.l.c.close()
	s.wc.close()
	err := errors.Join(s.rdb.Close(), s.ldb.Close(), s.wdb.Close(), s.cdb.Close())
	if sf := s.dbFile; sf != nil {
		s.dbFile, s.syncDB = nil, nil // a second Close must not release it again
		sf.release()                  // after the connections: see dbfile.go
	}
	return err
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	return s.rdb.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Dialect names the store's SQL dialect.
func (s *Store) Dialect() string { return "sqlite" }

func (s *Store) migrate(ctx context.Context) error {
	if _, err := s.wdb.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TEXT NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	ms, err := Migrations()
	if err != nil {
		return err
	}
	// A migration this build does not have: a newer Gatehouse used the
	// database, and this one must not run on it (nor apply its own pending
	// migrations to it).
	known := map[int]bool{}
	for _, m := range ms {
		known[m.Version] = true
	}
	rows, err := s.wdb.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var unknown []string
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			rows.Close()
			return fmt.Errorf("migrate: %w", err)
		}
		if !known[v] {
			unknown = append(unknown, strconv.Itoa(v))
		}
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if len(unknown) > 0 {
		return fmt.Errorf("%s has %d migration(s) this build does not know (%s): it was used by a newer Gatehouse. Run that version (gatehouse migrate status lists the migrations)",
			s.path, len(unknown), strings.Join(unknown, ", "))
	}
	for _, m := range ms {
		if err := s.applyMigration(ctx, m.Version, m.SQL); err != nil {
			return fmt.Errorf("migrate %s: %w", m.Name, err)
		}
	}
	// Databases made by development builds before 0.1.0 have an older
	// version of migration 1 (without the audit chain), and one whose
	// chain trigger was dropped has been altered outside Gatehouse: refuse
	// them plainly rather than fail on the first write.
	var n int
	if err := s.wdb.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type = 'trigger' AND name = 'audit_log_head'`).Scan(&n); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("%s has no audit chain trigger (audit_log_head): it was altered outside Gatehouse, or created by a development build older than its schema; restore it from a backup, or move it away and start again", s.path)
	}
	return nil
}

func (s *Store) applyMigration(ctx context.Context, version int, body string) error {
	// The writer's connections keep statement journals in memory
	// (temp_store, Open): a migration may rewrite a whole table in one
	// statement, whose journal goes to a temporary file instead.
	conn, err := s.wdb.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA temp_store = FILE`); err != nil {
		return err
	}
	defer conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA temp_store = MEMORY`)
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations WHERE version = ?`, version).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.ExecContext(ctx, body); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, version, fmtTime(time.Now())); err != nil {
		return err
	}
	return tx.Commit()
}

// timeLayout is fixed-width, so text order is time order.
const timeLayout = "2006-01-02T15:04:05.000000Z"

func fmtTime(t time.Time) string { return t.UTC().Format(timeLayout) }

func parseTime(s string) (time.Time, error) {
	if t, ok := parseFixedTime(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad stored time %q: %w", s, err)
	}
	return t.UTC(), nil
}

// parseFixedTime reads a time in timeLayout, the form fmtTime writes,
// without the general parser; ok is false for anything else (which
// time.Parse then reads, or refuses).
func parseFixedTime(s string) (time.Time, bool) {
	if len(s) != len(timeLayout) || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[19] != '.' || s[26] != 'Z' {
		return time.Time{}, false
	}
	num := func(from, to int) int {
		n := 0
		for i := from; i < to; i++ {
			c := s[i]
			if c < '0' || c > '9' {
				return -1
			}
			n = n*10 + int(c-'0')
		}
		return n
	}
	year, month, day := num(0, 4), num(5, 7), num(8, 10)
	hour, minute, sec, micro := num(11, 13), num(14, 16), num(17, 19), num(20, 26)
	if year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || sec < 0 || sec > 59 || micro < 0 {
		return time.Time{}, false
	}
	t := time.Date(year, time.Month(month), day, hour, minute, sec, micro*1000, time.UTC)
	if t.Day() != day { // the 31st of a 30-day month, the 29th of February of a common year
		return time.Time{}, false
	}
	return t, true
}

// isUnique reports whether err is a UNIQUE or PRIMARY KEY violation, and on
// which column ("users.user_name_lower"; the first of several, as in
// "user_external_ids.domain"), using the driver's error code.
func isUnique(err error) (string, bool) {
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return "", false
	}
	if se.Code() != sqlite3.SQLITE_CONSTRAINT_UNIQUE && se.Code() != sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
		return "", false
	}
	// The message names the columns ("UNIQUE constraint failed:
	// users.user_name_lower"); the code, not the text, decides the kind.
	msg := se.Error()
	if i := strings.LastIndex(msg, "failed: "); i >= 0 {
		return strings.TrimRight(strings.Fields(msg[i+len("failed: "):])[0], ",)"), true
	}
	return "", true
}

func nullStr(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Unavailable reports whether err means that the database cannot be used
// for now: locked by another process for longer than the busy timeout, an
// I/O error, a full disk, no memory, a file that cannot be opened or has
// become read-only, or a store being closed. Judged by result codes.
func (s *Store) Unavailable(err error) bool { return unavailable(err) }

func unavailable(err error) bool {
	if errors.Is(err, errClosed) {
		return true
	}
	var se *sqlite.Error
	if !errors.As(err, &se) {
		return false
	}
	switch se.Code() & 0xff { // the primary result code
	case sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED, sqlite3.SQLITE_NOMEM, sqlite3.SQLITE_READONLY,
		sqlite3.SQLITE_IOERR, sqlite3.SQLITE_FULL, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PROTOCOL:
		return true
	}
	return false
}

// isForeignKey reports whether err is a FOREIGN KEY violation.
func isForeignKey(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code() == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY
}

// Path is the database file.
func (s *Store) Path() string { return s.path }
