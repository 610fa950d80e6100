package gateway

import (
	"context"
	"net/http"
	"slices"
	"strconv"
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

// connectV5 opens a fake socket.io-client 4.x socket with connection state
// recovery: a fresh socket id and private id.
func (f *gatewayFixture) connectV5(t *testing.T, id, pid string) *fakeConn {
	t.Helper()
	c := &fakeConn{fakeMember: newFakeMember(id, f.rec), session: "eio-" + id, header: http.Header{}, g: f.g, protocol: 4, pid: pid}
	if err := f.g.onConnect(c); err != nil {
		t.Fatalf("connect %s: %v", id, err)
	}
	return c
}

// recoverV5 is a v5 client reconnecting with {pid, offset}: what the
// Socket.IO layer does with the gateway's recovery handler. It returns the
// socket and whether it was recovered.
func (f *gatewayFixture) recoverV5(t *testing.T, pid, offset string, hasOffset bool) (*fakeConn, bool) {
	t.Helper()
	granted, ok := f.g.onRecover(socketio.RecoveryRequest{PID: pid, Offset: offset, HasOffset: hasOffset})
	if !ok {
		return f.connectV5(t, "fresh-"+pid, "fresh-pid-"+pid), false
	}
	c := &fakeConn{fakeMember: newFakeMember(granted.SocketID, f.rec), session: "eio-again-" + pid, header: http.Header{}, g: f.g, protocol: 4, pid: pid, recovered: granted.State.(*restorePlan)}
	if err := f.g.onConnect(c); err != nil {
		t.Fatalf("connect %s: %v", granted.SocketID, err)
	}
	return c, true
}

// post stores and delivers a message through b, consuming b's own copy.
func (f *gatewayFixture) post(t *testing.T, b *fakeConn, roomID, content string) rooms.Message {
	t.Helper()
	ack := f.g.onChat(b, raw(t, map[string]string{"roomId": roomID, "content": content}))
	m, ok := ack.(rooms.Message)
	if !ok {
		t.Fatalf("chat ack %+v", ack)
	}
	expectSent(t, b, sent{event: roomID, arg: m})
	return m
}

func expectMessages(t *testing.T, c *fakeConn, roomID string, want ...rooms.Message) {
	t.Helper()
	for _, m := range want {
		expectSent(t, c, sent{event: roomID, arg: m})
	}
}

// awaitList reads c's events until the room's list equals want; lists of
// changes made close together may be coalesced into one, so a test waits
// for the state rather than counting lists. Anything else fails.
func awaitList(t *testing.T, c *fakeConn, roomID string, want []rooms.Participant) {
	t.Helper()
	for {
		if got := expectParticipants(t, c, roomID); slices.Equal(got, want) {
			return
		}
	}
}

// expectMessagesAmidLists expects the room's messages in order, and skips
// the room's participant lists wherever they come; it returns the last
// list it skipped (nil for none).
func expectMessagesAmidLists(t *testing.T, c *fakeConn, roomID string, want ...rooms.Message) (lastList []rooms.Participant) {
	t.Helper()
	for i := 0; i < len(want); {
		got := c.next(t)
		if got.event == participantsEvent(roomID) {
			lastList = clientView(got.arg.([]rooms.Participant))
			continue
		}
		if w := (sent{event: roomID, arg: want[i]}); !w.matches(got) {
			t.Fatalf("%s: got %q %+v, want %q %+v", c.id, got.event, got.arg, w.event, w.arg)
		}
		i++
	}
	return lastList
}

// expectLists expects one participant list of each room, in any order.
func expectLists(t *testing.T, c *fakeConn, roomIDs ...string) {
	t.Helper()
	var got []string
	for range roomIDs {
		e := c.next(t)
		got = append(got, e.event)
	}
	slices.Sort(got)
	var want []string
	for _, r := range roomIDs {
		want = append(want, participantsEvent(r))
	}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%s: got %v, want the lists %v", c.id, got, want)
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	return []byte(raw(t, v))
}

// expectRoomMessages expects, per room, exactly these messages in this
// order, and one participant list of each room in listsOf, anywhere; rooms
// interleave (each has its own pipeline).
func expectRoomMessages(t *testing.T, c *fakeConn, want map[string][]rooms.Message, listsOf ...string) {
	t.Helper()
	total := len(listsOf)
	for _, ms := range want {
		total += len(ms)
	}
	got := map[string][]rooms.Message{}
	var lists []string
	for range total {
		e := c.next(t)
		if _, ok := e.arg.([]rooms.Participant); ok {
			lists = append(lists, strings.TrimPrefix(e.event, "participants/"))
			continue
		}
		m, ok := e.arg.(rooms.Message)
		if !ok {
			t.Fatalf("%s: got %q %+v, want a room message", c.id, e.event, e.arg)
		}
		got[e.event] = append(got[e.event], m)
	}
	slices.Sort(lists)
	if !slices.Equal(lists, slices.Sorted(slices.Values(listsOf))) {
		t.Fatalf("%s: lists of %v, want of %v", c.id, lists, listsOf)
	}
	for room, ms := range want {
		if !slices.Equal(got[room], ms) {
			t.Fatalf("%s: room %s messages %+v, want %+v", c.id, room, got[room], ms)
		}
	}
}

// cutSeen drops a's connection and waits until observer b got the lists of
// a's departure from roomIDs: a list is read as it goes out, so one still
// in flight could also reach a socket restored meanwhile, and tests that
// count lists would see one more.
func cutSeen(t *testing.T, a, b *fakeConn, roomIDs ...string) {
	t.Helper()
	a.cut()
	expectLists(t, b, roomIDs...)
}

func TestRestore2x(t *testing.T) {
	tests := []struct {
		name string
		// setup runs after A (rooms r1, r2) and observer B (r1, r2) joined;
		// it returns the cookie the reconnecting client presents.
		setup        func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string
		wantRestored []string
	}{
		{"departed within the grace", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			f.clock.Advance(59 * time.Second)
			return "A"
		}, []string{"r1", "r2"}},
		{"departed after the grace", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			f.clock.Advance(61 * time.Second)
			return "A"
		}, nil},
		{"unknown session", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			return "nobody"
		}, nil},
		{"no cookie", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			return ""
		}, nil},
		{"room closed meanwhile", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			if err := f.svc.CloseRoom(context.Background(), "r1"); err != nil {
				t.Fatal(err)
			}
			return "A"
		}, []string{"r2"}},
		{"the client left on purpose", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			a.leave()
			expectLists(t, b, "r1", "r2")
			return "A"
		}, nil},
		{"granted once", func(t *testing.T, f *gatewayFixture, a, b *fakeConn) string {
			cutSeen(t, a, b, "r1", "r2")
			first := f.connect(t, "first", "A")
			expectLists(t, first, "r1", "r2")
			return "A"
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom)
			f.createRoom(t, "r1")
			f.createRoom(t, "r2")
			b := f.connect(t, "B", "")
			f.join(t, b, "r1", "Titi")
			f.join(t, b, "r2", "Titi")
			a := f.connect(t, "A", "")
			f.join(t, a, "r1", "Toto")
			f.join(t, a, "r2", "Toto")
			expectLists(t, b, "r1", "r2") // A's joins
			cookie := tt.setup(t, f, a, b)
			n := f.connect(t, "N", cookie)
			// A restored room sends its list to the room, as a join does;
			// rooms have their own pipelines, so the lists come in any order.
			lists := map[string][]rooms.Participant{}
			for range tt.wantRestored {
				e := n.next(t)
				list, _ := e.arg.([]rooms.Participant)
				lists[e.event] = list
			}
			for _, room := range tt.wantRestored {
				want := []rooms.Participant{participant(room, "Titi", true), participant(room, "Toto", true)}
				got := slices.Clone(lists[participantsEvent(room)])
				for i := range got {
					got[i].SocketID, got[i].NodeID = "", ""
				}
				if !slices.Equal(got, want) {
					t.Fatalf("list of %s after the restore: %+v, want %+v", room, got, want)
				}
			}
			// Delivery follows the restored memberships only.
			ms := map[string][]rooms.Message{}
			for _, room := range []string{"r1", "r2"} {
				if _, err := f.svc.LastOrder(context.Background(), room); err != nil {
					continue // closed: nothing to post there
				}
				m := f.postMarker(t, room)
				if slices.Contains(tt.wantRestored, room) {
					ms[room] = []rooms.Message{m}
				}
			}
			expectRoomMessages(t, n, ms)
			n.none(t)
		})
	}
}

