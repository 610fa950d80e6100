package engineio

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// wsConn owns one WebSocket. Writes are pre-built frames written straight
// to the socket under writeMu, batched into one writev. Reads are fed to a
// frameReader by whoever has bytes for the connection: on Linux a shared
// poller (poller_linux.go), elsewhere a goroutine of its own; complete
// packets go to the session's inbound queue (inbound.go).
type wsConn struct {
	raw       net.Conn
	rc        syscall.RawConn // raw's descriptor, for the poller; nil without one
	writeMu   sync.Mutex
	closeSent bool // a Close frame went out; guarded by writeMu
	closed    atomic.Bool
	// server, when set, counts the socket among its open ones until it
	// closes (Shutdown waits for them).
	server *Server

	// deadlineSetAt is when the write deadline was last moved (Unix
	// nanoseconds), guarded by writeMu: moving it is a timer update in the
	// runtime's poller, worth skipping on a connection that writes
	// thousands of times a second.
	deadlineSetAt int64

	// The read side, under readMu: one reader at a time feeds fr.
	readMu sync.Mutex
	fr     frameReader
	// sess is the session the socket carries; nil while it probes for an
	// upgrade, when messages wait in *early instead.
	sess  *Session
	early *[]earlyMessage
	// earlyErr ended the reads while probing after messages that are
	// still in *early: a client that closes as soon as it has upgraded
	// sends the upgrade packet and its close in one TCP segment, and the
	// upgrade must happen before the close ends the session.
	earlyErr error
	// peerClose is the code of the client's close frame, which the answer
	// repeats; 0 when it had none.
	peerClose uint16
	// paused: the session's inbound queue is full, so the socket is not
	// read (TCP pushes back on the client) until the dispatcher resumes it.
	paused bool
	// stopped: reading ended (an error, a close frame, a closed socket).
	stopped bool
	// resumed wakes a paused read goroutine (goroutine reads only).
	resumed chan struct{}
	// poller and slot place the socket in a poller (poller reads only);
	// poller is guarded by the pollers' lock.
	poller *poller
	slot   int32
}

// earlyMessage is a message read while probing for the upgrade.
type earlyMessage struct {
	op   byte
	data []byte
}

// deadlineSlack is how stale a write deadline may get before a write moves
// it: every write gets between writeTimeout-deadlineSlack and writeTimeout.
const deadlineSlack = time.Second

func newWSConn(raw net.Conn, maxFrame int64) *wsConn {
	ws := &wsConn{raw: raw, fr: frameReader{maxMessage: maxFrame}}
	if sc, ok := raw.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			ws.rc = rc
		}
	}
	return ws
}

// writeFrames writes the frames in *bufs in one writev. The write consumes
// the slice (it nils written entries and advances partly written ones), so
// callers pass their own copy of the frame headers, never a Message's; it
// is a pointer because net.Buffers.WriteTo takes one, and the address of a
// local would move the slice to the heap on every write.
func (ws *wsConn) writeFrames(bufs *net.Buffers) error {
	ws.writeMu.Lock()
	defer ws.writeMu.Unlock()
	if now := time.Now(); now.UnixNano()-ws.deadlineSetAt > int64(deadlineSlack) {
		ws.raw.SetWriteDeadline(now.Add(writeTimeout))
		ws.deadlineSetAt = now.UnixNano()
	}
	_, err := bufs.WriteTo(ws.raw)
	*bufs = nil
	return err
}

// writeFrame writes one frame, out of the flusher's way (control frames).
func (ws *wsConn) writeFrame(frame []byte) error {
	bufs := net.Buffers{frame}
	return ws.writeFrames(&bufs)
}

var normalClosure = closePayload(closeNormal)

// close sends a normal close frame unless a write is under way, and drops
// the connection.
func (ws *wsConn) close() { ws.closeWith(normalClosure, false) }

