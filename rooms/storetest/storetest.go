// Package storetest is the contract every rooms.Store must meet. A store's
// own tests call Run with a constructor that returns a fresh, empty store:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) rooms.Store { return memstore.New() })
//	}
//
// The concurrency cases are meant for -race and repeated runs (-count=20).
package storetest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
)

// Sizes of the concurrency cases: large enough to interleave on any
// scheduler, small enough to stay fast against a networked store.
const (
	concurrentWriters   = 8
	appendsPerWriter    = 40
	concurrentReaders   = 4
	readsPerReader      = 40
	closeRecreateRounds = 5
)

// storeCase is one case of the contract, run on a fresh store.
type storeCase struct {
	name string
	run  func(t *testing.T, s rooms.Store)
}

// Run runs the whole contract; each case gets its own store from newStore.
func Run(t *testing.T, newStore func(t *testing.T) rooms.Store) {
	t.Helper()
	cases := []storeCase{
		{"RoomLifecycle", testRoomLifecycle},
		{"MissingRoom", testMissingRoom},
		{"AppendAssignsGaplessOrders", testAppendAssignsGaplessOrders},
		{"MessagesRange", testMessagesRange},
		{"ReadMessagesRange", testReadMessagesRange},
		{"ReadMessagesLongHistoryInPages", testReadMessagesLongHistory},
		{"ReadMessagesIsFixedWhenOpened", testReadMessagesFixed},
		{"ReadMessagesOfAClosedRoom", testReadMessagesClosed},
		{"LastOrder", testLastOrder},
		{"RoomsAreIsolated", testRoomsAreIsolated},
		{"CloseRemovesHistoryAndRecreateStartsAtOne", testCloseRemovesHistory},
		{"ReturnedSlicesAreCopies", testReturnedSlicesAreCopies},
		{"ConcurrentAppendsAreGaplessAndIncreasing", testConcurrentAppends},
		{"ConcurrentRangeReadsSeeGaplessPrefixes", testConcurrentRangeReads},
		{"ConcurrentPagedReadsSeeGaplessPrefixes", testConcurrentPagedReads},
		{"CloseAndRecreateWhileAppending", testCloseWhileAppending},
	}
	cases = append(cases, participantCases()...)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

var createdAt = time.Date(2021, 3, 1, 10, 0, 0, 123_000_000, time.UTC)

func mustCreate(t *testing.T, s rooms.Store, id string) {
	t.Helper()
	if err := s.CreateRoom(context.Background(), rooms.Room{ID: id, Creator: "bob", CreatedAt: createdAt}); err != nil {
		t.Fatalf("CreateRoom(%q): %v", id, err)
	}
}

func mustAppend(t *testing.T, s rooms.Store, roomID string, m rooms.NewMessage) rooms.Message {
	t.Helper()
	msg, err := s.AppendMessage(context.Background(), roomID, m)
	if err != nil {
		t.Fatalf("AppendMessage(%q): %v", roomID, err)
	}
	return msg
}

func mustMessages(t *testing.T, s rooms.Store, roomID string, from, to int64) []rooms.Message {
	t.Helper()
	msgs, err := s.Messages(context.Background(), roomID, from, to)
	if err != nil {
		t.Fatalf("Messages(%q, %d, %d): %v", roomID, from, to, err)
	}
	return msgs
}

func mustParticipants(t *testing.T, s rooms.Store, roomID string) []rooms.Participant {
	t.Helper()
	list, err := s.Participants(context.Background(), roomID)
	if err != nil {
		t.Fatalf("Participants(%q): %v", roomID, err)
	}
	return list
}

// mustUpsert joins p with no limits.
func mustUpsert(t *testing.T, s rooms.Store, p rooms.Participant) {
	t.Helper()
	mustJoin(t, s, p, rooms.ParticipantLimits{Now: t0})
}

func orders(msgs []rooms.Message) []int64 {
	out := make([]int64, len(msgs))
	for i, m := range msgs {
		out[i] = m.Order
	}
	return out
}

func seq(from, to int64) []int64 {
	out := []int64{}
	for i := from; i <= to; i++ {
		out = append(out, i)
	}
	return out
}

func testRoomLifecycle(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "lifecycle")

	got, err := s.GetRoom(ctx, "lifecycle")
	if err != nil {
		t.Fatalf("GetRoom: %v", err)
	}
	if got.ID != "lifecycle" || got.Creator != "bob" || !got.CreatedAt.Equal(createdAt) {
		t.Fatalf("GetRoom = %+v, want id lifecycle, creator bob, created %v", got, createdAt)
	}

	err = s.CreateRoom(ctx, rooms.Room{ID: "lifecycle", Creator: "alice", CreatedAt: createdAt})
	if !errors.Is(err, rooms.ErrRoomConflict) {
		t.Fatalf("second CreateRoom: err = %v, want ErrRoomConflict", err)
	}
	if got, _ := s.GetRoom(ctx, "lifecycle"); got.Creator != "bob" {
		t.Fatalf("conflicting CreateRoom replaced the room: creator %q", got.Creator)
	}

	if _, err := s.GetRoom(ctx, "no-such-room"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Fatalf("GetRoom(missing): err = %v, want ErrRoomNotFound", err)
	}
	if err := s.CloseRoom(ctx, "lifecycle"); err != nil {
		t.Fatalf("CloseRoom: %v", err)
	}
	if _, err := s.GetRoom(ctx, "lifecycle"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Fatalf("GetRoom after close: err = %v, want ErrRoomNotFound", err)
	}
	if err := s.CloseRoom(ctx, "lifecycle"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Fatalf("second CloseRoom: err = %v, want ErrRoomNotFound", err)
	}
}

