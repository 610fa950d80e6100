package rooms_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// fixedClock is 2021-03-01T11:00:00.007+01:00, i.e. 10:00:00.007 UTC: a
// non-UTC zone proves the service converts before formatting.
func fixedClock() time.Time {
	return time.Date(2021, 3, 1, 11, 0, 0, 7_000_000, time.FixedZone("CET", 3600))
}

func newService(t *testing.T, opts ...rooms.Option) *rooms.Service {
	t.Helper()
	return rooms.NewService(memstore.New(), append([]rooms.Option{rooms.WithClock(fixedClock)}, opts...)...)
}

func mustCreateRoom(t *testing.T, svc *rooms.Service, id string) {
	t.Helper()
	if err := svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: id, CreatorUsername: "bob"}); err != nil {
		t.Fatalf("CreateRoom(%q): %v", id, err)
	}
}

func wantValidation(t *testing.T, err error, want ...string) {
	t.Helper()
	var v *rooms.ValidationError
	if !errors.As(err, &v) {
		t.Fatalf("err = %v, want *rooms.ValidationError %q", err, want)
	}
	if !slices.Equal(v.Messages(), want) {
		t.Fatalf("validation messages = %q, want %q", v.Messages(), want)
	}
	if !errors.Is(err, rooms.ErrInvalidInput) || rooms.ErrorCode(err) != rooms.CodeValidation {
		t.Fatalf("validation error %v does not match ErrInvalidInput / CodeValidation", err)
	}
}

func wantDomainError(t *testing.T, err error, code, message string) {
	t.Helper()
	var e *rooms.Error
	if !errors.As(err, &e) {
		t.Fatalf("err = %v, want *rooms.Error %s", err, code)
	}
	if e.Code != code || e.Message != message {
		t.Fatalf("err = {%s %q}, want {%s %q}", e.Code, e.Message, code, message)
	}
}

func TestCreateRoomValidation(t *testing.T) {
	tests := []struct {
		name string
		in   rooms.CreateRoomInput
		want []string
	}{
		{"both missing", rooms.CreateRoomInput{}, []string{"roomId should not be empty", "creatorUsername should not be empty"}},
		{"creator missing", rooms.CreateRoomInput{RoomID: "x-only"}, []string{"creatorUsername should not be empty"}},
		{"room missing", rooms.CreateRoomInput{CreatorUsername: "bob"}, []string{"roomId should not be empty"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wantValidation(t, newService(t).CreateRoom(context.Background(), tc.in), tc.want...)
		})
	}
}

func TestCreateRoomConflict(t *testing.T) {
	svc := newService(t)
	mustCreateRoom(t, svc, "demo-room")
	err := svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: "demo-room", CreatorUsername: "alice"})
	wantDomainError(t, err, rooms.CodeRoomConflict, "Room with 'demo-room' already exists")
	if !errors.Is(err, rooms.ErrRoomConflict) {
		t.Fatalf("errors.Is(%v, ErrRoomConflict) = false", err)
	}
}

type ctxKey struct{}

func TestCloseRoomRunsHooksInOrder(t *testing.T) {
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	var calls []string
	for _, name := range []string{"first", "second"} {
		svc.OnRoomClosed(func(ctx context.Context, roomID string) {
			if ctx.Value(ctxKey{}) != "v" {
				t.Errorf("hook %s: context lost the caller's values", name)
			}
			if ctx.Done() != nil {
				t.Errorf("hook %s: context can be cancelled; it must outlive the caller", name)
			}
			calls = append(calls, name+":"+roomID)
		})
	}
	ctx := context.WithValue(context.Background(), ctxKey{}, "v")
	if err := svc.CloseRoom(ctx, "r"); err != nil {
		t.Fatalf("CloseRoom: %v", err)
	}
	if want := []string{"first:r", "second:r"}; !slices.Equal(calls, want) {
		t.Fatalf("hook calls = %q, want %q", calls, want)
	}

	calls = nil
	err := svc.CloseRoom(ctx, "r")
	wantDomainError(t, err, rooms.CodeRoomNotFound, "Room with 'r' not found")
	if len(calls) != 0 {
		t.Fatalf("hooks ran for a failed close: %q", calls)
	}
}

