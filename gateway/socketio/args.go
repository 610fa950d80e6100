package socketio

// Argument (un)marshalling between Go values and Socket.IO payloads.
//
// Encoding: arguments are JSON encoded like encoding/json (with HTML escaping
// off, as JSON.stringify does), except that every []byte becomes a
// {"_placeholder":true,"num":i} object and is returned as attachment i, in
// depth-first order. Which types can hold a []byte is computed once per
// reflect.Type, so arguments that cannot (the common case) are handed to
// encoding/json directly without any reflection walk.
//
// Decoding: a top-level array is split into raw elements (splitArgs) and each
// element is bound to a handler parameter type (bindArg) with
// encoding/json semantics: numbers decoded into interface values are float64,
// and a number beyond float64's range (valid JSON, Infinity in JavaScript)
// fails to bind with a *json.UnmarshalTypeError.
// Attachments are substituted as follows:
//   - []byte parameter: the placeholder's attachment;
//   - json.RawMessage: the raw JSON, placeholders left in place;
//   - any, map[string]any, []any: encoding/json's generic values with each
//     placeholder object replaced by its attachment ([]byte);
//   - any other type (structs, slices of structs, maps, pointers): the
//     placeholders are rewritten to base64 JSON strings, which encoding/json
//     decodes into []byte fields at any depth. If the type also contains
//     interface or json.RawMessage fields, the original JSON is decoded a
//     second time and those fields are taken from it, so that they hold
//     attachments as []byte (or raw placeholders) rather than base64 text.
//
// Placeholders are only interpreted when the packet carries attachments
// (BINARY_EVENT, BINARY_ACK); in other packets they are ordinary objects, as
// in the reference implementation.

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"chatgateway/gateway/internal/jsonstr"
)

// maxEncodeDepth bounds the nesting the binary-aware encoder walks, which
// also stops it on pointer cycles (encoding/json reports those as errors too).
const maxEncodeDepth = 1000

// maxArgDepth bounds JSON nesting when splitting or binding arguments outside
// a decoder (whose own, smaller limit normally applied already).
const maxArgDepth = 10000

var (
	rawMessageType      = reflect.TypeFor[json.RawMessage]()
	mapStringAnyType    = reflect.TypeFor[map[string]any]()
	sliceAnyType        = reflect.TypeFor[[]any]()
	errorType           = reflect.TypeFor[error]()
	jsonMarshalerType   = reflect.TypeFor[json.Marshaler]()
	textMarshalerType   = reflect.TypeFor[encoding.TextMarshaler]()
	jsonUnmarshalerType = reflect.TypeFor[json.Unmarshaler]()
	textUnmarshalerType = reflect.TypeFor[encoding.TextUnmarshaler]()
	isZeroerType        = reflect.TypeFor[interface{ IsZero() bool }]()
)

// ---- type analysis ----

// typeReach says what a value of some type can contain, looking through
// pointers, slices, arrays, map values and JSON-visible struct fields.
type typeReach struct {
	bytes   bool // a []byte
	dynamic bool // an interface value, which may hold anything at run time
	raw     bool // a json.RawMessage (decode side only)
}

var (
	encodeReachCache sync.Map // reflect.Type -> typeReach
	decodeReachCache sync.Map // reflect.Type -> typeReach
	fieldCache       sync.Map // reflect.Type -> []encField
)

// encodeReach: types with their own JSON marshalling are opaque, since their
// MarshalJSON/MarshalText decides their encoding.
func encodeReach(t reflect.Type) typeReach {
	if r, ok := encodeReachCache.Load(t); ok {
		return r.(typeReach)
	}
	var r typeReach
	walkTypes(t, map[reflect.Type]bool{}, &r, func(t reflect.Type) bool {
		return implementsEither(t, jsonMarshalerType, textMarshalerType)
	})
	encodeReachCache.Store(t, r)
	return r
}

// decodeReach: types with their own JSON unmarshalling are opaque, except
// that json.RawMessage is recorded.
func decodeReach(t reflect.Type) typeReach {
	if r, ok := decodeReachCache.Load(t); ok {
		return r.(typeReach)
	}
	var r typeReach
	walkTypes(t, map[reflect.Type]bool{}, &r, func(t reflect.Type) bool {
		if t == rawMessageType {
			r.raw = true
			return true
		}
		return implementsEither(t, jsonUnmarshalerType, textUnmarshalerType)
	})
	decodeReachCache.Store(t, r)
	return r
}

