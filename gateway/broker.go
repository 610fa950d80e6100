package gateway

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Broker carries room envelopes from the node that produced them to every
// hub that delivers them. Payloads are opaque bytes so an implementation can
// cross process boundaries (Redis pub/sub is the planned second one).
//
// A broker may deliver a room's envelopes out of order or, across nodes, lose
// some: the hub reorders room messages by their order and fills gaps from the
// store, so brokers need no ordering guarantee of their own.
type Broker interface {
	// Publish hands payload to every current subscriber.
	Publish(ctx context.Context, roomID string, payload []byte) error
	// Subscribe registers deliver for every later Publish. deliver must not
	// block for long; it may be called concurrently.
	Subscribe(deliver func(roomID string, payload []byte)) (unsubscribe func())
}

// MemoryBroker is the in-process Broker: Publish calls each subscriber on the
// publishing goroutine. Concurrent publishers therefore reach the hub in any
// order, which the hub's sequencer absorbs.
//
// The subscriber list is replaced, never modified, so Publish (once per
// message) reads it without copying and subscribing is the rare, costly side.
type MemoryBroker struct {
	mu     sync.Mutex // serialises Subscribe and unsubscribe
	nextID int
	subs   atomic.Pointer[[]subscriber]
}

type subscriber struct {
	id      int
	deliver func(roomID string, payload []byte)
}

// NewMemoryBroker returns an empty in-process broker.
func NewMemoryBroker() *MemoryBroker { return &MemoryBroker{} }

func (b *MemoryBroker) Publish(ctx context.Context, roomID string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if subs := b.subs.Load(); subs != nil {
		for _, s := range *subs {
			s.deliver(roomID, payload)
		}
	}
	return nil
}

func (b *MemoryBroker) Subscribe(deliver func(roomID string, payload []byte)) func() {
	b.mu.Lock()
	defer b.mu.Unlock()
	id := b.nextID
	b.nextID++
	b.replace(func(old []subscriber) []subscriber { return append(old, subscriber{id, deliver}) })
	return func() {
		b.mu.Lock()
		defer b.mu.Unlock()
		b.replace(func(old []subscriber) []subscriber {
			return slices.DeleteFunc(old, func(s subscriber) bool { return s.id == id })
		})
	}
}

// replace installs edit(copy of the current list). Caller holds b.mu.
func (b *MemoryBroker) replace(edit func([]subscriber) []subscriber) {
	var cur []subscriber
	if p := b.subs.Load(); p != nil {
		cur = slices.Clone(*p)
	}
	next := edit(cur)
	b.subs.Store(&next)
}
