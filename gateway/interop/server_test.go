package interop

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
)

// This file is the Go side of the test server contract that the Node and
// browser clients exercise. Its twin on top of the real socket.io 4.8 server
// is node/refserver.mjs; the two must stay behaviourally identical.

// namespaces get identical handlers; every other namespace is refused.
var namespaces = []string{"/", "/custom"}

const (
	loopback = "127.0.0.1"
	// shutdownTimeout bounds how long a retired or final Socket.IO server
	// may take to shut down before the test reports it as stuck.
	shutdownTimeout = 10 * time.Second
	// staticRoutesFile maps control-server URL paths to files under node/;
	// refserver.mjs reads the same file.
	staticRoutesFile = "static-routes.json"
	// The heartbeat must not end a live session on a loaded machine: 200
	// socket.io-client 2.x clients in one Node process (the burst test)
	// send their pings late when other tests share the cores, and a 3 s
	// timeout once ended sessions the clients were still using ("xhr post
	// error"). Closed clients end their sessions at once (a close packet,
	// a closed socket, an aborted poll); only a client torn down between
	// two requests is left to the heartbeat, which the tests' drain
	// deadlines (harnessReapWait in node/test/lib.mjs) allow for.
	harnessPingInterval = 5 * time.Second
	harnessPingTimeout  = 20 * time.Second
)

// socketCounter counts OnConnect and OnDisconnect calls of one server
// instance; after shutdown they must balance.
type socketCounter struct {
	mu          sync.Mutex
	connects    int
	disconnects int
}

func (s *socketCounter) connected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.connects++
}

func (s *socketCounter) disconnected() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.disconnects++
}

// balance reports connects and disconnects seen so far.
func (s *socketCounter) balance() (connects, disconnects int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.connects, s.disconnects
}

// trackingListener remembers every accepted connection, including the ones
// net/http hands over on a WebSocket hijack, so a restart can cut them all.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

type trackedConn struct {
	net.Conn
	owner *trackingListener
	once  sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.owner.mu.Lock()
		delete(c.owner.conns, c)
		c.owner.mu.Unlock()
	})
	return c.Conn.Close()
}

func (l *trackingListener) Accept() (net.Conn, error) {
	conn, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: conn, owner: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// closeAll drops every live connection without any goodbye.
func (l *trackingListener) closeAll() {
	l.mu.Lock()
	conns := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
}

// sioInstance is one incarnation of the Socket.IO server; /restart replaces
// the current one with a fresh one on the same port.
type sioInstance struct {
	server    *socketio.Server
	http      *http.Server
	listener  *trackingListener
	sockets   *socketCounter
	serveDone chan struct{}
}

// kill stops accepting and cuts every connection, as if the process died:
// clients get no close or disconnect packet.
func (in *sioInstance) kill() {
	_ = in.listener.Close()
	in.listener.closeAll()
	_ = in.http.Close()
	<-in.serveDone
}

// harness runs the Socket.IO test server and its control server.
type harness struct {
	sioURL     string
	controlURL string

	sioAddr string
	nodeDir string
	logger  *slog.Logger
	routes  map[string]string
	burst   atomic.Int64

	restartMu sync.Mutex // serialises restarts
	mu        sync.Mutex
	current   *sioInstance
	instances []*sioInstance
	problems  []error

	retiring    sync.WaitGroup // shutdowns of replaced instances
	control     *http.Server
	controlDone chan struct{}
}

// startHarness starts both servers on loopback; stop them with close.
func startHarness(t *testing.T, nodeDir string, logger *slog.Logger) *harness {
	t.Helper()
	h := &harness{nodeDir: nodeDir, logger: logger}

	raw, err := os.ReadFile(filepath.Join(nodeDir, staticRoutesFile))
	if err != nil {
		t.Fatalf("read static routes: %v", err)
	}
	var routes struct {
		Routes map[string]string `json:"routes"`
	}
	if err := json.Unmarshal(raw, &routes); err != nil {
		t.Fatalf("parse %s: %v", staticRoutesFile, err)
	}
	h.routes = routes.Routes

	first, err := h.startInstance(net.JoinHostPort(loopback, "0"))
	if err != nil {
		t.Fatalf("start Socket.IO server: %v", err)
	}
	h.sioAddr = first.listener.Addr().String()
	h.current = first
	h.sioURL = "http://" + h.sioAddr

	controlLn, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		first.kill()
		t.Fatalf("listen for control server: %v", err)
	}
	h.control = &http.Server{Handler: h.controlHandler(), ReadHeaderTimeout: 10 * time.Second}
	h.controlDone = make(chan struct{})
	go func() {
		defer close(h.controlDone)
		_ = h.control.Serve(controlLn)
	}()
	h.controlURL = "http://" + controlLn.Addr().String()
	return h
}

// startInstance builds a fresh Socket.IO server and serves it on addr.
func (h *harness) startInstance(addr string) (*sioInstance, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	sockets := &socketCounter{}
	srv := h.newSocketServer(sockets)
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	in := &sioInstance{
		server:    srv,
		http:      &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second},
		listener:  &trackingListener{Listener: ln, conns: make(map[*trackedConn]struct{})},
		sockets:   sockets,
		serveDone: make(chan struct{}),
	}
	go func() {
		defer close(in.serveDone)
		_ = in.http.Serve(in.listener)
	}()
	h.mu.Lock()
	h.instances = append(h.instances, in)
	h.mu.Unlock()
	return in, nil
}