func implementsEither(t reflect.Type, a, b reflect.Type) bool {
	pt := reflect.PointerTo(t)
	return t.Implements(a) || t.Implements(b) || pt.Implements(a) || pt.Implements(b)
}

// walkTypes accumulates into r everything reachable from t. Only whole
// graphs are cached by the callers: a partial result inside a cycle would be
// wrong for types visited later.
func walkTypes(t reflect.Type, seen map[reflect.Type]bool, r *typeReach, opaque func(reflect.Type) bool) {
	if seen[t] {
		return
	}
	seen[t] = true
	if t.Kind() != reflect.Interface && opaque(t) {
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		r.dynamic = true
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			r.bytes = true
			return
		}
		walkTypes(t.Elem(), seen, r, opaque)
	case reflect.Array, reflect.Pointer, reflect.Map:
		walkTypes(t.Elem(), seen, r, opaque)
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			if (!sf.IsExported() && !sf.Anonymous) || sf.Tag.Get("json") == "-" {
				continue
			}
			walkTypes(sf.Type, seen, r, opaque)
		}
	}
}

// encField is one JSON-visible struct field, following encoding/json's
// rules for names, tags and embedded structs.
type encField struct {
	name      string
	nameJSON  []byte // `"name":`
	index     []int
	typ       reflect.Type
	omitEmpty bool
	omitZero  bool
	quoted    bool // the ",string" option on a scalar field
	tagged    bool
	depth     int
}

func structFields(t reflect.Type) []encField {
	if f, ok := fieldCache.Load(t); ok {
		return f.([]encField)
	}
	f := computeStructFields(t)
	fieldCache.Store(t, f)
	return f
}

func computeStructFields(t reflect.Type) []encField {
	type embedded struct {
		typ   reflect.Type
		index []int
	}
	var all []encField
	visited := map[reflect.Type]bool{}
	next := []embedded{{typ: t}}
	for depth := 0; len(next) > 0; depth++ {
		current := next
		next = nil
		levelTypes := map[reflect.Type]bool{}
		for _, e := range current {
			// A struct embedded at a shallower level hides the same struct
			// embedded deeper. Embedding it twice at one level makes its
			// fields appear twice at the same depth, so they cancel out.
			if visited[e.typ] {
				continue
			}
			levelTypes[e.typ] = true
			for i := range e.typ.NumField() {
				sf := e.typ.Field(i)
				ft := sf.Type
				if sf.Anonymous {
					if ft.Kind() == reflect.Pointer {
						ft = ft.Elem()
					}
					if !sf.IsExported() && ft.Kind() != reflect.Struct {
						continue
					}
				} else if !sf.IsExported() {
					continue
				}
				tag := sf.Tag.Get("json")
				if tag == "-" {
					continue
				}
				name, opts, _ := strings.Cut(tag, ",")
				if !validTagName(name) {
					name = ""
				}
				index := append(slices.Clone(e.index), i)
				ft = sf.Type
				if ft.Name() == "" && ft.Kind() == reflect.Pointer {
					ft = ft.Elem()
				}
				if name == "" && sf.Anonymous && ft.Kind() == reflect.Struct {
					next = append(next, embedded{typ: ft, index: index})
					continue
				}
				f := encField{name: name, index: index, typ: sf.Type, tagged: name != "", depth: depth}
				if f.name == "" {
					f.name = sf.Name
				}
				for opt := range strings.SplitSeq(opts, ",") {
					switch opt {
					case "omitempty":
						f.omitEmpty = true
					case "omitzero":
						f.omitZero = true
					case "string":
						switch ft.Kind() {
						case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
							reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
							reflect.Float32, reflect.Float64, reflect.String:
							f.quoted = true
						}
					}
				}
				f.nameJSON = append(jsonstr.Append(nil, f.name), ':')
				all = append(all, f)
			}
		}
		for typ := range levelTypes {
			visited[typ] = true
		}
	}

	// Among fields sharing a name the shallowest wins; at equal depth a
	// tagged field wins over untagged ones; otherwise the name is dropped.
	slices.SortStableFunc(all, func(a, b encField) int {
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		if a.depth != b.depth {
			return a.depth - b.depth
		}
		if a.tagged != b.tagged {
			if a.tagged {
				return -1
			}
			return 1
		}
		return slices.Compare(a.index, b.index)
	})
	var out []encField
	for i := 0; i < len(all); {
		j := i + 1
		for j < len(all) && all[j].name == all[i].name {
			j++
		}
		group := all[i:j]
		if len(group) == 1 || group[0].depth < group[1].depth || (group[0].tagged && !group[1].tagged) {
			out = append(out, group[0])
		}
		i = j
	}
	slices.SortFunc(out, func(a, b encField) int { return slices.Compare(a.index, b.index) })
	return out
}

