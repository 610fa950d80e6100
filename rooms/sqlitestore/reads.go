package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"chatgateway/rooms"
)

// Read queries. Each is one statement, so it reads one consistent snapshot:
// the room's existence and its rows cannot disagree. The LEFT JOINs give
// one all-NULL row for an existing room with nothing in the range and no
// row at all for a missing room.
const (
	getRoomSQL = "SELECT creator, created_at FROM rooms WHERE id = ?1"
	// The range is a primary-key range scan, already in order.
	messagesSQL = `SELECT m.ord, m.username, m.content, m.created_at
		FROM rooms r LEFT JOIN messages m ON m.room_id = r.id AND m.ord BETWEEN ?2 AND ?3
		WHERE r.id = ?1 ORDER BY m.ord`
	// A seek to the last key of the room's primary-key range: O(log n).
	// The writer uses it too, to load its order cache.
	lastOrderSQL    = "SELECT coalesce((SELECT ord FROM messages WHERE room_id = ?1 ORDER BY ord DESC LIMIT 1), 0) FROM rooms WHERE id = ?1"
	participantsSQL = `SELECT p.socket_id, p.username, p.avatar, p.connected, p.node_id
		FROM rooms r LEFT JOIN participants p ON p.room_id = r.id
		WHERE r.id = ?1 ORDER BY p.position`
)

// beginRead holds off Close until the read is done.
func (s *Store) beginRead(ctx context.Context) (end func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, closedError()
	}
	return s.mu.RUnlock, nil
}

// readError reports a caller's ended context as itself and anything else
// as the store being unavailable.
func readError(ctx context.Context, what string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return ctxErr
	}
	return rooms.Unavailable(fmt.Errorf("sqlitestore: %s: %w", what, err))
}

// GetRoom implements rooms.Store.
func (s *Store) GetRoom(ctx context.Context, roomID string) (rooms.Room, error) {
	end, err := s.beginRead(ctx)
	if err != nil {
		return rooms.Room{}, err
	}
	defer end()
	room := rooms.Room{ID: roomID}
	var createdAt string
	err = s.readDB.QueryRowContext(ctx, getRoomSQL, roomID).Scan(&room.Creator, &createdAt)
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.Room{}, rooms.RoomNotFound(roomID)
	}
	if err != nil {
		return rooms.Room{}, readError(ctx, fmt.Sprintf("read room %q", roomID), err)
	}
	if room.CreatedAt, err = time.Parse(time.RFC3339Nano, createdAt); err != nil {
		return rooms.Room{}, rooms.Unavailable(fmt.Errorf("sqlitestore: room %q has a bad creation time %q: %w", roomID, createdAt, err))
	}
	return room, nil
}

// Messages implements rooms.Store.
func (s *Store) Messages(ctx context.Context, roomID string, fromOrder, toOrder int64) ([]rooms.Message, error) {
	end, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	what := fmt.Sprintf("read messages %d..%d of room %q", fromOrder, toOrder, roomID)
	rows, err := s.readDB.QueryContext(ctx, messagesSQL, roomID, fromOrder, toOrder)
	if err != nil {
		return nil, readError(ctx, what, err)
	}
	defer rows.Close()
	found := false
	out := []rooms.Message{}
	for rows.Next() {
		found = true
		var (
			order                        sql.NullInt64
			username, content, createdAt sql.NullString
		)
		if err := rows.Scan(&order, &username, &content, &createdAt); err != nil {
			return nil, readError(ctx, what, err)
		}
		if order.Valid {
			out = append(out, rooms.Message{Order: order.Int64, Username: username.String, Content: content.String, CreatedAt: createdAt.String})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, readError(ctx, what, err)
	}
	if !found {
		return nil, rooms.RoomNotFound(roomID)
	}
	return out, nil
}

// LastOrder implements rooms.Store.
func (s *Store) LastOrder(ctx context.Context, roomID string) (int64, error) {
	end, err := s.beginRead(ctx)
	if err != nil {
		return 0, err
	}
	defer end()
	var last int64
	err = s.readDB.QueryRowContext(ctx, lastOrderSQL, roomID).Scan(&last)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, rooms.RoomNotFound(roomID)
	}
	if err != nil {
		return 0, readError(ctx, fmt.Sprintf("read last order of room %q", roomID), err)
	}
	return last, nil
}

// Participants implements rooms.Store.
func (s *Store) Participants(ctx context.Context, roomID string) ([]rooms.Participant, error) {
	end, err := s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	what := fmt.Sprintf("read participants of room %q", roomID)
	rows, err := s.readDB.QueryContext(ctx, participantsSQL, roomID)
	if err != nil {
		return nil, readError(ctx, what, err)
	}
	defer rows.Close()
	found := false
	out := []rooms.Participant{}
	for rows.Next() {
		found = true
		var (
			socketID, username, avatar, nodeID sql.NullString
			connected                          sql.NullInt64
		)
		if err := rows.Scan(&socketID, &username, &avatar, &connected, &nodeID); err != nil {
			return nil, readError(ctx, what, err)
		}
		if socketID.Valid {
			out = append(out, rooms.Participant{
				RoomID:    roomID,
				Username:  username.String,
				Avatar:    avatar.String,
				Connected: connected.Int64 != 0,
				SocketID:  socketID.String,
				NodeID:    nodeID.String,
			})
		}
	}
	if err := rows.Err(); err != nil {
		return nil, readError(ctx, what, err)
	}
	if !found {
		return nil, rooms.RoomNotFound(roomID)
	}
	return out, nil
}
