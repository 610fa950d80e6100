package gateway

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// A reconnecting client gets its rooms back in two ways, both from the
// SessionStore, so both survive a restart of its node and work on any node:
//
//   - socket.io-client 2.x presents its previous Engine.IO session id in the
//     "io" cookie (the original frontend never re-sends "participants").
//     Every tab of a browser shares that cookie, so a claim is granted once,
//     only for a session that has ended, and never for one whose cookie was
//     seen on two live sockets (see claim).
//   - socket.io-client 4.6+ (protocol v5) presents the private id (pid) of
//     its previous socket and the offset of the last event it processed
//     (connection state recovery). The pid is a secret of that one client,
//     so the session is taken over even if it still looks live; the socket
//     keeps its id, gets its rooms and every room message it missed, from
//     the store, in order, exactly once, before live ones.

// Session key prefixes: the two kinds of session never share a key.
const (
	eioSessionPrefix = "eio:"
	pidSessionPrefix = "pid:"
)

// claimRetryInterval is how often a claim waiting for a session that is
// still live elsewhere asks the store again (a session live on this node
// is retried as soon as it ends).
const claimRetryInterval = time.Second

// restorePlan is what a reconnecting socket gets back: the session's rooms
// and, per room, the last order the client already has (messages after it
// are replayed); rooms without an entry start from now.
type restorePlan struct {
	session     rooms.Session
	resumeAfter map[string]int64
}

// departureLog is what a departing socket leaves for its reconnection, in
// the session's Log: per room the last message order queued to it and, for
// a recoverable socket in several rooms, the order in which it was sent
// their messages (see deliveryLog).
type departureLog struct {
	Queued map[string]int64 `json:"q,omitempty"`
	Floor  map[string]int64 `json:"f,omitempty"`
	Rooms  []string         `json:"rooms,omitempty"`
	// Entries are (index in Rooms, order) pairs, oldest first.
	Entries [][2]int64 `json:"log,omitempty"`
}

func (g *Gateway) buildDepartureLog(s *socketState, memberships []*membership) []byte {
	if len(memberships) == 0 {
		return nil
	}
	dl := departureLog{Queued: make(map[string]int64, len(memberships))}
	s.deliverMu.Lock()
	for _, mb := range memberships {
		// Nothing queued yet still says where the socket stood: at its join.
		dl.Queued[mb.roomID] = max(mb.lastQueued.Load(), mb.since)
	}
	if s.log != nil {
		entries, floor := s.log.snapshot()
		dl.Floor = floor
		index := make(map[string]int64)
		for _, e := range entries {
			i, ok := index[e.roomID]
			if !ok {
				i = int64(len(dl.Rooms))
				index[e.roomID] = i
				dl.Rooms = append(dl.Rooms, e.roomID)
			}
			dl.Entries = append(dl.Entries, [2]int64{i, e.order})
		}
	}
	s.deliverMu.Unlock()
	out, err := json.Marshal(dl)
	if err != nil {
		g.log.Error("gateway: cannot encode a departure log", "err", err)
		return nil
	}
	return out
}

func parseDepartureLog(b []byte) (departureLog, bool) {
	var dl departureLog
	if len(b) == 0 || json.Unmarshal(b, &dl) != nil {
		return departureLog{}, false
	}
	for _, e := range dl.Entries {
		if e[0] < 0 || e[0] >= int64(len(dl.Rooms)) {
			return departureLog{}, false
		}
	}
	return dl, true
}

