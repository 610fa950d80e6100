package httpapi

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"hash/crc32"
	"net/http"
	"strconv"

	"github.com/labstack/echo/v4"

	"chatgateway/rooms"
)

// A history response is streamed, so that its memory follows a page of the
// store and not the range asked for, yet its bytes, Content-Length and ETag
// are exactly what Express sent for the whole array at once. Express puts
// the length and a hash of the body in the headers, so the body is encoded
// twice from one MessageRange: the first pass only counts, hashes and
// checksums each page; the second writes. The range is fixed when it opens
// and stored messages never change, so both passes see the same messages;
// should the room be closed and re-created in between (a store may not
// notice), each page of the second pass is compared with the first pass's
// checksum before it is written, and a mismatch aborts the response rather
// than send bytes that disagree with the headers. A history that fits in
// smallHistoryBytes is kept from the first pass and sent as is, so the
// pages a frontend asks for cost one pass, as before.

// smallHistoryBytes is the largest response body sent from the first pass.
const smallHistoryBytes = 64 << 10

// pageSum identifies one encoded page of the first pass.
type pageSum struct {
	length int
	crc    uint32
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errHistoryChanged aborts a second pass that does not match the first.
var errHistoryChanged = errors.New("httpapi: history changed between the two passes of a response")

// historyEncoder renders a history page by page exactly like messagesJSON
// renders it at once; its buffer is reused from one page to the next.
type historyEncoder struct {
	j       jsonBuilder
	started bool
}

// page encodes msgs; the bytes are valid until the next call.
func (e *historyEncoder) page(msgs []rooms.Message) []byte {
	e.j.b = e.j.b[:0]
	for _, m := range msgs {
		if e.started {
			e.j.raw(",")
		} else {
			e.j.raw("[")
			e.started = true
		}
		appendMessageJSON(&e.j, m)
	}
	return e.j.b
}

// end is what closes the array.
func (e *historyEncoder) end() []byte {
	if e.started {
		return []byte("]")
	}
	return []byte("[]")
}

// sendHistory writes the messages of r as the 200 answer to a history GET
// (or HEAD), with Express's headers and 304 handling.
func sendHistory(c echo.Context, r rooms.MessageRange) error {
	ctx := c.Request().Context()
	sum := sha1.New()
	var (
		length int64
		pages  []pageSum
		small  = make([]byte, 0, 512)
		keep   = true
		enc    historyEncoder
	)
	err := r.Pages(ctx, func(msgs []rooms.Message) error {
		b := enc.page(msgs)
		sum.Write(b)
		length += int64(len(b))
		pages = append(pages, pageSum{len(b), crc32.Checksum(b, castagnoli)})
		if keep && length <= smallHistoryBytes {
			small = append(small, b...)
		} else {
			keep, small = false, nil
		}
		return nil
	})
	if err != nil {
		return err
	}
	tail := enc.end()
	if keep {
		return sendJSON(c, http.StatusOK, append(small, tail...))
	}
	sum.Write(tail)
	length += int64(len(tail))
	if !writeJSONHead(c, http.StatusOK, weakETagOf(length, sum.Sum(nil)), length) {
		return nil
	}
	res := c.Response()
	enc = historyEncoder{}
	next := 0
	err = r.Pages(ctx, func(msgs []rooms.Message) error {
		b := enc.page(msgs)
		if next >= len(pages) || pages[next] != (pageSum{len(b), crc32.Checksum(b, castagnoli)}) {
			return errHistoryChanged
		}
		next++
		_, err := res.Write(b)
		return err
	})
	if err == nil && next != len(pages) {
		err = errHistoryChanged
	}
	if err != nil {
		// The headers are out: all that is left is to end the connection
		// short of its Content-Length, which the client sees as a failure.
		return err
	}
	_, err = res.Write(tail)
	return err
}

// writeJSONHead writes the headers of a JSON answer the way Express's
// res.json does, or a bodiless 304 when a GET or HEAD already holds etag. It
// reports whether the body is to be written.
func writeJSONHead(c echo.Context, status int, etag string, length int64) bool {
	req, res := c.Request(), c.Response()
	h := res.Header()
	h.Set("ETag", etag)
	if status >= 200 && status < 300 && (req.Method == http.MethodGet || req.Method == http.MethodHead) && isFresh(req.Header, etag) {
		res.WriteHeader(http.StatusNotModified)
		return false
	}
	h.Set(echo.HeaderContentType, contentTypeJSON)
	h.Set(echo.HeaderContentLength, strconv.FormatInt(length, 10))
	res.WriteHeader(status)
	return req.Method != http.MethodHead
}

// weakETagOf is Express's weak ETag of a body of length bytes whose SHA-1 is
// sum: W/"<length in hex>-<first 27 chars of base64 SHA-1>".
func weakETagOf(length int64, sum []byte) string {
	return `W/"` + strconv.FormatInt(length, 16) + "-" + base64.StdEncoding.EncodeToString(sum)[:27] + `"`
}
