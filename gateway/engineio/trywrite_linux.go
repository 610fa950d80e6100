//go:build linux

package engineio

import (
	"net"
	"syscall"
	"unsafe"
)

// maxIovecs is how many buffers one writev gets here (Linux takes up to
// 1024): 1 KiB of iovecs on the stack, and a larger batch takes two writes.
const maxIovecs = 64

// tryWriteFrames writes as much of *bufs as the socket takes now, without
// waiting, in writev calls, consuming what was written. It reports whether
// everything went out. A write under way elsewhere (a control frame) counts
// as "would block": the caller then writes with writeFrames, which waits.
func (ws *wsConn) tryWriteFrames(bufs *net.Buffers) (complete bool, err error) {
	if ws.rc == nil || !ws.writeMu.TryLock() {
		return false, nil
	}
	defer ws.writeMu.Unlock()
	var iov [maxIovecs]syscall.Iovec
	for len(*bufs) > 0 {
		n := 0
		for _, b := range *bufs {
			if n == len(iov) {
				break
			}
			if len(b) == 0 {
				continue
			}
			iov[n].Base = &b[0]
			iov[n].SetLen(len(b))
			n++
		}
		if n == 0 {
			*bufs = nil
			return true, nil
		}
		var written uintptr
		var errno syscall.Errno
		// Control, not Write: RawConn.Write fails once the write deadline
		// has passed, and only writeFrames, which waits, keeps it moving
		// (a socket written only here would be cut off writeTimeout after
		// its last wait). writeMu orders the writes; Control keeps the
		// descriptor open during the call.
		if cerr := ws.rc.Control(func(fd uintptr) {
			written, _, errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&iov[0])), uintptr(n))
		}); cerr != nil {
			return false, cerr
		}
		clear(iov[:n])
		switch errno {
		case 0:
		case syscall.EAGAIN:
			return false, nil
		case syscall.EINTR:
			continue
		default:
			return false, errno
		}
		consumeBuffers(bufs, int(written))
	}
	return true, nil
}