// validTagName reports whether encoding/json would use name from a tag.
func validTagName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		switch {
		case strings.ContainsRune("!#$%&()*+-./:;<=>?@[]^_{|}~ ", c):
		case !unicode.IsLetter(c) && !unicode.IsDigit(c):
			return false
		}
	}
	return true
}

// ---- encoding ----

// appendWriter lets a reusable json.Encoder append to a caller's slice.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

type argEncoder struct {
	w           appendWriter
	enc         *json.Encoder
	attachments [][]byte
}

var argEncoderPool = sync.Pool{New: func() any {
	e := &argEncoder{}
	e.enc = json.NewEncoder(&e.w)
	e.enc.SetEscapeHTML(false)
	return e
}}

// encodeArgs appends to dst the JSON array ["event", args...] (or [args...]
// when event is "", for an acknowledgement) and returns it with the binary
// attachments the array's placeholders refer to. []byte values at any depth
// (top level, inside map[string]any, []any, structs by their JSON field
// rules, pointers, slices) become attachments; json.RawMessage is raw JSON.
// On error dst is returned unchanged.
func encodeArgs(dst []byte, event string, args []any) (data []byte, attachments [][]byte, err error) {
	e := argEncoderPool.Get().(*argEncoder)
	defer func() {
		e.w.b, e.attachments = nil, nil
		argEncoderPool.Put(e)
	}()
	start := len(dst)
	e.w.b = append(dst, '[')
	if event != "" {
		e.w.b = jsonstr.Append(e.w.b, event)
	}
	for i, a := range args {
		if i > 0 || event != "" {
			e.w.b = append(e.w.b, ',')
		}
		if err := e.encodeArg(a); err != nil {
			return e.w.b[:start], nil, fmt.Errorf("socketio: encoding argument %d: %w", i+1, err)
		}
	}
	e.w.b = append(e.w.b, ']')
	return e.w.b, e.attachments, nil
}

func (e *argEncoder) encodeArg(a any) error {
	switch v := a.(type) {
	case nil:
		e.w.b = append(e.w.b, "null"...)
		return nil
	case string:
		e.w.b = jsonstr.Append(e.w.b, v)
		return nil
	case bool:
		e.w.b = strconv.AppendBool(e.w.b, v)
		return nil
	case int:
		e.w.b = strconv.AppendInt(e.w.b, int64(v), 10)
		return nil
	case int64:
		e.w.b = strconv.AppendInt(e.w.b, v, 10)
		return nil
	case []byte:
		e.appendBytes(v)
		return nil
	}
	if r := encodeReach(reflect.TypeOf(a)); !r.bytes && !r.dynamic {
		return e.leaf(a)
	}
	v := reflect.ValueOf(a)
	has, err := containsBinary(v, 0)
	if err != nil {
		return err
	}
	if !has {
		return e.leaf(a)
	}
	return e.walk(v, 0)
}

// leaf appends v encoded by encoding/json.
func (e *argEncoder) leaf(v any) error {
	if err := e.enc.Encode(v); err != nil {
		return err
	}
	e.w.b = e.w.b[:len(e.w.b)-1] // Encode ends with a newline
	return nil
}

