package httpapi_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

type result struct {
	status int
	header http.Header
	body   string
}

func do(t *testing.T, srv *httptest.Server, method, target string, headers map[string]string, body io.Reader) result {
	t.Helper()
	req, err := http.NewRequest(method, srv.URL+target, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return result{resp.StatusCode, resp.Header, string(b)}
}

func (r result) expect(t *testing.T, what string, status int, body string) {
	t.Helper()
	if r.status != status || r.body != body {
		t.Errorf("%s: got %d %s\nwant %d %s", what, r.status, r.body, status, body)
	}
	if body != "" && r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("%s: Content-Type %q", what, r.header.Get("Content-Type"))
	}
}

var jsonCT = map[string]string{"Content-Type": "application/json"}

func TestMessagesAreRenderedLikeJSONStringify(t *testing.T) {
	srv, svc := newTestServer(t)
	ctx := context.Background()
	if err := svc.CreateRoom(ctx, rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
	_, err := svc.Post(ctx, "r", rooms.NewMessage{
		Username:  "<b>&\u2028",
		Content:   "line\nbreak \u0001 \"q\" \\ é 😀 \x7f \t\b\f\r /",
		CreatedAt: "2021-03-01T10:00:00.000Z",
	})
	if err != nil {
		t.Fatal(err)
	}
	// Body and ETag computed by JSON.stringify and Express's etag on Node 20.
	want := "[{\"order\":1,\"username\":\"<b>&\u2028\",\"content\":\"line\\nbreak \\u0001 \\\"q\\\" \\\\ é 😀 \x7f \\t\\b\\f\\r /\",\"createdAt\":\"2021-03-01T10:00:00.000Z\"}]"
	r := do(t, srv, "GET", "/api/v1/rooms/r/messages?fromIndex=1&toIndex=20", nil, nil)
	r.expect(t, "history", 200, want)
	if got := r.header.Get("ETag"); got != `W/"86-oMytlX+4q9nfriHEsGh+vHHu/cU"` {
		t.Errorf("ETag %s", got)
	}
}

func TestHistoryRanges(t *testing.T) {
	srv, svc := newTestServer(t)
	ctx := context.Background()
	if err := svc.CreateRoom(ctx, rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		if _, err := svc.Post(ctx, "r", rooms.NewMessage{Username: "u", Content: fmt.Sprint(i), CreatedAt: "t"}); err != nil {
			t.Fatal(err)
		}
	}
	msg := func(i int) string {
		return fmt.Sprintf(`{"order":%d,"username":"u","content":"%d","createdAt":"t"}`, i, i)
	}
	const (
		numeric  = `{"statusCode":400,"message":"Validation failed (numeric string is expected)","error":"Bad Request"}`
		reversed = `{"code":"req-params.validation","message":"Invalid parameters, 'toIndex' must no not be less than 'fromIndex'"}`
		positive = `{"code":"req-params.validation","message":"Invalid parameters, 'fromIndex' and 'toIndex' must be positive"}`
		tooWide  = `{"code":"req-params.validation","message":"Invalid parameters, 'toIndex' - 'fromIndex' must be less than 10000: read the history in smaller ranges"}`
	)
	tests := []struct {
		query  string
		status int
		want   string
	}{
		{"fromIndex=1&toIndex=3", 200, "[" + msg(1) + "," + msg(2) + "," + msg(3) + "]"},
		{"fromIndex=2&toIndex=2", 200, "[" + msg(2) + "]"},
		{"fromIndex=3&toIndex=99", 200, "[" + msg(3) + "]"},
		{"fromIndex=4&toIndex=99", 200, "[]"},
		// MAX_RANGE (rooms.DefaultMaxRange, 10,000): the widest range is read,
		// a wider one refused after the original's checks.
		{"fromIndex=2&toIndex=10001", 200, "[" + msg(2) + "," + msg(3) + "]"},
		{"fromIndex=1&toIndex=10001", 400, tooWide},
		{"fromIndex=2&toIndex=99999999999999999999999", 400, tooWide},
		{"fromIndex=2&toIndex=1e400x", 400, numeric},
		// Both beyond int64, still reversed.
		{"fromIndex=99999999999999999999999&toIndex=1e22", 400, reversed},
		// " 2 " is 2, but "0x10" is parseInt'ed to 0.
		{"fromIndex=%202%20&toIndex=0x10", 400, positive},
	}
	for _, tc := range tests {
		do(t, srv, "GET", "/api/v1/rooms/r/messages?"+tc.query, nil, nil).expect(t, tc.query, tc.status, tc.want)
	}
}

func TestHeadAndConditionalGet(t *testing.T) {
	srv, svc := newTestServer(t)
	if err := svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
	const target = "/api/v1/rooms/r/messages?fromIndex=1&toIndex=2"
	const etag = `W/"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w"`

	head := do(t, srv, "HEAD", target, nil, nil)
	if head.status != 200 || head.body != "" || head.header.Get("Content-Length") != "2" || head.header.Get("ETag") != etag {
		t.Errorf("HEAD: %d %q headers %v", head.status, head.body, head.header)
	}

	for _, inm := range []string{etag, `"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w"`, `W/"x", ` + etag, "*"} {
		r := do(t, srv, "GET", target, map[string]string{"If-None-Match": inm}, nil)
		if r.status != 304 || r.body != "" || r.header.Get("ETag") != etag || r.header.Get("Content-Type") != "" {
			t.Errorf("If-None-Match %s: %d %q headers %v", inm, r.status, r.body, r.header)
		}
	}
	do(t, srv, "GET", target, map[string]string{"If-None-Match": etag, "Cache-Control": "no-cache"}, nil).
		expect(t, "If-None-Match with no-cache", 200, "[]")
	do(t, srv, "GET", target, map[string]string{"If-None-Match": `W/"other"`}, nil).
		expect(t, "stale If-None-Match", 200, "[]")
	do(t, srv, "GET", target, map[string]string{"If-Modified-Since": "Thu, 01 Jan 2099 00:00:00 GMT"}, nil).
		expect(t, "If-Modified-Since without Last-Modified", 200, "[]")
	// Freshness only applies to 2xx: a 403 is sent in full.
	r := do(t, srv, "GET", "/api/v1/rooms/nope/messages?fromIndex=1&toIndex=2",
		map[string]string{"If-None-Match": `W/"3f-o6Bx2N7KxKKR37PIdYNn1MePmZ0"`}, nil)
	r.expect(t, "conditional 403", 403, `{"code":"access-forbidden","message":"The access is forbidden"}`)
}

// Express routes case-insensitively, allows one trailing slash and decodes
// path parameters with decodeURIComponent.
func TestExpressRouting(t *testing.T) {
	srv, svc := newTestServer(t)
	ctx := context.Background()

	do(t, srv, "POST", "/API/V1/Rooms/", jsonCT, strings.NewReader(`{"roomId":"a/b c","creatorUsername":"bob"}`)).
		expect(t, "POST with odd case and trailing slash", 201, "")
	if _, err := svc.Participants(ctx, "a/b c"); err != nil {
		t.Fatalf("room created under the wrong id: %v", err)
	}
	do(t, srv, "GET", "/api/v1/ROOMS/a%2Fb%20c/Messages/?fromIndex=1&toIndex=2", nil, nil).
		expect(t, "GET with escaped id", 200, "[]")
	do(t, srv, "GET", "/api/v1/rooms/a%2Fb%20c/messages//?fromIndex=1&toIndex=2", nil, nil).
		expect(t, "two trailing slashes", 404, `{"statusCode":404,"message":"Cannot GET /api/v1/rooms/a%2Fb%20c/messages//?fromIndex=1&toIndex=2","error":"Not Found"}`)
	do(t, srv, "DELETE", "/api/v1/rooms/a%2Fb%20c/", nil, nil).expect(t, "DELETE with trailing slash", 204, "")
	do(t, srv, "DELETE", "/api/v1/rooms/", nil, nil).
		expect(t, "DELETE without id", 404, `{"statusCode":404,"message":"Cannot DELETE /api/v1/rooms/","error":"Not Found"}`)
	do(t, srv, "DELETE", "/api/v1/rooms//", nil, nil).
		expect(t, "DELETE with empty id", 404, `{"statusCode":404,"message":"Cannot DELETE /api/v1/rooms//","error":"Not Found"}`)
	do(t, srv, "PUT", "/x?y=%zz", nil, nil).
		expect(t, "unknown path", 404, `{"statusCode":404,"message":"Cannot PUT /x?y=%zz","error":"Not Found"}`)
	do(t, srv, "PATCH", "/api/v1/rooms", nil, nil).
		expect(t, "wrong method", 404, `{"statusCode":404,"message":"Cannot PATCH /api/v1/rooms","error":"Not Found"}`)
	for _, p := range []string{"/api/v1/rooms", "/api/v1/rooms/x", "/api/v1/rooms/x/messages"} {
		r := do(t, srv, "OPTIONS", p, map[string]string{"Origin": "http://127.0.0.1:4200", "Access-Control-Request-Method": "POST"}, nil)
		r.expect(t, "OPTIONS "+p, 404, `{"statusCode":404,"message":"Cannot OPTIONS `+p+`","error":"Not Found"}`)
		if r.header.Get("Allow") != "" || r.header.Get("Access-Control-Allow-Origin") != "" {
			t.Errorf("OPTIONS %s leaked Allow/CORS headers: %v", p, r.header)
		}
	}
	head := do(t, srv, "HEAD", "/nope", nil, nil)
	if head.status != 404 || head.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Errorf("HEAD /nope: %d %v", head.status, head.header)
	}
}

