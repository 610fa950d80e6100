// Package redisbroker has the gateway Brokers for several nodes on Redis:
//
//   - Broker: envelopes of every room on one classic pub/sub channel that
//     every node reads whole. Global delivery needs it (every node hears
//     every room); on a Redis Cluster the channel is broadcast to every
//     cluster node.
//   - Sharded: one sharded pub/sub channel per room (Redis 7), in the
//     room's hash slot; a node subscribes to the rooms it watches only
//     (see sharded.go).
//
// A node delivers its own envelopes to its local subscribers at once, on the
// publishing goroutine, and drops its own copy when Redis echoes it back, so
// local members never wait for a Redis round trip.
//
// Redis pub/sub is at-most-once: an envelope published while a node's
// subscription is down never reaches that node. The brokers therefore tell
// their subscribers to resync every time a subscription is re-established
// (Broker all rooms, Sharded the room concerned); the hub then reads what it
// missed back from the store (messages are stored before they are
// published, so the store is complete).
//
// Envelopes are JSON on the wire; within the node that published them they
// are never serialised.
package redisbroker

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/gateway"
)

// Defaults of Options.
const (
	DefaultChannel        = "chat:events"
	DefaultMinBackoff     = 100 * time.Millisecond
	DefaultMaxBackoff     = 5 * time.Second
	DefaultHealthInterval = 15 * time.Second
)

// Options configure a Broker. Zero values take the defaults.
type Options struct {
	// Channel is the pub/sub channel shared by every node (default
	// "chat:events"). Nodes of one deployment must use the same channel.
	Channel string
	// NodeID tags this node's envelopes so it can skip its own echoes
	// (default: random).
	NodeID string
	// MinBackoff and MaxBackoff bound the wait between attempts to
	// re-subscribe after the subscription failed; the wait doubles per
	// failure (defaults 100ms and 5s).
	MinBackoff, MaxBackoff time.Duration
	// HealthInterval is how long the subscription may stay silent before it
	// is pinged, so a connection that died without a reset is noticed
	// (default 15s).
	HealthInterval time.Duration
	Logger         *slog.Logger
}

// Broker implements the gateway's Broker on Redis.
type Broker struct {
	client redis.UniversalClient
	opts   Options
	log    *slog.Logger

	// local fans envelopes out to this node's subscribers, whichever node
	// published them, and tells them to resync.
	local *gateway.MemoryBroker

	mu       sync.Mutex
	running  bool
	cancel   context.CancelFunc
	loopDone chan struct{}
	// pubsub is the running subscription; closing it is what interrupts a
	// blocked receive (go-redis reads ignore context cancellation).
	pubsub *redis.PubSub

	// subscribed is closed once the first subscription is confirmed.
	subscribed     chan struct{}
	subscribedOnce sync.Once

	// live is set while the subscription is confirmed and its connection
	// has not failed since (Ping).
	live  atomic.Bool
	stats counters
}

// New returns a broker on client. The subscription starts with the first
// Subscribe; Close stops it. The caller owns client.
func New(client redis.UniversalClient, opts Options) *Broker {
	opts = opts.withDefaults()
	return &Broker{
		client:     client,
		opts:       opts,
		log:        opts.Logger,
		local:      gateway.NewMemoryBroker(),
		subscribed: make(chan struct{}),
	}
}