func (e *argEncoder) appendBytes(b []byte) {
	if b == nil {
		e.w.b = append(e.w.b, "null"...)
		return
	}
	e.w.b = append(e.w.b, `{"_placeholder":true,"num":`...)
	e.w.b = strconv.AppendInt(e.w.b, int64(len(e.attachments)), 10)
	e.w.b = append(e.w.b, '}')
	e.attachments = append(e.attachments, b)
}

func isBytesType(t reflect.Type) bool {
	return t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 &&
		!implementsEither(t, jsonMarshalerType, textMarshalerType) &&
		!implementsEither(t.Elem(), jsonMarshalerType, textMarshalerType)
}

// containsBinary reports whether encoding v would produce an attachment, so
// that values merely able to hold one (map[string]any) still take the fast
// encoding/json path when they do not.
func containsBinary(v reflect.Value, depth int) (bool, error) {
	if depth > maxEncodeDepth {
		return false, errors.New("value nested too deeply (cycle?)")
	}
	if v.Kind() == reflect.Interface {
		if v.IsNil() {
			return false, nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return false, nil
	}
	t := v.Type()
	if t == mapStringAnyType && v.CanInterface() { // common enough to skip reflection's map iterator
		for _, x := range v.Interface().(map[string]any) {
			if has, err := containsBinary(reflect.ValueOf(x), depth+1); has || err != nil {
				return has, err
			}
		}
		return false, nil
	}
	if r := encodeReach(t); !r.bytes && !r.dynamic {
		return false, nil
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return false, nil
		}
		return containsBinary(v.Elem(), depth+1)
	case reflect.Slice:
		if isBytesType(t) {
			return !v.IsNil(), nil
		}
		fallthrough
	case reflect.Array:
		for i := range v.Len() {
			if has, err := containsBinary(v.Index(i), depth+1); has || err != nil {
				return has, err
			}
		}
	case reflect.Map:
		for it := v.MapRange(); it.Next(); {
			if has, err := containsBinary(it.Value(), depth+1); has || err != nil {
				return has, err
			}
		}
	case reflect.Struct:
		for _, f := range structFields(t) {
			fv, ok := fieldByIndex(v, f.index)
			if !ok {
				continue
			}
			if has, err := containsBinary(fv, depth+1); has || err != nil {
				return has, err
			}
		}
	}
	return false, nil
}

// fieldByIndex follows index like reflect.Value.FieldByIndex, reporting
// false instead of panicking on a nil embedded pointer (encoding/json skips
// such fields).
func fieldByIndex(v reflect.Value, index []int) (reflect.Value, bool) {
	for n, i := range index {
		if n > 0 && v.Kind() == reflect.Pointer {
			if v.IsNil() {
				return reflect.Value{}, false
			}
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v, true
}

// walk encodes v, writing placeholders for []byte, delegating to
// encoding/json for everything that cannot contain one.
func (e *argEncoder) walk(v reflect.Value, depth int) error {
	if depth > maxEncodeDepth {
		return errors.New("value nested too deeply (cycle?)")
	}
	if !v.IsValid() {
		e.w.b = append(e.w.b, "null"...)
		return nil
	}
	t := v.Type()
	if t.Kind() == reflect.Interface {
		if v.IsNil() {
			e.w.b = append(e.w.b, "null"...)
			return nil
		}
		return e.walk(v.Elem(), depth+1)
	}
	if r := encodeReach(t); !r.bytes && !r.dynamic {
		return e.leaf(v.Interface())
	}
	switch t.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			e.w.b = append(e.w.b, "null"...)
			return nil
		}
		return e.walk(v.Elem(), depth+1)
	case reflect.Slice:
		if isBytesType(t) {
			e.appendBytes(v.Bytes())
			return nil
		}
		if v.IsNil() {
			e.w.b = append(e.w.b, "null"...)
			return nil
		}
		fallthrough
	case reflect.Array:
		e.w.b = append(e.w.b, '[')
		for i := range v.Len() {
			if i > 0 {
				e.w.b = append(e.w.b, ',')
			}
			if err := e.walk(v.Index(i), depth+1); err != nil {
				return err
			}
		}
		e.w.b = append(e.w.b, ']')
		return nil
	case reflect.Map:
		return e.walkMap(v, depth)
	case reflect.Struct:
		return e.walkStruct(v, depth)
	}
	return e.leaf(v.Interface())
}

