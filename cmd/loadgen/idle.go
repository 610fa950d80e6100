package main

import (
	"context"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"chatgateway/gateway/sioclient"
)

// idleStats is the result of the idle scenario.
type idleStats struct {
	Connections int  `json:"connections"`
	Joined      bool `json:"joined"`
	// HoldSeconds is how long the connections were held before measuring.
	HoldSeconds float64 `json:"hold_seconds"`
	// Alive is how many connections were still open at the end of the hold.
	Alive int `json:"alive"`
	// LoadgenRSSPerConnBytes is this process's own memory per connection.
	LoadgenRSSPerConnBytes float64 `json:"loadgen_rss_per_conn_bytes"`
}

// runIdle holds cfg.Conns connections open and reports the server's RSS
// per connection.
func runIdle(ctx context.Context, cfg config, rep *report) error {
	probe := serverProbe{pid: cfg.ServerPID}
	var roomIDs []string
	if cfg.Join {
		for r := range cfg.Rooms {
			roomIDs = append(roomIDs, cfg.Prefix+"i"+strconv.Itoa(r))
		}
		if cfg.CreateRooms {
			if err := createRooms(ctx, cfg.URL, roomIDs); err != nil {
				return err
			}
		}
	}
	server := &serverStats{PID: cfg.ServerPID, RSSBeforeBytes: probe.rss()}
	rep.Server = server
	selfBefore, _ := processRSS(os.Getpid())

	d := &dialer{cfg: cfg}
	clients := make([]*sioclient.Client, cfg.Conns)
	defer func() { closeAll(clients) }()
	handshakes, joins := newHistogram(histShards), newHistogram(histShards)
	var failures errorSamples
	var established atomic.Int64
	rampStart := time.Now()
	ramp(ctx, cfg.Conns, cfg.ConnectRate, cfg.ConnectConcurrency, func(ctx context.Context, i int) {
		username := "idle" + strconv.Itoa(i)
		var watch *joinWatch
		var onRaw func(name, payload []byte)
		var skip func(name []byte) bool
		if cfg.Join {
			watch = newJoinWatch(roomIDs[i%len(roomIDs)], username)
			onRaw = func(name, payload []byte) { watch.observe(name, payload) }
			skip = watch.skip
		}
		began := time.Now()
		c, err := d.dial(ctx, onRaw, skip)
		if err != nil {
			failures.add(err)
			return
		}
		handshakes.record(i, time.Since(began))
		if cfg.Join {
			began = time.Now()
			if err := join(ctx, c, watch, roomIDs[i%len(roomIDs)], username, cfg.JoinTimeout); err != nil {
				failures.add(err)
				c.Close()
				return
			}
			joins.record(i, time.Since(began))
		}
		clients[i] = c
		established.Add(1)
	})
	rep.Connections = &connStats{
		Attempted:   cfg.Conns,
		Established: int(established.Load()),
		Failed:      failures.count,
		Handshake:   handshakes.summary(),
		RampSeconds: time.Since(rampStart).Seconds(),
	}
	if cfg.Join {
		rep.Connections.Join = ptr(joins.summary())
	}
	rep.addErrors(failures.samples)

	holdStart := time.Now()
	sleepCtx(ctx, cfg.Duration)
	st := &idleStats{Connections: rep.Connections.Established, Joined: cfg.Join, HoldSeconds: time.Since(holdStart).Seconds()}
	server.RSSAfterBytes = probe.rss()
	server.setPerConnection(rep.Connections.Established)
	if selfAfter, err := processRSS(os.Getpid()); err == nil && st.Connections > 0 {
		st.LoadgenRSSPerConnBytes = float64(selfAfter-selfBefore) / float64(st.Connections)
	}
	var drops []string
	rep.Connections.DroppedDuringRun, drops = dropped(clients)
	rep.addErrors(drops)
	st.Alive = st.Connections - rep.Connections.DroppedDuringRun
	rep.Idle = st
	return ctx.Err()
}
