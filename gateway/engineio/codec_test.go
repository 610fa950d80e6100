package engineio

import (
	"bytes"
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf16"
)

// Text samples that exercise every UTF-8 width: accents (2 bytes), CJK and
// the euro sign (3 bytes, one UTF-16 unit), emoji (4 bytes, two units).
const (
	textAccents = "héllo wörld, ça va?"
	textCJK     = "你好，世界"
	textEmoji   = "hi 😀👍🏽"
	textMixed   = "héllo 😀 世界"
)

func text(t PacketType, s string) packet { return packet{Type: t, Data: []byte(s)} }
func bin(t PacketType, b ...byte) packet { return packet{Type: t, Data: b, Binary: true} }

func samePacket(a, b packet) bool {
	return a.Type == b.Type && a.Binary == b.Binary && bytes.Equal(a.Data, b.Data)
}

func samePackets(a, b []packet) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if !samePacket(a[i], b[i]) {
			return false
		}
	}
	return true
}

// isInputError reports whether err is one of the decoders' documented
// rejections, as opposed to an unexpected failure.
func isInputError(err error) bool {
	return errors.Is(err, errInvalidPayload) || errors.Is(err, errInvalidPacket) || errors.Is(err, errPayloadTooLong)
}

func checkErr(t *testing.T, err, want error) {
	t.Helper()
	if want == nil {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		return
	}
	if !errors.Is(err, want) {
		t.Fatalf("error = %v, want one wrapping %v", err, want)
	}
}

