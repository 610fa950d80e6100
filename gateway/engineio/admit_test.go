package engineio

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// countingAdmission admits up to max sessions at once.
type countingAdmission struct {
	mu       sync.Mutex
	max      int
	open     int
	released chan struct{}
}

func (c *countingAdmission) admit(*http.Request) (func(), error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.open >= c.max {
		return nil, errors.New("too many sessions from this address")
	}
	c.open++
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			c.open--
			c.mu.Unlock()
			c.released <- struct{}{}
		})
	}, nil
}

// TestAdmitSessionRefusesAndReleases: a session over the admission hook's
// cap gets engine.io's allowRequest answer, polling and WebSocket alike,
// and a session's place comes back once it ends.
func TestAdmitSessionRefusesAndReleases(t *testing.T) {
	adm := &countingAdmission{max: 1, released: make(chan struct{}, 4)}
	_, url := newTestServer(t, Config{AdmitSession: adm.admit})

	status, body, _ := get(t, url+"?EIO=4&transport=polling")
	if status != 200 || !strings.HasPrefix(body, `0{"sid":"`) {
		t.Fatalf("first handshake: %d %s", status, body)
	}
	sid := body[len(`0{"sid":"`) : len(`0{"sid":"`)+20]

	status, body, _ = get(t, url+"?EIO=4&transport=polling")
	if want := `{"code":4,"message":"too many sessions from this address"}`; status != 403 || body != want {
		t.Fatalf("polling handshake over the cap: %d %s, want 403 %s", status, body, want)
	}
	wsURL := "ws" + strings.TrimPrefix(url, "http") + "?EIO=4&transport=websocket"
	if _, resp, err := websocket.DefaultDialer.Dial(wsURL, nil); err == nil || resp == nil || resp.StatusCode != 403 {
		t.Fatalf("WebSocket handshake over the cap: err %v, response %v; want 403", err, resp)
	}

	// The client closes its session: its place is given back.
	if status, _ := post(t, url+"?EIO=4&transport=polling&sid="+sid, "text/plain;charset=UTF-8", "1"); status != 200 {
		t.Fatalf("close packet: %d", status)
	}
	select {
	case <-adm.released:
	case <-time.After(10 * time.Second):
		t.Fatal("the closed session's place was not released")
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL, nil)
	if err != nil {
		t.Fatalf("WebSocket after the release: %v", err)
	}
	ws.Close()
	select {
	case <-adm.released:
	case <-time.After(10 * time.Second):
		t.Fatal("the WebSocket session's place was not released")
	}
}
