package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// member is one connected socket as the hub sees it; socketio.Conn satisfies
// it. Send must never block: the engine queues, and closes a socket whose
// queue overflows, so a slow socket cannot hold up the others.
type member interface {
	ID() string
	Send(b *socketio.Broadcast) error
}

// encodeFunc encodes one event once, for many sockets.
type encodeFunc func(event string, args ...any) (*socketio.Broadcast, error)

// roomReader is what the hub reads back from the rooms service: the
// sequencer's starting point and gap fills, and the participant lists it
// broadcasts.
type roomReader interface {
	Messages(ctx context.Context, roomID string, fromIndex, toIndex int64) ([]rooms.Message, error)
	LastOrder(ctx context.Context, roomID string) (int64, error)
	Participants(ctx context.Context, roomID string) ([]rooms.Participant, error)
}

// Envelope kinds.
const (
	kindMessage      = "message"      // a stored message; sequenced by Order
	kindParticipants = "participants" // the participant list changed; re-read at delivery
	kindDirect       = "direct"       // a direct message; not stored
	kindClosed       = "closed"       // the room was closed
	// kindSync asks every node to read the room's messages it has not
	// released back from the store: a node died between storing and
	// publishing, so the envelope of its last message may never come.
	kindSync = "sync"
)

// envelope is what travels on the Broker.
type envelope struct {
	Kind    string         `json:"kind"`
	Message *rooms.Message `json:"message,omitempty"`
	Direct  *DirectMessage `json:"direct,omitempty"`
	// Sender is the socket id of a direct message's sender, who gets a copy,
	// or of the socket whose join changed the participant list.
	Sender string `json:"sender,omitempty"`
}

// DirectMessage is the payload of the "messages" event for type "direct".
type DirectMessage struct {
	Type      string `json:"type"`
	RoomID    string `json:"roomId"`
	From      string `json:"from"`
	To        string `json:"to"`
	Content   string `json:"content"`
	CreatedAt string `json:"createdAt"`
}

// RoomClosedEvent is the payload of the "closed/<roomId>" event sent to a
// room's recipients when the room is closed over REST.
type RoomClosedEvent struct {
	RoomID string `json:"roomId"`
}

// Event names derived from a room id, as the original frontend subscribes.
func messageEvent(roomID string) string      { return roomID }
func participantsEvent(roomID string) string { return "participants/" + roomID }
func closedEvent(roomID string) string       { return "closed/" + roomID }

const directEvent = "messages"

type hubConfig struct {
	delivery       Delivery
	rejoinGrace    time.Duration
	reorderTimeout time.Duration
	reorderLimit   int
	storeTimeout   time.Duration
	// listBroadcastMax: above this many recipients, a changed participant
	// list goes only to the sockets that joined, not to everyone.
	listBroadcastMax int
	// listInterval spaces the list deliveries of such a big room, so one
	// encoding of the list serves every joiner of the interval.
	listInterval time.Duration
}

// hub owns membership (room -> sockets, socket -> rooms) and delivery.
//
// Lock order: hub.mu before roomState.mu; neither is held while calling
// member.Send, because Send may close a slow socket and re-enter the gateway
// through its disconnect handler.
type hub struct {
	cfg    hubConfig
	reader roomReader
	log    *slog.Logger
	now    func() time.Time
	encode atomic.Pointer[encodeFunc]

	// ctx bounds store calls made by deliveries; cancelled by shutdown.
	ctx    context.Context
	cancel context.CancelFunc

	// lifeMu orders work.Add against shutdown's Wait.
	lifeMu  sync.RWMutex
	stopped bool
	work    sync.WaitGroup

	// closes counts room closures, so prepare can notice one that happened
	// while it was reading the store.
	closes atomic.Uint64

	mu       sync.Mutex
	rooms    map[string]*roomState
	members  map[string]*memberState
	sessions map[string]*memberState // by Engine.IO session id
	everyone []member                // snapshot for global delivery; nil when stale
	departed map[string]*departure   // by Engine.IO session id
	expiry   []*departure            // departures in expiry order (the grace is constant)
	sweep    *time.Timer
}

