package httpapi

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// V8 and encoding/json implement the same grammar, so they must agree on
// which texts are valid JSON; only the error texts are V8's own.
func FuzzParserAgreesWithEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{}`, `[]`, `{"roomId":"a","creatorUsername":"b"}`, `[1,-2.5e+3,true,false,null,"s\n\u00e9"]`,
		`{"a":`, `[1,]`, `01`, `-`, `1.`, `1e+`, `"\u12"`, `"\x"`, `tru`, `{"a" 1}`, `{"a":1,"b" c}`,
		" \t\r\n{ \"k\" : [ {} , [ ] ] } ", `"\ud800"`, `{"a":1}}`, "\"\x01\"", `{"a":"b",}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !utf8.ValidString(s) {
			return // the parser sees Node's decoding of the bytes, not the bytes
		}
		doc, msg := parseJSONLikeV8(decodeUTF8([]byte(s)))
		valid := msg == ""
		if valid != json.Valid([]byte(s)) {
			t.Fatalf("%q: v8 parser valid=%v (%q), encoding/json valid=%v", s, valid, msg, !valid)
		}
		if valid && doc == nil {
			t.Fatalf("%q: valid but no document", s)
		}
	})
}

func TestTopLevelMembers(t *testing.T) {
	src := `{ "roomId" : "r\u00e9\n" , "n": -1.50e1, "t":true, "f" :false, "z": null, "o": {"roomId": "inner"}, "a": [1], "roomId2": "x", "r\u006fomId3": 1e21 }`
	doc, msg := parseJSONLikeV8(decodeUTF8([]byte(src)))
	if msg != "" {
		t.Fatal(msg)
	}
	b := requestBody{json: doc}
	tests := map[string]dtoField{
		"roomId":  {text: "ré\n"},
		"n":       {text: "-15"},
		"t":       {text: "true"},
		"f":       {text: "false"},
		"z":       {},
		"o":       {notString: true},
		"a":       {notString: true},
		"roomId2": {text: "x"},
		"roomId3": {text: "1e+21"},
		"missing": {},
	}
	for name, want := range tests {
		if got := b.field(name); got != want {
			t.Errorf("field %q = %+v, want %+v", name, got, want)
		}
	}
}

// Nesting is bounded only by the body limit; the parser must not recurse.
func TestDeepNesting(t *testing.T) {
	const depth = DefaultMaxBodyBytes / 2
	src := strings.Repeat("[", depth) + strings.Repeat("]", depth)
	doc, msg := parseJSONLikeV8(decodeUTF8([]byte(src)))
	if msg != "" || doc.kind != kindArray {
		t.Fatalf("deep array: kind %v, error %q", doc, msg)
	}
	_, msg = parseJSONLikeV8(decodeUTF8([]byte(strings.Repeat(`{"a":`, depth/5))))
	if msg != "Unexpected end of JSON input" {
		t.Fatalf("deep truncated object: %q", msg)
	}
}

func TestDecodeUTF8LikeNode(t *testing.T) {
	tests := []struct {
		in   []byte
		want string
	}{
		{[]byte("a\xffb"), "a\ufffdb"},
		{[]byte("a\xe2\x82b"), "a\ufffdb"},             // one U+FFFD per maximal subpart
		{[]byte("\xf0\x9f\x98"), "\ufffd"},             // truncated 4-byte sequence
		{[]byte("\xe0\x80\x80"), "\ufffd\ufffd\ufffd"}, // overlong: each byte
		{[]byte("\xed\xa0\x80"), "\ufffd\ufffd\ufffd"}, // encoded surrogate
		{[]byte("é😀"), "é😀"},
	}
	for _, tc := range tests {
		if got := utf16ToString(decodeUTF8(tc.in)); got != tc.want {
			t.Errorf("decodeUTF8(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestJSStringifyLoneSurrogates(t *testing.T) {
	got := string(appendJSString(nil, utf16ToWTF8([]uint16{'a', 0xD83D, 'b', 0xDE00, 0xD83D, 0xDE00})))
	if want := `"a\ud83db\ude00😀"`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
