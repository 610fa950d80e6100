package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"log/slog"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/gateway/internal/warmgo"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// encodeFunc encodes one event once, for many sockets. A non-empty offset
// is appended as a last argument for sockets that can recover.
type encodeFunc func(event, offset string, arg any) (*socketio.Broadcast, error)

// roomReader is what the hub reads back from the rooms service: the
// sequencer's starting point and gap fills, replays, and the participant
// lists it broadcasts.
type roomReader interface {
	Messages(ctx context.Context, roomID string, fromIndex, toIndex int64) ([]rooms.Message, error)
	LastOrder(ctx context.Context, roomID string) (int64, error)
	Participants(ctx context.Context, roomID string) ([]rooms.Participant, error)
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
	reorderTimeout time.Duration
	reorderLimit   int
	storeTimeout   time.Duration
	// listBroadcastMax: above this many recipients, a changed participant
	// list goes only to the sockets that joined, not to everyone.
	listBroadcastMax int
	// listInterval spaces the list deliveries of such a big room, so one
	// encoding of the list serves every joiner of the interval.
	listInterval time.Duration
	// offsets: room messages carry a recovery offset (v5 connection state
	// recovery is on).
	offsets bool
}

// room is one room's delivery state on this node: its sequencer and its
// pipeline. A room closed and re-created under the same id gets a new one.
type room struct {
	id string
	// tag names the room inside recovery offsets.
	tag string
	seq sequencer
	out pipeline
	// delivered is the order of the last message the pipeline delivered.
	delivered atomic.Int64
	// detached holds a closed room's members until its closed notice is
	// out; nil while the room is open (its members are in the registry).
	detached atomic.Pointer[roomMembers]
	// active is when the room last delivered or was prepared (Unix nanos),
	// for freeing the state of rooms nobody here uses any more.
	active atomic.Int64
}

// hub owns delivery: every room's sequencer and pipeline, fed by the broker,
// delivering to the sockets the registry knows. Membership lives in the
// registry; the hub only reads it.
//
// Locks: hub.mu guards the room map; each room's sequencer and pipeline have
// their own (sequencer before pipeline); the registry's is separate and
// never held while calling out. None is held while calling member.Send
// except a socket's deliverMu, because Send may close a slow socket and
// re-enter the gateway through its disconnect handler.
type hub struct {
	cfg     hubConfig
	reader  roomReader
	members *registry
	log     *slog.Logger
	now     func() time.Time
	encode  atomic.Pointer[encodeFunc]

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

	mu    sync.Mutex
	rooms map[string]*room

	// deliveries counts events queued to sockets, by kind: one atomic add
	// per broadcast, not per recipient.
	deliveries [len(deliveryKindNames)]atomic.Uint64
}

func newHub(cfg hubConfig, reader roomReader, members *registry, logger *slog.Logger) *hub {
	ctx, cancel := context.WithCancel(context.Background())
	return &hub{
		cfg:     cfg,
		reader:  reader,
		members: members,
		log:     logger,
		now:     time.Now,
		ctx:     ctx,
		cancel:  cancel,
		rooms:   make(map[string]*room),
	}
}

func (h *hub) setEncoder(f encodeFunc) { h.encode.Store(&f) }

// room returns the room's state, creating it when create is set.
func (h *hub) room(roomID string, create bool) *room {
	h.mu.Lock()
	defer h.mu.Unlock()
	rm := h.rooms[roomID]
	if rm == nil && create {
		rm = &room{id: roomID, tag: offsetTag(roomID)}
		h.rooms[roomID] = rm
	}
	return rm
}

// prepare starts a room's sequencer before this node posts to the room or a
// socket joins it: the next order to release is the store's last order plus
// one. Every local post calls prepare before the store assigns its order, so
// no order above that starting point can be missed. It returns the room.
//
// In room delivery a room without local members may not have been heard
// here (a broker that filters by room carries it only while it is
// watched, that is while it has members), so its position is read from
// the store again and the sequence moves on to it: what was stored
// meanwhile was nobody's here. The caller watches the room first.
func (h *hub) prepare(ctx context.Context, roomID string) (*room, error) {
	rm := h.room(roomID, false)
	if rm != nil && rm.seq.isReady() && (h.cfg.delivery == DeliveryGlobal || h.members.memberCount(roomID) > 0) {
		rm.active.Store(h.now().UnixNano())
		return rm, nil
	}
	// A closure between reading the last order and starting the sequence
	// would start a re-created room at the old room's position; retry a
	// few times, then accept: the gap filler corrects a wrong start.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		gen := h.closes.Load()
		last, err := h.reader.LastOrder(ctx, roomID)
		if err != nil {
			return nil, err
		}
		if h.closes.Load() != gen && attempt < attempts {
			continue
		}
		rm := h.room(roomID, true)
		rm.start(last)
		h.advance(rm, last)
		rm.active.Store(h.now().UnixNano())
		return rm, nil
	}
}