func TestBodyParsing(t *testing.T) {
	srv, _ := newTestServer(t)
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	both := `{"statusCode":400,"message":["roomId should not be empty","creatorUsername should not be empty"],"error":"Bad Request"}`
	post := func(headers map[string]string, body string) result {
		return do(t, srv, "POST", "/api/v1/rooms", headers, strings.NewReader(body))
	}

	post(form, "roomId=f1&creatorUsername=bob").expect(t, "urlencoded", 201, "")
	post(form, "roomId=%zz&creatorUsername=b+c").expect(t, "urlencoded with a bad escape", 201, "")
	post(form, "roomId=%zz&creatorUsername=x").
		expect(t, "urlencoded id kept verbatim", 409, `{"code":"room.conflict","message":"Room with '%zz' already exists"}`)
	post(map[string]string{"Content-Type": "text/plain"}, `{"roomId":"t","creatorUsername":"q"}`).
		expect(t, "unparsed content type", 400, both)
	post(jsonCT, `[{"roomId":"x","creatorUsername":"y"}]`).expect(t, "array body", 400, both)
	post(jsonCT, `{"roomId":null,"creatorUsername":" "}`).
		expect(t, "null member", 400, `{"statusCode":400,"message":["roomId should not be empty"],"error":"Bad Request"}`)
	post(jsonCT, `{"roomId":"","creatorUsername":0}`).
		expect(t, "number member", 400, `{"statusCode":400,"message":["roomId should not be empty"],"error":"Bad Request"}`)
	post(map[string]string{"Content-Type": "Application/JSON; charset=UTF-8"}, "\ufeff"+`{"roomId":"bom","creatorUsername":"x"}`).
		expect(t, "BOM and odd-case type", 201, "")
	post(jsonCT, "\ufeff").expect(t, "lone BOM", 400, both)
	post(jsonCT, "   ").
		expect(t, "whitespace body", 400, `{"statusCode":400,"message":"Unexpected token ' ', \"#\" is not valid JSON","error":"Bad Request"}`)
	post(jsonCT, `{"roomId":"a"} x`).
		expect(t, "trailing junk", 400, `{"statusCode":400,"message":"Unexpected non-whitespace character after JSON at position 15","error":"Bad Request"}`)

	// Numbers and booleans become their JS string: the original accepted
	// them too and used String(roomId) in its conflict message.
	post(jsonCT, `{"roomId":123,"creatorUsername":true}`).expect(t, "numeric id", 201, "")
	post(jsonCT, `{"roomId":1.23e2,"creatorUsername":"x"}`).
		expect(t, "same number, other spelling", 409, `{"code":"room.conflict","message":"Room with '123' already exists"}`)
	do(t, srv, "GET", "/api/v1/rooms/123/messages?fromIndex=1&toIndex=2", nil, nil).expect(t, "numeric id history", 200, "[]")

	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	if _, err := io.WriteString(zw, `{"roomId":"zipped","creatorUsername":"bob"}`); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	do(t, srv, "POST", "/api/v1/rooms", map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, &gz).
		expect(t, "gzip body", 201, "")
}

