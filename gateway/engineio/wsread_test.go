package engineio

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"testing"
)

// clientFrame builds one masked client frame.
func clientFrame(fin bool, op byte, payload []byte) []byte {
	b0 := op
	if fin {
		b0 |= 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, 0x80|byte(n))
	case n <= 0xFFFF:
		out = append(out, 0x80|126)
		out = binary.BigEndian.AppendUint16(out, uint16(n))
	default:
		out = append(out, 0x80|127)
		out = binary.BigEndian.AppendUint64(out, uint64(n))
	}
	key := []byte{0x37, 0xfa, 0x21, 0x3d}
	out = append(out, key...)
	for i, c := range payload {
		out = append(out, c^key[i%4])
	}
	return out
}

// collected records what a frameReader hands on, as "op:payload".
type collected struct{ got []string }

func (c *collected) frame(op byte, payload []byte) error {
	c.got = append(c.got, fmt.Sprintf("%d:%s", op, payload))
	return nil
}

func TestFrameReaderMessages(t *testing.T) {
	long := strings.Repeat("x", 300)
	huge := strings.Repeat("y", 70_000)
	tests := []struct {
		name   string
		stream [][]byte
		want   []string
	}{
		{"text", [][]byte{clientFrame(true, opText, []byte("4hello"))}, []string{"1:4hello"}},
		{"binary", [][]byte{clientFrame(true, opBinary, []byte{1, 2, 3})}, []string{"2:\x01\x02\x03"}},
		{"empty", [][]byte{clientFrame(true, opText, nil)}, []string{"1:"}},
		{"16-bit length", [][]byte{clientFrame(true, opText, []byte(long))}, []string{"1:" + long}},
		{"64-bit length", [][]byte{clientFrame(true, opText, []byte(huge))}, []string{"1:" + huge}},
		{"two in a row", [][]byte{clientFrame(true, opText, []byte("4a")), clientFrame(true, opText, []byte("4b"))}, []string{"1:4a", "1:4b"}},
		{"fragments", [][]byte{
			clientFrame(false, opText, []byte("4he")),
			clientFrame(false, opContinuation, []byte("l")),
			clientFrame(true, opContinuation, []byte("lo")),
		}, []string{"1:4hello"}},
		{"control frames between fragments", [][]byte{
			clientFrame(false, opBinary, []byte("ab")),
			clientFrame(true, opPing, []byte("p")),
			clientFrame(true, opPong, nil),
			clientFrame(true, opContinuation, []byte("cd")),
		}, []string{"9:p", "10:", "2:abcd"}},
		{"close", [][]byte{clientFrame(true, opClose, closePayload(closeNormal))}, []string{"8:\x03\xe8"}},
	}
	for _, tt := range tests {
		stream := bytes.Join(tt.stream, nil)
		// Every way of cutting the stream in two reads, and one byte at a
		// time, gives the same messages.
		cuts := [][]int{{len(stream)}}
		for i := 1; i < len(stream) && i < 40; i++ {
			cuts = append(cuts, []int{i, len(stream)})
		}
		bytewise := make([]int, len(stream))
		for i := range bytewise {
			bytewise[i] = i + 1
		}
		cuts = append(cuts, bytewise)
		for _, cut := range cuts {
			r := frameReader{maxMessage: 1 << 20}
			var c collected
			data := bytes.Clone(stream) // unmasked in place
			prev := 0
			for _, at := range cut {
				if err := r.feed(data[prev:at], &c); err != nil {
					t.Fatalf("%s, cut %v: %v", tt.name, cut[:min(len(cut), 3)], err)
				}
				prev = at
			}
			if strings.Join(c.got, "|") != strings.Join(tt.want, "|") || r.partial != nil || r.fragments != nil {
				t.Fatalf("%s, cut %v: got %q (partial %d, fragments %d), want %q", tt.name, cut[:min(len(cut), 3)], c.got, len(r.partial), len(r.fragments), tt.want)
			}
		}
	}
}

