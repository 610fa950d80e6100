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
)

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

// servePprof serves the runtime profiles, and the expvar counters
// (/debug/vars: memstats, the Redis broker's), on their own listener,
// never on the public port, for benchmarks and diagnosis.
// pprofMaxConns caps the pprof listener's connections (they come out of
// FD_RESERVE).
const pprofMaxConns = 8

func servePprof(addr string, timeouts edge.Timeouts, logger *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/debug/vars", expvar.Handler())
	// The same hardening as the public port; WRITE_TIMEOUT is per write,
	// so a 30 s CPU profile is not cut.
	srv := edge.NewServer(mux, timeouts, logger)
	go func() { _ = srv.Serve(edge.NewListener(ln, edge.Limits{MaxConns: pprofMaxConns, Logger: logger})) }()
	logger.Info("pprof listening", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}
