package socketio

// The packet codec for the Socket.IO wire format shared by protocol revisions 4
// (socket.io-parser 3.x, socket.io-client 2.x) and 5 (socket.io-parser 4.x,
// socket.io-client 3.x/4.x). Both revisions use the same text encoding:
//
//	<type>[<attachments>-][<namespace>,][<ack id>][<JSON payload>]
//
// followed, for BINARY_EVENT and BINARY_ACK, by one binary message per
// attachment. The revisions differ only in which payloads a packet type may
// carry (v4 CONNECT_ERROR/"ERROR" carries a string, v5 an object; v5 CONNECT
// may carry an auth object), and the decoder accepts the union.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
)

// packetType is the first character of an encoded packet.
type packetType byte

// Packet types. packetConnectError is called "ERROR" in protocol v4; the code
// and its use (refusing a namespace connection) are the same.
const (
	packetConnect      packetType = 0
	packetDisconnect   packetType = 1
	packetEvent        packetType = 2
	packetAck          packetType = 3
	packetConnectError packetType = 4
	packetBinaryEvent  packetType = 5
	packetBinaryAck    packetType = 6
)

var packetTypeNames = [...]string{"CONNECT", "DISCONNECT", "EVENT", "ACK", "CONNECT_ERROR", "BINARY_EVENT", "BINARY_ACK"}

func (t packetType) String() string {
	if int(t) < len(packetTypeNames) {
		return packetTypeNames[t]
	}
	return "PacketType(" + strconv.Itoa(int(t)) + ")"
}

// isBinary reports whether packets of this type announce binary attachments.
func (t packetType) isBinary() bool { return t == packetBinaryEvent || t == packetBinaryAck }

// packet is one decoded Socket.IO packet.
//
// Packets returned by a decoder alias the messages they were decoded from:
// Data points into the text message and Attachments are the binary messages
// themselves, so callers must not reuse those buffers.
type packet struct {
	Type packetType
	// Namespace is "/" when absent on the wire. For a protocol v4 CONNECT it
	// may carry a query ("/admin?token=1"); see splitNamespaceQuery.
	Namespace string
	// ID is the acknowledgement id, valid when HasID.
	ID    int64
	HasID bool
	// Data is the JSON payload exactly as on the wire, minus surrounding
	// whitespace, with attachment placeholders still in place; nil if none.
	Data json.RawMessage
	// Attachments are the binary attachments in placeholder "num" order; once
	// a packet is complete len(Attachments) is the announced count.
	Attachments [][]byte
}

// Decoding errors. Errors returned by the decoder and the argument functions
// wrap one of these with detail.
var (
	errInvalidPacket      = errors.New("socketio: invalid packet")
	errTooManyAttachments = errors.New("socketio: too many binary attachments")
	errUnexpectedBinary   = errors.New("socketio: unexpected binary message")
	errJSONTooDeep        = errors.New("socketio: JSON payload nested too deeply")
	errBadPlaceholder     = errors.New("socketio: bad attachment placeholder")
)

// decoder limit defaults, used for zero (or negative) decoderLimits fields.
// The first two have the values of Config's DefaultMaxAttachments and
// DefaultMaxJSONDepth.
const (
	// defaultMaxAttachments bounds the binary messages one packet may
	// announce. Together with the Engine.IO per-message size limit it bounds
	// the memory one incomplete packet can hold.
	defaultMaxAttachments = 10
	// defaultMaxJSONDepth bounds array/object nesting of a payload; the
	// top-level array of an event counts as depth 1.
	defaultMaxJSONDepth = 32
	// defaultMaxAckID is Number.MAX_SAFE_INTEGER: JavaScript clients keep
	// ack ids in a double, so larger ids cannot have come from one and could
	// not be echoed back exactly.
	defaultMaxAckID int64 = 1<<53 - 1
)

