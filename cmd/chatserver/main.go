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
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/labstack/echo/v4"

	"chatgateway/gateway"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/jwtauth"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/httpapi/edge"
	"chatgateway/rooms"
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

// authenticator builds the JWT verifier the settings ask for, or none.
func authenticator(cfg config) (gateway.Authenticator, error) {
	if cfg.JWTSecret == "" && cfg.JWTPublicKey == "" {
		return nil, nil
	}
	opts := jwtauth.Options{Secret: []byte(cfg.JWTSecret), Claim: cfg.JWTClaim}
	if cfg.JWTPublicKey != "" {
		pem, err := os.ReadFile(cfg.JWTPublicKey)
		if err != nil {
			return nil, fmt.Errorf("AUTH_JWT_PUBLIC_KEY: %w", err)
		}
		opts.PublicKeyPEM = pem
	}
	v, err := jwtauth.New(opts)
	if err != nil {
		return nil, err
	}
	return v, nil
}

// claimWait is how long a reconnecting 2.x client waits for a session that
// still looks live to end: long enough for the heartbeat to notice a dead
// connection, and, across nodes, for a killed node to be reaped.
func claimWait(cfg config) time.Duration {
	wait := cfg.PingInterval + cfg.PingTimeout
	if spec, err := parseStore(cfg.Store); err == nil && spec.shared() {
		wait = max(wait, cfg.NodeTTL+2*cfg.HeartbeatEvery)
	}
	return wait + time.Second
}

// run serves until ctx ends, then shuts down cleanly: new sessions are
// refused, connected sockets get a close packet, in-flight requests finish.
// ready, when not nil, receives the bound address.
func run(ctx context.Context, cfg config, logger *slog.Logger, ready chan<- net.Addr) error {
	// Listen first: a port in use fails before the store is touched.
	maxConns, note, err := edge.ConnCap(cfg.MaxConns, cfg.FDReserve)
	if err != nil {
		return err
	}
	if note != "" {
		logger.Warn(note)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return err
	}
	defer ln.Close()
	timeouts := edge.Timeouts{
		Header:         cfg.HeaderTimeout,
		Read:           cfg.ReadTimeout,
		Write:          cfg.WriteTimeout,
		Idle:           cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := servePprof(cfg.PprofAddr, timeouts, logger)
		if err != nil {
			return fmt.Errorf("pprof: %w", err)
		}
		defer stopPprof()
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		nodeID = gateway.NewNodeID()
	}
	be, err := openBackend(ctx, cfg, nodeID, logger)
	if err != nil {
		return fmt.Errorf("store %s: %w", cfg.Store, err)
	}
	defer func() {
		if err := be.close(); err != nil {
			logger.Warn("store close", "err", err)
		}
	}()
	if be.stats != nil {
		brokerStats.Store(&be.stats)
		defer brokerStats.Store(nil)
	}
	svc := rooms.NewService(be.store,
		rooms.WithMaxContentBytes(cfg.MaxContentBytes),
		rooms.WithMaxRange(cfg.MaxRange),
		rooms.WithParticipantLimits(cfg.MaxParticipants, cfg.Retention))
	clientIPs := edge.NewClientIPs(cfg.TrustedProxies)

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
			AdmitSession:     edge.NewSessionCap(clientIPs, cfg.MaxSessionsPerIP).Admit,
			Logger:           logger,
		},
		MaxAttachments: cfg.MaxAttachments,
		MaxJSONDepth:   cfg.MaxJSONDepth,
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         logger,
	})
	auth, err := authenticator(cfg)
	if err != nil {
		return err
	}
	subscribeCtx, cancelSubscribe := context.WithTimeout(ctx, cfg.StoreTimeout)
	gw, err := gateway.New(subscribeCtx, svc, gateway.Config{
		Delivery:          gateway.Delivery(cfg.Delivery),
		RejoinGrace:       cfg.RejoinGrace,
		RecoveryWindow:    cfg.RecoveryWindow,
		Identity:          gateway.Identity(cfg.Identity),
		Auth:              auth,
		EventRate:         cfg.EventRate,
		EventBurst:        cfg.EventBurst,
		MaxRoomsPerSocket: cfg.MaxRooms,
		ClaimWait:         claimWait(cfg),
		Sessions:          be.sessions,
		ReorderTimeout:    cfg.ReorderTimeout,
		ReorderLimit:      cfg.ReorderLimit,
		StoreTimeout:      cfg.StoreTimeout,
		MaxFieldBytes:     cfg.MaxFieldBytes,
		Broker:            be.broker,
		NodeID:            nodeID,
		Nodes:             be.nodes,
		HeartbeatInterval: cfg.HeartbeatEvery,
		NodeTTL:           cfg.NodeTTL,
		ListBroadcastMax:  cfg.ListBroadcast,
		ListInterval:      cfg.ListInterval,
	}, logger)
	cancelSubscribe()
	if err != nil {
		return err
	}
	gw.Register(sio)

	e := httpapi.New(svc, logger,
		httpapi.WithMaxBodyBytes(cfg.MaxBodyBytes),
		httpapi.WithMaxFieldBytes(cfg.MaxFieldBytes),
		httpapi.WithWriteLimiter(edge.RequestLimiter{IPs: clientIPs, Limiter: edge.NewRateLimiter(cfg.RESTWriteRate, cfg.RESTWriteBurst)}),
		httpapi.WithAdminToken(cfg.AdminToken),
	)
	e.Any("/socket.io/", echo.WrapHandler(sio))
	e.Any("/socket.io/*", echo.WrapHandler(sio))

	srv := edge.NewServer(e, timeouts, logger)
	capped := edge.NewListener(ln, edge.Limits{MaxConns: maxConns, MaxConnsPerIP: cfg.MaxConnsPerIP, ClientIPs: clientIPs, Logger: logger})
	logger.Info("chatserver listening", "addr", ln.Addr().String(), "store", cfg.Store, "delivery", cfg.Delivery, "node", nodeID,
		"max_conns", maxConns, "admin_token", cfg.AdminToken != "")
	if ready != nil {
		ready <- ln.Addr()
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(capped) }()

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
