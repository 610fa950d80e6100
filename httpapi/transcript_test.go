package httpapi_test

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// transcriptCase is one exchange of the recorded NestJS session
// (nest-rest-transcript.txt), replayed in order against one server. The
// requests are the ones curl sent; the expectations are the recorded bytes.
type transcriptCase struct {
	name        string
	method      string
	target      string // request-target, raw
	headers     []string
	body        string
	status      int
	contentType string // "" means the header must be absent
	etag        string // "" means the header must be absent
	respBody    string
	// contentLength is the expected Content-Length header; "-" means absent.
	contentLength string
}

const (
	ctJSON       = "application/json; charset=utf-8"
	bodyBothMiss = `{"statusCode":400,"message":["roomId should not be empty","creatorUsername should not be empty"],"error":"Bad Request"}`
	etagBothMiss = `W/"77-5kZwMWq7okNuS36fZ31ozlAufec"`
	bodyNumeric  = `{"statusCode":400,"message":"Validation failed (numeric string is expected)","error":"Bad Request"}`
	etagNumeric  = `W/"63-BAojB7qX+mLY6LkS424DwNJnIw8"`
	bodyPositive = `{"code":"req-params.validation","message":"Invalid parameters, 'fromIndex' and 'toIndex' must be positive"}`
	etagPositive = `W/"6b-EsGB8r0JULJFjJBFvJoB2gF0pcA"`
	etagEmpty    = `W/"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w"`
	bodyForbid   = `{"code":"access-forbidden","message":"The access is forbidden"}`
	etagForbid   = `W/"3f-o6Bx2N7KxKKR37PIdYNn1MePmZ0"`
	jsonHeader   = "Content-Type: application/json"
	createBody   = `{"roomId":"demo-room","creatorUsername":"bob"}`
	msgs1to20    = "/api/v1/rooms/demo-room/messages?fromIndex=1&toIndex=20"
)

var transcript = []transcriptCase{
	{name: "[1] POST create room", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: createBody,
		status: 201, contentLength: "0"},
	{name: "[2] POST same room again", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: createBody,
		status: 409, contentType: ctJSON, etag: `W/"49-mSBihaiFVLBCxwc06mp3Tw/JSd4"`,
		respBody: `{"code":"room.conflict","message":"Room with 'demo-room' already exists"}`},
	{name: "[3] POST empty body, Content-Type json", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader},
		status: 400, contentType: ctJSON, etag: etagBothMiss, respBody: bodyBothMiss},
	{name: "[4] POST empty body, no Content-Type", method: "POST", target: "/api/v1/rooms",
		status: 400, contentType: ctJSON, etag: etagBothMiss, respBody: bodyBothMiss},
	{name: "[5] POST body {}", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: `{}`,
		status: 400, contentType: ctJSON, etag: etagBothMiss, respBody: bodyBothMiss},
	{name: "[6] POST missing creatorUsername", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: `{"roomId":"x-only"}`,
		status: 400, contentType: ctJSON, etag: `W/"5a-dNpZlfLrg2l+wFIXFkQttvlh/nk"`,
		respBody: `{"statusCode":400,"message":["creatorUsername should not be empty"],"error":"Bad Request"}`},
	{name: "[7] POST empty-string fields", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: `{"roomId":"","creatorUsername":""}`,
		status: 400, contentType: ctJSON, etag: etagBothMiss, respBody: bodyBothMiss},
	{name: "[8] POST malformed JSON", method: "POST", target: "/api/v1/rooms", headers: []string{jsonHeader}, body: `{"roomId":`,
		status: 400, contentType: ctJSON, etag: `W/"51-LhcqXU+zRvF2DoD4zhjkGMQL/xk"`,
		respBody: `{"statusCode":400,"message":"Unexpected end of JSON input","error":"Bad Request"}`},
	{name: "[9] GET messages 1..20, no messages", method: "GET", target: msgs1to20,
		status: 200, contentType: ctJSON, etag: etagEmpty, respBody: `[]`},
	{name: "[10] GET messages 0..20", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=0&toIndex=20",
		status: 400, contentType: ctJSON, etag: etagPositive, respBody: bodyPositive},
	{name: "[11] GET messages 5..2", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=5&toIndex=2",
		status: 400, contentType: ctJSON, etag: `W/"6f-K3elQVDQ1yg2AETJxS+kvlyKrD8"`,
		respBody: `{"code":"req-params.validation","message":"Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"}`},
	{name: "[12] GET messages fromIndex=abc", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=abc&toIndex=20",
		status: 400, contentType: ctJSON, etag: etagNumeric, respBody: bodyNumeric},
	{name: "[13] GET messages missing toIndex", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=1",
		status: 400, contentType: ctJSON, etag: etagNumeric, respBody: bodyNumeric},
	{name: "[14] GET messages missing fromIndex", method: "GET", target: "/api/v1/rooms/demo-room/messages?toIndex=20",
		status: 400, contentType: ctJSON, etag: etagNumeric, respBody: bodyNumeric},
	{name: "[15] GET messages no query", method: "GET", target: "/api/v1/rooms/demo-room/messages",
		status: 400, contentType: ctJSON, etag: etagNumeric, respBody: bodyNumeric},
	{name: "[16] GET messages -1..3", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=-1&toIndex=3",
		status: 400, contentType: ctJSON, etag: etagPositive, respBody: bodyPositive},
	{name: "[17] GET messages 1.5..3", method: "GET", target: "/api/v1/rooms/demo-room/messages?fromIndex=1.5&toIndex=3",
		status: 200, contentType: ctJSON, etag: etagEmpty, respBody: `[]`},
	{name: "[18] GET messages unknown room", method: "GET", target: "/api/v1/rooms/no-such-room/messages?fromIndex=1&toIndex=20",
		status: 403, contentType: ctJSON, etag: etagForbid, respBody: bodyForbid},
	{name: "[19] GET messages unknown room, invalid indexes", method: "GET", target: "/api/v1/rooms/no-such-room/messages?fromIndex=0&toIndex=20",
		status: 400, contentType: ctJSON, etag: etagPositive, respBody: bodyPositive},
	{name: "[20] GET messages with Origin", method: "GET", target: msgs1to20, headers: []string{"Origin: http://127.0.0.1:4200"},
		status: 200, contentType: ctJSON, etag: etagEmpty, respBody: `[]`},
	{name: "[21] OPTIONS preflight", method: "OPTIONS", target: msgs1to20,
		headers: []string{"Origin: http://127.0.0.1:4200", "Access-Control-Request-Method: GET", "Access-Control-Request-Headers: access-control-allow-origin"},
		status:  404, contentType: ctJSON, etag: `W/"79-u+vTfh+UlWSYmcPNIwIQBlm1Vfw"`,
		respBody: `{"statusCode":404,"message":"Cannot OPTIONS /api/v1/rooms/demo-room/messages?fromIndex=1&toIndex=20","error":"Not Found"}`},
	{name: "[22] GET /api/v1/rooms", method: "GET", target: "/api/v1/rooms",
		status: 404, contentType: ctJSON, etag: `W/"4b-bLL82rkPOV/oDF+kIUsVl7XKm0Y"`,
		respBody: `{"statusCode":404,"message":"Cannot GET /api/v1/rooms","error":"Not Found"}`},
	{name: "[23] GET /api/v1/rooms/demo-room", method: "GET", target: "/api/v1/rooms/demo-room",
		status: 404, contentType: ctJSON, etag: `W/"55-9ouRPcRCETzfcsjyh9yAaGdIPik"`,
		respBody: `{"statusCode":404,"message":"Cannot GET /api/v1/rooms/demo-room","error":"Not Found"}`},
	{name: "[24] DELETE room", method: "DELETE", target: "/api/v1/rooms/demo-room",
		status: 204, contentLength: "-"},
	{name: "[25] DELETE room again", method: "DELETE", target: "/api/v1/rooms/demo-room",
		status: 404, contentType: ctJSON, etag: `W/"44-R5d3J4cWK4eAD7n0cpyxhl8il/M"`,
		respBody: `{"code":"room.not-fond","message":"Room with 'demo-room' not found"}`},
	{name: "[26] GET messages after delete", method: "GET", target: msgs1to20,
		status: 403, contentType: ctJSON, etag: etagForbid, respBody: bodyForbid},
}

