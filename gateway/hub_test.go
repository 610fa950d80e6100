package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// waitFor bounds every wait in these tests.
const waitFor = 5 * time.Second

// sent is one event as a fake member received it: the Go value given to the
// encoder, so tests compare values rather than bytes.
type sent struct {
	event string
	arg   any
	// offset is the recovery offset a room message carried ("" for none);
	// expectations that leave it empty ignore it.
	offset string
}

// matches compares got with the expectation want, ignoring the offset
// when want has none.
func (want sent) matches(got sent) bool {
	if want.offset == "" {
		got.offset = ""
	}
	return got == want
}

// recorder encodes events with a real Socket.IO server and remembers what
// each Broadcast carries, so fake members can report what they were sent.
type recorder struct {
	srv *socketio.Server
	mu  sync.Mutex
	all map[*socketio.Broadcast]sent
}

func newRecorder() *recorder {
	return &recorder{
		srv: socketio.NewServer(socketio.Config{Logger: discardLogger()}),
		all: make(map[*socketio.Broadcast]sent),
	}
}

func (r *recorder) encode(event, offset string, arg any) (*socketio.Broadcast, error) {
	b, err := r.srv.NewBroadcast(Namespace, event, arg)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.all[b] = sent{event: event, arg: arg, offset: offset}
	r.mu.Unlock()
	return b, nil
}

func (r *recorder) lookup(b *socketio.Broadcast) sent {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.all[b]
}

// fakeMember records what it is sent; a failing one refuses every Send, as a
// closed or cut-off socket does.
type fakeMember struct {
	id      string
	rec     *recorder
	failing bool
	got     chan sent
}

func newFakeMember(id string, rec *recorder) *fakeMember {
	return &fakeMember{id: id, rec: rec, got: make(chan sent, 10_000)}
}

func (m *fakeMember) ID() string { return m.id }

// Close is the gateway disconnecting the socket; fake members record it.
func (m *fakeMember) Close() error {
	m.got <- sent{event: disconnected}
	return nil
}

func (m *fakeMember) Send(b *socketio.Broadcast) error {
	if m.failing {
		return socketio.ErrConnClosed
	}
	m.got <- m.rec.lookup(b)
	return nil
}

// next returns the next event or fails the test at the deadline.
func (m *fakeMember) next(t *testing.T) sent {
	t.Helper()
	select {
	case s := <-m.got:
		return s
	case <-time.After(waitFor):
		t.Fatalf("member %s: no event within %v", m.id, waitFor)
		return sent{}
	}
}

// none asserts nothing was received. Call it only after a later event, sent
// through the same room pipeline, has reached another member: the pipeline
// is sequential, so anything meant for m was sent before that.
func (m *fakeMember) none(t *testing.T) {
	t.Helper()
	select {
	case s := <-m.got:
		t.Fatalf("member %s: unexpected event %q %v", m.id, s.event, s.arg)
	default:
	}
}

// fakeReader is an in-memory roomReader.
type fakeReader struct {
	mu           sync.Mutex
	messages     map[string][]rooms.Message
	participants map[string][]rooms.Participant
	failMessages error
}

func newFakeReader(roomIDs ...string) *fakeReader {
	r := &fakeReader{messages: make(map[string][]rooms.Message), participants: make(map[string][]rooms.Participant)}
	for _, id := range roomIDs {
		r.messages[id] = []rooms.Message{}
	}
	return r
}

func (r *fakeReader) add(roomID string, msgs ...rooms.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.messages[roomID] = append(r.messages[roomID], msgs...)
}

func (r *fakeReader) Messages(ctx context.Context, roomID string, from, to int64) ([]rooms.Message, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failMessages != nil {
		return nil, r.failMessages
	}
	all, ok := r.messages[roomID]
	if !ok {
		return nil, rooms.RoomNotFound(roomID)
	}
	var out []rooms.Message
	for _, m := range all {
		if m.Order >= from && m.Order <= to {
			out = append(out, m)
		}
	}
	return out, nil
}