// Behaviours where the original answered with an accidental 500 (or kept a
// room nobody could address) and this server gives a client error instead.
func TestDeliberateDeviations(t *testing.T) {
	srv, _ := newTestServer(t)
	post := func(headers map[string]string, body string) result {
		return do(t, srv, "POST", "/api/v1/rooms", headers, strings.NewReader(body))
	}
	post(jsonCT, `{"roomId":{"a":1}}`).expect(t, "object id", 400,
		`{"statusCode":400,"message":["roomId must be a string","creatorUsername should not be empty"],"error":"Bad Request"}`)
	post(jsonCT, `{"roomId":"x","creatorUsername":[]}`).expect(t, "array creator", 400,
		`{"statusCode":400,"message":["creatorUsername must be a string"],"error":"Bad Request"}`)
	post(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "roomId=u1&roomId=u2&creatorUsername=bob").
		expect(t, "repeated form key", 400, `{"statusCode":400,"message":["roomId must be a string"],"error":"Bad Request"}`)
	post(map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "roomId[a]=1&creatorUsername=bob").
		expect(t, "bracketed form key", 400, `{"statusCode":400,"message":["roomId must be a string"],"error":"Bad Request"}`)
	for _, body := range []string{"\n", "\n\n", "\r", "\u2028{}", "\u2029"} {
		post(jsonCT, body).expect(t, fmt.Sprintf("body %q", body), 400,
			`{"statusCode":400,"message":"Unexpected end of JSON input","error":"Bad Request"}`)
	}
	// Express raises a 400 URIError for this, which Nest 7 turned into a 500.
	do(t, srv, "GET", "/api/v1/rooms/demo%FF/messages?fromIndex=1&toIndex=2", nil, nil).
		expect(t, "id that is not UTF-8", 400, `{"statusCode":400,"message":"Failed to decode param 'demo%FF'","error":"Bad Request"}`)
	post(map[string]string{"Content-Type": "application/json; charset=latin1"}, "{}").
		expect(t, "unsupported charset", 415, `{"statusCode":415,"message":"unsupported charset \"LATIN1\"","error":"Unsupported Media Type"}`)
	post(map[string]string{"Content-Type": "application/json", "Content-Encoding": "br"}, "{}").
		expect(t, "unsupported encoding", 415, `{"statusCode":415,"message":"unsupported content encoding \"br\"","error":"Unsupported Media Type"}`)
}

