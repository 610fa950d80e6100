package engineio

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// corsEnv is what a case of TestErrorAnswersCarryCORS needs to reach its
// error path.
type corsEnv struct {
	srv   *Server
	base  string
	clock *fakeClock
}

// session opens a polling session of protocol eio and returns it with its URL.
func (e corsEnv) session(t *testing.T, eio int) (*Session, string) {
	t.Helper()
	sid := handshakeSID(t, e.base, eio)
	sess := e.srv.lookup(sid)
	if sess == nil {
		t.Fatalf("session %s not found", sid)
	}
	return sess, fmt.Sprintf("%s?EIO=%d&transport=polling&sid=%s", e.base, eio, sid)
}

// upgraded opens a session and upgrades it to WebSocket, returning the
// polling URL the session no longer accepts.
func (e corsEnv) upgraded(t *testing.T) string {
	t.Helper()
	sid := handshakeSID(t, e.base, 4)
	conn, _, err := websocket.DefaultDialer.Dial(fmt.Sprintf("ws%s?EIO=4&transport=websocket&sid=%s", strings.TrimPrefix(e.base, "http"), sid), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	exchange := func(send, want string) {
		t.Helper()
		if err := conn.WriteMessage(websocket.TextMessage, []byte(send)); err != nil {
			t.Fatal(err)
		}
		if want == "" {
			return
		}
		conn.SetReadDeadline(time.Now().Add(requestWait))
		if _, data, err := conn.ReadMessage(); err != nil || string(data) != want {
			t.Fatalf("sent %q, got %q %v, want %q", send, data, err, want)
		}
	}
	exchange("2probe", "3probe")
	exchange("5", "")
	// The echo comes back over the WebSocket only once the upgrade is done.
	exchange("4after", "4after")
	return fmt.Sprintf("%s?EIO=4&transport=polling&sid=%s", e.base, sid)
}

// TestErrorAnswersCarryCORS checks that every answer of the engine, errors
// included, carries the CORS headers of a successful poll: without them a
// browser reads no status at all, only "Failed to fetch" (the official
// suite's duplicate-poll test in chromium). Each error path is reached
// with an Origin, under both policies that allow it.
func TestErrorAnswersCarryCORS(t *testing.T) {
	const origin = "http://app.example"
	tests := []struct {
		name        string
		method      string
		contentType string
		body        string
		// url prepares the case and returns the request URL.
		url    func(t *testing.T, e corsEnv) string
		status int
	}{
		{"unsupported protocol", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?transport=polling" }, 400},
		{"unknown transport", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=abc" }, 400},
		{"JSONP", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=3&transport=polling&j=0" }, 400},
		{"websocket without upgrade", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=websocket" }, 400},
		{"POST handshake", "POST", "text/plain", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=polling" }, 400},
		{"unknown sid", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=polling&sid=nope" }, 400},
		{"protocol of another session", "GET", "", "", func(t *testing.T, e corsEnv) string {
			_, url := e.session(t, 4)
			return strings.Replace(url, "EIO=4", "EIO=3", 1)
		}, 400},
		{"unsupported method", "PUT", "text/plain", "4x", func(t *testing.T, e corsEnv) string { _, url := e.session(t, 4); return url }, 400},
		{"duplicate poll", "GET", "", "", func(t *testing.T, e corsEnv) string {
			sess, url := e.session(t, 4)
			sess.mu.Lock()
			sess.pollActive = true // a GET is already waiting
			sess.mu.Unlock()
			return url
		}, 400},
		{"overlapping POST", "POST", "text/plain", "4x", func(t *testing.T, e corsEnv) string {
			sess, url := e.session(t, 4)
			sess.mu.Lock()
			sess.postActive = true // a POST is still being read
			sess.mu.Unlock()
			return url
		}, 400},
		{"malformed POST", "POST", "text/plain", "abc", func(t *testing.T, e corsEnv) string { _, url := e.session(t, 4); return url }, 400},
		{"binary POST to v4", "POST", "application/octet-stream", "\x01\x04\xff\x04x", func(t *testing.T, e corsEnv) string { _, url := e.session(t, 4); return url }, 400},
		{"POST over MaxPayload", "POST", "text/plain", "4" + strings.Repeat("x", 200), func(t *testing.T, e corsEnv) string { _, url := e.session(t, 4); return url }, 413},
		{"poll after the upgrade", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.upgraded(t) }, 400},
		{"poll after the ping deadline", "GET", "", "", func(t *testing.T, e corsEnv) string {
			_, url := e.session(t, 4)
			e.clock.advance(testPingInterval + testPingTimeout)
			return url
		}, 400},
		{"session refused by AdmitSession", "GET", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=polling&refuse=1" }, 403},
		{"preflight", "OPTIONS", "", "", func(t *testing.T, e corsEnv) string { return e.base + "?EIO=4&transport=polling" }, 204},
	}
	for _, policy := range []struct {
		name    string
		allowed []string
	}{{"every origin", nil}, {"listed origin", []string{origin}}} {
		t.Run(policy.name, func(t *testing.T) {
			clock := newFakeClock()
			admit := func(r *http.Request) (func(), error) {
				if r.URL.Query().Has("refuse") {
					return nil, errors.New("too many sessions")
				}
				return func() {}, nil
			}
			srv := NewServer(Config{AllowedOrigins: policy.allowed, MaxPayload: 100, PingInterval: testPingInterval, PingTimeout: testPingTimeout, AdmitSession: admit}, &echoHandler{})
			srv.clock = clock
			base, stop := serveEngine(t, srv)
			t.Cleanup(stop)
			env := corsEnv{srv: srv, base: base, clock: clock}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					req, err := http.NewRequest(tc.method, tc.url(t, env), strings.NewReader(tc.body))
					if err != nil {
						t.Fatal(err)
					}
					req.Header.Set("Origin", origin)
					if tc.contentType != "" {
						req.Header.Set("Content-Type", tc.contentType)
					}
					resp, err := (&http.Client{Timeout: requestWait}).Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.status {
						t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
					}
					if got := resp.Header.Get("Access-Control-Allow-Origin"); got != origin {
						t.Errorf("Access-Control-Allow-Origin %q, want %q", got, origin)
					}
					if got := resp.Header.Get("Access-Control-Allow-Credentials"); got != "true" {
						t.Errorf("Access-Control-Allow-Credentials %q, want true", got)
					}
				})
			}
		})
	}
}