// recoveryPlan works out, from the client's offset, the last message it
// processed in each room of its session. It reports false when that cannot
// be known (the offset is malformed or too old for the delivery log, or the
// log of a socket in several rooms was lost with its node): the client then
// gets a fresh socket rather than a recovery that could skip or repeat.
func recoveryPlan(sess rooms.Session, req socketio.RecoveryRequest) (*restorePlan, bool) {
	plan := &restorePlan{session: sess, resumeAfter: make(map[string]int64, len(sess.Rooms))}
	if !req.HasOffset {
		// It processed no room message since it first connected.
		for _, r := range sess.Rooms {
			plan.resumeAfter[r.RoomID] = r.Since
		}
		return plan, true
	}
	tag, order, ok := parseOffset(req.Offset)
	if !ok {
		return nil, false
	}
	if len(sess.Rooms) == 0 {
		return plan, true
	}
	offsetRoom := ""
	for _, r := range sess.Rooms {
		if offsetTag(r.RoomID) == tag {
			if offsetRoom != "" {
				return nil, false // two rooms with one tag: ambiguous
			}
			offsetRoom = r.RoomID
		}
	}
	if len(sess.Rooms) == 1 && offsetRoom != "" {
		plan.resumeAfter[offsetRoom] = order
		return plan, true
	}
	dl, ok := parseDepartureLog(sess.Log)
	if !ok || offsetRoom == "" {
		return nil, false
	}
	// Find the offset's event in the log; everything after it was queued
	// but not processed.
	at := -1
	for i := len(dl.Entries) - 1; i >= 0; i-- {
		e := dl.Entries[i]
		if dl.Rooms[e[0]] == offsetRoom && e[1] == order {
			at = i
			break
		}
	}
	if at < 0 {
		return nil, false
	}
	for _, r := range sess.Rooms {
		last, found := int64(0), false
		for i := at; i >= 0 && !found; i-- {
			if e := dl.Entries[i]; dl.Rooms[e[0]] == r.RoomID {
				last, found = e[1], true
			}
		}
		if !found {
			var inFloor bool
			if last, inFloor = dl.Floor[r.RoomID]; !inFloor {
				last = r.Since
			}
		}
		plan.resumeAfter[r.RoomID] = last
	}
	return plan, true
}

// onRecover is the namespace's recovery handler for v5 clients.
func (g *Gateway) onRecover(req socketio.RecoveryRequest) (socketio.Recovered, bool) {
	key := pidSessionPrefix + req.PID
	if old := g.members.bySessionKey(key); old != nil {
		// Only its client knows the pid, and that client has moved on: the
		// old transport is dead even if this node has not noticed yet.
		// Closing it saves its delivery log before the take-over reads it.
		_ = old.conn.Close()
	}
	ctx, cancel := g.opContext()
	defer cancel()
	sess, ok, err := g.cfg.Sessions.TakeOverSession(ctx, key, g.cfg.NodeID, g.now(), g.cfg.RecoveryWindow)
	if err != nil {
		g.stats.countRestore(RestoreRecovery, false)
		g.log.Warn("gateway: cannot recover a session; the client starts afresh", "err", err)
		return socketio.Recovered{}, false
	}
	if !ok {
		g.stats.countRestore(RestoreRecovery, false)
		return socketio.Recovered{}, false
	}
	plan, ok := recoveryPlan(sess, req)
	if !ok {
		g.stats.countRestore(RestoreRecovery, false)
		g.log.Debug("gateway: recovery refused: the client's position cannot be known", "socket", sess.SocketID, "rooms", len(sess.Rooms))
		if err := g.cfg.Sessions.EndSession(ctx, key, g.cfg.NodeID); err != nil {
			g.log.Warn("gateway: cannot end an unrecoverable session", "err", err)
		}
		return socketio.Recovered{}, false
	}
	if sess.Live && sess.NodeID != g.cfg.NodeID {
		// Its old node may still hold the socket: tell it to let go.
		for _, r := range sess.Rooms {
			_ = g.publish(ctx, r.RoomID, Envelope{Kind: KindTakeover, Sender: sess.SocketID, Node: g.cfg.NodeID})
		}
	}
	g.stats.countRestore(RestoreRecovery, true)
	return socketio.Recovered{SocketID: sess.SocketID, State: plan}, true
}

// onTakeover closes a local socket whose client was recovered on another
// node.
func (g *Gateway) onTakeover(env Envelope) {
	if env.Node == g.cfg.NodeID {
		return
	}
	if s := g.members.socket(env.Sender); s != nil && s.recoverable {
		_ = s.conn.Close()
	}
}