// start begins the room's sequence after last, unless it has begun.
func (rm *room) start(last int64) {
	// Nothing was released before, so nothing was delivered: the pipeline
	// stands at last.
	rm.seq.start(last, func() { rm.delivered.Store(last) })
}

// advance moves a sequence that began earlier on to after last.
func (h *hub) advance(rm *room, last int64) {
	start := false
	if rm.seq.advance(last, func(m rooms.Message) {
		start = rm.out.push(delivery{kind: deliverMessage, message: m}) || start
	}) {
		storeMax(&rm.delivered, last)
	}
	if start {
		h.startDrain(rm)
	}
}

// storeMax raises v to n, never lowers it.
func storeMax(v *atomic.Int64, n int64) {
	for {
		cur := v.Load()
		if cur >= n || v.CompareAndSwap(cur, n) {
			return
		}
	}
}

// Deliver implements Subscriber.
func (h *hub) Deliver(roomID string, env Envelope) {
	switch env.Kind {
	case KindMessage:
		if env.Message == nil {
			h.log.Warn("gateway: message envelope without message", "room", roomID)
			return
		}
		h.arrive(roomID, *env.Message)
	case KindParticipants:
		rm := h.room(roomID, h.cfg.delivery == DeliveryGlobal)
		if rm == nil {
			return // in room delivery, nobody here is in the room
		}
		h.enqueue(rm, delivery{kind: deliverParticipants, sender: env.Sender})
	case KindDirect:
		if env.Direct == nil {
			h.log.Warn("gateway: direct envelope without message", "room", roomID)
			return
		}
		if rm := h.room(roomID, false); rm != nil {
			h.enqueue(rm, delivery{kind: deliverDirect, direct: *env.Direct, sender: env.Sender})
		}
	case KindClosed:
		h.closeRoom(roomID)
	case KindSync:
		if rm := h.room(roomID, false); rm != nil {
			h.catchUp(rm)
		}
	case KindTakeover:
		// Handled by the gateway, which owns sockets.
	default:
		h.log.Warn("gateway: unknown envelope kind", "room", roomID, "kind", env.Kind)
	}
}

// Resync implements Subscriber: the broker may have lost envelopes, which
// were stored first, so every room this node delivers reads back what it
// missed, and its participant list.
func (h *hub) Resync() {
	if !h.track() {
		return
	}
	go func() {
		defer h.work.Done()
		h.mu.Lock()
		all := slices.Collect(maps.Values(h.rooms))
		h.mu.Unlock()
		for _, rm := range all {
			h.catchUp(rm)
			h.enqueue(rm, delivery{kind: deliverParticipants})
		}
	}()
}

// ResyncRoom implements Subscriber: Resync for one room, if this node
// delivers it.
func (h *hub) ResyncRoom(roomID string) {
	rm := h.room(roomID, false)
	if rm == nil || !h.track() {
		return
	}
	go func() {
		defer h.work.Done()
		h.catchUp(rm)
		h.enqueue(rm, delivery{kind: deliverParticipants})
	}()
}

// arrive feeds a stored message to its room's sequencer.
//
// In global delivery every socket hears every room, including rooms nobody
// on this node joined or posted to (their messages come from other nodes):
// such a room's sequence starts at the first message that reaches this node.
func (h *hub) arrive(roomID string, msg rooms.Message) {
	global := h.cfg.delivery == DeliveryGlobal
	rm := h.room(roomID, global)
	if rm == nil {
		h.log.Debug("gateway: message for a room without delivery state dropped", "room", roomID, "order", msg.Order)
		return
	}
	if global {
		rm.start(msg.Order - 1) // no-op once the sequence began
	}
	start := false
	got := rm.seq.arrive(msg, func(m rooms.Message) {
		start = rm.out.push(delivery{kind: deliverMessage, message: m}) || start
	}, func(d time.Duration) *time.Timer {
		return time.AfterFunc(d, func() { h.fillGap(rm) })
	}, h.cfg.reorderTimeout, h.cfg.reorderLimit)
	if got == arrivalDropped {
		h.log.Debug("gateway: message dropped (duplicate, or room not sequenced here)", "room", roomID, "order", msg.Order)
	}
	if start {
		h.startDrain(rm)
	}
}

