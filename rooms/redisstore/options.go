package redisstore

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of the options. The timeouts are short on purpose: a chat
// request should fail fast with 503 while Redis is unreachable rather than
// pile up behind it.
const (
	// DefaultKeyPrefix starts every key the store writes.
	DefaultKeyPrefix = "chat:"
	// DefaultDialTimeout bounds one attempt to open a connection.
	DefaultDialTimeout = time.Second
	// DefaultDialAttempts is how many times a connection is dialled before
	// a call fails (go-redis waits 100ms between attempts).
	DefaultDialAttempts = 2
	// DefaultReadTimeout bounds the wait for one reply.
	DefaultReadTimeout = time.Second
	// DefaultWriteTimeout bounds sending one command.
	DefaultWriteTimeout = time.Second
	// DefaultPoolTimeout bounds the wait for a free pooled connection when
	// all are busy.
	DefaultPoolTimeout = time.Second
	// DefaultMaxRetries is how many times a failed command is re-sent. It
	// is 0 because a command whose reply was lost may have been applied:
	// re-sending AppendMessage could store the message twice.
	DefaultMaxRetries = 0
	// DefaultReapBatch is the most dead nodes one ReapDeadNodes call
	// claims; the rest are claimed by the next call.
	DefaultReapBatch = 100
	// DefaultWaitTimeout bounds an append's wait for its replicas (see
	// WithWaitReplicas).
	DefaultWaitTimeout = 500 * time.Millisecond
)

// Option configures Open and New. The connection options (timeouts, dial
// attempts, retries) only apply to Open: New takes a ready client.
type Option func(*settings)

type settings struct {
	keyPrefix    string
	dialTimeout  time.Duration
	dialAttempts int
	readTimeout  time.Duration
	writeTimeout time.Duration
	poolTimeout  time.Duration
	maxRetries   int
	reapBatch    int
	waitReplicas int
	waitTimeout  time.Duration
}

func newSettings(opts []Option) (settings, error) {
	s := settings{
		keyPrefix:    DefaultKeyPrefix,
		dialTimeout:  DefaultDialTimeout,
		dialAttempts: DefaultDialAttempts,
		readTimeout:  DefaultReadTimeout,
		writeTimeout: DefaultWriteTimeout,
		poolTimeout:  DefaultPoolTimeout,
		maxRetries:   DefaultMaxRetries,
		reapBatch:    DefaultReapBatch,
		waitTimeout:  DefaultWaitTimeout,
	}
	for _, o := range opts {
		o(&s)
	}
	var errs []error
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"dial timeout", s.dialTimeout},
		{"read timeout", s.readTimeout},
		{"write timeout", s.writeTimeout},
		{"pool timeout", s.poolTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s must be positive, got %v", d.name, d.v))
		}
	}
	if s.dialAttempts < 1 {
		errs = append(errs, fmt.Errorf("dial attempts must be at least 1, got %d", s.dialAttempts))
	}
	if s.maxRetries < 0 {
		errs = append(errs, fmt.Errorf("max retries must not be negative, got %d", s.maxRetries))
	}
	if s.reapBatch < 1 {
		errs = append(errs, fmt.Errorf("reap batch must be at least 1, got %d", s.reapBatch))
	}
	if s.waitReplicas < 0 {
		errs = append(errs, fmt.Errorf("replicas to wait for must not be negative, got %d", s.waitReplicas))
	}
	if s.waitReplicas > 0 && (s.waitTimeout <= 0 || s.waitTimeout >= s.readTimeout) {
		// The wait's answer comes within one read of the connection.
		errs = append(errs, fmt.Errorf("replica wait timeout must be positive and below the read timeout %v, got %v", s.readTimeout, s.waitTimeout))
	}
	if err := errors.Join(errs...); err != nil {
		return settings{}, fmt.Errorf("redisstore: bad option: %w", err)
	}
	return s, nil
}

// WithKeyPrefix replaces DefaultKeyPrefix, so several stores (tests, or
// deployments) can share one Redis database. Stores that must see each
// other's rooms and nodes need the same prefix.
func WithKeyPrefix(prefix string) Option {
	return func(s *settings) { s.keyPrefix = prefix }
}

// WithDialTimeout replaces DefaultDialTimeout.
func WithDialTimeout(d time.Duration) Option {
	return func(s *settings) { s.dialTimeout = d }
}

// WithDialAttempts replaces DefaultDialAttempts.
func WithDialAttempts(n int) Option {
	return func(s *settings) { s.dialAttempts = n }
}

// WithReadTimeout replaces DefaultReadTimeout. It must exceed the slowest
// script, which is a ReapDeadNodes of a node with many participants or a
// very long Messages range.
func WithReadTimeout(d time.Duration) Option {
	return func(s *settings) { s.readTimeout = d }
}

// WithWriteTimeout replaces DefaultWriteTimeout.
func WithWriteTimeout(d time.Duration) Option {
	return func(s *settings) { s.writeTimeout = d }
}

// WithPoolTimeout replaces DefaultPoolTimeout.
func WithPoolTimeout(d time.Duration) Option {
	return func(s *settings) { s.poolTimeout = d }
}

// WithMaxRetries replaces DefaultMaxRetries; see there why retries are off.
func WithMaxRetries(n int) Option {
	return func(s *settings) { s.maxRetries = n }
}

// WithReapBatch replaces DefaultReapBatch.
func WithReapBatch(n int) Option {
	return func(s *settings) { s.reapBatch = n }
}

// WithWaitReplicas makes AppendMessage return only once n replicas of the
// room's master have the message (Redis WAIT), so that a replica promoted
// by a failover has every message acknowledged; waiting longer than
// timeout (DefaultWaitTimeout when 0) fails the append with
// rooms.ErrUnavailable, though the master stored it. 0 (the default) does
// not wait: Redis replication is asynchronous, and a failover may lose the
// last writes acknowledged before it.
func WithWaitReplicas(n int, timeout time.Duration) Option {
	return func(s *settings) {
		s.waitReplicas = n
		if timeout != 0 {
			s.waitTimeout = timeout
		}
	}
}
