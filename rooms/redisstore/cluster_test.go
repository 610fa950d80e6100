package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/rooms"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/redisstore/redistest"
	"chatgateway/rooms/storetest"
)

func openClusterStore(t *testing.T, cl *redistest.Cluster, opts ...redisstore.Option) *redisstore.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	generous := []redisstore.Option{redisstore.WithReadTimeout(opTimeout), redisstore.WithWriteTimeout(opTimeout)}
	s, err := redisstore.Open(ctx, cl.URL(), append(generous, opts...)...)
	if err != nil {
		t.Fatalf("Open(%s): %v", cl.URL(), err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if !s.IsCluster() {
		t.Fatalf("Open(%s) is not on a cluster", cl.URL())
	}
	return s
}

// The whole store contract, on a cluster of 3 masters and 3 replicas:
// every script touches one slot (a cluster refuses anything else), and
// the node registry works across slots.
func TestCluster(t *testing.T) {
	cl := redistest.StartCluster(t)
	t.Run("Contract", func(t *testing.T) {
		storetest.Run(t, func(t *testing.T) rooms.Store {
			return openClusterStore(t, cl, redisstore.WithKeyPrefix(uniquePrefix()))
		})
	})
	t.Run("SessionContract", func(t *testing.T) {
		storetest.RunSessions(t, func(t *testing.T) rooms.SessionStore {
			return openClusterStore(t, cl, redisstore.WithKeyPrefix(uniquePrefix()))
		})
	})
	t.Run("ReapAcrossSlots", func(t *testing.T) { testReapAcrossSlots(t, cl) })
	t.Run("ConcurrentReapers", func(t *testing.T) {
		prefix := uniquePrefix()
		testConcurrentReapers(t, func(t *testing.T) *redisstore.Store {
			return openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix))
		})
	})
	t.Run("LostReplyIsNotResent", func(t *testing.T) { testLostReplyIsNotResent(t, cl) })
	t.Run("WaitReplicas", func(t *testing.T) { testWaitReplicas(t, cl) })
}

// roomsOnEveryMaster returns n room ids per master of the cluster, so a
// test spreads its rooms over every slot owner.
func roomsOnEveryMaster(t *testing.T, cl *redistest.Cluster, prefix string, n int) []string {
	t.Helper()
	masters := cl.Masters()
	count := map[*redistest.Server]int{}
	var out []string
	for i := 0; len(out) < n*len(masters); i++ {
		id := fmt.Sprintf("room%d", i)
		m := cl.MasterOf(prefix + "{" + id + "}:room")
		if count[m] < n {
			count[m]++
			out = append(out, id)
		}
	}
	return out
}

