package engineio

// Wire codecs for Engine.IO packets and long-polling payloads.
//
// Formats, as produced and accepted by the reference engine.io-parser:
//
//   - Packet, text form (v3 and v4): one ASCII digit '0'..'6' for the type,
//     then the UTF-8 data.
//   - WebSocket binary frame: v3 puts the type as a raw byte (0x04) before
//     the bytes; v4 sends the bytes of a message packet unchanged.
//   - WebSocket text frame of a client or server in base64 mode (b64=1):
//     v3 "b4<base64>", v4 "b<base64>".
//   - v4 polling payload: packets joined by 0x1e; binary as 'b'+base64.
//   - v3 polling payload, string form: "<len>:<packet>" repeated, where len
//     is the packet's JavaScript String.length (UTF-16 code units, so an
//     emoji counts 2 and "€" counts 1); binary as "b<type><base64>".
//   - v3 polling payload, XHR2 binary form (Content-Type
//     application/octet-stream): per packet a kind byte (0 text, 1 binary),
//     the decimal digits of the length as raw bytes 0..9, 0xFF, then the
//     packet. Text packets are carried as their UTF-8 bytes (engine.io-parser
//     2 runs them through utf8.js before writing one byte per char), so their
//     length counts UTF-8 bytes, type character included; binary packets are
//     the type byte followed by the data.
//
// Decoded packets alias the input: Data of a text or raw binary packet is a
// sub-slice of the body or frame passed in (base64 packets get fresh memory).
// Callers must neither modify nor reuse that buffer while packets are alive.
//
// Text data must be valid UTF-8: decoders reject anything else (including
// the surrogate code points utf8.js would let through; its encoder never
// produces them, it writes U+FFFD for lone surrogates), and encoders replace
// each invalid byte by U+FFFD so the lengths they announce always match what
// a JavaScript client decodes.

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"
)

const (
	// maxPacketsPerPayload caps the packets one long-polling body may carry,
	// bounding the work and the []packet a single request can cause. The
	// body size itself is capped by the caller (Config.MaxPayload). Real
	// clients flush their whole write buffer in one POST, so the cap is far
	// above what they send; a body over it is refused with errPayloadTooLong.
	maxPacketsPerPayload = 10000

	// maxLengthDigits caps the decimal digits of a v3 length prefix (both
	// payload forms). Nine digits allow packets up to 999,999,999 units,
	// beyond any sane MaxPayload, and cannot overflow even a 32-bit int.
	maxLengthDigits = 9

	// payloadSeparatorV4 joins packets in a v4 polling payload (ASCII record
	// separator). JSON-encoded Socket.IO packets never contain it raw.
	payloadSeparatorV4 = 0x1e

	// base64Prefix marks a base64-encoded binary packet in text transports.
	base64Prefix = 'b'

	// XHR2 binary payload markers (v3).
	xhr2KindText   = 0x00
	xhr2KindBinary = 0x01
	xhr2LengthEnd  = 0xFF

	// utf8ReplacementCh stands in for each invalid byte of outgoing text.
	utf8ReplacementCh = "\uFFFD"
)

// Sentinel-wrapping errors shared by several decoders; allocated once so the
// common failures cost nothing.
var (
	errEmptyPayload     = fmt.Errorf("%w: empty body", errInvalidPayload)
	errEmptyPacket      = fmt.Errorf("%w: empty packet", errInvalidPacket)
	errTooManyPackets   = fmt.Errorf("%w: more than %d packets in one payload", errPayloadTooLong, maxPacketsPerPayload)
	errInvalidUTF8      = fmt.Errorf("%w: text is not valid UTF-8", errInvalidPacket)
	errPayloadUTF8      = fmt.Errorf("%w: body is not valid UTF-8", errInvalidPayload)
	errMissingLength    = fmt.Errorf("%w: missing length before separator", errInvalidPayload)
	errLengthTooLong    = fmt.Errorf("%w: length has more than %d digits", errInvalidPayload, maxLengthDigits)
	errUnterminatedLen  = fmt.Errorf("%w: length is not terminated", errInvalidPayload)
	errLengthPastEnd    = fmt.Errorf("%w: length runs past the end of the body", errInvalidPayload)
	errSplitSurrogate   = fmt.Errorf("%w: length ends inside a surrogate pair", errInvalidPayload)
	errBase64NoType     = fmt.Errorf("%w: base64 packet without type", errInvalidPacket)
	errBinaryNoType     = fmt.Errorf("%w: binary packet without type byte", errInvalidPacket)
	errBadBase64        = fmt.Errorf("%w: malformed base64 data", errInvalidPacket)
	errEmptyXHR2Text    = fmt.Errorf("%w: empty text entry", errInvalidPayload)
	errUnknownProtocol  = fmt.Errorf("%w: unsupported protocol revision", errInvalidPacket)
	errUnknownTypeDigit = fmt.Errorf("%w: unknown packet type", errInvalidPacket)
)

