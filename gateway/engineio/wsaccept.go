package engineio

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// The server side of the WebSocket opening handshake (RFC 6455 section
// 4.2) is gorilla/websocket's Upgrader. Only the connection is kept from
// it: what follows the handshake is read by frameReader, fed by the poller
// or a goroutine, and written by the flusher, so no library object (and
// none of its buffers) is held per connection (README, "Reading WebSockets
// without a goroutine per connection").

// handshakeTimeout bounds writing the 101 answer.
const handshakeTimeout = 10 * time.Second

var errNotWebSocket = errors.New("engineio: not a valid WebSocket handshake")

// isWebSocketUpgrade reports whether r asks for a WebSocket.
func isWebSocketUpgrade(r *http.Request) bool {
	return headerHasToken(r.Header, "Connection", "upgrade") && headerHasToken(r.Header, "Upgrade", "websocket")
}

// headerHasToken reports whether a comma-separated header holds token,
// case-insensitively.
func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(part), token) {
				return true
			}
		}
	}
	return false
}

// discardWrites is a write buffer pool that never keeps a buffer: the
// Upgrader writes only the 101 answer with it, and a pooled 4 KiB buffer
// per concurrent handshake would outlive it for nothing.
type discardWrites struct{}

func (discardWrites) Get() any  { return nil }
func (discardWrites) Put(_ any) {}

// upgrader is shared by every Server: the engine checks origins (CORS_ORIGINS)
// and answers refusals itself, before and after the Upgrader.
var upgrader = sync.OnceValue(func() *websocket.Upgrader {
	return &websocket.Upgrader{
		HandshakeTimeout: handshakeTimeout,
		WriteBufferPool:  discardWrites{},
		// The engine's admission checked the origin already.
		CheckOrigin: func(*http.Request) bool { return true },
		// A refused handshake is answered by the caller, in the engine's
		// error format: the Upgrader writes nothing.
		Error: func(http.ResponseWriter, *http.Request, int, error) {},
	}
})

// acceptWebSocket completes the handshake and hands over the connection.
// On a refused handshake (errNotWebSocket) nothing was written and the
// caller answers the request. extra headers (a cookie) go into the 101
// answer.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, extra http.Header) (net.Conn, error) {
	if r.Method != http.MethodGet || !isWebSocketUpgrade(r) || r.Header.Get("Sec-Websocket-Version") != "13" {
		return nil, errNotWebSocket
	}
	c, err := upgrader().Upgrade(hijackable{w}, r, extra)
	if err != nil {
		var handshake websocket.HandshakeError
		if errors.As(err, &handshake) {
			return nil, errNotWebSocket
		}
		return nil, err
	}
	return c.NetConn(), nil
}

// hijackable lets the Upgrader hijack through wrapping ResponseWriters
// (the access log's, Echo's) that implement Unwrap rather than Hijack.
type hijackable struct{ http.ResponseWriter }

func (h hijackable) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(h.ResponseWriter).Hijack()
}
