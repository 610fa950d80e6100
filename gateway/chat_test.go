package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// disconnected is what a fakeConn records when the server closes it.
const disconnected = "<server disconnect>"

// fakeConn is a socketio.Conn whose emits, broadcasts and server-side close
// land, in order, on one channel. Close runs the gateway's disconnect
// handler, as the engine does.
type fakeConn struct {
	*fakeMember
	session string
	header  http.Header
	g       *Gateway
	// protocol is the Engine.IO revision (3: socket.io-client 2.x).
	protocol int
	// pid and recovered are what the Socket.IO layer gives a v5 socket
	// with connection state recovery.
	pid       string
	recovered *restorePlan
	// auth and query are the v5 CONNECT payload and the handshake query.
	auth  []byte
	query url.Values

	mu     sync.Mutex
	closed bool
	value  any
}

func (c *fakeConn) SessionID() string { return c.session }
func (c *fakeConn) Namespace() string { return Namespace }
func (c *fakeConn) RemoteAddr() string {
	return "127.0.0.1:1"
}
func (c *fakeConn) Handshake() socketio.Handshake {
	return socketio.Handshake{Header: c.header, Protocol: c.protocol, Auth: c.auth, Query: c.query}
}
func (c *fakeConn) PID() string { return c.pid }
func (c *fakeConn) Recovered() (any, bool) {
	if c.recovered == nil {
		return nil, false
	}
	return c.recovered, true
}
func (c *fakeConn) Context() any     { c.mu.Lock(); defer c.mu.Unlock(); return c.value }
func (c *fakeConn) SetContext(v any) { c.mu.Lock(); c.value = v; c.mu.Unlock() }

func (c *fakeConn) Emit(event string, args ...any) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return socketio.ErrConnClosed
	}
	var arg any
	if len(args) > 0 {
		arg = args[0]
	}
	c.got <- sent{event: event, arg: arg}
	return nil
}

func (c *fakeConn) Send(b *socketio.Broadcast) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return socketio.ErrConnClosed
	}
	return c.fakeMember.Send(b)
}

func (c *fakeConn) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.got <- sent{event: disconnected}
	c.mu.Unlock()
	c.g.onDisconnect(c, socketio.ReasonServerNamespaceDisconnect)
	return nil
}

// leave is the client closing its socket on purpose.
func (c *fakeConn) leave() { c.drop(socketio.ReasonClientNamespaceDisconnect) }

// cut is the connection dropping (a network blip, a restart): the client
// will reconnect.
func (c *fakeConn) cut() { c.drop(engineio.ReasonTransportClose) }

func (c *fakeConn) drop(reason string) {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.g.onDisconnect(c, reason)
}

var fixedNow = time.Date(2026, 11, 26, 17, 19, 43, 607_000_000, time.UTC)

const fixedISO = "2026-11-26T17:19:43.607Z"

type gatewayFixture struct {
	g     *Gateway
	svc   *rooms.Service
	rec   *recorder
	clock *fakeClock
}

func newGatewayFixture(t *testing.T, delivery Delivery, opts ...func(*Config)) *gatewayFixture {
	t.Helper()
	return newGatewayFixtureOn(t, delivery, memstore.New(), opts...)
}

// openIdentity is the original's behaviour: any socket posts anywhere under
// any name.
func openIdentity(c *Config) { c.Identity = IdentityOpen }

func newGatewayFixtureOn(t *testing.T, delivery Delivery, store rooms.Store, opts ...func(*Config)) *gatewayFixture {
	t.Helper()
	return newGatewayFixtureWith(t, delivery, store, memstore.New(), nil, opts...)
}