// decoderLimits bounds what one connection's decoder accepts. A zero or
// negative field means its default.
type decoderLimits struct {
	// MaxAttachments is the largest attachment count a binary packet may
	// announce (default 10).
	MaxAttachments int
	// MaxJSONDepth is the deepest array/object nesting accepted in a payload
	// (default 32).
	MaxJSONDepth int
	// MaxAckID is the largest acknowledgement id accepted (default
	// defaultMaxAckID).
	MaxAckID int64
}

func (l decoderLimits) withDefaults() decoderLimits {
	if l.MaxAttachments <= 0 {
		l.MaxAttachments = defaultMaxAttachments
	}
	if l.MaxJSONDepth <= 0 {
		l.MaxJSONDepth = defaultMaxJSONDepth
	}
	if l.MaxAckID <= 0 {
		l.MaxAckID = defaultMaxAckID
	}
	return l
}

// decoder turns the messages of one connection into packets, reassembling
// binary packets from their text part and the binary messages that follow.
// It is not safe for concurrent use. After any error the decoder has
// dropped any partial packet and can be fed again, although callers normally
// close the connection instead.
//
// Compared with the reference parser the decoder is deliberately strict:
//   - an attachment count needs at least one digit and is bounded;
//   - the ack id is bounded by MaxAckID; ACK and BINARY_ACK need one,
//     CONNECT, DISCONNECT and CONNECT_ERROR must not carry one;
//   - EVENT and BINARY_EVENT need a non-empty array payload whose first
//     element is a string (the reference also accepts a number);
//   - ACK and BINARY_ACK need an array payload; CONNECT an object or none;
//     CONNECT_ERROR a string (v4), an object (v5) or none; DISCONNECT none;
//   - in a binary packet every placeholder must be exactly
//     {"_placeholder":true,"num":N} with N an integer in [0, count), and
//     every attachment must be referenced exactly once.
//
// A binary packet announcing zero attachments is complete at once, like in
// the reference parser; it then must not contain placeholders. A namespace
// runs from "/" to the next "," or, like in the reference parser, to the end
// of the message. Placeholders in non-binary packets are ordinary data.
type decoder struct {
	limits  decoderLimits
	pending *packet
	want    int
	scan    jsonScanner
	used    []bool
}

// newDecoder returns a decoder enforcing l (zero fields take defaults).
func newDecoder(l decoderLimits) *decoder {
	return &decoder{limits: l.withDefaults()}
}

// Reset drops any partially received binary packet.
func (d *decoder) Reset() {
	d.pending = nil
	d.want = 0
}

// addText feeds one text message. It returns the decoded packet, or nil and
// no error when the packet now waits for binary attachments.
func (d *decoder) addText(data []byte) (*packet, error) {
	if d.pending != nil {
		missing := d.want - len(d.pending.Attachments)
		d.Reset()
		return nil, fmt.Errorf("%w: text message while %d binary attachment(s) are still expected", errInvalidPacket, missing)
	}
	p, n, err := d.decodeText(data)
	if err != nil {
		return nil, err
	}
	if n > 0 {
		p.Attachments = make([][]byte, 0, n)
		d.pending, d.want = p, n
		return nil, nil
	}
	return p, nil
}

// addBinary feeds one binary message, the next attachment of the pending
// packet. It returns the packet once its last attachment arrived.
func (d *decoder) addBinary(data []byte) (*packet, error) {
	if d.pending == nil {
		return nil, fmt.Errorf("%w: no binary packet is waiting for attachments", errUnexpectedBinary)
	}
	p := d.pending
	p.Attachments = append(p.Attachments, data)
	if len(p.Attachments) < d.want {
		return nil, nil
	}
	d.Reset()
	return p, nil
}

func invalidf(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{errInvalidPacket}, args...)...)
}

