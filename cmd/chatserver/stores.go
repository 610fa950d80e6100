package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/gateway"
	"chatgateway/gateway/redisbroker"
	"chatgateway/httpapi/ops"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/sqlitestore"
)

// redisIOTimeout bounds one read or write on a Redis connection.
const redisIOTimeout = 3 * time.Second

// redisLogger sends go-redis's own messages (one per failed dial during an
// outage) to slog at debug level: the store's errors are logged already.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "redis: "+fmt.Sprintf(format, v...))
}

// defaultStore keeps rooms and messages across restarts with no service to
// install.
const defaultStore = "sqlite:./data/chat.db"

type storeKind int

const (
	storeMemory storeKind = iota
	storeSQLite
	storeRedis
)

type storeSpec struct {
	kind storeKind
	path string // sqlite
	url  string // redis
}

// parseStore reads STORE: "memory", "sqlite:PATH", "redis://HOST:PORT/DB"
// or "rediss://HOST:PORT/DB" (TLS), the Redis forms with an optional
// [USER]:PASSWORD@. Its errors never hold the password.
func parseStore(v string) (storeSpec, error) {
	switch {
	case v == "memory":
		return storeSpec{kind: storeMemory}, nil
	case strings.HasPrefix(v, "sqlite:"):
		path := strings.TrimPrefix(v, "sqlite:")
		if path == "" {
			return storeSpec{}, errors.New("sqlite: needs a file path, as in sqlite:./data/chat.db")
		}
		return storeSpec{kind: storeSQLite, path: path}, nil
	case strings.HasPrefix(v, "redis://"), strings.HasPrefix(v, "rediss://"):
		u, err := url.Parse(v)
		if err != nil {
			// url.Error repeats the whole URL, password included.
			var uerr *url.Error
			if errors.As(err, &uerr) {
				err = uerr.Err
			}
			return storeSpec{}, fmt.Errorf("bad redis URL %s: %w", redactStore(v), err)
		}
		if u.Host == "" {
			return storeSpec{}, errors.New("redis URL needs a host, as in redis://127.0.0.1:6379/0")
		}
		return storeSpec{kind: storeRedis, url: v}, nil
	default:
		return storeSpec{}, fmt.Errorf("unknown store %q: use sqlite:PATH, memory, redis://HOST:PORT/DB or rediss://HOST:PORT/DB", redactStore(v))
	}
}

// redactedSecret replaces a secret in anything printed.
const redactedSecret = "xxxxx"

// redactStore is STORE as it may be printed: the password of a Redis URL
// replaced, redis://:s3cret@host/0 becoming redis://:xxxxx@host/0, even
// when the URL does not parse.
func redactStore(v string) string {
	if u, err := url.Parse(v); err == nil {
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(v, "://")
	at := strings.LastIndex(rest, "@")
	if !ok || at < 0 {
		return v
	}
	user, _, hasPassword := strings.Cut(rest[:at], ":")
	if !hasPassword {
		return v
	}
	return scheme + "://" + user + ":" + redactedSecret + rest[at:]
}

// backend is what a store setting brings: the store, the broker that
// carries envelopes between the nodes sharing it, and for a shared store
// the node registry.
type backend struct {
	store rooms.Store
	// sessions is the same store, keeping what sessions joined.
	sessions rooms.SessionStore
	broker   gateway.Broker
	nodes    gateway.NodeRegistry
	// brokerStats counts a broker's traffic between nodes (nil for one node).
	brokerStats ops.BrokerStats
	// close releases everything, after the gateway stopped using it.
	close func() error
}

func openBackend(ctx context.Context, cfg config, nodeID string, logger *slog.Logger) (backend, error) {
	spec, err := parseStore(cfg.Store)
	if err != nil {
		return backend{}, err
	}
	switch spec.kind {
	case storeSQLite:
		s, err := sqlitestore.Open(ctx, spec.path, sqlitestore.WithMaxBatch(cfg.SQLiteMaxBatch))
		if err != nil {
			return backend{}, err
		}
		return backend{store: s, sessions: s, broker: gateway.NewMemoryBroker(), close: s.Close}, nil
	case storeRedis:
		redis.SetLogger(redisLogger{logger})
		// Above go-redis's 1s default: Redis with appendfsync always on a
		// busy disk may take longer, and STORE_TIMEOUT still bounds calls.
		s, err := redisstore.Open(ctx, spec.url, redisstore.WithReadTimeout(redisIOTimeout), redisstore.WithWriteTimeout(redisIOTimeout))
		if err != nil {
			return backend{}, err
		}
		b := redisbroker.New(s.Client(), redisbroker.Options{NodeID: nodeID, Logger: logger})
		return backend{store: s, sessions: s, broker: b, nodes: s, brokerStats: b, close: func() error {
			return errors.Join(b.Close(), s.Close())
		}}, nil
	default:
		s := memstore.New()
		return backend{store: s, sessions: s, broker: gateway.NewMemoryBroker(), close: func() error { return nil }}, nil
	}
}
