package engineio

import (
	"bytes"
	"testing"
	"unicode/utf8"
)

// Each fuzz target checks that a decoder never panics, rejects input only
// with its documented errors, returns valid UTF-8 for text packets, and that
// whatever it accepts survives encode-then-decode unchanged, with the
// encoder's output being a fixed point (canonical form).
// Further seeds live in testdata/fuzz/<FuzzName>/.

func checkRejected(t *testing.T, pkts []packet, err error) {
	t.Helper()
	if !isInputError(err) {
		t.Fatalf("error %v does not wrap a documented sentinel", err)
	}
	if pkts != nil {
		t.Fatalf("packets %+v returned along with error %v", pkts, err)
	}
}

func checkTextIsUTF8(t *testing.T, pkts []packet) {
	t.Helper()
	for _, p := range pkts {
		if !p.Binary && !utf8.Valid(p.Data) {
			t.Fatalf("text packet with invalid UTF-8: %q", p.Data)
		}
		if p.Type > PacketNoop {
			t.Fatalf("packet type %d out of range", p.Type)
		}
	}
}

// checkRoundTrip encodes pkts, decodes the result, and checks both that the
// packets are unchanged and that encoding again gives the same bytes.
func checkRoundTrip(t *testing.T, name string, pkts []packet, encode func([]byte, []packet) []byte, decode func([]byte) ([]packet, error)) {
	t.Helper()
	enc := encode(nil, pkts)
	again, err := decode(enc)
	if err != nil {
		t.Fatalf("%s: decoding re-encoded %q: %v", name, enc, err)
	}
	if !samePackets(again, pkts) {
		t.Fatalf("%s: round trip changed packets\nfirst:  %+v\nsecond: %+v", name, pkts, again)
	}
	if enc2 := encode(nil, again); !bytes.Equal(enc, enc2) {
		t.Fatalf("%s: encoding is not canonical: %q then %q", name, enc, enc2)
	}
}

func FuzzDecodePayloadV3String(f *testing.F) {
	for _, seed := range []string{
		"6:4hello6:4world",
		"6:4hello2:4€",
		"2:4€10:b4AQIDBA==",
		`96:0{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}2:40`,
		"12:4" + textMixed,
		"10:4" + textEmoji,
		"0:",
		"1:21:31:6",
		"2:b4",
		"2:4😀",
		"7:4hello",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := decodePayloadV3String(body)
		if err != nil {
			checkRejected(t, pkts, err)
			return
		}
		checkTextIsUTF8(t, pkts)
		checkRoundTrip(t, "v3 string", pkts, appendPayloadV3String, decodePayloadV3String)
		if len(pkts) > 0 {
			// Whatever a v3 client may send as text, the XHR2 form can
			// carry too (the server picks the form per response).
			checkRoundTrip(t, "v3 binary", pkts, appendPayloadV3Binary, decodePayloadV3Binary)
		}
	})
}

func FuzzDecodePayloadV3Binary(f *testing.F) {
	for _, seed := range [][]byte{
		{0x00, 0x04, 0xff, 0x34, 0xe2, 0x82, 0xac, 0x01, 0x05, 0xff, 0x04, 0x01, 0x02, 0x03, 0x04},
		append(append([]byte{0x00, 0x01, 0x09, 0xff, '4'}, textMixed...), 0x01, 0x01, 0xff, 0x04),
		append([]byte{0x00, 0x01, 0x00, 0xff}, "b4AQIDBA=="...),
		{0x00, 0x06, 0xff, '2', 'p', 'r', 'o', 'b', 'e'},
		{0x01, 0x03, 0xff, 0x04, 0x00, 0xff},
		{0x00, 0x00, 0xff},
		{0x01, 0x09, 0x09, 0x09, 0xff, 0x04},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := decodePayloadV3Binary(body)
		if err != nil {
			checkRejected(t, pkts, err)
			return
		}
		checkTextIsUTF8(t, pkts)
		checkRoundTrip(t, "v3 binary", pkts, appendPayloadV3Binary, decodePayloadV3Binary)
		checkRoundTrip(t, "v3 string", pkts, appendPayloadV3String, decodePayloadV3String)
	})
}

func FuzzDecodePayloadV4(f *testing.F) {
	for _, seed := range []string{
		"4hello\x1e2\x1e4world",
		"4hello\x1ebAQIDBA==",
		"4a\x1eb",
		"40\x1e42[\"chat\",\"€ 😀\"]",
		"4" + textCJK + "\x1e4" + textEmoji,
		"4a\x1e",
		"bAQI",
		"",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pkts, err := decodePayloadV4(body)
		if err != nil {
			checkRejected(t, pkts, err)
			return
		}
		checkTextIsUTF8(t, pkts)
		for _, p := range pkts {
			if p.Binary && p.Type != PacketMessage {
				t.Fatalf("v4 binary packet of type %d", p.Type)
			}
		}
		checkRoundTrip(t, "v4", pkts, appendPayloadV4, decodePayloadV4)
	})
}

func FuzzDecodePacketText(f *testing.F) {
	for _, seed := range []string{
		"4hello", "2probe", "3probe", "5", "6", `0{"sid":"abc"}`,
		"4" + textAccents, "4" + textEmoji, "b4AQIDBA==", "bAQIDBA==", "b", "", "7", "4\xff",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := decodePacketText(data)
		if err == nil {
			checkTextIsUTF8(t, []packet{p})
			// Valid input is its own canonical form.
			if enc := appendPacketText(nil, p); !bytes.Equal(enc, data) {
				t.Fatalf("re-encoded %q as %q", data, enc)
			}
		} else if !isInputError(err) {
			t.Fatalf("error %v does not wrap a documented sentinel", err)
		}

		// The same bytes as WebSocket frames of either revision.
		for _, protocol := range []int{ProtocolV3, ProtocolV4} {
			if p, err := decodeTextFrame(protocol, data); err == nil {
				checkTextIsUTF8(t, []packet{p})
				again, err := decodeTextFrame(protocol, appendTextFrame(protocol, nil, p))
				if err != nil || !samePacket(again, p) {
					t.Fatalf("v%d text frame round trip of %q: %+v, %v", protocol, data, again, err)
				}
			} else if !isInputError(err) {
				t.Fatalf("error %v does not wrap a documented sentinel", err)
			}
			if p, err := decodeWSBinary(protocol, data); err == nil {
				if enc := appendWSBinary(protocol, nil, p.Data); p.Type == PacketMessage && !bytes.Equal(enc, data) {
					t.Fatalf("v%d binary frame %v re-encoded as %v", protocol, data, enc)
				}
			} else if !isInputError(err) {
				t.Fatalf("error %v does not wrap a documented sentinel", err)
			}
		}
	})
}
