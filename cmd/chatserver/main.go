// Command chatserver serves the rooms REST API and the Socket.IO chat gateway
// on one port. It only reads configuration and wires the packages together.
package main

import (
	"cmp"
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
	"time"

	"github.com/labstack/echo/v4"

	"chatgateway/cmd/chatserver/memtrim"
	"chatgateway/gateway"
	"chatgateway/gateway/admin"
	"chatgateway/gateway/engineio"
	"chatgateway/gateway/jwtauth"
	"chatgateway/gateway/socketio"
	"chatgateway/httpapi"
	"chatgateway/httpapi/edge"
	"chatgateway/httpapi/ops"
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
	logger := newLogger(os.Stderr, cfg)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, cfg, logger, nil); err != nil {
		var failed *startError
		if errors.As(err, &failed) {
			logger.Error("chatserver failed to start", "err", failed.err)
		} else {
			logger.Error("chatserver failed", "err", err)
		}
		os.Exit(1)
	}
}

// startError is a failure before the server served anything: a port in
// use, a store that cannot be opened, a bad key file.
type startError struct{ err error }

func (e *startError) Error() string { return "start failed: " + e.err.Error() }
func (e *startError) Unwrap() error { return e.err }

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
	srv, stopStarted, err := start(ctx, cfg, logger)
	if err != nil {
		return &startError{err}
	}
	defer stopStarted()
	if ready != nil {
		ready <- srv.ln.Addr()
	}
	return srv.serve(ctx, cfg, logger)
}

// server is everything start built, ready to serve.
type server struct {
	ln     net.Listener
	http   *http.Server
	sio    *socketio.Server
	gw     *gateway.Gateway
	health *ops.Health
}

