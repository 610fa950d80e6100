package engineio

import (
	"errors"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ErrSessionClosed is returned when sending on a closed session.
var ErrSessionClosed = errors.New("engineio: session closed")

// ErrSlowConsumer is the close reason of a session whose outbound queue overflowed.
var ErrSlowConsumer = errors.New("engineio: outbound queue overflow")

// Close reasons reported to Handler.OnClose, named as socket.io names them.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonServerClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonSlowConsumer   = "slow consumer"
	ReasonClientClose    = "client close" // the client sent a close packet
)

type transportKind uint8

const (
	transportPolling transportKind = iota
	transportWebSocket
)

func (t transportKind) String() string {
	if t == transportWebSocket {
		return "websocket"
	}
	return "polling"
}

// Session is one Engine.IO client session. It outlives transports: a
// polling session keeps its identity and its queue when it upgrades.
type Session struct {
	id       string
	protocol int
	server   *Server

	// rawQuery and headers are what is kept of the opening request for
	// Query and Header, which parse them on demand: the raw query, and the
	// header lines (headers, see packHeaders) other than the transport's.
	rawQuery   string
	headers    string
	remoteAddr string
	// supportsBinary is false for v3 polling clients that asked for base64 (b64=1).
	supportsBinary bool

	// inbound serialises packet dispatch, so the order a client sent is the
	// order handlers see, even across the polling-to-WebSocket switch.
	inbound sync.Mutex

	// WebSocket packets read and not dispatched yet (inbound.go).
	inMu        sync.Mutex
	inQueue     []inboundItem
	inBytes     int
	dispatching bool

	mu           sync.Mutex
	transport    transportKind
	probing      bool // a WebSocket is probing for the upgrade
	upgrading    bool // the probe succeeded; polling is being drained
	queue        []*Message
	queuedBytes  int64
	closed       bool
	pollActive   bool          // a GET is being served
	postActive   bool          // a POST is being read or dispatched
	owesNoop     bool          // closed by the client; one racing GET still gets a noop
	overflowed   bool          // the outbound budget was exceeded; closing
	uncounted    bool          // already subtracted from the server's session count (guarded by Server.mu)
	release      func()        // Config.AdmitSession's, called when uncounted is set
	pollWake     chan struct{} // signals the waiting GET (buffered 1)
	ws           *wsConn       // set once upgraded, or for a WebSocket-only session
	flusher      *flushRun     // the WebSocket flush goroutine's, while one runs
	awaitingPong bool          // v4: a ping was sent and no pong came yet
	pingDue      time.Time     // v4: when the next ping is due, or the unanswered one was
	deadline     time.Time     // when the heartbeat expires, checked on every request too
	heartbeat    timer
	closedCh     chan struct{} // closed with the session; polling sessions only (a GET waits on it)
	data         any
}

// ID is the session id, a random string from crypto/rand.
func (s *Session) ID() string { return s.id }

// Protocol is the Engine.IO revision, 3 or 4.
func (s *Session) Protocol() int { return s.protocol }

// Query is the query of the handshake request, parsed anew on each call.
func (s *Session) Query() url.Values {
	q, _ := url.ParseQuery(s.rawQuery)
	return q
}

// Header is the handshake request's header, parsed anew on each call,
// without the headers that only served the transport's handshake
// (Connection, Upgrade, Sec-WebSocket-*).
func (s *Session) Header() http.Header { return unpackHeaders(s.headers) }

func (s *Session) RemoteAddr() string { return s.remoteAddr }

// Transport names the current transport ("polling" or "websocket").
func (s *Session) Transport() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport.String()
}

func (s *Session) transportKind() transportKind {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transport
}

// SetData and Data let the layer above attach its own state.
func (s *Session) SetData(v any) { s.mu.Lock(); s.data = v; s.mu.Unlock() }
func (s *Session) Data() any     { s.mu.Lock(); defer s.mu.Unlock(); return s.data }