func newTestServer(t *testing.T, opts ...httpapi.Option) (*httptest.Server, *rooms.Service) {
	t.Helper()
	svc := rooms.NewService(memstore.New())
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler), opts...))
	t.Cleanup(srv.Close)
	return srv, svc
}

// rawExchange sends one request byte for byte as curl would (no
// Content-Length without a body) and reads the response.
func rawExchange(t *testing.T, addr, method, target string, headers []string, body string) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(method + " " + target + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n")
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != "" {
		b.WriteString("Content-Length: " + strconv.Itoa(len(body)) + "\r\n")
	}
	b.WriteString("\r\n" + body)
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatalf("write request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("read response: %v", err)
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, respBody
}

func TestTranscriptReplay(t *testing.T) {
	srv, _ := newTestServer(t)
	addr := srv.Listener.Addr().String()
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("test server on %s, want loopback 127.0.0.1", addr)
	}
	// Sequential on purpose: later cases depend on the room the first creates.
	for _, tc := range transcript {
		resp, body := rawExchange(t, addr, tc.method, tc.target, tc.headers, tc.body)
		if resp.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d (body %s)", tc.name, resp.StatusCode, tc.status, body)
		}
		checkHeader(t, tc.name, resp.Header, "Content-Type", tc.contentType)
		checkHeader(t, tc.name, resp.Header, "ETag", tc.etag)
		checkHeader(t, tc.name, resp.Header, "Access-Control-Allow-Origin", "")
		if string(body) != tc.respBody {
			t.Errorf("%s: body\n got %q\nwant %q", tc.name, body, tc.respBody)
		}
		wantLength := tc.contentLength
		if wantLength == "" {
			wantLength = strconv.Itoa(len(tc.respBody))
		}
		gotLength, present := resp.Header["Content-Length"], len(resp.Header.Values("Content-Length")) > 0
		switch {
		case wantLength == "-" && present:
			t.Errorf("%s: Content-Length %q, want none", tc.name, gotLength)
		case wantLength != "-" && resp.Header.Get("Content-Length") != wantLength:
			t.Errorf("%s: Content-Length %q, want %q", tc.name, resp.Header.Get("Content-Length"), wantLength)
		}
	}
}

func checkHeader(t *testing.T, name string, h http.Header, key, want string) {
	t.Helper()
	got, present := h.Get(key), len(h.Values(key)) > 0
	if want == "" {
		if present {
			t.Errorf("%s: header %s = %q, want it absent", name, key, got)
		}
		return
	}
	if got != want {
		t.Errorf("%s: header %s = %q, want %q", name, key, got, want)
	}
}