// closeWith sends a close frame with payload (a code, or nothing), unless
// one went out already, and drops the connection; reading stops with it.
// A write under way (bounded by writeTimeout) is waited for when wait is
// set, as for the answer to a client's close or framing error; otherwise
// the frame is skipped, so that no caller is held by a stalled client.
func (ws *wsConn) closeWith(payload []byte, wait bool) {
	if !ws.closed.CompareAndSwap(false, true) {
		return
	}
	if wait {
		ws.writeMu.Lock()
	}
	if wait || ws.writeMu.TryLock() {
		if !ws.closeSent {
			ws.closeSent = true
			ws.raw.SetWriteDeadline(time.Now().Add(time.Second))
			ws.raw.Write(appendWSFrame(nil, opClose, noPrefix, payload))
		}
		ws.writeMu.Unlock()
	}
	leavePoller(ws)
	ws.raw.Close()
	ws.readMu.Lock()
	resumed := ws.resumed
	ws.readMu.Unlock()
	if resumed != nil {
		select { // a paused read goroutine
		case resumed <- struct{}{}:
		default:
		}
	}
	if ws.server != nil {
		ws.server.wsClosed()
	}
}

// sendPong answers a client's ping. The pong goes through the session's
// queue, so it keeps its place among the session's frames and the reader
// (maybe the poller of many sockets) never waits for a write; while
// probing, before the socket carries the session, it is written apart.
func (ws *wsConn) sendPong(payload []byte) {
	frame := appendWSFrame(nil, opPong, noPrefix, payload)
	if s := ws.sess; s != nil {
		s.Send(newWSControl(frame))
		return
	}
	go ws.writeFrame(frame)
}

// frame implements frameSink: it handles one complete message or control
// frame of the client. Caller holds readMu.
func (ws *wsConn) frame(op byte, payload []byte) error {
	switch op {
	case opPing:
		ws.sendPong(payload)
		return nil
	case opPong:
		return nil
	case opClose:
		code, err := closeFrameCode(payload)
		if err != nil {
			return err
		}
		ws.peerClose = code
		return errPeerClosed
	}
	data := bytes.Clone(payload) // the packet outlives the read buffer
	if data == nil {
		data = []byte{}
	}
	s := ws.sess
	if s == nil {
		*ws.early = append(*ws.early, earlyMessage{op: op, data: data})
		return nil
	}
	return ws.deliver(s, op, data)
}

// deliver decodes a message of the session's socket and queues it for
// dispatch, pausing the reads when the queue is full.
func (ws *wsConn) deliver(s *Session, op byte, data []byte) error {
	if s.heartbeatExpired() {
		// Whatever it carries (a late pong), it came after the deadline.
		return errHeartbeatExpired
	}
	var p packet
	var err error
	if op == opBinary {
		p, err = decodeWSBinary(s.protocol, data)
	} else {
		p, err = decodePacketText(data)
	}
	if err != nil {
		s.server.log.Debug("engineio: bad packet", "sid", s.id, "err", err)
		return errBadPacket
	}
	if s.pushInbound(ws, p) {
		ws.paused = true
	}
	return nil
}

var (
	errHeartbeatExpired = errors.New("engineio: message after the heartbeat deadline")
	errBadPacket        = errors.New("engineio: bad packet")
)

// stop ends reading for err and queues the session's end behind the
// packets already read, so they are dispatched first. Caller holds readMu.
func (ws *wsConn) stop(err error) {
	if ws.stopped {
		return
	}
	ws.stopped = true
	end := &wsEnd{ws: ws, reason: ReasonTransportError, closeFrame: normalClosure}
	var fe *wsFramingError
	switch {
	case err == errPeerClosed:
		end.reason, end.answer = ReasonTransportClose, true
		end.closeFrame = nil // a close without a code is answered without one
		if ws.peerClose != 0 {
			end.closeFrame = closePayload(int(ws.peerClose))
		}
	case errors.As(err, &fe):
		ws.sess.server.log.Debug("engineio: websocket framing error", "sid", ws.sess.id, "err", err)
		end.closeFrame, end.answer = closePayload(fe.Code), true
	case err == errHeartbeatExpired:
		end.reason = ReasonPingTimeout
	case err == errBadPacket:
		end.reason = ReasonParseError
	case isClosedConnError(err):
		end.reason = ReasonTransportClose // closed here: the session is closing already
	}
	ws.sess.pushEnd(end)
}

