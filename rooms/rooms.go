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

// Participant is a user present in a room through one socket.
// SocketID and NodeID are internal: the wire form has neither. NodeID names
// the server process holding the socket, so that when that process dies the
// others can mark its participants disconnected; single-node stores keep it
// but never need it.
type Participant struct {
	RoomID    string `json:"roomId"`
	Username  string `json:"username"`
	Avatar    string `json:"avatar"`
	Connected bool   `json:"connected"`
	SocketID  string `json:"-"`
	NodeID    string `json:"-"`
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
	// UpsertParticipant adds the participant keyed by (RoomID, SocketID), or
	// replaces the entry with that key. Entries keep their first-insertion
	// position in the list. It fails with ErrRoomNotFound.
	UpsertParticipant(ctx context.Context, p Participant) error
	// SetConnected flips the connected flag of the entry (roomID, socketID)
	// when nodeID holds it (any node when nodeID is empty): a socket id
	// recovered by another node must not be marked disconnected by the
	// node that lost it. A missing room or entry is not an error: it
	// returns false.
	SetConnected(ctx context.Context, roomID, socketID, nodeID string, connected bool) (bool, error)
	// ReclaimParticipant gives the entry (roomID, oldSocketID) to
	// newSocketID on nodeID and marks it connected, keeping its place in
	// the list: a reconnecting client's entry comes back as it was. It
	// returns false, changing nothing, when the room or entry is gone (the
	// room was closed since, perhaps re-created) or newSocketID already has
	// an entry of its own.
	ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error)
	// Participants lists a room's participants in insertion order. It fails
	// with ErrRoomNotFound.
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