func TestMessagesChecks(t *testing.T) {
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	const (
		notPositive = "Invalid parameters, 'fromIndex' and 'toIndex' must be positive"
		reversed    = "Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"
	)
	tests := []struct {
		room     string
		from, to int64
		code     string
		message  string
	}{
		{"r", 0, 20, rooms.CodeValidation, notPositive},
		{"r", -1, 3, rooms.CodeValidation, notPositive},
		{"r", 1, 0, rooms.CodeValidation, notPositive},
		{"r", 5, 2, rooms.CodeValidation, reversed},
		// The index checks come before the room lookup.
		{"no-such-room", 0, 20, rooms.CodeValidation, notPositive},
		{"no-such-room", 3, 2, rooms.CodeValidation, reversed},
		{"no-such-room", 1, 20, rooms.CodeRoomNotFound, "Room with 'no-such-room' not found"},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprintf("%s_%d_%d", tc.room, tc.from, tc.to), func(t *testing.T) {
			_, err := svc.Messages(context.Background(), tc.room, tc.from, tc.to)
			wantDomainError(t, err, tc.code, tc.message)
		})
	}
}

func TestMessagesRange(t *testing.T) {
	svc := newService(t)
	ctx := context.Background()
	mustCreateRoom(t, svc, "r")
	got, err := svc.Messages(ctx, "r", 1, 20)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty room: Messages = (%#v, %v), want a non-nil empty slice", got, err)
	}
	for i := 1; i <= 4; i++ {
		if _, err := svc.Post(ctx, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint("m", i), CreatedAt: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	got, err = svc.Messages(ctx, "r", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	want := []rooms.Message{{Order: 2, Username: "u", Content: "m2", CreatedAt: "t"}, {Order: 3, Username: "u", Content: "m3", CreatedAt: "t"}}
	if !slices.Equal(got, want) {
		t.Fatalf("Messages(2, 3) = %+v, want %+v", got, want)
	}
}

func TestPost(t *testing.T) {
	ctx := context.Background()
	svc := newService(t, rooms.WithMaxContentBytes(8))
	mustCreateRoom(t, svc, "r")

	msg, err := svc.Post(ctx, "r", rooms.NewMessage{Username: "Toto", Content: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	if want := (rooms.Message{Order: 1, Username: "Toto", Content: "hi", CreatedAt: "2021-03-01T10:00:00.007Z"}); msg != want {
		t.Fatalf("Post without createdAt = %+v, want %+v", msg, want)
	}

	msg, err = svc.Post(ctx, "r", rooms.NewMessage{Username: "Toto", Content: "12345678", CreatedAt: "whatever the client said"})
	if err != nil {
		t.Fatalf("content of exactly MaxContentBytes: %v", err)
	}
	if msg.Order != 2 || msg.CreatedAt != "whatever the client said" {
		t.Fatalf("Post with createdAt = %+v, want order 2 and createdAt verbatim", msg)
	}

	_, err = svc.Post(ctx, "no-such-room", rooms.NewMessage{Username: "u", Content: "c"})
	wantDomainError(t, err, rooms.CodeRoomNotFound, "Room with 'no-such-room' not found")

	tests := []struct {
		name string
		room string
		msg  rooms.NewMessage
		want []string
	}{
		{"all missing", "", rooms.NewMessage{}, []string{"roomId should not be empty", "username should not be empty", "content should not be empty"}},
		{"content missing", "r", rooms.NewMessage{Username: "u"}, []string{"content should not be empty"}},
		{"username missing", "r", rooms.NewMessage{Content: "c"}, []string{"username should not be empty"}},
		// 9 bytes: "é" is two bytes in UTF-8, so this is 8 runes but 9 bytes.
		{"content too long", "r", rooms.NewMessage{Username: "u", Content: "é1234567"}, []string{"content must be shorter than or equal to 8 bytes"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := svc.Post(ctx, tc.room, tc.msg)
			wantValidation(t, err, tc.want...)
		})
	}
}

func TestDefaultMaxContentBytes(t *testing.T) {
	svc := newService(t)
	if svc.MaxContentBytes() != rooms.DefaultMaxContentBytes || rooms.DefaultMaxContentBytes != 64*1024 {
		t.Fatalf("MaxContentBytes = %d, want 64 KiB", svc.MaxContentBytes())
	}
	mustCreateRoom(t, svc, "r")
	ctx := context.Background()
	if _, err := svc.Post(ctx, "r", rooms.NewMessage{Username: "u", Content: strings.Repeat("x", 64*1024)}); err != nil {
		t.Fatalf("64 KiB content: %v", err)
	}
	_, err := svc.Post(ctx, "r", rooms.NewMessage{Username: "u", Content: strings.Repeat("x", 64*1024+1)})
	wantValidation(t, err, "content must be shorter than or equal to 65536 bytes")
}

func TestJoin(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	mustCreateRoom(t, svc, "r")

	toto := rooms.Participant{RoomID: "r", Username: "Toto", Avatar: "toto.svg", SocketID: "s1"}
	if err := svc.Join(ctx, toto); err != nil {
		t.Fatal(err)
	}
	list, err := svc.Participants(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	toto.Connected = true
	if !slices.Equal(list, []rooms.Participant{toto}) {
		t.Fatalf("Join = %+v, want [%+v]", list, toto)
	}

	titi := rooms.Participant{RoomID: "r", Username: "Titi", SocketID: "s2"}
	if err := svc.Join(ctx, titi); err != nil {
		t.Fatal(err)
	}
	titi.Connected = true
	// The same username again, from another socket: updated in place.
	toto.Avatar, toto.SocketID = "new.svg", "s3"
	if err := svc.Join(ctx, rooms.Participant{RoomID: "r", Username: "Toto", Avatar: "new.svg", SocketID: "s3", Connected: false}); err != nil {
		t.Fatal(err)
	}
	list, err = svc.Participants(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(list, []rooms.Participant{toto, titi}) {
		t.Fatalf("re-Join = %+v, want %+v", list, []rooms.Participant{toto, titi})
	}

	for _, roomID := range []string{"no-such-room", ""} {
		err := svc.Join(ctx, rooms.Participant{RoomID: roomID, Username: "Intruder", SocketID: "s9"})
		wantDomainError(t, err, rooms.CodeRoomNotFound, "Room with '"+roomID+"' not found")
	}
	err = svc.Join(ctx, rooms.Participant{RoomID: "r", Username: "NoSocket"})
	wantValidation(t, err, "socketId should not be empty")
}

// The service applies its participant limits, with its clock, on every join.
func TestJoinLimits(t *testing.T) {
	ctx := context.Background()
	now := fixedClock()
	svc := rooms.NewService(memstore.New(), rooms.WithClock(func() time.Time { return now }), rooms.WithParticipantLimits(2, time.Minute))
	if got := svc.ParticipantLimits(); got.Max != 2 || got.Retention != time.Minute {
		t.Fatalf("ParticipantLimits() = %+v, want max 2, retention 1m", got)
	}
	mustCreateRoom(t, svc, "r")
	join := func(socket, name string) error {
		return svc.Join(ctx, rooms.Participant{RoomID: "r", Username: name, SocketID: socket})
	}
	for _, name := range []string{"A", "B"} {
		if err := join("s-"+name, name); err != nil {
			t.Fatal(err)
		}
	}
	wantDomainError(t, join("s-C", "C"), rooms.CodeRoomFull, "Room with 'r' is full: its 2 participants are connected")
	if _, err := svc.Leave(ctx, "r", "s-A", ""); err != nil {
		t.Fatal(err)
	}
	// A left a minute ago, to the nanosecond: kept, and evicted for C.
	now = now.Add(time.Minute)
	if err := join("s-C", "C"); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Leave(ctx, "r", "s-B", ""); err != nil {
		t.Fatal(err)
	}
	// B left over a minute ago: pruned, so D fits without an eviction.
	now = now.Add(time.Minute + time.Millisecond)
	if _, err := svc.Leave(ctx, "r", "s-C", ""); err != nil {
		t.Fatal(err)
	}
	if err := join("s-D", "D"); err != nil {
		t.Fatal(err)
	}
	list, err := svc.Participants(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	want := []rooms.Participant{
		{RoomID: "r", Username: "C", SocketID: "s-C"},
		{RoomID: "r", Username: "D", SocketID: "s-D", Connected: true},
	}
	if !slices.Equal(list, want) {
		t.Fatalf("participants = %+v, want %+v", list, want)
	}

	defaults := rooms.NewService(memstore.New(), rooms.WithParticipantLimits(0, -time.Second)).ParticipantLimits()
	if defaults.Max != rooms.DefaultMaxParticipants || defaults.Retention != rooms.DefaultParticipantRetention {
		t.Fatalf("limits below 1 = %+v, want the defaults", defaults)
	}
}

func TestLeave(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	for _, p := range []rooms.Participant{
		{RoomID: "r", Username: "Toto", SocketID: "s1"},
		{RoomID: "r", Username: "Titi", SocketID: "s2"},
	} {
		if err := svc.Join(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	if changed, err := svc.Leave(ctx, "r", "s1", ""); err != nil || !changed {
		t.Fatalf("Leave = (%v, %v), want changed", changed, err)
	}
	want := []rooms.Participant{
		{RoomID: "r", Username: "Toto", SocketID: "s1", Connected: false},
		{RoomID: "r", Username: "Titi", SocketID: "s2", Connected: true},
	}
	if list, err := svc.Participants(ctx, "r"); err != nil || !slices.Equal(list, want) {
		t.Fatalf("after Leave: participants = (%+v, %v), want %+v", list, err, want)
	}

	for _, tc := range []struct{ room, socket string }{
		{"r", "unknown-socket"},
		{"no-such-room", "s1"},
		{"", "s1"},
		{"r", ""},
	} {
		changed, err := svc.Leave(ctx, tc.room, tc.socket, "")
		if changed || err != nil {
			t.Errorf("Leave(%q, %q) = (%v, %v), want (false, nil)", tc.room, tc.socket, changed, err)
		}
	}
}

// TestLeaveAfterCloseAndRecreate is the sequence that crashed the original:
// a socket joins, the room is closed and re-created under the same id, then
// the socket disconnects.
func TestLeaveAfterCloseAndRecreate(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	if err := svc.Join(ctx, rooms.Participant{RoomID: "r", Username: "A2", SocketID: "old"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.CloseRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	mustCreateRoom(t, svc, "r")
	newcomer := rooms.Participant{RoomID: "r", Username: "New", SocketID: "new"}
	if err := svc.Join(ctx, newcomer); err != nil {
		t.Fatal(err)
	}

	changed, err := svc.Leave(ctx, "r", "old", "")
	if changed || err != nil {
		t.Fatalf("Leave of a socket from the old room = (%v, %v), want (false, nil)", changed, err)
	}
	got, err := svc.Participants(ctx, "r")
	newcomer.Connected = true
	if err != nil || !slices.Equal(got, []rooms.Participant{newcomer}) {
		t.Fatalf("Participants after the stale leave = (%+v, %v), want [%+v]", got, err, newcomer)
	}
}

func TestReclaim(t *testing.T) {
	ctx := context.Background()
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	for _, p := range []rooms.Participant{
		{RoomID: "r", Username: "Toto", Avatar: "t.svg", SocketID: "old", NodeID: "a"},
		{RoomID: "r", Username: "Titi", SocketID: "s2", NodeID: "a"},
	} {
		if err := svc.Join(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := svc.Leave(ctx, "r", "old", "a"); err != nil {
		t.Fatal(err)
	}
	if ok, err := svc.Reclaim(ctx, "r", "old", "new", "b"); err != nil || !ok {
		t.Fatalf("Reclaim = (%v, %v), want (true, nil)", ok, err)
	}
	want := []rooms.Participant{
		{RoomID: "r", Username: "Toto", Avatar: "t.svg", SocketID: "new", NodeID: "b", Connected: true},
		{RoomID: "r", Username: "Titi", SocketID: "s2", NodeID: "a", Connected: true},
	}
	if list, err := svc.Participants(ctx, "r"); err != nil || !slices.Equal(list, want) {
		t.Fatalf("after Reclaim: participants = (%+v, %v), want %+v", list, err, want)
	}
	// The node that lost the socket cannot mark it disconnected any more.
	if changed, err := svc.Leave(ctx, "r", "new", "a"); err != nil || changed {
		t.Fatalf("Leave from the old node = (%v, %v), want (false, nil)", changed, err)
	}
	for _, tc := range []struct{ room, old string }{
		{"r", "old"},          // already reclaimed
		{"no-such-room", "x"}, // room gone
		{"", "x"},
		{"r", ""},
	} {
		if ok, err := svc.Reclaim(ctx, tc.room, tc.old, "other", "b"); err != nil || ok {
			t.Errorf("Reclaim(%q, %q) = (%v, %v), want (false, nil)", tc.room, tc.old, ok, err)
		}
	}
}

func TestParticipantsUnknownRoom(t *testing.T) {
	_, err := newService(t).Participants(context.Background(), "no-such-room")
	wantDomainError(t, err, rooms.CodeRoomNotFound, "Room with 'no-such-room' not found")
}

func TestReadMessagesChecks(t *testing.T) {
	svc := rooms.NewService(memstore.New(), rooms.WithMaxRange(10))
	mustCreateRoom(t, svc, "r")
	const (
		notPositive = "Invalid parameters, 'fromIndex' and 'toIndex' must be positive"
		reversed    = "Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"
		tooWide     = "Invalid parameters, 'toIndex' - 'fromIndex' must be less than 10: read the history in smaller ranges"
	)
	tests := []struct {
		room     string
		from, to int64
		code     string
		message  string
	}{
		{"r", 0, 20, rooms.CodeValidation, notPositive},
		{"r", 5, 2, rooms.CodeValidation, reversed},
		{"r", 1, 11, rooms.CodeValidation, tooWide},
		{"r", 1, math.MaxInt64, rooms.CodeValidation, tooWide},
		// The earlier checks keep their precedence over the width.
		{"r", 0, math.MaxInt64, rooms.CodeValidation, notPositive},
		{"r", math.MaxInt64, 1, rooms.CodeValidation, reversed},
		// The width comes before the room lookup, as the other checks do.
		{"no-such-room", 1, 11, rooms.CodeValidation, tooWide},
		{"no-such-room", 1, 10, rooms.CodeRoomNotFound, "Room with 'no-such-room' not found"},
	}
	for _, tc := range tests {
		called := false
		err := svc.ReadMessages(context.Background(), tc.room, tc.from, tc.to, func(rooms.MessageRange) error { called = true; return nil })
		wantDomainError(t, err, tc.code, tc.message)
		if called {
			t.Errorf("ReadMessages(%q, %d, %d) called fn despite %v", tc.room, tc.from, tc.to, err)
		}
	}
	// The widest range allowed is read.
	for i := 0; i < 12; i++ {
		if _, err := svc.Post(context.Background(), "r", rooms.NewMessage{Username: "u", Content: "c"}); err != nil {
			t.Fatal(err)
		}
	}
	var got []int64
	err := svc.ReadMessages(context.Background(), "r", 3, 12, func(r rooms.MessageRange) error {
		return r.Pages(context.Background(), func(page []rooms.Message) error {
			for _, m := range page {
				got = append(got, m.Order)
			}
			return nil
		})
	})
	if err != nil || len(got) != 10 || got[0] != 3 || got[9] != 12 {
		t.Fatalf("ReadMessages(3, 12) = %v, %v; want orders 3..12", got, err)
	}
}

func TestReadMessagesOfARoomClosedMeanwhileIsNotFound(t *testing.T) {
	svc := newService(t)
	mustCreateRoom(t, svc, "r")
	ctx := context.Background()
	err := svc.ReadMessages(ctx, "r", 1, 5, func(r rooms.MessageRange) error {
		if err := svc.CloseRoom(ctx, "r"); err != nil {
			t.Fatal(err)
		}
		return r.Pages(ctx, func([]rooms.Message) error { return nil })
	})
	wantDomainError(t, err, rooms.CodeRoomNotFound, "Room with 'r' not found")
}

// failingStore fails every call with err.
type failingStore struct{ err error }

func (f failingStore) CreateRoom(context.Context, rooms.Room) error { return f.err }
func (f failingStore) GetRoom(context.Context, string) (rooms.Room, error) {
	return rooms.Room{}, f.err
}
func (f failingStore) CloseRoom(context.Context, string) error { return f.err }
func (f failingStore) AppendMessage(context.Context, string, rooms.NewMessage) (rooms.Message, error) {
	return rooms.Message{}, f.err
}
func (f failingStore) Messages(context.Context, string, int64, int64) ([]rooms.Message, error) {
	return nil, f.err
}
func (f failingStore) ReadMessages(context.Context, string, int64, int64, func(rooms.MessageRange) error) error {
	return f.err
}
func (f failingStore) LastOrder(context.Context, string) (int64, error) { return 0, f.err }
func (f failingStore) UpsertParticipant(context.Context, rooms.Participant, rooms.ParticipantLimits) error {
	return f.err
}
func (f failingStore) DisconnectParticipant(context.Context, string, string, string, time.Time) (bool, error) {
	return false, f.err
}
func (f failingStore) ReclaimParticipant(context.Context, string, string, string, string) (bool, error) {
	return false, f.err
}
func (f failingStore) Participants(context.Context, string) ([]rooms.Participant, error) {
	return nil, f.err
}

func TestStoreFailuresPassThrough(t *testing.T) {
	storeErr := fmt.Errorf("redis: connection refused: %w", rooms.ErrUnavailable)
	svc := rooms.NewService(failingStore{storeErr})
	ctx := context.Background()
	hookRan := false
	svc.OnRoomClosed(func(context.Context, string) { hookRan = true })

	_, msgErr := svc.Messages(ctx, "r", 1, 2)
	readErr := svc.ReadMessages(ctx, "r", 1, 2, func(rooms.MessageRange) error { return nil })
	_, postErr := svc.Post(ctx, "r", rooms.NewMessage{Username: "u", Content: "c"})
	joinErr := svc.Join(ctx, rooms.Participant{RoomID: "r", SocketID: "s"})
	_, leaveErr := svc.Leave(ctx, "r", "s", "")
	_, reclaimErr := svc.Reclaim(ctx, "r", "s", "s2", "n")
	_, partErr := svc.Participants(ctx, "r")
	for name, err := range map[string]error{
		"CreateRoom":   svc.CreateRoom(ctx, rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "b"}),
		"CloseRoom":    svc.CloseRoom(ctx, "r"),
		"Messages":     msgErr,
		"ReadMessages": readErr,
		"Post":         postErr,
		"Join":         joinErr,
		"Leave":        leaveErr,
		"Reclaim":      reclaimErr,
		"Participants": partErr,
	} {
		if !errors.Is(err, rooms.ErrUnavailable) {
			t.Errorf("%s: err = %v, want it to wrap ErrUnavailable", name, err)
		}
	}
	if hookRan {
		t.Error("OnRoomClosed hook ran although the close failed")
	}
}