func isClosedConnError(err error) bool {
	var ne *net.OpError
	if errors.As(err, &ne) {
		err = ne.Err
	}
	return errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed)
}

// wsEnd is how reading a session's socket ended, queued behind its last
// packets.
type wsEnd struct {
	ws         *wsConn
	reason     string
	closeFrame []byte
	// answer: the close frame answers the client (its close, or its
	// framing error), so it waits for a write under way.
	answer bool
}

// startReading hands the socket, now carrying its session, to a poller, or
// to a goroutine of its own when there is none. Caller holds readMu, so
// nothing is read before it lets go.
func (ws *wsConn) startReading(forceGoroutine bool) {
	if !forceGoroutine && pickPoller(ws) {
		return
	}
	ws.resumed = make(chan struct{}, 1)
	go ws.readLoop()
}

// readReady reads what the socket has, for the poller (rd is its buffer)
// or for a dispatcher resuming it. With edge-triggered events a read
// shorter than the buffer took everything there was: data arriving later
// raises a new event.
func (ws *wsConn) readReady(rd *fdReader) {
	ws.readMu.Lock()
	defer ws.readMu.Unlock()
	for !ws.stopped && !ws.paused {
		n, err := rd.read(ws.rc)
		if n > 0 {
			if ferr := ws.fr.feed(rd.buf[:n], ws); ferr != nil {
				ws.stop(ferr)
				return
			}
		}
		switch {
		case isWouldBlock(err):
			return
		case err != nil:
			ws.stop(err)
			return
		case n == 0:
			ws.stop(io.EOF)
			return
		case n < len(rd.buf):
			return
		}
	}
}

// resume reads again after the dispatcher made room in the inbound queue.
func (ws *wsConn) resume() {
	ws.readMu.Lock()
	if !ws.paused {
		ws.readMu.Unlock()
		return
	}
	ws.paused = false
	goroutine := ws.resumed != nil
	ws.readMu.Unlock()
	if goroutine {
		select {
		case ws.resumed <- struct{}{}:
		default:
		}
		return
	}
	// Edge-triggered: what the kernel held back raises no new event.
	rd := resumeReaders.Get().(*fdReader)
	ws.readReady(rd)
	resumeReaders.Put(rd)
}

// readLoop reads the socket in a goroutine of its own, where there is no
// poller.
func (ws *wsConn) readLoop() {
	buf := make([]byte, wsReadBufferSize)
	for {
		n, err := ws.raw.Read(buf)
		ws.readMu.Lock()
		if n > 0 && !ws.stopped {
			if ferr := ws.fr.feed(buf[:n], ws); ferr != nil {
				ws.stop(ferr)
			}
		}
		if err != nil {
			ws.stop(err)
		}
		stopped, paused := ws.stopped, ws.paused
		ws.readMu.Unlock()
		if stopped {
			return
		}
		if paused {
			<-ws.resumed // or closed
		}
	}
}

// wsReadBufferSize is the read buffer of a socket read by a goroutine of
// its own.
const wsReadBufferSize = 1024

// nextEarly reads, while the socket probes for an upgrade, until a message
// has arrived in *ws.early, and takes the first one.
func (ws *wsConn) nextEarly(buf []byte) (earlyMessage, error) {
	early := ws.early
	for len(*early) == 0 {
		if ws.earlyErr != nil {
			return earlyMessage{}, ws.earlyErr
		}
		n, err := ws.raw.Read(buf)
		if n > 0 {
			if ferr := ws.fr.feed(buf[:n], ws); ferr != nil {
				if len(*early) == 0 {
					return earlyMessage{}, ferr
				}
				ws.earlyErr = ferr
				break
			}
		}
		if err != nil && len(*early) == 0 {
			return earlyMessage{}, err
		}
	}
	m := (*early)[0]
	*early = (*early)[1:]
	return m, nil
}