// newSocketServer registers the contract's handlers on every namespace.
func (h *harness) newSocketServer(sockets *socketCounter) *socketio.Server {
	srv := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{PingInterval: harnessPingInterval, PingTimeout: harnessPingTimeout},
		Logger: h.logger,
	})
	for _, ns := range namespaces {
		srv.OnConnect(ns, func(c socketio.Conn) error {
			sockets.connected()
			return nil
		})
		srv.OnDisconnect(ns, func(c socketio.Conn, reason string) {
			sockets.disconnected()
		})
		// A variadic handler receives every argument, attachments as []byte
		// wherever they are nested; an Args result is spread into the ack.
		srv.OnEvent(ns, "echo-ack", func(c socketio.Conn, args ...any) socketio.Args {
			return args
		})
		// No results: no acknowledgement, as the original's exchanges.
		srv.OnEvent(ns, "exchanges", func(c socketio.Conn, payload json.RawMessage) {})
		srv.OnEvent(ns, "echo-emit", func(c socketio.Conn, args ...any) {
			h.check(c.Emit("echo-back", args...), "emit echo-back")
		})
		srv.OnEvent(ns, "ask-client", func(c socketio.Conn) {
			err := c.Emit("question", map[string]any{"q": "ping?"}, func(answer any) {
				h.check(c.Emit("answer", answer), "emit answer")
			})
			h.check(err, "emit question")
		})
		srv.OnEvent(ns, "disconnect-me", func(c socketio.Conn) {
			h.check(c.Close(), "close on disconnect-me")
		})
		srv.OnEvent(ns, "burst", func(c socketio.Conn, n int) int {
			h.burst.Add(1)
			return n
		})
	}
	return srv
}

// check records a handler failure; close reports them all.
func (h *harness) check(err error, what string) {
	if err == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	h.problems = append(h.problems, fmt.Errorf("%s: %w", what, err))
}

// restart drops every session and listens again on the same port. The old
// server is shut down in the background so that a slow Shutdown cannot
// delay the reconnecting clients; close waits for it.
func (h *harness) restart() error {
	h.restartMu.Lock()
	defer h.restartMu.Unlock()

	h.mu.Lock()
	old := h.current
	h.mu.Unlock()
	old.kill()

	fresh, err := h.startInstance(h.sioAddr)
	if err != nil {
		return fmt.Errorf("listen again on %s: %w", h.sioAddr, err)
	}
	h.mu.Lock()
	h.current = fresh
	h.mu.Unlock()

	h.retiring.Add(1)
	go func() {
		defer h.retiring.Done()
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		h.check(old.server.Shutdown(ctx), "shutdown of the restarted server")
	}()
	return nil
}

func (h *harness) controlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /restart", func(w http.ResponseWriter, r *http.Request) {
		if err := h.restart(); err != nil {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeJSON(w, http.StatusOK, map[string]bool{"restarted": true})
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		current := h.current
		h.mu.Unlock()
		// Open Engine.IO sessions, the number refserver.mjs reports too.
		writeJSON(w, http.StatusOK, map[string]int64{
			"sessions": int64(current.server.Engine().SessionCount()),
			"burst":    h.burst.Load(),
		})
	})
	mux.HandleFunc("POST /reset-stats", func(w http.ResponseWriter, r *http.Request) {
		h.burst.Store(0)
		writeJSON(w, http.StatusOK, map[string]bool{"reset": true})
	})
	mux.HandleFunc("GET /", h.serveStatic)
	return mux
}

var contentTypes = map[string]string{
	".html": "text/html; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
}

// serveStatic serves only the files listed in static-routes.json.
func (h *harness) serveStatic(w http.ResponseWriter, r *http.Request) {
	rel, ok := h.routes[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	body, err := os.ReadFile(filepath.Join(h.nodeDir, filepath.FromSlash(rel)))
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot read %s: %v", rel, err), http.StatusInternalServerError)
		return
	}
	ct, ok := contentTypes[filepath.Ext(rel)]
	if !ok {
		ct = "application/octet-stream"
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// close stops everything and returns what went wrong along the way:
// handler errors, failed shutdowns, and sessions whose disconnect was
// never reported.
func (h *harness) close() []error {
	_ = h.control.Close()
	<-h.controlDone

	h.restartMu.Lock()
	defer h.restartMu.Unlock()
	h.mu.Lock()
	last := h.current
	h.mu.Unlock()
	last.kill()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	h.check(last.server.Shutdown(ctx), "final shutdown")
	h.retiring.Wait()

	h.mu.Lock()
	instances := append([]*sioInstance(nil), h.instances...)
	h.mu.Unlock()
	for i, in := range instances {
		if err := waitBalanced(in.sockets, shutdownTimeout); err != nil {
			h.check(err, fmt.Sprintf("server instance %d", i))
		}
	}

	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]error(nil), h.problems...)
}

// waitBalanced waits until every OnConnect of a shut-down server has had
// its OnDisconnect. Shutdown may deliver them asynchronously, so this polls
// the condition against a deadline.
func waitBalanced(s *socketCounter, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	ticker := time.NewTicker(10 * time.Millisecond)
	defer ticker.Stop()
	for {
		connects, disconnects := s.balance()
		if connects == disconnects {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d OnConnect but %d OnDisconnect after shutdown", connects, disconnects)
		}
		<-ticker.C
	}
}
