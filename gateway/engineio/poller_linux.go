//go:build linux

package engineio

import (
	"runtime"
	"sync"
	"syscall"

	"chatgateway/gateway/epollset"
)

// The WebSocket read side on Linux: connections wait for data in an epoll
// set (gateway/epollset) instead of each in a goroutine blocked in Read, so
// an idle connection costs no goroutine, no stack and no read buffer
// (README, "Reading WebSockets without a goroutine per connection").

// pollers are shared by every Server of the process: at most GOMAXPROCS of
// them, each started by its first connection and stopped when its last
// one leaves, so a process without WebSockets runs none.
var pollers struct {
	mu   sync.Mutex
	list []*poller
	next int
}

// pollerReadSize is the read buffer of a poller: one per poller, not per
// connection.
const pollerReadSize = 64 << 10

// pollerEvents is how many events one epoll_wait returns at most.
const pollerEvents = 256

// poller is one epoll set and the goroutine that reads its ready
// connections.
type poller struct {
	set *epollset.Set

	// Registered connections, by slot; the event's data carries the slot
	// and its generation, so an event for a connection that left is not
	// mistaken for the next one in its slot. Guarded by pollers.mu.
	conns []*wsConn
	gens  []int32
	free  []int32
	count int

	rd *fdReader // the poller goroutine's
}

// pickPoller registers ws with a poller. It reports false when epoll is
// unavailable; the caller then reads with a goroutine.
func pickPoller(ws *wsConn) bool {
	if ws.rc == nil {
		return false
	}
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	if len(pollers.list) == 0 {
		pollers.list = make([]*poller, max(runtime.GOMAXPROCS(0), 1))
	}
	i := pollers.next % len(pollers.list)
	pollers.next++
	p := pollers.list[i]
	if p == nil {
		var err error
		if p, err = newPoller(); err != nil {
			return false
		}
		pollers.list[i] = p
		go p.run()
	}
	slot := p.register(ws)
	if ws.closed.Load() {
		// Closed while being handed over: its close found no poller to
		// leave (it reads the poller under this lock), so nothing would
		// ever take it out of this one. As when the descriptor is gone
		// already (Add fails below), a goroutine reads the end.
		p.unregisterLocked(ws, i)
		return false
	}
	if err := p.set.Add(ws.rc, slotToken(slot, p.gens[slot])); err != nil {
		p.unregisterLocked(ws, i)
		return false
	}
	return true
}

// slotToken is a registration's epoll token: its slot and the slot's
// generation.
func slotToken(slot, gen int32) uint64 { return uint64(uint32(slot)) | uint64(uint32(gen))<<32 }

func newPoller() (*poller, error) {
	set, err := epollset.New("engineio-epoll", pollerEvents)
	if err != nil {
		return nil, err
	}
	return &poller{set: set, rd: newFDReader(pollerReadSize)}, nil
}

// register gives ws a slot. Caller holds pollers.mu.
func (p *poller) register(ws *wsConn) int32 {
	var slot int32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		slot = int32(len(p.conns))
		p.conns = append(p.conns, nil)
		p.gens = append(p.gens, 0)
	}
	p.conns[slot] = ws
	p.gens[slot]++
	p.count++
	ws.poller, ws.slot = p, slot
	return slot
}

// leavePoller takes ws out of its poller, if it has one; a poller left
// without connections stops. The socket itself is closed by the caller,
// which also takes it out of the epoll set; the explicit removal here spares
// a closed socket's late events. ws.poller is read under the pollers' lock:
// a close can race with the socket's registration (a server shutting down
// while a WebSocket handshake completes).
func leavePoller(ws *wsConn) {
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	p := ws.poller
	if p == nil {
		return
	}
	for i, q := range pollers.list {
		if q == p {
			p.unregisterLocked(ws, i)
			return
		}
	}
}

func (p *poller) unregisterLocked(ws *wsConn, index int) {
	if ws.poller != p || p.conns[ws.slot] != ws {
		return
	}
	_ = p.set.Remove(ws.rc)
	p.conns[ws.slot] = nil
	p.free = append(p.free, ws.slot)
	ws.poller = nil
	p.count--
	if p.count == 0 {
		// Ends run's wait; a later connection starts a new poller.
		pollers.list[index] = nil
		p.set.Close()
	}
}

func (p *poller) lookup(token uint64) *wsConn {
	slot, gen := int32(uint32(token)), int32(uint32(token>>32))
	pollers.mu.Lock()
	defer pollers.mu.Unlock()
	if slot < 0 || int(slot) >= len(p.conns) || p.gens[slot] != gen {
		return nil
	}
	return p.conns[slot]
}

// run reads the connections that have data until the poller is closed.
func (p *poller) run() {
	for {
		n, err := p.set.Wait()
		if err != nil {
			return // closed: no connection left
		}
		for i := range n {
			if ws := p.lookup(p.set.Token(i)); ws != nil {
				ws.readReady(p.rd)
			}
		}
	}
}

// fdReader reads a socket through its RawConn, which keeps the descriptor
// from being closed and reused during the read. readFn is bound once so
// that a read allocates nothing.
type fdReader struct {
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr)
}

func newFDReader(size int) *fdReader {
	r := &fdReader{buf: make([]byte, size)}
	r.readFn = r.readFD
	return r
}

func (r *fdReader) readFD(fd uintptr) {
	r.n, r.err = syscall.Read(int(fd), r.buf)
	if r.n < 0 {
		r.n = 0
	}
}

func (r *fdReader) read(rc syscall.RawConn) (int, error) {
	r.n, r.err = 0, nil
	if err := rc.Control(r.readFn); err != nil {
		return 0, err
	}
	return r.n, r.err
}

// isWouldBlock reports a read that found no data.
func isWouldBlock(err error) bool { return err == syscall.EAGAIN }

// resumeReaders are the buffers of readers that resume a paused
// connection outside the poller goroutine.
var resumeReaders = sync.Pool{New: func() any { return newFDReader(16 << 10) }}
