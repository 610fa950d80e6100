package engineio

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// Every WebSocket test runs twice: read by the poller (on Linux) and by a
// goroutine per socket, as everywhere else.
func forEachReadMode(t *testing.T, test func(t *testing.T, goroutineReads bool)) {
	for _, mode := range []struct {
		name      string
		goroutine bool
	}{{"poller", false}, {"goroutine", true}} {
		t.Run(mode.name, func(t *testing.T) { test(t, mode.goroutine) })
	}
}

// recordingHandler echoes like echoHandler, and reports closes on a channel.
type recordingHandler struct {
	echoHandler
	closes chan string
}

func (h *recordingHandler) OnClose(s *Session, reason string) { h.closes <- reason }

func (h *recordingHandler) closeReason(t *testing.T) string {
	t.Helper()
	select {
	case r := <-h.closes:
		return r
	case <-time.After(waitLimit):
		t.Fatal("the session did not close")
		return ""
	}
}

// waitLimit bounds each wait of these tests on an event.
const waitLimit = 10 * time.Second

func startWSServer(t *testing.T, cfg Config, h Handler, goroutineReads bool) string {
	t.Helper()
	_, url := startWSServerWith(t, cfg, h, goroutineReads)
	return url
}

func startWSServerWith(t *testing.T, cfg Config, h Handler, goroutineReads bool) (*Server, string) {
	t.Helper()
	srv := NewServer(cfg, h)
	srv.goroutineReads = goroutineReads
	base, stop := serveEngine(t, srv)
	t.Cleanup(stop)
	return srv, "ws" + strings.TrimPrefix(base, "http")
}

func dialEngineWS(t *testing.T, url string, d *websocket.Dialer) *websocket.Conn {
	t.Helper()
	if d == nil {
		d = &websocket.Dialer{}
	}
	c, _, err := d.Dial(url+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if _, open, err := c.ReadMessage(); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
		t.Fatalf("open packet %q, %v", open, err)
	}
	return c
}

func readWS(t *testing.T, c *websocket.Conn) (int, string) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(waitLimit))
	mt, data, err := c.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, string(data)
}

func TestWebSocketMessagesAndControlFrames(t *testing.T) {
	forEachReadMode(t, func(t *testing.T, goroutineReads bool) {
		h := &recordingHandler{closes: make(chan string, 1)}
		url := startWSServer(t, Config{}, h, goroutineReads)
		// A small write buffer makes the client fragment long messages.
		c := dialEngineWS(t, url, &websocket.Dialer{WriteBufferSize: 64})
		long := "4" + strings.Repeat("é", 3000)
		pongs := make(chan string, 1)
		c.SetPongHandler(func(data string) error { pongs <- data; return nil })
		for _, m := range []struct {
			kind int
			data string
		}{
			{websocket.TextMessage, "4hello"},
			{websocket.BinaryMessage, "\x00\x01\x02"},
			{websocket.TextMessage, long},
		} {
			if err := c.WriteMessage(m.kind, []byte(m.data)); err != nil {
				t.Fatal(err)
			}
			kind, got := readWS(t, c)
			if kind != m.kind || got != m.data {
				t.Fatalf("echo of a %d-byte message: kind %d, %d bytes", len(m.data), kind, len(got))
			}
		}
		if err := c.WriteControl(websocket.PingMessage, []byte("are you there"), time.Now().Add(waitLimit)); err != nil {
			t.Fatal(err)
		}
		c.WriteMessage(websocket.TextMessage, []byte("4after the ping"))
		if _, got := readWS(t, c); got != "4after the ping" {
			t.Fatalf("got %q", got)
		}
		select {
		case p := <-pongs:
			if p != "are you there" {
				t.Errorf("pong %q", p)
			}
		default:
			t.Error("no pong before the next message")
		}
		// The client closes: the server answers with the same code.
		c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(4001, "bye"), time.Now().Add(waitLimit))
		c.SetReadDeadline(time.Now().Add(waitLimit))
		_, _, err := c.ReadMessage()
		var ce *websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 {
			t.Errorf("after the client's close: %v, want a close frame with code 4001", err)
		}
		if r := h.closeReason(t); r != ReasonTransportClose {
			t.Errorf("close reason %q", r)
		}
	})
}

