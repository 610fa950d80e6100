package engineio

import (
	"bytes"
	"io"
	"net"
	"runtime"
	"testing"
	"time"
)

func TestConsumeBuffers(t *testing.T) {
	tests := []struct {
		n    int
		want []string
	}{
		{0, []string{"abc", "de", "f"}},
		{1, []string{"bc", "de", "f"}},
		{3, []string{"de", "f"}},
		{4, []string{"e", "f"}},
		{5, []string{"f"}},
		{6, nil},
	}
	for _, tt := range tests {
		bufs := net.Buffers{[]byte("abc"), []byte("de"), []byte("f")}
		consumeBuffers(&bufs, tt.n)
		var got []string
		for _, b := range bufs {
			got = append(got, string(b))
		}
		if len(got) != len(tt.want) {
			t.Errorf("consume %d: %q, want %q", tt.n, got, tt.want)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("consume %d: %q, want %q", tt.n, got, tt.want)
			}
		}
	}
}

// TestTryWriteFramesIgnoresAStaleDeadline: the write deadline is moved
// only by writes that wait (writeFrames); a socket written for longer than
// writeTimeout without waiting must not find an expired deadline in the
// way. (It did: TestAdminUI lost an ack 10 s into a run.)
func TestTryWriteFramesIgnoresAStaleDeadline(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes without waiting only on Linux; elsewhere every flush waits on a goroutine")
	}
	client, server := tcpPair(t)
	ws := newWSConn(server, 1<<20)
	if err := server.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
		t.Fatal(err)
	}
	bufs := net.Buffers{[]byte("hello "), []byte("world")}
	if complete, err := ws.tryWriteFrames(&bufs, newWritevScratch()); err != nil || !complete {
		t.Fatalf("tryWriteFrames past the deadline = %v, %v; want complete", complete, err)
	}
	got := make([]byte, len("hello world"))
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil || string(got) != "hello world" {
		t.Fatalf("peer read %q, %v", got, err)
	}
}

// tcpPair is a loopback TCP connection's two ends, closed with the test.
func tcpPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			accepted <- c
		}
		close(accepted)
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server = <-accepted
	if server == nil {
		t.Fatal("no connection accepted")
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// TestTryWriteFramesStopsWhereTheSocketIsFull: a non-blocking write to a
// peer that does not read takes what the socket holds and reports the
// rest; a blocking write then finishes, and the peer gets every byte once,
// in order.
func TestTryWriteFramesStopsWhereTheSocketIsFull(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("writes without waiting only on Linux; elsewhere every flush waits on a goroutine")
	}
	client, server := tcpPair(t)
	ws := newWSConn(server, 1<<20)

	// 200 buffers of 64 KiB: far more than loopback buffers hold, and
	// more buffers than one writev takes.
	var all []byte
	bufs := make(net.Buffers, 200)
	for i := range bufs {
		bufs[i] = bytes.Repeat([]byte{byte(i)}, 64<<10)
		all = append(all, bufs[i]...)
	}
	complete, err := ws.tryWriteFrames(&bufs, newWritevScratch())
	if err != nil || complete {
		t.Fatalf("tryWriteFrames = %v, %v; want incomplete, no error", complete, err)
	}
	left := 0
	for _, b := range bufs {
		left += len(b)
	}
	if left == 0 || left >= len(all) {
		t.Fatalf("%d of %d bytes left: want some written, some not", left, len(all))
	}
	got := make(chan []byte, 1)
	go func() {
		b, _ := io.ReadAll(client)
		got <- b
	}()
	if err := ws.writeFrames(&bufs); err != nil {
		t.Fatal(err)
	}
	server.Close()
	select {
	case b := <-got:
		if !bytes.Equal(b, all) {
			t.Fatalf("peer got %d bytes, want the %d written, in order", len(b), len(all))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("peer did not get the bytes")
	}
}
