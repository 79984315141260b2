// Package postgres is Gatehouse's PostgreSQL store, the twin of the SQLite
// store: the same tables, columns and filter layouts, so that the two answer
// every query alike (the storetest conformance suite holds both to the SCIM
// filter reference evaluator). It speaks to the server through pgx and
// pgxpool directly, not database/sql.
//
// Choices:
//
//   - Schema. Options.Schema names a schema the store creates if missing and
//     uses exclusively: every pooled connection starts with search_path set
//     to it, and the SQL names no schema. Several Gatehouse instances (or
//     tests) can share one database this way.
//   - Migrations are embedded, numbered, hand-written PostgreSQL, each applied
//     in its own transaction and recorded in schema_migrations. Replicas that
//     start together serialize on a transaction-scoped advisory lock whose key
//     is derived from the schema name, so they wait for each other instead of
//     racing to create the same tables.
//   - Writes run at READ COMMITTED. The …ForUpdate reads are SELECT … FOR
//     UPDATE, so concurrent read-modify-write changes of one row queue on its
//     lock and each sees the previous one's result. A serialization failure or
//     deadlock (SQLSTATE 40001, 40P01), or adding a member whom a concurrent
//     transaction just deleted, reruns the whole transaction a few times
//     before giving up with directory.ErrBusy. A unique violation (23505) is a
//     directory.ErrConflict naming the attribute, found by constraint name; the
//     directory.Service retries idempotent creates that lose a race that way.
//   - Round trips. A write's transaction sends BEGIN (and takes its
//     transaction id) with its first statement, and queues the statements
//     whose answers nothing reads, to travel with the next one or with
//     COMMIT (pipe.go). A transaction of one statement asks for its id
//     after it instead: one that changed nothing has none, and its COMMIT
//     writes nothing to the database's log.
//   - Contexts. A context that ends (a list's time budget, a client gone)
//     cancels the statement in the server with a cancel request, rather than
//     only closing the connection, which leaves the server running it.
//   - Outages. Unavailable tells the errors that mean the database cannot be
//     used for now (answered 503). A COMMIT whose answer is lost with the
//     connection is resolved by asking txid_status over another connection
//     (tx.go, commitOutcome), once the lost one has left the pool, so that a
//     committed change is not reported as failed; a batch that never left
//     needs no question.
//   - Reads that take more than one statement (a page and its count, users and
//     their groups) run in one REPEATABLE READ read-only transaction, so they
//     see one snapshot.
//   - Types: timestamptz for times (returned in UTC; PostgreSQL keeps
//     microseconds, as directory.Service does), boolean for flags, jsonb for
//     attributes (decoded with json.Decoder.UseNumber, like the SQLite store),
//     text for audit snapshots (the hash chain covers their exact bytes, which
//     json would keep too but jsonb would not), text[] for the ids of an
//     application's synchronization scope, bytea for token and secret hashes.
//   - The audit log is a hash chain (directory.AuditHash). A change's
//     transaction appends its audit record and events to pending tables,
//     without a lock; sealing moves them into the chain and the outbox in
//     order, under the audit_head row lock, before the writer answers
//     (seal.go). A trigger refuses UPDATE and TRUNCATE, and DELETE except
//     in the transaction of retention pruning (PruneAudit).
//   - Credentials version. Every WriteAuth bumps cred_version and notifies
//     channel gatehouse_credentials in its transaction. A goroutine holds a
//     connection of its own that LISTENs on the channel and keeps the version
//     in memory, so CredentialsVersion, which every authenticated request
//     asks, costs no query; while that connection is down it reads the table
//     instead (credwatch.go).
//   - Text order. Ordered comparisons and sorts use COLLATE "C" (byte order,
//     which is code point order), never the database locale: the lower-cased
//     key columns are declared so, and the dialect adds it to other
//     expressions. Case-insensitive comparisons of attributes inside the JSON
//     document lower-case in SQL with lower(), which follows the database's
//     LC_CTYPE; Open checks that the database is UTF-8 and that lower() folds
//     non-ASCII letters, as Go's strings.ToLower does.
//   - JSON attributes are read with the #> operator through small SQL
//     functions the migration defines (gh_text, gh_number, gh_bool,
//     gh_present, gh_elements, gh_timestamptz), which the planner inlines.
//     They give filter.Match's semantics: a comparison only sees a value of
//     the attribute's JSON type (a number stored where a string belongs does
//     not equal its digits); numbers compare as float8, the evaluator's
//     float64, so sort keys also round-trip exactly through directory.Key;
//     presence ("pr") means some number, boolean or non-empty string at or
//     under the path; a malformed dateTime matches nothing instead of failing
//     the query.
//
// PostgreSQL 12 or later is required (jsonb_path_exists).
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"path"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/gatehouse-id/gatehouse/internal/store/sqlfilter"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Store is a PostgreSQL database.
type Store struct {
	pool *pgxpool.Pool
	// Where attributes live, for the filter compiler; built once.
	userLayout, groupLayout *sqlfilter.Layout
	// creds keeps the credentials version (credwatch.go).
	creds *credWatch
	// sealer seals this process's appends (seal.go).
	sealer *sealer
	// What leader election connects with (leader.go).
	connConfig *pgx.ConnConfig
	schema     string
	log        *slog.Logger
	// lists holds a token for each read that may read many rows (listGate).
	lists chan struct{}
}

