package engineio

import (
	"encoding/binary"
	"errors"
	"strconv"
	"unicode/utf8"
)

// WebSocket opcodes of client frames (RFC 6455 section 5.2), beside the
// ones the server writes (message.go).
const (
	opContinuation = 0x0
	opPing         = 0x9
)

// Close codes the server sends (RFC 6455 section 7.4.1).
const (
	closeNormal        = 1000
	closeProtocolError = 1002
	closeNoStatus      = 1005 // never on the wire: a close frame without a code
	closeMessageTooBig = 1009
)

// wsFramingError is a client frame the protocol forbids; Code is the close
// code the connection is closed with.
type wsFramingError struct {
	Code int
	Text string
}

func (e *wsFramingError) Error() string {
	return "engineio: websocket " + e.Text + " (close " + strconv.Itoa(e.Code) + ")"
}

func framingError(text string) *wsFramingError {
	return &wsFramingError{Code: closeProtocolError, Text: text}
}

var errMessageTooBig = &wsFramingError{Code: closeMessageTooBig, Text: "message over the frame limit"}

// frameReader turns the bytes a client sends into whole messages, whatever
// way the reads cut them: it is fed each read as it comes and hands every
// complete message or control frame to a callback. It replaces a blocking
// reader (gorilla/websocket's) so that a connection can be read by whoever
// has bytes for it, a poller or a goroutine, and holds no buffer at all
// between messages: partial is non-nil only while a frame is incomplete.
//
// It checks what RFC 6455 requires of a server: client frames are masked,
// no reserved bit or opcode is used (no extension is ever negotiated),
// control frames are final and at most 125 bytes, continuations continue
// something, and a message (all its fragments) is at most maxMessage bytes.
type frameReader struct {
	maxMessage int64
	// partial holds the bytes of a frame that is not complete yet.
	partial []byte
	// fragments is the payload of a fragmented message so far, and
	// fragmentOp its opcode (text or binary); 0 when none is in progress.
	fragments  []byte
	fragmentOp byte
}

// frameSink receives one complete message (op is opText or opBinary) or
// control frame (opPing, opPong, opClose). payload is only valid during
// the call. An error stops the feed and is returned by it.
type frameSink interface {
	frame(op byte, payload []byte) error
}

// maxFrameHeader is the longest frame header: 2 bytes, an 8-byte length,
// a 4-byte mask.
const maxFrameHeader = 14

// feed consumes data, calling h for each message and control frame
// completed by it, in order. After an error the reader must not be fed
// again.
func (r *frameReader) feed(data []byte, h frameSink) error {
	if len(r.partial) > 0 {
		// Complete the frame held back, taking from data no more than it
		// needs, so that what follows is parsed in place.
		for len(data) > 0 {
			need, err := r.frameSize(r.partial)
			if err != nil {
				return err
			}
			if need == 0 { // header still incomplete: one more byte at a time is enough
				need = len(r.partial) + 1
			}
			take := min(need-len(r.partial), len(data))
			r.partial = append(r.partial, data[:take]...)
			data = data[take:]
			if n, err := r.frameSize(r.partial); err != nil {
				return err
			} else if n > 0 && len(r.partial) == n {
				frame := r.partial
				r.partial = nil
				if err := r.parse(frame, h); err != nil {
					return err
				}
				break
			}
		}
		if len(r.partial) > 0 {
			return nil
		}
	}
	for len(data) > 0 {
		n, err := r.frameSize(data)
		if err != nil {
			return err
		}
		if n == 0 || n > len(data) {
			// Kept for the next read; sized for the whole frame, which
			// frameSize has bounded by maxMessage.
			size := max(n, maxFrameHeader)
			r.partial = append(make([]byte, 0, size), data...)
			return nil
		}
		if err := r.parse(data[:n], h); err != nil {
			return err
		}
		data = data[n:]
	}
	return nil
}

