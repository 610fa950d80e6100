package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
)

// serverKind is one of the three servers compared.
type serverKind string

const (
	kindOurs serverKind = "ours"
	kindNode serverKind = "node-sio"
	kindNest serverKind = "nest"
)

// serverSpec is a server and how it is loaded: the clients' Engine.IO
// revision and the delivery the load generator must expect.
type serverSpec struct {
	Kind serverKind `json:"kind"`
	// Delivery and Store configure our server; the baselines have fixed
	// ones (Node socket.io: room, NestJS: global; both in memory).
	Delivery string `json:"delivery"`
	Store    string `json:"store"`
	EIO      int    `json:"eio"`
	// PubSub and Nodes: a multi-node deployment of ours on Redis (store
	// "redis" or "redis-cluster"), PUBSUB and how many processes.
	PubSub string `json:"pubsub,omitempty"`
	Nodes  int    `json:"nodes,omitempty"`
}

// The configurations compared, like with like.
var (
	oursRoom   = serverSpec{Kind: kindOurs, Delivery: "room", Store: "memory", EIO: 4}
	oursGlobal = serverSpec{Kind: kindOurs, Delivery: "global", Store: "memory", EIO: 3}
	oursSQLite = serverSpec{Kind: kindOurs, Delivery: "room", Store: "sqlite", EIO: 4}
	nodeSIO    = serverSpec{Kind: kindNode, Delivery: "room", Store: "memory", EIO: 4}
	nestJS     = serverSpec{Kind: kindNest, Delivery: "global", Store: "memory", EIO: 3}
)

// label names the server for people.
func (s serverSpec) label() string {
	switch s.Kind {
	case kindNode:
		return "Node socket.io 4.8 (EIO4, room)"
	case kindNest:
		return "NestJS / socket.io 2 (EIO3, global)"
	}
	store := "memory"
	switch s.Store {
	case "sqlite":
		store = "sqlite, durable"
	case "redis":
		store = "one Redis"
	case "redis-cluster":
		store = fmt.Sprintf("Redis Cluster of %d", clusterMasters)
	}
	if s.Nodes > 1 {
		return fmt.Sprintf("ours x%d nodes (EIO%d, %s, %s, %s pub/sub)", s.Nodes, s.EIO, s.Delivery, store, s.PubSub)
	}
	return fmt.Sprintf("ours (EIO%d, %s, %s)", s.EIO, s.Delivery, store)
}

// slug names the server in file names.
func (s serverSpec) slug() string {
	if s.Kind == kindOurs && s.Nodes > 1 {
		return fmt.Sprintf("ours%d-%s-%s-%s", s.Nodes, s.Delivery, s.Store, s.PubSub)
	}
	if s.Kind == kindOurs {
		return fmt.Sprintf("ours-%s-%s", s.Delivery, s.Store)
	}
	return string(s.Kind)
}

// server is a started server.
type server struct {
	spec    serverSpec
	proc    *proc
	url     string
	logPath string
	// pprofAddr is set when our server serves profiles (PPROF_ADDR).
	pprofAddr string
}

func (s *server) pid() int { return s.proc.pid() }

// serverOptions are per-start extras.
type serverOptions struct {
	pprof bool
	// env is added to our server's environment, after the spec's.
	env []string
}

// startServer starts spec pinned to serverCore on a free loopback port and
// waits until it answers.
// benchLimits lift our server's per-client limits above what the load
// generator does; baselines have none.
var benchLimits = []string{
	"EVENT_RATE=1000000", "EVENT_BURST=1000000",
	"MAX_CONNS_PER_IP=1000000", "MAX_SESSIONS_PER_IP=1000000",
	"REST_WRITE_RATE=1000000", "REST_WRITE_BURST=1000000",
}

func (b *bench) startServer(ctx context.Context, spec serverSpec, opts serverOptions) (*server, error) {
	var lastErr error
	for attempt := range startAttempts {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		s, err := b.startServerOnce(ctx, spec, opts, attempt)
		if err == nil {
			return s, nil
		}
		lastErr = err
		if errors.Is(err, context.Canceled) {
			return nil, err
		}
	}
	return nil, lastErr
}

