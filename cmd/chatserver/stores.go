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
	storeRedisCluster
)

type storeSpec struct {
	kind storeKind
	path string // sqlite
	url  string // redis, redis cluster
}

// shared reports a store several nodes share (Redis, standalone or cluster).
func (s storeSpec) shared() bool { return s.kind == storeRedis || s.kind == storeRedisCluster }

// parseStore reads STORE: "memory", "sqlite:PATH", "redis://HOST:PORT/DB"
// (rediss:// for TLS) or "redis-cluster://HOST:PORT,HOST:PORT,..."
// (rediss-cluster:// for TLS), the Redis forms with an optional
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
	case redisstore.IsClusterURL(v):
		if err := redisstore.CheckClusterURL(v); err != nil {
			return storeSpec{}, fmt.Errorf("%s: %w", redactStore(v), err)
		}
		return storeSpec{kind: storeRedisCluster, url: v}, nil
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
		return storeSpec{}, fmt.Errorf("unknown store %q: use sqlite:PATH, memory, redis://HOST:PORT/DB, rediss://HOST:PORT/DB or redis-cluster://HOST:PORT,HOST:PORT", redactStore(v))
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

// Values of PUBSUB.
const (
	pubsubAuto    = "auto"
	pubsubSharded = "sharded"
	pubsubSingle  = "single"
)

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
	case storeRedis, storeRedisCluster:
		return openRedisBackend(ctx, cfg, spec, nodeID, logger)
	default:
		s := memstore.New()
		return backend{store: s, sessions: s, broker: gateway.NewMemoryBroker(), close: func() error { return nil }}, nil
	}
}

func openRedisBackend(ctx context.Context, cfg config, spec storeSpec, nodeID string, logger *slog.Logger) (backend, error) {
	redis.SetLogger(redisLogger{logger})
	// Above go-redis's 1s default: Redis with appendfsync always on a
	// busy disk may take longer, and STORE_TIMEOUT still bounds calls.
	s, err := redisstore.Open(ctx, spec.url,
		redisstore.WithReadTimeout(redisIOTimeout), redisstore.WithWriteTimeout(redisIOTimeout),
		redisstore.WithWaitReplicas(cfg.WaitReplicas, cfg.WaitTimeout))
	if err != nil {
		return backend{}, err
	}
	sharded, err := useShardedPubSub(ctx, cfg, s)
	if err != nil {
		_ = s.Close()
		return backend{}, err
	}
	opts := redisbroker.Options{NodeID: nodeID, Logger: logger}
	be := backend{store: s, sessions: s, nodes: s}
	if sharded {
		b := redisbroker.NewSharded(s.Client(), opts)
		be.broker, be.brokerStats = b, b
		be.close = func() error { return errors.Join(b.Close(), s.Close()) }
	} else {
		b := redisbroker.New(s.Client(), opts)
		be.broker, be.brokerStats = b, b
		be.close = func() error { return errors.Join(b.Close(), s.Close()) }
	}
	logger.Info("redis pub/sub", "sharded", sharded, "cluster", s.IsCluster())
	return be, nil
}

// useShardedPubSub decides PUBSUB. Global delivery hands every room to
// every node: one classic channel, which a cluster broadcasts to all its
// nodes. Room delivery on a cluster needs sharded channels (one classic
// channel would make every message cross every cluster node); on a
// standalone Redis it takes them when the server has them (Redis 7).
func useShardedPubSub(ctx context.Context, cfg config, s *redisstore.Store) (bool, error) {
	if cfg.Delivery == string(gateway.DeliveryGlobal) {
		if cfg.PubSub == pubsubSharded {
			return false, errors.New("PUBSUB=sharded needs DELIVERY=room: in global delivery every node needs every room")
		}
		return false, nil
	}
	switch cfg.PubSub {
	case pubsubSharded:
		return true, nil
	case pubsubSingle:
		if s.IsCluster() {
			return false, errors.New("PUBSUB=single is refused on a Redis Cluster in room delivery: every message would reach every node of the cluster and every gateway node; use sharded")
		}
		return false, nil
	}
	if s.IsCluster() {
		return true, nil
	}
	major, err := s.ServerMajorVersion(ctx)
	if err != nil {
		return false, err
	}
	return major >= 7, nil
}
