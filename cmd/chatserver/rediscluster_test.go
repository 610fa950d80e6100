package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/gateway/redisbroker"
	"chatgateway/gateway/sioclient"
	"chatgateway/rooms"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/redisstore/redistest"
)

// The acceptance of Redis Cluster support: a cluster of 3 masters and 3
// replicas (real redis-servers, redis-cli --cluster create), three gateway
// nodes as real processes, clients of both generations spread over them.

// roomOn is a room id starting with prefix whose keys master serves.
func roomOn(t *testing.T, cl *redistest.Cluster, master *redistest.Server, prefix string) string {
	t.Helper()
	for i := 0; ; i++ {
		id := fmt.Sprintf("%s-%d", prefix, i)
		if cl.MasterOf(roomKey(id)) == master {
			return id
		}
	}
}

// roomInSlot is a room id starting with prefix whose keys are in slot.
func roomInSlot(slot int, prefix string) string {
	for i := 0; ; i++ {
		if id := fmt.Sprintf("%s-%d", prefix, i); redistest.KeySlot(roomKey(id)) == slot {
			return id
		}
	}
}

// roomKey is a key of the room in the store's default layout.
func roomKey(roomID string) string { return redisstore.DefaultKeyPrefix + "{" + roomID + "}:room" }

var pprofLine = regexp.MustCompile(`msg="pprof listening" addr=(\S+)`)

// nodeBrokerStats reads a node's broker counters from its /debug/vars
// (PPROF_ADDR).
func nodeBrokerStats(t *testing.T, node *serverProcess) redisbroker.Stats {
	t.Helper()
	found := pprofLine.FindAllStringSubmatch(node.logs.String(), -1)
	if len(found) == 0 {
		t.Fatalf("%s: no pprof listener in its log (PPROF_ADDR unset?)", node.name)
	}
	status, body := rest(t, http.MethodGet, "http://"+found[len(found)-1][1]+"/debug/vars", "")
	var vars struct {
		Broker *redisbroker.Stats `json:"broker"`
	}
	if status != http.StatusOK || json.Unmarshal(body, &vars) != nil || vars.Broker == nil {
		t.Fatalf("%s: /debug/vars answered %d %.200s", node.name, status, body)
	}
	return *vars.Broker
}

// roomClients are a room's members, spread over the nodes, every other one
// a socket.io-client 2.x (EIO 3) and the others 4.x (EIO 4).
func roomClients(t *testing.T, nodes []*serverProcess, roomID string, n int) []*chatClient {
	t.Helper()
	var out []*chatClient
	for i := range n {
		eio := 4 - i%2
		c := dialChatWith(t, fmt.Sprintf("%s-u%d-eio%d", roomID, i, eio), nodes[i%len(nodes)], sioclient.Options{EIO: eio})
		c.join(roomID)
		out = append(out, c)
	}
	return out
}

// ackedLog collects the messages acknowledged to posters.
type ackedLog struct {
	mu   sync.Mutex
	byID map[string][]rooms.Message
}

func (l *ackedLog) add(roomID string, m rooms.Message) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.byID == nil {
		l.byID = map[string][]rooms.Message{}
	}
	l.byID[roomID] = append(l.byID[roomID], m)
}

// postDuring makes every poster post into roomID until disrupt has
// returned and each got `after` more acknowledgements; an error ack
// (store.unavailable during an outage) is retried with new content, as a
// user would. It fails the test on any other error.
func postDuring(t *testing.T, posters []*chatClient, roomID string, after int, acked *ackedLog, disrupt func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	done := make(chan struct{})
	var refused atomic.Int64
	began := time.Now()
	started := make(chan struct{}, len(posters))
	errs := make(chan error, len(posters))
	var wg sync.WaitGroup
	for _, c := range posters {
		wg.Go(func() {
			more := -1 // counting starts once disrupt returned
			for i := 0; more < after; i++ {
				if more < 0 {
					select {
					case <-done:
						more = 0
					default:
					}
				}
				callCtx, callCancel := context.WithTimeout(ctx, 10*time.Second)
				m, err := c.chat(callCtx, roomID, fmt.Sprintf("%s #%d", c.name, i))
				callCancel()
				if i == 0 {
					started <- struct{}{}
				}
				var domainErr *rooms.Error
				switch {
				case ctx.Err() != nil:
					errs <- fmt.Errorf("%s: still posting when the test's time ran out (last: %v)", c.name, err)
					return
				case errors.As(err, &domainErr) && domainErr.Code == rooms.CodeUnavailable:
					refused.Add(1)
					select {
					case <-ctx.Done():
					case <-time.After(50 * time.Millisecond): // retry pacing, not synchronisation
					}
					continue
				case err != nil:
					errs <- fmt.Errorf("%s on %s: %w", c.name, c.node, err)
					return
				}
				acked.add(roomID, m)
				if more >= 0 {
					more++
				}
			}
		})
	}
	for range posters {
		<-started
	}
	disrupt()
	disrupted := time.Since(began)
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	acked.mu.Lock()
	n := len(acked.byID[roomID])
	acked.mu.Unlock()
	t.Logf("room %s: %d posts acknowledged so far, %d refused as unavailable; the disruption lasted %v", roomID, n, refused.Load(), disrupted.Round(10*time.Millisecond))
}

