package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"

	"chatgateway/gateway/engineio/frametest"
)

// The broadcast benchmarks run the gateway on the real engine, with N
// loopback WebSocket clients in room "r". The clients only count the frames
// they receive (see frametest.CountFrames), so what is measured is the server's work
// plus the kernel's, and one op ends when every member has the message.

const benchContent = "hello everyone, how is it going today?"

// BenchmarkHubBroadcast is the hub's delivery of one room message: encoded
// once (socketio.Server.NewBroadcast), queued on every member's socket
// (member.Send), written by the sockets' flushers. deliver-ns/recipient is
// the part spent in the hub's own loop.
func BenchmarkHubBroadcast(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			bg := startBenchGateway(b, n)
			rs := bg.room(b)
			b.ReportAllocs()
			var delivering time.Duration
			order := int64(0)
			for b.Loop() {
				order++
				m := rooms.Message{Order: order, Username: "alice", Content: benchContent, CreatedAt: "2021-03-01T10:00:00.000Z"}
				bg.frames.Expect(int64(n))
				start := time.Now()
				bg.g.hub.deliver(rs, delivery{kind: deliverMessage, message: m})
				delivering += time.Since(start)
				bg.frames.Wait(b)
			}
			reportPerRecipient(b, n, delivering, "deliver-ns/recipient")
		})
	}
}

// BenchmarkRoomPost is the whole in-process path of a chat message after
// the client's packet is decoded: stored (memstore), published on the
// in-process broker, sequenced, then delivered as in BenchmarkHubBroadcast
// by the room's drain goroutine.
func BenchmarkRoomPost(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("members=%d", n), func(b *testing.B) {
			bg := startBenchGateway(b, n)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				bg.frames.Expect(int64(n))
				if _, err := bg.g.post(ctx, "r", rooms.NewMessage{Username: "alice", Content: benchContent}); err != nil {
					b.Fatal(err)
				}
				bg.frames.Wait(b)
			}
			reportPerRecipient(b, n, 0, "")
		})
	}
}

func reportPerRecipient(b *testing.B, n int, part time.Duration, partUnit string) {
	recipients := float64(b.N) * float64(n)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/recipients, "ns/recipient")
	if partUnit != "" {
		b.ReportMetric(float64(part.Nanoseconds())/recipients, partUnit)
	}
}

type benchGateway struct {
	g      *Gateway
	srv    *socketio.Server
	frames *frametest.FrameWaiter
}

// startBenchGateway serves a gateway on loopback and connects n Engine.IO
// v4 WebSocket clients, made members of room "r" directly in the hub (a
// "participants" event per client would broadcast n growing lists).
func startBenchGateway(tb testing.TB, n int) *benchGateway {
	tb.Helper()
	// No ping is due while a benchmark runs, so every frame a client counts
	// is one the benchmark caused.
	es := startEngineServer(tb, engineio.Config{PingInterval: time.Hour, PingTimeout: time.Hour}, Config{})
	g := es.g
	frames := frametest.NewFrameWaiter()
	var clients []net.Conn
	var readers sync.WaitGroup
	// Runs before the server's cleanup: the clients go first.
	tb.Cleanup(func() {
		for _, c := range clients {
			c.Close()
		}
		readers.Wait()
	})
	if _, err := g.hub.prepare(context.Background(), "r"); err != nil {
		tb.Fatal(err)
	}
	dialer := websocket.Dialer{HandshakeTimeout: waitFor}
	url := "ws://" + es.addr + "/socket.io/?EIO=4&transport=websocket"
	for i := range n {
		conn, _, err := dialer.Dial(url, nil)
		if err != nil {
			tb.Fatalf("dial: %v", err)
		}
		clients = append(clients, conn.UnderlyingConn())
		sid := benchConnect(tb, conn)
		s := g.members.socket(sid)
		if s == nil || !g.members.join(s, &membership{roomID: "r", username: fmt.Sprintf("user%d", i)}) {
			tb.Fatalf("socket %s is not connected", sid)
		}
		// Nothing else is sent to the client unasked, so the library holds
		// no buffered bytes and the socket can be read raw from here on.
		readers.Go(func() { frametest.CountFrames(conn.UnderlyingConn(), frames) })
	}
	return &benchGateway{g: g, srv: es.srv, frames: frames}
}

// benchConnect reads the open packet, connects the root namespace and
// returns the socket id.
func benchConnect(tb testing.TB, conn *websocket.Conn) string {
	tb.Helper()
	conn.SetReadDeadline(time.Now().Add(waitFor))
	defer conn.SetReadDeadline(time.Time{})
	if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		tb.Fatalf("open packet %q: %v", open, err)
	}
	if err := conn.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		tb.Fatal(err)
	}
	_, connect, err := conn.ReadMessage()
	var reply struct{ Sid string }
	if err != nil || !strings.HasPrefix(string(connect), "40{") || json.Unmarshal(connect[2:], &reply) != nil || reply.Sid == "" {
		tb.Fatalf("connect reply %q: %v", connect, err)
	}
	return reply.Sid
}

// room returns the delivery state of room "r".
func (bg *benchGateway) room(tb testing.TB) *room {
	rm := bg.g.hub.room("r", false)
	if rm == nil {
		tb.Fatal("room r has no delivery state")
	}
	return rm
}
