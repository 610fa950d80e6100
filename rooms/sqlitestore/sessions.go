package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"chatgateway/rooms"
)

// Sessions and participant reclaims are rare next to posts (one per join,
// connect or disconnect), so they run as plain statements in the writer
// rather than prepared ones. Running in the writer makes each call one
// serialisable step: two claims of one session cannot both be granted.

const (
	// A released entry ('' holder) belongs to no socket: never reclaimed.
	reclaimParticipantSQL = `UPDATE participants SET socket_id = ?3, node_id = ?4, connected = 1, disconnected_at = 0
		WHERE room_id = ?1 AND socket_id = ?2 AND socket_id <> ''
		AND (?2 = ?3 OR NOT EXISTS (SELECT 1 FROM participants WHERE room_id = ?1 AND socket_id = ?3 AND socket_id <> ''))`
	openSessionSQL = `INSERT INTO sessions (key, socket_id, node_id, live) VALUES (?1, ?2, ?3, 1)
		ON CONFLICT (key) DO UPDATE SET socket_id = excluded.socket_id, node_id = excluded.node_id, live = 1, departed_at = 0`
	// A departed session stays departed: a join still in flight when its
	// socket went away only adds to what is kept.
	ensureSessionSQL  = `INSERT INTO sessions (key, socket_id, node_id, live) VALUES (?1, ?2, ?3, 1) ON CONFLICT (key) DO NOTHING`
	addSessionRoomSQL = `INSERT INTO session_rooms (session_key, position, room_id, username, avatar, since)
		VALUES (?1, coalesce((SELECT max(position) FROM session_rooms WHERE session_key = ?1), 0) + 1, ?2, ?3, ?4, ?5)
		ON CONFLICT (session_key, room_id) DO UPDATE SET username = excluded.username, avatar = excluded.avatar, since = excluded.since`
	departSessionSQL = `UPDATE sessions SET live = 0, departed_at = ?3, log = ?4 WHERE key = ?1 AND live = 1 AND node_id = ?2`
	readSessionSQL   = `SELECT socket_id, node_id, live, departed_at, tainted, consumed, claimant, log FROM sessions WHERE key = ?1`
	sessionRoomsSQL  = `SELECT room_id, username, avatar, since FROM session_rooms WHERE session_key = ?1 ORDER BY position`
	deleteSessionSQL = `DELETE FROM sessions WHERE key = ?1`
	pruneSessionsSQL = `DELETE FROM sessions WHERE live = 0 AND departed_at > 0 AND departed_at < ?1`
)

// ReclaimParticipant implements rooms.Store.
func (s *Store) ReclaimParticipant(ctx context.Context, roomID, oldSocketID, newSocketID, nodeID string) (bool, error) {
	var found bool
	err := s.submit(ctx, func(w *writeTx) error {
		n, err := w.exec(reclaimParticipantSQL, roomID, oldSocketID, newSocketID, nodeID)
		found = n > 0
		return err
	})
	return found, err
}

// OpenSession implements rooms.SessionStore.
func (s *Store) OpenSession(ctx context.Context, key, socketID, nodeID string) error {
	return s.submit(ctx, func(w *writeTx) error {
		_, err := w.exec(openSessionSQL, key, socketID, nodeID)
		return err
	})
}

// AddSessionRoom implements rooms.SessionStore.
func (s *Store) AddSessionRoom(ctx context.Context, key, socketID, nodeID string, room rooms.SessionRoom) error {
	return s.submit(ctx, func(w *writeTx) error {
		if _, err := w.exec(ensureSessionSQL, key, socketID, nodeID); err != nil {
			return err
		}
		_, err := w.exec(addSessionRoomSQL, key, room.RoomID, room.Username, room.Avatar, room.Since)
		return err
	})
}

// DepartSession implements rooms.SessionStore.
func (s *Store) DepartSession(ctx context.Context, key, nodeID string, at time.Time, log []byte) error {
	return s.submit(ctx, func(w *writeTx) error {
		_, err := w.exec(departSessionSQL, key, nodeID, at.UnixNano(), log)
		return err
	})
}

// EndSession implements rooms.SessionStore.
func (s *Store) EndSession(ctx context.Context, key, nodeID string) error {
	return s.submit(ctx, func(w *writeTx) error {
		_, err := w.exec(`DELETE FROM sessions WHERE key = ?1 AND live = 1 AND node_id = ?2`, key, nodeID)
		return err
	})
}