// start builds the server; stop releases what it opened (the listeners,
// the store).
func start(ctx context.Context, cfg config, logger *slog.Logger) (_ *server, stop func(), err error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	// Listen first: a port in use fails before the store is touched.
	maxConns, note, err := edge.ConnCap(cfg.MaxConns, cfg.FDReserve)
	if err != nil {
		return nil, nil, err
	}
	if note != "" {
		logger.Warn(note)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return nil, nil, err
	}
	closers = append(closers, func() { ln.Close() })
	timeouts := edge.Timeouts{
		Header:         cfg.HeaderTimeout,
		Read:           cfg.ReadTimeout,
		Write:          cfg.WriteTimeout,
		Idle:           cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
	}
	if cfg.PprofAddr != "" {
		stopPprof, err := serveSide("pprof", cfg.PprofAddr, pprofHandler(), timeouts, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("pprof: %w", err)
		}
		closers = append(closers, stopPprof)
	}
	metrics := ops.NewMetrics()
	if cfg.MetricsAddr != "" {
		stopMetrics, err := serveSide("metrics", cfg.MetricsAddr, metricsHandler(metrics), timeouts, logger)
		if err != nil {
			return nil, nil, fmt.Errorf("metrics: %w", err)
		}
		closers = append(closers, stopMetrics)
	}
	if cfg.MemoryTrim > 0 {
		trimCtx, stopTrim := context.WithCancel(ctx)
		trimmed := make(chan struct{})
		go func() { defer close(trimmed); memtrim.Run(trimCtx, cfg.MemoryTrim, logger) }()
		// Stopped with the server, not when start returns: a deferred stop
		// here ended the trimmer as soon as the server was up.
		closers = append(closers, func() { stopTrim(); <-trimmed })
	}
	nodeID := cfg.NodeID
	if nodeID == "" {
		nodeID = gateway.NewNodeID()
	}
	be, err := openBackend(ctx, cfg, nodeID, logger)
	if err != nil {
		return nil, nil, fmt.Errorf("store %s: %w", redactStore(cfg.Store), err)
	}
	closers = append(closers, func() {
		if err := be.close(); err != nil {
			logger.Warn("store close", "err", err)
		}
	})
	if be.brokerStats != nil {
		stats := be.brokerStats.Stats
		brokerStats.Store(&stats)
		closers = append(closers, func() { brokerStats.Store(nil) })
	}
	svc := rooms.NewService(metrics.InstrumentStore(be.store),
		rooms.WithMaxContentBytes(cfg.MaxContentBytes),
		rooms.WithMaxRange(cfg.MaxRange),
		rooms.WithParticipantLimits(cfg.MaxParticipants, cfg.Retention))
	clientIPs := edge.NewClientIPs(cfg.TrustedProxies)
	sessionCap := edge.NewSessionCap(clientIPs, cfg.MaxSessionsPerIP)

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
			AdmitSession:     sessionCap.Admit,
			Logger:           logger,
		},
		MaxAttachments: cfg.MaxAttachments,
		MaxJSONDepth:   cfg.MaxJSONDepth,
		ConnectTimeout: cfg.ConnectTimeout,
		Logger:         logger,
	})
	auth, err := authenticator(cfg)
	if err != nil {
		return nil, nil, err
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
		Sessions:          metrics.InstrumentSessions(be.sessions),
		ReorderTimeout:    cfg.ReorderTimeout,
		ReorderLimit:      cfg.ReorderLimit,
		StoreTimeout:      cfg.StoreTimeout,
		MaxFieldBytes:     cfg.MaxFieldBytes,
		Broker:            be.broker,
		NodeID:            nodeID,
		Nodes:             metrics.InstrumentNodes(be.nodes),
		HeartbeatInterval: cfg.HeartbeatEvery,
		NodeTTL:           cfg.NodeTTL,
		ListBroadcastMax:  cfg.ListBroadcast,
		ListInterval:      cfg.ListInterval,
	}, logger)
	cancelSubscribe()
	if err != nil {
		return nil, nil, err
	}
	gw.Register(sio)
	if cfg.AdminUIUsername != "" {
		adm, err := admin.New(admin.Config{
			Username:     cfg.AdminUIUsername,
			PasswordHash: cfg.AdminUIPassword,
			Mode:         admin.Mode(cfg.AdminUIMode),
			ReadOnly:     cfg.AdminUIReadOnly,
			ServerID:     nodeID,
			Logger:       logger,
		})
		if err != nil {
			return nil, nil, err
		}
		adm.Register(sio, gw)
		closers = append(closers, adm.Shutdown)
	}

	e := httpapi.New(svc, logger,
		httpapi.WithMaxBodyBytes(cfg.MaxBodyBytes),
		httpapi.WithMaxFieldBytes(cfg.MaxFieldBytes),
		httpapi.WithWriteLimiter(edge.RequestLimiter{IPs: clientIPs, Limiter: edge.NewRateLimiter(cfg.RESTWriteRate, cfg.RESTWriteBurst)}),
		httpapi.WithAdminToken(cfg.AdminToken),
		httpapi.WithCORSOrigins(cfg.RESTCORSOrigins),
		httpapi.WithRefusalHook(metrics.RESTRefused),
	)
	e.Any("/socket.io/", echo.WrapHandler(sio))
	e.Any("/socket.io/*", echo.WrapHandler(sio))

	health := ops.NewHealth(cfg.ReadyTimeout, logger, readinessChecks(be)...)
	for path, h := range map[string]http.HandlerFunc{ops.PathHealthz: health.Live, ops.PathReadyz: health.Ready} {
		e.GET(path, echo.WrapHandler(h))
		e.HEAD(path, echo.WrapHandler(h))
	}
	if cfg.MetricsAddr == "" {
		e.GET(ops.PathMetrics, echo.WrapHandler(metrics.Handler()))
	}

	capped := edge.NewListener(ln, edge.Limits{MaxConns: maxConns, MaxConnsPerIP: cfg.MaxConnsPerIP, ClientIPs: clientIPs, Logger: logger})
	metrics.Observe(ops.Sources{
		Engine:   sio.Engine(),
		Events:   sio,
		Gateway:  gw,
		Listener: capped,
		Sessions: sessionCap,
		Broker:   be.brokerStats,
	})
	srv := &server{
		ln:     capped,
		http:   edge.NewServer(ops.AccessLog(e, logger), timeouts, logger),
		sio:    sio,
		gw:     gw,
		health: health,
	}
	logger.Info("chatserver listening", "addr", ln.Addr().String(), "store", redactStore(cfg.Store), "delivery", cfg.Delivery, "node", nodeID,
		"max_conns", maxConns, "admin_token", cfg.AdminToken != "", "admin_ui", cfg.AdminUIUsername != "", "auth", auth != nil, "metrics", cmp.Or(cfg.MetricsAddr, ops.PathMetrics))
	return srv, closeAll, nil
}

// readinessChecks are the parts of the backend /readyz asks: those that
// can be unreachable (SQLite and Redis stores, the Redis broker).
func readinessChecks(be backend) []ops.Check {
	var checks []ops.Check
	if p, ok := be.store.(ops.Pinger); ok {
		checks = append(checks, ops.Check{Name: "store", Pinger: p})
	}
	if p, ok := be.broker.(ops.Pinger); ok {
		checks = append(checks, ops.Check{Name: "broker", Pinger: p})
	}
	return checks
}

// serve serves until ctx ends, then drains and shuts down cleanly.
func (s *server) serve(ctx context.Context, cfg config, logger *slog.Logger) error {
	served := make(chan error, 1)
	go func() { served <- s.http.Serve(s.ln) }()

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	// Not ready any more, while everything still works: a load balancer
	// probing /readyz stops sending before connections are refused.
	s.health.Drain()
	if cfg.DrainDelay > 0 {
		logger.Info("chatserver draining", "delay", cfg.DrainDelay)
		time.Sleep(cfg.DrainDelay)
	}
	logger.Info("chatserver shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := s.sio.Shutdown(shutdownCtx); err != nil {
		logger.Warn("socket.io shutdown incomplete", "err", err)
	}
	if err := s.http.Shutdown(shutdownCtx); err != nil {
		logger.Warn("http shutdown incomplete", "err", err)
	}
	s.gw.Shutdown(shutdownCtx)
	logger.Info("chatserver stopped")
	return nil
}
