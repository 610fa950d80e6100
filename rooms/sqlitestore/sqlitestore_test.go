package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/storetest"
)

func TestMain(m *testing.M) {
	// The crash test re-executes this binary as the process it kills.
	if path := os.Getenv(crashChildEnv); path != "" {
		os.Exit(runCrashChild(path))
	}
	os.Exit(m.Run())
}

// openStore opens path and closes it at the end of the test.
func openStore(t testing.TB, path string, opts ...Option) *Store {
	t.Helper()
	s, err := Open(context.Background(), path, opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil && !errors.Is(err, ErrClosed) {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func mustClose(t testing.TB, s *Store) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) rooms.Store {
		return openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	})
}

func TestSessionContract(t *testing.T) {
	storetest.RunSessions(t, func(t *testing.T) rooms.SessionStore {
		return openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	})
}

// TestSessionsDepartWhenTheStoreReopens: the sessions of a process that
// stopped (even by kill -9) are departed for the next one, so reconnecting
// clients can claim them.
func TestSessionsDepartWhenTheStoreReopens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	ctx := context.Background()
	s := openStore(t, path)
	if err := s.AddSessionRoom(ctx, "k", "sock", "node-1", rooms.SessionRoom{RoomID: "r", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	before := time.Now()
	s = openStore(t, path)
	out, sess, err := s.ClaimSession(ctx, rooms.SessionClaim{Key: "k", Claimant: "c", Now: time.Now(), Grace: time.Minute})
	if err != nil || out != rooms.ClaimGranted {
		t.Fatalf("claim after reopen = (%v, %v), want granted", out, err)
	}
	if sess.DepartedAt.Before(before) || len(sess.Rooms) != 1 {
		t.Fatalf("claimed session = %+v, want departed at the reopen with its room", sess)
	}
}

// TestReadsAreIndexSeeks guards the cost promises: a history page is a
// primary-key range scan and the last order a seek, never a scan or sort.
func TestReadsAreIndexSeeks(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	tests := []struct {
		name  string
		query string
		args  []any
		want  string
	}{
		{"Messages", messagesSQL, []any{"r", 1, int64(math.MaxInt64)}, "SEARCH m USING PRIMARY KEY (room_id=? AND ord>? AND ord<?)"},
		{"LastOrder", lastOrderSQL, []any{"r"}, "SEARCH messages USING PRIMARY KEY (room_id=?)"},
		{"Participants", participantsSQL, []any{"r"}, "SEARCH p USING INDEX participants_by_position (room_id=?)"},
		{"GetRoom", getRoomSQL, []any{"r"}, "SEARCH rooms USING PRIMARY KEY (id=?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantIndexSeek(t, s.readDB, tc.query, tc.args, tc.want, "SCAN", "TEMP B-TREE")
		})
	}
}