// decodeText parses the text part of a packet and returns it with the number
// of attachments still to come.
func (d *decoder) decodeText(data []byte) (*packet, int, error) {
	if len(data) == 0 {
		return nil, 0, invalidf("empty message")
	}
	c := data[0]
	if c < '0' || c > '6' {
		return nil, 0, invalidf("unknown packet type %q", c)
	}
	p := &packet{Type: packetType(c - '0'), Namespace: "/"}
	i := 1

	attachments := 0
	if p.Type.isBinary() {
		start := i
		for ; i < len(data) && isDigit(data[i]); i++ {
			attachments = attachments*10 + int(data[i]-'0')
			if attachments > d.limits.MaxAttachments {
				return nil, 0, fmt.Errorf("%w: more than %d announced", errTooManyAttachments, d.limits.MaxAttachments)
			}
		}
		if i == start {
			return nil, 0, invalidf("%s without attachment count", p.Type)
		}
		if i == len(data) || data[i] != '-' {
			return nil, 0, invalidf("attachment count not followed by '-'")
		}
		i++
	}

	if i < len(data) && data[i] == '/' {
		end := bytes.IndexByte(data[i:], ',')
		next := len(data)
		if end < 0 {
			end = len(data)
		} else {
			end += i
			next = end + 1
		}
		if end-i > 1 {
			p.Namespace = string(data[i:end])
		}
		i = next
	}

	if i < len(data) && isDigit(data[i]) {
		var id int64
		for ; i < len(data) && isDigit(data[i]); i++ {
			digit := int64(data[i] - '0')
			if id > (d.limits.MaxAckID-digit)/10 {
				return nil, 0, invalidf("ack id larger than %d", d.limits.MaxAckID)
			}
			id = id*10 + digit
		}
		p.ID, p.HasID = id, true
	}

	payload := trimJSONSpace(data[i:])
	if len(payload) > 0 {
		p.Data = json.RawMessage(payload[:len(payload):len(payload)])
	}
	if err := checkShape(p); err != nil {
		return nil, 0, err
	}
	if p.Data == nil {
		if attachments > 0 {
			return nil, 0, fmt.Errorf("%w: %d attachment(s) announced but no payload", errBadPlaceholder, attachments)
		}
		return p, 0, nil
	}

	s := &d.scan
	s.maxDepth = d.limits.MaxJSONDepth
	s.wantPlaceholders = p.Type.isBinary()
	s.attachments = attachments
	s.collectElems = false
	if err := s.scan(p.Data); err != nil {
		return nil, 0, err
	}
	if (p.Type == packetEvent || p.Type == packetBinaryEvent) && (s.topElems == 0 || s.firstElemKind != kindString) {
		return nil, 0, invalidf("%s payload must be an array starting with the event name", p.Type)
	}
	if p.Type.isBinary() {
		if err := d.checkPlaceholderUse(s.placeholders, attachments); err != nil {
			return nil, 0, err
		}
	}
	return p, attachments, nil
}

// checkShape checks what the packet type allows before the payload is
// scanned; the first payload byte decides the JSON kind of a valid payload.
func checkShape(p *packet) error {
	var first byte
	if len(p.Data) > 0 {
		first = p.Data[0]
	}
	switch p.Type {
	case packetConnect:
		if p.HasID {
			return invalidf("CONNECT with an ack id")
		}
		if p.Data != nil && first != '{' {
			return invalidf("CONNECT payload must be an object")
		}
	case packetDisconnect:
		if p.HasID || p.Data != nil {
			return invalidf("DISCONNECT with an ack id or payload")
		}
	case packetConnectError:
		if p.HasID {
			return invalidf("CONNECT_ERROR with an ack id")
		}
		if p.Data != nil && first != '{' && first != '"' {
			return invalidf("CONNECT_ERROR payload must be an object or a string")
		}
	case packetEvent, packetBinaryEvent:
		if first != '[' {
			return invalidf("%s payload must be an array", p.Type)
		}
	case packetAck, packetBinaryAck:
		if !p.HasID {
			return invalidf("%s without an ack id", p.Type)
		}
		if first != '[' {
			return invalidf("%s payload must be an array", p.Type)
		}
	}
	return nil
}

