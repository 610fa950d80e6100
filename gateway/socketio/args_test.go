package socketio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

type codecChat struct {
	RoomID    string    `json:"roomId"`
	Username  string    `json:"username"`
	Content   string    `json:"content"`
	CreatedAt time.Time `json:"createdAt"`
}

type codecBlob []byte

type codecFile struct {
	Name    string          `json:"name"`
	Data    []byte          `json:"data"`
	Thumb   []byte          `json:"thumb,omitempty"`
	Secret  []byte          `json:"-"`
	Size    int             `json:"size,string"`
	Label   *string         `json:"label,string"`
	Meta    any             `json:"meta,omitempty"`
	Raw     json.RawMessage `json:"raw,omitempty"`
	When    time.Time       `json:"when,omitzero"`
	private []byte
}

type CodecEmbeddedBase struct {
	ID   int
	Blob []byte `json:"blob"`
	Tag  string
}

type CodecEmbeddedExtra struct {
	Blob  []byte `json:"blob"` // same depth and tagged like CodecEmbeddedBase.Blob: both dropped
	Note  string
	Tag   string `json:"Tag"` // tagged: wins over CodecEmbeddedBase.Tag
	Inner []byte
}

type codecEmbeddedHidden struct {
	Visible []byte
}

type codecUpload struct {
	CodecEmbeddedBase
	*CodecEmbeddedExtra
	codecEmbeddedHidden
	Files  []codecFile       `json:"files"`
	Ptr    *codecFile        `json:"ptr"`
	ByName map[string][]byte `json:"byName"`
	ByNum  map[int]codecFile `json:"byNum"`
	Arr    [2][]byte         `json:"arr"`
	Named  codecBlob         `json:"named"`
	//lint:ignore SA5008 a field named "-" is the encoding/json rule this case checks
	Dash   []byte             `json:"-,"`
	Inner  []byte             // shallower than CodecEmbeddedExtra.Inner: wins
	Any    map[string]any     `json:"any"`
	List   []any              `json:"list"`
	Nested map[string][][]int `json:"nested"`
}

func codecStrPtr(s string) *string { return &s }

// assertEncodesLikeEncodingJSON checks that encodeArgs numbers attachments in text
// order and, with placeholders replaced by base64 strings, produces exactly
// what encoding/json produces for the same arguments.
func assertEncodesLikeEncodingJSON(t *testing.T, args ...any) {
	t.Helper()
	data, atts, err := encodeArgs(nil, "", args)
	if err != nil {
		t.Fatalf("EncodeArgs: %v", err)
	}
	refs, err := findPlaceholders(data, len(atts))
	if err != nil {
		t.Fatalf("EncodeArgs produced %s: %v", data, err)
	}
	if len(refs) != len(atts) {
		t.Fatalf("%d placeholders for %d attachments in %s", len(refs), len(atts), data)
	}
	for i, r := range refs {
		if r.num != i {
			t.Fatalf("placeholder %d names attachment %d; want depth-first order in %s", i, r.num, data)
		}
	}
	got := rewritePlaceholders(data, refs, atts)

	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(args); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, bytes.TrimSuffix(want.Bytes(), []byte("\n"))) {
		t.Errorf("EncodeArgs (placeholders as base64):\n%s\nencoding/json:\n%s", got, want.Bytes())
	}
}