type memberState struct {
	m            member
	sessionID    string
	rooms        map[string]*membership
	lastUsername string
}

type membership struct {
	room     *roomState
	username string
	// joined is true when the socket sent "participants" for the room, so it
	// has a participant entry keyed by its id; false for a membership restored
	// after a reconnect, which has none.
	joined bool
}

// departure keeps the rooms of a socket that went away, for a reconnecting
// client that presents the session id in its cookie.
type departure struct {
	sessionID string
	rooms     map[string]string // room id -> username
	expires   time.Time
}

// roomState is one room's membership and delivery pipeline: a sequencer that
// releases messages in order, and a FIFO of ready deliveries drained by at
// most one goroutine at a time, which keeps each member's view in order.
type roomState struct {
	id string

	// Guarded by hub.mu.
	members  map[string]*memberState
	snapshot []member // nil when stale

	mu                 sync.Mutex
	ready              bool  // sequencer initialised by prepare
	next               int64 // next order to release
	pending            map[int64]rooms.Message
	gapTimer           *time.Timer
	queue              []delivery
	participantsQueued bool
	listJoiners        []string    // sockets whose join the queued list answers
	lastList           time.Time   // last list delivery of a big room
	listTimer          *time.Timer // a big room's next list delivery
	draining           bool
	closed             bool
}

type delivery struct {
	kind    string
	message rooms.Message
	direct  DirectMessage
	sender  string
}

func newHub(cfg hubConfig, reader roomReader, logger *slog.Logger) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{
		cfg:      cfg,
		reader:   reader,
		log:      logger,
		now:      time.Now,
		ctx:      ctx,
		cancel:   cancel,
		rooms:    make(map[string]*roomState),
		members:  make(map[string]*memberState),
		sessions: make(map[string]*memberState),
		departed: make(map[string]*departure),
	}
}

func (h *hub) setEncoder(f encodeFunc) { h.encode.Store(&f) }

// roomLocked returns the room's state, creating it. Caller holds h.mu.
func (h *hub) roomLocked(roomID string) *roomState {
	rs := h.rooms[roomID]
	if rs == nil {
		rs = &roomState{id: roomID, members: make(map[string]*memberState)}
		h.rooms[roomID] = rs
	}
	return rs
}

// connect registers a socket. claimedSession is the Engine.IO session id the
// client presented in its cookie: when it names a socket that departed within
// the grace period, or one still connected (the server may notice a cut
// connection after the client has already reconnected), the new socket gets
// that socket's room memberships. Only delivery is restored; participant
// entries are left as they are. It returns the restored room ids.
func (h *hub) connect(m member, sessionID, claimedSession string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := &memberState{m: m, sessionID: sessionID, rooms: make(map[string]*membership)}
	h.members[m.ID()] = ms
	h.sessions[sessionID] = ms
	h.everyone = nil
	if h.cfg.rejoinGrace < 0 || claimedSession == "" || claimedSession == sessionID {
		return nil
	}
	var source map[string]string
	if d := h.departed[claimedSession]; d != nil && d.expires.After(h.now()) {
		source = d.rooms
		delete(h.departed, claimedSession)
	} else if live := h.sessions[claimedSession]; live != nil && live != ms {
		source = make(map[string]string, len(live.rooms))
		for id, mb := range live.rooms {
			source[id] = mb.username
		}
	}
	restored := make([]string, 0, len(source))
	for roomID, username := range source {
		rs := h.rooms[roomID]
		if rs == nil {
			continue // closed since
		}
		ms.rooms[roomID] = &membership{room: rs, username: username}
		rs.members[m.ID()] = ms
		rs.snapshot = nil
		if ms.lastUsername == "" {
			ms.lastUsername = username
		}
		restored = append(restored, roomID)
	}
	slices.Sort(restored)
	return restored
}

// join makes a connected socket a member of a room. It reports false when
// the socket is no longer connected.
func (h *hub) join(memberID, roomID, username string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := h.members[memberID]
	if ms == nil {
		return false
	}
	rs := h.roomLocked(roomID)
	ms.rooms[roomID] = &membership{room: rs, username: username, joined: true}
	ms.lastUsername = username
	rs.members[memberID] = ms
	rs.snapshot = nil
	return true
}

