package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/rooms"
)

// participantCases are the contract of the participant list: one entry per
// username, held by one socket, bounded by rooms.ParticipantLimits.
func participantCases() []storeCase {
	return []storeCase{
		{"ParticipantsOneEntryPerUsername", testOneEntryPerUsername},
		{"DisconnectOnlyTheHeldEntry", testDisconnectHeldEntry},
		{"DisconnectOnlyByTheHoldingNode", testDisconnectByNode},
		{"ReclaimParticipant", testReclaimParticipant},
		{"RetentionPrunesWhenAnEntryIsAdded", testRetentionPrunes},
		{"FullRoomEvictsTheLongestDisconnected", testFullRoomEvicts},
		{"LoweredMaxEvictsAsManyAsNeeded", testLoweredMax},
		{"RandomOperationsMatchTheModel", testRandomOperationsMatchTheModel},
		{"ConcurrentParticipants", testConcurrentParticipants},
		{"ConcurrentJoinsNeverOverfillARoom", testConcurrentJoinsIntoAFullRoom},
		{"ConcurrentChurnStaysWithinMax", testConcurrentChurn},
	}
}

// t0 is the participant cases' clock origin; the stores keep disconnection
// times to the millisecond at least, so the cases step in whole ones.
var t0 = time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func mustJoin(t *testing.T, s rooms.Store, p rooms.Participant, limits rooms.ParticipantLimits) {
	t.Helper()
	if err := s.UpsertParticipant(context.Background(), p, limits); err != nil {
		t.Fatalf("UpsertParticipant(%+v, %+v): %v", p, limits, err)
	}
}

func mustDisconnect(t *testing.T, s rooms.Store, roomID, socketID string, when time.Time) {
	t.Helper()
	if changed, err := s.DisconnectParticipant(context.Background(), roomID, socketID, "", when); err != nil || !changed {
		t.Fatalf("DisconnectParticipant(%s, %s) = (%v, %v), want (true, nil)", roomID, socketID, changed, err)
	}
}

func wantList(t *testing.T, s rooms.Store, roomID, when string, want ...rooms.Participant) {
	t.Helper()
	if want == nil {
		want = []rooms.Participant{}
	}
	if got := mustParticipants(t, s, roomID); !slices.Equal(got, want) {
		t.Fatalf("%s: participants of %s =\n\t%+v\nwant\n\t%+v", when, roomID, got, want)
	}
}

// usernames is the list's usernames, for cases that only care about order.
func usernames(list []rooms.Participant) []string {
	out := make([]string, len(list))
	for i, p := range list {
		out[i] = p.Username
	}
	return out
}

func wantNames(t *testing.T, s rooms.Store, roomID, when string, want ...string) {
	t.Helper()
	if got := usernames(mustParticipants(t, s, roomID)); !slices.Equal(got, want) {
		t.Fatalf("%s: participants of %s = %v, want %v", when, roomID, got, want)
	}
}

// joined is p as a join leaves it: connected.
func joined(p rooms.Participant) rooms.Participant {
	p.Connected = true
	return p
}