func testMissingRoom(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	if _, err := s.AppendMessage(ctx, "ghost", rooms.NewMessage{Username: "u", Content: "c"}); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("AppendMessage: err = %v, want ErrRoomNotFound", err)
	}
	if _, err := s.Messages(ctx, "ghost", 1, 20); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("Messages: err = %v, want ErrRoomNotFound", err)
	}
	if err := s.UpsertParticipant(ctx, rooms.Participant{RoomID: "ghost", SocketID: "s1", Username: "u"}, rooms.ParticipantLimits{Now: t0, Max: 1}); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("UpsertParticipant: err = %v, want ErrRoomNotFound", err)
	}
	if _, err := s.Participants(ctx, "ghost"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("Participants: err = %v, want ErrRoomNotFound", err)
	}
	if _, err := s.LastOrder(ctx, "ghost"); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Errorf("LastOrder: err = %v, want ErrRoomNotFound", err)
	}
	changed, err := s.DisconnectParticipant(ctx, "ghost", "s1", "", t0)
	if err != nil || changed {
		t.Errorf("DisconnectParticipant on a missing room = (%v, %v), want (false, nil)", changed, err)
	}
}

func testAppendAssignsGaplessOrders(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	in := []rooms.NewMessage{
		{Username: "Toto", Content: "hello", CreatedAt: "2021-03-01T10:00:00.000Z"},
		{Username: "Titi", Content: "quotes \" and \\ and\nnewline", CreatedAt: "not a date at all"},
		{Username: "Zoë", Content: "unicode ✓ 🎉 \u2028", CreatedAt: "2021-03-01T10:00:02.000Z"},
	}
	for i, m := range in {
		got := mustAppend(t, s, "r", m)
		want := rooms.Message{Order: int64(i + 1), Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt}
		if got != want {
			t.Fatalf("append #%d = %+v, want %+v", i+1, got, want)
		}
	}
	stored := mustMessages(t, s, "r", 1, 3)
	for i, m := range in {
		want := rooms.Message{Order: int64(i + 1), Username: m.Username, Content: m.Content, CreatedAt: m.CreatedAt}
		if i >= len(stored) || stored[i] != want {
			t.Fatalf("stored history = %+v, want message %d = %+v", stored, i+1, want)
		}
	}
}