func (r *fakeReader) LastOrder(ctx context.Context, roomID string) (int64, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failMessages != nil {
		return 0, r.failMessages
	}
	all, ok := r.messages[roomID]
	if !ok {
		return 0, rooms.RoomNotFound(roomID)
	}
	if len(all) == 0 {
		return 0, nil
	}
	return all[len(all)-1].Order, nil
}

func (r *fakeReader) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.messages[roomID]; !ok {
		return nil, rooms.RoomNotFound(roomID)
	}
	return slices.Clone(r.participants[roomID]), nil
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

type hubFixture struct {
	hub     *hub
	members *registry
	rec     *recorder
	reader  *fakeReader
	clock   *fakeClock
	sockets map[string]*socketState
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func newHubFixture(t *testing.T, delivery Delivery, roomIDs ...string) *hubFixture {
	t.Helper()
	f := &hubFixture{
		rec:     newRecorder(),
		reader:  newFakeReader(roomIDs...),
		clock:   &fakeClock{now: time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)},
		members: newRegistry(),
		sockets: make(map[string]*socketState),
	}
	f.hub = newHub(hubConfig{
		delivery:         delivery,
		reorderTimeout:   20 * time.Millisecond,
		reorderLimit:     100,
		listBroadcastMax: 1000,
		storeTimeout:     time.Second,
	}, f.reader, f.members, discardLogger())
	f.hub.now = f.clock.Now
	f.hub.setEncoder(f.rec.encode)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := f.hub.shutdown(ctx); err != nil {
			t.Errorf("hub shutdown: %v", err)
		}
	})
	return f
}

// member connects a fake member and joins it to the given rooms.
func (f *hubFixture) member(t *testing.T, id, username string, roomIDs ...string) *fakeMember {
	t.Helper()
	m := newFakeMember(id, f.rec)
	s := &socketState{conn: m, id: id}
	f.members.add(s)
	f.sockets[id] = s
	for _, r := range roomIDs {
		f.join(t, id, r, username)
	}
	return m
}

// join makes a connected member join a room, as the gateway does.
func (f *hubFixture) join(t *testing.T, id, roomID, username string) *membership {
	t.Helper()
	rm, err := f.hub.prepare(context.Background(), roomID)
	if err != nil {
		t.Fatalf("prepare %s: %v", roomID, err)
	}
	mb := &membership{roomID: roomID, username: username, since: rm.delivered.Load()}
	if !f.members.join(f.sockets[id], mb) {
		t.Fatalf("join %s to %s failed", id, roomID)
	}
	return mb
}

func (f *hubFixture) publish(t *testing.T, roomID string, env Envelope) {
	t.Helper()
	f.hub.Deliver(roomID, env)
}

func (f *hubFixture) publishMessage(t *testing.T, roomID string, order int64) {
	t.Helper()
	m := msg(order)
	f.publish(t, roomID, Envelope{Kind: KindMessage, Message: &m})
}

func msg(order int64) rooms.Message {
	return rooms.Message{Order: order, Username: "u", Content: fmt.Sprintf("m%d", order), CreatedAt: "2021-03-01T10:00:00.000Z"}
}

func expectMessage(t *testing.T, m *fakeMember, roomID string, order int64) {
	t.Helper()
	got := m.next(t)
	want := sent{event: roomID, arg: msg(order)}
	if !want.matches(got) {
		t.Fatalf("member %s: got %q %+v, want %q %+v", m.id, got.event, got.arg, want.event, want.arg)
	}
}

func TestHubDeliveryModes(t *testing.T) {
	tests := []struct {
		delivery Delivery
		// whether sockets in another room, or in none, get room r1's events
		outsidersGet bool
	}{
		{DeliveryRoom, false},
		{DeliveryGlobal, true},
	}
	for _, tt := range tests {
		t.Run(string(tt.delivery), func(t *testing.T) {
			f := newHubFixture(t, tt.delivery, "r1", "r2")
			inRoom := f.member(t, "a", "alice", "r1")
			otherRoom := f.member(t, "b", "bob", "r2")
			noRoom := f.member(t, "c", "carol")

			f.publishMessage(t, "r1", 1)
			f.publishMessage(t, "r1", 2) // marker: once a member has it, order 1 went everywhere it was going
			expectMessage(t, inRoom, "r1", 1)
			expectMessage(t, inRoom, "r1", 2)
			if tt.outsidersGet {
				for _, m := range []*fakeMember{otherRoom, noRoom} {
					expectMessage(t, m, "r1", 1)
					expectMessage(t, m, "r1", 2)
				}
			}
			inRoom.none(t)
			otherRoom.none(t)
			noRoom.none(t)
		})
	}
}

