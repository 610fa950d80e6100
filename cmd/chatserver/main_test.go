package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestRunServesAndShutsDownCleanly wires the real server on a loopback port,
// uses REST and Socket.IO on it, then cancels: a connected socket must
// receive the close packet before its connection ends, and run must return.
func TestRunServesAndShutsDownCleanly(t *testing.T) {
	store := "sqlite:" + filepath.Join(t.TempDir(), "chat.db")
	cfg, err := loadConfig([]string{"--host", "127.0.0.1", "--port", "0", "--store", store}, func(string) string { return "" }, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan net.Addr, 1)
	done := make(chan error, 1)
	go func() { done <- run(ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	var base string
	select {
	case addr := <-ready:
		base = "http://" + addr.String()
	case err := <-done:
		t.Fatalf("run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("server did not start")
	}

	resp, err := http.Post(base+"/api/v1/rooms", "application/json", strings.NewReader(`{"roomId":"r1","creatorUsername":"bob"}`))
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create room: %v %v", err, resp)
	}
	resp.Body.Close()

	resp, err = http.Get(base + "/socket.io/?EIO=3&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.HasSuffix(string(body), "2:40") {
		t.Fatalf("EIO3 handshake should carry the root CONNECT: %q", body)
	}

	// A WebSocket session must be told by a close packet, then closed.
	ws, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(base, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	ws.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, open, err := ws.ReadMessage(); err != nil || open[0] != '0' {
		t.Fatalf("open packet: %q %v", open, err)
	}
	ws.WriteMessage(websocket.TextMessage, []byte("40"))
	if _, connect, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(connect), `40{"sid":`) {
		t.Fatalf("connect reply: %q %v", connect, err)
	}
	cancel()
	_, closing, err := ws.ReadMessage()
	if err != nil || string(closing) != "1" {
		t.Fatalf("after shutdown got %q %v, want the close packet", closing, err)
	}
	if _, _, err := ws.ReadMessage(); err == nil {
		t.Fatal("connection still open after the close packet")
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("run did not return after cancel")
	}
}
