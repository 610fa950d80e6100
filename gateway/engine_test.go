package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// These tests run the gateway on the real engine over loopback WebSockets,
// with a minimal Engine.IO v4 / Socket.IO v5 text client.

type engineServer struct {
	addr string
	svc  *rooms.Service
	srv  *socketio.Server
	g    *Gateway
}

// startEngineServer serves a full gateway on 127.0.0.1.
func startEngineServer(t testing.TB, engineCfg engineio.Config, cfg Config) *engineServer {
	t.Helper()
	engineCfg.Logger = discardLogger()
	srv := socketio.NewServer(socketio.Config{Engine: engineCfg, Logger: discardLogger()})
	store := memstore.New()
	svc := rooms.NewService(store)
	if cfg.Sessions == nil {
		cfg.Sessions = store
	}
	g, err := New(context.Background(), svc, cfg, discardLogger())
	if err != nil {
		t.Fatal(err)
	}
	g.Register(srv)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), waitFor)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("socket.io shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			t.Errorf("http shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("serve: %v", err)
		}
		if err := g.Shutdown(ctx); err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	if err := svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: "r", CreatorUsername: "bob"}); err != nil {
		t.Fatal(err)
	}
	return &engineServer{addr: ln.Addr().String(), svc: svc, srv: srv, g: g}
}

type wsEvent struct {
	name string
	arg  json.RawMessage
}

// wsClient speaks Engine.IO v4 + Socket.IO v5 text packets on the root
// namespace. Events and acks go to buffered channels from a reader
// goroutine, which answers pings; a client that must stop reading simply
// never starts it.
type wsClient struct {
	t       *testing.T
	conn    *websocket.Conn
	writeMu sync.Mutex
	nextAck int
	events  chan wsEvent
	acks    map[int]chan json.RawMessage
	acksMu  sync.Mutex
	done    chan struct{}
	sid     string // Socket.IO socket id
}

// dialWS connects and completes the namespace handshake. readBuffer, when
// positive, shrinks the socket's kernel receive buffer so a client that stops
// reading backs the server up quickly.
func dialWS(t *testing.T, addr string, readBuffer int) *wsClient {
	t.Helper()
	dialer := websocket.Dialer{
		HandshakeTimeout: waitFor,
		NetDialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err == nil && readBuffer > 0 {
				err = c.(*net.TCPConn).SetReadBuffer(readBuffer)
			}
			return c, err
		},
	}
	conn, _, err := dialer.Dial("ws://"+addr+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c := &wsClient{t: t, conn: conn, events: make(chan wsEvent, 100_000), acks: make(map[int]chan json.RawMessage), done: make(chan struct{})}
	t.Cleanup(func() { conn.Close() })
	if open := c.readRaw(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet %q", open)
	}
	c.write("40")
	connect := c.readRaw()
	var reply struct{ Sid string }
	if !strings.HasPrefix(connect, "40{") || json.Unmarshal([]byte(connect[2:]), &reply) != nil || reply.Sid == "" {
		t.Fatalf("connect reply %q", connect)
	}
	c.sid = reply.Sid
	return c
}

func (c *wsClient) readRaw() string {
	c.t.Helper()
	if err := c.conn.SetReadDeadline(time.Now().Add(waitFor)); err != nil {
		c.t.Fatal(err)
	}
	_, data, err := c.conn.ReadMessage()
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return string(data)
}

func (c *wsClient) write(packet string) error {
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	return c.conn.WriteMessage(websocket.TextMessage, []byte(packet))
}

// readUntilEvent reads synchronously (before or instead of the reader
// goroutine) until the named event arrives.
func (c *wsClient) readUntilEvent(name string) json.RawMessage {
	c.t.Helper()
	var arg json.RawMessage
	c.readUntil(func(p string) bool {
		e, ok := parseEvent(p)
		arg = e.arg
		return ok && e.name == name
	})
	return arg
}

// readUntil reads synchronously, answering pings, until a packet matches,
// and returns it.
func (c *wsClient) readUntil(match func(packet string) bool) string {
	c.t.Helper()
	for {
		p := c.readRaw()
		if p == "2" {
			c.write("3")
			continue
		}
		if match(p) {
			return p
		}
	}
}

func (c *wsClient) startReading() {
	go func() {
		defer close(c.done)
		c.conn.SetReadDeadline(time.Time{})
		for {
			_, data, err := c.conn.ReadMessage()
			if err != nil {
				return
			}
			p := string(data)
			switch {
			case p == "2":
				c.write("3")
			case strings.HasPrefix(p, "43"):
				id, args, ok := parseAck(p)
				if !ok {
					continue
				}
				c.acksMu.Lock()
				ch := c.acks[id]
				delete(c.acks, id)
				c.acksMu.Unlock()
				if ch != nil {
					ch <- args
				}
			default:
				if e, ok := parseEvent(p); ok {
					c.events <- e
				}
			}
		}
	}()
}

