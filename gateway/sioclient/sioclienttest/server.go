// Package sioclienttest runs the whole chat server (REST API, Socket.IO
// engine, gateway, in-memory store) in the test process on a loopback port,
// wired as cmd/chatserver wires it, for tests of sioclient and of tools
// built on it.
package sioclienttest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/labstack/echo/v4"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/internal/warmgo"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

// KeptGoroutineFunction is where the server's kept goroutines wait between
// tasks (they leave after a second idle): leak checks of tests that ran a
// server pass it to goleak.IgnoreAnyFunction.
const KeptGoroutineFunction = warmgo.IdleFunction

// shutdownTimeout bounds the server's shutdown at the end of a test.
const shutdownTimeout = 10 * time.Second

// Options configure Start. Zero values take the server's defaults.
type Options struct {
	// Delivery is gateway.DeliveryRoom (default) or gateway.DeliveryGlobal.
	Delivery gateway.Delivery
	// PingInterval and PingTimeout set the Engine.IO heartbeat.
	PingInterval, PingTimeout time.Duration
	// Rooms are created before Start returns, by user "bob".
	Rooms []string
	// Logger receives the server's logs (default: discarded).
	Logger *slog.Logger
	// EventRate is each socket's event budget (gateway.Config.EventRate);
	// 0 or negative: unlimited.
	EventRate float64
}

// Server is a running chat server.
type Server struct {
	// URL is the base URL, e.g. http://127.0.0.1:41234.
	URL string
	// Addr is the listening address, host:port.
	Addr string
	// Service is the rooms service behind the server.
	Service *rooms.Service
	// Engine is the Socket.IO server, e.g. to count sessions.
	Engine *socketio.Server
}

// Start serves a chat server on 127.0.0.1 until the end of the test.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	store := memstore.New()
	svc := rooms.NewService(store)
	sio := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{PingInterval: opts.PingInterval, PingTimeout: opts.PingTimeout, Logger: logger},
		Logger: logger,
	})
	// Client tests and load runs send as fast as they can: unless a test
	// sets one, the per-socket event budget meant for browsers is lifted.
	eventRate := opts.EventRate
	if eventRate == 0 {
		eventRate = -1
	}
	gw, err := gateway.New(context.Background(), svc, gateway.Config{Delivery: opts.Delivery, Sessions: store, EventRate: eventRate}, logger)
	if err != nil {
		tb.Fatal(err)
	}
	gw.Register(sio)
	e := httpapi.New(svc, logger)
	e.Any("/socket.io/", echo.WrapHandler(sio))
	e.Any("/socket.io/*", echo.WrapHandler(sio))

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: e, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
		defer cancel()
		if err := sio.Shutdown(ctx); err != nil {
			tb.Errorf("socket.io shutdown: %v", err)
		}
		if err := hs.Shutdown(ctx); err != nil {
			tb.Errorf("http shutdown: %v", err)
		}
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			tb.Errorf("serve: %v", err)
		}
		if err := gw.Shutdown(ctx); err != nil {
			tb.Errorf("gateway shutdown: %v", err)
		}
	})
	for _, id := range opts.Rooms {
		if err := svc.CreateRoom(context.Background(), rooms.CreateRoomInput{RoomID: id, CreatorUsername: "bob"}); err != nil {
			tb.Fatalf("create room %s: %v", id, err)
		}
	}
	addr := ln.Addr().String()
	return &Server{URL: fmt.Sprintf("http://%s", addr), Addr: addr, Service: svc, Engine: sio}
}