// checkRoom posts a marker, waits until every member has it, and checks
// that each got orders 1..marker once, in order (from firstOrder on for
// members that joined later), and that the history is gapless and holds
// every acknowledged message.
func checkRoom(t *testing.T, base, roomID string, members []*chatClient, firstOrder map[*chatClient]int64, acked *ackedLog) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()
	marker, err := members[0].chat(ctx, roomID, "marker")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range members {
		c.waitUntil(eventTimeout, "the marker of "+roomID, func() bool {
			msgs := c.messages[roomID]
			return len(msgs) > 0 && msgs[len(msgs)-1].Order == marker.Order
		})
		first := int64(1)
		if o, ok := firstOrder[c]; ok {
			first = o
		}
		checkExactlyOnceInOrder(t, c.name+" on "+c.node, roomID, c.received(roomID), first, marker.Order)
	}
	stored := history(t, base, roomID)
	checkGapless(t, roomID, stored)
	if int64(len(stored)) != marker.Order {
		t.Fatalf("room %s: %d messages stored, the marker is %d", roomID, len(stored), marker.Order)
	}
	acked.mu.Lock()
	defer acked.mu.Unlock()
	for _, m := range acked.byID[roomID] {
		if stored[m.Order-1] != m {
			t.Fatalf("room %s: acknowledged %+v, stored %+v", roomID, m, stored[m.Order-1])
		}
	}
}

// Rooms on every master, members of both generations on every node: each
// member gets each message of its room once, in order, and the histories
// are gapless. A room whose members are all on one node costs the other
// nodes nothing: not one frame of it reaches them.
func TestRedisClusterDeliversEachRoomOnlyWhereItIsServed(t *testing.T) {
	cl := redistest.StartCluster(t)
	nodes := startCluster(t, cl.URL(), 3, "PPROF_ADDR=127.0.0.1:0", "EVENT_RATE=off")
	var shared []string
	members := map[string][]*chatClient{}
	for i, m := range cl.Masters() {
		id := roomOn(t, cl, m, fmt.Sprintf("shared%d", i))
		createRoom(t, nodes[i].url(), id)
		shared = append(shared, id)
		members[id] = roomClients(t, nodes, id, 6)
	}
	lonely := roomOn(t, cl, cl.Masters()[0], "lonely")
	createRoom(t, nodes[0].url(), lonely)
	lonelyMembers := []*chatClient{dialChat(t, "lonely-a", nodes[0]), dialChatWith(t, "lonely-b", nodes[0], sioclient.Options{EIO: 3})}
	for _, c := range lonelyMembers {
		c.join(lonely)
	}

	acked := &ackedLog{}
	var wg sync.WaitGroup
	for _, id := range shared {
		wg.Go(func() { postDuring(t, members[id], id, 8, acked, func() {}) })
	}
	wg.Go(func() { postDuring(t, lonelyMembers, lonely, 8, acked, func() {}) })
	wg.Wait()
	for _, id := range shared {
		checkRoom(t, nodes[1].url(), id, members[id], nil, acked)
	}
	checkRoom(t, nodes[2].url(), lonely, lonelyMembers, nil, acked)

	// Only node 0 serves the lonely room: its traffic reaches node 0 (its
	// own echoes) and not one frame of it nodes 1 and 2.
	before := []redisbroker.Stats{nodeBrokerStats(t, nodes[0]), nodeBrokerStats(t, nodes[1]), nodeBrokerStats(t, nodes[2])}
	for _, st := range before[1:] {
		if st.Watched != len(shared) || st.Subscribed != len(shared) {
			t.Fatalf("a node serving the %d shared rooms watches %d, subscribed to %d", len(shared), st.Watched, st.Subscribed)
		}
	}
	const lonelyPosts = 50
	postDuring(t, lonelyMembers[:1], lonely, lonelyPosts, acked, func() {})
	checkRoom(t, nodes[0].url(), lonely, lonelyMembers, nil, acked)
	// A marker in a shared room, from node 0: it reaches nodes 1 and 2
	// after anything of the lonely room would have.
	checkRoom(t, nodes[0].url(), shared[0], members[shared[0]], nil, acked)
	after := []redisbroker.Stats{nodeBrokerStats(t, nodes[0]), nodeBrokerStats(t, nodes[1]), nodeBrokerStats(t, nodes[2])}
	if got := after[0].Received - before[0].Received; got < lonelyPosts {
		t.Fatalf("node 0 received %d frames while its room got %d posts: the counter does not count", got, lonelyPosts)
	}
	for i := 1; i < 3; i++ {
		if got := after[i].Received - before[i].Received; got != 1 {
			t.Fatalf("node %d received %d frames (%d bytes) during the lonely room's %d posts and one shared marker, want the marker's only",
				i, got, after[i].ReceivedBytes-before[i].ReceivedBytes, lonelyPosts)
		}
	}
}