// packetTypeFromChar maps '0'..'6' to a PacketType.
func packetTypeFromChar(c byte) (PacketType, bool) {
	if c < '0' || c > '0'+byte(PacketNoop) {
		return 0, false
	}
	return PacketType(c - '0'), true
}

func unknownTypeError(c byte) error {
	return fmt.Errorf("%w %q", errUnknownTypeDigit, c)
}

// decodePacketText decodes one packet in text form, such as a WebSocket text
// frame: "4hello" is a message with data "hello". Base64 packets ("b...")
// are not accepted here because their form depends on the protocol revision;
// use decodeTextFrame or the payload decoders for those.
func decodePacketText(data []byte) (packet, error) {
	if len(data) == 0 {
		return packet{}, errEmptyPacket
	}
	if !utf8.Valid(data) {
		return packet{}, errInvalidUTF8
	}
	return decodeValidTextPacket(data)
}

// decodeValidTextPacket is decodePacketText for data already known to be
// non-empty, valid UTF-8.
func decodeValidTextPacket(data []byte) (packet, error) {
	t, ok := packetTypeFromChar(data[0])
	if !ok {
		return packet{}, unknownTypeError(data[0])
	}
	return packet{Type: t, Data: data[1:]}, nil
}

// appendPacketText appends the text form of p. p.Binary must be false (use
// appendTextFrame or appendWSBinary for binary data). Invalid UTF-8 in
// p.Data is replaced, since browsers drop a WebSocket whose text frame is
// not UTF-8.
func appendPacketText(dst []byte, p packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	return appendValidUTF8(dst, p.Data)
}

// decodeTextFrame decodes a WebSocket text frame of the given revision,
// including base64 binary packets sent by clients in base64 mode
// ("b4AQI=" in v3, "bAQI=" in v4).
func decodeTextFrame(protocol int, data []byte) (packet, error) {
	if len(data) > 0 && data[0] == base64Prefix {
		switch protocol {
		case ProtocolV3:
			return decodeBase64PacketV3(data)
		case ProtocolV4:
			return decodeBase64PacketV4(data)
		default:
			return packet{}, errUnknownProtocol
		}
	}
	return decodePacketText(data)
}

// appendTextFrame appends p as a WebSocket text frame of the given revision:
// binary packets become base64 packets, for clients that asked for base64
// mode (b64=1). v4 can only carry binary messages, so a binary packet of
// another type is written as a message.
func appendTextFrame(protocol int, dst []byte, p packet) []byte {
	if !p.Binary {
		return appendPacketText(dst, p)
	}
	dst = append(dst, base64Prefix)
	if protocol == ProtocolV3 {
		dst = append(dst, '0'+byte(p.Type))
	}
	return base64.StdEncoding.AppendEncode(dst, p.Data)
}

// decodeBase64PacketV3 decodes "b<type><base64>".
func decodeBase64PacketV3(data []byte) (packet, error) {
	if len(data) < 2 {
		return packet{}, errBase64NoType
	}
	t, ok := packetTypeFromChar(data[1])
	if !ok {
		return packet{}, unknownTypeError(data[1])
	}
	decoded, err := decodeBase64(data[2:])
	if err != nil {
		return packet{}, err
	}
	return packet{Type: t, Data: decoded, Binary: true}, nil
}

// decodeBase64PacketV4 decodes "b<base64>", always a message. "b" alone is
// an empty binary message: that is how socket.io-client 3/4 sends an empty
// ArrayBuffer over polling, so it is valid.
func decodeBase64PacketV4(data []byte) (packet, error) {
	decoded, err := decodeBase64(data[1:])
	if err != nil {
		return packet{}, err
	}
	return packet{Type: PacketMessage, Data: decoded, Binary: true}, nil
}

