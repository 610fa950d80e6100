package edge

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// holdingHandler holds every request for hold, as an Engine.IO long-poll
// holds a GET until there is something to send, then answers; it reports
// whether the request's context was cancelled meanwhile.
func holdingHandler(hold time.Duration, cancelled chan<- bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- true
			return
		case <-time.After(hold): // the behaviour under test: a held request
		}
		cancelled <- false
		_, _ = io.WriteString(w, "late answer")
	})
}

// TestHeldRequestOutlivesReadAndWriteTimeouts: a request held longer than
// ReadTimeout and WriteTimeout is answered in full through the guard, and
// (the control) cut by plain net/http with the same timeouts.
func TestHeldRequestOutlivesReadAndWriteTimeouts(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, guarded := range []bool{true, false} {
		cancelled := make(chan bool, 1)
		h := holdingHandler(4*timeout, cancelled)
		srv := NewServer(h, Timeouts{Read: timeout, Write: timeout}, slog.New(slog.DiscardHandler))
		if !guarded {
			srv.Handler = h
		}
		addr := serve(t, srv)
		resp, err := http.Get("http://" + addr + "/poll")
		var body []byte
		if err == nil {
			body, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		wasCancelled := <-cancelled
		switch {
		case guarded && (err != nil || string(body) != "late answer" || wasCancelled):
			t.Errorf("guarded: body %q, err %v, context cancelled %v; want the late answer", body, err, wasCancelled)
		case !guarded && err == nil && string(body) == "late answer" && !wasCancelled:
			t.Errorf("control: plain net/http delivered the held answer; the test proves nothing")
		}
	}
}

// TestSlowHeaderIsClosed: a head sent a byte at a time is cut after
// HeaderTimeout, without an answer to a handler.
func TestSlowHeaderIsClosed(t *testing.T) {
	const timeout = 200 * time.Millisecond
	rec := &recorder{}
	addr := serve(t, NewServer(rec, Timeouts{Header: timeout}, slog.New(slog.DiscardHandler)))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	_ = c.SetDeadline(start.Add(20 * timeout)) // a hung test guard only
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: "
	closed := make(chan error, 1)
	go func() {
		_, err := io.Copy(io.Discard, c) // returns when the server closes
		closed <- err
	}()
	ticker := time.NewTicker(timeout / 8)
	defer ticker.Stop()
	for i := 0; ; i++ {
		select {
		case err := <-closed:
			var ne net.Error
			if ok := asNetError(err, &ne); ok && ne.Timeout() {
				t.Fatalf("server never closed the slow connection")
			}
			if len(rec.requests()) != 0 {
				t.Error("the handler ran for an incomplete head")
			}
			return
		case <-ticker.C:
			_, _ = c.Write([]byte{head[i%len(head)]})
		}
	}
}

func asNetError(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}

// TestStalledReaderIsCut: an answer the client never reads fails after
// WriteTimeout instead of holding the handler forever.
func TestStalledReaderIsCut(t *testing.T) {
	const timeout = 200 * time.Millisecond
	done := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		chunk := []byte(strings.Repeat("x", 64<<10))
		for {
			if _, err := w.Write(chunk); err != nil {
				done <- err
				return
			}
		}
	})
	addr := serve(t, NewServer(h, Timeouts{Write: timeout}, slog.New(slog.DiscardHandler)))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if _, err := http.ReadResponse(bufio.NewReader(c), nil); err != nil {
		t.Fatal(err)
	}
	// The client reads nothing more.
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("write succeeded")
		}
	case <-time.After(50 * timeout):
		t.Fatal("the handler still writes to a client that stopped reading")
	}
}
