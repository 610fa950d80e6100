package httpapi

import (
	"crypto/sha1"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"chatgateway/rooms"
)

// contentTypeJSON is what Express's res.json sends (lower-case charset,
// unlike echo.MIMEApplicationJSONCharsetUTF8).
const contentTypeJSON = "application/json; charset=utf-8"

// sendJSON writes body the way Express's res.json/res.send does: exact
// Content-Type, Content-Length, a weak ETag, and a bodiless 304 when a GET
// or HEAD request already holds that ETag.
func sendJSON(c echo.Context, status int, body []byte) error {
	if !writeJSONHead(c, status, weakETag(body), int64(len(body))) {
		return nil
	}
	_, err := c.Response().Write(body)
	return err
}

// weakETag is Express's default ETag (the "etag" package, weak form).
func weakETag(body []byte) string {
	sum := sha1.Sum(body)
	return weakETagOf(int64(len(body)), sum[:])
}

// isFresh is the "fresh" package's check as Express uses it (no
// Last-Modified is ever sent, so If-Modified-Since alone never matches).
func isFresh(reqHeader http.Header, etag string) bool {
	modifiedSince := reqHeader.Get("If-Modified-Since")
	noneMatch := strings.Join(reqHeader.Values("If-None-Match"), ", ")
	if modifiedSince == "" && noneMatch == "" {
		return false
	}
	if cc := strings.Join(reqHeader.Values("Cache-Control"), ", "); hasNoCache(cc) {
		return false
	}
	if noneMatch != "" && noneMatch != "*" {
		matched := false
		for _, tag := range strings.FieldsFunc(noneMatch, func(r rune) bool { return r == ' ' || r == ',' }) {
			if tag == etag || tag == "W/"+etag || "W/"+tag == etag {
				matched = true
				break
			}
		}
		if !matched {
			return false
		}
	}
	// A response without Last-Modified is stale for any If-Modified-Since.
	return modifiedSince == ""
}

// hasNoCache matches the regexp /(?:^|,)\s*?no-cache\s*?(?:,|$)/.
func hasNoCache(cc string) bool {
	for _, part := range strings.Split(cc, ",") {
		if strings.TrimSpace(part) == "no-cache" {
			return true
		}
	}
	return false
}

// jsonBuilder assembles small JSON documents byte-compatible with
// JSON.stringify: no HTML escaping, U+2028/U+2029 left raw, lone surrogates
// (carried as WTF-8, see utf16ToWTF8) escaped as \udxxx.
//
// Why not the gateway's escaper (gateway/internal/jsonstr): that one keeps
// encoding/json's contract for the Go values handlers emit (U+2028/U+2029
// escaped, invalid UTF-8 as \ufffd), while these bodies must equal what
// Nest wrote from JavaScript strings, lone surrogates included. The two
// differ on exactly those inputs.
type jsonBuilder struct{ b []byte }

func (j *jsonBuilder) raw(s string) *jsonBuilder { j.b = append(j.b, s...); return j }

func (j *jsonBuilder) str(s string) *jsonBuilder { j.b = appendJSString(j.b, s); return j }

func (j *jsonBuilder) int(n int64) *jsonBuilder { j.b = strconv.AppendInt(j.b, n, 10); return j }

func appendJSString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch c {
			case '"':
				b = append(b, '\\', '"')
			case '\\':
				b = append(b, '\\', '\\')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				if c < 0x20 {
					b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
				} else {
					b = append(b, c)
				}
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			// A WTF-8 lone surrogate: ED A0..BF 80..BF.
			if c == 0xED && i+2 < len(s) && s[i+1] >= 0xA0 && s[i+1] <= 0xBF && s[i+2] >= 0x80 && s[i+2] <= 0xBF {
				u := 0xD000 | rune(s[i+1]&0x3F)<<6 | rune(s[i+2]&0x3F)
				b = append(b, '\\', 'u', hex[u>>12&0xF], hex[u>>8&0xF], hex[u>>4&0xF], hex[u&0xF])
				i += 3
				continue
			}
			// Other invalid bytes cannot come from a JS string; write U+FFFD.
			b = utf8.AppendRune(b, utf8.RuneError)
			i++
			continue
		}
		b = append(b, s[i:i+size]...)
		i += size
	}
	return append(b, '"')
}

// appendMessageJSON renders one history entry exactly like the original's
// toMessageDto: keys order, username, content, createdAt.
func appendMessageJSON(j *jsonBuilder, m rooms.Message) {
	j.raw(`{"order":`).int(m.Order).
		raw(`,"username":`).str(m.Username).
		raw(`,"content":`).str(m.Content).
		raw(`,"createdAt":`).str(m.CreatedAt).raw("}")
}

// codeMessageJSON is the original's domain error body {"code","message"}.
func codeMessageJSON(code, message string) []byte {
	j := &jsonBuilder{}
	return j.raw(`{"code":`).str(code).raw(`,"message":`).str(message).raw("}").b
}

// nestErrorJSON is Nest's HttpException body with a single message.
func nestErrorJSON(status int, message string) []byte {
	j := &jsonBuilder{}
	return j.raw(`{"statusCode":`).int(int64(status)).raw(`,"message":`).str(message).
		raw(`,"error":`).str(nestStatusText(status)).raw("}").b
}

// nestStatusText is the "error" text of Nest's built-in HTTP exceptions,
// which follows RFC 9110 where Go's table keeps an older name.
func nestStatusText(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return "Payload Too Large"
	}
	return http.StatusText(status)
}

// nestValidationJSON is the ValidationPipe's 400 body with a message list.
func nestValidationJSON(messages []string) []byte {
	j := &jsonBuilder{}
	j.raw(`{"statusCode":400,"message":[`)
	for i, m := range messages {
		if i > 0 {
			j.raw(",")
		}
		j.str(m)
	}
	return j.raw(`],"error":"Bad Request"}`).b
}

// internalErrorJSON is Nest's body for an unexpected exception (no "error").
var internalErrorJSON = []byte(`{"statusCode":500,"message":"Internal server error"}`)
