//go:build linux

package main

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"unsafe"

	"chatgateway/gateway/epollset"
)

// rawPoller is an epoll set of raw clients (gateway/epollset, as the
// server's WebSockets) and the goroutine that reads the ready ones.
type rawPoller struct {
	set *epollset.Set

	index int // in rawPollers.list
	// Guarded by rawPollers.mu.
	conns map[uint64]*rawClient

	recv stampedReceiver // the poller goroutine's
}

const (
	// rawPollerReadBuffer is a poller's read buffer, shared by its
	// connections: a closed-loop run piles up tens of frames per socket.
	rawPollerReadBuffer = 256 << 10
	rawPollerEvents     = 512
)

// rawPollers are GOMAXPROCS pollers at most, each started by its first
// connection and stopped when its last one leaves, so that a run leaves no
// goroutine behind.
var rawPollers struct {
	mu   sync.Mutex
	list []*rawPoller
	next int
	ids  atomic.Uint64
}

// rawPollerYield is how many ready connections a poller reads before it
// lets the other goroutines run: the open-loop senders' timers fire only
// when the scheduler runs, and a poller reading a deep backlog in one go
// would make the generator late on its own schedule.
const rawPollerYield = 64

// startReading hands the connection to a poller, or to a goroutine where
// epoll is not available.
func (c *rawClient) startReading() {
	if !addToPoller(c) {
		go c.readLoop()
	}
}

func addToPoller(c *rawClient) bool {
	rawPollers.mu.Lock()
	defer rawPollers.mu.Unlock()
	if rawPollers.list == nil {
		rawPollers.list = make([]*rawPoller, max(runtime.GOMAXPROCS(0), 1))
	}
	i := rawPollers.next % len(rawPollers.list)
	rawPollers.next++
	p := rawPollers.list[i]
	if p == nil {
		var err error
		if p, err = newRawPoller(i); err != nil {
			return false
		}
		rawPollers.list[i] = p
		go p.run()
	}
	return p.addLocked(c)
}

func newRawPoller(index int) (*rawPoller, error) {
	set, err := epollset.New("loadgen-epoll", rawPollerEvents)
	if err != nil {
		return nil, err
	}
	p := &rawPoller{set: set, index: index, conns: make(map[uint64]*rawClient)}
	p.recv.buf = make([]byte, rawPollerReadBuffer)
	return p, nil
}

// addLocked registers c, edge-triggered: data that came before is
// reported at once, as the socket is readable when added. Caller holds
// rawPollers.mu.
func (p *rawPoller) addLocked(c *rawClient) bool {
	id := rawPollers.ids.Add(1)
	if err := p.set.Add(c.rc, id); err != nil {
		p.stopIfEmptyLocked()
		return false
	}
	p.conns[id] = c
	c.poller, c.pollID = p, id
	return true
}

// remove forgets c (closing its descriptor takes it out of the epoll set);
// a poller left without connections stops.
func (p *rawPoller) remove(c *rawClient) {
	rawPollers.mu.Lock()
	defer rawPollers.mu.Unlock()
	delete(p.conns, c.pollID)
	p.stopIfEmptyLocked()
}

func (p *rawPoller) stopIfEmptyLocked() {
	if len(p.conns) == 0 && rawPollers.list[p.index] == p {
		rawPollers.list[p.index] = nil
		p.set.Close() // ends run's wait
	}
}

func (p *rawPoller) lookup(id uint64) *rawClient {
	rawPollers.mu.Lock()
	defer rawPollers.mu.Unlock()
	return p.conns[id]
}

func (p *rawPoller) run() {
	for {
		n, err := p.set.Wait()
		if err != nil {
			return
		}
		for i := range n {
			if i > 0 && i%rawPollerYield == 0 {
				runtime.Gosched()
			}
			if c := p.lookup(p.set.Token(i)); c != nil {
				c.readable(&p.recv)
			}
		}
		runtime.Gosched()
	}
}

// readable reads everything the socket holds into buf and handles it. A
// read shorter than buf means the socket is drained, which is all an
// edge-triggered wake-up asks for.
func (c *rawClient) readable(r *stampedReceiver) {
	buf := r.buf
	c.readMu.Lock()
	defer c.readMu.Unlock()
	for !c.stopped {
		var n int
		var rerr error
		err := c.rc.Read(func(fd uintptr) bool {
			n, c.arrivedAt, rerr = r.receive(fd)
			return true
		})
		if err != nil {
			c.end(err)
			return
		}
		if n > 0 {
			if ferr := c.feed(buf[:n]); ferr != nil {
				c.end(ferr)
				return
			}
		}
		switch {
		case rerr == syscall.EAGAIN:
			return
		case rerr == syscall.EINTR:
			continue
		case rerr != nil:
			c.end(rerr)
			return
		case n == 0:
			c.end(io.EOF)
			return
		case n < len(buf):
			return
		}
	}
}

// stampedReceiver reads a socket with recvmsg into buf, with the kernel's
// receive time of the last segment read (SO_TIMESTAMPNS), allocating
// nothing: one per poller goroutine.
type stampedReceiver struct {
	buf []byte
	oob [64]byte
	msg syscall.Msghdr
	iov syscall.Iovec
}

// receive is one recvmsg. arrivedAt is 0 when the kernel gave no stamp.
func (r *stampedReceiver) receive(fd uintptr) (n int, arrivedAt int64, err error) {
	r.iov.Base = &r.buf[0]
	r.iov.SetLen(len(r.buf))
	r.msg = syscall.Msghdr{Iov: &r.iov, Iovlen: 1, Control: &r.oob[0]}
	r.msg.SetControllen(len(r.oob))
	got, _, errno := syscall.Syscall(syscall.SYS_RECVMSG, fd, uintptr(unsafe.Pointer(&r.msg)), 0)
	if errno != 0 {
		return 0, 0, errno
	}
	return int(got), receiveStamp(r.oob[:r.msg.Controllen]), nil
}

// receiveStamp finds the SCM_TIMESTAMPNS control message in oob and
// returns its time in unix nanos, or 0.
func receiveStamp(oob []byte) int64 {
	const header = syscall.SizeofCmsghdr
	for len(oob) >= header {
		h := (*syscall.Cmsghdr)(unsafe.Pointer(&oob[0]))
		size := int(h.Len)
		if size < header || size > len(oob) {
			return 0
		}
		if h.Level == syscall.SOL_SOCKET && h.Type == syscall.SCM_TIMESTAMPNS && size >= header+int(unsafe.Sizeof(syscall.Timespec{})) {
			ts := (*syscall.Timespec)(unsafe.Pointer(&oob[header]))
			return ts.Nano()
		}
		const align = int(unsafe.Sizeof(uintptr(0)))
		aligned := (size + align - 1) &^ (align - 1)
		if aligned >= len(oob) {
			return 0
		}
		oob = oob[aligned:]
	}
	return 0
}

// stampArrivals asks the kernel to stamp what the socket receives.
func stampArrivals(rc syscall.RawConn) error {
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_TIMESTAMPNS, 1)
	}); err != nil {
		return err
	}
	return serr
}