// newGatewayFixtureWith is newGatewayFixtureOn with the session store and
// options for the rooms service.
func newGatewayFixtureWith(t *testing.T, delivery Delivery, store rooms.Store, sessions rooms.SessionStore, svcOpts []rooms.Option, opts ...func(*Config)) *gatewayFixture {
	t.Helper()
	svcOpts = append([]rooms.Option{rooms.WithClock(func() time.Time { return fixedNow }), rooms.WithMaxContentBytes(64)}, svcOpts...)
	svc := rooms.NewService(store, svcOpts...)
	f := &gatewayFixture{svc: svc, rec: newRecorder(), clock: &fakeClock{now: fixedNow}}
	cfg := Config{Delivery: delivery, RejoinGrace: time.Minute, RecoveryWindow: 2 * time.Minute, Sessions: sessions, ClaimWait: time.Hour}
	for _, o := range opts {
		o(&cfg)
	}
	g, err := New(context.Background(), svc, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	f.g = g
	f.g.now = f.clock.Now
	f.g.hub.setEncoder(f.rec.encode)
	f.g.cookieName = "io"
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := f.g.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return f
}

// connect opens a fake socket whose id is also its session id (socket.io 2),
// presenting cookie when not empty.
func (f *gatewayFixture) connect(t *testing.T, id, cookie string) *fakeConn {
	t.Helper()
	c := &fakeConn{fakeMember: newFakeMember(id, f.rec), session: id, header: http.Header{}, g: f.g, protocol: 3}
	if cookie != "" {
		c.header.Set("Cookie", "io="+cookie)
	}
	if err := f.g.onConnect(c); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

func (f *gatewayFixture) createRoom(t *testing.T, roomID string) {
	t.Helper()
	if err := f.svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: roomID, CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
}

func raw(t *testing.T, v any) json.RawMessage {
	t.Helper()
	if s, ok := v.(string); ok {
		return json.RawMessage(s)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func participant(room, username string, connected bool) rooms.Participant {
	return rooms.Participant{RoomID: room, Username: username, Avatar: "http://127.0.0.1:4200/avatar/" + strings.ToLower(username) + ".svg", Connected: connected}
}

// join sends "participants" and consumes the joiner's own list broadcast.
func (f *gatewayFixture) join(t *testing.T, c *fakeConn, roomID, username string) []rooms.Participant {
	t.Helper()
	f.g.onParticipants(c, raw(t, map[string]string{"roomId": roomID, "username": username, "avatar": participant(roomID, username, true).Avatar}))
	return expectParticipants(t, c, roomID)
}

func expectParticipants(t *testing.T, c *fakeConn, roomID string) []rooms.Participant {
	t.Helper()
	got := c.next(t)
	list, ok := got.arg.([]rooms.Participant)
	if got.event != "participants/"+roomID || !ok {
		t.Fatalf("%s: got %q %+v, want participants/%s", c.id, got.event, got.arg, roomID)
	}
	return clientView(list)
}

// clientView is a list as clients see it: SocketID and NodeID are not on
// the wire (json:"-").
func clientView(list []rooms.Participant) []rooms.Participant {
	out := slices.Clone(list)
	for i := range out {
		out[i].SocketID, out[i].NodeID = "", ""
	}
	return out
}

func expectSent(t *testing.T, c *fakeConn, want ...sent) {
	t.Helper()
	for _, w := range want {
		if got := c.next(t); !w.matches(got) {
			t.Fatalf("%s: got %q %+v, want %q %+v", c.id, got.event, got.arg, w.event, w.arg)
		}
	}
}

func exception(message string) sent {
	return sent{event: "exception", arg: Exception{Status: "error", Message: message}}
}

func TestParticipantsJoinAndRefusals(t *testing.T) {
	long := strings.Repeat("x", DefaultMaxFieldBytes+1)
	tests := []struct {
		name    string
		payload any
		want    []sent
	}{
		{"missing room", `{"roomId":"nope","username":"Intruder","avatar":"a"}`,
			[]sent{exception("The access is forbidden"), {event: disconnected}}},
		{"no room id", `{"username":"NoRoom"}`,
			[]sent{exception("The access is forbidden"), {event: disconnected}}},
		{"no username", `{"roomId":"r1"}`,
			[]sent{exception("username should not be empty"), {event: disconnected}}},
		{"room id not a string", `{"roomId":5,"username":"x"}`,
			[]sent{exception("roomId must be a string"), {event: disconnected}}},
		{"payload not an object", `"r1"`,
			[]sent{exception("payload must be an object"), {event: disconnected}}},
		{"no payload", ``,
			[]sent{exception("username should not be empty"), {event: disconnected}}},
		{"username too long", map[string]string{"roomId": "r1", "username": long},
			[]sent{exception(fmt.Sprintf("username must be shorter than or equal to %d bytes", DefaultMaxFieldBytes)), {event: disconnected}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryGlobal)
			f.createRoom(t, "r1")
			c := f.connect(t, "c", "")
			f.g.onParticipants(c, raw(t, tt.payload))
			expectSent(t, c, tt.want...)
			c.none(t)
		})
	}
}

func TestTranscriptScenario(t *testing.T) {
	// The WebSocket transcript of the original, step by step, in both
	// delivery modes, with the original's open identity (bound identity
	// refuses step 4, see TestIdentityBound).
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newGatewayFixture(t, delivery, openIdentity)
			const room = "ws-room"
			f.createRoom(t, room)
			a := f.connect(t, "A", "")
			obs := f.connect(t, "OBS", "")
			// outsiders: sockets that receive the room's events only in global mode
			outsiders := []*fakeConn{obs}
			forOutsiders := func(check func(c *fakeConn)) {
				if delivery == DeliveryGlobal {
					for _, c := range outsiders {
						check(c)
					}
				}
			}

			// 2. join
			want := []rooms.Participant{participant(room, "Toto", true)}
			if got := f.join(t, a, room, "Toto"); !slices.Equal(got, want) {
				t.Fatalf("participants: %+v", got)
			}
			forOutsiders(func(c *fakeConn) { expectParticipants(t, c, room) })

			// 3. exchanges with extra fields: stored with order 1, extras stripped
			f.g.onExchanges(a, raw(t, `{"roomId":"ws-room","username":"Toto","content":"hello from Toto","createdAt":"2021-03-01T10:00:00.000Z","avatar":"x","socketId":"forged","order":99,"extra":"field"}`))
			m1 := rooms.Message{Order: 1, Username: "Toto", Content: "hello from Toto", CreatedAt: "2021-03-01T10:00:00.000Z"}
			expectSent(t, a, sent{event: room, arg: m1})
			forOutsiders(func(c *fakeConn) { expectSent(t, c, sent{event: room, arg: m1}) })

			// 4. a socket that never joined may post; no createdAt: server time
			f.g.onExchanges(obs, raw(t, `{"roomId":"ws-room","username":"Ghost","content":"from a socket that never joined"}`))
			m2 := rooms.Message{Order: 2, Username: "Ghost", Content: "from a socket that never joined", CreatedAt: fixedISO}
			expectSent(t, a, sent{event: room, arg: m2})
			forOutsiders(func(c *fakeConn) { expectSent(t, c, sent{event: room, arg: m2}) })

			// 8. exchanges to a missing room: the sender alone, still connected
			d := f.connect(t, "D", "")
			outsiders = append(outsiders, d)
			f.g.onExchanges(d, raw(t, `{"roomId":"missing","username":"Nobody","content":"into the void"}`))
			expectSent(t, d, exception("Room with 'missing' not found"))

			// 10. B joins; A leaves: the list flips A's entry
			b := f.connect(t, "B", "")
			f.join(t, b, room, "Titi")
			expectParticipants(t, a, room)
			forOutsiders(func(c *fakeConn) { expectParticipants(t, c, room) })
			a.leave()
			want = []rooms.Participant{participant(room, "Toto", false), participant(room, "Titi", true)}
			if got := expectParticipants(t, b, room); !slices.Equal(got, want) {
				t.Fatalf("after A left: %+v", got)
			}
			forOutsiders(func(c *fakeConn) { expectParticipants(t, c, room) })

			// 11. re-join from a new socket, same username. The original
			// appended a second Toto entry (entries were per socket); here
			// there is one entry per username, so Toto's is connected
			// again, in its place (README, compatibility).
			a2 := f.connect(t, "A2", "")
			want = []rooms.Participant{participant(room, "Toto", true), participant(room, "Titi", true)}
			if got := f.join(t, a2, room, "Toto"); !slices.Equal(got, want) {
				t.Fatalf("after re-join: %+v", got)
			}
			expectParticipants(t, b, room)
			forOutsiders(func(c *fakeConn) { expectParticipants(t, c, room) })

			// 12. closed over REST: members told, then posts fail
			if err := f.svc.CloseRoom(context.Background(), room); err != nil {
				t.Fatal(err)
			}
			closed := sent{event: "closed/" + room, arg: RoomClosedEvent{RoomID: room}}
			expectSent(t, b, closed)
			expectSent(t, a2, closed)
			forOutsiders(func(c *fakeConn) { expectSent(t, c, closed) })
			f.g.onExchanges(b, raw(t, `{"roomId":"ws-room","username":"Titi","content":"after delete"}`))
			expectSent(t, b, exception("Room with 'ws-room' not found"))
			b.leave()

			// 13. the original's crash: re-created, then a member of the old
			// room leaves. Nothing is broadcast, and the new room is clean.
			f.createRoom(t, room)
			a2.leave()
			e := f.connect(t, "E", "")
			if got := f.join(t, e, room, "Eve"); !slices.Equal(got, []rooms.Participant{participant(room, "Eve", true)}) {
				t.Fatalf("new room participants: %+v", got)
			}
			forOutsiders(func(c *fakeConn) { expectParticipants(t, c, room) })
			f.g.onExchanges(e, raw(t, `{"roomId":"ws-room","username":"Eve","content":"fresh","createdAt":"t"}`))
			fresh := sent{event: room, arg: rooms.Message{Order: 1, Username: "Eve", Content: "fresh", CreatedAt: "t"}}
			expectSent(t, e, fresh)
			forOutsiders(func(c *fakeConn) { expectSent(t, c, fresh) })
			// e got the last event of the room pipeline, so every earlier
			// event reached everyone it was going to.
			for _, c := range []*fakeConn{a, obs, b, d, a2, e} {
				c.none(t)
			}
		})
	}
}

