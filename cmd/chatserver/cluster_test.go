package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/redisstore/redistest"
)

// Liveness settings of the multi-node tests: short, so a dead node is
// noticed quickly, yet far above what a loaded 2-core machine needs to beat.
const (
	clusterHeartbeat = 500 * time.Millisecond
	clusterNodeTTL   = 3 * time.Second
)

// startCluster starts n gateway nodes on one store, env added to each.
func startCluster(t *testing.T, redisURL string, n int, env ...string) []*serverProcess {
	t.Helper()
	nodes := make([]*serverProcess, n)
	for i := range nodes {
		nodes[i] = startServer(t, fmt.Sprintf("node%d", i), append([]string{
			"STORE=" + redisURL, fmt.Sprintf("NODE_ID=node%d", i),
			"HEARTBEAT_INTERVAL=" + clusterHeartbeat.String(), "NODE_TTL=" + clusterNodeTTL.String()}, env...)...)
	}
	return nodes
}

// participantsKey renders a list the way every client must agree on.
func participantsKey(list []rooms.Participant) string {
	b, _ := json.Marshal(list)
	return string(b)
}

// Three nodes on one Redis, clients spread over them in shared rooms: every
// client receives every message of its room exactly once and in order, and
// every node shows the same participant lists.
func TestThreeNodesDeliverEveryMessageOnceInOrder(t *testing.T) {
	const (
		roomCount      = 3
		clientsPerRoom = 6
		postsPerClient = 15
	)
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(0), 3)

	byRoom := map[string][]*chatClient{}
	for r := range roomCount {
		roomID := fmt.Sprintf("shared-%d", r)
		createRoom(t, nodes[r%3].url(), roomID)
		for i := range clientsPerRoom {
			c := dialChat(t, fmt.Sprintf("%s-user%d", roomID, i), nodes[(r+i)%3])
			c.join(roomID)
			byRoom[roomID] = append(byRoom[roomID], c)
		}
	}
	// Every client sees the complete list, identical on every node.
	for roomID, cs := range byRoom {
		var want string
		for _, c := range cs {
			c.waitUntil(eventTimeout, "the full participant list", func() bool {
				n := 0
				for _, p := range c.lists[roomID] {
					if p.Connected {
						n++
					}
				}
				return n == clientsPerRoom
			})
			got := participantsKey(c.participants(roomID))
			if want == "" {
				want = got
			} else if got != want {
				t.Fatalf("%s on %s sees participants %s, others %s", c.name, c.node, got, want)
			}
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, roomCount*clientsPerRoom)
	for roomID, cs := range byRoom {
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range postsPerClient {
					if _, err := c.chat(ctx, roomID, fmt.Sprintf("%s says %d", c.name, i)); err != nil {
						errs <- fmt.Errorf("%s on %s: %w", c.name, c.node, err)
						return
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	total := int64(clientsPerRoom * postsPerClient)
	for roomID, cs := range byRoom {
		// A marker after everything: a duplicate would show up before it.
		if _, err := cs[0].chat(ctx, roomID, "marker"); err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			c.waitUntil(eventTimeout, "the marker", func() bool {
				msgs := c.messages[roomID]
				return len(msgs) > 0 && msgs[len(msgs)-1].Content == "marker"
			})
			checkExactlyOnceInOrder(t, c.name+" on "+c.node, roomID, c.received(roomID), 1, total+1)
		}
		checkGapless(t, roomID, history(t, nodes[0].url(), roomID))
	}
}

// Node failure: kill -9 one of three nodes during traffic. The others keep
// serving, its clients reconnect elsewhere and go on, the history has no
// gap, and its participants turn connected:false within the liveness window.
func TestNodeFailure(t *testing.T) {
	const (
		clientsPerNode = 3
		roomID         = "failover"
		postsBefore    = 5
		postsAfter     = 5
	)
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(0), 3)
	createRoom(t, nodes[0].url(), roomID)
	var clients []*chatClient
	for n, node := range nodes {
		for i := range clientsPerNode {
			c := dialChat(t, fmt.Sprintf("n%d-user%d", n, i), node)
			c.join(roomID)
			clients = append(clients, c)
		}
	}
	// A user of the node to be killed who does not come back: only the
	// reap can mark that entry disconnected.
	lurker := dialChat(t, "n2-lurker", nodes[2])
	lurker.join(roomID)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	acked := map[int64]rooms.Message{}
	var mu sync.Mutex
	post := func(c *chatClient, n int) error {
		for i := range n {
			m, err := c.chat(ctx, roomID, fmt.Sprintf("%s on %s #%d", c.name, c.node, i))
			if err != nil {
				return err
			}
			mu.Lock()
			acked[m.Order] = m
			mu.Unlock()
		}
		return nil
	}
	postAll := func(cs []*chatClient, n int) {
		t.Helper()
		var wg sync.WaitGroup
		errs := make(chan error, len(cs))
		for _, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := post(c, n); err != nil {
					errs <- fmt.Errorf("%s on %s: %w", c.name, c.node, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	postAll(clients, postsBefore)

	// Kill node 2 while the others post.
	survivors, victims := clients[:2*clientsPerNode], clients[2*clientsPerNode:]
	var traffic sync.WaitGroup
	trafficErr := make(chan error, len(survivors))
	for _, c := range survivors {
		traffic.Add(1)
		go func() {
			defer traffic.Done()
			if err := post(c, postsAfter); err != nil {
				trafficErr <- fmt.Errorf("%s on %s: %w", c.name, c.node, err)
			}
		}()
	}
	killed := time.Now()
	nodes[2].kill()
	traffic.Wait()
	close(trafficErr)
	for err := range trafficErr {
		t.Fatalf("a surviving node stopped serving: %v", err)
	}

	// The victims' connections are gone; they reconnect to node 0 and go on.
	var moved []*chatClient
	for _, v := range victims {
		select {
		case <-v.conn.Done():
		case <-time.After(eventTimeout):
			t.Fatalf("%s still connected to a killed node", v.name)
		}
		c := dialChat(t, v.name, nodes[0])
		c.join(roomID)
		moved = append(moved, c)
	}
	postAll(moved, postsAfter)

	// The dead node's entries turn connected:false; each moved user's
	// entry (one per username) is connected again, held on node 0.
	watcher := survivors[0]
	watcher.waitUntil(clusterNodeTTL+2*clusterHeartbeat+eventTimeout, "the dead node's participants disconnected", func() bool {
		entries := func(name string) (dead, live int) {
			for _, p := range watcher.lists[roomID] {
				if p.Username == name {
					if p.Connected {
						live++
					} else {
						dead++
					}
				}
			}
			return dead, live
		}
		for _, v := range victims {
			if dead, live := entries(v.name); dead != 0 || live != 1 {
				return false
			}
		}
		dead, live := entries(lurker.name)
		return dead == 1 && live == 0
	})
	t.Logf("dead node's participants disconnected %v after the kill (NODE_TTL %v)", time.Since(killed).Round(10*time.Millisecond), clusterNodeTTL)

	stored := history(t, nodes[1].url(), roomID)
	checkGapless(t, roomID, stored)
	for order, m := range acked {
		if stored[order-1] != m {
			t.Fatalf("acknowledged %+v, stored %+v", m, stored[order-1])
		}
	}
	if want := len(clients)*postsBefore + len(clients)*postsAfter; len(stored) != want {
		t.Fatalf("%d messages stored, want %d", len(stored), want)
	}
	// Survivors saw everything, in order, once.
	if _, err := watcher.chat(ctx, roomID, "marker"); err != nil {
		t.Fatal(err)
	}
	for _, c := range survivors {
		c.waitUntil(eventTimeout, "the marker", func() bool {
			msgs := c.messages[roomID]
			return len(msgs) > 0 && msgs[len(msgs)-1].Content == "marker"
		})
		checkExactlyOnceInOrder(t, c.name, roomID, c.received(roomID), 1, int64(len(stored))+1)
	}
}

// Redis restart during traffic: while it is down REST answers 503 with a
// JSON error and socket posts get an error ack or exception, all promptly;
// afterwards the nodes recover by themselves and nothing stored is lost.
func TestRedisRestart(t *testing.T) {
	const roomID = "redis-restart"
	redis := redistest.Start(t)
	nodes := startCluster(t, redis.URL(0), 2)
	createRoom(t, nodes[0].url(), roomID)
	var clients []*chatClient
	for n, node := range nodes {
		for i := range 2 {
			c := dialChat(t, fmt.Sprintf("n%d-user%d", n, i), node)
			c.join(roomID)
			clients = append(clients, c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, c := range clients {
		if _, err := c.chat(ctx, roomID, "before "+c.name); err != nil {
			t.Fatal(err)
		}
	}
	before := history(t, nodes[0].url(), roomID)

	redis.Kill()
	// Bounded: the store's own timeouts are far below this, and rest's
	// deadline (restTimeout, the same) fails a request that hangs.
	const promptly = 10 * time.Second
	for _, node := range nodes {
		status, body := rest(t, http.MethodPost, node.url()+"/api/v1/rooms", `{"roomId":"during-outage","creatorUsername":"bob"}`)
		var nestErr struct {
			StatusCode int    `json:"statusCode"`
			Message    string `json:"message"`
		}
		if status != http.StatusServiceUnavailable || json.Unmarshal(body, &nestErr) != nil || nestErr.StatusCode != 503 || nestErr.Message == "" {
			t.Fatalf("%s: REST during the outage: %d %s, want 503 with a JSON error", node.name, status, body)
		}
	}
	for _, c := range clients {
		postCtx, cancel := context.WithTimeout(ctx, promptly)
		_, err := c.chat(postCtx, roomID, "during outage")
		cancel()
		var domainErr *rooms.Error
		if !errors.As(err, &domainErr) || domainErr.Code != rooms.CodeUnavailable {
			t.Fatalf("%s: chat during the outage: %v, want an error ack %q", c.name, err, rooms.CodeUnavailable)
		}
	}

	redis.Start()
	// The nodes recover without a restart: posts succeed again...
	for _, c := range clients {
		deadline := time.Now().Add(3 * promptly)
		for {
			postCtx, cancel := context.WithTimeout(ctx, promptly)
			_, err := c.chat(postCtx, roomID, "after "+c.name)
			cancel()
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: still failing %v after Redis came back: %v", c.name, 3*promptly, err)
			}
			select {
			case <-c.conn.Done():
				t.Fatalf("%s: connection lost", c.name)
			case <-time.After(100 * time.Millisecond): // retry pacing, not synchronisation
			}
		}
	}
	// ...and reach the other node's sockets again, in order, exactly once.
	if _, err := clients[0].chat(ctx, roomID, "marker"); err != nil {
		t.Fatal(err)
	}
	stored := history(t, nodes[1].url(), roomID)
	checkGapless(t, roomID, stored)
	if !slices.Equal(stored[:len(before)], before) {
		t.Fatalf("history before the outage changed: %+v, want %+v", stored[:len(before)], before)
	}
	for _, c := range clients {
		c.waitUntil(promptly*2, "the marker", func() bool {
			msgs := c.messages[roomID]
			return len(msgs) > 0 && msgs[len(msgs)-1].Content == "marker"
		})
		checkExactlyOnceInOrder(t, c.name, roomID, c.received(roomID), 1, int64(len(stored)))
	}
	// No node was declared dead because of the outage.
	for _, p := range clients[0].participants(roomID) {
		if !p.Connected {
			t.Fatalf("participant %s turned disconnected although its node lived: %+v", p.Username, clients[0].participants(roomID))
		}
	}
}