// username is the name a socket joined a room with, else the last name it
// joined any room with, else "".
func (h *hub) username(memberID, roomID string) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := h.members[memberID]
	if ms == nil {
		return ""
	}
	if mb := ms.rooms[roomID]; mb != nil && mb.username != "" {
		return mb.username
	}
	return ms.lastUsername
}

// joinedRoom is a room a departing socket had joined with "participants".
type joinedRoom struct {
	roomID   string
	username string
}

// disconnect forgets a socket, keeps its rooms for the rejoin grace period
// and returns the rooms it had joined (not merely restored), whose participant
// entries the caller marks disconnected.
func (h *hub) disconnect(memberID string) []joinedRoom {
	h.mu.Lock()
	defer h.mu.Unlock()
	ms := h.members[memberID]
	if ms == nil {
		return nil
	}
	delete(h.members, memberID)
	if h.sessions[ms.sessionID] == ms {
		delete(h.sessions, ms.sessionID)
	}
	h.everyone = nil
	var joined []joinedRoom
	kept := make(map[string]string, len(ms.rooms))
	for roomID, mb := range ms.rooms {
		delete(mb.room.members, memberID)
		mb.room.snapshot = nil
		kept[roomID] = mb.username
		if mb.joined {
			joined = append(joined, joinedRoom{roomID: roomID, username: mb.username})
		}
	}
	slices.SortFunc(joined, func(a, b joinedRoom) int {
		if a.roomID < b.roomID {
			return -1
		}
		if a.roomID > b.roomID {
			return 1
		}
		return 0
	})
	if h.cfg.rejoinGrace > 0 && len(kept) > 0 {
		d := &departure{sessionID: ms.sessionID, rooms: kept, expires: h.now().Add(h.cfg.rejoinGrace)}
		h.departed[ms.sessionID] = d
		h.expiry = append(h.expiry, d)
		if h.sweep == nil && !h.isStopped() {
			h.sweep = time.AfterFunc(h.cfg.rejoinGrace, h.sweepDeparted)
		}
	}
	return joined
}

// sweepDeparted drops expired departures and re-arms the single sweep timer
// for the next one.
func (h *hub) sweepDeparted() {
	h.mu.Lock()
	defer h.mu.Unlock()
	now := h.now()
	i := 0
	for ; i < len(h.expiry) && !h.expiry[i].expires.After(now); i++ {
		d := h.expiry[i]
		if h.departed[d.sessionID] == d {
			delete(h.departed, d.sessionID)
		}
	}
	h.expiry = slices.Clone(h.expiry[i:])
	h.sweep = nil
	if len(h.expiry) > 0 && !h.isStopped() {
		h.sweep = time.AfterFunc(h.expiry[0].expires.Sub(now), h.sweepDeparted)
	}
}

func (h *hub) isStopped() bool {
	h.lifeMu.RLock()
	defer h.lifeMu.RUnlock()
	return h.stopped
}

// prepare initialises a room's sequencer before this node posts to the room
// or a socket joins it: the next order to release is the store's last order
// plus one. Every local post calls prepare before the store assigns its
// order, so no order above that starting point can be missed.
func (h *hub) prepare(ctx context.Context, roomID string) error {
	h.mu.Lock()
	rs := h.rooms[roomID]
	h.mu.Unlock()
	if rs != nil {
		rs.mu.Lock()
		ready := rs.ready
		rs.mu.Unlock()
		if ready {
			return nil
		}
	}
	// A closure between reading the last order and installing the state
	// would install the old room's position for a re-created room; retry a
	// few times, then accept: the gap filler corrects a wrong start.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		gen := h.closes.Load()
		last, err := h.reader.LastOrder(ctx, roomID)
		if err != nil {
			return err
		}
		h.mu.Lock()
		if h.closes.Load() != gen && attempt < attempts {
			h.mu.Unlock()
			continue
		}
		rs := h.roomLocked(roomID)
		rs.mu.Lock()
		if !rs.ready {
			rs.ready = true
			rs.next = last + 1
		}
		rs.mu.Unlock()
		h.mu.Unlock()
		return nil
	}
}

