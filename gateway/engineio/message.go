package engineio

import (
	"encoding/binary"
	"sync"
)

// Message is one outbound unit: an Engine.IO packet, or a Socket.IO packet
// made of a text part followed by binary attachments that must travel back
// to back. A Message is immutable once built and may be queued on many
// sessions at once: the WebSocket frames are built on first use and then
// shared, so a broadcast is framed once, not once per recipient.
type Message struct {
	Type PacketType
	// Binary marks a message packet whose Text travels as bytes (a plain
	// Engine.IO binary message, not a Socket.IO attachment).
	Binary bool
	// Text is the packet data after the type character ("probe" for a pong,
	// the Socket.IO packet text for a message).
	Text []byte
	// Attachments are sent as binary messages right after Text.
	Attachments [][]byte

	framesOnce [2]sync.Once
	frames     [2][][]byte // per protocol (index protocol-3): ready-to-write WebSocket frames
}

// NewMessage builds a message packet carrying a Socket.IO packet.
func NewMessage(text []byte, attachments [][]byte) *Message {
	return &Message{Type: PacketMessage, Text: text, Attachments: attachments}
}

// NewBinaryMessage builds a message packet whose data is binary.
func NewBinaryMessage(data []byte) *Message {
	return &Message{Type: PacketMessage, Text: data, Binary: true}
}

func newControl(t PacketType, text string) *Message {
	return &Message{Type: t, Text: []byte(text)}
}

// newWSControl is a WebSocket control frame (a pong) to queue among a
// WebSocket session's messages. It has no Engine.IO form: polling never
// sees one.
func newWSControl(frame []byte) *Message {
	m := &Message{Type: PacketNoop, Text: frame}
	for i := range m.framesOnce {
		m.framesOnce[i].Do(func() { m.frames[i] = [][]byte{frame} })
	}
	return m
}

// size is what the message costs against a session's outbound budget.
func (m *Message) size() int64 {
	n := int64(len(m.Text)) + 1
	for _, a := range m.Attachments {
		n += int64(len(a)) + 1
	}
	return n
}

// wsFrames returns the WebSocket frames for protocol v3 or v4. Server frames
// are unmasked, so the bytes are the same for every recipient and are built
// once. Text frames are identical in v3 and v4; binary frames differ (v3
// prefixes the packet type byte).
func (m *Message) wsFrames(protocol int) [][]byte {
	i := protocol - ProtocolV3
	m.framesOnce[i].Do(func() {
		frames := make([][]byte, 0, 1+len(m.Attachments))
		switch {
		case m.Binary && protocol == ProtocolV3:
			frames = append(frames, newWSFrame(opBinary, int(PacketMessage), m.Text))
		case m.Binary:
			frames = append(frames, newWSFrame(opBinary, noPrefix, m.Text))
		default:
			frames = append(frames, newWSFrame(opText, int('0'+m.Type), m.Text))
		}
		for _, a := range m.Attachments {
			if protocol == ProtocolV3 {
				frames = append(frames, newWSFrame(opBinary, int(PacketMessage), a))
			} else {
				frames = append(frames, newWSFrame(opBinary, noPrefix, a))
			}
		}
		m.frames[i] = frames
	})
	return m.frames[i]
}

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPong   = 0xA
)

// noPrefix marks a frame without an Engine.IO type byte before the payload.
const noPrefix = -1

// newWSFrame builds one frame in memory of its exact size, allocated once.
func newWSFrame(opcode byte, prefix int, payload []byte) []byte {
	n := len(payload)
	if prefix != noPrefix {
		n++
	}
	header := 2
	switch {
	case n > 0xFFFF:
		header += 8
	case n >= 126:
		header += 2
	}
	return appendWSFrame(make([]byte, 0, header+n), opcode, prefix, payload)
}

// appendWSFrame writes one final, unmasked server frame. The gateway writes
// frames itself rather than through the WebSocket library's writer so that a
// broadcast frame is built once and a burst of frames goes out in one writev.
func appendWSFrame(dst []byte, opcode byte, prefix int, payload []byte) []byte {
	n := len(payload)
	if prefix != noPrefix {
		n++
	}
	dst = append(dst, 0x80|opcode)
	switch {
	case n < 126:
		dst = append(dst, byte(n))
	case n <= 0xFFFF:
		dst = append(dst, 126, 0, 0)
		binary.BigEndian.PutUint16(dst[len(dst)-2:], uint16(n))
	default:
		dst = append(dst, 127, 0, 0, 0, 0, 0, 0, 0, 0)
		binary.BigEndian.PutUint64(dst[len(dst)-8:], uint64(n))
	}
	if prefix != noPrefix {
		dst = append(dst, byte(prefix))
	}
	return append(dst, payload...)
}

// packets expands a message into Engine.IO packets for the polling encoders.
func (m *Message) appendPackets(dst []packet) []packet {
	dst = append(dst, packet{Type: m.Type, Data: m.Text, Binary: m.Binary})
	for _, a := range m.Attachments {
		dst = append(dst, packet{Type: PacketMessage, Data: a, Binary: true})
	}
	return dst
}
