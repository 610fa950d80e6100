package gateway

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"

	"chatgateway/rooms"
)

// EnvelopeKind says what an Envelope carries.
type EnvelopeKind string

// Envelope kinds.
const (
	// KindMessage is a stored message; the hub sequences it by Order.
	KindMessage EnvelopeKind = "message"
	// KindParticipants says the room's participant list changed; it is
	// re-read from the store when delivered. Sender, when set, is the
	// socket whose join (or restore) changed it.
	KindParticipants EnvelopeKind = "participants"
	// KindDirect is a direct message; not stored. Sender gets a copy.
	KindDirect EnvelopeKind = "direct"
	// KindClosed says the room was closed.
	KindClosed EnvelopeKind = "closed"
	// KindSync asks every node to read the room's messages it has not
	// released back from the store: a node died between storing and
	// publishing, so the envelope of its last message may never come.
	KindSync EnvelopeKind = "sync"
	// KindTakeover says the socket Sender was recovered on node Node: any
	// other node still holding a socket with that id closes it (its client
	// has moved on).
	KindTakeover EnvelopeKind = "takeover"
)

// Envelope is one room event on its way from the node that produced it to
// every hub that delivers it.
type Envelope struct {
	Kind    EnvelopeKind   `json:"kind"`
	Message *rooms.Message `json:"message,omitempty"`
	Direct  *DirectMessage `json:"direct,omitempty"`
	Sender  string         `json:"sender,omitempty"`
	Node    string         `json:"node,omitempty"`
}

// Subscriber receives a Broker's envelopes.
type Subscriber interface {
	// Deliver is called for every envelope, possibly concurrently, and
	// must not block for long.
	Deliver(roomID string, env Envelope)
	// Resync is called when envelopes may have been lost (a broker that
	// lost its connection got it back): whatever was published meanwhile
	// was stored first, so the subscriber reads it back from the store.
	Resync()
	// ResyncRoom is Resync for one room: envelopes of roomID may have been
	// lost (its subscription moved with its slot, or came back).
	ResyncRoom(roomID string)
}

// Broker carries room envelopes from the node that produced them to every
// hub that delivers them: in process (MemoryBroker) or across nodes
// (redisbroker). Only a broker that crosses processes serialises them.
//
// A broker may deliver a room's envelopes out of order or, across nodes, lose
// some: the hub reorders room messages by their order and fills gaps from the
// store, so brokers need no ordering guarantee of their own.
//
// A node needs the envelopes of the rooms it delivers. A broker may hand
// every room to every node (MemoryBroker, the single-channel Redis broker),
// or only the rooms a node watches (the sharded Redis broker): the gateway
// watches a room while this node has local members in it, in room delivery
// (in global delivery every socket hears every room, and the gateway
// watches nothing: such a broker must then carry every room everywhere).
type Broker interface {
	// Publish hands env to every current subscriber that watches roomID.
	Publish(ctx context.Context, roomID string, env Envelope) error
	// Subscribe registers sub and returns once envelopes that any node
	// publishes from then on, for the rooms watched, reach it.
	Subscribe(ctx context.Context, sub Subscriber) (unsubscribe func(), err error)
	// Watch asks for roomID's envelopes and returns once those any node
	// publishes from then on reach this node's subscribers. Calls are
	// counted: the room stays watched until as many Unwatch calls. On an
	// error (ctx ended, the broker's server is unreachable) the room stays
	// watched all the same: the broker keeps trying, and once the room's
	// envelopes flow it calls ResyncRoom.
	Watch(ctx context.Context, roomID string) error
	// Unwatch ends one Watch of roomID.
	Unwatch(roomID string)
}

// MemoryBroker is the in-process Broker: Publish calls each subscriber on the
// publishing goroutine. Concurrent publishers therefore reach the hub in any
// order, which the hub's sequencer absorbs. It never loses an envelope, so it
// never asks for a resync.
//
// The subscriber list is replaced, never modified, so Publish (once per
// message) reads it without copying and subscribing is the rare, costly side.
type MemoryBroker struct {
	mu     sync.Mutex // serialises Subscribe and unsubscribe
	nextID int
	subs   atomic.Pointer[[]subscription]
}

type subscription struct {
	id  int
	sub Subscriber
}

// NewMemoryBroker returns an empty in-process broker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

// Publish implements Broker.
func (b *MemoryBroker) Publish(ctx context.Context, roomID string, env Envelope) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if subs := b.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.sub.Deliver(roomID, env)
		}
	}
	return nil
}

// Subscribe implements Broker.
func (b *MemoryBroker) Subscribe(ctx context.Context, sub Subscriber) (func(), error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextID
	b.nextID++
	b.replace(func(old []subscription) []subscription { return append(old, subscription{id, sub}) })
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.replace(func(old []subscription) []subscription {
			return slices.DeleteFunc(old, func(s subscription) bool { return s.id == id })
		})
	}, nil
}

// Watch implements Broker: every subscriber gets every room.
func (b *MemoryBroker) Watch(ctx context.Context, roomID string) error { return nil }

// Unwatch implements Broker.
func (b *MemoryBroker) Unwatch(roomID string) {}

// Resync tells every subscriber to catch up with the store; a broker built
// on a MemoryBroker for its local fan-out calls it when it may have lost
// envelopes.
func (b *MemoryBroker) Resync() {
	if subs := b.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.sub.Resync()
		}
	}
}

// ResyncRoom is Resync for one room.
func (b *MemoryBroker) ResyncRoom(roomID string) {
	if subs := b.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.sub.ResyncRoom(roomID)
		}
	}
}

// replace installs edit(copy of the current list). Caller holds b.mu.
func (b *MemoryBroker) replace(edit func([]subscription) []subscription) {
	var cur []subscription
	if p := b.subs.Load(); p != nil {
		cur = slices.Clone(*p)
	}
	next := edit(cur)
	b.subs.Store(&next)
}
