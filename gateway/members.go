package gateway

import (
	"slices"
	"sync"
	"sync/atomic"

	"golang.org/x/time/rate"

	"chatgateway/gateway/socketio"
)

// member is one connected socket as the hub sees it; socketio.Conn satisfies
// it. Send must never block: the engine queues, and closes a socket whose
// queue overflows, so a slow socket cannot hold up the others.
type member interface {
	ID() string
	Send(b *socketio.Broadcast) error
}

// clientSocket is a member the gateway can also disconnect (a socket whose
// client recovered elsewhere); socketio.Conn satisfies it.
type clientSocket interface {
	member
	Close() error
}

// socketState is one connected socket. Its memberships are guarded by the
// registry's lock; what the room pipelines write per delivery is atomic or
// under deliverMu.
type socketState struct {
	conn clientSocket
	id   string
	// sessionKey names the socket's session in the SessionStore ("" when
	// its rooms are not kept for a reconnection): "eio:<Engine.IO id>" for
	// a 2.x client, "pid:<private id>" for a v5 client with recovery.
	sessionKey string
	// recoverable: a v5 socket whose room messages carry offsets, so
	// deliveries are logged for its recovery.
	recoverable bool
	// events is the socket's event budget (nil: unlimited).
	events *rate.Limiter
	// authUser is the username its token grants ("" without
	// authentication).
	authUser string

	// Guarded by registry.mu.
	rooms        socketRooms
	lastUsername string

	// deliverMu makes a delivery and what it records (lastQueued, the log
	// entry) one step for sockets with a session: the log's order is the
	// order the socket's queue got them in, across rooms, and a departure
	// reads a consistent position.
	deliverMu sync.Mutex
	log       *deliveryLog // recoverable sockets in two rooms or more

	// storeMu orders this socket's session writes: a join still in flight
	// when the socket goes away must not record a room after the departure.
	storeMu  sync.Mutex
	departed bool // under storeMu
}

// socketRooms is a socket's memberships, one per room. A socket is in a
// few rooms (at most MAX_ROOMS, 64 by default), so a slice costs a few
// words where a map costs a few hundred bytes, on every joined socket.
type socketRooms []*membership

func (rs socketRooms) get(roomID string) *membership {
	for _, mb := range rs {
		if mb.roomID == roomID {
			return mb
		}
	}
	return nil
}

// set adds mb, or replaces the membership of its room.
func (rs *socketRooms) set(mb *membership) {
	for i, x := range *rs {
		if x.roomID == mb.roomID {
			(*rs)[i] = mb
			return
		}
	}
	*rs = append(*rs, mb)
}

// remove takes mb out, if it is still the membership of its room, and
// says whether it was.
func (rs *socketRooms) remove(mb *membership) bool {
	i := slices.Index(*rs, mb)
	if i < 0 {
		return false
	}
	*rs = slices.Delete(*rs, i, i+1)
	return true
}

// membership is one socket in one room.
type membership struct {
	sock     *socketState
	roomID   string
	username string
	avatar   string
	// since is the room's last order when the membership began.
	since int64
	// lastQueued is the order of the last room message queued to the
	// socket; only the room's pipeline writes it.
	lastQueued atomic.Int64
	// holding keeps live messages from the socket while a replay of what it
	// missed is pending in the room's pipeline.
	holding atomic.Bool
	// unwatched: release has ended the watch (see Gateway.watchRoom).
	unwatched atomic.Bool
	// watcher is the broker whose watch of the room the membership holds;
	// nil when it holds none. Ended through release, never under the
	// registry's lock.
	watcher roomUnwatcher
}

// send queues a room message on the member, keeping what its recovery
// needs: the last order queued and, across rooms, the delivery log.
//
// Only a send the socket accepted counts: one refused because the
// connection is already gone (the gateway hears of it a moment later) never
// reached the client, and a reconnection must get it again. The count moves
// under deliverMu, which the departure log also takes, so the log never
// sees a message queued but not yet counted (it would be replayed twice).
func (mb *membership) send(b *socketio.Broadcast, order int64) error {
	s := mb.sock
	if s.sessionKey == "" {
		return s.conn.Send(b)
	}
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	if err := s.conn.Send(b); err != nil {
		return err
	}
	mb.lastQueued.Store(order)
	if s.log != nil {
		s.log.record(mb.roomID, order)
	}
	return nil
}

// roomUnwatcher ends one broker watch of a room; Broker satisfies it.
type roomUnwatcher interface {
	Unwatch(roomID string)
}

// registry owns membership: which sockets are connected and which rooms
// each is in. It is the only state shared by every room's pipeline, so its
// critical sections are short and never call out.
type registry struct {
	mu      sync.Mutex
	sockets map[string]*socketState
	byKey   map[string]*socketState // by session key
	rooms   map[string]*roomMembers
	// everyone is the snapshot for global delivery; nil when stale.
	everyone []member
	// watch, when set, hears of every membership that begins or ends,
	// after mu is released; set before the first socket connects.
	watch MembershipObserver
}