func TestDecodePacketText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want packet
		err  error
	}{
		{"message", "4hello", text(PacketMessage, "hello"), nil},
		{"ping probe", "2probe", text(PacketPing, "probe"), nil},
		{"pong probe", "3probe", text(PacketPong, "probe"), nil},
		{"upgrade", "5", text(PacketUpgrade, ""), nil},
		{"noop", "6", text(PacketNoop, ""), nil},
		{"close", "1", text(PacketClose, ""), nil},
		{"open", `0{"sid":"abc"}`, text(PacketOpen, `0{"sid":"abc"}`[1:]), nil},
		{"accents", "4" + textAccents, text(PacketMessage, textAccents), nil},
		{"cjk", "4" + textCJK, text(PacketMessage, textCJK), nil},
		{"emoji", "4" + textEmoji, text(PacketMessage, textEmoji), nil},
		{"empty", "", packet{}, errInvalidPacket},
		{"type 7", "7", packet{}, errInvalidPacket},
		{"letter type", "x", packet{}, errInvalidPacket},
		{"base64 not accepted", "b4AQI=", packet{}, errInvalidPacket},
		{"invalid utf8", "4\xff", packet{}, errInvalidPacket},
		{"surrogate bytes", "4\xed\xa0\x80", packet{}, errInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePacketText([]byte(tt.in))
			checkErr(t, err, tt.err)
			if tt.err == nil && !samePacket(got, tt.want) {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestAppendPacketText(t *testing.T) {
	tests := []struct {
		in   packet
		want string
	}{
		{text(PacketMessage, "hello"), "4hello"},
		{text(PacketPong, "probe"), "3probe"},
		{text(PacketPing, ""), "2"},
		{text(PacketMessage, textMixed), "4" + textMixed},
		{text(PacketMessage, "a\xffb"), "4a\uFFFDb"},
	}
	for _, tt := range tests {
		got := appendPacketText([]byte("prefix:"), tt.in)
		if string(got) != "prefix:"+tt.want {
			t.Errorf("appendPacketText(%+v) = %q, want %q", tt.in, got, "prefix:"+tt.want)
		}
	}
}

func TestTextFrames(t *testing.T) {
	tests := []struct {
		name     string
		protocol int
		frame    string
		want     packet
		err      error
	}{
		{"v3 text", ProtocolV3, "4hello", text(PacketMessage, "hello"), nil},
		{"v4 text", ProtocolV4, "4hello", text(PacketMessage, "hello"), nil},
		{"v3 base64", ProtocolV3, "b4AQIDBA==", bin(PacketMessage, 1, 2, 3, 4), nil},
		{"v4 base64", ProtocolV4, "bAQIDBA==", bin(PacketMessage, 1, 2, 3, 4), nil},
		{"v4 empty binary", ProtocolV4, "b", bin(PacketMessage), nil},
		{"v3 empty binary", ProtocolV3, "b4", bin(PacketMessage), nil},
		{"v3 base64 without type", ProtocolV3, "b", packet{}, errInvalidPacket},
		{"v3 base64 bad type", ProtocolV3, "b9AQ==", packet{}, errInvalidPacket},
		{"v4 bad base64", ProtocolV4, "bAQI", packet{}, errInvalidPacket},
		{"v3 bad base64", ProtocolV3, "b4A!==", packet{}, errInvalidPacket},
		{"unknown protocol", 5, "bAQ==", packet{}, errInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeTextFrame(tt.protocol, []byte(tt.frame))
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if !samePacket(got, tt.want) {
				t.Fatalf("decode = %+v, want %+v", got, tt.want)
			}
			if enc := appendTextFrame(tt.protocol, nil, got); string(enc) != tt.frame {
				t.Fatalf("encode = %q, want %q", enc, tt.frame)
			}
		})
	}
}

func TestWSBinary(t *testing.T) {
	tests := []struct {
		name     string
		protocol int
		frame    []byte
		want     packet
		err      error
	}{
		{"v3 message", ProtocolV3, []byte{4, 0, 1, 2, 3}, bin(PacketMessage, 0, 1, 2, 3), nil},
		{"v3 empty message", ProtocolV3, []byte{4}, bin(PacketMessage), nil},
		{"v4 message", ProtocolV4, []byte{4, 0, 1, 2, 3}, bin(PacketMessage, 4, 0, 1, 2, 3), nil},
		{"v4 empty message", ProtocolV4, []byte{}, bin(PacketMessage), nil},
		{"v3 empty frame", ProtocolV3, []byte{}, packet{}, errInvalidPacket},
		{"v3 unknown type", ProtocolV3, []byte{7, 1}, packet{}, errInvalidPacket},
		{"v3 ascii type", ProtocolV3, []byte{'4', 1}, packet{}, errInvalidPacket},
		{"unknown protocol", 2, []byte{4}, packet{}, errInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodeWSBinary(tt.protocol, tt.frame)
			checkErr(t, err, tt.err)
			if tt.err != nil {
				return
			}
			if !samePacket(got, tt.want) {
				t.Fatalf("decode = %+v, want %+v", got, tt.want)
			}
			if enc := appendWSBinary(tt.protocol, nil, got.Data); !bytes.Equal(enc, tt.frame) {
				t.Fatalf("encode = %v, want %v", enc, tt.frame)
			}
		})
	}
}

func TestPayloadV4(t *testing.T) {
	tests := []struct {
		name string
		body string
		pkts []packet
	}{
		// The first two are the examples of the engine.io-protocol v4 spec.
		{"spec text", "4hello\x1e2\x1e4world", []packet{text(PacketMessage, "hello"), text(PacketPing, ""), text(PacketMessage, "world")}},
		{"spec binary", "4hello\x1ebAQIDBA==", []packet{text(PacketMessage, "hello"), bin(PacketMessage, 1, 2, 3, 4)}},
		{"single", "4hey", []packet{text(PacketMessage, "hey")}},
		{"empty binary", "4a\x1eb", []packet{text(PacketMessage, "a"), bin(PacketMessage)}},
		{"unicode", "4" + textAccents + "\x1e4" + textCJK + "\x1e4" + textEmoji, []packet{
			text(PacketMessage, textAccents), text(PacketMessage, textCJK), text(PacketMessage, textEmoji)}},
		{"socket.io connect and event", "40\x1e42[\"chat\",\"€ 😀\"]", []packet{
			text(PacketMessage, "0"), text(PacketMessage, `2["chat","€ 😀"]`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayloadV4([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !samePackets(got, tt.pkts) {
				t.Fatalf("decode = %+v, want %+v", got, tt.pkts)
			}
			if enc := appendPayloadV4(nil, tt.pkts); string(enc) != tt.body {
				t.Fatalf("encode = %q, want %q", enc, tt.body)
			}
		})
	}
}

func TestDecodePayloadV4Errors(t *testing.T) {
	tests := []struct {
		name string
		body string
		err  error
	}{
		{"empty body", "", errInvalidPayload},
		{"only separator", "\x1e", errInvalidPacket},
		{"trailing separator", "4a\x1e", errInvalidPacket},
		{"leading separator", "\x1e4a", errInvalidPacket},
		{"double separator", "4a\x1e\x1e4b", errInvalidPacket},
		{"unknown type", "4a\x1e7b", errInvalidPacket},
		{"truncated base64", "bAQI", errInvalidPacket},
		{"base64 with v3 type", "b4AQIDBA==", errInvalidPacket},
		{"bad base64 char", "bAQ*DBA==", errInvalidPacket},
		{"invalid utf8", "4a\xc3", errInvalidPayload},
		{"too many packets", strings.Repeat("6\x1e", maxPacketsPerPayload) + "6", errPayloadTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, err := decodePayloadV4([]byte(tt.body))
			checkErr(t, err, tt.err)
			if pkts != nil {
				t.Fatalf("got packets %+v along with error", pkts)
			}
		})
	}
}

func TestPayloadV3String(t *testing.T) {
	tests := []struct {
		name string
		body string
		pkts []packet
	}{
		// Examples of the engine.io-protocol v3 spec and a recorded
		// handshake of the NestJS server (socket.io 2).
		{"spec messages", "6:4hello6:4world", []packet{text(PacketMessage, "hello"), text(PacketMessage, "world")}},
		{"spec euro counts characters", "6:4hello2:4€", []packet{text(PacketMessage, "hello"), text(PacketMessage, "€")}},
		{"spec base64", "2:4€10:b4AQIDBA==", []packet{text(PacketMessage, "€"), bin(PacketMessage, 1, 2, 3, 4)}},
		{"handshake", `96:0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}2:40`, []packet{
			text(PacketOpen, `{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}`),
			text(PacketMessage, "0")}},
		// 12 = 1 (type) + "héllo " 6 + emoji 2 + " " 1 + two CJK 2, as
		// engine.io-parser 2.2.1 encodes it.
		{"mixed", "12:4" + textMixed, []packet{text(PacketMessage, textMixed)}},
		{"accents", "20:4" + textAccents, []packet{text(PacketMessage, textAccents)}},
		{"cjk", "6:4" + textCJK, []packet{text(PacketMessage, textCJK)}},
		// "hi " 3 + 😀 2 + 👍 2 + skin tone modifier 2.
		{"emoji", "10:4" + textEmoji, []packet{text(PacketMessage, textEmoji)}},
		{"ping pong noop", "1:21:31:6", []packet{text(PacketPing, ""), text(PacketPong, ""), text(PacketNoop, "")}},
		{"empty binary", "2:b4", []packet{bin(PacketMessage)}},
		{"binary ping", "6:b2AAE=", []packet{bin(PacketPing, 0, 1)}},
		{"text containing colons and digits", "8:42:3:1:0", []packet{text(PacketMessage, "2:3:1:0")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayloadV3String([]byte(tt.body))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !samePackets(got, tt.pkts) {
				t.Fatalf("decode = %+v, want %+v", got, tt.pkts)
			}
			if enc := appendPayloadV3String(nil, tt.pkts); string(enc) != tt.body {
				t.Fatalf("encode = %q, want %q", enc, tt.body)
			}
		})
	}
}

func TestPayloadV3StringEmpty(t *testing.T) {
	if enc := appendPayloadV3String(nil, nil); string(enc) != "0:" {
		t.Fatalf("encode of no packets = %q, want %q", enc, "0:")
	}
	for _, body := range []string{"0:", "0:0:", "0:6:4hello0:"} {
		got, err := decodePayloadV3String([]byte(body))
		if err != nil {
			t.Fatalf("decode %q: %v", body, err)
		}
		wantLen := strings.Count(body, "hello")
		if len(got) != wantLen {
			t.Fatalf("decode %q = %+v, want %d packets", body, got, wantLen)
		}
	}
}

func TestDecodePayloadV3StringErrors(t *testing.T) {
	tests := []struct {
		name string
		body string
		err  error
	}{
		{"empty body", "", errInvalidPayload},
		{"no length", ":4hello", errInvalidPayload},
		{"length without separator", "6", errInvalidPayload},
		{"trailing length", "6:4hello6", errInvalidPayload},
		{"length past end", "7:4hello", errInvalidPayload},
		{"length counted in bytes", "4:4€", errInvalidPayload},
		{"length one short", "5:4hello", errInvalidPayload},
		{"non-digit length", "6a:4hello", errInvalidPayload},
		{"signed length", "+6:4hello", errInvalidPayload},
		{"space in length", " 6:4hello", errInvalidPayload},
		{"v4 framing", "4hello\x1e4world", errInvalidPayload},
		{"too many digits", "0000000006:4hello", errInvalidPayload},
		{"overflowing length", "99999999999999999999999:4", errInvalidPayload},
		{"splits surrogate pair", "2:4😀", errInvalidPayload},
		{"invalid utf8 in packet", "3:4a\xff", errInvalidPayload},
		{"invalid utf8 in length", "\xff:4", errInvalidPayload},
		{"unknown type", "2:7a", errInvalidPacket},
		{"base64 without type", "1:b", errInvalidPacket},
		{"base64 unknown type", "4:b9AA", errInvalidPacket},
		{"bad base64", "5:b4AQI", errInvalidPacket},
		{"too many packets", strings.Repeat("1:6", maxPacketsPerPayload+1), errPayloadTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, err := decodePayloadV3String([]byte(tt.body))
			checkErr(t, err, tt.err)
			if pkts != nil {
				t.Fatalf("got packets %+v along with error", pkts)
			}
		})
	}
}

func TestPayloadV3Binary(t *testing.T) {
	tests := []struct {
		name string
		body []byte
		pkts []packet
	}{
		// The XHR2 example of the engine.io-protocol v3 spec: "€" is 3
		// bytes, so the text entry's length is 4.
		{"spec", []byte{0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04},
			[]packet{text(PacketMessage, "€"), bin(PacketMessage, 1, 2, 3, 4)}},
		// Produced by engine.io-parser 2.2.1 encodePayload(..., true).
		{"mixed text and empty binary", append(append([]byte{0x00, 0x01, 0x09, 0xff, '4'}, textMixed...), 0x01, 0x01, 0xff, 0x04),
			[]packet{text(PacketMessage, textMixed), bin(PacketMessage)}},
		{"two-digit binary length", append([]byte{0x01, 0x01, 0x01, 0xff, 0x04}, bytes.Repeat([]byte{0xab}, 10)...),
			[]packet{bin(PacketMessage, bytes.Repeat([]byte{0xab}, 10)...)}},
		{"binary with type byte 0 inside", []byte{0x01, 0x03, 0xff, 0x04, 0x00, 0xff}, []packet{bin(PacketMessage, 0x00, 0xff)}},
		{"ping text", []byte{0x00, 0x06, 0xff, '2', 'p', 'r', 'o', 'b', 'e'}, []packet{text(PacketPing, "probe")}},
		{"cjk and emoji", append([]byte{0x00, 0x03, 0x01, 0xff, '4'}, textCJK+textEmoji...),
			[]packet{text(PacketMessage, textCJK+textEmoji)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := decodePayloadV3Binary(tt.body)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !samePackets(got, tt.pkts) {
				t.Fatalf("decode = %+v, want %+v", got, tt.pkts)
			}
			if enc := appendPayloadV3Binary(nil, tt.pkts); !bytes.Equal(enc, tt.body) {
				t.Fatalf("encode = % x, want % x", enc, tt.body)
			}
		})
	}
}

func TestDecodePayloadV3BinaryBase64TextEntry(t *testing.T) {
	// engine.io-parser 2 decodes text entries with decodePacket, which also
	// accepts base64 packets; clients do not send them, but they are valid.
	body := append([]byte{0x00, 0x01, 0x00, 0xff}, "b4AQIDBA=="...)
	got, err := decodePayloadV3Binary(body)
	if err != nil {
		t.Fatal(err)
	}
	if want := []packet{bin(PacketMessage, 1, 2, 3, 4)}; !samePackets(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestDecodePayloadV3BinaryErrors(t *testing.T) {
	many := bytes.Repeat([]byte{0x00, 0x01, 0xff, '6'}, maxPacketsPerPayload+1)
	tests := []struct {
		name string
		body []byte
		err  error
	}{
		{"empty body", nil, errInvalidPayload},
		{"unknown kind", []byte{0x02, 0x01, 0xff, '6'}, errInvalidPayload},
		{"ascii digits", []byte{0x00, '1', 0xff, '6'}, errInvalidPayload},
		{"no length", []byte{0x00, 0xff, '6'}, errInvalidPayload},
		{"unterminated length", []byte{0x00, 0x01}, errInvalidPayload},
		{"kind only", []byte{0x01}, errInvalidPayload},
		{"length past end", []byte{0x00, 0x05, 0xff, '4', 'a'}, errInvalidPayload},
		{"too many digits", []byte{0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, '6'}, errInvalidPayload},
		{"overflowing length", append(append([]byte{0x01}, bytes.Repeat([]byte{9}, 30)...), 0xff, 4), errInvalidPayload},
		{"empty text entry", []byte{0x00, 0x00, 0xff}, errInvalidPayload},
		{"empty binary entry", []byte{0x01, 0x00, 0xff}, errInvalidPacket},
		{"binary unknown type", []byte{0x01, 0x02, 0xff, 0x07, 0x00}, errInvalidPacket},
		{"text unknown type", []byte{0x00, 0x02, 0xff, 'x', 'a'}, errInvalidPacket},
		{"text as raw type byte", []byte{0x00, 0x02, 0xff, 0x04, 'a'}, errInvalidPacket},
		{"invalid utf8 text", []byte{0x00, 0x02, 0xff, '4', 0xc3}, errInvalidPacket},
		{"lone surrogate text", []byte{0x00, 0x04, 0xff, '4', 0xed, 0xa0, 0x80}, errInvalidPacket},
		{"trailing garbage", []byte{0x00, 0x01, 0xff, '6', 0x05}, errInvalidPayload},
		{"too many packets", many, errPayloadTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts, err := decodePayloadV3Binary(tt.body)
			checkErr(t, err, tt.err)
			if pkts != nil {
				t.Fatalf("got packets %+v along with error", pkts)
			}
		})
	}
}

// TestPayloadLimitBoundary checks that exactly maxPacketsPerPayload packets
// pass in every payload form.
func TestPayloadLimitBoundary(t *testing.T) {
	pkts := make([]packet, maxPacketsPerPayload)
	for i := range pkts {
		pkts[i] = text(PacketMessage, "x")
	}
	forms := []struct {
		name   string
		encode func([]byte, []packet) []byte
		decode func([]byte) ([]packet, error)
	}{
		{"v4", appendPayloadV4, decodePayloadV4},
		{"v3 string", appendPayloadV3String, decodePayloadV3String},
		{"v3 binary", appendPayloadV3Binary, decodePayloadV3Binary},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			got, err := form.decode(form.encode(nil, pkts))
			if err != nil {
				t.Fatalf("decode of %d packets: %v", len(pkts), err)
			}
			if !samePackets(got, pkts) {
				t.Fatal("packets differ after round trip")
			}
			_, err = form.decode(form.encode(nil, append(pkts, text(PacketNoop, ""))))
			checkErr(t, err, errPayloadTooLong)
		})
	}
}

// TestPayloadRoundTrips encodes packet lists in every payload form and
// decodes them back.
func TestPayloadRoundTrips(t *testing.T) {
	allBytes := make([]byte, 256)
	for i := range allBytes {
		allBytes[i] = byte(i)
	}
	long := strings.Repeat("a€😀", 4000)
	lists := map[string][]packet{
		"one message":     {text(PacketMessage, "hello")},
		"unicode":         {text(PacketMessage, textAccents), text(PacketMessage, textCJK), text(PacketMessage, textEmoji)},
		"control chars":   {text(PacketMessage, "line\nbreak\ttab\x00nul:colon")},
		"binary":          {bin(PacketMessage, allBytes...), text(PacketMessage, "after")},
		"empty data":      {text(PacketMessage, ""), bin(PacketMessage)},
		"long":            {text(PacketMessage, long), text(PacketMessage, long[:len(long)-4])},
		"all text types":  {text(PacketOpen, "{}"), text(PacketClose, ""), text(PacketPing, "probe"), text(PacketPong, "probe"), text(PacketUpgrade, ""), text(PacketNoop, "")},
		"supplementary+1": {text(PacketMessage, "𝄞"), text(PacketMessage, "\U0010FFFF"), text(PacketMessage, "\uFFFD\uFEFF")},
	}
	forms := []struct {
		name   string
		encode func([]byte, []packet) []byte
		decode func([]byte) ([]packet, error)
	}{
		{"v4", appendPayloadV4, decodePayloadV4},
		{"v3 string", appendPayloadV3String, decodePayloadV3String},
		{"v3 binary", appendPayloadV3Binary, decodePayloadV3Binary},
	}
	for _, form := range forms {
		for name, pkts := range lists {
			t.Run(form.name+"/"+name, func(t *testing.T) {
				got, err := form.decode(form.encode(nil, pkts))
				if err != nil {
					t.Fatalf("decode: %v", err)
				}
				if !samePackets(got, pkts) {
					t.Fatalf("round trip = %+v, want %+v", got, pkts)
				}
			})
		}
	}
}

// TestEncodersReplaceInvalidUTF8 checks that text which is not UTF-8 is sent
// with U+FFFD per invalid byte and lengths that match what is sent.
func TestEncodersReplaceInvalidUTF8(t *testing.T) {
	in := []packet{text(PacketMessage, "a\xffb\xe2\x82")}
	const sent = "a\uFFFDb\uFFFD\uFFFD"
	want := []packet{text(PacketMessage, sent)}

	v3s := appendPayloadV3String(nil, in)
	if string(v3s) != "6:4"+sent {
		t.Fatalf("v3 string = %q, want %q", v3s, "6:4"+sent)
	}
	v3b := appendPayloadV3Binary(nil, in)
	wantB := append([]byte{0x00, 0x01, 0x02, 0xff, '4'}, sent...)
	if !bytes.Equal(v3b, wantB) {
		t.Fatalf("v3 binary = % x, want % x", v3b, wantB)
	}
	for name, body := range map[string][]byte{"v3 string": v3s, "v3 binary": v3b, "v4": appendPayloadV4(nil, in)} {
		decode := map[string]func([]byte) ([]packet, error){
			"v3 string": decodePayloadV3String, "v3 binary": decodePayloadV3Binary, "v4": decodePayloadV4}[name]
		got, err := decode(body)
		if err != nil {
			t.Fatalf("%s: decode: %v", name, err)
		}
		if !samePackets(got, want) {
			t.Fatalf("%s: got %+v, want %+v", name, got, want)
		}
	}
}

func TestUTF16Length(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"a", 1},
		{"hello", 5},
		{"€", 1},
		{"é", 1},
		{"世界", 2},
		{"😀", 2},
		{textMixed, 11},
		{strings.Repeat("x", 17) + "😀" + strings.Repeat("y", 9), 28},
		{"\U0010FFFF", 2},
		{"\uFFFF", 1},
		{"\uFFFD", 1},
	}
	for _, tt := range tests {
		got, err := utf16Length([]byte(tt.in))
		if err != nil {
			t.Fatalf("utf16Length(%q): %v", tt.in, err)
		}
		if got != tt.want {
			t.Errorf("utf16Length(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
	for _, bad := range []string{"\xff", "abcdefgh\x80", "\xe2\x82", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf"} {
		if _, err := utf16Length([]byte(bad)); !errors.Is(err, errInvalidPacket) {
			t.Errorf("utf16Length(%q) error = %v, want ErrInvalidPacket", bad, err)
		}
	}
}

// TestUTF16LengthMatchesEncoder compares with the standard library's UTF-16
// encoder over every code point boundary class and several offsets, so the
// eight-byte ASCII fast path meets multi-byte characters at each alignment.
func TestUTF16LengthMatchesEncoder(t *testing.T) {
	runes := []rune{'a', 0x7f, 0x80, 0x7ff, 0x800, 0xd7ff, 0xe000, 0xfffd, 0xffff, 0x10000, 0x1f600, 0x10ffff}
	for pad := 0; pad < 10; pad++ {
		for _, r := range runes {
			s := strings.Repeat("p", pad) + string(r) + strings.Repeat("q", pad)
			want := len(utf16.Encode([]rune(s)))
			got, err := utf16Length([]byte(s))
			if err != nil || got != want {
				t.Fatalf("utf16Length(%q) = %d, %v; want %d", s, got, err, want)
			}
			size, err := utf16PrefixLen([]byte(s+"tail"), want)
			if err != nil || size != len(s) {
				t.Fatalf("utf16PrefixLen(%q, %d) = %d, %v; want %d", s, want, size, err, len(s))
			}
		}
	}
}

func TestUTF16PrefixLen(t *testing.T) {
	tests := []struct {
		in    string
		units int
		want  int
		err   error
	}{
		{"hello", 0, 0, nil},
		{"hello", 3, 3, nil},
		{"€uro", 2, 4, nil},
		{"😀x", 2, 4, nil},
		{"😀x", 1, 0, errInvalidPayload},
		{"ab", 3, 0, errInvalidPayload},
		{"a\xff", 2, 0, errInvalidPayload},
		{"", 1, 0, errInvalidPayload},
	}
	for _, tt := range tests {
		got, err := utf16PrefixLen([]byte(tt.in), tt.units)
		checkErr(t, err, tt.err)
		if tt.err == nil && got != tt.want {
			t.Errorf("utf16PrefixLen(%q, %d) = %d, want %d", tt.in, tt.units, got, tt.want)
		}
	}
}

func TestDecodedTextAliasesBody(t *testing.T) {
	// Documented behaviour the callers rely on for zero-copy decoding.
	body := []byte("6:4hello")
	pkts, err := decodePayloadV3String(body)
	if err != nil {
		t.Fatal(err)
	}
	body[3] = 'j'
	if string(pkts[0].Data) != "jello" {
		t.Fatalf("Data = %q, want it to alias the body", pkts[0].Data)
	}
}

// typicalMessage is a Socket.IO event of about 100 bytes as the chat
// gateway sends it.
var typicalMessage = []byte(`2["message",{"roomId":"room-42","username":"alice","text":"hello everyone, how is it going?"}]`)

func BenchmarkAppendPayloadV3String(b *testing.B) {
	pkts := []packet{{Type: PacketMessage, Data: typicalMessage}}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(typicalMessage)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV3String(buf[:0], pkts)
	}
}

func BenchmarkAppendPayloadV3StringUnicode(b *testing.B) {
	msg := []byte(`2["message",{"roomId":"room-42","username":"zoë","text":"héllo 世界, how is it going? 😀"}]`)
	pkts := []packet{{Type: PacketMessage, Data: msg}}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV3String(buf[:0], pkts)
	}
}

