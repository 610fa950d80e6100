package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/gateway"
)

// Sharded is the gateway Broker on Redis sharded pub/sub (SPUBLISH and
// SSUBSCRIBE, Redis 7): one channel per room, in the room's hash slot, so
// on a Redis Cluster a room's envelopes go through the master that holds
// its data, and a node subscribes to a room's channel only while the
// gateway watches the room (it has local members there, in room
// delivery). A node therefore receives and decodes nothing of the rooms it
// does not serve, and each master carries only its own rooms' traffic. It
// works on a standalone Redis 7 too, as one shard.
//
// Subscriptions are one connection per shard (master), subscribed to the
// channels of the watched rooms that shard serves. They follow the
// cluster: a slot that migrates makes its master drop the subscriptions
// of its channels (the server sends sunsubscribe), a master that fails
// drops the connection; either way the rooms concerned are subscribed
// again wherever the cluster now serves them (go-redis's own sharded
// PubSub stays on the shard of its first channel and does neither), and
// each room is resynchronised from the store once its subscription is
// confirmed again, since envelopes published meanwhile were lost.
//
// Global delivery needs every room on every node: use Broker (one channel,
// classic pub/sub, which a cluster broadcasts to every node) for it.
type Sharded struct {
	client redis.UniversalClient
	opts   Options
	log    *slog.Logger
	// local fans envelopes out to this node's subscribers, whichever node
	// published them, and tells them to resync.
	local *gateway.MemoryBroker

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	kick   chan struct{} // wakes the reconciler; capacity 1
	start  sync.Once

	mu        sync.Mutex
	closed    bool
	rooms     map[string]*watched // by room id
	byChannel map[string]*watched
	shards    map[string]*shard // by address
	// unsubscribe: channels of unwatched rooms still subscribed, per
	// shard, for the reconciler.
	unsubscribe map[*shard][]string

	stats counters
}

// watched is one room the gateway watches.
type watched struct {
	room, channel string
	refs          int
	// shard is where its SSUBSCRIBE went; nil while it must be
	// (re)subscribed.
	shard     *shard
	confirmed bool
	// lost: envelopes may have been missed since it was last confirmed (or
	// since a Watch gave up waiting): resync the room at the next
	// confirmation.
	lost bool
	// ready is closed at the first confirmation.
	ready       chan struct{}
	readyClosed bool
}

// shard is one connection subscribed to channels of one master.
type shard struct {
	addr string
	ps   *redis.PubSub
	dead bool // under Sharded.mu
	// channels is how many channels the server counts for the
	// connection, as its last (un)subscription reply said.
	channels atomic.Int64
}

type counters struct {
	published, publishedBytes atomic.Uint64
	received, receivedBytes   atomic.Uint64
	ownEchoes                 atomic.Uint64
	fromOthers                atomic.Uint64
	resyncs                   atomic.Uint64
	lost                      atomic.Uint64
}

// Stats are a broker's counters since it started, for diagnosis and the
// tests that assert what a node receives.
type Stats struct {
	// Published and PublishedBytes count envelopes sent to Redis (frames,
	// their bytes).
	Published      uint64 `json:"published"`
	PublishedBytes uint64 `json:"publishedBytes"`
	// Received and ReceivedBytes count frames Redis delivered to this node,
	// its own echoes included.
	Received      uint64 `json:"received"`
	ReceivedBytes uint64 `json:"receivedBytes"`
	// Resyncs counts rooms (or, for Broker, subscriptions) read back from
	// the store after envelopes may have been lost.
	Resyncs uint64 `json:"resyncs"`
	// FromOthers counts envelopes received from other nodes;
	// SubscriptionsLost the times a subscription (for Sharded, a shard's
	// connection) was lost.
	FromOthers        uint64 `json:"fromOthers"`
	SubscriptionsLost uint64 `json:"subscriptionsLost"`
	// Watched is how many rooms are watched, Subscribed how many of them
	// have a confirmed subscription, Shards how many shard connections are
	// open, Channels how many channels the servers count for them
	// (Sharded only).
	Watched    int `json:"watched"`
	Subscribed int `json:"subscribed"`
	Shards     int `json:"shards"`
	Channels   int `json:"channels"`
}

var _ gateway.Broker = (*Sharded)(nil)

