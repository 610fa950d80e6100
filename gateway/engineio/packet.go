// Package engineio implements the server side of the Engine.IO protocol,
// revisions 3 (socket.io-client 2.x) and 4 (socket.io-client 3.x/4.x), over
// HTTP long-polling and WebSocket, including the polling-to-WebSocket upgrade.
package engineio

import "errors"

// PacketType is the Engine.IO packet type, identical in protocol v3 and v4.
type PacketType byte

const (
	PacketOpen    PacketType = 0
	PacketClose   PacketType = 1
	PacketPing    PacketType = 2
	PacketPong    PacketType = 3
	PacketMessage PacketType = 4
	PacketUpgrade PacketType = 5
	PacketNoop    PacketType = 6
)

// packet is one Engine.IO packet. Binary is only meaningful for
// PacketMessage: it marks data that travels as bytes (a binary WebSocket
// frame, a base64 "b" packet, or an XHR2 binary payload entry).
type packet struct {
	Type   PacketType
	Data   []byte
	Binary bool
}

// Protocol revisions, as sent in the EIO query parameter.
const (
	ProtocolV3 = 3
	ProtocolV4 = 4
)

// Decoding errors. Every malformed input maps to one of these so callers
// can close the session with a protocol error instead of guessing.
var (
	errInvalidPayload = errors.New("engineio: invalid payload")
	errInvalidPacket  = errors.New("engineio: invalid packet")
	errPayloadTooLong = errors.New("engineio: payload too long")
)
