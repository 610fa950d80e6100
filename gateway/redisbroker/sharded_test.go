package redisbroker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"chatgateway/gateway"
	"chatgateway/rooms/redisstore/redistest"
)

var quietLogger = slog.New(slog.NewTextHandler(io.Discard, nil))

// newShardedNode is one node's sharded broker on client, subscribed.
func newShardedNode(t *testing.T, client redis.UniversalClient, nodeID string) (*Sharded, *received) {
	t.Helper()
	b := NewSharded(client, Options{NodeID: nodeID, MinBackoff: 20 * time.Millisecond, MaxBackoff: 500 * time.Millisecond,
		HealthInterval: time.Second, Logger: quietLogger})
	r := newReceived()
	unsubscribe, err := b.Subscribe(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		unsubscribe()
		_ = b.Close()
	})
	return b, r
}

func standaloneClient(t *testing.T, srv *redistest.Server) *redis.Client {
	t.Helper()
	c := redis.NewClient(&redis.Options{Addr: srv.Addr(), DialTimeout: time.Second, ReadTimeout: time.Second, WriteTimeout: time.Second, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func clusterClient(t *testing.T, cl *redistest.Cluster) *redis.ClusterClient {
	t.Helper()
	c := redis.NewClusterClient(&redis.ClusterOptions{Addrs: cl.Addrs(), DialTimeout: time.Second, ReadTimeout: time.Second,
		WriteTimeout: time.Second, ClusterStateReloadInterval: time.Second})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func watch(t *testing.T, b *Sharded, roomID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := b.Watch(ctx, roomID); err != nil {
		t.Fatal(err)
	}
}

func publish(t *testing.T, b *Sharded, roomID, content string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := b.Publish(ctx, roomID, text(content)); err != nil {
		t.Fatal(err)
	}
}

func (r *received) none(t *testing.T, who string) {
	t.Helper()
	select {
	case got := <-r.ch:
		t.Fatalf("%s got %q, want nothing", who, got)
	default:
	}
}

func (r *received) expectResync(t *testing.T, who, roomID string) {
	t.Helper()
	select {
	case got := <-r.roomResyncs:
		if got != roomID {
			t.Fatalf("%s resynced room %q, want %q", who, got, roomID)
		}
	case <-time.After(redistest.DefaultClusterTimeout):
		t.Fatalf("%s: no resync of %q within %v", who, roomID, redistest.DefaultClusterTimeout)
	}
}

// A node receives exactly the rooms it watches: an envelope reaches the
// other watchers of its room once, nothing reaches a node that does not
// watch it (not a byte: the counters), watches are counted, and Unwatch
// stops the flow.
func TestShardedDeliversOnlyWatchedRooms(t *testing.T) {
	srv := redistest.Start(t)
	a, gotA := newShardedNode(t, standaloneClient(t, srv), "node-a")
	b, gotB := newShardedNode(t, standaloneClient(t, srv), "node-b")
	c, gotC := newShardedNode(t, standaloneClient(t, srv), "node-c")
	watch(t, a, "r1")
	watch(t, b, "r1")
	watch(t, c, "r2")

	publish(t, a, "r1", "one")
	gotA.expect(t, "node-a", "r1|one") // at once, locally
	gotB.expect(t, "node-b", "r1|one")
	publish(t, c, "r2", "two")
	gotC.expect(t, "node-c", "r2|two")
	// Markers after both: once they are in, anything else would be too.
	publish(t, b, "r1", "marker1")
	publish(t, c, "r2", "marker2")
	gotA.expect(t, "node-a", "r1|marker1")
	gotB.expect(t, "node-b", "r1|marker1")
	gotC.expect(t, "node-c", "r2|marker2")
	gotA.none(t, "node-a")
	gotB.none(t, "node-b")
	gotC.none(t, "node-c")
	// node-c's own two frames come back to it (Redis echoes them; the
	// broker drops them). Redis handled r1's before them, so an r1 frame
	// meant for node-c would be in by then: it got its own, and nothing else.
	waitUntil(t, "node-c's echoes", func() bool { return c.Stats().Received >= 2 })
	if st := c.Stats(); st.Received != 2 || st.ReceivedBytes != st.PublishedBytes || st.Watched != 1 || st.Subscribed != 1 {
		t.Fatalf("node-c stats %+v, want its own 2 frames received and nothing else, 1 room watched and subscribed", st)
	}

	// Counted: a second Watch needs a second Unwatch.
	watch(t, b, "r1")
	b.Unwatch("r1")
	publish(t, a, "r1", "still")
	gotA.expect(t, "node-a", "r1|still")
	gotB.expect(t, "node-b", "r1|still")
	b.Unwatch("r1")
	// Unwatch returns at once; the server confirms the unsubscription.
	waitUntil(t, "node-b to unsubscribe", func() bool { st := b.Stats(); return st.Watched == 0 && st.Channels == 0 })
	watch(t, b, "rb")
	before := b.Stats().Received
	publish(t, a, "r1", "after")
	gotA.expect(t, "node-a", "r1|after")
	// One connection per shard, one shard: had "after" reached node-b, it
	// would come before this marker.
	publish(t, a, "rb", "marker3")
	gotA.expect(t, "node-a", "rb|marker3")
	gotB.expect(t, "node-b", "rb|marker3")
	before++ // the marker
	if got := b.Stats().Received; got != before {
		t.Fatalf("node-b received %d frames after unwatching, want none", got-before)
	}
}

// After Watch returns, every envelope published reaches the node: the
// subscription is confirmed before Watch returns.
func TestShardedWatchReturnsOnceSubscribed(t *testing.T) {
	srv := redistest.Start(t)
	a, _ := newShardedNode(t, standaloneClient(t, srv), "node-a")
	b, gotB := newShardedNode(t, standaloneClient(t, srv), "node-b")
	for i := range 20 {
		room := fmt.Sprintf("room%d", i)
		watch(t, b, room)
		publish(t, a, room, "first")
		gotB.expect(t, "node-b", room+"|first")
	}
}

// A standalone Redis restart: each watched room is subscribed again and
// resynchronised, and envelopes flow again.
func TestShardedResubscribesAfterRedisRestart(t *testing.T) {
	srv := redistest.Start(t)
	a, gotA := newShardedNode(t, standaloneClient(t, srv), "node-a")
	b, gotB := newShardedNode(t, standaloneClient(t, srv), "node-b")
	watch(t, a, "r")
	watch(t, b, "r")
	srv.Kill()
	srv.Start()
	gotA.expectResync(t, "node-a", "r")
	gotB.expectResync(t, "node-b", "r")
	publish(t, a, "r", "after")
	gotA.expect(t, "node-a", "r|after")
	gotB.expect(t, "node-b", "r|after")
}

// On a cluster: a room's subscription follows its slot when the slot
// migrates (redis-cli --cluster reshard) and when its master dies (the
// replica is promoted), with a resync each time; rooms on other shards
// are not disturbed. go-redis's own sharded PubSub does neither: it stays
// unsubscribed after the migration.
func TestShardedFollowsSlotMigrationAndFailover(t *testing.T) {
	cl := redistest.StartCluster(t)
	a, gotA := newShardedNode(t, clusterClient(t, cl), "node-a")
	b, gotB := newShardedNode(t, clusterClient(t, cl), "node-b")
	masters := cl.Masters()
	from, to := masters[0], masters[1]
	slot := cl.FirstSlot(from)
	moving := ""
	for i := 0; moving == ""; i++ {
		if id := fmt.Sprintf("moving%d", i); redistest.KeySlot(a.channel(id)) == slot {
			moving = id
		}
	}
	staying := ""
	for i := 0; staying == ""; i++ {
		if id := fmt.Sprintf("staying%d", i); cl.MasterOf(a.channel(id)) == masters[2] {
			staying = id
		}
	}
	for _, room := range []string{moving, staying} {
		watch(t, a, room)
		watch(t, b, room)
		publish(t, a, room, "before")
		gotA.expect(t, "node-a", room+"|before")
		gotB.expect(t, "node-b", room+"|before")
	}
	// go-redis's sharded PubSub on the same channel, for comparison.
	own := clusterClient(t, cl).SSubscribe(context.Background(), a.channel(moving))
	defer own.Close()
	if _, err := own.ReceiveTimeout(context.Background(), waitFor); err != nil {
		t.Fatalf("go-redis SSUBSCRIBE: %v", err)
	}

	cl.Reshard(from, to, 1)
	gotB.expectResync(t, "node-b", moving)
	gotA.expectResync(t, "node-a", moving)
	publish(t, a, moving, "migrated")
	gotA.expect(t, "node-a", moving+"|migrated")
	gotB.expect(t, "node-b", moving+"|migrated")
	for {
		msg, err := own.ReceiveTimeout(context.Background(), waitFor)
		if err != nil {
			t.Fatalf("go-redis PubSub after the migration: %v", err)
		}
		if m, ok := msg.(*redis.Message); ok {
			t.Fatalf("go-redis's own sharded PubSub followed the migration (got %q): ours may not be needed any more", m.Payload)
		}
		if s, ok := msg.(*redis.Subscription); ok && s.Kind == "sunsubscribe" {
			break // dropped by the server, and go-redis does not subscribe again
		}
	}

	to.Kill()
	cl.WaitPromoted(to)
	gotA.expectResync(t, "node-a", moving)
	gotB.expectResync(t, "node-b", moving)
	publish(t, b, moving, "failed-over")
	gotA.expect(t, "node-a", moving+"|failed-over")
	gotB.expect(t, "node-b", moving+"|failed-over")

	publish(t, a, staying, "undisturbed")
	gotA.expect(t, "node-a", staying+"|undisturbed")
	gotB.expect(t, "node-b", staying+"|undisturbed")
	select {
	case r := <-gotA.roomResyncs:
		t.Fatalf("node-a resynced %q too", r)
	case r := <-gotB.roomResyncs:
		t.Fatalf("node-b resynced %q too", r)
	default:
	}
}

// Publish without any Redis still delivers locally and says Redis failed;
// Watch gives up with ctx, and the room is resynchronised once the
// subscription is confirmed after all.
func TestShardedWatchWhileRedisIsDown(t *testing.T) {
	srv := redistest.Start(t)
	a, gotA := newShardedNode(t, standaloneClient(t, srv), "node-a")
	srv.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	err := a.Watch(ctx, "r")
	cancel()
	if err == nil {
		t.Fatal("Watch confirmed with Redis down")
	}
	pubCtx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if err := a.Publish(pubCtx, "r", text("local")); err == nil {
		t.Fatal("Publish with Redis down: no error")
	}
	gotA.expect(t, "node-a", "r|local")
	srv.Start()
	gotA.expectResync(t, "node-a", "r")
}

// waitUntil polls cond (the broker's counters have no event) until it
// holds or waitFor passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(waitFor)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline.C:
			t.Fatalf("no %s within %v", what, waitFor)
		case <-tick.C:
		}
	}
}

var _ gateway.Subscriber = (*received)(nil)
