package rooms

import (
	"context"
	"time"
)

// Session is what a client session joined, kept where every node can read
// it, so that a client reconnecting after a restart of its node, or to
// another node, gets its rooms back.
//
// Key names the session as the client presents it again: the Engine.IO
// session id a socket.io-client 2.x sends back in its cookie, or the private
// id (pid) a Socket.IO v5 client sends in its CONNECT auth (connection state
// recovery). The two kinds never share keys: the gateway prefixes them.
type Session struct {
	Key string
	// SocketID is the socket id the session had; a recovered v5 socket
	// keeps it.
	SocketID string
	// NodeID is the server process holding the session while it is live.
	NodeID string
	// Live is true while a socket holds the session; DepartedAt is when it
	// stopped (set when Live is false).
	Live       bool
	DepartedAt time.Time
	// Rooms are the session's memberships in the order they were joined.
	Rooms []SessionRoom
	// Log is the gateway's delivery log, saved when the session departs;
	// opaque to the store.
	Log []byte
}

// SessionRoom is one membership of a session.
type SessionRoom struct {
	RoomID   string
	Username string
	Avatar   string
	// Since is the room's last message order when the membership began:
	// the session has seen nothing of the room up to it.
	Since int64
}

// ClaimOutcome is the answer to a client presenting a previous session.
type ClaimOutcome int

const (
	// ClaimRefused: the session is unknown, expired, already taken over,
	// tainted (its cookie was seen on two live sockets) or contested (a
	// second live socket claims it).
	ClaimRefused ClaimOutcome = iota
	// ClaimGranted: the session had departed; it is now consumed (granted
	// once) and its rooms go to the claimant.
	ClaimGranted
	// ClaimPending: the session is still live. The claimant is recorded as
	// the one waiting for it and may claim again; the session's rooms are
	// returned so the claimant can note where they stand, but they are not
	// granted.
	ClaimPending
)

func (o ClaimOutcome) String() string {
	switch o {
	case ClaimGranted:
		return "granted"
	case ClaimPending:
		return "pending"
	default:
		return "refused"
	}
}

// SessionClaim is a client presenting a previous session Key: the Engine.IO
// session cookie of a socket.io-client 2.x, which every tab of a browser
// shares, so a claim must never hand one tab's rooms to another.
type SessionClaim struct {
	Key string
	// Claimant is the claiming socket's own session key.
	Claimant string
	Now      time.Time
	// Grace bounds how long after its departure a session can be claimed.
	Grace time.Duration
}

// SessionStore keeps sessions for restore and recovery. Every store of the
// rooms package implements it next to Store; a single-node store may keep
// them in memory, a durable or shared one must keep them where a restarted
// or another node reads them.
//
// A store makes every session of a node that stopped without saying so
// departed: SQLite when it opens (the previous process is gone), Redis when
// the node is reaped.
type SessionStore interface {
	// OpenSession records a live session held by nodeID, keeping the rooms
	// of an existing record with that key.
	OpenSession(ctx context.Context, key, socketID, nodeID string) error
	// AddSessionRoom adds or replaces (by room id) a membership of a
	// session; an unknown key is recorded as a live session first. A
	// departed session stays departed.
	AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room SessionRoom) error
	// DepartSession marks the session departed at `at` with its delivery
	// log, if nodeID still holds it live. A missing session is not an error.
	DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error
	// EndSession deletes the session if nodeID holds it live: the client
	// left on purpose, so there is nothing to restore.
	EndSession(ctx context.Context, key, nodeID string) error
	// ClaimSession answers a 2.x client presenting a previous session id,
	// atomically (see ClaimOutcome). A claim from a second claimant while
	// the first still waits taints the session: a cookie seen on two live
	// sockets at once identifies neither.
	ClaimSession(ctx context.Context, claim SessionClaim) (ClaimOutcome, Session, error)
	// WithdrawClaim forgets claimant as the one waiting for key (the
	// claimant went away, or joined rooms of its own).
	WithdrawClaim(ctx context.Context, key, claimant string) error
	// TaintSessions marks sessions whose cookie was seen on two live
	// sockets: they are never granted. Unknown keys are ignored (record
	// them with OpenSession first).
	TaintSessions(ctx context.Context, keys ...string) error
	// TakeOverSession moves a v5 session to nodeID and makes it live again:
	// the client proved it owns the session by presenting its private id,
	// so a session still live (its old transport not yet noticed dead) is
	// taken over too. It reports false for an unknown session or one
	// departed longer than window ago.
	TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (Session, bool, error)
	// PruneSessions deletes sessions that departed before `before`, and
	// returns how many it deleted.
	PruneSessions(ctx context.Context, before time.Time) (int, error)
}