// fillGap runs when a gap outlived the reorder timeout: the store is the
// truth, so the missing range is read back and released from the store's
// copy.
func (h *hub) fillGap(rm *room) {
	if !h.track() {
		return
	}
	defer h.work.Done()
	from, to, ok := rm.seq.gap()
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
	stored, err := h.reader.Messages(ctx, rm.id, from, to)
	cancel()
	if err != nil {
		// Without the store, waiting forever would stall the room: release
		// what is here, in order, and accept the gap.
		h.log.Warn("gateway: cannot fill a delivery gap from the store; skipping it", "room", rm.id, "from", from, "to", to, "err", err)
	}
	start := false
	lacked, remaining := rm.seq.fill(from, to, stored, err, func(m rooms.Message) {
		start = rm.out.push(delivery{kind: deliverMessage, message: m}) || start
	})
	if lacked {
		h.log.Warn("gateway: store lacks orders that were published; dropped them", "room", rm.id, "from", from, "to", to, "stored", len(stored))
	}
	if remaining {
		rm.seq.rearm(func(d time.Duration) *time.Timer {
			return time.AfterFunc(d, func() { h.fillGap(rm) })
		}, h.cfg.reorderTimeout)
	}
	if start {
		h.startDrain(rm)
	}
}

// catchUpChunk bounds one store read of a catch-up or a replay.
const catchUpChunk = 1000

// catchUp releases, in order, the stored messages of the room from its next
// expected order on. A room the store no longer has was closed meanwhile,
// and is closed here too, so its members are told.
func (h *hub) catchUp(rm *room) {
	if !h.track() {
		return
	}
	defer h.work.Done()
	for {
		from, ready := rm.seq.position()
		if !ready {
			return
		}
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
		stored, err := h.reader.Messages(ctx, rm.id, from, from+catchUpChunk-1)
		cancel()
		if errors.Is(err, rooms.ErrRoomNotFound) {
			h.closeRoom(rm.id)
			return
		}
		if err != nil {
			// The next message's gap timer, or the next resync, retries.
			h.log.Warn("gateway: cannot catch a room up with the store", "room", rm.id, "from", from, "err", err)
			return
		}
		for _, m := range stored {
			h.arrive(rm.id, m)
		}
		if len(stored) < catchUpChunk {
			return
		}
	}
}

// closeRoom stops the room's sequencer at once, so a re-created room with the
// same id starts afresh, takes its members out of the registry for the same
// reason, then queues the closed notice behind the deliveries already
// released: members get those, then the notice, then lose membership.
func (h *hub) closeRoom(roomID string) {
	h.mu.Lock()
	rm := h.rooms[roomID]
	if rm != nil {
		delete(h.rooms, roomID)
	} else {
		// Nobody here joined it; in global mode every socket still hears of it.
		rm = &room{id: roomID, tag: offsetTag(roomID)}
	}
	h.closes.Add(1)
	h.mu.Unlock()

	rm.seq.stop()
	rm.detached.Store(h.members.detach(roomID))
	if rm.out.close() {
		h.startDrain(rm)
	}
}

