//go:build !race

package gateway

import (
	"runtime/debug"
	"sync"
	"testing"

	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
)

// TestBroadcastSendAllocatesNothingPerRecipient: queuing one encoded
// Broadcast on a member costs no allocation, so a room message to 1000
// members allocates exactly what one to a single member does.
//
// Each measured run sends to every member (socketio.Conn.Send, then
// engineio.Session.Send) and waits until every client has read the frame, so
// the sockets' flushers are measured too: starting one, batching, writev.
// The flushers take their memory from a pool and give it back when they
// end, which can be after their client read the frame, and each runs on a
// goroutine whose descriptor the runtime reuses once it exited. So a burst
// of goroutines and a few rounds of warm-up come first, letting both grow
// to what a broadcast and the stragglers of the previous one use at once,
// and the collector is off while counting: a collection empties the pool by
// design (and a loaded machine makes stragglers many).
//
// Not under the race detector, where a sync.Pool drops a quarter of what is
// put back on purpose: `make test` runs this test a second time without it.
func TestBroadcastSendAllocatesNothingPerRecipient(t *testing.T) {
	const members, runs, warmups = 1000, 20, 3
	bg := startBenchGateway(t, members)
	to := bg.g.hub.recipients(bg.room(t))
	if len(to) != members {
		t.Fatalf("room has %d members, want %d", len(to), members)
	}
	b, err := bg.srv.NewOffsetBroadcast(Namespace, messageEvent("r"), recoveryOffset(offsetTag("r"), 1), rooms.Message{Order: 1, Username: "alice", Content: benchContent, CreatedAt: "2021-03-01T10:00:00.000Z"})
	if err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	var parked sync.WaitGroup
	for range 2 * members {
		parked.Go(func() { <-release })
	}
	close(release)
	parked.Wait()
	defer debug.SetGCPercent(debug.SetGCPercent(-1))
	allocs := func(to []*membership) float64 {
		for range warmups {
			sendToAll(t, bg, b, to)
		}
		return testing.AllocsPerRun(runs, func() { sendToAll(t, bg, b, to) })
	}
	one := allocs(to[:1])
	all := allocs(to)
	t.Logf("allocations per broadcast: %v to 1 member, %v to %d members", one, all, members)
	// Zero per recipient; the slack only absorbs stray allocations of other
	// goroutines (timers of earlier tests) that AllocsPerRun also counts. One
	// allocation per recipient would be 1000 over.
	if perRecipient := (all - one) / members; perRecipient >= 0.1 {
		t.Errorf("a broadcast to %d members allocates %v objects, to 1 member %v: %.2f per recipient, want 0", members, all, one, perRecipient)
	}
}

// sendToAll is the hub's per-recipient step: membership.send, with the
// bookkeeping recovery needs (every client here is a v5 socket with a pid).
func sendToAll(t *testing.T, bg *benchGateway, b *socketio.Broadcast, to []*membership) {
	bg.frames.Expect(int64(len(to)))
	for _, mb := range to {
		if err := mb.send(b, 1); err != nil {
			t.Fatal(err)
		}
	}
	bg.frames.Wait(t)
}
