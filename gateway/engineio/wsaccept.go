package engineio

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"time"
)

// The server side of the WebSocket opening handshake (RFC 6455 section
// 4.2). It is small enough to own: what follows the handshake is read by
// frameReader and written by the flusher, so no WebSocket library object
// is kept per connection.

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

// acceptWebSocket completes the handshake and hands over the connection.
// On failure nothing was written and the caller answers the request.
// extra headers (a cookie) go into the 101 answer.
func acceptWebSocket(w http.ResponseWriter, r *http.Request, extra http.Header) (net.Conn, error) {
	if r.Method != http.MethodGet || !isWebSocketUpgrade(r) || r.Header.Get("Sec-Websocket-Version") != "13" {
		return nil, errNotWebSocket
	}
	key := r.Header.Get("Sec-Websocket-Key")
	if decoded, err := base64.StdEncoding.DecodeString(key); err != nil || len(decoded) != 16 {
		return nil, errNotWebSocket
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return nil, err
	}
	if brw.Reader.Buffered() > 0 {
		// A client must wait for the answer before it sends frames.
		conn.Close()
		return nil, errNotWebSocket
	}
	resp := make([]byte, 0, 256)
	resp = append(resp, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: "...)
	resp = append(resp, acceptKey(key)...)
	resp = append(resp, "\r\n"...)
	for name, values := range extra {
		for _, v := range values {
			resp = append(append(append(append(resp, name...), ": "...), v...), "\r\n"...)
		}
	}
	resp = append(resp, "\r\n"...)
	conn.SetWriteDeadline(time.Now().Add(handshakeTimeout))
	if _, err := conn.Write(resp); err != nil {
		conn.Close()
		return nil, err
	}
	conn.SetDeadline(time.Time{})
	return conn, nil
}

// acceptKey is Sec-WebSocket-Accept for a client's Sec-WebSocket-Key.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}