// restore gives a reconnecting socket the rooms of the session it took
// over: its participant entries come back connected, each room's list is
// sent as a join would send it, and messages it missed are replayed.
func (g *Gateway) restore(s *socketState, plan *restorePlan) {
	ctx, cancel := g.opContext()
	defer cancel()
	var restored []string
	for _, r := range plan.session.Rooms {
		ok, err := g.svc.Reclaim(ctx, r.RoomID, plan.session.SocketID, s.id, g.cfg.NodeID)
		if err != nil {
			g.log.Warn("gateway: cannot restore a room membership", "room", r.RoomID, "socket", s.id, "err", err)
			continue
		}
		if !ok {
			continue // the room was closed since (perhaps re-created)
		}
		mb := &membership{roomID: r.RoomID, username: r.Username, avatar: r.Avatar, since: r.Since}
		g.watchRoom(ctx, mb)
		rm, err := g.hub.prepare(ctx, r.RoomID)
		if err != nil {
			mb.release()
			g.log.Warn("gateway: cannot restore a room membership", "room", r.RoomID, "socket", s.id, "err", err)
			continue
		}
		resume, replay := plan.resumeAfter[r.RoomID]
		if replay {
			// The client has everything up to resume: hold live messages
			// until its replay has run, and never send those again.
			mb.lastQueued.Store(resume)
			mb.holding.Store(true)
		}
		if !g.members.join(s, mb) {
			mb.release()
			return // gone meanwhile
		}
		if replay {
			g.hub.enqueue(rm, delivery{kind: deliverReplay, member: mb, from: resume + 1})
		}
		if s.sessionKey != "" && s.sessionKey != plan.session.Key {
			g.recordRoom(ctx, s, rooms.SessionRoom{RoomID: r.RoomID, Username: r.Username, Avatar: r.Avatar, Since: r.Since})
		}
		_ = g.publish(ctx, r.RoomID, Envelope{Kind: KindParticipants, Sender: s.id})
		restored = append(restored, r.RoomID)
	}
	if len(restored) > 0 {
		g.log.Info("gateway: room memberships restored for a reconnecting client", "socket", s.id, "previousSocket", plan.session.SocketID, "rooms", restored)
	}
}

// recordRoom keeps a membership in the socket's session, unless the socket
// has already gone (a departed session is not brought back).
func (g *Gateway) recordRoom(ctx context.Context, s *socketState, r rooms.SessionRoom) {
	s.storeMu.Lock()
	defer s.storeMu.Unlock()
	if s.departed {
		return
	}
	if err := g.cfg.Sessions.AddSessionRoom(ctx, s.sessionKey, s.id, g.cfg.NodeID, r); err != nil {
		g.log.Warn("gateway: cannot record a room of the session; a reconnection will not restore it", "room", r.RoomID, "socket", s.id, "err", err)
	}
}

// depart records the end of a socket's session: kept for its client's
// reconnection, or ended when the client left on purpose.
func (g *Gateway) depart(s *socketState, memberships []*membership, reason string) {
	if s.sessionKey == "" {
		return
	}
	s.storeMu.Lock()
	s.departed = true
	s.storeMu.Unlock()
	ctx, cancel := g.opContext()
	defer cancel()
	var err error
	if reason == socketio.ReasonClientNamespaceDisconnect {
		err = g.cfg.Sessions.EndSession(ctx, s.sessionKey, g.cfg.NodeID)
	} else {
		err = g.cfg.Sessions.DepartSession(ctx, s.sessionKey, g.cfg.NodeID, g.now(), g.buildDepartureLog(s, memberships))
	}
	if err != nil {
		g.log.Warn("gateway: cannot record a session's end; its client may not get its rooms back", "socket", s.id, "err", err)
	}
	g.claims.retryWaitingFor(s.sessionKey)
}

// pendingClaim is a 2.x client that presented a session still live when it
// connected: a dead connection not noticed yet (its node was killed, or the
// network dropped silently), or another tab of the same browser. It waits,
// asking the store again, for at most ClaimWait: a session that ends by
// then was the client's own; one that lives on is another tab's.
type pendingClaim struct {
	key      string
	claimant *socketState
	deadline time.Time
	// since is, per room of the claimed session, the room's position when
	// the claim began: a late grant replays what came after.
	since map[string]int64
	// names is, per room of the claimed session, the name it had there:
	// while the claim waits, the client (which believes it is still in its
	// rooms) may post there under that name (see Gateway.speaker).
	names map[string]string
	timer *time.Timer
	// retrying is set while a retry runs: at most one runs at a time.
	retrying atomic.Bool
}