func TestWebSocketFramingErrorsClose(t *testing.T) {
	forEachReadMode(t, func(t *testing.T, goroutineReads bool) {
		t.Run("message over MAX_FRAME", func(t *testing.T) {
			h := &recordingHandler{closes: make(chan string, 1)}
			url := startWSServer(t, Config{MaxFrame: 1000}, h, goroutineReads)
			c := dialEngineWS(t, url, nil)
			if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("4"), 1000)); err != nil {
				t.Fatal(err)
			}
			if _, got := readWS(t, c); len(got) != 1000 {
				t.Fatalf("a message of exactly MAX_FRAME: echo of %d bytes", len(got))
			}
			if err := c.WriteMessage(websocket.TextMessage, bytes.Repeat([]byte("4"), 1001)); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(waitLimit))
			_, _, err := c.ReadMessage()
			var ce *websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != closeMessageTooBig {
				t.Errorf("%v, want close code %d", err, closeMessageTooBig)
			}
			if r := h.closeReason(t); r != ReasonTransportError {
				t.Errorf("close reason %q", r)
			}
		})
		unmasked := clientFrame(true, opText, []byte("4x"))
		unmasked[1] &^= 0x80
		for _, tt := range []struct {
			name  string
			frame []byte
		}{
			{"unmasked frame", unmasked},
			{"ping over 125 bytes", clientFrame(true, opPing, bytes.Repeat([]byte("p"), 126))},
			{"unknown opcode", clientFrame(true, 0x5, nil)},
		} {
			t.Run(tt.name, func(t *testing.T) {
				h := &recordingHandler{closes: make(chan string, 1)}
				url := startWSServer(t, Config{}, h, goroutineReads)
				conn, br := rawWebSocket(t, hostOf(url), "EIO=4&transport=websocket")
				readRawFrame(t, conn, br) // open packet
				conn.Write(tt.frame)
				op, payload := readRawFrame(t, conn, br)
				if op != opClose || len(payload) < 2 || int(payload[0])<<8|int(payload[1]) != closeProtocolError {
					t.Errorf("answer: opcode %d payload %v, want close %d", op, payload, closeProtocolError)
				}
				if r := h.closeReason(t); r != ReasonTransportError {
					t.Errorf("close reason %q", r)
				}
			})
		}
	})
}

// hostOf is the host:port of an engine URL.
func hostOf(url string) string {
	rest := url[strings.Index(url, "://")+3:]
	return rest[:strings.IndexByte(rest, '/')]
}

// rawWebSocket opens a WebSocket by hand, for frames no client library
// would send.
func rawWebSocket(t *testing.T, hostport, query string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, err := net.Dial("tcp", hostport)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var key [16]byte
	rand.Read(key[:])
	fmt.Fprintf(conn, "GET /engine.io/?%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		query, hostport, base64.StdEncoding.EncodeToString(key[:]))
	br := bufio.NewReader(conn)
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", resp, err)
	}
	if resp.Header.Get("Sec-Websocket-Accept") != acceptKey(base64.StdEncoding.EncodeToString(key[:])) {
		t.Fatalf("Sec-WebSocket-Accept %q", resp.Header.Get("Sec-Websocket-Accept"))
	}
	return conn, br
}

