package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/gateway"
	"chatgateway/rooms"
)

// The socket side of the abuse suite, against a real server process with
// the default settings.

// refusalCode is the code of a refusal in an ack, "" for anything else.
func refusalCode(err error) string {
	var e *rooms.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// TestAbuseImpersonation: with the defaults (room delivery, so bound
// identity) a socket cannot post into a room it did not join, nor under a
// name it did not join with, nor send a direct message from someone else;
// each gets a refusal with a code and nothing is stored.
func TestAbuseImpersonation(t *testing.T) {
	srv := startServer(t, "server", "STORE=memory")
	createRoom(t, srv.url(), "r")
	alice := dialChat(t, "alice", srv)
	alice.join("r")
	mallory := dialChat(t, "mallory", srv)
	mallory.join("r")
	outsider := dialChat(t, "outsider", srv)
	ctx, cancel := context.WithTimeout(context.Background(), eventTimeout)
	defer cancel()

	ack := func(c *chatClient, event string, payload map[string]string) error {
		t.Helper()
		raw, err := c.conn.EmitWithAck(ctx, event, payload)
		if err != nil {
			t.Fatalf("%s %s: %v", c.name, event, err)
		}
		_, refused := parseAck(raw)
		return refused
	}
	tests := []struct {
		name    string
		from    *chatClient
		event   string
		payload map[string]string
		code    string
	}{
		{"chat into a room never joined", outsider, "chat", map[string]string{"roomId": "r", "content": "x", "username": "alice"}, gateway.CodeNotJoined},
		{"chat under another name", mallory, "chat", map[string]string{"roomId": "r", "content": "x", "username": "alice"}, gateway.CodeIdentityMismatch},
		{"group message under another name", mallory, "messages", map[string]string{"type": "group", "roomId": "r", "content": "x", "username": "alice"}, gateway.CodeIdentityMismatch},
		{"direct message from someone else", mallory, "messages", map[string]string{"type": "direct", "roomId": "r", "to": "alice", "content": "x", "username": "alice"}, gateway.CodeIdentityMismatch},
		{"direct message into a room never joined", outsider, "messages", map[string]string{"type": "direct", "roomId": "r", "to": "alice", "content": "x"}, gateway.CodeNotJoined},
	}
	for _, tt := range tests {
		if got := refusalCode(ack(tt.from, tt.event, tt.payload)); got != tt.code {
			t.Errorf("%s: refusal code %q, want %q", tt.name, got, tt.code)
		}
	}
	// exchanges (no ack): the refusal is an exception event with the code.
	if err := mallory.conn.Emit("exchanges", map[string]string{"roomId": "r", "username": "alice", "content": "x"}); err != nil {
		t.Fatal(err)
	}
	mallory.waitUntil(eventTimeout, "the exchanges refusal", func() bool {
		return slices.Contains(mallory.exceptionCodes, gateway.CodeIdentityMismatch)
	})
	if got := history(t, srv.url(), "r"); len(got) != 0 {
		t.Fatalf("refused posts were stored: %+v", got)
	}
	// Under its own name it posts as always.
	if m, err := alice.chat(ctx, "r", "hello"); err != nil || m.Order != 1 || m.Username != "alice" {
		t.Fatalf("alice's own post: (%+v, %v)", m, err)
	}
}

// TestAbuseEventFlood: one socket sends 100,000 acknowledged events as fast
// as it can. Every event is answered (stored, or refused with code
// rate-limited: none is dropped silently), every accepted one is stored, and
// another client keeps posting meanwhile.
func TestAbuseEventFlood(t *testing.T) {
	const (
		events  = 100_000
		senders = 32 // goroutines of the flooder, each waiting for its acks
	)
	srv := startServer(t, "server", "STORE=memory")
	createRoom(t, srv.url(), "r")
	flooder := dialChat(t, "flooder", srv)
	flooder.join("r")
	other := dialChat(t, "other", srv)
	other.join("r")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The other client's acks before and during the flood.
	otherPosts := func(n int) []time.Duration {
		var lat []time.Duration
		for i := range n {
			start := time.Now()
			if _, err := other.chat(ctx, "r", fmt.Sprintf("other %d", i)); err != nil {
				t.Errorf("the other client's post %d: %v", i, err)
				return lat
			}
			lat = append(lat, time.Since(start))
		}
		return lat
	}
	before := otherPosts(10)

	var accepted, limited, next atomic.Int64
	var mu sync.Mutex
	var acceptedContents []string
	var wg sync.WaitGroup
	for range senders {
		wg.Go(func() {
			for {
				i := next.Add(1)
				if i > events || ctx.Err() != nil {
					return
				}
				content := fmt.Sprintf("flood %d", i)
				m, err := flooder.chat(ctx, "r", content)
				switch {
				case err == nil:
					accepted.Add(1)
					mu.Lock()
					acceptedContents = append(acceptedContents, m.Content)
					mu.Unlock()
				case refusalCode(err) == gateway.CodeRateLimited:
					limited.Add(1)
				default:
					t.Errorf("flood event %d: %v", i, err)
					return
				}
			}
		})
	}
	var during []time.Duration
	otherDone := make(chan struct{})
	go func() {
		defer close(otherDone)
		// Within the other client's own budget: 5 a second.
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for range 10 {
			<-tick.C
			during = append(during, otherPosts(1)...)
		}
	}()
	wg.Wait()
	<-otherDone
	if t.Failed() {
		return
	}
	if got := accepted.Load() + limited.Load(); got != events {
		t.Fatalf("%d events answered of %d sent (%d accepted, %d refused)", got, events, accepted.Load(), limited.Load())
	}
	if limited.Load() == 0 {
		t.Fatalf("no flood event was refused (%d accepted)", accepted.Load())
	}
	stored := history(t, srv.url(), "r")
	var storedFlood []string
	for _, m := range stored {
		if m.Username == "flooder" {
			storedFlood = append(storedFlood, m.Content)
		}
	}
	slices.Sort(storedFlood)
	slices.Sort(acceptedContents)
	if !slices.Equal(storedFlood, acceptedContents) {
		t.Fatalf("stored %d flood messages, accepted %d: every accepted event must be stored, no other", len(storedFlood), len(acceptedContents))
	}
	if len(during) != 10 {
		t.Fatalf("the other client got %d of its 10 acks during the flood", len(during))
	}
	t.Logf("flood: %d accepted, %d rate-limited; the other client's ack p99 %v before, %v during", accepted.Load(), limited.Load(), p99(before), p99(during))
}
