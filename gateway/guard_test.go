package gateway

import (
	"context"
	"errors"
	"net/url"
	"testing"

	"chatgateway/rooms"
)

func TestIdentityBound(t *testing.T) {
	notJoined := func(room string) AckError {
		return AckError{Code: CodeNotJoined, Message: "This socket has not joined room '" + room + "'"}
	}
	mismatch := AckError{Code: CodeIdentityMismatch, Message: "This socket joined room 'r1' as 'alice', not 'mallory'"}
	stored := rooms.Message{Order: 1, Username: "alice", Content: "hi", CreatedAt: fixedISO}
	tests := []struct {
		name  string
		event string // exchanges (answers with an exception), chat, messages
		from  string // "alice" (joined r1 as alice) or "outsider" (joined nothing)
		body  string
		want  any // an AckError, a stored message, or a DirectMessage's From
	}{
		{"exchanges from a socket that never joined", "exchanges", "outsider", `{"roomId":"r1","username":"alice","content":"hi","createdAt":"t"}`, notJoined("r1")},
		{"exchanges as someone else", "exchanges", "alice", `{"roomId":"r1","username":"mallory","content":"hi","createdAt":"t"}`, mismatch},
		{"exchanges into a room not joined", "exchanges", "alice", `{"roomId":"r2","username":"alice","content":"hi","createdAt":"t"}`, notJoined("r2")},
		{"exchanges into a room that does not exist", "exchanges", "outsider", `{"roomId":"nope","username":"alice","content":"hi","createdAt":"t"}`,
			AckError{Message: "Room with 'nope' not found"}}, // the original's exception: no code
		{"exchanges as itself", "exchanges", "alice", `{"roomId":"r1","username":"alice","content":"hi","createdAt":"t"}`,
			rooms.Message{Order: 1, Username: "alice", Content: "hi", CreatedAt: "t"}},
		{"chat from a socket that never joined", "chat", "outsider", `{"roomId":"r1","content":"hi"}`, notJoined("r1")},
		{"chat as someone else", "chat", "alice", `{"roomId":"r1","content":"hi","username":"mallory"}`, mismatch},
		{"chat without a name uses the joined one", "chat", "alice", `{"roomId":"r1","content":"hi"}`, stored},
		{"chat naming itself", "chat", "alice", `{"roomId":"r1","content":"hi","username":"alice"}`, stored},
		{"group message as someone else", "messages", "alice", `{"type":"group","roomId":"r1","content":"hi","username":"mallory"}`, mismatch},
		{"direct message from outside the room", "messages", "outsider", `{"type":"direct","roomId":"r1","to":"bob","content":"psst"}`, notJoined("r1")},
		{"forged direct message", "messages", "alice", `{"type":"direct","roomId":"r1","to":"bob","content":"psst","username":"mallory"}`, mismatch},
		{"direct message from the joined name", "messages", "alice", `{"type":"direct","roomId":"r1","to":"bob","content":"psst"}`, "alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom)
			f.createRoom(t, "r1")
			f.createRoom(t, "r2")
			bob := f.connect(t, "bob", "")
			f.join(t, bob, "r1", "bob")
			alice := f.connect(t, "alice", "")
			f.join(t, alice, "r1", "alice")
			expectParticipants(t, bob, "r1")
			c := alice
			if tt.from == "outsider" {
				c = f.connect(t, "outsider", "")
			}
			var got any
			switch tt.event {
			case "exchanges":
				f.g.onExchanges(c, raw(t, tt.body))
				e := c.next(t)
				switch ex := e.arg.(type) {
				case Exception:
					got = AckError{Code: ex.Code, Message: ex.Message}
				case rooms.Message:
					got = ex
				}
			case "chat":
				got = f.g.onChat(c, raw(t, tt.body))
			default:
				got = f.g.onMessages(c, raw(t, tt.body))
			}
			if dm, ok := got.(DirectMessage); ok {
				got = dm.From
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			// A refusal stores nothing: the next message is order 1.
			if _, refused := tt.want.(AckError); refused {
				m := f.postMarker(t, "r1")
				if m.Order != 1 {
					t.Fatalf("a refused post was stored: the next order is %d", m.Order)
				}
			}
		})
	}
}