func (e *argEncoder) walkMap(v reflect.Value, depth int) error {
	if v.IsNil() {
		e.w.b = append(e.w.b, "null"...)
		return nil
	}
	type entry struct {
		key string
		val reflect.Value
	}
	entries := make([]entry, 0, v.Len())
	for it := v.MapRange(); it.Next(); {
		k, err := mapKeyString(it.Key())
		if err != nil {
			return err
		}
		entries = append(entries, entry{k, it.Value()})
	}
	slices.SortFunc(entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
	e.w.b = append(e.w.b, '{')
	for i, en := range entries {
		if i > 0 {
			e.w.b = append(e.w.b, ',')
		}
		e.w.b = jsonstr.Append(e.w.b, en.key)
		e.w.b = append(e.w.b, ':')
		if err := e.walk(en.val, depth+1); err != nil {
			return err
		}
	}
	e.w.b = append(e.w.b, '}')
	return nil
}

// mapKeyString resolves a map key the way encoding/json does.
func mapKeyString(k reflect.Value) (string, error) {
	if k.Kind() == reflect.String {
		return k.String(), nil
	}
	if tm, ok := k.Interface().(encoding.TextMarshaler); ok {
		if k.Kind() == reflect.Pointer && k.IsNil() {
			return "", nil
		}
		b, err := tm.MarshalText()
		return string(b), err
	}
	switch k.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(k.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(k.Uint(), 10), nil
	}
	return "", fmt.Errorf("unsupported map key type %s", k.Type())
}

func (e *argEncoder) walkStruct(v reflect.Value, depth int) error {
	e.w.b = append(e.w.b, '{')
	first := true
	for _, f := range structFields(v.Type()) {
		fv, ok := fieldByIndex(v, f.index)
		if !ok || (f.omitEmpty && isEmptyValue(fv)) || (f.omitZero && isZeroValue(fv)) {
			continue
		}
		if !first {
			e.w.b = append(e.w.b, ',')
		}
		first = false
		e.w.b = append(e.w.b, f.nameJSON...)
		if f.quoted {
			if fv.Kind() == reflect.Pointer && fv.IsNil() {
				e.w.b = append(e.w.b, "null"...)
				continue
			}
			// encoding/json quotes the scalar's JSON text: 5 -> "5",
			// "a" -> "\"a\"".
			mark := len(e.w.b)
			if err := e.leaf(fv.Interface()); err != nil {
				return err
			}
			text := string(e.w.b[mark:])
			e.w.b = jsonstr.Append(e.w.b[:mark], text)
			continue
		}
		if err := e.walk(fv, depth+1); err != nil {
			return err
		}
	}
	e.w.b = append(e.w.b, '}')
	return nil
}

func isEmptyValue(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return v.Len() == 0
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Interface, reflect.Pointer:
		return v.IsZero()
	}
	return false
}

func isZeroValue(v reflect.Value) bool {
	if v.Type().Implements(isZeroerType) {
		if v.Kind() == reflect.Pointer && v.IsNil() {
			return true
		}
		return v.Interface().(interface{ IsZero() bool }).IsZero()
	}
	return v.IsZero()
}

// ---- decoding ----

// splitArgs splits an EVENT payload into the event name and the raw
// arguments after it. The slices alias data.
func splitArgs(data json.RawMessage) (event string, args []json.RawMessage, err error) {
	elems, err := splitArray(data)
	if err != nil {
		return "", nil, err
	}
	if len(elems) == 0 || len(elems[0]) == 0 || elems[0][0] != '"' {
		return "", nil, invalidf("event payload must start with the event name")
	}
	event, err = unquoteJSONString(elems[0])
	if err != nil {
		return "", nil, err
	}
	return event, elems[1:], nil
}

// splitAckArgs splits an ACK payload into its raw arguments. The slices
// alias data.
func splitAckArgs(data json.RawMessage) ([]json.RawMessage, error) {
	return splitArray(data)
}

