package socketio

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatgateway/gateway/engineio"
)

// wsWait bounds every read of the test client; a healthy exchange takes
// milliseconds.
const wsWait = 10 * time.Second

// dialV5 connects an Engine.IO v4 WebSocket to srv and joins "/", returning
// the connection ready for EVENT packets.
func dialV5(t *testing.T, srv *Server) *websocket.Conn {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wsWait)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Shutdown(ctx)
	})
	conn, _, err := websocket.DefaultDialer.Dial("ws://"+ln.Addr().String()+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if open := readPacket(t, conn); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	writePacket(t, conn, "40")
	if reply := readPacket(t, conn); !strings.HasPrefix(reply, `40{"sid":`) {
		t.Fatalf("connect reply %q", reply)
	}
	return conn
}

func readPacket(t *testing.T, conn *websocket.Conn) string {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(wsWait))
	_, data, err := conn.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return string(data)
}

func writePacket(t *testing.T, conn *websocket.Conn, p string) {
	t.Helper()
	if err := conn.WriteMessage(websocket.TextMessage, []byte(p)); err != nil {
		t.Fatalf("write %q: %v", p, err)
	}
}

// TestAckOnlyWhenTheHandlerAcknowledges sends, for each handler shape, an
// EVENT asking for ack 1 and then a marker EVENT asking for ack 2 from a
// handler that acknowledges. Packets of one socket are dispatched and
// answered in order, so the first ACK the client reads tells whether the
// handler under test answered: 431[...] if it did, 432[...] if it did not.
func TestAckOnlyWhenTheHandlerAcknowledges(t *testing.T) {
	tests := []struct {
		name    string
		handler any
		want    string // the first ACK read; "432[]" means ack 1 was never sent
	}{
		{"no parameters, no results", func(c Conn) {}, "432[]"},
		{"typed parameter, no results", func(c Conn, s string) {}, "432[]"},
		{"variadic, no results", func(c Conn, args ...any) {}, "432[]"},
		{"one result", func(c Conn, s string) string { return s + "!" }, `431["x!"]`},
		{"two results", func(c Conn, s string) (string, int) { return s, 2 }, `431["x",2]`},
		{"variadic Args echo", func(c Conn, args ...any) Args { return args }, `431["x"]`},
		{"empty Args acknowledges with nothing", func(c Conn) Args { return nil }, "431[]"},
		{"panicking handler with results", func(c Conn) string { panic("boom") }, "432[]"},
	}
	quiet := slog.New(slog.DiscardHandler) // the panicking handler logs an error
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := NewServer(Config{Engine: engineio.Config{Logger: quiet}, Logger: quiet})
			srv.OnEvent("/", "under-test", tc.handler)
			srv.OnEvent("/", "marker", func(c Conn) Args { return nil })
			conn := dialV5(t, srv)
			writePacket(t, conn, `421["under-test","x"]`)
			writePacket(t, conn, `422["marker"]`)
			first := readPacket(t, conn)
			if first != tc.want {
				t.Fatalf("first ACK %q, want %q", first, tc.want)
			}
			if first != "432[]" {
				if next := readPacket(t, conn); next != "432[]" {
					t.Fatalf("marker ACK %q, want 432[]", next)
				}
			}
		})
	}
}
