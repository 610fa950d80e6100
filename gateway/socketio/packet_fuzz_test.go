package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

// maxFuzzFrames bounds the binary messages taken from one fuzz input.
const maxFuzzFrames = 12

// fuzzSeeds are the protocol examples (v4 and v5) and edge cases, as a text
// message and its attachments.
var fuzzSeeds = []struct {
	text string
	bins [][]byte
}{
	{"0", nil},
	{"0/admin,", nil},
	{`0/admin,{"token":"123"}`, nil},
	{"0/admin?token=1234&uid=abcd,", nil},
	{"1", nil},
	{"1/admin,", nil},
	{`2["foo"]`, nil},
	{`2/admin,456["project:delete",123]`, nil},
	{`212["foo"]`, nil},
	{`3/admin,13["bar"]`, nil},
	{`3/admin,456[]`, nil},
	{`4{"message":"Not authorized"}`, nil},
	{`4/admin,"Not authorized"`, nil},
	{`51-["baz",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3, 4}}},
	{`52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`, [][]byte{{1, 2}, {3, 4}}},
	{`61-15["bar",{"_placeholder":true,"num":0}]`, [][]byte{{1, 2, 3, 4}}},
	{`62-7[{"files":[{"data":{"_placeholder":true,"num":1}},{"more":[{"_placeholder":true,"num":0}]}]}]`, [][]byte{{5}, {6}}},
	{`50-["a"]`, nil},
	{`2["héllo","日本語 🎉",{"k":"\u00e9\ud83c\udf89"}]`, nil},
	{`51-["a", { "\u005fplaceholder" : true , "num" : 0.0e1 } ]`, [][]byte{{}}},
	{`2["a",[[[[{"b":[1,2.5e-3,-0,true,false,null]}]]]]]`, nil},
	{`51-["a"]`, [][]byte{{1}}},
	{`2["a",{"_placeholder":true,"num":0}]`, [][]byte{{1}}},
}

func fuzzFrameBytes(bins [][]byte) []byte {
	var out []byte
	for _, b := range bins {
		out = append(out, byte(len(b)))
		out = append(out, b...)
	}
	return out
}

// fuzzSplitFrames reads length-prefixed frames: a length byte, then that many
// bytes (fewer if the input ends).
func fuzzSplitFrames(framed []byte) [][]byte {
	var bins [][]byte
	for len(framed) > 0 && len(bins) < maxFuzzFrames {
		n := min(int(framed[0]), len(framed)-1)
		bins = append(bins, framed[1:1+n])
		framed = framed[1+n:]
	}
	return bins
}

func isCodecError(err error) bool {
	for _, sentinel := range []error{errInvalidPacket, errTooManyAttachments, errUnexpectedBinary, errJSONTooDeep, errBadPlaceholder} {
		if errors.Is(err, sentinel) {
			return true
		}
	}
	return false
}

// FuzzDecoder feeds a text message and then up to maxFuzzFrames binary
// messages. Decoding must never panic and must fail only with the package's
// errors; an accepted packet must satisfy the decoder's documented
// guarantees, and re-encoding it must decode to the same packet.
func FuzzDecoder(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.text), fuzzFrameBytes(s.bins))
	}
	f.Fuzz(func(t *testing.T, text, framed []byte) {
		bins := fuzzSplitFrames(framed)
		d := newDecoder(decoderLimits{})
		p, err := d.addText(text)
		if err != nil {
			if !isCodecError(err) {
				t.Fatalf("AddText(%q): foreign error %v", text, err)
			}
			return
		}
		used := 0
		for p == nil && used < len(bins) {
			if p, err = d.addBinary(bins[used]); err != nil {
				t.Fatalf("AddBinary while attachments are due: %v", err)
			}
			used++
		}
		if p == nil {
			return // still waiting for attachments
		}
		if used < len(bins) {
			if _, err := d.addBinary(bins[used]); !errors.Is(err, errUnexpectedBinary) {
				t.Fatalf("binary message after a complete packet: %v", err)
			}
		}
		checkDecodedCodecPacket(t, p)

		text2 := appendPacketText(nil, p)
		d2 := newDecoder(decoderLimits{})
		p2, err := d2.addText(text2)
		for i := 0; err == nil && p2 == nil && i < len(p.Attachments); i++ {
			p2, err = d2.addBinary(p.Attachments[i])
		}
		if err != nil || p2 == nil {
			t.Fatalf("re-encoded %q (from %q) does not decode: %v", text2, text, err)
		}
		if !codecPacketsEqual(p, p2) {
			t.Fatalf("round trip changed the packet:\n%+v\n%+v", p, p2)
		}
		if text3 := appendPacketText(nil, p2); !bytes.Equal(text2, text3) {
			t.Fatalf("encoding is not stable: %q then %q", text2, text3)
		}
	})
}

func checkDecodedCodecPacket(t *testing.T, p *packet) {
	t.Helper()
	if p.Namespace == "" || p.Namespace[0] != '/' || bytes.IndexByte([]byte(p.Namespace), ',') >= 0 {
		t.Fatalf("bad namespace %q", p.Namespace)
	}
	if p.HasID && (p.ID < 0 || p.ID > defaultMaxAckID) {
		t.Fatalf("ack id %d out of range", p.ID)
	}
	if len(p.Attachments) > defaultMaxAttachments {
		t.Fatalf("%d attachments", len(p.Attachments))
	}
	if !p.Type.isBinary() && len(p.Attachments) != 0 {
		t.Fatalf("%s with attachments", p.Type)
	}
	if p.Data != nil && !json.Valid(p.Data) {
		t.Fatalf("accepted invalid JSON %q", p.Data)
	}
	var args []json.RawMessage
	switch p.Type {
	case packetEvent, packetBinaryEvent:
		var err error
		if _, args, err = splitArgs(p.Data); err != nil {
			t.Fatalf("accepted event payload %q that SplitArgs rejects: %v", p.Data, err)
		}
	case packetAck, packetBinaryAck:
		var err error
		if !p.HasID {
			t.Fatal("ack without id")
		}
		if args, err = splitAckArgs(p.Data); err != nil {
			t.Fatalf("accepted ack payload %q that SplitAckArgs rejects: %v", p.Data, err)
		}
	}
	for i, a := range args {
		// Placeholders and syntax were checked by the decoder; what is left
		// is encoding/json refusing numbers beyond float64 (1e400).
		var typeErr *json.UnmarshalTypeError
		if _, err := bindArg(a, reflect.TypeFor[any](), p.Attachments); err != nil && !errors.As(err, &typeErr) {
			t.Fatalf("argument %d %q of an accepted packet does not bind to any: %v", i, a, err)
		}
	}
}

func codecPacketsEqual(a, b *packet) bool {
	if a.Type != b.Type || a.Namespace != b.Namespace || a.HasID != b.HasID || a.ID != b.ID ||
		!bytes.Equal(a.Data, b.Data) || (a.Data == nil) != (b.Data == nil) || len(a.Attachments) != len(b.Attachments) {
		return false
	}
	for i := range a.Attachments {
		if !bytes.Equal(a.Attachments[i], b.Attachments[i]) {
			return false
		}
	}
	return true
}

var fuzzBindTypes = []reflect.Type{
	reflect.TypeFor[any](),
	reflect.TypeFor[[]byte](),
	reflect.TypeFor[map[string]any](),
	reflect.TypeFor[[]any](),
	reflect.TypeFor[json.RawMessage](),
	reflect.TypeFor[string](),
	reflect.TypeFor[float64](),
	reflect.TypeFor[codecChat](),
	reflect.TypeFor[codecFile](),
	reflect.TypeFor[*codecDynamic](),
	reflect.TypeFor[[]codecFile](),
	reflect.TypeFor[map[string][]byte](),
	reflect.TypeFor[codecUpload](),
}

// FuzzBindArg binds arbitrary JSON to a range of parameter types with up to
// four attachments. It must never panic, must return a value of the
// requested type, and a value bound to any must survive encodeArgs and
// binding again unchanged.
func FuzzBindArg(f *testing.F) {
	f.Add([]byte(`{"_placeholder":true,"num":0}`), uint8(1), uint8(0))
	f.Add([]byte(`{"_placeholder":true,"num":0}`), uint8(1), uint8(1))
	f.Add([]byte(`{"a":[1,{"_placeholder":true,"num":1}],"n":2}`), uint8(2), uint8(2))
	f.Add([]byte(`[{"_placeholder":true,"num":0},[{"_placeholder":true,"num":1}]]`), uint8(2), uint8(3))
	f.Add([]byte(`{"name":"a","data":{"_placeholder":true,"num":0},"size":"7","meta":{"_placeholder":true,"num":1}}`), uint8(2), uint8(8))
	f.Add([]byte(`{"name":"n","data":{"_placeholder":true,"num":0},"extra":{"f":{"_placeholder":true,"num":1}},"raw":[1],"items":[{"payload":{"_placeholder":true,"num":2}}],"byKey":{"k":{"v":{"_placeholder":true,"num":3}}}}`), uint8(4), uint8(9))
	f.Add([]byte(`[{"data":{"_placeholder":true,"num":0}},{"data":"AQ=="}]`), uint8(1), uint8(10))
	f.Add([]byte(`{"x":{"_placeholder":true,"num":0}}`), uint8(1), uint8(11))
	f.Add([]byte(`{"ID":1,"blob":{"_placeholder":true,"num":0},"any":{"k":{"_placeholder":true,"num":1}},"list":[{"_placeholder":true,"num":2}]}`), uint8(3), uint8(12))
	f.Add([]byte(`{"username":"Toto","createdAt":"2021-03-01T10:00:00.000Z"}`), uint8(0), uint8(7))
	f.Add([]byte(`"héllo"`), uint8(0), uint8(5))
	f.Add([]byte(`1e400`), uint8(1), uint8(6))
	f.Fuzz(func(t *testing.T, raw []byte, nAtts, typeSel uint8) {
		atts := make([][]byte, int(nAtts)%5)
		for i := range atts {
			atts[i] = bytes.Repeat([]byte{byte(i)}, i)
		}
		typ := fuzzBindTypes[int(typeSel)%len(fuzzBindTypes)]
		v, err := bindArg(raw, typ, atts)
		if err != nil {
			return
		}
		if v.Type() != typ {
			t.Fatalf("bound a %s, want %s", v.Type(), typ)
		}
		if typ != reflect.TypeFor[any]() {
			return
		}
		data, atts2, err := encodeArgs(nil, "", []any{v.Interface()})
		if err != nil {
			t.Fatalf("re-encoding %#v: %v", v.Interface(), err)
		}
		args, err := splitAckArgs(data)
		if err != nil || len(args) != 1 {
			t.Fatalf("SplitAckArgs(%s) = %d args, %v", data, len(args), err)
		}
		v2, err := bindArg(args[0], typ, atts2)
		if err != nil {
			t.Fatalf("binding re-encoded %s: %v", data, err)
		}
		if !reflect.DeepEqual(v.Interface(), v2.Interface()) {
			t.Fatalf("round trip changed the value:\n%#v\n%#v", v.Interface(), v2.Interface())
		}
	})
}

// FuzzScanJSON checks the hand-written JSON validator against
// encoding/json, and that placeholder spans it reports are objects.
func FuzzScanJSON(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s.text[1:]), uint8(len(s.bins)))
	}
	f.Add([]byte(`{"a":[1,-2.5E+3,"\u00e9\"",true,false,null,{}]}`), uint8(0))
	f.Add([]byte("\"\xff\""), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, attachments uint8) {
		var s jsonScanner
		s.maxDepth = 10000 // encoding/json's own nesting limit
		syntaxErr := s.scan(data)
		if want := json.Valid(data); (syntaxErr == nil) != want {
			t.Fatalf("scan(%q) = %v, encoding/json says valid=%v", data, syntaxErr, want)
		}

		s.wantPlaceholders, s.attachments = true, int(attachments)
		err := s.scan(data)
		switch {
		case syntaxErr != nil && err == nil:
			t.Fatalf("scan(%q) with placeholders accepted invalid JSON", data)
		case syntaxErr == nil && err != nil && !errors.Is(err, errBadPlaceholder):
			t.Fatalf("scan(%q) with placeholders: %v", data, err)
		}
		if err != nil {
			return
		}
		last := 0
		for _, r := range s.placeholders {
			obj := data[r.start:r.end]
			if r.start < last || obj[0] != '{' || !json.Valid(obj) || r.num < 0 || r.num >= int(attachments) {
				t.Fatalf("bad placeholder span %q (num %d) in %q", obj, r.num, data)
			}
			last = r.end
		}
	})
}
