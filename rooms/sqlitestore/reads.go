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
	lastOrderSQL = "SELECT coalesce((SELECT ord FROM messages WHERE room_id = ?1 ORDER BY ord DESC LIMIT 1), 0) FROM rooms WHERE id = ?1"
	// The room's identity (its creation time) and its last order: where a
	// range read is fixed when it opens.
	openRangeSQL = "SELECT created_at, coalesce((SELECT ord FROM messages WHERE room_id = ?1 ORDER BY ord DESC LIMIT 1), 0) FROM rooms WHERE id = ?1"
	// One page of a range, from the same room only: a closed (or closed and
	// re-created) room yields no row, or not the rows expected.
	rangePageSQL = `SELECT m.ord, m.username, m.content, m.created_at
		FROM rooms r JOIN messages m ON m.room_id = r.id AND m.ord BETWEEN ?3 AND ?4
		WHERE r.id = ?1 AND r.created_at = ?2 ORDER BY m.ord LIMIT ?5`
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

// Page bounds of ReadMessages: a page ends after pageMessages messages or
// once it holds pageBytes of text, whichever comes first, so its memory
// stays small whatever MaxContentBytes allows.
const (
	pageMessages = 256
	pageBytes    = 256 << 10
)

// ReadMessages implements rooms.Store. Nothing is held between pages: each
// page is one short query on a pooled read connection, so a slow consumer
// never pins a connection or a WAL snapshot. The range is fixed by the last
// order and the room's creation time read when it opens; orders are
// gapless and rows never change, so every page read later finds exactly
// the rows it expects unless the room was closed (no row) or re-created
// with another creation time (none of the rows).
func (s *Store) ReadMessages(ctx context.Context, roomID string, fromOrder, toOrder int64, fn func(rooms.MessageRange) error) error {
	end, err := s.beginRead(ctx)
	if err != nil {
		return err
	}
	var (
		createdAt string
		last      int64
	)
	err = s.readDB.QueryRowContext(ctx, openRangeSQL, roomID).Scan(&createdAt, &last)
	end()
	if errors.Is(err, sql.ErrNoRows) {
		return rooms.RoomNotFound(roomID)
	}
	if err != nil {
		return readError(ctx, fmt.Sprintf("open messages %d..%d of room %q", fromOrder, toOrder, roomID), err)
	}
	return fn(&messageRange{s: s, roomID: roomID, createdAt: createdAt, from: max(fromOrder, 1), to: min(toOrder, last)})
}

type messageRange struct {
	s         *Store
	roomID    string
	createdAt string
	from, to  int64
}

// Pages implements rooms.MessageRange.
func (m *messageRange) Pages(ctx context.Context, fn func([]rooms.Message) error) error {
	var page []rooms.Message
	next := m.from
	for {
		var err error
		page, err = m.readPage(ctx, next, page[:0])
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		next = page[len(page)-1].Order + 1
		if err := fn(page); err != nil {
			return err
		}
	}
}

// readPage appends the page starting at order next to page; it is empty
// once the range is done.
func (m *messageRange) readPage(ctx context.Context, next int64, page []rooms.Message) ([]rooms.Message, error) {
	end, err := m.s.beginRead(ctx)
	if err != nil {
		return nil, err
	}
	defer end()
	what := fmt.Sprintf("read messages %d..%d of room %q", next, m.to, m.roomID)
	if next > m.to {
		// Nothing left to read, but a closed room must still be noticed.
		var createdAt string
		err := m.s.readDB.QueryRowContext(ctx, getRoomSQL, m.roomID).Scan(new(string), &createdAt)
		if errors.Is(err, sql.ErrNoRows) || (err == nil && createdAt != m.createdAt) {
			return nil, rooms.RoomNotFound(m.roomID)
		}
		if err != nil {
			return nil, readError(ctx, what, err)
		}
		return page, nil
	}
	rows, err := m.s.readDB.QueryContext(ctx, rangePageSQL, m.roomID, m.createdAt, next, m.to, pageMessages)
	if err != nil {
		return nil, readError(ctx, what, err)
	}
	defer rows.Close()
	size := 0
	for size < pageBytes && rows.Next() {
		var msg rooms.Message
		if err := rows.Scan(&msg.Order, &msg.Username, &msg.Content, &msg.CreatedAt); err != nil {
			return nil, readError(ctx, what, err)
		}
		if msg.Order != next {
			// A gap: these are not the rows the range opened on.
			return nil, rooms.RoomNotFound(m.roomID)
		}
		page = append(page, msg)
		size += len(msg.Username) + len(msg.Content) + len(msg.CreatedAt)
		next++
	}
	if err := rows.Err(); err != nil {
		return nil, readError(ctx, what, err)
	}
	if len(page) == 0 {
		// Rows up to m.to existed when the range opened and are never
		// deleted while the room lives: the room is gone.
		return nil, rooms.RoomNotFound(m.roomID)
	}
	return page, nil
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
