package edge

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"
)

// recorder is a handler that records the requests it ran.
type recorder struct {
	mu   sync.Mutex
	seen []string
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	_, _ = io.Copy(io.Discard, r.Body)
	rec.mu.Lock()
	rec.seen = append(rec.seen, r.Method+" "+r.URL.Path)
	rec.mu.Unlock()
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, "ok")
}

func (rec *recorder) requests() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]string(nil), rec.seen...)
}

// serve runs srv on a loopback listener until the test ends.
func serve(t *testing.T, srv *http.Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String()
}

// exchange writes raw on a new connection and reads want responses; then
// it probes whether the server kept the connection open by sending one more
// request: an answer means open, EOF or a reset means closed.
func exchange(t *testing.T, addr, raw string, want int) (statuses []int, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	// Only a guard against a hung test: every answer here is immediate.
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	for range want {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			return statuses, true
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if _, err := io.WriteString(c, probe); err != nil {
		return statuses, true
	}
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return statuses, true
	}
	resp.Body.Close()
	return statuses, false
}

const probe = "GET /probe HTTP/1.1\r\nHost: x\r\n\r\n"

const smuggled = "DELETE /api/v1/rooms/victim HTTP/1.1\r\nHost: x\r\n\r\n"

func TestUnsafeFramingClosesTheConnection(t *testing.T) {
	tests := []struct {
		name       string
		raw        string
		guarded    bool
		wantStatus []int
		wantRan    []string
	}{
		{"control: keep-alive runs a pipelined request", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}" + smuggled,
			true, []int{200, 200}, []string{"POST /a", "DELETE /api/v1/rooms/victim"}},
		{"control: unguarded net/http runs the request smuggled after a chunked body",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			false, []int{200, 200}, []string{"POST /a", "DELETE /api/v1/rooms/victim"}},
		{"Content-Length and Transfer-Encoding",
			"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + smuggled,
			true, []int{200}, []string{"POST /a"}},
		{"chunked alone", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n" + smuggled,
			true, []int{200}, []string{"POST /a"}},
		{"HTTP/1.0 keep-alive with a Transfer-Encoding net/http ignores",
			"POST /a HTTP/1.0\r\nHost: x\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\nContent-Length: 0\r\n\r\n" + smuggled,
			true, []int{200}, []string{"POST /a"}},
		{"two different Content-Lengths", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}" + smuggled,
			true, []int{400}, nil},
		{"invalid Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 2x\r\n\r\n{}" + smuggled,
			true, []int{400}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := &recorder{}
			srv := NewServer(rec, Timeouts{}, slog.New(slog.DiscardHandler))
			if !tc.guarded {
				srv.Handler = rec
			}
			statuses, closed := exchange(t, serve(t, srv), tc.raw, len(tc.wantStatus))
			if !slices.Equal(statuses, tc.wantStatus) {
				t.Errorf("statuses %v, want %v", statuses, tc.wantStatus)
			}
			wantClosed := len(tc.wantRan) < 2
			if closed != wantClosed {
				t.Errorf("connection closed: %v, want %v", closed, wantClosed)
			}
			ran := rec.requests()
			if !closed {
				ran = slices.DeleteFunc(ran, func(r string) bool { return r == "GET /probe" })
			}
			if !slices.Equal(ran, tc.wantRan) {
				t.Errorf("ran %q, want %q", ran, tc.wantRan)
			}
		})
	}
}
