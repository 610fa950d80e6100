// Package memstore is an in-memory rooms.Store: the original server's
// behaviour (state lives and dies with the process), minus its races.
package memstore

import (
	"context"
	"sync"
	"time"

	"chatgateway/rooms"
)

// Store keeps rooms in maps guarded by mutexes: one lock for the room index
// and one per room, so traffic in different rooms does not contend.
type Store struct {
	mu    sync.RWMutex
	rooms map[string]*room

	sessions sessions
}

type room struct {
	mu sync.Mutex
	// closed is set under mu when the room leaves the index, so an operation
	// that looked the room up just before a close cannot write into it.
	closed bool
	meta   rooms.Room
	// messages[i] has order i+1, which keeps orders gapless and makes a
	// range read a slice operation.
	messages []rooms.Message
	people   participantList
}

var _ rooms.Store = (*Store)(nil)

// New returns an empty store.
func New() *Store {
	return &Store{rooms: make(map[string]*room)}
}

// CreateRoom implements rooms.Store.
func (s *Store) CreateRoom(ctx context.Context, r rooms.Room) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, taken := s.rooms[r.ID]; taken {
		return rooms.RoomConflict(r.ID)
	}
	s.rooms[r.ID] = &room{meta: r, people: newParticipantList()}
	return nil
}

// GetRoom implements rooms.Store.
func (s *Store) GetRoom(ctx context.Context, roomID string) (rooms.Room, error) {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return rooms.Room{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return rooms.Room{}, rooms.RoomNotFound(roomID)
	}
	return r.meta, nil
}

// CloseRoom implements rooms.Store.
func (s *Store) CloseRoom(ctx context.Context, roomID string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	r, ok := s.rooms[roomID]
	if ok {
		delete(s.rooms, roomID)
	}
	s.mu.Unlock()
	if !ok {
		return rooms.RoomNotFound(roomID)
	}
	r.mu.Lock()
	r.closed = true
	r.messages, r.people = nil, participantList{}
	r.mu.Unlock()
	return nil
}

// AppendMessage implements rooms.Store.
func (s *Store) AppendMessage(ctx context.Context, roomID string, m rooms.NewMessage) (rooms.Message, error) {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return rooms.Message{}, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return rooms.Message{}, rooms.RoomNotFound(roomID)
	}
	msg := rooms.Message{
		Order:     int64(len(r.messages)) + 1,
		Username:  m.Username,
		Content:   m.Content,
		CreatedAt: m.CreatedAt,
	}
	r.messages = append(r.messages, msg)
	return msg, nil
}

// Messages implements rooms.Store.
func (s *Store) Messages(ctx context.Context, roomID string, fromOrder, toOrder int64) ([]rooms.Message, error) {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, rooms.RoomNotFound(roomID)
	}
	n := int64(len(r.messages))
	// Clamp before any arithmetic: toOrder may be math.MaxInt64.
	from, to := max(fromOrder, 1), min(toOrder, n)
	if from > to {
		return []rooms.Message{}, nil
	}
	out := make([]rooms.Message, to-from+1)
	copy(out, r.messages[from-1:to])
	return out, nil
}

// pageSize is how many messages one page of a ReadMessages range holds.
const pageSize = 256

// ReadMessages implements rooms.Store. The range keeps the part of the
// history slice it covers: appends never write inside a slice's length and
// a close drops the slice without touching its array, so reading it needs
// no lock and copies nothing until a page is handed out.
func (s *Store) ReadMessages(ctx context.Context, roomID string, fromOrder, toOrder int64, fn func(rooms.MessageRange) error) error {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return rooms.RoomNotFound(roomID)
	}
	n := int64(len(r.messages))
	from, to := max(fromOrder, 1), min(toOrder, n)
	var msgs []rooms.Message
	if from <= to {
		msgs = r.messages[from-1 : to : to]
	}
	r.mu.Unlock()
	return fn(&messageRange{room: r, roomID: roomID, msgs: msgs})
}

type messageRange struct {
	room   *room
	roomID string
	msgs   []rooms.Message
}

// Pages implements rooms.MessageRange. A room closed (and maybe re-created)
// since the range opened is a different *room, so it is always noticed.
func (m *messageRange) Pages(ctx context.Context, fn func([]rooms.Message) error) error {
	page := make([]rooms.Message, 0, min(len(m.msgs), pageSize))
	for start := 0; ; start += pageSize {
		if err := ctx.Err(); err != nil {
			return err
		}
		m.room.mu.Lock()
		closed := m.room.closed
		m.room.mu.Unlock()
		if closed {
			return rooms.RoomNotFound(m.roomID)
		}
		if start >= len(m.msgs) {
			return nil
		}
		// A copy, so that a caller writing into its page cannot change
		// the history.
		page = append(page[:0], m.msgs[start:min(start+pageSize, len(m.msgs))]...)
		if err := fn(page); err != nil {
			return err
		}
	}
}

// LastOrder implements rooms.Store.
func (s *Store) LastOrder(ctx context.Context, roomID string) (int64, error) {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return 0, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return 0, rooms.RoomNotFound(roomID)
	}
	return int64(len(r.messages)), nil
}

// UpsertParticipant implements rooms.Store.
func (s *Store) UpsertParticipant(ctx context.Context, p rooms.Participant, limits rooms.ParticipantLimits) error {
	r, err := s.lookup(ctx, p.RoomID)
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return rooms.RoomNotFound(p.RoomID)
	}
	return r.people.join(p, limits)
}

// openRoom returns the room locked, or nil when it does not exist (a
// missing room is not an error for the participant updates).
func (s *Store) openRoom(ctx context.Context, roomID string) (*room, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	r, ok := s.rooms[roomID]
	s.mu.RUnlock()
	if !ok {
		return nil, nil
	}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, nil
	}
	return r, nil
}

// DisconnectParticipant implements rooms.Store.
func (s *Store) DisconnectParticipant(ctx context.Context, roomID, socketID, nodeID string, at time.Time) (bool, error) {
	r, err := s.openRoom(ctx, roomID)
	if r == nil {
		return false, err
	}
	defer r.mu.Unlock()
	return r.people.disconnectHeld(socketID, nodeID, at), nil
}

// ReclaimParticipant implements rooms.Store.
func (s *Store) ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error) {
	r, err := s.openRoom(ctx, roomID)
	if r == nil {
		return false, err
	}
	defer r.mu.Unlock()
	return r.people.reclaim(oldSocketID, newSocketID, nodeID), nil
}

// Participants implements rooms.Store.
func (s *Store) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	r, err := s.lookup(ctx, roomID)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, rooms.RoomNotFound(roomID)
	}
	return r.people.list(), nil
}

func (s *Store) lookup(ctx context.Context, roomID string) (*room, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	r, ok := s.rooms[roomID]
	s.mu.RUnlock()
	if !ok {
		return nil, rooms.RoomNotFound(roomID)
	}
	return r, nil
}
