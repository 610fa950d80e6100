package redisstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms"
)

// Schemes of a Redis Cluster URL.
const (
	clusterScheme    = "redis-cluster://"
	clusterTLSScheme = "rediss-cluster://"
)

// DefaultClusterRefresh is how old the client's map of the cluster's slots
// may get before it is read again. A failover answers nothing for the dead
// master's slots (no MOVED reply to learn from), so without this the map
// would stay wrong for go-redis's default minute; re-reading it costs one
// CLUSTER SLOTS a second.
const DefaultClusterRefresh = time.Second

// DefaultClusterRedirects is how many MOVED, ASK, TRYAGAIN and CLUSTERDOWN
// answers one command follows: a slot migration answers ASK and TRYAGAIN
// while a room's keys move, a failover CLUSTERDOWN until a replica is
// promoted. Only answers that say the command was not run are followed
// (see NoRetryAfterSend).
const DefaultClusterRedirects = 8

// IsClusterURL reports whether rawURL names a Redis Cluster
// (redis-cluster:// or rediss-cluster://).
func IsClusterURL(rawURL string) bool {
	return strings.HasPrefix(rawURL, clusterScheme) || strings.HasPrefix(rawURL, clusterTLSScheme)
}

// CheckClusterURL reports what is wrong with a redis-cluster:// URL, if
// anything, without connecting; the error never shows the password.
func CheckClusterURL(rawURL string) error {
	if _, err := parseClusterURL(rawURL); err != nil {
		return fmt.Errorf("bad Redis Cluster URL %q: %w", redactedClusterURL(rawURL), err)
	}
	return nil
}

// clusterURL is a parsed redis-cluster:// URL.
type clusterURL struct {
	addrs              []string
	username, password string
	tls                bool
}

// parseClusterURL reads redis-cluster://[user[:password]@]HOST:PORT,HOST:PORT,...
// (rediss-cluster:// for TLS), with an optional trailing "/" or "/0": a
// cluster has only database 0.
func parseClusterURL(rawURL string) (clusterURL, error) {
	var u clusterURL
	rest, ok := strings.CutPrefix(rawURL, clusterScheme)
	if !ok {
		if rest, ok = strings.CutPrefix(rawURL, clusterTLSScheme); !ok {
			return u, fmt.Errorf("not a %s or %s URL", clusterScheme, clusterTLSScheme)
		}
		u.tls = true
	}
	if i := strings.IndexAny(rest, "?#"); i >= 0 {
		return u, errors.New("a cluster URL takes no query or fragment")
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, pass, hasPass := strings.Cut(rest[:at], ":")
		var err error
		if u.username, err = url.PathUnescape(user); err != nil {
			return u, errors.New("bad user name")
		}
		if hasPass {
			if u.password, err = url.PathUnescape(pass); err != nil {
				return u, errors.New("bad password")
			}
		}
		rest = rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	if path != "" && path != "0" {
		return u, fmt.Errorf("a cluster has only database 0, not %q", path)
	}
	for h := range strings.SplitSeq(hosts, ",") {
		h = strings.TrimSpace(h)
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" || port == "" {
			return u, fmt.Errorf("node %q is not HOST:PORT", h)
		}
		u.addrs = append(u.addrs, h)
	}
	return u, nil
}

// redactedClusterURL is rawURL without its password, for messages.
func redactedClusterURL(rawURL string) string {
	scheme, rest := clusterScheme, strings.TrimPrefix(rawURL, clusterScheme)
	if strings.HasPrefix(rawURL, clusterTLSScheme) {
		scheme, rest = clusterTLSScheme, strings.TrimPrefix(rawURL, clusterTLSScheme)
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		user, _, hasPass := strings.Cut(rest[:at], ":")
		if hasPass {
			user += ":xxxxx"
		}
		rest = user + "@" + rest[at+1:]
	}
	return scheme + rest
}

