package gateway

import (
	"context"
	"sync"
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
type MemoryBroker struct {
	mu     sync.RWMutex
	nextID int
	subs   map[int]func(roomID string, payload []byte)
}

// NewMemoryBroker returns an empty in-process broker.
func NewMemoryBroker() *MemoryBroker {
	return &MemoryBroker{subs: make(map[int]func(string, []byte))}
}

func (b *MemoryBroker) Publish(ctx context.Context, roomID string, payload []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	b.mu.RLock()
	subs := make([]func(string, []byte), 0, len(b.subs))
	for _, f := range b.subs {
		subs = append(subs, f)
	}
	b.mu.RUnlock()
	for _, f := range subs {
		f(roomID, payload)
	}
	return nil
}

func (b *MemoryBroker) Subscribe(deliver func(roomID string, payload []byte)) func() {
	b.mu.Lock()
	id := b.nextID
	b.nextID++
	b.subs[id] = deliver
	b.mu.Unlock()
	return func() {
		b.mu.Lock()
		delete(b.subs, id)
		b.mu.Unlock()
	}
}
