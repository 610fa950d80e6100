//go:build unix

package interop

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/labstack/echo/v4"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/interop/nodetest"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/httpapi/edge"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// chatScriptsDir holds the chat scenario scripts, under the node directory.
const chatScriptsDir = "chat"

// TestChatScenarios runs the real-client chat scenarios (transcript replay,
// room isolation, chat/messages, reconnect) with socket.io-client 2.5 and
// 4.8 against the full server: with the defaults of each delivery mode
// (room delivery binds identity, global keeps it open), and room delivery
// with the original's open identity.
func TestChatScenarios(t *testing.T) {
	nodeDir := nodetest.Dir(t)
	files, err := filepath.Glob(filepath.Join(nodeDir, chatScriptsDir, "*.test.mjs"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no chat scripts under %s/%s (err %v)", nodeDir, chatScriptsDir, err)
	}
	for _, mode := range []struct {
		delivery gateway.Delivery
		identity gateway.Identity
	}{
		{gateway.DeliveryRoom, gateway.IdentityBound},
		{gateway.DeliveryRoom, gateway.IdentityOpen},
		{gateway.DeliveryGlobal, gateway.IdentityOpen},
	} {
		t.Run(string(mode.delivery)+"-"+string(mode.identity), func(t *testing.T) {
			runChatScripts(t, nodeDir, files, mode.delivery, mode.identity)
		})
	}
}

// chatServer is the whole product wired as cmd/chatserver does: rooms
// service on the memory store, the REST API, and the Socket.IO gateway on
// the same Echo instance.
type chatServer struct {
	url      string
	sio      *socketio.Server
	gw       *gateway.Gateway
	http     *http.Server
	served   chan error
	problems *problemLog
}

// wiring is the server's parts a test may add to before it serves.
type wiring struct {
	e   *echo.Echo
	sio *socketio.Server
	gw  *gateway.Gateway
}

// startChatServer wires the server as cmd/chatserver does; mount, when
// given, adds to it before it serves (test-only routes, the admin
// namespace).
func startChatServer(t *testing.T, delivery gateway.Delivery, identity gateway.Identity, logger *slog.Logger, problems *problemLog, mount ...func(wiring)) *chatServer {
	t.Helper()
	store := memstore.New()
	svc := rooms.NewService(store)
	sio := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{Cookie: "io", Logger: logger},
		Logger: logger,
	})
	gw, err := gateway.New(context.Background(), svc, gateway.Config{Delivery: delivery, Identity: identity, Sessions: store}, logger)
	if err != nil {
		t.Fatal(err)
	}
	gw.Register(sio)
	e := httpapi.New(svc, logger)
	e.Any("/socket.io/", echo.WrapHandler(sio))
	e.Any("/socket.io/*", echo.WrapHandler(sio))
	for _, m := range mount {
		m(wiring{e: e, sio: sio, gw: gw})
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, "0"))
	if err != nil {
		t.Fatal(err)
	}
	s := &chatServer{
		url: "http://" + ln.Addr().String(),
		sio: sio,
		gw:  gw,
		// The edge of every listener, with its defaults, as cmd/chatserver
		// serves: real clients must never notice it.
		http:     edge.NewServer(e, edge.Timeouts{}, logger),
		served:   make(chan error, 1),
		problems: problems,
	}
	go func() {
		s.served <- s.http.Serve(edge.NewListener(ln, edge.Limits{MaxConns: 10_000, ClientIPs: edge.NewClientIPs(nil), Logger: logger}))
	}()
	return s
}

// stop shuts down as cmd/chatserver does and reports what went wrong.
func (s *chatServer) stop() []error {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	var errs []error
	if err := s.sio.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := s.http.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := <-s.served; !errors.Is(err, http.ErrServerClosed) {
		errs = append(errs, err)
	}
	if err := s.gw.Shutdown(ctx); err != nil {
		errs = append(errs, err)
	}
	return append(errs, s.problems.errors()...)
}

// problemLog collects server log records at error level (handler panics,
// encoding failures, internal errors): none is acceptable in these scenarios.
type problemLog struct {
	slog.Handler
	mu       *sync.Mutex
	problems *[]string
}

func newProblemLog(next slog.Handler) *problemLog {
	return &problemLog{Handler: next, mu: &sync.Mutex{}, problems: new([]string)}
}

func (p *problemLog) Handle(ctx context.Context, r slog.Record) error {
	if r.Level >= slog.LevelError {
		var b strings.Builder
		b.WriteString(r.Message)
		r.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.String())
			return true
		})
		p.mu.Lock()
		*p.problems = append(*p.problems, b.String())
		p.mu.Unlock()
	}
	return p.Handler.Handle(ctx, r)
}

func (p *problemLog) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &problemLog{Handler: p.Handler.WithAttrs(attrs), mu: p.mu, problems: p.problems}
}

func (p *problemLog) WithGroup(name string) slog.Handler {
	return &problemLog{Handler: p.Handler.WithGroup(name), mu: p.mu, problems: p.problems}
}

func (p *problemLog) errors() []error {
	p.mu.Lock()
	defer p.mu.Unlock()
	var errs []error
	for _, msg := range *p.problems {
		errs = append(errs, errors.New("server logged an error: "+msg))
	}
	return errs
}

func runChatScripts(t *testing.T, nodeDir string, files []string, delivery gateway.Delivery, identity gateway.Identity) {
	t.Helper()
	serverLog := nodetest.NewLineLogger(t, "server: ")
	defer serverLog.Stop()
	problems := newProblemLog(slog.NewTextHandler(serverLog, &slog.HandlerOptions{Level: slog.LevelInfo}))
	srv := startChatServer(t, delivery, identity, slog.New(problems), problems)
	t.Logf("chat server %s, DELIVERY=%s IDENTITY=%s", srv.url, delivery, identity)

	runNode(t, nodeDir, files, []string{"SERVER_URL=" + srv.url, "DELIVERY=" + string(delivery), "IDENTITY=" + string(identity)}, srv.stop, "chat server")
}