func testMessagesRange(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "empty")
	if got := mustMessages(t, s, "empty", 1, 20); len(got) != 0 {
		t.Fatalf("empty room history = %+v, want none", got)
	}

	mustCreate(t, s, "r")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint("m", i), CreatedAt: "t"})
	}
	tests := []struct {
		from, to int64
		want     []int64
	}{
		{1, 5, seq(1, 5)},
		{1, 20, seq(1, 5)},
		{2, 4, seq(2, 4)},
		{3, 3, []int64{3}},
		{5, 9, []int64{5}},
		{6, 10, nil},
		{1, math.MaxInt64, seq(1, 5)},
		{4, math.MaxInt64, seq(4, 5)},
		{math.MaxInt64, math.MaxInt64, nil},
	}
	for _, tc := range tests {
		got := mustMessages(t, s, "r", tc.from, tc.to)
		if !slices.Equal(orders(got), tc.want) {
			t.Errorf("Messages(%d, %d) orders = %v, want %v", tc.from, tc.to, orders(got), tc.want)
		}
		for _, m := range got {
			if m.Content != fmt.Sprint("m", m.Order) {
				t.Errorf("Messages(%d, %d): order %d has content %q", tc.from, tc.to, m.Order, m.Content)
			}
		}
	}
}

// readAll reads a range with ReadMessages, calling Pages passes times, and
// returns what each pass saw; pages must never be empty.
func readAll(ctx context.Context, s rooms.Store, roomID string, from, to int64, passes int) ([][]rooms.Message, error) {
	out := make([][]rooms.Message, passes)
	err := s.ReadMessages(ctx, roomID, from, to, func(r rooms.MessageRange) error {
		for i := range out {
			out[i] = []rooms.Message{}
			err := r.Pages(ctx, func(page []rooms.Message) error {
				if len(page) == 0 {
					return errors.New("empty page")
				}
				out[i] = append(out[i], page...)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	return out, err
}

func mustReadAll(t *testing.T, s rooms.Store, roomID string, from, to int64) []rooms.Message {
	t.Helper()
	passes, err := readAll(context.Background(), s, roomID, from, to, 2)
	if err != nil {
		t.Fatalf("ReadMessages(%q, %d, %d): %v", roomID, from, to, err)
	}
	if !slices.Equal(passes[0], passes[1]) {
		t.Fatalf("ReadMessages(%q, %d, %d): two passes differ: %v then %v", roomID, from, to, orders(passes[0]), orders(passes[1]))
	}
	return passes[0]
}

func testReadMessagesRange(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "empty")
	if got := mustReadAll(t, s, "empty", 1, math.MaxInt64); len(got) != 0 {
		t.Fatalf("empty room history = %+v, want none", got)
	}
	mustCreate(t, s, "r")
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint("m", i), CreatedAt: "t"})
	}
	for _, tc := range []struct {
		from, to int64
		want     []int64
	}{
		{1, 5, seq(1, 5)},
		{2, 4, seq(2, 4)},
		{3, 3, []int64{3}},
		{5, 9, []int64{5}},
		{6, 10, nil},
		{1, math.MaxInt64, seq(1, 5)},
		{math.MaxInt64, math.MaxInt64, nil},
	} {
		got := mustReadAll(t, s, "r", tc.from, tc.to)
		if !slices.Equal(orders(got), tc.want) {
			t.Errorf("ReadMessages(%d, %d) orders = %v, want %v", tc.from, tc.to, orders(got), tc.want)
		}
		want := mustMessages(t, s, "r", tc.from, tc.to)
		if !slices.Equal(got, want) && len(got)+len(want) > 0 {
			t.Errorf("ReadMessages(%d, %d) = %+v, Messages gives %+v", tc.from, tc.to, got, want)
		}
	}
	called := false
	err := s.ReadMessages(context.Background(), "ghost", 1, 10, func(rooms.MessageRange) error { called = true; return nil })
	if !errors.Is(err, rooms.ErrRoomNotFound) || called {
		t.Fatalf("ReadMessages of a missing room: err = %v, fn called %v; want ErrRoomNotFound, not called", err, called)
	}
	sentinel := errors.New("stop")
	err = s.ReadMessages(context.Background(), "r", 1, 5, func(r rooms.MessageRange) error {
		return r.Pages(context.Background(), func([]rooms.Message) error { return sentinel })
	})
	if !errors.Is(err, sentinel) {
		t.Fatalf("ReadMessages returned %v, want the page callback's error", err)
	}
}

// longHistory is long and heavy enough to span several pages of every
// store (by count and by bytes).
const (
	longHistory     = 600
	longContentSize = 2048
)

func testReadMessagesLongHistory(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "long")
	Fill(t, s, "long", longHistory, longContentSize)
	for _, tc := range []struct{ from, to int64 }{{1, longHistory}, {1, math.MaxInt64}, {7, 577}, {longHistory, longHistory}} {
		got := mustReadAll(t, s, "long", tc.from, tc.to)
		want := mustMessages(t, s, "long", tc.from, tc.to)
		if !slices.Equal(got, want) {
			t.Fatalf("ReadMessages(%d, %d) orders %v..., Messages gives orders %v...", tc.from, tc.to, firstOrders(got), firstOrders(want))
		}
	}
}

