package socketio

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"testing"

	"chatgateway/gateway/engineio"
)

// benchChatMessage has the wire shape of the gateway's stored chat message
// (rooms.Message), which the hub broadcasts as the argument of the room's event.
type benchChatMessage struct {
	Order     int64  `json:"order"`
	Username  string `json:"username"`
	Content   string `json:"content"`
	CreatedAt string `json:"createdAt"`
}

var benchMessage = benchChatMessage{
	Order:     123,
	Username:  "alice",
	Content:   "hello everyone, how is it going today?",
	CreatedAt: "2021-03-01T10:00:00.000Z",
}

const benchPacketText = `42["r",{"order":123,"username":"alice","content":"hello everyone, how is it going today?","createdAt":"2021-03-01T10:00:00.000Z"}]`

// BenchmarkNewBroadcast measures encoding one chat event for a broadcast,
// which the hub does once per message whatever the number of recipients.
func BenchmarkNewBroadcast(b *testing.B) {
	srv := NewServer(Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	cases := []struct {
		name string
		arg  any
	}{
		{"struct", benchMessage},
		{"map", map[string]any{"order": 123, "username": "alice", "content": benchMessage.Content, "createdAt": benchMessage.CreatedAt}},
		{"raw-json", json.RawMessage(`{"order":123,"username":"alice","content":"hello everyone, how is it going today?","createdAt":"2021-03-01T10:00:00.000Z"}`)},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			bc, err := srv.NewBroadcast("/", "r", tc.arg)
			if err != nil {
				b.Fatal(err)
			}
			if tc.name != "map" && !bytes.Equal(append([]byte("4"), bc.msg.Text...), []byte(benchPacketText)) {
				b.Fatalf("encoded %q, want %q", bc.msg.Text, benchPacketText)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := srv.NewBroadcast("/", "r", tc.arg); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEncodeEvent is the encoding alone (no Broadcast wrapper), as
// Conn.Emit uses it.
func BenchmarkEncodeEvent(b *testing.B) {
	args := []any{benchMessage}
	b.ReportAllocs()
	for b.Loop() {
		m, err := encodeEvent("/", "r", -1, args)
		if err != nil {
			b.Fatal(err)
		}
		if m.Type != engineio.PacketMessage {
			b.Fatal("not a message packet")
		}
	}
}