func (h *hub) enqueue(rm *room, d delivery) {
	if rm.out.push(d) {
		h.startDrain(rm)
	}
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

func (h *hub) isStopped() bool {
	h.lifeMu.RLock()
	defer h.lifeMu.RUnlock()
	return h.stopped
}

// startDrain runs the drain the pipeline asked for.
func (h *hub) startDrain(rm *room) {
	if !h.track() {
		rm.out.release()
		return
	}
	roomDrains.Go(func() { h.drain(rm) })
}

// roomDrains run the rooms' drains on kept goroutines, whose stacks have
// grown to what encoding and delivering need (see warmgo).
var roomDrains = warmgo.New(warmgo.DefaultMaxIdle, warmgo.DefaultIdleFor)

// drain delivers the room's queue in FIFO order until it is empty. Only one
// drain runs per room, which is what keeps every member's view in order.
func (h *hub) drain(rm *room) {
	defer h.work.Done()
	for {
		batch, ok := rm.out.take()
		if !ok {
			return
		}
		rm.active.Store(h.now().UnixNano())
		for _, d := range batch {
			h.deliver(rm, d)
			if d.kind == deliverClosed {
				break
			}
		}
	}
}

func (h *hub) deliver(rm *room, d delivery) {
	switch d.kind {
	case deliverMessage:
		h.deliverMessage(rm, d.message)
	case deliverParticipants:
		h.deliverList(rm, d)
	case deliverDirect:
		to := h.members.named(rm.id, d.direct.To, d.sender)
		if s := h.members.socket(d.sender); s != nil {
			to = append(to, s.conn)
		}
		h.broadcast(deliverDirect, to, directEvent, d.direct)
	case deliverReplay:
		h.replay(rm, d.member, d.from)
	case deliverClosed:
		// Memberships go before the notice, so a member that got it is out.
		var to []member
		if h.cfg.delivery == DeliveryGlobal {
			to = h.members.all()
		}
		if detached := rm.detached.Load(); detached != nil {
			left := h.members.endDetached(rm.id, detached)
			if h.cfg.delivery != DeliveryGlobal {
				to = left
			}
		}
		rm.out.markClosed()
		h.broadcast(deliverClosed, to, closedEvent(rm.id), RoomClosedEvent{RoomID: rm.id})
	}
}

// deliverMessage sends a room message to its recipients: encoded once, then
// one queue append per recipient.
func (h *hub) deliverMessage(rm *room, m rooms.Message) {
	defer storeMax(&rm.delivered, m.Order)
	if h.cfg.delivery == DeliveryGlobal {
		h.broadcast(deliverMessage, h.members.all(), messageEvent(rm.id), m)
		return
	}
	to := h.recipients(rm)
	if len(to) == 0 {
		return
	}
	b, err := h.encodeMessage(rm, m)
	if err != nil {
		return
	}
	sent := 0
	for _, mb := range to {
		if mb.holding.Load() || m.Order <= mb.since {
			// Its replay, queued behind, covers this message; or it was
			// stored before the member joined (a room this node did not
			// hear while it had no member here: see prepare).
			continue
		}
		// An error means the socket is gone or was just cut off as a slow
		// consumer; its disconnect handler cleans up.
		if mb.send(b, m.Order) == nil {
			sent++
		}
	}
	h.deliveries[deliverMessage].Add(uint64(sent))
}

// recipients is the room's members (the old members of a closed room
// until its notice is out). The slice is shared: never modify it.
func (h *hub) recipients(rm *room) []*membership {
	if detached := rm.detached.Load(); detached != nil {
		return h.members.snapshotOf(detached)
	}
	return h.members.members(rm.id)
}

func (h *hub) encodeMessage(rm *room, m rooms.Message) (*socketio.Broadcast, error) {
	enc := h.encode.Load()
	if enc == nil {
		return nil, errors.New("gateway: no encoder")
	}
	offset := ""
	if h.cfg.offsets {
		offset = recoveryOffset(rm.tag, m.Order)
	}
	b, err := (*enc)(messageEvent(rm.id), offset, m)
	if err != nil {
		h.log.Error("gateway: cannot encode event", "room", rm.id, "order", m.Order, "err", err)
	}
	return b, err
}

// replay sends mb the room's messages from..delivered from the store, then
// lets live messages through again. It runs in the room's pipeline, so
// nothing is delivered to the room in between and the member sees every
// message once, in order.
func (h *hub) replay(rm *room, mb *membership, from int64) {
	defer mb.holding.Store(false)
	to := rm.delivered.Load()
	for from <= to {
		ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
		stored, err := h.reader.Messages(ctx, rm.id, from, min(to, from+catchUpChunk-1))
		cancel()
		if err != nil {
			h.log.Warn("gateway: cannot replay missed messages; the socket misses them", "room", rm.id, "socket", mb.sock.id, "from", from, "to", to, "err", err)
			return
		}
		if len(stored) == 0 {
			return
		}
		for _, m := range stored {
			b, err := h.encodeMessage(rm, m)
			if err != nil {
				return
			}
			if err := mb.send(b, m.Order); err != nil {
				return // gone; its disconnect handler cleans up
			}
			h.deliveries[deliverReplay].Add(1)
		}
		from = stored[len(stored)-1].Order + 1
	}
}

// deliverList re-reads the room's participant list and sends it. Re-sending
// n entries to n members on every change is O(n²) bytes, so a room with more
// recipients than listBroadcastMax sends it to the sockets that joined only,
// and a room whose list itself is long spaces its list deliveries by
// listInterval.
func (h *hub) deliverList(rm *room, d delivery) {
	longList := h.members.memberCount(rm.id) > h.cfg.listBroadcastMax
	// The queued list is taken (later changes queue a new one) before the
	// recipients are read: a socket that joins from now on gets the next
	// list, one that joined before is a recipient of this one. Read the
	// other way round, a join landing in between was covered by neither.
	joiners, wait := rm.out.takeJoiners(longList, h.now(), h.cfg.listInterval, func(w time.Duration) *time.Timer {
		if h.isStopped() {
			return nil
		}
		return time.AfterFunc(w, func() {
			if rm.out.listDue() {
				h.startDrain(rm)
			}
		})
	})
	if wait {
		return
	}
	var to []member
	if h.cfg.delivery == DeliveryGlobal {
		to = h.members.all()
	} else {
		for _, mb := range h.recipients(rm) {
			to = append(to, mb.sock.conn)
		}
	}
	if len(to) > h.cfg.listBroadcastMax {
		if to = h.localSockets(joiners); len(to) == 0 {
			return
		}
	}
	if len(to) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(h.ctx, h.cfg.storeTimeout)
	list, err := h.reader.Participants(ctx, rm.id)
	cancel()
	if err != nil {
		if !errors.Is(err, rooms.ErrRoomNotFound) {
			h.log.Warn("gateway: cannot read participants", "room", rm.id, "err", err)
		}
		return
	}
	if list == nil {
		list = []rooms.Participant{}
	}
	h.broadcast(deliverParticipants, to, participantsEvent(rm.id), list)
}

// localSockets is the sockets among ids connected to this node.
func (h *hub) localSockets(ids []string) []member {
	var out []member
	seen := make(map[string]bool, len(ids)) // a big room's interval may bring thousands
	for _, id := range ids {
		if s := h.members.socket(id); s != nil && !seen[id] {
			seen[id] = true
			out = append(out, s.conn)
		}
	}
	return out
}

func (h *hub) broadcast(kind deliveryKind, to []member, event string, arg any) {
	if len(to) == 0 {
		return
	}
	enc := h.encode.Load()
	if enc == nil {
		return // not registered on a server yet: nobody is connected
	}
	b, err := (*enc)(event, "", arg)
	if err != nil {
		h.log.Error("gateway: cannot encode event", "event", event, "err", err)
		return
	}
	sent := 0
	for _, m := range to {
		// An error means the socket is gone or was just cut off as a slow
		// consumer; its disconnect handler cleans up.
		if err := m.Send(b); err != nil {
			h.log.Debug("gateway: send failed", "socket", m.ID(), "event", event, "err", err)
		} else {
			sent++
		}
	}
	h.deliveries[kind].Add(uint64(sent))
}

// freeIdleRooms drops the delivery state of rooms that have no member on
// this node and delivered nothing since before: the memory a node holds
// follows what its sockets use, not every room ever posted to. A later
// post or join starts the room again from the store's last order.
func (h *hub) freeIdleRooms(before time.Time) (freed int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, rm := range h.rooms {
		if rm.active.Load() >= before.UnixNano() || h.members.memberCount(id) > 0 || !rm.idle() {
			continue
		}
		delete(h.rooms, id)
		freed++
	}
	return freed
}

// idle reports whether nothing waits in the room's sequencer or pipeline.
func (rm *room) idle() bool {
	rm.seq.mu.Lock()
	waiting := len(rm.seq.pending) > 0 || rm.seq.gapTimer != nil
	rm.seq.mu.Unlock()
	if waiting {
		return false
	}
	rm.out.mu.Lock()
	defer rm.out.mu.Unlock()
	return !rm.out.draining && len(rm.out.queue) == 0 && rm.out.listTimer == nil
}

// shutdown stops timers, refuses new background work and waits for the
// deliveries in flight.
func (h *hub) shutdown(ctx context.Context) error {
	h.lifeMu.Lock()
	h.stopped = true
	h.lifeMu.Unlock()
	h.mu.Lock()
	all := slices.Collect(maps.Values(h.rooms))
	h.mu.Unlock()
	for _, rm := range all {
		rm.seq.mu.Lock()
		if rm.seq.gapTimer != nil {
			rm.seq.gapTimer.Stop()
			rm.seq.gapTimer = nil
		}
		rm.seq.mu.Unlock()
		rm.out.stopTimer()
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

// offsetTag names a room inside recovery offsets: short, so offsets stay
// small on every message, and the same on every node.
func offsetTag(roomID string) string {
	sum := sha256.Sum256([]byte(roomID))
	return base64.RawURLEncoding.EncodeToString(sum[:6])
}

// recoveryOffset is the offset a recovering client presents back: the
// order of the last message it processed and the room it belongs to.
func recoveryOffset(tag string, order int64) string {
	return strconv.FormatInt(order, 10) + "." + tag
}

// parseOffset splits an offset made by recoveryOffset.
func parseOffset(offset string) (tag string, order int64, ok bool) {
	num, tag, found := strings.Cut(offset, ".")
	if !found || tag == "" {
		return "", 0, false
	}
	order, err := strconv.ParseInt(num, 10, 64)
	if err != nil || order < 0 {
		return "", 0, false
	}
	return tag, order, true
}