func TestBodyLimit(t *testing.T) {
	const tooLarge = `{"statusCode":413,"message":"request entity too large","error":"Payload Too Large"}`
	srv, _ := newTestServer(t)
	atLimit := strings.Repeat(" ", httpapi.DefaultMaxBodyBytes)
	do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(atLimit)).
		expect(t, "body of exactly 100kb", 400, `{"statusCode":400,"message":"Unexpected token ' ', \"#\" is not valid JSON","error":"Bad Request"}`)
	do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(atLimit+" ")).expect(t, "100kb + 1", 413, tooLarge)
	// Chunked: no declared length, the limit applies while reading.
	do(t, srv, "POST", "/api/v1/rooms", jsonCT, io.MultiReader(strings.NewReader(atLimit), strings.NewReader("  "))).
		expect(t, "chunked over the limit", 413, tooLarge)

	small, _ := newTestServer(t, httpapi.WithMaxBodyBytes(16), httpapi.WithParameterLimit(2))
	do(t, small, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(`{"roomId":"abcdef"}`)).expect(t, "custom limit", 413, tooLarge)
	do(t, small, "POST", "/api/v1/rooms", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, strings.NewReader("a=1&b=2&c=3")).
		expect(t, "too many form pairs", 413, `{"statusCode":413,"message":"too many parameters","error":"Payload Too Large"}`)
	// Body parsing precedes routing, as in Express.
	do(t, small, "GET", "/nope", jsonCT, strings.NewReader(strings.Repeat(" ", 17))).expect(t, "oversized body on a 404 path", 413, tooLarge)
	do(t, srv, "GET", "/nope", jsonCT, strings.NewReader("{")).
		expect(t, "bad body on a 404 path", 400, `{"statusCode":400,"message":"Expected property name or '}' in JSON at position 1","error":"Bad Request"}`)
	do(t, srv, "DELETE", "/api/v1/rooms/zz", jsonCT, strings.NewReader("{")).
		expect(t, "bad body on DELETE", 400, `{"statusCode":400,"message":"Expected property name or '}' in JSON at position 1","error":"Bad Request"}`)
}

