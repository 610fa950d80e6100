package gateway

import (
	"sync/atomic"

	"chatgateway/rooms"
)

// refusalCodes are the gateway's own refusals, in the order of their
// counters.
var refusalCodes = [...]string{CodeRateLimited, CodeIdentityMismatch, CodeNotJoined, CodeTooManyRooms, CodeUnauthorized, rooms.CodeRoomFull}

// deliveryKindNames name the deliveries of the hub in Stats.
var deliveryKindNames = [...]string{
	deliverMessage:      "message",
	deliverParticipants: "participants",
	deliverDirect:       "direct",
	deliverClosed:       "closed",
	deliverReplay:       "replay",
}

// Restore kinds and outcomes in Stats.Restores.
const (
	// RestoreCookie is a socket.io-client 2.x getting its rooms back from
	// its Engine.IO session cookie (REJOIN_GRACE).
	RestoreCookie = "cookie"
	// RestoreRecovery is a v5 client's connection state recovery
	// (RECOVERY_WINDOW).
	RestoreRecovery = "recovery"
	OutcomeGranted  = "granted"
	OutcomeRefused  = "refused"
)

// gatewayCounters are the gateway's running totals: atomics bumped once per
// event, broadcast or store call (never per recipient), read by Stats.
type gatewayCounters struct {
	refusals         [len(refusalCodes)]atomic.Uint64
	published        atomic.Uint64
	publishErrors    atomic.Uint64
	received         atomic.Uint64
	resyncs          atomic.Uint64
	heartbeats       atomic.Uint64
	heartbeatsFailed atomic.Uint64
	nodesReaped      atomic.Uint64
	// restores[kind][outcome]: kind 0 cookie, 1 recovery; outcome 0
	// granted, 1 refused.
	restores [2][2]atomic.Uint64
}

// Stats is a snapshot of the gateway: gauges of this node's sockets and
// rooms, and totals since the gateway started.
type Stats struct {
	// Sockets is the sockets connected to this node; Rooms the rooms with
	// at least one of them as a member.
	Sockets, Rooms int
	// Deliveries counts events queued to sockets, one per recipient, by
	// kind: message, participants, direct, closed, replay.
	Deliveries map[string]uint64
	// Refusals counts the gateway's refusals by code (rate-limited,
	// identity.mismatch, room.not-joined, rooms.too-many, unauthorized,
	// room.full).
	Refusals map[string]uint64
	// Broker traffic: envelopes published (and failed publishes),
	// envelopes received from the broker (this node's own included) and
	// resyncs asked by it after it may have lost some.
	Published, PublishErrors, Received, Resyncs uint64
	// Node liveness (multi-node only): heartbeats renewed and failed, and
	// dead nodes this node reaped.
	Heartbeats, HeartbeatsFailed, NodesReaped uint64
	// Restores counts reconnecting clients asking for their previous
	// socket, by kind (RestoreCookie, RestoreRecovery) and outcome
	// (OutcomeGranted, OutcomeRefused).
	Restores map[string]map[string]uint64
}

// Stats returns the gateway's counters and gauges.
func (g *Gateway) Stats() Stats {
	c := &g.stats
	st := Stats{
		Deliveries:       map[string]uint64{},
		Refusals:         map[string]uint64{},
		Published:        c.published.Load(),
		PublishErrors:    c.publishErrors.Load(),
		Received:         c.received.Load(),
		Resyncs:          c.resyncs.Load(),
		Heartbeats:       c.heartbeats.Load(),
		HeartbeatsFailed: c.heartbeatsFailed.Load(),
		NodesReaped:      c.nodesReaped.Load(),
		Restores:         map[string]map[string]uint64{},
	}
	st.Sockets, st.Rooms = g.members.counts()
	for i, name := range deliveryKindNames {
		st.Deliveries[name] = g.hub.deliveries[i].Load()
	}
	for i, code := range refusalCodes {
		st.Refusals[code] = c.refusals[i].Load()
	}
	for k, kind := range [...]string{RestoreCookie, RestoreRecovery} {
		st.Restores[kind] = map[string]uint64{
			OutcomeGranted: c.restores[k][0].Load(),
			OutcomeRefused: c.restores[k][1].Load(),
		}
	}
	return st
}

// countRefusal counts err if it is one of the gateway's own refusals.
func (c *gatewayCounters) countRefusal(err error) {
	if !isRefusal(err) {
		return
	}
	code := rooms.ErrorCode(err)
	for i, known := range refusalCodes {
		if known == code {
			c.refusals[i].Add(1)
			return
		}
	}
}

func (c *gatewayCounters) countRestore(kind string, granted bool) {
	k, o := 0, 1
	if kind == RestoreRecovery {
		k = 1
	}
	if granted {
		o = 0
	}
	c.restores[k][o].Add(1)
}

// counts is how many sockets are connected and how many rooms have one as
// a member.
func (r *registry) counts() (sockets, rooms int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sockets), len(r.rooms)
}