// handle is the Broker subscriber.
func (h *hub) handle(roomID string, payload []byte) {
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		h.log.Warn("gateway: undecodable envelope", "room", roomID, "err", err)
		return
	}
	switch env.Kind {
	case kindMessage:
		if env.Message == nil {
			h.log.Warn("gateway: message envelope without message", "room", roomID)
			return
		}
		h.arrive(roomID, *env.Message)
	case kindParticipants:
		h.mu.Lock()
		rs := h.rooms[roomID]
		if rs == nil && h.cfg.delivery == DeliveryGlobal {
			rs = h.roomLocked(roomID)
		}
		h.mu.Unlock()
		if rs == nil {
			return // in room delivery, nobody here is in the room
		}
		h.enqueue(rs, delivery{kind: kindParticipants, sender: env.Sender})
	case kindDirect:
		if env.Direct == nil {
			h.log.Warn("gateway: direct envelope without message", "room", roomID)
			return
		}
		h.mu.Lock()
		rs := h.rooms[roomID]
		h.mu.Unlock()
		if rs == nil {
			return // no member of the room here
		}
		h.enqueue(rs, delivery{kind: kindDirect, direct: *env.Direct, sender: env.Sender})
	case kindClosed:
		h.closeRoom(roomID)
	case kindSync:
		h.mu.Lock()
		rs := h.rooms[roomID]
		h.mu.Unlock()
		if rs != nil {
			h.catchUp(rs)
		}
	default:
		h.log.Warn("gateway: unknown envelope kind", "room", roomID, "kind", env.Kind)
	}
}

// arrive feeds a stored message to its room's sequencer: in order it is
// released with any successors already waiting; ahead of order it waits (and
// a gap timer starts); behind, it is a duplicate and dropped.
//
// In global delivery every socket hears every room, including rooms nobody
// on this node joined or posted to (their messages come from other nodes):
// such a room's sequence starts at the first message that reaches this node.
func (h *hub) arrive(roomID string, msg rooms.Message) {
	global := h.cfg.delivery == DeliveryGlobal
	h.mu.Lock()
	rs := h.rooms[roomID]
	if rs == nil && global {
		rs = h.roomLocked(roomID)
	}
	h.mu.Unlock()
	if rs == nil {
		h.log.Debug("gateway: message for a room without delivery state dropped", "room", roomID, "order", msg.Order)
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.ready && global && !rs.closed {
		rs.ready = true
		rs.next = msg.Order
	}
	if !rs.ready || rs.closed {
		h.log.Debug("gateway: message for an unprepared room dropped", "room", roomID, "order", msg.Order)
		return
	}
	switch {
	case msg.Order < rs.next:
		return // duplicate
	case msg.Order == rs.next:
		rs.queue = append(rs.queue, delivery{kind: kindMessage, message: msg})
		rs.next++
		h.releaseLocked(rs)
	default:
		if rs.pending == nil {
			rs.pending = make(map[int64]rooms.Message)
		}
		rs.pending[msg.Order] = msg
		if len(rs.pending) >= h.cfg.reorderLimit {
			h.armGapLocked(rs, 0)
		} else {
			h.armGapLocked(rs, h.cfg.reorderTimeout)
		}
	}
	h.startDrainLocked(rs)
}

// releaseLocked moves the contiguous run of waiting messages to the queue.
func (h *hub) releaseLocked(rs *roomState) {
	for {
		m, ok := rs.pending[rs.next]
		if !ok {
			break
		}
		delete(rs.pending, rs.next)
		rs.queue = append(rs.queue, delivery{kind: kindMessage, message: m})
		rs.next++
	}
	if len(rs.pending) == 0 && rs.gapTimer != nil {
		rs.gapTimer.Stop()
		rs.gapTimer = nil
	}
}

func (h *hub) armGapLocked(rs *roomState, after time.Duration) {
	if rs.gapTimer != nil {
		if after > 0 {
			return
		}
		rs.gapTimer.Stop()
	}
	rs.gapTimer = time.AfterFunc(after, func() { h.fillGap(rs) })
}

// fillGap runs when a gap outlived ReorderTimeout: the store is the truth, so
// the missing range up to the highest waiting order is read back and released
// from the store's copy. Waiting messages the store does not have (a stale
// post racing with a room re-created under the same id) are discarded.
func (h *hub) fillGap(rs *roomState) {
	if !h.track() {
		return
	}
	defer h.work.Done()
	rs.mu.Lock()
	rs.gapTimer = nil
	if rs.closed || len(rs.pending) == 0 {
		rs.mu.Unlock()
		return
	}
	from := rs.next
	to := slices.Max(slices.Collect(maps.Keys(rs.pending)))
	rs.mu.Unlock()

	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
	stored, err := h.reader.Messages(ctx, rs.id, from, to)
	cancel()

	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return
	}
	if err != nil {
		// Without the store, waiting forever would stall the room: release
		// what is here, in order, and accept the gap.
		h.log.Warn("gateway: cannot fill a delivery gap from the store; skipping it", "room", rs.id, "from", from, "to", to, "err", err)
		keys := slices.Sorted(maps.Keys(rs.pending))
		for _, k := range keys {
			if k >= rs.next {
				rs.queue = append(rs.queue, delivery{kind: kindMessage, message: rs.pending[k]})
				rs.next = k + 1
			}
			delete(rs.pending, k)
		}
	} else {
		for _, m := range stored {
			if m.Order >= rs.next && m.Order <= to {
				rs.queue = append(rs.queue, delivery{kind: kindMessage, message: m})
				rs.next = m.Order + 1
			}
		}
		for k := range rs.pending {
			if k <= to {
				delete(rs.pending, k)
			}
		}
		if len(stored) == 0 || stored[len(stored)-1].Order < to {
			h.log.Warn("gateway: store lacks orders that were published; dropped them", "room", rs.id, "from", from, "to", to, "stored", len(stored))
		}
	}
	h.releaseLocked(rs)
	if len(rs.pending) > 0 {
		h.armGapLocked(rs, h.cfg.reorderTimeout)
	}
	h.startDrainLocked(rs)
}