func testOneEntryPerUsername(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	mustCreate(t, s, "other")
	toto := rooms.Participant{RoomID: "r", SocketID: "s1", Username: "Toto", Avatar: "toto.svg", NodeID: "node-a"}
	titi := rooms.Participant{RoomID: "r", SocketID: "s2", Username: "Titi", Avatar: "titi.svg", NodeID: "node-b"}
	tata := rooms.Participant{RoomID: "r", SocketID: "s3", Username: "Tata", Avatar: "tata.svg"}
	for _, p := range []rooms.Participant{toto, titi, tata} {
		mustUpsert(t, s, p)
	}
	toto, titi, tata = joined(toto), joined(titi), joined(tata)
	wantList(t, s, "r", "after three joins", toto, titi, tata)

	// The same username from another socket and node: the entry is updated
	// in place and now answers to the new socket only.
	titi = joined(rooms.Participant{RoomID: "r", SocketID: "s4", Username: "Titi", Avatar: "new.svg", NodeID: "node-c"})
	mustUpsert(t, s, titi)
	wantList(t, s, "r", "after Titi re-joined from s4", toto, titi, tata)
	if changed, err := s.DisconnectParticipant(ctx, "r", "s2", "", at(time.Second)); err != nil || changed {
		t.Fatalf("DisconnectParticipant(s2, Titi's previous socket) = (%v, %v), want (false, nil)", changed, err)
	}
	wantList(t, s, "r", "after Titi's previous socket went away", toto, titi, tata)

	// A disconnected entry comes back connected, in its place.
	mustDisconnect(t, s, "r", "s1", at(time.Second))
	toto.Connected = false
	wantList(t, s, "r", "after Toto disconnected", toto, titi, tata)
	toto = joined(rooms.Participant{RoomID: "r", SocketID: "s5", Username: "Toto", Avatar: "toto.svg", NodeID: "node-a"})
	mustUpsert(t, s, toto)
	wantList(t, s, "r", "after Toto re-joined from s5", toto, titi, tata)

	// A socket re-joining under another name releases its previous entry:
	// disconnected, held by nobody.
	tutu := joined(rooms.Participant{RoomID: "r", SocketID: "s3", Username: "Tutu", Avatar: "tutu.svg"})
	mustJoin(t, s, tutu, rooms.ParticipantLimits{Now: at(2 * time.Second)})
	tata.Connected, tata.SocketID = false, ""
	wantList(t, s, "r", "after s3 re-joined as Tutu", toto, titi, tata, tutu)
	mustDisconnect(t, s, "r", "s3", at(3*time.Second))
	tutu.Connected = false
	wantList(t, s, "r", "after s3 went away", toto, titi, tata, tutu)

	// The join connects whatever the input says.
	zed := rooms.Participant{RoomID: "r", SocketID: "s6", Username: "Zed", Connected: false}
	mustUpsert(t, s, zed)
	wantList(t, s, "r", "after Zed joined", toto, titi, tata, tutu, joined(zed))

	// The same socket and name in another room are another entry.
	elsewhere := joined(rooms.Participant{RoomID: "other", SocketID: "s5", Username: "Toto"})
	mustUpsert(t, s, elsewhere)
	wantList(t, s, "r", "after a join in another room", toto, titi, tata, tutu, joined(zed))
	wantList(t, s, "other", "after a join in another room", elsewhere)
}

func testDisconnectHeldEntry(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	a := joined(rooms.Participant{RoomID: "r", SocketID: "s1", Username: "A"})
	b := joined(rooms.Participant{RoomID: "r", SocketID: "s2", Username: "B"})
	mustUpsert(t, s, a)
	mustUpsert(t, s, b)

	mustDisconnect(t, s, "r", "s1", at(0))
	a.Connected = false
	wantList(t, s, "r", "after s1 went away", a, b)
	for _, tc := range []struct{ name, room, socket string }{
		{"entry already disconnected", "r", "s1"},
		{"socket that never joined", "r", "unknown-socket"},
		{"missing room", "missing-room", "s2"},
	} {
		if changed, err := s.DisconnectParticipant(ctx, tc.room, tc.socket, "", at(time.Second)); err != nil || changed {
			t.Errorf("%s: DisconnectParticipant = (%v, %v), want (false, nil)", tc.name, changed, err)
		}
	}
	wantList(t, s, "r", "after disconnections that change nothing", a, b)
}

func testDisconnectByNode(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	a := joined(rooms.Participant{RoomID: "r", SocketID: "s1", Username: "A", NodeID: "node-a"})
	mustUpsert(t, s, a)
	if changed, err := s.DisconnectParticipant(ctx, "r", "s1", "node-b", at(0)); err != nil || changed {
		t.Fatalf("DisconnectParticipant from another node = (%v, %v), want (false, nil)", changed, err)
	}
	wantList(t, s, "r", "after another node tried", a)
	if changed, err := s.DisconnectParticipant(ctx, "r", "s1", "node-a", at(0)); err != nil || !changed {
		t.Fatalf("DisconnectParticipant from the holding node = (%v, %v), want (true, nil)", changed, err)
	}
	a.Connected = false
	wantList(t, s, "r", "after the holding node", a)
}