func TestEncodeArgsMatchesEncodingJSON(t *testing.T) {
	when := time.Date(2021, 3, 1, 10, 0, 0, 0, time.UTC)
	full := codecFile{
		Name: "a.png", Data: []byte{1, 2}, Thumb: []byte{3}, Secret: []byte{4}, Size: 42,
		Label: codecStrPtr(`say "hi"`), Meta: map[string]any{"x": []byte{5}}, Raw: json.RawMessage(`{"r":1}`),
		When: when, private: []byte{6},
	}
	sparse := codecFile{Name: "b", Data: []byte{}}
	tests := map[string][]any{
		"chat message":    {codecChat{"room", "Toto", "héllo <b>&</b>\u2028", when}},
		"top-level bytes": {[]byte{1, 2, 3}, codecBlob{4}, []byte(nil), []byte{}},
		"file struct":     {full, &full, sparse},
		"generic values": {map[string]any{
			"z": []any{[]byte{1}, "s", 1.5, nil, map[string]any{"b": []byte{2}}},
			"a": []byte{3},
			"m": map[string][]byte{"k2": {4}, "k1": {5}},
		}},
		"embedding and conflicts": {codecUpload{
			CodecEmbeddedBase:   CodecEmbeddedBase{ID: 1, Blob: []byte{1}, Tag: "base"},
			CodecEmbeddedExtra:  &CodecEmbeddedExtra{Blob: []byte{2}, Note: "n", Tag: "extra", Inner: []byte{3}},
			codecEmbeddedHidden: codecEmbeddedHidden{Visible: []byte{4}},
			Files:               []codecFile{full, sparse},
			Ptr:                 &sparse,
			ByName:              map[string][]byte{"b": {5}, "a": {6}},
			ByNum:               map[int]codecFile{10: sparse, 2: full},
			Arr:                 [2][]byte{{7}, nil},
			Named:               codecBlob{8},
			Dash:                []byte{9},
			Inner:               []byte{10},
			Any:                 map[string]any{"deep": []any{[]any{[]byte{11}}}},
			List:                []any{[]byte{12}, &full},
			Nested:              map[string][][]int{"x": {{1}}},
		}},
		"nil embedded pointer": {codecUpload{CodecEmbeddedBase: CodecEmbeddedBase{Blob: []byte{1}}}},
		"bytes in interface":   {any([]byte{1}), []any{nil, []byte{2}}},
	}
	for name, args := range tests {
		t.Run(name, func(t *testing.T) { assertEncodesLikeEncodingJSON(t, args...) })
	}
}

