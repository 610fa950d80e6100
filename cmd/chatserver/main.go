// Command chatserver serves the rooms REST API and the Socket.IO chat gateway
// on one port. It only reads configuration and wires the packages together.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"github.com/labstack/echo/v4"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/rooms"
	"chatgateway/rooms/memstore"
)

func main() {
	cfg, err := loadConfig(os.Args[1:], os.Getenv, os.Stderr)
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "chatserver:", err)
		os.Exit(2)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, nil); err != nil {
		logger.Error("chatserver stopped", "err", err)
		os.Exit(1)
	}
}

func openStore(cfg config) (rooms.Store, error) {
	switch cfg.Store {
	case "memory":
		return memstore.New(), nil
	default:
		return nil, fmt.Errorf("unknown STORE %q (supported: memory)", cfg.Store)
	}
}

// run serves until ctx ends, then shuts down cleanly: new sessions are
// refused, connected sockets get a close packet, in-flight requests finish.
// ready, when not nil, receives the bound address.
func run(ctx context.Context, cfg config, logger *slog.Logger, ready chan<- net.Addr) error {
	store, err := openStore(cfg)
	if err != nil {
		return err
	}
	svc := rooms.NewService(store, rooms.WithMaxContentBytes(cfg.MaxContentBytes))

	sio := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{
			PingInterval:     cfg.PingInterval,
			PingTimeout:      cfg.PingTimeout,
			UpgradeTimeout:   cfg.UpgradeTimeout,
			MaxPayload:       cfg.MaxPayload,
			MaxFrame:         cfg.MaxFrame,
			MaxBufferedBytes: cfg.MaxBuffered,
			AllowedOrigins:   cfg.CORSOrigins,
			Cookie:           cfg.Cookie,
			Logger:           logger,
		},
		MaxAttachments: cfg.MaxAttachments,
		MaxJSONDepth:   cfg.MaxJSONDepth,
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         logger,
	})
	gw := gateway.New(svc, gateway.Config{
		Delivery:       gateway.Delivery(cfg.Delivery),
		RejoinGrace:    cfg.RejoinGrace,
		ReorderTimeout: cfg.ReorderTimeout,
		ReorderLimit:   cfg.ReorderLimit,
		StoreTimeout:   cfg.StoreTimeout,
		MaxFieldBytes:  cfg.MaxFieldBytes,
	}, logger)
	gw.Register(sio)

	e := httpapi.New(svc, logger, httpapi.WithMaxBodyBytes(cfg.MaxBodyBytes))
	e.Any("/socket.io/", echo.WrapHandler(sio))
	e.Any("/socket.io/*", echo.WrapHandler(sio))

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: e, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelDebug)}
	logger.Info("chatserver listening", "addr", ln.Addr().String(), "store", cfg.Store, "delivery", cfg.Delivery)
	if ready != nil {
		ready <- ln.Addr()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	logger.Info("chatserver shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := sio.Shutdown(shutdownCtx); err != nil {
		logger.Warn("socket.io shutdown incomplete", "err", err)
	}
	if err := srv.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown incomplete", "err", err)
	}
	gw.Shutdown(shutdownCtx)
	logger.Info("chatserver stopped")
	return nil
}
