// Package rooms is the domain of the chat server: rooms, their ordered
// message history and their participants. It knows nothing about HTTP,
// Socket.IO or any storage engine; adapters depend on it, never the reverse.
package rooms

import (
	"context"
	"time"
)

// Room is a chat room. Rooms are created over REST and closed (deleted) over REST.
type Room struct {
	ID        string
	Creator   string
	CreatedAt time.Time
}

// Message is one stored chat message. Order is 1-based and gapless per room.
// CreatedAt is kept exactly as the client sent it (the original echoes it
// verbatim), so it is a string, not a time.Time.
type Message struct {
	Order     int64  `json:"order"`
	Username  string `json:"username"`
	Content   string `json:"content"`
	CreatedAt string `json:"createdAt"`
}

// Participant is one username's entry in a room's list. A room has at most
// one entry per username: a re-join under that name, from any socket,
// updates the entry in place. SocketID and NodeID are internal (the wire
// form has neither): SocketID is the socket holding the entry, the one
// whose disconnection marks it disconnected ("" once that socket re-joined
// the room under another name), and NodeID the server process holding that
// socket, so that when that process dies the others can mark its entries
// disconnected; single-node stores keep it but never need it.
type Participant struct {
	RoomID    string `json:"roomId"`
	Username  string `json:"username"`
	Avatar    string `json:"avatar"`
	Connected bool   `json:"connected"`
	SocketID  string `json:"-"`
	NodeID    string `json:"-"`
}

// ParticipantLimits bound a room's list. The store applies them in the
// same atomic step as the join that adds an entry, so concurrent joins
// (from any node) can never take a room past Max.
type ParticipantLimits struct {
	// Now is the time of the join. An entry released by it is
	// disconnected at Now, and entries disconnected before
	// Now-Retention are pruned.
	Now time.Time
	// Retention is how long a disconnected entry is kept; 0 or less keeps
	// it for ever.
	Retention time.Duration
	// Max is the most entries a room may have; 0 or less is no bound.
	Max int
}

// NewMessage is what a poster supplies; the store assigns Order.
type NewMessage struct {
	Username  string
	Content   string
	CreatedAt string
}

// Store persists rooms, messages and participants. Implementations must be
// safe for concurrent use. Every method that can block takes a context.
type Store interface {
	// CreateRoom fails with ErrRoomConflict when the id is taken.
	CreateRoom(ctx context.Context, room Room) error
	// GetRoom fails with ErrRoomNotFound.
	GetRoom(ctx context.Context, roomID string) (Room, error)
	// CloseRoom deletes the room, its history and its participants.
	// It fails with ErrRoomNotFound.
	CloseRoom(ctx context.Context, roomID string) error
	// AppendMessage atomically assigns the next order (last+1, starting at 1)
	// and stores the message. It fails with ErrRoomNotFound.
	AppendMessage(ctx context.Context, roomID string, msg NewMessage) (Message, error)
	// Messages returns the messages with fromOrder <= order <= toOrder, in
	// order. Its cost must be O(range), not O(history): toOrder may be
	// math.MaxInt64. It fails with ErrRoomNotFound.
	Messages(ctx context.Context, roomID string, fromOrder, toOrder int64) ([]Message, error)
	// ReadMessages opens the messages with fromOrder <= order <= toOrder for
	// reading a page at a time and calls fn with them. The range is fixed
	// when it opens: it ends at the last message stored then, so messages
	// appended later are not in it, and every Pages call sees the same
	// messages. Memory is O(page), never O(range): toOrder may be
	// math.MaxInt64. It fails with ErrRoomNotFound without calling fn, and
	// otherwise returns fn's error.
	ReadMessages(ctx context.Context, roomID string, fromOrder, toOrder int64, fn func(MessageRange) error) error
	// LastOrder is the highest order stored in the room, 0 when it has no
	// message. It fails with ErrRoomNotFound.
	LastOrder(ctx context.Context, roomID string) (int64, error)
	// UpsertParticipant joins p.Username to room p.RoomID through socket
	// p.SocketID (not empty) on node p.NodeID. The room's entry for that
	// username is updated in place (avatar, holder socket and node,
	// connected), keeping its place in the list; without one, an entry is
	// appended. p.Connected is ignored: a join connects. An entry the
	// socket held in the room under another username is released: it is
	// disconnected at limits.Now and held by nobody.
	//
	// Only a join that adds an entry is bounded, atomically: first the
	// entries disconnected before limits.Now-limits.Retention are
	// deleted, then, while the room has limits.Max entries or more, the
	// entry disconnected longest ago (on a tie, the earliest in the list)
	// is evicted. When the entries that stay are all connected and fill
	// the room, the join fails with ErrRoomFull and changes nothing.
	// It fails with ErrRoomNotFound.
	UpsertParticipant(ctx context.Context, p Participant, limits ParticipantLimits) error
	// DisconnectParticipant marks the entry socketID holds in roomID
	// disconnected at `at`, when nodeID holds it (any node when nodeID is
	// empty): a socket recovered by another node must not be marked
	// disconnected by the node that lost it. The entry stays held by
	// socketID, for ReclaimParticipant. It reports whether an entry
	// changed: a missing room, a socket holding no entry (it never
	// joined, or a later join under its name took the entry over) or an
	// entry already disconnected is (false, nil).
	DisconnectParticipant(ctx context.Context, roomID, socketID, nodeID string, at time.Time) (bool, error)
	// ReclaimParticipant gives the entry oldSocketID holds in roomID to
	// newSocketID on nodeID and marks it connected, keeping its place in
	// the list: a reconnecting client's entry comes back as it was. It
	// returns false, changing nothing, when the room is gone (closed
	// since, perhaps re-created), oldSocketID holds no entry there (it was
	// pruned, evicted, or taken over by a later join under its name), or
	// newSocketID holds an entry of its own.
	ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error)
	// Participants lists a room's entries in list order: each keeps the
	// place of the join that added it. It fails with ErrRoomNotFound.
	Participants(ctx context.Context, roomID string) ([]Participant, error)
}

// MessageRange is an open range of a room's history (Store.ReadMessages).
type MessageRange interface {
	// Pages calls fn with the range's messages in order, a page at a time
	// (a page is never empty), and returns fn's first error. A page is
	// valid only during the call and must not be modified. Pages may be
	// called several times; it fails with ErrRoomNotFound when the room was
	// closed since the range opened. A store that cannot tell a room closed
	// and re-created meanwhile (SQLite and Redis compare the creation time)
	// may then return the new room's messages: a caller that needs two
	// passes to agree compares them, as the REST API does.
	Pages(ctx context.Context, fn func(page []Message) error) error
}