func decodeBase64(src []byte) ([]byte, error) {
	if len(src) == 0 {
		return []byte{}, nil
	}
	out, err := base64.StdEncoding.AppendDecode(nil, src)
	if err != nil {
		return nil, errBadBase64
	}
	return out, nil
}

// decodeWSBinary decodes a WebSocket binary frame. In v3 the first byte is
// the packet type (0..6); in v4 the whole frame is the data of a message.
func decodeWSBinary(protocol int, data []byte) (packet, error) {
	switch protocol {
	case ProtocolV3:
		if len(data) == 0 {
			return packet{}, errBinaryNoType
		}
		if data[0] > byte(PacketNoop) {
			return packet{}, fmt.Errorf("%w: unknown binary packet type %d", errInvalidPacket, data[0])
		}
		return packet{Type: PacketType(data[0]), Data: data[1:], Binary: true}, nil
	case ProtocolV4:
		return packet{Type: PacketMessage, Data: data, Binary: true}, nil
	default:
		return packet{}, errUnknownProtocol
	}
}

// appendWSBinary appends the WebSocket binary frame carrying a binary
// message with the given data.
func appendWSBinary(protocol int, dst []byte, data []byte) []byte {
	if protocol == ProtocolV3 {
		dst = append(dst, byte(PacketMessage))
	}
	return append(dst, data...)
}

// decodePayloadV4 decodes a v4 long-polling body: packets joined by 0x1e,
// binary ones as 'b'+base64. Every entry must be a valid packet, so an empty
// entry (leading, trailing or doubled separator) is an error, as it is for
// engine.io-parser 5.
func decodePayloadV4(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errEmptyPayload
	}
	count := bytes.Count(body, []byte{payloadSeparatorV4}) + 1
	if count > maxPacketsPerPayload {
		return nil, errTooManyPackets
	}
	// Base64 and the separator are ASCII, so checking the whole body once
	// covers every text packet in it.
	if !utf8.Valid(body) {
		return nil, errPayloadUTF8
	}
	pkts := make([]packet, 0, count)
	for rest := body; ; {
		entry := rest
		i := bytes.IndexByte(rest, payloadSeparatorV4)
		if i >= 0 {
			entry = rest[:i]
		}
		var (
			p   packet
			err error
		)
		switch {
		case len(entry) == 0:
			err = errEmptyPacket
		case entry[0] == base64Prefix:
			p, err = decodeBase64PacketV4(entry)
		default:
			p, err = decodeValidTextPacket(entry)
		}
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
		if i < 0 {
			return pkts, nil
		}
		rest = rest[i+1:]
	}
}