func testReclaimParticipant(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	toto := rooms.Participant{RoomID: "r", SocketID: "old", Username: "Toto", Avatar: "t.svg", NodeID: "node-a"}
	other := joined(rooms.Participant{RoomID: "r", SocketID: "s2", Username: "Titi", NodeID: "node-a"})
	mine := joined(rooms.Participant{RoomID: "r", SocketID: "mine", Username: "Mine", NodeID: "node-a"})
	for _, p := range []rooms.Participant{toto, other, mine} {
		mustUpsert(t, s, p)
	}
	mustDisconnect(t, s, "r", "old", at(0))

	ok, err := s.ReclaimParticipant(ctx, "r", "old", "new", "node-b")
	if err != nil || !ok {
		t.Fatalf("ReclaimParticipant = (%v, %v), want (true, nil)", ok, err)
	}
	reclaimed := joined(rooms.Participant{RoomID: "r", SocketID: "new", Username: "Toto", Avatar: "t.svg", NodeID: "node-b"})
	wantList(t, s, "r", "after the reclaim (same place, new socket and node, connected)", reclaimed, other, mine)
	// The entry now answers to its new socket only.
	if changed, err := s.DisconnectParticipant(ctx, "r", "old", "", at(time.Second)); err != nil || changed {
		t.Fatalf("DisconnectParticipant(old socket) = (%v, %v), want (false, nil)", changed, err)
	}
	if changed, err := s.DisconnectParticipant(ctx, "r", "new", "node-b", at(time.Second)); err != nil || !changed {
		t.Fatalf("DisconnectParticipant(new socket) = (%v, %v), want (true, nil)", changed, err)
	}
	// An entry taken over by a later join under its name is that join's.
	mustUpsert(t, s, rooms.Participant{RoomID: "r", SocketID: "later", Username: "Titi", NodeID: "node-a"})
	other.SocketID = "later"
	for _, tc := range []struct{ name, room, old, new string }{
		{"entry already reclaimed", "r", "old", "again"},
		{"unknown entry", "r", "nobody", "x"},
		{"missing room", "ghost", "old", "x"},
		{"new socket has an entry of its own", "r", "new", "mine"},
		{"entry taken over by a later join", "r", "s2", "x"},
	} {
		if ok, err := s.ReclaimParticipant(ctx, tc.room, tc.old, tc.new, "node-c"); err != nil || ok {
			t.Errorf("%s: ReclaimParticipant = (%v, %v), want (false, nil)", tc.name, ok, err)
		}
	}
	reclaimed.Connected = false
	wantList(t, s, "r", "after reclaims that change nothing", reclaimed, other, mine)
	// A recovered socket keeps its id: it reclaims its own entry, which a
	// take-over may find still connected.
	for range 2 {
		if ok, err := s.ReclaimParticipant(ctx, "r", "new", "new", "node-c"); err != nil || !ok {
			t.Fatalf("ReclaimParticipant to the same socket id = (%v, %v), want (true, nil)", ok, err)
		}
	}
	reclaimed.NodeID, reclaimed.Connected = "node-c", true
	wantList(t, s, "r", "after a reclaim by the same socket id", reclaimed, other, mine)
	// A closed and re-created room has none of the old entries.
	if err := s.CloseRoom(ctx, "r"); err != nil {
		t.Fatal(err)
	}
	mustCreate(t, s, "r")
	if ok, err := s.ReclaimParticipant(ctx, "r", "new", "newer", "node-c"); err != nil || ok {
		t.Fatalf("ReclaimParticipant in a re-created room = (%v, %v), want (false, nil)", ok, err)
	}
}