// erroringStore fails every call with err.
type erroringStore struct {
	rooms.Store
	err error
}

func (s erroringStore) Messages(context.Context, string, int64, int64) ([]rooms.Message, error) {
	return nil, s.err
}

func (s erroringStore) ReadMessages(context.Context, string, int64, int64, func(rooms.MessageRange) error) error {
	return s.err
}

func (s erroringStore) CreateRoom(context.Context, rooms.Room) error { return s.err }

// syncBuffer is a log sink safe to read after the handler wrote to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestStoreFailures(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		status   int
		body     string
		logLevel string
	}{
		{"unavailable sentinel", fmt.Errorf("redis down: %w", rooms.ErrUnavailable), 503,
			`{"statusCode":503,"message":"Service Unavailable","error":"Service Unavailable"}`, "WARN"},
		{"unavailable with message", &rooms.Error{Code: rooms.CodeUnavailable, Message: "storage is unavailable, retry later"}, 503,
			`{"statusCode":503,"message":"storage is unavailable, retry later","error":"Service Unavailable"}`, "WARN"},
		{"store fault wrapped by rooms.Unavailable", rooms.Unavailable(errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")), 503,
			`{"statusCode":503,"message":"The storage is unavailable, retry later","error":"Service Unavailable"}`, "WARN"},
		{"unexpected", errors.New("disk on fire"), 500,
			`{"statusCode":500,"message":"Internal server error"}`, "ERROR"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs syncBuffer
			svc := rooms.NewService(erroringStore{Store: memstore.New(), err: tc.err})
			srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.NewTextHandler(&logs, nil))))
			defer srv.Close()
			do(t, srv, "GET", "/api/v1/rooms/r/messages?fromIndex=1&toIndex=2", nil, nil).expect(t, "GET", tc.status, tc.body)
			do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(`{"roomId":"r","creatorUsername":"b"}`)).expect(t, "POST", tc.status, tc.body)
			if out := logs.String(); !strings.Contains(out, "level="+tc.logLevel) || !strings.Contains(out, tc.err.Error()) {
				t.Errorf("log does not report the failure at %s: %s", tc.logLevel, out)
			}
		})
	}
}