// titiAndToto creates room r1 where 2.x sockets B (Titi) then A (Toto)
// join; B has seen A's join.
func (f *gatewayFixture) titiAndToto(t *testing.T) (b, a *fakeConn) {
	t.Helper()
	f.createRoom(t, "r1")
	b = f.connect(t, "B", "")
	f.join(t, b, "r1", "Titi")
	a = f.connect(t, "A", "")
	f.join(t, a, "r1", "Toto")
	expectParticipants(t, b, "r1")
	return b, a
}

// postMarker posts into room as the gateway does for a socket, from no
// socket at all, so only the room's members receive it.
func (f *gatewayFixture) postMarker(t *testing.T, roomID string) rooms.Message {
	t.Helper()
	m, err := f.g.post(context.Background(), roomID, rooms.NewMessage{Username: "poster", Content: "marker"})
	if err != nil {
		t.Fatalf("post into %s: %v", roomID, err)
	}
	return m
}

// The original frontend never re-sends "participants" after a reconnect:
// the restored socket's entry comes back connected, it posts under its
// old name, and what it was not sent while away is replayed in order.
func TestRestore2xEntryListAndReplay(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	b, a := f.titiAndToto(t)
	m1 := f.post(t, b, "r1", "one")
	expectMessages(t, a, "r1", m1)

	a.cut()
	want := []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", false)}
	if got := expectParticipants(t, b, "r1"); !slices.Equal(got, want) {
		t.Fatalf("after the cut: %+v", got)
	}
	m2 := f.post(t, b, "r1", "two")
	m3 := f.post(t, b, "r1", "three")

	n := f.connect(t, "N", "A")
	want = []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", true)}
	if got := expectParticipants(t, b, "r1"); !slices.Equal(got, want) {
		t.Fatalf("after the restore: %+v", got)
	}
	// The replay runs in the room's pipeline ahead of the list.
	expectMessages(t, n, "r1", m2, m3)
	if got := expectParticipants(t, n, "r1"); !slices.Equal(got, want) {
		t.Fatalf("restored socket's list: %+v", got)
	}
	m4 := f.post(t, b, "r1", "four")
	expectMessages(t, n, "r1", m4)
	if got := f.g.onChat(n, raw(t, `{"roomId":"r1","content":"yes"}`)); got.(rooms.Message).Username != "Toto" {
		t.Fatalf("chat after the restore: %+v", got)
	}
	n.next(t)
	b.next(t)
	n.cut()
	want = []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", false)}
	if got := expectParticipants(t, b, "r1"); !slices.Equal(got, want) {
		t.Fatalf("after the restored socket left: %+v", got)
	}
	// Its rooms are kept for the next reconnect in turn.
	again := f.connect(t, "again", "N")
	expectParticipants(t, again, "r1")
	n.none(t)
}