// appendPayloadV4 appends a v4 long-polling body. Text data must not contain
// 0x1e (JSON never does); binary packets are always written as messages.
func appendPayloadV4(dst []byte, pkts []packet) []byte {
	for i, p := range pkts {
		if i > 0 {
			dst = append(dst, payloadSeparatorV4)
		}
		if p.Binary {
			dst = append(dst, base64Prefix)
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		dst = appendPacketText(dst, p)
	}
	return dst
}

// decodePayloadV3String decodes a v3 long-polling body in string form:
// "<len>:<packet>" repeated, len in UTF-16 code units. Entries of length 0
// are skipped ("0:" is the reference encoding of an empty payload), so a
// valid body may yield no packets.
func decodePayloadV3String(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errEmptyPayload
	}
	var pkts []packet
	for pos := 0; pos < len(body); {
		units, start, err := parseV3TextLength(body, pos)
		if err != nil {
			return nil, err
		}
		size, err := utf16PrefixLen(body[start:], units)
		if err != nil {
			return nil, err
		}
		pos = start + size
		if size == 0 {
			continue
		}
		if len(pkts) == maxPacketsPerPayload {
			return nil, errTooManyPackets
		}
		// utf16PrefixLen has validated the UTF-8 already.
		p, err := decodeV3StringEntry(body[start:pos])
		if err != nil {
			return nil, err
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// parseV3TextLength reads the ASCII decimal length starting at pos and the
// ':' after it, returning the length and the index just past the ':'.
func parseV3TextLength(body []byte, pos int) (n, next int, err error) {
	digits := 0
	for i := pos; i < len(body); i++ {
		c := body[i]
		if c == ':' {
			if digits == 0 {
				return 0, 0, errMissingLength
			}
			return n, i + 1, nil
		}
		if c < '0' || c > '9' {
			return 0, 0, fmt.Errorf("%w: unexpected byte 0x%02x in length at offset %d", errInvalidPayload, c, i)
		}
		if digits == maxLengthDigits {
			return 0, 0, errLengthTooLong
		}
		digits++
		n = n*10 + int(c-'0')
	}
	return 0, 0, errUnterminatedLen
}

// decodeV3StringEntry decodes one non-empty, valid UTF-8 packet of a v3
// payload, which may be a base64 binary packet.
func decodeV3StringEntry(entry []byte) (packet, error) {
	if entry[0] == base64Prefix {
		return decodeBase64PacketV3(entry)
	}
	return decodeValidTextPacket(entry)
}

// appendPayloadV3String appends a v3 long-polling body in string form, with
// binary packets as "b<type><base64>". No packets encode as "0:", as the
// reference does.
func appendPayloadV3String(dst []byte, pkts []packet) []byte {
	if len(pkts) == 0 {
		return append(dst, '0', ':')
	}
	for _, p := range pkts {
		if p.Binary {
			n := 2 + base64.StdEncoding.EncodedLen(len(p.Data))
			dst = strconv.AppendInt(dst, int64(n), 10)
			dst = append(dst, ':', base64Prefix, '0'+byte(p.Type))
			dst = base64.StdEncoding.AppendEncode(dst, p.Data)
			continue
		}
		units, err := utf16Length(p.Data)
		if err != nil {
			units = utf16LengthReplacingInvalid(p.Data)
		}
		dst = strconv.AppendInt(dst, int64(1+units), 10)
		dst = append(dst, ':', '0'+byte(p.Type))
		dst = appendValidUTF8(dst, p.Data)
	}
	return dst
}

// decodePayloadV3Binary decodes a v3 long-polling body in XHR2 binary form.
// Text entries hold UTF-8 bytes and may themselves be base64 packets, as
// engine.io-parser 2 allows.
func decodePayloadV3Binary(body []byte) ([]packet, error) {
	if len(body) == 0 {
		return nil, errEmptyPayload
	}
	var pkts []packet
	for pos := 0; pos < len(body); {
		kind := body[pos]
		if kind != xhr2KindText && kind != xhr2KindBinary {
			return nil, fmt.Errorf("%w: unknown entry kind 0x%02x at offset %d", errInvalidPayload, kind, pos)
		}
		n, start, err := parseXHR2Length(body, pos+1)
		if err != nil {
			return nil, err
		}
		if n > len(body)-start {
			return nil, errLengthPastEnd
		}
		entry := body[start : start+n]
		pos = start + n
		if len(pkts) == maxPacketsPerPayload {
			return nil, errTooManyPackets
		}
		var p packet
		if kind == xhr2KindBinary {
			if len(entry) == 0 {
				return nil, errBinaryNoType
			}
			if entry[0] > byte(PacketNoop) {
				return nil, fmt.Errorf("%w: unknown binary packet type %d", errInvalidPacket, entry[0])
			}
			p = packet{Type: PacketType(entry[0]), Data: entry[1:], Binary: true}
		} else {
			if len(entry) == 0 {
				return nil, errEmptyXHR2Text
			}
			if !utf8.Valid(entry) {
				return nil, errInvalidUTF8
			}
			if p, err = decodeV3StringEntry(entry); err != nil {
				return nil, err
			}
		}
		pkts = append(pkts, p)
	}
	return pkts, nil
}

// parseXHR2Length reads length digits (raw bytes 0..9) starting at pos and
// the 0xFF after them, returning the length and the index past the 0xFF.
func parseXHR2Length(body []byte, pos int) (n, next int, err error) {
	digits := 0
	for i := pos; i < len(body); i++ {
		c := body[i]
		if c == xhr2LengthEnd {
			if digits == 0 {
				return 0, 0, errMissingLength
			}
			return n, i + 1, nil
		}
		if c > 9 {
			return 0, 0, fmt.Errorf("%w: unexpected byte 0x%02x in length at offset %d", errInvalidPayload, c, i)
		}
		if digits == maxLengthDigits {
			return 0, 0, errLengthTooLong
		}
		digits++
		n = n*10 + int(c)
	}
	return 0, 0, errUnterminatedLen
}

// appendPayloadV3Binary appends a v3 long-polling body in XHR2 binary form.
// No packets encode as an empty body, as the reference does.
func appendPayloadV3Binary(dst []byte, pkts []packet) []byte {
	for _, p := range pkts {
		if p.Binary {
			dst = append(dst, xhr2KindBinary)
			dst = appendXHR2Length(dst, 1+len(p.Data))
			dst = append(dst, byte(p.Type))
			dst = append(dst, p.Data...)
			continue
		}
		n := len(p.Data)
		if !utf8.Valid(p.Data) {
			n = validUTF8Len(p.Data)
		}
		dst = append(dst, xhr2KindText)
		dst = appendXHR2Length(dst, 1+n)
		dst = append(dst, '0'+byte(p.Type))
		dst = appendValidUTF8(dst, p.Data)
	}
	return dst
}

// appendXHR2Length appends n as decimal digits with values 0..9, then 0xFF.
func appendXHR2Length(dst []byte, n int) []byte {
	start := len(dst)
	dst = strconv.AppendInt(dst, int64(n), 10)
	for i := start; i < len(dst); i++ {
		dst[i] -= '0'
	}
	return append(dst, xhr2LengthEnd)
}

// utf16Length returns the UTF-16 length of the UTF-8 text b, which is what
// JavaScript's String.length reports for it: characters outside the Basic
// Multilingual Plane (emoji) count 2, every other character 1. Invalid
// UTF-8 is an error.
func utf16Length(b []byte) (int, error) {
	n := 0
	for i := 0; i < len(b); {
		if k := asciiPrefixLen(b[i:]); k > 0 {
			i += k
			n += k
			continue
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, errInvalidUTF8
		}
		i += size
		n += utf16Units(r)
	}
	return n, nil
}

// utf16PrefixLen returns how many bytes of the UTF-8 text b make up exactly
// units UTF-16 code units, validating them.
func utf16PrefixLen(b []byte, units int) (int, error) {
	i := 0
	for units > 0 {
		k := asciiPrefixLen(b[i:min(len(b), i+units)])
		i += k
		units -= k
		if units == 0 {
			break
		}
		if i >= len(b) {
			return 0, errLengthPastEnd
		}
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			return 0, errPayloadUTF8
		}
		w := utf16Units(r)
		if w > units {
			return 0, errSplitSurrogate
		}
		units -= w
		i += size
	}
	return i, nil
}

func utf16Units(r rune) int {
	if r >= 0x10000 {
		return 2
	}
	return 1
}

// asciiPrefixLen returns how many leading bytes of b are ASCII, checking
// eight at a time.
func asciiPrefixLen(b []byte) int {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		if binary.LittleEndian.Uint64(b[i:])&0x8080808080808080 != 0 {
			break
		}
	}
	for ; i < len(b); i++ {
		if b[i] >= utf8.RuneSelf {
			break
		}
	}
	return i
}

// utf16LengthReplacingInvalid is utf16Length for text whose invalid bytes
// will each be sent as U+FFFD (one unit).
func utf16LengthReplacingInvalid(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		i += size
		n += utf16Units(r)
	}
	return n
}

// validUTF8Len is the byte length of b once each invalid byte is replaced by
// U+FFFD.
func validUTF8Len(b []byte) int {
	n := 0
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		i += size
		if r == utf8.RuneError && size == 1 {
			n += len(utf8ReplacementCh)
		} else {
			n += size
		}
	}
	return n
}

// appendValidUTF8 appends b, replacing each invalid byte by U+FFFD so that
// JavaScript decoders see exactly the characters the lengths were computed
// for.
func appendValidUTF8(dst, b []byte) []byte {
	if utf8.Valid(b) {
		return append(dst, b...)
	}
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, utf8ReplacementCh...)
		} else {
			dst = append(dst, b[i:i+size]...)
		}
		i += size
	}
	return dst
}