func TestEncodeArgs(t *testing.T) {
	tests := []struct {
		name      string
		event     string
		args      []any
		want      string
		wantAtts  [][]byte
		wantError bool
	}{
		{name: "event without args", event: "ping", want: `["ping"]`},
		{name: "ack without args", want: `[]`},
		{name: "ack with args", args: []any{1, "x", true, int64(-5), nil}, want: `[1,"x",true,-5,null]`},
		{name: "event name escaping", event: "é\"\\\n\u2028", want: `["é\"\\\n\u2028"]`},
		{name: "no HTML escaping", event: "m", args: []any{"<b>&</b>"}, want: `["m","<b>&</b>"]`},
		{name: "invalid UTF-8 replaced", event: "m", args: []any{"a\xffb"}, want: `["m","a\ufffdb"]`},
		{name: "raw message", event: "m", args: []any{json.RawMessage(`{"a":[1,2]}`)}, want: `["m",{"a":[1,2]}]`},
		{name: "binary", event: "upload", args: []any{"a.png", []byte{1, 2}},
			want: `["upload","a.png",{"_placeholder":true,"num":0}]`, wantAtts: [][]byte{{1, 2}}},
		{name: "nil bytes are null", event: "m", args: []any{[]byte(nil)}, want: `["m",null]`},
		{name: "map with bytes in sorted key order", event: "m",
			args:     []any{map[string]any{"b": []byte{2}, "a": []any{[]byte{1}}, "c": 3}},
			want:     `["m",{"a":[{"_placeholder":true,"num":0}],"b":{"_placeholder":true,"num":1},"c":3}]`,
			wantAtts: [][]byte{{1}, {2}}},
		{name: "map without bytes", event: "m", args: []any{map[string]any{"b": "x", "a": 1}}, want: `["m",{"a":1,"b":"x"}]`},
		{name: "channel", event: "m", args: []any{make(chan int)}, wantError: true},
		{name: "channel beside bytes", event: "m", args: []any{map[string]any{"a": []byte{1}, "b": make(chan int)}}, wantError: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := []byte("42")
			data, atts, err := encodeArgs(prefix, tt.event, tt.args)
			if tt.wantError {
				if err == nil {
					t.Fatalf("EncodeArgs = %s, want an error", data)
				}
				if string(data) != "42" {
					t.Errorf("on error data = %q, want dst unchanged", data)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(data); got != "42"+tt.want {
				t.Errorf("data = %s, want 42%s", got, tt.want)
			}
			if !reflect.DeepEqual(atts, tt.wantAtts) {
				t.Errorf("attachments = %v, want %v", atts, tt.wantAtts)
			}
		})
	}
}

type codecCyclicNode struct {
	Next *codecCyclicNode
	Data []byte
}

func TestEncodeArgsCycles(t *testing.T) {
	n := &codecCyclicNode{Data: []byte{1}}
	n.Next = n
	if _, _, err := encodeArgs(nil, "m", []any{n}); err == nil {
		t.Error("pointer cycle with bytes: no error")
	}
	m := map[string]any{"b": []byte{1}}
	m["self"] = m
	if _, _, err := encodeArgs(nil, "m", []any{m}); err == nil {
		t.Error("map cycle: no error")
	}
	m2 := map[string]any{}
	m2["self"] = m2
	if _, _, err := encodeArgs(nil, "m", []any{m2}); err == nil {
		t.Error("map cycle without bytes: no error")
	}
}

func TestSplitArgs(t *testing.T) {
	tests := []struct {
		data  string
		event string
		args  []string
	}{
		{`["ping"]`, "ping", nil},
		{`["message",{"a":[1,2]},"x",null]`, "message", []string{`{"a":[1,2]}`, `"x"`, `null`}},
		{` [ "spaced" , 1 , [ ] ] `, "spaced", []string{`1`, `[ ]`}},
		{`["caf\u00e9","\"quoted\""]`, "café", []string{`"\"quoted\""`}},
		{`["日本語",{"k":"v"}]`, "日本語", []string{`{"k":"v"}`}},
	}
	for _, tt := range tests {
		event, args, err := splitArgs(json.RawMessage(tt.data))
		if err != nil {
			t.Errorf("SplitArgs(%s): %v", tt.data, err)
			continue
		}
		if event != tt.event || len(args) != len(tt.args) {
			t.Errorf("SplitArgs(%s) = %q, %q; want %q, %q", tt.data, event, args, tt.event, tt.args)
			continue
		}
		for i := range args {
			if string(args[i]) != tt.args[i] {
				t.Errorf("SplitArgs(%s) arg %d = %s, want %s", tt.data, i, args[i], tt.args[i])
			}
		}
	}

	for _, bad := range []string{``, `{}`, `"x"`, `[]`, `[1]`, `[null]`, `["a"`, `["a",]`, `["a"] 1`} {
		if _, _, err := splitArgs(json.RawMessage(bad)); !errors.Is(err, errInvalidPacket) {
			t.Errorf("SplitArgs(%q) error = %v, want ErrInvalidPacket", bad, err)
		}
	}
}

func TestSplitAckArgs(t *testing.T) {
	args, err := splitAckArgs(json.RawMessage(`[1, "two" ,{"three":3}]`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{`1`, `"two"`, `{"three":3}`}
	if len(args) != len(want) {
		t.Fatalf("got %q, want %q", args, want)
	}
	for i := range want {
		if string(args[i]) != want[i] {
			t.Errorf("arg %d = %s, want %s", i, args[i], want[i])
		}
	}
	if args, err := splitAckArgs(json.RawMessage(`[]`)); err != nil || len(args) != 0 {
		t.Errorf("empty ack: %q, %v", args, err)
	}
	if _, err := splitAckArgs(json.RawMessage(`{}`)); !errors.Is(err, errInvalidPacket) {
		t.Errorf("object ack: %v", err)
	}
}

type codecDynamic struct {
	Name  string          `json:"name"`
	Data  []byte          `json:"data"`
	Extra any             `json:"extra"`
	Map   map[string]any  `json:"map"`
	Raw   json.RawMessage `json:"raw"`
	Items []struct {
		Payload any    `json:"payload"`
		Bytes   []byte `json:"bytes"`
	} `json:"items"`
	ByKey map[string]struct {
		V any `json:"v"`
	} `json:"byKey"`
}

func TestBindArg(t *testing.T) {
	atts := [][]byte{{0xa0}, {0xb1, 0xb2}, {}}
	ph := placeholderJSON
	tests := []struct {
		name    string
		raw     string
		atts    [][]byte
		typ     reflect.Type
		want    any
		wantErr error // nil: no error; errAnyError: any error
	}{
		{name: "bytes from placeholder", raw: ph(1), atts: atts, typ: reflect.TypeFor[[]byte](), want: []byte{0xb1, 0xb2}},
		{name: "empty attachment", raw: ph(2), atts: atts, typ: reflect.TypeFor[[]byte](), want: []byte{}},
		{name: "named bytes from placeholder", raw: ph(0), atts: atts, typ: reflect.TypeFor[codecBlob](), want: codecBlob{0xa0}},
		{name: "bytes from base64 string", raw: `"AQI="`, typ: reflect.TypeFor[[]byte](), want: []byte{1, 2}},
		{name: "bytes from null", raw: `null`, atts: atts, typ: reflect.TypeFor[[]byte](), want: []byte(nil)},
		{name: "bytes from placeholder without attachments", raw: ph(0), typ: reflect.TypeFor[[]byte](), wantErr: errAnyError},
		{name: "bytes from placeholder inside array", raw: `[` + ph(0) + `]`, atts: atts, typ: reflect.TypeFor[[]byte](), wantErr: errAnyError},
		{name: "any placeholder", raw: ph(1), atts: atts, typ: reflect.TypeFor[any](), want: []byte{0xb1, 0xb2}},
		{name: "any nested", raw: `{"a":[1,` + ph(0) + `],"n":2,"s":"x"}`, atts: atts, typ: reflect.TypeFor[any](),
			want: map[string]any{"a": []any{1.0, []byte{0xa0}}, "n": 2.0, "s": "x"}},
		{name: "map nested", raw: `{"a":{"b":` + ph(1) + `}}`, atts: atts, typ: reflect.TypeFor[map[string]any](),
			want: map[string]any{"a": map[string]any{"b": []byte{0xb1, 0xb2}}}},
		{name: "slice", raw: `[` + ph(0) + `,` + ph(1) + `,[` + ph(2) + `]]`, atts: atts, typ: reflect.TypeFor[[]any](),
			want: []any{[]byte{0xa0}, []byte{0xb1, 0xb2}, []any{[]byte{}}}},
		{name: "placeholder is plain data without attachments", raw: ph(0), typ: reflect.TypeFor[any](),
			want: map[string]any{"_placeholder": true, "num": 0.0}},
		{name: "numbers into any are float64", raw: `[1, 12345678901234567890, -0.5]`, typ: reflect.TypeFor[any](),
			want: []any{1.0, 12345678901234567890.0, -0.5}},
		{name: "raw message keeps placeholders", raw: `{"a":` + ph(0) + `}`, atts: atts, typ: reflect.TypeFor[json.RawMessage](),
			want: json.RawMessage(`{"a":` + ph(0) + `}`)},
		{name: "struct with bytes", raw: `{"name":"a","data":` + ph(1) + `,"thumb":` + ph(0) + `,"size":"7"}`, atts: atts, typ: reflect.TypeFor[codecFile](),
			want: codecFile{Name: "a", Data: []byte{0xb1, 0xb2}, Thumb: []byte{0xa0}, Size: 7}},
		{name: "pointer to struct", raw: `{"data":` + ph(2) + `}`, atts: atts, typ: reflect.TypeFor[*codecFile](),
			want: &codecFile{Data: []byte{}}},
		{name: "slice of structs", raw: `[{"data":` + ph(0) + `},{"name":"b","data":` + ph(1) + `}]`, atts: atts, typ: reflect.TypeFor[[]codecFile](),
			want: []codecFile{{Data: []byte{0xa0}}, {Name: "b", Data: []byte{0xb1, 0xb2}}}},
		{name: "map of bytes", raw: `{"x":` + ph(0) + `,"y":"AQ=="}`, atts: atts, typ: reflect.TypeFor[map[string][]byte](),
			want: map[string][]byte{"x": {0xa0}, "y": {1}}},
		{name: "struct with interface and raw fields", atts: atts, typ: reflect.TypeFor[codecDynamic](),
			raw: `{"name":"n","data":` + ph(0) + `,"extra":{"file":` + ph(1) + `,"n":1},"map":{"k":[` + ph(2) + `]},"raw":[` + ph(0) + `],` +
				`"items":[{"payload":` + ph(1) + `,"bytes":` + ph(2) + `},{"payload":"plain"}],"byKey":{"k":{"v":` + ph(0) + `}}}`,
			want: codecDynamic{
				Name: "n", Data: []byte{0xa0},
				Extra: map[string]any{"file": []byte{0xb1, 0xb2}, "n": 1.0},
				Map:   map[string]any{"k": []any{[]byte{}}},
				Raw:   json.RawMessage(`[` + ph(0) + `]`),
				Items: []struct {
					Payload any    `json:"payload"`
					Bytes   []byte `json:"bytes"`
				}{{Payload: []byte{0xb1, 0xb2}, Bytes: []byte{}}, {Payload: "plain"}},
				ByKey: map[string]struct {
					V any `json:"v"`
				}{"k": {V: []byte{0xa0}}},
			}},
		{name: "number beyond float64", raw: `[1e400]`, typ: reflect.TypeFor[any](), wantErr: errAnyError},
		{name: "string", raw: `"héllo"`, atts: atts, typ: reflect.TypeFor[string](), want: "héllo"},
		{name: "int from string", raw: `"x"`, typ: reflect.TypeFor[int](), wantErr: errAnyError},
		{name: "struct from array", raw: `[1]`, typ: reflect.TypeFor[codecChat](), wantErr: errAnyError},
		{name: "placeholder as a whole map", raw: ph(0), atts: atts, typ: reflect.TypeFor[map[string]any](), wantErr: errBadPlaceholder},
		{name: "placeholder out of range", raw: `{"a":` + ph(3) + `}`, atts: atts, typ: reflect.TypeFor[any](), wantErr: errBadPlaceholder},
		{name: "malformed placeholder", raw: `{"_placeholder":true,"num":"0"}`, atts: atts, typ: reflect.TypeFor[any](), wantErr: errBadPlaceholder},
		{name: "invalid JSON with attachments", raw: `{"a":`, atts: atts, typ: reflect.TypeFor[any](), wantErr: errInvalidPacket},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := bindArg(json.RawMessage(tt.raw), tt.typ, tt.atts)
			switch {
			case tt.wantErr == errAnyError:
				if err == nil {
					t.Fatalf("bindArg = %#v, want an error", v.Interface())
				}
				return
			case tt.wantErr != nil:
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("bindArg error = %v, want %v", err, tt.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("bindArg: %v", err)
			}
			if v.Type() != tt.typ {
				t.Fatalf("bound a %s, want %s", v.Type(), tt.typ)
			}
			if !reflect.DeepEqual(v.Interface(), tt.want) {
				t.Errorf("bindArg =\n%#v\nwant\n%#v", v.Interface(), tt.want)
			}
		})
	}
}

var errAnyError = errors.New("any error")

// codecStubConn is a Conn for handler tests; only ID is implemented.
type codecStubConn struct {
	Conn
	id string
}

func (c *codecStubConn) ID() string { return c.id }

var codecConnType = reflect.TypeFor[Conn]()

func TestNewHandlerRejectsBadShapes(t *testing.T) {
	tests := []struct {
		name string
		fn   any
		want string
	}{
		{"nil", nil, "handler is nil"},
		{"not a func", 42, "must be a func"},
		{"nil func", (func(Conn))(nil), "nil"},
		{"no parameters", func() {}, "first parameter"},
		{"conn not first", func(string, Conn) {}, "first parameter"},
		{"concrete conn", func(*codecStubConn) {}, "first parameter"},
		{"channel parameter", func(Conn, chan int) {}, "parameter 2"},
		{"func parameter", func(Conn, func()) {}, "parameter 2"},
		{"non-empty interface parameter", func(Conn, fmt.Stringer) {}, "interface"},
		{"error result", func(Conn) error { return nil }, "error"},
		{"complex result", func(Conn) complex128 { return 0 }, "result 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("newHandler accepted the handler")
				}
				if msg := fmt.Sprint(r); !strings.Contains(msg, tt.want) || !strings.HasPrefix(msg, "socketio: ") {
					t.Errorf("panic %q does not mention %q", msg, tt.want)
				}
			}()
			newHandler(tt.fn, codecConnType)
		})
	}
}