func (b *bench) startServerOnce(ctx context.Context, spec serverSpec, opts serverOptions, attempt int) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	b.serverSeq++
	logPath := filepath.Join(b.outDir, "servers", fmt.Sprintf("%02d-%s.log", b.serverSeq, spec.slug()))
	if err := os.MkdirAll(filepath.Dir(logPath), 0o755); err != nil {
		return nil, err
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own copy

	env := append(baseEnv(), "PORT="+strconv.Itoa(port), "HOST=127.0.0.1")
	var argv []string
	s := &server{spec: spec, url: fmt.Sprintf("http://127.0.0.1:%d", port), logPath: logPath}
	switch spec.Kind {
	case kindOurs:
		store := "memory"
		if spec.Store == "sqlite" {
			dir := filepath.Join(b.outDir, "sqlite", fmt.Sprintf("%02d", b.serverSeq))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			store = "sqlite:" + filepath.Join(dir, "chat.db")
		}
		// GOMAXPROCS=1: one core, as Node has one thread of JavaScript.
		env = append(env, "STORE="+store, "DELIVERY="+spec.Delivery, "LOG_LEVEL=warn", "GOMAXPROCS=1")
		// The load generator is not a browser: thousands of clients share
		// each source address, every member posts as fast as its window
		// allows, rooms are created by the hundred. The limits meant for
		// the internet are raised past it (still enforced, so their cost
		// is measured) rather than turned off.
		env = append(env, benchLimits...)
		env = append(env, opts.env...)
		if opts.pprof {
			pp, err := freePort()
			if err != nil {
				return nil, err
			}
			s.pprofAddr = fmt.Sprintf("127.0.0.1:%d", pp)
			env = append(env, "PPROF_ADDR="+s.pprofAddr)
		}
		argv = pinned(serverCore, filepath.Join(b.binDir, "chatserver"))
	case kindNode:
		argv = pinned(serverCore, "node", filepath.Join("bench", "node-sio", "server.mjs"))
	case kindNest:
		argv = pinned(serverCore, "node", filepath.Join("bench", "nest", "dist", "main.js"))
	default:
		return nil, fmt.Errorf("unknown server kind %q", spec.Kind)
	}
	p, err := b.procs.start(spec.slug(), b.repo, env, argv, func(c *exec.Cmd) {
		c.Stdout, c.Stderr = logFile, logFile
	})
	if err != nil {
		return nil, err
	}
	s.proc = p
	if err := waitReady(ctx, p, s.url, readinessOf(spec.Kind), readyTimeout); err != nil {
		p.stop(stopGrace)
		return nil, fmt.Errorf("%s (attempt %d): %w\n%s", spec.label(), attempt+1, err, tailFile(logPath, 2000))
	}
	return s, nil
}

// stop ends the server and reports anything unusual about its exit: it
// had died already, did not stop in time, or exited with an error (a Go
// binary built with -race exits 66 after reporting a data race).
func (s *server) stop() error {
	if s.proc.exited() {
		why := fmt.Sprint(s.proc.err)
		if s.proc.err == nil {
			why = "status 0, as after SIGTERM or SIGINT from outside the runner"
		}
		return fmt.Errorf("%s exited before it was stopped: %s (log %s)", s.spec.label(), why, s.logPath)
	}
	if s.proc.stop(stopGrace) {
		return fmt.Errorf("%s did not stop within %v of SIGTERM and was killed (log %s)", s.spec.label(), stopGrace, s.logPath)
	}
	if !cleanExit(s.proc.err) {
		return fmt.Errorf("%s exited after SIGTERM with %v (log %s)", s.spec.label(), s.proc.err, s.logPath)
	}
	return nil
}

// cleanExit: status 0, or death by the SIGTERM it was sent (NestJS has no
// handler for it).
func cleanExit(err error) bool {
	if err == nil {
		return true
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		return false
	}
	ws, ok := exit.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == syscall.SIGTERM
}
