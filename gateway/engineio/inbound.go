package engineio

import "chatgateway/gateway/internal/warmgo"

// Inbound WebSocket packets are not dispatched by whoever read them: the
// reader (a poller shared by many sockets, or the socket's read goroutine)
// queues them on their session, and a dispatcher goroutine of the session
// runs the handlers, one packet at a time in the order they came, then
// exits when the queue is empty. So an idle socket holds no goroutine, and
// the deep stacks handlers grow (a join goes through validation, the store
// and the hub) are not kept by a goroutine that then waits for the next
// frame for hours.
//
// The queue is bounded: when it holds maxInboundBytes the socket is not
// read any more until the dispatcher has taken what is queued, so a client
// that sends faster than its handlers run is pushed back on by TCP, as a
// reader that dispatched itself would push back.

// maxInboundBytes is how much a session's inbound queue holds before its
// socket stops being read: packet data plus inboundItemCost per packet.
const maxInboundBytes = 64 << 10

// inboundItemCost is what a queued packet costs beyond its data.
const inboundItemCost = 64

// dispatchers run the sessions' dispatchInbound on kept goroutines, whose
// stacks have grown to what the handlers need (see warmgo).
var dispatchers = warmgo.New(warmgo.DefaultMaxIdle, warmgo.DefaultIdleFor)

// inboundItem is a packet to dispatch, or the end of the socket's reading.
type inboundItem struct {
	packet packet
	end    *wsEnd
}

// pushInbound queues a packet read from ws and starts the dispatcher if it
// is not running. It reports whether the queue is full.
func (s *Session) pushInbound(ws *wsConn, p packet) (full bool) {
	s.inMu.Lock()
	s.inQueue = append(s.inQueue, inboundItem{packet: p})
	s.inBytes += len(p.Data) + inboundItemCost
	full = s.inBytes >= maxInboundBytes
	start := !s.dispatching
	s.dispatching = true
	s.inMu.Unlock()
	if start {
		dispatchers.Go(func() { s.dispatchInbound(ws) })
	}
	return full
}

// pushEnd queues the end of ws's reading behind the packets read before.
func (s *Session) pushEnd(end *wsEnd) {
	s.inMu.Lock()
	s.inQueue = append(s.inQueue, inboundItem{end: end})
	start := !s.dispatching
	s.dispatching = true
	s.inMu.Unlock()
	if start {
		dispatchers.Go(func() { s.dispatchInbound(end.ws) })
	}
}

// dispatchInbound runs the handlers of the queued packets in order, under
// the inbound lock as a polling POST does, and exits once nothing is
// queued. Taking the queue makes room in it, so a paused socket is resumed
// before the batch is dispatched.
func (s *Session) dispatchInbound(ws *wsConn) {
	for {
		s.inMu.Lock()
		batch := s.inQueue
		if len(batch) == 0 {
			s.dispatching = false
			s.inMu.Unlock()
			return
		}
		s.inQueue, s.inBytes = nil, 0
		s.inMu.Unlock()
		ws.resume()
		for i := range batch {
			it := &batch[i]
			if it.end != nil {
				it.end.ws.closeWith(it.end.closeFrame, it.end.answer)
				s.closeWith(it.end.reason, false)
				continue
			}
			if s.isClosed() {
				continue // packets after a close are dropped, as socket.io does
			}
			s.inbound.Lock()
			err := s.onPacket(it.packet)
			s.inbound.Unlock()
			if err != nil {
				s.server.log.Debug("engineio: bad packet", "sid", s.id, "err", err)
				ws.close()
				s.closeWith(ReasonParseError, false)
			}
		}
	}
}