// A 2.x client presenting a session that is still live: the claim waits
// for its end (a connection whose death was not noticed yet) and is then
// granted; a claimant that joins rooms by itself, a second claimant, or a
// session that outlives the wait are other tabs of one browser: the cookie
// identifies neither.
func TestPendingClaims(t *testing.T) {
	tests := []struct {
		name string
		// between runs while A is live and N waits; others are sockets it
		// opened, which must never get room r1 either.
		between     func(t *testing.T, f *gatewayFixture, n *fakeConn) (others []*fakeConn)
		wantGranted bool
	}{
		{"the live session ends: granted", func(t *testing.T, f *gatewayFixture, n *fakeConn) []*fakeConn { return nil }, true},
		{"the claimant joins a room: another tab", func(t *testing.T, f *gatewayFixture, n *fakeConn) []*fakeConn {
			f.join(t, n, "r2", "Tab2")
			return nil
		}, false},
		{"a second claimant: contested", func(t *testing.T, f *gatewayFixture, n *fakeConn) []*fakeConn {
			return []*fakeConn{f.connect(t, "N2", "A")}
		}, false},
		{"the wait ends first: a live tab", func(t *testing.T, f *gatewayFixture, n *fakeConn) []*fakeConn {
			f.clock.Advance(2 * time.Hour)
			for _, c := range f.g.claims.all() {
				f.g.retryClaim(c)
			}
			return nil
		}, false},
		{"the claimant left: withdrawn, the next one is granted", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom)
			f.createRoom(t, "r1")
			f.createRoom(t, "r2")
			a := f.connect(t, "A", "")
			f.join(t, a, "r1", "Toto")
			n := f.connect(t, "N", "A")
			var others []*fakeConn
			if tt.between != nil {
				others = tt.between(t, f, n)
			} else {
				n.cut()
				n = f.connect(t, "N2", "A")
			}
			m1 := f.post(t, a, "r1", "while waiting")
			a.cut()
			var list []rooms.Participant
			if tt.wantGranted {
				// Granted late: it gets what was posted since it connected.
				list = expectMessagesAmidLists(t, n, "r1", m1)
			}
			// Later claimants of the same cookie never get it.
			late := f.connect(t, "late", "A")
			m2 := f.postMarker(t, "r1")
			if tt.wantGranted {
				// And the room's list: the departure's and the restore's
				// may be one or two, anywhere around the messages (the
				// restore publishes its list after queueing the replay,
				// on its own goroutine); the last shows it connected.
				if l := expectMessagesAmidLists(t, n, "r1", m2); l != nil {
					list = l
				}
				if want := []rooms.Participant{participant("r1", "Toto", true)}; !slices.Equal(list, want) {
					awaitList(t, n, "r1", want)
				}
			}
			for _, c := range append(others, n, late) {
				if tt.wantGranted && c == n {
					continue
				}
				c.none(t)
			}
		})
	}
}

