package httpapi

import (
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
)

// Body handling mirrors the two parsers Nest 7 installs on Express:
// bodyParser.json() and bodyParser.urlencoded({extended: true}). Like them it
// runs for every request that is not Socket.IO's, before routing, so a
// malformed body is a 400 even on a path that would be a 404.

// Defaults of the body settings, body-parser's own.
const (
	// DefaultMaxBodyBytes is the largest accepted request body, after
	// decompression: body-parser's "100kb".
	DefaultMaxBodyBytes = 100 * 1024
	// DefaultParameterLimit is how many key=value pairs a urlencoded body
	// may hold (body-parser's parameterLimit).
	DefaultParameterLimit = 1000
)

// httpError is a failure with a Nest-shaped body:
// {"statusCode":N,"message":"...","error":"<status text>"}.
type httpError struct {
	status  int
	message string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.message) }

func badRequest(msg string) *httpError { return &httpError{http.StatusBadRequest, msg} }

var errEntityTooLarge = &httpError{http.StatusRequestEntityTooLarge, "request entity too large"}

// dtoField is one body member as a DTO sees it.
type dtoField struct {
	// text is JS String() of a primitive member ("" when absent or null).
	text string
	// notString is set for objects and arrays (and repeated or bracketed
	// urlencoded keys), which the original accepted but cannot be room ids.
	notString bool
}

// requestBody is a parsed body; the zero value is the empty object that
// body-parser leaves when it does not parse.
type requestBody struct {
	json *jsonDoc
	form map[string]dtoField
}

func (b requestBody) field(name string) dtoField {
	switch {
	case b.json != nil:
		if b.json.kind != kindObject {
			// An array body validates like {} (the ValidationPipe sees no
			// properties on it); primitives never get here (strict mode).
			return dtoField{}
		}
		f, ok := b.json.fields[name]
		if !ok {
			return dtoField{}
		}
		switch f.kind {
		case kindString:
			return dtoField{text: b.json.decodeString(f)}
		case kindNumber:
			n, _ := jsStringToNumber(utf16ToString(b.json.src[f.start:f.end]))
			return dtoField{text: jsNumberToString(n)}
		case kindTrue:
			return dtoField{text: "true"}
		case kindFalse:
			return dtoField{text: "false"}
		case kindNull:
			return dtoField{}
		default:
			return dtoField{notString: true}
		}
	case b.form != nil:
		return b.form[name]
	}
	return dtoField{}
}

// bodyReader parses request bodies with the configured limits.
type bodyReader struct {
	limit          int64
	parameterLimit int
}

// read parses r's body if its Content-Type is JSON or urlencoded, as
// body-parser would; other bodies are left unread and count as {}.
func (br bodyReader) read(r *http.Request) (requestBody, *httpError) {
	if r.ContentLength == 0 && len(r.TransferEncoding) == 0 {
		return requestBody{}, nil
	}
	mediaType, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil {
		return requestBody{}, nil
	}
	charset := strings.ToLower(params["charset"])
	switch mediaType {
	case "application/json":
		if charset == "" {
			charset = "utf-8"
		}
		// RFC 7159 section 8.1: only UTF encodings.
		if !strings.HasPrefix(charset, "utf-") {
			return requestBody{}, unsupportedCharset(charset)
		}
		text, herr := br.readText(r, charset)
		if herr != nil {
			return requestBody{}, herr
		}
		doc, herr := parseJSONBody(text)
		return requestBody{json: doc}, herr
	case "application/x-www-form-urlencoded":
		if charset == "" {
			charset = "utf-8"
		}
		if charset != "utf-8" {
			return requestBody{}, unsupportedCharset(charset)
		}
		text, herr := br.readText(r, charset)
		if herr != nil {
			return requestBody{}, herr
		}
		form, herr := parseFormBody(utf16ToString(text), br.parameterLimit)
		return requestBody{form: form}, herr
	}
	return requestBody{}, nil
}

func unsupportedCharset(charset string) *httpError {
	return &httpError{http.StatusUnsupportedMediaType, `unsupported charset "` + strings.ToUpper(charset) + `"`}
}

// readText reads at most limit bytes (after inflating) and decodes them.
func (br bodyReader) readText(r *http.Request, charset string) ([]uint16, *httpError) {
	var src io.Reader = r.Body
	switch enc := strings.ToLower(r.Header.Get("Content-Encoding")); enc {
	case "", "identity":
		// raw-body refuses a declared length over the limit without reading.
		if r.ContentLength > br.limit {
			return nil, errEntityTooLarge
		}
	case "gzip":
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			return nil, badRequest(inflateMessage(err))
		}
		defer zr.Close()
		src = zr
	case "deflate":
		zr, err := zlib.NewReader(r.Body)
		if err != nil {
			return nil, badRequest(inflateMessage(err))
		}
		defer zr.Close()
		src = zr
	default:
		return nil, &httpError{http.StatusUnsupportedMediaType, `unsupported content encoding "` + enc + `"`}
	}
	raw, err := io.ReadAll(io.LimitReader(src, br.limit+1))
	if err != nil {
		var maxErr *http.MaxBytesError
		if errors.As(err, &maxErr) {
			return nil, errEntityTooLarge
		}
		return nil, badRequest(inflateMessage(err))
	}
	if int64(len(raw)) > br.limit {
		return nil, errEntityTooLarge
	}
	text, herr := decodeCharset(raw, charset)
	if herr != nil {
		return nil, herr
	}
	// iconv-lite strips a leading byte order mark.
	if len(text) > 0 && text[0] == 0xFEFF {
		text = text[1:]
	}
	return text, nil
}