func firstOrders(msgs []rooms.Message) []int64 { return orders(msgs[:min(len(msgs), 10)]) }

// Fill stores n messages of size bytes of content in roomID from a few
// writers at once (a group-committing store batches them).
func Fill(t *testing.T, s rooms.Store, roomID string, n, size int) {
	t.Helper()
	ctx := context.Background()
	content := strings.Repeat("x", size)
	errs := make(chan error, concurrentWriters)
	var wg sync.WaitGroup
	for w := range concurrentWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += concurrentWriters {
				if _, err := s.AppendMessage(ctx, roomID, rooms.NewMessage{Username: "u", Content: content, CreatedAt: "t"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func testReadMessagesFixed(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	for i := 1; i <= 3; i++ {
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint("m", i)})
	}
	ctx := context.Background()
	var passes [2][]int64
	err := s.ReadMessages(ctx, "r", 2, math.MaxInt64, func(r rooms.MessageRange) error {
		for i := range passes {
			// Appended after the range opened: never part of it.
			mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "late"})
			err := r.Pages(ctx, func(page []rooms.Message) error {
				passes[i] = append(passes[i], orders(page)...)
				return nil
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for i, got := range passes {
		if !slices.Equal(got, []int64{2, 3}) {
			t.Errorf("pass %d saw orders %v, want [2 3] (the range as it was opened)", i+1, got)
		}
	}
}

func testReadMessagesClosed(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		from, to int64
	}{{"within the history", 1, 3}, {"past the history", 10, 20}} {
		mustCreate(t, s, "r")
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "m"})
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "m"})
		pages := 0
		err := s.ReadMessages(ctx, "r", tc.from, tc.to, func(r rooms.MessageRange) error {
			if err := s.CloseRoom(ctx, "r"); err != nil {
				t.Fatalf("CloseRoom: %v", err)
			}
			return r.Pages(ctx, func([]rooms.Message) error { pages++; return nil })
		})
		if !errors.Is(err, rooms.ErrRoomNotFound) || pages != 0 {
			t.Errorf("%s: Pages after the room closed: err = %v after %d pages, want ErrRoomNotFound and none", tc.name, err, pages)
		}
	}
}

// testConcurrentPagedReads reads while others post: every pass must be a
// gapless run, and both passes of one range identical.
func testConcurrentPagedReads(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "busy")
	ctx := context.Background()
	errs := make(chan error, concurrentWriters+concurrentReaders)
	var wg sync.WaitGroup
	startWriters(ctx, s, "busy", &wg, errs)
	for r := range concurrentReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := int64(1 + r)
			for range readsPerReader / 4 {
				passes, err := readAll(ctx, s, "busy", from, math.MaxInt64, 2)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if !slices.Equal(passes[0], passes[1]) {
					errs <- fmt.Errorf("reader %d: passes differ: %v then %v", r, orders(passes[0]), orders(passes[1]))
					return
				}
				if err := gaplessFrom(r, from, passes[0]); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testLastOrder(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "other")
	lastOf := func(roomID string) int64 {
		t.Helper()
		n, err := s.LastOrder(ctx, roomID)
		if err != nil {
			t.Fatalf("LastOrder(%q): %v", roomID, err)
		}
		return n
	}
	if n := lastOf("r"); n != 0 {
		t.Fatalf("LastOrder of an empty room = %d, want 0", n)
	}
	for i := 1; i <= 5; i++ {
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint(i)})
		if n := lastOf("r"); n != int64(i) {
			t.Fatalf("LastOrder after %d appends = %d", i, n)
		}
	}
	if n := lastOf("other"); n != 0 {
		t.Fatalf("LastOrder of another room = %d, want 0", n)
	}
	if err := s.CloseRoom(ctx, "r"); err != nil {
		t.Fatalf("CloseRoom: %v", err)
	}
	mustCreate(t, s, "r")
	if n := lastOf("r"); n != 0 {
		t.Fatalf("LastOrder of a re-created room = %d, want 0", n)
	}
}