func BenchmarkAppendPayloadV3Binary(b *testing.B) {
	pkts := []packet{{Type: PacketMessage, Data: typicalMessage}}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(typicalMessage)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV3Binary(buf[:0], pkts)
	}
}

func BenchmarkAppendPayloadV4(b *testing.B) {
	pkts := []packet{{Type: PacketMessage, Data: typicalMessage}}
	buf := make([]byte, 0, 256)
	b.SetBytes(int64(len(typicalMessage)))
	b.ReportAllocs()
	for b.Loop() {
		buf = appendPayloadV4(buf[:0], pkts)
	}
}

func BenchmarkDecodePayloadV3String(b *testing.B) {
	body := appendPayloadV3String(nil, []packet{{Type: PacketMessage, Data: typicalMessage}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePayloadV3String(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodePayloadV4(b *testing.B) {
	body := appendPayloadV4(nil, []packet{{Type: PacketMessage, Data: typicalMessage}})
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodePayloadV4(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUTF16Length(b *testing.B) {
	for _, size := range []int{16, 100, 1000} {
		s := bytes.Repeat([]byte("a"), size)
		b.Run(strconv.Itoa(size), func(b *testing.B) {
			b.SetBytes(int64(size))
			for b.Loop() {
				if _, err := utf16Length(s); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
