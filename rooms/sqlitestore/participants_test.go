package sqlitestore

import (
	"context"
	"database/sql"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatgateway/rooms"
)

// openVersion2 writes a database exactly as a build of schema version 2 left
// it: every migration up to 2, then the rows of fill.
func openVersion2(t *testing.T, path string, fill func(db *sql.DB)) {
	t.Helper()
	set, err := newSettings(nil)
	if err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", dataSourceName(path, false, set))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for v := range 2 {
		if err := runMigration(ctx, conn, v); err != nil {
			t.Fatalf("migration to %d: %v", v+1, err)
		}
	}
	if err := conn.Close(); err != nil {
		t.Fatal(err)
	}
	fill(db)
}

func mustExec(t *testing.T, db *sql.DB, query string, args ...any) {
	t.Helper()
	if _, err := db.Exec(query, args...); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
}

// Version 2 keyed entries by socket, so a name re-joining from new sockets
// was listed again and again; version 3 merges them into one entry.
func TestMigrationMergesDuplicateNames(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	openVersion2(t, path, func(db *sql.DB) {
		for _, room := range []string{"r", "q", "empty"} {
			mustExec(t, db, "INSERT INTO rooms (id, creator, created_at) VALUES (?1, 'bob', '2026-01-01T00:00:00Z')", room)
		}
		for _, row := range []struct {
			room, socket string
			position     int
			name, avatar string
			connected    int
			node         string
		}{
			{"r", "s1", 1, "Toto", "a1.svg", 0, "n1"},
			{"r", "s2", 2, "Titi", "titi.svg", 1, "n1"},
			{"r", "s3", 3, "Toto", "a3.svg", 0, "n2"},
			{"r", "s4", 4, "Tata", "tata.svg", 0, "n2"},
			{"r", "s5", 5, "Toto", "a5.svg", 1, "n3"},
			{"q", "s1", 1, "Toto", "q.svg", 1, "n1"},
		} {
			mustExec(t, db, `INSERT INTO participants (room_id, socket_id, position, username, avatar, connected, node_id)
				VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`, row.room, row.socket, row.position, row.name, row.avatar, row.connected, row.node)
		}
		mustExec(t, db, "INSERT INTO messages (room_id, ord, username, content, created_at) VALUES ('r', 1, 'Toto', 'kept', 't')")
	})

	opened := time.Now()
	s := openStore(t, path)
	ctx := context.Background()
	var version int
	if err := s.readDB.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("user_version after Open = (%d, %v), want %d", version, err, len(migrations))
	}
	// Toto keeps its first place and gets its latest socket, avatar and
	// node; everyone is disconnected, as after any restart.
	want := []rooms.Participant{
		{RoomID: "r", Username: "Toto", Avatar: "a5.svg", SocketID: "s5", NodeID: "n3"},
		{RoomID: "r", Username: "Titi", Avatar: "titi.svg", SocketID: "s2", NodeID: "n1"},
		{RoomID: "r", Username: "Tata", Avatar: "tata.svg", SocketID: "s4", NodeID: "n2"},
	}
	if got := mustParticipants(t, s, "r"); !slices.Equal(got, want) {
		t.Fatalf("participants of r after the migration =\n\t%+v\nwant\n\t%+v", got, want)
	}
	wantQ := []rooms.Participant{{RoomID: "q", Username: "Toto", Avatar: "q.svg", SocketID: "s1", NodeID: "n1"}}
	if got := mustParticipants(t, s, "q"); !slices.Equal(got, wantQ) {
		t.Fatalf("participants of q after the migration = %+v, want %+v", got, wantQ)
	}
	if got := mustParticipants(t, s, "empty"); len(got) != 0 {
		t.Fatalf("participants of an empty room after the migration = %+v", got)
	}
	if got := mustMessages(t, s, "r"); len(got) != 1 || got[0].Content != "kept" {
		t.Fatalf("history after the migration = %+v", got)
	}

	// Only the latest socket of a merged name holds it.
	if ok, err := s.ReclaimParticipant(ctx, "r", "s1", "x", "n9"); err != nil || ok {
		t.Fatalf("ReclaimParticipant by a merged-away socket = (%v, %v), want (false, nil)", ok, err)
	}
	if ok, err := s.ReclaimParticipant(ctx, "r", "s5", "new", "n9"); err != nil || !ok {
		t.Fatalf("ReclaimParticipant by the latest socket = (%v, %v), want (true, nil)", ok, err)
	}
	// Migrated entries are dated from the start, not from the epoch: a
	// retention of an hour keeps them, and a join after it prunes them.
	keep := rooms.ParticipantLimits{Now: opened, Retention: time.Hour, Max: 10}
	if err := s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", Username: "New", SocketID: "s6"}, keep); err != nil {
		t.Fatal(err)
	}
	names := func(list []rooms.Participant) []string {
		var out []string
		for _, p := range list {
			out = append(out, p.Username)
		}
		return out
	}
	if got := names(mustParticipants(t, s, "r")); !slices.Equal(got, []string{"Toto", "Titi", "Tata", "New"}) {
		t.Fatalf("after a join right after the migration: %v, want Toto Titi Tata New", got)
	}
	later := rooms.ParticipantLimits{Now: opened.Add(2 * time.Hour), Retention: time.Hour, Max: 10}
	if err := s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", Username: "Later", SocketID: "s7"}, later); err != nil {
		t.Fatal(err)
	}
	if got := names(mustParticipants(t, s, "r")); !slices.Equal(got, []string{"Toto", "New", "Later"}) {
		t.Fatalf("after a join past the retention: %v, want Toto (reclaimed) New Later", got)
	}
}

// The statements of a join and a disconnection seek the room's rows by
// index, so their cost does not grow with the room (or the database).
func TestParticipantWritesAreIndexSeeks(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	tests := []struct {
		name, query string
		args        []any
		want        string
	}{
		{"heldBy", heldBySQL, []any{"r", "s"}, "participants_by_holder (room_id=? AND socket_id=?)"},
		{"release", releaseSQL, []any{"r", "s", 1}, "participants_by_holder (room_id=? AND socket_id=?)"},
		{"prune", pruneSQL, []any{"r", 1}, "participants_by_departure (room_id=? AND disconnected_at<?)"},
		{"oldestGone", oldestGoneSQL, []any{"r", 1}, "participants_by_departure (room_id=?)"},
		{"span", spanSQL, []any{"r"}, "participants_by_position (room_id=?)"},
		{"disconnect", disconnectSQL, []any{"r", "s", "", 1}, "participants_by_holder (room_id=? AND socket_id=?)"},
		{"reclaim", reclaimParticipantSQL, []any{"r", "s", "t", "n"}, "participants_by_holder (room_id=? AND socket_id=?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantIndexSeek(t, s.readDB, tc.query, tc.args, tc.want, "SCAN participants", "TEMP B-TREE")
		})
	}
}

// wantIndexSeek fails unless query's plan has want and none of bad.
func wantIndexSeek(t *testing.T, db *sql.DB, query string, args []any, want string, bad ...string) {
	t.Helper()
	rows, err := db.Query("EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, unused int
		var detail string
		if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan = append(plan, detail)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	text := strings.Join(plan, "\n")
	if !strings.Contains(text, want) {
		t.Errorf("plan lacks %q:\n%s", want, text)
	}
	for _, b := range bad {
		if strings.Contains(text, b) {
			t.Errorf("plan has %s:\n%s", b, text)
		}
	}
}