// Send queues a message. It never blocks. When the queue would exceed the
// configured budget the session is closed as a slow consumer, so one client
// that stops reading cannot hold memory or delay anyone else.
func (s *Session) Send(m *Message) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrSessionClosed
	}
	if s.overflowed {
		s.mu.Unlock()
		return ErrSlowConsumer
	}
	if !s.enqueueLocked(m) {
		s.overflowed = true
		s.mu.Unlock()
		// The caller is often a broadcast loop: tearing the session down
		// (handlers, a close frame to a peer that does not read) happens
		// elsewhere so it never delays the other recipients.
		go s.closeWith(ReasonSlowConsumer, false)
		return ErrSlowConsumer
	}
	s.mu.Unlock()
	return nil
}

// enqueueLocked appends and wakes whoever delivers. It reports false when the
// outbound budget is exhausted.
func (s *Session) enqueueLocked(m *Message) bool {
	sz := m.size()
	if s.queuedBytes+sz > s.server.cfg.MaxBufferedBytes && len(s.queue) > 0 {
		return false
	}
	if s.ws != nil && s.flusher == nil {
		// Before the append: the flusher brings a queue slice along.
		s.startFlusherLocked()
	}
	s.queue = append(s.queue, m)
	s.queuedBytes += sz
	s.wakeLocked()
	return true
}

func (s *Session) wakeLocked() {
	if s.ws != nil {
		if s.flusher == nil {
			s.startFlusherLocked()
		}
		return
	}
	select {
	case s.pollWake <- struct{}{}:
	default:
	}
}

// takeQueueLocked hands the whole queue to the caller.
func (s *Session) takeQueueLocked() []*Message {
	q := s.queue
	s.queue = nil
	s.queuedBytes = 0
	return q
}

// takeOwedNoop reports, once, whether a closed session still owes a noop to
// a poll that raced with the client's close packet.
func (s *Session) takeOwedNoop() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	owed := s.closed && s.owesNoop
	s.owesNoop = false
	return owed
}

func (s *Session) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// heartbeatExpired brings the heartbeat up to now, for a request that may
// come before a late timer (see advanceHeartbeatLocked), and reports whether
// the session's deadline has passed; the caller then closes it.
func (s *Session) heartbeatExpired() bool {
	now := s.server.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && s.heartbeat != nil && s.advanceHeartbeatLocked(now)
}

// Close closes the session from the server side.
func (s *Session) Close() { s.closeWith(ReasonServerClose, true) }

// closeWith closes once. When graceful, a close packet is queued first so the
// client learns the session is over instead of seeing a transport error; the
// WebSocket flusher closes the socket once it has written it.
func (s *Session) closeWith(reason string, graceful bool) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	if graceful {
		// Appended even over budget: it is the last packet.
		s.queue = append(s.queue, newControl(PacketClose, ""))
		s.wakeLocked()
	}
	if s.heartbeat != nil {
		s.heartbeat.Stop()
	}
	ws := s.ws
	// A client that closes over polling while its next poll is already on
	// the wire gets that poll completed with a noop rather than an error:
	// the session lingers, closed, for that one request.
	lingers := reason == ReasonClientClose && s.transport == transportPolling && !s.pollActive
	s.owesNoop = lingers
	if s.closedCh != nil {
		close(s.closedCh)
	}
	s.mu.Unlock()
	s.server.countClosed(reason)

	if ws != nil && !graceful {
		ws.close()
	}
	if lingers {
		// Gone as far as anyone counting sessions can tell; only the map
		// entry waits for the racing poll.
		s.server.uncount(s)
		time.AfterFunc(s.server.cfg.PingTimeout, func() { s.server.removeSession(s) })
	} else {
		s.server.removeSession(s)
	}
	s.server.handler.OnClose(s, reason)
}

// startHeartbeat arms the session's single timer. The runtime keeps timers
// in its own heap, so a session costs no goroutine while it waits.
//
// The heartbeat follows the protocol's clock, not its timer's punctuality:
// v4 pings are due every PingInterval from the handshake and each must be
// answered within PingTimeout of when it was due; v3 clients must ping
// within PingInterval+PingTimeout of their previous ping. A timer that runs
// late (a loaded machine) neither moves a deadline nor lets a request
// through after it: requests check the same clock (heartbeatExpired).
func (s *Session) startHeartbeat() {
	cfg := s.server.cfg
	now := s.server.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.protocol == ProtocolV4 {
		s.pingDue = now.Add(cfg.PingInterval)
		s.heartbeat = s.server.clock.AfterFunc(cfg.PingInterval, s.onHeartbeatTimer)
	} else {
		s.deadline = now.Add(cfg.PingInterval + cfg.PingTimeout)
		s.heartbeat = s.server.clock.AfterFunc(cfg.PingInterval+cfg.PingTimeout, s.onHeartbeatTimer)
	}
}