func rawArgList(args ...string) []json.RawMessage {
	out := make([]json.RawMessage, len(args))
	for i, a := range args {
		out[i] = json.RawMessage(a)
	}
	return out
}

func TestHandlerCall(t *testing.T) {
	conn := reflect.ValueOf(Conn(&codecStubConn{id: "sock1"}))

	t.Run("typed arguments and results", func(t *testing.T) {
		h := newHandler(func(c Conn, m codecChat, n int) (string, int) {
			return c.ID() + ":" + m.Username + ":" + m.Content, n * 2
		}, codecConnType)
		got, err := h.call(conn, rawArgList(`{"username":"Toto","content":"hé"}`, `21`), nil)
		if err != nil {
			t.Fatal(err)
		}
		if want := []any{"sock1:Toto:hé", 42}; !reflect.DeepEqual(got, want) {
			t.Errorf("results = %#v, want %#v", got, want)
		}
	})

	t.Run("missing trailing arguments are zero, extra ones ignored", func(t *testing.T) {
		type seen struct {
			s string
			n int
			m *codecChat
			a any
		}
		var calls []seen
		h := newHandler(func(c Conn, s string, n int, m *codecChat, a any) {
			calls = append(calls, seen{s, n, m, a})
		}, codecConnType)
		if _, err := h.call(conn, rawArgList(`"x"`), nil); err != nil {
			t.Fatal(err)
		}
		if _, err := h.call(conn, rawArgList(`"y"`, `1`, `null`, `true`, `"extra"`, `{}`), nil); err != nil {
			t.Fatal(err)
		}
		want := []seen{{"x", 0, nil, nil}, {"y", 1, nil, true}}
		if !reflect.DeepEqual(calls, want) {
			t.Errorf("calls = %+v, want %+v", calls, want)
		}
	})

	t.Run("binary arguments", func(t *testing.T) {
		var gotBytes []byte
		var gotAny any
		var gotFile codecFile
		h := newHandler(func(c Conn, b []byte, a any, f codecFile) []byte {
			gotBytes, gotAny, gotFile = b, a, f
			return append([]byte("echo:"), b...)
		}, codecConnType)
		atts := [][]byte{{1}, {2}, {3}}
		res, err := h.call(conn, rawArgList(placeholderJSON(0), `{"x":`+placeholderJSON(1)+`}`, `{"data":`+placeholderJSON(2)+`}`), atts)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gotBytes, []byte{1}) || !reflect.DeepEqual(gotAny, map[string]any{"x": []byte{2}}) || !bytes.Equal(gotFile.Data, []byte{3}) {
			t.Errorf("got %v, %v, %v", gotBytes, gotAny, gotFile.Data)
		}
		if !reflect.DeepEqual(res, []any{[]byte("echo:\x01")}) {
			t.Errorf("results = %v", res)
		}
	})

	t.Run("no results", func(t *testing.T) {
		h := newHandler(func(Conn) {}, codecConnType)
		res, err := h.call(conn, nil, nil)
		if err != nil || res != nil {
			t.Errorf("call = %v, %v; want nil, nil", res, err)
		}
	})

	t.Run("bad argument", func(t *testing.T) {
		called := false
		h := newHandler(func(c Conn, s string, n int) { called = true }, codecConnType)
		_, err := h.call(conn, rawArgList(`"ok"`, `"not a number"`), nil)
		if err == nil || !strings.Contains(err.Error(), "argument 2") {
			t.Errorf("error = %v, want one naming argument 2", err)
		}
		if called {
			t.Error("handler called despite the bad argument")
		}
	})

	t.Run("panic is recovered with its stack", func(t *testing.T) {
		h := newHandler(func(c Conn, s string) { panic("boom: " + s) }, codecConnType)
		_, err := h.call(conn, rawArgList(`"x"`), nil)
		var pe *handlerPanicError
		if !errors.As(err, &pe) {
			t.Fatalf("error = %v, want a *handlerPanicError", err)
		}
		if pe.value != "boom: x" || !strings.Contains(err.Error(), "boom: x") {
			t.Errorf("panic value %v, message %q", pe.value, err)
		}
		if !strings.Contains(string(pe.stack), "TestHandlerCall") {
			t.Errorf("stack does not show the panicking function:\n%s", pe.stack)
		}
	})

	t.Run("nil conn value", func(t *testing.T) {
		var got Conn = &codecStubConn{}
		h := newHandler(func(c Conn) { got = c }, codecConnType)
		if _, err := h.call(reflect.Value{}, nil, nil); err != nil {
			t.Fatal(err)
		}
		if got != nil {
			t.Errorf("conn = %v, want nil", got)
		}
	})

	t.Run("ack callback without conn", func(t *testing.T) {
		var got []string
		h := newHandler(func(a string, b []byte) { got = append(got, a, string(b)) }, nil)
		if _, err := h.call(reflect.Value{}, rawArgList(`"ok"`, placeholderJSON(0)), [][]byte{[]byte("bin")}); err != nil {
			t.Fatal(err)
		}
		if want := []string{"ok", "bin"}; !reflect.DeepEqual(got, want) {
			t.Errorf("got %q, want %q", got, want)
		}
	})
}

