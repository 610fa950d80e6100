package redisstore_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"chatgateway/rooms"
	"chatgateway/rooms/redisstore"
	"chatgateway/rooms/redisstore/redistest"
)

// A reaped node's entries count as disconnected for the list bounds: a full
// room makes room by evicting them.
func TestReapedEntriesMakeRoom(t *testing.T) {
	srv := redistest.Start(t)
	s := openStore(t, srv, redisstore.WithKeyPrefix(uniquePrefix()))
	mustCreate(t, s, "r")
	limits := func() rooms.ParticipantLimits {
		return rooms.ParticipantLimits{Now: time.Now(), Retention: time.Hour, Max: 2}
	}
	join := func(socket, name, node string) error {
		return s.UpsertParticipant(opCtx(t), rooms.Participant{RoomID: "r", SocketID: socket, Username: name, NodeID: node}, limits())
	}
	for _, p := range [][3]string{{"s1", "A", "dead"}, {"s2", "B", "alive"}} {
		if err := join(p[0], p[1], p[2]); err != nil {
			t.Fatal(err)
		}
	}
	if err := join("s3", "C", "alive"); !errors.Is(err, rooms.ErrRoomFull) {
		t.Fatalf("join into a full room = %v, want ErrRoomFull", err)
	}
	mustHeartbeat(t, s, "dead", time.Millisecond)
	mustHeartbeat(t, s, "alive", time.Hour)
	if got := reapUntil(t, s); !slices.Equal(got["dead"], []string{"r"}) {
		t.Fatalf("ReapDeadNodes = %v, want room r for node dead", got)
	}
	if err := join("s3", "C", "alive"); err != nil {
		t.Fatalf("join after the reap: %v", err)
	}
	if got := connectedBySocket(t, s, "r"); !mapsEqual(got, map[string]bool{"s2": true, "s3": true}) {
		t.Fatalf("after the reap and a join: %v, want B and C connected, A evicted", got)
	}
}

// An upgraded deployment finds participant lists in the layout keyed by
// socket: they are dropped (presence only), rooms and history stay, and
// creating or closing the room, or reaping a node, deletes the old keys.
func TestUpgradeDropsOldParticipantLists(t *testing.T) {
	srv := redistest.Start(t)
	prefix := uniquePrefix()
	s := openStore(t, srv, redisstore.WithKeyPrefix(prefix))
	mustCreate(t, s, "r")
	if _, err := s.AppendMessage(opCtx(t), "r", rooms.NewMessage{Username: "u", Content: "kept"}); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	old := func(part string) string { return prefix + "{r}:" + part }
	if err := c.HSet(opCtx(t), old("people"), "sock", `{"username":"u","avatar":""}`).Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.RPush(opCtx(t), old("joined"), "sock").Err(); err != nil {
		t.Fatal(err)
	}
	if err := c.HSet(opCtx(t), old("state"), "sock", "1old-node").Err(); err != nil {
		t.Fatal(err)
	}
	oldIndex := prefix + "node:{old-node}:sockets"
	if err := c.SAdd(opCtx(t), oldIndex, "1:rsock").Err(); err != nil {
		t.Fatal(err)
	}

	list, err := s.Participants(opCtx(t), "r")
	if err != nil || len(list) != 0 {
		t.Fatalf("participants over the old layout = (%+v, %v), want none", list, err)
	}
	msgs, err := s.Messages(opCtx(t), "r", 1, 10)
	if err != nil || len(msgs) != 1 || msgs[0].Content != "kept" {
		t.Fatalf("history over the old layout = (%+v, %v), want the message kept", msgs, err)
	}
	mustUpsert(t, s, rooms.Participant{RoomID: "r", SocketID: "new", Username: "u"})
	if got := connectedBySocket(t, s, "r"); !mapsEqual(got, map[string]bool{"new": true}) {
		t.Fatalf("after a join: %v, want the new entry only", got)
	}

	mustHeartbeat(t, s, "old-node", time.Millisecond)
	reapUntil(t, s)
	if err := s.CloseRoom(opCtx(t), "r"); err != nil {
		t.Fatal(err)
	}
	keys, err := c.Keys(opCtx(t), prefix+"*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 0 {
		t.Fatalf("keys left after the reap and the close: %q", keys)
	}
}
