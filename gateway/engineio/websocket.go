package engineio

import (
	"bytes"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// wsConn owns one WebSocket. Reads go through gorilla/websocket (framing,
// masking, fragmentation, limits); writes are pre-built frames written
// straight to the socket under writeMu, batched into one writev.
type wsConn struct {
	conn      *websocket.Conn
	raw       net.Conn
	writeMu   sync.Mutex
	closeSent bool // a Close frame went out; guarded by writeMu
	closeOnce sync.Once
	done      chan struct{}

	// writing is the frames of the write under way, guarded by writeMu. It
	// lives here because net.Buffers.WriteTo takes a pointer to the slice,
	// and a pointer to a local would move it to the heap on every write.
	writing net.Buffers
	// deadlineSetAt is when the write deadline was last moved, guarded by
	// writeMu: moving it is a timer update in the runtime's poller, worth
	// skipping on a connection that writes thousands of times a second.
	deadlineSetAt time.Time
}

// deadlineSlack is how stale a write deadline may get before a write moves
// it: every write gets between writeTimeout-deadlineSlack and writeTimeout.
const deadlineSlack = time.Second

func newWSConn(conn *websocket.Conn, maxFrame int64) *wsConn {
	ws := &wsConn{conn: conn, raw: conn.UnderlyingConn(), done: make(chan struct{})}
	conn.SetReadLimit(maxFrame)
	// The library's own control replies would write behind our back; route
	// them through writeFrames instead.
	conn.SetPingHandler(func(data string) error {
		return ws.writeFrames([][]byte{appendWSFrame(nil, opPong, noPrefix, []byte(data))})
	})
	conn.SetCloseHandler(func(code int, text string) error {
		payload := websocket.FormatCloseMessage(code, "")
		if code == websocket.CloseNoStatusReceived {
			payload = nil
		}
		ws.writeMu.Lock()
		defer ws.writeMu.Unlock()
		if !ws.closeSent {
			ws.closeSent = true
			ws.raw.SetWriteDeadline(time.Now().Add(writeTimeout))
			ws.raw.Write(appendWSFrame(nil, opClose, noPrefix, payload))
		}
		return nil
	})
	return ws
}

// writeFrames writes frames in one writev. The write consumes the slice it
// is given (it nils written entries and advances partly written ones), so
// callers pass their own copy of the frame headers, never a Message's.
func (ws *wsConn) writeFrames(frames [][]byte) error {
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	if now := time.Now(); now.Sub(ws.deadlineSetAt) > deadlineSlack {
		ws.raw.SetWriteDeadline(now.Add(writeTimeout))
		ws.deadlineSetAt = now
	}
	ws.writing = frames
	_, err := ws.writing.WriteTo(ws.raw)
	ws.writing = nil
	return err
}

var normalClosure = appendWSFrame(nil, opClose, noPrefix, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))

// close sends a close frame when it can and drops the connection.
func (ws *wsConn) close() {
	ws.closeOnce.Do(func() {
		if ws.writeMu.TryLock() {
			if !ws.closeSent {
				ws.closeSent = true
				ws.raw.SetWriteDeadline(time.Now().Add(time.Second))
				ws.raw.Write(normalClosure)
			}
			ws.writeMu.Unlock()
		}
		ws.raw.Close()
		close(ws.done)
	})
}

// flushWebSocket drains the queue onto the socket, coalescing everything
// queued so far into one write. It runs only while there is something to
// send, so an idle connection holds no writer goroutine.
//
// The batch slice and the frame list are recycled from one round to the
// next, so a flush allocates nothing once a session has seen its usual batch
// size; either is dropped instead when a burst has grown it past
// maxRetainedBatch, so an idle session does not keep a burst's memory.
func (s *Session) flushWebSocket() {
	var written []*Message // the previous batch, emptied, for reuse as the queue
	for {
		s.mu.Lock()
		if written != nil {
			s.spareQueue = written
			written = nil
		}
		ws := s.ws
		if len(s.queue) == 0 {
			s.flushing = false
			closed := s.closed
			s.mu.Unlock()
			if closed {
				ws.close()
			}
			return
		}
		q := s.queue
		s.queue, s.spareQueue = s.spareQueue[:0], nil
		s.queuedBytes = 0
		s.mu.Unlock()
		frames := s.wsBatch[:0]
		for _, m := range q {
			frames = append(frames, m.wsFrames(s.protocol)...)
		}
		size := 0
		for _, f := range frames {
			size += len(f)
		}
		err := ws.writeFrames(frames)
		// Drop the references, so written messages can be collected.
		clear(frames)
		clear(q)
		if err != nil {
			ws.close()
			s.closeWith(ReasonTransportError, false)
			return
		}
		s.server.countSent(transportWebSocket, len(q), size)
		if cap(frames) <= maxRetainedBatch {
			s.wsBatch = frames[:0]
		} else {
			s.wsBatch = nil
		}
		if cap(q) <= maxRetainedBatch {
			written = q[:0]
		}
	}
}

// maxRetainedBatch caps the capacity, in messages or frames, of the batch
// slices a WebSocket session keeps between flushes (at most a few hundred
// bytes per session). Chat traffic flushes one or a few messages at a time.
const maxRetainedBatch = 16