// A restored socket speaks under the name it had.
func TestIdentityBoundAfterRestore(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r1")
	a := f.connect(t, "A", "")
	f.join(t, a, "r1", "Toto")
	a.cut()
	n := f.connect(t, "N", "A")
	expectParticipants(t, n, "r1")
	if got := f.g.onChat(n, raw(t, `{"roomId":"r1","content":"hi","username":"Titi"}`)); got != (AckError{Code: CodeIdentityMismatch, Message: "This socket joined room 'r1' as 'Toto', not 'Titi'"}) {
		t.Fatalf("impersonation after a restore: %+v", got)
	}
	if got, ok := f.g.onChat(n, raw(t, `{"roomId":"r1","content":"hi"}`)).(rooms.Message); !ok || got.Username != "Toto" {
		t.Fatalf("post after a restore: %+v", got)
	}
}

func TestEventRateLimit(t *testing.T) {
	// One token per 1000 s: after the burst nothing refills during the test.
	f := newGatewayFixture(t, DeliveryRoom, func(c *Config) { c.EventRate, c.EventBurst = 0.001, 3 })
	f.createRoom(t, "r1")
	c := f.connect(t, "c", "")
	f.join(t, c, "r1", "alice") // 1
	for i := range 2 {          // 2, 3
		if _, ok := f.g.onChat(c, raw(t, `{"roomId":"r1","content":"hi"}`)).(rooms.Message); !ok {
			t.Fatalf("chat %d within the burst refused", i)
		}
		c.next(t)
	}
	limited := func(got any) bool {
		e, ok := got.(AckError)
		return ok && e.Code == CodeRateLimited
	}
	if got := f.g.onChat(c, raw(t, `{"roomId":"r1","content":"hi"}`)); !limited(got) {
		t.Fatalf("chat over the budget: %+v", got)
	}
	if got := f.g.onMessages(c, raw(t, `{"type":"group","roomId":"r1","content":"hi"}`)); !limited(got) {
		t.Fatalf("messages over the budget: %+v", got)
	}
	f.g.onExchanges(c, raw(t, `{"roomId":"r1","username":"alice","content":"hi"}`))
	if e := c.next(t); e.event != exceptionEvent || e.arg.(Exception).Code != CodeRateLimited {
		t.Fatalf("exchanges over the budget: %+v", e)
	}
	f.g.onParticipants(c, raw(t, `{"roomId":"r1","username":"alice"}`))
	if e := c.next(t); e.event != exceptionEvent || e.arg.(Exception).Code != CodeRateLimited {
		t.Fatalf("participants over the budget: %+v", e)
	}
	// Refused, not disconnected, and nothing stored: the next post is 3.
	c.none(t)
	if m := f.postMarker(t, "r1"); m.Order != 3 {
		t.Fatalf("next order %d, want 3 (two accepted posts)", m.Order)
	}
	// Other sockets have budgets of their own.
	other := f.connect(t, "other", "")
	for i := range 3 {
		if err := f.g.admit(socketOf(other)); err != nil {
			t.Fatalf("another socket's event %d: %v", i, err)
		}
	}
}

func TestMaxRoomsPerSocket(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom, func(c *Config) { c.MaxRoomsPerSocket = 2 })
	for _, r := range []string{"r1", "r2", "r3"} {
		f.createRoom(t, r)
	}
	c := f.connect(t, "c", "")
	f.join(t, c, "r1", "alice")
	f.join(t, c, "r2", "alice")
	f.g.onParticipants(c, raw(t, `{"roomId":"r3","username":"alice"}`))
	if e := c.next(t); e.event != exceptionEvent || e.arg.(Exception).Code != CodeTooManyRooms {
		t.Fatalf("third room: %+v", e)
	}
	// Still connected, and joining a room it is in again is no new room.
	f.join(t, c, "r1", "alice")
	c.none(t)
}

type fakeAuth map[string]string

func (a fakeAuth) Authenticate(token string) (string, error) {
	if user, ok := a[token]; ok {
		return user, nil
	}
	return "", errors.New("bad signature")
}

