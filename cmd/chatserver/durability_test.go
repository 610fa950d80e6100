package main

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/sqlitestore"

	_ "modernc.org/sqlite" // the raw integrity check
)

// Restart: history survives a clean stop and the next order follows.
func TestRestartKeepsHistory(t *testing.T) {
	store := "STORE=sqlite:" + filepath.Join(t.TempDir(), "chat.db")
	p := startServer(t, "node", store)
	roomIDs := []string{"restart-a", "restart-b"}
	counts := map[string]int{"restart-a": 7, "restart-b": 3}
	c := dialChat(t, "alice", p)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, r := range roomIDs {
		createRoom(t, p.url(), r)
		c.join(r)
		for i := range counts[r] {
			if _, err := c.chat(ctx, r, fmt.Sprintf("%s message %d", r, i+1)); err != nil {
				t.Fatalf("post to %s: %v", r, err)
			}
		}
	}
	before := map[string][]rooms.Message{}
	for _, r := range roomIDs {
		before[r] = history(t, p.url(), r)
		if len(before[r]) != counts[r] {
			t.Fatalf("%s: %d messages stored, want %d", r, len(before[r]), counts[r])
		}
	}
	p.stop()

	p = startServer(t, "node restarted", store)
	c = dialChat(t, "alice", p)
	for _, r := range roomIDs {
		if after := history(t, p.url(), r); !slices.Equal(after, before[r]) {
			t.Fatalf("%s: history after restart %+v, want %+v", r, after, before[r])
		}
		c.join(r)
		m, err := c.chat(ctx, r, "after restart")
		if err != nil {
			t.Fatalf("post after restart: %v", err)
		}
		if want := int64(counts[r] + 1); m.Order != want {
			t.Fatalf("%s: first order after restart = %d, want %d", r, m.Order, want)
		}
	}
	p.stop()
}

// Crash: kill -9 during a burst of posts from 10 clients. Everything any
// client saw (ack or broadcast) must be stored, the history gapless, and the
// database must open cleanly. Five crashes in a row on one database.
func TestCrashDuringBurstLosesNothingAcknowledged(t *testing.T) {
	const (
		rounds          = 5
		clients         = 10
		killAfterAcks   = 150
		maxPostsPerUser = 1000 // bounds the loop if the kill never comes
	)
	dbPath := filepath.Join(t.TempDir(), "chat.db")
	store := "STORE=sqlite:" + dbPath
	const roomID = "crash-room"
	seen := map[int64]rooms.Message{} // every message any client saw, over all rounds
	p := startServer(t, "node", store)
	createRoom(t, p.url(), roomID)

	for round := 1; round <= rounds; round++ {
		var (
			mu    sync.Mutex
			acks  int
			wg    sync.WaitGroup
			kill  = make(chan struct{})
			once  sync.Once
			conns []*chatClient
		)
		for i := range clients {
			c := dialChat(t, fmt.Sprintf("r%d-user%d", round, i), p)
			c.join(roomID)
			conns = append(conns, c)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		for _, c := range conns {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range maxPostsPerUser {
					m, err := c.chat(ctx, roomID, fmt.Sprintf("%s #%d", c.name, i))
					if err != nil {
						return // the server is gone
					}
					mu.Lock()
					seen[m.Order] = m
					acks++
					if acks == killAfterAcks {
						once.Do(func() { close(kill) })
					}
					mu.Unlock()
				}
			}()
		}
		select {
		case <-kill:
		case <-ctx.Done():
			t.Fatalf("round %d: only %d acks before the deadline", round, acks)
		}
		p.kill()
		wg.Wait()
		cancel()
		for _, c := range conns {
			for _, m := range c.received(roomID) {
				if prev, ok := seen[m.Order]; ok && prev != m {
					t.Fatalf("round %d: order %d seen as %+v and as %+v", round, m.Order, prev, m)
				}
				seen[m.Order] = m
			}
		}

		p = startServer(t, fmt.Sprintf("node after crash %d", round), store)
		stored := history(t, p.url(), roomID)
		checkGapless(t, roomID, stored)
		for order, m := range seen {
			if order > int64(len(stored)) || stored[order-1] != m {
				t.Fatalf("round %d: message %+v was acknowledged or broadcast but is not in the history (%d stored)", round, m, len(stored))
			}
		}
		t.Logf("round %d: %d messages stored, %d seen by clients", round, len(stored), len(seen))
	}
	p.stop()

	// The database is consistent once no server holds it: SQLite's own
	// check on the raw file, then our store opens it.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	var verdict string
	if err := db.QueryRowContext(ctx, "PRAGMA integrity_check").Scan(&verdict); err != nil || verdict != "ok" {
		t.Fatalf("integrity_check = %q, %v", verdict, err)
	}
	db.Close()
	s, err := sqlitestore.Open(ctx, dbPath)
	if err != nil {
		t.Fatalf("reopening the database: %v", err)
	}
	defer s.Close()
	last, err := s.LastOrder(ctx, roomID)
	if err != nil || last < int64(len(seen)) {
		t.Fatalf("LastOrder = %d, %v; clients saw %d messages", last, err, len(seen))
	}
}