// readLoop dispatches packets from a WebSocket that carries the session.
func (s *Session) readLoop(ws *wsConn) {
	for {
		mt, data, err := ws.conn.ReadMessage()
		if err != nil {
			reason := ReasonTransportClose
			if _, ok := err.(*websocket.CloseError); !ok && !isClosedConnError(err) {
				reason = ReasonTransportError
			}
			ws.close()
			s.closeWith(reason, false)
			return
		}
		if s.heartbeatExpired() {
			// Whatever it carries (a late pong), it came after the deadline.
			ws.close()
			s.closeWith(ReasonPingTimeout, false)
			return
		}
		var p Packet
		if mt == websocket.BinaryMessage {
			p, err = decodeWSBinary(s.protocol, data)
		} else {
			p, err = decodePacketText(data)
		}
		if err == nil {
			s.inbound.Lock()
			err = s.onPacket(p)
			s.inbound.Unlock()
		}
		if err != nil {
			s.server.log.Debug("engineio: bad packet", "sid", s.id, "err", err)
			ws.close()
			s.closeWith(ReasonParseError, false)
			return
		}
	}
}

func isClosedConnError(err error) bool {
	if ne, ok := err.(*net.OpError); ok {
		err = ne.Err
	}
	return err == net.ErrClosed
}

func (s *Server) cookieHeader(sess *Session) http.Header {
	if s.cfg.Cookie == "" {
		return nil
	}
	c := &http.Cookie{Name: s.cfg.Cookie, Value: sess.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode}
	return http.Header{"Set-Cookie": {c.String()}}
}

// serveWebSocketOnly opens a session directly on WebSocket.
func (s *Server) serveWebSocketOnly(w http.ResponseWriter, r *http.Request, protocol int) {
	sess, refusal := s.newSession(r, protocol, transportWebSocket)
	if refusal != nil {
		writeError(w, r, s, refusal)
		return
	}
	conn, err := s.upgrader.Upgrade(w, r, s.cookieHeader(sess))
	if err != nil {
		s.removeSession(sess)
		return
	}
	ws := newWSConn(conn, s.cfg.MaxFrame)
	sess.mu.Lock()
	sess.ws = ws
	sess.queue = append(sess.queue, s.openPacket(sess, false))
	sess.mu.Unlock()
	sess.inbound.Lock()
	s.handler.OnOpen(sess)
	sess.inbound.Unlock()
	sess.startHeartbeat()
	sess.mu.Lock()
	sess.wakeLocked()
	sess.mu.Unlock()
	// A fresh goroutine, and the handler returns: net/http then drops its
	// per-connection state (two 4 KiB bufio buffers, the request) and the
	// handler's deep stack, which an idle socket would otherwise pin.
	go sess.readLoop(ws)
}

var (
	probePing = []byte("2probe")
	probePong = appendWSFrame(nil, opText, noPrefix, []byte("3probe"))
	upgradeV  = []byte("5")
)

// serveUpgrade runs the polling-to-WebSocket upgrade: the client probes the
// new socket ("2probe" -> "3probe"), lets its pending poll finish, then sends
// "5"; from then on every queued packet goes over the WebSocket. The queue is
// the session's, not the transport's, so nothing is lost or sent twice.
func (s *Server) serveUpgrade(w http.ResponseWriter, r *http.Request, sess *Session) {
	sess.mu.Lock()
	if sess.transport != transportPolling || sess.closed || sess.probing {
		// A second WebSocket for a session that is upgrading or upgraded is
		// accepted and closed at once, as socket.io does; the session and
		// its first WebSocket are unaffected.
		sess.mu.Unlock()
		if conn, err := s.upgrader.Upgrade(w, r, nil); err == nil {
			newWSConn(conn, s.cfg.MaxFrame).close()
		}
		return
	}
	sess.probing = true
	sess.mu.Unlock()

	abandon := func() {
		sess.mu.Lock()
		sess.probing = false
		sess.upgrading = false
		sess.mu.Unlock()
	}
	conn, err := s.upgrader.Upgrade(w, r, nil)
	if err != nil {
		abandon()
		return
	}
	ws := newWSConn(conn, s.cfg.MaxFrame)
	conn.SetReadDeadline(time.Now().Add(s.cfg.UpgradeTimeout))
	for {
		mt, data, err := conn.ReadMessage()
		if err != nil || mt != websocket.TextMessage {
			abandon()
			ws.close()
			return
		}
		switch {
		case bytes.Equal(data, probePing):
			if err := ws.writeFrames([][]byte{probePong}); err != nil {
				abandon()
				ws.close()
				return
			}
			sess.mu.Lock()
			sess.upgrading = true
			select { // release a waiting GET with a noop
			case sess.pollWake <- struct{}{}:
			default:
			}
			sess.mu.Unlock()
		case bytes.Equal(data, upgradeV):
			sess.mu.Lock()
			upgrading := sess.upgrading
			sess.mu.Unlock()
			if !upgrading {
				abandon()
				ws.close()
				return
			}
			// Wait for a POST still dispatching, so its packets come first.
			sess.inbound.Lock()
			sess.mu.Lock()
			if sess.closed {
				sess.mu.Unlock()
				sess.inbound.Unlock()
				ws.close()
				return
			}
			sess.transport = transportWebSocket
			s.countUpgrade(sess)
			sess.ws = ws
			sess.upgrading = false
			sess.probing = false
			select {
			case sess.pollWake <- struct{}{}:
			default:
			}
			if len(sess.queue) > 0 {
				sess.wakeLocked()
			}
			sess.mu.Unlock()
			if u, ok := s.handler.(UpgradeHandler); ok {
				u.OnUpgrade(sess)
			}
			sess.inbound.Unlock()
			conn.SetReadDeadline(time.Time{})
			go sess.readLoop(ws) // see serveWebSocketOnly
			return
		default:
			abandon()
			ws.close()
			return
		}
	}
}