// Options tunes the store.
type Options struct {
	// Schema is the schema the store creates (if missing) and works in. Empty
	// means the connection's default search_path.
	Schema string
	// MaxConns is the size of the connection pool (default: 4 × GOMAXPROCS).
	// The credentials listener holds one more connection, outside the pool.
	MaxConns int32
	// Logger receives the credentials listener's connection problems (nil:
	// they are not logged).
	Logger *slog.Logger
	// SealEvery is how often the store looks for audit records and events
	// committed but left unsealed by a process that died before sealing
	// them (default 1 s; negative: never, for tests).
	SealEvery time.Duration
	// MustExist refuses a database without Gatehouse's tables (no
	// schema_migrations table in the schema: never migrated), creating
	// nothing. The error wraps fs.ErrNotExist. (Administration commands open
	// with it: only serve creates a database.) An existing database is
	// migrated either way.
	MustExist bool
}

// minServerVersion is PostgreSQL 12, the first with jsonb_path_exists.
const minServerVersion = 120000

// Open connects to the database at url (a postgres:// URL or key=value
// connection string) and migrates it.
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	cfg.MaxConns = opt.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = int32(4 * runtime.GOMAXPROCS(0))
	}
	// A context that ends (a request's time budget, a client gone) cancels
	// the statement in the server (a cancel request), rather than only
	// closing the connection, which leaves the server running it.
	cfg.ConnConfig.BuildContextWatcherHandler = func(c *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: c, DeadlineDelay: 2 * time.Second}
	}
	if opt.Schema != "" {
		// The schema may not exist yet: a search_path naming a missing
		// schema is allowed, and migrate creates it.
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opt.Schema}.Sanitize()
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{pool: pool, userLayout: sqlfilter.UserLayout(), groupLayout: sqlfilter.GroupLayout(),
		connConfig: cfg.ConnConfig, schema: opt.Schema, log: log, lists: make(chan struct{}, max(1, cfg.MaxConns/2))}
	if err := s.checkServer(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	if opt.MustExist {
		if err := s.checkExists(ctx); err != nil {
			pool.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx, opt.Schema); err != nil {
		pool.Close()
		return nil, err
	}
	if s.schema == "" {
		// The schema the connection's search_path (from the URL, the role
		// or the database) makes current: servers of other schemas of
		// this database must not share its leader lock.
		if err := pool.QueryRow(ctx, `SELECT coalesce(current_schema(), '')`).Scan(&s.schema); err != nil {
			pool.Close()
			return nil, fmt.Errorf("current schema: %w", err)
		}
	}
	s.creds = startCredWatch(cfg.ConnConfig, opt.Logger)
	every := opt.SealEvery
	if every == 0 {
		every = time.Second
	}
	s.sealer = startSealer(s, every, log)
	return s, nil
}

// checkServer refuses servers whose SQL would give other answers than the
// reference evaluator.
func (s *Store) checkServer(ctx context.Context) error {
	var version int
	var encoding string
	var folds bool
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::integer,
		current_setting('server_encoding'), lower('ÀÉØИ') = 'àéøи'`).Scan(&version, &encoding, &folds)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	switch {
	case version < minServerVersion:
		return fmt.Errorf("postgres: server version %d is too old: Gatehouse needs PostgreSQL 12 or later", version)
	case encoding != "UTF8":
		return fmt.Errorf("postgres: the database encoding is %s: Gatehouse needs a UTF8 database", encoding)
	case !folds:
		return errors.New("postgres: lower() does not lower-case non-ASCII letters in this database: create it with a UTF-8 LC_CTYPE (e.g. C.UTF-8 or en_US.UTF-8)")
	}
	return nil
}

// checkExists refuses a schema that has never been migrated.
func (s *Store) checkExists(ctx context.Context) error {
	var exists bool
	var schema string
	err := s.pool.QueryRow(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL,
		coalesce(current_schema(), current_setting('search_path'))`).Scan(&exists, &schema)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if !exists {
		return missing(fmt.Sprintf("no Gatehouse tables in schema %q of this PostgreSQL database (it has never been migrated)", schema))
	}
	return nil
}

