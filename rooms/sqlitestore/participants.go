package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"chatgateway/rooms"
)

// A join runs in the writer, so the bound is checked and applied with no
// other write in between; a refused join returns a domain error, which
// rolls its savepoint back: whatever it released or pruned on the way is
// restored.

// UpsertParticipant implements rooms.Store.
func (s *Store) UpsertParticipant(ctx context.Context, p rooms.Participant, limits rooms.ParticipantLimits) error {
	return s.submit(ctx, func(w *writeTx) error { return w.upsertParticipant(p, limits) })
}

// DisconnectParticipant implements rooms.Store.
func (s *Store) DisconnectParticipant(ctx context.Context, roomID, socketID, nodeID string, at time.Time) (bool, error) {
	var changed bool
	err := s.submit(ctx, func(w *writeTx) error {
		res, err := w.s.stmts.participants.disconnect.ExecContext(context.Background(), roomID, socketID, nodeID, at.UnixMilli())
		if err != nil {
			return rooms.Unavailable(fmt.Errorf("disconnect participant %q of room %q: %w", socketID, roomID, err))
		}
		n, err := res.RowsAffected()
		if err != nil {
			return rooms.Unavailable(err)
		}
		changed = n > 0
		return nil
	})
	if err != nil {
		return false, err
	}
	return changed, nil
}

func (w *writeTx) upsertParticipant(p rooms.Participant, limits rooms.ParticipantLimits) error {
	_, ok, err := w.lastOrder(p.RoomID)
	if err != nil {
		return err
	}
	if !ok {
		return rooms.RoomNotFound(p.RoomID)
	}
	st := &w.s.stmts.participants
	ctx := context.Background()
	fail := func(what string, err error) error {
		return rooms.Unavailable(fmt.Errorf("join %q to room %q: %s: %w", p.Username, p.RoomID, what, err))
	}
	var held string
	switch err := st.heldBy.QueryRowContext(ctx, p.RoomID, p.SocketID).Scan(&held); {
	case errors.Is(err, sql.ErrNoRows):
	case err != nil:
		return fail("read the socket's entry", err)
	case held != p.Username:
		if _, err := st.release.ExecContext(ctx, p.RoomID, p.SocketID, limits.Now.UnixMilli()); err != nil {
			return fail("release the socket's entry", err)
		}
	}
	var one int
	switch err := st.exists.QueryRowContext(ctx, p.RoomID, p.Username).Scan(&one); {
	case err == nil:
		if _, err := st.rejoin.ExecContext(ctx, p.RoomID, p.Username, p.Avatar, p.SocketID, p.NodeID); err != nil {
			return fail("update the entry", err)
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return fail("read the entry", err)
	}
	if limits.Retention > 0 {
		if _, err := st.prune.ExecContext(ctx, p.RoomID, limits.Now.Add(-limits.Retention).UnixMilli()); err != nil {
			return fail("prune", err)
		}
	}
	var last, first sql.NullInt64
	if err := st.span.QueryRowContext(ctx, p.RoomID).Scan(&last, &first); err != nil {
		return fail("read positions", err)
	}
	if limits.Max > 0 && last.Int64-first.Int64+1 >= int64(limits.Max) {
		if err := w.makeRoom(p.RoomID, limits.Max); err != nil {
			return err
		}
	}
	if _, err := st.insert.ExecContext(ctx, p.RoomID, p.Username, last.Int64+1, p.Avatar, p.SocketID, p.NodeID); err != nil {
		return fail("insert the entry", err)
	}
	return nil
}

// makeRoom evicts the entries disconnected longest ago until the room has
// fewer than maxEntries, or fails with rooms.RoomFull, evicting nothing,
// when the disconnected ones are too few.
func (w *writeTx) makeRoom(roomID string, maxEntries int) error {
	st := &w.s.stmts.participants
	ctx := context.Background()
	var n int
	if err := st.count.QueryRowContext(ctx, roomID).Scan(&n); err != nil {
		return rooms.Unavailable(fmt.Errorf("count the participants of room %q: %w", roomID, err))
	}
	need := n - maxEntries + 1
	if need <= 0 {
		return nil
	}
	names, err := w.oldestGone(roomID, need)
	if err != nil {
		return err
	}
	if len(names) < need {
		return rooms.RoomFull(roomID, maxEntries)
	}
	for _, name := range names {
		if _, err := st.evict.ExecContext(ctx, roomID, name); err != nil {
			return rooms.Unavailable(fmt.Errorf("evict %q from room %q: %w", name, roomID, err))
		}
	}
	return nil
}

func (w *writeTx) oldestGone(roomID string, limit int) ([]string, error) {
	rows, err := w.s.stmts.participants.oldestGone.QueryContext(context.Background(), roomID, limit)
	if err != nil {
		return nil, rooms.Unavailable(fmt.Errorf("read the disconnected participants of room %q: %w", roomID, err))
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, rooms.Unavailable(fmt.Errorf("read the disconnected participants of room %q: %w", roomID, err))
		}
		names = append(names, name)
	}
	if err := rows.Err(); err != nil {
		return nil, rooms.Unavailable(fmt.Errorf("read the disconnected participants of room %q: %w", roomID, err))
	}
	return names, nil
}