func TestExchangesRefusals(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		want    string
	}{
		{"missing room", `{"roomId":"nope","username":"u","content":"c"}`, "Room with 'nope' not found"},
		{"no room id", `{"username":"u","content":"c"}`, "roomId should not be empty"},
		{"no content", `{"roomId":"r1","username":"u"}`, "content should not be empty"},
		{"content too long", `{"roomId":"r1","username":"u","content":"` + strings.Repeat("é", 33) + `"}`, "content must be shorter than or equal to 64 bytes"},
		{"every field missing", `{}`, "roomId should not be empty; username should not be empty; content should not be empty"},
		{"createdAt not a string", `{"roomId":"r1","username":"u","content":"c","createdAt":5}`, "createdAt must be a string"},
		{"array payload", `[1]`, "payload must be an object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom, openIdentity)
			f.createRoom(t, "r1")
			c := f.connect(t, "c", "")
			f.join(t, c, "r1", "u")
			f.g.onExchanges(c, raw(t, tt.payload))
			expectSent(t, c, exception(tt.want))
			// Still connected and nothing stored: the next post is order 1.
			f.g.onExchanges(c, raw(t, `{"roomId":"r1","username":"u","content":"ok","createdAt":"t"}`))
			expectSent(t, c, sent{event: "r1", arg: rooms.Message{Order: 1, Username: "u", Content: "ok", CreatedAt: "t"}})
			c.none(t)
		})
	}
}