func TestHubReordersMessages(t *testing.T) {
	tests := []struct {
		name     string
		arrivals []int64
		want     []int64
	}{
		{"in order", []int64{1, 2, 3}, []int64{1, 2, 3}},
		{"reversed", []int64{3, 2, 1}, []int64{1, 2, 3}},
		{"interleaved", []int64{2, 1, 4, 3, 5}, []int64{1, 2, 3, 4, 5}},
		{"duplicates dropped", []int64{1, 1, 3, 2, 3, 2, 1, 4}, []int64{1, 2, 3, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHubFixture(t, DeliveryRoom, "r1")
			a := f.member(t, "a", "alice", "r1")
			b := f.member(t, "b", "bob", "r1")
			for _, o := range tt.arrivals {
				f.publishMessage(t, "r1", o)
			}
			// A final in-sequence marker proves nothing else is coming.
			marker := tt.want[len(tt.want)-1] + 1
			f.publishMessage(t, "r1", marker)
			for _, m := range []*fakeMember{a, b} {
				for _, o := range append(slices.Clone(tt.want), marker) {
					expectMessage(t, m, "r1", o)
				}
				m.none(t)
			}
		})
	}
}

func TestHubFillsGapFromStore(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1")
	a := f.member(t, "a", "alice", "r1")
	// Order 2 is stored but its publication is lost.
	f.reader.add("r1", msg(1), msg(2), msg(3))
	f.publishMessage(t, "r1", 1)
	f.publishMessage(t, "r1", 3)
	expectMessage(t, a, "r1", 1)
	expectMessage(t, a, "r1", 2) // after ReorderTimeout, from the store
	expectMessage(t, a, "r1", 3)
	f.reader.add("r1", msg(4))
	f.publishMessage(t, "r1", 4)
	expectMessage(t, a, "r1", 4)
	a.none(t)
}

func TestHubDiscardsWhatTheStoreDoesNotHave(t *testing.T) {
	// A message of a room closed and re-created under the same id arrives
	// late, ahead of the new room's sequence: the store has a different order
	// 6 (or none), so the stale one must never be delivered.
	f := newHubFixture(t, DeliveryRoom, "r1")
	a := f.member(t, "a", "alice", "r1")
	stale := rooms.Message{Order: 6, Username: "ghost", Content: "stale", CreatedAt: "t"}
	f.publish(t, "r1", Envelope{Kind: KindMessage, Message: &stale})
	// Order 1 is stored but never published: only the gap filler, reading
	// [1, 6] from the store, can deliver it, and it discards the stale 6.
	f.reader.add("r1", msg(1))
	expectMessage(t, a, "r1", 1)
	for o := int64(2); o <= 7; o++ {
		f.reader.add("r1", msg(o))
		f.publishMessage(t, "r1", o)
		expectMessage(t, a, "r1", o)
	}
	a.none(t)
}

func TestHubSkipsGapWhenStoreFails(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1")
	a := f.member(t, "a", "alice", "r1")
	f.reader.mu.Lock()
	f.reader.failMessages = errors.New("store down")
	f.reader.mu.Unlock()
	f.publishMessage(t, "r1", 1)
	f.publishMessage(t, "r1", 3)
	expectMessage(t, a, "r1", 1)
	expectMessage(t, a, "r1", 3) // the room does not stall
	f.publishMessage(t, "r1", 2) // too late: a duplicate now
	f.publishMessage(t, "r1", 4)
	expectMessage(t, a, "r1", 4)
	a.none(t)
}

