package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// openAPI is the served document, loaded and checked by kin-openapi, with
// a router to find each request's operation.
type openAPI struct {
	doc    *openapi3.T
	router routers.Router
}

// loadOpenAPI fetches GET /api/v1/openapi.json from srv and validates it as
// an OpenAPI 3.1 document.
func loadOpenAPI(t *testing.T, srv *httptest.Server) *openAPI {
	t.Helper()
	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("GET /api/v1/openapi.json: %d %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	doc, err := openapi3.NewLoader().LoadFromData(body)
	if err != nil {
		t.Fatalf("load the OpenAPI document: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() {
		t.Fatalf("document is OpenAPI %s, want 3.1", doc.OpenAPI)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("the OpenAPI document is invalid: %v", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	return &openAPI{doc: doc, router: router}
}

// exchange is one request and the answer it got.
type exchange struct {
	name          string
	method        string
	target        string
	requestHeader http.Header
	status        int
	header        http.Header
	body          []byte
}

// check fails the test unless validate accepts x.
func (o *openAPI) check(t *testing.T, x exchange) {
	t.Helper()
	if err := o.validate(x); err != nil {
		t.Errorf("%s: %s %s → %d %s: %v", x.name, x.method, x.target, x.status, x.body, err)
	}
}

// validate checks the answer against the operation of the request and
// rejects any status the operation does not list. Requests without an
// operation (a path or method the server has no route for) must get the
// server's 404 body, as the RouteNotFound response describes it.
func (o *openAPI) validate(x exchange) error {
	req := httptest.NewRequest(x.method, x.target, nil)
	for k, vs := range x.requestHeader {
		req.Header[k] = vs
	}
	route, params, err := o.router.FindRoute(req)
	if err != nil {
		if !errors.Is(err, routers.ErrPathNotFound) && !errors.Is(err, routers.ErrMethodNotAllowed) {
			return fmt.Errorf("find route: %w", err)
		}
		if err := o.checkRouteNotFound(x); err != nil {
			return fmt.Errorf("no operation, and not the documented 404: %w", err)
		}
		return nil
	}
	if route.Operation.Responses.Status(x.status) == nil {
		// ValidateResponse skips HEAD and 304 answers altogether.
		return fmt.Errorf("operation %s does not list status %d", route.Operation.OperationID, x.status)
	}
	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route},
		Status:                 x.status,
		Header:                 x.header,
		Body:                   io.NopCloser(bytes.NewReader(x.body)),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		return fmt.Errorf("does not match operation %s: %w", route.Operation.OperationID, err)
	}
	return nil
}

func (o *openAPI) checkRouteNotFound(x exchange) error {
	if x.status != http.StatusNotFound {
		return fmt.Errorf("status %d", x.status)
	}
	resp := o.doc.Components.Responses["RouteNotFound"]
	if resp == nil || resp.Value == nil {
		return errors.New("no RouteNotFound response in the document")
	}
	mt := resp.Value.Content.Get(x.header.Get("Content-Type"))
	if mt == nil {
		return fmt.Errorf("content type %q not described", x.header.Get("Content-Type"))
	}
	var v any
	if err := json.Unmarshal(x.body, &v); err != nil {
		return err
	}
	return mt.Schema.Value.VisitJSON(v, openapi3.EnableJSONSchema2020())
}

// echoParam matches an Echo path parameter.
var echoParam = regexp.MustCompile(`:(\w+)`)

// Every route New registers is described, with that method, and the
// document describes nothing else.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	svc := rooms.NewService(memstore.New())
	e := httpapi.New(svc, slog.New(slog.DiscardHandler))
	srv := httptest.NewServer(e)
	defer srv.Close()
	o := loadOpenAPI(t, srv)

	registered := map[string]bool{}
	for _, r := range e.Routes() {
		path := echoParam.ReplaceAllString(r.Path, "{$1}")
		registered[r.Method+" "+path] = true
		item := o.doc.Paths.Value(path)
		if item == nil {
			t.Errorf("route %s %s: path %s is not in the OpenAPI document", r.Method, r.Path, path)
			continue
		}
		if item.GetOperation(r.Method) == nil {
			t.Errorf("route %s %s: no %s operation in the OpenAPI document", r.Method, r.Path, r.Method)
		}
	}
	if len(registered) == 0 {
		t.Fatal("no routes registered")
	}
	for path, item := range o.doc.Paths.Map() {
		for method := range item.Operations() {
			if !registered[method+" "+path] {
				t.Errorf("the OpenAPI document describes %s %s, which is not a route", method, path)
			}
		}
	}
}

// Every response of the recorded NestJS session (transcript_test.go, whose
// replay shows this server gives the same bytes) matches the document: the
// recorded answer as written down, and this server's live answer.
func TestOpenAPIDescribesTheTranscript(t *testing.T) {
	srv, _ := newTestServer(t)
	o := loadOpenAPI(t, srv)
	addr := srv.Listener.Addr().String()
	for _, tc := range transcript {
		reqHeader := http.Header{}
		for _, h := range tc.headers {
			k, v, _ := strings.Cut(h, ": ")
			reqHeader.Add(k, v)
		}
		recorded := http.Header{}
		if tc.contentType != "" {
			recorded.Set("Content-Type", tc.contentType)
		}
		if tc.etag != "" {
			recorded.Set("ETag", tc.etag)
		}
		o.check(t, exchange{name: tc.name + " (recorded)", method: tc.method, target: tc.target, requestHeader: reqHeader,
			status: tc.status, header: recorded, body: []byte(tc.respBody)})

		resp, body := rawExchange(t, addr, tc.method, tc.target, tc.headers, tc.body)
		o.check(t, exchange{name: tc.name + " (live)", method: tc.method, target: tc.target, requestHeader: reqHeader,
			status: resp.StatusCode, header: resp.Header, body: body})
	}
}

// The answers the original never gave (limits, authentication, a store
// that is down) and the less common ones (HEAD, 304, 500) match the
// document too.
func TestOpenAPIDescribesEveryOtherAnswer(t *testing.T) {
	type call struct {
		name    string
		method  string
		target  string
		headers map[string]string
		body    string
		status  int // the answer the case is about; anything else fails
	}
	const (
		jsonCT    = "application/json"
		createOne = `{"roomId":"r1","creatorUsername":"bob"}`
	)
	ct := map[string]string{"Content-Type": jsonCT}
	open := []call{
		{"create", "POST", "/api/v1/rooms", ct, createOne, 201},
		{"create, urlencoded", "POST", "/api/v1/rooms", map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, "roomId=r2&creatorUsername=bob", 201},
		{"an object as roomId", "POST", "/api/v1/rooms", ct, `{"roomId":{},"creatorUsername":"bob"}`, 400},
		{"roomId over MAX_FIELD", "POST", "/api/v1/rooms", ct, `{"roomId":"` + strings.Repeat("x", 2000) + `","creatorUsername":"bob"}`, 400},
		{"body over MAX_BODY", "POST", "/api/v1/rooms", ct, `{"roomId":"` + strings.Repeat("x", httpapi.DefaultMaxBodyBytes) + `"}`, 413},
		{"unsupported charset", "POST", "/api/v1/rooms", map[string]string{"Content-Type": "application/json; charset=latin1"}, createOne, 415},
		{"unsupported encoding", "DELETE", "/api/v1/rooms/r1", map[string]string{"Content-Type": jsonCT, "Content-Encoding": "br"}, "{}", 415},
		{"history", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=10", nil, "", 200},
		{"history, HEAD", "HEAD", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=10", nil, "", 200},
		{"history, fresh ETag", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=10", map[string]string{"If-None-Match": `W/"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w"`}, "", 304},
		{"history wider than MAX_RANGE", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=20000", nil, "", 400},
		{"history, HEAD, invalid", "HEAD", "/api/v1/rooms/r1/messages?fromIndex=0&toIndex=1", nil, "", 400},
		{"history, undecodable roomId", "GET", "/api/v1/rooms/%E0%A4/messages?fromIndex=1&toIndex=2", nil, "", 400},
		{"history, malformed body", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=2", ct, "{", 400},
		{"close, undecodable roomId", "DELETE", "/api/v1/rooms/%FF", nil, "", 400},
		{"close", "DELETE", "/api/v1/rooms/r2", nil, "", 204},
		{"this document", "GET", "/api/v1/openapi.json", nil, "", 200},
		{"this document, OPTIONS", "OPTIONS", "/api/v1/openapi.json", nil, "", 404},
		{"OPTIONS on a room", "OPTIONS", "/api/v1/rooms/r1", nil, "", 404},
		{"an unknown path", "GET", "/api/v2/rooms", nil, "", 404},
		{"an unknown method", "PUT", "/api/v1/rooms/r1", nil, "", 404},
	}
	guarded := []call{
		{"create without the token", "POST", "/api/v1/rooms", ct, createOne, 401},
		{"close without the token", "DELETE", "/api/v1/rooms/r1", nil, "", 401},
		{"create over the write budget", "POST", "/api/v1/rooms", map[string]string{"Content-Type": jsonCT, "Authorization": "Bearer s3cret"}, createOne, 429},
		{"close over the write budget", "DELETE", "/api/v1/rooms/r1", map[string]string{"Authorization": "Bearer s3cret"}, "", 429},
	}
	down := []call{
		{"create, store down", "POST", "/api/v1/rooms", ct, createOne, 503},
		{"history, store down", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=2", nil, "", 503},
	}
	broken := []call{
		{"history, handler panics", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=2", nil, "", 500},
		{"history, HEAD, handler panics", "HEAD", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=2", nil, "", 500},
	}
	const listed, foreign = "https://app.example", "https://evil.example"
	cors := []call{
		{"preflight from a listed origin", "OPTIONS", "/api/v1/rooms", map[string]string{"Origin": listed, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}, "", 204},
		{"preflight from another origin", "OPTIONS", "/api/v1/rooms/r1", map[string]string{"Origin": foreign, "Access-Control-Request-Method": "DELETE"}, "", 404},
		{"create from a listed origin", "POST", "/api/v1/rooms", map[string]string{"Content-Type": jsonCT, "Origin": listed, "Sec-Fetch-Site": "cross-site"}, createOne, 201},
		{"cross-site form POST", "POST", "/api/v1/rooms", map[string]string{"Content-Type": "application/x-www-form-urlencoded", "Origin": foreign, "Sec-Fetch-Site": "cross-site"}, "roomId=r3&creatorUsername=bob", 403},
		{"cross-site close", "DELETE", "/api/v1/rooms/r1", map[string]string{"Origin": foreign, "Sec-Fetch-Site": "cross-site"}, "", 403},
		{"history from a listed origin", "GET", "/api/v1/rooms/r1/messages?fromIndex=1&toIndex=10", map[string]string{"Origin": listed}, "", 200},
	}
	servers := []struct {
		name  string
		start func(t *testing.T) *httptest.Server
		calls []call
	}{
		{"defaults", func(t *testing.T) *httptest.Server {
			srv, _ := newTestServer(t, httpapi.WithMaxFieldBytes(1024))
			return srv
		}, open},
		{"REST_CORS_ORIGINS", func(t *testing.T) *httptest.Server {
			srv, _ := newTestServer(t, httpapi.WithCORSOrigins([]string{listed}))
			return srv
		}, cors},
		{"ADMIN_TOKEN and a spent write budget", func(t *testing.T) *httptest.Server {
			// Two writes go through (to the token check), then none.
			q := &quota{retry: 3 * time.Second}
			q.left.Store(2)
			srv, _ := newTestServer(t, httpapi.WithAdminToken("s3cret"), httpapi.WithWriteLimiter(q))
			return srv
		}, guarded},
		{"store unavailable", func(t *testing.T) *httptest.Server {
			svc := rooms.NewService(erroringStore{Store: memstore.New(), err: rooms.ErrUnavailable})
			srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler)))
			t.Cleanup(srv.Close)
			return srv
		}, down},
		{"store panics", func(t *testing.T) *httptest.Server {
			store := memstore.New()
			if err := store.CreateRoom(context.Background(), rooms.Room{ID: "r1", Creator: "bob", CreatedAt: time.Now()}); err != nil {
				t.Fatal(err)
			}
			svc := rooms.NewService(panickingStore{store})
			srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler)))
			t.Cleanup(srv.Close)
			return srv
		}, broken},
	}
	for _, s := range servers {
		t.Run(s.name, func(t *testing.T) {
			srv := s.start(t)
			o := loadOpenAPI(t, srv)
			for _, c := range s.calls {
				var body io.Reader
				if c.body != "" {
					body = strings.NewReader(c.body)
				}
				res := do(t, srv, c.method, c.target, c.headers, body)
				if res.status != c.status {
					t.Fatalf("%s: %s %s answered %d %s, want %d", c.name, c.method, c.target, res.status, res.body, c.status)
				}
				reqHeader := http.Header{}
				for k, v := range c.headers {
					reqHeader.Set(k, v)
				}
				o.check(t, exchange{name: c.name, method: c.method, target: c.target, requestHeader: reqHeader,
					status: res.status, header: res.header, body: []byte(res.body)})
			}
		})
	}
}

// A change that breaks the document's promises is caught: a status,
// a body shape or a header the document does not allow.
func TestOpenAPICheckRejectsWhatItDoesNotDescribe(t *testing.T) {
	srv, _ := newTestServer(t)
	o := loadOpenAPI(t, srv)
	jsonHeader := http.Header{"Content-Type": {"application/json; charset=utf-8"}}
	for _, x := range []exchange{
		{name: "undocumented status", method: "POST", target: "/api/v1/rooms", status: http.StatusTeapot, header: http.Header{}},
		{name: "wrong error code", method: "DELETE", target: "/api/v1/rooms/x", status: 404, header: jsonHeader,
			body: []byte(`{"code":"room.not-found","message":"Room with 'x' not found"}`)},
		{name: "extra message field", method: "GET", target: "/api/v1/rooms/x/messages?fromIndex=1&toIndex=2", status: 200, header: jsonHeader,
			body: []byte(`[{"order":1,"username":"a","content":"b","createdAt":"c","extra":1}]`)},
		{name: "429 without Retry-After", method: "POST", target: "/api/v1/rooms", status: 429, header: jsonHeader,
			body: []byte(`{"statusCode":429,"message":"slow down","error":"Too Many Requests"}`)},
		{name: "no route, not Nest's 404", method: "GET", target: "/elsewhere", status: 404, header: jsonHeader,
			body: []byte(`{"message":"not here"}`)},
	} {
		if err := o.validate(x); err == nil {
			t.Errorf("%s: accepted", x.name)
		} else {
			t.Logf("%s: rejected: %.200v", x.name, err)
		}
	}
}