// advanceHeartbeatLocked does, at now, what the protocol's clock says has
// happened by then, whoever notices first (the timer or a request): it
// sends a v4 ping that is due, and reports whether the deadline has passed.
// A v4 ping due at T expires at T+PingTimeout even when it went out late or
// not at all: the client, which has heard nothing since the previous ping,
// gives up at that time too (its own pingInterval+pingTimeout).
func (s *Session) advanceHeartbeatLocked(now time.Time) (expired bool) {
	if s.protocol == ProtocolV4 && !s.awaitingPong {
		if now.Before(s.pingDue) {
			return false
		}
		s.awaitingPong = true
		s.deadline = s.pingDue.Add(s.server.cfg.PingTimeout)
		if now.Before(s.deadline) {
			s.queue = append(s.queue, pingMessage)
			s.queuedBytes += pingMessage.size()
			s.wakeLocked()
		}
	}
	return !now.Before(s.deadline)
}

// nextHeartbeatLocked is when the heartbeat has something to do next: send
// the next ping, or check a deadline.
func (s *Session) nextHeartbeatLocked() time.Time {
	if s.protocol == ProtocolV4 && !s.awaitingPong {
		return s.pingDue
	}
	return s.deadline
}

func (s *Session) onHeartbeatTimer() {
	now := s.server.clock.Now()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	if s.advanceHeartbeatLocked(now) {
		s.mu.Unlock()
		s.closeWith(ReasonPingTimeout, false)
		return
	}
	s.heartbeat.Reset(s.nextHeartbeatLocked().Sub(now))
	s.mu.Unlock()
}

var (
	pingMessage = newControl(PacketPing, "")
	pongMessage = newControl(PacketPong, "")
	noopMessage = newControl(PacketNoop, "")
)

// onPacket handles one inbound packet. Engine.IO control packets are handled
// here; messages go to the handler.
func (s *Session) onPacket(p packet) error {
	switch p.Type {
	case PacketMessage:
		s.server.handler.OnMessage(s, p.Data, p.Binary)
		return nil
	case PacketPing:
		if s.protocol != ProtocolV3 {
			return errHeartbeatDirection
		}
		s.mu.Lock()
		if !s.closed {
			m := pongMessage
			if len(p.Data) > 0 {
				m = newControl(PacketPong, string(p.Data))
			}
			s.queue = append(s.queue, m)
			s.queuedBytes += m.size()
			s.wakeLocked()
			d := s.server.cfg.PingInterval + s.server.cfg.PingTimeout
			s.deadline = s.server.clock.Now().Add(d)
			s.heartbeat.Reset(d)
		}
		s.mu.Unlock()
		return nil
	case PacketPong:
		s.mu.Lock()
		if s.protocol == ProtocolV4 && !s.closed && s.awaitingPong {
			s.awaitingPong = false
			// Pings keep a fixed cadence from the handshake rather than
			// drifting by each round trip or by a late timer.
			s.pingDue = s.pingDue.Add(s.server.cfg.PingInterval)
			s.heartbeat.Reset(max(s.pingDue.Sub(s.server.clock.Now()), 0))
		}
		s.mu.Unlock()
		return nil
	case PacketClose:
		s.closeWith(ReasonClientClose, false)
		return nil
	case PacketOpen, PacketUpgrade, PacketNoop:
		return nil // harmless out of place; socket.io ignores them too
	default:
		return errUnexpectedPacket
	}
}

var (
	errUnexpectedPacket   = errors.New("engineio: unexpected packet type")
	errHeartbeatDirection = errors.New("engineio: ping from a v4 client (the server pings in v4)")
)
