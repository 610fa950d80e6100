package engineio

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatgateway/gateway/engineio/frametest"
)

// chatPacketText is the Socket.IO packet of a typical chat message as the
// gateway broadcasts it: an EVENT named after the room, one object argument.
var chatPacketText = []byte(`2["r",{"order":123,"username":"alice","content":"hello everyone, how is it going today?","createdAt":"2021-03-01T10:00:00.000Z"}]`)

// BenchmarkWSFrames measures building the WebSocket frames of one message,
// which happens once per broadcast whatever the number of recipients.
func BenchmarkWSFrames(b *testing.B) {
	attachment := make([]byte, 1024)
	cases := []struct {
		name        string
		attachments [][]byte
	}{
		{"text", nil},
		{"text+1KiB-attachment", [][]byte{attachment}},
	}
	for _, tc := range cases {
		for _, protocol := range []int{ProtocolV3, ProtocolV4} {
			b.Run(fmt.Sprintf("%s/v%d", tc.name, protocol), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m := NewMessage(chatPacketText, tc.attachments)
					if len(m.wsFrames(protocol)) != 1+len(tc.attachments) {
						b.Fatal("wrong frame count")
					}
				}
			})
		}
	}
}

// BenchmarkSessionSendWebSocket measures one broadcast: a fresh message
// queued with Session.Send on N WebSocket sessions, then flushed by their
// writers and read off loopback by N clients. One op ends when every client
// has the frame, so ns/op is the whole fan-out; ns/recipient divides it by N
// and send-ns/recipient is the part spent in the Send loop alone.
func BenchmarkSessionSendWebSocket(b *testing.B) {
	for _, n := range []int{1, 100, 1000} {
		b.Run(fmt.Sprintf("recipients=%d", n), func(b *testing.B) {
			sessions, frames := openBenchSessions(b, n)
			b.ReportAllocs()
			var sending time.Duration
			for b.Loop() {
				m := NewMessage(chatPacketText, nil)
				frames.Expect(int64(n))
				start := time.Now()
				for _, s := range sessions {
					if err := s.Send(m); err != nil {
						b.Fatal(err)
					}
				}
				sending += time.Since(start)
				frames.Wait(b)
			}
			recipients := float64(b.N) * float64(n)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/recipients, "ns/recipient")
			b.ReportMetric(float64(sending.Nanoseconds())/recipients, "send-ns/recipient")
		})
	}
}

// sessionCollector hands the benchmark every session the engine opens.
type sessionCollector struct{ opened chan *Session }

func (h sessionCollector) OnOpen(s *Session)                { h.opened <- s }
func (h sessionCollector) OnMessage(*Session, []byte, bool) {}
func (h sessionCollector) OnClose(*Session, string)         {}

// quietConfig keeps heartbeats out of measurements: no ping is due while a
// benchmark runs, so every frame a client counts is one the benchmark sent.
func quietConfig() Config {
	return Config{
		PingInterval: time.Hour,
		PingTimeout:  time.Hour,
		Logger:       slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

// openBenchSessions serves the engine on loopback and opens n WebSocket
// sessions (EIO=4, WebSocket only) whose clients count the frames they get.
func openBenchSessions(tb testing.TB, n int) ([]*Session, *frametest.FrameWaiter) {
	tb.Helper()
	handler := sessionCollector{opened: make(chan *Session, n)}
	srv := NewServer(quietConfig(), handler)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	served := make(chan struct{})
	go func() { defer close(served); hs.Serve(ln) }()
	frames := frametest.NewFrameWaiter()
	var clients []net.Conn
	var readers sync.WaitGroup
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Shutdown(ctx)
		<-served
		for _, c := range clients {
			c.Close()
		}
		readers.Wait()
	})
	url := "ws://" + ln.Addr().String() + "/engine.io/?EIO=4&transport=websocket"
	sessions := make([]*Session, 0, n)
	for range n {
		conn, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			tb.Fatalf("dial: %v", err)
		}
		raw := conn.UnderlyingConn()
		clients = append(clients, raw)
		// The open packet is the only thing the server sends unasked, so
		// once it is read the library holds no buffered bytes and the
		// socket can be read raw from here on.
		conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
			tb.Fatalf("open packet %q: %v", open, err)
		}
		conn.SetReadDeadline(time.Time{})
		select {
		case s := <-handler.opened:
			sessions = append(sessions, s)
		case <-time.After(10 * time.Second):
			tb.Fatal("no session opened")
		}
		readers.Go(func() { frametest.CountFrames(raw, frames) })
	}
	return sessions, frames
}