func TestChatAndMessagesAcks(t *testing.T) {
	stored := func(order int64, username, content string) any {
		return rooms.Message{Order: order, Username: username, Content: content, CreatedAt: fixedISO}
	}
	tests := []struct {
		name    string
		event   string // "chat" or "messages"
		payload string
		want    any
	}{
		{"chat", "chat", `{"roomId":"r1","content":"hi","username":"Zed"}`, stored(1, "Zed", "hi")},
		{"chat defaults to the joined username", "chat", `{"roomId":"r1","content":"hi"}`, stored(1, "alice", "hi")},
		{"chat to a room not joined uses the last joined name", "chat", `{"roomId":"r2","content":"hi"}`, stored(1, "alice", "hi")},
		{"chat missing room", "chat", `{"roomId":"nope","content":"hi"}`, AckError{Code: "room.not-fond", Message: "Room with 'nope' not found"}},
		{"chat without content", "chat", `{"roomId":"r1"}`, AckError{Code: "req-params.validation", Message: "content should not be empty"}},
		{"chat bad payload", "chat", `"x"`, AckError{Code: "req-params.validation", Message: "payload must be an object"}},
		{"group", "messages", `{"type":"group","roomId":"r1","content":"hi"}`, stored(1, "alice", "hi")},
		{"group missing room", "messages", `{"type":"group","roomId":"nope","content":"hi"}`, AckError{Code: "room.not-fond", Message: "Room with 'nope' not found"}},
		{"unsupported type", "messages", `{"type":"broadcast","roomId":"r1","content":"hi"}`, AckError{Code: "messages.unsupported-type", Message: "Unsupported message type 'broadcast'"}},
		{"no type", "messages", `{"roomId":"r1","content":"hi"}`, AckError{Code: "req-params.validation", Message: "type should not be empty"}},
		{"type not a string", "messages", `{"type":1}`, AckError{Code: "req-params.validation", Message: "type must be a string"}},
		{"direct to unknown recipient", "messages", `{"type":"direct","roomId":"r1","to":"nobody","content":"hi"}`, AckError{Code: "messages.unknown-recipient", Message: "No participant 'nobody' in room 'r1'"}},
		{"direct to missing room", "messages", `{"type":"direct","roomId":"nope","to":"bob","content":"hi"}`, AckError{Code: "room.not-fond", Message: "Room with 'nope' not found"}},
		{"direct without to", "messages", `{"type":"direct","roomId":"r1","content":"hi"}`, AckError{Code: "req-params.validation", Message: "to should not be empty"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom, openIdentity)
			f.createRoom(t, "r1")
			f.createRoom(t, "r2")
			c := f.connect(t, "c", "")
			f.join(t, c, "r1", "alice")
			var got any
			if tt.event == "chat" {
				got = f.g.onChat(c, raw(t, tt.payload))
			} else {
				got = f.g.onMessages(c, raw(t, tt.payload))
			}
			if got != tt.want {
				t.Fatalf("ack %+v, want %+v", got, tt.want)
			}
			if m, ok := got.(rooms.Message); ok && strings.Contains(tt.payload, `"r1"`) {
				expectSent(t, c, sent{event: "r1", arg: m})
			}
		})
	}
}