func openCluster(ctx context.Context, rawURL string, set settings) (*Store, error) {
	u, err := parseClusterURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("redisstore: %w", CheckClusterURL(rawURL))
	}
	copts := &redis.ClusterOptions{
		Addrs:        u.addrs,
		Username:     u.username,
		Password:     u.password,
		DialTimeout:  set.dialTimeout,
		ReadTimeout:  set.readTimeout,
		WriteTimeout: set.writeTimeout,
		PoolTimeout:  set.poolTimeout,
		// Node clients never re-send; the cluster client follows only the
		// answers that say a command was not run.
		MaxRetries:                 -1,
		MaxRedirects:               DefaultClusterRedirects,
		DialerRetries:              set.dialAttempts,
		ContextTimeoutEnabled:      true,
		ClusterStateReloadInterval: DefaultClusterRefresh,
	}
	if set.maxRetries > 0 {
		copts.MaxRetries = set.maxRetries
	}
	if u.tls {
		copts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	client := redis.NewClusterClient(copts)
	client.OnNewNode(func(node *redis.Client) { node.AddHook(NoRetryAfterSend{}) })
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, rooms.Unavailable(fmt.Errorf("redisstore: Redis Cluster at %s does not answer PING: %w", strings.Join(u.addrs, ","), err))
	}
	s := newStore(client, set)
	s.ownsClient = true
	return s, nil
}

// NoRetryAfterSend is the go-redis hook Open installs on every node of a
// cluster client. go-redis's cluster client re-sends a command whose reply
// was lost (an EOF, a read timeout) to the same or another node, however
// MaxRetries is set; for an append that stores the message twice, for a
// claim it refuses a session the first attempt granted. The hook turns
// those errors into ones go-redis does not retry: a command is re-sent only
// when it was never sent (a failed dial, a pool timeout) or the server said
// it did not run it (MOVED, ASK, TRYAGAIN, CLUSTERDOWN, LOADING, READONLY).
type NoRetryAfterSend struct{}

// DialHook implements redis.Hook.
func (NoRetryAfterSend) DialHook(next redis.DialHook) redis.DialHook { return next }

// ProcessHook implements redis.Hook.
func (NoRetryAfterSend) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if maybeApplied(err) {
			err = &outcomeUnknownError{err}
			cmd.SetErr(err)
		}
		return err
	}
}

// ProcessPipelineHook implements redis.Hook.
func (NoRetryAfterSend) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		err := next(ctx, cmds)
		for _, cmd := range cmds {
			if maybeApplied(cmd.Err()) {
				cmd.SetErr(&outcomeUnknownError{cmd.Err()})
			}
		}
		if maybeApplied(err) {
			err = &outcomeUnknownError{err}
		}
		return err
	}
}

// maybeApplied reports whether err leaves open whether the server ran the
// command: the connection failed after the command was written.
func maybeApplied(err error) bool {
	if err == nil {
		return false
	}
	var replyErr redis.Error
	var opErr *net.OpError
	var unknown *outcomeUnknownError
	switch {
	case errors.As(err, &unknown), errors.As(err, &replyErr):
		return false
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false // not retried by go-redis anyway
	case errors.Is(err, redis.ErrPoolTimeout), errors.Is(err, redis.ErrClosed):
		return false
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	}
	var netErr net.Error
	return errors.As(err, &netErr)
}

// outcomeUnknownError hides its cause from errors.Is and errors.As on
// purpose (no Unwrap): go-redis decides on retries by looking through the
// chain for io.EOF and net.Error.
type outcomeUnknownError struct{ cause error }

func (e *outcomeUnknownError) Error() string {
	return "the command may or may not have been applied: " + e.cause.Error()
}

// masterFor is the client of the server holding key: the store's own
// client for a standalone Redis, the slot's master for a cluster.
func (s *Store) masterFor(ctx context.Context, key string) (*redis.Client, error) {
	switch c := s.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		return c.MasterForKey(ctx, key)
	default:
		return nil, fmt.Errorf("redisstore: waiting for replicas needs a *redis.Client or *redis.ClusterClient, not %T", s.client)
	}
}