func testRetentionPrunes(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	keep := func(now time.Duration) rooms.ParticipantLimits {
		return rooms.ParticipantLimits{Now: at(now), Retention: 10 * time.Minute}
	}
	for i, name := range []string{"A", "B", "C"} {
		mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: fmt.Sprint("s", i+1), Username: name}, keep(0))
	}
	mustDisconnect(t, s, "r", "s1", at(time.Minute))
	mustDisconnect(t, s, "r", "s2", at(5*time.Minute))

	// A re-join adds no entry, so it prunes nothing: pruning is lazy.
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s3", Username: "C"}, keep(20*time.Minute))
	wantNames(t, s, "r", "after a re-join long after", "A", "B", "C")
	// A new entry prunes what was disconnected longer than the retention:
	// A (10m01s ago), not B (6m01s ago).
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s4", Username: "D"}, keep(11*time.Minute+time.Second))
	wantNames(t, s, "r", "after D joined", "B", "C", "D")
	if ok, err := s.ReclaimParticipant(ctx, "r", "s1", "s1-again", ""); err != nil || ok {
		t.Fatalf("ReclaimParticipant of a pruned entry = (%v, %v), want (false, nil)", ok, err)
	}
	// Disconnected exactly the retention ago: kept; a millisecond more: pruned.
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s5", Username: "E"}, keep(15*time.Minute))
	wantNames(t, s, "r", "after E joined", "B", "C", "D", "E")
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s6", Username: "F"}, keep(15*time.Minute+time.Millisecond))
	wantNames(t, s, "r", "after F joined", "C", "D", "E", "F")
	// A pruned name that joins again is a new entry, at the end.
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s7", Username: "A"}, keep(16*time.Minute))
	wantNames(t, s, "r", "after A joined again", "C", "D", "E", "F", "A")

	// Without a retention, disconnected entries stay.
	mustCreate(t, s, "forever")
	mustJoin(t, s, rooms.Participant{RoomID: "forever", SocketID: "s1", Username: "A"}, rooms.ParticipantLimits{Now: at(0)})
	mustDisconnect(t, s, "forever", "s1", at(0))
	mustJoin(t, s, rooms.Participant{RoomID: "forever", SocketID: "s2", Username: "B"}, rooms.ParticipantLimits{Now: at(1000 * time.Hour)})
	wantNames(t, s, "forever", "after a join long after, without retention", "A", "B")
}