func TestChatWithoutAnyUsername(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom, openIdentity)
	f.createRoom(t, "r1")
	c := f.connect(t, "c", "")
	got := f.g.onChat(c, raw(t, `{"roomId":"r1","content":"hi"}`))
	want := AckError{Code: "req-params.validation", Message: "username should not be empty"}
	if got != want {
		t.Fatalf("ack %+v, want %+v", got, want)
	}
}

func TestDirectMessage(t *testing.T) {
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newGatewayFixture(t, delivery)
			f.createRoom(t, "r1")
			// Each connects just before joining, so in both modes the earlier
			// sockets get exactly one list per later join.
			alice := f.connect(t, "alice", "")
			f.join(t, alice, "r1", "alice")
			bob := f.connect(t, "bob", "")
			f.join(t, bob, "r1", "bob")
			expectParticipants(t, alice, "r1")
			carol := f.connect(t, "carol", "")
			f.join(t, carol, "r1", "carol")
			expectParticipants(t, alice, "r1")
			expectParticipants(t, bob, "r1")

			got := f.g.onMessages(alice, raw(t, `{"type":"direct","roomId":"r1","to":"bob","content":"psst"}`))
			want := DirectMessage{Type: "direct", RoomID: "r1", From: "alice", To: "bob", Content: "psst"}
			dm, ok := got.(DirectMessage)
			if !ok {
				t.Fatalf("ack %+v", got)
			}
			if dm.CreatedAt != fixedISO {
				t.Fatalf("createdAt %q, want the server's time %q", dm.CreatedAt, fixedISO)
			}
			want.CreatedAt = dm.CreatedAt
			if dm != want {
				t.Fatalf("ack %+v, want %+v", dm, want)
			}
			expectSent(t, bob, sent{event: "messages", arg: want})
			expectSent(t, alice, sent{event: "messages", arg: want})
			// Not stored: the next message is order 1; it is also the marker
			// proving carol was skipped.
			f.g.onExchanges(carol, raw(t, `{"roomId":"r1","username":"carol","content":"x","createdAt":"t"}`))
			m1 := sent{event: "r1", arg: rooms.Message{Order: 1, Username: "carol", Content: "x", CreatedAt: "t"}}
			for _, c := range []*fakeConn{carol, alice, bob} {
				expectSent(t, c, m1)
				c.none(t)
			}
		})
	}
}