// missing is the error of a database that is not there: fs.ErrNotExist,
// in words of its own.
type missing string

func (m missing) Error() string        { return string(m) }
func (m missing) Is(target error) bool { return target == fs.ErrNotExist }

// Close stops the credentials listener and closes the connection pool. It
// returns an error only to have the SQLite store's signature.
func (s *Store) Close() error {
	s.sealer.close()
	s.creds.stop()
	s.pool.Close()
	return nil
}

// Ping checks that the database answers.
func (s *Store) Ping(ctx context.Context) error {
	return s.pool.Ping(ctx)
}

// Dialect names the store's SQL dialect.
func (s *Store) Dialect() string { return "postgres" }

type migration struct {
	version int
	name    string
	body    string
}

func loadMigrations() ([]migration, error) {
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	var out []migration
	for _, name := range names {
		base := path.Base(name)
		v, err := strconv.Atoi(strings.SplitN(base, "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migrate: bad migration name %q", base)
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return nil, err
		}
		out = append(out, migration{version: v, name: base, body: string(body)})
	}
	return out, nil
}

// newerSchemaError is the error of opening a database that has migrations
// this build does not know.
type newerSchemaError struct{ versions []int32 }

func newerSchema(versions []int32) error { return &newerSchemaError{versions} }

func (e *newerSchemaError) Error() string {
	vs := make([]string, len(e.versions))
	for i, v := range e.versions {
		vs[i] = strconv.Itoa(int(v))
	}
	return fmt.Sprintf("the database has %d migration(s) this build does not know (%s): it was used by a newer Gatehouse. Run that version (gatehouse migrate status lists the migrations)",
		len(vs), strings.Join(vs, ", "))
}

// migrationLock is the advisory lock key migrators of schema serialize on.
func migrationLock(schema string) int64 {
	h := fnv.New64a()
	h.Write([]byte("gatehouse migrate " + schema))
	return int64(h.Sum64())
}

