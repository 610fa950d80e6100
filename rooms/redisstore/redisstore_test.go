package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/gateway"
	"chatgateway/rooms"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/redisstore/redistest"
	"chatgateway/rooms/storetest"
)

var _ gateway.NodeRegistry = (*redisstore.Store)(nil)

const (
	// opTimeout bounds every store call a test expects to succeed.
	opTimeout = 10 * time.Second
	// waitTimeout bounds every wait for a condition (a lease to expire,
	// the server to come back).
	waitTimeout = 15 * time.Second
	// hangBound is how long a call against a dead or hung server may take
	// before the test calls it a hang. It proves a bound, not a latency.
	hangBound = 5 * time.Second
	pollEvery = 10 * time.Millisecond
)

var prefixSeq atomic.Int64

// uniquePrefix isolates one test's keys from the others on a shared server.
func uniquePrefix() string { return fmt.Sprintf("test%d:", prefixSeq.Add(1)) }

// openStore opens a store for functional tests. Its reply timeouts are
// generous: with appendfsync always a loaded CI disk can stall a write past
// the 1s default, which is a fault the fault tests cover, not a contract
// failure.
func openStore(t *testing.T, srv *redistest.Server, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	generous := []redisstore.Option{redisstore.WithReadTimeout(opTimeout), redisstore.WithWriteTimeout(opTimeout)}
	return openDefaultStore(t, srv, append(generous, opts...)...)
}

// openDefaultStore opens a store with the package's default timeouts.
func openDefaultStore(t *testing.T, srv *redistest.Server, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	s, err := redisstore.Open(ctx, srv.URL(0), opts...)
	if err != nil {
		t.Fatalf("Open(%s): %v", srv.URL(0), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func opCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or waitTimeout passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(pollEvery)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("timed out after %v waiting for %s", waitTimeout, what)
		case <-tick.C:
		}
	}
}

func TestContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.Run(t, func(t *testing.T) rooms.Store {
		return openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	})
}

func TestSessionContract(t *testing.T) {
	srv := redistest.Start(t)
	storetest.RunSessions(t, func(t *testing.T) rooms.SessionStore {
		return openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	})
}