// ClaimSession implements rooms.SessionStore.
func (s *Store) ClaimSession(ctx context.Context, c rooms.SessionClaim) (rooms.ClaimOutcome, rooms.Session, error) {
	outcome, sess := rooms.ClaimRefused, rooms.Session{}
	err := s.submit(ctx, func(w *writeTx) error {
		rec, found, err := w.readSession(c.Key)
		if err != nil || !found || rec.tainted || rec.consumed {
			return err
		}
		switch {
		case rec.claimant != "" && rec.claimant != c.Claimant:
			_, err = w.exec(`UPDATE sessions SET tainted = 1 WHERE key = ?1`, c.Key)
		case rec.Live:
			if _, err = w.exec(`UPDATE sessions SET claimant = ?2 WHERE key = ?1`, c.Key, c.Claimant); err == nil {
				outcome, sess = rooms.ClaimPending, rec.Session
			}
		case c.Now.After(rec.DepartedAt.Add(c.Grace)):
			_, err = w.exec(deleteSessionSQL, c.Key)
		default:
			if _, err = w.exec(`UPDATE sessions SET consumed = 1, claimant = '' WHERE key = ?1`, c.Key); err == nil {
				outcome, sess = rooms.ClaimGranted, rec.Session
			}
		}
		return err
	})
	if err != nil {
		return rooms.ClaimRefused, rooms.Session{}, err
	}
	return outcome, sess, nil
}

// WithdrawClaim implements rooms.SessionStore.
func (s *Store) WithdrawClaim(ctx context.Context, key, claimant string) error {
	return s.submit(ctx, func(w *writeTx) error {
		_, err := w.exec(`UPDATE sessions SET claimant = '' WHERE key = ?1 AND claimant = ?2`, key, claimant)
		return err
	})
}

// TaintSessions implements rooms.SessionStore.
func (s *Store) TaintSessions(ctx context.Context, keys ...string) error {
	return s.submit(ctx, func(w *writeTx) error {
		for _, k := range keys {
			if _, err := w.exec(`UPDATE sessions SET tainted = 1 WHERE key = ?1`, k); err != nil {
				return err
			}
		}
		return nil
	})
}

// TakeOverSession implements rooms.SessionStore.
func (s *Store) TakeOverSession(ctx context.Context, key, nodeID string, now time.Time, window time.Duration) (rooms.Session, bool, error) {
	var (
		sess rooms.Session
		ok   bool
	)
	err := s.submit(ctx, func(w *writeTx) error {
		rec, found, err := w.readSession(key)
		if err != nil || !found {
			return err
		}
		if !rec.Live && now.After(rec.DepartedAt.Add(window)) {
			_, err = w.exec(deleteSessionSQL, key)
			return err
		}
		if _, err = w.exec(`UPDATE sessions SET live = 1, node_id = ?2, departed_at = 0, log = NULL WHERE key = ?1`, key, nodeID); err != nil {
			return err
		}
		sess, ok = rec.Session, true
		return nil
	})
	if err != nil {
		return rooms.Session{}, false, err
	}
	return sess, ok, nil
}

// PruneSessions implements rooms.SessionStore.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int, error) {
	var n int64
	err := s.submit(ctx, func(w *writeTx) error {
		var err error
		n, err = w.exec(pruneSessionsSQL, before.UnixNano())
		return err
	})
	return int(n), err
}

// sessionRow is a session with the store's own bookkeeping.
type sessionRow struct {
	rooms.Session
	tainted, consumed bool
	claimant          string
}

func (w *writeTx) readSession(key string) (sessionRow, bool, error) {
	ctx := context.Background()
	rec := sessionRow{Session: rooms.Session{Key: key}}
	var live, departed, tainted, consumed int64
	err := w.s.writeConn.QueryRowContext(ctx, readSessionSQL, key).Scan(
		&rec.SocketID, &rec.NodeID, &live, &departed, &tainted, &consumed, &rec.claimant, &rec.Log)
	if errors.Is(err, sql.ErrNoRows) {
		return rec, false, nil
	}
	if err != nil {
		return rec, false, rooms.Unavailable(fmt.Errorf("read session: %w", err))
	}
	rec.Live, rec.tainted, rec.consumed = live != 0, tainted != 0, consumed != 0
	if departed != 0 {
		rec.DepartedAt = time.Unix(0, departed).UTC()
	}
	rows, err := w.s.writeConn.QueryContext(ctx, sessionRoomsSQL, key)
	if err != nil {
		return rec, false, rooms.Unavailable(fmt.Errorf("read session rooms: %w", err))
	}
	defer rows.Close()
	for rows.Next() {
		var r rooms.SessionRoom
		if err := rows.Scan(&r.RoomID, &r.Username, &r.Avatar, &r.Since); err != nil {
			return rec, false, rooms.Unavailable(fmt.Errorf("read session rooms: %w", err))
		}
		rec.Rooms = append(rec.Rooms, r)
	}
	if err := rows.Err(); err != nil {
		return rec, false, rooms.Unavailable(fmt.Errorf("read session rooms: %w", err))
	}
	return rec, true, nil
}

// exec runs one statement in the writer's transaction and reports the rows
// it changed.
func (w *writeTx) exec(query string, args ...any) (int64, error) {
	res, err := w.s.writeConn.ExecContext(context.Background(), query, args...)
	if err != nil {
		return 0, rooms.Unavailable(fmt.Errorf("sqlitestore: %w", err))
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, rooms.Unavailable(err)
	}
	return n, nil
}