func parseEvent(p string) (wsEvent, bool) {
	if !strings.HasPrefix(p, "42[") {
		return wsEvent{}, false
	}
	var arr []json.RawMessage
	if err := json.Unmarshal([]byte(p[2:]), &arr); err != nil || len(arr) == 0 {
		return wsEvent{}, false
	}
	var name string
	if json.Unmarshal(arr[0], &name) != nil {
		return wsEvent{}, false
	}
	e := wsEvent{name: name}
	if len(arr) > 1 {
		e.arg = arr[1]
	}
	return e, true
}

func parseAck(p string) (int, json.RawMessage, bool) {
	rest := p[2:]
	i := strings.IndexByte(rest, '[')
	if i <= 0 {
		return 0, nil, false
	}
	id, err := strconv.Atoi(rest[:i])
	if err != nil {
		return 0, nil, false
	}
	var args []json.RawMessage
	if json.Unmarshal([]byte(rest[i:]), &args) != nil || len(args) == 0 {
		return id, nil, true
	}
	return id, args[0], true
}

func (c *wsClient) emit(event string, arg any) {
	c.t.Helper()
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.write("42" + string(b)); err != nil {
		c.t.Fatalf("emit %s: %v", event, err)
	}
}

// call emits with an ack and waits for it (the reader must be running).
func (c *wsClient) call(event string, arg any) json.RawMessage {
	c.t.Helper()
	c.acksMu.Lock()
	id := c.nextAck
	c.nextAck++
	ch := make(chan json.RawMessage, 1)
	c.acks[id] = ch
	c.acksMu.Unlock()
	b, err := json.Marshal([]any{event, arg})
	if err != nil {
		c.t.Fatal(err)
	}
	if err := c.write("42" + strconv.Itoa(id) + string(b)); err != nil {
		c.t.Fatalf("emit %s: %v", event, err)
	}
	select {
	case a := <-ch:
		return a
	case <-time.After(waitFor):
		c.t.Fatalf("no ack for %s within %v", event, waitFor)
		return nil
	}
}

func (c *wsClient) join(roomID, username string) {
	c.t.Helper()
	c.emit("participants", map[string]string{"roomId": roomID, "username": username, "avatar": "a"})
	c.readUntilEvent("participants/" + roomID)
}

// nextEvent waits for the next event from the reader goroutine.
func (c *wsClient) nextEvent() wsEvent {
	c.t.Helper()
	select {
	case e := <-c.events:
		return e
	case <-time.After(waitFor):
		c.t.Fatalf("no event within %v", waitFor)
		return wsEvent{}
	}
}

// TestSlowMemberIsCutOffWithoutDelayingOthers: a member that stops reading
// is disconnected once its outbound queue overflows, while every other
// member keeps getting every message, in order, exactly as before it
// stopped reading.
//
// No duration is asserted. The slow member never reads again, so a delivery
// that waited for its socket would wait forever (or a write timeout of 10
// s); the test posts one message at a time and waits for the observer to
// have it before posting the next, first without the slow member, then
// with it until it is cut off. That the observer gets each message before
// the next one is posted, in both phases, is the effect: the slow member
// holds nobody up. The waits' deadline (waitFor) is a bound on liveness,
// far above any delivery, not a measure of speed.
func TestSlowMemberIsCutOffWithoutDelayingOthers(t *testing.T) {
	const (
		contentSize = 16 << 10
		budget      = 256 << 10 // the slow member's queue: cut after about 16 messages
		baseline    = 20
		maxMessages = 2000 // bound: the cut must come well before (~32 MB)
	)
	es := startEngineServer(t, engineio.Config{MaxBufferedBytes: budget}, Config{EventRate: -1})
	sender := dialWS(t, es.addr, 0)
	sender.join("r", "sender")
	observer := dialWS(t, es.addr, 0)
	observer.join("r", "observer")
	sender.startReading()
	observer.startReading()

	content := strings.Repeat("x", contentSize)
	received := map[*wsClient]int64{sender: 0, observer: 0}
	slowCut := false
	// consume takes c's events up to and including room message order,
	// checking that they come in order and noting the slow member's cut.
	consume := func(c *wsClient, order int64) {
		for received[c] < order {
			e := c.nextEvent()
			switch e.name {
			case "r":
				var m rooms.Message
				if err := json.Unmarshal(e.arg, &m); err != nil {
					t.Fatal(err)
				}
				if m.Order != received[c]+1 {
					t.Fatalf("received order %d after %d messages", m.Order, received[c])
				}
				received[c] = m.Order
			case "participants/r":
				var list []rooms.Participant
				if err := json.Unmarshal(e.arg, &list); err != nil {
					t.Fatal(err)
				}
				for _, p := range list {
					if p.Username == "slow" && !p.Connected {
						slowCut = true
					}
				}
			}
		}
	}
	n := int64(0)
	// post sends the next message and waits until both readers have it:
	// only then is the next one posted.
	post := func() {
		var m rooms.Message
		if err := json.Unmarshal(sender.call("chat", map[string]string{"roomId": "r", "content": content}), &m); err != nil || m.Order != n+1 {
			t.Fatalf("ack %+v, %v (want order %d)", m, err, n+1)
		}
		n = m.Order
		consume(observer, n)
		consume(sender, n)
	}
	for n < baseline {
		post()
	}
	slow := dialWS(t, es.addr, 4096)
	slow.join("r", "slow") // and never reads again
	joinedAt := n
	for !slowCut && n < maxMessages {
		post()
	}
	if !slowCut {
		t.Fatalf("the slow member was not cut off after %d messages of %d bytes", n, contentSize)
	}
	// Most of those were posted while its socket was full: its queue
	// overflowed only after budget bytes were waiting.
	if during := n - joinedAt; during < budget/contentSize {
		t.Errorf("cut off after %d messages, before its queue of %d bytes could fill", during, budget)
	}
	t.Logf("%d messages before the slow member joined, %d more until it was cut off; each reached the others before the next was posted", baseline, n-joinedAt)
}

