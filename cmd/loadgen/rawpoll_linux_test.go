//go:build linux

package main

import (
	"net"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

// cmsg is one control message as the kernel lays it out.
func cmsg(level, typ int32, data []byte) []byte {
	const header = syscall.SizeofCmsghdr
	const align = int(unsafe.Sizeof(uintptr(0)))
	size := header + len(data)
	b := make([]byte, (size+align-1)&^(align-1))
	h := (*syscall.Cmsghdr)(unsafe.Pointer(&b[0]))
	h.Level, h.Type = level, typ
	h.SetLen(size)
	copy(b[header:], data)
	return b
}

func timespecBytes(nanos int64) []byte {
	b := make([]byte, unsafe.Sizeof(syscall.Timespec{}))
	*(*syscall.Timespec)(unsafe.Pointer(&b[0])) = syscall.NsecToTimespec(nanos)
	return b
}

func TestReceiveStamp(t *testing.T) {
	stamp := cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, timespecBytes(1_700_000_000_123_456_789))
	const want = 1_700_000_000_123_456_789
	other := cmsg(syscall.SOL_IP, 8, []byte{1, 2, 3, 4})
	for _, tc := range []struct {
		name string
		oob  []byte
		want int64
	}{
		{"none", nil, 0},
		{"the stamp", stamp, want},
		{"after another message", append(append([]byte{}, other...), stamp...), want},
		{"another message only", other, 0},
		{"a truncated stamp", stamp[:len(stamp)-4], 0},
		{"a header claiming more than there is", cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, nil)[:syscall.SizeofCmsghdr-1], 0},
		{"a stamp too short for a timespec", cmsg(syscall.SOL_SOCKET, syscall.SCM_TIMESTAMPNS, []byte{1, 2, 3, 4}), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := receiveStamp(tc.oob); got != tc.want {
				t.Errorf("receiveStamp = %d, want %d", got, tc.want)
			}
		})
	}
}

// A real socket's reads carry the kernel's stamp, taken between the write
// and the read.
func TestStampedReceiverReadsTheKernelsStamp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	rc, err := client.(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	if err := stampArrivals(rc); err != nil {
		t.Fatal(err)
	}
	// The kernel turns stamping on for the whole stack asynchronously,
	// after the first socket asks: the first segments may come unstamped.
	r := &stampedReceiver{buf: make([]byte, 64)}
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		before := time.Now().UnixNano()
		if _, err := server.Write([]byte("hello")); err != nil {
			t.Fatal(err)
		}
		var n int
		var arrivedAt int64
		var rerr error
		// Blocking until the bytes are there, then one recvmsg.
		if err := rc.Read(func(fd uintptr) bool {
			n, arrivedAt, rerr = r.receive(fd)
			return rerr != syscall.EAGAIN
		}); err != nil {
			t.Fatal(err)
		}
		after := time.Now().UnixNano()
		if rerr != nil || string(r.buf[:n]) != "hello" {
			t.Fatalf("receive = %q, %v", r.buf[:n], rerr)
		}
		if arrivedAt == 0 {
			continue
		}
		if arrivedAt < before || arrivedAt > after {
			t.Fatalf("stamp %d outside the write-read interval [%d, %d]", arrivedAt, before, after)
		}
		return
	}
	t.Fatal("no read carried a stamp")
}
