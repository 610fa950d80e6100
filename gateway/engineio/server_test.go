package engineio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"chatgateway/gateway/internal/warmgo"
)

// echoHandler sends every message back; it records closes for the tests.
type echoHandler struct {
	mu     sync.Mutex
	closed map[string]string
}

func (h *echoHandler) OnOpen(*Session) {}
func (h *echoHandler) OnMessage(s *Session, data []byte, binary bool) {
	data = append([]byte(nil), data...)
	if binary {
		s.Send(NewBinaryMessage(data))
		return
	}
	s.Send(&Message{Type: PacketMessage, Text: data})
}
func (h *echoHandler) OnClose(s *Session, reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed == nil {
		h.closed = map[string]string{}
	}
	h.closed[s.ID()] = reason
}

func newTestServer(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	srv, url, stop := startTestServer(t, cfg)
	t.Cleanup(stop)
	return srv, url
}

func startTestServer(t *testing.T, cfg Config) (*Server, string, func()) {
	t.Helper()
	srv := NewServer(cfg, &echoHandler{})
	base, stop := serveEngine(t, srv)
	return srv, base, stop
}

// serveEngine serves srv on a loopback port and returns its engine URL.
func serveEngine(t *testing.T, srv *Server) (string, func()) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &httptest.Server{Listener: ln, Config: &http.Server{Handler: srv}}
	hs.Start()
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		hs.Close()
	}
	return hs.URL + "/engine.io/", stop
}