func TestRestartKeepsEverything(t *testing.T) {
	ctx := context.Background()
	// The parent directories do not exist yet: Open creates them.
	path := filepath.Join(t.TempDir(), "nested", "dir", "chat.db")
	s := openStore(t, path)

	created := time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.UTC)
	appends := map[string]int{"a": 5, "b": 1, "c": 0, "gone": 3}
	for id, n := range appends {
		if err := s.CreateRoom(ctx, rooms.Room{ID: id, Creator: "creator-" + id, CreatedAt: created}); err != nil {
			t.Fatal(err)
		}
		for i := range n {
			m := rooms.NewMessage{Username: "u" + id, Content: fmt.Sprintf("%s-%d ✓", id, i), CreatedAt: fmt.Sprint("t", i)}
			if _, err := s.AppendMessage(ctx, id, m); err != nil {
				t.Fatal(err)
			}
		}
	}
	participants := []rooms.Participant{
		{RoomID: "a", SocketID: "s2", Username: "Titi", Avatar: "titi.svg", Connected: true, NodeID: "n1"},
		{RoomID: "a", SocketID: "s1", Username: "Toto", Avatar: "toto.svg", Connected: true, NodeID: "n1"},
		{RoomID: "a", SocketID: "s3", Username: "Tata", Avatar: "", Connected: false},
		{RoomID: "b", SocketID: "s1", Username: "Toto", Connected: true},
	}
	for _, p := range participants {
		if err := s.UpsertParticipant(ctx, p, rooms.ParticipantLimits{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CloseRoom(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	before := make(map[string][]rooms.Message)
	for _, id := range []string{"a", "b", "c"} {
		before[id] = mustMessages(t, s, id)
	}
	mustClose(t, s)

	s = openStore(t, path)
	for _, id := range []string{"a", "b", "c"} {
		room, err := s.GetRoom(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if room.Creator != "creator-"+id || !room.CreatedAt.Equal(created) {
			t.Errorf("room %s after restart = %+v", id, room)
		}
		after := mustMessages(t, s, id)
		if !slices.Equal(after, before[id]) {
			t.Errorf("room %s history after restart = %+v, want %+v", id, after, before[id])
		}
		last, err := s.LastOrder(ctx, id)
		if err != nil || last != int64(appends[id]) {
			t.Errorf("LastOrder(%s) after restart = (%d, %v), want %d", id, last, err, appends[id])
		}
		next, err := s.AppendMessage(ctx, id, rooms.NewMessage{Username: "u", Content: "next"})
		if err != nil || next.Order != int64(appends[id])+1 {
			t.Errorf("append to %s after restart = (%+v, %v), want order %d", id, next, err, appends[id]+1)
		}
	}
	if _, err := s.GetRoom(ctx, "gone"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("closed room after restart: err = %v, want ErrRoomNotFound", err)
	}

	// A fresh process holds no sockets: everyone comes back disconnected,
	// in the same order and otherwise unchanged.
	wantA := []rooms.Participant{participants[0], participants[1], participants[2]}
	for i := range wantA {
		wantA[i].Connected = false
	}
	if got := mustParticipants(t, s, "a"); !slices.Equal(got, wantA) {
		t.Errorf("participants of a after restart = %+v, want %+v", got, wantA)
	}
	wantB := []rooms.Participant{participants[3]}
	wantB[0].Connected = false
	if got := mustParticipants(t, s, "b"); !slices.Equal(got, wantB) {
		t.Errorf("participants of b after restart = %+v, want %+v", got, wantB)
	}
	// New participants still go after the old ones.
	late := rooms.Participant{RoomID: "a", SocketID: "s9", Username: "Late", Connected: true}
	if err := s.UpsertParticipant(ctx, late, rooms.ParticipantLimits{}); err != nil {
		t.Fatal(err)
	}
	if got := mustParticipants(t, s, "a"); len(got) != 4 || got[3] != late {
		t.Errorf("participants of a after a late join = %+v, want %+v last", got, late)
	}
}

func mustMessages(t testing.TB, s *Store, roomID string) []rooms.Message {
	t.Helper()
	msgs, err := s.Messages(context.Background(), roomID, math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatalf("Messages(%s): %v", roomID, err)
	}
	return msgs
}

func mustParticipants(t testing.TB, s *Store, roomID string) []rooms.Participant {
	t.Helper()
	list, err := s.Participants(context.Background(), roomID)
	if err != nil {
		t.Fatalf("Participants(%s): %v", roomID, err)
	}
	return list
}

func TestOpenRejectsBadInput(t *testing.T) {
	garbage := bytes.Repeat([]byte("this is not a SQLite database\n"), 300)
	tests := []struct {
		name    string
		prepare func(t *testing.T, path string) // sets the scene at path
		opts    []Option
		wantIs  error  // nil: any error
		wantMsg string // part of the error text
	}{
		{
			name: "garbage file",
			prepare: func(t *testing.T, path string) {
				if err := os.WriteFile(path, garbage, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			wantIs:  ErrNotDatabase,
			wantMsg: "not a SQLite database",
		},
		{
			name: "newer schema",
			prepare: func(t *testing.T, path string) {
				mustClose(t, openStore(t, path))
				setUserVersion(t, path, len(migrations)+1)
			},
			wantIs:  ErrNewerSchema,
			wantMsg: fmt.Sprintf("schema version %d", len(migrations)+1),
		},
		{
			name: "negative schema version",
			prepare: func(t *testing.T, path string) {
				mustClose(t, openStore(t, path))
				setUserVersion(t, path, -1)
			},
			wantMsg: "schema version -1",
		},
		{
			name: "open twice",
			prepare: func(t *testing.T, path string) {
				openStore(t, path) // stays open until the test ends
			},
			wantIs:  ErrInUse,
			wantMsg: "is in use by another process",
		},
		{
			name: "path is a directory",
			prepare: func(t *testing.T, path string) {
				if err := os.Mkdir(path, 0o755); err != nil {
					t.Fatal(err)
				}
			},
			wantMsg: "sqlitestore",
		},
		{name: "zero max batch", opts: []Option{WithMaxBatch(0)}, wantMsg: "max batch must be at least 1"},
		{name: "zero queue", opts: []Option{WithQueueLength(0)}, wantMsg: "queue length must be at least 1"},
		{name: "zero readers", opts: []Option{WithMaxReadConns(0)}, wantMsg: "max read connections must be at least 1"},
		{name: "zero busy timeout", opts: []Option{WithBusyTimeout(0)}, wantMsg: "busy timeout must be at least 1ms"},
		{name: "zero order cache", opts: []Option{WithOrderCacheRooms(0)}, wantMsg: "order cache rooms must be at least 1"},
		{name: "nil logger", opts: []Option{WithLogger(nil)}, wantMsg: "logger must not be nil"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "chat.db")
			if tc.prepare != nil {
				tc.prepare(t, path)
			}
			// Twice: a failed Open must release what it took (the lock
			// above all), so the second attempt fails the same way.
			for attempt := range 2 {
				s, err := Open(context.Background(), path, tc.opts...)
				if err == nil {
					s.Close()
					t.Fatalf("attempt %d: Open succeeded, want an error", attempt+1)
				}
				if tc.wantIs != nil && !errors.Is(err, tc.wantIs) {
					t.Errorf("attempt %d: err = %v, want errors.Is %v", attempt+1, err, tc.wantIs)
				}
				if !strings.Contains(err.Error(), tc.wantMsg) {
					t.Errorf("attempt %d: err = %q, want it to mention %q", attempt+1, err, tc.wantMsg)
				}
			}
		})
	}
}

func TestOpenLeavesGarbageUntouched(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	garbage := bytes.Repeat([]byte{0xde, 0xad, 0xbe, 0xef}, 1024)
	if err := os.WriteFile(path, garbage, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(context.Background(), path); !errors.Is(err, ErrNotDatabase) {
		t.Fatalf("Open = %v, want ErrNotDatabase", err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, garbage) {
		t.Fatal("Open changed a file that is not a database")
	}
}

// setUserVersion writes user_version behind the store's back, as a newer
// build would have.
func setUserVersion(t *testing.T, path string, v int) {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.Exec(fmt.Sprintf("PRAGMA user_version = %d", v)); err != nil {
		t.Fatal(err)
	}
}

func TestReopenAfterClose(t *testing.T) {
	path := filepath.Join(t.TempDir(), "chat.db")
	for round := range 3 {
		s := openStore(t, path)
		if err := s.CreateRoom(context.Background(), rooms.Room{ID: fmt.Sprint("r", round), CreatedAt: time.Now()}); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		mustClose(t, s)
	}
}

func TestCallsAfterCloseFail(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	if err := s.CreateRoom(ctx, rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	calls := []struct {
		name string
		call func() error
	}{
		{"CreateRoom", func() error { return s.CreateRoom(ctx, rooms.Room{ID: "x"}) }},
		{"GetRoom", func() error { _, err := s.GetRoom(ctx, "r"); return err }},
		{"CloseRoom", func() error { return s.CloseRoom(ctx, "r") }},
		{"AppendMessage", func() error { _, err := s.AppendMessage(ctx, "r", rooms.NewMessage{}); return err }},
		{"Messages", func() error { _, err := s.Messages(ctx, "r", 1, 10); return err }},
		{"LastOrder", func() error { _, err := s.LastOrder(ctx, "r"); return err }},
		{"UpsertParticipant", func() error {
			return s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: "s"}, rooms.ParticipantLimits{})
		}},
		{"DisconnectParticipant", func() error {
			_, err := s.DisconnectParticipant(ctx, "r", "s", "", time.Now())
			return err
		}},
		{"ReclaimParticipant", func() error { _, err := s.ReclaimParticipant(ctx, "r", "s", "s2", ""); return err }},
		{"Participants", func() error { _, err := s.Participants(ctx, "r"); return err }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			err := c.call()
			if !errors.Is(err, ErrClosed) || !errors.Is(err, rooms.ErrUnavailable) {
				t.Fatalf("err = %v, want ErrClosed wrapped as rooms.ErrUnavailable", err)
			}
		})
	}
	if err := s.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v, want ErrClosed", err)
	}
}

func TestDoneContextIsRefusedUpFront(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	if err := s.CreateRoom(context.Background(), rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Content: "never"}); err != context.Canceled {
		t.Fatalf("AppendMessage with a done context: err = %v, want context.Canceled", err)
	}
	if _, err := s.Messages(ctx, "r", 1, 10); err != context.Canceled {
		t.Fatalf("Messages with a done context: err = %v, want context.Canceled", err)
	}
	if got := mustMessages(t, s, "r"); len(got) != 0 {
		t.Fatalf("history = %+v, want none", got)
	}
}

func TestDataSourceNameEscapesThePath(t *testing.T) {
	// '?' and '#' end a URI's path; '%' starts an escape.
	dir := filepath.Join(t.TempDir(), "odd ?#% dir")
	path := filepath.Join(dir, "chat?.db")
	s := openStore(t, path)
	if err := s.CreateRoom(context.Background(), rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	mustClose(t, s)
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("database not at the path asked for: %v", err)
	}
	s = openStore(t, path)
	if _, err := s.GetRoom(context.Background(), "r"); err != nil {
		t.Fatalf("GetRoom after reopen: %v", err)
	}
}

// TestArbitraryBytesRoundTrip: strings are stored as given, NUL bytes and
// invalid UTF-8 included, and keys that differ only after a NUL differ.
func TestArbitraryBytesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	odd := "r\x00\xff"
	for _, id := range []string{odd, "r"} {
		if err := s.CreateRoom(ctx, rooms.Room{ID: id, Creator: "c\x00" + id}); err != nil {
			t.Fatalf("CreateRoom(%q): %v", id, err)
		}
	}
	in := rooms.NewMessage{Username: "a\x00b", Content: "\xff\xfe \u2028 \x00", CreatedAt: "\x00"}
	if _, err := s.AppendMessage(ctx, odd, in); err != nil {
		t.Fatal(err)
	}
	want := []rooms.Message{{Order: 1, Username: in.Username, Content: in.Content, CreatedAt: in.CreatedAt}}
	if got := mustMessages(t, s, odd); !slices.Equal(got, want) {
		t.Errorf("history = %q, want %q", fmt.Sprint(got), fmt.Sprint(want))
	}
	if got := mustMessages(t, s, "r"); len(got) != 0 {
		t.Errorf("room %q got the message of room %q", "r", odd)
	}
	p := rooms.Participant{RoomID: odd, SocketID: "s\x00", Username: "\xff", Avatar: "\x00", NodeID: "n\x00", Connected: true}
	if err := s.UpsertParticipant(ctx, p, rooms.ParticipantLimits{}); err != nil {
		t.Fatal(err)
	}
	if got := mustParticipants(t, s, odd); !slices.Equal(got, []rooms.Participant{p}) {
		t.Errorf("participants = %q, want %q", fmt.Sprint(got), fmt.Sprint(p))
	}
	if room, err := s.GetRoom(ctx, odd); err != nil || room.Creator != "c\x00"+odd {
		t.Errorf("GetRoom = (%+v, %v)", room, err)
	}
}

func TestReadConnectionsCannotWrite(t *testing.T) {
	s := openStore(t, filepath.Join(t.TempDir(), "chat.db"))
	if err := s.CreateRoom(context.Background(), rooms.Room{ID: "r"}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.readDB.Exec("DELETE FROM rooms"); err == nil {
		t.Fatal("a read connection deleted rows")
	}
	if _, err := s.GetRoom(context.Background(), "r"); err != nil {
		t.Fatalf("GetRoom: %v", err)
	}
}