func splitArray(data json.RawMessage) ([]json.RawMessage, error) {
	s := scannerPool.Get().(*jsonScanner)
	defer scannerPool.Put(s)
	s.maxDepth, s.wantPlaceholders, s.attachments, s.collectElems = maxArgDepth, false, 0, true
	if err := s.scan(data); err != nil {
		return nil, err
	}
	if s.topKind != kindArray {
		return nil, invalidf("payload must be a JSON array")
	}
	if len(s.elems) == 0 {
		return nil, nil
	}
	out := make([]json.RawMessage, len(s.elems))
	for i, sp := range s.elems {
		out[i] = json.RawMessage(data[sp.start:sp.end:sp.end])
	}
	return out, nil
}

func unquoteJSONString(raw []byte) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalidf("bad JSON string: %v", err)
	}
	return s, nil
}

// findPlaceholders validates raw and returns its placeholder objects, which
// must name attachments below n.
func findPlaceholders(raw []byte, n int) ([]placeholderRef, error) {
	s := scannerPool.Get().(*jsonScanner)
	defer scannerPool.Put(s)
	s.maxDepth, s.wantPlaceholders, s.attachments, s.collectElems = maxArgDepth, true, n, false
	if err := s.scan(raw); err != nil {
		return nil, err
	}
	if len(s.placeholders) == 0 {
		return nil, nil
	}
	return slices.Clone(s.placeholders), nil
}

// bindArg decodes one raw argument into a new value of type t, substituting
// attachments for placeholders (see the package comment of this file).
func bindArg(raw json.RawMessage, t reflect.Type, attachments [][]byte) (reflect.Value, error) {
	if t == rawMessageType {
		return reflect.ValueOf(raw), nil
	}
	ptr := reflect.New(t)
	if len(attachments) == 0 {
		return ptr.Elem(), json.Unmarshal(raw, ptr.Interface())
	}
	refs, err := findPlaceholders(raw, len(attachments))
	if err != nil {
		return ptr.Elem(), err
	}
	if len(refs) == 0 {
		return ptr.Elem(), json.Unmarshal(raw, ptr.Interface())
	}
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 && !implementsEither(t, jsonUnmarshalerType, textUnmarshalerType) {
		whole := trimJSONSpace(raw)
		if len(refs) == 1 && refs[0].end-refs[0].start == len(whole) {
			ptr.Elem().SetBytes(attachments[refs[0].num])
			return ptr.Elem(), nil
		}
		return ptr.Elem(), json.Unmarshal(raw, ptr.Interface()) // reports the type mismatch
	}
	if (t.Kind() == reflect.Interface && t.NumMethod() == 0) || t == mapStringAnyType || t == sliceAnyType {
		if err := json.Unmarshal(raw, ptr.Interface()); err != nil {
			return ptr.Elem(), err
		}
		v := ptr.Elem()
		sub := reflect.ValueOf(substituteGeneric(v.Interface(), attachments))
		if !sub.Type().AssignableTo(t) {
			return v, fmt.Errorf("%w: an attachment cannot be bound to %s", errBadPlaceholder, t)
		}
		v.Set(sub)
		return v, nil
	}

	if err := json.Unmarshal(rewritePlaceholders(raw, refs, attachments), ptr.Interface()); err != nil {
		return ptr.Elem(), err
	}
	if r := decodeReach(t); r.dynamic || r.raw {
		orig := reflect.New(t)
		err := json.Unmarshal(raw, orig.Interface())
		// Placeholders meeting []byte fields are type errors, after which
		// encoding/json carries on with the rest of the value.
		var typeErr *json.UnmarshalTypeError
		if err == nil || errors.As(err, &typeErr) {
			mergeDynamic(ptr.Elem(), orig.Elem(), attachments)
		}
	}
	return ptr.Elem(), nil
}

// rewritePlaceholders returns raw with each placeholder replaced by its
// attachment as a base64 JSON string, the form encoding/json decodes into
// []byte. refs are in position order and do not nest.
func rewritePlaceholders(raw []byte, refs []placeholderRef, attachments [][]byte) []byte {
	size := len(raw)
	for _, r := range refs {
		size += base64.StdEncoding.EncodedLen(len(attachments[r.num])) + 2
	}
	out := make([]byte, 0, size)
	last := 0
	for _, r := range refs {
		out = append(out, raw[last:r.start]...)
		out = append(out, '"')
		out = base64.StdEncoding.AppendEncode(out, attachments[r.num])
		out = append(out, '"')
		last = r.end
	}
	return append(out, raw[last:]...)
}