// The gateway mounts Socket.IO on the same Echo; nothing of the REST layer
// may touch those requests.
func TestSocketIOMountIsNotSwallowed(t *testing.T) {
	svc := rooms.NewService(memstore.New())
	e := httpapi.New(svc, slog.New(slog.DiscardHandler), httpapi.WithMaxBodyBytes(8))
	type seen struct{ method, uri, body string }
	got := make(chan seen, 8)
	e.Any("/socket.io/", echo.WrapHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, string(b)}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		_, _ = io.WriteString(w, "ok")
	})))
	srv := httptest.NewServer(e)
	defer srv.Close()

	requests := []struct {
		method, target, contentType, body string
	}{
		{"GET", "/socket.io/?EIO=3&transport=polling&t=abc", "", ""},
		// Larger than the REST body limit and not JSON at all: untouched.
		{"POST", "/socket.io/?EIO=4&transport=polling&sid=x", "text/plain;charset=UTF-8", `42["exchanges",{"a":1}]`},
		{"POST", "/socket.io/?EIO=3&transport=polling&sid=x", "application/json", `{not json`},
		{"OPTIONS", "/socket.io/?EIO=4&transport=polling", "", ""},
	}
	for _, rq := range requests {
		headers := map[string]string{}
		if rq.contentType != "" {
			headers["Content-Type"] = rq.contentType
		}
		r := do(t, srv, rq.method, rq.target, headers, strings.NewReader(rq.body))
		if r.status != 200 || r.body != "ok" {
			t.Errorf("%s %s: %d %s, want the Socket.IO handler's answer", rq.method, rq.target, r.status, r.body)
			continue
		}
		s := <-got
		if s.method != rq.method || s.uri != rq.target || s.body != rq.body {
			t.Errorf("handler saw %+v, want %s %s body %q", s, rq.method, rq.target, rq.body)
		}
	}
	// Like engine.io's path check, the prefix must match exactly.
	do(t, srv, "GET", "/socket.io?EIO=3", nil, nil).
		expect(t, "no trailing slash", 404, `{"statusCode":404,"message":"Cannot GET /socket.io?EIO=3","error":"Not Found"}`)
}

type panickingStore struct{ rooms.Store }

func (panickingStore) Messages(context.Context, string, int64, int64) ([]rooms.Message, error) {
	panic("store bug")
}

func (panickingStore) ReadMessages(context.Context, string, int64, int64, func(rooms.MessageRange) error) error {
	panic("store bug")
}

func TestHandlerPanicIsA500(t *testing.T) {
	var logs syncBuffer
	svc := rooms.NewService(panickingStore{memstore.New()})
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.NewTextHandler(&logs, nil))))
	defer srv.Close()
	do(t, srv, "GET", "/api/v1/rooms/r/messages?fromIndex=1&toIndex=2", nil, nil).
		expect(t, "panicking store", 500, `{"statusCode":500,"message":"Internal server error"}`)
	if out := logs.String(); !strings.Contains(out, "level=ERROR") || !strings.Contains(out, "store bug") {
		t.Errorf("panic not logged: %s", out)
	}
	// The server keeps serving.
	do(t, srv, "GET", "/nope", nil, nil).expect(t, "after the panic", 404, `{"statusCode":404,"message":"Cannot GET /nope","error":"Not Found"}`)
}

// New must not claim paths beyond its own routes (no "/*" catch-all), or a
// Socket.IO handler mounted later could be shadowed.
func TestNewRegistersOnlyRoomsRoutes(t *testing.T) {
	e := httpapi.New(rooms.NewService(memstore.New()), slog.New(slog.DiscardHandler))
	allowed := map[string]bool{"/api/v1/rooms": true, "/api/v1/rooms/:roomId": true, "/api/v1/rooms/:roomId/messages": true, "/api/v1/openapi.json": true}
	routes := e.Routes()
	if len(routes) == 0 {
		t.Fatal("no routes registered")
	}
	for _, r := range routes {
		if !allowed[r.Path] {
			t.Errorf("unexpected route %s %s", r.Method, r.Path)
		}
	}
}
