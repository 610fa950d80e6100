package sioclient_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"chatgateway/gateway"
	"chatgateway/gateway/sioclient"
	"chatgateway/gateway/sioclient/sioclienttest"
	"chatgateway/rooms"
)

// waitFor bounds every wait in these tests.
const waitFor = 10 * time.Second

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction(sioclienttest.KeptGoroutineFunction))
}

var eioVersions = []int{3, 4}

// event is one received event, from Options.OnEvent.
type event struct {
	name string
	args []json.RawMessage
}

// recorder collects a client's events on a channel.
type recorder struct {
	events chan event
}

func newRecorder() *recorder { return &recorder{events: make(chan event, 10_000)} }

func (r *recorder) onEvent(name string, args []json.RawMessage) {
	r.events <- event{name: name, args: args}
}

// next waits for the next event named name, skipping others.
func (r *recorder) next(t *testing.T, name string) event {
	t.Helper()
	deadline := time.After(waitFor)
	for {
		select {
		case e := <-r.events:
			if e.name == name {
				return e
			}
		case <-deadline:
			t.Fatalf("no %q event within %v", name, waitFor)
		}
	}
}

func dial(t *testing.T, url string, opts sioclient.Options) *sioclient.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	c, err := sioclient.Dial(ctx, url, opts)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func join(t *testing.T, c *sioclient.Client, rec *recorder, roomID, username string) {
	t.Helper()
	if err := c.Emit("participants", map[string]string{"roomId": roomID, "username": username, "avatar": "a"}); err != nil {
		t.Fatalf("emit participants: %v", err)
	}
	rec.next(t, "participants/"+roomID)
}

func TestChatRoundTrip(t *testing.T) {
	for _, eio := range eioVersions {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			srv := sioclienttest.Start(t, sioclienttest.Options{Rooms: []string{"r"}})
			recA, recB := newRecorder(), newRecorder()
			type rawEvent struct{ name, payload string }
			raw := make(chan rawEvent, 100)
			a := dial(t, srv.URL, sioclient.Options{EIO: eio, OnEvent: recA.onEvent})
			b := dial(t, srv.URL, sioclient.Options{EIO: eio, OnEvent: recB.onEvent, OnRawEvent: func(name, payload []byte) {
				raw <- rawEvent{string(name), string(payload)}
			}})
			for _, c := range []*sioclient.Client{a, b} {
				if c.ID() == "" || c.SessionID() == "" || c.EIO() != eio {
					t.Fatalf("id %q session %q eio %d", c.ID(), c.SessionID(), c.EIO())
				}
				if (eio == 3) != (c.ID() == c.SessionID()) {
					t.Errorf("EIO%d: socket id %q, session id %q (equal only in v3)", eio, c.ID(), c.SessionID())
				}
			}
			join(t, a, recA, "r", "alice")
			join(t, b, recB, "r", "bob")

			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			ack, err := a.EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": "hello"})
			if err != nil {
				t.Fatalf("chat: %v", err)
			}
			var acked []rooms.Message
			if err := json.Unmarshal(ack, &acked); err != nil || len(acked) != 1 || acked[0].Order != 1 || acked[0].Username != "alice" || acked[0].Content != "hello" {
				t.Fatalf("chat ack %s (%v)", ack, err)
			}

			for _, rec := range []*recorder{recA, recB} {
				e := rec.next(t, "r")
				var m rooms.Message
				if len(e.args) != 1 || json.Unmarshal(e.args[0], &m) != nil || m != acked[0] {
					t.Fatalf("event r args %s, want %+v", e.args, acked[0])
				}
			}
			// The raw hook saw the same event, its single argument verbatim.
			for {
				select {
				case e := <-raw:
					if e.name != "r" {
						continue
					}
					var m rooms.Message
					if err := json.Unmarshal([]byte(e.payload), &m); err != nil || m != acked[0] {
						t.Fatalf("raw payload %q (%v), want %+v", e.payload, err, acked[0])
					}
				case <-time.After(waitFor):
					t.Fatal("raw hook did not see event r")
				}
				break
			}

			// An acknowledged failure comes back as {code, message}.
			ack, err = a.EmitWithAck(ctx, "chat", map[string]string{"roomId": "missing", "content": "x"})
			if err != nil {
				t.Fatalf("chat to a missing room: %v", err)
			}
			var failed []gateway.AckError
			if err := json.Unmarshal(ack, &failed); err != nil || len(failed) != 1 || failed[0].Code == "" {
				t.Fatalf("chat ack for a missing room: %s (%v)", ack, err)
			}

			if err := a.Close(); err != nil {
				t.Fatal(err)
			}
			if !errors.Is(a.Err(), sioclient.ErrClosed) {
				t.Errorf("Err after Close = %v, want ErrClosed", a.Err())
			}
			if err := a.Emit("exchanges", map[string]string{"roomId": "r"}); !errors.Is(err, sioclient.ErrClosed) {
				t.Errorf("Emit after Close = %v, want ErrClosed", err)
			}
			if _, err := a.EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": "x"}); !errors.Is(err, sioclient.ErrClosed) {
				t.Errorf("EmitWithAck after Close = %v, want ErrClosed", err)
			}
			// b sees a leave: its participant entry turns disconnected.
			for {
				e := recB.next(t, "participants/r")
				var list []rooms.Participant
				if err := json.Unmarshal(e.args[0], &list); err != nil {
					t.Fatal(err)
				}
				if len(list) == 2 && list[0].Username == "alice" && !list[0].Connected {
					break
				}
			}
		})
	}
}

