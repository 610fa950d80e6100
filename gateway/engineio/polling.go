package engineio

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

var payloadPool = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// servePollGet answers a long-polling GET with whatever is queued, waiting
// for data when the queue is empty.
func (s *Server) servePollGet(w http.ResponseWriter, r *http.Request, sess *Session) {
	sess.mu.Lock()
	if sess.transport != transportPolling {
		// Polling after the upgrade is refused, and only the request: the
		// WebSocket carries the session on (socket.io behaves the same, and
		// the protocol suite checks that the WebSocket keeps working).
		sess.mu.Unlock()
		writeError(w, r, s, errBadRequest)
		return
	}
	if sess.pollActive {
		// Two GETs at once break ordering guarantees: as socket.io does, the
		// session is closed and the pending GET carries the close packet.
		sess.mu.Unlock()
		sess.closeWith(ReasonTransportError, true)
		s.writeStatus(w, r, http.StatusBadRequest)
		return
	}
	sess.pollActive = true
	// While an upgrade is in progress a poll is released with a noop after
	// upgradePollRelease, as socket.io's 100 ms check does: a pausing client
	// waits for that before it sends the upgrade packet. If the upgrade
	// completes first, the client polled without pausing and the request is
	// refused like any poll on an upgraded session.
	var upgradeWait <-chan time.Time
	var batch []*Message
	for {
		if len(sess.queue) > 0 && sess.transport == transportPolling {
			batch = sess.takeQueueLocked()
			break
		}
		if sess.closed {
			batch = []*Message{noopMessage}
			break
		}
		if sess.transport != transportPolling {
			sess.pollActive = false
			sess.mu.Unlock()
			writeError(w, r, s, errBadRequest)
			return
		}
		if sess.upgrading && upgradeWait == nil {
			upgradeWait = time.After(upgradePollRelease)
		}
		sess.mu.Unlock()
		select {
		case <-sess.pollWake:
		case <-sess.closedCh:
		case <-upgradeWait:
			sess.mu.Lock()
			if sess.transport == transportPolling && len(sess.queue) == 0 && !sess.closed {
				batch = []*Message{noopMessage}
				sess.pollActive = false
				sess.mu.Unlock()
				goto respond
			}
			sess.mu.Unlock()
		case <-r.Context().Done():
			sess.mu.Lock()
			sess.pollActive = false
			sess.mu.Unlock()
			// The client went away mid-poll (a page closed, a network
			// cut): the session ends now, as engine.io ends it ("poll
			// connection closed prematurely"), rather than linger until
			// its heartbeat runs out.
			sess.closeWith(ReasonTransportError, false)
			return
		}
		sess.mu.Lock()
	}
	// The batch belongs to this request now. The poll stops being active
	// before the response is written: a large body reaches the client
	// during Write, and its next poll may arrive before this handler
	// returns; it must not be mistaken for a duplicate poll.
	sess.pollActive = false
	sess.mu.Unlock()
respond:
	err := s.writePayload(w, r, sess, batch)
	if err != nil {
		// The response was lost with the packets in it: the session cannot
		// guarantee delivery any more.
		sess.closeWith(ReasonTransportError, false)
	}
}

// upgradePollRelease is how long a poll that arrived during an upgrade waits
// for it before it is answered with a noop.
const upgradePollRelease = 100 * time.Millisecond

func (s *Server) writePayload(w http.ResponseWriter, r *http.Request, sess *Session, batch []*Message) error {
	bufp := payloadPool.Get().(*[]byte)
	body, contentType := s.encodePayload((*bufp)[:0], sess, batch)
	s.setCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	if err == nil {
		s.countSent(transportPolling, len(batch), len(body))
	}
	*bufp = body
	if cap(body) <= 1<<20 {
		payloadPool.Put(bufp)
	}
	return err
}

func (s *Server) encodePayload(dst []byte, sess *Session, batch []*Message) ([]byte, string) {
	pkts := make([]packet, 0, len(batch)+2)
	hasBinary := false
	for _, m := range batch {
		pkts = m.appendPackets(pkts)
		if len(m.Attachments) > 0 || m.Binary {
			hasBinary = true
		}
	}
	if sess.protocol == ProtocolV4 {
		return appendPayloadV4(dst, pkts), "text/plain; charset=UTF-8"
	}
	if hasBinary && sess.supportsBinary {
		return appendPayloadV3Binary(dst, pkts), "application/octet-stream"
	}
	return appendPayloadV3String(dst, pkts), "text/plain; charset=UTF-8"
}

var errBodyTooLarge = errors.New("engineio: body too large")

// servePollPost decodes a payload and dispatches its packets in order.
func (s *Server) servePollPost(w http.ResponseWriter, r *http.Request, sess *Session) {
	sess.mu.Lock()
	if sess.postActive {
		// Overlapping POSTs could reorder packets: socket.io closes the session.
		sess.mu.Unlock()
		s.writeStatus(w, r, http.StatusBadRequest)
		sess.closeWith(ReasonTransportError, false)
		return
	}
	sess.postActive = true
	sess.mu.Unlock()
	defer func() {
		sess.mu.Lock()
		sess.postActive = false
		sess.mu.Unlock()
	}()

	binaryForm := strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream")
	if binaryForm && sess.protocol == ProtocolV4 {
		writeError(w, r, s, errBadRequest)
		sess.closeWith(ReasonParseError, false)
		return
	}
	if r.ContentLength > s.cfg.MaxPayload {
		// Too large is refused, but the session is not at fault beyond this
		// request, as in socket.io.
		writeError(w, r, s, errPayloadTooLarge)
		return
	}
	body, err := readBody(r.Body, s.cfg.MaxPayload)
	if err != nil {
		if errors.Is(err, errBodyTooLarge) {
			writeError(w, r, s, errPayloadTooLarge)
			return
		}
		writeError(w, r, s, errBadRequest)
		sess.closeWith(ReasonTransportError, false)
		return
	}
	var pkts []packet
	switch {
	case sess.protocol == ProtocolV4:
		pkts, err = decodePayloadV4(body)
	case binaryForm:
		pkts, err = decodePayloadV3Binary(body)
	default:
		pkts, err = decodePayloadV3String(body)
	}
	if err != nil {
		writeError(w, r, s, errBadRequest)
		sess.closeWith(ReasonParseError, false)
		return
	}

	// Dispatch holds the inbound lock, and the upgrade takes it before it
	// switches transports: packets sent around the upgrade stay in order.
	// Handlers run before "ok" is written, so their replies are queued by
	// the time the client polls again.
	sess.inbound.Lock()
	sess.mu.Lock()
	stale := sess.transport != transportPolling
	sess.mu.Unlock()
	if stale {
		sess.inbound.Unlock()
		writeError(w, r, s, errBadRequest)
		return
	}
	for _, p := range pkts {
		if sess.isClosed() {
			break // packets after a close packet are dropped, as socket.io does
		}
		if err := sess.onPacket(p); err != nil {
			sess.inbound.Unlock()
			writeError(w, r, s, errBadRequest)
			sess.closeWith(ReasonParseError, false)
			return
		}
	}
	sess.inbound.Unlock()

	s.setCORS(w, r)
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	w.Write([]byte("ok"))
}

func readBody(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, errBodyTooLarge
	}
	return b, nil
}