func testFullRoomEvicts(t *testing.T, s rooms.Store) {
	ctx := context.Background()
	mustCreate(t, s, "r")
	three := func(now time.Duration) rooms.ParticipantLimits {
		return rooms.ParticipantLimits{Now: at(now), Retention: time.Hour, Max: 3}
	}
	join := func(socket, name string, now time.Duration) error {
		return s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: socket, Username: name}, three(now))
	}
	for i, name := range []string{"A", "B", "C"} {
		if err := join(fmt.Sprint("s", i+1), name, 0); err != nil {
			t.Fatalf("join %s: %v", name, err)
		}
	}
	mustDisconnect(t, s, "r", "s2", at(time.Minute))
	mustDisconnect(t, s, "r", "s1", at(2*time.Minute))

	// Full: a new name evicts the entry disconnected longest ago.
	if err := join("s4", "D", 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantNames(t, s, "r", "after D joined a full room", "A", "C", "D")
	if err := join("s5", "E", 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantNames(t, s, "r", "after E joined a full room", "C", "D", "E")

	// Every entry connected: a new name is refused and nothing changes.
	before := mustParticipants(t, s, "r")
	err := join("s6", "F", 5*time.Minute)
	if !errors.Is(err, rooms.ErrRoomFull) || rooms.ErrorCode(err) != rooms.CodeRoomFull {
		t.Fatalf("join into a full room of connected participants: err = %v, want ErrRoomFull", err)
	}
	wantList(t, s, "r", "after the refusal", before...)

	// A re-join under a listed name adds nothing: it is never refused.
	if err := join("s7", "C", 5*time.Minute); err != nil {
		t.Fatalf("re-join into a full room: %v", err)
	}
	// A socket re-joining under a new name releases its entry, which then
	// makes room.
	if err := join("s4", "G", 6*time.Minute); err != nil {
		t.Fatalf("s4 re-joining as G: %v", err)
	}
	wantNames(t, s, "r", "after s4 re-joined as G", "C", "E", "G")
	// Disconnected at the same time: the earlier in the list goes first.
	mustDisconnect(t, s, "r", "s5", at(7*time.Minute))
	mustDisconnect(t, s, "r", "s7", at(7*time.Minute))
	if err := join("s8", "H", 8*time.Minute); err != nil {
		t.Fatal(err)
	}
	wantNames(t, s, "r", "after H joined", "E", "G", "H")
	// The evicted entry's socket holds nothing any more.
	if changed, err := s.DisconnectParticipant(ctx, "r", "s7", "", at(9*time.Minute)); err != nil || changed {
		t.Fatalf("DisconnectParticipant of an evicted entry = (%v, %v), want (false, nil)", changed, err)
	}
	if ok, err := s.ReclaimParticipant(ctx, "r", "s7", "s9", ""); err != nil || ok {
		t.Fatalf("ReclaimParticipant of an evicted entry = (%v, %v), want (false, nil)", ok, err)
	}
}

func testLoweredMax(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	for i, name := range []string{"A", "B", "C", "D"} {
		mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: fmt.Sprint("s", i+1), Username: name}, rooms.ParticipantLimits{Now: at(0)})
	}
	mustDisconnect(t, s, "r", "s3", at(time.Minute))
	mustDisconnect(t, s, "r", "s2", at(2*time.Minute))
	mustDisconnect(t, s, "r", "s1", at(3*time.Minute))
	// Max 2 with four entries, one connected: three go, oldest first.
	mustJoin(t, s, rooms.Participant{RoomID: "r", SocketID: "s5", Username: "E"}, rooms.ParticipantLimits{Now: at(4 * time.Minute), Max: 2})
	wantNames(t, s, "r", "after E joined under a lowered max", "D", "E")
	// Max 1 with both connected: refused.
	err := s.UpsertParticipant(context.Background(), rooms.Participant{RoomID: "r", SocketID: "s6", Username: "F"}, rooms.ParticipantLimits{Now: at(5 * time.Minute), Max: 1})
	if !errors.Is(err, rooms.ErrRoomFull) {
		t.Fatalf("join beyond a lowered max of connected entries: err = %v, want ErrRoomFull", err)
	}
	wantNames(t, s, "r", "after the refusal", "D", "E")
}

func testConcurrentParticipants(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	ctx := context.Background()
	const socketsPerWriter = 10
	concurrently(t, func(w int) error {
		for i := range socketsPerWriter {
			id := fmt.Sprintf("w%d-s%d", w, i)
			p := rooms.Participant{RoomID: "r", SocketID: id, Username: id}
			if err := s.UpsertParticipant(ctx, p, rooms.ParticipantLimits{Now: t0}); err != nil {
				return fmt.Errorf("join %s: %w", id, err)
			}
			if changed, err := s.DisconnectParticipant(ctx, "r", id, "", t0); err != nil || !changed {
				return fmt.Errorf("DisconnectParticipant(%s) = (%v, %v), want (true, nil)", id, changed, err)
			}
			// Re-join: same name, so no entry added and none moved.
			p.SocketID = id + "-again"
			if err := s.UpsertParticipant(ctx, p, rooms.ParticipantLimits{Now: t0}); err != nil {
				return fmt.Errorf("re-join %s: %w", id, err)
			}
		}
		return nil
	})

	list := mustParticipants(t, s, "r")
	if len(list) != concurrentWriters*socketsPerWriter {
		t.Fatalf("got %d participants, want %d (one per username)", len(list), concurrentWriters*socketsPerWriter)
	}
	position := make(map[string]int, len(list))
	for i, p := range list {
		if _, dup := position[p.Username]; dup {
			t.Fatalf("%s listed twice", p.Username)
		}
		if !p.Connected || p.SocketID != p.Username+"-again" {
			t.Fatalf("entry %+v: want connected, held by its second socket", p)
		}
		position[p.Username] = i
	}
	// Each writer added its names in sequence, so they keep that order.
	for w := range concurrentWriters {
		for i := 1; i < socketsPerWriter; i++ {
			prev, cur := fmt.Sprintf("w%d-s%d", w, i-1), fmt.Sprintf("w%d-s%d", w, i)
			if position[prev] > position[cur] {
				t.Fatalf("%s listed after %s, but was added before it", prev, cur)
			}
		}
	}
}