func TestOnHandlers(t *testing.T) {
	srv := sioclienttest.Start(t, sioclienttest.Options{Rooms: []string{"r"}})
	rec := newRecorder()
	c := dial(t, srv.URL, sioclient.Options{OnEvent: rec.onEvent})
	got := make(chan []json.RawMessage, 10)
	c.On("r", func(args []json.RawMessage) { got <- args })
	c.On("r", func(args []json.RawMessage) { got <- args })
	join(t, c, rec, "r", "alice")
	if err := c.Emit("exchanges", map[string]string{"roomId": "r", "username": "alice", "content": "hi", "createdAt": "now"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case args := <-got:
			var m rooms.Message
			if len(args) != 1 || json.Unmarshal(args[0], &m) != nil || m.Content != "hi" || m.Order != 1 {
				t.Fatalf("handler args %s", args)
			}
		case <-time.After(waitFor):
			t.Fatal("handler not called")
		}
	}
}

// TestConcurrentEmit: one client emits from many goroutines at once; every
// message is stored and delivered once, in order.
func TestConcurrentEmit(t *testing.T) {
	const goroutines, each = 8, 50
	for _, eio := range eioVersions {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			// More events at once than a socket's default budget allows.
			srv := sioclienttest.Start(t, sioclienttest.Options{Rooms: []string{"r"}, EventRate: -1})
			orders := make(chan int64, goroutines*each)
			recS, recR := newRecorder(), newRecorder()
			sender := dial(t, srv.URL, sioclient.Options{EIO: eio, OnEvent: recS.onEvent})
			receiver := dial(t, srv.URL, sioclient.Options{EIO: eio, OnEvent: recR.onEvent, OnRawEvent: func(name, payload []byte) {
				if string(name) != "r" {
					return
				}
				var m rooms.Message
				if json.Unmarshal(payload, &m) == nil {
					orders <- m.Order
				}
			}})
			join(t, sender, recS, "r", "sender")
			join(t, receiver, recR, "r", "receiver")
			var wg sync.WaitGroup
			for g := range goroutines {
				wg.Go(func() {
					for i := range each {
						content := json.RawMessage(fmt.Sprintf(`{"roomId":"r","username":"sender","content":"%d-%d","createdAt":"t"}`, g, i))
						if err := sender.Emit("exchanges", content); err != nil {
							t.Errorf("emit: %v", err)
							return
						}
					}
				})
			}
			wg.Wait()
			for want := int64(1); want <= goroutines*each; want++ {
				select {
				case got := <-orders:
					if got != want {
						t.Fatalf("order %d, want %d", got, want)
					}
				case <-time.After(waitFor):
					t.Fatalf("order %d not received", want)
				}
			}
		})
	}
}