// NewSharded returns a broker on client (a *redis.ClusterClient or a
// *redis.Client on Redis 7). Options.Channel is the prefix of the room
// channels: room R's is Channel + ":{R}", in R's hash slot as the store's
// keys of R. Close stops it; the caller owns client.
func NewSharded(client redis.UniversalClient, opts Options) *Sharded {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Sharded{
		client:      client,
		opts:        opts,
		log:         opts.Logger,
		local:       gateway.NewMemoryBroker(),
		ctx:         ctx,
		cancel:      cancel,
		kick:        make(chan struct{}, 1),
		rooms:       make(map[string]*watched),
		byChannel:   make(map[string]*watched),
		shards:      make(map[string]*shard),
		unsubscribe: make(map[*shard][]string),
	}
}

// channel is the room's channel: its hash tag is the room id, as in the
// store's keys, so both live on one shard.
func (b *Sharded) channel(roomID string) string { return b.opts.Channel + ":{" + roomID + "}" }

// Publish delivers env to this node's subscribers, then to the nodes that
// watch the room through Redis. An error means other nodes may not have
// it; local subscribers always do.
func (b *Sharded) Publish(ctx context.Context, roomID string, env gateway.Envelope) error {
	return publishFrame(ctx, b.opts.NodeID, b.local, &b.stats, roomID, env, func(frame []byte) error {
		if err := b.client.SPublish(ctx, b.channel(roomID), frame).Err(); err != nil {
			return fmt.Errorf("redisbroker: spublish: %w", err)
		}
		return nil
	})
}

// Subscribe registers sub for the envelopes of the rooms watched, this
// node's included.
func (b *Sharded) Subscribe(ctx context.Context, sub gateway.Subscriber) (func(), error) {
	b.start.Do(func() {
		b.wg.Add(1)
		go b.reconcileLoop()
	})
	return b.local.Subscribe(ctx, sub)
}

// Watch implements gateway.Broker: it subscribes to the room's channel
// (once, whatever the number of calls) and waits for the confirmation.
func (b *Sharded) Watch(ctx context.Context, roomID string) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errors.New("redisbroker: closed")
	}
	w := b.rooms[roomID]
	if w == nil {
		w = &watched{room: roomID, channel: b.channel(roomID), ready: make(chan struct{})}
		b.rooms[roomID] = w
		b.byChannel[w.channel] = w
		b.wake()
	}
	w.refs++
	flowing := w.readyClosed // confirmed once: what it misses later is resynced
	b.mu.Unlock()
	if flowing {
		return nil
	}
	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		if !w.readyClosed {
			w.lost = true
		}
		b.mu.Unlock()
		return fmt.Errorf("redisbroker: subscription to room %q not confirmed: %w", roomID, ctx.Err())
	}
}

// Unwatch implements gateway.Broker.
func (b *Sharded) Unwatch(roomID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.rooms[roomID]
	if w == nil {
		return
	}
	if w.refs--; w.refs > 0 {
		return
	}
	delete(b.rooms, roomID)
	delete(b.byChannel, w.channel)
	if w.shard != nil && !w.shard.dead {
		b.unsubscribe[w.shard] = append(b.unsubscribe[w.shard], w.channel)
		b.wake()
	}
}