func testRoomsAreIsolated(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "a")
	mustCreate(t, s, "b")
	mustAppend(t, s, "a", rooms.NewMessage{Username: "u", Content: "a1"})
	mustAppend(t, s, "a", rooms.NewMessage{Username: "u", Content: "a2"})
	if got := mustAppend(t, s, "b", rooms.NewMessage{Username: "u", Content: "b1"}); got.Order != 1 {
		t.Fatalf("first message of room b has order %d, want 1", got.Order)
	}
	if got := mustMessages(t, s, "b", 1, 10); len(got) != 1 || got[0].Content != "b1" {
		t.Fatalf("room b history = %+v, want only b1", got)
	}
	mustUpsert(t, s, rooms.Participant{RoomID: "a", SocketID: "s1", Username: "Toto", Connected: true})
	if got := mustParticipants(t, s, "b"); len(got) != 0 {
		t.Fatalf("room b participants = %+v, want none", got)
	}
}

func testCloseRemovesHistory(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	for i := 0; i < 3; i++ {
		mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "old"})
	}
	mustUpsert(t, s, rooms.Participant{RoomID: "r", SocketID: "old-socket", Username: "Toto", Connected: true})
	if err := s.CloseRoom(ctx, "r"); err != nil {
		t.Fatalf("CloseRoom: %v", err)
	}
	if _, err := s.Messages(ctx, "r", 1, 10); !errors.Is(err, rooms.ErrRoomNotFound) {
		t.Fatalf("Messages after close: err = %v, want ErrRoomNotFound", err)
	}

	mustCreate(t, s, "r")
	if got := mustMessages(t, s, "r", 1, math.MaxInt64); len(got) != 0 {
		t.Fatalf("re-created room still has history %+v", got)
	}
	if got := mustParticipants(t, s, "r"); len(got) != 0 {
		t.Fatalf("re-created room still has participants %+v", got)
	}
	if changed, err := s.DisconnectParticipant(ctx, "r", "old-socket", "", t0); err != nil || changed {
		t.Fatalf("DisconnectParticipant for a socket of the closed room = (%v, %v), want (false, nil)", changed, err)
	}
	if got := mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "new"}); got.Order != 1 {
		t.Fatalf("first message after re-create has order %d, want 1", got.Order)
	}
}

func testReturnedSlicesAreCopies(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	mustAppend(t, s, "r", rooms.NewMessage{Username: "u", Content: "original"})
	mustUpsert(t, s, rooms.Participant{RoomID: "r", SocketID: "s1", Username: "original", Connected: true})

	msgs := mustMessages(t, s, "r", 1, 1)
	msgs[0].Content = "mutated"
	parts := mustParticipants(t, s, "r")
	parts[0].Username = "mutated"

	if got := mustMessages(t, s, "r", 1, 1); got[0].Content != "original" {
		t.Fatalf("mutating a returned message changed the store: %+v", got[0])
	}
	if got := mustParticipants(t, s, "r"); got[0].Username != "original" {
		t.Fatalf("mutating a returned participant changed the store: %+v", got[0])
	}
}

// appendResult is what one concurrent append observed.
type appendResult struct {
	order   int64
	content string
}

