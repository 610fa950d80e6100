package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// writeStatements are prepared once on the writer's connection, so a batch
// spends no time parsing SQL.
type writeStatements struct {
	begin, commit, rollback        *sql.Stmt
	savepoint, rollbackTo, release *sql.Stmt
	insertRoom, deleteRoom         *sql.Stmt
	deleteMessages                 *sql.Stmt
	deleteParticipants             *sql.Stmt
	lastOrder, insertMessage       *sql.Stmt
	participants                   participantStatements
}

// Participant statements that must seek by index in rooms of any size
// (TestParticipantWritesAreIndexSeeks); the others use a primary key.
// participants_by_holder is partial, so lookups by holder repeat its
// condition (a non-empty socket_id) for the planner to use it.
const (
	heldBySQL = "SELECT username FROM participants WHERE room_id = ?1 AND socket_id = ?2 AND socket_id <> ''"
	// A released entry keeps the time it disconnected, if it had.
	releaseSQL = `UPDATE participants SET socket_id = '', connected = 0,
		disconnected_at = CASE connected WHEN 1 THEN ?3 ELSE disconnected_at END
		WHERE room_id = ?1 AND socket_id = ?2 AND socket_id <> ''`
	pruneSQL = "DELETE FROM participants WHERE room_id = ?1 AND connected = 0 AND disconnected_at < ?2"
	// Two seeks on participants_by_position: when the positions in use
	// span fewer than the bound, the room is not full and nothing needs
	// counting.
	spanSQL = `SELECT
		(SELECT position FROM participants WHERE room_id = ?1 ORDER BY position DESC LIMIT 1),
		(SELECT position FROM participants WHERE room_id = ?1 ORDER BY position LIMIT 1)`
	oldestGoneSQL = "SELECT username FROM participants WHERE room_id = ?1 AND connected = 0 ORDER BY disconnected_at, position LIMIT ?2"
	disconnectSQL = `UPDATE participants SET connected = 0, disconnected_at = ?4
		WHERE room_id = ?1 AND socket_id = ?2 AND socket_id <> '' AND connected = 1 AND (?3 = '' OR node_id = ?3)`
)

// participantStatements are what a join, a disconnection and the list
// bounds need; see writeTx.upsertParticipant.
type participantStatements struct {
	heldBy, exists, release, rejoin *sql.Stmt
	prune, span, count, oldestGone  *sql.Stmt
	evict, insert, disconnect       *sql.Stmt
}

func prepareWriteStatements(ctx context.Context, conn *sql.Conn) (*writeStatements, error) {
	ws := &writeStatements{}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		// IMMEDIATE takes the write lock at once instead of at the first
		// write, so a busy lock shows up at BEGIN, before any work.
		{&ws.begin, "BEGIN IMMEDIATE"},
		{&ws.commit, "COMMIT"},
		{&ws.rollback, "ROLLBACK"},
		{&ws.savepoint, "SAVEPOINT request"},
		{&ws.rollbackTo, "ROLLBACK TO request"},
		{&ws.release, "RELEASE request"},
		{&ws.insertRoom, "INSERT INTO rooms (id, creator, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (id) DO NOTHING"},
		{&ws.deleteRoom, "DELETE FROM rooms WHERE id = ?1"},
		{&ws.deleteMessages, "DELETE FROM messages WHERE room_id = ?1"},
		{&ws.deleteParticipants, "DELETE FROM participants WHERE room_id = ?1"},
		// No row: the room does not exist.
		{&ws.lastOrder, lastOrderSQL},
		{&ws.insertMessage, "INSERT INTO messages (room_id, ord, username, content, created_at) VALUES (?1, ?2, ?3, ?4, ?5)"},
		{&ws.participants.heldBy, heldBySQL},
		{&ws.participants.exists, "SELECT 1 FROM participants WHERE room_id = ?1 AND username = ?2"},
		{&ws.participants.release, releaseSQL},
		{&ws.participants.rejoin, `UPDATE participants SET avatar = ?3, socket_id = ?4, node_id = ?5, connected = 1, disconnected_at = 0
			WHERE room_id = ?1 AND username = ?2`},
		{&ws.participants.prune, pruneSQL},
		{&ws.participants.span, spanSQL},
		{&ws.participants.count, "SELECT count(*) FROM participants WHERE room_id = ?1"},
		{&ws.participants.oldestGone, oldestGoneSQL},
		{&ws.participants.evict, "DELETE FROM participants WHERE room_id = ?1 AND username = ?2"},
		{&ws.participants.insert, `INSERT INTO participants (room_id, username, position, avatar, socket_id, node_id, connected, disconnected_at)
			VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, 0)`},
		{&ws.participants.disconnect, disconnectSQL},
	} {
		stmt, err := conn.PrepareContext(ctx, p.sql)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("prepare %q: %w", p.sql, err), ws.close())
		}
		*p.stmt = stmt
	}
	return ws, nil
}

func (ws *writeStatements) close() error {
	var errs []error
	for _, st := range []*sql.Stmt{
		ws.begin, ws.commit, ws.rollback,
		ws.savepoint, ws.rollbackTo, ws.release,
		ws.insertRoom, ws.deleteRoom, ws.deleteMessages, ws.deleteParticipants,
		ws.lastOrder, ws.insertMessage,
		ws.participants.heldBy, ws.participants.exists, ws.participants.release, ws.participants.rejoin,
		ws.participants.prune, ws.participants.span, ws.participants.count, ws.participants.oldestGone,
		ws.participants.evict, ws.participants.insert, ws.participants.disconnect,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