// inflateMessage words a body read failure; zlib's own texts differ from
// Go's, so this is an approximation.
func inflateMessage(err error) string {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return "unexpected end of file"
	}
	return "invalid compressed body: " + err.Error()
}

// decodeCharset supports the encodings a JSON client may declare in
// practice: UTF-8 and UTF-16.
func decodeCharset(raw []byte, charset string) ([]uint16, *httpError) {
	switch charset {
	case "utf-8":
		return decodeUTF8(raw), nil
	case "utf-16", "utf-16le", "utf-16be":
		bigEndian := charset == "utf-16be"
		if charset == "utf-16" && len(raw) >= 2 {
			switch {
			case raw[0] == 0xFE && raw[1] == 0xFF:
				bigEndian, raw = true, raw[2:]
			case raw[0] == 0xFF && raw[1] == 0xFE:
				raw = raw[2:]
			}
		}
		out := make([]uint16, 0, len(raw)/2+1)
		for i := 0; i+1 < len(raw); i += 2 {
			if bigEndian {
				out = append(out, uint16(raw[i])<<8|uint16(raw[i+1]))
			} else {
				out = append(out, uint16(raw[i+1])<<8|uint16(raw[i]))
			}
		}
		if len(raw)%2 == 1 {
			out = append(out, 0xFFFD)
		}
		return out, nil
	}
	return nil, unsupportedCharset(charset)
}

// parseJSONBody is body-parser's json parse() in strict mode.
func parseJSONBody(text []uint16) (*jsonDoc, *httpError) {
	if len(text) == 0 {
		// "special-case empty json body, as it's a common client-side mistake"
		return nil, nil
	}
	first, found := strictFirstChar(text)
	if !found {
		// body-parser 1.19 crashes here (TypeError, a 500 in Nest 7); newer
		// releases report V8's end-of-input text, which is what we send.
		return nil, badRequest(v8UnexpectedEOS)
	}
	if first != '{' && first != '[' {
		return nil, badRequest(strictViolationMessage(text, first))
	}
	doc, msg := parseJSONLikeV8(text)
	if msg != "" {
		return nil, badRequest(msg)
	}
	return doc, nil
}

// strictFirstChar runs body-parser's /^[\x20\x09\x0a\x0d]*(.)/ with its
// backtracking: "." matches neither line feed, carriage return, U+2028 nor
// U+2029, so "  \n" yields the last space.
func strictFirstChar(text []uint16) (uint16, bool) {
	isWS := func(c uint16) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	isLineTerminator := func(c uint16) bool { return c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029 }
	i := 0
	for i < len(text) && isWS(text[i]) {
		i++
	}
	for j := i; j >= 0; j-- {
		if j < len(text) && !isLineTerminator(text[j]) {
			return text[j], true
		}
	}
	return 0, false
}

// strictViolationMessage is body-parser 1.19's createStrictSyntaxError: it
// parses the text up to the first occurrence of the offending character with
// that character replaced by '#', then puts the character back into the
// first '#' of V8's message.
func strictViolationMessage(text []uint16, first uint16) string {
	index := 0
	for index < len(text) && text[index] != first {
		index++
	}
	partial := append(append([]uint16(nil), text[:index]...), '#')
	_, msg := parseJSONLikeV8(partial)
	return strings.Replace(msg, "#", utf16ToWTF8([]uint16{first}), 1)
}

// parseFormBody reads the DTO-relevant shape of a urlencoded body with the
// qs semantics body-parser's extended mode uses: a key given once is a
// string, a repeated or bracketed key ("roomId[]", "roomId[a]") is an array
// or object.
func parseFormBody(text string, parameterLimit int) (map[string]dtoField, *httpError) {
	if strings.Count(text, "&")+1 > parameterLimit {
		return nil, &httpError{http.StatusRequestEntityTooLarge, "too many parameters"}
	}
	out := make(map[string]dtoField)
	for _, p := range qsPairs(text, parameterLimit) {
		name, nested := qsParent(p.key)
		if name == "" {
			continue
		}
		if prev, seen := out[name]; seen || nested {
			prev.notString = true
			out[name] = prev
			continue
		}
		out[name] = dtoField{text: p.value}
	}
	return out, nil
}
