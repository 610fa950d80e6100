package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
)

// RunSessions runs the contract of rooms.SessionStore; each case gets its
// own store from newStore.
func RunSessions(t *testing.T, newStore func(t *testing.T) rooms.SessionStore) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s rooms.SessionStore)
	}{
		{"RoomsAreKeptInJoinOrder", testSessionRooms},
		{"ClaimIsGrantedOnceAfterDeparture", testClaimGrantedOnce},
		{"ClaimOfALiveSessionIsPendingUntilItDeparts", testClaimPending},
		{"SecondClaimantTaints", testClaimContested},
		{"WithdrawnClaimLeavesTheWayFree", testClaimWithdrawn},
		{"TaintedSessionsAreNeverGranted", testTainted},
		{"ClaimAfterGraceIsRefused", testClaimExpired},
		{"DepartOnlyByTheHoldingNode", testDepartByNode},
		{"EndedSessionsAreGone", testEndSession},
		{"TakeOverMovesTheSession", testTakeOver},
		{"Prune", testPrune},
		{"ConcurrentClaimsGrantOnce", testConcurrentClaims},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

var sessionEpoch = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func mustDo(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustClaim(t *testing.T, s rooms.SessionStore, key, claimant string, now time.Time) (rooms.ClaimOutcome, rooms.Session) {
	t.Helper()
	out, sess, err := s.ClaimSession(context.Background(), rooms.SessionClaim{Key: key, Claimant: claimant, Now: now, Grace: time.Minute})
	if err != nil {
		t.Fatalf("ClaimSession(%s by %s): %v", key, claimant, err)
	}
	return out, sess
}

func wantClaim(t *testing.T, s rooms.SessionStore, key, claimant string, now time.Time, want rooms.ClaimOutcome) rooms.Session {
	t.Helper()
	got, sess := mustClaim(t, s, key, claimant, now)
	if got != want {
		t.Fatalf("ClaimSession(%s by %s) = %v, want %v", key, claimant, got, want)
	}
	return sess
}

var (
	roomA = rooms.SessionRoom{RoomID: "a", Username: "Toto", Avatar: "t.svg", Since: 3}
	roomB = rooms.SessionRoom{RoomID: "b", Username: "Toto", Since: 0}
)

func testSessionRooms(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomB))
	again := roomA
	again.Username = "Toto2"
	mustDo(t, "AddSessionRoom again", s.AddSessionRoom(ctx, "k", "sock", "n1", again))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, []byte("log")))
	sess := wantClaim(t, s, "k", "c1", sessionEpoch.Add(time.Second), rooms.ClaimGranted)
	want := rooms.Session{Key: "k", SocketID: "sock", NodeID: "n1", DepartedAt: sessionEpoch, Rooms: []rooms.SessionRoom{again, roomB}, Log: []byte("log")}
	if !sessionEqual(sess, want) {
		t.Fatalf("granted session = %+v, want %+v", sess, want)
	}
}

func sessionEqual(a, b rooms.Session) bool {
	return a.Key == b.Key && a.SocketID == b.SocketID && a.NodeID == b.NodeID && a.Live == b.Live &&
		a.DepartedAt.Equal(b.DepartedAt) && slices.Equal(a.Rooms, b.Rooms) && string(a.Log) == string(b.Log)
}

func testClaimGrantedOnce(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	wantClaim(t, s, "unknown", "c1", sessionEpoch, rooms.ClaimRefused)
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	sess := wantClaim(t, s, "k", "c1", sessionEpoch.Add(59*time.Second), rooms.ClaimGranted)
	if !slices.Equal(sess.Rooms, []rooms.SessionRoom{roomA}) {
		t.Fatalf("granted rooms = %+v, want [%+v]", sess.Rooms, roomA)
	}
	wantClaim(t, s, "k", "c1", sessionEpoch.Add(59*time.Second), rooms.ClaimRefused)
	wantClaim(t, s, "k", "c2", sessionEpoch.Add(59*time.Second), rooms.ClaimRefused)
}

