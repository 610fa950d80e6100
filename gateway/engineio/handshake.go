package engineio

import (
	"net/http"
	"net/textproto"
	"strings"
)

// A session keeps its handshake request's headers for the application
// (socket.io's socket.handshake.headers) as one string of "Name: value"
// lines, and builds an http.Header only when asked: a cloned http.Header
// is a map, a slice per header and a string per value, about a kilobyte
// for a browser's request, held by every socket for its lifetime when the
// application reads it once, at connection time, if ever.

// transportHeaders served the transport's own handshake and mean nothing
// afterwards.
var transportHeaders = map[string]bool{
	"Connection":               true,
	"Upgrade":                  true,
	"Sec-Websocket-Key":        true,
	"Sec-Websocket-Version":    true,
	"Sec-Websocket-Extensions": true,
	"Sec-Websocket-Protocol":   true,
}

// packHeaders flattens h, less the transport's headers. Header values
// cannot hold a newline (net/http refuses such requests), so lines are
// unambiguous.
func packHeaders(h http.Header) string {
	n := 0
	for name, values := range h {
		if transportHeaders[name] {
			continue
		}
		for _, v := range values {
			n += len(name) + len(v) + 3
		}
	}
	var b strings.Builder
	b.Grow(n)
	for name, values := range h {
		if transportHeaders[name] {
			continue
		}
		for _, v := range values {
			b.WriteString(name)
			b.WriteString(": ")
			b.WriteString(v)
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// unpackHeaders rebuilds what packHeaders flattened.
func unpackHeaders(packed string) http.Header {
	h := make(http.Header)
	for line := range strings.SplitSeq(packed, "\n") {
		name, value, ok := strings.Cut(line, ": ")
		if !ok {
			continue
		}
		name = textproto.CanonicalMIMEHeaderKey(name)
		h[name] = append(h[name], value)
	}
	return h
}