// The connection is gone before the gateway hears of it: messages sent to
// it meanwhile are refused, so the restored socket must get them again.
// (They were counted as queued, and a restore resumed after them: lost.)
func TestRestore2xReplaysWhatTheDeadConnectionRefused(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	b, a := f.titiAndToto(t)
	m1 := f.post(t, b, "r1", "one")
	expectMessages(t, a, "r1", m1)
	a.mu.Lock()
	a.closed = true // refuses every send from now on
	a.mu.Unlock()
	m2 := f.post(t, b, "r1", "two")
	m3 := f.post(t, b, "r1", "three") // B has it: the pipeline tried A with both
	f.g.onDisconnect(a, engineio.ReasonTransportClose)
	awaitList(t, b, "r1", []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", false)})
	n := f.connect(t, "N", "A")
	expectMessagesAmidLists(t, n, "r1", m2, m3)
}

// claimHook is a SessionStore that, once armed, calls granted when
// ClaimSession grants a claim, before the gateway sees the answer.
type claimHook struct {
	rooms.SessionStore
	granted atomic.Pointer[func()]
}

func (h *claimHook) ClaimSession(ctx context.Context, c rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	outcome, sess, err := h.SessionStore.ClaimSession(ctx, c)
	if outcome == rooms.ClaimGranted {
		if granted := h.granted.Swap(nil); granted != nil {
			(*granted)()
		}
	}
	return outcome, sess, err
}

// Two retries of one pending claim (its timer, and the session ending on
// this node) overlap: the one the store grants restores the rooms, the
// other, refused because a session is granted once, must not drop the
// claim first. It used to, and the client lost the rooms it was granted.
func TestPendingClaimRetriesDoNotOverlap(t *testing.T) {
	hook := &claimHook{SessionStore: memstore.New()}
	f := newGatewayFixtureWith(t, DeliveryRoom, memstore.New(), hook, nil)
	_, a := f.titiAndToto(t)
	n := f.connect(t, "N", "A") // A is live: the claim waits
	claims := f.g.claims.all()
	if len(claims) != 1 {
		t.Fatalf("%d pending claims, want 1", len(claims))
	}
	// As the store grants the claim, a second retry of it runs to its end
	// before the granted one goes on.
	second := func() { f.g.retryClaim(claims[0]) }
	hook.granted.Store(&second)
	a.cut() // A ends here: its claim is retried at once
	awaitList(t, n, "r1", []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", true)})
	if hook.granted.Load() != nil {
		t.Fatal("the claim was never granted: the test did not exercise the overlap")
	}
}

// Two tabs of one browser share the io cookie and are in different rooms;
// after a restart both present the same cookie, in either order: neither
// ever receives an event of the other's room.
func TestSharedCookieTabs(t *testing.T) {
	for _, order := range []string{"tab1 first", "tab2 first"} {
		t.Run(order, func(t *testing.T) {
			f := newGatewayFixture(t, DeliveryRoom)
			f.createRoom(t, "A")
			f.createRoom(t, "B")
			tab1 := f.connect(t, "S1", "")
			f.join(t, tab1, "A", "alice")
			tab2 := f.connect(t, "S2", "S1") // the jar holds tab1's cookie
			f.join(t, tab2, "B", "alice")
			witness := f.connect(t, "W", "")
			f.join(t, witness, "A", "w")
			f.join(t, witness, "B", "w")
			tab1.cut()
			tab2.cut()
			expectLists(t, witness, "A", "B")
			// The jar now holds S2, the last cookie set.
			first, second := "T1", "T2"
			if order == "tab2 first" {
				first, second = second, first
			}
			x := f.connect(t, first, "S2")
			y := f.connect(t, second, "S2")
			ma := f.postMarker(t, "A")
			mb := f.postMarker(t, "B")
			// Once the witness has both, every member of either room has.
			expectRoomMessages(t, witness, map[string][]rooms.Message{"A": {ma}, "B": {mb}})
			x.none(t)
			y.none(t)
		})
	}
}

// newRecoveryFixture: room r1 with a 2.x member B (Titi) and a v5 member
// c (Toto, socket sid-1, pid pid-1).
func newRecoveryFixture(t *testing.T) (f *gatewayFixture, b, c *fakeConn) {
	t.Helper()
	f = newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r1")
	b = f.connect(t, "B", "")
	f.join(t, b, "r1", "Titi")
	c = f.connectV5(t, "sid-1", "pid-1")
	f.join(t, c, "r1", "Toto")
	expectParticipants(t, b, "r1")
	return f, b, c
}

func TestRecoveryV5(t *testing.T) {
	tests := []struct {
		name string
		// scenario returns the pid and offset the client presents, and
		// whether it presents an offset.
		scenario func(t *testing.T, f *gatewayFixture, c *fakeConn, b *fakeConn) (offset string, hasOffset bool)
		// want: per room, the messages replayed; nil: not recovered.
		recovered bool
		wantPosts []int // indexes (1-based) of posts in r1 replayed
	}{
		{"offset after the second message", func(t *testing.T, f *gatewayFixture, c, b *fakeConn) (string, bool) {
			return recoveryOffset(offsetTag("r1"), 2), true
		}, true, []int{3, 4, 5}},
		{"no offset: from the join", func(t *testing.T, f *gatewayFixture, c, b *fakeConn) (string, bool) {
			return "", false
		}, true, []int{1, 2, 3, 4, 5}},
		{"after the recovery window", func(t *testing.T, f *gatewayFixture, c, b *fakeConn) (string, bool) {
			f.clock.Advance(2*time.Minute + time.Second)
			return recoveryOffset(offsetTag("r1"), 2), true
		}, false, nil},
		{"malformed offset", func(t *testing.T, f *gatewayFixture, c, b *fakeConn) (string, bool) {
			return "not-an-offset", true
		}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, b, c := newRecoveryFixture(t)
			var posts []rooms.Message
			for _, content := range []string{"1", "2"} {
				m := f.post(t, b, "r1", content)
				posts = append(posts, m)
				got := c.next(t)
				if want := recoveryOffset(offsetTag("r1"), m.Order); got.offset != want || got.arg != m {
					t.Fatalf("v5 socket got %+v, want %+v with offset %q", got, m, want)
				}
			}
			c.cut()
			expectParticipants(t, b, "r1")
			for _, content := range []string{"3", "4", "5"} {
				posts = append(posts, f.post(t, b, "r1", content))
			}
			offset, hasOffset := tt.scenario(t, f, c, b)
			again, recovered := f.recoverV5(t, "pid-1", offset, hasOffset)
			if recovered != tt.recovered {
				t.Fatalf("recovered = %v, want %v", recovered, tt.recovered)
			}
			if !recovered {
				if again.id == "sid-1" {
					t.Fatal("a fresh socket got the old id")
				}
				// And the session is gone: presenting it again fails too.
				if _, ok := f.g.onRecover(socketio.RecoveryRequest{PID: "pid-1"}); ok {
					t.Fatal("a refused session was recovered later")
				}
				f.post(t, b, "r1", "live")
				again.none(t)
				return
			}
			if again.id != "sid-1" {
				t.Fatalf("recovered socket id %q, want sid-1", again.id)
			}
			for _, i := range tt.wantPosts {
				got := again.next(t)
				if m := posts[i-1]; got.arg != m || got.offset != recoveryOffset(offsetTag("r1"), m.Order) {
					t.Fatalf("replay: got %+v, want %+v", got, m)
				}
			}
			// Its entry is connected again, and the list goes out as a join.
			want := []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", true)}
			if got := expectParticipants(t, b, "r1"); !slices.Equal(got, want) {
				t.Fatalf("list after the recovery: %+v", got)
			}
			expectParticipants(t, again, "r1")
			live := f.post(t, b, "r1", "live")
			expectMessages(t, again, "r1", live)
			again.none(t)
		})
	}
}

// A v5 client in two rooms keeps only the offset of the last event it
// processed; where it stands in the other room comes from the delivery log.
func TestRecoveryV5SeveralRooms(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r1")
	f.createRoom(t, "r2")
	b := f.connect(t, "B", "")
	f.join(t, b, "r1", "Titi")
	f.join(t, b, "r2", "Titi")
	c := f.connectV5(t, "sid-1", "pid-1")
	f.join(t, c, "r1", "Toto")
	f.join(t, c, "r2", "Toto")
	expectLists(t, b, "r1", "r2")
	// Posted one at a time, so the socket's log has this order:
	// r1:1, r2:1, r1:2, r2:2.
	var sent []rooms.Message
	for _, room := range []string{"r1", "r2", "r1", "r2"} {
		m := f.post(t, b, room, room)
		got := c.next(t)
		if got.arg != m {
			t.Fatalf("got %+v, want %+v", got, m)
		}
		sent = append(sent, m)
	}
	c.cut()
	expectLists(t, b, "r1", "r2")
	r1x := f.post(t, b, "r1", "missed r1")
	// The client processed up to r2:1: r1:2 and r2:2 were queued after it.
	again, ok := f.recoverV5(t, "pid-1", recoveryOffset(offsetTag("r2"), 1), true)
	if !ok {
		t.Fatal("not recovered")
	}
	expectRoomMessages(t, again, map[string][]rooms.Message{
		"r1": {sent[2], r1x},
		"r2": {sent[3]},
	}, "r1", "r2")
	again.none(t)
}

// The client presents its pid while this node still holds its old socket
// (the cut was not noticed): it is the same client, so the old socket is
// closed and the new one takes over.
func TestRecoveryV5TakesOverALiveSocket(t *testing.T) {
	f, b, c := newRecoveryFixture(t)
	m1 := f.post(t, b, "r1", "one")
	expectMessages(t, c, "r1", m1)
	again, ok := f.recoverV5(t, "pid-1", recoveryOffset(offsetTag("r1"), 1), true)
	if !ok {
		t.Fatal("not recovered")
	}
	expectSent(t, c, sent{event: disconnected})
	// The old socket's leave and the recovery: connected again. Each list
	// is read as it goes out, so both may show the final state.
	awaitList(t, b, "r1", []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", true)})
	awaitList(t, again, "r1", []rooms.Participant{participant("r1", "Titi", true), participant("r1", "Toto", true)})
	m2 := f.postMarker(t, "r1")
	expectMessagesAmidLists(t, b, "r1", m2)
	expectMessagesAmidLists(t, again, "r1", m2)
	c.none(t)
	b.none(t)
	again.none(t)
}

func TestRecoveryV5AfterALeaveOnPurpose(t *testing.T) {
	f := newGatewayFixture(t, DeliveryRoom)
	f.createRoom(t, "r1")
	c := f.connectV5(t, "sid-1", "pid-1")
	f.join(t, c, "r1", "Toto")
	c.leave()
	if _, ok := f.g.onRecover(socketio.RecoveryRequest{PID: "pid-1", Offset: recoveryOffset(offsetTag("r1"), 0), HasOffset: true}); ok {
		t.Fatal("a client that left on purpose was recovered")
	}
}

func TestRecoveryPlan(t *testing.T) {
	r1, r2 := rooms.SessionRoom{RoomID: "r1", Since: 3}, rooms.SessionRoom{RoomID: "r2", Since: 10}
	log := departureLog{
		Floor:   map[string]int64{"r1": 4, "r2": 10},
		Rooms:   []string{"r1", "r2"},
		Entries: [][2]int64{{0, 5}, {1, 11}, {0, 6}, {1, 12}},
	}
	encoded := mustJSON(t, log)
	tests := []struct {
		name      string
		rooms     []rooms.SessionRoom
		log       []byte
		offset    string
		hasOffset bool
		want      map[string]int64 // nil: refused
	}{
		{"one room", []rooms.SessionRoom{r1}, nil, recoveryOffset(offsetTag("r1"), 7), true, map[string]int64{"r1": 7}},
		{"no offset: from each join", []rooms.SessionRoom{r1, r2}, nil, "", false, map[string]int64{"r1": 3, "r2": 10}},
		{"no rooms", nil, nil, recoveryOffset("x", 1), true, map[string]int64{}},
		{"two rooms, offset in the log", []rooms.SessionRoom{r1, r2}, encoded, recoveryOffset(offsetTag("r2"), 11), true, map[string]int64{"r1": 5, "r2": 11}},
		{"two rooms, offset first in the log", []rooms.SessionRoom{r1, r2}, encoded, recoveryOffset(offsetTag("r1"), 5), true, map[string]int64{"r1": 5, "r2": 10}},
		{"two rooms, last offset", []rooms.SessionRoom{r1, r2}, encoded, recoveryOffset(offsetTag("r2"), 12), true, map[string]int64{"r1": 6, "r2": 12}},
		{"two rooms, offset older than the log", []rooms.SessionRoom{r1, r2}, encoded, recoveryOffset(offsetTag("r1"), 4), true, nil},
		{"two rooms, log lost with its node", []rooms.SessionRoom{r1, r2}, nil, recoveryOffset(offsetTag("r1"), 5), true, nil},
		{"offset of a room not in the session", []rooms.SessionRoom{r1, r2}, encoded, recoveryOffset(offsetTag("r9"), 5), true, nil},
		{"malformed offset", []rooms.SessionRoom{r1}, nil, "5", true, nil},
		{"negative order", []rooms.SessionRoom{r1}, nil, "-1." + offsetTag("r1"), true, nil},
		{"corrupt log", []rooms.SessionRoom{r1, r2}, []byte(`{"rooms":["r1"],"log":[[7,1]]}`), recoveryOffset(offsetTag("r1"), 1), true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plan, ok := recoveryPlan(rooms.Session{Rooms: tt.rooms, Log: tt.log}, socketio.RecoveryRequest{Offset: tt.offset, HasOffset: tt.hasOffset})
			if tt.want == nil {
				if ok {
					t.Fatalf("plan %+v, want refused", plan.resumeAfter)
				}
				return
			}
			if !ok {
				t.Fatal("refused")
			}
			if len(plan.resumeAfter) != len(tt.want) {
				t.Fatalf("resume after %v, want %v", plan.resumeAfter, tt.want)
			}
			for room, want := range tt.want {
				if got := plan.resumeAfter[room]; got != want {
					t.Fatalf("resume after %v, want %v", plan.resumeAfter, tt.want)
				}
			}
		})
	}
}

// countingStore counts the store calls a reconnection makes.
type countingStore struct {
	*memstore.Store
	mu    sync.Mutex
	calls map[string]int
}

func newCountingStore() *countingStore {
	return &countingStore{Store: memstore.New(), calls: map[string]int{}}
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

// take returns the counts so far and starts counting afresh.
func (c *countingStore) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *countingStore) Messages(ctx context.Context, roomID string, from, to int64) ([]rooms.Message, error) {
	c.count("Messages")
	return c.Store.Messages(ctx, roomID, from, to)
}

func (c *countingStore) LastOrder(ctx context.Context, roomID string) (int64, error) {
	c.count("LastOrder")
	return c.Store.LastOrder(ctx, roomID)
}

func (c *countingStore) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	c.count("Participants")
	return c.Store.Participants(ctx, roomID)
}