// catchUpChunk bounds one store read of a catch-up.
const catchUpChunk = 1000

// resync catches every room this node delivers up with the store, after the
// broker lost its subscription for a while: whatever was published then
// never arrives, but it was stored first. Participant lists are re-read too.
func (h *hub) resync() {
	h.mu.Lock()
	states := slices.Collect(maps.Values(h.rooms))
	h.mu.Unlock()
	for _, rs := range states {
		h.catchUp(rs)
		h.enqueue(rs, delivery{kind: kindParticipants})
	}
}

// catchUp releases, in order, the stored messages of rs from its next
// expected order on. A room the store no longer has was closed meanwhile,
// and is closed here too, so its members are told.
func (h *hub) catchUp(rs *roomState) {
	if !h.track() {
		return
	}
	defer h.work.Done()
	for {
		rs.mu.Lock()
		ready, closed, from := rs.ready, rs.closed, rs.next
		rs.mu.Unlock()
		if !ready || closed {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
		stored, err := h.reader.Messages(ctx, rs.id, from, from+catchUpChunk-1)
		cancel()
		if errors.Is(err, rooms.ErrForbidden) || errors.Is(err, rooms.ErrRoomNotFound) {
			h.closeRoom(rs.id)
			return
		}
		if err != nil {
			// The next message's gap timer, or the next resync, retries.
			h.log.Warn("gateway: cannot catch a room up with the store", "room", rs.id, "from", from, "err", err)
			return
		}
		for _, m := range stored {
			h.arrive(rs.id, m)
		}
		if len(stored) < catchUpChunk {
			return
		}
	}
}

// closeRoom stops the room's sequencer at once, so a re-created room with the
// same id starts afresh, then queues the closed event behind the deliveries
// already released: members get those, then the notice, then lose membership.
func (h *hub) closeRoom(roomID string) {
	h.mu.Lock()
	rs := h.rooms[roomID]
	if rs != nil {
		delete(h.rooms, roomID)
	} else {
		// Nobody here joined it; in global mode every socket still hears of it.
		rs = &roomState{id: roomID, members: make(map[string]*memberState)}
	}
	h.closes.Add(1)
	for _, d := range h.departed {
		delete(d.rooms, roomID)
	}
	h.mu.Unlock()

	rs.mu.Lock()
	rs.ready = false
	rs.pending = nil
	if rs.gapTimer != nil {
		rs.gapTimer.Stop()
		rs.gapTimer = nil
	}
	if rs.listTimer != nil {
		rs.listTimer.Stop()
		rs.listTimer = nil
	}
	rs.queue = append(rs.queue, delivery{kind: kindClosed})
	h.startDrainLocked(rs)
	rs.mu.Unlock()
}

func (h *hub) enqueue(rs *roomState, d delivery) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.closed {
		return
	}
	if d.kind == kindParticipants {
		if d.sender != "" {
			rs.listJoiners = append(rs.listJoiners, d.sender)
		}
		// One queued re-read covers every change made before it runs.
		if rs.participantsQueued {
			return
		}
		rs.participantsQueued = true
	}
	rs.queue = append(rs.queue, d)
	h.startDrainLocked(rs)
}