func (d *decoder) checkPlaceholderUse(refs []placeholderRef, attachments int) error {
	if cap(d.used) < attachments {
		d.used = make([]bool, attachments)
	}
	used := d.used[:attachments]
	clear(used)
	for _, r := range refs {
		if used[r.num] {
			return fmt.Errorf("%w: attachment %d referenced twice", errBadPlaceholder, r.num)
		}
		used[r.num] = true
	}
	if len(refs) != attachments {
		return fmt.Errorf("%w: %d attachment(s) announced, %d referenced", errBadPlaceholder, attachments, len(refs))
	}
	return nil
}

// appendPacketText appends the text part of p to dst. For binary types it
// announces len(p.Attachments) attachments, which the caller sends as
// separate binary messages after the text. p must be well formed: a known
// type, a Namespace that is empty, "/" or starts with "/" and contains no
// ",", and Data that is valid JSON of the kind the type requires.
func appendPacketText(dst []byte, p *packet) []byte {
	dst = append(dst, '0'+byte(p.Type))
	if p.Type.isBinary() {
		dst = strconv.AppendInt(dst, int64(len(p.Attachments)), 10)
		dst = append(dst, '-')
	}
	if p.Namespace != "" && p.Namespace != "/" {
		dst = append(dst, p.Namespace...)
		dst = append(dst, ',')
	}
	if p.HasID {
		dst = strconv.AppendInt(dst, p.ID, 10)
	}
	return append(dst, p.Data...)
}