func (c *countingStore) ReclaimParticipant(ctx context.Context, roomID, oldID, newID, nodeID string) (bool, error) {
	c.count("ReclaimParticipant")
	return c.Store.ReclaimParticipant(ctx, roomID, oldID, newID, nodeID)
}

func (c *countingStore) ClaimSession(ctx context.Context, claim rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	c.count("ClaimSession")
	return c.Store.ClaimSession(ctx, claim)
}

func (c *countingStore) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	c.count("TakeOverSession")
	return c.Store.TakeOverSession(ctx, key, nodeID, now, window)
}

func (c *countingStore) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, r rooms.SessionRoom) error {
	c.count("AddSessionRoom")
	return c.Store.AddSessionRoom(ctx, key, socketID, nodeID, r)
}

func (c *countingStore) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	c.count("OpenSession")
	return c.Store.OpenSession(ctx, key, socketID, nodeID)
}

// What a reconnection costs the store, on a node that never delivered the
// client's rooms (after a restart, or on another node): the README's
// figures. The client is in two rooms and missed 1001 messages of one.
func TestReconnectStoreCalls(t *testing.T) {
	const missed = catchUpChunk + 1 // two replay reads
	for _, tc := range []struct {
		name string
		// first connects the client on one gateway; back reconnects it on
		// the other.
		first func(t *testing.T, f *gatewayFixture) *fakeConn
		back  func(t *testing.T, f *gatewayFixture) *fakeConn
		want  map[string]int
	}{
		{"2.x restore from the io cookie",
			func(t *testing.T, f *gatewayFixture) *fakeConn { return f.connect(t, "A", "") },
			func(t *testing.T, f *gatewayFixture) *fakeConn { return f.connect(t, "N", "A") },
			map[string]int{
				"ClaimSession": 1,
				// Per room: its entry back, where the room stands, the
				// membership kept for the next reconnection, its list.
				"ReclaimParticipant": 2, "LastOrder": 2, "AddSessionRoom": 2, "Participants": 2,
				// The replay: one read per 1000 missed messages.
				"Messages": 2,
			}},
		{"v5 recovery",
			func(t *testing.T, f *gatewayFixture) *fakeConn { return f.connectV5(t, "sid-1", "pid-1") },
			func(t *testing.T, f *gatewayFixture) *fakeConn {
				again, ok := f.recoverV5(t, "pid-1", "", false)
				if !ok {
					t.Fatal("not recovered")
				}
				return again
			},
			map[string]int{
				"TakeOverSession":    1,
				"ReclaimParticipant": 2, "LastOrder": 2, "Participants": 2,
				"Messages": 2,
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newCountingStore()
			before := newGatewayFixtureWith(t, DeliveryRoom, store, store, nil)
			before.createRoom(t, "r1")
			before.createRoom(t, "r2")
			after := newGatewayFixtureWith(t, DeliveryRoom, store, store, nil)
			c := tc.first(t, before)
			before.join(t, c, "r1", "Toto")
			before.join(t, c, "r2", "Toto")
			c.cut()
			before.postN(t, "r1", missed)
			store.take()
			n := tc.back(t, after)
			for i := 0; i < missed+2; i++ { // the replay and both lists
				n.next(t)
			}
			got := store.take()
			// Every call the reconnection made is counted, so a new one
			// shows up here.
			for name := range got {
				if _, ok := tc.want[name]; !ok {
					tc.want[name] = 0
				}
			}
			for name, count := range tc.want {
				if got[name] != count {
					t.Errorf("%s: %d calls, want %d (all: %v)", name, got[name], count, got)
				}
			}
		})
	}
}

// postN posts n messages to room as the gateway does for a socket, from no
// socket at all.
func (f *gatewayFixture) postN(t *testing.T, roomID string, n int) {
	t.Helper()
	for i := range n {
		if _, err := f.g.post(context.Background(), roomID, rooms.NewMessage{Username: "poster", Content: strconv.Itoa(i)}); err != nil {
			t.Fatalf("post into %s: %v", roomID, err)
		}
	}
}