func TestFrameReaderRefuses(t *testing.T) {
	unmasked := clientFrame(true, opText, []byte("4x"))
	unmasked[1] &^= 0x80
	rsv := clientFrame(true, opText, []byte("4x"))
	rsv[0] |= 0x40
	topBit := []byte{0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}
	tests := []struct {
		name   string
		stream [][]byte
		code   int
	}{
		{"unmasked", [][]byte{unmasked}, closeProtocolError},
		{"reserved bit", [][]byte{rsv}, closeProtocolError},
		{"unknown opcode", [][]byte{clientFrame(true, 0x3, nil)}, closeProtocolError},
		{"fragmented control frame", [][]byte{clientFrame(false, opPing, nil)}, closeProtocolError},
		{"control frame over 125 bytes", [][]byte{clientFrame(true, opPing, bytes.Repeat([]byte("p"), 126))}, closeProtocolError},
		{"continuation without a message", [][]byte{clientFrame(true, opContinuation, []byte("x"))}, closeProtocolError},
		{"message inside a fragmented one", [][]byte{clientFrame(false, opText, []byte("4")), clientFrame(true, opText, []byte("4x"))}, closeProtocolError},
		{"length with its top bit", [][]byte{topBit}, closeProtocolError},
		{"message over the limit", [][]byte{clientFrame(true, opText, bytes.Repeat([]byte("x"), 101))}, closeMessageTooBig},
		{"fragments over the limit", [][]byte{clientFrame(false, opText, bytes.Repeat([]byte("x"), 60)), clientFrame(true, opContinuation, bytes.Repeat([]byte("x"), 41))}, closeMessageTooBig},
	}
	for _, tt := range tests {
		r := frameReader{maxMessage: 100}
		var c collected
		err := r.feed(bytes.Join(tt.stream, nil), &c)
		var fe *wsFramingError
		if !errors.As(err, &fe) || fe.Code != tt.code {
			t.Errorf("%s: %v, want close code %d", tt.name, err, tt.code)
		}
	}
	// At the limit exactly is fine, whole or in fragments.
	r := frameReader{maxMessage: 100}
	var c collected
	ok := bytes.Join([][]byte{
		clientFrame(true, opText, bytes.Repeat([]byte("x"), 100)),
		clientFrame(false, opText, bytes.Repeat([]byte("x"), 60)),
		clientFrame(true, opContinuation, bytes.Repeat([]byte("x"), 40)),
	}, nil)
	if err := r.feed(ok, &c); err != nil || len(c.got) != 2 {
		t.Errorf("messages of exactly the limit: %v, %d messages", err, len(c.got))
	}
}

// TestFrameReaderHoldsNothingBetweenMessages: the memory an idle socket
// keeps on its read side is none.
func TestFrameReaderHoldsNothingBetweenMessages(t *testing.T) {
	r := frameReader{maxMessage: 1 << 20}
	var c collected
	frame := clientFrame(true, opText, bytes.Repeat([]byte("x"), 5000))
	if err := r.feed(frame[:100], &c); err != nil || r.partial == nil {
		t.Fatalf("a partial frame: %v, partial %d bytes", err, len(r.partial))
	}
	if err := r.feed(frame[100:], &c); err != nil || len(c.got) != 1 {
		t.Fatalf("the rest: %v, %d messages", err, len(c.got))
	}
	if r.partial != nil || r.fragments != nil {
		t.Errorf("after a whole message the reader holds %d + %d bytes", cap(r.partial), cap(r.fragments))
	}
}

func TestCloseFrameCode(t *testing.T) {
	tests := []struct {
		payload []byte
		want    uint16
		bad     bool
	}{
		{nil, 0, false},
		{closePayload(1000), 1000, false},
		{append(closePayload(1001), "bye"...), 1001, false},
		{closePayload(4000), 4000, false},
		{[]byte{3}, 0, true},
		{closePayload(1005), 0, true}, // never on the wire
		{closePayload(999), 0, true},
		{append(closePayload(1000), 0xff), 0, true}, // reason not UTF-8
	}
	for _, tt := range tests {
		got, err := closeFrameCode(tt.payload)
		if (err != nil) != tt.bad || got != tt.want {
			t.Errorf("closeFrameCode(%v) = %v, %v", tt.payload, got, err)
		}
	}
}

// FuzzFrameReader: whatever the bytes and however they are cut, the reader
// never panics, never holds more than one frame, and a stream cut in two
// reads gives what it gives whole.
func FuzzFrameReader(f *testing.F) {
	f.Add(clientFrame(true, opText, []byte("4hello")), 3)
	f.Add(append(clientFrame(false, opBinary, []byte("ab")), clientFrame(true, opContinuation, []byte("cd"))...), 7)
	f.Add(clientFrame(true, opClose, closePayload(1000)), 1)
	f.Fuzz(func(t *testing.T, stream []byte, cut int) {
		whole := frameReader{maxMessage: 4096}
		var a collected
		errWhole := whole.feed(bytes.Clone(stream), &a)
		if len(stream) == 0 {
			return
		}
		cut = ((cut % len(stream)) + len(stream)) % len(stream)
		split := frameReader{maxMessage: 4096}
		var b collected
		data := bytes.Clone(stream)
		errSplit := split.feed(data[:cut], &b)
		if errSplit == nil {
			errSplit = split.feed(data[cut:], &b)
		}
		if (errWhole == nil) != (errSplit == nil) || strings.Join(a.got, "|") != strings.Join(b.got, "|") {
			t.Fatalf("whole: %q %v; cut at %d: %q %v", a.got, errWhole, cut, b.got, errSplit)
		}
		if len(split.partial) > 4096+maxFrameHeader {
			t.Fatalf("holds %d bytes of a partial frame", len(split.partial))
		}
	})
}
