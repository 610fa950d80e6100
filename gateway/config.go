// Package gateway is the chat side of the server: the Socket.IO event
// handlers of the original NestJS gateway (participants, exchanges) plus the
// additions (chat, messages), on top of a hub that owns room membership and
// delivers every room event in order.
//
// Data flow: a handler validates the payload, calls the rooms service (which
// assigns the message order in the store), then publishes an envelope on a
// Broker. The hub is the broker's subscriber: it puts room messages back in
// order, encodes each event once and queues it on every recipient socket.
// Nothing in the hub depends on where an envelope came from, so a Redis
// broker can later feed it from other nodes.
package gateway

import (
	"fmt"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// Delivery selects who receives a room's events.
type Delivery string

const (
	// DeliveryRoom sends a room's events only to the sockets that joined it
	// (or whose membership was restored after a reconnect).
	DeliveryRoom Delivery = "room"
	// DeliveryGlobal sends every event to every connected socket, as the
	// original's io.emit did.
	DeliveryGlobal Delivery = "global"
)

// Defaults of Config.
const (
	DefaultDelivery         = DeliveryRoom
	DefaultRejoinGrace      = 60 * time.Second
	DefaultReorderTimeout   = 2 * time.Second
	DefaultReorderLimit     = 10_000
	DefaultStoreTimeout     = 5 * time.Second
	DefaultMaxFieldBytes    = 1024
	DefaultListBroadcastMax = 100
	DefaultListInterval     = 500 * time.Millisecond
	// DefaultHeartbeatInterval and DefaultNodeTTL: a node that dies is
	// noticed between NodeTTL and NodeTTL+HeartbeatInterval later.
	DefaultHeartbeatInterval = 2 * time.Second
	DefaultNodeTTL           = 6 * time.Second
	// DefaultRecoveryWindow is socket.io's maxDisconnectionDuration default.
	DefaultRecoveryWindow = 2 * time.Minute
	// DefaultEventRate and DefaultEventBurst: a person typing never comes
	// near; a script flooding the server does at once.
	DefaultEventRate  = 20.0
	DefaultEventBurst = 60
	// DefaultMaxRoomsPerSocket: the original frontend joins one room per
	// socket.
	DefaultMaxRoomsPerSocket = 64
	// DefaultClaimWait covers a dead connection noticed by the heartbeat
	// (socket.io 4's pingInterval 25s + pingTimeout 20s) with a margin.
	DefaultClaimWait = 50 * time.Second
)

// Config holds every setting of the gateway. Zero values take the defaults.
type Config struct {
	// Delivery is DeliveryRoom (default) or DeliveryGlobal.
	Delivery Delivery
	// RejoinGrace is how long the rooms of a socket that went away are kept
	// for a socket.io-client 2.x that reconnects presenting that session in
	// its Engine.IO cookie (default 60s; negative disables the restore).
	RejoinGrace time.Duration
	// RecoveryWindow is how long after a disconnection a Socket.IO v5
	// client can recover its socket, rooms and missed messages (connection
	// state recovery; default 2m, socket.io's maxDisconnectionDuration;
	// negative disables it). Room delivery only.
	RecoveryWindow time.Duration
	// ClaimWait bounds how long a 2.x client presenting a session that
	// still looks live waits for it to end (a dead connection the heartbeat
	// has not noticed, a killed node not reaped yet) before the cookie is
	// taken as shared by two live tabs (default 50s; the command line
	// derives it from the heartbeat settings).
	ClaimWait time.Duration
	// Sessions keeps what sessions joined, for restores and recovery; the
	// rooms store in production, so they survive restarts and are shared
	// by nodes (default: a new in-memory store).
	Sessions rooms.SessionStore
	// ReorderTimeout is how long a room message that arrived ahead of its
	// predecessor waits for it before the missing orders are read back from
	// the store (default 2s). With the in-memory broker a gap only lasts as
	// long as two concurrent posts race, far below this.
	ReorderTimeout time.Duration
	// ReorderLimit caps the out-of-order messages held per room; reaching it
	// fills the gap from the store at once (default 10000).
	ReorderLimit int
	// StoreTimeout bounds each store call made for one socket event or one
	// delivery (default 5s).
	StoreTimeout time.Duration
	// MaxFieldBytes caps every identifier-like field of a socket payload
	// (roomId, username, avatar, to, type, createdAt), in bytes (default
	// 1024). Message content is capped by the rooms service's MaxContentBytes.
	MaxFieldBytes int
	// ListBroadcastMax bounds who hears of a participant-list change: a room
	// (in global delivery, a server) with more recipients than this sends a
	// changed list only to the socket that joined, because re-sending n
	// entries to n members on every join is O(n²) bytes (about 1 GB per
	// join at 10,000 members). Smaller rooms behave as the original
	// (default 100).
	ListBroadcastMax int
	// ListInterval is the least time between two participant-list
	// deliveries of such a big room: joiners within it share one encoding
	// of the list (default 500ms). Rooms up to ListBroadcastMax are never
	// delayed.
	ListInterval time.Duration
	// Identity is IdentityBound (the default in room delivery: a socket
	// speaks only in rooms it joined, under the name it joined with) or
	// IdentityOpen (the default in global delivery, as the original).
	Identity Identity
	// Auth, when set, requires every socket to present a token it accepts;
	// the token's name is the only one the socket may join under.
	Auth Authenticator
	// EventRate and EventBurst bound each socket's events (a token bucket:
	// EventRate per second, up to EventBurst at once; defaults 20 and 60);
	// an event over it is refused with code rate-limited. A negative
	// EventRate lifts the bound.
	EventRate  float64
	EventBurst int
	// MaxRoomsPerSocket caps the rooms one socket is in (default 64); a
	// join beyond it is refused with code rooms.too-many.
	MaxRoomsPerSocket int
	// Broker carries envelopes from publishers to the hub (default: a new
	// in-process MemoryBroker).
	Broker Broker
	// NodeID names this server process in participant entries and the node
	// registry (default: hostname plus a random suffix).
	NodeID string
	// Nodes is the liveness registry shared by every node of a multi-node
	// deployment; nil for a single node.
	Nodes NodeRegistry
	// HeartbeatInterval is how often this node renews its registry entry
	// and looks for dead nodes (default 2s). Only used with Nodes.
	HeartbeatInterval time.Duration
	// NodeTTL is how long an entry lives without renewal before other nodes
	// declare the node dead and mark its participants disconnected (default
	// 6s). It must exceed HeartbeatInterval. Only used with Nodes.
	NodeTTL time.Duration
}

// recovery reports whether v5 connection state recovery is on.
func (c Config) recovery() bool { return c.Delivery == DeliveryRoom && c.RecoveryWindow > 0 }

func (c Config) withDefaults() (Config, error) {
	switch c.Delivery {
	case "":
		c.Delivery = DefaultDelivery
	case DeliveryRoom, DeliveryGlobal:
	default:
		return c, fmt.Errorf("gateway: unknown Delivery %q (want %q or %q)", c.Delivery, DeliveryRoom, DeliveryGlobal)
	}
	if c.RejoinGrace == 0 {
		c.RejoinGrace = DefaultRejoinGrace
	}
	if c.RecoveryWindow == 0 {
		c.RecoveryWindow = DefaultRecoveryWindow
	}
	if c.ClaimWait <= 0 {
		c.ClaimWait = DefaultClaimWait
	}
	if c.Sessions == nil {
		c.Sessions = memstore.New()
	}
	switch c.Identity {
	case "":
		c.Identity = IdentityBound
		if c.Delivery == DeliveryGlobal {
			c.Identity = IdentityOpen
		}
	case IdentityBound, IdentityOpen:
	default:
		return c, fmt.Errorf("gateway: unknown Identity %q (want %q or %q)", c.Identity, IdentityBound, IdentityOpen)
	}
	if c.EventRate == 0 {
		c.EventRate = DefaultEventRate
	}
	if c.EventBurst <= 0 {
		c.EventBurst = DefaultEventBurst
	}
	if c.MaxRoomsPerSocket <= 0 {
		c.MaxRoomsPerSocket = DefaultMaxRoomsPerSocket
	}
	if c.ReorderTimeout <= 0 {
		c.ReorderTimeout = DefaultReorderTimeout
	}
	if c.ReorderLimit <= 0 {
		c.ReorderLimit = DefaultReorderLimit
	}
	if c.StoreTimeout <= 0 {
		c.StoreTimeout = DefaultStoreTimeout
	}
	if c.MaxFieldBytes <= 0 {
		c.MaxFieldBytes = DefaultMaxFieldBytes
	}
	if c.ListBroadcastMax <= 0 {
		c.ListBroadcastMax = DefaultListBroadcastMax
	}
	if c.ListInterval <= 0 {
		c.ListInterval = DefaultListInterval
	}
	if c.Broker == nil {
		c.Broker = NewMemoryBroker()
	}
	if c.NodeID == "" {
		c.NodeID = NewNodeID()
	}
	if c.HeartbeatInterval <= 0 {
		c.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if c.NodeTTL <= 0 {
		c.NodeTTL = DefaultNodeTTL
	}
	if c.NodeTTL <= c.HeartbeatInterval {
		return c, fmt.Errorf("gateway: NodeTTL %v must exceed HeartbeatInterval %v", c.NodeTTL, c.HeartbeatInterval)
	}
	return c, nil
}

// checkRetention refuses a participant retention shorter than a window in
// which a reconnecting client reclaims its entry: the entry could be
// pruned before the client is back, and its rooms would not be restored.
func checkRetention(retention time.Duration, c Config) error {
	windows := []struct {
		name string
		d    time.Duration
		on   bool
	}{
		{"RejoinGrace", c.RejoinGrace, c.Delivery == DeliveryRoom && c.RejoinGrace > 0},
		{"RecoveryWindow", c.RecoveryWindow, c.recovery()},
	}
	for _, w := range windows {
		if w.on && retention < w.d {
			return fmt.Errorf("gateway: the rooms service's participant retention %v is shorter than %s %v: a reconnecting client's entry could be pruned before it is back", retention, w.name, w.d)
		}
	}
	return nil
}