func testConcurrentAppends(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "busy")
	ctx := context.Background()
	results := make([][]appendResult, concurrentWriters)
	errs := make(chan error, concurrentWriters)
	var wg sync.WaitGroup
	for w := range concurrentWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appendsPerWriter {
				content := fmt.Sprintf("w%d-%d", w, i)
				msg, err := s.AppendMessage(ctx, "busy", rooms.NewMessage{Username: fmt.Sprint("w", w), Content: content, CreatedAt: "t"})
				if err != nil {
					errs <- fmt.Errorf("writer %d append %d: %w", w, i, err)
					return
				}
				results[w] = append(results[w], appendResult{msg.Order, content})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	const total = concurrentWriters * appendsPerWriter
	contentByOrder := make(map[int64]string, total)
	for w, rs := range results {
		for i, r := range rs {
			if i > 0 && r.order <= rs[i-1].order {
				t.Fatalf("writer %d got order %d after %d: not strictly increasing", w, r.order, rs[i-1].order)
			}
			if prev, dup := contentByOrder[r.order]; dup {
				t.Fatalf("order %d assigned twice (%q and %q)", r.order, prev, r.content)
			}
			contentByOrder[r.order] = r.content
		}
	}
	for o := int64(1); o <= total; o++ {
		if _, ok := contentByOrder[o]; !ok {
			t.Fatalf("order %d never assigned: orders have a gap", o)
		}
	}
	stored := mustMessages(t, s, "busy", 1, math.MaxInt64)
	if !slices.Equal(orders(stored), seq(1, total)) {
		t.Fatalf("stored orders = %v, want 1..%d", orders(stored), total)
	}
	for _, m := range stored {
		if m.Content != contentByOrder[m.Order] {
			t.Fatalf("stored order %d has content %q, but the append that got it sent %q", m.Order, m.Content, contentByOrder[m.Order])
		}
	}
}

// gaplessFrom reports a read by reader r that is not the run from, from+1, ...
func gaplessFrom(r int, from int64, msgs []rooms.Message) error {
	for i, m := range msgs {
		if m.Order != from+int64(i) {
			return fmt.Errorf("reader %d: read from %d returned orders %v: not a gapless run", r, from, orders(msgs))
		}
	}
	return nil
}

// startWriters starts concurrentWriters goroutines that each append
// appendsPerWriter messages to roomID, reporting failures on errs.
func startWriters(ctx context.Context, s rooms.Store, roomID string, wg *sync.WaitGroup, errs chan<- error) {
	for w := range concurrentWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appendsPerWriter {
				if _, err := s.AppendMessage(ctx, roomID, rooms.NewMessage{Username: "w", Content: fmt.Sprint(w, "-", i)}); err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
			}
		}()
	}
}

// testConcurrentRangeReads requires that a read never shows a gap: a client
// paging history while others post would otherwise skip a message for good.
func testConcurrentRangeReads(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "busy")
	ctx := context.Background()
	errs := make(chan error, concurrentWriters+concurrentReaders)
	var wg sync.WaitGroup
	startWriters(ctx, s, "busy", &wg, errs)
	for r := range concurrentReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			from := int64(1 + r) // readers start at different offsets
			for range readsPerReader {
				msgs, err := s.Messages(ctx, "busy", from, math.MaxInt64)
				if err != nil {
					errs <- fmt.Errorf("reader %d: %w", r, err)
					return
				}
				if err := gaplessFrom(r, from, msgs); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCloseWhileAppending(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	ctx := context.Background()
	errs := make(chan error, concurrentWriters+1)
	var wg sync.WaitGroup
	for w := range concurrentWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range appendsPerWriter {
				msg, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Username: "w", Content: fmt.Sprint(w, "-", i)})
				switch {
				case errors.Is(err, rooms.ErrRoomNotFound):
					// Landed between a close and the re-create.
				case err != nil:
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				case msg.Order < 1:
					errs <- fmt.Errorf("writer %d: order %d", w, msg.Order)
					return
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for range closeRecreateRounds {
			if err := s.CloseRoom(ctx, "r"); err != nil {
				errs <- fmt.Errorf("close: %w", err)
				return
			}
			if err := s.CreateRoom(ctx, rooms.Room{ID: "r", Creator: "bob", CreatedAt: createdAt}); err != nil {
				errs <- fmt.Errorf("re-create: %w", err)
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	final := mustMessages(t, s, "r", 1, math.MaxInt64)
	if !slices.Equal(orders(final), seq(1, int64(len(final)))) {
		t.Fatalf("history after close/re-create races = %v, want a gapless run from 1", orders(final))
	}
}