// Stats returns the broker's counters.
func (b *Sharded) Stats() Stats {
	st := Stats{
		Published: b.stats.published.Load(), PublishedBytes: b.stats.publishedBytes.Load(),
		Received: b.stats.received.Load(), ReceivedBytes: b.stats.receivedBytes.Load(),
		Resyncs: b.stats.resyncs.Load(), FromOthers: b.stats.fromOthers.Load(),
		SubscriptionsLost: b.stats.lost.Load(),
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	st.Watched, st.Shards = len(b.rooms), len(b.shards)
	for _, sh := range b.shards {
		st.Channels += int(sh.channels.Load())
	}
	for _, w := range b.rooms {
		if w.confirmed {
			st.Subscribed++
		}
	}
	return st
}

// Ping reports whether Redis answers (readiness). A room whose shard
// connection is being replaced is not a failure of the node: it is
// resubscribed and resynchronised by itself, and a slot migration must
// not take every node out of the load balancer.
func (b *Sharded) Ping(ctx context.Context) error {
	return b.client.Ping(ctx).Err()
}

// Close stops every subscription and waits for the broker's goroutines.
func (b *Sharded) Close() error {
	b.mu.Lock()
	b.closed = true
	shards := make([]*shard, 0, len(b.shards))
	for _, sh := range b.shards {
		shards = append(shards, sh)
	}
	b.mu.Unlock()
	b.cancel()
	for _, sh := range shards {
		_ = sh.ps.Close() // interrupts a blocked receive
	}
	b.wg.Wait()
	return nil
}

// wake asks the reconciler for a pass. Caller holds b.mu or not: the
// channel does not care.
func (b *Sharded) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// reconcileLoop sends what the watched rooms need (subscriptions where
// their slots are served, unsubscriptions of rooms no longer watched),
// on every wake-up, and again after a backoff while anything failed.
func (b *Sharded) reconcileLoop() {
	defer b.wg.Done()
	backoff := b.opts.MinBackoff
	var retry <-chan time.Time
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		case <-retry:
		}
		if b.reconcile() {
			backoff, retry = b.opts.MinBackoff, nil
			continue
		}
		// Something failed (a master down, the map of slots out of date):
		// ask the cluster again, later.
		if c, ok := b.client.(*redis.ClusterClient); ok {
			c.ReloadState(b.ctx)
		}
		retry = time.After(backoff)
		backoff = min(backoff*2, b.opts.MaxBackoff)
	}
}

// reconcile makes one pass and reports whether everything was sent.
func (b *Sharded) reconcile() bool {
	b.mu.Lock()
	unsub := b.unsubscribe
	b.unsubscribe = make(map[*shard][]string)
	var todo []*watched
	for _, w := range b.rooms {
		if w.shard == nil {
			todo = append(todo, w)
		}
	}
	b.mu.Unlock()

	ok := true
	// Unsubscriptions first, so that a room unwatched and watched again
	// on one shard ends subscribed.
	for sh, channels := range unsub {
		for _, ch := range channels { // one slot per command in a cluster
			if err := sh.ps.SUnsubscribe(b.ctx, ch); err != nil {
				b.shardFailed(sh, err)
				break
			}
		}
	}
	for _, w := range todo {
		sh, err := b.shardFor(w.channel)
		if err != nil {
			b.log.Debug("redisbroker: no shard for a room's channel yet", "room", w.room, "err", err)
			ok = false
			continue
		}
		b.mu.Lock()
		current := b.rooms[w.room] == w && w.shard == nil && !sh.dead
		if current {
			w.shard, w.confirmed = sh, false
		}
		b.mu.Unlock()
		if !current {
			continue
		}
		if err := sh.ps.SSubscribe(b.ctx, w.channel); err != nil {
			b.shardFailed(sh, err)
			ok = false
		}
	}
	return ok
}

// shardFor is the connection to the master serving channel, opened (with
// its receive loop) on first use.
func (b *Sharded) shardFor(channel string) (*shard, error) {
	node, err := b.master(channel)
	if err != nil {
		return nil, err
	}
	addr := node.Options().Addr
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, errors.New("redisbroker: closed")
	}
	if sh := b.shards[addr]; sh != nil {
		return sh, nil
	}
	sh := &shard{addr: addr, ps: node.SSubscribe(b.ctx)}
	b.shards[addr] = sh
	b.wg.Add(1)
	go b.receiveLoop(sh)
	return sh, nil
}

// master is the client of the server serving channel's slot.
func (b *Sharded) master(channel string) (*redis.Client, error) {
	switch c := b.client.(type) {
	case *redis.Client:
		return c, nil
	case *redis.ClusterClient:
		ctx, cancel := context.WithTimeout(b.ctx, b.opts.MaxBackoff)
		defer cancel()
		return c.MasterForKey(ctx, channel)
	default:
		return nil, fmt.Errorf("redisbroker: sharded pub/sub needs a *redis.Client or *redis.ClusterClient, not %T", b.client)
	}
}