func testClaimPending(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "OpenSession", s.OpenSession(ctx, "k", "sock", "n1"))
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	sess := wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimPending)
	if !sess.Live || !slices.Equal(sess.Rooms, []rooms.SessionRoom{roomA}) {
		t.Fatalf("pending claim returned %+v, want the live session with its rooms", sess)
	}
	wantClaim(t, s, "k", "c1", sessionEpoch.Add(time.Second), rooms.ClaimPending)
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch.Add(2*time.Second), nil))
	wantClaim(t, s, "k", "c1", sessionEpoch.Add(3*time.Second), rooms.ClaimGranted)
}

func testClaimContested(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimPending)
	wantClaim(t, s, "k", "c2", sessionEpoch, rooms.ClaimRefused)
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	// Neither claimant can tell it was the session's owner.
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimRefused)
	wantClaim(t, s, "k", "c2", sessionEpoch, rooms.ClaimRefused)
}

func testClaimWithdrawn(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimPending)
	mustDo(t, "WithdrawClaim", s.WithdrawClaim(ctx, "k", "c1"))
	mustDo(t, "WithdrawClaim of another claimant", s.WithdrawClaim(ctx, "k", "nobody"))
	wantClaim(t, s, "k", "c2", sessionEpoch, rooms.ClaimPending)
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	wantClaim(t, s, "k", "c2", sessionEpoch, rooms.ClaimGranted)
}

func testTainted(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "OpenSession", s.OpenSession(ctx, "k", "sock", "n1"))
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "TaintSessions", s.TaintSessions(ctx, "k", "never-recorded"))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimRefused)
	wantClaim(t, s, "never-recorded", "c1", sessionEpoch, rooms.ClaimRefused)
}

func testClaimExpired(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	wantClaim(t, s, "k", "c1", sessionEpoch.Add(time.Minute+time.Millisecond), rooms.ClaimRefused)
}

func testDepartByNode(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "DepartSession from another node", s.DepartSession(ctx, "k", "n2", sessionEpoch, nil))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimPending)
	mustDo(t, "DepartSession of an unknown session", s.DepartSession(ctx, "nobody", "n1", sessionEpoch, nil))
	// A join that lands after the departure does not bring it back.
	mustDo(t, "DepartSession", s.DepartSession(ctx, "k", "n1", sessionEpoch, nil))
	mustDo(t, "late AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomB))
	sess := wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimGranted)
	if !slices.Equal(sess.Rooms, []rooms.SessionRoom{roomA, roomB}) {
		t.Fatalf("granted rooms = %+v, want both", sess.Rooms)
	}
}

func testEndSession(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "k", "sock", "n1", roomA))
	mustDo(t, "EndSession from another node", s.EndSession(ctx, "k", "n2"))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimPending)
	mustDo(t, "EndSession", s.EndSession(ctx, "k", "n1"))
	wantClaim(t, s, "k", "c1", sessionEpoch, rooms.ClaimRefused)
	if _, ok, err := s.TakeOverSession(ctx, "k", "n2", sessionEpoch, time.Minute); err != nil || ok {
		t.Fatalf("TakeOverSession of an ended session = (%v, %v), want (false, nil)", ok, err)
	}
}

