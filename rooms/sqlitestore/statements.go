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
	begin, commit, rollback         *sql.Stmt
	savepoint, rollbackTo, release  *sql.Stmt
	insertRoom, deleteRoom          *sql.Stmt
	deleteMessages                  *sql.Stmt
	deleteParticipants              *sql.Stmt
	lastOrder, insertMessage        *sql.Stmt
	upsertParticipant, setConnected *sql.Stmt
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
		// A new entry goes after the room's last position; a replaced
		// entry keeps its position.
		{&ws.upsertParticipant, `INSERT INTO participants (room_id, socket_id, position, username, avatar, connected, node_id)
			VALUES (?1, ?2, coalesce((SELECT position FROM participants WHERE room_id = ?1 ORDER BY position DESC LIMIT 1), 0) + 1, ?3, ?4, ?5, ?6)
			ON CONFLICT (room_id, socket_id) DO UPDATE SET
				username = excluded.username,
				avatar = excluded.avatar,
				connected = excluded.connected,
				node_id = excluded.node_id`},
		{&ws.setConnected, "UPDATE participants SET connected = ?3 WHERE room_id = ?1 AND socket_id = ?2 AND (?4 = '' OR node_id = ?4)"},
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
		ws.lastOrder, ws.insertMessage, ws.upsertParticipant, ws.setConnected,
	} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	return errors.Join(errs...)
}