// splitNamespaceQuery separates the query a protocol v4 client appends to the
// namespace of its CONNECT packet ("/admin?token=1") from the namespace name.
func splitNamespaceQuery(ns string) (name, rawQuery string) {
	name, rawQuery, _ = strings.Cut(ns, "?")
	if name == "" {
		name = "/"
	}
	return name, rawQuery
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isJSONSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && isJSONSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isJSONSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// ---- JSON scanning ----
//
// jsonScanner validates one JSON value in a single linear pass with an
// explicit, depth-limited stack (no recursion), and on request records the
// attachment placeholders and the spans of the top-level array elements. It
// accepts exactly what encoding/json's Valid accepts (up to the depth limit).

type jsonKind byte

const (
	kindNone jsonKind = iota
	kindObject
	kindArray
	kindString
	kindNumber
	kindTrue
	kindFalse
	kindNull
)

type memberKey byte

const (
	keyOther memberKey = iota
	keyPlaceholder
	keyNum
)

type span struct{ start, end int }

// placeholderRef is a placeholder object at data[start:end] naming
// attachment num.
type placeholderRef struct {
	start, end int
	num        int
}

type scanFrame struct {
	object  bool
	start   int // offset of the opening bracket
	members int // members (objects) or elements (arrays) seen so far
	key     memberKey
	// placeholder bookkeeping, objects only
	placeholderTrue bool
	numStart        int
	numEnd          int // 0 when the object has no numeric "num" member
}

type jsonScanner struct {
	// configuration
	maxDepth         int
	wantPlaceholders bool
	attachments      int // placeholder nums must be below this
	collectElems     bool

	// results of the last scan
	topKind       jsonKind
	topElems      int // elements of a top-level array
	firstElemKind jsonKind
	elems         []span
	placeholders  []placeholderRef

	stack []scanFrame
}

var scannerPool = sync.Pool{New: func() any { return new(jsonScanner) }}

func syntaxError(data []byte, i int, what string) error {
	if i >= len(data) {
		return invalidf("invalid JSON: unexpected end of payload, %s", what)
	}
	return invalidf("invalid JSON at offset %d: %s, found %q", i, what, data[i])
}

// scan validates data as exactly one JSON value surrounded by optional
// whitespace.
func (s *jsonScanner) scan(data []byte) error {
	s.topKind, s.topElems, s.firstElemKind = kindNone, 0, kindNone
	s.elems = s.elems[:0]
	s.placeholders = s.placeholders[:0]
	s.stack = s.stack[:0]

	i := skipSpace(data, 0)
	for {
		// A value starts at i.
		if i >= len(data) {
			return syntaxError(data, i, "expected a value")
		}
		var kind jsonKind
		start := i
		switch c := data[i]; c {
		case '{', '[':
			if len(s.stack) >= s.maxDepth {
				return fmt.Errorf("%w: deeper than %d", errJSONTooDeep, s.maxDepth)
			}
			s.stack = append(s.stack, scanFrame{object: c == '{', start: i})
			i = skipSpace(data, i+1)
			closing := byte(']')
			if c == '{' {
				closing = '}'
			}
			if i < len(data) && data[i] == closing {
				i++
				s.stack = s.stack[:len(s.stack)-1]
				kind = kindArray
				if c == '{' {
					kind = kindObject
				}
				break
			}
			if c == '{' {
				var err error
				if i, err = s.scanKey(data, i); err != nil {
					return err
				}
			}
			continue
		case '"':
			end, _, err := scanString(data, i)
			if err != nil {
				return err
			}
			i, kind = end, kindString
		case 't':
			if !bytes.HasPrefix(data[i:], []byte("true")) {
				return syntaxError(data, i, "expected true")
			}
			i, kind = i+4, kindTrue
		case 'f':
			if !bytes.HasPrefix(data[i:], []byte("false")) {
				return syntaxError(data, i, "expected false")
			}
			i, kind = i+5, kindFalse
		case 'n':
			if !bytes.HasPrefix(data[i:], []byte("null")) {
				return syntaxError(data, i, "expected null")
			}
			i, kind = i+4, kindNull
		default:
			end, err := scanNumber(data, i)
			if err != nil {
				return err
			}
			i, kind = end, kindNumber
		}

		// A value of the given kind spans data[start:i]. Close as many
		// containers as it completes, then find where the next value starts.
		for {
			if len(s.stack) == 0 {
				s.topKind = kind
				if i = skipSpace(data, i); i != len(data) {
					return syntaxError(data, i, "expected end of payload")
				}
				return nil
			}
			top := &s.stack[len(s.stack)-1]
			s.noteValue(top, kind, start, i)
			i = skipSpace(data, i)
			if i >= len(data) {
				return syntaxError(data, i, "expected ',' or a closing bracket")
			}
			c := data[i]
			if c == ',' {
				i = skipSpace(data, i+1)
				if top.object {
					var err error
					if i, err = s.scanKey(data, i); err != nil {
						return err
					}
				}
				break
			}
			if (top.object && c == '}') || (!top.object && c == ']') {
				i++
				start, kind = top.start, kindArray
				if top.object {
					kind = kindObject
					if s.wantPlaceholders && top.placeholderTrue {
						if err := s.addPlaceholder(data, top, i); err != nil {
							return err
						}
					}
				}
				s.stack = s.stack[:len(s.stack)-1]
				continue
			}
			return syntaxError(data, i, "expected ',' or a closing bracket")
		}
	}
}

// noteValue records a completed value inside the container top.
func (s *jsonScanner) noteValue(top *scanFrame, kind jsonKind, start, end int) {
	if top.object {
		switch top.key {
		case keyPlaceholder:
			if kind == kindTrue {
				top.placeholderTrue = true
			}
		case keyNum:
			if kind == kindNumber {
				top.numStart, top.numEnd = start, end
			}
		}
		top.members++
		return
	}
	if len(s.stack) == 1 {
		if top.members == 0 {
			s.firstElemKind = kind
		}
		if s.collectElems {
			s.elems = append(s.elems, span{start, end})
		}
		s.topElems++
	}
	top.members++
}

// addPlaceholder validates the placeholder object ending at end.
func (s *jsonScanner) addPlaceholder(data []byte, f *scanFrame, end int) error {
	if f.members != 2 || f.numEnd == 0 {
		return fmt.Errorf("%w: placeholder at offset %d must be exactly {\"_placeholder\":true,\"num\":N}", errBadPlaceholder, f.start)
	}
	num, ok := placeholderNum(data[f.numStart:f.numEnd], s.attachments)
	if !ok {
		return fmt.Errorf("%w: placeholder num %s is not an integer in [0,%d)", errBadPlaceholder, data[f.numStart:f.numEnd], s.attachments)
	}
	s.placeholders = append(s.placeholders, placeholderRef{start: f.start, end: end, num: num})
	return nil
}

// placeholderNum interprets a JSON number like JavaScript would when
// indexing the attachment list: any integral value in range, so 1.0 and 1e0
// both name attachment 1.
func placeholderNum(lit []byte, attachments int) (int, bool) {
	if len(lit) <= 3 && isDigit(lit[0]) { // fast path for small plain integers
		n := 0
		plain := true
		for _, c := range lit {
			if !isDigit(c) {
				plain = false
				break
			}
			n = n*10 + int(c-'0')
		}
		if plain {
			return n, n < attachments
		}
	}
	f, err := strconv.ParseFloat(string(lit), 64)
	if err != nil || f != float64(int64(f)) || f < 0 || f >= float64(attachments) {
		return 0, false
	}
	return int(f), true
}

// scanKey parses an object member name and the colon after it, returning
// the offset where the member value starts.
func (s *jsonScanner) scanKey(data []byte, i int) (int, error) {
	if i >= len(data) || data[i] != '"' {
		return i, syntaxError(data, i, "expected a member name")
	}
	end, escaped, err := scanString(data, i)
	if err != nil {
		return i, err
	}
	top := &s.stack[len(s.stack)-1]
	top.key = keyOther
	if s.wantPlaceholders {
		name := data[i+1 : end-1]
		if escaped {
			var unquoted string
			if json.Unmarshal(data[i:end], &unquoted) == nil {
				name = []byte(unquoted)
			}
		}
		switch string(name) {
		case "_placeholder":
			top.key = keyPlaceholder
		case "num":
			top.key = keyNum
		}
	}
	i = skipSpace(data, end)
	if i >= len(data) || data[i] != ':' {
		return i, syntaxError(data, i, "expected ':'")
	}
	return skipSpace(data, i+1), nil
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isJSONSpace(data[i]) {
		i++
	}
	return i
}

// scanString returns the offset just past the string starting at data[i]
// (a '"') and whether it contains escapes.
func scanString(data []byte, i int) (end int, escaped bool, err error) {
	for j := i + 1; j < len(data); j++ {
		switch c := data[j]; {
		case c == '"':
			return j + 1, escaped, nil
		case c == '\\':
			escaped = true
			j++
			if j >= len(data) {
				return 0, false, syntaxError(data, j, "unterminated escape")
			}
			switch data[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if j+4 >= len(data) {
					return 0, false, syntaxError(data, len(data), "unterminated \\u escape")
				}
				for k := j + 1; k <= j+4; k++ {
					if !isHex(data[k]) {
						return 0, false, syntaxError(data, k, "expected a hex digit in \\u escape")
					}
				}
				j += 4
			default:
				return 0, false, syntaxError(data, j, "invalid escape")
			}
		case c < 0x20:
			return 0, false, syntaxError(data, j, "control character in string")
		}
	}
	return 0, false, syntaxError(data, len(data), "unterminated string")
}

func isHex(c byte) bool {
	return isDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

// scanNumber returns the offset just past the number starting at data[i].
func scanNumber(data []byte, i int) (int, error) {
	if data[i] == '-' {
		i++
	}
	switch {
	case i < len(data) && data[i] == '0':
		i++
	case i < len(data) && data[i] >= '1' && data[i] <= '9':
		i = skipDigits(data, i+1)
	default:
		return i, syntaxError(data, i, "expected a value")
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || !isDigit(data[i]) {
			return i, syntaxError(data, i, "expected a digit after the decimal point")
		}
		i = skipDigits(data, i)
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || !isDigit(data[i]) {
			return i, syntaxError(data, i, "expected a digit in the exponent")
		}
		i = skipDigits(data, i)
	}
	return i, nil
}

func skipDigits(data []byte, i int) int {
	for i < len(data) && isDigit(data[i]) {
		i++
	}
	return i
}