// MembershipObserver hears of sockets entering and leaving rooms on this
// node (the Socket.IO Admin UI's feed, package gateway/admin). Its methods
// run inline, on the goroutine that changed the membership, outside the
// registry's lock; they must be quick and must not block.
type MembershipObserver interface {
	// RoomJoined: the socket is now in the room, as username (a join, or a
	// membership restored after a reconnection).
	RoomJoined(socketID, roomID, username string)
	// RoomLeft: the socket is no longer in the room (it disconnected, or
	// the room was closed).
	RoomLeft(socketID, roomID string)
}

type roomMembers struct {
	members map[string]*membership // by socket id
	// snapshot is shared by deliveries until membership changes; nil when
	// stale. Never modified in place.
	snapshot []*membership
}

func newRegistry() *registry {
	return &registry{
		sockets: make(map[string]*socketState),
		byKey:   make(map[string]*socketState),
		rooms:   make(map[string]*roomMembers),
	}
}

// add registers a connected socket.
func (r *registry) add(s *socketState) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sockets[s.id] = s
	if s.sessionKey != "" {
		r.byKey[s.sessionKey] = s
	}
	r.everyone = nil
}

func (r *registry) socket(id string) *socketState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sockets[id]
}

func (r *registry) bySessionKey(key string) *socketState {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.byKey[key]
}

// join adds (or replaces) the socket's membership of a room. It reports
// false when the socket is no longer connected. A membership it replaces
// is released.
func (r *registry) join(s *socketState, mb *membership) bool {
	ok, replaced := r.joinLocked(s, mb)
	replaced.release()
	return ok
}

func (r *registry) joinLocked(s *socketState, mb *membership) (ok bool, replaced *membership) {
	r.mu.Lock()
	if r.sockets[s.id] != s {
		r.mu.Unlock()
		return false, nil
	}
	replaced = s.rooms.get(mb.roomID)
	rm := r.rooms[mb.roomID]
	if rm == nil {
		rm = &roomMembers{members: make(map[string]*membership)}
		r.rooms[mb.roomID] = rm
	}
	mb.sock = s
	s.rooms.set(mb)
	s.lastUsername = mb.username
	rm.members[s.id] = mb
	rm.snapshot = nil
	if s.recoverable && len(s.rooms) == 2 && s.log == nil {
		s.startLog()
	} else if s.log != nil {
		s.deliverMu.Lock()
		s.log.floor[mb.roomID] = mb.since
		s.deliverMu.Unlock()
	}
	r.mu.Unlock()
	if r.watch != nil {
		r.watch.RoomJoined(s.id, mb.roomID, mb.username)
	}
	return true, replaced
}

// remove forgets a socket (if s is still the one registered under its id)
// and returns its memberships, in no particular order.
func (r *registry) remove(s *socketState) []*membership {
	out := r.removeLocked(s)
	if r.watch != nil {
		for _, mb := range out {
			r.watch.RoomLeft(s.id, mb.roomID)
		}
	}
	return out
}

func (r *registry) removeLocked(s *socketState) []*membership {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.sockets[s.id] != s {
		return nil
	}
	delete(r.sockets, s.id)
	if s.sessionKey != "" && r.byKey[s.sessionKey] == s {
		delete(r.byKey, s.sessionKey)
	}
	r.everyone = nil
	out := make([]*membership, 0, len(s.rooms))
	for _, mb := range s.rooms {
		roomID := mb.roomID
		if rm := r.rooms[roomID]; rm != nil && rm.members[s.id] == mb {
			delete(rm.members, s.id)
			rm.snapshot = nil
			if len(rm.members) == 0 {
				delete(r.rooms, roomID)
			}
		}
		out = append(out, mb)
	}
	return out
}

// members is the room's memberships: a shared snapshot, never modify it.
func (r *registry) members(roomID string) []*membership {
	r.mu.Lock()
	rm := r.rooms[roomID]
	r.mu.Unlock()
	if rm == nil {
		return nil
	}
	return r.snapshotOf(rm)
}

// memberCount is how many local sockets are in the room.
func (r *registry) memberCount(roomID string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm := r.rooms[roomID]; rm != nil {
		return len(rm.members)
	}
	return 0
}

// all is every connected socket: a shared snapshot, never modify it.
func (r *registry) all() []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.everyone == nil {
		r.everyone = make([]member, 0, len(r.sockets))
		for _, s := range r.sockets {
			r.everyone = append(r.everyone, s.conn)
		}
	}
	return r.everyone
}