// TestConcurrentSenders: 20 sockets post at once into one room; every member
// sees orders 1..N exactly once, in order. Run with -race -count=20.
func TestConcurrentSenders(t *testing.T) {
	const senders, perSender = 20, 10
	const total = senders * perSender
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			f := newGatewayFixture(t, delivery)
			f.createRoom(t, "r1")
			var members []*fakeConn
			for i := range senders {
				c := f.connect(t, fmt.Sprintf("s%d", i), "")
				f.g.onParticipants(c, raw(t, map[string]string{"roomId": "r1", "username": fmt.Sprintf("user%d", i)}))
				members = append(members, c)
			}
			// Drain the join broadcasts: each member gets one list per join
			// made after it, possibly coalesced; skip lists until messages.
			var wg sync.WaitGroup
			acks := make(chan any, total)
			for _, c := range members {
				wg.Go(func() {
					for j := range perSender {
						acks <- f.g.onChat(c, raw(t, fmt.Sprintf(`{"roomId":"r1","content":"%s-%d"}`, c.id, j)))
					}
				})
			}
			wg.Wait()
			close(acks)
			seen := make(map[int64]bool)
			for a := range acks {
				m, ok := a.(rooms.Message)
				if !ok || seen[m.Order] {
					t.Fatalf("ack %+v (duplicate order: %v)", a, seen[m.Order])
				}
				seen[m.Order] = true
			}
			for _, c := range members {
				next := int64(1)
				for next <= total {
					got := c.next(t)
					if strings.HasPrefix(got.event, "participants/") {
						continue
					}
					m, ok := got.arg.(rooms.Message)
					if got.event != "r1" || !ok || m.Order != next {
						t.Fatalf("%s: got %q %+v, want order %d", c.id, got.event, got.arg, next)
					}
					next++
				}
			}
		})
	}
}

// outageStore fails every call with a storage fault while down is set.
type outageStore struct {
	rooms.Store
	down atomic.Bool
}

var errRedisDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

func (s *outageStore) fault() error {
	if s.down.Load() {
		return rooms.Unavailable(errRedisDown)
	}
	return nil
}

func (s *outageStore) AppendMessage(ctx context.Context, roomID string, m rooms.NewMessage) (rooms.Message, error) {
	if err := s.fault(); err != nil {
		return rooms.Message{}, err
	}
	return s.Store.AppendMessage(ctx, roomID, m)
}

func (s *outageStore) LastOrder(ctx context.Context, roomID string) (int64, error) {
	if err := s.fault(); err != nil {
		return 0, err
	}
	return s.Store.LastOrder(ctx, roomID)
}

func (s *outageStore) UpsertParticipant(ctx context.Context, p rooms.Participant, limits rooms.ParticipantLimits) error {
	if err := s.fault(); err != nil {
		return err
	}
	return s.Store.UpsertParticipant(ctx, p, limits)
}

func (s *outageStore) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	if err := s.fault(); err != nil {
		return nil, err
	}
	return s.Store.Participants(ctx, roomID)
}

// While the store is unreachable every socket event gets a clear error, the
// socket stays connected, and it works again once the store is back.
func TestStoreOutage(t *testing.T) {
	const text = "The storage is unavailable, retry later"
	store := &outageStore{Store: memstore.New()}
	f := newGatewayFixtureOn(t, DeliveryRoom, store)
	f.createRoom(t, "r1")
	f.createRoom(t, "r2")
	c := f.connect(t, "c", "")
	f.join(t, c, "r1", "alice")

	store.down.Store(true)
	tests := []struct {
		name string
		send func() any // returns the ack, nil for events without one
		want []sent
		ack  any
	}{
		{"chat", func() any { return f.g.onChat(c, raw(t, `{"roomId":"r1","content":"hi"}`)) }, nil,
			AckError{Code: rooms.CodeUnavailable, Message: text}},
		{"messages group", func() any { return f.g.onMessages(c, raw(t, `{"type":"group","roomId":"r1","content":"hi"}`)) }, nil,
			AckError{Code: rooms.CodeUnavailable, Message: text}},
		{"exchanges", func() any {
			f.g.onExchanges(c, raw(t, `{"roomId":"r1","username":"alice","content":"hi"}`))
			return nil
		}, []sent{exception(text)}, nil},
		{"participants keeps the socket", func() any {
			f.g.onParticipants(c, raw(t, `{"roomId":"r2","username":"alice"}`))
			return nil
		}, []sent{exception(text)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.send(); got != tt.ack {
				t.Fatalf("ack %+v, want %+v", got, tt.ack)
			}
			expectSent(t, c, tt.want...)
			c.none(t)
		})
	}

	store.down.Store(false)
	ack := f.g.onChat(c, raw(t, `{"roomId":"r1","content":"back"}`))
	want := rooms.Message{Order: 1, Username: "alice", Content: "back", CreatedAt: fixedISO}
	if ack != want {
		t.Fatalf("after the outage: ack %+v, want %+v", ack, want)
	}
	expectSent(t, c, sent{event: "r1", arg: want})
}