// acceptKey is Sec-WebSocket-Accept for a client's Sec-WebSocket-Key
// (RFC 6455 section 4.2.2), computed here to check the Upgrader's.
func acceptKey(key string) string {
	h := sha1.New()
	h.Write([]byte(key))
	h.Write([]byte("258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// readRawFrame reads one unmasked server frame.
func readRawFrame(t *testing.T, conn net.Conn, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(waitLimit))
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("frame header: %v", err)
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		io.ReadFull(br, l[:])
		n = int(l[0])<<8 | int(l[1])
	case 127:
		t.Fatal("unexpectedly long frame")
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(br, payload); err != nil {
		t.Fatalf("frame payload: %v", err)
	}
	return h[0] & 0x0F, payload
}

// blockingHandler holds every message until released, and records them.
type blockingHandler struct {
	release chan struct{}
	mu      sync.Mutex
	got     []string
	want    int           // all is closed once got has this many
	all     chan struct{} // closed once want messages were handled
	first   chan struct{} // closed when the first message is being handled
	once    sync.Once
}

func (h *blockingHandler) OnOpen(*Session) {}
func (h *blockingHandler) OnMessage(s *Session, data []byte, binary bool) {
	h.once.Do(func() { close(h.first) })
	<-h.release
	h.mu.Lock()
	h.got = append(h.got, string(data))
	if len(h.got) == h.want {
		close(h.all)
	}
	h.mu.Unlock()
}
func (h *blockingHandler) OnClose(*Session, string) {}

// TestWebSocketInboundQueueIsBounded: while a handler is busy, the
// session queues what its socket sends only up to maxInboundBytes (plus
// what one read brought), then stops reading, so TCP pushes back on the
// client; released, the handler gets every message, in order.
func TestWebSocketInboundQueueIsBounded(t *testing.T) {
	forEachReadMode(t, func(t *testing.T, goroutineReads bool) {
		h := &blockingHandler{release: make(chan struct{}), first: make(chan struct{}), all: make(chan struct{})}
		srv := NewServer(Config{}, h)
		srv.goroutineReads = goroutineReads
		base, stop := serveEngine(t, srv)
		t.Cleanup(stop)
		c := dialEngineWS(t, "ws"+strings.TrimPrefix(base, "http"), nil)
		var sess *Session
		srv.mu.RLock()
		for _, s := range srv.sessions {
			sess = s
		}
		srv.mu.RUnlock()

		const size = 1000
		payload := bytes.Repeat([]byte("x"), size)
		// The client writes until its writes stall: the server stopped
		// reading and the kernel buffers between them are full. A stall is
		// a write that does not complete for stallAfter; the bound checked
		// below holds whatever the pace of either side.
		const stallAfter = 300 * time.Millisecond
		const most = 200_000 // ~200 MB: far beyond any socket buffer
		sent := 0
		for ; sent < most; sent++ {
			c.SetWriteDeadline(time.Now().Add(stallAfter))
			msg := append([]byte(fmt.Sprintf("4%08d", sent)), payload...)
			if err := c.WriteMessage(websocket.TextMessage, msg); err != nil {
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					break
				}
				t.Fatal(err)
			}
			if sent == 0 {
				<-h.first
			}
		}
		if sent == most {
			t.Fatalf("the client wrote %d messages of %d bytes without the server pushing back", sent, size)
		}
		sess.inMu.Lock()
		queued := sess.inBytes
		sess.inMu.Unlock()
		// The read that filled the queue is queued whole: at most
		// pollerReadSize bytes, and the message it completed.
		msgLen := 9 + size
		if limit := maxInboundBytes + (pollerReadSize/msgLen+2)*(msgLen+inboundItemCost); queued > limit {
			t.Errorf("%d bytes queued for dispatch, want at most %d", queued, limit)
		}
		t.Logf("the client wrote %d messages before stalling; %d bytes queued", sent, queued)
		// A write that timed out may have sent part of a frame: the socket
		// is unusable, so only what went out whole is checked.
		h.mu.Lock()
		h.want = sent
		h.mu.Unlock()
		close(h.release)
		select {
		case <-h.all:
		case <-time.After(waitLimit):
			h.mu.Lock()
			t.Fatalf("the handler got %d of %d messages", len(h.got), sent)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		for i, m := range h.got[:sent] {
			if want := fmt.Sprintf("%08d", i); !strings.HasPrefix(m, want) {
				t.Fatalf("message %d is %q…, want %s…", i, m[:8], want)
			}
		}
	})
}

// TestUpgradeKeepsMessagesSentWithTheUpgradePacket: a client that sends
// messages in the same TCP write as the upgrade packet has them handled
// once, in order, after the upgrade.
func TestUpgradeKeepsMessagesSentWithTheUpgradePacket(t *testing.T) {
	forEachReadMode(t, func(t *testing.T, goroutineReads bool) {
		h := &recordingHandler{closes: make(chan string, 1)}
		url := startWSServer(t, Config{}, h, goroutineReads)
		base := "http" + strings.TrimPrefix(url, "ws")
		sid := handshakeSID(t, base, 4)
		conn, br := rawWebSocket(t, hostOf(url), "EIO=4&transport=websocket&sid="+sid)
		conn.Write(clientFrame(true, opText, []byte("2probe")))
		if op, p := readRawFrame(t, conn, br); op != opText || string(p) != "3probe" {
			t.Fatalf("probe answer %d %q", op, p)
		}
		var burst []byte
		for _, m := range []string{"5", "4one", "4two", "4three"} {
			burst = append(burst, clientFrame(true, opText, []byte(m))...)
		}
		conn.Write(burst)
		for _, want := range []string{"4one", "4two", "4three"} {
			op, p := readRawFrame(t, conn, br)
			for op == opText && string(p) == "6" { // a noop for the released poll, if any
				op, p = readRawFrame(t, conn, br)
			}
			if op != opText || string(p) != want {
				t.Fatalf("got %d %q, want %q", op, p, want)
			}
		}
	})
}

// TestUpgradeThenCloseInOneSegment: a client that closes its WebSocket as
// soon as the upgrade is done (engine.io-client 3 does, when it was asked
// to close while upgrading) may send the upgrade packet and the close frame
// in one TCP segment. The session is upgraded and then ended by the close,
// at once, not left on polling for the heartbeat to reap.
func TestUpgradeThenCloseInOneSegment(t *testing.T) {
	forEachReadMode(t, func(t *testing.T, goroutineReads bool) {
		h := &recordingHandler{closes: make(chan string, 1)}
		// A heartbeat far beyond the test: only the close can end the session.
		srv, url := startWSServerWith(t, Config{PingInterval: time.Hour, PingTimeout: time.Hour}, h, goroutineReads)
		base := "http" + strings.TrimPrefix(url, "ws")
		sid := handshakeSID(t, base, 4)
		conn, br := rawWebSocket(t, hostOf(url), "EIO=4&transport=websocket&sid="+sid)
		conn.Write(clientFrame(true, opText, []byte("2probe")))
		if op, p := readRawFrame(t, conn, br); op != opText || string(p) != "3probe" {
			t.Fatalf("probe answer %d %q", op, p)
		}
		burst := clientFrame(true, opText, []byte("5"))
		burst = append(burst, clientFrame(true, opClose, []byte{0x03, 0xe8})...)
		conn.Write(burst)
		if r := h.closeReason(t); r != ReasonTransportClose {
			t.Errorf("close reason %q, want %q", r, ReasonTransportClose)
		}
		if n := srv.SessionCount(); n != 0 {
			t.Errorf("%d sessions left", n)
		}
	})
}

// TestAbortedPollEndsTheSession: a client that goes away while its poll is
// held (a browser page closed) ends its session at once, as engine.io ends
// it, instead of leaving it to the heartbeat.
func TestAbortedPollEndsTheSession(t *testing.T) {
	h := &recordingHandler{closes: make(chan string, 1)}
	// A heartbeat far beyond the test: only the abort can end the session.
	srv := NewServer(Config{PingInterval: time.Hour, PingTimeout: time.Hour}, h)
	base, stop := serveEngine(t, srv)
	t.Cleanup(stop)
	sid := handshakeSID(t, base, 4)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"?EIO=4&transport=polling&sid="+sid, nil)
	polled := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		polled <- err
	}()
	// The poll is held: nothing is queued. Abort it once the server has it.
	for deadline := time.Now().Add(waitLimit); !pollActive(srv, sid); runtime.Gosched() {
		if time.Now().After(deadline) {
			t.Fatal("the poll never reached the server")
		}
	}
	cancel()
	<-polled
	if r := h.closeReason(t); r != ReasonTransportError {
		t.Errorf("close reason %q", r)
	}
	if n := srv.SessionCount(); n != 0 {
		t.Errorf("%d sessions left", n)
	}
}

func pollActive(srv *Server, sid string) bool {
	s := srv.lookup(sid)
	if s == nil {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pollActive
}
