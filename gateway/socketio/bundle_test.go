package socketio

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestClientBundleIsNotServed: the paths where Node socket.io serves its
// client bundle get a 404 that says why, not an Engine.IO error; Engine.IO
// requests on the same prefix are served as ever.
func TestClientBundleIsNotServed(t *testing.T) {
	srv := NewServer(Config{Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(func() { srv.Shutdown(context.Background()) })
	tests := []struct {
		url    string
		status int
		body   string
	}{
		{"/socket.io/socket.io.js", 404, clientBundleMissing},
		{"/socket.io/socket.io.js.map", 404, clientBundleMissing},
		{"/socket.io/socket.io.slim.js", 404, clientBundleMissing},
		{"/socket.io/socket.io.min.js", 404, clientBundleMissing},
		{"/socket.io/socket.io.msgpack.min.js", 404, clientBundleMissing},
		{"/socket.io/socket.io.esm.min.js.map", 404, clientBundleMissing},
		{"/socket.io/?EIO=4&transport=polling", 200, `0{"sid":"`},
		{"/socket.io/other.js", 400, `{"code":5,"message":"Unsupported protocol version"}`},
	}
	for _, tc := range tests {
		t.Run(tc.url, func(t *testing.T) {
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, tc.url, nil))
			if rec.Code != tc.status || !strings.HasPrefix(rec.Body.String(), tc.body) {
				t.Fatalf("got %d %q, want %d %q", rec.Code, rec.Body.String(), tc.status, tc.body)
			}
		})
	}
}
