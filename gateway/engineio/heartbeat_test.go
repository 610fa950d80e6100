package engineio

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeClock is a heartbeat clock whose timers run only when the test says
// so: advance moves time and leaves due timers waiting, exactly like timers
// that run late on a loaded machine; runDue finally runs them.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clock *fakeClock
	when  time.Time
	armed bool
	f     func()
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{clock: c, when: c.now.Add(d), armed: true, f: f}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.armed
	t.when, t.armed = t.clock.now.Add(d), true
	return was
}

func (t *fakeTimer) Stop() bool {
	t.clock.mu.Lock()
	defer t.clock.mu.Unlock()
	was := t.armed
	t.armed = false
	return was
}

// advance moves the clock on without running any timer.
func (c *fakeClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// runDue runs, in the caller's goroutine, every armed timer whose time has
// come, until none is due.
func (c *fakeClock) runDue(t *testing.T) {
	t.Helper()
	for range 10 {
		c.mu.Lock()
		var due []*fakeTimer
		for _, tm := range c.timers {
			if tm.armed && !tm.when.After(c.now) {
				tm.armed = false
				due = append(due, tm)
			}
		}
		c.mu.Unlock()
		if len(due) == 0 {
			return
		}
		for _, tm := range due {
			tm.f()
		}
	}
	t.Fatal("timers keep re-arming at the current time")
}

// closeRecorder echoes nothing and reports every close reason.
type closeRecorder struct{ reasons chan string }

func (closeRecorder) OnOpen(*Session)                     {}
func (closeRecorder) OnMessage(*Session, []byte, bool)    {}
func (h closeRecorder) OnClose(_ *Session, reason string) { h.reasons <- reason }

// heartbeatFixture is an engine on loopback whose heartbeat runs on a fake
// clock: pingInterval 25 s, pingTimeout 20 s of fake time.
type heartbeatFixture struct {
	clock   *fakeClock
	base    string
	reasons chan string
	client  *http.Client
}

const (
	testPingInterval = 25 * time.Second
	testPingTimeout  = 20 * time.Second
	// requestWait bounds every request and wait of these tests; a refused
	// request is answered at once, a wrongly accepted poll would hang.
	requestWait = 10 * time.Second
)

func newHeartbeatFixture(t *testing.T) *heartbeatFixture {
	t.Helper()
	f := &heartbeatFixture{clock: newFakeClock(), reasons: make(chan string, 4), client: &http.Client{Timeout: requestWait}}
	srv := NewServer(Config{PingInterval: testPingInterval, PingTimeout: testPingTimeout}, closeRecorder{f.reasons})
	srv.clock = f.clock
	base, stop := serveEngine(t, srv)
	t.Cleanup(stop)
	t.Cleanup(f.client.CloseIdleConnections)
	f.base = base
	return f
}

func (f *heartbeatFixture) do(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := f.client.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expectClosed waits for the session's close and checks its reason.
func (f *heartbeatFixture) expectClosed(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-f.reasons:
		if got != want {
			t.Fatalf("closed with %q, want %q", got, want)
		}
	case <-time.After(requestWait):
		t.Fatalf("session not closed, want %q", want)
	}
}

func (f *heartbeatFixture) expectOpen(t *testing.T) {
	t.Helper()
	select {
	case got := <-f.reasons:
		t.Fatalf("session closed (%q), want it open", got)
	default:
	}
}

// TestDelayedPingTimerCannotExtendSession runs the heartbeat on a clock
// whose timers run only when told, so every timer here is as late as the
// case says. The deadline of a ping due at T is T+pingTimeout however late
// the timer that sends it or checks it runs; a request after it is refused.
func TestDelayedPingTimerCannotExtendSession(t *testing.T) {
	const unknownSID = `{"code":1,"message":"Session ID unknown"}`
	tests := []struct {
		name string
		eio  int
		run  func(t *testing.T, f *heartbeatFixture, url string)
	}{
		{"v4 poll at the deadline, ping timer never ran", 4, func(t *testing.T, f *heartbeatFixture, url string) {
			f.clock.advance(testPingInterval + testPingTimeout)
			if status, body := f.do(t, "GET", url, ""); status != 400 || body != unknownSID {
				t.Fatalf("GET after the deadline: %d %q, want 400 %s", status, body, unknownSID)
			}
			f.expectClosed(t, ReasonPingTimeout)
		}},
		{"v4 pong after the deadline of a ping sent late", 4, func(t *testing.T, f *heartbeatFixture, url string) {
			f.clock.advance(testPingInterval + 5*time.Second)
			f.clock.runDue(t) // the ping timer fires 5 s late
			if status, body := f.do(t, "GET", url, ""); status != 200 || body != "2" {
				t.Fatalf("GET: %d %q, want the ping", status, body)
			}
			// Due at 25 s, so it expires at 45 s, not 50 s.
			f.clock.advance(testPingTimeout - 5*time.Second)
			if status, body := f.do(t, "POST", url, "3"); status != 400 || body != unknownSID {
				t.Fatalf("late pong: %d %q, want 400 %s", status, body, unknownSID)
			}
			f.expectClosed(t, ReasonPingTimeout)
		}},
		{"v4 pong just before the deadline of a ping sent late keeps the session", 4, func(t *testing.T, f *heartbeatFixture, url string) {
			f.clock.advance(testPingInterval + 5*time.Second)
			f.clock.runDue(t)
			if status, body := f.do(t, "GET", url, ""); status != 200 || body != "2" {
				t.Fatalf("GET: %d %q, want the ping", status, body)
			}
			f.clock.advance(testPingTimeout - 5*time.Second - time.Millisecond)
			if status, body := f.do(t, "POST", url, "3"); status != 200 || body != "ok" {
				t.Fatalf("pong in time: %d %q, want 200 ok", status, body)
			}
			// The next ping keeps the handshake's cadence: due at 50 s.
			f.clock.advance(testPingInterval - testPingTimeout + time.Millisecond)
			f.clock.runDue(t)
			if status, body := f.do(t, "GET", url, ""); status != 200 || body != "2" {
				t.Fatalf("GET at 50 s: %d %q, want the second ping", status, body)
			}
			f.expectOpen(t)
		}},
		{"v4 poll after the ping is due sends it before the timer does", 4, func(t *testing.T, f *heartbeatFixture, url string) {
			f.clock.advance(testPingInterval + time.Second)
			if status, body := f.do(t, "GET", url, ""); status != 200 || body != "2" {
				t.Fatalf("GET: %d %q, want the due ping", status, body)
			}
			f.clock.runDue(t) // the late timer must not send a second ping
			f.clock.advance(time.Second)
			if status, body := f.do(t, "POST", url, "3"); status != 200 || body != "ok" {
				t.Fatalf("pong: %d %q", status, body)
			}
			f.expectOpen(t)
		}},
		{"v3 poll after the deadline, timer never ran", 3, func(t *testing.T, f *heartbeatFixture, url string) {
			f.clock.advance(testPingInterval + testPingTimeout)
			if status, body := f.do(t, "GET", url, ""); status != 400 || body != unknownSID {
				t.Fatalf("GET after the deadline: %d %q, want 400 %s", status, body, unknownSID)
			}
			f.expectClosed(t, ReasonPingTimeout)
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newHeartbeatFixture(t)
			status, body := f.do(t, "GET", fmt.Sprintf("%s?EIO=%d&transport=polling", f.base, tc.eio), "")
			i := strings.Index(body, `"sid":"`)
			if status != 200 || i < 0 {
				t.Fatalf("handshake %d %q", status, body)
			}
			sid := body[i+7 : i+7+strings.IndexByte(body[i+7:], '"')]
			tc.run(t, f, fmt.Sprintf("%s?EIO=%d&transport=polling&sid=%s", f.base, tc.eio, sid))
		})
	}
}

// TestDelayedPingTimerCannotExtendWebSocketSession: the same deadline holds
// for a pong that arrives over WebSocket while the timer that would check
// it is late.
func TestDelayedPingTimerCannotExtendWebSocketSession(t *testing.T) {
	f := newHeartbeatFixture(t)
	conn, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(f.base, "http")+"?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	read := func() (string, error) {
		conn.SetReadDeadline(time.Now().Add(requestWait))
		_, data, err := conn.ReadMessage()
		return string(data), err
	}
	if open, err := read(); err != nil || !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q %v", open, err)
	}
	f.clock.advance(testPingInterval + 5*time.Second)
	f.clock.runDue(t)
	if ping, err := read(); err != nil || ping != "2" {
		t.Fatalf("got %q %v, want the ping", ping, err)
	}
	f.clock.advance(testPingTimeout - 5*time.Second)
	if err := conn.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
		t.Fatal(err)
	}
	f.expectClosed(t, ReasonPingTimeout)
	if data, err := read(); err == nil {
		t.Fatalf("read %q after the deadline, want the connection closed", data)
	}
}