// substituteGeneric replaces placeholder objects in a generic JSON value
// (maps and slices are updated in place) and returns the result.
func substituteGeneric(v any, attachments [][]byte) any {
	switch g := v.(type) {
	case map[string]any:
		if b, ok := placeholderAttachment(g, attachments); ok {
			return b
		}
		for k, x := range g {
			g[k] = substituteGeneric(x, attachments)
		}
	case []any:
		for i, x := range g {
			g[i] = substituteGeneric(x, attachments)
		}
	}
	return v
}

func placeholderAttachment(m map[string]any, attachments [][]byte) ([]byte, bool) {
	if len(m) != 2 || m["_placeholder"] != true {
		return nil, false
	}
	num, ok := m["num"].(float64)
	if !ok || num != math.Trunc(num) || num < 0 || num >= float64(len(attachments)) {
		return nil, false
	}
	return attachments[int(num)], true
}

// mergeDynamic copies the interface and json.RawMessage parts of src, which
// was decoded from the original JSON, into dst, which was decoded from the
// base64-rewritten JSON; both have the same shape.
func mergeDynamic(dst, src reflect.Value, attachments [][]byte) {
	t := dst.Type()
	if t == rawMessageType {
		if dst.CanSet() {
			dst.Set(src)
		}
		return
	}
	if r := decodeReach(t); !r.dynamic && !r.raw {
		return
	}
	switch t.Kind() {
	case reflect.Interface:
		if t.NumMethod() != 0 || !dst.CanSet() || !src.CanInterface() {
			return
		}
		if src.IsNil() {
			dst.Set(reflect.Zero(t))
			return
		}
		dst.Set(reflect.ValueOf(substituteGeneric(src.Interface(), attachments)))
	case reflect.Pointer:
		if !dst.IsNil() && !src.IsNil() {
			mergeDynamic(dst.Elem(), src.Elem(), attachments)
		}
	case reflect.Struct:
		for i := range t.NumField() {
			sf := t.Field(i)
			if sf.IsExported() || sf.Anonymous {
				mergeDynamic(dst.Field(i), src.Field(i), attachments)
			}
		}
	case reflect.Slice, reflect.Array:
		for i := range min(dst.Len(), src.Len()) {
			mergeDynamic(dst.Index(i), src.Index(i), attachments)
		}
	case reflect.Map:
		if dst.IsNil() || src.IsNil() {
			return
		}
		for it := dst.MapRange(); it.Next(); {
			sv := src.MapIndex(it.Key())
			if !sv.IsValid() {
				continue
			}
			tmp := reflect.New(t.Elem()).Elem()
			tmp.Set(it.Value())
			mergeDynamic(tmp, sv, attachments)
			dst.SetMapIndex(it.Key(), tmp)
		}
	}
}

// ---- handler adapter ----

// handlerFunc adapts a user function of shape func(Conn, args...) [results...]
// (or, without a connection type, func(args...) [results...], the shape of
// ack callbacks) to raw packet arguments.
type handlerFunc struct {
	fn       reflect.Value
	name     string
	hasConn  bool
	connType reflect.Type
	argTypes []reflect.Type
	// variadic: the last entry of argTypes is the element type of a
	// ...T parameter, which receives every remaining argument.
	variadic bool
	// spreadResult: the handler returns one Args value, sent as that many
	// acknowledgement arguments.
	spreadResult bool
	// acknowledges: the handler has results, so a client that asked for an
	// acknowledgement gets one (with no arguments for an empty Args). A
	// handler without results acknowledges nothing.
	acknowledges bool
}

// Args, returned as a handler's only result, is spread into the
// acknowledgement's argument list instead of being sent as one array. With a
// variadic handler it echoes any number of arguments:
//
//	func(c Conn, args ...any) Args { return args }
type Args []any

var argsType = reflect.TypeOf(Args(nil))