func TestHubReorderLimitFillsAtOnce(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1")
	f.hub.cfg.reorderTimeout = time.Hour // only the limit can trigger the fill
	a := f.member(t, "a", "alice", "r1")
	var stored []rooms.Message
	for o := int64(1); o <= 101; o++ {
		stored = append(stored, msg(o))
	}
	f.reader.add("r1", stored...)
	for o := int64(2); o <= 101; o++ { // order 1 never published: 100 wait
		f.publishMessage(t, "r1", o)
	}
	for o := int64(1); o <= 101; o++ {
		expectMessage(t, a, "r1", o)
	}
}

func TestHubFailingMemberDoesNotStopOthers(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1")
	a := f.member(t, "a", "alice", "r1")
	broken := f.member(t, "x", "xavier", "r1")
	broken.failing = true
	b := f.member(t, "b", "bob", "r1")
	for o := int64(1); o <= 50; o++ {
		f.publishMessage(t, "r1", o)
	}
	for o := int64(1); o <= 50; o++ {
		expectMessage(t, a, "r1", o)
		expectMessage(t, b, "r1", o)
	}
}

func TestHubParticipantsAreReadAtDelivery(t *testing.T) {
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newHubFixture(t, delivery, "r1")
			a := f.member(t, "a", "alice", "r1")
			outsider := f.member(t, "c", "carol")
			list := []rooms.Participant{{RoomID: "r1", Username: "alice", Avatar: "x", Connected: true}}
			f.reader.mu.Lock()
			f.reader.participants["r1"] = list
			f.reader.mu.Unlock()
			f.publish(t, "r1", Envelope{Kind: KindParticipants})
			f.publishMessage(t, "r1", 1) // marker
			receivers := []*fakeMember{a}
			if delivery == DeliveryGlobal {
				receivers = append(receivers, outsider)
			}
			for _, m := range receivers {
				got := m.next(t)
				if got.event != "participants/r1" || !slices.Equal(got.arg.([]rooms.Participant), list) {
					t.Fatalf("%s got %q %+v", m.id, got.event, got.arg)
				}
				expectMessage(t, m, "r1", 1)
			}
			a.none(t)
			outsider.none(t)
		})
	}
}

func TestHubDirectMessages(t *testing.T) {
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newHubFixture(t, delivery, "r1", "r2")
			alice := f.member(t, "a", "alice", "r1")
			bob1 := f.member(t, "b1", "bob", "r1")
			bob2 := f.member(t, "b2", "bob", "r1") // bob's second tab
			bobElsewhere := f.member(t, "b3", "bob", "r2")
			carol := f.member(t, "c", "carol", "r1")
			sender := f.member(t, "s", "sam") // need not be a member
			everyone := []*fakeMember{alice, bob1, bob2, bobElsewhere, carol, sender}

			dm := DirectMessage{Type: "direct", RoomID: "r1", From: "sam", To: "bob", Content: "psst", CreatedAt: "t"}
			f.publish(t, "r1", Envelope{Kind: KindDirect, Direct: &dm, Sender: "s"})
			f.publishMessage(t, "r1", 1) // marker, same room pipeline
			want := sent{event: "messages", arg: dm}
			for _, m := range []*fakeMember{bob1, bob2, sender} {
				if got := m.next(t); !want.matches(got) {
					t.Fatalf("%s got %+v", m.id, got)
				}
			}
			for _, m := range everyone {
				if delivery == DeliveryGlobal || (m != bobElsewhere && m != sender) {
					expectMessage(t, m, "r1", 1)
				}
			}
			for _, m := range everyone {
				m.none(t)
			}
		})
	}
}