// migrate creates the schema and the schema_migrations table if needed,
// then applies the migrations not applied yet, each in its own transaction.
// Every transaction first takes the advisory lock, so concurrent migrators
// take turns and each finds what the others did.
func (s *Store) migrate(ctx context.Context, schema string) error {
	ms, err := loadMigrations()
	if err != nil {
		return err
	}
	lock := migrationLock(schema)
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
			return err
		}
		if schema != "" {
			// Look first: creating needs the CREATE privilege on the
			// database, which a role given a schema of its own may lack.
			var exists bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)`, schema).Scan(&exists); err != nil {
				return err
			}
			if !exists {
				if _, err := tx.Exec(ctx, `CREATE SCHEMA `+pgx.Identifier{schema}.Sanitize()); err != nil {
					return err
				}
			}
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (
			version    integer PRIMARY KEY,
			name       text NOT NULL,
			applied_at timestamptz NOT NULL DEFAULT now()
		)`); err != nil {
			return err
		}
		// A migration this build does not have: a newer Gatehouse used
		// the database, and this one must not run on it (nor apply its
		// own pending migrations to it).
		known := make([]int32, len(ms))
		for i, m := range ms {
			known[i] = int32(m.version)
		}
		rows, err := tx.Query(ctx, `SELECT version FROM schema_migrations WHERE NOT (version = ANY($1)) ORDER BY version`, known)
		if err != nil {
			return err
		}
		unknown, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			return err
		}
		if len(unknown) > 0 {
			return newerSchema(unknown)
		}
		return nil
	})
	var ns *newerSchemaError
	if errors.As(err, &ns) {
		return err
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	for _, m := range ms {
		err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lock); err != nil {
				return err
			}
			var applied bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM schema_migrations WHERE version = $1)`, m.version).Scan(&applied); err != nil {
				return err
			}
			if applied {
				return nil
			}
			// Without arguments pgx sends the body as one simple query,
			// which may hold many statements.
			if _, err := tx.Exec(ctx, m.body); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, name) VALUES ($1, $2)`, m.version, m.name)
			return err
		})
		if err != nil {
			return fmt.Errorf("migrate %s: %w", m.name, err)
		}
	}
	// Databases made by development builds before 0.1.0 have an older
	// version of migration 1 (without the audit chain): refuse them
	// plainly rather than fail on the first write.
	var current bool
	if err := s.pool.QueryRow(ctx, `SELECT to_regclass('audit_head') IS NOT NULL`).Scan(&current); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if !current {
		return errors.New("this database has no audit_head table: it was altered outside Gatehouse, or created by a development build older than its schema; restore it from a backup, or create a new database")
	}
	return nil
}

// SQLSTATE codes the store acts on.
const (
	codeUniqueViolation      = "23505"
	codeForeignKeyViolation  = "23503"
	codeSerializationFailure = "40001"
	codeDeadlockDetected     = "40P01"
	codeBadCharacter         = "22021" // character_not_in_repertoire: NUL or invalid UTF-8 in text
	codeBadUnicodeEscape     = "22P05" // untranslatable_character: \u0000 in jsonb
)

// Unavailable reports whether err means that the database cannot be used
// for now — it cannot be reached, the connection was lost, the server is
// shutting down, starting, out of connections, memory or disk, or read-only
// (a standby after a failover) — as opposed to a fault of the request or a
// bug. Judged by error types and SQLSTATE classes, never by message text.
func (s *Store) Unavailable(err error) bool { return unavailable(err) }

func unavailable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	// A connection that could not be made, whatever the server said
	// (among others 55000: the database does not accept connections now).
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) {
		return true
	}
	if pe, ok := pgError(err); ok {
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"),                           // insufficient resources: disk full, out of memory, too many connections
			strings.HasPrefix(pe.Code, "58"),                           // system error: I/O error
			pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // admin or crash shutdown, cannot connect now
			pe.Code == "25006": // read-only transaction: the server is a standby
			return true
		}
		return false
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, pgconn.ErrConnClosed) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

func pgError(err error) (*pgconn.PgError, bool) {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe, true
	}
	return nil, false
}

// isUnique reports whether err is a unique or primary key violation, and of
// which constraint.
func isUnique(err error) (string, bool) {
	pe, ok := pgError(err)
	if !ok || pe.Code != codeUniqueViolation {
		return "", false
	}
	return pe.ConstraintName, true
}

// isForeignKey reports whether err is a foreign key violation.
func isForeignKey(err error) bool {
	pe, ok := pgError(err)
	return ok && pe.Code == codeForeignKeyViolation
}

// isBadText reports whether err is PostgreSQL refusing a text or jsonb value
// it cannot hold: one with the NUL character, or not valid UTF-8. (SQLite
// stores such values.)
func isBadText(err error) bool {
	pe, ok := pgError(err)
	return ok && (pe.Code == codeBadCharacter || pe.Code == codeBadUnicodeEscape)
}

// storable reports whether PostgreSQL can hold s as text. A key that is not
// storable is not in the database, and lookups answer so without asking:
// the failed statement would abort the transaction they may run in.
func storable(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}

// isRetryable reports whether the transaction that failed with err may
// succeed if run again.
func isRetryable(err error) bool {
	if errors.Is(err, errConcurrentChange) {
		return true
	}
	pe, ok := pgError(err)
	return ok && (pe.Code == codeSerializationFailure || pe.Code == codeDeadlockDetected)
}

// nullStr maps "" to NULL.
func nullStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
