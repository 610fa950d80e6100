package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// decodeCodecPacket feeds a text message and its binary messages to a fresh
// decoder and returns the completed packet.
func decodeCodecPacket(t *testing.T, text string, bins ...[]byte) (*packet, error) {
	t.Helper()
	d := newDecoder(decoderLimits{})
	p, err := d.addText([]byte(text))
	if err != nil {
		return nil, err
	}
	for i, b := range bins {
		if p != nil {
			t.Fatalf("packet complete after %d of %d attachments", i, len(bins))
		}
		if p, err = d.addBinary(b); err != nil {
			return nil, err
		}
	}
	if p == nil {
		t.Fatalf("packet %q still incomplete after %d attachments", text, len(bins))
	}
	return p, nil
}

func placeholderJSON(n int) string { return fmt.Sprintf(`{"_placeholder":true,"num":%d}`, n) }

func TestDecodeWellFormed(t *testing.T) {
	tests := []struct {
		name string
		text string
		bins [][]byte
		want packet
		// canonical is what appendPacketText produces for the packet when
		// that differs from text.
		canonical string
	}{
		// Protocol v5 (socket.io-protocol README).
		{name: "v5 connect main namespace", text: "0",
			want: packet{Type: packetConnect, Namespace: "/"}},
		{name: "v5 connect reply with sid", text: `0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}`,
			want: packet{Type: packetConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"oSO0OpakMV_3jnilAAAA"}`)}},
		{name: "v5 connect with auth", text: `0/admin,{"token":"123"}`,
			want: packet{Type: packetConnect, Namespace: "/admin", Data: json.RawMessage(`{"token":"123"}`)}},
		{name: "v5 connect error", text: `4{"message":"Not authorized"}`,
			want: packet{Type: packetConnectError, Namespace: "/", Data: json.RawMessage(`{"message":"Not authorized"}`)}},
		{name: "v5 event", text: `2["foo"]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["foo"]`)}},
		{name: "v5 event custom namespace", text: `2/admin,["bar"]`,
			want: packet{Type: packetEvent, Namespace: "/admin", Data: json.RawMessage(`["bar"]`)}},
		{name: "v5 binary event", text: `51-["baz",` + placeholderJSON(0) + `]`, bins: [][]byte{{1, 2, 3, 4}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["baz",` + placeholderJSON(0) + `]`), Attachments: [][]byte{{1, 2, 3, 4}}}},
		{name: "v5 binary event two attachments", text: `52-/admin,["baz",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`, bins: [][]byte{{1, 2}, {3, 4}},
			want: packet{Type: packetBinaryEvent, Namespace: "/admin", Data: json.RawMessage(`["baz",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`), Attachments: [][]byte{{1, 2}, {3, 4}}}},
		{name: "v5 event with ack id", text: `212["foo"]`,
			want: packet{Type: packetEvent, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(`["foo"]`)}},
		{name: "v5 ack custom namespace", text: `3/admin,13["bar"]`,
			want: packet{Type: packetAck, Namespace: "/admin", ID: 13, HasID: true, Data: json.RawMessage(`["bar"]`)}},
		{name: "v5 empty ack", text: `312[]`,
			want: packet{Type: packetAck, Namespace: "/", ID: 12, HasID: true, Data: json.RawMessage(`[]`)}},
		{name: "v5 binary ack", text: `61-15["bar",` + placeholderJSON(0) + `]`, bins: [][]byte{{1, 2, 3, 4}},
			want: packet{Type: packetBinaryAck, Namespace: "/", ID: 15, HasID: true, Data: json.RawMessage(`["bar",` + placeholderJSON(0) + `]`), Attachments: [][]byte{{1, 2, 3, 4}}}},
		{name: "v5 binary ack from sample session", text: `61-/admin,1[` + placeholderJSON(0) + `]`, bins: [][]byte{{0xff}},
			want: packet{Type: packetBinaryAck, Namespace: "/admin", ID: 1, HasID: true, Data: json.RawMessage(`[` + placeholderJSON(0) + `]`), Attachments: [][]byte{{0xff}}}},
		{name: "v5 disconnect", text: "1",
			want: packet{Type: packetDisconnect, Namespace: "/"}},
		{name: "v5 disconnect custom namespace", text: "1/admin,",
			want: packet{Type: packetDisconnect, Namespace: "/admin"}},
		{name: "v5 event with ack on namespace", text: `2/admin,1["tellme"]`,
			want: packet{Type: packetEvent, Namespace: "/admin", ID: 1, HasID: true, Data: json.RawMessage(`["tellme"]`)}},

		// Protocol v4 (socket.io-protocol README, branch v4).
		{name: "v4 connect custom namespace", text: "0/admin,",
			want: packet{Type: packetConnect, Namespace: "/admin"}},
		{name: "v4 connect with query in namespace", text: "0/admin?token=1234&uid=abcd,",
			want: packet{Type: packetConnect, Namespace: "/admin?token=1234&uid=abcd"}},
		{name: "v4 event", text: `2["hello",1]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["hello",1]`)}},
		{name: "v4 event with ack id", text: `2/admin,456["project:delete",123]`,
			want: packet{Type: packetEvent, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`["project:delete",123]`)}},
		{name: "v4 ack", text: `3/admin,456[]`,
			want: packet{Type: packetAck, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`[]`)}},
		{name: "v4 error with string payload", text: `4/admin,"Not authorized"`,
			want: packet{Type: packetConnectError, Namespace: "/admin", Data: json.RawMessage(`"Not authorized"`)}},
		{name: "v4 binary event", text: `51-["hello",` + placeholderJSON(0) + `]`, bins: [][]byte{{1, 2, 3}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["hello",` + placeholderJSON(0) + `]`), Attachments: [][]byte{{1, 2, 3}}}},
		{name: "v4 binary event with ack id", text: `51-/admin,456["project:delete",` + placeholderJSON(0) + `]`, bins: [][]byte{{1, 2, 3}},
			want: packet{Type: packetBinaryEvent, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`["project:delete",` + placeholderJSON(0) + `]`), Attachments: [][]byte{{1, 2, 3}}}},
		{name: "v4 binary ack", text: `61-/admin,456[` + placeholderJSON(0) + `]`, bins: [][]byte{{3, 2, 1}},
			want: packet{Type: packetBinaryAck, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`[` + placeholderJSON(0) + `]`), Attachments: [][]byte{{3, 2, 1}}}},
		{name: "v4 error without payload", text: `4`,
			want: packet{Type: packetConnectError, Namespace: "/"}},

		// Payload details.
		{name: "non-ASCII strings", text: `2["héllo","日本語 🎉",{"ключ":"\u00e9\ud83c\udf89"}]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["héllo","日本語 🎉",{"ключ":"\u00e9\ud83c\udf89"}]`)}},
		{name: "non-ASCII namespace", text: `2/čat,["x"]`,
			want: packet{Type: packetEvent, Namespace: "/čat", Data: json.RawMessage(`["x"]`)}},
		{name: "nested binary in arrays of an object",
			text: `62-7[{"files":[{"name":"a","data":` + placeholderJSON(1) + `},{"more":[` + placeholderJSON(0) + `]}]}]`,
			bins: [][]byte{{0xde, 0xad}, {0xbe, 0xef}},
			want: packet{Type: packetBinaryAck, Namespace: "/", ID: 7, HasID: true,
				Data:        json.RawMessage(`[{"files":[{"name":"a","data":` + placeholderJSON(1) + `},{"more":[` + placeholderJSON(0) + `]}]}]`),
				Attachments: [][]byte{{0xde, 0xad}, {0xbe, 0xef}}}},
		{name: "placeholder with escaped key and spacing", text: `51-["a", { "\u005fplaceholder" : true , "num" : 0 } ]`, bins: [][]byte{{9}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a", { "\u005fplaceholder" : true , "num" : 0 } ]`), Attachments: [][]byte{{9}}}},
		{name: "placeholder num written as float", text: `51-["a",{"_placeholder":true,"num":0.0e1}]`, bins: [][]byte{{9}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a",{"_placeholder":true,"num":0.0e1}]`), Attachments: [][]byte{{9}}}},
		{name: "empty attachment", text: `51-["a",` + placeholderJSON(0) + `]`, bins: [][]byte{{}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a",` + placeholderJSON(0) + `]`), Attachments: [][]byte{{}}}},
		{name: "false _placeholder is data", text: `51-["a",{"_placeholder":false,"num":3},` + placeholderJSON(0) + `]`, bins: [][]byte{{1}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a",{"_placeholder":false,"num":3},` + placeholderJSON(0) + `]`), Attachments: [][]byte{{1}}}},
		{name: "placeholders in a non-binary event are data", text: `2["a",` + placeholderJSON(5) + `]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["a",` + placeholderJSON(5) + `]`)}},
		{name: "binary event with zero attachments is complete at once", text: `50-["a"]`,
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{name: "payload whitespace trimmed", text: "2 [\"a\"]\n", canonical: `2["a"]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{name: "namespace up to end of message", text: "1/admin", canonical: "1/admin,",
			want: packet{Type: packetDisconnect, Namespace: "/admin"}},
		{name: "explicit main namespace", text: `2/,["a"]`, canonical: `2["a"]`,
			want: packet{Type: packetEvent, Namespace: "/", Data: json.RawMessage(`["a"]`)}},
		{name: "ack id with leading zeros", text: `2007["a"]`, canonical: `27["a"]`,
			want: packet{Type: packetEvent, Namespace: "/", ID: 7, HasID: true, Data: json.RawMessage(`["a"]`)}},
		{name: "largest ack id", text: `29007199254740991["a"]`,
			want: packet{Type: packetEvent, Namespace: "/", ID: 1<<53 - 1, HasID: true, Data: json.RawMessage(`["a"]`)}},
		{name: "ten attachments", text: `510-["a"` + strings.Repeat(",", 0) + func() string {
			var b strings.Builder
			for i := range 10 {
				b.WriteString("," + placeholderJSON(9-i))
			}
			return b.String()
		}() + `]`, bins: [][]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}},
			want: packet{Type: packetBinaryEvent, Namespace: "/", Data: json.RawMessage(`["a"` + func() string {
				var b strings.Builder
				for i := range 10 {
					b.WriteString("," + placeholderJSON(9-i))
				}
				return b.String()
			}() + `]`), Attachments: [][]byte{{0}, {1}, {2}, {3}, {4}, {5}, {6}, {7}, {8}, {9}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := decodeCodecPacket(t, tt.text, tt.bins...)
			if err != nil {
				t.Fatalf("decode %q: %v", tt.text, err)
			}
			assertCodecPacketEqual(t, p, &tt.want)
			canonical := tt.canonical
			if canonical == "" {
				canonical = tt.text
			}
			if got := string(appendPacketText(nil, p)); got != canonical {
				t.Errorf("re-encoded as %q, want %q", got, canonical)
			}
		})
	}
}

func assertCodecPacketEqual(t *testing.T, got, want *packet) {
	t.Helper()
	if got.Type != want.Type || got.Namespace != want.Namespace || got.ID != want.ID || got.HasID != want.HasID {
		t.Errorf("header = {%v %q %d %v}, want {%v %q %d %v}", got.Type, got.Namespace, got.ID, got.HasID, want.Type, want.Namespace, want.ID, want.HasID)
	}
	if !bytes.Equal(got.Data, want.Data) || (got.Data == nil) != (want.Data == nil) {
		t.Errorf("Data = %q, want %q", got.Data, want.Data)
	}
	if len(got.Attachments) != len(want.Attachments) {
		t.Fatalf("%d attachments, want %d", len(got.Attachments), len(want.Attachments))
	}
	for i := range got.Attachments {
		if !bytes.Equal(got.Attachments[i], want.Attachments[i]) {
			t.Errorf("attachment %d = %x, want %x", i, got.Attachments[i], want.Attachments[i])
		}
	}
}

func TestDecodeMalformed(t *testing.T) {
	tests := []struct {
		name string
		text string
		want error
	}{
		{"empty message", "", errInvalidPacket},
		{"unknown type digit", "7", errInvalidPacket},
		{"type not a digit", "x", errInvalidPacket},
		{"type 9", "999", errInvalidPacket},
		{"binary without count", "5", errInvalidPacket},
		{"binary with empty count", `5-["a"]`, errInvalidPacket},
		{"binary count without dash", `51["a",` + placeholderJSON(0) + `]`, errInvalidPacket},
		{"binary count not a number", `5x-["a"]`, errInvalidPacket},
		{"too many attachments", `511-["a"]`, errTooManyAttachments},
		{"attachment count overflow", `5999999999999999999999999999-["a"]`, errTooManyAttachments},
		{"event without payload", "2", errInvalidPacket},
		{"event with empty array", "2[]", errInvalidPacket},
		{"event with numeric name", "2[1]", errInvalidPacket},
		{"event with boolean name", `2[true,"foo"]`, errInvalidPacket},
		{"event with null name", `2[null,"bar"]`, errInvalidPacket},
		{"event with object payload", "2/admin,{}", errInvalidPacket},
		{"event with string payload", `2/admin,"invalid`, errInvalidPacket},
		{"event with object name", `2[{"toString":"foo"}]`, errInvalidPacket},
		{"unterminated array", `2["a"`, errInvalidPacket},
		{"trailing comma", `2["a",]`, errInvalidPacket},
		{"trailing garbage", `2["a"] x`, errInvalidPacket},
		{"two values", `2["a"]["b"]`, errInvalidPacket},
		{"bad escape", `2["a\q"]`, errInvalidPacket},
		{"short unicode escape", `2["a\u12"]`, errInvalidPacket},
		{"control character in string", "2[\"a\x01\"]", errInvalidPacket},
		{"leading zero number", `2["a",01]`, errInvalidPacket},
		{"bare minus", `2["a",-]`, errInvalidPacket},
		{"dangling decimal point", `2["a",1.]`, errInvalidPacket},
		{"empty exponent", `2["a",1e]`, errInvalidPacket},
		{"misspelled literal", `2["a",tru]`, errInvalidPacket},
		{"single-quoted string", `2['a']`, errInvalidPacket},
		{"unquoted key", `2["a",{b:1}]`, errInvalidPacket},
		{"missing colon", `2["a",{"b" 1}]`, errInvalidPacket},
		{"connect error payload truncated", `442["some","data"`, errInvalidPacket},
		{"ack without id", `3[]`, errInvalidPacket},
		{"ack with object payload", `31{}`, errInvalidPacket},
		{"ack without payload", `31`, errInvalidPacket},
		{"binary ack without id", `61-[` + placeholderJSON(0) + `]`, errInvalidPacket},
		{"connect with array payload", "0[]", errInvalidPacket},
		{"connect with string payload", `0/admin,"invalid"`, errInvalidPacket},
		{"connect with ack id", "01", errInvalidPacket},
		{"disconnect with payload", "1/admin,{}", errInvalidPacket},
		{"disconnect with ack id", "1/admin,5", errInvalidPacket},
		{"connect error with array", `4["x"]`, errInvalidPacket},
		{"connect error with ack id", `41"x"`, errInvalidPacket},
		{"namespace swallows payload", `2/admin["a"]`, errInvalidPacket},
		{"ack id above 2^53-1", `29007199254740992["a"]`, errInvalidPacket},
		{"ack id overflowing int64", `299999999999999999999999999999["a"]`, errInvalidPacket},
		{"too deep", `2["a",` + strings.Repeat("[", 32) + strings.Repeat("]", 32) + `]`, errJSONTooDeep},
		{"too deep objects", `2["a",` + strings.Repeat(`{"a":`, 32) + `1` + strings.Repeat("}", 32) + `]`, errJSONTooDeep},
		{"very deep unterminated", `2["a",` + strings.Repeat("[", 1_000_000), errJSONTooDeep},
		{"missing placeholder", `51-["a"]`, errBadPlaceholder},
		{"placeholder num out of range", `51-["a",` + placeholderJSON(1) + `]`, errBadPlaceholder},
		{"duplicate placeholder", `52-["a",` + placeholderJSON(0) + `,` + placeholderJSON(0) + `]`, errBadPlaceholder},
		{"one placeholder for two attachments", `52-["a",` + placeholderJSON(1) + `]`, errBadPlaceholder},
		{"string num", `51-["a",{"_placeholder":true,"num":"0"}]`, errBadPlaceholder},
		{"fractional num", `51-["a",{"_placeholder":true,"num":0.5}]`, errBadPlaceholder},
		{"negative num", `51-["a",{"_placeholder":true,"num":-1}]`, errBadPlaceholder},
		{"huge num", `51-["a",{"_placeholder":true,"num":1e400}]`, errBadPlaceholder},
		{"missing num", `51-["a",{"_placeholder":true}]`, errBadPlaceholder},
		{"extra placeholder member", `51-["a",{"_placeholder":true,"num":0,"x":1}]`, errBadPlaceholder},
		{"duplicate _placeholder member", `51-["a",{"_placeholder":false,"_placeholder":true,"num":0}]`, errBadPlaceholder},
		{"placeholder with zero attachments", `50-["a",` + placeholderJSON(0) + `]`, errBadPlaceholder},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := newDecoder(decoderLimits{})
			p, err := d.addText([]byte(tt.text))
			if !errors.Is(err, tt.want) {
				t.Fatalf("AddText(%.60q) = %v, %v; want error %v", tt.text, p, err, tt.want)
			}
			// The decoder must be usable again after an error.
			if p, err := d.addText([]byte(`2["ok"]`)); err != nil || p == nil {
				t.Fatalf("decoder unusable after error: %v, %v", p, err)
			}
		})
	}
}

func TestDecoderLimits(t *testing.T) {
	d := newDecoder(decoderLimits{MaxAttachments: 2, MaxJSONDepth: 3, MaxAckID: 100})
	cases := []struct {
		text string
		want error
	}{
		{`52-["a",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`, nil},
		{`53-["a"]`, errTooManyAttachments},
		{`2["a",[[1]]]`, nil},
		{`2["a",[[[1]]]]`, errJSONTooDeep},
		{`2100["a"]`, nil},
		{`2101["a"]`, errInvalidPacket},
	}
	for _, c := range cases {
		d.Reset()
		_, err := d.addText([]byte(c.text))
		if !errors.Is(err, c.want) && !(c.want == nil && err == nil) {
			t.Errorf("AddText(%q) error = %v, want %v", c.text, err, c.want)
		}
	}
}

func TestDecoderAttachmentSequencing(t *testing.T) {
	d := newDecoder(decoderLimits{})
	if _, err := d.addBinary([]byte{1}); !errors.Is(err, errUnexpectedBinary) {
		t.Fatalf("binary before any text: %v, want ErrUnexpectedBinary", err)
	}

	p, err := d.addText([]byte(`52-["a",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`))
	if p != nil || err != nil {
		t.Fatalf("text part of a binary packet: %v, %v; want nil, nil", p, err)
	}
	if p, err = d.addBinary([]byte{1}); p != nil || err != nil {
		t.Fatalf("first attachment: %v, %v; want nil, nil", p, err)
	}
	if p, err = d.addBinary([]byte{2}); p == nil || err != nil {
		t.Fatalf("last attachment: %v, %v; want the packet", p, err)
	}
	if _, err := d.addBinary([]byte{3}); !errors.Is(err, errUnexpectedBinary) {
		t.Fatalf("binary after a complete packet: %v, want ErrUnexpectedBinary", err)
	}

	if _, err := d.addText([]byte(`51-["a",` + placeholderJSON(0) + `]`)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.addText([]byte(`2["b"]`)); !errors.Is(err, errInvalidPacket) {
		t.Fatalf("text while attachments are due: %v, want ErrInvalidPacket", err)
	}
	if _, err := d.addBinary([]byte{1}); !errors.Is(err, errUnexpectedBinary) {
		t.Fatalf("the abandoned packet still takes attachments: %v", err)
	}

	if _, err := d.addText([]byte(`51-["a",` + placeholderJSON(0) + `]`)); err != nil {
		t.Fatal(err)
	}
	d.Reset()
	if p, err := d.addText([]byte(`2["b"]`)); p == nil || err != nil {
		t.Fatalf("after Reset: %v, %v", p, err)
	}
}

func TestAppendPacketText(t *testing.T) {
	tests := []struct {
		p    packet
		want string
	}{
		{packet{Type: packetConnect}, "0"},
		{packet{Type: packetConnect, Namespace: "/"}, "0"},
		{packet{Type: packetConnect, Namespace: "/admin", Data: json.RawMessage(`{"sid":"x"}`)}, `0/admin,{"sid":"x"}`},
		{packet{Type: packetDisconnect, Namespace: "/admin"}, "1/admin,"},
		{packet{Type: packetEvent, Namespace: "/", ID: 0, HasID: true, Data: json.RawMessage(`["a"]`)}, `20["a"]`},
		{packet{Type: packetAck, Namespace: "/admin", ID: 456, HasID: true, Data: json.RawMessage(`[]`)}, `3/admin,456[]`},
		{packet{Type: packetConnectError, Data: json.RawMessage(`"Not authorized"`)}, `4"Not authorized"`},
		{packet{Type: packetBinaryEvent, Namespace: "/admin", Data: json.RawMessage(`["a",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`), Attachments: [][]byte{{1}, {2}}},
			`52-/admin,["a",` + placeholderJSON(0) + `,` + placeholderJSON(1) + `]`},
		{packet{Type: packetBinaryAck, ID: 15, HasID: true, Data: json.RawMessage(`[]`)}, `60-15[]`},
	}
	for _, tt := range tests {
		if got := string(appendPacketText([]byte("4"), &tt.p)); got != "4"+tt.want {
			t.Errorf("AppendPacketText(%+v) = %q, want %q", tt.p, got, "4"+tt.want)
		}
	}
}

func TestPacketTypeString(t *testing.T) {
	if got := packetConnectError.String(); got != "CONNECT_ERROR" {
		t.Errorf("PacketConnectError.String() = %q", got)
	}
	if got := packetType(9).String(); got != "PacketType(9)" {
		t.Errorf("PacketType(9).String() = %q", got)
	}
}

func TestSplitNamespaceQuery(t *testing.T) {
	tests := []struct{ in, name, query string }{
		{"/", "/", ""},
		{"/admin", "/admin", ""},
		{"/admin?token=1234&uid=abcd", "/admin", "token=1234&uid=abcd"},
		{"/?x=1", "/", "x=1"},
	}
	for _, tt := range tests {
		name, query := splitNamespaceQuery(tt.in)
		if name != tt.name || query != tt.query {
			t.Errorf("splitNamespaceQuery(%q) = %q, %q; want %q, %q", tt.in, name, query, tt.name, tt.query)
		}
	}
}

// TestScannerAgreesWithEncodingJSON checks the hand-written validator
// against encoding/json on tricky inputs; FuzzScanJSON does so at random.
func TestScannerAgreesWithEncodingJSON(t *testing.T) {
	inputs := []string{
		`0`, `-0`, `-0.0e+0`, `1E9`, `1e-9`, `01`, `1.`, `.1`, `+1`, `--1`, `1e`, `1e+`,
		`""`, `"\""`, `"\/"`, `"\u00e9"`, `"\uD83D\uDE00"`, `"\ud800"`, `"\x"`, "\"\x7f\"", "\"\xff\xfe\"", "\"\t\"",
		`true`, `false`, `null`, `nul`, `truex`, `[true false]`,
		`[]`, `[ ]`, `[,]`, `[1,]`, `[1 2]`, `{}`, `{ }`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":1 "b":2}`, `{1:2}`,
		`[[[]]]`, `[{"a":[{"b":{}}]}]`, ` [ 1 , { "a" : null } ] `, "\t\n\r[]\r\n\t",
		``, ` `, `[`, `]`, `{`, `}`, `[}`, `{]`, `"abc`, `[1]]`, `{"a":1}}`,
	}
	for _, in := range inputs {
		var s jsonScanner
		s.maxDepth = maxArgDepth
		got := s.scan([]byte(in)) == nil
		if want := json.Valid([]byte(in)); got != want {
			t.Errorf("scan(%q) valid = %v, encoding/json says %v", in, got, want)
		}
	}
}

// TestDeepNestingIsLinear guards against quadratic or recursive depth
// handling: eight times the nesting costs about eight times the time, not
// sixty-four. The best of several runs of each size is compared, so a busy
// machine slows both sides alike; three quarters of a megabyte of brackets
// is the larger input.
func TestDeepNestingIsLinear(t *testing.T) {
	const small, factor = 1 << 13, 16
	// Each side keeps its decoder, warmed up once, so what is timed is
	// decoding, not the first growth of the decoder's stack.
	decoder := func(depth int) func(times int) time.Duration {
		payload := []byte(`2["a",` + strings.Repeat(`[{"a":`, depth) + `]`)
		d := newDecoder(decoderLimits{MaxJSONDepth: 1 << 30})
		run := func(times int) time.Duration {
			start := time.Now()
			for range times {
				if _, err := d.addText(payload); !errors.Is(err, errInvalidPacket) {
					t.Fatalf("unterminated payload %d deep: %v", depth, err)
				}
			}
			return time.Since(start)
		}
		run(1)
		return run
	}
	shallowRun, deepRun := decoder(small), decoder(small*factor)
	// One payload 16x as deep against 16 payloads as deep as the small
	// one: the same bytes, so linear decoding takes about the same time
	// for both, quadratic 16x as long for the deep one. Timing equal work,
	// interleaved, keeps a loaded machine's pauses from falling on one
	// side only (a short run against a long one did: 86x once under
	// -race beside another make test); the best of seven of each is
	// compared, against a bound of 4x.
	shallow, deep := time.Duration(math.MaxInt64), time.Duration(math.MaxInt64)
	for range 7 {
		shallow = min(shallow, shallowRun(factor))
		deep = min(deep, deepRun(1))
	}
	if deep > 4*shallow {
		t.Errorf("one payload %dx as deep took %.1fx the time of %d shallow ones (%v against %v): not linear", factor, float64(deep)/float64(shallow), factor, deep, shallow)
	}
	t.Logf("one payload %d deep: %v; %d payloads %d deep: %v", small*factor, deep, factor, small, shallow)
}

func TestDecodedPacketsAlias(t *testing.T) {
	// Documented behaviour the server relies on for zero-copy decoding.
	text := []byte(`2["a"]`)
	p, err := newDecoder(decoderLimits{}).addText(text)
	if err != nil {
		t.Fatal(err)
	}
	if &p.Data[0] != &text[1] {
		t.Error("Data does not alias the message")
	}
}

func BenchmarkDecode(b *testing.B) {
	b.Run("event", func(b *testing.B) {
		msg := []byte(`2["message",{"roomId":"ws-room-mwxti4tz","username":"Toto","content":"hello from Toto, with some text","createdAt":"2021-03-01T10:00:00.000Z"}]`)
		d := newDecoder(decoderLimits{})
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := d.addText(msg)
			if err != nil || p == nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("event+split+bind", func(b *testing.B) {
		type message struct {
			RoomID    string    `json:"roomId"`
			Username  string    `json:"username"`
			Content   string    `json:"content"`
			CreatedAt time.Time `json:"createdAt"`
		}
		msg := []byte(`2/chat,12["message",{"roomId":"ws-room-mwxti4tz","username":"Toto","content":"hello from Toto, with some text","createdAt":"2021-03-01T10:00:00.000Z"}]`)
		d := newDecoder(decoderLimits{})
		typ := reflect.TypeFor[message]()
		b.SetBytes(int64(len(msg)))
		b.ReportAllocs()
		for b.Loop() {
			p, err := d.addText(msg)
			if err != nil {
				b.Fatal(err)
			}
			_, args, err := splitArgs(p.Data)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bindArg(args[0], typ, p.Attachments); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("binary", func(b *testing.B) {
		msg := []byte(`51-["upload",{"name":"a.png","data":{"_placeholder":true,"num":0}}]`)
		att := make([]byte, 4096)
		d := newDecoder(decoderLimits{})
		b.ReportAllocs()
		for b.Loop() {
			if _, err := d.addText(msg); err != nil {
				b.Fatal(err)
			}
			if p, err := d.addBinary(att); err != nil || p == nil {
				b.Fatal(err)
			}
		}
	})
}