func testTakeOver(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	window := 2 * time.Minute
	if _, ok, err := s.TakeOverSession(ctx, "unknown", "n2", sessionEpoch, window); err != nil || ok {
		t.Fatalf("TakeOverSession(unknown) = (%v, %v), want (false, nil)", ok, err)
	}
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "pid", "sid", "n1", roomA))
	// Live: the owner proved itself with the private id, so it is taken over.
	sess, ok, err := s.TakeOverSession(ctx, "pid", "n2", sessionEpoch, window)
	if err != nil || !ok || sess.SocketID != "sid" || !slices.Equal(sess.Rooms, []rooms.SessionRoom{roomA}) {
		t.Fatalf("TakeOverSession(live) = (%+v, %v, %v), want the session", sess, ok, err)
	}
	// n1 lost it: its late departure changes nothing; n2's does.
	mustDo(t, "DepartSession from the old node", s.DepartSession(ctx, "pid", "n1", sessionEpoch, nil))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "pid", "n2", sessionEpoch.Add(time.Second), []byte("L")))
	sess, ok, err = s.TakeOverSession(ctx, "pid", "n3", sessionEpoch.Add(time.Second+window), window)
	if err != nil || !ok || string(sess.Log) != "L" || !sess.DepartedAt.Equal(sessionEpoch.Add(time.Second)) {
		t.Fatalf("TakeOverSession(departed, at the window's end) = (%+v, %v, %v), want the session with its log", sess, ok, err)
	}
	mustDo(t, "DepartSession", s.DepartSession(ctx, "pid", "n3", sessionEpoch, nil))
	if _, ok, err := s.TakeOverSession(ctx, "pid", "n4", sessionEpoch.Add(window+time.Millisecond), window); err != nil || ok {
		t.Fatalf("TakeOverSession after the window = (%v, %v), want (false, nil)", ok, err)
	}
}

func testPrune(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "old", "s1", "n1", roomA))
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "recent", "s2", "n1", roomA))
	mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, "live", "s3", "n1", roomA))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "old", "n1", sessionEpoch, nil))
	mustDo(t, "DepartSession", s.DepartSession(ctx, "recent", "n1", sessionEpoch.Add(time.Minute), nil))
	n, err := s.PruneSessions(ctx, sessionEpoch.Add(30*time.Second))
	if err != nil {
		t.Fatalf("PruneSessions: %v", err)
	}
	// A store that expires sessions by itself (Redis TTLs) may report 0.
	if n > 1 {
		t.Fatalf("PruneSessions deleted %d sessions, want at most 1", n)
	}
	now := sessionEpoch.Add(time.Minute)
	claim := func(key string) rooms.ClaimOutcome {
		out, _, err := s.ClaimSession(ctx, rooms.SessionClaim{Key: key, Claimant: "c", Now: now, Grace: time.Hour})
		if err != nil {
			t.Fatalf("ClaimSession(%s): %v", key, err)
		}
		return out
	}
	if got := claim("old"); got != rooms.ClaimRefused {
		t.Errorf("pruned session: claim = %v, want refused", got)
	}
	if got := claim("recent"); got != rooms.ClaimGranted {
		t.Errorf("recent session: claim = %v, want granted", got)
	}
	if got := claim("live"); got != rooms.ClaimPending {
		t.Errorf("live session: claim = %v, want pending", got)
	}
}

// testConcurrentClaims: many claimants race for one departed session; the
// store grants it to exactly one.
func testConcurrentClaims(t *testing.T, s rooms.SessionStore) {
	ctx := context.Background()
	const claimants = 8
	for round := 0; round < 5; round++ {
		key := fmt.Sprintf("k%d", round)
		mustDo(t, "AddSessionRoom", s.AddSessionRoom(ctx, key, "sock", "n1", roomA))
		mustDo(t, "DepartSession", s.DepartSession(ctx, key, "n1", sessionEpoch, nil))
		var wg sync.WaitGroup
		outcomes := make(chan rooms.ClaimOutcome, claimants)
		for i := 0; i < claimants; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				out, _, err := s.ClaimSession(ctx, rooms.SessionClaim{Key: key, Claimant: fmt.Sprint("c", i), Now: sessionEpoch, Grace: time.Minute})
				if err != nil {
					t.Errorf("ClaimSession: %v", err)
				}
				outcomes <- out
			}()
		}
		wg.Wait()
		close(outcomes)
		granted := 0
		for o := range outcomes {
			if o == rooms.ClaimGranted {
				granted++
			}
		}
		if granted != 1 {
			t.Fatalf("round %d: %d claimants were granted the session, want exactly 1", round, granted)
		}
	}
}