// A slot migration (redis-cli --cluster reshard) during traffic, then a
// master killed during traffic: the room follows its slot, then the
// promoted replica; posts resume; with REDIS_WAIT_REPLICAS=1 no
// acknowledged message is lost; nothing is lost or duplicated for any
// member; a 4.x client cut off across both recovers its socket and every
// message it missed.
func TestRedisClusterReshardAndFailover(t *testing.T) {
	cl := redistest.StartCluster(t)
	nodes := startCluster(t, cl.URL(), 3, "REDIS_WAIT_REPLICAS=1", "PPROF_ADDR=127.0.0.1:0", "EVENT_RATE=off")
	from, to := cl.Masters()[0], cl.Masters()[1]
	moving := roomInSlot(cl.FirstSlot(from), "moving")
	createRoom(t, nodes[0].url(), moving)
	members := roomClients(t, nodes, moving, 6)
	rec := dialChat(t, "recoverable", nodes[1])
	rec.join(moving)
	acked := &ackedLog{}

	postDuring(t, members, moving, 10, acked, func() { cl.Reshard(from, to, 1) })
	if cl.MasterOf(roomKey(moving)) != to {
		t.Fatalf("room %s not moved to %s", moving, to.Addr())
	}
	checkRoom(t, nodes[2].url(), moving, append(members, rec), nil, acked)
	for i, node := range nodes {
		if st := nodeBrokerStats(t, node); st.Resyncs == 0 {
			t.Fatalf("node %d did not resynchronise the room after its slot moved: %+v", i, st)
		}
	}

	// The 4.x client is cut off (its transport dies; it keeps its pid and
	// offset), then the room's master dies.
	pid, offset := rec.conn.PID(), rec.conn.Offset()
	if pid == "" || offset == "" {
		t.Fatalf("no recovery state: pid %q, offset %q", pid, offset)
	}
	seen := len(rec.received(moving))
	_ = rec.conn.Drop()
	postDuring(t, members, moving, 10, acked, func() {
		to.Kill()
		cl.WaitPromoted(to)
		// Back as a replica of the promoted one: appends can have a
		// replica's acknowledgement again.
		to.Start()
		cl.WaitHealthy()
	})
	checkRoom(t, nodes[0].url(), moving, members, nil, acked)

	back := dialChatWith(t, "recoverable", nodes[2], sioclient.Options{EIO: 4, Recover: &sioclient.Recovery{PID: pid, Offset: offset}})
	if !back.conn.Recovered() {
		t.Fatal("the 4.x client was not recovered")
	}
	stored := history(t, nodes[0].url(), moving)
	back.waitUntil(eventTimeout, "the messages it missed", func() bool {
		return len(back.messages[moving]) >= len(stored)-seen
	})
	checkExactlyOnceInOrder(t, "the recovered client", moving, back.received(moving), int64(seen)+1, int64(len(stored)))
	checkRoom(t, nodes[1].url(), moving, append(members, back), map[*chatClient]int64{back: int64(seen) + 1}, acked)
}