func TestHubRoomClose(t *testing.T) {
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newHubFixture(t, delivery, "r1", "r2")
			a := f.member(t, "a", "alice", "r1", "r2")
			b := f.member(t, "b", "bob", "r2")
			closed := sent{event: "closed/r1", arg: RoomClosedEvent{RoomID: "r1"}}

			f.publishMessage(t, "r1", 1)
			f.publish(t, "r1", Envelope{Kind: KindClosed})
			receivers := []*fakeMember{a}
			if delivery == DeliveryGlobal {
				receivers = append(receivers, b)
			}
			for _, m := range receivers {
				expectMessage(t, m, "r1", 1)
				if got := m.next(t); got != closed {
					t.Fatalf("%s got %+v, want %+v", m.id, got, closed)
				}
			}
			b.none(t)
			// Out of the room once told.
			if left := f.members.roomsOf(f.sockets["a"]); !slices.Equal(left, []string{"r2"}) {
				t.Fatalf("a's rooms after close: %v", left)
			}

			// Re-created under the same id: a fresh sequence from order 1.
			f.reader.mu.Lock()
			f.reader.messages["r1"] = []rooms.Message{}
			f.reader.mu.Unlock()
			c := f.member(t, "c", "carol", "r1")
			f.publishMessage(t, "r1", 1)
			f.publishMessage(t, "r1", 2)
			expectMessage(t, c, "r1", 1)
			expectMessage(t, c, "r1", 2)
			if delivery == DeliveryGlobal {
				for _, m := range []*fakeMember{a, b} {
					expectMessage(t, m, "r1", 1)
					expectMessage(t, m, "r1", 2)
				}
			}
			a.none(t)
			b.none(t)
			c.none(t)
		})
	}
}

func TestRegistryUsername(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1", "r2")
	f.member(t, "a", "alice", "r1")
	f.join(t, "a", "r2", "alicia")
	tests := []struct{ member, room, want string }{
		{"a", "r1", "alice"},
		{"a", "r2", "alicia"},
		{"a", "r3", "alicia"}, // last joined name
		{"nobody", "r1", ""},
	}
	for _, tt := range tests {
		if got := f.members.username(tt.member, tt.room); got != tt.want {
			t.Errorf("username(%s, %s) = %q, want %q", tt.member, tt.room, got, tt.want)
		}
	}
}

// brokerRecorder is a Subscriber keeping "room:kind" per envelope.
type brokerRecorder struct {
	got     []string
	resyncs int
}

func (r *brokerRecorder) Deliver(roomID string, env Envelope) {
	r.got = append(r.got, roomID+":"+string(env.Kind))
}
func (r *brokerRecorder) Resync()           { r.resyncs++ }
func (r *brokerRecorder) ResyncRoom(string) {}

func TestMemoryBroker(t *testing.T) {
	b := NewMemoryBroker()
	rec := &brokerRecorder{}
	unsubscribe, err := b.Subscribe(context.Background(), rec)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Publish(context.Background(), "r", Envelope{Kind: KindSync}); err != nil {
		t.Fatal(err)
	}
	b.Resync()
	unsubscribe()
	if err := b.Publish(context.Background(), "r", Envelope{Kind: KindClosed}); err != nil {
		t.Fatal(err)
	}
	b.Resync()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Publish(ctx, "r", Envelope{Kind: KindSync}); !errors.Is(err, context.Canceled) {
		t.Fatalf("publish on a cancelled context: %v", err)
	}
	if !slices.Equal(rec.got, []string{"r:sync"}) || rec.resyncs != 1 {
		t.Fatalf("got %v and %d resyncs, want [r:sync] and 1", rec.got, rec.resyncs)
	}
}

// Envelopes published while a node's broker subscription was down, or by a
// node that died between storing and publishing, never arrive: the hub must
// read those messages back from the store, in order, exactly once.
func TestHubCatchesUpFromTheStore(t *testing.T) {
	tests := []struct {
		name    string
		trigger func(t *testing.T, f *hubFixture)
		// the participant list is re-read after a resync, not after a sync
		participants bool
	}{
		{"resync after the broker reconnected", func(t *testing.T, f *hubFixture) { f.hub.Resync() }, true},
		{"sync envelope for a dead node's room", func(t *testing.T, f *hubFixture) { f.publish(t, "r1", Envelope{Kind: KindSync}) }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHubFixture(t, DeliveryRoom, "r1", "r2")
			a := f.member(t, "a", "alice", "r1")
			f.publishMessage(t, "r1", 1)
			f.reader.add("r1", msg(1), msg(2), msg(3)) // 2 and 3 stored, never published
			expectMessage(t, a, "r1", 1)

			tt.trigger(t, f)
			expectMessage(t, a, "r1", 2)
			expectMessage(t, a, "r1", 3)
			if tt.participants {
				if e := a.next(t); e.event != participantsEvent("r1") {
					t.Fatalf("after the messages: got %q, want the participant list", e.event)
				}
			}
			f.publishMessage(t, "r1", 3) // a late echo is a duplicate
			f.reader.add("r1", msg(4))
			f.publishMessage(t, "r1", 4)
			expectMessage(t, a, "r1", 4)
			a.none(t)
		})
	}
}

