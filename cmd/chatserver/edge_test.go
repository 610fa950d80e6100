package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestLongPollAndWebSocketOutliveTheEdgeTimeouts: with every edge timeout
// far below the heartbeat, a long-poll GET held until the server's ping is
// still answered with that ping, and an idle WebSocket keeps its session
// across several heartbeats.
func TestLongPollAndWebSocketOutliveTheEdgeTimeouts(t *testing.T) {
	const pingInterval = 1500 * time.Millisecond
	p := startServer(t, "edge-timeouts", "STORE=memory",
		"PING_INTERVAL="+pingInterval.String(), "PING_TIMEOUT=5s",
		"READ_TIMEOUT=200ms", "WRITE_TIMEOUT=200ms", "IDLE_TIMEOUT=200ms", "HEADER_TIMEOUT=200ms")

	client := &http.Client{Timeout: 20 * time.Second}
	get := func(url string) string {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s: %d %q %v", url, resp.StatusCode, b, err)
		}
		return string(b)
	}
	open := get(p.url() + "/socket.io/?EIO=4&transport=polling")
	sid := open[len(`0{"sid":"`) : len(`0{"sid":"`)+20]
	// Nothing is queued: the poll is held until the ping, far past
	// READ_TIMEOUT and WRITE_TIMEOUT.
	start := time.Now()
	if got := get(p.url() + "/socket.io/?EIO=4&transport=polling&sid=" + sid); got != "2" {
		t.Fatalf("held poll answered %q, want the ping", got)
	}
	if held := time.Since(start); held < pingInterval/2 {
		t.Fatalf("the poll was answered after %v, before the ping could be due; it was not held", held)
	}

	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(p.url(), "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hung test guard only
	if _, msg, err := ws.ReadMessage(); err != nil || msg[0] != '0' {
		t.Fatalf("open packet: %q %v", msg, err)
	}
	for i := range 3 {
		_, msg, err := ws.ReadMessage()
		if err != nil || string(msg) != "2" {
			t.Fatalf("heartbeat %d on an idle WebSocket: %q %v", i+1, msg, err)
		}
		if err := ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
			t.Fatal(err)
		}
	}
}