// frameSize reports the total size of the frame b starts with, 0 when its
// header is not complete yet. It refuses what the header alone shows to be
// wrong, before any of the payload is held.
func (r *frameReader) frameSize(b []byte) (int, error) {
	if len(b) < 2 {
		return 0, nil
	}
	b0, b1 := b[0], b[1]
	if b0&0x70 != 0 {
		return 0, framingError("frame with a reserved bit set")
	}
	if b1&0x80 == 0 {
		return 0, framingError("unmasked client frame")
	}
	op := b0 & 0x0F
	fin := b0&0x80 != 0
	header := 2
	length := int64(b1 & 0x7F)
	switch length {
	case 126:
		header += 2
		if len(b) < header {
			return 0, nil
		}
		length = int64(binary.BigEndian.Uint16(b[2:4]))
	case 127:
		header += 8
		if len(b) < header {
			return 0, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return 0, framingError("frame length with its top bit set")
		}
		length = int64(u)
	}
	header += 4 // the mask
	switch op {
	case opText, opBinary:
		if r.fragmentOp != 0 {
			return 0, framingError("new message inside a fragmented one")
		}
		if length > r.maxMessage {
			return 0, errMessageTooBig
		}
	case opContinuation:
		if r.fragmentOp == 0 {
			return 0, framingError("continuation without a message")
		}
		if int64(len(r.fragments))+length > r.maxMessage {
			return 0, errMessageTooBig
		}
	case opClose, opPing, opPong:
		if !fin {
			return 0, framingError("fragmented control frame")
		}
		if length > 125 {
			return 0, framingError("control frame over 125 bytes")
		}
	default:
		return 0, framingError("unknown opcode " + strconv.Itoa(int(op)))
	}
	if len(b) < header {
		return 0, nil
	}
	return header + int(length), nil
}

// parse unmasks one complete frame in place and hands on what it
// completes.
func (r *frameReader) parse(f []byte, h frameSink) error {
	op := f[0] & 0x0F
	fin := f[0]&0x80 != 0
	header := 2
	switch f[1] & 0x7F {
	case 126:
		header += 2
	case 127:
		header += 8
	}
	mask := f[header : header+4]
	payload := f[header+4:]
	unmask(payload, mask)
	switch {
	case op >= opClose:
		return h.frame(op, payload)
	case op == opContinuation:
		r.fragments = append(r.fragments, payload...)
		if !fin {
			return nil
		}
		op, msg := r.fragmentOp, r.fragments
		r.fragments, r.fragmentOp = nil, 0
		return h.frame(op, msg)
	case !fin:
		r.fragmentOp = op
		r.fragments = append(make([]byte, 0, len(payload)), payload...)
		return nil
	default:
		return h.frame(op, payload)
	}
}

// unmask XORs b with the client's 4-byte mask key (RFC 6455 section 5.3).
func unmask(b, key []byte) {
	if len(b) >= 8 {
		k32 := binary.LittleEndian.Uint32(key)
		k64 := uint64(k32) | uint64(k32)<<32
		for len(b) >= 8 {
			binary.LittleEndian.PutUint64(b, binary.LittleEndian.Uint64(b)^k64)
			b = b[8:]
		}
	}
	for i := range b {
		b[i] ^= key[i&3]
	}
}

// closeFrameCode checks a client's close frame and returns its code, 0 when
// it has none; the server's close frame answers with the same code, or
// none (RFC 6455 section 5.5.1).
func closeFrameCode(payload []byte) (uint16, error) {
	switch {
	case len(payload) == 0:
		return 0, nil
	case len(payload) == 1:
		return 0, framingError("close frame of one byte")
	}
	code := int(binary.BigEndian.Uint16(payload))
	if !validCloseCode(code) {
		return 0, framingError("close code " + strconv.Itoa(code))
	}
	if !utf8.Valid(payload[2:]) {
		return 0, framingError("close reason not UTF-8")
	}
	return uint16(code), nil
}

// validCloseCode is what a client may send (RFC 6455 section 7.4).
func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014:
		return true
	default:
		return code >= 3000 && code <= 4999
	}
}

func closePayload(code int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(code))
}

// errPeerClosed ends a read: the client sent a close frame.
var errPeerClosed = errors.New("engineio: websocket closed by the client")