// TestServerDisconnect: joining a missing room is refused with an
// exception, then the server disconnects the socket.
func TestServerDisconnect(t *testing.T) {
	for _, eio := range eioVersions {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			srv := sioclienttest.Start(t, sioclienttest.Options{})
			rec := newRecorder()
			c := dial(t, srv.URL, sioclient.Options{EIO: eio, OnEvent: rec.onEvent})
			if err := c.Emit("participants", map[string]string{"roomId": "missing", "username": "u", "avatar": "a"}); err != nil {
				t.Fatal(err)
			}
			e := rec.next(t, "exception")
			var ex gateway.Exception
			if len(e.args) != 1 || json.Unmarshal(e.args[0], &ex) != nil || ex.Status != "error" {
				t.Fatalf("exception %s", e.args)
			}
			select {
			case <-c.Done():
			case <-time.After(waitFor):
				t.Fatal("not disconnected")
			}
			if !errors.Is(c.Err(), sioclient.ErrServerDisconnect) {
				t.Errorf("Err = %v, want ErrServerDisconnect", c.Err())
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if _, err := c.EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": "x"}); !errors.Is(err, sioclient.ErrServerDisconnect) {
				t.Errorf("EmitWithAck after the disconnect = %v, want ErrServerDisconnect", err)
			}
		})
	}
}

// TestHeartbeatKeepsConnection: with a heartbeat every 50 ms the
// connection outlives many intervals and more than one interval+timeout,
// after which the server would have cut a client that does not ping (v3)
// or answer its pings (v4).
func TestHeartbeatKeepsConnection(t *testing.T) {
	const interval, timeout = 50 * time.Millisecond, time.Second
	for _, eio := range eioVersions {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			srv := sioclienttest.Start(t, sioclienttest.Options{PingInterval: interval, PingTimeout: timeout, Rooms: []string{"r"}})
			c := dial(t, srv.URL, sioclient.Options{EIO: eio})
			select {
			case <-c.Done():
				t.Fatalf("connection ended: %v", c.Err())
			case <-time.After(2 * (interval + timeout)):
			}
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			if _, err := c.EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": "still here", "username": "u"}); err != nil {
				t.Fatalf("after many heartbeats: %v", err)
			}
		})
	}
}

// scriptedServer is a fake Socket.IO server: play runs on each accepted
// WebSocket with the request.
func scriptedServer(t *testing.T, play func(conn *websocket.Conn, r *http.Request)) string {
	t.Helper()
	upgrader := websocket.Upgrader{}
	var wg sync.WaitGroup
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counted before the upgrade: until the connection is hijacked,
		// srv.Close waits for this handler, so Add precedes Wait.
		wg.Add(1)
		defer wg.Done()
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		play(conn, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		wg.Wait()
	})
	return srv.URL
}

// drain reads until the client goes away.
func drain(conn *websocket.Conn) {
	for {
		if _, _, err := conn.ReadMessage(); err != nil {
			return
		}
	}
}