func TestHubResyncClosesRoomsClosedMeanwhile(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r1")
	a := f.member(t, "a", "alice", "r1")
	f.reader.mu.Lock()
	delete(f.reader.messages, "r1")
	f.reader.mu.Unlock()
	f.hub.Resync()
	if e := a.next(t); e.event != closedEvent("r1") {
		t.Fatalf("got %q, want the closed event", e.event)
	}
	a.none(t)
}

// In global delivery, messages of a room that nobody on this node joined or
// posted to (they come from another node) still reach every local socket,
// in order from the first one that arrived; in room delivery they are
// nobody's business here.
func TestHubRoomUnknownToThisNode(t *testing.T) {
	tests := []struct {
		delivery Delivery
		want     []int64
	}{
		{DeliveryGlobal, []int64{5, 6, 7}},
		{DeliveryRoom, nil},
	}
	for _, tt := range tests {
		t.Run(string(tt.delivery), func(t *testing.T) {
			f := newHubFixture(t, tt.delivery, "elsewhere")
			a := f.member(t, "a", "alice")
			for _, order := range []int64{5, 7, 6, 5} {
				f.publishMessage(t, "elsewhere", order)
			}
			for _, order := range tt.want {
				expectMessage(t, a, "elsewhere", order)
			}
			f.publish(t, "elsewhere", Envelope{Kind: KindParticipants})
			if tt.delivery == DeliveryGlobal {
				if e := a.next(t); e.event != participantsEvent("elsewhere") {
					t.Fatalf("got %q, want the participant list", e.event)
				}
			}
			a.none(t)
			f.hub.mu.Lock()
			_, tracked := f.hub.rooms["elsewhere"]
			f.hub.mu.Unlock()
			if tracked != (tt.delivery == DeliveryGlobal) {
				t.Fatalf("delivery state kept for a room nobody here is in: %v", tracked)
			}
		})
	}
}

// A socket that joins while the room's previous list delivery is starting
// gets a list: its join is coalesced into the delivery in flight, so that
// delivery must count it among its recipients. (The recipients used to be
// read before the queued list was taken, and such a joiner got no list at
// all: a restored 2.x page never saw who was in its room.)
func TestHubListReachesASocketJoiningAsAListGoesOut(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	// The hub reads its clock as a list delivery starts; the hook joins a
	// socket at that very moment, once armed. Installed before any
	// delivery runs, so no drain reads the field while it is set.
	var joinNow atomic.Pointer[func()]
	clock := f.g.hub.now
	f.g.hub.now = func() time.Time {
		if join := joinNow.Swap(nil); join != nil {
			(*join)()
		}
		return clock()
	}
	_, a := f.titiAndToto(t)
	x := f.connect(t, "X", "")
	join := func() {
		f.g.onParticipants(x, raw(t, map[string]string{"roomId": "r1", "username": "Tata", "avatar": participant("r1", "Tata", true).Avatar}))
	}
	joinNow.Store(&join)
	a.cut() // its leave sends the room's list; X joins as it goes out
	want := []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", false), participant("r1", "Tata", true)}
	if got := expectParticipants(t, x, "r1"); !slices.Equal(got, want) {
		t.Fatalf("joiner's list %+v, want %+v", got, want)
	}
	if joinNow.Load() != nil {
		t.Fatal("the hook never ran: the test did not exercise the race")
	}
}

