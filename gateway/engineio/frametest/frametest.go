// Package frametest counts the WebSocket frames a server sends to many raw
// test clients, so benchmarks and allocation tests can wait for a broadcast
// to arrive everywhere without polling and without the clients adding
// allocations of their own to what is measured.
package frametest

import (
	"net"
	"sync/atomic"
	"testing"
	"time"
)

// FrameWaiter lets a benchmark wait, without polling, until its clients
// have received as many WebSocket frames as it expects.
type FrameWaiter struct {
	got     atomic.Int64
	want    atomic.Int64
	arrived chan struct{} // a hint that got may have reached want
	timeout *time.Timer   // reused so that waiting allocates nothing
}

// WaitLimit bounds one wait; a broadcast to 1000 loopback clients
// takes milliseconds.
const WaitLimit = 30 * time.Second

func NewFrameWaiter() *FrameWaiter {
	t := time.NewTimer(WaitLimit)
	t.Stop()
	return &FrameWaiter{arrived: make(chan struct{}, 1), timeout: t}
}

func (w *FrameWaiter) Expect(frames int64) { w.want.Add(frames) }

func (w *FrameWaiter) frameArrived() {
	if w.got.Add(1) >= w.want.Load() {
		select {
		case w.arrived <- struct{}{}:
		default:
		}
	}
}

func (w *FrameWaiter) Wait(tb testing.TB) {
	w.timeout.Reset(WaitLimit)
	defer w.timeout.Stop()
	for w.got.Load() < w.want.Load() {
		select {
		case <-w.arrived:
		case <-w.timeout.C:
			tb.Fatalf("clients got %d frames within %v, want %d", w.got.Load(), WaitLimit, w.want.Load())
		}
	}
}

// CountFrames reads unmasked server frames from conn until it fails and
// reports each complete one. It parses only the frame headers and skips
// payloads, so the clients add little work and no allocation to what is
// measured.
func CountFrames(conn net.Conn, w *FrameWaiter) {
	buf := make([]byte, 64<<10)
	var header [10]byte
	headerLen := 0
	var payloadLeft int64
	for {
		n, err := conn.Read(buf)
		p := buf[:n]
		for len(p) > 0 {
			if payloadLeft > 0 {
				k := int(min(payloadLeft, int64(len(p))))
				payloadLeft -= int64(k)
				p = p[k:]
				if payloadLeft == 0 {
					w.frameArrived()
				}
				continue
			}
			header[headerLen] = p[0]
			headerLen++
			p = p[1:]
			if headerLen < 2 {
				continue
			}
			need := 2
			switch header[1] & 0x7f {
			case 126:
				need = 4
			case 127:
				need = 10
			}
			if headerLen < need {
				continue
			}
			switch need {
			case 2:
				payloadLeft = int64(header[1] & 0x7f)
			case 4:
				payloadLeft = int64(header[2])<<8 | int64(header[3])
			default:
				payloadLeft = 0
				for _, c := range header[2:10] {
					payloadLeft = payloadLeft<<8 | int64(c)
				}
			}
			headerLen = 0
			if payloadLeft == 0 {
				w.frameArrived()
			}
		}
		if err != nil {
			return
		}
	}
}
