package main

import (
	"expvar"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync/atomic"

	"chatgateway/gateway/redisbroker"
	"chatgateway/httpapi/edge"
	"chatgateway/httpapi/ops"
)

// sideMaxConns caps the connections of a side listener (pprof, metrics):
// they come out of FD_RESERVE.
const sideMaxConns = 8

// brokerStats reads the running server's Redis broker counters, served as
// expvar "broker" on PPROF_ADDR's /debug/vars (null without a Redis store).
var brokerStats atomic.Pointer[func() redisbroker.Stats]

func init() {
	expvar.Publish("broker", expvar.Func(func() any {
		if f := brokerStats.Load(); f != nil {
			return (*f)()
		}
		return nil
	}))
}

// pprofHandler serves the runtime profiles and the expvar counters
// (/debug/vars: memstats, the Redis broker's), on their own listener,
// never on the public port, for benchmarks and diagnosis.
func pprofHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	return mux
}

// metricsHandler serves /metrics alone (METRICS_ADDR).
func metricsHandler(m *ops.Metrics) http.Handler {
	mux := http.NewServeMux()
	mux.Handle(ops.PathMetrics, m.Handler())
	return mux
}

// serveSide serves h on its own listener at addr with the public port's
// hardening; WRITE_TIMEOUT is per write, so a 30 s CPU profile is not cut.
func serveSide(name, addr string, h http.Handler, timeouts edge.Timeouts, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	srv := edge.NewServer(h, timeouts, logger)
	go func() { _ = srv.Serve(edge.NewListener(ln, edge.Limits{MaxConns: sideMaxConns, Logger: logger})) }()
	logger.Info(name+" listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
