//go:build !linux

package engineio

import (
	"sync"
	"syscall"
)

// Without epoll every WebSocket is read by a goroutine of its own (see
// poller_linux.go); these stand-ins are never reached.

type poller struct{}

func pickPoller(*wsConn) bool { return false }

func leavePoller(*wsConn) {}

type fdReader struct{ buf []byte }

func (*fdReader) read(syscall.RawConn) (int, error) { return 0, syscall.EINVAL }

func isWouldBlock(error) bool { return false }

var resumeReaders = sync.Pool{New: func() any { return &fdReader{} }}