// claimBook holds the pending claims.
type claimBook struct {
	mu       sync.Mutex
	bySocket map[*socketState]*pendingClaim
	byKey    map[string][]*pendingClaim
	retry    func(*pendingClaim)
}

func (b *claimBook) add(c *pendingClaim) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.bySocket[c.claimant] = c
	b.byKey[c.key] = append(b.byKey[c.key], c)
}

// remove drops s's pending claim and returns it (nil if none).
func (b *claimBook) remove(s *socketState) *pendingClaim {
	b.mu.Lock()
	defer b.mu.Unlock()
	c := b.bySocket[s]
	if c == nil {
		return nil
	}
	delete(b.bySocket, s)
	b.byKey[c.key] = slices.DeleteFunc(b.byKey[c.key], func(x *pendingClaim) bool { return x == c })
	if len(b.byKey[c.key]) == 0 {
		delete(b.byKey, c.key)
	}
	if c.timer != nil {
		c.timer.Stop()
	}
	return c
}

// claimedName is the name s had in roomID in the session it is waiting
// for, "" when it waits for none or that session was not in the room.
func (b *claimBook) claimedName(s *socketState, roomID string) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if c := b.bySocket[s]; c != nil {
		return c.names[roomID]
	}
	return ""
}

func (b *claimBook) has(c *pendingClaim) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.bySocket[c.claimant] == c
}

// retryWaitingFor retries at once the claims on a session that just ended
// on this node.
func (b *claimBook) retryWaitingFor(key string) {
	b.mu.Lock()
	waiting := slices.Clone(b.byKey[key])
	b.mu.Unlock()
	for _, c := range waiting {
		go b.retry(c)
	}
}

func (b *claimBook) all() []*pendingClaim {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Collect(maps.Values(b.bySocket))
}

// claim answers a 2.x client presenting a previous session in its cookie.
func (g *Gateway) claim(s *socketState, presented string) {
	key := eioSessionPrefix + presented
	ctx, cancel := g.opContext()
	defer cancel()
	if old := g.members.bySessionKey(key); old != nil {
		// Live here: make sure the store knows it (a socket that joined
		// nothing has no record), so the claim waits for its end.
		if err := g.cfg.Sessions.OpenSession(ctx, key, old.id, g.cfg.NodeID); err != nil {
			g.log.Warn("gateway: cannot record a live session", "err", err)
			return
		}
	}
	outcome, sess, err := g.cfg.Sessions.ClaimSession(ctx, rooms.SessionClaim{Key: key, Claimant: s.sessionKey, Now: g.now(), Grace: g.cfg.RejoinGrace})
	if err != nil {
		g.log.Warn("gateway: cannot claim a previous session; the client starts afresh", "socket", s.id, "err", err)
		return
	}
	switch outcome {
	case rooms.ClaimRefused:
		g.stats.countRestore(RestoreCookie, false)
	case rooms.ClaimGranted:
		g.stats.countRestore(RestoreCookie, true)
		g.restore(s, eioPlan(sess, nil))
	case rooms.ClaimPending:
		c := &pendingClaim{key: key, claimant: s, deadline: g.now().Add(g.cfg.ClaimWait),
			since: make(map[string]int64, len(sess.Rooms)), names: make(map[string]string, len(sess.Rooms))}
		for _, r := range sess.Rooms {
			c.names[r.RoomID] = r.Username
			if rm, err := g.hub.prepare(ctx, r.RoomID); err == nil {
				c.since[r.RoomID] = rm.delivered.Load()
			}
		}
		g.claims.add(c)
		g.scheduleClaim(c)
		g.log.Debug("gateway: the presented session is still live; the claim waits for its end", "socket", s.id, "until", c.deadline)
	}
}

