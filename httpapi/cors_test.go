package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

func corsServer(t *testing.T, origins []string, onRefusal func(string)) *httptest.Server {
	t.Helper()
	svc := rooms.NewService(memstore.New())
	opts := []httpapi.Option{httpapi.WithCORSOrigins(origins)}
	if onRefusal != nil {
		opts = append(opts, httpapi.WithRefusalHook(onRefusal))
	}
	srv := httptest.NewServer(httpapi.New(svc, nil, opts...))
	t.Cleanup(srv.Close)
	return srv
}

const (
	appOrigin  = "https://app.example"
	evilOrigin = "https://evil.example"
	form       = "application/x-www-form-urlencoded"
)

// TestRESTWithoutCORSOrigins keeps the original's behaviour: preflights
// get 404 and no answer carries CORS headers.
func TestRESTWithoutCORSOrigins(t *testing.T) {
	srv := corsServer(t, nil, nil)
	pre := do(t, srv, http.MethodOptions, "/api/v1/rooms", map[string]string{"Origin": appOrigin, "Access-Control-Request-Method": "POST"}, nil)
	pre.expect(t, "preflight", http.StatusNotFound, `{"statusCode":404,"message":"Cannot OPTIONS /api/v1/rooms","error":"Not Found"}`)
	get := do(t, srv, http.MethodGet, "/api/v1/rooms/x/messages?fromIndex=1&toIndex=1", map[string]string{"Origin": appOrigin}, nil)
	for _, r := range []result{pre, get} {
		if v := r.header.Get("Access-Control-Allow-Origin"); v != "" {
			t.Errorf("Access-Control-Allow-Origin %q without REST_CORS_ORIGINS", v)
		}
	}
}

func TestRESTCORSOrigins(t *testing.T) {
	srv := corsServer(t, []string{appOrigin, "http://localhost:4200"}, nil)
	pre := do(t, srv, http.MethodOptions, "/api/v1/rooms", map[string]string{
		"Origin": appOrigin, "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type, authorization"}, nil)
	if pre.status != http.StatusNoContent || pre.header.Get("Access-Control-Allow-Origin") != appOrigin ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") ||
		pre.header.Get("Access-Control-Allow-Headers") != "content-type, authorization" || pre.header.Get("Access-Control-Max-Age") == "" {
		t.Errorf("preflight from an allowed origin: %d %v", pre.status, pre.header)
	}
	do(t, srv, http.MethodOptions, "/api/v1/rooms", map[string]string{"Origin": evilOrigin, "Access-Control-Request-Method": "POST"}, nil).
		expect(t, "preflight from another origin", http.StatusNotFound, `{"statusCode":404,"message":"Cannot OPTIONS /api/v1/rooms","error":"Not Found"}`)

	created := do(t, srv, http.MethodPost, "/api/v1/rooms", map[string]string{"Origin": appOrigin, "Sec-Fetch-Site": "cross-site", "Content-Type": "application/json"},
		strings.NewReader(`{"roomId":"r","creatorUsername":"bob"}`))
	if created.status != http.StatusCreated || created.header.Get("Access-Control-Allow-Origin") != appOrigin || !strings.Contains(created.header.Get("Vary"), "Origin") {
		t.Errorf("cross-site create from an allowed origin: %d %v", created.status, created.header)
	}
	read := do(t, srv, http.MethodGet, "/api/v1/rooms/r/messages?fromIndex=1&toIndex=1", map[string]string{"Origin": appOrigin}, nil)
	if read.status != http.StatusOK || read.header.Get("Access-Control-Allow-Origin") != appOrigin || !strings.Contains(read.header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Errorf("read from an allowed origin: %d %v", read.status, read.header)
	}
	other := do(t, srv, http.MethodGet, "/api/v1/rooms/r/messages?fromIndex=1&toIndex=1", map[string]string{"Origin": evilOrigin}, nil)
	if other.status != http.StatusOK || other.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("read from another origin: %d %v (served, but not readable by its page)", other.status, other.header)
	}
}

// TestCrossSiteWritesAreRefused: a browser's cross-site form POST (or a
// write from an origin that is not the server's, by an older browser that
// sends no Sec-Fetch-Site) creates nothing; same-origin pages, listed
// origins and clients that are not browsers are unaffected.
func TestCrossSiteWritesAreRefused(t *testing.T) {
	var refusals []string
	srv := corsServer(t, []string{appOrigin}, func(reason string) { refusals = append(refusals, reason) })
	const refused = `{"statusCode":403,"message":"Cross-origin request refused: this origin may not create or close rooms","error":"Forbidden"}`
	host := strings.TrimPrefix(srv.URL, "http://")
	tests := []struct {
		name    string
		headers map[string]string
		status  int
	}{
		{"form POST from another site", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": evilOrigin}, http.StatusForbidden},
		{"older browser, foreign Origin", map[string]string{"Origin": evilOrigin}, http.StatusForbidden},
		{"same-site but another origin", map[string]string{"Sec-Fetch-Site": "same-site", "Origin": "https://other.app.example"}, http.StatusForbidden},
		{"same-origin page", map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + host}, http.StatusCreated},
		{"older browser, own Origin", map[string]string{"Origin": "http://" + host}, http.StatusCreated},
		{"listed origin", map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": appOrigin}, http.StatusCreated},
		{"curl", nil, http.StatusCreated},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			roomID := "room" + string(rune('a'+i))
			headers := map[string]string{"Content-Type": form}
			for k, v := range tc.headers {
				headers[k] = v
			}
			r := do(t, srv, http.MethodPost, "/api/v1/rooms", headers, strings.NewReader("roomId="+roomID+"&creatorUsername=bob"))
			if tc.status == http.StatusForbidden {
				r.expect(t, "create", http.StatusForbidden, refused)
			} else if r.status != tc.status {
				t.Fatalf("create: %d %s, want %d", r.status, r.body, tc.status)
			}
			exists := do(t, srv, http.MethodGet, "/api/v1/rooms/"+roomID+"/messages?fromIndex=1&toIndex=1", nil, nil).status == http.StatusOK
			if exists != (tc.status == http.StatusCreated) {
				t.Fatalf("room exists = %v after a %d", exists, r.status)
			}
			del := do(t, srv, http.MethodDelete, "/api/v1/rooms/"+roomID, tc.headers, nil)
			if want := map[bool]int{true: http.StatusNoContent, false: http.StatusForbidden}[exists]; del.status != want {
				t.Fatalf("close: %d %s, want %d", del.status, del.body, want)
			}
		})
	}
	if len(refusals) != 6 || refusals[0] != httpapi.RefusalCrossOrigin {
		t.Errorf("refusal hook calls %v, want 6 of %s (3 creations, 3 closings)", refusals, httpapi.RefusalCrossOrigin)
	}
}
