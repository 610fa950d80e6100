package sqlitestore

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Defaults of the options.
const (
	// DefaultMaxBatch is the most write requests one transaction (and so
	// one fsync) carries. Larger batches amortise the fsync further but
	// hold the answers of the first requests until the last has run.
	DefaultMaxBatch = 512
	// DefaultQueueLength is how many write requests may wait for the
	// writer. When the queue is full, writers wait (bounded by their
	// context) instead of piling up memory.
	DefaultQueueLength = 4096
	// DefaultMaxReadConns bounds the read-only connections open at once.
	DefaultMaxReadConns = 8
	// DefaultBusyTimeout is how long a connection waits for a lock held by
	// another connection before failing with SQLITE_BUSY. Only one writer
	// exists, so this only matters for readers during WAL recovery or
	// checkpoint restarts, and for outside tools holding the file.
	DefaultBusyTimeout = 5 * time.Second
	// DefaultOrderCacheRooms bounds how many rooms' last orders the writer
	// keeps in memory; beyond it an arbitrary entry is evicted and reloaded
	// from the database (one indexed lookup) when next needed.
	DefaultOrderCacheRooms = 100_000
)

// Option configures Open.
type Option func(*settings)

type settings struct {
	maxBatch        int
	queueLength     int
	maxReadConns    int
	busyTimeout     time.Duration
	orderCacheRooms int
	logger          *slog.Logger
	hooks           testHooks
}

// testHooks lets the package's tests observe and pause the writer at fixed
// points, so batching can be asserted deterministically. Nil hooks are
// skipped; production code never sets them.
type testHooks struct {
	// enqueued runs in the caller after its request entered the queue.
	enqueued func()
	// batchStart runs in the writer after it took the first request of a
	// batch and before it takes the others waiting.
	batchStart func()
	// beforeCommit runs in the writer before COMMIT; a non-nil error is
	// treated as a failed commit.
	beforeCommit func() error
	// queueClosed runs in Close after the queue stopped taking requests
	// and before Close waits for the writer to drain it.
	queueClosed func()
}

func newSettings(opts []Option) (settings, error) {
	s := settings{
		maxBatch:        DefaultMaxBatch,
		queueLength:     DefaultQueueLength,
		maxReadConns:    DefaultMaxReadConns,
		busyTimeout:     DefaultBusyTimeout,
		orderCacheRooms: DefaultOrderCacheRooms,
		logger:          slog.Default(),
	}
	for _, o := range opts {
		o(&s)
	}
	var errs []error
	for _, n := range []struct {
		name string
		v    int
	}{
		{"max batch", s.maxBatch},
		{"queue length", s.queueLength},
		{"max read connections", s.maxReadConns},
		{"order cache rooms", s.orderCacheRooms},
	} {
		if n.v < 1 {
			errs = append(errs, fmt.Errorf("%s must be at least 1, got %d", n.name, n.v))
		}
	}
	// SQLite takes the busy timeout in whole milliseconds.
	if s.busyTimeout < time.Millisecond {
		errs = append(errs, fmt.Errorf("busy timeout must be at least 1ms, got %v", s.busyTimeout))
	}
	if s.logger == nil {
		errs = append(errs, errors.New("logger must not be nil"))
	}
	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("sqlitestore: bad option: %w", err)
	}
	return s, nil
}

// WithMaxBatch replaces DefaultMaxBatch. 1 disables group commit: every
// write gets its own transaction and fsync.
func WithMaxBatch(n int) Option {
	return func(s *settings) { s.maxBatch = n }
}

// WithQueueLength replaces DefaultQueueLength.
func WithQueueLength(n int) Option {
	return func(s *settings) { s.queueLength = n }
}

// WithMaxReadConns replaces DefaultMaxReadConns.
func WithMaxReadConns(n int) Option {
	return func(s *settings) { s.maxReadConns = n }
}

// WithBusyTimeout replaces DefaultBusyTimeout.
func WithBusyTimeout(d time.Duration) Option {
	return func(s *settings) { s.busyTimeout = d }
}

// WithOrderCacheRooms replaces DefaultOrderCacheRooms.
func WithOrderCacheRooms(n int) Option {
	return func(s *settings) { s.orderCacheRooms = n }
}

// WithLogger sets where failed transactions are reported; the default is
// slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(s *settings) { s.logger = l }
}