func TestAuthentication(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom, func(c *Config) { c.Auth = fakeAuth{"token-alice": "alice"} })
	f.createRoom(t, "r1")
	connect := func(id string, auth string, query url.Values) error {
		c := &fakeConn{fakeMember: newFakeMember(id, f.rec), session: id, g: f.g, protocol: 4, auth: []byte(auth), query: query}
		return f.g.onConnect(c)
	}
	unauthorized := func(err error) bool {
		var e *rooms.Error
		return errors.As(err, &e) && e.Code == CodeUnauthorized
	}
	for _, tc := range []struct {
		name  string
		auth  string
		query url.Values
		ok    bool
	}{
		{"no token", "", nil, false},
		{"bad token", `{"token":"forged"}`, nil, false},
		{"token in the auth payload", `{"token":"token-alice"}`, nil, true},
		{"token in the query (socket.io-client 2.x)", "", url.Values{"token": {"token-alice"}}, true},
	} {
		err := connect("c-"+tc.name, tc.auth, tc.query)
		if tc.ok != (err == nil) || (!tc.ok && !unauthorized(err)) {
			t.Errorf("%s: connect = %v, want ok %v", tc.name, err, tc.ok)
		}
	}
	c := &fakeConn{fakeMember: newFakeMember("c", f.rec), session: "c", g: f.g, protocol: 4, auth: []byte(`{"token":"token-alice"}`)}
	if err := f.g.onConnect(c); err != nil {
		t.Fatal(err)
	}
	f.g.onParticipants(c, raw(t, `{"roomId":"r1","username":"mallory"}`))
	if e := c.next(t); e.event != exceptionEvent || e.arg.(Exception).Code != CodeIdentityMismatch {
		t.Fatalf("join under another name: %+v", e)
	}
	f.join(t, c, "r1", "alice")
	if got := f.g.onChat(c, raw(t, `{"roomId":"r1","content":"hi","username":"mallory"}`)); got.(AckError).Code != CodeIdentityMismatch {
		t.Fatalf("post under another name: %+v", got)
	}
}

func TestFreeIdleRooms(t *testing.T) {
	f := newHubFixture(t, DeliveryRoom, "used", "idle", "recent")
	f.member(t, "a", "alice", "used")
	for _, r := range []string{"idle", "recent"} {
		if _, err := f.hub.prepare(context.Background(), r); err != nil {
			t.Fatal(err)
		}
	}
	f.clock.Advance(2 * roomIdleAfter)
	if _, err := f.hub.prepare(context.Background(), "recent"); err != nil { // a post: active again
		t.Fatal(err)
	}
	if n := f.hub.freeIdleRooms(f.clock.Now().Add(-roomIdleAfter)); n != 1 {
		t.Fatalf("freed %d rooms, want 1 (idle)", n)
	}
	for room, kept := range map[string]bool{"used": true, "idle": false, "recent": true} {
		if got := f.hub.room(room, false) != nil; got != kept {
			t.Errorf("room %s kept = %v, want %v", room, got, kept)
		}
	}
	// A freed room starts again from the store on its next use.
	f.reader.add("idle", msg(1), msg(2))
	b := f.member(t, "b", "bob", "idle")
	f.reader.add("idle", msg(3))
	f.publishMessage(t, "idle", 3)
	expectMessage(t, b, "idle", 3)
}

// A 2.x client whose claim waits for its previous session (still live, as
// when its connection died unnoticed) posts into that session's rooms under
// that session's name meanwhile: the original frontend types at once.
func TestPendingClaimantSpeaksUnderTheClaimedName(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r1")
	f.createRoom(t, "r2")
	a := f.connect(t, "A", "")
	f.join(t, a, "r1", "Toto")
	n := f.connect(t, "N", "A") // A still live: the claim waits
	got, ok := f.g.onChat(n, raw(t, `{"roomId":"r1","content":"typed at once"}`)).(rooms.Message)
	if !ok || got.Username != "Toto" {
		t.Fatalf("post of the waiting claimant: %+v", got)
	}
	if ack := f.g.onChat(n, raw(t, `{"roomId":"r1","content":"x","username":"Titi"}`)); ack.(AckError).Code != CodeIdentityMismatch {
		t.Fatalf("under another name: %+v", ack)
	}
	if ack := f.g.onChat(n, raw(t, `{"roomId":"r2","content":"x"}`)); ack.(AckError).Code != CodeNotJoined {
		t.Fatalf("into a room of no session of its: %+v", ack)
	}
}
