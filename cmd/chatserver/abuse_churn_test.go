package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"chatgateway/gateway/sioclient"
	"chatgateway/rooms"
)

// Join/leave churn (issue 10): sockets join one room under ever new 1 KiB
// names and leave. The original listed every name that ever joined, so the
// list, re-sent on every join and leave, grew by 1 KiB per cycle (2,100
// cycles made it 4.46 MB). Bounded, the list never exceeds MAX_PARTICIPANTS
// entries, so the largest list event an observer receives is bounded too,
// and the connected observer is never evicted for the churn.
func TestParticipantChurnIsBounded(t *testing.T) {
	const (
		maxParticipants = 100
		workers         = 2
		cyclesPerWorker = 1000
		nameBytes       = 1024
		roomID          = "churn"
		observerName    = "observer"
		limit           = 4 * time.Minute // the whole run, on a loaded machine
	)
	srv := startServer(t, "churn", "STORE=memory", fmt.Sprintf("MAX_PARTICIPANTS=%d", maxParticipants))
	createRoom(t, srv.url(), roomID)
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()

	// The largest a list can be: maxParticipants entries of the largest
	// shape any of them has (a churner's, disconnected).
	entry, err := json.Marshal(rooms.Participant{RoomID: roomID, Username: churnName(0, 0, nameBytes), Avatar: "a.svg", Connected: false})
	if err != nil {
		t.Fatal(err)
	}
	bound := 2 + maxParticipants*(len(entry)+1)

	obs := newListObserver(observerName)
	observer, err := sioclient.Dial(ctx, srv.url(), sioclient.Options{EIO: 4, OnRawEvent: obs.onRawEvent, ReadBufferSize: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	if err := observer.Emit("participants", map[string]string{"roomId": roomID, "username": observerName, "avatar": "o.svg"}); err != nil {
		t.Fatal(err)
	}
	if err := obs.await(ctx, func(l listStats) bool { return l.lists > 0 }); err != nil {
		t.Fatalf("observer's join: %v", err)
	}

	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range cyclesPerWorker {
				if err := churnCycle(ctx, srv.url(), roomID, churnName(w, i, nameBytes)); err != nil {
					errs <- fmt.Errorf("worker %d cycle %d: %w", w, i, err)
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
	// Every churner has left: the list settles at the bound, everyone
	// disconnected but the observer (or the bound has failed already).
	settled := func(l listStats) bool {
		return l.maxEntries > maxParticipants || (l.lastEntries == maxParticipants && l.lastConnected == 1)
	}
	if err := obs.await(ctx, settled); err != nil {
		t.Fatalf("final list: %v (last: %+v)", err, obs.stats())
	}
	got := obs.stats()
	t.Logf("%d cycles: the observer got %d lists, the largest %d entries and %d bytes (bound %d bytes; unbounded, the last list would be about %d bytes)",
		workers*cyclesPerWorker, got.lists, got.maxEntries, got.maxBytes, bound, (workers*cyclesPerWorker+1)*(len(entry)+1))
	if got.maxEntries > maxParticipants {
		t.Errorf("a list had %d entries, more than MAX_PARTICIPANTS %d", got.maxEntries, maxParticipants)
	}
	if got.maxBytes > bound {
		t.Errorf("the largest list was %d bytes, more than %d (MAX_PARTICIPANTS entries of %d bytes)", got.maxBytes, bound, len(entry))
	}
	if got.withoutObserver > 0 {
		t.Errorf("%d lists lacked the connected observer: it was evicted for the churn", got.withoutObserver)
	}
}

// churnName is worker w's i-th username, n bytes long.
func churnName(w, i, n int) string {
	prefix := fmt.Sprintf("w%d-c%04d-", w, i)
	return prefix + strings.Repeat("x", n-len(prefix))
}

// churnCycle is one attacker cycle: a new socket joins under name, waits for
// the list naming it, and goes away.
func churnCycle(ctx context.Context, url, roomID, name string) error {
	joined := make(chan struct{})
	var once sync.Once
	want := []byte(`"username":"` + name + `"`)
	refused := make(chan string, 1)
	c, err := sioclient.Dial(ctx, url, sioclient.Options{EIO: 4, ReadBufferSize: 64 << 10, OnRawEvent: func(event, payload []byte) {
		switch {
		case string(event) == "participants/"+roomID && bytes.Contains(payload, want):
			once.Do(func() { close(joined) })
		case string(event) == "exception":
			select {
			case refused <- string(payload):
			default:
			}
		}
	}})
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.Emit("participants", map[string]string{"roomId": roomID, "username": name, "avatar": "a.svg"}); err != nil {
		return err
	}
	select {
	case <-joined:
		return nil
	case e := <-refused:
		return fmt.Errorf("join refused: %s", e)
	case <-c.Done():
		return fmt.Errorf("connection lost before the join: %v", c.Err())
	case <-ctx.Done():
		return fmt.Errorf("no list naming the joiner: %w", ctx.Err())
	}
}

// listObserver measures every participant list a socket receives, without
// decoding them (a list may be 100 KB, and thousands arrive).
type listObserver struct {
	self    []byte // the observer's own entry, connected
	mu      sync.Mutex
	s       listStats
	changed chan struct{}
}

type listStats struct {
	lists, maxEntries, maxBytes int
	lastEntries, lastConnected  int
	withoutObserver, exceptions int
	lastException               string
}

func newListObserver(name string) *listObserver {
	return &listObserver{self: []byte(`"username":"` + name + `","avatar":"o.svg","connected":true`), changed: make(chan struct{}, 1)}
}

func (o *listObserver) onRawEvent(event, payload []byte) {
	o.mu.Lock()
	switch {
	case bytes.HasPrefix(event, []byte("participants/")):
		entries := bytes.Count(payload, []byte(`"roomId":`))
		o.s.lists++
		o.s.maxEntries = max(o.s.maxEntries, entries)
		o.s.maxBytes = max(o.s.maxBytes, len(payload))
		o.s.lastEntries = entries
		o.s.lastConnected = bytes.Count(payload, []byte(`"connected":true`))
		if !bytes.Contains(payload, o.self) {
			o.s.withoutObserver++
		}
	case string(event) == "exception":
		o.s.exceptions++
		o.s.lastException = string(payload)
	}
	o.mu.Unlock()
	select {
	case o.changed <- struct{}{}:
	default:
	}
}

func (o *listObserver) stats() listStats {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.s
}

// await waits until cond holds for the stats, or ctx ends.
func (o *listObserver) await(ctx context.Context, cond func(listStats) bool) error {
	for {
		s := o.stats()
		if s.exceptions > 0 {
			return errors.New("exception: " + s.lastException)
		}
		if cond(s) {
			return nil
		}
		select {
		case <-o.changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