// A room with more members than listBroadcastMax sends a changed list only
// to the sockets that joined; smaller rooms re-broadcast it to everyone.
func TestHubBigRoomListsGoToJoinersOnly(t *testing.T) {
	tests := []struct {
		name    string
		max     int
		senders []string // joiners of the coalesced changes; "" is a leave
		want    []string // members that get the list
	}{
		{"small room: everyone", 3, []string{"c"}, []string{"a", "b", "c"}},
		{"big room: the joiner", 2, []string{"c"}, []string{"c"}},
		{"big room: every joiner of a coalesced change", 2, []string{"a", "c", "a"}, []string{"a", "c"}},
		{"big room: a leave tells nobody", 2, []string{""}, nil},
		{"big room: a joiner on another node is not here", 2, []string{"elsewhere"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newHubFixture(t, DeliveryRoom, "r")
			f.hub.cfg.listBroadcastMax = tt.max
			members := map[string]*fakeMember{}
			for _, id := range []string{"a", "b", "c"} {
				members[id] = f.member(t, id, id, "r")
			}
			// Hold the room's drain while the changes queue, so they
			// coalesce into one delivery as they do under load.
			rm := f.hub.room("r", false)
			rm.out.mu.Lock()
			rm.out.draining = true
			rm.out.mu.Unlock()
			for _, s := range tt.senders {
				f.publish(t, "r", Envelope{Kind: KindParticipants, Sender: s})
			}
			rm.out.mu.Lock()
			rm.out.draining = false
			start := rm.out.claimDrainLocked()
			rm.out.mu.Unlock()
			if start {
				f.hub.startDrain(rm)
			}
			f.publishMessage(t, "r", 1) // marker: after the list in every queue
			for _, id := range []string{"a", "b", "c"} {
				m := members[id]
				if slices.Contains(tt.want, id) {
					if e := m.next(t); e.event != participantsEvent("r") {
						t.Fatalf("%s got %q, want the list", id, e.event)
					}
				}
				expectMessage(t, m, "r", 1)
				m.none(t)
			}
		})
	}
}

// A big room's lists are spaced by listInterval: the joiners of the
// interval get one list together when it ends.
func TestHubBigRoomListsAreSpaced(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "r")
	f.hub.cfg.listBroadcastMax = 1
	f.hub.cfg.listInterval = 50 * time.Millisecond
	a := f.member(t, "a", "a", "r")
	b := f.member(t, "b", "b", "r")
	c := f.member(t, "c", "c", "r")
	f.publish(t, "r", Envelope{Kind: KindParticipants, Sender: "a"})
	if e := a.next(t); e.event != participantsEvent("r") {
		t.Fatalf("a got %q, want its list at once", e.event)
	}
	f.publish(t, "r", Envelope{Kind: KindParticipants, Sender: "b"})
	f.publish(t, "r", Envelope{Kind: KindParticipants, Sender: "c"})
	b.none(t) // within the interval: held
	f.clock.Advance(f.hub.cfg.listInterval)
	for _, m := range []*fakeMember{b, c} {
		if e := m.next(t); e.event != participantsEvent("r") {
			t.Fatalf("%s got %q, want its list after the interval", m.id, e.event)
		}
	}
	a.none(t)
	b.none(t)
	c.none(t)
}

// In global delivery, many connected sockets make lists go to joiners only,
// but a room whose own list is short never makes its joiners wait.
func TestHubGlobalSmallRoomListsAreNotSpaced(t *testing.T) {
	f := newHubFixture(t, DeliveryGlobal, "r")
	f.hub.cfg.listBroadcastMax = 2
	f.hub.cfg.listInterval = time.Hour
	a := f.member(t, "a", "a", "r")
	b := f.member(t, "b", "b")
	c := f.member(t, "c", "c")
	for _, joiner := range []*fakeMember{a, a} { // the second within the interval
		f.publish(t, "r", Envelope{Kind: KindParticipants, Sender: joiner.id})
		if e := joiner.next(t); e.event != participantsEvent("r") {
			t.Fatalf("%s got %q, want its list at once", joiner.id, e.event)
		}
	}
	b.none(t)
	c.none(t)
}

// roomsOf is the room ids the socket is in, sorted.
func (r *registry) roomsOf(s *socketState) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(s.rooms))
	for _, mb := range s.rooms {
		out = append(out, mb.roomID)
	}
	slices.Sort(out)
	return out
}