// A dead node's entries in rooms of every slot owner, and its sessions,
// are found and released by the reap; another node's are not touched.
func testReapAcrossSlots(t *testing.T, cl *redistest.Cluster) {
	prefix := uniquePrefix()
	s := openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix))
	ids := roomsOnEveryMaster(t, cl, prefix, 3)
	mustCreate(t, s, ids...)
	for i, id := range ids {
		mustUpsert(t, s,
			rooms.Participant{RoomID: id, SocketID: "d" + id, Username: "dead-user", NodeID: "dead"},
			rooms.Participant{RoomID: id, SocketID: "a" + id, Username: "live-user", NodeID: "alive"})
		if i%2 == 0 {
			if err := s.AddSessionRoom(opCtx(t), "sess"+id, "d"+id, "dead", rooms.SessionRoom{RoomID: id, Username: "dead-user"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	mustHeartbeat(t, s, "dead", time.Millisecond)
	mustHeartbeat(t, s, "alive", time.Hour)
	reaped := reapUntil(t, s)
	if got := reaped["dead"]; !slices.Equal(got, slices.Sorted(slices.Values(ids))) {
		t.Fatalf("rooms changed by the reap = %v, want %v", got, ids)
	}
	for _, id := range ids {
		if got := connectedBySocket(t, s, id); !mapsEqual(got, map[string]bool{"d" + id: false, "a" + id: true}) {
			t.Fatalf("room %s after the reap: %v", id, got)
		}
	}
	for i, id := range ids {
		if i%2 != 0 {
			continue
		}
		out, _, err := s.ClaimSession(opCtx(t), rooms.SessionClaim{Key: "sess" + id, Claimant: "c", Now: time.Now(), Grace: time.Minute})
		if err != nil || out != rooms.ClaimGranted {
			t.Fatalf("claim of the dead node's session %s = %v, %v; want granted", id, out, err)
		}
	}
}

// Concurrent reapers on several stores claim each dead node exactly once.
func testConcurrentReapers(t *testing.T, open func(t *testing.T) *redisstore.Store) {
	const deadNodes, reapers = 20, 4
	stores := make([]*redisstore.Store, reapers)
	for i := range stores {
		stores[i] = open(t)
	}
	for i := range deadNodes {
		mustHeartbeat(t, stores[0], fmt.Sprintf("dead%d", i), time.Millisecond)
	}
	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	errs := make(chan error, reapers)
	for _, s := range stores {
		wg.Go(func() {
			deadline := time.Now().Add(waitTimeout)
			for time.Now().Before(deadline) {
				reaped, err := s.ReapDeadNodes(opCtx(t))
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for n := range reaped {
					claims[n]++
				}
				done := len(claims) == deadNodes
				mu.Unlock()
				if done {
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(claims) != deadNodes {
		t.Fatalf("%d nodes claimed, want %d", len(claims), deadNodes)
	}
	for n, c := range claims {
		if c != 1 {
			t.Fatalf("node %s claimed %d times", n, c)
		}
	}
}

// A script whose reply is lost (the read times out while the server still
// runs it) is not sent again: go-redis's cluster client would, and an
// append would then store its message twice.
func testLostReplyIsNotResent(t *testing.T, cl *redistest.Cluster) {
	prefix := uniquePrefix()
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	s, err := redisstore.Open(ctx, cl.URL(), redisstore.WithKeyPrefix(prefix), redisstore.WithReadTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	key := prefix + "runs"
	// Counts its runs, then keeps the server busy past the read timeout.
	slow := redis.NewScript(`
redis.call('INCR', KEYS[1])
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
repeat
  t = redis.call('TIME')
until tonumber(t[1]) * 1000000 + tonumber(t[2]) - start > 400000
return 1`)
	// Loading is idempotent, and on a loaded machine its reply too can
	// take longer than the 100 ms read timeout.
	waitFor(t, "the script to be loaded", func() bool {
		err := slow.Load(ctx, s.Client()).Err()
		if err != nil {
			t.Logf("SCRIPT LOAD: %v", err) // shown if the wait fails
		}
		return err == nil
	})
	err = slow.EvalSha(ctx, s.Client(), []string{key}).Err()
	if err == nil {
		t.Fatal("a 400 ms script answered within the 100 ms read timeout")
	}
	var runs int
	waitFor(t, "the script to have run", func() bool {
		runs, err = s.Client().Get(ctx, key).Int()
		return err == nil && runs >= 1
	})
	// Let any re-sent copy run too (each holds the server 400 ms), then count.
	waitFor(t, "the server to be idle", func() bool { return s.Client().Ping(ctx).Err() == nil })
	if runs, err = s.Client().Get(ctx, key).Int(); err != nil || runs != 1 {
		t.Fatalf("the script ran %d times (%v), want once", runs, err)
	}
}

// With WithWaitReplicas an append returns once a replica has it; asking for
// more replicas than a master has fails the append as unavailable, though
// the master stored it.
func testWaitReplicas(t *testing.T, cl *redistest.Cluster) {
	prefix := uniquePrefix()
	one := openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix), redisstore.WithWaitReplicas(1, time.Second))
	two := openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix), redisstore.WithWaitReplicas(2, 100*time.Millisecond))
	ids := roomsOnEveryMaster(t, cl, prefix, 1)
	mustCreate(t, one, ids...)
	for _, id := range ids {
		m, err := one.AppendMessage(opCtx(t), id, rooms.NewMessage{Username: "u", Content: "replicated"})
		if err != nil || m.Order != 1 {
			t.Fatalf("append waiting for 1 replica in %s: %+v, %v", id, m, err)
		}
		_, err = two.AppendMessage(opCtx(t), id, rooms.NewMessage{Username: "u", Content: "short"})
		if !errors.Is(err, rooms.ErrUnavailable) || !strings.Contains(err.Error(), "1 of 2 replicas") {
			t.Fatalf("append waiting for 2 replicas of a master with 1: %v, want unavailable naming 1 of 2", err)
		}
		if got, err := one.LastOrder(opCtx(t), id); err != nil || got != 2 {
			t.Fatalf("last order of %s = %d, %v; want 2 (stored, not acknowledged)", id, got, err)
		}
		if _, err := one.AppendMessage(opCtx(t), "missing-"+id, rooms.NewMessage{Username: "u", Content: "c"}); !errors.Is(err, rooms.ErrRoomNotFound) {
			t.Fatalf("append to a missing room, waiting: %v, want ErrRoomNotFound", err)
		}
	}
}

// A master is killed while appends wait for a replica each: its replica
// is promoted, appends resume once the old master is back as a replica,
// and every acknowledged append is in the history, once, in order.
func TestClusterFailoverKeepsAcknowledgedAppends(t *testing.T) {
	cl := redistest.StartCluster(t)
	prefix := uniquePrefix()
	s := openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix), redisstore.WithWaitReplicas(1, time.Second))
	ids := roomsOnEveryMaster(t, cl, prefix, 1)
	mustCreate(t, s, ids...)
	victim := cl.MasterOf(prefix + "{" + ids[0] + "}:room")

	acked := appendDuring(t, s, ids, func() {
		victim.Kill()
		cl.WaitPromoted(victim)
		victim.Start() // back as a replica: appends can be acknowledged again
		cl.WaitHealthy()
	})
	checkAcknowledgedKept(t, s, ids, acked)
}

// A reshard moves a room's slot, keys and all, while appends run: nothing
// acknowledged is lost, nothing is stored twice.
func TestClusterReshardKeepsAppends(t *testing.T) {
	cl := redistest.StartCluster(t)
	prefix := uniquePrefix()
	s := openClusterStore(t, cl, redisstore.WithKeyPrefix(prefix))
	from := cl.Masters()[0]
	to := cl.Masters()[1]
	// A room in the slot the reshard moves first.
	slot := cl.FirstSlot(from)
	moving := ""
	for i := 0; moving == ""; i++ {
		if id := fmt.Sprintf("moving%d", i); redistest.KeySlot(prefix+"{"+id+"}:room") == slot {
			moving = id
		}
	}
	ids := append(roomsOnEveryMaster(t, cl, prefix, 1), moving)
	mustCreate(t, s, ids...)
	acked := appendDuring(t, s, ids, func() { cl.Reshard(from, to, 1) })
	if got := cl.MasterOfSlot(slot); got != to {
		t.Fatalf("slot %d served by %s after the reshard, want %s", slot, got.Addr(), to.Addr())
	}
	checkAcknowledgedKept(t, s, ids, acked)
}

// appendDuring appends to every room from two writers per room until
// disrupt has returned and each writer got 20 acknowledgements after it,
// and returns the acknowledged messages by room. Failed appends (the
// outage) are retried with new contents, as a client would.
func appendDuring(t *testing.T, s *redisstore.Store, ids []string, disrupt func()) map[string][]rooms.Message {
	t.Helper()
	const writersPerRoom, afterwards = 2, 20
	var (
		mu        sync.Mutex
		acked     = map[string][]rooms.Message{}
		disrupted = make(chan struct{})
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*redistest.DefaultClusterTimeout)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, writersPerRoom*len(ids))
	started := make(chan struct{}, writersPerRoom*len(ids))
	for _, id := range ids {
		for w := range writersPerRoom {
			wg.Go(func() {
				after := 0
				for i := 0; after < afterwards; i++ {
					select {
					case <-disrupted:
						after++
					default:
					}
					callCtx, callCancel := context.WithTimeout(ctx, 2*time.Second)
					m, err := s.AppendMessage(callCtx, id, rooms.NewMessage{Username: "u", Content: fmt.Sprintf("w%d-%d", w, i)})
					callCancel()
					if i == 0 {
						started <- struct{}{}
					}
					if ctx.Err() != nil {
						errs <- fmt.Errorf("room %s writer %d: still appending when the test's time ran out (last: %v)", id, w, err)
						return
					}
					if errors.Is(err, rooms.ErrUnavailable) {
						continue
					}
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					acked[id] = append(acked[id], m)
					mu.Unlock()
				}
			})
		}
	}
	for range writersPerRoom * len(ids) {
		<-started
	}
	disrupt()
	close(disrupted)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	return acked
}

// checkAcknowledgedKept: each room's history is gapless, every content at
// most once, and every acknowledged message is stored at its order.
func checkAcknowledgedKept(t *testing.T, s *redisstore.Store, ids []string, acked map[string][]rooms.Message) {
	t.Helper()
	for _, id := range ids {
		stored, err := s.Messages(opCtx(t), id, 1, 1<<62)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for i, m := range stored {
			if m.Order != int64(i+1) {
				t.Fatalf("room %s: position %d holds order %d", id, i, m.Order)
			}
			if seen[m.Content] {
				t.Fatalf("room %s: %q stored twice", id, m.Content)
			}
			seen[m.Content] = true
		}
		if len(acked[id]) == 0 {
			t.Fatalf("room %s: nothing acknowledged", id)
		}
		for _, m := range acked[id] {
			if m.Order > int64(len(stored)) || stored[m.Order-1].Content != m.Content {
				t.Fatalf("room %s: acknowledged %+v is not stored at its order (%d stored)", id, m, len(stored))
			}
		}
	}
}