// flushRun is the state of one run of a session's WebSocket flusher: it
// drains the session's queue onto the socket, coalescing everything queued
// so far into one write, and ends when the queue is empty. A run begins on
// the session's flush shard (flushsched.go), which writes the queues of
// many sessions in turn without blocking; only a socket that cannot take a
// whole batch gets a goroutine of its own, which waits for it. So an idle
// connection holds no writer goroutine, a busy one costs no goroutine per
// write, and a run's memory (the batch slices, the goroutine's func value)
// comes from a pool and goes back to it when the run ends, so it is not
// held per session either, yet a flush allocates nothing in the steady
// state.
type flushRun struct {
	sess *Session
	ws   *wsConn
	// spare, under sess.mu, is the previous batch, emptied, to become the
	// queue again.
	spare []*Message
	// batch is the messages being written and frames their frames;
	// writing is the part of frames not written yet (writeFrames consumes
	// it), size their bytes.
	batch   []*Message
	frames  [][]byte
	writing net.Buffers
	size    int
	// written is the last batch written, emptied, for reuse as the queue.
	written []*Message
	// run is flush bound once, when the value is made: "go f.flush()"
	// would allocate a closure on every hand-over.
	run func()
}

// flushRuns holds finished runs for the next ones. Under the race
// detector a sync.Pool drops a quarter of what is put back, so the
// allocation test (gateway/alloc_test.go) runs without it.
var flushRuns sync.Pool

func init() {
	// Set here, not in the declaration: flush puts runs back, which would
	// make an initialization cycle.
	flushRuns.New = func() any {
		f := new(flushRun)
		f.run = f.flush
		return f
	}
}

func getFlushRun() *flushRun { return flushRuns.Get().(*flushRun) }

func putFlushRun(f *flushRun) {
	f.sess, f.ws = nil, nil
	flushRuns.Put(f)
}

// failedFlush marks a session whose flusher failed: none is started again.
var failedFlush = new(flushRun)

// startFlusherLocked starts a flusher for the session on its shard. Caller
// holds s.mu.
func (s *Session) startFlusherLocked() {
	f := getFlushRun()
	f.sess = s
	s.flusher = f
	if s.queue == nil {
		s.queue, f.spare = f.spare[:0], nil
	}
	flushShardOf(s).add(f)
}

// flushStep is how one step of a flush run ended.
type flushStep uint8

const (
	flushMore    flushStep = iota // a batch was written; look again
	flushDone                     // the queue was empty: the run ended
	flushBlocked                  // the socket would block (non-blocking steps only)
	flushFailed                   // the write failed: the session must be closed
)

// step takes the session's queue, unless a batch is under way, and writes
// the batch: without a scratch it waits for the socket; with one (a flush
// shard's) it writes what the socket takes now and reports flushBlocked
// for the rest.
func (f *flushRun) step(nonBlocking *writevScratch) (flushStep, error) {
	s := f.sess
	if f.batch == nil {
		s.mu.Lock()
		if f.written != nil {
			f.spare = f.written
			f.written = nil
		}
		if len(s.queue) == 0 {
			if f.spare == nil && cap(s.queue) <= maxRetainedBatch {
				f.spare = s.queue
			}
			s.queue = nil
			s.flusher = nil
			closed := s.closed
			ws := s.ws
			s.mu.Unlock()
			putFlushRun(f)
			if closed {
				ws.close()
			}
			return flushDone, nil
		}
		f.ws = s.ws
		f.batch = s.queue
		s.queue, f.spare = f.spare[:0], nil
		s.queuedBytes = 0
		s.mu.Unlock()
		frames := f.frames[:0]
		size := 0
		for _, m := range f.batch {
			for _, frame := range m.wsFrames(s.protocol) {
				frames = append(frames, frame)
				size += len(frame)
			}
		}
		f.frames, f.size = frames, size
		f.writing = frames
	}
	var err error
	if nonBlocking == nil {
		err = f.ws.writeFrames(&f.writing)
	} else {
		var complete bool
		if complete, err = f.ws.tryWriteFrames(&f.writing, nonBlocking); err == nil && !complete {
			return flushBlocked, nil
		}
	}
	// Drop the references, so written messages can be collected.
	clear(f.frames)
	clear(f.batch)
	if err != nil {
		return flushFailed, err
	}
	s.server.countSent(transportWebSocket, len(f.batch), f.size)
	if cap(f.frames) > maxRetainedBatch {
		f.frames = nil
	}
	if cap(f.batch) <= maxRetainedBatch {
		f.written = f.batch[:0]
	}
	f.batch = nil
	f.writing = nil
	return flushMore, nil
}

