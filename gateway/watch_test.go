package gateway

import (
	"context"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// watchCounter is a MemoryBroker that counts the watches of each room, as
// a broker filtering by room would.
type watchCounter struct {
	*MemoryBroker
	mu      sync.Mutex
	watches map[string]int
	changed chan struct{} // signalled (buffered 1) on every change
}

func newWatchCounter() *watchCounter {
	return &watchCounter{MemoryBroker: NewMemoryBroker(), watches: map[string]int{}, changed: make(chan struct{}, 1)}
}

func (b *watchCounter) Watch(ctx context.Context, roomID string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.watches[roomID]++
	b.signal()
	return nil
}

func (b *watchCounter) Unwatch(roomID string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.watches[roomID]--; b.watches[roomID] == 0 {
		delete(b.watches, roomID)
	}
	b.signal()
}

func (b *watchCounter) signal() {
	select {
	case b.changed <- struct{}{}:
	default:
	}
}

// waitFor waits until the watches are want: a disconnection reaches the
// gateway after the client's side of it returns.
func (b *watchCounter) waitFor(t *testing.T, when string, want map[string]int) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	for !maps.Equal(b.counts(), want) {
		select {
		case <-b.changed:
		case <-deadline.C:
			t.Fatalf("%s: watches %v after %v, want %v", when, b.counts(), waitFor, want)
		}
	}
}

func (b *watchCounter) counts() map[string]int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.watches)
}

func (b *watchCounter) want(t *testing.T, when string, want map[string]int) {
	t.Helper()
	if got := b.counts(); !maps.Equal(got, want) {
		t.Fatalf("%s: watches %v, want %v", when, got, want)
	}
}

// A room is watched once per local membership, from before its position is
// read to the end of the membership, however it ends: a disconnection, a
// re-join replacing it, the room's closing; a recovered socket watches its
// rooms again. Global delivery watches nothing.
func TestWatchesFollowLocalMemberships(t *testing.T) {
	b := newWatchCounter()
	f := newGatewayFixtureWith(t, DeliveryRoom, memstore.New(), memstore.New(), nil, func(c *Config) { c.Broker = b })
	f.createRoom(t, "r")
	f.createRoom(t, "q")
	a := f.connect(t, "A", "")
	c := f.connect(t, "C", "")
	f.join(t, a, "r", "Titi")
	b.want(t, "one member", map[string]int{"r": 1})
	f.join(t, c, "r", "Toto")
	expectParticipants(t, a, "r")
	f.join(t, a, "q", "Titi")
	b.want(t, "two members, one in two rooms", map[string]int{"r": 2, "q": 1})
	f.join(t, a, "r", "Tata") // replaces its membership of r
	expectParticipants(t, c, "r")
	b.want(t, "a re-join", map[string]int{"r": 2, "q": 1})
	a.cut()
	expectParticipants(t, c, "r")
	// The departure publishes its list before it ends the watch, and the
	// list may reach C first.
	b.waitFor(t, "a member gone", map[string]int{"r": 1})
	if err := f.svc.CloseRoom(context.Background(), "r"); err != nil {
		t.Fatal(err)
	}
	if e := c.next(t); e.event != closedEvent("r") {
		t.Fatalf("got %q, want the closed notice", e.event)
	}
	b.want(t, "the room closed", map[string]int{})

	v := f.connectV5(t, "V", "pid-v")
	f.join(t, v, "q", "Vic")
	v.cut()
	b.want(t, "the v5 socket gone", map[string]int{})
	again, ok := f.recoverV5(t, "pid-v", "", false)
	if !ok {
		t.Fatal("not recovered")
	}
	expectParticipants(t, again, "q")
	b.want(t, "recovered", map[string]int{"q": 1})

	g := newWatchCounter()
	fg := newGatewayFixtureWith(t, DeliveryGlobal, memstore.New(), memstore.New(), nil, func(c *Config) { c.Broker = g })
	fg.createRoom(t, "r")
	fg.join(t, fg.connect(t, "G", ""), "r", "Gus")
	g.want(t, "global delivery", map[string]int{})
}

// A room whose local members all left is not heard here any more (a
// filtering broker drops it); its delivery state lingers a while. A socket
// joining it then starts from where the room stands in the store: it gets
// the messages posted after its join at once, and none of those stored
// while nobody here listened.
func TestJoiningARoomNotHeardSinceStartsFromTheStore(t *testing.T) {
	b := newWatchCounter()
	f := newGatewayFixtureWith(t, DeliveryRoom, memstore.New(), memstore.New(), nil, func(c *Config) { c.Broker = b })
	f.createRoom(t, "r")
	a := f.connect(t, "A", "")
	f.join(t, a, "r", "Titi")
	f.post(t, a, "r", "heard")
	a.cut()
	// Once its membership has ended the room is not watched here any more.
	b.waitFor(t, "A gone", map[string]int{})
	// Another node's members post; this node does not hear it.
	for _, content := range []string{"elsewhere 1", "elsewhere 2", "elsewhere 3"} {
		if _, err := f.svc.Post(context.Background(), "r", rooms.NewMessage{Username: "other", Content: content}); err != nil {
			t.Fatal(err)
		}
	}
	if f.g.hub.room("r", false) == nil {
		t.Fatal("the room's delivery state is already gone: the test needs it lingering")
	}
	c := f.connect(t, "C", "")
	f.join(t, c, "r", "Toto")
	ack := f.g.onChat(c, raw(t, map[string]string{"roomId": "r", "content": "after the join"}))
	m, ok := ack.(rooms.Message)
	if !ok {
		t.Fatalf("chat ack %+v", ack)
	}
	if m.Order != 5 {
		t.Fatalf("posted order %d, want 5", m.Order)
	}
	// The departure queued its list in the room's pipeline before C joined,
	// but the pipeline reads the list when it gets to it: if that was after
	// the join, C gets that list too (naming itself), ahead of its message.
	// Nothing else may come before the message: no stored message is
	// replayed.
	got := c.next(t)
	if got.event == participantsEvent("r") {
		list, _ := got.arg.([]rooms.Participant)
		if want := []rooms.Participant{participant("r", "Titi", false), participant("r", "Toto", true)}; !slices.Equal(clientView(list), want) {
			t.Fatalf("C: the departure's list %+v, want %+v", got.arg, want)
		}
		got = c.next(t)
	}
	if want := (sent{event: "r", arg: m}); !want.matches(got) {
		t.Fatalf("C: got %q %+v, want its own message %+v", got.event, got.arg, m)
	}
	c.none(t)
}