func TestHeartbeatTimeout(t *testing.T) {
	for _, eio := range eioVersions {
		t.Run(fmt.Sprintf("EIO%d", eio), func(t *testing.T) {
			// The server opens with a short heartbeat, then never pings (v4)
			// nor answers pings (v3).
			url := scriptedServer(t, func(conn *websocket.Conn, r *http.Request) {
				conn.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"s1","upgrades":[],"pingInterval":20,"pingTimeout":20}`))
				if eio == 4 {
					conn.ReadMessage() // "40"
					conn.WriteMessage(websocket.TextMessage, []byte(`40{"sid":"k1"}`))
				} else {
					conn.WriteMessage(websocket.TextMessage, []byte(`40`))
				}
				drain(conn)
			})
			c := dial(t, url, sioclient.Options{EIO: eio, HeartbeatGrace: time.Millisecond})
			if c.ID() != map[int]string{3: "s1", 4: "k1"}[eio] || c.SessionID() != "s1" {
				t.Errorf("ID %q SessionID %q", c.ID(), c.SessionID())
			}
			select {
			case <-c.Done():
			case <-time.After(waitFor):
				t.Fatal("no heartbeat timeout")
			}
			if !errors.Is(c.Err(), sioclient.ErrHeartbeatTimeout) {
				t.Errorf("Err = %v, want ErrHeartbeatTimeout", c.Err())
			}
		})
	}
}

func TestDialFailures(t *testing.T) {
	refused := func(message string) func(conn *websocket.Conn, r *http.Request) {
		return func(conn *websocket.Conn, r *http.Request) {
			conn.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
			conn.ReadMessage()
			conn.WriteMessage(websocket.TextMessage, []byte(message))
			drain(conn)
		}
	}
	closedPort := func() string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr
	}()
	silent := scriptedServer(t, func(conn *websocket.Conn, r *http.Request) { drain(conn) })
	tests := []struct {
		name    string
		url     string
		opts    sioclient.Options
		wantErr string
	}{
		{"EIO 2", "http://127.0.0.1:1", sioclient.Options{EIO: 2}, "EIO must be 3 or 4"},
		{"bad scheme", "ftp://127.0.0.1:1", sioclient.Options{}, "scheme must be"},
		{"no host", "http:///x", sioclient.Options{}, "no host"},
		{"bad local address", "http://127.0.0.1:1", sioclient.Options{LocalAddr: "nowhere"}, "not an IP address"},
		{"connection refused", closedPort, sioclient.Options{}, "refused"},
		{"not socket.io", scriptedServer(t, func(conn *websocket.Conn, r *http.Request) {
			conn.WriteMessage(websocket.TextMessage, []byte("hello"))
			drain(conn)
		}), sioclient.Options{}, "bad open packet"},
		{"namespace refused v5", scriptedServer(t, refused(`44{"message":"not authorized"}`)), sioclient.Options{EIO: 4}, "not authorized"},
		{"silent server", silent, sioclient.Options{HandshakeTimeout: 100 * time.Millisecond}, "deadline exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), waitFor)
			defer cancel()
			c, err := sioclient.Dial(ctx, tt.url, tt.opts)
			if err == nil {
				c.Close()
				t.Fatal("dial succeeded")
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q, want it to contain %q", err, tt.wantErr)
			}
		})
	}
	t.Run("connect error is typed", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		_, err := sioclient.Dial(ctx, scriptedServer(t, refused(`44"nope"`)), sioclient.Options{EIO: 4})
		var ce *sioclient.ConnectError
		if !errors.As(err, &ce) || ce.Message != "nope" {
			t.Fatalf("error %v, want a ConnectError with message nope", err)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := sioclient.Dial(ctx, silent, sioclient.Options{})
			done <- err
		}()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("error %v, want context.Canceled", err)
			}
		case <-time.After(waitFor):
			t.Fatal("Dial did not return after cancel")
		}
	})
}

// TestLargeMessages: messages far larger than the retained receive buffer
// arrive intact, one after the other, and SkipEvent discards the large
// events it is asked about without disturbing the next ones.
func TestLargeMessages(t *testing.T) {
	sizes := []int{100, 70_000, 300_000, 5_000_000, 200_000, 600, 64 << 10}
	event := func(name string, size int) []byte {
		return []byte(`42["` + name + `","` + strings.Repeat("y", size) + `"]`)
	}
	url := scriptedServer(t, func(conn *websocket.Conn, r *http.Request) {
		conn.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`40`))
		for _, n := range sizes {
			conn.WriteMessage(websocket.TextMessage, event("skip", n))
			conn.WriteMessage(websocket.TextMessage, event("keep", n))
		}
		conn.WriteMessage(websocket.TextMessage, []byte(`42["end"]`))
		drain(conn)
	})
	type got struct {
		name string
		size int
	}
	events := make(chan got, 100)
	dial(t, url, sioclient.Options{
		EIO:       3,
		SkipEvent: func(name []byte) bool { return string(name) == "skip" },
		OnRawEvent: func(name, payload []byte) {
			if len(payload) > 0 && strings.Trim(string(payload), `"y`) != "" {
				t.Errorf("event %s: corrupt payload", name)
			}
			events <- got{string(name), max(0, len(payload)-2)}
		},
	})
	var want []got
	for _, n := range sizes {
		if n <= 400 { // fits the first read: never asked, delivered
			want = append(want, got{"skip", n})
		}
		want = append(want, got{"keep", n})
	}
	want = append(want, got{"end", 0})
	for i, w := range want {
		select {
		case g := <-events:
			if g != w {
				t.Fatalf("event %d: %s of %d bytes, want %s of %d", i, g.name, g.size, w.name, w.size)
			}
		case <-time.After(waitFor):
			t.Fatalf("event %d (%s) not received", i, w.name)
		}
	}
}

