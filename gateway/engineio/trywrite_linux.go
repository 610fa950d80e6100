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

// writevScratch is a flush shard's iovec array and the call that writes
// it, bound once: a closure over locals passed to RawConn.Control would
// move them to the heap on every write.
type writevScratch struct {
	iov     [maxIovecs]syscall.Iovec
	n       int
	written uintptr
	errno   syscall.Errno
	call    func(fd uintptr)
}

func newWritevScratch() *writevScratch {
	w := new(writevScratch)
	w.call = w.writev
	return w
}

func (w *writevScratch) writev(fd uintptr) {
	w.written, _, w.errno = syscall.Syscall(syscall.SYS_WRITEV, fd, uintptr(unsafe.Pointer(&w.iov[0])), uintptr(w.n))
}

// tryWriteFrames writes as much of *bufs as the socket takes now, without
// waiting, in writev calls through w, consuming what was written. It
// reports whether everything went out. A write under way elsewhere (a
// control frame) counts as "would block": the caller then writes with
// writeFrames, which waits.
func (ws *wsConn) tryWriteFrames(bufs *net.Buffers, w *writevScratch) (complete bool, err error) {
	if ws.rc == nil || !ws.writeMu.TryLock() {
		return false, nil
	}
	defer ws.writeMu.Unlock()
	for len(*bufs) > 0 {
		n := 0
		for _, b := range *bufs {
			if n == len(w.iov) {
				break
			}
			if len(b) == 0 {
				continue
			}
			w.iov[n].Base = &b[0]
			w.iov[n].SetLen(len(b))
			n++
		}
		if n == 0 {
			*bufs = nil
			return true, nil
		}
		w.n = n
		// Control, not Write: RawConn.Write fails once the write deadline
		// has passed, and only writeFrames, which waits, keeps it moving
		// (a socket written only here would be cut off writeTimeout after
		// its last wait). writeMu orders the writes; Control keeps the
		// descriptor open during the call.
		cerr := ws.rc.Control(w.call)
		clear(w.iov[:n])
		if cerr != nil {
			return false, cerr
		}
		switch w.errno {
		case 0:
		case syscall.EAGAIN:
			return false, nil
		case syscall.EINTR:
			continue
		default:
			return false, w.errno
		}
		consumeBuffers(bufs, int(w.written))
	}
	return true, nil
}
