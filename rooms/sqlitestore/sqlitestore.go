package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"chatgateway/rooms"
)

// Sentinel errors; the errors returned wrap them with the details.
var (
	// ErrClosed is returned (wrapped in rooms.Unavailable, so adapters
	// answer 503) by every call made after Close.
	ErrClosed = errors.New("sqlitestore: store is closed")
	// ErrInUse is returned by Open when another process, or another Store
	// of this process, has the database open.
	ErrInUse = errors.New("sqlitestore: database in use")
	// ErrNewerSchema is returned by Open for a database whose schema
	// version is newer than this build knows.
	ErrNewerSchema = errors.New("sqlitestore: database schema is newer than this build")
	// ErrNotDatabase is returned by Open for a file that is not a SQLite
	// database (or is encrypted, or its header is corrupt).
	ErrNotDatabase = errors.New("sqlitestore: file is not a SQLite database")
)

// Store is a rooms.Store in one SQLite file. Open it with Open and release
// it with Close. It is safe for concurrent use.
type Store struct {
	path     string
	settings settings
	lock     *os.File

	writeDB   *sql.DB
	writeConn *sql.Conn // the only read-write connection, owned by the writer
	stmts     *writeStatements
	readDB    *sql.DB

	// mu orders Close against in-flight calls: calls hold it shared while
	// they enqueue or read, Close takes it exclusively to refuse new ones.
	mu       sync.RWMutex
	closed   bool
	requests chan *request

	writerDone chan struct{}
	// lastOrder caches, for rooms known to exist, the highest order
	// committed. Only the writer goroutine touches it.
	lastOrder map[string]int64

	commits       atomic.Uint64
	writes        atomic.Uint64
	failedBatches atomic.Uint64
	dropped       atomic.Uint64
}

var (
	_ rooms.Store        = (*Store)(nil)
	_ rooms.SessionStore = (*Store)(nil)
)

// Stats counts what the writer did since Open.
type Stats struct {
	// Commits is the number of transactions committed (one fsync each).
	Commits uint64
	// Writes is the number of write requests run in committed
	// transactions, including those answered with a domain error such as
	// rooms.ErrRoomNotFound. Writes/Commits is the mean batch size.
	Writes uint64
	// FailedBatches is the number of transactions that failed as a whole;
	// every request in them was answered with rooms.ErrUnavailable.
	FailedBatches uint64
	// Dropped is the number of requests whose context ended before the
	// writer took them; they were never run.
	Dropped uint64
}

// Stats returns the writer's counters.
func (s *Store) Stats() Stats {
	return Stats{
		Commits:       s.commits.Load(),
		Writes:        s.writes.Load(),
		FailedBatches: s.failedBatches.Load(),
		Dropped:       s.dropped.Load(),
	}
}

// Open opens (creating when missing, together with its parent directory)
// the database at path, migrates its schema, marks every participant
// disconnected and starts the writer. ctx bounds the start-up work only.
func Open(ctx context.Context, path string, opts ...Option) (*Store, error) {
	set, err := newSettings(opts)
	if err != nil {
		return nil, err
	}
	if path == "" {
		return nil, errors.New("sqlitestore: empty database path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: database path %q: %w", path, err)
	}
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		return nil, fmt.Errorf("sqlitestore: create the directory of %s: %w", abs, err)
	}
	lock, err := lockDatabase(abs)
	if err != nil {
		return nil, err
	}
	s := &Store{
		path:       abs,
		settings:   set,
		lock:       lock,
		requests:   make(chan *request, set.queueLength),
		writerDone: make(chan struct{}),
		lastOrder:  make(map[string]int64),
	}
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, s.closeResources())
	}
	go s.runWriter()
	return s, nil
}

// lockDatabase takes the single-process lock. flock locks belong to the
// open file description, so a second Open in the same process conflicts
// too, and the kernel drops the lock when its holder dies.
func lockDatabase(dbPath string) (*os.File, error) {
	lockPath := dbPath + ".lock"
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("sqlitestore: open lock file %s: %w", lockPath, err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err == nil {
		return f, nil
	}
	_ = f.Close()
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return nil, fmt.Errorf("%w: database %s is in use by another process, or by another Store of this one (it holds %s)", ErrInUse, dbPath, lockPath)
	}
	return nil, fmt.Errorf("sqlitestore: lock %s: %w", lockPath, err)
}

