package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// serverFrame is a frame as a server writes it: unmasked unless mask is
// set, final unless fragment.
func serverFrame(op byte, payload []byte, mask []byte, fragment bool) []byte {
	b0 := op
	if !fragment {
		b0 |= 0x80
	}
	f := []byte{b0}
	maskBit := byte(0)
	if mask != nil {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		f = append(f, maskBit|byte(n))
	case n <= 0xffff:
		f = append(f, maskBit|126)
		f = binary.BigEndian.AppendUint16(f, uint16(n))
	default:
		f = append(f, maskBit|127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	if mask != nil {
		f = append(f, mask...)
		start := len(f)
		f = append(f, payload...)
		for i := range f[start:] {
			f[start+i] ^= mask[i&3]
		}
		return f
	}
	return append(f, payload...)
}

type rawEvent struct{ name, payload string }

// TestRawClientFrames: whatever the reads cut the stream into, every EVENT
// reaches onRaw whole and in order: frames of the three length forms, a
// masked one, a fragmented message with a ping between its fragments, a
// binary message (dropped) and non-event packets.
func TestRawClientFrames(t *testing.T) {
	big := `{"content":"` + strings.Repeat("x", 70_000) + `"}`
	mid := `{"content":"` + strings.Repeat("y", 300) + `"}`
	var stream []byte
	stream = append(stream, serverFrame(wsOpText, []byte(`42["r1",{"order":1}]`), nil, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`42["r1",`+mid+`]`), nil, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`42["r1",`+big+`]`), nil, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`42["masked",1,2]`), []byte{1, 2, 3, 4}, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`42["frag`), nil, true)...)
	stream = append(stream, serverFrame(wsOpPong, nil, nil, false)...) // control frames may come between fragments
	stream = append(stream, serverFrame(wsOpContinuation, []byte(`mented",{"a":`), nil, true)...)
	stream = append(stream, serverFrame(wsOpContinuation, []byte(`true}]`), nil, false)...)
	stream = append(stream, serverFrame(wsOpBinary, []byte{1, 2, 3}, nil, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`6`), nil, false)...)         // noop
	stream = append(stream, serverFrame(wsOpText, []byte(`43["ack"]`), nil, false)...) // an ACK: not an event
	stream = append(stream, serverFrame(wsOpText, []byte(`42/admin,["other ns"]`), nil, false)...)
	stream = append(stream, serverFrame(wsOpText, []byte(`42/,7["root spelled out",null]`), nil, false)...)
	want := []rawEvent{{"r1", `{"order":1}`}, {"r1", mid}, {"r1", big}, {"masked", "1,2"}, {"fragmented", `{"a":true}`}, {"root spelled out", "null"}}

	for _, chunk := range []int{1, 2, 3, 7, 64, 1000, len(stream)} {
		var got []rawEvent
		c := &rawClient{eio: 3, onRaw: func(name, payload []byte, _ int64) { got = append(got, rawEvent{string(name), string(payload)}) }}
		data := bytes.Clone(stream)
		for len(data) > 0 {
			n := min(chunk, len(data))
			// Each read's buffer is reused, as the poller's is.
			buf := bytes.Clone(data[:n])
			if err := c.feed(buf); err != nil {
				t.Fatalf("chunks of %d: %v", chunk, err)
			}
			clear(buf)
			data = data[n:]
		}
		if len(got) != len(want) {
			t.Fatalf("chunks of %d: %d events, want %d", chunk, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Errorf("chunks of %d: event %d = %.80q, want %.80q", chunk, i, got[i], want[i])
			}
		}
		if len(c.partial) != 0 {
			t.Errorf("chunks of %d: %d bytes left over", chunk, len(c.partial))
		}
	}
}

func TestRawClientEnds(t *testing.T) {
	tests := []struct {
		name  string
		frame []byte
		want  error
	}{
		{"websocket close", serverFrame(wsOpClose, nil, nil, false), errRawServerClosed},
		{"engine.io close", serverFrame(wsOpText, []byte("1"), nil, false), errRawServerClosed},
		{"socket.io disconnect", serverFrame(wsOpText, []byte("41"), nil, false), errRawDisconnected},
		{"too large", append([]byte{0x81, 127}, binary.BigEndian.AppendUint64(nil, rawMaxMessage+1)...), errRawMessageSize},
	}
	for _, tt := range tests {
		c := &rawClient{eio: 4, onRaw: func(name, payload []byte, _ int64) {}}
		if err := c.feed(tt.frame); err != tt.want {
			t.Errorf("%s: feed = %v, want %v", tt.name, err, tt.want)
		}
	}
}

// TestRawClientAnswersPings: an EIO4 ping gets a pong, a WebSocket ping a
// WebSocket pong with its payload, both masked as a client's frames must be.
func TestRawClientAnswersPings(t *testing.T) {
	client, server := net.Pipe()
	defer client.Close()
	defer server.Close()
	c := &rawClient{conn: client, eio: 4, onRaw: func(name, payload []byte, _ int64) {}}
	go func() {
		_ = c.feed(append(serverFrame(wsOpText, []byte("2"), nil, false), serverFrame(wsOpPing, []byte("hi"), nil, false)...))
	}()
	_ = server.SetReadDeadline(time.Now().Add(10 * time.Second))
	for _, want := range []struct {
		op      byte
		payload string
	}{{wsOpText, "3"}, {wsOpPong, "hi"}} {
		head := make([]byte, 6)
		if _, err := io.ReadFull(server, head); err != nil {
			t.Fatal(err)
		}
		if head[0] != 0x80|want.op || head[1]&0x80 == 0 || int(head[1]&0x7f) != len(want.payload) {
			t.Fatalf("frame header % x, want a final masked op %x of %d bytes", head[:2], want.op, len(want.payload))
		}
		payload := make([]byte, len(want.payload))
		if _, err := io.ReadFull(server, payload); err != nil {
			t.Fatal(err)
		}
		for i := range payload {
			payload[i] ^= head[2+i&3]
		}
		if string(payload) != want.payload {
			t.Errorf("payload %q, want %q", payload, want.payload)
		}
	}
}

// Each waiter returns at its due time, never before, at once for a past
// one, and with an error once the run is cancelled.
func TestScheduleWaiter(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(ctx context.Context) scheduleWaiter
	}{
		{"platform", func(ctx context.Context) scheduleWaiter { return newScheduleWaiter(ctx, 100) }},
		{"coarse", func(ctx context.Context) scheduleWaiter { return newCoarseTimer(ctx) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w := tc.make(ctx)
			defer w.Close()
			for range 3 {
				due := time.Now().Add(2 * time.Millisecond)
				if err := w.waitUntil(due); err != nil {
					t.Fatalf("waitUntil: %v", err)
				}
				if now := time.Now(); now.Before(due) {
					t.Fatalf("waitUntil returned %v before due", due.Sub(now))
				}
			}
			if err := w.waitUntil(time.Now().Add(-time.Second)); err != nil {
				t.Fatalf("waitUntil a past time: %v", err)
			}
			ended := make(chan error, 1)
			go func() { ended <- w.waitUntil(time.Now().Add(time.Hour)) }()
			cancel()
			select {
			case err := <-ended:
				if err == nil {
					t.Fatal("waitUntil returned no error after the context was cancelled")
				}
			case <-time.After(10 * time.Second):
				t.Fatal("waitUntil did not return after the context was cancelled")
			}
		})
	}
}
