package httpapi_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// quota allows n writes, then refuses with a retry delay.
type quota struct {
	left  atomic.Int64
	asked atomic.Int64
	retry time.Duration
}

func (q *quota) Allow(*http.Request) (bool, time.Duration) {
	q.asked.Add(1)
	if q.left.Add(-1) < 0 {
		return false, q.retry
	}
	return true, 0
}

func TestWriteLimiter(t *testing.T) {
	q := &quota{retry: 1500 * time.Millisecond}
	q.left.Store(2)
	svc := rooms.NewService(memstore.New())
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler), httpapi.WithWriteLimiter(q)))
	defer srv.Close()

	do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(`{"roomId":"a","creatorUsername":"bob"}`)).expect(t, "first write", 201, "")
	do(t, srv, "DELETE", "/api/v1/rooms/a", nil, nil).expect(t, "second write", 204, "")
	r := do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(`{"roomId":"b","creatorUsername":"bob"}`))
	r.expect(t, "over the limit", 429, `{"statusCode":429,"message":"Too many room creations and closings from this address, retry in 2 s","error":"Too Many Requests"}`)
	if got := r.header.Get("Retry-After"); got != "2" {
		t.Errorf("Retry-After %q, want 2 (seconds, rounded up)", got)
	}
	if err := svc.ReadMessages(context.Background(), "b", 1, 1, func(rooms.MessageRange) error { return nil }); err == nil {
		t.Error("the refused creation happened")
	}
	// Reads are not writes.
	asked := q.asked.Load()
	do(t, srv, "GET", "/api/v1/rooms/x/messages?fromIndex=1&toIndex=2", nil, nil).expect(t, "read", 403, `{"code":"access-forbidden","message":"The access is forbidden"}`)
	if q.asked.Load() != asked {
		t.Error("a read was counted as a write")
	}
}

func TestAdminToken(t *testing.T) {
	svc := rooms.NewService(memstore.New())
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler), httpapi.WithAdminToken("s3cret-token")))
	defer srv.Close()
	const unauthorized = `{"statusCode":401,"message":"Unauthorized","error":"Unauthorized"}`
	body := func() *strings.Reader { return strings.NewReader(`{"roomId":"a","creatorUsername":"bob"}`) }
	for name, auth := range map[string]string{
		"no header":     "",
		"wrong token":   "Bearer s3cret-tokem",
		"prefix only":   "Bearer s3cret",
		"other scheme":  "Basic czNjcmV0LXRva2Vu",
		"token no type": "s3cret-token",
	} {
		h := map[string]string{"Content-Type": "application/json"}
		if auth != "" {
			h["Authorization"] = auth
		}
		r := do(t, srv, "POST", "/api/v1/rooms", h, body())
		r.expect(t, name, 401, unauthorized)
		if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate %q", name, r.header.Get("WWW-Authenticate"))
		}
		do(t, srv, "DELETE", "/api/v1/rooms/a", h, nil).expect(t, name+" (close)", 401, unauthorized)
	}
	ok := map[string]string{"Content-Type": "application/json", "Authorization": "bearer s3cret-token"}
	do(t, srv, "POST", "/api/v1/rooms", ok, body()).expect(t, "with the token", 201, "")
	do(t, srv, "GET", "/api/v1/rooms/a/messages?fromIndex=1&toIndex=2", nil, nil).expect(t, "reads need no token", 200, "[]")
	do(t, srv, "DELETE", "/api/v1/rooms/a", ok, nil).expect(t, "close with the token", 204, "")
}

func TestRESTFieldsObeyMaxField(t *testing.T) {
	svc := rooms.NewService(memstore.New())
	srv := httptest.NewServer(httpapi.New(svc, slog.New(slog.DiscardHandler), httpapi.WithMaxFieldBytes(8)))
	defer srv.Close()
	tests := []struct {
		body   string
		status int
		want   string
	}{
		{`{"roomId":"12345678","creatorUsername":"bob"}`, 201, ""},
		{`{"roomId":"123456789","creatorUsername":"bob"}`, 400, `{"statusCode":400,"message":["roomId must be shorter than or equal to 8 bytes"],"error":"Bad Request"}`},
		{`{"roomId":"ok","creatorUsername":"ééééé"}`, 400, `{"statusCode":400,"message":["creatorUsername must be shorter than or equal to 8 bytes"],"error":"Bad Request"}`},
		{`{"roomId":"123456789"}`, 400, `{"statusCode":400,"message":["roomId must be shorter than or equal to 8 bytes","creatorUsername should not be empty"],"error":"Bad Request"}`},
		{`{"roomId":{},"creatorUsername":"123456789"}`, 400, `{"statusCode":400,"message":["roomId must be a string","creatorUsername must be shorter than or equal to 8 bytes"],"error":"Bad Request"}`},
	}
	for _, tc := range tests {
		do(t, srv, "POST", "/api/v1/rooms", jsonCT, strings.NewReader(tc.body)).expect(t, tc.body, tc.status, tc.want)
	}
}