// TestArgsRoundTrip sends values through the whole codec: encodeArgs, the
// packet text and attachments, the decoder, splitArgs and bindArg.
func TestArgsRoundTrip(t *testing.T) {
	when := time.Date(2021, 3, 1, 10, 0, 0, 0, time.UTC)
	args := []any{
		codecChat{"room", "Toto", "héllo 🎉", when},
		[]byte{1, 2, 3},
		codecFile{Name: "f", Data: []byte{4}, Thumb: []byte{5}, Size: 9, Meta: "m"},
		[]codecFile{{Data: []byte{6}}, {Data: []byte{}}},
		"plain",
	}
	types := []reflect.Type{
		reflect.TypeFor[codecChat](), reflect.TypeFor[[]byte](), reflect.TypeFor[codecFile](),
		reflect.TypeFor[[]codecFile](), reflect.TypeFor[string](),
	}
	data, atts, err := encodeArgs(nil, "upload", args)
	if err != nil {
		t.Fatal(err)
	}
	text := appendPacketText(nil, &packet{Type: packetBinaryEvent, Namespace: "/files", ID: 3, HasID: true, Data: data, Attachments: atts})
	p, err := decodeCodecPacket(t, string(text), atts...)
	if err != nil {
		t.Fatalf("decoding %s: %v", text, err)
	}
	event, raw, err := splitArgs(p.Data)
	if err != nil || event != "upload" || len(raw) != len(args) {
		t.Fatalf("SplitArgs = %q, %d args, %v", event, len(raw), err)
	}
	for i, typ := range types {
		v, err := bindArg(raw[i], typ, p.Attachments)
		if err != nil {
			t.Fatalf("arg %d: %v", i, err)
		}
		if !reflect.DeepEqual(v.Interface(), args[i]) {
			t.Errorf("arg %d = %#v, want %#v", i, v.Interface(), args[i])
		}
	}
}