// track registers background work unless the hub is shutting down.
func (h *hub) track() bool {
	h.lifeMu.RLock()
	defer h.lifeMu.RUnlock()
	if h.stopped {
		return false
	}
	h.work.Add(1)
	return true
}

func (h *hub) startDrainLocked(rs *roomState) {
	if rs.draining || len(rs.queue) == 0 || !h.track() {
		return
	}
	rs.draining = true
	go h.drain(rs)
}

// drain delivers the room's queue in FIFO order until it is empty. Only one
// drain runs per room, which is what keeps every member's view in order.
func (h *hub) drain(rs *roomState) {
	defer h.work.Done()
	for {
		rs.mu.Lock()
		if len(rs.queue) == 0 || rs.closed {
			rs.queue = nil
			rs.draining = false
			rs.mu.Unlock()
			return
		}
		batch := rs.queue
		rs.queue = nil
		rs.mu.Unlock()
		for _, d := range batch {
			h.deliver(rs, d)
			if d.kind == kindClosed {
				break
			}
		}
	}
}

func (h *hub) deliver(rs *roomState, d delivery) {
	switch d.kind {
	case kindMessage:
		h.broadcast(h.recipients(rs), messageEvent(rs.id), d.message)
	case kindParticipants:
		to := h.recipients(rs)
		big := len(to) > h.cfg.listBroadcastMax
		// Spacing is for rooms whose list itself is long (encoding it per
		// join is the cost); in global delivery many recipients alone do
		// not make a small room's joiners wait.
		h.mu.Lock()
		longList := len(rs.members) > h.cfg.listBroadcastMax
		h.mu.Unlock()
		rs.mu.Lock()
		if longList && h.deferListLocked(rs) {
			rs.mu.Unlock()
			return
		}
		rs.participantsQueued = false
		joiners := rs.listJoiners
		rs.listJoiners = nil
		if longList {
			rs.lastList = h.now()
		}
		rs.mu.Unlock()
		if big {
			// Re-sending n entries to n members on every change is O(n²)
			// bytes: a big room's lists go to the joiners only, and a
			// change nobody here joined by (a leave) costs nothing.
			if to = h.localMembers(joiners); len(to) == 0 {
				return
			}
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
		list, err := h.reader.Participants(ctx, rs.id)
		cancel()
		if err != nil {
			if !errors.Is(err, rooms.ErrForbidden) {
				h.log.Warn("gateway: cannot read participants", "room", rs.id, "err", err)
			}
			return
		}
		if list == nil {
			list = []rooms.Participant{}
		}
		h.broadcast(to, participantsEvent(rs.id), list)
	case kindDirect:
		h.broadcast(h.directRecipients(rs, d.direct.To, d.sender), directEvent, d.direct)
	case kindClosed:
		// Memberships go before the notice, so a member that got it is out.
		to := h.recipients(rs)
		h.mu.Lock()
		for id, ms := range rs.members {
			if mb := ms.rooms[rs.id]; mb != nil && mb.room == rs {
				delete(ms.rooms, rs.id)
			}
			delete(rs.members, id)
		}
		rs.snapshot = nil
		h.mu.Unlock()
		rs.mu.Lock()
		rs.closed = true
		rs.mu.Unlock()
		h.broadcast(to, closedEvent(rs.id), RoomClosedEvent{RoomID: rs.id})
	}
}

// recipients is the room's members, or every socket in global mode. The
// returned slice is a shared snapshot: never modify it.
func (h *hub) recipients(rs *roomState) []member {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.cfg.delivery == DeliveryGlobal {
		if h.everyone == nil {
			h.everyone = make([]member, 0, len(h.members))
			for _, ms := range h.members {
				h.everyone = append(h.everyone, ms.m)
			}
		}
		return h.everyone
	}
	if rs.snapshot == nil {
		rs.snapshot = make([]member, 0, len(rs.members))
		for _, ms := range rs.members {
			rs.snapshot = append(rs.snapshot, ms.m)
		}
	}
	return rs.snapshot
}

// deferListLocked postpones a big room's list delivery until listInterval
// after the previous one, keeping it queued so later joiners are added to
// it. It reports whether it did. Caller holds rs.mu.
func (h *hub) deferListLocked(rs *roomState) bool {
	wait := h.cfg.listInterval - h.now().Sub(rs.lastList)
	if wait <= 0 {
		return false
	}
	if rs.listTimer == nil && !h.isStopped() {
		rs.listTimer = time.AfterFunc(wait, func() {
			rs.mu.Lock()
			defer rs.mu.Unlock()
			rs.listTimer = nil
			if rs.closed {
				return
			}
			rs.queue = append(rs.queue, delivery{kind: kindParticipants})
			h.startDrainLocked(rs)
		})
	}
	return true
}

// localMembers is the sockets among ids connected to this node.
func (h *hub) localMembers(ids []string) []member {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []member
	seen := make(map[string]bool, len(ids)) // a big room's interval may bring thousands
	for _, id := range ids {
		if ms := h.members[id]; ms != nil && !seen[id] {
			seen[id] = true
			out = append(out, ms.m)
		}
	}
	return out
}

// directRecipients is the room's members known under username to, plus the
// sender's socket, in either delivery mode.
func (h *hub) directRecipients(rs *roomState, to, senderID string) []member {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []member
	for id, ms := range rs.members {
		if mb := ms.rooms[rs.id]; mb != nil && mb.username == to && id != senderID {
			out = append(out, ms.m)
		}
	}
	if sender := h.members[senderID]; sender != nil {
		out = append(out, sender.m)
	}
	return out
}

func (h *hub) broadcast(to []member, event string, arg any) {
	if len(to) == 0 {
		return
	}
	enc := h.encode.Load()
	if enc == nil {
		return // not registered on a server yet: nobody is connected
	}
	b, err := (*enc)(event, arg)
	if err != nil {
		h.log.Error("gateway: cannot encode event", "event", event, "err", err)
		return
	}
	for _, m := range to {
		// An error means the socket is gone or was just cut off as a slow
		// consumer; its disconnect handler cleans up.
		if err := m.Send(b); err != nil {
			h.log.Debug("gateway: send failed", "socket", m.ID(), "event", event, "err", err)
		}
	}
}

// shutdown stops timers, refuses new background work and waits for the
// deliveries in flight.
func (h *hub) shutdown(ctx context.Context) error {
	h.lifeMu.Lock()
	h.stopped = true
	h.lifeMu.Unlock()
	h.mu.Lock()
	if h.sweep != nil {
		h.sweep.Stop()
		h.sweep = nil
	}
	states := slices.Collect(maps.Values(h.rooms))
	h.mu.Unlock()
	for _, rs := range states {
		rs.mu.Lock()
		if rs.gapTimer != nil {
			rs.gapTimer.Stop()
			rs.gapTimer = nil
		}
		if rs.listTimer != nil {
			rs.listTimer.Stop()
			rs.listTimer = nil
		}
		rs.mu.Unlock()
	}
	done := make(chan struct{})
	go func() {
		h.work.Wait()
		close(done)
	}()
	defer h.cancel()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