// eioPlan restores a 2.x session: rooms resume after what was queued to
// the old socket (its departure log); for a claim that had to wait, after
// where each room stood when the claimant connected (what the old socket
// was sent later went to a dead connection); without either (its node was
// killed), from now on: replaying from its join would repeat what it had.
func eioPlan(sess rooms.Session, since map[string]int64) *restorePlan {
	plan := &restorePlan{session: sess, resumeAfter: make(map[string]int64)}
	if dl, ok := parseDepartureLog(sess.Log); ok {
		maps.Copy(plan.resumeAfter, dl.Queued)
	}
	maps.Copy(plan.resumeAfter, since)
	return plan
}

func (g *Gateway) scheduleClaim(c *pendingClaim) {
	g.claims.mu.Lock()
	defer g.claims.mu.Unlock()
	if g.claims.bySocket[c.claimant] == c && !g.hub.isStopped() {
		c.timer = time.AfterFunc(claimRetryInterval, func() { g.retryClaim(c) })
	}
}

// retryClaim asks the store again for a pending claim.
//
// Retries of one claim never overlap (the retry timer and the end of the
// session on this node both start one): a session is granted once, so of
// two overlapping retries one is granted and the other refused, and the
// refused one could drop the claim before the granted one restored it. A
// retry that finds another running leaves it the work; a running retry
// that read "pending" just before the session ended asks again at its next
// timer.
func (g *Gateway) retryClaim(c *pendingClaim) {
	if !c.retrying.CompareAndSwap(false, true) {
		return
	}
	defer c.retrying.Store(false)
	if !g.claims.has(c) || !g.hub.track() {
		return
	}
	defer g.hub.work.Done()
	ctx, cancel := g.opContext()
	defer cancel()
	outcome, sess, err := g.cfg.Sessions.ClaimSession(ctx, rooms.SessionClaim{Key: c.key, Claimant: c.claimant.sessionKey, Now: g.now(), Grace: g.cfg.RejoinGrace})
	if err != nil {
		g.log.Warn("gateway: cannot retry a claim", "err", err)
		outcome = rooms.ClaimPending
	}
	switch {
	case outcome == rooms.ClaimGranted:
		if g.claims.remove(c.claimant) == c {
			g.stats.countRestore(RestoreCookie, true)
			g.restore(c.claimant, eioPlan(sess, c.since))
		}
	case outcome == rooms.ClaimPending && g.now().Before(c.deadline):
		g.scheduleClaim(c)
	case outcome == rooms.ClaimPending:
		// Still live after any dead connection would have been noticed:
		// two live sockets share the cookie, so it identifies neither.
		if g.claims.remove(c.claimant) == c {
			g.stats.countRestore(RestoreCookie, false)
			g.taint(ctx, c)
		}
	default:
		if g.claims.remove(c.claimant) == c {
			g.stats.countRestore(RestoreCookie, false)
		}
	}
}

// dropClaim ends s's pending claim: s went away (withdraw it, so a later
// claimant is not taken for a second tab), or s joined a room by itself,
// which a reconnecting original frontend never does: s is another page of
// the same browser, and the cookie identifies neither.
func (g *Gateway) dropClaim(s *socketState, joined bool) {
	c := g.claims.remove(s)
	if c == nil {
		return
	}
	ctx, cancel := g.opContext()
	defer cancel()
	if joined {
		g.taint(ctx, c)
		return
	}
	if err := g.cfg.Sessions.WithdrawClaim(ctx, c.key, s.sessionKey); err != nil {
		g.log.Warn("gateway: cannot withdraw a claim", "err", err)
	}
}

func (g *Gateway) taint(ctx context.Context, c *pendingClaim) {
	s := c.claimant
	s.storeMu.Lock()
	if !s.departed {
		// A claimant that joined nothing has no record to taint yet.
		if err := g.cfg.Sessions.OpenSession(ctx, s.sessionKey, s.id, g.cfg.NodeID); err != nil {
			g.log.Warn("gateway: cannot record a session", "err", err)
		}
	}
	s.storeMu.Unlock()
	if err := g.cfg.Sessions.TaintSessions(ctx, c.key, c.claimant.sessionKey); err != nil {
		g.log.Warn("gateway: cannot taint sessions sharing a cookie", "err", err)
	}
	g.log.Debug("gateway: a session cookie is shared by two live sockets; neither will be restored from it", "socket", c.claimant.id)
}