// shardFailed forgets a connection that failed: its rooms are subscribed
// again (where their slots are served now) and resynchronised once
// confirmed.
func (b *Sharded) shardFailed(sh *shard, err error) {
	b.mu.Lock()
	if sh.dead {
		b.mu.Unlock()
		return
	}
	sh.dead = true
	if b.shards[sh.addr] == sh {
		delete(b.shards, sh.addr)
	}
	delete(b.unsubscribe, sh)
	moved := 0
	for _, w := range b.rooms {
		if w.shard == sh {
			w.shard = nil
			w.lost = w.lost || w.readyClosed
			w.confirmed = false
			moved++
		}
	}
	closed := b.closed
	b.mu.Unlock()
	_ = sh.ps.Close()
	if !closed {
		b.stats.lost.Add(1)
		b.log.Warn("redisbroker: shard subscription lost; subscribing its rooms again", "shard", sh.addr, "rooms", moved, "err", err)
		b.wake()
	}
}

// receiveLoop reads one shard connection until it fails or the broker
// closes.
func (b *Sharded) receiveLoop(sh *shard) {
	defer b.wg.Done()
	for {
		msg, err := sh.ps.ReceiveTimeout(b.ctx, b.opts.HealthInterval)
		if b.ctx.Err() != nil {
			return
		}
		if err != nil {
			var netErr net.Error
			var replyErr redis.Error
			switch {
			case errors.As(err, &replyErr):
				// An SSUBSCRIBE answered MOVED (its slot is served elsewhere
				// now) or some other refusal: the pending subscriptions of
				// this shard go where the cluster says.
				b.resubscribePending(sh, err)
				continue
			case errors.As(err, &netErr) && netErr.Timeout():
				// Silent for a while: a ping gets a Pong, or fails on a dead
				// connection.
				if perr := sh.ps.Ping(b.ctx); perr == nil {
					continue
				}
			}
			b.shardFailed(sh, err)
			return
		}
		switch m := msg.(type) {
		case *redis.Subscription:
			sh.channels.Store(int64(m.Count))
			switch m.Kind {
			case "ssubscribe":
				b.confirmed(sh, m.Channel)
			case "sunsubscribe":
				b.dropped(sh, m.Channel)
			}
		case *redis.Message:
			receiveFrame(b.opts.NodeID, b.local, &b.stats, b.log, m)
		case *redis.Pong:
		}
	}
}

// confirmed handles a subscription's confirmation.
func (b *Sharded) confirmed(sh *shard, channel string) {
	b.mu.Lock()
	w := b.byChannel[channel]
	if w == nil || w.shard != sh {
		b.mu.Unlock()
		return // unwatched meanwhile, or moved on
	}
	w.confirmed = true
	if !w.readyClosed {
		w.readyClosed = true
		close(w.ready)
	}
	resync := w.lost
	w.lost = false
	b.mu.Unlock()
	if resync {
		b.stats.resyncs.Add(1)
		b.log.Debug("redisbroker: room subscribed again; resynchronising", "room", w.room, "shard", sh.addr)
		b.local.ResyncRoom(w.room)
	}
}

// dropped handles an unsubscription: the answer to one of ours (nothing
// to do), or the server dropping a confirmed subscription because the
// channel's slot moved to another master.
func (b *Sharded) dropped(sh *shard, channel string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	w := b.byChannel[channel]
	if w == nil || w.shard != sh || !w.confirmed {
		return // ours; a subscription sent since is pending
	}
	w.shard, w.confirmed, w.lost = nil, false, true
	b.log.Info("redisbroker: a room's slot moved; subscribing where it is served now", "room", w.room, "from", sh.addr)
	b.reloadLater()
}

// resubscribePending sends the shard's unconfirmed subscriptions through
// the reconciler again, after a reply error.
func (b *Sharded) resubscribePending(sh *shard, err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := 0
	for _, w := range b.rooms {
		if w.shard == sh && !w.confirmed {
			w.shard = nil
			n++
		}
	}
	b.log.Debug("redisbroker: a subscription was refused; subscribing again", "shard", sh.addr, "pending", n, "err", err)
	if n > 0 {
		b.reloadLater()
	}
}

// reloadLater asks for a new map of the cluster's slots and a reconciler
// pass after MinBackoff: the map is read in the background, and asking at
// once would find the old one and be refused again.
func (b *Sharded) reloadLater() {
	if c, ok := b.client.(*redis.ClusterClient); ok {
		c.ReloadState(b.ctx)
	}
	time.AfterFunc(b.opts.MinBackoff, b.wake)
}