// detach takes a closed room's memberships out of the registry: a room
// re-created under the same id starts with none, while the closed one's
// pipeline still delivers what it had queued to its old members.
func (r *registry) detach(roomID string) *roomMembers {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[roomID]
	if rm == nil {
		rm = &roomMembers{members: make(map[string]*membership)}
	}
	delete(r.rooms, roomID)
	return rm
}

// snapshotOf is members for a detached room.
func (r *registry) snapshotOf(rm *roomMembers) []*membership {
	r.mu.Lock()
	defer r.mu.Unlock()
	if rm.snapshot == nil {
		rm.snapshot = make([]*membership, 0, len(rm.members))
		for _, mb := range rm.members {
			rm.snapshot = append(rm.snapshot, mb)
		}
	}
	return rm.snapshot
}

// endDetached ends (and releases) the memberships of a detached (closed)
// room and returns the sockets that had one.
func (r *registry) endDetached(roomID string, rm *roomMembers) []member {
	var released []*membership
	defer func() {
		for _, mb := range released {
			mb.release()
		}
	}()
	r.mu.Lock()
	out := make([]member, 0, len(rm.members))
	var ended []string
	for id, mb := range rm.members {
		released = append(released, mb)
		if mb.sock.rooms.remove(mb) {
			ended = append(ended, id)
		}
		if r.sockets[id] == mb.sock {
			out = append(out, mb.sock.conn)
		}
	}
	clear(rm.members)
	rm.snapshot = nil
	r.mu.Unlock()
	if r.watch != nil {
		for _, id := range ended {
			r.watch.RoomLeft(id, roomID)
		}
	}
	return out
}

// named is the sockets in the room that joined as username, except except.
func (r *registry) named(roomID, username, except string) []member {
	r.mu.Lock()
	defer r.mu.Unlock()
	rm := r.rooms[roomID]
	if rm == nil {
		return nil
	}
	var out []member
	for id, mb := range rm.members {
		if mb.username == username && id != except {
			out = append(out, mb.sock.conn)
		}
	}
	return out
}

// username is the name the socket joined the room with, else the last name
// it joined any room with, else "".
func (r *registry) username(socketID, roomID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.sockets[socketID]
	if s == nil {
		return ""
	}
	if mb := s.rooms.get(roomID); mb != nil && mb.username != "" {
		return mb.username
	}
	return s.lastUsername
}

// joinedAs is the name the socket is in the room under, "" when it is not
// in the room.
func (r *registry) joinedAs(s *socketState, roomID string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if mb := s.rooms.get(roomID); mb != nil {
		return mb.username
	}
	return ""
}

// roomCount is how many rooms the socket is in.
func (r *registry) roomCount(s *socketState) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(s.rooms)
}

// deliveryLogCapacity bounds a recoverable socket's delivery log: the room
// messages (of several rooms) queued to it most recently. A client whose
// last offset is older than that many messages cannot recover and starts a
// fresh socket, as with socket.io when the offset left its buffer.
const deliveryLogCapacity = 1024

// deliveryLog is the order in which one socket was sent the messages of its
// rooms. A v5 client keeps only the offset of the last event it processed,
// which names one room; with two rooms or more, what it processed of the
// others follows from where that event stands in this log.
type deliveryLog struct {
	entries []logEntry // ring of deliveryLogCapacity
	start   int
	n       int
	// floor is, per room, the last order queued before the log covers the
	// room: evicted entries, or the room's position when logging began.
	floor map[string]int64
}

type logEntry struct {
	roomID string
	order  int64
}

// startLog begins logging when the socket enters its second room. Caller
// holds registry.mu.
func (s *socketState) startLog() {
	s.deliverMu.Lock()
	defer s.deliverMu.Unlock()
	l := &deliveryLog{entries: make([]logEntry, deliveryLogCapacity), floor: make(map[string]int64, len(s.rooms))}
	for _, mb := range s.rooms {
		l.floor[mb.roomID] = max(mb.lastQueued.Load(), mb.since)
	}
	s.log = l
}

func (l *deliveryLog) record(roomID string, order int64) {
	if l.n == len(l.entries) {
		old := l.entries[l.start]
		l.floor[old.roomID] = old.order
		l.start = (l.start + 1) % len(l.entries)
		l.n--
	}
	l.entries[(l.start+l.n)%len(l.entries)] = logEntry{roomID: roomID, order: order}
	l.n++
}

// snapshot copies the log for the departure record.
func (l *deliveryLog) snapshot() (entries []logEntry, floor map[string]int64) {
	entries = make([]logEntry, l.n)
	for i := range l.n {
		entries[i] = l.entries[(l.start+i)%len(l.entries)]
	}
	floor = make(map[string]int64, len(l.floor))
	for k, v := range l.floor {
		floor[k] = v
	}
	return entries, floor
}
