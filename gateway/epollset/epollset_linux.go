//go:build linux

package epollset

import (
	"os"
	"syscall"
)

// Set is one epoll set. Add and Remove may be called from any goroutine;
// Wait and Token belong to the one goroutine that reads the set.
type Set struct {
	epfd int
	file *os.File // epfd, registered with the runtime's netpoller
	rc   syscall.RawConn

	// The waiting goroutine's.
	events []syscall.EpollEvent
	ready  int
	waitFn func(uintptr) bool
}

// edgeTriggered is EPOLLET as the uint32 of EpollEvent.Events.
const edgeTriggered = 1 << 31

// New makes an empty set whose Wait reports at most maxEvents sockets at
// a time; name labels its descriptor.
func New(name string, maxEvents int) (*Set, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	// Non-blocking, so that os.NewFile registers it with the netpoller.
	if err := syscall.SetNonblock(epfd, true); err != nil {
		syscall.Close(epfd)
		return nil, os.NewSyscallError("fcntl", err)
	}
	f := os.NewFile(uintptr(epfd), name)
	rc, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return nil, err
	}
	s := &Set{epfd: epfd, file: f, rc: rc, events: make([]syscall.EpollEvent, max(maxEvents, 1))}
	s.waitFn = s.collect
	return s, nil
}

// Add registers a socket, edge-triggered for input and the peer's
// hang-up, under token, which Token gives back when it is ready. Data that
// came before is reported at once: the socket is readable when added.
func (s *Set) Add(rc syscall.RawConn, token uint64) error {
	ev := syscall.EpollEvent{
		Events: syscall.EPOLLIN | syscall.EPOLLRDHUP | edgeTriggered,
		Fd:     int32(uint32(token)),
		Pad:    int32(uint32(token >> 32)),
	}
	return s.control(rc, syscall.EPOLL_CTL_ADD, &ev)
}

// Remove takes a socket out. Closing the socket does as much; removing it
// first spares the reader the late events of a socket it has forgotten.
func (s *Set) Remove(rc syscall.RawConn) error {
	return s.control(rc, syscall.EPOLL_CTL_DEL, nil)
}

func (s *Set) control(rc syscall.RawConn, op int, ev *syscall.EpollEvent) error {
	var ctlErr error
	if err := rc.Control(func(fd uintptr) { ctlErr = syscall.EpollCtl(s.epfd, op, int(fd), ev) }); err != nil {
		return err
	}
	if ctlErr != nil {
		return os.NewSyscallError("epoll_ctl", ctlErr)
	}
	return nil
}

// Wait parks until at least one socket is ready and reports how many are:
// Token(0) to Token(n-1) name them, until the next Wait. It fails once the
// set is closed.
func (s *Set) Wait() (int, error) {
	for {
		s.ready = 0
		if err := s.rc.Read(s.waitFn); err != nil {
			return 0, err
		}
		if s.ready > 0 {
			return s.ready, nil
		}
	}
}

// collect takes the ready events without blocking; with none it returns
// false, and the netpoller parks the goroutine until the epoll descriptor
// is readable.
func (s *Set) collect(uintptr) bool {
	n, err := syscall.EpollWait(s.epfd, s.events, 0)
	if err == syscall.EINTR {
		return true // Wait tries again
	}
	if n <= 0 {
		return false
	}
	s.ready = n
	return true
}

// Token is the token of the i-th ready socket of the last Wait.
func (s *Set) Token(i int) uint64 {
	ev := &s.events[i]
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Close ends a Wait in progress, and every later one. The sockets are
// left as they are.
func (s *Set) Close() error { return s.file.Close() }