// withDefaults fills in the zero options.
func (opts Options) withDefaults() Options {
	if opts.Channel == "" {
		opts.Channel = DefaultChannel
	}
	if opts.NodeID == "" {
		var b [8]byte
		_, _ = rand.Read(b[:])
		opts.NodeID = hex.EncodeToString(b[:])
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = max(DefaultMaxBackoff, opts.MinBackoff)
	}
	if opts.HealthInterval <= 0 {
		opts.HealthInterval = DefaultHealthInterval
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return opts
}

// Publish delivers env to this node's subscribers, then to the other nodes
// through Redis. An error means other nodes may not have it; local
// subscribers always do.
func (b *Broker) Publish(ctx context.Context, roomID string, env gateway.Envelope) error {
	return publishFrame(ctx, b.opts.NodeID, b.local, &b.stats, roomID, env, func(frame []byte) error {
		if err := b.client.Publish(ctx, b.opts.Channel, frame).Err(); err != nil {
			return fmt.Errorf("redisbroker: publish: %w", err)
		}
		return nil
	})
}

// Stats returns the broker's counters.
func (b *Broker) Stats() Stats {
	return Stats{
		Published: b.stats.published.Load(), PublishedBytes: b.stats.publishedBytes.Load(),
		Received: b.stats.received.Load(), ReceivedBytes: b.stats.receivedBytes.Load(),
		Resyncs: b.stats.resyncs.Load(), FromOthers: b.stats.fromOthers.Load(),
		SubscriptionsLost: b.stats.lost.Load(),
	}
}

// Watch implements gateway.Broker: every node gets every room on the one
// channel, so there is nothing to ask for.
func (b *Broker) Watch(ctx context.Context, roomID string) error { return nil }

// Unwatch implements gateway.Broker.
func (b *Broker) Unwatch(roomID string) {}

// Subscribe registers sub for envelopes from every node, this one
// included, starts the Redis subscription if it is not running, and returns
// once Redis confirmed it (or ctx ended): envelopes other nodes publish
// before that are missed.
func (b *Broker) Subscribe(ctx context.Context, sub gateway.Subscriber) (unsubscribe func(), err error) {
	unsubscribe, err = b.local.Subscribe(ctx, sub)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if !b.running {
		b.running = true
		loopCtx, cancel := context.WithCancel(context.Background())
		b.cancel = cancel
		b.loopDone = make(chan struct{})
		b.pubsub = b.client.Subscribe(loopCtx, b.opts.Channel)
		go b.receiveLoop(loopCtx, b.pubsub, b.loopDone)
	}
	b.mu.Unlock()
	select {
	case <-b.subscribed:
		return unsubscribe, nil
	case <-ctx.Done():
		unsubscribe()
		return nil, fmt.Errorf("redisbroker: subscription not confirmed: %w", ctx.Err())
	}
}

// ErrNotSubscribed is Ping's answer while the subscription is down: other
// nodes' envelopes do not reach this one (it resyncs when it is back).
var ErrNotSubscribed = errors.New("redisbroker: not subscribed to the channel")

// Ping reports whether the broker carries envelopes both ways now: the
// subscription is confirmed and Redis answers PING.
func (b *Broker) Ping(ctx context.Context) error {
	if !b.live.Load() {
		return ErrNotSubscribed
	}
	return b.client.Ping(ctx).Err()
}

// Close stops the subscription and waits for its goroutine.
func (b *Broker) Close() error {
	b.mu.Lock()
	cancel, done, ps := b.cancel, b.loopDone, b.pubsub
	b.running = false
	b.cancel, b.loopDone, b.pubsub = nil, nil, nil
	b.mu.Unlock()
	if cancel != nil {
		cancel()
		_ = ps.Close()
		<-done
	}
	return nil
}

func (b *Broker) receiveLoop(ctx context.Context, ps *redis.PubSub, done chan struct{}) {
	defer close(done)
	backoff := b.opts.MinBackoff
	confirmed := false // a subscription was confirmed on some connection
	broken := false    // the connection failed since the last confirmation
	for {
		msg, err := ps.ReceiveTimeout(ctx, b.opts.HealthInterval)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			var netTimeout interface{ Timeout() bool }
			if errors.As(err, &netTimeout) && netTimeout.Timeout() && !broken {
				// Silent for a while: a ping either gets a Pong or makes
				// the next receive fail on a dead connection.
				if perr := ps.Ping(ctx); perr == nil {
					continue
				}
			}
			if !broken {
				b.log.Warn("redisbroker: subscription lost; reconnecting", "err", err)
				b.stats.lost.Add(1)
			}
			broken = true
			b.live.Store(false)
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, b.opts.MaxBackoff)
			continue
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			if m.Kind != "subscribe" {
				continue
			}
			backoff = b.opts.MinBackoff
			if confirmed || broken {
				b.log.Info("redisbroker: subscription re-established; resynchronising")
				b.stats.resyncs.Add(1)
				b.local.Resync()
			}
			confirmed, broken = true, false
			b.live.Store(true)
			b.subscribedOnce.Do(func() { close(b.subscribed) })
		case *redis.Message:
			receiveFrame(b.opts.NodeID, b.local, &b.stats, b.log, m)
		case *redis.Pong:
		}
	}
}

// publishFrame delivers env to this node's subscribers at once, then
// encodes it once and hands the frame to send (PUBLISH or SPUBLISH).
func publishFrame(ctx context.Context, nodeID string, local *gateway.MemoryBroker, st *counters, roomID string, env gateway.Envelope, send func(frame []byte) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := local.Publish(ctx, roomID, env); err != nil {
		return err
	}
	payload, err := json.Marshal(env)
	if err != nil {
		return fmt.Errorf("redisbroker: encode envelope: %w", err)
	}
	frame := encodeFrame(nodeID, roomID, payload)
	if err := send(frame); err != nil {
		return err
	}
	st.published.Add(1)
	st.publishedBytes.Add(uint64(len(frame)))
	return nil
}

// receiveFrame hands a frame Redis delivered to this node's subscribers,
// unless this node published it (it delivered it locally then).
func receiveFrame(nodeID string, local *gateway.MemoryBroker, st *counters, log *slog.Logger, m *redis.Message) {
	st.received.Add(1)
	st.receivedBytes.Add(uint64(len(m.Payload)))
	node, roomID, payload, err := decodeFrame([]byte(m.Payload))
	if err != nil {
		log.Warn("redisbroker: undecodable frame dropped", "channel", m.Channel, "err", err)
		return
	}
	if node == nodeID {
		st.ownEchoes.Add(1)
		return
	}
	var env gateway.Envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		log.Warn("redisbroker: undecodable envelope dropped", "room", roomID, "err", err)
		return
	}
	st.fromOthers.Add(1)
	_ = local.Publish(context.Background(), roomID, env)
}

// A frame is uvarint(len(node)) node uvarint(len(room)) room payload.
func encodeFrame(node, roomID string, payload []byte) []byte {
	buf := make([]byte, 0, 2*binary.MaxVarintLen32+len(node)+len(roomID)+len(payload))
	buf = binary.AppendUvarint(buf, uint64(len(node)))
	buf = append(buf, node...)
	buf = binary.AppendUvarint(buf, uint64(len(roomID)))
	buf = append(buf, roomID...)
	return append(buf, payload...)
}

var errBadFrame = errors.New("redisbroker: malformed frame")

func decodeFrame(frame []byte) (node, roomID string, payload []byte, err error) {
	field := func() (string, bool) {
		n, k := binary.Uvarint(frame)
		if k <= 0 || n > uint64(len(frame)-k) {
			return "", false
		}
		s := string(frame[k : k+int(n)])
		frame = frame[k+int(n):]
		return s, true
	}
	var ok bool
	if node, ok = field(); !ok {
		return "", "", nil, errBadFrame
	}
	if roomID, ok = field(); !ok {
		return "", "", nil, errBadFrame
	}
	return node, roomID, frame, nil
}