func BenchmarkEncodeArgs(b *testing.B) {
	msg := codecChat{RoomID: "ws-room-mwxti4tz", Username: "Toto", Content: "hello from Toto, with some text", CreatedAt: time.Date(2021, 3, 1, 10, 0, 0, 0, time.UTC)}
	cases := map[string][]any{
		"chat struct":           {msg},
		"participants slice":    {[]codecChat{msg, msg, msg}},
		"map without bytes":     {map[string]any{"roomId": "ws-room-mwxti4tz", "username": "Toto", "connected": true}},
		"map with bytes":        {map[string]any{"name": "a.png", "data": make([]byte, 4096)}},
		"struct with bytes":     {codecFile{Name: "a.png", Data: make([]byte, 4096)}},
		"string and raw string": {"hello", json.RawMessage(`{"a":1}`)},
	}
	for name, args := range cases {
		b.Run(name, func(b *testing.B) {
			buf := make([]byte, 0, 512)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if buf, _, err = encodeArgs(buf[:0], "message", args); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestArgsConcurrentUse exercises the shared encoder pool and type caches
// from several goroutines; run with -race.
func TestArgsConcurrentUse(t *testing.T) {
	value := codecUpload{
		Inner: []byte{1},
		Files: []codecFile{{Name: "f", Data: []byte{2}}},
		Any:   map[string]any{"k": []byte{3}},
	}
	wantData, wantAtts, err := encodeArgs(nil, "e", []any{value})
	if err != nil {
		t.Fatal(err)
	}
	_, raw, err := splitArgs(wantData)
	if err != nil {
		t.Fatal(err)
	}
	const workers, rounds = 8, 200
	errs := make(chan error, workers)
	for range workers {
		go func() {
			for range rounds {
				data, atts, err := encodeArgs(nil, "e", []any{value})
				if err != nil || !bytes.Equal(data, wantData) || !reflect.DeepEqual(atts, wantAtts) {
					errs <- fmt.Errorf("concurrent EncodeArgs = %s, %v, %v", data, atts, err)
					return
				}
				v, err := bindArg(raw[0], reflect.TypeFor[codecUpload](), atts)
				if err != nil || !reflect.DeepEqual(v.Interface(), value) {
					errs <- fmt.Errorf("concurrent bindArg = %+v, %v", v, err)
					return
				}
			}
			errs <- nil
		}()
	}
	for range workers {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

func TestVariadicHandlerSpreadsArgs(t *testing.T) {
	tests := []struct {
		name string
		args []json.RawMessage
		want string
	}{
		{"none", nil, `[]`},
		{"mixed", []json.RawMessage{json.RawMessage(`1`), json.RawMessage(`"2"`), json.RawMessage(`{"3":[true]}`)}, `[1,"2",{"3":[true]}]`},
		{"binary", []json.RawMessage{json.RawMessage(`{"_placeholder":true,"num":0}`)}, `[{"_placeholder":true,"num":0}]`},
	}
	h := newHandler(func(c Conn, args ...any) Args { return args }, connType)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := h.call(reflect.Value{}, tc.args, [][]byte{{1, 2, 3}})
			if err != nil {
				t.Fatal(err)
			}
			data, atts, err := encodeArgs(nil, "", out)
			if err != nil {
				t.Fatal(err)
			}
			if string(data) != tc.want {
				t.Fatalf("ack = %s, want %s", data, tc.want)
			}
			if tc.name == "binary" && (len(atts) != 1 || !bytes.Equal(atts[0], []byte{1, 2, 3})) {
				t.Fatalf("attachments = %v", atts)
			}
		})
	}
}