// replicasShortError is an append that the master stored but fewer
// replicas than asked acknowledged in time: a failover now may lose it.
type replicasShortError struct {
	order     int64
	got, want int64
	timeout   time.Duration
}

func (e *replicasShortError) Error() string {
	return fmt.Sprintf("message %d stored, but %d of %d replicas acknowledged it within %v: a failover may lose it", e.order, e.got, e.want, e.timeout)
}

// redirectPause is the wait between attempts of an append that waits for
// replicas and was answered MOVED, ASK, TRYAGAIN or CLUSTERDOWN (the slot
// is moving or its master failing over).
const redirectPause = 100 * time.Millisecond

// appendAndWait appends and waits for s.waitReplicas replicas. WAIT counts
// the writes of its own connection, so it is pipelined behind the script
// on the connection to the room's master (the cluster client would send a
// keyless WAIT to any node).
func (s *Store) appendAndWait(ctx context.Context, roomID string, payload []byte) (int64, error) {
	keys := s.roomKeys(roomID).all()
	for attempt := 1; ; attempt++ {
		node, err := s.masterFor(ctx, keys[0])
		if err != nil {
			return 0, err
		}
		order, got, err := s.appendOnNode(ctx, node, keys, payload)
		if err == nil {
			if got < int64(s.waitReplicas) {
				return 0, &replicasShortError{order: order, got: got, want: int64(s.waitReplicas), timeout: s.waitTimeout}
			}
			return order, nil
		}
		if !notRun(err) || attempt == DefaultClusterRedirects {
			return 0, err
		}
		if c, ok := s.client.(*redis.ClusterClient); ok {
			c.ReloadState(ctx)
		}
		select {
		case <-ctx.Done():
			return 0, err
		case <-time.After(redirectPause):
		}
	}
}

// appendOnNode runs the append script and WAIT in one pipeline on node.
func (s *Store) appendOnNode(ctx context.Context, node *redis.Client, keys []string, payload []byte) (order, replicas int64, err error) {
	run := func(eval func(redis.Pipeliner) *redis.Cmd) (*redis.Cmd, *redis.Cmd) {
		pipe := node.Pipeline()
		script := eval(pipe)
		wait := pipe.Do(ctx, "wait", s.waitReplicas, s.waitTimeout.Milliseconds())
		_, _ = pipe.Exec(ctx) // each command's own error is checked
		return script, wait
	}
	script, wait := run(func(p redis.Pipeliner) *redis.Cmd { return appendMessageScript.EvalSha(ctx, p, keys, payload) })
	if isNoScript(script.Err()) {
		script, wait = run(func(p redis.Pipeliner) *redis.Cmd { return appendMessageScript.Eval(ctx, p, keys, payload) })
	}
	if order, err = script.Int64(); err != nil {
		return 0, 0, err
	}
	if replicas, err = wait.Int64(); err != nil {
		return 0, 0, &replicasShortError{order: order, want: int64(s.waitReplicas), timeout: s.waitTimeout}
	}
	return order, replicas, nil
}

// notRun reports a cluster answer saying the command was not run.
func notRun(err error) bool {
	for _, prefix := range []string{"MOVED", "ASK", "TRYAGAIN", "CLUSTERDOWN"} {
		if redis.HasErrorPrefix(err, prefix) {
			return true
		}
	}
	return false
}

// isNoScript reports a server that does not have a script cached.
func isNoScript(err error) bool { return redis.HasErrorPrefix(err, "NOSCRIPT") }

// runAgainIfNoScript reads a pipelined script's integer reply, running the
// script once more, alone, when the pipeline found it missing from the
// server's cache (a restarted or newly promoted server): EVALSHA did not
// run, so running it again is safe.
func runAgainIfNoScript(ctx context.Context, s *Store, cmd *redis.Cmd, script *redis.Script, keys []string, args ...any) (int64, error) {
	if isNoScript(cmd.Err()) {
		return script.Run(ctx, s.client, keys, args...).Int64()
	}
	return cmd.Int64()
}