// TestReapDepartsTheDeadNodesSessions: a node killed without a word leaves
// its sessions live until another node reaps it; then they are departed
// and claimable from anywhere.
func TestReapDepartsTheDeadNodesSessions(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	ctx := opCtx(t)
	if err := s.AddSessionRoom(ctx, "k", "sock", "dead", rooms.SessionRoom{RoomID: "r", Username: "u"}); err != nil {
		t.Fatal(err)
	}
	mustHeartbeat(t, s, "dead", time.Millisecond)
	claim := func() rooms.ClaimOutcome {
		out, _, err := s.ClaimSession(opCtx(t), rooms.SessionClaim{Key: "k", Claimant: "c", Now: time.Now(), Grace: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	if got := claim(); got != rooms.ClaimPending {
		t.Fatalf("claim before the reap = %v, want pending", got)
	}
	waitFor(t, "the dead node to be reaped", func() bool {
		reaped, err := s.ReapDeadNodes(opCtx(t))
		if err != nil {
			t.Fatal(err)
		}
		_, ok := reaped["dead"]
		return ok
	})
	if got := claim(); got != rooms.ClaimGranted {
		t.Fatalf("claim after the reap = %v, want granted", got)
	}
}

func mustCreate(t *testing.T, s *redisstore.Store, ids ...string) {
	t.Helper()
	for _, id := range ids {
		if err := s.CreateRoom(opCtx(t), rooms.Room{ID: id, Creator: "bob", CreatedAt: time.Now()}); err != nil {
			t.Fatalf("CreateRoom(%q): %v", id, err)
		}
	}
}

func mustUpsert(t *testing.T, s *redisstore.Store, ps ...rooms.Participant) {
	t.Helper()
	for _, p := range ps {
		if err := s.UpsertParticipant(opCtx(t), p, rooms.ParticipantLimits{Now: time.Now()}); err != nil {
			t.Fatalf("UpsertParticipant(%+v): %v", p, err)
		}
	}
}

func mustDisconnect(t *testing.T, s *redisstore.Store, roomID, socketID string) {
	t.Helper()
	if found, err := s.DisconnectParticipant(opCtx(t), roomID, socketID, "", time.Now()); err != nil || !found {
		t.Fatalf("DisconnectParticipant(%s, %s) = (%v, %v), want (true, nil)", roomID, socketID, found, err)
	}
}

func mustHeartbeat(t *testing.T, s *redisstore.Store, nodeID string, ttl time.Duration) {
	t.Helper()
	if err := s.Heartbeat(opCtx(t), nodeID, ttl); err != nil {
		t.Fatalf("Heartbeat(%s, %v): %v", nodeID, ttl, err)
	}
}

// connectedBySocket maps each participant's socket to its connected flag.
func connectedBySocket(t *testing.T, s *redisstore.Store, roomID string) map[string]bool {
	t.Helper()
	list, err := s.Participants(opCtx(t), roomID)
	if err != nil {
		t.Fatalf("Participants(%s): %v", roomID, err)
	}
	out := make(map[string]bool, len(list))
	for _, p := range list {
		out[p.SocketID] = p.Connected
	}
	return out
}

// reapUntil polls ReapDeadNodes until it claims something and returns that.
func reapUntil(t *testing.T, s *redisstore.Store) map[string][]string {
	t.Helper()
	var got map[string][]string
	waitFor(t, "a dead node to be reaped", func() bool {
		var err error
		got, err = s.ReapDeadNodes(opCtx(t))
		if err != nil {
			t.Fatalf("ReapDeadNodes: %v", err)
		}
		return len(got) > 0
	})
	return got
}

func TestReapDeadNodesDisconnectsExactlyTheDeadNodesParticipants(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	const dead, alive = "node-dead", "node-alive"
	p := func(room, socket, node string, connected bool) rooms.Participant {
		return rooms.Participant{RoomID: room, SocketID: socket, Username: socket, NodeID: node, Connected: connected}
	}

	// odd names the index must keep apart: a room id with the index
	// member's separator and hash-tag braces, a socket id with a colon.
	const odd = "3:odd}{room"
	mustCreate(t, s, "r1", "r2", "r3", "r4", "r5", "r6", odd)
	mustUpsert(t, s,
		p(odd, "sock:1", dead, true), p(odd, "3:odd", alive, true),
		p("r1", "a1", dead, true), p("r1", "b1", alive, true),
		p("r2", "a2", dead, true), p("r2", "a2-off", dead, false), p("r2", "local", "", true),
		p("r3", "b3", alive, true),
		p("r3", "moved", dead, true), p("r3", "moved", alive, true), // now on the live node
		p("r4", "a4", dead, true),
		p("r5", "a5", dead, true),
		p("r6", "a6", dead, true),
	)
	if err := s.CloseRoom(opCtx(t), "r4"); err != nil {
		t.Fatalf("CloseRoom(r4): %v", err)
	}
	mustDisconnect(t, s, "r5", "a5")
	mustUpsert(t, s, p("r5", "a5", dead, true)) // indexed again
	mustDisconnect(t, s, "r6", "a6")

	// Both nodes start with the same short lease; the live one renews it.
	mustHeartbeat(t, s, dead, 50*time.Millisecond)
	mustHeartbeat(t, s, alive, 50*time.Millisecond)
	mustHeartbeat(t, s, alive, time.Hour)

	got := reapUntil(t, s)
	want := map[string][]string{dead: {odd, "r1", "r2", "r5"}}
	if len(got) != 1 || !slices.Equal(got[dead], want[dead]) {
		t.Fatalf("ReapDeadNodes = %v, want %v", got, want)
	}

	wantConnected := map[string]map[string]bool{
		"r1": {"a1": false, "b1": true},
		"r2": {"a2": false, "a2-off": false, "local": true},
		"r3": {"b3": true, "moved": true},
		"r5": {"a5": false},
		"r6": {"a6": false},
		odd:  {"sock:1": false, "3:odd": true},
	}
	for room, want := range wantConnected {
		if got := connectedBySocket(t, s, room); !mapsEqual(got, want) {
			t.Errorf("room %s connected flags = %v, want %v", room, got, want)
		}
	}

	again, err := s.ReapDeadNodes(opCtx(t))
	if err != nil || len(again) != 0 {
		t.Fatalf("second ReapDeadNodes = (%v, %v), want nothing: a node is claimed once and the live one is not due", again, err)
	}
}

func mapsEqual(a, b map[string]bool) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestConcurrentReapersClaimEachDeadNodeOnce races reapers on two clients
// (two nodes) over many dead nodes, in small batches so they interleave.
func TestConcurrentReapersClaimEachDeadNodeOnce(t *testing.T) {
	const (
		deadNodes = 30
		reapers   = 8
	)
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	stores := []*redisstore.Store{
		openStore(t, srv, redisstore.WithKeyPrefix(prefix), redisstore.WithReapBatch(4)),
		openStore(t, srv, redisstore.WithKeyPrefix(prefix), redisstore.WithReapBatch(4)),
	}
	for i := range deadNodes {
		node, room := fmt.Sprint("node-", i), fmt.Sprint("room-", i)
		mustCreate(t, stores[0], room)
		mustUpsert(t, stores[0], rooms.Participant{RoomID: room, SocketID: "s", Username: "u", NodeID: node, Connected: true})
		mustHeartbeat(t, stores[0], node, time.Millisecond)
	}

	var (
		claimedTotal atomic.Int64
		mu           sync.Mutex
		claims       = map[string][][]string{} // node -> rooms, once per claim
		wg           sync.WaitGroup
		errs         = make(chan error, reapers)
	)
	deadline := time.Now().Add(waitTimeout)
	for r := range reapers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[r%len(stores)]
			for claimedTotal.Load() < deadNodes {
				if time.Now().After(deadline) {
					errs <- fmt.Errorf("reaper %d: only %d of %d nodes claimed within %v", r, claimedTotal.Load(), deadNodes, waitTimeout)
					return
				}
				got, err := s.ReapDeadNodes(context.Background())
				if err != nil {
					errs <- fmt.Errorf("reaper %d: %w", r, err)
					return
				}
				mu.Lock()
				for node, roomIDs := range got {
					claims[node] = append(claims[node], roomIDs)
				}
				mu.Unlock()
				claimedTotal.Add(int64(len(got)))
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	if len(claims) != deadNodes {
		t.Fatalf("%d distinct nodes claimed, want %d", len(claims), deadNodes)
	}
	for i := range deadNodes {
		node, room := fmt.Sprint("node-", i), fmt.Sprint("room-", i)
		if c := claims[node]; len(c) != 1 || !slices.Equal(c[0], []string{room}) {
			t.Errorf("claims of %s = %v, want exactly one claim of [%s]", node, c, room)
		}
		if got := connectedBySocket(t, stores[1], room); !mapsEqual(got, map[string]bool{"s": false}) {
			t.Errorf("room %s after reaping = %v, want its participant disconnected", room, got)
		}
	}
}

func TestRemoveNodeIsNeverReapedAndDisconnectsLeftovers(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	mustCreate(t, s, "r")
	mustUpsert(t, s, rooms.Participant{RoomID: "r", SocketID: "left-behind", Username: "u", NodeID: "leaving", Connected: true})
	mustHeartbeat(t, s, "leaving", time.Millisecond)

	if err := s.RemoveNode(opCtx(t), "leaving"); err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	if got := connectedBySocket(t, s, "r"); !mapsEqual(got, map[string]bool{"left-behind": false}) {
		t.Fatalf("after RemoveNode: participants %v, want left-behind disconnected", got)
	}

	// The marker's lease ends after the removed node's would have, and a
	// reap claims every expired node at once: when the marker is reaped,
	// the removed node would have been too.
	mustHeartbeat(t, s, "marker", time.Millisecond)
	got := reapUntil(t, s)
	if _, ok := got["leaving"]; ok || len(got) != 1 {
		t.Fatalf("ReapDeadNodes = %v, want only the marker node", got)
	}
}

func TestNodeInputErrorsAreNotUnavailable(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	tests := []struct {
		name string
		call func() error
	}{
		{"empty node id", func() error { return s.Heartbeat(opCtx(t), "", time.Second) }},
		{"zero ttl", func() error { return s.Heartbeat(opCtx(t), "n", 0) }},
		{"negative ttl", func() error { return s.Heartbeat(opCtx(t), "n", -time.Second) }},
		{"remove empty node id", func() error { return s.RemoveNode(opCtx(t), "") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil || errors.Is(err, rooms.ErrUnavailable) {
				t.Fatalf("err = %v, want an input error that is not ErrUnavailable", err)
			}
		})
	}
}

// TestCloseRoomLeavesNoKeys checks CloseRoom removes every key of the room,
// its held sets included. The nodes' room sets, in the nodes' slots, keep
// the id until the node leaves.
func TestCloseRoomLeavesNoKeys(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	s := openStore(t, srv, redisstore.WithKeyPrefix(prefix))
	mustCreate(t, s, "r", "weird}:room{id")
	for _, room := range []string{"r", "weird}:room{id"} {
		if _, err := s.AppendMessage(opCtx(t), room, rooms.NewMessage{Username: "u", Content: "c"}); err != nil {
			t.Fatalf("AppendMessage: %v", err)
		}
		mustUpsert(t, s,
			rooms.Participant{RoomID: room, SocketID: "s1", Username: "u", NodeID: "n1"},
			rooms.Participant{RoomID: room, SocketID: "s2", Username: "v", NodeID: "n2"},
			rooms.Participant{RoomID: room, SocketID: "s3", Username: "w"},
			rooms.Participant{RoomID: room, SocketID: "s2", Username: "x", NodeID: "n2"},
		)
		mustDisconnect(t, s, room, "s1")
		if err := s.CloseRoom(opCtx(t), room); err != nil {
			t.Fatalf("CloseRoom(%q): %v", room, err)
		}
	}
	keys, err := s.Client().Keys(opCtx(t), prefix+"*").Result()
	if err != nil {
		t.Fatalf("KEYS: %v", err)
	}
	slices.Sort(keys)
	if want := []string{prefix + "node:{n1}:rooms", prefix + "node:{n2}:rooms"}; !slices.Equal(keys, want) {
		t.Fatalf("keys left after closing every room: %q, want only %q", keys, want)
	}
	for _, node := range []string{"n1", "n2"} {
		if err := s.RemoveNode(opCtx(t), node); err != nil {
			t.Fatal(err)
		}
	}
	if keys, err = s.Client().Keys(opCtx(t), prefix+"*").Result(); err != nil || len(keys) != 0 {
		t.Fatalf("keys left after the nodes left: %q (%v)", keys, err)
	}
}

// TestConcurrentAppendsThroughTwoStoresAreGapless is two nodes (two
// clients) appending to one room at once.
func TestConcurrentAppendsThroughTwoStoresAreGapless(t *testing.T) {
	const (
		writers          = 16
		appendsPerWriter = 25
		total            = writers * appendsPerWriter
	)
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	stores := []*redisstore.Store{
		openStore(t, srv, redisstore.WithKeyPrefix(prefix)),
		openStore(t, srv, redisstore.WithKeyPrefix(prefix)),
	}
	mustCreate(t, stores[0], "busy")

	contentByOrder := make([]string, total+1)
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		errs = make(chan error, writers)
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s := stores[w%len(stores)]
			last := int64(0)
			for i := range appendsPerWriter {
				content := fmt.Sprintf("w%d-%d", w, i)
				msg, err := s.AppendMessage(context.Background(), "busy", rooms.NewMessage{Username: "u", Content: content, CreatedAt: "t"})
				if err != nil {
					errs <- fmt.Errorf("writer %d: %w", w, err)
					return
				}
				if msg.Order <= last || msg.Order > total {
					errs <- fmt.Errorf("writer %d got order %d after %d (total %d)", w, msg.Order, last, total)
					return
				}
				last = msg.Order
				mu.Lock()
				if prev := contentByOrder[msg.Order]; prev != "" {
					mu.Unlock()
					errs <- fmt.Errorf("order %d assigned twice (%q and %q)", msg.Order, prev, content)
					return
				}
				contentByOrder[msg.Order] = content
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	for _, s := range stores {
		stored, err := s.Messages(opCtx(t), "busy", 1, math.MaxInt64)
		if err != nil {
			t.Fatalf("Messages: %v", err)
		}
		if len(stored) != total {
			t.Fatalf("%d messages stored, want %d", len(stored), total)
		}
		for i, m := range stored {
			if m.Order != int64(i+1) || m.Content != contentByOrder[m.Order] {
				t.Fatalf("stored[%d] = order %d %q, want order %d %q", i, m.Order, m.Content, i+1, contentByOrder[i+1])
			}
		}
	}
}

// storeCall is one Store method called with arguments that would succeed
// against a healthy server.
type storeCall struct {
	name string
	call func(ctx context.Context, s *redisstore.Store) error
}

func allCalls() []storeCall {
	return []storeCall{
		{"CreateRoom", func(ctx context.Context, s *redisstore.Store) error {
			return s.CreateRoom(ctx, rooms.Room{ID: "fresh", Creator: "bob", CreatedAt: time.Now()})
		}},
		{"GetRoom", func(ctx context.Context, s *redisstore.Store) error { _, err := s.GetRoom(ctx, "r"); return err }},
		{"CloseRoom", func(ctx context.Context, s *redisstore.Store) error { return s.CloseRoom(ctx, "r") }},
		{"AppendMessage", func(ctx context.Context, s *redisstore.Store) error {
			_, err := s.AppendMessage(ctx, "r", rooms.NewMessage{Username: "u", Content: "lost"})
			return err
		}},
		{"Messages", func(ctx context.Context, s *redisstore.Store) error {
			_, err := s.Messages(ctx, "r", 1, math.MaxInt64)
			return err
		}},
		{"LastOrder", func(ctx context.Context, s *redisstore.Store) error { _, err := s.LastOrder(ctx, "r"); return err }},
		{"UpsertParticipant", func(ctx context.Context, s *redisstore.Store) error {
			return s.UpsertParticipant(ctx, rooms.Participant{RoomID: "r", SocketID: "s9", Username: "u", NodeID: "n"}, rooms.ParticipantLimits{Now: time.Now(), Max: 10})
		}},
		{"DisconnectParticipant", func(ctx context.Context, s *redisstore.Store) error {
			_, err := s.DisconnectParticipant(ctx, "r", "s1", "", time.Now())
			return err
		}},
		{"Participants", func(ctx context.Context, s *redisstore.Store) error { _, err := s.Participants(ctx, "r"); return err }},
		{"Heartbeat", func(ctx context.Context, s *redisstore.Store) error { return s.Heartbeat(ctx, "n", time.Minute) }},
		{"ReapDeadNodes", func(ctx context.Context, s *redisstore.Store) error { _, err := s.ReapDeadNodes(ctx); return err }},
		{"RemoveNode", func(ctx context.Context, s *redisstore.Store) error { return s.RemoveNode(ctx, "other") }},
	}
}

// assertUnavailableWithin runs every call at once and requires each to
// fail with ErrUnavailable before hangBound.
func assertUnavailableWithin(t *testing.T, s *redisstore.Store, newCtx func() (context.Context, context.CancelFunc)) {
	t.Helper()
	calls := allCalls()
	results := make([]chan error, len(calls))
	for i, c := range calls {
		results[i] = make(chan error, 1)
		go func() {
			ctx, cancel := newCtx()
			defer cancel()
			results[i] <- c.call(ctx, s)
		}()
	}
	deadline := time.NewTimer(hangBound)
	defer deadline.Stop()
	for i, c := range calls {
		select {
		case err := <-results[i]:
			if !errors.Is(err, rooms.ErrUnavailable) {
				t.Errorf("%s: err = %v, want ErrUnavailable", c.name, err)
			}
		case <-deadline.C:
			t.Errorf("%s still blocked %v after the calls started", c.name, hangBound)
			// Let it finish before the store is closed.
			<-results[i]
		}
	}
}

func noDeadline() (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

func TestUnavailableWhileDownAndHistoryKeptAfterRestart(t *testing.T) {
	const history = 20
	downs := []struct {
		name string
		down func(*redistest.Server)
	}{
		{"graceful stop", (*redistest.Server).Stop},
		{"crash", (*redistest.Server).Kill},
	}
	for _, d := range downs {
		t.Run(d.name, func(t *testing.T) {
			srv := redistest.Start(t)
			prefix := uniquePrefix()
			// s, with the default timeouts, is the store under test; the
			// history is written through another so that a slow fsync
			// during setup cannot fail the test.
			s := openDefaultStore(t, srv, redisstore.WithKeyPrefix(prefix))
			writer := openStore(t, srv, redisstore.WithKeyPrefix(prefix))
			mustCreate(t, writer, "r")
			var want []rooms.Message
			for i := range history {
				m, err := writer.AppendMessage(opCtx(t), "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint("m", i), CreatedAt: "t"})
				if err != nil {
					t.Fatalf("AppendMessage: %v", err)
				}
				want = append(want, m)
			}
			participant := rooms.Participant{RoomID: "r", SocketID: "s1", Username: "u", NodeID: "n", Connected: true}
			mustUpsert(t, writer, participant)
			// s has a pooled connection to the server that goes away.
			if _, err := s.LastOrder(opCtx(t), "r"); err != nil {
				t.Fatalf("LastOrder before the server goes down: %v", err)
			}

			d.down(srv)
			assertUnavailableWithin(t, s, noDeadline)

			srv.Start()
			var lastErr error
			waitFor(t, "the same Store to reach the restarted server", func() bool {
				_, lastErr = s.LastOrder(opCtx(t), "r")
				return !errors.Is(lastErr, rooms.ErrUnavailable)
			})
			if lastErr != nil {
				t.Fatalf("LastOrder after restart: %v", lastErr)
			}
			got, err := s.Messages(opCtx(t), "r", 1, math.MaxInt64)
			if err != nil {
				t.Fatalf("Messages after restart: %v", err)
			}
			if !slices.Equal(got, want) {
				t.Fatalf("history after restart = %+v, want the %d acknowledged messages %+v", got, history, want)
			}
			parts, err := s.Participants(opCtx(t), "r")
			if err != nil || !slices.Equal(parts, []rooms.Participant{participant}) {
				t.Fatalf("participants after restart = (%+v, %v), want [%+v]", parts, err, participant)
			}
			next, err := s.AppendMessage(opCtx(t), "r", rooms.NewMessage{Username: "u", Content: "after"})
			if err != nil || next.Order != history+1 {
				t.Fatalf("append after restart = (%+v, %v), want order %d", next, err, history+1)
			}
		})
	}
}

// TestHungServerCallsReturn freezes the server, so connections open but
// nothing answers: calls must end at the context deadline, or at the read
// timeout without one, and work again once the server runs.
func TestHungServerCallsReturn(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	// A read timeout far beyond hangBound: only the context can end these.
	slow := openStore(t, srv, redisstore.WithKeyPrefix(prefix), redisstore.WithReadTimeout(time.Minute), redisstore.WithWriteTimeout(time.Minute))
	standard := openDefaultStore(t, srv, redisstore.WithKeyPrefix(prefix))
	// None of the calls touches this room. Calls that timed out may still
	// run when the server resumes (that is why a failed write's outcome is
	// unknown), so the recovery check must not depend on them.
	mustCreate(t, slow, "untouched")

	srv.Pause()
	t.Run("context deadline", func(t *testing.T) {
		assertUnavailableWithin(t, slow, func() (context.Context, context.CancelFunc) {
			return context.WithTimeout(context.Background(), 100*time.Millisecond)
		})
	})
	t.Run("read timeout", func(t *testing.T) {
		assertUnavailableWithin(t, standard, noDeadline)
	})
	srv.Resume()

	for _, s := range []*redisstore.Store{slow, standard} {
		waitFor(t, "the store to work after the server resumed", func() bool {
			_, err := s.GetRoom(opCtx(t), "untouched")
			return err == nil
		})
	}
}

func TestOpenUnreachableIsUnavailable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens there now

	done := make(chan error, 1)
	go func() {
		s, err := redisstore.Open(context.Background(), "redis://"+addr+"/0")
		if err == nil {
			s.Close()
		}
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, rooms.ErrUnavailable) {
			t.Fatalf("Open(unreachable) err = %v, want ErrUnavailable", err)
		}
	case <-time.After(hangBound):
		t.Fatalf("Open(unreachable) still blocked after %v", hangBound)
	}
}

func TestOpenRejectsBadInput(t *testing.T) {
	srv := redistest.Start(t)
	tests := []struct {
		name string
		url  string
		opts []redisstore.Option
	}{
		{"not a redis url", "http://127.0.0.1:6379/0", nil},
		{"db not a number", "redis://127.0.0.1:6379/zero", nil},
		{"garbage", "::not a url", nil},
		{"zero read timeout", srv.URL(0), []redisstore.Option{redisstore.WithReadTimeout(0)}},
		{"negative dial timeout", srv.URL(0), []redisstore.Option{redisstore.WithDialTimeout(-time.Second)}},
		{"zero write timeout", srv.URL(0), []redisstore.Option{redisstore.WithWriteTimeout(0)}},
		{"zero pool timeout", srv.URL(0), []redisstore.Option{redisstore.WithPoolTimeout(0)}},
		{"no dial attempt", srv.URL(0), []redisstore.Option{redisstore.WithDialAttempts(0)}},
		{"negative retries", srv.URL(0), []redisstore.Option{redisstore.WithMaxRetries(-1)}},
		{"empty reap batch", srv.URL(0), []redisstore.Option{redisstore.WithReapBatch(0)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := redisstore.Open(opCtx(t), tc.url, tc.opts...)
			if err == nil {
				s.Close()
				t.Fatal("Open succeeded, want an error")
			}
			if errors.Is(err, rooms.ErrUnavailable) {
				t.Fatalf("err = %v: bad input must not read as a Redis outage", err)
			}
		})
	}
}

func TestOpenPasswordIsNotEchoed(t *testing.T) {
	_, err := redisstore.Open(opCtx(t), "redis://user:s3cret@127.0.0.1:6379/zero")
	if err == nil {
		t.Fatal("Open succeeded with a bad db")
	}
	if msg := err.Error(); strings.Contains(msg, "s3cret") {
		t.Fatalf("error %q contains the password", msg)
	}
}

func TestCloseOnlyClosesAnOwnedClient(t *testing.T) {
	srv := redistest.Start(t)
	opts, err := redis.ParseURL(srv.URL(0))
	if err != nil {
		t.Fatal(err)
	}
	client := redis.NewClient(opts)
	t.Cleanup(func() { _ = client.Close() })

	borrowed := redisstore.New(client, redisstore.WithKeyPrefix(uniquePrefix()))
	if err := borrowed.Close(); err != nil {
		t.Fatalf("Close of a New store: %v", err)
	}
	if err := client.Ping(opCtx(t)).Err(); err != nil {
		t.Fatalf("the caller's client stopped working after the Store's Close: %v", err)
	}
	mustCreate(t, borrowed, "still-usable")

	owned := openDefaultStore(t, srv)
	if err := owned.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := owned.Client().Ping(opCtx(t)).Err(); err == nil {
		t.Fatal("an opened Store's client still works after Close")
	}
}

// A node's room set lists the rooms where it holds a connected entry: a
// room leaves it when the node's last entry there is disconnected, comes
// back with the next join. A node reaped while alive (cut off past its
// lease) lists its rooms again at its next heartbeat, so a later death is
// still reaped in full.
func TestNodeRoomSetFollowsTheNodesEntries(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	s := openStore(t, srv, redisstore.WithKeyPrefix(prefix))
	listed := func() []string {
		t.Helper()
		members, err := s.Client().SMembers(opCtx(t), prefix+"node:{n}:rooms").Result()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(members)
		return members
	}
	disconnect := func(room, socket string) {
		t.Helper()
		if found, err := s.DisconnectParticipant(opCtx(t), room, socket, "n", time.Now()); err != nil || !found {
			t.Fatalf("DisconnectParticipant(%s, %s, n) = %v, %v", room, socket, found, err)
		}
	}
	mustCreate(t, s, "a", "b")
	mustUpsert(t, s,
		rooms.Participant{RoomID: "a", SocketID: "s1", Username: "u1", NodeID: "n"},
		rooms.Participant{RoomID: "a", SocketID: "s2", Username: "u2", NodeID: "n"},
		rooms.Participant{RoomID: "b", SocketID: "s3", Username: "u3", NodeID: "n"})
	if got := listed(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after the joins: %v, want [a b]", got)
	}
	disconnect("a", "s1")
	if got := listed(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("with one entry of n left in a: %v, want [a b]", got)
	}
	disconnect("a", "s2")
	if got := listed(); !slices.Equal(got, []string{"b"}) {
		t.Fatalf("with no entry of n left in a: %v, want [b]", got)
	}
	mustUpsert(t, s, rooms.Participant{RoomID: "a", SocketID: "s4", Username: "u1", NodeID: "n"})
	if got := listed(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after joining a again: %v, want [a b]", got)
	}

	// Reaped while alive: its set is gone...
	mustHeartbeat(t, s, "n", time.Millisecond)
	if got := reapUntil(t, s); !slices.Equal(got["n"], []string{"a", "b"}) {
		t.Fatalf("first reap: %v", got)
	}
	if got := listed(); len(got) != 0 {
		t.Fatalf("after the reap: %v, want nothing", got)
	}
	// ...and back at its next beat; a join it makes now needs no SADD of
	// its own, yet a second death is reaped in full.
	mustHeartbeat(t, s, "n", time.Millisecond)
	mustUpsert(t, s, rooms.Participant{RoomID: "a", SocketID: "s5", Username: "u5", NodeID: "n"})
	if got := listed(); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("after the node's next heartbeat: %v, want [a b]", got)
	}
	if got := reapUntil(t, s); !slices.Equal(got["n"], []string{"a"}) {
		t.Fatalf("second reap: %v, want room a changed", got)
	}
	if got := connectedBySocket(t, s, "a"); got["s5"] {
		t.Fatalf("the dead node's new entry is still connected: %v", got)
	}
}

// failSessionDepartures fails the first `remaining` ZADDs to the departed
// sessions index: the step of a reap that timed out on a loaded machine.
type failSessionDepartures struct {
	key       string
	remaining atomic.Int32
}

func (h *failSessionDepartures) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h *failSessionDepartures) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		args := cmd.Args()
		if len(args) > 1 && strings.EqualFold(fmt.Sprint(args[0]), "zadd") && args[1] == h.key && h.remaining.Add(-1) >= 0 {
			err := errors.New("i/o timeout (injected)")
			cmd.SetErr(err)
			return err
		}
		return next(ctx, cmd)
	}
}

func (h *failSessionDepartures) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// A reap that fails part way is finished by the same store's next call, not
// a reap lease later: until then the dead node's sessions stay live, and a
// browser reconnecting to another node cannot claim its own session.
func TestReapDeadNodesFinishesAFailedVisitOnTheNextCall(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	s := openStore(t, srv, redisstore.WithKeyPrefix(prefix))
	const dead = "node-dead"
	mustCreate(t, s, "r1", "r2")
	mustUpsert(t, s,
		rooms.Participant{RoomID: "r1", SocketID: "a1", Username: "a1", NodeID: dead, Connected: true},
		rooms.Participant{RoomID: "r2", SocketID: "a2", Username: "a2", NodeID: dead, Connected: true},
	)
	if err := s.OpenSession(opCtx(t), "sess-a", "a1", dead); err != nil {
		t.Fatalf("OpenSession: %v", err)
	}
	hook := &failSessionDepartures{key: prefix + "sessions:departed"}
	hook.remaining.Store(1)
	s.Client().AddHook(hook)
	mustHeartbeat(t, s, dead, 50*time.Millisecond)

	// The first call that claims the node fails after the rooms were
	// visited, before the sessions were.
	var failed error
	waitFor(t, "the dead node to be claimed", func() bool {
		got, err := s.ReapDeadNodes(opCtx(t))
		if err != nil {
			failed = err
			return true
		}
		if len(got) > 0 {
			t.Fatalf("ReapDeadNodes = %v with the session step failing, want an error", got)
		}
		return false
	})
	if !strings.Contains(failed.Error(), "injected") {
		t.Fatalf("ReapDeadNodes error = %v, want the injected one", failed)
	}
	claim := rooms.SessionClaim{Key: "sess-a", Claimant: "b1", Now: time.Now(), Grace: time.Minute}
	if out, _, err := s.ClaimSession(opCtx(t), claim); err != nil || out != rooms.ClaimPending {
		t.Fatalf("ClaimSession after the failed visit = (%v, %v), want pending: the session is still live", out, err)
	}

	got, err := s.ReapDeadNodes(opCtx(t))
	if err != nil {
		t.Fatalf("second ReapDeadNodes: %v", err)
	}
	if want := []string{"r1", "r2"}; len(got) != 1 || !slices.Equal(got[dead], want) {
		t.Fatalf("second ReapDeadNodes = %v, want %s with the rooms the first attempt changed, %v", got, dead, want)
	}
	claim.Now = time.Now()
	if out, _, err := s.ClaimSession(opCtx(t), claim); err != nil || out != rooms.ClaimGranted {
		t.Fatalf("ClaimSession after the visit finished = (%v, %v), want granted", out, err)
	}
	if again, err := s.ReapDeadNodes(opCtx(t)); err != nil || len(again) != 0 {
		t.Fatalf("third ReapDeadNodes = (%v, %v), want nothing", again, err)
	}
}