func get(t *testing.T, url string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func post(t *testing.T, url, contentType, body string) (int, string) {
	t.Helper()
	resp, err := http.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func handshakeSID(t *testing.T, base string, eio int, extraQuery ...string) string {
	t.Helper()
	status, body, _ := get(t, fmt.Sprintf("%s?EIO=%d&transport=polling%s", base, eio, strings.Join(extraQuery, "")))
	if status != 200 {
		t.Fatalf("handshake status %d body %q", status, body)
	}
	i := strings.Index(body, `"sid":"`)
	if i < 0 {
		t.Fatalf("no sid in %q", body)
	}
	rest := body[i+7:]
	return rest[:strings.IndexByte(rest, '"')]
}

func TestHandshakeErrors(t *testing.T) {
	_, base := newTestServer(t, Config{})
	tests := []struct {
		name, method, query string
		status              int
		body                string
	}{
		{"missing EIO", "GET", "transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"bad EIO", "GET", "EIO=abc&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"EIO 5", "GET", "EIO=5&transport=polling", 400, `{"code":5,"message":"Unsupported protocol version"}`},
		{"missing transport", "GET", "EIO=4", 400, `{"code":0,"message":"Transport unknown"}`},
		{"bad transport", "GET", "EIO=4&transport=abc", 400, `{"code":0,"message":"Transport unknown"}`},
		{"unknown sid", "GET", "EIO=4&transport=polling&sid=nope", 400, `{"code":1,"message":"Session ID unknown"}`},
		{"POST handshake", "POST", "EIO=4&transport=polling", 400, `{"code":2,"message":"Bad handshake method"}`},
		{"websocket without upgrade", "GET", "EIO=4&transport=websocket", 400, `{"code":3,"message":"Bad request"}`},
		{"jsonp", "GET", "EIO=3&transport=polling&j=0", 400, `{"code":3,"message":"Bad request: JSONP polling is not supported"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, base+"?"+tc.query, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status || string(b) != tc.body {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, b, tc.status, tc.body)
			}
		})
	}
}

func TestHandshakeBodies(t *testing.T) {
	_, base := newTestServer(t, Config{Cookie: "io"})
	tests := []struct {
		eio        int
		wantPrefix string
		wantSuffix string
	}{
		{3, `:0{"sid":"`, `","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}`},
		{4, `0{"sid":"`, `","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint("EIO", tc.eio), func(t *testing.T) {
			status, body, h := get(t, fmt.Sprintf("%s?EIO=%d&transport=polling", base, tc.eio))
			if status != 200 || !strings.Contains(body, tc.wantPrefix) || !strings.HasSuffix(body, tc.wantSuffix) {
				t.Fatalf("got %d %q", status, body)
			}
			if c := h.Get("Set-Cookie"); !strings.HasPrefix(c, "io=") || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Strict") {
				t.Fatalf("cookie %q", c)
			}
			if h.Get("Access-Control-Allow-Origin") != "*" {
				t.Fatalf("CORS header %q", h.Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

func TestPollingEchoV3AndV4(t *testing.T) {
	_, base := newTestServer(t, Config{})
	tests := []struct {
		name        string
		eio         int
		contentType string
		body        string
		want        string
	}{
		{"v4 text and binary", 4, "text/plain;charset=UTF-8", "4hello\x1ebAQIDBA==", "4hello\x1ebAQIDBA=="},
		{"v4 non-ASCII", 4, "text/plain;charset=UTF-8", "4héllo 🎉 中文", "4héllo 🎉 中文"},
		{"v3 string form with UTF-16 lengths", 3, "text/plain;charset=UTF-8", "12:4héllo 😀 世界", "12:4héllo 😀 世界"},
		{"v3 base64 binary (b64 client)", 3, "text/plain;charset=UTF-8", "6:4hello10:b4AQIDBA==", "6:4hello10:b4AQIDBA=="},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := handshakeSID(t, base, tc.eio, "&b64=1")
			url := fmt.Sprintf("%s?EIO=%d&transport=polling&sid=%s&b64=1", base, tc.eio, sid)
			if status, body := post(t, url, tc.contentType, tc.body); status != 200 || body != "ok" {
				t.Fatalf("POST %d %q", status, body)
			}
			if status, body, _ := get(t, url); status != 200 || body != tc.want {
				t.Fatalf("GET %d %q, want %q", status, body, tc.want)
			}
		})
	}
}

func TestV3BinaryPayloadForXHR2Clients(t *testing.T) {
	_, base := newTestServer(t, Config{})
	sid := handshakeSID(t, base, 3)
	url := fmt.Sprintf("%s?EIO=3&transport=polling&sid=%s", base, sid)
	// One binary message 01 02 03 in the XHR2 form: 0x01, length digits "4", 0xFF, type 4, data.
	body := string([]byte{1, 4, 0xFF, 4, 1, 2, 3})
	if status, resp := post(t, url, "application/octet-stream", body); status != 200 || resp != "ok" {
		t.Fatalf("POST %d %q", status, resp)
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "application/octet-stream" || !bytes.Equal(got, []byte(body)) {
		t.Fatalf("GET %q %v, want %v", ct, got, []byte(body))
	}
}

func TestMalformedInputClosesOnlyThatSession(t *testing.T) {
	srv, base := newTestServer(t, Config{})
	tests := []struct{ name, body string }{
		{"not a packet", "abc"},
		{"empty", ""},
		{"client ping in v4", "2"},
		{"unknown type", "9x"},
		{"bad base64", "b!!!"},
	}
	keep := handshakeSID(t, base, 4)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			sid := handshakeSID(t, base, 4)
			url := fmt.Sprintf("%s?EIO=4&transport=polling&sid=%s", base, sid)
			if status, _ := post(t, url, "text/plain", tc.body); status != 400 {
				t.Fatalf("POST status %d, want 400", status)
			}
			if status, _, _ := get(t, url); status != 400 {
				t.Fatalf("session still open after %q", tc.body)
			}
		})
	}
	if srv.lookup(keep) == nil {
		t.Fatal("an unrelated session was closed")
	}
}

func TestOversizeBodyIsRefusedAndSessionKept(t *testing.T) {
	srv, base := newTestServer(t, Config{MaxPayload: 100})
	sid := handshakeSID(t, base, 4)
	url := fmt.Sprintf("%s?EIO=4&transport=polling&sid=%s", base, sid)
	if status, _ := post(t, url, "text/plain", "4"+strings.Repeat("x", 200)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", status)
	}
	if srv.lookup(sid) == nil {
		t.Fatal("session closed by an oversize body")
	}
}

// TestAbandonedHandshakesAreReaped opens 5,000 polling sessions that never
// come back; the heartbeat must remove every one, leaving no goroutine.
func TestAbandonedHandshakesAreReaped(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent(), goleak.IgnoreAnyFunction(warmgo.IdleFunction))
	srv, base, stop := startTestServer(t, Config{PingInterval: 200 * time.Millisecond, PingTimeout: 200 * time.Millisecond})
	defer stop()
	const n = 5000
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	defer client.CloseIdleConnections()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, 64)
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			resp, err := client.Get(fmt.Sprintf("%s?EIO=%d&transport=polling", base, 3+i%2))
			if err != nil {
				errs <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- fmt.Errorf("status %d", resp.StatusCode)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for srv.SessionCount() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d abandoned sessions still open", srv.SessionCount(), n)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition with a deadline
	}
}

func TestAllowedOriginsGovernCORSAndWebSocket(t *testing.T) {
	tests := []struct {
		name       string
		allowed    []string
		origin     string
		wantStatus int
		wantACAO   string
		wantCreds  string
	}{
		{"default reflects any origin", nil, "http://app.example", 200, "http://app.example", "true"},
		{"default without origin", nil, "", 200, "*", ""},
		{"listed origin", []string{"http://app.example"}, "http://app.example", 200, "http://app.example", "true"},
		{"unlisted origin", []string{"http://app.example"}, "http://evil.example", 403, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, base := newTestServer(t, Config{AllowedOrigins: tc.allowed})
			req, _ := http.NewRequest("GET", base+"?EIO=4&transport=polling", nil)
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.wantStatus || resp.Header.Get("Access-Control-Allow-Origin") != tc.wantACAO ||
				resp.Header.Get("Access-Control-Allow-Credentials") != tc.wantCreds {
				t.Fatalf("got %d ACAO=%q creds=%q", resp.StatusCode, resp.Header.Get("Access-Control-Allow-Origin"), resp.Header.Get("Access-Control-Allow-Credentials"))
			}
			// The WebSocket Origin check follows the same list.
			h := http.Header{}
			if tc.origin != "" {
				h.Set("Origin", tc.origin)
			}
			ws, wsResp, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"?EIO=4&transport=websocket", h)
			if tc.wantStatus == 403 {
				if err == nil || wsResp == nil || wsResp.StatusCode != 403 {
					t.Fatalf("WebSocket from a refused origin: err=%v resp=%v", err, wsResp)
				}
				return
			}
			if err != nil {
				t.Fatalf("WebSocket refused: %v", err)
			}
			ws.Close()
		})
	}
}