// testConcurrentJoinsIntoAFullRoom requires the bound to be checked and
// applied in one step: more connected joiners than room, from everywhere at
// once, and exactly the room's worth get in.
func testConcurrentJoinsIntoAFullRoom(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	ctx := context.Background()
	const maxEntries, joinsPerWriter = 10, 4
	limits := rooms.ParticipantLimits{Now: t0, Retention: time.Hour, Max: maxEntries}
	var accepted, refused atomic.Int64
	concurrently(t, func(w int) error {
		for i := range joinsPerWriter {
			id := fmt.Sprintf("w%d-%d", w, i)
			err := s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: id, Username: id}, limits)
			switch {
			case err == nil:
				accepted.Add(1)
			case errors.Is(err, rooms.ErrRoomFull):
				refused.Add(1)
			default:
				return fmt.Errorf("join %s: %w", id, err)
			}
		}
		return nil
	})
	if accepted.Load() != maxEntries || refused.Load() != concurrentWriters*joinsPerWriter-maxEntries {
		t.Fatalf("%d joins accepted and %d refused, want %d and %d", accepted.Load(), refused.Load(), maxEntries, concurrentWriters*joinsPerWriter-maxEntries)
	}
	list := mustParticipants(t, s, "r")
	if len(list) != maxEntries {
		t.Fatalf("%d participants, want %d", len(list), maxEntries)
	}
	for _, p := range list {
		if !p.Connected {
			t.Fatalf("entry %+v: want connected", p)
		}
	}
}

// testConcurrentChurn: sockets come and go under new names while others
// re-join one shared name; the room stays within its bound and never
// refuses, since fewer are connected at a time than it holds.
func testConcurrentChurn(t *testing.T, s rooms.Store) {
	mustCreate(t, s, "r")
	ctx := context.Background()
	const maxEntries, cyclesPerWriter = concurrentWriters + 2, 20
	var clock atomic.Int64
	limits := func() rooms.ParticipantLimits {
		return rooms.ParticipantLimits{Now: at(time.Duration(clock.Add(1)) * time.Millisecond), Retention: time.Hour, Max: maxEntries}
	}
	concurrently(t, func(w int) error {
		for i := range cyclesPerWriter {
			id := fmt.Sprintf("w%d-%d", w, i)
			name := id
			if i%5 == 0 {
				name = "shared"
			}
			if err := s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: id, Username: name}, limits()); err != nil {
				return fmt.Errorf("join %s as %s: %w", id, name, err)
			}
			// The shared entry may have been taken over already.
			if _, err := s.DisconnectParticipant(ctx, "r", id, "", limits().Now); err != nil {
				return fmt.Errorf("disconnect %s: %w", id, err)
			}
		}
		return nil
	})
	list := mustParticipants(t, s, "r")
	if len(list) != maxEntries {
		t.Fatalf("%d participants after %d joins, want %d (the bound)", len(list), concurrentWriters*cyclesPerWriter, maxEntries)
	}
	seen := map[string]bool{}
	for _, p := range list {
		if seen[p.Username] {
			t.Fatalf("%s listed twice: %v", p.Username, usernames(list))
		}
		seen[p.Username] = true
		if p.Connected {
			t.Fatalf("entry %+v connected, but every socket left", p)
		}
	}
}

// concurrently runs work on concurrentWriters goroutines at once and fails
// the test with every error they return.
func concurrently(t *testing.T, work func(w int) error) {
	t.Helper()
	errs := make(chan error, concurrentWriters)
	var wg sync.WaitGroup
	for w := range concurrentWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := work(w); err != nil {
				errs <- fmt.Errorf("writer %d: %w", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if t.Failed() {
		t.FailNow()
	}
}