// flush runs the flusher on a goroutine of its own, for a socket that
// would block: it waits for the socket (writeTimeout bounds each write).
func (f *flushRun) flush() {
	for {
		switch step, err := f.step(nil); step {
		case flushDone:
			return
		case flushFailed:
			f.fail(err)
			return
		}
	}
}

// fail closes the session of a run whose write failed. It may run handlers
// (the session's close), so it never runs on a flush shard's goroutine.
func (f *flushRun) fail(err error) {
	s := f.sess
	s.server.log.Debug("engineio: websocket write failed", "sid", s.id, "err", err)
	s.mu.Lock()
	s.flusher = failedFlush
	s.mu.Unlock()
	f.ws.close()
	s.closeWith(ReasonTransportError, false)
}

// maxRetainedBatch caps the capacity, in messages or frames, of the batch
// slices a flush run keeps for the next one, so the pool does not keep a
// burst's memory (a spare run holds at most about 512 bytes).
const maxRetainedBatch = 16

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
	raw, err := acceptWebSocket(w, r, s.cookieHeader(sess))
	if err != nil {
		s.removeSession(sess)
		if errors.Is(err, errNotWebSocket) {
			writeError(w, r, s, errBadRequest)
		}
		return
	}
	ws := newWSConn(raw, s.cfg.MaxFrame)
	ws.sess = sess
	s.countWS(ws)
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
	// The handler returns: net/http then drops its per-connection state
	// (two 4 KiB bufio buffers, the request) and the handler's deep stack,
	// which an idle socket would otherwise pin.
	ws.readMu.Lock()
	ws.startReading(s.goroutineReads)
	ws.readMu.Unlock()
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
		if raw, err := acceptWebSocket(w, r, nil); err == nil {
			newWSConn(raw, s.cfg.MaxFrame).close()
		} else if errors.Is(err, errNotWebSocket) {
			writeError(w, r, s, errBadRequest)
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
	raw, err := acceptWebSocket(w, r, nil)
	if err != nil {
		abandon()
		if errors.Is(err, errNotWebSocket) {
			writeError(w, r, s, errBadRequest)
		}
		return
	}
	ws := newWSConn(raw, s.cfg.MaxFrame)
	ws.early = new([]earlyMessage)
	raw.SetReadDeadline(time.Now().Add(s.cfg.UpgradeTimeout))
	buf := make([]byte, wsReadBufferSize)
	for {
		m, err := ws.nextEarly(buf)
		if err != nil || m.op != opText {
			abandon()
			ws.close()
			return
		}
		switch {
		case bytes.Equal(m.data, probePing):
			if err := ws.writeFrame(probePong); err != nil {
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
		case bytes.Equal(m.data, upgradeV):
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
			raw.SetReadDeadline(time.Time{})
			// Messages that came in the same reads as the upgrade packet
			// are the session's first over the WebSocket.
			// The reader starts under readMu, so it reads only after them.
			ws.readMu.Lock()
			ws.sess = sess
			s.countWS(ws)
			ws.startReading(s.goroutineReads) // see serveWebSocketOnly
			early := *ws.early
			ws.early = nil
			failed := ws.earlyErr
			for _, m := range early {
				if err := ws.deliver(sess, m.op, m.data); err != nil {
					failed = err
					break
				}
			}
			if failed != nil {
				ws.stop(failed)
			}
			ws.readMu.Unlock()
			return
		default:
			abandon()
			ws.close()
			return
		}
	}
}

// consumeBuffers drops the first n bytes of *bufs, as a write of n bytes
// does.
func consumeBuffers(bufs *net.Buffers, n int) {
	for len(*bufs) > 0 && n > 0 {
		b := (*bufs)[0]
		if len(b) > n {
			(*bufs)[0] = b[n:]
			return
		}
		n -= len(b)
		(*bufs)[0] = nil
		*bufs = (*bufs)[1:]
	}
	for len(*bufs) > 0 && len((*bufs)[0]) == 0 {
		*bufs = (*bufs)[1:]
	}
}