// TestConcurrentSendersOverWebSocket: 20 clients post at once, without
// waiting for anything; every client sees orders 1..N exactly once, in order.
func TestConcurrentSendersOverWebSocket(t *testing.T) {
	const senders, perSender = 20, 10
	const total = senders * perSender
	for _, delivery := range []Delivery{DeliveryRoom, DeliveryGlobal} {
		t.Run(string(delivery), func(t *testing.T) {
			addr := startEngineServer(t, engineio.Config{}, Config{Delivery: delivery, EventRate: -1}).addr
			clients := make([]*wsClient, senders)
			for i := range clients {
				clients[i] = dialWS(t, addr, 0)
				clients[i].join("r", fmt.Sprintf("user%d", i))
			}
			for _, c := range clients {
				c.startReading()
			}
			var wg sync.WaitGroup
			for i, c := range clients {
				wg.Go(func() {
					for j := range perSender {
						b, _ := json.Marshal([]any{"exchanges", map[string]string{"roomId": "r", "username": fmt.Sprintf("user%d", i), "content": fmt.Sprintf("%d-%d", i, j)}})
						if err := c.write("42" + string(b)); err != nil {
							t.Errorf("client %d: %v", i, err)
							return
						}
					}
				})
			}
			wg.Wait()
			for i, c := range clients {
				seen := make(map[string]bool)
				for next := int64(1); next <= total; {
					e := c.nextEvent()
					if strings.HasPrefix(e.name, "participants/") {
						continue // lists from later joins
					}
					var m rooms.Message
					if e.name != "r" || json.Unmarshal(e.arg, &m) != nil || m.Order != next {
						t.Fatalf("client %d: got %s %s, want order %d", i, e.name, e.arg, next)
					}
					if seen[m.Content] {
						t.Fatalf("client %d: content %q twice", i, m.Content)
					}
					seen[m.Content] = true
					next++
				}
			}
		})
	}
}

// TestEngineCookieRestoresMembership drives the restore through the real
// engine: the reconnecting client presents the io cookie of its cut session.
func TestEngineCookieRestoresMembership(t *testing.T) {
	addr := startEngineServer(t, engineio.Config{Cookie: "io"}, Config{}).addr
	sender := dialWS(t, addr, 0)
	sender.join("r", "sender")

	// A 2.x-style client: EIO3 over WebSocket, root namespace connected by the server.
	dialEIO3 := func(cookie string) (*websocket.Conn, string) {
		h := http.Header{}
		if cookie != "" {
			h.Set("Cookie", "io="+cookie)
		}
		conn, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+"/socket.io/?EIO=3&transport=websocket", h)
		if err != nil {
			t.Fatalf("dial: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetReadDeadline(time.Now().Add(waitFor))
		_, open, err := conn.ReadMessage()
		if err != nil || !bytes.HasPrefix(open, []byte("0{")) {
			t.Fatalf("open %q %v", open, err)
		}
		// What a browser would keep in its cookie jar.
		for _, ck := range resp.Cookies() {
			if ck.Name == "io" {
				return conn, ck.Value
			}
		}
		t.Fatalf("no io cookie in the upgrade response: %v", resp.Header)
		return nil, ""
	}
	readEvent := func(conn *websocket.Conn, name string) json.RawMessage {
		for {
			conn.SetReadDeadline(time.Now().Add(waitFor))
			_, data, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("waiting for %s: %v", name, err)
			}
			if e, ok := parseEvent(string(data)); ok && e.name == name {
				return e.arg
			}
		}
	}
	first, jar := dialEIO3("")
	first.WriteMessage(websocket.TextMessage, []byte(`42["participants",{"roomId":"r","username":"Toto","avatar":"a"}]`))
	readEvent(first, "participants/r")
	sender.readUntilEvent("participants/r")
	first.Close()                           // the transport is cut: no close packet
	sender.readUntilEvent("participants/r") // Toto now disconnected

	second, _ := dialEIO3(jar)
	sender.emit("exchanges", map[string]string{"roomId": "r", "username": "sender", "content": "still there?", "createdAt": "t"})
	var m rooms.Message
	if err := json.Unmarshal(readEvent(second, "r"), &m); err != nil || m.Content != "still there?" {
		t.Fatalf("restored client got %+v, %v", m, err)
	}
}