// TestLocalAddr: the connection leaves from the requested source address.
func TestLocalAddr(t *testing.T) {
	remote := make(chan string, 1)
	url := scriptedServer(t, func(conn *websocket.Conn, r *http.Request) {
		remote <- r.RemoteAddr
		conn.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`40`))
		drain(conn)
	})
	dial(t, url, sioclient.Options{EIO: 3, LocalAddr: "127.0.0.2"})
	if host, _, _ := net.SplitHostPort(<-remote); host != "127.0.0.2" {
		t.Fatalf("connection came from %s, want 127.0.0.2", host)
	}
}

// TestCloseLeavesNoGoroutine: after Close (and the server's side of the
// connections ending) no goroutine remains, whether the client was idle,
// busy receiving or waiting for an acknowledgement.
func TestCloseLeavesNoGoroutine(t *testing.T) {
	srv := sioclienttest.Start(t, sioclienttest.Options{Rooms: []string{"r"}})
	ignoreServer := goleak.IgnoreCurrent()
	var clients []*sioclient.Client
	for i := range 20 {
		rec := newRecorder()
		c := dial(t, srv.URL, sioclient.Options{EIO: eioVersions[i%2], OnEvent: rec.onEvent})
		join(t, c, rec, "r", fmt.Sprintf("u%d", i))
		clients = append(clients, c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	if _, err := clients[0].EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": "x"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range clients {
		wg.Go(func() {
			for range 10 {
				if c.Emit("exchanges", map[string]string{"roomId": "r", "username": "u", "content": "x", "createdAt": "t"}) != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	for _, c := range clients {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Done still open after Close")
		}
	}
	goleak.VerifyNone(t, ignoreServer, goleak.IgnoreAnyFunction(sioclienttest.KeptGoroutineFunction))
}

func TestSplitEvent(t *testing.T) {
	tests := []struct {
		data          string
		name, payload string
		ok            bool
	}{
		{`["r",{"order":1}]`, "r", `{"order":1}`, true},
		{`["ping"]`, "ping", ``, true},
		{`["a",1,"two",[3]]`, "a", `1,"two",[3]`, true},
		{` [ "a" , {"x":1} ] `, "a", `{"x":1}`, true},
		{`["participants/r\u002fx",[]]`, "participants/r/x", `[]`, true},
		{`["q\"uote",1]`, `q"uote`, `1`, true},
		{`[]`, "", "", false},
		{`[1,2]`, "", "", false},
		{`{"a":1}`, "", "", false},
		{`["unterminated`, "", "", false},
		{`["a",1`, "", "", false},
		{`["a" 1]`, "", "", false},
		{``, "", "", false},
	}
	for _, tt := range tests {
		name, payload, ok := sioclient.SplitEvent([]byte(tt.data))
		if ok != tt.ok || string(name) != tt.name || string(payload) != tt.payload {
			t.Errorf("SplitEvent(%s) = %q, %q, %v; want %q, %q, %v", tt.data, name, payload, ok, tt.name, tt.payload, tt.ok)
		}
	}
}

func TestAppendEvent(t *testing.T) {
	tests := []struct {
		event string
		ackID int64
		args  []any
		want  string
	}{
		{"chat", -1, []any{map[string]string{"roomId": "r"}}, `42["chat",{"roomId":"r"}]`},
		{"chat", 7, []any{json.RawMessage(`{"a":1}`), "x", 3}, `427["chat",{"a":1},"x",3]`},
		{"no args", -1, nil, `42["no args"]`},
		{`quo"te<`, -1, []any{"é\n"}, `42["quo\"te\u003c","é\n"]`},
	}
	for _, tt := range tests {
		got, err := sioclient.AppendEvent(nil, tt.event, tt.ackID, tt.args...)
		if err != nil || string(got) != tt.want {
			t.Errorf("AppendEvent(%q, %d, %v) = %s, %v; want %s", tt.event, tt.ackID, tt.args, got, err, tt.want)
		}
		// What the server's parser sees: a valid JSON array.
		var arr []json.RawMessage
		if err := json.Unmarshal(bytes.TrimLeft(got, "0123456789"), &arr); err != nil {
			t.Errorf("AppendEvent(%q) produced invalid JSON %s: %v", tt.event, got, err)
		}
	}
	if _, err := sioclient.AppendEvent(nil, "x", -1, func() {}); err == nil {
		t.Error("AppendEvent encoded a func")
	}
	if _, err := sioclient.AppendEvent(nil, "x", -1, json.RawMessage(nil)); err == nil {
		t.Error("AppendEvent accepted an empty RawMessage")
	}
}

// BenchmarkReceive measures the receive path with the raw hook: one client
// reading room events another posts.
func BenchmarkReceive(b *testing.B) {
	srv := sioclienttest.Start(b, sioclienttest.Options{Rooms: []string{"r"}})
	got := make(chan struct{}, 1)
	var n int
	ctx := context.Background()
	joined := make(chan struct{}, 2)
	onRaw := func(name, payload []byte) {
		switch {
		case string(name) == "r":
			n++
			if n == b.N {
				got <- struct{}{}
			}
		case bytes.HasPrefix(name, []byte("participants/")):
			select {
			case joined <- struct{}{}:
			default:
			}
		}
	}
	receiver, err := sioclient.Dial(ctx, srv.URL, sioclient.Options{OnRawEvent: onRaw})
	if err != nil {
		b.Fatal(err)
	}
	defer receiver.Close()
	if err := receiver.Emit("participants", map[string]string{"roomId": "r", "username": "rcv", "avatar": "a"}); err != nil {
		b.Fatal(err)
	}
	<-joined
	sender, err := sioclient.Dial(ctx, srv.URL, sioclient.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer sender.Close()
	msg := json.RawMessage(`{"roomId":"r","username":"snd","content":"benchmark message","createdAt":"t"}`)
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if err := sender.Emit("exchanges", msg); err != nil {
			b.Fatal(err)
		}
	}
	<-got
}

// BenchmarkReceiveRaw measures the client alone: a scripted server writes
// one prepared room event b.N times; the raw hook counts them.
func BenchmarkReceiveRaw(b *testing.B) {
	frame, err := websocket.NewPreparedMessage(websocket.TextMessage, []byte(`42["room-1",{"order":12345,"username":"u1-17","content":"1700000000000000000 xxxxxxxxxxxxxxxx","createdAt":"2026-11-26T17:19:43.607Z"}]`))
	if err != nil {
		b.Fatal(err)
	}
	start := make(chan int, 1)
	upgrader := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.WriteMessage(websocket.TextMessage, []byte(`0{"sid":"s1","upgrades":[],"pingInterval":25000,"pingTimeout":20000}`))
		conn.WriteMessage(websocket.TextMessage, []byte(`40`))
		for range <-start {
			if conn.WritePreparedMessage(frame) != nil {
				return
			}
		}
		drain(conn)
	}))
	defer srv.Close()
	done := make(chan struct{})
	var n int
	c, err := sioclient.Dial(context.Background(), srv.URL, sioclient.Options{EIO: 3, OnRawEvent: func(name, payload []byte) {
		if n++; n == b.N {
			close(done)
		}
	}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	b.ReportAllocs()
	b.ResetTimer()
	start <- b.N
	<-done
}

// TestConnectionStateRecovery is the Socket.IO v5 recovery handshake end to
// end on the real engine: the CONNECT reply carries a pid, room messages an
// offset; a client that reconnects with both gets its socket id back,
// recovered, the messages it missed in order, then live ones.
func TestConnectionStateRecovery(t *testing.T) {
	srv := sioclienttest.Start(t, sioclienttest.Options{Rooms: []string{"r"}})
	recC, recP := newRecorder(), newRecorder()
	c := dial(t, srv.URL, sioclient.Options{EIO: 4, OnEvent: recC.onEvent})
	poster := dial(t, srv.URL, sioclient.Options{EIO: 4, OnEvent: recP.onEvent})
	if c.PID() == "" || c.Recovered() {
		t.Fatalf("first connection: pid %q, recovered %v; want a pid, not recovered", c.PID(), c.Recovered())
	}
	join(t, c, recC, "r", "carol")
	join(t, poster, recP, "r", "paul")
	post := func(content string) rooms.Message {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		ack, err := poster.EmitWithAck(ctx, "chat", map[string]string{"roomId": "r", "content": content})
		var m []rooms.Message
		if err != nil || json.Unmarshal(ack, &m) != nil || len(m) != 1 {
			t.Fatalf("chat ack %s: %v", ack, err)
		}
		return m[0]
	}
	expect := func(rec *recorder, want rooms.Message) {
		t.Helper()
		e := rec.next(t, "r")
		var m rooms.Message
		if len(e.args) != 1 || json.Unmarshal(e.args[0], &m) != nil || m != want {
			t.Fatalf("event r %s, want %+v (the offset is not an argument)", e.args, want)
		}
	}
	first := post("before the cut")
	expect(recC, first)
	offset, id, pid := c.Offset(), c.ID(), c.PID()
	if offset == "" {
		t.Fatal("a room message carried no offset")
	}
	c.Drop() // the transport is gone; the server keeps the session

	var missed []rooms.Message
	for i := range 3 {
		missed = append(missed, post(fmt.Sprintf("missed %d", i)))
	}
	recAgain := newRecorder()
	again := dial(t, srv.URL, sioclient.Options{EIO: 4, OnEvent: recAgain.onEvent, Recover: &sioclient.Recovery{PID: pid, Offset: offset}})
	if !again.Recovered() || again.ID() != id || again.PID() != pid {
		t.Fatalf("reconnection: recovered %v, id %q (was %q), pid %q (was %q)", again.Recovered(), again.ID(), id, again.PID(), pid)
	}
	for _, m := range missed {
		expect(recAgain, m)
	}
	expect(recAgain, post("live"))

	// A pid nobody knows gets a fresh socket.
	stranger := dial(t, srv.URL, sioclient.Options{EIO: 4, Recover: &sioclient.Recovery{PID: "nobody", Offset: offset}})
	if stranger.Recovered() || stranger.ID() == id || stranger.PID() == "nobody" {
		t.Fatalf("unknown pid: recovered %v, id %q, pid %q", stranger.Recovered(), stranger.ID(), stranger.PID())
	}
}