// handlerPanicError is returned by call when the user function panicked.
type handlerPanicError struct {
	value any
	stack []byte // debug.Stack() of the panicking goroutine
}

func (e *handlerPanicError) Error() string {
	return fmt.Sprintf("socketio: handler panicked: %v", e.value)
}

// newHandler checks fn's shape and panics with a descriptive message if it is
// not a usable handler: a registration-time programmer error. With a nil
// connType, fn takes no leading connection parameter.
func newHandler(fn any, connType reflect.Type) *handlerFunc {
	if fn == nil {
		panic("socketio: handler is nil")
	}
	v := reflect.ValueOf(fn)
	t := v.Type()
	if t.Kind() != reflect.Func {
		panic(fmt.Sprintf("socketio: handler must be a func, got %s", t))
	}
	if v.IsNil() {
		panic(fmt.Sprintf("socketio: handler is a nil %s", t))
	}
	h := &handlerFunc{fn: v, name: t.String(), connType: connType, variadic: t.IsVariadic()}
	h.spreadResult = t.NumOut() == 1 && t.Out(0) == argsType
	h.acknowledges = t.NumOut() > 0
	first := 0
	if connType != nil {
		if t.NumIn() == 0 || t.In(0) != connType {
			panic(fmt.Sprintf("socketio: handler %s must take %s as its first parameter", t, connType))
		}
		h.hasConn, first = true, 1
	}
	for i := first; i < t.NumIn(); i++ {
		in := t.In(i)
		if h.variadic && i == t.NumIn()-1 {
			in = in.Elem()
		}
		if why := unusableType(in); why != "" {
			panic(fmt.Sprintf("socketio: handler %s: parameter %d (%s) %s", t, i+1, in, why))
		}
		if in.Kind() == reflect.Interface && in.NumMethod() != 0 {
			panic(fmt.Sprintf("socketio: handler %s: parameter %d (%s) is an interface JSON cannot decode into", t, i+1, in))
		}
		h.argTypes = append(h.argTypes, in)
	}
	for i := range t.NumOut() {
		out := t.Out(i)
		if out == errorType {
			panic(fmt.Sprintf("socketio: handler %s: result %d is an error; results are sent as acknowledgement arguments, return a message value instead", t, i+1))
		}
		if why := unusableType(out); why != "" {
			panic(fmt.Sprintf("socketio: handler %s: result %d (%s) %s", t, i+1, out, why))
		}
	}
	return h
}

func unusableType(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Chan, reflect.Func, reflect.UnsafePointer, reflect.Complex64, reflect.Complex128:
		return "has no JSON representation"
	}
	return ""
}

// call binds args to the handler's parameters (missing trailing arguments are
// zero values, extra ones are ignored), invokes it and returns its results,
// the acknowledgement arguments. conn is ignored for handlers without a
// connection parameter. A panic in the handler is returned as a
// *handlerPanicError carrying the stack.
func (h *handlerFunc) call(conn reflect.Value, args []json.RawMessage, attachments [][]byte) ([]any, error) {
	in := make([]reflect.Value, 0, max(len(h.argTypes), len(args))+1)
	if h.hasConn {
		if !conn.IsValid() {
			conn = reflect.Zero(h.connType)
		}
		in = append(in, conn)
	}
	fixed := len(h.argTypes)
	if h.variadic {
		fixed--
	}
	for i := 0; i < fixed || (h.variadic && i < len(args)); i++ {
		t := h.argTypes[min(i, len(h.argTypes)-1)]
		if i >= len(args) {
			in = append(in, reflect.Zero(t))
			continue
		}
		v, err := bindArg(args[i], t, attachments)
		if err != nil {
			return nil, fmt.Errorf("socketio: argument %d of %s: %w", i+1, h.name, err)
		}
		in = append(in, v)
	}
	out, err := h.invoke(in)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	if h.spreadResult {
		return out[0].Interface().(Args), nil
	}
	results := make([]any, len(out))
	for i, o := range out {
		results[i] = o.Interface()
	}
	return results, nil
}

func (h *handlerFunc) invoke(in []reflect.Value) (out []reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &handlerPanicError{value: r, stack: debug.Stack()}
		}
	}()
	return h.fn.Call(in), nil
}
