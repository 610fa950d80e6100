package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] brings a database from user_version i to i+1. Steps are
// only ever appended: a released step must never change, because databases
// in the field have already run it.
var migrations = [][]string{
	// Version 1: the initial schema.
	//
	// Every table is clustered on its key (WITHOUT ROWID), so a room's
	// messages are one contiguous b-tree range: a history page is a range
	// scan and the last order is the range's last key. STRICT rejects a
	// value of the wrong type instead of storing it.
	//
	// The foreign keys cascade so a room can never leave orphans behind,
	// even though CloseRoom also deletes its children explicitly.
	{
		`CREATE TABLE rooms (
			id         TEXT NOT NULL PRIMARY KEY,
			creator    TEXT NOT NULL,
			created_at TEXT NOT NULL
		) STRICT, WITHOUT ROWID`,
		`CREATE TABLE messages (
			room_id    TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
			ord        INTEGER NOT NULL CHECK (ord >= 1),
			username   TEXT    NOT NULL,
			content    TEXT    NOT NULL,
			created_at TEXT    NOT NULL,
			PRIMARY KEY (room_id, ord)
		) STRICT, WITHOUT ROWID`,
		`CREATE TABLE participants (
			room_id   TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
			socket_id TEXT    NOT NULL,
			position  INTEGER NOT NULL,
			username  TEXT    NOT NULL,
			avatar    TEXT    NOT NULL,
			connected INTEGER NOT NULL CHECK (connected IN (0, 1)),
			node_id   TEXT    NOT NULL,
			PRIMARY KEY (room_id, socket_id)
		) STRICT, WITHOUT ROWID`,
		// Lists participants in insertion order and finds the next
		// position without scanning the room.
		`CREATE UNIQUE INDEX participants_by_position ON participants (room_id, position)`,
	},
	// Version 2: sessions, for restoring a reconnecting client's rooms
	// after a restart (rooms.SessionStore). Times are Unix nanoseconds;
	// departed_at is 0 while the session is live.
	{
		`CREATE TABLE sessions (
			key         TEXT    NOT NULL PRIMARY KEY,
			socket_id   TEXT    NOT NULL,
			node_id     TEXT    NOT NULL,
			live        INTEGER NOT NULL CHECK (live IN (0, 1)),
			departed_at INTEGER NOT NULL DEFAULT 0,
			tainted     INTEGER NOT NULL DEFAULT 0 CHECK (tainted IN (0, 1)),
			consumed    INTEGER NOT NULL DEFAULT 0 CHECK (consumed IN (0, 1)),
			claimant    TEXT    NOT NULL DEFAULT '',
			log         BLOB
		) STRICT, WITHOUT ROWID`,
		`CREATE TABLE session_rooms (
			session_key TEXT    NOT NULL REFERENCES sessions (key) ON DELETE CASCADE,
			position    INTEGER NOT NULL,
			room_id     TEXT    NOT NULL,
			username    TEXT    NOT NULL,
			avatar      TEXT    NOT NULL,
			since       INTEGER NOT NULL,
			PRIMARY KEY (session_key, room_id)
		) STRICT, WITHOUT ROWID`,
		// Pruning finds departed sessions by age without a scan.
		`CREATE INDEX sessions_by_departure ON sessions (departed_at) WHERE live = 0`,
	},
	// Version 3: one participant entry per username per room, held by one
	// socket at a time (rooms.Store.UpsertParticipant), with the time it
	// disconnected for pruning and eviction. Entries of version 2 were
	// keyed by socket, so a name could be listed several times: the merged
	// entry keeps the first one's place and the latest one's holder,
	// avatar and node. disconnected_at is Unix milliseconds, 0 while
	// connected and for migrated entries, which Open then dates from the
	// start (as it does every entry its previous process left connected).
	{
		`CREATE TABLE participants_v3 (
			room_id         TEXT    NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
			username        TEXT    NOT NULL,
			position        INTEGER NOT NULL,
			avatar          TEXT    NOT NULL,
			socket_id       TEXT    NOT NULL,
			node_id         TEXT    NOT NULL,
			connected       INTEGER NOT NULL CHECK (connected IN (0, 1)),
			disconnected_at INTEGER NOT NULL DEFAULT 0,
			PRIMARY KEY (room_id, username)
		) STRICT, WITHOUT ROWID`,
		// (room_id, position) is unique in version 2, so each name's latest
		// row is one row.
		`INSERT INTO participants_v3 (room_id, username, position, avatar, socket_id, node_id, connected)
			SELECT p.room_id, p.username, names.first, p.avatar, p.socket_id, p.node_id, p.connected
			FROM participants p JOIN (
				SELECT room_id, username, min(position) AS first, max(position) AS last
				FROM participants GROUP BY room_id, username
			) names ON names.room_id = p.room_id AND names.username = p.username AND p.position = names.last`,
		`DROP TABLE participants`,
		`ALTER TABLE participants_v3 RENAME TO participants`,
		`CREATE UNIQUE INDEX participants_by_position ON participants (room_id, position)`,
		// The entry a socket holds; a released entry has no holder ('').
		`CREATE UNIQUE INDEX participants_by_holder ON participants (room_id, socket_id) WHERE socket_id <> ''`,
		// Pruning and eviction take the room's oldest disconnections first.
		`CREATE INDEX participants_by_departure ON participants (room_id, disconnected_at, position) WHERE connected = 0`,
	},
}

// checkSchemaVersion reads the database's schema version and refuses one
// newer than this build, before anything has changed the file.
func checkSchemaVersion(ctx context.Context, conn *sql.Conn, path string) (int, error) {
	var version int
	if err := conn.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return 0, openError(path, err)
	}
	if version > len(migrations) {
		return 0, fmt.Errorf("%w: %s has schema version %d, this build knows versions up to %d; use a newer build",
			ErrNewerSchema, path, version, len(migrations))
	}
	if version < 0 {
		return 0, fmt.Errorf("sqlitestore: %s has schema version %d, which no build of this package wrote", path, version)
	}
	return version, nil
}

// migrate runs the steps after version, each in its own transaction
// together with its user_version bump, so a crash mid-way leaves the
// database at a whole version.
func migrate(ctx context.Context, conn *sql.Conn, version int) error {
	for v := version; v < len(migrations); v++ {
		if err := runMigration(ctx, conn, v); err != nil {
			return fmt.Errorf("migrate schema from version %d to %d: %w", v, v+1, err)
		}
	}
	return nil
}

func runMigration(ctx context.Context, conn *sql.Conn, from int) (err error) {
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_, _ = conn.ExecContext(context.Background(), "ROLLBACK")
		}
	}()
	for _, stmt := range migrations[from] {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return err
		}
	}
	// PRAGMA takes no bound parameters; the value is our own integer.
	if _, err := conn.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", from+1)); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, "COMMIT")
	return err
}