func (s *Store) start(ctx context.Context) error {
	var err error
	s.writeDB, err = sql.Open("sqlite", dataSourceName(s.path, false, s.settings))
	if err != nil {
		return s.openError(err)
	}
	s.writeDB.SetMaxOpenConns(1)
	s.writeConn, err = s.writeDB.Conn(ctx)
	if err != nil {
		return s.openError(err)
	}
	version, err := checkSchemaVersion(ctx, s.writeConn, s.path)
	if err != nil {
		return err
	}
	// WAL is a property of the file, so it is set here once rather than on
	// every connection; SQLite answers with the mode in force, which is
	// not WAL where the file system cannot share memory (some network
	// mounts), and then the durability and concurrency promises fail.
	var mode string
	if err := s.writeConn.QueryRowContext(ctx, "PRAGMA journal_mode = WAL").Scan(&mode); err != nil {
		return s.openError(err)
	}
	if mode != "wal" {
		return fmt.Errorf("sqlitestore: %s: cannot switch to WAL mode (journal mode stays %q)", s.path, mode)
	}
	if err := s.checkPragmas(ctx); err != nil {
		return err
	}
	if err := migrate(ctx, s.writeConn, version); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", s.path, err)
	}
	// One process owns the file, so no socket of an earlier process can
	// still be connected. They disconnected when that process stopped,
	// which is no earlier than now as far as anyone can tell, and so did
	// entries migrated without a time: retention counts from this start.
	if _, err := s.writeConn.ExecContext(ctx, "UPDATE participants SET connected = 0, disconnected_at = ?1 WHERE connected <> 0 OR disconnected_at = 0", time.Now().UnixMilli()); err != nil {
		return fmt.Errorf("sqlitestore: %s: mark participants disconnected: %w", s.path, err)
	}
	// Their sessions departed when that process stopped, which is no
	// earlier than now as far as anyone can tell: reconnecting clients get
	// the whole grace period from this start.
	if _, err := s.writeConn.ExecContext(ctx, "UPDATE sessions SET live = 0, departed_at = ?1 WHERE live <> 0", time.Now().UnixNano()); err != nil {
		return fmt.Errorf("sqlitestore: %s: mark sessions departed: %w", s.path, err)
	}
	if s.stmts, err = prepareWriteStatements(ctx, s.writeConn); err != nil {
		return fmt.Errorf("sqlitestore: %s: %w", s.path, err)
	}

	s.readDB, err = sql.Open("sqlite", dataSourceName(s.path, true, s.settings))
	if err != nil {
		return s.openError(err)
	}
	s.readDB.SetMaxOpenConns(s.settings.maxReadConns)
	s.readDB.SetMaxIdleConns(s.settings.maxReadConns)
	if err := s.readDB.PingContext(ctx); err != nil {
		return s.openError(err)
	}
	return nil
}

// checkPragmas verifies that the connection settings from the data source
// name took effect: a silently ignored synchronous=FULL would void the
// durability promise.
func (s *Store) checkPragmas(ctx context.Context) error {
	for _, p := range []struct {
		pragma string
		want   int
	}{
		{"synchronous", 2}, // FULL
		{"foreign_keys", 1},
	} {
		var got int
		if err := s.writeConn.QueryRowContext(ctx, "PRAGMA "+p.pragma).Scan(&got); err != nil {
			return s.openError(err)
		}
		if got != p.want {
			return fmt.Errorf("sqlitestore: %s: PRAGMA %s is %d, want %d", s.path, p.pragma, got, p.want)
		}
	}
	return nil
}

func (s *Store) openError(err error) error { return openError(s.path, err) }

// openError explains the errors a wrong file gives.
func openError(path string, err error) error {
	var se *sqlite.Error
	if errors.As(err, &se) && se.Code()&0xff == sqlite3.SQLITE_NOTADB {
		return fmt.Errorf("%w: %s (encrypted, corrupt, or another kind of file): %w", ErrNotDatabase, path, err)
	}
	return fmt.Errorf("sqlitestore: open %s: %w", path, err)
}

// dataSourceName builds a file: URI, whose path is escaped so that any file
// name works, with the per-connection settings. Readers get SQLite's
// read-only mode plus query_only, so no read can ever write.
func dataSourceName(path string, readOnly bool, set settings) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", set.busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	if readOnly {
		q.Set("mode", "ro")
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("mode", "rwc")
		q.Add("_pragma", "synchronous(FULL)")
	}
	u := url.URL{Scheme: "file", Path: path, RawQuery: q.Encode()}
	return u.String()
}

// Ping reports whether the database answers a query, within ctx
// (readiness). It fails with ErrClosed after Close.
func (s *Store) Ping(ctx context.Context) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	var one int
	return s.readDB.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Close answers every write already queued, stops the writer, closes the
// database and releases the lock. Calls made after Close, Close included,
// fail with ErrClosed.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.closed = true
	close(s.requests)
	s.mu.Unlock()
	if h := s.settings.hooks.queueClosed; h != nil {
		h()
	}
	<-s.writerDone
	return s.closeResources()
}

// closeResources closes whatever start opened, readers before the writer so
// that the writer's close, the last one, checkpoints the WAL.
func (s *Store) closeResources() error {
	var errs []error
	if s.readDB != nil {
		errs = append(errs, s.readDB.Close())
	}
	if s.stmts != nil {
		errs = append(errs, s.stmts.close())
	}
	if s.writeConn != nil {
		errs = append(errs, s.writeConn.Close())
	}
	if s.writeDB != nil {
		errs = append(errs, s.writeDB.Close())
	}
	// Closing the descriptor releases the flock.
	errs = append(errs, s.lock.Close())
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sqlitestore: close %s: %w", s.path, err)
	}
	return nil
}

func closedError() error {
	return rooms.Unavailable(ErrClosed)
}
